/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A GLib main loop drives an AioContext through a GSource built on the
 * embedding interface (aio_context_get_fd / prepare / check / dispatch /
 * leave): the behaviours of QEMU's /aio-gsource tests, on every
 * fd-monitor back-end (a poll(2) context moves to epoll when embedded).  GLib is linked by
 * this test only (mk/gsource.mk), never by the library.
 *
 * g_main_context_iteration() plays aio_poll()'s part: it returns whether
 * a source was dispatched.  Timing is only ever "not early"; wake-ups from
 * other threads are counted exactly, with no timer to rescue a lost one
 * (a hang is caught by the harness's watchdog, naming the case).
 */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <glib.h>

#include <iothread/aio.h>
#include <iothread/event-notifier.h>
#include <iothread/timer.h>

#include "harness.h"

#define MS 1000000LL

/* ---- the GSource: what a GLib program would write ---- */

typedef struct AioSource {
    GSource source;
    AioContext *ctx;
} AioSource;

static gboolean aio_source_prepare(GSource *source, gint *timeout)
{
    AioSource *s = (AioSource *)source;
    int64_t ns;
    bool ready = aio_context_prepare(s->ctx, &ns);

    if (ns < 0) {
        *timeout = -1;
    } else {
        /* Rounded up: rounding down would wake before the timer. */
        int64_t ms = (ns + MS - 1) / MS;

        *timeout = ms > INT_MAX ? INT_MAX : (gint)ms;
    }
    return ready;
}

static gboolean aio_source_check(GSource *source)
{
    return aio_context_check(((AioSource *)source)->ctx);
}

static gboolean aio_source_dispatch(GSource *source, GSourceFunc cb,
                                    gpointer data)
{
    aio_context_dispatch(((AioSource *)source)->ctx);
    return G_SOURCE_CONTINUE;
}

static void aio_source_finalize(GSource *source)
{
    aio_context_leave(((AioSource *)source)->ctx);
}

static GSourceFuncs aio_source_funcs = {
    .prepare = aio_source_prepare,
    .check = aio_source_check,
    .dispatch = aio_source_dispatch,
    .finalize = aio_source_finalize,
};

/* ---- fixture ---- */

typedef struct Fixture {
    AioContext *ctx;
    GMainContext *gctx;
    GSource *source;
} Fixture;

/* The context's source is attached to @gctx (a new GMainContext if NULL)
 * after whatever sources it holds. */
static bool setup_in(Fixture *f, AioFdmon fdmon, GMainContext *gctx)
{
    int fd, ret;

    memset(f, 0, sizeof(*f));
    ret = aio_context_new(&f->ctx, fdmon);
    if (ret < 0) {
        test_fail(__FILE__, __LINE__, "aio_context_new: %d", ret);
        return false;
    }
    fd = aio_context_get_fd(f->ctx);
    if (fd < 0) {
        test_fail(__FILE__, __LINE__, "aio_context_get_fd: %d", fd);
        aio_context_free(f->ctx);
        return false;
    }
    f->gctx = gctx ? g_main_context_ref(gctx) : g_main_context_new();
    f->source = g_source_new(&aio_source_funcs, sizeof(AioSource));
    ((AioSource *)f->source)->ctx = f->ctx;
    g_source_add_unix_fd(f->source, fd, G_IO_IN);
    /* As QEMU's source: not blocked while it dispatches, so callbacks may
     * iterate the main loop.  It also keeps GLib from removing and adding
     * its fd around each dispatch, which kicks GLib's own wake-up fd and
     * would make the next poll return at once, hiding a lost wake-up. */
    g_source_set_can_recurse(f->source, TRUE);
    g_source_attach(f->source, f->gctx);
    return true;
}

static bool setup(Fixture *f, AioFdmon fdmon)
{
    return setup_in(f, fdmon, NULL);
}

static void teardown(Fixture *f)
{
    g_source_destroy(f->source);
    g_source_unref(f->source);
    g_main_context_unref(f->gctx);
    aio_poll(f->ctx, false); /* frees deleted BHs */
    aio_context_free(f->ctx);
}

static bool iterate(Fixture *f, bool blocking)
{
    return g_main_context_iteration(f->gctx, blocking);
}

/* ---- bottom halves ---- */

typedef struct Counter {
    AioBH *bh;
    int n;
    int max; /* reschedule itself until n == max */
} Counter;

static void count_bh(void *opaque)
{
    Counter *c = opaque;

    if (++c->n < c->max) {
        aio_bh_schedule(c->bh);
    }
}

TEST_FDMON(gsource_bh_schedule)
{
    Counter c = {0};
    Fixture f;

    REQUIRE(setup(&f, fdmon));
    c.bh = aio_bh_new(f.ctx, count_bh, &c);
    CHECK(!iterate(&f, false));
    aio_bh_schedule(c.bh);
    CHECK_EQ_INT(c.n, 0);
    CHECK(iterate(&f, true));
    CHECK_EQ_INT(c.n, 1);
    CHECK(!iterate(&f, false));
    CHECK_EQ_INT(c.n, 1);
    aio_bh_delete(c.bh);
    teardown(&f);
}

TEST_FDMON(gsource_bh_scheduled_from_a_bh_runs_next_iteration)
{
    Counter c = {.max = 10};
    Fixture f;

    REQUIRE(setup(&f, fdmon));
    c.bh = aio_bh_new(f.ctx, count_bh, &c);
    aio_bh_schedule(c.bh);
    for (int i = 1; i <= 10; i++) {
        CHECK(iterate(&f, i > 1));
        CHECK_EQ_INT(c.n, i);
    }
    CHECK(!iterate(&f, false));
    CHECK_EQ_INT(c.n, 10);
    aio_bh_delete(c.bh);
    teardown(&f);
}

TEST_FDMON(gsource_bh_cancel_and_delete)
{
    Counter c = {0}, d = {0};
    Fixture f;

    REQUIRE(setup(&f, fdmon));
    c.bh = aio_bh_new(f.ctx, count_bh, &c);
    d.bh = aio_bh_new(f.ctx, count_bh, &d);
    aio_bh_schedule(c.bh);
    aio_bh_cancel(c.bh);
    aio_bh_schedule(d.bh);
    aio_bh_delete(d.bh);
    while (iterate(&f, false)) {
    }
    CHECK_EQ_INT(c.n, 0);
    CHECK_EQ_INT(d.n, 0);
    aio_bh_schedule(c.bh); /* still usable after a cancel */
    CHECK(iterate(&f, true));
    CHECK_EQ_INT(c.n, 1);
    aio_bh_delete(c.bh);
    teardown(&f);
}

/* Each BH deletes itself; the second also deletes the third before it
 * runs (QEMU's bh/callback-delete/many). */
typedef struct SelfDelete {
    AioBH *bh;
    struct SelfDelete *victim;
    int n;
} SelfDelete;

static void self_delete_bh(void *opaque)
{
    SelfDelete *s = opaque;

    s->n++;
    if (s->victim) {
        aio_bh_delete(s->victim->bh);
        s->victim->bh = NULL;
    }
    aio_bh_delete(s->bh);
    s->bh = NULL;
}

TEST_FDMON(gsource_bh_deleted_from_callbacks)
{
    SelfDelete s[3] = {{0}};
    Fixture f;

    REQUIRE(setup(&f, fdmon));
    for (int i = 0; i < 3; i++) {
        s[i].bh = aio_bh_new(f.ctx, self_delete_bh, &s[i]);
    }
    s[1].victim = &s[2];
    /* Scheduled in order 0, 1, 2 and run in that order. */
    for (int i = 0; i < 3; i++) {
        aio_bh_schedule(s[i].bh);
    }
    CHECK(iterate(&f, true));
    while (iterate(&f, false)) {
    }
    CHECK_EQ_INT(s[0].n, 1);
    CHECK_EQ_INT(s[1].n, 1);
    CHECK_EQ_INT(s[2].n, 0);
    teardown(&f);
}

static void oneshot_bh(void *opaque)
{
    (*(int *)opaque)++;
}

TEST_FDMON(gsource_bh_flush)
{
    int n = 0;
    Fixture f;

    REQUIRE(setup(&f, fdmon));
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(aio_bh_schedule_oneshot(f.ctx, oneshot_bh, &n), 0);
    }
    while (iterate(&f, false)) {
    }
    CHECK_EQ_INT(n, 3);
    CHECK(!iterate(&f, false));
    teardown(&f);
}

