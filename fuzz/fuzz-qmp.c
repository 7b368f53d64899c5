/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target: bytes from a QMP client, through the whole input path
 * (stream splitter, envelope, negotiation, argument checks, dispatch)
 * against a real daemon state: a main loop, a registry with an iothread,
 * the command table.  Each input gets a fresh daemon, so a run is
 * deterministic and leaks show.  The first byte's low bit chooses whether
 * negotiation is done for the input, so both modes are explored.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/block-objects.h"
#include "daemon/daemon.h"
#include "daemon/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_event(void *opaque, const char *event, const char *id)
{
    Daemon *d = opaque;

    qmp_server_broadcast_event(d->server, event,
                               json_pack("{s:s}", "id", id));
}

/* Block objects' events: dropped (nobody subscribes in a run). */
static void on_block_event(void *opaque, const char *event, json_t *data)
{
    json_decref(data);
}

static void daemon_up(Daemon *d)
{
    QmpServerLimits limits;
    IOThreadConfig cfg;
    json_t *version = daemon_version_json();
    char *err = NULL;

    *d = (Daemon){.max_stall_ms = 5};
    log_set_level(LOG_EMERG);
    if (aio_context_new(&d->ctx, AIO_FDMON_EPOLL) < 0) {
        abort();
    }
    daemon_config_init(&d->config);
    qmp_server_limits_default(&limits);
    limits.max_message_size = 64 << 10;
    limits.max_depth = 64;
    limits.max_output_buffer = 64 << 10;
    d->server = qmp_server_new(d->ctx, &limits, version, qmp_dispatch_command,
                               d);
    json_decref(version);
    /* Few iothreads: creating threads is the slow part of a run. */
    d->registry = registry_new(d->ctx, 3, on_event, d);
    iothread_config_init(&cfg);
    cfg.id = strdup("io0");
    /* The block commands need the block objects, as in the daemon. */
    d->blk = d->registry ? bobj_new(d->ctx, d->registry, on_block_event, d)
                         : NULL;
    if (!d->server || !d->registry || !d->blk ||
        registry_create(d->registry, &cfg, ORIGIN_QMP, &err) < 0) {
        abort();
    }
    iothread_config_cleanup(&cfg);
}

static void daemon_down(Daemon *d)
{
    bobj_free(d->blk);      /* exports first, as the daemon */
    registry_free(d->registry);
    while (aio_poll(d->ctx, false)) {
    }
    qmp_server_free(d->server);
    daemon_config_cleanup(&d->config);
    aio_context_free(d->ctx);
}

/* Read what the daemon wrote; true at EOF (it closed the client). */
static bool drain(int fd)
{
    char buf[65536];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
    }
    return n == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char negotiate[] = "{\"execute\": \"qmp_capabilities\"}";
    Daemon d;
    int sv[2];
    size_t off = 0;
    bool eof = false;

    daemon_up(&d);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
        qmp_server_adopt(d.server, sv[0]) < 0) {
        abort();
    }
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    if (size > 0 && (data[0] & 1)) {
        if (write(sv[1], negotiate, sizeof(negotiate) - 1) < 0) {
            abort();
        }
    }
    /* Feed the input while the daemon runs: it pauses a client whose
     * replies pile up, so the two sides must take turns. */
    while (off < size) {
        ssize_t n = write(sv[1], data + off, size - off);

        if (n > 0) {
            off += (size_t)n;
        }
        eof = drain(sv[1]);
        if (eof) {
            break; /* the daemon dropped us */
        }
        aio_poll(d.ctx, false);
    }
    shutdown(sv[1], SHUT_WR);
    while (!eof) {
        eof = drain(sv[1]);
        if (!eof) {
            /* Something is always due: a reply, a BH from an iothread,
             * or the close that follows the last reply. */
            aio_poll(d.ctx, true);
        }
    }
    close(sv[1]);
    daemon_down(&d);
    return 0;
}
