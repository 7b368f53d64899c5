/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of --object parsing (object-opt.h): QEMU keyval syntax with
 * its implied qom-type and ",," escapes, the JSON syntax, the typed values
 * and every error with its exact message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"

#include "common/iothread-config.h"
#include "daemon/object-opt.h"

/* Parse @arg expecting success and a result equal to the JSON @want. */
static void expect_ok(const char *file, int line, const char *arg,
                      const char *want)
{
    json_t *obj = NULL, *w;
    json_error_t jerr;
    char *err = (char *)"sentinel";
    int ret;

    w = json_loads(want, 0, &jerr);
    if (!w) {
        test_fail(file, line, "bad test JSON %s: %s", want, jerr.text);
        return;
    }
    ret = object_opt_parse(arg, &obj, &err);
    if (ret != 0) {
        test_fail(file, line, "object_opt_parse(\"%s\") = %d: %s", arg, ret,
                  err ? err : "(null)");
        free(err);
    } else {
        if (err) {
            test_fail(file, line, "object_opt_parse(\"%s\") left errp set",
                      arg);
        }
        if (!json_equal(obj, w)) {
            char *got = json_dumps(obj, JSON_SORT_KEYS);

            test_fail(file, line, "object_opt_parse(\"%s\") -> %s, want %s",
                      arg, got ? got : "(null)", want);
            free(got);
        }
    }
    json_decref(obj);
    json_decref(w);
}

/* Parse @arg expecting -EINVAL, message @want and *objp untouched. */
static void expect_err(const char *file, int line, const char *arg,
                       const char *want)
{
    json_t *sentinel = json_object();
    json_t *obj = sentinel;
    char *err = NULL;
    int ret;

    ret = object_opt_parse(arg, &obj, &err);
    if (ret != -EINVAL) {
        test_fail(file, line, "object_opt_parse(\"%s\") = %d, want -EINVAL",
                  arg, ret);
    }
    if (!err || strcmp(err, want) != 0) {
        test_fail(file, line, "object_opt_parse(\"%s\") error \"%s\", want "
                  "\"%s\"", arg, err ? err : "(null)", want);
    }
    if (obj != sentinel) {
        test_fail(file, line, "object_opt_parse(\"%s\") set *objp on error",
                  arg);
        if (ret == 0) {
            json_decref(obj);
        }
    }
    free(err);
    json_decref(sentinel);
}

#define EXPECT_OK(arg, want) expect_ok(__FILE__, __LINE__, (arg), (want))
#define EXPECT_ERR(arg, want) expect_err(__FILE__, __LINE__, (arg), (want))

TEST(keyval_basic)
{
    EXPECT_OK("iothread,id=io0",
              "{\"qom-type\": \"iothread\", \"id\": \"io0\"}");
    EXPECT_OK("iothread,id=io0,poll-max-ns=1000,cpu-affinity=0-1",
              "{\"qom-type\": \"iothread\", \"id\": \"io0\", "
              "\"poll-max-ns\": 1000, \"cpu-affinity\": \"0-1\"}");
    /* qom-type may be spelt out, anywhere */
    EXPECT_OK("qom-type=iothread,id=io0",
              "{\"qom-type\": \"iothread\", \"id\": \"io0\"}");
    EXPECT_OK("id=io0,qom-type=iothread",
              "{\"qom-type\": \"iothread\", \"id\": \"io0\"}");
    /* a trailing comma is allowed, as in QEMU */
    EXPECT_OK("iothread,id=io0,",
              "{\"qom-type\": \"iothread\", \"id\": \"io0\"}");
}