/* ---- event notifiers ---- */

typedef struct EN {
    EventNotifier e; /* first: the callback gets its address */
    atomic_int n;    /* written by the home thread */
} EN;

static void en_read(EventNotifier *e)
{
    EN *d = (EN *)e;

    event_notifier_test_and_clear(e);
    atomic_store(&d->n, atomic_load(&d->n) + 1);
}

TEST_FDMON(gsource_event_add_remove_wait_flush)
{
    EN d = {0};
    Fixture f;

    REQUIRE(setup(&f, fdmon));
    REQUIRE(event_notifier_init(&d.e, false) == 0);
    CHECK_EQ_INT(aio_set_event_notifier(f.ctx, &d.e, en_read, NULL, NULL), 0);
    CHECK(!iterate(&f, false)); /* not set: nothing */
    CHECK_EQ_INT(d.n, 0);

    event_notifier_set(&d.e);
    CHECK(iterate(&f, true)); /* wait */
    CHECK_EQ_INT(d.n, 1);
    CHECK(!iterate(&f, false));

    event_notifier_set(&d.e); /* flush */
    while (iterate(&f, false)) {
    }
    CHECK_EQ_INT(d.n, 2);

    /* Removed while set: never called again. */
    event_notifier_set(&d.e);
    CHECK_EQ_INT(aio_set_event_notifier(f.ctx, &d.e, NULL, NULL, NULL), 0);
    while (iterate(&f, false)) {
    }
    CHECK_EQ_INT(d.n, 2);
    event_notifier_cleanup(&d.e);
    teardown(&f);
}

