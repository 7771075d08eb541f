/*
 * test_mqtt5.c - unit tests for broker/mqtt5.c.
 *
 * The heart is a table written from section 2.2.2.2 of the MQTT 5.0
 * specification: one valid instance of every property with the contexts
 * the specification allows it in. Each is decoded in every context (accepted
 * where allowed, malformed elsewhere), given twice, and re-encoded with the
 * writer. Then tables of bad values with the error each must give,
 * truncation at every byte of valid blocks, user properties in order, the
 * filter, the writer's sizing and overflow, and every v5 encoder decoded
 * back through mqtt_frame(), the MQTT 5 paths of mqtt_codec.c and
 * mqtt5_props_decode(). The module is pure, so nothing here needs stubs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt5.h"
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

/* The contexts, by name, for messages. */
static const char *const ctx_names[MQTT5_CTX_COUNT] = {
    "CONNECT",   "WILL",   "CONNACK",     "PUBLISH",  "PUBLISH_OUT", "ACK",
    "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "DISCONNECT",  "AUTH",
};

/* ---- the property table of section 2.2.2.2 ---- */

#define IN(x)      (1u << MQTT5_CTX_##x)
#define PUBLISHES  (IN(PUBLISH) | IN(PUBLISH_OUT))
#define EVERYWHERE ((1u << MQTT5_CTX_COUNT) - 1)

/* Value types, as the test knows them: byte, u16, u32, varint, string,
 * binary, string pair. */
enum { BYTE, U16, U32, VARINT, STR, BIN, PAIR };

