/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Coroutines: enter / yield order, nesting, waking from other threads onto
 * the home thread (with the wake-before-yield race and a cross-thread
 * stress), the stack pool and its bound, the guard page, sleep, fd waits,
 * CoMutex and CoQueue ordering, running a function on another iothread,
 * moving a coroutine, and what freeing a context with live coroutines
 * does.  Orders and counts are asserted, never durations; sizes shrink
 * under IOTHREAD_TEST_QUICK (TSan).
 */
#include <alloca.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iothread/aio.h>
#include <iothread/coroutine.h>
#include <iothread/iothread.h>
#include <iothread/thread-pool.h>
#include <iothread/timer.h>

#include "harness.h"

static bool quick(void)
{
    const char *q = getenv("IOTHREAD_TEST_QUICK");

    return q && *q && *q != '0';
}

/* Wait until @cond holds, sleeping; the harness watchdog ends a hang
 * with the name of the case. */
#define WAIT_UNTIL(cond)                                                       \
    do {                                                                       \
        while (!(cond)) {                                                      \
            usleep(200);                                                       \
        }                                                                      \
    } while (0)

static AioContext *new_ctx(void)
{
    AioContext *ctx = NULL;

    if (aio_context_new(&ctx, AIO_FDMON_AUTO) < 0) {
        return NULL;
    }
    return ctx;
}

/* Run @ctx's loop until @cond holds (home thread). */
#define POLL_UNTIL(ctx, cond)                                                  \
    do {                                                                       \
        while (!(cond)) {                                                      \
            aio_poll((ctx), true);                                             \
        }                                                                      \
    } while (0)

static IOThread *start_iothread(const char *name)
{
    IOThreadOptions opts;
    IOThread *t = NULL;

    iothread_options_init(&opts);
    opts.name = name;
    if (iothread_start(&t, &opts) < 0) {
        return NULL;
    }
    return t;
}

/* ---- enter / yield ---- */

typedef struct Trace {
    char buf[64];
    int len;
} Trace;

static void trace(Trace *t, char c)
{
    if (t->len < (int)sizeof(t->buf) - 1) {
        t->buf[t->len++] = c;
        t->buf[t->len] = '\0';
    }
}

static void yield_twice(void *opaque)
{
    Trace *t = opaque;

    trace(t, 'a');
    qemu_coroutine_yield();
    trace(t, 'b');
    qemu_coroutine_yield();
    trace(t, 'c');
}

TEST(enter_yield_reenter_runs_each_part_in_order)
{
    AioContext *ctx = new_ctx();
    Trace t = {0};
    Coroutine *co;

    REQUIRE(ctx);
    co = aio_co_create(ctx, yield_twice, &t, 0);
    REQUIRE(co);
    CHECK(!qemu_in_coroutine());
    CHECK_EQ_INT(aio_co_count(ctx), 1);
    trace(&t, '1');
    qemu_coroutine_enter(co);
    trace(&t, '2');
    qemu_coroutine_enter(co);
    trace(&t, '3');
    qemu_coroutine_enter(co); /* runs to the end: freed */
    trace(&t, '4');
    CHECK_STR(t.buf, "1a2b3c4");
    CHECK_EQ_INT(aio_co_count(ctx), 0);
    CHECK(qemu_coroutine_self() == NULL);
    aio_context_free(ctx);
}

typedef struct Many {
    int id;
    int steps;
    int *log;
    int *log_len;
} Many;

static void many_body(void *opaque)
{
    Many *m = opaque;

    for (int i = 0; i < 3; i++) {
        m->log[(*m->log_len)++] = m->id;
        m->steps++;
        qemu_coroutine_yield();
    }
    m->steps++;
}

TEST(many_coroutines_interleave_round_robin)
{
    enum { N = 500 };
    AioContext *ctx = new_ctx();
    static Many m[N];
    static Coroutine *co[N];
    static int log[3 * N];
    int log_len = 0, bad = 0;

    REQUIRE(ctx);
    for (int i = 0; i < N; i++) {
        m[i] = (Many){.id = i, .log = log, .log_len = &log_len};
        co[i] = aio_co_create(ctx, many_body, &m[i], 0);
        REQUIRE(co[i]);
    }
    CHECK_EQ_INT(aio_co_count(ctx), N);
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            qemu_coroutine_enter(co[i]);
        }
    }
    for (int i = 0; i < 3 * N; i++) {
        bad += log[i] != i % N;
    }
    for (int i = 0; i < N; i++) {
        bad += m[i].steps != 4;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(log_len, 3 * N);
    CHECK_EQ_INT(aio_co_count(ctx), 0);
    aio_context_free(ctx);
}

typedef struct Nest {
    AioContext *ctx;
    Trace t;
    Coroutine *outer, *inner;
    bool self_ok;
} Nest;

static void nest_inner(void *opaque)
{
    Nest *n = opaque;

    n->self_ok &= qemu_coroutine_self() == n->inner;
    trace(&n->t, 'i');
    qemu_coroutine_yield(); /* back to the outer coroutine */
    n->self_ok &= qemu_coroutine_self() == n->inner;
    trace(&n->t, 'j');
}