/* ---- timers ---- */

typedef struct TimerData {
    AioTimer *t;
    int fired;
    int64_t fired_at;
} TimerData;

static void timer_cb(void *opaque)
{
    TimerData *d = opaque;

    d->fired++;
    d->fired_at = aio_clock_now(AIO_CLOCK_MONOTONIC);
}

TEST_FDMON(gsource_timer_fires_once_never_early)
{
    TimerData d = {0};
    int64_t deadline;
    Fixture f;

    REQUIRE(setup(&f, fdmon));
    d.t = aio_timer_new(f.ctx, AIO_CLOCK_MONOTONIC, timer_cb, &d);
    REQUIRE(d.t);
    for (int round = 0; round < 3; round++) {
        /* Not a multiple of GLib's millisecond. */
        deadline = aio_clock_now(AIO_CLOCK_MONOTONIC) + 7 * MS + 300000;
        d.fired = 0;
        aio_timer_mod(d.t, deadline);
        CHECK(!iterate(&f, false));
        while (!d.fired) {
            iterate(&f, true);
        }
        CHECK_EQ_INT(d.fired, 1);
        CHECK(d.fired_at >= deadline);
        CHECK(!iterate(&f, false));
        CHECK_EQ_INT(d.fired, 1);
    }
    aio_timer_free(d.t);
    teardown(&f);
}

/* ---- fd handlers changed while dispatching ---- */

typedef struct Fds {
    AioContext *ctx;
    int p[3][2]; /* pipes: 0 and 1 ready together, 2 added later */
    int calls[3];
} Fds;

static Fds *fds_of;

static void fd_read(void *opaque)
{
    int i = (int)(intptr_t)opaque;
    Fds *x = fds_of;
    char c;

    if (read(x->p[i][0], &c, 1) != 1) {
        test_fail(__FILE__, __LINE__, "handler %d called without data", i);
    }
    x->calls[i]++;
    if (i < 2) {
        /* Whichever of 0 and 1 runs first removes the other (ready in the
         * same iteration) and adds 2 (ready already). */
        aio_set_fd_handler(x->ctx, x->p[1 - i][0], NULL, NULL, NULL, NULL,
                           NULL);
        aio_set_fd_handler(x->ctx, x->p[2][0], fd_read, NULL, NULL, NULL,
                           (void *)(intptr_t)2);
    }
}

TEST_FDMON(gsource_fd_handlers_added_and_removed_while_dispatching)
{
    Fds x = {0};
    Fixture f;

    REQUIRE(setup(&f, fdmon));
    x.ctx = f.ctx;
    fds_of = &x;
    for (int i = 0; i < 3; i++) {
        REQUIRE(pipe(x.p[i]) == 0);
        REQUIRE(write(x.p[i][1], "x", 1) == 1);
    }
    aio_set_fd_handler(f.ctx, x.p[0][0], fd_read, NULL, NULL, NULL,
                       (void *)(intptr_t)0);
    aio_set_fd_handler(f.ctx, x.p[1][0], fd_read, NULL, NULL, NULL,
                       (void *)(intptr_t)1);
    for (int i = 0; i < 10 && !x.calls[2]; i++) {
        iterate(&f, true);
    }
    CHECK_EQ_INT(x.calls[0] + x.calls[1], 1);
    CHECK_EQ_INT(x.calls[2], 1);
    CHECK(!iterate(&f, false));
    for (int i = 0; i < 3; i++) {
        int fd = x.p[i][0];

        if (i == 2 || x.calls[i]) {
            CHECK_EQ_INT(aio_set_fd_handler(f.ctx, fd, NULL, NULL, NULL,
                                            NULL, NULL),
                         0);
        }
        close(x.p[i][0]);
        close(x.p[i][1]);
    }
    teardown(&f);
}

