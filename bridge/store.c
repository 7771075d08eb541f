/*
 * store.c - the typed calls of store.h over db_exec(): one static struct
 * db_sql per statement, in SQLite's and MySQL's dialects, and the row
 * callbacks that turn result columns back into store structs.
 *
 * Puts are upserts (SQLite: INSERT ... ON CONFLICT DO UPDATE; MySQL:
 * INSERT ... ON DUPLICATE KEY UPDATE), so putting twice is replacing; a put
 * that must not change an existing row (a block's first time, a
 * notification id) updates nothing on conflict, and a read marker only
 * moves forward. Deletes that remove no row
 * return MQ_ENOTFOUND. Archive inserts are INSERT OR IGNORE / INSERT IGNORE
 * multi-row statements keyed on the message id, so a replay never
 * duplicates; because MySQL's IGNORE would also turn a too-long value into a
 * silent truncation, store_archive_put() checks the lengths of the indexed
 * columns itself first. This file does not cache anything or decide when
 * calls run (the chat layer and the store thread, store_thread.c).
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"

#define SAME(text)                                                                                 \
    {                                                                                              \
        (text), (text)                                                                             \
    }

#define HISTORY_LIMIT_MAX 1000
#define NAME_MAX_BYTES    255 /* room, user and dm columns (VARBINARY(255) in MySQL) */
#define TYPE_MAX_BYTES    64  /* messages.type */
#define MESSAGE_COLS      10

/* ---- values ------------------------------------------------------------------- */

static struct db_value bytes(struct store_str s)
{
    return DB_B(s.len ? s.s : "", s.len);
}

/* NULL for an empty string (the optional columns of messages). */
static struct db_value bytes_or_null(struct store_str s)
{
    return s.len ? DB_B(s.s, s.len) : DB_NIL;
}

static struct store_str col_str(const struct db_value *v)
{
    if (v->type != DB_BYTES)
        return (struct store_str){NULL, 0};
    return (struct store_str){v->len ? v->p : "", v->len};
}

static int64_t col_int(const struct db_value *v)
{
    return v->type == DB_INT ? v->i : 0;
}

/* Runs a delete; MQ_ENOTFOUND when it removed nothing. */
static int delete_rows(struct db *db, const struct db_sql *sql, const struct db_value *p, size_t n)
{
    int rc = db_exec(db, sql, p, n, NULL, NULL);
    if (rc == MQ_OK && db_changes(db) == 0)
        rc = MQ_ENOTFOUND;
    return rc;
}

static int clamp_limit(int limit)
{
    return limit < 1 ? 1 : limit > HISTORY_LIMIT_MAX ? HISTORY_LIMIT_MAX : limit;
}

/* A single integer result (COUNT(*)). */
static int int_row(void *ctx, const struct db_value *cols, size_t ncols)
{
    *(int64_t *)ctx = ncols > 0 ? col_int(&cols[0]) : 0;
    return 1;
}

/* ---- users --------------------------------------------------------------------- */

static const struct db_sql sql_user_put = {
    "INSERT INTO users (id, password_hash, role, created_ms) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash, "
    "role = excluded.role, created_ms = excluded.created_ms",
    "INSERT INTO users (id, password_hash, role, created_ms) VALUES (?, ?, ?, ?) "
    "ON DUPLICATE KEY UPDATE password_hash = VALUES(password_hash), role = VALUES(role), "
    "created_ms = VALUES(created_ms)",
};
static const struct db_sql sql_user_get =
    SAME("SELECT id, password_hash, role, created_ms FROM users WHERE id = ?");
static const struct db_sql sql_user_delete = SAME("DELETE FROM users WHERE id = ?");
static const struct db_sql sql_user_list =
    SAME("SELECT id, password_hash, role, created_ms FROM users ORDER BY id");

struct user_cb {
    void (*fn)(void *ctx, const struct store_user *u);
    void *ctx;
    bool found;
};

