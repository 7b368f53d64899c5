/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What block-objects.c and block-reload.c share: the objects themselves.
 * Main thread only.
 */
#ifndef IOTHREADD_BLOCK_OBJECTS_INTERNAL_H
#define IOTHREADD_BLOCK_OBJECTS_INTERNAL_H

#include "daemon/block-objects.h"

typedef struct Blockdev {
    json_t *spec;
    BlockNode *node;
    ObjectOrigin origin;
    unsigned users; /* exports serving it */
    bool doomed;    /* closed once the last of them is gone (reload) */
    struct Blockdev *next;
} Blockdev;

typedef struct Export {
    BlockObjects *owner;
    json_t *spec;
    ExportSpec es;          /* pointers into spec */
    char *holder;           /* "block export ID": how it holds */
    NbdExport *exp;         /* NULL once the NBD server freed it */
    Blockdev *bdev;         /* held */
    IOThreadObject *iothread; /* held, or NULL: the main context */
    ObjectOrigin origin;
    bool shutting_down;
    /* A move to another iothread in progress (block-move.c): the target
     * (held from the start; NULL: the main context) and the request it
     * belongs to. */
    bool moving;
    IOThreadObject *move_to;
    struct MoveRequest *move_req;
    struct Export *next;
} Export;

struct BlockObjects {
    AioContext *main_ctx;
    Registry *registry;
    BlockObjEventFn *event;
    void *opaque;
    SocketOptions socket_opts;
    Blockdev *nodes;
    Export *exports;
    NbdServer *server;
    json_t *server_spec;      /* while the server runs */
    ObjectOrigin server_origin;
    char *server_socket_path; /* a UNIX socket we created, to unlink */
};

Blockdev *bobj_find_node(BlockObjects *b, const char *name);
Export *bobj_find_export(BlockObjects *b, const char *id);

/* Close @n now if nothing uses it, else once its last export is gone. */
void bobj_node_doom(BlockObjects *b, Blockdev *n);

/* Tell the owner that something changed (the state file). */
void bobj_changed(BlockObjects *b);

#endif /* IOTHREADD_BLOCK_OBJECTS_INTERNAL_H */
