/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Block nodes: a raw image (a regular file or a block device) whose I/O
 * runs through the calling coroutine's AioContext and its I/O engine
 * (<iothread/io-engine.h>), as QEMU's "file" driver does through
 * block/file-posix.c.
 *
 * A node has no home context of its own: every I/O function is a
 * coroutine function that runs on the caller's context, so the export
 * that serves a node decides where its I/O runs, and moving the export
 * moves the I/O.  What a node shares between threads is its statistics
 * (atomics), its in-flight count (atomic) and its block-status cache
 * (under its own lock); everything else is fixed at open time.
 *
 * Who calls what:
 *  - block_node_open(), block_node_close(): the daemon's main thread.
 *  - block_co_*(): a coroutine, on any context; several contexts may run
 *    requests on one node at once.
 *  - the getters and block_node_get_stats(): any thread.
 *
 * Errors come back as -errno; the open error also as a message for the
 * user (*errp, malloc'd, QEMU's wording where QEMU has one).
 */
#ifndef IOTHREADD_BLOCK_NODE_H
#define IOTHREADD_BLOCK_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/block-stats.h"

typedef struct BlockNode BlockNode;

/* aio=: how the file's I/O is run.  Both go through the caller's context
 * and complete on its home thread. */
typedef enum BlockAioMode {
    BLOCK_AIO_THREADS,  /* the context's thread pool (QEMU's default) */
    BLOCK_AIO_IO_URING, /* the context's I/O engine: its io_uring where it
                           has one, else its thread pool */
} BlockAioMode;

/* discard=: what a discard (TRIM) request does. */
typedef enum BlockDiscardMode {
    BLOCK_DISCARD_IGNORE, /* succeeds, does nothing (QEMU's default) */
    BLOCK_DISCARD_UNMAP,  /* punches a hole */
} BlockDiscardMode;

/* detect-zeroes=: whether a write of zeroes becomes a write-zeroes. */
typedef enum BlockDetectZeroes {
    BLOCK_DETECT_ZEROES_OFF,
    BLOCK_DETECT_ZEROES_ON,    /* ... without unmapping */
    BLOCK_DETECT_ZEROES_UNMAP, /* ... unmapping when discard=unmap */
} BlockDetectZeroes;

/* The options of QEMU's BlockdevOptionsFile that we implement, already
 * parsed and typed (the daemon turns --blockdev / blockdev-add into it). */
typedef struct BlockNodeOptions {
    const char *node_name;  /* required; the caller checked its grammar */
    const char *filename;   /* required */
    bool read_only;         /* open O_RDONLY; writes fail with -EACCES */
    bool cache_direct;      /* O_DIRECT: requests must then be aligned to
                               block_node_request_alignment() */
    BlockAioMode aio;
    BlockDiscardMode discard;
    BlockDetectZeroes detect_zeroes;
} BlockNodeOptions;

/* block_node_options_default: QEMU's defaults (aio=threads, cache.direct
 * off, read-only off, discard=ignore, detect-zeroes=off), names NULL. */
void block_node_options_default(BlockNodeOptions *opts);

/*
 * block_node_open: open the image @opts names.  Main thread.  Returns 0
 * and *@pnode, or -errno with *@errp set, e.g. "Could not open 'F': No such
 * file or directory" (QEMU's text), or a message for a file that is not a
 * regular file or block device, or an invalid combination
 * (detect-zeroes=unmap needs discard=unmap, as QEMU says).  Copies what it
 * keeps of @opts.
 */
int block_node_open(const BlockNodeOptions *opts, BlockNode **pnode,
                    char **errp);

/*
 * block_node_close: close the image and free @node.  Main thread.  The
 * caller guarantees that nothing can start a request on it any more and
 * that block_node_in_flight() is 0 (aborts otherwise: a use after free
 * avoided is a bug found).  NULL is ignored.
 */
void block_node_close(BlockNode *node);

/* Getters: fixed at open time unless noted.  Any thread. */
const char *block_node_name(const BlockNode *node);
const char *block_node_filename(const BlockNode *node);
const BlockNodeOptions *block_node_options(const BlockNode *node);
bool block_node_read_only(const BlockNode *node);
/* Size in bytes at open time (the file's size or the device's). */
int64_t block_node_size(const BlockNode *node);
/* Alignment that offsets and lengths of requests need: 1, or the
 * device's logical block size (at least 512) with cache.direct=on. */
