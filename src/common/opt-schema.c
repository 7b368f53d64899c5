/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The schema checker (opt-schema.h), after QEMU's qobject input visitor:
 * the same checks and texts, in both its JSON and its keyval modes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/opt-schema.h"

/* The full name of member @name under @prefix ("" at the top). */
static void full_name(char *buf, size_t size, const char *prefix,
                      const char *name)
{
    snprintf(buf, size, "%s%s%s", prefix, *prefix ? "." : "", name);
}

/* QEMU's qapi_bool_parse(), the spellings keyval accepts. */
static int parse_bool(const char *s, bool *b)
{
    static const char *const yes[] = {"on", "yes", "true", "y"};
    static const char *const no[] = {"off", "no", "false", "n"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *b = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *b = false;
            return 0;
        }
    }
    return -EINVAL;
}

/* A keyval integer: decimal digits only, as qemu_strtou64(base 10). */
static int parse_uint(const char *s, unsigned long long *v)
{
    char *end;

    if (!*s || strspn(s, "0123456789") != strlen(s)) {
        return -EINVAL;
    }
    errno = 0;
    *v = strtoull(s, &end, 10);
    return errno ? -ERANGE : 0;
}

static int check_object(const OptField *fields, json_t *in, bool keyval,
                        const char *prefix, json_t **out, char **errp);

static const char *json_type_name(OptType t)
{
    switch (t) {
    case OPT_BOOL:
        return "boolean";
    case OPT_UINT32:
        return "integer";
    case OPT_OBJECT:
        return "object";
    default:
        return "string";
    }
}

/* One value: a typed copy into *@out. */
static int check_value(const OptField *f, json_t *v, bool keyval,
                       const char *name, json_t **out, char **errp)
{
    const char *s = json_string_value(v);
    unsigned long long n;
    bool b;

    if (f->type == OPT_OBJECT) {
        if (!json_is_object(v)) {
            goto bad_type;
        }
        return check_object(f->members, v, keyval, name, out, errp);
    }
    if (keyval || f->type == OPT_STR || f->type == OPT_ENUM) {
        if (!s) {
            goto bad_type;
        }
    }
    switch (f->type) {
    case OPT_STR:
        *out = json_string(s);
        break;
    case OPT_ENUM:
        for (const char *const *e = f->values; *e; e++) {
            if (strcmp(*e, s) == 0) {
                *out = json_string(s);
                return *out ? 0 : error_fail(errp, -ENOMEM, "Out of memory");
            }
        }
        return error_fail(errp, -EINVAL, "Parameter '%s' does not accept "
                          "value '%s'", name, s);
    case OPT_BOOL:
        if (keyval) {
            if (parse_bool(s, &b) < 0) {
                return error_fail(errp, -EINVAL, "Parameter '%s' expects "
                                  "'on' or 'off'", name);
            }
        } else if (!json_is_boolean(v)) {
            goto bad_type;
        } else {
            b = json_is_true(v);
        }
        *out = json_boolean(b);
        break;
    case OPT_UINT32:
        if (keyval) {
            if (parse_uint(s, &n) < 0) {
                return error_fail(errp, -EINVAL, "Parameter '%s' expects "
                                  "integer", name);
            }
        } else if (!json_is_integer(v)) {
            goto bad_type;
        } else if (json_integer_value(v) < 0) {
            n = (unsigned long long)-1;
        } else {
            n = (unsigned long long)json_integer_value(v);
        }
        if (n > UINT32_MAX) {
            return error_fail(errp, -EINVAL, "Parameter '%s' expects "
                              "uint32_t", name);
        }
        *out = json_integer((json_int_t)n);
        break;
    case OPT_OBJECT:
        break; /* handled above */
    }
    return *out ? 0 : error_fail(errp, -ENOMEM, "Out of memory");

bad_type:
    return error_fail(errp, -EINVAL, "Invalid parameter type for '%s', "
                      "expected: %s", name, json_type_name(f->type));
}

static int check_object(const OptField *fields, json_t *in, bool keyval,
                        const char *prefix, json_t **out, char **errp)
{
    json_t *obj = json_object(), *v;
    const char *key;
    char name[256];
    int ret = 0;

    if (!obj) {
        return error_fail(errp, -ENOMEM, "Out of memory");
    }
    for (const OptField *f = fields; f->name && ret == 0; f++) {
        json_t *typed = NULL;

        full_name(name, sizeof(name), prefix, f->name);
        v = json_object_get(in, f->name);
        if (!v) {
            if (f->required) {
                ret = error_fail(errp, -EINVAL, "Parameter '%s' is missing",
                                 name);
            }
            continue;
        }
        ret = check_value(f, v, keyval, name, &typed, errp);
        if (ret == 0 && json_object_set_new(obj, f->name, typed) < 0) {
            ret = error_fail(errp, -ENOMEM, "Out of memory");
        }
    }
    /* What the table does not name, QEMU's visitor calls unexpected. */
    json_object_foreach(in, key, v) {
        if (ret == 0 && !json_object_get(obj, key)) {
            full_name(name, sizeof(name), prefix, key);
            ret = error_fail(errp, -EINVAL, "Parameter '%s' is unexpected",
                             name);
        }
    }
    if (ret < 0) {
        json_decref(obj);
        return ret;
    }
    *out = obj;
    return 0;
}

int opt_check(const OptField *fields, json_t *in, bool keyval, json_t **out,
              char **errp)
{
    if (errp) {
        *errp = NULL;
    }
    if (!json_is_object(in)) {
        return error_fail(errp, -EINVAL, "Invalid parameter type, expected: "
                          "object");
    }
    return check_object(fields, in, keyval, "", out, errp);
}
