/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libiothread: the AioContext event loop.
 *
 * An AioContext is a small event loop that one thread (its *home* thread)
 * runs synchronously with aio_poll().  It watches file descriptors, runs
 * bottom halves (deferred callbacks that any thread may schedule), fires
 * timers, and busy-polls adaptively before it blocks.
 *
 * Conventions for the whole library:
 *  - Functions that can fail return 0 (or a non-negative count) on success
 *    and a negative errno value on failure.  The library never prints and
 *    never exits.
 *  - "Home thread only" functions assert that they run on the home thread;
 *    calling them elsewhere is a programming error and aborts.
 *  - Callbacks run on the home thread, from inside aio_poll().
 *
 * Misuse, in two kinds (as sd-event and QEMU treat them):
 *  - An invalid argument (a NULL pointer, a negative fd, an out-of-range
 *    enum) is answered, never dereferenced: -EINVAL from functions that
 *    return an errno, NULL or false from those that return a pointer or a
 *    flag, and nothing at all from void functions.  Each function below
 *    says what it does with NULL.
 *  - A broken rule that no return value can report (a home-thread-only
 *    call from another thread, freeing a context that still has BHs or
 *    handlers) is a bug in the caller.  Like a failed assert(), it aborts
 *    after one line on stderr starting with "libiothread: " (or assert()'s
 *    own); that line is the only output the library ever writes.  A
 *    library built with -DNDEBUG does not check.
 */
#ifndef IOTHREAD_AIO_H
#define IOTHREAD_AIO_H

#include <stdbool.h>
#include <stdint.h>

#include <iothread/aio-stats.h>
#include <iothread/event-notifier.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct AioContext AioContext;
typedef struct AioBH AioBH;

/* ------------------------------------------------------------------------
 * fd monitor back-ends
 */

typedef enum AioFdmon {
    AIO_FDMON_AUTO = 0, /* io_uring if the kernel allows it, else poll(2)
                           upgrading itself to epoll past 64 fds */
    AIO_FDMON_IO_URING,
    AIO_FDMON_EPOLL,
    AIO_FDMON_POLL, /* poll(2) only, never upgraded (except by
                       aio_context_get_fd(): see "Embedding") */
} AioFdmon;

/*
 * aio_fdmon_name: the lower-case name of @kind ("auto", "io_uring",
 * "epoll", "poll"); "unknown" for out-of-range values.  Thread-safe.
 */
const char *aio_fdmon_name(AioFdmon kind);

/*
 * aio_fdmon_parse: parse @name (one of the names above) into *@kind.
 * Returns 0, or -EINVAL for an unknown or NULL name or a NULL @kind.
 * Thread-safe.
 */
int aio_fdmon_parse(const char *name, AioFdmon *kind);

/* ------------------------------------------------------------------------
 * Context
 */

/*
 * aio_context_new: create a context whose home thread is the calling
 * thread, monitoring fds with back-end @fdmon.
 *
 * AIO_FDMON_AUTO never fails for want of io_uring: when the ring cannot be
 * set up (EPERM from seccomp or kernel.io_uring_disabled, ENOSYS, ENOMEM,
 * RLIMIT_MEMLOCK) it falls back to poll/epoll; aio_context_fdmon() tells
 * what was chosen.  An explicit back-end that cannot be set up is an error.
 *
 * Setting LIBIOTHREAD_DISABLE_IO_URING=1 in the environment makes io_uring
 * set-up fail with -ENOSYS, to exercise the fallback.
 *
 * The calling thread's timer slack is set to 1 ns (PR_SET_TIMERSLACK), as it
 * becomes a loop thread whose timeouts are in nanoseconds.
 *
 * On success stores the context in *@ctxp and returns 0; otherwise returns
 * -errno (-EINVAL for a NULL @ctxp or an @fdmon out of range) and leaves
 * *@ctxp untouched.
 */
int aio_context_new(AioContext **ctxp, AioFdmon fdmon);

