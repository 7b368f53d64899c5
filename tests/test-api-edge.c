/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The library's edge: what every public function does with a NULL or
 * invalid argument (answers it, never crashes), what aio_context_free()
 * does with a context that still has BHs or handlers (aborts with a line
 * naming them, in a build without NDEBUG), and the one list of counters
 * that AioStats, the daemon, iothreadctl and the docs derive from.
 *
 * The abort cases run in a forked child whose stderr and exit status the
 * parent checks; the child creates no thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iothread/aio-stats.h>
#include <iothread/aio.h>
#include <iothread/event-notifier.h>
#include <iothread/iothread.h>
#include <iothread/thread-pool.h>
#include <iothread/timer.h>

#include "harness.h"

static void nop(void *opaque)
{
}

static int nop_work(void *arg)
{
    return 0;
}

static void nop_done(void *opaque, int ret)
{
}

static void nop_en(EventNotifier *e)
{
}

static bool nop_poll(void *opaque)
{
    return false;
}

/* ---- aio_context_free() reports what the caller left behind ---- */

typedef struct Child {
    int status;     /* from waitpid() */
    char err[1024]; /* what it wrote to stderr, NUL-terminated */
} Child;

/* Run @fn(@arg) in a child process with stderr on a pipe; the child then
 * exits 0.  False (after recording a failure) if that could not be set up. */
static bool run_child(void (*fn)(int arg), int arg, Child *c)
{
    size_t len = 0;
    ssize_t n;
    int pfd[2];
    pid_t pid;

    memset(c, 0, sizeof(*c));
    if (pipe(pfd) < 0) {
        test_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
        return false;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        test_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return false;
    }
    if (pid == 0) {
        dup2(pfd[1], STDERR_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        fn(arg);
        _exit(0);
    }
    close(pfd[1]);
    while (len < sizeof(c->err) - 1 &&
           (n = read(pfd[0], c->err + len, sizeof(c->err) - 1 - len)) != 0) {
        if (n > 0) {
            len += (size_t)n;
        } else if (errno != EINTR) {
            break;
        }
    }
    close(pfd[0]);
    while (waitpid(pid, &c->status, 0) < 0 && errno == EINTR) {
    }
    return true;
}

static AioContext *child_ctx(void)
{
    AioContext *ctx = NULL;

    /* poll(2): no io_uring ring to set up in a child. */
    if (aio_context_new(&ctx, AIO_FDMON_POLL) < 0) {
        _exit(99);
    }
    return ctx;
}

/* Leaves @n BHs never deleted. */
static void free_with_live_bhs(int n)
{
    AioContext *ctx = child_ctx();

    for (int i = 0; i < n; i++) {
        aio_bh_new(ctx, nop, NULL);
    }
    aio_context_free(ctx);
}

/* Leaves the read end of a pipe registered; its fd number is @fd. */
static void free_with_live_handler(int fd)
{
    AioContext *ctx = child_ctx();
    int p[2];

    if (pipe(p) < 0 || dup2(p[0], fd) < 0 ||
        aio_set_fd_handler(ctx, fd, nop, NULL, NULL, NULL, NULL) < 0) {
        _exit(98);
    }
    aio_context_free(ctx);
}

/* Everything done by the rules: a BH deleted but never polled, a pending
 * oneshot, a handler added and removed, an event notifier added and
 * removed, a thread pool used. */
static void free_after_cleanup(int unused)
{
    AioContext *ctx = child_ctx();
    AioBH *bh = aio_bh_new(ctx, nop, NULL);
    EventNotifier e;
    int p[2];

    if (!bh || pipe(p) < 0 || event_notifier_init(&e, false) < 0) {
        _exit(97);
    }
    aio_bh_schedule(bh);
    aio_bh_delete(bh);
    aio_bh_schedule_oneshot(ctx, nop, NULL);
    aio_set_fd_handler(ctx, p[0], nop, NULL, NULL, NULL, NULL);
    aio_set_event_notifier(ctx, &e, nop_en, NULL, NULL);
    aio_poll(ctx, false);
    aio_set_fd_handler(ctx, p[0], NULL, NULL, NULL, NULL, NULL);
    aio_set_event_notifier(ctx, &e, NULL, NULL, NULL);
    aio_context_free(ctx);
    event_notifier_cleanup(&e);
}

static void check_aborted_with(const Child *c, const char *what)
{
#ifdef NDEBUG
    /* A library built with -DNDEBUG does not check. */
    CHECK(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0);
    (void)what;
#else
    if (!WIFSIGNALED(c->status) || WTERMSIG(c->status) != SIGABRT) {
        test_fail(__FILE__, __LINE__,
                  "expected SIGABRT, got status 0x%x; stderr: \"%s\"",
                  (unsigned)c->status, c->err);
    }
    if (strncmp(c->err, "libiothread: aio_context_free(", 30) != 0 ||
        !strstr(c->err, what)) {
        test_fail(__FILE__, __LINE__,
                  "expected \"libiothread: aio_context_free(...\" naming "
                  "\"%s\" on stderr, got \"%s\"", what, c->err);
    }
#endif
}

TEST(context_free_with_a_bh_never_deleted_aborts_naming_it)
{
    Child c;

    REQUIRE(run_child(free_with_live_bhs, 2, &c));
    check_aborted_with(&c, "2 BH(s) never passed to aio_bh_delete()");
}

TEST(context_free_with_a_handler_still_registered_aborts_naming_its_fd)
{
    Child c;

    REQUIRE(run_child(free_with_live_handler, 57, &c));
    check_aborted_with(&c, "1 fd handler(s) still registered (e.g. fd 57)");
}

TEST(context_free_after_cleanup_is_silent)
{
    Child c;

    REQUIRE(run_child(free_after_cleanup, 0, &c));
    if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0) {
        test_fail(__FILE__, __LINE__,
                  "expected exit 0, got status 0x%x; stderr: \"%s\"",
                  (unsigned)c.status, c.err);
    }
    CHECK_STR(c.err, "");
}

