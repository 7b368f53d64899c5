/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * timer: how late a timer callback runs after its due time, for periods
 * of 100 us, 1 ms and 10 ms.  A one-shot timer is re-armed from its own
 * callback, as a protocol timeout or a retry would be, and the p50 of
 * (callback time - due time) is reported.  A loop that sleeps in the
 * kernel with a coarse timeout, or that rounds deadlines, shows up here
 * and not in the wake-up benchmarks.
 *
 *   iothreadd: AioContext + aio_timer, poll-max-ns 0 (the cost of the
 *     sleep itself, not hidden by busy-polling).
 *   floor: timerfd + epoll_wait with an absolute deadline.
 *   peers: io_uring IORING_OP_TIMEOUT (absolute, CLOCK_MONOTONIC), libuv
 *     uv_timer_start, libevent evtimer_add with EVENT_BASE_FLAG_PRECISE_TIMER,
 *     GLib g_source_set_ready_time.
 *
 * Two modes: "idle", the loop has nothing else to do; "load", a producer
 * thread on CPU 1 floods the measured loop with cross-thread wake-ups
 * through each library's own post mechanism, so the timer competes with
 * other work and with the wake-up path, as it does in a busy daemon.
 * iothreadd posts with aio_bh_schedule() of one BH, which like the eventfd
 * floors, uv_async_send() and event_active() coalesces the posts that
 * arrive before the loop runs it into one wake-up; GLib's
 * g_main_context_invoke() has no such form and queues a callback per
 * post, which shows in its numbers.  (Per-item callbacks are what
 * bh-throughput measures.)
 *
 * Every measured loop runs on the calling thread, pinned to CPU 0, with a
 * 1 ns timer slack (as IOThreads set it), so the differences are the
 * loops' and not the threads'.  Repetitions are interleaved across the
 * implementations (A B C A B C ...) so that drift of the machine hits
 * them all alike.
 */
#include <errno.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <glib.h>
#include <liburing.h>
#include <uv.h>

#include <iothread/aio.h>
#include <iothread/timer.h>

#include "bench.h"

/* ---- one measurement: n firings of a re-armed one-shot timer ---- */

typedef struct TimerRun {
    int64_t period; /* ns */
    int n, i;
    int64_t due;    /* bench_now() clock, ns */
    int64_t *late;  /* ns, one per firing */
    bool done;
} TimerRun;

/* Arm time: the due time every implementation is judged against. */
static int64_t tr_arm(TimerRun *r)
{
    r->due = bench_now() + r->period;
    return r->due;
}

/* The callback ran: record its lateness; true when it must be re-armed. */
static bool tr_fire(TimerRun *r)
{
    r->late[r->i] = bench_now() - r->due;
    if (++r->i < r->n) {
        return true;
    }
    r->done = true;
    return false;
}

/* ---- load: a producer thread flooding the loop with wake-ups ---- */

#define LOAD_BATCH 1000       /* posts between pauses */
#define LOAD_PAUSE_NS 50000   /* the pause: the loop is busy, not starved */
#define LOAD_BACKLOG 1000     /* posted but not yet handled, at most */

typedef struct Load {
    void (*post)(void *opaque);
    void *opaque;
    atomic_long posted, acked;
    atomic_bool stop;
    pthread_t th;
    bool on;
} Load;

static void pause_ns(long ns)
{
    struct timespec ts = {0, ns};

    while (nanosleep(&ts, &ts) < 0) {
        if (errno != EINTR) {
            abort();
        }
    }
}

/*
 * A queue that allocates per post (GLib's idle sources) would grow without bound if the producer outran the loop, and
 * the result would then measure the queue, not the timer: the backlog is
 * capped.
 */
static void *load_main(void *opaque)
{
    Load *l = opaque;

    bench_pin(1);
    for (long i = 1; !atomic_load_explicit(&l->stop, memory_order_relaxed);
         i++) {
        atomic_fetch_add_explicit(&l->posted, 1, memory_order_relaxed);
        l->post(l->opaque);
        if (i % LOAD_BATCH == 0) {
            pause_ns(LOAD_PAUSE_NS);
        }
        while (atomic_load_explicit(&l->posted, memory_order_relaxed) -
                   atomic_load_explicit(&l->acked, memory_order_relaxed) >
               LOAD_BACKLOG &&
               !atomic_load_explicit(&l->stop, memory_order_relaxed)) {
            pause_ns(LOAD_PAUSE_NS);
        }
    }
    return NULL;
}