static int user_row(void *ctx, const struct db_value *c, size_t n)
{
    struct user_cb *cb = ctx;
    struct store_user u = {col_str(&c[0]), col_str(&c[1]), col_str(&c[2]), col_int(&c[3])};
    cb->found = true;
    cb->fn(cb->ctx, &u);
    return 0;
}

int store_user_put(struct db *db, const struct store_user *u)
{
    struct db_value p[] = {bytes(u->id), bytes(u->password_hash), bytes(u->role),
                           DB_I(u->created_ms)};
    return db_exec(db, &sql_user_put, p, 4, NULL, NULL);
}

int store_user_get(struct db *db, struct store_str id,
                   void (*fn)(void *ctx, const struct store_user *u), void *ctx)
{
    struct user_cb cb = {fn, ctx, false};
    struct db_value p[] = {bytes(id)};
    int rc = db_exec(db, &sql_user_get, p, 1, user_row, &cb);
    return rc == MQ_OK && !cb.found ? MQ_ENOTFOUND : rc;
}

int store_user_delete(struct db *db, struct store_str id)
{
    struct db_value p[] = {bytes(id)};
    return delete_rows(db, &sql_user_delete, p, 1);
}

int store_user_list(struct db *db, void (*fn)(void *ctx, const struct store_user *u), void *ctx)
{
    struct user_cb cb = {fn, ctx, false};
    return db_exec(db, &sql_user_list, NULL, 0, user_row, &cb);
}

/* ---- rooms ---------------------------------------------------------------------- */

static const struct db_sql sql_room_put = {
    "INSERT INTO rooms (name, is_private, owner, member_cap, created_ms) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET is_private = excluded.is_private, owner = excluded.owner, "
    "member_cap = excluded.member_cap, created_ms = excluded.created_ms",
    "INSERT INTO rooms (name, is_private, owner, member_cap, created_ms) VALUES (?, ?, ?, ?, ?) "
    "ON DUPLICATE KEY UPDATE is_private = VALUES(is_private), owner = VALUES(owner), "
    "member_cap = VALUES(member_cap), created_ms = VALUES(created_ms)",
};
static const struct db_sql sql_room_get =
    SAME("SELECT name, is_private, owner, member_cap, created_ms FROM rooms WHERE name = ?");
static const struct db_sql sql_room_list =
    SAME("SELECT name, is_private, owner, member_cap, created_ms FROM rooms ORDER BY name");
static const struct db_sql sql_room_delete = SAME("DELETE FROM rooms WHERE name = ?");
static const struct db_sql sql_room_members_delete = SAME("DELETE FROM memberships WHERE room = ?");
static const struct db_sql sql_room_blocks_delete = SAME("DELETE FROM room_blocks WHERE room = ?");

struct room_cb {
    void (*fn)(void *ctx, const struct store_room *r);
    void *ctx;
    bool found;
};

static int room_row(void *ctx, const struct db_value *c, size_t n)
{
    struct room_cb *cb = ctx;
    struct store_room r = {col_str(&c[0]), col_int(&c[1]) != 0, col_str(&c[2]), col_int(&c[3]),
                           col_int(&c[4])};
    cb->found = true;
    cb->fn(cb->ctx, &r);
    return 0;
}

int store_room_put(struct db *db, const struct store_room *r)
{
    struct db_value p[] = {bytes(r->name), DB_I(r->is_private ? 1 : 0), bytes(r->owner),
                           DB_I(r->member_cap), DB_I(r->created_ms)};
    return db_exec(db, &sql_room_put, p, 5, NULL, NULL);
}

int store_room_get(struct db *db, struct store_str name,
                   void (*fn)(void *ctx, const struct store_room *r), void *ctx)
{
    struct room_cb cb = {fn, ctx, false};
    struct db_value p[] = {bytes(name)};
    int rc = db_exec(db, &sql_room_get, p, 1, room_row, &cb);
    return rc == MQ_OK && !cb.found ? MQ_ENOTFOUND : rc;
}

/* Memberships and blocks go first: if a delete fails half-way the room is
 * still there and deleting it again finishes the job. */
