/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Discard and write-zeroes, as QEMU's file-posix.c and block/io.c do
 * them:
 *  - discard=unmap punches a hole (PUNCH_HOLE | KEEP_SIZE); discard is
 *    advisory, so a file system that cannot punch makes it a no-op;
 *  - write-zeroes punches a hole when the request may unmap and the node
 *    has discard=unmap, else zeroes the range in place (ZERO_RANGE, or
 *    a hole punched and allocated again), else, unless the caller asked
 *    for no fallback (NBD FAST_ZERO), writes zero buffers, at most
 *    ZERO_CHUNK bytes per request.  On a block device, "no fallback" is
 *    always -ENOTSUP, as in QEMU: the kernel may itself write zeroes.
 * What the file system does not support (EOPNOTSUPP) is remembered in the
 * node, so it is asked once.  Every fallocate() that may turn data into a
 * hole (punch-hole, zero-range: unwritten extents are holes to SEEK_DATA
 * on some file systems) invalidates the block-status cache around it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>

#include "block/block-internal.h"

/* The largest zero buffer written at once by the fallback. */
#define ZERO_CHUNK (1 << 20)

static bool not_supported(int ret)
{
    return ret == -EOPNOTSUPP || ret == -ENOTSUP || ret == -ENOSYS ||
           ret == -ENOTTY || ret == -ENODEV;
}

/* One fallocate() mode the node may support, which may make a hole;
 * *@supported is cleared for good when the file system says it does not.
 * -ENOTSUP then. */
static int try_fallocate(BlockNode *node, bool *supported, int mode,
                         int64_t offset, int64_t bytes)
{
    int ret;

    if (!BLOCK_LOAD(supported)) {
        return -ENOTSUP;
    }
    /* Before: an answer seeked earlier is not stored after the punch;
     * after: nor one seeked while it ran. */
    block_bsc_invalidate(node, offset, bytes);
    ret = block_run_fallocate(node, mode, offset, bytes);
    block_bsc_invalidate(node, offset, bytes);
    if (not_supported(ret)) {
        BLOCK_STORE(supported, false);
        return -ENOTSUP;
    }
    return ret;
}

static int punch_hole(BlockNode *node, int64_t offset, int64_t bytes)
{
    return try_fallocate(node, &node->has_punch_hole,
                         FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset,
                         bytes);
}

/* Zeroes that stay allocated: ZERO_RANGE, else (a regular file) a hole
 * allocated again, as QEMU's handle_aiocb_write_zeroes(). */
static int zero_in_place(BlockNode *node, int64_t offset, int64_t bytes)
{
    int ret = try_fallocate(node, &node->has_zero_range,
                            FALLOC_FL_ZERO_RANGE, offset, bytes);

    if (ret != -ENOTSUP || node->is_block_device) {
        return ret;
    }
    ret = punch_hole(node, offset, bytes);
    if (ret == 0) {
        /* Allocating again is an optimisation only: the hole reads as
         * zeroes already. */
        int again = block_run_fallocate(node, 0, offset, bytes);

        ret = not_supported(again) ? 0 : again;
    }
    return ret;
}

static int write_zero_buffers(BlockNode *node, int64_t offset, int64_t bytes,
                              int aio_flags)
{
    size_t chunk = bytes < ZERO_CHUNK ? (size_t)bytes : ZERO_CHUNK;
    void *buf = NULL;
    int ret = 0;

    if (posix_memalign(&buf, node->mem_align > sizeof(void *)
                                 ? node->mem_align
                                 : sizeof(void *),
                       chunk)) {
        return -ENOMEM;
    }
    memset(buf, 0, chunk);
    while (bytes > 0 && ret == 0) {
        struct iovec v = {buf, bytes < (int64_t)chunk ? (size_t)bytes : chunk};

        ret = block_write_iov(node, offset, (int64_t)v.iov_len, &v, 1,
                              aio_flags);
        offset += (int64_t)v.iov_len;
        bytes -= (int64_t)v.iov_len;
    }
    free(buf);
    return ret;
}

int block_zero_range(BlockNode *node, int64_t offset, int64_t bytes,
                     int flags)
{
    /* A block device's fallocate() wants whole logical blocks. */
    bool can_fallocate = offset % node->fallocate_align == 0 &&
                         bytes % node->fallocate_align == 0;
    int ret = -ENOTSUP;

    if (!bytes) {
        return 0;
    }
    if (node->is_block_device && (flags & BLOCK_REQ_NO_FALLBACK)) {
        /* As QEMU: a device's fallocate() may write zeroes itself, as
         * slowly as we would; nothing promises it is fast. */
        return -ENOTSUP;
    }
    if (can_fallocate && (flags & BLOCK_REQ_MAY_UNMAP) &&
        node->opts.discard == BLOCK_DISCARD_UNMAP) {
        ret = punch_hole(node, offset, bytes);
    }
    if (can_fallocate && ret == -ENOTSUP) {
        ret = zero_in_place(node, offset, bytes);
    }
    if (ret == -ENOTSUP) {
        if (flags & BLOCK_REQ_NO_FALLBACK) {
            return -ENOTSUP;
        }
        return write_zero_buffers(node, offset, bytes,
                                  flags & BLOCK_REQ_FUA ? AIO_IO_FUA : 0);
    }
    if (ret == 0 && (flags & BLOCK_REQ_FUA)) {
        ret = block_run_fdatasync(node);
    }
    return ret;
}

int block_co_pwrite_zeroes(BlockNode *node, int64_t offset, int64_t bytes,
                           int flags)
{
    int64_t start = block_stats_start(&node->stats);
    int ret;

    if (node->opts.read_only) {
        ret = -EACCES;
    } else if (flags & ~(BLOCK_REQ_FUA | BLOCK_REQ_MAY_UNMAP |
                         BLOCK_REQ_NO_FALLBACK)) {
        ret = -EINVAL;
    } else {
        ret = block_check_range(node, offset, bytes);
        if (ret == 0) {
            ret = block_zero_range(node, offset, bytes, flags);
        }
    }
    block_stats_done(&node->stats, BLOCK_STATS_WRITE, start, offset,
                     (uint64_t)bytes, ret);
    return ret;
}

int block_co_pdiscard(BlockNode *node, int64_t offset, int64_t bytes)
{
    int64_t start = block_stats_start(&node->stats);
    int ret;

    if (node->opts.read_only) {
        ret = -EACCES;
    } else {
        ret = block_check_range(node, offset, bytes);
    }
    if (ret == 0 && bytes && node->opts.discard == BLOCK_DISCARD_UNMAP &&
        offset % node->fallocate_align == 0 &&
        bytes % node->fallocate_align == 0) {
        ret = punch_hole(node, offset, bytes);
        if (ret == -ENOTSUP) {
            ret = 0; /* advisory: nothing discarded */
        }
    }
    block_stats_done(&node->stats, BLOCK_STATS_UNMAP, start, offset,
                     (uint64_t)bytes, ret);
    return ret;
}
