/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of IOThread settings (iothread-config.h): defaults, id
 * grammar, every validation rule with its exact message, the all-or-nothing
 * guarantee of iothread_config_apply(), and the JSON views (to_json, get,
 * the property table).  CPU-dependent expectations come from
 * sched_getaffinity.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iothread/aio.h>

#include "../harness.h"

#include "common/cpulist.h"
#include "common/iothread-config.h"

static char *avail_str(void)
{
    cpu_set_t avail;

    CPU_ZERO(&avail);
    sched_getaffinity(0, sizeof(avail), &avail);
    return cpulist_format(&avail);
}

/* A config with non-default values everywhere, pinned to all CPUs. */
static void make_custom(IOThreadConfig *c)
{
    char *err = NULL;
    json_t *p = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}",
                          "poll-max-ns", (json_int_t)1000, "poll-grow",
                          (json_int_t)3, "poll-shrink", (json_int_t)4,
                          "aio-max-batch", (json_int_t)5, "thread-pool-min",
                          (json_int_t)2, "thread-pool-max", (json_int_t)8,
                          "cpu-affinity", "r", "fdmon", "epoll");

    iothread_config_init(c);
    c->id = strdup("custom");
    if (iothread_config_apply(c, p, true, &err) != 0) {
        test_fail(__FILE__, __LINE__, "make_custom: %s", err);
    }
    free(err);
    json_decref(p);
}

/* Deep comparison of two configs. */
static bool config_equal(const IOThreadConfig *a, const IOThreadConfig *b)
{
    if ((a->id == NULL) != (b->id == NULL) ||
        (a->id && strcmp(a->id, b->id) != 0)) {
        return false;
    }
    if ((a->cpu_affinity == NULL) != (b->cpu_affinity == NULL) ||
        (a->cpu_affinity && strcmp(a->cpu_affinity, b->cpu_affinity) != 0)) {
        return false;
    }
    if (a->cpu_affinity && !CPU_EQUAL(&a->affinity, &b->affinity)) {
        return false;
    }
    return a->poll_max_ns == b->poll_max_ns && a->poll_grow == b->poll_grow &&
           a->poll_shrink == b->poll_shrink &&
           a->aio_max_batch == b->aio_max_batch &&
           a->thread_pool_min == b->thread_pool_min &&
           a->thread_pool_max == b->thread_pool_max && a->fdmon == b->fdmon;
}

/*
 * Apply @json (text) to a copy of @base, expecting -EINVAL with message
 * @want and the config unchanged (same values and same string pointers).
 */
static void expect_apply_err(const char *file, int line,
                             const IOThreadConfig *base, const char *json,
                             bool creating, const char *want)
{
    IOThreadConfig c, before;
    json_error_t jerr;
    json_t *p = json_loads(json, JSON_DECODE_ANY, &jerr);
    char *err = NULL, *id_ptr, *aff_ptr;
    int ret;

    if (!p) {
        test_fail(file, line, "bad test JSON %s: %s", json, jerr.text);
        return;
    }
    if (iothread_config_copy(&c, base) < 0 ||
        iothread_config_copy(&before, base) < 0) {
        abort();
    }
    id_ptr = c.id;
    aff_ptr = c.cpu_affinity;
    ret = iothread_config_apply(&c, p, creating, &err);
    if (ret != -EINVAL) {
        test_fail(file, line, "apply(%s) = %d, want -EINVAL", json, ret);
    }
    if (!err || strcmp(err, want) != 0) {
        test_fail(file, line, "apply(%s) error \"%s\", want \"%s\"", json,
                  err ? err : "(null)", want);
    }
    if (!config_equal(&c, &before) || c.id != id_ptr ||
        c.cpu_affinity != aff_ptr) {
        test_fail(file, line, "apply(%s) changed the config on error", json);
    }
    free(err);
    json_decref(p);
    iothread_config_cleanup(&c);
    iothread_config_cleanup(&before);
}

