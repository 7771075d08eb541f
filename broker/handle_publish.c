/*
 * handle_publish.c - PUBLISH from a client and the acknowledgements of the
 * QoS 1 and QoS 2 flows in both directions (PUBACK, PUBREC, PUBREL,
 * PUBCOMP).
 *
 * Incoming QoS 2 is delivered on PUBLISH (method B of the specification's
 * figure 4.3): the packet id is remembered until PUBREL, and a repeated
 * PUBLISH with that id is acknowledged again but not delivered again.
 * A publish the ACL refuses, or one to a '$' topic, is acknowledged as the
 * protocol requires and then dropped (MQTT 3.1.1 has no way to say no).
 */
#include "acl.h"
#include "conn.h"
#include "handlers.h"
#include "router.h"
#include "session.h"
#include "worker.h"

static int send_ack(struct conn *c, uint8_t type, uint16_t id)
{
    uint8_t pkt[4];
    return conn_send(c, pkt, mqtt_encode_ack(pkt, type, id));
}

static bool may_publish(const struct conn *c, const struct mqtt_publish *p)
{
    if (p->topic.s[0] == '$')
        return false;
    const struct auth_snapshot *a = c->w->auth;
    if (!a || !a->acl)
        return true;
    const struct session *s = c->s;
    return acl_check(a->acl, s->username, s->client_id, p->topic.s, p->topic.len, ACL_WRITE);
}

int handle_publish(struct conn *c, const struct mqtt_frame *f)
{
    struct worker *w = c->w;
    struct mqtt_publish p;
    int rc = mqtt_decode_publish(f, c->version, &p);
    if (rc != MQ_OK)
        return rc;
    w->count.msgs_received++;
    uint32_t limit = w->b->cfg->message_size_limit;
    if (limit && p.payload_len > limit)
        return MQ_ETOOLARGE;

    if (p.qos == 2 && session_rx_qos2_seen(c->s, p.packet_id))
        return send_ack(c, MQTT_PUBREC, p.packet_id); /* a resend: deliver once only */

    if (may_publish(c, &p)) {
        struct message *msg =
            message_new(p.topic.s, p.topic.len, p.payload, p.payload_len, p.qos, p.retain);
        if (!msg)
            return MQ_ENOMEM;
        router_publish(w, msg);
    }
    if (p.qos == 1)
        return send_ack(c, MQTT_PUBACK, p.packet_id);
    if (p.qos == 2)
        return send_ack(c, MQTT_PUBREC, p.packet_id);
    return MQ_OK;
}

static int decode_ack(struct conn *c, const struct mqtt_frame *f, uint16_t *id)
{
    struct mqtt_ack a;
    int rc = mqtt_decode_ack(f, c->version, &a);
    *id = a.packet_id;
    return rc;
}

int handle_puback(struct conn *c, const struct mqtt_frame *f)
{
    uint16_t id;
    int rc = decode_ack(c, f, &id);
    if (rc == MQ_OK)
        session_on_puback(c->s, id);
    return rc;
}

int handle_pubrec(struct conn *c, const struct mqtt_frame *f)
{
    uint16_t id;
    int rc = decode_ack(c, f, &id);
    if (rc == MQ_OK)
        session_on_pubrec(c->s, id);
    return rc;
}

int handle_pubrel(struct conn *c, const struct mqtt_frame *f)
{
    uint16_t id;
    int rc = decode_ack(c, f, &id);
    if (rc != MQ_OK)
        return rc;
    session_rx_qos2_release(c->s, id);
    return send_ack(c, MQTT_PUBCOMP, id);
}

int handle_pubcomp(struct conn *c, const struct mqtt_frame *f)
{
    uint16_t id;
    int rc = decode_ack(c, f, &id);
    if (rc == MQ_OK)
        session_on_pubcomp(c->s, id);
    return rc;
}
