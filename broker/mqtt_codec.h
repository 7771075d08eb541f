/*
 * mqtt_codec.h - pure MQTT 3.1, 3.1.1 (and, at the framing level, 5.0) codec.
 *
 * Bytes in, structs out; structs in, bytes out. The codec does no I/O, keeps
 * no globals, does not log and never allocates: decoded strings and payloads
 * are views that point into the caller's buffer and stay valid only while
 * that buffer does. Strings are NOT NUL-terminated.
 *
 * Decoding is two steps:
 *   1. mqtt_frame() finds one whole packet at the start of a buffer (fixed
 *      header + remaining length) or says it needs more bytes (MQ_EAGAIN).
 *   2. mqtt_decode_<type>() validates and decodes that packet's body.
 * Every validation the specification puts on the wire format (reserved
 * flags, remaining-length encoding, UTF-8 rules, NUL in strings, topic and
 * filter syntax, QoS 3, packet id 0, ...) is done here, so the layers above
 * only see well-formed packets.
 *
 * Protocol versions are named by their CONNECT protocol level:
 * MQTT_V31 (3, "MQIsdp"), MQTT_V311 (4, "MQTT"), MQTT_V5 (5, "MQTT").
 * For MQTT_V5 packets the property block is located and its length checked,
 * and handed up raw in `props` / `props_len`; its contents are decoded by a
 * later module (mqtt5 properties), not here.
 */
#ifndef MQCHAT_MQTT_CODEC_H
#define MQCHAT_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

enum mqtt_version { MQTT_V31 = 3, MQTT_V311 = 4, MQTT_V5 = 5 };

enum mqtt_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15,
};

/* CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3). */
enum mqtt_connack_rc {
    MQTT_CONNACK_ACCEPTED = 0,
    MQTT_CONNACK_BAD_PROTOCOL = 1,
    MQTT_CONNACK_ID_REJECTED = 2,
    MQTT_CONNACK_UNAVAILABLE = 3,
    MQTT_CONNACK_BAD_CREDENTIALS = 4,
    MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

/* SUBACK return code for a refused filter (3.1.1) / generic failure. */
#define MQTT_SUBACK_FAILURE 0x80

/* The largest remaining length the 4-byte varint can carry. */
#define MQTT_MAX_REMAINING 268435455u

/* A view of a length-prefixed string or binary field inside a packet. */
struct mqtt_str {
    const char *s; /* not NUL-terminated; NULL when len is 0 and absent */
    uint16_t len;  /* bytes */
};

/* One framed packet: the fixed header decoded, the body located. */
struct mqtt_frame {
    uint8_t type;        /* enum mqtt_type */
    uint8_t flags;       /* low nibble of the first byte */
    const uint8_t *body; /* variable header + payload, body_len bytes */
    uint32_t body_len;   /* the remaining length */
    uint32_t total_len;  /* fixed header + body: bytes to consume */
};

/*
 * Finds one packet at the start of buf[0..len).
 * Returns MQ_OK and fills *f; MQ_EAGAIN when more bytes are needed (nothing
 * is filled); MQ_EMALFORMED for a remaining length longer than 4 bytes or a
 * packet type of 0; MQ_ETOOLARGE when total_len would exceed max_packet
 * (0 means no limit beyond the protocol's). Checks the fixed-header flags
 * the specification reserves (PUBREL/SUBSCRIBE/UNSUBSCRIBE must be 0x2, the
 * others 0x0, PUBLISH QoS 3 is malformed): MQ_EMALFORMED when wrong.
 * MQ_ETOOLARGE may be returned as soon as the length is known, before the
 * body has arrived, so a caller can refuse an oversized packet early.
 */
int mqtt_frame(const uint8_t *buf, size_t len, uint32_t max_packet, struct mqtt_frame *f);

struct mqtt_connect {
    uint8_t version;               /* enum mqtt_version (protocol level) */
    struct mqtt_str protocol_name; /* "MQTT" or "MQIsdp" */
    bool clean_start;              /* clean session (3.1.1) / clean start (5) */
    uint16_t keepalive;            /* seconds; 0 disables */
    struct mqtt_str client_id;     /* may be empty (len 0) */
    bool will;                     /* a will message is present */
    uint8_t will_qos;
    bool will_retain;
    struct mqtt_str will_topic;
    struct mqtt_str will_payload; /* binary */
    bool has_username;
    struct mqtt_str username;
    bool has_password;
    struct mqtt_str password; /* binary */
    const uint8_t *props;     /* MQTT_V5 only: CONNECT properties */
    uint32_t props_len;
    const uint8_t *will_props; /* MQTT_V5 only: will properties */
    uint32_t will_props_len;
};

/*
 * Decodes a CONNECT body.
 * Returns MQ_OK; MQ_EPROTOCOL with c->version set to the level seen when the
 * protocol name/level pair is unknown (the caller answers CONNACK rc 1 and
 * closes); MQ_EMALFORMED for reserved flag bit 0 set, will flags without
 * the will bit, will QoS 3, password without username (3.1.1), truncated or
 * trailing bytes; MQ_EUTF8 for bad UTF-8 or U+0000 in any string field.
 * A 3.1 ("MQIsdp", level 3) client id longer than 23 bytes is accepted here;
 * policy belongs to the caller.
 */
int mqtt_decode_connect(const struct mqtt_frame *f, struct mqtt_connect *c);

struct mqtt_publish {
    struct mqtt_str topic;
    uint8_t qos;
    bool retain;
    bool dup;
    uint16_t packet_id;     /* 0 for QoS 0 */
    const uint8_t *payload; /* may be NULL when payload_len is 0 */
    uint32_t payload_len;
    const uint8_t *props; /* MQTT_V5 only */
    uint32_t props_len;
};

/*
 * Decodes a PUBLISH body for the given protocol version.
 * Returns MQ_OK; MQ_EMALFORMED for truncation, packet id 0 with QoS > 0,
 * DUP set with QoS 0; MQ_EUTF8 for a bad topic string; MQ_EPROTOCOL for a
 * wildcard (+ or #) in the topic or an empty topic (MQTT_V5 allows an empty
 * topic only with a topic alias: that check is the caller's, so for
 * MQTT_V5 an empty topic is returned as MQ_OK).
 */
int mqtt_decode_publish(const struct mqtt_frame *f, uint8_t version, struct mqtt_publish *p);

/*
 * Decodes PUBACK, PUBREC, PUBREL, PUBCOMP (and UNSUBACK, for clients and
 * tests). For 3.1/3.1.1 the body must be exactly 2 bytes; for MQTT_V5 a
 * reason code and properties may follow (reason_code is 0 when absent).
 * Returns MQ_OK; MQ_EMALFORMED for a bad length or packet id 0.
 */
struct mqtt_ack {
    uint16_t packet_id;
    uint8_t reason_code;
    const uint8_t *props;
    uint32_t props_len;
};
int mqtt_decode_ack(const struct mqtt_frame *f, uint8_t version, struct mqtt_ack *a);

/*
 * SUBSCRIBE and UNSUBSCRIBE carry a list. mqtt_decode_subscribe() validates
 * the whole packet (at least one filter, each a valid UTF-8 topic filter per
 * section 4.7, requested QoS 0-2, reserved option bits 0) and returns an
 * iterator; mqtt_next_filter() then walks the entries without re-checking.
 * For UNSUBSCRIBE there is no options byte and options is set to 0.
 * Returns MQ_OK; MQ_EMALFORMED (no filters, packet id 0, truncation, bad
 * option bits or QoS 3); MQ_EUTF8; MQ_EPROTOCOL for an invalid filter
 * ("a/#/b", "a+", empty filter). A "$share/..." filter is syntax-checked as
 * a plain filter here.
 */
struct mqtt_sub_iter {
    const uint8_t *pos;
    const uint8_t *end;
    bool has_options; /* true for SUBSCRIBE */
};
struct mqtt_subscribe {
    uint16_t packet_id;
    const uint8_t *props; /* MQTT_V5 only */
    uint32_t props_len;
    uint32_t count; /* number of filters */
    struct mqtt_sub_iter iter;
};
int mqtt_decode_subscribe(const struct mqtt_frame *f, uint8_t version, struct mqtt_subscribe *s);
int mqtt_decode_unsubscribe(const struct mqtt_frame *f, uint8_t version, struct mqtt_subscribe *s);
/* Returns true and fills filter/options while entries remain. options is the
 * raw options byte: bits 0-1 QoS, and for MQTT_V5 no-local (bit 2),
 * retain-as-published (bit 3), retain handling (bits 4-5). */
bool mqtt_next_filter(struct mqtt_sub_iter *it, struct mqtt_str *filter, uint8_t *options);

/*
 * Decodes a DISCONNECT (or, with type MQTT_PINGREQ/PINGRESP, checks the body
 * is empty). For 3.1/3.1.1 the body must be empty. For MQTT_V5 an optional
 * reason code and properties. Returns MQ_OK or MQ_EMALFORMED.
 */
struct mqtt_disconnect {
    uint8_t reason_code;
    const uint8_t *props;
    uint32_t props_len;
};
int mqtt_decode_disconnect(const struct mqtt_frame *f, uint8_t version, struct mqtt_disconnect *d);
int mqtt_decode_empty(const struct mqtt_frame *f);

/* CONNACK/SUBACK decoding, for the test clients and the load generator. */
int mqtt_decode_connack(const struct mqtt_frame *f, uint8_t version, bool *session_present,
                        uint8_t *rc);
/* Fills up to max codes; *count gets the number present. */
int mqtt_decode_suback(const struct mqtt_frame *f, uint8_t version, uint16_t *packet_id,
                       uint8_t *codes, size_t max, size_t *count);

/*
 * Encoding. Each mqtt_encode_*() writes a complete packet into out, which
 * must have room for the size the matching *_size() function returns (or
 * the fixed size stated), and returns the number of bytes written.
 * Nothing is allocated. The MQTT_V5 forms are added by the MQTT 5 module;
 * these encoders produce 3.1/3.1.1 packets (identical wire forms).
 */

/* Writes the remaining-length varint of value (<= MQTT_MAX_REMAINING);
 * returns 1-4, the bytes written. */
size_t mqtt_encode_varint(uint8_t *out, uint32_t value);
/* Bytes a remaining-length varint of value takes: 1-4. */
size_t mqtt_varint_size(uint32_t value);

/* Field writers shared by the 3.1.1 and MQTT 5 encoders: a big-endian
 * 16-bit integer (2 bytes), and a length-prefixed string or binary field
 * (returns 2 + n, the bytes written; n <= 65535). */
void mqtt_put_u16(uint8_t *out, uint16_t v);
size_t mqtt_put_str(uint8_t *out, const void *s, size_t n);
/*
 * Reads a varint (remaining length, or an MQTT 5 property length) from
 * buf[0..len). Returns MQ_OK with *value and *used (1-4 bytes) filled;
 * MQ_EAGAIN when buf ends inside it (nothing filled); MQ_EMALFORMED when a
 * fourth byte still has its continuation bit set. Non-minimal encodings
 * (0x80 0x00 for 0) are accepted, as MQTT 3.1.1 does not forbid them.
 */
int mqtt_decode_varint(const uint8_t *buf, size_t len, uint32_t *value, size_t *used);

/* 4 bytes. */
size_t mqtt_encode_connack(uint8_t *out, bool session_present, uint8_t rc);
/* 4 bytes: PUBACK, PUBREC, PUBREL (flags 0x2 set for you), PUBCOMP, UNSUBACK. */
size_t mqtt_encode_ack(uint8_t *out, uint8_t type, uint16_t packet_id);
/* 2 bytes: PINGREQ, PINGRESP or DISCONNECT. */
size_t mqtt_encode_empty(uint8_t *out, uint8_t type);
/* 1 + varint + 2 + n bytes: see mqtt_suback_size(). */
size_t mqtt_suback_size(size_t n);
size_t mqtt_encode_suback(uint8_t *out, uint16_t packet_id, const uint8_t *codes, size_t n);

/*
 * PUBLISH. mqtt_publish_size() is the whole packet's size. The packet id
 * (when qos > 0) sits at offset *id_offset of the encoded packet, so a
 * caller can encode once and patch only the id per subscriber. Returns the
 * bytes written. topic_len must be <= 65535 and the total within
 * MQTT_MAX_REMAINING: callers check message_size_limit before.
 */
size_t mqtt_publish_size(size_t topic_len, size_t payload_len, uint8_t qos);
size_t mqtt_encode_publish(uint8_t *out, const char *topic, size_t topic_len,
                           const uint8_t *payload, size_t payload_len, uint8_t qos, bool retain,
                           bool dup, uint16_t packet_id, size_t *id_offset);

/* Client side, for tests and the load generator (3.1.1 only). */
struct mqtt_connect_opts {
    const char *client_id; /* NUL-terminated; "" allowed */
    uint16_t keepalive;
    bool clean_session;
    const char *username;   /* NULL: none */
    const char *password;   /* NULL: none */
    const char *will_topic; /* NULL: no will */
    const uint8_t *will_payload;
    size_t will_payload_len;
    uint8_t will_qos;
    bool will_retain;
};
size_t mqtt_connect_size(const struct mqtt_connect_opts *o);
size_t mqtt_encode_connect(uint8_t *out, const struct mqtt_connect_opts *o);
/* One filter with its requested QoS per entry; size then encode. */
size_t mqtt_subscribe_size(const char *const *filters, size_t n);
size_t mqtt_encode_subscribe(uint8_t *out, uint16_t packet_id, const char *const *filters,
                             const uint8_t *qos, size_t n);

/*
 * Returns MQ_OK when s[0..len) is well-formed UTF-8 as MQTT requires:
 * no overlong forms, no surrogates (U+D800-U+DFFF), nothing above
 * U+10FFFF, and no U+0000. MQ_EUTF8 otherwise.
 */
int mqtt_utf8_check(const char *s, size_t len);

#endif
