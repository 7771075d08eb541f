/*
 * handle_subscribe.c - SUBSCRIBE and UNSUBSCRIBE.
 *
 * SUBSCRIBE: each filter is checked against the ACL (a refused one gets
 * return code 0x80 in SUBACK and is not added), added to the session (and
 * so to the worker's topic tree) with its granted QoS, and after the SUBACK
 * the retained messages matching it are sent with RETAIN set, each at
 * min(granted, published) QoS. UNSUBSCRIBE removes filters; UNSUBACK is
 * sent whether or not they existed (MQTT 3.1.1 section 3.10.4).
 */
#include <stdlib.h>

#include "acl.h"
#include "conn.h"
#include "handlers.h"
#include "retain.h"
#include "session.h"
#include "worker.h"

static bool may_subscribe(const struct conn *c, const struct mqtt_str *filter)
{
    const struct auth_snapshot *a = c->w->auth;
    if (!a || !a->acl)
        return true;
    const struct session *s = c->s;
    return acl_check(a->acl, s->username, s->client_id, filter->s, filter->len, ACL_SUBSCRIBE);
}

/* Collects retained messages (with references) while the store is locked,
 * to deliver them after it is unlocked. */
struct retained_batch {
    struct message **msgs;
    size_t n, cap;
    bool failed;
};

static void collect_retained(void *ctx, struct message *msg)
{
    struct retained_batch *rb = ctx;
    if (rb->n == rb->cap) {
        size_t cap = rb->cap ? rb->cap * 2 : 16;
        struct message **msgs = realloc(rb->msgs, cap * sizeof(*msgs));
        if (!msgs) {
            rb->failed = true;
            return;
        }
        rb->msgs = msgs;
        rb->cap = cap;
    }
    rb->msgs[rb->n++] = message_ref(msg);
}

static void send_retained(struct conn *c, const struct mqtt_str *filter, uint8_t granted)
{
    struct retained_batch rb = {0};
    retain_match(c->w->b->retain, filter->s, filter->len, collect_retained, &rb);
    for (size_t i = 0; i < rb.n; i++) {
        struct message *msg = rb.msgs[i];
        if (c->s)
            session_deliver(c->s, msg, msg->qos < granted ? msg->qos : granted, true);
        message_unref(msg);
    }
    free(rb.msgs);
}

int handle_subscribe(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_subscribe sub;
    int rc = mqtt_decode_subscribe(f, c->version, &sub);
    if (rc != MQ_OK)
        return rc;
    uint8_t *codes = malloc(sub.count);
    if (!codes)
        return MQ_ENOMEM;

    struct mqtt_sub_iter it = sub.iter;
    struct mqtt_str filter;
    uint8_t options;
    for (size_t i = 0; mqtt_next_filter(&it, &filter, &options); i++) {
        uint8_t qos = options & 3;
        if (!may_subscribe(c, &filter) ||
            session_subscribe(c->s, filter.s, filter.len, qos) < 0)
            codes[i] = MQTT_SUBACK_FAILURE;
        else
            codes[i] = qos;
    }
    uint8_t *pkt = conn_reserve(c, mqtt_suback_size(sub.count));
    if (pkt)
        mqtt_encode_suback(pkt, sub.packet_id, codes, sub.count);

    it = sub.iter;
    for (size_t i = 0; pkt && mqtt_next_filter(&it, &filter, &options); i++)
        if (codes[i] != MQTT_SUBACK_FAILURE)
            send_retained(c, &filter, codes[i]);
    free(codes);
    return pkt ? MQ_OK : MQ_EIO;
}

int handle_unsubscribe(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_subscribe unsub;
    int rc = mqtt_decode_unsubscribe(f, c->version, &unsub);
    if (rc != MQ_OK)
        return rc;
    struct mqtt_sub_iter it = unsub.iter;
    struct mqtt_str filter;
    uint8_t options;
    while (mqtt_next_filter(&it, &filter, &options))
        session_unsubscribe(c->s, filter.s, filter.len);
    uint8_t pkt[4];
    return conn_send(c, pkt, mqtt_encode_ack(pkt, MQTT_UNSUBACK, unsub.packet_id));
}
