/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Many threads: cross-thread BH stress with polling on and off, IOThread
 * life-cycle churn (no thread or fd left behind), the thread pool,
 * adaptive polling asserted on the counters, and the fd-monitor fallback.
 * Sizes shrink under IOTHREAD_TEST_QUICK (TSan); nothing here asserts
 * speed.
 */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <iothread/aio.h>
#include <iothread/event-notifier.h>
#include <iothread/iothread.h>
#include <iothread/thread-pool.h>
#include <iothread/timer.h>

#include "harness.h"

/* ---- cross-thread BH stress ---- */

enum { PRODUCERS = 2 };

typedef struct Stress {
    AioContext *ctx;
    long per_producer;
    atomic_long runs;       /* items run, over all producers */
    long next_seq[PRODUCERS]; /* home thread: FIFO check of oneshots */
    atomic_int bad_order;
} Stress;

typedef struct Item {
    Stress *s;
    int producer;
    long seq;
} Item;

static void item_bh(void *opaque)
{
    Item *it = opaque;
    Stress *s = it->s;

    if (it->seq != s->next_seq[it->producer]) {
        atomic_fetch_add(&s->bad_order, 1);
    }
    s->next_seq[it->producer] = it->seq + 1;
    atomic_fetch_add_explicit(&s->runs, 1, memory_order_relaxed);
    free(it);
}

/* A reusable BH that the producer re-schedules after each run. */
typedef struct Ping {
    AioBH *bh;
    atomic_int pending;
    atomic_long runs;
} Ping;

static void ping_bh(void *opaque)
{
    Ping *p = opaque;

    atomic_fetch_add(&p->runs, 1);
    atomic_store(&p->pending, 0);
}

typedef struct Producer {
    Stress *s;
    int id;
    Ping ping;
    long pings_sent;
} Producer;

static void *producer_main(void *opaque)
{
    Producer *p = opaque;
    Stress *s = p->s;

    for (long i = 0; i < s->per_producer; i++) {
        Item *it = malloc(sizeof(*it));

        *it = (Item){.s = s, .producer = p->id, .seq = i};
        while (aio_bh_schedule_oneshot(s->ctx, item_bh, it) < 0) {
            sched_yield();
        }
        /* Every 64 items, also poke the reusable BH if it is idle. */
        if (i % 64 == 0 && !atomic_exchange(&p->ping.pending, 1)) {
            p->pings_sent++;
            aio_bh_schedule(p->ping.bh);
        }
    }
    return NULL;
}

static void stress_run(AioFdmon fdmon, int64_t poll_max_ns)
{
    IOThreadOptions opts;
    IOThread *t;
    Stress s = {.per_producer = test_quick() ? 50000 : 500000};
    Producer prod[PRODUCERS];
    pthread_t th[PRODUCERS];
    long total = s.per_producer * PRODUCERS;
    AioStats st;

    iothread_options_init(&opts);
    opts.name = "stress";
    opts.fdmon = fdmon;
    opts.poll_max_ns = poll_max_ns;
    REQUIRE(iothread_start(&t, &opts) == 0);
    s.ctx = iothread_get_aio_context(t);
    for (int i = 0; i < PRODUCERS; i++) {
        prod[i] = (Producer){.s = &s, .id = i};
        prod[i].ping.bh = aio_bh_new(s.ctx, ping_bh, &prod[i].ping);
        pthread_create(&th[i], NULL, producer_main, &prod[i]);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(th[i], NULL);
    }
    /* ">=", not "==": an item run twice must end the wait and fail the
     * count below, not keep us waiting for an equality that has passed. */
    WAIT_FOR(atomic_load(&s.runs) >= total, atomic_load(&s.runs),
             "lost wake-up: %ld of %ld BHs ran, then nothing for %.0f s",
             atomic_load(&s.runs), total, test_stall_sec());
    for (int i = 0; i < PRODUCERS; i++) {
        WAIT_FOR(!atomic_load(&prod[i].ping.pending),
                 atomic_load(&prod[i].ping.runs),
                 "lost wake-up: producer %d's ping BH never ran", i);
        CHECK_EQ_INT(atomic_load(&prod[i].ping.runs), prod[i].pings_sent);
        aio_bh_delete(prod[i].ping.bh);
    }
    aio_context_get_stats(s.ctx, &st);
    iothread_stop(t);

    /* Each item exactly once, each producer's items in order. */
    CHECK_EQ_INT(atomic_load(&s.runs), total);
    CHECK_EQ_INT(atomic_load(&s.bad_order), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        CHECK_EQ_INT(s.next_seq[i], s.per_producer);
    }
    /* Coalescing: at most one eventfd write per loop iteration. */
    CHECK(st.notify_writes <= st.iterations + 1);
    CHECK(st.bh_runs >= (uint64_t)total);
    if (poll_max_ns == 0) {
        CHECK_EQ_INT(st.poll_passes, 0);
    }
}

