/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libiothread: coroutines that live on an AioContext.
 *
 * A coroutine is a function with its own stack that can suspend itself
 * (qemu_coroutine_yield()) and be resumed later where it left off.  Each
 * coroutine has a *home* context: it only ever runs on that context's home
 * thread.  Whoever wakes it, from whichever thread, it is resumed by its
 * home context (aio_co_wake()), either at once when the waker is the home
 * thread outside any coroutine, or from the home context's own bottom half
 * that drains a lock-free list of scheduled coroutines.  A coroutine moves
 * to another context only when it is scheduled there (aio_co_schedule()).
 *
 * Naming follows QEMU: qemu_coroutine_* for the coroutine itself, aio_co_*
 * for what ties it to a context, qemu_co_* for helpers a coroutine calls
 * (sleep, fd wait, CoMutex, CoQueue).
 *
 * Who may call what is said at each function, as one of:
 *   "coroutine":   only from inside a coroutine (it may yield);
 *   "home thread": only on the coroutine's home thread (in a coroutine or
 *                  not);
 *   "any thread":  from any thread, in a coroutine or not.
 * Breaking these rules (yielding outside a coroutine, entering a running
 * coroutine, entering one on a foreign thread, scheduling one twice) is a
 * programming error: the library writes one line starting with
 * "libiothread: " that names it on stderr and aborts, as a failed
 * assertion would.  A NULL pointer argument is answered, never
 * dereferenced: -EINVAL, NULL, false or 0 from functions that return
 * something, nothing from void ones.  Running out of resources is never an
 * abort: creation returns NULL with errno set, other calls -errno.
 *
 * A coroutine must not call aio_poll(): it would run other coroutines of
 * its context underneath itself.  Yield instead.
 *
 * Freeing a context while coroutines whose home it is are alive (created
 * and not yet returned from their entry function: suspended, scheduled or
 * never entered) is a caller bug that would otherwise turn into a use after
 * free when one of them is woken or a silent leak of its stack and of
 * whatever it holds: aio_context_free() then aborts with
 * "libiothread: aio_context_free(0x...): N coroutines still alive on this
 * context; let them finish first", in every build (-DNDEBUG too).
 * aio_co_count() tells how many there are, so a caller can wait for them
 * before freeing.
 */
#ifndef IOTHREAD_COROUTINE_H
#define IOTHREAD_COROUTINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <iothread/aio.h>
#include <iothread/timer.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct Coroutine Coroutine;

/* The body of a coroutine.  When it returns, the coroutine is gone and its
 * stack goes back to the pool. */
typedef void CoroutineEntry(void *opaque);

/*
 * Stack size used when aio_co_create() is given 0: 1 MiB, as QEMU, because
 * coroutines run arbitrary user code (and sanitizer builds grow frames).
 * Only virtual memory: pages are touched on demand.
 */
#define AIO_CO_STACK_SIZE_DEFAULT (1u << 20)
/* Smallest and largest stack sizes aio_co_create() accepts. */
#define AIO_CO_STACK_SIZE_MIN (16u * 1024)
#define AIO_CO_STACK_SIZE_MAX (256u << 20)
/* Finished coroutines with a default-size stack that each thread keeps for
 * reuse; past this, their stacks are unmapped. */
#define AIO_CO_POOL_MAX 64

/* ------------------------------------------------------------------------
 * Life cycle
 */

/*
 * aio_co_create: make a coroutine that will run @entry(@opaque) on @ctx's
 * home thread.  It does not run yet: start it with aio_co_wake() (any
 * thread) or qemu_coroutine_enter() (home thread).  Any thread.
 *
 * @stack_size: 0 for AIO_CO_STACK_SIZE_DEFAULT, else a size between
 * AIO_CO_STACK_SIZE_MIN and AIO_CO_STACK_SIZE_MAX (rounded up to pages).
 * The stack is mmap'd with an inaccessible guard page below it, so an
 * overflow faults (SIGSEGV) instead of corrupting memory.  Default-size
 * stacks of finished coroutines are reused from the calling thread's pool.
 *
 * Returns the coroutine, or NULL with errno EINVAL (bad @stack_size or
 * NULL @ctx/@entry) or ENOMEM (no memory or no mapping).
 */
