/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Raw protocol verbs: qmp (one command), shell (qmp-shell syntax, one
 * command per line) and monitor (print events as they come).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/client.h"
#include "ctl/ctl.h"

/* KEY=VALUE: VALUE as JSON when it parses (1, true, {"a": 1}), else a
 * string, as qmp-shell does. */
static int parse_kv_args(int argc, char **argv, json_t **argsp)
{
    json_t *args = json_object();

    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        json_t *v;

        if (!eq || eq == argv[i]) {
            json_decref(args);
            return ctl_error(EXIT_USAGE, "expected KEY=VALUE, not '%s'",
                             argv[i]);
        }
        *eq = '\0';
        v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
        json_object_set_new(args, argv[i], v ? v : json_string(eq + 1));
        *eq = '=';
    }
    *argsp = args;
    return 0;
}

static int parse_command_args(int argc, char **argv, json_t **argsp)
{
    json_error_t jerr;

    *argsp = NULL;
    if (argc == 1 && argv[0][0] == '{') {
        *argsp = json_loads(argv[0], 0, &jerr);
        if (!json_is_object(*argsp)) {
            json_decref(*argsp);
            return ctl_error(EXIT_USAGE, "arguments are not a JSON object: "
                             "%s", jerr.text);
        }
        return 0;
    }
    return argc ? parse_kv_args(argc, argv, argsp) : 0;
}

int verb_qmp(Ctl *ctl, int argc, char **argv)
{
    json_t *args = NULL, *ret = NULL;
    int code;

    if (argc < 2) {
        return ctl_error(EXIT_USAGE, "usage: iothreadctl qmp COMMAND "
                         "[JSON | KEY=VALUE...]");
    }
    code = parse_command_args(argc - 2, argv + 2, &args);
    if (code) {
        return code;
    }
    code = ctl_call(ctl, argv[1], args, NULL, &ret);
    if (code == 0 && !ctl->quiet) {
        Ctl c = *ctl;

        c.json = ctl->json ? ctl->json : JSON_PRETTY;
        ctl_print_json(&c, ret ? ret : json_object());
    }
    json_decref(ret);
    return code;
}

/* Split a line into words (no quoting: values with spaces go as JSON). */
static int split(char *line, char **words, int max)
{
    int n = 0;

    for (char *w = strtok(line, " \t\r\n"); w && n < max;
         w = strtok(NULL, " \t\r\n")) {
        words[n++] = w;
    }
    return n;
}

int verb_shell(Ctl *ctl, int argc, char **argv)
{
    bool tty = isatty(STDIN_FILENO);
    char line[65536], *words[256];
    int code, last = 0;

    if (argc != 1) {
        return ctl_error(EXIT_USAGE, "usage: iothreadctl shell");
    }
    if ((code = ctl_connect(ctl))) {
        return code;
    }
    for (;;) {
        json_t *args = NULL, *ret = NULL;
        int n;

        if (tty) {
            fputs("(iothreadd) ", stdout);
            fflush(stdout);
        }
        if (!fgets(line, sizeof(line), stdin)) {
            break;
        }
        n = split(line, words, 256);
        if (n == 0 || words[0][0] == '#') {
            continue;
        }
        if (strcmp(words[0], "quit-shell") == 0) {
            break;
        }
        last = parse_command_args(n - 1, words + 1, &args);
        if (last == 0) {
            last = ctl_call(ctl, words[0], args, NULL, &ret);
        }
        if (last == 0) {
            Ctl c = *ctl;

            c.json = ctl->json ? ctl->json : JSON_PRETTY;
            ctl_print_json(&c, ret ? ret : json_object());
        }
        json_decref(ret);
        fflush(stdout);
        if (last == EXIT_UNREACHABLE || last == EXIT_PROTOCOL) {
            return last;
        }
    }
    if (tty) {
        putchar('\n');
    }
    return tty ? 0 : last;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    interrupted = 1;
}

int verb_monitor(Ctl *ctl, int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = on_interrupt};
    int code;

    if (argc != 1) {
        return ctl_error(EXIT_USAGE, "usage: iothreadctl monitor");
    }
    if ((code = ctl_connect(ctl))) {
        return code;
    }
    /* No SA_RESTART: the wait for the next event returns at once. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!interrupted) {
        json_t *ev = NULL;
        char *err = NULL;
        ClientStatus st = client_next_event(ctl->client, 1000, &ev, &err);

        free(err);
        if (st == CLIENT_OK) {
            Ctl c = *ctl;

            c.json = ctl->json == JSON_PRETTY ? JSON_PRETTY : JSON_SHORT;
            ctl_print_json(&c, ev);
            fflush(stdout);
            json_decref(ev);
        } else if (st == CLIENT_UNREACHABLE) {
            break; /* the daemon went away: the stream simply ends */
        } else if (st == CLIENT_PROTOCOL) {
            return EXIT_PROTOCOL;
        }
    }
    return 0;
}
