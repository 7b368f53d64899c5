/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration file parser: what it accepts, and that every error
 * says FILE:LINE:COL at the offending member and changes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"
#include "daemon/config-file.h"
#include "daemon/json-pos.h"

static int parse(const char *text, DaemonConfig *cfg, char **err)
{
    return daemon_config_parse(text, strlen(text), "f.json", cfg, err);
}

/* The error for @text must start with "f.json:LINE:COL: " and contain
 * @needle; the config must stay as it was. */
static void expect_error(const char *text, int line, int col,
                         const char *needle)
{
    DaemonConfig cfg;
    char *err = NULL, prefix[64];

    daemon_config_init(&cfg);
    cfg.max_clients = 7; /* a marker: must survive the failure */
    CHECK_EQ_INT(parse(text, &cfg, &err), -EINVAL);
    snprintf(prefix, sizeof(prefix), "f.json:%d:%d: ", line, col);
    if (!err || strncmp(err, prefix, strlen(prefix)) != 0 ||
        !strstr(err, needle)) {
        test_fail(__FILE__, __LINE__, "for %s: expected \"%s...%s\", got "
                  "\"%s\"", text, prefix, needle, err ? err : "(null)");
    }
    CHECK_EQ_INT(cfg.max_clients, 7);
    CHECK_EQ_INT(cfg.n_iothreads, 0);
    free(err);
    daemon_config_cleanup(&cfg);
}

TEST(config_valid)
{
    DaemonConfig cfg;
    char *err = NULL;

    daemon_config_init(&cfg);
    CHECK_EQ_INT(cfg.max_iothreads, 1024);
    CHECK_EQ_INT(cfg.socket_mode, -1);
    REQUIRE(parse("{\"comment\": \"x\", \"socket\": \"/tmp/s\","
                  " \"socket-mode\": \"0660\", \"log-level\": \"debug\","
                  " \"max-clients\": 3, \"max-nesting-depth\": 8,"
                  " \"iothreads\": [{\"id\": \"a\","
                  " \"comment\": 1, \"poll-max-ns\": 5, \"thread-pool-min\":"
                  " 100, \"thread-pool-max\": 200}, {\"id\": \"b\"}]}",
                  &cfg, &err) == 0);
    CHECK(err == NULL);
    CHECK_STR(cfg.socket, "/tmp/s");
    CHECK_EQ_INT(cfg.socket_mode, 0660);
    CHECK_EQ_INT(cfg.log_level, 7);
    CHECK_EQ_INT(cfg.max_clients, 3);
    CHECK_EQ_INT(cfg.max_nesting_depth, 8);
    REQUIRE(cfg.n_iothreads == 2);
    CHECK_STR(cfg.iothreads[0].id, "a");
    CHECK_EQ_INT(cfg.iothreads[0].poll_max_ns, 5);
    CHECK_EQ_INT(cfg.iothreads[0].thread_pool_min, 100);
    CHECK_EQ_INT(cfg.iothreads[0].thread_pool_max, 200);
    CHECK_EQ_INT(cfg.iothreads[1].poll_max_ns, 32768);
    daemon_config_cleanup(&cfg);
}

TEST(config_errors_have_positions)
{
    expect_error("{\n  \"x\": 1\n}", 2, 3, "unknown key 'x'");
    expect_error("{\n  \"max-clients\": \"many\"\n}", 2, 18,
                 "'max-clients' must be an integer");
    expect_error("{\"max-clients\": 0}", 1, 17, "in range [1, 4096]");
    expect_error("{\"iothreads\": [\n {\"id\": \"a\", \"bogus\": 1}]}", 2,
                 14, "unknown key 'bogus'");
    expect_error("{\"iothreads\": [\n {\"id\": \"a\",\n  \"poll-max-ns\": "
                 "-1}]}", 3, 18, "poll-max-ns value must be in range");
    expect_error("{\"iothreads\": [{\"id\": \"a\"},\n {\"id\": \"a\"}]}", 2,
                 9, "duplicate iothread id 'a'");
    expect_error("{\"iothreads\": [{\"id\": \"9a\"}]}", 1, 23,
                 "not a valid id");
    expect_error("{\"iothreads\": [{\"poll-max-ns\": 1}]}", 1, 16,
                 "lacks member 'id'");
    expect_error("{\"iothreads\": [{\"id\": \"a\", \"thread-pool-min\": 5, "
                 "\"thread-pool-max\": 4}]}", 1, 47, "thread-pool-min (5)");
    expect_error("{\"iothreads\": {}}", 1, 15, "must be an array");
    expect_error("{\"log-level\": \"loud\"}", 1, 15, "'log-level'");
    expect_error("{\"socket-mode\": \"rw\"}", 1, 17, "octal");
    expect_error("[]", 1, 1, "must be a JSON object");
    /* jansson's own errors: syntax and duplicate keys */
    expect_error("{\n \"a\": 1,,\n}", 2, 9, "");
    expect_error("{\"socket\": \"a\", \"socket\": \"b\"}", 1, 24,
                 "duplicate");
}

TEST(config_deep_nesting_rejected)
{
    enum { DEPTH = 20000 };
    char *text = malloc(2 * DEPTH + 32);
    DaemonConfig cfg;
    char *err = NULL;
    size_t n = 0;

    REQUIRE(text);
    n += (size_t)sprintf(text, "{\"comment\": ");
    memset(text + n, '[', DEPTH);
    n += DEPTH;
    memset(text + n, ']', DEPTH);
    n += DEPTH;
    strcpy(text + n, "}");
    daemon_config_init(&cfg);
    CHECK_EQ_INT(parse(text, &cfg, &err), -EINVAL);
    CHECK(err && strncmp(err, "f.json:", 7) == 0);
    free(err);
    free(text);
    daemon_config_cleanup(&cfg);
}

TEST(config_example_file_loads)
{
    DaemonConfig cfg;
    char *err = NULL;

    daemon_config_init(&cfg);
    CHECK_EQ_INT(daemon_config_load("etc/iothreadd.json", &cfg, &err), 0);
    CHECK(err == NULL);
    CHECK_EQ_INT(cfg.n_iothreads, 2);
    CHECK_EQ_INT(daemon_config_load("/nonexistent/x.json", &cfg, &err),
                 -ENOENT);
    CHECK(err && strstr(err, "/nonexistent/x.json: "));
    free(err);
    daemon_config_cleanup(&cfg);
}

TEST(json_pos)
{
    const char *t = "{\"a\": [1, {\"b\": \"x\\\"}\"}],\n \"c\": {}}";
    const char *p1[] = {"a", "1", "b"};
    const char *p2[] = {"c"};
    const char *p3[] = {"a", "7"};
    int line = 0, col = 0;

    CHECK(json_pos_find(t, strlen(t), p1, 3, false, &line, &col));
    CHECK_EQ_INT(line, 1);
    CHECK_EQ_INT(col, 17);
    CHECK(json_pos_find(t, strlen(t), p2, 1, true, &line, &col));
    CHECK_EQ_INT(line, 2);
    CHECK_EQ_INT(col, 2);
    CHECK(!json_pos_find(t, strlen(t), p3, 2, false, &line, &col));
}
