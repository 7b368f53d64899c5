/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's test-aio behaviours, on every fd-monitor back-end: bottom halves,
 * event notifiers, fd handlers, timers and nested aio_poll().  Single
 * thread unless a case says otherwise; timing is only ever "not early"
 * and "eventually".
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <iothread/aio.h>
#include <iothread/event-notifier.h>
#include <iothread/timer.h>

#include "harness.h"

#define MS 1000000LL

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

static AioContext *new_ctx(AioFdmon fdmon)
{
    AioContext *ctx = NULL;
    int ret = aio_context_new(&ctx, fdmon);

    if (ret < 0) {
        test_fail(__FILE__, __LINE__, "aio_context_new: %d", ret);
        return NULL;
    }
    return ctx;
}

/* ---- bottom halves ---- */

TEST_FDMON(bh_schedule)
{
    AioContext *ctx = new_ctx(fdmon);
    Counter c = {0};

    REQUIRE(ctx);
    c.bh = aio_bh_new(ctx, count_bh, &c);
    CHECK(!aio_poll(ctx, false)); /* nothing to do is not progress */
    aio_bh_schedule(c.bh);
    CHECK_EQ_INT(c.n, 0);
    CHECK(aio_poll(ctx, true));
    CHECK_EQ_INT(c.n, 1);
    CHECK(!aio_poll(ctx, false));
    CHECK_EQ_INT(c.n, 1);
    aio_bh_delete(c.bh);
    aio_poll(ctx, false);
    aio_context_free(ctx);
}

TEST_FDMON(bh_schedule10)
{
    AioContext *ctx = new_ctx(fdmon);
    Counter c = {.max = 10};

    REQUIRE(ctx);
    c.bh = aio_bh_new(ctx, count_bh, &c);
    aio_bh_schedule(c.bh);
    /* A BH scheduled by a BH runs on the next pass: one run per call. */
    for (int i = 1; i <= 10; i++) {
        CHECK(aio_poll(ctx, i == 1 ? false : true));
        CHECK_EQ_INT(c.n, i);
    }
    CHECK(!aio_poll(ctx, false));
    CHECK_EQ_INT(c.n, 10);
    aio_bh_delete(c.bh);
    aio_poll(ctx, false);
    aio_context_free(ctx);
}

TEST_FDMON(bh_cancel)
{
    AioContext *ctx = new_ctx(fdmon);
    Counter c = {0};

    REQUIRE(ctx);
    c.bh = aio_bh_new(ctx, count_bh, &c);
    aio_bh_schedule(c.bh);
    aio_bh_cancel(c.bh);
    CHECK(!aio_poll(ctx, false));
    CHECK_EQ_INT(c.n, 0);
    /* Still usable after a cancel. */
    aio_bh_schedule(c.bh);
    CHECK(aio_poll(ctx, false));
    CHECK_EQ_INT(c.n, 1);
    aio_bh_delete(c.bh);
    aio_poll(ctx, false);
    aio_context_free(ctx);
}

TEST_FDMON(bh_delete_scheduled)
{
    AioContext *ctx = new_ctx(fdmon);
    Counter c = {0};

    REQUIRE(ctx);
    c.bh = aio_bh_new(ctx, count_bh, &c);
    aio_bh_schedule(c.bh);
    aio_bh_delete(c.bh);
    CHECK(!aio_poll(ctx, false));
    CHECK_EQ_INT(c.n, 0);
    aio_context_free(ctx);
}

typedef struct DeleteMany {
    AioBH *bh[5];
    int runs[5];
    int delete_from; /* bh[0] deletes bh[delete_from..4] */
} DeleteMany;

static DeleteMany *g_many;

static void many_bh(void *opaque)
{
    int i = (int)(intptr_t)opaque;

    g_many->runs[i]++;
    if (i == 0) {
        for (int j = g_many->delete_from; j < 5; j++) {
            aio_bh_delete(g_many->bh[j]);
            g_many->bh[j] = NULL;
        }
        /* and itself */
        aio_bh_delete(g_many->bh[0]);
        g_many->bh[0] = NULL;
    }
}

TEST_FDMON(bh_callback_delete_many)
{
    AioContext *ctx = new_ctx(fdmon);
    DeleteMany m = {.delete_from = 2};

    REQUIRE(ctx);
    g_many = &m;
    for (int i = 0; i < 5; i++) {
        m.bh[i] = aio_bh_new(ctx, many_bh, (void *)(intptr_t)i);
    }
    /* FIFO: 0 runs first, 1 was not deleted, 2..4 were. */
    for (int i = 0; i < 5; i++) {
        aio_bh_schedule(m.bh[i]);
    }
    CHECK(aio_poll(ctx, false));
    CHECK_EQ_INT(m.runs[0], 1);
    CHECK_EQ_INT(m.runs[1], 1);
    for (int i = 2; i < 5; i++) {
        CHECK_EQ_INT(m.runs[i], 0);
    }
    CHECK(!aio_poll(ctx, false));
    aio_bh_delete(m.bh[1]);
    aio_poll(ctx, false);
    aio_context_free(ctx);
}

