/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the NBD server's files share: the server, export and client
 * objects, and the functions one file calls in another.
 *
 *   nbd-server.c     server, listener, exports, client lifetimes (main
 *                    thread)
 *   nbd-handshake.c  a client's handshake: greeting and options (main
 *                    thread), then its move to the export's context
 *   nbd-requests.c   transmission: the receive loop and one coroutine per
 *                    request (the export's context)
 *   nbd-reply.c      each client's reply queue and its flusher: replies
 *                    of a loop iteration go out in one sendmsg()
 *   nbd-parse.c      pure parsers and checks of what clients send (no
 *                    I/O: unit-testable and fuzzable)
 *   nbd-sockio.c     coroutine socket reads and writes
 *   nbd-move.c       moving an export and its clients to another context
 *                    (nbd_export_set_context()): the main thread's side
 *                    and each client's park-and-move point
 *
 * Ownership and threads.  The server, the export lists, each client's
 * list links and the counters other than client_count are main thread
 * only.  A client's handshake runs on the main thread; from its move on,
 * everything in "transmission" below belongs to the context the client's
 * receive loop runs on (the export's, or the old one during a move of the
 * export: see nbd-move.c),
 * until the client's last coroutine hands the client back to the main
 * thread with a bottom half (nbd_client_finished()), which frees it.  The
 * main thread may shutdown() a client's socket at any time (removal,
 * stop, handshake timeout): the fds are closed only by the main thread,
 * after the hand-back, so the number can never have been reused.
 */
#ifndef IOTHREADD_NBD_INTERNAL_H
#define IOTHREADD_NBD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <iothread/coroutine.h>
#include <iothread/timer.h>

#include "nbd/nbd-proto.h"
#include "nbd/nbd-server.h"

typedef struct NbdClient NbdClient;
typedef struct NbdReply NbdReply;

struct NbdExport {
    NbdServer *server;
    char *name;
    char *description;     /* NULL: none */
    BlockNode *node;
    AioContext *ctx;       /* main thread: where new clients go; changed
                              by nbd_export_set_context() */
    bool writable;
    /* Main thread: */
    bool removing;         /* left the server's list */
    AioBH *remove_bh;      /* finishes a removal without clients */
    bool remove_bh_pending; /* remove_bh scheduled: it will finish it */
    NbdDoneFn *done;
    void *done_opaque;
    bool moving;           /* nbd_export_set_context() not finished */
    AioBH *move_bh;        /* finishes a move (allocated with the
                              export, so that a move cannot fail) */
    NbdDoneFn *move_done;
    void *move_opaque;
    NbdClient *clients;    /* attached clients (exp_next links) */
    NbdExport *next;       /* server's exports or removing list */
    /* Any thread: */
    unsigned client_count; /* atomic (relaxed) */
    unsigned move_pending; /* atomic: clients still to move, plus one
                              held by the mover until it has asked them
                              all; whoever takes it to 0 schedules
                              move_bh */
    BlockStats stats;      /* atomics, see block-stats.h */
};

struct NbdServer {
    AioContext *main_ctx;
    int listen_fd;         /* -1 once stopped */
    NbdServerOptions opts;
    NbdLogFn *log;
    void *log_opaque;
    AioTimer accept_retry; /* re-arms accepting after EMFILE & co */
    NbdExport *exports;    /* served, by name */
    NbdExport *removing;   /* removed, waiting for their clients */
    NbdClient *clients;    /* every connected client (next links) */
    unsigned nclients;
    bool stopping;
    AioBH *stop_bh;        /* finishes nbd_server_stop() */
    bool stop_bh_pending;  /* stop_bh scheduled, still to run */
    NbdDoneFn *stop_done;
    void *stop_opaque;
};

struct NbdClient {
    NbdServer *server;
    int fd;                /* reads, and shutdown() */
    int wfd;               /* dup of fd for writes: a second fd so that a
                              reader and a writer can wait at once */
    NbdClient *next, *prev;         /* server->clients (main thread) */
    NbdClient *exp_next, *exp_prev; /* exp->clients (main thread) */
    NbdExport *exp;        /* set by the handshake (main thread), then
                              fixed */
    AioBH *done_bh;        /* hands the client back to the main thread
                              (allocated up front: that cannot fail) */

    /* Handshake (main thread). */
    AioTimer handshake_timer;
    bool timed_out;
    bool no_zeroes;
    char *meta_export;     /* export SET_META_CONTEXT was for */

    /* Negotiated; written by the handshake, read-only afterwards. */
    bool structured;
    bool meta_alloc;       /* base:allocation selected */
    uint16_t tx_flags;

