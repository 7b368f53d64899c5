/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private parts of the I/O engine: io-engine.c (API, thread-pool
 * back-end), io-engine-uring.c (io_uring back-end) and io-engine-sock.c
 * (sockets without io_uring).
 */
#ifndef IOTHREAD_IO_ENGINE_INTERNAL_H
#define IOTHREAD_IO_ENGINE_INTERNAL_H

#include <iothread/io-engine.h>

#include "aio-internal.h"

/* aio-max-batch 0 means this many requests per io_uring_enter(). */
#define AIO_IO_BATCH_DEFAULT 32

/* A FIFO of requests linked through next_; home thread only. */
typedef struct AioIoList {
    AioIoRequest *head;
    AioIoRequest **tailp;
    unsigned len;
} AioIoList;

typedef struct AioIoSockWait AioIoSockWait;

/* One per context, made by its first request; home thread only. */
typedef struct AioIoState {
    AioContext *ctx;
    AioBH *bh;          /* runs completions, then submits (io_uring) */
    AioIoList queued;   /* io_uring: waiting for an SQE */
    AioIoList done;     /* completed, callback not run yet (io_uring,
                           sockets without it) */
    unsigned in_kernel; /* io_uring: SQEs prepared whose CQE is unseen */
    unsigned in_ring;   /* io_uring: requests written to the ring that no
                           io_uring_enter() has submitted yet (fewer than
                           aio-max-batch) */
    AioIoSockWait *sock_waits; /* no io_uring: sockets waited for */
    /* The counters are the context's (stat_io_*, AIO_STATS_FOREACH). */
} AioIoState;

void aio_io_list_init(AioIoList *l);
void aio_io_list_push(AioIoList *l, AioIoRequest *req);
AioIoRequest *aio_io_list_pop(AioIoList *l);

/* io-engine.c */
/* Run @req's callback and count it. */
void aio_io_finish(AioIoState *st, AioIoRequest *req, ssize_t ret);
/* The RWF_* flags of a WRITEV (AIO_IO_FUA -> RWF_DSYNC), recorded in
 * @req->rw_flags_; every back-end passes exactly these to the kernel. */
int aio_io_rw_flags(AioIoRequest *req);
/* Queue @req's callback with result @ret for the engine's BH. */
void aio_io_complete_later(AioIoState *st, AioIoRequest *req, ssize_t ret);
/* Continue a transfer after @n more bytes: iov_cur_ / iovcnt_cur_ move
 * past them, on a private copy of the vector (iov_copy_, freed by
 * aio_io_release()).  Returns 0 or -ENOMEM. */
int aio_io_advance(AioIoRequest *req, size_t n);
/* SENDMSG: the message to send now (the rest of it; ancillary data only
 * before the first byte went out). */
struct msghdr *aio_io_send_hdr(AioIoRequest *req);
/* Free what the engine allocated for @req. */
void aio_io_release(AioIoRequest *req);

/* io-engine-uring.c */
/* Write @req to the ring; submits a batch when aio-max-batch are there,
 * and leaves the rest to the fd monitor's next io_uring_enter(), which
 * comes before the loop can block or busy-poll. */
void aio_io_uring_submit(AioIoState *st, AioIoRequest *req);
/* Write what is queued to the ring (on submission, and from the engine's
 * BH for requests that found it full or are continued). */
void aio_io_uring_flush(AioIoState *st);
/* Cancel what may wait for ever, wait for what the kernel holds, drop
 * what is queued. */
void aio_io_uring_fini(AioIoState *st);

/* io-engine-sock.c: RECVMSG / SENDMSG without io_uring. */
void aio_io_sock_submit(AioIoState *st, AioIoRequest *req);
/* Stop waiting for every socket; drop the requests. */
void aio_io_sock_fini(AioIoState *st);

#endif /* IOTHREAD_IO_ENGINE_INTERNAL_H */
