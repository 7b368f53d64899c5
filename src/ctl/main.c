/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iothreadctl: a QMP client for people and scripts.  Global options, the
 * verb table, and the helpers every verb shares.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/iothread-props.h"
#include "common/socket-path.h"
#include "ctl/client.h"
#include "ctl/ctl.h"

typedef struct Verb {
    const char *name;
    VerbFn *fn;
    const char *usage;
    bool knobs;  /* takes --poll-max-ns ... */
    bool stats;  /* takes --raw / --watch */
} Verb;

static const Verb verbs[] = {
    {"list", verb_list, "list", false, false},
    {"info", verb_info, "info ID", false, false},
    {"get", verb_get, "get ID PROP", false, false},
    {"add", verb_add, "add ID [KNOBS]", true, false},
    {"set", verb_set, "set ID KNOBS", true, false},
    {"del", verb_del, "del ID", false, false},
    {"pin", verb_pin, "pin ID CPULIST", false, false},
    {"stats", verb_stats, "stats [ID...] [--raw] [--watch[=SECS]]", false,
     true},
    {"top", verb_top, "top", false, false},
    {"monitor", verb_monitor, "monitor", false, false},
    {"status", verb_status, "status", false, false},
    {"reload", verb_reload, "reload", false, false},
    {"quit", verb_quit, "quit", false, false},
    {"blockdev", verb_blockdev, "blockdev add SPEC | list | del NODE", false,
     false},
    {"nbd", verb_nbd, "nbd start SPEC | stop", false, false},
    {"export", verb_export, "export add SPEC | list | del ID [safe|hard] | "
     "move ID IOTHREAD|-", false, false},
    {"qmp", verb_qmp, "qmp COMMAND [JSON | KEY=VALUE...]", false, false},
    {"shell", verb_shell, "shell", false, false},
    {NULL, NULL, NULL, false, false},
};

/* --help's lines for the knobs, from the property table. */
static void knobs_usage(FILE *out)
{
    for (const IOThreadPropInfo *p = iothread_props; p->name; p++) {
        fprintf(out, "  --%s %s\n        %s\n", p->cli, p->arg,
                p->description);
    }
    fprintf(out, "  (CPULIST like 0-3,^2 or r for all; creation-only knobs "
                 "only with add)\n");
}

static void usage(FILE *out)
{
    fprintf(out,
"Usage: iothreadctl [OPTION]... COMMAND [ARG]...\n"
"Control iothreadd, the IOThread supervisor, over its QMP socket.\n"
"\n"
"Commands:\n");
    for (const Verb *v = verbs; v->name; v++) {
        fprintf(out, "  %s\n", v->usage);
    }
    fprintf(out,
"\n"
"Options:\n"
"  -s, --socket PATH        daemon socket (default: $IOTHREADCTL_SOCKET, else\n"
"                           the daemon's default path)\n"
"  -j, --json[=pretty|short]  machine-readable output\n"
"  -q, --quiet              print nothing on success\n"
"      --no-legend          tables without their header line\n"
"  -t, --timeout SECS       wait at most this long for the daemon (10)\n"
"  -v, --verbose            show the QMP traffic on stderr\n"
"  -h, --help               this help;  -V, --version  the version\n"
"\n"
"SPEC: qemu-storage-daemon's --blockdev, --nbd-server, --export syntax\n"
"(key=value,... or JSON), e.g. driver=file,node-name=f0,filename=disk.img\n"
"\n"
"Knobs (add, set), the iothread properties:\n");
    knobs_usage(out);
    fprintf(out,
"\n"
"Exit status: 0 ok, 1 the daemon returned an error, 2 usage or validation\n"
"error, 69 the daemon cannot be reached, 76 protocol error.\n");
}