/* The loop handled one queued item (mechanisms that queue every post). */
static void load_ack_one(Load *l)
{
    atomic_fetch_add_explicit(&l->acked, 1, memory_order_relaxed);
}

/*
 * The loop was woken (mechanisms that coalesce posts: eventfd,
 * uv_async_send, event_active): everything posted so far is handled.
 */
static void load_ack_all(Load *l)
{
    atomic_store_explicit(&l->acked,
                          atomic_load_explicit(&l->posted,
                                               memory_order_relaxed),
                          memory_order_relaxed);
}

static void load_start(Load *l, bool on, void (*post)(void *), void *opaque)
{
    l->on = on;
    if (!on) {
        return;
    }
    l->post = post;
    l->opaque = opaque;
    atomic_store(&l->posted, 0);
    atomic_store(&l->acked, 0);
    atomic_store(&l->stop, false);
    if (pthread_create(&l->th, NULL, load_main, l)) {
        abort();
    }
}

/* After this the producer posts nothing more: the loop may be torn down. */
static void load_stop(Load *l)
{
    if (l->on) {
        atomic_store(&l->stop, true);
        pthread_join(l->th, NULL);
    }
}

/* ---- iothreadd ---- */

typedef struct IotTimer {
    TimerRun *r;
    AioTimer *t;
    AioBH *post_bh; /* the producer's wake-ups, coalesced while pending */
    Load load;
} IotTimer;

static void iot_timer_cb(void *opaque)
{
    IotTimer *it = opaque;

    if (tr_fire(it->r)) {
        aio_timer_mod(it->t, tr_arm(it->r));
    }
}

static void iot_woken(void *opaque)
{
    load_ack_all(opaque);
}

static void iot_post(void *opaque)
{
    aio_bh_schedule(((IotTimer *)opaque)->post_bh);
}

static void run_iothreadd(TimerRun *r, bool load)
{
    IotTimer it = {.r = r};
    AioContext *ctx;

    if (aio_context_new(&ctx, AIO_FDMON_AUTO) < 0 ||
        aio_context_set_poll_params(ctx, 0, 0, 0) < 0) {
        abort();
    }
    it.t = aio_timer_new(ctx, AIO_CLOCK_MONOTONIC, iot_timer_cb, &it);
    it.post_bh = aio_bh_new(ctx, iot_woken, &it.load);
    if (!it.t || !it.post_bh) {
        abort();
    }
    load_start(&it.load, load, iot_post, &it);
    aio_timer_mod(it.t, tr_arm(r));
    while (!r->done) {
        aio_poll(ctx, true);
    }
    load_stop(&it.load);
    aio_bh_delete(it.post_bh);
    aio_timer_free(it.t);
    aio_context_free(ctx);
}

/* ---- floor: timerfd + epoll ---- */

static void efd_post(void *opaque)
{
    uint64_t one = 1;

    if (write(*(int *)opaque, &one, sizeof(one)) != sizeof(one)) {
        abort();
    }
}

static void tfd_arm(int tfd, TimerRun *r)
{
    int64_t due = tr_arm(r);
    struct itimerspec its = {.it_value = {due / 1000000000,
                                          due % 1000000000}};

    if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
        abort();
    }
}

static void run_timerfd(TimerRun *r, bool load)
{
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    int efd = eventfd(0, EFD_CLOEXEC);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN}, evs[2];
    Load l = {0};
    uint64_t v;

    if (tfd < 0 || efd < 0 || ep < 0) {
        abort();
    }
    ev.data.fd = tfd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) < 0) {
        abort();
    }
    ev.data.fd = efd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) < 0) {
        abort();
    }
    load_start(&l, load, efd_post, &efd);
    tfd_arm(tfd, r);
    while (!r->done) {
        int n = epoll_wait(ep, evs, 2, -1);

        if (n < 0 && errno != EINTR) {
            abort();
        }
        for (int k = 0; k < n; k++) {
            if (evs[k].data.fd == tfd) {
                if (tr_fire(r)) {
                    tfd_arm(tfd, r); /* re-arming also clears readiness */
                } else if (read(tfd, &v, sizeof(v)) != sizeof(v)) {
                    abort();
                }
            } else {
                if (read(efd, &v, sizeof(v)) != sizeof(v)) {
                    abort();
                }
                load_ack_all(&l);
            }
        }
    }
    load_stop(&l);
    close(ep);
    close(efd);
    close(tfd);
}

