/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's readers of the block objects' checked specs (see
 * common/block-schema.h): C structures of the block layer and the NBD
 * server, with QEMU's defaults filled in.  Pointers point into the spec
 * and are valid as long as it is.
 */
#ifndef IOTHREADD_BLOCK_OPTS_H
#define IOTHREADD_BLOCK_OPTS_H

#include <stdbool.h>

#include <jansson.h>

#include "block/block-node.h"
#include "common/block-schema.h"
#include "nbd/nbd-server.h"

void blockdev_from_spec(json_t *spec, BlockNodeOptions *opts);
void nbd_server_from_spec(json_t *spec, NbdServerOptions *opts);

/* An export's settings. */
typedef struct ExportSpec {
    const char *id;
    const char *node_name;
    const char *name;        /* NBD name: defaults to node_name */
    const char *description; /* NULL: none */
    const char *iothread;    /* NULL: the main context */
    bool writable;
    bool fixed_iothread;
} ExportSpec;
void export_from_spec(json_t *spec, ExportSpec *es);

#endif /* IOTHREADD_BLOCK_OPTS_H */
