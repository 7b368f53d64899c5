/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The schemas of the block objects (block-schema.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/keyval.h"
#include "common/block-schema.h"
#include "common/opt-schema.h"

static const char *const file_drivers[] = {"file", NULL};
static const char *const aio_modes[] = {"threads", "io_uring", NULL};
static const char *const discard_modes[] = {"ignore", "unmap", NULL};
static const char *const detect_zeroes_modes[] = {"off", "on", "unmap", NULL};
static const char *const socket_types[] = {"unix", "inet", NULL};
static const char *const export_types[] = {"nbd", NULL};

/* BlockdevCacheOptions */
static const OptField cache_fields[] = {
    {"direct", OPT_BOOL, false, NULL, NULL},
    {"no-flush", OPT_BOOL, false, NULL, NULL},
    {NULL, OPT_STR, false, NULL, NULL},
};

/* BlockdevOptions (the common part) + BlockdevOptionsFile */
static const OptField blockdev_fields[] = {
    {"driver", OPT_ENUM, true, file_drivers, NULL},
    {"node-name", OPT_STR, false, NULL, NULL},
    {"filename", OPT_STR, true, NULL, NULL},
    {"aio", OPT_ENUM, false, aio_modes, NULL},
    {"cache", OPT_OBJECT, false, NULL, cache_fields},
    {"read-only", OPT_BOOL, false, NULL, NULL},
    {"auto-read-only", OPT_BOOL, false, NULL, NULL},
    {"discard", OPT_ENUM, false, discard_modes, NULL},
    {"detect-zeroes", OPT_ENUM, false, detect_zeroes_modes, NULL},
    {NULL, OPT_STR, false, NULL, NULL},
};

/* SocketAddress, flat: the members of both variants, checked by type
 * in check_addr(). */
static const OptField addr_fields[] = {
    {"type", OPT_ENUM, true, socket_types, NULL},
    {"path", OPT_STR, false, NULL, NULL},
    {"host", OPT_STR, false, NULL, NULL},
    {"port", OPT_STR, false, NULL, NULL},
    {NULL, OPT_STR, false, NULL, NULL},
};

/* NbdServerOptions */
static const OptField nbd_server_fields[] = {
    {"addr", OPT_OBJECT, true, NULL, addr_fields},
    {"max-connections", OPT_UINT32, false, NULL, NULL},
    {"handshake-max-seconds", OPT_UINT32, false, NULL, NULL},
    {NULL, OPT_STR, false, NULL, NULL},
};

/* BlockExportOptions (the common part) + BlockExportOptionsNbd */
static const OptField export_fields[] = {
    {"type", OPT_ENUM, true, export_types, NULL},
    {"id", OPT_STR, true, NULL, NULL},
    {"node-name", OPT_STR, true, NULL, NULL},
    {"name", OPT_STR, false, NULL, NULL},
    {"description", OPT_STR, false, NULL, NULL},
    {"writable", OPT_BOOL, false, NULL, NULL},
    {"writethrough", OPT_BOOL, false, NULL, NULL},
    {"iothread", OPT_STR, false, NULL, NULL},
    {"fixed-iothread", OPT_BOOL, false, NULL, NULL},
    {NULL, OPT_STR, false, NULL, NULL},
};

static const OptField *const schemas[] = {
    [BLOCK_OBJ_BLOCKDEV] = blockdev_fields,
    [BLOCK_OBJ_NBD_SERVER] = nbd_server_fields,
    [BLOCK_OBJ_EXPORT] = export_fields,
};

const char *spec_str(json_t *spec, const char *key)
{
    return json_string_value(json_object_get(spec, key));
}

/* QEMU's id_wellformed(): a letter, then letters, digits, '-', '.', '_'. */
static bool id_wellformed(const char *id)
{
    if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z'))) {
        return false;
    }
    for (const char *p = id + 1; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
              *p == '_')) {
            return false;
        }
    }
    return true;
}

static int check_blockdev(json_t *spec, char **errp)
{
    const char *name = spec_str(spec, "node-name");

    if (!name) {
        return error_fail(errp, -EINVAL, "'node-name' must be specified for "
                          "the root node");
    }
    if (!id_wellformed(name)) {
        return error_fail(errp, -EINVAL, "Invalid node-name: '%s'", name);
    }
    if (strlen(name) >= BLOCK_NODE_NAME_MAX) {
        return error_fail(errp, -EINVAL, "Node name too long");
    }
    if (!*spec_str(spec, "filename")) {
        return error_fail(errp, -EINVAL, "The 'file' block driver requires a "
                          "file name");
    }
    return 0;
}

/* The members a SocketAddress variant needs and those it must not have. */
static int check_addr(json_t *addr, char **errp)
{
    bool is_unix = strcmp(spec_str(addr, "type"), "unix") == 0;
    static const char *const unix_members[] = {"path", NULL};
    static const char *const inet_members[] = {"host", "port", NULL};
    const char *const *need = is_unix ? unix_members : inet_members;
    const char *const *refuse = is_unix ? inet_members : unix_members;

    for (const char *const *m = need; *m; m++) {
        if (!json_object_get(addr, *m)) {
            return error_fail(errp, -EINVAL, "Parameter 'addr.%s' is "
                              "missing", *m);
        }
    }
    for (const char *const *m = refuse; *m; m++) {
        if (json_object_get(addr, *m)) {
            return error_fail(errp, -EINVAL, "Parameter 'addr.%s' is "
                              "unexpected", *m);
        }
    }
    return 0;
}