/*
 * aio_context_free: destroy @ctx; NULL does nothing.  Home thread only,
 * and not from inside aio_poll().  The context's thread pool, if any, is
 * shut down first: queued work is cancelled and running work is waited
 * for.  Pending oneshot BHs are freed without running; BHs deleted with
 * aio_bh_delete() are freed.
 *
 * Before calling it the caller must have passed every BH of aio_bh_new()
 * to aio_bh_delete() and removed every fd handler and event notifier it
 * registered: anything else is a bug that would surface later as a leak, a
 * callback that never comes, or a use after free.  So, as QEMU's
 * aio_ctx_finalize() does, a context that still has one aborts here (see
 * "Misuse" above) with a line such as
 *   libiothread: aio_context_free(0x...): 1 fd handler(s) still registered
 *   (e.g. fd 7) and 0 BH(s) never passed to aio_bh_delete(); remove them
 *   first
 * In a library built with -DNDEBUG the handlers are dropped without their
 * callbacks being called (fds are not closed) and the BHs stay allocated.
 *
 * No other thread may use @ctx once this is called, and every call other
 * threads made on it (aio_bh_schedule(), aio_notify(), timer changes)
 * must have returned: that a BH has run does not mean that the call which
 * scheduled it has returned.
 */
void aio_context_free(AioContext *ctx);

/*
 * aio_context_claim: make the calling thread the home thread of @ctx, e.g.
 * after creating it on one thread and handing it to another.  Must not be
 * called while any thread is inside aio_poll(@ctx).  Also sets the calling
 * thread's timer slack to 1 ns.  NULL does nothing.
 */
void aio_context_claim(AioContext *ctx);

/*
 * aio_context_in_home_thread: true when the caller is @ctx's home thread;
 * false for NULL.  Thread-safe.
 */
bool aio_context_in_home_thread(AioContext *ctx);

/*
 * aio_context_fdmon: the back-end @ctx uses now (never AIO_FDMON_AUTO).  It
 * can change once, from poll to epoll, when an AUTO context registers more
 * than 64 fds or when aio_context_get_fd() is called.  Thread-safe.
 * AIO_FDMON_AUTO for a NULL @ctx.
 */
AioFdmon aio_context_fdmon(AioContext *ctx);

/*
 * aio_poll: run one iteration of the event loop.  Home thread only; may be
 * nested (called from a callback).
 *
 * Runs pending bottom halves, dispatches ready fd handlers and fires
 * expired timers.  With @blocking, first waits (busy-polling, then in the
 * kernel) until at least one of those is ready or aio_notify() is called.
 *
 * Returns true when progress was made: a bottom half (other than an idle
 * one), an fd handler or a timer callback ran.  A wake-up by aio_notify()
 * alone is not progress, so `while (aio_poll(ctx, false)) {}` ends.
 * False, doing nothing, for a NULL @ctx.
 */
bool aio_poll(AioContext *ctx, bool blocking);

/*
 * aio_notify: make the current or next aio_poll(@ctx, true) return soon.
 * Wait-free, thread-safe and async-signal-safe.  Only the call that sets
 * the context's "notified" flag may write the eventfd, and only if the
 * home thread may be asleep; the flag stays set until the loop wakes, so
 * any number of calls between two iterations cost at most one write.
 * NULL does nothing.
 */
void aio_notify(AioContext *ctx);

/* ------------------------------------------------------------------------
 * fd handlers
 */

/* Called when the fd is readable (io_read) or writable (io_write). */
typedef void AioIOHandler(void *opaque);
/*
 * Busy-poll callback: return true if there is work to do, in which case
 * io_poll_ready is called instead of io_read.  Must be cheap and must not
 * block; it may run many times per microsecond.
 */
typedef bool AioPollFn(void *opaque);
/* Told when polling of this handler starts and stops: while polled, the
 * source may stop sending notifications (e.g. stop kicking an eventfd). */
typedef void AioPollNotify(void *opaque);

/*
 * aio_set_fd_handler: watch @fd on @ctx, change its callbacks, or, with
 * all four callbacks NULL, stop watching it.  Home thread only (including
 * from any callback, even the one being run, and from a nested aio_poll);
 * before the context is first polled, the creating thread counts as home.
 *
 * @io_read / @io_write select the events waited for.  @io_poll, if not
 * NULL, is busy-polled before blocking, and @io_poll_ready is called when
 * it returned true.  A handler removed while the loop walks the list is
 * only marked and is freed once nobody walks; it is never called again.
 *
 * Returns 0, -EINVAL for a NULL @ctx, a negative fd or io_poll without
 * io_poll_ready, -ENOENT when removing an fd that is not registered,
 * -ENOMEM, or the back-end's error (e.g. -EPERM from epoll for a regular
 * file).
 */
