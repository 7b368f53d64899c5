/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * top: a live full-screen view of the iothreads, each with the block
 * exports it serves beneath it, refreshed every second from the daemon's
 * counters (query-iothread-stats, query-block-exports, query-blockstats;
 * rates between two samples).  Keys: q quits; c, w, e, p, i sort the
 * iothreads by CPU, wake-ups, events, poll hits, id.  The terminal is
 * restored on q, Ctrl-C and errors.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <iothread/aio-stats.h>

#include "ctl/ctl.h"

typedef struct Row {
    char id[128];
    double cpu, wakeups, events, hit_pct;
    long long poll_ns;
} Row;

/* An export's line: its I/O rates, under the iothread that serves it. */
typedef struct ExportRow {
    char id[128];
    char iothread[128]; /* "": the main loop */
    double rd_iops, wr_iops, rd_mbs, wr_mbs;
    long long in_flight;
} ExportRow;

/* What one refresh shows. */
typedef struct Frame {
    Row *rows;
    size_t n;
    ExportRow *exports;
    size_t nexports;
} Frame;

static volatile sig_atomic_t stop_requested, resized;

static void on_stop(int sig)
{
    stop_requested = 1;
}

static void on_winch(int sig)
{
    resized = 1;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_int_t num(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static json_t *find_id(json_t *list, const char *id)
{
    size_t i;
    json_t *e;

    json_array_foreach(list, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "id")), id) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Rates between two samples @dt seconds apart. */
static size_t make_rows(json_t *cur, json_t *prev, double dt, Row **rowsp)
{
    size_t n = json_array_size(cur), i;
    Row *rows = calloc(n + 1, sizeof(*rows));
    json_t *e;

    json_array_foreach(cur, i, e) {
        json_t *p = prev ? find_id(prev, json_string_value(
                                             json_object_get(e, "id")))
                         : NULL;
        Row *r = &rows[i];
#define DELTA(k) (double)(num(e, k) - (p ? num(p, k) : num(e, k)))
#define STAT_DELTA(id) DELTA(aio_stat_name(AIO_STAT_##id))

        snprintf(r->id, sizeof(r->id), "%s",
                 json_string_value(json_object_get(e, "id")));
        r->cpu = dt > 0 ? (DELTA("user-cpu-ns") + DELTA("system-cpu-ns")) /
                              (dt * 1e7)
                        : 0;
        r->wakeups = dt > 0 ? STAT_DELTA(blocking_waits) / dt : 0;
        r->events = dt > 0 ? (STAT_DELTA(bh_runs) + STAT_DELTA(fd_dispatches) +
                              STAT_DELTA(timers_fired)) / dt
                           : 0;
        double h = STAT_DELTA(poll_hits), m = STAT_DELTA(poll_misses);

        r->hit_pct = h + m > 0 ? 100 * h / (h + m) : -1;
        r->poll_ns = num(e, aio_stat_name(AIO_STAT_poll_ns));
#undef STAT_DELTA
#undef DELTA
    }
    *rowsp = rows;
    return n;
}

/* Each export of @exports (query-block-exports) with its rates between
 * the query-blockstats samples @prev and @cur, @dt seconds apart. */
static size_t make_export_rows(json_t *exports, json_t *cur, json_t *prev,
                               double dt, ExportRow **rowsp)
{
    size_t n = json_array_size(exports), i;
    ExportRow *rows = calloc(n + 1, sizeof(*rows));
    json_t *e;

    *rowsp = rows;
    if (!rows) {
        return 0; /* out of memory: this frame shows no exports */
    }

    json_array_foreach(exports, i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *io = json_string_value(json_object_get(e, "iothread"));
        json_t *b = ctl_export_stats(cur, id);
        json_t *a = prev ? ctl_export_stats(prev, id) : NULL;
        ExportRow *r = &rows[i];

        snprintf(r->id, sizeof(r->id), "%s", id ? id : "?");
        snprintf(r->iothread, sizeof(r->iothread), "%s", io ? io : "");
        if (a && b) {
            r->rd_iops = ctl_rate(a, b, "rd_operations", dt);
            r->wr_iops = ctl_rate(a, b, "wr_operations", dt);
            r->rd_mbs = ctl_rate(a, b, "rd_bytes", dt) / 1e6;
            r->wr_mbs = ctl_rate(a, b, "wr_bytes", dt) / 1e6;
        }
        r->in_flight = b ? num(b, "in-flight") : 0;
    }
    return n;
}

static char sort_key = 'c';

static int cmp_rows(const void *a, const void *b)
{
    const Row *x = a, *y = b;
    double dx, dy;

    switch (sort_key) {
    case 'w':
        dx = x->wakeups, dy = y->wakeups;
        break;
    case 'e':
        dx = x->events, dy = y->events;
        break;
    case 'p':
        dx = x->hit_pct, dy = y->hit_pct;
        break;
    case 'i':
        return strcmp(x->id, y->id);
    default:
        dx = x->cpu, dy = y->cpu;
    }
    return dx < dy ? 1 : dx > dy ? -1 : strcmp(x->id, y->id);
}

/* The exports of @f served by @iothread ("": the main loop), one line
 * each while fewer than @max lines are out; returns the lines printed. */
static size_t draw_exports(const Frame *f, const char *iothread,
                           size_t lines, size_t max)
{
    size_t printed = 0;

    for (size_t k = 0; k < f->nexports && lines + printed < max; k++) {
        const ExportRow *x = &f->exports[k];

        if (strcmp(x->iothread, iothread) == 0) {
            printf("  - %-16.16s r %6.0f IOPS %6.1f MB/s  w %6.0f IOPS "
                   "%6.1f MB/s  qd %3lld\n",
                   x->id, x->rd_iops, x->rd_mbs, x->wr_iops, x->wr_mbs,
                   x->in_flight);
            printed++;
        }
    }
    return printed;
}

static void draw(const char *socket, Frame *f)
{
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    size_t lines = 0, max;
    bool main_loop_exports = false;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0) {
        ws.ws_row = 24; /* a terminal that does not say its size */
    }
    max = ws.ws_row > 4 ? ws.ws_row - 4u : 0;
    qsort(f->rows, f->n, sizeof(*f->rows), cmp_rows);
    /* Home, clear; one frame in one write keeps it flicker-free. */
    printf("\033[H\033[2J");
    printf("iothreadctl top - %s - %zu iothreads - sort: %c "
           "(c cpu, w wakeups, e events, p poll hits, i id; q quits)\n",
           socket, f->n, sort_key);
    printf("exports beneath their iothread: r/w per second, qd = requests "
           "in flight\n");
    printf("\033[7m%-20s %7s %12s %12s %9s %12s\033[0m\n", "ID", "CPU%",
           "WAKEUPS/S", "EVENTS/S", "POLL-HIT%", "POLL-NS");
    for (size_t i = 0; i < f->n && lines < max; i++) {
        const Row *r = &f->rows[i];
        char hit[16];

        if (r->hit_pct < 0) {
            snprintf(hit, sizeof(hit), "-");
        } else {
            snprintf(hit, sizeof(hit), "%.1f", r->hit_pct);
        }
        printf("%-20.20s %7.1f %12.0f %12.0f %9s %12lld\n", r->id, r->cpu,
               r->wakeups, r->events, hit, r->poll_ns);
        lines++;
        lines += draw_exports(f, r->id, lines, max);
    }
    for (size_t k = 0; k < f->nexports; k++) {
        main_loop_exports |= f->exports[k].iothread[0] == '\0';
    }
    if (main_loop_exports && lines < max) {
        printf("%-20s\n", "(main loop)");
        lines++;
        draw_exports(f, "", lines, max);
    }
    fflush(stdout);
}

