/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket's default path, shared by the daemon and the CLI.
 */
#ifndef IOTHREADD_COMMON_SOCKET_PATH_H
#define IOTHREADD_COMMON_SOCKET_PATH_H

/*
 * default_socket_path: $IOTHREADD_SOCKET, else /run/iothreadd/qmp.sock as
 * root, else $XDG_RUNTIME_DIR/iothreadd/qmp.sock, else ./run/qmp.sock.
 * Returns a malloc'd string or NULL when out of memory.  Thread-safe as
 * long as nobody changes the environment meanwhile.
 */
char *default_socket_path(void);

#endif /* IOTHREADD_COMMON_SOCKET_PATH_H */
