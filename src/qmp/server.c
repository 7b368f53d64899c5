/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP transport and envelope.  A client's life:
 *
 *   accept -> greeting -> bytes -> JsonStream -> queue of messages
 *          -> one request at a time: envelope check, negotiation, dispatch
 *          -> reply (perhaps later, from a BH) -> next request.
 *
 * Nothing here may block the main loop or let one client hold memory
 * without bound: reading stops while a client has queued requests or
 * unsent output beyond its limit (it is "paused"), and a client that does
 * not read its events is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "qmp/json-stream.h"
#include "qmp/server.h"

#define READ_CHUNK 65536
/* Stop reading while this many parsed requests wait. */
#define MAX_QUEUED_REQUESTS 16

typedef struct Listener {
    QmpServer *server;
    int fd;
    bool (*allowed)(const char *command);
    struct Listener *next;
} Listener;

/* A parsed message (or a parse error) waiting for its turn. */
typedef struct QueuedMsg {
    json_t *msg;
    char *error;
    struct QueuedMsg *next;
} QueuedMsg;

typedef struct Client {
    QmpServer *server;
    Listener *listener;
    int fd;
    struct ucred cred;
    JsonStream *stream;
    QueuedMsg *queue_head, **queue_tailp;
    unsigned queued;
    char *out;
    size_t out_len, out_off, out_cap;
    QmpRequest *pending; /* the request being answered */
    unsigned refs;       /* the server's list + a pending request */
    bool negotiated;
    bool eof;            /* the peer closed its side: finish, then close */
    bool closed;
    bool processing;     /* client_process() is on the stack */
    bool watching_read, watching_write;
    struct Client *next;
} Client;

struct QmpRequest {
    Client *client;
    json_t *id;
};

struct QmpServer {
    AioContext *ctx;
    QmpServerLimits limits;
    json_t *version;
    QmpDispatchFn *dispatch;
    void *opaque;
    Listener *listeners;
    Client *clients;
    int nr_clients;
    Listener adopted;    /* the pseudo-listener of qmp_server_adopt() */
    uid_t *allowed_uids; /* NULL: everyone the socket's mode lets in */
    size_t nr_allowed_uids;
    QmpLogFn *log;       /* NULL: messages are dropped */
    void *log_opaque;
};

static void client_process(Client *c);
static void client_close(Client *c);
static void client_update_handlers(Client *c);

/* Hand a message to the application's log, if it gave us one. */
static void __attribute__((format(printf, 3, 4)))
server_log(QmpServer *s, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!s->log) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    s->log(s->log_opaque, level, msg);
}

void qmp_server_set_log(QmpServer *s, QmpLogFn *fn, void *opaque)
{
    s->log = fn;
    s->log_opaque = opaque;
}

void qmp_server_limits_default(QmpServerLimits *l)
{
    *l = (QmpServerLimits){
        .max_message_size = 1 << 20,
        .max_depth = 1024,
        .max_clients = 64,
        .max_output_buffer = 4 << 20,
    };
}

/* jansson's non-compact form separates like QEMU does (", ", ": ");
 * JSON_INDENT(0) keeps it on one line. */
#define QMP_DUMP_FLAGS                                                         \
    (JSON_INDENT(0) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER |                \
     JSON_ENCODE_ANY | JSON_REAL_PRECISION(12))

char *qmp_format_message(json_t *msg, size_t *len)
{
    char *s = json_dumps(msg, QMP_DUMP_FLAGS);
    size_t n;
    char *line;

    if (!s) {
        return NULL;
    }
    n = strlen(s);
    line = realloc(s, n + 3);
    if (!line) {
        free(s);
        return NULL;
    }
    memcpy(line + n, "\r\n", 3);
    *len = n + 2;
    return line;
}

static void client_unref(Client *c)
{
    if (--c->refs == 0) {
        free(c);
    }
}

/* ---- output ---- */

