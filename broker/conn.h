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
 * A TLS or WebSocket connection has a link (link.h): what is read goes
 * through link_read() first and only the MQTT bytes it yields are framed;
 * the out buffer holds MQTT bytes until conn_flush() turns all of it into
 * wire bytes with link_write(), just before the write. Once the link is
 * finished (a refused upgrade, a close frame, a failed handshake) the
 * connection is closed as soon as what the link owes is written.
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
struct strmap;
struct ack_queue;
struct link;
struct work_adopt;

enum conn_state {
    CONN_NEW,     /* waiting for CONNECT */
    CONN_ACTIVE,  /* CONNECT accepted, attached to a session */
    CONN_HANDOFF, /* given to another worker: read no further */
    CONN_CLOSED,  /* closing; freed at the end of this loop turn */
};

struct conn {
    uv_tcp_t tcp; /* tcp.data == this conn */
    struct worker *w;
    struct link *link;        /* TLS and/or WebSocket layers (link.h); NULL = plain TCP */
    struct session *s;        /* NULL until CONNECT is accepted */
    struct conn *prev, *next; /* worker's list of live connections */
    struct conn *dirty_next;  /* worker's dirty list; valid while dirty */

    uint8_t *in; /* unframed tail of input (malloc'd), or NULL */
    uint32_t in_len, in_cap;

    uint8_t *out; /* output not yet handed to the kernel (malloc'd) */
    size_t out_len, out_cap;
    uint8_t *writing;   /* buffer owned by a pending uv_write, or NULL */
    size_t writing_len; /* bytes in that pending write */
    uv_write_t write_req;

    uint64_t serial;        /* unique among w's connections, never reused */
    struct ack_queue *acks; /* PUBACK/PUBREC waiting behind held ones (ackhold.h),
                               or NULL */
    uint64_t last_in_ms;    /* loop time of the last packet received */
    uint64_t opened_ms;     /* loop time the connection was adopted, or its link
                               became ready: the 10 s for CONNECT run from it */
    uint16_t keepalive;     /* seconds, from CONNECT; 0 = none */
    uint8_t version;        /* enum mqtt_version, from CONNECT */
    uint8_t state;          /* enum conn_state */
    bool dirty;
    bool link_was_ready; /* the link's handshakes were seen done */
    bool disconnect_sent;                  /* a DISCONNECT was received: no will */
    bool read_paused;                      /* input stopped: too many acknowledgements held, or a
                                              password being checked */
    struct password_check *password_check; /* the CONNECT's password being checked
                             off the loop (handle_connect.c), or NULL */
    uint8_t login_verdict;                 /* that check's answer for the CONNECT replayed after
                                              it: 0 none, 1 the password matched, 2 it did not */
    uint8_t login_role;                    /* with verdict 1: the user's enum chat_role */
    bool chat_live;                        /* counted online by presence (chat_live.h):
                                              chat_conn_down() is due when it closes */
    uint8_t history_pending;               /* history requests over MQTT not answered yet */
    const char *doomed;                    /* why the conn must close at turn end (slow reader,
                                              no memory): set by conn_reserve, which never closes
                                              synchronously so that callers' sessions stay valid */

    /* MQTT 5 only (all zero for 3.1/3.1.1). */
    uint8_t close_reason;     /* DISCONNECT reason a handler wants sent when it
                                 returns an error; 0 = derive from the error */
    bool problem_info;        /* Request Problem Information: reason strings allowed */
    uint16_t receive_max;     /* the client's Receive Maximum (65535 if absent) */
    uint32_t max_packet_out;  /* the client's Maximum Packet Size; 0 = no limit */
    uint16_t alias_max_out;   /* the client's Topic Alias Maximum: aliases we may assign */
    uint16_t alias_next_out;  /* aliases assigned so far */
    struct strmap *alias_out; /* topic -> struct out_alias *, NULL until first use */
    char **alias_in;          /* alias (1..max_topic_alias) -> topic, NULL until used */
};

/*
 * Serves a->fd on worker w, through a->link (a hand-off) or new layers for
 * a->kind. a->bytes[0..len), MQTT bytes another worker already read, are
 * processed first. The conn takes over the fd, the link and the bytes.
 * MQ_OK, or an error after closing and freeing them.
 */
int conn_adopt(struct worker *w, struct work_adopt *a);

/*
 * Processes bytes[0..len) (malloc'd; the conn takes them) as if they had
 * just been read, in place of any unframed input it held: the bytes of a
 * CONNECT set aside while its password was checked, and what followed.
 */
void conn_replay(struct conn *c, uint8_t *bytes, size_t len);

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

/* Stops or restarts reading c's socket (back-pressure: packets already
 * read are still handled). Idempotent. Restarting may close c (never
 * call it with pause false while c's input is being processed). */
void conn_pause_reading(struct conn *c, bool pause);

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
 * For an MQTT 5 connection past CONNECT: sends DISCONNECT with `reason`
 * (and, when the client allows, its reason string) first; then as
 * conn_close(). For other connections it is conn_close().
 */
void conn_disconnect(struct conn *c, uint8_t reason, const char *why);

/*
 * Gives c's socket and the unprocessed input starting at `from` (a pointer
 * into the current input) to worker dest, then closes c here without
 * touching the socket.
 */
void conn_handoff(struct conn *c, unsigned dest, const uint8_t *from, size_t len);

/* Closes every connection of w (shutdown: MQTT 5 clients get 0x8B). */
void conn_close_all(struct worker *w);

/*
 * MQTT 5 topic aliases of one connection.
 * conn_alias_out(): the alias to send topic under. Returns 0 when none may
 * be used (the client allows none, or all are taken by other topics);
 * otherwise the alias, with *fresh true when it was assigned just now (the
 * PUBLISH must then carry the topic name too). conn_alias_out_forget()
 * takes back a fresh alias whose PUBLISH was not sent after all.
 * conn_alias_in_set() records the client's alias (1..max_topic_alias) for
 * topic (MQ_OK, MQ_ENOMEM); conn_alias_in_get() returns it or NULL.
 */
uint16_t conn_alias_out(struct conn *c, const char *topic, size_t len, bool *fresh);
void conn_alias_out_forget(struct conn *c, const char *topic, size_t len);
int conn_alias_in_set(struct conn *c, uint16_t alias, const char *topic, size_t len);
const char *conn_alias_in_get(const struct conn *c, uint16_t alias);

#endif
