/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Churn and think-time: IOThreads created and stopped by the thousand
 * while other iothreads stay busy with bottom halves, timers and fds; and
 * a mixed workload in which handlers do real work between events, where
 * a lost wake-up shows as work posted that never runs.
 * Nothing here asserts speed (how late events run is measured by
 * bench/think.c in `make bench`): every kind of event is counted where it
 * is posted and where it runs, and the two counts must meet.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iothread/aio.h>
#include <iothread/event-notifier.h>
#include <iothread/iothread.h>
#include <iothread/timer.h>

#include "harness.h"

#define US 1000LL
#define MS 1000000LL

/* ---- the background load ---- */

typedef struct Load {
    IOThread *bh_thread, *timer_thread, *fd_a, *fd_b;
    atomic_bool stop;
    atomic_long bh_sent, bh_ran;
    atomic_long timer_fired;
    atomic_long tokens; /* passes of the token between fd_a and fd_b */
    AioTimer *timer;
    EventNotifier to_a, to_b;
    pthread_t producer;
} Load;

static void load_bh(void *opaque)
{
    atomic_fetch_add(&((Load *)opaque)->bh_ran, 1);
}

static void *load_producer(void *opaque)
{
    Load *l = opaque;

    while (!atomic_load(&l->stop)) {
        if (aio_bh_schedule_oneshot(iothread_get_aio_context(l->bh_thread),
                                    load_bh, l) == 0) {
            atomic_fetch_add(&l->bh_sent, 1);
        }
        if (atomic_load(&l->bh_sent) - atomic_load(&l->bh_ran) > 1000) {
            usleep(100);
        }
    }
    return NULL;
}

static void load_timer(void *opaque)
{
    Load *l = opaque;

    atomic_fetch_add(&l->timer_fired, 1);
    aio_timer_mod_in(l->timer, 100 * US);
}

static Load *g_load;

static void token_to_a(EventNotifier *e)
{
    event_notifier_test_and_clear(e);
    atomic_fetch_add(&g_load->tokens, 1);
    event_notifier_set(&g_load->to_b);
}

static void token_to_b(EventNotifier *e)
{
    event_notifier_test_and_clear(e);
    atomic_fetch_add(&g_load->tokens, 1);
    if (!atomic_load(&g_load->stop)) {
        event_notifier_set(&g_load->to_a);
    }
}

static void setup_timer(void *opaque)
{
    Load *l = opaque;

    l->timer = aio_timer_new(iothread_get_aio_context(l->timer_thread),
                             AIO_CLOCK_MONOTONIC, load_timer, l);
    aio_timer_mod_in(l->timer, 100 * US);
}

static void setup_a(void *opaque)
{
    Load *l = opaque;

    aio_set_event_notifier(iothread_get_aio_context(l->fd_a), &l->to_a,
                           token_to_a, NULL, NULL);
}

static void setup_b(void *opaque)
{
    Load *l = opaque;

    aio_set_event_notifier(iothread_get_aio_context(l->fd_b), &l->to_b,
                           token_to_b, NULL, NULL);
}

static void teardown_timer(void *opaque)
{
    aio_timer_free(((Load *)opaque)->timer);
}

static void teardown_a(void *opaque)
{
    Load *l = opaque;

    aio_set_event_notifier(iothread_get_aio_context(l->fd_a), &l->to_a,
                           NULL, NULL, NULL);
}

static void teardown_b(void *opaque)
{
    Load *l = opaque;

    aio_set_event_notifier(iothread_get_aio_context(l->fd_b), &l->to_b,
                           NULL, NULL, NULL);
}

static int load_start(Load *l)
{
    IOThreadOptions o;

    iothread_options_init(&o);
    g_load = l;
    if (iothread_start(&l->bh_thread, &o) || iothread_start(&l->timer_thread, &o) ||
        iothread_start(&l->fd_a, &o) || iothread_start(&l->fd_b, &o) ||
        event_notifier_init(&l->to_a, false) ||
        event_notifier_init(&l->to_b, false)) {
        return -1;
    }
    iothread_run_sync(l->timer_thread, setup_timer, l);
    iothread_run_sync(l->fd_a, setup_a, l);
    iothread_run_sync(l->fd_b, setup_b, l);
    event_notifier_set(&l->to_a);
    pthread_create(&l->producer, NULL, load_producer, l);
    return 0;
}

