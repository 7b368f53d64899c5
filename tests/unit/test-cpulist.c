/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the cpu-affinity list parser and printer (cpulist.h).
 * Expectations that depend on the machine are derived from the process's
 * real affinity (sched_getaffinity), never hard-coded, so the tests pass on
 * any number of CPUs and under taskset.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness.h"

#include "common/cpulist.h"

static cpu_set_t avail;
static int avail_first = -1, avail_second = -1, unavail_first = -1;

static void load_avail(void)
{
    CPU_ZERO(&avail);
    if (sched_getaffinity(0, sizeof(avail), &avail) < 0) {
        abort();
    }
    avail_first = avail_second = unavail_first = -1;
    for (int i = 0; i < CPU_SETSIZE; i++) {
        if (CPU_ISSET(i, &avail)) {
            if (avail_first < 0) {
                avail_first = i;
            } else if (avail_second < 0) {
                avail_second = i;
            }
        } else if (unavail_first < 0) {
            unavail_first = i;
        }
    }
}

/* Parse @s, expecting success with canonical form @want. */
static void expect_ok(const char *file, int line, const char *s,
                      const char *want)
{
    cpu_set_t set;
    char *err = (char *)"sentinel";
    char *got;
    int ret;

    CPU_ZERO(&set);
    ret = cpulist_parse(s, &set, &err);
    if (ret != 0) {
        test_fail(file, line, "cpulist_parse(\"%s\") = %d: %s", s, ret,
                  err ? err : "(null)");
        free(err);
        return;
    }
    if (err) {
        test_fail(file, line, "cpulist_parse(\"%s\") left errp set", s);
    }
    got = cpulist_format(&set);
    if (!got || strcmp(got, want) != 0) {
        test_fail(file, line, "cpulist_parse(\"%s\") -> \"%s\", want \"%s\"",
                  s, got ? got : "(null)", want);
    }
    free(got);
}

/* Parse @s, expecting -EINVAL, message @want and *set unchanged. */
static void expect_err(const char *file, int line, const char *s,
                       const char *want)
{
    cpu_set_t set, orig;
    char *err = NULL;
    int ret;

    CPU_ZERO(&set);
    CPU_SET(3, &set);
    CPU_SET(CPU_SETSIZE - 1, &set);
    orig = set;
    ret = cpulist_parse(s, &set, &err);
    if (ret != -EINVAL) {
        test_fail(file, line, "cpulist_parse(\"%s\") = %d, want -EINVAL", s,
                  ret);
    }
    if (!err || strcmp(err, want) != 0) {
        test_fail(file, line, "cpulist_parse(\"%s\") error \"%s\", want "
                  "\"%s\"", s, err ? err : "(null)", want);
    }
    if (!CPU_EQUAL(&set, &orig)) {
        test_fail(file, line, "cpulist_parse(\"%s\") changed *set on error",
                  s);
    }
    free(err);
}

#define EXPECT_OK(s, want) expect_ok(__FILE__, __LINE__, (s), (want))
#define EXPECT_ERR(s, want) expect_err(__FILE__, __LINE__, (s), (want))

TEST(format_canonical)
{
    cpu_set_t set;
    char *s;

    CPU_ZERO(&set);
    s = cpulist_format(&set);
    CHECK_STR(s, "");
    free(s);

    CPU_SET(0, &set);
    CPU_SET(1, &set);
    CPU_SET(2, &set);
    CPU_SET(3, &set);
    CPU_SET(5, &set);
    s = cpulist_format(&set);
    CHECK_STR(s, "0-3,5");
    free(s);

    CPU_ZERO(&set);
    CPU_SET(7, &set);
    s = cpulist_format(&set);
    CHECK_STR(s, "7");
    free(s);

    CPU_ZERO(&set);
    CPU_SET(1, &set);
    CPU_SET(3, &set);
    CPU_SET(4, &set);
    s = cpulist_format(&set);
    CHECK_STR(s, "1,3-4");
    free(s);

    CPU_ZERO(&set);
    CPU_SET(CPU_SETSIZE - 2, &set);
    CPU_SET(CPU_SETSIZE - 1, &set);
    s = cpulist_format(&set);
    {
        char want[32];

        snprintf(want, sizeof(want), "%d-%d", CPU_SETSIZE - 2,
                 CPU_SETSIZE - 1);
        CHECK_STR(s, want);
    }
    free(s);

    CPU_ZERO(&set);
    for (int i = 0; i < CPU_SETSIZE; i++) {
        CPU_SET(i, &set);
    }
    s = cpulist_format(&set);
    {
        char want[32];

        snprintf(want, sizeof(want), "0-%d", CPU_SETSIZE - 1);
        CHECK_STR(s, want);
    }
    free(s);
}

