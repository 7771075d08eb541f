/*
 * main.c - mqchat-display: shows one chat room on a small screen, read-only
 * (doc/man/mqchat-display.1). Options and environment, signals, the loop
 * that ties the link (MQTT, link.c), the view (room_view.c), the layout
 * (render.c) and the output (screen.c) together, and the exit codes.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <mosquitto.h>

#include "../common/token.h"
#include "link.h"
#include "render.h"
#include "room_view.h"
#include "screen.h"

/* Exit codes (also in the man page). */
enum {
    EXIT_CLEAN = 0,  /* SIGTERM, SIGINT or 'q' */
    EXIT_USAGE = 1,  /* bad options */
    EXIT_AUTH = 2,   /* credentials refused at the first connect */
    EXIT_DENIED = 3, /* the room may not be read (or does not exist) */
    EXIT_FAILED = 4, /* output gone, out of memory, TLS set-up */
};

#define PLAIN_WIDTH  40
#define PLAIN_HEIGHT 12

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void usage(FILE *f)
{
    fputs("Usage: mqchat-display [OPTION]... ROOM\n"
          "Shows the last messages of a chat room on a small screen (read-only).\n"
          "\n"
          "  -H, --host HOST       broker host (MQCHAT_HOST, default 127.0.0.1)\n"
          "  -p, --port PORT       MQTT port (MQCHAT_PORT, default 1883)\n"
          "  -u, --user USER       user id (MQCHAT_USER; default: the token's subject)\n"
          "  -P, --password PW     password (MQCHAT_PASSWORD; prefer the environment)\n"
          "  -t, --token TOKEN     token from POST /v1/tokens (MQCHAT_TOKEN)\n"
          "      --prefix PREFIX   the broker's chat.prefix (default chat)\n"
          "  -W, --width COLS      columns of the layout (plain default 40, curses: the terminal)\n"
          "  -L, --height ROWS     rows, header included (plain default 12, curses: the terminal)\n"
          "  -n, --messages N      messages kept and fetched at connect (default ROWS-1, 1-1000)\n"
          "  -k, --keepalive SECS  MQTT keepalive (default 300)\n"
          "      --cafile FILE     connect with TLS, checking the broker against FILE\n"
          "      --insecure        with --cafile: do not check the broker's host name\n"
          "      --plain           frames as text on stdout, each ended by a form-feed line\n"
          "                        (the default when stdout is not a terminal)\n"
          "      --curses          full-screen view (the default on a terminal; q quits)\n"
          "  -v, --verbose         connection events on stderr\n"
          "      --help            this help\n"
          "\n"
          "Exit status: 0 stopped by SIGTERM/SIGINT (or q), 1 usage, 2 credentials refused at\n"
          "the first connect, 3 the room may not be read, 4 output or set-up failed.\n",
          f);
}

/* A whole number in lo..hi from s, or fails the program with usage. */
static long number(const char *what, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "mqchat-display: %s must be a number from %ld to %ld: '%s'\n", what, lo, hi,
                s);
        exit(EXIT_USAGE);
    }
    return v;
}

/* A user id or room name: 1-64 bytes of [A-Za-z0-9_.-] (doc/protocol.md). */
static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", s[i]))
            return 0;
    return 1;
}

/* A copy of a secret given on the command line, which is then blanked so
 * that ps shows less of it. */
static char *take_secret(char *arg)
{
    char *s = strdup(arg);
    if (!s) {
        fputs("mqchat-display: out of memory\n", stderr);
        exit(EXIT_FAILED);
    }
    memset(arg, 'x', strlen(arg));
    return s;
}

