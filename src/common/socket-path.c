/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where the control socket is by default: the daemon listens there and
 * iothreadctl connects there, so both take it from here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/socket-path.h"

char *default_socket_path(void)
{
    const char *env = getenv("IOTHREADD_SOCKET");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    char *p = NULL;

    if (env && *env) {
        return strdup(env);
    }
    if (geteuid() == 0) {
        return strdup("/run/iothreadd/qmp.sock");
    }
    if (xdg && *xdg) {
        if (asprintf(&p, "%s/iothreadd/qmp.sock", xdg) < 0) {
            return NULL;
        }
        return p;
    }
    /* No runtime dir (a bare container, a cron job): stay unprivileged
     * and local rather than guess a shared place. */
    return strdup("./run/qmp.sock");
}