static bool out_append(Client *c, const char *data, size_t len)
{
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
    }
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        char *p;

        /* Move unsent data to the front before growing. */
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        while (cap < c->out_len + len) {
            cap *= 2;
        }
        if (cap > c->out_cap) {
            p = realloc(c->out, cap);
            if (!p) {
                return false;
            }
            c->out = p;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return true;
}

static size_t out_pending(Client *c)
{
    return c->out_len - c->out_off;
}

/* Send what we can without blocking.  False if the client is gone. */
static bool client_flush(Client *c)
{
    while (out_pending(c)) {
        ssize_t n = send(c->fd, c->out + c->out_off, out_pending(c),
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            server_log(c->server, LOG_DEBUG, "QMP client %d: send: %s",
                       c->fd, strerror(errno));
            return false;
        }
        c->out_off += (size_t)n;
    }
    if (!out_pending(c) && c->out_cap > 65536) {
        /* Give back what a burst made us allocate. */
        free(c->out);
        c->out = NULL;
        c->out_cap = c->out_len = c->out_off = 0;
    }
    return true;
}

/* After appending a whole message: send what we can now. */
static void client_sent(Client *c)
{
    if (!client_flush(c)) {
        client_close(c);
        return;
    }
    client_update_handlers(c);
}

/* Queue @msg for the client.  @is_event: may not grow the buffer past the
 * limit (replies may, but reading pauses until the buffer drains). */
static void client_send(Client *c, json_t *msg, bool is_event)
{
    size_t len;
    char *line;

    if (c->closed) {
        return;
    }
    line = qmp_format_message(msg, &len);
    if (!line) {
        server_log(c->server, LOG_ERR,
                   "QMP client %d: out of memory formatting a message", c->fd);
        client_close(c);
        return;
    }
    if (is_event &&
        out_pending(c) + len > c->server->limits.max_output_buffer) {
        server_log(c->server, LOG_WARNING, "QMP client %d (pid %d) does not "
                   "read its events; disconnecting it", c->fd,
                   (int)c->cred.pid);
        free(line);
        client_close(c);
        return;
    }
    if (!out_append(c, line, len)) {
        free(line);
        client_close(c);
        return;
    }
    free(line);
    client_sent(c);
}

/* ---- input ---- */

static void queue_push(Client *c, json_t *msg, const char *error)
{
    QueuedMsg *q = calloc(1, sizeof(*q));

    if (!q || (error && !(q->error = strdup(error)))) {
        free(q);
        json_decref(msg);
        server_log(c->server, LOG_ERR, "QMP client %d: out of memory",
                   c->fd);
        return;
    }
    q->msg = msg;
    *c->queue_tailp = q;
    c->queue_tailp = &q->next;
    c->queued++;
}

static void stream_emit(void *opaque, json_t *msg, const char *error)
{
    queue_push(opaque, msg, error);
}

static void queue_clear(Client *c)
{
    QueuedMsg *q;

    while ((q = c->queue_head)) {
        c->queue_head = q->next;
        json_decref(q->msg);
        free(q->error);
        free(q);
    }
    c->queue_tailp = &c->queue_head;
    c->queued = 0;
}

static bool client_paused(Client *c)
{
    return c->queued >= MAX_QUEUED_REQUESTS ||
           out_pending(c) >= c->server->limits.max_output_buffer;
}

static void client_readable(void *opaque);
static void client_writable(void *opaque);

static void client_update_handlers(Client *c)
{
    bool want_read = !c->closed && !c->eof && !client_paused(c);
    bool want_write = !c->closed && out_pending(c) > 0;

    if (want_read == c->watching_read && want_write == c->watching_write) {
        return;
    }
    if (aio_set_fd_handler(c->server->ctx, c->fd,
                           want_read ? client_readable : NULL,
                           want_write ? client_writable : NULL, NULL, NULL,
                           c) < 0 &&
        (want_read || want_write)) {
        server_log(c->server, LOG_ERR,
                   "QMP client %d: cannot watch its socket", c->fd);
        want_read = want_write = false;
    }
    c->watching_read = want_read;
    c->watching_write = want_write;
}

