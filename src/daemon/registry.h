/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's IOThread objects as a set: create, retune, delete, look
 * up, the maximum, and the events each change emits.  One object's life
 * (its thread, applying settings inside it) is iothread-object.h's.
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

#include "common/iothread-config.h"
#include "daemon/iothread-object.h"

typedef struct Registry Registry;

/* Called on the main thread after an object was created, changed or
 * deleted ("IOTHREAD_CREATED", ...), for events and status lines. */
typedef void RegistryEventFn(void *opaque, const char *event, const char *id);

/* Completion of an asynchronous change: @ret 0 or -errno. */
typedef IOThreadDoneFn RegistryDoneFn;

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

#endif /* IOTHREADD_REGISTRY_H */
