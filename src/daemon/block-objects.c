/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Block nodes, the NBD server and exports (block-objects.h).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "daemon/block-histogram.h"
#include "daemon/block-objects-internal.h"
#include "daemon/log.h"

BlockObjects *bobj_new(AioContext *main_ctx, Registry *registry,
                       BlockObjEventFn *event, void *opaque)
{
    BlockObjects *b = calloc(1, sizeof(*b));

    if (b) {
        b->main_ctx = main_ctx;
        b->registry = registry;
        b->event = event;
        b->opaque = opaque;
        b->socket_opts.mode = 0600;
        b->socket_opts.group = (gid_t)-1;
    }
    return b;
}

void bobj_set_socket_options(BlockObjects *b, const SocketOptions *so)
{
    b->socket_opts = *so;
}

void bobj_changed(BlockObjects *b)
{
    b->event(b->opaque, "BLOCK_OBJECTS_CHANGED", NULL);
}

/* ---- block nodes ---- */

Blockdev *bobj_find_node(BlockObjects *b, const char *name)
{
    for (Blockdev *n = b->nodes; n; n = n->next) {
        if (strcmp(block_node_name(n->node), name) == 0) {
            return n;
        }
    }
    return NULL;
}

int bobj_blockdev_add(BlockObjects *b, json_t *spec, ObjectOrigin origin,
                      char **errp)
{
    BlockNodeOptions opts;
    Blockdev *n, **tail;
    int ret;

    *errp = NULL;
    blockdev_from_spec(spec, &opts);
    if (bobj_find_node(b, opts.node_name)) {
        return error_fail(errp, -EEXIST, "Duplicate nodes with "
                          "node-name='%s'", opts.node_name);
    }
    n = calloc(1, sizeof(*n));
    if (!n) {
        return error_fail(errp, -ENOMEM, "Out of memory");
    }
    ret = block_node_open(&opts, &n->node, errp);
    if (ret < 0) {
        free(n);
        return ret;
    }
    n->spec = json_incref(spec);
    n->origin = origin;
    for (tail = &b->nodes; *tail; tail = &(*tail)->next) {
    }
    *tail = n;
    log_info("block node %s opened: %s", opts.node_name, opts.filename);
    bobj_changed(b);
    return 0;
}

int bobj_blockdev_del(BlockObjects *b, const char *node_name, char **errp)
{
    Blockdev **pp, *n;

    *errp = NULL;
    for (pp = &b->nodes; *pp; pp = &(*pp)->next) {
        if (strcmp(block_node_name((*pp)->node), node_name) == 0) {
            break;
        }
    }
    n = *pp;
    if (!n) {
        return error_fail(errp, -ENOENT, "Failed to find node with "
                          "node-name='%s'", node_name);
    }
    if (n->users) {
        return error_fail(errp, -EBUSY, "Node %s is in use", node_name);
    }
    *pp = n->next;
    log_info("block node %s closed", node_name);
    block_node_close(n->node);
    json_decref(n->spec);
    free(n);
    bobj_changed(b);
    return 0;
}

void bobj_node_doom(BlockObjects *b, Blockdev *n)
{
    char *err = NULL;

    n->doomed = true;
    if (!n->users) {
        bobj_blockdev_del(b, block_node_name(n->node), &err);
        free(err);
    }
}

/* ---- exports ---- */

Export *bobj_find_export(BlockObjects *b, const char *id)
{
    for (Export *e = b->exports; e; e = e->next) {
        if (strcmp(e->es.id, id) == 0) {
            return e;
        }
    }
    return NULL;
}

/* The export is gone from the NBD server: drop its holds, announce it,
 * free it. */
static void export_gone(BlockObjects *b, Export *e)
{
    json_t *data = json_pack("{s:s}", "id", e->es.id);

    for (Export **pp = &b->exports; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    }
    if (e->iothread) {
        iothread_object_release(e->iothread, e->holder);
    }
    e->bdev->users--;
    log_info("export %s deleted", e->es.id);
    if (e->bdev->doomed && !e->bdev->users) {
        bobj_node_doom(b, e->bdev);
    }
    json_decref(e->spec);
    free(e->holder);
    free(e);
    /* Saved before announced: whoever hears the event finds the state
     * file up to date. */
    bobj_changed(b);
    b->event(b->opaque, "BLOCK_EXPORT_DELETED", data);
}

static void export_removed(void *opaque)
{
    Export *e = opaque;

    export_gone(e->owner, e);
}

/* blk_exp_add()'s checks, in its order: 0 with the node and the iothread
 * (NULL: the main loop) that @es names, or -errno with *@errp set. */
