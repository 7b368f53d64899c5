/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fd-scaling: N = 1, 100, 1000, 10000 registered eventfds, one of them
 * active; ns per event (make it readable, wait, handle it) in one thread,
 * for the epoll and io_uring back-ends.  The cost must not grow with the
 * fds that stay quiet: a loop that walks its handler list, or re-arms
 * every fd, each iteration shows here as a slope.
 *
 * Floors: the same system calls in a raw loop: epoll_wait on the set,
 * and io_uring with one-shot POLL_ADDs re-armed after each completion
 * (what the io_uring back-end submits).
 */
#include <liburing.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <iothread/aio.h>
#include <iothread/event-notifier.h>

#include "bench.h"

enum { EVENTS = 20000 };

static const int sizes[] = {1, 100, 1000, 10000};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static void must(bool ok, const char *what)
{
    if (!ok) {
        perror(what);
        abort();
    }
}

static long handled;

static void on_readable(EventNotifier *e)
{
    event_notifier_test_and_clear(e);
    handled++;
}

static double fd_scale_iothreadd(AioFdmon fdmon, int n)
{
    AioContext *ctx;
    EventNotifier *en = calloc((size_t)n, sizeof(*en));
    int64_t t0, t1;

    must(en && aio_context_new(&ctx, fdmon) == 0, "aio_context_new");
    aio_context_set_poll_params(ctx, 0, 0, 0);
    for (int i = 0; i < n; i++) {
        must(event_notifier_init(&en[i], false) == 0, "eventfd");
        aio_set_event_notifier(ctx, &en[i], on_readable, NULL, NULL);
    }
    aio_poll(ctx, false);
    handled = 0;
    t0 = bench_now();
    for (int i = 0; i < EVENTS; i++) {
        event_notifier_set(&en[n / 2]);
        aio_poll(ctx, true);
    }
    t1 = bench_now();
    must(handled == EVENTS, "lost events");
    for (int i = 0; i < n; i++) {
        aio_set_event_notifier(ctx, &en[i], NULL, NULL, NULL);
        event_notifier_cleanup(&en[i]);
    }
    free(en);
    aio_context_free(ctx);
    return (double)(t1 - t0) / EVENTS;
}

static int *eventfds(int n)
{
    int *fds = calloc((size_t)n, sizeof(int));

    must(fds != NULL, "calloc");
    for (int i = 0; i < n; i++) {
        fds[i] = eventfd(0, EFD_NONBLOCK);
        must(fds[i] >= 0, "eventfd");
    }
    return fds;
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        close(fds[i]);
    }
    free(fds);
}

static void kick(int fd)
{
    uint64_t one = 1;

    must(write(fd, &one, 8) == 8, "write eventfd");
}

static void drain(int fd)
{
    uint64_t v;

    must(read(fd, &v, 8) == 8, "read eventfd");
}

static double fd_scale_epoll(int n)
{
    int ep = epoll_create1(0);
    int *fds = eventfds(n);
    struct epoll_event ev = {.events = EPOLLIN}, out[16];
    int64_t t0, t1;

    for (int i = 0; i < n; i++) {
        ev.data.fd = fds[i];
        must(epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) == 0, "epoll_ctl");
    }
    t0 = bench_now();
    for (int i = 0; i < EVENTS; i++) {
        kick(fds[n / 2]);
        must(epoll_wait(ep, out, 16, -1) >= 1, "epoll_wait");
        drain(out[0].data.fd);
    }
    t1 = bench_now();
    close_all(fds, n);
    close(ep);
    return (double)(t1 - t0) / EVENTS;
}

static void uring_arm(struct io_uring *ring, int fd, int i)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

    if (!sqe) {
        io_uring_submit(ring);
        sqe = io_uring_get_sqe(ring);
    }
    io_uring_prep_poll_add(sqe, fd, POLLIN);
    io_uring_sqe_set_data64(sqe, (uint64_t)i);
}

static double fd_scale_uring(int n)
{
    struct io_uring ring;
    struct io_uring_cqe *cqe;
    int *fds = eventfds(n);
    int64_t t0, t1;

    must(io_uring_queue_init(64, &ring, 0) == 0, "io_uring_queue_init");
    for (int i = 0; i < n; i++) {
        uring_arm(&ring, fds[i], i);
    }
    io_uring_submit(&ring);
    t0 = bench_now();
    for (int i = 0; i < EVENTS; i++) {
        int k;

        kick(fds[n / 2]);
        /* The re-arm of the last round goes in with this wait. */
        must(io_uring_submit_and_wait(&ring, 1) >= 0, "io_uring_enter");
        must(io_uring_peek_cqe(&ring, &cqe) == 0, "io_uring_peek_cqe");
        k = (int)io_uring_cqe_get_data64(cqe);
        io_uring_cqe_seen(&ring, cqe);
        drain(fds[k]);
        uring_arm(&ring, fds[k], k);
    }
    t1 = bench_now();
    io_uring_queue_exit(&ring);
    close_all(fds, n);
    return (double)(t1 - t0) / EVENTS;
}

int main(void)
{
    struct rlimit rl = {20000, 20000};
    const char *dir = getenv("BENCH_OUT");
    double v[4][NSIZES][BENCH_REPS];
    char metric[64], path[512];
    FILE *dat = NULL;

    must(setrlimit(RLIMIT_NOFILE, &rl) == 0, "RLIMIT_NOFILE 20000");
    bench_pin(0);
    for (size_t k = 0; k < NSIZES; k++) {
        for (int rep = 0; rep < BENCH_REPS; rep++) { /* interleaved */
            v[0][k][rep] = fd_scale_iothreadd(AIO_FDMON_EPOLL, sizes[k]);
            v[1][k][rep] = fd_scale_epoll(sizes[k]);
            v[2][k][rep] = fd_scale_iothreadd(AIO_FDMON_IO_URING, sizes[k]);
            v[3][k][rep] = fd_scale_uring(sizes[k]);
        }
        snprintf(metric, sizeof(metric), "epoll_ns_per_event_n%d", sizes[k]);
        bench_result("fd-scaling", metric, "ns", "iothreadd", "iothreadd",
                     v[0][k]);
        bench_result("fd-scaling", metric, "ns", "floor", "epoll_wait",
                     v[1][k]);
        snprintf(metric, sizeof(metric), "io_uring_ns_per_event_n%d",
                 sizes[k]);
        bench_result("fd-scaling", metric, "ns", "iothreadd", "iothreadd",
                     v[2][k]);
        bench_result("fd-scaling", metric, "ns", "floor", "io_uring_poll",
                     v[3][k]);
    }
    if (dir) {
        snprintf(path, sizeof(path), "%s/fd-scaling.dat", dir);
        dat = fopen(path, "w");
    }
    for (size_t k = 0; dat && k < NSIZES; k++) {
        fprintf(dat, "%d", sizes[k]);
        for (int i = 0; i < 4; i++) {
            fprintf(dat, " %g", bench_median(v[i][k], BENCH_REPS));
        }
        fprintf(dat, "\n");
    }
    if (dat) {
        fclose(dat);
    }
    return 0;
}
