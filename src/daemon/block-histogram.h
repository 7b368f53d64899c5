/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Latency histograms of block nodes and exports: QEMU's
 * block-latency-histogram-set and the *_latency_histogram members of
 * query-blockstats.  Main thread only.
 */
#ifndef IOTHREADD_BLOCK_HISTOGRAM_H
#define IOTHREADD_BLOCK_HISTOGRAM_H

#include <jansson.h>

#include "block/block-stats.h"
#include "daemon/block-objects.h"

/*
 * bobj_latency_histogram_set: QEMU's block-latency-histogram-set on the
 * export whose id is @id (or, when no export has that id, the node named
 * @id), or on the node @node_name; exactly one of the two is non-NULL.
 * @bounds holds the arguments other than those two: "boundaries" (every
 * operation) and "boundaries-read", "-write", "-flush", "-unmap" (one,
 * over "boundaries"), each a list of ns.  With none of them, every
 * histogram of the target is removed; otherwise those named are replaced
 * by empty ones and the others kept.  Everything is checked before any
 * histogram changes.  0, or -errno with *@errp set (freed by the caller).
 */
int bobj_latency_histogram_set(BlockObjects *b, const char *id,
                               const char *node_name, json_t *bounds,
                               char **errp);

/* Add QEMU's rd_latency_histogram, wr_latency_histogram,
 * flush_latency_histogram (and unmap_latency_histogram, ours) to the
 * BlockDeviceStats object @stats, for each histogram @s has. */
void bobj_histograms_to_json(json_t *stats, const BlockStatsSnapshot *s);

#endif /* IOTHREADD_BLOCK_HISTOGRAM_H */
