/*
 * mqtt5.h - pure MQTT 5.0 layer: reason codes, properties, v5 encoders.
 *
 * mqtt_codec.h frames every packet and decodes the MQTT 5 variable headers
 * as far as the property block, which it hands up raw (`props`/`props_len`:
 * the block's contents, without its length varint). This module decodes and
 * validates such a block (mqtt5_props_decode), walks its user properties in
 * order, copies it without chosen properties (mqtt5_props_filter), builds new
 * blocks (struct mqtt5_writer) and writes whole MQTT 5 packets around them.
 *
 * Like the codec it does no I/O, keeps no globals, does not log and never
 * allocates: decoded strings and binary fields are struct mqtt_str views into
 * the caller's buffer, valid only while that buffer is, and NOT
 * NUL-terminated. It is not the place for session state: whether a topic
 * alias is within the negotiated maximum, whether a DISCONNECT's session
 * expiry may change, whether a payload marked UTF-8 really is, are the
 * caller's checks.
 *
 * Throughout, "property block" means the bytes after the Property Length,
 * exactly what the codec's props/props_len describe; the encoders below
 * write the Property Length themselves.
 */
#ifndef MQCHAT_MQTT5_H
#define MQCHAT_MQTT5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "mqtt_codec.h"

/* Reason codes (MQTT 5.0 section 2.4). 0x00 has three names. */
enum mqtt5_reason {
    MQTT5_RC_SUCCESS = 0x00,
    MQTT5_RC_NORMAL_DISCONNECTION = 0x00,
    MQTT5_RC_GRANTED_QOS0 = 0x00,
    MQTT5_RC_GRANTED_QOS1 = 0x01,
    MQTT5_RC_GRANTED_QOS2 = 0x02,
    MQTT5_RC_DISCONNECT_WITH_WILL = 0x04,
    MQTT5_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    MQTT5_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    MQTT5_RC_CONTINUE_AUTHENTICATION = 0x18,
    MQTT5_RC_REAUTHENTICATE = 0x19,
    MQTT5_RC_UNSPECIFIED_ERROR = 0x80,
    MQTT5_RC_MALFORMED_PACKET = 0x81,
    MQTT5_RC_PROTOCOL_ERROR = 0x82,
    MQTT5_RC_IMPLEMENTATION_SPECIFIC_ERROR = 0x83,
    MQTT5_RC_UNSUPPORTED_PROTOCOL_VERSION = 0x84,
    MQTT5_RC_CLIENT_ID_NOT_VALID = 0x85,
    MQTT5_RC_BAD_USERNAME_OR_PASSWORD = 0x86,
    MQTT5_RC_NOT_AUTHORIZED = 0x87,
    MQTT5_RC_SERVER_UNAVAILABLE = 0x88,
    MQTT5_RC_SERVER_BUSY = 0x89,
    MQTT5_RC_BANNED = 0x8A,
    MQTT5_RC_SERVER_SHUTTING_DOWN = 0x8B,
    MQTT5_RC_BAD_AUTHENTICATION_METHOD = 0x8C,
    MQTT5_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
    MQTT5_RC_SESSION_TAKEN_OVER = 0x8E,
    MQTT5_RC_TOPIC_FILTER_INVALID = 0x8F,
    MQTT5_RC_TOPIC_NAME_INVALID = 0x90,
    MQTT5_RC_PACKET_ID_IN_USE = 0x91,
    MQTT5_RC_PACKET_ID_NOT_FOUND = 0x92,
    MQTT5_RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93,
    MQTT5_RC_TOPIC_ALIAS_INVALID = 0x94,
    MQTT5_RC_PACKET_TOO_LARGE = 0x95,
    MQTT5_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
    MQTT5_RC_QUOTA_EXCEEDED = 0x97,
    MQTT5_RC_ADMINISTRATIVE_ACTION = 0x98,
    MQTT5_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    MQTT5_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    MQTT5_RC_QOS_NOT_SUPPORTED = 0x9B,
    MQTT5_RC_USE_ANOTHER_SERVER = 0x9C,
    MQTT5_RC_SERVER_MOVED = 0x9D,
    MQTT5_RC_SHARED_SUBS_NOT_SUPPORTED = 0x9E,
    MQTT5_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
    MQTT5_RC_MAXIMUM_CONNECT_TIME = 0xA0,
    MQTT5_RC_SUBSCRIPTION_IDS_NOT_SUPPORTED = 0xA1,
    MQTT5_RC_WILDCARD_SUBS_NOT_SUPPORTED = 0xA2,
};

