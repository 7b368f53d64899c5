/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The event loop's counters as QMP members, one per entry of
 * AIO_STATS_FOREACH (<iothread/aio-stats.h>), under their wire names.
 */
#ifndef IOTHREADD_STATS_JSON_H
#define IOTHREADD_STATS_JSON_H

#include <jansson.h>

#include <iothread/aio-stats.h>

/*
 * aio_stats_to_json: set one integer member per counter of @stats on the
 * object @obj, in list order.  Returns 0, or -ENOMEM when a member could
 * not be added (the members set so far stay).
 */
int aio_stats_to_json(json_t *obj, const AioStats *stats);

#endif /* IOTHREADD_STATS_JSON_H */
