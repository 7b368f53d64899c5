/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * query-iothreads and query-iothread-stats at scale: entries dumped by
 * jansson once and kept, integers written directly (iothread-info.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iothread/aio-stats.h>
#include <iothread/io-engine.h>
#include <iothread/thread-pool.h>

#include "common/iothread-props.h"
#include "daemon/iothread-info.h"
#include "qmp/server.h"

/* What an object's cache holds. */
typedef struct IOThreadInfo {
    /* query-iothreads: the entry up to its live member's value
     * ({"id": ..., "fdmon": "epoll", "poll-ns": ), or NULL */
    char *entry;
    size_t entry_len;
    AioFdmon entry_fdmon; /* the back-end it names: it may change once */
    /* query-iothread-stats: {"id": ..., "thread-id": N (no brace) */
    char *stats_head;
    size_t stats_head_len;
    /* The thread's CPU time as /proc last said, and its CPU clock just
     * before that read (cpu_known: both valid). */
    bool cpu_known;
    struct timespec cpu_clock;
    uint64_t user_ns, system_ns;
} IOThreadInfo;

/* The member query-iothreads writes per query; the last of the entry. */
#define LIVE_MEMBER "\"poll-ns\": "

void json_text_free(JsonText *t)
{
    free(t->data);
    *t = (JsonText){0};
}

static bool text_reserve(JsonText *t, size_t more)
{
    size_t cap = t->cap ? t->cap : 4096;
    char *p;

    if (t->len + more <= t->cap) {
        return true;
    }
    while (cap < t->len + more) {
        cap *= 2;
    }
    p = realloc(t->data, cap);
    if (!p) {
        return false;
    }
    t->data = p;
    t->cap = cap;
    return true;
}

/* Callers reserve first. */
static void put(JsonText *t, const char *s, size_t n)
{
    memcpy(t->data + t->len, s, n);
    t->len += n;
}

#define PUT_LIT(t, lit) put(t, lit, sizeof(lit) - 1)

/* Longest decimal json_int_t, sign included. */
#define INT_TEXT_MAX 20

/* @v in decimal, as jansson writes a json_int_t ("%" JSON_INTEGER_FORMAT),
 * without snprintf's format parsing. */
static void put_int(JsonText *t, json_int_t v)
{
    char buf[INT_TEXT_MAX];
    char *p = buf + sizeof(buf);
    /* The magnitude in unsigned arithmetic: -INT64_MIN does not fit. */
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        *--p = '-';
    }
    put(t, p, (size_t)(buf + sizeof(buf) - p));
}

/* @tree's wire text without the CRLF (malloc'd, *@len bytes), or NULL. */
static char *dump(json_t *tree, size_t *len)
{
    char *s = tree ? qmp_format_message(tree, len) : NULL;

    if (s) {
        *len -= 2;
    }
    return s;
}

static void info_free(void *opaque)
{
    IOThreadInfo *info = opaque;

    free(info->entry);
    free(info->stats_head);
    free(info);
}

/* @obj's cache, created empty if it has none; NULL when out of memory. */
static IOThreadInfo *info_get(IOThreadObject *obj)
{
    IOThreadInfo *info = iothread_object_cache(obj);

    if (!info && (info = calloc(1, sizeof(*info)))) {
        iothread_object_set_cache(obj, info, info_free);
    }
    return info;
}

/* ---- query-iothreads ---- */

static void set_int(json_t *o, const char *key, int64_t v)
{
    json_object_set_new_nocheck(o, key, json_integer((json_int_t)v));
}

/* The entry with @poll_ns.  Built with the _nocheck setters: the keys
 * are literals and the strings ASCII by construction (ids pass
 * iothread_id_valid(), cpulists and back-end names are ours). */
static json_t *info_tree(IOThreadObject *obj, uint64_t poll_ns)
{
    const IOThreadConfig *c = iothread_object_config(obj);
    json_t *o = json_object();
    const char *engine;

    if (!o) {
        return NULL;
    }
    json_object_set_new_nocheck(o, "id", json_string_nocheck(c->id));
    set_int(o, "thread-id", iothread_object_tid(obj));
    /* The properties, in the table's order, as in effect: the CPUs the
     * thread may use and the back-end it uses (AUTO resolved). */
    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        const char *str = NULL;

        switch (p->kind) {
        case IOTHREAD_PROP_INT:
            set_int(o, p->name, iothread_config_int(c, p));
            continue;
        case IOTHREAD_PROP_CPULIST:
            str = iothread_object_cpus(obj);
            break;
        case IOTHREAD_PROP_ENUM: /* the only one: fdmon */
            str = aio_fdmon_name(iothread_object_fdmon(obj));
            break;
        }
        json_object_set_new_nocheck(o, p->name, json_string_nocheck(str));
    }
    /* Beside fdmon, which decides it (so the cached entry follows). */
    engine = aio_context_io_engine(iothread_object_context(obj));
    if (engine) {
        json_object_set_new_nocheck(o, "aio-engine",
                                    json_string_nocheck(engine));
    }
    set_int(o, "poll-ns", (int64_t)poll_ns);
    return o;
}

