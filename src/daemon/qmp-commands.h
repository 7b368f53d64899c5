/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's QMP commands: the table (qmp-commands.c) and the handlers,
 * which live with what they command (qmp-iothread.c, qmp-qom.c,
 * qmp-misc.c).  Every handler is a QmpCommandFn whose opaque is the
 * Daemon.  Main thread only.
 */
#ifndef IOTHREADD_QMP_COMMANDS_H
#define IOTHREADD_QMP_COMMANDS_H

#include "daemon/block-opts.h"
#include "daemon/daemon.h"
#include "qmp/dispatch.h"

/* The table, terminated by a row with no name. */
extern const QmpCommand daemon_qmp_commands[];

/* Handlers (see iothreadd-qmp(7) for what each does). */
QmpCommandFn cmd_query_version, cmd_query_commands, cmd_query_status,
    cmd_quit, cmd_reload;
QmpCommandFn cmd_object_add, cmd_object_del, cmd_iothread_set,
    cmd_query_iothreads, cmd_query_iothread_stats;
QmpCommandFn cmd_qom_list, cmd_qom_list_get, cmd_qom_get, cmd_qom_set;
QmpCommandFn cmd_x_stall;
QmpCommandFn cmd_blockdev_add, cmd_blockdev_del, cmd_query_named_block_nodes,
    cmd_query_blockstats, cmd_block_latency_histogram_set;
QmpCommandFn cmd_nbd_server_start, cmd_nbd_server_stop;
QmpCommandFn cmd_block_export_add, cmd_block_export_del,
    cmd_query_block_exports;
QmpCommandFn cmd_x_blockdev_set_iothread, cmd_block_export_set_iothread;

/* Helpers the handlers share. */

/* The string argument @name of @args (NULL when absent). */
const char *qmp_str_arg(json_t *args, const char *name);

/* Answer GenericError with @err (freed), or @fallback when it is NULL. */
void qmp_reply_errp(QmpRequest *req, char *err, const char *fallback);

/* The iothread @id, or NULL after answering DeviceNotFound. */
IOThreadObject *qmp_find_iothread(Daemon *d, QmpRequest *req,
                                  const char *id);

/* Validate @props against a copy of @obj's settings, then commit and
 * apply them; @req is answered once they are in effect. */
void qmp_update_object(Daemon *d, QmpRequest *req, IOThreadObject *obj,
                       json_t *props);

/* Answer @req: {} when @ret is 0, else GenericError @err (freed). */
void qmp_reply_ret(QmpRequest *req, int ret, char *err);

/* Check @props as a block object of @kind (block-opts.h) and create it,
 * as the QMP commands that add one do; @req is answered. */
void qmp_add_block_object(Daemon *d, QmpRequest *req, BlockObjKind kind,
                          json_t *props);

#endif /* IOTHREADD_QMP_COMMANDS_H */
