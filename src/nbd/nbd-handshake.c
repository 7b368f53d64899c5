/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A client's handshake (fixed newstyle): the greeting, then option
 * haggling until NBD_OPT_GO or NBD_OPT_EXPORT_NAME chooses an export, on
 * the main context; then the client coroutine moves to the export's
 * context for the transmission phase.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd/nbd-internal.h"

/* What an option handler tells the loop. */
enum {
    OPT_NEXT = 0,     /* wait for the next option */
    OPT_CHOSEN = 1,   /* an export was chosen: transmission */
    OPT_CLOSE = -1,   /* drop the client */
};

typedef struct Opt {
    uint32_t code;
    const uint8_t *data;
    uint32_t len;
} Opt;

static int send_rep(NbdClient *c, const Opt *o, uint32_t type,
                    const void *data, uint32_t len)
{
    uint8_t hdr[20];
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)data, .iov_len = len },
    };

    nbd_st64(hdr, NBD_OPT_REPLY_MAGIC);
    nbd_st32(hdr + 8, o->code);
    nbd_st32(hdr + 12, type);
    nbd_st32(hdr + 16, len);
    if (nbd_co_writev(c->wfd, iov, len ? 2 : 1) < 0) {
        return OPT_CLOSE;
    }
    return OPT_NEXT;
}

static int send_err(NbdClient *c, const Opt *o, uint32_t type,
                    const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int send_err(NbdClient *c, const Opt *o, uint32_t type,
                    const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = 0;
    } else if ((size_t)n >= sizeof(msg)) {
        n = sizeof(msg) - 1;
    }
    return send_rep(c, o, type, msg, (uint32_t)n);
}

/* An export by a name that is not NUL-terminated. */
static NbdExport *find_export(NbdClient *c, const char *name, uint32_t len)
{
    char buf[NBD_MAX_STRING + 1];

    if (len > NBD_MAX_STRING) {
        return NULL;
    }
    memcpy(buf, name, len);
    buf[len] = '\0';
    if (strlen(buf) != len) {
        return NULL;                  /* an embedded NUL */
    }
    return nbd_export_find(c->server, buf);
}

static int send_info(NbdClient *c, const Opt *o, uint16_t type,
                     const void *data, uint32_t len)
{
    uint8_t buf[2 + NBD_MAX_STRING];

    nbd_st16(buf, type);
    memcpy(buf + 2, data, len);
    return send_rep(c, o, NBD_REP_INFO, buf, 2 + len);
}

static int opt_info_go(NbdClient *c, const Opt *o)
{
    NbdInfoOpt io;
    NbdExport *exp;
    uint8_t export_info[10], block_info[12];
    bool want_name = false, want_desc = false;
    uint16_t i;

    if (nbd_parse_info_opt(o->data, o->len, &io) < 0) {
        return send_err(c, o, NBD_REP_ERR_INVALID,
                        "malformed NBD_OPT_INFO/GO request");
    }
    exp = find_export(c, io.name, io.name_len);
    if (!exp) {
        return send_err(c, o, NBD_REP_ERR_UNKNOWN, "export '%.*s' not present",
                        (int)(io.name_len > 200 ? 200 : io.name_len),
                        io.name);
    }
    for (i = 0; i < io.ninfos; i++) {
        uint16_t t = nbd_ld16(io.infos + 2 * i);
        want_name |= t == NBD_INFO_NAME;
        want_desc |= t == NBD_INFO_DESCRIPTION;
    }
    if (want_name &&
        send_info(c, o, NBD_INFO_NAME, exp->name,
                  (uint32_t)strlen(exp->name)) < 0) {
        return OPT_CLOSE;
    }
    if (want_desc && exp->description &&
        send_info(c, o, NBD_INFO_DESCRIPTION, exp->description,
                  (uint32_t)strlen(exp->description)) < 0) {
        return OPT_CLOSE;
    }
    /* Block sizes go unasked too, as QEMU does: a client that did not ask
     * ignores them, and one that did needs them. */
    nbd_st32(block_info, nbd_export_min_block(exp));
    nbd_st32(block_info + 4, nbd_export_min_block(exp) > NBD_PREFERRED_BLOCK
                             ? nbd_export_min_block(exp)
                             : NBD_PREFERRED_BLOCK);
    nbd_st32(block_info + 8, NBD_MAX_PAYLOAD);
    if (send_info(c, o, NBD_INFO_BLOCK_SIZE, block_info,
                  sizeof(block_info)) < 0) {
        return OPT_CLOSE;
    }
    nbd_st64(export_info, (uint64_t)block_node_size(exp->node));
    nbd_st16(export_info + 8, nbd_export_tx_flags(exp));
    if (send_info(c, o, NBD_INFO_EXPORT, export_info,
                  sizeof(export_info)) < 0 ||
        send_rep(c, o, NBD_REP_ACK, NULL, 0) < 0) {
        return OPT_CLOSE;
    }
    if (o->code == NBD_OPT_INFO) {
        return OPT_NEXT;
    }
    /* Meta contexts were chosen for one export: not for another. */
    if (c->meta_alloc &&
        (!c->meta_export || strcmp(c->meta_export, exp->name))) {
        c->meta_alloc = false;
    }
    nbd_client_attach(c, exp);
    return OPT_CHOSEN;
}

