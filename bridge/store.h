/*
 * store.h - the chat data of mqchat (users, rooms, memberships, blocks,
 * decorations, settings, notifications, read markers, the message archive)
 * as typed calls over a struct db, and the store thread that runs them off
 * the worker loops.
 *
 * The same calls work on both backends: SQLite (the embedded default, a
 * file under data_dir) or MySQL (mysql.url; in a cluster the shared source
 * of truth, cached in memory on every node by the chat layer).
 *
 * Strings are byte strings with explicit lengths (struct store_str): what is
 * stored is returned byte for byte. Times are Unix milliseconds. Message and
 * notification ids are the broker's 64-bit time-ordered ids (msgid.h).
 *
 * The synchronous calls below block: they run on the store thread (or in
 * tests, or at start-up before the workers run). From a worker loop, wrap
 * the work in a struct store_job and store_submit() it; `done` then runs
 * on whatever thread the job's poster hands it to (a worker posts it to
 * its own inbox, see WORK_STORE_DONE).
 *
 * Every call returns MQ_OK, MQ_ENOTFOUND (a get that found nothing, a
 * delete of nothing), or the errors of db_exec().
 */
#ifndef MQCHAT_STORE_H
#define MQCHAT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* Bytes with a length; not NUL-terminated unless said. */
struct store_str {
    const char *s;
    size_t len;
};

#define STORE_STR(cstr) ((struct store_str){(cstr), strlen(cstr)})

/* ---- users ---------------------------------------------------------- */

struct store_user {
    struct store_str id;
    struct store_str password_hash; /* an encoded Argon2id hash; may be empty */
    struct store_str role;          /* "user", "service" or "display" */
    int64_t created_ms;
};

/* Inserts or replaces the user. */
int store_user_put(struct db *db, const struct store_user *u);
/* Calls fn once with the user (its strings valid during the call). */
int store_user_get(struct db *db, struct store_str id,
                   void (*fn)(void *ctx, const struct store_user *u), void *ctx);
int store_user_delete(struct db *db, struct store_str id);
/* Every user, in id order (cache warm-up); strings valid during each call. */
int store_user_list(struct db *db, void (*fn)(void *ctx, const struct store_user *u), void *ctx);

/* ---- rooms and memberships ------------------------------------------ */

struct store_room {
    struct store_str name;
    bool is_private;
    struct store_str owner;
    int64_t member_cap; /* 0 = no cap */
    int64_t created_ms;
};

int store_room_put(struct db *db, const struct store_room *r);
int store_room_get(struct db *db, struct store_str name,
                   void (*fn)(void *ctx, const struct store_room *r), void *ctx);
int store_room_delete(struct db *db, struct store_str name); /* and its memberships and blocks */
/* Every room, in name order (cache warm-up). */
int store_room_list(struct db *db, void (*fn)(void *ctx, const struct store_room *r), void *ctx);

enum store_role { STORE_MEMBER = 0, STORE_MODERATOR = 1, STORE_OWNER = 2 };

struct store_member {
    struct store_str room;
    struct store_str user;
    enum store_role role;
    int64_t joined_ms;
};

/* Inserts or updates (role) the membership. */
int store_member_put(struct db *db, const struct store_member *m);
int store_member_delete(struct db *db, struct store_str room, struct store_str user);
/* The members of a room, in user order. */
int store_member_list(struct db *db, struct store_str room,
                      void (*fn)(void *ctx, const struct store_member *m), void *ctx);
/* Number of members of a room into *count. */
int store_member_count(struct db *db, struct store_str room, int64_t *count);
/* Every membership of every room, in (room, user) order (cache warm-up). */
int store_member_list_all(struct db *db, void (*fn)(void *ctx, const struct store_member *m),
                          void *ctx);

/* ---- blocks ------------------------------------------------------------ */

/* Room block: `user` may not be heard in `room` (set by `by`). */
int store_room_block_put(struct db *db, struct store_str room, struct store_str user,
                         struct store_str by, int64_t created_ms);
int store_room_block_delete(struct db *db, struct store_str room, struct store_str user);
/* Every room block (room, user), for the in-memory cache. */
int store_room_block_list(struct db *db,
                          void (*fn)(void *ctx, struct store_str room, struct store_str user),
                          void *ctx);

/* Personal block: `user` blocks `other`. */
int store_user_block_put(struct db *db, struct store_str user, struct store_str other,
                         int64_t created_ms);
int store_user_block_delete(struct db *db, struct store_str user, struct store_str other);
int store_user_block_list(struct db *db,
                          void (*fn)(void *ctx, struct store_str user, struct store_str other),
                          void *ctx);

/* The users blocked in one room, in byte order; strings valid during each
 * call. MQ_OK also when there are none. */
int store_room_block_list_room(struct db *db, struct store_str room,
                               void (*fn)(void *ctx, struct store_str user), void *ctx);
/* The users that one user blocks, in byte order; as above. */
int store_user_block_list_user(struct db *db, struct store_str user,
                               void (*fn)(void *ctx, struct store_str other), void *ctx);

/* ---- decorations and settings ----------------------------------------- */

/* The user's chat decoration, a JSON object kept as given. */
int store_decoration_put(struct db *db, struct store_str user, struct store_str json,
                         int64_t updated_ms);
