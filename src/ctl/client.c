/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/client.h"
#include "common/error.h"
#include "qmp/json-stream.h"

struct CtlClient {
    int fd;
    int timeout_ms;
    bool trace;
    JsonStream *stream;
    json_t *inbox;    /* messages parsed, not yet consumed */
    char *parse_error;
    long next_id;
};

static void on_message(void *opaque, json_t *msg, const char *error)
{
    CtlClient *c = opaque;

    if (error) {
        if (!c->parse_error) {
            c->parse_error = strdup(error);
        }
        return;
    }
    if (c->trace) {
        char *s = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);

        fprintf(stderr, "<- %s\n", s ? s : "?");
        free(s);
    }
    json_array_append_new(c->inbox, msg);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read once, waiting until @deadline (-1: forever). */
static ClientStatus fill(CtlClient *c, int64_t deadline, char **errp)
{
    char buf[65536];
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int wait = deadline < 0 ? -1 : (int)(deadline - now_ms());
    ssize_t n;

    if (deadline >= 0 && wait < 0) {
        wait = 0;
    }
    n = poll(&pfd, 1, wait);
    if (n < 0) {
        error_setf(errp, "poll: %s", strerror(errno));
        return errno == EINTR ? CLIENT_TIMEOUT : CLIENT_UNREACHABLE;
    }
    if (n == 0) {
        error_setf(errp, "timed out waiting for the daemon");
        return CLIENT_TIMEOUT;
    }
    n = recv(c->fd, buf, sizeof(buf), 0);
    if (n <= 0) {
        error_setf(errp, "the daemon closed the connection");
        return CLIENT_UNREACHABLE;
    }
    json_stream_feed(c->stream, buf, (size_t)n);
    if (c->parse_error) {
        error_setf(errp, "malformed message from the daemon: %s",
                   c->parse_error);
        return CLIENT_PROTOCOL;
    }
    return CLIENT_OK;
}

/* Take the first inbox message matching @want (NULL: any). */
static json_t *take(CtlClient *c, bool (*want)(json_t *, void *), void *arg)
{
    size_t i;
    json_t *m;

    json_array_foreach(c->inbox, i, m) {
        if (!want || want(m, arg)) {
            json_incref(m);
            json_array_remove(c->inbox, i);
            return m;
        }
    }
    return NULL;
}

static bool is_event(json_t *m, void *arg)
{
    return json_object_get(m, "event") != NULL;
}

static bool is_reply_to(json_t *m, void *arg)
{
    json_t *id = json_object_get(m, "id");

    return id && json_integer_value(id) == *(long *)arg &&
           (json_object_get(m, "return") || json_object_get(m, "error"));
}

static ClientStatus send_msg(CtlClient *c, json_t *msg, char **errp)
{
    char *s = json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII);
    size_t len, off = 0;

    if (!s) {
        error_setf(errp, "out of memory");
        return CLIENT_PROTOCOL;
    }
    if (c->trace) {
        fprintf(stderr, "-> %s\n", s);
    }
    len = strlen(s);
    s[len++] = '\n'; /* replaces the NUL: send no terminator */
    while (off < len) {
        ssize_t n = send(c->fd, s + off, len - off, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error_setf(errp, "send: %s", strerror(errno));
            free(s);
            return CLIENT_UNREACHABLE;
        }
        off += (size_t)n;
    }
    free(s);
    return CLIENT_OK;
}

ClientStatus client_execute(CtlClient *c, const char *cmd, json_t *args,
                            json_t **reply, char **errp)
{
    long id = ++c->next_id;
    json_t *msg = json_pack("{s:s, s:I}", "execute", cmd, "id",
                            (json_int_t)id);
    int64_t deadline = now_ms() + c->timeout_ms;
    ClientStatus st;

    if (args) {
        json_object_set(msg, "arguments", args);
    }
    st = send_msg(c, msg, errp);
    json_decref(msg);
    while (st == CLIENT_OK && !(*reply = take(c, is_reply_to, &id))) {
        st = fill(c, deadline, errp);
    }
    return st;
}

ClientStatus client_next_event(CtlClient *c, int timeout_ms, json_t **event,
                               char **errp)
{
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    ClientStatus st = CLIENT_OK;

    while (!(*event = take(c, is_event, NULL))) {
        st = fill(c, deadline, errp);
        if (st != CLIENT_OK) {
            return st;
        }
    }
    return CLIENT_OK;
}

ClientStatus client_connect(const char *path, int timeout_ms, bool trace,
                            CtlClient **clientp, char **errp)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    CtlClient *c;
    json_t *m, *reply = NULL;
    ClientStatus st;

    *errp = NULL;
    if (strlen(path) >= sizeof(addr.sun_path)) {
        error_setf(errp, "socket path too long: %s", path);
        return CLIENT_UNREACHABLE;
    }
    strcpy(addr.sun_path, path);
    c = calloc(1, sizeof(*c));
    if (!c) {
        return CLIENT_UNREACHABLE;
    }
    c->timeout_ms = timeout_ms;
    c->trace = trace;
    c->inbox = json_array();
    c->stream = json_stream_new(NULL, on_message, c);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || !c->stream ||
        connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        error_setf(errp, "cannot connect to %s: %s", path, strerror(errno));
        client_close(c);
        return CLIENT_UNREACHABLE;
    }
    /* The greeting, then negotiation. */
    int64_t deadline = now_ms() + timeout_ms;

    st = CLIENT_OK;
    while (st == CLIENT_OK && json_array_size(c->inbox) == 0) {
        st = fill(c, deadline, errp);
    }
    if (st == CLIENT_OK) {
        m = take(c, NULL, NULL);
        if (!json_is_object(json_object_get(m, "QMP"))) {
            error_setf(errp, "%s does not speak QMP (no greeting)", path);
            st = CLIENT_PROTOCOL;
        }
        json_decref(m);
    }
    if (st == CLIENT_OK) {
        st = client_execute(c, "qmp_capabilities", NULL, &reply, errp);
    }
    if (st == CLIENT_OK && !json_object_get(reply, "return")) {
        error_setf(errp, "capabilities negotiation refused");
        st = CLIENT_PROTOCOL;
    }
    json_decref(reply);
    if (st != CLIENT_OK) {
        client_close(c);
        return st == CLIENT_TIMEOUT ? CLIENT_UNREACHABLE : st;
    }
    *clientp = c;
    return CLIENT_OK;
}

void client_close(CtlClient *c)
{
    if (!c) {
        return;
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    json_stream_free(c->stream);
    json_decref(c->inbox);
    free(c->parse_error);
    free(c);
}
