/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP dispatch through a command table.  The application (the daemon)
 * provides a table of QmpCommand rows: a name, a handler, the schema of
 * its arguments and whether it only reads state.  This module checks a
 * request's arguments against the row, as QEMU's generated visitors do,
 * and calls the handler; it knows no command of its own.
 *
 * Main-thread (the QmpServer's thread) only, like the server.
 */
#ifndef IOTHREADD_QMP_DISPATCH_H
#define IOTHREADD_QMP_DISPATCH_H

#include <stdbool.h>

#include <jansson.h>

#include "qmp/server.h"

typedef enum {
    QMP_ARG_STR,
    QMP_ARG_INT,
    QMP_ARG_BOOL,
    QMP_ARG_ARRAY,
    QMP_ARG_ANY,
} QmpArgType;

typedef struct QmpArgSpec {
    const char *name; /* NULL ends the list */
    QmpArgType type;
    bool required;
} QmpArgSpec;

/*
 * A command handler.  @opaque is QmpCommandTable.opaque; @args the request's
 * arguments (checked against the row: declared ones have their type);
 * @props the members the row does not declare, when the row has
 * flat_props (else an empty object).  Both are borrowed for the call.
 * The handler answers @req exactly once, now or later, with
 * qmp_request_return() or qmp_request_error().
 */
typedef void QmpCommandFn(void *opaque, QmpRequest *req, json_t *args,
                          json_t *props);

#define QMP_MAX_ARGS 4

typedef struct QmpCommand {
    const char *name;               /* NULL ends the table */
    QmpCommandFn *handler;
    QmpArgSpec args[QMP_MAX_ARGS];  /* in QEMU's checking order */
    bool flat_props;                /* undeclared members are passed on in
                                       @props instead of being refused */
    bool read_only;                 /* allowed on a read-only socket */
} QmpCommand;

typedef struct QmpCommandTable {
    const QmpCommand *commands;     /* terminated by a row with no name */
    void *opaque;                   /* handed to every handler */
} QmpCommandTable;

/* qmp_command_find: the row of @t named @name, or NULL. */
const QmpCommand *qmp_command_find(const QmpCommandTable *t,
                                   const char *name);

/*
 * qmp_dispatch: the QmpDispatchFn to give qmp_server_new(), with a
 * QmpCommandTable as @opaque.  Unknown commands are answered
 * CommandNotFound "The command X has not been found"; argument errors
 * with QEMU's texts ("Parameter 'X' is missing", "Invalid parameter type
 * for 'X', expected: T", "Parameter 'X' is unexpected").
 */
void qmp_dispatch(void *opaque, QmpRequest *req, const char *command,
                  json_t *args);

/*
 * qmp_command_list: query-commands' reply for @t: [{"name": ...}, ...],
 * qmp_capabilities first, then the table's order.  NULL when out of
 * memory.
 */
json_t *qmp_command_list(const QmpCommandTable *t);

#endif /* IOTHREADD_QMP_DISPATCH_H */
