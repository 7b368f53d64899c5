/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration file: strict JSON in the control protocol's own
 * vocabulary (see iothreadd.json(5)).  Every error says FILE:LINE:COL.
 */
#ifndef IOTHREADD_CONFIG_FILE_H
#define IOTHREADD_CONFIG_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/iothread-config.h"

#define CONFIG_MAX_FILE_SIZE (16 << 20)

typedef struct DaemonConfig {
    char *socket;           /* NULL: the default path */
    int socket_mode;        /* -1: default (0600) */
    char *socket_group;     /* NULL: none */
    char *pidfile;          /* NULL: none */
    char *ro_socket;        /* a read-only socket, NULL: none */
    char *state_file;       /* --state-file, NULL: none */
    uid_t *allow_uids;      /* n_allow_uids users who may connect */
    size_t n_allow_uids;    /* 0: whoever the socket's mode lets in */
    int log_level;          /* -1: not set; else LOG_EMERG .. LOG_DEBUG */
    long max_iothreads;     /* default 1024, 1 .. 65536 */
    long max_clients;       /* default 64, 1 .. 4096 */
    long max_message_size;  /* default 1 MiB, 1 KiB .. 64 MiB */
    long max_nesting_depth; /* of a request, default 1024, 1 .. 1024 */
    long max_output_buffer; /* per client, default 4 MiB, 64 KiB .. 1 GiB */
    IOThreadConfig *iothreads;
    size_t n_iothreads;
    json_t *block;          /* "blockdevs", "nbd-server", "exports",
                               checked (see block_specs_check()); NULL:
                               none */
} DaemonConfig;

/* daemon_config_init: the defaults, no iothreads. */
void daemon_config_init(DaemonConfig *cfg);

/* daemon_config_cleanup: free what @cfg owns; it is then uninitialized. */
void daemon_config_cleanup(DaemonConfig *cfg);

/*
 * daemon_config_parse: parse @len bytes of @text, named @filename in
 * messages.  On success replaces *@cfg (cleaning up the old contents) and
 * returns 0.  On error returns -EINVAL (or -ENOMEM), leaves *@cfg as it
 * was and sets *@errp to a malloc'd "FILE:LINE:COL: message".
 */
int daemon_config_parse(const char *text, size_t len, const char *filename,
                        DaemonConfig *cfg, char **errp);

/* daemon_config_load: read @path (at most CONFIG_MAX_FILE_SIZE bytes) and
 * parse it as above; I/O errors read "PATH: reason". */
int daemon_config_load(const char *path, DaemonConfig *cfg, char **errp);

#endif /* IOTHREADD_CONFIG_FILE_H */