Coroutine *aio_co_create(AioContext *ctx, CoroutineEntry *entry,
                         void *opaque, size_t stack_size);

/*
 * qemu_coroutine_enter: run @co on the calling thread now, until it yields
 * or returns.  Home thread only (of @co's context); from a coroutine, the
 * caller is suspended meanwhile and resumes when @co yields (nesting).
 * @co must be suspended (or never started) and not scheduled: entering a
 * running or scheduled coroutine aborts.  A coroutine that returns is
 * freed (its stack pooled) before this returns.
 */
void qemu_coroutine_enter(Coroutine *co);

/*
 * qemu_coroutine_yield: suspend the calling coroutine and go back to the
 * one that entered it (the loop, or the coroutine that entered it).
 * Coroutine only.  It continues when somebody wakes it (aio_co_wake()).
 */
void qemu_coroutine_yield(void);

/* qemu_coroutine_self: the running coroutine, or NULL outside one.  Any
 * thread. */
Coroutine *qemu_coroutine_self(void);

/* qemu_in_coroutine: true inside a coroutine.  Any thread. */
bool qemu_in_coroutine(void);

/*
 * aio_co_get_context: @co's home context.  Any thread; the answer can be
 * stale only while @co is being moved by aio_co_schedule().
 */
AioContext *aio_co_get_context(Coroutine *co);

/* ------------------------------------------------------------------------
 * Waking and scheduling
 */

/*
 * aio_co_wake: resume the suspended (or not yet started) @co in its home
 * context.  Any thread.  On the home thread outside a coroutine, @co runs
 * at once, before this returns (QEMU's aio_co_enter); anywhere else (other
 * threads, or from a coroutine) it is put on the home context's list of
 * scheduled coroutines, and the context's bottom half enters it on its
 * next pass: never on the waker's thread, and never before the coroutine
 * has finished suspending, so a wake that races with the coroutine's own
 * yield resumes it exactly once.  Lock-free.  Waking a coroutine that is
 * already scheduled aborts (it would run twice).
 */
void aio_co_wake(Coroutine *co);

/*
 * aio_co_schedule: make @co run on @ctx's next pass, and make @ctx its
 * home from then on.  Any thread.  Always deferred, even on the home
 * thread.  When @ctx is not @co's home, @co is first handed to its old
 * home context's bottom half, so it is moved only once it has suspended:
 * a coroutine may move itself with `aio_co_schedule(other, self);
 * qemu_coroutine_yield();`.  Returns 0, or -ENOMEM when @ctx never had a
 * coroutine and its list could not be allocated (nothing scheduled).
 * Scheduling a coroutine that is already scheduled aborts.
 */
int aio_co_schedule(AioContext *ctx, Coroutine *co);

/*
 * aio_co_count: coroutines whose home is @ctx that are alive (created and
 * not returned; coroutines on their way to @ctx count too).  Any thread.
 */
unsigned aio_co_count(AioContext *ctx);

/*
 * qemu_co_run_in_context: run @fn(@opaque) in a new coroutine on @ctx (on
 * @ctx's home thread, whichever it is) and suspend the caller until @fn
 * has returned; the caller resumes in its own home context.  Coroutine
 * only.  Returns 0, or -ENOMEM / -EINVAL from aio_co_create() (@fn did not
 * run).
 */
int qemu_co_run_in_context(AioContext *ctx, CoroutineEntry *fn,
                           void *opaque);

/* ------------------------------------------------------------------------
 * Helpers for coroutines
 */

/*
 * qemu_co_sleep_ns: suspend the calling coroutine for @ns nanoseconds of
 * @clock, on a timer of its home context (@ns <= 0: until the next pass of
 * the loop).  Coroutine only.  Returns 0, -EINVAL for an unknown @clock,
 * or -ENOMEM when the timer could not be armed (no sleep).
 */
int qemu_co_sleep_ns(AioClock clock, int64_t ns);

