/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Library fault injection: out of memory, out of file descriptors and
 * thread creation refused, at every call site the library reaches, one at
 * a time.  Each must give the error the headers document (-ENOMEM,
 * -EMFILE, -EAGAIN, or NULL), or be absorbed where the library has a
 * fallback, and never crash or leak: no fd or thread is left behind
 * (checked here), no memory (checked by the leak checker of check-asan).
 *
 * Linked with -Wl,--wrap for the calls below (mk/faults.mk): the library's
 * and this program's references go through the __wrap_ functions, which
 * pass through to the real ones unless a fault is armed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <liburing.h>

#include <iothread/aio.h>
#include <iothread/event-notifier.h>
#include <iothread/iothread.h>
#include <iothread/thread-pool.h>
#include <iothread/timer.h>

#include "harness.h"

/* ---- the fault switch ---- */

typedef enum { FAULT_ALLOC, FAULT_FD, FAULT_THREAD, FAULT_KINDS } FaultKind;

static const struct {
    const char *name;
    int err; /* what the failing call reports */
} fault_kinds[FAULT_KINDS] = {
    [FAULT_ALLOC] = {"out of memory", ENOMEM},
    [FAULT_FD] = {"out of fds", EMFILE},
    [FAULT_THREAD] = {"thread creation refused", EAGAIN},
};

/* Per kind: calls to let through before the one that fails; -1 when
 * disarmed.  Any thread (IOThreads allocate on their own). */
static atomic_long fault_countdown[FAULT_KINDS] = {-1, -1, -1};
static atomic_bool fault_fired[FAULT_KINDS];

static bool fault_now(FaultKind k)
{
    long left = atomic_load(&fault_countdown[k]);

    while (left >= 0) {
        if (atomic_compare_exchange_weak(&fault_countdown[k], &left,
                                         left - 1)) {
            if (left == 0) {
                atomic_store(&fault_fired[k], true);
                return true;
            }
            return false;
        }
    }
    return false;
}

static void fault_arm(FaultKind k, long after)
{
    atomic_store(&fault_fired[k], false);
    atomic_store(&fault_countdown[k], after);
}

/* Disarm; true if the armed call failed. */
static bool fault_disarm(FaultKind k)
{
    atomic_store(&fault_countdown[k], -1);
    return atomic_load(&fault_fired[k]);
}

/* ---- the wrappers (see mk/faults.mk) ---- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
int __real_posix_memalign(void **p, size_t align, size_t size);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);
int __real_eventfd(unsigned int initval, int flags);
int __real_epoll_create1(int flags);
int __real_io_uring_queue_init(unsigned entries, struct io_uring *ring,
                               unsigned flags);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
int __wrap_posix_memalign(void **p, size_t align, size_t size);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);
int __wrap_eventfd(unsigned int initval, int flags);
int __wrap_epoll_create1(int flags);
int __wrap_io_uring_queue_init(unsigned entries, struct io_uring *ring,
                               unsigned flags);

void *__wrap_malloc(size_t size)
{
    if (fault_now(FAULT_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (fault_now(FAULT_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    if (fault_now(FAULT_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_realloc(p, size);
}

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
    if (fault_now(FAULT_ALLOC)) {
        return ENOMEM;
    }
    return __real_posix_memalign(p, align, size);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg)
{
    if (fault_now(FAULT_THREAD)) {
        return EAGAIN;
    }
    return __real_pthread_create(t, attr, fn, arg);
}

int __wrap_eventfd(unsigned int initval, int flags)
{
    if (fault_now(FAULT_FD)) {
        errno = EMFILE;
        return -1;
    }
    return __real_eventfd(initval, flags);
}

int __wrap_epoll_create1(int flags)
{
    if (fault_now(FAULT_FD)) {
        errno = EMFILE;
        return -1;
    }
    return __real_epoll_create1(flags);
}

int __wrap_io_uring_queue_init(unsigned entries, struct io_uring *ring,
                               unsigned flags)
{
    if (fault_now(FAULT_FD)) {
        return -EMFILE;
    }
    return __real_io_uring_queue_init(entries, ring, flags);
}

/* ---- failing each call in turn ---- */