static void client_readable(void *opaque)
{
    Client *c = opaque;
    char buf[READ_CHUNK];
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return;
        }
        server_log(c->server, LOG_DEBUG, "QMP client %d: recv: %s", c->fd,
                   strerror(errno));
        client_close(c);
        return;
    }
    if (n == 0) {
        /* Answer what it sent before hanging up its side. */
        c->eof = true;
    } else {
        json_stream_feed(c->stream, buf, (size_t)n);
    }
    client_process(c);
}

static void client_writable(void *opaque)
{
    Client *c = opaque;

    if (!client_flush(c)) {
        client_close(c);
        return;
    }
    client_process(c);
}

/* ---- requests ---- */

static json_t *error_reply(const char *cls, const char *desc, json_t *id)
{
    json_t *r = json_pack("{s:{s:s, s:s}}", "error", "class", cls, "desc",
                          desc);

    if (r && id) {
        json_object_set(r, "id", id);
    }
    return r;
}

static void reply_error(Client *c, json_t *id, const char *cls,
                        const char *desc)
{
    json_t *r = error_reply(cls, desc, id);

    if (r) {
        client_send(c, r, false);
        json_decref(r);
    }
}

/* Send @reply (stolen) with the request's id, and let the client's next
 * request go. */
static void request_finish(QmpRequest *req, json_t *reply)
{
    Client *c = req->client;

    if (reply) {
        if (req->id) {
            json_object_set(reply, "id", req->id);
        }
        client_send(c, reply, false);
        json_decref(reply);
    }
    json_decref(req->id);
    free(req);
    c->pending = NULL;
    if (!c->processing) {
        client_process(c);
    }
    client_unref(c);
}

void qmp_request_return(QmpRequest *req, json_t *ret)
{
    json_t *r = json_object();

    if (r) {
        json_object_set_new(r, "return", ret ? ret : json_object());
    } else {
        json_decref(ret);
    }
    request_finish(req, r);
}

/*
 * {"return": @text} plus the request's id, written straight into the
 * output buffer: the same bytes qmp_format_message() would produce for
 * the reply object, without building it.  False when out of memory.
 */
static bool append_raw_return(Client *c, json_t *id, const char *text,
                              size_t len)
{
    static const char head[] = "{\"return\": ", id_key[] = ", \"id\": ",
                      tail[] = "}\r\n";
    char *id_text = NULL;
    bool ok;

    if (id && !(id_text = json_dumps(id, QMP_DUMP_FLAGS))) {
        return false;
    }
    ok = out_append(c, head, sizeof(head) - 1) && out_append(c, text, len) &&
         (!id_text || (out_append(c, id_key, sizeof(id_key) - 1) &&
                       out_append(c, id_text, strlen(id_text)))) &&
         out_append(c, tail, sizeof(tail) - 1);
    free(id_text);
    return ok;
}

void qmp_request_return_raw(QmpRequest *req, const char *text, size_t len)
{
    Client *c = req->client;

    if (!c->closed) {
        if (append_raw_return(c, req->id, text, len)) {
            client_sent(c);
        } else {
            server_log(c->server, LOG_ERR,
                       "QMP client %d: out of memory queueing a reply", c->fd);
            client_close(c);
        }
    }
    request_finish(req, NULL);
}

