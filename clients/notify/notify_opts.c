/*
 * notify_opts.c - mqchat-notify's command line (see notify_opts.h).
 *
 * Flags beat the environment; of the environment, MQCHAT_TOKEN beats
 * MQCHAT_PASSWORD. A token login needs no user name: the token's `sub`
 * claim is the user (the broker checks it against the signature). Nothing
 * here prints a password or a token.
 */
#include "notify_opts.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notify_payload.h"
#include "../common/token.h"

#define NOTIFY_VERSION "mqchat-notify 1.0"

void notify_usage(FILE *f)
{
    fputs("Usage: mqchat-notify (--all | --room ROOM | --user USER) [options] TEXT...\n"
          "       mqchat-notify (--all | --room ROOM | --user USER) [options] -\n"
          "\n"
          "Publishes system notifications to an mqchat broker at QoS 1 and waits for\n"
          "the broker's acknowledgement. TEXT... is one notification (the words joined\n"
          "by spaces); \"-\" reads one notification per line of standard input, in\n"
          "order (empty lines are skipped).\n"
          "\n"
          "Target (exactly one):\n"
          "  -a, --all              everyone: PREFIX/system\n"
          "  -r, --room ROOM        a room: PREFIX/room/ROOM/system\n"
          "  -U, --user USER        one user: PREFIX/user/USER/events\n"
          "\n"
          "Message:\n"
          "  -m, --meta JSON        a JSON object sent as the notification's meta\n"
          "      --prefix P         the broker's chat.prefix (default chat)\n"
          "\n"
          "Login (the service role: a service user, or a token with role service):\n"
          "  -u, --username NAME    user name (env MQCHAT_USER; a token's sub by default)\n"
          "  -P, --password PW      password (env MQCHAT_PASSWORD; prefer the environment:\n"
          "                         arguments are visible to other local users)\n"
          "  -t, --token JWT        token instead of a password (env MQCHAT_TOKEN)\n"
          "  -i, --id ID            client id (default: a random one)\n"
          "\n"
          "Connection:\n"
          "  -h, --host HOST        broker host (default localhost)\n"
          "  -p, --port PORT        port (default 1883, with TLS 8883)\n"
          "  -V, --protocol 5|311   MQTT version (default 5); with 3.1.1 a refusal is\n"
          "                         only known from the broker's notice (see EXIT STATUS)\n"
          "      --tls              MQTT over TLS, the server verified against the\n"
          "                         system's CAs (or --cafile / --capath)\n"
          "      --cafile FILE      PEM CA certificates to verify the server (implies --tls)\n"
          "      --capath DIR       directory of CA certificates (implies --tls)\n"
          "      --cert FILE        client certificate, PEM (with --key and --cafile or\n"
          "                         --capath)\n"
          "      --key FILE         the client certificate's key\n"
          "      --insecure         TLS without verifying the server (testing only)\n"
          "  -k, --keepalive SEC    keepalive (default 60)\n"
          "  -R, --retries N        connection attempts after the first (default 3)\n"
          "      --retry-delay MS   first wait between attempts (default 500; doubles,\n"
          "                         at most 10000, or MS when that is more)\n"
          "  -T, --timeout MS       for one connection attempt and for each\n"
          "                         acknowledgement (default 10000)\n"
          "\n"
          "Output:\n"
          "  -q, --quiet            print errors only\n"
          "      --keep-going       stdin: go on after a refused notification\n"
          "      --help             this text\n"
          "      --version          the version\n"
          "\n"
          "Retries are for connections only: a notification the broker acknowledged\n"
          "or refused is never published again. One whose connection broke before its\n"
          "acknowledgement is published again on the next connection (QoS 1: it may\n"
          "then arrive twice).\n"
          "\n"
          "EXIT STATUS\n"
          "  0  delivered (every notification acknowledged by the broker)\n"
          "  1  usage: bad options or arguments, bad --meta, an invalid room or user\n"
          "     name, a TLS file that cannot be loaded\n"
          "  2  login refused (CONNACK: wrong password, bad or expired token)\n"
          "  3  not allowed: PUBACK 0x87 (not the service role, a private room...)\n"
          "  4  broker unreachable: no connection, TLS handshake failed, or no\n"
          "     acknowledgement, after the retries\n"
          "  5  rejected for another reason: PUBACK 0x90 (unknown room), 0x99\n"
          "     (payload: too long, bad UTF-8), 0x97 (quota, spool full)...\n"
          "With -, the status is that of the first notification that failed;\n"
          "the summary says how many were delivered. With MQTT 3.1.1 the broker\n"
          "acknowledges refused publishes too: mqchat-notify listens on the user's\n"
          "events topic and reports a refusal when the broker's notice arrives with\n"
          "the acknowledgement (0 otherwise).\n",
          f);
}

