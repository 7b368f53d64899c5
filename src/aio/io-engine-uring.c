/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The I/O engine on io_uring: the same ring as the context's fd monitor
 * (one ring per thread), so file I/O and fd polls reach the kernel in the
 * same io_uring_enter(), and a busy-polling loop sees completions in the
 * shared completion queue without a system call (FdmonOps.peek).
 *
 * Batching: a request is written to the ring when it is submitted, and
 * at most aio-max-batch of them go to the kernel per io_uring_enter().  A
 * request that completes a batch is submitted at once; a partial batch
 * stays in the ring for the fd monitor's next io_uring_enter(): the one
 * that waits (io_uring_submit_and_wait_timeout()), or the one before
 * aio_poll() busy-polls (FdmonOps.flush), or before an outer loop blocks.
 * So nothing waits for a batch that never fills, and the partial batch
 * costs no system call of its own.  The fd monitor reports its enters
 * (aio_io_uring_entered()) so that those which carried requests count.
 * Fewer than aio-max-batch requests are ever left in the ring, so no
 * enter carries more.  Requests that find the ring full wait on the
 * engine's queue for its bottom half.
 *
 * Completions are reaped by the fd monitor's wait and handed to
 * aio_io_uring_complete(), which only queues them: callbacks may do
 * anything (enter coroutines, add fd handlers, nest aio_poll()), so they
 * run from the BH, not from inside the wait.  A short read, write or
 * send is continued with the rest of its vector; -EAGAIN and -EINTR are
 * retried (a socket request that gets -EAGAIN, from an O_NONBLOCK fd, is
 * sent again behind a poll for its fd, linked to it).
 */
#include <errno.h>
#include <poll.h>
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
                              req->rw_flags_);
        break;
    case AIO_IO_RECVMSG:
        io_uring_prep_recvmsg(sqe, req->fd, req->msg, 0);
        break;
    case AIO_IO_SENDMSG:
        io_uring_prep_sendmsg(sqe, req->fd, aio_io_send_hdr(req),
                              MSG_NOSIGNAL);
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

/* After any io_uring_enter() that submitted the ring's queue: the
 * requests it took are no longer waiting in the ring. */
static void entered(AioIoState *st, struct io_uring *ring)
{
    unsigned left = io_uring_sq_ready(ring);

    if (st->in_ring > left) {
        /* On failure (-EAGAIN, -EBUSY) SQEs stay in the ring, and the
         * fd monitor's next enter submits them. */
        st->in_ring = left;
        stat_add(&st->ctx->stat_io_uring_enters, 1);
    }
}

void aio_io_uring_entered(AioContext *ctx)
{
    AioIoState *st = ctx->io_state;
    struct io_uring *ring = aio_fdmon_io_uring_ring(ctx);

    if (st && ring && st->in_ring) {
        entered(st, ring);
    }
}

static void enter(AioIoState *st, struct io_uring *ring)
{
    io_uring_submit(ring);
    entered(st, ring);
}

/* Write queued requests to the ring, one io_uring_enter() per full batch;
 * a partial one is left for the fd monitor's next enter. */
void aio_io_uring_flush(AioIoState *st)
{
    struct io_uring *ring = aio_fdmon_io_uring_ring(st->ctx);
    unsigned batch;

    if (!ring || !st->queued.head) {
        return;
    }
    batch = batch_size(st, ring);
    while (st->queued.head) {
        AioIoRequest *req = st->queued.head;
        unsigned need = req->poll_first_ ? 2 : 1;

        if (io_uring_sq_space_left(ring) < need) {
            /* The ring is full (of the fd monitor's SQEs, or a batch
             * larger than the ring): send it and try once more. */
            enter(st, ring);
            if (io_uring_sq_space_left(ring) < need) {
                /* Still full: keep the rest queued for the next pass. */
                aio_bh_schedule(st->bh);
                return;
            }
        }
        aio_io_list_pop(&st->queued);
        if (req->poll_first_) {
            /* Not counted in flight: the fd monitor ignores its CQE
             * (user data 0), and the request's own CQE follows it. */
            struct io_uring_sqe *poll = io_uring_get_sqe(ring);

            io_uring_prep_poll_add(poll, req->fd,
                                   req->op == AIO_IO_RECVMSG ? POLLIN
                                                             : POLLOUT);
            io_uring_sqe_set_data64(poll, 0);
            poll->flags |= IOSQE_IO_LINK;
        }
        prep(io_uring_get_sqe(ring), req);
        st->in_kernel++;
        if (++st->in_ring >= batch) {
            enter(st, ring);
        }
    }
}

void aio_io_uring_submit(AioIoState *st, AioIoRequest *req)
{
    aio_io_list_push(&st->queued, req);
    aio_io_uring_flush(st);
}

void aio_io_uring_complete(AioContext *ctx, uint64_t user_data, int32_t res)
{
    AioIoState *st = ctx->io_state;
    AioIoRequest *req = (AioIoRequest *)(uintptr_t)user_data;
    bool transfer = req->op == AIO_IO_READV || req->op == AIO_IO_WRITEV ||
                    req->op == AIO_IO_SENDMSG;

    st->in_kernel--;
    /* A socket that would block (O_NONBLOCK, on kernels that do not poll
     * for it themselves): try again once it is ready.  A poll that failed
     * cancelled its request: try again without one, for the real error. */
    if (req->op == AIO_IO_RECVMSG || req->op == AIO_IO_SENDMSG) {
        bool again = res == -EAGAIN || (res == -ECANCELED && req->poll_first_);

        req->poll_first_ = res == -EAGAIN;
        if (again) {
            res = -EINTR;
        }
    }
    if (res == -EAGAIN || res == -EINTR) {
        aio_io_list_push(&st->queued, req);
        aio_bh_schedule(st->bh);
        return;
    }
    if (transfer && res > 0) {
        req->done_ += (size_t)res;
        if (req->done_ < req->total_) {
            int ret = aio_io_advance(req, (size_t)res);

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
        req->ret_ = req->done_ < req->total_ && req->op != AIO_IO_READV
                        ? -EIO
                        : (ssize_t)req->done_;
    } else {
        req->ret_ = req->op == AIO_IO_RECVMSG ? res : 0;
    }
    aio_io_complete_later(st, req, req->ret_);
}

void aio_io_uring_fini(AioIoState *st)
{
    struct io_uring *ring = aio_fdmon_io_uring_ring(st->ctx);
    AioIoRequest *req;

    /*
     * A receive may wait for its peer for ever: cancel everything the
     * ring holds (the fd monitor's polls too: it closes the ring next),
     * then wait until the kernel has given back every request, so that
     * it no longer writes into the callers' buffers.  A request already
     * running finishes; one cancelled has transferred nothing.  Poll
     * completions seen here are left to the fd monitor's teardown, which
     * frees every token it still has.
     */
    if (ring && st->in_kernel) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

        if (!sqe) {
            io_uring_submit(ring);
            sqe = io_uring_get_sqe(ring);
        }
        if (sqe) {
            io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
            io_uring_sqe_set_data64(sqe, 0);
        }
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
            aio_io_release(req);
            st->in_kernel--;
        }
        io_uring_cqe_seen(ring, cqe);
    }
    while ((req = aio_io_list_pop(&st->queued))) {
        aio_io_release(req);
    }
}
