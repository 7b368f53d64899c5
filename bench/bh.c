/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bh-throughput: 1 and 2 producer threads flood one consumer event-loop
 * thread with work items, each a separately allocated callback that the
 * consumer runs once.  Measured per implementation:
 *   items/s with 1 and with 2 producers,
 *   wake-up writes per item with 1 producer (the coalescing promise: a
 *     loop that is already awake or already notified should not pay a
 *     syscall per item),
 *   CPU ns per item with 1 producer (getrusage(RUSAGE_SELF) user+sys over
 *     the run / items), because a loop can buy items/s with a spinning
 *     consumer or producer and that cost must be visible next to it.
 *
 * The peers do the same work so the numbers compare: every item is one
 * allocation made by the producer, handed to the consumer thread, run as
 * one callback invocation and freed there.
 *   iothreadd:        aio_bh_schedule_oneshot() into an IOThread.
 *   libuv:            mutex-protected intrusive list + uv_async_send().
 *   libevent:         event_base_once() with a zero timeout from the
 *                     producer (the base's notify fd wakes the loop).
 *   glib:             g_main_context_invoke() (one idle source per call).
 *   eventfd_per_item: mutex-protected list + one eventfd write per item,
 *                     consumer in epoll_wait: what no coalescing costs.
 *
 * Consumer on CPU 0, producer i on CPU 1 + i (modulo the CPU count, so on
 * a 2-CPU machine the second producer shares CPU 0 with the consumer).
 * A run starts when the producers are created and ends when the consumer
 * runs the last callback; loop setup and teardown are outside it.  The
 * implementations are interleaved within each repetition so drift in the
 * machine's state hits all of them alike.
 *
 * Usage: bh [items-per-run]   (default 1000000)
 */
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <glib.h>
#include <uv.h>

#include <iothread/iothread.h>

#include "bench.h"

/* ---- what every implementation's item callback does ---- */

static atomic_long items_run;
static long items_target;
static int64_t t_end;
static struct rusage ru_end;
static sem_t done_sem;  /* posted by the consumer after the last item */
static sem_t ready_sem; /* posted by a consumer thread about to loop */

static void item_run(void)
{
    /*
     * Only the consumer writes the counter, so a load and a store are
     * enough; a locked add would charge every implementation for a
     * contention that is not there.
     */
    long k = atomic_load_explicit(&items_run, memory_order_relaxed) + 1;

    atomic_store_explicit(&items_run, k, memory_order_relaxed);
    if (k == items_target) {
        /* Stamped here, not in the waiter, so its wake-up is not timed. */
        t_end = bench_now();
        getrusage(RUSAGE_SELF, &ru_end);
        sem_post(&done_sem);
    }
}

/*
 * The item the hand-written queues carry: a callback, allocated by the
 * producer and freed by the consumer as the libraries do internally.
 */
typedef struct Item {
    struct Item *next;
    void (*cb)(void *opaque);
    void *opaque;
} Item;

static void item_cb(void *opaque)
{
    (void)opaque;
    item_run();
}

/* FIFO with a tail pointer so neither side walks or reverses the list. */
typedef struct Queue {
    pthread_mutex_t lock;
    Item *head;
    Item **tailp;
} Queue;

static void queue_init(Queue *q)
{
    pthread_mutex_init(&q->lock, NULL);
    q->head = NULL;
    q->tailp = &q->head;
}

static void queue_push(Queue *q, Item *it)
{
    it->next = NULL;
    pthread_mutex_lock(&q->lock);
    *q->tailp = it;
    q->tailp = &it->next;
    pthread_mutex_unlock(&q->lock);
}

/* Run and free everything queued; the lock is held only for the swap. */
static void queue_drain(Queue *q)
{
    Item *it, *next;

    pthread_mutex_lock(&q->lock);
    it = q->head;
    q->head = NULL;
    q->tailp = &q->head;
    pthread_mutex_unlock(&q->lock);
    for (; it; it = next) {
        next = it->next;
        it->cb(it->opaque);
        free(it);
    }
}

static Item *item_new(void)
{
    Item *it = malloc(sizeof(*it));

    if (!it) {
        abort();
    }
    it->cb = item_cb;
    it->opaque = NULL;
    return it;
}

typedef struct Impl {
    const char *name;
    const char *kind;
    /* Set up the loop and start its consumer; return once it is ready. */
    void (*start)(void);
    /* One item, from a producer thread. */
    void (*push)(void);
    /* Wake-ups so far, or NULL when the implementation hides them. */
    uint64_t (*writes)(void);
    /* All items have run and the producers are joined: tear down. */
    void (*stop)(void);
} Impl;

/* ---- iothreadd ---- */

static IOThread *iot_thread;
static AioContext *iot_ctx;

static void iot_bh(void *opaque)
{
    (void)opaque;
    item_run();
}

static void iot_start(void)
{
    IOThreadOptions o;
    cpu_set_t c0;
    int ret;

    CPU_ZERO(&c0);
    CPU_SET(0, &c0);
    iothread_options_init(&o);
    o.affinity = &c0;
    ret = iothread_start(&iot_thread, &o);
    if (ret < 0) {
        fprintf(stderr, "iothread_start: %s\n", strerror(-ret));
        exit(1);
    }
    iot_ctx = iothread_get_aio_context(iot_thread);
}

static void iot_push(void)
{
    if (aio_bh_schedule_oneshot(iot_ctx, iot_bh, NULL) < 0) {
        abort();
    }
}

static uint64_t iot_writes(void)
{
    AioStats st;

    aio_context_get_stats(iot_ctx, &st);
    return st.notify_writes;
}

static void iot_stop(void)
{
    iothread_stop(iot_thread);
}

/* ---- libuv ---- */

static uv_loop_t uvq_lp;
static uv_async_t uvq_items, uvq_quit;
static Queue uvq_q;
static pthread_t uvq_thr;
/*
 * uv_async_send() coalesces internally and does not say whether it wrote,
 * so the number of async callbacks run stands in for its writes: each
 * callback needed at least one wake-up, and coalesced sends that arrive
 * while the loop is awake may need none, so this is an upper bound on
 * the wake-ups the consumer took and at most what the producer wrote.
 */
static atomic_ulong uvq_cbs;

static void uvq_items_cb(uv_async_t *h)
{
    (void)h;
    atomic_store_explicit(&uvq_cbs,
                          atomic_load_explicit(&uvq_cbs,
                                               memory_order_relaxed) + 1,
                          memory_order_relaxed);
    queue_drain(&uvq_q);
}

static void uvq_quit_cb(uv_async_t *h)
{
    (void)h;
    uv_close((uv_handle_t *)&uvq_items, NULL);
    uv_close((uv_handle_t *)&uvq_quit, NULL);
}

static void *uvq_consumer(void *opaque)
{
    (void)opaque;
    bench_pin(0);
    sem_post(&ready_sem);
    uv_run(&uvq_lp, UV_RUN_DEFAULT);
    return NULL;
}

static void uvq_start(void)
{
    queue_init(&uvq_q);
    atomic_store(&uvq_cbs, 0);
    uv_loop_init(&uvq_lp);
    /* Not thread-safe, hence before the consumer thread exists. */
    uv_async_init(&uvq_lp, &uvq_items, uvq_items_cb);
    uv_async_init(&uvq_lp, &uvq_quit, uvq_quit_cb);
    pthread_create(&uvq_thr, NULL, uvq_consumer, NULL);
    sem_wait(&ready_sem);
}

static void uvq_push(void)
{
    queue_push(&uvq_q, item_new());
    uv_async_send(&uvq_items);
}

static uint64_t uvq_writes(void)
{
    return atomic_load(&uvq_cbs);
}

static void uvq_stop(void)
{
    /*
     * Closing from a second async rather than in the last item's callback:
     * a producer may still be inside uv_async_send(&uvq_items) for an item
     * the consumer already ran, and closing under it is undefined.
     */
    uv_async_send(&uvq_quit);
    pthread_join(uvq_thr, NULL);
    uv_loop_close(&uvq_lp);
    pthread_mutex_destroy(&uvq_q.lock);
}

/* ---- libevent ---- */

static struct event_base *le_base;
static pthread_t le_thr;
static const struct timeval le_zero_tv;

static void le_item_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    item_run();
}

