/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP commands on iothread objects: object-add, object-del, iothread-set,
 * query-iothreads, query-iothread-stats.  Handlers validate a whole
 * request before they change anything; changes to a running iothread are
 * answered only after they took effect inside it.
 */
#include <stdlib.h>
#include <string.h>

#include <iothread/thread-pool.h>

#include "common/iothread-config.h"
#include "daemon/qmp-commands.h"
#include "daemon/stats-json.h"

void cmd_object_add(void *opaque, QmpRequest *req, json_t *args,
                    json_t *props)
{
    Daemon *d = opaque;
    const char *type = qmp_str_arg(args, "qom-type");
    const char *id = qmp_str_arg(args, "id");
    IOThreadConfig cfg;
    char *err = NULL;

    if (strcmp(type, "iothread") != 0) {
        qmp_request_error(req, "GenericError",
                          "Parameter 'qom-type' does not accept value '%s'",
                          type);
        return;
    }
    if (!iothread_id_valid(id)) {
        qmp_request_error(req, "GenericError",
                          "Parameter 'id' expects an identifier");
        return;
    }
    if (registry_find(d->registry, id)) {
        qmp_request_error(req, "GenericError", "IOThread '%s' already exists",
                          id);
        return;
    }
    iothread_config_init(&cfg);
    cfg.id = strdup(id);
    if (!cfg.id || iothread_config_apply(&cfg, props, true, &err) < 0 ||
        registry_create(d->registry, &cfg, ORIGIN_QMP, &err) < 0) {
        qmp_reply_errp(req, err, "Out of memory");
    } else {
        qmp_request_return(req, NULL);
    }
    iothread_config_cleanup(&cfg);
}

void cmd_object_del(void *opaque, QmpRequest *req, json_t *args,
                    json_t *props)
{
    Daemon *d = opaque;
    IOThreadObject *obj = qmp_find_iothread(d, req, qmp_str_arg(args, "id"));
    char *err = NULL;

    if (!obj) {
        return;
    }
    if (registry_delete(d->registry, obj, &err) < 0) {
        qmp_reply_errp(req, err, "Cannot delete the iothread");
        return;
    }
    qmp_request_return(req, NULL);
}

static void update_done(void *opaque, int ret)
{
    QmpRequest *req = opaque;

    if (ret < 0) {
        qmp_request_error(req, "GenericError",
                          "Cannot apply the settings: %s", strerror(-ret));
    } else {
        qmp_request_return(req, NULL);
    }
}

/* Validate @props against a copy of the object's settings, then commit
 * and apply them; the reply follows once they are in effect. */
void qmp_update_object(Daemon *d, QmpRequest *req, IOThreadObject *obj,
                          json_t *props)
{
    IOThreadConfig cfg;
    char *err = NULL;

    if (iothread_config_copy(&cfg, iothread_object_config(obj)) < 0) {
        qmp_request_error(req, "GenericError", "Out of memory");
        return;
    }
    if (iothread_config_apply(&cfg, props, false, &err) < 0) {
        qmp_reply_errp(req, err, "Invalid settings");
    } else if (registry_update(d->registry, obj, &cfg, update_done, req) <
               0) {
        qmp_request_error(req, "GenericError", "Out of memory");
    }
    iothread_config_cleanup(&cfg);
}

void cmd_iothread_set(void *opaque, QmpRequest *req, json_t *args,
                      json_t *props)
{
    Daemon *d = opaque;
    IOThreadObject *obj = qmp_find_iothread(d, req, qmp_str_arg(args, "id"));

    if (obj) {
        qmp_update_object(d, req, obj, props);
    }
}

static void set_int(json_t *o, const char *key, int64_t v)
{
    json_object_set_new_nocheck(o, key, json_integer((json_int_t)v));
}

/*
 * One query-iothreads entry.  query-iothreads is what monitoring polls,
 * with one entry per iothread, so this is built member by member with the
 * _nocheck setters rather than json_pack(): no format string to parse and
 * no UTF-8 validation of strings that are ASCII by construction (ids pass
 * iothread_id_valid(), cpulists and back-end names are ours).  It halves
 * the cost of building the reply; dumping it is the rest (docs/performance.md).
 */
static json_t *iothread_info(IOThreadObject *obj)
{
    const IOThreadConfig *c = iothread_object_config(obj);
    json_t *o = json_object();
    AioStats st;

    aio_context_get_stats(iothread_object_context(obj), &st);
    json_object_set_new_nocheck(o, "id", json_string_nocheck(c->id));
    set_int(o, "thread-id", iothread_object_tid(obj));
    /* The properties, in the table's order, as in effect: the CPUs the
     * thread may use and the back-end it uses (AUTO resolved). */
    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        const char *str = NULL;

        switch (p->kind) {
        case IOTHREAD_PROP_INT:
            set_int(o, p->name, iothread_config_int(c, p));
            continue;
        case IOTHREAD_PROP_CPULIST:
            str = iothread_object_cpus(obj);
            break;
        case IOTHREAD_PROP_ENUM: /* the only one: fdmon */
            str = aio_fdmon_name(iothread_object_fdmon(obj));
            break;
        }
        json_object_set_new_nocheck(o, p->name, json_string_nocheck(str));
    }
    set_int(o, "poll-ns", (int64_t)st.poll_ns);
    return o;
}

void cmd_query_iothreads(void *opaque, QmpRequest *req, json_t *args,
                         json_t *props)
{
    Daemon *d = opaque;
    json_t *list = json_array();

    for (IOThreadObject *o = registry_next(d->registry, NULL); o;
         o = registry_next(d->registry, o)) {
        json_array_append_new(list, iothread_info(o));
    }
    qmp_request_return(req, list);
}

static json_t *iothread_stats(IOThreadObject *obj)
{
    AioContext *ctx = iothread_object_context(obj);
    uint64_t user_ns = 0, system_ns = 0;
    ThreadPoolStats ps;
    AioStats st;
    json_t *j;

    aio_context_get_stats(ctx, &st);
    aio_thread_pool_get_stats(ctx, &ps);
    iothread_object_cpu_time(obj, &user_ns, &system_ns);
    j = json_pack("{s:s, s:I}", "id", iothread_object_id(obj), "thread-id",
                  (json_int_t)iothread_object_tid(obj));
#define SET(name, v) json_object_set_new(j, name, json_integer((json_int_t)(v)))
    aio_stats_to_json(j, &st);
    SET("user-cpu-ns", user_ns);
    SET("system-cpu-ns", system_ns);
    SET("thread-pool-workers", ps.workers);
    SET("thread-pool-idle-workers", ps.idle_workers);
    SET("thread-pool-queued", ps.queued);
    SET("thread-pool-completed", ps.completed);
#undef SET
    return j;
}

void cmd_query_iothread_stats(void *opaque, QmpRequest *req, json_t *args,
                              json_t *props)
{
    Daemon *d = opaque;
    const char *id = qmp_str_arg(args, "id");
    json_t *list = json_array();

    if (id) {
        IOThreadObject *obj = qmp_find_iothread(d, req, id);

        if (!obj) {
            json_decref(list);
            return;
        }
        json_array_append_new(list, iothread_stats(obj));
    } else {
        for (IOThreadObject *o = registry_next(d->registry, NULL); o;
             o = registry_next(d->registry, o)) {
            json_array_append_new(list, iothread_stats(o));
        }
    }
    qmp_request_return(req, list);
}
