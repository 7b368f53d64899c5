/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Embedding: another event loop (GLib, libuv, sd-event, a hand-written
 * poll(2) loop) drives the context instead of aio_poll().  It is one
 * aio_poll() iteration cut at its wait, which the outer loop does:
 *
 *   aio_poll():  timeout, busy poll, raise notify_me, WAIT, lower, accept,
 *                run BHs, handlers, timers
 *   prepare:     stop busy polling, flush the fd monitor, raise notify_me,
 *                timeout
 *   outer loop:  WAIT, on aio_context_get_fd() among its own fds
 *   check:       lower notify_me, accept, collect ready fds (no blocking)
 *   dispatch:    run BHs, handlers, timers (aio_dispatch_pass())
 *
 * The wake-up protocol is aio_poll()'s (aio-internal.h) with the outer
 * loop's wait in place of the fd monitor's: notify_me is 1 from prepare to
 * check, so aio_notify() writes the eventfd, which the fd monitor watches,
 * which makes the context's fd readable and ends the outer wait.  Prepare
 * raises it before it looks at ctx->notified (the Dekker pair), so a
 * notification either makes prepare answer "dispatch now" or writes the
 * eventfd.  A blocking aio_poll() run between prepare and check lowers
 * notify_me back to 1, not 0 (notify_me_base).
 *
 * Handlers that check finds stay on ctx->embed_ready until dispatch, and
 * the outer loop may run other code in between (GLib dispatches other
 * sources first), which may remove them: embedding holds one count of
 * ctx->walkers meanwhile, so removed nodes are only marked deleted.
 */
#include <errno.h>

#include "aio-internal.h"

/* notify_me while an outer loop may block on the context's fd. */
#define NOTIFY_ME_EMBEDDED 1

static void embed_hold(AioContext *ctx)
{
    if (!ctx->embed_walking) {
        ctx->embed_walking = true;
        ctx->walkers++;
    }
}

static void embed_release(AioContext *ctx)
{
    if (ctx->embed_walking) {
        ctx->embed_walking = false;
        if (--ctx->walkers == 0) {
            aio_free_deleted_handlers(ctx);
        }
    }
}

static void lower_notify_me(AioContext *ctx)
{
    ctx->notify_me_base = 0;
    atomic_store_explicit(&ctx->notify_me, 0, memory_order_release);
}

/* What aio_poll() does right after its wait: lower notify_me, accept the
 * notification before anything runs, and collect ready fds. */
static void embed_collect(AioContext *ctx)
{
    lower_notify_me(ctx);
    aio_notify_accept(ctx);
    embed_hold(ctx);
    /* An error is a failed look, as in aio_poll(): the fds stay ready and
     * the next check sees them. */
    ctx->fdmon->wait(ctx, &ctx->embed_ready, 0);
}

int aio_context_get_fd(AioContext *ctx)
{
    int ret;

    ARG_CHECK(ctx, -EINVAL);
    aio_assert_home(ctx);
    if (!ctx->fdmon->get_fd) {
        /* poll(2) has no fd that stands for the whole set; epoll has. */
        ret = aio_fdmon_upgrade_to_epoll(ctx);
        if (ret < 0) {
            return ret;
        }
    }
    return ctx->fdmon->get_fd(ctx);
}

bool aio_context_prepare(AioContext *ctx, int64_t *timeout_ns)
{
    int64_t timeout;

    ARG_CHECK(ctx, false);
    aio_assert_home(ctx);
#ifndef NDEBUG
    if (!ctx->fdmon->get_fd) {
        aio_contract_fail("aio_context_prepare(%p) before "
                          "aio_context_get_fd() succeeded: the outer loop "
                          "has no fd to wait on",
                          (void *)ctx);
    }
#endif
    if (ctx->poll_started) {
        /* Handlers told that they are polled may have stopped signalling
         * their fds, and nobody polls them while the outer loop waits. */
        embed_hold(ctx);
        aio_poll_stop_polling(ctx, &ctx->embed_ready);
    }
    if (ctx->fdmon->flush) {
        ctx->fdmon->flush(ctx);
    }
    /* Dekker with aio_notify(), as in aio_poll(): announce that the outer
     * loop may sleep, then look at the flag (both seq_cst). */
    ctx->notify_me_base = NOTIFY_ME_EMBEDDED;
    atomic_store(&ctx->notify_me, NOTIFY_ME_EMBEDDED);
    if (atomic_load(&ctx->notified) || !LIST_EMPTY(&ctx->embed_ready)) {
        timeout = 0;
    } else {
        timeout = aio_compute_timeout(ctx);
    }
    if (timeout_ns) {
        *timeout_ns = timeout;
    }
    return timeout == 0;
}

bool aio_context_check(AioContext *ctx)
{
    ARG_CHECK(ctx, false);
    aio_assert_home(ctx);
    embed_collect(ctx);
    /* Idle BHs count: the outer loop woke (perhaps on their timeout), so
     * this is their chance to run. */
    if (!LIST_EMPTY(&ctx->embed_ready) || aio_bh_timeout(ctx) >= 0 ||
        aio_timers_timeout(ctx) == 0) {
        return true;
    }
    embed_release(ctx);
    return false;
}

bool aio_context_dispatch(AioContext *ctx)
{
    ARG_CHECK(ctx, false);
    aio_assert_home(ctx);
    if (ctx->notify_me_base) {
        /* No check since prepare (GLib skips it when prepare said
         * "ready"): do its part here. */
        embed_collect(ctx);
    }
    embed_hold(ctx);
    /* The pass ends this walk; a check nested in a callback starts its
     * own. */
    ctx->embed_walking = false;
    return aio_dispatch_pass(ctx, &ctx->embed_ready);
}

void aio_context_leave(AioContext *ctx)
{
    AioHandler *node;

    ARG_CHECK(ctx, );
    aio_assert_home(ctx);
    lower_notify_me(ctx);
    /* Not dispatched: their fds are level-triggered (and io_poll a
     * level check), so the next look finds them again. */
    while ((node = LIST_FIRST(&ctx->embed_ready))) {
        LIST_REMOVE(node, node_ready);
        node->poll_ready = false;
    }
    embed_release(ctx);
}
