/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Timers: one binary min-heap of armed timers per clock and context.
 *
 * Any thread may arm or cancel, so the heaps sit under ctx->timer_lock.
 * The home thread checks an atomic copy of each heap's earliest deadline
 * first, so an iteration with no timer due takes no lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "aio-internal.h"

#define NOT_ARMED SIZE_MAX

int64_t aio_clock_now(AioClock clock)
{
    struct timespec ts;

    ARG_CHECK((unsigned)clock < AIO_CLOCK_MAX, -EINVAL);
    clock_gettime(clock == AIO_CLOCK_REALTIME ? CLOCK_REALTIME
                                              : CLOCK_MONOTONIC,
                  &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

int64_t aio_now_ns(void)
{
    return aio_clock_now(AIO_CLOCK_MONOTONIC);
}

/* ---- heap, all under ctx->timer_lock ---- */

static void heap_set(TimerHeap *h, size_t i, AioTimer *t)
{
    h->items[i] = t;
    t->heap_index = i;
}

static void heap_sift_up(TimerHeap *h, size_t i)
{
    AioTimer *t = h->items[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (h->items[parent]->expire_ns <= t->expire_ns) {
            break;
        }
        heap_set(h, i, h->items[parent]);
        i = parent;
    }
    heap_set(h, i, t);
}

static void heap_sift_down(TimerHeap *h, size_t i)
{
    AioTimer *t = h->items[i];

    for (;;) {
        size_t child = 2 * i + 1;

        if (child >= h->len) {
            break;
        }
        if (child + 1 < h->len &&
            h->items[child + 1]->expire_ns < h->items[child]->expire_ns) {
            child++;
        }
        if (t->expire_ns <= h->items[child]->expire_ns) {
            break;
        }
        heap_set(h, i, h->items[child]);
        i = child;
    }
    heap_set(h, i, t);
}

static int heap_insert(TimerHeap *h, AioTimer *t)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        AioTimer **items = realloc(h->items, cap * sizeof(*items));

        if (!items) {
            return -ENOMEM;
        }
        h->items = items;
        h->cap = cap;
    }
    heap_set(h, h->len++, t);
    heap_sift_up(h, t->heap_index);
    return 0;
}

static void heap_remove(TimerHeap *h, AioTimer *t)
{
    size_t i = t->heap_index;
    AioTimer *last = h->items[--h->len];

    t->heap_index = NOT_ARMED;
    if (last == t) {
        return;
    }
    heap_set(h, i, last);
    if (i > 0 && h->items[(i - 1) / 2]->expire_ns > last->expire_ns) {
        heap_sift_up(h, i);
    } else {
        heap_sift_down(h, i);
    }
}

static void publish_earliest(AioContext *ctx, AioClock clock)
{
    TimerHeap *h = &ctx->timers[clock];

    atomic_store_explicit(&ctx->timer_earliest[clock],
                          h->len ? h->items[0]->expire_ns : INT64_MAX,
                          memory_order_relaxed);
}

/* ---- public API ---- */

void aio_timer_init(AioTimer *t, AioContext *ctx, AioClock clock,
                    AioTimerCB *cb, void *opaque)
{
    bool valid = ctx && cb && (unsigned)clock < AIO_CLOCK_MAX;

    ARG_CHECK(t, );
    /* With an invalid argument the timer has no context, so that arming
     * it fails with -EINVAL rather than crashing. */
    t->ctx = valid ? ctx : NULL;
    t->cb = cb;
    t->opaque = opaque;
    t->expire_ns = -1;
    t->heap_index = NOT_ARMED;
    t->clock = valid ? clock : AIO_CLOCK_MONOTONIC;
}

AioTimer *aio_timer_new(AioContext *ctx, AioClock clock, AioTimerCB *cb,
                        void *opaque)
{
    AioTimer *t;

    ARG_CHECK(ctx && cb && (unsigned)clock < AIO_CLOCK_MAX, NULL);
    t = malloc(sizeof(*t));
    if (t) {
        aio_timer_init(t, ctx, clock, cb, opaque);
    }
    return t;
}

int aio_timer_mod(AioTimer *t, int64_t expire_ns)
{
    AioContext *ctx;
    TimerHeap *h;
    bool earliest;
    int ret;

    ARG_CHECK(t && t->ctx, -EINVAL);
    ctx = t->ctx;
    h = &ctx->timers[t->clock];
    pthread_mutex_lock(&ctx->timer_lock);
    if (t->heap_index != NOT_ARMED) {
        heap_remove(h, t);
    }
    t->expire_ns = expire_ns;
    ret = heap_insert(h, t);
    earliest = ret == 0 && t->heap_index == 0;
    publish_earliest(ctx, t->clock);
    pthread_mutex_unlock(&ctx->timer_lock);

    /* The home thread recomputes its wait each iteration; others must
     * wake it if it may be sleeping past the new deadline. */
    if (earliest && !aio_context_in_home_thread(ctx)) {
        aio_notify(ctx);
    }
    return ret;
}

