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
 * The MQTT 5 section (broker/mqtt5.c) decodes every property block the v5
 * decoders locate, and each packet body taken as a block, in every property
 * context. An accepted block must hold only views inside it and valid UTF-8,
 * obey the value rules, walk to user_count user properties, survive the
 * filter (dropping nothing copies it; dropping User Property leaves a block
 * that decodes the same without them) and re-encode through the writer to a
 * block of the same length that decodes the same. Every v5 packet that
 * decodes is re-encoded with the mqtt5 encoders and must decode unchanged.
 *
 * Build: see the Makefile's fuzz target. Seeds are in tests/fuzz/corpus/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt5.h"
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

/* ---- MQTT 5: property blocks (mqtt5_props_decode) and v5 encoders ---- */

/* A view returned for a block must lie inside it (an empty one may sit at
 * its end); a UTF-8 one must pass mqtt_utf8_check(). */
static void check_view(const uint8_t *p, uint32_t len, const struct mqtt_str *s, bool utf8)
{
    const uint8_t *q = (const uint8_t *)s->s;

    if (!q) {
        CHECK(s->len == 0);
        return;
    }
    CHECK(q >= p && q + s->len <= p + len);
    if (utf8)
        CHECK(mqtt_utf8_check(s->s, s->len) == MQ_OK);
}

/* Writes every property of *pr with the writer: by id, user properties and
 * subscription identifiers in their decoded order. */
static void write_props(struct mqtt5_writer *w, const struct mqtt5_props *pr)
{
    struct mqtt5_user_iter it;
    struct mqtt_str k, v;

    for (uint8_t id = 1; id < 64; id++) {
        if (!mqtt5_has(pr, id))
            continue;
        switch (id) {
        case MQTT5_PROP_PAYLOAD_FORMAT_INDICATOR:
            mqtt5_put_u8(w, id, pr->payload_format);
            break;
        case MQTT5_PROP_MESSAGE_EXPIRY_INTERVAL:
            mqtt5_put_u32(w, id, pr->message_expiry);
            break;
        case MQTT5_PROP_CONTENT_TYPE:
            mqtt5_put_str(w, id, pr->content_type.s, pr->content_type.len);
            break;
        case MQTT5_PROP_RESPONSE_TOPIC:
            mqtt5_put_str(w, id, pr->response_topic.s, pr->response_topic.len);
            break;
        case MQTT5_PROP_CORRELATION_DATA:
            mqtt5_put_bin(w, id, pr->correlation_data.s, pr->correlation_data.len);
            break;
        case MQTT5_PROP_SUBSCRIPTION_IDENTIFIER:
            for (uint32_t i = 0; i < pr->subid_count; i++)
                mqtt5_put_varint(w, id, pr->subid[i]);
            break;
        case MQTT5_PROP_SESSION_EXPIRY_INTERVAL:
            mqtt5_put_u32(w, id, pr->session_expiry);
            break;
        case MQTT5_PROP_ASSIGNED_CLIENT_IDENTIFIER:
            mqtt5_put_str(w, id, pr->assigned_client_id.s, pr->assigned_client_id.len);
            break;
        case MQTT5_PROP_SERVER_KEEP_ALIVE:
            mqtt5_put_u16(w, id, pr->server_keepalive);
            break;
        case MQTT5_PROP_AUTHENTICATION_METHOD:
            mqtt5_put_str(w, id, pr->auth_method.s, pr->auth_method.len);
            break;
        case MQTT5_PROP_AUTHENTICATION_DATA:
            mqtt5_put_bin(w, id, pr->auth_data.s, pr->auth_data.len);
            break;
        case MQTT5_PROP_REQUEST_PROBLEM_INFORMATION:
            mqtt5_put_u8(w, id, pr->request_problem_info);
            break;
        case MQTT5_PROP_WILL_DELAY_INTERVAL:
            mqtt5_put_u32(w, id, pr->will_delay);
            break;
        case MQTT5_PROP_REQUEST_RESPONSE_INFORMATION:
            mqtt5_put_u8(w, id, pr->request_response_info);
            break;
        case MQTT5_PROP_RESPONSE_INFORMATION:
            mqtt5_put_str(w, id, pr->response_info.s, pr->response_info.len);
            break;
        case MQTT5_PROP_SERVER_REFERENCE:
            mqtt5_put_str(w, id, pr->server_reference.s, pr->server_reference.len);
            break;
        case MQTT5_PROP_REASON_STRING:
            mqtt5_put_str(w, id, pr->reason_string.s, pr->reason_string.len);
            break;
        case MQTT5_PROP_RECEIVE_MAXIMUM:
            mqtt5_put_u16(w, id, pr->receive_maximum);
            break;
        case MQTT5_PROP_TOPIC_ALIAS_MAXIMUM:
            mqtt5_put_u16(w, id, pr->topic_alias_maximum);
            break;
        case MQTT5_PROP_TOPIC_ALIAS:
            mqtt5_put_u16(w, id, pr->topic_alias);
            break;
        case MQTT5_PROP_MAXIMUM_QOS:
            mqtt5_put_u8(w, id, pr->maximum_qos);
            break;
        case MQTT5_PROP_RETAIN_AVAILABLE:
            mqtt5_put_u8(w, id, pr->retain_available);
            break;
        case MQTT5_PROP_USER_PROPERTY:
            mqtt5_user_iter_init(&it, pr);
            while (mqtt5_user_next(&it, &k, &v))
                mqtt5_put_pair(w, k.s, k.len, v.s, v.len);
            break;
        case MQTT5_PROP_MAXIMUM_PACKET_SIZE:
            mqtt5_put_u32(w, id, pr->maximum_packet_size);
            break;
        case MQTT5_PROP_WILDCARD_SUB_AVAILABLE:
            mqtt5_put_u8(w, id, pr->wildcard_sub_available);
            break;
        case MQTT5_PROP_SUBSCRIPTION_ID_AVAILABLE:
            mqtt5_put_u8(w, id, pr->subid_available);
            break;
        case MQTT5_PROP_SHARED_SUB_AVAILABLE:
            mqtt5_put_u8(w, id, pr->shared_sub_available);
            break;
        default:
            CHECK(0); /* a present bit for an undefined id */
        }
    }
}

