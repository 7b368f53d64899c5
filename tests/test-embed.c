/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Embedding a context in another event loop (aio_context_get_fd / prepare
 * / check / dispatch / leave), without GLib: the wake-up protocol seen
 * through the counters, a hand-written poll(2) loop woken from another
 * thread, handlers removed between check and dispatch, and the API's
 * edge.  tests/test-gsource.c drives the same interface from GLib.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iothread/aio.h>
#include <iothread/timer.h>

#include "harness.h"

#define MS 1000000LL

static AioContext *new_embedded(AioFdmon fdmon, int *fd)
{
    AioContext *ctx = NULL;
    int ret = aio_context_new(&ctx, fdmon);

    if (ret < 0) {
        test_fail(__FILE__, __LINE__, "aio_context_new: %d", ret);
        return NULL;
    }
    *fd = aio_context_get_fd(ctx);
    if (*fd < 0) {
        test_fail(__FILE__, __LINE__, "aio_context_get_fd: %d", *fd);
        aio_context_free(ctx);
        return NULL;
    }
    return ctx;
}

static uint64_t notify_writes(AioContext *ctx)
{
    AioStats s;

    aio_context_get_stats(ctx, &s);
    return s.notify_writes;
}

/* One iteration of a minimal outer loop: poll(2) on the context's fd. */
static bool outer_iteration(AioContext *ctx, int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int64_t ns;
    int ms;

    aio_context_prepare(ctx, &ns);
    /* Rounded up: waking early only costs an empty iteration. */
    ms = ns < 0 ? -1 : (int)((ns + MS - 1) / MS);
    while (poll(&pfd, 1, ms) < 0 && errno == EINTR) {
    }
    return aio_context_check(ctx) && aio_context_dispatch(ctx);
}

static int nr_calls;

static void count_call(void *opaque)
{
    nr_calls++;
}

TEST_FDMON(embed_fd_is_the_monitors_and_poll_moves_to_epoll)
{
    AioFdmon want = fdmon == AIO_FDMON_POLL ? AIO_FDMON_EPOLL : fdmon;
    AioContext *ctx;
    int fd;

    REQUIRE((ctx = new_embedded(fdmon, &fd)));
    CHECK_EQ_INT(aio_context_fdmon(ctx), want);
    CHECK_EQ_INT(aio_context_get_fd(ctx), fd);
    CHECK(fcntl(fd, F_GETFD) >= 0);
    aio_context_free(ctx);
}

TEST(embed_auto_context_without_io_uring_moves_from_poll_to_epoll)
{
    AioContext *ctx = NULL;
    const char *was = getenv("LIBIOTHREAD_DISABLE_IO_URING");
    char *saved = was ? strdup(was) : NULL;

    setenv("LIBIOTHREAD_DISABLE_IO_URING", "1", 1);
    REQUIRE(aio_context_new(&ctx, AIO_FDMON_AUTO) == 0);
    if (saved) {
        setenv("LIBIOTHREAD_DISABLE_IO_URING", saved, 1);
        free(saved);
    } else {
        unsetenv("LIBIOTHREAD_DISABLE_IO_URING");
    }
    CHECK_EQ_INT(aio_context_fdmon(ctx), AIO_FDMON_POLL);
    CHECK(aio_context_get_fd(ctx) >= 0);
    CHECK_EQ_INT(aio_context_fdmon(ctx), AIO_FDMON_EPOLL);
    aio_context_free(ctx);
}

TEST(embed_get_fd_refused_when_epoll_cannot_watch_a_handler)
{
    char path[] = "/tmp/test-embed-XXXXXX";
    AioContext *ctx = NULL;
    int file = mkstemp(path);

    REQUIRE(file >= 0);
    unlink(path);
    REQUIRE(aio_context_new(&ctx, AIO_FDMON_POLL) == 0);
    /* poll(2) watches a regular file (always ready); epoll refuses it. */
    CHECK_EQ_INT(aio_set_fd_handler(ctx, file, count_call, NULL, NULL, NULL,
                                    NULL),
                 0);
    CHECK_EQ_INT(aio_context_get_fd(ctx), -EPERM);
    CHECK_EQ_INT(aio_context_fdmon(ctx), AIO_FDMON_POLL);
    nr_calls = 0;
    CHECK(aio_poll(ctx, true)); /* still runs on poll(2) */
    CHECK_EQ_INT(nr_calls, 1);
    CHECK_EQ_INT(aio_set_fd_handler(ctx, file, NULL, NULL, NULL, NULL, NULL),
                 0);
    CHECK(aio_context_get_fd(ctx) >= 0);
    CHECK_EQ_INT(aio_context_fdmon(ctx), AIO_FDMON_EPOLL);
    aio_context_free(ctx);
    close(file);
}

