/*
 * bench_main.c - mqchat-bench: the command line, process set-up and the
 * choice of scenario.
 *
 * What it is: option parsing into struct bench_opts (every value checked
 * and bounded), raising RLIMIT_NOFILE to its hard limit, ignoring SIGPIPE,
 * then handing over to bench_scenarios.c or bench_tools.c. What it is not:
 * any measuring. The load generator is a single thread with one epoll loop;
 * see bench_conn.c for why that is enough and stays lean.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_opts.h"
#include "bench_scenarios.h"
#include "bench_tools.h"
#include "bench_traffic.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mqchat-bench SCENARIO [options]\n"
            "\n"
            "MQTT 3.1.1 and 5 load generator for mqchatd (or any MQTT broker).\n"
            "\n"
            "scenarios:\n"
            "  fanout     --pubs P (1) publishers -> --subs S (1000) subscribers of one topic\n"
            "  fanin      --pubs P (100) publishers, a topic each -> --subs S (1) on a '+' filter\n"
            "  p2p        --pubs P (100) pairs, publisher i -> subscriber i\n"
            "  rooms      --rooms K (100) x --members M (50), each member subscribed to its\n"
            "             room and publishing to it at --rate R (1) msg/s\n"
            "  chat-rooms the same through the chat layer, logged in with --token-secret:\n"
            "             room k is chat/room/room<k> (the broker needs the same\n"
            "             chat.token_secret and chat.auto_create_rooms true); payloads are\n"
            "             text (%u-%u B), received inside the broker's JSON envelope\n"
            "  conns      --conns N (1000) idle connections with one subscription each;\n"
            "             with --pid, the broker's RSS growth per connection\n"
            "  probe      exit 0 once the broker answers a CONNECT (for scripts)\n"
            "  freeport   print a free loopback TCP port (for scripts)\n"
            "\n"
            "options:\n"
            "  --host ADDR          broker IPv4 address (127.0.0.1)\n"
            "  --port PORT          broker port (1883)\n"
            "  --port2 PORT         a second broker on --host (another node of a cluster):\n"
            "                       connections are spread over both as --split says\n"
            "  --transport tcp|tls|ws|wss   what carries MQTT (tcp): tls is MQTT over TLS\n"
            "                       1.2/1.3, ws over WebSocket (binary frames, protocol\n"
            "                       mqtt), wss over WebSocket over TLS; --port (and --port2)\n"
            "                       are then that listener's. TLS does NOT verify the\n"
            "                       broker's certificate: for loopback runs against a\n"
            "                       throwaway self-signed one only\n"
            "  --ws-path PATH       the path of the WebSocket upgrade (/mqtt)\n"
            "  --split alternate|pubsub   where each connection goes (alternate):\n"
            "                       alternate: with --port2, the connections with an odd\n"
            "                       index to --port2 (in rooms, half of every room's\n"
            "                       members); pubsub: publishing connections to --port,\n"
            "                       subscribing ones to --port2, and in rooms and chat-rooms\n"
            "                       every member has two connections, one of each (as the\n"
            "                       same chat user); without --port2 that layout on --port\n"
            "  --mqtt 3|5           protocol of every client: 3 is MQTT 3.1.1 (3)\n"
            "  --props N            MQTT 5: N user properties of 16 B and a Content Type on\n"
            "                       every publish, 0-%u (0)\n"
            "  --qos 0|1            QoS of publishes and subscriptions (0)\n"
            "  --size BYTES         payload size, %u-%u (100)\n"
            "  --duration SECONDS   publishing time, 1-%u (10)\n"
            "  --drain MS           wait for in-flight deliveries afterwards (2000)\n"
            "  --rate MSG/S         per publisher; 0 = as fast as the window allows\n"
            "                       (0; rooms, chat-rooms: 1)\n"
            "  --window N           messages in flight per publisher (derived: a budget of\n"
            "                       %u deliveries in flight, or one second of --rate)\n"
            "  --count N            stop after N messages in all (0 = only --duration)\n"
            "  --subs N --pubs N --rooms K --members M --conns N   see the scenarios\n"
            "  --conn-window N      connection handshakes in progress at once (100)\n"
            "  --setup-timeout S    seconds allowed for connecting everything (60; probe: 2)\n"
            "  --pid PID            broker process: report its CPU and RSS from /proc;\n"
            "                       up to %u times (e.g. two nodes and their Redis): summed\n"
            "  --user NAME --password SECRET   MQTT credentials\n"
            "  --token-secret S     log in as chat users: client i as user u<i>, its password\n"
            "                       an HS256 token signed with S (the broker's\n"
            "                       chat.token_secret), valid one day\n"
            "  --label TEXT         copied into the report\n"
            "  --json               one JSON line of results on stdout\n"
            "  --quiet              no progress lines on stderr\n"
            "  --help\n",
            BENCH_TEXT_HEADER, BENCH_MAX_CHAT_SIZE, BENCH_MAX_PROPS, BENCH_PAYLOAD_MIN,
            BENCH_MAX_SIZE, BENCH_MAX_DURATION, BENCH_INFLIGHT_BUDGET, BENCH_MAX_PIDS);
}

/* Parses a decimal number in [lo, hi] into *out; false (and a message)
 * otherwise. */
