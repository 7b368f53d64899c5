/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's QMP commands: one table, argument checking driven by it,
 * and one handler per command.  Handlers validate a whole request before
 * they change anything; changes to a running iothread are answered only
 * after they took effect inside it.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/cpulist.h"
#include "daemon/daemon.h"
#include "daemon/iothread-config.h"
#include "daemon/iothread-info.h"
#include "daemon/log.h"

typedef enum { ARG_STR, ARG_INT, ARG_BOOL, ARG_ANY } ArgType;

typedef struct ArgSpec {
    const char *name;
    ArgType type;
    bool required;
} ArgSpec;

typedef void CommandFn(Daemon *d, QmpRequest *req, json_t *args,
                       json_t *props);

typedef struct Command {
    const char *name;
    CommandFn *fn;
    ArgSpec args[4];
    bool flat_props; /* other arguments are iothread properties */
    bool read_only;
} Command;

static const char *const arg_type_names[] = {
    [ARG_STR] = "string", [ARG_INT] = "integer", [ARG_BOOL] = "boolean",
    [ARG_ANY] = "any",
};

static bool arg_type_ok(ArgType t, json_t *v)
{
    switch (t) {
    case ARG_STR:
        return json_is_string(v);
    case ARG_INT:
        return json_is_integer(v);
    case ARG_BOOL:
        return json_is_boolean(v);
    default:
        return true;
    }
}