int store_room_delete(struct db *db, struct store_str name)
{
    struct db_value p[] = {bytes(name)};
    int rc = db_exec(db, &sql_room_members_delete, p, 1, NULL, NULL);
    if (rc == MQ_OK)
        rc = db_exec(db, &sql_room_blocks_delete, p, 1, NULL, NULL);
    if (rc == MQ_OK)
        rc = delete_rows(db, &sql_room_delete, p, 1);
    return rc;
}

int store_room_list(struct db *db, void (*fn)(void *ctx, const struct store_room *r), void *ctx)
{
    struct room_cb cb = {fn, ctx, false};
    return db_exec(db, &sql_room_list, NULL, 0, room_row, &cb);
}

/* ---- memberships ------------------------------------------------------------------ */

static const struct db_sql sql_member_put = {
    "INSERT INTO memberships (room, user, role, joined_ms) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (room, user) DO UPDATE SET role = excluded.role",
    "INSERT INTO memberships (room, user, role, joined_ms) VALUES (?, ?, ?, ?) "
    "ON DUPLICATE KEY UPDATE role = VALUES(role)",
};
static const struct db_sql sql_member_delete =
    SAME("DELETE FROM memberships WHERE room = ? AND user = ?");
static const struct db_sql sql_member_list =
    SAME("SELECT room, user, role, joined_ms FROM memberships WHERE room = ? ORDER BY user");
static const struct db_sql sql_member_count =
    SAME("SELECT COUNT(*) FROM memberships WHERE room = ?");
static const struct db_sql sql_member_list_all =
    SAME("SELECT room, user, role, joined_ms FROM memberships ORDER BY room, user");

struct member_cb {
    void (*fn)(void *ctx, const struct store_member *m);
    void *ctx;
};

static int member_row(void *ctx, const struct db_value *c, size_t n)
{
    struct member_cb *cb = ctx;
    struct store_member m = {col_str(&c[0]), col_str(&c[1]), (enum store_role)col_int(&c[2]),
                             col_int(&c[3])};
    cb->fn(cb->ctx, &m);
    return 0;
}

int store_member_put(struct db *db, const struct store_member *m)
{
    struct db_value p[] = {bytes(m->room), bytes(m->user), DB_I(m->role), DB_I(m->joined_ms)};
    return db_exec(db, &sql_member_put, p, 4, NULL, NULL);
}

int store_member_delete(struct db *db, struct store_str room, struct store_str user)
{
    struct db_value p[] = {bytes(room), bytes(user)};
    return delete_rows(db, &sql_member_delete, p, 2);
}

int store_member_list(struct db *db, struct store_str room,
                      void (*fn)(void *ctx, const struct store_member *m), void *ctx)
{
    struct member_cb cb = {fn, ctx};
    struct db_value p[] = {bytes(room)};
    return db_exec(db, &sql_member_list, p, 1, member_row, &cb);
}

int store_member_count(struct db *db, struct store_str room, int64_t *count)
{
    struct db_value p[] = {bytes(room)};
    *count = 0;
    return db_exec(db, &sql_member_count, p, 1, int_row, count);
}

int store_member_list_all(struct db *db, void (*fn)(void *ctx, const struct store_member *m),
                          void *ctx)
{
    struct member_cb cb = {fn, ctx};
    return db_exec(db, &sql_member_list_all, NULL, 0, member_row, &cb);
}

/* ---- blocks ------------------------------------------------------------------------ */

static const struct db_sql sql_room_block_put = {
    "INSERT INTO room_blocks (room, user, by_user, created_ms) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (room, user) DO UPDATE SET by_user = excluded.by_user, "
    "created_ms = excluded.created_ms",
    "INSERT INTO room_blocks (room, user, by_user, created_ms) VALUES (?, ?, ?, ?) "
    "ON DUPLICATE KEY UPDATE by_user = VALUES(by_user), created_ms = VALUES(created_ms)",
};
static const struct db_sql sql_room_block_delete =
    SAME("DELETE FROM room_blocks WHERE room = ? AND user = ?");
static const struct db_sql sql_room_block_list =
    SAME("SELECT room, user FROM room_blocks ORDER BY room, user");

