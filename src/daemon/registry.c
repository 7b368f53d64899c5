/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iothread/iothread.h>

#include "daemon/cpulist.h"
#include "daemon/error.h"
#include "daemon/registry.h"

struct IOThreadObject {
    Registry *registry;
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
    void *cache; /* iothread_object_set_cache(); dropped on every change */
    void (*cache_free)(void *cache);
    IOThreadObject *next;
};

struct Registry {
    AioContext *main_ctx;
    long max_objects;
    size_t count;
    IOThreadObject *head, **tailp;
    cpu_set_t initial_affinity; /* for "cpu-affinity" being unset */
    char *initial_cpus;         /* ... as a cpulist */
    RegistryEventFn *event;
    void *opaque;
};

/* Settings applied inside the iothread; a private copy travels along. */
typedef struct ApplyJob {
    IOThreadConfig cfg;
    const cpu_set_t *unpinned;
    AioContext *ctx;
    AioContext *main_ctx;
    AioBH *done_bh; /* on the main context, allocated up front so that
                       the iothread's half cannot fail */
    RegistryDoneFn *done;
    void *opaque;
    int ret;
} ApplyJob;

Registry *registry_new(AioContext *main_ctx, long max_objects,
                       RegistryEventFn *event, void *opaque)
{
    Registry *r = calloc(1, sizeof(*r));

    if (!r) {
        return NULL;
    }
    r->main_ctx = main_ctx;
    r->max_objects = max_objects;
    r->tailp = &r->head;
    r->event = event;
    r->opaque = opaque;
    r->initial_cpus = NULL;
    if (sched_getaffinity(0, sizeof(r->initial_affinity),
                          &r->initial_affinity) < 0) {
        CPU_ZERO(&r->initial_affinity);
        for (int i = 0; i < CPU_SETSIZE; i++) {
            CPU_SET(i, &r->initial_affinity);
        }
    }
    r->initial_cpus = cpulist_format(&r->initial_affinity);
    if (!r->initial_cpus) {
        free(r);
        return NULL;
    }
    return r;
}

/* Stop the thread; the heartbeat BH goes first, while its loop runs. */
static void object_stop(IOThreadObject *obj)
{
    if (obj->heartbeat_bh) {
        aio_bh_delete(obj->heartbeat_bh);
    }
    iothread_stop(obj->thread);
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
    free(obj);
}

/* After @obj->cfg changed: its CPUs as reported, and no cache of the
 * old settings. */
static void refresh_cpus(Registry *r, IOThreadObject *obj)
{
    drop_cache(obj);
    char *cpus = strdup(obj->cfg.cpu_affinity && *obj->cfg.cpu_affinity
                            ? obj->cfg.cpu_affinity
                            : r->initial_cpus);

    if (cpus) {
        free(obj->cpus);
        obj->cpus = cpus;
    }
}

static void unlink_object(Registry *r, IOThreadObject *obj)
{
    IOThreadObject **pp;

    for (pp = &r->head; *pp; pp = &(*pp)->next) {
        if (*pp == obj) {
            *pp = obj->next;
            break;
        }
    }
    if (!r->head) {
        r->tailp = &r->head;
    } else if (r->tailp == &obj->next) {
        for (pp = &r->head; *pp; pp = &(*pp)->next) {
            r->tailp = &(*pp)->next;
        }
    }
    r->count--;
}

void registry_free(Registry *r)
{
    IOThreadObject *obj;

    if (!r) {
        return;
    }
    while ((obj = r->head)) {
        unlink_object(r, obj);
        object_stop(obj);
        object_free(obj);
    }
    free(r->initial_cpus);
    free(r);
}

void registry_set_max(Registry *r, long max_objects)
{
    r->max_objects = max_objects;
}

long registry_get_max(Registry *r)
{
    return r->max_objects;
}

size_t registry_count(Registry *r)
{
    return r->count;
}

IOThreadObject *registry_next(Registry *r, IOThreadObject *prev)
{
    return prev ? prev->next : r->head;
}

IOThreadObject *registry_find(Registry *r, const char *id)
{
    IOThreadObject *obj;

    for (obj = r->head; obj; obj = obj->next) {
        if (strcmp(obj->cfg.id, id) == 0) {
            return obj;
        }
    }
    return NULL;
}

static int clamp_int(int64_t v)
{
    return v > INT_MAX ? INT_MAX : (int)v;
}

