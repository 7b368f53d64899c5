/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Life as a systemd service (libsystemd's sd_notify): readiness, status
 * line, reload and stop notifications, and the watchdog, which is pinged
 * only while every iothread's loop answers a heartbeat.  Without
 * NOTIFY_SOCKET every call is a cheap no-op.  Main thread only.
 */
#ifndef IOTHREADD_SERVICE_H
#define IOTHREADD_SERVICE_H

#include <stdint.h>

#include <iothread/aio.h>

#include "daemon/registry.h"

typedef struct Service Service;

/* service_new: arm the watchdog timer on @ctx if WATCHDOG_USEC asks for
 * it.  NULL only when out of memory. */
Service *service_new(AioContext *ctx, Registry *registry);
void service_free(Service *s);

/* READY=1 with the status line: the socket serves, iothreads run. */
void service_ready(Service *s);
/* STATUS= "N iothreads, M polling", sent when it changed. */
void service_update_status(Service *s);
/* RELOADING=1 with MONOTONIC_USEC; service_ready() follows the reload. */
void service_reloading(Service *s);
/* STOPPING=1. */
void service_stopping(Service *s);
/* ERRNO= and STATUS= for a start-up failure (no Service needed). */
void service_failed(int errnum, const char *message);

/* The watchdog period in microseconds, 0 when off. */
uint64_t service_watchdog_usec(Service *s);

#endif /* IOTHREADD_SERVICE_H */
