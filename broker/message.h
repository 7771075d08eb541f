/*
 * message.h - the reference-counted application message.
 *
 * A PUBLISH that the broker accepts becomes one struct message, allocated
 * once (struct, topic and payload in a single block) and then shared by
 * pointer: between workers, with the retained store, in session queues and
 * in inflight windows. Whoever keeps a pointer holds a reference.
 * The message itself is immutable after message_new(): any thread may read
 * it while holding a reference. Only the reference count changes (atomics).
 */
#ifndef MQCHAT_MESSAGE_H
#define MQCHAT_MESSAGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct message {
    atomic_uint refs;     /* references held; freed when it drops to 0 */
    uint8_t qos;          /* QoS as published (0-2) */
    bool retain;          /* the RETAIN flag as published */
    uint16_t topic_len;   /* bytes, without the NUL */
    uint32_t payload_len; /* bytes */
    char *topic;          /* NUL-terminated, inside this allocation */
    uint8_t *payload;     /* inside this allocation; not NUL-terminated */
};

/*
 * Allocates a message with one reference, copying topic and payload.
 * Returns NULL when the allocation fails.
 */
struct message *message_new(const char *topic, size_t topic_len, const uint8_t *payload,
                            size_t payload_len, uint8_t qos, bool retain);

/* Takes one more reference; returns m. */
struct message *message_ref(struct message *m);

/* Drops one reference; frees the message with the last. NULL is a no-op. */
void message_unref(struct message *m);

#endif