static const struct db_sql sql_user_block_put = {
    "INSERT INTO user_blocks (user, other, created_ms) VALUES (?, ?, ?) "
    "ON CONFLICT (user, other) DO NOTHING",
    "INSERT INTO user_blocks (user, other, created_ms) VALUES (?, ?, ?) "
    "ON DUPLICATE KEY UPDATE created_ms = created_ms",
};
static const struct db_sql sql_user_block_delete =
    SAME("DELETE FROM user_blocks WHERE user = ? AND other = ?");
static const struct db_sql sql_user_block_list =
    SAME("SELECT user, other FROM user_blocks ORDER BY user, other");
static const struct db_sql sql_room_block_list_room =
    SAME("SELECT user FROM room_blocks WHERE room = ? ORDER BY user");
static const struct db_sql sql_user_block_list_user =
    SAME("SELECT other FROM user_blocks WHERE user = ? ORDER BY other");

/* (a, b) pairs: room blocks, user blocks, decorations. */
struct pair_cb {
    void (*fn)(void *ctx, struct store_str a, struct store_str b);
    void *ctx;
};

static int pair_row(void *ctx, const struct db_value *c, size_t n)
{
    struct pair_cb *cb = ctx;
    cb->fn(cb->ctx, col_str(&c[0]), col_str(&c[1]));
    return 0;
}

/* One name per row: the blocks of one room or one user. */
struct name_cb {
    void (*fn)(void *ctx, struct store_str name);
    void *ctx;
};

static int name_row(void *ctx, const struct db_value *c, size_t n)
{
    struct name_cb *cb = ctx;
    cb->fn(cb->ctx, col_str(&c[0]));
    return 0;
}

int store_room_block_put(struct db *db, struct store_str room, struct store_str user,
                         struct store_str by, int64_t created_ms)
{
    struct db_value p[] = {bytes(room), bytes(user), bytes(by), DB_I(created_ms)};
    return db_exec(db, &sql_room_block_put, p, 4, NULL, NULL);
}

int store_room_block_delete(struct db *db, struct store_str room, struct store_str user)
{
    struct db_value p[] = {bytes(room), bytes(user)};
    return delete_rows(db, &sql_room_block_delete, p, 2);
}

int store_room_block_list(struct db *db,
                          void (*fn)(void *ctx, struct store_str room, struct store_str user),
                          void *ctx)
{
    struct pair_cb cb = {fn, ctx};
    return db_exec(db, &sql_room_block_list, NULL, 0, pair_row, &cb);
}

int store_user_block_put(struct db *db, struct store_str user, struct store_str other,
                         int64_t created_ms)
{
    struct db_value p[] = {bytes(user), bytes(other), DB_I(created_ms)};
    return db_exec(db, &sql_user_block_put, p, 3, NULL, NULL);
}

int store_user_block_delete(struct db *db, struct store_str user, struct store_str other)
{
    struct db_value p[] = {bytes(user), bytes(other)};
    return delete_rows(db, &sql_user_block_delete, p, 2);
}

int store_user_block_list(struct db *db,
                          void (*fn)(void *ctx, struct store_str user, struct store_str other),
                          void *ctx)
{
    struct pair_cb cb = {fn, ctx};
    return db_exec(db, &sql_user_block_list, NULL, 0, pair_row, &cb);
}

int store_room_block_list_room(struct db *db, struct store_str room,
                               void (*fn)(void *ctx, struct store_str user), void *ctx)
{
    struct name_cb cb = {fn, ctx};
    struct db_value p[] = {bytes(room)};
    return db_exec(db, &sql_room_block_list_room, p, 1, name_row, &cb);
}

int store_user_block_list_user(struct db *db, struct store_str user,
                               void (*fn)(void *ctx, struct store_str other), void *ctx)
{
    struct name_cb cb = {fn, ctx};
    struct db_value p[] = {bytes(user)};
    return db_exec(db, &sql_user_block_list_user, p, 1, name_row, &cb);
}

/* ---- decorations and settings ------------------------------------------------------- */

