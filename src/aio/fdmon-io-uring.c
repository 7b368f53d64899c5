/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fd monitor on io_uring (liburing).
 *
 * Each watched fd has one one-shot POLL_ADD in flight.  When it completes,
 * the handler goes on the ready list and on the re-arm list; the next wait
 * queues a new POLL_ADD for it, which reaches the kernel in the same
 * io_uring_enter() that waits (or in the one before aio_poll() busy-polls
 * the completion queue: flush()).  Not sooner: the handler must have run
 * first, or the kernel finds the fd still readable, completes the poll at
 * once and the handler is called again for data it has already read (a
 * full submission queue would submit re-arms queued while completions are
 * still being reaped).  Re-arming after every event keeps poll(2)'s
 * level-triggered meaning that handlers rely on (a handler that leaves data unread is
 * called again), which a multishot poll, firing only on new wake-ups,
 * would not.
 *
 * A POLL_ADD is identified by a token, not by the handler: a handler can
 * be removed and freed while its request is still in the kernel, and the
 * completion must then find something that says "nobody wants this".
 * Every POLL_ADD completes exactly once (with an event or -ECANCELED), and
 * that completion frees its token.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <liburing.h>

#include "aio-internal.h"

/*
 * The rings are kernel pages mapped into the process and count in its RSS:
 * 256 entries cost 28 KiB per IOThread, more than the thread itself.  A
 * full submission queue only means one extra io_uring_enter() (get_sqe()),
 * and completions beyond the CQ ring are kept by the kernel
 * (IORING_FEAT_NODROP) and flushed by liburing, so small rings lose nothing.
 */
#define URING_ENTRIES 64
/* user_data of requests whose completion nobody needs (POLL_REMOVE). */
#define IGNORED_USER_DATA 0
/* user_data of the I/O engine's requests (io-engine-uring.c) has this
 * bit set; tokens are malloc'd, so theirs is clear. */
#define ENGINE_USER_DATA_TAG 1

typedef struct PollToken {
    AioHandler *node; /* NULL once the handler gave the request up */
    LIST_ENTRY(PollToken) link;
} PollToken;

LIST_HEAD_DECLARE(PollTokenList, PollToken);

typedef struct UringState {
    struct io_uring ring;
    PollTokenList tokens; /* every token whose completion is outstanding */
    AioHandlerList rearm; /* fired handlers, armed again by the next wait */
} UringState;

static bool io_uring_disabled_by_env(void)
{
    const char *v = getenv("LIBIOTHREAD_DISABLE_IO_URING");

    return v && *v && strcmp(v, "0") != 0;
}

static int fdmon_io_uring_init(AioContext *ctx)
{
    UringState *s;
    int ret;

    /* Lets users and tests exercise the fallback on any kernel. */
    if (io_uring_disabled_by_env()) {
        return -ENOSYS;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    ret = io_uring_queue_init(URING_ENTRIES, &s->ring, 0);
    if (ret < 0) {
        free(s);
        return ret;
    }
    LIST_INIT(&s->tokens);
    LIST_INIT(&s->rearm);
    ctx->fdmon_state = s;
    return 0;
}

static void fdmon_io_uring_fini(AioContext *ctx)
{
    UringState *s = ctx->fdmon_state;
    PollToken *t, *tmp;
    AioHandler *node;

    if (!s) {
        return;
    }
    while ((node = LIST_FIRST(&s->rearm))) {
        LIST_REMOVE(node, uring_rearm);
    }
    /* Closing the ring cancels everything in flight. */
    io_uring_queue_exit(&s->ring);
    LIST_FOREACH_SAFE(t, &s->tokens, link, tmp) {
        if (t->node) {
            t->node->uring_poll = NULL;
        }
        free(t);
    }
    free(s);
    ctx->fdmon_state = NULL;
}

/* Submit the queue: the I/O engine's requests in it too, which it
 * counts. */
static void submit(AioContext *ctx, UringState *s)
{
    io_uring_submit(&s->ring);
    aio_io_uring_entered(ctx);
}

/* An SQE, making room by submitting when the queue is full. */
static struct io_uring_sqe *get_sqe(AioContext *ctx, UringState *s)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

    if (!sqe) {
        submit(ctx, s);
        sqe = io_uring_get_sqe(&s->ring);
    }
    return sqe;
}

static int arm(AioContext *ctx, UringState *s, AioHandler *node)
{
    PollToken *t = calloc(1, sizeof(*t));
    struct io_uring_sqe *sqe;

    if (!t) {
        return -ENOMEM;
    }
    sqe = get_sqe(ctx, s);
    if (!sqe) {
        free(t);
        return -EBUSY;
    }
    t->node = node;
    LIST_INSERT_HEAD(&s->tokens, t, link);
    io_uring_prep_poll_add(sqe, node->fd, node->events);
    io_uring_sqe_set_data(sqe, t);
    node->uring_poll = t;
    return 0;
}

static int disarm(AioContext *ctx, UringState *s, AioHandler *node)
{
    PollToken *t = node->uring_poll;
    struct io_uring_sqe *sqe = get_sqe(ctx, s);

    if (!sqe) {
        return -EBUSY;
    }
    io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)t);
    io_uring_sqe_set_data64(sqe, IGNORED_USER_DATA);
    /* The token lives on until its POLL_ADD completes. */
    t->node = NULL;
    node->uring_poll = NULL;
    return 0;
}