TEST_FDMON(embed_prepare_arms_the_wakeup_check_and_leave_disarm_it)
{
    AioContext *ctx;
    int64_t ns = 42;
    uint64_t w;
    int fd;

    REQUIRE((ctx = new_embedded(fdmon, &fd)));
    CHECK(!aio_context_prepare(ctx, &ns));
    CHECK_EQ_INT(ns, -1); /* nothing to wait for but events */
    /* Armed: a notification writes the eventfd, the fd becomes readable. */
    w = notify_writes(ctx);
    aio_notify(ctx);
    CHECK_EQ_INT(notify_writes(ctx), w + 1);
    CHECK_EQ_INT(poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, -1),
                 1);
    CHECK(aio_context_check(ctx)); /* the wake-up fd is ready */
    CHECK(!aio_context_dispatch(ctx)); /* ... and is not progress */

    /* Disarmed by check: the flag is set, nothing is written. */
    aio_notify(ctx);
    CHECK_EQ_INT(notify_writes(ctx), w + 1);
    CHECK(aio_context_prepare(ctx, &ns)); /* the flag: dispatch now */
    CHECK_EQ_INT(ns, 0);
    CHECK(!aio_context_check(ctx));

    /* Disarmed by leave. */
    CHECK(!aio_context_prepare(ctx, &ns));
    aio_context_leave(ctx);
    aio_notify(ctx);
    CHECK_EQ_INT(notify_writes(ctx), w + 1);
    CHECK(!aio_poll(ctx, false));
    aio_context_free(ctx);
}

static void timer_cb(void *opaque)
{
    (*(int *)opaque)++;
}

TEST_FDMON(embed_blocking_aio_poll_between_prepare_and_check_keeps_it_armed)
{
    AioContext *ctx;
    AioTimer *t;
    int fired = 0;
    uint64_t w;
    int fd;

    REQUIRE((ctx = new_embedded(fdmon, &fd)));
    t = aio_timer_new(ctx, AIO_CLOCK_MONOTONIC, timer_cb, &fired);
    REQUIRE(t);
    aio_context_prepare(ctx, NULL);
    /* E.g. from another source's callback: a wait of its own, which
     * raises notify_me and lowers it again. */
    aio_timer_mod_in(t, 1 * MS);
    while (!fired) {
        aio_poll(ctx, true);
    }
    w = notify_writes(ctx);
    aio_notify(ctx);
    CHECK_EQ_INT(notify_writes(ctx), w + 1); /* the outer loop still sleeps */
    aio_context_check(ctx);
    aio_context_dispatch(ctx);
    aio_timer_free(t);
    aio_context_free(ctx);
}

/* ---- a poll(2) loop woken from another thread ---- */

typedef struct Cross {
    AioContext *ctx;
    AioBH *bh;
    int rounds;
    atomic_int ran; /* written by the home thread */
} Cross;

static void cross_bh(void *opaque)
{
    Cross *x = opaque;

    atomic_store(&x->ran, atomic_load(&x->ran) + 1);
}

/* Schedules round i once round i - 1 has run: every BH must wake the
 * outer loop by itself, as nothing else ever does. */
static void *cross_producer(void *opaque)
{
    Cross *x = opaque;

    for (int i = 0; i < x->rounds; i++) {
        while (atomic_load(&x->ran) != i) {
            sched_yield();
        }
        if (i % 8 == 0) {
            usleep(50); /* most likely asleep in poll(2) by now */
        }
        aio_bh_schedule(x->bh);
    }
    return NULL;
}

TEST_FDMON(embed_poll_loop_woken_by_bhs_from_another_thread)
{
    Cross x = {.rounds = getenv("IOTHREAD_TEST_QUICK") ? 500 : 5000};
    pthread_t t;
    int fd;

    REQUIRE((x.ctx = new_embedded(fdmon, &fd)));
    x.bh = aio_bh_new(x.ctx, cross_bh, &x);
    pthread_create(&t, NULL, cross_producer, &x);
    while (atomic_load(&x.ran) < x.rounds) {
        outer_iteration(x.ctx, fd); /* a lost wake-up hangs here */
    }
    pthread_join(t, NULL);
    CHECK_EQ_INT(atomic_load(&x.ran), x.rounds);
    aio_bh_delete(x.bh);
    aio_context_leave(x.ctx);
    aio_poll(x.ctx, false);
    aio_context_free(x.ctx);
}

TEST_FDMON(embed_poll_loop_timer_never_early)
{
    AioContext *ctx;
    AioTimer *t;
    int fired = 0;
    int64_t deadline;
    int fd;

    REQUIRE((ctx = new_embedded(fdmon, &fd)));
    t = aio_timer_new(ctx, AIO_CLOCK_MONOTONIC, timer_cb, &fired);
    REQUIRE(t);
    deadline = aio_clock_now(AIO_CLOCK_MONOTONIC) + 20 * MS;
    aio_timer_mod(t, deadline);
    while (!fired) {
        outer_iteration(ctx, fd);
    }
    CHECK(aio_clock_now(AIO_CLOCK_MONOTONIC) >= deadline);
    CHECK_EQ_INT(fired, 1);
    aio_timer_free(t);
    aio_context_free(ctx);
}

/* ---- handlers removed between check and dispatch ---- */

typedef struct Pipe {
    int fd[2];
    int calls;
} Pipe;

static void pipe_read(void *opaque)
{
    Pipe *p = opaque;
    char c;

    p->calls += read(p->fd[0], &c, 1) == 1;
}

