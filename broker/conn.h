/*
 * conn.h - one network connection: bytes in, packets out.
 *
 * conn.c reads from the socket into the worker's shared read buffer, frames
 * packets with the codec and passes each to protocol_handle_packet(); it
 * keeps only the tail of a packet that has not fully arrived. Output is
 * appended to the connection's out buffer and the connection is marked
 * dirty; the worker flushes every dirty connection once per loop turn with
 * a single write (conn_flush). A write the kernel cannot take at once moves
 * the unsent bytes to a pending uv_write and later output accumulates
 * behind it.
 *
 * A conn is owned by its worker. conn_close() starts closing it; the memory
 * is freed by libuv's close callback, later in the same loop turn, so a
 * conn pointer stays valid (state CONN_CLOSED) until the turn ends.
 */
#ifndef MQCHAT_CONN_H
#define MQCHAT_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct worker;
struct session;

enum conn_state {
    CONN_NEW,      /* waiting for CONNECT */
    CONN_ACTIVE,   /* CONNECT accepted, attached to a session */
    CONN_HANDOFF,  /* given to another worker: read no further */
    CONN_CLOSED,   /* closing; freed at the end of this loop turn */
};

struct conn {
    uv_tcp_t tcp;              /* tcp.data == this conn */
    struct worker *w;
    struct session *s;         /* NULL until CONNECT is accepted */
    struct conn *prev, *next;  /* worker's list of live connections */
    struct conn *dirty_next;   /* worker's dirty list; valid while dirty */

    uint8_t *in;               /* unframed tail of input (malloc'd), or NULL */
    uint32_t in_len, in_cap;

    uint8_t *out;              /* output not yet handed to the kernel (malloc'd) */
    size_t out_len, out_cap;
    uint8_t *writing;          /* buffer owned by a pending uv_write, or NULL */
    size_t writing_len;        /* bytes in that pending write */
    uv_write_t write_req;

    uint64_t last_in_ms;       /* loop time of the last packet received */
    uint64_t opened_ms;        /* loop time the connection was adopted */
    uint16_t keepalive;        /* seconds, from CONNECT; 0 = none */
    uint8_t version;           /* enum mqtt_version, from CONNECT */
    uint8_t state;             /* enum conn_state */
    bool dirty;
    bool disconnect_sent;      /* a DISCONNECT was received: no will */
    const char *doomed;        /* why the conn must close at turn end (slow reader,
                                  no memory): set by conn_reserve, which never closes
                                  synchronously so that callers' sessions stay valid */
};

/*
 * Serves fd on worker w. bytes[0..len) were already read from the socket by
 * another worker (a hand-off) and are processed first; the conn takes
 * ownership of bytes. MQ_OK, or an error after closing fd and freeing bytes.
 */
int conn_adopt(struct worker *w, int fd, uint8_t *bytes, uint32_t len);

/*
 * Reserves n bytes at the end of c's output and returns where to write
 * them, marking c dirty; NULL when the connection is closed or doomed, when
 * out of memory, or when the unsent output would pass conn.out_hard_bytes.
 * In the last two cases the connection is doomed: it is closed at the end
 * of the loop turn, never inside this call.
 */
uint8_t *conn_reserve(struct conn *c, size_t n);

/* Copies n bytes to c's output (conn_reserve + memcpy). MQ_OK or an error. */
int conn_send(struct conn *c, const void *bytes, size_t n);

/* Unsent output in bytes (pending write included). */
size_t conn_backlog(const struct conn *c);

/* Writes what is buffered (called by the worker at turn end). */
void conn_flush(struct conn *c);

/*
 * Closes c: best-effort write of buffered output, socket closed, session
 * detached (the session decides about its will and its own life). `why`
 * goes to the debug log. Idempotent.
 */
void conn_close(struct conn *c, const char *why);

/*
 * Gives c's socket and the unprocessed input starting at `from` (a pointer
 * into the current input) to worker dest, then closes c here without
 * touching the socket.
 */
void conn_handoff(struct conn *c, unsigned dest, const uint8_t *from, size_t len);

/* Closes every connection of w (shutdown). */
void conn_close_all(struct worker *w);

#endif
