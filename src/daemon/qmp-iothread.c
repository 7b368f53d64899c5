/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP commands on iothread objects: object-add, object-del, iothread-set,
 * query-iothreads, query-iothread-stats.  Handlers validate a whole
 * request before they change anything; changes to a running iothread are
 * answered only after they took effect inside it.
 */
#include <stdlib.h>
#include <string.h>

#include "common/iothread-config.h"
#include "daemon/iothread-info.h"
#include "daemon/qmp-commands.h"

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

/* Reply with @text (iothread-info.h) or the error @ret: these replies
 * are polled and grow with the number of iothreads, so they are not
 * built as jansson trees. */
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

void cmd_query_iothreads(void *opaque, QmpRequest *req, json_t *args,
                         json_t *props)
{
    Daemon *d = opaque;
    JsonText text = {0};

    return_text(req, iothread_info_list(d->registry, &text), &text);
}

void cmd_query_iothread_stats(void *opaque, QmpRequest *req, json_t *args,
                              json_t *props)
{
    Daemon *d = opaque;
    const char *id = qmp_str_arg(args, "id");
    IOThreadObject *obj = NULL;
    JsonText text = {0};

    if (id && !(obj = qmp_find_iothread(d, req, id))) {
        return;
    }
    return_text(req, iothread_stats_list(d->registry, obj, &text), &text);
}
