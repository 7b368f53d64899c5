/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * copy-file: copy a file through the I/O engine of an iothread.
 *
 *     copy-file [-d DEPTH] [-c CHUNK] SOURCE DEST
 *
 * Starts an IOThread and, inside it, DEPTH coroutines (default 4), each
 * of which takes the next CHUNK bytes (default 128 KiB) of SOURCE, reads
 * them with aio_co_preadv() and writes them to DEST with
 * aio_co_pwritev(): DEPTH requests are in flight at a time, and the
 * thread never blocks in a read or a write.  The last one to finish flushes
 * DEST with aio_co_fdatasync().  Then it prints what it did: bytes,
 * requests, io_uring_enter() calls and the engine ("io_uring", or
 * "thread-pool" with LIBIOTHREAD_DISABLE_IO_URING=1).
 *
 * The main thread only starts, waits and reports: every call it makes on
 * the context goes through iothread_run_sync(), as the library asks.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iothread/aio.h>
#include <iothread/coroutine.h>
#include <iothread/io-engine.h>
#include <iothread/iothread.h>

#define DEPTH_MAX 256
#define CHUNK_MAX (64 << 20)

typedef struct Copy {
    AioContext *ctx;
    int in, out;
    int64_t size;
    size_t chunk;
    int depth;
    /* Home thread only (the coroutines share it, one runs at a time). */
    int64_t next;    /* offset the next coroutine takes */
    int running;     /* coroutines not finished */
    int error;       /* first -errno, 0 if none */
    int64_t copied;
    /* The result, handed to the main thread under lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
} Copy;

static void copy_finished(Copy *c)
{
    pthread_mutex_lock(&c->lock);
    c->done = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* One of the DEPTH coroutines: chunks until the file is copied. */
static void copy_co(void *opaque)
{
    Copy *c = opaque;
    char *buf = malloc(c->chunk);

    if (!buf && !c->error) {
        c->error = -ENOMEM;
    }
    while (buf && !c->error && c->next < c->size) {
        int64_t off = c->next;
        size_t len = c->size - off < (int64_t)c->chunk ? (size_t)(c->size - off)
                                                       : c->chunk;
        struct iovec v = {buf, len};
        ssize_t n;

        c->next += (int64_t)len;
        n = aio_co_preadv(c->in, &v, 1, off);
        if (n >= 0 && (size_t)n < len) {
            n = -EIO; /* SOURCE shrank while we copied it */
        }
        if (n > 0) {
            n = aio_co_pwritev(c->out, &v, 1, off, 0);
        }
        if (n < 0) {
            c->error = c->error ? c->error : (int)n;
            break;
        }
        c->copied += n;
    }
    free(buf);
    if (--c->running == 0) {
        if (!c->error) {
            c->error = aio_co_fdatasync(c->out);
        }
        copy_finished(c);
    }
}

/* Inside the iothread: start the coroutines. */
static void copy_start(void *opaque)
{
    Copy *c = opaque;

    c->running = c->depth;
    for (int i = 0; i < c->depth; i++) {
        Coroutine *co = aio_co_create(c->ctx, copy_co, c, 0);

        if (!co) {
            c->error = -ENOMEM;
            if (--c->running == 0) {
                copy_finished(c);
            }
            continue;
        }
        qemu_coroutine_enter(co);
    }
}

/* Inside the iothread: the engine's counters. */
typedef struct Report {
    AioContext *ctx;
    AioIoStats stats;
} Report;

static void copy_report(void *opaque)
{
    Report *r = opaque;

    aio_io_get_stats(r->ctx, &r->stats);
}

static long parse_num(const char *s, long max, const char *what)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > max) {
        fprintf(stderr, "copy-file: %s must be 1..%ld\n", what, max);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    Copy c = {.chunk = 128 << 10, .depth = 4,
              .lock = PTHREAD_MUTEX_INITIALIZER,
              .cond = PTHREAD_COND_INITIALIZER};
    Report rep;
    IOThread *t;
    struct stat st;
    int opt, ret;

    while ((opt = getopt(argc, argv, "d:c:")) != -1) {
        switch (opt) {
        case 'd':
            c.depth = (int)parse_num(optarg, DEPTH_MAX, "DEPTH");
            break;
        case 'c':
            c.chunk = (size_t)parse_num(optarg, CHUNK_MAX, "CHUNK");
            break;
        default:
            fprintf(stderr, "usage: copy-file [-d DEPTH] [-c CHUNK] SOURCE "
                            "DEST\n");
            return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: copy-file [-d DEPTH] [-c CHUNK] SOURCE DEST\n");
        return 2;
    }
    c.in = open(argv[optind], O_RDONLY | O_CLOEXEC);
    if (c.in < 0 || fstat(c.in, &st) < 0) {
        fprintf(stderr, "copy-file: %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    c.size = st.st_size;
    c.out = open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                 0644);
    if (c.out < 0) {
        fprintf(stderr, "copy-file: %s: %s\n", argv[optind + 1],
                strerror(errno));
        return 1;
    }
    ret = iothread_start(&t, NULL);
    if (ret < 0) {
        fprintf(stderr, "copy-file: iothread_start: %s\n", strerror(-ret));
        return 1;
    }
    c.ctx = iothread_get_aio_context(t);
    iothread_run_sync(t, copy_start, &c);
    pthread_mutex_lock(&c.lock);
    while (!c.done) {
        pthread_cond_wait(&c.cond, &c.lock);
    }
    pthread_mutex_unlock(&c.lock);
    rep.ctx = c.ctx;
    iothread_run_sync(t, copy_report, &rep);
    printf("copied %" PRId64 " bytes with %d coroutines: %" PRIu64
           " requests, %" PRIu64 " io_uring_enter calls, engine %s\n",
           c.copied, c.depth, rep.stats.completed, rep.stats.enters,
           aio_context_io_engine(c.ctx));
    iothread_stop(t);
    close(c.in);
    if (close(c.out) < 0 && !c.error) {
        c.error = -errno;
    }
    if (c.error) {
        fprintf(stderr, "copy-file: %s\n", strerror(-c.error));
        return 1;
    }
    return 0;
}
