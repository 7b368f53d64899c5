/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fd monitor on ppoll(2): the portable fallback.  The pollfd array is
 * rebuilt from ctx->handlers whenever a handler changed, so a wait costs
 * O(n) in the kernel and nothing extra here.  Past
 * AIO_POLL_UPGRADE_THRESHOLD fds an AUTO context moves to epoll, where a
 * wait no longer grows with the number of idle fds.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include "aio-internal.h"

typedef struct PollState {
    struct pollfd *pfds;
    AioHandler **nodes; /* nodes[i] watches pfds[i] */
    size_t len;
    size_t cap;
    bool dirty; /* handlers changed since the array was built */
} PollState;

static int fdmon_poll_init(AioContext *ctx)
{
    PollState *s = calloc(1, sizeof(*s));

    if (!s) {
        return -ENOMEM;
    }
    s->dirty = true;
    ctx->fdmon_state = s;
    return 0;
}

static void fdmon_poll_fini(AioContext *ctx)
{
    PollState *s = ctx->fdmon_state;

    if (s) {
        free(s->pfds);
        free(s->nodes);
        free(s);
        ctx->fdmon_state = NULL;
    }
}

static int fdmon_poll_update(AioContext *ctx, AioHandler *node,
                             unsigned old_events)
{
    PollState *s = ctx->fdmon_state;

    s->dirty = true;
    if (ctx->fdmon_may_upgrade && !node->deleted &&
        ctx->nr_handlers > AIO_POLL_UPGRADE_THRESHOLD) {
        /* On success our state is gone: touch nothing after this.  On
         * failure we simply stay on poll(2). */
        aio_fdmon_upgrade_to_epoll(ctx);
    }
    return 0;
}

static int rebuild(AioContext *ctx, PollState *s)
{
    AioHandler *node;
    size_t n = 0;

    LIST_FOREACH(node, &ctx->handlers, node) {
        n += !node->deleted && node->events;
    }
    if (n > s->cap) {
        size_t cap = n * 2;
        struct pollfd *pfds = realloc(s->pfds, cap * sizeof(*pfds));

        if (!pfds) {
            return -ENOMEM;
        }
        s->pfds = pfds;
        AioHandler **nodes = realloc(s->nodes, cap * sizeof(*nodes));
        if (!nodes) {
            return -ENOMEM;
        }
        s->nodes = nodes;
        s->cap = cap;
    }
    n = 0;
    LIST_FOREACH(node, &ctx->handlers, node) {
        if (node->deleted || !node->events) {
            node->pfd_index = -1;
            continue;
        }
        s->pfds[n] = (struct pollfd){.fd = node->fd,
                                     .events = (short)node->events};
        s->nodes[n] = node;
        node->pfd_index = (int)n;
        n++;
    }
    s->len = n;
    s->dirty = false;
    return 0;
}

static int fdmon_poll_wait(AioContext *ctx, AioHandlerList *ready,
                           int64_t timeout_ns)
{
    PollState *s = ctx->fdmon_state;
    struct timespec ts, *tsp = NULL;
    int ret, added = 0;

    if (s->dirty && (ret = rebuild(ctx, s)) < 0) {
        return ret;
    }
    if (timeout_ns >= 0) {
        AIO_NS_TO_TIMESPEC(&ts, timeout_ns);
        tsp = &ts;
    }
    ret = ppoll(s->pfds, s->len, tsp, NULL);
    if (ret <= 0) {
        return ret < 0 && errno != EINTR ? -errno : 0;
    }
    for (size_t i = 0; i < s->len && added < ret; i++) {
        unsigned revents = (unsigned)s->pfds[i].revents;

        if (revents) {
            aio_add_ready_handler(ready, s->nodes[i], revents);
            added++;
        }
    }
    return added;
}

const FdmonOps fdmon_poll_ops = {
    .kind = AIO_FDMON_POLL,
    .init = fdmon_poll_init,
    .fini = fdmon_poll_fini,
    .update = fdmon_poll_update,
    .wait = fdmon_poll_wait,
};