    /* Transmission (the export's context). */
    CoQueue waitq;         /* the receive loop, waiting for room or for
                              the requests in flight to finish */
    unsigned in_flight;    /* requests read whose last reply is not yet
                              sent (nor dropped): it bounds the queue */
    uint64_t bytes_in_flight; /* their request_cost() */
    bool dead;             /* socket broken: send nothing more */
    uint8_t *rbuf;         /* NBD_RECV_BUF bytes read ahead of the parser */
    size_t rstart, rend;   /* its unparsed bytes: [rstart, rend) */
    bool rdrained;         /* the last read of the socket came short: it
                              had nothing more, so wait before reading */
    /* The reply queue (nbd-reply.c): replies not yet sent, oldest first,
     * each whole (a chunk never interleaves with another), and the state
     * of its flusher. */
    NbdReply *rq_head;
    NbdReply **rq_tailp;
    int flush_state;       /* NBD_FLUSH_* */
    AioContext *flush_ctx; /* where the flusher runs (the client's) */

    /* Moves (nbd-move.c).  move_to: the context the client is asked to
     * move to, set by the main thread, cleared by the client once it has
     * moved (or by the main thread when the client is gone without);
     * atomic.  recv_waiter: the receive loop while it waits for the next
     * request in nbd_co_wait_request(), so that a move can wake it;
     * atomic, taken by exchange by whoever wakes it. */
    AioContext *move_to;
    Coroutine *recv_waiter;

    /* Why the client was dropped (empty: it left normally); written by
     * its coroutines, read by the main thread after the hand-back. */
    char reason[160];
};

/* Requests in flight per client and their buffered bytes: past these the
 * receive loop stops reading, so a client that never reads its replies
 * cannot make the server buffer without bound.  A request counts until
 * its last reply has left the reply queue (sent, or dropped with a dead
 * client), not merely until it is queued: so the queue holds the replies
 * of at most NBD_MAX_IN_FLIGHT requests and their data at most
 * NBD_MAX_BYTES_IN_FLIGHT (plus one request's, as ever). */
#define NBD_MAX_IN_FLIGHT        16
#define NBD_MAX_BYTES_IN_FLIGHT  (64u << 20)
/* Read-ahead of the request stream: a burst of requests costs one
 * recv(), not one per header. */
#define NBD_RECV_BUF             (64u * 1024)

/* ---- nbd-server.c (main thread) ---- */

/* Attach @c to @exp (the handshake chose it). */
void nbd_client_attach(NbdClient *c, NbdExport *exp);
/* The client's last coroutine is done with it: hand it back to the main
 * thread, which closes and frees it.  Any thread; @c must not be touched
 * afterwards. */
void nbd_client_finished(NbdClient *c);
/* Transmission flags of @exp as the server advertises them. */
uint16_t nbd_export_tx_flags(const NbdExport *exp);
/* Block size constraints of @exp. */
uint32_t nbd_export_min_block(const NbdExport *exp);
/* Record why @c is being dropped (first reason wins).  Its coroutines'
 * thread. */