/* Apply @json to *@c expecting success. */
static void expect_apply_ok(const char *file, int line, IOThreadConfig *c,
                            const char *json, bool creating)
{
    json_error_t jerr;
    json_t *p = json_loads(json, JSON_DECODE_ANY, &jerr);
    char *err = (char *)"sentinel";
    int ret;

    if (!p) {
        test_fail(file, line, "bad test JSON %s: %s", json, jerr.text);
        return;
    }
    ret = iothread_config_apply(c, p, creating, &err);
    if (ret != 0) {
        test_fail(file, line, "apply(%s) = %d: %s", json, ret,
                  err ? err : "(null)");
        free(err);
    } else if (err) {
        test_fail(file, line, "apply(%s) left errp set", json);
    }
    json_decref(p);
}

#define APPLY_ERR(base, json, creating, want)                                  \
    expect_apply_err(__FILE__, __LINE__, (base), (json), (creating), (want))
#define APPLY_OK(c, json, creating)                                            \
    expect_apply_ok(__FILE__, __LINE__, (c), (json), (creating))

static const char *const int_names[] = {
    "poll-max-ns",     "poll-grow",       "poll-shrink",
    "aio-max-batch",   "thread-pool-min", "thread-pool-max",
};

TEST(defaults)
{
    IOThreadConfig c;

    memset(&c, 0xa5, sizeof(c));
    iothread_config_init(&c);
    CHECK(c.id == NULL);
    CHECK_EQ_INT(c.poll_max_ns, 32768);
    CHECK_EQ_INT(c.poll_grow, 0);
    CHECK_EQ_INT(c.poll_shrink, 0);
    CHECK_EQ_INT(c.aio_max_batch, 0);
    CHECK_EQ_INT(c.thread_pool_min, 0);
    CHECK_EQ_INT(c.thread_pool_max, 64);
    CHECK(c.cpu_affinity == NULL);
    CHECK_EQ_INT(c.fdmon, AIO_FDMON_AUTO);
    iothread_config_cleanup(&c);
    iothread_config_cleanup(&c); /* twice is harmless */
    CHECK(c.id == NULL);
}

TEST(cleanup_resets)
{
    IOThreadConfig c;

    make_custom(&c);
    CHECK(c.cpu_affinity != NULL);
    iothread_config_cleanup(&c);
    CHECK(c.id == NULL);
    CHECK(c.cpu_affinity == NULL);
    CHECK_EQ_INT(c.poll_max_ns, 32768);
    CHECK_EQ_INT(c.fdmon, AIO_FDMON_AUTO);
}

TEST(copy_is_deep)
{
    IOThreadConfig a, b;

    make_custom(&a);
    REQUIRE(iothread_config_copy(&b, &a) == 0);
    CHECK(config_equal(&a, &b));
    CHECK(a.id != b.id);
    CHECK(a.cpu_affinity != b.cpu_affinity);
    iothread_config_cleanup(&a); /* b must survive a's cleanup */
    CHECK_STR(b.id, "custom");
    CHECK_EQ_INT(b.poll_max_ns, 1000);
    iothread_config_cleanup(&b);

    /* NULL strings copy as NULL */
    iothread_config_init(&a);
    REQUIRE(iothread_config_copy(&b, &a) == 0);
    CHECK(b.id == NULL && b.cpu_affinity == NULL);
    CHECK(config_equal(&a, &b));
}

TEST(id_grammar)
{
    char id[IOTHREAD_ID_MAX_LEN + 2];

    CHECK(iothread_id_valid("a"));
    CHECK(iothread_id_valid("io0"));
    CHECK(iothread_id_valid("Z"));
    CHECK(iothread_id_valid("A-b.c_d9"));
    CHECK(iothread_id_valid("iothread-0.disk_1"));
    CHECK(!iothread_id_valid(NULL));
    CHECK(!iothread_id_valid(""));
    CHECK(!iothread_id_valid("0io"));
    CHECK(!iothread_id_valid("-io"));
    CHECK(!iothread_id_valid("_io"));
    CHECK(!iothread_id_valid(".io"));
    CHECK(!iothread_id_valid("io 0"));
    CHECK(!iothread_id_valid("io/0"));
    CHECK(!iothread_id_valid("io,0"));
    CHECK(!iothread_id_valid("io:0"));
    CHECK(!iothread_id_valid("io\n"));
    CHECK(!iothread_id_valid("\xc3\xa9t\xc3\xa9"));
    CHECK(!iothread_id_valid("t\xc3\xa9"));

    memset(id, 'a', sizeof(id));
    id[IOTHREAD_ID_MAX_LEN] = '\0'; /* 127 characters */
    CHECK(iothread_id_valid(id));
    id[IOTHREAD_ID_MAX_LEN] = 'a';
    id[IOTHREAD_ID_MAX_LEN + 1] = '\0'; /* 128 */
    CHECK(!iothread_id_valid(id));
}

