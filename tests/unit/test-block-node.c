/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Block nodes (src/block/block-node.h) on real files: open errors with
 * QEMU's texts; read / write / FUA / flush / discard / write-zeroes (each
 * flag) / detect-zeroes / block status checked byte for byte and against
 * the file's allocation (SEEK_HOLE, st_blocks, FIEMAP); the block-status
 * cache (hits, holes punched inside known data, concurrent punches); reads
 * past the end of a file that shrank; statistics and the in-flight count;
 * O_DIRECT alignment.  Every I/O case runs with aio=threads and aio=io_uring, on
 * each fd monitor (io_uring's runs the io_uring engine, poll and epoll
 * the engine's thread pool), and one on an IOThread.
 *
 * The temporary files live in $TMPDIR or /var/tmp (a disk file system:
 * ext4 on CI).  As root, a ramfs is mounted for what a file system
 * without O_DIRECT, fallocate() and SEEK_HOLE does.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iothread/coroutine.h>
#include <iothread/io-engine.h>
#include <iothread/iothread.h>
#include <iothread/thread-pool.h>

#include "../harness.h"

#include "block/block-internal.h"
#include "block/block-node.h"

/* A multiple of every file system block size we may meet. */
enum { BLK = 64 * 1024 };

static const char *tmp_dir(void)
{
    const char *dir = getenv("TMPDIR");

    return dir && *dir ? dir : "/var/tmp";
}

/* What a case opens: the options beyond the defaults and the file. */
typedef struct Setup {
    BlockDiscardMode discard;
    BlockDetectZeroes detect_zeroes;
    bool read_only;
    bool cache_direct;
    int64_t size;     /* the file's size at open */
    char fill;        /* its content, 0: sparse */
    const char *dir;  /* NULL: tmp_dir() */
    bool loop_device; /* open a loop device on the file instead (root) */
} Setup;

typedef struct Job Job;
typedef void JobBody(Job *j);

struct Job {
    Setup setup;
    BlockAioMode aio;
    char path[512];
    int fd; /* the test's own descriptor of the file */
    int loop_fd; /* with setup.loop_device: the device, attached */
    char loop_path[64];
    BlockNode *node;
    JobBody *body;
    bool done; /* atomic: the body may run on an IOThread */
    int failures;
    char detail[300];
};

static const char *aio_name(BlockAioMode aio)
{
    return aio == BLOCK_AIO_IO_URING ? "aio=io_uring" : "aio=threads";
}

static void job_fail(Job *j, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void job_fail(Job *j, int line, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (j->failures++) {
        return;
    }
    n = snprintf(j->detail, sizeof(j->detail), "%s, line %d: ",
                 aio_name(j->aio), line);
    va_start(ap, fmt);
    vsnprintf(j->detail + n, sizeof(j->detail) - (size_t)n, fmt, ap);
    va_end(ap);
}

#define JOB_CHECK(j, cond)                                                     \
    do {                                                                       \
        if (!(cond)) {                                                         \
            job_fail((j), __LINE__, "%s", #cond);                              \
        }                                                                      \
    } while (0)

#define JOB_EQ(j, got, want)                                                   \
    do {                                                                       \
        long long got_ = (long long)(got), want_ = (long long)(want);          \
        if (got_ != want_) {                                                   \
            job_fail((j), __LINE__, "%s: expected %lld, got %lld", #got,       \
                     want_, got_);                                             \
        }                                                                      \
    } while (0)

static void fill(char *buf, size_t len, char seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (char)(seed + (char)(i % 251));
    }
}

static bool all_bytes(const char *buf, size_t len, char c)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != c) {
            return false;
        }
    }
    return true;
}

/* The file's bytes [@offset, @offset + @len), read with pread. */
static bool file_is(Job *j, int64_t offset, size_t len, char c)
{
    char *buf = malloc(len);
    bool ok = buf && pread(j->fd, buf, len, offset) == (ssize_t)len &&
              all_bytes(buf, len, c);

    free(buf);
    return ok;
}

/* The node's bytes, read through the node. */
static bool node_reads(Job *j, int64_t offset, size_t len, char c)
{
    char *buf = malloc(len);
    struct iovec v = {buf, len};
    bool ok = buf && block_co_preadv(j->node, offset, (int64_t)len, &v, 1) == 0 &&
              all_bytes(buf, len, c);

    free(buf);
    return ok;
}

static int64_t file_blocks(Job *j)
{
    struct stat st;

    return fstat(j->fd, &st) == 0 ? (int64_t)st.st_blocks : -1;
}

/* Attach a free loop device to j->fd, cleared automatically when its
 * last descriptor closes (even if this program dies). */
static bool attach_loop(Job *j)
{
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

    for (int tries = 0; ctl >= 0 && tries < 10; tries++) {
        struct loop_info64 info = {.lo_flags = LO_FLAGS_AUTOCLEAR};
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);

        if (n < 0) {
            break;
        }
        snprintf(j->loop_path, sizeof(j->loop_path), "/dev/loop%d", n);
        j->loop_fd = open(j->loop_path, O_RDWR | O_CLOEXEC);
        if (j->loop_fd < 0) {
            break;
        }
        if (ioctl(j->loop_fd, LOOP_SET_FD, j->fd) == 0) {
            if (ioctl(j->loop_fd, LOOP_SET_STATUS64, &info) < 0) {
                test_fail(__FILE__, __LINE__, "LOOP_SET_STATUS64: %s",
                          strerror(errno));
            }
            close(ctl);
            return true;
        }
        close(j->loop_fd); /* EBUSY: somebody took it first */
        j->loop_fd = -1;
    }
    test_fail(__FILE__, __LINE__, "no loop device: %s", strerror(errno));
    if (ctl >= 0) {
        close(ctl);
    }
    return false;
}

/* Make the file and open the node on it; false (and a failure) if
 * either does not work. */
static bool job_open(Job *j)
{
    BlockNodeOptions opts;
    char *err = NULL;
    int ret;

    snprintf(j->path, sizeof(j->path), "%s/iothreadd-block-XXXXXX",
             j->setup.dir ? j->setup.dir : tmp_dir());
    j->fd = mkstemp(j->path);
    if (j->fd < 0 || ftruncate(j->fd, j->setup.size) < 0) {
        test_fail(__FILE__, __LINE__, "cannot make %s: %s", j->path,
                  strerror(errno));
        return false;
    }
    if (j->setup.fill) {
        char *buf = malloc((size_t)j->setup.size);
        bool ok = buf;

        if (ok) {
            memset(buf, j->setup.fill, (size_t)j->setup.size);
            ok = pwrite(j->fd, buf, (size_t)j->setup.size, 0) ==
                     j->setup.size &&
                 fsync(j->fd) == 0;
        }
        free(buf);
        if (!ok) {
            test_fail(__FILE__, __LINE__, "cannot fill %s", j->path);
            return false;
        }
    }
    if (j->setup.loop_device && !attach_loop(j)) {
        return false;
    }
    block_node_options_default(&opts);
    opts.node_name = "n0";
    opts.filename = j->setup.loop_device ? j->loop_path : j->path;
    opts.aio = j->aio;
    opts.discard = j->setup.discard;
    opts.detect_zeroes = j->setup.detect_zeroes;
    opts.read_only = j->setup.read_only;
    opts.cache_direct = j->setup.cache_direct;
    ret = block_node_open(&opts, &j->node, &err);
    if (ret < 0) {
        test_fail(__FILE__, __LINE__, "%s: open: %d %s", aio_name(j->aio),
                  ret, err ? err : "(no message)");
        free(err);
        return false;
    }
    return true;
}

static void job_close(Job *j)
{
    if (j->node) {
        CHECK_EQ_INT(block_node_in_flight(j->node), 0);
        block_node_close(j->node);
        j->node = NULL;
    }
    if (j->loop_fd >= 0) {
        ioctl(j->loop_fd, LOOP_CLR_FD, 0);
        close(j->loop_fd);
    }
    if (j->fd >= 0) {
        close(j->fd);
        unlink(j->path);
    }
    if (j->failures) {
        test_fail(__FILE__, __LINE__, "%d failure(s), first: %s",
                  j->failures, j->detail);
    }
}

static void job_entry(void *opaque)
{
    Job *j = opaque;

    j->body(j);
    __atomic_store_n(&j->done, true, __ATOMIC_RELEASE);
}

