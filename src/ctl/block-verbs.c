/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The block verbs: blockdev (add, list, del), nbd (start, stop), export
 * (add, list, del, move).  SPEC arguments are qemu-storage-daemon's
 * --blockdev / --nbd-server / --export syntax (keyval or JSON), checked
 * here with the daemon's own schema before anything is sent.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/block-schema.h"
#include "ctl/ctl.h"
#include "ctl/table.h"

/* How long `export list` samples the counters for its rates. */
#define RATE_INTERVAL_NS 500000000LL

typedef int SubFn(Ctl *ctl, int argc, char **argv);

typedef struct SubVerb {
    const char *name;
    SubFn *fn;
} SubVerb;

/* argv[0] is the verb, argv[1] the sub-verb. */
static int dispatch(Ctl *ctl, int argc, char **argv, const SubVerb *subs,
                    const char *usage)
{
    if (argc >= 2) {
        for (const SubVerb *s = subs; s->name; s++) {
            if (strcmp(s->name, argv[1]) == 0) {
                return s->fn(ctl, argc - 1, argv + 1);
            }
        }
    }
    return ctl_error(EXIT_USAGE, "usage: iothreadctl %s", usage);
}

static int want(int argc, int min, int max, const char *usage)
{
    if (argc - 1 < min || argc - 1 > max) {
        return ctl_error(EXIT_USAGE, "usage: iothreadctl %s", usage);
    }
    return 0;
}

/* Check @arg as a @kind; the typed spec in *@spec. */
static int parse_spec(BlockObjKind kind, const char *arg, json_t **spec)
{
    char *err = NULL;

    if (block_opt_parse(kind, arg, spec, &err) < 0) {
        ctl_error(EXIT_USAGE, "%s", err ? err : "invalid");
        free(err);
        return EXIT_USAGE;
    }
    return 0;
}

static int add(Ctl *ctl, int argc, char **argv, BlockObjKind kind,
               const char *cmd, const char *usage)
{
    json_t *spec = NULL;
    int ret = want(argc, 1, 1, usage);

    if (ret || (ret = parse_spec(kind, argv[1], &spec))) {
        return ret;
    }
    return ctl_call(ctl, cmd, spec, NULL, NULL);
}

#define MAX_COLS 10
#define CELL 64

/* One table row for the entry @e: @cells point at constants, into @e or
 * into @buf. */
typedef void RowFn(json_t *e, char buf[MAX_COLS][CELL],
                   const char *cells[MAX_COLS]);

/* @list as --json asks, or as a table of @ncols columns. */
static void print_list(Ctl *ctl, json_t *list, size_t ncols,
                       const char *const *headers, RowFn *row)
{
    char buf[MAX_COLS][CELL];
    const char *cells[MAX_COLS];
    json_t *e;
    size_t i;
    Table *t;

    if (ctl->quiet) {
        return;
    }
    if (ctl->json) {
        ctl_print_json(ctl, list);
        return;
    }
    t = table_new(ncols, headers);
    json_array_foreach(list, i, e) {
        row(e, buf, cells);
        for (size_t c = 0; c < ncols; c++) {
            cells[c] = cells[c] ? cells[c] : "-";
        }
        table_add(t, cells);
    }
    table_print_free(t, stdout, ctl->no_legend);
}

/* ---- blockdev ---- */

static int blockdev_add(Ctl *ctl, int argc, char **argv)
{
    return add(ctl, argc, argv, BLOCK_OBJ_BLOCKDEV, "blockdev-add",
               "blockdev add SPEC");
}

static void node_row(json_t *e, char buf[MAX_COLS][CELL],
                     const char *cells[MAX_COLS])
{
    json_t *cache = json_object_get(e, "cache");

    snprintf(buf[0], CELL, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(json_object_get(e, "image"),
                                                "virtual-size")));
    cells[0] = json_string_value(json_object_get(e, "node-name"));
    cells[1] = buf[0];
    cells[2] = json_is_true(json_object_get(e, "ro")) ? "yes" : "no";
    cells[3] = json_is_true(json_object_get(cache, "direct")) ? "yes" : "no";
    cells[4] = json_string_value(json_object_get(e, "detect_zeroes"));
    cells[5] = json_string_value(json_object_get(e, "file"));
}

