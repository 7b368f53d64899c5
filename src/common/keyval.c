/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's keyval syntax into nested JSON objects of strings (keyval.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/keyval.h"

/* As QEMU's keyval: key parts must be shorter than this. */
#define KEY_PART_MAX 128

/* A QAPI name: a letter, then letters, digits, '-' or '_'. */
static bool part_valid(const char *p, size_t len)
{
    if (!len || !((p[0] >= 'a' && p[0] <= 'z') ||
                  (p[0] >= 'A' && p[0] <= 'Z'))) {
        return false;
    }
    for (size_t i = 1; i < len; i++) {
        char ch = p[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) {
            return false;
        }
    }
    return true;
}

/* A value from @p up to an unescaped ',' or the end, malloc'd (NULL when
 * out of memory); *@next is left past the separator. */
static char *read_value(const char *p, const char **next)
{
    char *val = malloc(strlen(p) + 1);
    size_t n = 0;

    if (!val) {
        return NULL;
    }
    while (*p) {
        if (*p == ',') {
            p++;
            if (*p != ',') {
                break;
            }
        }
        val[n++] = *p++;
    }
    val[n] = '\0';
    *next = p;
    return val;
}

/* Check every part of the dotted key @key (@len bytes). */
static int check_key(const char *key, size_t len, unsigned flags,
                     char **errp)
{
    const char *part = key, *end = key + len;

    for (;;) {
        const char *dot = flags & KEYVAL_FLAT
                              ? NULL
                              : memchr(part, '.', (size_t)(end - part));
        size_t plen = (size_t)((dot ? dot : end) - part);

        if (!part_valid(part, plen)) {
            return error_fail(errp, -EINVAL, "Invalid parameter '%.*s'",
                              (int)len, key);
        }
        if (plen >= KEY_PART_MAX) {
            return error_fail(errp, -EINVAL, "Parameter '%.*s' is too long",
                              (int)len, key);
        }
        if (!dot) {
            return 0;
        }
        part = dot + 1;
    }
}

/* Store @val under the dotted @key of @root, creating the objects on the
 * way.  0, -EINVAL or -ENOMEM with *@errp. */
static int store(json_t *root, const char *key, const char *val, char **errp)
{
    char *path = strdup(key), *part, *dot;
    json_t *obj = root, *cur;
    int ret = 0;

    if (!path) {
        return error_fail(errp, -ENOMEM, "Out of memory");
    }
    for (part = path; (dot = strchr(part, '.')); part = dot + 1) {
        *dot = '\0';
        cur = json_object_get(obj, part);
        if (!cur) {
            cur = json_object();
            if (!cur || json_object_set_new(obj, part, cur) < 0) {
                ret = error_fail(errp, -ENOMEM, "Out of memory");
                goto out;
            }
        } else if (!json_is_object(cur)) {
            ret = error_fail(errp, -EINVAL, "Parameters '%s.*' used "
                             "inconsistently", path);
            goto out;
        }
        *dot = '.';
        obj = cur;
    }
    cur = json_object_get(obj, part);
    if (json_is_object(cur)) {
        ret = error_fail(errp, -EINVAL, "Parameters '%s.*' used "
                         "inconsistently", key);
    } else if (cur) {
        ret = error_fail(errp, -EINVAL, "Parameter '%s' is set more than "
                         "once", key);
    } else if (json_object_set_new(obj, part, json_string(val)) < 0) {
        ret = error_fail(errp, -ENOMEM, "Out of memory");
    }
out:
    free(path);
    return ret;
}

/* One item at *@pp: its key and value into @root. */
static int read_item(json_t *root, const char **pp, const char *implied,
                     unsigned flags, bool first, char **errp)
{
    const char *p = *pp;
    size_t len = strcspn(p, "=,");
    char *key, *val;
    int ret;

    if (first && len && p[len] != '=') {
        if (!implied) {
            val = read_value(p, pp);
            ret = val ? error_fail(errp, -EINVAL, "No implicit parameter "
                                   "name for value '%s'", val)
                      : error_fail(errp, -ENOMEM, "Out of memory");
            free(val);
            return ret;
        }
        key = strdup(implied);
    } else {
        ret = check_key(p, len, flags, errp);
        if (ret < 0) {
            return ret;
        }
        if (p[len] != '=') {
            return error_fail(errp, -EINVAL, "Expected '=' after parameter "
                              "'%.*s'", (int)len, p);
        }
        key = strndup(p, len);
        p += len + 1;
    }
    val = key ? read_value(p, pp) : NULL;
    ret = val ? store(root, key, val, errp)
              : error_fail(errp, -ENOMEM, "Out of memory");
    free(key);
    free(val);
    return ret;
}

int keyval_parse(const char *arg, const char *implied_key, unsigned flags,
                 json_t **objp, char **errp)
{
    json_t *root = json_object();
    const char *p = arg ? arg : "";
    int ret = 0;

    if (errp) {
        *errp = NULL;
    }
    if (!root) {
        return error_fail(errp, -ENOMEM, "Out of memory");
    }
    for (bool first = true; *p && ret == 0; first = false) {
        ret = read_item(root, &p, implied_key, flags, first, errp);
    }
    if (ret < 0) {
        json_decref(root);
        return ret;
    }
    *objp = root;
    return 0;
}
