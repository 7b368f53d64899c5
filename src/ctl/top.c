/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * top: a live full-screen view of the iothreads, refreshed every second
 * from the daemon's counters.  Keys: q quits; c, w, e, p, i sort by CPU,
 * wake-ups, events, poll hits, id.  The terminal is restored on q, Ctrl-C
 * and errors.
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

static void draw(const char *socket, Row *rows, size_t n)
{
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0) {
        ws.ws_row = 24; /* a terminal that does not say its size */
    }
    qsort(rows, n, sizeof(*rows), cmp_rows);
    /* Home, clear; one frame in one write keeps it flicker-free. */
    printf("\033[H\033[2J");
    printf("iothreadctl top - %s - %zu iothreads - sort: %c "
           "(c cpu, w wakeups, e events, p poll hits, i id; q quits)\n\n",
           socket, n, sort_key);
    printf("\033[7m%-20s %7s %12s %12s %9s %12s\033[0m\n", "ID", "CPU%",
           "WAKEUPS/S", "EVENTS/S", "POLL-HIT%", "POLL-NS");
    for (size_t i = 0; i < n && i + 4 < ws.ws_row; i++) {
        char hit[16];

        if (rows[i].hit_pct < 0) {
            snprintf(hit, sizeof(hit), "-");
        } else {
            snprintf(hit, sizeof(hit), "%.1f", rows[i].hit_pct);
        }
        printf("%-20.20s %7.1f %12.0f %12.0f %9s %12lld\n", rows[i].id,
               rows[i].cpu, rows[i].wakeups, rows[i].events, hit,
               rows[i].poll_ns);
    }
    fflush(stdout);
}

int verb_top(Ctl *ctl, int argc, char **argv)
{
    struct termios saved, raw;
    struct sigaction sa = {.sa_handler = on_stop};
    struct sigaction sw = {.sa_handler = on_winch};
    json_t *prev = NULL;
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
        json_t *cur = NULL;
        double t = now_s(), next;
        Row *rows;
        size_t n;

        code = ctl_call(ctl, "query-iothread-stats", NULL, NULL, &cur);
        if (code) {
            break;
        }
        n = make_rows(cur, prev, prev ? t - prev_t : 0, &rows);
        draw(ctl->socket, rows, n);
        free(rows);
        json_decref(prev);
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
    json_decref(prev);
    printf("\033[?25h\033[?1049l"); /* cursor back, main screen back */
    fflush(stdout);
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    return code;
}
