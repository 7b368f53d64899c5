/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP server: listening sockets, clients, framing, the capabilities
 * negotiation and the request envelope ({"execute", "arguments", "id"}),
 * replies and events.  It knows no command but qmp_capabilities: each
 * valid request goes to the dispatch function given at creation, which
 * answers it, now or later, with qmp_request_return() or
 * qmp_request_error().
 *
 * Everything runs on the thread that owns the AioContext given to
 * qmp_server_new() (the daemon's main thread), except where noted.
 */
#ifndef IOTHREADD_QMP_SERVER_H
#define IOTHREADD_QMP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include <iothread/aio.h>

typedef struct QmpServer QmpServer;
typedef struct QmpRequest QmpRequest;

typedef struct QmpServerLimits {
    size_t max_message_size;  /* bytes of one request */
    unsigned max_depth;       /* nesting of one request */
    int max_clients;          /* connections at once */
    size_t max_output_buffer; /* unsent bytes per client before it is
                                 paused (replies) or dropped (events) */
} QmpServerLimits;

void qmp_server_limits_default(QmpServerLimits *l);

/*
 * Called once per valid request after negotiation, on the server's thread.
 * @args is a JSON object (empty when the request had none), borrowed for
 * the call.  The callee must eventually answer @req exactly once.  The
 * client's later requests wait until then, as in QEMU.
 */
typedef void QmpDispatchFn(void *opaque, QmpRequest *req, const char *command,
                           json_t *args);

/*
 * qmp_server_new: a server on @ctx.  @version is the greeting's "version"
 * member (a new reference is taken).  Returns NULL when out of memory.
 */
QmpServer *qmp_server_new(AioContext *ctx, const QmpServerLimits *limits,
                          json_t *version, QmpDispatchFn *dispatch,
                          void *opaque);

/*
 * qmp_server_add_listener: accept clients on @fd, a listening stream
 * socket, which the server makes non-blocking.  Only commands for which
 * @allowed returns true are dispatched on its clients (NULL: every
 * command), which makes a read-only socket.  The server closes @fd when
 * freed.  Returns 0 or -errno.
 */
int qmp_server_add_listener(QmpServer *s, int fd,
                            bool (*allowed)(const char *command));

/*
 * qmp_server_adopt: serve @fd, a connected stream socket, as if it had
 * been accepted (the greeting is sent at once).  For fuzzing and tests.
 * Returns 0, or -ECONNREFUSED when refused (then @fd is closed).
 */
int qmp_server_adopt(QmpServer *s, int fd);

/*
 * qmp_server_broadcast_event: send {"timestamp", "event", "data"} to every
 * negotiated client.  Steals @data (may be NULL).  A client whose output
 * buffer is full is disconnected rather than allowed to grow it.
 */
void qmp_server_broadcast_event(QmpServer *s, const char *name, json_t *data);

/*
 * qmp_server_set_allowed_uids: from now on accept only clients whose uid
 * (SO_PEERCRED) is one of @uids, or the daemon's own; @n 0 lifts the
 * restriction.  Returns 0 or -ENOMEM (nothing changed).
 */
int qmp_server_set_allowed_uids(QmpServer *s, const uid_t *uids, size_t n);

/*
 * The server's diagnostics (clients connecting, refused, dropped; each
 * command's name at debug level) go to the application through this
 * hook: @level is a syslog(3) priority (LOG_ERR ... LOG_DEBUG), @msg one
 * line without a newline, valid for the call.
 */
typedef void QmpLogFn(void *opaque, int level, const char *msg);

/* qmp_server_set_log: send diagnostics to @fn (NULL: drop them, the
 * default). */
void qmp_server_set_log(QmpServer *s, QmpLogFn *fn, void *opaque);

/* Clients connected now (for status lines). */
int qmp_server_client_count(QmpServer *s);

/*
 * qmp_server_flush_and_free: try once, without blocking, to send what is
 * buffered, then close every client and listener.  Requests still pending
 * are answered by nobody (their later answers are dropped).
 */
void qmp_server_free(QmpServer *s);

/* qmp_request_return: answer {"return": @ret} (stolen; NULL means {}). */
void qmp_request_return(QmpRequest *req, json_t *ret);

/*
 * qmp_request_return_raw: answer {"return": VALUE} where @text (@len
 * bytes, no terminating NUL needed) is VALUE already in the wire format
 * of qmp_format_message(): ASCII only, one line, ", " and ": " between
 * members, as jansson's JSON_INDENT(0) dump writes it.  The server copies
 * it into the client's output buffer as is (it does not parse it), so
 * the reply is byte for byte the one qmp_request_return() would send for
 * the same value; the caller answers for that.  For replies too large to
 * build as a JSON tree on every request (query-iothreads).
 */
void qmp_request_return_raw(QmpRequest *req, const char *text, size_t len);

/* qmp_request_error: answer {"error": {"class": @cls, "desc": ...}}. */
void qmp_request_error(QmpRequest *req, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The peer's credentials (SO_PEERCRED), for commands that care. */
pid_t qmp_request_peer_pid(QmpRequest *req);

/* Format of every message on the wire: compact but spaced like QEMU's,
 * ASCII only, CRLF-terminated.  Returns a malloc'd line or NULL. */
char *qmp_format_message(json_t *msg, size_t *len);

#endif /* IOTHREADD_QMP_SERVER_H */