static uint64_t live_poll_ns(IOThreadObject *obj)
{
    AioStats st;

    aio_context_get_stats(iothread_object_context(obj), &st);
    return st.poll_ns;
}

json_t *iothread_info_json(IOThreadObject *obj)
{
    return info_tree(obj, live_poll_ns(obj));
}

/* Dump the entry with poll-ns 0 and keep it up to the 0: everything else
 * in it changes only with the settings, or with the back-end. */
static int entry_build(IOThreadObject *obj, IOThreadInfo *info)
{
    static const char tail[] = LIVE_MEMBER "0}";
    json_t *tree = info_tree(obj, 0);
    size_t len = 0;
    char *s = dump(tree, &len);

    json_decref(tree);
    if (!s) {
        return -ENOMEM;
    }
    /* The layout is info_tree()'s: poll-ns last, so that the entry is a
     * prefix plus one integer. */
    if (len < sizeof(tail) - 1 ||
        memcmp(s + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1) != 0) {
        free(s);
        return -EPROTO;
    }
    free(info->entry);
    info->entry = s;
    info->entry_len = len - 2; /* without "0}" */
    info->entry_fdmon = iothread_object_fdmon(obj);
    return 0;
}

static int info_entry(IOThreadObject *obj, JsonText *out)
{
    IOThreadInfo *info = info_get(obj);
    int ret;

    if (!info) {
        return -ENOMEM;
    }
    if (!info->entry || info->entry_fdmon != iothread_object_fdmon(obj)) {
        ret = entry_build(obj, info);
        if (ret < 0) {
            return ret;
        }
    }
    if (!text_reserve(out, info->entry_len + INT_TEXT_MAX + 1)) {
        return -ENOMEM;
    }
    put(out, info->entry, info->entry_len);
    put_int(out, (json_int_t)live_poll_ns(obj));
    PUT_LIT(out, "}");
    return 0;
}

/* "[E1, E2, ...]" for each object (or only @only) written by @entry, as
 * jansson writes an array with JSON_INDENT(0). */
static int list(Registry *r, IOThreadObject *only,
                int (*entry)(IOThreadObject *obj, JsonText *out),
                JsonText *out)
{
    IOThreadObject *o = only ? only : registry_next(r, NULL);
    int ret;

    if (!text_reserve(out, 1)) {
        return -ENOMEM;
    }
    PUT_LIT(out, "[");
    for (size_t n = 0; o; o = only ? NULL : registry_next(r, o), n++) {
        if (n) {
            if (!text_reserve(out, 2)) {
                return -ENOMEM;
            }
            PUT_LIT(out, ", ");
        }
        ret = entry(o, out);
        if (ret < 0) {
            return ret;
        }
    }
    if (!text_reserve(out, 1)) {
        return -ENOMEM;
    }
    PUT_LIT(out, "]");
    return 0;
}

int iothread_info_list(Registry *r, JsonText *out)
{
    return list(r, NULL, info_entry, out);
}

/* ---- query-iothread-stats ---- */

/* One reading of what an entry reports after its head. */
typedef struct StatsSample {
    AioStats aio;
    uint64_t user_ns, system_ns;
    ThreadPoolStats pool;
} StatsSample;

/*
 * An entry's members after "thread-id", in order, integers all: first the
 * loop's counters, one per line of AIO_STATS_FOREACH (<iothread/
 * aio-stats.h>; each expansion below adapts it with a STATS_AIO_*_
 * macro, so a new counter is reported without a change here), then
 * STATS_MORE_MEMBERS: X(name, value of StatsSample *s).
 */
#define STATS_MORE_MEMBERS(X)                                                  \
    X("user-cpu-ns", s->user_ns)                                               \
    X("system-cpu-ns", s->system_ns)                                           \
    X("thread-pool-workers", s->pool.workers)                                  \
    X("thread-pool-idle-workers", s->pool.idle_workers)                        \
    X("thread-pool-queued", s->pool.queued)                                    \
    X("thread-pool-completed", s->pool.completed)

