/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where a node's system calls run, from the calling coroutine:
 *  - aio=io_uring: the context's I/O engine (aio_co_io()), which uses the
 *    thread's io_uring, or the thread pool when the context has no ring;
 *    except reads and writes of at most BLOCK_INLINE_MAX bytes on a file
 *    in memory (tmpfs, ramfs), which the home thread makes itself.  Those
 *    file systems cannot read or write without blocking (RWF_NOWAIT is
 *    EOPNOTSUPP there), so io_uring hands every such request to one of
 *    its worker threads: a wake-up and a trip to another CPU for what is
 *    a copy from memory (measured with fio's nbd engine, 4 KiB random
 *    reads at QD32: 8.5 us of server CPU per read that way, 2.3 inline);
 *  - aio=threads: the context's thread pool, always.  The engine has no
 *    way to be told "use the pool for this one", so this file submits the
 *    work itself: a worker makes the call and stores its result, the
 *    pool's completion (home thread, outside any coroutine) wakes the
 *    coroutine, which reads it.  The pool's lock orders the worker's
 *    store before the completion runs.  Other blocking calls
 *    (posix_fadvise) use the same wait: block_run_in_pool().
 *
 * The pool's worker completes transfers as the engine does: it continues
 * a short read or write until everything is done, an error occurs or a
 * read meets end of file, and retries EINTR.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <iothread/coroutine.h>
#include <iothread/thread-pool.h>

#include "block/block-internal.h"

/* Beyond this, an inline copy would hold the loop up too long. */
#define BLOCK_INLINE_MAX (1024 * 1024)

typedef struct PoolWait {
    ssize_t (*fn)(void *arg);
    void *arg;
    Coroutine *co;
    ssize_t ret; /* written by the worker, read after the completion */
} PoolWait;

static ssize_t rw_once(const AioIoRequest *req, const struct iovec *iov,
                       int iovcnt, int64_t offset)
{
    ssize_t n;

    do {
        n = req->op == AIO_IO_READV
                ? preadv(req->fd, iov, iovcnt, offset)
                : pwritev2(req->fd, iov, iovcnt, offset,
                           req->flags & AIO_IO_FUA ? RWF_DSYNC : 0);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

/* A read or write, synchronously: one vectored call, then, only after a
 * short transfer, the rest element by element. */
static ssize_t sync_rw(const AioIoRequest *req)
{
    ssize_t n = rw_once(req, req->iov, req->iovcnt, req->offset);
    int64_t done;

    if (n <= 0) {
        return n == 0 && req->op == AIO_IO_WRITEV &&
                       block_iov_size(req->iov, req->iovcnt) > 0
                   ? -EIO
                   : n;
    }
    done = n;
    for (int i = 0; i < req->iovcnt; i++) {
        size_t len = req->iov[i].iov_len;

        if ((size_t)n >= len) {
            n -= (ssize_t)len; /* this element was transferred whole */
            continue;
        }
        while ((size_t)n < len) {
            struct iovec rest = {(char *)req->iov[i].iov_base + n,
                                 len - (size_t)n};
            ssize_t m = rw_once(req, &rest, 1, req->offset + done);

            if (m < 0) {
                return m;
            }
            if (m == 0) {
                /* End of file for a read; a write that makes no
                 * progress would spin. */
                return req->op == AIO_IO_READV ? done : -EIO;
            }
            n += m;
            done += m;
        }
        n = 0;
    }
    return done;
}

/* The system call of @opaque, an AioIoRequest, on a worker. */
static ssize_t pool_request(void *opaque)
{
    const AioIoRequest *req = opaque;
    int ret;

    switch (req->op) {
    case AIO_IO_READV:
    case AIO_IO_WRITEV:
        return sync_rw(req);
    case AIO_IO_FDATASYNC:
        ret = fdatasync(req->fd);
        break;
    case AIO_IO_FALLOCATE:
        do {
            ret = fallocate(req->fd, req->mode, req->offset, req->len);
        } while (ret < 0 && errno == EINTR);
        break;
    default:
        return -EINVAL;
    }
    return ret < 0 ? -errno : 0;
}

static int pool_work(void *opaque)
{
    PoolWait *w = opaque;

    w->ret = w->fn(w->arg);
    return 0;
}

static void pool_done(void *opaque, int ret)
{
    PoolWait *w = opaque;

    if (ret < 0) {
        w->ret = ret; /* -ECANCELED: the work never ran */
    }
    aio_co_wake(w->co);
}

ssize_t block_run_in_pool(ssize_t (*fn)(void *arg), void *arg)
{
    PoolWait w = {.fn = fn, .arg = arg, .co = qemu_coroutine_self()};
    int ret;

    ret = aio_thread_pool_submit(aio_co_get_context(w.co), pool_work, &w,
                                 pool_done, &w, NULL);
    if (ret < 0) {
        return ret;
    }
    qemu_coroutine_yield();
    return w.ret;
}

static bool runs_inline(const BlockNode *node, const AioIoRequest *req)
{
    int64_t size;

    if (!node->memory_backed ||
        (req->op != AIO_IO_READV && req->op != AIO_IO_WRITEV)) {
        return false;
    }
    size = block_iov_size(req->iov, req->iovcnt);
    return size >= 0 && size <= BLOCK_INLINE_MAX;
}

ssize_t block_run(const BlockNode *node, AioIoRequest *req)
{
    req->fd = node->fd;
    if (node->opts.aio == BLOCK_AIO_IO_URING && runs_inline(node, req)) {
        return sync_rw(req);
    }
    if (node->opts.aio == BLOCK_AIO_IO_URING) {
        return aio_co_io(req);
    }
    return block_run_in_pool(pool_request, req);
}

int block_run_fallocate(const BlockNode *node, int mode, int64_t offset,
                        int64_t len)
{
    AioIoRequest req = {.op = AIO_IO_FALLOCATE, .mode = mode,
                        .offset = offset, .len = len};

    return (int)block_run(node, &req);
}

int block_run_fdatasync(const BlockNode *node)
{
    AioIoRequest req = {.op = AIO_IO_FDATASYNC};

    return (int)block_run(node, &req);
}