static int export_check(BlockObjects *b, const ExportSpec *es, Blockdev **np,
                        IOThreadObject **iop, char **errp)
{
    Blockdev *n;
    IOThreadObject *io = NULL;

    if (bobj_find_export(b, es->id)) {
        return error_fail(errp, -EEXIST, "Block export id '%s' is already "
                          "in use", es->id);
    }
    n = bobj_find_node(b, es->node_name);
    if (!n) {
        return error_fail(errp, -ENODEV, "Cannot find device='' nor "
                          "node-name='%s'", es->node_name);
    }
    if (es->writable && block_node_read_only(n->node)) {
        return error_fail(errp, -EACCES, "Cannot export read-only node as "
                          "writable");
    }
    if (es->iothread) {
        io = registry_find(b->registry, es->iothread);
        if (!io) {
            return error_fail(errp, -ENOENT, "iothread \"%s\" not found",
                              es->iothread);
        }
    }
    if (!b->server) {
        return error_fail(errp, -ENOTCONN, "NBD server not running");
    }
    if (nbd_export_find(b->server, es->name)) {
        return error_fail(errp, -EEXIST, "NBD server already has export "
                          "named '%s'", es->name);
    }
    *np = n;
    *iop = io;
    return 0;
}

/* Start serving @e (checked) on @io's context, holding @io. */
static int export_start(BlockObjects *b, Export *e, Blockdev *n,
                        IOThreadObject *io, char **errp)
{
    NbdExportConfig cfg = {
        .name = e->es.name,
        .description = e->es.description,
        .node = n->node,
        .ctx = io ? iothread_object_context(io) : b->main_ctx,
        .writable = e->es.writable,
    };
    int ret = io ? iothread_object_hold(io, e->holder) : 0;

    if (ret < 0) {
        return error_fail(errp, ret, "Out of memory");
    }
    ret = nbd_export_add(b->server, &cfg, &e->exp, errp);
    if (ret < 0 && io) {
        iothread_object_release(io, e->holder);
    }
    return ret;
}

int bobj_export_add(BlockObjects *b, json_t *spec, ObjectOrigin origin,
                    char **errp)
{
    Export *e, **tail;
    Blockdev *n = NULL;
    IOThreadObject *io = NULL;
    int ret;

    *errp = NULL;
    e = calloc(1, sizeof(*e));
    if (!e) {
        return error_fail(errp, -ENOMEM, "Out of memory");
    }
    export_from_spec(spec, &e->es);
    if (asprintf(&e->holder, "block export %s", e->es.id) < 0) {
        free(e);
        return error_fail(errp, -ENOMEM, "Out of memory");
    }
    ret = export_check(b, &e->es, &n, &io, errp);
    if (ret == 0) {
        ret = export_start(b, e, n, io, errp);
    }
    if (ret < 0) {
        free(e->holder);
        free(e);
        return ret;
    }
    e->owner = b;
    e->spec = json_incref(spec);
    e->bdev = n;
    e->iothread = io;
    e->origin = origin;
    n->users++;
    for (tail = &b->exports; *tail; tail = &(*tail)->next) {
    }
    *tail = e;
    log_info("export %s: node %s as '%s'%s%s", e->es.id, e->es.node_name,
             e->es.name, io ? " on iothread " : "", io ? e->es.iothread : "");
    bobj_changed(b);
    return 0;
}

int bobj_export_del(BlockObjects *b, const char *id, bool hard, char **errp)
{
    Export *e = bobj_find_export(b, id);

    *errp = NULL;
    if (!e) {
        return error_fail(errp, -ENOENT, "Export '%s' is not found", id);
    }
    if (e->shutting_down) {
        return error_fail(errp, -EALREADY, "Export '%s' is already shutting "
                          "down", id);
    }
    if (!hard && nbd_export_client_count(e->exp) > 0) {
        return error_fail(errp, -EBUSY, "export '%s' still in use", id);
    }
    e->shutting_down = true;
    nbd_export_remove(e->exp, hard, export_removed, e);
    return 0;
}

/* ---- the NBD server ---- */

bool bobj_nbd_running(BlockObjects *b)
{
    return b->server != NULL;
}

static int listen_inet(const char *host, const char *port, char **errp)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res, *ai;
    int fd = -1, err = 0, one = 1;

    err = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (err) {
        return error_fail(errp, -EINVAL, "address resolution failed for "
                          "%s:%s: %s", host, port, gai_strerror(err));
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, SOMAXCONN) == 0) {
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        return error_fail(errp, -err, "Failed to bind socket %s:%s: %s",
                          host, port, strerror(err));
    }
    return fd;
}

static void nbd_log(void *opaque, int level, const char *msg)
{
    log_msg(level, "nbd: %s", msg);
}

