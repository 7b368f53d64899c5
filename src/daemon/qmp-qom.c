/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QOM view of the daemon, as QEMU's qom-* commands see it:
 * "/" -> "objects" -> one child per iothread, whose properties are the
 * iothread properties (common/iothread-config.h).
 */
#include <string.h>

#include "common/iothread-config.h"
#include "daemon/qmp-commands.h"

typedef enum { QOM_ROOT, QOM_OBJECTS, QOM_IOTHREAD } QomKind;

/* Resolve @path as QEMU does for its few forms here: absolute, or a
 * unique partial path (an iothread's id).  False after replying. */
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

static json_t *prop_entry(const char *name, const char *type)
{
    return json_pack("{s:s, s:s}", "name", name, "type", type);
}

void cmd_qom_list(void *opaque, QmpRequest *req, json_t *args,
                  json_t *props)
{
    Daemon *d = opaque;
    IOThreadObject *obj;
    QomKind kind;
    json_t *list;

    if (!qom_resolve(d, req, qmp_str_arg(args, "path"), &kind, &obj)) {
        return;
    }
    list = json_array();
    json_array_append_new(list, prop_entry("type", "string"));
    if (kind == QOM_ROOT) {
        json_array_append_new(list,
                              prop_entry("objects", "child<container>"));
    } else if (kind == QOM_OBJECTS) {
        for (IOThreadObject *o = registry_next(d->registry, NULL); o;
             o = registry_next(d->registry, o)) {
            json_array_append_new(
                list, prop_entry(iothread_object_id(o), "child<iothread>"));
        }
    } else {
        for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
            json_array_append_new(list, prop_entry(p->name, p->type));
        }
    }
    qmp_request_return(req, list);
}

static const char *const qom_type_names[] = {
    [QOM_ROOT] = "container", [QOM_OBJECTS] = "container",
    [QOM_IOTHREAD] = "iothread",
};

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
