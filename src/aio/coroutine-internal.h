/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private parts of coroutines, shared by src/aio/coroutine*.c and
 * src/aio/co-*.c.
 */
#ifndef IOTHREAD_COROUTINE_INTERNAL_H
#define IOTHREAD_COROUTINE_INTERNAL_H

#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <iothread/coroutine.h>

#include "aio-internal.h"

/*
 * The switch back-end: a few lines of assembly where we have them
 * (coroutine-switch-asm.c), else ucontext + sigsetjmp/siglongjmp
 * (coroutine-ucontext.c).  Building with -DIOTHREAD_COROUTINE_UCONTEXT
 * forces the latter, to test it.
 */
#if (defined(__x86_64__) || defined(__aarch64__)) &&                          \
    !defined(IOTHREAD_COROUTINE_UCONTEXT)
#define CO_SWITCH_ASM 1
#endif

/* What a switch tells the side it switches to. */
typedef enum CoSwitchAction {
    CO_SWITCH_ENTER = 1,
    CO_SWITCH_YIELD,
    CO_SWITCH_TERMINATE,  /* the entry function returned */
    CO_SWITCH_DESTROY,    /* to a finished coroutine: leave your stack */
    CO_SWITCH_EXIT,       /* its answer: gone for good */
} CoSwitchAction;

/*
 * One execution context that can be switched away from and back to: a
 * coroutine's stack, or a thread's own stack (its "leader").  Only the
 * thread running the code on either side of a switch touches these fields
 * (a switch hands them over with the sanitizers' fiber annotations).
 */
typedef struct CoSwitch {
#ifdef CO_SWITCH_ASM
    void *sp;               /* saved stack pointer while switched out */
    void (*body)(struct CoSwitch *sw); /* what a new stack runs */
#else
    sigjmp_buf env;
#endif
    CoSwitchAction action;  /* set by whoever switches to us */
    void *stack_bottom;     /* lowest usable address; leader: from ASan */
    size_t stack_size;
    void *asan_fake_stack;  /* ASan's fake stack, saved while switched out */
    void *tsan_fiber;       /* TSan's fiber for this stack */
    struct CoSwitch *from;  /* who switched to us last (ASan bookkeeping) */
} CoSwitch;

/*
 * Switch back-end.
 *
 * co_switch_init: @sw->stack_bottom/stack_size set by the caller; make it
 * so that the first co_switch() to @sw runs @body(@sw) on that stack.
 * @body never returns.  Returns 0 or -errno.
 */
int co_switch_init(CoSwitch *sw, void (*body)(CoSwitch *sw));
/* co_switch_fini: release what co_switch_init() set up (not the stack,
 * which the caller unmaps next). */
void co_switch_fini(CoSwitch *sw);
/* co_switch: save @from, continue @to with @action; returns when some
 * other switch continues @from, with the action it was given. */
CoSwitchAction co_switch(CoSwitch *from, CoSwitch *to, CoSwitchAction action);
/* co_switch_leader_init: make @sw describe the calling thread's stack. */
void co_switch_leader_init(CoSwitch *sw);

struct Coroutine {
    CoSwitch sw;
    CoroutineEntry *entry;
    void *opaque;
    /* The coroutine or leader that entered us and that yield returns to;
     * NULL while suspended.  Home thread only. */
    CoSwitch *caller;
    /* Home context.  Written by its (new) home thread when entering after
     * a move, read by any thread (aio_co_wake). */
    _Atomic(AioContext *) ctx;
    /* Set while on some context's scheduled list (any thread, atomic
     * exchange catches double scheduling). */
    atomic_bool scheduled;
    /* Where the scheduled list is taking us; written before the push that
     * publishes the node, read by the bottom half that takes it. */
    AioContext *sched_target;
    Coroutine *sched_next;   /* the scheduled list (lock-free stack) */
    Coroutine *queue_next;   /* a CoQueue; home thread only */
    Coroutine *pool_next;    /* the owning thread's pool */
    void *map;               /* the mmap'd region, guard page first */
    size_t map_size;
};

/* co-schedule.c: the per-context list of scheduled coroutines. */
typedef struct AioCoState AioCoState;
/* The context's coroutine state, created on first use (any thread);
 * NULL when out of memory. */
AioCoState *aio_co_state(AioContext *ctx);
void aio_co_live_add(AioContext *ctx, int delta);

/* A NULL argument is answered, never dereferenced (see "Misuse" in
 * <iothread/aio.h>): return @ret (nothing, for void functions). */
#define CO_ARG_CHECK(cond, ret)                                                \
    do {                                                                       \
        if (!(cond)) {                                                         \
            return ret;                                                        \
        }                                                                      \
    } while (0)

/* coroutine.c: a broken contract: one line "libiothread: <message>" on
 * stderr, then abort(), as a failed assert() would. */
_Noreturn void co_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif /* IOTHREAD_COROUTINE_INTERNAL_H */
