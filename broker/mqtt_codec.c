/*
 * mqtt_codec.c - the MQTT 3.1 / 3.1.1 wire format (and MQTT 5 framing).
 *
 * This file turns bytes into the structs of mqtt_codec.h and structs back
 * into bytes. It is pure: it never reads a socket, allocates, logs or keeps
 * state between calls. Decoded strings point into the caller's buffer. It is
 * not the place for policy (client id length limits, ACLs, which packets are
 * legal in which session state) and it does not decode MQTT 5 properties: it
 * only checks that a property block fits and hands it up raw.
 *
 * The wire format, as this file reads and writes it. Section numbers are
 * those of the MQTT 3.1.1 specification; MQTT 5 differences are marked "v5".
 *
 * DATA TYPES (1.5)
 *
 *     Name      Size       Encoding
 *     u8        1          unsigned byte
 *     u16       2          big-endian unsigned integer
 *     string    2 + n      u16 length n, then n bytes of UTF-8 (1.5.3): no
 *                          U+0000, no surrogates U+D800-U+DFFF, no overlong
 *                          forms, nothing above U+10FFFF
 *     binary    2 + n      u16 length n, then n bytes of anything
 *     varint    1 - 4      see REMAINING LENGTH
 *     props     v + p      v5 only: a varint p, then p bytes of properties
 *
 * FIXED HEADER (2.2)
 *
 *     Offset  Size   Description
 *     0       1      bits 7-4: packet type (1-15; 0 is reserved: malformed)
 *                    bits 3-0: flags, fixed per type as in the table below
 *     1       1-4    remaining length: the bytes that follow (variable header
 *                    plus payload), as a varint
 *
 *     Type  Name         Flags     Type  Name         Flags
 *     1     CONNECT      0000      9     SUBACK       0000
 *     2     CONNACK      0000      10    UNSUBSCRIBE  0010
 *     3     PUBLISH      DQQR      11    UNSUBACK     0000
 *     4     PUBACK       0000      12    PINGREQ      0000
 *     5     PUBREC       0000      13    PINGRESP     0000
 *     6     PUBREL       0010      14    DISCONNECT   0000
 *     7     PUBCOMP      0000      15    AUTH (v5)    0000
 *     8     SUBSCRIBE    0010
 *
 *     PUBLISH flags: D (bit 3) DUP, QQ (bits 2-1) QoS, R (bit 0) RETAIN.
 *     QoS 3 is malformed; so is DUP with QoS 0. Any other flag value that
 *     differs from the table is malformed.
 *
 * REMAINING LENGTH (2.2.3)
 *
 *     Seven value bits per byte, least significant group first; bit 7 set
 *     means another byte follows. Four bytes at most: a fourth byte with
 *     bit 7 set is malformed. v5 property lengths use the same encoding.
 *
 *     Value range               Bytes   First and last encodings
 *     0 - 127                   1       00                 7F
 *     128 - 16383               2       80 01              FF 7F
 *     16384 - 2097151           3       80 80 01           FF FF 7F
 *     2097152 - 268435455       4       80 80 80 01        FF FF FF 7F
 *
 * CONNECT (3.1)
 *
 *     Variable header
 *     Field            Type     Notes
 *     protocol name    string   "MQIsdp" with level 3 (MQTT 3.1),
 *                               "MQTT" with level 4 (3.1.1) or 5 (v5);
 *                               any other pair: MQ_EPROTOCOL (CONNACK rc 1)
 *     protocol level   u8       3, 4 or 5
 *     connect flags    u8       see below
 *     keep alive       u16      seconds, 0 disables
 *     properties       props    v5 only
 *
 *     Connect flags
 *     Bit   Meaning
 *     7     user name present
 *     6     password present (3.1.1 only with bit 7; v5 and 3.1 alone too)
 *     5     will retain (must be 0 without bit 2)
 *     4-3   will QoS (must be 0 without bit 2; 3 is malformed)
 *     2     will present
 *     1     clean session (v5: clean start)
 *     0     reserved: must be 0
 *
 *     Payload, each field present only when its flag says so, in this order
 *     Field            Type     Notes
 *     client id        string   always present; may be empty
 *     will properties  props    v5, with the will
 *     will topic       string   with the will; a topic name (no wildcards,
 *                               not empty), else malformed
 *     will payload     binary   with the will
 *     user name        string   with flag bit 7
 *     password         binary   with flag bit 6
 *     Nothing may follow the last field.
 *
 * CONNACK (3.2)
 *
 *     Field            Type     Notes
 *     ack flags        u8       bit 0 session present, bits 7-1 reserved 0
 *                               (3.1: the whole byte is unused)
 *     return code      u8       0 accepted, 1-5 refused (v5: reason code)
 *     properties       props    v5 only, always present
 *
 * PUBLISH (3.3)
 *
 *     Field            Type     Notes
 *     topic name       string   no '+' or '#'; not empty (v5: may be empty,
 *                               for a topic alias)
 *     packet id        u16      only when QoS > 0; never 0
 *     properties       props    v5 only
 *     payload          bytes    the rest of the packet; may be empty
 *
 * PUBACK, PUBREC, PUBREL, PUBCOMP (3.4 - 3.7)
 *
 *     Field            Type     Notes
 *     packet id        u16      never 0; the whole body before v5
 *     reason code      u8       v5, optional: absent means 0
 *     properties       props    v5, optional: only after a reason code
 *
 * SUBSCRIBE (3.8) and UNSUBSCRIBE (3.10)
 *
 *     Field            Type     Notes
 *     packet id        u16      never 0
 *     properties       props    v5 only
 *     then one or more entries (none is malformed), each
 *     topic filter     string   see TOPIC FILTERS
 *     options          u8       SUBSCRIBE only; bits 1-0 QoS (3 is
 *                               malformed); bits 7-2 reserved 0.
 *                               v5: bit 2 no local, bit 3 retain as
 *                               published, bits 5-4 retain handling (3 is
 *                               malformed), bits 7-6 reserved 0
 *
 * SUBACK (3.9) and UNSUBACK (3.11)
 *
 *     Field            Type     Notes
 *     packet id        u16      never 0
 *     properties       props    v5 only
 *     return codes     u8 ...   SUBACK: one per filter, 0, 1, 2 or 0x80
 *                               (v5: any reason code). UNSUBACK: none before
 *                               v5; v5: one reason code per filter
 *
 * PINGREQ (3.12), PINGRESP (3.13), DISCONNECT (3.14)
 *
 *     Empty bodies. v5 DISCONNECT: an optional reason code, then optional
 *     properties (only after a reason code).
 *
 * TOPIC FILTERS (4.7)
 *
 *     Levels are separated by '/'. '+' must be a whole level; '#' must be a
 *     whole level and the last one. Filters are never empty.
 *     Valid:   "a/b"  "+"  "#"  "a/#"  "a/+/c"  "/"  "+/+"  "/#"  "$share/g/a"
 *     Invalid: ""  "a+"  "+a"  "a/#/b"  "#a"  "a/b#"  "a/++"
 *     Topic names (PUBLISH, will topic) contain neither '+' nor '#'.
 *
 * Every decoder first checks that the frame it is given has its packet type
 * (MQ_EINVAL otherwise: a caller bug, not bad input), re-checks the fixed
 * header flags (frames may be built by hand) and takes a version of 3, 4 or 5
 * (MQ_EINVAL otherwise).
 */
