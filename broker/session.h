/*
 * session.h - MQTT session state of one client id, on its home worker.
 *
 * A session holds what outlives a connection: subscriptions, the outgoing
 * QoS 1/2 window (inflight) and the queue behind it, incoming QoS 2 packet
 * ids awaiting PUBREL, and the will of the current connection. A session
 * with a Session Expiry Interval of 0 (MQTT 3.1.1: clean session) dies with
 * its connection; any other stays (offline, queueing QoS 1/2 messages up to
 * the configured limits) until the client returns or the interval passes
 * (MQTT 3.1.1 persistent sessions: persistent_client_expiration, if set).
 *
 * What is sent to a subscriber for one message is a struct delivery: the
 * granted QoS, the RETAIN flag to send, and the MQTT 5 Subscription
 * Identifiers of the subscriptions it matched.
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

/* Subscription Identifiers kept per delivery (MQTT 5 allows more; a
 * message matching more identified subscriptions carries the first ones). */
#define DELIVERY_MAX_SUBIDS 4

struct delivery {
    uint8_t qos; /* min(granted, published) */
    bool retain; /* the RETAIN flag to send */
    uint8_t nsubids;
    uint32_t subids[DELIVERY_MAX_SUBIDS];
};

struct inflight {
    struct message *msg; /* reference; NULL in INFLIGHT_PUBCOMP */
    uint64_t seq;        /* its row in the database (persist.h); 0 = none */
    uint16_t packet_id;
    uint8_t state; /* enum inflight_state */
    struct delivery d;
};

struct queued {
    struct message *msg; /* reference */
    uint64_t seq;        /* its row in the database (persist.h); 0 = none */
    struct delivery d;   /* d.qos is 1 or 2 */
};

/* Subscription option bits (MQTT 5 section 3.8.3.1; QoS only for 3.1.1). */
#define SUB_OPT_QOS                 0x03
#define SUB_OPT_NO_LOCAL            0x04
#define SUB_OPT_RETAIN_AS_PUBLISHED 0x08
#define SUB_OPT_RETAIN_HANDLING(o)  (((o) >> 4) & 3)

struct subscription {
    char *filter; /* NUL-terminated copy, "$share/..." included */
    uint16_t filter_len;
    uint8_t options;
    uint32_t sub_id; /* MQTT 5 Subscription Identifier, 0 if none */
    bool shared;     /* a $share/ subscription: in the broker's registry, not the tree */
};

#define SESSION_EXPIRY_NEVER 0xFFFFFFFFu

struct session {
    struct worker *w;
    uint64_t uid;    /* unique in this process, never reused */
    char *client_id; /* NUL-terminated, owned; the session table's key */
    uint16_t client_id_len;
    char *username;       /* owned; NULL for anonymous */
    uint8_t role;         /* enum chat_role of the user: set at each CONNECT, persisted
                             with the session and restored with it */
    struct conn *conn;    /* the live connection, or NULL when offline */
    uint32_t expiry_s;    /* Session Expiry Interval: 0 = ends with the connection,
                             SESSION_EXPIRY_NEVER = kept until taken over */
    uint8_t version;      /* protocol level of the last connection */
    bool persisted;       /* mirrored in the database (persist.h) */
    uint64_t persist_seq; /* the last row number given to a message it holds */

    struct subscription *subs;
    size_t nsubs, capsubs;

    struct inflight *inflight; /* at most max_inflight_messages */
    size_t ninflight, capinflight;
    uint16_t next_packet_id;

    struct queued *queue; /* ring buffer of QoS 1/2 deliveries waiting */
    size_t qhead, qlen, qcap;
    uint64_t qbytes; /* payload bytes queued */

    uint16_t *rx_qos2; /* incoming QoS 2 ids awaiting PUBREL */
    size_t nrx_qos2, caprx_qos2;

    struct message *will;      /* the current connection's will, or NULL */
    uint32_t will_delay_s;     /* MQTT 5 Will Delay Interval of that will */
    uint32_t will_expiry_s;    /* its Message Expiry Interval, from publication */
    uint64_t will_due_ms;      /* offline with a delayed will: loop time to send it */
    uint64_t offline_since_ms; /* loop time the last connection ended */