/*
 * A short, static, never-NULL English text for a reason code, fit to send as
 * a Reason String ("Malformed Packet", "Not authorized", ...). 0x00 gives
 * "Success"; a value section 2.4 does not define gives "Unknown reason code".
 */
const char *mqtt5_reason_string(uint8_t rc);

/*
 * The reason code that answers a decoding or processing error: MQ_OK 0x00;
 * MQ_EMALFORMED, MQ_EUTF8 and MQ_EAGAIN (a truncated packet) 0x81;
 * MQ_EPROTOCOL 0x82; MQ_ETOOLARGE 0x95; MQ_EDENIED 0x87; MQ_EFULL 0x97;
 * anything else 0x80 (unspecified error).
 */
uint8_t mqtt5_reason_for_error(int mq_err);

/* Property identifiers (section 2.2.2.2). All are below 64. */
enum mqtt5_prop_id {
    MQTT5_PROP_PAYLOAD_FORMAT_INDICATOR = 0x01,
    MQTT5_PROP_MESSAGE_EXPIRY_INTERVAL = 0x02,
    MQTT5_PROP_CONTENT_TYPE = 0x03,
    MQTT5_PROP_RESPONSE_TOPIC = 0x08,
    MQTT5_PROP_CORRELATION_DATA = 0x09,
    MQTT5_PROP_SUBSCRIPTION_IDENTIFIER = 0x0B,
    MQTT5_PROP_SESSION_EXPIRY_INTERVAL = 0x11,
    MQTT5_PROP_ASSIGNED_CLIENT_IDENTIFIER = 0x12,
    MQTT5_PROP_SERVER_KEEP_ALIVE = 0x13,
    MQTT5_PROP_AUTHENTICATION_METHOD = 0x15,
    MQTT5_PROP_AUTHENTICATION_DATA = 0x16,
    MQTT5_PROP_REQUEST_PROBLEM_INFORMATION = 0x17,
    MQTT5_PROP_WILL_DELAY_INTERVAL = 0x18,
    MQTT5_PROP_REQUEST_RESPONSE_INFORMATION = 0x19,
    MQTT5_PROP_RESPONSE_INFORMATION = 0x1A,
    MQTT5_PROP_SERVER_REFERENCE = 0x1C,
    MQTT5_PROP_REASON_STRING = 0x1F,
    MQTT5_PROP_RECEIVE_MAXIMUM = 0x21,
    MQTT5_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    MQTT5_PROP_TOPIC_ALIAS = 0x23,
    MQTT5_PROP_MAXIMUM_QOS = 0x24,
    MQTT5_PROP_RETAIN_AVAILABLE = 0x25,
    MQTT5_PROP_USER_PROPERTY = 0x26,
    MQTT5_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    MQTT5_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    MQTT5_PROP_SUBSCRIPTION_ID_AVAILABLE = 0x29,
    MQTT5_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

/* The property's name as the specification writes it ("Topic Alias"); a
 * static, never-NULL string ("Unknown property" for undefined ids). */
const char *mqtt5_prop_name(uint8_t id);

/*
 * Where a property block was found: the packet (and, for PUBLISH, which way
 * it travels). Each property may appear only in the contexts section
 * 2.2.2.2's table gives it; see the table at the top of mqtt5.c.
 */
enum mqtt5_ctx {
    MQTT5_CTX_CONNECT, /* CONNECT variable header */
    MQTT5_CTX_WILL,    /* CONNECT payload: will properties */
    MQTT5_CTX_CONNACK,
    MQTT5_CTX_PUBLISH,     /* PUBLISH from a client to the server */
    MQTT5_CTX_PUBLISH_OUT, /* PUBLISH from the server to a client */
    MQTT5_CTX_ACK,         /* PUBACK, PUBREC, PUBREL, PUBCOMP */
    MQTT5_CTX_SUBSCRIBE,
    MQTT5_CTX_SUBACK,
    MQTT5_CTX_UNSUBSCRIBE,
    MQTT5_CTX_UNSUBACK,
    MQTT5_CTX_DISCONNECT,
    MQTT5_CTX_AUTH,
    MQTT5_CTX_COUNT, /* the number of contexts, not a context */
};

/* The most Subscription Identifiers struct mqtt5_props keeps. */
#define MQTT5_MAX_SUBIDS 32

/* The largest Subscription Identifier (the largest 4-byte varint). */
#define MQTT5_MAX_SUBID 268435455u

/*
 * A decoded property block. A field is meaningful only when its id's bit is
 * set in `present` (use mqtt5_has()); absent fields are 0 / empty, which is
 * not the same as the specification's default (an absent Receive Maximum
 * means 65535, an absent Maximum QoS means 2, ...: the caller applies those).
 */
struct mqtt5_props {
    uint64_t present; /* bit (1 << id) for each property id seen */

