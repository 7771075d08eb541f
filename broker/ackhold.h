/*
 * ackhold.h - an acknowledgement held until a publish is durable.
 *
 * A QoS 1/2 PUBLISH that the broker keeps (a spooled topic) is answered
 * (PUBACK / PUBREC) only once everything that makes it durable has
 * committed: its spool row, and the queue rows of every persistent session
 * it reached. Delivery does not wait for any of it.
 *
 * The hold lives in the message (message->ack) and is freed with it. It
 * counts what is still outstanding: the publisher's own routing (released
 * when router_publish() returns), each delivery handed to another worker
 * (released once that worker has delivered it), and each database write
 * (released from the writer thread after its commit). The last release
 * posts WORK_ACK to the publisher's worker, which sends the acknowledgement
 * on the connection that sent the PUBLISH if it is still there, with the
 * worst result: a write that failed turns it into a refusal (MQTT 5 reason
 * 0x97 Quota exceeded; MQTT 3.1.1, which cannot refuse, gets its
 * connection closed without an acknowledgement, so that the client sends
 * the message again).
 */
#ifndef MQCHAT_ACKHOLD_H
#define MQCHAT_ACKHOLD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct message;
struct conn;
struct worker;

struct ack_hold {
    atomic_int pending; /* outstanding parts; the ack goes when it reaches 0 */
    atomic_int result;  /* MQ_OK, or the first failure */
    struct worker *w;   /* the publisher's worker */
    uint64_t conn_serial;
    uint16_t packet_id;
    uint8_t type; /* MQTT_PUBACK or MQTT_PUBREC */
    uint16_t client_id_len;
    char client_id[]; /* NUL-terminated */
};

/* Gives msg (not yet routed) a hold for c's acknowledgement of packet_id,
 * with one part outstanding: the routing. MQ_OK or MQ_ENOMEM. */
int ack_hold_attach(struct message *msg, struct conn *c, uint16_t packet_id, uint8_t type);

/* One more outstanding part, if msg has a hold still open: true when the
 * caller now owes an ack_hold_release(). Any thread. */
bool ack_hold_join(struct message *msg);

/* Marks the hold failed (the acknowledgement becomes a refusal) without
 * ending a part. */
void ack_hold_fail(struct message *msg, int result);

/* Ends one part with result (MQ_OK or a failure). Any thread. */
void ack_hold_release(struct message *msg, int result);

/* On the publisher's worker (WORK_ACK): sends or refuses the
 * acknowledgement. Drops nothing: the caller keeps its reference. */
void ack_hold_deliver(struct worker *w, struct message *msg);

#endif
