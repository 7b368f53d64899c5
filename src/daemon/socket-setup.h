/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where the control socket lives and how it is created: the default path,
 * its directory, a stale socket left by a dead daemon, mode and group.
 */
#ifndef IOTHREADD_SOCKET_SETUP_H
#define IOTHREADD_SOCKET_SETUP_H

#include <sys/types.h>

#include "common/socket-path.h"


typedef struct SocketOptions {
    mode_t mode;   /* of the socket; 0600 by default */
    gid_t group;   /* (gid_t)-1: none; else the socket and the directory
                      we create get this group, the directory 0750 */
} SocketOptions;

/*
 * socket_listen_unix: create @path's directory if missing (0700, or 0750
 * with a group), replace a stale socket nobody serves, bind and listen.
 * Returns the listening fd, or -errno with *@errp (malloc'd) explaining,
 * e.g. "already running" when a live daemon serves @path.
 */
int socket_listen_unix(const char *path, const SocketOptions *opts,
                       char **errp);

/* socket_mode_parse: an octal mode such as "0660" (at most 0777).
 * Returns 0 or -EINVAL. */
int socket_mode_parse(const char *s, mode_t *mode);

/* socket_group_parse: a group name or number.  Returns 0 or -ENOENT. */
int socket_group_parse(const char *s, gid_t *gid);

#endif /* IOTHREADD_SOCKET_SETUP_H */