static void nest_outer(void *opaque)
{
    Nest *n = opaque;

    n->self_ok &= qemu_coroutine_self() == n->outer;
    trace(&n->t, 'o');
    n->inner = aio_co_create(n->ctx, nest_inner, n, 0);
    if (!n->inner) {
        return;
    }
    qemu_coroutine_enter(n->inner);
    n->self_ok &= qemu_coroutine_self() == n->outer;
    trace(&n->t, 'p');
    qemu_coroutine_yield(); /* back to the test */
    trace(&n->t, 'q');
    qemu_coroutine_enter(n->inner); /* inner ends */
    n->self_ok &= qemu_coroutine_self() == n->outer;
    trace(&n->t, 'r');
}

TEST(nested_enter_returns_to_the_entering_coroutine)
{
    Nest n = {.ctx = new_ctx(), .self_ok = true};

    REQUIRE(n.ctx);
    n.outer = aio_co_create(n.ctx, nest_outer, &n, 0);
    REQUIRE(n.outer);
    qemu_coroutine_enter(n.outer);
    trace(&n.t, '-');
    CHECK_EQ_INT(aio_co_count(n.ctx), 2);
    qemu_coroutine_enter(n.outer);
    CHECK_STR(n.t.buf, "oip-qjr");
    CHECK(n.self_ok);
    CHECK(qemu_coroutine_self() == NULL);
    CHECK_EQ_INT(aio_co_count(n.ctx), 0);
    aio_context_free(n.ctx);
}

static void noop_body(void *opaque)
{
    (void)opaque;
}

TEST(create_rejects_bad_arguments_and_takes_custom_stack_sizes)
{
    AioContext *ctx = new_ctx();
    Trace t = {0};
    Coroutine *co;
    int ran = 0;

    REQUIRE(ctx);
    errno = 0;
    CHECK(aio_co_create(ctx, noop_body, NULL, 100) == NULL);
    CHECK_EQ_INT(errno, EINVAL);
    errno = 0;
    CHECK(aio_co_create(ctx, noop_body, NULL,
                        (size_t)AIO_CO_STACK_SIZE_MAX + 1) == NULL);
    CHECK_EQ_INT(errno, EINVAL);
    errno = 0;
    CHECK(aio_co_create(NULL, noop_body, NULL, 0) == NULL);
    CHECK_EQ_INT(errno, EINVAL);
    errno = 0;
    CHECK(aio_co_create(ctx, NULL, NULL, 0) == NULL);
    CHECK_EQ_INT(errno, EINVAL);
    CHECK_EQ_INT(aio_co_count(ctx), 0);

    co = aio_co_create(ctx, yield_twice, &t, AIO_CO_STACK_SIZE_MIN);
    REQUIRE(co);
    for (int i = 0; i < 3; i++) {
        qemu_coroutine_enter(co);
        ran++;
    }
    CHECK_EQ_INT(ran, 3);
    CHECK_STR(t.buf, "abc");
    CHECK_EQ_INT(aio_co_count(ctx), 0);
    aio_context_free(ctx);
}

/* ---- waking from other threads ---- */

typedef struct Remote {
    pid_t home_tid;
    atomic_int phase;      /* coroutine progress */
    atomic_int wrong_thread;
    _Atomic(Coroutine *) co;
} Remote;

static void remote_body(void *opaque)
{
    Remote *r = opaque;

    for (int i = 1; i <= 3; i++) {
        if (gettid() != r->home_tid) {
            atomic_fetch_add(&r->wrong_thread, 1);
        }
        atomic_store(&r->co, qemu_coroutine_self());
        atomic_store(&r->phase, i);
        if (i < 3) {
            qemu_coroutine_yield();
        }
    }
}

TEST(wake_from_another_thread_resumes_on_the_home_thread)
{
    IOThread *io = start_iothread("co-home");
    AioContext *ctx;
    Remote r = {0};
    Coroutine *co;

    REQUIRE(io);
    ctx = iothread_get_aio_context(io);
    r.home_tid = iothread_get_tid(io);
    co = aio_co_create(ctx, remote_body, &r, 0); /* created on this thread */
    REQUIRE(co);
    CHECK(aio_co_get_context(co) == ctx);
    aio_co_wake(co); /* not the home thread: goes through the BH */
    WAIT_UNTIL(atomic_load(&r.phase) == 1);
    for (int i = 2; i <= 3; i++) {
        /* phase is stored right before the yield: the wake may well
         * arrive before the coroutine has suspended. */
        aio_co_wake(atomic_load(&r.co));
        WAIT_UNTIL(atomic_load(&r.phase) == i);
    }
    WAIT_UNTIL(aio_co_count(ctx) == 0);
    CHECK_EQ_INT(atomic_load(&r.wrong_thread), 0);
    CHECK(gettid() != r.home_tid);
    iothread_stop(io);
}

typedef struct Race {
    atomic_int published;  /* the coroutine is about to yield */
    atomic_int woken;      /* the other thread has called aio_co_wake() */
    atomic_int resumes;
    atomic_int done;
    _Atomic(Coroutine *) co;
} Race;

static void race_body(void *opaque)
{
    Race *r = opaque;

    atomic_store(&r->co, qemu_coroutine_self());
    atomic_store(&r->published, 1);
    /* Not suspended yet, and the wake has already happened. */
    while (!atomic_load(&r->woken)) {
        sched_yield();
    }
    qemu_coroutine_yield();
    atomic_fetch_add(&r->resumes, 1);
    atomic_store(&r->done, 1);
}

