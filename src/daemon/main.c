/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iothreadd: the supervisor.  Its main thread runs an AioContext like any
 * iothread; the control socket and the signals (a signalfd) are handlers
 * on it.  Start-up order matters to whoever waits for us: the socket
 * serves and the configured iothreads run before the pidfile appears.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "daemon/block-objects.h"
#include "daemon/config-file.h"
#include "daemon/daemon.h"
#include "daemon/listeners.h"
#include "daemon/log.h"
#include "daemon/object-opt.h"
#include "daemon/pidfile.h"
#include "daemon/service.h"
#include "daemon/socket-setup.h"
#include "daemon/state-file.h"
#include "daemon/uid-list.h"

/* Exit statuses (documented in iothreadd(8)). */
#define EXIT_USAGE 2
#define EXIT_CONFIG EX_CONFIG /* 78, as systemd and sysexits know it */

typedef struct Options {
    const char *socket;
    const char *socket_mode;
    const char *socket_group;
    const char *ro_socket;
    const char *state_file;
    uid_t *allow_uids;
    size_t n_allow_uids;
    const char *config;
    const char *pidfile;
    const char *log_level;
    const char **objects;
    size_t n_objects;
    /* --blockdev, --nbd-server, --export: the arguments, in order */
    const char **block_args[3];
    size_t n_block_args[3];
    json_t *block_specs; /* ... checked: see block_specs_check() */
    bool check_config;
} Options;

static void usage(FILE *out)
{
    fprintf(out,
"Usage: iothreadd [OPTION]...\n"
"Run QEMU-style IOThreads, controlled over a QMP socket.\n"
"\n"
"  -s, --socket PATH        control socket (default: $IOTHREADD_SOCKET, else\n"
"                           /run/iothreadd/qmp.sock as root, else\n"
"                           $XDG_RUNTIME_DIR/iothreadd/qmp.sock)\n"
"      --socket-mode MODE   socket permissions, octal (default 0600)\n"
"      --socket-group GROUP socket group (directory becomes 0750)\n"
"      --ro-socket PATH     also serve a read-only socket (query-*, qom-get,\n"
"                           qom-list only)\n"
"      --allow-uid UID[,UID...]  only these users (and the daemon's own) may\n"
"                           connect, checked with SO_PEERCRED\n"
"  -c, --config FILE        JSON configuration (see iothreadd.json(5))\n"
"      --object SPEC        create an iothread at start:\n"
"                           iothread,id=ID[,PROP=VALUE]... or JSON\n"
"      --blockdev SPEC      open a block node at start (qemu-storage-daemon's\n"
"                           syntax): driver=file,node-name=N,filename=F[,...]\n"
"                           or JSON\n"
"      --nbd-server SPEC    start the NBD server: addr.type=unix,addr.path=P\n"
"                           or addr.type=inet,addr.host=H,addr.port=N\n"
"                           [,max-connections=N][,handshake-max-seconds=N]\n"
"      --export SPEC        export a node: type=nbd,id=E,node-name=N[,name=X]\n"
"                           [,writable=on][,iothread=I] or JSON\n"
"      --pidfile PATH       write the pid once serving; removed on exit\n"
"      --state-file PATH    keep the iothreads' settings in PATH and restore\n"
"                           them at start\n"
"      --check-config       validate the configuration and exit\n"
"      --log-level LEVEL    emerg..debug or 0..7 (default info)\n"
"      --log-format FORMAT  journal (\"<6>message\"), plain (\"iothreadd: message\")\n"
"                           or auto (default: journal when stderr is the\n"
"                           journal, as $JOURNAL_STREAM says, else plain)\n"
"  -V, --version            print the version and exit\n"
"  -h, --help               print this help and exit\n"
"\n"
"Signals: SIGTERM/SIGINT stop cleanly, SIGHUP reloads the config file.\n"
"Exit status: 0 ok, 1 start-up failure, 2 usage error,\n"
"             78 invalid configuration.\n");
}

static int add_block_arg(Options *o, BlockObjKind kind, const char *arg)
{
    const char **v = realloc(o->block_args[kind],
                             (o->n_block_args[kind] + 1) * sizeof(*v));

    if (!v) {
        return -ENOMEM;
    }
    o->block_args[kind] = v;
    v[o->n_block_args[kind]++] = arg;
    return 0;
}

