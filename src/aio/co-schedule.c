/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Waking coroutines through their home context.
 *
 * Each context that has had a coroutine gets an AioCoState: a lock-free
 * stack of scheduled coroutines (pushed with a compare-and-swap by any
 * thread, taken whole with one exchange by the home thread, like the BH
 * stack in bh.c) and one bottom half that drains it.  The bottom half runs
 * on the home thread between coroutines, never inside one, which is what
 * makes a wake that races with the coroutine's own yield safe: the wake is
 * acted on only after the coroutine has suspended.
 *
 * The state also counts the coroutines living on the context, so that
 * aio_context_free() can refuse to free a context that still has some.
 */
#include <errno.h>
#include <stdlib.h>

#include "coroutine-internal.h"

struct AioCoState {
    AioContext *ctx;
    AioBH *bh;
    /* Scheduled coroutines, newest first (see the file comment). */
    _Atomic(Coroutine *) head;
    /* Alive with this home, or on the way to it (atomic add by any
     * thread: creation, termination and moves happen anywhere). */
    atomic_uint live;
};

static void co_schedule_bh(void *opaque);

AioCoState *aio_co_state(AioContext *ctx)
{
    AioCoState *s = atomic_load_explicit(&ctx->co_state,
                                         memory_order_acquire);
    AioCoState *expected = NULL;

    if (s) {
        return s;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        return NULL;
    }
    s->ctx = ctx;
    atomic_init(&s->head, NULL);
    atomic_init(&s->live, 0);
    s->bh = aio_bh_new(ctx, co_schedule_bh, s);
    if (!s->bh) {
        free(s);
        return NULL;
    }
    /* Two threads may race to create it: the loser frees its copy. */
    if (!atomic_compare_exchange_strong_explicit(
            &ctx->co_state, &expected, s, memory_order_acq_rel,
            memory_order_acquire)) {
        aio_bh_delete(s->bh);
        free(s);
        return expected;
    }
    return s;
}

void aio_co_live_add(AioContext *ctx, int delta)
{
    AioCoState *s = atomic_load_explicit(&ctx->co_state,
                                         memory_order_acquire);

    /* s exists: every coroutine counted was created through it. */
    atomic_fetch_add_explicit(&s->live, (unsigned)delta,
                              memory_order_relaxed);
}

unsigned aio_co_count(AioContext *ctx)
{
    AioCoState *s;

    CO_ARG_CHECK(ctx, 0);
    s = atomic_load_explicit(&ctx->co_state, memory_order_acquire);
    return s ? atomic_load_explicit(&s->live, memory_order_relaxed) : 0;
}

/* Any thread.  The seq_cst compare-and-swap orders the push before the
 * BH's own scheduling (and aio_notify()'s read of notify_me), as in
 * bh.c. */
static void push(AioCoState *s, Coroutine *co)
{
    Coroutine *head = atomic_load_explicit(&s->head, memory_order_relaxed);

    do {
        co->sched_next = head;
    } while (!atomic_compare_exchange_weak_explicit(
        &s->head, &head, co, memory_order_seq_cst, memory_order_relaxed));
    aio_bh_schedule(s->bh);
}

/* Home thread: enter what was scheduled so far, oldest first. */
static void co_schedule_bh(void *opaque)
{
    AioCoState *s = opaque;
    Coroutine *co = atomic_exchange(&s->head, NULL);
    Coroutine *fifo = NULL;

    while (co) {
        Coroutine *older = co->sched_next;

        co->sched_next = fifo;
        fifo = co;
        co = older;
    }
    while ((co = fifo)) {
        AioContext *home = atomic_load_explicit(&co->ctx,
                                                memory_order_relaxed);
        AioContext *target = co->sched_target;

        fifo = co->sched_next;
        co->sched_next = NULL;
        if (target != s->ctx) {
            /* Suspended here, now hand it on (see aio_co_schedule()). */
            push(atomic_load_explicit(&target->co_state,
                                      memory_order_acquire),
                 co);
            continue;
        }
        if (home != target) {
            /* Counted in both while it moved; now only here. */
            atomic_store_explicit(&co->ctx, target, memory_order_release);
            aio_co_live_add(home, -1);
        }
        atomic_store_explicit(&co->scheduled, false, memory_order_relaxed);
        qemu_coroutine_enter(co);
    }
}

static void mark_scheduled(Coroutine *co, const char *who)
{
    if (atomic_exchange(&co->scheduled, true)) {
        co_die("%s: coroutine %p is already scheduled", who, (void *)co);
    }
}

int aio_co_schedule(AioContext *ctx, Coroutine *co)
{
    AioContext *home;
    AioCoState *target;

    CO_ARG_CHECK(ctx && co, -EINVAL);
    home = atomic_load_explicit(&co->ctx, memory_order_acquire);
    target = aio_co_state(ctx);
    if (!target) {
        return -ENOMEM;
    }
    mark_scheduled(co, "aio_co_schedule");
    co->sched_target = ctx;
    if (ctx != home) {
        aio_co_live_add(ctx, 1);
    }
    /* A move goes through the old home first: only its thread knows that
     * the coroutine has finished suspending. */
    push(atomic_load_explicit(&home->co_state, memory_order_acquire), co);
    return 0;
}

void aio_co_wake(Coroutine *co)
{
    AioContext *home;

    CO_ARG_CHECK(co, );
    home = atomic_load_explicit(&co->ctx, memory_order_acquire);
    if (aio_context_in_home_thread(home) && !qemu_in_coroutine()) {
        /* aio_co_enter semantics: nothing of this context is running
         * underneath us, so @co may run right now. */
        qemu_coroutine_enter(co);
        return;
    }
    mark_scheduled(co, "aio_co_wake");
    co->sched_target = home;
    push(atomic_load_explicit(&home->co_state, memory_order_acquire), co);
}

void aio_co_context_fini(AioContext *ctx)
{
    AioCoState *s = atomic_load_explicit(&ctx->co_state,
                                         memory_order_acquire);
    unsigned live;

    if (!s) {
        return;
    }
    live = atomic_load(&s->live);
    if (live) {
        co_die("aio_context_free(%p): %u coroutine%s still alive on this "
               "context; let them finish first",
               (void *)ctx, live, live == 1 ? "" : "s");
    }
    /* Nothing is alive, so nothing is scheduled: the list is empty. */
    aio_bh_delete(s->bh);
    atomic_store_explicit(&ctx->co_state, NULL, memory_order_relaxed);
    free(s);
}
