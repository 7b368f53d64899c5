/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Allocation status from SEEK_DATA / SEEK_HOLE, as QEMU's
 * find_allocation() in block/file-posix.c.  Two lseek() calls on the
 * caller's thread (they do not move a file position anybody uses: all
 * I/O is positional).  Beyond the end of the file, inside the node, is a
 * hole; a file system that cannot say is all data.  A data extent found
 * is remembered (block-status-cache.c): the next requests inside it are
 * answered without a system call.  Only data is remembered, because data
 * is always a correct answer and a hole is not once somebody writes.
 */
#include <errno.h>
#include <unistd.h>

#include "block/block-internal.h"

/* lseek(@whence) from @offset: the answer, or -errno. */
static int64_t seek(const BlockNode *node, int64_t offset, int whence)
{
    off_t r = lseek(node->fd, offset, whence);

    return r < 0 ? -errno : r;
}

static bool seek_unsupported(int64_t ret)
{
    return ret == -EINVAL || ret == -EOPNOTSUPP || ret == -ENOTSUP ||
           ret == -ENOTTY;
}

/* The status at @offset as the file system says it: *@status, and in
 * *@end where that status ends (> @offset, at most the node's size). */
static int seek_status(const BlockNode *node, int64_t offset, int64_t *end,
                       int *status)
{
    int64_t data = seek(node, offset, SEEK_DATA), hole;

    *end = node->size;
    if (data == -ENXIO) {
        /* In the hole at the end of the file, or past its end. */
        *status = BLOCK_STATUS_ZERO;
        return 0;
    }
    if (seek_unsupported(data)) {
        *status = BLOCK_STATUS_DATA;
        return 0;
    }
    if (data < 0) {
        return (int)data;
    }
    if (data > offset) {
        /* A hole up to the next data. */
        *status = BLOCK_STATUS_ZERO;
        *end = data < node->size ? data : node->size;
        return 0;
    }
    hole = seek(node, offset, SEEK_HOLE);
    if (hole == -ENXIO) {
        /* The file shrank between the two calls. */
        *status = BLOCK_STATUS_ZERO;
        return 0;
    }
    *status = BLOCK_STATUS_DATA;
    if (hole < 0) {
        return seek_unsupported(hole) ? 0 : (int)hole;
    }
    if (hole > offset && hole < node->size) {
        *end = hole;
    }
    return 0;
}

int block_co_block_status(BlockNode *node, int64_t offset, int64_t bytes,
                          int64_t *pnum, int *status)
{
    uint64_t generation;
    int64_t end;

    if (!pnum || !status || offset < 0 || bytes <= 0 ||
        offset >= node->size || bytes > node->size - offset) {
        return -EINVAL;
    }
    if (block_bsc_lookup(node, offset, &end, &generation)) {
        *status = BLOCK_STATUS_DATA;
    } else {
        int ret = seek_status(node, offset, &end, status);

        if (ret < 0) {
            return ret;
        }
        if (*status == BLOCK_STATUS_DATA) {
            /* The whole extent, not just the request: the next reads
             * fall in it. */
            block_bsc_store(node, generation, offset, end);
        }
    }
    *pnum = end - offset < bytes ? end - offset : bytes;
    return 0;
}
