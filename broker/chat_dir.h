/*
 * chat_dir.h - the chat directory in memory: users, rooms, memberships,
 * blocks and decorations, as the database holds them.
 *
 * The chat policy (chat.c) answers "may alice read/write this topic" from
 * here, without touching a database on the publish path. The directory is
 * loaded once at start-up (chat_dir_load) and then kept in step by whoever
 * changes the database: the HTTP API writes the database first and then
 * the directory (nothing half-applied: a failed write changes neither);
 * the workers add memberships and auto-created rooms here first and queue
 * the database write behind.
 *
 * Thread safety: one reader-writer lock inside (writers preferred, so
 * that busy readers cannot starve them). Every call may come from any
 * thread (workers read; the HTTP thread and the workers write). Calls
 * copy their answers out: no pointer into the directory escapes the lock.
 *
 * Names (user ids, room names) are 1-64 bytes of [A-Za-z0-9_.-]
 * (chat_name_valid); the calls take them with explicit lengths and refuse
 * others with MQ_EINVAL.
 */
#ifndef MQCHAT_CHAT_DIR_H
#define MQCHAT_CHAT_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct jbuf;

#define CHAT_NAME_MAX 64

enum chat_role {
    CHAT_ROLE_NONE = 0, /* not a chat identity (anonymous): never reaches chat topics */
    CHAT_ROLE_USER,     /* the default */
    CHAT_ROLE_SERVICE,  /* integrators: system notifications, admin endpoints */
    CHAT_ROLE_DISPLAY,  /* read-only */
};

/* "user", "service", "display"; "none" for CHAT_ROLE_NONE. */
const char *chat_role_name(enum chat_role r);

/* MQ_OK and *out for "user", "service" or "display"; MQ_EINVAL otherwise. */
int chat_role_parse(const char *s, size_t len, enum chat_role *out);

/* True when s[0..len) is 1-64 bytes of [A-Za-z0-9_.-]. */
bool chat_name_valid(const char *s, size_t len);

/* Membership roles, as stored (store.h enum store_role). */
enum chat_member_role { CHAT_MEMBER = 0, CHAT_MODERATOR = 1, CHAT_OWNER = 2 };

struct chat_room_info {
    bool is_private;
    int64_t member_cap;            /* 0 = no cap */
    char owner[CHAT_NAME_MAX + 1]; /* NUL-terminated */
    int64_t created_ms;
    int64_t members; /* filled by chat_dir_room_get; ignored by put */
};

struct chat_dir;

/* A change made to the directory, as told to its listener (the cluster's
 * control channel mirrors changes to the other nodes). */
enum chat_dir_change_kind {
    CHAT_DIR_USER_PUT,         /* a: user; role (enum chat_role), hash (NULL or "") */
    CHAT_DIR_USER_DELETE,      /* a: user */
    CHAT_DIR_ROOM_PUT,         /* a: room; room */
    CHAT_DIR_ROOM_ADD,         /* a: room; room (made on first use) */
    CHAT_DIR_ROOM_DELETE,      /* a: room */
    CHAT_DIR_MEMBER_PUT,       /* a: room, b: user; role (enum chat_member_role) */
    CHAT_DIR_MEMBER_DELETE,    /* a: room, b: user */
    CHAT_DIR_ROOM_BLOCK_PUT,   /* a: room, b: user */
    CHAT_DIR_ROOM_BLOCK_DELETE,
    CHAT_DIR_USER_BLOCK_PUT,   /* a: user, b: the other */
    CHAT_DIR_USER_BLOCK_DELETE,
    CHAT_DIR_DECO_PUT,         /* a: user; json (json_len 0: removed) */
};

struct chat_dir_change {
    enum chat_dir_change_kind kind;
    const char *a, *b;
    size_t a_len, b_len;
    int role;
    const char *hash;
    const struct chat_room_info *room;
    const char *json;
    size_t json_len;
};

typedef void (*chat_dir_listener)(void *ctx, const struct chat_dir_change *c);

/* An empty directory, or NULL when out of memory. */
struct chat_dir *chat_dir_new(void);

/* Frees d and everything in it. NULL ok. */
void chat_dir_free(struct chat_dir *d);

