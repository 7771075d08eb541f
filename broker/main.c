/*
 * main.c - mqchatd: command line, start-up, signals, shutdown.
 *
 *   mqchatd [-c FILE] [-p PORT] [--set KEY=VALUE]... [-v]
 *
 * The config file is read first, then -p and every --set in the order
 * given, so the command line always wins. SIGTERM and SIGINT shut down
 * gracefully in two phases: stop accepting and route the wills of every
 * connected client (phase 1); once every worker has handed its wills on,
 * each worker delivers what it has, flushes and closes (phase 2). SIGHUP
 * reloads the password and ACL files and the TLS certificate (a file that
 * fails to load keeps the previous version in force).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "broker.h"
#include "chat.h"
#include "chat_live.h"
#include "cluster.h"
#include "config.h"
#include "errors.h"
#include "http_api.h"
#include "listener.h"
#include "log.h"
#include "storage.h"
#include "sys.h"
#include "tls.h"
#include "worker.h"

struct app {
    struct broker b;
    struct config cfg;
    struct listener listeners[4]; /* MQTT over TCP, TLS, WebSocket, secure WebSocket */
    unsigned nlisteners;          /* those started */
    struct sys_reporter sys;
    struct http_api *http; /* NULL when http.port is 0 */
    uv_loop_t loop;
    uv_signal_t sigterm, sigint, sighup;
    uv_async_t wills_routed;
    bool shutting_down;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: mqchatd [-c FILE] [-p PORT] [--set KEY=VALUE]... [-v]\n"
                 "\n"
                 "  -c, --config FILE   read the configuration file FILE (mosquitto.conf style)\n"
                 "  -p, --port PORT     listen for MQTT on PORT (overrides the file)\n"
                 "      --set KEY=VALUE set any configuration key (overrides the file)\n"
                 "  -v, --verbose       log debug lines\n"
                 "  -h, --help          this text\n"
                 "      --version       print the version\n"
                 "\n"
                 "Every key, with its default, is listed in etc/mqchat.conf.\n");
}

/* Applies the command line onto cfg. Returns 0 to run, 1 to exit 0
 * (--help, --version), -1 on error (message printed). */
static int parse_args(int argc, char **argv, struct config *cfg)
{
    enum { OPT_SET = 256, OPT_VERSION };
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"set", required_argument, NULL, OPT_SET},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, OPT_VERSION},
                                         {NULL, 0, NULL, 0}};
    const char *file = NULL;
    char err[512];
    int c;
    /* First pass: find -c, --help, --version. */
    while ((c = getopt_long(argc, argv, "c:p:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            file = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case OPT_VERSION:
            printf("mqchatd %s\n", MQCHAT_VERSION);
            return 1;
        case 'p':
        case 'v':
        case OPT_SET:
            break;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mqchatd: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (file && config_load_file(cfg, file, err, sizeof(err)) != MQ_OK) {
        fprintf(stderr, "mqchatd: %s\n", err);
        return -1;
    }
    /* Second pass: the overrides, in order. */
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:p:vh", opts, NULL)) != -1) {
        if (c == 'p' && config_set(cfg, "port", optarg, "-p", err, sizeof(err)) != MQ_OK) {
            fprintf(stderr, "mqchatd: %s\n", err);
            return -1;
        }
        if (c == 'v')
            cfg->verbose = true;
        if (c == OPT_SET) {
            char *eq = strchr(optarg, '=');
            if (!eq) {
                fprintf(stderr, "mqchatd: --set needs KEY=VALUE, got '%s'\n", optarg);
                return -1;
            }
            *eq = '\0';
            int rc = config_set(cfg, optarg, eq + 1, "--set", err, sizeof(err));
            *eq = '=';
            if (rc != MQ_OK) {
                fprintf(stderr, "mqchatd: %s\n", err);
                return -1;
            }
        }
    }
    return 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int make_data_dir(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return MQ_EINVAL;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) < 0 && errno != EEXIST)
            return MQ_EIO;
        *p = '/';
    }
    if (mkdir(buf, 0750) < 0 && errno != EEXIST)
        return MQ_EIO;
    return MQ_OK;
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void post_to_all(struct app *app, enum work_kind kind)
{
    for (unsigned i = 0; i < app->b.nworkers; i++) {
        struct work item = {.kind = kind};
        if (worker_post(app->b.workers[i], &item) != MQ_OK)
            log_error("cannot reach worker %u to shut it down", i);
    }
}

