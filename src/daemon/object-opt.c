/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * --object parsing (keyval or JSON) into object-add's flat JSON shape; see
 * object-opt.h.  The keyval rules follow QEMU's util/keyval.c: an implied
 * first key (qom-type), ",," escapes, QAPI-name keys, and the same error
 * wording, except that a repeated key is an error here (QEMU silently
 * keeps the last value, which hides typos in long command lines).
 */
#include "common/error.h"
#include "daemon/object-opt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/iothread-config.h"
#include "common/keyval.h"

/* QEMU's qemu_strtoi64(s, NULL, 0, &v): the whole string, base 0. */
static bool parse_int64(const char *s, json_int_t *v)
{
    char *end;
    long long r;

    /* strtoll would skip leading white space; QEMU accepts it too, but a
     * value with spaces is almost certainly a quoting mistake. */
    if (!*s || *s == ' ' || (*s >= '\t' && *s <= '\r')) {
        return false;
    }
    errno = 0;
    r = strtoll(s, &end, 0);
    if (errno || *end) {
        return false;
    }
    *v = r;
    return true;
}

/* The checks common to both syntaxes. */
static int check_object(json_t *obj, char **errp)
{
    json_t *type = json_object_get(obj, "qom-type");
    json_t *id = json_object_get(obj, "id");

    if (!type) {
        error_setf(errp, "Parameter 'qom-type' is missing");
        return -EINVAL;
    }
    if (!json_is_string(type)) {
        error_setf(errp, "Invalid parameter type for 'qom-type', expected: "
                  "string");
        return -EINVAL;
    }
    if (strcmp(json_string_value(type), "iothread") != 0) {
        error_setf(errp, "Invalid object type '%s'", json_string_value(type));
        return -EINVAL;
    }
    if (!id) {
        error_setf(errp, "Parameter 'id' is missing");
        return -EINVAL;
    }
    if (!json_is_string(id)) {
        error_setf(errp, "Invalid parameter type for 'id', expected: string");
        return -EINVAL;
    }
    if (!iothread_id_valid(json_string_value(id))) {
        error_setf(errp, "Parameter 'id' expects an identifier");
        return -EINVAL;
    }
    return 0;
}

static int parse_json(const char *arg, json_t **objp, char **errp)
{
    json_error_t jerr;
    json_t *obj = json_loads(arg, JSON_REJECT_DUPLICATES, &jerr);
    int ret;

    if (!obj) {
        error_setf(errp, "Invalid JSON in --object: %s", jerr.text);
        return -EINVAL;
    }
    if (!json_is_object(obj)) { /* cannot happen after '{', but cheap */
        json_decref(obj);
        error_setf(errp, "Invalid JSON in --object: not an object");
        return -EINVAL;
    }
    ret = check_object(obj, errp);
    if (ret < 0) {
        json_decref(obj);
        return ret;
    }
    *objp = obj;
    return 0;
}

/* A typed copy of @strs into *@objp: integers for the integer
 * properties, strings for the rest.  0, -EINVAL or -ENOMEM. */
static int typed_copy(json_t *strs, json_t **objp, char **errp)
{
    json_t *obj = json_object(), *v;
    const char *k;

    if (!obj) {
        return error_fail(errp, -ENOMEM, "Out of memory");
    }
    json_object_foreach(strs, k, v) {
        const IOThreadPropInfo *pi = iothread_prop_find(k);
        json_t *typed;
        json_int_t n;

        if (pi && pi->kind == IOTHREAD_PROP_INT) {
            if (!parse_int64(json_string_value(v), &n)) {
                json_decref(obj);
                return error_fail(errp, -EINVAL, "Parameter '%s' expects "
                                  "integer", k);
            }
            typed = json_integer(n);
        } else {
            typed = json_incref(v);
        }
        if (!typed || json_object_set_new(obj, k, typed) < 0) {
            json_decref(obj);
            return error_fail(errp, -ENOMEM, "Out of memory");
        }
    }
    *objp = obj;
    return 0;
}

static int parse_keyval(const char *arg, json_t **objp, char **errp)
{
    json_t *strs = NULL; /* key -> string, as written */
    int ret = keyval_parse(arg, "qom-type", KEYVAL_FLAT, &strs, errp);

    if (ret == 0) {
        ret = check_object(strs, errp);
    }
    if (ret == 0) {
        ret = typed_copy(strs, objp, errp);
    }
    json_decref(strs);
    return ret;
}

int object_opt_parse(const char *arg, json_t **objp, char **errp)
{
    if (errp) {
        *errp = NULL;
    }
    if (!arg) {
        arg = "";
    }
    if (arg[0] == '{') {
        return parse_json(arg, objp, errp);
    }
    return parse_keyval(arg, objp, errp);
}