static int opt_export_name(NbdClient *c, const Opt *o)
{
    static const uint8_t zeroes[124];
    uint8_t reply[10];
    NbdExport *exp = find_export(c, (const char *)o->data, o->len);
    struct iovec iov[2] = {
        { .iov_base = reply, .iov_len = sizeof(reply) },
        { .iov_base = (void *)zeroes, .iov_len = sizeof(zeroes) },
    };

    if (!exp) {
        /* No way to answer an error here: the spec says close. */
        nbd_client_set_reason(c, "NBD_OPT_EXPORT_NAME: unknown export");
        return OPT_CLOSE;
    }
    c->meta_alloc = false;
    nbd_st64(reply, (uint64_t)block_node_size(exp->node));
    nbd_st16(reply + 8, nbd_export_tx_flags(exp));
    if (nbd_co_writev(c->wfd, iov, c->no_zeroes ? 1 : 2) < 0) {
        return OPT_CLOSE;
    }
    nbd_client_attach(c, exp);
    return OPT_CHOSEN;
}

static int opt_list(NbdClient *c, const Opt *o)
{
    NbdExport *exp;

    if (o->len) {
        return send_err(c, o, NBD_REP_ERR_INVALID,
                        "NBD_OPT_LIST takes no data");
    }
    for (exp = c->server->exports; exp; exp = exp->next) {
        uint32_t nlen = (uint32_t)strlen(exp->name);
        uint32_t dlen = exp->description
                        ? (uint32_t)strlen(exp->description) : 0;
        uint8_t *buf = malloc(4 + nlen + dlen);
        int ret;

        if (!buf) {
            return OPT_CLOSE;
        }
        nbd_st32(buf, nlen);
        memcpy(buf + 4, exp->name, nlen);
        if (dlen) {
            memcpy(buf + 4 + nlen, exp->description, dlen);
        }
        ret = send_rep(c, o, NBD_REP_SERVER, buf, 4 + nlen + dlen);
        free(buf);
        if (ret < 0) {
            return OPT_CLOSE;
        }
    }
    return send_rep(c, o, NBD_REP_ACK, NULL, 0);
}

static int opt_abort(NbdClient *c, const Opt *o)
{
    send_rep(c, o, NBD_REP_ACK, NULL, 0);  /* best effort: we close */
    return OPT_CLOSE;
}

static int opt_structured_reply(NbdClient *c, const Opt *o)
{
    if (o->len) {
        return send_err(c, o, NBD_REP_ERR_INVALID,
                        "NBD_OPT_STRUCTURED_REPLY takes no data");
    }
    c->structured = true;
    return send_rep(c, o, NBD_REP_ACK, NULL, 0);
}

static int opt_meta_context(NbdClient *c, const Opt *o)
{
    bool list = o->code == NBD_OPT_LIST_META_CONTEXT;
    NbdMetaOpt mo;
    NbdExport *exp;
    bool match = false;
    const uint8_t *q;
    uint32_t i;
    uint8_t rep[4 + sizeof(NBD_META_BASE_ALLOCATION) - 1];

    if (!c->structured) {
        return send_err(c, o, NBD_REP_ERR_INVALID,
                        "structured replies not negotiated");
    }
    if (nbd_parse_meta_opt(o->data, o->len, &mo) < 0) {
        return send_err(c, o, NBD_REP_ERR_INVALID,
                        "malformed meta context request");
    }
    exp = find_export(c, mo.name, mo.name_len);
    if (!exp) {
        return send_err(c, o, NBD_REP_ERR_UNKNOWN, "export not present");
    }
    if (mo.nqueries == 0) {
        match = list;               /* LIST: everything; SET: nothing */
    }
    for (i = 0, q = mo.queries; i < mo.nqueries; i++) {
        uint32_t qlen = nbd_ld32(q);
        match |= nbd_meta_query_matches((const char *)q + 4, qlen, list);
        q += 4 + qlen;
    }
    if (!list) {
        free(c->meta_export);
        c->meta_export = strdup(exp->name);
        c->meta_alloc = match && c->meta_export;
    }
    if (match) {
        nbd_st32(rep, list ? 0 : NBD_META_BASE_ALLOCATION_ID);
        memcpy(rep + 4, NBD_META_BASE_ALLOCATION, sizeof(rep) - 4);
        if (send_rep(c, o, NBD_REP_META_CONTEXT, rep, sizeof(rep)) < 0) {
            return OPT_CLOSE;
        }
    }
    return send_rep(c, o, NBD_REP_ACK, NULL, 0);
}

