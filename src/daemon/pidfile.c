/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/error.h"
#include "daemon/pidfile.h"

int pidfile_write(Pidfile *p, const char *path, char **errp)
{
    char buf[32];
    int fd, n, ret;

    *errp = NULL;
    p->fd = -1;
    p->path = NULL;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        ret = -errno;
        goto fail;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        ret = -errno;
        close(fd);
        if (ret == -EWOULDBLOCK) {
            return error_fail(errp, ret,
                              "%s is locked: iothreadd is already running",
                              path);
        }
        goto fail;
    }
    /* A stale file from a killed daemon is simply overwritten. */
    n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || write(fd, buf, (size_t)n) != n) {
        ret = errno ? -errno : -EIO;
        unlink(path);
        close(fd);
        goto fail;
    }
    p->fd = fd;
    p->path = strdup(path);
    return 0;

fail:
    return error_fail(errp, ret, "cannot write pidfile %s: %s", path,
                      strerror(-ret));
}

void pidfile_remove(Pidfile *p)
{
    if (p->path) {
        unlink(p->path);
        free(p->path);
        p->path = NULL;
    }
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}
