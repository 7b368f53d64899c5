/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NBD wire constants (NetworkBlockDevice/nbd doc/proto.md) and the
 * big-endian accessors the parsers use.  Everything on the wire is
 * network byte order.
 */
#ifndef IOTHREADD_NBD_PROTO_H
#define IOTHREADD_NBD_PROTO_H

#include <stdint.h>
#include <string.h>
#include <endian.h>

/* Handshake. */
#define NBD_MAGIC               0x4e42444d41474943ULL /* "NBDMAGIC" */
#define NBD_IHAVEOPT            0x49484156454f5054ULL /* "IHAVEOPT" */
#define NBD_OPT_REPLY_MAGIC     0x0003e889045565a9ULL

/* Handshake flags (server) and client flags. */
#define NBD_FLAG_FIXED_NEWSTYLE   (1u << 0)
#define NBD_FLAG_NO_ZEROES        (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE NBD_FLAG_FIXED_NEWSTYLE
#define NBD_FLAG_C_NO_ZEROES      NBD_FLAG_NO_ZEROES

/* Transmission flags. */
#define NBD_FLAG_HAS_FLAGS         (1u << 0)
#define NBD_FLAG_READ_ONLY         (1u << 1)
#define NBD_FLAG_SEND_FLUSH        (1u << 2)
#define NBD_FLAG_SEND_FUA          (1u << 3)
#define NBD_FLAG_ROTATIONAL        (1u << 4)
#define NBD_FLAG_SEND_TRIM         (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF           (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN    (1u << 8)
#define NBD_FLAG_SEND_RESIZE       (1u << 9)
#define NBD_FLAG_SEND_CACHE        (1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO    (1u << 11)

/* Options. */
#define NBD_OPT_EXPORT_NAME       1
#define NBD_OPT_ABORT             2
#define NBD_OPT_LIST              3
#define NBD_OPT_PEEK_EXPORT       4
#define NBD_OPT_STARTTLS          5
#define NBD_OPT_INFO              6
#define NBD_OPT_GO                7
#define NBD_OPT_STRUCTURED_REPLY  8
#define NBD_OPT_LIST_META_CONTEXT 9
#define NBD_OPT_SET_META_CONTEXT  10
#define NBD_OPT_EXTENDED_HEADERS  11

/* Option replies. */
#define NBD_REP_ACK              1u
#define NBD_REP_SERVER           2u
#define NBD_REP_INFO             3u
#define NBD_REP_META_CONTEXT     4u
#define NBD_REP_ERR(n)           ((1u << 31) | (n))
#define NBD_REP_ERR_UNSUP        NBD_REP_ERR(1)
#define NBD_REP_ERR_POLICY       NBD_REP_ERR(2)
#define NBD_REP_ERR_INVALID      NBD_REP_ERR(3)
#define NBD_REP_ERR_PLATFORM     NBD_REP_ERR(4)
#define NBD_REP_ERR_TLS_REQD     NBD_REP_ERR(5)
#define NBD_REP_ERR_UNKNOWN      NBD_REP_ERR(6)
#define NBD_REP_ERR_SHUTDOWN     NBD_REP_ERR(7)
#define NBD_REP_ERR_TOO_BIG      NBD_REP_ERR(9)

/* NBD_REP_INFO types. */
#define NBD_INFO_EXPORT      0
#define NBD_INFO_NAME        1
#define NBD_INFO_DESCRIPTION 2
#define NBD_INFO_BLOCK_SIZE  3

/* Transmission: requests and replies. */
#define NBD_REQUEST_MAGIC           0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC      0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC  0x668e33efu
#define NBD_REQUEST_SIZE            28 /* magic 4, flags 2, type 2,
                                          cookie 8, offset 8, length 4 */
#define NBD_SIMPLE_REPLY_SIZE       16
#define NBD_STRUCTURED_REPLY_SIZE   20

#define NBD_CMD_READ         0
#define NBD_CMD_WRITE        1
#define NBD_CMD_DISC         2
#define NBD_CMD_FLUSH        3
#define NBD_CMD_TRIM         4
#define NBD_CMD_CACHE        5
#define NBD_CMD_WRITE_ZEROES 6
#define NBD_CMD_BLOCK_STATUS 7

#define NBD_CMD_FLAG_FUA       (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE   (1u << 1)
#define NBD_CMD_FLAG_DF        (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE   (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)

#define NBD_REPLY_FLAG_DONE         (1u << 0)
#define NBD_REPLY_TYPE_NONE         0
#define NBD_REPLY_TYPE_OFFSET_DATA  1
#define NBD_REPLY_TYPE_OFFSET_HOLE  2
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_ERROR        ((1u << 15) | 1)
#define NBD_REPLY_TYPE_ERROR_OFFSET ((1u << 15) | 2)

/* base:allocation flags. */
#define NBD_STATE_HOLE (1u << 0)
#define NBD_STATE_ZERO (1u << 1)

/* Errors on the wire (Linux values, fixed by the spec). */
#define NBD_EPERM      1
#define NBD_EIO        5
#define NBD_ENOMEM     12
#define NBD_EINVAL     22
#define NBD_ENOSPC     28
#define NBD_EOVERFLOW  75
#define NBD_ENOTSUP    95
#define NBD_ESHUTDOWN  108

/* Limits of this server. */
#define NBD_MAX_STRING      4096            /* names, queries (spec) */
#define NBD_MAX_OPTION_LEN  (64u * 1024)    /* larger: disconnect */
#define NBD_MAX_PAYLOAD     (32u << 20)     /* read / write size */
#define NBD_PREFERRED_BLOCK 4096u
#define NBD_MAX_ERROR_MSG   256             /* error chunk text (spec's
                                               SHOULD for strings) */
/* A too-long write's payload is read and dropped up to this size; a
 * longer one ends the connection (the spec allows either). */
#define NBD_MAX_SKIP        (256u << 20)
#define NBD_META_BASE_ALLOCATION      "base:allocation"
#define NBD_META_BASE_ALLOCATION_ID   1u

/* Big-endian loads and stores on byte buffers (no alignment needed). */
static inline uint16_t nbd_ld16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return be16toh(v);
}
static inline uint32_t nbd_ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return be32toh(v);
}
static inline uint64_t nbd_ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return be64toh(v);
}
static inline void nbd_st16(uint8_t *p, uint16_t v)
{
    v = htobe16(v);
    memcpy(p, &v, sizeof(v));
}
static inline void nbd_st32(uint8_t *p, uint32_t v)
{
    v = htobe32(v);
    memcpy(p, &v, sizeof(v));
}
static inline void nbd_st64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, sizeof(v));
}

#endif /* IOTHREADD_NBD_PROTO_H */
