/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fd handlers and event notifiers: registration, change and removal.
 *
 * Everything here runs on the home thread, so the lists need no lock.
 * What they need is care for walkers: a callback may remove any handler,
 * itself included, while aio_poll() (perhaps several nested ones) holds
 * pointers to it on ready lists.  So while anybody walks (ctx->walkers >
 * 0) a removed node is only marked deleted and parked on
 * ctx->deleted_handlers; the outermost aio_poll() frees it when done.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "aio-internal.h"

static AioHandler *find_node(AioContext *ctx, int fd)
{
    AioHandler *node;

    LIST_FOREACH(node, &ctx->handlers, node) {
        if (node->fd == fd && !node->deleted) {
            return node;
        }
    }
    return NULL;
}

void aio_add_ready_handler(AioHandlerList *ready, AioHandler *node,
                           unsigned revents)
{
    LIST_SAFE_REMOVE(node, node_ready);
    node->revents = revents;
    LIST_INSERT_HEAD(ready, node, node_ready);
}

static bool is_polled(AioHandler *node)
{
    return LIST_IS_INSERTED(node, node_poll);
}

/* Keep poll_handlers / nonpoll_handlers in step with node->io_poll. */
void aio_handler_update_poll(AioContext *ctx, AioHandler *node)
{
    bool want = node->io_poll && !node->poll_idle && !node->deleted;

    if (want == is_polled(node)) {
        return;
    }
    if (want) {
        LIST_INSERT_HEAD(&ctx->poll_handlers, node, node_poll);
        node->poll.ns = 0;
        node->poll_idle_deadline = 0;
        if (ctx->poll_started && node->io_poll_begin) {
            node->io_poll_begin(node->opaque);
        }
        node->polling = ctx->poll_started;
        ctx->nonpoll_handlers--;
    } else {
        LIST_REMOVE(node, node_poll);
        if (node->polling && node->io_poll_end && !node->deleted) {
            node->io_poll_end(node->opaque);
        }
        node->polling = false;
        ctx->nonpoll_handlers++;
    }
}

static void free_node(AioHandler *node)
{
    LIST_SAFE_REMOVE(node, node);
    LIST_SAFE_REMOVE(node, node_poll);
    LIST_SAFE_REMOVE(node, node_ready);
    LIST_SAFE_REMOVE(node, node_deleted);
    free(node);
}

static void remove_node(AioContext *ctx, AioHandler *node)
{
    unsigned old_events = node->events;

    node->events = 0;
    node->deleted = true;
    /* A failing removal means the kernel already forgot the fd (closed
     * by its owner); either way the back-end no longer reports it. */
    ctx->fdmon->update(ctx, node, old_events);
    aio_handler_update_poll(ctx, node);
    ctx->nonpoll_handlers--;
    ctx->nr_handlers--;
    if (ctx->walkers > 0) {
        LIST_INSERT_HEAD(&ctx->deleted_handlers, node, node_deleted);
    } else {
        free_node(node);
    }
}

void aio_free_deleted_handlers(AioContext *ctx)
{
    AioHandler *node;

    while ((node = LIST_FIRST(&ctx->deleted_handlers))) {
        free_node(node);
    }
}

static int add_node(AioContext *ctx, int fd, unsigned events,
                    AioHandler **nodep)
{
    AioHandler *node = calloc(1, sizeof(*node));
    int ret;

    if (!node) {
        return -ENOMEM;
    }
    node->fd = fd;
    node->events = events;
    node->pfd_index = -1;
    LIST_INSERT_HEAD(&ctx->handlers, node, node);
    ctx->nr_handlers++;
    ctx->nonpoll_handlers++;
    ret = ctx->fdmon->update(ctx, node, 0);
    if (ret < 0) {
        ctx->nr_handlers--;
        ctx->nonpoll_handlers--;
        free_node(node);
        return ret;
    }
    *nodep = node;
    return 0;
}

/* Use the node itself as the callbacks' opaque (event notifiers). */
#define OPAQUE_IS_NODE ((void *)&opaque_is_node_tag)
static const char opaque_is_node_tag;