/*
 * An operation under test: returns 0 (then undo() releases what it made)
 * or a negative errno.
 */
typedef struct FaultOp {
    const char *what;
    int (*run)(void *arg);
    void (*undo)(void *arg);
    void *arg;
    /* The library has a fallback for this operation: a failing call may
     * leave it succeeding (AUTO trying io_uring first). */
    bool may_absorb;
} FaultOp;

/*
 * Run @op with the first, then the second, ... call of kind @k failing,
 * until a run makes fewer such calls than that (every site was hit).
 * Each failure must come back as -err(k) and leave no fd or thread.
 * Returns how many runs ended in that error.
 */
static int fail_each_call(FaultKind k, const FaultOp *op)
{
    int errors = 0;

    for (long n = 0;; n++) {
        int fds0 = test_count_fds(), threads0 = test_count_threads();
        bool fired;
        int ret;

        fault_arm(k, n);
        ret = op->run(op->arg);
        fired = fault_disarm(k);
        if (ret == 0) {
            op->undo(op->arg);
        }
        if (fired && ret != 0) {
            errors++;
            if (ret != -fault_kinds[k].err) {
                test_fail(__FILE__, __LINE__,
                          "%s with call %ld %s: got %d (%s), want -%s",
                          op->what, n + 1, fault_kinds[k].name, ret,
                          strerror(-ret), strerrorname_np(fault_kinds[k].err));
            }
        } else if (fired && !op->may_absorb) {
            test_fail(__FILE__, __LINE__, "%s with call %ld %s: succeeded",
                      op->what, n + 1, fault_kinds[k].name);
        } else if (!fired && ret != 0) {
            test_fail(__FILE__, __LINE__, "%s failed with no fault: %d",
                      op->what, ret);
            return errors;
        }
        if (test_count_fds() != fds0 || test_count_threads() != threads0) {
            test_fail(__FILE__, __LINE__,
                      "%s with call %ld %s: %d fds and %d threads before, "
                      "%d and %d after", op->what, n + 1,
                      fault_kinds[k].name, fds0, threads0, test_count_fds(),
                      test_count_threads());
        }
        if (!fired) {
            return errors; /* n calls were all it made */
        }
    }
}

/* Every kind of fault on @op; each kind in @must_fail must surface. */
static void fail_each_call_of_each_kind(const FaultOp *op, unsigned must_fail)
{
    for (int k = 0; k < FAULT_KINDS; k++) {
        int errors = fail_each_call((FaultKind)k, op);

        if ((must_fail & (1u << k)) && errors == 0) {
            test_fail(__FILE__, __LINE__, "%s: no call %s made it fail",
                      op->what, fault_kinds[k].name);
        }
    }
}

#define MUST(k) (1u << (k))

/* ---- AioContext ---- */

typedef struct CtxArg {
    AioFdmon fdmon;
    AioContext *ctx;
} CtxArg;

static int ctx_new(void *arg)
{
    CtxArg *a = arg;

    return aio_context_new(&a->ctx, a->fdmon);
}

static void ctx_free(void *arg)
{
    aio_context_free(((CtxArg *)arg)->ctx);
}

TEST_FDMON(context_new_fails_cleanly)
{
    CtxArg a = {.fdmon = fdmon};
    FaultOp op = {"aio_context_new", ctx_new, ctx_free, &a, false};

    fail_each_call_of_each_kind(&op, MUST(FAULT_ALLOC) | MUST(FAULT_FD));
}

