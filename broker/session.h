/*
 * session.h - MQTT session state of one client id, on its home worker.
 *
 * A session holds what outlives a connection: subscriptions, the outgoing
 * QoS 1/2 window (inflight) and the queue behind it, incoming QoS 2 packet
 * ids awaiting PUBREL, and the will of the current connection. A clean
 * session dies with its connection; a persistent one stays (offline,
 * queueing QoS 1/2 messages up to the configured limits) until the client
 * returns or persistent_client_expiration passes.
 *
 * Sessions belong to their worker's session table; every function here runs
 * on that worker's thread.
 */
#ifndef MQCHAT_SESSION_H
#define MQCHAT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message.h"

struct worker;
struct conn;

enum inflight_state {
    INFLIGHT_PUBACK,  /* QoS 1 sent, waiting for PUBACK */
    INFLIGHT_PUBREC,  /* QoS 2 sent, waiting for PUBREC */
    INFLIGHT_PUBCOMP, /* PUBREL sent, waiting for PUBCOMP (msg released) */
};

struct inflight {
    struct message *msg; /* reference; NULL in INFLIGHT_PUBCOMP */
    uint16_t packet_id;
    uint8_t qos;
    bool retain;         /* sent with RETAIN (a retained message on subscribe) */
    uint8_t state;       /* enum inflight_state */
};

struct queued {
    struct message *msg; /* reference */
    uint8_t qos;         /* granted QoS (1 or 2) */
    bool retain;         /* to be sent with RETAIN */
};

struct subscription {
    char *filter;        /* NUL-terminated copy */
    uint16_t filter_len;
    uint8_t options;     /* QoS in bits 0-1 */
};

struct session {
    struct worker *w;
    char *client_id;         /* NUL-terminated, owned; the session table's key */
    uint16_t client_id_len;
    char *username;          /* owned; NULL for anonymous */
    struct conn *conn;       /* the live connection, or NULL when offline */
    bool clean;              /* clean session: freed when the connection ends */
    uint8_t version;         /* protocol level of the last connection */

    struct subscription *subs;
    size_t nsubs, capsubs;

    struct inflight *inflight;  /* at most max_inflight_messages */
    size_t ninflight, capinflight;
    uint16_t next_packet_id;

    struct queued *queue;       /* ring buffer of QoS 1/2 deliveries waiting */
    size_t qhead, qlen, qcap;
    uint64_t qbytes;            /* payload bytes queued */

    uint16_t *rx_qos2;          /* incoming QoS 2 ids awaiting PUBREL */
    size_t nrx_qos2, caprx_qos2;

    struct message *will;       /* the current connection's will, or NULL */
    uint64_t offline_since_ms;  /* loop time the last connection ended */

    uint32_t match_gen;         /* worker's de-duplication stamp */
    uint32_t match_slot;        /* index in the worker's hits while matching */
};

/* Looks up a session of w by client id; NULL when none. */
struct session *session_find(struct worker *w, const char *client_id, size_t len);

/* Creates and registers a session (no connection yet). NULL when out of
 * memory. */
struct session *session_create(struct worker *w, const char *client_id, size_t len,
                               const char *username, size_t username_len, bool clean);

/* Unregisters and frees s: subscriptions leave the tree, references are
 * dropped. s must have no connection. */
void session_destroy(struct session *s);

/* Attaches a live connection: resends the inflight window (DUP set, PUBREL
 * for those past PUBREC) and then queued messages. */
void session_attach(struct session *s, struct conn *c);

/*
 * The connection of s has ended. When `send_will`, the will is published.
 * A clean session is destroyed; a persistent one stays offline.
 */
void session_detach(struct session *s, bool send_will);

/* Replaces the will (reference taken over; NULL clears). */
void session_set_will(struct session *s, struct message *will);

/*
 * Subscribes s to filter with QoS in options. Returns 1 new, 0 replaced,
 * or MQ_ENOMEM.
 */
int session_subscribe(struct session *s, const char *filter, size_t len, uint8_t options);

/* MQ_OK or MQ_ENOTFOUND. */
int session_unsubscribe(struct session *s, const char *filter, size_t len);

/*
 * Delivers msg to s at QoS qos (already min(granted, published)). retain is
 * the RETAIN flag to send (true only for retained messages sent on
 * subscription). QoS 0 goes out now or is dropped; QoS 1/2 enters the
 * inflight window or the queue, or is dropped when limits are hit (counted).
 */
void session_deliver(struct session *s, struct message *msg, uint8_t qos, bool retain);

/* Incoming acknowledgements of our outgoing publishes. Unknown ids are
 * ignored. Freed window slots are refilled from the queue. */
void session_on_puback(struct session *s, uint16_t id);
void session_on_pubrec(struct session *s, uint16_t id);
void session_on_pubcomp(struct session *s, uint16_t id);

/* Incoming QoS 2 bookkeeping: returns true when id was already received
 * (a duplicate: do not deliver again); otherwise records it. */
bool session_rx_qos2_seen(struct session *s, uint16_t id);
/* PUBREL: forgets id. */
void session_rx_qos2_release(struct session *s, uint16_t id);

/* Per-second housekeeping on w: expire offline persistent sessions. */
void session_expire(struct worker *w, uint64_t now_ms);

#endif