TEST_FDMON(stress_bh_polling)
{
    stress_run(fdmon, AIO_POLL_MAX_NS_DEFAULT);
}

TEST_FDMON(stress_bh_no_polling)
{
    stress_run(fdmon, 0);
}

/* ---- wake-ups of an idle loop ---- */

/*
 * One event at a time, each sent only once the previous one ran: every
 * one reaches a loop that is idle (busy-polling or asleep in the fd
 * monitor), which nothing but that event's own wake-up can rouse.  A
 * single lost wake-up leaves an event that never runs: the wait for it
 * fails, naming the kind and the round.
 */
typedef struct Waker {
    AioContext *ctx;
    AioBH *bh;
    AioTimer *timer;
    atomic_long ran;
} Waker;

static void waker_cb(void *opaque)
{
    atomic_fetch_add(&((Waker *)opaque)->ran, 1);
}

static void wake_oneshot(Waker *w)
{
    aio_bh_schedule_oneshot(w->ctx, waker_cb, w);
}

static void wake_bh(Waker *w)
{
    aio_bh_schedule(w->bh);
}

static void wake_timer(Waker *w)
{
    /* Due now: the loop must wake to see it. */
    aio_timer_mod(w->timer, aio_clock_now(AIO_CLOCK_MONOTONIC));
}

static const struct {
    const char *name;
    void (*send)(Waker *w);
} wake_kinds[] = {
    {"oneshot BH", wake_oneshot},
    {"reusable BH", wake_bh},
    {"timer armed from another thread", wake_timer},
};

static void idle_wakeups(AioFdmon fdmon, int64_t poll_max_ns)
{
    long rounds = test_quick() ? 200 : 1000;
    IOThreadOptions opts;
    IOThread *t;
    Waker w = {0};

    iothread_options_init(&opts);
    opts.fdmon = fdmon;
    opts.poll_max_ns = poll_max_ns;
    REQUIRE(iothread_start(&t, &opts) == 0);
    w.ctx = iothread_get_aio_context(t);
    w.bh = aio_bh_new(w.ctx, waker_cb, &w);
    w.timer = aio_timer_new(w.ctx, AIO_CLOCK_MONOTONIC, waker_cb, &w);
    REQUIRE(w.bh && w.timer);
    for (size_t k = 0; k < sizeof(wake_kinds) / sizeof(wake_kinds[0]); k++) {
        atomic_store(&w.ran, 0);
        for (long i = 0; i < rounds; i++) {
            wake_kinds[k].send(&w);
            if (!WAIT_FOR(atomic_load(&w.ran) > i, atomic_load(&w.ran),
                          "lost wake-up: %s %ld of %ld never ran",
                          wake_kinds[k].name, i + 1, rounds)) {
                goto out; /* the next kind would run this one late */
            }
        }
        CHECK_EQ_INT(atomic_load(&w.ran), rounds); /* and none twice */
    }
out:
    aio_timer_free(w.timer);
    aio_bh_delete(w.bh);
    iothread_stop(t);
}

