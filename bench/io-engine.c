/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io-engine: 4 KiB random reads from a file on tmpfs (bench/run.sh makes
 * a 512 MiB one in /dev/shm) through the I/O engine, one coroutine per
 * request, on a context whose fd monitor is io_uring:
 *   randread_qd1_p50_ns   one request at a time: the median time from
 *                         entering the request's coroutine to its
 *                         completion having resumed it;
 *   randread_qd32_iops    32 in flight (a new coroutine as soon as one
 *                         finishes);
 *   enters_per_io_qd32    io_uring_enter() calls per request at QD32,
 *                         from the engine's counters.
 * bench/io-engine-fio.py runs fio on the same file for the floor.
 *
 * Usage: io-engine FILE [SECONDS_PER_REP]
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <iothread/aio.h>
#include <iothread/coroutine.h>
#include <iothread/io-engine.h>

#include "bench.h"

enum { BS = 4096, QD_MAX = 32, LAT_MAX = 1 << 20 };

typedef struct Run {
    AioContext *ctx;
    int fd;
    uint64_t blocks;
    uint64_t rng;
    int in_flight;
    uint64_t done;
    int errors;
    int64_t *lat; /* QD1: per-request latency */
    size_t nlat;
    char (*buf)[BS];
    int free_slots[QD_MAX]; /* buffers not in use */
    int nfree;
} Run;

static uint64_t next_block(Run *r)
{
    /* xorshift64: cheap, and the same sequence every run. */
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->rng % r->blocks;
}

typedef struct Req {
    Run *r;
    int slot;
} Req;

static void read_co(void *opaque)
{
    Req *q = opaque;
    Run *r = q->r;
    int64_t t0 = bench_now();
    struct iovec v = {r->buf[q->slot], BS};
    ssize_t n = aio_co_preadv(r->fd, &v, 1, (int64_t)(next_block(r) * BS));

    if (n != BS) {
        r->errors++;
    }
    if (r->lat && r->nlat < LAT_MAX) {
        r->lat[r->nlat++] = bench_now() - t0;
    }
    r->done++;
    r->in_flight--;
    r->free_slots[r->nfree++] = q->slot;
}

/* Run requests at depth @qd for @secs; returns requests per second. */
static double run_depth(Run *r, int qd, double secs)
{
    Req reqs[QD_MAX];
    int64_t t0 = bench_now(), end = t0 + (int64_t)(secs * 1e9);
    uint64_t start_done = r->done;

    r->nfree = 0;
    for (int i = 0; i < qd; i++) {
        reqs[i] = (Req){r, i};
        r->free_slots[r->nfree++] = i;
    }
    while (bench_now() < end) {
        while (r->in_flight < qd) {
            int slot = r->free_slots[--r->nfree];
            Coroutine *co = aio_co_create(r->ctx, read_co, &reqs[slot], 0);

            if (!co) {
                fprintf(stderr, "io-engine: aio_co_create failed\n");
                exit(1);
            }
            r->in_flight++;
            qemu_coroutine_enter(co);
        }
        aio_poll(r->ctx, true);
    }
    while (r->in_flight) {
        aio_poll(r->ctx, true);
    }
    return (double)(r->done - start_done) * 1e9 / (double)(bench_now() - t0);
}

int main(int argc, char **argv)
{
    double secs = argc > 2 ? atof(argv[2]) : 1.0;
    double p50[BENCH_REPS], iops[BENCH_REPS], enters[BENCH_REPS];
    struct stat st;
    Run r = {.rng = 0x9e3779b97f4a7c15ull};

    if (argc < 2) {
        fprintf(stderr, "usage: io-engine FILE [SECONDS_PER_REP]\n");
        return 2;
    }
    r.fd = open(argv[1], O_RDONLY);
    if (r.fd < 0 || fstat(r.fd, &st) < 0 || st.st_size < BS) {
        fprintf(stderr, "io-engine: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    r.blocks = (uint64_t)st.st_size / BS;
    r.buf = aligned_alloc(BS, QD_MAX * BS);
    r.lat = malloc(sizeof(*r.lat) * LAT_MAX);
    if (!r.buf || !r.lat ||
        aio_context_new(&r.ctx, AIO_FDMON_IO_URING) < 0) {
        fprintf(stderr, "io-engine: no io_uring context\n");
        return 1;
    }
    bench_pin(0);
    for (int rep = 0; rep < BENCH_REPS; rep++) {
        AioIoStats a, b;
        int64_t *lat = r.lat;

        r.nlat = 0;
        run_depth(&r, 1, secs / 2);
        p50[rep] = (double)bench_pct(r.lat, r.nlat, 0.5);
        r.lat = NULL;
        aio_io_get_stats(r.ctx, &a);
        iops[rep] = run_depth(&r, QD_MAX, secs);
        aio_io_get_stats(r.ctx, &b);
        enters[rep] = (double)(b.enters - a.enters) /
                      (double)(b.completed - a.completed);
        r.lat = lat;
    }
    if (r.errors) {
        fprintf(stderr, "io-engine: %d reads failed or were short\n",
                r.errors);
        return 1;
    }
    bench_result("io-engine", "randread_qd1_p50_ns", "ns", "iothreadd",
                 "iothreadd", p50);
    bench_result("io-engine", "randread_qd32_iops", "iops", "iothreadd",
                 "iothreadd", iops);
    bench_result("io-engine", "enters_per_io_qd32", "calls", "iothreadd",
                 "iothreadd", enters);
    aio_context_free(r.ctx);
    close(r.fd);
    free(r.lat);
    free(r.buf);
    return 0;
}
