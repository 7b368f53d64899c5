/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's keyval syntax (util/keyval.c) turned into the JSON object that
 * the same option takes over QMP:
 *
 *     driver=file,node-name=f0,filename=a,,b.img,cache.direct=on
 *  -> {"driver": "file", "node-name": "f0", "filename": "a,b.img",
 *      "cache": {"direct": "on"}}
 *
 * Items are separated by ','; ",," inside a value stands for one ','.  A
 * key is a dotted path of QAPI names (a letter, then letters, digits, '-'
 * and '_'; each part shorter than 128 characters); each '.' opens a
 * nested object.  The first item may be a bare value (no '='), which
 * then belongs to @implied_key (as qemu-storage-daemon's "driver" of
 * --blockdev or "type" of --export).  A trailing ',' is allowed.  Every
 * value is a JSON string: giving it a type is the schema's job (the
 * "keyval" mode of a visitor, in QEMU's words).
 *
 * Library code: never prints, never exits.  Thread-safe.
 */
#ifndef IOTHREADD_KEYVAL_H
#define IOTHREADD_KEYVAL_H

#include <jansson.h>

/* Flags of keyval_parse(). */
#define KEYVAL_FLAT 0x1 /* '.' is not allowed in keys: no nesting (as
                           --object, whose properties are all flat) */

/*
 * keyval_parse: parse @arg.  @implied_key may be NULL (no bare first
 * item); @flags: KEYVAL_*.  Returns 0 and a new object in *@objp (the
 * caller owns it), or -EINVAL / -ENOMEM with *@errp (malloc'd), QEMU's
 * wording:
 *   "Invalid parameter 'X'"                       a bad key part
 *   "Parameter 'X' is too long"
 *   "Expected '=' after parameter 'X'"
 *   "Parameter 'X' is set more than once"         (QEMU keeps the last)
 *   "Parameters 'X.*' used inconsistently"        X=1,X.y=2
 *   "No implicit parameter name for value 'V'"    bare item, no implied key
 */
int keyval_parse(const char *arg, const char *implied_key, unsigned flags,
                 json_t **objp, char **errp);

#endif /* IOTHREADD_KEYVAL_H */