TEST(apply_integers)
{
    IOThreadConfig c;

    iothread_config_init(&c);
    APPLY_OK(&c, "{\"poll-max-ns\": 1000}", false);
    CHECK_EQ_INT(c.poll_max_ns, 1000);
    APPLY_OK(&c, "{\"poll-grow\": 4, \"poll-shrink\": 2}", false);
    CHECK_EQ_INT(c.poll_grow, 4);
    CHECK_EQ_INT(c.poll_shrink, 2);
    APPLY_OK(&c, "{\"aio-max-batch\": 32}", false);
    CHECK_EQ_INT(c.aio_max_batch, 32);
    APPLY_OK(&c, "{\"poll-max-ns\": 0}", false);
    CHECK_EQ_INT(c.poll_max_ns, 0);
    /* the extremes of the ranges */
    APPLY_OK(&c,
             "{\"poll-max-ns\": 9223372036854775807, \"poll-grow\": "
             "9223372036854775807, \"poll-shrink\": 9223372036854775807, "
             "\"aio-max-batch\": 9223372036854775807}",
             false);
    CHECK_EQ_INT(c.poll_max_ns, INT64_MAX);
    CHECK_EQ_INT(c.poll_grow, INT64_MAX);
    CHECK_EQ_INT(c.poll_shrink, INT64_MAX);
    CHECK_EQ_INT(c.aio_max_batch, INT64_MAX);
    APPLY_OK(&c,
             "{\"thread-pool-min\": 9223372036854775807, "
             "\"thread-pool-max\": 9223372036854775807}",
             false);
    CHECK_EQ_INT(c.thread_pool_min, INT64_MAX);
    CHECK_EQ_INT(c.thread_pool_max, INT64_MAX);
    /* only the named properties change */
    CHECK(c.cpu_affinity == NULL);
    CHECK_EQ_INT(c.fdmon, AIO_FDMON_AUTO);
    iothread_config_cleanup(&c);
}

TEST(apply_empty_and_null)
{
    IOThreadConfig c, before;
    char *err = (char *)"sentinel";

    make_custom(&c);
    REQUIRE(iothread_config_copy(&before, &c) == 0);
    CHECK_EQ_INT(iothread_config_apply(&c, NULL, false, &err), 0);
    CHECK(err == NULL);
    APPLY_OK(&c, "{}", false);
    CHECK(config_equal(&c, &before));
    APPLY_ERR(&c, "[1]", true, "Invalid parameter type, expected: object");
    APPLY_ERR(&c, "3", true, "Invalid parameter type, expected: object");
    iothread_config_cleanup(&c);
    iothread_config_cleanup(&before);
}

TEST(apply_unknown_keys)
{
    IOThreadConfig c;

    make_custom(&c);
    APPLY_ERR(&c, "{\"bogus\": 1}", true, "Parameter 'bogus' is unexpected");
    APPLY_ERR(&c, "{\"id\": \"io1\"}", true, "Parameter 'id' is unexpected");
    APPLY_ERR(&c, "{\"qom-type\": \"iothread\"}", true,
              "Parameter 'qom-type' is unexpected");
    APPLY_ERR(&c, "{\"poll_max_ns\": 1}", true,
              "Parameter 'poll_max_ns' is unexpected");
    APPLY_ERR(&c, "{\"Poll-Max-Ns\": 1}", true,
              "Parameter 'Poll-Max-Ns' is unexpected");
    APPLY_ERR(&c, "{\"\": 1}", true, "Parameter '' is unexpected");
    iothread_config_cleanup(&c);
}

