/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sockets the daemon serves: inherited from systemd (socket
 * activation; a socket named "ro" is read-only), or created here: the
 * control socket and, optionally, a read-only one.  Only sockets created
 * here are ever removed.
 */
#ifndef IOTHREADD_LISTENERS_H
#define IOTHREADD_LISTENERS_H

#include "daemon/daemon.h"

typedef struct ListenRequest {
    const char *socket;       /* NULL: default_socket_path() */
    const char *ro_socket;    /* NULL: none */
    const char *socket_mode;  /* octal string or NULL (0600) */
    const char *socket_group; /* NULL: none */
} ListenRequest;

/*
 * daemon_open_listeners: serve sd_listen_fds()'s sockets if we were
 * activated, else create the requested ones; add them to d->server.
 * Returns 0 or -errno after logging why.
 */
int daemon_open_listeners(Daemon *d, const ListenRequest *req);

/* daemon_remove_sockets: unlink the socket files this process created. */
void daemon_remove_sockets(Daemon *d);

/* qmp_command_is_read_only() as the filter of a read-only listener. */

#endif /* IOTHREADD_LISTENERS_H */