/* True when two decoded blocks hold the same properties (views compared by
 * content, user properties and subscription identifiers in order). With
 * users false, user properties are not compared. */
static bool same_props(const struct mqtt5_props *a, const struct mqtt5_props *b, bool users)
{
    uint64_t mask = users ? ~(uint64_t)0 : ~((uint64_t)1 << MQTT5_PROP_USER_PROPERTY);
    struct mqtt5_user_iter ia, ib;
    struct mqtt_str ka, va, kb, vb;
    bool more;

    if ((a->present & mask) != (b->present & mask))
        return false;
    if (a->payload_format != b->payload_format || a->message_expiry != b->message_expiry ||
        a->session_expiry != b->session_expiry || a->server_keepalive != b->server_keepalive ||
        a->will_delay != b->will_delay || a->receive_maximum != b->receive_maximum ||
        a->topic_alias_maximum != b->topic_alias_maximum || a->topic_alias != b->topic_alias ||
        a->maximum_qos != b->maximum_qos || a->retain_available != b->retain_available ||
        a->maximum_packet_size != b->maximum_packet_size ||
        a->request_problem_info != b->request_problem_info ||
        a->request_response_info != b->request_response_info ||
        a->wildcard_sub_available != b->wildcard_sub_available ||
        a->subid_available != b->subid_available ||
        a->shared_sub_available != b->shared_sub_available)
        return false;
    if (!same_str(&a->content_type, &b->content_type) ||
        !same_str(&a->response_topic, &b->response_topic) ||
        !same_str(&a->correlation_data, &b->correlation_data) ||
        !same_str(&a->assigned_client_id, &b->assigned_client_id) ||
        !same_str(&a->auth_method, &b->auth_method) || !same_str(&a->auth_data, &b->auth_data) ||
        !same_str(&a->response_info, &b->response_info) ||
        !same_str(&a->server_reference, &b->server_reference) ||
        !same_str(&a->reason_string, &b->reason_string))
        return false;
    if (a->subid_count != b->subid_count)
        return false;
    for (uint32_t i = 0; i < a->subid_count && i < MQTT5_MAX_SUBIDS; i++) {
        if (a->subid[i] != b->subid[i])
            return false;
    }
    if (!users)
        return true;
    if (a->user_count != b->user_count)
        return false;
    mqtt5_user_iter_init(&ia, a);
    mqtt5_user_iter_init(&ib, b);
    do {
        more = mqtt5_user_next(&ia, &ka, &va);
        if (more != mqtt5_user_next(&ib, &kb, &vb))
            return false;
        if (more && (!same_str(&ka, &kb) || !same_str(&va, &vb)))
            return false;
    } while (more);
    return true;
}