TEST(context_new_auto_falls_back_or_fails_cleanly)
{
    CtxArg a = {.fdmon = AIO_FDMON_AUTO};
    FaultOp op = {"aio_context_new(auto)", ctx_new, ctx_free, &a, true};

    fail_each_call_of_each_kind(&op, MUST(FAULT_ALLOC) | MUST(FAULT_FD));
    /* io_uring refused: poll(2), not an error. */
    if (test_fdmon_available(AIO_FDMON_IO_URING)) {
        fault_arm(FAULT_FD, 1); /* the eventfd passes, the ring fails */
        REQUIRE(aio_context_new(&a.ctx, AIO_FDMON_AUTO) == 0);
        CHECK(fault_disarm(FAULT_FD));
        CHECK_EQ_INT(aio_context_fdmon(a.ctx), AIO_FDMON_POLL);
        aio_context_free(a.ctx);
    }
}

/* A real EMFILE: the process's fd table is full. */
TEST(context_and_iothread_at_the_fd_limit)
{
    struct rlimit old, low;
    int fillers[64], n = 0;
    AioContext *ctx;
    IOThread *t;
    int threads0 = test_count_threads();

    REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
    low = old;
    low.rlim_cur = (rlim_t)test_count_fds() + 16;
    REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
    while (n < 64) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        if (fd < 0) {
            CHECK_EQ_INT(errno, EMFILE);
            break;
        }
        fillers[n++] = fd;
    }
    CHECK(n < 64);
    CHECK_EQ_INT(aio_context_new(&ctx, AIO_FDMON_AUTO), -EMFILE);
    CHECK_EQ_INT(iothread_start(&t, NULL), -EMFILE);
    /* One fd free: still not enough for a context (eventfd + back-end). */
    close(fillers[--n]);
    CHECK_EQ_INT(aio_context_new(&ctx, AIO_FDMON_EPOLL), -EMFILE);
    while (n > 0) {
        close(fillers[--n]);
    }
    setrlimit(RLIMIT_NOFILE, &old);
    /* Counted now that /proc can be opened again. */
    CHECK_EQ_INT(test_count_threads(), threads0);
    REQUIRE(aio_context_new(&ctx, AIO_FDMON_AUTO) == 0);
    aio_context_free(ctx);
}

/* ---- IOThread ---- */

typedef struct ThreadArg {
    IOThreadOptions opts;
    IOThread *t;
} ThreadArg;

static int thread_start(void *arg)
{
    ThreadArg *a = arg;

    return iothread_start(&a->t, &a->opts);
}

static void thread_stop(void *arg)
{
    iothread_stop(((ThreadArg *)arg)->t);
}

TEST_FDMON(iothread_start_fails_cleanly)
{
    ThreadArg a;
    /* may_absorb: the new thread's loop allocates too once it runs (the
     * pollfd array on its first wait), and retries that on the next wait
     * when it fails. */
    FaultOp op = {"iothread_start", thread_start, thread_stop, &a, true};

    iothread_options_init(&a.opts);
    a.opts.fdmon = fdmon;
    fail_each_call_of_each_kind(&op, MUST(FAULT_ALLOC) | MUST(FAULT_FD) |
                                         MUST(FAULT_THREAD));
}

/* ---- BHs and timers ---- */

typedef struct LoopArg {
    AioContext *ctx;
    AioBH *bh;
    AioTimer *timer;
    int runs;
} LoopArg;

static void count_cb(void *opaque)
{
    ((LoopArg *)opaque)->runs++;
}

static int bh_new(void *arg)
{
    LoopArg *a = arg;

    a->bh = aio_bh_new(a->ctx, count_cb, a);
    return a->bh ? 0 : -ENOMEM;
}

static void bh_delete(void *arg)
{
    aio_bh_delete(((LoopArg *)arg)->bh);
}

static int bh_oneshot(void *arg)
{
    LoopArg *a = arg;

    return aio_bh_schedule_oneshot(a->ctx, count_cb, a);
}

static void nothing(void *arg)
{
}

static int timer_new(void *arg)
{
    LoopArg *a = arg;

    a->timer = aio_timer_new(a->ctx, AIO_CLOCK_MONOTONIC, count_cb, a);
    return a->timer ? 0 : -ENOMEM;
}

