/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hello-iothread: the smallest complete use of libiothread.
 *
 * Starts an IOThread, hands it work from the main thread as bottom halves
 * and a timer, waits for all of it, prints what ran where, and stops the
 * thread.  Every call the example makes is one an embedding program makes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <iothread/aio.h>
#include <iothread/iothread.h>
#include <iothread/timer.h>

#define NR_BHS 3

/* Work still outstanding; the iothread counts down, main waits. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int outstanding = NR_BHS + 1;

static void finished_one(void)
{
    pthread_mutex_lock(&lock);
    if (--outstanding == 0) {
        pthread_cond_signal(&cond);
    }
    pthread_mutex_unlock(&lock);
}

static void hello_bh(void *opaque)
{
    printf("bottom half %d ran on thread %ld\n", (int)(intptr_t)opaque,
           (long)syscall(SYS_gettid));
    finished_one();
}

static void hello_timer(void *opaque)
{
    int64_t armed = *(int64_t *)opaque;

    printf("timer fired after %.3f ms on thread %ld\n",
           (double)(aio_clock_now(AIO_CLOCK_MONOTONIC) - armed) / 1e6,
           (long)syscall(SYS_gettid));
    finished_one();
}

/* Runs inside the iothread: timers belong to their context's thread. */
typedef struct TimerSetup {
    AioContext *ctx;
    AioTimer *timer;
    int64_t armed;
    int ret;
} TimerSetup;

static void arm_timer(void *opaque)
{
    TimerSetup *t = opaque;

    t->timer = aio_timer_new(t->ctx, AIO_CLOCK_MONOTONIC, hello_timer,
                             &t->armed);
    if (!t->timer) {
        t->ret = -1;
        return;
    }
    t->armed = aio_clock_now(AIO_CLOCK_MONOTONIC);
    t->ret = aio_timer_mod_in(t->timer, 50 * 1000 * 1000); /* 50 ms */
}

static void free_timer(void *opaque)
{
    aio_timer_free(opaque);
}

int main(void)
{
    IOThreadOptions opts;
    IOThread *thread;
    TimerSetup t = {0};
    AioStats stats;
    int ret;

    iothread_options_init(&opts);
    opts.name = "hello";
    ret = iothread_start(&thread, &opts);
    if (ret < 0) {
        fprintf(stderr, "cannot start the iothread: %s\n", strerror(-ret));
        return 1;
    }
    t.ctx = iothread_get_aio_context(thread);
    printf("iothread '%s' runs as thread %ld with the %s back-end "
           "(main thread is %ld)\n", iothread_get_name(thread),
           (long)iothread_get_tid(thread),
           aio_fdmon_name(aio_context_fdmon(t.ctx)),
           (long)syscall(SYS_gettid));

    if (iothread_run_sync(thread, arm_timer, &t) < 0 || t.ret < 0) {
        fprintf(stderr, "cannot arm the timer\n");
        return 1;
    }
    /* Bottom halves may be scheduled from any thread. */
    for (int i = 1; i <= NR_BHS; i++) {
        ret = aio_bh_schedule_oneshot(t.ctx, hello_bh, (void *)(intptr_t)i);
        if (ret < 0) {
            fprintf(stderr, "cannot schedule: %s\n", strerror(-ret));
            return 1;
        }
    }

    pthread_mutex_lock(&lock);
    while (outstanding > 0) {
        pthread_cond_wait(&cond, &lock);
    }
    pthread_mutex_unlock(&lock);

    aio_context_get_stats(t.ctx, &stats);
    printf("loop iterations %llu, bottom halves run %llu, timers fired "
           "%llu, eventfd writes %llu (skipped %llu)\n",
           (unsigned long long)stats.iterations,
           (unsigned long long)stats.bh_runs,
           (unsigned long long)stats.timers_fired,
           (unsigned long long)stats.notify_writes,
           (unsigned long long)stats.notify_skipped);

    iothread_run_sync(thread, free_timer, t.timer);
    iothread_stop(thread);
    printf("iothread stopped\n");
    return 0;
}