static int blockdev_list(Ctl *ctl, int argc, char **argv)
{
    static const char *const headers[] = {"NODE", "SIZE", "RO", "DIRECT",
                                          "DETECT-ZEROES", "FILE"};
    json_t *list = NULL;
    int ret = want(argc, 0, 0, "blockdev list");

    if (ret || (ret = ctl_call(ctl, "query-named-block-nodes", NULL, NULL,
                               &list))) {
        return ret;
    }
    print_list(ctl, list, 6, headers, node_row);
    json_decref(list);
    return 0;
}

static int blockdev_del(Ctl *ctl, int argc, char **argv)
{
    int ret = want(argc, 1, 1, "blockdev del NODE");

    return ret ? ret
               : ctl_call(ctl, "blockdev-del",
                          json_pack("{s:s}", "node-name", argv[1]), NULL,
                          NULL);
}

int verb_blockdev(Ctl *ctl, int argc, char **argv)
{
    static const SubVerb subs[] = {
        {"add", blockdev_add}, {"list", blockdev_list},
        {"del", blockdev_del}, {NULL, NULL},
    };

    return dispatch(ctl, argc, argv, subs, "blockdev add|list|del ...");
}

/* ---- nbd ---- */

static int nbd_start(Ctl *ctl, int argc, char **argv)
{
    json_t *spec = NULL, *addr, *data;
    int ret = want(argc, 1, 1, "nbd start SPEC");

    if (ret || (ret = parse_spec(BLOCK_OBJ_NBD_SERVER, argv[1], &spec))) {
        return ret;
    }
    /* nbd-server-start takes QEMU's SocketAddressLegacy:
     * {"type": T, "data": {the other members}}. */
    addr = json_object_get(spec, "addr");
    data = json_deep_copy(addr);
    json_object_del(data, "type");
    json_object_set_new(spec, "addr",
                        json_pack("{s:s, s:o}", "type",
                                  json_string_value(json_object_get(addr,
                                                                    "type")),
                                  "data", data));
    return ctl_call(ctl, "nbd-server-start", spec, NULL, NULL);
}

static int nbd_stop(Ctl *ctl, int argc, char **argv)
{
    int ret = want(argc, 0, 0, "nbd stop");

    return ret ? ret : ctl_call(ctl, "nbd-server-stop", NULL, NULL, NULL);
}

int verb_nbd(Ctl *ctl, int argc, char **argv)
{
    static const SubVerb subs[] = {
        {"start", nbd_start}, {"stop", nbd_stop}, {NULL, NULL},
    };

    return dispatch(ctl, argc, argv, subs, "nbd start SPEC | nbd stop");
}

/* ---- export ---- */

static int export_add(Ctl *ctl, int argc, char **argv)
{
    return add(ctl, argc, argv, BLOCK_OBJ_EXPORT, "block-export-add",
               "export add SPEC");
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Add "rates" (per second, over RATE_INTERVAL_NS) to every export. */
static int add_rates(Ctl *ctl, json_t *list)
{
    static const char *const keys[] = {"rd_operations", "wr_operations",
                                       "rd_bytes", "wr_bytes"};
    json_t *s0 = NULL, *s1 = NULL, *e;
    int64_t t0, t1;
    struct timespec pause = {0, RATE_INTERVAL_NS};
    size_t i;
    int ret;

    t0 = now_ns();
    if ((ret = ctl_call(ctl, "query-blockstats", NULL, NULL, &s0))) {
        return ret;
    }
    nanosleep(&pause, NULL);
    t1 = now_ns();
    if ((ret = ctl_call(ctl, "query-blockstats", NULL, NULL, &s1))) {
        json_decref(s0);
        return ret;
    }
    json_array_foreach(list, i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));
        json_t *a = ctl_export_stats(s0, id), *b = ctl_export_stats(s1, id);
        json_t *r = json_object();
        double secs = (double)(t1 - t0) / 1e9;

        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            json_object_set_new(
                r, keys[k],
                json_real(a && b ? ctl_rate(a, b, keys[k], secs) : 0.0));
        }
        json_object_set_new(e, "rates", r);
    }
    json_decref(s0);
    json_decref(s1);
    return 0;
}

