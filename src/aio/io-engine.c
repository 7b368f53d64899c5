/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The I/O engine: validation, the choice of back-end, counters, the
 * completion BH, and the thread-pool back-end (io_uring's is in
 * io-engine-uring.c, sockets without io_uring in io-engine-sock.c).
 *
 * A context whose fd monitor is io_uring runs requests on that ring
 * (unless flagged AIO_IO_THREAD_POOL); any other runs each file request
 * as one work item of the context's thread pool: the worker makes the
 * system calls with aio_io_run_blocking() (continuing short transfers,
 * retrying EINTR) and stores the result in the request; the pool's
 * completion bottom half then calls the request's callback on the home
 * thread.  The pool's lock orders the worker's store before that read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <iothread/io-engine.h>
#include <iothread/thread-pool.h>

#include "io-engine-internal.h"

const char *aio_context_io_engine(AioContext *ctx)
{
    if (!ctx) {
        return NULL;
    }
    return aio_context_fdmon(ctx) == AIO_FDMON_IO_URING ? "io_uring"
                                                       : "thread-pool";
}

void aio_io_list_init(AioIoList *l)
{
    l->head = NULL;
    l->tailp = &l->head;
    l->len = 0;
}

void aio_io_list_push(AioIoList *l, AioIoRequest *req)
{
    req->next_ = NULL;
    *l->tailp = req;
    l->tailp = &req->next_;
    l->len++;
}

AioIoRequest *aio_io_list_pop(AioIoList *l)
{
    AioIoRequest *req = l->head;

    if (req) {
        l->head = req->next_;
        if (!l->head) {
            l->tailp = &l->head;
        }
        l->len--;
    }
    return req;
}

void aio_io_release(AioIoRequest *req)
{
    free(req->iov_copy_);
    req->iov_copy_ = NULL;
}

/*
 * Completions, one per pass: the BH schedules itself again before each
 * callback, so that a callback which nests aio_poll() to wait for a
 * sibling finished in the same batch sees it complete there.  Then the
 * requests still queued (continued transfers and retries, or requests
 * that found the ring full) go to the ring; new ones went there when
 * they were submitted.
 */
static void engine_bh(void *opaque)
{
    AioIoState *st = opaque;
    AioIoRequest *req;

    while ((req = aio_io_list_pop(&st->done))) {
        if (st->done.head) {
            aio_bh_schedule(st->bh);
        }
        aio_io_release(req);
        aio_io_finish(st, req, req->ret_);
    }
    aio_io_uring_flush(st);
}

void aio_io_complete_later(AioIoState *st, AioIoRequest *req, ssize_t ret)
{
    req->ret_ = ret;
    aio_io_list_push(&st->done, req);
    aio_bh_schedule(st->bh);
}

/* Home thread: the engine's state, made on first use. */
static AioIoState *io_state(AioContext *ctx)
{
    AioIoState *st = ctx->io_state;

    if (st) {
        return st;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        return NULL;
    }
    st->ctx = ctx;
    aio_io_list_init(&st->queued);
    aio_io_list_init(&st->done);
    st->bh = aio_bh_new(ctx, engine_bh, st);
    if (!st->bh) {
        free(st);
        return NULL;
    }
    /* Published for aio_io_get_stats() on other threads. */
    __atomic_store_n(&ctx->io_state, st, __ATOMIC_RELEASE);
    return st;
}

void aio_io_finish(AioIoState *st, AioIoRequest *req, ssize_t ret)
{
    stat_add(&st->ctx->stat_io_completed, 1);
    stat_set(&st->ctx->stat_io_in_flight,
             atomic_load_explicit(&st->ctx->stat_io_in_flight,
                                  memory_order_relaxed) - 1);
    req->cb(req, ret); /* may free @req */
}

void aio_io_engine_fini(AioContext *ctx)
{
    AioIoState *st = ctx->io_state;
    AioIoRequest *req;

    if (!st) {
        return;
    }
    aio_io_uring_fini(st);
    aio_io_sock_fini(st);
    while ((req = aio_io_list_pop(&st->done))) {
        aio_io_release(req);
    }
    aio_bh_delete(st->bh);
    free(st);
    ctx->io_state = NULL;
}

void aio_io_get_stats(AioContext *ctx, AioIoStats *stats)
{
    AioStats all;

    if (!stats) {
        return;
    }
    aio_context_get_stats(ctx, &all);
    stats->submitted = all.io_submitted;
    stats->completed = all.io_completed;
    stats->in_flight = all.io_in_flight;
    stats->enters = all.io_uring_enters;
}

