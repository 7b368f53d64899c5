/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IOThread settings: defaults, validation and JSON conversion shared by
 * every way of creating or changing an IOThread (see iothread-config.h),
 * all driven by the property table (iothread-props.h).  Validation stages
 * all changes in a copy and commits them only when everything passed, so
 * a rejected request never half-applies.
 */
#include "common/error.h"
#include "common/iothread-config.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cpulist.h"

const char *const iothread_fdmon_names[] = {
    "auto", "io_uring", "epoll", "poll", NULL,
};

#define IOTHREAD_PROP_QOM_TYPE_INT "int"
#define IOTHREAD_PROP_QOM_TYPE_CPULIST "str"
#define IOTHREAD_PROP_QOM_TYPE_ENUM "str"
#define IOTHREAD_PROP_ROW_(name, kind, field, min, max, def, runtime, cli,  \
                           arg, choices, desc, apply)                       \
    {name, IOTHREAD_PROP_##kind, IOTHREAD_PROP_QOM_TYPE_##kind,             \
     offsetof(IOThreadConfig, field), min, max, def, runtime, cli, arg,     \
     choices, desc},

const IOThreadPropInfo iothread_props[] = {
    IOTHREAD_PROPERTIES(IOTHREAD_PROP_ROW_)
    {NULL, 0, NULL, 0, 0, 0, 0, false, NULL, NULL, NULL, NULL},
};

const IOThreadPropInfo *iothread_prop_find(const char *name)
{
    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        if (strcmp(p->name, name) == 0) {
            return p;
        }
    }
    return NULL;
}

const IOThreadPropInfo *iothread_prop_find_cli(const char *option)
{
    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        if (strcmp(p->cli, option) == 0) {
            return p;
        }
    }
    return NULL;
}