static bool arg_known(const Command *cmd, const char *key)
{
    for (const ArgSpec *a = cmd->args; a->name; a++) {
        if (strcmp(a->name, key) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Check @args against the table, in its order, like QEMU's generated
 * visitors.  On success *@propsp holds the remaining members (flat
 * properties), a new object.  False after replying with the error.
 */
static bool check_args(const Command *cmd, QmpRequest *req, json_t *args,
                       json_t **propsp)
{
    const char *key;
    json_t *v;

    for (const ArgSpec *a = cmd->args; a->name; a++) {
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

static const char *str_arg(json_t *args, const char *name)
{
    return json_string_value(json_object_get(args, name));
}

static void reply_errp(QmpRequest *req, char *err, const char *fallback)
{
    qmp_request_error(req, "GenericError", "%s", err ? err : fallback);
    free(err);
}

static IOThreadObject *find_or_reply(Daemon *d, QmpRequest *req,
                                     const char *id)
{
    IOThreadObject *obj = registry_find(d->registry, id);

    if (!obj) {
        qmp_request_error(req, "DeviceNotFound",
                          "Device '/objects/%s' not found", id);
    }
    return obj;
}

/* ---- protocol and daemon ---- */

static void cmd_query_version(Daemon *d, QmpRequest *req, json_t *args,
                              json_t *props)
{
    qmp_request_return(req, daemon_version_json());
}

static const Command commands[];

static void cmd_query_commands(Daemon *d, QmpRequest *req, json_t *args,
                               json_t *props)
{
    json_t *list = json_array();

    json_array_append_new(list, json_pack("{s:s}", "name",
                                          "qmp_capabilities"));
    for (const Command *c = commands; c->name; c++) {
        json_array_append_new(list, json_pack("{s:s}", "name", c->name));
    }
    qmp_request_return(req, list);
}

static void cmd_query_status(Daemon *d, QmpRequest *req, json_t *args,
                             json_t *props)
{
    struct timespec now;
    int64_t up;

    clock_gettime(CLOCK_MONOTONIC, &now);
    up = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - d->start_ns;
    qmp_request_return(
        req, json_pack("{s:s, s:I, s:f, s:s, s:I, s:I, s:I}", "version",
                       IOTHREADD_VERSION, "pid", (json_int_t)getpid(),
                       "uptime", (double)up / 1e9, "socket",
                       d->socket_path ? d->socket_path : "", "iothreads",
                       (json_int_t)registry_count(d->registry),
                       "max-iothreads",
                       (json_int_t)registry_get_max(d->registry), "clients",
                       (json_int_t)qmp_server_client_count(d->server)));
}

static void cmd_quit(Daemon *d, QmpRequest *req, json_t *args, json_t *props)
{
    qmp_request_return(req, NULL);
    daemon_request_quit(d, "host-qmp-quit");
}

static void cmd_reload(Daemon *d, QmpRequest *req, json_t *args,
                       json_t *props)
{
    char *err = NULL;

    if (daemon_reload(d, &err) < 0) {
        reply_errp(req, err, "Reload failed");
        return;
    }
    qmp_request_return(req, NULL);
}

/* ---- iothread objects ---- */

static void cmd_object_add(Daemon *d, QmpRequest *req, json_t *args,
                           json_t *props)
{
    const char *type = str_arg(args, "qom-type");
    const char *id = str_arg(args, "id");
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
        reply_errp(req, err, "Out of memory");
    } else {
        qmp_request_return(req, NULL);
    }
    iothread_config_cleanup(&cfg);
}

static void cmd_object_del(Daemon *d, QmpRequest *req, json_t *args,
                           json_t *props)
{
    IOThreadObject *obj = find_or_reply(d, req, str_arg(args, "id"));
    char *err = NULL;

    if (!obj) {
        return;
    }
    if (registry_delete(d->registry, obj, &err) < 0) {
        reply_errp(req, err, "Cannot delete the iothread");
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
static void update_object(Daemon *d, QmpRequest *req, IOThreadObject *obj,
                          json_t *props)
{
    IOThreadConfig cfg;
    char *err = NULL;

    if (iothread_config_copy(&cfg, iothread_object_config(obj)) < 0) {
        qmp_request_error(req, "GenericError", "Out of memory");
        return;
    }
    if (iothread_config_apply(&cfg, props, false, &err) < 0) {
        reply_errp(req, err, "Invalid settings");
    } else if (registry_update(d->registry, obj, &cfg, update_done, req) <
               0) {
        qmp_request_error(req, "GenericError", "Out of memory");
    }
    iothread_config_cleanup(&cfg);
}

static void cmd_iothread_set(Daemon *d, QmpRequest *req, json_t *args,
                             json_t *props)
{
    IOThreadObject *obj = find_or_reply(d, req, str_arg(args, "id"));

    if (obj) {
        update_object(d, req, obj, props);
    }
}

/* Reply with the text @fill writes (iothread-info.h): these replies are
 * polled and grow with the number of iothreads, so they are not built as
 * jansson trees. */
static void return_text(QmpRequest *req, int ret, JsonText *text)
{
    if (ret < 0) {
        qmp_request_error(req, "GenericError", "Cannot list the iothreads: "
                          "%s", strerror(-ret));
    } else {
        qmp_request_return_raw(req, text->data, text->len);
    }
    json_text_free(text);
}

static void cmd_query_iothreads(Daemon *d, QmpRequest *req, json_t *args,
                                json_t *props)
{
    JsonText text = {0};

    return_text(req, iothread_info_list(d->registry, &text), &text);
}

static void cmd_query_iothread_stats(Daemon *d, QmpRequest *req, json_t *args,
                                     json_t *props)
{
    const char *id = str_arg(args, "id");
    IOThreadObject *obj = NULL;
    JsonText text = {0};

    if (id && !(obj = find_or_reply(d, req, id))) {
        return;
    }
    return_text(req, iothread_stats_list(d->registry, obj, &text), &text);
}

/* ---- QOM view: / -> objects -> iothreads ---- */

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

static void cmd_qom_list(Daemon *d, QmpRequest *req, json_t *args,
                         json_t *props)
{
    IOThreadObject *obj;
    QomKind kind;
    json_t *list;

    if (!qom_resolve(d, req, str_arg(args, "path"), &kind, &obj)) {
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

static void cmd_qom_get(Daemon *d, QmpRequest *req, json_t *args,
                        json_t *props)
{
    const char *prop = str_arg(args, "property");
    IOThreadObject *obj;
    QomKind kind;
    json_t *v = NULL;

    if (!qom_resolve(d, req, str_arg(args, "path"), &kind, &obj)) {
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

static void cmd_qom_set(Daemon *d, QmpRequest *req, json_t *args,
                        json_t *props)
{
    const char *prop = str_arg(args, "property");
    IOThreadObject *obj;
    QomKind kind;
    json_t *known, *one;

    if (!qom_resolve(d, req, str_arg(args, "path"), &kind, &obj)) {
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
    update_object(d, req, obj, one);
    json_decref(one);
}

/* ---- debugging aids (x- prefix: not a stable interface) ---- */

static void cmd_x_hold(Daemon *d, QmpRequest *req, json_t *args,
                       json_t *props)
{
    IOThreadObject *obj = find_or_reply(d, req, str_arg(args, "id"));

    if (!obj) {
        return;
    }
    if (iothread_object_hold(obj, str_arg(args, "holder")) < 0) {
        qmp_request_error(req, "GenericError", "Out of memory");
        return;
    }
    qmp_request_return(req, NULL);
}

static void cmd_x_release(Daemon *d, QmpRequest *req, json_t *args,
                          json_t *props)
{
    IOThreadObject *obj = find_or_reply(d, req, str_arg(args, "id"));
    const char *holder = str_arg(args, "holder");

    if (!obj) {
        return;
    }
    if (iothread_object_release(obj, holder) < 0) {
        qmp_request_error(req, "GenericError",
                          "'%s' does not hold IOThread '%s'", holder,
                          iothread_object_id(obj));
        return;
    }
    qmp_request_return(req, NULL);
}

static void cmd_x_stall(Daemon *d, QmpRequest *req, json_t *args,
                        json_t *props)
{
    IOThreadObject *obj = find_or_reply(d, req, str_arg(args, "id"));
    json_int_t ms = json_integer_value(json_object_get(args, "ms"));

    if (!obj) {
        return;
    }
    if (ms < 0 || ms > d->max_stall_ms) {
        qmp_request_error(req, "GenericError",
                          "ms value must be in range [0, %u]",
                          d->max_stall_ms);
        return;
    }
    if (iothread_object_debug_stall(obj, (unsigned)ms) < 0) {
        qmp_request_error(req, "GenericError", "Out of memory");
        return;
    }
    qmp_request_return(req, NULL);
}

static const Command commands[] = {
    {"query-version", cmd_query_version, {{0}}, false, true},
    {"query-commands", cmd_query_commands, {{0}}, false, true},
    {"query-status", cmd_query_status, {{0}}, false, true},
    {"quit", cmd_quit, {{0}}, false, false},
    {"reload", cmd_reload, {{0}}, false, false},
    {"object-add", cmd_object_add,
     {{"qom-type", ARG_STR, true}, {"id", ARG_STR, true}}, true, false},
    {"object-del", cmd_object_del, {{"id", ARG_STR, true}}, false, false},
    {"iothread-set", cmd_iothread_set, {{"id", ARG_STR, true}}, true, false},
    {"query-iothreads", cmd_query_iothreads, {{0}}, false, true},
    {"query-iothread-stats", cmd_query_iothread_stats,
     {{"id", ARG_STR, false}}, false, true},
    {"qom-list", cmd_qom_list, {{"path", ARG_STR, true}}, false, true},
    {"qom-get", cmd_qom_get,
     {{"path", ARG_STR, true}, {"property", ARG_STR, true}}, false, true},
    {"qom-set", cmd_qom_set,
     {{"path", ARG_STR, true},
      {"property", ARG_STR, true},
      {"value", ARG_ANY, true}},
     false, false},
    {"x-debug-iothread-hold", cmd_x_hold,
     {{"id", ARG_STR, true}, {"holder", ARG_STR, true}}, false, false},
    {"x-debug-iothread-stall", cmd_x_stall,
     {{"id", ARG_STR, true}, {"ms", ARG_INT, true}}, false, false},
    {"x-debug-iothread-release", cmd_x_release,
     {{"id", ARG_STR, true}, {"holder", ARG_STR, true}}, false, false},
    {NULL, NULL, {{0}}, false, false},
};

static const Command *find_command(const char *name)
{
    for (const Command *c = commands; c->name; c++) {
        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

bool qmp_command_is_read_only(const char *name)
{
    const Command *c = find_command(name);

    /* Unknown names pass, to be answered "not found" as anywhere else. */
    return !c || c->read_only;
}

void qmp_dispatch_command(void *opaque, QmpRequest *req, const char *name,
                          json_t *args)
{
    Daemon *d = opaque;
    const Command *cmd = find_command(name);
    json_t *props;

    if (!cmd) {
        qmp_request_error(req, "CommandNotFound",
                          "The command %s has not been found", name);
        return;
    }
    if (!check_args(cmd, req, args, &props)) {
        return;
    }
    log_debug("QMP: %s", name);
    cmd->fn(d, req, args, props);
    json_decref(props);
}
