/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the query-iothreads and query-iothread-stats writers
 * (iothread-info.h): their text must be, byte for byte, what jansson
 * writes through qmp_format_message() for the same values, for many
 * iothreads with varied settings, and stay so as settings change, objects
 * go and back-ends differ.  The iothreads are real; they stay idle, so
 * their live values (poll-ns, counters) hold still between two readings.
 */
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../harness.h"

#include <iothread/thread-pool.h>

#include "daemon/iothread-info.h"
#include "daemon/proc-stat.h"
#include "qmp/server.h"

#define NR_OBJECTS 60

typedef struct Fixture {
    AioContext *ctx;
    Registry *r;
} Fixture;

static void no_event(void *opaque, const char *event, const char *id)
{
}

static bool fixture_init(Fixture *f)
{
    if (aio_context_new(&f->ctx, AIO_FDMON_AUTO) < 0) {
        return false;
    }
    f->r = registry_new(f->ctx, 100000, no_event, NULL);
    return f->r != NULL;
}

static void fixture_cleanup(Fixture *f)
{
    registry_free(f->r);
    aio_context_free(f->ctx);
}

/* Settings that differ from one object to the next: every integer
 * property, pinned or not, each back-end this kernel offers. */
static int add_object(Fixture *f, int i)
{
    static const AioFdmon fdmons[] = {AIO_FDMON_AUTO, AIO_FDMON_IO_URING,
                                      AIO_FDMON_EPOLL, AIO_FDMON_POLL};
    AioFdmon fdmon = fdmons[i % 4];
    IOThreadConfig cfg;
    char id[32], *err = NULL;
    json_t *props;
    int ret;

    if (!test_fdmon_available(fdmon)) {
        fdmon = AIO_FDMON_AUTO;
    }
    /* Ids of every character the grammar allows. */
    snprintf(id, sizeof(id), "%c%d%s", 'a' + i % 26, i,
             i % 3 == 0 ? "-x.y_z" : "");
    props = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}",
                      "poll-max-ns", (json_int_t)(i % 5 ? i * 1000 : 0),
                      "poll-grow", (json_int_t)(i % 4), "poll-shrink",
                      (json_int_t)(i % 3), "aio-max-batch",
                      (json_int_t)(i % 7 ? i : INT64_MAX),
                      "thread-pool-min", (json_int_t)(i % 2),
                      "thread-pool-max", (json_int_t)(i % 6 ? 64 + i : 2),
                      "cpu-affinity", i % 2 ? "0" : "",
                      "fdmon", aio_fdmon_name(fdmon));
    iothread_config_init(&cfg);
    cfg.id = strdup(id);
    ret = props && cfg.id ? iothread_config_apply(&cfg, props, true, &err)
                          : -ENOMEM;
    if (ret == 0) {
        ret = registry_create(f->r, &cfg, ORIGIN_QMP, &err);
    }
    if (ret < 0) {
        test_fail(__FILE__, __LINE__, "creating %s: %s", id,
                  err ? err : strerror(-ret));
    }
    free(err);
    json_decref(props);
    iothread_config_cleanup(&cfg);
    return ret;
}

/* Sum of @r's counters, a fingerprint of whether any loop moved. */
static uint64_t activity(Registry *r)
{
    uint64_t sum = 0;

    for (IOThreadObject *o = registry_next(r, NULL); o;
         o = registry_next(r, o)) {
        AioStats st;

        aio_context_get_stats(iothread_object_context(o), &st);
        sum += st.iterations * 3 + st.poll_ns * 7 + st.bh_runs;
    }
    return sum;
}

/* Wait until every loop is asleep: after a change an iothread runs a few
 * iterations and polls its adaptive window, and a test that compares two
 * readings of live values must not see that. */
static void settle(const char *file, int line, Registry *r)
{
    uint64_t before = activity(r);

    for (int i = 0; i < 2000; i++) {
        struct timespec t = {.tv_nsec = 5000000};
        uint64_t now;

        nanosleep(&t, NULL);
        now = activity(r);
        if (now == before) {
            return;
        }
        before = now;
    }
    test_fail(file, line, "the iothreads never went idle");
}

/* The reference: the array of jansson trees, through the server's
 * formatter, without its CRLF. */