int bobj_nbd_start(BlockObjects *b, json_t *spec, ObjectOrigin origin,
                   char **errp)
{
    json_t *addr = json_object_get(spec, "addr");
    bool is_unix = strcmp(spec_str(addr, "type"), "unix") == 0;
    NbdServerOptions opts;
    int fd, ret;

    *errp = NULL;
    if (b->server) {
        return error_fail(errp, -EEXIST, "NBD server already running");
    }
    nbd_server_from_spec(spec, &opts);
    fd = is_unix ? socket_listen_unix(spec_str(addr, "path"),
                                      &b->socket_opts, errp)
                 : listen_inet(spec_str(addr, "host"), spec_str(addr, "port"),
                               errp);
    if (fd == -EADDRINUSE && is_unix) {
        /* A live server on the path: QEMU's words, not the control
         * socket's "already running". */
        free(*errp);
        *errp = NULL;
        return error_fail(errp, fd, "Failed to bind socket to %s: Address "
                          "already in use", spec_str(addr, "path"));
    }
    if (fd < 0) {
        return fd;
    }
    ret = nbd_server_new(b->main_ctx, fd, &opts, nbd_log, b, &b->server,
                         errp);
    if (ret < 0) {
        if (is_unix) {
            unlink(spec_str(addr, "path"));
        }
        close(fd); /* the server owns it only once it exists */
        return ret;
    }
    if (is_unix) {
        b->server_socket_path = strdup(spec_str(addr, "path"));
    }
    b->server_spec = json_incref(spec);
    b->server_origin = origin;
    log_info("NBD server listening on %s%s%s",
             is_unix ? spec_str(addr, "path") : spec_str(addr, "host"),
             is_unix ? "" : ":", is_unix ? "" : spec_str(addr, "port"));
    bobj_changed(b);
    return 0;
}

typedef struct StopRequest {
    BlockObjects *b;
    BlockObjDoneFn *done;
    void *opaque;
} StopRequest;

static void server_stopped(void *opaque)
{
    StopRequest *r = opaque;
    BlockObjects *b = r->b;

    /* The server removed every export without their own callbacks. */
    while (b->exports) {
        export_gone(b, b->exports);
    }
    log_info("NBD server stopped");
    bobj_changed(b);
    if (r->done) {
        r->done(r->opaque);
    }
    free(r);
}

int bobj_nbd_stop(BlockObjects *b, BlockObjDoneFn *done, void *opaque,
                  char **errp)
{
    StopRequest *r;

    *errp = NULL;
    if (!b->server) {
        return error_fail(errp, -ENOENT, "NBD server not running");
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        return error_fail(errp, -ENOMEM, "Out of memory");
    }
    *r = (StopRequest){b, done, opaque};
    if (b->server_socket_path) {
        unlink(b->server_socket_path);
        free(b->server_socket_path);
        b->server_socket_path = NULL;
    }
    json_decref(b->server_spec);
    b->server_spec = NULL;
    for (Export *e = b->exports; e; e = e->next) {
        e->shutting_down = true;
    }
    nbd_server_stop(b->server, server_stopped, r);
    b->server = NULL;
    return 0;
}

static void set_flag(void *opaque)
{
    *(bool *)opaque = true;
}

void bobj_free(BlockObjects *b)
{
    bool stopped = false;
    char *err = NULL;

    if (!b) {
        return;
    }
    if (b->server && bobj_nbd_stop(b, set_flag, &stopped, &err) == 0) {
        while (!stopped) {
            aio_poll(b->main_ctx, true);
        }
    }
    free(err);
    while (b->nodes) {
        bobj_blockdev_del(b, block_node_name(b->nodes->node), &err);
        free(err);
        err = NULL;
    }
    free(b);
}

/* ---- queries ---- */

static json_t *stats_json(const BlockStatsSnapshot *s)
{
    json_t *o = json_object();

#define STATS_MEMBER(name, member)                                            \
    json_object_set_new(o, name, json_integer((json_int_t)s->member));
    BLOCK_STATS_FOREACH(STATS_MEMBER)
#undef STATS_MEMBER
    bobj_histograms_to_json(o, s);
    return o;
}

