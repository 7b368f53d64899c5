/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A stand-in for src/block/ (block-node.h, block-stats.h) while that layer
 * is being written on its own branch: synchronous pread/pwrite on the
 * calling thread, enough for the NBD server's tests.  mk/nbd.mk links it
 * only when the build has no src/block/ archive ($(BLOCK_LIB)).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/block-node.h"

struct BlockNode {
    BlockNodeOptions opts;
    char *name, *filename;
    int fd;
    int64_t size;
    unsigned in_flight;  /* atomic */
    BlockStats stats;
};

int64_t block_stats_start(BlockStats *s)
{
    struct timespec ts;

    __atomic_fetch_add(&s->in_flight_, 1, __ATOMIC_RELAXED);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void block_stats_done(BlockStats *s, BlockStatsOp op, int64_t start_ns,
                      int64_t offset, uint64_t bytes, int ret)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    __atomic_fetch_sub(&s->in_flight_, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->time_ns_[op], (uint64_t)((int64_t)ts.tv_sec *
                       1000000000 + ts.tv_nsec - start_ns), __ATOMIC_RELAXED);
    if (ret < 0) {
        __atomic_fetch_add(&s->failed_[op], 1, __ATOMIC_RELAXED);
        return;
    }
    __atomic_fetch_add(&s->ops_[op], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->bytes_[op], bytes, __ATOMIC_RELAXED);
    (void)offset;
}

void block_stats_snapshot(const BlockStats *s, BlockStatsSnapshot *out)
{
    memset(out, 0, sizeof(*out));
    out->rd_bytes = __atomic_load_n(&s->bytes_[BLOCK_STATS_READ],
                                    __ATOMIC_RELAXED);
    out->wr_bytes = __atomic_load_n(&s->bytes_[BLOCK_STATS_WRITE],
                                    __ATOMIC_RELAXED);
    out->in_flight = __atomic_load_n(&s->in_flight_, __ATOMIC_RELAXED);
}

void block_node_options_default(BlockNodeOptions *opts)
{
    memset(opts, 0, sizeof(*opts));
}

int block_node_open(const BlockNodeOptions *opts, BlockNode **pnode,
                    char **errp)
{
    BlockNode *n = calloc(1, sizeof(*n));
    struct stat st;
    char msg[512];

    if (!n) {
        return -ENOMEM;
    }
    n->fd = open(opts->filename, (opts->read_only ? O_RDONLY : O_RDWR) |
                 O_CLOEXEC);
    if (n->fd < 0 || fstat(n->fd, &st) < 0) {
        int err = errno;
        snprintf(msg, sizeof(msg), "Could not open '%s': %s", opts->filename,
                 strerror(err));
        *errp = strdup(msg);
        if (n->fd >= 0) {
            close(n->fd);
        }
        free(n);
        return -err;
    }
    n->opts = *opts;
    n->name = strdup(opts->node_name);
    n->filename = strdup(opts->filename);
    n->opts.node_name = n->name;
    n->opts.filename = n->filename;
    n->size = st.st_size;
    *pnode = n;
    return 0;
}

void block_node_close(BlockNode *node)
{
    if (!node) {
        return;
    }
    if (block_node_in_flight(node)) {
        abort();
    }
    close(node->fd);
    free(node->name);
    free(node->filename);
    free(node);
}

const char *block_node_name(const BlockNode *node) { return node->name; }
const char *block_node_filename(const BlockNode *node)
{
    return node->filename;
}
const BlockNodeOptions *block_node_options(const BlockNode *node)
{
    return &node->opts;
}
bool block_node_read_only(const BlockNode *node)
{
    return node->opts.read_only;
}
int64_t block_node_size(const BlockNode *node) { return node->size; }
uint32_t block_node_request_alignment(const BlockNode *node) { return 1; }
bool block_node_can_fast_zero(const BlockNode *node) { return true; }
unsigned block_node_in_flight(const BlockNode *node)
{
    return __atomic_load_n(&node->in_flight, __ATOMIC_RELAXED);
}
void block_node_get_stats(const BlockNode *node, BlockStatsSnapshot *out)
{
    block_stats_snapshot(&node->stats, out);
}

static int check(BlockNode *n, int64_t offset, int64_t bytes, bool write)
{
    if (write && n->opts.read_only) {
        return -EACCES;
    }
    if (offset < 0 || bytes < 0 || offset > n->size ||
        bytes > n->size - offset) {
        return -EINVAL;
    }
    return 0;
}

int block_co_preadv(BlockNode *node, int64_t offset, int64_t bytes,
                    const struct iovec *iov, int iovcnt)
{
    int ret = check(node, offset, bytes, false);
    ssize_t n;

    if (ret < 0) {
        return ret;
    }
    n = preadv(node->fd, iov, iovcnt, offset);
    return n < 0 ? -errno : n == bytes ? 0 : -EIO;
}

int block_co_pwritev(BlockNode *node, int64_t offset, int64_t bytes,
                     const struct iovec *iov, int iovcnt, int flags)
{
    int ret = check(node, offset, bytes, true);
    ssize_t n;

    if (ret < 0) {
        return ret;
    }
    n = pwritev(node->fd, iov, iovcnt, offset);
    if (n < 0) {
        return -errno;
    }
    if (n != bytes) {
        return -EIO;
    }
    return (flags & BLOCK_REQ_FUA) && fdatasync(node->fd) < 0 ? -errno : 0;
}

int block_co_flush(BlockNode *node)
{
    return fdatasync(node->fd) < 0 ? -errno : 0;
}

int block_co_pdiscard(BlockNode *node, int64_t offset, int64_t bytes)
{
    int ret = check(node, offset, bytes, true);

    if (ret < 0 || node->opts.discard != BLOCK_DISCARD_UNMAP) {
        return ret;
    }
    return fallocate(node->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                     offset, bytes) < 0 ? -errno : 0;
}

int block_co_pwrite_zeroes(BlockNode *node, int64_t offset, int64_t bytes,
                           int flags)
{
    int ret = check(node, offset, bytes, true);

    if (ret < 0) {
        return ret;
    }
    if (fallocate(node->fd, FALLOC_FL_ZERO_RANGE, offset, bytes) < 0 &&
        fallocate(node->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  offset, bytes) < 0) {
        return (flags & BLOCK_REQ_NO_FALLBACK) ? -ENOTSUP : -errno;
    }
    return (flags & BLOCK_REQ_FUA) && fdatasync(node->fd) < 0 ? -errno : 0;
}

int block_co_block_status(BlockNode *node, int64_t offset, int64_t bytes,
                          int64_t *pnum, int *status)
{
    off_t data = lseek(node->fd, offset, SEEK_DATA);
    off_t hole;

    if (data < 0 || data > offset) {
        /* A hole up to the next data (or the end). */
        int64_t end = data < 0 ? node->size : data;
        *pnum = end - offset < bytes ? end - offset : bytes;
        *status = BLOCK_STATUS_ZERO;
        return 0;
    }
    hole = lseek(node->fd, offset, SEEK_HOLE);
    if (hole < 0 || hole > node->size) {
        hole = node->size;
    }
    *pnum = hole - offset < bytes ? hole - offset : bytes;
    *status = BLOCK_STATUS_DATA;
    if (*pnum <= 0) {
        *pnum = bytes;
    }
    return 0;
}

int block_co_cache(BlockNode *node, int64_t offset, int64_t bytes)
{
    return -posix_fadvise(node->fd, offset, bytes, POSIX_FADV_WILLNEED);
}
