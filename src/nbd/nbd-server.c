/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The NBD server's objects and lifetimes: the listener, the exports, and
 * each client from accept() to the bottom half that frees it.  Main
 * thread only, except where a function says otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nbd/nbd-internal.h"

#define NBD_ACCEPT_RETRY_NS (100 * 1000 * 1000LL)

static void server_logf(NbdServer *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void server_logf(NbdServer *s, int level, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    if (!s->log) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    s->log(s->log_opaque, level, msg);
}

void nbd_server_options_default(NbdServerOptions *opts)
{
    opts->max_connections = 100;
    opts->handshake_max_seconds = 10;
}

static char *strdup_err(const char *msg)
{
    return strdup(msg);
}

/* ------------------------------------------------------------------ */
/* Clients */

void nbd_client_set_reason(NbdClient *c, const char *fmt, ...)
{
    va_list ap;

    if (c->reason[0]) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
    va_end(ap);
}

static void server_maybe_done(NbdServer *s);
static void server_stop_bh(void *opaque);
static void export_maybe_done(NbdExport *exp);
static void export_remove_bh(void *opaque);

static void client_free_bh(void *opaque)
{
    NbdClient *c = opaque;
    NbdServer *s = c->server;
    NbdExport *exp = c->exp;

    if (c->reason[0]) {
        server_logf(s, LOG_WARNING, "NBD client %s: %s",
                    exp ? exp->name : "(handshake)", c->reason);
    }
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        s->clients = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    s->nclients--;
    if (exp) {
        nbd_client_move_forget(c);
        if (c->exp_prev) {
            c->exp_prev->exp_next = c->exp_next;
        } else {
            exp->clients = c->exp_next;
        }
        if (c->exp_next) {
            c->exp_next->exp_prev = c->exp_prev;
        }
        __atomic_fetch_sub(&exp->client_count, 1, __ATOMIC_RELAXED);
    }
    close(c->wfd);
    close(c->fd);
    aio_bh_delete(c->done_bh);
    free(c->meta_export);
    free(c);
    if (exp) {
        export_maybe_done(exp);
    }
    server_maybe_done(s);
}

void nbd_client_finished(NbdClient *c)
{
    aio_bh_schedule(c->done_bh);
}

void nbd_client_attach(NbdClient *c, NbdExport *exp)
{
    c->exp = exp;
    c->exp_prev = NULL;
    c->exp_next = exp->clients;
    if (exp->clients) {
        exp->clients->exp_prev = c;
    }
    exp->clients = c;
    __atomic_fetch_add(&exp->client_count, 1, __ATOMIC_RELAXED);
    c->tx_flags = nbd_export_tx_flags(exp);
}

static void client_disconnect(NbdClient *c)
{
    shutdown(c->fd, SHUT_RDWR);
}

static void handshake_timeout(void *opaque)
{
    NbdClient *c = opaque;

    c->timed_out = true;
    client_disconnect(c);
}

static void client_new(NbdServer *s, int fd)
{
    NbdClient *c;
    Coroutine *co;

    if (s->opts.max_connections &&
        s->nclients >= s->opts.max_connections) {
        server_logf(s, LOG_WARNING,
                    "NBD: refusing a connection: max-connections (%u) "
                    "reached", s->opts.max_connections);
        close(fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    /* Replies are small and latency-bound, as QEMU says too; a UNIX
     * socket refuses the option, which is fine. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
    c->server = s;
    c->fd = fd;
    c->wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    /* Allocated now, so that handing the client back cannot fail. */
    c->done_bh = aio_bh_new(s->main_ctx, client_free_bh, c);
    co = c->wfd >= 0 && c->done_bh
         ? aio_co_create(s->main_ctx, nbd_client_co, c, 0) : NULL;
    if (!co) {
        server_logf(s, LOG_ERR, "NBD: cannot serve a client: %s",
                    strerror(errno));
        if (c->wfd >= 0) {
            close(c->wfd);
        }
        aio_bh_delete(c->done_bh);
        close(fd);
        free(c);
        return;
    }
    nbd_reply_queue_init(c);
    qemu_co_queue_init(&c->waitq);
    aio_timer_init(&c->handshake_timer, s->main_ctx, AIO_CLOCK_MONOTONIC,
                   handshake_timeout, c);
    if (s->opts.handshake_max_seconds &&
        aio_timer_mod_in(&c->handshake_timer,
                         s->opts.handshake_max_seconds *
                         1000000000LL) < 0) {
        /* No timer, no limit: refuse rather than serve unbounded. */
        server_logf(s, LOG_ERR, "NBD: cannot arm the handshake timer");
        handshake_timeout(c);
    }
    c->next = s->clients;
    if (s->clients) {
        s->clients->prev = c;
    }
    s->clients = c;
    s->nclients++;
    aio_co_wake(co);
}

static void listener_readable(void *opaque);

static void accept_retry(void *opaque)
{
    NbdServer *s = opaque;

    if (s->listen_fd >= 0) {
        aio_set_fd_handler(s->main_ctx, s->listen_fd, listener_readable,
                           NULL, NULL, NULL, s);
    }
}

static void listener_readable(void *opaque)
{
    NbdServer *s = opaque;

    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            client_new(s, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            /* EMFILE and the like: the socket stays readable, so pause
             * instead of spinning. */
            server_logf(s, LOG_ERR, "NBD: accept: %s", strerror(errno));
            aio_set_fd_handler(s->main_ctx, s->listen_fd, NULL, NULL, NULL,
                               NULL, NULL);
            aio_timer_mod_in(&s->accept_retry, NBD_ACCEPT_RETRY_NS);
        }
        return;
    }
}

unsigned nbd_server_client_count(const NbdServer *s)
{
    return s->nclients;
}

/* ------------------------------------------------------------------ */
/* Server */

int nbd_server_new(AioContext *main_ctx, int listen_fd,
                   const NbdServerOptions *opts, NbdLogFn *log,
                   void *log_opaque, NbdServer **ps, char **errp)
{
    NbdServer *s;
    int flags, ret;

    flags = fcntl(listen_fd, F_GETFL);
    if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        ret = -errno;
        *errp = strdup_err("Cannot make the NBD socket non-blocking");
        return ret;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        *errp = strdup_err("Out of memory");
        return -ENOMEM;
    }
    s->main_ctx = main_ctx;
    s->listen_fd = listen_fd;
    s->stop_bh = aio_bh_new(main_ctx, server_stop_bh, s);
    if (!s->stop_bh) {
        free(s);
        *errp = strdup_err("Out of memory");
        return -ENOMEM;
    }
    if (opts) {
        s->opts = *opts;
    } else {
        nbd_server_options_default(&s->opts);
    }
    s->log = log;
    s->log_opaque = log_opaque;
    aio_timer_init(&s->accept_retry, main_ctx, AIO_CLOCK_MONOTONIC,
                   accept_retry, s);
    ret = aio_set_fd_handler(main_ctx, listen_fd, listener_readable, NULL,
                             NULL, NULL, s);
    if (ret < 0) {
        aio_bh_delete(s->stop_bh);
        free(s);
        *errp = strdup_err("Cannot watch the NBD socket");
        return ret;
    }
    *ps = s;
    return 0;
}

static void export_free(NbdExport *exp)
{
    aio_bh_delete(exp->remove_bh);
    block_stats_destroy(&exp->stats);
    aio_bh_delete(exp->move_bh);
    free(exp->name);
    free(exp->description);
    free(exp);
}

static void server_maybe_done(NbdServer *s)
{
    NbdDoneFn *done;
    void *opaque;

    if (!s->stopping || s->stop_bh_pending || s->clients || s->removing ||
        s->exports) {
        return;
    }
    done = s->stop_done;
    opaque = s->stop_opaque;
    aio_bh_delete(s->stop_bh);
    free(s);
    if (done) {
        done(opaque);
    }
}

static void server_stop_bh(void *opaque)
{
    NbdServer *s = opaque;
    NbdExport *exp, *next;

    s->stop_bh_pending = false;
    for (exp = s->removing; exp; exp = next) {
        next = exp->next;
        export_maybe_done(exp);
    }
    server_maybe_done(s);
}

static void export_unlink(NbdExport *exp)
{
    NbdServer *s = exp->server;
    NbdExport **p;

    for (p = &s->exports; *p; p = &(*p)->next) {
        if (*p == exp) {
            *p = exp->next;
            break;
        }
    }
    exp->removing = true;
    exp->next = s->removing;
    s->removing = exp;
}

void nbd_server_stop(NbdServer *s, NbdDoneFn *done, void *opaque)
{
    NbdClient *c;
    NbdExport *exp;

    s->stopping = true;
    s->stop_done = done;
    s->stop_opaque = opaque;
    aio_timer_del(&s->accept_retry);
    aio_set_fd_handler(s->main_ctx, s->listen_fd, NULL, NULL, NULL, NULL,
                       NULL);
    close(s->listen_fd);
    s->listen_fd = -1;
    while ((exp = s->exports)) {
        export_unlink(exp);
        exp->done = NULL;
    }
    for (c = s->clients; c; c = c->next) {
        client_disconnect(c);
    }
    /* Exports without clients are freed by the bottom half, the others
     * as their last client leaves: @done never runs inside this call. */
    s->stop_bh_pending = true;
    aio_bh_schedule(s->stop_bh);
}

/* ------------------------------------------------------------------ */
/* Exports */

uint32_t nbd_export_min_block(const NbdExport *exp)
{
    uint32_t align = block_node_request_alignment(exp->node);
    return align ? align : 1;
}

uint16_t nbd_export_tx_flags(const NbdExport *exp)
{
    uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
                 NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_DF | NBD_FLAG_SEND_CACHE;

    if (exp->server->opts.max_connections != 1) {
        f |= NBD_FLAG_CAN_MULTI_CONN;
    }
    if (exp->writable) {
        f |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES;
        if (block_node_can_fast_zero(exp->node)) {
            f |= NBD_FLAG_SEND_FAST_ZERO;
        }
    } else {
        f |= NBD_FLAG_READ_ONLY;
    }
    return f;
}

NbdExport *nbd_export_find(NbdServer *s, const char *name)
{
    NbdExport *exp;

    for (exp = s->exports; exp; exp = exp->next) {
        if (!strcmp(exp->name, name)) {
            return exp;
        }
    }
    return NULL;
}

int nbd_export_add(NbdServer *s, const NbdExportConfig *cfg,
                   NbdExport **pexp, char **errp)
{
    NbdExport *exp;
    char buf[NBD_MAX_STRING + 64];

    if (!cfg->name || strlen(cfg->name) > NBD_MAX_STRING) {
        *errp = strdup_err("NBD export name too long (at most 4096 bytes)");
        return -EINVAL;
    }
    if (s->stopping) {
        *errp = strdup_err("NBD server is stopping");
        return -EINVAL;
    }
    if (nbd_export_find(s, cfg->name)) {
        snprintf(buf, sizeof(buf), "NBD server already has export named "
                 "'%s'", cfg->name);
        *errp = strdup_err(buf);
        return -EEXIST;
    }
    if (cfg->writable && block_node_read_only(cfg->node)) {
        *errp = strdup_err("Cannot export a read-only node as writable");
        return -EINVAL;
    }
    if (cfg->description && strlen(cfg->description) > NBD_MAX_STRING) {
        *errp = strdup_err("NBD export description too long");
        return -EINVAL;
    }
    exp = calloc(1, sizeof(*exp));
    if (!exp || !(exp->remove_bh = aio_bh_new(s->main_ctx, export_remove_bh,
                                              exp)) ||
        !(exp->move_bh = nbd_export_move_bh_new(s->main_ctx, exp)) ||
        !(exp->name = strdup(cfg->name)) ||
        (cfg->description && !(exp->description =
                               strdup(cfg->description)))) {
        if (exp) {
            export_free(exp);
        }
        *errp = strdup_err("Out of memory");
        return -ENOMEM;
    }
    exp->server = s;
    exp->node = cfg->node;
    exp->ctx = cfg->ctx;
    exp->writable = cfg->writable;
    exp->next = s->exports;
    s->exports = exp;
    *pexp = exp;
    return 0;
}

static void export_maybe_done(NbdExport *exp)
{
    NbdServer *s = exp->server;
    NbdExport **p;

    if (!exp->removing || exp->remove_bh_pending || exp->clients ||
        exp->moving) {
        return;
    }
    for (p = &s->removing; *p; p = &(*p)->next) {
        if (*p == exp) {
            *p = exp->next;
            break;
        }
    }
    if (exp->done) {
        exp->done(exp->done_opaque);
    }
    export_free(exp);
}

void nbd_export_maybe_free(NbdExport *exp)
{
    NbdServer *s = exp->server;

    export_maybe_done(exp);
    server_maybe_done(s);
}

static void export_remove_bh(void *opaque)
{
    NbdExport *exp = opaque;

    exp->remove_bh_pending = false;
    nbd_export_maybe_free(exp);
}

void nbd_export_remove(NbdExport *exp, bool hard, NbdDoneFn *done,
                       void *opaque)
{
    NbdClient *c;

    export_unlink(exp);
    exp->done = done;
    exp->done_opaque = opaque;
    if (hard) {
        for (c = exp->clients; c; c = c->exp_next) {
            client_disconnect(c);
        }
    }
    if (!exp->clients) {
        /* Deferred, so that @done never runs inside this call. */
        exp->remove_bh_pending = true;
        aio_bh_schedule(exp->remove_bh);
    }
}

const char *nbd_export_name(const NbdExport *exp)
{
    return exp->name;
}

BlockNode *nbd_export_node(const NbdExport *exp)
{
    return exp->node;
}

AioContext *nbd_export_context(const NbdExport *exp)
{
    return exp->ctx;
}

unsigned nbd_export_client_count(const NbdExport *exp)
{
    return __atomic_load_n(&exp->client_count, __ATOMIC_RELAXED);
}

void nbd_export_get_stats(const NbdExport *exp, BlockStatsSnapshot *out)
{
    block_stats_snapshot(&exp->stats, out);
}

int nbd_export_set_latency_histogram(NbdExport *exp, BlockStatsOp op,
                                     const uint64_t *boundaries, size_t n)
{
    return block_stats_set_histogram(&exp->stats, op, boundaries, n);
}