/* ---- NULL and invalid arguments: answered, never dereferenced ---- */

TEST(context_functions_answer_null_and_invalid_arguments)
{
    AioContext *ctx = NULL;
    AioFdmon kind = AIO_FDMON_EPOLL;
    int64_t a = 7, b = 8, c = 9;
    AioStats st;

    CHECK_EQ_INT(aio_context_new(NULL, AIO_FDMON_POLL), -EINVAL);
    CHECK_EQ_INT(aio_context_new(&ctx, (AioFdmon)42), -EINVAL);
    CHECK_EQ_INT(aio_context_new(&ctx, (AioFdmon)-1), -EINVAL);
    CHECK(ctx == NULL);
    CHECK_EQ_INT(aio_fdmon_parse(NULL, &kind), -EINVAL);
    CHECK_EQ_INT(aio_fdmon_parse("poll", NULL), -EINVAL);
    CHECK_EQ_INT(kind, AIO_FDMON_EPOLL);
    CHECK_STR(aio_fdmon_name((AioFdmon)42), "unknown");

    aio_context_free(NULL);
    aio_context_claim(NULL);
    aio_notify(NULL);
    CHECK(!aio_context_in_home_thread(NULL));
    CHECK_EQ_INT(aio_context_fdmon(NULL), AIO_FDMON_AUTO);
    CHECK(!aio_poll(NULL, true));
    CHECK_EQ_INT(aio_context_set_poll_params(NULL, 1, 2, 3), -EINVAL);
    aio_context_get_poll_params(NULL, &a, &b, &c);
    CHECK(a == 7 && b == 8 && c == 9);
    CHECK_EQ_INT(aio_context_set_aio_max_batch(NULL, 1), -EINVAL);
    CHECK_EQ_INT(aio_context_get_aio_max_batch(NULL), -EINVAL);
    memset(&st, 0xff, sizeof(st));
    aio_context_get_stats(NULL, &st);
    CHECK_EQ_INT(st.iterations, 0);
    CHECK_EQ_INT(st.notify_skipped, 0);

    REQUIRE(aio_context_new(&ctx, AIO_FDMON_POLL) == 0);
    aio_context_get_stats(ctx, NULL);
    CHECK_EQ_INT(aio_context_set_poll_params(ctx, -1, 0, 0), -EINVAL);
    CHECK_EQ_INT(aio_context_set_aio_max_batch(ctx, -1), -EINVAL);
    aio_context_free(ctx);
}