static int take_allow_uid(Options *o, const char *arg)
{
    if (uid_list_parse(arg, &o->allow_uids, &o->n_allow_uids) < 0) {
        fprintf(stderr, "iothreadd: invalid --allow-uid '%s': expected user "
                        "names or numbers separated by commas\n", arg);
        return EXIT_USAGE;
    }
    return 0;
}

static int take_object(Options *o, const char *arg)
{
    const char **v = realloc(o->objects, (o->n_objects + 1) * sizeof(*v));

    if (!v) {
        fprintf(stderr, "iothreadd: out of memory\n");
        return EXIT_FAILURE;
    }
    o->objects = v;
    o->objects[o->n_objects++] = arg;
    return 0;
}

static int take_block_arg(Options *o, BlockObjKind kind, const char *arg)
{
    if (add_block_arg(o, kind, arg) < 0) {
        fprintf(stderr, "iothreadd: out of memory\n");
        return EXIT_FAILURE;
    }
    return 0;
}

static int take_blockdev(Options *o, const char *arg)
{
    return take_block_arg(o, BLOCK_OBJ_BLOCKDEV, arg);
}

static int take_nbd_server(Options *o, const char *arg)
{
    return take_block_arg(o, BLOCK_OBJ_NBD_SERVER, arg);
}

static int take_export(Options *o, const char *arg)
{
    return take_block_arg(o, BLOCK_OBJ_EXPORT, arg);
}

static int take_check_config(Options *o, const char *arg)
{
    (void)arg;
    o->check_config = true;
    return 0;
}

static int take_log_format(Options *o, const char *arg)
{
    int format = log_format_parse(arg);

    (void)o;
    if (format < 0) {
        fprintf(stderr, "iothreadd: invalid --log-format '%s': expected "
                        "journal, plain or auto\n", arg);
        return EXIT_USAGE;
    }
    log_set_format((LogFormat)format);
    return 0;
}

static int take_version(Options *o, const char *arg)
{
    (void)o, (void)arg;
    printf("iothreadd %s\n", IOTHREADD_VERSION);
    exit(EXIT_SUCCESS);
}

static int take_help(Options *o, const char *arg)
{
    (void)o, (void)arg;
    usage(stdout);
    exit(EXIT_SUCCESS);
}

/*
 * The command line as a table: an option either sets one string field of
 * Options (@field) or is taken by @take, which returns 0 or an exit
 * status.  usage() above says the same in words.
 */
#define NO_FIELD SIZE_MAX
typedef struct DaemonOption {
    const char *name;
    char short_name;    /* 0: long form only */
    bool has_arg;
    size_t field;       /* offsetof(Options, a const char * field) */
    int (*take)(Options *o, const char *arg);
} DaemonOption;

#define STRING_OPTION(name, short_name, member) \
    { name, short_name, true, offsetof(Options, member), NULL }
#define OPTION(name, short_name, has_arg, fn) \
    { name, short_name, has_arg, NO_FIELD, fn }

static const DaemonOption daemon_options[] = {
    STRING_OPTION("socket", 's', socket),
    STRING_OPTION("socket-mode", 0, socket_mode),
    STRING_OPTION("socket-group", 0, socket_group),
    STRING_OPTION("ro-socket", 0, ro_socket),
    STRING_OPTION("state-file", 0, state_file),
    OPTION("allow-uid", 0, true, take_allow_uid),
    STRING_OPTION("config", 'c', config),
    OPTION("object", 0, true, take_object),
    OPTION("blockdev", 0, true, take_blockdev),
    OPTION("nbd-server", 0, true, take_nbd_server),
    OPTION("export", 0, true, take_export),
    STRING_OPTION("pidfile", 0, pidfile),
    OPTION("check-config", 0, false, take_check_config),
    STRING_OPTION("log-level", 0, log_level),
    OPTION("log-format", 0, true, take_log_format),
    OPTION("version", 'V', false, take_version),
    OPTION("help", 'h', false, take_help),
};
#define N_DAEMON_OPTIONS (sizeof(daemon_options) / sizeof(daemon_options[0]))
/* getopt_long() values of long-only options: the table index plus this. */
#define LONG_ONLY_BASE 256

/* The table entry of what getopt_long() returned, or NULL. */
static const DaemonOption *option_of(int c)
{
    for (size_t i = 0; i < N_DAEMON_OPTIONS; i++) {
        const DaemonOption *d = &daemon_options[i];

        if (d->short_name ? c == d->short_name
                          : c == LONG_ONLY_BASE + (int)i) {
            return d;
        }
    }
    return NULL;
}