static void delete_self_bh(void *opaque)
{
    Counter *c = opaque;

    c->n++;
    aio_bh_delete(c->bh);
}

TEST_FDMON(bh_callback_delete_one)
{
    AioContext *ctx = new_ctx(fdmon);
    Counter c = {0};

    REQUIRE(ctx);
    c.bh = aio_bh_new(ctx, delete_self_bh, &c);
    aio_bh_schedule(c.bh);
    CHECK(aio_poll(ctx, false));
    CHECK_EQ_INT(c.n, 1);
    CHECK(!aio_poll(ctx, false));
    aio_context_free(ctx);
}

static void oneshot_cb(void *opaque)
{
    (*(int *)opaque)++;
}

TEST_FDMON(bh_oneshot_and_flush)
{
    AioContext *ctx = new_ctx(fdmon);
    int n = 0, polls = 0;

    REQUIRE(ctx);
    for (int i = 0; i < 100; i++) {
        CHECK_EQ_INT(aio_bh_schedule_oneshot(ctx, oneshot_cb, &n), 0);
    }
    while (aio_poll(ctx, false)) {
        polls++;
        REQUIRE(polls < 10);
    }
    CHECK_EQ_INT(n, 100);
    /* Pending oneshots are freed by aio_context_free (ASan checks). */
    aio_bh_schedule_oneshot(ctx, oneshot_cb, &n);
    aio_context_free(ctx);
    CHECK_EQ_INT(n, 100);
}

TEST_FDMON(bh_idle)
{
    AioContext *ctx = new_ctx(fdmon);
    Counter c = {0};
    AioStats st;

    REQUIRE(ctx);
    c.bh = aio_bh_new(ctx, count_bh, &c);
    aio_bh_schedule_idle(c.bh);
    /* A blocking poll runs it after one wait with a timeout (nothing else
     * would end that wait: without a timeout the watchdog fails the
     * case), and it is not progress. */
    aio_context_get_stats(ctx, &st);
    CHECK_EQ_INT(st.blocking_waits, 0);
    CHECK(!aio_poll(ctx, true));
    CHECK_EQ_INT(c.n, 1);
    aio_context_get_stats(ctx, &st);
    CHECK_EQ_INT(st.blocking_waits, 1);
    CHECK_EQ_INT(st.bh_runs, 1);
    aio_bh_delete(c.bh);
    aio_poll(ctx, false);
    aio_context_free(ctx);
}

TEST_FDMON(notify_is_not_progress)
{
    AioContext *ctx = new_ctx(fdmon);

    REQUIRE(ctx);
    aio_notify(ctx);
    CHECK(!aio_poll(ctx, false));
    aio_notify(ctx);
    CHECK(!aio_poll(ctx, true)); /* returns: the wake-up was consumed */
    CHECK(!aio_poll(ctx, false));
    aio_context_free(ctx);
}

/*
 * Another thread that does @fn(@arg) once @ctx's home thread is blocked
 * (its blocking-waits counter moved: it has announced the wait and is in
 * it, or about to be), so only a working wake-up gets the loop going.
 */
typedef struct Later {
    AioContext *ctx;
    void (*fn)(void *arg);
    void *arg;
    pthread_t thread;
} Later;

static bool loop_blocked(AioContext *ctx, AioStats *st)
{
    aio_context_get_stats(ctx, st);
    return st->blocking_waits > 0;
}

static void *later_main(void *opaque)
{
    Later *l = opaque;
    AioStats st = {0};

    WAIT_FOR(loop_blocked(l->ctx, &st), (long long)st.iterations,
             "the loop never blocked");
    l->fn(l->arg);
    return NULL;
}

static void do_later(Later *l, AioContext *ctx, void (*fn)(void *), void *arg)
{
    *l = (Later){.ctx = ctx, .fn = fn, .arg = arg};
    pthread_create(&l->thread, NULL, later_main, l);
}

typedef struct CrossThread {
    AioContext *ctx;
    AioBH *bh;
    int n;
} CrossThread;

static void schedule_bh(void *opaque)
{
    aio_bh_schedule(opaque);
}

static void cross_bh(void *opaque)
{
    ((CrossThread *)opaque)->n++;
}