/* ---- io_uring: IORING_OP_TIMEOUT, absolute ---- */

enum { URING_TIMER = 1, URING_EFD = 2 };

typedef struct UringTimer {
    struct io_uring ring;
    struct __kernel_timespec ts; /* read by the kernel at submission */
    uint64_t efd_buf;            /* written by the in-flight read */
    int efd;
} UringTimer;

static struct io_uring_sqe *uring_sqe(UringTimer *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

    if (!sqe) {
        abort(); /* at most two in flight in an 8-entry ring */
    }
    return sqe;
}

static void uring_arm(UringTimer *u, TimerRun *r)
{
    int64_t due = tr_arm(r);
    struct io_uring_sqe *sqe = uring_sqe(u);

    u->ts.tv_sec = due / 1000000000;
    u->ts.tv_nsec = due % 1000000000;
    io_uring_prep_timeout(sqe, &u->ts, 0, IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data64(sqe, URING_TIMER);
}

static void uring_read_efd(UringTimer *u)
{
    struct io_uring_sqe *sqe = uring_sqe(u);

    io_uring_prep_read(sqe, u->efd, &u->efd_buf, sizeof(u->efd_buf), 0);
    io_uring_sqe_set_data64(sqe, URING_EFD);
}

static void run_io_uring(TimerRun *r, bool load)
{
    UringTimer u = {.efd = eventfd(0, EFD_CLOEXEC)};
    struct io_uring_cqe *cqe;
    unsigned head, seen;
    Load l = {0};

    if (u.efd < 0 || io_uring_queue_init(8, &u.ring, 0) < 0) {
        abort();
    }
    load_start(&l, load, efd_post, &u.efd);
    if (load) {
        uring_read_efd(&u);
    }
    uring_arm(&u, r);
    while (!r->done) {
        int ret = io_uring_submit_and_wait(&u.ring, 1);

        if (ret < 0 && ret != -EINTR) {
            abort();
        }
        seen = 0;
        io_uring_for_each_cqe(&u.ring, head, cqe) {
            seen++;
            if (io_uring_cqe_get_data64(cqe) == URING_TIMER) {
                if (cqe->res != -ETIME) {
                    abort();
                }
                if (tr_fire(r)) {
                    uring_arm(&u, r);
                }
            } else {
                if (cqe->res != sizeof(u.efd_buf)) {
                    abort();
                }
                load_ack_all(&l);
                uring_read_efd(&u);
            }
        }
        io_uring_cq_advance(&u.ring, seen);
    }
    load_stop(&l);
    /* Cancels the read still in flight on the eventfd. */
    io_uring_queue_exit(&u.ring);
    close(u.efd);
}

/* ---- libuv ---- */

/*
 * libuv keeps time and timeouts in milliseconds: the deadline is the loop
 * time truncated to ms + period, and epoll_wait() sleeps in whole ms, so
 * a timer may fire up to ~1 ms off its due time, early or late (small
 * negative lateness is possible).  That granularity is what its users
 * get; a 100 us timer cannot be expressed, so that row is not run.
 */
typedef struct UvTimer {
    TimerRun *r;
    uv_loop_t loop;
    uv_timer_t timer;
    uv_async_t async;
    Load load;
} UvTimer;

static void uvt_fired(uv_timer_t *t);

static void uvt_arm(UvTimer *u)
{
    /* Relative to now, not to the time cached at the iteration's start. */
    uv_update_time(&u->loop);
    tr_arm(u->r);
    if (uv_timer_start(&u->timer, uvt_fired,
                       (uint64_t)(u->r->period / 1000000), 0)) {
        abort();
    }
}

static void uvt_fired(uv_timer_t *t)
{
    UvTimer *u = t->data;

    if (tr_fire(u->r)) {
        uvt_arm(u);
    } else {
        uv_stop(&u->loop);
    }
}

static void uvt_noop(uv_async_t *a)
{
    load_ack_all(a->data);
}

static void uvt_post(void *opaque)
{
    if (uv_async_send(opaque)) {
        abort();
    }
}

static void run_libuv(TimerRun *r, bool load)
{
    UvTimer u = {.r = r};

    if (uv_loop_init(&u.loop) || uv_timer_init(&u.loop, &u.timer) ||
        uv_async_init(&u.loop, &u.async, uvt_noop)) {
        abort();
    }
    u.timer.data = &u;
    u.async.data = &u.load;
    load_start(&u.load, load, uvt_post, &u.async);
    uvt_arm(&u);
    uv_run(&u.loop, UV_RUN_DEFAULT);
    load_stop(&u.load);
    uv_close((uv_handle_t *)&u.timer, NULL);
    uv_close((uv_handle_t *)&u.async, NULL);
    uv_run(&u.loop, UV_RUN_DEFAULT); /* runs the closes */
    if (uv_loop_close(&u.loop)) {
        abort();
    }
}

/* ---- libevent ---- */

typedef struct EvTimer {
    TimerRun *r;
    struct event_base *base;
    struct event *timer, *wake;
    Load load;
} EvTimer;

static void ev_arm(EvTimer *e)
{
    struct timeval tv = {e->r->period / 1000000000,
                         e->r->period % 1000000000 / 1000};

    /* Relative to now, not to the time cached at the iteration's start. */
    if (event_base_update_cache_time(e->base) < 0) {
        abort();
    }
    tr_arm(e->r);
    if (evtimer_add(e->timer, &tv) < 0) {
        abort();
    }
}

static void ev_timer_fired(evutil_socket_t fd, short what, void *opaque)
{
    (void)fd;
    (void)what;
    EvTimer *e = opaque;

    if (tr_fire(e->r)) {
        ev_arm(e);
    }
}

static void ev_noop(evutil_socket_t fd, short what, void *opaque)
{
    (void)fd;
    (void)what;
    load_ack_all(opaque);
}

static void ev_post(void *opaque)
{
    event_active(opaque, EV_READ, 0);
}

static void run_libevent(TimerRun *r, bool load)
{
    struct event_config *cfg = event_config_new();
    EvTimer e = {.r = r};

    /* Otherwise a coarse clock, and timeouts in whole ms with epoll. */
    if (!cfg || event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER)) {
        abort();
    }
    e.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!e.base) {
        abort();
    }
    e.timer = evtimer_new(e.base, ev_timer_fired, &e);
    e.wake = event_new(e.base, -1, 0, ev_noop, &e.load);
    if (!e.timer || !e.wake) {
        abort();
    }
    load_start(&e.load, load, ev_post, e.wake);
    ev_arm(&e);
    while (!r->done) {
        if (event_base_loop(e.base, EVLOOP_ONCE) < 0) {
            abort();
        }
    }
    load_stop(&e.load);
    event_free(e.wake);
    event_free(e.timer);
    event_base_free(e.base);
}

