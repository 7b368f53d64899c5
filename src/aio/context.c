/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * AioContext life cycle, fd-monitor selection, the sender side of the
 * wake-up protocol, polling parameters and counters.  The loop itself is
 * in aio-poll.c, fd handlers in handlers.c.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "aio-internal.h"

static const char *const fdmon_names[] = {
    [AIO_FDMON_AUTO] = "auto",
    [AIO_FDMON_IO_URING] = "io_uring",
    [AIO_FDMON_EPOLL] = "epoll",
    [AIO_FDMON_POLL] = "poll",
};

const char *aio_fdmon_name(AioFdmon kind)
{
    if ((unsigned)kind >= sizeof(fdmon_names) / sizeof(fdmon_names[0])) {
        return "unknown";
    }
    return fdmon_names[kind];
}

int aio_fdmon_parse(const char *name, AioFdmon *kind)
{
    ARG_CHECK(name && kind, -EINVAL);
    for (size_t i = 0; i < sizeof(fdmon_names) / sizeof(fdmon_names[0]);
         i++) {
        if (strcmp(name, fdmon_names[i]) == 0) {
            *kind = (AioFdmon)i;
            return 0;
        }
    }
    return -EINVAL;
}

void aio_assert_home(AioContext *ctx)
{
    /* Only the home thread may run the loop or change its handlers: the
     * handler lists and the BH consumer side have no locks. */
    assert(pthread_equal(pthread_self(), ctx->home));
}

bool aio_context_in_home_thread(AioContext *ctx)
{
    ARG_CHECK(ctx, false);
    return pthread_equal(pthread_self(), ctx->home);
}

static void loop_thread_setup(AioContext *ctx)
{
    ctx->home = pthread_self();
    /* The default 50 us slack would swamp nanosecond timeouts. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
}

void aio_context_claim(AioContext *ctx)
{
    ARG_CHECK(ctx, );
    loop_thread_setup(ctx);
}

static const FdmonOps *fdmon_ops_for(AioFdmon kind)
{
    switch (kind) {
    case AIO_FDMON_IO_URING:
        return &fdmon_io_uring_ops;
    case AIO_FDMON_EPOLL:
        return &fdmon_epoll_ops;
    case AIO_FDMON_POLL:
        return &fdmon_poll_ops;
    default:
        return NULL;
    }
}

static int fdmon_setup(AioContext *ctx, AioFdmon kind)
{
    const FdmonOps *ops;
    int ret;

    if (kind == AIO_FDMON_AUTO) {
        /* io_uring can be refused for many reasons (seccomp, sysctl,
         * memlock, old kernel); none of them should stop the loop. */
        if (fdmon_setup(ctx, AIO_FDMON_IO_URING) == 0) {
            return 0;
        }
        ret = fdmon_setup(ctx, AIO_FDMON_POLL);
        ctx->fdmon_may_upgrade = ret == 0;
        return ret;
    }
    ops = fdmon_ops_for(kind);
    if (!ops) {
        return -EINVAL;
    }
    ret = ops->init(ctx);
    if (ret < 0) {
        return ret;
    }
    ctx->fdmon = ops;
    atomic_store_explicit(&ctx->fdmon_kind, ops->kind, memory_order_relaxed);
    return 0;
}

AioFdmon aio_context_fdmon(AioContext *ctx)
{
    ARG_CHECK(ctx, AIO_FDMON_AUTO);
    return (AioFdmon)atomic_load_explicit(&ctx->fdmon_kind,
                                          memory_order_relaxed);
}

int aio_fdmon_upgrade_to_epoll(AioContext *ctx)
{
    const FdmonOps *old_ops = ctx->fdmon;
    void *old_state = ctx->fdmon_state;
    void *new_state;
    AioHandler *node;
    int ret;

    ctx->fdmon_state = NULL;
    ret = fdmon_epoll_ops.init(ctx);
    if (ret < 0) {
        goto fail;
    }
    LIST_FOREACH(node, &ctx->handlers, node) {
        if (!node->deleted &&
            (ret = fdmon_epoll_ops.update(ctx, node, 0)) < 0) {
            fdmon_epoll_ops.fini(ctx);
            goto fail;
        }
    }
    new_state = ctx->fdmon_state;
    ctx->fdmon_state = old_state;
    old_ops->fini(ctx);
    ctx->fdmon_state = new_state;
    ctx->fdmon = &fdmon_epoll_ops;
    ctx->fdmon_may_upgrade = false;
    atomic_store_explicit(&ctx->fdmon_kind, AIO_FDMON_EPOLL,
                          memory_order_relaxed);
    return 0;

fail:
    ctx->fdmon_state = old_state;
    ctx->fdmon_may_upgrade = false; /* don't retry on every new fd */
    return ret;
}