#include "mqtt_codec.h"

#include <string.h>

/* A read cursor over one packet body. Invariant: p <= end. */
struct rd {
    const uint8_t *p;
    const uint8_t *end;
};

static void rd_init(struct rd *r, const struct mqtt_frame *f)
{
    r->p = f->body;
    r->end = f->body ? f->body + f->body_len : f->body;
}

static size_t rd_left(const struct rd *r)
{
    return r->p == r->end ? 0 : (size_t)(r->end - r->p); /* both may be NULL */
}

static int rd_u8(struct rd *r, uint8_t *v)
{
    if (rd_left(r) < 1)
        return MQ_EMALFORMED;
    *v = *r->p++;
    return MQ_OK;
}

static int rd_u16(struct rd *r, uint16_t *v)
{
    if (rd_left(r) < 2)
        return MQ_EMALFORMED;
    *v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return MQ_OK;
}

/* A length-prefixed field with no check on its contents. */
static int rd_bin(struct rd *r, struct mqtt_str *v)
{
    uint16_t n;

    if (rd_u16(r, &n) != MQ_OK || rd_left(r) < n)
        return MQ_EMALFORMED;
    v->s = (const char *)r->p;
    v->len = n;
    r->p += n;
    return MQ_OK;
}

/* A length-prefixed UTF-8 string: MQ_EMALFORMED when truncated, MQ_EUTF8
 * when its contents break the rules of mqtt_utf8_check(). */
