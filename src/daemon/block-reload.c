/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reload of the block objects the config file describes (block-objects.h):
 * all or nothing, as the iothreads' reload.
 *
 * Objects made over QMP or on the command line are the user's and stay;
 * one the file now names with the same settings is adopted.  An object
 * cannot change while it exists, so a changed one is refused before
 * anything happens.  Creation is the only step that can fail once the
 * checks passed, and then what this reload created is removed again;
 * deletions come last and cannot fail (an export still has no client, a
 * node is closed once its exports are gone).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "daemon/block-objects-internal.h"
#include "daemon/log.h"

/* The spec of @want's @kind member named @name (by node-name or id). */
static json_t *wanted(json_t *want, BlockObjKind kind, const char *name)
{
    const char *key = kind == BLOCK_OBJ_BLOCKDEV ? "node-name" : "id";
    json_t *spec;
    size_t i;

    json_array_foreach(json_object_get(want, block_specs_key(kind)), i,
                       spec) {
        if (strcmp(spec_str(spec, key), name) == 0) {
            return spec;
        }
    }
    return NULL;
}

/* An export this reload deletes: from the file, and no longer in it. */
static bool export_goes(Export *e, json_t *want)
{
    return e->origin == ORIGIN_CONFIG && !e->shutting_down &&
           !wanted(want, BLOCK_OBJ_EXPORT, e->es.id);
}

static bool server_goes(BlockObjects *b, json_t *want)
{
    return b->server && b->server_origin == ORIGIN_CONFIG &&
           !json_object_get(want, "nbd-server");
}

/* What stays must keep its settings. */
static int check_unchanged(BlockObjects *b, json_t *want, char **errp)
{
    json_t *spec, *server = json_object_get(want, "nbd-server");
    size_t i;

    json_array_foreach(json_object_get(want, "blockdevs"), i, spec) {
        Blockdev *n = bobj_find_node(b, spec_str(spec, "node-name"));

        if (n && (n->doomed || !json_equal(n->spec, spec))) {
            return error_fail(errp, -EINVAL, "blockdev '%s': its settings "
                              "cannot change while it exists; remove it, "
                              "reload, then add it back",
                              spec_str(spec, "node-name"));
        }
    }
    if (server && b->server && !json_equal(b->server_spec, server)) {
        return error_fail(errp, -EINVAL, "nbd-server: its settings cannot "
                          "change while it runs; remove it, reload, then "
                          "add it back");
    }
    json_array_foreach(json_object_get(want, "exports"), i, spec) {
        Export *e = bobj_find_export(b, spec_str(spec, "id"));

        if (e && (e->shutting_down || !json_equal(e->spec, spec))) {
            return error_fail(errp, -EINVAL, "export '%s': its settings "
                              "cannot change while it exists; remove it, "
                              "reload, then add it back",
                              spec_str(spec, "id"));
        }
    }
    return 0;
}

/* What goes must be free to go. */
static int check_removals(BlockObjects *b, json_t *want, char **errp)
{
    for (Export *e = b->exports; e; e = e->next) {
        if (export_goes(e, want) && nbd_export_client_count(e->exp) > 0) {
            return error_fail(errp, -EBUSY, "export '%s' still in use",
                              e->es.id);
        }
        if (server_goes(b, want) && !export_goes(e, want) &&
            !e->shutting_down) {
            return error_fail(errp, -EBUSY, "nbd-server: cannot stop while "
                              "export '%s' uses it", e->es.id);
        }
    }
    if (server_goes(b, want) &&
        json_array_size(json_object_get(want, "exports"))) {
        return error_fail(errp, -EINVAL, "exports need an nbd-server");
    }
    for (Blockdev *n = b->nodes; n; n = n->next) {
        const char *name = block_node_name(n->node);

        if (n->origin != ORIGIN_CONFIG || n->doomed ||
            wanted(want, BLOCK_OBJ_BLOCKDEV, name)) {
            continue;
        }
        for (Export *e = b->exports; e; e = e->next) {
            if (e->bdev == n && !e->shutting_down && !export_goes(e, want)) {
                return error_fail(errp, -EBUSY, "Node %s is in use", name);
            }
        }
    }
    return 0;
}

