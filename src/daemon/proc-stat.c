/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/proc-stat.h"

int proc_thread_cpu_time(pid_t tid, uint64_t *user_ns, uint64_t *system_ns)
{
    char path[64], buf[1024];
    unsigned long long utime, stime;
    long ticks = sysconf(_SC_CLK_TCK);
    ssize_t n;
    char *p;
    int fd;

    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return -EIO;
    }
    buf[n] = '\0';
    /* The name in parentheses may contain spaces: skip past its end. */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &utime, &stime) != 2 || ticks <= 0) {
        return -EIO;
    }
    *user_ns = utime * (1000000000ULL / (unsigned long long)ticks);
    *system_ns = stime * (1000000000ULL / (unsigned long long)ticks);
    return 0;
}