/* Run @j's body in a coroutine on a fresh context of @fdmon, then check
 * that the I/O went where aio= says: the engine for io_uring, the pool
 * (and never the engine) for threads. */
static void run_on_context(Job *j, AioFdmon fdmon)
{
    AioContext *ctx = NULL;
    AioIoStats io;
    ThreadPoolStats pool;
    Coroutine *co;

    if (aio_context_new(&ctx, fdmon) < 0) {
        test_fail(__FILE__, __LINE__, "no context");
        return;
    }
    co = aio_co_create(ctx, job_entry, j, 0);
    if (!co) {
        test_fail(__FILE__, __LINE__, "no coroutine");
        aio_context_free(ctx);
        return;
    }
    qemu_coroutine_enter(co);
    while (!__atomic_load_n(&j->done, __ATOMIC_ACQUIRE)) {
        aio_poll(ctx, true);
    }
    aio_io_get_stats(ctx, &io);
    aio_thread_pool_get_stats(ctx, &pool);
    if (j->aio == BLOCK_AIO_IO_URING) {
        CHECK(io.submitted > 0);
        CHECK_EQ_INT(io.in_flight, 0);
    } else {
        CHECK_EQ_INT(io.submitted, 0);
        CHECK(pool.completed > 0);
    }
    aio_context_free(ctx);
}

/* @body with @setup, once per aio= mode, on a context of @fdmon. */
static void each_aio(AioFdmon fdmon, const Setup *setup, JobBody *body)
{
    static const BlockAioMode modes[] = {BLOCK_AIO_THREADS,
                                         BLOCK_AIO_IO_URING};

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        Job j = {.setup = *setup, .aio = modes[i], .fd = -1, .loop_fd = -1, .body = body};

        if (job_open(&j)) {
            run_on_context(&j, fdmon);
        }
        job_close(&j);
    }
}

/* ------------------------------------------------------------------------
 * Read, write, FUA, flush
 */

static void rw_body(Job *j)
{
    static char a[BLK], b[2 * BLK], back[4 * BLK];
    struct iovec w[] = {{a, sizeof(a)}, {b, sizeof(b)}};
    struct iovec one = {a, sizeof(a)};
    struct iovec r[] = {{back, 100}, {back + 100, sizeof(back) - 100}};
    char file[4 * BLK];

    fill(a, sizeof(a), 'a');
    fill(b, sizeof(b), 'b');
    JOB_EQ(j, block_co_pwritev(j->node, BLK, 3 * BLK, w, 2, BLOCK_REQ_FUA), 0);
    JOB_EQ(j, block_co_pwritev(j->node, 0, BLK, &one, 1, 0), 0);
    JOB_EQ(j, block_co_flush(j->node), 0);
    memset(back, 0x55, sizeof(back));
    JOB_EQ(j, block_co_preadv(j->node, 0, 4 * BLK, r, 2), 0);
    JOB_CHECK(j, memcmp(back, a, BLK) == 0);
    JOB_CHECK(j, memcmp(back + BLK, a, BLK) == 0);
    JOB_CHECK(j, memcmp(back + 2 * BLK, b, 2 * BLK) == 0);
    /* The file holds the same bytes. */
    JOB_EQ(j, pread(j->fd, file, sizeof(file), 0), sizeof(file));
    JOB_CHECK(j, memcmp(file, back, sizeof(file)) == 0);
    /* Nothing to transfer is not an error. */
    JOB_EQ(j, block_co_preadv(j->node, 0, 0, NULL, 0), 0);
}

TEST_FDMON(write_fua_flush_read_back_byte_for_byte)
{
    Setup s = {.size = 4 * BLK};

    each_aio(fdmon, &s, rw_body);
}

static void bad_request_body(Job *j)
{
    static char buf[BLK];
    struct iovec v = {buf, sizeof(buf)};
    int64_t size = block_node_size(j->node);
    int64_t pnum;
    int status;

    JOB_EQ(j, size, 2 * BLK);
    JOB_EQ(j, block_co_preadv(j->node, size - BLK + 1, BLK, &v, 1), -EINVAL);
    JOB_EQ(j, block_co_preadv(j->node, -1, BLK, &v, 1), -EINVAL);
    JOB_EQ(j, block_co_preadv(j->node, INT64_MAX, BLK, &v, 1), -EINVAL);
    JOB_EQ(j, block_co_preadv(j->node, 0, BLK - 1, &v, 1), -EINVAL);
    JOB_EQ(j, block_co_preadv(j->node, 0, BLK, &v, -1), -EINVAL);
    JOB_EQ(j, block_co_pwritev(j->node, size, BLK, &v, 1, 0), -EINVAL);
    JOB_EQ(j, block_co_pwritev(j->node, 0, BLK, &v, 1, 0x80), -EINVAL);
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, size - 1, 2, 0), -EINVAL);
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 0, BLK, 0x80), -EINVAL);
    JOB_EQ(j, block_co_pdiscard(j->node, 0, size + 1), -EINVAL);
    JOB_EQ(j, block_co_block_status(j->node, size, 1, &pnum, &status),
           -EINVAL);
    JOB_EQ(j, block_co_block_status(j->node, 0, 0, &pnum, &status), -EINVAL);
    JOB_EQ(j, block_co_cache(j->node, 0, size + 1), -EINVAL);
    JOB_EQ(j, block_co_cache(j->node, 0, size), 0);
    /* Something must have gone to the engine or the pool. */
    JOB_EQ(j, block_co_flush(j->node), 0);
    JOB_CHECK(j, file_is(j, 0, 2 * BLK, 'q'));
}

TEST_FDMON(requests_outside_the_node_or_with_bad_flags_are_einval)
{
    Setup s = {.size = 2 * BLK, .fill = 'q'};

    each_aio(fdmon, &s, bad_request_body);
}

/* ------------------------------------------------------------------------
 * Discard, write-zeroes, detect-zeroes
 */

static void discard_body(Job *j)
{
    bool unmap = j->setup.discard == BLOCK_DISCARD_UNMAP;
    int64_t before = file_blocks(j);

    JOB_EQ(j, block_co_pdiscard(j->node, BLK, BLK), 0);
    JOB_EQ(j, block_co_pdiscard(j->node, 0, 0), 0);
    if (unmap) {
        JOB_EQ(j, lseek(j->fd, BLK, SEEK_HOLE), BLK);
        JOB_EQ(j, lseek(j->fd, BLK, SEEK_DATA), 2 * BLK);
        JOB_CHECK(j, file_blocks(j) < before);
        JOB_CHECK(j, node_reads(j, BLK, BLK, 0));
    } else {
        JOB_EQ(j, lseek(j->fd, 0, SEEK_HOLE), 3 * BLK);
        JOB_EQ(j, file_blocks(j), before);
        JOB_CHECK(j, node_reads(j, BLK, BLK, 'd'));
    }
    JOB_CHECK(j, node_reads(j, 0, BLK, 'd'));
    JOB_CHECK(j, node_reads(j, 2 * BLK, BLK, 'd'));
}

TEST_FDMON(discard_unmap_punches_a_hole_discard_ignore_does_not)
{
    Setup unmap = {.size = 3 * BLK, .fill = 'd',
                   .discard = BLOCK_DISCARD_UNMAP};
    Setup ignore = {.size = 3 * BLK, .fill = 'd'};

    each_aio(fdmon, &unmap, discard_body);
    each_aio(fdmon, &ignore, discard_body);
}

