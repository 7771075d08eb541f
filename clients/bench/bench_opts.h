/*
 * bench_opts.h - the command line of mqchat-bench, parsed once.
 *
 * bench_main.c fills one struct bench_opts from argv and hands it, read-only,
 * to the scenario that runs. Nothing else in the load generator reads argv
 * or the environment. The struct owns no memory: its strings point into
 * argv, which lives as long as the process.
 */
#ifndef MQCHAT_BENCH_OPTS_H
#define MQCHAT_BENCH_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench_proc.h"
#include "bench_transport.h"
#include "mqtt_codec.h"

enum bench_scenario {
    BENCH_FANOUT,     /* P publishers -> S subscribers of one topic */
    BENCH_FANIN,      /* P publishers (one topic each) -> S subscribers of a '+' filter */
    BENCH_P2P,        /* P pairs: publisher i -> subscriber i, a topic per pair */
    BENCH_ROOMS,      /* K rooms x M members, each subscribed to and publishing to its room */
    BENCH_CHAT_ROOMS, /* rooms through the chat prefix: token logins, envelopes delivered */
    BENCH_CONNS,      /* N idle subscribed connections: broker memory per connection */
    BENCH_PROBE,      /* one CONNECT/CONNACK round trip: exit 0 when the broker answers */
    BENCH_FREEPORT,   /* print a loopback TCP port nothing listens on */
};

/* Where the connections go (--split), and how rooms members are made up. */
enum bench_split {
    BENCH_SPLIT_ALTERNATE, /* one connection per member; with --port2, the connections
                              with an odd index go to the second broker */
    BENCH_SPLIT_PUBSUB,    /* publishing connections on --port, subscribing ones on
                              --port2 (or --port without it); in rooms and chat-rooms each
                              member then has two connections, one of each */
};

/* Limits the parser enforces, so every run is bounded. */
#define BENCH_MAX_DURATION 3600u   /* seconds */
#define BENCH_MAX_SIZE     262144u /* payload bytes */
#define BENCH_MAX_CONNS    100000u /* connections of one run */
#define BENCH_MAX_PROPS    100u    /* --props: user properties per PUBLISH */
/* chat-rooms: payload bytes, at most the broker's default chat.max_text_bytes. */
#define BENCH_MAX_CHAT_SIZE 4000u

struct bench_opts {
    enum bench_scenario scenario;
    const char *host;       /* --host: IPv4 address, default "127.0.0.1" */
    uint16_t port;          /* --port: default 1883 */
    uint16_t port2;         /* --port2: a second broker on --host (another node of a
                               cluster), 0 = none: every connection goes to --port */
    enum bench_split split; /* --split alternate|pubsub: default alternate */
    uint8_t version;        /* --mqtt 3|5: protocol level of every client, MQTT_V311 (the
                               default, "--mqtt 3") or MQTT_V5; nothing else picks it */
    uint32_t props;         /* --props: user properties (and a Content Type) on every
                               PUBLISH, 0..BENCH_MAX_PROPS; MQTT 5 only, default 0 */
    uint8_t qos;            /* --qos: 0 or 1, for publishes and subscriptions */
    uint32_t size;          /* --size: payload bytes, >= BENCH_PAYLOAD_MIN, default 100 */
    uint32_t duration;      /* --duration: seconds of publishing, 1..BENCH_MAX_DURATION */
    uint32_t drain_ms;      /* --drain: ms to wait for in-flight deliveries after, default 2000 */
    uint32_t rate;          /* --rate: messages/s per publisher, 0 = as fast as the window allows */
    bool rate_set;          /* --rate was given (else rooms and chat-rooms: 1 msg/s, others 0) */
    uint64_t count;         /* --count: cap on messages published in all, 0 = only the duration */
    uint32_t window;        /* --window: messages in flight per publisher, 0 = derived */
    uint32_t subs;          /* --subs: subscribers (fanout, fanin) */
    uint32_t pubs;          /* --pubs: publishers (fanout, fanin) or pairs (p2p) */
    uint32_t rooms;         /* --rooms: rooms (rooms, chat-rooms) */
    uint32_t members;       /* --members: members per room (rooms, chat-rooms) */
    uint32_t conns;         /* --conns: idle connections (conns) */
    uint32_t conn_window;   /* --conn-window: connection handshakes in progress at once */
    uint32_t setup_timeout; /* --setup-timeout: seconds for connecting and subscribing */
    pid_t pids[BENCH_MAX_PIDS]; /* --pid, repeatable: broker processes to sample in /proc
                                   (their CPU and RSS are summed) */
    uint32_t n_pids;            /* how many --pid, 0 = none */
    const char *user;           /* --user: MQTT username, NULL = none */
    const char *password;       /* --password: MQTT password, NULL = none */
    const char *token_secret;   /* --token-secret: HS256 secret (the broker's chat.token_secret);
                                   client i then logs in as user "u<i>" with a token minted
                                   for it; NULL = none (then --user/--password apply) */
    const char *label;          /* --label: free text copied into the report, NULL = none */
    bool json;                  /* --json: one JSON line instead of text */
    bool quiet;                 /* --quiet: no progress lines on stderr */

    enum bench_transport transport; /* --transport tcp|tls|ws|wss: what carries MQTT on every
                                       connection (--port and --port2 are then that
                                       listener's); default tcp */
    const char *ws_path;            /* --ws-path: the path of WebSocket upgrades, starting
                                       with '/', default "/mqtt" */
};

#endif
