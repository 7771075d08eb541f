/*
 * link.h - the layers between a connection's socket and MQTT: none (TCP),
 * TLS, WebSocket, or TLS then WebSocket (doc/transports.md).
 *
 * conn.c reads the socket itself and, when the connection has a link, hands
 * the raw bytes to link_read(), which appends the MQTT bytes they carry to
 * a buffer of the caller's. Output stays MQTT bytes in the connection's out
 * buffer until the worker flushes it; link_write() then turns the whole
 * buffer (and whatever the layers owe the peer: a TLS handshake record, a
 * WebSocket upgrade answer, a pong, a close frame) into wire bytes, once
 * per flush. A plain TCP connection has no link at all.
 *
 * A link belongs to one connection, on one thread at a time; it moves to
 * another worker with its connection (conn_handoff). The layers keep no
 * pointer to the connection or the worker.
 *
 * Protocol failures are not errors of these functions: the layer that saw
 * one stops taking input and link_finished() says why; the caller writes
 * what the link still owes (link_write with no input), then closes.
 */
#ifndef MQCHAT_LINK_H
#define MQCHAT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytebuf.h"

struct broker;

enum link_kind {
    LINK_TCP, /* no layers: conn.c never makes a link for it */
    LINK_TLS,
    LINK_WS,
    LINK_WSS, /* TLS, then WebSocket inside it */
};

/* Why the broker says goodbye, for the layers' closing words. */
enum link_bye {
    LINK_BYE_NORMAL,   /* WebSocket close 1000 */
    LINK_BYE_SHUTDOWN, /* the broker is stopping: WebSocket close 1001 */
};

/*
 * One layer. "Below" is towards the socket, "above" towards MQTT. A layer
 * is its own state (void *), made by its module (tls.h, ws.h).
 */
struct link_layer_ops {
    const char *name; /* "tls", "ws": for logs */
    /* Takes in[0..len) from below and appends what it carries for the layer
     * above to `up`. Bytes it owes the peer in return are kept for write.
     * MQ_OK, or MQ_ENOMEM. */
    int (*read)(void *layer, const uint8_t *in, size_t len, struct bytebuf *up);
    /* Appends to `down` what the layer owes the peer, then in[0..len)
     * (len may be 0) encoded for below. Input before the layer is open, or
     * after it finished, is dropped. MQ_OK, or MQ_ENOMEM. */
    int (*write)(void *layer, const uint8_t *in, size_t len, struct bytebuf *down);
    /* Appends the layer's closing words (a close frame, a close_notify
     * alert) to `down`, once; nothing after it finished. MQ_OK or MQ_ENOMEM. */
    int (*goodbye)(void *layer, enum link_bye why, struct bytebuf *down);
    bool (*open)(const void *layer);         /* its handshake is done */
    size_t (*owes)(const void *layer);       /* bytes write has for the peer (about:
                                                framing counted roughly), 0 = none */
    const char *(*finished)(const void *layer); /* why the connection must close
                                                  once what is owed is sent; NULL */
    void (*free)(void *layer);
};

struct link;

/*
 * A link of `kind` (not LINK_TCP) for a connection just accepted: TLS
 * layers take b's current certificate (tls.h). NULL when out of memory or
 * when TLS is not configured.
 */
struct link *link_new(struct broker *b, enum link_kind kind);

void link_free(struct link *l);

enum link_kind link_kind(const struct link *l);

/* "tls", "ws", "wss". */
const char *link_kind_name(enum link_kind kind);

/* Raw bytes read from the socket: the MQTT bytes they carry are appended
 * to app. MQ_OK or MQ_ENOMEM. */
int link_read(struct link *l, const uint8_t *raw, size_t len, struct bytebuf *app);

/* MQTT bytes app[0..len) (len may be 0) and everything the layers owe,
 * as wire bytes appended to `wire`. MQ_OK or MQ_ENOMEM. */
int link_write(struct link *l, const uint8_t *app, size_t len, struct bytebuf *wire);

/* The layers' closing words, top layer first, appended to `wire`. */
int link_goodbye(struct link *l, enum link_bye why, struct bytebuf *wire);

/* Every layer's handshake is done: MQTT may flow. */
bool link_ready(const struct link *l);

/* Bytes the layers have for the peer (about), beyond the MQTT output;
 * not 0: the connection must be flushed. They count towards
 * conn.out_hard_bytes, so that a peer that sends pings (or TLS key
 * updates) and reads nothing cannot grow them without bound. */
size_t link_owes(const struct link *l);

/* Why the connection must close once what is owed is written, or NULL. */
const char *link_finished(const struct link *l);

#endif