/* File [0, 5 BLK) full of 'z'; block i gets write-zeroes with flags i. */
static void zeroes_body(Job *j)
{
    bool unmap = j->setup.discard == BLOCK_DISCARD_UNMAP;
    int64_t blocks = file_blocks(j);

    JOB_CHECK(j, block_node_can_fast_zero(j->node));
    /* No flags: zeroes that stay allocated. */
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 0, BLK, 0), 0);
    JOB_CHECK(j, file_is(j, 0, BLK, 0));
    JOB_EQ(j, file_blocks(j), blocks);
    /* MAY_UNMAP: a hole with discard=unmap, allocated zeroes without. */
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, BLK, BLK, BLOCK_REQ_MAY_UNMAP),
           0);
    JOB_CHECK(j, file_is(j, BLK, BLK, 0));
    if (unmap) {
        JOB_EQ(j, lseek(j->fd, BLK, SEEK_HOLE), BLK);
        JOB_CHECK(j, file_blocks(j) < blocks);
        blocks = file_blocks(j);
    } else {
        JOB_EQ(j, file_blocks(j), blocks);
    }
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 2 * BLK, BLK, BLOCK_REQ_FUA), 0);
    JOB_CHECK(j, file_is(j, 2 * BLK, BLK, 0));
    /* NO_FALLBACK: fine where fallocate works. */
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 3 * BLK, BLK,
                                     BLOCK_REQ_NO_FALLBACK),
           0);
    JOB_CHECK(j, file_is(j, 3 * BLK, BLK, 0));
    JOB_EQ(j, file_blocks(j), blocks);
    /* Untouched. */
    JOB_CHECK(j, file_is(j, 4 * BLK, BLK, 'z'));
    JOB_CHECK(j, node_reads(j, 0, 4 * BLK, 0));
}

TEST_FDMON(write_zeroes_each_flag_zeroes_and_unmaps_only_when_asked)
{
    Setup unmap = {.size = 5 * BLK, .fill = 'z',
                   .discard = BLOCK_DISCARD_UNMAP};
    Setup ignore = {.size = 5 * BLK, .fill = 'z'};

    each_aio(fdmon, &unmap, zeroes_body);
    each_aio(fdmon, &ignore, zeroes_body);
}

/* Write-zeroes where fallocate() is refused (the node is told so, as the
 * first EOPNOTSUPP would): zero buffers, in chunks; -ENOTSUP with
 * NO_FALLBACK; discard a no-op. */
static void fallback_body(Job *j)
{
    int64_t len = 2 * 1024 * 1024 + BLK; /* more than one 1 MiB chunk */
    int64_t blocks = file_blocks(j);

    BLOCK_STORE(&j->node->has_zero_range, false);
    BLOCK_STORE(&j->node->has_punch_hole, false);
    JOB_CHECK(j, !block_node_can_fast_zero(j->node));
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 0, BLK, BLOCK_REQ_NO_FALLBACK),
           -ENOTSUP);
    JOB_CHECK(j, file_is(j, 0, BLK, 'f'));
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, BLK, len,
                                     BLOCK_REQ_MAY_UNMAP | BLOCK_REQ_FUA),
           0);
    JOB_CHECK(j, file_is(j, 0, BLK, 'f'));
    JOB_CHECK(j, file_is(j, BLK, (size_t)len, 0));
    JOB_CHECK(j, file_is(j, BLK + len, BLK, 'f'));
    JOB_EQ(j, file_blocks(j), blocks); /* written, not punched */
    JOB_EQ(j, block_co_pdiscard(j->node, 0, BLK), 0);
    JOB_CHECK(j, file_is(j, 0, BLK, 'f'));
}

TEST_FDMON(write_zeroes_without_fallocate_writes_zeroes_unless_no_fallback)
{
    Setup s = {.size = 2 * 1024 * 1024 + 3 * BLK, .fill = 'f',
               .discard = BLOCK_DISCARD_UNMAP};

    each_aio(fdmon, &s, fallback_body);
}

/* FIEMAP's flags for the extent at @offset, or -1. */
static int extent_flags(Job *j, int64_t offset)
{
    struct {
        struct fiemap map;
        struct fiemap_extent ext[1];
    } fm = {.map = {.fm_start = (uint64_t)offset, .fm_length = 1,
                    .fm_flags = FIEMAP_FLAG_SYNC, .fm_extent_count = 1}};

    if (ioctl(j->fd, FS_IOC_FIEMAP, &fm.map) < 0 ||
        fm.map.fm_mapped_extents != 1) {
        return -1;
    }
    return (int)fm.ext[0].fe_flags;
}

/* File [0, 2 BLK) full of 'x'; a buffer of zeroes written over the first
 * block, and one that is not quite zero over the second. */
static void detect_zeroes_body(Job *j)
{
    static char zero[BLK], almost[BLK];
    struct iovec z = {zero, sizeof(zero)}, a = {almost, sizeof(almost)};
    int64_t blocks = file_blocks(j);
    BlockStatsSnapshot st;
    int flags;

    almost[BLK - 1] = 1;
    JOB_EQ(j, block_co_pwritev(j->node, 0, BLK, &z, 1, 0), 0);
    JOB_EQ(j, block_co_pwritev(j->node, BLK, BLK, &a, 1, 0), 0);
    JOB_CHECK(j, file_is(j, 0, BLK, 0));
    JOB_CHECK(j, file_is(j, BLK, BLK - 1, 0));
    flags = extent_flags(j, 0);
    switch (j->setup.detect_zeroes) {
    case BLOCK_DETECT_ZEROES_OFF: /* written as data */
        JOB_EQ(j, file_blocks(j), blocks);
        JOB_CHECK(j, flags >= 0 && !(flags & FIEMAP_EXTENT_UNWRITTEN));
        break;
    case BLOCK_DETECT_ZEROES_ON: /* zeroed in place: allocated, unwritten */
        JOB_EQ(j, file_blocks(j), blocks);
        JOB_CHECK(j, flags >= 0 && (flags & FIEMAP_EXTENT_UNWRITTEN));
        break;
    case BLOCK_DETECT_ZEROES_UNMAP: /* a hole */
        JOB_EQ(j, lseek(j->fd, 0, SEEK_DATA), BLK);
        JOB_CHECK(j, file_blocks(j) < blocks);
        break;
    }
    /* The almost-zero block is data in every mode. */
    flags = extent_flags(j, BLK);
    JOB_CHECK(j, flags >= 0 && !(flags & FIEMAP_EXTENT_UNWRITTEN));
    /* Counted as writes of their size. */
    block_node_get_stats(j->node, &st);
    JOB_EQ(j, st.wr_operations, 2);
    JOB_EQ(j, st.wr_bytes, 2 * BLK);
}

TEST_FDMON(detect_zeroes_off_on_unmap_write_data_zero_range_hole)
{
    Setup off = {.size = 2 * BLK, .fill = 'x'};
    Setup on = {.size = 2 * BLK, .fill = 'x',
                .detect_zeroes = BLOCK_DETECT_ZEROES_ON};
    Setup unmap = {.size = 2 * BLK, .fill = 'x',
                   .detect_zeroes = BLOCK_DETECT_ZEROES_UNMAP,
                   .discard = BLOCK_DISCARD_UNMAP};

    each_aio(fdmon, &off, detect_zeroes_body);
    each_aio(fdmon, &on, detect_zeroes_body);
    each_aio(fdmon, &unmap, detect_zeroes_body);
}

/* ------------------------------------------------------------------------
 * Block status, shrinking files
 */

static void expect_status(Job *j, int line, int64_t offset, int64_t bytes,
                          int want_status, int64_t want_pnum)
{
    int64_t pnum = -1;
    int status = -1;
    int ret = block_co_block_status(j->node, offset, bytes, &pnum, &status);

    if (ret != 0 || status != want_status || pnum != want_pnum) {
        job_fail(j, line,
                 "block status at %lld+%lld: ret %d status %d pnum %lld, "
                 "expected status %d pnum %lld",
                 (long long)offset, (long long)bytes, ret, status,
                 (long long)pnum, want_status, (long long)want_pnum);
    }
}

#define EXPECT_STATUS(j, off, len, st, pnum)                                   \
    expect_status((j), __LINE__, (off), (len), (st), (pnum))

