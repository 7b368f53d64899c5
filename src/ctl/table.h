/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Aligned text tables, in the manner of systemd's tools. */
#ifndef IOTHREADCTL_TABLE_H
#define IOTHREADCTL_TABLE_H

#include <stdbool.h>
#include <stdio.h>

typedef struct Table Table;

/* table_new: @ncols columns named by @headers (borrowed). */
Table *table_new(size_t ncols, const char *const *headers);
/* table_add: one row of @ncols cells (copied); printf-style for each
 * cell is up to the caller. */
void table_add(Table *t, const char *const *cells);
/* table_print: header (unless @no_legend) and rows, then free @t. */
void table_print_free(Table *t, FILE *out, bool no_legend);

#endif /* IOTHREADCTL_TABLE_H */
