/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/error.h"
#include "daemon/socket-setup.h"

/* mkdir -p for the socket's directory; only what we create gets @mode. */
static int make_parent_dirs(const char *path, mode_t mode, gid_t group,
                            char **errp)
{
    char *dir = strdup(path), *slash;
    int ret = 0;

    if (!dir) {
        return error_fail(errp, -ENOMEM, "out of memory");
    }
    slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        free(dir);
        return 0;
    }
    *slash = '\0';
    for (char *p = dir + 1; ret == 0; p++) {
        bool end = *p == '\0';

        if (*p != '/' && !end) {
            continue;
        }
        *p = '\0';
        if (mkdir(dir, mode) == 0) {
            /* mkdir honours the umask; the mode must be exact. */
            if (chmod(dir, mode) < 0 ||
                (group != (gid_t)-1 && chown(dir, (uid_t)-1, group) < 0)) {
                ret = error_fail(errp, -errno, "%s: %s", dir, strerror(errno));
            }
        } else if (errno != EEXIST) {
            ret = error_fail(errp, -errno, "cannot create directory %s: %s",
                          dir, strerror(errno));
        }
        if (end) {
            break;
        }
        *p = '/';
    }
    free(dir);
    return ret;
}

/* A live daemon greets a new client at once. */
static bool peer_greets(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char c;

    return poll(&pfd, 1, 2000) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) == 1;
}

/* A socket file nobody accepts on is left over from a dead daemon. */
static int check_existing(const char *path, const struct sockaddr_un *addr,
                          char **errp)
{
    struct stat st;
    int fd, ret;

    if (lstat(path, &st) < 0) {
        return errno == ENOENT
                   ? 0
                   : error_fail(errp, -errno, "%s: %s", path, strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode)) {
        return error_fail(errp, -EEXIST, "%s exists and is not a socket", path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return error_fail(errp, -errno, "socket: %s", strerror(errno));
    }
    ret = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
    if (ret == 0 && !peer_greets(fd)) {
        /* A killed daemon's socket can outlive it for a moment (its
         * io_uring is torn down asynchronously): the kernel still queues
         * connections, but nobody will ever answer them. */
        ret = -1;
        errno = ECONNREFUSED;
    }
    close(fd);
    if (ret == 0) {
        return error_fail(errp, -EADDRINUSE,
                       "iothreadd is already running on %s", path);
    }
    if (errno != ECONNREFUSED) {
        return error_fail(errp, -errno, "%s: %s", path, strerror(errno));
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        return error_fail(errp, -errno, "cannot remove stale socket %s: %s",
                       path, strerror(errno));
    }
    return 0;
}

int socket_listen_unix(const char *path, const SocketOptions *opts,
                       char **errp)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    bool grouped = opts->group != (gid_t)-1;
    mode_t old_umask;
    int fd, ret;

    *errp = NULL;
    if (strlen(path) >= sizeof(addr.sun_path)) {
        return error_fail(errp, -ENAMETOOLONG,
                       "socket path is longer than %zu bytes: %s",
                       sizeof(addr.sun_path) - 1, path);
    }
    strcpy(addr.sun_path, path);
    ret = make_parent_dirs(path, grouped ? 0750 : 0700, opts->group, errp);
    if (ret < 0) {
        return ret;
    }
    ret = check_existing(path, &addr, errp);
    if (ret < 0) {
        return ret;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return error_fail(errp, -errno, "socket: %s", strerror(errno));
    }
    /* Never let the socket exist, even for a moment, with a wider mode
     * than asked for. */
    old_umask = umask(0777 & ~opts->mode);
    ret = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    umask(old_umask);
    if (ret < 0) {
        ret = error_fail(errp, -errno, "cannot bind %s: %s", path,
                      strerror(errno));
        close(fd);
        return ret;
    }
    if (chmod(path, opts->mode) < 0 ||
        (grouped && chown(path, (uid_t)-1, opts->group) < 0) ||
        listen(fd, 64) < 0) {
        int err = errno;

        ret = error_fail(errp, -err, "cannot set up %s: %s", addr.sun_path,
                      strerror(err));
        unlink(path);
        close(fd);
        return ret;
    }
    return fd;
}

int socket_mode_parse(const char *s, mode_t *mode)
{
    char *end;
    unsigned long v;

    if (!s || !*s || strspn(s, "01234567") != strlen(s)) {
        return -EINVAL;
    }
    errno = 0;
    v = strtoul(s, &end, 8);
    if (errno || *end || v > 0777) {
        return -EINVAL;
    }
    *mode = (mode_t)v;
    return 0;
}

int socket_group_parse(const char *s, gid_t *gid)
{
    struct group *g;
    char *end;
    unsigned long v;

    if (!s || !*s) {
        return -ENOENT;
    }
    g = getgrnam(s);
    if (g) {
        *gid = g->gr_gid;
        return 0;
    }
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v >= (gid_t)-1) {
        return -ENOENT;
    }
    *gid = (gid_t)v;
    return 0;
}
