/*
 * bench_traffic.h - publishers, flow control and delivery accounting.
 *
 * Every publish carries a small header at the start of its payload:
 *
 *   offset  size  field
 *   0       4     magic: BENCH_PAYLOAD_MAGIC xor this process's pid
 *   4       4     publisher index (into bench_traffic.pubs)
 *   8       8     sequence number of the message within its publisher
 *   16      8     send time, CLOCK_MONOTONIC ns (this process's clock)
 *   24      ...   zero filler up to --size
 *
 * (host byte order: the sender and the receiver are the same process.)
 * A subscriber that receives it knows which publisher and which message
 * it is, hence the latency, and the publisher's window is credited.
 *
 * Chat runs (BENCH_PAYLOAD_TEXT) publish plain UTF-8 text instead, which a
 * chat broker accepts as a message of type text and delivers inside its
 * envelope, {"id":"...","room":"room3","from":"u12","ts":...,
 * "type":"text","text":"<the payload>"} (doc/protocol.md). The same four
 * fields are written as fixed-width lower-case hex, so that no JSON
 * escaping can change them:
 *
 *   "mqb " magic(8) " " publisher(8) " " sequence(16) " " send time(16)
 *
 * (BENCH_TEXT_HEADER = 55 bytes), then '.' filler up to --size. A
 * subscriber finds it again after the envelope's first "text" member
 * (`"text":"`, blanks allowed around the colon); a delivery in which it is
 * not found is counted in not_envelope and otherwise ignored.
 *
 * Flow control: each publisher has a window of `window` messages. A slot is
 * taken when a message is sent and freed when all `fanout` deliveries of it
 * have arrived or are known to be lost. A broker delivers one publisher's
 * messages to one subscription in order, so each subscriber keeps, per
 * publisher it hears from (its "sources"), the next sequence number it
 * expects: a delivery with a higher number proves the ones skipped lost
 * (their slots are credited and the gap counted), a lower one is a
 * duplicate. A slot still open after BENCH_SLOT_TIMEOUT_MS is given up on
 * (a window timeout: a subscriber that is gone or a loss at the very end of
 * the window), so nothing stops a publisher for good. With --rate 0 publishers
 * send whenever a slot is free: that measures the sustained end-to-end
 * throughput, not how fast the broker's queues can grow. With --rate R,
 * sends follow a fixed schedule (publisher after publisher, evenly spread)
 * and a send finding the window full is skipped and counted as throttled.
 */
#ifndef MQCHAT_BENCH_TRAFFIC_H
#define MQCHAT_BENCH_TRAFFIC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench_client.h"
#include "bench_stats.h"

#define BENCH_PAYLOAD_MIN     24u
#define BENCH_TEXT_HEADER     55u /* bytes of the text header, the least a chat payload has */
#define BENCH_PAYLOAD_MAGIC   0x6d716263u
#define BENCH_SLOT_TIMEOUT_MS 5000u
#define BENCH_WARMUP_MAX_MS   2000u

/* How the header is written into each payload, and found in a delivery. */
enum bench_payload {
    BENCH_PAYLOAD_BINARY, /* 24 binary bytes, delivered as sent */
    BENCH_PAYLOAD_TEXT,   /* a line of text, delivered inside a chat envelope */
};

/* One window slot: a message sent and not yet fully delivered. */
struct bench_slot {
    uint64_t seq;     /* the message's sequence number */
    uint64_t sent_ns; /* when it was queued */
    uint32_t left;    /* deliveries still expected */
};

struct bench_pub {
    struct bench_client *client; /* the connection it publishes on; not owned */
    uint8_t *tmpl;               /* the encoded PUBLISH (bench_clients_encode_publish()),
                                    payload header left to fill; owned */
    uint32_t tmpl_len;           /* bytes */
    uint32_t payload_off;        /* offset of the payload in tmpl */
    uint32_t id_off;             /* offset of the packet id in tmpl (QoS 1) */
    uint32_t fanout;             /* deliveries each message should cause */
    uint32_t src;                /* its index among each of its subscribers' sources */
    uint64_t seq;                /* messages sent so far, and the next one's number */
    uint64_t done;               /* every message numbered below it has left the window */
    struct bench_slot *ring;     /* `window` slots, message seq in slot seq % window; owned */
    uint16_t next_id;            /* next QoS 1 packet id (never 0) */
};

