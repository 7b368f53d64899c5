/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small QAPI-like schema checker: one table of fields per object type
 * (blockdev, NBD server, export), applied to whatever JSON object the
 * user gave: QMP arguments, the config file, the state file, or a
 * command-line option after keyval_parse().  It answers with QEMU's
 * visitor texts and returns a typed copy, so that every path creates the
 * object from the same checked JSON.
 *
 * Library-style: never prints, never exits.  Thread-safe.
 */
#ifndef IOTHREADD_OPT_SCHEMA_H
#define IOTHREADD_OPT_SCHEMA_H

#include <stdbool.h>

#include <jansson.h>

typedef enum OptType {
    OPT_STR,
    OPT_BOOL,
    OPT_UINT32,
    OPT_ENUM,   /* a string among @values */
    OPT_OBJECT, /* nested, checked against @members */
} OptType;

typedef struct OptField {
    const char *name;
    OptType type;
    bool required;
    const char *const *values;      /* OPT_ENUM: NULL-terminated */
    const struct OptField *members; /* OPT_OBJECT: ends with a NULL name */
} OptField;

/*
 * opt_check: check @in (an object) against @fields (ending with a NULL
 * name).  With @keyval, scalars are strings as keyval_parse() makes them
 * ("on"/"off" and the like for booleans, decimal for integers), else
 * they must have their JSON type.  Returns 0 and a new typed object in
 * *@out, or -EINVAL / -ENOMEM with *@errp, e.g.
 *   "Parameter 'node-name' is missing"
 *   "Parameter 'foo' is unexpected"
 *   "Invalid parameter type for 'read-only', expected: boolean"
 *   "Parameter 'read-only' expects 'on' or 'off'"         (keyval)
 *   "Parameter 'max-connections' expects uint32_t"
 *   "Parameter 'aio' does not accept value 'x'"
 * Nested names are written in full ("addr.path", "cache.direct").
 */
int opt_check(const OptField *fields, json_t *in, bool keyval, json_t **out,
              char **errp);

#endif /* IOTHREADD_OPT_SCHEMA_H */
