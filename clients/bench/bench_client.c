/*
 * bench_client.c - MQTT handshakes and packet dispatch for the load
 * generator's connections.
 *
 * What it is: the protocol state of each connection (CONNECT -> CONNACK ->
 * SUBSCRIBE -> SUBACK -> READY), the pacing of connection start-up, PUBACKs
 * for QoS 1 deliveries, keepalive pings and DISCONNECT at the end, and the
 * encoding of the publishers' PUBLISH packets, all in the one protocol
 * version of the set (s->version): each packet is built or decoded by one
 * function here, which picks the 3.1.1 or the MQTT 5 codec. What it is not:
 * the traffic (which client publishes what, and what a delivery means:
 * bench_traffic.c) or the sockets (bench_conn.c).
 *
 * With --token-secret every client logs in as its own chat user with a
 * token minted here (client__mint_token(), through broker/jwt.h).
 *
 * Packets whose wire form is the same in both versions use the 3.1.1
 * encoder: PUBACK (MQTT 5 leaves out a reason code of 0 with no properties,
 * 3.4.2.1), PINGREQ, and DISCONNECT (an empty MQTT 5 DISCONNECT is a normal
 * disconnection, 3.14.2.1).
 */
#include "bench_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jwt.h"
#include "mqtt5.h"

/* Room for the property block of a PUBLISH from the broker: the --props
 * block (at most BENCH_MAX_PROPS user properties of 24 bytes and a Content
 * Type) and what a broker adds, such as Subscription Identifiers. */
#define BENCH_PROPS_ROOM 4096u
/* Largest packet accepted from a broker: a PUBLISH of the largest payload
 * the options allow, with room for a long topic and for properties. */
#define BENCH_MAX_PACKET (BENCH_MAX_SIZE + 65536u + 16u + BENCH_PROPS_ROOM)
/* --props: the Content Type and the value of every user property. */
#define BENCH_CONTENT_TYPE "application/x-mqchat-bench"
#define BENCH_PROP_VALUE   "0123456789abcdef" /* 16 bytes */
/* The Receive Maximum subscribers send under MQTT 5: the largest there is
 * (also the value an absent one means), so that the broker's own window,
 * not the client, limits QoS 1 deliveries, as under 3.1.1. */
#define BENCH_RECEIVE_MAX 65535u
/* --token-secret: how long the tokens the clients log in with are valid, s. */
#define BENCH_TOKEN_TTL 86400
/* Bytes of a token jwt_sign() writes for a short user id (jwt.h: 512 always suffice). */
#define BENCH_TOKEN_MAX 512

/* Records the first failure of the run, for the report. */
static void client__note(struct bench_clients *s, const char *what, const char *detail, uint32_t id)
{
    if (s->first_error[0])
        return;
    char head[32];
    snprintf(head, sizeof(head), "client %u: ", (unsigned)id);
    snprintf(s->first_error, sizeof(s->first_error), "%s%s%s", head, what, detail);
}

/* Moves c to FAILED (closing it) and keeps the counts right. */
static void client__fail(struct bench_clients *s, struct bench_client *c)
{
    if (c->state == BENCH_CL_CONNACK || c->state == BENCH_CL_SUBACK)
        s->n_handshaking--;
    else if (c->state == BENCH_CL_READY)
        s->n_lost++;
    if (c->state != BENCH_CL_FAILED)
        s->n_failed++;
    c->state = BENCH_CL_FAILED;
    bench_conn_close(&c->conn);
}

static void client__ready(struct bench_clients *s, struct bench_client *c)
{
    c->state = BENCH_CL_READY;
    s->n_handshaking--;
    s->n_ready++;
}

/* A CONNACK, SUBACK or DISCONNECT code as text in buf: "5" under 3.1.1,
 * "0x87 (Not authorized)" under MQTT 5. Returns buf. */
static const char *client__code(const struct bench_clients *s, uint8_t code, char *buf, size_t len)
{
    if (s->version == MQTT_V5)
        snprintf(buf, len, "0x%02x (%s)", (unsigned)code, mqtt5_reason_string(code));
    else
        snprintf(buf, len, "%u", (unsigned)code);
    return buf;
}

