/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * aio_poll(): one iteration of the event loop.
 *
 *   1. compute the timeout from pending BHs and timers;
 *   2. busy-poll the pollable sources for up to the adaptive window;
 *   3. announce "may block" (notify_me) and wait in the fd monitor;
 *   4. accept the notification, adapt the polling windows;
 *   5. run BHs, ready fd handlers, expired timers.
 *
 * aio-embed.c cuts the same iteration at the wait, for an outer event
 * loop that does the waiting; it shares the steps exported here.
 */
#include <poll.h>

#include "aio-internal.h"

/* How many spins between two clock reads while busy polling: a clock read
 * costs more than a spin, and the window is microseconds long. */
#define POLL_SPINS_PER_CLOCK_CHECK 16

static int64_t min_timeout(int64_t a, int64_t b)
{
    if (a < 0) {
        return b;
    }
    if (b < 0) {
        return a;
    }
    return a < b ? a : b;
}

int64_t aio_compute_timeout(AioContext *ctx)
{
    int64_t timeout = aio_bh_timeout(ctx);

    if (timeout == 0) {
        return 0;
    }
    return min_timeout(timeout, aio_timers_timeout(ctx));
}

/*
 * Tell pollable handlers that we start or stop polling them.  When
 * stopping, look at them once more: a source that was told we poll it may
 * have stopped signalling its fd.  Returns true if that look found work.
 */
static bool poll_set_started(AioContext *ctx, AioHandlerList *ready,
                             bool started)
{
    AioHandler *node;
    bool found = false;

    if (ctx->poll_started == started) {
        return false;
    }
    ctx->poll_started = started;
    ctx->walkers++;
    LIST_FOREACH(node, &ctx->poll_handlers, node_poll) {
        if (node->deleted) {
            continue;
        }
        if (started && node->io_poll_begin) {
            node->io_poll_begin(node->opaque);
        } else if (!started && node->io_poll_end && node->polling) {
            node->io_poll_end(node->opaque);
        }
        node->polling = started;
        if (!started && node->io_poll(node->opaque)) {
            node->poll_ready = true;
            aio_add_ready_handler(ready, node, 0);
            found = true;
        }
    }
    ctx->walkers--;
    return found;
}

bool aio_poll_stop_polling(AioContext *ctx, AioHandlerList *ready)
{
    return poll_set_started(ctx, ready, false);
}

/* One look at every pollable source.  True if any had work. */
static bool poll_once(AioContext *ctx, AioHandlerList *ready)
{
    AioHandler *node;
    bool found = false;

    /* Relaxed: this only decides to stop spinning; the seq_cst exchange
     * in aio_notify_accept() is what orders the work it announces. */
    if (atomic_load_explicit(&ctx->notified, memory_order_relaxed)) {
        found = true;
    }
    LIST_FOREACH(node, &ctx->poll_handlers, node_poll) {
        if (!node->deleted && node->io_poll(node->opaque)) {
            node->poll_ready = true;
            node->poll_idle_deadline = 0;
            aio_add_ready_handler(ready, node, 0);
            found = true;
        }
    }
    return found || (ctx->fdmon->peek && ctx->fdmon->peek(ctx));
}

static int64_t largest_window(AioContext *ctx)
{
    int64_t window = ctx->notify_poll.ns;
    AioHandler *node;

    LIST_FOREACH(node, &ctx->poll_handlers, node_poll) {
        if (node->poll.ns > window) {
            window = node->poll.ns;
        }
    }
    return window;
}

/*
 * Busy-poll for up to the largest window (never past *timeout).  Returns
 * true, and sets *timeout to 0, if a source had work.
 */