    uint8_t payload_format;         /* 0 unspecified bytes, 1 UTF-8 */
    uint32_t message_expiry;        /* seconds */
    uint32_t session_expiry;        /* seconds; 0xFFFFFFFF never expires */
    uint16_t server_keepalive;      /* seconds */
    uint32_t will_delay;            /* seconds */
    uint16_t receive_maximum;       /* in-flight QoS 1/2 PUBLISHes; never 0 */
    uint16_t topic_alias_maximum;   /* highest alias accepted; 0 none */
    uint16_t topic_alias;           /* never 0 */
    uint8_t maximum_qos;            /* 0 or 1 (absent: 2) */
    uint8_t retain_available;       /* 0 or 1 */
    uint32_t maximum_packet_size;   /* bytes; never 0 */
    uint8_t request_problem_info;   /* 0 or 1 */
    uint8_t request_response_info;  /* 0 or 1 */
    uint8_t wildcard_sub_available; /* 0 or 1 */
    uint8_t subid_available;        /* 0 or 1 */
    uint8_t shared_sub_available;   /* 0 or 1 */

    struct mqtt_str content_type;       /* UTF-8 */
    struct mqtt_str response_topic;     /* UTF-8 topic name: no wildcards */
    struct mqtt_str correlation_data;   /* binary */
    struct mqtt_str assigned_client_id; /* UTF-8 */
    struct mqtt_str auth_method;        /* UTF-8 */
    struct mqtt_str auth_data;          /* binary */
    struct mqtt_str response_info;      /* UTF-8 */
    struct mqtt_str server_reference;   /* UTF-8 */
    struct mqtt_str reason_string;      /* UTF-8 */

    /* Subscription Identifiers in block order, each 1..MQTT5_MAX_SUBID.
     * subid_count counts all of them; only the first MQTT5_MAX_SUBIDS are
     * kept in subid[] (more than one only occurs with MQTT5_CTX_PUBLISH_OUT). */
    uint32_t subid[MQTT5_MAX_SUBIDS];
    uint32_t subid_count;

    uint32_t user_count; /* User Properties; walk them with mqtt5_user_iter */

    const uint8_t *raw; /* the block decoded: raw_len bytes, caller-owned */
    uint32_t raw_len;

