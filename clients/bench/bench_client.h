/*
 * bench_client.h - the MQTT client side of the load generator (3.1.1 or 5):
 * a set of connections, their paced start-up and the packets they receive.
 *
 * A struct bench_clients owns one epoll loop and an array of clients. Each
 * client is one TCP connection that sends CONNECT, optionally SUBSCRIBEs to
 * one filter, and is then READY. Start-up is paced: at most `window`
 * handshakes are in progress at once, so a broker's accept backlog is never
 * overrun (Mosquitto listens with a backlog of 100). Once READY, received
 * PUBLISH and PUBACK packets are handed to callbacks set by the traffic
 * layer; QoS 1 deliveries are acknowledged here. Encoding and decoding go
 * through broker/mqtt_codec.h and broker/mqtt5.h; nothing here keeps time
 * or statistics beyond counts of failures.
 *
 * Protocol version: every client of a set speaks the one version given by
 * --mqtt (struct bench_clients.version). bench_client.c is the only place
 * that acts on it: it picks the encoders and decoders, and it also encodes the
 * publishers' PUBLISH packets (bench_clients_encode_publish()), so the
 * traffic layer never knows which version is on the wire. Under MQTT 5 a
 * received PUBLISH is decoded past its property block, so callbacks see the
 * payload exactly as under 3.1.1.
 *
 * Credentials: either the one --user/--password pair for every client, or,
 * with --token-secret, a chat user per client (doc/protocol.md, "Token
 * login"): client i connects with user name "u<login>" (login is i unless
 * the scenario gives two connections one user) and, as its password, a
 * token for that user signed with the secret (jwt_sign()), minted when its
 * CONNECT is written.
 *
 * Two brokers: with --port2 the loop knows a second broker, and a client
 * whose `second` flag the scenario set connects there (bench_conn_open()).
 * Nothing else differs: one loop serves the connections to both.
 */
#ifndef MQCHAT_BENCH_CLIENT_H
#define MQCHAT_BENCH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_conn.h"
#include "bench_opts.h"
#include "mqtt_codec.h"

enum bench_client_state {
    BENCH_CL_IDLE,    /* not opened yet */
    BENCH_CL_CONNACK, /* CONNECT queued, waiting for CONNACK */
    BENCH_CL_SUBACK,  /* SUBSCRIBE queued, waiting for SUBACK */
    BENCH_CL_READY,   /* connected (and subscribed when it has a filter) */
    BENCH_CL_FAILED,  /* closed: refused, reset, timed out or a protocol error */
};

struct bench_client {
    struct bench_conn conn; /* first member: a conn pointer is a client pointer */
    enum bench_client_state state;
    uint32_t id;        /* index in the owning bench_clients array */
    int32_t pub;        /* index of the publisher sending on it, -1 for none */
    const char *filter; /* subscription filter, NUL-terminated, NULL for none;
                           owned by the scenario, which outlives the client */
    uint32_t login;     /* --token-secret: logs in as chat user "u<login>" (its id
                           unless the scenario gives two connections one user) */
    bool second;        /* connects to the second broker (--port2), when there is one */
};

struct bench_clients;

/* A PUBLISH arrived on c (already acknowledged when QoS 1). p points into
 * the read buffer: valid only during the call. */
typedef void (*bench_publish_fn)(void *ctx, struct bench_client *c, const struct mqtt_publish *p,
                                 uint64_t now_ns);
/* A PUBACK for packet_id arrived on c. */
typedef void (*bench_puback_fn)(void *ctx, struct bench_client *c, uint16_t packet_id,
                                uint64_t now_ns);

struct bench_clients {
    struct bench_loop loop;
    struct bench_client *a; /* n clients, allocated by bench_clients_init() */
    uint32_t n;
    uint32_t n_handshaking; /* clients in BENCH_CL_CONNACK or BENCH_CL_SUBACK */
    uint32_t n_ready;       /* clients that reached READY (and may have failed since) */
    uint32_t n_failed;      /* clients in BENCH_CL_FAILED */
    uint32_t n_lost;        /* of those, clients that failed after READY */
    uint8_t version;        /* protocol level of every client: MQTT_V311 or MQTT_V5 */
    uint8_t qos;            /* QoS requested for every subscription */
    uint16_t keepalive;     /* seconds sent in CONNECT; PINGREQ every half of it */
    uint64_t next_ping_ns;  /* when bench_clients_tick() pings next, 0 before READY */
    const char *user;       /* NULL for none; points into argv */
    const char *password;
    const uint8_t *token_secret; /* --token-secret, NULL for none: then each client logs in
                                    as user "u<id>" with an HS256 token minted for it
                                    (expiring in a day), and user/password are unused;
                                    points into argv */
    size_t token_secret_len;
    uint8_t *pub_props;          /* MQTT 5: the property block of every PUBLISH sent (--props),
                                    NULL when empty; owned */
    uint32_t pub_props_len;      /* bytes at pub_props */
    bench_publish_fn on_publish; /* NULL: deliveries are only acknowledged */
    bench_puback_fn on_puback;
    void *ctx;
    uint64_t n_protocol_errors; /* packets that did not decode or were unexpected */
    char first_error[256];      /* what went wrong first, "" while nothing did */
};

/*
 * Allocates n idle clients and the loop, from the connection options in o
 * (host, port, port2, transport, ws_path, user, password, token_secret, qos,
 * version, props);
 * every client's login is its id and none is `second`. Returns MQ_OK,
 * MQ_EINVAL (bad host), MQ_ENOMEM or MQ_EIO. The caller then sets each
 * client's pub and filter.
 * On error nothing is left allocated.
 */
int bench_clients_init(struct bench_clients *s, const struct bench_opts *o, uint32_t n);

/*
 * The PUBLISH packets publishers send, in the clients' protocol version and,
 * under MQTT 5, with the --props property block. bench_clients_publish_size()
 * is the packet's size; bench_clients_encode_publish() writes it into out
 * (room for that size) with packet id 1 when qos > 0, sets *id_offset as
 * mqtt_encode_publish() does and returns the bytes written. The payload is
 * always the packet's last payload_len bytes. topic_len must be <= 65535.
 */
size_t bench_clients_publish_size(const struct bench_clients *s, size_t topic_len,
                                  size_t payload_len, uint8_t qos);
size_t bench_clients_encode_publish(const struct bench_clients *s, uint8_t *out, const char *topic,
                                    size_t topic_len, const uint8_t *payload, size_t payload_len,
                                    uint8_t qos, size_t *id_offset);

/* Closes every connection and frees the clients and the loop. */
void bench_clients_free(struct bench_clients *s);

/*
 * Connects (and subscribes) every idle client, keeping at most `window`
 * handshakes in progress, until all are READY or FAILED or timeout_s has
 * passed (clients still handshaking then are closed as FAILED). Prints a
 * progress line per second on stderr unless quiet. Returns MQ_OK when every
 * client is READY, MQ_EIO otherwise (see n_ready, n_failed, first_error).
 */
int bench_clients_setup(struct bench_clients *s, uint32_t window, uint32_t timeout_s, bool quiet);

/* Runs the loop once (see bench_loop_poll()) and sends due PINGREQs.
 * Returns what bench_loop_poll() returns. */
int bench_clients_poll(struct bench_clients *s, int timeout_ms);

/* Sends DISCONNECT on every open client (and, over TLS or WebSocket, the
 * transport's closing words), flushes, and closes them all. */
void bench_clients_disconnect(struct bench_clients *s);

#endif