static void load_stop(Load *l)
{
    atomic_store(&l->stop, true);
    pthread_join(l->producer, NULL);
    iothread_run_sync(l->timer_thread, teardown_timer, l);
    iothread_run_sync(l->fd_a, teardown_a, l);
    iothread_run_sync(l->fd_b, teardown_b, l);
    /* every scheduled BH runs before the stop request */
    iothread_stop(l->bh_thread);
    iothread_stop(l->timer_thread);
    iothread_stop(l->fd_a);
    iothread_stop(l->fd_b);
    event_notifier_cleanup(&l->to_a);
    event_notifier_cleanup(&l->to_b);
}

TEST(churn_10000_iothreads_under_load)
{
    int n = test_quick() ? 1000 : 10000;
    int threads0 = test_count_threads();
    int fds0 = test_count_fds();
    long bh0, timers0, tokens0;
    Load l = {0};
    IOThreadOptions o;

    REQUIRE(load_start(&l) == 0);
    iothread_options_init(&o);
    o.name = "churn";
    /* Every part of the load is going before the churn starts. */
    WAIT_FOR(atomic_load(&l.bh_ran) > 0 && atomic_load(&l.timer_fired) > 0 &&
                 atomic_load(&l.tokens) > 0,
             atomic_load(&l.bh_ran) + atomic_load(&l.timer_fired) +
                 atomic_load(&l.tokens),
             "the background load did not start");
    bh0 = atomic_load(&l.bh_ran);
    timers0 = atomic_load(&l.timer_fired);
    tokens0 = atomic_load(&l.tokens);
    for (int i = 0; i < n; i++) {
        IOThread *t;

        o.fdmon = (AioFdmon)(i % 4);
        if (o.fdmon == AIO_FDMON_IO_URING &&
            !test_fdmon_available(AIO_FDMON_IO_URING)) {
            o.fdmon = AIO_FDMON_EPOLL;
        }
        o.poll_max_ns = i % 2 ? 0 : AIO_POLL_MAX_NS_DEFAULT;
        REQUIRE(iothread_start(&t, &o) == 0);
        REQUIRE(iothread_stop(t) == 0);
    }
    /* The load kept running all along. */
    CHECK(atomic_load(&l.bh_ran) > bh0);
    CHECK(atomic_load(&l.timer_fired) > timers0);
    CHECK(atomic_load(&l.tokens) > tokens0);
    load_stop(&l);
    CHECK_EQ_INT(atomic_load(&l.bh_ran), atomic_load(&l.bh_sent));
    CHECK_EQ_INT(test_count_threads(), threads0);
    CHECK_EQ_INT(test_count_fds(), fds0);
}

/* ---- think time ---- */

/*
 * One IOThread whose handlers do real work between events, fed by two
 * poster threads with BHs, now and then an fd event and a one-shot timer.
 * No periodic timer keeps the loop awake: between two bursts it sleeps,
 * and only the wake-up of the last post of a burst gets it going again.
 * Each poster waits for its burst to have run before the next one, so a
 * lost wake-up leaves work posted that never runs, and the main thread
 * reports it, per kind, once nothing has moved for test_stall_sec().
 */
typedef struct Think {
    EventNotifier fd_event;     /* first: its handler gets its address */
    AioContext *ctx;
    IOThread *thread;
    AioTimer *timer;
    /* Posted on the posters' side, ran on the loop's. */
    atomic_long bh_posted, bh_ran;
    atomic_long fd_sets, fd_runs;
    atomic_long timer_arms, timer_runs;
    /* An fd event set / a timer armed that the loop has not handled yet:
     * the next one waits for it, so each is counted once. */
    atomic_bool fd_pending, timer_pending;
    atomic_bool give_up; /* the main thread saw a stall: posters leave */
    /* Write-locked by a poster for a solo burst, read-locked for the
     * others: during a solo burst the other poster does not post, so it
     * cannot wake the loop for a wake-up lost on the way. */
    pthread_rwlock_t solo;
} Think;