static const struct db_sql sql_decoration_put = {
    "INSERT INTO decorations (user, json, updated_ms) VALUES (?, ?, ?) "
    "ON CONFLICT (user) DO UPDATE SET json = excluded.json, updated_ms = excluded.updated_ms",
    "INSERT INTO decorations (user, json, updated_ms) VALUES (?, ?, ?) "
    "ON DUPLICATE KEY UPDATE json = VALUES(json), updated_ms = VALUES(updated_ms)",
};
static const struct db_sql sql_decoration_delete = SAME("DELETE FROM decorations WHERE user = ?");
static const struct db_sql sql_decoration_list =
    SAME("SELECT user, json FROM decorations ORDER BY user");

static const struct db_sql sql_setting_put = {
    "INSERT INTO settings (scope, \"key\", value) VALUES (?, ?, ?) "
    "ON CONFLICT (scope, \"key\") DO UPDATE SET value = excluded.value",
    "INSERT INTO settings (scope, `key`, value) VALUES (?, ?, ?) "
    "ON DUPLICATE KEY UPDATE value = VALUES(value)",
};
static const struct db_sql sql_setting_delete = {
    "DELETE FROM settings WHERE scope = ? AND \"key\" = ?",
    "DELETE FROM settings WHERE scope = ? AND `key` = ?",
};
static const struct db_sql sql_setting_list = {
    "SELECT scope, \"key\", value FROM settings ORDER BY scope, \"key\"",
    "SELECT scope, `key`, value FROM settings ORDER BY scope, `key`",
};

int store_decoration_put(struct db *db, struct store_str user, struct store_str json,
                         int64_t updated_ms)
{
    struct db_value p[] = {bytes(user), bytes(json), DB_I(updated_ms)};
    return db_exec(db, &sql_decoration_put, p, 3, NULL, NULL);
}

int store_decoration_delete(struct db *db, struct store_str user)
{
    struct db_value p[] = {bytes(user)};
    return delete_rows(db, &sql_decoration_delete, p, 1);
}

int store_decoration_list(struct db *db,
                          void (*fn)(void *ctx, struct store_str user, struct store_str json),
                          void *ctx)
{
    struct pair_cb cb = {fn, ctx};
    return db_exec(db, &sql_decoration_list, NULL, 0, pair_row, &cb);
}

struct setting_cb {
    void (*fn)(void *ctx, struct store_str scope, struct store_str key, struct store_str value);
    void *ctx;
};

static int setting_row(void *ctx, const struct db_value *c, size_t n)
{
    struct setting_cb *cb = ctx;
    cb->fn(cb->ctx, col_str(&c[0]), col_str(&c[1]), col_str(&c[2]));
    return 0;
}

int store_setting_put(struct db *db, struct store_str scope, struct store_str key,
                      struct store_str value)
{
    struct db_value p[] = {bytes(scope), bytes(key), bytes(value)};
    return db_exec(db, &sql_setting_put, p, 3, NULL, NULL);
}

int store_setting_delete(struct db *db, struct store_str scope, struct store_str key)
{
    struct db_value p[] = {bytes(scope), bytes(key)};
    return delete_rows(db, &sql_setting_delete, p, 2);
}

int store_setting_list(struct db *db,
                       void (*fn)(void *ctx, struct store_str scope, struct store_str key,
                                  struct store_str value),
                       void *ctx)
{
    struct setting_cb cb = {fn, ctx};
    return db_exec(db, &sql_setting_list, NULL, 0, setting_row, &cb);
}

/* ---- notifications and read markers -------------------------------------------------- */

static const struct db_sql sql_notification_put = {
    "INSERT INTO notifications (id, target_kind, target, sender, ts_ms, body) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    "INSERT INTO notifications (id, target_kind, target, sender, ts_ms, body) "
    "VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE id = id",
};
static const struct db_sql sql_notification_list =
    SAME("SELECT id, target_kind, target, sender, ts_ms, body FROM notifications "
         "WHERE target_kind = ? AND target = ? AND id > ? ORDER BY id LIMIT ?");