TEST_FDMON(bh_from_other_thread_wakes_loop)
{
    CrossThread x = {.ctx = new_ctx(fdmon)};
    Later l;

    REQUIRE(x.ctx);
    x.bh = aio_bh_new(x.ctx, cross_bh, &x);
    do_later(&l, x.ctx, schedule_bh, x.bh);
    while (x.n == 0) {
        aio_poll(x.ctx, true); /* must not hang: the watchdog says so */
    }
    pthread_join(l.thread, NULL);
    CHECK_EQ_INT(x.n, 1);
    aio_bh_delete(x.bh);
    aio_poll(x.ctx, false);
    aio_context_free(x.ctx);
}

/* ---- event notifiers ---- */

typedef struct ENData {
    EventNotifier e;
    int n;
    int active;       /* consume this many sets, re-set after each */
    bool auto_set;
} ENData;

static void en_read_cb(EventNotifier *e)
{
    ENData *d = (ENData *)e; /* e is the first member */

    event_notifier_test_and_clear(e);
    d->n++;
    if (d->active > 0 && --d->active > 0) {
        event_notifier_set(e);
    }
}

TEST_FDMON(event_add_remove)
{
    AioContext *ctx = new_ctx(fdmon);
    ENData d = {0};

    REQUIRE(ctx);
    REQUIRE(event_notifier_init(&d.e, false) == 0);
    CHECK_EQ_INT(aio_set_event_notifier(ctx, &d.e, en_read_cb, NULL, NULL),
                 0);
    CHECK(!aio_poll(ctx, false));
    CHECK_EQ_INT(d.n, 0);
    event_notifier_set(&d.e);
    CHECK(aio_poll(ctx, false));
    CHECK_EQ_INT(d.n, 1);
    CHECK_EQ_INT(aio_set_event_notifier(ctx, &d.e, NULL, NULL, NULL), 0);
    event_notifier_set(&d.e);
    CHECK(!aio_poll(ctx, false));
    CHECK_EQ_INT(d.n, 1);
    CHECK_EQ_INT(aio_set_event_notifier(ctx, &d.e, NULL, NULL, NULL),
                 -ENOENT);
    event_notifier_cleanup(&d.e);
    aio_context_free(ctx);
}

TEST_FDMON(event_flush)
{
    AioContext *ctx = new_ctx(fdmon);
    ENData d = {.active = 10};

    REQUIRE(ctx);
    REQUIRE(event_notifier_init(&d.e, false) == 0);
    aio_set_event_notifier(ctx, &d.e, en_read_cb, NULL, NULL);
    event_notifier_set(&d.e);
    for (int i = 0; i < 100 && aio_poll(ctx, false); i++) {
    }
    CHECK_EQ_INT(d.n, 10);
    CHECK_EQ_INT(d.active, 0);
    aio_set_event_notifier(ctx, &d.e, NULL, NULL, NULL);
    event_notifier_cleanup(&d.e);
    aio_context_free(ctx);
}

static void set_notifier(void *opaque)
{
    event_notifier_set(opaque);
}

TEST_FDMON(event_wait_from_other_thread)
{
    AioContext *ctx = new_ctx(fdmon);
    ENData d = {0};
    Later l;

    REQUIRE(ctx);
    REQUIRE(event_notifier_init(&d.e, false) == 0);
    aio_set_event_notifier(ctx, &d.e, en_read_cb, NULL, NULL);
    do_later(&l, ctx, set_notifier, &d.e);
    while (d.n == 0) {
        aio_poll(ctx, true);
    }
    pthread_join(l.thread, NULL);
    CHECK_EQ_INT(d.n, 1);
    aio_set_event_notifier(ctx, &d.e, NULL, NULL, NULL);
    event_notifier_cleanup(&d.e);
    aio_context_free(ctx);
}

/* ---- fd handlers ---- */

typedef struct Pipe {
    AioContext *ctx;
    int fd[2];
    int reads, writes;
    struct Pipe *other;     /* removed by this one's read handler */
    bool remove_self;
    bool change_to_write;
    bool drain;
} Pipe;

static void pipe_read(void *opaque);

static void pipe_write(void *opaque)
{
    Pipe *p = opaque;

    p->writes++;
    /* Stop watching for writability or it fires forever. */
    aio_set_fd_handler(p->ctx, p->fd[1], NULL, NULL, NULL, NULL, NULL);
}

static void pipe_read(void *opaque)
{
    Pipe *p = opaque;
    char buf[64];

    p->reads++;
    if (p->drain) {
        while (read(p->fd[0], buf, sizeof(buf)) > 0) {
        }
    }
    if (p->other) {
        aio_set_fd_handler(p->ctx, p->other->fd[0], NULL, NULL, NULL, NULL,
                           NULL);
        p->other = NULL;
    }
    if (p->remove_self) {
        aio_set_fd_handler(p->ctx, p->fd[0], NULL, NULL, NULL, NULL, NULL);
    }
    if (p->change_to_write) {
        p->change_to_write = false;
        aio_set_fd_handler(p->ctx, p->fd[1], NULL, pipe_write, NULL, NULL,
                           p);
    }
}

