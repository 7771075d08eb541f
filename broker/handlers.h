/*
 * handlers.h - one handler per MQTT control packet type (private to the
 * protocol layer; see protocol.h for the contract they share: MQ_OK to go
 * on, an error to close, PROTOCOL_STOP after a hand-off or while a
 * password is checked).
 */
#ifndef MQCHAT_HANDLERS_H
#define MQCHAT_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt_codec.h"

struct conn;

/* CONNECT. A chat user's password is checked on libuv's thread pool: the
 * connection stops reading, the CONNECT and what followed it are set aside
 * and replayed once the answer is in (PROTOCOL_STOP meanwhile). */
int handle_connect(struct conn *c, const struct mqtt_frame *f, const uint8_t *rest,
                   size_t rest_len);
/* Called by conn_close: a password check still running for c is
 * forgotten (its answer is dropped when it comes). */
void connect_forget_check(struct conn *c);
int handle_publish(struct conn *c, const struct mqtt_frame *f);
int handle_puback(struct conn *c, const struct mqtt_frame *f);
int handle_pubrec(struct conn *c, const struct mqtt_frame *f);
int handle_pubrel(struct conn *c, const struct mqtt_frame *f);
int handle_pubcomp(struct conn *c, const struct mqtt_frame *f);
int handle_subscribe(struct conn *c, const struct mqtt_frame *f);
int handle_unsubscribe(struct conn *c, const struct mqtt_frame *f);
int handle_pingreq(struct conn *c, const struct mqtt_frame *f);
int handle_disconnect(struct conn *c, const struct mqtt_frame *f);
int handle_auth(struct conn *c, const struct mqtt_frame *f);

/* A held acknowledgement (ackhold.h) of c's PUBLISH `id` is due: sends it
 * (result MQ_OK) or refuses it, in the order the PUBLISH packets came. */
void publish_ack_settle(struct conn *c, uint16_t id, uint8_t type, int result);
/* True while c holds so many acknowledgements that it must not be read from
 * (publish_ack_settle resumes it once half have gone). */
bool publish_acks_backlogged(const struct conn *c);

#endif