static int fdmon_io_uring_update(AioContext *ctx, AioHandler *node,
                                 unsigned old_events)
{
    UringState *s = ctx->fdmon_state;
    int ret;

    LIST_SAFE_REMOVE(node, uring_rearm); /* armed below if still wanted */
    if (node->uring_poll && (ret = disarm(ctx, s, node)) < 0) {
        return ret;
    }
    if (node->events) {
        ret = arm(ctx, s, node);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

static void process_cqe(AioContext *ctx, UringState *s,
                        struct io_uring_cqe *cqe, AioHandlerList *ready,
                        int *added)
{
    PollToken *t = io_uring_cqe_get_data(cqe);
    AioHandler *node;

    if (cqe->user_data & ENGINE_USER_DATA_TAG) {
        aio_io_uring_complete(ctx, cqe->user_data & ~(__u64)ENGINE_USER_DATA_TAG,
                              cqe->res);
        return;
    }
    if (!t) {
        return; /* a POLL_REMOVE */
    }
    node = t->node;
    LIST_REMOVE(t, link);
    free(t);
    if (!node) {
        return; /* given up by its handler */
    }
    node->uring_poll = NULL;
    if (cqe->res < 0) {
        /* -EBADF and the like: the owner closed the fd under us.  Re-arming
         * would fail again at once, so the fd stays unwatched until its
         * handler is changed or removed. */
        return;
    }
    aio_add_ready_handler(ready, node, (unsigned)cqe->res);
    (*added)++;
    /* Its only poll just completed, so it is not on the list yet. */
    LIST_INSERT_HEAD(&s->rearm, node, uring_rearm);
}

/* Arm again what fired: its handler has run since (or a nested aio_poll()
 * runs inside it, which, like poll(2), may report the fd again).  A
 * handler changed or removed meanwhile has left the list (update()). */
static void rearm_fired(AioContext *ctx, UringState *s)
{
    AioHandler *node;

    while ((node = LIST_FIRST(&s->rearm))) {
        LIST_REMOVE(node, uring_rearm);
        if (arm(ctx, s, node) < 0) {
            /* Out of memory: keep it for the next wait rather than lose
             * the fd for good. */
            LIST_INSERT_HEAD(&s->rearm, node, uring_rearm);
            break;
        }
    }
}

/* For an outer loop: the ring's fd is readable while completions wait in
 * the completion queue. */
static int fdmon_io_uring_get_fd(AioContext *ctx)
{
    UringState *s = ctx->fdmon_state;

    return s->ring.ring_fd;
}

/* Before an outer loop blocks on that fd, or aio_poll() busy-polls the
 * completion queue: every wanted poll and every queued request must be in
 * the kernel, as the submission in wait() would have put it. */
static void fdmon_io_uring_flush(AioContext *ctx)
{
    UringState *s = ctx->fdmon_state;

    rearm_fired(ctx, s);
    if (io_uring_sq_ready(&s->ring)) {
        submit(ctx, s);
    }
}

static int fdmon_io_uring_wait(AioContext *ctx, AioHandlerList *ready,
                               int64_t timeout_ns)
{
    UringState *s = ctx->fdmon_state;
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    int ret, added = 0;

    rearm_fired(ctx, s);
    if (timeout_ns != 0 && !io_uring_cq_ready(&s->ring)) {
        struct __kernel_timespec ts, *tsp = NULL;

        if (timeout_ns > 0) {
            AIO_NS_TO_TIMESPEC(&ts, timeout_ns);
            tsp = &ts;
        }
        /* What is queued (the engine's partial batches too) goes in the
         * io_uring_enter() that waits. */
        ret = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, tsp, NULL);
        aio_io_uring_entered(ctx);
        if (ret < 0 && ret != -ETIME && ret != -EINTR) {
            aio_wait_returned(ctx);
            return ret;
        }
    } else if (io_uring_sq_ready(&s->ring)) {
        submit(ctx, s);
    }
    if (timeout_ns != 0) {
        /* No more blocking before the dispatch: what the reaping below
         * notifies (the engine's completion BH) needs no eventfd write. */
        aio_wait_returned(ctx);
    }
    io_uring_for_each_cqe(&s->ring, head, cqe) {
        process_cqe(ctx, s, cqe, ready, &added);
        n++;
    }
    io_uring_cq_advance(&s->ring, n);
    return added;
}

/* Completions waiting in the shared ring, or requests queued in it (the
 * I/O engine leaves partial batches for the next enter): seen without a
 * system call. */
static bool fdmon_io_uring_peek(AioContext *ctx)
{
    UringState *s = ctx->fdmon_state;

    return io_uring_cq_ready(&s->ring) > 0 || io_uring_sq_ready(&s->ring) > 0;
}

struct io_uring *aio_fdmon_io_uring_ring(AioContext *ctx)
{
    UringState *s = ctx->fdmon_state;

    return ctx->fdmon == &fdmon_io_uring_ops ? &s->ring : NULL;
}

const FdmonOps fdmon_io_uring_ops = {
    .kind = AIO_FDMON_IO_URING,
    .init = fdmon_io_uring_init,
    .fini = fdmon_io_uring_fini,
    .update = fdmon_io_uring_update,
    .wait = fdmon_io_uring_wait,
    .peek = fdmon_io_uring_peek,
    .get_fd = fdmon_io_uring_get_fd,
    .flush = fdmon_io_uring_flush,
};
