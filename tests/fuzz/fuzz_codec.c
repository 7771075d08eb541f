/*
 * fuzz_codec.c - libFuzzer target for broker/mqtt_codec.c.
 *
 * The input is a byte stream as a socket would deliver it. It is framed
 * packet by packet; each packet is decoded by every decoder (as itself and
 * retyped as each other packet type) for protocol versions 3, 4 and 5, and
 * SUBSCRIBE / UNSUBSCRIBE lists are walked. Beyond "no crash, no sanitizer
 * report" it checks properties: framing is consistent at the packet's exact
 * length, one byte less and a size limit one byte short; every view a
 * decoder returns lies inside the packet body; a string a decoder accepts
 * passes mqtt_utf8_check(); and PUBLISH, SUBSCRIBE and CONNECT packets that
 * decode under 3.1.1 survive an encode-decode round trip unchanged.
 *
 * Build: see the Makefile's fuzz target. Seeds are in tests/fuzz/corpus/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Large enough for any packet under -max_len=4096 re-encoded. */
static uint8_t scratch[16384];

/* A view [p, p + n) returned by a decoder must lie inside the body. */
static void check_inside(const struct mqtt_frame *f, const void *p, size_t n)
{
    const uint8_t *q = p;

    if (!p) {
        CHECK(n == 0);
        return;
    }
    CHECK(q >= f->body && q + n <= f->body + f->body_len);
}

static void check_str(const struct mqtt_frame *f, const struct mqtt_str *s, bool utf8)
{
    check_inside(f, s->s, s->len);
    if (utf8)
        CHECK(mqtt_utf8_check(s->s, s->len) == MQ_OK);
}

static bool has_wildcard(const struct mqtt_str *s)
{
    return s->len && (memchr(s->s, '+', s->len) || memchr(s->s, '#', s->len));
}

static bool same_str(const struct mqtt_str *a, const struct mqtt_str *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->s, b->s, a->len) == 0);
}

/* Copies a view to a NUL-terminated string in *pool; NULL when it does not
 * fit or contains a NUL (the encoders take C strings). */
static const char *to_cstr(const struct mqtt_str *s, char **pool, char *pool_end)
{
    char *z = *pool;

    if ((size_t)(pool_end - z) < (size_t)s->len + 1 || (s->len && memchr(s->s, 0, s->len)))
        return NULL;
    if (s->len)
        memcpy(z, s->s, s->len);
    z[s->len] = '\0';
    *pool = z + s->len + 1;
    return z;
}

static void round_trip_publish(const struct mqtt_publish *p)
{
    struct mqtt_frame g;
    struct mqtt_publish q;
    size_t len, id_offset;

    len = mqtt_publish_size(p->topic.len, p->payload_len, p->qos);
    if (len > sizeof(scratch))
        return;
    CHECK(mqtt_encode_publish(scratch, p->topic.s, p->topic.len, p->payload, p->payload_len, p->qos,
                              p->retain, p->dup, p->packet_id, &id_offset) == len);
    CHECK(mqtt_frame(scratch, len, 0, &g) == MQ_OK && g.total_len == len);
    CHECK(mqtt_decode_publish(&g, MQTT_V311, &q) == MQ_OK);
    CHECK(same_str(&p->topic, &q.topic));
    CHECK(q.qos == p->qos && q.retain == p->retain && q.dup == p->dup);
    CHECK(q.packet_id == p->packet_id);
    CHECK(q.payload_len == p->payload_len);
    CHECK(p->payload_len == 0 || memcmp(q.payload, p->payload, p->payload_len) == 0);
    if (p->qos)
        CHECK((scratch[id_offset] << 8 | scratch[id_offset + 1]) == p->packet_id);
}

static void round_trip_subscribe(const struct mqtt_subscribe *s)
{
    static char pool[8192];
    const char *filters[64];
    uint8_t qos[64];
    char *next = pool;
    struct mqtt_sub_iter it = s->iter;
    struct mqtt_str filter;
    struct mqtt_frame g;
    struct mqtt_subscribe t;
    uint8_t options;
    size_t n = 0, len;

    while (mqtt_next_filter(&it, &filter, &options)) {
        if (n == 64)
            return;
        filters[n] = to_cstr(&filter, &next, pool + sizeof(pool));
        if (!filters[n])
            return;
        qos[n++] = options;
    }
    len = mqtt_subscribe_size(filters, n);
    if (len > sizeof(scratch))
        return;
    CHECK(mqtt_encode_subscribe(scratch, s->packet_id, filters, qos, n) == len);
    CHECK(mqtt_frame(scratch, len, 0, &g) == MQ_OK && g.total_len == len);
    CHECK(mqtt_decode_subscribe(&g, MQTT_V311, &t) == MQ_OK);
    CHECK(t.packet_id == s->packet_id && t.count == s->count);
    for (size_t i = 0; i < n; i++) {
        CHECK(mqtt_next_filter(&t.iter, &filter, &options));
        CHECK(filter.len == strlen(filters[i]) && memcmp(filter.s, filters[i], filter.len) == 0);
        CHECK(options == qos[i]);
    }
    CHECK(!mqtt_next_filter(&t.iter, &filter, &options));
}

