/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's QMP command table: each command's name, handler, argument
 * schema and whether it only reads state.  Dispatch and argument checking
 * are the protocol layer's (qmp/dispatch.h); the handlers live with what
 * they command (qmp-iothread.c, qmp-qom.c, qmp-misc.c, qmp-block.c,
 * qmp-nbd.c, qmp-export.c, qmp-move.c).
 */
#include <stdlib.h>

#include "daemon/qmp-commands.h"

/* Shorthands for the argument lists. */
#define REQ(name, type) {name, QMP_ARG_##type, true}
#define OPT(name, type) {name, QMP_ARG_##type, false}

const QmpCommand daemon_qmp_commands[] = {
    /* the daemon (qmp-misc.c) */
    {.name = "query-version", .handler = cmd_query_version,
     .read_only = true},
    {.name = "query-commands", .handler = cmd_query_commands,
     .read_only = true},
    {.name = "query-status", .handler = cmd_query_status, .read_only = true},
    {.name = "quit", .handler = cmd_quit},
    {.name = "reload", .handler = cmd_reload},
    /* iothread objects (qmp-iothread.c) */
    {.name = "object-add", .handler = cmd_object_add,
     .args = {REQ("qom-type", STR), REQ("id", STR)}, .flat_props = true},
    {.name = "object-del", .handler = cmd_object_del,
     .args = {REQ("id", STR)}},
    {.name = "iothread-set", .handler = cmd_iothread_set,
     .args = {REQ("id", STR)}, .flat_props = true},
    {.name = "query-iothreads", .handler = cmd_query_iothreads,
     .read_only = true},
    {.name = "query-iothread-stats", .handler = cmd_query_iothread_stats,
     .args = {OPT("id", STR)}, .read_only = true},
    /* the QOM view (qmp-qom.c) */
    {.name = "qom-list", .handler = cmd_qom_list,
     .args = {REQ("path", STR)}, .read_only = true},
    {.name = "qom-list-get", .handler = cmd_qom_list_get,
     .args = {REQ("paths", ARRAY)}, .read_only = true},
    {.name = "qom-get", .handler = cmd_qom_get,
     .args = {REQ("path", STR), REQ("property", STR)}, .read_only = true},
    {.name = "qom-set", .handler = cmd_qom_set,
     .args = {REQ("path", STR), REQ("property", STR), REQ("value", ANY)}},
    /* block nodes (qmp-block.c) */
    {.name = "blockdev-add", .handler = cmd_blockdev_add, .flat_props = true},
    {.name = "blockdev-del", .handler = cmd_blockdev_del,
     .args = {REQ("node-name", STR)}},
    {.name = "query-named-block-nodes",
     .handler = cmd_query_named_block_nodes, .args = {OPT("flat", BOOL)},
     .read_only = true},
    {.name = "query-blockstats", .handler = cmd_query_blockstats,
     .args = {OPT("query-nodes", BOOL)}, .read_only = true},
    /* The boundaries arguments come in props (more than QMP_MAX_ARGS),
     * checked by the handler. */
    {.name = "block-latency-histogram-set",
     .handler = cmd_block_latency_histogram_set,
     .args = {OPT("id", STR), OPT("node-name", STR)}, .flat_props = true},
    /* the NBD server (qmp-nbd.c) */
    {.name = "nbd-server-start", .handler = cmd_nbd_server_start,
     .flat_props = true},
    {.name = "nbd-server-stop", .handler = cmd_nbd_server_stop},
    /* exports (qmp-export.c) */
    {.name = "block-export-add", .handler = cmd_block_export_add,
     .flat_props = true},
    {.name = "block-export-del", .handler = cmd_block_export_del,
     .args = {REQ("id", STR), OPT("mode", STR)}},
    {.name = "query-block-exports", .handler = cmd_query_block_exports,
     .read_only = true},
    /* moving exports between iothreads (qmp-move.c) */
    {.name = "x-blockdev-set-iothread", .handler = cmd_x_blockdev_set_iothread,
     .args = {REQ("node-name", STR), REQ("iothread", ANY),
              OPT("force", BOOL)}},
    {.name = "block-export-set-iothread",
     .handler = cmd_block_export_set_iothread,
     .args = {REQ("id", STR), REQ("iothread", ANY)}},
    /* debugging aids, x- prefix: not a stable interface (qmp-misc.c) */
    {.name = "x-debug-iothread-stall", .handler = cmd_x_stall,
     .args = {REQ("id", STR), REQ("ms", INT)}},
    {.name = NULL},
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
