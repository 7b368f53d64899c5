/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP byte-stream splitter (see json-stream.h).  jansson parses whole
 * buffers only, so this file does the part jansson cannot: a tiny lexer
 * that knows just enough JSON (strings, escapes, brackets, bare tokens) to
 * tell where a message ends, and the limits that keep a hostile client from
 * making the daemon buffer or recurse without bound.  The real validation
 * is left to jansson once a message is complete.
 */
#include "qmp/json-stream.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define JSON_STREAM_DEFAULT_MAX_SIZE  (1024 * 1024)
#define JSON_STREAM_DEFAULT_MAX_DEPTH 1024
/* First allocation of the message buffer. */
#define JSON_STREAM_MIN_CAPACITY      256
/* A buffer grown past this is released after its message, so that one big
 * message does not pin a large allocation for the life of the client. */
#define JSON_STREAM_KEEP_CAPACITY     (64 * 1024)

struct JsonStream {
    JsonStreamLimits limits;
    JsonStreamEmit *emit;
    void *opaque;

    char *buf;          /* bytes of the current message */
    size_t len;
    size_t cap;

    size_t depth;       /* open {} and [] of the current message */
    char *closers;      /* closers[i]: the byte that closes level i + 1, for
                           levels within max_depth (deeper is skipped) */
    bool in_string;
    bool escape;        /* previous string byte was a backslash */
    bool in_scalar;     /* inside a top-level number or literal */
    bool skipping;      /* current message already reported as too big or
                           too deep: track its structure, buffer nothing */
};

void json_stream_limits_default(JsonStreamLimits *l)
{
    l->max_message_size = JSON_STREAM_DEFAULT_MAX_SIZE;
    l->max_depth = JSON_STREAM_DEFAULT_MAX_DEPTH;
}

JsonStream *json_stream_new(const JsonStreamLimits *l, JsonStreamEmit *emit,
                            void *opaque)
{
    JsonStream *s = calloc(1, sizeof(*s));

    if (!s) {
        return NULL;
    }
    if (l) {
        s->limits = *l;
    } else {
        json_stream_limits_default(&s->limits);
    }
    s->emit = emit;
    s->opaque = opaque;
    /* +1 so that max_depth == 0 still gets a valid allocation. */
    s->closers = malloc((size_t)s->limits.max_depth + 1);
    if (!s->closers) {
        free(s);
        return NULL;
    }
    return s;
}

void json_stream_free(JsonStream *s)
{
    if (!s) {
        return;
    }
    free(s->buf);
    free(s->closers);
    free(s);
}

size_t json_stream_buffer_capacity(const JsonStream *s)
{
    return s->cap;
}

/* Forget the current message; keep a modest buffer for the next one. */
static void reset(JsonStream *s)
{
    s->len = 0;
    s->depth = 0;
    s->in_string = false;
    s->escape = false;
    s->in_scalar = false;
    s->skipping = false;
    if (s->cap > JSON_STREAM_KEEP_CAPACITY) {
        free(s->buf);
        s->buf = NULL;
        s->cap = 0;
    }
}

