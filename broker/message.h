/*
 * message.h - the reference-counted application message.
 *
 * A PUBLISH that the broker accepts becomes one struct message, allocated
 * once (struct, topic, MQTT 5 properties and payload in a single block) and
 * then shared by pointer: between workers, with the retained store, in
 * session queues and in inflight windows. Whoever keeps a pointer holds a
 * reference. The message is immutable once published (its maker may set
 * `chat` first): any thread may read it while holding a reference. Only the reference count changes
 * (and a will's expires_at_ms, set by its only holder just before it is published: see
 * session_take_will()).
 *
 * `props` holds the MQTT 5 properties that travel with the message to every
 * MQTT 5 subscriber unchanged and in order (Payload Format Indicator,
 * Content Type, Response Topic, Correlation Data, User Properties). What is
 * per hop or per subscriber (Topic Alias, Subscription Identifiers, the
 * remaining Message Expiry Interval) is not in it: the sender adds those.
 */
#ifndef MQCHAT_MESSAGE_H
#define MQCHAT_MESSAGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ack_hold;

struct message {
    atomic_uint refs;       /* references held; freed when it drops to 0 */
    uint8_t qos;            /* QoS as published (0-2) */
    bool retain;            /* the RETAIN flag as published */
    bool chat;              /* made by the chat policy (chat.c: an envelope or a notice):
                               only such messages are delivered under the chat prefix */
    bool shadow;            /* a chat message of a user blocked in its room: delivered to
                               the sender's own sessions only */
    uint8_t sender_len;     /* bytes of sender */
    uint16_t topic_len;     /* bytes, without the NUL */
    uint32_t payload_len;   /* bytes */
    uint32_t props_len;     /* bytes of forwarded MQTT 5 properties */
    uint64_t expires_at_ms; /* message_clock_ms() when it expires; 0 = never */
    uint64_t origin;        /* session_uid of the publisher (for No Local); 0 = broker */
    struct ack_hold *ack;   /* the publisher's acknowledgement held until the message is
                               durable (ackhold.h), or NULL; freed with the message */
    char *topic;            /* NUL-terminated, inside this allocation */
    uint8_t *props;         /* inside this allocation; NULL when props_len is 0 */
    uint8_t *payload;       /* inside this allocation; not NUL-terminated */
    char *sender;           /* a chat message's sender (user id), NUL-terminated, inside
                               this allocation; NULL otherwise */
};

/* Optional parts of a new message; a NULL pointer means all absent. */
struct message_extra {
    const uint8_t *props; /* forwarded property block (already filtered) */
    uint32_t props_len;
    uint32_t expiry_s; /* Message Expiry Interval, seconds; 0 = none */
    uint64_t origin;   /* publishing session's uid; 0 = broker */
    const char *sender; /* a chat message's sender (at most 255 bytes); NULL = none */
    size_t sender_len;
};

/* Monotonic milliseconds, the clock of expires_at_ms (any thread). */
uint64_t message_clock_ms(void);

/*
 * Allocates a message with one reference, copying topic, properties and
 * payload. Returns NULL when the allocation fails.
 */
struct message *message_new(const char *topic, size_t topic_len, const uint8_t *payload,
                            size_t payload_len, uint8_t qos, bool retain,
                            const struct message_extra *extra);

/* Takes one more reference; returns m. */
struct message *message_ref(struct message *m);

/* Drops one reference; frees the message with the last. NULL is a no-op. */
void message_unref(struct message *m);

/* True when m has a Message Expiry Interval that has passed at now_ms. */
bool message_expired(const struct message *m, uint64_t now_ms);

/* The Message Expiry Interval left at now_ms, rounded up, at least 1 second
 * (call only when m has one and has not expired). */
uint32_t message_expiry_left(const struct message *m, uint64_t now_ms);

#endif