static void notifier_drain(void *opaque)
{
    AioContext *ctx = opaque;

    event_notifier_test_and_clear(&ctx->notifier);
}

int aio_context_new(AioContext **ctxp, AioFdmon fdmon)
{
    AioContext *ctx;
    int ret;

    ARG_CHECK(ctxp, -EINVAL);
    ARG_CHECK((unsigned)fdmon <= AIO_FDMON_POLL, -EINVAL);
    /* alignas(CACHELINE) members need an aligned allocation. */
    if (posix_memalign((void **)&ctx, CACHELINE, sizeof(*ctx))) {
        return -ENOMEM;
    }
    memset(ctx, 0, sizeof(*ctx));
    atomic_init(&ctx->notified, false);
    atomic_init(&ctx->notify_me, 0);
    atomic_init(&ctx->poll_max_ns, AIO_POLL_MAX_NS_DEFAULT);
    atomic_init(&ctx->poll_grow, 0);
    atomic_init(&ctx->poll_shrink, 0);
    atomic_init(&ctx->aio_max_batch, 0);
    LIST_INIT(&ctx->handlers);
    LIST_INIT(&ctx->poll_handlers);
    LIST_INIT(&ctx->deleted_handlers);
    aio_bh_queue_init(ctx);
    loop_thread_setup(ctx);

    ret = aio_timers_init(ctx);
    if (ret < 0) {
        goto fail_free;
    }
    ret = -pthread_mutex_init(&ctx->pool_lock, NULL);
    if (ret < 0) {
        goto fail_timers;
    }
    ret = event_notifier_init(&ctx->notifier, false);
    if (ret < 0) {
        goto fail_pool_lock;
    }
    ret = fdmon_setup(ctx, fdmon);
    if (ret < 0) {
        goto fail_notifier;
    }
    ret = aio_set_fd_handler(ctx, ctx->notifier.fd, notifier_drain, NULL,
                             NULL, NULL, ctx);
    if (ret < 0) {
        goto fail_fdmon;
    }
    LIST_FOREACH(ctx->notifier_handler, &ctx->handlers, node) {
        if (ctx->notifier_handler->fd == ctx->notifier.fd) {
            break;
        }
    }
    /* The notifier is covered by polling ctx->notified, and waking up is
     * not progress. */
    ctx->notifier_handler->internal = true;
    ctx->nonpoll_handlers--;
    *ctxp = ctx;
    return 0;

fail_fdmon:
    ctx->fdmon->fini(ctx);
fail_notifier:
    event_notifier_cleanup(&ctx->notifier);
fail_pool_lock:
    pthread_mutex_destroy(&ctx->pool_lock);
fail_timers:
    aio_timers_fini(ctx);
fail_free:
    free(ctx);
    return ret;
}

#ifndef NDEBUG
/*
 * What the caller should have removed before aio_context_free(), as QEMU's
 * aio_ctx_finalize() checks: a BH never deleted or a handler still
 * registered is a bug that would otherwise show up later as a leak, a
 * callback that never comes, or a use after free.
 */
static void check_nothing_left(AioContext *ctx)
{
    unsigned long bhs = atomic_load_explicit(&ctx->bh_live,
                                             memory_order_relaxed);
    unsigned handlers = 0;
    char example[32] = "";
    AioHandler *node;

    LIST_FOREACH(node, &ctx->handlers, node) {
        if (!node->deleted && node != ctx->notifier_handler &&
            handlers++ == 0) {
            snprintf(example, sizeof(example), " (e.g. fd %d)", node->fd);
        }
    }
    if (handlers || bhs) {
        aio_contract_fail("aio_context_free(%p): %u fd handler(s) still "
                          "registered%s and %lu BH(s) never passed to "
                          "aio_bh_delete(); remove them first",
                          (void *)ctx, handlers, example, bhs);
    }
}
#endif

