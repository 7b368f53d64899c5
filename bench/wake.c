/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wake-blocking / wake-polling: a cross-thread ping-pong, A on CPU 0 and
 * B on CPU 1, each side waking the other.  The round-trip time is what a
 * request handed to an iothread and answered back costs.  iothreadd uses
 * bottom halves between two IOThreads (poll-max-ns 0, then 32768); the
 * floors are raw eventfd + epoll_wait (blocking) and a spin on a shared
 * cache line (polling); the peers are libuv's uv_async_send, libevent's
 * event_active and GLib's g_main_context_invoke.
 *
 * wake-blocking is also run with both sides on CPU 0 (metrics *_samecore):
 * there a wake-up is a context switch, not an inter-processor interrupt,
 * which is what a host with more iothreads than CPUs sees.  Polling on a
 * shared CPU only burns the other side's time slice, so it has no such
 * variant.
 */
#include <errno.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <glib.h>
#include <uv.h>

#include <iothread/iothread.h>

#include "bench.h"

/* Side B's CPU: 1 (cross-core) or 0 (same core as side A). */
static int cpu_b = 1;

typedef struct Run {
    int n;           /* round trips */
    int i;
    int64_t last;
    int64_t *rtt;
    atomic_bool done;
} Run;

/* Side A saw the answer: one round trip more. */
static bool tick(Run *r)
{
    int64_t now = bench_now();

    if (r->i > 0) {
        r->rtt[r->i - 1] = now - r->last;
    }
    r->last = now;
    if (++r->i > r->n) {
        atomic_store(&r->done, true);
        return false;
    }
    return true;
}

/* ---- iothreadd: BHs between two IOThreads ---- */

typedef struct IotPong {
    Run *run;
    AioBH *bh_a, *bh_b;
} IotPong;

static void iot_a(void *opaque)
{
    IotPong *p = opaque;

    if (tick(p->run)) {
        aio_bh_schedule(p->bh_b);
    }
}

static void iot_b(void *opaque)
{
    aio_bh_schedule(((IotPong *)opaque)->bh_a);
}

static void run_iothreadd(Run *r, int64_t poll_max_ns)
{
    IOThreadOptions o;
    IOThread *a, *b;
    cpu_set_t ca, cb;
    IotPong p = {.run = r};

    CPU_ZERO(&ca);
    CPU_SET(0, &ca);
    CPU_ZERO(&cb);
    CPU_SET(cpu_b % (int)sysconf(_SC_NPROCESSORS_ONLN), &cb);
    iothread_options_init(&o);
    o.poll_max_ns = poll_max_ns;
    o.affinity = &ca;
    iothread_start(&a, &o);
    o.affinity = &cb;
    iothread_start(&b, &o);
    p.bh_a = aio_bh_new(iothread_get_aio_context(a), iot_a, &p);
    p.bh_b = aio_bh_new(iothread_get_aio_context(b), iot_b, &p);
    aio_bh_schedule(p.bh_a);
    while (!atomic_load(&r->done)) {
        usleep(1000);
    }
    aio_bh_delete(p.bh_a);
    aio_bh_delete(p.bh_b);
    iothread_stop(a);
    iothread_stop(b);
}

/* ---- floors ---- */

typedef struct EfdPong {
    Run *run;
    int efd_a, efd_b, ep_a, ep_b;
} EfdPong;

static void efd_wait(int ep, int efd)
{
    struct epoll_event ev;
    uint64_t v;

    while (epoll_wait(ep, &ev, 1, -1) < 1) {
    }
    if (read(efd, &v, sizeof(v)) < 0) {
        abort();
    }
}

static void *efd_b_main(void *opaque)
{
    EfdPong *p = opaque;
    uint64_t one = 1;

    bench_pin(cpu_b);
    for (;;) {
        efd_wait(p->ep_b, p->efd_b);
        if (atomic_load(&p->run->done)) {
            return NULL;
        }
        if (write(p->efd_a, &one, 8) < 0) {
            abort();
        }
    }
}

static int epoll_for(int efd)
{
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};

    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    return ep;
}

static void run_eventfd(Run *r)
{
    EfdPong p = {.run = r};
    uint64_t one = 1;
    pthread_t t;

    p.efd_a = eventfd(0, 0);
    p.efd_b = eventfd(0, 0);
    p.ep_a = epoll_for(p.efd_a);
    p.ep_b = epoll_for(p.efd_b);
    pthread_create(&t, NULL, efd_b_main, &p);
    bench_pin(0);
    while (tick(r)) {
        if (write(p.efd_b, &one, 8) < 0) {
            abort();
        }
        efd_wait(p.ep_a, p.efd_a);
    }
    if (write(p.efd_b, &one, 8) < 0) {
        abort();
    }
    pthread_join(t, NULL);
    close(p.efd_a);
    close(p.efd_b);
    close(p.ep_a);
    close(p.ep_b);
}

