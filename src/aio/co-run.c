/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qemu_co_run_in_context: run a function in a coroutine on another
 * context and wait for it, from a coroutine.
 *
 * The request lives on the waiting coroutine's stack.  The helper
 * coroutine reads what it needs, runs the function, and wakes the waiter
 * as its very last use of the request: the waiter may resume (on its own
 * thread) and return at once, taking the request with it.  The waiter
 * cannot resume before it has yielded, since the wake goes through its
 * home context (aio_co_wake() from a coroutine always defers).
 */
#include <errno.h>

#include "coroutine-internal.h"

typedef struct CoRunRequest {
    CoroutineEntry *fn;
    void *opaque;
    Coroutine *waiter;
} CoRunRequest;

static void co_run_helper(void *opaque)
{
    CoRunRequest *req = opaque;
    Coroutine *waiter = req->waiter;

    req->fn(req->opaque);
    aio_co_wake(waiter); /* last use of @req */
}

int qemu_co_run_in_context(AioContext *ctx, CoroutineEntry *fn,
                           void *opaque)
{
    CoRunRequest req = {.fn = fn, .opaque = opaque};
    Coroutine *co;

    req.waiter = qemu_coroutine_self();
    if (!req.waiter) {
        co_die("qemu_co_run_in_context called outside a coroutine");
    }
    if (!fn) {
        return -EINVAL;
    }
    co = aio_co_create(ctx, co_run_helper, &req, 0);
    if (!co) {
        return -errno;
    }
    aio_co_wake(co); /* from a coroutine: deferred to @ctx's BH */
    qemu_coroutine_yield();
    return 0;
}
