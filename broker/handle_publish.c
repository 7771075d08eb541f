/*
 * handle_publish.c - PUBLISH from a client and the acknowledgements of the
 * QoS 1 and QoS 2 flows in both directions (PUBACK, PUBREC, PUBREL,
 * PUBCOMP).
 *
 * Incoming QoS 2 is delivered on PUBLISH (method B of the specification's
 * figure 4.3): the packet id is remembered until PUBREL, and a repeated
 * PUBLISH with that id is acknowledged again but not delivered again.
 * A publish the ACL refuses, or one to a '$' topic, is not delivered: MQTT
 * 3.1.1 acknowledges it as usual (it has no way to say no), MQTT 5 answers
 * with reason 0x87 Not authorized.
 *
 * MQTT 5: topic aliases from the client are resolved here (an alias out of
 * range is 0x94, an unknown one a protocol error); a payload that claims to
 * be UTF-8 (Payload Format Indicator 1) and is not gets 0x99; more
 * unreleased QoS 2 publishes than the broker's Receive Maximum is 0x93. The
 * properties that travel with the message are kept in it.
 */
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "conn.h"
#include "handlers.h"
#include "mqtt5.h"
#include "router.h"
#include "session.h"
#include "worker.h"

static int send_ack(struct conn *c, uint8_t type, uint16_t id, uint8_t reason)
{
    if (c->version == MQTT_V5) {
        uint8_t *p = conn_reserve(c, mqtt5_ack_size(reason, 0));
        if (!p)
            return MQ_EIO;
        mqtt5_encode_ack(p, type, id, reason, NULL, 0);
        return MQ_OK;
    }
    uint8_t pkt[4];
    return conn_send(c, pkt, mqtt_encode_ack(pkt, type, id));
}

static bool may_publish(const struct conn *c, const char *topic, size_t len)
{
    if (topic[0] == '$')
        return false;
    const struct auth_snapshot *a = c->w->auth;
    if (!a || !a->acl)
        return true;
    const struct session *s = c->s;
    return acl_check(a->acl, s->username, s->client_id, topic, len, ACL_WRITE);
}

/* The broker's Receive Maximum: unreleased incoming QoS 2 publishes. */
static size_t receive_maximum(const struct conn *c)
{
    uint32_t max = c->w->b->cfg->max_inflight_messages;
    return max && max < 65535 ? max : 65535;
}

/*
 * MQTT 5: resolves the topic alias and checks the properties of p.
 * Returns MQ_OK (p->topic set) or an error with c->close_reason set. A
 * payload that is not the UTF-8 it claims to be is not an error that
 * closes: *reason gets 0x99 for the acknowledgement instead.
 */
static int publish_v5_checks(struct conn *c, struct mqtt_publish *p, struct mqtt5_props *props,
                             uint8_t *reason)
{
    int rc = mqtt5_props_decode(p->props, p->props_len, MQTT5_CTX_PUBLISH, props);
    if (rc != MQ_OK) {
        /* Topic Alias 0 has its own reason; a repeated one is a protocol error. */
        bool alias_zero = props->bad_id == MQTT5_PROP_TOPIC_ALIAS && props->topic_alias == 0;
        c->close_reason = alias_zero ? MQTT5_RC_TOPIC_ALIAS_INVALID : mqtt5_reason_for_error(rc);
        return rc;
    }
    if (mqtt5_has(props, MQTT5_PROP_TOPIC_ALIAS)) {
        uint16_t alias = props->topic_alias;
        if (alias > c->w->b->cfg->max_topic_alias) {
            c->close_reason = MQTT5_RC_TOPIC_ALIAS_INVALID;
            return MQ_EPROTOCOL;
        }
        if (p->topic.len) {
            if (conn_alias_in_set(c, alias, p->topic.s, p->topic.len) != MQ_OK)
                return MQ_ENOMEM;
        } else {
            const char *topic = conn_alias_in_get(c, alias);
            if (!topic) {
                c->close_reason = MQTT5_RC_PROTOCOL_ERROR;
                return MQ_EPROTOCOL;
            }
            p->topic.s = topic;
            p->topic.len = (uint16_t)strlen(topic);
        }
    } else if (p->topic.len == 0) {
        c->close_reason = MQTT5_RC_PROTOCOL_ERROR;
        return MQ_EPROTOCOL;
    }
    if (props->payload_format == 1 &&
        mqtt_utf8_check((const char *)p->payload, p->payload_len) != MQ_OK)
        *reason = MQTT5_RC_PAYLOAD_FORMAT_INVALID;
    return MQ_OK;
}

