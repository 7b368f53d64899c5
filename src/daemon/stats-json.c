/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The loop's counters as members of a query-iothread-stats entry. */
#include <errno.h>

#include "daemon/stats-json.h"

int aio_stats_to_json(json_t *obj, const AioStats *stats)
{
    /* The names are ASCII literals from the list: no UTF-8 check needed.
     * json_object_set_new_nocheck() takes the value even on failure. */
#define STATS_JSON_SET_(field, name, label, help)                              \
    if (json_object_set_new_nocheck(obj, name,                                 \
                                    json_integer((json_int_t)stats->field))) { \
        return -ENOMEM;                                                        \
    }
    AIO_STATS_FOREACH(STATS_JSON_SET_)
#undef STATS_JSON_SET_
    return 0;
}