TEST(wake_before_the_coroutine_suspends_resumes_it_exactly_once)
{
    IOThread *io = start_iothread("co-race");
    AioContext *ctx;
    Race r = {0};
    Coroutine *co;

    REQUIRE(io);
    ctx = iothread_get_aio_context(io);
    co = aio_co_create(ctx, race_body, &r, 0);
    REQUIRE(co);
    aio_co_wake(co);
    WAIT_UNTIL(atomic_load(&r.published));
    aio_co_wake(atomic_load(&r.co));
    atomic_store(&r.woken, 1);
    WAIT_UNTIL(atomic_load(&r.done));
    WAIT_UNTIL(aio_co_count(ctx) == 0);
    /* Give a spurious second resume every chance to show up. */
    for (int i = 0; i < 3; i++) {
        iothread_run_sync(io, noop_body, NULL);
    }
    CHECK_EQ_INT(atomic_load(&r.resumes), 1);
    iothread_stop(io);
}

enum { STRESS_WAKERS = 2, STRESS_COS_PER_WAKER = 16 };

typedef struct StressCo {
    Coroutine *co;
    pid_t home_tid;
    long target;           /* wakes it will get */
    atomic_int suspended;  /* 1: about to yield / yielded, may be woken */
    atomic_long resumes;
    atomic_int wrong_thread;
    atomic_int finished;
} StressCo;

static void stress_body(void *opaque)
{
    StressCo *s = opaque;

    for (;;) {
        atomic_store(&s->suspended, 1);
        qemu_coroutine_yield();
        if (gettid() != s->home_tid) {
            atomic_fetch_add(&s->wrong_thread, 1);
        }
        if (atomic_fetch_add(&s->resumes, 1) + 1 == s->target) {
            break;
        }
    }
    atomic_store(&s->finished, 1);
}

typedef struct Waker {
    StressCo *cos;
    long wakes;
} Waker;

static void *waker_main(void *opaque)
{
    Waker *w = opaque;
    long left = STRESS_COS_PER_WAKER * w->cos[0].target;

    while (left > 0) {
        for (int i = 0; i < STRESS_COS_PER_WAKER; i++) {
            StressCo *s = &w->cos[i];
            int one = 1;

            if (atomic_compare_exchange_strong(&s->suspended, &one, 0)) {
                aio_co_wake(s->co);
                w->wakes++;
                left--;
            }
        }
    }
    return NULL;
}

TEST(wakes_from_two_threads_are_all_delivered_on_the_home_thread)
{
    long per_co = (quick() ? 100000 : 1000000) /
                  (STRESS_WAKERS * STRESS_COS_PER_WAKER);
    StressCo cos[STRESS_WAKERS][STRESS_COS_PER_WAKER];
    Waker w[STRESS_WAKERS];
    pthread_t th[STRESS_WAKERS];
    IOThread *io = start_iothread("co-stress");
    AioContext *ctx;
    long resumes = 0, wakes = 0, wrong = 0;

    REQUIRE(io);
    ctx = iothread_get_aio_context(io);
    memset(cos, 0, sizeof(cos));
    for (int k = 0; k < STRESS_WAKERS; k++) {
        for (int i = 0; i < STRESS_COS_PER_WAKER; i++) {
            StressCo *s = &cos[k][i];

            s->home_tid = iothread_get_tid(io);
            s->target = per_co;
            s->co = aio_co_create(ctx, stress_body, s, 0);
            REQUIRE(s->co);
            aio_co_wake(s->co); /* runs to its first yield */
        }
    }
    for (int k = 0; k < STRESS_WAKERS; k++) {
        w[k] = (Waker){.cos = cos[k]};
        pthread_create(&th[k], NULL, waker_main, &w[k]);
    }
    for (int k = 0; k < STRESS_WAKERS; k++) {
        pthread_join(th[k], NULL);
        wakes += w[k].wakes;
    }
    WAIT_UNTIL(aio_co_count(ctx) == 0);
    for (int k = 0; k < STRESS_WAKERS; k++) {
        for (int i = 0; i < STRESS_COS_PER_WAKER; i++) {
            resumes += atomic_load(&cos[k][i].resumes);
            wrong += atomic_load(&cos[k][i].wrong_thread);
            CHECK(atomic_load(&cos[k][i].finished));
        }
    }
    CHECK_EQ_INT(wakes, per_co * STRESS_WAKERS * STRESS_COS_PER_WAKER);
    CHECK_EQ_INT(resumes, wakes);
    CHECK_EQ_INT(wrong, 0);
    iothread_stop(io);
}

/* ---- the stack pool ---- */

static void yield_once(void *opaque)
{
    (void)opaque;
    qemu_coroutine_yield();
}

