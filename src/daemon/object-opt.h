/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The --object command-line option, parsed as QEMU and
 * qemu-storage-daemon parse theirs, into the same flat JSON object that
 * QMP's object-add receives, so that the daemon creates command-line
 * objects through exactly the same code path as QMP ones.
 *
 * Library-style: never prints, never exits.  Thread-safe.
 */
#ifndef IOTHREADD_OBJECT_OPT_H
#define IOTHREADD_OBJECT_OPT_H

#include <jansson.h>

/*
 * object_opt_parse: parse the --object argument @arg.
 *
 * Two syntaxes:
 *  - JSON, when @arg starts with '{' (as in qemu-storage-daemon):
 *      {"qom-type": "iothread", "id": "io0", "poll-max-ns": 1000}
 *    The object is returned as is (duplicate keys are an error); property
 *    values keep their JSON types.
 *  - QEMU's keyval syntax otherwise:
 *      iothread,id=io0,poll-max-ns=1000,cpu-affinity=0,,2
 *    Items are separated by ','; ",," inside a value stands for one ','
 *    (so cpu-affinity=0,,2 is "0,2").  The first item may be a bare value
 *    (no '='), which is the qom-type.  A trailing ',' is allowed.  Keys are
 *    QAPI names: a letter, then letters, digits, '-' and '_', shorter than
 *    128 characters.  Values of the integer properties of iothread_props[]
 *    become JSON integers, parsed as QEMU does (strtoll base 0: decimal,
 *    0x hex, and a leading 0 means octal; a sign is allowed, range checks
 *    are iothread_config_apply()'s job); every other value is a string.
 *
 * Both syntaxes then require a string "qom-type" equal to "iothread" and a
 * string "id" that iothread_id_valid() accepts.  Property names and values
 * are not otherwise checked here: iothread_config_apply() does that, as it
 * does for object-add.
 *
 * On success stores the new object in *@objp (the caller owns the
 * reference), sets *@errp to NULL and returns 0.  On failure returns
 * -EINVAL (or -ENOMEM), leaves *@objp untouched and, if @errp is not
 * NULL, stores a malloc'd message in *@errp, e.g.:
 *   "Invalid parameter 'X'"               bad or empty key
 *   "Parameter 'X' is too long"
 *   "Expected '=' after parameter 'X'"
 *   "Parameter 'X' is set more than once"
 *   "Parameter 'X' expects integer"
 *   "Parameter 'qom-type' is missing"
 *   "Invalid object type 'X'"
 *   "Parameter 'id' is missing"
 *   "Parameter 'id' expects an identifier"
 *   "Invalid parameter type for 'X', expected: string"   (JSON syntax)
 *   "Invalid JSON in --object: <reason>"                (JSON syntax)
 */
int object_opt_parse(const char *arg, json_t **objp, char **errp);

#endif /* IOTHREADD_OBJECT_OPT_H */