/*
 * qemu_co_wait_fd: suspend the calling coroutine until @fd is readable
 * (@events has POLLIN) or writable (POLLOUT), through an fd handler on its
 * home context that is removed again before the coroutine resumes.
 * Coroutine only.  Hang-up and errors count as readable.  Returns the
 * events that were ready (POLLIN and/or POLLOUT), or -EINVAL (bad @fd or
 * @events), -EBUSY (@fd already has a handler on the context), or the
 * error of aio_set_fd_handler() (e.g. -EPERM for a regular file on epoll).
 */
int qemu_co_wait_fd(int fd, short events);

/*
 * CoQueue: coroutines waiting for a condition, woken in FIFO order.  For
 * coroutines of one context: every call is home thread only.  The fields
 * are private; the struct is public so that it can be embedded.
 */
typedef struct CoQueue {
    Coroutine *head;
    Coroutine **tailp;
} CoQueue;

/*
 * CoMutex: a lock that suspends the coroutine that waits for it, instead
 * of blocking the thread.  Fair: unlocking hands the lock straight to the
 * coroutine that has waited longest, which runs on the context's next
 * pass.  Not recursive.  For coroutines of one context: every call is
 * coroutine only, on the home thread.  Fields private, as CoQueue's.
 */
typedef struct CoMutex {
    Coroutine *holder;
    CoQueue waiters;
} CoMutex;

/* qemu_co_mutex_init: an unlocked mutex.  Any thread (touches only @m). */
void qemu_co_mutex_init(CoMutex *m);

/* qemu_co_mutex_lock: take @m, suspending while another coroutine holds
 * it.  Coroutine only.  Taking a mutex one already holds aborts. */
void qemu_co_mutex_lock(CoMutex *m);

/* qemu_co_mutex_trylock: take @m if it is free.  Coroutine only.  Returns
 * true when taken. */
bool qemu_co_mutex_trylock(CoMutex *m);

/* qemu_co_mutex_unlock: release @m, handing it to the first waiter if
 * any.  Coroutine only, by the holder (anything else aborts). */
void qemu_co_mutex_unlock(CoMutex *m);

/* qemu_co_queue_init: an empty queue.  Any thread (touches only @q). */
void qemu_co_queue_init(CoQueue *q);

/*
 * qemu_co_queue_wait: suspend the calling coroutine on @q until it is
 * woken by qemu_co_queue_next() or qemu_co_queue_restart_all().  If @m is
 * not NULL it must be held: it is released while waiting and taken again
 * before this returns.  Coroutine only.
 */
void qemu_co_queue_wait(CoQueue *q, CoMutex *m);

/*
 * qemu_co_queue_next: wake the coroutine that has waited longest on @q.
 * Home thread, in a coroutine or not (through aio_co_wake(), so from a
 * coroutine it runs on the next pass).  Returns true when one was woken.
 */
bool qemu_co_queue_next(CoQueue *q);

/* qemu_co_queue_restart_all: wake every coroutine waiting on @q, in FIFO
 * order.  Home thread.  Returns how many were woken. */
unsigned qemu_co_queue_restart_all(CoQueue *q);

/* qemu_co_queue_empty: true when nobody waits on @q.  Home thread. */
bool qemu_co_queue_empty(const CoQueue *q);

/* ------------------------------------------------------------------------
 * The stack pool
 */

typedef struct CoroutinePoolStats {
    uint64_t stacks_mapped;   /* process-wide: stacks mmap'd so far */
    uint64_t stacks_unmapped; /* process-wide: stacks munmap'd so far */
    unsigned pool_len;        /* the calling thread's pool */
} CoroutinePoolStats;

/* qemu_coroutine_pool_stats: fill *@stats.  Any thread. */
void qemu_coroutine_pool_stats(CoroutinePoolStats *stats);

/*
 * qemu_coroutine_pool_drain: unmap every stack in the calling thread's
 * pool (a thread's pool is also drained when the thread exits).  Any
 * thread, outside a coroutine.
 */
void qemu_coroutine_pool_drain(void);

#ifdef __cplusplus
}
#endif

#endif /* IOTHREAD_COROUTINE_H */
