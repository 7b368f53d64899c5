/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One IOThread object (see iothread-object.h).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iothread/iothread.h>

#include "common/error.h"
#include "daemon/iothread-apply.h"
#include "daemon/iothread-object.h"
#include "daemon/proc-stat.h"

struct IOThreadObject {
    const ObjectEnv *env;
    /* Watchdog heartbeat: the main thread sends numbered heartbeats, the
     * iothread's BH copies the number back.  hb_sent is the main
     * thread's; hb_ack is written by the iothread (atomic). */
    AioBH *heartbeat_bh;
    _Atomic uint64_t hb_sent;
    _Atomic uint64_t hb_ack;
    IOThreadConfig cfg; /* the committed settings */
    char *cpus;         /* the CPUs it may use, as a cpulist (cached:
                           query-iothreads would otherwise pay a system
                           call and a formatting per thread) */
    IOThread *thread;
    ObjectOrigin origin;
    char **holders;
    size_t nr_holders;
    /* iothread_object_set_cache(): what the object reports, derived from
     * cfg; dropped whenever cfg is committed anew. */
    void *cache;
    void (*cache_free)(void *cache);
    /* The thread's /proc stat file, opened at its first CPU-time read and
     * kept (one fd per iothread queried): opening it anew costs more than
     * reading it.  -1 while not open.  Main thread only. */
    int stat_fd;
    IOThreadObject *next; /* the registry's list */
};

/*
 * Settings to apply inside the iothread.  @cfg points at @owned for an
 * asynchronous change (the job outlives the request) or at the caller's
 * config for a synchronous one (the caller waits, so borrowing is safe).
 */
typedef struct ApplyJob {
    const IOThreadConfig *cfg;
    IOThreadConfig owned;
    const cpu_set_t *unpinned;
    AioContext *ctx;
    AioBH *done_bh; /* on the main context, allocated up front so that
                       the iothread's half cannot fail */
    IOThreadDoneFn *done;
    void *opaque;
    int ret;
} ApplyJob;

/* After obj->cfg changed: its CPUs as reported.  0 or -ENOMEM (then the
 * previous list stays). */
static int refresh_cpus(IOThreadObject *obj)
{
    char *cpus = strdup(obj->cfg.cpu_affinity && *obj->cfg.cpu_affinity
                            ? obj->cfg.cpu_affinity
                            : obj->env->unpinned_cpus);

    if (!cpus) {
        return -ENOMEM;
    }
    free(obj->cpus);
    obj->cpus = cpus;
    return 0;
}

static void drop_cache(IOThreadObject *obj)
{
    if (obj->cache) {
        obj->cache_free(obj->cache);
        obj->cache = NULL;
    }
}

static void object_free(IOThreadObject *obj)
{
    drop_cache(obj);
    for (size_t i = 0; i < obj->nr_holders; i++) {
        free(obj->holders[i]);
    }
    free(obj->holders);
    iothread_config_cleanup(&obj->cfg);
    free(obj->cpus);
    if (obj->stat_fd >= 0) {
        close(obj->stat_fd);
    }
    free(obj);
}

void iothread_object_stop(IOThreadObject *obj)
{
    /* The heartbeat BH goes first, while its loop runs. */
    if (obj->heartbeat_bh) {
        aio_bh_delete(obj->heartbeat_bh);
    }
    if (obj->thread) {
        iothread_stop(obj->thread);
    }
    object_free(obj);
}

static void apply_sync_fn(void *opaque)
{
    ApplyJob *job = opaque;

    job->ret = iothread_apply_settings(job->ctx, job->cfg, job->unpinned);
}

static void heartbeat_bh(void *opaque)
{
    IOThreadObject *obj = opaque;

    /* The loop ran this BH, so it is alive and not stuck. */
    atomic_store(&obj->hb_ack, atomic_load(&obj->hb_sent));
}

/* Start the thread with what can only be chosen at start (its name and
 * back-end), then apply every other setting once, inside it. */
