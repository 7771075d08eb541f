/*
 * bench_conn.h - non-blocking TCP connections on one epoll loop, for the
 * load generator, with TLS, WebSocket or both under MQTT when the loop is
 * given a transport (bench_loop_set_transport(), bench_transport.h).
 *
 * This layer moves bytes and cuts them into MQTT packets with mqtt_frame();
 * it does not know what a packet means (bench_client.c does). It is built
 * to stay cheap while the broker under test shares the CPU:
 *   - edge-triggered epoll, registered once per socket: no epoll_ctl per
 *     write;
 *   - reads go into one large scratch buffer owned by the loop; a
 *     connection keeps only the tail of a packet cut by a read (so 20000
 *     idle connections cost almost nothing here);
 *   - writes are appended to the connection's out buffer and sent by
 *     bench_loop_flush(), once per loop turn, with one write() per dirty
 *     connection;
 *   - a plain TCP connection has no transport: its bytes take the path
 *     above and nothing more. With a transport, the out buffer still holds
 *     MQTT bytes; the flush turns all of them into wire bytes at once (one
 *     WebSocket frame, TLS records) and sends those; reads are turned back
 *     into MQTT bytes in the scratch buffer, in place, before framing.
 * Single-threaded: a loop and its connections belong to one thread.
 */
#ifndef MQCHAT_BENCH_CONN_H
#define MQCHAT_BENCH_CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_transport.h"
#include "mqtt_codec.h"

struct bench_loop;

struct bench_conn {
    int fd;                  /* -1 when not open */
    struct bench_loop *loop; /* set by bench_conn_open() */
    uint8_t *out;            /* unsent bytes are out[out_off..out_len) */
    size_t out_off;
    size_t out_len;
    size_t out_cap;  /* bytes allocated at out */
    uint8_t *in;     /* the start of a packet cut by the last read */
    uint32_t in_len; /* bytes at in */
    uint32_t in_cap; /* bytes allocated at in */
    bool connected;  /* the TCP handshake has completed */
    bool blocked;    /* the last write hit EAGAIN: wait for EPOLLOUT */
    bool dirty;      /* on the loop's dirty list (has output to flush) */
    bool more;       /* on the loop's more list (reads were cut short) */
    bool hup;        /* the peer shut down its side: read until EOF, as a short
                        read no longer means that nothing is left */
    struct bench_conn *next_dirty;
    struct bench_conn *next_more;
    struct bench_tp *tp; /* the TLS / WebSocket layers, owned; NULL for TCP (and when
                            closed). MQTT output waits in out until bench_tp_ready() */
};

/* Called for each whole packet read; f points into memory valid only during
 * the call. now_ns is CLOCK_MONOTONIC, taken right after the read. */
typedef void (*bench_packet_fn)(void *ctx, struct bench_conn *c, const struct mqtt_frame *f,
                                uint64_t now_ns);
/* Called once when a connection fails or the peer closes it (err is an
 * errno value, 0 for an orderly close, or EPROTO for bytes that do not
 * frame or a transport that failed). The connection is already closed; its
 * loop's `why` then says what its transport saw ("" when nothing: TCP, or
 * a plain socket error). Neither callback may reopen a connection while the
 * loop is dispatching (do it after bench_loop_poll()). */
typedef void (*bench_close_fn)(void *ctx, struct bench_conn *c, int err);

struct bench_loop {
    int epfd;
    struct sockaddr_in addr;  /* the broker */
    struct sockaddr_in addr2; /* a second broker (bench_loop_set_second()) */
    bool has_addr2;           /* addr2 is set */
    uint8_t *scratch;         /* read buffer shared by all connections */
    size_t scratch_cap;       /* bytes at scratch: >= 2 * max_packet */
    uint32_t max_packet;      /* largest packet accepted from the broker, bytes */
    struct bench_tp_ctx tp;   /* the transport of every connection; kind BENCH_TP_TCP
                                 (the default) for none */
    char why[160];            /* during on_close: the closed connection's transport's
                                 reason, "" when it has none */
    struct bench_conn *dirty; /* connections with output to flush */
    struct bench_conn *more;  /* connections whose reads were cut short for fairness */
    bench_packet_fn on_packet;
    bench_close_fn on_close;
    void *ctx;         /* passed to the callbacks */
    uint32_t n_open;   /* connections open on this loop */
    uint64_t bytes_in; /* totals, for the report */
    uint64_t bytes_out;
    uint64_t n_reads;
    uint64_t n_writes;
};

