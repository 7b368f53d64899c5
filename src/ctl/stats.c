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

static void print_table(Ctl *ctl, json_t *list)
{
    static const char *const headers[] = {
        "ID", "ITERATIONS", "WAITS", "POLL-HIT%", "POLL-NS", "BHS", "FDS",
        "TIMERS", "WAKEUPS", "CPU-MS",
    };
    char b[10][32];
    Table *t = table_new(10, headers);
    size_t i;
    json_t *e;

    json_array_foreach(list, i, e) {
        json_int_t hits = num(e, "poll-hits"), misses = num(e, "poll-misses");
        const char *cells[10];

        snprintf(b[0], 32, "%s", json_string_value(json_object_get(e, "id")));
        snprintf(b[1], 32, "%" JSON_INTEGER_FORMAT, num(e, "iterations"));
        snprintf(b[2], 32, "%" JSON_INTEGER_FORMAT, num(e, "blocking-waits"));
        if (hits + misses) {
            snprintf(b[3], 32, "%.1f", 100.0 * hits / (hits + misses));
        } else {
            snprintf(b[3], 32, "-");
        }
        snprintf(b[4], 32, "%" JSON_INTEGER_FORMAT, num(e, "poll-ns"));
        snprintf(b[5], 32, "%" JSON_INTEGER_FORMAT, num(e, "bh-runs"));
        snprintf(b[6], 32, "%" JSON_INTEGER_FORMAT, num(e, "fd-dispatches"));
        snprintf(b[7], 32, "%" JSON_INTEGER_FORMAT, num(e, "timers-fired"));
        snprintf(b[8], 32, "%" JSON_INTEGER_FORMAT, num(e, "notify-writes"));
        snprintf(b[9], 32, "%" JSON_INTEGER_FORMAT,
                 (num(e, "user-cpu-ns") + num(e, "system-cpu-ns")) / 1000000);
        for (int k = 0; k < 10; k++) {
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
