/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for the QMP byte-stream splitter (src/qmp/json-stream.c): the
 * framing rules (a byte stream, not lines), error recovery after every kind
 * of malformed input QEMU's qmp-test sends, and the size and depth limits
 * that keep memory bounded against hostile clients.
 */
#include "../harness.h"

#include <stdlib.h>
#include <string.h>

#include "qmp/json-stream.h"

/* What the emit callback saw: "ok:<compact JSON>" or "err:<text>". */
typedef struct Recorder {
    char **events;
    size_t count;
    size_t cap;
    int both_or_neither; /* calls violating "exactly one non-NULL" */
} Recorder;

static void record(void *opaque, json_t *msg, const char *error)
{
    Recorder *r = opaque;
    char *ev = NULL;

    if (!msg == !error) {
        r->both_or_neither++;
    }
    if (msg) {
        char *dump = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY |
                                         JSON_SORT_KEYS);
        if (asprintf(&ev, "ok:%s", dump ? dump : "?") < 0) {
            ev = NULL;
        }
        free(dump);
        json_decref(msg);
    } else if (error) {
        if (asprintf(&ev, "err:%s", error) < 0) {
            ev = NULL;
        }
    }
    if (r->count == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->events = realloc(r->events, r->cap * sizeof(*r->events));
    }
    r->events[r->count++] = ev;
}

static void recorder_clear(Recorder *r)
{
    for (size_t i = 0; i < r->count; i++) {
        free(r->events[i]);
    }
    free(r->events);
    memset(r, 0, sizeof(*r));
}

static bool is_error(const Recorder *r, size_t i)
{
    return i < r->count && r->events[i] &&
           strncmp(r->events[i], "err:JSON parse error, ", 22) == 0;
}

static const char *event(const Recorder *r, size_t i)
{
    return i < r->count ? r->events[i] : NULL;
}

static JsonStream *new_stream(Recorder *r, size_t max_size, unsigned depth)
{
    JsonStreamLimits l;

    json_stream_limits_default(&l);
    if (max_size) {
        l.max_message_size = max_size;
    }
    if (depth) {
        l.max_depth = depth;
    }
    memset(r, 0, sizeof(*r));
    return json_stream_new(&l, record, r);
}

static void feed_str(JsonStream *s, const char *str)
{
    json_stream_feed(s, str, strlen(str));
}

/* Feed @n copies of byte @c, in chunks, without a huge allocation. */
static void feed_repeat(JsonStream *s, char c, size_t n)
{
    char chunk[65536];

    memset(chunk, c, sizeof(chunk));
    while (n > 0) {
        size_t k = n < sizeof(chunk) ? n : sizeof(chunk);

        json_stream_feed(s, chunk, k);
        n -= k;
    }
}

/*
 * Feed @input (@len bytes) in one go, then check that exactly one error was
 * emitted and that a following well-formed message still parses.  @what
 * names the input in a failure.
 */
static void check_one_error_then_ok(const char *what, const char *input,
                                    size_t len)
{
    static const char next[] = "{\"execute\":\"qmp_capabilities\"}";
    Recorder r;
    JsonStream *s = new_stream(&r, 0, 0);

    REQUIRE(s);
    json_stream_feed(s, input, len);
    if (r.count != 1 || !is_error(&r, 0)) {
        test_fail(__FILE__, __LINE__, "%s: %zu events, first %s; want one "
                  "error", what, r.count, event(&r, 0) ? event(&r, 0)
                                                        : "(none)");
    }
    feed_str(s, next);
    if (r.count < 1 || !event(&r, r.count - 1) ||
        strcmp(event(&r, r.count - 1) + 3, next) != 0) {
        test_fail(__FILE__, __LINE__, "%s: the next message did not parse",
                  what);
    }
    CHECK_EQ_INT(r.both_or_neither, 0);
    json_stream_free(s);
    recorder_clear(&r);
}

/* An input given as a string literal, which may contain NUL bytes. */
#define BYTES(lit) lit, sizeof(lit) - 1

/*
 * Feed-and-expect: @input fed in one go to a new stream (limits 0: the
 * defaults) emits exactly @want, in order.  "err" stands for any parse
 * error with a message; "err:..." and "ok:..." are exact.
 */
typedef struct FeedCase {
    const char *name;
    const char *input;
    size_t len;
    size_t max_size;
    unsigned max_depth;
    const char *want[10]; /* up to the first NULL */
} FeedCase;