int iothread_prop_choice(const IOThreadPropInfo *p, const char *name)
{
    for (int i = 0; p->choices && p->choices[i]; i++) {
        if (strcmp(p->choices[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

const char *iothread_prop_choices_text(const IOThreadPropInfo *p,
                                       const char *sep, const char *last_sep,
                                       char *buf, size_t len)
{
    size_t n = 0;

    buf[0] = '\0';
    for (int i = 0; p->choices && p->choices[i] && n < len; i++) {
        const char *s = i == 0 ? "" : p->choices[i + 1] ? sep : last_sep;
        int w = snprintf(buf + n, len - n, "%s%s", s, p->choices[i]);

        if (w < 0) {
            break;
        }
        n += (size_t)w;
    }
    return buf;
}

static int64_t *int_field(IOThreadConfig *c, const IOThreadPropInfo *p)
{
    return (int64_t *)((char *)c + p->offset);
}

static int *enum_field(IOThreadConfig *c, const IOThreadPropInfo *p)
{
    return (int *)((char *)c + p->offset);
}

int64_t iothread_config_int(const IOThreadConfig *c,
                            const IOThreadPropInfo *p)
{
    return *(const int64_t *)((const char *)c + p->offset);
}

static int enum_value(const IOThreadConfig *c, const IOThreadPropInfo *p)
{
    return *(const int *)((const char *)c + p->offset);
}

void iothread_config_init(IOThreadConfig *c)
{
    memset(c, 0, sizeof(*c));
    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        switch (p->kind) {
        case IOTHREAD_PROP_INT:
            *int_field(c, p) = p->def;
            break;
        case IOTHREAD_PROP_ENUM:
            *enum_field(c, p) = (int)p->def;
            break;
        case IOTHREAD_PROP_CPULIST:
            break; /* NULL: not pinned */
        }
    }
    CPU_ZERO(&c->affinity);
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

/* A change being validated: the values go to @t, the new cpulist (owned
 * here until the commit) beside it. */
typedef struct Staged {
    IOThreadConfig t;   /* shallow: strings stay owned by the original */
    bool affinity_set;
    char *new_affinity; /* NULL: unpinned */
    cpu_set_t new_set;
} Staged;

static int stage_int(Staged *st, const IOThreadPropInfo *p, json_t *val,
                     char **errp)
{
    json_int_t v;

    if (!json_is_integer(val)) {
        return error_fail(errp, -EINVAL, "Invalid parameter type for '%s', "
                          "expected: integer", p->name);
    }
    v = json_integer_value(val);
    if (v < p->min || v > p->max) {
        return error_fail(errp, -EINVAL, "%s value must be in range "
                          "[%" PRId64 ", %" PRId64 "]", p->name, p->min,
                          p->max);
    }
    *int_field(&st->t, p) = v;
    return 0;
}

static int stage_cpulist(Staged *st, const IOThreadPropInfo *p, json_t *val,
                         char **errp)
{
    const char *s;
    char *err = NULL;

    if (!json_is_string(val)) {
        return error_fail(errp, -EINVAL, "Invalid parameter type for '%s', "
                          "expected: string", p->name);
    }
    s = json_string_value(val);
    free(st->new_affinity);
    st->new_affinity = NULL;
    st->affinity_set = true;
    if (!*s) {
        return 0; /* "": not pinned */
    }
    if (cpulist_parse(s, &st->new_set, &err) < 0) {
        error_setf(errp, "Parameter '%s' has an invalid value: %s", p->name,
                   err ? err : s);
        free(err);
        return -EINVAL;
    }
    st->new_affinity = cpulist_format(&st->new_set);
    if (!st->new_affinity) {
        return error_fail(errp, -ENOMEM, "Out of memory");
    }
    return 0;
}

static int stage_enum(Staged *st, const IOThreadPropInfo *p, json_t *val,
                      char **errp)
{
    char names[128];
    int i;

    if (!json_is_string(val)) {
        return error_fail(errp, -EINVAL, "Invalid parameter type for '%s', "
                          "expected: string", p->name);
    }
    i = iothread_prop_choice(p, json_string_value(val));
    if (i < 0) {
        return error_fail(errp, -EINVAL, "Parameter '%s' expects one of %s",
                          p->name,
                          iothread_prop_choices_text(p, ", ", ", ", names,
                                                     sizeof(names)));
    }
    *enum_field(&st->t, p) = i;
    return 0;
}

/* Validate and stage one member of a request. */
static int stage_one(Staged *st, const char *key, json_t *val, bool creating,
                     char **errp)
{
    const IOThreadPropInfo *p = iothread_prop_find(key);

    if (!p) {
        return error_fail(errp, -EINVAL, "Parameter '%s' is unexpected", key);
    }
    if (!p->runtime && !creating) {
        return error_fail(errp, -EINVAL, "Property '%s' can only be set when "
                          "the iothread is created", p->name);
    }
    switch (p->kind) {
    case IOTHREAD_PROP_INT:
        return stage_int(st, p, val, errp);
    case IOTHREAD_PROP_CPULIST:
        return stage_cpulist(st, p, val, errp);
    case IOTHREAD_PROP_ENUM:
        return stage_enum(st, p, val, errp);
    }
    return -EINVAL;
}

/* The rules that tie properties together, on the staged result. */
static int check_combination(const IOThreadConfig *t, char **errp)
{
    if (t->thread_pool_max < 1) {
        return error_fail(errp, -EINVAL,
                          "thread-pool-max must be at least 1");
    }
    if (t->thread_pool_min > t->thread_pool_max) {
        return error_fail(errp, -EINVAL, "thread-pool-min (%" PRId64 ") must "
                          "not be greater than thread-pool-max (%" PRId64 ")",
                          t->thread_pool_min, t->thread_pool_max);
    }
    return 0;
}

int iothread_config_apply(IOThreadConfig *c, json_t *props, bool creating,
                          char **errp)
{
    Staged st = {.t = *c};
    const char *key;
    json_t *val;
    int ret = 0;

    if (errp) {
        *errp = NULL;
    }
    if (!props) {
        return 0;
    }
    if (!json_is_object(props)) {
        return error_fail(errp, -EINVAL,
                          "Invalid parameter type, expected: object");
    }
    CPU_ZERO(&st.new_set);
    json_object_foreach(props, key, val) {
        ret = stage_one(&st, key, val, creating, errp);
        if (ret < 0) {
            break;
        }
    }
    if (ret == 0) {
        ret = check_combination(&st.t, errp);
    }
    if (ret < 0) {
        free(st.new_affinity);
        return ret;
    }

    /* Commit. */
    if (st.affinity_set) {
        free(c->cpu_affinity);
        st.t.cpu_affinity = st.new_affinity;
        if (st.new_affinity) {
            st.t.affinity = st.new_set;
        } else {
            CPU_ZERO(&st.t.affinity);
        }
    }
    *c = st.t;
    return 0;
}

json_t *iothread_config_get(const IOThreadConfig *c, const char *prop)
{
    const IOThreadPropInfo *p = iothread_prop_find(prop);

    if (!p) {
        return NULL;
    }
    switch (p->kind) {
    case IOTHREAD_PROP_INT:
        return json_integer(iothread_config_int(c, p));
    case IOTHREAD_PROP_CPULIST:
        return json_string(c->cpu_affinity ? c->cpu_affinity : "");
    case IOTHREAD_PROP_ENUM:
        return json_string(p->choices[enum_value(c, p)]);
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

const IOThreadPropInfo *iothread_config_creation_diff(const IOThreadConfig *a,
                                                      const IOThreadConfig *b)
{
    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        json_t *va, *vb;
        bool same;

        if (p->runtime) {
            continue;
        }
        va = iothread_config_get(a, p->name);
        vb = iothread_config_get(b, p->name);
        same = va && vb && json_equal(va, vb);
        json_decref(va);
        json_decref(vb);
        if (!same) {
            return p;
        }
    }
    return NULL;
}

void iothread_config_keep_creation(IOThreadConfig *dst,
                                   const IOThreadConfig *src)
{
    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        if (p->runtime) {
            continue;
        }
        if (p->kind == IOTHREAD_PROP_INT) {
            *int_field(dst, p) = iothread_config_int(src, p);
        } else if (p->kind == IOTHREAD_PROP_ENUM) {
            *enum_field(dst, p) = enum_value(src, p);
        }
    }
}