/* Sparse: data at [0, BLK) and [3 BLK, 4 BLK), 8 BLK long. */
static void status_body(Job *j)
{
    static char buf[8 * BLK];
    int64_t size = 8 * BLK, off = 0;

    memset(buf, 's', BLK);
    JOB_EQ(j, pwrite(j->fd, buf, BLK, 0), BLK);
    JOB_EQ(j, pwrite(j->fd, buf, BLK, 3 * BLK), BLK);
    EXPECT_STATUS(j, 0, size, BLOCK_STATUS_DATA, BLK);
    EXPECT_STATUS(j, 0, 100, BLOCK_STATUS_DATA, 100);
    EXPECT_STATUS(j, 100, size - 100, BLOCK_STATUS_DATA, BLK - 100);
    EXPECT_STATUS(j, BLK, size - BLK, BLOCK_STATUS_ZERO, 2 * BLK);
    EXPECT_STATUS(j, BLK, BLK, BLOCK_STATUS_ZERO, BLK);
    EXPECT_STATUS(j, 3 * BLK, size - 3 * BLK, BLOCK_STATUS_DATA, BLK);
    /* The hole at the end of the file (SEEK_DATA answers ENXIO). */
    EXPECT_STATUS(j, 4 * BLK, size - 4 * BLK, BLOCK_STATUS_ZERO, 4 * BLK);
    EXPECT_STATUS(j, size - 1, 1, BLOCK_STATUS_ZERO, 1);

    /* The map agrees with the bytes, byte for byte. */
    {
        struct iovec v = {buf, sizeof(buf)};

        JOB_EQ(j, block_co_preadv(j->node, 0, size, &v, 1), 0);
    }
    while (off < size) {
        int64_t pnum = 0;
        int status = 0;

        if (block_co_block_status(j->node, off, size - off, &pnum, &status) ||
            pnum <= 0) {
            job_fail(j, __LINE__, "block status failed at %lld",
                     (long long)off);
            break;
        }
        JOB_CHECK(j, all_bytes(buf + off, (size_t)pnum,
                               status == BLOCK_STATUS_ZERO ? 0 : 's'));
        off += pnum;
    }
}

TEST_FDMON(block_status_of_a_sparse_file_matches_its_bytes)
{
    Setup s = {.size = 8 * BLK};

    each_aio(fdmon, &s, status_body);
}

static void shrink_body(Job *j)
{
    static char buf[4 * BLK];
    struct iovec v = {buf, sizeof(buf)};
    int64_t eof = BLK + BLK / 2;

    JOB_EQ(j, ftruncate(j->fd, eof), 0);
    JOB_EQ(j, block_node_size(j->node), 4 * BLK);
    memset(buf, 0x55, sizeof(buf));
    JOB_EQ(j, block_co_preadv(j->node, 0, 4 * BLK, &v, 1), 0);
    JOB_CHECK(j, all_bytes(buf, (size_t)eof, 'k'));
    JOB_CHECK(j, all_bytes(buf + eof, (size_t)(4 * BLK - eof), 0));
    /* Wholly beyond the end of the file. */
    memset(buf, 0x55, sizeof(buf));
    v.iov_len = 2 * BLK;
    JOB_EQ(j, block_co_preadv(j->node, 2 * BLK, 2 * BLK, &v, 1), 0);
    JOB_CHECK(j, all_bytes(buf, 2 * BLK, 0));
    EXPECT_STATUS(j, 2 * BLK, 2 * BLK, BLOCK_STATUS_ZERO, 2 * BLK);
}

TEST_FDMON(reads_past_the_end_of_a_file_that_shrank_read_zeroes)
{
    Setup s = {.size = 4 * BLK, .fill = 'k'};

    each_aio(fdmon, &s, shrink_body);
}

/* ------------------------------------------------------------------------
 * The block-status cache (block-status-cache.c): known data answered
 * without lseek(), forgotten where a hole may be punched
 */

/* What the file itself says at @offset, through the test's own fd. */
static int file_status(Job *j, int64_t offset)
{
    return lseek(j->fd, offset, SEEK_DATA) == offset ? BLOCK_STATUS_DATA
                                                      : BLOCK_STATUS_ZERO;
}

/* [0, 4 BLK) all data and known as such; then holes punched in its
 * middle, at the start of what is left, and over all of it. */
static void punch_known_data_body(Job *j)
{
    EXPECT_STATUS(j, 0, 4 * BLK, BLOCK_STATUS_DATA, 4 * BLK);
    JOB_EQ(j, block_co_pdiscard(j->node, BLK, BLK), 0);
    EXPECT_STATUS(j, BLK, 3 * BLK, BLOCK_STATUS_ZERO, BLK);
    EXPECT_STATUS(j, 0, 4 * BLK, BLOCK_STATUS_DATA, BLK);
    EXPECT_STATUS(j, 2 * BLK, 2 * BLK, BLOCK_STATUS_DATA, 2 * BLK);
    JOB_EQ(j, block_co_pdiscard(j->node, 2 * BLK, BLK), 0);
    EXPECT_STATUS(j, 2 * BLK, 2 * BLK, BLOCK_STATUS_ZERO, BLK);
    EXPECT_STATUS(j, 3 * BLK, BLK, BLOCK_STATUS_DATA, BLK);
    JOB_EQ(j, block_co_pdiscard(j->node, 0, 4 * BLK), 0);
    EXPECT_STATUS(j, 0, 4 * BLK, BLOCK_STATUS_ZERO, 4 * BLK);
    JOB_CHECK(j, node_reads(j, 0, 4 * BLK, 0));
}

TEST_FDMON(block_status_sees_a_hole_punched_inside_known_data)
{
    Setup s = {.size = 4 * BLK, .fill = 'p', .discard = BLOCK_DISCARD_UNMAP};

    each_aio(fdmon, &s, punch_known_data_body);
}

/* [0, 4 BLK) all data and known as such; write-zeroes that unmap, that
 * zero in place (a hole or not, as the file system makes it), and a write
 * of zeroes that detect-zeroes=unmap turns into a hole. */
static void zero_known_data_body(Job *j)
{
    static char zero[BLK];
    struct iovec v = {zero, sizeof(zero)};

    EXPECT_STATUS(j, 0, 4 * BLK, BLOCK_STATUS_DATA, 4 * BLK);
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, BLK, BLK, BLOCK_REQ_MAY_UNMAP),
           0);
    EXPECT_STATUS(j, BLK, BLK, BLOCK_STATUS_ZERO, BLK);
    EXPECT_STATUS(j, 2 * BLK, 2 * BLK, BLOCK_STATUS_DATA, 2 * BLK);
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 2 * BLK, BLK, 0), 0);
    EXPECT_STATUS(j, 2 * BLK, BLK, file_status(j, 2 * BLK), BLK);
    if (j->setup.detect_zeroes == BLOCK_DETECT_ZEROES_UNMAP) {
        EXPECT_STATUS(j, 3 * BLK, BLK, BLOCK_STATUS_DATA, BLK);
        JOB_EQ(j, block_co_pwritev(j->node, 3 * BLK, BLK, &v, 1, 0), 0);
        EXPECT_STATUS(j, 3 * BLK, BLK, BLOCK_STATUS_ZERO, BLK);
    }
    JOB_CHECK(j, node_reads(j, BLK, 2 * BLK, 0));
}

TEST_FDMON(block_status_sees_write_zeroes_inside_known_data)
{
    Setup s = {.size = 4 * BLK, .fill = 'w', .discard = BLOCK_DISCARD_UNMAP};

    each_aio(fdmon, &s, zero_known_data_body);
    s.detect_zeroes = BLOCK_DETECT_ZEROES_UNMAP;
    each_aio(fdmon, &s, zero_known_data_body);
}

/* Data at [0, 2 BLK) of 4 BLK.  The first query, 100 bytes long, makes
 * the whole extent known; the next ones inside it give the same answer,
 * clipped to the request and to the extent.  They come from the cache:
 * a hole punched behind the node's back (another process) is not seen,
 * which is safe, since the range then reads as zeroes. */
static void known_data_body(Job *j)
{
    static char buf[2 * BLK];

    memset(buf, 'h', sizeof(buf));
    JOB_EQ(j, pwrite(j->fd, buf, sizeof(buf), 0), sizeof(buf));
    EXPECT_STATUS(j, 0, 100, BLOCK_STATUS_DATA, 100);
    EXPECT_STATUS(j, BLK, 100, BLOCK_STATUS_DATA, 100);
    EXPECT_STATUS(j, BLK, 100, BLOCK_STATUS_DATA, 100);
    EXPECT_STATUS(j, BLK, 3 * BLK, BLOCK_STATUS_DATA, BLK);
    EXPECT_STATUS(j, 2 * BLK, 2 * BLK, BLOCK_STATUS_ZERO, 2 * BLK);
    JOB_EQ(j, fallocate(j->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                        BLK),
           0);
    JOB_EQ(j, file_status(j, 0), BLOCK_STATUS_ZERO);
    EXPECT_STATUS(j, 0, 4 * BLK, BLOCK_STATUS_DATA, 2 * BLK);
    JOB_CHECK(j, node_reads(j, 0, BLK, 0));
    JOB_CHECK(j, node_reads(j, BLK, BLK, 'h'));
}

