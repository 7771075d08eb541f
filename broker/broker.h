/*
 * broker.h - the process-wide broker: what all workers share.
 *
 * struct broker is created by main() and passed explicitly to whoever needs
 * it; there is no global broker variable. It owns the configuration (read
 * only after start-up), the workers, the retained store (internally
 * locked), the current authentication snapshot and the statistics that
 * $SYS reports. Everything per-connection lives on a worker (worker.h).
 */
#ifndef MQCHAT_BROKER_H
#define MQCHAT_BROKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "message.h"
#include "retain.h"
#include "shared.h"

struct worker;
struct passwd_db;
struct acl_db;
struct storage;
struct chat;
struct cluster;
struct tls_server;

#define MQCHAT_VERSION "0.1.0"

/*
 * Password and ACL databases as loaded at one moment. Immutable and
 * reference counted: SIGHUP builds a new snapshot and hands one reference
 * to each worker, which drops its old one. Either pointer may be NULL
 * (that file is not configured).
 */
struct auth_snapshot {
    atomic_uint refs;
    struct passwd_db *passwd;
    struct acl_db *acl;
};

/* Loads the files named in cfg into a new snapshot with one reference.
 * Returns MQ_OK and *out, or an error after logging what was wrong. */
int auth_snapshot_load(const struct config *cfg, struct auth_snapshot **out);
struct auth_snapshot *auth_snapshot_ref(struct auth_snapshot *a);
void auth_snapshot_unref(struct auth_snapshot *a);

/*
 * Counters a worker publishes once per loop turn (relaxed atomics) for $SYS.
 * Each worker owns one; the $SYS reporter sums them.
 */
struct worker_stats {
    atomic_uint_fast64_t msgs_received; /* PUBLISH packets in */
    atomic_uint_fast64_t msgs_sent;     /* PUBLISH packets out */
    atomic_uint_fast64_t bytes_received;
    atomic_uint_fast64_t bytes_sent;
    atomic_uint_fast64_t msgs_dropped;      /* deliveries dropped by a limit */
    atomic_uint_fast64_t clients_connected; /* sessions with a live connection */
    atomic_uint_fast64_t clients_total;     /* sessions, connected or not */
    atomic_uint_fast64_t subscriptions;     /* (session, filter) pairs */
    atomic_uint_fast64_t inflight;          /* outgoing QoS 1/2 awaiting ack */
    atomic_uint_fast64_t queued;            /* messages waiting in session queues */
};

struct broker {
    struct config *cfg;      /* read only after start-up */
    struct worker **workers; /* nworkers, each on its own thread */
    unsigned nworkers;
    struct retain_store *retain;   /* shared, internally locked */
    struct shared_registry shared; /* $share/ groups, internally locked */
    struct storage *storage;       /* the node's database (storage.h); NULL = none */
    struct chat *chat;             /* the chat policy and directory (chat.h) */
    struct cluster *cluster;       /* the other nodes, through Redis (cluster.h); NULL = alone */
    struct tls_server *tls;        /* certificate of the TLS listeners (tls.h); NULL = no TLS */
    atomic_int connections;        /* open network connections, all workers */
    atomic_uint_fast64_t sockets_accepted[4];  /* per listener, by enum link_kind */
    atomic_uint_fast64_t handshakes_failed[4]; /* TLS handshakes and WebSocket upgrades
                                                  that did not finish, by enum link_kind */
    uint64_t start_time;  /* uv_hrtime() at start, ns */
    uv_loop_t *main_loop; /* the main thread's loop (listener, signals, $SYS) */

    /* Shutdown phase 1: each worker, once the wills of its clients are
     * routed and handed to the other workers, counts itself here and wakes
     * the main thread, which starts phase 2 when all have. */
    atomic_uint wills_routed;
    uv_async_t *wills_routed_wake;
};

/*
 * Routes a message made outside any worker (a $SYS update from the main
 * thread) to every worker. Takes over the caller's reference to msg.
 * Retained messages are stored first.
 */
void broker_publish_external(struct broker *b, struct message *msg);

#endif
