/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reload (SIGHUP, the "reload" command): make the iothreads the config
 * file describes match it again, all or nothing; the block objects too
 * (block-reload.c), checked and created between the iothreads' steps.
 *
 * Only iothreads that came from the config file are deleted when they
 * disappear from it; those made with object-add or --object are the
 * user's and stay.  An object-added iothread that the file now names is
 * adopted.  Everything is checked before the first change; the only
 * thing that can still fail afterwards is starting a thread, and then
 * the threads this reload started are stopped again.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "daemon/block-objects.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/service.h"

static const IOThreadConfig *find_cfg(const DaemonConfig *c, const char *id)
{
    for (size_t i = 0; i < c->n_iothreads; i++) {
        if (strcmp(c->iothreads[i].id, id) == 0) {
            return &c->iothreads[i];
        }
    }
    return NULL;
}

static bool same_settings(const IOThreadConfig *a, const IOThreadConfig *b)
{
    json_t *ja = iothread_config_to_json(a);
    json_t *jb = iothread_config_to_json(b);
    bool same = ja && jb && json_equal(ja, jb);

    json_decref(ja);
    json_decref(jb);
    return same;
}

/* Everything that could make the reload fail half-way, checked first. */
static int check_plan(Daemon *d, const DaemonConfig *next, char **errp)
{
    Registry *r = d->registry;
    long count = (long)registry_count(r);

    for (IOThreadObject *o = registry_next(r, NULL); o;
         o = registry_next(r, o)) {
        const IOThreadConfig *want = find_cfg(next, iothread_object_id(o));
        const IOThreadPropInfo *fixed =
            want ? iothread_config_creation_diff(want,
                                                 iothread_object_config(o))
                 : NULL;

        if (fixed) {
            return error_fail(errp, -EINVAL,
                        "IOThread '%s': '%s' cannot change while it "
                        "runs; delete and re-create it",
                        iothread_object_id(o), fixed->name);
        }
        if (!want && iothread_object_origin(o) == ORIGIN_CONFIG) {
            if (iothread_object_holder(o)) {
                return error_fail(errp, -EBUSY, "IOThread '%s' is in use by '%s'",
                            iothread_object_id(o), iothread_object_holder(o));
            }
            count--;
        }
    }
    for (size_t i = 0; i < next->n_iothreads; i++) {
        count += !registry_find(r, next->iothreads[i].id);
    }
    if (count > next->max_iothreads) {
        return error_fail(errp, -ENOSPC,
                    "the configuration needs %ld iothreads, more than "
                    "max-iothreads (%ld)", count, next->max_iothreads);
    }
    return 0;
}

static void undo_creates(Daemon *d, char **created, size_t n)
{
    char *err = NULL;

    for (size_t i = 0; i < n; i++) {
        IOThreadObject *o = registry_find(d->registry, created[i]);

        if (o && registry_delete(d->registry, o, &err) < 0) {
            log_err("reload: cannot undo IOThread '%s': %s", created[i],
                    err ? err : "?");
            free(err);
            err = NULL;
        }
    }
}

/* Start the new iothreads first: with the new block objects, the only
 * step that can fail.  On success *@createdp lists them (ids borrowed
 * from @next, NULL-terminated) for undo_creates() if the block objects
 * fail next. */
static int create_new(Daemon *d, const DaemonConfig *next, char ***createdp,
                      char **errp)
{
    char **created = calloc(next->n_iothreads + 1, sizeof(*created));
    long old_max = registry_get_max(d->registry);
    size_t n = 0;
    int ret = 0;

    if (!created) {
        return error_fail(errp, -ENOMEM, "out of memory");
    }
    /* Room for the new ones before the old ones go; restored below if
     * this fails, set to the new limit by reload() if it does not. */
    registry_set_max(d->registry, old_max + (long)next->n_iothreads);
    for (size_t i = 0; i < next->n_iothreads && ret == 0; i++) {
        const IOThreadConfig *c = &next->iothreads[i];

        if (registry_find(d->registry, c->id)) {
            continue;
        }
        ret = registry_create(d->registry, c, ORIGIN_CONFIG, errp);
        if (ret == 0) {
            created[n++] = c->id;
        }
    }
    if (ret < 0) {
        undo_creates(d, created, n);
        registry_set_max(d->registry, old_max);
        free(created);
        return ret;
    }
    *createdp = created;
    return 0;
}

static size_t count(char **list)
{
    size_t n = 0;

    while (list[n]) {
        n++;
    }
    return n;
}

static void delete_and_retune(Daemon *d, const DaemonConfig *next)
{
    Registry *r = d->registry;
    IOThreadObject *o, *nexto;
    char *err = NULL;

    for (o = registry_next(r, NULL); o; o = nexto) {
        const IOThreadConfig *want = find_cfg(next, iothread_object_id(o));

        nexto = registry_next(r, o);
        if (!want) {
            if (iothread_object_origin(o) == ORIGIN_CONFIG &&
                registry_delete(r, o, &err) < 0) {
                log_err("reload: %s", err ? err : "cannot delete");
                free(err);
                err = NULL;
            }
            continue;
        }
        iothread_object_set_origin(o, ORIGIN_CONFIG);
        if (!same_settings(want, iothread_object_config(o))) {
            int ret = registry_update_sync(r, o, want);

            if (ret < 0) {
                log_err("reload: IOThread '%s': %s", want->id,
                        strerror(-ret));
            }
        }
    }
}

static int reload(Daemon *d, char **errp);

int daemon_reload(Daemon *d, char **errp)
{
    int ret;

    /* systemd shows "reloading" until READY=1 comes back, which it does
     * whether or not the new configuration was taken. */
    if (d->service) {
        service_reloading(d->service);
    }
    ret = reload(d, errp);
    if (d->service) {
        service_ready(d->service);
    }
    return ret;
}

static int reload(Daemon *d, char **errp)
{
    DaemonConfig next;
    char **created = NULL;
    json_t *block;
    int ret;

    *errp = NULL;
    if (!d->config_path) {
        return error_fail(errp, -ENOENT,
                    "iothreadd was started without a configuration file "
                    "(--config)");
    }
    daemon_config_init(&next);
    ret = daemon_config_load(d->config_path, &next, errp);
    block = next.block ? json_incref(next.block) : block_specs_new();
    if (ret == 0) {
        ret = check_plan(d, &next, errp);
    }
    if (ret == 0) {
        ret = bobj_reload_check(d->blk, block, errp);
    }
    if (ret == 0) {
        ret = create_new(d, &next, &created, errp);
    }
    if (ret == 0) {
        ret = bobj_reload_create(d->blk, block, errp);
        if (ret < 0) {
            undo_creates(d, created, count(created));
            registry_set_max(d->registry, d->config.max_iothreads);
        }
    }
    free(created);
    if (ret < 0) {
        json_decref(block);
        daemon_config_cleanup(&next);
        return ret;
    }
    bobj_reload_delete(d->blk, block);
    json_decref(block);
    delete_and_retune(d, &next);
    registry_set_max(d->registry, next.max_iothreads);
    if (next.log_level >= 0) {
        log_set_level(next.log_level);
    }
    if ((next.socket && (!d->config.socket ||
                         strcmp(next.socket, d->config.socket) != 0)) ||
        next.max_clients != d->config.max_clients) {
        log_warning("reload: socket settings and client limits take effect "
                    "at the next start");
    }
    daemon_config_cleanup(&d->config);
    d->config = next;
    log_info("reloaded %s: %zu iothreads", d->config_path,
             registry_count(d->registry));
    return 0;
}