static int apply_settings(const IOThreadConfig *cfg, const cpu_set_t *unpinned,
                          AioContext *ctx)
{
    int ret;

    ret = aio_context_set_poll_params(ctx, cfg->poll_max_ns, cfg->poll_grow,
                                      cfg->poll_shrink);
    if (ret == 0) {
        ret = aio_context_set_aio_max_batch(ctx, cfg->aio_max_batch);
    }
    if (ret == 0) {
        /* QEMU's properties are int64; no pool needs more than INT_MAX. */
        ret = aio_thread_pool_set_limits(ctx, clamp_int(cfg->thread_pool_min),
                                         clamp_int(cfg->thread_pool_max));
    }
    /* Inside the thread, so "0" means this thread, and the change is
     * visible in /proc before the reply goes out. */
    if (ret == 0 &&
        sched_setaffinity(0, sizeof(cpu_set_t),
                          cfg->cpu_affinity ? &cfg->affinity : unpinned) < 0) {
        ret = -errno;
    }
    return ret;
}

static void apply_sync_fn(void *opaque)
{
    ApplyJob *job = opaque;

    job->ret = apply_settings(&job->cfg, job->unpinned, job->ctx);
}

static void apply_done_bh(void *opaque)
{
    ApplyJob *job = opaque;

    job->done(job->opaque, job->ret);
    aio_bh_delete(job->done_bh);
    iothread_config_cleanup(&job->cfg);
    free(job);
}

static void apply_async_bh(void *opaque)
{
    ApplyJob *job = opaque;

    job->ret = apply_settings(&job->cfg, job->unpinned, job->ctx);
    /* The reply leaves only once the change took effect. */
    aio_bh_schedule(job->done_bh);
}

static void heartbeat_bh(void *opaque)
{
    IOThreadObject *obj = opaque;

    /* The loop ran this BH, so it is alive and not stuck. */
    atomic_store(&obj->hb_ack, atomic_load(&obj->hb_sent));
}

int registry_create(Registry *r, const IOThreadConfig *cfg,
                    ObjectOrigin origin, char **errp)
{
    IOThreadOptions opts;
    IOThreadObject *obj;
    char name[16 + 1];
    ApplyJob job = {.unpinned = &r->initial_affinity};
    int ret;

    *errp = NULL;
    if (registry_find(r, cfg->id)) {
        error_setf(errp, "IOThread '%s' already exists", cfg->id);
        return -EEXIST;
    }
    if ((long)r->count >= r->max_objects) {
        error_setf(errp, "Cannot create IOThread '%s': the maximum of %ld "
                       "iothreads is reached", cfg->id, r->max_objects);
        return -ENOSPC;
    }
    obj = calloc(1, sizeof(*obj));
    if (!obj || iothread_config_copy(&obj->cfg, cfg) < 0) {
        free(obj);
        error_setf(errp, "Cannot create IOThread '%s': out of memory", cfg->id);
        return -ENOMEM;
    }
    obj->registry = r;
    obj->origin = origin;

    /* "IO <id>" as QEMU names its iothreads; the library cuts it to
     * Linux's 15 characters. */
    snprintf(name, sizeof(name), "IO %s", cfg->id);
    iothread_options_init(&opts);
    opts.name = name;
    opts.fdmon = cfg->fdmon;
    opts.poll_max_ns = cfg->poll_max_ns;
    opts.poll_grow = cfg->poll_grow;
    opts.poll_shrink = cfg->poll_shrink;
    opts.affinity = cfg->cpu_affinity ? &cfg->affinity : NULL;
    ret = iothread_start(&obj->thread, &opts);
    if (ret < 0) {
        error_setf(errp, "Cannot create IOThread '%s': %s", cfg->id,
                       strerror(-ret));
        object_free(obj);
        return ret;
    }
    job.ctx = iothread_get_aio_context(obj->thread);
    obj->heartbeat_bh = aio_bh_new(job.ctx, heartbeat_bh, obj);
    if (!obj->heartbeat_bh) {
        error_setf(errp, "Cannot create IOThread '%s': out of memory",
                   cfg->id);
        object_stop(obj);
        object_free(obj);
        return -ENOMEM;
    }
    iothread_config_copy(&job.cfg, cfg);
    ret = iothread_run_sync(obj->thread, apply_sync_fn, &job);
    iothread_config_cleanup(&job.cfg);
    if (ret == 0) {
        ret = job.ret;
    }
    if (ret < 0) {
        error_setf(errp, "Cannot configure IOThread '%s': %s", cfg->id,
                       strerror(-ret));
        object_stop(obj);
        object_free(obj);
        return ret;
    }
    refresh_cpus(r, obj);
    *r->tailp = obj;
    r->tailp = &obj->next;
    r->count++;
    r->event(r->opaque, "IOTHREAD_CREATED", obj->cfg.id);
    return 0;
}