typedef struct OptHandler {
    uint32_t code;
    int (*fn)(NbdClient *c, const Opt *o);
} OptHandler;

static const OptHandler opt_handlers[] = {
    { NBD_OPT_EXPORT_NAME, opt_export_name },
    { NBD_OPT_ABORT, opt_abort },
    { NBD_OPT_LIST, opt_list },
    { NBD_OPT_INFO, opt_info_go },
    { NBD_OPT_GO, opt_info_go },
    { NBD_OPT_STRUCTURED_REPLY, opt_structured_reply },
    { NBD_OPT_LIST_META_CONTEXT, opt_meta_context },
    { NBD_OPT_SET_META_CONTEXT, opt_meta_context },
};

/* The handshake: OPT_CHOSEN once an export is attached, else OPT_CLOSE. */
static int co_handshake(NbdClient *c)
{
    uint8_t greet[18], hdr[16], cflags[4];
    uint8_t *data = NULL;
    int ret;

    nbd_st64(greet, NBD_MAGIC);
    nbd_st64(greet + 8, NBD_IHAVEOPT);
    nbd_st16(greet + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    if (nbd_co_write(c->wfd, greet, sizeof(greet)) < 0 ||
        nbd_co_read(c->fd, cflags, sizeof(cflags), NULL) < 0) {
        return OPT_CLOSE;
    }
    if (nbd_ld32(cflags) & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE |
                                       NBD_FLAG_C_NO_ZEROES)) {
        nbd_client_set_reason(c, "unknown client flags 0x%x",
                              nbd_ld32(cflags));
        return OPT_CLOSE;
    }
    c->no_zeroes = nbd_ld32(cflags) & NBD_FLAG_C_NO_ZEROES;

    for (;;) {
        Opt o;
        size_t i;

        if (nbd_co_read(c->fd, hdr, sizeof(hdr), NULL) < 0) {
            return OPT_CLOSE;
        }
        if (nbd_ld64(hdr) != NBD_IHAVEOPT) {
            nbd_client_set_reason(c, "bad option magic");
            return OPT_CLOSE;
        }
        o.code = nbd_ld32(hdr + 8);
        o.len = nbd_ld32(hdr + 12);
        if (o.len > NBD_MAX_OPTION_LEN) {
            nbd_client_set_reason(c, "option %u of %u bytes is too long",
                                  o.code, o.len);
            return OPT_CLOSE;
        }
        data = malloc(o.len ? o.len : 1);
        if (!data || nbd_co_read(c->fd, data, o.len, NULL) < 0) {
            free(data);
            return OPT_CLOSE;
        }
        o.data = data;
        ret = -2;
        for (i = 0; i < sizeof(opt_handlers) / sizeof(opt_handlers[0]); i++) {
            if (opt_handlers[i].code == o.code) {
                ret = opt_handlers[i].fn(c, &o);
                break;
            }
        }
        if (ret == -2) {
            ret = send_err(c, &o, NBD_REP_ERR_UNSUP,
                           "option %u not supported", o.code);
        }
        free(data);
        data = NULL;
        if (ret != OPT_NEXT) {
            return ret;
        }
    }
}

void nbd_client_co(void *opaque)
{
    NbdClient *c = opaque;
    int ret = co_handshake(c);

    aio_timer_del(&c->handshake_timer);
    if (c->timed_out) {
        nbd_client_set_reason(c, "handshake not finished after %u s",
                              c->server->opts.handshake_max_seconds);
    }
    if (ret == OPT_CHOSEN && !c->timed_out) {
        /* Continue on the export's thread. */
        if (aio_co_schedule(c->exp->ctx, qemu_coroutine_self()) == 0) {
            qemu_coroutine_yield();
            nbd_co_transmission(c);
        } else {
            nbd_client_set_reason(c, "cannot move to the export's thread");
        }
    }
    nbd_client_finished(c);
}