/* Forward only. MySQL assigns left to right, each assignment seeing the
 * ones before it: updated_ms is decided before upto_id changes. */
static const struct db_sql sql_marker_put = {
    "INSERT INTO read_markers (user, room, upto_id, updated_ms) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (user, room) DO UPDATE SET upto_id = excluded.upto_id, "
    "updated_ms = excluded.updated_ms WHERE excluded.upto_id > read_markers.upto_id",
    "INSERT INTO read_markers (user, room, upto_id, updated_ms) VALUES (?, ?, ?, ?) "
    "ON DUPLICATE KEY UPDATE "
    "updated_ms = IF(VALUES(upto_id) > upto_id, VALUES(updated_ms), updated_ms), "
    "upto_id = GREATEST(upto_id, VALUES(upto_id))",
};
static const struct db_sql sql_marker_get =
    SAME("SELECT upto_id FROM read_markers WHERE user = ? AND room = ?");
static const struct db_sql sql_marker_list =
    SAME("SELECT user, room, upto_id FROM read_markers ORDER BY user, room");

struct notification_cb {
    void (*fn)(void *ctx, const struct store_notification *n);
    void *ctx;
};

static int notification_row(void *ctx, const struct db_value *c, size_t n)
{
    struct notification_cb *cb = ctx;
    struct store_notification note = {col_int(&c[0]), col_str(&c[1]), col_str(&c[2]),
                                      col_str(&c[3]), col_int(&c[4]), col_str(&c[5])};
    cb->fn(cb->ctx, &note);
    return 0;
}

int store_notification_put(struct db *db, const struct store_notification *n)
{
    struct db_value p[] = {DB_I(n->id),      bytes(n->target_kind), bytes(n->target),
                           bytes(n->sender), DB_I(n->ts_ms),        bytes(n->body)};
    return db_exec(db, &sql_notification_put, p, 6, NULL, NULL);
}

int store_notification_list(struct db *db, struct store_str target_kind, struct store_str target,
                            int64_t since_id, int limit,
                            void (*fn)(void *ctx, const struct store_notification *n), void *ctx)
{
    struct notification_cb cb = {fn, ctx};
    struct db_value p[] = {bytes(target_kind), bytes(target), DB_I(since_id),
                           DB_I(clamp_limit(limit))};
    return db_exec(db, &sql_notification_list, p, 4, notification_row, &cb);
}

int store_read_marker_put(struct db *db, struct store_str user, struct store_str room,
                          int64_t upto_id, int64_t updated_ms)
{
    struct db_value p[] = {bytes(user), bytes(room), DB_I(upto_id), DB_I(updated_ms)};
    return db_exec(db, &sql_marker_put, p, 4, NULL, NULL);
}

int store_read_marker_get(struct db *db, struct store_str user, struct store_str room,
                          int64_t *upto_id)
{
    struct db_value p[] = {bytes(user), bytes(room)};
    *upto_id = 0;
    return db_exec(db, &sql_marker_get, p, 2, int_row, upto_id);
}

struct marker_cb {
    void (*fn)(void *ctx, struct store_str user, struct store_str room, int64_t upto_id);
    void *ctx;
};

static int marker_row(void *ctx, const struct db_value *c, size_t n)
{
    struct marker_cb *cb = ctx;
    cb->fn(cb->ctx, col_str(&c[0]), col_str(&c[1]), col_int(&c[2]));
    return 0;
}

int store_read_marker_list(struct db *db,
                           void (*fn)(void *ctx, struct store_str user, struct store_str room,
                                      int64_t upto_id),
                           void *ctx)
{
    struct marker_cb cb = {fn, ctx};
    return db_exec(db, &sql_marker_list, NULL, 0, marker_row, &cb);
}

/* ---- the archive ------------------------------------------------------------------------ */

static const struct db_sql sql_archive_insert = {
    "INSERT OR IGNORE INTO messages "
    "(id, room, dm_low, dm_high, topic, sender, ts_ms, type, body, node) VALUES",
    "INSERT IGNORE INTO messages "
    "(id, room, dm_low, dm_high, topic, sender, ts_ms, type, body, node) VALUES",
};
static const char archive_row[] = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
static const struct db_sql sql_archive_count = SAME("SELECT COUNT(*) FROM messages");

