/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transmission phase, on the export's context: a receive loop that
 * reads request headers (and write payloads) and starts one coroutine per
 * request, so that many are in flight and replies go out in any order:
 * each request queues its replies on the client's reply queue
 * (nbd-reply.c), which sends a loop iteration's worth at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nbd/nbd-internal.h"

/* Extents per BLOCK_STATUS reply at most. */
#define NBD_MAX_EXTENTS 1024

typedef struct NbdReq {
    NbdClient *c;
    NbdRequest r;
    uint32_t error;     /* NBD error found before running it (0: none) */
    const char *why;    /* ... and its reason (static) */
    uint8_t *buf;       /* write payload, or read data */
    uint64_t charged;   /* bytes counted in c->bytes_in_flight */
    bool answered;      /* its last reply is queued */
} NbdReq;

/* ---- replies ---- */

/* Queue one reply of @q (see nbd_reply_queue()).  The last one takes
 * q->buf along: earlier chunks may point into it, and they leave the
 * queue before it. */
static void queue_reply(NbdReq *q, const void *head, size_t head_len,
                        const void *data, size_t data_len, bool final)
{
    void *own = NULL;

    if (final) {
        own = q->buf;
        q->buf = NULL;
        q->answered = true;
    }
    nbd_reply_queue(q->c, head, head_len, data, data_len, own, final,
                    final ? q->charged : 0);
}

/* A simple reply (always the request's last). */
static void send_simple(NbdReq *q, uint32_t error, const void *data,
                        size_t len)
{
    uint8_t hdr[NBD_SIMPLE_REPLY_SIZE];

    nbd_st32(hdr, NBD_SIMPLE_REPLY_MAGIC);
    nbd_st32(hdr + 4, error);
    nbd_st64(hdr + 8, q->r.cookie);
    queue_reply(q, hdr, sizeof(hdr), data, error ? 0 : len, true);
}

/* The largest chunk payload that goes in the head (copied): an error's. */
#define NBD_MAX_CHUNK_HEAD (NBD_STRUCTURED_REPLY_SIZE + 6 + NBD_MAX_ERROR_MSG)

/* One structured chunk: its header, @plen bytes of @payload (copied),
 * then @dlen bytes of @data (q->buf or part of it); the last with DONE. */
static void send_chunk(NbdReq *q, uint16_t flags, uint16_t type,
                       const void *payload, size_t plen, const void *data,
                       size_t dlen)
{
    uint8_t head[NBD_MAX_CHUNK_HEAD];

    nbd_st32(head, NBD_STRUCTURED_REPLY_MAGIC);
    nbd_st16(head + 4, flags);
    nbd_st16(head + 6, type);
    nbd_st64(head + 8, q->r.cookie);
    nbd_st32(head + 16, (uint32_t)(plen + dlen));
    if (plen) {
        memcpy(head + NBD_STRUCTURED_REPLY_SIZE, payload, plen);
    }
    queue_reply(q, head, NBD_STRUCTURED_REPLY_SIZE + plen, data, dlen,
                flags & NBD_REPLY_FLAG_DONE);
}

/* The final answer to a request that carries no data; with structured
 * replies an error goes with @msg (NULL: none) for the user to read. */
static void reply_status(NbdReq *q, uint32_t error, const char *msg)
{
    NbdClient *c = q->c;

    if (!c->structured) {
        send_simple(q, error, NULL, 0);
    } else if (!error) {
        send_chunk(q, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, NULL, 0, NULL,
                   0);
    } else {
        uint8_t payload[6 + NBD_MAX_ERROR_MSG];
        size_t len = msg ? strnlen(msg, NBD_MAX_ERROR_MSG) : 0;

        nbd_st32(payload, error);
        nbd_st16(payload + 4, (uint16_t)len);
        if (len) {
            memcpy(payload + 6, msg, len);
        }
        send_chunk(q, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, payload,
                   6 + len, NULL, 0);
    }
}

/* ---- commands ---- */

