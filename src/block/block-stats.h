/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * I/O statistics of a block node or an export: QEMU's BlockDeviceStats
 * fields that apply, one table row each, kept with relaxed atomics so
 * that the I/O threads count and the main thread reads without a lock.
 */
#ifndef IOTHREADD_BLOCK_STATS_H
#define IOTHREADD_BLOCK_STATS_H

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

typedef struct BlockStatsSnapshot {
#define BLOCK_STATS_MEMBER(name, member) uint64_t member;
    BLOCK_STATS_FOREACH(BLOCK_STATS_MEMBER)
#undef BLOCK_STATS_MEMBER
} BlockStatsSnapshot;

/* The live counters: private fields, updated with relaxed atomics. */
typedef struct BlockStats {
    uint64_t bytes_[BLOCK_STATS_OP_MAX];
    uint64_t ops_[BLOCK_STATS_OP_MAX];
    uint64_t failed_[BLOCK_STATS_OP_MAX];
    uint64_t time_ns_[BLOCK_STATS_OP_MAX];
    uint64_t wr_highest_offset_;
    uint64_t in_flight_;
} BlockStats;

/* block_stats_start: a request of some kind began; returns its start
 * time (CLOCK_MONOTONIC ns) for block_stats_done().  Any thread. */
int64_t block_stats_start(BlockStats *s);

/* block_stats_done: the request that block_stats_start() returned
 * @start_ns for ended with @ret (0 or -errno) after moving @bytes at
 * @offset (@offset only matters for writes).  Any thread. */
void block_stats_done(BlockStats *s, BlockStatsOp op, int64_t start_ns,
                      int64_t offset, uint64_t bytes, int ret);

/* block_stats_snapshot: read every counter into *@out.  Any thread. */
void block_stats_snapshot(const BlockStats *s, BlockStatsSnapshot *out);

#endif /* IOTHREADD_BLOCK_STATS_H */
