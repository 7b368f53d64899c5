/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private structures of the AioContext.  Only src/aio/ includes this.
 */
#ifndef IOTHREAD_AIO_INTERNAL_H
#define IOTHREAD_AIO_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <iothread/aio.h>
#include <iothread/event-notifier.h>
#include <iothread/timer.h>

#include "list.h"

#define NS_PER_SEC 1000000000LL

/* Poll windows start here when they first grow from 0. */
#define AIO_POLL_START_NS 4000
/* A pollable handler that made no progress this long is no longer polled. */
#define AIO_POLL_IDLE_NS (7 * NS_PER_SEC)
/* With only idle BHs pending, a blocking wait lasts at most this long. */
#define AIO_IDLE_BH_TIMEOUT_NS (10 * 1000 * 1000)
/* An AUTO context on poll(2) upgrades to epoll past this many fds. */
#define AIO_POLL_UPGRADE_THRESHOLD 64

typedef struct AioHandler AioHandler;
typedef struct FdmonOps FdmonOps;
typedef struct ThreadPool ThreadPool;

LIST_HEAD_DECLARE(AioHandlerList, AioHandler);

/* Adaptive polling state of one source; home thread only. */
typedef struct AioPollState {
    int64_t ns;            /* current window */
} AioPollState;

/*
 * One watched fd.  Created and changed only on the home thread; all fields
 * are home-thread only except where an fd monitor says otherwise.
 */
struct AioHandler {
    int fd;
    unsigned events;  /* POLLIN / POLLOUT currently requested */
    unsigned revents; /* set by the fd monitor when put on a ready list */
    AioIOHandler *io_read;
    AioIOHandler *io_write;
    AioPollFn *io_poll;
    AioIOHandler *io_poll_ready;
    AioPollNotify *io_poll_begin;
    AioPollNotify *io_poll_end;
    void *opaque;

    /* For event notifiers the callbacks above are trampolines (opaque is
     * the node) calling these with the EventNotifier. */
    EventNotifier *en;
    EventNotifierHandler *en_read;
    AioPollFn *en_poll;
    EventNotifierHandler *en_poll_ready;
    EventNotifierHandler *en_poll_begin;
    EventNotifierHandler *en_poll_end;

    bool deleted;   /* removed while being walked; freed when nobody walks */
    bool internal;  /* the context's own wake-up notifier: not progress */
    bool poll_ready; /* on the ready list because io_poll() returned true */
    bool poll_idle;  /* dropped from polling after AIO_POLL_IDLE_NS */
    bool polling;    /* io_poll_begin() called, io_poll_end() not yet */
    AioPollState poll;
    int64_t poll_idle_deadline; /* 0 = not counting */

    LIST_ENTRY(AioHandler) node;         /* ctx->handlers */
    LIST_ENTRY(AioHandler) node_ready;   /* a ready list */
    LIST_ENTRY(AioHandler) node_poll;    /* ctx->poll_handlers */
    LIST_ENTRY(AioHandler) node_deleted; /* ctx->deleted_handlers */

    /* fd monitor private data */
    int pfd_index;    /* poll: index in the pollfd array, -1 if none */
    void *uring_poll; /* io_uring: the live one-shot poll's token or NULL */
    LIST_ENTRY(AioHandler) uring_rearm; /* io_uring: fired, re-arm at wait */
};

/*
 * A back-end that waits for fds (one file each: fdmon-poll.c,
 * fdmon-epoll.c, fdmon-io-uring.c).  All ops run on the home thread.
 */
struct FdmonOps {
    AioFdmon kind;
    /* Set up ctx->fdmon_state.  Returns 0 or -errno (nothing to undo). */
    int (*init)(AioContext *ctx);
    /* Tear down ctx->fdmon_state.  Handlers may still be registered. */
    void (*fini)(AioContext *ctx);
    /*
     * @node was added, changed (node->events is the new mask, @old_events
     * the previous one), or removed (node->deleted set, node->events 0).
     * Returns 0 or -errno; on failure the back-end's view is unchanged.
     */
    int (*update)(AioContext *ctx, AioHandler *node, unsigned old_events);
    /*
     * Wait up to @timeout_ns (-1: forever, 0: don't block) for fds, and
     * add each ready node with aio_add_ready_handler().  Returns the number
     * added, or -errno (-EINTR counts as 0).
     */
    int (*wait)(AioContext *ctx, AioHandlerList *ready, int64_t timeout_ns);
    /*
     * Optional: true when wait() has work that needs no blocking,
     * checked without a system call (io_uring: completions to reap or
     * requests queued in the ring to submit).  Lets the polling loop
     * notice fd events, and makes aio_poll() call wait() even when
     * polling found work, so that nothing queued is left behind.
     */
    bool (*peek)(AioContext *ctx);
    /*
     * Optional, for an outer loop (aio-embed.c): one fd that is readable
     * whenever wait() would find something.  NULL when the back-end has
     * no such fd (poll(2)); aio_context_get_fd() then moves to epoll.
     */
    int (*get_fd)(AioContext *ctx);
    /*
     * Optional: before an outer loop blocks on get_fd(), or aio_poll()
     * busy-polls, make the kernel cover every handler and request
     * (io_uring: re-arm fired polls and submit what is queued, which
     * wait() would otherwise do on its way in): a completion can only
     * be seen for what was submitted.
     */
    void (*flush)(AioContext *ctx);
};