static void round_trip_connect(const struct mqtt_connect *c)
{
    static char pool[8192];
    char *next = pool, *end = pool + sizeof(pool);
    struct mqtt_connect_opts o = {0};
    struct mqtt_frame g;
    struct mqtt_connect d;
    size_t len;

    o.client_id = to_cstr(&c->client_id, &next, end);
    if (!o.client_id)
        return;
    o.keepalive = c->keepalive;
    o.clean_session = c->clean_start;
    if (c->has_username && !(o.username = to_cstr(&c->username, &next, end)))
        return;
    if (c->has_password && !(o.password = to_cstr(&c->password, &next, end)))
        return;
    if (c->will) {
        if (!(o.will_topic = to_cstr(&c->will_topic, &next, end)))
            return;
        o.will_payload = (const uint8_t *)c->will_payload.s;
        o.will_payload_len = c->will_payload.len;
        o.will_qos = c->will_qos;
        o.will_retain = c->will_retain;
    }
    len = mqtt_connect_size(&o);
    if (len > sizeof(scratch))
        return;
    CHECK(mqtt_encode_connect(scratch, &o) == len);
    CHECK(mqtt_frame(scratch, len, 0, &g) == MQ_OK && g.total_len == len);
    CHECK(mqtt_decode_connect(&g, &d) == MQ_OK);
    CHECK(d.version == MQTT_V311 && d.keepalive == c->keepalive);
    CHECK(d.clean_start == c->clean_start && d.will == c->will);
    CHECK(d.will_qos == c->will_qos && d.will_retain == c->will_retain);
    CHECK(d.has_username == c->has_username && d.has_password == c->has_password);
    CHECK(same_str(&d.client_id, &c->client_id) && same_str(&d.username, &c->username));
    CHECK(same_str(&d.password, &c->password) && same_str(&d.will_topic, &c->will_topic));
    CHECK(same_str(&d.will_payload, &c->will_payload));
}

static void round_trip_ack(uint8_t type, uint16_t packet_id)
{
    struct mqtt_frame g;
    struct mqtt_ack a;

    CHECK(mqtt_encode_ack(scratch, type, packet_id) == 4);
    CHECK(mqtt_frame(scratch, 4, 0, &g) == MQ_OK && g.type == type);
    CHECK(mqtt_decode_ack(&g, MQTT_V311, &a) == MQ_OK && a.packet_id == packet_id);
}

static void round_trip_suback(uint16_t packet_id, const uint8_t *codes, size_t n)
{
    struct mqtt_frame g;
    uint8_t got[8];
    uint16_t id;
    size_t len = mqtt_suback_size(n), count;

    CHECK(mqtt_encode_suback(scratch, packet_id, codes, n) == len);
    CHECK(mqtt_frame(scratch, len, 0, &g) == MQ_OK && g.total_len == len);
    CHECK(mqtt_decode_suback(&g, MQTT_V311, &id, got, sizeof(got), &count) == MQ_OK);
    CHECK(id == packet_id && count == n && memcmp(got, codes, n) == 0);
}

static void round_trip_connack(bool session_present, uint8_t rc)
{
    struct mqtt_frame g;
    bool sp;
    uint8_t code;

    CHECK(mqtt_encode_connack(scratch, session_present, rc) == 4);
    CHECK(mqtt_frame(scratch, 4, 0, &g) == MQ_OK);
    CHECK(mqtt_decode_connack(&g, MQTT_V311, &sp, &code) == MQ_OK);
    CHECK(sp == session_present && code == rc);
}

