/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the counters' QMP form (daemon/stats-json.h): one member
 * per entry of AIO_STATS_FOREACH, under its wire name, with its own value.
 */
#include <string.h>

#include "../harness.h"

#include "daemon/stats-json.h"

TEST(stats_json_has_one_member_per_counter_with_its_value)
{
    json_t *o = json_object();
    AioStats st;

    REQUIRE(o);
    for (int i = 0; i < AIO_STAT__COUNT; i++) {
        ((uint64_t *)(void *)&st)[i] = 100 + (uint64_t)i;
    }
    CHECK_EQ_INT(aio_stats_to_json(o, &st), 0);
    CHECK_EQ_INT(json_object_size(o), AIO_STAT__COUNT);
    for (int i = 0; i < AIO_STAT__COUNT; i++) {
        const char *name = aio_stat_name((AioStatId)i);
        json_t *v = json_object_get(o, name);

        if (!json_is_integer(v)) {
            test_fail(__FILE__, __LINE__, "no integer member %s", name);
            continue;
        }
        CHECK_EQ_INT(json_integer_value(v),
                     aio_stat_value(&st, (AioStatId)i));
    }
    json_decref(o);
}

/* The members come in list order, after what the caller put first (the
 * reply's "id" and "thread-id"). */
TEST(stats_json_keeps_list_order_after_existing_members)
{
    json_t *o = json_pack("{s:s}", "id", "io0");
    AioStats st = {0};
    const char *key;
    json_t *v;
    int i = -1;

    REQUIRE(o);
    CHECK_EQ_INT(aio_stats_to_json(o, &st), 0);
    json_object_foreach(o, key, v) {
        if (i < 0) {
            CHECK_STR(key, "id");
        } else {
            CHECK_STR(key, aio_stat_name((AioStatId)i));
        }
        i++;
    }
    CHECK_EQ_INT(i, AIO_STAT__COUNT);
    json_decref(o);
}
