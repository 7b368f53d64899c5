/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Moving exports between iothreads (block-objects.h): the checks, the
 * holders (the target is held from the start, the old iothread released
 * once the NBD server says nothing of the export runs there any more),
 * and the export's spec, which then names the target (state file,
 * query-block-exports).
 *
 * One request moves one export (block-export-set-iothread) or every
 * export of a node (x-blockdev-set-iothread); it is checked whole before
 * anything changes, and once checked nothing can fail, so a request is
 * never half done.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "daemon/block-objects-internal.h"
#include "daemon/log.h"

typedef struct MoveRequest {
    BlockObjects *b;
    unsigned pending;      /* exports still moving */
    BlockObjDoneFn *done;
    void *opaque;
} MoveRequest;

static AioContext *iothread_ctx(BlockObjects *b, IOThreadObject *io)
{
    return io ? iothread_object_context(io) : b->main_ctx;
}

/* @e's spec, naming @to (NULL: no iothread member, the main loop). */
static int export_spec_retarget(Export *e, IOThreadObject *to)
{
    json_t *spec = json_deep_copy(e->spec);

    if (!spec) {
        return -ENOMEM;
    }
    if (to) {
        if (json_object_set_new(spec, "iothread",
                                json_string(iothread_object_id(to))) < 0) {
            json_decref(spec);
            return -ENOMEM;
        }
    } else {
        json_object_del(spec, "iothread");
    }
    json_decref(e->spec);
    e->spec = spec;
    export_from_spec(e->spec, &e->es);
    return 0;
}

static void request_unref(MoveRequest *r)
{
    if (--r->pending > 0) {
        return;
    }
    bobj_changed(r->b);
    if (r->done) {
        r->done(r->opaque);
    }
    free(r);
}

/* The NBD server has moved @e: swap the holds and the spec. */
static void export_moved(void *opaque)
{
    Export *e = opaque;
    MoveRequest *r = e->move_req;
    IOThreadObject *from = e->iothread;

    if (export_spec_retarget(e, e->move_to) < 0) {
        /* The spec keeps naming the old iothread (state file, reload);
         * the export runs on the new one all the same. */
        log_msg(LOG_ERR, "export %s: out of memory recording its move",
                e->es.id);
    }
    if (from) {
        iothread_object_release(from, e->holder);
    }
    e->iothread = e->move_to;
    e->moving = false;
    e->move_to = NULL;
    e->move_req = NULL;
    log_info("export %s moved to %s", e->es.id,
             e->iothread ? iothread_object_id(e->iothread) : "the main loop");
    request_unref(r);
}

/* Whether @e must move to @to (not already there, not leaving). */
static bool export_needs_move(Export *e, IOThreadObject *to)
{
    return !e->shutting_down && e->iothread != to;
}

/* Every check of one export, before anything changes. */
static int export_check_move(Export *e, IOThreadObject *to, char **errp)
{
    if (!export_needs_move(e, to)) {
        return 0;
    }
    if (e->es.fixed_iothread) {
        return error_fail(errp, -EPERM, "Cannot change iothread of active "
                          "block backend: export '%s' was added with "
                          "fixed-iothread=on", e->es.id);
    }
    if (e->moving || nbd_export_moving(e->exp)) {
        return error_fail(errp, -EBUSY, "Export '%s' is already being "
                          "moved to another iothread", e->es.id);
    }
    return 0;
}

/* Move every export for which @pick(@e, @arg) is true to @to, as one
 * request; everything was checked. */
static int move_exports(BlockObjects *b, IOThreadObject *to,
                        bool (*pick)(Export *e, const void *arg),
                        const void *arg, BlockObjDoneFn *done, void *opaque,
                        char **errp)
{
    MoveRequest *r = calloc(1, sizeof(*r));
    Export *e, *failed = NULL;

    if (!r) {
        return error_fail(errp, -ENOMEM, "Out of memory");
    }
    *r = (MoveRequest){.b = b, .pending = 1, .done = done, .opaque = opaque};
    /* Take every hold first: the only step that can fail. */
    for (e = b->exports; e; e = e->next) {
        if (pick(e, arg) && export_needs_move(e, to) && to &&
            iothread_object_hold(to, e->holder) < 0) {
            failed = e;
            break;
        }
    }
    if (failed) {
        for (e = b->exports; e != failed; e = e->next) {
            if (pick(e, arg) && export_needs_move(e, to)) {
                iothread_object_release(to, e->holder);
            }
        }
        free(r);
        return error_fail(errp, -ENOMEM, "Out of memory");
    }
    for (e = b->exports; e; e = e->next) {
        if (pick(e, arg) && export_needs_move(e, to)) {
            e->moving = true;
            e->move_to = to;
            e->move_req = r;
            r->pending++;
            /* Checked: neither removed nor moving, so it cannot fail. */
            nbd_export_set_context(e->exp, iothread_ctx(b, to),
                                   export_moved, e);
        }
    }
    request_unref(r);
    return 0;
}

static bool pick_export(Export *e, const void *arg)
{
    return e == arg;
}

static bool pick_node(Export *e, const void *arg)
{
    return e->bdev == arg;
}

/* The target: *@to is @iothread's object, or NULL for the main loop
 * (@iothread NULL).  False when there is no such iothread. */
static bool find_target(BlockObjects *b, const char *iothread,
                        IOThreadObject **to)
{
    *to = iothread ? registry_find(b->registry, iothread) : NULL;
    return !iothread || *to;
}

/* Check every export @pick chooses, then move them all as one request. */
static int check_and_move(BlockObjects *b, IOThreadObject *to,
                          bool (*pick)(Export *e, const void *arg),
                          const void *arg, BlockObjDoneFn *done,
                          void *opaque, char **errp)
{
    for (Export *e = b->exports; e; e = e->next) {
        int ret = pick(e, arg) ? export_check_move(e, to, errp) : 0;

        if (ret < 0) {
            return ret;
        }
    }
    return move_exports(b, to, pick, arg, done, opaque, errp);
}

int bobj_export_set_iothread(BlockObjects *b, const char *id,
                             const char *iothread, BlockObjDoneFn *done,
                             void *opaque, char **errp)
{
    Export *e = bobj_find_export(b, id);
    IOThreadObject *to;

    *errp = NULL;
    if (!e) {
        return error_fail(errp, -ENOENT, "Export '%s' is not found", id);
    }
    if (e->shutting_down) {
        return error_fail(errp, -EALREADY, "Export '%s' is already shutting "
                          "down", id);
    }
    if (!find_target(b, iothread, &to)) {
        return error_fail(errp, -ENOENT, "iothread \"%s\" not found",
                          iothread);
    }
    return check_and_move(b, to, pick_export, e, done, opaque, errp);
}

int bobj_node_set_iothread(BlockObjects *b, const char *node_name,
                           const char *iothread, bool force,
                           BlockObjDoneFn *done, void *opaque, char **errp)
{
    Blockdev *n = bobj_find_node(b, node_name);
    IOThreadObject *to;

    *errp = NULL;
    if (!n) {
        return error_fail(errp, -ENOENT, "Failed to find node with "
                          "node-name='%s'", node_name);
    }
    if (!force && n->users) {
        return error_fail(errp, -EBUSY, "Node %s is associated with a "
                          "BlockBackend and could be in use (use force=true "
                          "to override this check)", node_name);
    }
    if (!find_target(b, iothread, &to)) {
        return error_fail(errp, -ENOENT, "Cannot find iothread %s", iothread);
    }
    return check_and_move(b, to, pick_node, n, done, opaque, errp);
}