/* Checks an accepted block: views, value rules, user walk, filter, writer. */
static void check_block(const uint8_t *p, uint32_t len, enum mqtt5_ctx ctx,
                        const struct mqtt5_props *pr)
{
    static uint8_t out[8192];
    static const uint8_t users[] = {MQTT5_PROP_USER_PROPERTY};
    struct mqtt5_props again;
    struct mqtt5_user_iter it;
    struct mqtt5_writer w;
    struct mqtt_str k, v;
    uint32_t nusers = 0;
    size_t n;

    CHECK(pr->raw == p && pr->raw_len == len && pr->bad_id == 0);
    if (len > sizeof(out))
        return; /* only without -max_len */
    check_view(p, len, &pr->content_type, true);
    check_view(p, len, &pr->response_topic, true);
    check_view(p, len, &pr->correlation_data, false);
    check_view(p, len, &pr->assigned_client_id, true);
    check_view(p, len, &pr->auth_method, true);
    check_view(p, len, &pr->auth_data, false);
    check_view(p, len, &pr->response_info, true);
    check_view(p, len, &pr->server_reference, true);
    check_view(p, len, &pr->reason_string, true);
    CHECK(pr->payload_format <= 1 && pr->request_problem_info <= 1);
    CHECK(pr->request_response_info <= 1 && pr->maximum_qos <= 1 && pr->retain_available <= 1);
    CHECK(pr->wildcard_sub_available <= 1 && pr->subid_available <= 1);
    CHECK(pr->shared_sub_available <= 1);
    CHECK(!mqtt5_has(pr, MQTT5_PROP_RECEIVE_MAXIMUM) || pr->receive_maximum);
    CHECK(!mqtt5_has(pr, MQTT5_PROP_MAXIMUM_PACKET_SIZE) || pr->maximum_packet_size);
    CHECK(!mqtt5_has(pr, MQTT5_PROP_TOPIC_ALIAS) || pr->topic_alias);
    CHECK(!mqtt5_has(pr, MQTT5_PROP_RESPONSE_TOPIC) ||
          (pr->response_topic.len && !has_wildcard(&pr->response_topic)));
    CHECK(ctx != MQTT5_CTX_PUBLISH || pr->subid_count == 0);
    CHECK(ctx == MQTT5_CTX_PUBLISH_OUT || pr->subid_count <= 1);
    CHECK(mqtt5_has(pr, MQTT5_PROP_SUBSCRIPTION_IDENTIFIER) == (pr->subid_count > 0));
    for (uint32_t i = 0; i < pr->subid_count && i < MQTT5_MAX_SUBIDS; i++)
        CHECK(pr->subid[i] >= 1 && pr->subid[i] <= MQTT5_MAX_SUBID);

    mqtt5_user_iter_init(&it, pr);
    while (mqtt5_user_next(&it, &k, &v)) {
        check_view(p, len, &k, true);
        check_view(p, len, &v, true);
        nusers++;
    }
    CHECK(nusers == pr->user_count);
    CHECK(mqtt5_has(pr, MQTT5_PROP_USER_PROPERTY) == (nusers > 0));

    /* Filter: nothing dropped is a copy; User Property dropped leaves the
     * rest, which decodes the same. */
    CHECK(mqtt5_props_filter(p, len, out, NULL, 0) == len);
    CHECK(len == 0 || memcmp(out, p, len) == 0);
    n = mqtt5_props_filter(p, len, out, users, 1);
    CHECK(n <= len && (n == len) == (nusers == 0));
    CHECK(mqtt5_props_decode(out, (uint32_t)n, ctx, &again) == MQ_OK);
    CHECK(again.user_count == 0 && same_props(pr, &again, false));

    /* Writer: counting, then writing, gives a block of the same length (all
     * varints are minimal) that decodes to the same properties. */
    if (pr->subid_count > MQTT5_MAX_SUBIDS)
        return;
    mqtt5_writer_init(&w, NULL, 0);
    write_props(&w, pr);
    CHECK(!w.overflow && w.len == len);
    mqtt5_writer_init(&w, out, sizeof(out));
    write_props(&w, pr);
    CHECK(!w.overflow && w.len == len);
    CHECK(mqtt5_props_decode(out, (uint32_t)w.len, ctx, &again) == MQ_OK);
    CHECK(same_props(pr, &again, true));
}

