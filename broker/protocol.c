/*
 * protocol.c - dispatch of framed packets to their handlers, and the small
 * handlers that need no file of their own (PINGREQ, DISCONNECT).
 *
 * Packets a server never receives (CONNACK, SUBACK, UNSUBACK, PINGRESP) and
 * anything but CONNECT before CONNECT are protocol violations: the
 * connection is closed.
 */
#include "protocol.h"

#include "conn.h"
#include "handlers.h"
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

int handle_disconnect(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_disconnect d;
    int rc = mqtt_decode_disconnect(f, c->version, &d);
    if (rc != MQ_OK)
        return rc;
    c->disconnect_sent = true;
    conn_close(c, "client sent DISCONNECT");
    return MQ_OK;
}