static int rd_str(struct rd *r, struct mqtt_str *v)
{
    int rc = rd_bin(r, v);

    if (rc != MQ_OK)
        return rc;
    return mqtt_utf8_check(v->s, v->len);
}

static int rd_varint(struct rd *r, uint32_t *v)
{
    size_t used;
    int rc = mqtt_decode_varint(r->p, rd_left(r), v, &used);

    if (rc != MQ_OK)
        return MQ_EMALFORMED; /* inside a body, "need more" is truncation */
    r->p += used;
    return MQ_OK;
}

/* A v5 property block: its length, then that many bytes, handed up raw. */
static int rd_props(struct rd *r, const uint8_t **props, uint32_t *props_len)
{
    uint32_t n;

    if (rd_varint(r, &n) != MQ_OK || rd_left(r) < n)
        return MQ_EMALFORMED;
    *props = r->p;
    *props_len = n;
    r->p += n;
    return MQ_OK;
}

void mqtt_put_u16(uint8_t *out, uint16_t v)
{
    out[0] = (uint8_t)(v >> 8);
    out[1] = (uint8_t)(v & 0xFF);
}

size_t mqtt_put_str(uint8_t *out, const void *s, size_t n)
{
    mqtt_put_u16(out, (uint16_t)n);
    if (n)
        memcpy(out + 2, s, n);
    return 2 + n;
}

/* True when flags is the value the specification fixes for type. */
static bool flags_valid(uint8_t type, uint8_t flags)
{
    switch (type) {
    case MQTT_PUBLISH:
        return ((flags >> 1) & 3) != 3;
    case MQTT_PUBREL:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return flags == 0x2;
    default:
        return flags == 0;
    }
}

static bool version_valid(uint8_t version)
{
    return version == MQTT_V31 || version == MQTT_V311 || version == MQTT_V5;
}

/* The checks every decoder starts with: see the end of the file comment. */
static int frame_check(const struct mqtt_frame *f, uint8_t type, uint8_t version)
{
    if (f->type != type || !version_valid(version) || (!f->body && f->body_len))
        return MQ_EINVAL;
    if (!flags_valid(f->type, f->flags))
        return MQ_EMALFORMED;
    return MQ_OK;
}

/* A topic name: at least one byte unless empty_ok, and no wildcards. */
static bool topic_name_valid(const struct mqtt_str *t, bool empty_ok)
{
    if (t->len == 0)
        return empty_ok;
    return !memchr(t->s, '+', t->len) && !memchr(t->s, '#', t->len);
}

/* A topic filter, as TOPIC FILTERS above describes. */
static bool topic_filter_valid(const char *z, size_t n)
{
    size_t level = 0; /* index of the first byte of the current level */

    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (z[i] == '/') {
            level = i + 1;
        } else if (z[i] == '+' || z[i] == '#') {
            if (i != level || (i + 1 < n && z[i + 1] != '/'))
                return false; /* not alone in its level */
            if (z[i] == '#' && i + 1 != n)
                return false; /* not the last level */
        }
    }
    return true;
}

int mqtt_decode_varint(const uint8_t *buf, size_t len, uint32_t *value, size_t *used)
{
    uint32_t v = 0;

    for (size_t i = 0; i < 4; i++) {
        if (i == len)
            return MQ_EAGAIN;
        v |= (uint32_t)(buf[i] & 0x7F) << (7 * i);
        if (!(buf[i] & 0x80)) {
            *value = v;
            *used = i + 1;
            return MQ_OK;
        }
    }
    return MQ_EMALFORMED;
}