/* Decodes p[0..len) as a property block in every context. */
static void fuzz_block(const uint8_t *p, uint32_t len)
{
    bool ok_publish = false;

    for (int ctx = 0; ctx < MQTT5_CTX_COUNT; ctx++) {
        struct mqtt5_props pr;
        int rc = mqtt5_props_decode(p, len, (enum mqtt5_ctx)ctx, &pr);

        if (rc == MQ_OK) {
            check_block(p, len, (enum mqtt5_ctx)ctx, &pr);
        } else {
            CHECK(rc == MQ_EMALFORMED || rc == MQ_EPROTOCOL || rc == MQ_EUTF8);
            CHECK(mqtt5_reason_for_error(rc) == (rc == MQ_EPROTOCOL ? 0x82 : 0x81));
        }
        /* A server's PUBLISH allows all that a client's does. */
        if (ctx == MQTT5_CTX_PUBLISH)
            ok_publish = rc == MQ_OK;
        if (ctx == MQTT5_CTX_PUBLISH_OUT && ok_publish)
            CHECK(rc == MQ_OK);
    }
}

static bool same_block(const uint8_t *a, uint32_t na, const uint8_t *b, uint32_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

/* Reads the property block at p (which the codec has checked): its length
 * varint, then the block. */
static void locate_block(const uint8_t *p, size_t left, const uint8_t **props, uint32_t *len)
{
    size_t used;

    CHECK(mqtt_decode_varint(p, left, len, &used) == MQ_OK && used + *len <= left);
    *props = p + used;
}

static void v5_round_trip_publish(const struct mqtt_publish *p)
{
    struct mqtt_frame g;
    struct mqtt_publish q;
    size_t len, id_offset;

    len = mqtt5_publish_size(p->topic.len, p->props_len, p->payload_len, p->qos);
    if (len > sizeof(scratch))
        return;
    CHECK(mqtt5_encode_publish(scratch, p->topic.s, p->topic.len, p->props, p->props_len,
                               p->payload, p->payload_len, p->qos, p->retain, p->dup, p->packet_id,
                               &id_offset) == len);
    CHECK(mqtt_frame(scratch, len, 0, &g) == MQ_OK && g.total_len == len);
    CHECK(mqtt_decode_publish(&g, MQTT_V5, &q) == MQ_OK);
    CHECK(same_str(&p->topic, &q.topic) && q.qos == p->qos && q.retain == p->retain);
    CHECK(q.dup == p->dup && q.packet_id == p->packet_id);
    CHECK(same_block(q.props, q.props_len, p->props, p->props_len));
    CHECK(same_block(q.payload, q.payload_len, p->payload, p->payload_len));
    if (p->qos)
        CHECK((scratch[id_offset] << 8 | scratch[id_offset + 1]) == p->packet_id);
}

/* PUBACK..PUBCOMP, and UNSUBACK with its codes (after the properties). */
static void v5_round_trip_ack(const struct mqtt_frame *f, const struct mqtt_ack *a)
{
    const uint8_t *codes = NULL;
    struct mqtt_frame g;
    struct mqtt_ack b;
    size_t len, ncodes = 0;

    if (f->type == MQTT_UNSUBACK) {
        codes = a->props + a->props_len;
        ncodes = (size_t)(f->body + f->body_len - codes);
        len = mqtt5_suback_size(ncodes, a->props_len);
        if (len > sizeof(scratch))
            return;
        CHECK(mqtt5_encode_unsuback(scratch, a->packet_id, codes, ncodes, a->props, a->props_len) ==
              len);
    } else {
        len = mqtt5_ack_size(a->reason_code, a->props_len);
        if (len > sizeof(scratch))
            return;
        CHECK(mqtt5_encode_ack(scratch, f->type, a->packet_id, a->reason_code, a->props,
                               a->props_len) == len);
    }
    CHECK(mqtt_frame(scratch, len, 0, &g) == MQ_OK && g.total_len == len && g.type == f->type);
    CHECK(mqtt_decode_ack(&g, MQTT_V5, &b) == MQ_OK);
    CHECK(b.packet_id == a->packet_id && b.reason_code == a->reason_code);
    CHECK(same_block(b.props, b.props_len, a->props, a->props_len));
    if (codes)
        CHECK(memcmp(scratch + len - ncodes, codes, ncodes) == 0);
}

static void v5_round_trip_sub(const struct mqtt_frame *f, const struct mqtt_subscribe *s)
{
    static char pool[8192];
    const char *filters[64];
    uint8_t options[64];
    char *next = pool;
    struct mqtt_sub_iter it = s->iter;
    struct mqtt_str filter;
    struct mqtt_frame g;
    struct mqtt_subscribe t;
    bool sub = f->type == MQTT_SUBSCRIBE;
    uint8_t opt;
    size_t n = 0, len;

    while (mqtt_next_filter(&it, &filter, &opt)) {
        if (n == 64)
            return;
        filters[n] = to_cstr(&filter, &next, pool + sizeof(pool));
        if (!filters[n])
            return;
        options[n++] = opt;
    }
    len = sub ? mqtt5_subscribe_size(filters, n, s->props_len)
              : mqtt5_unsubscribe_size(filters, n, s->props_len);
    if (len > sizeof(scratch))
        return;
    if (sub)
        CHECK(mqtt5_encode_subscribe(scratch, s->packet_id, filters, options, n, s->props,
                                     s->props_len) == len);
    else
        CHECK(mqtt5_encode_unsubscribe(scratch, s->packet_id, filters, n, s->props, s->props_len) ==
              len);
    CHECK(mqtt_frame(scratch, len, 0, &g) == MQ_OK && g.total_len == len);
    CHECK((sub ? mqtt_decode_subscribe(&g, MQTT_V5, &t)
               : mqtt_decode_unsubscribe(&g, MQTT_V5, &t)) == MQ_OK);
    CHECK(t.packet_id == s->packet_id && t.count == s->count);
    CHECK(same_block(t.props, t.props_len, s->props, s->props_len));
    for (size_t i = 0; i < n; i++) {
        CHECK(mqtt_next_filter(&t.iter, &filter, &opt));
        CHECK(filter.len == strlen(filters[i]) && memcmp(filter.s, filters[i], filter.len) == 0);
        CHECK(opt == options[i]);
    }
    CHECK(!mqtt_next_filter(&t.iter, &filter, &opt));
}

static void v5_round_trip_connect(const struct mqtt_connect *c)
{
    static char pool[8192];
    char *next = pool, *end = pool + sizeof(pool);
    struct mqtt5_connect_opts o = {0};
    struct mqtt_frame g;
    struct mqtt_connect d;
    size_t len;

    o.base.client_id = to_cstr(&c->client_id, &next, end);
    if (!o.base.client_id)
        return;
    o.base.keepalive = c->keepalive;
    o.base.clean_session = c->clean_start;
    if (c->has_username && !(o.base.username = to_cstr(&c->username, &next, end)))
        return;
    if (c->has_password && !(o.base.password = to_cstr(&c->password, &next, end)))
        return;
    if (c->will) {
        if (!(o.base.will_topic = to_cstr(&c->will_topic, &next, end)))
            return;
        o.base.will_payload = (const uint8_t *)c->will_payload.s;
        o.base.will_payload_len = c->will_payload.len;
        o.base.will_qos = c->will_qos;
        o.base.will_retain = c->will_retain;
        o.will_props = c->will_props;
        o.will_props_len = c->will_props_len;
    }
    o.props = c->props;
    o.props_len = c->props_len;
    len = mqtt5_connect_size(&o);
    if (len > sizeof(scratch))
        return;
    CHECK(mqtt5_encode_connect(scratch, &o) == len);
    CHECK(mqtt_frame(scratch, len, 0, &g) == MQ_OK && g.total_len == len);
    CHECK(mqtt_decode_connect(&g, &d) == MQ_OK);
    CHECK(d.version == MQTT_V5 && d.keepalive == c->keepalive);
    CHECK(d.clean_start == c->clean_start && d.will == c->will);
    CHECK(d.will_qos == c->will_qos && d.will_retain == c->will_retain);
    CHECK(d.has_username == c->has_username && d.has_password == c->has_password);
    CHECK(same_str(&d.client_id, &c->client_id) && same_str(&d.username, &c->username));
    CHECK(same_str(&d.password, &c->password) && same_str(&d.will_topic, &c->will_topic));
    CHECK(same_str(&d.will_payload, &c->will_payload));
    CHECK(same_block(d.props, d.props_len, c->props, c->props_len));
    CHECK(same_block(d.will_props, d.will_props_len, c->will_props, c->will_props_len));
}

/* DISCONNECT or AUTH with a reason code and a block. */
static void v5_round_trip_reason(uint8_t type, uint8_t reason, const uint8_t *props,
                                 uint32_t props_len)
{
    struct mqtt_frame g;
    struct mqtt_disconnect d;
    struct mqtt5_auth a;
    size_t len = type == MQTT_AUTH ? mqtt5_auth_size(reason, props_len)
                                   : mqtt5_disconnect_size(reason, props_len);

    if (len > sizeof(scratch))
        return;
    if (type == MQTT_AUTH)
        CHECK(mqtt5_encode_auth(scratch, reason, props, props_len) == len);
    else
        CHECK(mqtt5_encode_disconnect(scratch, reason, props, props_len) == len);
    CHECK(mqtt_frame(scratch, len, 0, &g) == MQ_OK && g.total_len == len && g.type == type);
    if (type == MQTT_AUTH) {
        CHECK(mqtt5_decode_auth(&g, &a) == MQ_OK);
        CHECK(a.reason_code == reason && same_block(a.props, a.props_len, props, props_len));
    } else {
        CHECK(mqtt_decode_disconnect(&g, MQTT_V5, &d) == MQ_OK);
        CHECK(d.reason_code == reason && same_block(d.props, d.props_len, props, props_len));
    }
}

/* CONNACK and SUBACK: their blocks are not handed up by the codec, so they
 * are located here after the codec has accepted the packet. */
static void v5_connack_suback(const struct mqtt_frame *f)
{
    const uint8_t *props;
    uint32_t props_len;
    struct mqtt_frame g;
    uint8_t codes[8], rc;
    uint16_t id, id2;
    size_t n, n2, len;
    bool sp, sp2;

    if (f->type == MQTT_CONNACK) {
        if (mqtt_decode_connack(f, MQTT_V5, &sp, &rc) != MQ_OK)
            return;
        locate_block(f->body + 2, f->body_len - 2, &props, &props_len);
        fuzz_block(props, props_len);
        len = mqtt5_connack_size(props_len);
        if (len > sizeof(scratch))
            return;
        CHECK(mqtt5_encode_connack(scratch, sp, rc, props, props_len) == len);
        CHECK(mqtt_frame(scratch, len, 0, &g) == MQ_OK && g.total_len == len);
        CHECK(mqtt_decode_connack(&g, MQTT_V5, &sp2, &rc) == MQ_OK && sp2 == sp);
        return;
    }
    if (mqtt_decode_suback(f, MQTT_V5, &id, codes, sizeof(codes), &n) != MQ_OK)
        return;
    locate_block(f->body + 2, f->body_len - 2, &props, &props_len);
    fuzz_block(props, props_len);
    CHECK(props + props_len + n == f->body + f->body_len);
    len = mqtt5_suback_size(n, props_len);
    if (len > sizeof(scratch))
        return;
    CHECK(mqtt5_encode_suback(scratch, id, props + props_len, n, props, props_len) == len);
    CHECK(mqtt_frame(scratch, len, 0, &g) == MQ_OK && g.total_len == len);
    CHECK(mqtt_decode_suback(&g, MQTT_V5, &id2, codes, sizeof(codes), &n2) == MQ_OK);
    CHECK(id2 == id && n2 == n && memcmp(scratch + len - n, props + props_len, n) == 0);
}

/* Decodes f with the MQTT 5 decoder for f->type; checks and round-trips. */
static void v5_decode_as(const struct mqtt_frame *f)
{
    struct mqtt_connect c;
    struct mqtt_publish p;
    struct mqtt_ack a;
    struct mqtt_subscribe s;
    struct mqtt_disconnect d;
    struct mqtt5_auth au;
    int rc;

    switch (f->type) {
    case MQTT_CONNECT:
        if (mqtt_decode_connect(f, &c) != MQ_OK || c.version != MQTT_V5)
            break;
        fuzz_block(c.props, c.props_len);
        fuzz_block(c.will_props, c.will_props_len);
        v5_round_trip_connect(&c);
        break;
    case MQTT_CONNACK:
    case MQTT_SUBACK:
        v5_connack_suback(f);
        break;
    case MQTT_PUBLISH:
        if (mqtt_decode_publish(f, MQTT_V5, &p) != MQ_OK)
            break;
        fuzz_block(p.props, p.props_len);
        v5_round_trip_publish(&p);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        if (mqtt_decode_ack(f, MQTT_V5, &a) != MQ_OK)
            break;
        fuzz_block(a.props, a.props_len);
        v5_round_trip_ack(f, &a);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        rc = f->type == MQTT_SUBSCRIBE ? mqtt_decode_subscribe(f, MQTT_V5, &s)
                                       : mqtt_decode_unsubscribe(f, MQTT_V5, &s);
        if (rc != MQ_OK)
            break;
        fuzz_block(s.props, s.props_len);
        v5_round_trip_sub(f, &s);
        break;
    case MQTT_DISCONNECT:
        if (mqtt_decode_disconnect(f, MQTT_V5, &d) != MQ_OK)
            break;
        fuzz_block(d.props, d.props_len);
        v5_round_trip_reason(MQTT_DISCONNECT, d.reason_code, d.props, d.props_len);
        break;
    case MQTT_AUTH:
        rc = mqtt5_decode_auth(f, &au);
        CHECK(rc == MQ_OK || rc == MQ_EMALFORMED);
        if (rc != MQ_OK)
            break;
        check_inside(f, au.props, au.props_len);
        fuzz_block(au.props, au.props_len);
        v5_round_trip_reason(MQTT_AUTH, au.reason_code, au.props, au.props_len);
        break;
    }
}

/* The MQTT 5 section: the body as a raw block, then the packet decoded as
 * every v5 packet type (AUTH included), each with that type's flags. */
static void fuzz_v5(const struct mqtt_frame *f)
{
    fuzz_block(f->body, f->body_len);
    for (uint8_t t = MQTT_CONNECT; t <= MQTT_AUTH; t++) {
        struct mqtt_frame g = *f;

        g.type = t;
        if (t == MQTT_PUBLISH)
            g.flags = f->type == MQTT_PUBLISH ? f->flags : 0;
        else if (t == MQTT_PUBREL || t == MQTT_SUBSCRIBE || t == MQTT_UNSUBSCRIBE)
            g.flags = 0x2;
        else
            g.flags = 0;
        v5_decode_as(&g);
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
        fuzz_v5(&f);
        off += f.total_len;
    }
    return 0;
}