static void pipe_open(Pipe *p, AioContext *ctx)
{
    *p = (Pipe){.ctx = ctx, .drain = true};
    if (pipe2(p->fd, O_NONBLOCK | O_CLOEXEC) < 0) {
        test_fail(__FILE__, __LINE__, "pipe2 failed");
    }
}

static void pipe_close(Pipe *p)
{
    close(p->fd[0]);
    close(p->fd[1]);
}

TEST_FDMON(fd_read_write_and_change_from_callback)
{
    AioContext *ctx = new_ctx(fdmon);
    Pipe p;

    REQUIRE(ctx);
    pipe_open(&p, ctx);
    p.change_to_write = true;
    CHECK_EQ_INT(aio_set_fd_handler(ctx, p.fd[0], pipe_read, NULL, NULL,
                                    NULL, &p), 0);
    CHECK(!aio_poll(ctx, false));
    CHECK(write(p.fd[1], "x", 1) == 1);
    CHECK(aio_poll(ctx, true));
    CHECK_EQ_INT(p.reads, 1);
    /* The read handler registered a write handler on the other end. */
    CHECK(aio_poll(ctx, true));
    CHECK_EQ_INT(p.writes, 1);
    CHECK(!aio_poll(ctx, false));
    aio_set_fd_handler(ctx, p.fd[0], NULL, NULL, NULL, NULL, NULL);
    pipe_close(&p);
    aio_context_free(ctx);
}

TEST_FDMON(fd_level_triggered)
{
    AioContext *ctx = new_ctx(fdmon);
    Pipe p;

    REQUIRE(ctx);
    pipe_open(&p, ctx);
    p.drain = false; /* leaves the byte: the handler must run again */
    aio_set_fd_handler(ctx, p.fd[0], pipe_read, NULL, NULL, NULL, &p);
    CHECK(write(p.fd[1], "x", 1) == 1);
    for (int i = 1; i <= 3; i++) {
        CHECK(aio_poll(ctx, true));
        CHECK_EQ_INT(p.reads, i);
    }
    aio_set_fd_handler(ctx, p.fd[0], NULL, NULL, NULL, NULL, NULL);
    pipe_close(&p);
    aio_context_free(ctx);
}

TEST_FDMON(fd_remove_self_and_other_in_same_iteration)
{
    AioContext *ctx = new_ctx(fdmon);
    Pipe a, b;
    bool progress = false;

    REQUIRE(ctx);
    pipe_open(&a, ctx);
    pipe_open(&b, ctx);
    a.other = &b;
    a.remove_self = true;
    b.other = &a;
    b.remove_self = true;
    aio_set_fd_handler(ctx, a.fd[0], pipe_read, NULL, NULL, NULL, &a);
    aio_set_fd_handler(ctx, b.fd[0], pipe_read, NULL, NULL, NULL, &b);
    CHECK(write(a.fd[1], "x", 1) == 1);
    CHECK(write(b.fd[1], "x", 1) == 1);
    /* Both are ready; whichever runs first removes the other. */
    for (int i = 0; i < 10 && a.reads + b.reads == 0; i++) {
        progress |= aio_poll(ctx, true);
    }
    CHECK(progress);
    CHECK_EQ_INT(a.reads + b.reads, 1);
    CHECK(!aio_poll(ctx, false));
    CHECK_EQ_INT(a.reads + b.reads, 1);
    CHECK_EQ_INT(aio_set_fd_handler(ctx, a.fd[0], NULL, NULL, NULL, NULL,
                                    NULL), -ENOENT);
    pipe_close(&a);
    pipe_close(&b);
    aio_context_free(ctx);
}

static bool fake_poll(void *opaque)
{
    return false;
}

TEST_FDMON(fd_errors)
{
    AioContext *ctx = new_ctx(fdmon);
    Pipe p;

    REQUIRE(ctx);
    pipe_open(&p, ctx);
    CHECK_EQ_INT(aio_set_fd_handler(ctx, -1, pipe_read, NULL, NULL, NULL,
                                    &p), -EINVAL);
    CHECK_EQ_INT(aio_set_fd_handler(ctx, p.fd[0], NULL, NULL, NULL, NULL,
                                    NULL), -ENOENT);
    /* io_poll without io_poll_ready is a caller bug, refused. */
    CHECK_EQ_INT(aio_set_fd_handler(ctx, p.fd[0], pipe_read, NULL,
                                    fake_poll, NULL, &p), -EINVAL);
    CHECK_EQ_INT(aio_set_fd_handler(ctx, p.fd[0], NULL, NULL, NULL, NULL,
                                    NULL), -ENOENT);
    pipe_close(&p);
    aio_context_free(ctx);
}