int mqtt_frame(const uint8_t *buf, size_t len, uint32_t max_packet, struct mqtt_frame *f)
{
    uint8_t type, flags;
    uint32_t remaining, total;
    size_t used;
    int rc;

    if (len < 1)
        return MQ_EAGAIN;
    type = buf[0] >> 4;
    flags = buf[0] & 0x0F;
    if (type == 0 || !flags_valid(type, flags))
        return MQ_EMALFORMED;
    rc = mqtt_decode_varint(buf + 1, len - 1, &remaining, &used);
    if (rc != MQ_OK)
        return rc;
    total = 1 + (uint32_t)used + remaining; /* at most 5 + MQTT_MAX_REMAINING */
    if (max_packet && total > max_packet)
        return MQ_ETOOLARGE;
    if (len < total)
        return MQ_EAGAIN;
    f->type = type;
    f->flags = flags;
    f->body = buf + 1 + used;
    f->body_len = remaining;
    f->total_len = total;
    return MQ_OK;
}

/* The protocol name/level pairs of the file comment's CONNECT table. */
static bool protocol_known(const struct mqtt_str *name, uint8_t level)
{
    if (level == MQTT_V31)
        return name->len == 6 && memcmp(name->s, "MQIsdp", 6) == 0;
    if (level == MQTT_V311 || level == MQTT_V5)
        return name->len == 4 && memcmp(name->s, "MQTT", 4) == 0;
    return false;
}

int mqtt_decode_connect(const struct mqtt_frame *f, struct mqtt_connect *c)
{
    struct rd r;
    uint8_t flags;
    int rc;

    memset(c, 0, sizeof(*c));
    rc = frame_check(f, MQTT_CONNECT, MQTT_V311); /* the version comes from the body */
    if (rc != MQ_OK)
        return rc;
    rd_init(&r, f);
    if (rd_bin(&r, &c->protocol_name) != MQ_OK || rd_u8(&r, &c->version) != MQ_OK)
        return MQ_EMALFORMED;
    if (!protocol_known(&c->protocol_name, c->version))
        return MQ_EPROTOCOL;

    if (rd_u8(&r, &flags) != MQ_OK)
        return MQ_EMALFORMED;
    c->has_username = flags & 0x80;
    c->has_password = flags & 0x40;
    c->will_retain = flags & 0x20;
    c->will_qos = (flags >> 3) & 3;
    c->will = flags & 0x04;
    c->clean_start = flags & 0x02;
    if (flags & 0x01)
        return MQ_EMALFORMED;
    if (!c->will && (c->will_qos || c->will_retain))
        return MQ_EMALFORMED;
    if (c->will_qos == 3)
        return MQ_EMALFORMED;
    if (c->has_password && !c->has_username && c->version == MQTT_V311)
        return MQ_EMALFORMED;
    if (rd_u16(&r, &c->keepalive) != MQ_OK)
        return MQ_EMALFORMED;
    if (c->version == MQTT_V5 && rd_props(&r, &c->props, &c->props_len) != MQ_OK)
        return MQ_EMALFORMED;

    rc = rd_str(&r, &c->client_id);
    if (rc != MQ_OK)
        return rc;
    if (c->will) {
        if (c->version == MQTT_V5 && rd_props(&r, &c->will_props, &c->will_props_len) != MQ_OK)
            return MQ_EMALFORMED;
        rc = rd_str(&r, &c->will_topic);
        if (rc != MQ_OK)
            return rc;
        if (!topic_name_valid(&c->will_topic, false))
            return MQ_EMALFORMED;
        if (rd_bin(&r, &c->will_payload) != MQ_OK)
            return MQ_EMALFORMED;
    }
    if (c->has_username) {
        rc = rd_str(&r, &c->username);
        if (rc != MQ_OK)
            return rc;
    }
    if (c->has_password && rd_bin(&r, &c->password) != MQ_OK)
        return MQ_EMALFORMED;
    if (rd_left(&r))
        return MQ_EMALFORMED;
    return MQ_OK;
}

