/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the benchmarks: clocks, pinning, repetitions interleaved
 * across implementations, and the result lines bench/run.sh collects.
 */
#ifndef IOTHREADD_BENCH_H
#define IOTHREADD_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_REPS 6 /* the first is discarded */

static inline int64_t bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void bench_pin(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu % (int)sysconf(_SC_NPROCESSORS_ONLN), &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static inline int64_t bench_pct(int64_t *v, size_t n, double p)
{
    qsort(v, n, sizeof(*v), cmp_i64);
    return v[(size_t)(p * (double)(n - 1))];
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Median of per-repetition values (repetition 0 discarded). */
static inline double bench_median(double *reps, int n)
{
    double v[BENCH_REPS];

    memcpy(v, reps + 1, (size_t)(n - 1) * sizeof(double));
    qsort(v, (size_t)(n - 1), sizeof(double), cmp_d);
    return v[(n - 1) / 2];
}

static inline double bench_min(double *reps, int n)
{
    double m = reps[1];

    for (int i = 2; i < n; i++) {
        m = reps[i] < m ? reps[i] : m;
    }
    return m;
}

static inline double bench_max(double *reps, int n)
{
    double m = reps[1];

    for (int i = 2; i < n; i++) {
        m = reps[i] > m ? reps[i] : m;
    }
    return m;
}

/*
 * One result: "RESULT bench metric unit impl value min max" on stdout;
 * run.sh turns these into results.tsv / peers.tsv and the table.
 * @kind: "iothreadd", "floor" or "peer".
 */
static inline void bench_result(const char *bench, const char *metric,
                                const char *unit, const char *kind,
                                const char *impl, double *reps)
{
    printf("RESULT\t%s\t%s\t%s\t%s\t%s\t%.6g\t%.6g\t%.6g\n", bench, metric,
           unit, kind, impl, bench_median(reps, BENCH_REPS),
           bench_min(reps, BENCH_REPS), bench_max(reps, BENCH_REPS));
    fflush(stdout);
}

#endif /* IOTHREADD_BENCH_H */