TEST(finished_coroutines_stacks_are_reused_from_a_bounded_pool)
{
    enum { N = 2 * AIO_CO_POOL_MAX };
    AioContext *ctx = new_ctx();
    CoroutinePoolStats before, after;
    static Coroutine *co[N];

    REQUIRE(ctx);
    qemu_coroutine_pool_drain();
    qemu_coroutine_pool_stats(&before);
    CHECK_EQ_INT(before.pool_len, 0);

    /* One after the other: one stack, reused. */
    for (int i = 0; i < 100; i++) {
        Coroutine *c = aio_co_create(ctx, noop_body, NULL, 0);

        REQUIRE(c);
        qemu_coroutine_enter(c);
    }
    qemu_coroutine_pool_stats(&after);
    CHECK_EQ_INT(after.stacks_mapped - before.stacks_mapped, 1);
    CHECK_EQ_INT(after.pool_len, 1);

    /* N alive at once: N - 1 new stacks; when they finish, the pool keeps
     * AIO_CO_POOL_MAX and unmaps the rest. */
    for (int i = 0; i < N; i++) {
        co[i] = aio_co_create(ctx, yield_once, NULL, 0);
        REQUIRE(co[i]);
        qemu_coroutine_enter(co[i]);
    }
    qemu_coroutine_pool_stats(&after);
    CHECK_EQ_INT(after.stacks_mapped - before.stacks_mapped, N);
    CHECK_EQ_INT(after.pool_len, 0);
    for (int i = 0; i < N; i++) {
        qemu_coroutine_enter(co[i]);
    }
    qemu_coroutine_pool_stats(&after);
    CHECK_EQ_INT(after.pool_len, AIO_CO_POOL_MAX);
    CHECK_EQ_INT(after.stacks_unmapped - before.stacks_unmapped,
                 N - AIO_CO_POOL_MAX);

    /* Other sizes are not pooled. */
    co[0] = aio_co_create(ctx, noop_body, NULL, AIO_CO_STACK_SIZE_MIN);
    REQUIRE(co[0]);
    qemu_coroutine_enter(co[0]);
    qemu_coroutine_pool_stats(&after);
    CHECK_EQ_INT(after.pool_len, AIO_CO_POOL_MAX);
    CHECK_EQ_INT(after.stacks_unmapped - before.stacks_unmapped,
                 N - AIO_CO_POOL_MAX + 1);

    qemu_coroutine_pool_drain();
    qemu_coroutine_pool_stats(&after);
    CHECK_EQ_INT(after.pool_len, 0);
    CHECK_EQ_INT(after.stacks_mapped - after.stacks_unmapped,
                 before.stacks_mapped - before.stacks_unmapped);
    aio_context_free(ctx);
}

/* ---- child processes: the guard page and the documented aborts ---- */

/*
 * Run @fn in a child process with its stderr captured into @err.  Returns
 * the wait status, or -1 if the child could not be run.
 */
static int run_child(void (*fn)(void), char *err, size_t err_size)
{
    int pfd[2], status;
    ssize_t n, len = 0;
    pid_t pid;

    if (pipe(pfd) < 0) {
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        dup2(pfd[1], STDERR_FILENO);
        close(pfd[0]);
        fn();
        _exit(0);
    }
    close(pfd[1]);
    while (len < (ssize_t)err_size - 1 &&
           (n = read(pfd[0], err + len, err_size - 1 - len)) > 0) {
        len += n;
    }
    err[len] = '\0';
    close(pfd[0]);
    if (waitpid(pid, &status, 0) < 0) {
        return -1;
    }
    return status;
}

enum { GUARD_HIT = 42, GUARD_MISSED = 43 };
static uintptr_t guard_lo, guard_hi;
static const size_t overflow_stack = 64 * 1024;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    uintptr_t a = (uintptr_t)si->si_addr;

    (void)sig;
    (void)uc;
    _exit(a >= guard_lo && a < guard_hi ? GUARD_HIT : GUARD_MISSED);
}

/*
 * Recurses until the stack runs out: 512 bytes of alloca() per frame (on
 * the real stack even when ASan moves arrays to its fake stack), for up
 * to four times the stack's size.  Returning means the overflow went
 * unnoticed.
 */
static int __attribute__((noinline)) recurse(int depth, int max_depth)
{
    volatile char *pad = alloca(512);

    pad[0] = (char)depth;
    if (depth >= max_depth) {
        return pad[0];
    }
    return recurse(depth + 1, max_depth) + pad[0];
}

static void overflow_body(void *opaque)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    /* The stack's top is the first page boundary above our frame (the
     * real one: ASan may keep locals on a fake stack). */
    uintptr_t top = ((uintptr_t)__builtin_frame_address(0) + page - 1) &
                    ~(page - 1);

    (void)opaque;
    guard_hi = top - overflow_stack;
    guard_lo = guard_hi - page;
    recurse(0, (int)(4 * overflow_stack / 512));
}

static void overflow_child(void)
{
    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
    struct sigaction sa = {.sa_sigaction = on_segv,
                           .sa_flags = SA_SIGINFO | SA_ONSTACK};
    AioContext *ctx = new_ctx();
    Coroutine *co;

    sigaltstack(&ss, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    co = aio_co_create(ctx, overflow_body, NULL, overflow_stack);
    if (!co) {
        _exit(2);
    }
    qemu_coroutine_enter(co);
    _exit(3); /* the overflow went unnoticed */
}

TEST(stack_overflow_faults_on_the_guard_page)
{
    char err[4096];
    int status = run_child(overflow_child, err, sizeof(err));

    REQUIRE(status != -1);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != GUARD_HIT) {
        test_fail(__FILE__, __LINE__,
                  "child status %#x (want exit %d: SIGSEGV in the guard "
                  "page); stderr: %s",
                  status, GUARD_HIT, err);
    }
}

