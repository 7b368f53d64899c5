/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Each client's reply queue.  A request coroutine does not write its
 * reply: it appends it, whole, to the client's queue, and the first reply
 * of a batch schedules the flusher, a bottom half on the client's context
 * that runs after the other completions of the same loop iteration have
 * queued theirs and sends them all with one sendmsg() (IOV_MAX iovecs at
 * a time).  One reply per system call cost more server CPU than any
 * other step of a 4k read.
 *
 * Order: a request's replies are queued in the order it makes them and
 * the queue goes out in order, so they stay in order; each chunk is one
 * entry, so no chunk's bytes interleave with another's.
 *
 * Memory: a request stays in c->in_flight (and its cost in
 * c->bytes_in_flight) until its last reply has left the queue, so the
 * receive loop's limits bound the queue too: a client that does not read
 * makes the socket full, the flusher waits for POLLOUT, requests complete
 * into the queue, and the receive loop stops at NBD_MAX_IN_FLIGHT.
 *
 * Moves: the move point waits for c->in_flight == 0, i.e. for an empty
 * queue, and the flusher touches the client no more once it has released
 * the last reply (it wakes the receive loop as its very last step); so
 * no flusher is pending or running on the old context when the client
 * moves or is handed back.
 *
 * A broken socket marks the client dead: the flusher drops what is
 * queued, and later replies are dropped as they come.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nbd/nbd-internal.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

struct NbdReply {
    NbdReply *next;
    void *own;             /* freed with the reply (NULL: none) */
    uint64_t charged;      /* final: leaves c->bytes_in_flight */
    bool final;            /* the request's last reply */
    int first, niov;       /* iov[first, niov) is still to send */
    struct iovec iov[2];   /* head, then the caller's data */
    uint8_t head[];        /* header, small payload, message */
};

void nbd_reply_queue_init(NbdClient *c)
{
    c->rq_head = NULL;
    c->rq_tailp = &c->rq_head;
    c->flush_state = NBD_FLUSH_IDLE;
    c->flush_ctx = NULL;
}

void nbd_client_broken(NbdClient *c, int err)
{
    if (!c->dead) {
        c->dead = true;
        nbd_client_set_reason(c, "sending a reply: %s", strerror(-err));
        shutdown(c->fd, SHUT_RDWR);
    }
}

/* A request's last reply is sent or dropped: the request leaves the
 * counts that bound the queue. */
static void request_left(NbdClient *c, uint64_t charged)
{
    c->in_flight--;
    c->bytes_in_flight -= charged;
}

/* Free @r; true if it was its request's last (the receive loop should be
 * woken). */
static bool reply_release(NbdClient *c, NbdReply *r)
{
    bool final = r->final;

    if (final) {
        request_left(c, r->charged);
    }
    free(r->own);
    free(r);
    return final;
}

/* Wake the receive loop (waiting for room, a move or the end).  The
 * caller's very last touch of @c: once woken, the loop may move the
 * client or hand it back to be freed. */
static void wake_receiver(NbdClient *c, bool released)
{
    if (released) {
        qemu_co_queue_restart_all(&c->waitq);
    }
}

static void flush_bh(void *opaque);

static void flush_writable(void *opaque)
{
    NbdClient *c = opaque;

    /* Home thread, outside any coroutine: a handler may remove itself. */
    aio_set_fd_handler(c->flush_ctx, c->wfd, NULL, NULL, NULL, NULL, NULL);
    c->flush_state = NBD_FLUSH_PENDING;
    flush_bh(c);
}

/* Gather the queue into @iov (at most IOV_MAX entries); its byte count. */
static size_t gather(NbdClient *c, struct iovec *iov, int *iovcnt)
{
    size_t total = 0;
    int n = 0;

    for (NbdReply *r = c->rq_head; r; r = r->next) {
        if (n + (r->niov - r->first) > IOV_MAX) {
            break;
        }
        for (int i = r->first; i < r->niov; i++) {
            iov[n++] = r->iov[i];
            total += r->iov[i].iov_len;
        }
    }
    *iovcnt = n;
    return total;
}