/* --token-secret: writes client c's user name ("u<login>") into user and a
 * token for it, valid BENCH_TOKEN_TTL seconds, into token (BENCH_TOKEN_MAX
 * bytes). Returns MQ_OK or what jwt_sign() returns. */
static int client__mint_token(const struct bench_clients *s, const struct bench_client *c,
                              char *user, size_t user_len, char *token)
{
    struct jwt_claims claims;

    memset(&claims, 0, sizeof(claims));
    snprintf(claims.sub, sizeof(claims.sub), "u%u", (unsigned)c->login);
    claims.exp = (int64_t)time(NULL) + BENCH_TOKEN_TTL;
    snprintf(user, user_len, "%s", claims.sub);
    int n = jwt_sign(s->token_secret, s->token_secret_len, &claims, token, BENCH_TOKEN_MAX);
    return n > 0 ? MQ_OK : n;
}

static int client__send_connect(struct bench_clients *s, struct bench_client *c)
{
    char id[48];
    char user[JWT_SUB_MAX + 1];
    char token[BENCH_TOKEN_MAX];
    uint8_t props[8];
    struct mqtt5_connect_opts o;
    struct mqtt5_writer w;
    bool v5 = s->version == MQTT_V5;

    snprintf(id, sizeof(id), "mqbench-%ld-%u", (long)getpid(), (unsigned)c->id);
    memset(&o, 0, sizeof(o));
    o.base.client_id = id;
    o.base.keepalive = s->keepalive;
    o.base.clean_session = true;
    if (s->token_secret) {
        int rc = client__mint_token(s, c, user, sizeof(user), token);
        if (rc != MQ_OK)
            return rc;
        o.base.username = user;
        o.base.password = token;
    } else {
        o.base.username = s->user;
        o.base.password = s->user ? s->password : NULL;
    }
    if (v5 && c->filter) {
        mqtt5_writer_init(&w, props, sizeof(props));
        mqtt5_put_u16(&w, MQTT5_PROP_RECEIVE_MAXIMUM, BENCH_RECEIVE_MAX);
        o.props = props;
        o.props_len = (uint32_t)w.len;
    }
    size_t n = v5 ? mqtt5_connect_size(&o) : mqtt_connect_size(&o.base);
    uint8_t *p = bench_conn_reserve(&c->conn, n);
    if (!p)
        return MQ_ENOMEM;
    bench_conn_commit(&c->conn, v5 ? mqtt5_encode_connect(p, &o) : mqtt_encode_connect(p, &o.base));
    return MQ_OK;
}

static int client__send_subscribe(struct bench_clients *s, struct bench_client *c)
{
    const char *filters[1] = {c->filter};
    /* 3.1.1: the requested QoS. MQTT 5: the subscription options, of which
     * only the QoS bits are set (no No Local, no Retain As Published,
     * Retain Handling 0), so both versions ask for the same thing. */
    uint8_t options[1] = {s->qos};
    bool v5 = s->version == MQTT_V5;
    size_t n = v5 ? mqtt5_subscribe_size(filters, 1, 0) : mqtt_subscribe_size(filters, 1);
    uint8_t *p = bench_conn_reserve(&c->conn, n);
    if (!p)
        return MQ_ENOMEM;
    bench_conn_commit(&c->conn, v5 ? mqtt5_encode_subscribe(p, 1, filters, options, 1, NULL, 0)
                                   : mqtt_encode_subscribe(p, 1, filters, options, 1));
    return MQ_OK;
}

size_t bench_clients_publish_size(const struct bench_clients *s, size_t topic_len,
                                  size_t payload_len, uint8_t qos)
{
    if (s->version == MQTT_V5)
        return mqtt5_publish_size(topic_len, s->pub_props_len, payload_len, qos);
    return mqtt_publish_size(topic_len, payload_len, qos);
}

size_t bench_clients_encode_publish(const struct bench_clients *s, uint8_t *out, const char *topic,
                                    size_t topic_len, const uint8_t *payload, size_t payload_len,
                                    uint8_t qos, size_t *id_offset)
{
    if (s->version == MQTT_V5)
        return mqtt5_encode_publish(out, topic, topic_len, s->pub_props, s->pub_props_len, payload,
                                    payload_len, qos, false, false, 1, id_offset);
    return mqtt_encode_publish(out, topic, topic_len, payload, payload_len, qos, false, false, 1,
                               id_offset);
}

