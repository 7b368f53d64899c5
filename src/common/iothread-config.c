/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IOThread settings: defaults, validation and JSON conversion shared by
 * every way of creating or changing an IOThread (see iothread-config.h).
 * Validation stages all changes in a copy and commits them only when
 * everything passed, so a rejected request never half-applies.
 */
#include "common/error.h"
#include "common/iothread-config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cpulist.h"

const IOThreadPropInfo iothread_props[] = {
    {"poll-max-ns", "int",
     "maximum time in ns to busy-poll before blocking (0 = no polling)"},
    {"poll-grow", "int",
     "factor by which the polling time grows (0 = default, 2)"},
    {"poll-shrink", "int",
     "divisor by which the polling time shrinks (0 = reset to 0)"},
    {"aio-max-batch", "int",
     "maximum requests an I/O engine submits in one batch (0 = default)"},
    {"thread-pool-min", "int", "minimum number of thread pool workers"},
    {"thread-pool-max", "int", "maximum number of thread pool workers"},
    {"cpu-affinity", "str",
     "CPUs the thread may run on, e.g. \"0-3,^2\" (\"\" = not pinned)"},
    {"fdmon", "str",
     "fd monitor back-end: auto, io_uring, epoll or poll (creation only)"},
    {NULL, NULL, NULL},
};

/* The integer properties: where they live and their upper bound. */
typedef struct IntProp {
    const char *name;
    size_t offset;
    int64_t max;
} IntProp;

static const IntProp int_props[] = {
    {"poll-max-ns", offsetof(IOThreadConfig, poll_max_ns), INT64_MAX},
    {"poll-grow", offsetof(IOThreadConfig, poll_grow), INT64_MAX},
    {"poll-shrink", offsetof(IOThreadConfig, poll_shrink), INT64_MAX},
    {"aio-max-batch", offsetof(IOThreadConfig, aio_max_batch), INT64_MAX},
    /* QEMU's range, although no pool gets that many threads: the worker
     * count is capped where it is applied. */
    {"thread-pool-min", offsetof(IOThreadConfig, thread_pool_min), INT64_MAX},
    {"thread-pool-max", offsetof(IOThreadConfig, thread_pool_max), INT64_MAX},
};

static const IntProp *int_prop_find(const char *name)
{
    for (size_t i = 0; i < sizeof(int_props) / sizeof(int_props[0]); i++) {
        if (strcmp(int_props[i].name, name) == 0) {
            return &int_props[i];
        }
    }
    return NULL;
}

static int64_t *int_prop_ptr(IOThreadConfig *c, const IntProp *ip)
{
    return (int64_t *)((char *)c + ip->offset);
}

static int64_t int_prop_value(const IOThreadConfig *c, const IntProp *ip)
{
    return *(const int64_t *)((const char *)c + ip->offset);
}

const IOThreadPropInfo *iothread_prop_find(const char *name)
{
    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        if (strcmp(p->name, name) == 0) {
            return p;
        }
    }
    return NULL;
}

void iothread_config_init(IOThreadConfig *c)
{
    memset(c, 0, sizeof(*c));
    c->id = NULL;
    c->poll_max_ns = IOTHREAD_POLL_MAX_NS_DEFAULT;
    c->poll_grow = 0;
    c->poll_shrink = 0;
    c->aio_max_batch = 0;
    c->thread_pool_min = IOTHREAD_THREAD_POOL_MIN_DEFAULT;
    c->thread_pool_max = IOTHREAD_THREAD_POOL_MAX_DEFAULT;
    c->cpu_affinity = NULL;
    CPU_ZERO(&c->affinity);
    c->fdmon = AIO_FDMON_AUTO;
}

void iothread_config_cleanup(IOThreadConfig *c)
{
    free(c->id);
    free(c->cpu_affinity);
    iothread_config_init(c);
}

int iothread_config_copy(IOThreadConfig *dst, const IOThreadConfig *src)
{
    char *id = NULL, *aff = NULL;

    if (src->id && !(id = strdup(src->id))) {
        goto nomem;
    }
    if (src->cpu_affinity && !(aff = strdup(src->cpu_affinity))) {
        goto nomem;
    }
    *dst = *src;
    dst->id = id;
    dst->cpu_affinity = aff;
    return 0;

nomem:
    free(id);
    iothread_config_init(dst);
    return -ENOMEM;
}

static bool id_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
}