/* Decodes f with the decoder for f->type, checking what comes back. */
static void decode_as(const struct mqtt_frame *f, uint8_t version)
{
    struct mqtt_connect c;
    struct mqtt_publish p;
    struct mqtt_ack a;
    struct mqtt_subscribe s;
    struct mqtt_disconnect d;
    struct mqtt_frame g;
    struct mqtt_str filter;
    uint8_t codes[8], rc, options;
    uint16_t id;
    size_t n;
    bool sp;

    switch (f->type) {
    case MQTT_CONNECT:
        if (mqtt_decode_connect(f, &c) != MQ_OK)
            break;
        CHECK(c.version >= MQTT_V31 && c.version <= MQTT_V5 && c.will_qos < 3);
        check_str(f, &c.protocol_name, true);
        check_str(f, &c.client_id, true);
        check_str(f, &c.will_topic, true);
        check_str(f, &c.will_payload, false);
        check_str(f, &c.username, true);
        check_str(f, &c.password, false);
        check_inside(f, c.props, c.props_len);
        check_inside(f, c.will_props, c.will_props_len);
        CHECK(!c.will || (c.will_topic.len && !has_wildcard(&c.will_topic)));
        if (c.version == MQTT_V311)
            round_trip_connect(&c);
        break;
    case MQTT_PUBLISH:
        if (mqtt_decode_publish(f, version, &p) != MQ_OK)
            break;
        check_str(f, &p.topic, true);
        CHECK(!has_wildcard(&p.topic) && (p.topic.len || version == MQTT_V5));
        check_inside(f, p.payload, p.payload_len);
        check_inside(f, p.props, p.props_len);
        CHECK(p.qos < 3 && (p.qos == 0) == (p.packet_id == 0) && !(p.dup && p.qos == 0));
        if (version != MQTT_V5)
            round_trip_publish(&p);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        if (mqtt_decode_ack(f, version, &a) != MQ_OK)
            break;
        CHECK(a.packet_id != 0);
        check_inside(f, a.props, a.props_len);
        if (version != MQTT_V5)
            round_trip_ack(f->type, a.packet_id);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        if (f->type == MQTT_SUBSCRIBE) {
            if (mqtt_decode_subscribe(f, version, &s) != MQ_OK)
                break;
        } else if (mqtt_decode_unsubscribe(f, version, &s) != MQ_OK) {
            break;
        }
        CHECK(s.packet_id != 0 && s.count > 0);
        check_inside(f, s.props, s.props_len);
        n = 0;
        for (struct mqtt_sub_iter it = s.iter; mqtt_next_filter(&it, &filter, &options); n++) {
            check_str(f, &filter, true);
            CHECK(filter.len > 0 && (options & 3) != 3);
        }
        CHECK(n == s.count);
        if (f->type == MQTT_SUBSCRIBE && version != MQTT_V5)
            round_trip_subscribe(&s);
        break;
    case MQTT_SUBACK:
        if (mqtt_decode_suback(f, version, &id, codes, sizeof(codes), &n) != MQ_OK)
            break;
        CHECK(id != 0 && n > 0);
        if (version != MQTT_V5 && n <= sizeof(codes))
            round_trip_suback(id, codes, n);
        break;
    case MQTT_CONNACK:
        if (mqtt_decode_connack(f, version, &sp, &rc) == MQ_OK && version == MQTT_V311)
            round_trip_connack(sp, rc);
        break;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        if (mqtt_decode_disconnect(f, version, &d) == MQ_OK)
            check_inside(f, d.props, d.props_len);
        if (mqtt_decode_empty(f) == MQ_OK) {
            CHECK(mqtt_encode_empty(scratch, f->type) == 2);
            CHECK(mqtt_frame(scratch, 2, 0, &g) == MQ_OK && mqtt_decode_empty(&g) == MQ_OK);
        }
        break;
    }
}

static const uint8_t all_types[] = {
    MQTT_CONNECT,  MQTT_CONNACK, MQTT_PUBLISH,   MQTT_PUBACK,     MQTT_PUBREC,
    MQTT_PUBREL,   MQTT_PUBCOMP, MQTT_SUBSCRIBE, MQTT_SUBACK,     MQTT_UNSUBSCRIBE,
    MQTT_UNSUBACK, MQTT_PINGREQ, MQTT_PINGRESP,  MQTT_DISCONNECT,
};

static void fuzz_packet(const struct mqtt_frame *f)
{
    for (uint8_t version = MQTT_V31; version <= MQTT_V5; version++) {
        decode_as(f, version);
        /* The same body as every other packet type, with that type's flags
         * (a PUBLISH keeps the frame's flags, which may be anything). */
        for (size_t i = 0; i < sizeof(all_types); i++) {
            struct mqtt_frame g = *f;
            uint8_t t = all_types[i];

            if (t == f->type)
                continue;
            g.type = t;
            if (t == MQTT_PUBLISH)
                g.flags = f->flags;
            else if (t == MQTT_PUBREL || t == MQTT_SUBSCRIBE || t == MQTT_UNSUBSCRIBE)
                g.flags = 0x2;
            else
                g.flags = 0;
            decode_as(&g, version);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0, used;
    uint32_t value;

    (void)mqtt_utf8_check((const char *)data, size);
    if (mqtt_decode_varint(data, size, &value, &used) == MQ_OK) {
        uint8_t out[4];

        CHECK(used >= 1 && used <= 4 && value <= MQTT_MAX_REMAINING);
        CHECK(mqtt_encode_varint(out, value) == mqtt_varint_size(value));
    }

    while (off < size) {
        const uint8_t *buf = data + off;
        size_t left = size - off;
        struct mqtt_frame f, g;
        int rc = mqtt_frame(buf, left, 0, &f);

        if (rc != MQ_OK) {
            CHECK(rc == MQ_EAGAIN || rc == MQ_EMALFORMED);
            break;
        }
        CHECK(f.total_len <= left && f.body + f.body_len == buf + f.total_len);
        CHECK(mqtt_frame(buf, f.total_len, 0, &g) == MQ_OK && g.total_len == f.total_len);
        CHECK(mqtt_frame(buf, f.total_len - 1, 0, &g) == MQ_EAGAIN);
        CHECK(mqtt_frame(buf, left, f.total_len, &g) == MQ_OK);
        CHECK(mqtt_frame(buf, left, f.total_len - 1, &g) == MQ_ETOOLARGE);
        fuzz_packet(&f);
        off += f.total_len;
    }
    return 0;
}