/*
 * Loads every user, room, membership, room block, personal block and
 * decoration of db into d (normally empty). Rows the directory cannot hold
 * (a bad name or role; a membership or room block of a missing room) are
 * left out and counted in a warning; member caps are not enforced on what
 * is loaded. MQ_OK, or the db error or MQ_ENOMEM (d may then hold part of
 * the data; the caller gives up).
 */
int chat_dir_load(struct chat_dir *d, struct db *db);

/* Calls fn (outside the lock, on the changing thread) after every change
 * that succeeded. Set it once, after chat_dir_load (which would tell it
 * everything) and before other threads use d. */
void chat_dir_listen(struct chat_dir *d, chat_dir_listener fn, void *ctx);

/* ---- users ---- */

/* Adds or replaces a user. password_hash may be NULL or "" (no password:
 * the user logs in with tokens only). MQ_OK, MQ_EINVAL (a bad id, or a
 * role other than user, service or display), MQ_ENOMEM (d unchanged). */
int chat_dir_user_put(struct chat_dir *d, const char *id, size_t len, enum chat_role role,
                      const char *password_hash);

/* True when the user exists; copies its role into *role (may be NULL) and
 * its hash into hash (NUL-terminated, "" when none; skipped when hash is
 * NULL; truncated to hashlen - 1). */
bool chat_dir_user_get(struct chat_dir *d, const char *id, size_t len, enum chat_role *role,
                       char *hash, size_t hashlen);

/* Removes the user: MQ_OK, MQ_ENOTFOUND, MQ_EINVAL. Only the user entry:
 * its memberships, blocks and decoration stay until removed one by one. */
int chat_dir_user_delete(struct chat_dir *d, const char *id, size_t len);

/* ---- rooms and members ---- */

/* Adds or replaces a room's settings (its members are kept; a cap lowered
 * below the member count only stops new members). MQ_OK, MQ_ENOMEM, or
 * MQ_EINVAL: a bad name, member_cap < 0, or an owner that is neither ""
 * nor a valid name. */
int chat_dir_room_put(struct chat_dir *d, const char *name, size_t len,
                      const struct chat_room_info *info);

/* Adds a room that does not exist yet: MQ_OK, MQ_EEXIST (the room is left
 * as it is), MQ_EINVAL, MQ_ENOMEM. For rooms made on first use, which must
 * never replace a room made meanwhile. */
int chat_dir_room_add(struct chat_dir *d, const char *name, size_t len,
                      const struct chat_room_info *info);

/* True when the room exists; copies its settings and member count. */
bool chat_dir_room_get(struct chat_dir *d, const char *name, size_t len,
                       struct chat_room_info *out);

/* The delivery check's one lookup per message: returns -1 when room (may
 * be NULL) does not exist, 0 when it is public, 1 when private; and
 * *sender_blocked: someone blocks sender (may be NULL). */
int chat_dir_reader_lookup(struct chat_dir *d, const char *room, size_t room_len,
                           const char *sender, size_t sender_len, bool *sender_blocked);

/* Removes the room with its members and room blocks. MQ_OK/MQ_ENOTFOUND. */
int chat_dir_room_delete(struct chat_dir *d, const char *name, size_t len);

/*
 * Makes user a member of room with role (or changes the role of a member).
 * MQ_OK; MQ_ENOTFOUND (no such room); MQ_EFULL (a new member and the room
 * has member_cap members); MQ_EINVAL; MQ_ENOMEM.
 */
int chat_dir_member_put(struct chat_dir *d, const char *room, size_t room_len, const char *user,
                        size_t user_len, enum chat_member_role role);

/* MQ_OK or MQ_ENOTFOUND (not a member). */
int chat_dir_member_delete(struct chat_dir *d, const char *room, size_t room_len, const char *user,
                           size_t user_len);

/* The member's role, or -1 when user is not a member of room. */
int chat_dir_member_role(struct chat_dir *d, const char *room, size_t room_len, const char *user,
                         size_t user_len);

/* Calls fn for every member of room, under the directory's read lock (fn
 * must not call into the directory for writing). MQ_OK or MQ_ENOTFOUND. */