static int start_thread(IOThreadObject *obj, char **errp)
{
    IOThreadOptions opts;
    char name[16 + 1];
    ApplyJob job = {.cfg = &obj->cfg, .unpinned = &obj->env->unpinned};
    int ret;

    /* "IO <id>" as QEMU names its iothreads; the library cuts it to
     * Linux's 15 characters. */
    snprintf(name, sizeof(name), "IO %s", obj->cfg.id);
    iothread_options_init(&opts);
    opts.name = name;
    opts.fdmon = iothread_config_fdmon(&obj->cfg);
    ret = iothread_start(&obj->thread, &opts);
    if (ret < 0) {
        obj->thread = NULL;
        return error_fail(errp, ret, "Cannot create IOThread '%s': %s",
                          obj->cfg.id, strerror(-ret));
    }
    job.ctx = iothread_get_aio_context(obj->thread);
    obj->heartbeat_bh = aio_bh_new(job.ctx, heartbeat_bh, obj);
    if (!obj->heartbeat_bh) {
        return error_fail(errp, -ENOMEM, "Cannot create IOThread '%s': out "
                          "of memory", obj->cfg.id);
    }
    ret = iothread_run_sync(obj->thread, apply_sync_fn, &job);
    if (ret == 0) {
        ret = job.ret;
    }
    if (ret < 0) {
        return error_fail(errp, ret, "Cannot configure IOThread '%s': %s",
                          obj->cfg.id, strerror(-ret));
    }
    return 0;
}

int iothread_object_start(IOThreadObject **objp, const IOThreadConfig *cfg,
                          ObjectOrigin origin, const ObjectEnv *env,
                          char **errp)
{
    IOThreadObject *obj = calloc(1, sizeof(*obj));
    int ret;

    *errp = NULL;
    /* The thread is configured from obj->cfg itself, so what it runs with
     * and what is reported are the same copy. */
    if (!obj || iothread_config_copy(&obj->cfg, cfg) < 0) {
        free(obj);
        return error_fail(errp, -ENOMEM, "Cannot create IOThread '%s': out "
                          "of memory", cfg->id);
    }
    obj->env = env;
    obj->origin = origin;
    obj->stat_fd = -1;
    ret = refresh_cpus(obj);
    if (ret < 0) {
        error_setf(errp, "Cannot create IOThread '%s': out of memory",
                   cfg->id);
    } else {
        ret = start_thread(obj, errp);
    }
    if (ret < 0) {
        iothread_object_stop(obj);
        return ret;
    }
    *objp = obj;
    return 0;
}

static void apply_done_bh(void *opaque)
{
    ApplyJob *job = opaque;

    job->done(job->opaque, job->ret);
    aio_bh_delete(job->done_bh);
    iothread_config_cleanup(&job->owned);
    free(job);
}

static void apply_async_bh(void *opaque)
{
    ApplyJob *job = opaque;

    job->ret = iothread_apply_settings(job->ctx, job->cfg, job->unpinned);
    /* The reply leaves only once the change took effect. */
    aio_bh_schedule(job->done_bh);
}

/* Make *@committed (stolen) the object's settings; no cache of the old
 * ones survives.  (At creation there is none yet.) */
static void commit(IOThreadObject *obj, IOThreadConfig *committed)
{
    drop_cache(obj);
    iothread_config_cleanup(&obj->cfg);
    obj->cfg = *committed;
    /* On ENOMEM the previous list stays: only a report, and the next
     * change refreshes it. */
    refresh_cpus(obj);
}

int iothread_object_update(IOThreadObject *obj, const IOThreadConfig *cfg,
                           IOThreadDoneFn *done, void *opaque)
{
    ApplyJob *job = calloc(1, sizeof(*job));
    IOThreadConfig committed;

    if (!job) {
        return -ENOMEM;
    }
    if (iothread_config_copy(&job->owned, cfg) < 0) {
        free(job);
        return -ENOMEM;
    }
    if (iothread_config_copy(&committed, cfg) < 0) {
        iothread_config_cleanup(&job->owned);
        free(job);
        return -ENOMEM;
    }
    job->cfg = &job->owned;
    job->unpinned = &obj->env->unpinned;
    job->ctx = iothread_get_aio_context(obj->thread);
    job->done = done;
    job->opaque = opaque;
    job->done_bh = aio_bh_new(obj->env->main_ctx, apply_done_bh, job);
    if (!job->done_bh ||
        aio_bh_schedule_oneshot(job->ctx, apply_async_bh, job) < 0) {
        if (job->done_bh) {
            aio_bh_delete(job->done_bh);
        }
        iothread_config_cleanup(&committed);
        iothread_config_cleanup(&job->owned);
        free(job);
        return -ENOMEM;
    }
    commit(obj, &committed);
    return 0;
}

