/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Socket requests when the context has no io_uring: on the home thread,
 * never on the thread pool, because a receive may wait for its peer for
 * ever (an idle client) and would hold a pool thread all that time, and
 * aio_context_free() could not get it back.
 *
 * A request is tried at once with MSG_DONTWAIT (whatever the fd's
 * O_NONBLOCK); if the socket is not ready it waits, behind any request
 * already waiting on the same fd in the same direction, for an fd handler
 * the engine registers on the context (readable for receives, writable
 * for sends).  The handler retries the first waiter until it would block
 * again.  Completions go through the engine's BH like io_uring's, so a
 * callback never runs inside aio_io_submit().
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "io-engine-internal.h"

/* The requests waiting on one fd; home thread only. */
struct AioIoSockWait {
    AioIoState *st;
    int fd;
    AioIoList recv;
    AioIoList send;
    AioIoSockWait *next;
};

/*
 * One attempt on the home thread: the result, or -EAGAIN if @req must
 * wait for its socket (a send may have made progress first).
 */
static ssize_t sock_try(AioIoRequest *req)
{
    if (req->op == AIO_IO_RECVMSG) {
        ssize_t n;

        do {
            n = recvmsg(req->fd, req->msg, MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : n;
    }
    while (req->done_ < req->total_) {
        ssize_t n = sendmsg(req->fd, aio_io_send_hdr(req),
                            MSG_DONTWAIT | MSG_NOSIGNAL);
        int ret;

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
        if (n == 0) {
            return -EIO; /* no progress: it would spin */
        }
        req->done_ += (size_t)n;
        if (req->done_ < req->total_ &&
            (ret = aio_io_advance(req, (size_t)n)) < 0) {
            return ret;
        }
    }
    return (ssize_t)req->done_;
}

static void sock_ready(void *opaque);

/* Watch the fd for what its waiters need, or stop and free @w. */
static void sock_watch(AioIoSockWait *w)
{
    AioIoState *st = w->st;
    AioIoSockWait **p;

    if (w->recv.head || w->send.head) {
        /* Cannot fail for an fd that is registered already; for a new
         * one the error goes to the request that needed it. */
        aio_set_fd_handler(st->ctx, w->fd, w->recv.head ? sock_ready : NULL,
                           w->send.head ? sock_ready : NULL, NULL, NULL, w);
        return;
    }
    aio_set_fd_handler(st->ctx, w->fd, NULL, NULL, NULL, NULL, NULL);
    for (p = &st->sock_waits; *p != w; p = &(*p)->next) {
    }
    *p = w->next;
    free(w);
}

/* Retry the first waiters of @l until one would block again. */
static void sock_drain(AioIoState *st, AioIoList *l)
{
    AioIoRequest *req;

    while ((req = l->head)) {
        ssize_t ret = sock_try(req);

        if (ret == -EAGAIN) {
            return;
        }
        aio_io_list_pop(l);
        aio_io_complete_later(st, req, ret);
    }
}

/* The fd is readable or writable (or in error, which both retries see). */
static void sock_ready(void *opaque)
{
    AioIoSockWait *w = opaque;

    sock_drain(w->st, &w->recv);
    sock_drain(w->st, &w->send);
    sock_watch(w);
}

static AioIoSockWait *sock_wait_find(AioIoState *st, int fd)
{
    AioIoSockWait *w;

    for (w = st->sock_waits; w && w->fd != fd; w = w->next) {
    }
    return w;
}

void aio_io_sock_submit(AioIoState *st, AioIoRequest *req)
{
    AioIoSockWait *w = sock_wait_find(st, req->fd);
    AioIoList *l;
    ssize_t ret;
    int err;

    if (w) {
        l = req->op == AIO_IO_RECVMSG ? &w->recv : &w->send;
        if (l->head) {
            aio_io_list_push(l, req); /* keep the order */
            sock_watch(w);
            return;
        }
    }
    ret = sock_try(req);
    if (ret != -EAGAIN) {
        aio_io_complete_later(st, req, ret);
        return;
    }
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (!w) {
            aio_io_complete_later(st, req, -ENOMEM);
            return;
        }
        w->st = st;
        w->fd = req->fd;
        aio_io_list_init(&w->recv);
        aio_io_list_init(&w->send);
        w->next = st->sock_waits;
        st->sock_waits = w;
    }
    l = req->op == AIO_IO_RECVMSG ? &w->recv : &w->send;
    aio_io_list_push(l, req);
    err = aio_set_fd_handler(st->ctx, w->fd, w->recv.head ? sock_ready : NULL,
                             w->send.head ? sock_ready : NULL, NULL, NULL, w);
    if (err < 0) {
        /* E.g. epoll refusing the fd: the request fails, not the loop. */
        aio_io_list_pop(l);
        sock_watch(w);
        aio_io_complete_later(st, req, err);
    }
}

void aio_io_sock_fini(AioIoState *st)
{
    AioIoSockWait *w;
    AioIoRequest *req;

    while ((w = st->sock_waits)) {
        while ((req = aio_io_list_pop(&w->recv)) ||
               (req = aio_io_list_pop(&w->send))) {
            aio_io_release(req);
        }
        sock_watch(w); /* removes the handler, unlinks and frees @w */
    }
}