int aio_set_fd_handler(AioContext *ctx, int fd, AioIOHandler *io_read,
                       AioIOHandler *io_write, AioPollFn *io_poll,
                       AioIOHandler *io_poll_ready, void *opaque);

/*
 * aio_set_fd_poll: set begin/end notifications for @fd's busy polling.
 * Home thread only.  Returns 0, -EINVAL for a NULL @ctx or a negative
 * fd, or -ENOENT.
 */
int aio_set_fd_poll(AioContext *ctx, int fd, AioPollNotify *io_poll_begin,
                    AioPollNotify *io_poll_end);

typedef void EventNotifierHandler(EventNotifier *e);

/*
 * aio_set_event_notifier: like aio_set_fd_handler() for an EventNotifier;
 * the callbacks receive @e.  All callbacks NULL removes it.  Home thread
 * only.  The handler must clear the notifier (event_notifier_test_and_clear)
 * or it fires again.  Returns as aio_set_fd_handler(); -EINVAL for a NULL
 * @ctx or @e or an @e that is not initialised.
 */
int aio_set_event_notifier(AioContext *ctx, EventNotifier *e,
                           EventNotifierHandler *io_read,
                           AioPollFn *io_poll,
                           EventNotifierHandler *io_poll_ready);

/* aio_set_event_notifier_poll: aio_set_fd_poll() for @e (-EINVAL for a
 * NULL @ctx or @e or an @e that is not initialised). */
int aio_set_event_notifier_poll(AioContext *ctx, EventNotifier *e,
                                EventNotifierHandler *io_poll_begin,
                                EventNotifierHandler *io_poll_end);

/* ------------------------------------------------------------------------
 * Bottom halves
 */

typedef void AioBHFunc(void *opaque);

/*
 * aio_bh_new: allocate a bottom half that will run @cb(@opaque) on @ctx's
 * home thread each time it is scheduled.  Thread-safe.  Returns NULL when
 * out of memory or when @ctx or @cb is NULL.  The caller owns it until
 * aio_bh_delete(), which must come before aio_context_free(@ctx).
 */
AioBH *aio_bh_new(AioContext *ctx, AioBHFunc *cb, void *opaque);

/*
 * aio_bh_schedule: run @bh once on the next aio_poll() pass of its
 * context, waking it.  Scheduling an already scheduled BH does nothing.
 * A BH scheduled from a BH runs on the next pass, so a BH that reschedules
 * itself cannot starve the loop.  Lock-free (one compare-and-swap, retried
 * only when another thread pushed in between), thread-safe and
 * async-signal-safe.  NULL does nothing.
 */
void aio_bh_schedule(AioBH *bh);

/*
 * aio_bh_schedule_idle: like aio_bh_schedule() but does not wake the loop
 * and does not count as progress; a blocked aio_poll() runs it within
 * 10 ms.  For housekeeping.  Lock-free, thread-safe, async-signal-safe.
 * NULL does nothing.
 */
void aio_bh_schedule_idle(AioBH *bh);

/*
 * aio_bh_cancel: unschedule @bh if it has not started running.  A BH that
 * another thread is about to run may still run once.  Wait-free and
 * thread-safe.  NULL does nothing.
 */
void aio_bh_cancel(AioBH *bh);

/*
 * aio_bh_delete: cancel and free @bh.  Thread-safe: the memory is freed by
 * the home thread on its next pass, never while the callback runs, so a BH
 * may delete itself.  @bh must not be used by the caller afterwards.
 * NULL does nothing.
 */
void aio_bh_delete(AioBH *bh);

/*
 * aio_bh_schedule_oneshot: run @cb(@opaque) once on @ctx's next pass; the
 * BH frees itself.  Thread-safe and lock-free but allocates, so not
 * async-signal-safe.  Returns 0, -EINVAL for a NULL @ctx or @cb, or
 * -ENOMEM.
 */