int iothread_object_update_sync(IOThreadObject *obj,
                                const IOThreadConfig *cfg)
{
    ApplyJob job = {.cfg = cfg, .unpinned = &obj->env->unpinned};
    IOThreadConfig committed;
    int ret;

    if (iothread_config_copy(&committed, cfg) < 0) {
        return -ENOMEM;
    }
    job.ctx = iothread_get_aio_context(obj->thread);
    ret = iothread_run_sync(obj->thread, apply_sync_fn, &job);
    if (ret == 0) {
        ret = job.ret;
    }
    if (ret < 0) {
        iothread_config_cleanup(&committed);
        return ret;
    }
    commit(obj, &committed);
    return 0;
}

IOThreadObject *iothread_object_next(IOThreadObject *obj)
{
    return obj->next;
}

void iothread_object_set_next(IOThreadObject *obj, IOThreadObject *next)
{
    obj->next = next;
}

bool iothread_object_heartbeat(IOThreadObject *obj)
{
    uint64_t sent = atomic_load_explicit(&obj->hb_sent, memory_order_relaxed);
    bool answered = atomic_load(&obj->hb_ack) == sent;

    if (answered) {
        atomic_store_explicit(&obj->hb_sent, sent + 1, memory_order_relaxed);
        aio_bh_schedule(obj->heartbeat_bh);
    }
    return answered;
}

static void stall_bh(void *opaque)
{
    unsigned ms = (unsigned)(uintptr_t)opaque;

    /* Deliberately blocks this iothread's loop (x-debug-iothread-stall). */
    usleep(ms * 1000U);
}

int iothread_object_debug_stall(IOThreadObject *obj, unsigned ms)
{
    return aio_bh_schedule_oneshot(iothread_object_context(obj), stall_bh,
                                   (void *)(uintptr_t)ms);
}

const char *iothread_object_cpus(IOThreadObject *obj)
{
    return obj->cpus ? obj->cpus : "";
}

void *iothread_object_cache(IOThreadObject *obj)
{
    return obj->cache;
}

void iothread_object_set_cache(IOThreadObject *obj, void *cache,
                               void (*cache_free)(void *cache))
{
    drop_cache(obj);
    obj->cache = cache;
    obj->cache_free = cache_free;
}

const IOThreadConfig *iothread_object_config(IOThreadObject *obj)
{
    return &obj->cfg;
}

const char *iothread_object_id(IOThreadObject *obj)
{
    return obj->cfg.id;
}

pid_t iothread_object_tid(IOThreadObject *obj)
{
    return iothread_get_tid(obj->thread);
}

AioContext *iothread_object_context(IOThreadObject *obj)
{
    return iothread_get_aio_context(obj->thread);
}

AioFdmon iothread_object_fdmon(IOThreadObject *obj)
{
    return aio_context_fdmon(iothread_get_aio_context(obj->thread));
}

ObjectOrigin iothread_object_origin(IOThreadObject *obj)
{
    return obj->origin;
}

void iothread_object_set_origin(IOThreadObject *obj, ObjectOrigin origin)
{
    obj->origin = origin;
}

int iothread_object_hold(IOThreadObject *obj, const char *holder)
{
    char **h = realloc(obj->holders,
                       (obj->nr_holders + 1) * sizeof(*obj->holders));
    char *name = strdup(holder);

    if (!h || !name) {
        if (h) {
            obj->holders = h;
        }
        free(name);
        return -ENOMEM;
    }
    obj->holders = h;
    obj->holders[obj->nr_holders++] = name;
    return 0;
}

int iothread_object_release(IOThreadObject *obj, const char *holder)
{
    for (size_t i = 0; i < obj->nr_holders; i++) {
        if (strcmp(obj->holders[i], holder) == 0) {
            free(obj->holders[i]);
            memmove(&obj->holders[i], &obj->holders[i + 1],
                    (obj->nr_holders - i - 1) * sizeof(*obj->holders));
            obj->nr_holders--;
            return 0;
        }
    }
    return -ENOENT;
}

const char *iothread_object_holder(IOThreadObject *obj)
{
    return obj->nr_holders ? obj->holders[0] : NULL;
}

int iothread_object_cpu_time(IOThreadObject *obj, uint64_t *user_ns,
                             uint64_t *system_ns)
{
    if (obj->stat_fd < 0) {
        int fd = proc_thread_stat_open(iothread_object_tid(obj));

        if (fd < 0) {
            return fd; /* out of fds, say: the next call tries again */
        }
        obj->stat_fd = fd;
    }
    return proc_thread_stat_read(obj->stat_fd, user_ns, system_ns);
}