static void on_wills_routed(uv_async_t *h)
{
    struct app *app = h->data;
    if (atomic_load(&app->b.wills_routed) < app->b.nworkers)
        return;
    post_to_all(app, WORK_STOP);
    close_handle((uv_handle_t *)&app->wills_routed);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    struct app *app = h->data;
    if (app->shutting_down)
        return;
    app->shutting_down = true;
    log_info("signal %d: shutting down", signum);
    for (unsigned i = 0; i < app->nlisteners; i++)
        listener_stop(&app->listeners[i]);
    http_api_stop(app->http); /* before the workers go: it publishes through them */
    app->http = NULL;
    sys_stop(&app->sys);
    chat_tick_stop(&app->b);
    close_handle((uv_handle_t *)&app->sigterm);
    close_handle((uv_handle_t *)&app->sigint);
    close_handle((uv_handle_t *)&app->sighup);
    post_to_all(app, WORK_WILLS);
}

static void on_reload_signal(uv_signal_t *h, int signum)
{
    struct app *app = h->data;
    if (app->b.tls) /* whatever becomes of the password and ACL files */
        tls_server_reload(app->b.tls);
    struct auth_snapshot *a;
    if (auth_snapshot_load(&app->cfg, &a) != MQ_OK) {
        log_error("SIGHUP: reload failed; the previous password and ACL files stay in force");
        return;
    }
    for (unsigned i = 0; i < app->b.nworkers; i++) {
        struct work item = {.kind = WORK_RELOAD, .u.auth = auth_snapshot_ref(a)};
        if (worker_post(app->b.workers[i], &item) != MQ_OK)
            auth_snapshot_unref(a);
    }
    auth_snapshot_unref(a);
    log_info("SIGHUP: password and ACL files reloaded");
}

/* The listeners the configuration asks for (doc/transports.md); TLS ones
 * only with a certificate. MQ_OK, or MQ_EIO after logging why. */
static int start_listeners(struct app *app)
{
    const struct config *cfg = app->b.cfg;
    bool tls = app->b.tls != NULL;
    const struct {
        uint16_t port;
        enum link_kind kind;
        bool on;
    } wanted[] = {
        {cfg->port, LINK_TCP, true},
        {cfg->tls_port, LINK_TLS, tls},
        {cfg->ws_port, LINK_WS, true},
        {cfg->wss_port, LINK_WSS, tls},
    };
    const char *host = cfg->bind_address ? cfg->bind_address : "0.0.0.0";
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        if (!wanted[i].on || wanted[i].port == 0)
            continue;
        struct listener *l = &app->listeners[app->nlisteners];
        if (listener_start(l, &app->b, &app->loop, cfg->bind_address, wanted[i].port,
                           wanted[i].kind) != MQ_OK)
            return MQ_EIO;
        app->nlisteners++;
        if (wanted[i].kind == LINK_TCP)
            log_info("mqchatd %s listening for MQTT on %s:%u with %u workers", MQCHAT_VERSION,
                     host, l->port, app->b.nworkers);
        else
            log_info("listening for MQTT over %s on %s:%u%s%s", link_kind_name(wanted[i].kind),
                     host, l->port, wanted[i].kind == LINK_TLS ? "" : " path ",
                     wanted[i].kind == LINK_TLS ? "" : cfg->ws_path);
    }
    return MQ_OK;
}

static int create_workers(struct app *app, struct auth_snapshot *auth)
{
    struct broker *b = &app->b;
    b->workers = calloc(b->nworkers, sizeof(*b->workers));
    if (!b->workers)
        return MQ_ENOMEM;
    for (unsigned i = 0; i < b->nworkers; i++) {
        b->workers[i] = worker_new(b, i, auth_snapshot_ref(auth));
        if (!b->workers[i]) {
            auth_snapshot_unref(auth);
            return MQ_ENOMEM;
        }
    }
    return MQ_OK;
}

