/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP commands on exports: block-export-add, block-export-del,
 * query-block-exports (block-export.json).  BLOCK_EXPORT_DELETED is sent
 * by the daemon's event hook once an export is really gone.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/block-objects.h"
#include "daemon/qmp-commands.h"

void cmd_block_export_add(void *opaque, QmpRequest *req, json_t *args,
                          json_t *props)
{
    qmp_add_block_object(opaque, req, BLOCK_OBJ_EXPORT, props);
}

void cmd_block_export_del(void *opaque, QmpRequest *req, json_t *args,
                          json_t *props)
{
    Daemon *d = opaque;
    const char *mode = qmp_str_arg(args, "mode");
    char *err = NULL;
    int ret;

    if (mode && strcmp(mode, "safe") != 0 && strcmp(mode, "hard") != 0) {
        qmp_request_error(req, "GenericError", "Parameter 'mode' does not "
                          "accept value '%s'", mode);
        return;
    }
    ret = bobj_export_del(d->blk, qmp_str_arg(args, "id"),
                          mode && strcmp(mode, "hard") == 0, &err);
    qmp_reply_ret(req, ret, err);
}

void cmd_query_block_exports(void *opaque, QmpRequest *req, json_t *args,
                             json_t *props)
{
    Daemon *d = opaque;

    qmp_request_return(req, bobj_query_block_exports(d->blk));
}
