/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP commands about the daemon itself: version, command list, status,
 * quit, reload, and the x-debug-* aids the tests use.
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "daemon/qmp-commands.h"

void cmd_query_version(void *opaque, QmpRequest *req, json_t *args,
                       json_t *props)
{
    qmp_request_return(req, daemon_version_json());
}

void cmd_query_commands(void *opaque, QmpRequest *req, json_t *args,
                        json_t *props)
{
    QmpCommandTable t = {daemon_qmp_commands, opaque};
    json_t *list = qmp_command_list(&t);

    if (!list) {
        qmp_request_error(req, "GenericError", "Out of memory");
        return;
    }
    qmp_request_return(req, list);
}

void cmd_query_status(void *opaque, QmpRequest *req, json_t *args,
                      json_t *props)
{
    Daemon *d = opaque;
    struct timespec now;
    int64_t up;

    clock_gettime(CLOCK_MONOTONIC, &now);
    up = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - d->start_ns;
    qmp_request_return(
        req, json_pack("{s:s, s:I, s:f, s:s, s:I, s:I, s:I}", "version",
                       IOTHREADD_VERSION, "pid", (json_int_t)getpid(),
                       "uptime", (double)up / 1e9, "socket",
                       d->socket_path ? d->socket_path : "", "iothreads",
                       (json_int_t)registry_count(d->registry),
                       "max-iothreads",
                       (json_int_t)registry_get_max(d->registry), "clients",
                       (json_int_t)qmp_server_client_count(d->server)));
}

void cmd_quit(void *opaque, QmpRequest *req, json_t *args,
              json_t *props)
{
    Daemon *d = opaque;

    qmp_request_return(req, NULL);
    daemon_request_quit(d, "host-qmp-quit");
}

void cmd_reload(void *opaque, QmpRequest *req, json_t *args,
                json_t *props)
{
    Daemon *d = opaque;
    char *err = NULL;

    if (daemon_reload(d, &err) < 0) {
        qmp_reply_errp(req, err, "Reload failed");
        return;
    }
    qmp_request_return(req, NULL);
}

/* ---- debugging aids (x- prefix: not a stable interface) ---- */

void cmd_x_stall(void *opaque, QmpRequest *req, json_t *args,
                 json_t *props)
{
    Daemon *d = opaque;
    IOThreadObject *obj = qmp_find_iothread(d, req, qmp_str_arg(args, "id"));
    json_int_t ms = json_integer_value(json_object_get(args, "ms"));

    if (!obj) {
        return;
    }
    if (ms < 0 || ms > d->max_stall_ms) {
        qmp_request_error(req, "GenericError",
                          "ms value must be in range [0, %u]",
                          d->max_stall_ms);
        return;
    }
    if (iothread_object_debug_stall(obj, (unsigned)ms) < 0) {
        qmp_request_error(req, "GenericError", "Out of memory");
        return;
    }
    qmp_request_return(req, NULL);
}