TEST(apply_type_errors)
{
    IOThreadConfig c;
    char json[128], want[128];

    make_custom(&c);
    for (size_t i = 0; i < sizeof(int_names) / sizeof(int_names[0]); i++) {
        static const char *const bad[] = {"1.0", "\"1\"", "true", "null",
                                          "[1]", "{}", "1e3"};

        snprintf(want, sizeof(want),
                 "Invalid parameter type for '%s', expected: integer",
                 int_names[i]);
        for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
            snprintf(json, sizeof(json), "{\"%s\": %s}", int_names[i], bad[j]);
            APPLY_ERR(&c, json, true, want);
        }
    }
    APPLY_ERR(&c, "{\"cpu-affinity\": 0}", true,
              "Invalid parameter type for 'cpu-affinity', expected: string");
    APPLY_ERR(&c, "{\"cpu-affinity\": null}", true,
              "Invalid parameter type for 'cpu-affinity', expected: string");
    APPLY_ERR(&c, "{\"cpu-affinity\": [0, 1]}", true,
              "Invalid parameter type for 'cpu-affinity', expected: string");
    APPLY_ERR(&c, "{\"fdmon\": 1}", true,
              "Invalid parameter type for 'fdmon', expected: string");
    iothread_config_cleanup(&c);
}

TEST(apply_range_errors)
{
    IOThreadConfig c;
    char json[128], want[128];

    make_custom(&c);
    for (size_t i = 0; i < sizeof(int_names) / sizeof(int_names[0]); i++) {
        snprintf(want, sizeof(want), "%s value must be in range [0, %s]",
                 int_names[i], "9223372036854775807");
        snprintf(json, sizeof(json), "{\"%s\": -1}", int_names[i]);
        APPLY_ERR(&c, json, true, want);
        snprintf(json, sizeof(json), "{\"%s\": -9223372036854775808}",
                 int_names[i]);
        APPLY_ERR(&c, json, true, want);
    }
    iothread_config_cleanup(&c);
}

TEST(apply_cpu_affinity)
{
    IOThreadConfig c;
    char *av = avail_str();
    cpu_set_t avail;
    char want[256];
    int unavail = -1;

    REQUIRE(av);
    CPU_ZERO(&avail);
    sched_getaffinity(0, sizeof(avail), &avail);
    for (int i = 0; i < CPU_SETSIZE && unavail < 0; i++) {
        if (!CPU_ISSET(i, &avail)) {
            unavail = i;
        }
    }

    iothread_config_init(&c);
    APPLY_OK(&c, "{\"cpu-affinity\": \"r\"}", false);
    CHECK_STR(c.cpu_affinity, av); /* stored in canonical form */
    CHECK(CPU_EQUAL(&c.affinity, &avail));
    APPLY_OK(&c, "{\"cpu-affinity\": \"\"}", false);
    CHECK(c.cpu_affinity == NULL);
    APPLY_OK(&c, "{\"cpu-affinity\": \"\"}", false); /* unpin twice */
    CHECK(c.cpu_affinity == NULL);

    {
        char json[128];
        int first = -1;

        for (int i = 0; i < CPU_SETSIZE && first < 0; i++) {
            if (CPU_ISSET(i, &avail)) {
                first = i;
            }
        }
        /* non-canonical spelling is stored canonically */
        snprintf(json, sizeof(json), "{\"cpu-affinity\": \"%d,%d,00%d\"}",
                 first, first, first);
        APPLY_OK(&c, json, false);
        snprintf(want, sizeof(want), "%d", first);
        CHECK_STR(c.cpu_affinity, want);
        CHECK_EQ_INT(CPU_COUNT(&c.affinity), 1);
        CHECK(CPU_ISSET(first, &c.affinity));
    }

    APPLY_ERR(&c, "{\"cpu-affinity\": \"0-\"}", false,
              "Parameter 'cpu-affinity' has an invalid value: invalid "
              "cpulist '0-': range without end");
    APPLY_ERR(&c, "{\"cpu-affinity\": \"3-1\"}", false,
              "Parameter 'cpu-affinity' has an invalid value: invalid "
              "cpulist '3-1': reversed range 3-1");
    APPLY_ERR(&c, "{\"cpu-affinity\": \"0, 1\"}", false,
              "Parameter 'cpu-affinity' has an invalid value: invalid "
              "cpulist '0, 1': unexpected character ' ' at position 2");
    APPLY_ERR(&c, "{\"cpu-affinity\": \"0,^0\"}", false,
              "Parameter 'cpu-affinity' has an invalid value: invalid "
              "cpulist '0,^0': no CPU selected");
    if (unavail >= 0) {
        char json[64];

        snprintf(json, sizeof(json), "{\"cpu-affinity\": \"%d\"}", unavail);
        snprintf(want, sizeof(want),
                 "Parameter 'cpu-affinity' has an invalid value: CPU %d is "
                 "not available (available: %s)", unavail, av);
        APPLY_ERR(&c, json, false, want);
    }
    iothread_config_cleanup(&c);
    free(av);
}