static _Alignas(64) atomic_int spin_turn;

static void *spin_b_main(void *opaque)
{
    Run *r = opaque;

    bench_pin(cpu_b);
    while (!atomic_load_explicit(&r->done, memory_order_relaxed)) {
        if (atomic_load_explicit(&spin_turn, memory_order_acquire) == 1) {
            atomic_store_explicit(&spin_turn, 0, memory_order_release);
        }
    }
    return NULL;
}

static void run_spin(Run *r)
{
    pthread_t t;

    atomic_store(&spin_turn, 0);
    pthread_create(&t, NULL, spin_b_main, r);
    bench_pin(0);
    while (tick(r)) {
        atomic_store_explicit(&spin_turn, 1, memory_order_release);
        while (atomic_load_explicit(&spin_turn, memory_order_acquire)) {
        }
    }
    pthread_join(t, NULL);
}

/* ---- libuv ---- */

typedef struct UvPong {
    Run *run;
    uv_loop_t loop_a, loop_b;
    uv_async_t a, b;
} UvPong;

static void uv_a_cb(uv_async_t *h)
{
    UvPong *p = h->data;

    if (tick(p->run)) {
        uv_async_send(&p->b);
    } else {
        uv_close((uv_handle_t *)&p->a, NULL);
        uv_async_send(&p->b);
    }
}

static void uv_b_cb(uv_async_t *h)
{
    UvPong *p = h->data;

    if (atomic_load(&p->run->done)) {
        uv_close((uv_handle_t *)&p->b, NULL);
        return;
    }
    uv_async_send(&p->a);
}

static void *uv_b_main(void *opaque)
{
    UvPong *p = opaque;

    bench_pin(cpu_b);
    uv_run(&p->loop_b, UV_RUN_DEFAULT);
    return NULL;
}

static void run_libuv(Run *r)
{
    UvPong p = {.run = r};
    pthread_t t;

    uv_loop_init(&p.loop_a);
    uv_loop_init(&p.loop_b);
    uv_async_init(&p.loop_a, &p.a, uv_a_cb);
    uv_async_init(&p.loop_b, &p.b, uv_b_cb);
    p.a.data = p.b.data = &p;
    pthread_create(&t, NULL, uv_b_main, &p);
    bench_pin(0);
    uv_async_send(&p.a);
    uv_run(&p.loop_a, UV_RUN_DEFAULT);
    pthread_join(t, NULL);
    uv_loop_close(&p.loop_a);
    uv_loop_close(&p.loop_b);
}

/* ---- libevent ---- */

typedef struct EvPong {
    Run *run;
    struct event_base *base_a, *base_b;
    struct event *a, *b;
} EvPong;

static void ev_a_cb(evutil_socket_t fd, short what, void *opaque)
{
    EvPong *p = opaque;

    if (tick(p->run)) {
        event_active(p->b, EV_READ, 0);
    } else {
        event_base_loopbreak(p->base_b);
        event_base_loopbreak(p->base_a);
    }
}

static void ev_b_cb(evutil_socket_t fd, short what, void *opaque)
{
    EvPong *p = opaque;

    event_active(p->a, EV_READ, 0);
}