static int take_option(Options *o, const DaemonOption *d, const char *arg)
{
    if (d->take) {
        return d->take(o, arg);
    }
    *(const char **)((char *)o + d->field) = arg;
    return 0;
}

static int parse_options(int argc, char **argv, Options *o)
{
    struct option longopts[N_DAEMON_OPTIONS + 1] = { { NULL, 0, NULL, 0 } };
    char shortopts[2 * N_DAEMON_OPTIONS + 1];
    size_t ns = 0;
    int c;

    for (size_t i = 0; i < N_DAEMON_OPTIONS; i++) {
        const DaemonOption *d = &daemon_options[i];

        longopts[i] = (struct option){
            d->name, d->has_arg ? required_argument : no_argument, NULL,
            d->short_name ? d->short_name : LONG_ONLY_BASE + (int)i };
        if (d->short_name) {
            shortopts[ns++] = d->short_name;
            if (d->has_arg) {
                shortopts[ns++] = ':';
            }
        }
    }
    shortopts[ns] = '\0';
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        const DaemonOption *d = option_of(c);
        int status;

        if (!d) {
            fprintf(stderr, "Try 'iothreadd --help' for more information.\n");
            return EXIT_USAGE;
        }
        status = take_option(o, d, optarg);
        if (status) {
            return status;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "iothreadd: unexpected argument '%s'\n"
                        "Try 'iothreadd --help' for more information.\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    return 0;
}

static void save_state(Daemon *d)
{
    char *err = NULL;

    if (d->state_path && d->state_ready &&
        state_save(d->state_path, d->registry, d->blk, &err) < 0) {
        log_err("%s", err ? err : "cannot save the state");
        free(err);
    }
}

static void on_registry_event(void *opaque, const char *event, const char *id)
{
    Daemon *d = opaque;

    /* Registry events read as "iothread io0 created" in the log. */
    log_info("iothread %s %s", id,
             strcmp(event, "IOTHREAD_CREATED") == 0   ? "created"
             : strcmp(event, "IOTHREAD_DELETED") == 0 ? "deleted"
                                                      : "changed");
    save_state(d);
    if (d->service) {
        service_update_status(d->service);
    }
    if (d->server) {
        qmp_server_broadcast_event(d->server, event,
                                   json_pack("{s:s}", "id", id));
    }
}

static void on_block_event(void *opaque, const char *event, json_t *data)
{
    Daemon *d = opaque;

    if (strcmp(event, "BLOCK_OBJECTS_CHANGED") == 0) {
        save_state(d);
    } else if (d->server) {
        qmp_server_broadcast_event(d->server, event, data);
        return;
    }
    json_decref(data);
}

/* ---- signals ---- */

typedef struct SignalSource {
    Daemon *daemon;
    int fd;
} SignalSource;

static void on_signal(void *opaque)
{
    SignalSource *s = opaque;
    struct signalfd_siginfo si;
    char *err = NULL;

    while (read(s->fd, &si, sizeof(si)) == sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGHUP:
            log_info("SIGHUP: reloading");
            if (daemon_reload(s->daemon, &err) < 0) {
                log_err("reload failed, nothing changed: %s",
                        err ? err : "?");
                free(err);
                err = NULL;
            }
            break;
        case SIGTERM:
        case SIGINT:
            log_info("%s: shutting down", strsignal((int)si.ssi_signo));
            daemon_request_quit(s->daemon, "host-signal");
            break;
        }
    }
}

