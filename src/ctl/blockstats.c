/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading query-blockstats replies: an export's counters and the rates
 * between two samples, for `export list` and `top`.
 */
#include <string.h>

#include "ctl/ctl.h"

json_t *ctl_export_stats(json_t *blockstats, const char *id)
{
    json_t *e;
    size_t i;

    json_array_foreach(blockstats, i, e) {
        const char *x = json_string_value(json_object_get(e, "export"));

        if (x && strcmp(x, id) == 0) {
            return json_object_get(e, "stats");
        }
    }
    return NULL;
}

double ctl_rate(json_t *a, json_t *b, const char *key, double secs)
{
    json_int_t d = json_integer_value(json_object_get(b, key)) -
                   json_integer_value(json_object_get(a, key));

    return d > 0 && secs > 0 ? (double)d / secs : 0.0;
}