/* Parses a whole decimal number in [lo, hi] into *v; false otherwise. */
static bool parse_int(const char *s, long lo, long hi, int *v)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (!*s || *end || n < lo || n > hi)
        return false;
    *v = (int)n;
    return true;
}

/* Joins argv[from..argc) with single spaces (malloc'd) or NULL. */
static char *join_words(int argc, char **argv, int from)
{
    size_t len = 1;
    for (int i = from; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = from; i < argc; i++) {
        if (i > from)
            strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

enum {
    OPT_TLS = 256,
    OPT_CAFILE,
    OPT_CAPATH,
    OPT_CERT,
    OPT_KEY,
    OPT_INSECURE,
    OPT_RETRY_DELAY,
    OPT_KEEP_GOING,
    OPT_PREFIX,
    OPT_HELP,
    OPT_VERSION,
};

static int usage_error(FILE *err, const char *what, const char *arg)
{
    fprintf(err, "mqchat-notify: %s%s%s\nTry 'mqchat-notify --help'.\n", what, arg ? ": " : "",
            arg ? arg : "");
    return NOTIFY_USAGE;
}

int notify_opts_parse(int argc, char **argv, struct notify_opts *o, FILE *out, FILE *err)
{
    static const struct option longopts[] = {
        {"all", no_argument, NULL, 'a'},
        {"room", required_argument, NULL, 'r'},
        {"user", required_argument, NULL, 'U'},
        {"meta", required_argument, NULL, 'm'},
        {"prefix", required_argument, NULL, OPT_PREFIX},
        {"username", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'P'},
        {"token", required_argument, NULL, 't'},
        {"id", required_argument, NULL, 'i'},
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"protocol", required_argument, NULL, 'V'},
        {"tls", no_argument, NULL, OPT_TLS},
        {"cafile", required_argument, NULL, OPT_CAFILE},
        {"capath", required_argument, NULL, OPT_CAPATH},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"keepalive", required_argument, NULL, 'k'},
        {"retries", required_argument, NULL, 'R'},
        {"retry-delay", required_argument, NULL, OPT_RETRY_DELAY},
        {"timeout", required_argument, NULL, 'T'},
        {"quiet", no_argument, NULL, 'q'},
        {"keep-going", no_argument, NULL, OPT_KEEP_GOING},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->prefix = "chat";
    o->host = "localhost";
    o->version = 5;
    o->keepalive = 60;
    o->retries = 3;
    o->retry_delay_ms = 500;
    o->timeout_ms = 10000;
    const char *password = NULL, *token = NULL;
    int ntargets = 0;

    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+ar:U:m:u:P:t:i:h:p:V:k:R:T:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            o->target = NOTIFY_TO_ALL;
            ntargets++;
            break;
        case 'r':
            o->target = NOTIFY_TO_ROOM;
            o->target_name = optarg;
            ntargets++;
            break;
        case 'U':
            o->target = NOTIFY_TO_USER;
            o->target_name = optarg;
            ntargets++;
            break;
        case 'm':
            o->meta = optarg;
            break;
        case OPT_PREFIX:
            o->prefix = optarg;
            break;
        case 'u':
            o->username = optarg;
            break;
        case 'P':
            password = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'i':
            o->client_id = optarg;
            break;
        case 'h':
            o->host = optarg;
            break;
        case 'p':
            if (!parse_int(optarg, 1, 65535, &o->port))
                return usage_error(err, "--port must be 1-65535", optarg);
            break;
        case 'V':
            if (!strcmp(optarg, "5") || !strcmp(optarg, "mqttv5"))
                o->version = 5;
            else if (!strcmp(optarg, "311") || !strcmp(optarg, "mqttv311"))
                o->version = 311;
            else
                return usage_error(err, "--protocol must be 5 or 311", optarg);
            break;
        case OPT_TLS:
            o->tls = true;
            break;
        case OPT_CAFILE:
            o->cafile = optarg;
            o->tls = true;
            break;
        case OPT_CAPATH:
            o->capath = optarg;
            o->tls = true;
            break;
        case OPT_CERT:
            o->certfile = optarg;
            o->tls = true;
            break;
        case OPT_KEY:
            o->keyfile = optarg;
            break;
        case OPT_INSECURE:
            o->insecure = true;
            o->tls = true;
            break;
        case 'k':
            if (!parse_int(optarg, 5, 65535, &o->keepalive))
                return usage_error(err, "--keepalive must be 5-65535 seconds", optarg);
            break;
        case 'R':
            if (!parse_int(optarg, 0, 1000, &o->retries))
                return usage_error(err, "--retries must be 0-1000", optarg);
            break;
        case OPT_RETRY_DELAY:
            if (!parse_int(optarg, 0, 600000, &o->retry_delay_ms))
                return usage_error(err, "--retry-delay must be 0-600000 ms", optarg);
            break;
        case 'T':
            if (!parse_int(optarg, 100, 3600000, &o->timeout_ms))
                return usage_error(err, "--timeout must be 100-3600000 ms", optarg);
            break;
        case 'q':
            o->quiet = true;
            break;
        case OPT_KEEP_GOING:
            o->keep_going = true;
            break;
        case OPT_HELP:
            notify_usage(out);
            return -1;
        case OPT_VERSION:
            fprintf(out, "%s\n", NOTIFY_VERSION);
            return -1;
        case ':':
            return usage_error(err, "option needs an argument", argv[optind - 1]);
        default:
            return usage_error(err, "unknown option", argv[optind - 1]);
        }
    }

    if (ntargets != 1)
        return usage_error(err,
                           ntargets ? "give only one of --all, --room, --user"
                                    : "give one of --all, --room ROOM, --user USER",
                           NULL);
    if (o->target != NOTIFY_TO_ALL && !notify_name_valid(o->target_name))
        return usage_error(err,
                           o->target == NOTIFY_TO_ROOM
                               ? "not a room name (1-64 of A-Z a-z 0-9 _ . -)"
                               : "not a user id (1-64 of A-Z a-z 0-9 _ . -)",
                           o->target_name);
    if (!notify_prefix_valid(o->prefix))
        return usage_error(err, "not a usable topic prefix", o->prefix);
    if (optind >= argc)
        return usage_error(err, "no text (give TEXT..., or - to read lines from stdin)", NULL);
    if (optind == argc - 1 && !strcmp(argv[optind], "-")) {
        o->from_stdin = true;
    } else {
        if (!(o->text = join_words(argc, argv, optind))) {
            fprintf(err, "mqchat-notify: out of memory\n");
            return NOTIFY_USAGE;
        }
        if (!o->text[0])
            return usage_error(err, "empty text", NULL);
    }
    if (o->meta) {
        char why[128];
        if (notify_meta_check(o->meta, why, sizeof(why)) != 0)
            return usage_error(err, "--meta", why);
    }
    if (o->keyfile && !o->certfile)
        return usage_error(err, "--key needs --cert", NULL);
    if (o->certfile && !o->keyfile)
        return usage_error(err, "--cert needs --key", NULL);
    if (o->certfile && !o->cafile && !o->capath)
        return usage_error(err, "--cert needs --cafile or --capath", NULL);
    if (!o->port)
        o->port = o->tls ? 8883 : 1883;

    /* Credentials: flags, then the environment. */
    if (password && token)
        return usage_error(err, "give --password or --token, not both", NULL);
    if (!password && !token) {
        const char *env_token = getenv("MQCHAT_TOKEN");
        const char *env_password = getenv("MQCHAT_PASSWORD");
        if (env_token && *env_token)
            token = env_token;
        else if (env_password)
            password = env_password;
    }
    if (!o->username) {
        const char *env_user = getenv("MQCHAT_USER");
        if (env_user && *env_user)
            o->username = env_user;
    }
    if (token) {
        o->password = token;
        if (!o->username) {
            if (!(o->token_user = token_subject(token)))
                return usage_error(err, "the token has no readable 'sub' claim: give --username",
                                   NULL);
            o->username = o->token_user;
        }
    } else {
        o->password = password;
    }
    if (o->password && !o->username)
        return usage_error(err, "a password needs a user name (--username or MQCHAT_USER)", NULL);
    return NOTIFY_OK;
}

void notify_opts_free(struct notify_opts *o)
{
    free(o->text);
    free(o->token_user);
    o->text = NULL;
    o->token_user = NULL;
}
