/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Block statistics: QEMU's BlockDeviceStats counters, kept with relaxed
 * atomics.  Each counter is exact on its own; a snapshot is consistent per
 * field, not across fields (a request may be counted in rd_operations and
 * not yet in rd_total_time_ns), which is what QEMU's readers get too.
 *
 * As QEMU counts them (block/accounting.c): a successful request adds its
 * bytes and one operation; a failed one adds one failed operation and no
 * bytes; both add their time.  wr_highest_offset is the end of the
 * highest successful write.  The latency histograms count every request
 * that ends, failed or not, as QEMU's do.
 *
 * Changing the boundaries while the I/O threads count
 * ---------------------------------------------------
 * A histogram's boundaries never change: block_stats_set_histogram()
 * builds a new histogram and installs it with an atomic exchange of
 * s->histogram_[op].  The old one must outlive every thread that loaded
 * its pointer, and there is no RCU here, so those threads are counted:
 * a counting (or reading) thread increments s->histogram_users_, then
 * loads the pointer, counts, and decrements.  The setter exchanges the
 * pointer, then loads histogram_users_; all four are sequentially
 * consistent.  If the setter reads zero, any thread that still holds the
 * old pointer would have incremented the count before the setter's load
 * (it loaded the pointer after its increment, and the pointer was
 * replaced before the setter's load), so none does: the old histogram is
 * freed.  Otherwise it waits on s->retired_ until a later set, or
 * block_stats_destroy(), reads zero.  (Dekker's pattern: the exchange
 * and the load must not be reordered, hence seq_cst, not acquire/release.)
 *
 * The count is touched only when a histogram exists: a request first
 * loads the pointer with a relaxed load and, when it is NULL, skips the
 * histogram altogether (a histogram installed at that moment misses a
 * request that was ending anyway, which the set allows), so the
 * statistics cost nothing more until someone asks for a histogram.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "block/block-stats.h"

struct BlockStatsHistogramLive {
    /* Fixed before the histogram is published. */
    unsigned nb_boundaries;
    uint64_t boundaries[BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES];
    /* Relaxed atomics. */
    uint64_t bins[BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES + 1];
    /* On BlockStats.retired_: the setter's thread only. */
    BlockStatsHistogramLive *next_retired;
};

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define SUB(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t block_stats_start(BlockStats *s)
{
    ADD(&s->in_flight_, 1);
    return now_ns();
}

/* *@p = max(*@p, @v), lock-free. */
static void store_max(uint64_t *p, uint64_t v)
{
    uint64_t cur = LOAD(p);

    while (cur < v && !__atomic_compare_exchange_n(p, &cur, v, true,
                                                   __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED)) {
    }
}

/* Start using @op's histogram (NULL: none); histogram_exit() after. */
static BlockStatsHistogramLive *histogram_enter(BlockStats *s,
                                                BlockStatsOp op)
{
    __atomic_fetch_add(&s->histogram_users_, 1, __ATOMIC_SEQ_CST);
    return __atomic_load_n(&s->histogram_[op], __ATOMIC_SEQ_CST);
}

static void histogram_exit(BlockStats *s)
{
    __atomic_fetch_sub(&s->histogram_users_, 1, __ATOMIC_SEQ_CST);
}

/* The bin of @ns: the first boundary above it, else the last bin. */
static unsigned bin_of(const BlockStatsHistogramLive *h, uint64_t ns)
{
    unsigned lo = 0, hi = h->nb_boundaries;

    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;

        if (ns < h->boundaries[mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

static void histogram_account(BlockStats *s, BlockStatsOp op, uint64_t ns)
{
    BlockStatsHistogramLive *h;

    if (!__atomic_load_n(&s->histogram_[op], __ATOMIC_RELAXED)) {
        return;
    }
    h = histogram_enter(s, op);
    if (h) {
        ADD(&h->bins[bin_of(h, ns)], 1);
    }
    histogram_exit(s);
}

void block_stats_done(BlockStats *s, BlockStatsOp op, int64_t start_ns,
                      int64_t offset, uint64_t bytes, int ret)
{
    int64_t elapsed = now_ns() - start_ns;

    if ((unsigned)op < BLOCK_STATS_OP_MAX) {
        if (ret < 0) {
            ADD(&s->failed_[op], 1);
        } else {
            ADD(&s->bytes_[op], bytes);
            ADD(&s->ops_[op], 1);
            if (op == BLOCK_STATS_WRITE && offset >= 0) {
                store_max(&s->wr_highest_offset_, (uint64_t)offset + bytes);
            }
        }
        ADD(&s->time_ns_[op], elapsed > 0 ? (uint64_t)elapsed : 0);
        histogram_account(s, op, elapsed > 0 ? (uint64_t)elapsed : 0);
    }
    SUB(&s->in_flight_, 1);
}

/* Copy @op's histogram into *@out (nb_boundaries 0: none). */
static void histogram_copy(BlockStats *s, BlockStatsOp op,
                           BlockStatsHistogram *out)
{
    BlockStatsHistogramLive *h;

    out->nb_boundaries = 0;
    if (!__atomic_load_n(&s->histogram_[op], __ATOMIC_RELAXED)) {
        return;
    }
    h = histogram_enter(s, op);
    out->nb_boundaries = h ? h->nb_boundaries : 0;
    for (unsigned i = 0; h && i < h->nb_boundaries; i++) {
        out->boundaries[i] = h->boundaries[i];
    }
    for (unsigned i = 0; h && i <= h->nb_boundaries; i++) {
        out->bins[i] = LOAD(&h->bins[i]);
    }
    histogram_exit(s);
}

void block_stats_snapshot(const BlockStats *s, BlockStatsSnapshot *out)
{
    *out = (BlockStatsSnapshot){
        .rd_bytes = LOAD(&s->bytes_[BLOCK_STATS_READ]),
        .wr_bytes = LOAD(&s->bytes_[BLOCK_STATS_WRITE]),
        .unmap_bytes = LOAD(&s->bytes_[BLOCK_STATS_UNMAP]),
        .rd_operations = LOAD(&s->ops_[BLOCK_STATS_READ]),
        .wr_operations = LOAD(&s->ops_[BLOCK_STATS_WRITE]),
        .flush_operations = LOAD(&s->ops_[BLOCK_STATS_FLUSH]),
        .unmap_operations = LOAD(&s->ops_[BLOCK_STATS_UNMAP]),
        .rd_total_time_ns = LOAD(&s->time_ns_[BLOCK_STATS_READ]),
        .wr_total_time_ns = LOAD(&s->time_ns_[BLOCK_STATS_WRITE]),
        .flush_total_time_ns = LOAD(&s->time_ns_[BLOCK_STATS_FLUSH]),
        .unmap_total_time_ns = LOAD(&s->time_ns_[BLOCK_STATS_UNMAP]),
        .failed_rd_operations = LOAD(&s->failed_[BLOCK_STATS_READ]),
        .failed_wr_operations = LOAD(&s->failed_[BLOCK_STATS_WRITE]),
        .failed_flush_operations = LOAD(&s->failed_[BLOCK_STATS_FLUSH]),
        .failed_unmap_operations = LOAD(&s->failed_[BLOCK_STATS_UNMAP]),
        .wr_highest_offset = LOAD(&s->wr_highest_offset_),
        .in_flight = LOAD(&s->in_flight_),
    };
    for (int op = 0; op < BLOCK_STATS_OP_MAX; op++) {
        histogram_copy((BlockStats *)s, (BlockStatsOp)op, &out->histogram[op]);
    }
}

const char *block_stats_check_boundaries(const uint64_t *boundaries,
                                         size_t n, size_t *where)
{
    *where = 0;
    if (n > BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES) {
        *where = BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES;
        return "too many boundaries";
    }
    for (size_t i = 0; i < n; i++) {
        *where = i;
        if (boundaries[i] == 0) {
            return "a boundary is zero";
        }
        if (i > 0 && boundaries[i] <= boundaries[i - 1]) {
            return "boundaries are not strictly ascending";
        }
    }
    return NULL;
}

/* Free the retired histograms if no thread can still be using them. */
static void reclaim_retired(BlockStats *s)
{
    if (__atomic_load_n(&s->histogram_users_, __ATOMIC_SEQ_CST) != 0) {
        return;
    }
    while (s->retired_) {
        BlockStatsHistogramLive *h = s->retired_;

        s->retired_ = h->next_retired;
        free(h);
    }
}

int block_stats_set_histogram(BlockStats *s, BlockStatsOp op,
                              const uint64_t *boundaries, size_t n)
{
    BlockStatsHistogramLive *h = NULL, *old;
    size_t where;

    if ((unsigned)op >= BLOCK_STATS_OP_MAX ||
        block_stats_check_boundaries(boundaries, n, &where)) {
        return -EINVAL;
    }
    if (n > 0) {
        h = calloc(1, sizeof(*h));
        if (!h) {
            return -ENOMEM;
        }
        h->nb_boundaries = (unsigned)n;
        for (size_t i = 0; i < n; i++) {
            h->boundaries[i] = boundaries[i];
        }
    }
    old = __atomic_exchange_n(&s->histogram_[op], h, __ATOMIC_SEQ_CST);
    if (old) {
        old->next_retired = s->retired_;
        s->retired_ = old;
    }
    reclaim_retired(s);
    return 0;
}

void block_stats_destroy(BlockStats *s)
{
    for (int op = 0; op < BLOCK_STATS_OP_MAX; op++) {
        free(__atomic_exchange_n(&s->histogram_[op], NULL,
                                 __ATOMIC_SEQ_CST));
    }
    /* Nobody counts or reads any more: the count is zero. */
    reclaim_retired(s);
}
