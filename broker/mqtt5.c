/*
 * mqtt5.c - MQTT 5.0 properties, reason codes and v5 packet encoders.
 *
 * This file decodes and validates MQTT 5 property blocks that mqtt_codec.c
 * located, copies and builds such blocks, and writes the MQTT 5 forms of the
 * packets. It is pure: no sockets, no allocation, no logging, no state
 * between calls; decoded strings point into the caller's buffer. It does not
 * frame packets or decode variable headers (mqtt_codec.c does), and it knows
 * nothing of sessions: limits negotiated in CONNECT/CONNACK are the caller's
 * to enforce. Section numbers below are those of the MQTT 5.0 specification.
 *
 * PROPERTY BLOCK (2.2.2)
 *
 *     Field            Type     Notes
 *     property length  varint   the bytes that follow; the codec reads it
 *     properties       ...      each: identifier (a varint; every defined id
 *                               is below 128, so one byte), then its value
 *
 * PROPERTY VALUE TYPES (1.5)
 *
 *     Type    Size          Encoding
 *     byte    1             unsigned byte
 *     u16     2             big-endian
 *     u32     4             big-endian
 *     varint  1 - 4         as the remaining length; must be minimal (1.5.5)
 *     string  2 + n         u16 length, UTF-8 as mqtt_utf8_check() requires
 *     binary  2 + n         u16 length, any bytes
 *     pair    2 + k + 2 + v two strings: key, then value
 *
 * PROPERTIES (2.2.2.2) and where each may appear. CONNECT means the CONNECT
 * variable header, Will the will properties in the CONNECT payload, ACK the
 * PUBACK, PUBREC, PUBREL and PUBCOMP packets. Anywhere else: malformed.
 *
 *     Id    Name                               Type    Allowed in
 *     0x01  Payload Format Indicator           byte    PUBLISH, Will
 *     0x02  Message Expiry Interval            u32     PUBLISH, Will
 *     0x03  Content Type                       string  PUBLISH, Will
 *     0x08  Response Topic                     string  PUBLISH, Will
 *     0x09  Correlation Data                   binary  PUBLISH, Will
 *     0x0B  Subscription Identifier            varint  PUBLISH, SUBSCRIBE
 *     0x11  Session Expiry Interval            u32     CONNECT, CONNACK, DISCONNECT
 *     0x12  Assigned Client Identifier         string  CONNACK
 *     0x13  Server Keep Alive                  u16     CONNACK
 *     0x15  Authentication Method              string  CONNECT, CONNACK, AUTH
 *     0x16  Authentication Data                binary  CONNECT, CONNACK, AUTH
 *     0x17  Request Problem Information        byte    CONNECT
 *     0x18  Will Delay Interval                u32     Will
 *     0x19  Request Response Information       byte    CONNECT
 *     0x1A  Response Information               string  CONNACK
 *     0x1C  Server Reference                   string  CONNACK, DISCONNECT
 *     0x1F  Reason String                      string  CONNACK, ACK, SUBACK, UNSUBACK,
 *                                                      DISCONNECT, AUTH
 *     0x21  Receive Maximum                    u16     CONNECT, CONNACK
 *     0x22  Topic Alias Maximum                u16     CONNECT, CONNACK
 *     0x23  Topic Alias                        u16     PUBLISH
 *     0x24  Maximum QoS                        byte    CONNACK
 *     0x25  Retain Available                   byte    CONNACK
 *     0x26  User Property                      pair    all but PINGREQ, PINGRESP
 *     0x27  Maximum Packet Size                u32     CONNECT, CONNACK
 *     0x28  Wildcard Subscription Available    byte    CONNACK
 *     0x29  Subscription Identifier Available  byte    CONNACK
 *     0x2A  Shared Subscription Available      byte    CONNACK
 *
 *     Repeats: User Property any number of times, keeping order; Subscription
 *     Identifier once per matching subscription in a PUBLISH the server sends
 *     (3.3.2.3.8); every other property at most once (protocol error).
 *     A client's PUBLISH must not carry a Subscription Identifier (3.3.4).
 *     Values that are protocol errors: see mqtt5_props_decode() in mqtt5.h.
 *
 * REASON CODES (2.4)
 *
 *     Code  Name                                  Packets
 *     0x00  Success / Normal disconnection /      CONNACK, ACK, UNSUBACK, AUTH /
 *           Granted QoS 0                         DISCONNECT / SUBACK
 *     0x01  Granted QoS 1                         SUBACK
 *     0x02  Granted QoS 2                         SUBACK
 *     0x04  Disconnect with Will Message          DISCONNECT
 *     0x10  No matching subscribers               PUBACK, PUBREC
 *     0x11  No subscription existed               UNSUBACK
 *     0x18  Continue authentication               AUTH
 *     0x19  Re-authenticate                       AUTH
 *     0x80  Unspecified error                     CONNACK, PUBACK, PUBREC, SUBACK,
 *                                                 UNSUBACK, DISCONNECT
 *     0x81  Malformed Packet                      CONNACK, DISCONNECT
 *     0x82  Protocol Error                        CONNACK, DISCONNECT
 *     0x83  Implementation specific error         CONNACK, PUBACK, PUBREC, SUBACK,
 *                                                 UNSUBACK, DISCONNECT
 *     0x84  Unsupported Protocol Version          CONNACK
 *     0x85  Client Identifier not valid           CONNACK
 *     0x86  Bad User Name or Password             CONNACK
 *     0x87  Not authorized                        CONNACK, PUBACK, PUBREC, SUBACK,
 *                                                 UNSUBACK, DISCONNECT
 *     0x88  Server unavailable                    CONNACK
 *     0x89  Server busy                           CONNACK, DISCONNECT
 *     0x8A  Banned                                CONNACK
 *     0x8B  Server shutting down                  DISCONNECT
 *     0x8C  Bad authentication method             CONNACK, DISCONNECT
 *     0x8D  Keep Alive timeout                    DISCONNECT
 *     0x8E  Session taken over                    DISCONNECT
 *     0x8F  Topic Filter invalid                  SUBACK, UNSUBACK, DISCONNECT
 *     0x90  Topic Name invalid                    CONNACK, PUBACK, PUBREC, DISCONNECT
 *     0x91  Packet Identifier in use              PUBACK, PUBREC, SUBACK, UNSUBACK
 *     0x92  Packet Identifier not found           PUBREL, PUBCOMP
 *     0x93  Receive Maximum exceeded              DISCONNECT
 *     0x94  Topic Alias invalid                   DISCONNECT
 *     0x95  Packet too large                      CONNACK, DISCONNECT
 *     0x96  Message rate too high                 DISCONNECT
 *     0x97  Quota exceeded                        CONNACK, PUBACK, PUBREC, SUBACK,
 *                                                 DISCONNECT
 *     0x98  Administrative action                 DISCONNECT
 *     0x99  Payload format invalid                CONNACK, PUBACK, PUBREC, DISCONNECT
 *     0x9A  Retain not supported                  CONNACK, DISCONNECT
 *     0x9B  QoS not supported                     CONNACK, DISCONNECT
 *     0x9C  Use another server                    CONNACK, DISCONNECT
 *     0x9D  Server moved                          CONNACK, DISCONNECT
 *     0x9E  Shared Subscriptions not supported    SUBACK, DISCONNECT
 *     0x9F  Connection rate exceeded              CONNACK, DISCONNECT
 *     0xA0  Maximum connect time                  DISCONNECT
 *     0xA1  Subscription Identifiers not          SUBACK, DISCONNECT
 *           supported
 *     0xA2  Wildcard Subscriptions not supported  SUBACK, DISCONNECT
 *
 * MQTT 5 PACKETS AS THE ENCODERS WRITE THEM (the field tables of
 * mqtt_codec.c give the rest; "props" is a property length and a block)
 *
 *     Packet       Body
 *     CONNECT      "MQTT" 5 flags keepalive props | client id [will props,
 *                  will topic, will payload] [user name] [password]
 *     CONNACK      ack flags, reason code, props (always)
 *     PUBLISH      topic [packet id] props payload
 *     PUBACK..     packet id                  when reason 0 and no props
 *     PUBCOMP      packet id, reason          when no props
 *                  packet id, reason, props   otherwise
 *     SUBSCRIBE    packet id, props, (filter, options byte) ...
 *     SUBACK       packet id, props, reason code ...
 *     UNSUBSCRIBE  packet id, props, filter ...
 *     UNSUBACK     packet id, props, reason code ...
 *     DISCONNECT   empty when reason 0 and no props; reason [props]
 *     AUTH         empty when reason 0 and no props; reason, props
 */
