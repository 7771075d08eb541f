/*
 * test_mqtt_codec.c - unit tests for broker/mqtt_codec.c.
 *
 * Round trips (encode, frame, decode, compare) for every packet the codec
 * writes, and tables of malformed input with the error each must give:
 * reserved flags, remaining lengths, UTF-8, topic names and filters,
 * truncation at every byte, trailing bytes, packet id 0, the size limit.
 * The codec is pure, so nothing here needs stubs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt_codec.h"

/* A byte-array literal and its length, for the tables below. */
#define B(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Fails the test with the case's name when got != want. */
#define CHECK_RC(name, got, want)                                                                  \
    do {                                                                                           \
        int got_ = (got), want_ = (want);                                                          \
        if (got_ != want_)                                                                         \
            fail_msg("%s: got %d (%s), want %d (%s)", (name), got_, mq_strerror(got_), want_,      \
                     mq_strerror(want_));                                                          \
    } while (0)

/* Frames buf, which must hold exactly one whole packet. */
static void frame_one(const uint8_t *buf, size_t len, struct mqtt_frame *f)
{
    assert_int_equal(mqtt_frame(buf, len, 0, f), MQ_OK);
    assert_int_equal(f->total_len, len);
    assert_ptr_equal(f->body + f->body_len, buf + len);
}

/* Calls the decoder that goes with the frame's type. */
static int decode_any(const struct mqtt_frame *f, uint8_t version)
{
    struct mqtt_connect c;
    struct mqtt_publish p;
    struct mqtt_ack a;
    struct mqtt_subscribe s;
    struct mqtt_disconnect d;
    uint8_t codes[16];
    uint16_t id;
    size_t n;
    bool sp;
    uint8_t rc;

    switch (f->type) {
    case MQTT_CONNECT:
        return mqtt_decode_connect(f, &c);
    case MQTT_CONNACK:
        return mqtt_decode_connack(f, version, &sp, &rc);
    case MQTT_PUBLISH:
        return mqtt_decode_publish(f, version, &p);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        return mqtt_decode_ack(f, version, &a);
    case MQTT_SUBSCRIBE:
        return mqtt_decode_subscribe(f, version, &s);
    case MQTT_SUBACK:
        return mqtt_decode_suback(f, version, &id, codes, sizeof(codes), &n);
    case MQTT_UNSUBSCRIBE:
        return mqtt_decode_unsubscribe(f, version, &s);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        return mqtt_decode_disconnect(f, version, &d);
    default:
        return MQ_EINVAL;
    }
}

/* Wraps a body in a fixed header; returns the packet length. */
static size_t wrap(uint8_t *out, uint8_t first, const uint8_t *body, size_t n)
{
    size_t pos = 0;

    out[pos++] = first;
    pos += mqtt_encode_varint(out + pos, (uint32_t)n);
    memcpy(out + pos, body, n);
    return pos + n;
}

/* ---- remaining-length varints ---- */

static const struct {
    uint32_t value;
    const uint8_t *bytes;
    size_t n;
} varints[] = {
    {0, B(0x00)},
    {1, B(0x01)},
    {127, B(0x7F)},
    {128, B(0x80, 0x01)},
    {16383, B(0xFF, 0x7F)},
    {16384, B(0x80, 0x80, 0x01)},
    {2097151, B(0xFF, 0xFF, 0x7F)},
    {2097152, B(0x80, 0x80, 0x80, 0x01)},
    {268435455, B(0xFF, 0xFF, 0xFF, 0x7F)},
};

static void test_varint_boundaries(void **state)
{
    for (size_t i = 0; i < COUNT(varints); i++) {
        uint8_t out[8] = {0};
        uint32_t value = 0;
        size_t used = 0;

        assert_int_equal(mqtt_varint_size(varints[i].value), varints[i].n);
        assert_int_equal(mqtt_encode_varint(out, varints[i].value), varints[i].n);
        assert_memory_equal(out, varints[i].bytes, varints[i].n);
        assert_int_equal(mqtt_decode_varint(varints[i].bytes, varints[i].n, &value, &used), MQ_OK);
        assert_int_equal(value, varints[i].value);
        assert_int_equal(used, varints[i].n);
        for (size_t len = 0; len < varints[i].n; len++)
            assert_int_equal(mqtt_decode_varint(varints[i].bytes, len, &value, &used), MQ_EAGAIN);
    }
}