/* ---- GLib ---- */

/*
 * GLib sleeps in poll() with a timeout rounded up to whole ms, so a
 * deadline may be met up to 1 ms late: a 100 us timer runs ~0.9 ms late.
 * That is what its users get, hence the 100 us row is reported anyway.
 */
typedef struct GlibTimer {
    GSource source;
    TimerRun *r;
} GlibTimer;

static void gt_arm(GlibTimer *g)
{
    /* Ready time is in us: round up so it is never before the due time. */
    g_source_set_ready_time(&g->source, (tr_arm(g->r) + 999) / 1000);
}

static gboolean gt_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
    (void)cb;
    (void)data;
    GlibTimer *g = (GlibTimer *)s;

    if (tr_fire(g->r)) {
        gt_arm(g);
    } else {
        g_source_set_ready_time(s, -1);
    }
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs gt_funcs = {.dispatch = gt_dispatch};

static gboolean gt_noop(gpointer opaque)
{
    load_ack_one(opaque);
    return G_SOURCE_REMOVE;
}

typedef struct GlibPost {
    GMainContext *ctx;
    Load *load;
} GlibPost;

static void gt_post(void *opaque)
{
    GlibPost *p = opaque;

    g_main_context_invoke(p->ctx, gt_noop, p->load);
}

