/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The I/O engine from a coroutine: submit on its home context, yield, and
 * be resumed by the completion (which runs on the home thread outside any
 * coroutine, so aio_co_wake() enters it right there).
 */
#include <errno.h>
#include <limits.h>

#include <iothread/io-engine.h>

#include "coroutine-internal.h"

typedef struct CoIoWait {
    Coroutine *co;
    ssize_t ret;
} CoIoWait;

static void co_io_done(AioIoRequest *req, ssize_t ret)
{
    CoIoWait *w = req->opaque;

    w->ret = ret;
    aio_co_wake(w->co);
}

ssize_t aio_co_io(AioIoRequest *req)
{
    CoIoWait w = {.co = qemu_coroutine_self()};
    AioIoRequest r;
    int ret;

    if (!w.co) {
        co_die("aio_co_io called outside a coroutine");
    }
    CO_ARG_CHECK(req, -EINVAL);
    r = *req;
    r.cb = co_io_done;
    r.opaque = &w;
    ret = aio_io_submit(aio_co_get_context(w.co), &r);
    if (ret < 0) {
        return ret;
    }
    qemu_coroutine_yield();
    return w.ret;
}

ssize_t aio_co_preadv(int fd, const struct iovec *iov, int iovcnt,
                      int64_t offset)
{
    AioIoRequest r = {.op = AIO_IO_READV, .fd = fd, .offset = offset,
                      .iov = iov, .iovcnt = iovcnt};

    return aio_co_io(&r);
}

ssize_t aio_co_pwritev(int fd, const struct iovec *iov, int iovcnt,
                       int64_t offset, int flags)
{
    AioIoRequest r = {.op = AIO_IO_WRITEV, .fd = fd, .offset = offset,
                      .iov = iov, .iovcnt = iovcnt, .flags = flags};

    return aio_co_io(&r);
}

int aio_co_fsync(int fd)
{
    AioIoRequest r = {.op = AIO_IO_FSYNC, .fd = fd};

    return (int)aio_co_io(&r);
}

int aio_co_fdatasync(int fd)
{
    AioIoRequest r = {.op = AIO_IO_FDATASYNC, .fd = fd};

    return (int)aio_co_io(&r);
}

int aio_co_fallocate(int fd, int mode, int64_t offset, int64_t len)
{
    AioIoRequest r = {.op = AIO_IO_FALLOCATE, .fd = fd, .mode = mode,
                      .offset = offset, .len = len};

    return (int)aio_co_io(&r);
}

ssize_t aio_co_recvmsg(int fd, struct msghdr *msg)
{
    AioIoRequest r = {.op = AIO_IO_RECVMSG, .fd = fd, .msg = msg};

    return aio_co_io(&r);
}

ssize_t aio_co_sendmsg(int fd, const struct msghdr *msg)
{
    /* The engine only reads a SENDMSG's message. */
    AioIoRequest r = {.op = AIO_IO_SENDMSG, .fd = fd,
                      .msg = (struct msghdr *)msg};

    return aio_co_io(&r);
}

ssize_t aio_co_recv_full(int fd, void *buf, size_t len)
{
    size_t got = 0;

    if (len > SSIZE_MAX) {
        return -EINVAL;
    }
    while (got < len) {
        struct iovec v = {(char *)buf + got, len - got};
        struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
        ssize_t n = aio_co_recvmsg(fd, &m);

        if (n < 0) {
            return n;
        }
        if (n == 0) {
            return got ? -ECONNRESET : 0;
        }
        got += (size_t)n;
    }
    return (ssize_t)len;
}

ssize_t aio_co_send_full(int fd, const void *buf, size_t len)
{
    struct iovec v = {(void *)buf, len};
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};

    if (len > SSIZE_MAX) {
        return -EINVAL;
    }
    return aio_co_sendmsg(fd, &m);
}