static char *generic_list(Registry *r, size_t *len)
{
    json_t *list = json_array();
    char *s;

    for (IOThreadObject *o = registry_next(r, NULL); o;
         o = registry_next(r, o)) {
        json_array_append_new(list, iothread_info_json(o));
    }
    s = qmp_format_message(list, len);
    json_decref(list);
    if (s) {
        *len -= 2;
    }
    return s;
}

/* iothread_info_list() equals the reference, now and on a second call
 * (from the caches). */
static void check_info_list(const char *file, int line, Registry *r)
{
    settle(file, line, r);
    for (int pass = 0; pass < 2; pass++) {
        JsonText text = {0};
        size_t len = 0;
        char *want = generic_list(r, &len);
        int ret = iothread_info_list(r, &text);

        if (!want || ret < 0) {
            test_fail(file, line, "out of memory (%d)", ret);
        } else if (text.len != len || memcmp(text.data, want, len) != 0) {
            size_t at = 0;

            while (at < len && at < text.len && text.data[at] == want[at]) {
                at++;
            }
            test_fail(file, line,
                      "pass %d: texts differ at byte %zu of %zu/%zu:\n"
                      "  want ...%.80s\n  got  ...%.80s",
                      pass, at, len, text.len, want + (at > 20 ? at - 20 : 0),
                      text.data + (at > 20 ? at - 20 : 0));
        }
        free(want);
        json_text_free(&text);
    }
}

#define CHECK_INFO_LIST(r) check_info_list(__FILE__, __LINE__, r)

TEST(info_list_empty)
{
    Fixture f;

    REQUIRE(fixture_init(&f));
    CHECK_INFO_LIST(f.r);
    fixture_cleanup(&f);
}

TEST(info_list_matches_jansson)
{
    Fixture f;

    REQUIRE(fixture_init(&f));
    for (int i = 0; i < NR_OBJECTS; i++) {
        if (add_object(&f, i) < 0) {
            break;
        }
    }
    CHECK_EQ_INT(registry_count(f.r), NR_OBJECTS);
    CHECK_INFO_LIST(f.r);
    fixture_cleanup(&f);
}

static void update_done(void *opaque, int ret)
{
    *(int *)opaque = ret;
}

/* Every way the settings change reaches the cached entries. */
TEST(info_list_follows_changes)
{
    IOThreadConfig cfg;
    IOThreadObject *o;
    Fixture f;
    char *err = NULL;
    int i = 0, done = 1;

    REQUIRE(fixture_init(&f));
    for (i = 0; i < 12; i++) {
        REQUIRE(add_object(&f, i) == 0);
    }
    CHECK_INFO_LIST(f.r); /* fills the caches */

    /* Synchronously (reload), every third object. */
    i = 0;
    for (o = registry_next(f.r, NULL); o; o = registry_next(f.r, o), i++) {
        json_t *props;

        if (i % 3) {
            continue;
        }
        props = json_pack("{s:I, s:I, s:s}", "poll-max-ns",
                          (json_int_t)(777 + i), "thread-pool-max",
                          (json_int_t)(5 + i), "cpu-affinity",
                          i % 2 ? "" : "0");
        REQUIRE(iothread_config_copy(&cfg, iothread_object_config(o)) == 0);
        CHECK(iothread_config_apply(&cfg, props, false, &err) == 0);
        CHECK(registry_update_sync(f.r, o, &cfg) == 0);
        iothread_config_cleanup(&cfg);
        json_decref(props);
    }
    CHECK_INFO_LIST(f.r);

    /* Asynchronously (iothread-set, qom-set): committed at once. */
    o = registry_next(f.r, NULL);
    REQUIRE(iothread_config_copy(&cfg, iothread_object_config(o)) == 0);
    cfg.aio_max_batch = 12345;
    cfg.poll_grow = 3;
    done = 1;
    CHECK(registry_update(f.r, o, &cfg, update_done, &done) == 0);
    iothread_config_cleanup(&cfg);
    CHECK_INFO_LIST(f.r);
    while (done == 1) {
        aio_poll(f.ctx, true);
    }
    CHECK_EQ_INT(done, 0);
    CHECK_INFO_LIST(f.r);

    /* Objects go, first, middle and last; others come. */
    REQUIRE(registry_delete(f.r, registry_next(f.r, NULL), &err) == 0);
    o = registry_next(f.r, registry_next(f.r, registry_next(f.r, NULL)));
    REQUIRE(registry_delete(f.r, o, &err) == 0);
    for (o = registry_next(f.r, NULL); registry_next(f.r, o);
         o = registry_next(f.r, o)) {
    }
    REQUIRE(registry_delete(f.r, o, &err) == 0);
    CHECK_INFO_LIST(f.r);
    REQUIRE(add_object(&f, 100) == 0);
    REQUIRE(add_object(&f, 101) == 0);
    CHECK_INFO_LIST(f.r);
    fixture_cleanup(&f);
}

