/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the registry and one IOThread object's life
 * (daemon/registry.h, daemon/iothread-object.h) under allocation failure:
 * strdup() is replaced here, so the N-th call from a chosen moment fails,
 * and registry_create() is run with N = 1, 2, ... until it succeeds.
 * Every failure must leave nothing behind, and the success must run the
 * thread with exactly the settings the object reports (registry.c once
 * ignored a failed copy and started the thread with the defaults).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"

#include "common/iothread-config.h"
#include "daemon/registry.h"

/* 0: never fail; N: the N-th strdup() after arming fails. */
static _Atomic int strdup_fail_at;
static _Atomic int strdup_calls;

char *strdup(const char *s)
{
    int fail_at = atomic_load(&strdup_fail_at);
    size_t n = strlen(s) + 1;
    char *p;

    if (fail_at && atomic_fetch_add(&strdup_calls, 1) + 1 == fail_at) {
        errno = ENOMEM;
        return NULL;
    }
    p = malloc(n);
    if (p) {
        memcpy(p, s, n);
    }
    return p;
}

static void arm_strdup_failure(int nth)
{
    atomic_store(&strdup_calls, 0);
    atomic_store(&strdup_fail_at, nth);
}

static int created;

static void on_event(void *opaque, const char *event, const char *id)
{
    if (strcmp(event, "IOTHREAD_CREATED") == 0) {
        created++;
    }
}

static void make_config(IOThreadConfig *cfg)
{
    json_t *p = json_pack("{s:I, s:I, s:I, s:s}", "poll-max-ns",
                          (json_int_t)1000, "poll-grow", (json_int_t)3,
                          "poll-shrink", (json_int_t)5, "cpu-affinity", "r");
    char *err = NULL;

    iothread_config_init(cfg);
    cfg->id = strdup("io0");
    if (iothread_config_apply(cfg, p, true, &err) < 0) {
        test_fail(__FILE__, __LINE__, "make_config: %s", err);
    }
    json_decref(p);
}

TEST(registry_create_under_enomem_runs_what_it_reports)
{
    AioContext *ctx;
    Registry *r;
    IOThreadConfig cfg;
    int failures = 0, nth;

    REQUIRE(aio_context_new(&ctx, AIO_FDMON_POLL) == 0);
    r = registry_new(ctx, 8, on_event, NULL);
    REQUIRE(r);
    make_config(&cfg);
    created = 0;
    for (nth = 1; nth < 100; nth++) {
        char *err = NULL;
        int ret;

        arm_strdup_failure(nth);
        ret = registry_create(r, &cfg, ORIGIN_QMP, &err);
        arm_strdup_failure(0);
        if (ret == 0) {
            free(err);
            break;
        }
        failures++;
        CHECK_EQ_INT(ret, -ENOMEM);
        CHECK(err == NULL || strstr(err, "io0") != NULL);
        CHECK_EQ_INT(registry_count(r), 0);
        CHECK_EQ_INT(created, 0);
        free(err);
    }
    CHECK(failures > 0); /* the copies were reached at all */
    CHECK(nth < 100);

    IOThreadObject *obj = registry_find(r, "io0");
    int64_t max_ns = -1, grow = -1, shrink = -1;

    REQUIRE(obj);
    CHECK_EQ_INT(created, 1);
    CHECK_EQ_INT(iothread_object_config(obj)->poll_max_ns, 1000);
    CHECK_STR(iothread_object_config(obj)->cpu_affinity, cfg.cpu_affinity);
    aio_context_get_poll_params(iothread_object_context(obj), &max_ns, &grow,
                                &shrink);
    CHECK_EQ_INT(max_ns, 1000);
    CHECK_EQ_INT(grow, 3);
    CHECK_EQ_INT(shrink, 5);
    registry_free(r);
    iothread_config_cleanup(&cfg);
    while (aio_poll(ctx, false)) {
    }
    aio_context_free(ctx);
}