static void test_varint_malformed(void **state)
{
    static const uint8_t five[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    static const uint8_t nonminimal[] = {0x80, 0x00};
    uint32_t value;
    size_t used;

    /* A fourth byte with its continuation bit set is enough to know. */
    assert_int_equal(mqtt_decode_varint(five, 4, &value, &used), MQ_EMALFORMED);
    assert_int_equal(mqtt_decode_varint(five, 5, &value, &used), MQ_EMALFORMED);
    /* MQTT 3.1.1 does not forbid a longer encoding than needed. */
    assert_int_equal(mqtt_decode_varint(nonminimal, 2, &value, &used), MQ_OK);
    assert_int_equal(value, 0);
    assert_int_equal(used, 2);
}

static void test_frame_remaining_length(void **state)
{
    for (size_t i = 0; i < COUNT(varints); i++) {
        uint8_t hdr[8];
        struct mqtt_frame f;
        uint32_t total = 1 + (uint32_t)varints[i].n + varints[i].value;

        hdr[0] = 0x30;
        memcpy(hdr + 1, varints[i].bytes, varints[i].n);
        /* The header alone: the body has not arrived. */
        if (varints[i].value > 0)
            assert_int_equal(mqtt_frame(hdr, 1 + varints[i].n, 0, &f), MQ_EAGAIN);
        /* A limit of one byte less is refused from the header alone. */
        assert_int_equal(mqtt_frame(hdr, 1 + varints[i].n, total - 1, &f), MQ_ETOOLARGE);
        /* The limit itself is allowed. */
        if (varints[i].value == 0) {
            assert_int_equal(mqtt_frame(hdr, 1 + varints[i].n, total, &f), MQ_OK);
            assert_int_equal(f.total_len, total);
        } else {
            assert_int_equal(mqtt_frame(hdr, 1 + varints[i].n, total, &f), MQ_EAGAIN);
        }
    }
}

static void test_frame_malformed_length(void **state)
{
    static const uint8_t five[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    struct mqtt_frame f;

    for (size_t len = 0; len < 5; len++)
        assert_int_equal(mqtt_frame(five, len, 0, &f), MQ_EAGAIN);
    assert_int_equal(mqtt_frame(five, 5, 0, &f), MQ_EMALFORMED);
    assert_int_equal(mqtt_frame(five, 6, 0, &f), MQ_EMALFORMED);
    assert_int_equal(mqtt_frame(five, 6, 100, &f), MQ_EMALFORMED);
}

static void test_frame_max_packet(void **state)
{
    /* PUBLISH "a/b", QoS 0, 5-byte payload: 12 bytes in all. */
    static const uint8_t pkt[] = {0x30, 0x0A, 0x00, 0x03, 'a', '/', 'b', 'h', 'e', 'l', 'l', 'o'};
    /* A PUBLISH announcing 1000 bytes: only the header is here. */
    static const uint8_t big[] = {0x30, 0xE8, 0x07};
    struct mqtt_frame f;

    assert_int_equal(mqtt_frame(pkt, sizeof(pkt), 12, &f), MQ_OK);
    assert_int_equal(mqtt_frame(pkt, sizeof(pkt), 11, &f), MQ_ETOOLARGE);
    assert_int_equal(mqtt_frame(pkt, 2, 11, &f), MQ_ETOOLARGE);
    assert_int_equal(mqtt_frame(pkt, 1, 11, &f), MQ_EAGAIN);
    assert_int_equal(mqtt_frame(big, sizeof(big), 1002, &f), MQ_ETOOLARGE);
    assert_int_equal(mqtt_frame(big, sizeof(big), 1003, &f), MQ_EAGAIN);
    assert_int_equal(mqtt_frame(big, sizeof(big), 0, &f), MQ_EAGAIN);
    assert_int_equal(mqtt_frame(big, 2, 10, &f), MQ_EAGAIN); /* length not known yet */
}

/* Every type/flags pair: only the values the specification fixes pass. */
static void test_frame_fixed_header_flags(void **state)
{
    for (unsigned type = 0; type < 16; type++) {
        for (unsigned flags = 0; flags < 16; flags++) {
            uint8_t pkt[2] = {(uint8_t)(type << 4 | flags), 0};
            struct mqtt_frame f;
            bool valid;
            char name[32];

            if (type == 0)
                valid = false;
            else if (type == MQTT_PUBLISH)
                valid = ((flags >> 1) & 3) != 3;
            else if (type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE)
                valid = flags == 2;
            else
                valid = flags == 0;
            snprintf(name, sizeof(name), "type %u flags %#x", type, flags);
            CHECK_RC(name, mqtt_frame(pkt, 2, 0, &f), valid ? MQ_OK : MQ_EMALFORMED);
            if (valid) {
                assert_int_equal(f.type, type);
                assert_int_equal(f.flags, flags);
                assert_int_equal(f.body_len, 0);
                assert_int_equal(f.total_len, 2);
            }
        }
    }
}

static void test_frame_back_to_back(void **state)
{
    static const uint8_t two[] = {0xC0, 0x00, 0x40, 0x02, 0x12, 0x34, 0xE0};
    struct mqtt_frame f;
    struct mqtt_ack a;
    size_t off = 0;

    assert_int_equal(mqtt_frame(two, sizeof(two), 0, &f), MQ_OK);
    assert_int_equal(f.type, MQTT_PINGREQ);
    off += f.total_len;
    assert_int_equal(mqtt_frame(two + off, sizeof(two) - off, 0, &f), MQ_OK);
    assert_int_equal(f.type, MQTT_PUBACK);
    assert_int_equal(mqtt_decode_ack(&f, MQTT_V311, &a), MQ_OK);
    assert_int_equal(a.packet_id, 0x1234);
    off += f.total_len;
    assert_int_equal(mqtt_frame(two + off, sizeof(two) - off, 0, &f), MQ_EAGAIN);
    assert_int_equal(mqtt_frame(two, 0, 0, &f), MQ_EAGAIN);
}

/* ---- UTF-8 ---- */

static const struct {
    const char *name;
    const uint8_t *bytes;
    size_t n;
    int rc;
} utf8_cases[] = {
    {"ascii", B('a', 'b', 'c'), MQ_OK},
    {"U+00E9", B(0xC3, 0xA9), MQ_OK},
    {"U+0080", B(0xC2, 0x80), MQ_OK},
    {"U+07FF", B(0xDF, 0xBF), MQ_OK},
    {"U+0800", B(0xE0, 0xA0, 0x80), MQ_OK},
    {"U+20AC", B(0xE2, 0x82, 0xAC), MQ_OK},
    {"U+D7FF", B(0xED, 0x9F, 0xBF), MQ_OK},
    {"U+E000", B(0xEE, 0x80, 0x80), MQ_OK},
    {"U+FFFF", B(0xEF, 0xBF, 0xBF), MQ_OK},
    {"U+10000", B(0xF0, 0x90, 0x80, 0x80), MQ_OK},
    {"U+1F600", B(0xF0, 0x9F, 0x98, 0x80), MQ_OK},
    {"U+10FFFF", B(0xF4, 0x8F, 0xBF, 0xBF), MQ_OK},
    {"U+0000", B(0x00), MQ_EUTF8},
    {"NUL inside", B('a', 0x00, 'b'), MQ_EUTF8},
    {"overlong NUL", B(0xC0, 0x80), MQ_EUTF8},
    {"overlong 2-byte", B(0xC1, 0xBF), MQ_EUTF8},
    {"overlong 3-byte", B(0xE0, 0x80, 0xAF), MQ_EUTF8},
    {"overlong 3-byte max", B(0xE0, 0x9F, 0xBF), MQ_EUTF8},
    {"overlong 4-byte", B(0xF0, 0x8F, 0xBF, 0xBF), MQ_EUTF8},
    {"surrogate U+D800", B(0xED, 0xA0, 0x80), MQ_EUTF8},
    {"surrogate U+DFFF", B(0xED, 0xBF, 0xBF), MQ_EUTF8},
    {"U+110000", B(0xF4, 0x90, 0x80, 0x80), MQ_EUTF8},
    {"F5 lead", B(0xF5, 0x80, 0x80, 0x80), MQ_EUTF8},
    {"FF byte", B('a', 0xFF), MQ_EUTF8},
    {"5-byte form", B(0xF8, 0x88, 0x80, 0x80, 0x80), MQ_EUTF8},
    {"stray continuation", B(0x80), MQ_EUTF8},
    {"truncated 2-byte", B('a', 0xC3), MQ_EUTF8},
    {"truncated 3-byte", B(0xE2, 0x82), MQ_EUTF8},
    {"truncated 4-byte", B(0xF0, 0x9F, 0x98), MQ_EUTF8},
    {"bad continuation", B(0xC3, 0x28), MQ_EUTF8},
    {"bad 3rd byte", B(0xE2, 0x82, 0x28), MQ_EUTF8},
};

static void test_utf8_check(void **state)
{
    assert_int_equal(mqtt_utf8_check(NULL, 0), MQ_OK);
    assert_int_equal(mqtt_utf8_check("", 0), MQ_OK);
    for (size_t i = 0; i < COUNT(utf8_cases); i++)
        CHECK_RC(utf8_cases[i].name,
                 mqtt_utf8_check((const char *)utf8_cases[i].bytes, utf8_cases[i].n),
                 utf8_cases[i].rc);
}

/* Each bad UTF-8 string in each string field the codec checks. */
static void test_utf8_in_packets(void **state)
{
    for (size_t i = 0; i < COUNT(utf8_cases); i++) {
        const uint8_t *z = utf8_cases[i].bytes;
        size_t n = utf8_cases[i].n;
        uint8_t body[64], pkt[80];
        struct mqtt_frame f;
        struct mqtt_connect c;
        struct mqtt_publish p;
        struct mqtt_subscribe s;
        size_t len;
        char name[64];

        /* PUBLISH topic name. */
        body[0] = 0, body[1] = (uint8_t)n;
        memcpy(body + 2, z, n);
        len = wrap(pkt, 0x30, body, 2 + n);
        frame_one(pkt, len, &f);
        snprintf(name, sizeof(name), "publish topic %s", utf8_cases[i].name);
        CHECK_RC(name, mqtt_decode_publish(&f, MQTT_V311, &p), utf8_cases[i].rc);

        /* SUBSCRIBE filter. */
        body[0] = 0, body[1] = 1, body[2] = 0, body[3] = (uint8_t)n;
        memcpy(body + 4, z, n);
        body[4 + n] = 1;
        len = wrap(pkt, 0x82, body, 5 + n);
        frame_one(pkt, len, &f);
        snprintf(name, sizeof(name), "subscribe filter %s", utf8_cases[i].name);
        CHECK_RC(name, mqtt_decode_subscribe(&f, MQTT_V311, &s), utf8_cases[i].rc);

        /* UNSUBSCRIBE filter. */
        len = wrap(pkt, 0xA2, body, 4 + n);
        frame_one(pkt, len, &f);
        snprintf(name, sizeof(name), "unsubscribe filter %s", utf8_cases[i].name);
        CHECK_RC(name, mqtt_decode_unsubscribe(&f, MQTT_V311, &s), utf8_cases[i].rc);

        /* CONNECT client id, then user name. */
        memcpy(body, (const uint8_t[]){0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0}, 11);
        body[11] = (uint8_t)n;
        memcpy(body + 12, z, n);
        len = wrap(pkt, 0x10, body, 12 + n);
        frame_one(pkt, len, &f);
        snprintf(name, sizeof(name), "client id %s", utf8_cases[i].name);
        CHECK_RC(name, mqtt_decode_connect(&f, &c), utf8_cases[i].rc);

        body[7] = 0x82;
        memcpy(body + 11, (const uint8_t[]){1, 'c', 0, (uint8_t)n}, 4);
        memcpy(body + 15, z, n);
        len = wrap(pkt, 0x10, body, 15 + n);
        frame_one(pkt, len, &f);
        snprintf(name, sizeof(name), "user name %s", utf8_cases[i].name);
        CHECK_RC(name, mqtt_decode_connect(&f, &c), utf8_cases[i].rc);

        /* Will topic (valid UTF-8 here is also a valid topic name). */
        body[7] = 0x06;
        memcpy(body + 11, (const uint8_t[]){1, 'c', 0, (uint8_t)n}, 4);
        memcpy(body + 15, z, n);
        body[15 + n] = 0, body[16 + n] = 0;
        len = wrap(pkt, 0x10, body, 17 + n);
        frame_one(pkt, len, &f);
        snprintf(name, sizeof(name), "will topic %s", utf8_cases[i].name);
        CHECK_RC(name, mqtt_decode_connect(&f, &c), utf8_cases[i].rc);
    }
}

/* ---- malformed and edge-case packets, one table ---- */

#define CONNECT_HDR(flags)  0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, (flags), 0x00, 0x3C
#define CONNECT5_HDR(flags) 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, (flags), 0x00, 0x3C

static const struct {
    const char *name;
    const uint8_t *bytes; /* a whole packet, fixed header included */
    size_t n;
    uint8_t version; /* passed to the decoder (CONNECT reads its own) */
    int frame_rc;
    int decode_rc; /* when frame_rc is MQ_OK */
} packets[] = {
    /* Fixed header. */
    {"type 0", B(0x00, 0x00), 4, MQ_EMALFORMED, 0},
    {"type 0 with flags", B(0x0F, 0x00), 4, MQ_EMALFORMED, 0},
    {"publish qos 3", B(0x36, 0x03, 0x00, 0x01, 'a'), 4, MQ_EMALFORMED, 0},
    {"publish qos 3 dup retain", B(0x3F, 0x03, 0x00, 0x01, 'a'), 4, MQ_EMALFORMED, 0},
    {"pubrel flags 0", B(0x60, 0x02, 0x00, 0x01), 4, MQ_EMALFORMED, 0},
    {"subscribe flags 0", B(0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00), 4, MQ_EMALFORMED, 0},
    {"unsubscribe flags 3", B(0xA3, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'), 4, MQ_EMALFORMED, 0},
    {"puback flags 2", B(0x42, 0x02, 0x00, 0x01), 4, MQ_EMALFORMED, 0},
    {"connect flags 1", B(0x11, 0x00), 4, MQ_EMALFORMED, 0},
    {"pingreq flags 8", B(0xC8, 0x00), 4, MQ_EMALFORMED, 0},
    {"disconnect flags 1", B(0xE1, 0x00), 4, MQ_EMALFORMED, 0},
    {"remaining length 5 bytes", B(0x30, 0x80, 0x80, 0x80, 0x80, 0x01), 4, MQ_EMALFORMED, 0},

    /* CONNECT. */
    {"connect minimal", B(0x10, 0x0C, CONNECT_HDR(0x02), 0x00, 0x00), 4, MQ_OK, MQ_OK},
    {"connect reserved bit", B(0x10, 0x0C, CONNECT_HDR(0x03), 0x00, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"connect will qos without will", B(0x10, 0x0C, CONNECT_HDR(0x0A), 0x00, 0x00), 4, MQ_OK,
     MQ_EMALFORMED},
    {"connect will retain without will", B(0x10, 0x0C, CONNECT_HDR(0x22), 0x00, 0x00), 4, MQ_OK,
     MQ_EMALFORMED},
    {"connect will qos 3",
     B(0x10, 0x13, CONNECT_HDR(0x1E), 0x00, 0x00, 0x00, 0x01, 't', 0x00, 0x02, 'h', 'i'), 4, MQ_OK,
     MQ_EMALFORMED},
    {"connect password without user 3.1.1",
     B(0x10, 0x10, CONNECT_HDR(0x42), 0x00, 0x00, 0x00, 0x02, 'p', 'w'), 4, MQ_OK, MQ_EMALFORMED},
    {"connect password without user 3.1",
     B(0x10, 0x12, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x42, 0x00, 0x3C, 0x00, 0x00,
       0x00, 0x02, 'p', 'w'),
     3, MQ_OK, MQ_OK},
    {"connect password without user 5",
     B(0x10, 0x11, CONNECT5_HDR(0x42), 0x00, 0x00, 0x00, 0x00, 0x02, 'p', 'w'), 5, MQ_OK, MQ_OK},
    {"connect user flag, no user", B(0x10, 0x0C, CONNECT_HDR(0x82), 0x00, 0x00), 4, MQ_OK,
     MQ_EMALFORMED},
    {"connect will flag, no will", B(0x10, 0x0C, CONNECT_HDR(0x06), 0x00, 0x00), 4, MQ_OK,
     MQ_EMALFORMED},
    {"connect will, no payload", B(0x10, 0x0F, CONNECT_HDR(0x06), 0x00, 0x00, 0x00, 0x01, 't'), 4,
     MQ_OK, MQ_EMALFORMED},
    {"connect will topic '#'",
     B(0x10, 0x11, CONNECT_HDR(0x06), 0x00, 0x00, 0x00, 0x01, '#', 0x00, 0x00), 4, MQ_OK,
     MQ_EMALFORMED},
    {"connect will topic 'a/+'",
     B(0x10, 0x13, CONNECT_HDR(0x06), 0x00, 0x00, 0x00, 0x03, 'a', '/', '+', 0x00, 0x00), 4, MQ_OK,
     MQ_EMALFORMED},
    {"connect will topic empty",
     B(0x10, 0x10, CONNECT_HDR(0x06), 0x00, 0x00, 0x00, 0x00, 0x00, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"connect trailing byte", B(0x10, 0x0D, CONNECT_HDR(0x02), 0x00, 0x00, 0x00), 4, MQ_OK,
     MQ_EMALFORMED},
    {"connect no client id", B(0x10, 0x0A, CONNECT_HDR(0x02)), 4, MQ_OK, MQ_EMALFORMED},
    {"connect client id too long", B(0x10, 0x0D, CONNECT_HDR(0x02), 0x00, 0x05, 'a'), 4, MQ_OK,
     MQ_EMALFORMED},
    {"connect no keepalive", B(0x10, 0x08, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02), 4, MQ_OK,
     MQ_EMALFORMED},
    {"connect empty body", B(0x10, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"connect name truncated", B(0x10, 0x04, 0x00, 0x04, 'M', 'Q'), 4, MQ_OK, MQ_EMALFORMED},
    {"connect level 6",
     B(0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x00), 4, MQ_OK,
     MQ_EPROTOCOL},
    {"connect MQTT level 3",
     B(0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x03, 0x02, 0x00, 0x3C, 0x00, 0x00), 4, MQ_OK,
     MQ_EPROTOCOL},
    {"connect MQIsdp level 4",
     B(0x10, 0x0E, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00), 4,
     MQ_OK, MQ_EPROTOCOL},
    {"connect lowercase mqtt",
     B(0x10, 0x0C, 0x00, 0x04, 'm', 'q', 't', 't', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00), 4, MQ_OK,
     MQ_EPROTOCOL},
    {"connect 5 no properties", B(0x10, 0x0C, CONNECT5_HDR(0x02), 0x00, 0x00), 5, MQ_OK,
     MQ_EMALFORMED},
    {"connect 5 properties overflow", B(0x10, 0x0D, CONNECT5_HDR(0x02), 0x05, 0x00, 0x00), 5, MQ_OK,
     MQ_EMALFORMED},
    {"connect 5 ok", B(0x10, 0x0D, CONNECT5_HDR(0x02), 0x00, 0x00, 0x00), 5, MQ_OK, MQ_OK},
    {"connect 5 will without will properties",
     B(0x10, 0x12, CONNECT5_HDR(0x06), 0x00, 0x00, 0x00, 0x00, 0x01, 't', 0x00, 0x00), 5, MQ_OK,
     MQ_EMALFORMED},

    /* PUBLISH. */
    {"publish qos 0", B(0x30, 0x03, 0x00, 0x01, 'a'), 4, MQ_OK, MQ_OK},
    {"publish qos 1 id 0", B(0x32, 0x05, 0x00, 0x01, 'a', 0x00, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"publish qos 2 id 0", B(0x34, 0x05, 0x00, 0x01, 'a', 0x00, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"publish qos 1 no id", B(0x32, 0x03, 0x00, 0x01, 'a'), 4, MQ_OK, MQ_EMALFORMED},
    {"publish qos 1 half id", B(0x32, 0x04, 0x00, 0x01, 'a', 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"publish dup qos 0", B(0x38, 0x03, 0x00, 0x01, 'a'), 4, MQ_OK, MQ_EMALFORMED},
    {"publish dup qos 1", B(0x3A, 0x05, 0x00, 0x01, 'a', 0x00, 0x01), 4, MQ_OK, MQ_OK},
    {"publish topic '+'", B(0x30, 0x03, 0x00, 0x01, '+'), 4, MQ_OK, MQ_EPROTOCOL},
    {"publish topic '#'", B(0x30, 0x03, 0x00, 0x01, '#'), 4, MQ_OK, MQ_EPROTOCOL},
    {"publish topic 'a/#'", B(0x30, 0x05, 0x00, 0x03, 'a', '/', '#'), 4, MQ_OK, MQ_EPROTOCOL},
    {"publish topic 'a+b'", B(0x30, 0x05, 0x00, 0x03, 'a', '+', 'b'), 4, MQ_OK, MQ_EPROTOCOL},
    {"publish topic with NUL", B(0x30, 0x05, 0x00, 0x03, 'a', 0x00, 'b'), 4, MQ_OK, MQ_EUTF8},
    {"publish empty topic 3.1.1", B(0x30, 0x02, 0x00, 0x00), 4, MQ_OK, MQ_EPROTOCOL},
    {"publish empty topic 3.1", B(0x30, 0x02, 0x00, 0x00), 3, MQ_OK, MQ_EPROTOCOL},
    {"publish empty topic 5", B(0x30, 0x03, 0x00, 0x00, 0x00), 5, MQ_OK, MQ_OK},
    {"publish topic past end", B(0x30, 0x03, 0x00, 0x05, 'a'), 4, MQ_OK, MQ_EMALFORMED},
    {"publish no topic", B(0x30, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"publish 5 no properties", B(0x30, 0x03, 0x00, 0x01, 'a'), 5, MQ_OK, MQ_EMALFORMED},
    {"publish 5 properties overflow", B(0x30, 0x05, 0x00, 0x01, 'a', 0x05, 0x00), 5, MQ_OK,
     MQ_EMALFORMED},
    {"publish 5 properties varint 5 bytes",
     B(0x30, 0x08, 0x00, 0x01, 'a', 0x80, 0x80, 0x80, 0x80, 0x00), 5, MQ_OK, MQ_EMALFORMED},
    {"publish 5 ok", B(0x32, 0x08, 0x00, 0x01, 'a', 0x00, 0x07, 0x00, 'x', 'y'), 5, MQ_OK, MQ_OK},

    /* SUBSCRIBE. */
    {"subscribe ok", B(0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x02), 4, MQ_OK, MQ_OK},
    {"subscribe no filters", B(0x82, 0x02, 0x00, 0x01), 4, MQ_OK, MQ_EMALFORMED},
    {"subscribe empty body", B(0x82, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"subscribe id 0", B(0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"subscribe qos 3", B(0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03), 4, MQ_OK, MQ_EMALFORMED},
    {"subscribe reserved bit 2", B(0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x04), 4, MQ_OK,
     MQ_EMALFORMED},
    {"subscribe reserved bit 7", B(0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x80), 4, MQ_OK,
     MQ_EMALFORMED},
    {"subscribe 3.1 reserved bit", B(0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x10), 3, MQ_OK,
     MQ_EMALFORMED},
    {"subscribe no options byte", B(0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'), 4, MQ_OK,
     MQ_EMALFORMED},
    {"subscribe filter truncated", B(0x82, 0x05, 0x00, 0x01, 0x00, 0x03, 'a'), 4, MQ_OK,
     MQ_EMALFORMED},
    {"subscribe second entry truncated",
     B(0x82, 0x08, 0x00, 0x01, 0x00, 0x01, 'a', 0x00, 0x00, 0x01), 4, MQ_OK, MQ_EMALFORMED},
    {"subscribe filter ''", B(0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00), 4, MQ_OK, MQ_EPROTOCOL},
    {"subscribe 5 no local", B(0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x04), 5, MQ_OK,
     MQ_OK},
    {"subscribe 5 all options", B(0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x2E), 5, MQ_OK,
     MQ_OK},
    {"subscribe 5 retain handling 3", B(0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x30), 5,
     MQ_OK, MQ_EPROTOCOL},
    {"subscribe 5 no filters", B(0x82, 0x03, 0x00, 0x01, 0x00), 5, MQ_OK, MQ_EPROTOCOL},
    {"subscribe 5 share name with '+'",
     B(0x82, 0x13, 0x00, 0x01, 0x00, 0x00, 0x0D, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '+', '/',
       'a', '/', 'b', 0x00),
     5, MQ_OK, MQ_OK},
    {"subscribe 5 reserved bit 6", B(0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x40), 5, MQ_OK,
     MQ_EMALFORMED},
    {"subscribe 5 no properties", B(0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00), 5, MQ_OK,
     MQ_EMALFORMED},

    /* UNSUBSCRIBE. */
    {"unsubscribe ok", B(0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'), 4, MQ_OK, MQ_OK},
    {"unsubscribe no filters", B(0xA2, 0x02, 0x00, 0x01), 4, MQ_OK, MQ_EMALFORMED},
    {"unsubscribe id 0", B(0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, 'a'), 4, MQ_OK, MQ_EMALFORMED},
    {"unsubscribe filter 'a/#/b'", B(0xA2, 0x09, 0x00, 0x01, 0x00, 0x05, 'a', '/', '#', '/', 'b'),
     4, MQ_OK, MQ_EPROTOCOL},
    {"unsubscribe truncated", B(0xA2, 0x04, 0x00, 0x01, 0x00, 0x01), 4, MQ_OK, MQ_EMALFORMED},
    {"unsubscribe 5 ok", B(0xA2, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, '#'), 5, MQ_OK, MQ_OK},

    /* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK. */
    {"puback ok", B(0x40, 0x02, 0x00, 0x01), 4, MQ_OK, MQ_OK},
    {"puback id 0", B(0x40, 0x02, 0x00, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"pubrec short", B(0x50, 0x01, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"pubrel empty", B(0x62, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"pubcomp trailing", B(0x70, 0x03, 0x00, 0x01, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"unsuback trailing", B(0xB0, 0x03, 0x00, 0x01, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"puback 3.1 trailing", B(0x40, 0x03, 0x00, 0x01, 0x00), 3, MQ_OK, MQ_EMALFORMED},
    {"puback 5 reason", B(0x40, 0x03, 0x00, 0x01, 0x10), 5, MQ_OK, MQ_OK},
    {"puback 5 reason props", B(0x40, 0x06, 0x00, 0x01, 0x10, 0x02, 0x1F, 0x00), 5, MQ_OK, MQ_OK},
    {"puback 5 props overflow", B(0x40, 0x05, 0x00, 0x01, 0x10, 0x03, 0x1F), 5, MQ_OK,
     MQ_EMALFORMED},
    {"puback 5 trailing", B(0x40, 0x05, 0x00, 0x01, 0x10, 0x00, 0x00), 5, MQ_OK, MQ_EMALFORMED},
    {"puback 5 id 0", B(0x40, 0x02, 0x00, 0x00), 5, MQ_OK, MQ_EMALFORMED},
    {"unsuback 5 ok", B(0xB0, 0x04, 0x00, 0x01, 0x00, 0x11), 5, MQ_OK, MQ_OK},
    {"unsuback 5 no codes", B(0xB0, 0x03, 0x00, 0x01, 0x00), 5, MQ_OK, MQ_EMALFORMED},

    /* CONNACK. */
    {"connack ok", B(0x20, 0x02, 0x01, 0x00), 4, MQ_OK, MQ_OK},
    {"connack reserved bits", B(0x20, 0x02, 0x02, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"connack session on refusal", B(0x20, 0x02, 0x01, 0x05), 4, MQ_OK, MQ_EPROTOCOL},
    {"connack short", B(0x20, 0x01, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"connack trailing", B(0x20, 0x03, 0x00, 0x00, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"connack 3.1 unused byte", B(0x20, 0x02, 0xFF, 0x02), 3, MQ_OK, MQ_OK},
    {"connack 5 ok", B(0x20, 0x03, 0x00, 0x00, 0x00), 5, MQ_OK, MQ_OK},
    {"connack 5 no properties", B(0x20, 0x02, 0x00, 0x00), 5, MQ_OK, MQ_EMALFORMED},

    /* SUBACK. */
    {"suback ok", B(0x90, 0x06, 0x00, 0x01, 0x00, 0x01, 0x02, 0x80), 4, MQ_OK, MQ_OK},
    {"suback code 3", B(0x90, 0x03, 0x00, 0x01, 0x03), 4, MQ_OK, MQ_EMALFORMED},
    {"suback no codes", B(0x90, 0x02, 0x00, 0x01), 4, MQ_OK, MQ_EMALFORMED},
    {"suback id 0", B(0x90, 0x03, 0x00, 0x00, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"suback 5 reason code", B(0x90, 0x04, 0x00, 0x01, 0x00, 0x97), 5, MQ_OK, MQ_OK},

    /* PINGREQ, PINGRESP, DISCONNECT. */
    {"pingreq ok", B(0xC0, 0x00), 4, MQ_OK, MQ_OK},
    {"pingreq body", B(0xC0, 0x01, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"pingresp body 5", B(0xD0, 0x01, 0x00), 5, MQ_OK, MQ_EMALFORMED},
    {"disconnect ok", B(0xE0, 0x00), 4, MQ_OK, MQ_OK},
    {"disconnect body", B(0xE0, 0x01, 0x00), 4, MQ_OK, MQ_EMALFORMED},
    {"disconnect 5 reason", B(0xE0, 0x01, 0x8E), 5, MQ_OK, MQ_OK},
    {"disconnect 5 reason props", B(0xE0, 0x02, 0x00, 0x00), 5, MQ_OK, MQ_OK},
    {"disconnect 5 props overflow", B(0xE0, 0x02, 0x00, 0x05), 5, MQ_OK, MQ_EMALFORMED},
    {"disconnect 5 trailing", B(0xE0, 0x03, 0x00, 0x00, 0x00), 5, MQ_OK, MQ_EMALFORMED},
};

static void test_packet_table(void **state)
{
    for (size_t i = 0; i < COUNT(packets); i++) {
        struct mqtt_frame f;
        int rc = mqtt_frame(packets[i].bytes, packets[i].n, 0, &f);

        CHECK_RC(packets[i].name, rc, packets[i].frame_rc);
        if (rc != MQ_OK)
            continue;
        if (f.total_len != packets[i].n)
            fail_msg("%s: total_len %u, packet is %zu bytes", packets[i].name, f.total_len,
                     packets[i].n);
        CHECK_RC(packets[i].name, decode_any(&f, packets[i].version), packets[i].decode_rc);
    }
}

/* The version-sensitive rows of the table really are version-sensitive:
 * an unknown version, and a frame handed to the wrong decoder, are the
 * caller's mistake (MQ_EINVAL), not the peer's. */
static void test_decoder_arguments(void **state)
{
    static const uint8_t puback[] = {0x40, 0x02, 0x00, 0x01};
    static const uint8_t publish[] = {0x30, 0x03, 0x00, 0x01, 'a'};
    struct mqtt_frame f;
    struct mqtt_publish p;
    struct mqtt_ack a;
    struct mqtt_connect c;
    struct mqtt_subscribe s;
    struct mqtt_disconnect d;
    uint8_t codes[1], rc;
    uint16_t id;
    size_t n;
    bool sp;

    frame_one(puback, sizeof(puback), &f);
    assert_int_equal(mqtt_decode_ack(&f, 2, &a), MQ_EINVAL);
    assert_int_equal(mqtt_decode_ack(&f, 6, &a), MQ_EINVAL);
    assert_int_equal(mqtt_decode_publish(&f, MQTT_V311, &p), MQ_EINVAL);
    assert_int_equal(mqtt_decode_connect(&f, &c), MQ_EINVAL);
    assert_int_equal(mqtt_decode_subscribe(&f, MQTT_V311, &s), MQ_EINVAL);
    assert_int_equal(mqtt_decode_unsubscribe(&f, MQTT_V311, &s), MQ_EINVAL);
    assert_int_equal(mqtt_decode_disconnect(&f, MQTT_V311, &d), MQ_EINVAL);
    assert_int_equal(mqtt_decode_empty(&f), MQ_EINVAL);
    assert_int_equal(mqtt_decode_connack(&f, MQTT_V311, &sp, &rc), MQ_EINVAL);
    assert_int_equal(mqtt_decode_suback(&f, MQTT_V311, &id, codes, 1, &n), MQ_EINVAL);
    frame_one(publish, sizeof(publish), &f);
    assert_int_equal(mqtt_decode_ack(&f, MQTT_V311, &a), MQ_EINVAL);
    assert_int_equal(mqtt_decode_publish(&f, 0, &p), MQ_EINVAL);
    /* A hand-built frame with reserved flags set is still refused. */
    f.flags = 0x6;
    assert_int_equal(mqtt_decode_publish(&f, MQTT_V311, &p), MQ_EMALFORMED);
}

/* ---- topic filters ---- */

static const struct {
    const char *filter;
    int rc;
} filters[] = {
    {"a", MQ_OK},
    {"a/b/c", MQ_OK},
    {"#", MQ_OK},
    {"+", MQ_OK},
    {"a/#", MQ_OK},
    {"a/+/c", MQ_OK},
    {"+/+", MQ_OK},
    {"/", MQ_OK},
    {"/#", MQ_OK},
    {"+/#", MQ_OK},
    {"a//b", MQ_OK},
    {"$SYS/#", MQ_OK},
    {"$share/group/a/+", MQ_OK},
    {"", MQ_EPROTOCOL},
    {"a+", MQ_EPROTOCOL},
    {"+a", MQ_EPROTOCOL},
    {"a/b+", MQ_EPROTOCOL},
    {"a/++", MQ_EPROTOCOL},
    {"a/#/b", MQ_EPROTOCOL},
    {"#/a", MQ_EPROTOCOL},
    {"#a", MQ_EPROTOCOL},
    {"a#", MQ_EPROTOCOL},
    {"a/b#", MQ_EPROTOCOL},
    {"##", MQ_EPROTOCOL},
    {"+#", MQ_EPROTOCOL},
};

static void test_subscribe_filters(void **state)
{
    for (size_t i = 0; i < COUNT(filters); i++) {
        const char *list[1] = {filters[i].filter};
        const uint8_t qos[1] = {1};
        uint8_t pkt[64], body[64];
        struct mqtt_frame f;
        struct mqtt_subscribe s;
        size_t len, n = strlen(filters[i].filter);

        len = mqtt_encode_subscribe(pkt, 7, list, qos, 1);
        assert_int_equal(len, mqtt_subscribe_size(list, 1));
        frame_one(pkt, len, &f);
        CHECK_RC(filters[i].filter, mqtt_decode_subscribe(&f, MQTT_V311, &s), filters[i].rc);

        body[0] = 0, body[1] = 7, body[2] = 0, body[3] = (uint8_t)n;
        memcpy(body + 4, filters[i].filter, n);
        len = wrap(pkt, 0xA2, body, 4 + n);
        frame_one(pkt, len, &f);
        CHECK_RC(filters[i].filter, mqtt_decode_unsubscribe(&f, MQTT_V311, &s), filters[i].rc);
    }
}

/* ---- round trips ---- */

static const uint8_t will_bin[] = {0x00, 0xFF, 'w'};

static const struct {
    const char *name;
    struct mqtt_connect_opts o;
} connects[] = {
    {"minimal", {.client_id = "c1", .keepalive = 60, .clean_session = true}},
    {"empty client id", {.client_id = "", .keepalive = 0, .clean_session = true}},
    {"persistent session", {.client_id = "device-42", .keepalive = 65535}},
    {"user", {.client_id = "c", .username = "alice"}},
    {"user and password", {.client_id = "c", .username = "alice", .password = "s3cret"}},
    {"empty user and password", {.client_id = "c", .username = "", .password = ""}},
    {"will qos 1",
     {.client_id = "c",
      .will_topic = "clients/c/status",
      .will_payload = (const uint8_t *)"offline",
      .will_payload_len = 7,
      .will_qos = 1}},
    {"will qos 2 retained, binary",
     {.client_id = "c",
      .will_topic = "w",
      .will_payload = will_bin,
      .will_payload_len = sizeof(will_bin),
      .will_qos = 2,
      .will_retain = true}},
    {"will with empty payload", {.client_id = "c", .will_topic = "w"}},
    {"everything",
     {.client_id = "caf\xC3\xA9",
      .keepalive = 30,
      .clean_session = true,
      .username = "u\xE2\x82\xAC",
      .password = "p",
      .will_topic = "a/b",
      .will_payload = (const uint8_t *)"bye",
      .will_payload_len = 3,
      .will_qos = 1,
      .will_retain = true}},
};

static void assert_str(const struct mqtt_str *got, const char *want)
{
    assert_int_equal(got->len, strlen(want));
    if (got->len)
        assert_memory_equal(got->s, want, got->len);
}

static void test_connect_round_trip(void **state)
{
    for (size_t i = 0; i < COUNT(connects); i++) {
        const struct mqtt_connect_opts *o = &connects[i].o;
        uint8_t pkt[256];
        struct mqtt_frame f;
        struct mqtt_connect c;
        size_t len = mqtt_connect_size(o);

        assert_true(len <= sizeof(pkt));
        assert_int_equal(mqtt_encode_connect(pkt, o), len);
        frame_one(pkt, len, &f);
        assert_int_equal(f.type, MQTT_CONNECT);
        CHECK_RC(connects[i].name, mqtt_decode_connect(&f, &c), MQ_OK);
        assert_int_equal(c.version, MQTT_V311);
        assert_str(&c.protocol_name, "MQTT");
        assert_int_equal(c.clean_start, o->clean_session);
        assert_int_equal(c.keepalive, o->keepalive);
        assert_str(&c.client_id, o->client_id);
        assert_non_null(c.client_id.s);
        assert_int_equal(c.will, o->will_topic != NULL);
        if (o->will_topic) {
            assert_str(&c.will_topic, o->will_topic);
            assert_int_equal(c.will_payload.len, o->will_payload_len);
            if (o->will_payload_len)
                assert_memory_equal(c.will_payload.s, o->will_payload, o->will_payload_len);
            assert_int_equal(c.will_qos, o->will_qos);
            assert_int_equal(c.will_retain, o->will_retain);
        } else {
            assert_null(c.will_topic.s);
            assert_null(c.will_payload.s);
        }
        assert_int_equal(c.has_username, o->username != NULL);
        if (o->username)
            assert_str(&c.username, o->username);
        else
            assert_null(c.username.s);
        assert_int_equal(c.has_password, o->password != NULL);
        if (o->password)
            assert_str(&c.password, o->password);
        else
            assert_null(c.password.s);
        assert_null(c.props);
        assert_null(c.will_props);
    }
}

/* MQTT 3.1: protocol name "MQIsdp", level 3, a will and credentials. */
static void test_connect_v31(void **state)
{
    static const uint8_t pkt[] = {
        0x10, 0x27,                               /* CONNECT, 39 bytes */
        0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', /* protocol name */
        0x03,                                     /* level 3 */
        0xEE,                                     /* user, pw, will r/q1, clean */
        0x00, 0x0A,                               /* keepalive 10 */
        0x00, 0x05, 'o', 'l', 'd', 'c', 'l',      /* client id */
        0x00, 0x03, 'w', '/', 't',                /* will topic */
        0x00, 0x04, 'g', 'o', 'n', 'e',           /* will payload */
        0x00, 0x03, 'b', 'o', 'b',                /* user name */
        0x00, 0x02, 'p', 'w',                     /* password */
    };
    struct mqtt_frame f;
    struct mqtt_connect c;

    frame_one(pkt, sizeof(pkt), &f);
    assert_int_equal(mqtt_decode_connect(&f, &c), MQ_OK);
    assert_int_equal(c.version, MQTT_V31);
    assert_str(&c.protocol_name, "MQIsdp");
    assert_true(c.clean_start);
    assert_int_equal(c.keepalive, 10);
    assert_str(&c.client_id, "oldcl");
    assert_true(c.will);
    assert_int_equal(c.will_qos, 1);
    assert_true(c.will_retain);
    assert_str(&c.will_topic, "w/t");
    assert_str(&c.will_payload, "gone");
    assert_true(c.has_username);
    assert_str(&c.username, "bob");
    assert_true(c.has_password);
    assert_str(&c.password, "pw");
}

/* MQTT 5: properties located and handed up raw. */
static void test_connect_v5(void **state)
{
    static const uint8_t pkt[] = {
        0x10, 0x1B, 0x00, 0x04, 'M',  'Q',  'T',  'T',  0x05,
        0x06, 0x00, 0x3C, 0x05, 0x11, 0x00, 0x00, 0x00, 0x0A, /* session expiry 10 */
        0x00, 0x01, 'c',                                      /* client id */
        0x02, 0x01, 0x01,                                     /* will: payload format 1 */
        0x00, 0x01, 't',  0x00, 0x00,                         /* will topic, payload */
    };
    struct mqtt_frame f;
    struct mqtt_connect c;

    frame_one(pkt, sizeof(pkt), &f);
    assert_int_equal(mqtt_decode_connect(&f, &c), MQ_OK);
    assert_int_equal(c.version, MQTT_V5);
    assert_int_equal(c.props_len, 5);
    assert_ptr_equal(c.props, pkt + 13);
    assert_int_equal(c.will_props_len, 2);
    assert_ptr_equal(c.will_props, pkt + 22);
    assert_str(&c.client_id, "c");
    assert_str(&c.will_topic, "t");
    assert_int_equal(c.will_payload.len, 0);
}

static void test_connect_unknown_protocol_sets_version(void **state)
{
    static const uint8_t pkt[] = {0x10, 0x0C, 0x00, 0x04, 'M',  'Q',  'T',
                                  'T',  0x07, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    struct mqtt_frame f;
    struct mqtt_connect c;

    frame_one(pkt, sizeof(pkt), &f);
    assert_int_equal(mqtt_decode_connect(&f, &c), MQ_EPROTOCOL);
    assert_int_equal(c.version, 7);
}

static void test_publish_round_trip(void **state)
{
    static const struct {
        const char *topic;
        size_t payload_len;
        uint8_t qos;
        bool retain, dup;
        uint16_t id;
    } cases[] = {
        {"a", 0, 0, false, false, 0},
        {"chat/room/1", 5, 0, true, false, 0},
        {"chat/room/1", 5, 1, false, false, 1},
        {"chat/room/1", 5, 1, false, true, 65535},
        {"x/y", 200, 2, true, true, 0x1234},
        {"$SYS/broker/uptime", 20000, 1, false, false, 9},
        {"caf\xC3\xA9/\xF0\x9F\x98\x80", 3, 2, false, false, 300},
    };
    static uint8_t payload[20000];
    static uint8_t pkt[20100];

    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < COUNT(cases); i++) {
        size_t tlen = strlen(cases[i].topic), id_offset = 99, len;
        struct mqtt_frame f;
        struct mqtt_publish p;

        len = mqtt_publish_size(tlen, cases[i].payload_len, cases[i].qos);
        assert_true(len <= sizeof(pkt));
        assert_int_equal(mqtt_encode_publish(pkt, cases[i].topic, tlen, payload,
                                             cases[i].payload_len, cases[i].qos, cases[i].retain,
                                             cases[i].dup && cases[i].qos, cases[i].id, &id_offset),
                         len);
        frame_one(pkt, len, &f);
        assert_int_equal(mqtt_decode_publish(&f, MQTT_V311, &p), MQ_OK);
        assert_int_equal(p.topic.len, tlen);
        assert_memory_equal(p.topic.s, cases[i].topic, tlen);
        assert_int_equal(p.qos, cases[i].qos);
        assert_int_equal(p.retain, cases[i].retain);
        assert_int_equal(p.dup, cases[i].dup && cases[i].qos);
        assert_int_equal(p.payload_len, cases[i].payload_len);
        if (cases[i].payload_len)
            assert_memory_equal(p.payload, payload, cases[i].payload_len);
        else
            assert_null(p.payload);
        if (cases[i].qos == 0) {
            assert_int_equal(p.packet_id, 0);
            assert_int_equal(id_offset, 0);
            continue;
        }
        assert_int_equal(p.packet_id, cases[i].id);
        /* The id sits at id_offset: patch it and decode again. */
        assert_int_equal(pkt[id_offset] << 8 | pkt[id_offset + 1], cases[i].id);
        pkt[id_offset] = 0xBE;
        pkt[id_offset + 1] = 0xEF;
        frame_one(pkt, len, &f);
        assert_int_equal(mqtt_decode_publish(&f, MQTT_V311, &p), MQ_OK);
        assert_int_equal(p.packet_id, 0xBEEF);
        assert_int_equal(p.payload_len, cases[i].payload_len);
    }
}

static void test_publish_id_offset_null(void **state)
{
    uint8_t pkt[32];
    size_t len =
        mqtt_encode_publish(pkt, "t", 1, (const uint8_t *)"p", 1, 1, false, false, 5, NULL);

    assert_int_equal(len, mqtt_publish_size(1, 1, 1));
    assert_int_equal(pkt[0], 0x32);
}

static void test_subscribe_round_trip(void **state)
{
    static const char *const list[] = {"chat/+/messages", "#", "a/b", "$share/g/x/#"};
    static const uint8_t qos[] = {1, 0, 2, 1};
    uint8_t pkt[128];
    struct mqtt_frame f;
    struct mqtt_subscribe s;
    struct mqtt_str filter;
    uint8_t options;
    size_t len = mqtt_subscribe_size(list, COUNT(list)), i = 0;

    assert_true(len <= sizeof(pkt));
    assert_int_equal(mqtt_encode_subscribe(pkt, 0x0102, list, qos, COUNT(list)), len);
    assert_int_equal(pkt[0], 0x82);
    frame_one(pkt, len, &f);
    assert_int_equal(mqtt_decode_subscribe(&f, MQTT_V311, &s), MQ_OK);
    assert_int_equal(s.packet_id, 0x0102);
    assert_int_equal(s.count, COUNT(list));
    assert_null(s.props);
    while (mqtt_next_filter(&s.iter, &filter, &options)) {
        assert_true(i < COUNT(list));
        assert_str(&filter, list[i]);
        assert_int_equal(options, qos[i]);
        i++;
    }
    assert_int_equal(i, COUNT(list));
    assert_false(mqtt_next_filter(&s.iter, &filter, &options));
}

static void test_unsubscribe_iter(void **state)
{
    static const uint8_t pkt[] = {0xA2, 0x0C, 0x00, 0x09, 0x00, 0x03, 'a',
                                  '/',  'b',  0x00, 0x03, 'c',  '/',  '#'};
    static const uint8_t pkt5[] = {0xA2, 0x09, 0x00, 0x09, 0x03, 0x26, 0x00, 0x00, 0x00, 0x01, '+'};
    struct mqtt_frame f;
    struct mqtt_subscribe s;
    struct mqtt_str filter;
    uint8_t options = 0xFF;

    frame_one(pkt, sizeof(pkt), &f);
    assert_int_equal(mqtt_decode_unsubscribe(&f, MQTT_V311, &s), MQ_OK);
    assert_int_equal(s.packet_id, 9);
    assert_int_equal(s.count, 2);
    assert_true(mqtt_next_filter(&s.iter, &filter, &options));
    assert_str(&filter, "a/b");
    assert_int_equal(options, 0);
    assert_true(mqtt_next_filter(&s.iter, &filter, NULL));
    assert_str(&filter, "c/#");
    assert_false(mqtt_next_filter(&s.iter, &filter, &options));

    /* MQTT 5: a 3-byte property block precedes the (one) filter "+". */
    frame_one(pkt5, sizeof(pkt5), &f);
    assert_int_equal(mqtt_decode_unsubscribe(&f, MQTT_V5, &s), MQ_OK);
    assert_int_equal(s.props_len, 3);
    assert_ptr_equal(s.props, pkt5 + 5);
    assert_int_equal(s.count, 1);
    assert_true(mqtt_next_filter(&s.iter, &filter, &options));
    assert_str(&filter, "+");
    assert_false(mqtt_next_filter(&s.iter, &filter, &options));
}

static void test_ack_round_trip(void **state)
{
    static const uint8_t types[] = {MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP,
                                    MQTT_UNSUBACK};
    static const uint16_t ids[] = {1, 0x00FF, 0x0100, 0xFFFF};

    for (size_t t = 0; t < COUNT(types); t++) {
        for (size_t i = 0; i < COUNT(ids); i++) {
            uint8_t pkt[4];
            struct mqtt_frame f;
            struct mqtt_ack a;

            assert_int_equal(mqtt_encode_ack(pkt, types[t], ids[i]), 4);
            frame_one(pkt, 4, &f);
            assert_int_equal(f.type, types[t]);
            assert_int_equal(f.flags, types[t] == MQTT_PUBREL ? 2 : 0);
            assert_int_equal(mqtt_decode_ack(&f, MQTT_V311, &a), MQ_OK);
            assert_int_equal(a.packet_id, ids[i]);
            assert_int_equal(a.reason_code, 0);
            assert_null(a.props);
        }
    }
}

static void test_ack_v5_reason_and_props(void **state)
{
    static const uint8_t pkt[] = {0x50, 0x07, 0x00, 0x2A, 0x80, 0x03, 0x1F, 0x00, 0x00};
    struct mqtt_frame f;
    struct mqtt_ack a;

    frame_one(pkt, sizeof(pkt), &f);
    assert_int_equal(mqtt_decode_ack(&f, MQTT_V5, &a), MQ_OK);
    assert_int_equal(a.packet_id, 42);
    assert_int_equal(a.reason_code, 0x80);
    assert_int_equal(a.props_len, 3);
    assert_ptr_equal(a.props, pkt + 6);
    /* The same bytes are too long for 3.1.1. */
    assert_int_equal(mqtt_decode_ack(&f, MQTT_V311, &a), MQ_EMALFORMED);
}

static void test_suback_round_trip(void **state)
{
    static const uint8_t codes[] = {0, 1, 2, MQTT_SUBACK_FAILURE, 1};
    uint8_t pkt[16], got[8];
    struct mqtt_frame f;
    uint16_t id = 0;
    size_t n = 0, len = mqtt_suback_size(COUNT(codes));

    assert_int_equal(len, 2 + 2 + COUNT(codes));
    assert_int_equal(mqtt_encode_suback(pkt, 0xABCD, codes, COUNT(codes)), len);
    frame_one(pkt, len, &f);
    assert_int_equal(mqtt_decode_suback(&f, MQTT_V311, &id, got, sizeof(got), &n), MQ_OK);
    assert_int_equal(id, 0xABCD);
    assert_int_equal(n, COUNT(codes));
    assert_memory_equal(got, codes, COUNT(codes));

    /* Room for fewer codes than present: those fit, count is the total. */
    memset(got, 0xEE, sizeof(got));
    assert_int_equal(mqtt_decode_suback(&f, MQTT_V311, &id, got, 2, &n), MQ_OK);
    assert_int_equal(n, COUNT(codes));
    assert_memory_equal(got, codes, 2);
    assert_int_equal(got[2], 0xEE);
    assert_int_equal(mqtt_decode_suback(&f, MQTT_V311, &id, NULL, 0, &n), MQ_OK);
    assert_int_equal(n, COUNT(codes));
}

static void test_suback_large(void **state)
{
    static uint8_t codes[300], got[300], pkt[320];
    struct mqtt_frame f;
    uint16_t id;
    size_t n, len = mqtt_suback_size(COUNT(codes));

    for (size_t i = 0; i < COUNT(codes); i++)
        codes[i] = (uint8_t)(i % 3);
    assert_int_equal(len, 1 + 2 + 2 + COUNT(codes));
    assert_int_equal(mqtt_encode_suback(pkt, 1, codes, COUNT(codes)), len);
    frame_one(pkt, len, &f);
    assert_int_equal(mqtt_decode_suback(&f, MQTT_V311, &id, got, sizeof(got), &n), MQ_OK);
    assert_int_equal(n, COUNT(codes));
    assert_memory_equal(got, codes, COUNT(codes));
}

static void test_connack_round_trip(void **state)
{
    static const struct {
        bool sp;
        uint8_t rc;
    } cases[] = {
        {false, MQTT_CONNACK_ACCEPTED},       {true, MQTT_CONNACK_ACCEPTED},
        {false, MQTT_CONNACK_BAD_PROTOCOL},   {false, MQTT_CONNACK_ID_REJECTED},
        {false, MQTT_CONNACK_UNAVAILABLE},    {false, MQTT_CONNACK_BAD_CREDENTIALS},
        {false, MQTT_CONNACK_NOT_AUTHORIZED},
    };

    for (size_t i = 0; i < COUNT(cases); i++) {
        uint8_t pkt[4];
        struct mqtt_frame f;
        bool sp = !cases[i].sp;
        uint8_t rc = 0xFF;

        assert_int_equal(mqtt_encode_connack(pkt, cases[i].sp, cases[i].rc), 4);
        frame_one(pkt, 4, &f);
        assert_int_equal(mqtt_decode_connack(&f, MQTT_V311, &sp, &rc), MQ_OK);
        assert_int_equal(sp, cases[i].sp);
        assert_int_equal(rc, cases[i].rc);
    }
}

static void test_empty_round_trip(void **state)
{
    static const uint8_t types[] = {MQTT_PINGREQ, MQTT_PINGRESP, MQTT_DISCONNECT};

    for (size_t i = 0; i < COUNT(types); i++) {
        for (uint8_t v = MQTT_V31; v <= MQTT_V5; v++) {
            uint8_t pkt[2];
            struct mqtt_frame f;
            struct mqtt_disconnect d;

            assert_int_equal(mqtt_encode_empty(pkt, types[i]), 2);
            frame_one(pkt, 2, &f);
            assert_int_equal(f.type, types[i]);
            assert_int_equal(mqtt_decode_empty(&f), MQ_OK);
            assert_int_equal(mqtt_decode_disconnect(&f, v, &d), MQ_OK);
            assert_int_equal(d.reason_code, 0);
            assert_null(d.props);
        }
    }
}

/* ---- truncation ---- */

/* Valid packets: every strict prefix must ask for more bytes. */
static void test_truncated_frames(void **state)
{
    static const char *const list[] = {"a/+", "b/#"};
    static const uint8_t qos[] = {0, 2};
    static const uint8_t codes[] = {0, 0x80};
    static uint8_t big[300];
    const struct mqtt_connect_opts o = {.client_id = "client",
                                        .keepalive = 60,
                                        .username = "user",
                                        .password = "pass",
                                        .will_topic = "will",
                                        .will_payload = (const uint8_t *)"payload",
                                        .will_payload_len = 7,
                                        .will_qos = 2};
    uint8_t pkts[8][400];
    size_t lens[8], n = 0;

    lens[n] = mqtt_encode_connect(pkts[n], &o), n++;
    lens[n] = mqtt_encode_publish(pkts[n], "t/1", 3, big, 5, 1, false, false, 7, NULL), n++;
    lens[n] = mqtt_encode_publish(pkts[n], "t/2", 3, big, sizeof(big), 2, 1, 0, 8, NULL), n++;
    lens[n] = mqtt_encode_subscribe(pkts[n], 3, list, qos, 2), n++;
    lens[n] = mqtt_encode_ack(pkts[n], MQTT_PUBREL, 3), n++;
    lens[n] = mqtt_encode_suback(pkts[n], 3, codes, 2), n++;
    lens[n] = mqtt_encode_connack(pkts[n], true, 0), n++;
    lens[n] = mqtt_encode_empty(pkts[n], MQTT_PINGREQ), n++;

    for (size_t i = 0; i < n; i++) {
        struct mqtt_frame f;

        for (size_t len = 0; len < lens[i]; len++) {
            if (mqtt_frame(pkts[i], len, 0, &f) != MQ_EAGAIN)
                fail_msg("packet %zu: prefix of %zu/%zu bytes not MQ_EAGAIN", i, len, lens[i]);
        }
        frame_one(pkts[i], lens[i], &f);
        assert_int_equal(decode_any(&f, MQTT_V311), MQ_OK);
    }
}

/* Bodies cut short at every byte: the decoder must refuse, not read on. */
static void test_truncated_bodies(void **state)
{
    static const char *const one[] = {"only/filter"};
    static const uint8_t qos[] = {1};
    const struct mqtt_connect_opts o = {.client_id = "client",
                                        .username = "user",
                                        .password = "pass",
                                        .will_topic = "will",
                                        .will_payload = (const uint8_t *)"payload",
                                        .will_payload_len = 7,
                                        .will_qos = 1};
    uint8_t pkts[3][128];
    size_t lens[3];

    lens[0] = mqtt_encode_connect(pkts[0], &o);
    lens[1] = mqtt_encode_subscribe(pkts[1], 3, one, qos, 1);
    lens[2] = mqtt_encode_ack(pkts[2], MQTT_PUBACK, 3);
    for (size_t i = 0; i < 3; i++) {
        struct mqtt_frame whole, f;

        frame_one(pkts[i], lens[i], &whole);
        for (uint32_t cut = 0; cut < whole.body_len; cut++) {
            int rc;

            f = whole;
            f.body_len = cut;
            rc = decode_any(&f, MQTT_V311);
            if (rc != MQ_EMALFORMED)
                fail_msg("packet %zu cut to %u/%u: %s", i, cut, whole.body_len, mq_strerror(rc));
        }
    }
}

/* A QoS 1 PUBLISH cut inside the topic or id is malformed; cut in the
 * payload it is a shorter, valid PUBLISH. */
static void test_truncated_publish(void **state)
{
    uint8_t pkt[32];
    size_t len = mqtt_encode_publish(pkt, "abc", 3, (const uint8_t *)"xyz", 3, 1, 0, 0, 5, NULL);
    struct mqtt_frame whole, f;
    struct mqtt_publish p;

    frame_one(pkt, len, &whole);
    for (uint32_t cut = 0; cut < whole.body_len; cut++) {
        f = whole;
        f.body_len = cut;
        if (cut < 2 + 3 + 2) {
            assert_int_equal(mqtt_decode_publish(&f, MQTT_V311, &p), MQ_EMALFORMED);
        } else {
            assert_int_equal(mqtt_decode_publish(&f, MQTT_V311, &p), MQ_OK);
            assert_int_equal(p.payload_len, cut - 7);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_boundaries),
        cmocka_unit_test(test_varint_malformed),
        cmocka_unit_test(test_frame_remaining_length),
        cmocka_unit_test(test_frame_malformed_length),
        cmocka_unit_test(test_frame_max_packet),
        cmocka_unit_test(test_frame_fixed_header_flags),
        cmocka_unit_test(test_frame_back_to_back),
        cmocka_unit_test(test_utf8_check),
        cmocka_unit_test(test_utf8_in_packets),
        cmocka_unit_test(test_packet_table),
        cmocka_unit_test(test_decoder_arguments),
        cmocka_unit_test(test_subscribe_filters),
        cmocka_unit_test(test_connect_round_trip),
        cmocka_unit_test(test_connect_v31),
        cmocka_unit_test(test_connect_v5),
        cmocka_unit_test(test_connect_unknown_protocol_sets_version),
        cmocka_unit_test(test_publish_round_trip),
        cmocka_unit_test(test_publish_id_offset_null),
        cmocka_unit_test(test_subscribe_round_trip),
        cmocka_unit_test(test_unsubscribe_iter),
        cmocka_unit_test(test_ack_round_trip),
        cmocka_unit_test(test_ack_v5_reason_and_props),
        cmocka_unit_test(test_suback_round_trip),
        cmocka_unit_test(test_suback_large),
        cmocka_unit_test(test_connack_round_trip),
        cmocka_unit_test(test_empty_round_trip),
        cmocka_unit_test(test_truncated_frames),
        cmocka_unit_test(test_truncated_bodies),
        cmocka_unit_test(test_truncated_publish),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