int bobj_reload_check(BlockObjects *b, json_t *want, char **errp)
{
    int ret;

    *errp = NULL;
    ret = check_unchanged(b, want, errp);
    return ret ? ret : check_removals(b, want, errp);
}

/* Remove what bobj_reload_create() made before it failed. */
static void undo(BlockObjects *b, json_t *made)
{
    json_t *server = json_object_get(made, "nbd-server"), *spec;
    char *err = NULL;
    size_t i;

    json_array_foreach(json_object_get(made, "exports"), i, spec) {
        bobj_export_del(b, spec_str(spec, "id"), true, &err);
        free(err);
        err = NULL;
    }
    if (server) {
        bobj_nbd_stop(b, NULL, NULL, &err);
        free(err);
        err = NULL;
    }
    json_array_foreach(json_object_get(made, "blockdevs"), i, spec) {
        Blockdev *n = bobj_find_node(b, spec_str(spec, "node-name"));

        if (n) {
            bobj_node_doom(b, n);
        }
    }
}

/* Adopt what the file now names and exists already with its settings. */
static void adopt(BlockObjects *b, json_t *want)
{
    json_t *spec;
    size_t i;

    json_array_foreach(json_object_get(want, "blockdevs"), i, spec) {
        bobj_find_node(b, spec_str(spec, "node-name"))->origin =
            ORIGIN_CONFIG;
    }
    if (json_object_get(want, "nbd-server")) {
        b->server_origin = ORIGIN_CONFIG;
    }
    json_array_foreach(json_object_get(want, "exports"), i, spec) {
        bobj_find_export(b, spec_str(spec, "id"))->origin = ORIGIN_CONFIG;
    }
}

int bobj_reload_create(BlockObjects *b, json_t *want, char **errp)
{
    json_t *made = block_specs_new(), *spec;
    json_t *server = json_object_get(want, "nbd-server");
    char *err = NULL;
    const char *what = "";
    size_t i;
    int ret = 0;

    *errp = NULL;
    if (!made) {
        return error_fail(errp, -ENOMEM, "Out of memory");
    }
    json_array_foreach(json_object_get(want, "blockdevs"), i, spec) {
        if (ret == 0 && !bobj_find_node(b, spec_str(spec, "node-name"))) {
            what = spec_str(spec, "node-name");
            ret = bobj_blockdev_add(b, spec, ORIGIN_CONFIG, &err);
            json_array_append(json_object_get(made, "blockdevs"), spec);
        }
    }
    if (ret == 0 && server && !bobj_nbd_running(b)) {
        what = "nbd-server";
        ret = bobj_nbd_start(b, server, ORIGIN_CONFIG, &err);
        json_object_set(made, "nbd-server", server);
    }
    json_array_foreach(json_object_get(want, "exports"), i, spec) {
        if (ret == 0 && !bobj_find_export(b, spec_str(spec, "id"))) {
            what = spec_str(spec, "id");
            ret = bobj_export_add(b, spec, ORIGIN_CONFIG, &err);
            json_array_append(json_object_get(made, "exports"), spec);
        }
    }
    if (ret < 0) {
        /* The failed one is in @made too: undoing it finds nothing. */
        undo(b, made);
        error_setf(errp, "%s: %s", what, err ? err : "?");
    } else {
        adopt(b, want);
    }
    free(err);
    json_decref(made);
    return ret;
}

void bobj_reload_delete(BlockObjects *b, json_t *want)
{
    Export *e, *next;
    char *err = NULL;

    for (e = b->exports; e; e = next) {
        next = e->next;
        if (export_goes(e, want)) {
            bobj_export_del(b, e->es.id, true, &err);
            free(err);
            err = NULL;
        }
    }
    if (server_goes(b, want)) {
        bobj_nbd_stop(b, NULL, NULL, &err);
        free(err);
        err = NULL;
    }
    for (Blockdev *n = b->nodes, *nn; n; n = nn) {
        nn = n->next;
        if (n->origin == ORIGIN_CONFIG && !n->doomed &&
            !wanted(want, BLOCK_OBJ_BLOCKDEV, block_node_name(n->node))) {
            bobj_node_doom(b, n);
        }
    }
}