void nbd_client_set_reason(NbdClient *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Free @exp if it was removed and nothing holds it back any more (its
 * clients, a move, a pending BH), and then the server if it was stopped
 * and that was the last thing. */
void nbd_export_maybe_free(NbdExport *exp);

/* ---- nbd-move.c ---- */

/* The BH that finishes @exp's moves, on @main_ctx (nbd_export_add()). */
AioBH *nbd_export_move_bh_new(AioContext *main_ctx, NbdExport *exp);

/* The move point: when the main thread asked @c to move, wait for its
 * requests in flight, then move its coroutine to the new context.  Called
 * by the receive loop before it reads a request.  Coroutine, on @c's
 * context. */
void nbd_co_move_point(NbdClient *c);
/* Wait until @c's socket is readable: 0, or -EAGAIN when a move was asked
 * for meanwhile (go to the move point), or -errno.  Coroutine, on @c's
 * context. */
int nbd_co_wait_request(NbdClient *c);
/* @c is gone (main thread, freeing it): if it was asked to move and did
 * not, it counts as moved. */
void nbd_client_move_forget(NbdClient *c);

/* ---- nbd-handshake.c ---- */

/* The client's coroutine: handshake on the main context, then the move
 * and the transmission phase on the export's context. */
void nbd_client_co(void *opaque);

/* ---- nbd-reply.c ---- */

/* The flusher of a client's reply queue. */
enum {
    NBD_FLUSH_IDLE,        /* queue empty, nothing scheduled */
    NBD_FLUSH_PENDING,     /* a bottom half will send the queue */
    NBD_FLUSH_WAIT_OUT,    /* the socket is full: waiting for POLLOUT */
};

/* Initialise @c's (empty) reply queue. */
void nbd_reply_queue_init(NbdClient *c);
/*
 * Queue one reply (or structured chunk) of @c: @head (@head_len bytes:
 * header, small payload, message; copied), then @data_len bytes at @data
 * (not copied: it must live until the reply is sent or dropped, which
 * passing it in @own guarantees).  @own (NULL: none) is freed with the
 * reply.  @final: the request's last reply; when it is sent or dropped,
 * the request leaves c->in_flight and @charged leaves c->bytes_in_flight,
 * and the receive loop is woken.  Never fails: out of memory breaks the
 * client, and a dead client's reply is dropped at once (so @c may be gone
 * when this returns after a final reply: touch it no more).  The first
 * reply of a batch schedules the flusher, which sends what the loop
 * iteration queued in one sendmsg().  Coroutine, on @c's context.
 */
void nbd_reply_queue(NbdClient *c, const void *head, size_t head_len,
                     const void *data, size_t data_len, void *own,
                     bool final, uint64_t charged);
/* The socket broke (@err, negative): record why, send nothing more, make
 * the receive loop see it.  Queued replies are dropped by the flusher. */
void nbd_client_broken(NbdClient *c, int err);

/* ---- nbd-requests.c ---- */

/* Transmission phase of @c; returns when the client is gone and nothing
 * of it is in flight.  Coroutine, on the export's context. */
void nbd_co_transmission(NbdClient *c);

/* ---- nbd-sockio.c (coroutine only) ---- */

/* Read what is there, waiting until something is (at most @cap bytes):
 * the count (> 0), -EPIPE at end of stream, or -errno.  @drained (NULL:
 * not tracked): true when the previous read came short, so the socket
 * had nothing more: wait for it first rather than try a read bound to
 * fail with EAGAIN; set to whether this read came short. */
ssize_t nbd_co_recv_some(int fd, void *buf, size_t cap, bool *drained);
/* Read exactly @len bytes: 0, -EPIPE at end of stream, or -errno.
 * @drained as for nbd_co_recv_some(). */
int nbd_co_read(int fd, void *buf, size_t len, bool *drained);
/* Write every byte of @iov (modified): 0 or -errno. */
int nbd_co_writev(int fd, struct iovec *iov, int iovcnt);
int nbd_co_write(int fd, const void *buf, size_t len);

/* ---- nbd-parse.c (pure) ---- */

typedef struct NbdRequest {
    uint32_t magic;
    uint16_t flags;
    uint16_t type;
    uint64_t cookie;
    uint64_t offset;
    uint32_t len;
} NbdRequest;

/* What a request is checked against. */
typedef struct NbdLimits {
    uint64_t size;
    uint32_t align;        /* offsets and lengths multiple of it */
    bool writable;
    bool structured;
    bool meta_alloc;
} NbdLimits;

void nbd_parse_request(const uint8_t hdr[NBD_REQUEST_SIZE], NbdRequest *r);
/* 0 or the NBD error to answer @r with (NBD_EINVAL, NBD_EPERM, ...). */
uint32_t nbd_check_request(const NbdRequest *r, const NbdLimits *lim);
/* The same, and on an error *@why: the reason for a human (a static
 * string, sent in the error chunk). */
uint32_t nbd_check_request_why(const NbdRequest *r, const NbdLimits *lim,
                               const char **why);
/* The name of command @type for messages ("READ"), or NULL. */
const char *nbd_cmd_name(uint16_t type);
/* An errno (positive) to the NBD error sent for it. */
uint32_t nbd_errno_to_wire(int err);

/* NBD_OPT_INFO / NBD_OPT_GO data: the export name (not terminated) and
 * the list of NBD_INFO_* requests (big-endian u16s at *@infos). */
typedef struct NbdInfoOpt {
    const char *name;
    uint32_t name_len;
    uint16_t ninfos;
    const uint8_t *infos;
} NbdInfoOpt;
/* 0, or -EINVAL when @len does not hold exactly that. */
int nbd_parse_info_opt(const uint8_t *data, uint32_t len, NbdInfoOpt *o);

/* NBD_OPT_LIST/SET_META_CONTEXT data. */
typedef struct NbdMetaOpt {
    const char *name;
    uint32_t name_len;
    uint32_t nqueries;
    const uint8_t *queries; /* each: u32 length, then the string */
} NbdMetaOpt;
/* 0, or -EINVAL when @len does not hold exactly that (every query within
 * bounds, none longer than NBD_MAX_STRING). */
int nbd_parse_meta_opt(const uint8_t *data, uint32_t len, NbdMetaOpt *o);
/* Whether query @q (length @qlen) selects base:allocation; @list: the
 * LIST form, where the bare namespace "base:" selects it too. */
bool nbd_meta_query_matches(const char *q, uint32_t qlen, bool list);

#endif /* IOTHREADD_NBD_INTERNAL_H */
