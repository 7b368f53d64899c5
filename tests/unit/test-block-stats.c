/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The latency histograms of block-stats.c: which bin a request lands in,
 * which boundaries are refused, and boundaries changed while other
 * threads count (the counts stay exact, and under ASan and TSan no
 * histogram is freed while a thread still counts in it).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../harness.h"

#include "block/block-stats.h"

#define SEC 1000000000LL

/* End one request of @op, @ago_ns after it started (negative: a start
 * in the future, which counts as zero ns), with @ret. */
static void one_request(BlockStats *s, BlockStatsOp op, int64_t ago_ns,
                        int ret)
{
    int64_t start = block_stats_start(s);

    block_stats_done(s, op, start - ago_ns, 0, 512, ret);
}

static uint64_t bins_sum(const BlockStatsHistogram *h)
{
    uint64_t sum = 0;

    for (unsigned i = 0; i <= h->nb_boundaries; i++) {
        sum += h->bins[i];
    }
    return sum;
}

TEST(histogram_counts_each_request_in_its_latency_bin)
{
    static const uint64_t b[] = {1 * SEC, 5 * SEC};
    BlockStats s = {0};
    BlockStatsSnapshot st;

    block_stats_snapshot(&s, &st);
    CHECK_EQ_INT(st.histogram[BLOCK_STATS_READ].nb_boundaries, 0);
    REQUIRE(block_stats_set_histogram(&s, BLOCK_STATS_READ, b, 2) == 0);
    one_request(&s, BLOCK_STATS_READ, -100 * SEC, 0);  /* 0 ns: [0, 1s) */
    one_request(&s, BLOCK_STATS_READ, 2 * SEC, 0);     /* [1s, 5s) */
    one_request(&s, BLOCK_STATS_READ, 2 * SEC, -EIO);  /* failed: counted */
    one_request(&s, BLOCK_STATS_READ, 60 * SEC, 0);    /* [5s, +inf) */
    one_request(&s, BLOCK_STATS_WRITE, 2 * SEC, 0);    /* no write one */

    block_stats_snapshot(&s, &st);
    const BlockStatsHistogram *h = &st.histogram[BLOCK_STATS_READ];
    CHECK_EQ_INT(h->nb_boundaries, 2);
    CHECK_EQ_INT(h->boundaries[0], 1 * SEC);
    CHECK_EQ_INT(h->boundaries[1], 5 * SEC);
    CHECK_EQ_INT(h->bins[0], 1);
    CHECK_EQ_INT(h->bins[1], 2);
    CHECK_EQ_INT(h->bins[2], 1);
    CHECK_EQ_INT(bins_sum(h), st.rd_operations + st.failed_rd_operations);
    CHECK_EQ_INT(st.histogram[BLOCK_STATS_WRITE].nb_boundaries, 0);
    CHECK_EQ_INT(st.in_flight, 0);
    block_stats_destroy(&s);
}

TEST(setting_boundaries_starts_empty_bins_and_no_boundaries_removes)
{
    static const uint64_t one[] = {1 * SEC}, two[] = {10, 20};
    BlockStats s = {0};
    BlockStatsSnapshot st;

    REQUIRE(block_stats_set_histogram(&s, BLOCK_STATS_FLUSH, one, 1) == 0);
    one_request(&s, BLOCK_STATS_FLUSH, 0, 0);
    REQUIRE(block_stats_set_histogram(&s, BLOCK_STATS_FLUSH, two, 2) == 0);
    block_stats_snapshot(&s, &st);
    CHECK_EQ_INT(st.histogram[BLOCK_STATS_FLUSH].nb_boundaries, 2);
    CHECK_EQ_INT(bins_sum(&st.histogram[BLOCK_STATS_FLUSH]), 0);
    CHECK_EQ_INT(st.flush_operations, 1);
    REQUIRE(block_stats_set_histogram(&s, BLOCK_STATS_FLUSH, NULL, 0) == 0);
    block_stats_snapshot(&s, &st);
    CHECK_EQ_INT(st.histogram[BLOCK_STATS_FLUSH].nb_boundaries, 0);
    block_stats_destroy(&s);
}

