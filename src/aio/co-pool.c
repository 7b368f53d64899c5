/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The thread pool from a coroutine (QEMU's thread_pool_submit_co()):
 * submit on its home context, yield, and be resumed by the completion,
 * which runs on the home thread outside any coroutine, so aio_co_wake()
 * enters the coroutine right there.  The pool's lock orders the worker's
 * work before the completion reads its result.
 */
#include <errno.h>

#include <iothread/coroutine.h>
#include <iothread/thread-pool.h>

#include "coroutine-internal.h"

typedef struct CoPoolWait {
    Coroutine *co;
    int ret; /* written by the completion, home thread */
} CoPoolWait;

static void co_pool_done(void *opaque, int ret)
{
    CoPoolWait *w = opaque;

    w->ret = ret;
    aio_co_wake(w->co);
}

int aio_co_thread_pool_submit(ThreadPoolFunc *func, void *arg)
{
    CoPoolWait w = {.co = qemu_coroutine_self()};
    int ret;

    if (!w.co) {
        co_die("aio_co_thread_pool_submit called outside a coroutine");
    }
    CO_ARG_CHECK(func, -EINVAL);
    ret = aio_thread_pool_submit(aio_co_get_context(w.co), func, arg,
                                 co_pool_done, &w, NULL);
    if (ret < 0) {
        return ret;
    }
    qemu_coroutine_yield();
    return w.ret;
}
