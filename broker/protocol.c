/*
 * protocol.c - dispatch of framed packets to their handlers, and the small
 * handlers that need no file of their own (PINGREQ, DISCONNECT).
 *
 * Packets a server never receives (CONNACK, SUBACK, UNSUBACK, PINGRESP) and
 * anything but CONNECT before CONNECT are protocol violations: the
 * connection is closed (MQTT 5: after a DISCONNECT saying why).
 */
#include "protocol.h"

#include "conn.h"
#include "handlers.h"
#include "mqtt5.h"
#include "session.h"
#include "worker.h"

uint32_t protocol_max_packet(const struct conn *c)
{
    uint32_t limit = c->w->b->cfg->message_size_limit;
    if (limit == 0 || limit > MQTT_MAX_REMAINING - 65536 - 16)
        return 0; /* the protocol's own limit */
    /* payload + topic (<= 65535 + 2) + packet id + fixed header */
    return limit + 65537 + 2 + 5;
}

int protocol_handle_packet(struct conn *c, const struct mqtt_frame *f, const uint8_t *rest,
                           size_t rest_len)
{
    if (c->state == CONN_NEW)
        return f->type == MQTT_CONNECT ? handle_connect(c, f, rest, rest_len) : MQ_EPROTOCOL;

    switch (f->type) {
    case MQTT_PUBLISH:
        return handle_publish(c, f);
    case MQTT_PUBACK:
        return handle_puback(c, f);
    case MQTT_PUBREC:
        return handle_pubrec(c, f);
    case MQTT_PUBREL:
        return handle_pubrel(c, f);
    case MQTT_PUBCOMP:
        return handle_pubcomp(c, f);
    case MQTT_SUBSCRIBE:
        return handle_subscribe(c, f);
    case MQTT_UNSUBSCRIBE:
        return handle_unsubscribe(c, f);
    case MQTT_PINGREQ:
        return handle_pingreq(c, f);
    case MQTT_DISCONNECT:
        return handle_disconnect(c, f);
    case MQTT_AUTH:
        if (c->version == MQTT_V5)
            return handle_auth(c, f);
        return MQ_EPROTOCOL;
    default:
        return MQ_EPROTOCOL; /* a second CONNECT, or a server-to-client packet */
    }
}

int handle_pingreq(struct conn *c, const struct mqtt_frame *f)
{
    int rc = mqtt_decode_empty(f);
    if (rc != MQ_OK)
        return rc;
    uint8_t pkt[2];
    return conn_send(c, pkt, mqtt_encode_empty(pkt, MQTT_PINGRESP));
}

/*
 * DISCONNECT. MQTT 5: reason 0x04 asks for the will to be sent all the
 * same; a Session Expiry Interval replaces the session's, except that a
 * session that was to end with the connection cannot be kept now (0x82).
 */
int handle_disconnect(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_disconnect d;
    int rc = mqtt_decode_disconnect(f, c->version, &d);
    if (rc != MQ_OK)
        return rc;
    if (c->version == MQTT_V5) {
        struct mqtt5_props props;
        rc = mqtt5_props_decode(d.props, d.props_len, MQTT5_CTX_DISCONNECT, &props);
        if (rc != MQ_OK)
            return rc;
        if (mqtt5_has(&props, MQTT5_PROP_SESSION_EXPIRY_INTERVAL)) {
            if (c->s->expiry_s == 0 && props.session_expiry != 0) {
                c->close_reason = MQTT5_RC_PROTOCOL_ERROR;
                return MQ_EPROTOCOL;
            }
            c->s->expiry_s = props.session_expiry;
        }
    }
    c->disconnect_sent = d.reason_code != MQTT5_RC_DISCONNECT_WITH_WILL;
    conn_close(c, "client sent DISCONNECT");
    return MQ_OK;
}

/* AUTH after CONNECT: no authentication method is supported, so no
 * exchange can be under way; a well-formed AUTH is a protocol error. */
int handle_auth(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt5_auth a;
    int rc = mqtt5_decode_auth(f, &a);
    if (rc == MQ_OK) {
        struct mqtt5_props props;
        rc = mqtt5_props_decode(a.props, a.props_len, MQTT5_CTX_AUTH, &props);
    }
    return rc != MQ_OK ? rc : MQ_EPROTOCOL;
}
