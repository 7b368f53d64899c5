/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libiothread: IOThread, a named thread running an AioContext.
 *
 * Its whole life is `while (!stopping) aio_poll(ctx, true);`.  Stopping is
 * requested with a bottom half that sets the flag inside the thread, so no
 * wake-up can be lost between the test and the wait.
 *
 * A NULL IOThread or other invalid argument is answered as each function
 * says, never dereferenced (see "Misuse" in <iothread/aio.h>).
 */
#ifndef IOTHREAD_IOTHREAD_H
#define IOTHREAD_IOTHREAD_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <iothread/aio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct IOThread IOThread;

typedef struct IOThreadOptions {
    /* Thread name; cut to Linux's 15 characters.  NULL: "iothread". */
    const char *name;
    AioFdmon fdmon;
    /* Polling parameters; see aio_context_set_poll_params(). */
    int64_t poll_max_ns;
    int64_t poll_grow;
    int64_t poll_shrink;
    /* Applied inside the thread before it reports it started; NULL keeps
     * the creator's affinity. */
    const cpu_set_t *affinity;
} IOThreadOptions;

/* iothread_options_init: defaults (auto back-end, poll-max-ns 32768).
 * NULL does nothing. */
void iothread_options_init(IOThreadOptions *opts);

/*
 * iothread_start: start a thread that creates its AioContext and runs it.
 * Blocks until the thread is running its loop or has failed to set up,
 * so the error (e.g. -ENOSYS for an explicit io_uring back-end the kernel
 * refuses, -EINVAL for a bad affinity, -EAGAIN from pthread_create) is
 * returned here and nothing is left behind.  -EINVAL for a NULL @threadp
 * or invalid options (a negative polling parameter, an unknown back-end);
 * a NULL @opts means the defaults.  Thread-safe.
 */
int iothread_start(IOThread **threadp, const IOThreadOptions *opts);

/*
 * iothread_stop: ask the thread to leave its loop, join it, free its
 * context and @thread.  Thread-safe except from the IOThread itself
 * (-EDEADLK, nothing done).  Returns 0, or -EINVAL for NULL.
 *
 * The context is freed with aio_context_free(), so BHs and handlers that
 * the caller put on it must be gone first (deleted and removed, from
 * inside the thread for handlers): one that is left aborts there.
 */
int iothread_stop(IOThread *thread);

/* iothread_get_aio_context: the thread's context; NULL for NULL.
 * Thread-safe. */
AioContext *iothread_get_aio_context(IOThread *thread);

/* iothread_get_tid: the thread's Linux thread id; -EINVAL for NULL.
 * Thread-safe. */
pid_t iothread_get_tid(IOThread *thread);

/* iothread_get_name: the name the thread was given (cut); NULL for NULL.
 * Thread-safe. */
const char *iothread_get_name(IOThread *thread);

/*
 * iothread_run_sync: run @fn(@opaque) inside the thread and wait for it to
 * return.  Thread-safe; from the thread itself, runs @fn directly.  Returns
 * 0, -EINVAL for a NULL @thread or @fn, or -ENOMEM.
 */
int iothread_run_sync(IOThread *thread, void (*fn)(void *opaque),
                      void *opaque);

#ifdef __cplusplus
}
#endif

#endif /* IOTHREAD_IOTHREAD_H */
