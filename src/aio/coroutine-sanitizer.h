/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Telling the sanitizers about coroutine switches; shared by both switch
 * back-ends (coroutine-switch-asm.c, coroutine-ucontext.c).
 *
 * Sanitizers must be told about every switch, or they take the new stack
 * for a corrupted one (ASan) or mix up the happens-before of two stacks
 * (TSan):
 *  - ASan: __sanitizer_start_switch_fiber() right before the switch (with
 *    the destination's bounds; saving our fake stack unless we leave for
 *    good), __sanitizer_finish_switch_fiber() first thing on arrival (it
 *    restores our fake stack and reports the bounds of the stack we came
 *    from: that is how a thread's own stack, the leader, learns its
 *    bounds).
 *  - TSan: one fiber per coroutine stack (__tsan_create_fiber), the
 *    thread's own fiber for the leader, and __tsan_switch_to_fiber() right
 *    before the switch.  Switching with synchronisation gives the
 *    happens-before that a real hand-off has, so races between coroutines
 *    running on two threads are still reported.
 */
#ifndef IOTHREAD_COROUTINE_SANITIZER_H
#define IOTHREAD_COROUTINE_SANITIZER_H

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

/* Leaving @from for @to; @for_good when @from will never be resumed. */
static inline void co_sanitizer_leave(CoSwitch *from, CoSwitch *to,
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

/* Arrived in @self; @from (if not NULL) is who switched to us. */
static inline void co_sanitizer_arrive(CoSwitch *self, CoSwitch *from)
{
#ifdef CO_ASAN
    const void *bottom;
    size_t size;

    __sanitizer_finish_switch_fiber(self->asan_fake_stack, &bottom, &size);
    if (from) {
        /* Only the leader needs it (its bounds are not ours to know); a
         * coroutine's are the same values. */
        from->stack_bottom = (void *)bottom;
        from->stack_size = size;
    }
#endif
    (void)self;
    (void)from;
}

/*
 * Frames that never returned (a finished coroutine's last frames) leave
 * their redzones poisoned: neither a new stack nor the next mapping at
 * this address may inherit them.
 */
static inline void co_sanitizer_forget_stack(CoSwitch *sw)
{
#ifdef CO_ASAN
    ASAN_UNPOISON_MEMORY_REGION(sw->stack_bottom, sw->stack_size);
#endif
    (void)sw;
}

/* A new coroutine stack: clean shadow, its own TSan fiber. */
static inline void co_sanitizer_init(CoSwitch *sw)
{
    sw->asan_fake_stack = NULL;
    sw->from = NULL;
#ifdef CO_TSAN
    sw->tsan_fiber = __tsan_create_fiber(0);
#endif
    co_sanitizer_forget_stack(sw);
}

/* A coroutine stack about to be unmapped. */
static inline void co_sanitizer_fini(CoSwitch *sw)
{
#ifdef CO_TSAN
    __tsan_destroy_fiber(sw->tsan_fiber);
    sw->tsan_fiber = NULL;
#endif
    co_sanitizer_forget_stack(sw);
}

static inline void co_sanitizer_leader_init(CoSwitch *sw)
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

#endif /* IOTHREAD_COROUTINE_SANITIZER_H */
