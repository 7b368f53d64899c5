/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A minimal test harness: TEST() and TEST_FDMON() register cases, main()
 * (in harness.c) runs them and prints one TAP-like line per case:
 *     ok - NAME
 *     not ok - NAME: why
 *     ok - NAME # SKIP reason
 * then one final line "N passed, N failed, N skipped".  A skipped case is
 * never counted as passed.
 *
 * Every case runs under a watchdog: a case that takes longer than
 * TEST_TIMEOUT_SEC (300 s, scaled by IOTHREAD_TEST_TIMEOUT_SCALE, or
 * IOTHREAD_TEST_CASE_TIMEOUT seconds exactly) is reported as
 * "not ok - NAME: hung ..." and the binary exits with status 1, so a hang
 * is a failure naming its case rather than a stuck CI run.  Waits for
 * another thread (WAIT_FOR) fail much sooner: when their progress counter
 * stands still for test_stall_sec().
 *
 * A crash prints "not ok - NAME: killed by signal N" where the signal can
 * be caught; IOTHREAD_TEST_VERBOSE=1 prints "# start NAME" before each case
 * for the others.
 *
 * Arguments: an optional substring; only cases whose name contains it run.
 */
#ifndef IOTHREAD_TESTS_HARNESS_H
#define IOTHREAD_TESTS_HARNESS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <iothread/aio.h>

typedef struct TestCase {
    const char *name;
    void (*fn)(void);
    void (*fdmon_fn)(AioFdmon fdmon);
    struct TestCase *next;
} TestCase;

void test_register(TestCase *tc);
/* Record a failure of the running case (it continues; the case fails).
 * Any thread may call it. */
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Mark the running case as skipped, with the reason printed after
 * "# SKIP".  The case should return right after (SKIP() does).  A case
 * that also failed is reported as failed. */
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The back-ends a TEST_FDMON case runs on: poll, epoll, and io_uring when
 * this kernel allows a ring. */
bool test_fdmon_available(AioFdmon fdmon);
/* Seconds scaled for slow (sanitizer, loaded) builds. */
double test_timeout_scale(void);
/* IOTHREAD_TEST_QUICK is set (TSan): stress loops use smaller sizes. */
bool test_quick(void);
/* How long a WAIT_FOR may see no progress before it fails: 10 s, scaled. */
double test_stall_sec(void);

/* Open fds of this process (/proc/self/fd, without the directory's own). */
int test_count_fds(void);
/* Threads of this process that are ours: io_uring's kernel workers
 * ("iou-*") come and go on their own and are not counted. */
int test_count_threads(void);

/* Progress tracking for WAIT_FOR. */
typedef struct TestStall {
    long long progress;
    int64_t since_ns; /* 0 before the first look */
} TestStall;
/* True once @progress has kept its value for test_stall_sec(). */
bool test_stalled(TestStall *s, long long progress);

/*
 * Wait, sleeping, until @cond holds.  @progress is a number that moves
 * while the other side works (items run so far); when it stands still for
 * test_stall_sec() the wait gives up, records a failure with the printf
 * message that follows, and the expression is false.  This is a hang
 * detector, not a speed bound: a slow machine still makes progress.
 */
#define WAIT_FOR(cond, progress, ...)                                          \
    ({                                                                         \
        TestStall stall_ = {0};                                                \
        bool ok_;                                                              \
        while (!(ok_ = (cond)) && !test_stalled(&stall_, (progress))) {        \
            usleep(200);                                                       \
        }                                                                      \
        if (!ok_) {                                                            \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                        \
        }                                                                      \
        ok_;                                                                   \
    })

#define TEST(name_)                                                            \
    static void test_##name_(void);                                           \
    static TestCase tc_##name_ = {.name = #name_, .fn = test_##name_};         \
    __attribute__((constructor)) static void reg_##name_(void)                \
    {                                                                          \
        test_register(&tc_##name_);                                            \
    }                                                                          \
    static void test_##name_(void)

/* A case run once per available fd-monitor back-end, with `fdmon` set. */
#define TEST_FDMON(name_)                                                      \
    static void test_##name_(AioFdmon fdmon);                                 \
    static TestCase tc_##name_ = {.name = #name_, .fdmon_fn = test_##name_};   \
    __attribute__((constructor)) static void reg_##name_(void)                \
    {                                                                          \
        test_register(&tc_##name_);                                            \
    }                                                                          \
    static void test_##name_(AioFdmon fdmon)

/* Skip the running case with a reason, and return from it. */
#define SKIP(...)                                                              \
    do {                                                                       \
        test_skip(__VA_ARGS__);                                                \
        return;                                                                \
    } while (0)

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            test_fail(__FILE__, __LINE__, "expected %s", #cond);               \
        }                                                                      \
    } while (0)

/* Stop the case when @cond fails (for preconditions of later checks). */
#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            test_fail(__FILE__, __LINE__, "required %s", #cond);               \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_EQ_INT(got, want)                                                \
    do {                                                                       \
        long long got_ = (long long)(got), want_ = (long long)(want);          \
        if (got_ != want_) {                                                   \
            test_fail(__FILE__, __LINE__, "%s: expected %lld, got %lld", #got, \
                      want_, got_);                                            \
        }                                                                      \
    } while (0)

#define CHECK_STR(got, want)                                                   \
    do {                                                                       \
        const char *got_ = (got), *want_ = (want);                             \
        if (!got_ || strcmp(got_, want_) != 0) {                               \
            test_fail(__FILE__, __LINE__, "%s: expected \"%s\", got \"%s\"",   \
                      #got, want_, got_ ? got_ : "(null)");                    \
        }                                                                      \
    } while (0)

#endif /* IOTHREAD_TESTS_HARNESS_H */