#include "mqtt5.h"

#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The wire type of a property's value. */
enum prop_type {
    T_NONE = 0, /* not a defined property id */
    T_BYTE,
    T_U16,
    T_U32,
    T_VARINT,
    T_STR,
    T_BIN,
    T_PAIR,
};

#define CTX(c)         (1u << (c))
#define IN_CONNECT     CTX(MQTT5_CTX_CONNECT)
#define IN_WILL        CTX(MQTT5_CTX_WILL)
#define IN_CONNACK     CTX(MQTT5_CTX_CONNACK)
#define IN_PUBLISH     (CTX(MQTT5_CTX_PUBLISH) | CTX(MQTT5_CTX_PUBLISH_OUT))
#define IN_ACK         CTX(MQTT5_CTX_ACK)
#define IN_SUBSCRIBE   CTX(MQTT5_CTX_SUBSCRIBE)
#define IN_SUBACK      CTX(MQTT5_CTX_SUBACK)
#define IN_UNSUBSCRIBE CTX(MQTT5_CTX_UNSUBSCRIBE)
#define IN_UNSUBACK    CTX(MQTT5_CTX_UNSUBACK)
#define IN_DISCONNECT  CTX(MQTT5_CTX_DISCONNECT)
#define IN_AUTH        CTX(MQTT5_CTX_AUTH)
#define IN_ALL         (CTX(MQTT5_CTX_COUNT) - 1)

