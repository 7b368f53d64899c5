/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reporting a broken API contract: the one place where the library writes
 * to stderr, and only to say why it aborts, as assert() does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aio-internal.h"

void aio_contract_fail(const char *fmt, ...)
{
    char msg[512];
    int len = snprintf(msg, sizeof(msg), "libiothread: ");
    va_list ap;

    /* Formatted into one buffer and written with one write(2), so that
     * the line is not interleaved with other threads' output and no stdio
     * lock is taken on the way to abort(). */
    va_start(ap, fmt);
    vsnprintf(msg + len, sizeof(msg) - (size_t)len - 1, fmt, ap);
    va_end(ap);
    len = (int)strlen(msg);
    msg[len++] = '\n';
    if (write(STDERR_FILENO, msg, (size_t)len) < 0) {
        /* Nothing more to try: we abort either way. */
    }
    abort();
}