/* QEMU's BlockDeviceInfo, the members that apply to a raw file. */
static json_t *node_info(Blockdev *n)
{
    const BlockNodeOptions *o = block_node_options(n->node);
    static const char *const dz[] = {"off", "on", "unmap"};
    json_t *cache = json_object_get(n->spec, "cache");
    json_t *image = json_pack(
        "{s:s, s:s, s:I, s:b}", "filename", block_node_filename(n->node),
        "format", "file", "virtual-size", (json_int_t)block_node_size(n->node),
        "dirty-flag", 0);

    return json_pack(
        "{s:s, s:s, s:b, s:s, s:i, s:b, s:s, s:i, s:i, s:i, s:i, s:i, s:i,"
        " s:{s:b, s:b, s:b}, s:i, s:o, s:b}",
        "node-name", block_node_name(n->node),
        "file", block_node_filename(n->node),
        "ro", block_node_read_only(n->node),
        "drv", "file",
        "backing_file_depth", 0,
        "encrypted", 0,
        "detect_zeroes", dz[o->detect_zeroes],
        "bps", 0, "bps_rd", 0, "bps_wr", 0, "iops", 0, "iops_rd", 0,
        "iops_wr", 0,
        "cache", "writeback", 1, "direct", o->cache_direct, "no-flush",
        cache && json_is_true(json_object_get(cache, "no-flush")),
        "write_threshold", 0,
        "image", image,
        "active", 1);
}

json_t *bobj_query_named_block_nodes(BlockObjects *b)
{
    json_t *list = json_array();

    for (Blockdev *n = b->nodes; n; n = n->next) {
        json_array_append_new(list, node_info(n));
    }
    return list;
}

json_t *bobj_query_block_exports(BlockObjects *b)
{
    json_t *list = json_array();

    for (Export *e = b->exports; e; e = e->next) {
        json_t *info = json_pack(
            "{s:s, s:s, s:s, s:b, s:s, s:I}", "type", "nbd", "id", e->es.id,
            "node-name", e->es.node_name, "shutting-down", e->shutting_down,
            "name", e->es.name, "clients",
            (json_int_t)(e->exp ? nbd_export_client_count(e->exp) : 0));

        if (e->iothread) {
            json_object_set_new(info, "iothread",
                                json_string(e->es.iothread));
        }
        json_array_append_new(list, info);
    }
    return list;
}

json_t *bobj_query_blockstats(BlockObjects *b, bool nodes_only)
{
    json_t *list = json_array();
    BlockStatsSnapshot s;

    for (Blockdev *n = b->nodes; n; n = n->next) {
        block_node_get_stats(n->node, &s);
        json_array_append_new(list, json_pack("{s:s, s:o}", "node-name",
                                              block_node_name(n->node),
                                              "stats", stats_json(&s)));
    }
    for (Export *e = b->exports; e && !nodes_only; e = e->next) {
        if (!e->exp) {
            continue;
        }
        nbd_export_get_stats(e->exp, &s);
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:o}", "node-name", e->es.node_name,
                            "export", e->es.id, "stats", stats_json(&s)));
    }
    return list;
}

json_t *bobj_specs(BlockObjects *b, unsigned origins)
{
    json_t *nodes = json_array(), *exports = json_array();
    json_t *all = json_object();

    for (Blockdev *n = b->nodes; n; n = n->next) {
        if (origins & (1u << n->origin)) {
            json_array_append(nodes, n->spec);
        }
    }
    for (Export *e = b->exports; e; e = e->next) {
        if ((origins & (1u << e->origin)) && !e->shutting_down) {
            json_array_append(exports, e->spec);
        }
    }
    json_object_set_new(all, "blockdevs", nodes);
    if (b->server_spec && (origins & (1u << b->server_origin))) {
        json_object_set(all, "nbd-server", b->server_spec);
    }
    json_object_set_new(all, "exports", exports);
    return all;
}

int bobj_create_all(BlockObjects *b, json_t *specs, ObjectOrigin origin,
                    bool skip_existing, char **errp)
{
    json_t *server = json_object_get(specs, "nbd-server"), *spec;
    char *err = NULL;
    size_t i;
    int ret = 0;

    *errp = NULL;
    json_array_foreach(json_object_get(specs, "blockdevs"), i, spec) {
        if (skip_existing &&
            bobj_find_node(b, spec_str(spec, "node-name"))) {
            continue;
        }
        ret = bobj_blockdev_add(b, spec, origin, &err);
        if (ret < 0) {
            error_setf(errp, "blockdev '%s': %s", spec_str(spec, "node-name"),
                       err ? err : "?");
            goto out;
        }
    }
    if (server && !(skip_existing && b->server)) {
        ret = bobj_nbd_start(b, server, origin, &err);
        if (ret < 0) {
            error_setf(errp, "nbd-server: %s", err ? err : "?");
            goto out;
        }
    }
    json_array_foreach(json_object_get(specs, "exports"), i, spec) {
        if (skip_existing && bobj_find_export(b, spec_str(spec, "id"))) {
            continue;
        }
        ret = bobj_export_add(b, spec, origin, &err);
        if (ret < 0) {
            error_setf(errp, "export '%s': %s", spec_str(spec, "id"),
                       err ? err : "?");
            goto out;
        }
    }
out:
    free(err);
    return ret;
}