static const FeedCase feed_cases[] = {
    {"several messages on one line",
     BYTES("{\"a\":1}{\"b\":2} [3]\t{\"c\":[]}"), 0, 0,
     {"ok:{\"a\":1}", "ok:{\"b\":2}", "ok:[3]", "ok:{\"c\":[]}"}},
    {"whitespace between and inside",
     BYTES("\n\n  {\n \"a\" :\t1\r\n}\r\n\t[ 1 ,\n2 ]  \n"), 0, 0,
     {"ok:{\"a\":1}", "ok:[1,2]"}},
    {"top-level scalars", BYTES("null true false 123 -1.5 \"str\""), 0, 0,
     {"ok:null", "ok:true", "ok:false", "ok:123", "ok:-1.5", "ok:\"str\""}},
    /* {, [, " and whitespace end a scalar and then start their own token */
    {"scalar ended by each opener and whitespace",
     BYTES("1{\"a\":1}2[3]4\"x\"5\r6\t7 "), 0, 0,
     {"ok:1", "ok:{\"a\":1}", "ok:2", "ok:[3]", "ok:4", "ok:\"x\"", "ok:5",
      "ok:6", "ok:7"}},
    /* closers, comma and colon end it too, then are errors of their own */
    {"scalar ended by closers, comma, colon", BYTES("8]9}10,11:"), 0, 0,
     {"ok:8", "err", "ok:9", "err", "ok:10", "err", "ok:11", "err"}},
    {"escapes do not end strings",
     BYTES("{\"a\":\"x\\\"]}\",\"b\":\"\\\\\"}\"\\\\\"\"\\\"{[\"[\"\\u005d\\/\"]"),
     0, 0,
     {"ok:{\"a\":\"x\\\"]}\",\"b\":\"\\\\\"}", "ok:\"\\\\\"",
      "ok:\"\\\"{[\"", "ok:[\"]/\"]"}},
    {"parse error, then the next message", BYTES("{\"a\":}[1,2]"), 0, 0,
     {"err", "ok:[1,2]"}},
    {"lexical error texts", BYTES("{\x01{\"a\n"), 0, 0,
     {"err:JSON parse error, stray '\\x01'",
      "err:JSON parse error, stray '\\x0a' in string"}},
    {"size limit on top-level scalars",
     BYTES("\"0123456789\\\"{\" 12345678901234 true "), 8, 0,
     {"err", "err", "ok:true"}},
    /* already reported as too big: the reset byte adds no second error */
    {"skip ended by a lexical error", BYTES("[1,2,3,4,5,6\x01[7]"), 8, 0,
     {"err", "ok:[7]"}},
};

TEST(json_stream_feed_and_expect)
{
    for (size_t i = 0; i < sizeof(feed_cases) / sizeof(feed_cases[0]); i++) {
        const FeedCase *c = &feed_cases[i];
        Recorder r;
        JsonStream *s = new_stream(&r, c->max_size, c->max_depth);
        size_t n = 0;

        REQUIRE(s);
        json_stream_feed(s, c->input, c->len);
        for (; n < sizeof(c->want) / sizeof(c->want[0]) && c->want[n]; n++) {
            const char *got = event(&r, n);
            bool ok = strcmp(c->want[n], "err") == 0
                          ? is_error(&r, n) && strlen(got) > 26
                          : got && strcmp(got, c->want[n]) == 0;

            if (!ok) {
                test_fail(__FILE__, __LINE__, "%s: event %zu: want %s, got %s",
                          c->name, n, c->want[n], got ? got : "(none)");
            }
        }
        if (r.count != n || r.both_or_neither) {
            test_fail(__FILE__, __LINE__, "%s: %zu events (%d malformed), "
                      "want %zu", c->name, r.count, r.both_or_neither, n);
        }
        json_stream_free(s);
        recorder_clear(&r);
    }
}

/* Inputs that must give exactly one error, after which the stream takes
 * a well-formed message again. */