static void emit_error(JsonStream *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void emit_error(JsonStream *s, const char *fmt, ...)
{
    char text[JSON_ERROR_TEXT_LENGTH + 64];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    s->emit(s->opaque, NULL, text);
}

/*
 * Report an error for the current message and discard it, unless it was
 * already reported (skipping): one error per message, never two.
 */
static void fail_message(JsonStream *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail_message(JsonStream *s, const char *fmt, ...)
{
    char text[JSON_ERROR_TEXT_LENGTH + 64];
    bool reported = s->skipping;
    va_list ap;

    reset(s);
    if (reported) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    s->emit(s->opaque, NULL, text);
}

/* Switch to skipping: the error is reported now, the bytes dropped. */
static void start_skipping(JsonStream *s)
{
    s->skipping = true;
    s->len = 0;
    if (s->cap > JSON_STREAM_KEEP_CAPACITY) {
        free(s->buf);
        s->buf = NULL;
        s->cap = 0;
    }
}

/* Make room for one more byte; the limit was checked by the caller. */
static bool reserve_one(JsonStream *s)
{
    size_t cap;
    char *buf;

    if (s->len < s->cap) {
        return true;
    }
    cap = s->cap ? s->cap * 2 : JSON_STREAM_MIN_CAPACITY;
    if (cap > s->limits.max_message_size) {
        cap = s->limits.max_message_size;
    }
    buf = realloc(s->buf, cap);
    if (!buf) {
        return false;
    }
    s->buf = buf;
    s->cap = cap;
    return true;
}

/* Add a byte to the current message, enforcing the size limit. */
static void append(JsonStream *s, char c)
{
    if (s->skipping) {
        return;
    }
    if (s->len >= s->limits.max_message_size) {
        emit_error(s, "JSON parse error, message exceeds %zu bytes",
                   s->limits.max_message_size);
        start_skipping(s);
        return;
    }
    if (!reserve_one(s)) {
        emit_error(s, "JSON parse error, out of memory buffering message");
        start_skipping(s);
        return;
    }
    s->buf[s->len++] = c;
}

/* The current message is complete: parse and emit it (unless skipped). */
static void finish_message(JsonStream *s)
{
    json_error_t err;
    json_t *msg;

    if (s->skipping) {
        reset(s);
        return;
    }
    msg = json_loadb(s->buf, s->len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                     &err);
    reset(s);
    if (msg) {
        s->emit(s->opaque, msg, NULL);
    } else {
        emit_error(s, "JSON parse error, %s", err.text);
    }
}

/*
 * Bytes no JSON text may contain where they appear: NUL and 0xFF anywhere,
 * control bytes in strings, and control bytes but TAB/CR/LF elsewhere.
 */
static bool is_lexical_error(const JsonStream *s, unsigned char c)
{
    if (c == 0x00 || c == 0xFF) {
        return true;
    }
    if (c >= 0x20) {
        return false;
    }
    return s->in_string || (c != '\t' && c != '\r' && c != '\n');
}

static bool is_whitespace(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Bytes that end a top-level number or literal. */
static bool is_delimiter(unsigned char c)
{
    switch (c) {
    case '{': case '}': case '[': case ']': case ',': case ':': case '"':
        return true;
    default:
        return is_whitespace(c);
    }
}

static void lexical_error(JsonStream *s, unsigned char c)
{
    fail_message(s, "JSON parse error, stray '\\x%02x'%s", c,
                 s->in_string ? " in string" : "");
}

static void string_byte(JsonStream *s, char c)
{
    append(s, c);
    if (s->escape) {
        s->escape = false;
    } else if (c == '\\') {
        s->escape = true;
    } else if (c == '"') {
        s->in_string = false;
        if (s->depth == 0) {
            finish_message(s);
        }
    }
}

static void open_bracket(JsonStream *s, char c)
{
    if (s->depth >= s->limits.max_depth && !s->skipping) {
        emit_error(s, "JSON parse error, nesting depth exceeds %u",
                   s->limits.max_depth);
        start_skipping(s);
    }
    if (s->depth < s->limits.max_depth) {
        s->closers[s->depth] = c == '{' ? '}' : ']';
    }
    s->depth++;
    append(s, c);
}

static void close_bracket(JsonStream *s, char c)
{
    if (s->depth == 0) {
        fail_message(s, "JSON parse error, unexpected '%c'", c);
        return;
    }
    /* Levels past max_depth were never recorded: any closer will do. */
    if (s->depth <= s->limits.max_depth && s->closers[s->depth - 1] != c) {
        fail_message(s, "JSON parse error, expected '%c' but got '%c'",
                     s->closers[s->depth - 1], c);
        return;
    }
    s->depth--;
    append(s, c);
    if (s->depth == 0) {
        finish_message(s);
    }
}

/* A byte outside any string and top-level scalar. */
static void structural_byte(JsonStream *s, char c)
{
    switch (c) {
    case '{':
    case '[':
        open_bracket(s, c);
        break;
    case '}':
    case ']':
        close_bracket(s, c);
        break;
    case '"':
        s->in_string = true;
        append(s, c);
        break;
    default:
        if (s->depth > 0) {
            append(s, c);
        } else if (is_whitespace(c)) {
            /* between messages: not part of any */
        } else if (c == ',' || c == ':') {
            /* a message of its own, for jansson to reject */
            append(s, c);
            finish_message(s);
        } else {
            s->in_scalar = true;
            append(s, c);
        }
        break;
    }
}

static void feed_byte(JsonStream *s, unsigned char c)
{
    if (is_lexical_error(s, c)) {
        lexical_error(s, c);
        return;
    }
    if (s->in_string) {
        string_byte(s, (char)c);
        return;
    }
    if (s->in_scalar) {
        if (!is_delimiter(c)) {
            append(s, (char)c);
            return;
        }
        /* The delimiter ends the scalar and then counts on its own. */
        finish_message(s);
    }
    structural_byte(s, (char)c);
}

void json_stream_feed(JsonStream *s, const char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;

    for (size_t i = 0; i < len; i++) {
        feed_byte(s, p[i]);
    }
}