static int setup_signals(Daemon *d, SignalSource *s)
{
    sigset_t set;

    /* Blocked before any thread exists, so every thread inherits the
     * mask and only the signalfd sees these. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
        return -errno;
    }
    signal(SIGPIPE, SIG_IGN);
    s->daemon = d;
    s->fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->fd < 0) {
        return -errno;
    }
    return aio_set_fd_handler(d->ctx, s->fd, on_signal, NULL, NULL, NULL, s);
}

/* ---- start-up ---- */

/* The configuration from the file (if any), then the command line. */
static int load_config(const Options *o, DaemonConfig *cfg,
                       IOThreadConfig **objects)
{
    char *err = NULL;

    if (o->config && daemon_config_load(o->config, cfg, &err) < 0) {
        log_err("%s", err ? err : "invalid configuration");
        free(err);
        return -EINVAL;
    }
    *objects = calloc(o->n_objects + 1, sizeof(**objects));
    if (!*objects) {
        log_err("out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < o->n_objects; i++) {
        IOThreadConfig *c = &(*objects)[i];
        json_t *obj = NULL;

        iothread_config_init(c);
        if (object_opt_parse(o->objects[i], &obj, &err) == 0) {
            c->id = strdup(json_string_value(json_object_get(obj, "id")));
            json_object_del(obj, "id");
            json_object_del(obj, "qom-type");
            if (iothread_config_apply(c, obj, true, &err) == 0) {
                json_decref(obj);
                continue;
            }
        }
        json_decref(obj);
        log_err("--object %s: %s", o->objects[i], err ? err : "invalid");
        free(err);
        return -EINVAL;
    }
    /* Ids must be unique across the file and the command line. */
    for (size_t i = 0; i < o->n_objects; i++) {
        for (size_t j = 0; j < cfg->n_iothreads + i; j++) {
            const char *other = j < cfg->n_iothreads
                                    ? cfg->iothreads[j].id
                                    : (*objects)[j - cfg->n_iothreads].id;

            if (strcmp((*objects)[i].id, other) == 0) {
                log_err("--object %s: IOThread '%s' already exists",
                        o->objects[i], other);
                return -EINVAL;
            }
        }
    }
    return 0;
}

/* --blockdev, --nbd-server and --export into o->block_specs. */
static int parse_block_args(Options *o)
{
    static const char *const opt_names[] = {"--blockdev", "--nbd-server",
                                            "--export"};
    char *err = NULL;

    o->block_specs = block_specs_new();
    if (!o->block_specs) {
        log_err("out of memory");
        return -ENOMEM;
    }
    for (int kind = 0; kind <= BLOCK_OBJ_EXPORT; kind++) {
        for (size_t i = 0; i < o->n_block_args[kind]; i++) {
            const char *arg = o->block_args[kind][i];
            json_t *spec = NULL;
            int ret = block_opt_parse((BlockObjKind)kind, arg, &spec, &err);

            if (ret == 0 && kind == BLOCK_OBJ_NBD_SERVER &&
                json_object_get(o->block_specs, "nbd-server")) {
                ret = -EEXIST;
                err = strdup("NBD server already running");
            }
            if (ret == 0) {
                ret = kind == BLOCK_OBJ_NBD_SERVER
                          ? json_object_set_new(o->block_specs, "nbd-server",
                                                spec)
                          : json_array_append_new(
                                json_object_get(o->block_specs,
                                                block_specs_key(
                                                    (BlockObjKind)kind)),
                                spec);
                spec = NULL;
            }
            json_decref(spec);
            if (ret < 0) {
                log_err("%s %s: %s", opt_names[kind], arg,
                        err ? err : "invalid");
                free(err);
                return -EINVAL;
            }
        }
    }
    return 0;
}

static void free_objects(IOThreadConfig *objects, size_t n)
{
    for (size_t i = 0; objects && i < n; i++) {
        iothread_config_cleanup(&objects[i]);
    }
    free(objects);
}

/* --allow-uid (which replaces the config file's "allow-uid"). */
static int set_allowed_uids(Daemon *d, const Options *o)
{
    uid_t *uids = o->n_allow_uids ? o->allow_uids : d->config.allow_uids;
    size_t n = o->n_allow_uids ? o->n_allow_uids : d->config.n_allow_uids;

    return n ? qmp_server_set_allowed_uids(d->server, uids, n) : 0;
}

static int start_server(Daemon *d, const Options *o)
{
    QmpServerLimits limits;
    json_t *version = daemon_version_json();
    int ret;

    qmp_server_limits_default(&limits);
    limits.max_clients = (int)d->config.max_clients;
    limits.max_message_size = (size_t)d->config.max_message_size;
    limits.max_depth = (unsigned)d->config.max_nesting_depth;
    limits.max_output_buffer = (size_t)d->config.max_output_buffer;
    d->server = qmp_server_new(d->ctx, &limits, version,
                               qmp_dispatch_command, d);
    json_decref(version);
    if (!d->server) {
        return -ENOMEM;
    }
    qmp_server_set_log(d->server, daemon_qmp_log, d);
    ret = set_allowed_uids(d, o);
    if (ret < 0) {
        return ret;
    }
    ListenRequest req = {
        .socket = o->socket ? o->socket : d->config.socket,
        .ro_socket = o->ro_socket ? o->ro_socket : d->config.ro_socket,
        .socket_mode = o->socket_mode,
        .socket_group = o->socket_group ? o->socket_group
                                        : d->config.socket_group,
    };
    char mode[16];

    if (!req.socket_mode && d->config.socket_mode >= 0) {
        snprintf(mode, sizeof(mode), "%o", (unsigned)d->config.socket_mode);
        req.socket_mode = mode;
    }
    return daemon_open_listeners(d, &req);
}

static int create_iothreads(Daemon *d, IOThreadConfig *objects,
                            size_t n_objects)
{
    char *err = NULL;
    int ret = 0;

    for (size_t i = 0; i < d->config.n_iothreads && ret == 0; i++) {
        ret = registry_create(d->registry, &d->config.iothreads[i],
                              ORIGIN_CONFIG, &err);
    }
    for (size_t i = 0; i < n_objects && ret == 0; i++) {
        ret = registry_create(d->registry, &objects[i], ORIGIN_COMMAND_LINE,
                              &err);
    }
    if (ret < 0) {
        log_err("%s", err ? err : strerror(-ret));
        free(err);
    }
    return ret;
}

/* The block objects of the config file, then of the command line. */
static int create_block_objects(Daemon *d, const Options *o)
{
    char *err = NULL;
    int ret = 0;

    if (d->config.block) {
        ret = bobj_create_all(d->blk, d->config.block, ORIGIN_CONFIG, false,
                              &err);
    }
    if (ret == 0) {
        ret = bobj_create_all(d->blk, o->block_specs, ORIGIN_COMMAND_LINE,
                              false, &err);
    }
    if (ret < 0) {
        log_err("%s", err ? err : strerror(-ret));
        free(err);
    }
    return ret;
}

static void shutdown_daemon(Daemon *d, Pidfile *pidfile)
{
    if (d->service) {
        service_stopping(d->service);
    }
    if (d->server) {
        qmp_server_broadcast_event(
            d->server, "SHUTDOWN",
            json_pack("{s:b, s:s}", "guest", 0, "reason",
                      d->quit_reason ? d->quit_reason : "host-error"));
    }
    /* What stops now is not deleted: the state file keeps it. */
    d->state_ready = false;
    /* Exports first: their clients run on the iothreads. */
    bobj_free(d->blk);
    d->blk = NULL;
    registry_free(d->registry);
    d->registry = NULL;
    /* Answers of changes that were in flight arrive as BHs. */
    while (aio_poll(d->ctx, false)) {
    }
    qmp_server_free(d->server);
    d->server = NULL;
    daemon_remove_sockets(d);
    pidfile_remove(pidfile);
    service_free(d->service);
    d->service = NULL;
}

/* What an iothread holds: its loop's epoll or io_uring fd, its wake-up
 * eventfd, and once query-iothread-stats read it, its /proc stat file. */
#define FDS_PER_IOTHREAD 3
#define FDS_SPARE 64 /* the socket, clients, signals, files we write */

/*
 * Raise the soft limit on open files to the hard one: the default soft
 * 1024 is for programs that use select(), which we never do, and
 * max-iothreads' default alone needs three times that.  Not fatal: with
 * fewer fds, creating an iothread or reading its CPU time fails cleanly.
 */
static void raise_fd_limit(long max_iothreads)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            log_warning("cannot raise the open-file limit: %s",
                        strerror(errno));
            getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    if (rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)max_iothreads * FDS_PER_IOTHREAD + FDS_SPARE) {
        log_warning("open-file limit %llu is short of the %ld fds that "
                    "max-iothreads (%ld) may need",
                    (unsigned long long)rl.rlim_cur,
                    max_iothreads * FDS_PER_IOTHREAD + FDS_SPARE,
                    max_iothreads);
    }
}

