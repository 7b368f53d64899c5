/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bottom halves: callbacks that any thread schedules and the home thread
 * runs.
 *
 * Scheduled BHs go on a lock-free stack (a Treiber stack): a producer
 * links the node to the current head and swings the head to it with one
 * compare-and-swap, so a node is complete the moment it is visible and
 * pushing is async-signal-safe.  The home thread takes the whole stack
 * with one exchange and reverses it into a *slice* on its own stack, so
 * BHs run in the order they were scheduled.  Compared with a FIFO queue
 * (Vyukov's, which this replaced), a hand-off touches two cache lines
 * shared between the threads, the head and the BH, instead of four: no
 * stub node, no link store into the previous node.  A BH scheduled while
 * BHs run lands on the stack, not the slice, so it waits for the next
 * pass, and a nested aio_poll() still runs everything that its callers
 * had taken.
 */
#include <errno.h>
#include <stdlib.h>

#include "aio-internal.h"

enum {
    BH_PENDING = 1 << 0,   /* on the stack or a slice */
    BH_SCHEDULED = 1 << 1, /* should run when taken */
    BH_ONESHOT = 1 << 2,   /* free after running */
    BH_DELETED = 1 << 3,   /* free when taken, don't run */
    BH_IDLE = 1 << 4,      /* neither wakes the loop nor counts as progress */
};

struct AioBH {
    /* The next older BH on the stack.  Written by the pushing thread
     * before the compare-and-swap publishes the node and never again
     * while it is on the stack (PENDING keeps others from pushing it). */
    AioBH *stack_next;
    AioContext *ctx;
    AioBHFunc *cb;
    void *opaque;
    atomic_uint flags; /* BH_*; changed by any thread with atomic RMW */
    AioBH *slice_next; /* home thread only */
};

void aio_bh_queue_init(AioContext *ctx)
{
    atomic_init(&ctx->bh_head, NULL);
    SIMPLEQ_INIT(&ctx->bh_slices);
}

/*
 * Producer side.  The successful compare-and-swap is seq_cst: it must be
 * ordered before the producer's later read of ctx->notified in
 * aio_notify(), so that a producer that skips the eventfd write (because
 * notified was already set) is certain the home thread's next look, which
 * follows its seq_cst clearing of notified, sees this node.  See
 * aio-internal.h.
 */
static void stack_push(AioContext *ctx, AioBH *bh)
{
    AioBH *head = atomic_load_explicit(&ctx->bh_head, memory_order_relaxed);

    do {
        bh->stack_next = head;
    } while (!atomic_compare_exchange_weak_explicit(
        &ctx->bh_head, &head, bh, memory_order_seq_cst,
        memory_order_relaxed));
}

/* Home thread: move every pushed BH into @slice, oldest first. */
static void stack_take(AioContext *ctx, BHSlice *slice)
{
    AioBH *bh = atomic_exchange(&ctx->bh_head, NULL);

    slice->head = NULL;
    slice->tailp = bh ? &bh->slice_next : &slice->head;
    while (bh) {
        AioBH *older = bh->stack_next;

        bh->slice_next = slice->head;
        slice->head = bh;
        bh = older;
    }
}

static void bh_enqueue(AioBH *bh, unsigned new_flags)
{
    AioContext *ctx = bh->ctx;
    unsigned old = atomic_fetch_or(&bh->flags, BH_PENDING | new_flags);

    if (!(old & BH_PENDING)) {
        stack_push(ctx, bh);
    }
    if (!(new_flags & BH_IDLE)) {
        aio_notify(ctx);
    }
}

/* A BH nobody else can see yet, so @flags need no locked instruction;
 * the push that publishes it publishes them. */
static AioBH *bh_alloc(AioContext *ctx, AioBHFunc *cb, void *opaque,
                       unsigned flags)
{
    AioBH *bh = malloc(sizeof(*bh));

    if (!bh) {
        return NULL;
    }
    bh->ctx = ctx;
    bh->cb = cb;
    bh->opaque = opaque;
    atomic_init(&bh->flags, flags);
    return bh;
}

AioBH *aio_bh_new(AioContext *ctx, AioBHFunc *cb, void *opaque)
{
    AioBH *bh;

    ARG_CHECK(ctx && cb, NULL);
    bh = bh_alloc(ctx, cb, opaque, 0);
    if (bh) {
        /* Counted until aio_bh_delete(), for aio_context_free()'s check. */
        atomic_fetch_add_explicit(&ctx->bh_live, 1, memory_order_relaxed);
    }
    return bh;
}

void aio_bh_schedule(AioBH *bh)
{
    ARG_CHECK(bh, );
    bh_enqueue(bh, BH_SCHEDULED);
}

void aio_bh_schedule_idle(AioBH *bh)
{
    ARG_CHECK(bh, );
    bh_enqueue(bh, BH_SCHEDULED | BH_IDLE);
}

void aio_bh_cancel(AioBH *bh)
{
    ARG_CHECK(bh, );
    atomic_fetch_and(&bh->flags, ~(unsigned)(BH_SCHEDULED | BH_IDLE));
}

void aio_bh_delete(AioBH *bh)
{
    ARG_CHECK(bh, );
    /* Before the enqueue: once @bh is on the stack, the home thread may
     * free it at any moment. */
    atomic_fetch_sub_explicit(&bh->ctx->bh_live, 1, memory_order_relaxed);
    /* The home thread frees it when it dequeues it, so it is never freed
     * under a running callback or a concurrent aio_bh_schedule(). */
    bh_enqueue(bh, BH_DELETED);
}

int aio_bh_schedule_oneshot(AioContext *ctx, AioBHFunc *cb, void *opaque)
{
    AioBH *bh;

    ARG_CHECK(ctx && cb, -EINVAL);
    bh = bh_alloc(ctx, cb, opaque, BH_PENDING | BH_SCHEDULED | BH_ONESHOT);
    if (!bh) {
        return -ENOMEM;
    }
    stack_push(ctx, bh);
    aio_notify(ctx);
    return 0;
}

bool aio_bh_poll(AioContext *ctx)
{
    BHSlice slice;
    BHSlice *s;
    bool progress = false;

    stack_take(ctx, &slice);
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
         * it runs.  A oneshot BH has no handle outside this queue, so its
         * flags cannot change: a plain load spares a locked instruction
         * per item on the thread that runs them all. */
        flags = atomic_load_explicit(&bh->flags, memory_order_relaxed);
        if (!(flags & BH_ONESHOT)) {
            flags = atomic_fetch_and(
                &bh->flags, ~(unsigned)(BH_PENDING | BH_SCHEDULED | BH_IDLE));
        }
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
    AioBH *bh;

    /* BHs that callers up the stack took off the queue but have not run
     * yet (we are in a nested aio_poll). */
    SIMPLEQ_FOREACH(s, &ctx->bh_slices, next) {
        for (bh = s->head; bh && timeout != 0; bh = bh->slice_next) {
            timeout = bh_timeout(bh, timeout);
        }
    }
    /* The stack, read-only: a pushed node does not change until we take
     * it, and only this thread takes and frees nodes. */
    for (bh = atomic_load(&ctx->bh_head); bh && timeout != 0;
         bh = bh->stack_next) {
        timeout = bh_timeout(bh, timeout);
    }
    return timeout;
}

void aio_bh_drain_for_free(AioContext *ctx)
{
    BHSlice slice;
    AioBH *bh, *next;

    stack_take(ctx, &slice);
    for (bh = slice.head; bh; bh = next) {
        unsigned flags = atomic_fetch_and(&bh->flags,
                                          ~(unsigned)BH_PENDING);

        next = bh->slice_next;
        if (flags & (BH_DELETED | BH_ONESHOT)) {
            free(bh);
        }
    }
}
