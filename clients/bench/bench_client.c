/*
 * bench_client.c - MQTT handshakes and packet dispatch for the load
 * generator's connections.
 *
 * What it is: the protocol state of each connection (CONNECT -> CONNACK ->
 * SUBSCRIBE -> SUBACK -> READY), the pacing of connection start-up, PUBACKs
 * for QoS 1 deliveries, keepalive pings and DISCONNECT at the end. What it
 * is not: the traffic (which client publishes what, and what a delivery
 * means: bench_traffic.c) or the sockets (bench_conn.c).
 */
#include "bench_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Largest packet accepted from a broker: a PUBLISH of the largest payload
 * the options allow, with room for a long topic. */
#define BENCH_MAX_PACKET (BENCH_MAX_SIZE + 65536u + 16u)

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

static int client__send_connect(struct bench_clients *s, struct bench_client *c)
{
    char id[48];
    struct mqtt_connect_opts o;

    snprintf(id, sizeof(id), "mqbench-%ld-%u", (long)getpid(), (unsigned)c->id);
    memset(&o, 0, sizeof(o));
    o.client_id = id;
    o.keepalive = s->keepalive;
    o.clean_session = true;
    o.username = s->user;
    o.password = s->user ? s->password : NULL;
    size_t n = mqtt_connect_size(&o);
    uint8_t *p = bench_conn_reserve(&c->conn, n);
    if (!p)
        return MQ_ENOMEM;
    bench_conn_commit(&c->conn, mqtt_encode_connect(p, &o));
    return MQ_OK;
}

static int client__send_subscribe(struct bench_clients *s, struct bench_client *c)
{
    const char *filters[1] = {c->filter};
    uint8_t qos[1] = {s->qos};
    size_t n = mqtt_subscribe_size(filters, 1);
    uint8_t *p = bench_conn_reserve(&c->conn, n);
    if (!p)
        return MQ_ENOMEM;
    bench_conn_commit(&c->conn, mqtt_encode_subscribe(p, 1, filters, qos, 1));
    return MQ_OK;
}

static void client__on_connack(struct bench_clients *s, struct bench_client *c,
                               const struct mqtt_frame *f)
{
    bool present;
    uint8_t rc;

    if (c->state != BENCH_CL_CONNACK || mqtt_decode_connack(f, MQTT_V311, &present, &rc) != MQ_OK) {
        s->n_protocol_errors++;
        client__note(s, "bad or unexpected CONNACK", "", c->id);
        client__fail(s, c);
        return;
    }
    if (rc != MQTT_CONNACK_ACCEPTED) {
        char what[32];
        snprintf(what, sizeof(what), "%u", (unsigned)rc);
        client__note(s, "CONNACK refused, return code ", what, c->id);
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
        mqtt_decode_suback(f, MQTT_V311, &id, code, 1, &count) != MQ_OK || count != 1) {
        s->n_protocol_errors++;
        client__note(s, "bad or unexpected SUBACK", "", c->id);
        client__fail(s, c);
        return;
    }
    if (code[0] == MQTT_SUBACK_FAILURE) {
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

    if (mqtt_decode_publish(f, MQTT_V311, &p) != MQ_OK) {
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

static void client__on_packet(void *ctx, struct bench_conn *conn, const struct mqtt_frame *f,
                              uint64_t now)
{
    struct bench_clients *s = ctx;
    struct bench_client *c = (struct bench_client *)conn;
    struct mqtt_ack a;

    switch (f->type) {
    case MQTT_PUBLISH:
        client__on_publish(s, c, f, now);
        break;
    case MQTT_PUBACK:
        if (mqtt_decode_ack(f, MQTT_V311, &a) != MQ_OK) {
            s->n_protocol_errors++;
            break;
        }
        if (s->on_puback)
            s->on_puback(s->ctx, c, a.packet_id, now);
        break;
    case MQTT_CONNACK:
        client__on_connack(s, c, f);
        break;
    case MQTT_SUBACK:
        client__on_suback(s, c, f);
        break;
    case MQTT_PINGRESP:
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

    client__note(s, err ? strerror(err) : "closed by the broker", "", c->id);
    client__fail(s, c);
}

int bench_clients_init(struct bench_clients *s, const struct bench_opts *o, uint32_t n)
{
    memset(s, 0, sizeof(*s));
    int rc = bench_loop_init(&s->loop, o->host, o->port, BENCH_MAX_PACKET);
    if (rc != MQ_OK)
        return rc;
    s->a = calloc(n ? n : 1, sizeof(*s->a));
    if (!s->a) {
        bench_loop_free(&s->loop);
        return MQ_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        s->a[i].conn.fd = -1;
        s->a[i].id = i;
        s->a[i].pub = -1;
    }
    s->n = n;
    s->qos = o->qos;
    s->keepalive = 60;
    s->user = o->user;
    s->password = o->password;
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
    bench_loop_free(&s->loop);
}

/* Opens client c and queues its CONNECT. */
static void client__start(struct bench_clients *s, struct bench_client *c)
{
    if (bench_conn_open(&s->loop, &c->conn) != MQ_OK) {
        client__note(s, "connect: ", strerror(errno), c->id);
        c->state = BENCH_CL_FAILED;
        s->n_failed++;
        return;
    }
    c->state = BENCH_CL_CONNACK;
    s->n_handshaking++;
    if (client__send_connect(s, c) != MQ_OK) {
        client__note(s, "out of memory", "", c->id);
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

    for (uint32_t i = 0; i < s->n; i++)
        if (s->a[i].conn.fd >= 0)
            bench_conn_send(&s->a[i].conn, pkt, n);
    bench_loop_flush(&s->loop);
    for (uint32_t i = 0; i < s->n; i++)
        bench_conn_close(&s->a[i].conn);
}