static void *ev_b_main(void *opaque)
{
    EvPong *p = opaque;

    bench_pin(cpu_b);
    event_base_loop(p->base_b, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void run_libevent(Run *r)
{
    EvPong p = {.run = r};
    pthread_t t;

    p.base_a = event_base_new();
    p.base_b = event_base_new();
    p.a = event_new(p.base_a, -1, 0, ev_a_cb, &p);
    p.b = event_new(p.base_b, -1, 0, ev_b_cb, &p);
    pthread_create(&t, NULL, ev_b_main, &p);
    bench_pin(0);
    usleep(1000); /* B's loop must be running to be woken */
    event_active(p.a, EV_READ, 0);
    event_base_loop(p.base_a, EVLOOP_NO_EXIT_ON_EMPTY);
    pthread_join(t, NULL);
    event_free(p.a);
    event_free(p.b);
    event_base_free(p.base_a);
    event_base_free(p.base_b);
}

/* ---- GLib ---- */

typedef struct GPong {
    Run *run;
    GMainContext *ctx_a, *ctx_b;
    GMainLoop *loop_a, *loop_b;
} GPong;

static gboolean g_b_fn(gpointer opaque);

static gboolean g_a_fn(gpointer opaque)
{
    GPong *p = opaque;

    if (tick(p->run)) {
        g_main_context_invoke(p->ctx_b, g_b_fn, p);
    } else {
        g_main_loop_quit(p->loop_b);
        g_main_loop_quit(p->loop_a);
    }
    return G_SOURCE_REMOVE;
}

static gboolean g_b_fn(gpointer opaque)
{
    GPong *p = opaque;

    g_main_context_invoke(p->ctx_a, g_a_fn, p);
    return G_SOURCE_REMOVE;
}

static void *g_b_main(void *opaque)
{
    GPong *p = opaque;

    bench_pin(cpu_b);
    g_main_context_push_thread_default(p->ctx_b);
    g_main_loop_run(p->loop_b);
    g_main_context_pop_thread_default(p->ctx_b);
    return NULL;
}

static void run_glib(Run *r)
{
    GPong p = {.run = r};
    pthread_t t;

    p.ctx_a = g_main_context_new();
    p.ctx_b = g_main_context_new();
    p.loop_a = g_main_loop_new(p.ctx_a, FALSE);
    p.loop_b = g_main_loop_new(p.ctx_b, FALSE);
    pthread_create(&t, NULL, g_b_main, &p);
    bench_pin(0);
    g_main_context_push_thread_default(p.ctx_a);
    g_main_context_invoke(p.ctx_a, g_a_fn, &p);
    g_main_loop_run(p.loop_a);
    g_main_context_pop_thread_default(p.ctx_a);
    pthread_join(t, NULL);
    g_main_loop_unref(p.loop_a);
    g_main_loop_unref(p.loop_b);
    g_main_context_unref(p.ctx_a);
    g_main_context_unref(p.ctx_b);
}

/* ---- driver ---- */

typedef struct Impl {
    const char *name;
    const char *kind; /* iothreadd, floor, peer */
    void (*run)(Run *r, bool polling);
} Impl;

static void iot(Run *r, bool polling)
{
    run_iothreadd(r, polling ? 32768 : 0);
}

static void floor_impl(Run *r, bool polling)
{
    if (polling) {
        run_spin(r);
    } else {
        run_eventfd(r);
    }
}

static void uv_impl(Run *r, bool polling)
{
    run_libuv(r);
}

static void ev_impl(Run *r, bool polling)
{
    run_libevent(r);
}

static void g_impl(Run *r, bool polling)
{
    run_glib(r);
}

static const Impl impls[] = {
    {"iothreadd", "iothreadd", iot},
    {"floor", "floor", floor_impl},
    {"libuv", "peer", uv_impl},
    {"libevent", "peer", ev_impl},
    {"glib", "peer", g_impl},
};
#define NIMPL (sizeof(impls) / sizeof(impls[0]))

static void dump(const char *mode, const char *impl, int64_t *v, int n)
{
    const char *dir = getenv("BENCH_OUT");
    char path[512];
    FILE *f;

    if (!dir) {
        return;
    }
    snprintf(path, sizeof(path), "%s/%s-%s.dat", dir, mode, impl);
    f = fopen(path, "w");
    for (int i = 0; f && i < n; i += n / 1000 + 1) {
        fprintf(f, "%f %lld\n", (double)i / n, (long long)v[i]);
    }
    if (f) {
        fclose(f);
    }
}

static void bench_mode(bool polling, bool samecore, int n)
{
    const char *mode = polling ? "wake-polling" : "wake-blocking";
    const char *sfx = samecore ? "_samecore" : "";
    char m50[64], m99[64], dat[64];
    double p50[NIMPL][BENCH_REPS], p99[NIMPL][BENCH_REPS];
    int64_t *rtt = malloc((size_t)n * sizeof(*rtt));

    cpu_b = samecore ? 0 : 1;
    snprintf(m50, sizeof(m50), "rtt_p50_ns%s", sfx);
    snprintf(m99, sizeof(m99), "rtt_p99_ns%s", sfx);
    snprintf(dat, sizeof(dat), "%s%s", mode, samecore ? "-samecore" : "");
    evthread_use_pthreads();
    for (int rep = 0; rep < BENCH_REPS; rep++) {
        for (size_t k = 0; k < NIMPL; k++) { /* interleaved: A B C A B C */
            Run r = {.n = n, .rtt = rtt};

            impls[k].run(&r, polling);
            p50[k][rep] = (double)bench_pct(rtt, (size_t)n, 0.50);
            p99[k][rep] = (double)bench_pct(rtt, (size_t)n, 0.99);
            if (rep == BENCH_REPS - 1) {
                dump(dat, impls[k].name, rtt, n);
            }
        }
    }
    for (size_t k = 0; k < NIMPL; k++) {
        bench_result(mode, m50, "ns", impls[k].kind, impls[k].name, p50[k]);
        bench_result(mode, m99, "ns", impls[k].kind, impls[k].name, p99[k]);
    }
    free(rtt);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;

    bench_mode(false, false, n);
    bench_mode(false, true, n);
    bench_mode(true, false, n * 2);
    return 0;
}