static void export_row(json_t *e, char buf[MAX_COLS][CELL],
                       const char *cells[MAX_COLS])
{
    json_t *r = json_object_get(e, "rates");
    const char *iothread = json_string_value(json_object_get(e, "iothread"));

    snprintf(buf[0], CELL, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(e, "clients")));
    snprintf(buf[1], CELL, "%.0f",
             json_real_value(json_object_get(r, "rd_operations")));
    snprintf(buf[2], CELL, "%.0f",
             json_real_value(json_object_get(r, "wr_operations")));
    snprintf(buf[3], CELL, "%.1f",
             json_real_value(json_object_get(r, "rd_bytes")) / 1e6);
    snprintf(buf[4], CELL, "%.1f",
             json_real_value(json_object_get(r, "wr_bytes")) / 1e6);
    cells[0] = json_string_value(json_object_get(e, "id"));
    cells[1] = json_string_value(json_object_get(e, "node-name"));
    cells[2] = json_string_value(json_object_get(e, "name"));
    cells[3] = iothread ? iothread : "(main)";
    for (int i = 0; i < 5; i++) {
        cells[4 + i] = buf[i];
    }
    cells[9] = json_is_true(json_object_get(e, "shutting-down"))
                   ? "shutting-down"
                   : "serving";
}

static int export_list(Ctl *ctl, int argc, char **argv)
{
    static const char *const headers[] = {
        "ID", "NODE", "NAME", "IOTHREAD", "CLIENTS", "RD-IOPS", "WR-IOPS",
        "RD-MB/S", "WR-MB/S", "STATE"};
    json_t *list = NULL;
    int ret = want(argc, 0, 0, "export list");

    if (ret || (ret = ctl_call(ctl, "query-block-exports", NULL, NULL,
                               &list))) {
        return ret;
    }
    if (json_array_size(list) && (ret = add_rates(ctl, list))) {
        json_decref(list);
        return ret;
    }
    print_list(ctl, list, 10, headers, export_row);
    json_decref(list);
    return 0;
}

static int export_del(Ctl *ctl, int argc, char **argv)
{
    int ret = want(argc, 1, 2, "export del ID [safe|hard]");
    json_t *args;

    if (ret) {
        return ret;
    }
    if (argc == 3 && strcmp(argv[2], "safe") != 0 &&
        strcmp(argv[2], "hard") != 0) {
        return ctl_error(EXIT_USAGE, "invalid mode '%s': expected safe or "
                         "hard", argv[2]);
    }
    args = json_pack("{s:s}", "id", argv[1]);
    if (argc == 3) {
        json_object_set_new(args, "mode", json_string(argv[2]));
    }
    return ctl_call(ctl, "block-export-del", args, NULL, NULL);
}

/* export move ID IOTHREAD: block-export-set-iothread, answered once the
 * export and its clients run there; "-" is the main loop (no iothread id
 * can be "-"). */
static int export_move(Ctl *ctl, int argc, char **argv)
{
    int ret = want(argc, 2, 2, "export move ID IOTHREAD|-");

    if (ret) {
        return ret;
    }
    return ctl_call(ctl, "block-export-set-iothread",
                    json_pack("{s:s, s:o}", "id", argv[1], "iothread",
                              strcmp(argv[2], "-") == 0
                              ? json_null() : json_string(argv[2])),
                    NULL, NULL);
}

int verb_export(Ctl *ctl, int argc, char **argv)
{
    static const SubVerb subs[] = {
        {"add", export_add}, {"list", export_list},
        {"del", export_del}, {"move", export_move}, {NULL, NULL},
    };

    return dispatch(ctl, argc, argv, subs, "export add|list|del|move ...");
}