TEST(format_worst_case_length)
{
    cpu_set_t set;
    char *s, *p;
    int n = 0, expect = 0;

    CPU_ZERO(&set);
    for (int i = 0; i < CPU_SETSIZE; i += 2) {
        CPU_SET(i, &set);
    }
    s = cpulist_format(&set);
    REQUIRE(s);
    CHECK(strncmp(s, "0,2,4,", 6) == 0);
    /* every even number, in order, separated by commas */
    p = s;
    for (;;) {
        char *end;
        long v = strtol(p, &end, 10);

        CHECK_EQ_INT(v, expect);
        expect += 2;
        n++;
        if (*end != ',') {
            CHECK(*end == '\0');
            break;
        }
        p = end + 1;
    }
    CHECK_EQ_INT(n, CPU_SETSIZE / 2);
    free(s);
}

TEST(parse_r_is_all_available)
{
    char *want;

    load_avail();
    want = cpulist_format(&avail);
    REQUIRE(want);
    EXPECT_OK("r", want);
    /* the canonical form parses back to itself */
    EXPECT_OK(want, want);
    free(want);
}

TEST(parse_single_and_ranges)
{
    char s[64], want[64];

    load_avail();
    REQUIRE(avail_first >= 0);
    snprintf(s, sizeof(s), "%d", avail_first);
    EXPECT_OK(s, s);
    snprintf(s, sizeof(s), "%d-%d", avail_first, avail_first);
    snprintf(want, sizeof(want), "%d", avail_first);
    EXPECT_OK(s, want);
    snprintf(s, sizeof(s), "%d,%d", avail_first, avail_first);
    EXPECT_OK(s, want);
    snprintf(s, sizeof(s), "00%d", avail_first); /* leading zeros */
    EXPECT_OK(s, want);

    if (avail_second < 0) {
        return; /* one CPU: nothing more to combine */
    }
    snprintf(s, sizeof(s), "%d,%d", avail_second, avail_first);
    if (avail_second == avail_first + 1) {
        snprintf(want, sizeof(want), "%d-%d", avail_first, avail_second);
    } else {
        snprintf(want, sizeof(want), "%d,%d", avail_first, avail_second);
    }
    EXPECT_OK(s, want);
    if (avail_second == avail_first + 1) {
        snprintf(s, sizeof(s), "%d-%d", avail_first, avail_second);
        EXPECT_OK(s, want);
        snprintf(s, sizeof(s), "%d-%d,%d", avail_first, avail_second,
                 avail_first);
        EXPECT_OK(s, want);
    }
}

