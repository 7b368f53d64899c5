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

bool json_pos_find(const char *text, size_t len, const char *const *path,
                   size_t depth, bool want_key, int *line, int *col)
{
    Scanner s = {.p = text, .end = text + len, .line = 1, .col = 1};
    Frame *stack = NULL;
    size_t n = 0, cap = 0;
    bool found = false;

    for (;;) {
        /* A value starts here. */
        skip_ws(&s);
        if (s.p >= s.end) {
            break;
        }
        if (!want_key && at_path(stack, n, path, depth)) {
            *line = s.line;
            *col = s.col;
            found = true;
            break;
        }
        if (*s.p == '{' || *s.p == '[') {
            if (n == cap) {
                Frame *f = realloc(stack, (cap ? cap * 2 : 16) * sizeof(*f));

                if (!f) {
                    break;
                }
                stack = f;
                cap = cap ? cap * 2 : 16;
            }
            stack[n++] = (Frame){.is_object = *s.p == '{'};
            advance(&s);
            skip_ws(&s);
            if (s.p < s.end && (*s.p == '}' || *s.p == ']')) {
                advance(&s);
                n--;
                goto value_done;
            }
            if (stack[n - 1].is_object) {
                goto member_key;
            }
            continue;
        }
        if (*s.p == '"') {
            const char *str;
            size_t slen;

            skip_string(&s, &str, &slen);
        } else {
            skip_scalar(&s);
        }
value_done:
        /* After a value: a comma, or the end of containers. */
        for (;;) {
            if (n == 0) {
                goto out;
            }
            skip_ws(&s);
            if (s.p >= s.end) {
                goto out;
            }
            if (*s.p == ',') {
                advance(&s);
                if (stack[n - 1].is_object) {
                    goto member_key;
                }
                stack[n - 1].index++;
                break;
            }
            advance(&s); /* '}' or ']' */
            n--;
        }
        continue;
member_key:
        skip_ws(&s);
        if (s.p >= s.end || *s.p != '"') {
            break;
        }
        {
            int key_line = s.line, key_col = s.col;

            skip_string(&s, &stack[n - 1].key, &stack[n - 1].key_len);
            if (want_key && at_path(stack, n, path, depth)) {
                *line = key_line;
                *col = key_col;
                found = true;
                break;
            }
        }
        skip_ws(&s);
        if (s.p < s.end && *s.p == ':') {
            advance(&s);
        }
    }
out:
    free(stack);
    return found;
}
