/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP commands on block nodes: blockdev-add, blockdev-del,
 * query-named-block-nodes, query-blockstats, block-latency-histogram-set
 * (block-core.json).
 */
#include <stdlib.h>

#include "daemon/block-histogram.h"
#include "daemon/block-objects.h"
#include "daemon/qmp-commands.h"

void qmp_reply_ret(QmpRequest *req, int ret, char *err)
{
    if (ret < 0) {
        qmp_reply_errp(req, err, "Out of memory");
    } else {
        free(err);
        qmp_request_return(req, NULL);
    }
}

/* Check @props as a @kind, then create it with @add. */
void qmp_add_block_object(Daemon *d, QmpRequest *req, BlockObjKind kind,
                          json_t *props)
{
    json_t *spec = NULL;
    char *err = NULL;
    int ret = block_spec_check(kind, props, false, &spec, &err);

    if (ret == 0) {
        switch (kind) {
        case BLOCK_OBJ_BLOCKDEV:
            ret = bobj_blockdev_add(d->blk, spec, ORIGIN_QMP, &err);
            break;
        case BLOCK_OBJ_NBD_SERVER:
            ret = bobj_nbd_start(d->blk, spec, ORIGIN_QMP, &err);
            break;
        case BLOCK_OBJ_EXPORT:
            ret = bobj_export_add(d->blk, spec, ORIGIN_QMP, &err);
            break;
        }
    }
    json_decref(spec);
    qmp_reply_ret(req, ret, err);
}

void cmd_blockdev_add(void *opaque, QmpRequest *req, json_t *args,
                      json_t *props)
{
    qmp_add_block_object(opaque, req, BLOCK_OBJ_BLOCKDEV, props);
}

void cmd_blockdev_del(void *opaque, QmpRequest *req, json_t *args,
                      json_t *props)
{
    Daemon *d = opaque;
    char *err = NULL;
    int ret = bobj_blockdev_del(d->blk, qmp_str_arg(args, "node-name"), &err);

    qmp_reply_ret(req, ret, err);
}

void cmd_query_named_block_nodes(void *opaque, QmpRequest *req, json_t *args,
                                 json_t *props)
{
    Daemon *d = opaque;

    /* "flat" only matters for backing chains, which raw files lack. */
    qmp_request_return(req, bobj_query_named_block_nodes(d->blk));
}

void cmd_query_blockstats(void *opaque, QmpRequest *req, json_t *args,
                          json_t *props)
{
    Daemon *d = opaque;
    bool nodes_only = json_is_true(json_object_get(args, "query-nodes"));

    qmp_request_return(req, bobj_query_blockstats(d->blk, nodes_only));
}

void cmd_block_latency_histogram_set(void *opaque, QmpRequest *req,
                                     json_t *args, json_t *props)
{
    Daemon *d = opaque;
    char *err = NULL;
    int ret = bobj_latency_histogram_set(d->blk, qmp_str_arg(args, "id"),
                                         qmp_str_arg(args, "node-name"),
                                         props, &err);

    qmp_reply_ret(req, ret, err);
}