TEST(boundaries_zero_unsorted_equal_or_too_many_are_refused)
{
    uint64_t many[BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES + 1];
    static const uint64_t zero[] = {0, 10}, down[] = {10, 50, 20},
                          same[] = {10, 10};
    BlockStats s = {0};
    BlockStatsSnapshot st;
    size_t where;

    for (size_t i = 0; i < BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES + 1; i++) {
        many[i] = i + 1;
    }
    CHECK(block_stats_check_boundaries(zero, 2, &where) != NULL);
    CHECK_EQ_INT(where, 0);
    CHECK(block_stats_check_boundaries(down, 3, &where) != NULL);
    CHECK_EQ_INT(where, 2);
    CHECK(block_stats_check_boundaries(same, 2, &where) != NULL);
    CHECK_EQ_INT(where, 1);
    CHECK(block_stats_check_boundaries(
              many, BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES + 1, &where) != NULL);
    CHECK(block_stats_check_boundaries(
              many, BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES, &where) == NULL);
    CHECK(block_stats_check_boundaries(NULL, 0, &where) == NULL);

    CHECK_EQ_INT(block_stats_set_histogram(&s, BLOCK_STATS_READ, down, 3),
                 -EINVAL);
    CHECK_EQ_INT(block_stats_set_histogram(
                     &s, BLOCK_STATS_READ, many,
                     BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES + 1),
                 -EINVAL);
    CHECK_EQ_INT(block_stats_set_histogram(&s, BLOCK_STATS_OP_MAX, NULL,
                                           0),
                 -EINVAL);
    block_stats_snapshot(&s, &st);
    CHECK_EQ_INT(st.histogram[BLOCK_STATS_READ].nb_boundaries, 0);
    block_stats_destroy(&s);
}

/* ------------------------------------------------------------------------
 * Boundaries changed while I/O threads count
 */

enum { COUNTERS = 3, REQUESTS = 20000 };

typedef struct Counter {
    BlockStats *s;
    pthread_t thread;
} Counter;

static void *count_requests(void *opaque)
{
    Counter *c = opaque;

    for (int i = 0; i < REQUESTS; i++) {
        one_request(c->s, (BlockStatsOp)(i % BLOCK_STATS_OP_MAX), i % 3, 0);
    }
    return NULL;
}

static void run_counters(BlockStats *s, Counter *c, bool reset_meanwhile)
{
    static const uint64_t a[] = {1, 2, 3}, b[] = {5};
    int started = 0;

    for (int i = 0; i < COUNTERS; i++) {
        c[i].s = s;
        if (pthread_create(&c[i].thread, NULL, count_requests, &c[i]) == 0) {
            started++;
        }
    }
    CHECK_EQ_INT(started, COUNTERS);
    /* The main thread's part: new boundaries, snapshots, removals, while
     * the counters run (each set frees what no counter can still hold). */
    for (int round = 0; reset_meanwhile && round < 2000; round++) {
        BlockStatsOp op = (BlockStatsOp)(round % BLOCK_STATS_OP_MAX);
        BlockStatsSnapshot st;

        if (round % 7 == 6) {
            CHECK_EQ_INT(block_stats_set_histogram(s, op, NULL, 0), 0);
        } else if (round % 2) {
            CHECK_EQ_INT(block_stats_set_histogram(s, op, a, 3), 0);
        } else {
            CHECK_EQ_INT(block_stats_set_histogram(s, op, b, 1), 0);
        }
        block_stats_snapshot(s, &st);
        for (int k = 0; k < BLOCK_STATS_OP_MAX; k++) {
            CHECK(st.histogram[k].nb_boundaries <= 3);
        }
    }
    for (int i = 0; i < started; i++) {
        pthread_join(c[i].thread, NULL);
    }
}

TEST(boundaries_change_while_threads_count_and_counts_stay_exact)
{
    static const uint64_t b[] = {1000, 1000000};
    Counter c[COUNTERS];
    BlockStats s = {0};
    BlockStatsSnapshot st;

    run_counters(&s, c, true);
    block_stats_snapshot(&s, &st);
    CHECK_EQ_INT(st.in_flight, 0);
    CHECK_EQ_INT(st.rd_operations + st.wr_operations + st.flush_operations +
                     st.unmap_operations,
                 COUNTERS * REQUESTS);

    /* Quiet again: a fresh histogram on every operation counts every
     * request of the next run once. */
    for (int op = 0; op < BLOCK_STATS_OP_MAX; op++) {
        REQUIRE(block_stats_set_histogram(&s, (BlockStatsOp)op, b, 2) == 0);
    }
    run_counters(&s, c, false);
    block_stats_snapshot(&s, &st);
    uint64_t total = 0;
    for (int op = 0; op < BLOCK_STATS_OP_MAX; op++) {
        total += bins_sum(&st.histogram[op]);
    }
    CHECK_EQ_INT(total, COUNTERS * REQUESTS);
    block_stats_destroy(&s);
}
