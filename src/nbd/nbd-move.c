/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Moving an export and its clients to another context at runtime
 * (nbd_export_set_context()), as QEMU's drained section around
 * bdrv_try_change_aio_context() does for its NBD server: quiesce, switch,
 * resume, one client at a time.
 *
 * A client's work on its context is its receive loop (one coroutine) and
 * the request coroutines it starts; it owns no BH or timer there, and its
 * socket is watched only while a coroutine waits on it.  So a client
 * moves when its receive loop, between two requests and with none in
 * flight, reschedules itself on the new context (aio_co_schedule()):
 * every request it starts afterwards is created there, and its next wait
 * on the socket registers there.
 *
 * The handshake between the main thread and a client:
 *  - main thread: c->move_to = new context, then takes c->recv_waiter and
 *    wakes the loop if it was waiting for a request (it could wait for
 *    ever on an idle client);
 *  - client: at its move point (before it reads a request), sees move_to,
 *    waits for its requests in flight (their replies sent: the reply
 *    queue is empty, nbd-reply.c), moves, clears move_to and drops
 *    its count in exp->move_pending;
 *  - the main thread frees a client that left without moving: it drops
 *    the count on the client's behalf (nbd_client_move_forget()).
 * move_to and recv_waiter are sequentially consistent atomics: the loop
 * publishes recv_waiter then reads move_to, the main thread publishes
 * move_to then takes recv_waiter, so at least one sees the other and an
 * idle client is never left waiting.
 */
#include <errno.h>
#include <sys/socket.h>

#include "nbd/nbd-internal.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define TAKE(p) __atomic_exchange_n((p), NULL, __ATOMIC_SEQ_CST)

/* ---- the main thread's side ---- */

static void move_bh(void *opaque)
{
    NbdExport *exp = opaque;
    NbdDoneFn *done = exp->move_done;
    void *done_opaque = exp->move_opaque;

    exp->moving = false;
    exp->move_done = NULL;
    exp->move_opaque = NULL;
    if (done) {
        done(done_opaque);
    }
    nbd_export_maybe_free(exp);
}

AioBH *nbd_export_move_bh_new(AioContext *main_ctx, NbdExport *exp)
{
    return aio_bh_new(main_ctx, move_bh, exp);
}

/* Drop one count of the move in progress.  Any thread. */
static void move_unref(NbdExport *exp)
{
    if (__atomic_fetch_sub(&exp->move_pending, 1, __ATOMIC_ACQ_REL) == 1) {
        aio_bh_schedule(exp->move_bh);
    }
}

int nbd_export_set_context(NbdExport *exp, AioContext *new_ctx,
                           NbdDoneFn *done, void *opaque)
{
    NbdClient *c;
    bool same = new_ctx == exp->ctx;

    if (exp->removing) {
        return -ENOENT;
    }
    if (exp->moving) {
        return -EBUSY;
    }
    exp->moving = true;
    exp->move_done = done;
    exp->move_opaque = opaque;
    exp->ctx = new_ctx;
    /* The mover's own count, so that @done cannot run before every
     * client has been asked. */
    __atomic_store_n(&exp->move_pending, 1, __ATOMIC_RELAXED);
    for (c = exp->clients; c && !same; c = c->exp_next) {
        Coroutine *co;

        __atomic_fetch_add(&exp->move_pending, 1, __ATOMIC_RELAXED);
        STORE(&c->move_to, new_ctx);
        co = TAKE(&c->recv_waiter);
        if (co) {
            /* Waiting for a request on the old context: wake it there,
             * it will find move_to set and go to its move point. */
            aio_co_wake(co);
        }
    }
    move_unref(exp);
    return 0;
}

bool nbd_export_moving(const NbdExport *exp)
{
    return exp->moving;
}

void nbd_client_move_forget(NbdClient *c)
{
    /* The client's coroutines are all done (this is its hand-back), so
     * nobody else touches move_to now. */
    if (c->exp && TAKE(&c->move_to)) {
        move_unref(c->exp);
    }
}

/* ---- the client's side ---- */

void nbd_co_move_point(NbdClient *c)
{
    AioContext *to = LOAD(&c->move_to);
    Coroutine *self = qemu_coroutine_self();

    if (!to) {
        return;
    }
    /* Quiesce: what was started completes and is answered here; a
     * request counts until its last reply has left the reply queue, so
     * the queue is empty and its flusher done when this ends. */
    while (c->in_flight > 0) {
        qemu_co_queue_wait(&c->waitq, NULL);
    }
    if (to != aio_co_get_context(self)) {
        if (aio_co_schedule(to, self) < 0) {
            /* Cannot move (out of memory): drop the client rather than
             * leave it behind.  It then counts as moved when freed. */
            nbd_client_set_reason(c, "cannot move to the export's new "
                                  "thread: out of memory");
            c->dead = true;
            shutdown(c->fd, SHUT_RDWR);
            return;
        }
        qemu_coroutine_yield();
    }
    /* Resume: running on @to now. */
    STORE(&c->move_to, NULL);
    move_unref(c->exp);
}

/* What the socket's handler needs, on the waiting coroutine's stack: the
 * handler is removed before that coroutine returns from the wait. */
typedef struct RequestWait {
    NbdClient *c;
    AioContext *ctx;
} RequestWait;

static void request_readable(void *opaque)
{
    RequestWait *w = opaque;
    Coroutine *co = TAKE(&w->c->recv_waiter);

    /* Home thread, outside any coroutine: removing the handler from its
     * own callback is allowed.  When a move took the coroutine first, it
     * is already woken: only the handler goes. */
    aio_set_fd_handler(w->ctx, w->c->fd, NULL, NULL, NULL, NULL, NULL);
    if (co) {
        aio_co_wake(co);
    }
}

int nbd_co_wait_request(NbdClient *c)
{
    Coroutine *self = qemu_coroutine_self();
    RequestWait w = {.c = c, .ctx = aio_co_get_context(self)};
    int ret;

    STORE(&c->recv_waiter, self);
    if (LOAD(&c->move_to)) {
        if (TAKE(&c->recv_waiter) != self) {
            /* The main thread took it and woke us: take that wake. */
            qemu_coroutine_yield();
        }
        return -EAGAIN;
    }
    ret = aio_set_fd_handler(w.ctx, c->fd, request_readable, NULL, NULL,
                             NULL, &w);
    if (ret < 0) {
        if (TAKE(&c->recv_waiter) != self) {
            qemu_coroutine_yield();
        }
        return ret;
    }
    qemu_coroutine_yield();
    /* Woken by the socket (the handler removed itself: -ENOENT here,
     * which is fine) or by a move (the handler is still there). */
    aio_set_fd_handler(w.ctx, c->fd, NULL, NULL, NULL, NULL, NULL);
    return LOAD(&c->move_to) ? -EAGAIN : 0;
}