/* ---- query-iothread-stats ---- */

/* An entry's members after the loop's counters. */
static const char *const stats_more_keys[] = {
    "user-cpu-ns", "system-cpu-ns", "thread-pool-workers",
    "thread-pool-idle-workers", "thread-pool-queued", "thread-pool-completed",
    NULL,
};

/* Member @k of an entry: id, thread-id, the library's counters in the
 * order of their list (<iothread/aio-stats.h>), stats_more_keys; NULL
 * past the last. */
static const char *stats_key(size_t k)
{
    if (k < 2) {
        return k ? "thread-id" : "id";
    }
    k -= 2;
    if (k < AIO_STAT__COUNT) {
        return aio_stat_name((AioStatId)k);
    }
    return stats_more_keys[k - AIO_STAT__COUNT];
}

/* Entry @e's values are @o's (an idle iothread's: they hold still). */
static void check_stats_values(const char *file, int line, json_t *e,
                               IOThreadObject *o)
{
    AioContext *ctx = iothread_object_context(o);
    ThreadPoolStats ps;
    AioStats st;

    aio_context_get_stats(ctx, &st);
    aio_thread_pool_get_stats(ctx, &ps);
    for (int i = 0; i < AIO_STAT__COUNT; i++) {
        const char *name = aio_stat_name((AioStatId)i);
        json_int_t got = json_integer_value(json_object_get(e, name));
        uint64_t want = aio_stat_value(&st, (AioStatId)i);

        if (got != (json_int_t)want) {
            test_fail(file, line, "%s: %s is %" JSON_INTEGER_FORMAT
                      ", not %" PRIu64, iothread_object_id(o), name, got,
                      want);
        }
    }
    if (json_integer_value(json_object_get(e, "thread-pool-workers")) !=
            ps.workers ||
        json_integer_value(json_object_get(e, "thread-pool-idle-workers")) !=
            ps.idle_workers ||
        json_integer_value(json_object_get(e, "thread-pool-queued")) !=
            ps.queued ||
        json_integer_value(json_object_get(e, "thread-pool-completed")) !=
            (json_int_t)ps.completed) {
        test_fail(file, line, "%s: the pool's counters differ",
                  iothread_object_id(o));
    }
}

/*
 * @text parses, jansson writes the parsed value back to the same bytes,
 * and it is an array of one entry per object of @r (or only @only), with
 * the members stats_key() names in order and the object's id and thread-id.
 * Returns the parsed array (a new reference) or NULL.
 */
static json_t *check_stats_text(const char *file, int line, Registry *r,
                                IOThreadObject *only, const JsonText *text)
{
    json_error_t jerr;
    json_t *v = json_loadb(text->data, text->len, 0, &jerr), *e;
    IOThreadObject *o = only ? only : registry_next(r, NULL);
    size_t len = 0, i;
    char *again;

    if (!v) {
        test_fail(file, line, "not JSON (%s): %.*s", jerr.text,
                  (int)(text->len > 200 ? 200 : text->len), text->data);
        return NULL;
    }
    again = qmp_format_message(v, &len);
    if (!again || len - 2 != text->len ||
        memcmp(again, text->data, text->len) != 0) {
        test_fail(file, line, "jansson writes it otherwise:\n  %.200s\n  %.200s",
                  again ? again : "(null)", text->data);
    }
    free(again);
    json_array_foreach(v, i, e) {
        const char *key;
        json_t *member;
        size_t k = 0;

        if (!o) {
            test_fail(file, line, "entry %zu: more entries than objects", i);
            break;
        }
        json_object_foreach(e, key, member) {
            if (!stats_key(k) || strcmp(key, stats_key(k)) != 0) {
                test_fail(file, line, "entry %zu: member %zu is %s, not %s",
                          i, k, key, stats_key(k) ? stats_key(k) : "-");
                break;
            }
            if (k > 0 && !json_is_integer(member)) {
                test_fail(file, line, "entry %zu: %s is not an integer", i,
                          key);
            }
            k++;
        }
        CHECK(stats_key(k) == NULL);
        CHECK(strcmp(json_string_value(json_object_get(e, "id")),
                     iothread_object_id(o)) == 0);
        CHECK_EQ_INT(json_integer_value(json_object_get(e, "thread-id")),
                     iothread_object_tid(o));
        check_stats_values(file, line, e, o);
        o = only ? NULL : registry_next(r, o);
    }
    CHECK(o == NULL);
    return v;
}