static int start_workers(struct app *app)
{
    struct broker *b = &app->b;
    for (unsigned i = 0; i < b->nworkers; i++)
        if (worker_start(b->workers[i]) != MQ_OK)
            return MQ_EIO;
    return MQ_OK;
}

int main(int argc, char **argv)
{
    static struct app app;
    struct config *cfg = &app.cfg;
    if (config_defaults(cfg) != MQ_OK) {
        fprintf(stderr, "mqchatd: out of memory\n");
        return 1;
    }
    int pr = parse_args(argc, argv, cfg);
    if (pr != 0) {
        config_free(cfg);
        return pr > 0 ? 0 : 2;
    }
    log_set_verbose(cfg->verbose);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    if (make_data_dir(cfg->data_dir) != MQ_OK) {
        log_error("cannot create data_dir '%s': %s", cfg->data_dir, strerror(errno));
        return 1;
    }

    struct auth_snapshot *auth = NULL;
    if (auth_snapshot_load(cfg, &auth) != MQ_OK)
        return 1;

    struct broker *b = &app.b;
    b->cfg = cfg;
    if (cfg->ws_path[0] != '/') {
        log_error("ws.path '%s' must start with '/'", cfg->ws_path);
        return 1;
    }
    if (tls_server_open(cfg, &b->tls) != MQ_OK)
        return 1;
    b->nworkers = cfg->workers ? cfg->workers : uv_available_parallelism();
    b->retain = retain_new();
    if (shared_init(&b->shared) != MQ_OK) {
        log_error("cannot start: out of memory");
        return 1;
    }
    b->start_time = uv_hrtime();
    b->main_loop = &app.loop;
    b->wills_routed_wake = &app.wills_routed;
    uv_loop_init(&app.loop);
    uv_async_init(&app.loop, &app.wills_routed, on_wills_routed);
    app.wills_routed.data = &app;
    if (!b->retain || create_workers(&app, auth) != MQ_OK) {
        log_error("cannot start the workers");
        return 1;
    }
    auth_snapshot_unref(auth);
    /* Sessions and retained messages come back before anyone connects. */
    if (cluster_open(b) != MQ_OK || storage_open(b) != MQ_OK || chat_open(b) != MQ_OK ||
        cluster_start(b) != MQ_OK)
        return 1;
    if (start_workers(&app) != MQ_OK) {
        log_error("cannot start the workers");
        return 1;
    }

    /* Handlers first: a SIGHUP while the HTTP API starts must not kill the
     * process (they run from uv_run, once everything is up). */
    uv_signal_t *sigs[] = {&app.sigterm, &app.sigint, &app.sighup};
    int signums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&app.loop, sigs[i]);
        sigs[i]->data = &app;
        uv_signal_start(sigs[i], signums[i] == SIGHUP ? on_reload_signal : on_stop_signal,
                        signums[i]);
    }

    /* The HTTP API before the MQTT listener: once MQTT answers, so does HTTP
     * (the port config key is never 0, so the join answer's port is known). */
    if (http_api_start(b, cfg->port, &app.http) != MQ_OK)
        return 1;
    if (start_listeners(&app) != MQ_OK)
        return 1;
    sys_start(&app.sys, b, &app.loop);
    chat_tick_start(b, &app.loop);

    uv_run(&app.loop, UV_RUN_DEFAULT);
    http_api_stop(app.http); /* NULL once a signal stopped it */

    for (unsigned i = 0; i < b->nworkers; i++)
        worker_join(b->workers[i]);
    storage_close(b); /* commits what the workers handed over */
    cluster_close(b); /* before the chat layer: the bridge hands it events */
    chat_close(b);
    for (unsigned i = 0; i < b->nworkers; i++)
        worker_drop_work(b->workers[i]);
    for (unsigned i = 0; i < b->nworkers; i++)
        worker_free(b->workers[i]);
    free(b->workers);
    retain_free(b->retain);
    shared_free(&b->shared);
    tls_server_free(b->tls);
    uv_loop_close(&app.loop);
    log_info("mqchatd stopped");
    config_free(cfg);
    return 0;
}