/* What one refresh asks the daemon (new references, or NULL). */
typedef struct Sample {
    json_t *iothreads, *exports, *blockstats;
} Sample;

static void sample_free(Sample *s)
{
    json_decref(s->iothreads);
    json_decref(s->exports);
    json_decref(s->blockstats);
    *s = (Sample){0};
}

/* Ask for a sample: 0, or ctl_call()'s exit status (*@s then empty). */
static int sample_take(Ctl *ctl, Sample *s)
{
    int code;

    *s = (Sample){0};
    code = ctl_call(ctl, "query-iothread-stats", NULL, NULL, &s->iothreads);
    if (!code) {
        code = ctl_call(ctl, "query-block-exports", NULL, NULL, &s->exports);
    }
    if (!code) {
        code = ctl_call(ctl, "query-blockstats", NULL, NULL, &s->blockstats);
    }
    if (code) {
        sample_free(s);
    }
    return code;
}

int verb_top(Ctl *ctl, int argc, char **argv)
{
    struct termios saved, raw;
    struct sigaction sa = {.sa_handler = on_stop};
    struct sigaction sw = {.sa_handler = on_winch};
    Sample prev = {0};
    double prev_t = 0;
    int code;

    if (argc != 1) {
        return ctl_error(EXIT_USAGE, "usage: iothreadctl top");
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        return ctl_error(EXIT_USAGE, "top needs a terminal; use 'stats "
                         "--watch' in scripts");
    }
    if ((code = ctl_connect(ctl))) {
        return code;
    }
    tcgetattr(STDIN_FILENO, &saved);
    raw = saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* keep ISIG: Ctrl-C works */
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGWINCH, &sw, NULL);
    printf("\033[?1049h\033[?25l"); /* alternate screen, hide cursor */

    while (!stop_requested) {
        Sample cur;
        double t = now_s(), next, dt = prev.iothreads ? t - prev_t : 0;
        Frame f;

        code = sample_take(ctl, &cur);
        if (code) {
            break;
        }
        f.n = make_rows(cur.iothreads, prev.iothreads, dt, &f.rows);
        f.nexports = make_export_rows(cur.exports, cur.blockstats,
                                      prev.blockstats, dt, &f.exports);
        draw(ctl->socket, &f);
        free(f.rows);
        free(f.exports);
        sample_free(&prev);
        prev = cur;
        prev_t = t;
        /* Keys until the next refresh. */
        for (next = t + 1.0; !stop_requested && !resized;) {
            struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
            int wait = (int)((next - now_s()) * 1000);
            char key;

            if (wait <= 0 || poll(&pfd, 1, wait) <= 0) {
                break;
            }
            if (read(STDIN_FILENO, &key, 1) == 1) {
                if (key == 'q' || key == 'Q') {
                    stop_requested = 1;
                } else if (strchr("cwepi", key)) {
                    sort_key = key;
                    break;
                }
            }
        }
        resized = 0;
    }
    sample_free(&prev);
    printf("\033[?25h\033[?1049l"); /* cursor back, main screen back */
    fflush(stdout);
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    return code;
}
