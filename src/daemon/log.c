/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"

static atomic_int log_level = LOG_INFO;

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

void log_msg(int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    if (level > log_get_level()) {
        return;
    }
    n = snprintf(line, sizeof(line), "<%d>", level);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    n = (int)strlen(line);
    /* Keep each message on one line: journald and scripts split on \n. */
    for (int i = 3; i < n; i++) {
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
