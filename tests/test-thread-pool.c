/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The thread pool's completion path, where it used to differ from QEMU's:
 * a completion that nests aio_poll() to wait for a sibling delivered in
 * the same batch.
 *
 * "Same batch" is made certain, not likely: the test waits (without
 * polling the context) until the pool counts the requests as finished, so
 * one run of the completion BH finds them all.  A hang (the old code's
 * failure) is reported by the harness's per-case watchdog.  Nothing here
 * asserts speed.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <iothread/aio.h>
#include <iothread/thread-pool.h>

#include "harness.h"

/* Wait, without running @ctx, until @n requests have finished on the
 * workers (and so sit on the pool's list for one completion pass). */
static void wait_finished(AioContext *ctx, uint64_t n)
{
    ThreadPoolStats ps;

    for (;;) {
        aio_thread_pool_get_stats(ctx, &ps);
        if (ps.completed >= n) {
            return;
        }
        sched_yield();
    }
}

/*
 * Like REQUIRE, but on failure go to the case's cleanup, which frees the
 * context: that waits for running work and drops the rest, so that no
 * worker is left with a pointer into the returning case's frame.
 */
#define REQUIRE_OR(label, cond)                                                \
    do {                                                                       \
        if (!(cond)) {                                                         \
            test_fail(__FILE__, __LINE__, "required %s", #cond);               \
            goto label;                                                        \
        }                                                                      \
    } while (0)

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

/* ---- A completion that waits, in a nested aio_poll(), for others ---- */

enum { CHAIN = 4 };

typedef struct Chain {
    AioContext *ctx;
    pthread_t home;
    int done[CHAIN];    /* completions run, per request */
    int ret[CHAIN];
    int order[CHAIN];   /* request index, in the order completions began */
    int started;
    int waits_ok;       /* nested waits that saw their target complete */
} Chain;

typedef struct ChainReq {
    Chain *c;
    int i;
} ChainReq;

/* Request i waits, nested, for request i + 1, which finished in the same
 * batch: so a nested loop must run the rest of the batch. */
static void chain_done(void *opaque, int ret)
{
    ChainReq *r = opaque;
    Chain *c = r->c;

    c->order[c->started++] = r->i;
    CHECK(pthread_equal(pthread_self(), c->home));
    if (r->i + 1 < CHAIN) {
        while (!c->done[r->i + 1]) {
            aio_poll(c->ctx, true);
        }
        c->waits_ok++;
    }
    c->ret[r->i] = ret;
    c->done[r->i]++;
}

TEST_FDMON(nested_poll_in_completion_runs_sibling_of_same_batch)
{
    Chain c = {.home = pthread_self()};
    ChainReq r[CHAIN];

    REQUIRE(aio_context_new(&c.ctx, fdmon) == 0);
    /* One at a time, so that they finish, and are delivered, in order. */
    for (int i = 0; i < CHAIN; i++) {
        r[i] = (ChainReq){.c = &c, .i = i};
        REQUIRE_OR(out, aio_thread_pool_submit(c.ctx, return_arg,
                                               (void *)(intptr_t)(100 + i),
                                               chain_done, &r[i], NULL) == 0);
        wait_finished(c.ctx, (uint64_t)i + 1);
    }
    while (!c.done[0]) {
        aio_poll(c.ctx, true);
    }
    for (int i = 0; i < CHAIN; i++) {
        CHECK_EQ_INT(c.done[i], 1);
        CHECK_EQ_INT(c.ret[i], 100 + i);
        CHECK_EQ_INT(c.order[i], i);
    }
    CHECK_EQ_INT(c.started, CHAIN);
    CHECK_EQ_INT(c.waits_ok, CHAIN - 1);
    /* Nothing is delivered twice by a later pass. */
    while (aio_poll(c.ctx, false)) {
    }
    for (int i = 0; i < CHAIN; i++) {
        CHECK_EQ_INT(c.done[i], 1);
    }
out:
    aio_context_free(c.ctx);
}
