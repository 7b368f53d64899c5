/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * think-time: one IOThread whose handlers do 0.1-1 ms of work, fed with
 * cross-thread posts (BHs), a timer and an fd (event notifier) from two
 * other threads.  Reported: how long events waited past their due time,
 * p50 / p99 / max, minus the work queued ahead of them being unavoidable;
 * a lost wake-up shows as a wait far beyond the longest handler.
 */
#include <stdatomic.h>
#include <unistd.h>

#include <iothread/event-notifier.h>
#include <iothread/iothread.h>
#include <iothread/timer.h>

#include "bench.h"

#define MAXEV 200000

typedef struct Think {
    EventNotifier en;  /* first: the handler gets its address */
    AioContext *ctx;
    AioTimer *timer;
    int64_t timer_due;
    atomic_llong en_due;
    int64_t waits[MAXEV];
    atomic_int nwaits;
    atomic_bool stop;
    unsigned seed;     /* home thread */
} Think;

static void work(Think *t)
{
    int64_t end = bench_now() + 100000 + rand_r(&t->seed) % 900000;

    while (bench_now() < end) {
    }
}

static void record(Think *t, int64_t due)
{
    int i = atomic_fetch_add(&t->nwaits, 1);

    if (i < MAXEV) {
        t->waits[i] = bench_now() - due;
    }
}

typedef struct Post {
    Think *t;
    int64_t due;
} Post;

static void post_bh(void *opaque)
{
    Post *p = opaque;

    record(p->t, p->due);
    if (rand_r(&p->t->seed) % 8 == 0) {
        work(p->t);
    }
    free(p);
}

static void timer_cb(void *opaque)
{
    Think *t = opaque;

    record(t, t->timer_due);
    work(t);
    t->timer_due = bench_now() + 2000000;
    aio_timer_mod(t->timer, t->timer_due);
}

static void en_cb(EventNotifier *e)
{
    Think *t = (Think *)e;
    int64_t due;

    event_notifier_test_and_clear(e);
    due = atomic_exchange(&t->en_due, 0);
    if (due) {
        record(t, due);
        work(t);
    }
}

static void setup(void *opaque)
{
    Think *t = opaque;

    t->seed = 1;
    aio_set_event_notifier(t->ctx, &t->en, en_cb, NULL, NULL);
    t->timer = aio_timer_new(t->ctx, AIO_CLOCK_MONOTONIC, timer_cb, t);
    t->timer_due = bench_now() + 2000000;
    aio_timer_mod(t->timer, t->timer_due);
}

static void teardown(void *opaque)
{
    Think *t = opaque;

    aio_set_event_notifier(t->ctx, &t->en, NULL, NULL, NULL);
    aio_timer_free(t->timer);
}

static void *poster(void *opaque)
{
    Think *t = opaque;
    unsigned seed = (unsigned)(uintptr_t)&seed;

    bench_pin(1);
    while (!atomic_load(&t->stop)) {
        Post *p = malloc(sizeof(*p));
        long long zero = 0;

        p->t = t;
        p->due = bench_now();
        aio_bh_schedule_oneshot(t->ctx, post_bh, p);
        if (rand_r(&seed) % 8 == 0 &&
            atomic_compare_exchange_strong(&t->en_due, &zero, bench_now())) {
            event_notifier_set(&t->en);
        }
        usleep(400 + rand_r(&seed) % 1200); /* about 55 % busy */
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    double p50[BENCH_REPS], p99[BENCH_REPS], mx[BENCH_REPS];

    for (int rep = 0; rep < BENCH_REPS; rep++) {
        Think *t = calloc(1, sizeof(*t));
        IOThreadOptions o;
        IOThread *th;
        cpu_set_t c0;
        pthread_t p[2];
        int n;

        event_notifier_init(&t->en, false);
        CPU_ZERO(&c0);
        CPU_SET(0, &c0);
        iothread_options_init(&o);
        o.affinity = &c0;
        iothread_start(&th, &o);
        t->ctx = iothread_get_aio_context(th);
        iothread_run_sync(th, setup, t);
        for (int i = 0; i < 2; i++) {
            pthread_create(&p[i], NULL, poster, t);
        }
        usleep((useconds_t)(secs * 1e6));
        atomic_store(&t->stop, true);
        for (int i = 0; i < 2; i++) {
            pthread_join(p[i], NULL);
        }
        iothread_run_sync(th, teardown, t);
        iothread_stop(th);
        event_notifier_cleanup(&t->en);
        n = atomic_load(&t->nwaits);
        n = n > MAXEV ? MAXEV : n;
        p50[rep] = (double)bench_pct(t->waits, (size_t)n, 0.5) / 1000.0;
        p99[rep] = (double)bench_pct(t->waits, (size_t)n, 0.99) / 1000.0;
        mx[rep] = (double)bench_pct(t->waits, (size_t)n, 1.0) / 1000.0;
        free(t);
    }
    bench_result("think-time", "wait_p50_us", "us", "iothreadd", "iothreadd",
                 p50);
    bench_result("think-time", "wait_p99_us", "us", "iothreadd", "iothreadd",
                 p99);
    bench_result("think-time", "wait_max_us", "us", "iothreadd", "iothreadd",
                 mx);
    return 0;
}