TEST_FDMON(wakeups_of_idle_loop_polling)
{
    idle_wakeups(fdmon, AIO_POLL_MAX_NS_DEFAULT);
}

TEST_FDMON(wakeups_of_idle_loop_no_polling)
{
    idle_wakeups(fdmon, 0);
}

/* ---- IOThread life cycle ---- */

static void tid_fn(void *opaque)
{
    *(pid_t *)opaque = (pid_t)gettid();
}

TEST(iothread_churn)
{
    int n = test_quick() ? 100 : 1000;
    int threads0 = test_count_threads(), fds0 = test_count_fds();
    IOThreadOptions opts;

    iothread_options_init(&opts);
    opts.name = "churn";
    for (int i = 0; i < n; i++) {
        IOThread *t;
        pid_t tid = 0;

        opts.fdmon = (AioFdmon)(i % 4); /* auto, io_uring, epoll, poll */
        if (opts.fdmon == AIO_FDMON_IO_URING &&
            !test_fdmon_available(AIO_FDMON_IO_URING)) {
            opts.fdmon = AIO_FDMON_AUTO;
        }
        REQUIRE(iothread_start(&t, &opts) == 0);
        REQUIRE(iothread_run_sync(t, tid_fn, &tid) == 0);
        CHECK_EQ_INT(tid, iothread_get_tid(t));
        CHECK_EQ_INT(iothread_stop(t), 0);
    }
    /* Several at once, too. */
    for (int round = 0; round < n / 8; round++) {
        IOThread *t[8];

        for (int i = 0; i < 8; i++) {
            REQUIRE(iothread_start(&t[i], &opts) == 0);
        }
        for (int i = 0; i < 8; i++) {
            iothread_stop(t[i]);
        }
    }
    CHECK_EQ_INT(test_count_threads(), threads0);
    CHECK_EQ_INT(test_count_fds(), fds0);
}

TEST(iothread_name_tid_affinity)
{
    IOThreadOptions opts;
    IOThread *t;
    cpu_set_t one, got;
    char path[64], comm[32] = "";
    FILE *f;
    int cpu = -1;

    CHECK_EQ_INT(sched_getaffinity(0, sizeof(got), &got), 0);
    for (int i = 0; i < CPU_SETSIZE && cpu < 0; i++) {
        if (CPU_ISSET(i, &got)) {
            cpu = i;
        }
    }
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    iothread_options_init(&opts);
    opts.name = "a-name-longer-than-fifteen";
    opts.affinity = &one;
    REQUIRE(iothread_start(&t, &opts) == 0);
    CHECK_STR(iothread_get_name(t), "a-name-longer-t");
    snprintf(path, sizeof(path), "/proc/self/task/%d/comm",
             (int)iothread_get_tid(t));
    f = fopen(path, "r");
    REQUIRE(f);
    CHECK(fgets(comm, sizeof(comm), f) != NULL);
    fclose(f);
    CHECK_STR(comm, "a-name-longer-t\n");
    CHECK_EQ_INT(sched_getaffinity(iothread_get_tid(t), sizeof(got), &got),
                 0);
    CHECK(CPU_EQUAL(&got, &one));
    iothread_stop(t);

    /* Invalid options: an error and no thread left. */
    int threads0 = test_count_threads();

    opts.affinity = NULL;
    opts.poll_max_ns = -1;
    CHECK_EQ_INT(iothread_start(&t, &opts), -EINVAL);
    CHECK_EQ_INT(test_count_threads(), threads0);
}

typedef struct SelfStop {
    IOThread *t;
    int ret;
} SelfStop;

static void self_stop_fn(void *opaque)
{
    SelfStop *s = opaque;

    s->ret = iothread_stop(s->t);
}