/* One content chunk of a READ: [off, off + len) as OFFSET_HOLE, or as
 * OFFSET_DATA from q->buf (which holds the whole request). */
static void send_read_chunk(NbdReq *q, uint64_t off, uint64_t len,
                            bool hole, bool done)
{
    uint8_t payload[12];

    nbd_st64(payload, off);
    nbd_st32(payload + 8, (uint32_t)len);
    send_chunk(q, done ? NBD_REPLY_FLAG_DONE : 0,
               hole ? NBD_REPLY_TYPE_OFFSET_HOLE : NBD_REPLY_TYPE_OFFSET_DATA,
               payload, hole ? 12 : 8,
               hole ? NULL : q->buf + (off - q->r.offset), hole ? 0 : len);
}

/*
 * A structured READ without DF, as qemu-nbd answers it: what block status
 * says reads as zeroes goes out as OFFSET_HOLE chunks, the rest as
 * OFFSET_DATA, each chunk as long as the status allows; the last carries
 * DONE.  The data is read in one request over the whole range, and only
 * once a data chunk is due (an all-hole range reads nothing).  Past
 * NBD_MAX_EXTENTS chunks, the rest is one data chunk, which bounds the
 * lseek() calls of a fragmented file.
 */
static int read_sparse(NbdReq *q)
{
    BlockNode *node = q->c->exp->node;
    uint64_t off = q->r.offset, end = q->r.offset + q->r.len;
    uint64_t start = off;   /* of the chunk not sent yet */
    bool hole = false;      /* its kind */
    unsigned chunks = 0;

    while (off <= end) {
        int64_t pnum = (int64_t)(end - off);
        int status = BLOCK_STATUS_DATA;
        bool h;

        if (off < end && chunks < NBD_MAX_EXTENTS) {
            int ret = block_co_block_status(node, (int64_t)off, pnum, &pnum,
                                            &status);
            if (ret < 0) {
                return ret;
            }
            if (pnum <= 0 || (uint64_t)pnum > end - off) {
                return -EIO;
            }
        }
        h = (status & (BLOCK_STATUS_DATA | BLOCK_STATUS_ZERO)) ==
            BLOCK_STATUS_ZERO;
        if (off > start && (h != hole || off == end)) {
            if (!hole && !q->buf) {
                struct iovec io = { .iov_len = q->r.len };
                int ret;

                q->buf = malloc(q->r.len);
                if (!q->buf) {
                    return -ENOMEM;
                }
                io.iov_base = q->buf;
                ret = block_co_preadv(node, (int64_t)q->r.offset, q->r.len,
                                      &io, 1);
                if (ret < 0) {
                    return ret;
                }
            }
            send_read_chunk(q, start, off - start, hole, off == end);
            chunks++;
            start = off;
        }
        if (off == end) {
            break;
        }
        hole = h;
        off += (uint64_t)pnum;
    }
    return 0;
}

static int cmd_read(NbdReq *q)
{
    NbdClient *c = q->c;
    struct iovec io = { .iov_len = q->r.len };
    int ret;

    if (q->r.len == 0) {
        reply_status(q, 0, NULL);
        return 0;
    }
    if (c->structured && !(q->r.flags & NBD_CMD_FLAG_DF)) {
        return read_sparse(q);
    }
    q->buf = malloc(q->r.len);
    if (!q->buf) {
        return -ENOMEM;
    }
    io.iov_base = q->buf;
    ret = block_co_preadv(c->exp->node, (int64_t)q->r.offset, q->r.len, &io,
                          1);
    if (ret < 0) {
        return ret;
    }
    if (c->structured) {
        send_read_chunk(q, q->r.offset, q->r.len, false, true);
    } else {
        send_simple(q, 0, q->buf, q->r.len);
    }
    return 0;
}