static const struct {
    const char *what;
    const char *input;
    size_t len;
} one_error_cases[] = {
    {"bad literal", BYTES("tru ")},
    {"bad literal", BYTES("nul\n")},
    {"bad literal", BYTES("01 ")},
    {"bad literal", BYTES("'x' ")},
    {"bad literal", BYTES(",")},
    {"bad literal", BYTES(":")},
    {"bad literal", BYTES("[1,]")},
    {"NUL escape", BYTES("\"\\u0000\"")},
    {"NUL escape", BYTES("{\"a\":\"x\\u0000y\"}")},
    {"NUL byte", BYTES("\0")},
    {"NUL byte", BYTES("{\"a\0")},
    {"NUL byte", BYTES("{\"a\":1\0")},
    {"NUL byte", BYTES("12\0")},
    {"invalid UTF-8", BYTES("\"\xc3\x28\"")},
    {"invalid UTF-8", BYTES("{\"a\":\"\xed\xa0\x80\"}")},
    {"invalid UTF-8", BYTES("[\"\x80\"]")},
    {"duplicate keys", BYTES("{\"a\":1,\"a\":2}")},
    {"mismatched closer", BYTES("{]")},
    {"mismatched closer", BYTES("[}")},
    {"mismatched closer", BYTES("{\"a\":[1}")},
    {"mismatched closer", BYTES("[{\"a\":1]")},
    {"stray closer", BYTES("]")},
    {"stray closer", BYTES("}")},
    {"stray closer", BYTES("  ]\n")},
    /* QEMU's tests/qtest/qmp-test.c malformed-input cases */
    {"qmp-test", BYTES("{]\n")},
    {"qmp-test", BYTES("{\xFF")},
    {"qmp-test", BYTES("{\x01")},
    {"qmp-test", BYTES("{\"bad \xFF")},
    {"qmp-test", BYTES("{\"bad \n")},
    {"0xff byte", BYTES("\xFF")},
    {"0xff byte", BYTES("[1,\xFF")},
    {"0xff byte", BYTES("\"ab\xFF")},
    {"0xff byte", BYTES("12\xFF")},
};

TEST(json_stream_one_error_then_resync)
{
    for (size_t i = 0; i < sizeof(one_error_cases) / sizeof(one_error_cases[0]);
         i++) {
        char what[64];

        snprintf(what, sizeof(what), "%s (row %zu)", one_error_cases[i].what,
                 i);
        check_one_error_then_ok(what, one_error_cases[i].input,
                                one_error_cases[i].len);
    }
}

TEST(json_stream_default_limits)
{
    JsonStreamLimits l;

    json_stream_limits_default(&l);
    CHECK_EQ_INT(l.max_message_size, 1024 * 1024);
    CHECK_EQ_INT(l.max_depth, 1024);
}

TEST(json_stream_null_limits_mean_default)
{
    Recorder r = {0};
    JsonStream *s = json_stream_new(NULL, record, &r);

    REQUIRE(s);
    feed_str(s, "{\"a\":1}");
    CHECK_EQ_INT(r.count, 1);
    CHECK_STR(event(&r, 0), "ok:{\"a\":1}");
    json_stream_free(s);
    recorder_clear(&r);
    json_stream_free(NULL);
}

TEST(json_stream_scalar_waits_for_delimiter)
{
    Recorder r;
    JsonStream *s = new_stream(&r, 0, 0);

    REQUIRE(s);
    feed_str(s, "12");
    CHECK_EQ_INT(r.count, 0);
    feed_str(s, "3");
    CHECK_EQ_INT(r.count, 0);
    feed_str(s, "\n");
    CHECK_EQ_INT(r.count, 1);
    CHECK_STR(event(&r, 0), "ok:123");
    json_stream_free(s);
    recorder_clear(&r);
}

/* A stream exercising strings, escapes, nesting and scalars. */
static const char split_input[] =
    "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"a\":[1,2,"
    "{\"b\":\"x\\\"]}\\\\\"}],\"c\":\"caf\xc3\xa9\"}}\n"
    " 42 \"s\\\"\" null [[]]{\"id\":true}\r\n-7\n";

static const char *const split_expected[] = {
    ("ok:{\"arguments\":{\"a\":[1,2,{\"b\":\"x\\\"]}\\\\\"}],"
     "\"c\":\"caf\xc3\xa9\"},\"execute\":\"qmp_capabilities\"}"),
    "ok:42",
    "ok:\"s\\\"\"",
    "ok:null",
    "ok:[[]]",
    "ok:{\"id\":true}",
    "ok:-7",
};

#define SPLIT_EXPECTED_COUNT (sizeof(split_expected) / sizeof(split_expected[0]))

static bool matches_split_expected(const Recorder *r)
{
    if (r->count != SPLIT_EXPECTED_COUNT || r->both_or_neither) {
        return false;
    }
    for (size_t i = 0; i < r->count; i++) {
        if (!r->events[i] || strcmp(r->events[i], split_expected[i]) != 0) {
            return false;
        }
    }
    return true;
}

