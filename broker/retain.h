/*
 * retain.h - the broker's retained messages, one store shared by all workers.
 *
 * Not on the hot path of ordinary publishes: it is touched only by a PUBLISH
 * with RETAIN set and by SUBSCRIBE. One mutex guards it. The store holds
 * one message reference per retained topic.
 */
#ifndef MQCHAT_RETAIN_H
#define MQCHAT_RETAIN_H

#include <stddef.h>

#include "message.h"

struct retain_store;

/* A new empty store, or NULL when out of memory. */
struct retain_store *retain_new(void);

/* Drops every held reference and frees the store. NULL ok. */
void retain_free(struct retain_store *r);

/*
 * Sets the retained message of msg->topic to msg (taking a reference of its
 * own), replacing and unreferencing any previous one. A msg with
 * payload_len 0 clears the topic instead and is not kept.
 * Returns MQ_OK or MQ_ENOMEM (store unchanged).
 */
int retain_set(struct retain_store *r, struct message *msg);

/*
 * Calls fn for each retained message whose topic matches filter (the '$'
 * rule of topic.h applies). fn runs with the store's lock held: it must be
 * quick and must not call back into the store; to keep a message it takes
 * its own reference (message_ref).
 */
typedef void (*retain_fn)(void *ctx, struct message *msg);
void retain_match(struct retain_store *r, const char *filter, size_t len, retain_fn fn, void *ctx);

/* Number of retained topics. */
size_t retain_count(struct retain_store *r);

#endif
