/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The thread pool's completion path, where it used to differ from QEMU's:
 * a completion that nests aio_poll() to wait for a sibling delivered in
 * the same batch, fire-and-forget requests (NULL completion), exact
 * counting and ordering while nested polls run others' completions, and
 * freeing a context with fire-and-forget work queued, running, cancelled
 * and finished (no crash; no leak under the leak checker of
 * `make check-asan`).
 *
 * "Same batch" is made certain, not likely: the test waits (without
 * polling the context) until the pool counts the requests as finished, so
 * one run of the completion BH finds them all.  A hang (the old code's
 * failure) is reported by the harness's per-case watchdog.  Nothing here
 * asserts speed.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <iothread/aio.h>
#include <iothread/thread-pool.h>

#include "harness.h"

static bool quick(void)
{
    const char *q = getenv("IOTHREAD_TEST_QUICK");

    return q && *q && *q != '0';
}

/* Wait, without running @ctx, until @n requests have finished on the
 * workers (and so sit on the pool's list for one completion pass). */
static void wait_finished(AioContext *ctx, uint64_t n)
{
    ThreadPoolStats ps;

    for (;;) {
        aio_thread_pool_get_stats(ctx, &ps);
        if (ps.completed >= n) {
            return;
        }
        sched_yield();
    }
}

/*
 * Like REQUIRE, but on failure go to the case's cleanup, which frees the
 * context: that waits for running work and drops the rest, so that no
 * worker is left with a pointer into the returning case's frame.
 */
