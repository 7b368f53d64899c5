/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QOM view of the daemon, as QEMU's qom-* commands see it:
 * "/" -> "objects" -> one child per iothread, whose properties are the
 * iothread properties (common/iothread-config.h).
 */
#include <stdio.h>
#include <string.h>

#include "common/iothread-config.h"
#include "daemon/qmp-commands.h"

typedef enum { QOM_ROOT, QOM_OBJECTS, QOM_IOTHREAD } QomKind;

/* Resolve @path as QEMU does for its few forms here: absolute, or a
 * unique partial path (an iothread's id).  False after answering
 * DeviceNotFound (QEMU's text) when it names nothing. */
static bool qom_resolve(Daemon *d, QmpRequest *req, const char *path,
                        QomKind *kind, IOThreadObject **objp)
{
    const char *id = NULL;

    *objp = NULL;
    if (strcmp(path, "/") == 0) {
        *kind = QOM_ROOT;
        return true;
    }
    if (strcmp(path, "/objects") == 0 || strcmp(path, "/objects/") == 0 ||
        strcmp(path, "objects") == 0) {
        *kind = QOM_OBJECTS;
        return true;
    }
    if (strncmp(path, "/objects/", 9) == 0) {
        id = path + 9;
    } else if (path[0] != '/') {
        id = path;
    }
    if (id && (*objp = registry_find(d->registry, id))) {
        *kind = QOM_IOTHREAD;
        return true;
    }
    qmp_request_error(req, "DeviceNotFound", "Device '%s' not found", path);
    return false;
}

static const char *const qom_type_names[] = {
    [QOM_ROOT] = "container", [QOM_OBJECTS] = "container",
    [QOM_IOTHREAD] = "iothread",
};

/* One property: {"name", "type"}, and "value" when @value is not NULL
 * (stolen). */
static json_t *prop_entry(const char *name, const char *type, json_t *value)
{
    json_t *e = json_pack("{s:s, s:s}", "name", name, "type", type);

    if (e && value) {
        json_object_set_new(e, "value", value);
    } else {
        json_decref(value);
    }
    return e;
}

/*
 * The properties of a resolved node, as qom-list shows them, with their
 * values too when @with_values (qom-list-get).  A child's value is its
 * path, as QEMU's child<> getter returns it.
 */
static json_t *node_properties(Daemon *d, QomKind kind, IOThreadObject *obj,
                               bool with_values)
{
    json_t *list = json_array();
    char path[IOTHREAD_ID_MAX_LEN + 16];

    json_array_append_new(
        list, prop_entry("type", "string",
                         with_values ? json_string(qom_type_names[kind])
                                     : NULL));
    if (kind == QOM_ROOT) {
        json_array_append_new(
            list, prop_entry("objects", "child<container>",
                             with_values ? json_string("/objects") : NULL));
    } else if (kind == QOM_OBJECTS) {
        for (IOThreadObject *o = registry_next(d->registry, NULL); o;
             o = registry_next(d->registry, o)) {
            snprintf(path, sizeof(path), "/objects/%s", iothread_object_id(o));
            json_array_append_new(
                list, prop_entry(iothread_object_id(o), "child<iothread>",
                                 with_values ? json_string(path) : NULL));
        }
    } else {
        const IOThreadConfig *c = iothread_object_config(obj);

        for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
            json_array_append_new(
                list, prop_entry(p->name, p->type,
                                 with_values ? iothread_config_get(c, p->name)
                                             : NULL));
        }
    }
    return list;
}

void cmd_qom_list(void *opaque, QmpRequest *req, json_t *args,
                  json_t *props)
{
    Daemon *d = opaque;
    IOThreadObject *obj;
    QomKind kind;

    if (!qom_resolve(d, req, qmp_str_arg(args, "path"), &kind, &obj)) {
        return;
    }
    qmp_request_return(req, node_properties(d, kind, obj, false));
}

/*
 * qom-list-get (QEMU 10.1): for each of "paths", in order, the node's
 * properties with their values.  The first path that does not resolve
 * fails the whole command, as in QEMU.
 */
void cmd_qom_list_get(void *opaque, QmpRequest *req, json_t *args,
                      json_t *props)
{
    Daemon *d = opaque;
    json_t *paths = json_object_get(args, "paths"), *p;
    json_t *list = json_array();
    IOThreadObject *obj;
    QomKind kind;
    size_t i;

    /* The whole argument is checked first, as QEMU's visitor does. */
    json_array_foreach(paths, i, p) {
        if (!json_is_string(p)) {
            json_decref(list);
            qmp_request_error(req, "GenericError", "Invalid parameter type "
                              "for 'paths[%zu]', expected: string", i);
            return;
        }
    }
    json_array_foreach(paths, i, p) {
        if (!qom_resolve(d, req, json_string_value(p), &kind, &obj)) {
            json_decref(list);
            return;
        }
        json_array_append_new(
            list, json_pack("{s:o}", "properties",
                            node_properties(d, kind, obj, true)));
    }
    qmp_request_return(req, list);
}

void cmd_qom_get(void *opaque, QmpRequest *req, json_t *args,
                 json_t *props)
{
    Daemon *d = opaque;
    const char *prop = qmp_str_arg(args, "property");
    IOThreadObject *obj;
    QomKind kind;
    json_t *v = NULL;

    if (!qom_resolve(d, req, qmp_str_arg(args, "path"), &kind, &obj)) {
        return;
    }
    if (strcmp(prop, "type") == 0) {
        v = json_string(qom_type_names[kind]);
    } else if (obj) {
        v = iothread_config_get(iothread_object_config(obj), prop);
    }
    if (!v) {
        qmp_request_error(req, "GenericError", "Property '%s.%s' not found",
                          qom_type_names[kind], prop);
        return;
    }
    qmp_request_return(req, v);
}

void cmd_qom_set(void *opaque, QmpRequest *req, json_t *args,
                 json_t *props)
{
    Daemon *d = opaque;
    const char *prop = qmp_str_arg(args, "property");
    IOThreadObject *obj;
    QomKind kind;
    json_t *known, *one;

    if (!qom_resolve(d, req, qmp_str_arg(args, "path"), &kind, &obj)) {
        return;
    }
    if (strcmp(prop, "type") == 0) {
        qmp_request_error(req, "GenericError", "Property '%s.type' is not "
                          "writable", qom_type_names[kind]);
        return;
    }
    known = obj ? iothread_config_get(iothread_object_config(obj), prop)
                : NULL;
    if (!known) {
        qmp_request_error(req, "GenericError", "Property '%s.%s' not found",
                          qom_type_names[kind], prop);
        return;
    }
    json_decref(known);
    one = json_object();
    json_object_set(one, prop, json_object_get(args, "value"));
    qmp_update_object(d, req, obj, one);
    json_decref(one);
}