/* The PROPERTIES table of the file comment, indexed by id. */
static const struct prop_info {
    uint8_t type;   /* enum prop_type; T_NONE for an undefined id */
    uint16_t where; /* CTX(ctx) for each context that allows the property */
    const char *name;
} prop_table[MQTT5_PROP_SHARED_SUB_AVAILABLE + 1] = {
    [MQTT5_PROP_PAYLOAD_FORMAT_INDICATOR] = {T_BYTE, IN_PUBLISH | IN_WILL,
                                             "Payload Format Indicator"},
    [MQTT5_PROP_MESSAGE_EXPIRY_INTERVAL] = {T_U32, IN_PUBLISH | IN_WILL, "Message Expiry Interval"},
    [MQTT5_PROP_CONTENT_TYPE] = {T_STR, IN_PUBLISH | IN_WILL, "Content Type"},
    [MQTT5_PROP_RESPONSE_TOPIC] = {T_STR, IN_PUBLISH | IN_WILL, "Response Topic"},
    [MQTT5_PROP_CORRELATION_DATA] = {T_BIN, IN_PUBLISH | IN_WILL, "Correlation Data"},
    [MQTT5_PROP_SUBSCRIPTION_IDENTIFIER] = {T_VARINT, IN_PUBLISH | IN_SUBSCRIBE,
                                            "Subscription Identifier"},
    [MQTT5_PROP_SESSION_EXPIRY_INTERVAL] = {T_U32, IN_CONNECT | IN_CONNACK | IN_DISCONNECT,
                                            "Session Expiry Interval"},
    [MQTT5_PROP_ASSIGNED_CLIENT_IDENTIFIER] = {T_STR, IN_CONNACK, "Assigned Client Identifier"},
    [MQTT5_PROP_SERVER_KEEP_ALIVE] = {T_U16, IN_CONNACK, "Server Keep Alive"},
    [MQTT5_PROP_AUTHENTICATION_METHOD] = {T_STR, IN_CONNECT | IN_CONNACK | IN_AUTH,
                                          "Authentication Method"},
    [MQTT5_PROP_AUTHENTICATION_DATA] = {T_BIN, IN_CONNECT | IN_CONNACK | IN_AUTH,
                                        "Authentication Data"},
    [MQTT5_PROP_REQUEST_PROBLEM_INFORMATION] = {T_BYTE, IN_CONNECT, "Request Problem Information"},
    [MQTT5_PROP_WILL_DELAY_INTERVAL] = {T_U32, IN_WILL, "Will Delay Interval"},
    [MQTT5_PROP_REQUEST_RESPONSE_INFORMATION] = {T_BYTE, IN_CONNECT,
                                                 "Request Response Information"},
    [MQTT5_PROP_RESPONSE_INFORMATION] = {T_STR, IN_CONNACK, "Response Information"},
    [MQTT5_PROP_SERVER_REFERENCE] = {T_STR, IN_CONNACK | IN_DISCONNECT, "Server Reference"},
    [MQTT5_PROP_REASON_STRING] = {T_STR,
                                  IN_CONNACK | IN_ACK | IN_SUBACK | IN_UNSUBACK | IN_DISCONNECT |
                                      IN_AUTH,
                                  "Reason String"},
    [MQTT5_PROP_RECEIVE_MAXIMUM] = {T_U16, IN_CONNECT | IN_CONNACK, "Receive Maximum"},
    [MQTT5_PROP_TOPIC_ALIAS_MAXIMUM] = {T_U16, IN_CONNECT | IN_CONNACK, "Topic Alias Maximum"},
    [MQTT5_PROP_TOPIC_ALIAS] = {T_U16, IN_PUBLISH, "Topic Alias"},
    [MQTT5_PROP_MAXIMUM_QOS] = {T_BYTE, IN_CONNACK, "Maximum QoS"},
    [MQTT5_PROP_RETAIN_AVAILABLE] = {T_BYTE, IN_CONNACK, "Retain Available"},
    [MQTT5_PROP_USER_PROPERTY] = {T_PAIR, IN_ALL, "User Property"},
    [MQTT5_PROP_MAXIMUM_PACKET_SIZE] = {T_U32, IN_CONNECT | IN_CONNACK, "Maximum Packet Size"},
    [MQTT5_PROP_WILDCARD_SUB_AVAILABLE] = {T_BYTE, IN_CONNACK, "Wildcard Subscription Available"},
    [MQTT5_PROP_SUBSCRIPTION_ID_AVAILABLE] = {T_BYTE, IN_CONNACK,
                                              "Subscription Identifier Available"},
    [MQTT5_PROP_SHARED_SUB_AVAILABLE] = {T_BYTE, IN_CONNACK, "Shared Subscription Available"},
};

/* The REASON CODES table's names, indexed by code; NULL where undefined. */
static const char *const reason_text[256] = {
    [MQTT5_RC_SUCCESS] = "Success",
    [MQTT5_RC_GRANTED_QOS1] = "Granted QoS 1",
    [MQTT5_RC_GRANTED_QOS2] = "Granted QoS 2",
    [MQTT5_RC_DISCONNECT_WITH_WILL] = "Disconnect with Will Message",
    [MQTT5_RC_NO_MATCHING_SUBSCRIBERS] = "No matching subscribers",
    [MQTT5_RC_NO_SUBSCRIPTION_EXISTED] = "No subscription existed",
    [MQTT5_RC_CONTINUE_AUTHENTICATION] = "Continue authentication",
    [MQTT5_RC_REAUTHENTICATE] = "Re-authenticate",
    [MQTT5_RC_UNSPECIFIED_ERROR] = "Unspecified error",
    [MQTT5_RC_MALFORMED_PACKET] = "Malformed Packet",
    [MQTT5_RC_PROTOCOL_ERROR] = "Protocol Error",
    [MQTT5_RC_IMPLEMENTATION_SPECIFIC_ERROR] = "Implementation specific error",
    [MQTT5_RC_UNSUPPORTED_PROTOCOL_VERSION] = "Unsupported Protocol Version",
    [MQTT5_RC_CLIENT_ID_NOT_VALID] = "Client Identifier not valid",
    [MQTT5_RC_BAD_USERNAME_OR_PASSWORD] = "Bad User Name or Password",
    [MQTT5_RC_NOT_AUTHORIZED] = "Not authorized",
    [MQTT5_RC_SERVER_UNAVAILABLE] = "Server unavailable",
    [MQTT5_RC_SERVER_BUSY] = "Server busy",
    [MQTT5_RC_BANNED] = "Banned",
    [MQTT5_RC_SERVER_SHUTTING_DOWN] = "Server shutting down",
    [MQTT5_RC_BAD_AUTHENTICATION_METHOD] = "Bad authentication method",
    [MQTT5_RC_KEEP_ALIVE_TIMEOUT] = "Keep Alive timeout",
    [MQTT5_RC_SESSION_TAKEN_OVER] = "Session taken over",
    [MQTT5_RC_TOPIC_FILTER_INVALID] = "Topic Filter invalid",
    [MQTT5_RC_TOPIC_NAME_INVALID] = "Topic Name invalid",
    [MQTT5_RC_PACKET_ID_IN_USE] = "Packet Identifier in use",
    [MQTT5_RC_PACKET_ID_NOT_FOUND] = "Packet Identifier not found",
    [MQTT5_RC_RECEIVE_MAXIMUM_EXCEEDED] = "Receive Maximum exceeded",
    [MQTT5_RC_TOPIC_ALIAS_INVALID] = "Topic Alias invalid",
    [MQTT5_RC_PACKET_TOO_LARGE] = "Packet too large",
    [MQTT5_RC_MESSAGE_RATE_TOO_HIGH] = "Message rate too high",
    [MQTT5_RC_QUOTA_EXCEEDED] = "Quota exceeded",
    [MQTT5_RC_ADMINISTRATIVE_ACTION] = "Administrative action",
    [MQTT5_RC_PAYLOAD_FORMAT_INVALID] = "Payload format invalid",
    [MQTT5_RC_RETAIN_NOT_SUPPORTED] = "Retain not supported",
    [MQTT5_RC_QOS_NOT_SUPPORTED] = "QoS not supported",
    [MQTT5_RC_USE_ANOTHER_SERVER] = "Use another server",
    [MQTT5_RC_SERVER_MOVED] = "Server moved",
    [MQTT5_RC_SHARED_SUBS_NOT_SUPPORTED] = "Shared Subscriptions not supported",
    [MQTT5_RC_CONNECTION_RATE_EXCEEDED] = "Connection rate exceeded",
    [MQTT5_RC_MAXIMUM_CONNECT_TIME] = "Maximum connect time",
    [MQTT5_RC_SUBSCRIPTION_IDS_NOT_SUPPORTED] = "Subscription Identifiers not supported",
    [MQTT5_RC_WILDCARD_SUBS_NOT_SUPPORTED] = "Wildcard Subscriptions not supported",
};