TEST(json_stream_split_at_every_offset)
{
    size_t len = strlen(split_input);

    for (size_t cut = 0; cut <= len; cut++) {
        Recorder r;
        JsonStream *s = new_stream(&r, 0, 0);

        REQUIRE(s);
        json_stream_feed(s, split_input, cut);
        json_stream_feed(s, split_input + cut, len - cut);
        if (!matches_split_expected(&r)) {
            test_fail(__FILE__, __LINE__, "split at offset %zu: %zu events",
                      cut, r.count);
        }
        json_stream_free(s);
        recorder_clear(&r);
    }
}

TEST(json_stream_one_byte_at_a_time)
{
    size_t len = strlen(split_input);
    Recorder r;
    JsonStream *s = new_stream(&r, 0, 0);

    REQUIRE(s);
    for (size_t i = 0; i < len; i++) {
        json_stream_feed(s, split_input + i, 1);
    }
    CHECK(matches_split_expected(&r));
    json_stream_feed(s, split_input, 0);
    CHECK_EQ_INT(r.count, SPLIT_EXPECTED_COUNT);
    json_stream_free(s);
    recorder_clear(&r);
}

TEST(json_stream_message_outlives_feed)
{
    Recorder r;
    JsonStream *s = new_stream(&r, 0, 0);
    char buf[] = "{\"k\":\"v\"}";

    REQUIRE(s);
    json_stream_feed(s, buf, strlen(buf));
    memset(buf, 'X', strlen(buf)); /* the stream must not keep pointers */
    json_stream_free(s);
    CHECK_EQ_INT(r.count, 1);
    CHECK_STR(event(&r, 0), "ok:{\"k\":\"v\"}");
    recorder_clear(&r);
}

/* QEMU's tests/qtest/qmp-test.c malformed-input cases. */
TEST(json_stream_control_bytes_outside_strings)
{
    for (int c = 0x01; c < 0x20; c++) {
        char in[] = {'[', '1', ',', (char)c, '2', ']'};
        Recorder r;
        JsonStream *s = new_stream(&r, 0, 0);

        REQUIRE(s);
        json_stream_feed(s, in, sizeof(in));
        if (c == '\t' || c == '\r' || c == '\n') {
            CHECK_EQ_INT(r.count, 1);
            CHECK_STR(event(&r, 0), "ok:[1,2]");
        } else {
            /* error for "[1,", then "2" and "]" follow at depth 0 */
            if (!is_error(&r, 0)) {
                test_fail(__FILE__, __LINE__, "byte 0x%02x accepted", c);
            }
        }
        json_stream_free(s);
        recorder_clear(&r);

        if (c != '\t' && c != '\r' && c != '\n') {
            char alone[] = {'{', (char)c};

            check_one_error_then_ok("control byte after {", alone,
                                    sizeof(alone));
        }
    }
}

TEST(json_stream_raw_control_bytes_in_strings)
{
    for (int c = 0x01; c < 0x20; c++) {
        char in[] = {'{', '"', 'a', (char)c};

        check_one_error_then_ok("control byte in a string", in, sizeof(in));
    }
}

TEST(json_stream_size_limit)
{
    Recorder r;
    JsonStream *s = new_stream(&r, 16, 0);

    REQUIRE(s);
    feed_str(s, "{\"a\":\"12345678\"}"); /* exactly 16 bytes */
    CHECK_EQ_INT(r.count, 1);
    CHECK_STR(event(&r, 0), "ok:{\"a\":\"12345678\"}");
    /* 17 bytes, with brackets and quotes after the cut to resync past */
    feed_str(s, "{\"a\":[\"]}\\\"\",[]]}");
    CHECK_EQ_INT(r.count, 2);
    CHECK_STR(event(&r, 1), "err:JSON parse error, message exceeds 16 bytes");
    feed_str(s, "[1]");
    CHECK_EQ_INT(r.count, 3);
    CHECK_STR(event(&r, 2), "ok:[1]");
    json_stream_free(s);
    recorder_clear(&r);
}

TEST(json_stream_depth_limit)
{
    Recorder r;
    JsonStream *s = new_stream(&r, 0, 4);

    REQUIRE(s);
    feed_str(s, "[[[{\"a\":1}]]]");
    CHECK_EQ_INT(r.count, 1);
    CHECK_STR(event(&r, 0), "ok:[[[{\"a\":1}]]]");
    feed_str(s, "[[[{\"a\":[\"]]\"]}]]]");
    CHECK_EQ_INT(r.count, 2);
    CHECK_STR(event(&r, 1), "err:JSON parse error, nesting depth exceeds 4");
    feed_str(s, "{\"b\":2}");
    CHECK_EQ_INT(r.count, 3);
    CHECK_STR(event(&r, 2), "ok:{\"b\":2}");
    json_stream_free(s);
    recorder_clear(&r);
}

