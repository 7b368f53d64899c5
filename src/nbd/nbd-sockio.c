/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Socket I/O for coroutines: non-blocking recv/send, and when the socket
 * has nothing (or no room), the coroutine waits for it on its context
 * (qemu_co_wait_fd), so a slow or stuck client never blocks the thread.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "nbd/nbd-internal.h"

ssize_t nbd_co_recv_some(int fd, void *buf, size_t cap, bool *drained)
{
    bool wait = drained && *drained;

    for (;;) {
        ssize_t n;

        if (wait) {
            int ret = qemu_co_wait_fd(fd, POLLIN);
            if (ret < 0) {
                return ret;
            }
            wait = false;
        }
        n = recv(fd, buf, cap, MSG_DONTWAIT);
        if (n > 0) {
            if (drained) {
                /* A stream socket gives all it has up to @cap: short
                 * means empty, and the next recv() would be EAGAIN. */
                *drained = (size_t)n < cap;
            }
            return n;
        } else if (n == 0) {
            return -EPIPE;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wait = true;
        } else if (errno != EINTR) {
            return -errno;
        }
    }
}

int nbd_co_read(int fd, void *buf, size_t len, bool *drained)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = nbd_co_recv_some(fd, p, len, drained);

        if (n < 0) {
            return (int)n;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int nbd_co_writev(int fd, struct iovec *iov, int iovcnt)
{
    while (iovcnt > 0) {
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
        ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int ret = qemu_co_wait_fd(fd, POLLOUT);
                if (ret < 0) {
                    return ret;
                }
            } else if (errno != EINTR) {
                return -errno;
            }
            continue;
        }
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

int nbd_co_write(int fd, const void *buf, size_t len)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    return nbd_co_writev(fd, &iov, 1);
}
