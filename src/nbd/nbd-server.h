/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The NBD server: the protocol of NetworkBlockDevice/nbd doc/proto.md
 * (fixed newstyle handshake, options, transmission), serving block nodes
 * (src/block/) as named exports.  Protocol only: which sockets, nodes and
 * iothreads it gets, and who may delete what, is the daemon's business.
 *
 * Threads.  The server, its listening socket and every client's handshake
 * live on the main context given to nbd_server_new() (the daemon's main
 * thread).  Once a client has chosen an export (NBD_OPT_GO or
 * NBD_OPT_EXPORT_NAME), the client moves to the export's context: its
 * request loop and one coroutine per request in flight run there, its
 * socket and file I/O on that thread (through <iothread/io-engine.h>).
 * nbd_export_set_context() moves an export and its clients to another
 * context while they run.
 * Every function below is main thread only unless it says otherwise.
 *
 * Lifetimes.  Removing an export and stopping the server are
 * asynchronous, because clients on iothreads must finish first: the
 * caller gets a callback on the main thread when the last client is gone
 * and no request is in flight, and only then are the objects freed.
 */
#ifndef IOTHREADD_NBD_SERVER_H
#define IOTHREADD_NBD_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <iothread/aio.h>

#include "block/block-node.h"
#include "block/block-stats.h"

typedef struct NbdServer NbdServer;
typedef struct NbdExport NbdExport;

/* Diagnostics (a client's protocol error, a refused connection): @level
 * is a syslog priority, @msg one line without a newline.  Main thread. */
typedef void NbdLogFn(void *opaque, int level, const char *msg);

/* Completion of nbd_export_remove() / nbd_server_stop() /
 * nbd_export_set_context(), on the main thread. */
typedef void NbdDoneFn(void *opaque);

typedef struct NbdServerOptions {
    /* Clients connected at once (handshaking or not); more are accepted
     * and closed at once.  0: no limit.  QEMU's default is 100.  With 1,
     * exports do not advertise NBD_FLAG_CAN_MULTI_CONN. */
    unsigned max_connections;
    /* A client that has not finished its handshake after this many
     * seconds is disconnected.  0: no limit.  QEMU's default is 10. */
    unsigned handshake_max_seconds;
} NbdServerOptions;

/* nbd_server_options_default: max-connections 100, handshake 10 s. */
void nbd_server_options_default(NbdServerOptions *opts);

/*
 * nbd_server_new: a server accepting clients on @listen_fd (a bound,
 * listening stream socket, UNIX or TCP), which it now owns and makes
 * non-blocking, with its handshakes on @main_ctx.  Returns 0 and *@ps, or
 * -errno with *@errp set (malloc'd).
 */
int nbd_server_new(AioContext *main_ctx, int listen_fd,
                   const NbdServerOptions *opts, NbdLogFn *log,
                   void *log_opaque, NbdServer **ps, char **errp);

/*
 * nbd_server_stop: stop listening, disconnect every client, remove every
 * export (as nbd_export_remove(..., true, ...) does, without their own
 * callbacks), and once everything is gone free @s and run @done.  After
 * this call @s may be used for nothing else.
 */
void nbd_server_stop(NbdServer *s, NbdDoneFn *done, void *opaque);

/* Clients connected now, handshaking or not. */
unsigned nbd_server_client_count(const NbdServer *s);

typedef struct NbdExportConfig {
    const char *name;        /* NBD export name, unique on the server */
    const char *description; /* NBD_INFO_DESCRIPTION; NULL: none */
    BlockNode *node;         /* served; must outlive the export */
    AioContext *ctx;         /* where its clients' I/O runs */
    bool writable;           /* else NBD_FLAG_READ_ONLY */
} NbdExportConfig;

/*
 * nbd_export_add: serve @cfg->node as @cfg->name.  Copies the strings.
 * Returns 0 and *@pexp, or -EEXIST (name in use) / -EINVAL (writable on
 * a read-only node) / -ENOMEM with *@errp set.
 */
int nbd_export_add(NbdServer *s, const NbdExportConfig *cfg,
                   NbdExport **pexp, char **errp);

/*
 * nbd_export_remove: stop serving @exp: it leaves the list at once (new
 * clients cannot choose it; NBD_OPT_LIST no longer shows it).  With @hard
 * its clients are disconnected; without, they keep being served until
 * they leave.  A request in flight completes (or fails) and is answered
 * if the socket still works.  When the last client is gone @done runs,
 * then @exp is freed.  May be called once per export.
 */
void nbd_export_remove(NbdExport *exp, bool hard, NbdDoneFn *done,
                       void *opaque);

/*
 * nbd_export_set_context: move @exp and every client it serves to
 * @new_ctx, at runtime and under load.  Main thread; asynchronous.
 *
 * Each client is quiesced, then switched, then resumed: its receive loop
 * stops before reading its next request (a request whose header was read
 * is received and started first), the requests in flight complete and
 * are answered on the old context, then the client's coroutine, and with
 * it its socket's fd handler and every request it starts later, moves to
 * @new_ctx and reads on.  No request fails, is lost or is run twice; a
 * client only sees its requests wait for a moment.  Clients move one by
 * one, each as soon as its own requests are done, so two clients may run
 * on the two contexts for a while (a block node allows that).
 *
 * From this call on, nbd_export_context() is @new_ctx, and a client that
 * finishes its handshake (now or during the move) goes straight there.
 * @done(@opaque) runs on the main thread, never inside this call, once
 * no client of @exp runs on the old context any more: each has moved or
 * is gone, and nothing of @exp is left on the old context, so the caller
 * may then let go of it (stop its thread).  A client that disconnects
 * during the move counts as moved.  A client that is slow to send the
 * rest of a request it started (a write payload) delays the move until
 * it does or leaves.
 *
 * Moving to the context @exp already has is a move without work: @done
 * still runs, from a bottom half.
 *
 * Returns 0 (then @done will run exactly once), or, with nothing changed
 * and @done never run: -EBUSY while an earlier move of @exp has not
 * finished (moves are not queued: wait for the first one's @done), or
 * -ENOENT when @exp is being removed (nbd_export_remove(),
 * nbd_server_stop()).  Nothing else can fail: a caller that checked
 * nbd_export_moving() and its own removals can move several exports as
 * one operation.  Removing the export or stopping the server during a move is
 * allowed: the clients are disconnected, the move's @done runs first,
 * then the removal's.
 */
int nbd_export_set_context(NbdExport *exp, AioContext *new_ctx,
                           NbdDoneFn *done, void *opaque);

/* Whether a move of @exp (nbd_export_set_context()) has not finished. */
bool nbd_export_moving(const NbdExport *exp);

/* Look up an export by NBD name (not one being removed); NULL if none. */
NbdExport *nbd_export_find(NbdServer *s, const char *name);

const char *nbd_export_name(const NbdExport *exp);
BlockNode *nbd_export_node(const NbdExport *exp);
AioContext *nbd_export_context(const NbdExport *exp);

/* Clients using @exp now.  Any thread. */
unsigned nbd_export_client_count(const NbdExport *exp);

/* The export's own I/O counters (its clients' requests, as answered).
 * Any thread. */
void nbd_export_get_stats(const NbdExport *exp, BlockStatsSnapshot *out);
/* block_stats_set_histogram() on the export's counters.  The thread
 * that removes the export (the server's). */
int nbd_export_set_latency_histogram(NbdExport *exp, BlockStatsOp op,
                                     const uint64_t *boundaries, size_t n);

#endif /* IOTHREADD_NBD_SERVER_H */