static bool try_poll_mode(AioContext *ctx, AioHandlerList *ready,
                          int64_t *timeout, int64_t start)
{
    int64_t window = min_timeout(*timeout, largest_window(ctx));

    if (window > 0) {
        unsigned spins = 0;
        bool found;

        /* What is queued for the kernel (io_uring: fd polls, the I/O
         * engine's partial batch) must be there, or no completion of it
         * can show up while we spin: the whole window would be lost, and
         * then added to the latency of the event. */
        if (ctx->fdmon->flush) {
            ctx->fdmon->flush(ctx);
        }
        poll_set_started(ctx, ready, true);
        stat_add(&ctx->stat_poll_passes, 1);
        ctx->walkers++;
        while (!(found = poll_once(ctx, ready))) {
            if (++spins % POLL_SPINS_PER_CLOCK_CHECK == 0 &&
                aio_now_ns() - start >= window) {
                break;
            }
            cpu_relax();
        }
        ctx->walkers--;
        if (found) {
            stat_add(&ctx->stat_poll_hits, 1);
            *timeout = 0;
            return true;
        }
        stat_add(&ctx->stat_poll_misses, 1);
    }
    if (poll_set_started(ctx, ready, false)) {
        *timeout = 0;
        return true;
    }
    return false;
}

/*
 * A source whose event took @block_ns to come keeps its window if the
 * window covered it, grows toward poll_max_ns if a longer one would have,
 * and shrinks if even poll_max_ns would not.  A source that had no event
 * only learns that polling it for @block_ns was in vain: it may shrink,
 * never grow.
 */
static void adapt_window(AioPollState *p, int64_t block_ns, bool fired,
                         int64_t max_ns, int64_t grow, int64_t shrink)
{
    if (fired && block_ns <= p->ns) {
        /* the window covered it: the sweet spot */
    } else if (block_ns > max_ns) {
        p->ns = shrink ? p->ns / shrink : 0;
    } else if (fired && p->ns < max_ns) {
        p->ns = p->ns ? p->ns * (grow ? grow : 2) : AIO_POLL_START_NS;
    }
    if (p->ns > max_ns) {
        p->ns = max_ns;
    }
}

static void drop_idle_poll_handler(AioContext *ctx, AioHandler *node)
{
    LIST_REMOVE(node, node_poll);
    node->poll_idle = true;
    node->poll.ns = 0;
    ctx->nonpoll_handlers++;
    /* From now on its fd wakes us, so it must signal it again. */
    if (node->polling && node->io_poll_end) {
        node->io_poll_end(node->opaque);
    }
    node->polling = false;
}

static void adapt_polling(AioContext *ctx, int64_t start, bool notified)
{
    int64_t max_ns = atomic_load_explicit(&ctx->poll_max_ns,
                                          memory_order_relaxed);
    int64_t grow = atomic_load_explicit(&ctx->poll_grow, memory_order_relaxed);
    int64_t shrink = atomic_load_explicit(&ctx->poll_shrink,
                                          memory_order_relaxed);
    int64_t now = aio_now_ns();
    int64_t block_ns = now - start;
    AioHandler *node, *tmp;

    adapt_window(&ctx->notify_poll, block_ns, notified, max_ns, grow, shrink);
    LIST_FOREACH_SAFE(node, &ctx->poll_handlers, node_poll, tmp) {
        bool fired = LIST_IS_INSERTED(node, node_ready);

        adapt_window(&node->poll, block_ns, fired, max_ns, grow, shrink);
        if (fired || node->deleted) {
            node->poll_idle_deadline = 0;
        } else if (node->poll_idle_deadline == 0) {
            node->poll_idle_deadline = now + AIO_POLL_IDLE_NS;
        } else if (now >= node->poll_idle_deadline) {
            drop_idle_poll_handler(ctx, node);
        }
    }
    stat_set(&ctx->stat_poll_ns, (uint64_t)largest_window(ctx));
}

static void reset_polling(AioContext *ctx)
{
    AioHandler *node;

    ctx->notify_poll.ns = 0;
    LIST_FOREACH(node, &ctx->poll_handlers, node_poll) {
        node->poll.ns = 0;
    }
    stat_set(&ctx->stat_poll_ns, 0);
}

/* Clears the notification before anything is run, so that one arriving
 * while we run is not lost.  Returns whether there was one. */
bool aio_notify_accept(AioContext *ctx)
{
    /* An exchange, not a store: reading the notifier's value with seq_cst
     * orders its published work before everything we do next. */
    return atomic_exchange(&ctx->notified, false);
}

