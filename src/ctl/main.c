/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iothreadctl: a QMP client for people and scripts.  Global options, the
 * verb table, and the helpers every verb shares.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/client.h"
#include "ctl/ctl.h"
#include "daemon/socket-setup.h"

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
    {"qmp", verb_qmp, "qmp COMMAND [JSON | KEY=VALUE...]", false, false},
    {"shell", verb_shell, "shell", false, false},
    {NULL, NULL, NULL, false, false},
};

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
"Knobs (add, set):\n"
"  --poll-max-ns N  --poll-grow N  --poll-shrink N  --aio-max-batch N\n"
"  --thread-pool-min N  --thread-pool-max N  --cpus CPULIST  --fdmon B\n"
"  (CPULIST like 0-3,^2 or r for all; B: auto, io_uring, epoll, poll;\n"
"   --fdmon only with add)\n"
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

/* A non-negative integer knob, checked before anything is sent. */
static int add_int_knob(Ctl *ctl, const char *name, const char *value)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(value, &end, 10);
    if (!*value || *end || errno || v < 0 || value[0] == '+' ||
        value[0] == ' ') {
        return ctl_error(EXIT_USAGE, "invalid value '%s' for --%s: expected "
                         "an integer from 0 to 9223372036854775807", value,
                         name);
    }
    json_object_set_new(ctl->knobs.props, name, json_integer(v));
    return 0;
}

static int parse_args(Ctl *ctl, int argc, char **argv, const Verb **verbp)
{
    enum { OPT_NO_LEGEND = 256, OPT_RAW, OPT_WATCH, OPT_CPUS, OPT_FDMON,
           OPT_KNOB };
    static const struct option opts[] = {
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
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"fdmon", required_argument, NULL, OPT_FDMON},
        {"poll-max-ns", required_argument, NULL, OPT_KNOB},
        {"poll-grow", required_argument, NULL, OPT_KNOB},
        {"poll-shrink", required_argument, NULL, OPT_KNOB},
        {"aio-max-batch", required_argument, NULL, OPT_KNOB},
        {"thread-pool-min", required_argument, NULL, OPT_KNOB},
        {"thread-pool-max", required_argument, NULL, OPT_KNOB},
        {NULL, 0, NULL, 0},
    };
    bool used_knobs = false, used_stats = false;
    int c, idx, ret;
    char *end;

    while ((c = getopt_long(argc, argv, "s:j::qt:vhV", opts, &idx)) != -1) {
        switch (c) {
        case 's':
            ctl->socket = optarg;
            break;
        case 'j':
            if (optarg && *optarg == '=') {
                optarg++; /* -j=short */
            }
            if (!optarg || strcmp(optarg, "pretty") == 0) {
                ctl->json = JSON_PRETTY;
            } else if (strcmp(optarg, "short") == 0) {
                ctl->json = JSON_SHORT;
            } else {
                return ctl_error(EXIT_USAGE, "--json takes pretty or short, "
                                 "not '%s'", optarg);
            }
            break;
        case 'q':
            ctl->quiet = true;
            break;
        case OPT_NO_LEGEND:
            ctl->no_legend = true;
            break;
        case 't': {
            double t = strtod(optarg, &end);

            if (*end || !(t > 0 && t <= 86400)) {
                return ctl_error(EXIT_USAGE, "invalid --timeout '%s': "
                                 "expected seconds", optarg);
            }
            ctl->timeout_ms = (int)(t * 1000);
            break;
        }
        case 'v':
            ctl->verbose = true;
            break;
        case 'h':
            usage(stdout);
            exit(EXIT_OK);
        case 'V':
            printf("iothreadctl %s\n", IOTHREADD_VERSION);
            exit(EXIT_OK);
        case OPT_RAW:
            ctl->raw = used_stats = true;
            break;
        case OPT_WATCH:
            used_stats = true;
            ctl->watch_secs = optarg ? strtod(optarg, &end) : 1;
            if (optarg && (*end || !(ctl->watch_secs >= 0.1 &&
                                     ctl->watch_secs <= 86400))) {
                return ctl_error(EXIT_USAGE, "invalid --watch '%s': "
                                 "expected seconds", optarg);
            }
            break;
        case OPT_CPUS:
            used_knobs = true;
            json_object_set_new(ctl->knobs.props, "cpu-affinity",
                                json_string(optarg));
            break;
        case OPT_FDMON:
            used_knobs = true;
            ctl->knobs.fdmon_given = true;
            json_object_set_new(ctl->knobs.props, "fdmon",
                                json_string(optarg));
            break;
        case OPT_KNOB:
            used_knobs = true;
            ret = add_int_knob(ctl, opts[idx].name, optarg);
            if (ret) {
                return ret;
            }
            break;
        default:
            fprintf(stderr, "Try 'iothreadctl --help' for more "
                            "information.\n");
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    for (*verbp = verbs; (*verbp)->name; (*verbp)++) {
        if (strcmp((*verbp)->name, argv[optind]) == 0) {
            break;
        }
    }
    if (!(*verbp)->name) {
        return ctl_error(EXIT_USAGE, "unknown command '%s' (see "
                         "'iothreadctl --help')", argv[optind]);
    }
    if ((used_knobs && !(*verbp)->knobs) ||
        (used_stats && !(*verbp)->stats)) {
        return ctl_error(EXIT_USAGE, "these options do not apply to '%s'",
                         (*verbp)->name);
    }
    return 0;
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