/* Puts the --props properties of every PUBLISH into w: a Content Type, then
 * n user properties "k<i>" = BENCH_PROP_VALUE. Nothing when n is 0. */
static void client__put_pub_props(struct mqtt5_writer *w, uint32_t n)
{
    char key[16];

    if (n == 0)
        return;
    mqtt5_put_str(w, MQTT5_PROP_CONTENT_TYPE, BENCH_CONTENT_TYPE, sizeof(BENCH_CONTENT_TYPE) - 1);
    for (uint32_t i = 0; i < n; i++) {
        int k = snprintf(key, sizeof(key), "k%u", (unsigned)i);
        mqtt5_put_pair(w, key, (size_t)k, BENCH_PROP_VALUE, sizeof(BENCH_PROP_VALUE) - 1);
    }
}

/* Builds s->pub_props for n properties: none under 3.1.1 or when n is 0.
 * Returns MQ_OK or MQ_ENOMEM. */
static int client__build_pub_props(struct bench_clients *s, uint32_t n)
{
    struct mqtt5_writer w;

    if (s->version != MQTT_V5 || n == 0)
        return MQ_OK;
    mqtt5_writer_init(&w, NULL, 0);
    client__put_pub_props(&w, n);
    size_t len = w.len;
    s->pub_props = malloc(len);
    if (!s->pub_props)
        return MQ_ENOMEM;
    mqtt5_writer_init(&w, s->pub_props, len);
    client__put_pub_props(&w, n);
    s->pub_props_len = (uint32_t)w.len;
    return MQ_OK;
}

static void client__on_connack(struct bench_clients *s, struct bench_client *c,
                               const struct mqtt_frame *f)
{
    bool present;
    uint8_t rc;

    if (c->state != BENCH_CL_CONNACK ||
        mqtt_decode_connack(f, s->version, &present, &rc) != MQ_OK) {
        s->n_protocol_errors++;
        client__note(s, "bad or unexpected CONNACK", "", c->id);
        client__fail(s, c);
        return;
    }
    /* Accepted is 0 in both versions (MQTT_CONNACK_ACCEPTED, MQTT5_RC_SUCCESS). */
    if (rc != MQTT_CONNACK_ACCEPTED) {
        char what[64];
        client__note(s, "CONNACK refused, code ", client__code(s, rc, what, sizeof(what)), c->id);
        client__fail(s, c);
        return;
    }
    if (!c->filter) {
        client__ready(s, c);
        return;
    }
    if (client__send_subscribe(s, c) != MQ_OK) {
        client__note(s, "out of memory", "", c->id);
        client__fail(s, c);
        return;
    }
    c->state = BENCH_CL_SUBACK;
}

static void client__on_suback(struct bench_clients *s, struct bench_client *c,
                              const struct mqtt_frame *f)
{
    uint16_t id;
    uint8_t code[1];
    size_t count = 0;

    if (c->state != BENCH_CL_SUBACK ||
        mqtt_decode_suback(f, s->version, &id, code, 1, &count) != MQ_OK || count != 1) {
        s->n_protocol_errors++;
        client__note(s, "bad or unexpected SUBACK", "", c->id);
        client__fail(s, c);
        return;
    }
    /* 0x80 is 3.1.1's only failure code; every MQTT 5 code from 0x80 up is one. */
    if (code[0] >= MQTT_SUBACK_FAILURE) {
        client__note(s, "SUBSCRIBE refused for ", c->filter, c->id);
        client__fail(s, c);
        return;
    }
    client__ready(s, c);
}

static void client__on_publish(struct bench_clients *s, struct bench_client *c,
                               const struct mqtt_frame *f, uint64_t now)
{
    struct mqtt_publish p;

    /* Under MQTT 5 this skips the property block: p.payload is the payload. */
    if (mqtt_decode_publish(f, s->version, &p) != MQ_OK) {
        s->n_protocol_errors++;
        client__note(s, "PUBLISH that does not decode", "", c->id);
        return;
    }
    if (p.qos == 1) {
        uint8_t *out = bench_conn_reserve(&c->conn, 4);
        if (out)
            bench_conn_commit(&c->conn, mqtt_encode_ack(out, MQTT_PUBACK, p.packet_id));
    }
    if (s->on_publish)
        s->on_publish(s->ctx, c, &p, now);
}

