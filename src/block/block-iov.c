/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* I/O vectors: sizes, zero detection, zero filling, bounce copies. */
#include <stdint.h>
#include <string.h>

#include "block/block-internal.h"

int64_t block_iov_size(const struct iovec *iov, int iovcnt)
{
    uint64_t total = 0;

    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > (uint64_t)INT64_MAX - total) {
            return -1;
        }
        total += iov[i].iov_len;
    }
    return (int64_t)total;
}

/* Zero test of one buffer: the first 16 bytes, then the buffer against
 * itself shifted by 16, which memcmp does at memory speed. */
static bool buf_is_zero(const char *p, size_t len)
{
    static const char zero16[16];
    size_t head = len < 16 ? len : 16;

    return len == 0 || (memcmp(p, zero16, head) == 0 &&
                        (len <= 16 || memcmp(p, p + 16, len - 16) == 0));
}

bool block_iov_is_zero(const struct iovec *iov, int iovcnt)
{
    for (int i = 0; i < iovcnt; i++) {
        if (!buf_is_zero(iov[i].iov_base, iov[i].iov_len)) {
            return false;
        }
    }
    return true;
}

void block_iov_zero_from(const struct iovec *iov, int iovcnt, size_t skip)
{
    for (int i = 0; i < iovcnt; i++) {
        size_t len = iov[i].iov_len;

        if (skip >= len) {
            skip -= len;
            continue;
        }
        memset((char *)iov[i].iov_base + skip, 0, len - skip);
        skip = 0;
    }
}

bool block_iov_is_aligned(const struct iovec *iov, int iovcnt,
                          uint32_t align)
{
    for (int i = 0; i < iovcnt; i++) {
        if ((uintptr_t)iov[i].iov_base % align || iov[i].iov_len % align) {
            return false;
        }
    }
    return true;
}

void block_iov_to_buf(const struct iovec *iov, int iovcnt, void *buf)
{
    char *p = buf;

    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len) { /* a NULL base is allowed then */
            memcpy(p, iov[i].iov_base, iov[i].iov_len);
        }
        p += iov[i].iov_len;
    }
}

void block_iov_from_buf(const struct iovec *iov, int iovcnt,
                        const void *buf)
{
    const char *p = buf;

    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len) {
            memcpy(iov[i].iov_base, p, iov[i].iov_len);
        }
        p += iov[i].iov_len;
    }
}