int chat_dir_room_members(struct chat_dir *d, const char *room, size_t room_len,
                          void (*fn)(void *ctx, const char *user, size_t len), void *ctx);

/* Which rooms chat_dir_rooms_page() lists for a viewer. */
enum chat_dir_scope {
    CHAT_DIR_VISIBLE, /* public rooms, and the private rooms the viewer is a member of */
    CHAT_DIR_ALL,     /* every room (the service role) */
    CHAT_DIR_MEMBER,  /* the rooms the viewer is a member of, public or private */
};

/* One room of a page, copied out of the directory. */
struct chat_dir_room_row {
    char name[CHAT_NAME_MAX + 1]; /* NUL-terminated */
    size_t len;                   /* bytes of name */
    struct chat_room_info info;   /* members filled, as chat_dir_room_get() */
    int role;                     /* the viewer's enum chat_member_role; -1: not a member */
};

/*
 * A page of the rooms viewer may list (scope), in byte order of their
 * names: the first up to limit rooms whose name sorts after
 * after[0..after_len) (after_len 0: from the first room). Fills rows (the
 * caller's array of limit entries) and *n; *more is true when further
 * rooms of the scope follow the last row (page on with its name as after).
 * MQ_OK; MQ_EINVAL (limit 0, an invalid viewer, after_len > 0 and after
 * not a valid name); MQ_ENOMEM (nothing filled).
 *
 * Cost: the rooms are hashed, not ordered, so every call walks all R rooms
 * under the read lock, keeping the limit + 1 smallest names in a bounded
 * heap: O(R log limit) time (plus one membership lookup per room that
 * could make the page and is private, or any such room for
 * CHAT_DIR_MEMBER), O(limit) memory allocated before the lock is taken.
 * At 100k rooms and limit 200, about 5 ms on one core; listing every page
 * is O(R^2 / limit). Pages are not a snapshot: a room made or removed
 * between two calls shows up or not according to where its name sorts.
 */
int chat_dir_rooms_page(struct chat_dir *d, const char *viewer, size_t viewer_len,
                        enum chat_dir_scope scope, const char *after, size_t after_len,
                        size_t limit, struct chat_dir_room_row *rows, size_t *n, bool *more);

/* ---- blocks ---- */

/*
 * Room block (shadow): user is not heard in room. Put: MQ_OK (also when
 * the block exists already), MQ_ENOTFOUND (no such room), MQ_EINVAL,
 * MQ_ENOMEM. Delete: MQ_OK or MQ_ENOTFOUND. The blocks go with the room.
 */
int chat_dir_room_block_put(struct chat_dir *d, const char *room, size_t room_len, const char *user,
                            size_t user_len);
int chat_dir_room_block_delete(struct chat_dir *d, const char *room, size_t room_len,
                               const char *user, size_t user_len);
bool chat_dir_room_blocked(struct chat_dir *d, const char *room, size_t room_len, const char *user,
                           size_t user_len);

/* Personal block: user blocks other (not the other way round). Put: MQ_OK
 * (also when it exists already), MQ_EINVAL, MQ_ENOMEM. Delete: MQ_OK or
 * MQ_ENOTFOUND. */
int chat_dir_user_block_put(struct chat_dir *d, const char *user, size_t user_len,
                            const char *other, size_t other_len);
int chat_dir_user_block_delete(struct chat_dir *d, const char *user, size_t user_len,
                               const char *other, size_t other_len);
bool chat_dir_user_blocks(struct chat_dir *d, const char *user, size_t user_len, const char *other,
                          size_t other_len);


/* ---- decorations ---- */

/* Sets the user's decoration (a JSON object, kept as given and not
 * checked); json_len 0 removes it (MQ_OK also when there was none).
 * MQ_OK, MQ_EINVAL, MQ_ENOMEM (the old decoration stays). */
int chat_dir_deco_put(struct chat_dir *d, const char *user, size_t user_len, const char *json,
                      size_t json_len);

/* Appends the user's decoration to out and returns true; false (out
 * unchanged) when the user has none. */
bool chat_dir_deco_append(struct chat_dir *d, const char *user, size_t user_len, struct jbuf *out);

#endif