static int check_export(json_t *spec, char **errp)
{
    if (!id_wellformed(spec_str(spec, "id"))) {
        return error_fail(errp, -EINVAL, "Invalid block export id");
    }
    return 0;
}

int block_spec_check(BlockObjKind kind, json_t *in, bool keyval,
                     json_t **spec, char **errp)
{
    json_t *typed = NULL;
    int ret = opt_check(schemas[kind], in, keyval, &typed, errp);

    if (ret < 0) {
        return ret;
    }
    switch (kind) {
    case BLOCK_OBJ_BLOCKDEV:
        ret = check_blockdev(typed, errp);
        break;
    case BLOCK_OBJ_NBD_SERVER:
        ret = check_addr(json_object_get(typed, "addr"), errp);
        break;
    case BLOCK_OBJ_EXPORT:
        ret = check_export(typed, errp);
        break;
    }
    if (ret < 0) {
        json_decref(typed);
        return ret;
    }
    *spec = typed;
    return 0;
}

int block_opt_parse(BlockObjKind kind, const char *arg, json_t **spec,
                    char **errp)
{
    static const char *const implied[] = {
        [BLOCK_OBJ_BLOCKDEV] = "driver",
        [BLOCK_OBJ_NBD_SERVER] = NULL,
        [BLOCK_OBJ_EXPORT] = "type",
    };
    json_t *in = NULL;
    json_error_t jerr;
    bool keyval = arg[0] != '{';
    int ret;

    *errp = NULL;
    if (keyval) {
        ret = keyval_parse(arg, implied[kind], 0, &in, errp);
        if (ret < 0) {
            return ret;
        }
    } else {
        in = json_loads(arg, JSON_REJECT_DUPLICATES, &jerr);
        if (!in) {
            return error_fail(errp, -EINVAL, "JSON parse error, %s",
                              jerr.text);
        }
    }
    ret = block_spec_check(kind, in, keyval, spec, errp);
    json_decref(in);
    return ret;
}

const char *block_specs_key(BlockObjKind kind)
{
    static const char *const keys[] = {
        [BLOCK_OBJ_BLOCKDEV] = "blockdevs",
        [BLOCK_OBJ_NBD_SERVER] = "nbd-server",
        [BLOCK_OBJ_EXPORT] = "exports",
    };

    return keys[kind];
}

json_t *block_specs_new(void)
{
    return json_pack("{s:[], s:[]}", "blockdevs", "exports");
}

int block_specs_add(json_t *specs, BlockObjKind kind, json_t *in,
                    bool keyval, char **errp)
{
    const char *key = block_specs_key(kind);
    json_t *spec = NULL;
    int ret;

    if (kind == BLOCK_OBJ_NBD_SERVER && json_object_get(specs, key)) {
        return error_fail(errp, -EEXIST, "NBD server already running");
    }
    ret = block_spec_check(kind, in, keyval, &spec, errp);
    if (ret < 0) {
        return ret;
    }
    if (kind == BLOCK_OBJ_NBD_SERVER) {
        ret = json_object_set_new(specs, key, spec);
    } else {
        ret = json_array_append_new(json_object_get(specs, key), spec);
    }
    return ret < 0 ? error_fail(errp, -ENOMEM, "Out of memory") : 0;
}

int block_specs_check(json_t *in, json_t **out, char **errp)
{
    json_t *specs = block_specs_new(), *v, *item;
    char *err = NULL;
    size_t i;
    int ret = 0;

    *errp = NULL;
    if (!specs) {
        return error_fail(errp, -ENOMEM, "Out of memory");
    }
    for (int kind = 0; kind <= BLOCK_OBJ_EXPORT && ret == 0; kind++) {
        const char *key = block_specs_key((BlockObjKind)kind);

        v = json_object_get(in, key);
        if (!v) {
            continue;
        }
        if (kind == BLOCK_OBJ_NBD_SERVER) {
            ret = block_specs_add(specs, (BlockObjKind)kind, v, false, &err);
            if (ret < 0) {
                error_setf(errp, "%s: %s", key, err ? err : "invalid");
            }
            free(err);
            continue;
        }
        if (!json_is_array(v)) {
            ret = error_fail(errp, -EINVAL, "\"%s\" must be an array of "
                             "objects", key);
            break;
        }
        json_array_foreach(v, i, item) {
            ret = block_specs_add(specs, (BlockObjKind)kind, item, false,
                                  &err);
            if (ret < 0) {
                error_setf(errp, "%s[%zu]: %s", key, i, err ? err : "?");
                free(err);
                break;
            }
        }
    }
    if (ret < 0) {
        json_decref(specs);
        return ret;
    }
    *out = specs;
    return 0;
}