const char *mqtt5_reason_string(uint8_t rc)
{
    return reason_text[rc] ? reason_text[rc] : "Unknown reason code";
}

uint8_t mqtt5_reason_for_error(int mq_err)
{
    switch (mq_err) {
    case MQ_OK:
        return MQTT5_RC_SUCCESS;
    case MQ_EMALFORMED:
    case MQ_EUTF8:
    case MQ_EAGAIN:
        return MQTT5_RC_MALFORMED_PACKET;
    case MQ_EPROTOCOL:
        return MQTT5_RC_PROTOCOL_ERROR;
    case MQ_ETOOLARGE:
        return MQTT5_RC_PACKET_TOO_LARGE;
    case MQ_EDENIED:
        return MQTT5_RC_NOT_AUTHORIZED;
    case MQ_EFULL:
        return MQTT5_RC_QUOTA_EXCEEDED;
    default:
        return MQTT5_RC_UNSPECIFIED_ERROR;
    }
}

const char *mqtt5_prop_name(uint8_t id)
{
    if (id < COUNT(prop_table) && prop_table[id].type != T_NONE)
        return prop_table[id].name;
    return "Unknown property";
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Finds the extent of the property at *pos, which must be before end.
 * Returns MQ_OK with *id set, the value at val[0..*val_len) and *pos moved
 * past the property; MQ_EMALFORMED (nothing moved) for an undefined id or a
 * value that does not fit before end. Checks sizes only, not contents: this
 * is the one place that knows how long each type is.
 */
static int prop_next(const uint8_t **pos, const uint8_t *end, uint8_t *id, const uint8_t **val,
                     size_t *val_len)
{
    const uint8_t *p = *pos + 1;
    size_t left = (size_t)(end - p), need, used;
    uint32_t v;

    *id = **pos;
    if (*id >= COUNT(prop_table))
        return MQ_EMALFORMED; /* bit 7 set (a longer varint) lands here too */
    switch (prop_table[*id].type) {
    case T_BYTE:
        need = 1;
        break;
    case T_U16:
        need = 2;
        break;
    case T_U32:
        need = 4;
        break;
    case T_VARINT:
        if (mqtt_decode_varint(p, left, &v, &used) != MQ_OK)
            return MQ_EMALFORMED;
        need = used;
        break;
    case T_STR:
    case T_BIN:
        if (left < 2)
            return MQ_EMALFORMED;
        need = 2 + (size_t)get_u16(p);
        break;
    case T_PAIR:
        if (left < 2)
            return MQ_EMALFORMED;
        need = 2 + (size_t)get_u16(p);
        if (left < need + 2)
            return MQ_EMALFORMED;
        need += 2 + (size_t)get_u16(p + need);
        break;
    default:
        return MQ_EMALFORMED;
    }
    if (left < need)
        return MQ_EMALFORMED;
    *val = p;
    *val_len = need;
    *pos = p + need;
    return MQ_OK;
}

/* The string or binary field at p (its length prefix already known to fit). */
static struct mqtt_str get_str(const uint8_t *p)
{
    struct mqtt_str s;

    s.len = get_u16(p);
    s.s = (const char *)p + 2;
    return s;
}

/* A Response Topic must be usable as a topic name: not empty, no wildcard. */
static bool topic_name_ok(const struct mqtt_str *t)
{
    return t->len > 0 && !memchr(t->s, '+', t->len) && !memchr(t->s, '#', t->len);
}

/*
 * Checks one property found in ctx, whose value is val[0..n) as
 * prop_next() measured it, and stores it in *o. Returns MQ_OK or the error
 * mqtt5_props_decode() documents.
 */
static int prop_store(struct mqtt5_props *o, enum mqtt5_ctx ctx, uint8_t id, const uint8_t *val,
                      size_t n)
{
    const struct prop_info *info = &prop_table[id];
    uint64_t bit = (uint64_t)1 << id;
    struct mqtt_str s = {0}, v = {0};
    uint32_t num = 0;
    size_t used;
    bool repeats;
    int rc;

    if (!(info->where & CTX(ctx)))
        return MQ_EMALFORMED; /* 2.2.2.2: an id not valid for the packet */
    repeats = id == MQTT5_PROP_USER_PROPERTY ||
              (id == MQTT5_PROP_SUBSCRIPTION_IDENTIFIER && ctx == MQTT5_CTX_PUBLISH_OUT);
    if ((o->present & bit) && !repeats)
        return MQ_EPROTOCOL;
    o->present |= bit;

    switch (info->type) {
    case T_BYTE:
        num = val[0];
        break;
    case T_U16:
        num = get_u16(val);
        break;
    case T_U32:
        num = get_u32(val);
        break;
    case T_VARINT:
        if (mqtt_decode_varint(val, n, &num, &used) != MQ_OK || used != mqtt_varint_size(num))
            return MQ_EMALFORMED;
        break;
    case T_STR:
        s = get_str(val);
        rc = mqtt_utf8_check(s.s, s.len);
        if (rc != MQ_OK)
            return rc;
        break;
    case T_BIN:
        s = get_str(val);
        break;
    case T_PAIR:
        s = get_str(val);
        v = get_str(val + 2 + s.len);
        rc = mqtt_utf8_check(s.s, s.len);
        if (rc == MQ_OK)
            rc = mqtt_utf8_check(v.s, v.len);
        if (rc != MQ_OK)
            return rc;
        break;
    }

    switch (id) {
    case MQTT5_PROP_PAYLOAD_FORMAT_INDICATOR:
        o->payload_format = (uint8_t)num;
        return num > 1 ? MQ_EPROTOCOL : MQ_OK;
    case MQTT5_PROP_MESSAGE_EXPIRY_INTERVAL:
        o->message_expiry = num;
        return MQ_OK;
    case MQTT5_PROP_CONTENT_TYPE:
        o->content_type = s;
        return MQ_OK;
    case MQTT5_PROP_RESPONSE_TOPIC:
        o->response_topic = s;
        return topic_name_ok(&s) ? MQ_OK : MQ_EPROTOCOL;
    case MQTT5_PROP_CORRELATION_DATA:
        o->correlation_data = s;
        return MQ_OK;
    case MQTT5_PROP_SUBSCRIPTION_IDENTIFIER:
        if (ctx == MQTT5_CTX_PUBLISH || num == 0 || num > MQTT5_MAX_SUBID)
            return MQ_EPROTOCOL;
        if (o->subid_count < MQTT5_MAX_SUBIDS)
            o->subid[o->subid_count] = num;
        o->subid_count++;
        return MQ_OK;
    case MQTT5_PROP_SESSION_EXPIRY_INTERVAL:
        o->session_expiry = num;
        return MQ_OK;
    case MQTT5_PROP_ASSIGNED_CLIENT_IDENTIFIER:
        o->assigned_client_id = s;
        return MQ_OK;
    case MQTT5_PROP_SERVER_KEEP_ALIVE:
        o->server_keepalive = (uint16_t)num;
        return MQ_OK;
    case MQTT5_PROP_AUTHENTICATION_METHOD:
        o->auth_method = s;
        return MQ_OK;
    case MQTT5_PROP_AUTHENTICATION_DATA:
        o->auth_data = s;
        return MQ_OK;
    case MQTT5_PROP_REQUEST_PROBLEM_INFORMATION:
        o->request_problem_info = (uint8_t)num;
        return num > 1 ? MQ_EPROTOCOL : MQ_OK;
    case MQTT5_PROP_WILL_DELAY_INTERVAL:
        o->will_delay = num;
        return MQ_OK;
    case MQTT5_PROP_REQUEST_RESPONSE_INFORMATION:
        o->request_response_info = (uint8_t)num;
        return num > 1 ? MQ_EPROTOCOL : MQ_OK;
    case MQTT5_PROP_RESPONSE_INFORMATION:
        o->response_info = s;
        return MQ_OK;
    case MQTT5_PROP_SERVER_REFERENCE:
        o->server_reference = s;
        return MQ_OK;
    case MQTT5_PROP_REASON_STRING:
        o->reason_string = s;
        return MQ_OK;
    case MQTT5_PROP_RECEIVE_MAXIMUM:
        o->receive_maximum = (uint16_t)num;
        return num == 0 ? MQ_EPROTOCOL : MQ_OK;
    case MQTT5_PROP_TOPIC_ALIAS_MAXIMUM:
        o->topic_alias_maximum = (uint16_t)num;
        return MQ_OK;
    case MQTT5_PROP_TOPIC_ALIAS:
        o->topic_alias = (uint16_t)num;
        return num == 0 ? MQ_EPROTOCOL : MQ_OK;
    case MQTT5_PROP_MAXIMUM_QOS:
        o->maximum_qos = (uint8_t)num;
        return num > 1 ? MQ_EPROTOCOL : MQ_OK;
    case MQTT5_PROP_RETAIN_AVAILABLE:
        o->retain_available = (uint8_t)num;
        return num > 1 ? MQ_EPROTOCOL : MQ_OK;
    case MQTT5_PROP_USER_PROPERTY:
        o->user_count++;
        return MQ_OK;
    case MQTT5_PROP_MAXIMUM_PACKET_SIZE:
        o->maximum_packet_size = num;
        return num == 0 ? MQ_EPROTOCOL : MQ_OK;
    case MQTT5_PROP_WILDCARD_SUB_AVAILABLE:
        o->wildcard_sub_available = (uint8_t)num;
        return num > 1 ? MQ_EPROTOCOL : MQ_OK;
    case MQTT5_PROP_SUBSCRIPTION_ID_AVAILABLE:
        o->subid_available = (uint8_t)num;
        return num > 1 ? MQ_EPROTOCOL : MQ_OK;
    case MQTT5_PROP_SHARED_SUB_AVAILABLE:
        o->shared_sub_available = (uint8_t)num;
        return num > 1 ? MQ_EPROTOCOL : MQ_OK;
    }
    return MQ_EMALFORMED; /* not reached: prop_next() refuses undefined ids */
}

int mqtt5_props_decode(const uint8_t *p, uint32_t len, enum mqtt5_ctx ctx, struct mqtt5_props *out)
{
    const uint8_t *pos = p, *end = p ? p + len : p;

    memset(out, 0, sizeof(*out));
    if ((unsigned)ctx >= MQTT5_CTX_COUNT || (!p && len))
        return MQ_EINVAL;
    out->raw = p;
    out->raw_len = len;
    while (pos != end) {
        const uint8_t *val;
        size_t n;
        uint8_t id;
        int rc = prop_next(&pos, end, &id, &val, &n);

        if (rc == MQ_OK)
            rc = prop_store(out, ctx, id, val, n);
        if (rc != MQ_OK) {
            out->bad_id = id;
            return rc;
        }
    }
    /* 3.1.2.11.10: Authentication Data without a method is a protocol error. */
    if (ctx == MQTT5_CTX_CONNECT && mqtt5_has(out, MQTT5_PROP_AUTHENTICATION_DATA) &&
        !mqtt5_has(out, MQTT5_PROP_AUTHENTICATION_METHOD)) {
        out->bad_id = MQTT5_PROP_AUTHENTICATION_DATA;
        return MQ_EPROTOCOL;
    }
    return MQ_OK;
}

void mqtt5_user_iter_init(struct mqtt5_user_iter *it, const struct mqtt5_props *props)
{
    it->pos = props->raw;
    it->end = props->raw ? props->raw + props->raw_len : props->raw;
}

bool mqtt5_user_next(struct mqtt5_user_iter *it, struct mqtt_str *key, struct mqtt_str *value)
{
    while (it->pos && it->pos < it->end) {
        const uint8_t *val;
        size_t n;
        uint8_t id;

        if (prop_next(&it->pos, it->end, &id, &val, &n) != MQ_OK) {
            it->pos = it->end;
            return false;
        }
        if (id == MQTT5_PROP_USER_PROPERTY) {
            *key = get_str(val);
            *value = get_str(val + 2 + key->len);
            return true;
        }
    }
    return false;
}

static bool id_listed(uint8_t id, const uint8_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == id)
            return true;
    }
    return false;
}

