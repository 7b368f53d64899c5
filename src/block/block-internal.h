/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private parts of the block layer: the node itself, shared by
 * block-node.c (open, close, getters), block-io.c (read, write, flush,
 * cache), block-zero.c (discard, write-zeroes, detect-zeroes),
 * block-status.c (SEEK_DATA / SEEK_HOLE), block-status-cache.c (the
 * last data extent block status found), block-run.c (where a system
 * call runs: the I/O engine or the thread pool) and block-iov.c.
 */
#ifndef IOTHREADD_BLOCK_INTERNAL_H
#define IOTHREADD_BLOCK_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <iothread/io-engine.h>

#include "block/block-node.h"
#include "block/block-stats.h"

/*
 * The last extent block status found to be data, [start, end); empty when
 * start == end (block-status-cache.c says why it holds data only, and how
 * the generation keeps an answer seeked before a punch from being stored
 * after it).  Any thread: a node serves requests from several contexts,
 * an export's old and new one during a move.  @lock guards every field;
 * it is held for a few comparisons only, never across a system call or a
 * coroutine yield.
 */
typedef struct BlockStatusCache {
    pthread_mutex_t lock;
    uint64_t generation; /* bumped by every invalidation */
    int64_t start, end;
} BlockStatusCache;

struct BlockNode {
    /* Fixed at open time; opts.node_name and opts.filename point at
     * node_name and filename, the node's own copies. */
    BlockNodeOptions opts;
    char *node_name;
    char *filename;
    int fd;
    bool is_block_device;
    /* A regular file in memory (tmpfs, ramfs), whose small reads and
     * writes the home thread makes itself: see block-run.c. */
    bool memory_backed;
    int64_t size;
    /* With O_DIRECT: what offsets and lengths (request_align) and buffer
     * addresses and lengths (mem_align) must be multiples of; 1 without. */
    uint32_t request_align;
    uint32_t mem_align;
    /* fallocate() ranges must be multiples of this (a block device's
     * logical block size, 1 for a regular file). */
    uint32_t fallocate_align;

    /* What the file system turned out to support: start true, cleared
     * by the first request that meets EOPNOTSUPP.  Any context, relaxed
     * atomics (a stale true costs one more failed system call). */
    bool has_zero_range;
    bool has_punch_hole;

    /* Any context: relaxed atomics inside. */
    BlockStats stats;

    /* Any context: its own lock inside. */
    BlockStatusCache bsc;
};

/* block-run.c: run @req (READV, WRITEV, FDATASYNC or FALLOCATE on the
 * node's fd) where the node's aio= says, from the calling coroutine, and
 * return the system call's result (a transfer completed as the engine
 * completes it; a short read only at end of file). */
ssize_t block_run(const BlockNode *node, AioIoRequest *req);
/* Shorthands: 0 or -errno. */
int block_run_fallocate(const BlockNode *node, int mode, int64_t offset,
                        int64_t len);
int block_run_fdatasync(const BlockNode *node);

/* block-iov.c */
/* Sum of the lengths, or -1 above INT64_MAX. */
int64_t block_iov_size(const struct iovec *iov, int iovcnt);
/* Every byte of the vector is zero. */
bool block_iov_is_zero(const struct iovec *iov, int iovcnt);
/* Set the bytes of the vector from @skip on to zero. */
void block_iov_zero_from(const struct iovec *iov, int iovcnt, size_t skip);
/* Every base and length is a multiple of @align. */
bool block_iov_is_aligned(const struct iovec *iov, int iovcnt,
                          uint32_t align);
/* Copy between the vector and a flat buffer of block_iov_size() bytes. */
void block_iov_to_buf(const struct iovec *iov, int iovcnt, void *buf);
void block_iov_from_buf(const struct iovec *iov, int iovcnt,
                        const void *buf);

/* block-io.c: 0 when [@offset, @offset + @bytes) lies within the node and
 * is aligned to its request alignment, else -EINVAL. */
int block_check_range(const BlockNode *node, int64_t offset, int64_t bytes);
/* Write @iov to the file (through an aligned bounce buffer when O_DIRECT
 * needs one); 0 or -errno.  @flags: AIO_IO_FUA. */
int block_write_iov(BlockNode *node, int64_t offset, int64_t bytes,
                    const struct iovec *iov, int iovcnt, int aio_flags);

/* block-status-cache.c */
int block_bsc_init(BlockNode *node);
void block_bsc_destroy(BlockNode *node);
/* Whether @offset lies in the cached extent, and then *@end is its end.
 * *@generation: to pass to block_bsc_store() after seeking. */
bool block_bsc_lookup(BlockNode *node, int64_t offset, int64_t *end,
                      uint64_t *generation);
/* Remember [@start, @end) as data, unless an invalidation came after
 * the block_bsc_lookup() that returned @generation. */
void block_bsc_store(BlockNode *node, uint64_t generation, int64_t start,
                     int64_t end);
/* [@offset, @offset + @bytes) may become a hole: forget it.  Call before
 * and after the system call that may punch it. */
void block_bsc_invalidate(BlockNode *node, int64_t offset, int64_t bytes);

/* block-zero.c: write-zeroes without statistics, for detect-zeroes. */
int block_zero_range(BlockNode *node, int64_t offset, int64_t bytes,
                     int flags);

#define BLOCK_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define BLOCK_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

#endif /* IOTHREADD_BLOCK_INTERNAL_H */
