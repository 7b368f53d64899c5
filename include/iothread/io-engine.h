/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libiothread: file and socket I/O run for you by an AioContext.
 *
 * A request is submitted on a context's home thread and completes there:
 * either a callback runs (aio_io_submit()) or the coroutine that asked is
 * resumed (aio_co_io() and the aio_co_p*() helpers).  The result is the
 * one the system call would give, as a negative errno on failure, with
 * the engine's own guarantees on top:
 *  - reads and writes are completed: a transfer the kernel cut short is
 *    continued until everything is done, an error occurs, or (reads only)
 *    end of file is reached, in which case the short count is returned;
 *    a write never returns success for fewer bytes than asked;
 *  - EINTR is retried, never returned.
 *
 * Sockets (AIO_IO_RECVMSG / AIO_IO_SENDMSG, aio_co_recvmsg() and friends):
 *  - a receive completes once it has something to return: the bytes one
 *    recvmsg() gave (a short count is returned as is, as a stream socket
 *    gives it), 0 at end of stream, or -errno; aio_co_recv_full() loops
 *    for an exact length;
 *  - a send is completed like a write: all of it, or -errno (EPIPE when
 *    the peer is gone; SIGPIPE is never raised); ancillary data
 *    (msg_control) goes with the first byte;
 *  - requests on one fd and in one direction complete in submission
 *    order; the caller keeps at most one sender per stream socket at a
 *    time if it needs whole messages not interleaved (e.g. a CoMutex).
 * The fd may be blocking or not: the engine never blocks the thread.
 *
 * Engines (aio_context_io_engine() says which):
 *  - "io_uring" when the context's fd monitor is io_uring: requests go to
 *    that same ring (one per thread), at most aio-max-batch of them per
 *    io_uring_enter() (0: 32), and whatever is queued is submitted before
 *    the loop blocks or busy-polls (in the loop's own io_uring_enter(),
 *    which waits), so no request waits for a batch to fill.  While the
 *    loop busy-polls it sees completions in the ring without a system
 *    call.  A full submission queue queues requests rather than failing.
 *  - "thread-pool" otherwise (epoll or poll, e.g. io_uring refused or
 *    LIBIOTHREAD_DISABLE_IO_URING=1): each file request runs on the
 *    context's thread pool with preadv / pwritev2 / fsync / fdatasync /
 *    fallocate.  Socket requests do not take a pool thread (a receive may
 *    wait for ever): the home thread tries recvmsg / sendmsg with
 *    MSG_DONTWAIT and, while the socket is not ready, waits for it with
 *    an fd handler of its own on the context.  So on this engine an fd
 *    with a socket request waiting must have no aio_set_fd_handler() of
 *    the caller's on the same context (the engine's would replace it).
 */
#ifndef IOTHREAD_IO_ENGINE_H
#define IOTHREAD_IO_ENGINE_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <iothread/aio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum AioIoOp {
    AIO_IO_READV,     /* preadv(fd, iov, iovcnt, offset) */
    AIO_IO_WRITEV,    /* pwritev2(..., flags): AIO_IO_FUA -> RWF_DSYNC */
    AIO_IO_FSYNC,     /* fsync(fd) */
    AIO_IO_FDATASYNC, /* fdatasync(fd) */
    AIO_IO_FALLOCATE, /* fallocate(fd, mode, offset, len) */
    AIO_IO_RECVMSG,   /* recvmsg(fd, msg, 0), once: a short count as is */
    AIO_IO_SENDMSG,   /* sendmsg(fd, msg, MSG_NOSIGNAL) until all is sent */
    AIO_IO_OP_MAX
} AioIoOp;

/* AIO_IO_WRITEV flag: the data is on stable storage when the request
 * completes (RWF_DSYNC), like a FUA write. */
#define AIO_IO_FUA 0x1

/* Flag of the file ops (READV, WRITEV, FSYNC, FDATASYNC, FALLOCATE): run
 * this request on the context's thread pool, as the "thread-pool" engine
 * does, even when the context's engine is io_uring (QEMU's aio=threads).
 * Same results and guarantees; counted in AioIoStats like any request
 * (never in enters).  With RECVMSG / SENDMSG: -EINVAL. */
#define AIO_IO_THREAD_POOL 0x2

typedef struct AioIoRequest AioIoRequest;

/* Runs on the home thread once @req is done; @ret as the header says. */
typedef void AioIoComplete(AioIoRequest *req, ssize_t ret);

/*
 * One request.  The caller fills the public part and owns the struct (and
 * the iovec array and buffers) until the completion has run; the engine
 * neither copies nor frees them.
 */
struct AioIoRequest {
    AioIoOp op;
    int fd;
    int64_t offset;           /* READV, WRITEV, FALLOCATE */
    const struct iovec *iov;  /* READV, WRITEV */
    int iovcnt;
    int flags;                /* file ops: AIO_IO_THREAD_POOL; WRITEV
                                 also AIO_IO_FUA; sockets: 0 */
    int mode;                 /* FALLOCATE: e.g. FALLOC_FL_PUNCH_HOLE |
                                 FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE */
    int64_t len;              /* FALLOCATE */
    struct msghdr *msg;       /* RECVMSG (filled in: msg_namelen,
                                 msg_controllen, msg_flags, as recvmsg()
                                 does), SENDMSG (only read) */
    AioIoComplete *cb;
    void *opaque;

