/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iothreadctl: shared definitions of the command-line client.
 */
#ifndef IOTHREADCTL_CTL_H
#define IOTHREADCTL_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

/* Exit statuses (documented in iothreadctl(1) and --help). */
enum {
    EXIT_OK = 0,
    EXIT_DAEMON_ERROR = 1, /* the daemon answered with an error */
    EXIT_USAGE = 2,        /* bad command line or value */
    EXIT_UNREACHABLE = 69, /* EX_UNAVAILABLE: no daemon on the socket */
    EXIT_PROTOCOL = 76,    /* EX_PROTOCOL: the peer does not speak QMP */
};

typedef enum { JSON_OFF, JSON_PRETTY, JSON_SHORT } JsonMode;

/* Knobs of add / set: iothread properties from the command line. */
typedef struct Knobs {
    json_t *props;             /* property name -> value, as sent */
    const char *creation_only; /* the first creation-only knob given (its
                                  option name), or NULL */
} Knobs;

typedef struct Ctl {
    const char *socket;
    JsonMode json;
    bool quiet;
    bool no_legend;
    bool verbose;
    int timeout_ms;
    bool raw;          /* stats --raw */
    double watch_secs; /* stats --watch; 0: once */
    Knobs knobs;
    struct CtlClient *client;
} Ctl;

/* Print "error: ..." on stderr and return @code. */
int ctl_error(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print @v as --json asks (pretty unless short), newline-terminated. */
void ctl_print_json(const Ctl *ctl, json_t *v);

/* Connect and negotiate, once; 0 or an exit status after the message. */
int ctl_connect(Ctl *ctl);

/*
 * ctl_call: run @cmd with @args (stolen; NULL for none).  0 with *@ret (a
 * new reference, may be NULL if @ret is NULL) on success; on an error
 * reply prints "error: ..." (DeviceNotFound as "iothread 'ID' not found"
 * when @id is given) and returns EXIT_DAEMON_ERROR; other failures
 * EXIT_UNREACHABLE / EXIT_PROTOCOL.
 */
int ctl_call(Ctl *ctl, const char *cmd, json_t *args, const char *id,
             json_t **ret);

/* blockstats.c: the "stats" of export @id in the query-blockstats reply
 * @blockstats (borrowed), or NULL. */
json_t *ctl_export_stats(json_t *blockstats, const char *id);
/* The per-second rate of counter @key from stats @a to stats @b, taken
 * @secs apart; 0 when it did not grow or no time passed. */
double ctl_rate(json_t *a, json_t *b, const char *key, double secs);

/* Verbs: argv[0] is the verb. */
typedef int VerbFn(Ctl *ctl, int argc, char **argv);
VerbFn verb_list, verb_info, verb_get, verb_add, verb_set, verb_del,
    verb_pin, verb_stats, verb_top, verb_monitor, verb_status, verb_reload,
    verb_quit, verb_qmp, verb_shell;
/* block-verbs.c */
VerbFn verb_blockdev, verb_nbd, verb_export;

#endif /* IOTHREADCTL_CTL_H */