static bool dispatch_ready(AioContext *ctx, AioHandlerList *ready)
{
    AioHandler *node;
    bool progress = false;

    while ((node = LIST_FIRST(ready))) {
        unsigned revents = node->revents;
        bool poll_ready = node->poll_ready;
        uint64_t calls = 0;

        LIST_REMOVE(node, node_ready);
        node->poll_ready = false;
        if (node->deleted) {
            continue;
        }
        if (poll_ready) {
            node->io_poll_ready(node->opaque);
            calls++;
        } else {
            if (node->poll_idle) {
                /* Active again: worth polling. */
                node->poll_idle = false;
                aio_handler_update_poll(ctx, node);
            }
            if ((revents & (POLLIN | POLLHUP | POLLERR)) && node->io_read) {
                node->io_read(node->opaque);
                calls++;
            }
            if ((revents & (POLLOUT | POLLERR)) && node->io_write &&
                !node->deleted) {
                node->io_write(node->opaque);
                calls++;
            }
        }
        if (!node->internal && calls) {
            progress = true;
            stat_add(&ctx->stat_fd_dispatches, calls);
        }
    }
    return progress;
}

/* Step 5.  Static, so that aio_poll() keeps it inline. */
static bool dispatch_pass(AioContext *ctx, AioHandlerList *ready)
{
    bool progress = aio_bh_poll(ctx);

    progress |= dispatch_ready(ctx, ready);
    if (--ctx->walkers == 0) {
        aio_free_deleted_handlers(ctx);
    }
    progress |= aio_timers_run(ctx);
    return progress;
}

bool aio_dispatch_pass(AioContext *ctx, AioHandlerList *ready)
{
    return dispatch_pass(ctx, ready);
}

bool aio_poll(AioContext *ctx, bool blocking)
{
    AioHandlerList ready = {NULL};
    int64_t max_ns, timeout, start = 0;
    bool found = false, waits;

    ARG_CHECK(ctx, false);
    aio_assert_home(ctx);
    max_ns = atomic_load_explicit(&ctx->poll_max_ns, memory_order_relaxed);
    stat_add(&ctx->stat_iterations, 1);
    ctx->walkers++;

    timeout = blocking ? aio_compute_timeout(ctx) : 0;
    /* Whether this iteration may wait for an event at all (poll or
     * block): only then does it tell the windows anything. */
    waits = timeout != 0;
    if (max_ns > 0) {
        start = aio_now_ns();
        found = try_poll_mode(ctx, &ready, &timeout, start);
    } else {
        /* Polling was switched off: stop it properly, with no polling
         * pass at all from now on. */
        if (ctx->poll_started) {
            found = poll_set_started(ctx, &ready, false);
            timeout = found ? 0 : timeout;
        }
        if (ctx->notify_poll.ns) {
            reset_polling(ctx);
        }
    }

    if (blocking && timeout != 0) {
        /* Dekker with aio_notify(): announce that we may sleep, then look
         * at the flag (both seq_cst; see aio-internal.h). */
        atomic_store(&ctx->notify_me, 2);
        if (atomic_load(&ctx->notified)) {
            timeout = 0;
        }
    }
    /* Polling covers the notifier and every handler with io_poll; others
     * need the fd monitor even when polling found work, or a stream of
     * polled work would starve them. */
    if (!found || timeout != 0 || ctx->nonpoll_handlers > 0 ||
        (ctx->fdmon->peek && ctx->fdmon->peek(ctx))) {
        if (timeout != 0) {
            stat_add(&ctx->stat_blocking_waits, 1);
        }
        ctx->fdmon->wait(ctx, &ready, timeout);
    }
    if (blocking) {
        /* Down to what it is outside our wait: raised still if an outer
         * loop is between aio_context_prepare() and its check. */
        atomic_store_explicit(&ctx->notify_me, ctx->notify_me_base,
                              memory_order_release);
    }
    bool notified = aio_notify_accept(ctx);

    /* Not when work was pending from the start (a BH, most often one
     * that the last dispatch scheduled, which also set ctx->notified):
     * nothing was waited for, and counting that notification as an event
     * that came 0 ns into the window would grow a window that the last
     * long wait has just shrunk (poll-shrink), on every iteration.  QEMU
     * adapts only for sources that fired while it polled or waited. */
    if (max_ns > 0 && waits) {
        adapt_polling(ctx, start, notified);
    }

    return dispatch_pass(ctx, &ready);
}
