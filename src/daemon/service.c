/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include <iothread/timer.h>

#include "daemon/log.h"
#include "daemon/service.h"

struct Service {
    AioContext *ctx;
    Registry *registry;
    char status[128];  /* last STATUS= sent */
    uint64_t watchdog_usec;
    AioTimer *watchdog_timer;
    bool stalled;      /* pings withheld: an iothread did not answer */
};

static void format_status(Service *s, char *buf, size_t len)
{
    size_t n = 0, polling = 0;

    for (IOThreadObject *o = registry_next(s->registry, NULL); o;
         o = registry_next(s->registry, o)) {
        n++;
        polling += iothread_object_config(o)->poll_max_ns > 0;
    }
    snprintf(buf, len, "%zu iothread%s, %zu polling", n, n == 1 ? "" : "s",
             polling);
}

void service_update_status(Service *s)
{
    char status[sizeof(s->status)];

    format_status(s, status, sizeof(status));
    if (strcmp(status, s->status) != 0) {
        snprintf(s->status, sizeof(s->status), "%s", status);
        sd_notifyf(0, "STATUS=%s", s->status);
    }
}

void service_ready(Service *s)
{
    format_status(s, s->status, sizeof(s->status));
    sd_notifyf(0, "READY=1\nSTATUS=%s", s->status);
}

void service_reloading(Service *s)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* systemd wants the time of the reload request to match it with the
     * READY=1 that ends it. */
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
               (unsigned long long)ts.tv_sec * 1000000ULL +
                   (unsigned long long)ts.tv_nsec / 1000ULL);
}

void service_stopping(Service *s)
{
    sd_notify(0, "STOPPING=1");
}

void service_failed(int errnum, const char *message)
{
    sd_notifyf(0, "ERRNO=%d\nSTATUS=Failed to start: %s", errnum, message);
}

uint64_t service_watchdog_usec(Service *s)
{
    return s->watchdog_usec;
}

/*
 * Every half period: ping only if every iothread answered the heartbeat
 * sent last time.  A loop stuck in a handler stops answering, the pings
 * stop, and systemd restarts us: better than a daemon that looks alive.
 */
static void watchdog_tick(void *opaque)
{
    Service *s = opaque;
    char stuck[512] = "";
    size_t len = 0;

    for (IOThreadObject *o = registry_next(s->registry, NULL); o;
         o = registry_next(s->registry, o)) {
        if (!iothread_object_heartbeat(o) && len < sizeof(stuck) - 1) {
            len += (size_t)snprintf(stuck + len, sizeof(stuck) - len,
                                    "%s'%s'", len ? ", " : "",
                                    iothread_object_id(o));
        }
    }
    if (len == 0) {
        if (s->stalled) {
            log_notice("watchdog: every iothread responds again");
            s->stalled = false;
        }
        sd_notify(0, "WATCHDOG=1");
    } else if (!s->stalled) {
        log_err("watchdog: iothread %s does not respond; not pinging the "
                "service manager", stuck);
        s->stalled = true;
    }
    aio_timer_mod_in(s->watchdog_timer, (int64_t)s->watchdog_usec * 500);
}

Service *service_new(AioContext *ctx, Registry *registry)
{
    Service *s = calloc(1, sizeof(*s));
    uint64_t usec = 0;

    if (!s) {
        return NULL;
    }
    s->ctx = ctx;
    s->registry = registry;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        s->watchdog_usec = usec;
        s->watchdog_timer = aio_timer_new(ctx, AIO_CLOCK_MONOTONIC,
                                          watchdog_tick, s);
        if (!s->watchdog_timer) {
            free(s);
            return NULL;
        }
        aio_timer_mod_in(s->watchdog_timer, (int64_t)usec * 500);
        log_info("watchdog: pinging every %llu ms while iothreads respond",
                 (unsigned long long)usec / 2000);
    }
    return s;
}

void service_free(Service *s)
{
    if (s) {
        aio_timer_free(s->watchdog_timer);
        free(s);
    }
}
