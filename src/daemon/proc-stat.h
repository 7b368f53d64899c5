/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What /proc says about the daemon's threads.
 */
#ifndef IOTHREADD_PROC_STAT_H
#define IOTHREADD_PROC_STAT_H

#include <stdint.h>
#include <sys/types.h>

/*
 * proc_thread_stat_open: open /proc/self/task/TID/stat of thread @tid of
 * this process (close-on-exec), for proc_thread_stat_read().  The file
 * stays bound to that thread, not to the number: once the thread is gone
 * it reads nothing, even if @tid is reused.  Returns the fd, which the
 * caller owns, or -errno.  Thread-safe.
 */
int proc_thread_stat_open(pid_t tid);

/*
 * proc_thread_stat_read: user and system CPU time, in nanoseconds, of the
 * thread whose stat file @fd is (proc_thread_stat_open()), read afresh
 * from its start with pread(): the kernel writes the line anew for every
 * read, so one fd serves every query without an open() and close() each.
 * Returns 0, or -errno (-EIO for a line it cannot parse, -ESRCH once the
 * thread is gone).  Thread-safe for distinct fds.
 */
int proc_thread_stat_read(int fd, uint64_t *user_ns, uint64_t *system_ns);

/*
 * proc_thread_cpu_time: the same for thread @tid of this process, opening
 * and closing its stat file.  Returns 0 or -errno as above.  Thread-safe.
 */
int proc_thread_cpu_time(pid_t tid, uint64_t *user_ns, uint64_t *system_ns);

#endif /* IOTHREADD_PROC_STAT_H */