int mqtt_decode_publish(const struct mqtt_frame *f, uint8_t version, struct mqtt_publish *p)
{
    struct rd r;
    int rc;

    memset(p, 0, sizeof(*p));
    rc = frame_check(f, MQTT_PUBLISH, version);
    if (rc != MQ_OK)
        return rc;
    p->dup = f->flags & 0x08;
    p->qos = (f->flags >> 1) & 3;
    p->retain = f->flags & 0x01;
    if (p->dup && p->qos == 0)
        return MQ_EMALFORMED;

    rd_init(&r, f);
    rc = rd_str(&r, &p->topic);
    if (rc != MQ_OK)
        return rc;
    if (!topic_name_valid(&p->topic, version == MQTT_V5))
        return MQ_EPROTOCOL;
    if (p->qos > 0 && (rd_u16(&r, &p->packet_id) != MQ_OK || p->packet_id == 0))
        return MQ_EMALFORMED;
    if (version == MQTT_V5 && rd_props(&r, &p->props, &p->props_len) != MQ_OK)
        return MQ_EMALFORMED;
    p->payload_len = (uint32_t)rd_left(&r);
    p->payload = p->payload_len ? r.p : NULL;
    return MQ_OK;
}

int mqtt_decode_ack(const struct mqtt_frame *f, uint8_t version, struct mqtt_ack *a)
{
    struct rd r;
    int rc;

    memset(a, 0, sizeof(*a));
    switch (f->type) {
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        break;
    default:
        return MQ_EINVAL;
    }
    rc = frame_check(f, f->type, version);
    if (rc != MQ_OK)
        return rc;
    rd_init(&r, f);
    if (rd_u16(&r, &a->packet_id) != MQ_OK || a->packet_id == 0)
        return MQ_EMALFORMED;
    if (version != MQTT_V5)
        return rd_left(&r) ? MQ_EMALFORMED : MQ_OK;

    if (f->type == MQTT_UNSUBACK) {
        /* v5 UNSUBACK: properties, then one reason code per filter; the
         * first is reported and the others are not looked at. */
        if (rd_props(&r, &a->props, &a->props_len) != MQ_OK || rd_u8(&r, &a->reason_code) != MQ_OK)
            return MQ_EMALFORMED;
        return MQ_OK;
    }
    if (rd_left(&r) == 0)
        return MQ_OK;
    (void)rd_u8(&r, &a->reason_code);
    if (rd_left(&r) == 0)
        return MQ_OK;
    if (rd_props(&r, &a->props, &a->props_len) != MQ_OK || rd_left(&r))
        return MQ_EMALFORMED;
    return MQ_OK;
}

/* Options bits that must be 0, and the retain-handling value 3 (v5). */
static bool sub_options_valid(uint8_t options, uint8_t version)
{
    if ((options & 3) == 3)
        return false;
    if (version != MQTT_V5)
        return (options & 0xFC) == 0;
    return (options & 0xC0) == 0;
}

/* A "$share/..." filter (MQTT 5 shared subscription, 4.8.2). */
static bool is_share_filter(const char *s, size_t len)
{
    return len >= 7 && memcmp(s, "$share/", 7) == 0;
}

/* SUBSCRIBE and UNSUBSCRIBE: the same list, with or without options. */
static int decode_sub_list(const struct mqtt_frame *f, uint8_t type, uint8_t version,
                           struct mqtt_subscribe *s)
{
    bool has_options = type == MQTT_SUBSCRIBE;
    struct mqtt_str filter;
    uint8_t options;
    struct rd r;
    int rc;

    memset(s, 0, sizeof(*s));
    rc = frame_check(f, type, version);
    if (rc != MQ_OK)
        return rc;
    rd_init(&r, f);
    if (rd_u16(&r, &s->packet_id) != MQ_OK || s->packet_id == 0)
        return MQ_EMALFORMED;
    if (version == MQTT_V5 && rd_props(&r, &s->props, &s->props_len) != MQ_OK)
        return MQ_EMALFORMED;
    if (rd_left(&r) == 0) /* no filters: MQTT 5 calls it a protocol error */
        return version == MQTT_V5 ? MQ_EPROTOCOL : MQ_EMALFORMED;
    s->iter.pos = r.p;
    s->iter.end = r.end;
    s->iter.has_options = has_options;
    while (rd_left(&r)) {
        rc = rd_str(&r, &filter);
        if (rc != MQ_OK)
            return rc;
        if (has_options) {
            if (rd_u8(&r, &options) != MQ_OK || !sub_options_valid(options, version))
                return MQ_EMALFORMED;
            if (version == MQTT_V5 && (options >> 4 & 3) == 3)
                return MQ_EPROTOCOL; /* Retain Handling 3 (MQTT 5 3.8.3.1) */
        }
        /* A shared subscription's share name is the broker's to judge (it
         * answers a bad one in SUBACK); only plain filters are checked. */
        if (!is_share_filter(filter.s, filter.len) && !topic_filter_valid(filter.s, filter.len))
            return MQ_EPROTOCOL;
        s->count++;
    }
    return MQ_OK;
}