TEST(parse_exclusions)
{
    char s[96], want[32];

    load_avail();
    REQUIRE(avail_first >= 0);
    snprintf(want, sizeof(want), "%d", avail_first);
    if (avail_second >= 0) {
        /* exclusions apply after inclusions, wherever they are */
        snprintf(s, sizeof(s), "%d,%d,^%d", avail_first, avail_second,
                 avail_second);
        EXPECT_OK(s, want);
        snprintf(s, sizeof(s), "^%d,%d,%d", avail_second, avail_first,
                 avail_second);
        EXPECT_OK(s, want);
        snprintf(s, sizeof(s), "%d-%d,^%d-%d", avail_first, avail_second,
                 avail_first + 1, avail_second);
        EXPECT_OK(s, want);
    }
    /* excluding a CPU that is not available is harmless */
    if (unavail_first >= 0) {
        snprintf(s, sizeof(s), "%d,^%d", avail_first, unavail_first);
        EXPECT_OK(s, want);
        snprintf(s, sizeof(s), "%d,%d,^%d", avail_first, unavail_first,
                 unavail_first);
        EXPECT_OK(s, want);
    }
    snprintf(s, sizeof(s), "%d,^%d", avail_first, CPU_SETSIZE - 1);
    if (!CPU_ISSET(CPU_SETSIZE - 1, &avail)) {
        EXPECT_OK(s, want);
    }
}

TEST(parse_syntax_errors)
{
    char s[64], want[160];

    EXPECT_ERR("", "invalid cpulist '': empty");
    EXPECT_ERR("0-", "invalid cpulist '0-': range without end");
    EXPECT_ERR("0-,1", "invalid cpulist '0-,1': range without end");
    EXPECT_ERR("^1-", "invalid cpulist '^1-': range without end");
    EXPECT_ERR("0,,1", "invalid cpulist '0,,1': empty item at position 2");
    EXPECT_ERR("0,", "invalid cpulist '0,': empty item at position 2");
    EXPECT_ERR(",0", "invalid cpulist ',0': empty item at position 0");
    EXPECT_ERR(",", "invalid cpulist ',': empty item at position 0");
    EXPECT_ERR("3-1", "invalid cpulist '3-1': reversed range 3-1");
    EXPECT_ERR("^3-1", "invalid cpulist '^3-1': reversed range 3-1");
    EXPECT_ERR(" 0",
               "invalid cpulist ' 0': unexpected character ' ' at position 0");
    EXPECT_ERR("0 ",
               "invalid cpulist '0 ': unexpected character ' ' at position 1");
    EXPECT_ERR("0, 1",
               "invalid cpulist '0, 1': unexpected character ' ' at "
               "position 2");
    EXPECT_ERR("0\t",
               "invalid cpulist '0\t': unexpected character 0x09 at "
               "position 1");
    EXPECT_ERR("0x1",
               "invalid cpulist '0x1': unexpected character 'x' at position 1");
    EXPECT_ERR("0-a",
               "invalid cpulist '0-a': unexpected character 'a' at position 2");
    EXPECT_ERR("0--1",
               "invalid cpulist '0--1': unexpected character '-' at "
               "position 2");
    EXPECT_ERR("-1",
               "invalid cpulist '-1': unexpected character '-' at position 0");
    EXPECT_ERR("0-1-2",
               "invalid cpulist '0-1-2': unexpected character '-' at "
               "position 3");
    EXPECT_ERR("all",
               "invalid cpulist 'all': unexpected character 'a' at "
               "position 0");
    EXPECT_ERR("^", "invalid cpulist '^': expected a CPU number after '^' "
                    "at position 1");
    EXPECT_ERR("0,^^1", "invalid cpulist '0,^^1': expected a CPU number "
                        "after '^' at position 3");
    EXPECT_ERR("r,0", "invalid cpulist 'r,0': 'r' must be used alone");
    EXPECT_ERR("0,r", "invalid cpulist '0,r': 'r' must be used alone");
    EXPECT_ERR("R", "invalid cpulist 'R': unexpected character 'R' at "
                    "position 0");

    /* numbers past CPU_SETSIZE, including ones that overflow a long */
    snprintf(s, sizeof(s), "%d", CPU_SETSIZE);
    snprintf(want, sizeof(want),
             "invalid cpulist '%d': CPU %d is out of range (max %d)",
             CPU_SETSIZE, CPU_SETSIZE, CPU_SETSIZE - 1);
    EXPECT_ERR(s, want);
    snprintf(want, sizeof(want),
             "invalid cpulist '0-99999999999999999999999': CPU "
             "99999999999999999999999 is out of range (max %d)",
             CPU_SETSIZE - 1);
    EXPECT_ERR("0-99999999999999999999999", want);
    snprintf(s, sizeof(s), "0,^%d", CPU_SETSIZE);
    snprintf(want, sizeof(want),
             "invalid cpulist '0,^%d': CPU %d is out of range (max %d)",
             CPU_SETSIZE, CPU_SETSIZE, CPU_SETSIZE - 1);
    EXPECT_ERR(s, want);
}

