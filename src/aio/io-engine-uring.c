/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The I/O engine on io_uring: the same ring as the context's fd monitor
 * (one ring per thread), so file I/O and fd polls reach the kernel in the
 * same io_uring_enter(), and a busy-polling loop sees completions in the
 * shared completion queue without a system call (FdmonOps.peek).
 *
 * Batching: requests are queued on the engine and written to the ring by
 * flush(), at most aio-max-batch of them per io_uring_enter().  A request
 * that completes a batch is submitted at once; a partial batch is
 * submitted by the engine's bottom half, which aio_io_uring_submit()
 * schedules, so the loop cannot block before it (a scheduled BH makes the
 * wait non-blocking): nothing waits for a batch that never fills.
 *
 * Completions are reaped by the fd monitor's wait and handed to
 * aio_io_uring_complete(), which only queues them: callbacks may do
 * anything (enter coroutines, add fd handlers), so they run from the BH,
 * not from inside the wait.  A short read or write is continued with the
 * rest of its vector; -EAGAIN and -EINTR are retried.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <liburing.h>

#include "io-engine-internal.h"

#define USER_DATA_TAG 1 /* see fdmon-io-uring.c */

static unsigned batch_size(AioIoState *st, struct io_uring *ring)
{
    int64_t b = aio_context_get_aio_max_batch(st->ctx);
    unsigned entries = ring->sq.ring_entries;

    if (b <= 0) {
        b = AIO_IO_BATCH_DEFAULT;
    }
    return b < (int64_t)entries ? (unsigned)b : entries;
}

static void prep(struct io_uring_sqe *sqe, AioIoRequest *req)
{
    int64_t off = req->offset + (int64_t)req->done_;

    switch (req->op) {
    case AIO_IO_READV:
        io_uring_prep_readv(sqe, req->fd, req->iov_cur_,
                            (unsigned)req->iovcnt_cur_, (__u64)off);
        break;
    case AIO_IO_WRITEV:
        io_uring_prep_writev2(sqe, req->fd, req->iov_cur_,
                              (unsigned)req->iovcnt_cur_, (__u64)off,
                              req->flags & AIO_IO_FUA ? RWF_DSYNC : 0);
        break;
    case AIO_IO_FSYNC:
        io_uring_prep_fsync(sqe, req->fd, 0);
        break;
    case AIO_IO_FDATASYNC:
        io_uring_prep_fsync(sqe, req->fd, IORING_FSYNC_DATASYNC);
        break;
    default: /* AIO_IO_FALLOCATE; validated on submission */
        io_uring_prep_fallocate(sqe, req->fd, req->mode, (__u64)req->offset,
                                (__u64)req->len);
        break;
    }
    io_uring_sqe_set_data64(sqe, (__u64)(uintptr_t)req | USER_DATA_TAG);
}

static void enter(AioIoState *st, struct io_uring *ring)
{
    /* On failure (-EAGAIN, -EBUSY) the SQEs stay in the ring and the fd
     * monitor's next wait submits them. */
    io_uring_submit(ring);
    stat_add(&st->stat_enters, 1);
}

/* Write queued requests to the ring, one io_uring_enter() per batch. */
static void flush(AioIoState *st)
{
    struct io_uring *ring = aio_fdmon_io_uring_ring(st->ctx);
    unsigned batch, n = 0;

    if (!ring || !st->queued.head) {
        return;
    }
    batch = batch_size(st, ring);
    while (st->queued.head) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

        if (!sqe) {
            /* The ring is full (of the fd monitor's SQEs, or a batch
             * larger than the ring): send it and try once more. */
            enter(st, ring);
            n = 0;
            sqe = io_uring_get_sqe(ring);
            if (!sqe) {
                /* Still full: keep the rest queued for the next pass. */
                aio_bh_schedule(st->bh);
                return;
            }
        }
        prep(sqe, aio_io_list_pop(&st->queued));
        st->in_kernel++;
        if (++n == batch) {
            enter(st, ring);
            n = 0;
        }
    }
    if (n) {
        enter(st, ring);
    }
}