size_t mqtt5_props_filter(const uint8_t *in, uint32_t len, uint8_t *out, const uint8_t *drop_ids,
                          size_t ndrop)
{
    const uint8_t *pos = in, *end = in ? in + len : in;
    size_t n = 0;

    while (pos != end) {
        const uint8_t *start = pos, *val;
        size_t val_len;
        uint8_t id;

        if (prop_next(&pos, end, &id, &val, &val_len) != MQ_OK)
            break;
        if (!id_listed(id, drop_ids, ndrop)) {
            memcpy(out + n, start, (size_t)(pos - start));
            n += (size_t)(pos - start);
        }
    }
    return n;
}

/* ---- the property writer ---- */

void mqtt5_writer_init(struct mqtt5_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = buf ? cap : 0;
    w->len = 0;
    w->overflow = false;
}

/* Appends n bytes, or only counts them; see struct mqtt5_writer. */
static void w_bytes(struct mqtt5_writer *w, const void *src, size_t n)
{
    if (w->buf && !w->overflow) {
        if (n > w->cap - w->len)
            w->overflow = true;
        else if (n)
            memcpy(w->buf + w->len, src, n);
    }
    w->len += n;
}

/* Appends a u16-length-prefixed field. */
static void w_field(struct mqtt5_writer *w, const void *data, size_t n)
{
    uint8_t hdr[2] = {(uint8_t)(n >> 8), (uint8_t)(n & 0xFF)};

    w_bytes(w, hdr, 2);
    w_bytes(w, data, n);
}

