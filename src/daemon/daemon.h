/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The supervisor's state, shared by main.c, the QMP commands and reload.
 * Main thread only.
 */
#ifndef IOTHREADD_DAEMON_H
#define IOTHREADD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include <iothread/aio.h>

#include "daemon/config-file.h"
#include "daemon/registry.h"
#include "qmp/server.h"

#define IOTHREADD_VERSION_MAJOR 0
#define IOTHREADD_VERSION_MINOR 1
#define IOTHREADD_VERSION_MICRO 0

typedef struct Daemon {
    AioContext *ctx;
    QmpServer *server;
    Registry *registry;
    struct BlockObjects *blk; /* block nodes, the NBD server, exports */
    const char *config_path; /* NULL: no config file */
    const char *state_path;  /* --state-file, or NULL */
    bool state_ready;        /* restored: save on every change */
    DaemonConfig config;     /* as last loaded (defaults without a file) */
    char *socket_path;       /* the control socket, for status and logs */
    bool socket_created;     /* we made it, so we remove it */
    char *ro_socket_path;    /* --ro-socket, or NULL */
    bool ro_socket_created;
    struct Service *service; /* systemd notifications and watchdog */
    int64_t start_ns;        /* CLOCK_MONOTONIC */
    bool quit;               /* leave the main loop */
    unsigned max_stall_ms;   /* cap of x-debug-iothread-stall */
    const char *quit_reason; /* QEMU's SHUTDOWN reason */
} Daemon;

/* The greeting's and query-version's "version" member. */
json_t *daemon_version_json(void);

/*
 * daemon_reload: re-read the config file and apply the difference to the
 * iothreads the config file made (create, retune, delete), all or nothing.
 * Returns 0, or -errno with *@errp (malloc'd) saying why nothing changed.
 */
int daemon_reload(Daemon *d, char **errp);

/* daemon_request_quit: leave the main loop after the current iteration. */
void daemon_request_quit(Daemon *d, const char *reason);

/* daemon_qmp_log: the QmpLogFn that sends the QMP server's diagnostics
 * to the daemon's log. */
void daemon_qmp_log(void *opaque, int level, const char *msg);

/* qmp_dispatch_command: the QmpDispatchFn for the daemon's commands
 * (daemon_qmp_commands[] in qmp-commands.c); @opaque is the Daemon. */
void qmp_dispatch_command(void *opaque, QmpRequest *req, const char *command,
                          json_t *args);

/* True for commands that only read state (the read-only socket). */
bool qmp_command_is_read_only(const char *command);

#endif /* IOTHREADD_DAEMON_H */