TEST(handler_functions_answer_null_and_invalid_arguments)
{
    EventNotifier unset = {.fd = -1};
    AioContext *ctx;

    CHECK_EQ_INT(aio_set_fd_handler(NULL, 0, nop, NULL, NULL, NULL, NULL),
                 -EINVAL);
    CHECK_EQ_INT(aio_set_fd_poll(NULL, 0, nop, nop), -EINVAL);
    CHECK_EQ_INT(aio_set_event_notifier(NULL, &unset, nop_en, NULL, NULL),
                 -EINVAL);
    CHECK_EQ_INT(aio_set_event_notifier_poll(NULL, &unset, nop_en, nop_en),
                 -EINVAL);

    REQUIRE(aio_context_new(&ctx, AIO_FDMON_POLL) == 0);
    CHECK_EQ_INT(aio_set_fd_handler(ctx, -1, nop, NULL, NULL, NULL, NULL),
                 -EINVAL);
    CHECK_EQ_INT(aio_set_fd_handler(ctx, 0, nop, NULL, nop_poll, NULL, NULL),
                 -EINVAL);
    CHECK_EQ_INT(aio_set_fd_poll(ctx, -1, nop, nop), -EINVAL);
    CHECK_EQ_INT(aio_set_event_notifier(ctx, NULL, nop_en, NULL, NULL),
                 -EINVAL);
    CHECK_EQ_INT(aio_set_event_notifier(ctx, NULL, NULL, NULL, NULL),
                 -EINVAL);
    CHECK_EQ_INT(aio_set_event_notifier(ctx, &unset, nop_en, NULL, NULL),
                 -EINVAL);
    CHECK_EQ_INT(aio_set_event_notifier_poll(ctx, NULL, nop_en, nop_en),
                 -EINVAL);
    CHECK_EQ_INT(aio_set_event_notifier_poll(ctx, &unset, nop_en, nop_en),
                 -EINVAL);
    /* Nothing was registered by the refused calls. */
    CHECK(!aio_poll(ctx, false));
    aio_context_free(ctx);
}

TEST(bh_functions_answer_null_arguments)
{
    AioContext *ctx;

    aio_bh_schedule(NULL);
    aio_bh_schedule_idle(NULL);
    aio_bh_cancel(NULL);
    aio_bh_delete(NULL);
    CHECK(aio_bh_new(NULL, nop, NULL) == NULL);
    CHECK_EQ_INT(aio_bh_schedule_oneshot(NULL, nop, NULL), -EINVAL);

    REQUIRE(aio_context_new(&ctx, AIO_FDMON_POLL) == 0);
    CHECK(aio_bh_new(ctx, NULL, NULL) == NULL);
    CHECK_EQ_INT(aio_bh_schedule_oneshot(ctx, NULL, NULL), -EINVAL);
    CHECK(!aio_poll(ctx, false));
    aio_context_free(ctx); /* no BH left behind by the refused calls */
}

TEST(event_notifier_functions_answer_null_arguments)
{
    EventNotifier unset = {.fd = -1};

    CHECK_EQ_INT(event_notifier_init(NULL, false), -EINVAL);
    event_notifier_cleanup(NULL);
    CHECK_EQ_INT(event_notifier_set(NULL), -EINVAL);
    CHECK(!event_notifier_test_and_clear(NULL));
    CHECK_EQ_INT(event_notifier_get_fd(NULL), -1);
    CHECK_EQ_INT(event_notifier_set(&unset), -EBADF);
    CHECK(!event_notifier_test_and_clear(&unset));
}

TEST(timer_functions_answer_null_and_invalid_arguments)
{
    AioContext *ctx;
    AioTimer t;

    CHECK_EQ_INT(aio_clock_now(AIO_CLOCK_MAX), -EINVAL);
    CHECK(aio_clock_now(AIO_CLOCK_MONOTONIC) > 0);
    aio_timer_init(NULL, NULL, AIO_CLOCK_MONOTONIC, nop, NULL);
    CHECK(aio_timer_new(NULL, AIO_CLOCK_MONOTONIC, nop, NULL) == NULL);
    CHECK_EQ_INT(aio_timer_mod(NULL, 0), -EINVAL);
    CHECK_EQ_INT(aio_timer_mod_in(NULL, 0), -EINVAL);
    aio_timer_del(NULL);
    CHECK(!aio_timer_pending(NULL));
    CHECK_EQ_INT(aio_timer_expire_time(NULL), -1);
    aio_timer_free(NULL);

    REQUIRE(aio_context_new(&ctx, AIO_FDMON_POLL) == 0);
    CHECK(aio_timer_new(ctx, AIO_CLOCK_MAX, nop, NULL) == NULL);
    CHECK(aio_timer_new(ctx, AIO_CLOCK_MONOTONIC, NULL, NULL) == NULL);
    /* A timer initialised with a bad argument cannot be armed. */
    aio_timer_init(&t, ctx, (AioClock)42, nop, NULL);
    CHECK_EQ_INT(aio_timer_mod(&t, 0), -EINVAL);
    CHECK_EQ_INT(aio_timer_mod_in(&t, 0), -EINVAL);
    CHECK(!aio_timer_pending(&t));
    CHECK_EQ_INT(aio_timer_expire_time(&t), -1);
    aio_timer_del(&t);
    aio_timer_init(&t, NULL, AIO_CLOCK_MONOTONIC, nop, NULL);
    CHECK_EQ_INT(aio_timer_mod(&t, 0), -EINVAL);
    CHECK(!aio_poll(ctx, false)); /* nothing was armed */
    aio_context_free(ctx);
}

