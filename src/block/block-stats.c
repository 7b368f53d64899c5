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
 * highest successful write.
 */
#include <stdbool.h>
#include <time.h>

#include "block/block-stats.h"

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
    }
    SUB(&s->in_flight_, 1);
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
}
