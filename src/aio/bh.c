/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bottom halves: callbacks that any thread schedules and the home thread
 * runs.
 *
 * Scheduled BHs travel through an intrusive multi-producer single-consumer
 * FIFO (Dmitry Vyukov's): a producer does one atomic exchange and one
 * store, so scheduling is wait-free and async-signal-safe, and BHs run in
 * the order they were scheduled.  Each aio_bh_poll() moves what is queued
 * into a *slice* on its own stack and runs the slices oldest first: a BH
 * scheduled while BHs run lands in the queue, not the slice, so it waits
 * for the next pass, and a nested aio_poll() still runs everything that
 * its callers had taken off the queue.
 */
#include <errno.h>
#include <stdlib.h>

#include "aio-internal.h"

enum {
    BH_PENDING = 1 << 0,   /* on the queue or a slice */
    BH_SCHEDULED = 1 << 1, /* should run when dequeued */
    BH_ONESHOT = 1 << 2,   /* free after running */
    BH_DELETED = 1 << 3,   /* free when dequeued, don't run */
    BH_IDLE = 1 << 4,      /* neither wakes the loop nor counts as progress */
};

struct AioBH {
    BHQueueNode qnode; /* first: the queue holds &bh->qnode */
    AioContext *ctx;
    AioBHFunc *cb;
    void *opaque;
    atomic_uint flags; /* BH_*; changed by any thread with atomic RMW */
    AioBH *slice_next; /* home thread only */
};

static AioBH *bh_of(BHQueueNode *n)
{
    return (AioBH *)((char *)n - offsetof(AioBH, qnode));
}

void aio_bh_queue_init(AioContext *ctx)
{
    atomic_init(&ctx->bh_stub.next, NULL);
    atomic_init(&ctx->bh_head, &ctx->bh_stub);
    ctx->bh_tail = &ctx->bh_stub;
    SIMPLEQ_INIT(&ctx->bh_slices);
}

/*
 * Producer side.  seq_cst throughout: the link store must be ordered
 * before the producer's later read of ctx->notified in aio_notify(), so
 * that a producer that skips the eventfd write (because notified was
 * already set) is certain the home thread's next look, which follows its
 * seq_cst clearing of notified, sees this node.  See aio-internal.h.
 */
static void queue_push(AioContext *ctx, BHQueueNode *n)
{
    BHQueueNode *prev;

    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    prev = atomic_exchange(&ctx->bh_head, n);
    /* Between the exchange and this store the queue has a gap; the
     * consumer stops at it, and our aio_notify() that follows makes sure
     * it comes back. */
    atomic_store(&prev->next, n);
}

/* Consumer side (home thread).  NULL when empty or at a producer's gap. */
static BHQueueNode *queue_pop(AioContext *ctx)
{
    BHQueueNode *tail = ctx->bh_tail;
    BHQueueNode *next = atomic_load(&tail->next);

    if (tail == &ctx->bh_stub) {
        if (!next) {
            return NULL;
        }
        ctx->bh_tail = next;
        tail = next;
        next = atomic_load(&next->next);
    }
    if (next) {
        ctx->bh_tail = next;
        return tail;
    }
    if (tail != atomic_load(&ctx->bh_head)) {
        return NULL; /* a producer is between its exchange and its link */
    }
    /* tail is the last node: put the stub behind it so it can leave. */
    queue_push(ctx, &ctx->bh_stub);
    next = atomic_load(&tail->next);
    if (next) {
        ctx->bh_tail = next;
        return tail;
    }
    return NULL;
}

static void bh_enqueue(AioBH *bh, unsigned new_flags)
{
    AioContext *ctx = bh->ctx;
    unsigned old = atomic_fetch_or(&bh->flags, BH_PENDING | new_flags);

    if (!(old & BH_PENDING)) {
        queue_push(ctx, &bh->qnode);
    }
    if (!(new_flags & BH_IDLE)) {
        aio_notify(ctx);
    }
}

AioBH *aio_bh_new(AioContext *ctx, AioBHFunc *cb, void *opaque)
{
    AioBH *bh = calloc(1, sizeof(*bh));

    if (!bh) {
        return NULL;
    }
    bh->ctx = ctx;
    bh->cb = cb;
    bh->opaque = opaque;
    atomic_init(&bh->flags, 0);
    return bh;
}

void aio_bh_schedule(AioBH *bh)
{
    bh_enqueue(bh, BH_SCHEDULED);
}

void aio_bh_schedule_idle(AioBH *bh)
{
    bh_enqueue(bh, BH_SCHEDULED | BH_IDLE);
}

void aio_bh_cancel(AioBH *bh)
{
    atomic_fetch_and(&bh->flags, ~(unsigned)(BH_SCHEDULED | BH_IDLE));
}

void aio_bh_delete(AioBH *bh)
{
    /* The home thread frees it when it dequeues it, so it is never freed
     * under a running callback or a concurrent aio_bh_schedule(). */
    bh_enqueue(bh, BH_DELETED);
}

int aio_bh_schedule_oneshot(AioContext *ctx, AioBHFunc *cb, void *opaque)
{
    AioBH *bh = aio_bh_new(ctx, cb, opaque);

    if (!bh) {
        return -ENOMEM;
    }
    atomic_store_explicit(&bh->flags, BH_ONESHOT, memory_order_relaxed);
    bh_enqueue(bh, BH_SCHEDULED);
    return 0;
}

bool aio_bh_poll(AioContext *ctx)
{
    BHSlice slice = {.head = NULL};
    BHQueueNode *n;
    BHSlice *s;
    bool progress = false;

    slice.tailp = &slice.head;
    while ((n = queue_pop(ctx))) {
        AioBH *bh = bh_of(n);

        bh->slice_next = NULL;
        *slice.tailp = bh;
        slice.tailp = &bh->slice_next;
    }
    SIMPLEQ_INSERT_TAIL(&ctx->bh_slices, &slice, next);

    /* Older slices first: they belong to aio_bh_poll() calls further up
     * the stack, whose BHs were scheduled before ours. */
    while ((s = SIMPLEQ_FIRST(&ctx->bh_slices))) {
        AioBH *bh = s->head;
        unsigned flags;

        if (!bh) {
            SIMPLEQ_REMOVE_HEAD(&ctx->bh_slices, next);
            continue;
        }
        s->head = bh->slice_next;
        if (!s->head) {
            s->tailp = &s->head;
        }
        /* Clearing PENDING lets other threads queue it again, even while
         * it runs. */
        flags = atomic_fetch_and(
            &bh->flags, ~(unsigned)(BH_PENDING | BH_SCHEDULED | BH_IDLE));
        if ((flags & (BH_SCHEDULED | BH_DELETED)) == BH_SCHEDULED) {
            if (!(flags & BH_IDLE)) {
                progress = true;
            }
            stat_add(&ctx->stat_bh_runs, 1);
            bh->cb(bh->opaque);
        }
        if (flags & (BH_DELETED | BH_ONESHOT)) {
            free(bh);
        }
    }
    return progress;
}

/* What @bh asks of the next wait: 0 (runnable), the idle timeout, or
 * nothing (@timeout unchanged). */
static int64_t bh_timeout(AioBH *bh, int64_t timeout)
{
    unsigned flags = atomic_load_explicit(&bh->flags, memory_order_relaxed);

    if ((flags & (BH_SCHEDULED | BH_DELETED)) != BH_SCHEDULED) {
        return timeout;
    }
    return flags & BH_IDLE ? AIO_IDLE_BH_TIMEOUT_NS : 0;
}

int64_t aio_bh_timeout(AioContext *ctx)
{
    int64_t timeout = -1;
    BHSlice *s;
    BHQueueNode *n;
    AioBH *bh;

    /* BHs that callers up the stack took off the queue but have not run
     * yet (we are in a nested aio_poll). */
    SIMPLEQ_FOREACH(s, &ctx->bh_slices, next) {
        for (bh = s->head; bh && timeout != 0; bh = bh->slice_next) {
            timeout = bh_timeout(bh, timeout);
        }
    }
    /* The queue, read-only: nodes between tail and head stay put until we
     * pop them.  A gap ends the walk; its producer will notify us. */
    for (n = ctx->bh_tail; n && timeout != 0; n = atomic_load(&n->next)) {
        if (n != &ctx->bh_stub) {
            timeout = bh_timeout(bh_of(n), timeout);
        }
    }
    return timeout;
}

void aio_bh_drain_for_free(AioContext *ctx)
{
    BHQueueNode *n;

    while ((n = queue_pop(ctx))) {
        AioBH *bh = bh_of(n);
        unsigned flags = atomic_fetch_and(&bh->flags,
                                          ~(unsigned)BH_PENDING);

        if (flags & (BH_DELETED | BH_ONESHOT)) {
            free(bh);
        }
    }
}
