/*
 * persist.h - persistent sessions and retained messages written through to
 * the node's SQLite database, and read back at start-up.
 *
 * What a persistent session (MQTT 3.1.1 clean session 0, MQTT 5 Session
 * Expiry Interval > 0) holds is mirrored in four tables (schema/sqlite/
 * 002_local.sql): the session, its subscriptions, and each QoS 1/2 message
 * it holds (queued, or inflight with its packet id and state), keyed by a
 * per-session sequence number; plus one row per retained topic. Every
 * change becomes a job for the writer thread (spool.h), committed in its
 * next batch: a few milliseconds behind the change. A message that the
 * publisher's acknowledgement waits for (ackhold.h) is committed before
 * that acknowledgement goes.
 *
 * Not kept: QoS 0 (never queued), the will of a session, incoming QoS 2
 * packet ids awaiting PUBREL (after a restart a resent QoS 2 PUBLISH is
 * delivered again), and topic aliases (per connection anyway).
 *
 * The calls run on the session's worker and do nothing when the broker has
 * no storage, while it restores, or for a session that is not persistent.
 */
#ifndef MQCHAT_PERSIST_H
#define MQCHAT_PERSIST_H

#include <stddef.h>
#include <stdint.h>

struct broker;
struct db;
struct message;
struct session;
struct delivery;

/* The session's row: user, version, expiry, online or offline since when.
 * Makes s persistent in the database when its expiry is not 0. */
void persist_session(struct session *s);

/* Removes the session and everything it holds. */
void persist_session_delete(struct session *s);

void persist_subscribe(struct session *s, const char *filter, size_t len, uint8_t options,
                       uint32_t sub_id);
void persist_unsubscribe(struct session *s, const char *filter, size_t len);

/* A message entered the session: state is 0 (queued) or 1 + enum
 * inflight_state; packet_id 0 while queued. */
void persist_message(struct session *s, uint64_t seq, struct message *msg, const struct delivery *d,
                     uint8_t state, uint16_t packet_id);
void persist_message_state(struct session *s, uint64_t seq, uint8_t state, uint16_t packet_id);
void persist_message_delete(struct session *s, uint64_t seq);

/* The retained message of msg's topic is now msg (an empty payload clears
 * it). Topics starting with '$' are not kept. */
void persist_retained(struct broker *b, struct message *msg);

/* Start-up: loads sessions (with subscriptions and messages) into the
 * workers of b and retained messages into b->retain. Expired sessions and
 * messages are dropped. MQ_OK or an error (logged). */
int persist_restore(struct broker *b, struct db *db);

#endif
