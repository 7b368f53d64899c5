/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Each AioContext's pool of worker threads for blocking work.
 *
 * Requests wait in a FIFO under pool->lock; workers take them, run them
 * unlocked, and put them on the done list, from which one completion BH
 * hands the results to the home thread.  Workers are started on demand up
 * to max; those above min leave after AIO_POOL_IDLE_NS without work.
 * Exited workers are joined, never detached, so that freeing the context
 * leaves no thread and no thread stack behind.
 *
 * Completions may nest aio_poll() to wait for another request, which may
 * have finished in the same batch (QEMU's callers do this).  So the batch
 * the BH takes is kept in the pool, not on the BH's stack, and the BH is
 * scheduled again before a completion runs while more of the batch waits:
 * a nested aio_poll() then runs the BH, which carries on with the batch.
 * That costs one BH schedule per batch, not per completion, and no lock
 * beyond the one that takes the batch.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include <iothread/thread-pool.h>

#include "aio-internal.h"

#define AIO_POOL_IDLE_NS (10 * NS_PER_SEC)

typedef enum { REQ_QUEUED, REQ_RUNNING, REQ_DONE } RequestState;

struct ThreadPoolRequest {
    ThreadPool *pool;
    ThreadPoolFunc *func;
    void *arg;
    ThreadPoolCompletion *cb;
    void *opaque;
    int ret;             /* under pool->lock once running */
    RequestState state;  /* under pool->lock */
    SIMPLEQ_ENTRY(ThreadPoolRequest) link; /* queue or done list */
};

SIMPLEQ_HEAD_DECLARE(RequestQueue, ThreadPoolRequest);

typedef struct Worker {
    pthread_t thread;
    ThreadPool *pool;
    LIST_ENTRY(Worker) link; /* pool->workers or pool->exited */
} Worker;

LIST_HEAD_DECLARE(WorkerList, Worker);

struct ThreadPool {
    AioContext *ctx;
    AioBH *completion_bh;

    /* Home thread only: finished requests taken off done whose
     * completions have not run yet, oldest first. */
    RequestQueue ready;
    /* Home thread only: the home thread scheduled completion_bh and it has
     * not started since (workers' schedules are not tracked). */
    bool bh_rescheduled;

    /* Everything below is under lock. */
    pthread_mutex_t lock;
    pthread_cond_t work_cond; /* a request was queued, or limits changed */
    RequestQueue queue;
    RequestQueue done;
    WorkerList workers; /* running */
    WorkerList exited;  /* returned or returning; to be joined */
    int min;
    int max;
    int nr_workers;
    int nr_idle;
    int nr_queued;
    int wakeups_pending; /* signals sent that no idle worker took yet */
    uint64_t completed;
    bool stopping;
};

static void *worker_main(void *opaque);

/* Start one worker; lock held.  Returns 0 or -errno. */
static int spawn_worker(ThreadPool *pool)
{
    Worker *w = calloc(1, sizeof(*w));
    sigset_t all, old;
    int ret;

    if (!w) {
        return -ENOMEM;
    }
    w->pool = pool;
    /* Workers must never take the process's signals: the daemon handles
     * them with a signalfd on its main thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    ret = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (ret) {
        free(w);
        return -ret;
    }
    LIST_INSERT_HEAD(&pool->workers, w, link);
    pool->nr_workers++;
    return 0;
}

/* Join and free the workers on @exited, a list taken off pool->exited. */
static void join_workers(WorkerList *exited)
{
    Worker *w;

    while ((w = LIST_FIRST(exited))) {
        LIST_REMOVE(w, link);
        pthread_join(w->thread, NULL);
        free(w);
    }
}

static void join_exited(ThreadPool *pool)
{
    WorkerList exited;

    pthread_mutex_lock(&pool->lock);
    LIST_MOVE(&exited, &pool->exited, link);
    pthread_mutex_unlock(&pool->lock);
    join_workers(&exited);
}

static void deadline_after(struct timespec *ts, int64_t ns)
{
    int64_t t = aio_now_ns() + ns;

    AIO_NS_TO_TIMESPEC(ts, t); /* absolute, on CLOCK_MONOTONIC */
}

static void *worker_main(void *opaque)
{
    Worker *w = opaque;
    ThreadPool *pool = w->pool;
    struct timespec deadline;

    pthread_mutex_lock(&pool->lock);
    while (!pool->stopping) {
        ThreadPoolRequest *req = SIMPLEQ_FIRST(&pool->queue);

        if (pool->nr_workers > pool->max) {
            break; /* the limit was lowered */
        }
        if (req) {
            SIMPLEQ_REMOVE_HEAD(&pool->queue, link);
            pool->nr_queued--;
            req->state = REQ_RUNNING;
            pthread_mutex_unlock(&pool->lock);

            int ret = req->func(req->arg);

            pthread_mutex_lock(&pool->lock);
            req->ret = ret;
            req->state = REQ_DONE;
            SIMPLEQ_INSERT_TAIL(&pool->done, req, link);
            pool->completed++;
            aio_bh_schedule(pool->completion_bh);
            continue;
        }
        pool->nr_idle++;
        deadline_after(&deadline, AIO_POOL_IDLE_NS);
        int ret = pthread_cond_timedwait(&pool->work_cond, &pool->lock,
                                         &deadline);
        pool->nr_idle--;
        if (pool->wakeups_pending > 0) {
            pool->wakeups_pending--;
        }
        if (ret == ETIMEDOUT && SIMPLEQ_EMPTY(&pool->queue) &&
            pool->nr_workers > pool->min) {
            break;
        }
    }
    pool->nr_workers--;
    LIST_REMOVE(w, link);
    LIST_INSERT_HEAD(&pool->exited, w, link);
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* Append every request of @src to @dst; @src ends empty. */
static void queue_append(RequestQueue *dst, RequestQueue *src)
{
    if (!SIMPLEQ_EMPTY(src)) {
        *dst->lastp = src->first;
        dst->lastp = src->lastp;
        SIMPLEQ_INIT(src);
    }
}

/*
 * Home thread: hand finished requests to their owners, in the order they
 * finished.  Re-entered from a completion's nested aio_poll(), it goes on
 * with pool->ready where the outer run stopped.
 */
static void completion_bh(void *opaque)
{
    ThreadPool *pool = opaque;
    ThreadPoolRequest *req;
    WorkerList exited;

    pool->bh_rescheduled = false; /* this run is that schedule */
    /* One lock round trip per run, whatever the batch size. */
    pthread_mutex_lock(&pool->lock);
    queue_append(&pool->ready, &pool->done);
    LIST_MOVE(&exited, &pool->exited, link);
    pthread_mutex_unlock(&pool->lock);

    while ((req = SIMPLEQ_FIRST(&pool->ready))) {
        SIMPLEQ_REMOVE_HEAD(&pool->ready, link);
        if (!SIMPLEQ_EMPTY(&pool->ready) && !pool->bh_rescheduled) {
            /* If this completion waits in a nested aio_poll() for one of
             * the rest, the nested loop must deliver it. */
            pool->bh_rescheduled = true;
            aio_bh_schedule(pool->completion_bh);
        }
        if (req->cb) { /* NULL: fire and forget */
            req->cb(req->opaque, req->ret);
        }
        free(req);
    }
    join_workers(&exited);
}

static ThreadPool *pool_create(AioContext *ctx)
{
    ThreadPool *pool = calloc(1, sizeof(*pool));
    pthread_condattr_t attr;

    if (!pool) {
        return NULL;
    }
    pool->ctx = ctx;
    pool->min = AIO_THREAD_POOL_MIN_DEFAULT;
    pool->max = AIO_THREAD_POOL_MAX_DEFAULT;
    SIMPLEQ_INIT(&pool->queue);
    SIMPLEQ_INIT(&pool->done);
    SIMPLEQ_INIT(&pool->ready);
    LIST_INIT(&pool->workers);
    LIST_INIT(&pool->exited);
    pool->completion_bh = aio_bh_new(ctx, completion_bh, pool);
    if (!pool->completion_bh) {
        free(pool);
        return NULL;
    }
    /* Idle deadlines must not jump with the wall clock. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->work_cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&pool->lock, NULL);
    return pool;
}

/* The context's pool, created on first use.  NULL when out of memory. */
static ThreadPool *get_pool(AioContext *ctx)
{
    ThreadPool *pool;

    pthread_mutex_lock(&ctx->pool_lock);
    if (!ctx->pool) {
        ctx->pool = pool_create(ctx);
    }
    pool = ctx->pool;
    pthread_mutex_unlock(&ctx->pool_lock);
    return pool;
}

int aio_thread_pool_submit(AioContext *ctx, ThreadPoolFunc *func, void *arg,
                           ThreadPoolCompletion *cb, void *opaque,
                           ThreadPoolRequest **reqp)
{
    ThreadPool *pool;
    ThreadPoolRequest *req;
    int ret = 0;

    ARG_CHECK(ctx && func, -EINVAL);
    aio_assert_home(ctx);
    pool = get_pool(ctx);
    req = calloc(1, sizeof(*req));
    if (!pool || !req) {
        free(req);
        return -ENOMEM;
    }
    *req = (ThreadPoolRequest){.pool = pool, .func = func, .arg = arg,
                               .cb = cb, .opaque = opaque,
                               .state = REQ_QUEUED};

    pthread_mutex_lock(&pool->lock);
    if (pool->nr_idle > pool->wakeups_pending) {
        pool->wakeups_pending++;
        pthread_cond_signal(&pool->work_cond);
    } else if (pool->nr_workers < pool->max) {
        ret = spawn_worker(pool);
        if (ret < 0 && pool->nr_workers > 0) {
            ret = 0; /* an existing worker will get to it */
        }
    }
    if (ret == 0) {
        SIMPLEQ_INSERT_TAIL(&pool->queue, req, link);
        pool->nr_queued++;
    }
    pthread_mutex_unlock(&pool->lock);

    if (ret < 0) {
        free(req);
        return ret == -ENOMEM ? ret : -EAGAIN;
    }
    if (reqp) {
        *reqp = req;
    }
    return 0;
}

bool aio_thread_pool_cancel(ThreadPoolRequest *req)
{
    ThreadPool *pool;
    bool cancelled = false;

    ARG_CHECK(req, false);
    pool = req->pool;
    aio_assert_home(pool->ctx);
    pthread_mutex_lock(&pool->lock);
    if (req->state == REQ_QUEUED) {
        /* O(queue position): cancels are rare and queues short. */
        SIMPLEQ_REMOVE(&pool->queue, req, ThreadPoolRequest, link);
        pool->nr_queued--;
        req->ret = -ECANCELED;
        req->state = REQ_DONE;
        SIMPLEQ_INSERT_TAIL(&pool->done, req, link);
        cancelled = true;
    }
    pthread_mutex_unlock(&pool->lock);
    if (cancelled) {
        /* The owner's callback runs later, never from inside cancel. */
        aio_bh_schedule(pool->completion_bh);
    }
    return cancelled;
}

int aio_thread_pool_set_limits(AioContext *ctx, int min, int max)
{
    ThreadPool *pool;
    int ret = 0;

    ARG_CHECK(ctx, -EINVAL);
    ARG_CHECK(min >= 0 && max >= 1 && min <= max, -EINVAL);
    pool = get_pool(ctx);
    if (!pool) {
        return -ENOMEM;
    }
    pthread_mutex_lock(&pool->lock);
    pool->min = min;
    pool->max = max;
    while (pool->nr_workers < pool->min && ret == 0) {
        ret = spawn_worker(pool);
    }
    /* Idle workers re-check the limits (and the excess ones leave). */
    pthread_cond_broadcast(&pool->work_cond);
    pthread_mutex_unlock(&pool->lock);
    /* Missing workers above the ones that started are not an error the
     * caller can act on: they are started on demand later. */
    return 0;
}

void aio_thread_pool_get_limits(AioContext *ctx, int *min, int *max)
{
    ThreadPool *pool;
    int lo = AIO_THREAD_POOL_MIN_DEFAULT, hi = AIO_THREAD_POOL_MAX_DEFAULT;

    ARG_CHECK(ctx, );
    pool = get_pool(ctx);
    if (pool) {
        pthread_mutex_lock(&pool->lock);
        lo = pool->min;
        hi = pool->max;
        pthread_mutex_unlock(&pool->lock);
    }
    if (min) {
        *min = lo;
    }
    if (max) {
        *max = hi;
    }
}

void aio_thread_pool_get_stats(AioContext *ctx, ThreadPoolStats *stats)
{
    ThreadPool *pool;

    ARG_CHECK(stats, );
    *stats = (ThreadPoolStats){0};
    ARG_CHECK(ctx, );
    pthread_mutex_lock(&ctx->pool_lock);
    pool = ctx->pool;
    pthread_mutex_unlock(&ctx->pool_lock);
    if (!pool) {
        return;
    }
    pthread_mutex_lock(&pool->lock);
    stats->workers = pool->nr_workers;
    stats->idle_workers = pool->nr_idle;
    stats->queued = pool->nr_queued;
    stats->completed = pool->completed;
    pthread_mutex_unlock(&pool->lock);
}

void aio_thread_pool_free(AioContext *ctx)
{
    ThreadPool *pool = ctx->pool;
    ThreadPoolRequest *req;
    Worker *w;

    if (!pool) {
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->work_cond);
    pthread_mutex_unlock(&pool->lock);

    /* Running work finishes; workers then leave the loop. */
    pthread_mutex_lock(&pool->lock);
    while ((w = LIST_FIRST(&pool->workers))) {
        pthread_t t = w->thread;

        pthread_mutex_unlock(&pool->lock);
        pthread_join(t, NULL); /* it moved itself to exited */
        pthread_mutex_lock(&pool->lock);
        LIST_REMOVE(w, link);
        free(w);
    }
    pthread_mutex_unlock(&pool->lock);
    join_exited(pool);

    /* Nobody can run completions any more: drop queued work unrun and
     * finished work uncompleted (ready is empty unless a completion freed
     * the context, which is not allowed; dropped all the same). */
    queue_append(&pool->queue, &pool->done);
    queue_append(&pool->queue, &pool->ready);
    while ((req = SIMPLEQ_FIRST(&pool->queue))) {
        SIMPLEQ_REMOVE_HEAD(&pool->queue, link);
        free(req);
    }
    aio_bh_delete(pool->completion_bh);
    pthread_cond_destroy(&pool->work_cond);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
    ctx->pool = NULL;
}