TEST_FDMON(block_status_answers_inside_known_data_from_its_cache)
{
    Setup s = {.size = 4 * BLK};

    each_aio(fdmon, &s, known_data_body);
}

/* The generation rule, step by step as two threads could interleave: an
 * answer seeked before an invalidation (or while the punch ran) is never
 * stored after it. */
TEST(block_status_cache_drops_an_answer_seeked_before_an_invalidation)
{
    Job j = {.setup = {.size = 4 * BLK, .fill = 'g'}, .fd = -1,
             .loop_fd = -1};
    uint64_t before, during, after;
    int64_t end = 0;

    if (job_open(&j)) {
        /* Seeked before the punch, stored once it started or ended. */
        CHECK(!block_bsc_lookup(j.node, 0, &end, &before));
        block_bsc_invalidate(j.node, BLK, BLK);
        block_bsc_store(j.node, before, 0, 4 * BLK);
        CHECK(!block_bsc_lookup(j.node, 0, &end, &during));
        block_bsc_invalidate(j.node, BLK, BLK);
        block_bsc_store(j.node, before, 0, 4 * BLK);
        /* Seeked while it ran, stored after it. */
        block_bsc_store(j.node, during, 0, 4 * BLK);
        CHECK(!block_bsc_lookup(j.node, 0, &end, &after));
        /* Seeked after it: stored; an extent that touches it joins it. */
        block_bsc_store(j.node, after, 0, BLK);
        CHECK(block_bsc_lookup(j.node, 0, &end, &after) && end == BLK);
        block_bsc_store(j.node, after, BLK, 2 * BLK);
        CHECK(block_bsc_lookup(j.node, 0, &end, &after) && end == 2 * BLK);
        CHECK(!block_bsc_lookup(j.node, 2 * BLK, &end, &after));
    }
    job_close(&j);
}

/* Pages of [0, @len) of the file in the page cache, or -1. */
static long resident_pages(Job *j, size_t len)
{
    long page = sysconf(_SC_PAGESIZE), n = 0;
    size_t pages = (len + (size_t)page - 1) / (size_t)page;
    unsigned char *vec = calloc(pages, 1);
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, j->fd, 0);

    if (!vec || map == MAP_FAILED || mincore(map, len, vec) < 0) {
        n = -1;
    } else {
        for (size_t i = 0; i < pages; i++) {
            n += vec[i] & 1;
        }
    }
    if (map != MAP_FAILED) {
        munmap(map, len);
    }
    free(vec);
    return n;
}

/* NBD_CMD_CACHE: the range is read ahead into the page cache. */
static void cache_body(Job *j)
{
    size_t len = 4 * BLK;
    long want = (long)len / sysconf(_SC_PAGESIZE), got;
    TestStall stall = {0};

    /* Clean pages (the set-up synced them) are dropped on demand. */
    JOB_EQ(j, posix_fadvise(j->fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    got = resident_pages(j, len);
    JOB_CHECK(j, got >= 0 && got < want);
    JOB_EQ(j, block_co_cache(j->node, 0, (int64_t)len), 0);
    while ((got = resident_pages(j, len)) >= 0 && got < want &&
           !test_stalled(&stall, got)) {
        usleep(1000);
    }
    JOB_EQ(j, got, want);
    JOB_CHECK(j, node_reads(j, 0, len, 'c'));
}

TEST_FDMON(cache_reads_the_range_ahead_into_the_page_cache)
{
    Setup s = {.size = 4 * BLK, .fill = 'c'};

    each_aio(fdmon, &s, cache_body);
}

/* ------------------------------------------------------------------------
 * Statistics and the in-flight count
 */

static void stats_body(Job *j)
{
    static char buf[2 * BLK];
    struct iovec one = {buf, BLK}, two = {buf, 2 * BLK};
    BlockStatsSnapshot st;

    block_node_get_stats(j->node, &st);
    JOB_EQ(j, st.rd_operations + st.wr_operations + st.wr_highest_offset, 0);
    JOB_EQ(j, st.in_flight, 0);

    memset(buf, 'w', sizeof(buf));
    JOB_EQ(j, block_co_pwritev(j->node, 2 * BLK, BLK, &one, 1, 0), 0);
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 0, BLK, 0), 0);
    JOB_EQ(j, block_co_preadv(j->node, 0, 2 * BLK, &two, 1), 0);
    JOB_EQ(j, block_co_flush(j->node), 0);
    JOB_EQ(j, block_co_pdiscard(j->node, BLK, BLK), 0);
    /* Failures: outside the node. */
    JOB_EQ(j, block_co_preadv(j->node, 4 * BLK, BLK, &one, 1), -EINVAL);
    JOB_EQ(j, block_co_pwritev(j->node, 4 * BLK, BLK, &one, 1, 0), -EINVAL);
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 4 * BLK, BLK, 0), -EINVAL);
    JOB_EQ(j, block_co_pdiscard(j->node, 4 * BLK, BLK), -EINVAL);

    block_node_get_stats(j->node, &st);
    JOB_EQ(j, st.rd_bytes, 2 * BLK);
    JOB_EQ(j, st.wr_bytes, 2 * BLK);
    JOB_EQ(j, st.unmap_bytes, BLK);
    JOB_EQ(j, st.rd_operations, 1);
    JOB_EQ(j, st.wr_operations, 2);
    JOB_EQ(j, st.flush_operations, 1);
    JOB_EQ(j, st.unmap_operations, 1);
    JOB_EQ(j, st.failed_rd_operations, 1);
    JOB_EQ(j, st.failed_wr_operations, 2);
    JOB_EQ(j, st.failed_flush_operations, 0);
    JOB_EQ(j, st.failed_unmap_operations, 1);
    JOB_EQ(j, st.wr_highest_offset, 3 * BLK);
    JOB_CHECK(j, st.rd_total_time_ns > 0);
    JOB_CHECK(j, st.wr_total_time_ns > 0);
    JOB_CHECK(j, st.flush_total_time_ns > 0);
    JOB_CHECK(j, st.unmap_total_time_ns > 0);
    JOB_EQ(j, st.in_flight, 0);
    JOB_EQ(j, block_node_in_flight(j->node), 0);
}

TEST_FDMON(statistics_count_bytes_operations_failures_and_highest_offset)
{
    Setup s = {.size = 4 * BLK, .discard = BLOCK_DISCARD_UNMAP};

    each_aio(fdmon, &s, stats_body);
}

/* The in-flight count while requests wait for the kernel: every
 * request coroutine is entered, and has yielded in its I/O, before the
 * loop runs. */
typedef struct Reader {
    Job *j;
    char buf[BLK];
    int ret;
    bool done;
} Reader;

static void reader_entry(void *opaque)
{
    Reader *r = opaque;
    struct iovec v = {r->buf, sizeof(r->buf)};

    r->ret = block_co_preadv(r->j->node, 0, BLK, &v, 1);
    r->done = true;
}

static void in_flight_case(AioFdmon fdmon, BlockAioMode aio)
{
    enum { N = 4 };
    Setup s = {.size = BLK, .fill = 'i'};
    Job j = {.setup = s, .aio = aio, .fd = -1, .loop_fd = -1};
    static Reader readers[N];
    AioContext *ctx = NULL;
    BlockStatsSnapshot st;
    int done = 0;

    if (!job_open(&j) || aio_context_new(&ctx, fdmon) < 0) {
        test_fail(__FILE__, __LINE__, "set-up failed");
        job_close(&j);
        return;
    }
    for (int i = 0; i < N; i++) {
        readers[i] = (Reader){.j = &j};
        qemu_coroutine_enter(aio_co_create(ctx, reader_entry, &readers[i], 0));
    }
    CHECK_EQ_INT(block_node_in_flight(j.node), N);
    block_node_get_stats(j.node, &st);
    CHECK_EQ_INT(st.in_flight, N);
    CHECK_EQ_INT(st.rd_operations, 0);
    while (done < N) {
        aio_poll(ctx, true);
        done = 0;
        for (int i = 0; i < N; i++) {
            done += readers[i].done;
        }
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(readers[i].ret, 0);
        CHECK(all_bytes(readers[i].buf, BLK, 'i'));
    }
    CHECK_EQ_INT(block_node_in_flight(j.node), 0);
    block_node_get_stats(j.node, &st);
    CHECK_EQ_INT(st.in_flight, 0);
    CHECK_EQ_INT(st.rd_operations, N);
    aio_context_free(ctx);
    job_close(&j);
}

