/*
 * bench_transport.h - TLS, WebSocket and secure WebSocket under the load
 * generator's connections (--transport tls|ws|wss).
 *
 * A transport sits between a connection's socket and its MQTT bytes, on the
 * client side: bench_conn.c reads the socket and gives the wire bytes to
 * bench_tp_input(), which turns them, in the same buffer, into the MQTT
 * bytes they carry; output stays MQTT bytes in the connection's out buffer
 * until the flush, when bench_tp_output() turns all of it into wire bytes
 * (one WebSocket frame, TLS records) kept in the transport until sent.
 * A plain TCP connection has no transport at all and takes none of these
 * paths.
 *
 * What it is:
 *   - TLS: OpenSSL on memory BIOs (the socket stays bench_conn.c's, so the
 *     handshake runs inside the epoll loop and never blocks), TLS 1.2 or
 *     1.3, and NO certificate verification: it measures brokers on the
 *     loopback interface with a throwaway self-signed certificate.
 *   - WebSocket (RFC 6455), client side: the HTTP/1.1 upgrade (a random
 *     Sec-WebSocket-Key, Sec-WebSocket-Protocol: mqtt; the answer must be
 *     101 with the matching Sec-WebSocket-Accept, Upgrade: websocket and the
 *     mqtt protocol), binary frames out, masked with a fresh mask per frame,
 *     one frame per flush (split at BENCH_TP_FRAME_MAX); frames in parsed as
 *     a stream: binary and continuation payloads go to the MQTT decoder as
 *     they arrive (a frame may hold several packets or part of one), a ping
 *     is answered with a pong, a close with a close.
 *   - Secure WebSocket: TLS, then the WebSocket upgrade inside it.
 * What it is not: a general client. No proxies, no redirects, no extensions
 * (permessage-deflate is never offered), no text frames (MQTT is binary: a
 * text frame from the broker is a protocol error), no certificate checks.
 * The masks come from a fast generator seeded from OpenSSL's RAND_bytes():
 * unpredictable enough for a load generator, not for a browser.
 *
 * Single-threaded, like the loop that owns it.
 */
#ifndef MQCHAT_BENCH_TRANSPORT_H
#define MQCHAT_BENCH_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bench_transport {
    BENCH_TP_TCP, /* MQTT on the socket: no transport object */
    BENCH_TP_TLS, /* MQTT in TLS */
    BENCH_TP_WS,  /* MQTT in WebSocket binary frames */
    BENCH_TP_WSS, /* MQTT in WebSocket frames in TLS */
};

/* Room past the wire bytes given to bench_tp_input() that the MQTT bytes
 * may need: TLS may hand out, with this input, the plaintext of a record
 * whose first bytes came with an earlier one (a record is at most 16 KiB of
 * plaintext and 18 KiB of ciphertext). */
#define BENCH_TP_SLACK (32u * 1024u)

/* Largest WebSocket payload the load generator sends in one frame; a flush
 * holding more goes out as several frames (each a whole binary message). */
#define BENCH_TP_FRAME_MAX 65536u

/* What every connection of a loop shares. */
struct bench_tp_ctx {
    enum bench_transport kind;
    struct ssl_ctx_st *ssl_ctx; /* tls, wss: the client context; NULL otherwise */
    const char *ws_path;        /* ws, wss: the path asked for in the upgrade,
                                   starting with '/'; not owned (argv) */
    uint64_t rng;               /* state of the mask generator (xorshift64*), never 0 */
    char negotiated[64];        /* tls, wss: "TLSv1.3 TLS_AES_256_GCM_SHA384", the version
                                   and cipher of the first finished handshake; "" before */
};

/* One connection's transport: opaque. */
struct bench_tp;

/* "tcp", "tls", "ws" or "wss". */
const char *bench_tp_name(enum bench_transport kind);

/* Parses "tcp", "tls", "ws" or "wss" into *kind. Returns MQ_OK or
 * MQ_EINVAL (and *kind is unchanged). */