TEST(keyval_all_props_typed)
{
    EXPECT_OK("iothread,id=io0,poll-max-ns=1,poll-grow=2,poll-shrink=3,"
              "aio-max-batch=4,thread-pool-min=5,thread-pool-max=6,"
              "cpu-affinity=0,fdmon=epoll",
              "{\"qom-type\": \"iothread\", \"id\": \"io0\", "
              "\"poll-max-ns\": 1, \"poll-grow\": 2, \"poll-shrink\": 3, "
              "\"aio-max-batch\": 4, \"thread-pool-min\": 5, "
              "\"thread-pool-max\": 6, \"cpu-affinity\": \"0\", "
              "\"fdmon\": \"epoll\"}");
    /* integers as QEMU reads them: base 0, sign allowed */
    EXPECT_OK("iothread,id=a,poll-max-ns=0x10,poll-grow=010,poll-shrink=-1,"
              "aio-max-batch=+7",
              "{\"qom-type\": \"iothread\", \"id\": \"a\", "
              "\"poll-max-ns\": 16, \"poll-grow\": 8, \"poll-shrink\": -1, "
              "\"aio-max-batch\": 7}");
    EXPECT_OK("iothread,id=a,poll-max-ns=9223372036854775807",
              "{\"qom-type\": \"iothread\", \"id\": \"a\", "
              "\"poll-max-ns\": 9223372036854775807}");
    /* a numeric-looking string property stays a string */
    EXPECT_OK("iothread,id=a,cpu-affinity=1",
              "{\"qom-type\": \"iothread\", \"id\": \"a\", "
              "\"cpu-affinity\": \"1\"}");
    /* unknown properties pass through as strings: object-add's
     * iothread_config_apply() reports them */
    EXPECT_OK("iothread,id=a,bogus=1",
              "{\"qom-type\": \"iothread\", \"id\": \"a\", \"bogus\": \"1\"}");
    EXPECT_OK("iothread,id=a,cpu-affinity=",
              "{\"qom-type\": \"iothread\", \"id\": \"a\", "
              "\"cpu-affinity\": \"\"}");
}

TEST(keyval_comma_escape)
{
    EXPECT_OK("iothread,id=io0,cpu-affinity=0,,2",
              "{\"qom-type\": \"iothread\", \"id\": \"io0\", "
              "\"cpu-affinity\": \"0,2\"}");
    EXPECT_OK("iothread,cpu-affinity=0,,2,,^1,id=io0",
              "{\"qom-type\": \"iothread\", \"id\": \"io0\", "
              "\"cpu-affinity\": \"0,2,^1\"}");
    /* ",,," = an escaped comma then the separator */
    EXPECT_OK("iothread,cpu-affinity=0,,,id=io0",
              "{\"qom-type\": \"iothread\", \"id\": \"io0\", "
              "\"cpu-affinity\": \"0,\"}");
    /* '=' inside a value is plain text */
    EXPECT_OK("iothread,id=io0,bogus=a=b",
              "{\"qom-type\": \"iothread\", \"id\": \"io0\", "
              "\"bogus\": \"a=b\"}");
    /* the implied qom-type value takes escapes too */
    EXPECT_ERR("io,,thread,id=io0", "Invalid object type 'io,thread'");
}

TEST(keyval_integer_errors)
{
    EXPECT_ERR("iothread,id=io0,poll-max-ns=abc",
               "Parameter 'poll-max-ns' expects integer");
    EXPECT_ERR("iothread,id=io0,poll-max-ns=",
               "Parameter 'poll-max-ns' expects integer");
    EXPECT_ERR("iothread,id=io0,poll-max-ns=1k",
               "Parameter 'poll-max-ns' expects integer");
    EXPECT_ERR("iothread,id=io0,poll-max-ns=1.5",
               "Parameter 'poll-max-ns' expects integer");
    EXPECT_ERR("iothread,id=io0,poll-max-ns= 1",
               "Parameter 'poll-max-ns' expects integer");
    EXPECT_ERR("iothread,id=io0,poll-grow=9223372036854775808",
               "Parameter 'poll-grow' expects integer");
    EXPECT_ERR("iothread,id=io0,thread-pool-max=08",
               "Parameter 'thread-pool-max' expects integer");
    EXPECT_ERR("iothread,id=io0,thread-pool-min=0x",
               "Parameter 'thread-pool-min' expects integer");
    EXPECT_ERR("iothread,id=io0,aio-max-batch=1,,0",
               "Parameter 'aio-max-batch' expects integer");
}

