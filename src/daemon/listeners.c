/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon/block-objects.h"
#include "daemon/listeners.h"
#include "daemon/log.h"
#include "daemon/socket-setup.h"

/* The path an inherited socket is bound to, for status and logs. */
static char *bound_path(int fd)
{
    struct sockaddr_un addr;
    socklen_t len = sizeof(addr);

    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0 ||
        addr.sun_family != AF_UNIX || len <= offsetof(struct sockaddr_un,
                                                      sun_path) ||
        addr.sun_path[0] == '\0') {
        return strdup("(inherited)");
    }
    addr.sun_path[sizeof(addr.sun_path) - 1] = '\0';
    return strdup(addr.sun_path);
}

static int serve_inherited(Daemon *d, int n, char **names)
{
    int ret = 0;

    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        bool ro = names && names[i] && strcmp(names[i], "ro") == 0;

        if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
            log_err("inherited fd %d is not a listening UNIX stream socket",
                    fd);
            ret = -EINVAL;
            break;
        }
        ret = qmp_server_add_listener(d->server, fd,
                                      ro ? qmp_command_is_read_only : NULL);
        if (ret < 0) {
            break;
        }
        if (!ro && !d->socket_path) {
            d->socket_path = bound_path(fd);
        }
        log_info("serving inherited socket %s%s",
                 ro ? "(read-only) " : "", names && names[i] ? names[i] : "");
    }
    if (!d->socket_path) {
        d->socket_path = strdup("(inherited)");
    }
    return ret;
}

static int create_one(Daemon *d, const char *path, const SocketOptions *so,
                      bool read_only)
{
    char *err = NULL;
    int fd = socket_listen_unix(path, so, &err), ret;

    if (fd < 0) {
        log_err("cannot serve %s: %s", path, err ? err : strerror(-fd));
        free(err);
        return fd;
    }
    ret = qmp_server_add_listener(d->server, fd,
                                  read_only ? qmp_command_is_read_only
                                            : NULL);
    if (ret < 0) {
        log_err("cannot serve %s: %s", path, strerror(-ret));
        close(fd);
        unlink(path);
        return ret;
    }
    return 0;
}

int daemon_open_listeners(Daemon *d, const ListenRequest *req)
{
    SocketOptions so = {.mode = 0600, .group = (gid_t)-1};
    char **names = NULL;
    int n, ret;

    /* unset_environment: our children (none yet) must not inherit them. */
    n = sd_listen_fds_with_names(1, &names);
    if (n < 0) {
        log_err("socket activation: %s", strerror(-n));
        return n;
    }
    if (n > 0) {
        ret = serve_inherited(d, n, names);
        for (int i = 0; names && i < n; i++) {
            free(names[i]);
        }
        free(names);
        return ret;
    }
    if (req->socket_mode && socket_mode_parse(req->socket_mode, &so.mode) <
                                0) {
        log_err("invalid socket mode '%s': expected an octal mode such as "
                "0660", req->socket_mode);
        return -EINVAL;
    }
    if (req->socket_group &&
        socket_group_parse(req->socket_group, &so.group) < 0) {
        log_err("unknown socket group '%s'", req->socket_group);
        return -EINVAL;
    }
    /* The NBD server's UNIX sockets are made the same way. */
    bobj_set_socket_options(d->blk, &so);
    d->socket_path = req->socket ? strdup(req->socket) : default_socket_path();
    if (!d->socket_path) {
        return -ENOMEM;
    }
    ret = create_one(d, d->socket_path, &so, false);
    if (ret < 0) {
        return ret;
    }
    d->socket_created = true;
    if (req->ro_socket) {
        d->ro_socket_path = strdup(req->ro_socket);
        if (!d->ro_socket_path) {
            return -ENOMEM;
        }
        ret = create_one(d, d->ro_socket_path, &so, true);
        if (ret < 0) {
            return ret;
        }
        d->ro_socket_created = true;
    }
    return 0;
}

void daemon_remove_sockets(Daemon *d)
{
    if (d->socket_created) {
        unlink(d->socket_path);
        d->socket_created = false;
    }
    if (d->ro_socket_created) {
        unlink(d->ro_socket_path);
        d->ro_socket_created = false;
    }
}
