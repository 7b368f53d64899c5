/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private parts of the I/O engine: io-engine.c (API, thread-pool
 * back-end) and io-engine-uring.c (io_uring back-end).
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

/* One per context, made by its first request; home thread only, except
 * the counters (written by the home thread, read by anyone). */
typedef struct AioIoState {
    AioContext *ctx;
    AioBH *bh;          /* io_uring: runs completions, then submits */
    AioIoList queued;   /* io_uring: waiting for an SQE */
    AioIoList done;     /* io_uring: completed, callback not run yet */
    unsigned in_kernel; /* io_uring: SQEs prepared whose CQE is unseen */
    _Atomic uint64_t stat_submitted;
    _Atomic uint64_t stat_completed;
    _Atomic uint64_t stat_enters;
} AioIoState;

void aio_io_list_init(AioIoList *l);
void aio_io_list_push(AioIoList *l, AioIoRequest *req);
AioIoRequest *aio_io_list_pop(AioIoList *l);

/* io-engine.c: run @req's callback and count it. */
void aio_io_finish(AioIoState *st, AioIoRequest *req, ssize_t ret);

/* io-engine-uring.c */
int aio_io_uring_init(AioIoState *st);
/* Queue @req; submits a batch when aio-max-batch are queued, and the
 * rest from the engine's BH, before the loop can block. */
void aio_io_uring_submit(AioIoState *st, AioIoRequest *req);
void aio_io_uring_fini(AioIoState *st);

#endif /* IOTHREAD_IO_ENGINE_INTERNAL_H */
