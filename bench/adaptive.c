/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * adaptive: events arrive every 5, 20, 50, 200 us, 1 ms, 10 ms (a BH
 * posted from another CPU at fixed times); for each interval, the
 * latency of an event and the iothread's CPU time, with polling off
 * (poll-max-ns 0), fixed (the window jumps to the maximum and never
 * shrinks: poll-grow huge, poll-shrink 1) and adaptive (QEMU's defaults).
 * Adaptive polling should cost polling-off's CPU when events are rare and
 * give fixed polling's latency when they are frequent.
 */
#include <stdatomic.h>
#include <unistd.h>

#include <iothread/iothread.h>

#include "bench.h"

typedef struct Mode {
    const char *name;
    int64_t max, grow, shrink;
} Mode;

static const Mode modes[] = {
    {"off", 0, 0, 0},
    {"fixed", 32768, 1000000, 1},
    {"adaptive", 32768, 0, 0},
};

static const struct {
    int64_t ns;
    const char *name;
} intervals[] = {
    {5000, "5us"}, {20000, "20us"}, {50000, "50us"},
    {200000, "200us"}, {1000000, "1ms"}, {10000000, "10ms"},
};

typedef struct Ev {
    int64_t due;
    int64_t *lat;
    atomic_int *done;
} Ev;

static void ev_bh(void *opaque)
{
    Ev *e = opaque;

    *e->lat = bench_now() - e->due;
    atomic_fetch_add(e->done, 1);
}

/* The thread's CPU time with nanosecond resolution: Linux's clock id for
 * a thread of this process, from its TID (as glibc builds it for
 * pthread_getcpuclockid); /proc's ticks are 10 ms, too coarse here. */
static double thread_cpu_s(pid_t tid)
{
    clockid_t clock = (clockid_t)((~(unsigned)tid << 3) | 6);
    struct timespec ts;

    if (clock_gettime(clock, &ts) < 0) {
        return 0;
    }
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One point: latency p50 (ns) and iothread CPU (% of a CPU). */
static void run_point(const Mode *m, int64_t interval, double secs,
                      double *p50, double *cpu)
{
    IOThreadOptions o;
    IOThread *t;
    cpu_set_t c0;
    int n = (int)(secs * 1e9 / (double)interval);
    int64_t *lat;
    Ev *ev;
    atomic_int done = 0;
    double cpu0;
    int64_t t0, next;
    struct timespec ts;

    /* At long intervals the CPU is a fraction of a percent: enough events
     * that the ratio is not the noise of a few wake-ups. */
    n = n < 100 ? 100 : n;
    lat = calloc((size_t)n, sizeof(*lat));
    ev = calloc((size_t)n, sizeof(*ev));
    CPU_ZERO(&c0);
    CPU_SET(0, &c0);
    iothread_options_init(&o);
    o.affinity = &c0;
    o.poll_max_ns = m->max;
    o.poll_grow = m->grow;
    o.poll_shrink = m->shrink;
    iothread_start(&t, &o);
    usleep(20000);
    bench_pin(1);
    cpu0 = thread_cpu_s(iothread_get_tid(t));
    t0 = bench_now();
    next = t0;
    for (int i = 0; i < n; i++) {
        next += interval;
        ts.tv_sec = next / 1000000000;
        ts.tv_nsec = next % 1000000000;
        if (interval >= 100000) {
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        } else {
            while (bench_now() < next) {
            }
        }
        ev[i] = (Ev){.due = bench_now(), .lat = &lat[i], .done = &done};
        aio_bh_schedule_oneshot(iothread_get_aio_context(t), ev_bh, &ev[i]);
    }
    while (atomic_load(&done) < n) {
        usleep(100);
    }
    *cpu = (thread_cpu_s(iothread_get_tid(t)) - cpu0) /
           ((double)(bench_now() - t0) / 1e9) * 100.0;
    *p50 = (double)bench_pct(lat, (size_t)n, 0.5);
    iothread_stop(t);
    free(lat);
    free(ev);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.3;
    size_t nm = sizeof(modes) / sizeof(modes[0]);
    size_t ni = sizeof(intervals) / sizeof(intervals[0]);
    double p50[3][6][BENCH_REPS], cpu[3][6][BENCH_REPS];
    const char *dir = getenv("BENCH_OUT");
    char metric[64], path[512];
    FILE *dat = NULL;

    for (int rep = 0; rep < BENCH_REPS; rep++) {
        for (size_t i = 0; i < ni; i++) {
            for (size_t m = 0; m < nm; m++) { /* interleaved */
                run_point(&modes[m], intervals[i].ns, secs, &p50[m][i][rep],
                          &cpu[m][i][rep]);
            }
        }
    }
    if (dir) {
        snprintf(path, sizeof(path), "%s/adaptive.dat", dir);
        dat = fopen(path, "w");
    }
    for (size_t i = 0; i < ni; i++) {
        double ratio[BENCH_REPS];

        for (size_t m = 0; m < nm; m++) {
            snprintf(metric, sizeof(metric), "latency_p50_ns_%s_%s",
                     modes[m].name, intervals[i].name);
            bench_result("adaptive", metric, "ns", "iothreadd", "iothreadd",
                         p50[m][i]);
            snprintf(metric, sizeof(metric), "cpu_percent_%s_%s",
                     modes[m].name, intervals[i].name);
            bench_result("adaptive", metric, "%", "iothreadd", "iothreadd",
                         cpu[m][i]);
        }
        for (int rep = 0; rep < BENCH_REPS; rep++) {
            ratio[rep] = cpu[0][i][rep] > 0
                             ? cpu[2][i][rep] / cpu[0][i][rep]
                             : 1.0;
        }
        snprintf(metric, sizeof(metric), "cpu_ratio_vs_poll_off_%s",
                 intervals[i].name);
        bench_result("adaptive", metric, "x", "iothreadd", "iothreadd",
                     ratio);
        if (dat) {
            fprintf(dat, "%lld", (long long)intervals[i].ns);
            for (size_t m = 0; m < nm; m++) {
                fprintf(dat, " %g %g", bench_median(p50[m][i], BENCH_REPS),
                        bench_median(cpu[m][i], BENCH_REPS));
            }
            fprintf(dat, "\n");
        }
    }
    if (dat) {
        fclose(dat);
    }
    return 0;
}