int bench_tp_parse(const char *name, enum bench_transport *kind);

/*
 * Prepares x for connections of the given kind; ws_path (ws, wss; NULL
 * means "/mqtt") must outlive x. Returns MQ_OK, or MQ_EIO when OpenSSL
 * cannot make a context or random bytes (x then owns nothing).
 */
int bench_tp_ctx_init(struct bench_tp_ctx *x, enum bench_transport kind, const char *ws_path);

/* Frees what x owns; its transports must have been freed first. */
void bench_tp_ctx_free(struct bench_tp_ctx *x);

/*
 * A transport of x's kind (not tcp) for a connection to host:port (what the
 * WebSocket upgrade names in its Host header), with its first wire bytes
 * (the TLS ClientHello, or the upgrade request) already waiting in
 * bench_tp_wire(). NULL when memory or OpenSSL runs out. Freed with
 * bench_tp_free().
 */
struct bench_tp *bench_tp_new(struct bench_tp_ctx *x, const char *host, uint16_t port);

/* Frees t (NULL is fine). Sends nothing: see bench_tp_goodbye(). */
void bench_tp_free(struct bench_tp *t);

/*
 * Takes buf[0..n), n wire bytes read from the socket, and leaves in
 * buf[0..*out_len) the MQTT bytes they carry (possibly none, possibly a
 * packet's middle). cap, the bytes available at buf, must be at least
 * n + BENCH_TP_SLACK. What the transport owes the broker in return (the
 * rest of the TLS handshake, a pong, a close frame) is added to the wire
 * bytes. Returns MQ_OK (also when the broker closed: see bench_tp_closed();
 * the bytes before the close are in buf), MQ_EPROTOCOL (a failed handshake
 * or upgrade, or a frame that breaks RFC 6455), MQ_ENOMEM or MQ_EIO (an
 * OpenSSL failure); bench_tp_why() then says what happened and t takes no
 * more input.
 */
int bench_tp_input(struct bench_tp *t, uint8_t *buf, size_t n, size_t cap, size_t *out_len);

/* True once MQTT bytes may be sent: the TLS handshake and the WebSocket
 * upgrade are done, and neither side has closed. Until then the caller
 * keeps its MQTT output queued. */
bool bench_tp_ready(const struct bench_tp *t);

/* True once the broker closed the transport in order (a WebSocket close
 * frame, a TLS close_notify): send the wire bytes left (the close answer)
 * and close the socket. bench_tp_why() says how it closed. */
bool bench_tp_closed(const struct bench_tp *t);

/*
 * Appends data[0..n), MQTT bytes, to the wire bytes: as one WebSocket frame
 * per BENCH_TP_FRAME_MAX bytes, in TLS records, or both. Only when
 * bench_tp_ready(). Returns MQ_OK, MQ_ENOMEM or MQ_EIO (OpenSSL failed);
 * on error the wire bytes may hold part of it: close the connection.
 */
int bench_tp_output(struct bench_tp *t, const uint8_t *data, size_t n);

/* Appends the transport's closing words to the wire bytes, once: a
 * WebSocket close frame (1000) and a TLS close_notify, those that apply to
 * a transport still open. Out of memory it leaves them out. */
void bench_tp_goodbye(struct bench_tp *t);

/* The wire bytes waiting to be sent: *n of them at the returned pointer,
 * valid until the next call on t. */
const uint8_t *bench_tp_wire(const struct bench_tp *t, size_t *n);

/* Marks the first n wire bytes as sent. */
void bench_tp_consumed(struct bench_tp *t, size_t n);

/* Why the transport failed or closed, "" while it did neither. Valid as
 * long as t. */
const char *bench_tp_why(const struct bench_tp *t);

/* What t is waiting for before MQTT may flow, for messages: "TLS
 * handshake" or "WebSocket upgrade"; NULL once it is past both. */
const char *bench_tp_stage(const struct bench_tp *t);

#endif