static void engine_bh(void *opaque)
{
    AioIoState *st = opaque;
    AioIoList done = st->done;
    AioIoRequest *req;

    /* Callbacks may submit: those go to st->queued, flushed below. */
    aio_io_list_init(&st->done);
    if (!done.head) {
        done.tailp = &done.head; /* it pointed into st->done */
    }
    while ((req = aio_io_list_pop(&done))) {
        free(req->iov_copy_);
        req->iov_copy_ = NULL;
        aio_io_finish(st, req, req->ret_);
    }
    flush(st);
}

int aio_io_uring_init(AioIoState *st)
{
    aio_io_list_init(&st->queued);
    aio_io_list_init(&st->done);
    st->bh = aio_bh_new(st->ctx, engine_bh, st);
    return st->bh ? 0 : -ENOMEM;
}

void aio_io_uring_submit(AioIoState *st, AioIoRequest *req)
{
    struct io_uring *ring = aio_fdmon_io_uring_ring(st->ctx);

    req->done_ = 0;
    req->iov_cur_ = req->iov;
    req->iovcnt_cur_ = req->iovcnt;
    req->iov_copy_ = NULL;
    aio_io_list_push(&st->queued, req);
    if (st->queued.len >= batch_size(st, ring)) {
        flush(st);
    } else {
        aio_bh_schedule(st->bh);
    }
}

/* Continue a short transfer with the rest of the vector.  Returns 0 or
 * -ENOMEM. */
static int advance(AioIoRequest *req, size_t n)
{
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
    {
        struct iovec *v = (struct iovec *)req->iov_cur_;

        while (n >= v->iov_len) {
            n -= v->iov_len;
            v++;
            req->iovcnt_cur_--;
        }
        v->iov_base = (char *)v->iov_base + n;
        v->iov_len -= n;
        req->iov_cur_ = v;
    }
    return 0;
}

void aio_io_uring_complete(AioContext *ctx, uint64_t user_data, int32_t res)
{
    AioIoState *st = ctx->io_state;
    AioIoRequest *req = (AioIoRequest *)(uintptr_t)user_data;
    bool transfer = req->op == AIO_IO_READV || req->op == AIO_IO_WRITEV;

    st->in_kernel--;
    if (res == -EAGAIN || res == -EINTR) {
        aio_io_list_push(&st->queued, req);
        aio_bh_schedule(st->bh);
        return;
    }
    if (transfer && res > 0) {
        req->done_ += (size_t)res;
        if (req->done_ < req->total_) {
            int ret = advance(req, (size_t)res);

            if (ret == 0) {
                aio_io_list_push(&st->queued, req);
                aio_bh_schedule(st->bh);
                return;
            }
            res = ret;
        }
    }
    if (res < 0) {
        req->ret_ = res;
    } else if (transfer) {
        /* res == 0 before the end: end of file for a read; a write that
         * makes no progress is an error, not a short success. */
        req->ret_ = req->done_ < req->total_ && req->op == AIO_IO_WRITEV
                        ? -EIO
                        : (ssize_t)req->done_;
    } else {
        req->ret_ = 0;
    }
    aio_io_list_push(&st->done, req);
    aio_bh_schedule(st->bh);
}

void aio_io_uring_fini(AioIoState *st)
{
    struct io_uring *ring = aio_fdmon_io_uring_ring(st->ctx);
    AioIoRequest *req;

    /* The kernel may still write into the callers' buffers: wait for it.
     * Poll completions seen here are left to the fd monitor's teardown,
     * which frees every token it still has. */
    if (ring && st->in_kernel) {
        io_uring_submit(ring);
    }
    while (ring && st->in_kernel) {
        struct io_uring_cqe *cqe;
        int ret = io_uring_wait_cqe(ring, &cqe);

        if (ret == -EINTR) {
            continue;
        }
        if (ret < 0) {
            break;
        }
        if (cqe->user_data & USER_DATA_TAG) {
            req = (AioIoRequest *)(uintptr_t)(cqe->user_data & ~(__u64)1);
            free(req->iov_copy_);
            req->iov_copy_ = NULL;
            st->in_kernel--;
        }
        io_uring_cqe_seen(ring, cqe);
    }
    while ((req = aio_io_list_pop(&st->queued)) ||
           (req = aio_io_list_pop(&st->done))) {
        free(req->iov_copy_);
        req->iov_copy_ = NULL;
    }
    aio_bh_delete(st->bh);
}