/* The daemon's start-up steps after the main loop exists, in order; 0 or
 * -errno after logging why. */
static int start_daemon(Daemon *d, const Options *o, SignalSource *sig,
                        IOThreadConfig *objects, Pidfile *pidfile)
{
    const char *pidpath = o->pidfile ? o->pidfile : d->config.pidfile;
    char *err = NULL;
    int ret;

    raise_fd_limit(d->config.max_iothreads);
    ret = setup_signals(d, sig);
    if (ret < 0) {
        log_err("cannot set up signal handling: %s", strerror(-ret));
        return ret;
    }
    d->registry = registry_new(d->ctx, d->config.max_iothreads,
                               on_registry_event, d);
    d->blk = d->registry ? bobj_new(d->ctx, d->registry, on_block_event, d)
                         : NULL;
    d->service = d->blk ? service_new(d->ctx, d->registry) : NULL;
    if (!d->service) {
        return -ENOMEM;
    }
    ret = start_server(d, o);
    if (ret == 0) {
        ret = create_iothreads(d, objects, o->n_objects);
    }
    if (ret == 0) {
        ret = create_block_objects(d, o);
    }
    if (ret < 0) {
        return ret;
    }
    d->state_path = o->state_file ? o->state_file : d->config.state_file;
    if (d->state_path) {
        ret = state_restore(d->state_path, d->registry, d->blk, &err);
        if (ret < 0) {
            goto fail;
        }
        /* From now on every change is saved (a restore saves nothing:
         * the file already says it). */
        d->state_ready = true;
    }
    if (pidpath) {
        ret = pidfile_write(pidfile, pidpath, &err);
        if (ret < 0) {
            goto fail;
        }
    }
    return 0;

fail:
    log_err("%s", err ? err : strerror(-ret));
    free(err);
    return ret;
}