    /* When mqtt5_props_decode() fails because of one property: its id (for
     * an unknown id, its first byte); 0 when no single property is at fault
     * or on success. Lets a caller answer a more specific reason code, such
     * as 0x94 Topic Alias invalid for a Topic Alias of 0. */
    uint8_t bad_id;
};

/* True when property id was present in the decoded block. */
static inline bool mqtt5_has(const struct mqtt5_props *p, uint8_t id)
{
    return id < 64 && (p->present >> id & 1);
}

/*
 * Decodes and validates the property block p[0..len) found in ctx. p may be
 * NULL when len is 0 (an absent or empty block): that decodes to no
 * properties. *out is filled; its views point into p.
 * Returns MQ_OK, or (with *out partly filled, to be ignored except bad_id):
 *   MQ_EMALFORMED  truncated property, unknown property id (or an id not
 *                  encoded as a single byte), a property that section
 *                  2.2.2.2 does not allow in ctx, a non-minimal Subscription
 *                  Identifier varint;
 *   MQ_EUTF8       a UTF-8 string or string pair that breaks the rules of
 *                  mqtt_utf8_check() (answer it as malformed, 0x81);
 *   MQ_EPROTOCOL   a property other than User Property given twice (a
 *                  Subscription Identifier may repeat in MQTT5_CTX_PUBLISH_OUT
 *                  only), a Subscription Identifier in MQTT5_CTX_PUBLISH (a
 *                  client must not send one), and these values: Payload
 *                  Format Indicator, Request Problem Information, Request
 *                  Response Information, Maximum QoS, Retain Available,
 *                  Wildcard / Subscription Identifier / Shared Subscription
 *                  Available above 1; Receive Maximum, Maximum Packet Size,
 *                  Topic Alias or Subscription Identifier 0; an empty
 *                  Response Topic or one with '+' or '#'; in MQTT5_CTX_CONNECT,
 *                  Authentication Data without Authentication Method;
 *   MQ_EINVAL      ctx out of range (a caller bug).
 * The first problem in block order decides the result; the Authentication
 * Data check, which needs the whole block, comes last.
 */
int mqtt5_props_decode(const uint8_t *p, uint32_t len, enum mqtt5_ctx ctx, struct mqtt5_props *out);

/*
 * Walks the User Properties of a decoded block in block order, repeated keys
 * included:
 *     struct mqtt5_user_iter it;
 *     mqtt5_user_iter_init(&it, &props);
 *     while (mqtt5_user_next(&it, &key, &value)) ...
 * The iterator reads props->raw, so the block's buffer must still be valid.
 * On a block that did not decode it stops early but never reads outside it.
 */
struct mqtt5_user_iter {
    const uint8_t *pos; /* next property to look at */
    const uint8_t *end; /* one past the block */
};
void mqtt5_user_iter_init(struct mqtt5_user_iter *it, const struct mqtt5_props *props);
/* Returns true with key/value set to the next pair; false when none remain. */
bool mqtt5_user_next(struct mqtt5_user_iter *it, struct mqtt_str *key, struct mqtt_str *value);

/*
 * Copies the property block in[0..len) to out, leaving out every property
 * whose id is one of drop_ids[0..ndrop) and keeping the order of the rest.
 * out must have room for len bytes and must not overlap in. Returns the
 * bytes written (<= len). in should be a block mqtt5_props_decode()
 * accepted; on any other input copying stops before the first property that
 * cannot be parsed, and nothing outside in[0..len) is read.
 * Example: the broker forwards a PUBLISH's properties without Topic Alias,
 * Subscription Identifier and Message Expiry Interval, then appends its own.
 */
size_t mqtt5_props_filter(const uint8_t *in, uint32_t len, uint8_t *out, const uint8_t *drop_ids,
                          size_t ndrop);

/*
 * Builds a property block. Initialise with mqtt5_writer_init(); each
 * mqtt5_put_*() appends one property (its id, then its value in the id's
 * wire type; the caller picks the function that matches the id's type).
 * With buf NULL the writer only counts, so a caller can size first:
 *     mqtt5_writer_init(&w, NULL, 0); ...puts...; n = w.len;
 *     then allocate or check room for n and put the same properties again.
 * Nothing is checked against the property table: the writer trusts the
 * caller to write only what the packet allows.
 */
struct mqtt5_writer {
    uint8_t *buf;  /* NULL: count only */
    size_t cap;    /* bytes available at buf */
    size_t len;    /* bytes the properties put so far need, even past cap */
    bool overflow; /* something did not fit in cap, or a value could not be
                    * encoded (a string over 65535 bytes, a varint over
                    * MQTT_MAX_REMAINING): buf[0..cap) is then not a valid
                    * block. Once set, nothing more is written to buf. */
};
void mqtt5_writer_init(struct mqtt5_writer *w, uint8_t *buf, size_t cap);
void mqtt5_put_u8(struct mqtt5_writer *w, uint8_t id, uint8_t v);
void mqtt5_put_u16(struct mqtt5_writer *w, uint8_t id, uint16_t v);
void mqtt5_put_u32(struct mqtt5_writer *w, uint8_t id, uint32_t v);
void mqtt5_put_varint(struct mqtt5_writer *w, uint8_t id, uint32_t v);
/* A UTF-8 string (not checked here: callers pass valid UTF-8) of n bytes. */
void mqtt5_put_str(struct mqtt5_writer *w, uint8_t id, const char *s, size_t n);
/* Binary data of n bytes. */
void mqtt5_put_bin(struct mqtt5_writer *w, uint8_t id, const void *data, size_t n);
/* A User Property (id MQTT5_PROP_USER_PROPERTY): key and value strings. */
void mqtt5_put_pair(struct mqtt5_writer *w, const char *key, size_t key_len, const char *value,
                    size_t value_len);
/* n bytes of already-encoded properties (for example a filtered block). */
void mqtt5_put_raw(struct mqtt5_writer *w, const uint8_t *block, size_t n);

/* The bytes a property block of props_len bytes takes on the wire, its
 * Property Length varint included. */
size_t mqtt5_props_size(uint32_t props_len);

/*
 * MQTT 5 packets. As in mqtt_codec.h: each mqtt5_encode_*() writes one
 * complete packet into out, which must have room for the matching *_size(),
 * and returns the bytes written (always equal to that size). props/props_len
 * is a property block (without its length; props may be NULL when props_len
 * is 0), written with its Property Length. Nothing is validated: the caller
 * passes a reason code and properties the packet allows, topic and strings
 * up to 65535 bytes and a total within MQTT_MAX_REMAINING.
 */

/* CONNACK: ack flags, reason code, properties (always present). */
size_t mqtt5_connack_size(uint32_t props_len);
size_t mqtt5_encode_connack(uint8_t *out, bool session_present, uint8_t reason,
                            const uint8_t *props, uint32_t props_len);

/* PUBLISH: topic (may be empty when a Topic Alias is among the properties),
 * packet id (qos > 0), properties, payload. *id_offset (when id_offset is
 * not NULL) gets the offset of the packet id for per-subscriber patching,
 * 0 for QoS 0, like mqtt_encode_publish(). */
size_t mqtt5_publish_size(size_t topic_len, uint32_t props_len, size_t payload_len, uint8_t qos);
size_t mqtt5_encode_publish(uint8_t *out, const char *topic, size_t topic_len, const uint8_t *props,
                            uint32_t props_len, const uint8_t *payload, size_t payload_len,
                            uint8_t qos, bool retain, bool dup, uint16_t packet_id,
                            size_t *id_offset);

/* PUBACK, PUBREC, PUBREL (flags 0x2 set for you), PUBCOMP: packet id, then
 * the reason code unless it is 0 and there are no properties (3.4.2.1),
 * then the properties when there are some. */
size_t mqtt5_ack_size(uint8_t reason, uint32_t props_len);
size_t mqtt5_encode_ack(uint8_t *out, uint8_t type, uint16_t packet_id, uint8_t reason,
                        const uint8_t *props, uint32_t props_len);

/* SUBACK and UNSUBACK: packet id, properties, one reason code per filter
 * (n >= 1). The same size function serves both. */
size_t mqtt5_suback_size(size_t n, uint32_t props_len);
size_t mqtt5_encode_suback(uint8_t *out, uint16_t packet_id, const uint8_t *codes, size_t n,
                           const uint8_t *props, uint32_t props_len);
size_t mqtt5_encode_unsuback(uint8_t *out, uint16_t packet_id, const uint8_t *codes, size_t n,
                             const uint8_t *props, uint32_t props_len);

/* DISCONNECT and AUTH: the reason code and properties, both left out (an
 * empty body) when the reason is 0 and there are no properties. Otherwise
 * DISCONNECT leaves out an empty property block (3.14.2.2.1 allows a 1-byte
 * body) while AUTH always writes its Property Length, 0 when empty. */
size_t mqtt5_disconnect_size(uint8_t reason, uint32_t props_len);
size_t mqtt5_encode_disconnect(uint8_t *out, uint8_t reason, const uint8_t *props,
                               uint32_t props_len);
size_t mqtt5_auth_size(uint8_t reason, uint32_t props_len);
size_t mqtt5_encode_auth(uint8_t *out, uint8_t reason, const uint8_t *props, uint32_t props_len);

/*
 * Decodes an AUTH body (mqtt_codec.h has no AUTH decoder): an optional
 * reason code (0 when the body is empty), then optional properties.
 * Returns MQ_OK; MQ_EINVAL when f is not an AUTH frame; MQ_EMALFORMED for
 * non-zero flags, a truncated property block or trailing bytes. Which
 * reason codes AUTH may carry (0x00, 0x18, 0x19) is the caller's check.
 */
struct mqtt5_auth {
    uint8_t reason_code;
    const uint8_t *props; /* NULL with props_len 0 when absent */
    uint32_t props_len;
};
int mqtt5_decode_auth(const struct mqtt_frame *f, struct mqtt5_auth *a);

/*
 * Client side, for tests and the load generator.
 * CONNECT v5: the 3.1.1 options plus the CONNECT and will property blocks
 * (will_props is used only with base.will_topic). As in MQTT 5 a password
 * may be given without a user name.
 */
struct mqtt5_connect_opts {
    struct mqtt_connect_opts base; /* see mqtt_codec.h; protocol level 5 */
    const uint8_t *props;
    uint32_t props_len;
    const uint8_t *will_props;
    uint32_t will_props_len;
};
size_t mqtt5_connect_size(const struct mqtt5_connect_opts *o);
size_t mqtt5_encode_connect(uint8_t *out, const struct mqtt5_connect_opts *o);

/* SUBSCRIBE v5: n filters (NUL-terminated), each with its options byte
 * (QoS bits 0-1, no local bit 2, retain as published bit 3, retain handling
 * bits 4-5). UNSUBSCRIBE v5: n filters. */
size_t mqtt5_subscribe_size(const char *const *filters, size_t n, uint32_t props_len);
size_t mqtt5_encode_subscribe(uint8_t *out, uint16_t packet_id, const char *const *filters,
                              const uint8_t *options, size_t n, const uint8_t *props,
                              uint32_t props_len);
size_t mqtt5_unsubscribe_size(const char *const *filters, size_t n, uint32_t props_len);
size_t mqtt5_encode_unsubscribe(uint8_t *out, uint16_t packet_id, const char *const *filters,
                                size_t n, const uint8_t *props, uint32_t props_len);

#endif
