/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nbd-test-server: the NBD server of src/nbd/ with nothing of the daemon,
 * for the protocol tests (tests/nbd/test_*.py).
 *
 *   nbd-test-server --socket PATH --image FILE [--max-connections N]
 *                   [--handshake-max-seconds N] [--discard-unmap]
 *                   [--main-export]
 *
 * Opens FILE as a block node (src/block/) and serves it on the UNIX socket PATH as
 * "disk" (writable, description "test disk") and "ro" (read-only), both
 * on an IOThread, and with --main-export also as "main" (writable) on the
 * main context.  Prints "ready" when listening.  SIGUSR1 removes "disk"
 * hard, SIGUSR2 softly (prints "removed disk" when done).  SIGTERM stops
 * the server; the exit status is 0 only if everything was torn down
 * (every client gone, no coroutine left, the node idle).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <iothread/coroutine.h>
#include <iothread/iothread.h>

#include "nbd/nbd-server.h"

typedef struct Test {
    AioContext *main_ctx;
    NbdServer *server;
    NbdExport *disk;
    int sfd;
    bool stopped;
} Test;

static void log_cb(void *opaque, int level, const char *msg)
{
    fprintf(stderr, "nbd-test-server: <%d> %s\n", level, msg);
}

static void stopped_cb(void *opaque)
{
    ((Test *)opaque)->stopped = true;
}

static void removed_cb(void *opaque)
{
    printf("removed disk\n");
    fflush(stdout);
}

static void on_signal(void *opaque)
{
    Test *t = opaque;
    struct signalfd_siginfo si;

    if (read(t->sfd, &si, sizeof(si)) != sizeof(si)) {
        return;
    }
    if ((si.ssi_signo == SIGUSR1 || si.ssi_signo == SIGUSR2) && t->disk &&
        t->server) {
        nbd_export_remove(t->disk, si.ssi_signo == SIGUSR1, removed_cb, t);
        t->disk = NULL;
    } else if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) &&
               t->server) {
        nbd_server_stop(t->server, stopped_cb, t);
        t->server = NULL;
    }
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || strlen(path) >= sizeof(sa.sun_path)) {
        return -1;
    }
    strcpy(sa.sun_path, path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 128) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int die(const char *what, const char *why)
{
    fprintf(stderr, "nbd-test-server: %s: %s\n", what, why);
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "socket", required_argument, NULL, 's' },
        { "image", required_argument, NULL, 'i' },
        { "max-connections", required_argument, NULL, 'm' },
        { "handshake-max-seconds", required_argument, NULL, 'h' },
        { "discard-unmap", no_argument, NULL, 'd' },
        { "main-export", no_argument, NULL, 'M' },
        { NULL, 0, NULL, 0 },
    };
    const char *sock = NULL;
    NbdServerOptions sopts;
    BlockNodeOptions bopts;
    BlockNode *node = NULL;
    IOThread *io = NULL;
    Test t = { 0 };
    NbdExport *exp;
    NbdExportConfig cfg = { 0 };
    bool main_export = false;
    char *err = NULL;
    sigset_t set;
    int opt, lfd, ret, status = 0;

    nbd_server_options_default(&sopts);
    block_node_options_default(&bopts);
    bopts.node_name = "node0";
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 's': sock = optarg; break;
        case 'i': bopts.filename = optarg; break;
        case 'm': sopts.max_connections = (unsigned)atoi(optarg); break;
        case 'h': sopts.handshake_max_seconds = (unsigned)atoi(optarg); break;
        case 'd': bopts.discard = BLOCK_DISCARD_UNMAP; break;
        case 'M': main_export = true; break;
        default: return 2;
        }
    }
    if (!sock || !bopts.filename) {
        return die("usage", "--socket PATH --image FILE required");
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    ret = aio_context_new(&t.main_ctx, AIO_FDMON_AUTO);
    if (ret < 0) {
        return die("aio_context_new", strerror(-ret));
    }
    ret = block_node_open(&bopts, &node, &err);
    if (ret < 0) {
        return die("block_node_open", err);
    }
    ret = iothread_start(&io, NULL);
    if (ret < 0) {
        return die("iothread_start", strerror(-ret));
    }
    lfd = listen_unix(sock);
    if (lfd < 0) {
        return die(sock, strerror(errno));
    }
    ret = nbd_server_new(t.main_ctx, lfd, &sopts, log_cb, &t, &t.server,
                         &err);
    if (ret < 0) {
        return die("nbd_server_new", err);
    }
    cfg.node = node;
    cfg.ctx = iothread_get_aio_context(io);
    cfg.name = "disk";
    cfg.description = "test disk";
    cfg.writable = true;
    if (nbd_export_add(t.server, &cfg, &t.disk, &err) < 0) {
        return die("nbd_export_add", err);
    }
    cfg.name = "ro";
    cfg.description = NULL;
    cfg.writable = false;
    if (nbd_export_add(t.server, &cfg, &exp, &err) < 0) {
        return die("nbd_export_add", err);
    }
    if (main_export) {
        cfg.name = "main";
        cfg.ctx = t.main_ctx;
        cfg.writable = true;
        if (nbd_export_add(t.server, &cfg, &exp, &err) < 0) {
            return die("nbd_export_add", err);
        }
    }
    t.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (t.sfd < 0 || aio_set_fd_handler(t.main_ctx, t.sfd, on_signal, NULL,
                                        NULL, NULL, &t) < 0) {
        return die("signalfd", strerror(errno));
    }
    printf("ready\n");
    fflush(stdout);

    while (!t.stopped) {
        aio_poll(t.main_ctx, true);
    }

    aio_set_fd_handler(t.main_ctx, t.sfd, NULL, NULL, NULL, NULL, NULL);
    close(t.sfd);
    iothread_stop(io);
    if (aio_co_count(t.main_ctx) != 0) {
        fprintf(stderr, "nbd-test-server: %u coroutines left\n",
                aio_co_count(t.main_ctx));
        status = 1;
    }
    if (block_node_in_flight(node) != 0) {
        fprintf(stderr, "nbd-test-server: requests left in flight\n");
        status = 1;
    }
    block_node_close(node);
    while (aio_poll(t.main_ctx, false)) {
        /* let deferred BHs run */
    }
    aio_context_free(t.main_ctx);
    unlink(sock);
    return status;
}
