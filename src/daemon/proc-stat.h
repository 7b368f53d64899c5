/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What /proc says about the daemon's threads.
 */
#ifndef IOTHREADD_PROC_STAT_H
#define IOTHREADD_PROC_STAT_H

#include <stdint.h>
#include <sys/types.h>

/*
 * proc_thread_cpu_time: user and system CPU time of thread @tid of this
 * process, in nanoseconds, from /proc/self/task/TID/stat.  Returns 0, or
 * -errno (-EIO for a line it cannot parse).  Thread-safe.
 */
int proc_thread_cpu_time(pid_t tid, uint64_t *user_ns, uint64_t *system_ns);

#endif /* IOTHREADD_PROC_STAT_H */