    /* Private to the engine. */
    ssize_t ret_;
    size_t total_;             /* READV, WRITEV: bytes asked */
    size_t done_;              /* ... and transferred so far */
    struct iovec *iov_copy_;   /* the rest of the vector after a short
                                  transfer (io_uring) */
    const struct iovec *iov_cur_;
    int iovcnt_cur_;
    struct msghdr msg_cur_;    /* SENDMSG: the rest of the message */
    int rw_flags_;             /* WRITEV: the RWF_* flags given to the
                                  kernel */
    int poll_first_;           /* socket, io_uring: poll before retry */
    AioIoRequest *next_;
    void *engine_;
};

/*
 * aio_context_io_engine: the name of the engine @ctx runs requests on,
 * "io_uring" or "thread-pool".  Thread-safe.  NULL for a NULL @ctx.
 */
const char *aio_context_io_engine(AioContext *ctx);

/* The engine's counters for one context (all zero before its first
 * request).  Written by the home thread; a snapshot is consistent per
 * field.  The same values are the io_* members of the context's AioStats
 * (<iothread/aio-stats.h>), which query-iothread-stats reports. */
typedef struct AioIoStats {
    uint64_t submitted; /* requests aio_io_submit() accepted */
    uint64_t completed; /* ... whose callback has run */
    uint64_t in_flight; /* submitted - completed */
    uint64_t enters;    /* io_uring_enter() calls that submitted any of
                           them: the engine's own for full batches, and
                           the loop's (its wait, or before it busy-polls)
                           when it carried a partial one (io_uring
                           engine; 0 on the thread pool) */
} AioIoStats;

/* aio_io_get_stats: fill *@stats for @ctx.  Thread-safe; NULL @stats does
 * nothing, a NULL @ctx gives zeros. */
void aio_io_get_stats(AioContext *ctx, AioIoStats *stats);

/*
 * aio_io_submit: start @req on @ctx; @req->cb(@req, ret) runs later on the
 * home thread, never before this returns.  Home thread only.  Returns 0,
 * or -EINVAL (NULL @ctx, @req or @req->cb, unknown op, negative fd,
 * offset or length, unknown flags or a flag the op does not take (e.g.
 * AIO_IO_THREAD_POOL on a socket op), iovcnt or msg_iovlen outside
 * 0..IOV_MAX, a NULL msg for RECVMSG / SENDMSG) or -ENOMEM / -EAGAIN from
 * the thread pool; then the callback never runs.
 *
 * Freeing @ctx with requests in flight: requests already running finish
 * and aio_context_free() waits for them; the others (queued, or a socket
 * request waiting for its peer) are cancelled: a receive that did not
 * complete has consumed nothing.  None of the callbacks runs, and the
 * requests, which the caller owns, are the caller's again when
 * aio_context_free() returns: the kernel no longer writes into their
 * buffers.  A coroutine waiting in aio_co_io() is a live coroutine:
 * freeing its context aborts (see <iothread/coroutine.h>).
 */
int aio_io_submit(AioContext *ctx, AioIoRequest *req);

/*
 * aio_io_run_blocking: make @req's system calls on the calling thread,
 * now, and return its result with the engine's guarantees (a read or
 * write is completed, or -errno; a short read only at end of file; a
 * write never short; EINTR retried).  No context, callback or counter is
 * involved; @req is only read (cb, opaque and AIO_IO_THREAD_POOL are
 * ignored) and may be a local.  File ops only: RECVMSG / SENDMSG, and
 * whatever aio_io_submit() would refuse, give -EINVAL.  Any thread.
 *
 * It blocks the thread for as long as the call takes: for callers that
 * know the call is short (e.g. a small copy from a file in tmpfs, which
 * io_uring would hand to one of its worker threads) or that already run
 * on a worker thread (a ThreadPoolFunc).  The "thread-pool" engine runs
 * each file request with it.
 */
ssize_t aio_io_run_blocking(const AioIoRequest *req);

/*
 * aio_co_io: run @req (its cb and opaque are ignored) on the calling
 * coroutine's home context and suspend until it completes.  Coroutine
 * only.  Returns the request's result, or aio_io_submit()'s error.
 */
ssize_t aio_co_io(AioIoRequest *req);

/* Coroutine shorthands for aio_co_io(); same results. */
ssize_t aio_co_preadv(int fd, const struct iovec *iov, int iovcnt,
                      int64_t offset);
ssize_t aio_co_pwritev(int fd, const struct iovec *iov, int iovcnt,
                       int64_t offset, int flags);
int aio_co_fsync(int fd);
int aio_co_fdatasync(int fd);
int aio_co_fallocate(int fd, int mode, int64_t offset, int64_t len);

/* Coroutine forms of AIO_IO_RECVMSG and AIO_IO_SENDMSG; same results
 * (bytes received, 0 at end of stream, or -errno; all bytes sent or
 * -errno).  Coroutine only. */
ssize_t aio_co_recvmsg(int fd, struct msghdr *msg);
ssize_t aio_co_sendmsg(int fd, const struct msghdr *msg);

/*
 * aio_co_recv_full: receive exactly @len bytes into @buf from stream
 * socket @fd.  Returns @len; 0 when the stream ended before the first
 * byte (a clean end, e.g. a client that hung up between requests);
 * -ECONNRESET when it ended after some bytes but before @len (what was
 * received is in @buf, its amount is lost); or the -errno of recvmsg().
 * @len 0 returns 0 at once.  Lengths above SSIZE_MAX give -EINVAL.
 * Coroutine only.
 */
ssize_t aio_co_recv_full(int fd, void *buf, size_t len);

/* aio_co_send_full: send all @len bytes of @buf on @fd; @len or -errno.
 * Coroutine only. */
ssize_t aio_co_send_full(int fd, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* IOTHREAD_IO_ENGINE_H */
