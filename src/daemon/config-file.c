/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parsing happens in two steps: jansson checks the syntax (and duplicate
 * keys) and builds the tree, then the tree is checked against the
 * vocabulary below.  For the second step's errors json-pos finds where in
 * the text the offending member is.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/block-schema.h"
#include "daemon/config-file.h"
#include "common/error.h"
#include "daemon/json-pos.h"
#include "daemon/log.h"
#include "daemon/socket-setup.h"
#include "daemon/uid-list.h"

/* What the checks need to report a position. */
typedef struct Source {
    const char *text;
    size_t len;
    const char *name;
} Source;

/* "FILE:LINE:COL: message" at @path (its key if @at_key). */
static int fail_at(const Source *src, char **errp, const char *const *path,
                   size_t depth, bool at_key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int fail_at(const Source *src, char **errp, const char *const *path,
                   size_t depth, bool at_key, const char *fmt, ...)
{
    int line = 1, col = 1;
    char *msg = NULL;
    va_list ap;

    /* Fall back to the enclosing member, then to the start. */
    while (!json_pos_find(src->text, src->len, path, depth, at_key, &line,
                          &col) &&
           depth > 0) {
        depth--;
        at_key = false;
    }
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0) {
        msg = NULL;
    }
    va_end(ap);
    error_setf(errp, "%s:%d:%d: %s", src->name, line, col,
               msg ? msg : "out of memory");
    free(msg);
    return -EINVAL;
}

void daemon_config_init(DaemonConfig *cfg)
{
    *cfg = (DaemonConfig){
        .socket_mode = -1,
        .log_level = -1,
        .max_iothreads = 1024,
        .max_clients = 64,
        .max_message_size = 1 << 20,
        .max_nesting_depth = 1024,
        .max_output_buffer = 4 << 20,
    };
}

void daemon_config_cleanup(DaemonConfig *cfg)
{
    free(cfg->socket);
    free(cfg->socket_group);
    free(cfg->pidfile);
    free(cfg->ro_socket);
    free(cfg->state_file);
    free(cfg->allow_uids);
    for (size_t i = 0; i < cfg->n_iothreads; i++) {
        iothread_config_cleanup(&cfg->iothreads[i]);
    }
    free(cfg->iothreads);
    json_decref(cfg->block);
    memset(cfg, 0, sizeof(*cfg));
}

typedef enum { KEY_STRING, KEY_INT, KEY_ARRAY, KEY_ANY } KeyType;

typedef struct TopKey {
    const char *name;
    KeyType type;
    long min, max; /* KEY_INT */
    size_t offset; /* of the long (KEY_INT) or char * (KEY_STRING) field */
} TopKey;

#define STR_FIELD(f) offsetof(DaemonConfig, f)
static const TopKey top_keys[] = {
    {"comment", KEY_ANY, 0, 0, 0},
    {"socket", KEY_STRING, 0, 0, STR_FIELD(socket)},
    {"socket-mode", KEY_STRING, 0, 0, 0},
    {"socket-group", KEY_STRING, 0, 0, STR_FIELD(socket_group)},
    {"pidfile", KEY_STRING, 0, 0, STR_FIELD(pidfile)},
    {"ro-socket", KEY_STRING, 0, 0, STR_FIELD(ro_socket)},
    {"state-file", KEY_STRING, 0, 0, STR_FIELD(state_file)},
    {"allow-uid", KEY_ARRAY, 0, 0, 0},
    {"log-level", KEY_STRING, 0, 0, 0},
    {"max-iothreads", KEY_INT, 1, 65536, STR_FIELD(max_iothreads)},
    {"max-clients", KEY_INT, 1, 4096, STR_FIELD(max_clients)},
    {"max-message-size", KEY_INT, 1024, 64L << 20,
     STR_FIELD(max_message_size)},
    /* jansson refuses deeper documents anyway (2048). */
    {"max-nesting-depth", KEY_INT, 1, 1024, STR_FIELD(max_nesting_depth)},
    {"max-output-buffer", KEY_INT, 64L << 10, 1L << 30,
     STR_FIELD(max_output_buffer)},
    {"iothreads", KEY_ARRAY, 0, 0, 0},
    /* block objects: checked together by block_specs_check() */
    {"blockdevs", KEY_ARRAY, 0, 0, 0},
    {"nbd-server", KEY_ANY, 0, 0, 0},
    {"exports", KEY_ARRAY, 0, 0, 0},
};

static const TopKey *top_key_find(const char *name)
{
    for (size_t i = 0; i < sizeof(top_keys) / sizeof(top_keys[0]); i++) {
        if (strcmp(top_keys[i].name, name) == 0) {
            return &top_keys[i];
        }
    }
    return NULL;
}

static const char *const type_names[] = {
    [KEY_STRING] = "a string", [KEY_INT] = "an integer",
    [KEY_ARRAY] = "an array", [KEY_ANY] = "a value",
};