int registry_delete(Registry *r, IOThreadObject *obj, char **errp)
{
    char *id;

    *errp = NULL;
    if (obj->nr_holders) {
        error_setf(errp, "IOThread '%s' is in use by '%s'", obj->cfg.id,
                       obj->holders[0]);
        return -EBUSY;
    }
    unlink_object(r, obj);
    /* Changes in flight were scheduled before the stop request, so they
     * run (and answer) first. */
    object_stop(obj);
    id = strdup(obj->cfg.id);
    object_free(obj);
    r->event(r->opaque, "IOTHREAD_DELETED", id ? id : "?");
    free(id);
    return 0;
}

int registry_update(Registry *r, IOThreadObject *obj,
                    const IOThreadConfig *cfg, RegistryDoneFn *done,
                    void *opaque)
{
    ApplyJob *job = calloc(1, sizeof(*job));
    IOThreadConfig committed;

    if (!job) {
        return -ENOMEM;
    }
    if (iothread_config_copy(&job->cfg, cfg) < 0) {
        free(job);
        return -ENOMEM;
    }
    if (iothread_config_copy(&committed, cfg) < 0) {
        iothread_config_cleanup(&job->cfg);
        free(job);
        return -ENOMEM;
    }
    job->unpinned = &r->initial_affinity;
    job->ctx = iothread_get_aio_context(obj->thread);
    job->main_ctx = r->main_ctx;
    job->done = done;
    job->opaque = opaque;
    job->done_bh = aio_bh_new(r->main_ctx, apply_done_bh, job);
    if (!job->done_bh ||
        aio_bh_schedule_oneshot(job->ctx, apply_async_bh, job) < 0) {
        if (job->done_bh) {
            aio_bh_delete(job->done_bh);
        }
        iothread_config_cleanup(&committed);
        iothread_config_cleanup(&job->cfg);
        free(job);
        return -ENOMEM;
    }
    iothread_config_cleanup(&obj->cfg);
    obj->cfg = committed;
    refresh_cpus(r, obj);
    r->event(r->opaque, "IOTHREAD_CHANGED", obj->cfg.id);
    return 0;
}

int registry_update_sync(Registry *r, IOThreadObject *obj,
                         const IOThreadConfig *cfg)
{
    ApplyJob job = {.unpinned = &r->initial_affinity};
    IOThreadConfig committed;
    int ret;

    if (iothread_config_copy(&committed, cfg) < 0) {
        return -ENOMEM;
    }
    job.ctx = iothread_get_aio_context(obj->thread);
    job.cfg = *cfg; /* borrowed: apply_sync_fn only reads it */
    ret = iothread_run_sync(obj->thread, apply_sync_fn, &job);
    if (ret == 0) {
        ret = job.ret;
    }
    if (ret < 0) {
        iothread_config_cleanup(&committed);
        return ret;
    }
    iothread_config_cleanup(&obj->cfg);
    obj->cfg = committed;
    refresh_cpus(r, obj);
    r->event(r->opaque, "IOTHREAD_CHANGED", obj->cfg.id);
    return 0;
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
    char path[64], buf[1024];
    unsigned long long utime, stime;
    long ticks = sysconf(_SC_CLK_TCK);
    ssize_t n;
    char *p;
    int fd;

    snprintf(path, sizeof(path), "/proc/self/task/%d/stat",
             (int)iothread_object_tid(obj));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return -EIO;
    }
    buf[n] = '\0';
    /* The name in parentheses may contain spaces: skip past its end. */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &utime, &stime) != 2 || ticks <= 0) {
        return -EIO;
    }
    *user_ns = utime * (1000000000ULL / (unsigned long long)ticks);
    *system_ns = stime * (1000000000ULL / (unsigned long long)ticks);
    return 0;
}