typedef struct Poster {
    Think *t;
    long posts;
    atomic_long ran; /* of this poster's BHs */
} Poster;

static void busy(int64_t ns)
{
    int64_t end = aio_clock_now(AIO_CLOCK_MONOTONIC) + ns;

    while (aio_clock_now(AIO_CLOCK_MONOTONIC) < end) {
    }
}

static __thread int nest_depth;

static void post_bh(void *opaque)
{
    Poster *ps = opaque;
    Think *t = ps->t;
    long n = atomic_fetch_add(&t->bh_ran, 1);

    atomic_fetch_add(&ps->ran, 1);
    /* Real work between events, and now and then a nested poll, as a
     * drain does: not from inside another one (nested polls run every
     * pending BH, so BHs that all nest again under a steady flood would
     * recurse without end). */
    if (n % 97 == 0 && nest_depth == 0) {
        nest_depth++;
        aio_poll(t->ctx, false);
        nest_depth--;
    } else if (n % 1000 == 0) {
        busy(200 * US);
    } else {
        busy(1 * US);
    }
}

static void think_timer(void *opaque)
{
    Think *t = opaque;

    atomic_fetch_add(&t->timer_runs, 1);
    atomic_store(&t->timer_pending, false);
    busy(20 * US);
}

static void think_fd(EventNotifier *e)
{
    Think *t = (Think *)e;

    /* Clear first, then take: a set that races with us re-arms the fd. */
    event_notifier_test_and_clear(e);
    if (atomic_exchange(&t->fd_pending, false)) {
        atomic_fetch_add(&t->fd_runs, 1);
        busy(50 * US);
    }
}

static void think_setup(void *opaque)
{
    Think *t = opaque;

    aio_set_event_notifier(t->ctx, &t->fd_event, think_fd, NULL, NULL);
    t->timer = aio_timer_new(t->ctx, AIO_CLOCK_MONOTONIC, think_timer, t);
}

static void think_teardown(void *opaque)
{
    Think *t = opaque;

    aio_set_event_notifier(t->ctx, &t->fd_event, NULL, NULL, NULL);
    aio_timer_free(t->timer);
}

static void post_one(Poster *ps)
{
    Think *t = ps->t;

    atomic_fetch_add(&t->bh_posted, 1);
    while (aio_bh_schedule_oneshot(t->ctx, post_bh, ps) < 0) {
        usleep(10);
    }
}

/* Now and then an fd event or a short timer, if the last one was taken:
 * they wake the loop on paths of their own (the fd monitor, a deadline). */
static void post_other_kinds(Think *t, long i)
{
    bool taken = false; /* the pending flag's value we expect */

    if (i % 16 == 0 && atomic_compare_exchange_strong(&t->fd_pending,
                                                      &taken, true)) {
        atomic_fetch_add(&t->fd_sets, 1);
        event_notifier_set(&t->fd_event);
    }
    taken = false;
    if (i % 64 == 32 && atomic_compare_exchange_strong(&t->timer_pending,
                                                       &taken, true)) {
        atomic_fetch_add(&t->timer_arms, 1);
        aio_timer_mod_in(t->timer, 50 * US);
    }
}

/* Wait until all of @ps's posts so far ran (or the main thread gave up). */
static void wait_own_posts(Poster *ps, long posted)
{
    while (atomic_load(&ps->ran) < posted && !atomic_load(&ps->t->give_up)) {
        usleep(20); /* sleep, not spin: 2 cores, 3 threads */
    }
}

