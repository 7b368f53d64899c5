/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config-file.h"
#include "common/error.h"
#include "daemon/state-file.h"

static json_t *state_json(Registry *r, BlockObjects *b)
{
    json_t *blk = bobj_specs(b, 1u << ORIGIN_QMP), *state;
    json_t *list = json_array();

    for (IOThreadObject *o = registry_next(r, NULL); o;
         o = registry_next(r, o)) {
        json_t *e = iothread_config_to_json(iothread_object_config(o));

        json_object_set_new(e, "id", json_string(iothread_object_id(o)));
        json_array_append_new(list, e);
    }
    state = json_pack("{s:s, s:o}", "comment",
                      "written by iothreadd (--state-file); replaced, "
                      "not edited, while it runs", "iothreads", list);
    if (state && blk) {
        json_object_update(state, blk);
    }
    json_decref(blk);
    return state;
}

/* Make the rename itself durable. */
static void fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    int fd;

    if (!copy) {
        return;
    }
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int state_save(const char *path, Registry *r, BlockObjects *b, char **errp)
{
    json_t *state = state_json(r, b);
    char *tmp = NULL;
    int fd = -1, ret = 0;

    if (!state || asprintf(&tmp, "%s.XXXXXX", path) < 0) {
        json_decref(state);
        return error_fail(errp, -ENOMEM, "%s: out of memory", path);
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        ret = error_fail(errp, -errno, "cannot write %s: %s", path,
                         strerror(errno));
        goto out;
    }
    if (json_dumpfd(state, fd, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ||
        write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
        ret = error_fail(errp, -EIO, "cannot write %s: %s", tmp,
                         strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) < 0) {
        ret = error_fail(errp, -errno, "cannot replace %s: %s", path,
                         strerror(errno));
        unlink(tmp);
        goto out;
    }
    fsync_dir_of(path);
out:
    if (fd >= 0) {
        close(fd);
    }
    free(tmp);
    json_decref(state);
    return ret;
}

int state_restore(const char *path, Registry *r, BlockObjects *b,
                  char **errp)
{
    DaemonConfig state;
    int ret;

    *errp = NULL;
    if (access(path, F_OK) < 0 && errno == ENOENT) {
        return 0; /* first start */
    }
    daemon_config_init(&state);
    ret = daemon_config_load(path, &state, errp);
    for (size_t i = 0; ret == 0 && i < state.n_iothreads; i++) {
        IOThreadConfig *want = &state.iothreads[i];
        IOThreadObject *o = registry_find(r, want->id);

        if (!o) {
            ret = registry_create(r, want, ORIGIN_QMP, errp);
            continue;
        }
        iothread_config_keep_creation(want, iothread_object_config(o));
        ret = registry_update_sync(r, o, want);
        if (ret < 0) {
            error_setf(errp, "%s: cannot restore IOThread '%s': %s", path,
                       want->id, strerror(-ret));
        }
    }
    if (ret == 0 && state.block) {
        char *err = NULL;

        ret = bobj_create_all(b, state.block, ORIGIN_QMP, true, &err);
        if (ret < 0) {
            error_setf(errp, "%s: cannot restore %s", path, err ? err : "?");
        }
        free(err);
    }
    daemon_config_cleanup(&state);
    return ret;
}