static const struct prop_case {
    uint8_t id;
    int type;
    const uint8_t *bytes; /* one valid instance: id, then value */
    size_t n;
    unsigned allowed; /* IN(ctx) for each context the specification lists */
    uint32_t num;     /* the value, for the numeric types */
} prop_cases[] = {
    {0x01, BYTE, B(0x01, 0x01), PUBLISHES | IN(WILL), 1},
    {0x02, U32, B(0x02, 0x00, 0x00, 0x0E, 0x10), PUBLISHES | IN(WILL), 3600},
    {0x03, STR, B(0x03, 0x00, 0x04, 'j', 's', 'o', 'n'), PUBLISHES | IN(WILL), 0},
    {0x08, STR, B(0x08, 0x00, 0x05, 'r', 'e', 'p', '/', '1'), PUBLISHES | IN(WILL), 0},
    {0x09, BIN, B(0x09, 0x00, 0x03, 0x00, 0xFF, 0x10), PUBLISHES | IN(WILL), 0},
    {0x0B, VARINT, B(0x0B, 0x80, 0x01), PUBLISHES | IN(SUBSCRIBE), 128},
    {0x11, U32, B(0x11, 0xFF, 0xFF, 0xFF, 0xFF), IN(CONNECT) | IN(CONNACK) | IN(DISCONNECT),
     0xFFFFFFFFu},
    {0x12, STR, B(0x12, 0x00, 0x03, 'a', 'b', 'c'), IN(CONNACK), 0},
    {0x13, U16, B(0x13, 0x00, 0x3C), IN(CONNACK), 60},
    {0x15, STR, B(0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M'), IN(CONNECT) | IN(CONNACK) | IN(AUTH),
     0},
    {0x16, BIN, B(0x16, 0x00, 0x02, 0x01, 0x02), IN(CONNECT) | IN(CONNACK) | IN(AUTH), 0},
    {0x17, BYTE, B(0x17, 0x00), IN(CONNECT), 0},
    {0x18, U32, B(0x18, 0x00, 0x00, 0x00, 0x1E), IN(WILL), 30},
    {0x19, BYTE, B(0x19, 0x01), IN(CONNECT), 1},
    {0x1A, STR, B(0x1A, 0x00, 0x02, 'r', '/'), IN(CONNACK), 0},
    {0x1C, STR, B(0x1C, 0x00, 0x04, 'h', 'o', 's', 't'), IN(CONNACK) | IN(DISCONNECT), 0},
    {0x1F, STR, B(0x1F, 0x00, 0x02, 'o', 'k'),
     IN(CONNACK) | IN(ACK) | IN(SUBACK) | IN(UNSUBACK) | IN(DISCONNECT) | IN(AUTH), 0},
    {0x21, U16, B(0x21, 0x00, 0x0A), IN(CONNECT) | IN(CONNACK), 10},
    {0x22, U16, B(0x22, 0x00, 0x00), IN(CONNECT) | IN(CONNACK), 0},
    {0x23, U16, B(0x23, 0xFF, 0xFF), PUBLISHES, 65535},
    {0x24, BYTE, B(0x24, 0x01), IN(CONNACK), 1},
    {0x25, BYTE, B(0x25, 0x00), IN(CONNACK), 0},
    {0x26, PAIR, B(0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v'), EVERYWHERE, 0},
    {0x27, U32, B(0x27, 0x00, 0x01, 0x00, 0x00), IN(CONNECT) | IN(CONNACK), 65536},
    {0x28, BYTE, B(0x28, 0x01), IN(CONNACK), 1},
    {0x29, BYTE, B(0x29, 0x00), IN(CONNACK), 0},
    {0x2A, BYTE, B(0x2A, 0x01), IN(CONNACK), 1},
};

/* The numeric field of *p that property id fills. */
static uint32_t num_field(const struct mqtt5_props *p, uint8_t id)
{
    switch (id) {
    case 0x01:
        return p->payload_format;
    case 0x02:
        return p->message_expiry;
    case 0x0B:
        return p->subid_count ? p->subid[0] : 0;
    case 0x11:
        return p->session_expiry;
    case 0x13:
        return p->server_keepalive;
    case 0x17:
        return p->request_problem_info;
    case 0x18:
        return p->will_delay;
    case 0x19:
        return p->request_response_info;
    case 0x21:
        return p->receive_maximum;
    case 0x22:
        return p->topic_alias_maximum;
    case 0x23:
        return p->topic_alias;
    case 0x24:
        return p->maximum_qos;
    case 0x25:
        return p->retain_available;
    case 0x27:
        return p->maximum_packet_size;
    case 0x28:
        return p->wildcard_sub_available;
    case 0x29:
        return p->subid_available;
    case 0x2A:
        return p->shared_sub_available;
    }
    fail_msg("no numeric field for property 0x%02X", id);
    return 0;
}

/* The string or binary field of *p that property id fills. */
static struct mqtt_str str_field(const struct mqtt5_props *p, uint8_t id)
{
    struct mqtt_str none = {0};

    switch (id) {
    case 0x03:
        return p->content_type;
    case 0x08:
        return p->response_topic;
    case 0x09:
        return p->correlation_data;
    case 0x12:
        return p->assigned_client_id;
    case 0x15:
        return p->auth_method;
    case 0x16:
        return p->auth_data;
    case 0x1A:
        return p->response_info;
    case 0x1C:
        return p->server_reference;
    case 0x1F:
        return p->reason_string;
    }
    fail_msg("no string field for property 0x%02X", id);
    return none;
}

/* Checks that *p holds exactly the one property c decoded from c->bytes. */
static void check_decoded(const struct prop_case *c, const struct mqtt5_props *p)
{
    struct mqtt5_user_iter it;
    struct mqtt_str key, value, s;

    assert_true(p->present == (uint64_t)1 << c->id);
    assert_true(mqtt5_has(p, c->id));
    assert_ptr_equal(p->raw, c->bytes);
    assert_int_equal(p->raw_len, c->n);
    switch (c->type) {
    case BYTE:
    case U16:
    case U32:
    case VARINT:
        assert_int_equal(num_field(p, c->id), c->num);
        break;
    case STR:
    case BIN:
        /* A view into the caller's buffer, after the id and the length. */
        s = str_field(p, c->id);
        assert_ptr_equal(s.s, c->bytes + 3);
        assert_int_equal(s.len, c->n - 3);
        break;
    case PAIR:
        assert_int_equal(p->user_count, 1);
        mqtt5_user_iter_init(&it, p);
        assert_true(mqtt5_user_next(&it, &key, &value));
        assert_ptr_equal(key.s, c->bytes + 3);
        assert_int_equal(key.len, 1);
        assert_ptr_equal(value.s, c->bytes + 6);
        assert_int_equal(value.len, 1);
        assert_false(mqtt5_user_next(&it, &key, &value));
        break;
    }
    if (c->id == MQTT5_PROP_SUBSCRIPTION_IDENTIFIER)
        assert_int_equal(p->subid_count, 1);
}

/* Every property in every context: accepted where section 2.2.2.2 allows
 * it, malformed elsewhere, with bad_id naming it. */
static void test_prop_in_every_context(void **state)
{
    for (size_t i = 0; i < COUNT(prop_cases); i++) {
        const struct prop_case *c = &prop_cases[i];

        for (int ctx = 0; ctx < MQTT5_CTX_COUNT; ctx++) {
            struct mqtt5_props p;
            char name[80];
            int want = MQ_OK;

            snprintf(name, sizeof(name), "%s in %s", mqtt5_prop_name(c->id), ctx_names[ctx]);
            if (!(c->allowed & 1u << ctx))
                want = MQ_EMALFORMED;
            else if (c->id == MQTT5_PROP_SUBSCRIPTION_IDENTIFIER && ctx == MQTT5_CTX_PUBLISH)
                want = MQ_EPROTOCOL; /* a client's PUBLISH: 3.3.4 */
            else if (c->id == MQTT5_PROP_AUTHENTICATION_DATA && ctx == MQTT5_CTX_CONNECT)
                want = MQ_EPROTOCOL; /* without a method: 3.1.2.11.10 */
            CHECK_RC(name, mqtt5_props_decode(c->bytes, (uint32_t)c->n, ctx, &p), want);
            if (want == MQ_OK) {
                check_decoded(c, &p);
                assert_int_equal(p.bad_id, 0);
            } else {
                assert_int_equal(p.bad_id, c->id);
            }
        }
    }
}

/* Each property's name is the specification's, and no undefined id has one. */
static void test_prop_names(void **state)
{
    size_t named = 0;

    for (unsigned id = 0; id < 256; id++) {
        if (strcmp(mqtt5_prop_name((uint8_t)id), "Unknown property") != 0)
            named++;
    }
    assert_int_equal(named, COUNT(prop_cases));
    assert_string_equal(mqtt5_prop_name(0x23), "Topic Alias");
    assert_string_equal(mqtt5_prop_name(0x26), "User Property");
    assert_string_equal(mqtt5_prop_name(0x0B), "Subscription Identifier");
    assert_string_equal(mqtt5_prop_name(0x04), "Unknown property");
}

/* A context the block was found in, for a property: its first allowed one,
 * avoiding CONNECT for Authentication Data and PUBLISH for Subscription
 * Identifier, where it needs company or is refused. */
static enum mqtt5_ctx home_ctx(const struct prop_case *c)
{
    for (int ctx = 0; ctx < MQTT5_CTX_COUNT; ctx++) {
        if (!(c->allowed & 1u << ctx))
            continue;
        if (c->id == MQTT5_PROP_AUTHENTICATION_DATA && ctx == MQTT5_CTX_CONNECT)
            continue;
        if (c->id == MQTT5_PROP_SUBSCRIPTION_IDENTIFIER && ctx == MQTT5_CTX_PUBLISH)
            continue;
        return (enum mqtt5_ctx)ctx;
    }
    fail_msg("no context for 0x%02X", c->id);
    return MQTT5_CTX_CONNECT;
}

/* Every property twice: only User Property (anywhere) and Subscription
 * Identifier (in a server's PUBLISH) may repeat. */
static void test_duplicates(void **state)
{
    for (size_t i = 0; i < COUNT(prop_cases); i++) {
        const struct prop_case *c = &prop_cases[i];
        enum mqtt5_ctx ctx = home_ctx(c);
        struct mqtt5_props p;
        uint8_t two[32];

        memcpy(two, c->bytes, c->n);
        memcpy(two + c->n, c->bytes, c->n);
        if (c->id == MQTT5_PROP_USER_PROPERTY) {
            CHECK_RC("user property twice", mqtt5_props_decode(two, 2 * c->n, ctx, &p), MQ_OK);
            assert_int_equal(p.user_count, 2);
            continue;
        }
        if (c->id == MQTT5_PROP_SUBSCRIPTION_IDENTIFIER) {
            CHECK_RC("subscription id twice out", mqtt5_props_decode(two, 2 * c->n, ctx, &p),
                     MQ_OK);
            assert_int_equal(p.subid_count, 2);
            ctx = MQTT5_CTX_SUBSCRIBE; /* one only */
        }
        CHECK_RC(mqtt5_prop_name(c->id), mqtt5_props_decode(two, 2 * c->n, ctx, &p), MQ_EPROTOCOL);
        assert_int_equal(p.bad_id, c->id);
    }
}

static void test_subscription_identifiers(void **state)
{
    /* 1, 128, 268435455 (the largest): in a server's PUBLISH, kept in order. */
    static const uint8_t three[] = {0x0B, 0x01, 0x0B, 0x80, 0x01, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F};
    uint8_t many[2 * (MQTT5_MAX_SUBIDS + 3)];
    struct mqtt5_props p;

    assert_int_equal(mqtt5_props_decode(three, sizeof(three), MQTT5_CTX_PUBLISH_OUT, &p), MQ_OK);
    assert_int_equal(p.subid_count, 3);
    assert_int_equal(p.subid[0], 1);
    assert_int_equal(p.subid[1], 128);
    assert_int_equal(p.subid[2], MQTT5_MAX_SUBID);
    /* Repeated in SUBSCRIBE (one only) or present in a client's PUBLISH. */
    assert_int_equal(mqtt5_props_decode(three, sizeof(three), MQTT5_CTX_SUBSCRIBE, &p),
                     MQ_EPROTOCOL);
    assert_int_equal(mqtt5_props_decode(three, 2, MQTT5_CTX_SUBSCRIBE, &p), MQ_OK);
    assert_int_equal(p.subid[0], 1);
    assert_int_equal(mqtt5_props_decode(three, 2, MQTT5_CTX_PUBLISH, &p), MQ_EPROTOCOL);
    assert_int_equal(p.bad_id, MQTT5_PROP_SUBSCRIPTION_IDENTIFIER);

    /* More than MQTT5_MAX_SUBIDS: all counted, the first ones kept. */
    for (size_t i = 0; i < MQTT5_MAX_SUBIDS + 3; i++) {
        many[2 * i] = 0x0B;
        many[2 * i + 1] = (uint8_t)(i + 1);
    }
    assert_int_equal(mqtt5_props_decode(many, sizeof(many), MQTT5_CTX_PUBLISH_OUT, &p), MQ_OK);
    assert_int_equal(p.subid_count, MQTT5_MAX_SUBIDS + 3);
    for (uint32_t i = 0; i < MQTT5_MAX_SUBIDS; i++)
        assert_int_equal(p.subid[i], i + 1);
}

/* ---- bad values, ids and strings ---- */

static const struct {
    const char *name;
    const uint8_t *bytes;
    size_t n;
    enum mqtt5_ctx ctx;
    int want;
    uint8_t bad_id;
} bad_values[] = {
    /* Values the specification allows, at their limits. */
    {"payload format 0", B(0x01, 0x00), MQTT5_CTX_PUBLISH, MQ_OK, 0},
    {"payload format 1", B(0x01, 0x01), MQTT5_CTX_WILL, MQ_OK, 0},
    {"receive maximum 1", B(0x21, 0x00, 0x01), MQTT5_CTX_CONNECT, MQ_OK, 0},
    {"maximum packet size 1", B(0x27, 0, 0, 0, 1), MQTT5_CTX_CONNACK, MQ_OK, 0},
    {"topic alias 1", B(0x23, 0x00, 0x01), MQTT5_CTX_PUBLISH, MQ_OK, 0},
    {"topic alias maximum 0", B(0x22, 0x00, 0x00), MQTT5_CTX_CONNECT, MQ_OK, 0},
    {"subscription id max", B(0x0B, 0xFF, 0xFF, 0xFF, 0x7F), MQTT5_CTX_SUBSCRIBE, MQ_OK, 0},
    {"maximum QoS 0", B(0x24, 0x00), MQTT5_CTX_CONNACK, MQ_OK, 0},
    {"empty strings", B(0x1F, 0, 0, 0x26, 0, 0, 0, 0), MQTT5_CTX_ACK, MQ_OK, 0},
    {"auth method and data", B(0x16, 0, 1, 'x', 0x15, 0, 1, 'm'), MQTT5_CTX_CONNECT, MQ_OK, 0},
    {"auth data alone in AUTH", B(0x16, 0, 1, 'x'), MQTT5_CTX_AUTH, MQ_OK, 0},
    {"4-byte UTF-8", B(0x1F, 0, 4, 0xF0, 0x9F, 0x98, 0x80), MQTT5_CTX_ACK, MQ_OK, 0},
    {"empty block", NULL, 0, MQTT5_CTX_CONNACK, MQ_OK, 0},

    /* Protocol errors (0x82). */
    {"payload format 2", B(0x01, 0x02), MQTT5_CTX_PUBLISH, MQ_EPROTOCOL, 0x01},
    {"payload format 255", B(0x01, 0xFF), MQTT5_CTX_WILL, MQ_EPROTOCOL, 0x01},
    {"request problem info 2", B(0x17, 0x02), MQTT5_CTX_CONNECT, MQ_EPROTOCOL, 0x17},
    {"request response info 2", B(0x19, 0x02), MQTT5_CTX_CONNECT, MQ_EPROTOCOL, 0x19},
    {"receive maximum 0", B(0x21, 0x00, 0x00), MQTT5_CTX_CONNACK, MQ_EPROTOCOL, 0x21},
    {"maximum packet size 0", B(0x27, 0, 0, 0, 0), MQTT5_CTX_CONNECT, MQ_EPROTOCOL, 0x27},
    {"topic alias 0", B(0x23, 0x00, 0x00), MQTT5_CTX_PUBLISH, MQ_EPROTOCOL, 0x23},
    {"subscription id 0", B(0x0B, 0x00), MQTT5_CTX_SUBSCRIBE, MQ_EPROTOCOL, 0x0B},
    {"subscription id 0 out", B(0x0B, 0x00), MQTT5_CTX_PUBLISH_OUT, MQ_EPROTOCOL, 0x0B},
    {"maximum QoS 2", B(0x24, 0x02), MQTT5_CTX_CONNACK, MQ_EPROTOCOL, 0x24},
    {"retain available 2", B(0x25, 0x02), MQTT5_CTX_CONNACK, MQ_EPROTOCOL, 0x25},
    {"wildcard available 2", B(0x28, 0x02), MQTT5_CTX_CONNACK, MQ_EPROTOCOL, 0x28},
    {"subid available 2", B(0x29, 0x02), MQTT5_CTX_CONNACK, MQ_EPROTOCOL, 0x29},
    {"shared available 2", B(0x2A, 0x02), MQTT5_CTX_CONNACK, MQ_EPROTOCOL, 0x2A},
    {"response topic with +", B(0x08, 0, 3, 'a', '/', '+'), MQTT5_CTX_PUBLISH, MQ_EPROTOCOL, 0x08},
    {"response topic with #", B(0x08, 0, 1, '#'), MQTT5_CTX_WILL, MQ_EPROTOCOL, 0x08},
    {"response topic empty", B(0x08, 0, 0), MQTT5_CTX_PUBLISH, MQ_EPROTOCOL, 0x08},
    {"auth data alone in CONNECT", B(0x16, 0, 1, 'x'), MQTT5_CTX_CONNECT, MQ_EPROTOCOL, 0x16},
    {"first error wins", B(0x23, 0, 0, 0x00), MQTT5_CTX_PUBLISH, MQ_EPROTOCOL, 0x23},

    /* Bad UTF-8 (answered as 0x81). */
    {"content type overlong", B(0x03, 0, 2, 0xC0, 0x80), MQTT5_CTX_PUBLISH, MQ_EUTF8, 0x03},
    {"reason string U+0000", B(0x1F, 0, 1, 0x00), MQTT5_CTX_SUBACK, MQ_EUTF8, 0x1F},
    {"assigned id surrogate", B(0x12, 0, 3, 0xED, 0xA0, 0x80), MQTT5_CTX_CONNACK, MQ_EUTF8, 0x12},
    {"auth method cut UTF-8", B(0x15, 0, 1, 0xE2), MQTT5_CTX_AUTH, MQ_EUTF8, 0x15},
    {"response info 0xFF", B(0x1A, 0, 1, 0xFF), MQTT5_CTX_CONNACK, MQ_EUTF8, 0x1A},
    {"server reference NUL", B(0x1C, 0, 2, 'a', 0), MQTT5_CTX_DISCONNECT, MQ_EUTF8, 0x1C},
    {"response topic bad", B(0x08, 0, 1, 0x80), MQTT5_CTX_PUBLISH, MQ_EUTF8, 0x08},
    {"user key bad", B(0x26, 0, 1, 0x80, 0, 1, 'v'), MQTT5_CTX_PUBLISH, MQ_EUTF8, 0x26},
    {"user value bad", B(0x26, 0, 1, 'k', 0, 1, 0x00), MQTT5_CTX_CONNECT, MQ_EUTF8, 0x26},
    {"binary may hold anything", B(0x09, 0, 2, 0x00, 0xFF), MQTT5_CTX_PUBLISH, MQ_OK, 0},

    /* Malformed (0x81): unknown ids, bad varints, truncation. */
    {"id 0", B(0x00, 0x00), MQTT5_CTX_CONNECT, MQ_EMALFORMED, 0x00},
    {"id 4", B(0x04, 0x00), MQTT5_CTX_PUBLISH, MQ_EMALFORMED, 0x04},
    {"id 0x2B", B(0x2B, 0x00), MQTT5_CTX_CONNACK, MQ_EMALFORMED, 0x2B},
    {"id 0x7F", B(0x7F, 0x00), MQTT5_CTX_CONNACK, MQ_EMALFORMED, 0x7F},
    {"two-byte id", B(0x81, 0x00, 0x01), MQTT5_CTX_PUBLISH, MQ_EMALFORMED, 0x81},
    {"subscription id non-minimal", B(0x0B, 0x81, 0x00), MQTT5_CTX_SUBSCRIBE, MQ_EMALFORMED, 0x0B},
    {"subscription id 5 bytes", B(0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), MQTT5_CTX_SUBSCRIBE,
     MQ_EMALFORMED, 0x0B},
    {"subscription id cut", B(0x0B, 0x80), MQTT5_CTX_SUBSCRIBE, MQ_EMALFORMED, 0x0B},
    {"string length past end", B(0x03, 0, 5, 'a'), MQTT5_CTX_PUBLISH, MQ_EMALFORMED, 0x03},
    {"pair without value", B(0x26, 0, 1, 'k'), MQTT5_CTX_PUBLISH, MQ_EMALFORMED, 0x26},
    {"u32 cut", B(0x02, 0, 0, 1), MQTT5_CTX_PUBLISH, MQ_EMALFORMED, 0x02},
    {"valid then unknown", B(0x01, 0x01, 0x05), MQTT5_CTX_PUBLISH, MQ_EMALFORMED, 0x05},
    {"wrong packet", B(0x23, 0x00, 0x01), MQTT5_CTX_PUBLISH_OUT, MQ_OK, 0},
    {"wrong packet too", B(0x23, 0x00, 0x01), MQTT5_CTX_WILL, MQ_EMALFORMED, 0x23},
};

static void test_bad_values(void **state)
{
    for (size_t i = 0; i < COUNT(bad_values); i++) {
        struct mqtt5_props p;
        int rc = mqtt5_props_decode(bad_values[i].bytes, (uint32_t)bad_values[i].n,
                                    bad_values[i].ctx, &p);

        CHECK_RC(bad_values[i].name, rc, bad_values[i].want);
        if (p.bad_id != bad_values[i].bad_id)
            fail_msg("%s: bad_id 0x%02X, want 0x%02X", bad_values[i].name, p.bad_id,
                     bad_values[i].bad_id);
        if (bad_values[i].want == MQ_EPROTOCOL)
            assert_int_equal(mqtt5_reason_for_error(rc), MQTT5_RC_PROTOCOL_ERROR);
        else if (bad_values[i].want != MQ_OK)
            assert_int_equal(mqtt5_reason_for_error(rc), MQTT5_RC_MALFORMED_PACKET);
    }
}

static void test_decode_arguments(void **state)
{
    static const uint8_t one[] = {0x01, 0x01};
    struct mqtt5_props p;

    assert_int_equal(mqtt5_props_decode(one, 2, MQTT5_CTX_COUNT, &p), MQ_EINVAL);
    assert_int_equal(mqtt5_props_decode(one, 2, (enum mqtt5_ctx) - 1, &p), MQ_EINVAL);
    assert_int_equal(mqtt5_props_decode(NULL, 2, MQTT5_CTX_PUBLISH, &p), MQ_EINVAL);
    assert_int_equal(mqtt5_props_decode(NULL, 0, MQTT5_CTX_PUBLISH, &p), MQ_OK);
    assert_int_equal(p.present, 0);
    assert_null(p.raw);
    /* An empty block at a real address: nothing present. */
    assert_int_equal(mqtt5_props_decode(one, 0, MQTT5_CTX_PUBLISH, &p), MQ_OK);
    assert_int_equal(p.present, 0);
    assert_int_equal(p.user_count, 0);
}

/* ---- truncation ---- */

/* Appends c's bytes to buf at *len and records the new end in ends[]. */
static void append(uint8_t *buf, size_t *len, size_t *ends, size_t *nends, const uint8_t *b,
                   size_t n)
{
    memcpy(buf + *len, b, n);
    *len += n;
    ends[(*nends)++] = *len;
}

/* Every cut of a valid block decodes only at a property boundary; inside a
 * property it is malformed. Done for every property in its home context
 * (with a User Property after it) and for two blocks holding many types. */
static void test_truncation(void **state)
{
    for (size_t i = 0; i < COUNT(prop_cases) + 2; i++) {
        uint8_t block[256];
        size_t ends[40], nends = 0, len = 0;
        enum mqtt5_ctx ctx;

        if (i < COUNT(prop_cases)) {
            ctx = home_ctx(&prop_cases[i]);
            append(block, &len, ends, &nends, prop_cases[i].bytes, prop_cases[i].n);
            append(block, &len, ends, &nends, B(0x26, 0, 2, 'k', '1', 0, 2, 'v', '1'));
        } else if (i == COUNT(prop_cases)) {
            ctx = MQTT5_CTX_CONNACK; /* every CONNACK property */
            for (size_t j = 0; j < COUNT(prop_cases); j++) {
                if (prop_cases[j].allowed & IN(CONNACK))
                    append(block, &len, ends, &nends, prop_cases[j].bytes, prop_cases[j].n);
            }
        } else {
            ctx = MQTT5_CTX_PUBLISH_OUT; /* every PUBLISH property, two ids */
            for (size_t j = 0; j < COUNT(prop_cases); j++) {
                if (prop_cases[j].allowed & IN(PUBLISH_OUT))
                    append(block, &len, ends, &nends, prop_cases[j].bytes, prop_cases[j].n);
            }
            append(block, &len, ends, &nends, B(0x0B, 0xFF, 0xFF, 0xFF, 0x7F));
        }
        assert_true(len <= sizeof(block));
        for (size_t cut = 0; cut <= len; cut++) {
            struct mqtt5_props p;
            bool boundary = cut == 0;
            uint8_t *copy;
            char name[64];

            for (size_t j = 0; j < nends; j++)
                boundary = boundary || ends[j] == cut;
            snprintf(name, sizeof(name), "case %zu cut at %zu of %zu", i, cut, len);
            /* An exact-size copy, so a sanitizer sees any read past the cut. */
            copy = malloc(cut ? cut : 1);
            assert_non_null(copy);
            memcpy(copy, block, cut);
            CHECK_RC(name, mqtt5_props_decode(copy, (uint32_t)cut, ctx, &p),
                     boundary ? MQ_OK : MQ_EMALFORMED);
            free(copy);
        }
    }
}

/* ---- user properties ---- */

static void test_user_properties_in_order(void **state)
{
    /* (a, 1), topic alias, (b, 2), (a, 3), (, ) -- the last one empty. */
    static const uint8_t block[] = {
        0x26, 0,   1,    'a', 0, 1,   '1', 0x23, 0,   7,    0x26, 0, 1, 'b', 0,
        1,    '2', 0x26, 0,   1, 'a', 0,   1,    '3', 0x26, 0,    0, 0, 0,
    };
    static const char *const want[][2] = {{"a", "1"}, {"b", "2"}, {"a", "3"}, {"", ""}};
    struct mqtt5_user_iter it;
    struct mqtt_str key, value;
    struct mqtt5_props p;
    size_t n = 0;

    assert_int_equal(mqtt5_props_decode(block, sizeof(block), MQTT5_CTX_PUBLISH, &p), MQ_OK);
    assert_int_equal(p.user_count, 4);
    assert_int_equal(p.topic_alias, 7);
    mqtt5_user_iter_init(&it, &p);
    while (mqtt5_user_next(&it, &key, &value)) {
        assert_true(n < COUNT(want));
        assert_int_equal(key.len, strlen(want[n][0]));
        assert_memory_equal(key.s, want[n][0], key.len);
        assert_int_equal(value.len, strlen(want[n][1]));
        assert_memory_equal(value.s, want[n][1], value.len);
        assert_true((const uint8_t *)key.s > block && (const uint8_t *)value.s <= block + 29);
        n++;
    }
    assert_int_equal(n, COUNT(want));
    assert_false(mqtt5_user_next(&it, &key, &value)); /* stays finished */

    /* No block, and a block that stops making sense: no pairs, no overrun. */
    assert_int_equal(mqtt5_props_decode(NULL, 0, MQTT5_CTX_ACK, &p), MQ_OK);
    mqtt5_user_iter_init(&it, &p);
    assert_false(mqtt5_user_next(&it, &key, &value));
    p.raw = block;
    p.raw_len = 20; /* cuts the (a, 3) pair */
    mqtt5_user_iter_init(&it, &p);
    assert_true(mqtt5_user_next(&it, &key, &value));
    assert_true(mqtt5_user_next(&it, &key, &value));
    assert_false(mqtt5_user_next(&it, &key, &value));
}

/* ---- filter ---- */

static void test_filter(void **state)
{
    /* What the broker drops from a PUBLISH it forwards. */
    static const uint8_t drop[] = {MQTT5_PROP_TOPIC_ALIAS, MQTT5_PROP_SUBSCRIPTION_IDENTIFIER,
                                   MQTT5_PROP_MESSAGE_EXPIRY_INTERVAL};
    static const uint8_t in[] = {
        0x23, 0,    3,                       /* topic alias 3 */
        0x26, 0,    1,    'a',  0,   1, '1', /* (a, 1) */
        0x02, 0,    0,    0,    60,          /* message expiry 60 */
        0x0B, 0x05,                          /* subscription id 5 */
        0x03, 0,    2,    't',  'x',         /* content type "tx" */
        0x26, 0,    1,    'b',  0,   1, '2', /* (b, 2) */
        0x0B, 0x80, 0x01,                    /* subscription id 128 */
        0x09, 0,    1,    0xAB,              /* correlation data */
    };
    static const uint8_t want[] = {
        0x26, 0, 1, 'a', 0, 1, '1', 0x03, 0, 2, 't',  'x',
        0x26, 0, 1, 'b', 0, 1, '2', 0x09, 0, 1, 0xAB,
    };
    uint8_t out[sizeof(in)];
    struct mqtt5_props p;
    size_t n;

    assert_int_equal(mqtt5_props_decode(in, sizeof(in), MQTT5_CTX_PUBLISH_OUT, &p), MQ_OK);
    n = mqtt5_props_filter(in, sizeof(in), out, drop, sizeof(drop));
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(out, want, n);
    /* What is left is a valid block for a client's PUBLISH, order kept. */
    assert_int_equal(mqtt5_props_decode(out, (uint32_t)n, MQTT5_CTX_PUBLISH, &p), MQ_OK);
    assert_int_equal(p.user_count, 2);
    assert_false(mqtt5_has(&p, MQTT5_PROP_TOPIC_ALIAS));

    /* Dropping nothing copies; dropping everything present leaves nothing. */
    assert_int_equal(mqtt5_props_filter(in, sizeof(in), out, NULL, 0), sizeof(in));
    assert_memory_equal(out, in, sizeof(in));
    {
        static const uint8_t all[] = {0x23, 0x26, 0x02, 0x0B, 0x03, 0x09};

        assert_int_equal(mqtt5_props_filter(in, sizeof(in), out, all, sizeof(all)), 0);
    }
    assert_int_equal(mqtt5_props_filter(NULL, 0, out, drop, sizeof(drop)), 0);

    /* A block cut inside the content type: copying stops before it. */
    n = mqtt5_props_filter(in, 20, out, drop, sizeof(drop));
    assert_int_equal(n, 7);
    assert_memory_equal(out, in + 3, 7);
}

/* ---- writer ---- */

/* Writes c's property (its value taken from c->bytes) with the writer. */
static void put_case(struct mqtt5_writer *w, const struct prop_case *c)
{
    switch (c->type) {
    case BYTE:
        mqtt5_put_u8(w, c->id, (uint8_t)c->num);
        break;
    case U16:
        mqtt5_put_u16(w, c->id, (uint16_t)c->num);
        break;
    case U32:
        mqtt5_put_u32(w, c->id, c->num);
        break;
    case VARINT:
        mqtt5_put_varint(w, c->id, c->num);
        break;
    case STR:
        mqtt5_put_str(w, c->id, (const char *)c->bytes + 3, c->n - 3);
        break;
    case BIN:
        mqtt5_put_bin(w, c->id, c->bytes + 3, c->n - 3);
        break;
    case PAIR:
        mqtt5_put_pair(w, "k", 1, "v", 1);
        break;
    }
}

/* The writer produces exactly the table's bytes for every property, and
 * counts the same length without a buffer. */
static void test_writer_each_property(void **state)
{
    for (size_t i = 0; i < COUNT(prop_cases); i++) {
        struct mqtt5_writer w, count;
        struct mqtt5_props p;
        uint8_t buf[32];

        mqtt5_writer_init(&w, buf, sizeof(buf));
        put_case(&w, &prop_cases[i]);
        assert_false(w.overflow);
        assert_int_equal(w.len, prop_cases[i].n);
        assert_memory_equal(buf, prop_cases[i].bytes, prop_cases[i].n);
        mqtt5_writer_init(&count, NULL, 0);
        put_case(&count, &prop_cases[i]);
        assert_int_equal(count.len, w.len);
        assert_false(count.overflow);
        assert_int_equal(mqtt5_props_decode(buf, (uint32_t)w.len, home_ctx(&prop_cases[i]), &p),
                         MQ_OK);
    }
}

/* A CONNACK block with everything a server sends, sized then written,
 * then decoded back. */
static void test_writer_round_trip(void **state)
{
    uint8_t buf[512];
    struct mqtt5_writer w;
    struct mqtt5_props p;
    struct mqtt5_user_iter it;
    struct mqtt_str k, v;
    size_t need;

    for (int pass = 0; pass < 2; pass++) {
        mqtt5_writer_init(&w, pass ? buf : NULL, sizeof(buf));
        mqtt5_put_u32(&w, MQTT5_PROP_SESSION_EXPIRY_INTERVAL, 7200);
        mqtt5_put_u16(&w, MQTT5_PROP_RECEIVE_MAXIMUM, 100);
        mqtt5_put_u8(&w, MQTT5_PROP_MAXIMUM_QOS, 1);
        mqtt5_put_u8(&w, MQTT5_PROP_RETAIN_AVAILABLE, 0);
        mqtt5_put_u32(&w, MQTT5_PROP_MAXIMUM_PACKET_SIZE, 1u << 20);
        mqtt5_put_str(&w, MQTT5_PROP_ASSIGNED_CLIENT_IDENTIFIER, "auto-1", 6);
        mqtt5_put_u16(&w, MQTT5_PROP_TOPIC_ALIAS_MAXIMUM, 10);
        mqtt5_put_str(&w, MQTT5_PROP_REASON_STRING, "Success", 7);
        mqtt5_put_pair(&w, "node", 4, "n1", 2);
        mqtt5_put_pair(&w, "node", 4, "n2", 2);
        mqtt5_put_u8(&w, MQTT5_PROP_WILDCARD_SUB_AVAILABLE, 1);
        mqtt5_put_u8(&w, MQTT5_PROP_SUBSCRIPTION_ID_AVAILABLE, 1);
        mqtt5_put_u8(&w, MQTT5_PROP_SHARED_SUB_AVAILABLE, 0);
        mqtt5_put_u16(&w, MQTT5_PROP_SERVER_KEEP_ALIVE, 30);
        mqtt5_put_str(&w, MQTT5_PROP_RESPONSE_INFORMATION, "resp/", 5);
        mqtt5_put_str(&w, MQTT5_PROP_SERVER_REFERENCE, "other:1883", 10);
        mqtt5_put_str(&w, MQTT5_PROP_AUTHENTICATION_METHOD, "SCRAM-SHA-1", 11);
        mqtt5_put_bin(&w, MQTT5_PROP_AUTHENTICATION_DATA, "\x00\x01", 2);
        assert_false(w.overflow);
        if (pass == 0)
            need = w.len;
        else
            assert_int_equal(w.len, need);
    }
    assert_int_equal(mqtt5_props_decode(buf, (uint32_t)w.len, MQTT5_CTX_CONNACK, &p), MQ_OK);
    assert_int_equal(p.session_expiry, 7200);
    assert_int_equal(p.receive_maximum, 100);
    assert_int_equal(p.maximum_qos, 1);
    assert_true(mqtt5_has(&p, MQTT5_PROP_RETAIN_AVAILABLE));
    assert_int_equal(p.retain_available, 0);
    assert_int_equal(p.maximum_packet_size, 1u << 20);
    assert_int_equal(p.assigned_client_id.len, 6);
    assert_memory_equal(p.assigned_client_id.s, "auto-1", 6);
    assert_int_equal(p.topic_alias_maximum, 10);
    assert_memory_equal(p.reason_string.s, "Success", 7);
    assert_int_equal(p.user_count, 2);
    assert_int_equal(p.wildcard_sub_available, 1);
    assert_int_equal(p.subid_available, 1);
    assert_int_equal(p.shared_sub_available, 0);
    assert_int_equal(p.server_keepalive, 30);
    assert_memory_equal(p.response_info.s, "resp/", 5);
    assert_memory_equal(p.server_reference.s, "other:1883", 10);
    assert_memory_equal(p.auth_method.s, "SCRAM-SHA-1", 11);
    assert_int_equal(p.auth_data.len, 2);
    assert_memory_equal(p.auth_data.s, "\x00\x01", 2);
    mqtt5_user_iter_init(&it, &p);
    assert_true(mqtt5_user_next(&it, &k, &v));
    assert_memory_equal(v.s, "n1", 2);
    assert_true(mqtt5_user_next(&it, &k, &v));
    assert_memory_equal(v.s, "n2", 2);

    /* A server PUBLISH block: a filtered client block, then the broker's
     * own properties, through mqtt5_put_raw(). */
    {
        static const uint8_t client[] = {0x23, 0, 1, 0x01, 0x01, 0x26, 0, 1, 'x', 0, 0};
        static const uint8_t drop[] = {MQTT5_PROP_TOPIC_ALIAS};
        uint8_t kept[sizeof(client)];
        size_t nkept = mqtt5_props_filter(client, sizeof(client), kept, drop, 1);

        mqtt5_writer_init(&w, buf, sizeof(buf));
        mqtt5_put_raw(&w, kept, nkept);
        mqtt5_put_u32(&w, MQTT5_PROP_MESSAGE_EXPIRY_INTERVAL, 59);
        mqtt5_put_varint(&w, MQTT5_PROP_SUBSCRIPTION_IDENTIFIER, 3);
        mqtt5_put_varint(&w, MQTT5_PROP_SUBSCRIPTION_IDENTIFIER, 300000);
        assert_false(w.overflow);
        assert_int_equal(mqtt5_props_decode(buf, (uint32_t)w.len, MQTT5_CTX_PUBLISH_OUT, &p),
                         MQ_OK);
        assert_int_equal(p.payload_format, 1);
        assert_int_equal(p.user_count, 1);
        assert_int_equal(p.message_expiry, 59);
        assert_int_equal(p.subid_count, 2);
        assert_int_equal(p.subid[1], 300000);
        assert_false(mqtt5_has(&p, MQTT5_PROP_TOPIC_ALIAS));
    }
}

static void test_writer_overflow(void **state)
{
    static char big[70000];
    uint8_t buf[16];
    struct mqtt5_writer w;

    /* Exactly full is fine; one byte more overflows, and len keeps counting. */
    mqtt5_writer_init(&w, buf, 10);
    mqtt5_put_u32(&w, MQTT5_PROP_MESSAGE_EXPIRY_INTERVAL, 1);
    mqtt5_put_u32(&w, MQTT5_PROP_SESSION_EXPIRY_INTERVAL, 2);
    assert_false(w.overflow);
    assert_int_equal(w.len, 10);
    mqtt5_put_u8(&w, MQTT5_PROP_MAXIMUM_QOS, 1);
    assert_true(w.overflow);
    assert_int_equal(w.len, 12);
    /* Once overflowed nothing more is written, even what would fit. */
    mqtt5_writer_init(&w, buf, sizeof(buf));
    memset(buf, 0xEE, sizeof(buf));
    mqtt5_put_str(&w, MQTT5_PROP_REASON_STRING, "0123456789abcdef", 16);
    assert_true(w.overflow);
    mqtt5_put_u8(&w, MQTT5_PROP_MAXIMUM_QOS, 1);
    assert_int_equal(w.len, 3 + 16 + 2);
    assert_int_equal(buf[3], 0xEE);

    /* Values that cannot be encoded at all. */
    mqtt5_writer_init(&w, NULL, 0);
    mqtt5_put_str(&w, MQTT5_PROP_REASON_STRING, big, sizeof(big));
    assert_true(w.overflow);
    mqtt5_writer_init(&w, NULL, 0);
    mqtt5_put_pair(&w, "k", 1, big, sizeof(big));
    assert_true(w.overflow);
    mqtt5_writer_init(&w, NULL, 0);
    mqtt5_put_varint(&w, MQTT5_PROP_SUBSCRIPTION_IDENTIFIER, MQTT_MAX_REMAINING + 1);
    assert_true(w.overflow);
    mqtt5_writer_init(&w, NULL, 0);
    mqtt5_put_bin(&w, MQTT5_PROP_CORRELATION_DATA, big, 65535);
    assert_false(w.overflow);
    assert_int_equal(w.len, 3 + 65535);
    assert_int_equal(mqtt5_props_size((uint32_t)w.len), 3 + w.len);
}

/* ---- reason codes ---- */

static const struct {
    uint8_t rc;
    const char *text;
} reasons[] = {
    {0x00, "Success"},
    {0x01, "Granted QoS 1"},
    {0x02, "Granted QoS 2"},
    {0x04, "Disconnect with Will Message"},
    {0x10, "No matching subscribers"},
    {0x11, "No subscription existed"},
    {0x18, "Continue authentication"},
    {0x19, "Re-authenticate"},
    {0x80, "Unspecified error"},
    {0x81, "Malformed Packet"},
    {0x82, "Protocol Error"},
    {0x83, "Implementation specific error"},
    {0x84, "Unsupported Protocol Version"},
    {0x85, "Client Identifier not valid"},
    {0x86, "Bad User Name or Password"},
    {0x87, "Not authorized"},
    {0x88, "Server unavailable"},
    {0x89, "Server busy"},
    {0x8A, "Banned"},
    {0x8B, "Server shutting down"},
    {0x8C, "Bad authentication method"},
    {0x8D, "Keep Alive timeout"},
    {0x8E, "Session taken over"},
    {0x8F, "Topic Filter invalid"},
    {0x90, "Topic Name invalid"},
    {0x91, "Packet Identifier in use"},
    {0x92, "Packet Identifier not found"},
    {0x93, "Receive Maximum exceeded"},
    {0x94, "Topic Alias invalid"},
    {0x95, "Packet too large"},
    {0x96, "Message rate too high"},
    {0x97, "Quota exceeded"},
    {0x98, "Administrative action"},
    {0x99, "Payload format invalid"},
    {0x9A, "Retain not supported"},
    {0x9B, "QoS not supported"},
    {0x9C, "Use another server"},
    {0x9D, "Server moved"},
    {0x9E, "Shared Subscriptions not supported"},
    {0x9F, "Connection rate exceeded"},
    {0xA0, "Maximum connect time"},
    {0xA1, "Subscription Identifiers not supported"},
    {0xA2, "Wildcard Subscriptions not supported"},
};

static void test_reason_strings(void **state)
{
    size_t known = 0;

    for (size_t i = 0; i < COUNT(reasons); i++)
        assert_string_equal(mqtt5_reason_string(reasons[i].rc), reasons[i].text);
    for (unsigned rc = 0; rc < 256; rc++) {
        if (strcmp(mqtt5_reason_string((uint8_t)rc), "Unknown reason code") != 0)
            known++;
    }
    assert_int_equal(known, COUNT(reasons));
    assert_int_equal(MQTT5_RC_NORMAL_DISCONNECTION, 0);
    assert_int_equal(MQTT5_RC_GRANTED_QOS0, 0);
    assert_int_equal(MQTT5_RC_WILDCARD_SUBS_NOT_SUPPORTED, 0xA2);
}

static void test_reason_for_error(void **state)
{
    static const struct {
        int err;
        uint8_t rc;
    } map[] = {
        {MQ_OK, 0x00},        {MQ_EMALFORMED, 0x81}, {MQ_EUTF8, 0x81},   {MQ_EAGAIN, 0x81},
        {MQ_EPROTOCOL, 0x82}, {MQ_ETOOLARGE, 0x95},  {MQ_EDENIED, 0x87}, {MQ_EFULL, 0x97},
        {MQ_ENOMEM, 0x80},    {MQ_EINVAL, 0x80},     {MQ_EIO, 0x80},     {-1000, 0x80},
    };

    for (size_t i = 0; i < COUNT(map); i++)
        assert_int_equal(mqtt5_reason_for_error(map[i].err), map[i].rc);
}

/* ---- encoders ---- */

/* Frames buf, which must hold exactly one whole packet. */
static void frame_one(const uint8_t *buf, size_t len, struct mqtt_frame *f)
{
    assert_int_equal(mqtt_frame(buf, len, 0, f), MQ_OK);
    assert_int_equal(f->total_len, len);
    assert_ptr_equal(f->body + f->body_len, buf + len);
}

/* Checks that a located block is the one written. */
static void assert_block(const uint8_t *got, uint32_t got_len, const uint8_t *want,
                         uint32_t want_len)
{
    assert_int_equal(got_len, want_len);
    if (want_len)
        assert_memory_equal(got, want, want_len);
}

static void test_connack(void **state)
{
    static const uint8_t props_block[] = {0x12, 0, 2, 'i', 'd', 0x21, 0, 5};
    uint8_t pkt[64];
    struct mqtt_frame f;
    struct mqtt5_props p;
    uint32_t n;
    size_t len, used;
    bool sp;
    uint8_t rc;

    /* No properties: a Property Length of 0 is still there. */
    len = mqtt5_encode_connack(pkt, false, MQTT5_RC_BANNED, NULL, 0);
    assert_int_equal(len, mqtt5_connack_size(0));
    assert_int_equal(len, 5);
    frame_one(pkt, len, &f);
    assert_int_equal(mqtt_decode_connack(&f, MQTT_V5, &sp, &rc), MQ_OK);
    assert_false(sp);
    assert_int_equal(rc, MQTT5_RC_BANNED);
    assert_int_equal(pkt[4], 0);

    len = mqtt5_encode_connack(pkt, true, 0, props_block, sizeof(props_block));
    assert_int_equal(len, mqtt5_connack_size(sizeof(props_block)));
    frame_one(pkt, len, &f);
    assert_int_equal(mqtt_decode_connack(&f, MQTT_V5, &sp, &rc), MQ_OK);
    assert_true(sp);
    assert_int_equal(rc, 0);
    assert_int_equal(mqtt_decode_varint(f.body + 2, f.body_len - 2, &n, &used), MQ_OK);
    assert_block(f.body + 2 + used, f.body_len - 2 - (uint32_t)used, props_block,
                 sizeof(props_block));
    assert_int_equal(mqtt5_props_decode(f.body + 2 + used, n, MQTT5_CTX_CONNACK, &p), MQ_OK);
    assert_int_equal(p.receive_maximum, 5);
}

static void test_publish(void **state)
{
    static const uint8_t payload[] = "hello";
    static const uint8_t alias[] = {0x23, 0, 9, 0x01, 0x01};
    uint8_t big_props[300], pkt[1024];
    struct mqtt5_writer w;
    static const struct {
        const char *topic;
        uint8_t qos;
        bool retain, dup;
        uint16_t id;
        const uint8_t *props;
        uint32_t props_len;
        size_t payload_len;
    } cases[] = {
        {"a/b", 0, false, false, 0, NULL, 0, 5},
        {"a/b", 1, true, false, 7, alias, sizeof(alias), 5},
        {"a/b", 2, false, true, 65535, alias, sizeof(alias), 0},
        {"", 1, false, false, 1, alias, sizeof(alias), 5}, /* topic by alias only */
        {"x", 0, false, false, 0, NULL, 0, 0},
        {"long/props", 1, false, false, 9, NULL, 0, 5}, /* big_props, below */
    };

    /* A 2-byte Property Length. */
    mqtt5_writer_init(&w, big_props, sizeof(big_props));
    mqtt5_put_pair(&w, "k", 1, (const char *)memset(pkt, 'v', 250), 250);
    assert_false(w.overflow);

    for (size_t i = 0; i < COUNT(cases); i++) {
        const uint8_t *props = cases[i].props ? cases[i].props : (i == 5 ? big_props : NULL);
        uint32_t props_len = i == 5 ? (uint32_t)w.len : cases[i].props_len;
        size_t tlen = strlen(cases[i].topic), len, id_offset;
        struct mqtt_frame f;
        struct mqtt_publish d;
        struct mqtt5_props p;

        len = mqtt5_encode_publish(pkt, cases[i].topic, tlen, props, props_len, payload,
                                   cases[i].payload_len, cases[i].qos, cases[i].retain,
                                   cases[i].dup, cases[i].id, &id_offset);
        assert_int_equal(len,
                         mqtt5_publish_size(tlen, props_len, cases[i].payload_len, cases[i].qos));
        frame_one(pkt, len, &f);
        assert_int_equal(mqtt_decode_publish(&f, MQTT_V5, &d), MQ_OK);
        assert_int_equal(d.topic.len, tlen);
        assert_memory_equal(d.topic.s, cases[i].topic, tlen);
        assert_int_equal(d.qos, cases[i].qos);
        assert_int_equal(d.retain, cases[i].retain);
        assert_int_equal(d.dup, cases[i].dup);
        assert_int_equal(d.packet_id, cases[i].id);
        assert_block(d.props, d.props_len, props, props_len);
        assert_int_equal(d.payload_len, cases[i].payload_len);
        if (d.payload_len)
            assert_memory_equal(d.payload, payload, d.payload_len);
        assert_int_equal(mqtt5_props_decode(d.props, d.props_len, MQTT5_CTX_PUBLISH, &p), MQ_OK);
        if (cases[i].qos) {
            /* Patch the id in place, as per-subscriber delivery does. */
            pkt[id_offset] = 0x12;
            pkt[id_offset + 1] = 0x34;
            frame_one(pkt, len, &f);
            assert_int_equal(mqtt_decode_publish(&f, MQTT_V5, &d), MQ_OK);
            assert_int_equal(d.packet_id, 0x1234);
        } else {
            assert_int_equal(id_offset, 0);
        }
    }
    /* id_offset may be NULL. */
    assert_int_equal(mqtt5_encode_publish(pkt, "t", 1, NULL, 0, NULL, 0, 1, false, false, 3, NULL),
                     mqtt5_publish_size(1, 0, 0, 1));
}

static void test_acks(void **state)
{
    static const uint8_t types[] = {MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP};
    static const uint8_t why[] = {0x1F, 0, 3, 'w', 'h', 'y', 0x26, 0, 1, 'k', 0, 0};
    static const struct {
        uint8_t reason;
        const uint8_t *props;
        uint32_t props_len;
        size_t body_len; /* what 3.4.2.1 leads to */
    } cases[] = {
        {0x00, NULL, 0, 2},
        {0x10, NULL, 0, 3},
        {0x92, NULL, 0, 3},
        {0x00, why, sizeof(why), 3 + 1 + sizeof(why)},
        {0x87, why, sizeof(why), 3 + 1 + sizeof(why)},
    };

    for (size_t t = 0; t < COUNT(types); t++) {
        for (size_t i = 0; i < COUNT(cases); i++) {
            uint8_t pkt[64];
            struct mqtt_frame f;
            struct mqtt_ack a;
            struct mqtt5_props p;
            size_t len = mqtt5_encode_ack(pkt, types[t], 0xBEEF, cases[i].reason, cases[i].props,
                                          cases[i].props_len);

            assert_int_equal(len, mqtt5_ack_size(cases[i].reason, cases[i].props_len));
            frame_one(pkt, len, &f);
            assert_int_equal(f.type, types[t]);
            assert_int_equal(f.body_len, cases[i].body_len);
            assert_int_equal(mqtt_decode_ack(&f, MQTT_V5, &a), MQ_OK);
            assert_int_equal(a.packet_id, 0xBEEF);
            assert_int_equal(a.reason_code, cases[i].reason);
            assert_block(a.props, a.props_len, cases[i].props, cases[i].props_len);
            assert_int_equal(mqtt5_props_decode(a.props, a.props_len, MQTT5_CTX_ACK, &p), MQ_OK);
            /* The v5 success form is the 3.1.1 packet. */
            if (cases[i].body_len == 2)
                assert_int_equal(mqtt_decode_ack(&f, MQTT_V311, &a), MQ_OK);
        }
    }
}

static void test_suback_unsuback(void **state)
{
    static const uint8_t codes[] = {0x00, 0x01, 0x02, 0x80, 0x97, 0xA2};
    static const uint8_t why[] = {0x1F, 0, 2, 'n', 'o'};
    uint8_t pkt[64], got[8];
    struct mqtt_frame f;
    struct mqtt_ack a;
    struct mqtt5_props p;
    uint16_t id;
    size_t len, n;

    for (int with_props = 0; with_props < 2; with_props++) {
        const uint8_t *props = with_props ? why : NULL;
        uint32_t props_len = with_props ? sizeof(why) : 0;

        len = mqtt5_encode_suback(pkt, 42, codes, COUNT(codes), props, props_len);
        assert_int_equal(len, mqtt5_suback_size(COUNT(codes), props_len));
        frame_one(pkt, len, &f);
        assert_int_equal(f.type, MQTT_SUBACK);
        assert_int_equal(mqtt_decode_suback(&f, MQTT_V5, &id, got, sizeof(got), &n), MQ_OK);
        assert_int_equal(id, 42);
        assert_int_equal(n, COUNT(codes));
        assert_memory_equal(got, codes, n);
        assert_memory_equal(f.body + 3, why, props_len); /* after id and length */
        assert_int_equal(mqtt5_props_decode(f.body + 3, f.body[2], MQTT5_CTX_SUBACK, &p), MQ_OK);

        len = mqtt5_encode_unsuback(pkt, 43, codes + 3, 3, props, props_len);
        assert_int_equal(len, mqtt5_suback_size(3, props_len));
        frame_one(pkt, len, &f);
        assert_int_equal(f.type, MQTT_UNSUBACK);
        assert_int_equal(mqtt_decode_ack(&f, MQTT_V5, &a), MQ_OK);
        assert_int_equal(a.packet_id, 43);
        assert_int_equal(a.reason_code, codes[3]); /* the first code */
        assert_block(a.props, a.props_len, props, props_len);
        assert_memory_equal(pkt + len - 3, codes + 3, 3);
        assert_int_equal(mqtt5_props_decode(a.props, a.props_len, MQTT5_CTX_UNSUBACK, &p), MQ_OK);
    }
}

static void test_disconnect(void **state)
{
    static const uint8_t moved[] = {0x1C, 0, 4, 'h', 'o', 's', 't', 0x1F, 0, 1, 'x'};
    static const struct {
        uint8_t reason;
        const uint8_t *props;
        uint32_t props_len;
        size_t body_len;
    } cases[] = {
        {0x00, NULL, 0, 0},
        {0x04, NULL, 0, 1},
        {0x9D, moved, sizeof(moved), 2 + sizeof(moved)},
        {0x00, moved, sizeof(moved), 2 + sizeof(moved)},
    };

    for (size_t i = 0; i < COUNT(cases); i++) {
        uint8_t pkt[64];
        struct mqtt_frame f;
        struct mqtt_disconnect d;
        struct mqtt5_props p;
        size_t len =
            mqtt5_encode_disconnect(pkt, cases[i].reason, cases[i].props, cases[i].props_len);

        assert_int_equal(len, mqtt5_disconnect_size(cases[i].reason, cases[i].props_len));
        frame_one(pkt, len, &f);
        assert_int_equal(f.type, MQTT_DISCONNECT);
        assert_int_equal(f.body_len, cases[i].body_len);
        assert_int_equal(mqtt_decode_disconnect(&f, MQTT_V5, &d), MQ_OK);
        assert_int_equal(d.reason_code, cases[i].reason);
        assert_block(d.props, d.props_len, cases[i].props, cases[i].props_len);
        assert_int_equal(mqtt5_props_decode(d.props, d.props_len, MQTT5_CTX_DISCONNECT, &p), MQ_OK);
    }
}

/* AUTH bodies for mqtt5_decode_auth(), framed by hand. */
static const struct {
    const char *name;
    const uint8_t *bytes;
    size_t n;
    int want;
} auth_bodies[] = {
    {"reason only", B(0xF0, 0x01, 0x18), MQ_OK},
    {"flags", B(0xF1, 0x00), MQ_EMALFORMED},
    {"trailing", B(0xF0, 0x03, 0x18, 0x00, 0x00), MQ_EMALFORMED},
    {"props cut", B(0xF0, 0x03, 0x18, 0x05, 0x1F), MQ_EMALFORMED},
    {"props length cut", B(0xF0, 0x02, 0x18, 0x80), MQ_EMALFORMED},
};

static void test_auth(void **state)
{
    static const uint8_t scram[] = {0x15, 0, 5, 'S', 'C', 'R', 'A', 'M', 0x16, 0, 2, 0xAA, 0xBB};
    static const struct {
        uint8_t reason;
        const uint8_t *props;
        uint32_t props_len;
        size_t body_len;
    } cases[] = {
        {0x00, NULL, 0, 0},
        {0x19, NULL, 0, 2},
        {0x18, scram, sizeof(scram), 2 + sizeof(scram)},
    };
    struct mqtt_frame f;
    struct mqtt5_auth a;
    struct mqtt5_props p;

    for (size_t i = 0; i < COUNT(cases); i++) {
        uint8_t pkt[64];
        size_t len = mqtt5_encode_auth(pkt, cases[i].reason, cases[i].props, cases[i].props_len);

        assert_int_equal(len, mqtt5_auth_size(cases[i].reason, cases[i].props_len));
        frame_one(pkt, len, &f);
        assert_int_equal(f.type, MQTT_AUTH);
        assert_int_equal(f.body_len, cases[i].body_len);
        assert_int_equal(mqtt5_decode_auth(&f, &a), MQ_OK);
        assert_int_equal(a.reason_code, cases[i].reason);
        assert_block(a.props, a.props_len, cases[i].props, cases[i].props_len);
        assert_int_equal(mqtt5_props_decode(a.props, a.props_len, MQTT5_CTX_AUTH, &p), MQ_OK);
    }
    for (size_t i = 0; i < COUNT(auth_bodies); i++) {
        /* Framed by hand: mqtt_frame() refuses the bad flags itself. */
        f.type = auth_bodies[i].bytes[0] >> 4;
        f.flags = auth_bodies[i].bytes[0] & 0x0F;
        f.body = auth_bodies[i].bytes + 2;
        f.body_len = auth_bodies[i].bytes[1];
        f.total_len = (uint32_t)auth_bodies[i].n;
        CHECK_RC(auth_bodies[i].name, mqtt5_decode_auth(&f, &a), auth_bodies[i].want);
    }
    f.type = MQTT_DISCONNECT;
    f.flags = 0;
    CHECK_RC("not AUTH", mqtt5_decode_auth(&f, &a), MQ_EINVAL);
}

static void test_connect(void **state)
{
    static const uint8_t props[] = {0x11, 0, 0, 0x0E, 0x10, 0x21, 0,  20,
                                    0x26, 0, 1, 'a',  0,    1,    'b'};
    static const uint8_t will_props[] = {0x18, 0, 0, 0, 5, 0x01, 0x01, 0x03, 0, 1, 't'};
    static const uint8_t will_payload[] = {'b', 'y', 'e', 0x00};
    struct mqtt5_connect_opts o = {0};
    struct mqtt_connect c;
    struct mqtt_frame f;
    struct mqtt5_props p;
    uint8_t pkt[256];
    size_t len;

    /* Everything. */
    o.base.client_id = "dev-1";
    o.base.keepalive = 30;
    o.base.clean_session = true;
    o.base.username = "u";
    o.base.password = "pw";
    o.base.will_topic = "dev/1/status";
    o.base.will_payload = will_payload;
    o.base.will_payload_len = sizeof(will_payload);
    o.base.will_qos = 1;
    o.base.will_retain = true;
    o.props = props;
    o.props_len = sizeof(props);
    o.will_props = will_props;
    o.will_props_len = sizeof(will_props);
    len = mqtt5_encode_connect(pkt, &o);
    assert_int_equal(len, mqtt5_connect_size(&o));
    frame_one(pkt, len, &f);
    assert_int_equal(mqtt_decode_connect(&f, &c), MQ_OK);
    assert_int_equal(c.version, MQTT_V5);
    assert_int_equal(c.keepalive, 30);
    assert_true(c.clean_start);
    assert_memory_equal(c.client_id.s, "dev-1", 5);
    assert_true(c.will);
    assert_int_equal(c.will_qos, 1);
    assert_true(c.will_retain);
    assert_memory_equal(c.will_topic.s, "dev/1/status", 12);
    assert_int_equal(c.will_payload.len, sizeof(will_payload));
    assert_memory_equal(c.will_payload.s, will_payload, sizeof(will_payload));
    assert_memory_equal(c.username.s, "u", 1);
    assert_memory_equal(c.password.s, "pw", 2);
    assert_block(c.props, c.props_len, props, sizeof(props));
    assert_block(c.will_props, c.will_props_len, will_props, sizeof(will_props));
    assert_int_equal(mqtt5_props_decode(c.props, c.props_len, MQTT5_CTX_CONNECT, &p), MQ_OK);
    assert_int_equal(p.session_expiry, 3600);
    assert_int_equal(p.receive_maximum, 20);
    assert_int_equal(mqtt5_props_decode(c.will_props, c.will_props_len, MQTT5_CTX_WILL, &p), MQ_OK);
    assert_int_equal(p.will_delay, 5);
    assert_int_equal(p.payload_format, 1);
    /* Will properties are not CONNECT properties, and the other way round. */
    assert_int_equal(mqtt5_props_decode(c.will_props, c.will_props_len, MQTT5_CTX_CONNECT, &p),
                     MQ_EMALFORMED);
    assert_int_equal(mqtt5_props_decode(c.props, c.props_len, MQTT5_CTX_WILL, &p), MQ_EMALFORMED);

    /* Minimal: no will (its properties ignored), a password alone (v5), no
     * properties. */
    memset(&o, 0, sizeof(o));
    o.base.client_id = "";
    o.base.password = "secret";
    o.will_props = will_props;
    o.will_props_len = sizeof(will_props);
    len = mqtt5_encode_connect(pkt, &o);
    assert_int_equal(len, mqtt5_connect_size(&o));
    frame_one(pkt, len, &f);
    assert_int_equal(mqtt_decode_connect(&f, &c), MQ_OK);
    assert_int_equal(c.version, MQTT_V5);
    assert_false(c.will);
    assert_false(c.has_username);
    assert_true(c.has_password);
    assert_int_equal(c.client_id.len, 0);
    assert_int_equal(c.props_len, 0);
    assert_int_equal(c.will_props_len, 0);
}

static void test_subscribe_unsubscribe(void **state)
{
    static const char *const filters[] = {"a/+", "$share/g/b/#", "c"};
    /* QoS 1 + no local; QoS 2 + retain as published + retain handling 2;
     * QoS 0 + retain handling 1. */
    static const uint8_t options[] = {0x01 | 0x04, 0x02 | 0x08 | 0x20, 0x10};
    static const uint8_t subid[] = {0x0B, 0x07, 0x26, 0, 1, 'k', 0, 1, 'v'};
    static const uint8_t user[] = {0x26, 0, 1, 'k', 0, 1, 'v'};
    struct mqtt_subscribe s;
    struct mqtt_frame f;
    struct mqtt_str filter;
    struct mqtt5_props p;
    uint8_t pkt[128], opt;
    size_t len, i;

    len = mqtt5_encode_subscribe(pkt, 100, filters, options, COUNT(filters), subid, sizeof(subid));
    assert_int_equal(len, mqtt5_subscribe_size(filters, COUNT(filters), sizeof(subid)));
    frame_one(pkt, len, &f);
    assert_int_equal(mqtt_decode_subscribe(&f, MQTT_V5, &s), MQ_OK);
    assert_int_equal(s.packet_id, 100);
    assert_int_equal(s.count, COUNT(filters));
    assert_block(s.props, s.props_len, subid, sizeof(subid));
    for (i = 0; mqtt_next_filter(&s.iter, &filter, &opt); i++) {
        assert_int_equal(filter.len, strlen(filters[i]));
        assert_memory_equal(filter.s, filters[i], filter.len);
        assert_int_equal(opt, options[i]);
    }
    assert_int_equal(i, COUNT(filters));
    assert_int_equal(mqtt5_props_decode(s.props, s.props_len, MQTT5_CTX_SUBSCRIBE, &p), MQ_OK);
    assert_int_equal(p.subid_count, 1);
    assert_int_equal(p.subid[0], 7);

    /* No properties: a Property Length of 0. */
    len = mqtt5_encode_subscribe(pkt, 101, filters, options, 1, NULL, 0);
    assert_int_equal(len, mqtt5_subscribe_size(filters, 1, 0));
    frame_one(pkt, len, &f);
    assert_int_equal(mqtt_decode_subscribe(&f, MQTT_V5, &s), MQ_OK);
    assert_int_equal(s.props_len, 0);

    len = mqtt5_encode_unsubscribe(pkt, 102, filters, COUNT(filters), user, sizeof(user));
    assert_int_equal(len, mqtt5_unsubscribe_size(filters, COUNT(filters), sizeof(user)));
    frame_one(pkt, len, &f);
    assert_int_equal(f.flags, 0x2);
    assert_int_equal(mqtt_decode_unsubscribe(&f, MQTT_V5, &s), MQ_OK);
    assert_int_equal(s.packet_id, 102);
    assert_int_equal(s.count, COUNT(filters));
    assert_block(s.props, s.props_len, user, sizeof(user));
    for (i = 0; mqtt_next_filter(&s.iter, &filter, &opt); i++)
        assert_memory_equal(filter.s, filters[i], filter.len);
    assert_int_equal(i, COUNT(filters));
    assert_int_equal(mqtt5_props_decode(s.props, s.props_len, MQTT5_CTX_UNSUBSCRIBE, &p), MQ_OK);
    /* A Subscription Identifier has no place in UNSUBSCRIBE. */
    assert_int_equal(mqtt5_props_decode(subid, sizeof(subid), MQTT5_CTX_UNSUBSCRIBE, &p),
                     MQ_EMALFORMED);
}

/* Encoders around the 127/128 remaining-length boundary, where the fixed
 * header grows a byte: the size functions must follow. */
static void test_sizes_at_varint_boundaries(void **state)
{
    static uint8_t block[300], pkt[512];

    memset(block, 0, sizeof(block));
    for (uint32_t n = 0; n < 260; n += 7) {
        /* A block of one Correlation Data of n - 3 bytes (when n >= 3). */
        uint32_t bl = n >= 3 ? n : 0;
        struct mqtt_frame f;
        struct mqtt_publish d;
        struct mqtt_ack a;
        struct mqtt_disconnect dc;
        struct mqtt5_props p;

        if (bl) {
            block[0] = 0x09;
            block[1] = (uint8_t)((bl - 3) >> 8);
            block[2] = (uint8_t)((bl - 3) & 0xFF);
        }
        assert_int_equal(mqtt5_encode_publish(pkt, "t", 1, block, bl, NULL, 0, 1, 0, 0, 1, NULL),
                         mqtt5_publish_size(1, bl, 0, 1));
        frame_one(pkt, mqtt5_publish_size(1, bl, 0, 1), &f);
        assert_int_equal(mqtt_decode_publish(&f, MQTT_V5, &d), MQ_OK);
        assert_int_equal(mqtt5_props_decode(d.props, d.props_len, MQTT5_CTX_PUBLISH, &p), MQ_OK);
        assert_int_equal(d.props_len, bl);

        /* Reason String blocks for the reason-carrying packets. */
        if (bl)
            block[0] = 0x1F;
        assert_int_equal(mqtt5_encode_ack(pkt, MQTT_PUBACK, 1, 0x80, block, bl),
                         mqtt5_ack_size(0x80, bl));
        frame_one(pkt, mqtt5_ack_size(0x80, bl), &f);
        assert_int_equal(mqtt_decode_ack(&f, MQTT_V5, &a), MQ_OK);
        assert_int_equal(a.props_len, bl);
        assert_int_equal(mqtt5_encode_disconnect(pkt, 0x80, block, bl),
                         mqtt5_disconnect_size(0x80, bl));
        frame_one(pkt, mqtt5_disconnect_size(0x80, bl), &f);
        assert_int_equal(mqtt_decode_disconnect(&f, MQTT_V5, &dc), MQ_OK);
        assert_int_equal(dc.props_len, bl);
        assert_int_equal(mqtt5_encode_connack(pkt, false, 0, block, bl), mqtt5_connack_size(bl));
        assert_int_equal(mqtt5_encode_suback(pkt, 1, pkt, 0, block, bl), mqtt5_suback_size(0, bl));
        assert_int_equal(mqtt5_encode_auth(pkt, 0x18, block, bl), mqtt5_auth_size(0x18, bl));
        assert_int_equal(mqtt5_props_size(bl), bl + (bl < 128 ? 1 : 2));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prop_in_every_context),
        cmocka_unit_test(test_prop_names),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_subscription_identifiers),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_decode_arguments),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_user_properties_in_order),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_writer_each_property),
        cmocka_unit_test(test_writer_round_trip),
        cmocka_unit_test(test_writer_overflow),
        cmocka_unit_test(test_reason_strings),
        cmocka_unit_test(test_reason_for_error),
        cmocka_unit_test(test_connack),
        cmocka_unit_test(test_publish),
        cmocka_unit_test(test_acks),
        cmocka_unit_test(test_suback_unsuback),
        cmocka_unit_test(test_disconnect),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_subscribe_unsubscribe),
        cmocka_unit_test(test_sizes_at_varint_boundaries),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