TEST(parse_empty_result)
{
    EXPECT_ERR("^0", "invalid cpulist '^0': no CPU selected");
    EXPECT_ERR("0,^0", "invalid cpulist '0,^0': no CPU selected");
    EXPECT_ERR("0-3,^0-3", "invalid cpulist '0-3,^0-3': no CPU selected");
}

TEST(parse_unavailable_cpu)
{
    char s[64], want[256], *av;

    load_avail();
    av = cpulist_format(&avail);
    REQUIRE(av);
    if (unavail_first >= 0) {
        snprintf(s, sizeof(s), "%d", unavail_first);
        snprintf(want, sizeof(want), "CPU %d is not available (available: "
                 "%s)", unavail_first, av);
        EXPECT_ERR(s, want);
        /* the first unavailable CPU of the final set is the one named */
        snprintf(s, sizeof(s), "%d-%d", avail_first, CPU_SETSIZE - 1);
        EXPECT_ERR(s, want);
    }
    if (!CPU_ISSET(CPU_SETSIZE - 1, &avail)) {
        snprintf(s, sizeof(s), "%d", CPU_SETSIZE - 1);
        snprintf(want, sizeof(want), "CPU %d is not available (available: "
                 "%s)", CPU_SETSIZE - 1, av);
        EXPECT_ERR(s, want);
    }
    free(av);
}

TEST(parse_errp_null_and_reset)
{
    cpu_set_t set;
    char *err = (char *)"sentinel";

    CHECK_EQ_INT(cpulist_parse("0-", &set, NULL), -EINVAL);
    CHECK_EQ_INT(cpulist_parse("r", &set, NULL), 0);
    CHECK_EQ_INT(cpulist_parse("r", &set, &err), 0);
    CHECK(err == NULL);
    CHECK_EQ_INT(cpulist_parse(NULL, &set, &err), -EINVAL);
    CHECK_STR(err, "invalid cpulist '': empty");
    free(err);
}

/*
 * The available set is the process's affinity: pin a child process to one
 * CPU and check that "r" and the "not available" message follow.
 */
TEST(parse_follows_process_affinity)
{
    pid_t pid;
    int status;

    load_avail();
    if (avail_second < 0) {
        /* Nothing to narrow the affinity to: nothing to prove here. */
        SKIP("needs two available CPUs, this process has one");
    }
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        cpu_set_t one, set;
        char *err = NULL, s[32], want[96], *got;
        int bad = 0;

        CPU_ZERO(&one);
        CPU_SET(avail_second, &one);
        if (sched_setaffinity(0, sizeof(one), &one) < 0) {
            _exit(2);
        }
        if (cpulist_parse("r", &set, &err) != 0) {
            bad |= 4;
        }
        got = cpulist_format(&set);
        snprintf(want, sizeof(want), "%d", avail_second);
        if (!got || strcmp(got, want) != 0) {
            bad |= 8;
        }
        free(got);
        snprintf(s, sizeof(s), "%d", avail_first);
        snprintf(want, sizeof(want), "CPU %d is not available (available: "
                 "%d)", avail_first, avail_second);
        if (cpulist_parse(s, &set, &err) != -EINVAL || !err ||
            strcmp(err, want) != 0) {
            bad |= 16;
        }
        free(err);
        _exit(bad);
    }
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 0);
}