static void *le_consumer(void *opaque)
{
    (void)opaque;
    bench_pin(0);
    sem_post(&ready_sem);
    /* The base starts empty; without this flag it would return at once. */
    event_base_loop(le_base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void le_start(void)
{
    /* evthread_use_pthreads() ran first, so this base has a lock and a
     * notify fd, which is what lets another thread add to it. */
    le_base = event_base_new();
    if (!le_base) {
        fprintf(stderr, "event_base_new failed\n");
        exit(1);
    }
    pthread_create(&le_thr, NULL, le_consumer, NULL);
    sem_wait(&ready_sem);
}

static void le_push(void)
{
    if (event_base_once(le_base, -1, EV_TIMEOUT, le_item_cb, NULL,
                        &le_zero_tv) < 0) {
        abort();
    }
}

static void le_stop(void)
{
    /* The loop is running (it ran the items), so the break is not lost to
     * event_base_loop() clearing the flag on entry. */
    event_base_loopbreak(le_base);
    pthread_join(le_thr, NULL);
    event_base_free(le_base);
}

/* ---- GLib ---- */

static GMainContext *gl_ctx;
static GMainLoop *gl_loop;
static pthread_t gl_thr;

static gboolean gl_item_fn(gpointer data)
{
    (void)data;
    item_run();
    return G_SOURCE_REMOVE;
}

static void *gl_consumer(void *opaque)
{
    (void)opaque;
    bench_pin(0);
    /*
     * Own the context before the producers start, so that no invoke can
     * find it free and run the function in the producer's thread.
     */
    g_main_context_acquire(gl_ctx);
    sem_post(&ready_sem);
    g_main_loop_run(gl_loop);
    g_main_context_release(gl_ctx);
    return NULL;
}

static void gl_start(void)
{
    gl_ctx = g_main_context_new();
    gl_loop = g_main_loop_new(gl_ctx, FALSE);
    pthread_create(&gl_thr, NULL, gl_consumer, NULL);
    sem_wait(&ready_sem);
}

static void gl_push(void)
{
    g_main_context_invoke(gl_ctx, gl_item_fn, NULL);
}

static void gl_stop(void)
{
    /* Running since it ran the items, so the quit cannot come too early. */
    g_main_loop_quit(gl_loop);
    pthread_join(gl_thr, NULL);
    g_main_loop_unref(gl_loop);
    g_main_context_unref(gl_ctx);
}

/* ---- eventfd per item ---- */

static int efd_fd, efd_ep;
static Queue efd_q;
static pthread_t efd_thr;
static atomic_bool efd_quit;

static void *efd_consumer(void *opaque)
{
    struct epoll_event ev;
    uint64_t v;

    (void)opaque;
    bench_pin(0);
    sem_post(&ready_sem);
    while (!atomic_load(&efd_quit)) {
        if (epoll_wait(efd_ep, &ev, 1, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            abort();
        }
        /* Non-blocking: a spurious readiness must not park the loop. */
        if (read(efd_fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
            abort();
        }
        queue_drain(&efd_q);
    }
    return NULL;
}

static void efd_start(void)
{
    struct epoll_event ev = {.events = EPOLLIN};

    queue_init(&efd_q);
    atomic_store(&efd_quit, false);
    efd_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    efd_ep = epoll_create1(EPOLL_CLOEXEC);
    if (efd_fd < 0 || efd_ep < 0 ||
        epoll_ctl(efd_ep, EPOLL_CTL_ADD, efd_fd, &ev) < 0) {
        perror("eventfd/epoll");
        exit(1);
    }
    pthread_create(&efd_thr, NULL, efd_consumer, NULL);
    sem_wait(&ready_sem);
}

static void efd_write(void)
{
    uint64_t one = 1;

    if (write(efd_fd, &one, sizeof(one)) != sizeof(one)) {
        abort();
    }
}

static void efd_push(void)
{
    queue_push(&efd_q, item_new());
    efd_write();
}

/* One write per push, unconditionally, so the count is the item count;
 * counting it in the producers would add a shared atomic they don't need. */
static uint64_t efd_writes(void)
{
    return (uint64_t)atomic_load(&items_run);
}

static void efd_stop(void)
{
    atomic_store(&efd_quit, true);
    efd_write();
    pthread_join(efd_thr, NULL);
    close(efd_ep);
    close(efd_fd);
    pthread_mutex_destroy(&efd_q.lock);
}

/* ---- driver ---- */

static const Impl impls[] = {
    {"iothreadd", "iothreadd", iot_start, iot_push, iot_writes, iot_stop},
    {"libuv", "peer", uvq_start, uvq_push, uvq_writes, uvq_stop},
    {"libevent", "peer", le_start, le_push, NULL, le_stop},
    {"glib", "peer", gl_start, gl_push, NULL, gl_stop},
    {"eventfd_per_item", "peer", efd_start, efd_push, efd_writes, efd_stop},
};
#define NIMPL (sizeof(impls) / sizeof(impls[0]))

typedef struct Prod {
    const Impl *impl;
    long n;
    int cpu;
} Prod;

static void *producer(void *opaque)
{
    Prod *p = opaque;

    bench_pin(p->cpu);
    for (long i = 0; i < p->n; i++) {
        p->impl->push();
    }
    return NULL;
}

static int64_t rusage_ns(const struct rusage *ru)
{
    return ((int64_t)ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1000;
}

typedef struct Sample {
    double items_s;
    double writes_per_item;
    double cpu_ns_per_item;
} Sample;

static void run_one(const Impl *im, int producers, long n, Sample *s)
{
    Prod p[2];
    pthread_t th[2];
    struct rusage ru0;
    uint64_t w0 = 0, w1 = 0;
    int64_t t0;

    items_target = n / producers * producers;
    atomic_store(&items_run, 0);
    im->start();
    if (im->writes) {
        w0 = im->writes();
    }
    getrusage(RUSAGE_SELF, &ru0);
    t0 = bench_now();
    for (int i = 0; i < producers; i++) {
        p[i] = (Prod){im, n / producers, 1 + i};
        pthread_create(&th[i], NULL, producer, &p[i]);
    }
    /* Blocked, not spinning, so this thread adds nothing to the rusage. */
    while (sem_wait(&done_sem) < 0 && errno == EINTR) {
    }
    for (int i = 0; i < producers; i++) {
        pthread_join(th[i], NULL);
    }
    /* After the joins: a producer's last wake-up may follow the last item. */
    if (im->writes) {
        w1 = im->writes();
    }
    im->stop();

    s->items_s = (double)items_target / ((double)(t_end - t0) / 1e9);
    s->writes_per_item = (double)(w1 - w0) / (double)items_target;
    s->cpu_ns_per_item =
        (double)(rusage_ns(&ru_end) - rusage_ns(&ru0)) / (double)items_target;
}

/* One metric for every implementation run (@only), or for those that
 * count their wake-ups (@writes_only). */
static void report(const char *metric, const char *unit, const char *only,
                   bool writes_only, double v[][BENCH_REPS])
{
    for (size_t i = 0; i < NIMPL; i++) {
        if ((only && !strstr(only, impls[i].name)) ||
            (writes_only && !impls[i].writes)) {
            continue;
        }
        bench_result("bh-throughput", metric, unit, impls[i].kind,
                     impls[i].name, v[i]);
    }
}

int main(int argc, char **argv)
{
    static double it1[NIMPL][BENCH_REPS], it2[NIMPL][BENCH_REPS];
    static double wpi[NIMPL][BENCH_REPS], cpu[NIMPL][BENCH_REPS];
    const char *only = argc > 2 ? argv[2] : NULL; /* "iothreadd,libuv" */
    long n = 1000000;

    if (argc > 1) {
        n = strtol(argv[1], NULL, 0);
        if (n < 2) {
            fprintf(stderr, "usage: %s [items-per-run >= 2]\n", argv[0]);
            return 2;
        }
    }
    if (evthread_use_pthreads() < 0) {
        fprintf(stderr, "evthread_use_pthreads failed\n");
        return 1;
    }
    sem_init(&done_sem, 0, 0);
    sem_init(&ready_sem, 0, 0);

    for (int rep = 0; rep < BENCH_REPS; rep++) {
        for (size_t i = 0; i < NIMPL; i++) {
            Sample s;

            if (only && !strstr(only, impls[i].name)) {
                continue;
            }
            run_one(&impls[i], 1, n, &s);
            it1[i][rep] = s.items_s;
            wpi[i][rep] = s.writes_per_item;
            cpu[i][rep] = s.cpu_ns_per_item;
            run_one(&impls[i], 2, n, &s);
            it2[i][rep] = s.items_s;
        }
    }

    report("items_per_s_1producer", "items/s", only, false, it1);
    report("items_per_s_2producers", "items/s", only, false, it2);
    report("eventfd_writes_per_item", "writes", only, true, wpi);
    report("cpu_ns_per_item_1producer", "ns", only, false, cpu);
    return 0;
}
