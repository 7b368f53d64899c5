/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One IOThread object's life: its thread started with its settings
 * applied once, changes applied inside the thread by a bottom half and
 * answered on the main thread by another, the watchdog heartbeat, holders,
 * and what the commands read.  The registry (registry.h) keeps the list
 * and emits the events.
 *
 * Main thread only, except where a comment says otherwise; no lock is
 * ever shared with the iothread.
 */
#ifndef IOTHREADD_IOTHREAD_OBJECT_H
#define IOTHREADD_IOTHREAD_OBJECT_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <iothread/aio.h>

#include "common/iothread-config.h"

typedef struct IOThreadObject IOThreadObject;

/* Where an object came from: reload only deletes what the config made. */
typedef enum {
    ORIGIN_QMP,
    ORIGIN_COMMAND_LINE,
    ORIGIN_CONFIG,
} ObjectOrigin;

/* What every object of a registry shares; owned by the registry and
 * outliving its objects. */
typedef struct ObjectEnv {
    AioContext *main_ctx;   /* where completions are reported */
    cpu_set_t unpinned;     /* the CPUs of "cpu-affinity" being unset */
    char *unpinned_cpus;    /* ... as a cpulist */
} ObjectEnv;

/* Completion of an asynchronous change: @ret 0 or -errno. */
typedef void IOThreadDoneFn(void *opaque, int ret);

/*
 * iothread_object_start: start an iothread for @cfg (validated) and wait
 * until it runs with every setting applied, each once.  Returns 0 with
 * *@objp, or -errno with *@errp (malloc'd) for the user; then nothing is
 * left behind.  *@objp's committed settings are a copy of @cfg: exactly
 * what the thread runs with.
 */
int iothread_object_start(IOThreadObject **objp, const IOThreadConfig *cfg,
                          ObjectOrigin origin, const ObjectEnv *env,
                          char **errp);

/* iothread_object_stop: stop the thread (changes in flight run and answer
 * first) and free @obj. */
void iothread_object_stop(IOThreadObject *obj);

/*
 * iothread_object_update: make @cfg (validated, same id, same fdmon) the
 * object's settings: committed now, applied inside the iothread, then
 * @done runs on the main thread.  Changes are applied in the order they
 * were made.  Returns 0 or -ENOMEM (then nothing changed and @done is not
 * called).
 */
int iothread_object_update(IOThreadObject *obj, const IOThreadConfig *cfg,
                           IOThreadDoneFn *done, void *opaque);

/* iothread_object_update_sync: the same, but waits until the iothread
 * applied it.  0 or -errno; on error the previous settings stay. */
int iothread_object_update_sync(IOThreadObject *obj,
                                const IOThreadConfig *cfg);

/* The registry's list link (registry.c only). */
IOThreadObject *iothread_object_next(IOThreadObject *obj);
void iothread_object_set_next(IOThreadObject *obj, IOThreadObject *next);

const IOThreadConfig *iothread_object_config(IOThreadObject *obj);
/* The CPUs the thread may run on, as a cpulist ("0-3"): its cpu-affinity,
 * or every CPU the daemon may use when it has none. */
const char *iothread_object_cpus(IOThreadObject *obj);
const char *iothread_object_id(IOThreadObject *obj);
pid_t iothread_object_tid(IOThreadObject *obj);
AioContext *iothread_object_context(IOThreadObject *obj);
/* The back-end in use (AUTO resolved; may change once, poll -> epoll). */
AioFdmon iothread_object_fdmon(IOThreadObject *obj);
ObjectOrigin iothread_object_origin(IOThreadObject *obj);
void iothread_object_set_origin(IOThreadObject *obj, ObjectOrigin origin);

/*
 * A cache of what the object reports (iothread-info.h), owned by the
 * object from iothread_object_set_cache() on (which frees the previous
 * one): it is freed with @cache_free whenever the object's settings are
 * committed (iothread_object_update*(): iothread-set, qom-set, reload;
 * a new object starts without one) and when the object goes, so whatever
 * it holds was derived from the current settings.  NULL when there is
 * none.
 */
void *iothread_object_cache(IOThreadObject *obj);
void iothread_object_set_cache(IOThreadObject *obj, void *cache,
                               void (*cache_free)(void *cache));

/*
 * Holders: whatever uses an iothread holds it, by name, so that deleting
 * it is refused with a clear error.  hold returns -ENOMEM or 0; release
 * returns -ENOENT for a name that holds nothing.
 */
int iothread_object_hold(IOThreadObject *obj, const char *holder);
int iothread_object_release(IOThreadObject *obj, const char *holder);
/* The first holder's name, or NULL. */
const char *iothread_object_holder(IOThreadObject *obj);

/*
 * iothread_object_heartbeat: for the watchdog, every period.  Returns
 * whether the iothread answered the previous heartbeat (a loop that runs
 * BHs is alive), and if so sends the next one.  Main thread only.
 */
bool iothread_object_heartbeat(IOThreadObject *obj);

/* iothread_object_debug_stall: make the iothread's loop block for @ms
 * milliseconds, as a stuck handler would.  0 or -ENOMEM. */
int iothread_object_debug_stall(IOThreadObject *obj, unsigned ms);

/* User and system CPU time of the thread, in nanoseconds, from its /proc
 * stat file, which the first call opens and the object keeps until it is
 * stopped (one fd per iothread whose time was read).  0 or -errno.  Main
 * thread only. */
int iothread_object_cpu_time(IOThreadObject *obj, uint64_t *user_ns,
                             uint64_t *system_ns);

#endif /* IOTHREADD_IOTHREAD_OBJECT_H */