TEST(stats_list_format)
{
    Fixture f;
    JsonText text = {0};
    json_t *v;

    REQUIRE(fixture_init(&f));
    CHECK_EQ_INT(iothread_stats_list(f.r, NULL, &text), 0);
    json_decref(check_stats_text(__FILE__, __LINE__, f.r, NULL, &text));
    json_text_free(&text);
    for (int i = 0; i < NR_OBJECTS; i++) {
        if (add_object(&f, i) < 0) {
            break;
        }
    }
    settle(__FILE__, __LINE__, f.r);
    for (int pass = 0; pass < 2; pass++) {
        CHECK_EQ_INT(iothread_stats_list(f.r, NULL, &text), 0);
        v = check_stats_text(__FILE__, __LINE__, f.r, NULL, &text);
        CHECK(v && json_array_size(v) == NR_OBJECTS);
        json_decref(v);
        json_text_free(&text);
    }
    /* One object's. */
    IOThreadObject *o = registry_next(f.r, registry_next(f.r, NULL));

    CHECK_EQ_INT(iothread_stats_list(f.r, o, &text), 0);
    v = check_stats_text(__FILE__, __LINE__, f.r, o, &text);
    CHECK(v && json_array_size(v) == 1);
    json_decref(v);
    json_text_free(&text);
    fixture_cleanup(&f);
}

typedef struct Burn {
    double cpu_seconds;
    atomic_bool done;
} Burn;

/* Use the iothread's CPU for a while (its own CPU time, not the wall's). */
static void burn_bh(void *opaque)
{
    Burn *b = opaque;
    struct timespec t;
    volatile unsigned long spin = 0;

    do {
        for (int i = 0; i < 100000; i++) {
            spin++;
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    } while (t.tv_sec + t.tv_nsec / 1e9 < b->cpu_seconds);
    atomic_store(&b->done, true);
}

static void stats_cpu(Registry *r, IOThreadObject *o, json_int_t *user,
                      json_int_t *system)
{
    JsonText text = {0};
    json_t *v, *e;

    *user = *system = -1;
    CHECK_EQ_INT(iothread_stats_list(r, o, &text), 0);
    v = json_loadb(text.data, text.len, 0, NULL);
    e = json_array_get(v, 0);
    if (e) {
        *user = json_integer_value(json_object_get(e, "user-cpu-ns"));
        *system = json_integer_value(json_object_get(e, "system-cpu-ns"));
    }
    json_decref(v);
    json_text_free(&text);
}

/* The CPU time is /proc's, also after the thread ran between queries
 * (the values are kept only while the thread's CPU clock stands still). */
TEST(stats_cpu_time_follows_the_thread)
{
    Fixture f;
    IOThreadObject *o;
    json_int_t user0, sys0, user1, sys1;
    uint64_t user_ns = 0, system_ns = 0;
    struct timespec t;
    Burn burn = {0};

    REQUIRE(fixture_init(&f));
    REQUIRE(add_object(&f, 0) == 0);
    o = registry_next(f.r, NULL);
    settle(__FILE__, __LINE__, f.r);
    stats_cpu(f.r, o, &user0, &sys0);
    stats_cpu(f.r, o, &user0, &sys0); /* from what the first one kept */
    CHECK_EQ_INT(iothread_object_cpu_time(o, &user_ns, &system_ns), 0);
    CHECK_EQ_INT(user0, user_ns);
    CHECK_EQ_INT(sys0, system_ns);

    /* 50 ms more of the thread's CPU than it has now. */
    burn.cpu_seconds = (double)(user0 + sys0) / 1e9 + 0.05;
    REQUIRE(aio_bh_schedule_oneshot(iothread_object_context(o), burn_bh,
                                    &burn) == 0);
    while (!atomic_load(&burn.done)) {
        t = (struct timespec){.tv_nsec = 1000000};
        nanosleep(&t, NULL);
    }
    /* Not what was kept before: the thread ran.  (It may still be
     * finishing the BH, so /proc may be a little further on.) */
    stats_cpu(f.r, o, &user1, &sys1);
    CHECK_EQ_INT(iothread_object_cpu_time(o, &user_ns, &system_ns), 0);
    CHECK(user1 + sys1 >= user0 + sys0 + 30000000);
    CHECK(user1 <= (json_int_t)user_ns && sys1 <= (json_int_t)system_ns);
    fixture_cleanup(&f);
}

/* The stat file kept per iothread is read afresh each time (pread from
 * its start: a plain read() would find its end the second time), and
 * closed with the object: after a query and a delete, the fds are as
 * before. */
TEST(stats_cpu_time_fd_kept_then_closed)
{
    Fixture f;
    IOThreadObject *o;
    uint64_t user_ns = 0, system_ns = 0;
    char *err = NULL;
    int fds0;

    REQUIRE(fixture_init(&f));
    fds0 = test_count_fds();
    REQUIRE(add_object(&f, 0) == 0);
    o = registry_next(f.r, NULL);
    settle(__FILE__, __LINE__, f.r);
    int fds_thread = test_count_fds();
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(iothread_object_cpu_time(o, &user_ns, &system_ns), 0);
    }
    /* One more fd for the thread's stat file, whatever the reads. */
    CHECK_EQ_INT(test_count_fds(), fds_thread + 1);
    CHECK_EQ_INT(registry_delete(f.r, o, &err), 0);
    free(err);
    settle(__FILE__, __LINE__, f.r);
    CHECK_EQ_INT(test_count_fds(), fds0);
    fixture_cleanup(&f);
}