int mqtt_decode_subscribe(const struct mqtt_frame *f, uint8_t version, struct mqtt_subscribe *s)
{
    return decode_sub_list(f, MQTT_SUBSCRIBE, version, s);
}

int mqtt_decode_unsubscribe(const struct mqtt_frame *f, uint8_t version, struct mqtt_subscribe *s)
{
    return decode_sub_list(f, MQTT_UNSUBSCRIBE, version, s);
}

bool mqtt_next_filter(struct mqtt_sub_iter *it, struct mqtt_str *filter, uint8_t *options)
{
    size_t left, need;
    uint16_t n;

    if (!it->pos || it->pos >= it->end)
        return false;
    left = (size_t)(it->end - it->pos);
    if (left < 2)
        return false;
    n = (uint16_t)(it->pos[0] << 8 | it->pos[1]);
    need = 2 + (size_t)n + (it->has_options ? 1 : 0);
    if (left < need)
        return false;
    filter->s = (const char *)it->pos + 2;
    filter->len = n;
    if (options)
        *options = it->has_options ? it->pos[2 + n] : 0;
    it->pos += need;
    return true;
}

int mqtt_decode_empty(const struct mqtt_frame *f)
{
    if (f->type != MQTT_PINGREQ && f->type != MQTT_PINGRESP && f->type != MQTT_DISCONNECT)
        return MQ_EINVAL;
    if (!flags_valid(f->type, f->flags) || f->body_len != 0)
        return MQ_EMALFORMED;
    return MQ_OK;
}

int mqtt_decode_disconnect(const struct mqtt_frame *f, uint8_t version, struct mqtt_disconnect *d)
{
    struct rd r;
    int rc;

    memset(d, 0, sizeof(*d));
    if (f->type == MQTT_PINGREQ || f->type == MQTT_PINGRESP)
        return mqtt_decode_empty(f);
    rc = frame_check(f, MQTT_DISCONNECT, version);
    if (rc != MQ_OK)
        return rc;
    if (f->body_len == 0)
        return MQ_OK;
    if (version != MQTT_V5)
        return MQ_EMALFORMED;
    rd_init(&r, f);
    (void)rd_u8(&r, &d->reason_code);
    if (rd_left(&r) == 0)
        return MQ_OK;
    if (rd_props(&r, &d->props, &d->props_len) != MQ_OK || rd_left(&r))
        return MQ_EMALFORMED;
    return MQ_OK;
}

int mqtt_decode_connack(const struct mqtt_frame *f, uint8_t version, bool *session_present,
                        uint8_t *rc)
{
    const uint8_t *props;
    uint32_t props_len;
    uint8_t ack_flags, code;
    struct rd r;
    int err;

    err = frame_check(f, MQTT_CONNACK, version);
    if (err != MQ_OK)
        return err;
    rd_init(&r, f);
    if (rd_u8(&r, &ack_flags) != MQ_OK || rd_u8(&r, &code) != MQ_OK)
        return MQ_EMALFORMED;
    if (version == MQTT_V31)
        ack_flags = 0; /* unused in 3.1 */
    if (ack_flags & 0xFE)
        return MQ_EMALFORMED;
    if (version == MQTT_V5 && rd_props(&r, &props, &props_len) != MQ_OK)
        return MQ_EMALFORMED;
    if (rd_left(&r))
        return MQ_EMALFORMED;
    if ((ack_flags & 1) && code != 0)
        return MQ_EPROTOCOL; /* a refusal never has a session (3.2.2.2) */
    *session_present = ack_flags & 1;
    *rc = code;
    return MQ_OK;
}