#define MESSAGE_SELECT                                                                             \
    "SELECT id, room, dm_low, dm_high, topic, sender, ts_ms, type, body, node FROM messages "
static const struct db_sql sql_history_room_asc =
    SAME(MESSAGE_SELECT "WHERE room = ? AND id > ? AND id < ? ORDER BY id LIMIT ?");
static const struct db_sql sql_history_room_desc =
    SAME(MESSAGE_SELECT "WHERE room = ? AND id > ? AND id < ? ORDER BY id DESC LIMIT ?");
static const struct db_sql sql_history_dm_asc = SAME(
    MESSAGE_SELECT "WHERE dm_low = ? AND dm_high = ? AND id > ? AND id < ? ORDER BY id LIMIT ?");
static const struct db_sql sql_history_dm_desc =
    SAME(MESSAGE_SELECT
         "WHERE dm_low = ? AND dm_high = ? AND id > ? AND id < ? ORDER BY id DESC LIMIT ?");

/* MQ_OK when m fits the archive's columns and names one kind of target. */
static int message_check(const struct store_message *m)
{
    bool room = m->room.len > 0, dm = m->dm_low.len > 0 || m->dm_high.len > 0;
    if ((room && dm) || (dm && (m->dm_low.len == 0 || m->dm_high.len == 0)))
        return MQ_EINVAL;
    if (m->room.len > NAME_MAX_BYTES || m->dm_low.len > NAME_MAX_BYTES ||
        m->dm_high.len > NAME_MAX_BYTES || m->type.len > TYPE_MAX_BYTES)
        return MQ_EINVAL;
    return MQ_OK;
}

static void message_values(const struct store_message *m, struct db_value *v)
{
    v[0] = DB_I(m->id);
    v[1] = bytes_or_null(m->room);
    v[2] = bytes_or_null(m->dm_low);
    v[3] = bytes_or_null(m->dm_high);
    v[4] = bytes(m->topic);
    v[5] = bytes(m->sender);
    v[6] = DB_I(m->ts_ms);
    v[7] = bytes(m->type);
    v[8] = bytes(m->body);
    v[9] = DB_I(m->node);
}

int store_archive_put(struct db *db, const struct store_message *msgs, size_t n, int64_t *inserted)
{
    if (inserted)
        *inserted = 0;
    if (n == 0)
        return MQ_OK;
    for (size_t i = 0; i < n; i++) {
        if (message_check(&msgs[i]) != MQ_OK) {
            log_error("archive: message %lld has a name or type too long or two targets",
                      (long long)msgs[i].id);
            return MQ_EINVAL;
        }
    }
    struct db_value *v = malloc(n * MESSAGE_COLS * sizeof(*v));
    if (!v)
        return MQ_ENOMEM;
    for (size_t i = 0; i < n; i++)
        message_values(&msgs[i], v + i * MESSAGE_COLS);
    int rc = db_insert_rows(db, &sql_archive_insert, archive_row, MESSAGE_COLS, v, n);
    free(v);
    if (rc == MQ_OK && inserted)
        *inserted = db_changes(db);
    return rc;
}

int store_archive_count(struct db *db, int64_t *count)
{
    *count = 0;
    return db_exec(db, &sql_archive_count, NULL, 0, int_row, count);
}

struct message_cb {
    void (*fn)(void *ctx, const struct store_message *m);
    void *ctx;
};

static int message_row(void *ctx, const struct db_value *c, size_t n)
{
    struct message_cb *cb = ctx;
    struct store_message m = {
        .id = col_int(&c[0]),
        .room = col_str(&c[1]),
        .dm_low = col_str(&c[2]),
        .dm_high = col_str(&c[3]),
        .topic = col_str(&c[4]),
        .sender = col_str(&c[5]),
        .ts_ms = col_int(&c[6]),
        .type = col_str(&c[7]),
        .body = col_str(&c[8]),
        .node = col_int(&c[9]),
    };
    cb->fn(cb->ctx, &m);
    return 0;
}