static void free_with_live_child(void)
{
    AioContext *ctx = new_ctx();
    Coroutine *a = aio_co_create(ctx, yield_once, NULL, 0);
    Coroutine *b = aio_co_create(ctx, yield_once, NULL, 0);

    if (!a || !b || aio_co_count(ctx) != 2) {
        _exit(2);
    }
    qemu_coroutine_enter(a); /* suspended; b never started */
    aio_context_free(ctx);
    _exit(3); /* freed without a word */
}

/* Run @fn in a child and check that it aborted saying @message. */
static void check_child_aborts(const char *file, int line, void (*fn)(void),
                               const char *message)
{
    char err[4096];
    int status = run_child(fn, err, sizeof(err));

    if (status == -1 || !WIFSIGNALED(status) ||
        WTERMSIG(status) != SIGABRT || !strstr(err, message)) {
        test_fail(file, line,
                  "want SIGABRT and \"%s\"; got status %#x, stderr: %s",
                  message, status, status == -1 ? "(no child)" : err);
    }
}

#define CHECK_CHILD_ABORTS(fn, message)                                        \
    check_child_aborts(__FILE__, __LINE__, (fn), (message))

TEST(context_free_with_live_coroutines_aborts_naming_the_count)
{
    CHECK_CHILD_ABORTS(free_with_live_child,
                       "2 coroutines still alive on this context; let them "
                       "finish first");
}

static void wake_twice_child(void)
{
    AioContext *ctx = new_ctx();
    Coroutine *co = aio_co_create(ctx, noop_body, NULL, 0);

    if (!co) {
        _exit(2);
    }
    /* The loop is not run in between: two schedules would run it twice. */
    aio_co_schedule(ctx, co);
    aio_co_schedule(ctx, co);
    _exit(3);
}

static void yield_outside_child(void)
{
    qemu_coroutine_yield();
    _exit(3);
}

TEST(misuse_aborts_with_a_message)
{
    CHECK_CHILD_ABORTS(wake_twice_child, "is already scheduled");
    CHECK_CHILD_ABORTS(yield_outside_child,
                       "qemu_coroutine_yield called outside a coroutine");
}

typedef struct Fifo {
    char order[16];
    int len;
} Fifo;

typedef struct FifoCo {
    Fifo *f;
    char name;
} FifoCo;

static void fifo_body(void *opaque)
{
    FifoCo *c = opaque;

    c->f->order[c->f->len++] = c->name;
}

TEST(scheduled_coroutines_run_in_the_order_they_were_scheduled)
{
    AioContext *ctx = new_ctx();
    Fifo f = {0};
    FifoCo c[] = {{&f, 'a'}, {&f, 'b'}, {&f, 'c'}, {&f, 'd'}, {&f, 'e'}};

    REQUIRE(ctx);
    for (int i = 0; i < 5; i++) {
        Coroutine *co = aio_co_create(ctx, fifo_body, &c[i], 0);

        REQUIRE(co);
        REQUIRE(aio_co_schedule(ctx, co) == 0); /* deferred, even here */
    }
    CHECK_EQ_INT(f.len, 0);
    while (aio_poll(ctx, false)) {
    }
    CHECK_STR(f.order, "abcde");
    CHECK_EQ_INT(aio_co_count(ctx), 0);
    aio_context_free(ctx);
}

TEST(null_arguments_are_answered_not_dereferenced)
{
    CoroutinePoolStats st;

    qemu_coroutine_enter(NULL);
    aio_co_wake(NULL);
    CHECK_EQ_INT(aio_co_schedule(NULL, NULL), -EINVAL);
    CHECK_EQ_INT(aio_co_count(NULL), 0);
    CHECK(aio_co_get_context(NULL) == NULL);
    qemu_co_queue_init(NULL);
    qemu_co_mutex_init(NULL);
    CHECK(qemu_co_queue_empty(NULL));
    CHECK(!qemu_co_queue_next(NULL));
    CHECK_EQ_INT(qemu_co_queue_restart_all(NULL), 0);
    qemu_coroutine_pool_stats(NULL);
    qemu_coroutine_pool_stats(&st); /* still works */
}

TEST(context_free_after_all_coroutines_finished_is_clean)
{
    AioContext *ctx = new_ctx();
    Coroutine *co;

    REQUIRE(ctx);
    co = aio_co_create(ctx, yield_once, NULL, 0);
    REQUIRE(co);
    qemu_coroutine_enter(co);
    CHECK_EQ_INT(aio_co_count(ctx), 1);
    aio_co_wake(co); /* home thread, outside a coroutine: runs now */
    CHECK_EQ_INT(aio_co_count(ctx), 0);
    aio_context_free(ctx); /* would abort if it were counted */
}

/* ---- sleep ---- */

typedef struct Sleeper {
    int64_t ns;
    int *order;
    int *order_len;
    int id;
    int ret;
    int64_t slept;
} Sleeper;

static void sleeper_body(void *opaque)
{
    Sleeper *s = opaque;
    int64_t t0 = aio_clock_now(AIO_CLOCK_MONOTONIC);

    s->ret = qemu_co_sleep_ns(AIO_CLOCK_MONOTONIC, s->ns);
    s->slept = aio_clock_now(AIO_CLOCK_MONOTONIC) - t0;
    s->order[(*s->order_len)++] = s->id;
}