int mqtt_decode_suback(const struct mqtt_frame *f, uint8_t version, uint16_t *packet_id,
                       uint8_t *codes, size_t max, size_t *count)
{
    const uint8_t *props;
    uint32_t props_len;
    uint16_t id;
    struct rd r;
    size_t n;
    int rc;

    rc = frame_check(f, MQTT_SUBACK, version);
    if (rc != MQ_OK)
        return rc;
    rd_init(&r, f);
    if (rd_u16(&r, &id) != MQ_OK || id == 0)
        return MQ_EMALFORMED;
    if (version == MQTT_V5 && rd_props(&r, &props, &props_len) != MQ_OK)
        return MQ_EMALFORMED;
    n = rd_left(&r);
    if (n == 0)
        return MQ_EMALFORMED;
    for (size_t i = 0; i < n; i++) {
        uint8_t code = r.p[i];

        if (version != MQTT_V5 && code > 2 && code != MQTT_SUBACK_FAILURE)
            return MQ_EMALFORMED;
        if (i < max)
            codes[i] = code;
    }
    *packet_id = id;
    *count = n;
    return MQ_OK;
}

size_t mqtt_varint_size(uint32_t value)
{
    if (value < 128u)
        return 1;
    if (value < 16384u)
        return 2;
    if (value < 2097152u)
        return 3;
    return 4;
}

size_t mqtt_encode_varint(uint8_t *out, uint32_t value)
{
    size_t n = 0;

    if (value > MQTT_MAX_REMAINING)
        value = MQTT_MAX_REMAINING;
    do {
        uint8_t b = value & 0x7F;

        value >>= 7;
        out[n++] = value ? (uint8_t)(b | 0x80) : b;
    } while (value);
    return n;
}

size_t mqtt_encode_connack(uint8_t *out, bool session_present, uint8_t rc)
{
    out[0] = MQTT_CONNACK << 4;
    out[1] = 2;
    out[2] = session_present ? 1 : 0;
    out[3] = rc;
    return 4;
}

size_t mqtt_encode_ack(uint8_t *out, uint8_t type, uint16_t packet_id)
{
    out[0] = (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 0x2 : 0));
    out[1] = 2;
    mqtt_put_u16(out + 2, packet_id);
    return 4;
}

size_t mqtt_encode_empty(uint8_t *out, uint8_t type)
{
    out[0] = (uint8_t)(type << 4);
    out[1] = 0;
    return 2;
}

size_t mqtt_suback_size(size_t n)
{
    return 1 + mqtt_varint_size((uint32_t)(2 + n)) + 2 + n;
}

size_t mqtt_encode_suback(uint8_t *out, uint16_t packet_id, const uint8_t *codes, size_t n)
{
    size_t pos = 0;

    out[pos++] = MQTT_SUBACK << 4;
    pos += mqtt_encode_varint(out + pos, (uint32_t)(2 + n));
    mqtt_put_u16(out + pos, packet_id);
    pos += 2;
    if (n)
        memcpy(out + pos, codes, n);
    return pos + n;
}

/* The remaining length of a PUBLISH. */
static size_t publish_remaining(size_t topic_len, size_t payload_len, uint8_t qos)
{
    return 2 + topic_len + (qos ? 2 : 0) + payload_len;
}

size_t mqtt_publish_size(size_t topic_len, size_t payload_len, uint8_t qos)
{
    size_t rem = publish_remaining(topic_len, payload_len, qos);

    return 1 + mqtt_varint_size((uint32_t)rem) + rem;
}

size_t mqtt_encode_publish(uint8_t *out, const char *topic, size_t topic_len,
                           const uint8_t *payload, size_t payload_len, uint8_t qos, bool retain,
                           bool dup, uint16_t packet_id, size_t *id_offset)
{
    size_t pos = 0;

    qos &= 3;
    out[pos++] = (uint8_t)(MQTT_PUBLISH << 4 | (dup ? 0x08 : 0) | qos << 1 | (retain ? 1 : 0));
    pos += mqtt_encode_varint(out + pos, (uint32_t)publish_remaining(topic_len, payload_len, qos));
    pos += mqtt_put_str(out + pos, topic, topic_len);
    if (id_offset)
        *id_offset = qos ? pos : 0;
    if (qos) {
        mqtt_put_u16(out + pos, packet_id);
        pos += 2;
    }
    if (payload_len)
        memcpy(out + pos, payload, payload_len);
    return pos + payload_len;
}

