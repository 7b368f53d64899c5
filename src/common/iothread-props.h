/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The iothread properties: ONE table that every part of iothreadd reads.
 *
 * Each row of IOTHREAD_PROPERTIES() gives a property's
 *   name     wire name (QMP, QOM, the config file, --object, the state file)
 *   kind     INT (a JSON integer in [min, max], stored as int64_t field),
 *            CPULIST (a cpulist string, "" = not pinned; stored as the
 *            canonical string plus a cpu_set_t, so there is one such row,
 *            cpu-affinity) or ENUM (one of choices, stored as its index)
 *   field    the IOThreadConfig member it is stored in
 *   min, max the accepted range (INT)
 *   def      the default (INT: the value; ENUM: the index of the choice)
 *   runtime  true: settable on a running iothread; false: creation only
 *   cli      iothreadctl's long option ("poll-max-ns" -> --poll-max-ns)
 *   arg      the option argument's name in --help
 *   choices  the names an ENUM takes (NULL-terminated), else NULL
 *   desc     one line, for qom-list and --help
 *   apply    how the daemon applies it inside the iothread:
 *            APPLY_INT(setter)  setter(ctx, value), an AioContext setter
 *                               of type int (AioContext *, int64_t)
 *            APPLY_GROUP(fn)    fn(ctx, cfg, unpinned) for settings that
 *                               go together (rows sharing fn are applied
 *                               by one call; they must be adjacent)
 *            APPLY_AT_START     fixed when the thread starts
 *
 * Generated from it: IOThreadConfig's integer fields, the defaults, the
 * validation of every entry point (iothread_config_apply), qom-list /
 * qom-get / query-iothreads, the daemon's apply step (daemon/iothread-
 * apply.c), and iothreadctl's options and --help.  A new integer property
 * that maps onto an AioContext setter is one row here (plus its man page
 * lines, which tests/doc-props.sh checks).
 *
 * The apply column names daemon functions; only the daemon expands it, so
 * the CLI, which links this folder, never references them.
 */
#ifndef IOTHREADD_COMMON_IOTHREAD_PROPS_H
#define IOTHREADD_COMMON_IOTHREAD_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IOTHREAD_PROPERTIES(X)                                               \
    X("poll-max-ns", INT, poll_max_ns, 0, INT64_MAX, 32768, true,            \
      "poll-max-ns", "N", NULL,                                              \
      "maximum time in ns to busy-poll before blocking (0 = no polling)",    \
      APPLY_GROUP(iothread_apply_poll))                                      \
    X("poll-grow", INT, poll_grow, 0, INT64_MAX, 0, true,                    \
      "poll-grow", "N", NULL,                                                \
      "factor by which the polling time grows (0 = default, 2)",             \
      APPLY_GROUP(iothread_apply_poll))                                      \
    X("poll-shrink", INT, poll_shrink, 0, INT64_MAX, 0, true,                \
      "poll-shrink", "N", NULL,                                              \
      "divisor by which the polling time shrinks (0 = reset to 0)",          \
      APPLY_GROUP(iothread_apply_poll))                                      \
    X("aio-max-batch", INT, aio_max_batch, 0, INT64_MAX, 0, true,            \
      "aio-max-batch", "N", NULL,                                            \
      "maximum requests an I/O engine submits in one batch (0 = default)",   \
      APPLY_INT(aio_context_set_aio_max_batch))                              \
    /* QEMU's range, although no pool gets that many threads: the worker     \
     * count is capped where it is applied. */                               \
    X("thread-pool-min", INT, thread_pool_min, 0, INT64_MAX, 0, true,        \
      "thread-pool-min", "N", NULL,                                          \
      "minimum number of thread pool workers",                               \
      APPLY_GROUP(iothread_apply_pool))                                      \
    X("thread-pool-max", INT, thread_pool_max, 0, INT64_MAX, 64, true,       \
      "thread-pool-max", "N", NULL,                                          \
      "maximum number of thread pool workers",                               \
      APPLY_GROUP(iothread_apply_pool))                                      \
    X("cpu-affinity", CPULIST, cpu_affinity, 0, 0, 0, true,                  \
      "cpus", "CPULIST", NULL,                                               \
      "CPUs the thread may run on, e.g. \"0-3,^2\" (\"\" = not pinned)",     \
      APPLY_GROUP(iothread_apply_affinity))                                  \
    X("fdmon", ENUM, fdmon, 0, 0, 0, false,                                  \
      "fdmon", "B", iothread_fdmon_names,                                    \
      "fd monitor back-end: auto, io_uring, epoll or poll (creation only)",  \
      APPLY_AT_START)

typedef enum {
    IOTHREAD_PROP_INT,
    IOTHREAD_PROP_CPULIST,
    IOTHREAD_PROP_ENUM,
} IOThreadPropKind;

/* One row of the table, as data (the apply column is the daemon's). */
typedef struct IOThreadPropInfo {
    const char *name;
    IOThreadPropKind kind;
    const char *type;           /* QOM type: "int" or "str" */
    size_t offset;              /* of the field in IOThreadConfig */
    int64_t min, max;           /* INT */
    int64_t def;                /* INT value, ENUM index */
    bool runtime;               /* settable while the iothread runs */
    const char *cli;            /* iothreadctl's long option */
    const char *arg;            /* its argument's name in --help */
    const char *const *choices; /* ENUM: NULL-terminated names */
    const char *description;
} IOThreadPropInfo;

/* The fd monitor back-ends, in the order of the library's AioFdmon
 * (AIO_FDMON_AUTO first); a unit test checks them against it. */
extern const char *const iothread_fdmon_names[];

/* The table, in a stable order, terminated by an entry whose name is
 * NULL.  Read-only; any thread. */
extern const IOThreadPropInfo iothread_props[];

/* IOTHREAD_PROP_IDX_<field>: a row's index; IOTHREAD_PROP_COUNT: rows in
 * iothread_props[] (without the terminator). */
#define IOTHREAD_PROP_INDEX_(name, kind, field, ...) IOTHREAD_PROP_IDX_##field,
enum { IOTHREAD_PROPERTIES(IOTHREAD_PROP_INDEX_) IOTHREAD_PROP_COUNT };

/* iothread_prop_find: the entry named @name, or NULL. */
const IOThreadPropInfo *iothread_prop_find(const char *name);

/* iothread_prop_find_cli: the entry whose CLI option is @option, or NULL. */
const IOThreadPropInfo *iothread_prop_find_cli(const char *option);

/* iothread_prop_choice: the index of @name among @p's choices, or -1. */
int iothread_prop_choice(const IOThreadPropInfo *p, const char *name);

/*
 * iothread_prop_choices_text: @p's choices joined with @sep, the last
 * one with @last_sep ("auto, io_uring, epoll or poll") into @buf (always
 * terminated).  Returns @buf.
 */
const char *iothread_prop_choices_text(const IOThreadPropInfo *p,
                                       const char *sep, const char *last_sep,
                                       char *buf, size_t len);

#endif /* IOTHREADD_COMMON_IOTHREAD_PROPS_H */