TEST(iothread_stop_from_itself)
{
    IOThreadOptions opts;
    SelfStop s = {.ret = 1};

    iothread_options_init(&opts);
    REQUIRE(iothread_start(&s.t, &opts) == 0);
    REQUIRE(iothread_run_sync(s.t, self_stop_fn, &s) == 0);
    CHECK_EQ_INT(s.ret, -EDEADLK);
    CHECK_EQ_INT(iothread_stop(s.t), 0);
}

/* ---- thread pool ---- */

typedef struct PoolReq {
    AioContext *ctx;
    pthread_t home;
    int ret;
    int done;
    bool ran;
    bool on_home;
} PoolReq;

static int pool_work(void *arg)
{
    PoolReq *r = arg;

    r->ran = true;
    return 42;
}

static void pool_done(void *opaque, int ret)
{
    PoolReq *r = opaque;

    r->ret = ret;
    r->done++;
    r->on_home = pthread_equal(pthread_self(), r->home);
}

TEST_FDMON(pool_submit_one_and_many)
{
    AioContext *ctx;
    enum { N = 1000 };
    PoolReq *r = calloc(N, sizeof(*r));
    int done = 0;
    ThreadPoolStats ps;

    REQUIRE(r && aio_context_new(&ctx, fdmon) == 0);
    for (int i = 0; i < N; i++) {
        r[i].home = pthread_self();
        REQUIRE(aio_thread_pool_submit(ctx, pool_work, &r[i], pool_done,
                                       &r[i], NULL) == 0);
    }
    aio_thread_pool_get_stats(ctx, &ps);
    CHECK(ps.workers >= 1 && ps.workers <= AIO_THREAD_POOL_MAX_DEFAULT);
    while (done < N) {
        aio_poll(ctx, true);
        done = 0;
        for (int i = 0; i < N; i++) {
            done += r[i].done;
        }
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(r[i].done, 1);
        CHECK_EQ_INT(r[i].ret, 42);
        CHECK(r[i].ran && r[i].on_home);
    }
    aio_thread_pool_get_stats(ctx, &ps);
    CHECK_EQ_INT(ps.completed, N);
    CHECK_EQ_INT(ps.queued, 0);
    aio_context_free(ctx);
    free(r);
}

typedef struct Gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    bool entered;
} Gate;