TEST_FDMON(fd_many)
{
    enum { N = 200 };
    AioContext *ctx = new_ctx(fdmon);
    ENData *d = calloc(N, sizeof(*d));
    int total = 0;

    REQUIRE(ctx && d);
    for (int i = 0; i < N; i++) {
        REQUIRE(event_notifier_init(&d[i].e, false) == 0);
        REQUIRE(aio_set_event_notifier(ctx, &d[i].e, en_read_cb, NULL,
                                       NULL) == 0);
    }
    for (int i = 0; i < N; i += 3) {
        event_notifier_set(&d[i].e);
    }
    for (int k = 0; k < 100 && aio_poll(ctx, false); k++) {
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(d[i].n, i % 3 == 0);
        total += d[i].n;
    }
    CHECK_EQ_INT(total, (N + 2) / 3);
    /* A back-end chosen by name is kept past the poll(2) upgrade
     * threshold (AUTO's upgrade: fdmon_poll_upgrades_to_epoll in
     * test-threads.c). */
    CHECK_EQ_INT(aio_context_fdmon(ctx), fdmon);
    for (int i = 0; i < N; i++) {
        aio_set_event_notifier(ctx, &d[i].e, NULL, NULL, NULL);
        event_notifier_cleanup(&d[i].e);
    }
    free(d);
    aio_context_free(ctx);
}

/*
 * More fds become ready at once than any back-end queue holds (io_uring's
 * submission ring is 64): every handler runs once per event, never again
 * for data it has already read, and every fd is watched afterwards.
 */
TEST_FDMON(fd_burst_larger_than_queues)
{
    enum { N = 600 };
    AioContext *ctx = new_ctx(fdmon);
    ENData *d = calloc(N, sizeof(*d));
    int total;

    REQUIRE(ctx && d);
    for (int i = 0; i < N; i++) {
        REQUIRE(event_notifier_init(&d[i].e, false) == 0);
        REQUIRE(aio_set_event_notifier(ctx, &d[i].e, en_read_cb, NULL,
                                       NULL) == 0);
    }
    for (int round = 1; round <= 2; round++) {
        for (int i = 0; i < N; i++) {
            event_notifier_set(&d[i].e);
        }
        for (int k = 0; k < 100 && aio_poll(ctx, false); k++) {
        }
        total = 0;
        for (int i = 0; i < N; i++) {
            total += d[i].n == round;
        }
        CHECK_EQ_INT(total, N);
    }
    for (int i = 0; i < N; i++) {
        aio_set_event_notifier(ctx, &d[i].e, NULL, NULL, NULL);
        event_notifier_cleanup(&d[i].e);
    }
    free(d);
    aio_context_free(ctx);
}

/* ---- polling callbacks ---- */

typedef struct Pollable {
    EventNotifier e;
    int polls, ready, reads, begins, ends;
    bool pending;
} Pollable;

static bool pl_poll(void *opaque)
{
    Pollable *p = opaque; /* the EventNotifier, our first member */

    p->polls++;
    return p->pending;
}

static void pl_ready(EventNotifier *e)
{
    Pollable *p = (Pollable *)e;

    p->ready++;
    p->pending = false;
    event_notifier_test_and_clear(e);
}

static void pl_read(EventNotifier *e)
{
    Pollable *p = (Pollable *)e;

    p->reads++;
    p->pending = false;
    event_notifier_test_and_clear(e);
}

static void pl_begin(EventNotifier *e)
{
    Pollable *p = (Pollable *)e;

    p->begins++;
    CHECK(p->begins - p->ends == 1);
}

static void pl_end(EventNotifier *e)
{
    Pollable *p = (Pollable *)e;

    p->ends++;
    CHECK(p->begins == p->ends);
}

/* A source that, like a virtqueue, skips its fd while it is polled and
 * signals it otherwise. */
static void pl_produce(Pollable *p)
{
    p->pending = true;
    if (p->begins == p->ends) {
        event_notifier_set(&p->e);
    }
}

