/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's log: one line per message on stderr, prefixed with the
 * sd-daemon priority ("<3>"), which journald turns into the priority field
 * and a terminal shows as is.  Thread-safe (one write(2) per line).
 */
#ifndef IOTHREADD_LOG_H
#define IOTHREADD_LOG_H

#include <syslog.h>

/* log_set_level: drop messages less urgent than @level (LOG_ERR ...
 * LOG_DEBUG).  Default LOG_INFO. */
void log_set_level(int level);
int log_get_level(void);

/* log_level_parse: "emerg".."debug" or "0".."7" to a level; -1 if not. */
int log_level_parse(const char *s);

void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif /* IOTHREADD_LOG_H */