int main(int argc, char **argv)
{
    enum { OPT_PREFIX = 256, OPT_CAFILE, OPT_INSECURE, OPT_PLAIN, OPT_CURSES, OPT_HELP };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"user", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'P'},
        {"token", required_argument, NULL, 't'},
        {"prefix", required_argument, NULL, OPT_PREFIX},
        {"width", required_argument, NULL, 'W'},
        {"height", required_argument, NULL, 'L'},
        {"messages", required_argument, NULL, 'n'},
        {"keepalive", required_argument, NULL, 'k'},
        {"cafile", required_argument, NULL, OPT_CAFILE},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"plain", no_argument, NULL, OPT_PLAIN},
        {"curses", no_argument, NULL, OPT_CURSES},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    struct link_opts o = {
        .host = getenv("MQCHAT_HOST"), .port = 1883, .prefix = "chat", .keepalive = 300};
    const char *env_port = getenv("MQCHAT_PORT");
    const char *user = getenv("MQCHAT_USER");
    char *password = NULL, *token = NULL;
    long width = 0, height = 0, messages = 0;
    int kind = -1;
    if (env_port && *env_port)
        o.port = (int)number("MQCHAT_PORT", env_port, 1, 65535);
    int c;
    while ((c = getopt_long(argc, argv, "H:p:u:P:t:W:L:n:k:v", longopts, NULL)) != -1) {
        switch (c) {
        case 'H':
            o.host = optarg;
            break;
        case 'p':
            o.port = (int)number("--port", optarg, 1, 65535);
            break;
        case 'u':
            user = optarg;
            break;
        case 'P':
            free(password);
            password = take_secret(optarg);
            break;
        case 't':
            free(token);
            token = take_secret(optarg);
            break;
        case OPT_PREFIX:
            o.prefix = optarg;
            break;
        case 'W':
            width = number("--width", optarg, 1, 1000);
            break;
        case 'L':
            height = number("--height", optarg, 1, 1000);
            break;
        case 'n':
            messages = number("--messages", optarg, 1, 1000);
            break;
        case 'k':
            o.keepalive = (int)number("--keepalive", optarg, 5, 65535);
            break;
        case OPT_CAFILE:
            o.cafile = optarg;
            break;
        case OPT_INSECURE:
            o.insecure = true;
            break;
        case OPT_PLAIN:
            kind = SCREEN_PLAIN;
            break;
        case OPT_CURSES:
            kind = SCREEN_CURSES;
            break;
        case 'v':
            o.verbose = true;
            break;
        case OPT_HELP:
            usage(stdout);
            return EXIT_CLEAN;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(optind < argc ? "mqchat-display: one room only\n" : "mqchat-display: no room\n",
              stderr);
        usage(stderr);
        return EXIT_USAGE;
    }
    o.room = argv[optind];
    if (!o.host || !*o.host)
        o.host = "127.0.0.1";
    /* Flags over the environment; a token over a password from the same place. */
    if (token)
        o.password = token;
    else if (password)
        o.password = password;
    else if (getenv("MQCHAT_TOKEN") && *getenv("MQCHAT_TOKEN"))
        o.password = getenv("MQCHAT_TOKEN");
    else
        o.password = getenv("MQCHAT_PASSWORD");
    char *sub = NULL;
    if ((!user || !*user) && o.password && (sub = token_subject(o.password)))
        user = sub;
    if (!user || !*user || !o.password || !*o.password) {
        fputs("mqchat-display: a user and a password or token are needed "
              "(--user/--password/--token, MQCHAT_USER/MQCHAT_PASSWORD/MQCHAT_TOKEN)\n",
              stderr);
        return EXIT_USAGE;
    }
    if (!valid_name(user) || !valid_name(o.room)) {
        fprintf(stderr, "mqchat-display: '%s' is not a valid %s (1-64 of A-Z a-z 0-9 _ . -)\n",
                valid_name(user) ? o.room : user, valid_name(user) ? "room name" : "user id");
        return EXIT_USAGE;
    }
    if (!*o.prefix || strpbrk(o.prefix, "+#") || strlen(o.prefix) > 64) {
        fputs("mqchat-display: bad --prefix\n", stderr);
        return EXIT_USAGE;
    }
    o.user = user;
    if (kind < 0)
        kind = isatty(STDOUT_FILENO) ? SCREEN_CURSES : SCREEN_PLAIN;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: a signal ends the loop's wait */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = EXIT_FAILED;
    struct room_view view = {0};
    struct frame shown = {0}, next = {0};
    struct link *link = NULL;
    bool screen_up = false;
    mosquitto_lib_init();
    if (screen_open((enum screen_kind)kind) != DISPLAY_OK) {
        fputs("mqchat-display: cannot start curses (no terminal?); try --plain\n", stderr);
        goto out;
    }
    screen_up = true;
    int tcols, trows;
    if (screen_size((enum screen_kind)kind, &tcols, &trows)) {
        if (!width)
            width = tcols > 0 ? tcols : PLAIN_WIDTH;
        if (!height)
            height = trows > 0 ? trows : PLAIN_HEIGHT;
    }
    if (!width)
        width = PLAIN_WIDTH;
    if (!height)
        height = PLAIN_HEIGHT;
    if (!messages)
        messages = height > 1 ? height - 1 : 1;
    o.history = (int)messages;
    if (room_view_init(&view, (size_t)messages) != DISPLAY_OK ||
        frame_init(&shown, (size_t)width, (size_t)height) != DISPLAY_OK ||
        frame_init(&next, (size_t)width, (size_t)height) != DISPLAY_OK)
        goto oom;
    int rc = link_new(&o, &view, &link);
    if (rc == DISPLAY_ENOMEM)
        goto oom;
    if (rc != DISPLAY_OK)
        goto out;
    bool dirty = true;
    while (!stop_signal) {
        if (dirty) {
            if (render_frame(&view, o.room, &next) != DISPLAY_OK)
                goto oom;
            if (!frame_equal(&next, &shown) || !shown.rows[0][0]) {
                if (screen_draw((enum screen_kind)kind, &next) != DISPLAY_OK)
                    goto out; /* the reader went away */
                struct frame t = shown;
                shown = next;
                next = t;
            }
            dirty = false;
        }
        rc = link_step(link, kind == SCREEN_CURSES ? 250 : 1000, &dirty);
        if (rc == LINK_EAUTH) {
            fprintf(stderr, "mqchat-display: %s: user name or password refused\n", o.user);
            status = EXIT_AUTH;
            goto out;
        }
        if (rc == LINK_EDENIED) {
            status = EXIT_DENIED;
            goto out;
        }
        if (rc == DISPLAY_ENOMEM)
            goto oom;
        if (screen_quit_key((enum screen_kind)kind))
            break;
    }
    status = EXIT_CLEAN;
    goto out;
oom:
    fputs("mqchat-display: out of memory\n", stderr);
out:
    if (link) {
        link_close(link);
        link_free(link);
    }
    if (screen_up)
        screen_close((enum screen_kind)kind);
    mosquitto_lib_cleanup();
    frame_free(&shown);
    frame_free(&next);
    room_view_free(&view);
    free(sub);
    free(password);
    free(token);
    return status;
}