/* The remaining length of the CONNECT that mqtt_encode_connect() writes. */
static size_t connect_remaining(const struct mqtt_connect_opts *o)
{
    size_t n = 10 + 2 + strlen(o->client_id); /* "MQTT", level, flags, keepalive */

    if (o->will_topic)
        n += 2 + strlen(o->will_topic) + 2 + o->will_payload_len;
    if (o->username)
        n += 2 + strlen(o->username);
    if (o->password)
        n += 2 + strlen(o->password);
    return n;
}

size_t mqtt_connect_size(const struct mqtt_connect_opts *o)
{
    size_t rem = connect_remaining(o);

    return 1 + mqtt_varint_size((uint32_t)rem) + rem;
}

size_t mqtt_encode_connect(uint8_t *out, const struct mqtt_connect_opts *o)
{
    uint8_t flags = 0;
    size_t pos = 0;

    if (o->clean_session)
        flags |= 0x02;
    if (o->will_topic)
        flags |= (uint8_t)(0x04 | (o->will_qos & 3) << 3 | (o->will_retain ? 0x20 : 0));
    if (o->password)
        flags |= 0x40;
    if (o->username)
        flags |= 0x80;

    out[pos++] = MQTT_CONNECT << 4;
    pos += mqtt_encode_varint(out + pos, (uint32_t)connect_remaining(o));
    pos += mqtt_put_str(out + pos, "MQTT", 4);
    out[pos++] = MQTT_V311;
    out[pos++] = flags;
    mqtt_put_u16(out + pos, o->keepalive);
    pos += 2;
    pos += mqtt_put_str(out + pos, o->client_id, strlen(o->client_id));
    if (o->will_topic) {
        pos += mqtt_put_str(out + pos, o->will_topic, strlen(o->will_topic));
        pos += mqtt_put_str(out + pos, o->will_payload, o->will_payload_len);
    }
    if (o->username)
        pos += mqtt_put_str(out + pos, o->username, strlen(o->username));
    if (o->password)
        pos += mqtt_put_str(out + pos, o->password, strlen(o->password));
    return pos;
}

/* The remaining length of the SUBSCRIBE that mqtt_encode_subscribe() writes. */
static size_t subscribe_remaining(const char *const *filters, size_t n)
{
    size_t rem = 2;

    for (size_t i = 0; i < n; i++)
        rem += 2 + strlen(filters[i]) + 1;
    return rem;
}

size_t mqtt_subscribe_size(const char *const *filters, size_t n)
{
    size_t rem = subscribe_remaining(filters, n);

    return 1 + mqtt_varint_size((uint32_t)rem) + rem;
}

size_t mqtt_encode_subscribe(uint8_t *out, uint16_t packet_id, const char *const *filters,
                             const uint8_t *qos, size_t n)
{
    size_t pos = 0;

    out[pos++] = MQTT_SUBSCRIBE << 4 | 0x2;
    pos += mqtt_encode_varint(out + pos, (uint32_t)subscribe_remaining(filters, n));
    mqtt_put_u16(out + pos, packet_id);
    pos += 2;
    for (size_t i = 0; i < n; i++) {
        pos += mqtt_put_str(out + pos, filters[i], strlen(filters[i]));
        out[pos++] = qos[i];
    }
    return pos;
}

int mqtt_utf8_check(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    const uint8_t *end;

    if (len == 0)
        return MQ_OK; /* s may be NULL: an absent string */
    end = p + len;
    while (p < end) {
        uint8_t c = *p++;
        uint32_t cp, min;
        size_t more;

        if (c == 0)
            return MQ_EUTF8;
        if (c < 0x80)
            continue;
        if (c < 0xC2)
            return MQ_EUTF8; /* a stray continuation byte, or C0/C1: overlong */
        if (c >= 0xF5)
            return MQ_EUTF8; /* F5-FF would encode more than U+10FFFF */
        if (c < 0xE0) {
            more = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if (c < 0xF0) {
            more = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else {
            more = 3;
            cp = c & 0x07;
            min = 0x10000;
        }
        if ((size_t)(end - p) < more)
            return MQ_EUTF8;
        for (size_t i = 0; i < more; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return MQ_EUTF8;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        p += more;
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return MQ_EUTF8;
    }
    return MQ_OK;
}
