/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's log: one line per message on stderr.  Thread-safe (one
 * write(2) per line, so lines from several threads never interleave).
 *
 * Two formats.  For journald, each line starts with the sd-daemon priority
 * ("<3>"), which journald turns into the PRIORITY field.  For everything
 * else (a terminal, a pipe, a file), lines read "iothreadd: message".  By
 * default the journal format is used only when stderr is the journal: the
 * JOURNAL_STREAM variable that systemd sets names stderr's device and inode.
 */
#ifndef IOTHREADD_LOG_H
#define IOTHREADD_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* log_set_level: drop messages less urgent than @level (LOG_ERR ...
 * LOG_DEBUG).  Default LOG_INFO. */
void log_set_level(int level);
int log_get_level(void);

/* log_level_parse: "emerg".."debug" or "0".."7" to a level; -1 if not. */
int log_level_parse(const char *s);

typedef enum LogFormat {
    LOG_FORMAT_AUTO,    /* journal if stderr is the journal, else plain */
    LOG_FORMAT_JOURNAL, /* "<6>message" */
    LOG_FORMAT_PLAIN,   /* "iothreadd: message" */
} LogFormat;

/* log_format_parse: "auto", "journal" or "plain"; -1 if none of them. */
int log_format_parse(const char *s);

/* log_set_format: the format of every later line.  LOG_FORMAT_AUTO (the
 * default) decides with log_stderr_is_journal() at the next message. */
void log_set_format(LogFormat format);

/* log_stderr_is_journal: whether $JOURNAL_STREAM ("DEVICE:INODE", in
 * decimal, as systemd sets it for a service whose stderr goes to journald)
 * names the file that fd 2 is now.  A variable inherited by a process
 * whose stderr was redirected does not match, so the answer is false. */
bool log_stderr_is_journal(void);

void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif /* IOTHREADD_LOG_H */