void mqtt5_put_u8(struct mqtt5_writer *w, uint8_t id, uint8_t v)
{
    uint8_t b[2] = {id, v};

    w_bytes(w, b, sizeof(b));
}

void mqtt5_put_u16(struct mqtt5_writer *w, uint8_t id, uint16_t v)
{
    uint8_t b[3] = {id, (uint8_t)(v >> 8), (uint8_t)(v & 0xFF)};

    w_bytes(w, b, sizeof(b));
}

void mqtt5_put_u32(struct mqtt5_writer *w, uint8_t id, uint32_t v)
{
    uint8_t b[5] = {id, (uint8_t)(v >> 24), (uint8_t)(v >> 16 & 0xFF), (uint8_t)(v >> 8 & 0xFF),
                    (uint8_t)(v & 0xFF)};

    w_bytes(w, b, sizeof(b));
}

void mqtt5_put_varint(struct mqtt5_writer *w, uint8_t id, uint32_t v)
{
    uint8_t b[5];

    if (v > MQTT_MAX_REMAINING) {
        w->overflow = true;
        return;
    }
    b[0] = id;
    w_bytes(w, b, 1 + mqtt_encode_varint(b + 1, v));
}

void mqtt5_put_str(struct mqtt5_writer *w, uint8_t id, const char *s, size_t n)
{
    mqtt5_put_bin(w, id, s, n);
}

void mqtt5_put_bin(struct mqtt5_writer *w, uint8_t id, const void *data, size_t n)
{
    if (n > UINT16_MAX) {
        w->overflow = true;
        return;
    }
    w_bytes(w, &id, 1);
    w_field(w, data, n);
}

void mqtt5_put_pair(struct mqtt5_writer *w, const char *key, size_t key_len, const char *value,
                    size_t value_len)
{
    uint8_t id = MQTT5_PROP_USER_PROPERTY;

    if (key_len > UINT16_MAX || value_len > UINT16_MAX) {
        w->overflow = true;
        return;
    }
    w_bytes(w, &id, 1);
    w_field(w, key, key_len);
    w_field(w, value, value_len);
}

void mqtt5_put_raw(struct mqtt5_writer *w, const uint8_t *block, size_t n)
{
    w_bytes(w, block, n);
}

size_t mqtt5_props_size(uint32_t props_len)
{
    return mqtt_varint_size(props_len) + props_len;
}

/* ---- packet encoders ---- */

