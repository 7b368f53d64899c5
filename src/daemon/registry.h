/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's IOThread objects: create, retune, delete, look up.
 *
 * Main thread only.  A change is validated by the caller (see
 * iothread-config.h), committed here, applied inside the iothread by a
 * bottom half, and reported back to the main thread by another one, so no
 * lock is ever shared with an iothread.
 */
#ifndef IOTHREADD_REGISTRY_H
#define IOTHREADD_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <iothread/aio.h>
#include <iothread/thread-pool.h>

#include "daemon/iothread-config.h"

typedef struct Registry Registry;
typedef struct IOThreadObject IOThreadObject;

/* Where an object came from: reload only deletes what the config made. */
typedef enum {
    ORIGIN_QMP,
    ORIGIN_COMMAND_LINE,
    ORIGIN_CONFIG,
} ObjectOrigin;

/* Called on the main thread after an object was created, changed or
 * deleted ("IOTHREAD_CREATED", ...), for events and status lines. */
typedef void RegistryEventFn(void *opaque, const char *event, const char *id);

/* Completion of an asynchronous change: @ret 0 or -errno. */
typedef void RegistryDoneFn(void *opaque, int ret);

Registry *registry_new(AioContext *main_ctx, long max_objects,
                       RegistryEventFn *event, void *opaque);
/* Stop and free every object, then the registry. */
void registry_free(Registry *r);

void registry_set_max(Registry *r, long max_objects);
long registry_get_max(Registry *r);
size_t registry_count(Registry *r);

/* Objects in creation order: registry_next(r, NULL) is the first. */
IOThreadObject *registry_next(Registry *r, IOThreadObject *prev);
IOThreadObject *registry_find(Registry *r, const char *id);

/*
 * registry_create: start an iothread for @cfg (validated; id unique) and
 * wait until it runs with every setting applied.  Returns 0, or -EEXIST,
 * -ENOSPC (the maximum is reached) or the thread's start-up error, with
 * *@errp set to a message for the user (malloc'd).
 */
int registry_create(Registry *r, const IOThreadConfig *cfg,
                    ObjectOrigin origin, char **errp);

/*
 * registry_delete: stop and remove @obj.  -EBUSY with *@errp naming the
 * holder when something holds it.
 */
int registry_delete(Registry *r, IOThreadObject *obj, char **errp);

/*
 * registry_update: make @cfg (validated, same id, same fdmon) the object's
 * settings: committed now, applied inside the iothread, then @done runs on
 * the main thread.  Changes are applied in the order they were made.
 * Returns 0 or -ENOMEM (then nothing changed and @done is not called).
 */
int registry_update(Registry *r, IOThreadObject *obj,
                    const IOThreadConfig *cfg, RegistryDoneFn *done,
                    void *opaque);

/*
 * registry_update_sync: the same, but waits until the iothread applied
 * it (for reload, which answers once for many changes).  0 or -errno;
 * on error the previous settings stay committed.
 */
int registry_update_sync(Registry *r, IOThreadObject *obj,
                         const IOThreadConfig *cfg);

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

/*
 * A cache of what the object reports (iothread-info.h), owned by the
 * object from iothread_object_set_cache() on: it is freed with
 * @cache_free when the object's settings change (created, iothread-set,
 * qom-set, reload) and when the object goes, so whatever it holds was
 * derived from the current settings.  NULL when there is none.
 */
void *iothread_object_cache(IOThreadObject *obj);
void iothread_object_set_cache(IOThreadObject *obj, void *cache,
                               void (*cache_free)(void *cache));
void iothread_object_set_origin(IOThreadObject *obj, ObjectOrigin origin);

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

/* User and system CPU time of the thread, in nanoseconds.  0 or -errno. */
int iothread_object_cpu_time(IOThreadObject *obj, uint64_t *user_ns,
                             uint64_t *system_ns);

#endif /* IOTHREADD_REGISTRY_H */
