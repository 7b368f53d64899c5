/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bh-throughput, fd-scaling, timer, idle and memory: the loop's costs
 * other than a single wake-up.
 *   bh-throughput: 1 and 2 producers flood one IOThread with oneshot BHs;
 *     items/s and eventfd writes per item (the coalescing promise); peer:
 *     libuv with a mutex-protected queue and uv_async_send.
 *   fd-scaling: N registered eventfds, one active, ns per event, for the
 *     epoll and io_uring back-ends; floor: epoll_wait on the same set.
 *   timer: lateness of 100 us, 1 ms, 10 ms timers; floor: timerfd+epoll.
 *   idle: 100 idle IOThreads for 2 s: CPU % and wake-ups.
 *   memory: RSS per IOThread with 1000 of them.
 */
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <uv.h>

#include <iothread/iothread.h>
#include <iothread/timer.h>
#include <iothread/event-notifier.h>

#include "bench.h"

/* ---- bh-throughput ---- */

static atomic_long items_run;

static void item_bh(void *opaque)
{
    atomic_fetch_add_explicit(&items_run, 1, memory_order_relaxed);
}

typedef struct Prod {
    AioContext *ctx;
    long n;
    int cpu;
} Prod;

static void *producer(void *opaque)
{
    Prod *p = opaque;

    bench_pin(p->cpu);
    for (long i = 0; i < p->n; i++) {
        aio_bh_schedule_oneshot(p->ctx, item_bh, NULL);
    }
    return NULL;
}

static void bh_throughput_iothreadd(int producers, long n, double *items_s,
                                    double *writes_per_item)
{
    IOThreadOptions o;
    IOThread *t;
    cpu_set_t c0;
    Prod p[2];
    pthread_t th[2];
    AioStats st;
    int64_t t0;

    CPU_ZERO(&c0);
    CPU_SET(0, &c0);
    iothread_options_init(&o);
    o.affinity = &c0;
    iothread_start(&t, &o);
    atomic_store(&items_run, 0);
    t0 = bench_now();
    for (int i = 0; i < producers; i++) {
        p[i] = (Prod){iothread_get_aio_context(t), n / producers, 1 + i};
        pthread_create(&th[i], NULL, producer, &p[i]);
    }
    for (int i = 0; i < producers; i++) {
        pthread_join(th[i], NULL);
    }
    while (atomic_load(&items_run) < n / producers * producers) {
        sched_yield();
    }
    *items_s = (double)n / ((double)(bench_now() - t0) / 1e9);
    aio_context_get_stats(iothread_get_aio_context(t), &st);
    *writes_per_item = (double)st.notify_writes / (double)n;
    iothread_stop(t);
}

/* libuv: the usual pattern, a locked queue and uv_async_send. */
typedef struct UvQ {
    uv_loop_t loop;
    uv_async_t async;
    pthread_mutex_t lock;
    long queued;
    long done;
    long target;
} UvQ;

static void uvq_cb(uv_async_t *h)
{
    UvQ *q = h->data;
    long n;

    pthread_mutex_lock(&q->lock);
    n = q->queued;
    q->queued = 0;
    pthread_mutex_unlock(&q->lock);
    q->done += n; /* each item's callback would run here */
    if (q->done >= q->target) {
        uv_close((uv_handle_t *)&q->async, NULL);
    }
}

static void *uvq_producer(void *opaque)
{
    UvQ *q = opaque;
    long n = q->target;

    bench_pin(1);
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&q->lock);
        q->queued++;
        pthread_mutex_unlock(&q->lock);
        uv_async_send(&q->async);
    }
    return NULL;
}