TEST_FDMON(in_flight_counts_requests_waiting_and_returns_to_zero)
{
    in_flight_case(fdmon, BLOCK_AIO_THREADS);
    in_flight_case(fdmon, BLOCK_AIO_IO_URING);
}

/* ------------------------------------------------------------------------
 * On an IOThread, and with io_uring disabled
 */

typedef struct ThreadStart {
    Job *j;
    AioContext *ctx;
} ThreadStart;

static void enter_job(void *opaque)
{
    ThreadStart *ts = opaque;
    Coroutine *co = aio_co_create(ts->ctx, job_entry, ts->j, 0);

    if (co) {
        qemu_coroutine_enter(co);
    } else {
        __atomic_store_n(&ts->j->done, true, __ATOMIC_RELEASE);
        ts->j->failures++;
    }
}

TEST_FDMON(requests_run_on_an_iothread)
{
    static const BlockAioMode modes[] = {BLOCK_AIO_THREADS,
                                         BLOCK_AIO_IO_URING};

    for (size_t i = 0; i < 2; i++) {
        Setup s = {.size = 4 * BLK};
        Job j = {.setup = s, .aio = modes[i], .fd = -1, .loop_fd = -1, .body = rw_body};
        IOThreadOptions o;
        IOThread *t = NULL;
        ThreadStart ts = {.j = &j};

        iothread_options_init(&o);
        o.fdmon = fdmon;
        if (!job_open(&j) || iothread_start(&t, &o) < 0) {
            test_fail(__FILE__, __LINE__, "set-up failed");
            job_close(&j);
            return;
        }
        ts.ctx = iothread_get_aio_context(t);
        CHECK_EQ_INT(iothread_run_sync(t, enter_job, &ts), 0);
        WAIT_FOR(__atomic_load_n(&j.done, __ATOMIC_ACQUIRE), 0,
                 "%s: the requests on the iothread never finished",
                 aio_name(j.aio));
        iothread_stop(t);
        job_close(&j);
    }
}

/* The block-status cache under two threads: an IOThread maps the node
 * over and over while this thread writes a block and punches it again.
 * Once both are done, the last punch is not hidden by a data extent
 * stored too late (and, under TSan, the cache's lock is checked). */
enum { RACE_ROUNDS = 200 };
static bool race_stop; /* atomic: the punching is over */

static void map_until_stopped_body(Job *j)
{
    do {
        for (int64_t off = 0, pnum = 0; off < 4 * BLK; off += pnum) {
            int status;

            if (block_co_block_status(j->node, off, 4 * BLK - off, &pnum,
                                      &status) ||
                pnum <= 0) {
                job_fail(j, __LINE__, "block status failed at %lld",
                         (long long)off);
                return;
            }
        }
        qemu_co_sleep_ns(AIO_CLOCK_MONOTONIC, 0);
    } while (!__atomic_load_n(&race_stop, __ATOMIC_ACQUIRE));
}

static void write_and_punch_body(Job *j)
{
    static char buf[BLK];
    struct iovec v = {buf, sizeof(buf)};

    memset(buf, 'r', sizeof(buf));
    for (int i = 0; i < RACE_ROUNDS && !j->failures; i++) {
        JOB_EQ(j, block_co_pwritev(j->node, BLK, BLK, &v, 1, 0), 0);
        JOB_EQ(j, block_co_pdiscard(j->node, BLK, BLK), 0);
    }
}

TEST_FDMON(block_status_cache_holds_no_stale_data_after_concurrent_punches)
{
    Setup s = {.size = 4 * BLK, .fill = 'r', .discard = BLOCK_DISCARD_UNMAP};
    Job j = {.setup = s, .fd = -1, .loop_fd = -1,
             .body = write_and_punch_body};
    Job mapper = {.fd = -1, .loop_fd = -1, .body = map_until_stopped_body};
    IOThreadOptions o;
    IOThread *t = NULL;
    ThreadStart ts = {.j = &mapper};
    int64_t end;
    uint64_t generation;

    iothread_options_init(&o);
    o.fdmon = fdmon;
    __atomic_store_n(&race_stop, false, __ATOMIC_RELEASE);
    if (!job_open(&j) || iothread_start(&t, &o) < 0) {
        test_fail(__FILE__, __LINE__, "set-up failed");
        job_close(&j);
        return;
    }
    mapper.node = j.node;
    ts.ctx = iothread_get_aio_context(t);
    CHECK_EQ_INT(iothread_run_sync(t, enter_job, &ts), 0);
    run_on_context(&j, fdmon);
    __atomic_store_n(&race_stop, true, __ATOMIC_RELEASE);
    WAIT_FOR(__atomic_load_n(&mapper.done, __ATOMIC_ACQUIRE), 0,
             "the mapping on the iothread never finished");
    iothread_stop(t);
    if (mapper.failures) {
        test_fail(__FILE__, __LINE__, "on the iothread: %s", mapper.detail);
    }
    CHECK(!block_bsc_lookup(j.node, BLK, &end, &generation));
    CHECK_EQ_INT(lseek(j.fd, BLK, SEEK_DATA), 2 * BLK);
    job_close(&j);
}

/* aio=io_uring where the kernel has no io_uring for us: the engine runs
 * it on the thread pool. */
TEST(aio_io_uring_without_io_uring_runs_on_the_pool)
{
    Job j = {.setup = {.size = 4 * BLK}, .aio = BLOCK_AIO_IO_URING,
             .fd = -1, .loop_fd = -1, .body = rw_body};
    AioContext *ctx = NULL;
    Coroutine *co;

    setenv("LIBIOTHREAD_DISABLE_IO_URING", "1", 1);
    REQUIRE(aio_context_new(&ctx, AIO_FDMON_AUTO) == 0);
    unsetenv("LIBIOTHREAD_DISABLE_IO_URING");
    CHECK_STR(aio_context_io_engine(ctx), "thread-pool");
    if (!job_open(&j)) {
        aio_context_free(ctx);
        job_close(&j);
        return;
    }
    co = aio_co_create(ctx, job_entry, &j, 0);
    REQUIRE(co);
    qemu_coroutine_enter(co);
    while (!__atomic_load_n(&j.done, __ATOMIC_ACQUIRE)) {
        aio_poll(ctx, true);
    }
    {
        ThreadPoolStats pool;
        AioIoStats io;

        /* Through the engine, which ran it on the pool. */
        aio_io_get_stats(ctx, &io);
        aio_thread_pool_get_stats(ctx, &pool);
        CHECK(io.submitted > 0);
        CHECK(pool.completed > 0);
    }
    aio_context_free(ctx);
    job_close(&j);
}

/* ------------------------------------------------------------------------
 * Open errors, read-only nodes
 */

/* block_node_open() of @opts fails with @want_ret and exactly @want_msg
 * (a %s in it stands for the file name), leaving *pnode alone. */
static void expect_open_error(int line, const BlockNodeOptions *opts,
                              int want_ret, const char *want_fmt)
{
    BlockNode *node = (BlockNode *)&node; /* a marker: must stay */
    char want[1024], *err = NULL;
    int ret = block_node_open(opts, &node, &err);

    snprintf(want, sizeof(want), want_fmt, opts->filename);
    if (ret != want_ret || !err || strcmp(err, want) != 0 ||
        node != (BlockNode *)&node) {
        test_fail(__FILE__, line, "open %s: got %d \"%s\", expected %d \"%s\"",
                  opts->filename, ret, err ? err : "(null)", want_ret, want);
    }
    if (ret == 0 && node != (BlockNode *)&node) {
        block_node_close(node);
    }
    free(err);
}

