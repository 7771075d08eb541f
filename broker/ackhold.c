/*
 * ackhold.c - acknowledgements held until a publish is durable (see
 * ackhold.h).
 */
#include "ackhold.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "errors.h"
#include "handlers.h"
#include "message.h"
#include "session.h"
#include "worker.h"

int ack_hold_attach(struct message *msg, struct conn *c, uint16_t packet_id, uint8_t type)
{
    const struct session *s = c->s;
    struct ack_hold *h = malloc(sizeof(*h) + s->client_id_len + 1);
    if (!h)
        return MQ_ENOMEM;
    atomic_init(&h->pending, 1);
    atomic_init(&h->result, MQ_OK);
    h->w = c->w;
    h->conn_serial = c->serial;
    h->packet_id = packet_id;
    h->type = type;
    h->client_id_len = s->client_id_len;
    memcpy(h->client_id, s->client_id, s->client_id_len + 1);
    msg->ack = h;
    return MQ_OK;
}

bool ack_hold_join(struct message *msg)
{
    struct ack_hold *h = msg->ack;
    if (!h)
        return false;
    int pending = atomic_load_explicit(&h->pending, memory_order_acquire);
    while (pending > 0) {
        if (atomic_compare_exchange_weak_explicit(&h->pending, &pending, pending + 1,
                                                  memory_order_acq_rel, memory_order_acquire))
            return true;
    }
    return false; /* acknowledged already: nothing more to wait for */
}

void ack_hold_fail(struct message *msg, int result)
{
    int ok = MQ_OK;
    atomic_compare_exchange_strong(&msg->ack->result, &ok, result);
}

void ack_hold_release(struct message *msg, int result)
{
    struct ack_hold *h = msg->ack;
    if (result != MQ_OK)
        ack_hold_fail(msg, result);
    if (atomic_fetch_sub_explicit(&h->pending, 1, memory_order_acq_rel) != 1)
        return;
    struct work item = {.kind = WORK_ACK, .u.msg = message_ref(msg)};
    if (worker_post(h->w, &item) != MQ_OK)
        message_unref(msg); /* out of memory: the client will send it again */
}

void ack_hold_deliver(struct worker *w, struct message *msg)
{
    const struct ack_hold *h = msg->ack;
    struct session *s = session_find(w, h->client_id, h->client_id_len);
    int result = atomic_load(&h->result);
    /* Not stored: a QoS 2 resend must be taken as new, not as a duplicate. */
    if (s && result != MQ_OK && h->type == MQTT_PUBREC)
        session_rx_qos2_release(s, h->packet_id);
    struct conn *c = s ? s->conn : NULL;
    if (!c || c->serial != h->conn_serial || c->state != CONN_ACTIVE)
        return; /* that connection is gone: the client sends the message again */
    publish_ack_settle(c, h->packet_id, h->type, result);
}
