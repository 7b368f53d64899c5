/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target: the configuration file parser (jansson, the vocabulary
 * checks, json-pos and the FILE:LINE:COL errors).
 */
#include <stdint.h>
#include <stdlib.h>

#include "daemon/config-file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    DaemonConfig cfg;
    char *err = NULL;

    daemon_config_init(&cfg);
    if (daemon_config_parse((const char *)data, size, "fuzz.json", &cfg,
                            &err) < 0 && !err) {
        abort(); /* every failure must say why */
    }
    free(err);
    daemon_config_cleanup(&cfg);
    return 0;
}