static bool type_ok(KeyType t, json_t *v)
{
    switch (t) {
    case KEY_STRING:
        return json_is_string(v);
    case KEY_INT:
        return json_is_integer(v);
    case KEY_ARRAY:
        return json_is_array(v);
    default:
        return true;
    }
}

/* The first of @props' keys that @msg names, for the error position. */
static const char *key_named_in(json_t *props, const char *msg)
{
    const char *key;
    json_t *v;
    char quoted[160];

    json_object_foreach(props, key, v) {
        size_t n = strlen(key);

        snprintf(quoted, sizeof(quoted), "'%s'", key);
        if (strstr(msg, quoted) ||
            (strncmp(msg, key, n) == 0 && msg[n] == ' ')) {
            return key;
        }
    }
    return NULL;
}

static int parse_iothread(const Source *src, json_t *obj, size_t index,
                          DaemonConfig *cfg, char **errp)
{
    char idx[32];
    const char *path[3] = {"iothreads", idx, NULL};
    IOThreadConfig *c = &cfg->iothreads[cfg->n_iothreads];
    json_t *props, *id, *v;
    const char *key;
    char *err = NULL;
    int ret;

    snprintf(idx, sizeof(idx), "%zu", index);
    if (!json_is_object(obj)) {
        return fail_at(src, errp, path, 2, false,
                       "an iothread must be an object");
    }
    id = json_object_get(obj, "id");
    if (!id) {
        return fail_at(src, errp, path, 2, false,
                       "iothread lacks member 'id'");
    }
    path[2] = "id";
    if (!json_is_string(id)) {
        return fail_at(src, errp, path, 3, false, "'id' must be a string");
    }
    if (!iothread_id_valid(json_string_value(id))) {
        return fail_at(src, errp, path, 3, false,
                       "'%s' is not a valid id: it must start with a "
                       "letter, followed by letters, digits, '-', '.', '_'",
                       json_string_value(id));
    }
    for (size_t i = 0; i < cfg->n_iothreads; i++) {
        if (strcmp(cfg->iothreads[i].id, json_string_value(id)) == 0) {
            return fail_at(src, errp, path, 3, false,
                           "duplicate iothread id '%s'",
                           json_string_value(id));
        }
    }
    props = json_object();
    json_object_foreach(obj, key, v) {
        if (strcmp(key, "id") == 0 || strcmp(key, "comment") == 0) {
            continue;
        }
        if (!iothread_prop_find(key)) {
            path[2] = key;
            json_decref(props);
            return fail_at(src, errp, path, 3, true, "unknown key '%s'",
                           key);
        }
        json_object_set(props, key, v);
    }
    iothread_config_init(c);
    c->id = strdup(json_string_value(id));
    ret = c->id ? iothread_config_apply(c, props, true, &err) : -ENOMEM;
    if (ret < 0) {
        path[2] = err ? key_named_in(props, err) : NULL;
        ret = fail_at(src, errp, path, path[2] ? 3 : 2, false, "%s",
                      err ? err : "out of memory");
        free(err);
        iothread_config_cleanup(c);
        json_decref(props);
        return ret;
    }
    json_decref(props);
    cfg->n_iothreads++;
    return 0;
}

