/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the keyval parser (common/keyval.h) and of the block
 * objects' schemas on top of it (daemon/block-opts.h): dotted keys into
 * nested objects, ",," escapes, the implied key, and QEMU's texts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"

#include "common/keyval.h"
#include "common/block-schema.h"
#include "daemon/block-opts.h"

/* keyval_parse(@arg) must give the JSON @want, or fail with @err. */
static void expect(const char *file, int line, const char *arg,
                   const char *implied, unsigned flags, const char *want,
                   const char *err_want)
{
    json_t *obj = NULL, *w = want ? json_loads(want, 0, NULL) : NULL;
    char *err = NULL;
    int ret = keyval_parse(arg, implied, flags, &obj, &err);

    if (want && (ret != 0 || !json_equal(obj, w))) {
        char *got = obj ? json_dumps(obj, JSON_SORT_KEYS) : NULL;

        test_fail(file, line, "keyval_parse(\"%s\") = %d %s %s, want %s",
                  arg, ret, got ? got : "", err ? err : "", want);
        free(got);
    }
    if (!want && (ret == 0 || !err || strcmp(err, err_want) != 0)) {
        test_fail(file, line, "keyval_parse(\"%s\") = %d \"%s\", want \"%s\"",
                  arg, ret, err ? err : "(null)", err_want);
    }
    free(err);
    json_decref(obj);
    json_decref(w);
}

#define OK(arg, implied, want) \
    expect(__FILE__, __LINE__, arg, implied, 0, want, NULL)
#define ERR(arg, implied, msg) \
    expect(__FILE__, __LINE__, arg, implied, 0, NULL, msg)

TEST(nested_keys_and_escapes)
{
    OK("driver=file,node-name=f0,filename=a,,b.img,cache.direct=on",
       NULL, "{\"driver\": \"file\", \"node-name\": \"f0\", "
       "\"filename\": \"a,b.img\", \"cache\": {\"direct\": \"on\"}}");
    OK("addr.type=unix,addr.path=/run/nbd.sock,max-connections=4,", NULL,
       "{\"addr\": {\"type\": \"unix\", \"path\": \"/run/nbd.sock\"}, "
       "\"max-connections\": \"4\"}");
    OK("a.b.c=1,a.b.d=2,a.e=", NULL,
       "{\"a\": {\"b\": {\"c\": \"1\", \"d\": \"2\"}, \"e\": \"\"}}");
    OK("nbd,id=e0", "type", "{\"type\": \"nbd\", \"id\": \"e0\"}");
    OK("", NULL, "{}");
}

TEST(errors)
{
    ERR("a=1,a.b=2", NULL, "Parameters 'a.*' used inconsistently");
    ERR("a.b=2,a=1", NULL, "Parameters 'a.*' used inconsistently");
    ERR("a.b=1,a.b=2", NULL, "Parameter 'a.b' is set more than once");
    ERR("a..b=1", NULL, "Invalid parameter 'a..b'");
    ERR("a.=1", NULL, "Invalid parameter 'a.'");
    ERR("x,y=1", NULL, "No implicit parameter name for value 'x'");
    ERR("nbd,type=nbd", "type", "Parameter 'type' is set more than once");
    ERR("a=1,b", NULL, "Expected '=' after parameter 'b'");
    expect(__FILE__, __LINE__, "a.b=1", NULL, KEYVAL_FLAT, NULL,
           "Invalid parameter 'a.b'");
}

/* block_opt_parse(@kind, @arg) fails with @msg. */
static void spec_err(const char *file, int line, BlockObjKind kind,
                     const char *arg, const char *msg)
{
    json_t *spec = NULL;
    char *err = NULL;
    int ret = block_opt_parse(kind, arg, &spec, &err);

    if (ret == 0 || !err || strcmp(err, msg) != 0) {
        test_fail(file, line, "block_opt_parse(\"%s\") = %d \"%s\", want "
                  "\"%s\"", arg, ret, err ? err : "(null)", msg);
    }
    free(err);
    json_decref(spec);
}
#define SPEC_ERR(kind, arg, msg) \
    spec_err(__FILE__, __LINE__, BLOCK_OBJ_##kind, arg, msg)

TEST(block_specs_typed)
{
    json_t *spec = NULL;
    char *err = NULL;
    BlockNodeOptions o;
    ExportSpec es;

    REQUIRE(block_opt_parse(BLOCK_OBJ_BLOCKDEV,
                            "file,node-name=f0,filename=x,read-only=on,"
                            "cache.direct=yes,aio=io_uring,discard=unmap,"
                            "detect-zeroes=unmap", &spec, &err) == 0);
    blockdev_from_spec(spec, &o);
    CHECK_STR(o.node_name, "f0");
    CHECK_STR(o.filename, "x");
    CHECK(o.read_only && o.cache_direct);
    CHECK(o.aio == BLOCK_AIO_IO_URING && o.discard == BLOCK_DISCARD_UNMAP &&
          o.detect_zeroes == BLOCK_DETECT_ZEROES_UNMAP);
    CHECK(json_is_true(json_object_get(spec, "read-only")));
    json_decref(spec);
    REQUIRE(block_opt_parse(BLOCK_OBJ_EXPORT, "nbd,id=e0,node-name=f0,"
                            "writable=on,iothread=io0", &spec, &err) == 0);
    export_from_spec(spec, &es);
    CHECK_STR(es.name, "f0"); /* the NBD name defaults to the node's */
    CHECK(es.writable && !es.fixed_iothread && !es.description);
    CHECK_STR(es.iothread, "io0");
    json_decref(spec);
}

TEST(block_spec_errors)
{
    SPEC_ERR(BLOCKDEV, "driver=file,filename=x",
             "'node-name' must be specified for the root node");
    SPEC_ERR(BLOCKDEV, "driver=file,node-name=f0,filename=",
             "The 'file' block driver requires a file name");
    SPEC_ERR(BLOCKDEV, "{\"driver\": \"file\", \"node-name\": \"f0\", "
             "\"filename\": \"x\", \"read-only\": \"on\"}",
             "Invalid parameter type for 'read-only', expected: boolean");
    SPEC_ERR(NBD_SERVER, "addr.type=unix,addr.path=p,addr.port=1",
             "Parameter 'addr.port' is unexpected");
    SPEC_ERR(NBD_SERVER, "addr.type=inet,addr.host=h,addr.port=1,"
             "handshake-max-seconds=x",
             "Parameter 'handshake-max-seconds' expects integer");
    SPEC_ERR(NBD_SERVER, "max-connections=1", "Parameter 'addr' is missing");
    SPEC_ERR(EXPORT, "{\"type\": \"nbd\", \"id\": \"e0\", \"node-name\": "
             "\"f0\", \"writable\": 1}",
             "Invalid parameter type for 'writable', expected: boolean");
}