/* @sent bytes of the queue went out: release the replies they complete,
 * advance the one they end in.  True if a request left the counts. */
static bool consume(NbdClient *c, size_t sent)
{
    bool released = false;

    while (c->rq_head) {
        NbdReply *r = c->rq_head;

        while (r->first < r->niov && sent >= r->iov[r->first].iov_len) {
            sent -= r->iov[r->first].iov_len;
            r->first++;
        }
        if (r->first < r->niov) {
            struct iovec *v = &r->iov[r->first];

            v->iov_base = (uint8_t *)v->iov_base + sent;
            v->iov_len -= sent;
            break;
        }
        c->rq_head = r->next;
        if (!c->rq_head) {
            c->rq_tailp = &c->rq_head;
        }
        released |= reply_release(c, r);
    }
    return released;
}

/* Drop everything queued (dead client). */
static bool drop_all(NbdClient *c)
{
    bool released = false;

    while (c->rq_head) {
        NbdReply *r = c->rq_head;

        c->rq_head = r->next;
        released |= reply_release(c, r);
    }
    c->rq_tailp = &c->rq_head;
    return released;
}

/* The flusher: send the queue until it is empty or the socket is full. */
static void flush_bh(void *opaque)
{
    NbdClient *c = opaque;
    struct iovec iov[IOV_MAX];
    bool released = false;

    while (c->rq_head && !c->dead) {
        int iovcnt;
        size_t want = gather(c, iov, &iovcnt);
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
        ssize_t n = sendmsg(c->wfd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            nbd_client_broken(c, -errno);
            break;
        }
        if (n > 0) {
            released |= consume(c, (size_t)n);
        }
        if (n < 0 || ((size_t)n < want && c->rq_head)) {
            /* Full (a short write means so): the next sendmsg() would
             * only fail with EAGAIN, wait for room instead. */
            int ret = aio_set_fd_handler(c->flush_ctx, c->wfd, NULL,
                                         flush_writable, NULL, NULL, c);
            if (ret < 0) {
                nbd_client_broken(c, ret);
                break;
            }
            c->flush_state = NBD_FLUSH_WAIT_OUT;
            wake_receiver(c, released);
            return;
        }
    }
    if (c->dead) {
        released |= drop_all(c);
    }
    c->flush_state = NBD_FLUSH_IDLE;
    wake_receiver(c, released);
}

void nbd_reply_queue(NbdClient *c, const void *head, size_t head_len,
                     const void *data, size_t data_len, void *own,
                     bool final, uint64_t charged)
{
    NbdReply *r = c->dead ? NULL : malloc(sizeof(*r) + head_len);

    if (!r) {
        /* Dead, or out of memory, which kills it: drop the reply. */
        nbd_client_broken(c, -ENOMEM);
        free(own);
        if (final) {
            request_left(c, charged);
        }
        wake_receiver(c, final);
        return;
    }
    memcpy(r->head, head, head_len);
    r->next = NULL;
    r->own = own;
    r->charged = charged;
    r->final = final;
    r->first = 0;
    r->iov[0] = (struct iovec){ r->head, head_len };
    r->iov[1] = (struct iovec){ (void *)data, data_len };
    r->niov = data_len ? 2 : 1;
    *c->rq_tailp = r;
    c->rq_tailp = &r->next;
    if (c->flush_state == NBD_FLUSH_IDLE) {
        c->flush_ctx = aio_co_get_context(qemu_coroutine_self());
        if (aio_bh_schedule_oneshot(c->flush_ctx, flush_bh, c) < 0) {
            /* No bottom half: send it now, in this coroutine. */
            c->flush_state = NBD_FLUSH_PENDING;
            flush_bh(c);
            return;
        }
        c->flush_state = NBD_FLUSH_PENDING;
    }
}