static int parse_iothreads(const Source *src, json_t *arr, DaemonConfig *cfg,
                           char **errp)
{
    size_t i;
    json_t *v;
    int ret;

    cfg->iothreads = calloc(json_array_size(arr) + 1,
                            sizeof(*cfg->iothreads));
    if (!cfg->iothreads) {
        return error_fail(errp, -ENOMEM, "%s: out of memory", src->name);
    }
    json_array_foreach(arr, i, v) {
        ret = parse_iothread(src, v, i, cfg, errp);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* Users as numbers or names, e.g. [0, "qemu"]. */
static int parse_allow_uid(const Source *src, json_t *arr, DaemonConfig *cfg,
                           char **errp)
{
    char idx[32];
    const char *path[2] = {"allow-uid", idx};
    size_t i;
    json_t *v;
    char num[32];

    free(cfg->allow_uids);
    cfg->allow_uids = calloc(json_array_size(arr) + 1, sizeof(uid_t));
    cfg->n_allow_uids = 0;
    if (!cfg->allow_uids) {
        return error_fail(errp, -ENOMEM, "%s: out of memory", src->name);
    }
    json_array_foreach(arr, i, v) {
        const char *user = json_string_value(v);

        snprintf(idx, sizeof(idx), "%zu", i);
        if (json_is_integer(v)) {
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
            user = json_integer_value(v) >= 0 ? num : NULL;
        }
        if (!user || uid_parse(user, &cfg->allow_uids[i]) < 0) {
            return fail_at(src, errp, path, 2, false,
                           "'allow-uid' entries must be user names or "
                           "numbers of existing users");
        }
        cfg->n_allow_uids++;
    }
    return 0;
}

static int parse_top_key(const Source *src, const char *key, json_t *v,
                         DaemonConfig *cfg, char **errp)
{
    const char *path[1] = {key};
    const TopKey *k = top_key_find(key);
    mode_t mode;

    if (!k) {
        return fail_at(src, errp, path, 1, true, "unknown key '%s'", key);
    }
    if (!type_ok(k->type, v)) {
        return fail_at(src, errp, path, 1, false, "'%s' must be %s", key,
                       type_names[k->type]);
    }
    if (k->type == KEY_INT) {
        json_int_t n = json_integer_value(v);

        if (n < k->min || n > k->max) {
            return fail_at(src, errp, path, 1, false,
                           "'%s' must be in range [%ld, %ld]", key, k->min,
                           k->max);
        }
        *(long *)((char *)cfg + k->offset) = (long)n;
    } else if (strcmp(key, "socket-mode") == 0) {
        if (socket_mode_parse(json_string_value(v), &mode) < 0) {
            return fail_at(src, errp, path, 1, false,
                           "'socket-mode' must be an octal mode such as "
                           "\"0660\"");
        }
        cfg->socket_mode = (int)mode;
    } else if (strcmp(key, "log-level") == 0) {
        cfg->log_level = log_level_parse(json_string_value(v));
        if (cfg->log_level < 0) {
            return fail_at(src, errp, path, 1, false,
                           "'log-level' must be one of emerg, alert, crit, "
                           "err, warning, notice, info, debug");
        }
    } else if (k->type == KEY_STRING) {
        char **field = (char **)((char *)cfg + k->offset);

        if (!*json_string_value(v)) {
            return fail_at(src, errp, path, 1, false,
                           "'%s' must not be empty", key);
        }
        free(*field);
        *field = strdup(json_string_value(v));
    } else if (strcmp(key, "allow-uid") == 0) {
        return parse_allow_uid(src, v, cfg, errp);
    } else if (strcmp(key, "iothreads") == 0) {
        return parse_iothreads(src, v, cfg, errp);
    }
    return 0;
}

/* "blockdevs", "nbd-server", "exports": the same checks as QMP's. */
static int parse_block_objects(const char *filename, json_t *root,
                               DaemonConfig *cfg, char **errp)
{
    char *err = NULL;
    int ret;

    if (!json_object_get(root, "blockdevs") &&
        !json_object_get(root, "nbd-server") &&
        !json_object_get(root, "exports")) {
        return 0;
    }
    ret = block_specs_check(root, &cfg->block, &err);
    if (ret < 0) {
        error_setf(errp, "%s: %s", filename, err ? err : "invalid");
        free(err);
    }
    return ret;
}

int daemon_config_parse(const char *text, size_t len, const char *filename,
                        DaemonConfig *cfg, char **errp)
{
    Source src = {.text = text, .len = len, .name = filename};
    DaemonConfig next;
    json_error_t jerr;
    json_t *root, *v;
    const char *key;
    int ret = 0;

    *errp = NULL;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        error_setf(errp, "%s:%d:%d: %s", filename, jerr.line, jerr.column,
                   jerr.text);
        return -EINVAL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return fail_at(&src, errp, NULL, 0, false,
                       "the configuration must be a JSON object");
    }
    daemon_config_init(&next);
    json_object_foreach(root, key, v) {
        ret = parse_top_key(&src, key, v, &next, errp);
        if (ret < 0) {
            break;
        }
    }
    if (ret == 0) {
        ret = parse_block_objects(filename, root, &next, errp);
    }
    json_decref(root);
    if (ret < 0) {
        daemon_config_cleanup(&next);
        return ret;
    }
    daemon_config_cleanup(cfg);
    *cfg = next;
    return 0;
}

int daemon_config_load(const char *path, DaemonConfig *cfg, char **errp)
{
    struct stat st;
    char *text;
    ssize_t n;
    size_t len = 0;
    int fd, ret;

    *errp = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return error_fail(errp, -errno, "%s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        st.st_size > CONFIG_MAX_FILE_SIZE) {
        ret = error_fail(errp, -EINVAL, "%s: %s", path,
                         S_ISREG(st.st_mode) ? "larger than 16 MiB"
                                             : "not a regular file");
        close(fd);
        return ret;
    }
    text = malloc((size_t)st.st_size + 1);
    if (!text) {
        close(fd);
        return error_fail(errp, -ENOMEM, "%s: out of memory", path);
    }
    while (len < (size_t)st.st_size &&
           (n = read(fd, text + len, (size_t)st.st_size - len)) > 0) {
        len += (size_t)n;
    }
    close(fd);
    ret = daemon_config_parse(text, len, path, cfg, errp);
    free(text);
    return ret;
}
