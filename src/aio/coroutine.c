/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Coroutines: creation, stacks and their pool, enter, yield, termination.
 * Switching is in coroutine-ucontext.c, waking through a context in
 * co-schedule.c, the helpers in co-*.c.
 *
 * A coroutine's body runs in a loop on its stack (coroutine_body()):
 * when the entry function returns, it switches back with TERMINATE and the
 * one that entered it releases it: into the thread's pool, ready for the
 * next aio_co_create() without a new mapping or a new makecontext(), or,
 * past AIO_CO_POOL_MAX or for a non-default size, unmapped.  Before its
 * stack is unmapped, a finished coroutine is entered once more with
 * DESTROY and leaves the loop for good (EXIT), so that the sanitizers
 * free what they keep per stack (ASan's fake stack, for one) instead of
 * tracking frames that will never return.
 *
 * The pool is per thread (no lock, no shared cache line on the hot path);
 * a coroutine created on one thread and finished on another lands in the
 * second thread's pool.  A thread's pool is unmapped when the thread
 * exits (a pthread key destructor).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coroutine-internal.h"

/* Process-wide counts, for qemu_coroutine_pool_stats(). */
static _Atomic uint64_t stacks_mapped;
static _Atomic uint64_t stacks_unmapped;

typedef struct CoThread {
    CoSwitch leader;    /* this thread's own stack */
    bool leader_ready;
    Coroutine *current; /* running coroutine, NULL on the leader */
    Coroutine *pool;    /* finished default-size coroutines */
    unsigned pool_len;
    bool key_set;       /* the exit destructor is armed */
} CoThread;

static __thread CoThread co_thread;
static pthread_key_t pool_key;
static pthread_once_t pool_key_once = PTHREAD_ONCE_INIT;

_Noreturn void co_die(const char *fmt, ...)
{
    char msg[512];
    int len = snprintf(msg, sizeof(msg), "libiothread: ");
    va_list ap;

    /* One buffer, one write(2): the line is not interleaved with other
     * threads' output and no stdio lock is taken on the way to abort(). */
    va_start(ap, fmt);
    vsnprintf(msg + len, sizeof(msg) - (size_t)len - 1, fmt, ap);
    va_end(ap);
    len = (int)strlen(msg);
    msg[len++] = '\n';
    if (write(STDERR_FILENO, msg, (size_t)len) < 0) {
        /* Nothing more to try: we abort either way. */
    }
    abort();
}

/*
 * The calling thread's state.  Not inlined, and its result laundered
 * through an empty asm: a coroutine may yield on one thread and resume on
 * another, and the compiler must not reuse a thread-local address it
 * computed before the switch (QEMU learned this the hard way).
 */
static __attribute__((noinline)) CoThread *co_thread_get(void)
{
    CoThread *t = &co_thread;

    __asm__ volatile("" : "+r"(t));
    return t;
}

static CoSwitch *leader_get(CoThread *t)
{
    if (!t->leader_ready) {
        co_switch_leader_init(&t->leader);
        t->leader_ready = true;
    }
    return &t->leader;
}

static CoSwitch *current_switch(CoThread *t)
{
    return t->current ? &t->current->sw : leader_get(t);
}

/* ---- stacks ---- */

static size_t page_size(void)
{
    static size_t cached;

    if (!cached) {
        long p = sysconf(_SC_PAGESIZE);

        cached = p > 0 ? (size_t)p : 4096;
    }
    return cached;
}

static void coroutine_free(CoThread *t, Coroutine *co)
{
    if (co_switch(current_switch(t), &co->sw, CO_SWITCH_DESTROY) !=
        CO_SWITCH_EXIT) {
        co_die("coroutine %p did not exit", (void *)co);
    }
    co_switch_fini(&co->sw);
    munmap(co->map, co->map_size);
    atomic_fetch_add_explicit(&stacks_unmapped, 1, memory_order_relaxed);
    free(co);
}

static void coroutine_body(CoSwitch *sw);

static Coroutine *coroutine_alloc(size_t stack_size)
{
    size_t page = page_size();
    Coroutine *co = calloc(1, sizeof(*co));
    int ret;

    if (!co) {
        errno = ENOMEM;
        return NULL;
    }
    stack_size = (stack_size + page - 1) & ~(page - 1);
    co->map_size = stack_size + page;
    co->map = mmap(NULL, co->map_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (co->map == MAP_FAILED) {
        free(co);
        errno = ENOMEM;
        return NULL;
    }
    /* The guard: stacks grow down, into this page. */
    if (mprotect(co->map, page, PROT_NONE) < 0) {
        ret = errno;
        goto fail;
    }
    atomic_fetch_add_explicit(&stacks_mapped, 1, memory_order_relaxed);
    co->sw.stack_bottom = (char *)co->map + page;
    co->sw.stack_size = stack_size;
    ret = -co_switch_init(&co->sw, coroutine_body);
    if (ret) {
        atomic_fetch_add_explicit(&stacks_unmapped, 1, memory_order_relaxed);
        goto fail;
    }
    return co;

fail:
    munmap(co->map, co->map_size);
    free(co);
    errno = ret == ENOMEM || ret == EAGAIN ? ENOMEM : ret;
    return NULL;
}

static void pool_destructor(void *arg)
{
    CoThread *t = arg;
    Coroutine *co;

    while ((co = t->pool)) {
        t->pool = co->pool_next;
        coroutine_free(t, co);
    }
    t->pool_len = 0;
    t->key_set = false;
}

static void pool_key_create(void)
{
    /* Failure only means pools of exiting threads are not unmapped
     * (pool_put() then does not pool at all). */
    if (pthread_key_create(&pool_key, pool_destructor) != 0) {
        pool_key = (pthread_key_t)-1;
    }
}

static bool pool_put(CoThread *t, Coroutine *co)
{
    if (co->sw.stack_size != AIO_CO_STACK_SIZE_DEFAULT ||
        t->pool_len >= AIO_CO_POOL_MAX) {
        return false;
    }
    if (!t->key_set) {
        pthread_once(&pool_key_once, pool_key_create);
        if (pool_key == (pthread_key_t)-1 ||
            pthread_setspecific(pool_key, t) != 0) {
            return false;
        }
        t->key_set = true;
    }
    co->pool_next = t->pool;
    t->pool = co;
    t->pool_len++;
    return true;
}

static Coroutine *pool_get(CoThread *t, size_t stack_size)
{
    Coroutine *co = t->pool;

    if (stack_size != AIO_CO_STACK_SIZE_DEFAULT || !co) {
        return NULL;
    }
    t->pool = co->pool_next;
    t->pool_len--;
    return co;
}

void qemu_coroutine_pool_drain(void)
{
    CoThread *t = co_thread_get();

    if (t->current) {
        co_die("qemu_coroutine_pool_drain called from a coroutine");
    }
    pool_destructor(t);
    if (pool_key != (pthread_key_t)-1 && pthread_getspecific(pool_key)) {
        pthread_setspecific(pool_key, NULL);
    }
}

void qemu_coroutine_pool_stats(CoroutinePoolStats *s)
{
    CO_ARG_CHECK(s, );
    s->stacks_mapped = atomic_load_explicit(&stacks_mapped,
                                            memory_order_relaxed);
    s->stacks_unmapped = atomic_load_explicit(&stacks_unmapped,
                                              memory_order_relaxed);
    s->pool_len = co_thread_get()->pool_len;
}

/* ---- life cycle ---- */

Coroutine *aio_co_create(AioContext *ctx, CoroutineEntry *entry,
                         void *opaque, size_t stack_size)
{
    CoThread *t = co_thread_get();
    Coroutine *co;

    if (!ctx || !entry) {
        errno = EINVAL;
        return NULL;
    }
    if (stack_size == 0) {
        stack_size = AIO_CO_STACK_SIZE_DEFAULT;
    } else if (stack_size < AIO_CO_STACK_SIZE_MIN ||
               stack_size > AIO_CO_STACK_SIZE_MAX) {
        errno = EINVAL;
        return NULL;
    }
    /* The context's scheduled list and live count come first: failing
     * after taking a stack would need an undo. */
    if (!aio_co_state(ctx)) {
        errno = ENOMEM;
        return NULL;
    }
    co = pool_get(t, stack_size);
    if (!co) {
        co = coroutine_alloc(stack_size);
        if (!co) {
            return NULL;
        }
    }
    co->entry = entry;
    co->opaque = opaque;
    co->caller = NULL;
    co->sched_next = NULL;
    co->queue_next = NULL;
    co->pool_next = NULL;
    atomic_store_explicit(&co->scheduled, false, memory_order_relaxed);
    /* Published to other threads by whatever hands them @co (the
     * scheduled list's push, or the caller's own synchronisation). */
    atomic_store_explicit(&co->ctx, ctx, memory_order_relaxed);
    aio_co_live_add(ctx, 1);
    return co;
}

/* Runs on the coroutine's stack, forever: one iteration per use. */
static void coroutine_body(CoSwitch *sw)
{
    Coroutine *co = (Coroutine *)sw; /* sw is the first member */

    do {
        co->entry(co->opaque);
    } while (co_switch(sw, co->caller, CO_SWITCH_TERMINATE) ==
             CO_SWITCH_ENTER);
    /* DESTROY, from coroutine_free(). */
    co_switch(sw, sw->from, CO_SWITCH_EXIT);
    __builtin_unreachable();
}

/* @co returned from its entry: give it back, on the thread it ran on. */
static void coroutine_release(CoThread *t, Coroutine *co)
{
    aio_co_live_add(atomic_load_explicit(&co->ctx, memory_order_relaxed),
                    -1);
    co->caller = NULL;
    if (!pool_put(t, co)) {
        coroutine_free(t, co);
    }
}

void qemu_coroutine_enter(Coroutine *co)
{
    CoThread *t = co_thread_get();
    Coroutine *self = t->current;
    CoSwitch *from = current_switch(t);
    AioContext *ctx;

    CO_ARG_CHECK(co, );
    ctx = atomic_load_explicit(&co->ctx, memory_order_relaxed);
    if (co->caller || co == self) {
        co_die("coroutine %p entered while it is running", (void *)co);
    }
    if (atomic_load_explicit(&co->scheduled, memory_order_relaxed)) {
        co_die("coroutine %p entered while it is scheduled", (void *)co);
    }
    if (!aio_context_in_home_thread(ctx)) {
        co_die("coroutine %p entered outside its context's home thread",
               (void *)co);
    }
    co->caller = from;
    t->current = co;
    if (co_switch(from, &co->sw, CO_SWITCH_ENTER) == CO_SWITCH_TERMINATE) {
        /* Same thread as before the switch: @co runs only here. */
        t->current = self;
        coroutine_release(t, co);
        return;
    }
    t->current = self;
}

void qemu_coroutine_yield(void)
{
    CoThread *t = co_thread_get();
    Coroutine *self = t->current;
    CoSwitch *to;

    if (!self) {
        co_die("qemu_coroutine_yield called outside a coroutine");
    }
    to = self->caller;
    self->caller = NULL;
    co_switch(&self->sw, to, CO_SWITCH_YIELD);
    /* Resumed, perhaps on another thread: @t must not be used here. */
}

Coroutine *qemu_coroutine_self(void)
{
    return co_thread_get()->current;
}

bool qemu_in_coroutine(void)
{
    return co_thread_get()->current != NULL;
}

AioContext *aio_co_get_context(Coroutine *co)
{
    CO_ARG_CHECK(co, NULL);
    return atomic_load_explicit(&co->ctx, memory_order_acquire);
}