static size_t put_props(uint8_t *out, const uint8_t *props, uint32_t n)
{
    size_t pos = mqtt_encode_varint(out, n);

    if (n)
        memcpy(out + pos, props, n);
    return pos + n;
}

/* Writes the fixed header of a packet with `remaining` body bytes. */
static size_t put_header(uint8_t *out, uint8_t first, size_t remaining)
{
    out[0] = first;
    return 1 + mqtt_encode_varint(out + 1, (uint32_t)remaining);
}

/* A whole packet's size from its remaining length. */
static size_t packet_size(size_t remaining)
{
    return 1 + mqtt_varint_size((uint32_t)remaining) + remaining;
}

size_t mqtt5_connack_size(uint32_t props_len)
{
    return packet_size(2 + mqtt5_props_size(props_len));
}

size_t mqtt5_encode_connack(uint8_t *out, bool session_present, uint8_t reason,
                            const uint8_t *props, uint32_t props_len)
{
    size_t pos = put_header(out, MQTT_CONNACK << 4, 2 + mqtt5_props_size(props_len));

    out[pos++] = session_present ? 1 : 0;
    out[pos++] = reason;
    return pos + put_props(out + pos, props, props_len);
}

static size_t publish_remaining(size_t topic_len, uint32_t props_len, size_t payload_len,
                                uint8_t qos)
{
    return 2 + topic_len + (qos ? 2 : 0) + mqtt5_props_size(props_len) + payload_len;
}

size_t mqtt5_publish_size(size_t topic_len, uint32_t props_len, size_t payload_len, uint8_t qos)
{
    return packet_size(publish_remaining(topic_len, props_len, payload_len, qos & 3));
}

size_t mqtt5_encode_publish(uint8_t *out, const char *topic, size_t topic_len, const uint8_t *props,
                            uint32_t props_len, const uint8_t *payload, size_t payload_len,
                            uint8_t qos, bool retain, bool dup, uint16_t packet_id,
                            size_t *id_offset)
{
    uint8_t first;
    size_t pos;

    qos &= 3;
    first = (uint8_t)(MQTT_PUBLISH << 4 | (dup ? 0x08 : 0) | qos << 1 | (retain ? 1 : 0));
    pos = put_header(out, first, publish_remaining(topic_len, props_len, payload_len, qos));
    pos += mqtt_put_str(out + pos, topic, topic_len);
    if (id_offset)
        *id_offset = qos ? pos : 0;
    if (qos) {
        mqtt_put_u16(out + pos, packet_id);
        pos += 2;
    }
    pos += put_props(out + pos, props, props_len);
    if (payload_len)
        memcpy(out + pos, payload, payload_len);
    return pos + payload_len;
}

static size_t ack_remaining(uint8_t reason, uint32_t props_len)
{
    if (props_len)
        return 3 + mqtt5_props_size(props_len);
    return reason ? 3 : 2;
}

size_t mqtt5_ack_size(uint8_t reason, uint32_t props_len)
{
    return packet_size(ack_remaining(reason, props_len));
}

size_t mqtt5_encode_ack(uint8_t *out, uint8_t type, uint16_t packet_id, uint8_t reason,
                        const uint8_t *props, uint32_t props_len)
{
    size_t rem = ack_remaining(reason, props_len);
    size_t pos = put_header(out, (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 0x2 : 0)), rem);

    mqtt_put_u16(out + pos, packet_id);
    pos += 2;
    if (rem > 2)
        out[pos++] = reason;
    if (props_len)
        pos += put_props(out + pos, props, props_len);
    return pos;
}

size_t mqtt5_suback_size(size_t n, uint32_t props_len)
{
    return packet_size(2 + mqtt5_props_size(props_len) + n);
}

/* SUBACK and UNSUBACK share one layout. */
static size_t encode_sub_reply(uint8_t *out, uint8_t type, uint16_t packet_id, const uint8_t *codes,
                               size_t n, const uint8_t *props, uint32_t props_len)
{
    size_t pos = put_header(out, (uint8_t)(type << 4), 2 + mqtt5_props_size(props_len) + n);

    mqtt_put_u16(out + pos, packet_id);
    pos += 2;
    pos += put_props(out + pos, props, props_len);
    if (n)
        memcpy(out + pos, codes, n);
    return pos + n;
}

size_t mqtt5_encode_suback(uint8_t *out, uint16_t packet_id, const uint8_t *codes, size_t n,
                           const uint8_t *props, uint32_t props_len)
{
    return encode_sub_reply(out, MQTT_SUBACK, packet_id, codes, n, props, props_len);
}

size_t mqtt5_encode_unsuback(uint8_t *out, uint16_t packet_id, const uint8_t *codes, size_t n,
                             const uint8_t *props, uint32_t props_len)
{
    return encode_sub_reply(out, MQTT_UNSUBACK, packet_id, codes, n, props, props_len);
}

/* The body of DISCONNECT (always_props false) or AUTH (true). */
static size_t reason_remaining(uint8_t reason, uint32_t props_len, bool always_props)
{
    if (reason == 0 && props_len == 0)
        return 0;
    if (props_len == 0 && !always_props)
        return 1;
    return 1 + mqtt5_props_size(props_len);
}

static size_t encode_reason_packet(uint8_t *out, uint8_t type, uint8_t reason, const uint8_t *props,
                                   uint32_t props_len, bool always_props)
{
    size_t rem = reason_remaining(reason, props_len, always_props);
    size_t pos = put_header(out, (uint8_t)(type << 4), rem);

    if (rem == 0)
        return pos;
    out[pos++] = reason;
    if (rem > 1)
        pos += put_props(out + pos, props, props_len);
    return pos;
}

size_t mqtt5_disconnect_size(uint8_t reason, uint32_t props_len)
{
    return packet_size(reason_remaining(reason, props_len, false));
}

