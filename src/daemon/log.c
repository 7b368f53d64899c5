/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/log.h"

/* What plain lines start with. */
#define LOG_IDENT "iothreadd"

static atomic_int log_level = LOG_INFO;
/* A LogFormat; AUTO until the first message decides (log_format_now()). */
static atomic_int log_format = LOG_FORMAT_AUTO;

static const char *const format_names[] = {
    [LOG_FORMAT_AUTO] = "auto",
    [LOG_FORMAT_JOURNAL] = "journal",
    [LOG_FORMAT_PLAIN] = "plain",
};

static const char *const level_names[] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

void log_set_level(int level)
{
    atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

int log_get_level(void)
{
    return atomic_load_explicit(&log_level, memory_order_relaxed);
}

int log_level_parse(const char *s)
{
    if (!s) {
        return -1;
    }
    if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0') {
        return s[0] - '0';
    }
    for (int i = 0; i < 8; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            return i;
        }
    }
    if (strcmp(s, "error") == 0) {
        return LOG_ERR;
    }
    if (strcmp(s, "warn") == 0) {
        return LOG_WARNING;
    }
    return -1;
}

int log_format_parse(const char *s)
{
    for (int i = 0; s && i < (int)(sizeof(format_names) /
                                   sizeof(format_names[0])); i++) {
        if (strcmp(s, format_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void log_set_format(LogFormat format)
{
    atomic_store_explicit(&log_format, (int)format, memory_order_relaxed);
}

/* An unsigned decimal number of the variable, up to @end_char. */
static bool parse_decimal(const char **p, char end_char,
                          unsigned long long *value)
{
    char *end;

    if (**p < '0' || **p > '9') {
        return false;
    }
    errno = 0;
    *value = strtoull(*p, &end, 10);
    if (errno != 0 || *end != end_char) {
        return false;
    }
    *p = end + 1;
    return true;
}

bool log_stderr_is_journal(void)
{
    const char *p = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (!p || !parse_decimal(&p, ':', &dev) ||
        !parse_decimal(&p, '\0', &ino)) {
        return false;
    }
    if (fstat(STDERR_FILENO, &st) < 0) {
        return false;
    }
    return (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

/* The format of the next line.  AUTO is decided once, at the first
 * message: stderr does not change under a running daemon.  Threads racing
 * here compute the same answer; an explicit log_set_format() wins. */
static LogFormat log_format_now(void)
{
    int format = atomic_load_explicit(&log_format, memory_order_relaxed);
    int expected = LOG_FORMAT_AUTO;

    if (format != LOG_FORMAT_AUTO) {
        return (LogFormat)format;
    }
    format = log_stderr_is_journal() ? LOG_FORMAT_JOURNAL : LOG_FORMAT_PLAIN;
    if (!atomic_compare_exchange_strong_explicit(&log_format, &expected,
                                                 format, memory_order_relaxed,
                                                 memory_order_relaxed) &&
        expected != LOG_FORMAT_AUTO) {
        format = expected;
    }
    return (LogFormat)format;
}

void log_msg(int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n, start;

    if (level > log_get_level()) {
        return;
    }
    if (log_format_now() == LOG_FORMAT_JOURNAL) {
        start = snprintf(line, sizeof(line), "<%d>", level);
    } else {
        start = snprintf(line, sizeof(line), "%s: ", LOG_IDENT);
    }
    va_start(ap, fmt);
    vsnprintf(line + start, sizeof(line) - (size_t)start - 1, fmt, ap);
    va_end(ap);
    n = (int)strlen(line);
    /* Keep each message on one line: journald and scripts split on \n. */
    for (int i = start; i < n; i++) {
        if (line[i] == '\n' || line[i] == '\r') {
            line[i] = ' ';
        }
    }
    line[n++] = '\n';
    /* One write, so that lines from several threads never interleave. */
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nowhere left to report it */
    }
}