/*
 * Prepares a loop for connections to host:port (an IPv4 address) taking
 * packets of up to max_packet bytes. Returns MQ_OK; MQ_EINVAL for a bad
 * address; MQ_ENOMEM; MQ_EIO when epoll_create1() fails. The callbacks are
 * set by the caller afterwards.
 */
int bench_loop_init(struct bench_loop *l, const char *host, uint16_t port, uint32_t max_packet);

/*
 * Gives the loop a second broker, host:port (an IPv4 address), for the
 * connections opened with `second` set (another node of a cluster).
 * Returns MQ_OK or MQ_EINVAL for a bad address.
 */
int bench_loop_set_second(struct bench_loop *l, const char *host, uint16_t port);

/*
 * Puts every connection the loop opens from now on over `kind` (tcp: none),
 * asking for ws_path in WebSocket upgrades (NULL: "/mqtt"; must outlive the
 * loop). Returns MQ_OK, or MQ_EIO when OpenSSL fails (the loop keeps TCP).
 */
int bench_loop_set_transport(struct bench_loop *l, enum bench_transport kind, const char *ws_path);

/* Frees the loop; its connections must have been closed first. */
void bench_loop_free(struct bench_loop *l);

/* Returns CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/*
 * Starts a non-blocking connect of c (zeroed or closed before) to the loop's
 * broker, or to its second broker when `second` is set and the loop has one.
 * Bytes may be queued with bench_conn_send() at once: they go out when the
 * connection completes. Returns MQ_OK or MQ_EIO (errno is kept); on error c
 * stays closed and no callback is made.
 */
int bench_conn_open(struct bench_loop *l, struct bench_conn *c, bool second);

/*
 * Returns a pointer to n bytes at the end of c's out buffer, for the caller
 * to fill and then pass to bench_conn_commit(). NULL when memory runs out.
 * The pointer is valid until the next call on c.
 */
uint8_t *bench_conn_reserve(struct bench_conn *c, size_t n);

/* Queues the n bytes filled after bench_conn_reserve() for the next flush. */
void bench_conn_commit(struct bench_conn *c, size_t n);

/* Copies n bytes into c's out buffer. Returns MQ_OK or MQ_ENOMEM. */
int bench_conn_send(struct bench_conn *c, const void *buf, size_t n);

/* Bytes queued on c and not yet accepted by the kernel (with a transport:
 * MQTT bytes not yet encoded plus wire bytes not yet sent). */
size_t bench_conn_pending(const struct bench_conn *c);

/* Queues c's transport's closing words (a WebSocket close frame, a TLS
 * close_notify) after what c has queued, for the next flush. Nothing for
 * TCP or a connection not open. */
void bench_conn_goodbye(struct bench_conn *c);

/* Closes c's socket and frees its buffers, without a callback. A closed
 * connection may be closed again. */
void bench_conn_close(struct bench_conn *c);

/* Writes the output of every dirty connection: one write() each. */
void bench_loop_flush(struct bench_loop *l);

/*
 * Waits up to timeout_ms (0: do not wait; shortened when reads are pending)
 * for socket events, reads and frames what arrived, calling on_packet and
 * on_close, then flushes. Returns the number of connections served, or
 * MQ_EIO when epoll_wait() fails for a reason other than EINTR.
 */
int bench_loop_poll(struct bench_loop *l, int timeout_ms);

#endif