TEST(apply_fdmon)
{
    static const struct {
        const char *name;
        AioFdmon kind;
    } ok[] = {
        {"auto", AIO_FDMON_AUTO},
        {"io_uring", AIO_FDMON_IO_URING},
        {"epoll", AIO_FDMON_EPOLL},
        {"poll", AIO_FDMON_POLL},
    };
    static const char *const bad[] = {"", "uring", "io-uring", "EPOLL",
                                      "select", "auto "};
    IOThreadConfig c;
    char json[96];

    iothread_config_init(&c);
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(json, sizeof(json), "{\"fdmon\": \"%s\"}", ok[i].name);
        APPLY_OK(&c, json, true);
        CHECK_EQ_INT(c.fdmon, ok[i].kind);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(json, sizeof(json), "{\"fdmon\": \"%s\"}", bad[i]);
        APPLY_ERR(&c, json, true,
                  "Parameter 'fdmon' expects one of auto, io_uring, epoll, "
                  "poll");
    }
    /* at runtime fdmon is read-only, whatever the value */
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(json, sizeof(json), "{\"fdmon\": \"%s\"}", ok[i].name);
        APPLY_ERR(&c, json, false,
                  "Property 'fdmon' can only be set when the iothread is "
                  "created");
    }
    APPLY_ERR(&c, "{\"fdmon\": \"bogus\"}", false,
              "Property 'fdmon' can only be set when the iothread is "
              "created");
    iothread_config_cleanup(&c);
}

TEST(apply_pool_limits)
{
    IOThreadConfig c;

    iothread_config_init(&c);
    APPLY_ERR(&c, "{\"thread-pool-max\": 0}", false,
              "thread-pool-max must be at least 1");
    APPLY_ERR(&c, "{\"thread-pool-min\": 65}", false,
              "thread-pool-min (65) must not be greater than "
              "thread-pool-max (64)");
    APPLY_ERR(&c, "{\"thread-pool-min\": 10, \"thread-pool-max\": 5}", false,
              "thread-pool-min (10) must not be greater than "
              "thread-pool-max (5)");
    APPLY_ERR(&c, "{\"thread-pool-min\": 0, \"thread-pool-max\": 0}", false,
              "thread-pool-max must be at least 1");
    /* checked on the combination, whatever the key order */
    APPLY_OK(&c, "{\"thread-pool-min\": 100, \"thread-pool-max\": 200}",
             false);
    CHECK_EQ_INT(c.thread_pool_min, 100);
    CHECK_EQ_INT(c.thread_pool_max, 200);
    APPLY_OK(&c, "{\"thread-pool-max\": 1, \"thread-pool-min\": 1}", false);
    CHECK_EQ_INT(c.thread_pool_min, 1);
    CHECK_EQ_INT(c.thread_pool_max, 1);
    /* against the current values */
    APPLY_ERR(&c, "{\"thread-pool-min\": 2}", false,
              "thread-pool-min (2) must not be greater than "
              "thread-pool-max (1)");
    APPLY_OK(&c, "{\"thread-pool-min\": 0}", false);
    APPLY_OK(&c, "{\"thread-pool-max\": 1}", false);
    CHECK_EQ_INT(c.thread_pool_min, 0);
    CHECK_EQ_INT(c.thread_pool_max, 1);
    iothread_config_cleanup(&c);
}

