/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A minimal test harness: TEST() and TEST_FDMON() register cases, main()
 * (in harness.c) runs them and prints one TAP-like line per case, then
 * "N passed, N failed".  A case that takes longer than the watchdog allows
 * (TEST_TIMEOUT_SEC, default 300, scaled by IOTHREAD_TEST_TIMEOUT_SCALE)
 * is reported as hung and the binary aborts, so a hang is a failure with a
 * message rather than a stuck CI run.
 */
#ifndef IOTHREAD_TESTS_HARNESS_H
#define IOTHREAD_TESTS_HARNESS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <iothread/aio.h>

typedef struct TestCase {
    const char *name;
    void (*fn)(void);
    void (*fdmon_fn)(AioFdmon fdmon);
    struct TestCase *next;
} TestCase;

void test_register(TestCase *tc);
/* Record a failure of the running case (it continues; the case fails). */
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The back-ends a TEST_FDMON case runs on: poll, epoll, and io_uring when
 * this kernel allows a ring. */
bool test_fdmon_available(AioFdmon fdmon);
/* Seconds scaled for slow (sanitizer, loaded) builds. */
double test_timeout_scale(void);

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
