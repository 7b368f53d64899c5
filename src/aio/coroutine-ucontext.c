/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Switching between coroutine stacks: ucontext to start a stack once,
 * sigsetjmp/siglongjmp for every switch after that.
 *
 * makecontext() is the portable way to run a function on a stack of our
 * own, but swapcontext() saves and restores the signal mask with a system
 * call on every switch (~1 us here).  So, as QEMU's coroutine-ucontext
 * does, a new stack is entered with swapcontext() exactly once: its first
 * act is to sigsetjmp() a jump buffer and jump straight back.  From then
 * on every switch is a sigsetjmp() of the side we leave and a siglongjmp()
 * to the side we enter, with savemask 0: registers only, no system call.
 * A finished coroutine's stack is not unwound: the body loops, so a pooled
 * coroutine is reused without another makecontext().
 *
 * Sanitizers must be told about every switch, or they take the new stack
 * for a corrupted one (ASan) or mix up the happens-before of two stacks
 * (TSan):
 *  - ASan: __sanitizer_start_switch_fiber() right before the jump (with
 *    the destination's bounds; saving our fake stack unless we leave for
 *    good), __sanitizer_finish_switch_fiber() first thing on arrival (which
 *    restores our fake stack and reports the bounds of the stack we came
 *    from: that is how a thread's own stack, the leader, learns its
 *    bounds).
 *  - TSan: one fiber per coroutine stack (__tsan_create_fiber), the
 *    thread's own fiber for the leader, and __tsan_switch_to_fiber() right
 *    before the jump.  Switching with synchronisation gives the
 *    happens-before a real hand-off has, so races between two coroutines
 *    on two threads are still reported, but the switch itself is not one.
 *    TSan's longjmp interceptor finds the jump buffer in the fiber it was
 *    saved in, which is why the fiber switch comes before siglongjmp().
 */

/* glibc's fortified longjmp (____longjmp_chk) aborts a jump to a stack
 * below the current one unless it is the signal stack, and every switch
 * into a coroutine can look like that.  Must precede every include. */
#undef _FORTIFY_SOURCE

#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <ucontext.h>

#include "coroutine-internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define CO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CO_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define CO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CO_TSAN 1
#endif
#endif

#ifdef CO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef CO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* Leaving @from for @to; @for_good when @from will not be resumed in its
 * current frames (the coroutine finished). */
static inline void sanitizer_leave(CoSwitch *from, CoSwitch *to,
                                   bool for_good)
{
#ifdef CO_ASAN
    if (for_good) {
        from->asan_fake_stack = NULL;
    }
    __sanitizer_start_switch_fiber(for_good ? NULL : &from->asan_fake_stack,
                                   to->stack_bottom, to->stack_size);
#endif
#ifdef CO_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    (void)from;
    (void)to;
    (void)for_good;
}

/* Arrived in @self, from whichever CoSwitch switched to us. */
static inline void sanitizer_arrive(CoSwitch *self, CoSwitch *from)
{
#ifdef CO_ASAN
    const void *bottom;
    size_t size;

    __sanitizer_finish_switch_fiber(self->asan_fake_stack, &bottom, &size);
    if (from) {
        /* Only the leader needs it (its bounds are not ours to know);
         * a coroutine's are the same values. */
        from->stack_bottom = (void *)bottom;
        from->stack_size = size;
    }
#endif
    (void)self;
    (void)from;
}

CoSwitchAction co_switch(CoSwitch *from, CoSwitch *to, CoSwitchAction action)
{
    to->action = action;
    to->from = from;
    if (!sigsetjmp(from->env, 0)) {
        sanitizer_leave(from, to, action == CO_SWITCH_TERMINATE);
        siglongjmp(to->env, 1);
    }
    sanitizer_arrive(from, from->from);
    return from->action;
}

/* What the trampoline needs, on the creator's stack for the one first
 * swapcontext(). */
typedef struct CoStart {
    CoSwitch *sw;
    void (*body)(CoSwitch *sw);
    CoSwitch creator; /* to jump back to: env, stack bounds, fiber */
} CoStart;

/* makecontext() passes int arguments only: the pointer comes in halves. */
static void trampoline(int lo, int hi)
{
    uintptr_t p = (uintptr_t)(unsigned)lo |
                  ((uintptr_t)(unsigned)hi << 16 << 16);
    CoStart *start = (CoStart *)p;
    CoSwitch *sw = start->sw;
    void (*body)(CoSwitch *) = start->body;

    sanitizer_arrive(sw, &start->creator);
    if (!sigsetjmp(sw->env, 0)) {
        /* Back to co_switch_init(); @start dies with its frame. */
        sanitizer_leave(sw, &start->creator, false);
        siglongjmp(start->creator.env, 1);
    }
    /* The first real switch to us. */
    sanitizer_arrive(sw, sw->from);
    body(sw);
    __builtin_unreachable();
}

int co_switch_init(CoSwitch *sw, void (*body)(CoSwitch *sw))
{
    ucontext_t uc, old_uc;
    CoStart start = {.sw = sw, .body = body};
    uintptr_t p = (uintptr_t)&start;

    if (getcontext(&uc) < 0) {
        return -errno;
    }
    uc.uc_link = &old_uc;
    uc.uc_stack.ss_sp = sw->stack_bottom;
    uc.uc_stack.ss_size = sw->stack_size;
    uc.uc_stack.ss_flags = 0;
    makecontext(&uc, (void (*)(void))trampoline, 2, (int)(unsigned)p,
                (int)(unsigned)(p >> 16 >> 16));

#ifdef CO_TSAN
    sw->tsan_fiber = __tsan_create_fiber(0);
    start.creator.tsan_fiber = __tsan_get_current_fiber();
#endif
    sw->asan_fake_stack = NULL;
    if (!sigsetjmp(start.creator.env, 0)) {
        sanitizer_leave(&start.creator, sw, false);
        swapcontext(&old_uc, &uc);
        /* Not reached: the trampoline comes back with siglongjmp(). */
    }
    sanitizer_arrive(&start.creator, NULL);
    return 0;
}

void co_switch_fini(CoSwitch *sw)
{
#ifdef CO_TSAN
    __tsan_destroy_fiber(sw->tsan_fiber);
    sw->tsan_fiber = NULL;
#endif
    (void)sw;
}

void co_switch_leader_init(CoSwitch *sw)
{
    /* Bounds come from ASan when a coroutine we entered arrives. */
    sw->stack_bottom = NULL;
    sw->stack_size = 0;
    sw->asan_fake_stack = NULL;
    sw->from = NULL;
#ifdef CO_TSAN
    sw->tsan_fiber = __tsan_get_current_fiber();
#endif
}

void co_switch_forget_stack(void *bottom, size_t size)
{
#ifdef CO_ASAN
    /* Frames that never returned leave their redzones poisoned; the next
     * mapping at this address must not inherit them. */
    ASAN_UNPOISON_MEMORY_REGION(bottom, size);
#endif
    (void)bottom;
    (void)size;
}
