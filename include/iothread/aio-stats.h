/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libiothread: the list of an AioContext's counters.
 *
 * Every place that names the counters derives from AIO_STATS_FOREACH: the
 * AioStats struct below, the snapshot aio_context_get_stats() takes, the
 * daemon's query-iothread-stats reply, iothreadctl's `stats` and `top`,
 * and the tests.  Adding a counter is one line here, its field in the
 * context (src/aio/aio-internal.h, where its writer decides its cache
 * line; the snapshot does not compile without it) and the code that bumps
 * it.
 *
 * This header is self-contained and needs no library function, so that
 * programs which only read the counters over QMP (iothreadctl) can use the
 * names without linking libiothread.
 */
#ifndef IOTHREAD_AIO_STATS_H
#define IOTHREAD_AIO_STATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * X(field, name, label, help), one line per counter, in the order they
 * are reported:
 *   field  the uint64_t member of AioStats;
 *   name   its name on the wire (query-iothread-stats) and in
 *          `iothreadctl stats --raw`; never renamed once released;
 *   label  its column header in `iothreadctl stats`, or NULL when the
 *          table leaves it out (it is still in --raw and --json);
 *   help   one line saying what it counts.
 * All are monotonic counters except poll_ns and io_in_flight, gauges.
 * The io_* ones are the I/O engine's (<iothread/io-engine.h>): the
 * average batch is io-submitted / io-uring-enters on the io_uring engine
 * (a short transfer continued counts once in io-submitted, again in the
 * enter that resubmits it).
 */
#define AIO_STATS_FOREACH(X)                                                   \
    X(iterations, "iterations", "ITERATIONS", "aio_poll() calls")              \
    X(blocking_waits, "blocking-waits", "WAITS",                               \
      "waits in the kernel with a non-zero timeout")                           \
    X(poll_passes, "poll-passes", NULL, "iterations that busy-polled")         \
    X(poll_hits, "poll-hits", NULL, "busy-polling passes that found work")     \
    X(poll_misses, "poll-misses", NULL,                                        \
      "busy-polling passes that found none before the window ended")           \
    X(poll_ns, "poll-ns", "POLL-NS",                                           \
      "current polling window in ns (of the largest source); a gauge")         \
    X(bh_runs, "bh-runs", "BHS", "bottom-half callbacks run")                  \
    X(fd_dispatches, "fd-dispatches", "FDS", "fd handler callbacks run")       \
    X(timers_fired, "timers-fired", "TIMERS", "timer callbacks run")           \
    X(notify_writes, "notify-writes", "WAKEUPS",                               \
      "eventfd writes by aio_notify()")                                        \
    X(notify_skipped, "notify-skipped", NULL,                                  \
      "aio_notify() calls that needed no eventfd write")                      \
    X(io_submitted, "io-submitted", NULL, "I/O engine requests submitted")     \
    X(io_completed, "io-completed", NULL,                                      \
      "I/O engine requests whose completion ran")                              \
    X(io_in_flight, "io-in-flight", NULL,                                      \
      "I/O engine requests submitted and not completed yet; a gauge")          \
    X(io_uring_enters, "io-uring-enters", NULL,                                \
      "io_uring_enter() calls that submitted I/O engine requests (0 "          \
      "without io_uring)")

/*
 * Per-context counters.  Each is written by one thread (the home thread,
 * or for notify_* any notifier with an atomic add) and read without locks,
 * so a snapshot is consistent per field, not across fields.
 */
typedef struct AioStats {
#define AIO_STATS_FIELD_(field, name, label, help) uint64_t field;
    AIO_STATS_FOREACH(AIO_STATS_FIELD_)
#undef AIO_STATS_FIELD_
} AioStats;

/* AIO_STAT_<field>: a counter's index in the list (AIO_STAT_bh_runs...). */
typedef enum AioStatId {
#define AIO_STATS_ID_(field, name, label, help) AIO_STAT_##field,
    AIO_STATS_FOREACH(AIO_STATS_ID_)
#undef AIO_STATS_ID_
    AIO_STAT__COUNT
} AioStatId;

/* One row of the list. */
typedef struct AioStatInfo {
    const char *name;  /* wire name, e.g. "bh-runs" */
    const char *label; /* table header or NULL */
    const char *help;
    size_t offset;     /* of the field in AioStats */
} AioStatInfo;

/*
 * aio_stat_info: the row of counter @id, or NULL when @id is out of range
 * (so `for (id = 0; (i = aio_stat_info(id)); id++)` walks the list).
 * Header-only, thread-safe.
 */
static inline const AioStatInfo *aio_stat_info(AioStatId id)
{
    /* In list order, which is the enum's (positional, so that C++ can
     * include this header too). */
    static const AioStatInfo info[AIO_STAT__COUNT] = {
#define AIO_STATS_INFO_(field, name, label, help)                              \
    {name, label, help, offsetof(AioStats, field)},
        AIO_STATS_FOREACH(AIO_STATS_INFO_)
#undef AIO_STATS_INFO_
    };

    return (unsigned)id < AIO_STAT__COUNT ? &info[id] : NULL;
}

/*
 * aio_stat_name: the wire name of counter @id ("bh-runs" for
 * AIO_STAT_bh_runs), or NULL when out of range.  Header-only, thread-safe.
 */
static inline const char *aio_stat_name(AioStatId id)
{
    const AioStatInfo *i = aio_stat_info(id);

    return i ? i->name : NULL;
}

/*
 * aio_stat_value: counter @id of snapshot @stats, or 0 when @id is out of
 * range or @stats is NULL.  Header-only, thread-safe.
 */
static inline uint64_t aio_stat_value(const AioStats *stats, AioStatId id)
{
    const AioStatInfo *i = aio_stat_info(id);

    if (!i || !stats) {
        return 0;
    }
    return *(const uint64_t *)(const void *)((const char *)stats + i->offset);
}

#ifdef __cplusplus
}
#endif

#endif /* IOTHREAD_AIO_STATS_H */
