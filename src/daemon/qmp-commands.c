/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's QMP command table: each command's name, handler, argument
 * schema and whether it only reads state.  Dispatch and argument checking
 * are the protocol layer's (qmp/dispatch.h); the handlers live with what
 * they command (qmp-iothread.c, qmp-qom.c, qmp-misc.c).
 */
#include <stdlib.h>

#include "daemon/qmp-commands.h"

const QmpCommand daemon_qmp_commands[] = {
    {"query-version", cmd_query_version, {{0}}, false, true},
    {"query-commands", cmd_query_commands, {{0}}, false, true},
    {"query-status", cmd_query_status, {{0}}, false, true},
    {"quit", cmd_quit, {{0}}, false, false},
    {"reload", cmd_reload, {{0}}, false, false},
    {"object-add", cmd_object_add,
     {{"qom-type", QMP_ARG_STR, true}, {"id", QMP_ARG_STR, true}}, true, false},
    {"object-del", cmd_object_del, {{"id", QMP_ARG_STR, true}}, false, false},
    {"iothread-set", cmd_iothread_set, {{"id", QMP_ARG_STR, true}}, true, false},
    {"query-iothreads", cmd_query_iothreads, {{0}}, false, true},
    {"query-iothread-stats", cmd_query_iothread_stats,
     {{"id", QMP_ARG_STR, false}}, false, true},
    {"qom-list", cmd_qom_list, {{"path", QMP_ARG_STR, true}}, false, true},
    {"qom-list-get", cmd_qom_list_get, {{"paths", QMP_ARG_ARRAY, true}},
     false, true},
    {"qom-get", cmd_qom_get,
     {{"path", QMP_ARG_STR, true}, {"property", QMP_ARG_STR, true}}, false, true},
    {"qom-set", cmd_qom_set,
     {{"path", QMP_ARG_STR, true},
      {"property", QMP_ARG_STR, true},
      {"value", QMP_ARG_ANY, true}},
     false, false},
    {"x-debug-iothread-hold", cmd_x_hold,
     {{"id", QMP_ARG_STR, true}, {"holder", QMP_ARG_STR, true}}, false, false},
    {"x-debug-iothread-stall", cmd_x_stall,
     {{"id", QMP_ARG_STR, true}, {"ms", QMP_ARG_INT, true}}, false, false},
    {"x-debug-iothread-release", cmd_x_release,
     {{"id", QMP_ARG_STR, true}, {"holder", QMP_ARG_STR, true}}, false, false},
    {NULL, NULL, {{0}}, false, false},
};

void qmp_dispatch_command(void *opaque, QmpRequest *req, const char *name,
                          json_t *args)
{
    QmpCommandTable t = {daemon_qmp_commands, opaque};

    qmp_dispatch(&t, req, name, args);
}

bool qmp_command_is_read_only(const char *name)
{
    QmpCommandTable t = {daemon_qmp_commands, NULL};
    const QmpCommand *c = qmp_command_find(&t, name);

    /* Unknown names pass, to be answered "not found" as anywhere else. */
    return !c || c->read_only;
}

const char *qmp_str_arg(json_t *args, const char *name)
{
    return json_string_value(json_object_get(args, name));
}

void qmp_reply_errp(QmpRequest *req, char *err, const char *fallback)
{
    qmp_request_error(req, "GenericError", "%s", err ? err : fallback);
    free(err);
}

IOThreadObject *qmp_find_iothread(Daemon *d, QmpRequest *req, const char *id)
{
    IOThreadObject *obj = registry_find(d->registry, id);

    if (!obj) {
        qmp_request_error(req, "DeviceNotFound",
                          "Device '/objects/%s' not found", id);
    }
    return obj;
}