static bool is_socket_op(AioIoOp op)
{
    return op == AIO_IO_RECVMSG || op == AIO_IO_SENDMSG;
}

/* The vector of @req: its iov, or its message's. */
static const struct iovec *req_iov(const AioIoRequest *req, int *iovcnt)
{
    if (is_socket_op(req->op)) {
        *iovcnt = (int)req->msg->msg_iovlen;
        return req->msg->msg_iov;
    }
    *iovcnt = req->iovcnt;
    return req->iov;
}

/* Total bytes of @req's vector, or -EINVAL if it does not fit a ssize_t. */
static ssize_t iov_total(const AioIoRequest *req)
{
    size_t total = 0;
    int iovcnt;
    const struct iovec *iov = req_iov(req, &iovcnt);

    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - total) {
            return -EINVAL;
        }
        total += iov[i].iov_len;
    }
    return (ssize_t)total;
}

/* The RWF_* flags of a WRITEV, for every back-end. */
static int rw_flags(const AioIoRequest *req)
{
    return req->flags & AIO_IO_FUA ? RWF_DSYNC : 0;
}

int aio_io_rw_flags(AioIoRequest *req)
{
    req->rw_flags_ = rw_flags(req);
    return req->rw_flags_;
}

int aio_io_advance(AioIoRequest *req, size_t n)
{
    struct iovec *v;

    if (!req->iov_copy_) {
        size_t size = sizeof(struct iovec) * (size_t)req->iovcnt_cur_;

        req->iov_copy_ = malloc(size);
        if (!req->iov_copy_) {
            return -ENOMEM;
        }
        memcpy(req->iov_copy_, req->iov_cur_, size);
        req->iov_cur_ = req->iov_copy_;
    }
    /* iov_cur_ points into iov_copy_ from here on. */
    v = (struct iovec *)req->iov_cur_;
    while (req->iovcnt_cur_ > 0 && n >= v->iov_len) {
        n -= v->iov_len;
        v++;
        req->iovcnt_cur_--;
    }
    if (req->iovcnt_cur_ > 0) {
        v->iov_base = (char *)v->iov_base + n;
        v->iov_len -= n;
    }
    req->iov_cur_ = v;
    return 0;
}

struct msghdr *aio_io_send_hdr(AioIoRequest *req)
{
    req->msg_cur_ = *req->msg;
    req->msg_cur_.msg_iov = (struct iovec *)req->iov_cur_;
    req->msg_cur_.msg_iovlen = (size_t)req->iovcnt_cur_;
    if (req->done_) {
        req->msg_cur_.msg_control = NULL;
        req->msg_cur_.msg_controllen = 0;
    }
    return &req->msg_cur_;
}

/* The flags @op takes. */
static int op_flags(AioIoOp op)
{
    switch (op) {
    case AIO_IO_WRITEV:
        return AIO_IO_FUA | AIO_IO_THREAD_POOL;
    case AIO_IO_RECVMSG:
    case AIO_IO_SENDMSG:
        return 0;
    default:
        return AIO_IO_THREAD_POOL;
    }
}

static int validate(const AioIoRequest *req)
{
    if (req->fd < 0 || (unsigned)req->op >= AIO_IO_OP_MAX ||
        (req->flags & ~op_flags(req->op))) {
        return -EINVAL;
    }
    switch (req->op) {
    case AIO_IO_READV:
    case AIO_IO_WRITEV:
        if (req->offset < 0 || req->iovcnt < 0 || req->iovcnt > IOV_MAX ||
            (req->iovcnt && !req->iov)) {
            return -EINVAL;
        }
        return iov_total(req) < 0 ? -EINVAL : 0;
    case AIO_IO_FALLOCATE:
        return req->offset < 0 || req->len <= 0 ? -EINVAL : 0;
    case AIO_IO_RECVMSG:
    case AIO_IO_SENDMSG:
        if (!req->msg || req->msg->msg_iovlen > IOV_MAX ||
            (req->msg->msg_iovlen && !req->msg->msg_iov)) {
            return -EINVAL;
        }
        return iov_total(req) < 0 ? -EINVAL : 0;
    default:
        return 0;
    }
}

