/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IOThread: a named thread whose whole life is
 *     while (!stopping) aio_poll(ctx, true);
 *
 * The context is created inside the thread, so the thread is its home and
 * set-up errors (io_uring refused, bad affinity) reach iothread_start()
 * through a start-up handshake instead of leaving a half-made thread.
 * Stopping sets the flag from a BH inside the thread: the flag is then
 * only ever touched by the thread, and the BH's own wake-up cannot be lost
 * between the test and the wait.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <iothread/iothread.h>

#include "aio-internal.h"

#define THREAD_NAME_MAX 15 /* Linux's comm length without the NUL */

struct IOThread {
    pthread_t thread;
    char name[THREAD_NAME_MAX + 1];
    IOThreadOptions opts; /* read by the thread during start-up only */
    cpu_set_t affinity;

    /* Start-up handshake, under lock: the thread fills these in. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool start_done;
    int start_error;

    /* Written by the thread before start_done is set, constant after. */
    AioContext *ctx;
    pid_t tid;
    AioBH *stop_bh;

    bool stopping; /* the thread's own */
};

void iothread_options_init(IOThreadOptions *opts)
{
    ARG_CHECK(opts, );
    memset(opts, 0, sizeof(*opts));
    opts->fdmon = AIO_FDMON_AUTO;
    opts->poll_max_ns = AIO_POLL_MAX_NS_DEFAULT;
}

static void stop_bh_cb(void *opaque)
{
    IOThread *t = opaque;

    t->stopping = true;
}

static void start_finished(IOThread *t, int error)
{
    pthread_mutex_lock(&t->lock);
    t->start_error = error;
    t->start_done = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

static int thread_setup(IOThread *t)
{
    int ret;

    t->tid = (pid_t)syscall(SYS_gettid);
    ret = pthread_setname_np(pthread_self(), t->name);
    if (ret) {
        return -ret;
    }
    if (t->opts.affinity &&
        sched_setaffinity(0, sizeof(t->affinity), &t->affinity) < 0) {
        return -errno;
    }
    ret = aio_context_new(&t->ctx, t->opts.fdmon);
    if (ret < 0) {
        return ret;
    }
    ret = aio_context_set_poll_params(t->ctx, t->opts.poll_max_ns,
                                      t->opts.poll_grow, t->opts.poll_shrink);
    t->stop_bh = ret < 0 ? NULL : aio_bh_new(t->ctx, stop_bh_cb, t);
    if (!t->stop_bh) {
        aio_context_free(t->ctx);
        t->ctx = NULL;
        return ret < 0 ? ret : -ENOMEM;
    }
    return 0;
}

static void *iothread_main(void *opaque)
{
    IOThread *t = opaque;
    int ret = thread_setup(t);
    AioContext *ctx = t->ctx;

    start_finished(t, ret);
    if (ret < 0) {
        return NULL;
    }
    while (!t->stopping) {
        aio_poll(ctx, true);
    }
    /* The context is freed by iothread_stop() after the join, not here:
     * the thread that scheduled the stop BH may still be inside
     * aio_notify() on this context when the BH has already run. */
    return NULL;
}

int iothread_start(IOThread **threadp, const IOThreadOptions *opts)
{
    IOThreadOptions defaults;
    sigset_t all, old;
    IOThread *t;
    int ret;

    ARG_CHECK(threadp, -EINVAL);
    if (!opts) {
        iothread_options_init(&defaults);
        opts = &defaults;
    }
    if (opts->poll_max_ns < 0 || opts->poll_grow < 0 ||
        opts->poll_shrink < 0 || (unsigned)opts->fdmon > AIO_FDMON_POLL) {
        return -EINVAL;
    }
    t = calloc(1, sizeof(*t));
    if (!t) {
        return -ENOMEM;
    }
    t->opts = *opts;
    t->opts.name = NULL; /* not ours to keep */
    if (opts->affinity) {
        t->affinity = *opts->affinity;
        t->opts.affinity = &t->affinity;
    }
    snprintf(t->name, sizeof(t->name), "%s", opts->name ? opts->name
                                                        : "iothread");
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);

    /* Signals go to whoever the application chose, never to a loop
     * thread in the middle of aio_poll: block them all in the new thread
     * from its first instruction. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    ret = -pthread_create(&t->thread, NULL, iothread_main, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (ret < 0) {
        goto fail;
    }

    pthread_mutex_lock(&t->lock);
    while (!t->start_done) {
        pthread_cond_wait(&t->cond, &t->lock);
    }
    ret = t->start_error;
    pthread_mutex_unlock(&t->lock);
    if (ret < 0) {
        pthread_join(t->thread, NULL);
        goto fail;
    }
    *threadp = t;
    return 0;

fail:
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
    return ret;
}

int iothread_stop(IOThread *t)
{
    ARG_CHECK(t, -EINVAL);
    if (pthread_equal(pthread_self(), t->thread)) {
        return -EDEADLK;
    }
    aio_bh_schedule(t->stop_bh);
    pthread_join(t->thread, NULL);
    /* The loop has ended and nobody else may use the context now: it
     * becomes ours to free (without aio_context_claim()'s per-thread
     * set-up, which the caller did not ask for). */
    t->ctx->home = pthread_self();
    aio_bh_delete(t->stop_bh);
    aio_context_free(t->ctx);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
    return 0;
}

AioContext *iothread_get_aio_context(IOThread *t)
{
    ARG_CHECK(t, NULL);
    return t->ctx;
}

pid_t iothread_get_tid(IOThread *t)
{
    ARG_CHECK(t, -EINVAL);
    return t->tid;
}

const char *iothread_get_name(IOThread *t)
{
    ARG_CHECK(t, NULL);
    return t->name;
}

typedef struct RunSync {
    void (*fn)(void *opaque);
    void *opaque;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
} RunSync;

static void run_sync_bh(void *opaque)
{
    RunSync *rs = opaque;

    rs->fn(rs->opaque);
    pthread_mutex_lock(&rs->lock);
    rs->done = true;
    pthread_cond_signal(&rs->cond);
    pthread_mutex_unlock(&rs->lock);
}

int iothread_run_sync(IOThread *t, void (*fn)(void *opaque), void *opaque)
{
    RunSync rs = {.fn = fn, .opaque = opaque};
    int ret;

    ARG_CHECK(t && fn, -EINVAL);
    if (pthread_equal(pthread_self(), t->thread)) {
        fn(opaque);
        return 0;
    }
    pthread_mutex_init(&rs.lock, NULL);
    pthread_cond_init(&rs.cond, NULL);
    ret = aio_bh_schedule_oneshot(t->ctx, run_sync_bh, &rs);
    if (ret == 0) {
        pthread_mutex_lock(&rs.lock);
        while (!rs.done) {
            pthread_cond_wait(&rs.cond, &rs.lock);
        }
        pthread_mutex_unlock(&rs.lock);
    }
    pthread_cond_destroy(&rs.cond);
    pthread_mutex_destroy(&rs.lock);
    return ret;
}
