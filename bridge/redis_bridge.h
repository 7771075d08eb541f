/*
 * redis_bridge.h - node to node fan-out through Redis pub/sub.
 *
 * The bridge is a thread with its own libuv loop and its Redis connections
 * (redis_client.h): for a single Redis, one connection that publishes and
 * one that subscribes; for Redis Cluster, one of each per master, every
 * channel living on the master that owns its slot (SPUBLISH/SSUBSCRIBE).
 * It knows channels, frames and connections; it knows nothing of chat:
 * which topic goes on which channel is the caller's business (cluster.h).
 *
 * Other threads talk to it through one mutex-guarded inbox and a uv_async
 * wake-up, and it hands what it receives to the sink it was given at
 * start (no call back into the router by name):
 * - redis_bridge_forward: a message accepted on this node, for a channel;
 * - redis_bridge_interest: this node's subscriptions to a channel went up
 *   or down (the bridge subscribes on 0 -> 1, unsubscribes on 1 -> 0);
 * - redis_bridge_control: an event for every other node (the control
 *   channel, which the bridge is always subscribed to);
 * - redis_bridge_cache: append to a capped list (RPUSH + LTRIM).
 * All are pipelined: the commands of one wake-up go out in one write per
 * connection.
 *
 * On the wire a message is a binary frame: 'M', the origin node id, flags
 * (QoS, retain, chat, shadow), the remaining expiry, sender, topic, MQTT 5
 * properties, payload. Control events are 'C', the node id and the events'
 * bytes: the events of one wake-up go out in one frame, separated by
 * newlines (they are JSON, which never holds a raw one), and come to the
 * sink one by one. Messages from this node's own id are dropped on arrival; control
 * events are not (the sink tells its own from another process that was
 * given the same node id).
 *
 * Nothing waits for Redis: while a connection is down, what would go
 * through it is counted (unforwarded) and dropped; when it is back the
 * bridge subscribes its channels again and tells the sink (`up`).
 */
#ifndef MQCHAT_REDIS_BRIDGE_H
#define MQCHAT_REDIS_BRIDGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct message;
struct redis_bridge;

struct redis_bridge_config {
    const char *url;    /* redis.url */
    bool cluster;       /* redis.cluster */
    const char *prefix; /* redis.prefix: channels are "{prefix}:{channel}" */
    unsigned node_id;   /* node.id */
    uint32_t tick_ms;   /* how often sink.tick runs (heartbeats) */
    uint32_t cache_max; /* redis_bridge_cache keeps this many entries */
    uint32_t echo_ms;   /* the caller sends a control event at least this often; when
                           none of this node's own comes back for twice as long, the
                           control channel's connections are taken as dead and made
                           again */
};

/* Called on the bridge's thread. */
struct redis_bridge_sink {
    void *ctx;
    /* A message from another node (one reference passed), as it came on
     * channel (after the prefix). Only its frame's bounds are checked:
     * the sink decides whether it belongs on that channel. */
    void (*message)(void *ctx, const char *channel, size_t len, struct message *msg);
    /* A control event from node `node` (this node's own too). */
    void (*control)(void *ctx, unsigned node, const char *event, size_t len);
    /* The control channel is subscribed and publishing works: first
     * connection or again after a loss. */
    void (*up)(void *ctx);
    /* Every tick_ms. */
    void (*tick)(void *ctx);
};

struct redis_bridge_stats {
    atomic_uint_fast64_t forwarded;   /* messages published */
    atomic_uint_fast64_t received;    /* messages from other nodes handed to the sink */
    atomic_uint_fast64_t unforwarded; /* messages dropped: connection down or too slow */
    atomic_uint_fast64_t reconnects;  /* connections made again after a loss */
    atomic_uint_fast64_t channels;    /* channels subscribed (gauge) */
    atomic_bool up;                   /* every connection up */
};

/* A bridge (thread not started): MQ_OK, MQ_EINVAL (a bad URL, logged),
 * MQ_ENOMEM. */
int redis_bridge_new(const struct redis_bridge_config *cfg, const struct redis_bridge_sink *sink,
                     struct redis_bridge **out);

/* Starts the thread. MQ_OK or MQ_EIO. Interest registered before is kept. */
int redis_bridge_start(struct redis_bridge *br);

/* Sends what is queued (best effort, bounded to a second), stops the
 * thread and frees everything. NULL ok. */
void redis_bridge_free(struct redis_bridge *br);

/* Any thread. Publishes msg on channel (the part after the prefix).
 * Takes nothing: the bridge takes its own reference. */
void redis_bridge_forward(struct redis_bridge *br, const char *channel, size_t len,
                          struct message *msg);

/* Any thread: delta (+1 or -1) local subscriptions to channel. */
void redis_bridge_interest(struct redis_bridge *br, const char *channel, size_t len, int delta);

/* Any thread: event (copied) to every other node. Events keep their order
 * among themselves; lazy ones may also go out after messages forwarded
 * later (counts), the others never do (a block goes before the message it
 * stops). */
void redis_bridge_control(struct redis_bridge *br, const char *event, size_t len, bool lazy);

/* Any thread: appends value to the list at key (after the prefix) and cuts
 * it to the last cache_max entries. */
void redis_bridge_cache(struct redis_bridge *br, const char *key, size_t key_len, const char *value,
                        size_t value_len);

const struct redis_bridge_stats *redis_bridge_stats(const struct redis_bridge *br);

#endif
