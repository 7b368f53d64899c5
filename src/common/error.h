/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Error messages for the user, as the daemon's modules hand them up: a
 * malloc'd string in *errp that the caller logs or puts in a QMP error.
 */
#ifndef IOTHREADD_ERROR_H
#define IOTHREADD_ERROR_H

/* error_setf: store a formatted message in *@errp (if @errp is not NULL;
 * NULL is stored when out of memory). */
void error_setf(char **errp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* error_fail: error_setf(), then return @ret (a -errno), for
 * `return error_fail(errp, -EINVAL, "...")`. */
int error_fail(char **errp, int ret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* IOTHREADD_ERROR_H */