size_t mqtt5_encode_disconnect(uint8_t *out, uint8_t reason, const uint8_t *props,
                               uint32_t props_len)
{
    return encode_reason_packet(out, MQTT_DISCONNECT, reason, props, props_len, false);
}

size_t mqtt5_auth_size(uint8_t reason, uint32_t props_len)
{
    return packet_size(reason_remaining(reason, props_len, true));
}

size_t mqtt5_encode_auth(uint8_t *out, uint8_t reason, const uint8_t *props, uint32_t props_len)
{
    return encode_reason_packet(out, MQTT_AUTH, reason, props, props_len, true);
}

int mqtt5_decode_auth(const struct mqtt_frame *f, struct mqtt5_auth *a)
{
    uint32_t n;
    size_t used;

    memset(a, 0, sizeof(*a));
    if (f->type != MQTT_AUTH || (!f->body && f->body_len))
        return MQ_EINVAL;
    if (f->flags != 0)
        return MQ_EMALFORMED;
    if (f->body_len == 0)
        return MQ_OK;
    a->reason_code = f->body[0];
    if (f->body_len == 1)
        return MQ_OK;
    if (mqtt_decode_varint(f->body + 1, f->body_len - 1, &n, &used) != MQ_OK)
        return MQ_EMALFORMED;
    if (n != f->body_len - 1 - used)
        return MQ_EMALFORMED; /* truncated, or bytes after the properties */
    a->props = f->body + 1 + used;
    a->props_len = n;
    return MQ_OK;
}

/* ---- client-side encoders ---- */

static size_t connect_remaining(const struct mqtt5_connect_opts *o)
{
    const struct mqtt_connect_opts *b = &o->base;
    size_t n = 10 + mqtt5_props_size(o->props_len) + 2 + strlen(b->client_id);

    if (b->will_topic)
        n += mqtt5_props_size(o->will_props_len) + 2 + strlen(b->will_topic) + 2 +
             b->will_payload_len;
    if (b->username)
        n += 2 + strlen(b->username);
    if (b->password)
        n += 2 + strlen(b->password);
    return n;
}

size_t mqtt5_connect_size(const struct mqtt5_connect_opts *o)
{
    return packet_size(connect_remaining(o));
}

size_t mqtt5_encode_connect(uint8_t *out, const struct mqtt5_connect_opts *o)
{
    const struct mqtt_connect_opts *b = &o->base;
    uint8_t flags = 0;
    size_t pos;

    if (b->clean_session)
        flags |= 0x02;
    if (b->will_topic)
        flags |= (uint8_t)(0x04 | (b->will_qos & 3) << 3 | (b->will_retain ? 0x20 : 0));
    if (b->password)
        flags |= 0x40;
    if (b->username)
        flags |= 0x80;

    pos = put_header(out, MQTT_CONNECT << 4, connect_remaining(o));
    pos += mqtt_put_str(out + pos, "MQTT", 4);
    out[pos++] = MQTT_V5;
    out[pos++] = flags;
    mqtt_put_u16(out + pos, b->keepalive);
    pos += 2;
    pos += put_props(out + pos, o->props, o->props_len);
    pos += mqtt_put_str(out + pos, b->client_id, strlen(b->client_id));
    if (b->will_topic) {
        pos += put_props(out + pos, o->will_props, o->will_props_len);
        pos += mqtt_put_str(out + pos, b->will_topic, strlen(b->will_topic));
        pos += mqtt_put_str(out + pos, b->will_payload, b->will_payload_len);
    }
    if (b->username)
        pos += mqtt_put_str(out + pos, b->username, strlen(b->username));
    if (b->password)
        pos += mqtt_put_str(out + pos, b->password, strlen(b->password));
    return pos;
}

/* SUBSCRIBE (with_options) and UNSUBSCRIBE remaining lengths. */
static size_t sub_remaining(const char *const *filters, size_t n, uint32_t props_len,
                            bool with_options)
{
    size_t rem = 2 + mqtt5_props_size(props_len);

    for (size_t i = 0; i < n; i++)
        rem += 2 + strlen(filters[i]) + (with_options ? 1 : 0);
    return rem;
}

/* SUBSCRIBE (options[i] after each filter) and UNSUBSCRIBE (options NULL). */
static size_t encode_sub_list(uint8_t *out, uint8_t type, uint16_t packet_id,
                              const char *const *filters, const uint8_t *options, size_t n,
                              const uint8_t *props, uint32_t props_len)
{
    size_t rem = sub_remaining(filters, n, props_len, options != NULL);
    size_t pos = put_header(out, (uint8_t)(type << 4 | 0x2), rem);

    mqtt_put_u16(out + pos, packet_id);
    pos += 2;
    pos += put_props(out + pos, props, props_len);
    for (size_t i = 0; i < n; i++) {
        pos += mqtt_put_str(out + pos, filters[i], strlen(filters[i]));
        if (options)
            out[pos++] = options[i];
    }
    return pos;
}

size_t mqtt5_subscribe_size(const char *const *filters, size_t n, uint32_t props_len)
{
    return packet_size(sub_remaining(filters, n, props_len, true));
}

size_t mqtt5_encode_subscribe(uint8_t *out, uint16_t packet_id, const char *const *filters,
                              const uint8_t *options, size_t n, const uint8_t *props,
                              uint32_t props_len)
{
    return encode_sub_list(out, MQTT_SUBSCRIBE, packet_id, filters, options, n, props, props_len);
}

size_t mqtt5_unsubscribe_size(const char *const *filters, size_t n, uint32_t props_len)
{
    return packet_size(sub_remaining(filters, n, props_len, false));
}

size_t mqtt5_encode_unsubscribe(uint8_t *out, uint16_t packet_id, const char *const *filters,
                                size_t n, const uint8_t *props, uint32_t props_len)
{
    return encode_sub_list(out, MQTT_UNSUBSCRIBE, packet_id, filters, NULL, n, props, props_len);
}