TEST(sleepers_wake_in_deadline_order_never_early)
{
    static const int64_t ms[] = {30, 10, 20, 0};
    enum { N = sizeof(ms) / sizeof(ms[0]) };
    AioContext *ctx = new_ctx();
    Sleeper s[N];
    int order[N], order_len = 0;

    REQUIRE(ctx);
    for (int i = 0; i < N; i++) {
        Coroutine *co;

        s[i] = (Sleeper){.ns = ms[i] * 1000000, .order = order,
                         .order_len = &order_len, .id = i, .ret = -1};
        co = aio_co_create(ctx, sleeper_body, &s[i], 0);
        REQUIRE(co);
        qemu_coroutine_enter(co);
    }
    CHECK_EQ_INT(order_len, 0); /* even 0 ns waits for the loop */
    POLL_UNTIL(ctx, order_len == N);
    CHECK_EQ_INT(order[0], 3);
    CHECK_EQ_INT(order[1], 1);
    CHECK_EQ_INT(order[2], 2);
    CHECK_EQ_INT(order[3], 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(s[i].ret, 0);
        if (s[i].slept < s[i].ns) {
            test_fail(__FILE__, __LINE__, "sleeper %d woke after %" PRId64
                      " ns, asked %" PRId64, i, s[i].slept, s[i].ns);
        }
    }
    aio_context_free(ctx);
}

/* ---- fd waits ---- */

typedef struct FdWaiter {
    int fd;
    short events;
    int ret;
    int resumed;
    char byte;
} FdWaiter;

static void fd_waiter_body(void *opaque)
{
    FdWaiter *w = opaque;

    w->ret = qemu_co_wait_fd(w->fd, w->events);
    w->resumed++;
    if (w->ret == POLLIN && read(w->fd, &w->byte, 1) != 1) {
        w->byte = 0;
    }
}

static void dummy_read(void *opaque)
{
    (void)opaque;
}

TEST_FDMON(fd_wait_resumes_when_the_pipe_is_readable_or_writable)
{
    AioContext *ctx = NULL;
    FdWaiter r = {.events = POLLIN}, w = {.events = POLLOUT};
    FdWaiter busy = {.events = POLLIN};
    int pfd[2];
    Coroutine *co;

    REQUIRE(aio_context_new(&ctx, fdmon) == 0);
    REQUIRE(pipe(pfd) == 0);
    r.fd = pfd[0];
    w.fd = pfd[1];

    co = aio_co_create(ctx, fd_waiter_body, &r, 0);
    REQUIRE(co);
    qemu_coroutine_enter(co);
    for (int i = 0; i < 3; i++) {
        aio_poll(ctx, false);
    }
    CHECK_EQ_INT(r.resumed, 0); /* nothing to read yet */
    CHECK(write(pfd[1], "x", 1) == 1);
    POLL_UNTIL(ctx, r.resumed);
    CHECK_EQ_INT(r.ret, POLLIN);
    CHECK_EQ_INT(r.byte, 'x');

    co = aio_co_create(ctx, fd_waiter_body, &w, 0);
    REQUIRE(co);
    qemu_coroutine_enter(co);
    POLL_UNTIL(ctx, w.resumed);
    CHECK_EQ_INT(w.ret, POLLOUT);

    /* An fd the context already watches is refused, not taken over. */
    REQUIRE(aio_set_fd_handler(ctx, pfd[0], dummy_read, NULL, NULL, NULL,
                               NULL) == 0);
    busy.fd = pfd[0];
    co = aio_co_create(ctx, fd_waiter_body, &busy, 0);
    REQUIRE(co);
    qemu_coroutine_enter(co);
    CHECK_EQ_INT(busy.ret, -EBUSY);
    CHECK_EQ_INT(busy.resumed, 1);
    aio_set_fd_handler(ctx, pfd[0], NULL, NULL, NULL, NULL, NULL);

    CHECK_EQ_INT(aio_co_count(ctx), 0);
    close(pfd[0]);
    close(pfd[1]);
    aio_context_free(ctx);
}

/* ---- CoMutex and CoQueue ---- */

typedef struct MutexTest {
    CoMutex m;
    char order[32];
    int order_len;
    int inside;
    int max_inside;
    AioContext *ctx;
} MutexTest;

/* Let the others run: come back on the loop's next pass. */
static void pass(void)
{
    aio_co_wake(qemu_coroutine_self());
    qemu_coroutine_yield();
}

typedef struct Locker {
    MutexTest *t;
    char name;
    int rounds;
} Locker;

static void locker_body(void *opaque)
{
    Locker *l = opaque;
    MutexTest *t = l->t;

    for (int i = 0; i < l->rounds; i++) {
        qemu_co_mutex_lock(&t->m);
        t->order[t->order_len++] = l->name;
        if (++t->inside > t->max_inside) {
            t->max_inside = t->inside;
        }
        pass(); /* hold it across a pass, while the others queue */
        t->inside--;
        qemu_co_mutex_unlock(&t->m);
    }
}

