/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Read, write, flush and read-ahead of a node, each counted in its
 * statistics.  Reads past the end of the file but within the node (the
 * file shrank since it was opened) read as zeroes.  With O_DIRECT, a
 * vector whose buffers are not aligned for the device goes through an
 * aligned bounce buffer, as QEMU's block layer does.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>

#include <iothread/thread-pool.h>

#include "block/block-internal.h"

int block_check_range(const BlockNode *node, int64_t offset, int64_t bytes)
{
    if (offset < 0 || bytes < 0 || offset > node->size ||
        bytes > node->size - offset) {
        return -EINVAL;
    }
    if (offset % node->request_align || bytes % node->request_align) {
        return -EINVAL;
    }
    return 0;
}

/* The checks every read and write shares. */
static int check_vector(const BlockNode *node, int64_t offset, int64_t bytes,
                        const struct iovec *iov, int iovcnt)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov) ||
        block_iov_size(iov, iovcnt) != bytes) {
        return -EINVAL;
    }
    return block_check_range(node, offset, bytes);
}

/* NULL when @iov can go to the kernel as it is, else an aligned buffer
 * of @bytes (*@err -ENOMEM when there is no memory for it). */
static void *bounce_buffer(const BlockNode *node, int64_t bytes,
                           const struct iovec *iov, int iovcnt, int *err)
{
    void *buf = NULL;

    *err = 0;
    if (node->mem_align <= 1 ||
        block_iov_is_aligned(iov, iovcnt, node->mem_align)) {
        return NULL;
    }
    if (posix_memalign(&buf, node->mem_align, bytes ? (size_t)bytes : 1)) {
        *err = -ENOMEM;
        return NULL;
    }
    return buf;
}

static int read_iov(BlockNode *node, int64_t offset, int64_t bytes,
                    const struct iovec *iov, int iovcnt)
{
    int err;
    void *bounce = bounce_buffer(node, bytes, iov, iovcnt, &err);
    struct iovec flat = {bounce, (size_t)bytes};
    AioIoRequest req = {.op = AIO_IO_READV, .offset = offset,
                        .iov = bounce ? &flat : iov,
                        .iovcnt = bounce ? 1 : iovcnt};
    ssize_t n;

    if (err < 0) {
        return err;
    }
    n = block_run(node, &req);
    if (n >= 0) {
        /* End of file before the end of the node: zeroes. */
        block_iov_zero_from(req.iov, req.iovcnt, (size_t)n);
        if (bounce) {
            block_iov_from_buf(iov, iovcnt, bounce);
        }
    }
    free(bounce);
    return n < 0 ? (int)n : 0;
}

int block_write_iov(BlockNode *node, int64_t offset, int64_t bytes,
                    const struct iovec *iov, int iovcnt, int aio_flags)
{
    int err;
    void *bounce = bounce_buffer(node, bytes, iov, iovcnt, &err);
    struct iovec flat = {bounce, (size_t)bytes};
    AioIoRequest req = {.op = AIO_IO_WRITEV, .offset = offset,
                        .iov = bounce ? &flat : iov,
                        .iovcnt = bounce ? 1 : iovcnt, .flags = aio_flags};
    ssize_t n;

    if (err < 0) {
        return err;
    }
    if (bounce) {
        block_iov_to_buf(iov, iovcnt, bounce);
    }
    n = block_run(node, &req);
    free(bounce);
    if (n < 0) {
        return (int)n;
    }
    /* The engine never reports a short write as success. */
    return n == bytes ? 0 : -EIO;
}

int block_co_preadv(BlockNode *node, int64_t offset, int64_t bytes,
                    const struct iovec *iov, int iovcnt)
{
    int64_t start = block_stats_start(&node->stats);
    int ret = check_vector(node, offset, bytes, iov, iovcnt);

    if (ret == 0 && bytes) {
        ret = read_iov(node, offset, bytes, iov, iovcnt);
    }
    block_stats_done(&node->stats, BLOCK_STATS_READ, start, offset,
                     (uint64_t)bytes, ret);
    return ret;
}

static int write_request(BlockNode *node, int64_t offset, int64_t bytes,
                         const struct iovec *iov, int iovcnt, int flags)
{
    int ret;

    if (node->opts.read_only) {
        return -EACCES;
    }
    if (flags & ~BLOCK_REQ_FUA) {
        return -EINVAL;
    }
    ret = check_vector(node, offset, bytes, iov, iovcnt);
    if (ret < 0 || !bytes) {
        return ret;
    }
    if (node->opts.detect_zeroes != BLOCK_DETECT_ZEROES_OFF &&
        block_iov_is_zero(iov, iovcnt)) {
        /* As QEMU's bdrv_aligned_pwritev(): a write of zeroes becomes a
         * write-zeroes, which may unmap with detect-zeroes=unmap. */
        if (node->opts.detect_zeroes == BLOCK_DETECT_ZEROES_UNMAP) {
            flags |= BLOCK_REQ_MAY_UNMAP;
        }
        return block_zero_range(node, offset, bytes, flags);
    }
    return block_write_iov(node, offset, bytes, iov, iovcnt,
                           flags & BLOCK_REQ_FUA ? AIO_IO_FUA : 0);
}

int block_co_pwritev(BlockNode *node, int64_t offset, int64_t bytes,
                     const struct iovec *iov, int iovcnt, int flags)
{
    int64_t start = block_stats_start(&node->stats);
    int ret = write_request(node, offset, bytes, iov, iovcnt, flags);

    block_stats_done(&node->stats, BLOCK_STATS_WRITE, start, offset,
                     (uint64_t)bytes, ret);
    return ret;
}

int block_co_flush(BlockNode *node)
{
    int64_t start = block_stats_start(&node->stats);
    int ret = block_run_fdatasync(node);

    block_stats_done(&node->stats, BLOCK_STATS_FLUSH, start, 0, 0, ret);
    return ret;
}

typedef struct CacheArgs {
    int fd;
    int64_t offset, bytes;
} CacheArgs;

static int fadvise_willneed(void *opaque)
{
    const CacheArgs *a = opaque;

    return -posix_fadvise(a->fd, a->offset, a->bytes, POSIX_FADV_WILLNEED);
}

int block_co_cache(BlockNode *node, int64_t offset, int64_t bytes)
{
    CacheArgs args = {node->fd, offset, bytes};

    if (offset < 0 || bytes < 0 || offset > node->size ||
        bytes > node->size - offset) {
        return -EINVAL;
    }
    if (node->opts.cache_direct || !bytes) {
        return 0; /* no page cache to fill */
    }
    /* WILLNEED starts the reads before it returns, which may block:
     * not on the loop's thread. */
    return aio_co_thread_pool_submit(fadvise_willneed, &args);
}
