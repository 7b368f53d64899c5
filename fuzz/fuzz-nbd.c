/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target: the NBD server's parsers and checks (src/nbd/nbd-parse.c),
 * what a client controls byte for byte.  The first byte picks the parser:
 *   0: a request header and its check against limits taken from the next
 *      bytes; an accepted ranged request must lie within the export;
 *   1: NBD_OPT_INFO / NBD_OPT_GO data; an accepted one holds its name and
 *      info list exactly;
 *   2: NBD_OPT_LIST/SET_META_CONTEXT data; an accepted one is walked as
 *      the handshake walks it (ASan catches a read out of bounds).
 */
#include <stdlib.h>
#include <string.h>

#include "nbd/nbd-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_request(const uint8_t *p, size_t n)
{
    uint8_t hdr[NBD_REQUEST_SIZE] = { 0 };
    NbdLimits lim = { 0 };
    NbdRequest r;
    uint32_t err;

    if (n < NBD_REQUEST_SIZE + 9) {
        return;
    }
    memcpy(hdr, p, NBD_REQUEST_SIZE);
    p += NBD_REQUEST_SIZE;
    lim.size = nbd_ld64(p) >> (p[8] & 63);
    lim.align = 1u << (p[8] >> 6 & 3) * 3;
    lim.writable = p[8] & 1;
    lim.structured = p[8] & 2;
    lim.meta_alloc = p[8] & 4;
    nbd_parse_request(hdr, &r);
    err = nbd_check_request(&r, &lim);
    if (err == 0 && r.type != NBD_CMD_FLUSH && r.type != NBD_CMD_DISC &&
        (r.offset > lim.size || r.len > lim.size - r.offset)) {
        abort();   /* accepted a request beyond the export */
    }
    if (err == 0 && (r.type == NBD_CMD_READ || r.type == NBD_CMD_WRITE) &&
        r.len > NBD_MAX_PAYLOAD) {
        abort();
    }
    if (err == 0 && !lim.writable &&
        (r.type == NBD_CMD_WRITE || r.type == NBD_CMD_TRIM ||
         r.type == NBD_CMD_WRITE_ZEROES)) {
        abort();
    }
}

static void fuzz_info(const uint8_t *p, size_t n)
{
    NbdInfoOpt o;
    uint8_t *copy = malloc(n ? n : 1);   /* exact size: ASan sees overruns */

    if (!copy) {
        return;
    }
    memcpy(copy, p, n);
    if (n <= NBD_MAX_OPTION_LEN &&
        nbd_parse_info_opt(copy, (uint32_t)n, &o) == 0) {
        volatile uint32_t sum = 0;
        uint16_t i;

        if (o.name_len > NBD_MAX_STRING) {
            abort();
        }
        for (i = 0; i < o.ninfos; i++) {
            sum += nbd_ld16(o.infos + 2 * i);
        }
        sum += (uint8_t)(o.name_len ? o.name[o.name_len - 1] : 0);
    }
    free(copy);
}

static void fuzz_meta(const uint8_t *p, size_t n)
{
    NbdMetaOpt o;
    uint8_t *copy = malloc(n ? n : 1);

    if (!copy) {
        return;
    }
    memcpy(copy, p, n);
    if (n <= NBD_MAX_OPTION_LEN &&
        nbd_parse_meta_opt(copy, (uint32_t)n, &o) == 0) {
        const uint8_t *q = o.queries;
        volatile bool any = false;
        uint32_t i;

        for (i = 0; i < o.nqueries; i++) {
            uint32_t qlen = nbd_ld32(q);
            if (qlen > NBD_MAX_STRING) {
                abort();
            }
            any |= nbd_meta_query_matches((const char *)q + 4, qlen, i & 1);
            q += 4 + qlen;
        }
        if (q != copy + n) {
            abort();   /* the walk must end exactly at the end */
        }
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    switch (data[0] % 3) {
    case 0:
        fuzz_request(data + 1, size - 1);
        break;
    case 1:
        fuzz_info(data + 1, size - 1);
        break;
    default:
        fuzz_meta(data + 1, size - 1);
        break;
    }
    return 0;
}
