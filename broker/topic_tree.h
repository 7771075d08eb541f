/*
 * topic_tree.h - one worker's subscription index.
 *
 * Each worker owns one topic_tree for the sessions of its own connections;
 * it is never shared between threads, so it has no locks. Filters without
 * wildcards (the common case: a chat room, a device topic) are found by one
 * exact-match hash lookup of the whole topic; filters with '+' or '#' sit
 * in a level trie that is only walked when any exist. Each filter keeps its
 * subscribers in a flat array, so a room with 10,000 viewers is one lookup
 * and one array walk.
 *
 * A subscriber is an opaque owner pointer (a struct session * in practice)
 * plus the subscription's options byte and MQTT 5 subscription identifier.
 * The tree does not own the owners; it copies filter strings.
 */
#ifndef MQCHAT_TOPIC_TREE_H
#define MQCHAT_TOPIC_TREE_H

#include <stddef.h>
#include <stdint.h>

struct topic_tree;

struct topic_sub {
    void *owner;     /* the subscribing session; never NULL */
    uint8_t options; /* bits 0-1 max QoS; MQTT 5 option bits above */
    uint32_t sub_id; /* MQTT 5 subscription identifier, 0 if none */
};

/* Returns a new empty tree, or NULL when out of memory. */
struct topic_tree *topic_tree_new(void);

/* Frees the tree and its filter copies; owners are untouched. NULL ok. */
void topic_tree_free(struct topic_tree *t);

/*
 * Adds (owner, filter). When owner already subscribes with this exact filter
 * its options and sub_id are replaced (MQTT: a repeated SUBSCRIBE replaces).
 * The filter must be valid (topic_validate_filter).
 * Returns 1 when a new subscription was added, 0 when one was replaced,
 * MQ_ENOMEM (tree unchanged) on allocation failure.
 */
int topic_tree_add(struct topic_tree *t, const char *filter, size_t len, void *owner,
                   uint8_t options, uint32_t sub_id);

/* Removes (owner, filter). MQ_OK, or MQ_ENOTFOUND when absent. Empty nodes
 * are freed. */
int topic_tree_remove(struct topic_tree *t, const char *filter, size_t len, void *owner);

/*
 * Calls fn once per filter that matches topic (with the '$' rule of
 * topic.h), with that filter's subscribers as an array of n entries. The
 * array is valid only during the call and fn must not add to or remove
 * from the tree. An owner subscribed through several matching filters
 * appears in several calls: de-duplication is the caller's job.
 */
typedef void (*topic_match_fn)(void *ctx, const struct topic_sub *subs, size_t n);
void topic_tree_match(const struct topic_tree *t, const char *topic, size_t len, topic_match_fn fn,
                      void *ctx);

/* Number of (owner, filter) subscriptions in the tree. */
size_t topic_tree_count(const struct topic_tree *t);

#endif