/* The longest text of the members and the closing brace. */
#define STATS_MEMBER_MAX_(name, value)                                         \
    (sizeof(", \"" name "\": ") - 1 + INT_TEXT_MAX) +
#define STATS_AIO_MAX_(field, name, label, help) STATS_MEMBER_MAX_(name, 0)
#define STATS_TEXT_MAX                                                         \
    (AIO_STATS_FOREACH(STATS_AIO_MAX_) STATS_MORE_MEMBERS(STATS_MEMBER_MAX_) 1)

/*
 * The CPU-time clock of thread @tid: the kernel's encoding of a
 * per-thread CPUCLOCK_SCHED clock (~tid << 3 | 6), which is what glibc's
 * pthread_getcpuclockid() returns; we know iothreads by tid.  In
 * unsigned arithmetic: shifting a negative int is undefined.
 */
static clockid_t thread_cpu_clock(pid_t tid)
{
    return (clockid_t)((~(unsigned)tid << 3) | 6u);
}

/*
 * The thread's user and system time as /proc/self/task/TID/stat reports
 * them, read again only when its CPU clock moved.  Reading that file
 * (through the fd the object keeps) costs the kernel 3-5 us per thread,
 * the clock well under 1 us; and the kernel splits the runtime into user
 * and system time anew only when the runtime grew (cputime_adjust()
 * returns the previous split otherwise), so an unchanged clock means
 * unchanged values.  The clock is
 * read before the file, so the values kept are never older than it.
 */
static void stats_cpu_time(IOThreadObject *obj, IOThreadInfo *info,
                           StatsSample *s)
{
    struct timespec now;
    bool clock_ok = clock_gettime(thread_cpu_clock(iothread_object_tid(obj)),
                                  &now) == 0;

    if (clock_ok && info->cpu_known && now.tv_sec == info->cpu_clock.tv_sec &&
        now.tv_nsec == info->cpu_clock.tv_nsec) {
        s->user_ns = info->user_ns;
        s->system_ns = info->system_ns;
        return;
    }
    s->user_ns = s->system_ns = 0;
    info->cpu_known = iothread_object_cpu_time(obj, &s->user_ns,
                                               &s->system_ns) == 0 &&
                      clock_ok;
    info->cpu_clock = now;
    info->user_ns = s->user_ns;
    info->system_ns = s->system_ns;
}

static int stats_head_build(IOThreadObject *obj, IOThreadInfo *info)
{
    json_t *tree = json_object();
    size_t len = 0;
    char *s;

    if (tree) {
        json_object_set_new_nocheck(tree, "id",
                                    json_string_nocheck(iothread_object_id(obj)));
        set_int(tree, "thread-id", iothread_object_tid(obj));
    }
    s = dump(tree, &len);
    json_decref(tree);
    if (!s) {
        return -ENOMEM;
    }
    info->stats_head = s;
    info->stats_head_len = len - 1; /* without the closing brace */
    return 0;
}

static int stats_entry(IOThreadObject *obj, JsonText *out)
{
    IOThreadInfo *info = info_get(obj);
    AioContext *ctx = iothread_object_context(obj);
    StatsSample sample, *s = &sample;

    if (!info || (!info->stats_head && stats_head_build(obj, info) < 0)) {
        return -ENOMEM;
    }
    aio_context_get_stats(ctx, &s->aio);
    aio_thread_pool_get_stats(ctx, &s->pool);
    stats_cpu_time(obj, info, s);
    if (!text_reserve(out, info->stats_head_len + STATS_TEXT_MAX)) {
        return -ENOMEM;
    }
    put(out, info->stats_head, info->stats_head_len);
#define STATS_PUT_(name, value)                                                \
    PUT_LIT(out, ", \"" name "\": ");                                          \
    put_int(out, (json_int_t)(value));
#define STATS_AIO_PUT_(field, name, label, help) STATS_PUT_(name, s->aio.field)
    AIO_STATS_FOREACH(STATS_AIO_PUT_)
    STATS_MORE_MEMBERS(STATS_PUT_)
#undef STATS_AIO_PUT_
#undef STATS_PUT_
    PUT_LIT(out, "}");
    return 0;
}

int iothread_stats_list(Registry *r, IOThreadObject *only, JsonText *out)
{
    return list(r, only, stats_entry, out);
}
