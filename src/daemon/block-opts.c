/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The readers of the block objects' specs (block-opts.h).
 */
#include <string.h>

#include "daemon/block-opts.h"

static bool spec_bool(json_t *spec, const char *key, bool dflt)
{
    json_t *v = json_object_get(spec, key);

    return v ? json_is_true(v) : dflt;
}

void blockdev_from_spec(json_t *spec, BlockNodeOptions *opts)
{
    const char *aio = spec_str(spec, "aio");
    const char *discard = spec_str(spec, "discard");
    const char *dz = spec_str(spec, "detect-zeroes");
    json_t *cache = json_object_get(spec, "cache");

    block_node_options_default(opts);
    opts->node_name = spec_str(spec, "node-name");
    opts->filename = spec_str(spec, "filename");
    opts->read_only = spec_bool(spec, "read-only", false);
    opts->cache_direct = cache && spec_bool(cache, "direct", false);
    if (aio && strcmp(aio, "io_uring") == 0) {
        opts->aio = BLOCK_AIO_IO_URING;
    }
    if (discard && strcmp(discard, "unmap") == 0) {
        opts->discard = BLOCK_DISCARD_UNMAP;
    }
    if (dz && strcmp(dz, "on") == 0) {
        opts->detect_zeroes = BLOCK_DETECT_ZEROES_ON;
    } else if (dz && strcmp(dz, "unmap") == 0) {
        opts->detect_zeroes = BLOCK_DETECT_ZEROES_UNMAP;
    }
}

void nbd_server_from_spec(json_t *spec, NbdServerOptions *opts)
{
    json_t *v;

    nbd_server_options_default(opts);
    if ((v = json_object_get(spec, "max-connections"))) {
        opts->max_connections = (unsigned)json_integer_value(v);
    }
    if ((v = json_object_get(spec, "handshake-max-seconds"))) {
        opts->handshake_max_seconds = (unsigned)json_integer_value(v);
    }
}

void export_from_spec(json_t *spec, ExportSpec *es)
{
    es->id = spec_str(spec, "id");
    es->node_name = spec_str(spec, "node-name");
    es->name = spec_str(spec, "name") ? spec_str(spec, "name")
                                      : es->node_name;
    es->description = spec_str(spec, "description");
    es->iothread = spec_str(spec, "iothread");
    es->writable = spec_bool(spec, "writable", false);
    es->fixed_iothread = spec_bool(spec, "fixed-iothread", false);
}