TEST(comutex_hands_over_in_fifo_order_and_excludes)
{
    MutexTest t = {.ctx = new_ctx()};
    Locker l[] = {{&t, 'A', 2}, {&t, 'B', 1}, {&t, 'C', 1}, {&t, 'D', 1}};
    enum { N = sizeof(l) / sizeof(l[0]) };

    REQUIRE(t.ctx);
    qemu_co_mutex_init(&t.m);
    for (int i = 0; i < N; i++) {
        Coroutine *co = aio_co_create(t.ctx, locker_body, &l[i], 0);

        REQUIRE(co);
        qemu_coroutine_enter(co); /* A takes it, B C D queue */
    }
    POLL_UNTIL(t.ctx, aio_co_count(t.ctx) == 0);
    /* A unlocked and asked again: behind the three that waited. */
    CHECK_STR(t.order, "ABCDA");
    CHECK_EQ_INT(t.max_inside, 1);
    aio_context_free(t.ctx);
}

typedef struct TryLock {
    CoMutex *m;
    bool got;
} TryLock;

static void trylock_body(void *opaque)
{
    TryLock *tl = opaque;

    tl->got = qemu_co_mutex_trylock(tl->m);
    if (tl->got) {
        qemu_coroutine_yield();
        qemu_co_mutex_unlock(tl->m);
    }
}

TEST(comutex_trylock_fails_while_held)
{
    AioContext *ctx = new_ctx();
    CoMutex m;
    TryLock a = {&m, false}, b = {&m, false}, c = {&m, false};
    Coroutine *ca, *cb, *cc;

    REQUIRE(ctx);
    qemu_co_mutex_init(&m);
    ca = aio_co_create(ctx, trylock_body, &a, 0);
    cb = aio_co_create(ctx, trylock_body, &b, 0);
    REQUIRE(ca && cb);
    qemu_coroutine_enter(ca);
    qemu_coroutine_enter(cb);
    CHECK(a.got);
    CHECK(!b.got);
    qemu_coroutine_enter(ca); /* unlocks */
    cc = aio_co_create(ctx, trylock_body, &c, 0);
    REQUIRE(cc);
    qemu_coroutine_enter(cc);
    CHECK(c.got);
    qemu_coroutine_enter(cc);
    CHECK_EQ_INT(aio_co_count(ctx), 0);
    aio_context_free(ctx);
}

typedef struct QueueTest {
    CoQueue q;
    CoMutex m;
    bool use_mutex;
    char woke[16];
    int woke_len;
    bool held_after_wait;
} QueueTest;

typedef struct QueueWaiter {
    QueueTest *t;
    char name;
} QueueWaiter;

static void queue_waiter_body(void *opaque)
{
    QueueWaiter *w = opaque;
    QueueTest *t = w->t;

    if (t->use_mutex) {
        qemu_co_mutex_lock(&t->m);
        qemu_co_queue_wait(&t->q, &t->m);
        t->held_after_wait &= !qemu_co_mutex_trylock(&t->m) &&
                              t->m.holder == qemu_coroutine_self();
        t->woke[t->woke_len++] = w->name;
        qemu_co_mutex_unlock(&t->m);
    } else {
        qemu_co_queue_wait(&t->q, NULL);
        t->woke[t->woke_len++] = w->name;
    }
}

static void queue_case(bool use_mutex)
{
    AioContext *ctx = new_ctx();
    QueueTest t = {.use_mutex = use_mutex, .held_after_wait = true};
    QueueWaiter w[] = {{&t, 'x'}, {&t, 'y'}, {&t, 'z'}};

    REQUIRE(ctx);
    qemu_co_queue_init(&t.q);
    qemu_co_mutex_init(&t.m);
    CHECK(qemu_co_queue_empty(&t.q));
    for (int i = 0; i < 3; i++) {
        Coroutine *co = aio_co_create(ctx, queue_waiter_body, &w[i], 0);

        REQUIRE(co);
        qemu_coroutine_enter(co);
    }
    CHECK(!qemu_co_queue_empty(&t.q));
    CHECK(t.m.holder == NULL); /* waiting released it */
    CHECK(qemu_co_queue_next(&t.q));
    while (aio_poll(ctx, false)) {
    }
    CHECK_STR(t.woke, "x");
    CHECK_EQ_INT(qemu_co_queue_restart_all(&t.q), 2);
    CHECK(qemu_co_queue_empty(&t.q));
    while (aio_poll(ctx, false)) {
    }
    CHECK_STR(t.woke, "xyz");
    CHECK(!qemu_co_queue_next(&t.q));
    CHECK_EQ_INT(qemu_co_queue_restart_all(&t.q), 0);
    CHECK(t.held_after_wait);
    CHECK_EQ_INT(aio_co_count(ctx), 0);
    aio_context_free(ctx);
}

TEST(coqueue_next_wakes_one_and_restart_all_wakes_the_rest_in_order)
{
    queue_case(false);
}

TEST(coqueue_wait_releases_and_retakes_the_mutex)
{
    queue_case(true);
}

/* ---- across iothreads ---- */

typedef struct RunIn {
    pid_t a_tid, b_tid;
    AioContext *b;
    atomic_int fn_tid_ok;
    atomic_int caller_tid_ok;
    atomic_int ret;
    atomic_int done;
} RunIn;

static void run_in_fn(void *opaque)
{
    RunIn *r = opaque;

    atomic_store(&r->fn_tid_ok, gettid() == r->b_tid);
    qemu_co_sleep_ns(AIO_CLOCK_MONOTONIC, 1000); /* it may yield too */
    atomic_fetch_and(&r->fn_tid_ok, gettid() == r->b_tid);
}

