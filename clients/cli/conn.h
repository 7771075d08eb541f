/*
 * conn.h - mqchat's MQTT 5 connection: Paho MQTT C's async client wrapped
 * into blocking calls with timeouts for the CLI's main thread, plus two
 * callbacks (a message arrived, the connection was lost) that run on
 * Paho's thread. Owner: the mqchat CLI (issue 9).
 *
 * What it is: connect (tcp://, ssl://, ws://, wss:// URLs; a persistent
 * session when clean is 0), subscribe, unsubscribe, publish, each waiting
 * for its acknowledgement and returning the broker's reason code.
 *
 * What it is not: no reconnect policy (the caller decides when to call
 * conn_connect() again, see chat.c), no threads of its own beyond Paho's.
 */
#ifndef MQCHAT_CLI_CONN_H
#define MQCHAT_CLI_CONN_H

#include <stddef.h>

enum {
    CONN_OK = 0,
    CONN_EAUTH = -1,        /* CONNECT refused: bad user name or password (0x86, 0x87, 0x8C) */
    CONN_EREFUSED = -2,     /* refused with another reason code (see *reason) */
    CONN_EUNREACHABLE = -3, /* no connection (refused, reset, TLS or WebSocket failure) */
    CONN_ETIMEOUT = -4,     /* no acknowledgement in time */
    CONN_EDISCONNECTED = -5,/* not connected now */
    CONN_EDENIED = -6,      /* PUBACK/SUBACK with a failure reason code (see *reason) */
    CONN_ENOMEM = -7,
    CONN_EINVAL = -8,       /* bad URL or options */
};

struct conn_opts {
    const char *url;       /* tcp://, ssl://, mqtts://, ws://, wss:// */
    const char *client_id;
    const char *user;
    const char *password;  /* a password or a token */
    const char *cafile;    /* PEM CAs for TLS, or NULL for the system's */
    int insecure;          /* skip certificate and host name checks */
    int clean;             /* 1: clean start; 0: resume the session */
    unsigned session_expiry; /* seconds the broker keeps the session offline */
    int keepalive;         /* seconds */
    int timeout_ms;        /* bound of each blocking call */
};

/* Called on Paho's thread for each message; the strings are valid only
 * during the call. */
typedef void conn_message_fn(void *ctx, const char *topic, const char *payload, size_t len);
/* Called on Paho's thread when a live connection is lost. */
typedef void conn_lost_fn(void *ctx, const char *cause);

/* Called on Paho's thread when a CONNECT succeeded, before any message of
 * the session is handed to conn_message_fn. */
typedef void conn_up_fn(void *ctx, int session_present);

struct conn;

/* Makes a client (not connected). The strings of o are copied. Returns
 * CONN_OK with *out set, or a negative code. */
int conn_create(struct conn **out, const struct conn_opts *o, conn_message_fn *on_message,
                conn_lost_fn *on_lost, void *ctx);

/* Sets the callback run when a connection is made (NULL: none). Call
 * before conn_connect(). */
void conn_set_on_up(struct conn *c, conn_up_fn *on_up);

/* Replaces the password (or token) the next conn_connect() sends; the old
 * one is wiped. Call from the thread that calls conn_connect(), not while
 * it runs. Returns CONN_OK, or CONN_ENOMEM with the old one kept. */
int conn_set_password(struct conn *c, const char *password);

/* Connects and waits for the CONNACK. *session_present (may be NULL) says
 * whether the broker resumed the session; *reason (may be NULL) gets the
 * CONNACK reason code on CONN_EAUTH/CONN_EREFUSED. */
int conn_connect(struct conn *c, int *session_present, int *reason);

/* 1 while connected. */
int conn_connected(struct conn *c);

/* Subscribes and waits for the SUBACK: CONN_OK, or CONN_EDENIED with the
 * reason code in *reason (may be NULL). */
int conn_subscribe(struct conn *c, const char *filter, int qos, int *reason);

/* Unsubscribes and waits for the UNSUBACK. */
int conn_unsubscribe(struct conn *c, const char *filter);

/* Publishes and, for QoS 1, waits for the PUBACK: CONN_OK, or
 * CONN_EDENIED with its reason code in *reason. */
int conn_publish(struct conn *c, const char *topic, const void *payload, size_t len, int qos,
                 int *reason);

/* Sends DISCONNECT (keeping the session on the broker) and waits briefly. */
void conn_disconnect(struct conn *c);

/* Frees c (disconnecting first if needed). */
void conn_destroy(struct conn *c);

/* A short text for a CONN_E* code. */
const char *conn_strerror(int rc);

/* The name of an MQTT 5 reason code ("Not authorized"). */
const char *conn_reason_string(int reason);

/* The MQCHAT_EXIT_* code (opts.h) for a conn_connect() error. */
int conn_exit_code(int rc);

struct mqchat_opts;

/* co from the command line's connection settings (url, TLS, keepalive,
 * timeout) and the given identity; the caller sets clean and
 * session_expiry. The strings are borrowed. */
void conn_opts_from(struct conn_opts *co, const struct mqchat_opts *o, const char *client_id,
                    const char *user, const char *secret);

#endif