int ctl_error(int code, const char *fmt, ...)
{
    va_list ap;

    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

void ctl_print_json(const Ctl *ctl, json_t *v)
{
    size_t flags = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER;
    char *s;

    flags |= ctl->json == JSON_SHORT ? JSON_COMPACT : JSON_INDENT(2);
    s = json_dumps(v, flags);
    if (s) {
        puts(s);
        free(s);
    }
}

int ctl_connect(Ctl *ctl)
{
    char *err = NULL;
    ClientStatus st;

    if (ctl->client) {
        return 0;
    }
    st = client_connect(ctl->socket, ctl->timeout_ms, ctl->verbose,
                        &ctl->client, &err);
    if (st != CLIENT_OK) {
        ctl_error(st == CLIENT_PROTOCOL ? EXIT_PROTOCOL : EXIT_UNREACHABLE,
                  "%s", err ? err : "cannot reach the daemon");
        free(err);
        return st == CLIENT_PROTOCOL ? EXIT_PROTOCOL : EXIT_UNREACHABLE;
    }
    return 0;
}

int ctl_call(Ctl *ctl, const char *cmd, json_t *args, const char *id,
             json_t **ret)
{
    json_t *reply = NULL, *e;
    char *err = NULL;
    ClientStatus st;
    int code = ctl_connect(ctl);

    if (code) {
        json_decref(args);
        return code;
    }
    st = client_execute(ctl->client, cmd, args, &reply, &err);
    json_decref(args);
    if (st != CLIENT_OK) {
        code = st == CLIENT_PROTOCOL ? EXIT_PROTOCOL : EXIT_UNREACHABLE;
        ctl_error(code, "%s", err ? err : "no reply");
        free(err);
        return code;
    }
    e = json_object_get(reply, "error");
    if (e) {
        const char *cls = json_string_value(json_object_get(e, "class"));
        const char *desc = json_string_value(json_object_get(e, "desc"));

        if (id && cls && strcmp(cls, "DeviceNotFound") == 0) {
            ctl_error(EXIT_DAEMON_ERROR, "iothread '%s' not found", id);
        } else {
            ctl_error(EXIT_DAEMON_ERROR, "%s", desc ? desc : "(no text)");
        }
        json_decref(reply);
        return EXIT_DAEMON_ERROR;
    }
    if (ret) {
        *ret = json_incref(json_object_get(reply, "return"));
    }
    json_decref(reply);
    return 0;
}

/* An integer knob, checked against the table's range before anything is
 * sent. */
static int add_int_knob(Ctl *ctl, const IOThreadPropInfo *p,
                        const char *value)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(value, &end, 10);
    if (!*value || *end || errno || v < p->min || v > p->max ||
        value[0] == '+' || value[0] == ' ') {
        return ctl_error(EXIT_USAGE, "invalid value '%s' for --%s: expected "
                         "an integer from %" PRId64 " to %" PRId64, value,
                         p->cli, p->min, p->max);
    }
    json_object_set_new(ctl->knobs.props, p->name, json_integer(v));
    return 0;
}

/* A knob: the property @p set to @value (strings are checked by the verb,
 * which knows whether they make sense). */
static int add_knob(Ctl *ctl, const IOThreadPropInfo *p, const char *value)
{
    if (!p->runtime && !ctl->knobs.creation_only) {
        ctl->knobs.creation_only = p->cli;
    }
    if (p->kind == IOTHREAD_PROP_INT) {
        return add_int_knob(ctl, p, value);
    }
    json_object_set_new(ctl->knobs.props, p->name, json_string(value));
    return 0;
}

enum { OPT_NO_LEGEND = 256, OPT_RAW, OPT_WATCH, OPT_KNOB };

static const struct option global_opts[] = {
    {"socket", required_argument, NULL, 's'},
    {"json", optional_argument, NULL, 'j'},
    {"quiet", no_argument, NULL, 'q'},
    {"no-legend", no_argument, NULL, OPT_NO_LEGEND},
    {"timeout", required_argument, NULL, 't'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"raw", no_argument, NULL, OPT_RAW},
    {"watch", optional_argument, NULL, OPT_WATCH},
};
#define N_GLOBAL_OPTS (sizeof(global_opts) / sizeof(global_opts[0]))

/* getopt's table: the global options, then one per property (its value
 * OPT_KNOB + the row's index), then the terminator. */
static void build_options(struct option *opts)
{
    size_t n = 0;

    for (size_t i = 0; i < N_GLOBAL_OPTS; i++) {
        opts[n++] = global_opts[i];
    }
    for (int i = 0; iothread_props[i].name; i++) {
        opts[n++] = (struct option){iothread_props[i].cli, required_argument,
                                    NULL, OPT_KNOB + i};
    }
    opts[n] = (struct option){NULL, 0, NULL, 0};
}