TEST_FDMON(poll_callbacks)
{
    AioContext *ctx = new_ctx(fdmon);
    Pollable p = {0};
    int polls;

    REQUIRE(ctx);
    REQUIRE(event_notifier_init(&p.e, false) == 0);
    aio_set_event_notifier(ctx, &p.e, pl_read, pl_poll, pl_ready);
    aio_set_event_notifier_poll(ctx, &p.e, pl_begin, pl_end);
    /* A window so long that any event counts as "would have been caught
     * by polling", whatever the machine's load: the window must grow. */
    aio_context_set_poll_params(ctx, 10LL * 1000 * 1000 * 1000, 0, 0);
    for (int i = 0; i < 200; i++) {
        pl_produce(&p);
        CHECK(aio_poll(ctx, true));
        CHECK(!p.pending);
    }
    CHECK_EQ_INT(p.reads + p.ready, 200);
    CHECK(p.polls > 0);
    CHECK(p.ready > 0);
    CHECK(p.begins - p.ends == 0 || p.begins - p.ends == 1);

    /* poll-max-ns 0: no polling pass at all, and polling is ended. */
    aio_context_set_poll_params(ctx, 0, 0, 0);
    aio_poll(ctx, false);
    CHECK_EQ_INT(p.begins, p.ends);
    polls = p.polls;
    for (int i = 0; i < 20; i++) {
        pl_produce(&p);
        CHECK(aio_poll(ctx, true));
    }
    CHECK_EQ_INT(p.reads + p.ready, 220);
    CHECK_EQ_INT(p.polls, polls); /* not even a final look */
    aio_set_event_notifier(ctx, &p.e, NULL, NULL, NULL);
    CHECK_EQ_INT(p.begins, p.ends);
    event_notifier_cleanup(&p.e);
    aio_context_free(ctx);
}

typedef struct Chain {
    AioBH *bh;
    int left;
} Chain;

/* Schedules itself again from the loop's own dispatch, as a coroutine
 * woken by a completion does. */
static void chain_bh(void *opaque)
{
    Chain *c = opaque;

    if (--c->left > 0) {
        aio_bh_schedule(c->bh);
    }
}

/*
 * The loop's own notifications (a BH scheduled during its dispatch sets
 * ctx->notified) are no event that polling waited for: an iteration that
 * starts with a BH pending neither polls nor blocks, so it must not grow
 * the window (before, each counted as an event 0 ns into a window of 0,
 * which grew it at once after every shrink, and the next wait polled in
 * vain).
 */
TEST_FDMON(own_bh_notifications_do_not_grow_the_polling_window)
{
    AioContext *ctx = new_ctx(fdmon);
    Chain c = {.left = 20};
    AioStats st;

    REQUIRE(ctx);
    aio_context_set_poll_params(ctx, 10LL * 1000 * 1000 * 1000, 0, 0);
    c.bh = aio_bh_new(ctx, chain_bh, &c);
    REQUIRE(c.bh);
    aio_poll(ctx, false); /* the wake-up that set_poll_params sent */
    aio_bh_schedule(c.bh);
    while (c.left > 0) {
        CHECK(aio_poll(ctx, true));
    }
    aio_context_get_stats(ctx, &st);
    CHECK_EQ_INT(st.poll_ns, 0);
    CHECK_EQ_INT(st.poll_passes, 0);
    aio_bh_delete(c.bh);
    aio_context_free(ctx);
}

/* ---- timers ---- */

typedef struct TimerData {
    AioTimer *t;
    AioClock clock; /* the timer's: deadlines and firing times on it */
    int64_t armed, deadline, fired_at;
    int n, max;
    int64_t period;
} TimerData;

static void timer_cb(void *opaque)
{
    TimerData *d = opaque;

    d->fired_at = aio_clock_now(d->clock);
    CHECK(d->deadline > 0);             /* armed by the case */
    CHECK(d->fired_at >= d->deadline);  /* never early */
    if (++d->n < d->max) {
        d->deadline = d->fired_at + d->period;
        aio_timer_mod(d->t, d->deadline);
    }
}

TEST_FDMON(timer_fires_once_never_early)
{
    AioContext *ctx = new_ctx(fdmon);
    TimerData d = {.max = 1};

    REQUIRE(ctx);
    d.t = aio_timer_new(ctx, AIO_CLOCK_MONOTONIC, timer_cb, &d);
    d.armed = aio_clock_now(AIO_CLOCK_MONOTONIC);
    d.deadline = d.armed + 5 * MS;
    CHECK_EQ_INT(aio_timer_mod(d.t, d.deadline), 0);
    CHECK(aio_timer_pending(d.t));
    CHECK_EQ_INT(aio_timer_expire_time(d.t), d.deadline);
    while (d.n == 0) {
        aio_poll(ctx, true);
    }
    CHECK_EQ_INT(d.n, 1);
    CHECK(!aio_timer_pending(d.t));
    CHECK(!aio_poll(ctx, false));
    CHECK_EQ_INT(d.n, 1);
    aio_timer_free(d.t);
    aio_context_free(ctx);
}

TEST_FDMON(timer_rearms_from_callback)
{
    AioContext *ctx = new_ctx(fdmon);
    TimerData d = {.max = 5, .period = 1 * MS};

    REQUIRE(ctx);
    d.t = aio_timer_new(ctx, AIO_CLOCK_MONOTONIC, timer_cb, &d);
    d.deadline = aio_clock_now(AIO_CLOCK_MONOTONIC) + MS;
    aio_timer_mod(d.t, d.deadline);
    while (d.n < 5) {
        aio_poll(ctx, true);
    }
    CHECK_EQ_INT(d.n, 5);
    CHECK(!aio_timer_pending(d.t));
    aio_timer_free(d.t);
    aio_context_free(ctx);
}