static double bh_throughput_libuv(long n)
{
    UvQ q = {.target = n};
    pthread_t th;
    int64_t t0;

    pthread_mutex_init(&q.lock, NULL);
    uv_loop_init(&q.loop);
    uv_async_init(&q.loop, &q.async, uvq_cb);
    q.async.data = &q;
    bench_pin(0);
    t0 = bench_now();
    pthread_create(&th, NULL, uvq_producer, &q);
    uv_run(&q.loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    uv_loop_close(&q.loop);
    return (double)n / ((double)(bench_now() - t0) / 1e9);
}

static void bench_bh(void)
{
    double it1[BENCH_REPS], it2[BENCH_REPS], wpi[BENCH_REPS], uv[BENCH_REPS];
    double w2;
    long n = 1000000;

    for (int rep = 0; rep < BENCH_REPS; rep++) {
        bh_throughput_iothreadd(1, n, &it1[rep], &wpi[rep]);
        uv[rep] = bh_throughput_libuv(n);
        bh_throughput_iothreadd(2, n, &it2[rep], &w2);
    }
    bench_result("bh-throughput", "items_per_s_1producer", "items/s",
                 "iothreadd", "iothreadd", it1);
    bench_result("bh-throughput", "items_per_s_1producer", "items/s", "peer",
                 "libuv", uv);
    bench_result("bh-throughput", "items_per_s_2producers", "items/s",
                 "iothreadd", "iothreadd", it2);
    bench_result("bh-throughput", "eventfd_writes_per_item", "writes",
                 "iothreadd", "iothreadd", wpi);
}

/* ---- fd-scaling ---- */

typedef struct FdScale {
    EventNotifier *en;
    int n;
    atomic_long events;
} FdScale;

static FdScale *g_fs;

static void fs_read(EventNotifier *e)
{
    event_notifier_test_and_clear(e);
    atomic_fetch_add_explicit(&g_fs->events, 1, memory_order_relaxed);
}

/* ns per event: the active fd set, handled, in a single-thread loop. */
static double fd_scale_iothreadd(AioFdmon fdmon, int n, int events)
{
    AioContext *ctx;
    FdScale fs = {.n = n};
    int64_t t0, t1;

    g_fs = &fs;
    if (aio_context_new(&ctx, fdmon) < 0) {
        return -1;
    }
    aio_context_set_poll_params(ctx, 0, 0, 0);
    fs.en = calloc((size_t)n, sizeof(*fs.en));
    for (int i = 0; i < n; i++) {
        event_notifier_init(&fs.en[i], false);
        aio_set_event_notifier(ctx, &fs.en[i], fs_read, NULL, NULL);
    }
    aio_poll(ctx, false);
    t0 = bench_now();
    for (int i = 0; i < events; i++) {
        event_notifier_set(&fs.en[n / 2]);
        aio_poll(ctx, true);
    }
    t1 = bench_now();
    for (int i = 0; i < n; i++) {
        aio_set_event_notifier(ctx, &fs.en[i], NULL, NULL, NULL);
        event_notifier_cleanup(&fs.en[i]);
    }
    free(fs.en);
    aio_context_free(ctx);
    return (double)(t1 - t0) / events;
}

static double fd_scale_epoll(int n, int events)
{
    int ep = epoll_create1(0);
    int *fds = calloc((size_t)n, sizeof(int));
    struct epoll_event ev = {.events = EPOLLIN}, out[16];
    uint64_t one = 1, v;
    int64_t t0, t1;

    for (int i = 0; i < n; i++) {
        fds[i] = eventfd(0, EFD_NONBLOCK);
        ev.data.fd = fds[i];
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    t0 = bench_now();
    for (int i = 0; i < events; i++) {
        if (write(fds[n / 2], &one, 8) < 0 ||
            epoll_wait(ep, out, 16, -1) < 1 ||
            read(out[0].data.fd, &v, 8) < 0) {
            abort();
        }
    }
    t1 = bench_now();
    for (int i = 0; i < n; i++) {
        close(fds[i]);
    }
    close(ep);
    free(fds);
    return (double)(t1 - t0) / events;
}

static void bench_fd(void)
{
    static const int ns[] = {1, 100, 1000, 10000};
    struct rlimit rl = {20000, 20000};
    char metric[64];

    setrlimit(RLIMIT_NOFILE, &rl);
    bench_pin(0);
    for (size_t k = 0; k < 4; k++) {
        double ep[BENCH_REPS], ur[BENCH_REPS], fl[BENCH_REPS];

        for (int rep = 0; rep < BENCH_REPS; rep++) {
            ep[rep] = fd_scale_iothreadd(AIO_FDMON_EPOLL, ns[k], 20000);
            ur[rep] = fd_scale_iothreadd(AIO_FDMON_IO_URING, ns[k], 20000);
            fl[rep] = fd_scale_epoll(ns[k], 20000);
        }
        snprintf(metric, sizeof(metric), "epoll_ns_per_event_n%d", ns[k]);
        bench_result("fd-scaling", metric, "ns", "iothreadd", "iothreadd", ep);
        bench_result("fd-scaling", metric, "ns", "floor", "epoll_wait", fl);
        snprintf(metric, sizeof(metric), "io_uring_ns_per_event_n%d", ns[k]);
        bench_result("fd-scaling", metric, "ns", "iothreadd", "iothreadd", ur);
    }
}

/* ---- timer lateness ---- */

typedef struct TimerRun {
    AioTimer *t;
    int64_t due, period;
    int n, i;
    int64_t *late;
    bool done;
} TimerRun;

static void timer_cb(void *opaque)
{
    TimerRun *r = opaque;

    r->late[r->i] = bench_now() - r->due;
    if (++r->i < r->n) {
        r->due = bench_now() + r->period;
        aio_timer_mod(r->t, r->due);
    } else {
        r->done = true;
    }
}

static double timer_iothreadd(int64_t period, int n)
{
    AioContext *ctx;
    TimerRun r = {.period = period, .n = n};
    double p50;

    r.late = calloc((size_t)n, sizeof(int64_t));
    aio_context_new(&ctx, AIO_FDMON_AUTO);
    aio_context_set_poll_params(ctx, 0, 0, 0);
    r.t = aio_timer_new(ctx, AIO_CLOCK_MONOTONIC, timer_cb, &r);
    r.due = bench_now() + period;
    aio_timer_mod(r.t, r.due);
    while (!r.done) {
        aio_poll(ctx, true);
    }
    aio_timer_free(r.t);
    aio_context_free(ctx);
    p50 = (double)bench_pct(r.late, (size_t)n, 0.5);
    free(r.late);
    return p50 / 1000.0;
}

static double timer_timerfd(int64_t period, int n)
{
    int tfd = timerfd_create(CLOCK_MONOTONIC, 0), ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    int64_t *late = calloc((size_t)n, sizeof(int64_t));
    uint64_t v;
    double p50;

    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    for (int i = 0; i < n; i++) {
        int64_t due = bench_now() + period;
        struct itimerspec its = {.it_value = {due / 1000000000,
                                              due % 1000000000}};

        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        while (epoll_wait(ep, &ev, 1, -1) < 1) {
        }
        late[i] = bench_now() - due;
        if (read(tfd, &v, 8) < 0) {
            abort();
        }
    }
    close(tfd);
    close(ep);
    p50 = (double)bench_pct(late, (size_t)n, 0.5);
    free(late);
    return p50 / 1000.0;
}

static void bench_timer(void)
{
    static const struct { int64_t ns; const char *name; int n; } ps[] = {
        {100000, "100us", 400}, {1000000, "1ms", 100}, {10000000, "10ms", 20},
    };
    char metric[64];

    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* as the loop does */
    bench_pin(0);
    for (size_t k = 0; k < 3; k++) {
        double io[BENCH_REPS], fl[BENCH_REPS];

        for (int rep = 0; rep < BENCH_REPS; rep++) {
            io[rep] = timer_iothreadd(ps[k].ns, ps[k].n);
            fl[rep] = timer_timerfd(ps[k].ns, ps[k].n);
        }
        snprintf(metric, sizeof(metric), "lateness_p50_us_%s", ps[k].name);
        bench_result("timer", metric, "us", "iothreadd", "iothreadd", io);
        bench_result("timer", metric, "us", "floor", "timerfd", fl);
    }
}

/* ---- idle and memory ---- */

static double self_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;

    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmRSS: %ld", &kib) == 1) {
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return kib;
}

static void bench_idle_memory(void)
{
    enum { IDLE = 100, MANY = 1000 };
    double cpu[BENCH_REPS], wake[BENCH_REPS], mem[BENCH_REPS];
    IOThreadOptions o;

    iothread_options_init(&o);
    for (int rep = 0; rep < BENCH_REPS; rep++) {
        IOThread **t = calloc(MANY, sizeof(*t));
        uint64_t waits0 = 0, waits1 = 0;
        AioStats st;
        long rss0 = rss_kib();
        double c0;

        for (int i = 0; i < IDLE; i++) {
            iothread_start(&t[i], &o);
        }
        usleep(200000); /* settle: start-up wake-ups are not idle ones */
        for (int i = 0; i < IDLE; i++) {
            aio_context_get_stats(iothread_get_aio_context(t[i]), &st);
            waits0 += st.iterations;
        }
        c0 = self_cpu_s();
        sleep(2);
        cpu[rep] = (self_cpu_s() - c0) / 2.0 * 100.0;
        for (int i = 0; i < IDLE; i++) {
            aio_context_get_stats(iothread_get_aio_context(t[i]), &st);
            waits1 += st.iterations;
        }
        wake[rep] = (double)(waits1 - waits0) / 2.0;
        for (int i = IDLE; i < MANY; i++) {
            iothread_start(&t[i], &o);
        }
        usleep(100000);
        mem[rep] = (double)(rss_kib() - rss0) / MANY;
        for (int i = 0; i < MANY; i++) {
            iothread_stop(t[i]);
        }
        free(t);
    }
    bench_result("idle", "cpu_percent_100", "%", "iothreadd", "iothreadd",
                 cpu);
    bench_result("idle", "wakeups_per_s_100", "1/s", "iothreadd",
                 "iothreadd", wake);
    bench_result("memory", "rss_kib_per_iothread", "KiB", "iothreadd",
                 "iothreadd", mem);
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : "";

    if (!*only || !strcmp(only, "bh")) {
        bench_bh();
    }
    if (!*only || !strcmp(only, "fd")) {
        bench_fd();
    }
    if (!*only || !strcmp(only, "timer")) {
        bench_timer();
    }
    if (!*only || !strcmp(only, "idle")) {
        bench_idle_memory();
    }
    return 0;
}
