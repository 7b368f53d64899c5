/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The object verbs (list, info, get, add, set, del, pin) and the daemon
 * verbs (status, reload, quit).  Values are checked before anything is
 * sent; mutations print nothing on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/table.h"
#include "common/cpulist.h"
#include "common/iothread-config.h"

static int want_args(int argc, int min, int max, const char *usage)
{
    if (argc - 1 < min || argc - 1 > max) {
        return ctl_error(EXIT_USAGE, "usage: iothreadctl %s", usage);
    }
    return 0;
}

static int check_id(const char *id)
{
    if (!iothread_id_valid(id)) {
        return ctl_error(EXIT_USAGE, "invalid iothread id '%s': it must "
                         "start with a letter, then letters, digits, '-', "
                         "'.', '_'", id);
    }
    return 0;
}

/* Replace cpulist knobs by their canonical form, or fail before sending. */
static int normalize_cpus(json_t *props)
{
    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        json_t *v = json_object_get(props, p->name);
        cpu_set_t set;
        char *err = NULL, *canon;

        if (p->kind != IOTHREAD_PROP_CPULIST || !v ||
            !*json_string_value(v)) {
            continue;
        }
        if (cpulist_parse(json_string_value(v), &set, &err) < 0) {
            ctl_error(EXIT_USAGE, "%s", err ? err : "invalid cpulist");
            free(err);
            return EXIT_USAGE;
        }
        canon = cpulist_format(&set);
        json_object_set_new(props, p->name, json_string(canon));
        free(canon);
    }
    return 0;
}

/* Every choice-valued knob must name one of its choices. */
static int check_choices(json_t *props)
{
    char names[128];

    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        json_t *v = json_object_get(props, p->name);

        if (p->kind == IOTHREAD_PROP_ENUM && v &&
            iothread_prop_choice(p, json_string_value(v)) < 0) {
            return ctl_error(EXIT_USAGE, "invalid --%s '%s': expected %s",
                             p->cli, json_string_value(v),
                             iothread_prop_choices_text(p, ", ", " or ",
                                                        names,
                                                        sizeof(names)));
        }
    }
    return 0;
}

static const char *int_str(json_t *o, const char *key, char *buf,
                           size_t len)
{
    json_t *v = json_object_get(o, key);

    if (json_is_integer(v)) {
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else {
        snprintf(buf, len, "%s", json_is_string(v) ? json_string_value(v)
                                                    : "-");
    }
    return buf;
}

int verb_list(Ctl *ctl, int argc, char **argv)
{
    static const char *const headers[] = {
        "ID", "TID", "CPUS", "POLL-MAX-NS", "GROW", "SHRINK", "POLL-NS",
        "POOL", "FDMON",
    };
    char b[9][64];
    json_t *list = NULL, *e;
    size_t i;
    int ret = want_args(argc, 0, 0, "list");

    if (ret || (ret = ctl_call(ctl, "query-iothreads", NULL, NULL, &list))) {
        return ret;
    }
    if (ctl->quiet) {
        /* nothing */
    } else if (ctl->json) {
        ctl_print_json(ctl, list);
    } else {
        Table *t = table_new(9, headers);

        json_array_foreach(list, i, e) {
            char pmin[32], pmax[32];
            const char *cells[9] = {
                int_str(e, "id", b[0], 64),
                int_str(e, "thread-id", b[1], 64),
                int_str(e, "cpu-affinity", b[2], 64),
                int_str(e, "poll-max-ns", b[3], 64),
                int_str(e, "poll-grow", b[4], 64),
                int_str(e, "poll-shrink", b[5], 64),
                int_str(e, "poll-ns", b[6], 64),
                b[7],
                int_str(e, "fdmon", b[8], 64),
            };

            snprintf(b[7], 64, "%s/%s",
                     int_str(e, "thread-pool-min", pmin, sizeof(pmin)),
                     int_str(e, "thread-pool-max", pmax, sizeof(pmax)));
            table_add(t, cells);
        }
        table_print_free(t, stdout, ctl->no_legend);
    }
    json_decref(list);
    return 0;
}

/* The query-iothreads entry of @id, or NULL after an error message. */
static int find_entry(Ctl *ctl, const char *id, json_t **entry)
{
    json_t *list = NULL, *e;
    size_t i;
    int ret = ctl_call(ctl, "query-iothreads", NULL, NULL, &list);

    *entry = NULL;
    if (ret) {
        return ret;
    }
    json_array_foreach(list, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "id")), id) == 0) {
            *entry = json_incref(e);
        }
    }
    json_decref(list);
    if (!*entry) {
        return ctl_error(EXIT_DAEMON_ERROR, "iothread '%s' not found", id);
    }
    return 0;
}

