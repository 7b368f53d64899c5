/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parsers and checks of what an NBD client sends: no I/O, no state, so
 * that every bound is tested (and fuzzed) on its own.
 */
#include <errno.h>
#include <string.h>

#include "nbd/nbd-internal.h"

/* What each command accepts.  FUA is valid on every command once
 * NBD_FLAG_SEND_FUA is advertised (the spec: the server MUST accept it). */
typedef struct NbdCmdRule {
    const char *name;
    uint16_t flags_ok;
    bool writes;           /* refused on a read-only export */
    bool ranged;           /* offset/length address the export */
    bool needs_len;        /* a length of 0 is invalid */
} NbdCmdRule;

static const NbdCmdRule nbd_cmd_rules[] = {
    [NBD_CMD_READ] = { "READ", NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_DF,
                       false, true, false },
    [NBD_CMD_WRITE] = { "WRITE", NBD_CMD_FLAG_FUA, true, true, false },
    [NBD_CMD_DISC] = { "DISC", NBD_CMD_FLAG_FUA, false, false, false },
    [NBD_CMD_FLUSH] = { "FLUSH", NBD_CMD_FLAG_FUA, false, false, false },
    [NBD_CMD_TRIM] = { "TRIM", NBD_CMD_FLAG_FUA, true, true, false },
    [NBD_CMD_CACHE] = { "CACHE", NBD_CMD_FLAG_FUA, false, true, false },
    [NBD_CMD_WRITE_ZEROES] = { "WRITE_ZEROES",
                               NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE |
                               NBD_CMD_FLAG_FAST_ZERO, true, true, false },
    [NBD_CMD_BLOCK_STATUS] = { "BLOCK_STATUS",
                               NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE,
                               false, true, true },
};

static const NbdCmdRule *cmd_rule(uint16_t type)
{
    if (type >= sizeof(nbd_cmd_rules) / sizeof(nbd_cmd_rules[0]) ||
        !nbd_cmd_rules[type].name) {
        return NULL;
    }
    return &nbd_cmd_rules[type];
}

const char *nbd_cmd_name(uint16_t type)
{
    const NbdCmdRule *rule = cmd_rule(type);
    return rule ? rule->name : NULL;
}

void nbd_parse_request(const uint8_t hdr[NBD_REQUEST_SIZE], NbdRequest *r)
{
    r->magic = nbd_ld32(hdr);
    r->flags = nbd_ld16(hdr + 4);
    r->type = nbd_ld16(hdr + 6);
    r->cookie = nbd_ld64(hdr + 8);
    r->offset = nbd_ld64(hdr + 16);
    r->len = nbd_ld32(hdr + 24);
}

/* Fail with NBD error @err and the reason @text. */
#define REFUSE(err, text) do { *why = (text); return (err); } while (0)

uint32_t nbd_check_request_why(const NbdRequest *r, const NbdLimits *lim,
                               const char **why)
{
    const NbdCmdRule *rule = cmd_rule(r->type);

    if (!rule) {
        REFUSE(NBD_EINVAL, "unknown command");
    }
    if (r->flags & ~rule->flags_ok) {
        REFUSE(NBD_EINVAL, "a flag the command does not take");
    }
    if ((r->flags & NBD_CMD_FLAG_DF) && !lim->structured) {
        REFUSE(NBD_EINVAL, "DF without structured replies");
    }
    if (r->type == NBD_CMD_BLOCK_STATUS && !lim->meta_alloc) {
        REFUSE(NBD_EINVAL, "BLOCK_STATUS without a meta context");
    }
    if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE) &&
        r->len > NBD_MAX_PAYLOAD) {
        REFUSE(NBD_EINVAL, "length over the maximum block size");
    }
    if (rule->writes && !lim->writable) {
        REFUSE(NBD_EPERM, "the export is read-only");
    }
    if (!rule->ranged) {
        return 0;
    }
    if (rule->needs_len && r->len == 0) {
        REFUSE(NBD_EINVAL, "length 0");
    }
    if (r->offset > lim->size || r->len > lim->size - r->offset) {
        /* The spec: ENOSPC for a write past the end, as QEMU answers. */
        REFUSE(rule->writes ? NBD_ENOSPC : NBD_EINVAL,
               "beyond the end of the export");
    }
    if (lim->align > 1 &&
        (r->offset % lim->align || r->len % lim->align)) {
        REFUSE(NBD_EINVAL, "not aligned to the minimum block size");
    }
    return 0;
}

uint32_t nbd_check_request(const NbdRequest *r, const NbdLimits *lim)
{
    const char *why;

    return nbd_check_request_why(r, lim, &why);
}

uint32_t nbd_errno_to_wire(int err)
{
    switch (err) {
    case 0:
        return 0;
    case EPERM:
    case EACCES:
    case EROFS:
        return NBD_EPERM;
    case ENOMEM:
        return NBD_ENOMEM;
    case EINVAL:
        return NBD_EINVAL;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return NBD_ENOSPC;
    case EOVERFLOW:
        return NBD_EOVERFLOW;
    case ENOTSUP:
        return NBD_ENOTSUP;
    case ESHUTDOWN:
        return NBD_ESHUTDOWN;
    default:
        return NBD_EIO;
    }
}

int nbd_parse_info_opt(const uint8_t *data, uint32_t len, NbdInfoOpt *o)
{
    uint32_t name_len;
    uint64_t need;

    if (len < 6) {
        return -EINVAL;
    }
    name_len = nbd_ld32(data);
    if (name_len > NBD_MAX_STRING || name_len > len - 6) {
        return -EINVAL;
    }
    o->name = (const char *)data + 4;
    o->name_len = name_len;
    o->ninfos = nbd_ld16(data + 4 + name_len);
    o->infos = data + 6 + name_len;
    need = 6 + (uint64_t)name_len + 2 * (uint64_t)o->ninfos;
    return need == len ? 0 : -EINVAL;
}

int nbd_parse_meta_opt(const uint8_t *data, uint32_t len, NbdMetaOpt *o)
{
    uint32_t name_len, pos, i;

    if (len < 8) {
        return -EINVAL;
    }
    name_len = nbd_ld32(data);
    if (name_len > NBD_MAX_STRING || name_len > len - 8) {
        return -EINVAL;
    }
    o->name = (const char *)data + 4;
    o->name_len = name_len;
    o->nqueries = nbd_ld32(data + 4 + name_len);
    pos = 8 + name_len;
    o->queries = data + pos;
    for (i = 0; i < o->nqueries; i++) {
        uint32_t qlen;

        if (len - pos < 4) {
            return -EINVAL;
        }
        qlen = nbd_ld32(data + pos);
        pos += 4;
        if (qlen > NBD_MAX_STRING || qlen > len - pos) {
            return -EINVAL;
        }
        pos += qlen;
    }
    return pos == len ? 0 : -EINVAL;
}

bool nbd_meta_query_matches(const char *q, uint32_t qlen, bool list)
{
    static const char full[] = NBD_META_BASE_ALLOCATION;
    static const char ns[] = "base:";

    if (qlen == sizeof(full) - 1 && !memcmp(q, full, qlen)) {
        return true;
    }
    return list && qlen == sizeof(ns) - 1 && !memcmp(q, ns, qlen);
}
