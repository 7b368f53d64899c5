/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The switch back-end for x86-64 and aarch64: a dozen instructions that
 * push the callee-saved registers on the stack being left, store its
 * stack pointer, load the other's and pop its registers.  Only what a
 * function call must preserve is saved (the caller of the switch has
 * already given up the rest), as with setjmp(): no signal mask, no system
 * call, and nothing a sanitizer intercepts and misreads as an unwind (ASan
 * unpoisons the stack it leaves on every longjmp, losing the redzones of
 * suspended frames).  The sanitizer annotations are in
 * coroutine-sanitizer.h.
 *
 * A new stack starts with a frame laid out as if it had been switched
 * away from at iothread_co_asm_start, with the trampoline and its argument
 * in two callee-saved registers and a zero frame pointer (stack walkers
 * stop there).  Other machines use coroutine-ucontext.c.
 */
#include "coroutine-internal.h"

#ifdef CO_SWITCH_ASM

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coroutine-sanitizer.h"

/* Save the callee-saved registers and the stack pointer in *@save_sp,
 * continue where @load_sp was saved. */
void iothread_co_asm_switch(void **save_sp, void *load_sp)
    __attribute__((visibility("hidden")));
/* Where a new stack starts: calls fn(arg) from the saved registers. */
void iothread_co_asm_start(void) __attribute__((visibility("hidden")));

#if defined(__x86_64__)
/* Frame, from the saved stack pointer up: r15 r14 r13 r12 rbx rbp, ret. */
enum { FRAME_WORDS = 7, FRAME_FN = 2, FRAME_ARG = 3, FRAME_RET = 6 };
__asm__(".text\n"
        ".p2align 4\n"
        ".globl iothread_co_asm_switch\n"
        ".hidden iothread_co_asm_switch\n"
        ".type iothread_co_asm_switch, @function\n"
        "iothread_co_asm_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size iothread_co_asm_switch, .-iothread_co_asm_switch\n"
        ".p2align 4\n"
        ".globl iothread_co_asm_start\n"
        ".hidden iothread_co_asm_start\n"
        ".type iothread_co_asm_start, @function\n"
        "iothread_co_asm_start:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined rip\n"
        "    movq %r12, %rdi\n"
        "    callq *%r13\n"
        "    ud2\n"
        "    .cfi_endproc\n"
        ".size iothread_co_asm_start, .-iothread_co_asm_start\n");
#elif defined(__aarch64__)
/* Frame, from the saved stack pointer up: x19..x28, x29 (fp), x30 (lr),
 * d8..d15. */
enum { FRAME_WORDS = 20, FRAME_FN = 1, FRAME_ARG = 0, FRAME_RET = 11 };
__asm__(".text\n"
        ".p2align 4\n"
        ".globl iothread_co_asm_switch\n"
        ".hidden iothread_co_asm_switch\n"
        ".type iothread_co_asm_switch, %function\n"
        "iothread_co_asm_switch:\n"
        "    sub sp, sp, #160\n"
        "    stp x19, x20, [sp, #0]\n"
        "    stp x21, x22, [sp, #16]\n"
        "    stp x23, x24, [sp, #32]\n"
        "    stp x25, x26, [sp, #48]\n"
        "    stp x27, x28, [sp, #64]\n"
        "    stp x29, x30, [sp, #80]\n"
        "    stp d8, d9, [sp, #96]\n"
        "    stp d10, d11, [sp, #112]\n"
        "    stp d12, d13, [sp, #128]\n"
        "    stp d14, d15, [sp, #144]\n"
        "    mov x9, sp\n"
        "    str x9, [x0]\n"
        "    mov sp, x1\n"
        "    ldp x19, x20, [sp, #0]\n"
        "    ldp x21, x22, [sp, #16]\n"
        "    ldp x23, x24, [sp, #32]\n"
        "    ldp x25, x26, [sp, #48]\n"
        "    ldp x27, x28, [sp, #64]\n"
        "    ldp x29, x30, [sp, #80]\n"
        "    ldp d8, d9, [sp, #96]\n"
        "    ldp d10, d11, [sp, #112]\n"
        "    ldp d12, d13, [sp, #128]\n"
        "    ldp d14, d15, [sp, #144]\n"
        "    add sp, sp, #160\n"
        "    ret\n"
        ".size iothread_co_asm_switch, .-iothread_co_asm_switch\n"
        ".p2align 4\n"
        ".globl iothread_co_asm_start\n"
        ".hidden iothread_co_asm_start\n"
        ".type iothread_co_asm_start, %function\n"
        "iothread_co_asm_start:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined x30\n"
        "    mov x0, x19\n"
        "    blr x20\n"
        "    brk #0\n"
        "    .cfi_endproc\n"
        ".size iothread_co_asm_start, .-iothread_co_asm_start\n");
#endif

CoSwitchAction co_switch(CoSwitch *from, CoSwitch *to, CoSwitchAction action)
{
    to->action = action;
    to->from = from;
    co_sanitizer_leave(from, to, action == CO_SWITCH_EXIT);
    iothread_co_asm_switch(&from->sp, to->sp);
    co_sanitizer_arrive(from, from->from);
    return from->action;
}

/* The first function on a new stack. */
static void trampoline(CoSwitch *sw)
{
    co_sanitizer_arrive(sw, sw->from);
    sw->body(sw);
    abort(); /* body never returns */
}

int co_switch_init(CoSwitch *sw, void (*body)(CoSwitch *sw))
{
    /* The ABI wants the stack 16-byte aligned at a call; the start frame
     * sits so that it is once iothread_co_asm_start calls the trampoline
     * (x86-64: the frame's 7 words end 16 bytes below the top). */
    uintptr_t top = ((uintptr_t)sw->stack_bottom + sw->stack_size) &
                    ~(uintptr_t)15;
    size_t frame_size = FRAME_WORDS * sizeof(void *);
    void **frame;

#if defined(__x86_64__)
    frame_size += sizeof(void *) + 8; /* 72: ret lands 16-aligned */
#endif
    co_sanitizer_init(sw);
    frame = (void **)(top - frame_size);
    memset(frame, 0, frame_size);
    frame[FRAME_FN] = (void *)trampoline;
    frame[FRAME_ARG] = sw;
    frame[FRAME_RET] = (void *)iothread_co_asm_start;
    sw->body = body;
    sw->sp = frame;
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

#endif /* CO_SWITCH_ASM */
