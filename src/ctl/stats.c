/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stats: the event loops' counters, as a table, as key=value lines
 * (--raw, like virsh domstats) or JSON, once or every few seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iothread/aio-stats.h>

#include "ctl/ctl.h"
#include "ctl/table.h"

/* query-iothread-stats for @ids (all when none). */
static int fetch(Ctl *ctl, int nids, char **ids, json_t **out)
{
    json_t *all = json_array();
    int ret = 0;

    if (nids == 0) {
        json_decref(all);
        return ctl_call(ctl, "query-iothread-stats", NULL, NULL, out);
    }
    for (int i = 0; i < nids && ret == 0; i++) {
        json_t *one = NULL;

        ret = ctl_call(ctl, "query-iothread-stats",
                       json_pack("{s:s}", "id", ids[i]), ids[i], &one);
        if (ret == 0) {
            json_array_extend(all, one);
        }
        json_decref(one);
    }
    if (ret) {
        json_decref(all);
        return ret;
    }
    *out = all;
    return 0;
}

static json_int_t num(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static void print_raw(json_t *list)
{
    size_t i;
    json_t *e, *v;
    const char *key;

    json_array_foreach(list, i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));

        json_object_foreach(e, key, v) {
            if (strcmp(key, "id") != 0) {
                printf("iothread.%s.%s=%" JSON_INTEGER_FORMAT "\n", id, key,
                       json_integer_value(v));
            }
        }
    }
}

/* The counter named by the list's entry @id in entry @e. */
static json_int_t stat(json_t *e, AioStatId id)
{
    return num(e, aio_stat_name(id));
}

/*
 * The table: the id, every counter that the list gives a label (in list
 * order), then two derived columns, the poll hit rate and CPU time.
 */
enum { MAX_COLS = 1 + AIO_STAT__COUNT + 2, CELL = 32 };

static void print_table(Ctl *ctl, json_t *list)
{
    const char *headers[MAX_COLS];
    AioStatId shown[AIO_STAT__COUNT];
    size_t ncols = 0, nshown = 0, i;
    Table *t;
    json_t *e;

    headers[ncols++] = "ID";
    for (int id = 0; id < AIO_STAT__COUNT; id++) {
        const AioStatInfo *info = aio_stat_info((AioStatId)id);

        if (info->label) {
            shown[nshown++] = (AioStatId)id;
            headers[ncols++] = info->label;
        }
    }
    headers[ncols++] = "POLL-HIT%";
    headers[ncols++] = "CPU-MS";
    t = table_new(ncols, headers);

    json_array_foreach(list, i, e) {
        json_int_t hits = stat(e, AIO_STAT_poll_hits);
        json_int_t misses = stat(e, AIO_STAT_poll_misses);
        char b[MAX_COLS][CELL];
        const char *cells[MAX_COLS];
        size_t c = 0;

        snprintf(b[c++], CELL, "%s",
                 json_string_value(json_object_get(e, "id")));
        for (size_t k = 0; k < nshown; k++) {
            snprintf(b[c++], CELL, "%" JSON_INTEGER_FORMAT,
                     stat(e, shown[k]));
        }
        if (hits + misses) {
            snprintf(b[c++], CELL, "%.1f", 100.0 * hits / (hits + misses));
        } else {
            snprintf(b[c++], CELL, "-");
        }
        snprintf(b[c++], CELL, "%" JSON_INTEGER_FORMAT,
                 (num(e, "user-cpu-ns") + num(e, "system-cpu-ns")) / 1000000);
        for (size_t k = 0; k < c; k++) {
            cells[k] = b[k];
        }
        table_add(t, cells);
    }
    table_print_free(t, stdout, ctl->no_legend);
}

int verb_stats(Ctl *ctl, int argc, char **argv)
{
    for (;;) {
        json_t *list = NULL;
        int ret = fetch(ctl, argc - 1, argv + 1, &list);

        if (ret) {
            return ret;
        }
        if (ctl->quiet) {
            /* nothing */
        } else if (ctl->json && ctl->watch_secs > 0) {
            /* One object per sample, one line each: easy to stream. */
            Ctl c = *ctl;
            json_t *sample = json_pack("{s:I, s:O}", "timestamp",
                                       (json_int_t)time(NULL), "iothreads",
                                       list);

            c.json = JSON_SHORT;
            ctl_print_json(&c, sample);
            json_decref(sample);
        } else if (ctl->json) {
            ctl_print_json(ctl, list);
        } else if (ctl->raw) {
            print_raw(list);
        } else {
            print_table(ctl, list);
        }
        json_decref(list);
        fflush(stdout);
        if (ctl->watch_secs <= 0) {
            return 0;
        }
        usleep((useconds_t)(ctl->watch_secs * 1e6));
        if (!ctl->json && !ctl->raw) {
            putchar('\n');
        }
    }
}
