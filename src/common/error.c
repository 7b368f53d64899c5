/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "common/error.h"

static void error_vsetf(char **errp, const char *fmt, va_list ap)
{
    if (errp && vasprintf(errp, fmt, ap) < 0) {
        *errp = NULL;
    }
}

void error_setf(char **errp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vsetf(errp, fmt, ap);
    va_end(ap);
}

int error_fail(char **errp, int ret, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vsetf(errp, fmt, ap);
    va_end(ap);
    return ret;
}