TEST_FDMON(timer_del_and_realtime)
{
    AioContext *ctx = new_ctx(fdmon);
    TimerData a = {.max = 1}, b = {.clock = AIO_CLOCK_REALTIME, .max = 1};

    REQUIRE(ctx);
    a.t = aio_timer_new(ctx, AIO_CLOCK_MONOTONIC, timer_cb, &a);
    b.t = aio_timer_new(ctx, AIO_CLOCK_REALTIME, timer_cb, &b);
    a.deadline = aio_clock_now(AIO_CLOCK_MONOTONIC) + MS;
    aio_timer_mod(a.t, a.deadline);
    aio_timer_del(a.t);
    CHECK(!aio_timer_pending(a.t));
    /* The realtime timer, on its own clock: due after a's deadline, so a
     * would have fired first had the delete not taken. */
    b.deadline = aio_clock_now(AIO_CLOCK_REALTIME) + 2 * MS;
    CHECK_EQ_INT(aio_timer_mod(b.t, b.deadline), 0);
    CHECK_EQ_INT(aio_timer_expire_time(b.t), b.deadline);
    while (b.n == 0) {
        aio_poll(ctx, true);
    }
    CHECK(aio_clock_now(AIO_CLOCK_MONOTONIC) > a.deadline);
    CHECK_EQ_INT(a.n, 0);
    CHECK_EQ_INT(b.n, 1);
    aio_timer_free(a.t);
    aio_timer_free(b.t);
    aio_context_free(ctx);
}

enum { NTIMERS = 500 };
static int order_seen[NTIMERS];
static int order_len;

static void order_cb(void *opaque)
{
    order_seen[order_len++] = (int)(intptr_t)opaque;
}