static bool parse_num(const char *opt, const char *arg, unsigned long long lo,
                      unsigned long long hi, unsigned long long *out)
{
    char *end = NULL;

    errno = 0;
    if (!arg || !*arg || *arg == '-')
        goto bad;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || *end || v < lo || v > hi)
        goto bad;
    *out = v;
    return true;
bad:
    fprintf(stderr, "mqchat-bench: --%s wants a number from %llu to %llu, not '%s'\n", opt, lo, hi,
            arg ? arg : "");
    return false;
}

/* Parses --split into *split; false (and a message) for anything else. */
static bool parse_split(const char *arg, enum bench_split *split)
{
    if (arg && strcmp(arg, "alternate") == 0) {
        *split = BENCH_SPLIT_ALTERNATE;
        return true;
    }
    if (arg && strcmp(arg, "pubsub") == 0) {
        *split = BENCH_SPLIT_PUBSUB;
        return true;
    }
    fprintf(stderr, "mqchat-bench: --split wants alternate or pubsub, not '%s'\n", arg ? arg : "");
    return false;
}

/* Adds one --pid to o; false (and a message) for a bad one or one too many. */
static bool parse_pid(const char *arg, struct bench_opts *o)
{
    unsigned long long v = 0;

    if (o->n_pids >= BENCH_MAX_PIDS) {
        fprintf(stderr, "mqchat-bench: --pid at most %u times\n", BENCH_MAX_PIDS);
        return false;
    }
    if (!parse_num("pid", arg, 1, INT_MAX, &v))
        return false;
    o->pids[o->n_pids++] = (pid_t)v;
    return true;
}

static bool parse_scenario(const char *name, enum bench_scenario *sc)
{
    static const struct {
        const char *name;
        enum bench_scenario sc;
    } table[] = {
        {"fanout", BENCH_FANOUT}, {"fanin", BENCH_FANIN},           {"p2p", BENCH_P2P},
        {"rooms", BENCH_ROOMS},   {"chat-rooms", BENCH_CHAT_ROOMS}, {"conns", BENCH_CONNS},
        {"probe", BENCH_PROBE},   {"freeport", BENCH_FREEPORT},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(name, table[i].name) == 0) {
            *sc = table[i].sc;
            return true;
        }
    }
    return false;
}

enum {
    OPT_HOST = 256,
    OPT_PORT,
    OPT_PORT2,
    OPT_SPLIT,
    OPT_TRANSPORT,
    OPT_WS_PATH,
    OPT_MQTT,
    OPT_PROPS,
    OPT_QOS,
    OPT_SIZE,
    OPT_DURATION,
    OPT_DRAIN,
    OPT_RATE,
    OPT_WINDOW,
    OPT_COUNT,
    OPT_SUBS,
    OPT_PUBS,
    OPT_ROOMS,
    OPT_MEMBERS,
    OPT_CONNS,
    OPT_CONN_WINDOW,
    OPT_SETUP_TIMEOUT,
    OPT_PID,
    OPT_USER,
    OPT_PASSWORD,
    OPT_TOKEN_SECRET,
    OPT_LABEL,
    OPT_JSON,
    OPT_QUIET,
    OPT_HELP,
};

