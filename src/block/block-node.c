/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Block nodes: opening and closing the image, and what is fixed at open
 * time.  Open follows QEMU's block/file-posix.c: O_RDONLY or O_RDWR,
 * O_CLOEXEC, O_DIRECT for cache.direct=on; its error texts; EROFS
 * reported as EACCES; a regular file or (beyond QEMU's "file" driver, as
 * its "host_device") a block device.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "block/block-internal.h"

/* Alignment with O_DIRECT when the kernel does not tell (no
 * STATX_DIOALIGN): a multiple of every usual logical block size. */
#define DIRECT_ALIGN_FALLBACK 4096u
/* Larger alignments are refused rather than trusted. */
#define DIRECT_ALIGN_MAX (64u * 1024)

void block_node_options_default(BlockNodeOptions *opts)
{
    if (opts) {
        *opts = (BlockNodeOptions){.aio = BLOCK_AIO_THREADS,
                                   .discard = BLOCK_DISCARD_IGNORE,
                                   .detect_zeroes = BLOCK_DETECT_ZEROES_OFF};
    }
}

static int fail(char **errp, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char **errp, int err, const char *fmt, ...)
{
    va_list ap;

    if (errp) {
        va_start(ap, fmt);
        if (vasprintf(errp, fmt, ap) < 0) {
            *errp = NULL;
        }
        va_end(ap);
    }
    return -err;
}

static bool power_of_two(uint32_t v)
{
    return v && !(v & (v - 1));
}

static int check_options(const BlockNodeOptions *opts, char **errp)
{
    if (!opts->node_name || !*opts->node_name) {
        return fail(errp, EINVAL, "Parameter 'node-name' is missing");
    }
    if (!opts->filename || !*opts->filename) {
        return fail(errp, EINVAL, "Parameter 'filename' is missing");
    }
    if ((unsigned)opts->aio > BLOCK_AIO_IO_URING ||
        (unsigned)opts->discard > BLOCK_DISCARD_UNMAP ||
        (unsigned)opts->detect_zeroes > BLOCK_DETECT_ZEROES_UNMAP) {
        return fail(errp, EINVAL, "Invalid block node options");
    }
    if (opts->detect_zeroes == BLOCK_DETECT_ZEROES_UNMAP &&
        opts->discard != BLOCK_DISCARD_UNMAP) {
        return fail(errp, EINVAL,
                    "setting detect-zeroes to unmap is not allowed without "
                    "setting discard operation to unmap");
    }
    return 0;
}