int aio_bh_schedule_oneshot(AioContext *ctx, AioBHFunc *cb, void *opaque);

/* ------------------------------------------------------------------------
 * Adaptive polling
 */

#define AIO_POLL_MAX_NS_DEFAULT 32768

/*
 * aio_context_set_poll_params: set how long @ctx busy-polls before it
 * blocks.  Thread-safe; takes effect from the next iteration.
 *
 * Each pollable source (an fd handler with io_poll, and the context's own
 * wake-up flag) has its own window, so one idle source cannot keep the
 * thread spinning; an iteration polls for the largest window.  After each
 * iteration, a source whose event took block_ns to arrive:
 *   - keeps its window when block_ns <= window;
 *   - shrinks when block_ns > @max_ns: window /= @shrink, or 0 if @shrink
 *     is 0;
 *   - otherwise grows: window *= @grow (0 means 2), from 4 us when it was
 *     0, capped at @max_ns.
 * @max_ns == 0 disables polling: not even one polling pass.  Handlers that
 * made no progress for 7 s stop being polled until their fd fires again.
 *
 * Returns 0, or -EINVAL for a negative value or a NULL @ctx.
 */
int aio_context_set_poll_params(AioContext *ctx, int64_t max_ns, int64_t grow,
                                int64_t shrink);

/* aio_context_get_poll_params: read them back (any output pointer may be
 * NULL; a NULL @ctx leaves them all untouched).  Thread-safe. */
void aio_context_get_poll_params(AioContext *ctx, int64_t *max_ns,
                                 int64_t *grow, int64_t *shrink);

/*
 * aio_context_set_aio_max_batch: store the batch limit advertised to I/O
 * engines running on @ctx (0 = engine default).  Thread-safe.  Returns 0 or
 * -EINVAL for a negative value or a NULL @ctx.
 */
int aio_context_set_aio_max_batch(AioContext *ctx, int64_t max_batch);
/* aio_context_get_aio_max_batch: read it back; -EINVAL for a NULL @ctx.
 * Thread-safe. */
int64_t aio_context_get_aio_max_batch(AioContext *ctx);

/* ------------------------------------------------------------------------
 * Counters
 */

/* AioStats and the list of counters: <iothread/aio-stats.h>. */

/* aio_context_get_stats: copy @ctx's counters into *@stats (all zero for
 * a NULL @ctx; a NULL @stats does nothing).  Thread-safe. */
void aio_context_get_stats(AioContext *ctx, AioStats *stats);

/* ------------------------------------------------------------------------
 * Embedding in another event loop
 *
 * A program built on GLib, libuv, sd-event or its own poll(2) loop can run
 * a context from that loop instead of calling aio_poll(): the outer loop
 * watches one fd and calls three functions around each of its waits, as
 * a GSource's prepare / check / dispatch do:
 *
 *     int fd = aio_context_get_fd(ctx);            once; watch it for input
 *     for (;;) {
 *         int64_t ns;
 *         aio_context_prepare(ctx, &ns);           before every wait
 *         wait for fd (and the loop's own fds), at most ns (-1: no limit)
 *         if (aio_context_check(ctx)) {            after every wait
 *             aio_context_dispatch(ctx);           runs the callbacks
 *         }
 *     }
 *     aio_context_leave(ctx);                      when it stops
 *
 * (GLib calls dispatch without check when prepare returned true; that is
 * allowed too.)  The guarantees are aio_poll()'s: from prepare until check
 * the context's wake-up protocol knows that its thread may sleep, so every
 * aio_notify(), and so every BH scheduled and timer moved from any thread,
 * makes the fd readable; a BH scheduled from a callback runs in the next
 * iteration; timers never fire early.  What an embedded context does not
 * do is busy-poll: io_poll callbacks are not called (a handler with
 * neither io_read nor io_write is never run), and the fds wait instead.
 * The counters (aio_context_get_stats()) count the BHs, fd callbacks and
 * timers that dispatch runs, but not as iterations or waits: those count
 * aio_poll() calls.
 *
 * All five functions are for the home thread only, like aio_poll().  One
 * outer loop drives a context at a time.  aio_poll(ctx, ...) may still be
 * called on the home thread while a context is embedded, including from
 * callbacks that dispatch runs and between prepare and check (e.g. from
 * another source's callback); it keeps the outer loop's wake-up armed
 * (busy polling that it leaves on ends at the next prepare, one more
 * reason to call prepare before every wait).
 * prepare / check / dispatch may nest too, as aio_poll() does: a callback
 * that iterates the outer loop (a GSource that can recurse, as QEMU's
 * does) runs them again inside a dispatch.
 */

