/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CPU list parsing and printing for the cpu-affinity property: see
 * cpulist.h for the grammar.  Kept apart from the IOThread code so that the
 * parser can be tested on its own, against this machine's real affinity.
 */
#include "common/error.h"
#include "common/cpulist.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The CPUs the process may run on: its main thread's affinity. */
static int available_cpus(cpu_set_t *avail)
{
    CPU_ZERO(avail);
    if (sched_getaffinity(getpid(), sizeof(*avail), avail) < 0) {
        return -errno;
    }
    return 0;
}

/*
 * Parse a CPU number at *@pp, advancing *@pp past its digits.  Returns 0,
 * or -EINVAL with *@errp set (the caller has checked that **@pp is a
 * digit).
 */
static int parse_cpu(const char *list, const char **pp, int *cpu, char **errp)
{
    const char *p = *pp;
    const char *start = p;
    long v = 0;

    while (isdigit((unsigned char)*p)) {
        if (v < CPU_SETSIZE) { /* saturate: no overflow, still too big */
            v = v * 10 + (*p - '0');
        }
        p++;
    }
    if (v >= CPU_SETSIZE) {
        error_setf(errp, "invalid cpulist '%s': CPU %.*s is out of range "
                  "(max %d)", list, (int)(p - start), start, CPU_SETSIZE - 1);
        return -EINVAL;
    }
    *cpu = (int)v;
    *pp = p;
    return 0;
}

/* Describe the character at @p, which the grammar does not allow there. */
static void unexpected(const char *list, const char *p, char **errp)
{
    unsigned char c = (unsigned char)*p;

    if (isprint(c)) {
        error_setf(errp, "invalid cpulist '%s': unexpected character '%c' "
                  "at position %d", list, c, (int)(p - list));
    } else {
        error_setf(errp, "invalid cpulist '%s': unexpected character 0x%02x "
                  "at position %d", list, c, (int)(p - list));
    }
}

/*
 * One item at *@pp ("N", "N-M", "^N", "^N-M"), added to @include or
 * @exclude; *@pp is left on the ',' or NUL that ends it.  0 or -EINVAL
 * with *@errp set.
 */
static int parse_item(const char *s, const char **pp, cpu_set_t *include,
                      cpu_set_t *exclude, char **errp)
{
    const char *p = *pp;
    bool negate = false;
    int lo, hi;

    if (*p == ',' || *p == '\0') {
        return error_fail(errp, -EINVAL, "invalid cpulist '%s': empty item "
                          "at position %d", s, (int)(p - s));
    }
    if (*p == 'r') {
        return error_fail(errp, -EINVAL, "invalid cpulist '%s': 'r' must be "
                          "used alone", s);
    }
    if (*p == '^') {
        negate = true;
        p++;
        if (!isdigit((unsigned char)*p)) {
            return error_fail(errp, -EINVAL, "invalid cpulist '%s': expected "
                              "a CPU number after '^' at position %d", s,
                              (int)(p - s));
        }
    } else if (!isdigit((unsigned char)*p)) {
        unexpected(s, p, errp);
        return -EINVAL;
    }
    if (parse_cpu(s, &p, &lo, errp) < 0) {
        return -EINVAL;
    }
    hi = lo;
    if (*p == '-') {
        p++;
        if (*p == '\0' || *p == ',') {
            return error_fail(errp, -EINVAL, "invalid cpulist '%s': range "
                              "without end", s);
        }
        if (!isdigit((unsigned char)*p)) {
            unexpected(s, p, errp);
            return -EINVAL;
        }
        if (parse_cpu(s, &p, &hi, errp) < 0) {
            return -EINVAL;
        }
        if (hi < lo) {
            return error_fail(errp, -EINVAL, "invalid cpulist '%s': reversed "
                              "range %d-%d", s, lo, hi);
        }
    }
    if (*p != ',' && *p != '\0') {
        unexpected(s, p, errp);
        return -EINVAL;
    }
    for (int i = lo; i <= hi; i++) {
        CPU_SET(i, negate ? exclude : include);
    }
    *pp = p;
    return 0;
}

/* The included CPUs minus the excluded ones, which must be some and all
 * available.  0 or -EINVAL with *@errp set. */
static int select_cpus(const char *s, const cpu_set_t *include,
                       const cpu_set_t *exclude, const cpu_set_t *avail,
                       cpu_set_t *result, char **errp)
{
    CPU_ZERO(result);
    for (int i = 0; i < CPU_SETSIZE; i++) {
        if (CPU_ISSET(i, include) && !CPU_ISSET(i, exclude)) {
            CPU_SET(i, result);
        }
    }
    if (CPU_COUNT(result) == 0) {
        return error_fail(errp, -EINVAL, "invalid cpulist '%s': no CPU "
                          "selected", s);
    }
    for (int i = 0; i < CPU_SETSIZE; i++) {
        if (CPU_ISSET(i, result) && !CPU_ISSET(i, avail)) {
            char *av = cpulist_format(avail);

            error_setf(errp, "CPU %d is not available (available: %s)", i,
                       av ? av : "?");
            free(av);
            return -EINVAL;
        }
    }
    return 0;
}

int cpulist_parse(const char *s, cpu_set_t *set, char **errp)
{
    cpu_set_t avail, include, exclude, result;
    const char *p;
    int ret;

    if (errp) {
        *errp = NULL;
    }
    if (!s) {
        s = "";
    }
    ret = available_cpus(&avail);
    if (ret < 0) {
        return error_fail(errp, -EINVAL, "cannot read the process's CPU "
                          "affinity: %s", strerror(-ret));
    }
    if (strcmp(s, "r") == 0) {
        *set = avail;
        return 0;
    }
    if (!*s) {
        return error_fail(errp, -EINVAL, "invalid cpulist '': empty");
    }
    CPU_ZERO(&include);
    CPU_ZERO(&exclude);
    for (p = s;; p++) { /* p++: past the comma; an item must follow */
        if (parse_item(s, &p, &include, &exclude, errp) < 0) {
            return -EINVAL;
        }
        if (*p == '\0') {
            break;
        }
    }
    if (select_cpus(s, &include, &exclude, &avail, &result, errp) < 0) {
        return -EINVAL;
    }
    *set = result;
    return 0;
}

char *cpulist_format(const cpu_set_t *set)
{
    /* Worst case "0,2,4,...": at most CPU_SETSIZE/2 numbers of up to 4
     * digits plus separators; 6 bytes per CPU is ample. */
    size_t cap = (size_t)CPU_SETSIZE * 6 + 1, len = 0;
    char *buf = malloc(cap), *shrunk;
    int i = 0;

    if (!buf) {
        return NULL;
    }
    buf[0] = '\0';
    while (i < CPU_SETSIZE) {
        int start;

        if (!CPU_ISSET(i, set)) {
            i++;
            continue;
        }
        start = i;
        while (i + 1 < CPU_SETSIZE && CPU_ISSET(i + 1, set)) {
            i++;
        }
        if (start == i) {
            len += snprintf(buf + len, cap - len, "%s%d", len ? "," : "",
                            start);
        } else {
            len += snprintf(buf + len, cap - len, "%s%d-%d", len ? "," : "",
                            start, i);
        }
        i++;
    }
    shrunk = realloc(buf, len + 1);
    return shrunk ? shrunk : buf;
}