void aio_context_free(AioContext *ctx)
{
    AioHandler *node, *tmp;

    ARG_CHECK(ctx, );
    aio_assert_home(ctx);
    assert(ctx->walkers == 0);
    /* Before anything is torn down, so that the abort leaves a context
     * that a debugger can still read. */
    aio_co_context_fini(ctx);
    aio_io_engine_fini(ctx);

    /* The pool's completion BH is deleted here, so it goes before the
     * BH queue is drained and the check for live BHs. */
    aio_thread_pool_free(ctx);
#ifndef NDEBUG
    check_nothing_left(ctx);
#endif

    ctx->fdmon->fini(ctx);
    LIST_FOREACH_SAFE(node, &ctx->handlers, node, tmp) {
        free(node);
    }
    aio_bh_drain_for_free(ctx);
    aio_timers_fini(ctx);
    event_notifier_cleanup(&ctx->notifier);
    pthread_mutex_destroy(&ctx->pool_lock);
    free(ctx);
}

/*
 * Sender side of the wake-up protocol; the invariant and why these
 * orderings suffice are at the fields in aio-internal.h.
 */
void aio_notify(AioContext *ctx)
{
    ARG_CHECK(ctx, );
    /* Coalesce: whoever set the flag owns the wake-up. */
    if (atomic_load(&ctx->notified) ||
        atomic_exchange(&ctx->notified, true)) {
        atomic_fetch_add_explicit(&ctx->stat_notify_skipped, 1,
                                  memory_order_relaxed);
        return;
    }
    if (atomic_load(&ctx->notify_me)) {
        int saved_errno = errno; /* we may be in a signal handler */

        event_notifier_set(&ctx->notifier);
        errno = saved_errno;
        atomic_fetch_add_explicit(&ctx->stat_notify_writes, 1,
                                  memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&ctx->stat_notify_skipped, 1,
                                  memory_order_relaxed);
    }
}

int aio_context_set_poll_params(AioContext *ctx, int64_t max_ns, int64_t grow,
                                int64_t shrink)
{
    ARG_CHECK(ctx, -EINVAL);
    ARG_CHECK(max_ns >= 0 && grow >= 0 && shrink >= 0, -EINVAL);
    atomic_store_explicit(&ctx->poll_max_ns, max_ns, memory_order_relaxed);
    atomic_store_explicit(&ctx->poll_grow, grow, memory_order_relaxed);
    atomic_store_explicit(&ctx->poll_shrink, shrink, memory_order_relaxed);
    /* Let a sleeping loop pick the new values up now rather than after
     * its next event. */
    aio_notify(ctx);
    return 0;
}

void aio_context_get_poll_params(AioContext *ctx, int64_t *max_ns,
                                 int64_t *grow, int64_t *shrink)
{
    ARG_CHECK(ctx, );
    if (max_ns) {
        *max_ns = atomic_load_explicit(&ctx->poll_max_ns,
                                       memory_order_relaxed);
    }
    if (grow) {
        *grow = atomic_load_explicit(&ctx->poll_grow, memory_order_relaxed);
    }
    if (shrink) {
        *shrink = atomic_load_explicit(&ctx->poll_shrink,
                                       memory_order_relaxed);
    }
}

int aio_context_set_aio_max_batch(AioContext *ctx, int64_t max_batch)
{
    ARG_CHECK(ctx && max_batch >= 0, -EINVAL);
    atomic_store_explicit(&ctx->aio_max_batch, max_batch,
                          memory_order_relaxed);
    return 0;
}

int64_t aio_context_get_aio_max_batch(AioContext *ctx)
{
    ARG_CHECK(ctx, -EINVAL);
    return atomic_load_explicit(&ctx->aio_max_batch, memory_order_relaxed);
}

void aio_context_get_stats(AioContext *ctx, AioStats *s)
{
    ARG_CHECK(s, );
    if (!ctx) {
        *s = (AioStats){0};
        return;
    }
    /* Every counter of the list has its stat_<field> in the context. */
#define AIO_STATS_LOAD_(field, name, label, help)                              \
    s->field = atomic_load_explicit(&ctx->stat_##field, memory_order_relaxed);
    AIO_STATS_FOREACH(AIO_STATS_LOAD_)
#undef AIO_STATS_LOAD_
}
