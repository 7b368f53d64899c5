/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * embed-poll-loop: an AioContext driven by someone else's event loop.
 *
 * The program's own loop is a plain poll(2) over its fds (here: a pipe it
 * reads) plus the one fd of the context, aio_context_get_fd().  Around
 * each wait it calls aio_context_prepare() (how long may I sleep?) and,
 * after it, aio_context_check() and aio_context_dispatch().  A GLib
 * GSource, a libuv prepare/check pair or an sd-event prepare callback do
 * the same (tests/test-gsource.c has the GSource).
 *
 * Another thread schedules bottom halves on the context and writes to the
 * loop's pipe; a timer on the context fires after 50 ms.  Every one of
 * them wakes the loop; the program ends when all have arrived.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <iothread/aio.h>
#include <iothread/timer.h>

#define NR_BHS 3
#define NS_PER_MS 1000000LL

static int remaining = NR_BHS + 2; /* BHs, the timer, the pipe's byte */
static int pipe_fds[2];

static void bh_cb(void *opaque)
{
    printf("bottom half %d ran in the outer loop's thread\n",
           (int)(intptr_t)opaque);
    remaining--;
}

static void timer_cb(void *opaque)
{
    printf("timer fired after %.1f ms\n",
           (double)(aio_clock_now(AIO_CLOCK_MONOTONIC) - *(int64_t *)opaque) /
               NS_PER_MS);
    remaining--;
}

/* Another thread: work for the context, and a byte for the loop itself. */
static void *producer(void *opaque)
{
    AioContext *ctx = opaque;

    for (int i = 1; i <= NR_BHS; i++) {
        usleep(10 * 1000);
        aio_bh_schedule_oneshot(ctx, bh_cb, (void *)(intptr_t)i);
    }
    if (write(pipe_fds[1], "!", 1) != 1) {
        perror("write");
    }
    return NULL;
}

int main(void)
{
    AioContext *ctx;
    AioTimer *timer;
    pthread_t thread;
    int64_t armed;
    unsigned iterations = 0;
    int ret, ctx_fd;

    ret = aio_context_new(&ctx, AIO_FDMON_AUTO);
    if (ret < 0) {
        fprintf(stderr, "aio_context_new: %s\n", strerror(-ret));
        return 1;
    }
    ctx_fd = aio_context_get_fd(ctx);
    if (ctx_fd < 0) {
        fprintf(stderr, "aio_context_get_fd: %s\n", strerror(-ctx_fd));
        return 1;
    }
    printf("context on %s, embedded through fd %d\n",
           aio_fdmon_name(aio_context_fdmon(ctx)), ctx_fd);
    if (pipe(pipe_fds) < 0) {
        perror("pipe");
        return 1;
    }
    timer = aio_timer_new(ctx, AIO_CLOCK_MONOTONIC, timer_cb, &armed);
    armed = aio_clock_now(AIO_CLOCK_MONOTONIC);
    aio_timer_mod_in(timer, 50 * NS_PER_MS);
    pthread_create(&thread, NULL, producer, ctx);

    while (remaining > 0) {
        struct pollfd pfds[2] = {
            {.fd = pipe_fds[0], .events = POLLIN},
            {.fd = ctx_fd, .events = POLLIN},
        };
        int64_t ns;
        int ms;

        /* How long the context lets us sleep; rounded up to poll(2)'s
         * milliseconds (early would only cost an empty iteration). */
        aio_context_prepare(ctx, &ns);
        ms = ns < 0 ? -1 : (int)((ns + NS_PER_MS - 1) / NS_PER_MS);
        if (poll(pfds, 2, ms) < 0 && errno != EINTR) {
            perror("poll");
            break;
        }
        iterations++;
        if (pfds[0].revents & POLLIN) {
            char c;

            if (read(pipe_fds[0], &c, 1) == 1) {
                printf("the loop's own fd: read '%c'\n", c);
                remaining--;
            }
        }
        /* After every wait, whatever ended it. */
        if (aio_context_check(ctx)) {
            aio_context_dispatch(ctx);
        }
    }
    aio_context_leave(ctx);
    pthread_join(thread, NULL);
    printf("done in %u outer iterations\n", iterations);

    aio_timer_free(timer);
    aio_context_free(ctx);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return remaining == 0 ? 0 : 1;
}
