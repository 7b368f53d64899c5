/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The settings of one IOThread object and their validation.  The config
 * file, --object, object-add, qom-set and iothread-set all describe an
 * IOThread as a JSON object of QEMU-named properties; this is the single
 * place that knows those names, their types, their ranges and their error
 * messages, so that every entry point accepts and rejects the same things
 * with the same (QEMU-style) words.
 *
 * Library-style: never prints, never exits.  An IOThreadConfig is a plain
 * value; it is not thread-safe, the caller serialises access.
 */
#ifndef IOTHREADD_IOTHREAD_CONFIG_H
#define IOTHREADD_IOTHREAD_CONFIG_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include <iothread/aio.h>

/* Defaults, as QEMU's. */
#define IOTHREAD_POLL_MAX_NS_DEFAULT 32768
#define IOTHREAD_THREAD_POOL_MIN_DEFAULT 0
#define IOTHREAD_THREAD_POOL_MAX_DEFAULT 64

/* Longest id iothread_id_valid() accepts.  QEMU has no cap; we have one so
 * that ids fit thread names, log lines and fixed buffers predictably. */
#define IOTHREAD_ID_MAX_LEN 127

typedef struct IOThreadConfig {
    char *id;              /* malloc'd; NULL until the caller sets it */
    int64_t poll_max_ns;   /* default 32768; 0 = no polling */
    int64_t poll_grow;     /* default 0 (= factor 2) */
    int64_t poll_shrink;   /* default 0 (= reset to 0) */
    int64_t aio_max_batch; /* default 0 (= engine default) */
    int64_t thread_pool_min; /* default 0; 0 .. INT64_MAX (as QEMU) */
    int64_t thread_pool_max; /* default 64; 1 .. INT64_MAX, >= min */
    char *cpu_affinity;    /* malloc'd canonical cpulist (cpulist_format),
                              or NULL = not pinned */
    cpu_set_t affinity;    /* valid when cpu_affinity != NULL */
    AioFdmon fdmon;        /* requested back-end; default AIO_FDMON_AUTO */
} IOThreadConfig;

/* iothread_config_init: fill *@c with the defaults; id and cpu_affinity
 * NULL.  Does not free anything already in *@c. */
void iothread_config_init(IOThreadConfig *c);

/* iothread_config_cleanup: free what *@c owns (id, cpu_affinity) and reset
 * it to the defaults, so that a second cleanup is harmless. */
void iothread_config_cleanup(IOThreadConfig *c);

/*
 * iothread_config_copy: make *@dst a deep copy of *@src.  *@dst is
 * overwritten without being freed (pass an uninitialised or cleaned-up
 * one).  Returns 0, or -ENOMEM leaving *@dst in the init state.
 */
int iothread_config_copy(IOThreadConfig *dst, const IOThreadConfig *src);

/*
 * iothread_id_valid: whether @id follows QEMU's id grammar: a letter, then
 * letters, digits, '-', '.' or '_'; and (our addition) 1 to
 * IOTHREAD_ID_MAX_LEN (127) characters.  NULL is not valid.
 */
bool iothread_id_valid(const char *id);

/*
 * iothread_config_apply: set the properties in @props (a JSON object
 * PROP: value, e.g. {"poll-max-ns": 1000, "cpu-affinity": "0-1"}) on *@c.
 * NULL or {} changes nothing.
 *
 * Properties: the integer ones (poll-max-ns, poll-grow, poll-shrink,
 * aio-max-batch, thread-pool-min, thread-pool-max, all in [0, INT64_MAX]
 * as in QEMU) take JSON integers only (a real, a string or a boolean
 * is a type error); cpu-affinity takes a CPU list string (cpulist.h), or ""
 * to unpin; fdmon takes "auto", "io_uring", "epoll" or "poll" and only when
 * @creating (the back-end of a running thread cannot change), even if the
 * value equals the current one.  "id" and "qom-type" are not properties
 * here: the caller strips them first, otherwise they are "unexpected".
 *
 * All of @props is validated before anything is stored, including the
 * resulting pool limits (thread-pool-max >= 1, min <= max, checked on the
 * combination of @props and the current values).  On success returns 0
 * (*@errp = NULL).  On error *@c is unchanged, returns -EINVAL (or -ENOMEM)
 * and, if @errp is not NULL, *@errp is a malloc'd message for the first
 * problem found (keys are examined in @props' order):
 *   "Parameter 'X' is unexpected"
 *   "Invalid parameter type for 'X', expected: integer" (or "string")
 *   "X value must be in range [0, 9223372036854775807]"
 *   "Parameter 'cpu-affinity' has an invalid value: <cpulist error>"
 *   "Parameter 'fdmon' expects one of auto, io_uring, epoll, poll"
 *   "Property 'fdmon' can only be set when the iothread is created"
 *   "thread-pool-max must be at least 1"
 *   "thread-pool-min (A) must not be greater than thread-pool-max (B)"
 */
int iothread_config_apply(IOThreadConfig *c, json_t *props, bool creating,
                          char **errp);

/*
 * iothread_config_to_json: the settings of *@c as a new JSON object with
 * QEMU's names: poll-max-ns, poll-grow, poll-shrink, aio-max-batch,
 * thread-pool-min, thread-pool-max (integers), cpu-affinity (the canonical
 * cpulist, or "" when not pinned: always present, so that the object is a
 * complete description and feeding it back to iothread_config_apply()
 * with @creating restores the same settings) and fdmon (the requested
 * back-end's name, e.g. "auto").  The id is not included.  Returns NULL
 * when out of memory.
 */
json_t *iothread_config_to_json(const IOThreadConfig *c);

/* One settable property, for qom-list: its name, QOM type ("int" or
 * "str") and a one-line description. */
typedef struct IOThreadPropInfo {
    const char *name;
    const char *type;
    const char *description;
} IOThreadPropInfo;

/* The properties iothread_config_apply() accepts, in a stable order,
 * terminated by an entry whose name is NULL. */
extern const IOThreadPropInfo iothread_props[];

/* iothread_prop_find: the entry of iothread_props[] named @name, or NULL. */
const IOThreadPropInfo *iothread_prop_find(const char *name);

/*
 * iothread_config_get: the value of property @prop of *@c as a new JSON
 * value (as in iothread_config_to_json()), for qom-get.  NULL if @prop is
 * not one of iothread_props[] (or out of memory).
 */
json_t *iothread_config_get(const IOThreadConfig *c, const char *prop);

#endif /* IOTHREADD_IOTHREAD_CONFIG_H */
