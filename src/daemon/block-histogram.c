/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Latency histograms of block nodes and exports (block-histogram.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "daemon/block-histogram.h"
#include "daemon/block-objects-internal.h"

/* Per operation: its block-latency-histogram-set argument and its
 * query-blockstats member (QEMU's names; unmap is ours: QEMU keeps no
 * discard histogram). */
static const struct {
    const char *arg;
    const char *member;
} histogram_names[BLOCK_STATS_OP_MAX] = {
    [BLOCK_STATS_READ] = {"boundaries-read", "rd_latency_histogram"},
    [BLOCK_STATS_WRITE] = {"boundaries-write", "wr_latency_histogram"},
    [BLOCK_STATS_FLUSH] = {"boundaries-flush", "flush_latency_histogram"},
    [BLOCK_STATS_UNMAP] = {"boundaries-unmap", "unmap_latency_histogram"},
};

/* The boundaries the arguments give each operation. */
typedef struct Bounds {
    bool set;
    size_t n;
    uint64_t v[BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES];
} Bounds;

/* Parse and check the list @list, the argument @name, into *@out. */
static int parse_list(const char *name, json_t *list, Bounds *out,
                      char **errp)
{
    const char *why;
    size_t i;
    json_t *v;

    if (!json_is_array(list)) {
        return error_fail(errp, -EINVAL, "Invalid parameter type for '%s', "
                          "expected: array", name);
    }
    if (json_array_size(list) == 0) {
        return error_fail(errp, -EINVAL, "%s: give at least one boundary "
                          "(to remove the histograms, give no boundaries "
                          "argument)", name);
    }
    if (json_array_size(list) > BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES) {
        return error_fail(errp, -EINVAL, "%s: too many boundaries: %zu, at "
                          "most %d", name, json_array_size(list),
                          BLOCK_STATS_HISTOGRAM_MAX_BOUNDARIES);
    }
    /* Counted by the loop below, checked at the end. */
    json_array_foreach(list, i, v) {
        if (!json_is_integer(v)) {
            return error_fail(errp, -EINVAL, "Invalid parameter type for "
                              "'%s[%zu]', expected: integer", name, i);
        }
        /* Negative: below zero, which the check below refuses. */
        out->v[i] = json_integer_value(v) < 0
                        ? 0 : (uint64_t)json_integer_value(v);
    }
    out->n = json_array_size(list);
    out->set = true;
    why = block_stats_check_boundaries(out->v, out->n, &i);
    if (why && out->v[i] == 0) {
        return error_fail(errp, -EINVAL, "%s: %s (index %zu is %"
                          JSON_INTEGER_FORMAT "): boundaries are latencies "
                          "in ns, above zero", name, why, i,
                          json_integer_value(json_array_get(list, i)));
    }
    if (why) {
        return error_fail(errp, -EINVAL, "%s: %s (index %zu: %" PRIu64
                          " after %" PRIu64 ")", name, why, i, out->v[i],
                          out->v[i - 1]);
    }
    return 0;
}

/* Each operation's boundaries from @bounds; all unset means remove. */
static int parse_bounds(json_t *bounds, Bounds ops[BLOCK_STATS_OP_MAX],
                        char **errp)
{
    Bounds all = {0};
    const char *key;
    json_t *v;
    int ret;

    json_object_foreach(bounds, key, v) {
        int op;

        for (op = 0; op < BLOCK_STATS_OP_MAX; op++) {
            if (strcmp(key, histogram_names[op].arg) == 0) {
                break;
            }
        }
        if (op < BLOCK_STATS_OP_MAX) {
            ret = parse_list(key, v, &ops[op], errp);
        } else if (strcmp(key, "boundaries") == 0) {
            ret = parse_list(key, v, &all, errp);
        } else {
            ret = error_fail(errp, -EINVAL, "Parameter '%.200s' is "
                             "unexpected", key);
        }
        if (ret < 0) {
            return ret;
        }
    }
    for (int op = 0; op < BLOCK_STATS_OP_MAX; op++) {
        if (!ops[op].set && (all.set || json_object_size(bounds) == 0)) {
            ops[op] = all; /* all.set false: remove */
            ops[op].set = true;
        }
    }
    return 0;
}

int bobj_latency_histogram_set(BlockObjects *b, const char *id,
                               const char *node_name, json_t *bounds,
                               char **errp)
{
    Bounds ops[BLOCK_STATS_OP_MAX] = {0};
    Export *e = NULL;
    Blockdev *n = NULL;
    int ret;

    *errp = NULL;
    if (!id == !node_name) {
        return error_fail(errp, -EINVAL, "Give either 'id' (an export id or "
                          "a node name) or 'node-name'");
    }
    if (id) {
        e = bobj_find_export(b, id);
        if (e && !e->exp) {
            e = NULL; /* being freed */
        }
        n = e ? NULL : bobj_find_node(b, id);
        if (!e && !n) {
            return error_fail(errp, -ENODEV, "Device '%s' not found", id);
        }
    } else {
        n = bobj_find_node(b, node_name);
        if (!n) {
            return error_fail(errp, -ENODEV, "Cannot find device='' nor "
                              "node-name='%s'", node_name);
        }
    }
    ret = parse_bounds(bounds, ops, errp);
    for (int op = 0; op < BLOCK_STATS_OP_MAX && ret == 0; op++) {
        if (!ops[op].set) {
            continue;
        }
        ret = e ? nbd_export_set_latency_histogram(e->exp, (BlockStatsOp)op,
                                                   ops[op].v, ops[op].n)
                : block_node_set_latency_histogram(n->node, (BlockStatsOp)op,
                                                   ops[op].v, ops[op].n);
        if (ret < 0) {
            /* Checked above: only memory can run out. */
            return error_fail(errp, ret, "Out of memory");
        }
    }
    return ret;
}

void bobj_histograms_to_json(json_t *stats, const BlockStatsSnapshot *s)
{
    for (int op = 0; op < BLOCK_STATS_OP_MAX; op++) {
        const BlockStatsHistogram *h = &s->histogram[op];
        json_t *boundaries, *bins;

        if (h->nb_boundaries == 0) {
            continue;
        }
        boundaries = json_array();
        bins = json_array();
        for (unsigned i = 0; i <= h->nb_boundaries; i++) {
            if (i < h->nb_boundaries) {
                json_array_append_new(
                    boundaries, json_integer((json_int_t)h->boundaries[i]));
            }
            json_array_append_new(bins, json_integer((json_int_t)h->bins[i]));
        }
        json_object_set_new(stats, histogram_names[op].member,
                            json_pack("{s:o, s:o}", "boundaries", boundaries,
                                      "bins", bins));
    }
}