TEST_FDMON(embed_handler_removed_between_check_and_dispatch_is_not_run)
{
    Pipe a = {0}, b = {0};
    AioContext *ctx;
    int fd;

    REQUIRE((ctx = new_embedded(fdmon, &fd)));
    REQUIRE(pipe(a.fd) == 0 && pipe(b.fd) == 0);
    aio_set_fd_handler(ctx, a.fd[0], pipe_read, NULL, NULL, NULL, &a);
    aio_set_fd_handler(ctx, b.fd[0], pipe_read, NULL, NULL, NULL, &b);
    CHECK(write(a.fd[1], "x", 1) == 1 && write(b.fd[1], "x", 1) == 1);
    aio_context_prepare(ctx, NULL);
    CHECK_EQ_INT(poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, -1),
                 1);
    CHECK(aio_context_check(ctx));
    /* What another GLib source dispatched in between may do. */
    aio_set_fd_handler(ctx, b.fd[0], NULL, NULL, NULL, NULL, NULL);
    CHECK(aio_context_dispatch(ctx));
    CHECK_EQ_INT(a.calls, 1);
    CHECK_EQ_INT(b.calls, 0);

    /* And a check whose dispatch never comes: leave drops it. */
    CHECK(write(a.fd[1], "x", 1) == 1);
    aio_context_prepare(ctx, NULL);
    CHECK(aio_context_check(ctx));
    aio_context_leave(ctx);
    CHECK_EQ_INT(a.calls, 1);
    CHECK(aio_poll(ctx, false)); /* level-triggered: found again */
    CHECK_EQ_INT(a.calls, 2);

    aio_set_fd_handler(ctx, a.fd[0], NULL, NULL, NULL, NULL, NULL);
    aio_context_free(ctx);
    for (int i = 0; i < 2; i++) {
        close(a.fd[i]);
        close(b.fd[i]);
    }
}

/* ---- busy polling that aio_poll() left on ---- */

typedef struct Polled {
    Pipe p;
    int begins, ends;
} Polled;

static bool polled_poll(void *opaque)
{
    Polled *x = opaque;
    struct pollfd pfd = {.fd = x->p.fd[0], .events = POLLIN};

    return poll(&pfd, 1, 0) == 1;
}

static void polled_begin(void *opaque)
{
    ((Polled *)opaque)->begins++;
}

static void polled_end(void *opaque)
{
    ((Polled *)opaque)->ends++;
}

TEST_FDMON(embed_prepare_ends_busy_polling_left_on_by_aio_poll)
{
    Polled x = {0};
    AioContext *ctx;
    int fd;

    REQUIRE((ctx = new_embedded(fdmon, &fd)));
    REQUIRE(pipe(x.p.fd) == 0);
    aio_set_fd_handler(ctx, x.p.fd[0], pipe_read, NULL, polled_poll,
                       pipe_read, &x);
    aio_set_fd_poll(ctx, x.p.fd[0], polled_begin, polled_end);
    /* Once its window has grown, polling finds the byte and aio_poll()
     * returns still polling (begun, not ended). */
    for (int i = 0; i < 100 && x.begins == x.ends; i++) {
        CHECK(write(x.p.fd[1], "x", 1) == 1);
        CHECK(aio_poll(ctx, true));
    }
    REQUIRE(x.begins == x.ends + 1);
    /* The handler must signal its fd again while the outer loop sleeps. */
    aio_context_prepare(ctx, NULL);
    CHECK_EQ_INT(x.ends, x.begins);
    aio_context_check(ctx);
    aio_context_dispatch(ctx);
    aio_set_fd_handler(ctx, x.p.fd[0], NULL, NULL, NULL, NULL, NULL);
    aio_context_free(ctx);
    close(x.p.fd[0]);
    close(x.p.fd[1]);
}

/* ---- the edge ---- */

TEST(embed_functions_answer_null)
{
    int64_t ns = 42;

    CHECK_EQ_INT(aio_context_get_fd(NULL), -EINVAL);
    CHECK(!aio_context_prepare(NULL, &ns));
    CHECK_EQ_INT(ns, 42);
    CHECK(!aio_context_check(NULL));
    CHECK(!aio_context_dispatch(NULL));
    aio_context_leave(NULL);
}

TEST(embed_prepare_without_an_fd_aborts_naming_it)
{
    int pfd[2];
    char err[512] = "";
    int status = 0;
    pid_t pid;

    REQUIRE(pipe(pfd) == 0);
    fflush(NULL);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        AioContext *ctx = NULL;

        dup2(pfd[1], STDERR_FILENO);
        if (aio_context_new(&ctx, AIO_FDMON_POLL) < 0) {
            _exit(99);
        }
        aio_context_prepare(ctx, NULL); /* still on poll(2): no fd */
        _exit(0);
    }
    close(pfd[1]);
    for (size_t len = 0; len < sizeof(err) - 1;) {
        ssize_t n = read(pfd[0], err + len, sizeof(err) - 1 - len);

        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    close(pfd[0]);
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(strstr(err, "libiothread: aio_context_prepare(") != NULL);
    CHECK(strstr(err, "aio_context_get_fd()") != NULL);
}
