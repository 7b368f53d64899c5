/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The node's block-status cache: the last extent SEEK_DATA / SEEK_HOLE
 * found to be data, as QEMU's bdrv_bsc_*() in block.c, so that NBD READs
 * and BLOCK_STATUS inside it pay no lseek() (two per request otherwise,
 * and on tmpfs each walks the page cache).
 *
 * Only data is cached, never holes: reporting data where there is a hole
 * is always correct (base:allocation and READ's hole chunks are hints;
 * the bytes read are the file's), the reverse would lose data.  Writes
 * only ever turn holes into data, so they leave the cache alone; what
 * can turn data into a hole (a punched hole, a zeroed range) goes through
 * block_bsc_invalidate() on both sides of its fallocate().
 *
 * Races, with the generation (every field under BlockStatusCache.lock):
 *  - block_status reads the generation, then seeks, then stores only if
 *    the generation has not moved;
 *  - an invalidation bumps it and trims the extent before its fallocate()
 *    (an answer seeked before the punch is not stored after it) and again
 *    after (an answer seeked while the punch ran, possibly half done, is
 *    not stored, and one stored meanwhile is trimmed).
 * Another process that punches a hole in the file behind our back is not
 * seen: the cache keeps calling the range data, which is safe (the bytes
 * read are its zeroes).
 */
#include <pthread.h>

#include "block/block-internal.h"

int block_bsc_init(BlockNode *node)
{
    BlockStatusCache *c = &node->bsc;

    c->generation = 0;
    c->start = c->end = 0;
    return -pthread_mutex_init(&c->lock, NULL);
}

void block_bsc_destroy(BlockNode *node)
{
    pthread_mutex_destroy(&node->bsc.lock);
}

bool block_bsc_lookup(BlockNode *node, int64_t offset, int64_t *end,
                      uint64_t *generation)
{
    BlockStatusCache *c = &node->bsc;
    bool hit;

    pthread_mutex_lock(&c->lock);
    hit = offset >= c->start && offset < c->end;
    *end = c->end;
    *generation = c->generation;
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void block_bsc_store(BlockNode *node, uint64_t generation, int64_t start,
                     int64_t end)
{
    BlockStatusCache *c = &node->bsc;

    if (start >= end) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (c->generation == generation) {
        /* Both extents are data now: if they touch, their union is one
         * (a random reader then grows one extent instead of replacing
         * it at every miss). */
        if (c->start < c->end && start <= c->end && c->start <= end) {
            start = start < c->start ? start : c->start;
            end = end > c->end ? end : c->end;
        }
        c->start = start;
        c->end = end;
    }
    pthread_mutex_unlock(&c->lock);
}

void block_bsc_invalidate(BlockNode *node, int64_t offset, int64_t bytes)
{
    BlockStatusCache *c = &node->bsc;

    pthread_mutex_lock(&c->lock);
    c->generation++;
    if (offset < c->end && c->start < offset + bytes) {
        /* Keep the part before the range, else the part after it. */
        if (c->start < offset) {
            c->end = offset;
        } else if (offset + bytes < c->end) {
            c->start = offset + bytes;
        } else {
            c->start = c->end = 0;
        }
    }
    pthread_mutex_unlock(&c->lock);
}