static void run_glib(TimerRun *r, bool load)
{
    GMainContext *ctx = g_main_context_new();
    GlibTimer *g = (GlibTimer *)g_source_new(&gt_funcs, sizeof(GlibTimer));
    Load l = {0};
    GlibPost p = {ctx, &l};

    /*
     * Owned by this thread throughout: g_main_context_invoke() from the
     * producer would otherwise run the function itself whenever it can
     * acquire the context between two iterations, and not wake the loop.
     */
    if (!g_main_context_acquire(ctx)) {
        abort();
    }
    g->r = r;
    g_source_attach(&g->source, ctx);
    load_start(&l, load, gt_post, &p);
    gt_arm(g);
    while (!r->done) {
        g_main_context_iteration(ctx, TRUE);
    }
    load_stop(&l);
    while (atomic_load(&l.acked) < atomic_load(&l.posted)) {
        g_main_context_iteration(ctx, TRUE);
    }
    g_source_destroy(&g->source);
    g_source_unref(&g->source);
    g_main_context_release(ctx);
    g_main_context_unref(ctx);
}

/* ---- driver ---- */

typedef struct Impl {
    const char *name;
    const char *kind; /* iothreadd, floor, peer */
    void (*run)(TimerRun *r, bool load);
    int64_t min_period; /* ns; shorter periods are not run */
} Impl;

static const Impl impls[] = {
    {"iothreadd", "iothreadd", run_iothreadd, 0},
    {"timerfd", "floor", run_timerfd, 0},
    {"io_uring", "peer", run_io_uring, 0},
    {"libuv", "peer", run_libuv, 1000000},
    {"libevent", "peer", run_libevent, 0},
    {"glib", "peer", run_glib, 0},
};
#define NIMPL (sizeof(impls) / sizeof(impls[0]))

static void bench_mode(bool load)
{
    static const struct { int64_t ns; const char *name; int n; } ps[] = {
        {100000, "100us", 400}, {1000000, "1ms", 100}, {10000000, "10ms", 20},
    };
    int64_t *late = malloc(400 * sizeof(*late));
    char metric[64];

    if (!late) {
        abort();
    }
    for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
        double p50[NIMPL][BENCH_REPS];

        for (int rep = 0; rep < BENCH_REPS; rep++) {
            for (size_t j = 0; j < NIMPL; j++) { /* A B C A B C ... */
                TimerRun r = {.period = ps[k].ns, .n = ps[k].n, .late = late};

                if (ps[k].ns < impls[j].min_period) {
                    continue;
                }
                impls[j].run(&r, load);
                p50[j][rep] = (double)bench_pct(late, (size_t)r.n, 0.5) / 1e3;
            }
        }
        snprintf(metric, sizeof(metric), "lateness_p50_us_%s%s", ps[k].name,
                 load ? "_load" : "");
        for (size_t j = 0; j < NIMPL; j++) {
            if (ps[k].ns >= impls[j].min_period) {
                bench_result("timer", metric, "us", impls[j].kind,
                             impls[j].name, p50[j]);
            }
        }
    }
    free(late);
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : "";

    if (*only && strcmp(only, "idle") && strcmp(only, "load")) {
        fprintf(stderr, "usage: %s [idle|load]\n", argv[0]);
        return 2;
    }
    /* Before any event_base: event_active() from the producer needs it. */
    if (evthread_use_pthreads() < 0) {
        abort();
    }
    /* Timer slack is per thread: the IOThreads set it, the loop here too. */
    if (prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) < 0) {
        abort();
    }
    bench_pin(0);
    if (!*only || !strcmp(only, "idle")) {
        bench_mode(false);
    }
    if (!*only || !strcmp(only, "load")) {
        bench_mode(true);
    }
    return 0;
}
