/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where a node's system calls run, from the calling coroutine:
 *  - aio=io_uring: the context's I/O engine (aio_co_io()), which uses the
 *    thread's io_uring, or the thread pool when the context has no ring;
 *    except reads and writes of at most BLOCK_INLINE_MAX bytes on a file
 *    in memory (tmpfs, ramfs), which the home thread makes itself
 *    (aio_io_run_blocking()).  Those file systems cannot read or write
 *    without blocking (RWF_NOWAIT is EOPNOTSUPP there), so io_uring hands
 *    every such request to one of its worker threads: a wake-up and a
 *    trip to another CPU for what is a copy from memory (measured with
 *    fio's nbd engine, 4 KiB random reads at QD32: 8.5 us of server CPU
 *    per read that way, 2.3 inline);
 *  - aio=threads: the context's thread pool, always, through
 *    aio_co_thread_pool_submit(), the worker making the calls with
 *    aio_io_run_blocking().  Not through the engine with
 *    AIO_IO_THREAD_POOL, which would do the same but count the requests
 *    in the engine's counters (query-iothread-stats' io-*), which have
 *    only ever counted aio=io_uring's.
 * Either way the engine's guarantees hold: a transfer completed, a short
 * read only at end of file, EINTR retried.
 */
#include <iothread/coroutine.h>
#include <iothread/thread-pool.h>

#include "block/block-internal.h"

/* Beyond this, an inline copy would hold the loop up too long. */
#define BLOCK_INLINE_MAX (1024 * 1024)

typedef struct PoolRun {
    const AioIoRequest *req;
    ssize_t ret; /* written by the worker, read after the completion (the
                    pool's lock orders them) */
} PoolRun;

/* On a worker: the request's result goes through @opaque, as a
 * transfer's count does not fit the pool's int. */
static int pool_run(void *opaque)
{
    PoolRun *p = opaque;

    p->ret = aio_io_run_blocking(p->req);
    return 0;
}

static bool runs_inline(const BlockNode *node, const AioIoRequest *req)
{
    int64_t size;

    if (!node->memory_backed ||
        (req->op != AIO_IO_READV && req->op != AIO_IO_WRITEV)) {
        return false;
    }
    size = block_iov_size(req->iov, req->iovcnt);
    return size >= 0 && size <= BLOCK_INLINE_MAX;
}

ssize_t block_run(const BlockNode *node, AioIoRequest *req)
{
    PoolRun p = {.req = req};
    int ret;

    req->fd = node->fd;
    if (node->opts.aio == BLOCK_AIO_IO_URING) {
        return runs_inline(node, req) ? aio_io_run_blocking(req)
                                      : aio_co_io(req);
    }
    ret = aio_co_thread_pool_submit(pool_run, &p);
    return ret < 0 ? ret : p.ret;
}

int block_run_fallocate(const BlockNode *node, int mode, int64_t offset,
                        int64_t len)
{
    AioIoRequest req = {.op = AIO_IO_FALLOCATE, .mode = mode,
                        .offset = offset, .len = len};

    return (int)block_run(node, &req);
}

int block_run_fdatasync(const BlockNode *node)
{
    AioIoRequest req = {.op = AIO_IO_FDATASYNC};

    return (int)block_run(node, &req);
}
