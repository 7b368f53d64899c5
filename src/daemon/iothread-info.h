/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The replies of query-iothreads and query-iothread-stats, written as JSON
 * text for qmp_request_return_raw().
 *
 * Monitoring polls both, with one entry per iothread.  Building a jansson
 * tree of a dozen or twenty values per entry, dumping it (jansson formats
 * each integer with snprintf) and freeing it cost 7-15 us per iothread,
 * milliseconds at 500 iothreads.  So:
 *
 * - query-iothreads: jansson dumps an object's entry once, from the tree
 *   iothread_info_json() builds, and the text is kept in the object's
 *   cache (iothread-object.h) until its settings change; a query copies the
 *   entries and writes the one live member, poll-ns, itself.
 * - query-iothread-stats: every value changes, so only an entry's head
 *   (id, thread-id) is kept and the counters are written as integers.
 *   The thread's CPU time comes from /proc/self/task/TID/stat, which the
 *   object keeps open (iothread_object_cpu_time()) and which is read
 *   again only when the thread ran since it was last read.
 *
 * Either way the bytes are those qmp_format_message() writes for the same
 * values (tests/unit/test-iothread-info.c compares them).
 *
 * Main thread only, like the registry.
 */
#ifndef IOTHREADD_IOTHREAD_INFO_H
#define IOTHREADD_IOTHREAD_INFO_H

#include <stddef.h>

#include <jansson.h>

#include "daemon/registry.h"

/* A growing text buffer; {0} is an empty one. */
typedef struct JsonText {
    char *data; /* not NUL-terminated */
    size_t len, cap;
} JsonText;

/* json_text_free: free what @t holds and make it empty again. */
void json_text_free(JsonText *t);

/*
 * iothread_info_json: @obj's query-iothreads entry as a jansson tree (a
 * new reference, or NULL when out of memory): id, thread-id, every row of
 * IOTHREAD_PROPERTIES() in the table's order (cpu-affinity and fdmon as in
 * effect), and last the live poll-ns.  The source of the layout that
 * iothread_info_list() copies.
 */
json_t *iothread_info_json(IOThreadObject *obj);

/*
 * iothread_info_list: append query-iothreads' return value, the array of
 * every object's entry in creation order, to @out.  Creates or refreshes
 * objects' caches.  0, or -ENOMEM (@out then holds a partial text).
 */
int iothread_info_list(Registry *r, JsonText *out);

/*
 * iothread_stats_list: append query-iothread-stats' return value to @out:
 * the array of @only's entry, or of every object's when @only is NULL.
 * An entry: id, thread-id, the loop's counters, the thread's user-cpu-ns
 * and system-cpu-ns, its pool's counters.  0, or -ENOMEM.
 */
int iothread_stats_list(Registry *r, IOThreadObject *only, JsonText *out);

#endif /* IOTHREADD_IOTHREAD_INFO_H */