TEST(apply_all_or_nothing)
{
    IOThreadConfig c, base;

    /* from defaults (unpinned) and from a custom (pinned) config */
    iothread_config_init(&base);
    base.id = strdup("io0");
    APPLY_ERR(&base,
              "{\"poll-max-ns\": 1, \"cpu-affinity\": \"r\", "
              "\"fdmon\": \"poll\", \"bogus\": 1}",
              true, "Parameter 'bogus' is unexpected");
    APPLY_ERR(&base,
              "{\"poll-max-ns\": 1, \"cpu-affinity\": \"r\", "
              "\"thread-pool-max\": 0}",
              true, "thread-pool-max must be at least 1");
    APPLY_ERR(&base,
              "{\"cpu-affinity\": \"r\", \"poll-grow\": 2, "
              "\"aio-max-batch\": -1}",
              true, "aio-max-batch value must be in range [0, "
                    "9223372036854775807]");
    iothread_config_cleanup(&base);

    make_custom(&base);
    APPLY_ERR(&base,
              "{\"poll-max-ns\": 1, \"cpu-affinity\": \"\", "
              "\"thread-pool-min\": 9}",
              false, "thread-pool-min (9) must not be greater than "
                     "thread-pool-max (8)");
    APPLY_ERR(&base, "{\"cpu-affinity\": \"\", \"fdmon\": \"poll\"}", false,
              "Property 'fdmon' can only be set when the iothread is "
              "created");
    APPLY_ERR(&base, "{\"cpu-affinity\": \"r\", \"cpu-affinity2\": \"r\"}",
              false, "Parameter 'cpu-affinity2' is unexpected");

    /* and a successful apply changes only what it names */
    REQUIRE(iothread_config_copy(&c, &base) == 0);
    APPLY_OK(&c, "{\"poll-shrink\": 9}", false);
    CHECK_EQ_INT(c.poll_shrink, 9);
    c.poll_shrink = base.poll_shrink;
    CHECK(config_equal(&c, &base));
    iothread_config_cleanup(&c);
    iothread_config_cleanup(&base);
}

TEST(apply_errp_null)
{
    IOThreadConfig c;
    json_t *p = json_pack("{s:i}", "poll-max-ns", -1);

    iothread_config_init(&c);
    CHECK_EQ_INT(iothread_config_apply(&c, p, true, NULL), -EINVAL);
    CHECK_EQ_INT(c.poll_max_ns, 32768);
    json_decref(p);
    p = json_pack("{s:i}", "poll-max-ns", 5);
    CHECK_EQ_INT(iothread_config_apply(&c, p, true, NULL), 0);
    CHECK_EQ_INT(c.poll_max_ns, 5);
    json_decref(p);
    iothread_config_cleanup(&c);
}

TEST(to_json_defaults)
{
    IOThreadConfig c;
    json_t *got, *want;

    iothread_config_init(&c);
    got = iothread_config_to_json(&c);
    want = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}",
                     "poll-max-ns", (json_int_t)32768, "poll-grow",
                     (json_int_t)0, "poll-shrink", (json_int_t)0,
                     "aio-max-batch", (json_int_t)0, "thread-pool-min",
                     (json_int_t)0, "thread-pool-max", (json_int_t)64,
                     "cpu-affinity", "", "fdmon", "auto");
    REQUIRE(got && want);
    CHECK(json_equal(got, want));
    CHECK(json_object_get(got, "id") == NULL);
    json_decref(got);
    json_decref(want);
    iothread_config_cleanup(&c);
}

