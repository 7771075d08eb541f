/*
 * chat.h - the chat policy: what makes mqchat a chat broker.
 *
 * Under the configured prefix (chat.prefix, default "chat") topics mean
 * rooms, direct messages, users' event streams and system notifications
 * (doc/protocol.md). This module decides, from memory only (chat_dir.h):
 * - who a CONNECT is (chat user with an Argon2id password, or an HS256
 *   token; other user names fall through to password_file);
 * - whether a SUBSCRIBE filter under the prefix is allowed (and joins a
 *   public room on the way);
 * - whether a PUBLISH under the prefix is accepted; if so it builds the
 *   broker's envelope once (id, sender, time, decoration) and the
 *   message(s) to route, and its archive row;
 * - at delivery, whether a session may read a chat topic (the second ACL
 *   check: a `#` subscriber sees only what its user may read).
 * Topics outside the prefix are plain MQTT (password_file / acl_file).
 *
 * struct chat belongs to the broker (b->chat). Its configuration fields
 * are read-only after chat_open(); the directory is internally locked; the
 * store (a thread for the database writes the workers queue) takes jobs
 * from any thread.
 */
#ifndef MQCHAT_CHAT_H
#define MQCHAT_CHAT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_dir.h"
#include "envelope.h"

struct broker;
struct conn;
struct db;
struct message;
struct session;
struct store;
struct mqtt_publish;
struct presence;
struct unread;
struct chat_control;
struct chat_live;
struct mqtt5_props;

/* What a chat topic is (chat_topic_parse). */
enum chat_kind {
    CHAT_NOT_CHAT = 0,  /* outside the prefix */
    CHAT_INVALID,       /* under the prefix, but not a topic of the protocol */
    CHAT_ROOM,          /* {p}/room/{room} */
    CHAT_ROOM_PRESENCE, /* {p}/room/{room}/presence */
    CHAT_ROOM_READ,     /* {p}/room/{room}/read */
    CHAT_ROOM_HISTORY,  /* {p}/room/{room}/history */
    CHAT_ROOM_SYSTEM,   /* {p}/room/{room}/system */
    CHAT_DM,            /* {p}/dm/{user} */
    CHAT_USER_EVENTS,   /* {p}/user/{user}/events */
    CHAT_PRESENCE,      /* {p}/presence/{user} */
    CHAT_SYSTEM,        /* {p}/system */
};

struct chat_topic {
    enum chat_kind kind;
    const char *name; /* the room or user inside the topic; NULL for CHAT_SYSTEM */
    size_t name_len;
};

struct chat {
    struct broker *b; /* the broker this chat layer belongs to */
    char *prefix; /* chat.prefix, without a trailing '/' */
    size_t prefix_len;
    const uint8_t *token_secret; /* chat.token_secret; NULL = tokens off */
    size_t token_secret_len;
    const char *service_key; /* chat.service_key; NULL = none */
    bool open_signup;        /* chat.open_signup */
    bool auto_create_rooms;  /* chat.auto_create_rooms */
    struct envelope_limits limits;
    struct chat_dir *dir;          /* users, rooms, members, blocks, decorations */
    bool dir_loaded;               /* the directory holds what the database held at start-up (false
                                      when the database was away: no room is made on first use) */
    struct store *store;           /* database writes queued by the workers */
    struct presence *presence;     /* who is online, per user and per room (presence.h) */
    struct unread *unread;         /* read markers and unread counts (unread.h) */
    struct chat_control *control;  /* comment control settings (chat_control.h) */
    struct chat_live *live;        /* the tick and the history thread (chat_live.h) */
    bool settings_loaded;          /* the stored comment control settings are in control
                                      (changing them before would overwrite them) */
    atomic_uint_fast64_t accepted; /* chat publishes accepted (metrics) */
    atomic_uint_fast64_t refused;  /* chat publishes refused */
};

/*
 * Before the workers start (after storage_open: chat needs b->storage):
 * reads the chat.* configuration, opens the chat database (chat_db_open)
 * and loads the directory, starts the store thread, sets b->chat. MQ_OK,
 * or an error after logging it. A chat database that cannot be opened
 * (MySQL away) is logged and the broker goes on with an empty directory
 * (dir_loaded false, no store thread): MQ_OK.
 */
int chat_open(struct broker *b);

/* After the workers and the HTTP API have stopped. */
void chat_close(struct broker *b);

/*
 * Opens a new connection to the chat database: MySQL when mysql.url is
 * set, else data_dir/mqchat.db. The caller owns it (db_close). Used by
 * chat_open and by the HTTP API's thread. MQ_OK or the db error (logged).
 */
int chat_db_open(const struct broker *b, struct db **out);

/* Classifies topic[0..len) (a topic name, not a filter). */
enum chat_kind chat_topic_parse(const struct chat *ch, const char *topic, size_t len,
                                struct chat_topic *out);

/*
 * Who logs in. user and password as in the CONNECT (password may be NULL).
 * Returns MQ_OK with *role (a token whose sub is user); MQ_EAGAIN when user
 * is a chat user with a password: *role is set and the user's Argon2id
 * hash is copied into hash (PASSWORD_HASH_MAX bytes), and the caller
 * checks the password against it with password_verify(), off the loop (it
 * costs tens of milliseconds); MQ_EDENIED (a chat user without a password
 * hash or given none, a token that is tampered, expired, or for someone
 * else); MQ_ENOTFOUND when user is not a chat user and the password is not
 * a token: the caller then asks password_file.
 */