int store_decoration_delete(struct db *db, struct store_str user);
int store_decoration_list(struct db *db,
                          void (*fn)(void *ctx, struct store_str user, struct store_str json),
                          void *ctx);

/* Settings: scope is empty for system-wide, else a room name. */
int store_setting_put(struct db *db, struct store_str scope, struct store_str key,
                      struct store_str value);
int store_setting_delete(struct db *db, struct store_str scope, struct store_str key);
/* Every setting (scope, key, value). */
int store_setting_list(struct db *db,
                       void (*fn)(void *ctx, struct store_str scope, struct store_str key,
                                  struct store_str value),
                       void *ctx);

/* ---- notifications and read markers ------------------------------------ */

struct store_notification {
    int64_t id;
    struct store_str target_kind; /* "all", "room" or "user" */
    struct store_str target;      /* room or user; empty for "all" */
    struct store_str sender;
    int64_t ts_ms;
    struct store_str body;
};

int store_notification_put(struct db *db, const struct store_notification *n);
/* Notifications for a target with id > since_id, oldest first, at most limit. */
int store_notification_list(struct db *db, struct store_str target_kind, struct store_str target,
                            int64_t since_id, int limit,
                            void (*fn)(void *ctx, const struct store_notification *n), void *ctx);

/* Moves user's read marker in room forward to upto_id (creating it when
 * there is none). A marker already at or past upto_id is left as it is,
 * updated_ms included: markers only move forward, whatever order the
 * writes of several nodes arrive in. MQ_OK in both cases. */
int store_read_marker_put(struct db *db, struct store_str user, struct store_str room,
                          int64_t upto_id, int64_t updated_ms);
/* *upto_id = 0 when there is no marker (returns MQ_OK). */
int store_read_marker_get(struct db *db, struct store_str user, struct store_str room,
                          int64_t *upto_id);
/* Every read marker (start-up), in (user, room) order; strings valid
 * during each call. */
int store_read_marker_list(struct db *db,
                           void (*fn)(void *ctx, struct store_str user, struct store_str room,
                                      int64_t upto_id),
                           void *ctx);

/* ---- the message archive ----------------------------------------------- */

/*
 * One archived message. Exactly one of: room set (a room message), dm_low
 * and dm_high set (a direct message between two users, the pair in byte
 * order), or neither (a plain MQTT publish kept because its topic is in
 * store.spool_topics). topic is always the MQTT topic it was published on.
 */
struct store_message {
    int64_t id;
    struct store_str room;
    struct store_str dm_low, dm_high;
    struct store_str topic;
    struct store_str sender;
    int64_t ts_ms;
    struct store_str type; /* "text", "sticker", ... or "mqtt" */
    struct store_str body;
    int64_t node;
};

/* Inserts the messages in multi-row statements; a message whose id is
 * already archived is skipped (replays never duplicate). *inserted (may be
 * NULL) gets the number of new rows. */
int store_archive_put(struct db *db, const struct store_message *msgs, size_t n, int64_t *inserted);

/* History query. Exactly one of room or (dm_low, dm_high) is set. */
struct store_history_query {
    struct store_str room;
    struct store_str dm_low, dm_high;
    int64_t since_id;  /* > 0: ids greater than this, oldest first */
    int64_t before_id; /* > 0: ids smaller than this, newest first */
    int limit;         /* 1..1000 */
};
/* With neither since_id nor before_id: the latest `limit`, newest first. */
int store_history(struct db *db, const struct store_history_query *q,
                  void (*fn)(void *ctx, const struct store_message *m), void *ctx);

/* Number of archived messages into *count (tests, metrics). */
int store_archive_count(struct db *db, int64_t *count);

/*
 * The same query as store_history(), answered from the rows of the node's
 * spool table (SQLite only) that the archiver has not copied yet (past its
 * cursor). Query the spool first and the archive second, and remove
 * duplicate ids while merging: a row archived in between then shows up in
 * one answer or both, never in neither. MQ_EINVAL on a MySQL db or a query
 * naming neither or both targets.
 */
int store_history_spool(struct db *db, const struct store_history_query *q,
                        void (*fn)(void *ctx, const struct store_message *m), void *ctx);

/* ---- the store thread --------------------------------------------------- */

struct store;
struct store_job;

/*
 * A unit of work for the store thread. `run` executes there with the
 * store's connection and records its result in the job (the caller's
 * struct embeds struct store_job); then `post` hands the job back
 * (typically into a worker's inbox), where `done` runs and frees it.
 */
struct store_job {
    void (*run)(struct db *db, struct store_job *job);
    void (*done)(struct store_job *job);
    void (*post)(void *post_ctx, struct store_job *job); /* any thread */
    void *post_ctx;
    int result;             /* set by run */
    struct store_job *next; /* the store's queue */
};

/* Starts the store thread on db (ownership passes to the store). NULL when
 * out of memory or the thread does not start. */
struct store *store_start(struct db *db);

/* Queues job (any thread). Jobs run in the order they are submitted. */
void store_submit(struct store *st, struct store_job *job);

/* Runs the jobs already queued, stops the thread, closes the db. NULL ok. */
void store_stop(struct store *st);

#endif