#define REQUIRE_OR(label, cond)                                                \
    do {                                                                       \
        if (!(cond)) {                                                         \
            test_fail(__FILE__, __LINE__, "required %s", #cond);               \
            goto label;                                                        \
        }                                                                      \
    } while (0)

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

/* ---- A completion that waits, in a nested aio_poll(), for others ---- */

enum { CHAIN = 4 };

typedef struct Chain {
    AioContext *ctx;
    pthread_t home;
    int done[CHAIN];    /* completions run, per request */
    int ret[CHAIN];
    int order[CHAIN];   /* request index, in the order completions began */
    int started;
    int waits_ok;       /* nested waits that saw their target complete */
} Chain;

typedef struct ChainReq {
    Chain *c;
    int i;
} ChainReq;

/* Request i waits, nested, for request i + 1, which finished in the same
 * batch: so a nested loop must run the rest of the batch. */
static void chain_done(void *opaque, int ret)
{
    ChainReq *r = opaque;
    Chain *c = r->c;

    c->order[c->started++] = r->i;
    CHECK(pthread_equal(pthread_self(), c->home));
    if (r->i + 1 < CHAIN) {
        while (!c->done[r->i + 1]) {
            aio_poll(c->ctx, true);
        }
        c->waits_ok++;
    }
    c->ret[r->i] = ret;
    c->done[r->i]++;
}

TEST_FDMON(nested_poll_in_completion_runs_sibling_of_same_batch)
{
    Chain c = {.home = pthread_self()};
    ChainReq r[CHAIN];

    REQUIRE(aio_context_new(&c.ctx, fdmon) == 0);
    /* One at a time, so that they finish, and are delivered, in order. */
    for (int i = 0; i < CHAIN; i++) {
        r[i] = (ChainReq){.c = &c, .i = i};
        REQUIRE_OR(out, aio_thread_pool_submit(c.ctx, return_arg,
                                               (void *)(intptr_t)(100 + i),
                                               chain_done, &r[i], NULL) == 0);
        wait_finished(c.ctx, (uint64_t)i + 1);
    }
    while (!c.done[0]) {
        aio_poll(c.ctx, true);
    }
    for (int i = 0; i < CHAIN; i++) {
        CHECK_EQ_INT(c.done[i], 1);
        CHECK_EQ_INT(c.ret[i], 100 + i);
        CHECK_EQ_INT(c.order[i], i);
    }
    CHECK_EQ_INT(c.started, CHAIN);
    CHECK_EQ_INT(c.waits_ok, CHAIN - 1);
    /* Nothing is delivered twice by a later pass. */
    while (aio_poll(c.ctx, false)) {
    }
    for (int i = 0; i < CHAIN; i++) {
        CHECK_EQ_INT(c.done[i], 1);
    }
out:
    aio_context_free(c.ctx);
}

/* ---- Fire and forget: a NULL completion ---- */

static int count_run(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

static void flag_done(void *opaque, int ret)
{
    *(int *)opaque += 1;
}

TEST_FDMON(null_completion_runs_function_and_is_skipped)
{
    enum { N = 64 };
    AioContext *ctx;
    atomic_int ran = 0;
    int sentinel = 0;
    ThreadPoolStats ps;

    REQUIRE(aio_context_new(&ctx, fdmon) == 0);
    for (int i = 0; i < N; i++) {
        REQUIRE_OR(out, aio_thread_pool_submit(ctx, count_run, &ran, NULL,
                                               NULL, NULL) == 0);
    }
    /* All finished before the sentinel is even submitted, so its
     * completion comes after theirs: once it has run, every NULL
     * completion has been passed (and its request freed). */
    wait_finished(ctx, N);
    REQUIRE_OR(out, aio_thread_pool_submit(ctx, return_arg, NULL, flag_done,
                                           &sentinel, NULL) == 0);
    while (!sentinel) {
        aio_poll(ctx, true);
    }
    CHECK_EQ_INT(atomic_load(&ran), N);
    CHECK_EQ_INT(sentinel, 1);
    aio_thread_pool_get_stats(ctx, &ps);
    CHECK_EQ_INT(ps.completed, N + 1);
    CHECK_EQ_INT(ps.queued, 0);
out:
    aio_context_free(ctx);
}

/* ---- Exact counting and ordering with nested polls ---- */

typedef struct Stress {
    AioContext *ctx;
    pthread_t home;
    int n;
    int submitted;
    bool *begun;     /* per request: its completion has begun */
    int *done;       /* per request: completions run */
    int *rets;
    int *order;      /* completions in the order they began */
    int started;     /* completions begun */
    int finished;    /* completions returned */
    int depth;       /* nested completion depth now */
    int max_depth;
    int nested;      /* completions that nested aio_poll() */
    atomic_int ran;  /* functions run, NULL completions included */
} Stress;

typedef struct StressReq {
    Stress *s;
    int i;
} StressReq;

/* Every fifth request is fire and forget; every seventh completion nests
 * aio_poll() until a later request with a completion has completed, and
 * every third polls once without blocking.  The wait is bounded in depth
 * (the stack stays small) and only for a request already submitted
 * whose completion has not begun: one that has begun is below us on the
 * stack, and waiting for it would deadlock the test, not the pool. */
static bool stress_fire_and_forget(int i)
{
    return i % 5 == 4;
}

static int stress_target(const Stress *s, int i)
{
    for (int j = i + 3; j < s->n; j++) {
        if (!stress_fire_and_forget(j)) {
            return j;
        }
    }
    return -1;
}

static int stress_work(void *arg)
{
    StressReq *r = arg;

    atomic_fetch_add(&r->s->ran, 1);
    return r->i;
}

static void stress_done(void *opaque, int ret)
{
    StressReq *r = opaque;
    Stress *s = r->s;
    int target = stress_target(s, r->i);

    CHECK(!stress_fire_and_forget(r->i));
    CHECK(pthread_equal(pthread_self(), s->home));
    s->begun[r->i] = true;
    s->order[s->started++] = r->i;
    if (++s->depth > s->max_depth) {
        s->max_depth = s->depth;
    }
    if (r->i % 7 == 0 && target >= 0 && target < s->submitted &&
        !s->begun[target] && s->depth <= 3) {
        s->nested++;
        while (!s->done[target]) {
            aio_poll(s->ctx, true);
        }
    } else if (r->i % 3 == 0) {
        aio_poll(s->ctx, false);
    }
    s->depth--;
    s->rets[r->i] = ret;
    s->done[r->i]++;
    s->finished++;
}

static void run_stress(AioFdmon fdmon, int max_workers, bool in_order)
{
    Stress s = {.home = pthread_self(), .n = quick() ? 500 : 5000};
    StressReq *r = calloc((size_t)s.n, sizeof(*r));
    int with_cb = 0;
    ThreadPoolStats ps;

    s.begun = calloc((size_t)s.n, sizeof(bool));
    s.done = calloc((size_t)s.n, sizeof(int));
    s.rets = calloc((size_t)s.n, sizeof(int));
    s.order = calloc((size_t)s.n, sizeof(int));
    REQUIRE_OR(out_mem, r && s.begun && s.done && s.rets && s.order);
    REQUIRE_OR(out_mem, aio_context_new(&s.ctx, fdmon) == 0);
    REQUIRE_OR(out, aio_thread_pool_set_limits(s.ctx, 0, max_workers) == 0);
    for (int i = 0; i < s.n; i++) {
        bool ff = stress_fire_and_forget(i);

        r[i] = (StressReq){.s = &s, .i = i};
        REQUIRE_OR(out, aio_thread_pool_submit(s.ctx, stress_work, &r[i],
                                               ff ? NULL : stress_done,
                                               &r[i], NULL) == 0);
        with_cb += !ff;
        s.submitted++;
        /* Now and then let completions run while work is queued. */
        if (i % 97 == 0) {
            aio_poll(s.ctx, false);
        }
    }
    /* Every completion has returned and every function has run (fire
     * and forget ones included, which no completion reports). */
    for (;;) {
        aio_thread_pool_get_stats(s.ctx, &ps);
        if (s.finished == with_cb && ps.completed == (uint64_t)s.n) {
            break;
        }
        aio_poll(s.ctx, true);
    }
    while (aio_poll(s.ctx, false)) {
    }
    CHECK_EQ_INT(atomic_load(&s.ran), s.n);
    CHECK_EQ_INT(s.started, with_cb);
    for (int i = 0; i < s.n; i++) {
        if (s.done[i] != (stress_fire_and_forget(i) ? 0 : 1)) {
            test_fail(__FILE__, __LINE__, "request %d completed %d times",
                      i, s.done[i]);
            break;
        }
        if (!stress_fire_and_forget(i) && s.rets[i] != i) {
            test_fail(__FILE__, __LINE__, "request %d got %d", i, s.rets[i]);
            break;
        }
    }
    /* One worker finishes them in submission order, and completions
     * begin in the order the work finished, nested or not. */
    for (int k = 1; in_order && k < s.started; k++) {
        if (s.order[k] <= s.order[k - 1]) {
            test_fail(__FILE__, __LINE__, "completion of %d began after %d",
                      s.order[k], s.order[k - 1]);
            break;
        }
    }
    CHECK(s.nested > 0);
    CHECK(s.max_depth >= 2); /* a nested poll did run others' completions */
    aio_thread_pool_get_stats(s.ctx, &ps);
    CHECK_EQ_INT(ps.completed, s.n);
    CHECK_EQ_INT(ps.queued, 0);
out:
    aio_context_free(s.ctx);
out_mem:
    free(s.begun);
    free(s.done);
    free(s.rets);
    free(s.order);
    free(r);
}

TEST_FDMON(count_exact_with_nested_polls_one_worker_in_order)
{
    run_stress(fdmon, 1, true);
}

TEST_FDMON(count_exact_with_nested_polls_many_workers)
{
    run_stress(fdmon, AIO_THREAD_POOL_MAX_DEFAULT, false);
}

/* ---- Freeing a context with fire-and-forget work in flight ---- */

/* Holds the pool's only worker: it enters, then waits for the gate to
 * open. */
typedef struct Gate {
    sem_t entered;
    sem_t open;
} Gate;

static int gate_work(void *arg)
{
    Gate *g = arg;

    sem_post(&g->entered);
    sem_wait(&g->open);
    return 0;
}

/* Limit @ctx's pool to one worker and hold it in a fire-and-forget
 * request, so that what is submitted next stays queued.  0 or -errno. */
static int hold_only_worker(AioContext *ctx, Gate *g)
{
    int ret;

    sem_init(&g->entered, 0, 0);
    sem_init(&g->open, 0, 0);
    ret = aio_thread_pool_set_limits(ctx, 1, 1);
    if (ret == 0) {
        ret = aio_thread_pool_submit(ctx, gate_work, g, NULL, NULL, NULL);
    }
    if (ret == 0) {
        sem_wait(&g->entered);
    }
    return ret;
}

static void gate_open(Gate *g)
{
    sem_post(&g->open);
}

/* Once the worker is gone (the context freed). */
static void gate_destroy(Gate *g)
{
    sem_destroy(&g->entered);
    sem_destroy(&g->open);
}

typedef struct Counted {
    atomic_int ran;   /* functions run */
    int completions;  /* completions run (home thread) */
} Counted;

static int counted_work(void *arg)
{
    atomic_fetch_add(&((Counted *)arg)->ran, 1);
    return 0;
}

static void counted_done(void *opaque, int ret)
{
    ((Counted *)opaque)->completions++;
}

/*
 * One worker, held in a fire-and-forget request; behind it fire-and-forget
 * requests queued, some of them cancelled (finished, -ECANCELED, their
 * NULL completion not yet passed), and some with a completion.  Then the
 * gate opens and the context is freed at once: the running request
 * finishes, the worker may take a few more, the rest never run, no
 * completion runs, and nothing leaks.
 */
TEST_FDMON(free_with_fire_and_forget_queued_running_and_cancelled)
{
    enum { N = 32 };
    Gate g;
    Counted ff = {0}, cb = {0};
    ThreadPoolRequest *reqs[N];
    AioContext *ctx;
    int cancelled = 0;

    REQUIRE(aio_context_new(&ctx, fdmon) == 0);
    REQUIRE_OR(out, hold_only_worker(ctx, &g) == 0);
    for (int i = 0; i < N; i++) {
        Counted *c = i % 4 == 3 ? &cb : &ff;

        REQUIRE_OR(out, aio_thread_pool_submit(
                            ctx, counted_work, c,
                            c == &cb ? counted_done : NULL, c,
                            &reqs[i]) == 0);
    }
    for (int i = 0; i < N; i += 2) {
        cancelled += aio_thread_pool_cancel(reqs[i]);
    }
    CHECK_EQ_INT(cancelled, N / 2); /* all were queued behind the gate */
out:
    gate_open(&g);
    aio_context_free(ctx);
    gate_destroy(&g);
    CHECK(atomic_load(&ff.ran) + atomic_load(&cb.ran) <= N - cancelled);
    CHECK_EQ_INT(cb.completions, 0);
}

/* The same after the work has finished but before its completions were
 * passed: the finished requests are dropped with the pool. */
TEST_FDMON(free_with_fire_and_forget_finished_not_yet_completed)
{
    enum { N = 16 };
    AioContext *ctx;
    Counted ff = {0};

    REQUIRE(aio_context_new(&ctx, fdmon) == 0);
    for (int i = 0; i < N; i++) {
        REQUIRE_OR(out, aio_thread_pool_submit(ctx, counted_work, &ff, NULL,
                                               NULL, NULL) == 0);
    }
    wait_finished(ctx, N);
    aio_context_free(ctx);
    CHECK_EQ_INT(atomic_load(&ff.ran), N);
    return;
out:
    aio_context_free(ctx);
}

/* A fire-and-forget request cancelled before it ran: its function never
 * runs and the skipped completion frees it. */
TEST(cancel_fire_and_forget_request)
{
    Gate g;
    Counted ff = {0};
    ThreadPoolRequest *req;
    AioContext *ctx;
    int sentinel = 0;

    REQUIRE(aio_context_new(&ctx, AIO_FDMON_AUTO) == 0);
    REQUIRE_OR(out, hold_only_worker(ctx, &g) == 0);
    REQUIRE_OR(out, aio_thread_pool_submit(ctx, counted_work, &ff, NULL,
                                           NULL, &req) == 0);
    CHECK(aio_thread_pool_cancel(req));
    gate_open(&g);
    REQUIRE_OR(out, aio_thread_pool_submit(ctx, return_arg, NULL, flag_done,
                                           &sentinel, NULL) == 0);
    while (!sentinel) {
        aio_poll(ctx, true);
    }
    CHECK_EQ_INT(atomic_load(&ff.ran), 0);
out:
    gate_open(&g);
    aio_context_free(ctx);
    gate_destroy(&g);
}