TEST(to_json_custom_round_trip)
{
    IOThreadConfig a, b;
    json_t *ja, *jb, *want;
    char *av = avail_str(), *err = NULL;

    REQUIRE(av);
    make_custom(&a);
    ja = iothread_config_to_json(&a);
    want = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}",
                     "poll-max-ns", (json_int_t)1000, "poll-grow",
                     (json_int_t)3, "poll-shrink", (json_int_t)4,
                     "aio-max-batch", (json_int_t)5, "thread-pool-min",
                     (json_int_t)2, "thread-pool-max", (json_int_t)8,
                     "cpu-affinity", av, "fdmon", "epoll");
    REQUIRE(ja && want);
    CHECK(json_equal(ja, want));

    /* feeding it back at creation reproduces the settings */
    iothread_config_init(&b);
    b.id = strdup("custom");
    CHECK_EQ_INT(iothread_config_apply(&b, ja, true, &err), 0);
    CHECK(err == NULL);
    free(err);
    CHECK(config_equal(&a, &b));
    jb = iothread_config_to_json(&b);
    CHECK(json_equal(ja, jb));

    /* ... but not at runtime, because of fdmon */
    err = NULL;
    CHECK_EQ_INT(iothread_config_apply(&b, ja, false, &err), -EINVAL);
    CHECK_STR(err, "Property 'fdmon' can only be set when the iothread is "
                   "created");
    free(err);

    json_decref(ja);
    json_decref(jb);
    json_decref(want);
    iothread_config_cleanup(&a);
    iothread_config_cleanup(&b);
    free(av);
}

TEST(prop_table)
{
    static const char *const names[] = {
        "poll-max-ns",     "poll-grow",       "poll-shrink",  "aio-max-batch",
        "thread-pool-min", "thread-pool-max", "cpu-affinity", "fdmon",
    };
    size_t n = 0;

    for (const IOThreadPropInfo *p = iothread_props; p->name; p++, n++) {
        REQUIRE(n < sizeof(names) / sizeof(names[0]));
        CHECK_STR(p->name, names[n]);
        CHECK(strcmp(p->type, "int") == 0 || strcmp(p->type, "str") == 0);
        CHECK(p->description && *p->description);
        CHECK(iothread_prop_find(p->name) == p);
    }
    CHECK_EQ_INT(n, sizeof(names) / sizeof(names[0]));
    CHECK_STR(iothread_prop_find("poll-max-ns")->type, "int");
    CHECK_STR(iothread_prop_find("thread-pool-max")->type, "int");
    CHECK_STR(iothread_prop_find("cpu-affinity")->type, "str");
    CHECK_STR(iothread_prop_find("fdmon")->type, "str");
    CHECK(iothread_prop_find("id") == NULL);
    CHECK(iothread_prop_find("bogus") == NULL);
}

TEST(get_each_prop)
{
    IOThreadConfig c;
    json_t *all, *v;
    char *av = avail_str();

    REQUIRE(av);
    make_custom(&c);
    all = iothread_config_to_json(&c);
    REQUIRE(all);
    /* every listed property is gettable, with the type the table says,
     * and agrees with to_json */
    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        v = iothread_config_get(&c, p->name);
        REQUIRE(v);
        if (strcmp(p->type, "int") == 0) {
            CHECK(json_is_integer(v));
        } else {
            CHECK(json_is_string(v));
        }
        CHECK(json_equal(v, json_object_get(all, p->name)));
        json_decref(v);
    }
    CHECK_EQ_INT(json_object_size(all), 8);

    v = iothread_config_get(&c, "poll-max-ns");
    CHECK_EQ_INT(json_integer_value(v), 1000);
    json_decref(v);
    v = iothread_config_get(&c, "thread-pool-max");
    CHECK_EQ_INT(json_integer_value(v), 8);
    json_decref(v);
    v = iothread_config_get(&c, "cpu-affinity");
    CHECK_STR(json_string_value(v), av);
    json_decref(v);
    v = iothread_config_get(&c, "fdmon");
    CHECK_STR(json_string_value(v), "epoll");
    json_decref(v);

    CHECK(iothread_config_get(&c, "id") == NULL);
    CHECK(iothread_config_get(&c, "qom-type") == NULL);
    CHECK(iothread_config_get(&c, "bogus") == NULL);
    CHECK(iothread_config_get(&c, "") == NULL);

    iothread_config_cleanup(&c);
    v = iothread_config_get(&c, "cpu-affinity"); /* unpinned */
    CHECK_STR(json_string_value(v), "");
    json_decref(v);
    json_decref(all);
    free(av);
}

