/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * I/O statistics of a block node or an export: QEMU's BlockDeviceStats
 * fields that apply, one table row each, kept with relaxed atomics so
 * that the I/O threads count and the main thread reads without a lock.
 */
#ifndef IOTHREADD_BLOCK_STATS_H
#define IOTHREADD_BLOCK_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Operation kinds, in QEMU's order (BlockAcctType). */
typedef enum BlockStatsOp {
    BLOCK_STATS_READ,
    BLOCK_STATS_WRITE,   /* writes and write-zeroes, as QEMU counts them */
    BLOCK_STATS_FLUSH,
    BLOCK_STATS_UNMAP,   /* discard */
    BLOCK_STATS_OP_MAX
} BlockStatsOp;

/*
 * X(qmp-name, C member): every counter of a snapshot, in the order
 * query-blockstats prints them (QEMU's BlockDeviceStats names).
 */
#define BLOCK_STATS_FOREACH(X)                                                \
    X("rd_bytes", rd_bytes)                                                   \
    X("wr_bytes", wr_bytes)                                                   \
    X("unmap_bytes", unmap_bytes)                                             \
    X("rd_operations", rd_operations)                                         \
    X("wr_operations", wr_operations)                                         \
    X("flush_operations", flush_operations)                                   \
    X("unmap_operations", unmap_operations)                                   \
    X("rd_total_time_ns", rd_total_time_ns)                                   \
    X("wr_total_time_ns", wr_total_time_ns)                                   \
    X("flush_total_time_ns", flush_total_time_ns)                             \
    X("unmap_total_time_ns", unmap_total_time_ns)                             \
    X("failed_rd_operations", failed_rd_operations)                           \
    X("failed_wr_operations", failed_wr_operations)                           \
    X("failed_flush_operations", failed_flush_operations)                     \
    X("failed_unmap_operations", failed_unmap_operations)                     \
    X("wr_highest_offset", wr_highest_offset)                                 \
    X("in-flight", in_flight)

/*
 * The most boundaries a latency histogram takes.  QEMU sets no limit;
 * here every outside input is bounded, and 64 boundaries (65 bins) cover
 * 1 ns to 10 s at four steps per decade with room to spare.
 */
#define BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES 64

/*
 * A latency histogram as QEMU's BlockLatencyHistogramInfo: boundaries in
 * ns, strictly ascending and above zero, [b0, b1, ... bn-1] giving the
 * bins [0, b0), [b0, b1), ... [bn-1, +inf); so nb_boundaries + 1 bins.
 * nb_boundaries == 0: no histogram is kept for that operation.
 */
typedef struct BlockStatsHistogram {
    unsigned nb_boundaries;
    uint64_t boundaries[BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES];
    uint64_t bins[BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES + 1];
} BlockStatsHistogram;

typedef struct BlockStatsSnapshot {
#define BLOCK_STATS_MEMBER(name, member) uint64_t member;
    BLOCK_STATS_FOREACH(BLOCK_STATS_MEMBER)
#undef BLOCK_STATS_MEMBER
    /* One per BlockStatsOp. */
    BlockStatsHistogram histogram[BLOCK_STATS_OP_MAX];
} BlockStatsSnapshot;

/* One operation's live histogram (block-stats.c): boundaries fixed at
 * creation, bins counted with relaxed atomics. */
typedef struct BlockStatsHistogramLive BlockStatsHistogramLive;

/* The live counters: private fields, updated with relaxed atomics. */
typedef struct BlockStats {
    uint64_t bytes_[BLOCK_STATS_OP_MAX];
    uint64_t ops_[BLOCK_STATS_OP_MAX];
    uint64_t failed_[BLOCK_STATS_OP_MAX];
    uint64_t time_ns_[BLOCK_STATS_OP_MAX];
    uint64_t wr_highest_offset_;
    uint64_t in_flight_;
    /* The latency histograms: see "Changing the boundaries" in
     * block-stats.c.  histogram_ (NULL: none) is swapped by the setter
     * and read by every thread with sequentially consistent atomics;
     * histogram_users_ counts the threads between loading one of them
     * and their last touch of it (seq_cst atomics); retired_ lists the
     * histograms replaced while a user may still hold them, touched by
     * the setter's thread only. */
    BlockStatsHistogramLive *histogram_[BLOCK_STATS_OP_MAX];
    unsigned histogram_users_;
    BlockStatsHistogramLive *retired_;
} BlockStats;

/* block_stats_start: a request of some kind began; returns its start
 * time (CLOCK_MONOTONIC ns) for block_stats_done().  Any thread. */
int64_t block_stats_start(BlockStats *s);

/* block_stats_done: the request that block_stats_start() returned
 * @start_ns for ended with @ret (0 or -errno) after moving @bytes at
 * @offset (@offset only matters for writes).  Any thread. */
void block_stats_done(BlockStats *s, BlockStatsOp op, int64_t start_ns,
                      int64_t offset, uint64_t bytes, int ret);

/* block_stats_snapshot: read every counter and histogram into *@out.
 * Any thread. */
void block_stats_snapshot(const BlockStats *s, BlockStatsSnapshot *out);

/*
 * block_stats_set_histogram: replace @op's latency histogram by an empty
 * one with the @n @boundaries (copied), or remove it when @n is 0, as
 * QEMU's block-latency-histogram-set does.  Every request that ends
 * after the call returns is counted in the new bins, once; one ending
 * while the call runs may land in the old bins instead, which are
 * dropped (freed once no thread can still count in them).
 * Returns 0; -EINVAL when block_stats_check_boundaries() refuses them;
 * -ENOMEM.
 * Thread: one thread at a time per BlockStats, the one that destroys it
 * (the daemon's main thread), while any thread counts and reads.
 */
int block_stats_set_histogram(BlockStats *s, BlockStatsOp op,
                              const uint64_t *boundaries, size_t n);

/* block_stats_check_boundaries: NULL when block_stats_set_histogram()
 * takes these boundaries, else why not ("too many boundaries", "a
 * boundary is zero", "boundaries are not strictly ascending"; static
 * text); *@where is then the index of the first bad one.  Any thread. */
const char *block_stats_check_boundaries(const uint64_t *boundaries,
                                         size_t n, size_t *where);

/* block_stats_destroy: free the histograms.  No request may be counted
 * any more; the setter's thread.  The counters stay readable (zero
 * histograms). */
void block_stats_destroy(BlockStats *s);

#endif /* IOTHREADD_BLOCK_STATS_H */