int chat_authenticate(struct chat *ch, const char *user, size_t user_len, const uint8_t *password,
                      size_t password_len, int64_t now_s, enum chat_role *role, char *hash,
                      size_t hashlen);

/*
 * SUBSCRIBE: filter[0..len) (the inner filter of a $share one) from s.
 * Returns -1 when the filter is not under the prefix (the caller applies
 * acl_file), 0 when allowed (acl_file not consulted), or the MQTT 5
 * reason code that refuses it (0x87 not authorised, 0x97 quota: the room
 * is full). Joining a public room happens here: *joined says it did.
 */
int chat_subscribe_check(struct chat *ch, const struct session *s, const char *filter, size_t len,
                         bool *joined);

/* The subscription that joined (*joined above) could not be made (the
 * session's subscription limit): the membership is taken back, in memory
 * and in the database. */
void chat_subscribe_undo_join(struct chat *ch, const struct session *s, const char *filter,
                              size_t len);

/*
 * Delivery, the second ACL check. A worker prepares one reader per message
 * it fans out (the topic parsed, the room looked up once), then asks it
 * for each session the message reached. A session without a user name
 * reads nothing under the prefix; the service role reads everything but
 * a shadow-blocked user's messages (their own sessions only); a user does
 * not get the room messages of someone they block, nor the presence of
 * someone who blocks them.
 */
struct chat_reader {
    struct chat_topic t;
    enum { READER_NO_ROOM, READER_PUBLIC_ROOM, READER_PRIVATE_ROOM } room; /* room kinds */
    bool made_by_chat;   /* msg->chat: nothing else is delivered under the prefix */
    bool shadow;         /* msg->shadow: to the sender's own sessions only */
    bool sender_blocked; /* a room message whose sender someone blocks */
    const char *sender;  /* msg->sender (NULL for the broker's own messages) */
    size_t sender_len;
};

/* False when msg's topic is not under the prefix (nothing to check). */
bool chat_reader_prepare(struct chat *ch, const struct message *msg, struct chat_reader *r);

/* True when s may receive the message r was prepared for. */
bool chat_reader_allows(struct chat *ch, const struct chat_reader *r, const struct session *s);

/*
 * A chat publish ready to route: one message (two for a direct message:
 * the recipient's and the sender's own copy, same envelope), and what its
 * archive row says.
 */
struct chat_post {
    struct message *msg[2]; /* references owned; msg[1] NULL unless a DM to someone else */
    uint64_t id;
    const char *room; /* inside msg[0]->topic; NULL unless a room topic */
    size_t room_len;
    char dm_low[CHAT_NAME_MAX + 1], dm_high[CHAT_NAME_MAX + 1]; /* "" unless a DM */
    char type[16];
    char sender[CHAT_NAME_MAX + 1];
    bool shadow; /* the sender is blocked in the room: routed to their own devices, not
                    archived */
    int64_t amount; /* a cheer's or heart's amount (envelope_amount), else 0 */
};

/* Once post is routed: the room's unread counts (the sender's own marker
 * moves to it) and support totals, unless it is shadowed or a system
 * notification. post's names must still be valid (hold msg[0]). */
void chat_post_routed(struct chat *ch, const struct chat_post *post);

/*
 * PUBLISH on a chat topic from connection c (decoded p, its MQTT 5
 * properties props or NULL; t parsed). Returns MQTT5_RC_SUCCESS with *post
 * filled (the caller routes it, and spools it unless post->shadow, then
 * calls chat_post_free), MQTT5_RC_SUCCESS with post->msg[0] NULL when the
 * publish was a read marker or a history request (taken: nothing to route
 * or spool), or the refusing reason code (0x87, 0x90, 0x97, 0x99) after
 * queueing a notice to the publisher's chat/user/{user}/events. Returns
 * MQ_ENOMEM (negative) when out of memory.
 */
int chat_publish(struct chat *ch, struct conn *c, const struct mqtt_publish *p,
                 const struct mqtt5_props *props, const struct chat_topic *t,
                 struct chat_post *post);

/* True for the topics whose accepted publishes are archived (rooms, DMs,
 * system notifications): the others are refused or taken by the broker. */
bool chat_topic_archived(enum chat_kind kind);

/* Queues post's archive row (storage_spool_row): msg[0] carries it, and
 * its ack hold if it has one. MQ_OK, MQ_EINVAL or MQ_ENOMEM. */
int chat_post_spool(struct broker *b, const struct chat_post *post);

/* Drops the references a chat_post still holds. */
void chat_post_free(struct chat_post *post);

/* Where a system notification goes. */
enum chat_target { CHAT_TO_ALL, CHAT_TO_ROOM, CHAT_TO_USER };

/*
 * A system notification from outside the workers (the HTTP thread):
 * stamps the envelope (type "system", from = sender), archives it, and
 * publishes it on {p}/system, {p}/room/{room}/system or
 * {p}/user/{user}/events at QoS 1. *id gets its message id.
 * MQ_OK, MQ_EINVAL (bad target name), MQ_EFULL (spool full), MQ_ENOMEM.
 */
int chat_notify(struct broker *b, enum chat_target to, const char *target, size_t target_len,
                const char *sender, size_t sender_len, const struct envelope_in *in, uint64_t *id);

/*
 * A read marker of user in room (over MQTT or HTTP): the member has read
 * up to message id upto. MQ_OK (moved forward, or already past it),
 * MQ_EDENIED (not a member), MQ_EINVAL (bad name or upto < 1). When it
 * moved, the marker is queued to the database.
 */
int chat_read_marker(struct chat *ch, const char *user, size_t user_len, const char *room,
                     size_t room_len, int64_t upto);

#endif