static void timer_free(void *arg)
{
    aio_timer_free(((LoopArg *)arg)->timer);
}

TEST(bh_and_timer_allocation_fails_cleanly)
{
    LoopArg a = {0};
    const FaultOp ops[] = {
        {"aio_bh_new", bh_new, bh_delete, &a, false},
        {"aio_bh_schedule_oneshot", bh_oneshot, nothing, &a, false},
        {"aio_timer_new", timer_new, timer_free, &a, false},
    };

    REQUIRE(aio_context_new(&a.ctx, AIO_FDMON_AUTO) == 0);
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        CHECK_EQ_INT(fail_each_call(FAULT_ALLOC, &ops[i]), 1);
    }
    /* The oneshots that were scheduled run, once each. */
    while (aio_poll(a.ctx, false)) {
    }
    CHECK_EQ_INT(a.runs, 1);
    aio_context_free(a.ctx);
}

/* The heap grows on an arm: a failed growth leaves that timer disarmed
 * and every other one as it was. */
TEST(timer_heap_growth_fails_cleanly)
{
    enum { N = 17 }; /* the first allocation holds 16 */
    AioContext *ctx;
    LoopArg a[N];
    int64_t now = aio_clock_now(AIO_CLOCK_MONOTONIC);

    REQUIRE(aio_context_new(&ctx, AIO_FDMON_AUTO) == 0);
    for (int i = 0; i < N; i++) {
        a[i] = (LoopArg){.ctx = ctx};
        REQUIRE(timer_new(&a[i]) == 0);
    }
    fault_arm(FAULT_ALLOC, 0);
    CHECK_EQ_INT(aio_timer_mod(a[0].timer, now - 1), -ENOMEM);
    CHECK(fault_disarm(FAULT_ALLOC));
    CHECK(!aio_timer_pending(a[0].timer));
    for (int i = 0; i < N - 1; i++) {
        CHECK_EQ_INT(aio_timer_mod(a[i].timer, now - 1), 0);
    }
    fault_arm(FAULT_ALLOC, 0);
    CHECK_EQ_INT(aio_timer_mod(a[N - 1].timer, now - 1), -ENOMEM);
    CHECK(fault_disarm(FAULT_ALLOC));
    CHECK(!aio_timer_pending(a[N - 1].timer));
    CHECK(aio_poll(ctx, false));
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(a[i].runs, i < N - 1);
        aio_timer_free(a[i].timer);
    }
    aio_context_free(ctx);
}

/* ---- fd handlers ---- */

typedef struct HandlerArg {
    EventNotifier e; /* first: the handler gets its address */
    AioContext *ctx;
    int reads;
} HandlerArg;

static void handler_read(EventNotifier *e)
{
    event_notifier_test_and_clear(e);
    ((HandlerArg *)e)->reads++;
}

static int handler_add(void *arg)
{
    HandlerArg *a = arg;

    return aio_set_event_notifier(a->ctx, &a->e, handler_read, NULL, NULL);
}

static void handler_remove(void *arg)
{
    HandlerArg *a = arg;

    aio_set_event_notifier(a->ctx, &a->e, NULL, NULL, NULL);
}

TEST_FDMON(fd_handler_add_fails_cleanly)
{
    HandlerArg a = {0};
    FaultOp op = {"aio_set_event_notifier", handler_add, handler_remove, &a,
                  false};

    REQUIRE(aio_context_new(&a.ctx, fdmon) == 0);
    REQUIRE(event_notifier_init(&a.e, false) == 0);
    CHECK(fail_each_call(FAULT_ALLOC, &op) >= 1);
    /* Nothing half-registered: removing finds nothing; adding works and
     * the handler runs. */
    CHECK_EQ_INT(aio_set_event_notifier(a.ctx, &a.e, NULL, NULL, NULL),
                 -ENOENT);
    REQUIRE(handler_add(&a) == 0);
    event_notifier_set(&a.e);
    CHECK(aio_poll(a.ctx, true));
    CHECK_EQ_INT(a.reads, 1);
    handler_remove(&a);
    aio_context_free(a.ctx);
    event_notifier_cleanup(&a.e);
}