/* Fills o from argv. Returns 0 to run, 1 after --help, -1 on a bad
 * command line (reported). */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"port2", required_argument, NULL, OPT_PORT2},
        {"split", required_argument, NULL, OPT_SPLIT},
        {"transport", required_argument, NULL, OPT_TRANSPORT},
        {"ws-path", required_argument, NULL, OPT_WS_PATH},
        {"mqtt", required_argument, NULL, OPT_MQTT},
        {"props", required_argument, NULL, OPT_PROPS},
        {"qos", required_argument, NULL, OPT_QOS},
        {"size", required_argument, NULL, OPT_SIZE},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"drain", required_argument, NULL, OPT_DRAIN},
        {"rate", required_argument, NULL, OPT_RATE},
        {"window", required_argument, NULL, OPT_WINDOW},
        {"count", required_argument, NULL, OPT_COUNT},
        {"subs", required_argument, NULL, OPT_SUBS},
        {"pubs", required_argument, NULL, OPT_PUBS},
        {"rooms", required_argument, NULL, OPT_ROOMS},
        {"members", required_argument, NULL, OPT_MEMBERS},
        {"conns", required_argument, NULL, OPT_CONNS},
        {"conn-window", required_argument, NULL, OPT_CONN_WINDOW},
        {"setup-timeout", required_argument, NULL, OPT_SETUP_TIMEOUT},
        {"pid", required_argument, NULL, OPT_PID},
        {"user", required_argument, NULL, OPT_USER},
        {"password", required_argument, NULL, OPT_PASSWORD},
        {"token-secret", required_argument, NULL, OPT_TOKEN_SECRET},
        {"label", required_argument, NULL, OPT_LABEL},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    unsigned long long v = 0;
    bool ok = true;

    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->port = 1883;
    o->version = MQTT_V311;
    o->size = 100;
    o->duration = 10;
    o->drain_ms = 2000;
    o->conn_window = 100;
    o->transport = BENCH_TP_TCP;
    o->ws_path = "/mqtt";

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 1;
    }
    if (argc < 2 || !parse_scenario(argv[1], &o->scenario)) {
        fprintf(stderr, "mqchat-bench: first argument must be a scenario%s%s\n",
                argc >= 2 ? ", not " : "", argc >= 2 ? argv[1] : "");
        usage(stderr);
        return -1;
    }
    optind = 2;
    int ch;
    while (ok && (ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_HOST:
            o->host = optarg;
            break;
        case OPT_PORT:
            ok = parse_num("port", optarg, 1, 65535, &v);
            o->port = (uint16_t)v;
            break;
        case OPT_PORT2:
            ok = parse_num("port2", optarg, 1, 65535, &v);
            o->port2 = (uint16_t)v;
            break;
        case OPT_SPLIT:
            ok = parse_split(optarg, &o->split);
            break;
        case OPT_TRANSPORT:
            if (bench_tp_parse(optarg, &o->transport) != MQ_OK) {
                fprintf(stderr, "mqchat-bench: --transport wants tcp, tls, ws or wss, not '%s'\n",
                        optarg ? optarg : "");
                ok = false;
            }
            break;
        case OPT_WS_PATH:
            o->ws_path = optarg;
            if (!optarg || optarg[0] != '/' || strpbrk(optarg, " \t\r\n")) {
                fprintf(stderr,
                        "mqchat-bench: --ws-path wants a path starting with '/' and "
                        "without blanks, not '%s'\n",
                        optarg ? optarg : "");
                ok = false;
            }
            break;
        case OPT_MQTT:
            if (optarg && strcmp(optarg, "3") == 0) {
                o->version = MQTT_V311;
            } else if (optarg && strcmp(optarg, "5") == 0) {
                o->version = MQTT_V5;
            } else {
                fprintf(stderr, "mqchat-bench: --mqtt wants 3 (3.1.1) or 5, not '%s'\n",
                        optarg ? optarg : "");
                ok = false;
            }
            break;
        case OPT_PROPS:
            ok = parse_num("props", optarg, 0, BENCH_MAX_PROPS, &v);
            o->props = (uint32_t)v;
            break;
        case OPT_QOS:
            ok = parse_num("qos", optarg, 0, 1, &v);
            o->qos = (uint8_t)v;
            break;
        case OPT_SIZE:
            ok = parse_num("size", optarg, BENCH_PAYLOAD_MIN, BENCH_MAX_SIZE, &v);
            o->size = (uint32_t)v;
            break;
        case OPT_DURATION:
            ok = parse_num("duration", optarg, 1, BENCH_MAX_DURATION, &v);
            o->duration = (uint32_t)v;
            break;
        case OPT_DRAIN:
            ok = parse_num("drain", optarg, 0, 60000, &v);
            o->drain_ms = (uint32_t)v;
            break;
        case OPT_RATE:
            ok = parse_num("rate", optarg, 0, 10000000, &v);
            o->rate = (uint32_t)v;
            o->rate_set = true;
            break;
        case OPT_WINDOW:
            ok = parse_num("window", optarg, 1, 65535, &v);
            o->window = (uint32_t)v;
            break;
        case OPT_COUNT:
            ok = parse_num("count", optarg, 0, ULLONG_MAX / 2, &v);
            o->count = v;
            break;
        case OPT_SUBS:
            ok = parse_num("subs", optarg, 1, BENCH_MAX_CONNS, &v);
            o->subs = (uint32_t)v;
            break;
        case OPT_PUBS:
            ok = parse_num("pubs", optarg, 1, BENCH_MAX_CONNS, &v);
            o->pubs = (uint32_t)v;
            break;
        case OPT_ROOMS:
            ok = parse_num("rooms", optarg, 1, BENCH_MAX_CONNS, &v);
            o->rooms = (uint32_t)v;
            break;
        case OPT_MEMBERS:
            ok = parse_num("members", optarg, 1, BENCH_MAX_CONNS, &v);
            o->members = (uint32_t)v;
            break;
        case OPT_CONNS:
            ok = parse_num("conns", optarg, 1, BENCH_MAX_CONNS, &v);
            o->conns = (uint32_t)v;
            break;
        case OPT_CONN_WINDOW:
            ok = parse_num("conn-window", optarg, 1, 10000, &v);
            o->conn_window = (uint32_t)v;
            break;
        case OPT_SETUP_TIMEOUT:
            ok = parse_num("setup-timeout", optarg, 1, 3600, &v);
            o->setup_timeout = (uint32_t)v;
            break;
        case OPT_PID:
            ok = parse_pid(optarg, o);
            break;
        case OPT_USER:
            o->user = optarg;
            break;
        case OPT_PASSWORD:
            o->password = optarg;
            break;
        case OPT_TOKEN_SECRET:
            o->token_secret = optarg;
            if (!optarg || !*optarg) {
                fprintf(stderr, "mqchat-bench: --token-secret wants a non-empty secret\n");
                ok = false;
            }
            break;
        case OPT_LABEL:
            o->label = optarg;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_QUIET:
            o->quiet = true;
            break;
        case OPT_HELP:
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (!ok)
        return -1;
    if (optind < argc) {
        fprintf(stderr, "mqchat-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->props && o->version != MQTT_V5) {
        fprintf(stderr, "mqchat-bench: --props needs --mqtt 5\n");
        return -1;
    }
    if (o->token_secret && o->user) {
        fprintf(stderr, "mqchat-bench: --token-secret and --user exclude each other\n");
        return -1;
    }
    if (o->scenario == BENCH_CHAT_ROOMS) {
        if (!o->token_secret) {
            fprintf(stderr, "mqchat-bench: chat-rooms needs --token-secret (the broker's "
                            "chat.token_secret)\n");
            return -1;
        }
        if (o->size < BENCH_TEXT_HEADER || o->size > BENCH_MAX_CHAT_SIZE) {
            fprintf(stderr, "mqchat-bench: chat-rooms wants --size from %u to %u\n",
                    BENCH_TEXT_HEADER, BENCH_MAX_CHAT_SIZE);
            return -1;
        }
    }
    if ((o->scenario == BENCH_ROOMS || o->scenario == BENCH_CHAT_ROOMS) &&
        (uint64_t)(o->rooms ? o->rooms : 100) * (o->members ? o->members : 50) *
                (o->split == BENCH_SPLIT_PUBSUB ? 2 : 1) >
            BENCH_MAX_CONNS) {
        fprintf(stderr, "mqchat-bench: --rooms x --members is over %u connections\n",
                BENCH_MAX_CONNS);
        return -1;
    }
    if (o->setup_timeout == 0)
        o->setup_timeout = o->scenario == BENCH_PROBE ? 2 : 60;
    bench_scenario_defaults(o);
    return 0;
}

/* Raises the open-files limit to its hard limit; says so when that is
 * below what the run needs. */
static void raise_nofile(const struct bench_opts *o)
{
    struct rlimit rl;
    uint64_t per_member = o->split == BENCH_SPLIT_PUBSUB ? 2 : 1;
    uint64_t need =
        (uint64_t)o->conns + o->subs + 2ull * o->pubs + per_member * o->rooms * o->members + 16;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur)
        fprintf(stderr, "mqchat-bench: warning: %llu files needed, the limit is %llu\n",
                (unsigned long long)need, (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
    struct bench_opts o;

    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);
    switch (o.scenario) {
    case BENCH_FREEPORT:
        return bench_tool_freeport(&o);
    case BENCH_PROBE:
        return bench_tool_probe(&o);
    default:
        raise_nofile(&o);
        return bench_scenario_run(&o);
    }
}