uint32_t block_node_request_alignment(const BlockNode *node);
/* Whether write-zeroes with BLOCK_REQ_NO_FALLBACK can succeed at all
 * (fallocate zero-range or punch-hole works on this file). */
bool block_node_can_fast_zero(const BlockNode *node);
/* Requests started and not yet finished, over every context. */
unsigned block_node_in_flight(const BlockNode *node);
/* A consistent-per-field snapshot of the node's counters. */
void block_node_get_stats(const BlockNode *node, BlockStatsSnapshot *out);
/* block_stats_set_histogram() on the node's counters: the thread that
 * closes the node. */
int block_node_set_latency_histogram(BlockNode *node, BlockStatsOp op,
                                     const uint64_t *boundaries, size_t n);

/* Request flags. */
#define BLOCK_REQ_FUA         0x1 /* write: on stable storage on return */
#define BLOCK_REQ_MAY_UNMAP   0x2 /* write-zeroes: may punch a hole
                                     (honoured only with discard=unmap) */
#define BLOCK_REQ_NO_FALLBACK 0x4 /* write-zeroes: -ENOTSUP rather than
                                     writing zero buffers (NBD FAST_ZERO) */

/*
 * The I/O.  Coroutine only, any context.  The caller has checked that
 * [offset, offset + bytes) lies within block_node_size() and is aligned;
 * the functions check it again and answer -EINVAL.  Each returns 0 or
 * -errno; a read or write is complete on success (never short).  Each is
 * counted in the node's statistics (bytes, operations, failures, time).
 */
int block_co_preadv(BlockNode *node, int64_t offset, int64_t bytes,
                    const struct iovec *iov, int iovcnt);
/* -EACCES on a read-only node.  detect-zeroes applies here. */
int block_co_pwritev(BlockNode *node, int64_t offset, int64_t bytes,
                     const struct iovec *iov, int iovcnt, int flags);
/* fdatasync: every write that completed before the call is stable. */
int block_co_flush(BlockNode *node);
/* discard=ignore: 0 at once; discard=unmap: punch a hole (the range then
 * reads as zeroes).  -EACCES on a read-only node. */
int block_co_pdiscard(BlockNode *node, int64_t offset, int64_t bytes);
/* Make the range read as zeroes: zero-range, or punch-hole with
 * BLOCK_REQ_MAY_UNMAP, or (without BLOCK_REQ_NO_FALLBACK) writing zero
 * buffers.  Flags: BLOCK_REQ_MAY_UNMAP, BLOCK_REQ_NO_FALLBACK,
 * BLOCK_REQ_FUA. */
int block_co_pwrite_zeroes(BlockNode *node, int64_t offset, int64_t bytes,
                           int flags);

/* Allocation status, from SEEK_DATA / SEEK_HOLE. */
#define BLOCK_STATUS_DATA 0x1 /* allocated (holds data) */
#define BLOCK_STATUS_ZERO 0x2 /* reads as zeroes */

/*
 * block_co_block_status: the status of the extent that starts at @offset
 * (within the node), at most @bytes long: *@pnum its length (> 0), *@status
 * a BLOCK_STATUS_* mask (a hole: ZERO; data: DATA; a file system without
 * SEEK_HOLE: DATA for everything).  Returns 0 or -errno.  The last data
 * extent found is remembered, and a request inside it costs no system
 * call; discard and write-zeroes through the node forget what they may
 * turn into a hole.  A hole that another process punches in the file is
 * not seen while the extent is remembered: the range is then reported as
 * data, which is safe (it reads as zeroes).
 */
int block_co_block_status(BlockNode *node, int64_t offset, int64_t bytes,
                          int64_t *pnum, int *status);

/* Read-ahead hint for [offset, offset + bytes) (NBD_CMD_CACHE):
 * posix_fadvise(WILLNEED) or nothing; 0 or -errno. */
int block_co_cache(BlockNode *node, int64_t offset, int64_t bytes);

#endif /* IOTHREADD_BLOCK_NODE_H */