/* poll(2) past its threshold with epoll refused: stays on poll(2), and
 * every handler keeps working. */
TEST(poll_upgrade_refused_stays_on_poll)
{
    enum { N = 100 };
    HandlerArg *h = calloc(N, sizeof(*h));
    AioContext *ctx;

    REQUIRE(h);
    setenv("LIBIOTHREAD_DISABLE_IO_URING", "1", 1);
    REQUIRE(aio_context_new(&ctx, AIO_FDMON_AUTO) == 0);
    unsetenv("LIBIOTHREAD_DISABLE_IO_URING");
    REQUIRE(aio_context_fdmon(ctx) == AIO_FDMON_POLL);
    for (int i = 0; i < N; i++) {
        h[i].ctx = ctx;
        REQUIRE(event_notifier_init(&h[i].e, false) == 0);
    }
    fault_arm(FAULT_FD, 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(handler_add(&h[i]), 0);
    }
    CHECK(fault_disarm(FAULT_FD));
    CHECK_EQ_INT(aio_context_fdmon(ctx), AIO_FDMON_POLL);
    for (int i = 0; i < N; i++) {
        event_notifier_set(&h[i].e);
    }
    while (aio_poll(ctx, false)) {
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(h[i].reads, 1);
        handler_remove(&h[i]);
        event_notifier_cleanup(&h[i].e);
    }
    aio_context_free(ctx);
    free(h);
}

/* ---- thread pool ---- */

typedef struct PoolArg {
    AioContext *ctx;
    int done, ret;
} PoolArg;

static int pool_work(void *arg)
{
    return 5;
}

static void pool_done(void *opaque, int ret)
{
    PoolArg *a = opaque;

    a->done++;
    a->ret = ret;
}

static int pool_submit(void *arg)
{
    PoolArg *a = arg;

    return aio_thread_pool_submit(a->ctx, pool_work, NULL, pool_done, a,
                                  NULL);
}

/* Run the completion, then free the context: its workers are joined, so
 * the thread count is back where it was. */
static void pool_complete(void *arg)
{
    PoolArg *a = arg;

    while (!a->done) {
        aio_poll(a->ctx, true);
    }
    CHECK_EQ_INT(a->ret, 5);
    aio_context_free(a->ctx);
    a->ctx = NULL;
}

static int pool_ctx_and_submit(void *arg)
{
    PoolArg *a = arg;
    int ret;

    a->done = 0;
    ret = aio_context_new(&a->ctx, AIO_FDMON_AUTO);
    if (ret == 0 && (ret = pool_submit(a)) < 0) {
        aio_context_free(a->ctx);
    }
    return ret;
}

TEST(thread_pool_submit_fails_cleanly)
{
    PoolArg a = {0};
    FaultOp op = {"aio_thread_pool_submit", pool_ctx_and_submit,
                  pool_complete, &a, true};

    /* The context's own calls are covered above; here they may fail too,
     * which must look the same. */
    fail_each_call_of_each_kind(&op, MUST(FAULT_ALLOC) | MUST(FAULT_THREAD));

    /* With a worker already there, a refused new one is not an error:
     * the existing worker takes the request. */
    REQUIRE(aio_context_new(&a.ctx, AIO_FDMON_AUTO) == 0);
    REQUIRE(aio_thread_pool_set_limits(a.ctx, 1, 4) == 0);
    fault_arm(FAULT_THREAD, 0);
    a.done = 0;
    CHECK_EQ_INT(pool_submit(&a), 0);
    CHECK_EQ_INT(pool_submit(&a), 0);
    fault_disarm(FAULT_THREAD);
    while (a.done < 2) {
        aio_poll(a.ctx, true);
    }
    CHECK_EQ_INT(a.ret, 5);
    aio_context_free(a.ctx);
}
