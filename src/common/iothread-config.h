/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The settings of one IOThread object and their validation.  The config
 * file, --object, object-add, qom-set and iothread-set all describe an
 * IOThread as a JSON object of QEMU-named properties; the functions here,
 * driven by the property table (iothread-props.h), are the single place
 * that checks them, so that every entry point accepts and rejects the same
 * things with the same (QEMU-style) words.
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

#include "common/iothread-props.h"

/* Defaults, as QEMU's (the table's def column says the same). */
#define IOTHREAD_POLL_MAX_NS_DEFAULT 32768
#define IOTHREAD_THREAD_POOL_MIN_DEFAULT 0
#define IOTHREAD_THREAD_POOL_MAX_DEFAULT 64

/* Longest id iothread_id_valid() accepts.  QEMU has no cap; we have one so
 * that ids fit thread names, log lines and fixed buffers predictably. */
#define IOTHREAD_ID_MAX_LEN 127

/* The stored form of each kind (see iothread-props.h). */
#define IOTHREAD_CONFIG_FIELD_INT(field) int64_t field;
#define IOTHREAD_CONFIG_FIELD_CPULIST(field)                                 \
    char *field;        /* malloc'd canonical cpulist (cpulist_format), or   \
                           NULL = not pinned */                              \
    cpu_set_t affinity; /* valid when field != NULL */
#define IOTHREAD_CONFIG_FIELD_ENUM(field) int field; /* index of a choice */
#define IOTHREAD_CONFIG_FIELD_(name, kind, field, ...)                       \
    IOTHREAD_CONFIG_FIELD_##kind(field)

typedef struct IOThreadConfig {
    char *id; /* malloc'd; NULL until the caller sets it */
    /* One member per row of IOTHREAD_PROPERTIES(): int64_t poll_max_ns,
     * poll_grow, poll_shrink, aio_max_batch, thread_pool_min,
     * thread_pool_max; char *cpu_affinity + cpu_set_t affinity; int fdmon
     * (an index into iothread_fdmon_names[], which follows AioFdmon). */
    IOTHREAD_PROPERTIES(IOTHREAD_CONFIG_FIELD_)
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
 * Properties are the rows of IOTHREAD_PROPERTIES() (iothread-props.h):
 * INT ones (poll-max-ns, poll-grow, poll-shrink, aio-max-batch,
 * thread-pool-min, thread-pool-max, all in [0, INT64_MAX] as in QEMU) take
 * JSON integers only (a real, a string or a boolean is a type error);
 * cpu-affinity takes a CPU list string (cpulist.h), or "" to unpin; an ENUM
 * (fdmon: "auto", "io_uring", "epoll" or "poll") one of its choices.
 * Creation-only rows (fdmon) are refused unless @creating (the back-end of
 * a running thread cannot change), even if the value equals the current
 * one.  "id" and "qom-type" are not properties
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

/*
 * iothread_config_get: the value of property @prop of *@c as a new JSON
 * value (as in iothread_config_to_json()), for qom-get.  NULL if @prop is
 * not one of iothread_props[] (or out of memory).
 */
json_t *iothread_config_get(const IOThreadConfig *c, const char *prop);

/*
 * iothread_config_creation_diff: the first creation-only property (the
 * table's runtime = false rows, e.g. fdmon) whose value differs between
 * *@a and *@b, or NULL when they agree on all of them.
 */
const IOThreadPropInfo *iothread_config_creation_diff(const IOThreadConfig *a,
                                                      const IOThreadConfig *b);

/*
 * iothread_config_keep_creation: give *@dst the creation-only properties
 * of *@src (a running iothread's), so that *@dst can be applied to it.
 * Creation-only rows are INT or ENUM (no strings to copy).
 */
void iothread_config_keep_creation(IOThreadConfig *dst,
                                   const IOThreadConfig *src);

/* iothread_config_int: the value of INT row @p in *@c. */
int64_t iothread_config_int(const IOThreadConfig *c,
                            const IOThreadPropInfo *p);

#endif /* IOTHREADD_IOTHREAD_CONFIG_H */
