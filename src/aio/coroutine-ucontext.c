/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The portable switch back-end, for machines without coroutine-switch-asm.c
 * (or built with -DIOTHREAD_COROUTINE_UCONTEXT): ucontext to start a
 * stack once, sigsetjmp/siglongjmp for every switch after that.
 *
 * makecontext() is the portable way to run a function on a stack of our
 * own, but swapcontext() and setcontext() restore the signal mask with a
 * system call on every switch (~1 us here).  So, as QEMU's
 * coroutine-ucontext does, a new stack is entered with setcontext()
 * exactly once: its first act is to sigsetjmp() a jump buffer and jump
 * straight back.  From then on every switch is a sigsetjmp() of the side
 * we leave and a siglongjmp() to the side we enter, with savemask 0:
 * registers only, no system call.
 *
 * Sanitizers: see coroutine-sanitizer.h.  TSan's longjmp interceptor looks
 * for the jump buffer in the fiber that saved it, which is why the fiber
 * switch comes before siglongjmp().  ASan's interceptor unpoisons the
 * stack being left (it takes the jump for an unwind), so with this
 * back-end ASan loses the redzones of frames suspended across a switch;
 * the assembly back-end keeps them.
 */

/* glibc's fortified longjmp (____longjmp_chk) aborts a jump to a stack
 * below the current one unless it is the signal stack, and every switch
 * into a coroutine can look like that.  Must precede every include. */
#undef _FORTIFY_SOURCE

#include "coroutine-internal.h"

#ifndef CO_SWITCH_ASM

#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <ucontext.h>

#include "coroutine-sanitizer.h"

CoSwitchAction co_switch(CoSwitch *from, CoSwitch *to, CoSwitchAction action)
{
    to->action = action;
    to->from = from;
    if (!sigsetjmp(from->env, 0)) {
        co_sanitizer_leave(from, to, action == CO_SWITCH_EXIT);
        siglongjmp(to->env, 1);
    }
    co_sanitizer_arrive(from, from->from);
    return from->action;
}

/* What the trampoline needs, on the creator's stack for the one first
 * setcontext(). */
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

    co_sanitizer_arrive(sw, &start->creator);
    if (!sigsetjmp(sw->env, 0)) {
        /* Back to co_switch_init(); @start dies with its frame. */
        co_sanitizer_leave(sw, &start->creator, false);
        siglongjmp(start->creator.env, 1);
    }
    /* The first real switch to us. */
    co_sanitizer_arrive(sw, sw->from);
    body(sw);
    __builtin_unreachable();
}

int co_switch_init(CoSwitch *sw, void (*body)(CoSwitch *sw))
{
    ucontext_t uc;
    CoStart start = {.sw = sw, .body = body};
    uintptr_t p = (uintptr_t)&start;

    if (getcontext(&uc) < 0) {
        return -errno;
    }
    uc.uc_link = NULL; /* the trampoline never returns */
    uc.uc_stack.ss_sp = sw->stack_bottom;
    uc.uc_stack.ss_size = sw->stack_size;
    uc.uc_stack.ss_flags = 0;
    makecontext(&uc, (void (*)(void))trampoline, 2, (int)(unsigned)p,
                (int)(unsigned)(p >> 16 >> 16));

    co_sanitizer_init(sw);
    co_sanitizer_leader_init(&start.creator);
    if (!sigsetjmp(start.creator.env, 0)) {
        co_sanitizer_leave(&start.creator, sw, false);
        /* setcontext(), not swapcontext(): we come back by siglongjmp(),
         * so there is nothing to save (and ASan, which intercepts
         * swapcontext() only to warn that it cannot follow it, is told
         * about this switch by hand). */
        setcontext(&uc);
        __builtin_unreachable();
    }
    co_sanitizer_arrive(&start.creator, NULL);
    return 0;
}

void co_switch_fini(CoSwitch *sw)
{
    co_sanitizer_fini(sw);
}

void co_switch_leader_init(CoSwitch *sw)
{
    co_sanitizer_leader_init(sw);
}

#endif /* !CO_SWITCH_ASM */
