/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The options of qemu-storage-daemon's block objects, checked in one
 * place whatever their source (QMP, --blockdev / --nbd-server / --export,
 * the config file, the state file, iothreadctl's verbs):
 *
 *  - blockdev: BlockdevOptions with driver "file" (BlockdevOptionsFile):
 *    driver, node-name, filename, aio (threads|io_uring), cache.direct,
 *    cache.no-flush, read-only, auto-read-only, discard (ignore|unmap),
 *    detect-zeroes (off|on|unmap);
 *  - nbd-server: NbdServerOptions: addr (a flat SocketAddress: type unix
 *    with path, or type inet with host and port), max-connections,
 *    handshake-max-seconds;
 *  - export: BlockExportOptions with type "nbd": id, node-name, name,
 *    description, writable, writethrough, iothread, fixed-iothread.
 *
 * Each check returns the typed JSON object that is then the object's
 * canonical form: what QMP receives, what the state file keeps, what the
 * daemon's readers (daemon/block-opts.h) turn into C structures.
 * Library-style: never prints, never exits.  Thread-safe.
 */
#ifndef IOTHREADD_BLOCK_SCHEMA_H
#define IOTHREADD_BLOCK_SCHEMA_H

#include <stdbool.h>

#include <jansson.h>

typedef enum BlockObjKind {
    BLOCK_OBJ_BLOCKDEV,
    BLOCK_OBJ_NBD_SERVER,
    BLOCK_OBJ_EXPORT,
} BlockObjKind;

/* QEMU's node-name rule: as an id (a letter, then letters, digits, '-',
 * '.', '_'), shorter than 32 bytes. */
#define BLOCK_NODE_NAME_MAX 32

/*
 * block_spec_check: check @in (from QMP or a file: JSON types; with
 * @keyval: strings as keyval_parse() makes them) as a @kind.  Returns 0
 * and the typed object in *@spec, or -errno with *@errp (QEMU's texts,
 * see opt-schema.h, plus "Invalid node-name: 'x'", "Node name too long",
 * "'node-name' must be specified for the root node", "Invalid block
 * export id", "Parameter 'addr.path' is missing", ...).
 */
int block_spec_check(BlockObjKind kind, json_t *in, bool keyval,
                     json_t **spec, char **errp);

/*
 * block_opt_parse: a command-line argument: JSON when it starts with '{',
 * else keyval (the implied first key is "driver" for --blockdev and
 * "type" for --export, as in qemu-storage-daemon), then
 * block_spec_check().  Same contract.
 */
int block_opt_parse(BlockObjKind kind, const char *arg, json_t **spec,
                    char **errp);

/*
 * The block objects of a file (the config file, the state file) or of the
 * command line, as one object: {"blockdevs": [SPEC...], "nbd-server": SPEC,
 * "exports": [SPEC...]}, every member optional.
 *
 * block_specs_new: an empty one.  block_specs_add: check @in as a @kind
 * (block_spec_check(), @keyval as there) and append it (or set it, for
 * the server: a second one is "NBD server already running").
 * block_specs_check: check every member of a file's @in (JSON types; keys
 * other than the three are the caller's); a new object in *@out.  0 or
 * -errno with *@errp, which names the member ("exports[1]: ...").
 */
json_t *block_specs_new(void);
int block_specs_add(json_t *specs, BlockObjKind kind, json_t *in,
                    bool keyval, char **errp);
int block_specs_check(json_t *in, json_t **out, char **errp);

/* The member of a block-specs object for @kind. */
const char *block_specs_key(BlockObjKind kind);

/* The string member @key of @spec (NULL when absent). */
const char *spec_str(json_t *spec, const char *key);

#endif /* IOTHREADD_BLOCK_SCHEMA_H */