TEST(open_errors_use_qemu_texts)
{
    BlockNodeOptions o;
    char dir[512], file[600];
    BlockNode *node = NULL;
    char *err = NULL;
    int fd;

    snprintf(dir, sizeof(dir), "%s/iothreadd-block-dir-XXXXXX", tmp_dir());
    REQUIRE(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/image", dir);
    fd = open(file, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    close(fd);

    block_node_options_default(&o);
    o.node_name = "n0";
    o.filename = "/nonexistent/iothreadd/image";
    expect_open_error(__LINE__, &o, -ENOENT,
                      "Could not open '%s': No such file or directory");
    o.read_only = true;
    expect_open_error(__LINE__, &o, -ENOENT,
                      "Could not open '%s': No such file or directory");
    o.read_only = false;
    o.filename = dir;
    expect_open_error(__LINE__, &o, -EISDIR,
                      "Could not open '%s': Is a directory");
    o.read_only = true;
    expect_open_error(__LINE__, &o, -EINVAL,
                      "'file' driver requires '%s' to be a regular file or "
                      "a block device");
    o.filename = "/dev/null";
    expect_open_error(__LINE__, &o, -EINVAL,
                      "'file' driver requires '%s' to be a regular file or "
                      "a block device");
    o.read_only = false;

    o.filename = file;
    o.detect_zeroes = BLOCK_DETECT_ZEROES_UNMAP;
    expect_open_error(__LINE__, &o, -EINVAL,
                      "setting detect-zeroes to unmap is not allowed without "
                      "setting discard operation to unmap");
    o.discard = BLOCK_DISCARD_UNMAP;
    CHECK_EQ_INT(block_node_open(&o, &node, &err), 0);
    CHECK(err == NULL);
    if (node) {
        CHECK_STR(block_node_name(node), "n0");
        CHECK_STR(block_node_filename(node), file);
        CHECK(block_node_options(node)->filename != file); /* a copy */
        CHECK_EQ_INT(block_node_options(node)->detect_zeroes,
                     BLOCK_DETECT_ZEROES_UNMAP);
        CHECK_EQ_INT(block_node_size(node), 0);
        CHECK_EQ_INT(block_node_request_alignment(node), 1);
        CHECK(!block_node_read_only(node));
        block_node_close(node);
    }
    block_node_close(NULL);

    block_node_options_default(&o);
    CHECK_EQ_INT(o.aio, BLOCK_AIO_THREADS);
    CHECK_EQ_INT(o.discard, BLOCK_DISCARD_IGNORE);
    CHECK_EQ_INT(o.detect_zeroes, BLOCK_DETECT_ZEROES_OFF);
    CHECK(!o.read_only && !o.cache_direct && !o.node_name && !o.filename);
    o.filename = file;
    expect_open_error(__LINE__, &o, -EINVAL, "Parameter 'node-name' is missing");
    o.node_name = "n0";
    o.aio = (BlockAioMode)7;
    expect_open_error(__LINE__, &o, -EINVAL, "Invalid block node options");
    CHECK_EQ_INT(block_node_open(NULL, &node, &err), -EINVAL);
    free(err);
    err = NULL;

    unlink(file);
    rmdir(dir);
}

static void read_only_body(Job *j)
{
    static char buf[BLK];
    struct iovec v = {buf, sizeof(buf)};
    BlockStatsSnapshot st;

    JOB_CHECK(j, block_node_read_only(j->node));
    JOB_CHECK(j, !block_node_can_fast_zero(j->node));
    JOB_EQ(j, block_co_preadv(j->node, 0, BLK, &v, 1), 0);
    JOB_CHECK(j, all_bytes(buf, BLK, 'r'));
    memset(buf, 'W', sizeof(buf));
    JOB_EQ(j, block_co_pwritev(j->node, 0, BLK, &v, 1, 0), -EACCES);
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 0, BLK, 0), -EACCES);
    JOB_EQ(j, block_co_pdiscard(j->node, 0, BLK), -EACCES);
    JOB_EQ(j, block_co_flush(j->node), 0);
    JOB_CHECK(j, file_is(j, 0, 2 * BLK, 'r'));
    block_node_get_stats(j->node, &st);
    JOB_EQ(j, st.failed_wr_operations, 2);
    JOB_EQ(j, st.failed_unmap_operations, 1);
    JOB_EQ(j, st.wr_bytes, 0);
}

TEST_FDMON(read_only_node_refuses_writes_with_eacces)
{
    Setup s = {.size = 2 * BLK, .fill = 'r', .read_only = true,
               .discard = BLOCK_DISCARD_UNMAP};

    each_aio(fdmon, &s, read_only_body);
}

/* ------------------------------------------------------------------------
 * O_DIRECT
 */

/* Aligned requests work from aligned and unaligned buffers; unaligned
 * offsets and lengths are refused. */
static void direct_body(Job *j)
{
    uint32_t align = block_node_request_alignment(j->node);
    char *mem = NULL, *back = NULL;
    struct iovec v, r;

    JOB_CHECK(j, align >= 512 && (align & (align - 1)) == 0 && align <= BLK);
    if (posix_memalign((void **)&mem, 4096, 2 * BLK + 1) ||
        posix_memalign((void **)&back, 4096, 2 * BLK + 1)) {
        job_fail(j, __LINE__, "no memory");
        free(mem);
        return;
    }
    fill(mem, 2 * BLK + 1, 'o');
    /* An aligned buffer goes to the kernel as it is. */
    v = (struct iovec){mem, BLK};
    JOB_EQ(j, block_co_pwritev(j->node, 0, BLK, &v, 1, BLOCK_REQ_FUA), 0);
    /* An unaligned one goes through a bounce buffer. */
    v = (struct iovec){mem + 1, BLK};
    JOB_EQ(j, block_co_pwritev(j->node, BLK, BLK, &v, 1, 0), 0);
    r = (struct iovec){back + 1, 2 * BLK};
    JOB_EQ(j, block_co_preadv(j->node, 0, 2 * BLK, &r, 1), 0);
    JOB_CHECK(j, memcmp(back + 1, mem, BLK) == 0);
    JOB_CHECK(j, memcmp(back + 1 + BLK, mem + 1, BLK) == 0);
    r = (struct iovec){back, 2 * BLK};
    JOB_EQ(j, block_co_preadv(j->node, 0, 2 * BLK, &r, 1), 0);
    JOB_CHECK(j, memcmp(back, mem, BLK) == 0);
    /* Unaligned offsets and lengths. */
    v = (struct iovec){mem, align};
    JOB_EQ(j, block_co_pwritev(j->node, align / 2, align, &v, 1, 0), -EINVAL);
    v = (struct iovec){mem, align / 2};
    JOB_EQ(j, block_co_pwritev(j->node, 0, align / 2, &v, 1, 0), -EINVAL);
    JOB_EQ(j, block_co_preadv(j->node, 1, align / 2, &v, 1), -EINVAL);
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 0, align / 2, 0), -EINVAL);
    /* Write-zeroes and detect-zeroes still work. */
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, BLK, BLK, 0), 0);
    JOB_CHECK(j, file_is(j, BLK, BLK, 0));
    free(mem);
    free(back);
}

/* O_DIRECT on @dir: either it works and enforces alignment, or the open
 * fails with QEMU's clear message (which @must_refuse expects). */
static void direct_case(AioFdmon fdmon, const char *dir, bool must_refuse)
{
    Setup s = {.size = 4 * BLK, .cache_direct = true, .dir = dir};
    BlockNodeOptions o;
    char path[512], *err = NULL;
    BlockNode *node = NULL;
    int fd, ret;

    snprintf(path, sizeof(path), "%s/iothreadd-direct-XXXXXX", dir);
    fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    block_node_options_default(&o);
    o.node_name = "n0";
    o.filename = path;
    o.cache_direct = true;
    ret = block_node_open(&o, &node, &err);
    unlink(path);
    if (ret == 0) {
        block_node_close(node);
        CHECK(!must_refuse);
        each_aio(fdmon, &s, direct_body);
        return;
    }
    CHECK_EQ_INT(ret, -EINVAL);
    {
        char want[700];

        snprintf(want, sizeof(want),
                 "Could not open '%s': filesystem does not support O_DIRECT",
                 path);
        CHECK_STR(err, want);
    }
    free(err);
}

TEST_FDMON(cache_direct_enforces_the_device_alignment)
{
    direct_case(fdmon, tmp_dir(), false);
    /* tmpfs: O_DIRECT since Linux 6.6, refused before. */
    direct_case(fdmon, "/dev/shm", false);
}

/* ------------------------------------------------------------------------
 * A file system without O_DIRECT, fallocate() or SEEK_HOLE: ramfs
 */

