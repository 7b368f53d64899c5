/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The registry: the IOThread objects in creation order (see registry.h).
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "common/cpulist.h"
#include "common/error.h"
#include "daemon/registry.h"

struct Registry {
    ObjectEnv env; /* shared by every object */
    long max_objects;
    size_t count;
    IOThreadObject *head, *tail;
    RegistryEventFn *event;
    void *opaque;
};

Registry *registry_new(AioContext *main_ctx, long max_objects,
                       RegistryEventFn *event, void *opaque)
{
    Registry *r = calloc(1, sizeof(*r));

    if (!r) {
        return NULL;
    }
    r->env.main_ctx = main_ctx;
    r->max_objects = max_objects;
    r->event = event;
    r->opaque = opaque;
    if (sched_getaffinity(0, sizeof(r->env.unpinned), &r->env.unpinned) < 0) {
        CPU_ZERO(&r->env.unpinned);
        for (int i = 0; i < CPU_SETSIZE; i++) {
            CPU_SET(i, &r->env.unpinned);
        }
    }
    r->env.unpinned_cpus = cpulist_format(&r->env.unpinned);
    if (!r->env.unpinned_cpus) {
        free(r);
        return NULL;
    }
    return r;
}

static void unlink_object(Registry *r, IOThreadObject *obj)
{
    IOThreadObject *prev = NULL;

    for (IOThreadObject *o = r->head; o;
         prev = o, o = iothread_object_next(o)) {
        if (o != obj) {
            continue;
        }
        if (prev) {
            iothread_object_set_next(prev, iothread_object_next(obj));
        } else {
            r->head = iothread_object_next(obj);
        }
        if (r->tail == obj) {
            r->tail = prev;
        }
        r->count--;
        return;
    }
}

void registry_free(Registry *r)
{
    IOThreadObject *obj;

    if (!r) {
        return;
    }
    while ((obj = r->head)) {
        unlink_object(r, obj);
        iothread_object_stop(obj);
    }
    free(r->env.unpinned_cpus);
    free(r);
}

void registry_set_max(Registry *r, long max_objects)
{
    r->max_objects = max_objects;
}

long registry_get_max(Registry *r)
{
    return r->max_objects;
}

size_t registry_count(Registry *r)
{
    return r->count;
}

IOThreadObject *registry_next(Registry *r, IOThreadObject *prev)
{
    return prev ? iothread_object_next(prev) : r->head;
}

IOThreadObject *registry_find(Registry *r, const char *id)
{
    for (IOThreadObject *o = r->head; o; o = iothread_object_next(o)) {
        if (strcmp(iothread_object_id(o), id) == 0) {
            return o;
        }
    }
    return NULL;
}

int registry_create(Registry *r, const IOThreadConfig *cfg,
                    ObjectOrigin origin, char **errp)
{
    IOThreadObject *obj;
    int ret;

    *errp = NULL;
    if (registry_find(r, cfg->id)) {
        return error_fail(errp, -EEXIST, "IOThread '%s' already exists",
                          cfg->id);
    }
    if ((long)r->count >= r->max_objects) {
        return error_fail(errp, -ENOSPC, "Cannot create IOThread '%s': the "
                          "maximum of %ld iothreads is reached", cfg->id,
                          r->max_objects);
    }
    ret = iothread_object_start(&obj, cfg, origin, &r->env, errp);
    if (ret < 0) {
        return ret;
    }
    if (r->tail) {
        iothread_object_set_next(r->tail, obj);
    } else {
        r->head = obj;
    }
    r->tail = obj;
    r->count++;
    r->event(r->opaque, "IOTHREAD_CREATED", iothread_object_id(obj));
    return 0;
}

int registry_delete(Registry *r, IOThreadObject *obj, char **errp)
{
    char *id;

    *errp = NULL;
    if (iothread_object_holder(obj)) {
        return error_fail(errp, -EBUSY, "IOThread '%s' is in use by '%s'",
                          iothread_object_id(obj),
                          iothread_object_holder(obj));
    }
    unlink_object(r, obj);
    id = strdup(iothread_object_id(obj));
    /* Changes in flight were scheduled before the stop request, so they
     * run (and answer) first. */
    iothread_object_stop(obj);
    r->event(r->opaque, "IOTHREAD_DELETED", id ? id : "?");
    free(id);
    return 0;
}

int registry_update(Registry *r, IOThreadObject *obj,
                    const IOThreadConfig *cfg, RegistryDoneFn *done,
                    void *opaque)
{
    int ret = iothread_object_update(obj, cfg, done, opaque);

    if (ret == 0) {
        r->event(r->opaque, "IOTHREAD_CHANGED", iothread_object_id(obj));
    }
    return ret;
}

int registry_update_sync(Registry *r, IOThreadObject *obj,
                         const IOThreadConfig *cfg)
{
    int ret = iothread_object_update_sync(obj, cfg);

    if (ret == 0) {
        r->event(r->opaque, "IOTHREAD_CHANGED", iothread_object_id(obj));
    }
    return ret;
}