bool iothread_id_valid(const char *id)
{
    size_t n;

    if (!id || !((id[0] >= 'a' && id[0] <= 'z') ||
                 (id[0] >= 'A' && id[0] <= 'Z'))) {
        return false;
    }
    for (n = 1; id[n]; n++) {
        if (n >= IOTHREAD_ID_MAX_LEN || !id_char_ok(id[n])) {
            return false;
        }
    }
    return true;
}

int iothread_config_apply(IOThreadConfig *c, json_t *props, bool creating,
                          char **errp)
{
    IOThreadConfig t;
    bool affinity_set = false;
    char *new_affinity = NULL;
    cpu_set_t new_set;
    const char *key;
    json_t *val;
    int ret = -EINVAL;

    if (errp) {
        *errp = NULL;
    }
    if (!props) {
        return 0;
    }
    if (!json_is_object(props)) {
        error_setf(errp, "Invalid parameter type, expected: object");
        return -EINVAL;
    }

    t = *c; /* shallow: the strings stay owned by *c until the commit */
    CPU_ZERO(&new_set);
    json_object_foreach(props, key, val) {
        const IntProp *ip = int_prop_find(key);

        if (ip) {
            json_int_t v;

            if (!json_is_integer(val)) {
                error_setf(errp, "Invalid parameter type for '%s', expected: "
                          "integer", key);
                goto fail;
            }
            v = json_integer_value(val);
            if (v < 0 || v > ip->max) {
                error_setf(errp, "%s value must be in range [0, %" PRId64 "]",
                          key, ip->max);
                goto fail;
            }
            *int_prop_ptr(&t, ip) = v;
        } else if (strcmp(key, "cpu-affinity") == 0) {
            const char *s;
            char *err = NULL;

            if (!json_is_string(val)) {
                error_setf(errp, "Invalid parameter type for '%s', expected: "
                          "string", key);
                goto fail;
            }
            s = json_string_value(val);
            free(new_affinity);
            new_affinity = NULL;
            affinity_set = true;
            if (!*s) {
                continue; /* "": not pinned */
            }
            if (cpulist_parse(s, &new_set, &err) < 0) {
                error_setf(errp, "Parameter 'cpu-affinity' has an invalid "
                          "value: %s", err ? err : s);
                free(err);
                goto fail;
            }
            new_affinity = cpulist_format(&new_set);
            if (!new_affinity) {
                error_setf(errp, "Out of memory");
                ret = -ENOMEM;
                goto fail;
            }
        } else if (strcmp(key, "fdmon") == 0) {
            AioFdmon kind;

            if (!creating) {
                error_setf(errp, "Property 'fdmon' can only be set when the "
                          "iothread is created");
                goto fail;
            }
            if (!json_is_string(val)) {
                error_setf(errp, "Invalid parameter type for '%s', expected: "
                          "string", key);
                goto fail;
            }
            if (aio_fdmon_parse(json_string_value(val), &kind) < 0) {
                error_setf(errp, "Parameter 'fdmon' expects one of auto, "
                          "io_uring, epoll, poll");
                goto fail;
            }
            t.fdmon = kind;
        } else {
            error_setf(errp, "Parameter '%s' is unexpected", key);
            goto fail;
        }
    }

    if (t.thread_pool_max < 1) {
        error_setf(errp, "thread-pool-max must be at least 1");
        goto fail;
    }
    if (t.thread_pool_min > t.thread_pool_max) {
        error_setf(errp, "thread-pool-min (%" PRId64 ") must not be greater "
                  "than thread-pool-max (%" PRId64 ")", t.thread_pool_min,
                  t.thread_pool_max);
        goto fail;
    }

    /* Commit. */
    if (affinity_set) {
        free(c->cpu_affinity);
        t.cpu_affinity = new_affinity;
        if (new_affinity) {
            t.affinity = new_set;
        } else {
            CPU_ZERO(&t.affinity);
        }
    }
    *c = t;
    return 0;

fail:
    free(new_affinity);
    return ret;
}

json_t *iothread_config_get(const IOThreadConfig *c, const char *prop)
{
    const IntProp *ip = int_prop_find(prop);

    if (ip) {
        return json_integer(int_prop_value(c, ip));
    }
    if (strcmp(prop, "cpu-affinity") == 0) {
        return json_string(c->cpu_affinity ? c->cpu_affinity : "");
    }
    if (strcmp(prop, "fdmon") == 0) {
        return json_string(aio_fdmon_name(c->fdmon));
    }
    return NULL;
}

json_t *iothread_config_to_json(const IOThreadConfig *c)
{
    json_t *obj = json_object();

    if (!obj) {
        return NULL;
    }
    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        json_t *v = iothread_config_get(c, p->name);

        if (!v || json_object_set_new(obj, p->name, v) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}