extern const FdmonOps fdmon_poll_ops;
extern const FdmonOps fdmon_epoll_ops;
extern const FdmonOps fdmon_io_uring_ops;

/* Put @node on @ready with @revents (removing it from any other ready list,
 * as a nested aio_poll may find a node the outer one has not dispatched). */
void aio_add_ready_handler(AioHandlerList *ready, AioHandler *node,
                           unsigned revents);

/*
 * Replace poll(2) by epoll on @ctx, re-registering every live handler.
 * Called by fdmon-poll when an AUTO context passes the threshold.  Returns
 * 0 or -errno (then the context stays on poll).
 */
int aio_fdmon_upgrade_to_epoll(AioContext *ctx);

/* A slice of bottom halves taken off the queue by one aio_bh_poll() call;
 * lives on that call's stack.  Home thread only. */
typedef struct BHSlice {
    AioBH *head;
    AioBH **tailp;
    SIMPLEQ_ENTRY(BHSlice) next;
} BHSlice;

SIMPLEQ_HEAD_DECLARE(BHSliceList, BHSlice);

/* A min-heap of armed timers of one clock; under ctx->timer_lock. */
typedef struct TimerHeap {
    AioTimer **items;
    size_t len;
    size_t cap;
} TimerHeap;

#define CACHELINE 64

struct AioContext {
    /*
     * ---- Written by any thread: the wake-up protocol ----
     *
     * notify_me: 2 while the home thread may block in the fd monitor
     *   (between the end of busy polling and the return of the wait), else
     *   notify_me_base: 1 while an outer loop may block on the context's
     *   fd (from aio_context_prepare() to its check, aio-embed.c), else 0.
     *   Only the home thread writes it.
     * notified: set by aio_notify(); cleared by the home thread in
     *   aio_notify_accept() right after its wait, before it runs BHs,
     *   handlers and timers.
     *
     * Invariant: when any thread has made work available (queued a BH,
     * armed a timer) and then called aio_notify(), the home thread will
     * look at that work without blocking indefinitely first.
     *
     * Why it holds (a Dekker pair, both sides seq_cst):
     *   notifier:  publish work; notified = true;  read notify_me
     *   home:      notify_me = 2;                 read notified
     * At least one side sees the other's store.  Either the notifier sees
     * notify_me == 2 and writes the eventfd, which ends the wait; or the
     * home thread sees notified == true and does not block.  Embedded,
     * aio_context_prepare() is the home side with notify_me = 1, and the
     * outer loop's wait on the fd monitor's fd takes the place of the
     * fd monitor's wait: the eventfd is one of the fds that the monitor
     * watches, so its write makes that fd readable too.
     *
     * Coalescing: a notifier that finds notified already true returns at
     * once.  This is safe because whoever set it has already taken
     * responsibility for the wake-up, and notified stays true until the
     * home thread's accept, which is followed by a full look at all work
     * (the seq_cst order puts our publish before our load, and our load
     * before the clearing store, so the home thread's next look sees our
     * work).  Hence at most one eventfd write per iteration.
     *
     * notify_me is raised only *after* busy polling: while the home
     * thread spins it reads notified itself, so producers need no
     * syscall.  Asking "is the home thread dispatching?" instead of "may
     * it be blocking?" loses wake-ups (QEMU 2015); tests/model/ checks
     * this protocol with spin.
     */
    alignas(CACHELINE) atomic_bool notified;
    atomic_int notify_me;
    /* Scheduled BHs, newest first: producers push with a compare-and-swap,
     * the home thread takes them all with one exchange (see bh.c).  On the
     * line of notified, which a producer writes next anyway. */
    _Atomic(AioBH *) bh_head;
    /* Counters bumped by notifiers (any thread, relaxed atomic add); kept on
     * this line, which a notifier has just written anyway. */
    _Atomic uint64_t stat_notify_writes;
    _Atomic uint64_t stat_notify_skipped;