/* open(2) with QEMU's messages (util/osdep.c qemu_open_internal()). */
static int open_image(const BlockNodeOptions *opts, char **errp)
{
    int flags = (opts->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC |
                (opts->cache_direct ? O_DIRECT : 0);
    int fd = open(opts->filename, flags), err;

    if (fd >= 0) {
        return fd;
    }
    err = errno;
    if (err == EINVAL && (flags & O_DIRECT)) {
        fd = open(opts->filename, flags & ~O_DIRECT);
        if (fd >= 0) {
            close(fd);
            return fail(errp, EINVAL,
                        "Could not open '%s': filesystem does not support "
                        "O_DIRECT",
                        opts->filename);
        }
    }
    fail(errp, err, "Could not open '%s': %s", opts->filename, strerror(err));
    return err == EROFS ? -EACCES : -err;
}

/* The alignment O_DIRECT needs: the device's logical block size, or
 * what statx() says for a file; at least 512. */
static int probe_direct_alignment(BlockNode *node, char **errp)
{
    uint32_t offset_align = 0, mem_align = 0;
    struct statx stx;

    if (node->is_block_device) {
        int lbs = 0;

        if (ioctl(node->fd, BLKSSZGET, &lbs) == 0 && lbs > 0) {
            offset_align = mem_align = (uint32_t)lbs;
        }
    } else if (statx(node->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) ==
                   0 &&
               (stx.stx_mask & STATX_DIOALIGN)) {
        offset_align = stx.stx_dio_offset_align;
        mem_align = stx.stx_dio_mem_align;
    }
    if (!offset_align) {
        offset_align = DIRECT_ALIGN_FALLBACK;
    }
    if (!mem_align) {
        mem_align = DIRECT_ALIGN_FALLBACK;
    }
    offset_align = offset_align < 512 ? 512 : offset_align;
    if (!power_of_two(offset_align) || !power_of_two(mem_align) ||
        offset_align > DIRECT_ALIGN_MAX || mem_align > DIRECT_ALIGN_MAX) {
        return fail(errp, EINVAL,
                    "'%s' needs an unsupported O_DIRECT alignment (%u bytes "
                    "for offsets, %u for buffers)",
                    node->filename, offset_align, mem_align);
    }
    node->request_align = offset_align;
    node->mem_align = mem_align;
    return 0;
}

static bool file_is_memory_backed(int fd)
{
    struct statfs fs;

    return fstatfs(fd, &fs) == 0 &&
           (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC);
}

/* Type, size and alignments of the open image. */
static int probe_image(BlockNode *node, char **errp)
{
    struct stat st;
    uint64_t dev_size;
    off_t end;

    if (fstat(node->fd, &st) < 0) {
        int err = errno;

        return fail(errp, err, "Could not stat file: %s", strerror(err));
    }
    if (S_ISBLK(st.st_mode)) {
        int lbs = 512;

        node->is_block_device = true;
        if (ioctl(node->fd, BLKGETSIZE64, &dev_size) < 0) {
            int err = errno;

            return fail(errp, err, "Could not get the size of '%s': %s",
                        node->filename, strerror(err));
        }
        node->size = dev_size > INT64_MAX ? INT64_MAX : (int64_t)dev_size;
        if (ioctl(node->fd, BLKSSZGET, &lbs) < 0 || lbs <= 0) {
            lbs = 512;
        }
        node->fallocate_align = (uint32_t)lbs;
    } else if (S_ISREG(st.st_mode)) {
        end = lseek(node->fd, 0, SEEK_END);
        if (end < 0) {
            int err = errno;

            return fail(errp, err, "Could not get the size of '%s': %s",
                        node->filename, strerror(err));
        }
        node->size = end;
        node->fallocate_align = 1;
        node->memory_backed = file_is_memory_backed(node->fd);
    } else {
        return fail(errp, EINVAL,
                    "'file' driver requires '%s' to be a regular file or a "
                    "block device",
                    node->filename);
    }
    node->request_align = node->mem_align = 1;
    return node->opts.cache_direct ? probe_direct_alignment(node, errp) : 0;
}

int block_node_open(const BlockNodeOptions *opts, BlockNode **pnode,
                    char **errp)
{
    BlockNode *node;
    int ret;

    if (errp) {
        *errp = NULL;
    }
    if (!opts || !pnode) {
        return fail(errp, EINVAL, "Invalid arguments");
    }
    ret = check_options(opts, errp);
    if (ret < 0) {
        return ret;
    }
    node = calloc(1, sizeof(*node));
    if (!node) {
        return fail(errp, ENOMEM, "Out of memory");
    }
    node->fd = -1;
    ret = block_bsc_init(node);
    if (ret < 0) {
        free(node);
        return fail(errp, -ret, "Could not initialise a lock: %s",
                    strerror(-ret));
    }
    node->node_name = strdup(opts->node_name);
    node->filename = strdup(opts->filename);
    if (!node->node_name || !node->filename) {
        ret = fail(errp, ENOMEM, "Out of memory");
        goto out;
    }
    node->opts = *opts;
    node->opts.node_name = node->node_name;
    node->opts.filename = node->filename;
    node->fd = open_image(opts, errp);
    if (node->fd < 0) {
        ret = node->fd;
        goto out;
    }
    ret = probe_image(node, errp);
    if (ret < 0) {
        goto out;
    }
    node->has_zero_range = node->has_punch_hole = !opts->read_only;
    *pnode = node;
    return 0;

out:
    if (node->fd >= 0) {
        close(node->fd);
    }
    block_bsc_destroy(node);
    free(node->node_name);
    free(node->filename);
    free(node);
    return ret;
}

void block_node_close(BlockNode *node)
{
    unsigned in_flight;

    if (!node) {
        return;
    }
    in_flight = block_node_in_flight(node);
    if (in_flight) {
        /* A programming error, reported as libiothread reports misuse:
         * one line, then abort, rather than a use after free later. */
        fprintf(stderr,
                "iothreadd: block_node_close(%s): %u request(s) still in "
                "flight\n",
                node->node_name, in_flight);
        abort();
    }
    close(node->fd);
    block_stats_destroy(&node->stats);
    block_bsc_destroy(node);
    free(node->node_name);
    free(node->filename);
    free(node);
}

const char *block_node_name(const BlockNode *node)
{
    return node->node_name;
}

const char *block_node_filename(const BlockNode *node)
{
    return node->filename;
}

const BlockNodeOptions *block_node_options(const BlockNode *node)
{
    return &node->opts;
}

bool block_node_read_only(const BlockNode *node)
{
    return node->opts.read_only;
}

int64_t block_node_size(const BlockNode *node)
{
    return node->size;
}

uint32_t block_node_request_alignment(const BlockNode *node)
{
    return node->request_align;
}

bool block_node_can_fast_zero(const BlockNode *node)
{
    /* Optimistic until the file system has refused both; never on a
     * block device (see block-zero.c). */
    return !node->is_block_device && (BLOCK_LOAD(&node->has_zero_range) ||
                                      BLOCK_LOAD(&node->has_punch_hole));
}

unsigned block_node_in_flight(const BlockNode *node)
{
    return (unsigned)BLOCK_LOAD(&node->stats.in_flight_);
}

void block_node_get_stats(const BlockNode *node, BlockStatsSnapshot *out)
{
    block_stats_snapshot(&node->stats, out);
}

int block_node_set_latency_histogram(BlockNode *node, BlockStatsOp op,
                                     const uint64_t *boundaries, size_t n)
{
    return block_stats_set_histogram(&node->stats, op, boundaries, n);
}