static void *poster_main(void *opaque)
{
    Poster *ps = opaque;
    Think *t = ps->t;
    unsigned seed = (unsigned)(uintptr_t)ps;
    long i = 0;

    for (long bursts = 0; i < ps->posts && !atomic_load(&t->give_up);
         bursts++) {
        /* A burst of 1..32 posts mixed with other kinds, then one more
         * post once they all ran: that one goes to an idle loop (polling
         * or asleep), which only its own wake-up can rouse. */
        long burst = 1 + rand_r(&seed) % 32;

        if (bursts % 2) {
            pthread_rwlock_wrlock(&t->solo);
        } else {
            pthread_rwlock_rdlock(&t->solo);
        }
        for (long b = 0; b < burst && i < ps->posts - 1; b++, i++) {
            post_one(ps);
            post_other_kinds(t, i);
        }
        wait_own_posts(ps, i);
        /* Nor a pending fd event or timer, which would wake it too. */
        while ((atomic_load(&t->fd_pending) ||
                atomic_load(&t->timer_pending)) &&
               !atomic_load(&t->give_up)) {
            usleep(20);
        }
        post_one(ps);
        i++;
        wait_own_posts(ps, i);
        pthread_rwlock_unlock(&t->solo);
    }
    return NULL;
}

static long think_progress(Think *t)
{
    return atomic_load(&t->bh_posted) + atomic_load(&t->bh_ran) +
           atomic_load(&t->fd_runs) + atomic_load(&t->timer_runs);
}

static bool think_all_ran(Think *t, long expected)
{
    return atomic_load(&t->bh_ran) >= expected &&
           atomic_load(&t->fd_runs) >= atomic_load(&t->fd_sets) &&
           atomic_load(&t->timer_runs) >= atomic_load(&t->timer_arms);
}

TEST_FDMON(think_time_no_event_waits_forever)
{
    enum { POSTERS = 2 };
    long posts = test_quick() ? 20000 : 200000;
    IOThreadOptions o;
    Think t = {.solo = PTHREAD_RWLOCK_INITIALIZER};
    Poster ps[POSTERS];
    pthread_t th[POSTERS];
    long expected = posts * POSTERS;

    REQUIRE(event_notifier_init(&t.fd_event, false) == 0);
    iothread_options_init(&o);
    o.fdmon = fdmon;
    REQUIRE(iothread_start(&t.thread, &o) == 0);
    t.ctx = iothread_get_aio_context(t.thread);
    iothread_run_sync(t.thread, think_setup, &t);
    for (int i = 0; i < POSTERS; i++) {
        ps[i] = (Poster){.t = &t, .posts = posts};
        pthread_create(&th[i], NULL, poster_main, &ps[i]);
    }
    if (!WAIT_FOR(think_all_ran(&t, expected), think_progress(&t),
                  "lost wake-up: nothing ran for %.0f s with work pending: "
                  "BHs %ld posted / %ld ran, fd events %ld set / %ld ran, "
                  "timers %ld armed / %ld ran",
                  test_stall_sec(), atomic_load(&t.bh_posted),
                  atomic_load(&t.bh_ran), atomic_load(&t.fd_sets),
                  atomic_load(&t.fd_runs), atomic_load(&t.timer_arms),
                  atomic_load(&t.timer_runs))) {
        atomic_store(&t.give_up, true);
    }
    for (int i = 0; i < POSTERS; i++) {
        pthread_join(th[i], NULL);
    }
    iothread_run_sync(t.thread, think_teardown, &t);
    iothread_stop(t.thread);
    event_notifier_cleanup(&t.fd_event);
    pthread_rwlock_destroy(&t.solo);
    /* Each kind: exactly what was posted ran, nothing twice. */
    CHECK_EQ_INT(atomic_load(&t.bh_posted), expected);
    CHECK_EQ_INT(atomic_load(&t.bh_ran), atomic_load(&t.bh_posted));
    for (int i = 0; i < POSTERS; i++) {
        CHECK_EQ_INT(atomic_load(&ps[i].ran), posts);
    }
    CHECK_EQ_INT(atomic_load(&t.fd_runs), atomic_load(&t.fd_sets));
    CHECK_EQ_INT(atomic_load(&t.timer_runs), atomic_load(&t.timer_arms));
    /* The other kinds were part of the mix. */
    CHECK(atomic_load(&t.fd_sets) > 0);
    CHECK(atomic_load(&t.timer_arms) > 0);
}
