/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libiothread: each AioContext's pool of worker threads for blocking work.
 *
 * Work runs on a worker thread; its completion callback runs on the
 * context's home thread, as a bottom half.  Workers are started on demand
 * up to the maximum; idle workers above the minimum exit after 10 s.
 *
 * Completions run in the order the work finished (or was cancelled), each
 * exactly once.  A completion may call aio_poll() (nested) to wait for
 * another request: the nested loop runs the completions of requests that
 * finished meanwhile, including those that finished together with the
 * waiting one (as QEMU's thread pool allows).
 *
 * aio_context_free() shuts the pool down: running work is waited for,
 * queued work never runs, and no completion runs any more (finished and
 * cancelled requests are freed without their callbacks).
 *
 * A NULL pointer is answered as each function says, never dereferenced
 * (see "Misuse" in <iothread/aio.h>).
 */
#ifndef IOTHREAD_THREAD_POOL_H
#define IOTHREAD_THREAD_POOL_H

#include <iothread/aio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AIO_THREAD_POOL_MIN_DEFAULT 0
#define AIO_THREAD_POOL_MAX_DEFAULT 64

typedef struct ThreadPoolRequest ThreadPoolRequest;

/* Runs on a worker thread; its return value is passed to the completion. */
typedef int ThreadPoolFunc(void *arg);
/* Runs on the home thread with the work's result, or -ECANCELED. */
typedef void ThreadPoolCompletion(void *opaque, int ret);

/*
 * aio_thread_pool_submit: queue @func(@arg) on @ctx's pool.  When it has
 * run (or was cancelled), @cb(@opaque, ret) runs on the home thread and the
 * request is freed.  @cb may be NULL (fire and forget, as in QEMU): the
 * result is dropped and the request freed on the home thread all the same.
 * Home thread only.  If @reqp is not NULL, *@reqp gets a handle valid until
 * @cb has been called; with a NULL @cb, only until the home thread next
 * runs aio_poll(), which may free the request.  Returns 0, -EINVAL for a
 * NULL @ctx or @func, or -ENOMEM/-EAGAIN (no worker could be started and
 * none exists).
 */
int aio_thread_pool_submit(AioContext *ctx, ThreadPoolFunc *func, void *arg,
                           ThreadPoolCompletion *cb, void *opaque,
                           ThreadPoolRequest **reqp);

/*
 * aio_co_thread_pool_submit: run @func(@arg) on the pool of the calling
 * coroutine's home context and suspend the coroutine until it has run;
 * the coroutine is resumed on its home thread.  Returns @func's result,
 * or -EINVAL (NULL @func), -ENOMEM / -EAGAIN from
 * aio_thread_pool_submit() (then @func never runs).  Coroutine only
 * (aborts outside one, as aio_co_io() does).  QEMU's
 * thread_pool_submit_co().  @arg is the caller's until this returns.
 */
int aio_co_thread_pool_submit(ThreadPoolFunc *func, void *arg);

/*
 * aio_thread_pool_cancel: if @req has not started, it will not run and its
 * completion gets -ECANCELED (asynchronously, on a later pass); if it is
 * running or done, nothing changes.  Home thread only.  Returns true when
 * the request was cancelled (false for NULL).
 */
bool aio_thread_pool_cancel(ThreadPoolRequest *req);

/*
 * aio_thread_pool_set_limits: set the pool's minimum and maximum number of
 * workers together, all or nothing.  Thread-safe.  Workers up to @min are
 * started at once; workers above @max exit when they finish their current
 * request.  Returns 0, or -EINVAL for a NULL @ctx or unless
 * 0 <= @min <= @max and @max >= 1 (nothing is changed then), or -ENOMEM.
 */
int aio_thread_pool_set_limits(AioContext *ctx, int min, int max);

/* aio_thread_pool_get_limits: read them back (either output may be NULL;
 * a NULL @ctx leaves both untouched).  Thread-safe. */
void aio_thread_pool_get_limits(AioContext *ctx, int *min, int *max);

/* Pool counters; a consistent snapshot taken under the pool's lock. */
typedef struct ThreadPoolStats {
    int workers;      /* worker threads alive */
    int idle_workers; /* ... of which waiting for work */
    int queued;       /* requests not yet started */
    uint64_t completed; /* requests finished since creation */
} ThreadPoolStats;

/* aio_thread_pool_get_stats: fill *@stats (all zero for a NULL @ctx; a
 * NULL @stats does nothing).  Thread-safe. */
void aio_thread_pool_get_stats(AioContext *ctx, ThreadPoolStats *stats);

#ifdef __cplusplus
}
#endif

#endif /* IOTHREAD_THREAD_POOL_H */
