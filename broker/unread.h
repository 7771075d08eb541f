/*
 * unread.h - unread counts per user per room, from read markers.
 *
 * Each room keeps the ids of its latest messages (at most chat.unread_max
 * + 1 of them, in memory); each member has a read marker, the id of the
 * last message they have read. The unread count of a member is the number
 * of kept ids above their marker, capped at chat.unread_max ("999 or
 * more"). A member's marker moves:
 * - forward only, when they publish {"upto":"<id>"} on {p}/room/{room}/read
 *   or POST /v1/rooms/{room}/read;
 * - to their own message, when they post in the room;
 * - to the room's latest message, when they are first seen as a member
 *   (joining does not make the room's past unread).
 * Moved markers are handed out by the next tick, to be stored.
 *
 * unread_tick() (the main thread, every chat.presence_interval) finds the
 * users whose counts changed since the last tick and hands each one's
 * summary to the caller, which publishes it retained on
 * {p}/user/{user}/events:
 *   {"type":"unread","rooms":{"lobby":3},"total":3}
 * (rooms with a count above 0 only).
 *
 * Membership is the directory's (chat_dir.h): markers of users who are no
 * longer members are not counted and are dropped at the next tick.
 *
 * Thread safety: one mutex inside; every call may come from any thread.
 * struct unread belongs to the chat layer (struct chat).
 */
#ifndef MQCHAT_UNREAD_H
#define MQCHAT_UNREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chat_dir;
struct jbuf;

struct unread;

/* max: chat.unread_max (>= 1). NULL when out of memory. dir is borrowed. */
struct unread *unread_new(struct chat_dir *dir, size_t max);
void unread_free(struct unread *u);

/* Start-up: one of the room's latest message ids (any order). */
void unread_restore_id(struct unread *u, const char *room, size_t room_len, int64_t id);

/* Start-up: a stored read marker. */
void unread_restore_marker(struct unread *u, const char *user, size_t user_len, const char *room,
                           size_t room_len, int64_t upto);

/* A message was accepted in room (hot path: a short lock). The sender's
 * own marker moves to it. */
void unread_message(struct unread *u, const char *room, size_t room_len, int64_t id,
                    const char *sender, size_t sender_len);

/* user became a member of room: their marker starts at the room's latest
 * message (unless they have one already). */
void unread_join(struct unread *u, const char *user, size_t user_len, const char *room,
                 size_t room_len);

/* A read marker: returns true when it moved user's marker forward, false
 * when it was not ahead. A marker past the room's newest message is taken
 * as that message (none yet: nothing moves). The next tick hands it out
 * to be stored. */
bool unread_mark(struct unread *u, const char *user, size_t user_len, const char *room,
                 size_t room_len, int64_t upto);

/* The member's marker and count in room. */
struct unread_room {
    int64_t upto;  /* 0 when none yet */
    int64_t count; /* capped at max */
};
void unread_room_get(struct unread *u, const char *user, size_t user_len, const char *room,
                     size_t room_len, struct unread_room *out);

/* Appends {"rooms":{...},"total":N} for user (rooms with a count > 0 of
 * which user is a member) to out. */
void unread_json(struct unread *u, const char *user, size_t user_len, struct jbuf *out);

/*
 * What a tick hands out, without the lock held:
 * - summary(ctx, user, json): a user's summary changed (the whole
 *   {"type":"unread",...} payload);
 * - marker(ctx, user, room, upto): a marker moved since it was last
 *   handed out (to store: by a read marker, a post, a join).
 */
struct unread_emit {
    void *ctx;
    void (*summary)(void *ctx, const char *user, size_t len, const char *json, size_t json_len);
    void (*marker)(void *ctx, const char *user, size_t user_len, const char *room,
                   size_t room_len, int64_t upto);
};
void unread_tick(struct unread *u, const struct unread_emit *e);

#endif