/*
 * aio_context_get_fd: the fd an outer loop watches for @ctx: after
 * aio_context_prepare(), it is readable (POLLIN, level-triggered) while
 * the context may have work.  Watch it, never read from it or close it;
 * it is @ctx's and stays the same until aio_context_free().
 *
 * It is the fd monitor's own fd: the epoll fd, or the io_uring ring's fd.
 * poll(2) has no such fd, so a context on poll(2), even one created with
 * AIO_FDMON_POLL, moves to epoll here (aio_context_fdmon() then says so)
 * and stays there.  Home thread only.
 *
 * Returns the fd, -EINVAL for a NULL @ctx, or the error of the move to
 * epoll (e.g. -EPERM when a registered fd is a regular file, which epoll
 * cannot watch; -ENOMEM, -EMFILE); the context then stays on poll(2) and
 * aio_poll() works as before.
 */
int aio_context_get_fd(AioContext *ctx);

/*
 * aio_context_prepare: call before every wait of the outer loop.  Home
 * thread only; aio_context_get_fd() must have succeeded before (a context
 * still on poll(2) is a contract violation, see "Misuse").
 *
 * Arms the wake-up (from now until aio_context_check(), dispatch or
 * leave, aio_notify() writes the context's eventfd, making the fd
 * readable), ends busy polling that an aio_poll() left running, and has
 * the fd monitor's kernel side watch every handler.
 *
 * Stores in *@timeout_ns (if not NULL) how long the outer loop may block:
 * 0 when there is work now, -1 when only an event can end the wait, else
 * the nanoseconds until the nearest timer (or 10 ms while only idle BHs
 * wait).  Round it up to the loop's resolution (GLib counts milliseconds):
 * waking early costs an empty iteration, never an early timer.  Returns
 * true when that timeout is 0, i.e. dispatch is due without waiting.
 * False for a NULL @ctx (*@timeout_ns untouched).
 */
bool aio_context_prepare(AioContext *ctx, int64_t *timeout_ns);

/*
 * aio_context_check: call after every wait of the outer loop, whether it
 * ended by the fd, by its timeout or by something else.  Home thread
 * only.  Disarms the wake-up, accepts the notification, and collects the
 * ready fd handlers without blocking (one non-blocking look in the fd
 * monitor: a system call with epoll, a look at the completion queue with
 * io_uring).
 *
 * Returns true when aio_context_dispatch() has work: a BH is scheduled
 * (idle ones too), an fd handler is ready, or a timer has expired.  After
 * true, call aio_context_dispatch() (or aio_context_leave()) before the
 * next prepare.  False for a NULL @ctx.
 */
bool aio_context_check(AioContext *ctx);

/*
 * aio_context_dispatch: run what is due: the BHs scheduled so far, the
 * handlers aio_context_check() found, and expired timers, in aio_poll()'s
 * order.  Home thread only.  Called right after aio_context_prepare()
 * without a check (as GLib does when prepare returned true), it does the
 * check's part first.
 *
 * Returns true on progress, as aio_poll() counts it (the wake-up alone is
 * none).  False, doing nothing, for a NULL @ctx.
 */
bool aio_context_dispatch(AioContext *ctx);

/*
 * aio_context_leave: the outer loop stops driving @ctx (e.g. a GSource's
 * finalize): disarms the wake-up and drops what a check found but no
 * dispatch ran; the fds are level-triggered, so the next aio_poll() or
 * check finds them again.  The fd stays valid, and a later prepare
 * embeds the context again.  Home thread only.  Call it before
 * aio_context_free() unless the last call was a dispatch or a check that
 * returned false.  NULL does nothing.
 */
void aio_context_leave(AioContext *ctx);

#ifdef __cplusplus
}
#endif

#endif /* IOTHREAD_AIO_H */