static int cmd_write(NbdReq *q)
{
    struct iovec io = { .iov_base = q->buf, .iov_len = q->r.len };
    int ret;

    if (q->r.len == 0) {
        return 0;
    }
    ret = block_co_pwritev(q->c->exp->node, (int64_t)q->r.offset, q->r.len,
                           &io, 1,
                           q->r.flags & NBD_CMD_FLAG_FUA ? BLOCK_REQ_FUA : 0);
    /* The payload is written: not kept while the reply waits to go. */
    free(q->buf);
    q->buf = NULL;
    return ret;
}

static int cmd_flush(NbdReq *q)
{
    return block_co_flush(q->c->exp->node);
}

static int cmd_trim(NbdReq *q)
{
    int ret;

    if (q->r.len == 0) {
        return 0;
    }
    ret = block_co_pdiscard(q->c->exp->node, (int64_t)q->r.offset, q->r.len);
    if (ret == 0 && (q->r.flags & NBD_CMD_FLAG_FUA)) {
        ret = block_co_flush(q->c->exp->node);
    }
    return ret;
}

static int cmd_cache(NbdReq *q)
{
    if (q->r.len == 0) {
        return 0;
    }
    return block_co_cache(q->c->exp->node, (int64_t)q->r.offset, q->r.len);
}

static int cmd_write_zeroes(NbdReq *q)
{
    int flags = 0;

    if (q->r.len == 0) {
        return 0;
    }
    if (!(q->r.flags & NBD_CMD_FLAG_NO_HOLE)) {
        flags |= BLOCK_REQ_MAY_UNMAP;
    }
    if (q->r.flags & NBD_CMD_FLAG_FAST_ZERO) {
        flags |= BLOCK_REQ_NO_FALLBACK;
    }
    if (q->r.flags & NBD_CMD_FLAG_FUA) {
        flags |= BLOCK_REQ_FUA;
    }
    return block_co_pwrite_zeroes(q->c->exp->node, (int64_t)q->r.offset,
                                  q->r.len, flags);
}

static int cmd_block_status(NbdReq *q)
{
    NbdClient *c = q->c;
    unsigned max = q->r.flags & NBD_CMD_FLAG_REQ_ONE ? 1 : NBD_MAX_EXTENTS;
    uint8_t *p;
    uint64_t off = q->r.offset, end = q->r.offset + q->r.len;
    unsigned n = 0;

    q->buf = malloc(4 + 8 * (size_t)max);
    if (!q->buf) {
        return -ENOMEM;
    }
    nbd_st32(q->buf, NBD_META_BASE_ALLOCATION_ID);
    p = q->buf + 4;
    while (off < end && n < max) {
        int64_t pnum = 0;
        int status = 0;
        uint32_t st = 0;
        int ret = block_co_block_status(c->exp->node, (int64_t)off,
                                        (int64_t)(end - off), &pnum, &status);
        if (ret < 0) {
            return ret;
        }
        if (pnum <= 0 || (uint64_t)pnum > end - off) {
            return -EIO;
        }
        if (!(status & BLOCK_STATUS_DATA)) {
            st |= NBD_STATE_HOLE;
        }
        if (status & BLOCK_STATUS_ZERO) {
            st |= NBD_STATE_ZERO;
        }
        /* Merge with the previous extent when the status is the same. */
        if (n > 0 && nbd_ld32(p - 4) == st) {
            nbd_st32(p - 8, nbd_ld32(p - 8) + (uint32_t)pnum);
        } else {
            nbd_st32(p, (uint32_t)pnum);
            nbd_st32(p + 4, st);
            p += 8;
            n++;
        }
        off += (uint64_t)pnum;
    }
    send_chunk(q, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, NULL, 0,
               q->buf, (size_t)(p - q->buf));
    return 0;
}

/* A command's run() answers success itself (READ, BLOCK_STATUS: their
 * data) or leaves it to request_co(). */
typedef struct NbdCmd {
    int (*run)(NbdReq *q);
    int stats_op;          /* BlockStatsOp, or -1 */
} NbdCmd;

