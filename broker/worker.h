/*
 * worker.h - one worker thread: a libuv loop, its connections, its sessions
 * and its subscription tree.
 *
 * Shared nothing: a connection, once its CONNECT named a client id, lives on
 * that client id's home worker (strmap_hash(id) % nworkers) for the rest of
 * its life, together with the session, so session take-over and resumption
 * never cross threads. Other threads talk to a worker only through its
 * inbox: a mutex-guarded array that the worker swaps out and drains in one
 * go after a uv_async wake-up (wake-ups coalesce; producers batch).
 *
 * Per loop turn, after all I/O callbacks have run (a uv_check handle), the
 * worker: flushes every dirty connection with one write each; hands the
 * messages its clients published to the other workers (one inbox lock per
 * destination per turn); and publishes its statistics.
 *
 * Everything in struct worker is touched by the worker's thread only, except
 * the inbox (under its lock) and stats (atomics).
 */
#ifndef MQCHAT_WORKER_H
#define MQCHAT_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "broker.h"
#include "bytebuf.h"
#include "link.h"
#include "session.h"
#include "strmap.h"

struct conn;
struct session;
struct store_job;
struct topic_tree;

enum work_kind {
    WORK_DELIVER,        /* msg: deliver to local subscribers (reference passed) */
    WORK_DELIVER_SHARED, /* shared: deliver msg to one session (a shared
                            subscription's picked member) */
    WORK_ADOPT,          /* fd (+ its link, + MQTT bytes already read): a connection to
                            serve here */
    WORK_RELOAD,         /* auth: a new snapshot (reference passed) */
    WORK_WILLS,          /* shutdown phase 1: publish the wills of live clients */
    WORK_STOP,           /* shutdown phase 2: flush, close everything, leave the loop */
    WORK_ACK,            /* msg: its held acknowledgement is due (ackhold.h; reference passed) */
    WORK_STORE_DONE,     /* store_job: a store query finished; run its `done` here */
};

/* A connection for a worker to serve (WORK_ADOPT); the item owns all of it. */
struct work_adopt {
    int fd;
    enum link_kind kind; /* the listener's transport */
    struct link *link;   /* the layers of a connection handed over by another worker;
                            NULL = make them for `kind` */
    uint8_t *bytes;      /* malloc'd MQTT bytes read by another worker, or NULL */
    uint32_t len;
};

struct work {
    enum work_kind kind;
    union {
        struct message *msg;
        struct auth_snapshot *auth;
        struct store_job *store_job;
        struct work_adopt adopt;
        struct {
            struct message *msg;  /* reference passed */
            char *client_id;      /* owned */
            uint64_t session_uid; /* the member; another session with the
                                     same client id does not get it */
            uint8_t options;
            uint32_t sub_id;
        } shared;
    } u;
};

/* A growable array of work items. */
struct work_list {
    struct work *items;
    size_t n, cap;
};

/* A session reached by one message, with what its matching subscriptions
 * add up to: the best QoS, Retain As Published if any asked for it, their
 * Subscription Identifiers (de-duplication while matching). */
struct delivery_hit {
    struct session *s;
    struct delivery d;
};

/* The PUBLISH packet of the message being fanned out, encoded once per
 * (message, QoS, retain) and copied to each subscriber with only the packet
 * id patched. */
struct encode_cache {
    struct message *msg; /* holds a reference; NULL when empty */
    bool v5;             /* the MQTT 5 form (else 3.1/3.1.1, which are alike) */
    uint8_t qos;
    bool retain;
    uint8_t *bytes;
    size_t len, cap;
    size_t id_offset;
};

struct worker {
    struct broker *b;
    unsigned index; /* 0 .. nworkers-1 */
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wake;         /* inbox has work */
    uv_check_t turn_end;     /* flush, hand off, publish stats */
    uv_timer_t tick;         /* keepalive and session expiry, every second */
    uv_timer_t will_timer;   /* the next delayed will (MQTT 5), to the millisecond */
    uint64_t will_timer_due; /* loop time it fires; 0 = not armed */

    pthread_mutex_t inbox_lock;
    struct work_list inbox;    /* under inbox_lock */
    bool inbox_closed;         /* under inbox_lock: the worker stopped taking work */
    struct work_list draining; /* the swapped-out inbox being processed */
    struct work_list *outbox;  /* per destination worker: work to post at turn end */

    struct topic_tree *tree;    /* subscriptions of this worker's sessions */
    struct strmap sessions;     /* client id -> struct session * */
    struct auth_snapshot *auth; /* this worker's reference */

    struct conn *conns; /* every live connection (doubly linked) */
    struct conn *dirty; /* connections with output to flush this turn */

    uint8_t *read_buf;     /* READ_BUF_SIZE bytes lent to every read: reads on one
                              loop never overlap */
    struct bytebuf link_app; /* the MQTT bytes of one read on a TLS or WebSocket
                                connection (link.h), lent the same way */

    uint32_t match_gen;        /* generation stamp for de-duplication */
    struct delivery_hit *hits; /* reused per fan-out */
    size_t nhits, caphits;
    struct encode_cache enc;

    uint64_t auto_id_counter; /* for assigned client ids */
    uint64_t conn_serial;     /* the last serial given to a connection of this worker */
    bool stopping;
    bool wills_pending; /* wills routed this turn: report at turn end */

    /* Plain counters bumped on the hot path, published into stats at turn end. */
    struct {
        uint64_t msgs_received, msgs_sent, bytes_received, bytes_sent, msgs_dropped;
        uint64_t clients_connected, clients_total, subscriptions, inflight, queued;
    } count;
    struct worker_stats stats;
};

#define READ_BUF_SIZE (64 * 1024)

/* Creates worker `index` of b (loop and handles ready, thread not started).
 * NULL when out of memory or when libuv refuses. */
struct worker *worker_new(struct broker *b, unsigned index, struct auth_snapshot *auth);

/* Starts the worker's thread. MQ_OK or MQ_EIO. */
int worker_start(struct worker *w);

/* Waits for the thread to leave its loop. */
void worker_join(struct worker *w);

/* Discards the work a joined worker was never given to do (references
 * dropped, ack holds released). Call it for every worker before freeing
 * any: a release may post to another worker. */
void worker_drop_work(struct worker *w);

/* Frees a joined worker. Join every worker before freeing any: a running
 * worker may still post to the others. */
void worker_free(struct worker *w);

/*
 * Posts one item to w's inbox from any thread and wakes it. Ownership of the
 * item's references passes to w. MQ_OK, or MQ_ENOMEM or MQ_EIO (the worker
 * has stopped) with nothing passed: the caller still owns the references.
 */
int worker_post(struct worker *w, const struct work *item);

/* From w's own thread: queue an item for worker `dest`, posted at turn end. */
int worker_post_later(struct worker *w, unsigned dest, const struct work *item);

/* Makes w run session_expire() at loop time due_ms (or earlier, if it is
 * already due to run earlier). */
void worker_wake_at(struct worker *w, uint64_t due_ms);

/* Publishes w's counters into w->stats (the worker does it every loop
 * turn; start-up calls it once after restoring sessions, before the
 * thread runs, so that the router sees the restored subscriptions). */
void worker_publish_stats(struct worker *w);

/* The home worker of a client id. */
unsigned worker_home(const struct broker *b, const char *client_id, size_t len);

#endif