static int parse_json_mode(Ctl *ctl, const char *arg)
{
    if (arg && *arg == '=') {
        arg++; /* -j=short */
    }
    if (!arg || strcmp(arg, "pretty") == 0) {
        ctl->json = JSON_PRETTY;
    } else if (strcmp(arg, "short") == 0) {
        ctl->json = JSON_SHORT;
    } else {
        return ctl_error(EXIT_USAGE, "--json takes pretty or short, not '%s'",
                         arg);
    }
    return 0;
}

static int parse_seconds(const char *opt, const char *arg, double min,
                         double *secs)
{
    char *end;

    *secs = strtod(arg, &end);
    if (*end || !(*secs > 0 && *secs >= min && *secs <= 86400)) {
        return ctl_error(EXIT_USAGE, "invalid --%s '%s': expected seconds",
                         opt, arg);
    }
    return 0;
}

/* One option that is not a knob.  0, or an exit status after the
 * message. */
static int parse_option(Ctl *ctl, int c, const char *arg, bool *used_stats)
{
    double t;
    int ret;

    switch (c) {
    case 's':
        ctl->socket = arg;
        return 0;
    case 'j':
        return parse_json_mode(ctl, arg);
    case 'q':
        ctl->quiet = true;
        return 0;
    case OPT_NO_LEGEND:
        ctl->no_legend = true;
        return 0;
    case 't':
        ret = parse_seconds("timeout", arg, 0, &t);
        ctl->timeout_ms = (int)(t * 1000);
        return ret;
    case 'v':
        ctl->verbose = true;
        return 0;
    case 'h':
        usage(stdout);
        exit(EXIT_OK);
    case 'V':
        printf("iothreadctl %s\n", IOTHREADD_VERSION);
        exit(EXIT_OK);
    case OPT_RAW:
        ctl->raw = *used_stats = true;
        return 0;
    case OPT_WATCH:
        *used_stats = true;
        ctl->watch_secs = 1;
        return arg ? parse_seconds("watch", arg, 0.1, &ctl->watch_secs) : 0;
    default:
        fprintf(stderr, "Try 'iothreadctl --help' for more information.\n");
        return EXIT_USAGE;
    }
}

/* The verb named argv[optind], allowed the options that were used. */
static int find_verb(int argc, char **argv, bool used_knobs, bool used_stats,
                     const Verb **verbp)
{
    const Verb *v;

    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    for (v = verbs; v->name; v++) {
        if (strcmp(v->name, argv[optind]) == 0) {
            break;
        }
    }
    if (!v->name) {
        return ctl_error(EXIT_USAGE, "unknown command '%s' (see "
                         "'iothreadctl --help')", argv[optind]);
    }
    if ((used_knobs && !v->knobs) || (used_stats && !v->stats)) {
        return ctl_error(EXIT_USAGE, "these options do not apply to '%s'",
                         v->name);
    }
    *verbp = v;
    return 0;
}

static int parse_args(Ctl *ctl, int argc, char **argv, const Verb **verbp)
{
    struct option opts[N_GLOBAL_OPTS + IOTHREAD_PROP_COUNT + 1];
    bool used_knobs = false, used_stats = false;
    int c, ret = 0;

    build_options(opts);
    while (ret == 0 &&
           (c = getopt_long(argc, argv, "s:j::qt:vhV", opts, NULL)) != -1) {
        if (c >= OPT_KNOB && c < OPT_KNOB + (int)IOTHREAD_PROP_COUNT) {
            used_knobs = true;
            ret = add_knob(ctl, &iothread_props[c - OPT_KNOB], optarg);
        } else {
            ret = parse_option(ctl, c, optarg, &used_stats);
        }
    }
    return ret ? ret : find_verb(argc, argv, used_knobs, used_stats, verbp);
}

int main(int argc, char **argv)
{
    Ctl ctl = {.timeout_ms = 10000};
    const Verb *verb = NULL;
    char *default_path = NULL;
    int ret;

    ctl.knobs.props = json_object();
    ret = parse_args(&ctl, argc, argv, &verb);
    if (ret == 0) {
        if (!ctl.socket) {
            ctl.socket = getenv("IOTHREADCTL_SOCKET");
        }
        if (!ctl.socket || !*ctl.socket) {
            ctl.socket = default_path = default_socket_path();
        }
        ret = verb->fn(&ctl, argc - optind, argv + optind);
    }
    client_close(ctl.client);
    json_decref(ctl.knobs.props);
    free(default_path);
    return ret;
}