/* A GLib source of the same priority, dispatched between the context's
 * check and its dispatch, removes a handler that check found ready. */
static gboolean remove_handler_idle(gpointer opaque)
{
    Fds *x = opaque;

    aio_set_fd_handler(x->ctx, x->p[0][0], NULL, NULL, NULL, NULL, NULL);
    x->calls[1]++; /* the idle's own count */
    return G_SOURCE_REMOVE;
}

TEST_FDMON(gsource_fd_handler_removed_by_another_source_is_not_run)
{
    Fds x = {0};
    GSource *idle;
    Fixture f;

    GMainContext *gctx = g_main_context_new();

    /* The idle must come first in the dispatch order: attached first. */
    idle = g_idle_source_new();
    g_source_set_priority(idle, G_PRIORITY_DEFAULT);
    g_source_set_callback(idle, remove_handler_idle, &x, NULL);
    g_source_attach(idle, gctx);
    if (!setup_in(&f, fdmon, gctx)) {
        g_source_destroy(idle);
        g_source_unref(idle);
        g_main_context_unref(gctx);
        return;
    }
    g_main_context_unref(gctx);
    x.ctx = f.ctx;
    fds_of = &x;
    REQUIRE(pipe(x.p[0]) == 0);
    REQUIRE(write(x.p[0][1], "x", 1) == 1);
    aio_set_fd_handler(f.ctx, x.p[0][0], fd_read, NULL, NULL, NULL,
                       (void *)(intptr_t)0);
    CHECK(iterate(&f, true));
    CHECK_EQ_INT(x.calls[1], 1); /* the idle ran */
    CHECK_EQ_INT(x.calls[0], 0); /* the handler it removed did not */
    CHECK(!iterate(&f, false));
    CHECK_EQ_INT(x.calls[0], 0);
    close(x.p[0][0]);
    close(x.p[0][1]);
    g_source_unref(idle);
    teardown(&f);
}

/* ---- nested aio_poll() from a callback ---- */

typedef struct Nested {
    AioContext *ctx;
    AioBH *inner;
    int inner_ran, outer_ran;
} Nested;

static void inner_bh(void *opaque)
{
    ((Nested *)opaque)->inner_ran++;
}

static void outer_bh(void *opaque)
{
    Nested *n = opaque;

    aio_bh_schedule(n->inner);
    while (!n->inner_ran) {
        aio_poll(n->ctx, true);
    }
    n->outer_ran++;
}

TEST_FDMON(gsource_nested_aio_poll_in_a_callback)
{
    Nested n = {0};
    AioBH *outer;
    Fixture f;

    REQUIRE(setup(&f, fdmon));
    n.ctx = f.ctx;
    n.inner = aio_bh_new(f.ctx, inner_bh, &n);
    outer = aio_bh_new(f.ctx, outer_bh, &n);
    aio_bh_schedule(outer);
    CHECK(iterate(&f, true));
    CHECK_EQ_INT(n.outer_ran, 1);
    CHECK_EQ_INT(n.inner_ran, 1);
    CHECK(!iterate(&f, false));
    aio_bh_delete(outer);
    aio_bh_delete(n.inner);
    teardown(&f);
}

/* The same with the GLib loop iterated from a callback: the context's
 * prepare / check / dispatch nest, as aio_poll() would. */
typedef struct NestedLoop {
    Fixture *f;
    AioBH *inner;
    int inner_ran, outer_ran;
} NestedLoop;

static void loop_inner_bh(void *opaque)
{
    ((NestedLoop *)opaque)->inner_ran++;
}

static void loop_outer_bh(void *opaque)
{
    NestedLoop *n = opaque;

    aio_bh_schedule(n->inner);
    while (!n->inner_ran) {
        iterate(n->f, true);
    }
    n->outer_ran++;
}

TEST_FDMON(gsource_nested_main_loop_iteration_in_a_callback)
{
    NestedLoop n = {0};
    AioBH *outer;
    Fixture f;

    REQUIRE(setup(&f, fdmon));
    n.f = &f;
    n.inner = aio_bh_new(f.ctx, loop_inner_bh, &n);
    outer = aio_bh_new(f.ctx, loop_outer_bh, &n);
    aio_bh_schedule(outer);
    CHECK(iterate(&f, true));
    CHECK_EQ_INT(n.outer_ran, 1);
    CHECK_EQ_INT(n.inner_ran, 1);
    CHECK(!iterate(&f, false));
    aio_bh_delete(outer);
    aio_bh_delete(n.inner);
    teardown(&f);
}