void qmp_request_error(QmpRequest *req, const char *cls, const char *fmt, ...)
{
    char desc[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(desc, sizeof(desc), fmt, ap);
    va_end(ap);
    request_finish(req, error_reply(cls, desc, NULL));
}

pid_t qmp_request_peer_pid(QmpRequest *req)
{
    return req->client->cred.pid;
}

/*
 * The envelope, checked member by member like QEMU's dispatcher.
 * Returns the command name, or NULL after replying with the error.
 */
static const char *check_envelope(Client *c, json_t *msg, json_t **argsp)
{
    const char *key;
    json_t *val, *exec = NULL;
    char desc[256];

    if (!json_is_object(msg)) {
        reply_error(c, NULL, "GenericError",
                    "QMP input must be a JSON object");
        return NULL;
    }
    json_t *id = json_object_get(msg, "id");

    *argsp = NULL;
    json_object_foreach(msg, key, val) {
        if (strcmp(key, "execute") == 0) {
            if (!json_is_string(val)) {
                reply_error(c, id, "GenericError",
                            "QMP input member 'execute' must be a string");
                return NULL;
            }
            exec = val;
        } else if (strcmp(key, "arguments") == 0) {
            if (!json_is_object(val)) {
                reply_error(c, id, "GenericError",
                            "QMP input member 'arguments' must be an object");
                return NULL;
            }
            *argsp = val;
        } else if (strcmp(key, "id") != 0) {
            snprintf(desc, sizeof(desc),
                     "QMP input member '%.200s' is unexpected", key);
            reply_error(c, id, "GenericError", desc);
            return NULL;
        }
    }
    if (!exec) {
        reply_error(c, id, "GenericError", "QMP input lacks member 'execute'");
        return NULL;
    }
    return json_string_value(exec);
}

static void negotiate(Client *c, json_t *id, json_t *args)
{
    const char *key;
    json_t *val;
    char desc[256];

    json_object_foreach(args, key, val) {
        if (strcmp(key, "enable") != 0) {
            snprintf(desc, sizeof(desc), "Parameter '%.200s' is unexpected",
                     key);
            reply_error(c, id, "GenericError", desc);
            return;
        }
        if (!json_is_array(val)) {
            reply_error(c, id, "GenericError",
                        "Invalid parameter type for 'enable', expected: "
                        "array");
            return;
        }
        size_t i;
        json_t *cap;

        json_array_foreach(val, i, cap) {
            /* QEMU's only capability is out-of-band execution, which
             * iothreadd does not offer (it advertises none). */
            snprintf(desc, sizeof(desc), "Capability '%.200s' not available",
                     json_is_string(cap) ? json_string_value(cap) : "?");
            reply_error(c, id, "GenericError", desc);
            return;
        }
    }
    c->negotiated = true;
    json_t *r = json_pack("{s:{}}", "return");

    if (id) {
        json_object_set(r, "id", id);
    }
    client_send(c, r, false);
    json_decref(r);
}

static void handle_message(Client *c, json_t *msg)
{
    json_t *args, *id;
    const char *cmd = check_envelope(c, msg, &args);
    char desc[512];

    if (!cmd) {
        return;
    }
    id = json_object_get(msg, "id");
    if (!c->negotiated) {
        if (strcmp(cmd, "qmp_capabilities") == 0) {
            json_t *empty = args ? NULL : json_object();

            negotiate(c, id, args ? args : empty);
            json_decref(empty);
        } else {
            reply_error(c, id, "CommandNotFound",
                        "Expecting capabilities negotiation with "
                        "'qmp_capabilities'");
        }
        return;
    }
    if (strcmp(cmd, "qmp_capabilities") == 0) {
        reply_error(c, id, "CommandNotFound",
                    "Capabilities negotiation is already complete, command "
                    "ignored");
        return;
    }
    if (c->listener->allowed && !c->listener->allowed(cmd)) {
        snprintf(desc, sizeof(desc),
                 "The command %.200s is not allowed on this read-only socket",
                 cmd);
        reply_error(c, id, "GenericError", desc);
        return;
    }

    QmpRequest *req = calloc(1, sizeof(*req));
    json_t *empty = NULL;

    if (!req) {
        reply_error(c, id, "GenericError", "Out of memory");
        return;
    }
    req->client = c;
    req->id = json_incref(id);
    c->pending = req;
    c->refs++;
    if (!args) {
        args = empty = json_object();
    }
    server_log(c->server, LOG_DEBUG, "QMP: %s", cmd);
    c->server->dispatch(c->server->opaque, req, cmd, args);
    json_decref(empty);
}

/* Run queued requests, one at a time, while nothing holds us back. */
static void client_process(Client *c)
{
    QueuedMsg *q;

    if (c->processing) {
        return;
    }
    c->processing = true;
    c->refs++; /* a command may close the client under us */
    while (!c->closed && !c->pending && (q = c->queue_head) &&
           out_pending(c) < c->server->limits.max_output_buffer) {
        c->queue_head = q->next;
        if (!c->queue_head) {
            c->queue_tailp = &c->queue_head;
        }
        c->queued--;
        if (q->error) {
            reply_error(c, NULL, "GenericError", q->error);
        } else {
            handle_message(c, q->msg);
        }
        json_decref(q->msg);
        free(q->error);
        free(q);
    }
    c->processing = false;
    if (!c->closed && c->eof && !c->queue_head && !c->pending &&
        !out_pending(c)) {
        client_close(c);
    }
    if (!c->closed) {
        client_update_handlers(c);
    }
    client_unref(c);
}

static void client_close(Client *c)
{
    QmpServer *s = c->server;
    Client **pp;

    if (c->closed) {
        return;
    }
    c->closed = true;
    if (c->watching_read || c->watching_write) {
        aio_set_fd_handler(s->ctx, c->fd, NULL, NULL, NULL, NULL, NULL);
    }
    close(c->fd);
    server_log(s, LOG_DEBUG, "QMP client %d disconnected", c->fd);
    json_stream_free(c->stream);
    c->stream = NULL;
    queue_clear(c);
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = c->out_cap = 0;
    for (pp = &s->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    s->nr_clients--;
    client_unref(c); /* the list's reference */
}

/* ---- listeners ---- */

static void send_greeting(Client *c)
{
    json_t *g = json_pack("{s:{s:O, s:[]}}", "QMP", "version",
                          c->server->version, "capabilities");

    if (g) {
        client_send(c, g, false);
        json_decref(g);
    }
}

/* The peer's uid against the allow list: the kernel's word (SO_PEERCRED),
 * not anything the client says.  Our own uid is always welcome. */
static bool peer_allowed(QmpServer *s, const struct ucred *cred)
{
    if (!s->allowed_uids || cred->uid == geteuid()) {
        return true;
    }
    for (size_t i = 0; i < s->nr_allowed_uids; i++) {
        if (s->allowed_uids[i] == cred->uid) {
            return true;
        }
    }
    return false;
}

static void accept_one(Listener *l, int fd)
{
    QmpServer *s = l->server;
    JsonStreamLimits jl;
    socklen_t len = sizeof(struct ucred);
    struct ucred cred = {.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
    Client *c;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        !peer_allowed(s, &cred)) {
        server_log(s, LOG_WARNING, "QMP: refusing a client of uid %d "
                   "(pid %d): not in allow-uid", (int)cred.uid,
                   (int)cred.pid);
        close(fd);
        return;
    }
    if (s->nr_clients >= s->limits.max_clients) {
        server_log(s, LOG_WARNING, "QMP: refusing a client: the limit of "
                   "%d clients is reached", s->limits.max_clients);
        close(fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    c->server = s;
    c->listener = l;
    c->fd = fd;
    c->refs = 1;
    c->queue_tailp = &c->queue_head;
    c->cred = cred;
    json_stream_limits_default(&jl);
    jl.max_message_size = s->limits.max_message_size;
    jl.max_depth = s->limits.max_depth;
    c->stream = json_stream_new(&jl, stream_emit, c);
    if (!c->stream) {
        close(fd);
        free(c);
        return;
    }
    c->next = s->clients;
    s->clients = c;
    s->nr_clients++;
    server_log(s, LOG_DEBUG, "QMP client %d connected (pid %d, uid %d)",
               fd, (int)c->cred.pid, (int)c->cred.uid);
    c->refs++; /* the greeting may find the peer gone and close it */
    send_greeting(c);
    if (!c->closed) {
        client_update_handlers(c);
    }
    client_unref(c);
}

static void listener_readable(void *opaque)
{
    Listener *l = opaque;

    /* Bounded, so that a connection storm cannot starve the loop. */
    for (int i = 0; i < 16; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED) {
                server_log(l->server, LOG_WARNING, "QMP: accept: %s",
                           strerror(errno));
            }
            return;
        }
        accept_one(l, fd);
    }
}

QmpServer *qmp_server_new(AioContext *ctx, const QmpServerLimits *limits,
                          json_t *version, QmpDispatchFn *dispatch,
                          void *opaque)
{
    QmpServer *s = calloc(1, sizeof(*s));

    if (!s) {
        return NULL;
    }
    s->ctx = ctx;
    s->limits = *limits;
    s->version = json_incref(version);
    s->dispatch = dispatch;
    s->opaque = opaque;
    s->adopted = (Listener){.server = s, .fd = -1};
    return s;
}

int qmp_server_adopt(QmpServer *s, int fd)
{
    int nr = s->nr_clients;
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        close(fd);
        return -errno;
    }
    accept_one(&s->adopted, fd);
    return s->nr_clients > nr ? 0 : -ECONNREFUSED;
}

int qmp_server_add_listener(QmpServer *s, int fd,
                            bool (*allowed)(const char *command))
{
    Listener *l = calloc(1, sizeof(*l));
    int ret, flags;

    if (!l) {
        return -ENOMEM;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        free(l);
        return -errno;
    }
    l->server = s;
    l->fd = fd;
    l->allowed = allowed;
    ret = aio_set_fd_handler(s->ctx, fd, listener_readable, NULL, NULL, NULL,
                             l);
    if (ret < 0) {
        free(l);
        return ret;
    }
    l->next = s->listeners;
    s->listeners = l;
    return 0;
}

void qmp_server_broadcast_event(QmpServer *s, const char *name, json_t *data)
{
    struct timespec ts;
    json_t *ev;
    Client *c, *next;

    clock_gettime(CLOCK_REALTIME, &ts);
    ev = json_pack("{s:{s:I, s:I}, s:s}", "timestamp", "seconds",
                   (json_int_t)ts.tv_sec, "microseconds",
                   (json_int_t)(ts.tv_nsec / 1000), "event", name);
    if (!ev) {
        json_decref(data);
        return;
    }
    if (data) {
        json_object_set_new(ev, "data", data);
    }
    for (c = s->clients; c; c = next) {
        next = c->next;
        if (c->negotiated) {
            client_send(c, ev, true);
        }
    }
    json_decref(ev);
}

int qmp_server_set_allowed_uids(QmpServer *s, const uid_t *uids, size_t n)
{
    uid_t *copy = NULL;

    if (n) {
        copy = malloc(n * sizeof(*copy));
        if (!copy) {
            return -ENOMEM;
        }
        memcpy(copy, uids, n * sizeof(*copy));
    }
    free(s->allowed_uids);
    s->allowed_uids = copy;
    s->nr_allowed_uids = n;
    return 0;
}

int qmp_server_client_count(QmpServer *s)
{
    return s->nr_clients;
}

void qmp_server_free(QmpServer *s)
{
    Listener *l;

    if (!s) {
        return;
    }
    while (s->clients) {
        client_flush(s->clients);
        client_close(s->clients);
    }
    while ((l = s->listeners)) {
        s->listeners = l->next;
        aio_set_fd_handler(s->ctx, l->fd, NULL, NULL, NULL, NULL, NULL);
        close(l->fd);
        free(l);
    }
    json_decref(s->version);
    free(s->allowed_uids);
    free(s);
}