static void client__on_puback(struct bench_clients *s, struct bench_client *c,
                              const struct mqtt_frame *f, uint64_t now)
{
    struct mqtt_ack a;

    if (mqtt_decode_ack(f, s->version, &a) != MQ_OK) {
        s->n_protocol_errors++;
        client__note(s, "PUBACK that does not decode", "", c->id);
        return;
    }
    if (a.reason_code >= 0x80) {
        char what[64];
        client__note(s, "PUBLISH refused, PUBACK reason ",
                     client__code(s, a.reason_code, what, sizeof(what)), c->id);
    }
    if (s->on_puback)
        s->on_puback(s->ctx, c, a.packet_id, now);
}

/* The broker ends the connection with a reason (MQTT 5; a 3.1.1 server
 * never sends DISCONNECT, so there it also counts as a protocol error). */
static void client__on_disconnect(struct bench_clients *s, struct bench_client *c,
                                  const struct mqtt_frame *f)
{
    struct mqtt_disconnect d;
    char what[64];

    if (s->version != MQTT_V5 || mqtt_decode_disconnect(f, s->version, &d) != MQ_OK) {
        s->n_protocol_errors++;
        client__note(s, "bad or unexpected DISCONNECT", "", c->id);
    } else {
        client__note(s, "DISCONNECT from the broker, reason ",
                     client__code(s, d.reason_code, what, sizeof(what)), c->id);
    }
    client__fail(s, c);
}

static void client__on_packet(void *ctx, struct bench_conn *conn, const struct mqtt_frame *f,
                              uint64_t now)
{
    struct bench_clients *s = ctx;
    struct bench_client *c = (struct bench_client *)conn;

    switch (f->type) {
    case MQTT_PUBLISH:
        client__on_publish(s, c, f, now);
        break;
    case MQTT_PUBACK:
        client__on_puback(s, c, f, now);
        break;
    case MQTT_CONNACK:
        client__on_connack(s, c, f);
        break;
    case MQTT_SUBACK:
        client__on_suback(s, c, f);
        break;
    case MQTT_PINGRESP:
        break;
    case MQTT_DISCONNECT:
        client__on_disconnect(s, c, f);
        break;
    default:
        s->n_protocol_errors++;
        client__note(s, "unexpected packet type", "", c->id);
        break;
    }
}

static void client__on_close(void *ctx, struct bench_conn *conn, int err)
{
    struct bench_clients *s = ctx;
    struct bench_client *c = (struct bench_client *)conn;

    if (conn->loop->why[0])
        client__note(s, conn->loop->why, "", c->id);
    else
        client__note(s, err ? strerror(err) : "closed by the broker", "", c->id);
    client__fail(s, c);
}

int bench_clients_init(struct bench_clients *s, const struct bench_opts *o, uint32_t n)
{
    memset(s, 0, sizeof(*s));
    int rc = bench_loop_init(&s->loop, o->host, o->port, BENCH_MAX_PACKET);
    if (rc != MQ_OK)
        return rc;
    if (o->port2 && (rc = bench_loop_set_second(&s->loop, o->host, o->port2)) != MQ_OK) {
        bench_loop_free(&s->loop);
        return rc;
    }
    if (o->transport != BENCH_TP_TCP &&
        (rc = bench_loop_set_transport(&s->loop, o->transport, o->ws_path)) != MQ_OK) {
        bench_loop_free(&s->loop);
        return rc;
    }
    s->version = o->version == MQTT_V5 ? MQTT_V5 : MQTT_V311;
    s->a = calloc(n ? n : 1, sizeof(*s->a));
    if (!s->a || client__build_pub_props(s, o->props) != MQ_OK) {
        free(s->a);
        s->a = NULL;
        bench_loop_free(&s->loop);
        return MQ_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        s->a[i].conn.fd = -1;
        s->a[i].id = i;
        s->a[i].login = i;
        s->a[i].pub = -1;
    }
    s->n = n;
    s->qos = o->qos;
    s->keepalive = 60;
    s->user = o->user;
    s->password = o->password;
    if (o->token_secret) {
        s->token_secret = (const uint8_t *)o->token_secret;
        s->token_secret_len = strlen(o->token_secret);
    }
    s->loop.on_packet = client__on_packet;
    s->loop.on_close = client__on_close;
    s->loop.ctx = s;
    return MQ_OK;
}

