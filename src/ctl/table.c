/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "ctl/table.h"

struct Table {
    size_t ncols;
    const char *const *headers;
    char **cells; /* row-major */
    size_t nrows;
};

Table *table_new(size_t ncols, const char *const *headers)
{
    Table *t = calloc(1, sizeof(*t));

    if (t) {
        t->ncols = ncols;
        t->headers = headers;
    }
    return t;
}

void table_add(Table *t, const char *const *cells)
{
    char **c = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*c));

    if (!c) {
        return;
    }
    t->cells = c;
    for (size_t i = 0; i < t->ncols; i++) {
        c[t->nrows * t->ncols + i] = strdup(cells[i] ? cells[i] : "");
    }
    t->nrows++;
}

static void print_row(FILE *out, const char *const *row, const size_t *w,
                      size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i + 1 == n) {
            fprintf(out, "%s\n", row[i] ? row[i] : "");
        } else {
            fprintf(out, "%-*s ", (int)w[i], row[i] ? row[i] : "");
        }
    }
}

void table_print_free(Table *t, FILE *out, bool no_legend)
{
    size_t *w = calloc(t->ncols, sizeof(*w));

    for (size_t i = 0; w && i < t->ncols; i++) {
        w[i] = no_legend ? 0 : strlen(t->headers[i]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t len = strlen(t->cells[r * t->ncols + i]);

            w[i] = len > w[i] ? len : w[i];
        }
    }
    if (w && !no_legend) {
        print_row(out, t->headers, w, t->ncols);
    }
    for (size_t r = 0; w && r < t->nrows; r++) {
        print_row(out, (const char *const *)&t->cells[r * t->ncols], w,
                  t->ncols);
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    free(w);
    free(t);
}
