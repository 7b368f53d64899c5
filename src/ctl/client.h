/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A blocking QMP client with timeouts: connect, negotiate, execute,
 * receive events.  It knows only the protocol, not iothreadd.
 */
#ifndef IOTHREADCTL_CLIENT_H
#define IOTHREADCTL_CLIENT_H

#include <stdbool.h>

#include <jansson.h>

typedef struct CtlClient CtlClient;

typedef enum {
    CLIENT_OK = 0,
    CLIENT_UNREACHABLE, /* connect failed, or the peer went away */
    CLIENT_PROTOCOL,    /* not QMP, or malformed */
    CLIENT_TIMEOUT,
} ClientStatus;

/* client_connect: connect to @path, read the greeting, negotiate.  On
 * failure *@errp (malloc'd) says why.  @trace prints traffic on stderr. */
ClientStatus client_connect(const char *path, int timeout_ms, bool trace,
                            CtlClient **clientp, char **errp);

/*
 * client_execute: send {"execute": @cmd, "arguments": @args (borrowed,
 * may be NULL), "id": N} and wait for its reply (a new reference in
 * *@reply).  Events seen meanwhile are kept for client_next_event().
 */
ClientStatus client_execute(CtlClient *c, const char *cmd, json_t *args,
                            json_t **reply, char **errp);

/* client_next_event: the next event, waiting up to @timeout_ms (-1:
 * forever).  CLIENT_TIMEOUT when none came; CLIENT_UNREACHABLE at EOF. */
ClientStatus client_next_event(CtlClient *c, int timeout_ms, json_t **event,
                               char **errp);

void client_close(CtlClient *c);

#endif /* IOTHREADCTL_CLIENT_H */
