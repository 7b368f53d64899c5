/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/proc-stat.h"

/* The fields between the name's closing parenthesis and utime, the 14th
 * (proc(5)): state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt,
 * cminflt, majflt, cmajflt. */
#define FIELDS_BEFORE_UTIME 11

int proc_thread_stat_open(pid_t tid)
{
    char path[64];
    int fd;

    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* Skip one field and the space after it; NULL if the line ends first. */
static const char *skip_field(const char *p)
{
    p = strchr(p, ' ');
    return p ? p + 1 : NULL;
}

/* A decimal number of clock ticks at @p, which must end at a space or the
 * line's end, in nanoseconds; false if it is none or would overflow. */
static bool ticks_to_ns(const char **p, uint64_t ns_per_tick, uint64_t *ns)
{
    const char *s = *p;
    uint64_t v = 0;

    if (*s < '0' || *s > '9') {
        return false;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if ((*s != ' ' && *s != '\n' && *s != '\0') ||
        v > UINT64_MAX / ns_per_tick) {
        return false;
    }
    *ns = v * ns_per_tick;
    *p = s;
    return true;
}

/* utime and stime of the NUL-terminated stat line @buf.  By hand, not
 * sscanf(): a query with every iothread's line pays it 500 times. */
static int parse_stat(const char *buf, uint64_t *user_ns, uint64_t *system_ns)
{
    long ticks = sysconf(_SC_CLK_TCK);
    /* The name in parentheses may contain spaces and parentheses: the
     * last ')' ends it. */
    const char *p = strrchr(buf, ')');

    if (ticks <= 0 || ticks > 1000000000L || !p || p[1] != ' ') {
        return -EIO;
    }
    p += 2;
    for (int i = 0; i < FIELDS_BEFORE_UTIME && p; i++) {
        p = skip_field(p);
    }
    uint64_t ns_per_tick = 1000000000ULL / (uint64_t)ticks;
    if (!p || !ticks_to_ns(&p, ns_per_tick, user_ns) || *p != ' ') {
        return -EIO;
    }
    p++;
    return ticks_to_ns(&p, ns_per_tick, system_ns) ? 0 : -EIO;
}

int proc_thread_stat_read(int fd, uint64_t *user_ns, uint64_t *system_ns)
{
    char buf[1024];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    if (n < 0) {
        return -errno;
    }
    if (n == 0) {
        return -ESRCH;
    }
    buf[n] = '\0';
    return parse_stat(buf, user_ns, system_ns);
}

int proc_thread_cpu_time(pid_t tid, uint64_t *user_ns, uint64_t *system_ns)
{
    int fd = proc_thread_stat_open(tid);
    int ret;

    if (fd < 0) {
        return fd;
    }
    ret = proc_thread_stat_read(fd, user_ns, system_ns);
    close(fd);
    return ret;
}