/* The shared folder names the back-ends without linking the library; the
 * daemon converts by index, so the order must be AioFdmon's. */
TEST(fdmon_names_follow_the_library_order)
{
    int n = 0;

    for (; iothread_fdmon_names[n]; n++) {
        CHECK_STR(iothread_fdmon_names[n], aio_fdmon_name((AioFdmon)n));
    }
    CHECK_EQ_INT(n, AIO_FDMON_POLL + 1);
    CHECK(iothread_prop_find("fdmon")->choices == iothread_fdmon_names);
}

/* Every row is complete and its default is what init gives and what its
 * own validation accepts; CLI options are unique. */
TEST(prop_table_rows_are_consistent)
{
    IOThreadConfig c;

    iothread_config_init(&c);
    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        json_t *v = iothread_config_get(&c, p->name);

        CHECK(p->cli && *p->cli && p->arg && *p->arg);
        CHECK(iothread_prop_find_cli(p->cli) == p);
        CHECK((p->kind == IOTHREAD_PROP_ENUM) == (p->choices != NULL));
        if (p->kind == IOTHREAD_PROP_INT) {
            CHECK(p->min <= p->def && p->def <= p->max);
            CHECK_EQ_INT(json_integer_value(v), p->def);
        } else if (p->kind == IOTHREAD_PROP_ENUM) {
            CHECK_STR(json_string_value(v), p->choices[p->def]);
        } else {
            CHECK_STR(json_string_value(v), ""); /* not pinned */
        }
        json_decref(v);
    }
    CHECK_EQ_INT(c.poll_max_ns, IOTHREAD_POLL_MAX_NS_DEFAULT);
    CHECK_EQ_INT(c.thread_pool_min, IOTHREAD_THREAD_POOL_MIN_DEFAULT);
    CHECK_EQ_INT(c.thread_pool_max, IOTHREAD_THREAD_POOL_MAX_DEFAULT);
    CHECK(iothread_prop_find_cli("cpu-affinity") == NULL);
    CHECK(iothread_prop_find_cli("cpus") ==
          iothread_prop_find("cpu-affinity"));
}

TEST(choices_text_joins_with_the_separators)
{
    const IOThreadPropInfo *p = iothread_prop_find("fdmon");
    char buf[64];

    CHECK_STR(iothread_prop_choices_text(p, ", ", " or ", buf, sizeof(buf)),
              "auto, io_uring, epoll or poll");
    CHECK_STR(iothread_prop_choices_text(p, ", ", ", ", buf, 10), "auto, io_");
    CHECK_EQ_INT(iothread_prop_choice(p, "epoll"), 2);
    CHECK_EQ_INT(iothread_prop_choice(p, "kqueue"), -1);
}

TEST(creation_only_properties_diff_and_keep)
{
    IOThreadConfig a, b;
    char *err = NULL;
    json_t *p = json_pack("{s:s, s:I}", "fdmon", "epoll", "poll-grow",
                          (json_int_t)4);

    iothread_config_init(&a);
    iothread_config_init(&b);
    CHECK(iothread_config_creation_diff(&a, &b) == NULL);
    REQUIRE(iothread_config_apply(&b, p, true, &err) == 0);
    CHECK(iothread_config_creation_diff(&a, &b) ==
          iothread_prop_find("fdmon"));
    iothread_config_keep_creation(&a, &b);
    CHECK(iothread_config_creation_diff(&a, &b) == NULL);
    CHECK_EQ_INT(a.poll_grow, 0); /* runtime properties are not copied */
    json_decref(p);
}