int store_history(struct db *db, const struct store_history_query *q,
                  void (*fn)(void *ctx, const struct store_message *m), void *ctx)
{
    bool room = q->room.len > 0, dm = q->dm_low.len > 0 && q->dm_high.len > 0;
    if (room == dm)
        return MQ_EINVAL;
    bool ascending = q->since_id > 0;
    int64_t lo = q->since_id > 0 ? q->since_id : INT64_MIN;
    int64_t hi = q->before_id > 0 ? q->before_id : INT64_MAX;
    struct db_value p[6];
    size_t n = 0;
    if (room) {
        p[n++] = bytes(q->room);
    } else {
        p[n++] = bytes(q->dm_low);
        p[n++] = bytes(q->dm_high);
    }
    p[n++] = DB_I(lo);
    p[n++] = DB_I(hi);
    p[n++] = DB_I(clamp_limit(q->limit));
    const struct db_sql *sql = room ? (ascending ? &sql_history_room_asc : &sql_history_room_desc)
                                    : (ascending ? &sql_history_dm_asc : &sql_history_dm_desc);
    struct message_cb cb = {fn, ctx};
    return db_exec(db, sql, p, n, message_row, &cb);
}

/* ---- history from the spool (SQLite only) ------------------------------------------------ */

/* The spool has the archive's message columns (plus seq); SQLite only, so
 * no MySQL text. Only the rows past the archiver's cursor are read (the
 * rest are in the archive): a short range of the primary key, so the spool
 * needs no index on room or the dm pair. Callers read the spool before the
 * archive, so that a row archived in between is found in one or the other. */
#define SPOOL_SELECT                                                                               \
    "SELECT id, room, dm_low, dm_high, topic, sender, ts_ms, type, body, node FROM spool "         \
    "WHERE seq > COALESCE((SELECT value FROM spool_state WHERE key = 'archived_seq'), 0) AND "
static const struct db_sql sql_spool_history_room_asc = {
    SPOOL_SELECT "room = ? AND id > ? AND id < ? ORDER BY id LIMIT ?", NULL};
static const struct db_sql sql_spool_history_room_desc = {
    SPOOL_SELECT "room = ? AND id > ? AND id < ? ORDER BY id DESC LIMIT ?", NULL};
static const struct db_sql sql_spool_history_dm_asc = {
    SPOOL_SELECT "dm_low = ? AND dm_high = ? AND id > ? AND id < ? ORDER BY id LIMIT ?", NULL};
static const struct db_sql sql_spool_history_dm_desc = {
    SPOOL_SELECT "dm_low = ? AND dm_high = ? AND id > ? AND id < ? ORDER BY id DESC LIMIT ?",
    NULL};

int store_history_spool(struct db *db, const struct store_history_query *q,
                        void (*fn)(void *ctx, const struct store_message *m), void *ctx)
{
    if (db_backend(db) != DB_SQLITE)
        return MQ_EINVAL;
    bool room = q->room.len > 0, dm = q->dm_low.len > 0 && q->dm_high.len > 0;
    if (room == dm)
        return MQ_EINVAL;
    bool ascending = q->since_id > 0;
    struct db_value p[5];
    size_t n = 0;
    if (room) {
        p[n++] = bytes(q->room);
    } else {
        p[n++] = bytes(q->dm_low);
        p[n++] = bytes(q->dm_high);
    }
    p[n++] = DB_I(q->since_id > 0 ? q->since_id : INT64_MIN);
    p[n++] = DB_I(q->before_id > 0 ? q->before_id : INT64_MAX);
    p[n++] = DB_I(clamp_limit(q->limit));
    const struct db_sql *sql =
        room ? (ascending ? &sql_spool_history_room_asc : &sql_spool_history_room_desc)
             : (ascending ? &sql_spool_history_dm_asc : &sql_spool_history_dm_desc);
    struct message_cb cb = {fn, ctx};
    return db_exec(db, sql, p, n, message_row, &cb);
}