TEST(keyval_key_errors)
{
    char arg[300], want[300];

    EXPECT_ERR("iothread,id=io0,=5", "Invalid parameter ''");
    EXPECT_ERR("=iothread,id=io0", "Invalid parameter ''");
    EXPECT_ERR(",id=io0", "Invalid parameter ''");
    EXPECT_ERR("iothread,id=io0,poll max=5", "Invalid parameter 'poll max'");
    EXPECT_ERR("iothread,id=io0,1poll=5", "Invalid parameter '1poll'");
    EXPECT_ERR("iothread,id=io0,a.b=5", "Invalid parameter 'a.b'");
    EXPECT_ERR("iothread,id=io0,poll-max-ns",
               "Expected '=' after parameter 'poll-max-ns'");
    EXPECT_ERR("iothread,id", "Expected '=' after parameter 'id'");
    EXPECT_ERR("iothread,help", "Expected '=' after parameter 'help'");

    memset(arg, 0, sizeof(arg));
    strcpy(arg, "iothread,id=io0,");
    memset(arg + strlen(arg), 'k', 128);
    strcat(arg, "=1");
    snprintf(want, sizeof(want), "Parameter '%.128s' is too long",
             arg + strlen("iothread,id=io0,"));
    EXPECT_ERR(arg, want);
    /* 127 characters is fine (an unknown key, left for object-add) */
    arg[strlen("iothread,id=io0,") + 127] = '\0';
    strcat(arg, "=1");
    snprintf(want, sizeof(want),
             "{\"qom-type\": \"iothread\", \"id\": \"io0\", \"%.127s\": \"1\"}",
             arg + strlen("iothread,id=io0,"));
    EXPECT_OK(arg, want);
}

TEST(keyval_duplicates)
{
    EXPECT_ERR("iothread,id=io0,id=io1",
               "Parameter 'id' is set more than once");
    EXPECT_ERR("iothread,id=io0,poll-max-ns=1,poll-max-ns=1",
               "Parameter 'poll-max-ns' is set more than once");
    EXPECT_ERR("iothread,id=io0,qom-type=iothread",
               "Parameter 'qom-type' is set more than once");
}

TEST(keyval_object_errors)
{
    EXPECT_ERR("", "Parameter 'qom-type' is missing");
    EXPECT_ERR("id=io0", "Parameter 'qom-type' is missing");
    EXPECT_ERR("id=io0,poll-max-ns=1", "Parameter 'qom-type' is missing");
    EXPECT_ERR("memory-backend-ram,id=mem0",
               "Invalid object type 'memory-backend-ram'");
    EXPECT_ERR("IOThread,id=io0", "Invalid object type 'IOThread'");
    EXPECT_ERR("qom-type=,id=io0", "Invalid object type ''");
    /* the type is checked before the properties */
    EXPECT_ERR("foo,id=io0,poll-max-ns=abc", "Invalid object type 'foo'");
    EXPECT_ERR("iothread", "Parameter 'id' is missing");
    EXPECT_ERR("iothread,poll-max-ns=1", "Parameter 'id' is missing");
    EXPECT_ERR("iothread,id=", "Parameter 'id' expects an identifier");
    EXPECT_ERR("iothread,id=0io", "Parameter 'id' expects an identifier");
    EXPECT_ERR("iothread,id=io 0", "Parameter 'id' expects an identifier");
    EXPECT_ERR("iothread,id=io,,0", "Parameter 'id' expects an identifier");
    /* and id before the property values */
    EXPECT_ERR("iothread,id=0,poll-max-ns=abc",
               "Parameter 'id' expects an identifier");
}