/* ---- wake-ups from other threads: g_main_loop_run() blocked in poll ---- */

typedef struct Cross {
    Fixture *f;
    GMainLoop *loop;
    AioBH *bh;
    AioTimer *timer;
    EN en;
    int rounds;
    atomic_int ran; /* written by the home thread */
} Cross;

static int cross_rounds(void)
{
    return getenv("IOTHREAD_TEST_QUICK") ? 300 : 3000;
}

static void cross_ran(Cross *x)
{
    int n = atomic_load(&x->ran) + 1;

    atomic_store(&x->ran, n);
    if (n == x->rounds) {
        g_main_loop_quit(x->loop);
    }
}

static void cross_bh(void *opaque)
{
    cross_ran(opaque);
}

static void cross_timer(void *opaque)
{
    cross_ran(opaque);
}

static void cross_en(EventNotifier *e)
{
    Cross *x = (Cross *)((char *)e - offsetof(Cross, en.e));

    event_notifier_test_and_clear(e);
    cross_ran(x);
}

/* Round i starts once round i - 1 has run, so each one has to wake the
 * loop by itself; every 8th waits a little, to find it asleep in poll. */
static void wait_round(Cross *x, int i)
{
    while (atomic_load(&x->ran) != i) {
        sched_yield();
    }
    if (i % 8 == 0) {
        usleep(50);
    }
}

static void *bh_producer(void *opaque)
{
    Cross *x = opaque;

    for (int i = 0; i < x->rounds; i++) {
        wait_round(x, i);
        aio_bh_schedule(x->bh);
    }
    return NULL;
}

static void *oneshot_producer(void *opaque)
{
    Cross *x = opaque;

    for (int i = 0; i < x->rounds; i++) {
        wait_round(x, i);
        if (aio_bh_schedule_oneshot(x->f->ctx, cross_bh, x) < 0) {
            test_fail(__FILE__, __LINE__, "aio_bh_schedule_oneshot");
        }
    }
    return NULL;
}

static void *timer_producer(void *opaque)
{
    Cross *x = opaque;

    for (int i = 0; i < x->rounds; i++) {
        wait_round(x, i);
        aio_timer_mod_in(x->timer, 0); /* due now: only the wake-up tells */
    }
    return NULL;
}

static void *en_producer(void *opaque)
{
    Cross *x = opaque;

    for (int i = 0; i < x->rounds; i++) {
        wait_round(x, i);
        event_notifier_set(&x->en.e);
    }
    return NULL;
}

static void run_cross(AioFdmon fdmon, void *(*producer)(void *))
{
    Cross x = {.rounds = cross_rounds()};
    pthread_t t;
    Fixture f;

    REQUIRE(setup(&f, fdmon));
    x.f = &f;
    x.loop = g_main_loop_new(f.gctx, FALSE);
    x.bh = aio_bh_new(f.ctx, cross_bh, &x);
    x.timer = aio_timer_new(f.ctx, AIO_CLOCK_MONOTONIC, cross_timer, &x);
    REQUIRE(event_notifier_init(&x.en.e, false) == 0);
    aio_set_event_notifier(f.ctx, &x.en.e, cross_en, NULL, NULL);
    pthread_create(&t, NULL, producer, &x);
    g_main_loop_run(x.loop); /* a lost wake-up hangs here */
    pthread_join(t, NULL);
    CHECK_EQ_INT(atomic_load(&x.ran), x.rounds);
    /* Nothing left over, nothing run twice. */
    while (iterate(&f, false)) {
    }
    CHECK_EQ_INT(atomic_load(&x.ran), x.rounds);
    aio_set_event_notifier(f.ctx, &x.en.e, NULL, NULL, NULL);
    event_notifier_cleanup(&x.en.e);
    aio_timer_free(x.timer);
    aio_bh_delete(x.bh);
    g_main_loop_unref(x.loop);
    teardown(&f);
}

TEST_FDMON(gsource_bh_from_another_thread_wakes_the_main_loop)
{
    run_cross(fdmon, bh_producer);
}

TEST_FDMON(gsource_oneshot_bh_from_another_thread_wakes_the_main_loop)
{
    run_cross(fdmon, oneshot_producer);
}

TEST_FDMON(gsource_timer_armed_from_another_thread_wakes_the_main_loop)
{
    run_cross(fdmon, timer_producer);
}

TEST_FDMON(gsource_event_notifier_set_from_another_thread_wakes_the_loop)
{
    run_cross(fdmon, en_producer);
}