TEST(thread_pool_functions_answer_null_and_invalid_arguments)
{
    ThreadPoolStats ps = {.workers = 5, .completed = 5};
    int min = -7, max = -7;
    AioContext *ctx;

    CHECK_EQ_INT(aio_thread_pool_submit(NULL, nop_work, NULL, nop_done, NULL,
                                        NULL),
                 -EINVAL);
    CHECK(!aio_thread_pool_cancel(NULL));
    CHECK_EQ_INT(aio_thread_pool_set_limits(NULL, 0, 1), -EINVAL);
    aio_thread_pool_get_limits(NULL, &min, &max);
    CHECK(min == -7 && max == -7);
    aio_thread_pool_get_stats(NULL, &ps);
    CHECK(ps.workers == 0 && ps.completed == 0);
    aio_thread_pool_get_stats(NULL, NULL);

    REQUIRE(aio_context_new(&ctx, AIO_FDMON_POLL) == 0);
    CHECK_EQ_INT(aio_thread_pool_submit(ctx, NULL, NULL, nop_done, NULL,
                                        NULL),
                 -EINVAL);
    /* A NULL completion is allowed (fire and forget): see
     * tests/test-thread-pool.c. */
    CHECK_EQ_INT(aio_thread_pool_set_limits(ctx, 2, 1), -EINVAL);
    aio_thread_pool_get_limits(ctx, NULL, &max);
    CHECK_EQ_INT(max, AIO_THREAD_POOL_MAX_DEFAULT);
    aio_context_free(ctx);
}

TEST(iothread_functions_answer_null_and_invalid_arguments)
{
    IOThreadOptions opts;
    IOThread *t = NULL;

    iothread_options_init(NULL);
    CHECK_EQ_INT(iothread_start(NULL, NULL), -EINVAL);
    iothread_options_init(&opts);
    opts.fdmon = (AioFdmon)42;
    CHECK_EQ_INT(iothread_start(&t, &opts), -EINVAL);
    iothread_options_init(&opts);
    opts.poll_grow = -1;
    CHECK_EQ_INT(iothread_start(&t, &opts), -EINVAL);
    CHECK(t == NULL);
    CHECK_EQ_INT(iothread_stop(NULL), -EINVAL);
    CHECK(iothread_get_aio_context(NULL) == NULL);
    CHECK_EQ_INT(iothread_get_tid(NULL), -EINVAL);
    CHECK(iothread_get_name(NULL) == NULL);
    CHECK_EQ_INT(iothread_run_sync(NULL, nop, NULL), -EINVAL);

    REQUIRE(iothread_start(&t, NULL) == 0);
    CHECK_EQ_INT(iothread_run_sync(t, NULL, NULL), -EINVAL);
    CHECK_EQ_INT(iothread_stop(t), 0);
}

/* ---- the one list of counters ---- */

TEST(counter_list_covers_aio_stats_field_by_field)
{
    bool seen[AIO_STAT__COUNT] = {false};
    AioStats st;

    /* Every AioStats member comes from the list, so its size tells. */
    CHECK_EQ_INT(sizeof(AioStats), AIO_STAT__COUNT * sizeof(uint64_t));
    CHECK(aio_stat_info(AIO_STAT__COUNT) == NULL);
    CHECK(aio_stat_info((AioStatId)-1) == NULL);
    CHECK(aio_stat_name(AIO_STAT__COUNT) == NULL);
    CHECK_EQ_INT(aio_stat_value(&st, AIO_STAT__COUNT), 0);
    CHECK_EQ_INT(aio_stat_value(NULL, AIO_STAT_bh_runs), 0);
    /* Each entry reads its own field: distinct values come back. */
    for (int i = 0; i < AIO_STAT__COUNT; i++) {
        ((uint64_t *)(void *)&st)[i] = 1000 + (uint64_t)i;
    }
    for (int i = 0; i < AIO_STAT__COUNT; i++) {
        uint64_t v = aio_stat_value(&st, (AioStatId)i);

        REQUIRE(v >= 1000 && v < 1000 + (uint64_t)AIO_STAT__COUNT);
        CHECK(!seen[v - 1000]);
        seen[v - 1000] = true;
    }
    CHECK_EQ_INT(aio_stat_value(&st, AIO_STAT_bh_runs), st.bh_runs);
    CHECK_EQ_INT(aio_stat_value(&st, AIO_STAT_notify_skipped),
                 st.notify_skipped);
}