TEST(json_syntax)
{
    EXPECT_OK("{\"qom-type\":\"iothread\",\"id\":\"io0\",\"poll-max-ns\":1000}",
              "{\"qom-type\": \"iothread\", \"id\": \"io0\", "
              "\"poll-max-ns\": 1000}");
    /* values keep their JSON types; checking them is object-add's job */
    EXPECT_OK("{\"qom-type\": \"iothread\", \"id\": \"io0\", "
              "\"poll-max-ns\": \"1000\", \"cpu-affinity\": \"0,1\", "
              "\"x\": [1]}",
              "{\"qom-type\": \"iothread\", \"id\": \"io0\", "
              "\"poll-max-ns\": \"1000\", \"cpu-affinity\": \"0,1\", "
              "\"x\": [1]}");

    EXPECT_ERR("{\"id\": \"io0\"}", "Parameter 'qom-type' is missing");
    EXPECT_ERR("{\"qom-type\": 1, \"id\": \"io0\"}",
               "Invalid parameter type for 'qom-type', expected: string");
    EXPECT_ERR("{\"qom-type\": \"foo\", \"id\": \"io0\"}",
               "Invalid object type 'foo'");
    EXPECT_ERR("{\"qom-type\": \"iothread\"}", "Parameter 'id' is missing");
    EXPECT_ERR("{\"qom-type\": \"iothread\", \"id\": 5}",
               "Invalid parameter type for 'id', expected: string");
    EXPECT_ERR("{\"qom-type\": \"iothread\", \"id\": \"-x\"}",
               "Parameter 'id' expects an identifier");
}

TEST(json_syntax_errors)
{
    json_t *obj = NULL;
    char *err = NULL;

    /* jansson's wording varies by version: check the prefix only */
    CHECK_EQ_INT(object_opt_parse("{\"qom-type\": \"iothread\", \"id\": \"a\", "
                                  "\"id\": \"b\"}", &obj, &err), -EINVAL);
    CHECK(err && strncmp(err, "Invalid JSON in --object: ", 26) == 0);
    CHECK(err && strstr(err, "duplicate"));
    CHECK(obj == NULL);
    free(err);
    err = NULL;
    CHECK_EQ_INT(object_opt_parse("{\"qom-type\": \"iothread\"", &obj, &err),
                 -EINVAL);
    CHECK(err && strncmp(err, "Invalid JSON in --object: ", 26) == 0);
    free(err);
    err = NULL;
    CHECK_EQ_INT(object_opt_parse("{\"qom-type\": \"iothread\", \"id\": "
                                  "\"a\"} x", &obj, &err), -EINVAL);
    CHECK(err && strncmp(err, "Invalid JSON in --object: ", 26) == 0);
    free(err);
    CHECK(obj == NULL);
    /* not starting with '{' is keyval, even if it looks like JSON */
    EXPECT_ERR(" {\"qom-type\": \"iothread\"}",
               "Invalid object type ' {\"qom-type\": \"iothread\"}'");
}

TEST(errp_null_and_null_arg)
{
    json_t *obj = NULL;
    char *err = NULL;

    CHECK_EQ_INT(object_opt_parse("iothread", &obj, NULL), -EINVAL);
    CHECK(obj == NULL);
    CHECK_EQ_INT(object_opt_parse("iothread,id=a", &obj, NULL), 0);
    CHECK(obj != NULL);
    json_decref(obj);
    obj = NULL;
    CHECK_EQ_INT(object_opt_parse(NULL, &obj, &err), -EINVAL);
    CHECK_STR(err, "Parameter 'qom-type' is missing");
    free(err);
}

/* The result feeds object-add: after stripping qom-type and id, it applies
 * cleanly to a fresh config. */
TEST(result_applies)
{
    IOThreadConfig c;
    json_t *obj = NULL;
    char *err = NULL;

    REQUIRE(object_opt_parse("iothread,id=io0,poll-max-ns=1000,poll-grow=2,"
                             "thread-pool-max=4,fdmon=poll,"
                             "cpu-affinity=r",
                             &obj, &err) == 0);
    CHECK_STR(json_string_value(json_object_get(obj, "id")), "io0");
    json_object_del(obj, "id");
    json_object_del(obj, "qom-type");
    iothread_config_init(&c);
    CHECK_EQ_INT(iothread_config_apply(&c, obj, true, &err), 0);
    CHECK(err == NULL);
    CHECK_EQ_INT(c.poll_max_ns, 1000);
    CHECK_EQ_INT(c.poll_grow, 2);
    CHECK_EQ_INT(c.thread_pool_max, 4);
    CHECK_EQ_INT(c.fdmon, AIO_FDMON_POLL);
    CHECK(c.cpu_affinity != NULL);
    iothread_config_cleanup(&c);
    json_decref(obj);
}