/* Builds the message of p, keeping the MQTT 5 properties that travel. */
static struct message *publish_message(struct conn *c, const struct mqtt_publish *p,
                                       const struct mqtt5_props *props)
{
    struct message_extra extra = {.origin = c->s->uid};
    uint8_t *kept = NULL;
    if (c->version == MQTT_V5 && props->raw_len) {
        static const uint8_t drop[] = {MQTT5_PROP_TOPIC_ALIAS, MQTT5_PROP_SUBSCRIPTION_IDENTIFIER,
                                       MQTT5_PROP_MESSAGE_EXPIRY_INTERVAL};
        kept = malloc(props->raw_len);
        if (!kept)
            return NULL;
        extra.props = kept;
        extra.props_len =
            (uint32_t)mqtt5_props_filter(props->raw, props->raw_len, kept, drop, sizeof(drop));
        extra.expiry_s = props->message_expiry;
    }
    struct message *msg = message_new(p->topic.s, p->topic.len, p->payload, p->payload_len, p->qos,
                                      p->retain, &extra);
    free(kept);
    return msg;
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

    struct mqtt5_props props = {0};
    uint8_t reason = MQTT5_RC_SUCCESS;
    if (c->version == MQTT_V5) {
        if ((rc = publish_v5_checks(c, &p, &props, &reason)) != MQ_OK)
            return rc;
    }

    uint8_t ack = p.qos == 1 ? MQTT_PUBACK : MQTT_PUBREC;
    if (p.qos == 2) {
        if (session_rx_qos2_has(c->s, p.packet_id))
            return send_ack(c, ack, p.packet_id, reason); /* a resend: deliver once only */
        if (c->version == MQTT_V5 && session_rx_qos2_count(c->s) >= receive_maximum(c)) {
            c->close_reason = MQTT5_RC_RECEIVE_MAXIMUM_EXCEEDED;
            return MQ_EFULL; /* not recorded: a resend on a new connection is delivered */
        }
    }
    if (reason == MQTT5_RC_SUCCESS && !may_publish(c, p.topic.s, p.topic.len))
        reason = MQTT5_RC_NOT_AUTHORIZED;
    if (reason == MQTT5_RC_SUCCESS) {
        struct message *msg = publish_message(c, &p, &props);
        if (!msg)
            return MQ_ENOMEM;
        router_publish(w, msg);
        /* Remembered only once delivered, so that nothing is lost on a failure
         * above; a refused QoS 2 ends at PUBREC and is not remembered. */
        if (p.qos == 2 && session_rx_qos2_add(c->s, p.packet_id) != MQ_OK)
            return MQ_ENOMEM;
    }
    return p.qos ? send_ack(c, ack, p.packet_id, reason) : MQ_OK;
}

static int decode_ack(struct conn *c, const struct mqtt_frame *f, struct mqtt_ack *a)
{
    int rc = mqtt_decode_ack(f, c->version, a);
    if (rc == MQ_OK && c->version == MQTT_V5) {
        struct mqtt5_props props;
        rc = mqtt5_props_decode(a->props, a->props_len, MQTT5_CTX_ACK, &props);
    }
    return rc;
}

int handle_puback(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_ack a;
    int rc = decode_ack(c, f, &a);
    if (rc == MQ_OK)
        session_on_puback(c->s, a.packet_id);
    return rc;
}

int handle_pubrec(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_ack a;
    int rc = decode_ack(c, f, &a);
    if (rc == MQ_OK)
        session_on_pubrec(c->s, a.packet_id, a.reason_code);
    return rc;
}

int handle_pubrel(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_ack a;
    int rc = decode_ack(c, f, &a);
    if (rc != MQ_OK)
        return rc;
    session_rx_qos2_release(c->s, a.packet_id);
    return send_ack(c, MQTT_PUBCOMP, a.packet_id, MQTT5_RC_SUCCESS);
}

int handle_pubcomp(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_ack a;
    int rc = decode_ack(c, f, &a);
    if (rc == MQ_OK)
        session_on_pubcomp(c->s, a.packet_id);
    return rc;
}