static int set_handler(AioContext *ctx, int fd, AioIOHandler *io_read,
                       AioIOHandler *io_write, AioPollFn *io_poll,
                       AioIOHandler *io_poll_ready, void *opaque,
                       AioHandler **nodep)
{
    unsigned events = (io_read ? POLLIN : 0) | (io_write ? POLLOUT : 0);
    AioHandler *node;
    int ret;

    ARG_CHECK(ctx, -EINVAL);
    aio_assert_home(ctx);
    ARG_CHECK(fd >= 0 && (!io_poll || io_poll_ready), -EINVAL);
    node = find_node(ctx, fd);
    if (!io_read && !io_write && !io_poll) {
        if (!node) {
            return -ENOENT;
        }
        remove_node(ctx, node);
        return 0;
    }
    if (!node) {
        ret = add_node(ctx, fd, events, &node);
        if (ret < 0) {
            return ret;
        }
    } else if (node->events != events) {
        unsigned old_events = node->events;

        node->events = events;
        ret = ctx->fdmon->update(ctx, node, old_events);
        if (ret < 0) {
            node->events = old_events;
            return ret;
        }
    }
    node->io_read = io_read;
    node->io_write = io_write;
    node->io_poll = io_poll;
    node->io_poll_ready = io_poll_ready;
    node->opaque = opaque == OPAQUE_IS_NODE ? node : opaque;
    if (!io_poll) {
        node->poll_idle = false;
    }
    if (nodep) {
        *nodep = node;
    }
    aio_handler_update_poll(ctx, node);
    return 0;
}

int aio_set_fd_handler(AioContext *ctx, int fd, AioIOHandler *io_read,
                       AioIOHandler *io_write, AioPollFn *io_poll,
                       AioIOHandler *io_poll_ready, void *opaque)
{
    return set_handler(ctx, fd, io_read, io_write, io_poll, io_poll_ready,
                       opaque, NULL);
}

int aio_set_fd_poll(AioContext *ctx, int fd, AioPollNotify *io_poll_begin,
                    AioPollNotify *io_poll_end)
{
    AioHandler *node;

    ARG_CHECK(ctx, -EINVAL);
    aio_assert_home(ctx);
    ARG_CHECK(fd >= 0, -EINVAL);
    node = find_node(ctx, fd);
    if (!node) {
        return -ENOENT;
    }
    node->io_poll_begin = io_poll_begin;
    node->io_poll_end = io_poll_end;
    return 0;
}

/*
 * Event notifiers reuse fd handlers.  Their callbacks take the
 * EventNotifier, not a void *, so the node itself is the opaque and these
 * trampolines forward (calling through a cast function pointer would be
 * undefined behaviour).
 */
static void en_read(void *opaque)
{
    AioHandler *node = opaque;

    node->en_read(node->en);
}

static bool en_poll(void *opaque)
{
    AioHandler *node = opaque;

    return node->en_poll(node->en);
}

static void en_poll_ready(void *opaque)
{
    AioHandler *node = opaque;

    node->en_poll_ready(node->en);
}

static void en_poll_begin(void *opaque)
{
    AioHandler *node = opaque;

    node->en_poll_begin(node->en);
}

static void en_poll_end(void *opaque)
{
    AioHandler *node = opaque;

    node->en_poll_end(node->en);
}

int aio_set_event_notifier(AioContext *ctx, EventNotifier *e,
                           EventNotifierHandler *io_read, AioPollFn *io_poll,
                           EventNotifierHandler *io_poll_ready)
{
    AioHandler *node;
    int ret;

    ARG_CHECK(ctx && e, -EINVAL);
    aio_assert_home(ctx);
    if (!io_read && !io_poll) {
        return aio_set_fd_handler(ctx, event_notifier_get_fd(e), NULL, NULL,
                                  NULL, NULL, NULL);
    }
    if (io_poll && !io_poll_ready) {
        return -EINVAL;
    }
    ret = set_handler(ctx, event_notifier_get_fd(e),
                      io_read ? en_read : NULL, NULL, io_poll ? en_poll : NULL,
                      io_poll ? en_poll_ready : NULL, OPAQUE_IS_NODE, &node);
    if (ret < 0) {
        return ret;
    }
    node->en = e;
    node->en_read = io_read;
    node->en_poll = io_poll;
    node->en_poll_ready = io_poll_ready;
    return 0;
}

int aio_set_event_notifier_poll(AioContext *ctx, EventNotifier *e,
                                EventNotifierHandler *io_poll_begin,
                                EventNotifierHandler *io_poll_end)
{
    AioHandler *node;

    ARG_CHECK(ctx && e, -EINVAL);
    aio_assert_home(ctx);
    ARG_CHECK(event_notifier_get_fd(e) >= 0, -EINVAL);
    node = find_node(ctx, event_notifier_get_fd(e));
    if (!node) {
        return -ENOENT;
    }
    node->en_poll_begin = io_poll_begin;
    node->en_poll_end = io_poll_end;
    node->io_poll_begin = io_poll_begin ? en_poll_begin : NULL;
    node->io_poll_end = io_poll_end ? en_poll_end : NULL;
    return 0;
}
