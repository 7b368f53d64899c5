/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP commands on the NBD server: nbd-server-start, nbd-server-stop
 * (block-export.json).
 */
#include <stdlib.h>

#include "daemon/block-objects.h"
#include "daemon/qmp-commands.h"

/*
 * nbd-server-start takes QEMU's SocketAddressLegacy, {"type": "unix",
 * "data": {"path": ...}}; --nbd-server and the files take the flat
 * SocketAddress, {"type": "unix", "path": ...}, which the command accepts
 * too.  Both become the flat form.
 */
static json_t *flatten_addr(json_t *props)
{
    json_t *copy = json_deep_copy(props);
    json_t *addr = json_object_get(copy, "addr");
    json_t *data = json_object_get(addr, "data");

    if (copy && json_is_object(data)) {
        json_incref(data);
        json_object_del(addr, "data");
        json_object_update_missing(addr, data);
        json_decref(data);
    }
    return copy;
}

void cmd_nbd_server_start(void *opaque, QmpRequest *req, json_t *args,
                          json_t *props)
{
    json_t *flat = flatten_addr(props);

    if (!flat) {
        qmp_request_error(req, "GenericError", "Out of memory");
        return;
    }
    qmp_add_block_object(opaque, req, BLOCK_OBJ_NBD_SERVER, flat);
    json_decref(flat);
}

static void stop_done(void *opaque)
{
    qmp_request_return(opaque, NULL);
}

void cmd_nbd_server_stop(void *opaque, QmpRequest *req, json_t *args,
                         json_t *props)
{
    Daemon *d = opaque;
    char *err = NULL;

    /* Answered once every export is gone, as QEMU's waits for them. */
    if (bobj_nbd_stop(d->blk, stop_done, req, &err) < 0) {
        qmp_reply_errp(req, err, "Out of memory");
    }
}