static const NbdCmd nbd_cmds[] = {
    [NBD_CMD_READ] = { cmd_read, BLOCK_STATS_READ },
    [NBD_CMD_WRITE] = { cmd_write, BLOCK_STATS_WRITE },
    [NBD_CMD_FLUSH] = { cmd_flush, BLOCK_STATS_FLUSH },
    [NBD_CMD_TRIM] = { cmd_trim, BLOCK_STATS_UNMAP },
    [NBD_CMD_CACHE] = { cmd_cache, -1 },
    [NBD_CMD_WRITE_ZEROES] = { cmd_write_zeroes, BLOCK_STATS_WRITE },
    [NBD_CMD_BLOCK_STATUS] = { cmd_block_status, -1 },
};

static void request_co(void *opaque)
{
    NbdReq *q = opaque;
    NbdClient *c = q->c;
    const NbdCmd *cmd = q->r.type < sizeof(nbd_cmds) / sizeof(nbd_cmds[0])
                        ? &nbd_cmds[q->r.type] : NULL;

    if (q->error || !cmd || !cmd->run) {
        reply_status(q, q->error ? q->error : NBD_EINVAL,
                     q->why ? q->why : "unknown command");
    } else {
        int64_t start = 0;
        int ret;

        if (cmd->stats_op >= 0) {
            start = block_stats_start(&c->exp->stats);
        }
        ret = cmd->run(q);
        if (cmd->stats_op >= 0) {
            block_stats_done(&c->exp->stats, (BlockStatsOp)cmd->stats_op,
                             start, (int64_t)q->r.offset,
                             q->r.type == NBD_CMD_FLUSH ? 0 : q->r.len, ret);
        }
        if (ret < 0 && !q->answered) {
            char msg[96];

            snprintf(msg, sizeof(msg), "%s failed: %s",
                     nbd_cmd_name(q->r.type), strerror(-ret));
            reply_status(q, nbd_errno_to_wire(-ret), msg);
        } else if (!q->answered) {
            reply_status(q, 0, NULL);
        }
    }
    /* The last reply took q->buf and will take the request out of the
     * counts once it is sent: @c may be gone by now (nbd_reply_queue()). */
    free(q);
}

/* ---- the receive loop ---- */

/* Take @len bytes of the request stream into @buf (NULL: drop them):
 * first what was read ahead, then, for a large payload, straight into
 * @buf, else through the read-ahead buffer. */
static int co_recv(NbdClient *c, void *buf, uint64_t len)
{
    uint8_t *p = buf;

    while (len > 0) {
        size_t have = c->rend - c->rstart;
        ssize_t n;

        if (have > 0) {
            size_t take = have < len ? have : (size_t)len;
            if (p) {
                memcpy(p, c->rbuf + c->rstart, take);
                p += take;
            }
            c->rstart += take;
            len -= take;
            continue;
        }
        if (p && len >= NBD_RECV_BUF) {
            return nbd_co_read(c->fd, p, (size_t)len, &c->rdrained);
        }
        n = nbd_co_recv_some(c->fd, c->rbuf, NBD_RECV_BUF, &c->rdrained);
        if (n < 0) {
            return (int)n;
        }
        c->rstart = 0;
        c->rend = (size_t)n;
    }
    return 0;
}

/* Before a request header: make sure something of it is read ahead,
 * waiting for the socket in the one wait a move can interrupt (between
 * requests, where the client may be idle for ever).  When the last read
 * came short the socket is empty: wait first, rather than try a recv()
 * bound to fail with EAGAIN.  0, -EAGAIN when a move was asked for, or
 * -errno (-EPIPE at end of stream). */
