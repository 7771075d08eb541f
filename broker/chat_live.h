/*
 * chat_live.h - the chat layer's live state around the policy (chat.h):
 * presence and unread counts fed by the workers, the tick on the main
 * loop that publishes them, read markers, history requests over MQTT, and
 * what is restored at start-up.
 *
 * Who calls what:
 * - chat.c: chat_live_open() (chat_open, with the chat database before it
 *   goes to the store thread; db NULL when it could not be opened),
 *   chat_live_close() (chat_close), chat_read_request() and
 *   chat_history_request() (chat_publish);
 * - the workers: chat_conn_up() once a chat user's CONNECT is accepted,
 *   chat_conn_down() when that connection closes, chat_sub_added() /
 *   chat_sub_removed() after a SUBSCRIBE / UNSUBSCRIBE changed the
 *   session of a live connection;
 * - main.c: chat_tick_start() / chat_tick_stop() on the main loop.
 *
 * The state itself lives in presence.h, unread.h and chat_control.h
 * (struct chat holds them); this module wires them to MQTT.
 */
#ifndef MQCHAT_CHAT_LIVE_H
#define MQCHAT_CHAT_LIVE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct broker;
struct chat;
struct chat_topic;
struct conn;
struct db;
struct mqtt5_props;
struct mqtt_publish;

/* Creates ch->presence, ->unread, ->control and loads what db keeps of
 * them (settings, support totals, read markers, rooms' latest messages)
 * plus presence from the retained store; starts the history thread when
 * db is there. MQ_OK or MQ_ENOMEM (what failed to load is logged). */
int chat_live_open(struct broker *b, struct db *db);

/* After the workers have stopped: the history thread, then the state. */
void chat_live_close(struct chat *ch);

/* The tick (chat.presence_interval) on loop; stop it before the loop
 * ends. */
void chat_tick_start(struct broker *b, uv_loop_t *loop);
void chat_tick_stop(struct broker *b);

/* What the live state has done since start (metrics; any thread). */
struct chat_live_stats {
    uint64_t presence_updates; /* user and room presence messages published */
    uint64_t unread_updates;   /* unread summaries published */
    uint64_t history_answered; /* history requests answered with messages */
    uint64_t history_failed;   /* answered "unavailable" */
};
void chat_live_stats(const struct chat *ch, struct chat_live_stats *out);

/* Presence hooks (the connection's worker thread). No-ops for anything
 * but a chat user with the role `user`. */
void chat_conn_up(struct conn *c);
void chat_conn_down(struct conn *c);
void chat_sub_added(struct conn *c, const char *filter, size_t len);
void chat_sub_removed(struct conn *c, const char *filter, size_t len);

/* A publish on {p}/room/{room}/read or /history from c: NULL when it was
 * taken (a marker set, a request queued), else the refusal's notice
 * reason ("bad_request" is 0x99, "unknown_room" 0x90, "too_many_requests"
 * 0x97, "unavailable" 0x80, the others 0x87). */
const char *chat_read_request(struct chat *ch, struct conn *c, const struct mqtt_publish *p,
                              const struct chat_topic *t);
const char *chat_history_request(struct chat *ch, struct conn *c, const struct mqtt_publish *p,
                                 const struct mqtt5_props *props, const struct chat_topic *t);

#endif