static void print_value(const Ctl *ctl, json_t *v)
{
    if (ctl->json || !(json_is_string(v) || json_is_integer(v))) {
        Ctl c = *ctl;

        c.json = ctl->json ? ctl->json : JSON_SHORT;
        ctl_print_json(&c, v);
    } else if (json_is_string(v)) {
        puts(json_string_value(v));
    } else {
        printf("%" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
    }
}

int verb_info(Ctl *ctl, int argc, char **argv)
{
    json_t *e = NULL, *v;
    const char *key;
    int ret = want_args(argc, 1, 1, "info ID");

    if (ret || (ret = check_id(argv[1])) ||
        (ret = find_entry(ctl, argv[1], &e))) {
        return ret;
    }
    if (ctl->quiet) {
        /* nothing */
    } else if (ctl->json) {
        ctl_print_json(ctl, e);
    } else {
        json_object_foreach(e, key, v) {
            printf("%s: ", key);
            print_value(ctl, v);
        }
    }
    json_decref(e);
    return 0;
}

int verb_get(Ctl *ctl, int argc, char **argv)
{
    json_t *v = NULL;
    int ret = want_args(argc, 2, 2, "get ID PROP");

    if (ret || (ret = check_id(argv[1]))) {
        return ret;
    }
    ret = ctl_call(ctl, "qom-get", json_pack("{s:s, s:s}", "path", argv[1],
                                             "property", argv[2]),
                   argv[1], &v);
    if (ret == 0 && !ctl->quiet) {
        print_value(ctl, v);
    }
    json_decref(v);
    return ret;
}

int verb_add(Ctl *ctl, int argc, char **argv)
{
    json_t *args;
    int ret = want_args(argc, 1, 1, "add ID [KNOBS]");

    if (ret || (ret = check_id(argv[1])) ||
        (ret = normalize_cpus(ctl->knobs.props)) ||
        (ret = check_choices(ctl->knobs.props))) {
        return ret;
    }
    args = json_pack("{s:s, s:s}", "qom-type", "iothread", "id", argv[1]);
    json_object_update(args, ctl->knobs.props);
    return ctl_call(ctl, "object-add", args, NULL, NULL);
}

int verb_set(Ctl *ctl, int argc, char **argv)
{
    json_t *args;
    int ret = want_args(argc, 1, 1, "set ID KNOBS");

    if (ret || (ret = check_id(argv[1]))) {
        return ret;
    }
    if (json_object_size(ctl->knobs.props) == 0) {
        return ctl_error(EXIT_USAGE, "nothing to set for iothread '%s'",
                         argv[1]);
    }
    if (ctl->knobs.creation_only) {
        return ctl_error(EXIT_USAGE, "--%s is fixed when an iothread is "
                         "created; it cannot be set on '%s'",
                         ctl->knobs.creation_only, argv[1]);
    }
    if ((ret = normalize_cpus(ctl->knobs.props))) {
        return ret;
    }
    args = json_pack("{s:s}", "id", argv[1]);
    json_object_update(args, ctl->knobs.props);
    return ctl_call(ctl, "iothread-set", args, argv[1], NULL);
}

int verb_del(Ctl *ctl, int argc, char **argv)
{
    int ret = want_args(argc, 1, 1, "del ID");

    if (ret || (ret = check_id(argv[1]))) {
        return ret;
    }
    return ctl_call(ctl, "object-del", json_pack("{s:s}", "id", argv[1]),
                    argv[1], NULL);
}

int verb_pin(Ctl *ctl, int argc, char **argv)
{
    int ret = want_args(argc, 2, 2, "pin ID CPULIST");

    if (ret || (ret = check_id(argv[1]))) {
        return ret;
    }
    json_object_set_new(ctl->knobs.props, "cpu-affinity",
                        json_string(argv[2]));
    if ((ret = normalize_cpus(ctl->knobs.props))) {
        return ret;
    }
    return ctl_call(ctl, "iothread-set",
                    json_pack("{s:s, s:O}", "id", argv[1], "cpu-affinity",
                              json_object_get(ctl->knobs.props,
                                              "cpu-affinity")),
                    argv[1], NULL);
}

int verb_status(Ctl *ctl, int argc, char **argv)
{
    json_t *st = NULL, *v;
    const char *key;
    int ret = want_args(argc, 0, 0, "status");

    if (ret || (ret = ctl_call(ctl, "query-status", NULL, NULL, &st))) {
        return ret;
    }
    if (ctl->quiet) {
        /* nothing */
    } else if (ctl->json) {
        ctl_print_json(ctl, st);
    } else {
        json_object_foreach(st, key, v) {
            printf("%s: ", key);
            if (json_is_real(v)) {
                printf("%.1f\n", json_real_value(v));
            } else {
                print_value(ctl, v);
            }
        }
    }
    json_decref(st);
    return 0;
}

int verb_reload(Ctl *ctl, int argc, char **argv)
{
    int ret = want_args(argc, 0, 0, "reload");

    return ret ? ret : ctl_call(ctl, "reload", NULL, NULL, NULL);
}

int verb_quit(Ctl *ctl, int argc, char **argv)
{
    int ret = want_args(argc, 0, 0, "quit");

    return ret ? ret : ctl_call(ctl, "quit", NULL, NULL, NULL);
}
