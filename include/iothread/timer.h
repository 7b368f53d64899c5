/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libiothread: timers that fire on an AioContext's home thread.
 *
 * Deadlines are absolute nanoseconds on the timer's clock.  Each context
 * keeps one min-heap per clock, so arming and cancelling cost O(log n).
 *
 * A NULL timer or other invalid argument is answered as each function
 * says, never dereferenced (see "Misuse" in <iothread/aio.h>).
 */
#ifndef IOTHREAD_TIMER_H
#define IOTHREAD_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <iothread/aio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum AioClock {
    /* CLOCK_MONOTONIC: never jumps; use it for timeouts and intervals. */
    AIO_CLOCK_MONOTONIC = 0,
    /* CLOCK_REALTIME: wall-clock time; follows settimeofday() jumps (the
     * wait is recomputed every iteration, so a jump is honoured then). */
    AIO_CLOCK_REALTIME,
    AIO_CLOCK_MAX
} AioClock;

typedef void AioTimerCB(void *opaque);

/*
 * An armed timer lives in its context's heap; the fields are private (they
 * are public only so that timers can be embedded without allocation).
 */
typedef struct AioTimer {
    AioContext *ctx;
    AioTimerCB *cb;
    void *opaque;
    int64_t expire_ns; /* protected by the context's timer lock */
    size_t heap_index; /* protected by the context's timer lock; SIZE_MAX
                          when not armed */
    AioClock clock;
} AioTimer;

/* aio_clock_now: the current time of @clock in nanoseconds; -EINVAL for a
 * @clock out of range.  Thread-safe. */
int64_t aio_clock_now(AioClock clock);

/*
 * aio_timer_init: prepare @t to call @cb(@opaque) on @ctx's home thread
 * when it expires.  Not armed.  Thread-safe (touches only @t).  NULL @t
 * does nothing; a NULL @ctx or @cb or a @clock out of range leaves @t
 * unusable: arming it returns -EINVAL.
 */
void aio_timer_init(AioTimer *t, AioContext *ctx, AioClock clock,
                    AioTimerCB *cb, void *opaque);

/* aio_timer_new: allocate and init a timer; NULL when out of memory or
 * for an argument aio_timer_init() would refuse. */
AioTimer *aio_timer_new(AioContext *ctx, AioClock clock, AioTimerCB *cb,
                        void *opaque);

/*
 * aio_timer_mod: (re-)arm @t to expire at @expire_ns on its clock (a time
 * in the past fires on the next iteration).  Thread-safe: when the new
 * deadline is the earliest, the home thread is woken to recompute its
 * wait.  A timer may re-arm itself from its own callback.
 *
 * Returns 0, -EINVAL for a NULL or unusable @t, or -ENOMEM when the heap
 * had to grow and could not (the timer is then left disarmed).
 */
int aio_timer_mod(AioTimer *t, int64_t expire_ns);

/* aio_timer_mod_in: arm @t to expire @delta_ns from now. Thread-safe.
 * Returns as aio_timer_mod(). */
int aio_timer_mod_in(AioTimer *t, int64_t delta_ns);

/*
 * aio_timer_del: disarm @t if armed.  Thread-safe.  Called on the home
 * thread, it guarantees the callback will not run; from another thread, a
 * callback that the home thread already took off the heap may still run.
 * NULL does nothing.
 */
void aio_timer_del(AioTimer *t);

/* aio_timer_pending: true while @t is armed; false for NULL.  Thread-safe. */
bool aio_timer_pending(AioTimer *t);

/* aio_timer_expire_time: the armed deadline, or -1 (also for NULL).
 * Thread-safe. */
int64_t aio_timer_expire_time(AioTimer *t);

/* aio_timer_free: disarm and free a timer from aio_timer_new(); NULL does
 * nothing. */
void aio_timer_free(AioTimer *t);

#ifdef __cplusplus
}
#endif

#endif /* IOTHREAD_TIMER_H */