static void run_in_caller(void *opaque)
{
    RunIn *r = opaque;

    atomic_store(&r->ret, qemu_co_run_in_context(r->b, run_in_fn, r));
    atomic_store(&r->caller_tid_ok, gettid() == r->a_tid);
    atomic_store(&r->done, 1);
}

TEST(run_in_context_runs_on_the_other_iothread_and_resumes_the_caller)
{
    IOThread *a = start_iothread("co-a"), *b = start_iothread("co-b");
    RunIn r = {0};
    Coroutine *co;

    REQUIRE(a && b);
    r.a_tid = iothread_get_tid(a);
    r.b_tid = iothread_get_tid(b);
    r.b = iothread_get_aio_context(b);
    atomic_store(&r.ret, -1);
    co = aio_co_create(iothread_get_aio_context(a), run_in_caller, &r, 0);
    REQUIRE(co);
    aio_co_wake(co);
    WAIT_UNTIL(atomic_load(&r.done));
    CHECK_EQ_INT(atomic_load(&r.ret), 0);
    CHECK(atomic_load(&r.fn_tid_ok));
    CHECK(atomic_load(&r.caller_tid_ok));
    WAIT_UNTIL(aio_co_count(iothread_get_aio_context(a)) == 0 &&
               aio_co_count(r.b) == 0);
    iothread_stop(b);
    iothread_stop(a);
}

typedef struct Mover {
    IOThread *dest;
    pid_t tid_before, tid_after, dest_tid;
    atomic_int done;
} Mover;

static void mover_body(void *opaque)
{
    Mover *m = opaque;

    m->tid_before = gettid();
    aio_co_schedule(iothread_get_aio_context(m->dest), qemu_coroutine_self());
    /* Let the destination run a whole pass while we have not yielded
     * yet: it must not take us before our old home has seen us
     * suspend (it would enter a running coroutine). */
    iothread_run_sync(m->dest, noop_body, NULL);
    qemu_coroutine_yield();
    m->tid_after = gettid();
    atomic_store(&m->done, 1);
}

TEST(schedule_onto_another_context_moves_the_coroutine_there)
{
    IOThread *a = start_iothread("co-from"), *b = start_iothread("co-to");
    Mover m = {0};
    Coroutine *co;

    REQUIRE(a && b);
    m.dest = b;
    co = aio_co_create(iothread_get_aio_context(a), mover_body, &m, 0);
    REQUIRE(co);
    aio_co_wake(co);
    WAIT_UNTIL(atomic_load(&m.done));
    CHECK_EQ_INT(m.tid_before, iothread_get_tid(a));
    CHECK_EQ_INT(m.tid_after, iothread_get_tid(b));
    WAIT_UNTIL(aio_co_count(iothread_get_aio_context(b)) == 0);
    CHECK_EQ_INT(aio_co_count(iothread_get_aio_context(a)), 0);
    iothread_stop(a);
    iothread_stop(b);
}

/* ---- aio_co_thread_pool_submit ---- */

typedef struct PoolCo {
    pid_t tid_before, tid_after; /* the coroutine's, around the wait */
    atomic_int func_tid;         /* the worker's, written by it */
    atomic_int func_calls;
    int ret, null_ret;
    AioContext *ctx;
    atomic_int done;
} PoolCo;

static int pool_co_func(void *arg)
{
    PoolCo *p = arg;

    atomic_store(&p->func_tid, gettid());
    atomic_fetch_add(&p->func_calls, 1);
    return 4242;
}

static void pool_co_body(void *opaque)
{
    PoolCo *p = opaque;

    p->tid_before = gettid();
    p->ret = aio_co_thread_pool_submit(pool_co_func, p);
    p->tid_after = gettid();
    p->null_ret = aio_co_thread_pool_submit(NULL, p);
    atomic_store(&p->done, 1);
}

TEST(co_thread_pool_submit_returns_func_result_and_resumes_at_home)
{
    IOThread *io = start_iothread("co-pool");
    ThreadPoolStats before, after;
    PoolCo p = {0};
    Coroutine *co;

    REQUIRE(io);
    p.ctx = iothread_get_aio_context(io);
    aio_thread_pool_get_stats(p.ctx, &before);
    co = aio_co_create(p.ctx, pool_co_body, &p, 0);
    REQUIRE(co);
    aio_co_wake(co); /* from this thread: enters on the IOThread */
    WAIT_UNTIL(atomic_load(&p.done));
    aio_thread_pool_get_stats(p.ctx, &after);
    CHECK_EQ_INT(p.ret, 4242);
    CHECK_EQ_INT(p.null_ret, -EINVAL);
    CHECK_EQ_INT(p.tid_before, iothread_get_tid(io));
    CHECK_EQ_INT(p.tid_after, iothread_get_tid(io));
    CHECK_EQ_INT(atomic_load(&p.func_calls), 1);
    CHECK(atomic_load(&p.func_tid) != iothread_get_tid(io));
    CHECK(atomic_load(&p.func_tid) != gettid());
    CHECK_EQ_INT(after.completed - before.completed, 1);
    WAIT_UNTIL(aio_co_count(p.ctx) == 0);
    iothread_stop(io);
}
