/*
 * presence.h - who is online: per user across devices, and per room.
 *
 * The workers report facts as they happen (a chat user's connection came
 * up or went away; a live session subscribed to a room or left it; a cheer
 * or heart was posted in a room). Nothing is published then: the main
 * thread calls presence_tick() every chat.presence_interval milliseconds
 * and it emits what changed since the last tick, at most one message per
 * user and per room:
 *
 *   {p}/presence/{user}        retained, kept in the database
 *     {"type":"presence","user":"alice","online":true,"devices":2,"last_seen":1763800000123}
 *   {p}/room/{room}/presence   retained in memory only
 *     {"type":"presence","room":"lobby","online":1234,"joined":["bob"],"left":[],
 *      "cheers":150,"hearts":3021,"ts":1763800000123}
 *
 * Flapping: a user whose last device went away stays online (and in the
 * rooms it was viewing) for chat.presence_grace milliseconds; coming back
 * within the grace (a reconnect, a session take-over) changes nothing that
 * anyone sees. A join and a leave of one user inside one interval cancel.
 * Room names ("joined"/"left") are sent only when the room's settings let
 * them (presence_events) and at most chat.presence_max_names of them per
 * update; past that only the count moves.
 *
 * Only users with the role `user` are counted (display screens and
 * integrators are invisible).
 *
 * Thread safety: one mutex inside; every call may come from any thread.
 * struct presence belongs to the chat layer (struct chat).
 */
#ifndef MQCHAT_PRESENCE_H
#define MQCHAT_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jbuf;

struct presence_config {
    uint64_t grace_ms; /* chat.presence_grace */
    size_t max_names;  /* chat.presence_max_names */
};

struct presence;

/* NULL when out of memory. */
struct presence *presence_new(const struct presence_config *cfg);
void presence_free(struct presence *p);

/* Start-up: what the database remembers of a user (from its retained
 * presence message): the last time it was seen. */
void presence_restore(struct presence *p, const char *user, size_t len, int64_t last_seen_ms);

/* A device (a live connection of a chat user) came up or went away. */
void presence_device_up(struct presence *p, const char *user, size_t len, int64_t now_ms);
void presence_device_down(struct presence *p, const char *user, size_t len, int64_t now_ms);

/* In a cluster (cluster.h): the devices user has on the other nodes (their
 * sum). The user is shown online when this node or another counts one. */
void presence_remote_set(struct presence *p, const char *user, size_t len, int devices);

/* In a cluster: the viewers room has on the other nodes (their sum),
 * added to this node's in the room's online count. */
void presence_room_remote_set(struct presence *p, const char *room, size_t len, int64_t viewers);

/* This node's part, as last reported to the other nodes (the grace
 * applied): user() for every user it counts devices for, room() for every
 * room it counts viewers in, then done(), all under the lock: none may
 * call back into p. What done sends goes out before any report of a later
 * tick (which hands reports out after the lock). */
struct presence_local {
    void *ctx;
    void (*user)(void *ctx, const char *user, size_t len, int devices);
    void (*room)(void *ctx, const char *room, size_t len, int64_t viewers);
    void (*done)(void *ctx);
};
void presence_local_each(struct presence *p, const struct presence_local *pl);

/* A device of user started or stopped viewing room (a live session with
 * a subscription to {p}/room/{room}). */
void presence_room_enter(struct presence *p, const char *room, size_t room_len, const char *user,
                         size_t user_len, int64_t now_ms);
void presence_room_leave(struct presence *p, const char *room, size_t room_len, const char *user,
                         size_t user_len, int64_t now_ms);

/* Cheers and hearts posted in room (added to its running totals). */
void presence_room_support(struct presence *p, const char *room, size_t room_len, int64_t cheers,
                           int64_t hearts);

/* Start-up: the totals the database kept for room. */
void presence_room_totals_restore(struct presence *p, const char *room, size_t room_len,
                                  int64_t cheers, int64_t hearts);

/* Appends {"user":..,"online":..,"devices":..,"last_seen":ms|null} (what
 * the retained message says, as of now) to out. */
void presence_user_json(struct presence *p, const char *user, size_t len, struct jbuf *out);

/* Users shown online now (metrics). */
size_t presence_users_online(struct presence *p);

/* The room's online count and totals (0 when nothing is known). */
struct presence_room_stats {
    int64_t online, cheers, hearts;
};
void presence_room_stats(struct presence *p, const char *room, size_t len,
                         struct presence_room_stats *out);

/*
 * What one tick emits, handed to the caller's functions:
 * - user(ctx, user, json): a user's presence changed (json is the whole
 *   payload);
 * - room(ctx, room, json): a room's presence changed;
 * - totals(ctx, room, cheers, hearts): a room's totals changed (to store);
 * - local(ctx, user, devices): this node's device count of user changed,
 *   the grace applied (for the other nodes of a cluster; may be NULL);
 * - local_room(ctx, room, viewers): this node's viewer count of room
 *   changed (likewise).
 * events(ctx, room) tells whether the room wants names (presence_events).
 * Called without the lock held.
 */
struct presence_emit {
    void *ctx;
    void (*user)(void *ctx, const char *user, size_t len, const char *json, size_t json_len);
    void (*room)(void *ctx, const char *room, size_t len, const char *json, size_t json_len);
    void (*totals)(void *ctx, const char *room, size_t len, int64_t cheers, int64_t hearts);
    bool (*events)(void *ctx, const char *room, size_t len);
    void (*local)(void *ctx, const char *user, size_t len, int devices);
    void (*local_room)(void *ctx, const char *room, size_t len, int64_t viewers);
};
void presence_tick(struct presence *p, int64_t now_ms, const struct presence_emit *emit);

#endif