struct bench_traffic {
    struct bench_clients *clients; /* not owned */
    struct bench_pub *pubs;        /* n_pubs, owned */
    uint32_t n_pubs;
    uint64_t **expect;  /* per client id: next sequence number expected from each
                           source, NULL for clients that do not subscribe; owned */
    uint32_t *n_expect; /* per client id: sources of that subscriber */
    uint32_t window;    /* messages in flight per publisher, >= 1 */
    uint32_t rate;      /* per publisher, msg/s; 0 = as fast as the window allows */
    uint64_t count;     /* cap on messages in all, 0 = none */
    uint8_t qos;
    enum bench_payload format;
    uint32_t size;            /* payload bytes, >= BENCH_PAYLOAD_MIN (BENCH_TEXT_HEADER for text) */
    uint32_t magic;           /* BENCH_PAYLOAD_MAGIC ^ pid */
    const pid_t *broker_pids; /* sampled for CPU over the publishing time (o->pids) */
    uint32_t n_broker_pids;   /* 0 = none */
    bool quiet;               /* no progress lines */

    uint64_t t0;             /* publishing started, ns */
    uint64_t t_warm;         /* the warm-up is over: rates are measured from here, ns */
    uint64_t t_end;          /* publishing stopped (duration over or count reached), ns */
    uint64_t published_warm; /* published at t_warm */
    uint64_t received_warm;  /* received_in_run at t_warm */
    uint64_t published;
    uint64_t acked;
    uint64_t expected;
    uint64_t received;
    uint64_t received_in_run; /* before t_end */
    uint64_t duplicates;
    uint64_t gaps;         /* deliveries proven lost by a later one */
    uint64_t unexpected;   /* deliveries from a source the subscriber should not hear */
    uint64_t stale;        /* payloads not from this run (ignored) */
    uint64_t not_envelope; /* text format: deliveries without our header in a "text" member */
    uint32_t delivery_b;   /* payload bytes of the first delivery of this run, 0 before */
    uint64_t throttled;
    uint64_t window_timeouts;
    double broker_cpu_pct;               /* over [t0, t_end], when broker_pids are set: their sum */
    double proc_cpu_pct[BENCH_MAX_PIDS]; /* the same, each of broker_pids */
    bool broker_sampled; /* broker_cpu_pct is real: the brokers were there at both ends */
    double bench_cpu_pct;
    struct bench_hist hist; /* delivery latency */
};

/*
 * Prepares t for n_pubs publishers on clients (which must outlive t):
 * QoS, size, rate, count and quietness from o; window as given (>= 1);
 * payloads written in format. Returns MQ_OK, MQ_ENOMEM, or MQ_EINVAL when
 * o->size is below what format needs.
 */
int bench_traffic_init(struct bench_traffic *t, struct bench_clients *clients,
                       const struct bench_opts *o, uint32_t n_pubs, uint32_t window,
                       enum bench_payload format);

/* Frees what t owns. */
void bench_traffic_free(struct bench_traffic *t);

/*
 * Makes publisher i send on client c to topic (NUL-terminated, copied into
 * the encoded template), each message expected to reach `fanout`
 * subscriptions; src is its index in the source list of every subscriber
 * that hears it. Sets c->pub. Returns MQ_OK, MQ_ENOMEM, or MQ_EINVAL for a
 * topic longer than 65535 bytes.
 */
int bench_traffic_add_pub(struct bench_traffic *t, uint32_t i, struct bench_client *c,
                          const char *topic, uint32_t fanout, uint32_t src);

/*
 * Declares client c a subscriber hearing n_sources publishers (numbered by
 * their src). Returns MQ_OK or MQ_ENOMEM.
 */
int bench_traffic_add_sub(struct bench_traffic *t, const struct bench_client *c,
                          uint32_t n_sources);

/*
 * Publishes for duration_s seconds (or until count messages), then waits up
 * to drain_ms for the deliveries and acks still due. Rates are measured
 * after a warm-up of a fifth of the duration (at most BENCH_WARMUP_MAX_MS),
 * so that the time the first messages take to come round (a whole window's
 * latency) does not dilute them. Installs its own
 * callbacks on the clients. Returns MQ_OK, or MQ_EIO when the loop failed.
 */
int bench_traffic_run(struct bench_traffic *t, uint32_t duration_s, uint32_t drain_ms);

#endif