    /* ---- Home thread only (except where noted) ---- */
    alignas(CACHELINE) BHSliceList bh_slices;

    /* Embedding (aio-embed.c): notify_me's value outside aio_poll()'s
     * wait; the fd handlers aio_context_check() found for the dispatch;
     * whether embedding holds one count of walkers for them. */
    int notify_me_base;
    AioHandlerList embed_ready;
    bool embed_walking;

    pthread_t home;          /* written by new/claim, read by assertions */
    EventNotifier notifier;  /* the wake-up eventfd */
    AioHandler *notifier_handler;

    const FdmonOps *fdmon;
    void *fdmon_state;
    bool fdmon_may_upgrade;   /* AUTO fell back to poll(2) */
    _Atomic int fdmon_kind;   /* AioFdmon in use; read by any thread */

    AioHandlerList handlers;
    AioHandlerList poll_handlers;    /* handlers with io_poll, not idle */
    AioHandlerList deleted_handlers; /* waiting for walkers == 0 */
    unsigned walkers;                /* depth of nested handler walks */
    unsigned nonpoll_handlers;       /* live handlers not in poll_handlers */
    unsigned nr_handlers;            /* live handlers, the notifier too */
    bool poll_started;

    /* Polling parameters: any thread writes, the loop reads (relaxed;
     * a mix of old and new values for one iteration is harmless). */
    _Atomic int64_t poll_max_ns;
    _Atomic int64_t poll_grow;
    _Atomic int64_t poll_shrink;
    _Atomic int64_t aio_max_batch;
    AioPollState notify_poll; /* the wake-up flag's own window */

    /* Timers: heaps protected by timer_lock (any thread arms). */
    pthread_mutex_t timer_lock;
    TimerHeap timers[AIO_CLOCK_MAX];
    /* Each heap's earliest deadline (INT64_MAX when empty), written under
     * timer_lock, read by the home thread without it to skip the lock. */
    _Atomic int64_t timer_earliest[AIO_CLOCK_MAX];

    /* BHs from aio_bh_new() not yet passed to aio_bh_delete(); any thread
     * adds and subtracts (relaxed: only aio_context_free() reads it, after
     * every other thread's call on the context has returned).  Away from
     * the counters, which the home thread writes every iteration. */
    _Atomic unsigned long bh_live;

    /* Thread pool, created on first use; pointer set under pool_lock. */
    pthread_mutex_t pool_lock;
    ThreadPool *pool;

    /* Coroutines (co-schedule.c): created on first use by any thread with
     * a compare-and-swap, freed by aio_co_context_fini(). */
    _Atomic(struct AioCoState *) co_state;
    /* The I/O engine's state (io-engine.c), made by the first request;
     * home thread only. */
    struct AioIoState *io_state;

    /* Counters: written by the home thread only (relaxed load + store, no
     * locked instruction), read by anyone.  Each entry of
     * AIO_STATS_FOREACH (<iothread/aio-stats.h>) has its stat_<field>
     * here or, if any thread bumps it, on the first cache line above;
     * aio_context_get_stats() does not compile when one is missing. */
    _Atomic uint64_t stat_iterations;
    _Atomic uint64_t stat_blocking_waits;
    _Atomic uint64_t stat_poll_passes;
    _Atomic uint64_t stat_poll_hits;
    _Atomic uint64_t stat_poll_misses;
    _Atomic uint64_t stat_poll_ns;
    _Atomic uint64_t stat_bh_runs;
    _Atomic uint64_t stat_fd_dispatches;
    _Atomic uint64_t stat_timers_fired;
    /* The I/O engine's (io-engine*.c), home thread too. */
    _Atomic uint64_t stat_io_submitted;
    _Atomic uint64_t stat_io_completed;
    _Atomic uint64_t stat_io_in_flight;
    _Atomic uint64_t stat_io_uring_enters;
};