static int gate_work(void *arg)
{
    Gate *g = arg;

    pthread_mutex_lock(&g->lock);
    g->entered = true;
    pthread_cond_broadcast(&g->cond);
    while (!g->open) {
        pthread_cond_wait(&g->cond, &g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    return 7;
}

TEST(pool_cancel_and_limits)
{
    AioContext *ctx;
    Gate g = {.lock = PTHREAD_MUTEX_INITIALIZER,
              .cond = PTHREAD_COND_INITIALIZER};
    PoolReq first = {.home = pthread_self()}, second = {.home = pthread_self()};
    ThreadPoolRequest *req1, *req2;
    int min, max;

    REQUIRE(aio_context_new(&ctx, AIO_FDMON_AUTO) == 0);
    /* Validation: nothing changes on error. */
    CHECK_EQ_INT(aio_thread_pool_set_limits(ctx, 2, 1), -EINVAL);
    CHECK_EQ_INT(aio_thread_pool_set_limits(ctx, 0, 0), -EINVAL);
    CHECK_EQ_INT(aio_thread_pool_set_limits(ctx, -1, 4), -EINVAL);
    aio_thread_pool_get_limits(ctx, &min, &max);
    CHECK_EQ_INT(min, AIO_THREAD_POOL_MIN_DEFAULT);
    CHECK_EQ_INT(max, AIO_THREAD_POOL_MAX_DEFAULT);
    CHECK_EQ_INT(aio_thread_pool_set_limits(ctx, 1, 1), 0);
    aio_thread_pool_get_limits(ctx, &min, &max);
    CHECK_EQ_INT(min, 1);
    CHECK_EQ_INT(max, 1);

    /* One worker, blocked: the second request waits and can be
     * cancelled; the running one cannot. */
    REQUIRE(aio_thread_pool_submit(ctx, gate_work, &g, pool_done, &first,
                                   &req1) == 0);
    pthread_mutex_lock(&g.lock);
    while (!g.entered) {
        pthread_cond_wait(&g.cond, &g.lock);
    }
    pthread_mutex_unlock(&g.lock);
    REQUIRE(aio_thread_pool_submit(ctx, pool_work, &second, pool_done,
                                   &second, &req2) == 0);
    CHECK(!aio_thread_pool_cancel(req1));
    CHECK(aio_thread_pool_cancel(req2));
    CHECK_EQ_INT(second.done, 0); /* asynchronously, not from cancel */
    while (!second.done) {
        aio_poll(ctx, true);
    }
    CHECK_EQ_INT(second.ret, -ECANCELED);
    CHECK(!second.ran);
    pthread_mutex_lock(&g.lock);
    g.open = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    while (!first.done) {
        aio_poll(ctx, true);
    }
    CHECK_EQ_INT(first.ret, 7);
    CHECK_EQ_INT(first.done, 1);
    CHECK_EQ_INT(second.done, 1);

    int threads0 = test_count_threads();

    aio_context_free(ctx); /* joins the worker */
    CHECK_EQ_INT(test_count_threads(), threads0 - 1);
}

/* ---- adaptive polling, on the counters ---- */

typedef struct Stream {
    AioContext *ctx;
    atomic_bool stop;
    atomic_long sent;
    atomic_long ran;
} Stream;

static void noop_bh(void *opaque)
{
}

static void stream_bh(void *opaque)
{
    Stream *s = opaque;

    atomic_fetch_add(&s->ran, 1);
}

/*
 * A steady stream that never floods the loop: each event is sent only
 * after the previous one ran, plus a short gap, so the loop is idle (and
 * may poll) between events however slow the machine.
 */
static void *stream_main(void *opaque)
{
    Stream *s = opaque;

    while (!atomic_load(&s->stop)) {
        long n = atomic_fetch_add(&s->sent, 1) + 1;

        aio_bh_schedule_oneshot(s->ctx, stream_bh, s);
        while (atomic_load(&s->ran) < n && !atomic_load(&s->stop)) {
            sched_yield();
        }
        for (volatile int i = 0; i < 200; i++) {
        }
    }
    return NULL;
}

TEST_FDMON(polling_adapts)
{
    IOThreadOptions opts;
    IOThread *t;
    Stream s = {0};
    pthread_t th;
    AioStats st;
    uint64_t max_window = 0;
    int64_t max_ns, grow, shrink;

    iothread_options_init(&opts);
    opts.fdmon = fdmon;
    /* A huge maximum: every wake-up counts as one polling would have
     * caught, however loaded the machine, so the window must grow. */
    opts.poll_max_ns = 1000LL * 1000 * 1000;
    REQUIRE(iothread_start(&t, &opts) == 0);
    s.ctx = iothread_get_aio_context(t);
    pthread_create(&th, NULL, stream_main, &s);
    st.poll_hits = 0;
    for (int i = 0; i < 20000 && (max_window == 0 || st.poll_hits == 0);
         i++) {
        aio_context_get_stats(s.ctx, &st);
        if (st.poll_ns > max_window) {
            max_window = st.poll_ns;
        }
        usleep(100);
    }
    atomic_store(&s.stop, true);
    pthread_join(th, NULL);
    aio_context_get_stats(s.ctx, &st);
    CHECK(max_window > 0);
    CHECK(st.poll_passes > 0);
    CHECK(st.poll_hits > 0);

    /* Idle now: a loop that blocks longer than poll-max-ns shrinks back
     * to 0 (poll-shrink 0 resets).  Lower the maximum below the idle gap
     * and wake the loop a few times, far apart. */
    aio_context_set_poll_params(s.ctx, 1000, 0, 0);
    aio_context_get_poll_params(s.ctx, &max_ns, &grow, &shrink);
    CHECK_EQ_INT(max_ns, 1000);
    CHECK_EQ_INT(grow, 0);
    CHECK_EQ_INT(shrink, 0);
    for (int i = 0; i < 2000; i++) {
        usleep(2000);
        aio_bh_schedule_oneshot(s.ctx, noop_bh, NULL);
        aio_context_get_stats(s.ctx, &st);
        if (st.poll_ns == 0) {
            break;
        }
    }
    CHECK_EQ_INT(st.poll_ns, 0);
    CHECK_EQ_INT(aio_context_set_poll_params(s.ctx, -1, 0, 0), -EINVAL);
    aio_context_get_poll_params(s.ctx, &max_ns, NULL, NULL);
    CHECK_EQ_INT(max_ns, 1000);

    /* poll-max-ns 0: no polling pass from then on. */
    aio_context_set_poll_params(s.ctx, 0, 0, 0);
    usleep(1000);
    aio_context_get_stats(s.ctx, &st);
    uint64_t passes = st.poll_passes;

    for (int i = 0; i < 200; i++) {
        aio_bh_schedule_oneshot(s.ctx, noop_bh, NULL);
        usleep(50);
    }
    aio_context_get_stats(s.ctx, &st);
    /* At most the one iteration that was already past its parameter
     * read when we changed it. */
    CHECK(st.poll_passes <= passes + 1);
    iothread_stop(t);
}

typedef struct Tuner {
    AioContext *ctx;
    atomic_bool stop;
    atomic_long rounds; /* rounds of changes made; the last is rounds - 1 */
} Tuner;

/* What round @i of the tuner sets. */
typedef struct Tuned {
    int64_t max_ns, grow, shrink, batch;
    int pool_min, pool_max;
} Tuned;

static Tuned tuned(int64_t i)
{
    return (Tuned){.max_ns = (i % 5) * 8000, .grow = i % 3, .shrink = i % 4,
                   .batch = i % 7, .pool_min = (int)(i % 2),
                   .pool_max = 2 + (int)(i % 3)};
}

static void *tuner_main(void *opaque)
{
    Tuner *tu = opaque;

    for (int64_t i = 0; !atomic_load(&tu->stop); i++) {
        Tuned v = tuned(i);

        aio_context_set_poll_params(tu->ctx, v.max_ns, v.grow, v.shrink);
        aio_context_set_aio_max_batch(tu->ctx, v.batch);
        aio_thread_pool_set_limits(tu->ctx, v.pool_min, v.pool_max);
        atomic_store(&tu->rounds, i + 1);
    }
    return NULL;
}

static void count_run_bh(void *opaque)
{
    atomic_fetch_add((atomic_long *)opaque, 1);
}

/*
 * Parameters changed from another thread while the loop runs: (under
 * TSan) no data race; every BH still runs exactly once, whether polling is
 * on or off at the time; and once the writer stops, the loop reads exactly
 * what it wrote last.
 */
TEST(params_change_from_other_thread_race_free)
{
    long n = test_quick() ? 2000 : 20000;
    IOThreadOptions opts;
    IOThread *t;
    Tuner tu = {0};
    atomic_long ran = 0;
    pthread_t th;
    int64_t max_ns, grow, shrink;
    int min, max;
    Tuned last;

    iothread_options_init(&opts);
    REQUIRE(iothread_start(&t, &opts) == 0);
    tu.ctx = iothread_get_aio_context(t);
    pthread_create(&th, NULL, tuner_main, &tu);
    /* Changes are under way before the first BH. */
    WAIT_FOR(atomic_load(&tu.rounds) > 0, atomic_load(&tu.rounds),
             "the tuner thread never finished a round");
    for (long i = 0; i < n; i++) {
        CHECK_EQ_INT(aio_bh_schedule_oneshot(tu.ctx, count_run_bh, &ran), 0);
    }
    WAIT_FOR(atomic_load(&ran) >= n, atomic_load(&ran),
             "lost wake-up: %ld of %ld BHs ran", atomic_load(&ran), n);
    atomic_store(&tu.stop, true);
    pthread_join(th, NULL);
    last = tuned(atomic_load(&tu.rounds) - 1);
    aio_context_get_poll_params(tu.ctx, &max_ns, &grow, &shrink);
    CHECK_EQ_INT(max_ns, last.max_ns);
    CHECK_EQ_INT(grow, last.grow);
    CHECK_EQ_INT(shrink, last.shrink);
    CHECK_EQ_INT(aio_context_get_aio_max_batch(tu.ctx), last.batch);
    aio_thread_pool_get_limits(tu.ctx, &min, &max);
    CHECK_EQ_INT(min, last.pool_min);
    CHECK_EQ_INT(max, last.pool_max);
    iothread_stop(t);
    CHECK_EQ_INT(atomic_load(&ran), n);
}

/* ---- fd monitors ---- */

TEST(fdmon_explicit_and_fallback)
{
    AioContext *ctx;
    AioFdmon kind;

    for (int k = AIO_FDMON_IO_URING; k <= AIO_FDMON_POLL; k++) {
        if (!test_fdmon_available((AioFdmon)k)) {
            continue;
        }
        REQUIRE(aio_context_new(&ctx, (AioFdmon)k) == 0);
        CHECK_EQ_INT(aio_context_fdmon(ctx), k);
        aio_context_free(ctx);
    }
    setenv("LIBIOTHREAD_DISABLE_IO_URING", "1", 1);
    CHECK(aio_context_new(&ctx, AIO_FDMON_IO_URING) < 0);
    REQUIRE(aio_context_new(&ctx, AIO_FDMON_AUTO) == 0);
    kind = aio_context_fdmon(ctx);
    CHECK(kind == AIO_FDMON_POLL || kind == AIO_FDMON_EPOLL);
    aio_context_free(ctx);
    unsetenv("LIBIOTHREAD_DISABLE_IO_URING");

    CHECK_EQ_INT(aio_fdmon_parse("epoll", &kind), 0);
    CHECK_EQ_INT(kind, AIO_FDMON_EPOLL);
    CHECK_STR(aio_fdmon_name(AIO_FDMON_IO_URING), "io_uring");
    CHECK_EQ_INT(aio_fdmon_parse("kqueue", &kind), -EINVAL);
    CHECK_EQ_INT(aio_fdmon_parse(NULL, &kind), -EINVAL);
}

typedef struct EnCount {
    EventNotifier e; /* first: the handler gets its address */
    int n;
} EnCount;

static void en_clear(EventNotifier *e)
{
    event_notifier_test_and_clear(e);
    ((EnCount *)e)->n++;
}

TEST(fdmon_poll_upgrades_to_epoll)
{
    enum { N = 100 };
    EnCount *en = calloc(N, sizeof(*en));
    AioContext *ctx;

    REQUIRE(en);
    setenv("LIBIOTHREAD_DISABLE_IO_URING", "1", 1);
    REQUIRE(aio_context_new(&ctx, AIO_FDMON_AUTO) == 0);
    unsetenv("LIBIOTHREAD_DISABLE_IO_URING");
    CHECK_EQ_INT(aio_context_fdmon(ctx), AIO_FDMON_POLL);
    for (int i = 0; i < N; i++) {
        REQUIRE(event_notifier_init(&en[i].e, false) == 0);
        REQUIRE(aio_set_event_notifier(ctx, &en[i].e, en_clear, NULL,
                                       NULL) == 0);
    }
    CHECK_EQ_INT(aio_context_fdmon(ctx), AIO_FDMON_EPOLL);
    for (int i = 0; i < N; i++) {
        event_notifier_set(&en[i].e);
    }
    for (int k = 0; k < 100 && aio_poll(ctx, false); k++) {
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(en[i].n, 1);
        aio_set_event_notifier(ctx, &en[i].e, NULL, NULL, NULL);
        event_notifier_cleanup(&en[i].e);
    }
    aio_context_free(ctx);
    free(en);
}
