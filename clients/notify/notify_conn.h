/*
 * notify_conn.h - mqchat-notify's connection to the broker (libmosquitto):
 * connect with bounded retries, publish one message at QoS 1 and wait for
 * its acknowledgement, and say what the broker answered as an exit code.
 *
 * Not a general client: one message in flight at a time, nothing received
 * except, with MQTT 3.1.1, the broker's notices on the user's events topic
 * (the only way a 3.1.1 publisher learns that a publish was refused).
 * Single-threaded: libmosquitto runs on the caller's thread, inside the
 * calls below.
 */
#ifndef MQCHAT_NOTIFY_CONN_H
#define MQCHAT_NOTIFY_CONN_H

#include <stddef.h>

#include "notify_opts.h"

struct notify_conn;

/*
 * A connection for o (not yet connected: the first publish connects). o
 * must outlive it. Returns NULL when out of memory (libmosquitto's
 * mosquitto_lib_init() must have been called).
 */
struct notify_conn *notify_conn_new(const struct notify_opts *o);

/*
 * Publishes payload (len bytes) on topic at QoS 1, connecting first when
 * needed, and waits for the acknowledgement. Connection failures (refused
 * TCP, TLS, a lost connection before the acknowledgement, no answer within
 * o->timeout_ms) are retried o->retries times with doubling waits; the
 * refused login and an answered publish are not. Returns an enum
 * notify_exit: NOTIFY_OK when acknowledged with success. Otherwise the
 * reason is in notify_conn_error() until the next call.
 */
int notify_conn_publish(struct notify_conn *nc, const char *topic, const void *payload, size_t len);

/* The last failure, in words (never holding the password); "" if none. */
const char *notify_conn_error(const struct notify_conn *nc);

/*
 * Keeps an open connection alive while the caller waits for input (sends
 * PINGREQ when due, reads what came), for at most timeout_ms. A connection
 * that broke is dropped quietly: the next publish connects again.
 */
void notify_conn_service(struct notify_conn *nc, int timeout_ms);

/* Disconnects (DISCONNECT when connected) and frees nc; NULL is fine. */
void notify_conn_free(struct notify_conn *nc);

#endif