/* One system call of a transfer; EINTR is the caller's to retry. */
static ssize_t transfer_once(const AioIoRequest *req, const struct iovec *iov,
                             int iovcnt, int64_t offset, int rwf)
{
    if (req->op == AIO_IO_READV) {
        return preadv(req->fd, iov, iovcnt, offset);
    }
    return pwritev2(req->fd, iov, iovcnt, offset, rwf);
}

/*
 * The whole transfer.  After a short count the rest goes on from where it
 * stopped: the rest of a cut element alone, then the following elements
 * in one call, straight from the caller's (const) vector, so nothing is
 * allocated.  Only a read that meets end of file returns fewer bytes than
 * asked; an error after partial progress is returned as the error.
 */
static ssize_t transfer(const AioIoRequest *req, int rwf)
{
    ssize_t total = iov_total(req), done = 0;
    const struct iovec *iov = req->iov;
    int iovcnt = req->iovcnt;
    size_t skip = 0; /* bytes of iov[0] already transferred */

    while (done < total) {
        struct iovec part = {(char *)iov[0].iov_base + skip,
                             iov[0].iov_len - skip};
        ssize_t n = skip ? transfer_once(req, &part, 1, req->offset + done,
                                         rwf)
                         : transfer_once(req, iov, iovcnt,
                                         req->offset + done, rwf);
        size_t left;

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            /* End of file for a read; a write that makes no progress
             * would spin. */
            return req->op == AIO_IO_READV ? done : -EIO;
        }
        done += n;
        /* Skip what was transferred. */
        left = skip + (size_t)n;
        while (iovcnt > 0 && left >= iov[0].iov_len) {
            left -= iov[0].iov_len;
            iov++;
            iovcnt--;
        }
        skip = left;
    }
    return done;
}

ssize_t aio_io_run_blocking(const AioIoRequest *req)
{
    int ret;

    if (!req || validate(req) < 0 || is_socket_op(req->op)) {
        return -EINVAL;
    }
    switch (req->op) {
    case AIO_IO_READV:
    case AIO_IO_WRITEV:
        return transfer(req, rw_flags(req));
    case AIO_IO_FSYNC:
        do {
            ret = fsync(req->fd);
        } while (ret < 0 && errno == EINTR);
        break;
    case AIO_IO_FDATASYNC:
        do {
            ret = fdatasync(req->fd);
        } while (ret < 0 && errno == EINTR);
        break;
    case AIO_IO_FALLOCATE:
        do {
            ret = fallocate(req->fd, req->mode, req->offset, req->len);
        } while (ret < 0 && errno == EINTR);
        break;
    default:
        return -EINVAL; /* sockets: the caller's thread may not wait */
    }
    return ret < 0 ? -errno : 0;
}

/* The thread-pool back-end: @arg's system calls on a worker.  Its result
 * goes through the request, not the pool's int. */
static int pool_work(void *arg)
{
    AioIoRequest *req = arg;

    req->ret_ = aio_io_run_blocking(req);
    return 0;
}

static void pool_done(void *opaque, int ret)
{
    AioIoRequest *req = opaque;

    aio_io_finish(req->engine_, req, ret < 0 ? ret : req->ret_);
}

int aio_io_submit(AioContext *ctx, AioIoRequest *req)
{
    AioIoState *st;
    int ret;

    if (!ctx || !req || !req->cb) {
        return -EINVAL;
    }
    aio_assert_home(ctx);
    ret = validate(req);
    if (ret < 0) {
        return ret;
    }
    st = io_state(ctx);
    if (!st) {
        return -ENOMEM;
    }
    req->ret_ = 0;
    req->engine_ = st;
    req->total_ = req->op == AIO_IO_READV || req->op == AIO_IO_WRITEV ||
                          is_socket_op(req->op)
                      ? (size_t)iov_total(req)
                      : 0;
    req->done_ = 0;
    req->poll_first_ = 0;
    req->iov_copy_ = NULL;
    req->iov_cur_ = req_iov(req, &req->iovcnt_cur_);
    aio_io_rw_flags(req);
    if (aio_fdmon_io_uring_ring(ctx) && !(req->flags & AIO_IO_THREAD_POOL)) {
        aio_io_uring_submit(st, req);
    } else if (is_socket_op(req->op)) {
        aio_io_sock_submit(st, req);
    } else {
        ret = aio_thread_pool_submit(ctx, pool_work, req, pool_done, req,
                                     NULL);
        if (ret < 0) {
            return ret;
        }
    }
    stat_add(&ctx->stat_io_submitted, 1);
    stat_add(&ctx->stat_io_in_flight, 1);
    return 0;
}
