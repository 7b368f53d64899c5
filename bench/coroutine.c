/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * coroutine switch_ns: one qemu_coroutine_enter() + qemu_coroutine_yield()
 * round trip (two switches) on one thread, with the library's switch (the
 * assembly one on x86-64 and aarch64, else ucontext).  No floor: QEMU's
 * ucontext back-end is the reference, tens of ns on such machines.
 *
 * Usage: coroutine [ROUND_TRIPS_PER_REP]
 */
#include <stdbool.h>
#include <unistd.h>

#include <iothread/aio.h>
#include <iothread/coroutine.h>

#include "bench.h"

static volatile bool stop;

static void yielder(void *opaque)
{
    (void)opaque;
    while (!stop) {
        qemu_coroutine_yield();
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    double ns[BENCH_REPS];
    AioContext *ctx;
    Coroutine *co;

    if (n <= 0 || aio_context_new(&ctx, AIO_FDMON_AUTO) < 0) {
        fprintf(stderr, "usage: coroutine [ROUND_TRIPS_PER_REP]\n");
        return 2;
    }
    co = aio_co_create(ctx, yielder, NULL, 0);
    if (!co) {
        fprintf(stderr, "coroutine: aio_co_create failed\n");
        return 1;
    }
    bench_pin(0);
    for (int rep = 0; rep < BENCH_REPS; rep++) {
        int64_t t0 = bench_now();

        for (long i = 0; i < n; i++) {
            qemu_coroutine_enter(co);
        }
        ns[rep] = (double)(bench_now() - t0) / (double)n;
    }
    stop = true;
    qemu_coroutine_enter(co); /* returns: freed */
    bench_result("coroutine", "switch_ns", "ns", "iothreadd", "iothreadd",
                 ns);
    aio_context_free(ctx);
    return 0;
}