void bench_clients_free(struct bench_clients *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        bench_conn_close(&s->a[i].conn);
    free(s->a);
    s->a = NULL;
    s->n = 0;
    free(s->pub_props);
    s->pub_props = NULL;
    s->pub_props_len = 0;
    bench_loop_free(&s->loop);
}

/* Opens client c and queues its CONNECT. */
static void client__start(struct bench_clients *s, struct bench_client *c)
{
    if (bench_conn_open(&s->loop, &c->conn, c->second) != MQ_OK) {
        client__note(s, "connect: ", strerror(errno), c->id);
        c->state = BENCH_CL_FAILED;
        s->n_failed++;
        return;
    }
    c->state = BENCH_CL_CONNACK;
    s->n_handshaking++;
    int rc = client__send_connect(s, c);
    if (rc != MQ_OK) {
        client__note(s, rc == MQ_ENOMEM ? "out of memory" : "cannot sign a token", "", c->id);
        client__fail(s, c);
    }
}

int bench_clients_setup(struct bench_clients *s, uint32_t window, uint32_t timeout_s, bool quiet)
{
    uint64_t start = bench_now_ns();
    uint64_t deadline = start + (uint64_t)timeout_s * 1000000000u;
    uint64_t next_report = start + 1000000000u;
    uint32_t next = 0;

    if (window == 0)
        window = 1;
    while (next < s->n || s->n_handshaking > 0) {
        while (next < s->n && s->n_handshaking < window)
            client__start(s, &s->a[next++]);
        uint64_t now = bench_now_ns();
        if (now >= deadline)
            break;
        if (!quiet && now >= next_report) {
            fprintf(stderr, "mqchat-bench: setup %u/%u ready, %u failed\n", (unsigned)s->n_ready,
                    (unsigned)s->n, (unsigned)s->n_failed);
            next_report += 1000000000u;
        }
        if (bench_loop_poll(&s->loop, 50) < 0)
            break;
    }
    for (uint32_t i = 0; i < s->n; i++) {
        struct bench_client *c = &s->a[i];
        if (c->state == BENCH_CL_CONNACK || c->state == BENCH_CL_SUBACK) {
            client__note(s, "handshake timed out", "", c->id);
            client__fail(s, c);
        } else if (c->state == BENCH_CL_IDLE) {
            client__note(s, "never started: setup timed out", "", c->id);
            c->state = BENCH_CL_FAILED;
            s->n_failed++;
        }
    }
    s->next_ping_ns = bench_now_ns() + (uint64_t)s->keepalive * 500000000u;
    return s->n_failed == 0 && s->n_ready == s->n ? MQ_OK : MQ_EIO;
}

int bench_clients_poll(struct bench_clients *s, int timeout_ms)
{
    int rc = bench_loop_poll(&s->loop, timeout_ms);
    if (s->keepalive && s->next_ping_ns) {
        uint64_t now = bench_now_ns();
        if (now >= s->next_ping_ns) {
            uint8_t ping[2];
            size_t n = mqtt_encode_empty(ping, MQTT_PINGREQ);
            for (uint32_t i = 0; i < s->n; i++)
                if (s->a[i].state == BENCH_CL_READY)
                    bench_conn_send(&s->a[i].conn, ping, n);
            s->next_ping_ns = now + (uint64_t)s->keepalive * 500000000u;
            bench_loop_flush(&s->loop);
        }
    }
    return rc;
}

void bench_clients_disconnect(struct bench_clients *s)
{
    uint8_t pkt[2];
    size_t n = mqtt_encode_empty(pkt, MQTT_DISCONNECT);

    for (uint32_t i = 0; i < s->n; i++) {
        if (s->a[i].conn.fd >= 0) {
            bench_conn_send(&s->a[i].conn, pkt, n);
            bench_conn_goodbye(&s->a[i].conn);
        }
    }
    bench_loop_flush(&s->loop);
    for (uint32_t i = 0; i < s->n; i++)
        bench_conn_close(&s->a[i].conn);
}
