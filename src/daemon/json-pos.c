/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/json-pos.h"

typedef struct Scanner {
    const char *p, *end;
    int line, col;
} Scanner;

/* One open container on the way down. */
typedef struct Frame {
    bool is_object;
    long index;       /* arrays: the current element */
    const char *key;  /* objects: the current member's raw key */
    size_t key_len;
} Frame;

static void advance(Scanner *s)
{
    if (*s->p == '\n') {
        s->line++;
        s->col = 1;
    } else {
        s->col++;
    }
    s->p++;
}

static void skip_ws(Scanner *s)
{
    while (s->p < s->end && strchr(" \t\r\n", *s->p) && *s->p) {
        advance(s);
    }
}

/* Past a string starting at its opening quote; sets the raw contents. */
static void skip_string(Scanner *s, const char **start, size_t *len)
{
    advance(s);
    *start = s->p;
    while (s->p < s->end && *s->p != '"') {
        if (*s->p == '\\' && s->p + 1 < s->end) {
            advance(s);
        }
        advance(s);
    }
    *len = (size_t)(s->p - *start);
    if (s->p < s->end) {
        advance(s);
    }
}

static void skip_scalar(Scanner *s)
{
    while (s->p < s->end && !strchr(" \t\r\n,]}", *s->p)) {
        advance(s);
    }
}

static bool frame_matches(const Frame *f, const char *want)
{
    char buf[32];

    if (f->is_object) {
        return f->key && strlen(want) == f->key_len &&
               memcmp(f->key, want, f->key_len) == 0;
    }
    snprintf(buf, sizeof(buf), "%ld", f->index);
    return strcmp(buf, want) == 0;
}

static bool at_path(const Frame *stack, size_t n, const char *const *path,
                    size_t depth)
{
    if (n != depth) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!frame_matches(&stack[i], path[i])) {
            return false;
        }
    }
    return true;
}

/* The walk: where it is, the containers it is in, and what it looks for. */
typedef struct Walk {
    Scanner s;
    Frame *stack;
    size_t n, cap;
    const char *const *path;
    size_t depth;
    bool want_key;
    bool found;
    int line, col;
} Walk;

/* What the scanner expects next. */
typedef enum Step { AT_VALUE, AFTER_VALUE, AT_KEY, STOP } Step;

static Step found_at(Walk *w, int line, int col)
{
    w->found = true;
    w->line = line;
    w->col = col;
    return STOP;
}

static bool push(Walk *w, bool is_object)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        Frame *f = realloc(w->stack, cap * sizeof(*f));

        if (!f) {
            return false;
        }
        w->stack = f;
        w->cap = cap;
    }
    w->stack[w->n++] = (Frame){.is_object = is_object};
    return true;
}

static bool at_wanted(const Walk *w)
{
    return at_path(w->stack, w->n, w->path, w->depth);
}

/* A value starts here: a scalar is skipped, a container entered. */
static Step step_value(Walk *w)
{
    Scanner *s = &w->s;

    skip_ws(s);
    if (s->p >= s->end) {
        return STOP;
    }
    if (!w->want_key && at_wanted(w)) {
        return found_at(w, s->line, s->col);
    }
    if (*s->p == '{' || *s->p == '[') {
        bool is_object = *s->p == '{';

        if (!push(w, is_object)) {
            return STOP;
        }
        advance(s);
        skip_ws(s);
        if (s->p < s->end && (*s->p == '}' || *s->p == ']')) {
            advance(s);
            w->n--;
            return AFTER_VALUE;
        }
        return is_object ? AT_KEY : AT_VALUE;
    }
    if (*s->p == '"') {
        const char *str;
        size_t slen;

        skip_string(s, &str, &slen);
    } else {
        skip_scalar(s);
    }
    return AFTER_VALUE;
}

/* After a value: a comma, or the end of containers. */
static Step step_after_value(Walk *w)
{
    Scanner *s = &w->s;

    while (w->n > 0) {
        skip_ws(s);
        if (s->p >= s->end) {
            return STOP;
        }
        if (*s->p == ',') {
            advance(s);
            if (w->stack[w->n - 1].is_object) {
                return AT_KEY;
            }
            w->stack[w->n - 1].index++;
            return AT_VALUE;
        }
        advance(s); /* '}' or ']' */
        w->n--;
    }
    return STOP;
}

/* An object member's key, then its colon. */
static Step step_key(Walk *w)
{
    Scanner *s = &w->s;
    Frame *f = &w->stack[w->n - 1];
    int line, col;

    skip_ws(s);
    if (s->p >= s->end || *s->p != '"') {
        return STOP;
    }
    line = s->line;
    col = s->col;
    skip_string(s, &f->key, &f->key_len);
    if (w->want_key && at_wanted(w)) {
        return found_at(w, line, col);
    }
    skip_ws(s);
    if (s->p < s->end && *s->p == ':') {
        advance(s);
    }
    return AT_VALUE;
}

bool json_pos_find(const char *text, size_t len, const char *const *path,
                   size_t depth, bool want_key, int *line, int *col)
{
    Walk w = {
        .s = {.p = text, .end = text + len, .line = 1, .col = 1},
        .path = path, .depth = depth, .want_key = want_key,
    };
    Step step = AT_VALUE;

    while (step != STOP) {
        switch (step) {
        case AT_VALUE:
            step = step_value(&w);
            break;
        case AFTER_VALUE:
            step = step_after_value(&w);
            break;
        case AT_KEY:
            step = step_key(&w);
            break;
        case STOP:
            break;
        }
    }
    free(w.stack);
    if (w.found) {
        *line = w.line;
        *col = w.col;
    }
    return w.found;
}
