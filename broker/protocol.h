/*
 * protocol.h - MQTT packet handling: one decoded packet, one action.
 *
 * conn.c frames packets and calls protocol_handle_packet(); it dispatches on
 * the packet type to the handlers declared in handlers.h (handle_connect.c,
 * handle_publish.c, handle_subscribe.c, ...), which decode with the codec,
 * apply session state and answer through conn_send(). The handlers never
 * read or write sockets themselves.
 */
#ifndef MQCHAT_PROTOCOL_H
#define MQCHAT_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "mqtt_codec.h"

struct conn;

/*
 * Handles one framed packet of c. `rest` and `rest_len` are the input from
 * this packet's first byte onwards (so CONNECT can hand the connection to
 * another worker with everything unread).
 * Returns MQ_OK to go on reading; any error means the connection must be
 * closed (the handler has already sent what the protocol requires, e.g. a
 * refusing CONNACK); PROTOCOL_STOP means stop reading this input without
 * closing (the connection was handed off).
 */
#define PROTOCOL_STOP 1
int protocol_handle_packet(struct conn *c, const struct mqtt_frame *f, const uint8_t *rest,
                           size_t rest_len);

/* Largest packet a client may send: message_size_limit plus room for the
 * topic and headers. */
uint32_t protocol_max_packet(const struct conn *c);

#endif