TEST(json_stream_deep_nesting_20000)
{
    Recorder r;
    JsonStream *s = new_stream(&r, 0, 0);

    REQUIRE(s);
    feed_repeat(s, '[', 20000);
    feed_repeat(s, ']', 20000);
    CHECK_EQ_INT(r.count, 1);
    CHECK(is_error(&r, 0));
    CHECK(json_stream_buffer_capacity(s) <= 64 * 1024);
    feed_str(s, "{\"a\":1}");
    CHECK_EQ_INT(r.count, 2);
    CHECK_STR(event(&r, 1), "ok:{\"a\":1}");
    json_stream_free(s);
    recorder_clear(&r);
}

/* Deep nesting allowed by the splitter still reaches jansson safely. */
TEST(json_stream_deep_nesting_high_limit)
{
    Recorder r;
    JsonStream *s = new_stream(&r, 0, 30000);

    REQUIRE(s);
    feed_repeat(s, '[', 20000);
    feed_repeat(s, ']', 20000);
    CHECK_EQ_INT(r.count, 1);
    CHECK(is_error(&r, 0)); /* jansson's own depth limit */
    feed_repeat(s, '[', 1000);
    feed_repeat(s, ']', 1000);
    CHECK_EQ_INT(r.count, 2);
    CHECK(event(&r, 1) && strncmp(event(&r, 1), "ok:[[[", 6) == 0);
    json_stream_free(s);
    recorder_clear(&r);
}

TEST(json_stream_64mib_message)
{
    Recorder r;
    JsonStream *s = new_stream(&r, 0, 0);
    size_t max_cap = 0;
    char chunk[65536];

    REQUIRE(s);
    memset(chunk, 'x', sizeof(chunk));
    feed_str(s, "{\"execute\":\"x\",\"arguments\":{\"data\":\"");
    for (size_t i = 0; i < (64u << 20) / sizeof(chunk); i++) {
        json_stream_feed(s, chunk, sizeof(chunk));
        if (json_stream_buffer_capacity(s) > max_cap) {
            max_cap = json_stream_buffer_capacity(s);
        }
    }
    feed_str(s, "\"}}");
    CHECK(max_cap <= 1024 * 1024);
    CHECK_EQ_INT(r.count, 1);
    CHECK(is_error(&r, 0));
    feed_str(s, "{\"execute\":\"qmp_capabilities\"}");
    CHECK_EQ_INT(r.count, 2);
    CHECK_STR(event(&r, 1), "ok:{\"execute\":\"qmp_capabilities\"}");
    json_stream_free(s);
    recorder_clear(&r);
}

TEST(json_stream_big_array_skipped_and_resynced)
{
    Recorder r;
    JsonStream *s = new_stream(&r, 4096, 0);
    char chunk[4096];

    REQUIRE(s);
    for (size_t i = 0; i < sizeof(chunk); i += 4) {
        memcpy(chunk + i, "[1],", 4);
    }
    feed_str(s, "[");
    for (int i = 0; i < 256; i++) {
        json_stream_feed(s, chunk, sizeof(chunk));
        CHECK(json_stream_buffer_capacity(s) <= 4096);
    }
    feed_str(s, "0]  [2]");
    CHECK_EQ_INT(r.count, 2);
    CHECK(is_error(&r, 0));
    CHECK_STR(event(&r, 1), "ok:[2]");
    json_stream_free(s);
    recorder_clear(&r);
}

TEST(json_stream_large_buffer_released)
{
    Recorder r;
    JsonStream *s = new_stream(&r, 0, 0);

    REQUIRE(s);
    feed_str(s, "\"");
    feed_repeat(s, 'y', 500 * 1024);
    CHECK(json_stream_buffer_capacity(s) >= 500 * 1024);
    feed_str(s, "\"");
    CHECK_EQ_INT(r.count, 1);
    CHECK(event(&r, 0) && strncmp(event(&r, 0), "ok:\"yyy", 7) == 0);
    CHECK(json_stream_buffer_capacity(s) <= 64 * 1024);
    json_stream_free(s);
    recorder_clear(&r);
}

TEST(json_stream_free_with_partial_message)
{
    Recorder r;
    JsonStream *s = new_stream(&r, 0, 0);

    REQUIRE(s);
    feed_str(s, "{\"a\":[1,2,\"partial");
    json_stream_free(s);
    CHECK_EQ_INT(r.count, 0);
    recorder_clear(&r);
}