TEST(counter_names_are_unique_wire_names_with_help)
{
    for (int i = 0; i < AIO_STAT__COUNT; i++) {
        const AioStatInfo *a = aio_stat_info((AioStatId)i);

        REQUIRE(a && a->name && a->help);
        /* QMP member style: lower case, digits and dashes. */
        CHECK(strspn(a->name, "abcdefghijklmnopqrstuvwxyz0123456789-") ==
              strlen(a->name));
        CHECK(a->name[0] >= 'a' && a->name[0] <= 'z');
        CHECK(a->help[0] != '\0');
        for (int j = 0; j < i; j++) {
            if (strcmp(a->name, aio_stat_name((AioStatId)j)) == 0) {
                test_fail(__FILE__, __LINE__, "%s twice", a->name);
            }
        }
    }
}

/* Names once released are an interface (scripts read `stats --raw` and
 * query-iothread-stats): a counter may be added, never renamed or
 * dropped.  These are the names of 0.1.0. */
TEST(released_counter_names_are_still_in_the_list)
{
    static const char *const released[] = {
        "iterations",    "blocking-waits", "poll-passes", "poll-hits",
        "poll-misses",   "poll-ns",        "bh-runs",     "fd-dispatches",
        "timers-fired",  "notify-writes",  "notify-skipped",
    };

    for (size_t k = 0; k < sizeof(released) / sizeof(released[0]); k++) {
        bool found = false;

        for (int i = 0; i < AIO_STAT__COUNT; i++) {
            found |= strcmp(aio_stat_name((AioStatId)i), released[k]) == 0;
        }
        if (!found) {
            test_fail(__FILE__, __LINE__, "counter %s is gone", released[k]);
        }
    }
}

/* The snapshot copies each counter into its own field. */
TEST(snapshot_counts_into_the_fields_the_list_names)
{
    AioContext *ctx;
    AioStats st;
    AioBH *bh;

    REQUIRE(aio_context_new(&ctx, AIO_FDMON_POLL) == 0);
    bh = aio_bh_new(ctx, nop, NULL);
    REQUIRE(bh);
    for (int i = 0; i < 3; i++) {
        aio_bh_schedule(bh);
        aio_poll(ctx, false);
    }
    aio_context_get_stats(ctx, &st);
    CHECK_EQ_INT(aio_stat_value(&st, AIO_STAT_bh_runs), 3);
    CHECK_EQ_INT(aio_stat_value(&st, AIO_STAT_iterations), 3);
    CHECK_EQ_INT(aio_stat_value(&st, AIO_STAT_fd_dispatches), 0);
    CHECK_EQ_INT(aio_stat_value(&st, AIO_STAT_timers_fired), 0);
    /* Three schedules, no wait in the kernel: no eventfd write needed. */
    CHECK_EQ_INT(aio_stat_value(&st, AIO_STAT_notify_writes), 0);
    CHECK_EQ_INT(aio_stat_value(&st, AIO_STAT_notify_skipped), 3);
    aio_bh_delete(bh);
    aio_context_free(ctx);
}

/* True when @name occurs in @text as a whole word of a QMP name. */
static bool has_word(const char *text, const char *name)
{
    static const char word[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
    size_t len = strlen(name);

    for (const char *p = text; (p = strstr(p, name)); p++) {
        if ((p == text || !strchr(word, p[-1])) &&
            (p[len] == '\0' || !strchr(word, p[len]))) {
            return true;
        }
    }
    return false;
}

/* The man page of query-iothread-stats names every counter of the list
 * (run from the source tree, as `make check` does). */
TEST(every_counter_is_documented_in_the_qmp_man_page)
{
    static const char path[] = "man/iothreadd-qmp.7";
    FILE *f = fopen(path, "r");
    char *text;
    long len;

    if (!f) {
        test_fail(__FILE__, __LINE__, "cannot open %s (run from the source "
                  "tree): %s", path, strerror(errno));
        return;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    text = calloc(1, (size_t)len + 1);
    REQUIRE(text);
    if (fread(text, 1, (size_t)len, f) != (size_t)len) {
        test_fail(__FILE__, __LINE__, "short read of %s", path);
    }
    fclose(f);
    for (int i = 0; i < AIO_STAT__COUNT; i++) {
        const char *name = aio_stat_name((AioStatId)i);

        if (!has_word(text, name)) {
            test_fail(__FILE__, __LINE__, "%s does not mention %s", path,
                      name);
        }
    }
    free(text);
}