int aio_timer_mod_in(AioTimer *t, int64_t delta_ns)
{
    ARG_CHECK(t && t->ctx, -EINVAL);
    return aio_timer_mod(t, aio_clock_now(t->clock) + delta_ns);
}

void aio_timer_del(AioTimer *t)
{
    AioContext *ctx;

    ARG_CHECK(t && t->ctx, );
    ctx = t->ctx;
    pthread_mutex_lock(&ctx->timer_lock);
    if (t->heap_index != NOT_ARMED) {
        heap_remove(&ctx->timers[t->clock], t);
        publish_earliest(ctx, t->clock);
    }
    pthread_mutex_unlock(&ctx->timer_lock);
}

bool aio_timer_pending(AioTimer *t)
{
    bool pending;

    ARG_CHECK(t && t->ctx, false);
    pthread_mutex_lock(&t->ctx->timer_lock);
    pending = t->heap_index != NOT_ARMED;
    pthread_mutex_unlock(&t->ctx->timer_lock);
    return pending;
}

int64_t aio_timer_expire_time(AioTimer *t)
{
    int64_t expire;

    ARG_CHECK(t && t->ctx, -1);
    pthread_mutex_lock(&t->ctx->timer_lock);
    expire = t->heap_index != NOT_ARMED ? t->expire_ns : -1;
    pthread_mutex_unlock(&t->ctx->timer_lock);
    return expire;
}

void aio_timer_free(AioTimer *t)
{
    if (t) {
        aio_timer_del(t);
        free(t);
    }
}

/* ---- the loop's side ---- */

int aio_timers_init(AioContext *ctx)
{
    int ret = pthread_mutex_init(&ctx->timer_lock, NULL);

    if (ret) {
        return -ret;
    }
    for (int c = 0; c < AIO_CLOCK_MAX; c++) {
        ctx->timers[c] = (TimerHeap){0};
        atomic_init(&ctx->timer_earliest[c], INT64_MAX);
    }
    return 0;
}

void aio_timers_fini(AioContext *ctx)
{
    for (int c = 0; c < AIO_CLOCK_MAX; c++) {
        TimerHeap *h = &ctx->timers[c];

        /* Timers still armed belong to the caller; leave them disarmed. */
        for (size_t i = 0; i < h->len; i++) {
            h->items[i]->heap_index = NOT_ARMED;
        }
        free(h->items);
    }
    pthread_mutex_destroy(&ctx->timer_lock);
}

int64_t aio_timers_timeout(AioContext *ctx)
{
    int64_t timeout = -1;

    for (int c = 0; c < AIO_CLOCK_MAX; c++) {
        int64_t earliest = atomic_load_explicit(&ctx->timer_earliest[c],
                                                memory_order_relaxed);
        int64_t left;

        if (earliest == INT64_MAX) {
            continue;
        }
        left = earliest - aio_clock_now((AioClock)c);
        if (left <= 0) {
            return 0;
        }
        if (timeout < 0 || left < timeout) {
            timeout = left;
        }
    }
    return timeout;
}

bool aio_timers_run(AioContext *ctx)
{
    bool progress = false;

    for (int c = 0; c < AIO_CLOCK_MAX; c++) {
        TimerHeap *h = &ctx->timers[c];
        int64_t now;

        if (atomic_load_explicit(&ctx->timer_earliest[c],
                                 memory_order_relaxed) == INT64_MAX) {
            continue;
        }
        now = aio_clock_now((AioClock)c);
        pthread_mutex_lock(&ctx->timer_lock);
        while (h->len && h->items[0]->expire_ns <= now) {
            AioTimer *t = h->items[0];

            heap_remove(h, t);
            publish_earliest(ctx, (AioClock)c);
            /* Unlocked: the callback may re-arm this or any timer. */
            pthread_mutex_unlock(&ctx->timer_lock);
            stat_add(&ctx->stat_timers_fired, 1);
            t->cb(t->opaque);
            progress = true;
            pthread_mutex_lock(&ctx->timer_lock);
        }
        pthread_mutex_unlock(&ctx->timer_lock);
    }
    return progress;
}