    uint32_t match_gen;  /* worker's de-duplication stamp */
    uint32_t match_slot; /* index in the worker's hits while matching */
};

/* Looks up a session of w by client id; NULL when none. */
struct session *session_find(struct worker *w, const char *client_id, size_t len);

/* Creates and registers a session (no connection yet) with the given
 * Session Expiry Interval. NULL when out of memory. */
struct session *session_create(struct worker *w, const char *client_id, size_t len,
                               const char *username, size_t username_len, uint32_t expiry_s);

/* Unregisters and frees s: subscriptions leave the tree and the shared
 * registry, references are dropped, a pending delayed will is dropped.
 * s must have no connection. The session ends: it leaves the database too.
 * session_free() does the same but keeps the database's copy (shutdown). */
void session_destroy(struct session *s);
void session_free(struct session *s);

/* Start-up (persist.c): puts back a message s held. state 0 = queued,
 * else 1 + enum inflight_state (msg NULL for INFLIGHT_PUBCOMP). Takes a
 * reference of its own. MQ_OK, or MQ_ENOMEM when out of memory or past
 * the queue limits. */
int session_restore_message(struct session *s, struct message *msg, const struct delivery *d,
                            uint8_t state, uint16_t packet_id, uint64_t seq);

/* Attaches a live connection: resends the inflight window (DUP set, PUBREL
 * for those past PUBREC) and then queued messages. */
void session_attach(struct session *s, struct conn *c);

/*
 * The connection of s has ended. When `send_will`, the will is published
 * now, or (MQTT 5 Will Delay Interval, session kept) when the delay passes.
 * A session whose expiry is 0 is destroyed; any other stays offline.
 */
void session_detach(struct session *s, bool send_will);

/* Replaces the will (reference taken over; NULL clears), its delay and its
 * Message Expiry Interval (which starts when it is published); a delayed
 * will still pending from the last connection is dropped. */
void session_set_will(struct session *s, struct message *will, uint32_t delay_s, uint32_t expiry_s);

/* Hands over the will (NULL if none) to be published now, with its expiry
 * counted from now. The caller owns the returned reference. */
struct message *session_take_will(struct session *s);

/*
 * Subscribes s to filter (a "$share/{group}/{filter}" goes to the shared
 * registry) with options and MQTT 5 subscription identifier.
 * Returns 1 new, 0 replaced, MQ_EFULL (session.max_subscriptions reached,
 * or too many shared groups), or MQ_ENOMEM.
 */
int session_subscribe(struct session *s, const char *filter, size_t len, uint8_t options,
                      uint32_t sub_id);

/* MQ_OK or MQ_ENOTFOUND. */
int session_unsubscribe(struct session *s, const char *filter, size_t len);

/*
 * Delivers msg to s as d says. QoS 0 goes out now or is dropped; QoS 1/2
 * enters the inflight window or the queue, or is dropped when limits are
 * hit (counted). Expired messages and topics the ACL hides are skipped.
 */
void session_deliver(struct session *s, struct message *msg, const struct delivery *d);

/* Incoming acknowledgements of our outgoing publishes. Unknown ids are
 * ignored. Freed window slots are refilled from the queue. An MQTT 5
 * PUBREC with a failure reason (>= 0x80) ends that QoS 2 flow. */
void session_on_puback(struct session *s, uint16_t id);
void session_on_pubrec(struct session *s, uint16_t id, uint8_t reason);
void session_on_pubcomp(struct session *s, uint16_t id);

/* Incoming QoS 2 bookkeeping: session_rx_qos2_has() tells whether id was
 * received and delivered already (a resend: do not deliver again);
 * session_rx_qos2_add() records a delivered one (MQ_OK or MQ_ENOMEM). */
bool session_rx_qos2_has(const struct session *s, uint16_t id);
int session_rx_qos2_add(struct session *s, uint16_t id);
/* PUBREL: forgets id. */
void session_rx_qos2_release(struct session *s, uint16_t id);

/* Number of incoming QoS 2 ids awaiting PUBREL. */
size_t session_rx_qos2_count(const struct session *s);

/* Per-second housekeeping on w: publish delayed wills that are due and
 * expire offline sessions (publishing a will still pending). */
void session_expire(struct worker *w, uint64_t now_ms);

#endif
