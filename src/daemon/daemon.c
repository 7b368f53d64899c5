/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small pieces of the daemon's state that the commands use, apart from
 * main() so that tests and fuzz targets link them too.
 */
#include "daemon/daemon.h"
#include "daemon/log.h"

json_t *daemon_version_json(void)
{
    return json_pack("{s:{s:i, s:i, s:i}, s:s}", "qemu", "major",
                     IOTHREADD_VERSION_MAJOR, "minor",
                     IOTHREADD_VERSION_MINOR, "micro",
                     IOTHREADD_VERSION_MICRO, "package",
                     "iothreadd " IOTHREADD_VERSION);
}

void daemon_request_quit(Daemon *d, const char *reason)
{
    d->quit = true;
    d->quit_reason = reason;
    /* We may be in a handler: make the loop come round to its test. */
    aio_notify(d->ctx);
}

void daemon_qmp_log(void *opaque, int level, const char *msg)
{
    log_msg(level, "%s", msg);
}