static char ramfs_dir[256];

static bool mount_ramfs(void)
{
    if (geteuid() != 0) {
        test_skip("needs root to mount a ramfs");
        return false;
    }
    snprintf(ramfs_dir, sizeof(ramfs_dir), "%s/iothreadd-ramfs-XXXXXX",
             tmp_dir());
    if (!mkdtemp(ramfs_dir)) {
        test_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
        return false;
    }
    if (mount("ramfs", ramfs_dir, "ramfs", 0, "mode=0700") < 0) {
        test_skip("cannot mount a ramfs: %s", strerror(errno));
        rmdir(ramfs_dir);
        return false;
    }
    return true;
}

static void umount_ramfs(void)
{
    CHECK_EQ_INT(umount(ramfs_dir), 0);
    rmdir(ramfs_dir);
}

static void ramfs_body(Job *j)
{
    int64_t pnum = 0;
    int status = 0;

    /* No fallocate(): write-zeroes writes zeroes, FAST_ZERO refuses,
     * and the node learns it. */
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 0, BLK,
                                     BLOCK_REQ_MAY_UNMAP |
                                         BLOCK_REQ_NO_FALLBACK),
           -ENOTSUP);
    JOB_CHECK(j, file_is(j, 0, BLK, 'm'));
    JOB_CHECK(j, !block_node_can_fast_zero(j->node));
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 0, BLK, BLOCK_REQ_MAY_UNMAP), 0);
    JOB_CHECK(j, file_is(j, 0, BLK, 0));
    /* Discard is advisory: nothing happens. */
    JOB_EQ(j, block_co_pdiscard(j->node, BLK, BLK), 0);
    JOB_CHECK(j, file_is(j, BLK, BLK, 'm'));
    /* No SEEK_HOLE of its own: all data up to the end of the file. */
    JOB_EQ(j, block_co_block_status(j->node, 0, 2 * BLK, &pnum, &status), 0);
    JOB_EQ(j, status, BLOCK_STATUS_DATA);
    JOB_EQ(j, pnum, 2 * BLK);
}

TEST_FDMON(ramfs_no_direct_no_fallocate_all_data)
{
    Setup s = {.size = 2 * BLK, .fill = 'm', .discard = BLOCK_DISCARD_UNMAP,
               .dir = ramfs_dir};

    if (!mount_ramfs()) {
        return;
    }
    direct_case(fdmon, ramfs_dir, true);
    each_aio(fdmon, &s, ramfs_body);
    umount_ramfs();
}

/* ------------------------------------------------------------------------
 * Files in memory: small reads and writes inline, on the home thread
 */

static void memory_body(Job *j)
{
    AioContext *ctx = aio_co_get_context(qemu_coroutine_self());
    static char big[2 * 1024 * 1024], back[2 * 1024 * 1024];
    struct iovec w = {big, 64 * 1024}, r = {back, 64 * 1024};
    struct iovec wb = {big, sizeof(big)}, rb = {back, sizeof(back)};
    AioIoStats before, after;
    ThreadPoolStats pool_before, pool_after;
    bool on_pool = j->aio == BLOCK_AIO_THREADS;

    fill(big, sizeof(big), 'm');
    aio_io_get_stats(ctx, &before);
    aio_thread_pool_get_stats(ctx, &pool_before);
    JOB_EQ(j, block_co_pwritev(j->node, 4096, 64 * 1024, &w, 1,
                               BLOCK_REQ_FUA), 0);
    JOB_EQ(j, block_co_preadv(j->node, 4096, 64 * 1024, &r, 1), 0);
    JOB_CHECK(j, memcmp(back, big, 64 * 1024) == 0);
    aio_io_get_stats(ctx, &after);
    aio_thread_pool_get_stats(ctx, &pool_after);
    /* aio=io_uring: neither the engine nor the pool saw them; aio=threads
     * is what the user asked for, in memory too. */
    JOB_EQ(j, after.submitted - before.submitted, 0);
    JOB_EQ(j, pool_after.completed - pool_before.completed,
           on_pool ? 2 : 0);
    /* Past BLOCK_INLINE_MAX (1 MiB) a request goes where aio= says. */
    JOB_EQ(j, block_co_pwritev(j->node, 0, sizeof(big), &wb, 1, 0), 0);
    JOB_EQ(j, block_co_preadv(j->node, 0, sizeof(back), &rb, 1), 0);
    JOB_CHECK(j, memcmp(back, big, sizeof(back)) == 0);
    aio_io_get_stats(ctx, &before);
    aio_thread_pool_get_stats(ctx, &pool_before);
    if (j->aio == BLOCK_AIO_IO_URING) {
        JOB_EQ(j, before.submitted - after.submitted, 2);
    } else {
        JOB_EQ(j, pool_before.completed - pool_after.completed, 2);
    }
}

TEST_FDMON(memory_backed_small_transfers_run_inline_with_aio_io_uring)
{
    Setup s = {.size = 4 * 1024 * 1024, .dir = ramfs_dir};

    if (!mount_ramfs()) {
        return;
    }
    each_aio(fdmon, &s, memory_body);
    umount_ramfs();
    s.dir = "/dev/shm";
    each_aio(fdmon, &s, memory_body);
}

/* ------------------------------------------------------------------------
 * A block device: a loop device on a temporary file (root)
 */

static void block_device_body(Job *j)
{
    static char buf[4 * BLK], back[4 * BLK];
    struct iovec v = {buf, sizeof(buf)}, r = {back, sizeof(back)};
    int64_t pnum = 0;
    int status = 0;

    JOB_EQ(j, block_node_size(j->node), 4 * BLK);
    fill(buf, sizeof(buf), 'B');
    JOB_EQ(j, block_co_pwritev(j->node, 0, 4 * BLK, &v, 1, BLOCK_REQ_FUA), 0);
    JOB_EQ(j, block_co_preadv(j->node, 0, 4 * BLK, &r, 1), 0);
    JOB_CHECK(j, memcmp(buf, back, sizeof(buf)) == 0);
    /* Whole logical blocks: fallocate() on the device, never promised
     * to be fast (as QEMU). */
    JOB_CHECK(j, !block_node_can_fast_zero(j->node));
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 0, BLK, BLOCK_REQ_NO_FALLBACK),
           -ENOTSUP);
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 0, BLK, 0), 0);
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, BLK, BLK, BLOCK_REQ_MAY_UNMAP),
           0);
    /* Not whole blocks: the device refuses fallocate(); zero buffers. */
    JOB_EQ(j, block_co_pwrite_zeroes(j->node, 2 * BLK + 100, 1000, 0), 0);
    JOB_EQ(j, block_co_pdiscard(j->node, 3 * BLK, BLK), 0);
    JOB_EQ(j, block_co_flush(j->node), 0);
    JOB_CHECK(j, node_reads(j, 0, 2 * BLK, 0));
    JOB_CHECK(j, node_reads(j, 2 * BLK + 100, 1000, 0));
    JOB_EQ(j, block_co_preadv(j->node, 0, 4 * BLK, &r, 1), 0);
    JOB_CHECK(j, memcmp(back + 2 * BLK, buf + 2 * BLK, 100) == 0);
    JOB_CHECK(j, memcmp(back + 2 * BLK + 1100, buf + 2 * BLK + 1100,
                        BLK - 1100) == 0);
    /* Flushed through to the file behind the device. */
    JOB_CHECK(j, file_is(j, 0, 2 * BLK, 0));
    JOB_EQ(j, pread(j->fd, back, 100, 2 * BLK), 100);
    JOB_CHECK(j, memcmp(back, buf + 2 * BLK, 100) == 0);
    /* A device has no holes to report. */
    JOB_EQ(j, block_co_block_status(j->node, 0, 4 * BLK, &pnum, &status), 0);
    JOB_EQ(j, status, BLOCK_STATUS_DATA);
    JOB_EQ(j, pnum, 4 * BLK);
}

TEST_FDMON(block_device_reads_writes_zeroes_and_is_all_data)
{
    Setup s = {.size = 4 * BLK, .fill = 'b', .loop_device = true,
               .discard = BLOCK_DISCARD_UNMAP};

    if (geteuid() != 0) {
        SKIP("needs root for a loop device");
    }
    each_aio(fdmon, &s, block_device_body);
}
