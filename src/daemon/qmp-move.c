/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP commands that move exports between iothreads at runtime:
 * x-blockdev-set-iothread (QEMU's, block-core.json: every export of a
 * node) and block-export-set-iothread (ours: one export).  Both are
 * answered once the move is done: the old iothread then holds nothing of
 * the exports and can be deleted.
 */
#include <stdlib.h>

#include "daemon/block-objects.h"
#include "daemon/qmp-commands.h"

/* @iothread: a string, or null for the main loop (QEMU's StrOrNull).
 * Returns false after answering @req. */
static bool str_or_null(QmpRequest *req, json_t *args, const char **out)
{
    json_t *v = json_object_get(args, "iothread");

    if (json_is_null(v)) {
        *out = NULL;
        return true;
    }
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return true;
    }
    qmp_request_error(req, "GenericError", "Invalid parameter type for "
                      "'iothread', expected: StrOrNull");
    return false;
}

static void move_done(void *opaque)
{
    qmp_request_return(opaque, NULL);
}

/* One command's call: 0 with @req answered later, or -errno with *@errp. */
typedef int MoveFn(Daemon *d, json_t *args, const char *iothread,
                   QmpRequest *req, char **errp);

static void run_move(Daemon *d, QmpRequest *req, json_t *args, MoveFn *fn)
{
    const char *iothread;
    char *err = NULL;

    if (str_or_null(req, args, &iothread) &&
        fn(d, args, iothread, req, &err) < 0) {
        qmp_reply_errp(req, err, "Out of memory");
    }
}

static int move_node(Daemon *d, json_t *args, const char *iothread,
                     QmpRequest *req, char **errp)
{
    return bobj_node_set_iothread(d->blk, qmp_str_arg(args, "node-name"),
                                  iothread,
                                  json_is_true(json_object_get(args, "force")),
                                  move_done, req, errp);
}

static int move_export(Daemon *d, json_t *args, const char *iothread,
                       QmpRequest *req, char **errp)
{
    return bobj_export_set_iothread(d->blk, qmp_str_arg(args, "id"),
                                    iothread, move_done, req, errp);
}

void cmd_x_blockdev_set_iothread(void *opaque, QmpRequest *req,
                                 json_t *args, json_t *props)
{
    run_move(opaque, req, args, move_node);
}

void cmd_block_export_set_iothread(void *opaque, QmpRequest *req,
                                   json_t *args, json_t *props)
{
    run_move(opaque, req, args, move_export);
}