TEST_FDMON(timers_fire_in_deadline_order)
{
    AioContext *ctx = new_ctx(fdmon);
    AioTimer *t[NTIMERS];
    int64_t base = aio_clock_now(AIO_CLOCK_MONOTONIC) + 2 * MS;
    unsigned seed = 12345;

    REQUIRE(ctx);
    order_len = 0;
    /* deadline of timer i: a permutation of i, 10 us apart */
    for (int i = 0; i < NTIMERS; i++) {
        t[i] = aio_timer_new(ctx, AIO_CLOCK_MONOTONIC, order_cb,
                             (void *)(intptr_t)i);
    }
    int perm[NTIMERS];
    for (int i = 0; i < NTIMERS; i++) {
        perm[i] = i;
    }
    for (int i = NTIMERS - 1; i > 0; i--) {
        int j = (int)(rand_r(&seed) % (unsigned)(i + 1)), tmp = perm[i];

        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (int i = 0; i < NTIMERS; i++) {
        aio_timer_mod(t[perm[i]], base + perm[i] * 10000LL);
    }
    while (order_len < NTIMERS) {
        aio_poll(ctx, true);
    }
    for (int i = 0; i < NTIMERS; i++) {
        CHECK_EQ_INT(order_seen[i], i);
        aio_timer_free(t[i]);
    }
    aio_context_free(ctx);
}

/*
 * Arm, re-arm and delete timers in random order (every heap path: sift
 * up, sift down, removal from the middle), then fire: they run in the
 * order of their final deadlines, the deleted ones never.
 */
TEST_FDMON(timers_mod_del_keep_deadline_order)
{
    enum { N = 300, OPS = 3000 };
    AioContext *ctx = new_ctx(fdmon);
    AioTimer *t[N];
    int64_t deadline[N]; /* -1: not armed */
    int64_t base = aio_clock_now(AIO_CLOCK_MONOTONIC);
    unsigned seed = 4242;
    int armed = 0;

    REQUIRE(ctx);
    order_len = 0;
    for (int i = 0; i < N; i++) {
        t[i] = aio_timer_new(ctx, AIO_CLOCK_MONOTONIC, order_cb,
                             (void *)(intptr_t)i);
        deadline[i] = -1;
    }
    for (int op = 0; op < OPS; op++) {
        int i = (int)(rand_r(&seed) % N);

        if (rand_r(&seed) % 4 == 0) {
            aio_timer_del(t[i]);
            deadline[i] = -1;
        } else {
            /* Distinct deadlines (op is unique), all in the past: one
             * poll fires every armed timer, in heap order. */
            deadline[i] = base - 2000LL * OPS +
                          (int64_t)(rand_r(&seed) % 1000) * OPS + op;
            CHECK_EQ_INT(aio_timer_mod(t[i], deadline[i]), 0);
        }
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(aio_timer_expire_time(t[i]), deadline[i]);
        armed += deadline[i] >= 0;
    }
    CHECK(aio_poll(ctx, false));
    CHECK_EQ_INT(order_len, armed);
    for (int k = 1; k < order_len; k++) {
        int64_t prev = deadline[order_seen[k - 1]];
        int64_t cur = deadline[order_seen[k]];

        if (prev >= cur) {
            test_fail(__FILE__, __LINE__,
                      "timer %d (deadline %" PRId64 ") fired after timer %d "
                      "(deadline %" PRId64 ")", order_seen[k], cur,
                      order_seen[k - 1], prev);
            break;
        }
    }
    for (int i = 0; i < N; i++) {
        aio_timer_free(t[i]);
    }
    aio_context_free(ctx);
}

static void arm_in_1ms(void *opaque)
{
    TimerData *d = opaque;

    d->deadline = aio_clock_now(AIO_CLOCK_MONOTONIC) + MS;
    aio_timer_mod(d->t, d->deadline);
}

TEST_FDMON(timer_armed_from_other_thread_wakes_loop)
{
    AioContext *ctx = new_ctx(fdmon);
    TimerData d = {.max = 1}; /* deadline: set by arm_in_1ms() */
    Later l;

    REQUIRE(ctx);
    d.t = aio_timer_new(ctx, AIO_CLOCK_MONOTONIC, timer_cb, &d);
    do_later(&l, ctx, arm_in_1ms, &d);
    /* Blocks with no deadline until the other thread arms the timer. */
    while (d.n == 0) {
        aio_poll(ctx, true);
    }
    pthread_join(l.thread, NULL);
    CHECK_EQ_INT(d.n, 1);
    aio_timer_free(d.t);
    aio_context_free(ctx);
}

/* ---- nested aio_poll ---- */

/*
 * Two pipes, both readable, both handled by nest_read().  Whichever the
 * back-end dispatches first removes the other, then nests aio_poll()
 * calls from inside its own handler, re-arming itself each time.  The
 * other handler was on the same ready list but must never run, in the
 * outer iteration or in a nested one; nested polls still run BHs.
 */
typedef struct Nest {
    AioContext *ctx;
    Pipe p[2];
    int first;  /* index of the handler that ran first, -1 before */
    int depth, max_depth;
    int inner_bh_runs;
} Nest;

static Nest *g_nest;

static void nested_bh(void *opaque)
{
    g_nest->inner_bh_runs++;
}

static void nest_read(void *opaque)
{
    Nest *n = g_nest;
    int me = (int)(intptr_t)opaque;
    char c;

    n->p[me].reads++;
    while (read(n->p[me].fd[0], &c, 1) > 0) {
    }
    if (n->first < 0) {
        n->first = me;
        aio_set_fd_handler(n->ctx, n->p[!me].fd[0], NULL, NULL, NULL, NULL,
                           NULL);
    }
    CHECK_EQ_INT(me, n->first); /* the removed one never runs */
    n->depth++;
    if (n->depth < n->max_depth) {
        aio_bh_schedule_oneshot(n->ctx, nested_bh, NULL);
        CHECK(write(n->p[me].fd[1], "x", 1) == 1);
        while (aio_poll(n->ctx, false)) {
        }
    }
    if (n->depth == n->max_depth) {
        /* deleting the running handler inside nested polls is safe */
        aio_set_fd_handler(n->ctx, n->p[me].fd[0], NULL, NULL, NULL, NULL,
                           NULL);
    }
}

TEST_FDMON(nested_poll)
{
    Nest n = {.first = -1, .max_depth = 3};

    n.ctx = new_ctx(fdmon);
    REQUIRE(n.ctx);
    g_nest = &n;
    for (int i = 0; i < 2; i++) {
        pipe_open(&n.p[i], n.ctx);
        aio_set_fd_handler(n.ctx, n.p[i].fd[0], nest_read, NULL, NULL, NULL,
                           (void *)(intptr_t)i);
    }
    CHECK(write(n.p[0].fd[1], "x", 1) == 1);
    CHECK(write(n.p[1].fd[1], "x", 1) == 1);
    /* Both readable before the first wait: on one ready list. */
    CHECK(aio_poll(n.ctx, true));
    REQUIRE(n.first >= 0);
    CHECK_EQ_INT(n.depth, 3);
    CHECK_EQ_INT(n.inner_bh_runs, 2);
    CHECK_EQ_INT(n.p[n.first].reads, 3);
    CHECK_EQ_INT(n.p[!n.first].reads, 0);
    CHECK(!aio_poll(n.ctx, false));
    CHECK_EQ_INT(n.p[!n.first].reads, 0);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(aio_set_fd_handler(n.ctx, n.p[i].fd[0], NULL, NULL, NULL,
                                        NULL, NULL), -ENOENT);
        pipe_close(&n.p[i]);
    }
    aio_context_free(n.ctx);
}