/* Single-writer counter bump: no locked instruction on the hot path. */
static inline void stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c,
                          atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void stat_set(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

void aio_assert_home(AioContext *ctx);

/*
 * The API's edge, in the manner of sd-event's assert_return(): a NULL or
 * otherwise invalid argument makes a public function return @ret (leave it
 * empty in a void function) instead of crashing further in.  Only for what
 * the public header documents as an invalid argument; broken invariants of
 * the caller's contract go to aio_contract_fail().
 */
#define ARG_CHECK(cond, ret)                                                   \
    do {                                                                       \
        if (__builtin_expect(!(cond), 0)) {                                    \
            return ret;                                                        \
        }                                                                      \
    } while (0)

/*
 * The caller broke a rule that no return value can report (see "Misuse"
 * in <iothread/aio.h>): as a failed assert() does, write one line
 * "libiothread: <message>" to stderr and abort().  This is the only output
 * the library ever writes.  Callers check only when NDEBUG is undefined
 * (the default build), exactly as assert() would.
 */
__attribute__((noreturn, cold, format(printf, 1, 2)))
void aio_contract_fail(const char *fmt, ...);

/* handlers.c: put @node on or off ctx->poll_handlers according to its
 * io_poll, poll_idle and deleted fields, telling it with begin/end. */
void aio_handler_update_poll(AioContext *ctx, AioHandler *node);
/* handlers.c: free nodes removed while the loop walked (walkers == 0). */
void aio_free_deleted_handlers(AioContext *ctx);

/* aio-poll.c: the steps of aio_poll() that aio-embed.c shares. */
/* The wait's timeout: 0 if a BH is pending, else the nearest of the idle
 * BH timeout and the timers' deadlines, -1 for none. */
int64_t aio_compute_timeout(AioContext *ctx);
/* End busy polling if aio_poll() left it on, telling the handlers; puts
 * those whose last look found work on @ready.  True if any did. */
bool aio_poll_stop_polling(AioContext *ctx, AioHandlerList *ready);
/* Clear ctx->notified after a wait, before anything runs. */
bool aio_notify_accept(AioContext *ctx);

/*
 * The fd monitor's wait will not block any more in this iteration (its
 * system call has returned, or it found completions without one): lower
 * notify_me to what it is outside the wait, as aio_poll() does after it,
 * before the wait reaps.  A notification from then on (the I/O engine's
 * completion BH, scheduled by the reaping itself, or another thread) sets
 * ctx->notified without an eventfd write: the home thread accepts it and
 * looks at all work before it can block again (aio-internal.h's protocol;
 * the store is the one aio_poll() makes, only earlier).  Home thread.
 */
static inline void aio_wait_returned(AioContext *ctx)
{
    atomic_store_explicit(&ctx->notify_me, ctx->notify_me_base,
                          memory_order_release);
}
/* Run BHs, the handlers on @ready and expired timers, and end the handler
 * walk that the caller began with ctx->walkers++.  True on progress. */
bool aio_dispatch_pass(AioContext *ctx, AioHandlerList *ready);

/* bh.c */
void aio_bh_queue_init(AioContext *ctx);
/* Run the BHs scheduled so far (one slice).  Returns true on progress. */
bool aio_bh_poll(AioContext *ctx);
/* 0 if a BH is pending, AIO_IDLE_BH_TIMEOUT_NS if only idle ones, else -1.*/
int64_t aio_bh_timeout(AioContext *ctx);
/* Free every queued BH without running it (context teardown). */
void aio_bh_drain_for_free(AioContext *ctx);

/* timer.c */
int aio_timers_init(AioContext *ctx);
void aio_timers_fini(AioContext *ctx);
/* Nanoseconds until the earliest deadline, 0 if expired, -1 if none. */
int64_t aio_timers_timeout(AioContext *ctx);
/* Fire expired timers.  Returns true if any callback ran. */
bool aio_timers_run(AioContext *ctx);

/* thread-pool.c */
void aio_thread_pool_free(AioContext *ctx);

/* co-schedule.c: aborts, naming the count, if coroutines whose home is
 * @ctx are still alive; else frees the context's coroutine state. */
void aio_co_context_fini(AioContext *ctx);

/* fdmon-io-uring.c: the context's ring, or NULL on another back-end. */
struct io_uring *aio_fdmon_io_uring_ring(AioContext *ctx);
/* io-engine-uring.c: a completion of the engine's (@user_data without
 * its tag bit), reaped by the fd monitor; queued, run by the engine's BH. */
void aio_io_uring_complete(AioContext *ctx, uint64_t user_data, int32_t res);
/* io-engine-uring.c: the fd monitor made an io_uring_enter() that
 * submitted the ring's queue, perhaps with the engine's requests in it
 * (counted in io_uring_enters if so). */
void aio_io_uring_entered(AioContext *ctx);
/* io-engine.c: wait for the engine's requests in the kernel (they write
 * into the caller's buffers), drop the rest without callbacks, free the
 * state. */
void aio_io_engine_fini(AioContext *ctx);

/* clock helpers */
int64_t aio_now_ns(void); /* CLOCK_MONOTONIC */

/* A relative timeout in ns (>= 0) as the struct the system calls take. */
#define AIO_NS_TO_TIMESPEC(ts, ns)                                             \
    do {                                                                       \
        (ts)->tv_sec = (ns) / NS_PER_SEC;                                      \
        (ts)->tv_nsec = (ns) % NS_PER_SEC;                                     \
    } while (0)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#endif
}

#endif /* IOTHREAD_AIO_INTERNAL_H */
