/*
 * cluster.h - this node among the nodes of a cluster (doc/cluster.md).
 *
 * With redis.url set, the node forwards what crosses nodes to the Redis
 * bridge (bridge/redis_bridge.h) and delivers what the other nodes publish.
 * This module decides what crosses and where: which channel a topic goes
 * on, which channels a subscription filter needs, what the control events
 * say (directory changes, settings, presence of the users on each node,
 * heartbeats) and what a received one changes here. Without redis.url,
 * b->cluster is NULL and every call below is a cheap no-op.
 *
 * struct cluster belongs to the broker (b->cluster). Its tables of the
 * other nodes are touched on the bridge's thread only; the calls below
 * may come from any thread.
 */
#ifndef MQCHAT_CLUSTER_H
#define MQCHAT_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct message;
struct redis_bridge;
struct redis_recent;

/* Before the sessions are restored (their subscriptions count): reads the
 * redis.* keys and makes the bridge (not started). MQ_OK (also without
 * redis.url) or an error after logging it. */
int cluster_open(struct broker *b);

/* After chat_open and the workers' start: starts the bridge's thread and
 * listens to the chat directory's changes. MQ_OK or MQ_EIO. */
int cluster_start(struct broker *b);

/* After the workers have stopped: tells the other nodes this node's
 * users are gone, stops the bridge, frees everything. */
void cluster_close(struct broker *b);

/* A message accepted on this node (a client's PUBLISH, a will, a
 * notification): published to its channel when its topic crosses nodes;
 * a room message is also added to the room's recent-history cache. */
void cluster_forward(struct broker *b, const struct message *msg);

/* A subscription filter of a local session came (delta +1) or went (-1);
 * shared subscriptions ($share/) do not cross nodes and are not counted. */
void cluster_interest(struct broker *b, const char *filter, size_t len, int delta);

/* This node's device count of a chat user changed (presence_emit.local). */
void cluster_presence_report(struct broker *b, const char *user, size_t len, int devices);

/* A room message accepted here (not a shadow, not a notification): its id
 * and sender for the other nodes' unread counts, and the cheers or hearts
 * it carries for their support totals. */
void cluster_room_post(struct broker *b, const char *room, size_t room_len, uint64_t id,
                       const char *sender, size_t sender_len, int64_t cheers, int64_t hearts);

/* A member's read marker was set here (unread_mark). */
void cluster_read_marker(struct broker *b, const char *user, size_t user_len, const char *room,
                         size_t room_len, int64_t upto);

/* This node's viewer count of a room changed (presence_emit.local_room). */
void cluster_room_viewers_report(struct broker *b, const char *room, size_t len, int64_t viewers);

/* Comment control settings of scope (a room, or "" for the system) were
 * replaced by doc (a JSON object; len 0 = removed). */
void cluster_settings_changed(struct broker *b, const char *room, size_t room_len, const char *doc,
                              size_t len);

/* A reader of the rooms' recent-history cache for a thread that serves
 * history (redis_recent.h; free it with redis_recent_free), or NULL
 * without a cluster or with redis.history_cache 0. */
struct redis_recent *cluster_recent_open(const struct broker *b);

/* The bridge's counters for metrics, or NULL without a cluster. */
const struct redis_bridge *cluster_bridge(const struct broker *b);

/* Other nodes heard from within redis.node_timeout. */
unsigned cluster_nodes_alive(const struct broker *b);

#endif