static int co_fill_for_header(NbdClient *c)
{
    while (c->rstart == c->rend) {
        ssize_t n;
        int ret;

        if (c->rdrained) {
            ret = nbd_co_wait_request(c);
            if (ret < 0) {
                return ret;
            }
            c->rdrained = false;
        }
        n = recv(c->fd, c->rbuf, NBD_RECV_BUF, MSG_DONTWAIT);
        if (n > 0) {
            c->rstart = 0;
            c->rend = (size_t)n;
            c->rdrained = (size_t)n < NBD_RECV_BUF;
        } else if (n == 0) {
            return -EPIPE;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->rdrained = true;
        } else if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

/* Bytes a request will hold while in flight. */
static uint64_t request_cost(const NbdRequest *r)
{
    if (r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE) {
        return r->len <= NBD_MAX_PAYLOAD ? r->len : 0;
    }
    return 0;
}

/* Read one request and start it.  0 to go on, -1 to stop reading. */
static int co_receive_one(NbdClient *c, const NbdLimits *lim)
{
    uint8_t hdr[NBD_REQUEST_SIZE];
    NbdReq *q;
    Coroutine *co;
    uint64_t cost;
    int ret;

    nbd_co_move_point(c);
    while (c->in_flight >= NBD_MAX_IN_FLIGHT) {
        qemu_co_queue_wait(&c->waitq, NULL);
    }
    if (c->dead) {
        return -1;
    }
    ret = co_fill_for_header(c);
    if (ret == -EAGAIN) {
        return 0;   /* a move was asked for: to the move point first */
    }
    if (ret < 0 || co_recv(c, hdr, sizeof(hdr)) < 0) {
        return -1;
    }
    q = calloc(1, sizeof(*q));
    if (!q) {
        nbd_client_set_reason(c, "out of memory");
        return -1;
    }
    q->c = c;
    nbd_parse_request(hdr, &q->r);
    if (q->r.magic != NBD_REQUEST_MAGIC) {
        nbd_client_set_reason(c, "bad request magic 0x%08x", q->r.magic);
        free(q);
        return -1;
    }
    if (q->r.type == NBD_CMD_DISC) {
        free(q);
        return -1;
    }
    q->error = nbd_check_request_why(&q->r, lim, &q->why);
    cost = request_cost(&q->r);
    while (c->in_flight > 0 &&
           c->bytes_in_flight + cost > NBD_MAX_BYTES_IN_FLIGHT) {
        qemu_co_queue_wait(&c->waitq, NULL);
    }
    if (q->r.type == NBD_CMD_WRITE) {
        if (q->r.len > NBD_MAX_PAYLOAD) {
            /* Too long to take: drop the payload and answer EINVAL, or,
             * past what is sane to read, give up on the client. */
            if (q->r.len > NBD_MAX_SKIP) {
                nbd_client_set_reason(c, "write of %u bytes is too long",
                                      q->r.len);
                free(q);
                return -1;
            }
            ret = co_recv(c, NULL, q->r.len);
        } else {
            q->buf = malloc(q->r.len ? q->r.len : 1);
            if (!q->buf) {
                q->error = NBD_ENOMEM;
            }
            ret = co_recv(c, q->buf, q->r.len);
        }
        if (ret < 0) {
            free(q->buf);
            free(q);
            return -1;
        }
    }
    co = aio_co_create(aio_co_get_context(qemu_coroutine_self()), request_co,
                       q, 0);
    if (!co) {
        nbd_client_set_reason(c, "cannot start a request: out of memory");
        free(q->buf);
        free(q);
        return -1;
    }
    q->charged = cost;
    c->in_flight++;
    c->bytes_in_flight += cost;
    qemu_coroutine_enter(co);
    return 0;
}

void nbd_co_transmission(NbdClient *c)
{
    NbdExport *exp = c->exp;
    NbdLimits lim = {
        .size = (uint64_t)block_node_size(exp->node),
        .align = nbd_export_min_block(exp),
        .writable = exp->writable,
        .structured = c->structured,
        .meta_alloc = c->meta_alloc,
    };

    c->rbuf = malloc(NBD_RECV_BUF);
    if (!c->rbuf) {
        nbd_client_set_reason(c, "out of memory");
        return;
    }
    while (co_receive_one(c, &lim) == 0) {
        /* next request */
    }
    /* Answer what is in flight (the spec asks so even after DISC), then
     * hand the client back. */
    while (c->in_flight > 0) {
        qemu_co_queue_wait(&c->waitq, NULL);
    }
    free(c->rbuf);
    c->rbuf = NULL;
}