/* Serve until asked to quit; the exit status. */
static int serve(Daemon *d, const Options *o, IOThreadConfig *objects)
{
    Pidfile pidfile = {.fd = -1};
    SignalSource sig = {.fd = -1};
    struct timespec now;
    int ret;

    clock_gettime(CLOCK_MONOTONIC, &now);
    d->start_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    ret = aio_context_new(&d->ctx, AIO_FDMON_AUTO);
    if (ret < 0) {
        log_err("cannot create the main loop: %s", strerror(-ret));
        return EXIT_FAILURE;
    }
    ret = start_daemon(d, o, &sig, objects, &pidfile);
    if (ret == 0) {
        log_notice("version %s serving %s with %zu iothreads",
                   IOTHREADD_VERSION, d->socket_path,
                   registry_count(d->registry));
        service_ready(d->service);
        while (!d->quit) {
            aio_poll(d->ctx, true);
        }
    } else {
        /* The details are in the log; systemd shows this line. */
        service_failed(-ret, strerror(-ret));
    }
    shutdown_daemon(d, &pidfile);
    if (sig.fd >= 0) {
        aio_set_fd_handler(d->ctx, sig.fd, NULL, NULL, NULL, NULL, NULL);
        close(sig.fd);
    }
    aio_context_free(d->ctx);
    free(d->socket_path);
    free(d->ro_socket_path);
    return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* --log-level first, so that loading the config logs as asked. */
static int set_log_level(const Options *o)
{
    int level;

    if (o->log_level) {
        level = log_level_parse(o->log_level);
        if (level < 0) {
            fprintf(stderr, "iothreadd: invalid --log-level '%s'\n",
                    o->log_level);
            return EXIT_USAGE;
        }
        log_set_level(level);
    }
    return 0;
}

int main(int argc, char **argv)
{
    Options o = {0};
    Daemon d = {.max_stall_ms = 60000};
    IOThreadConfig *objects = NULL;
    int status;

    daemon_config_init(&d.config);
    status = parse_options(argc, argv, &o);
    if (status == 0) {
        status = set_log_level(&o);
    }
    if (status == 0) {
        d.config_path = o.config;
        if (load_config(&o, &d.config, &objects) < 0) {
            status = EXIT_CONFIG;
        } else if (!o.log_level && d.config.log_level >= 0) {
            log_set_level(d.config.log_level);
        }
    }
    if (status == 0 && parse_block_args(&o) < 0) {
        status = EXIT_CONFIG;
    }
    if (status == 0 && !o.check_config) {
        status = serve(&d, &o, objects);
    }
    free_objects(objects, o.n_objects);
    daemon_config_cleanup(&d.config);
    free(o.allow_uids);
    free(o.objects);
    for (int kind = 0; kind <= BLOCK_OBJ_EXPORT; kind++) {
        free(o.block_args[kind]);
    }
    json_decref(o.block_specs);
    return status;
}