/* A thread that opens its own stat file and ends. */
static void *open_own_stat(void *opaque)
{
    *(int *)opaque = proc_thread_stat_open(gettid());
    return NULL;
}

/* The name in the stat line may hold spaces and parentheses (the last
 * ')' ends it); the numbers after it are the thread's own, read through a
 * kept fd and through a fresh open alike; once the thread is gone, its
 * kept fd reads an error, not another thread's line. */
TEST(proc_stat_reads_a_thread_with_an_odd_name)
{
    uint64_t user_ns = 0, system_ns = 0, user2 = 0, system2 = 0;
    char old[16] = "";
    struct timespec t;
    volatile unsigned long spin = 0;
    double until;
    pthread_t th;
    int fd = -1;

    REQUIRE(pthread_create(&th, NULL, open_own_stat, &fd) == 0);
    REQUIRE(pthread_join(th, NULL) == 0);
    REQUIRE(fd >= 0);
    CHECK_EQ_INT(proc_thread_stat_read(fd, &user_ns, &system_ns), -ESRCH);
    close(fd);

    pthread_getname_np(pthread_self(), old, sizeof(old));
    REQUIRE(pthread_setname_np(pthread_self(), "a) 1 2 (b) 3 4") == 0);
    fd = proc_thread_stat_open(gettid());
    REQUIRE(fd >= 0);
    CHECK_EQ_INT(proc_thread_stat_read(fd, &user_ns, &system_ns), 0);
    /* 50 ms of this thread's CPU. */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    until = t.tv_sec + t.tv_nsec / 1e9 + 0.05;
    do {
        for (int i = 0; i < 100000; i++) {
            spin++;
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    } while (t.tv_sec + t.tv_nsec / 1e9 < until);
    CHECK_EQ_INT(proc_thread_stat_read(fd, &user2, &system2), 0);
    /* In 10 ms ticks, split between user and system time. */
    CHECK(user2 + system2 >= user_ns + system_ns + 30000000);
    CHECK(user2 >= user_ns && system2 >= system_ns);
    CHECK_EQ_INT(proc_thread_cpu_time(gettid(), &user_ns, &system_ns), 0);
    CHECK(user_ns >= user2 && system_ns >= system2);
    close(fd);
    pthread_setname_np(pthread_self(), old);
}
