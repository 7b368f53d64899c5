/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A JSON message splitter for QMP.  A QMP client sends a byte stream, not
 * lines: messages may share a line, span several reads, or be separated by
 * arbitrary whitespace.  This module finds where each message ends (by
 * tracking {} / [] depth and strings, like QEMU's json-lexer/json-streamer),
 * parses it with jansson and hands it over, one callback per message.
 *
 * It also enforces the limits a server needs against hostile or broken
 * clients: message size and nesting depth are bounded, memory stays bounded
 * whatever is sent, and after any error the stream resynchronises so that
 * the next well-formed message parses.  Lexical errors (a control byte
 * other than TAB/CR/LF, a raw control byte inside a string, a NUL or 0xFF
 * byte) discard the partial message; QMP clients send such a byte on
 * purpose to reset the parser (see QEMU's docs/interop/qmp-spec).
 *
 * Thread-safety: a JsonStream is used by a single thread; functions on
 * different streams may run concurrently.
 */
#ifndef IOTHREADD_QMP_JSON_STREAM_H
#define IOTHREADD_QMP_JSON_STREAM_H

#include <stddef.h>

#include <jansson.h>

typedef struct JsonStream JsonStream;

/*
 * Called once per complete message: exactly one of @msg and @error is
 * non-NULL.
 *  - @msg is a new reference the callee owns (and must json_decref()); it
 *    may be any JSON type, scalars included.
 *  - @error is a human-readable message starting with "JSON parse error, ",
 *    valid only during the call.
 * The callback runs from inside json_stream_feed().  It must not call
 * json_stream_feed() or json_stream_free() on the same stream; anything else
 * (including feeding other streams) is fine.
 */
typedef void JsonStreamEmit(void *opaque, json_t *msg, const char *error);

typedef struct JsonStreamLimits {
    size_t max_message_size; /* bytes of one message, from its first to its
                                last byte; default 1 MiB */
    unsigned max_depth;      /* nesting of {} and [] in one message;
                                default 1024 */
} JsonStreamLimits;

/* Fill @l with the default limits (1 MiB, depth 1024). */
void json_stream_limits_default(JsonStreamLimits *l);

/*
 * Create a splitter that calls @emit(@opaque, ...) for each message.
 * @l is copied; NULL means json_stream_limits_default().  Memory used is
 * bounded by about max_message_size + max_depth bytes plus a small constant.
 * Returns NULL on ENOMEM.  Free with json_stream_free().
 */
JsonStream *json_stream_new(const JsonStreamLimits *l, JsonStreamEmit *emit,
                            void *opaque);

/*
 * Consume @len bytes of @buf (borrowed; need not be NUL-terminated, and may
 * contain NUL bytes, which are lexical errors).  Calls emit once for each
 * message completed by these bytes, in stream order, any number of times
 * (including zero).  A message incomplete at the end of @buf stays pending
 * until later feeds complete it.  A top-level number or literal (123, true)
 * only completes at the next delimiter byte (whitespace or one of
 * {}[],:"), since more digits could follow.
 *
 * Errors are reported through emit, one per bad message:
 *  - jansson rejected the message (syntax, invalid UTF-8, \u0000, duplicate
 *    keys): "JSON parse error, " + jansson's text;
 *  - a closer that does not match its opener, or a closer at depth 0: the
 *    message so far is discarded, parsing continues after that byte;
 *  - a lexical error: the partial message (if any) is discarded, the byte
 *    consumed, parsing continues after it;
 *  - a message over max_message_size or deeper than max_depth: reported
 *    once, then the rest of that message is skipped (its structure is still
 *    tracked, so the stream resynchronises at its end).  A lexical error
 *    or mismatched closer while skipping ends the skip silently.
 */
void json_stream_feed(JsonStream *s, const char *buf, size_t len);

/*
 * Bytes currently allocated for buffering a partial message: for tests and
 * diagnostics (memory stays bounded by the limits).
 */
size_t json_stream_buffer_capacity(const JsonStream *s);

/* Discard any partial message and free @s.  NULL is a no-op.  Never emits. */
void json_stream_free(JsonStream *s);

#endif /* IOTHREADD_QMP_JSON_STREAM_H */
