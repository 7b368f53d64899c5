/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Argument checking and dispatch driven by the application's command
 * table (see dispatch.h).
 */
#include <string.h>

#include "qmp/dispatch.h"

static const char *const arg_type_names[] = {
    [QMP_ARG_STR] = "string", [QMP_ARG_INT] = "integer",
    [QMP_ARG_BOOL] = "boolean", [QMP_ARG_ARRAY] = "array",
    [QMP_ARG_ANY] = "any",
};

static bool arg_type_ok(QmpArgType t, json_t *v)
{
    switch (t) {
    case QMP_ARG_STR:
        return json_is_string(v);
    case QMP_ARG_INT:
        return json_is_integer(v);
    case QMP_ARG_BOOL:
        return json_is_boolean(v);
    case QMP_ARG_ARRAY:
        return json_is_array(v);
    default:
        return true;
    }
}

static bool arg_known(const QmpCommand *cmd, const char *key)
{
    for (const QmpArgSpec *a = cmd->args; a->name; a++) {
        if (strcmp(a->name, key) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Check @args against the row, in its order, like QEMU's generated
 * visitors.  On success *@propsp holds the remaining members (flat
 * properties), a new object.  False after replying with the error.
 */
static bool check_args(const QmpCommand *cmd, QmpRequest *req, json_t *args,
                       json_t **propsp)
{
    const char *key;
    json_t *v;

    for (const QmpArgSpec *a = cmd->args; a->name; a++) {
        v = json_object_get(args, a->name);
        if (!v && a->required) {
            qmp_request_error(req, "GenericError",
                              "Parameter '%s' is missing", a->name);
            return false;
        }
        if (v && !arg_type_ok(a->type, v)) {
            qmp_request_error(req, "GenericError",
                              "Invalid parameter type for '%s', expected: %s",
                              a->name, arg_type_names[a->type]);
            return false;
        }
    }
    *propsp = json_object();
    if (!*propsp) {
        qmp_request_error(req, "GenericError", "Out of memory");
        return false;
    }
    json_object_foreach(args, key, v) {
        if (arg_known(cmd, key)) {
            continue;
        }
        if (!cmd->flat_props) {
            json_decref(*propsp);
            qmp_request_error(req, "GenericError",
                              "Parameter '%.200s' is unexpected", key);
            return false;
        }
        json_object_set(*propsp, key, v);
    }
    return true;
}

const QmpCommand *qmp_command_find(const QmpCommandTable *t,
                                   const char *name)
{
    for (const QmpCommand *c = t->commands; c->name; c++) {
        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

void qmp_dispatch(void *opaque, QmpRequest *req, const char *name,
                  json_t *args)
{
    const QmpCommandTable *t = opaque;
    const QmpCommand *cmd = qmp_command_find(t, name);
    json_t *props;

    if (!cmd) {
        qmp_request_error(req, "CommandNotFound",
                          "The command %s has not been found", name);
        return;
    }
    if (!check_args(cmd, req, args, &props)) {
        return;
    }
    cmd->handler(t->opaque, req, args, props);
    json_decref(props);
}

json_t *qmp_command_list(const QmpCommandTable *t)
{
    json_t *list = json_array();

    if (!list ||
        json_array_append_new(list, json_pack("{s:s}", "name",
                                              "qmp_capabilities")) < 0) {
        json_decref(list);
        return NULL;
    }
    for (const QmpCommand *c = t->commands; c->name; c++) {
        if (json_array_append_new(list, json_pack("{s:s}", "name",
                                                  c->name)) < 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}
