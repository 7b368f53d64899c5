/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's block objects, as qemu-storage-daemon has them: block
 * nodes by node-name, at most one NBD server, and exports by id; and who
 * holds what: an export holds its node and its iothread (by the export's
 * id, see iothread_object_hold()), so that neither can be deleted under
 * it.
 *
 * Every object is created from a spec that block_spec_check() made (see
 * block-opts.h) and keeps it: that is what the state file saves and what
 * reload compares.  Main thread only.
 */
#ifndef IOTHREADD_BLOCK_OBJECTS_H
#define IOTHREADD_BLOCK_OBJECTS_H

#include <stdbool.h>

#include <jansson.h>

#include <iothread/aio.h>

#include "daemon/block-opts.h"
#include "daemon/registry.h"
#include "daemon/socket-setup.h"

typedef struct BlockObjects BlockObjects;

/* @event: "BLOCK_EXPORT_DELETED" with {"id": ...} (a reference the
 * callee takes), or "BLOCK_OBJECTS_CHANGED" with NULL data after any
 * change (for the state file). */
typedef void BlockObjEventFn(void *opaque, const char *event, json_t *data);

/* Completion of an asynchronous removal, on the main thread. */
typedef void BlockObjDoneFn(void *opaque);

BlockObjects *bobj_new(AioContext *main_ctx, Registry *registry,
                       BlockObjEventFn *event, void *opaque);

/* The mode and group of an NBD UNIX socket (as the control socket's). */
void bobj_set_socket_options(BlockObjects *b, const SocketOptions *so);

/*
 * bobj_free: stop the NBD server (disconnecting every client), wait on the
 * main context until every export is gone, close every node, free @b.
 * Call it before the iothreads stop: clients run on them.  NULL ignored.
 */
void bobj_free(BlockObjects *b);

/* Block nodes.  @spec: a checked BLOCK_OBJ_BLOCKDEV spec (borrowed; the
 * object takes its own reference).  0 or -errno with *@errp. */
int bobj_blockdev_add(BlockObjects *b, json_t *spec, ObjectOrigin origin,
                      char **errp);
/* -ENOENT "Failed to find node with node-name='x'", -EBUSY "Node x is in
 * use" while an export serves it. */
int bobj_blockdev_del(BlockObjects *b, const char *node_name, char **errp);

/* The NBD server.  -EEXIST "NBD server already running", or the socket's
 * error. */
int bobj_nbd_start(BlockObjects *b, json_t *spec, ObjectOrigin origin,
                   char **errp);
/*
 * bobj_nbd_stop: stop listening, disconnect every client and delete
 * every export (each then announced by BLOCK_EXPORT_DELETED); @done runs
 * once all is gone.  -ENOENT "NBD server not running" (then @done is not
 * called).
 */
int bobj_nbd_stop(BlockObjects *b, BlockObjDoneFn *done, void *opaque,
                  char **errp);
bool bobj_nbd_running(BlockObjects *b);

/* Exports.  QEMU's checks and texts, in its order (see block-opts.h for
 * the spec). */
int bobj_export_add(BlockObjects *b, json_t *spec, ObjectOrigin origin,
                    char **errp);
/*
 * bobj_export_del: -ENOENT "Export 'e' is not found", -EALREADY "Export
 * 'e' is already shutting down", -EBUSY (without @hard, clients are
 * connected) "export 'e' still in use".  On success the export shuts down
 * and BLOCK_EXPORT_DELETED follows once its last client is gone.
 */
int bobj_export_del(BlockObjects *b, const char *id, bool hard, char **errp);

/*
 * Moving exports to another iothread at runtime (block-move.c), clients
 * connected and I/O running (see nbd_export_set_context()).  @iothread:
 * an iothread's id, or NULL for the main loop.  On success the move has
 * started; @done runs on the main thread once every export concerned runs
 * on the target, holds it, and no longer holds its old iothread (the
 * state file and query-block-exports then show the target).  @done may
 * run before the call returns when there is nothing to move.  On failure
 * nothing changed and @done does not run.
 *
 * bobj_export_set_iothread: export @id.  -ENOENT "Export 'e' is not
 * found", -EALREADY "Export 'e' is already shutting down", -ENOENT
 * "iothread \"x\" not found", -EPERM (added with fixed-iothread=on),
 * -EBUSY (a move of it has not finished: moves are not queued).
 */
int bobj_export_set_iothread(BlockObjects *b, const char *id,
                             const char *iothread, BlockObjDoneFn *done,
                             void *opaque, char **errp);
/*
 * bobj_node_set_iothread: x-blockdev-set-iothread: every export of node
 * @node_name (but those shutting down), as one request.  QEMU's checks
 * and texts: -ENOENT "Failed to find node with node-name='n'", -EBUSY
 * without @force when an export serves the node ("Node n is associated
 * with a BlockBackend and could be in use (use force=true to override
 * this check)"), -ENOENT "Cannot find iothread x", -EPERM when one of them
 * was added with fixed-iothread=on on another iothread, -EBUSY while one
 * of them is being moved.  A node without exports: nothing to move (a
 * node has no iothread of its own here: its I/O runs where its exports
 * run).
 */
int bobj_node_set_iothread(BlockObjects *b, const char *node_name,
                           const char *iothread, bool force,
                           BlockObjDoneFn *done, void *opaque, char **errp);

/* Replies of the query commands (new references). */
json_t *bobj_query_named_block_nodes(BlockObjects *b);
json_t *bobj_query_block_exports(BlockObjects *b);
json_t *bobj_query_blockstats(BlockObjects *b, bool nodes_only);

/*
 * bobj_specs: the specs of the objects, in creation order, whose origin
 * is in @origins (a bit mask of 1 << ObjectOrigin): {"blockdevs": [...],
 * "nbd-server": {...} (absent when not running), "exports": [...]}.
 */
json_t *bobj_specs(BlockObjects *b, unsigned origins);

/*
 * bobj_create_all: create every object of @specs (see block_specs_check():
 * checked) with @origin: the nodes, then the server, then the exports.
 * With @skip_existing (the state file), a node, export or server that
 * exists already (by name, id) is left as it is.  Stops at the first
 * error: 0 or -errno with *@errp naming the object.
 */
int bobj_create_all(BlockObjects *b, json_t *specs, ObjectOrigin origin,
                    bool skip_existing, char **errp);

/*
 * Reload (block-reload.c): make the objects the config file made match
 * @want (a checked block-specs object, see block_specs_check(); may be
 * empty), in three steps that reload.c interleaves with the iothreads':
 *  - bobj_reload_check: everything that could fail later, checked first:
 *    0 or -errno with *@errp; nothing changes;
 *  - bobj_reload_create: create what is missing (nodes, then the server,
 *    then exports); on failure removes what it created and returns
 *    -errno with *@errp naming the object;
 *  - bobj_reload_delete: delete the objects from the file that it no
 *    longer names (exports first; a node is closed once its exports are
 *    gone); cannot fail.
 */
int bobj_reload_check(BlockObjects *b, json_t *want, char **errp);
int bobj_reload_create(BlockObjects *b, json_t *want, char **errp);
void bobj_reload_delete(BlockObjects *b, json_t *want);

#endif /* IOTHREADD_BLOCK_OBJECTS_H */
