/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CoQueue and CoMutex: ordering between the coroutines of one context.
 *
 * Both are plain FIFO lists touched only by the home thread, so they need
 * no atomics.  A woken coroutine is resumed through aio_co_wake(): from a
 * coroutine that means on the context's next pass, after the waker has
 * yielded, so a wake never runs another coroutine inside the waker.
 */
#include "coroutine-internal.h"

void qemu_co_queue_init(CoQueue *q)
{
    CO_ARG_CHECK(q, );
    q->head = NULL;
    q->tailp = &q->head;
}

static void queue_push(CoQueue *q, Coroutine *co)
{
    co->queue_next = NULL;
    *q->tailp = co;
    q->tailp = &co->queue_next;
}

static Coroutine *queue_pop(CoQueue *q)
{
    Coroutine *co = q->head;

    if (co) {
        q->head = co->queue_next;
        if (!q->head) {
            q->tailp = &q->head;
        }
        co->queue_next = NULL;
    }
    return co;
}

bool qemu_co_queue_empty(const CoQueue *q)
{
    return !q || q->head == NULL;
}

void qemu_co_queue_wait(CoQueue *q, CoMutex *m)
{
    Coroutine *self = qemu_coroutine_self();

    if (!self) {
        co_die("qemu_co_queue_wait called outside a coroutine");
    }
    CO_ARG_CHECK(q, );
    queue_push(q, self);
    if (m) {
        qemu_co_mutex_unlock(m);
    }
    qemu_coroutine_yield();
    if (m) {
        qemu_co_mutex_lock(m);
    }
}

bool qemu_co_queue_next(CoQueue *q)
{
    Coroutine *co;

    CO_ARG_CHECK(q, false);
    co = queue_pop(q);
    if (co) {
        aio_co_wake(co);
    }
    return co != NULL;
}

unsigned qemu_co_queue_restart_all(CoQueue *q)
{
    /* Take the whole list first: outside a coroutine each wake runs the
     * waiter at once, and it may wait on @q again. */
    CoQueue taken;
    unsigned n = 0;

    CO_ARG_CHECK(q, 0);
    taken = *q;
    if (!taken.head) {
        return 0;
    }
    qemu_co_queue_init(q);
    taken.tailp = NULL; /* not pushed to again */
    while (taken.head) {
        Coroutine *co = taken.head;

        taken.head = co->queue_next;
        co->queue_next = NULL;
        aio_co_wake(co);
        n++;
    }
    return n;
}

void qemu_co_mutex_init(CoMutex *m)
{
    CO_ARG_CHECK(m, );
    m->holder = NULL;
    qemu_co_queue_init(&m->waiters);
}

static Coroutine *mutex_self(const char *who)
{
    Coroutine *self = qemu_coroutine_self();

    if (!self) {
        co_die("%s called outside a coroutine", who);
    }
    return self;
}

bool qemu_co_mutex_trylock(CoMutex *m)
{
    Coroutine *self = mutex_self("qemu_co_mutex_trylock");

    CO_ARG_CHECK(m, false);
    if (m->holder) {
        return false;
    }
    m->holder = self;
    return true;
}

void qemu_co_mutex_lock(CoMutex *m)
{
    Coroutine *self = mutex_self("qemu_co_mutex_lock");

    CO_ARG_CHECK(m, );
    if (m->holder == self) {
        co_die("qemu_co_mutex_lock: CoMutex %p already held by the caller",
               (void *)m);
    }
    if (!m->holder) {
        m->holder = self;
        return;
    }
    queue_push(&m->waiters, self);
    qemu_coroutine_yield();
    /* qemu_co_mutex_unlock() made us the holder before waking us. */
}

void qemu_co_mutex_unlock(CoMutex *m)
{
    Coroutine *self = mutex_self("qemu_co_mutex_unlock");
    Coroutine *next;

    CO_ARG_CHECK(m, );
    if (m->holder != self) {
        co_die("qemu_co_mutex_unlock: CoMutex %p not held by the caller",
               (void *)m);
    }
    /* Hand-off: the longest waiter owns it before it even runs, so a
     * coroutine that unlocks and locks again queues behind it (fair). */
    next = queue_pop(&m->waiters);
    m->holder = next;
    if (next) {
        aio_co_wake(next);
    }
}
