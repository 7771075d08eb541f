/*
 * cluster_channel.h - which Redis channel a topic crosses nodes on, and
 * which channels a subscription filter needs (doc/cluster.md, "What
 * crosses nodes"). Pure functions over a read-only table.
 *
 *   {p}/room/{room}, {p}/room/{room}/system        r:{room}
 *   {p}/dm/{user}, {p}/user/{user}/events          u:{user}
 *   {p}/system                                     sys
 *   a plain topic matching redis.bridge_topics[i]  t:{bridge_topics[i]} (the first match)
 *
 * Channels are written without the deployment's prefix (the bridge adds
 * "{redis.prefix}:").
 */
#ifndef MQCHAT_CLUSTER_CHANNEL_H
#define MQCHAT_CLUSTER_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>

#define CLUSTER_CHANNEL_MAX 1024 /* bytes of a channel name, with its NUL */

struct cluster_routes {
    const char *chat_prefix; /* chat.prefix, without a trailing '/' */
    size_t chat_prefix_len;
    char **bridge; /* redis.bridge_topics, each a valid filter outside the chat prefix */
    size_t nbridge;
};

/* Fills r->bridge from list (filters separated by spaces or commas).
 * MQ_OK; MQ_EINVAL (logged) when one is not a valid filter, starts with
 * '$', or is under the chat prefix; MQ_ENOMEM. */
int cluster_routes_parse(struct cluster_routes *r, const char *chat_prefix, const char *list);
void cluster_routes_free(struct cluster_routes *r);

/* The channel topic[0..len) (a topic name) crosses on, written to out
 * (CLUSTER_CHANNEL_MAX bytes, NUL-terminated); its length, or 0 when the
 * topic stays on its node. */
size_t cluster_topic_channel(const struct cluster_routes *r, const char *topic, size_t len,
                             char *out);

/* Calls fn for every channel filter[0..len) needs (none, one, or one per
 * overlapping bridge topic). */
void cluster_filter_channels(const struct cluster_routes *r, const char *filter, size_t len,
                             void (*fn)(void *ctx, const char *channel, size_t len), void *ctx);

/* True when some topic name matches both filters. */
bool cluster_filters_overlap(const char *a, size_t alen, const char *b, size_t blen);

#endif
