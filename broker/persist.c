/*
 * persist.c - what the workers keep in the node's SQLite database, as jobs
 * for its writer thread, and the start-up that reads it back (see
 * persist.h and storage.h).
 *
 * A job copies what it writes (strings, integers, a message reference) so
 * that the session may change or go while the job waits. After its batch
 * committed, job_done() runs on the writer thread: it ends the job's part
 * of an acknowledgement hold, if it has one, and frees the job.
 *
 * Times cross the restart as Unix milliseconds: message expiry (the
 * monotonic message_clock_ms() inside the broker) and the time a session
 * went offline (worker loop time inside the broker).
 */
#include "persist.h"

#include <stdlib.h>
#include <string.h>

#include "ackhold.h"
#include "broker.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "message.h"
#include "msgid.h"
#include "session.h"
#include "spool.h"
#include "storage.h"
#include "worker.h"

enum persist_op {
    OP_SESSION_PUT,
    OP_SESSION_DELETE,
    OP_SUB_PUT,
    OP_SUB_DELETE,
    OP_MSG_PUT,
    OP_MSG_STATE,
    OP_MSG_DELETE,
    OP_RETAINED_PUT,
    OP_RETAINED_DELETE,
    OP_SPOOL_ROW,
};

struct persist_job {
    struct spool_job base;
    enum persist_op op;
    struct message *msg; /* reference, for rows that carry a message */
    bool held;           /* owes ack_hold_release(msg) once committed */
    int64_t n[4];        /* integers, meaning per op (see each writer) */
    size_t key_len;      /* bytes[0..key_len): client id (or topic) */
    size_t text_len;     /* then bytes[key_len..+text_len): user, filter, sender */
    uint8_t part_len[4]; /* OP_SPOOL_ROW: room, dm_low, dm_high and type follow the
                            sender in bytes[], with these lengths (0 = NULL; type
                            0 = "mqtt") */
    char bytes[];
};

#define KEY(j)  DB_B((j)->bytes, (j)->key_len)
#define TEXT(j) DB_B((j)->bytes + (j)->key_len, (j)->text_len)

/* ---- time across restarts ------------------------------------------------ */

static int64_t expiry_to_unix(const struct message *m)
{
    if (!m->expires_at_ms)
        return 0;
    uint64_t now = message_clock_ms();
    uint64_t left = m->expires_at_ms > now ? m->expires_at_ms - now : 0;
    return (int64_t)(msgid_now_ms() + left);
}

/* Seconds left of a stored expiry (at least 1), or 0 for none; -1 when it
 * has passed. */
static int64_t expiry_left_s(int64_t expires_unix)
{
    if (!expires_unix)
        return 0;
    int64_t left = expires_unix - (int64_t)msgid_now_ms();
    return left <= 0 ? -1 : (left + 999) / 1000;
}

/* ---- the writers (writer thread) ----------------------------------------- */

static const struct db_sql sql_session_put = {
    "INSERT INTO sessions (client_id, username, version, expiry_s, offline_since_ms, role) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET username = "
    "excluded.username, version = excluded.version, expiry_s = excluded.expiry_s, "
    "offline_since_ms = excluded.offline_since_ms, role = excluded.role",
    NULL};
static const struct db_sql sql_session_delete = {"DELETE FROM sessions WHERE client_id = ?", NULL};
static const struct db_sql sql_subs_delete = {"DELETE FROM session_subs WHERE client_id = ?", NULL};
static const struct db_sql sql_msgs_delete = {"DELETE FROM session_msgs WHERE client_id = ?", NULL};
static const struct db_sql sql_sub_put = {
    "INSERT OR REPLACE INTO session_subs (client_id, filter, options, sub_id) VALUES (?, ?, ?, ?)",
    NULL};
static const struct db_sql sql_sub_delete = {
    "DELETE FROM session_subs WHERE client_id = ? AND filter = ?", NULL};
static const struct db_sql sql_msg_put = {
    "INSERT OR REPLACE INTO session_msgs (client_id, seq, state, packet_id, qos, retain, topic, "
    "payload, props, expires_at_ms, subids) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    NULL};
static const struct db_sql sql_msg_state = {
    "UPDATE session_msgs SET state = ?, packet_id = ? WHERE client_id = ? AND seq = ?", NULL};
static const struct db_sql sql_msg_delete = {
    "DELETE FROM session_msgs WHERE client_id = ? AND seq = ?", NULL};
static const struct db_sql sql_retained_put = {
    "INSERT OR REPLACE INTO retained (topic, qos, payload, props, expires_at_ms) "
    "VALUES (?, ?, ?, ?, ?)",
    NULL};
static const struct db_sql sql_retained_delete = {"DELETE FROM retained WHERE topic = ?", NULL};
static const struct db_sql sql_spool_row = {
    "INSERT INTO spool (id, room, dm_low, dm_high, topic, sender, ts_ms, type, body, node) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    NULL};

static struct db_value bytes_or_null(const void *p, size_t len)
{
    return len ? DB_B(p, len) : DB_NIL;
}

/* A delivery's Subscription Identifiers as 4-byte big-endian numbers. */
static size_t pack_subids(const struct delivery *d, uint8_t *out)
{
    for (uint8_t i = 0; i < d->nsubids; i++) {
        uint32_t v = d->subids[i];
        out[4 * i] = (uint8_t)(v >> 24);
        out[4 * i + 1] = (uint8_t)(v >> 16);
        out[4 * i + 2] = (uint8_t)(v >> 8);
        out[4 * i + 3] = (uint8_t)v;
    }
    return 4u * d->nsubids;
}

static int write_message_row(struct db *db, struct persist_job *j)
{
    const struct message *m = j->msg;
    /* n[0] seq, n[1] state, n[2] packet id, n[3] granted QoS | retain << 2 |
     * nsubids << 3; the ids follow the client id in bytes[]. */
    struct db_value v[] = {
        KEY(j),
        DB_I(j->n[0]),
        DB_I(j->n[1]),
        DB_I(j->n[2]),
        DB_I(j->n[3] & 3),
        DB_I((j->n[3] >> 2) & 1),
        DB_B(m->topic, m->topic_len),
        DB_B(m->payload, m->payload_len),
        bytes_or_null(m->props, m->props_len),
        DB_I(expiry_to_unix(m)),
        bytes_or_null(j->bytes + j->key_len, j->text_len),
    };
    return db_exec(db, &sql_msg_put, v, sizeof(v) / sizeof(v[0]), NULL, NULL);
}

static int write_job(struct db *db, struct spool_job *base)
{
    struct persist_job *j = (struct persist_job *)base;
    const struct message *m = j->msg;
    int rc;
    switch (j->op) {
    case OP_SESSION_PUT: {
        /* n[0] version | role << 8, n[1] expiry, n[2] offline since, n[3] has a user */
        struct db_value v[] = {
            KEY(j),        j->n[3] ? TEXT(j) : DB_NIL, DB_I(j->n[0] & 0xff), DB_I(j->n[1]),
            DB_I(j->n[2]), DB_I(j->n[0] >> 8)};
        return db_exec(db, &sql_session_put, v, 6, NULL, NULL);
    }
    case OP_SESSION_DELETE: {
        struct db_value v[] = {KEY(j)};
        if ((rc = db_exec(db, &sql_session_delete, v, 1, NULL, NULL)) != MQ_OK ||
            (rc = db_exec(db, &sql_subs_delete, v, 1, NULL, NULL)) != MQ_OK)
            return rc;
        return db_exec(db, &sql_msgs_delete, v, 1, NULL, NULL);
    }
    case OP_SUB_PUT: {
        struct db_value v[] = {KEY(j), TEXT(j), DB_I(j->n[0]), DB_I(j->n[1])};
        return db_exec(db, &sql_sub_put, v, 4, NULL, NULL);
    }
    case OP_SUB_DELETE: {
        struct db_value v[] = {KEY(j), TEXT(j)};
        return db_exec(db, &sql_sub_delete, v, 2, NULL, NULL);
    }
    case OP_MSG_PUT:
        return write_message_row(db, j);
    case OP_MSG_STATE: {
        struct db_value v[] = {DB_I(j->n[1]), DB_I(j->n[2]), KEY(j), DB_I(j->n[0])};
        return db_exec(db, &sql_msg_state, v, 4, NULL, NULL);
    }
    case OP_MSG_DELETE: {
        struct db_value v[] = {KEY(j), DB_I(j->n[0])};
        return db_exec(db, &sql_msg_delete, v, 2, NULL, NULL);
    }
    case OP_RETAINED_PUT: {
        struct db_value v[] = {DB_B(m->topic, m->topic_len), DB_I(m->qos),
                               DB_B(m->payload, m->payload_len),
                               bytes_or_null(m->props, m->props_len), DB_I(expiry_to_unix(m))};
        return db_exec(db, &sql_retained_put, v, 5, NULL, NULL);
    }
    case OP_RETAINED_DELETE: {
        struct db_value v[] = {KEY(j)};
        return db_exec(db, &sql_retained_delete, v, 1, NULL, NULL);
    }
    case OP_SPOOL_ROW: {
        /* n[0] id, n[1] ts, n[2] node; the parts follow the sender */
        const char *part = j->bytes + j->key_len + j->text_len;
        struct db_value parts[4];
        for (int i = 0; i < 4; i++) {
            parts[i] = bytes_or_null(part, j->part_len[i]);
            part += j->part_len[i];
        }
        if (!j->part_len[3])
            parts[3] = DB_S("mqtt");
        struct db_value v[] = {DB_I(j->n[0]),
                               parts[0],
                               parts[1],
                               parts[2],
                               DB_B(m->topic, m->topic_len),
                               TEXT(j),
                               DB_I(j->n[1]),
                               parts[3],
                               DB_B(m->payload, m->payload_len),
                               DB_I(j->n[2])};
        rc = db_exec(db, &sql_spool_row, v, 10, NULL, NULL);
        if (rc == MQ_OK) {
            j->base.seq = db_last_id(db);
            j->base.body_bytes = m->payload_len;
        }
        return rc;
    }
    }
    return MQ_EINVAL;
}

/* Writer thread, after the commit (or the failure) of the job's batch. */
static void job_done(void *ctx, struct spool_job *base)
{
    struct persist_job *j = (struct persist_job *)base;
    if (j->held)
        ack_hold_release(j->msg, base->result);
    message_unref(j->msg);
    free(j);
}

static void job_free(struct spool_job *base)
{
    job_done(NULL, base);
}

/* ---- making jobs (workers) ----------------------------------------------- */

static struct persist_job *job_new(enum persist_op op, const char *key, size_t key_len,
                                   const void *text, size_t text_len)
{
    struct persist_job *j = calloc(1, sizeof(*j) + key_len + text_len);
    if (!j)
        return NULL;
    j->base.write = write_job;
    j->base.post = job_done;
    j->base.free_fn = job_free;
    j->op = op;
    j->key_len = key_len;
    j->text_len = text_len;
    if (key_len)
        memcpy(j->bytes, key, key_len);
    if (text_len && text) /* NULL text: the caller fills the bytes */
        memcpy(j->bytes + key_len, text, text_len);
    return j;
}

static void submit(struct storage *st, struct persist_job *j, const char *what)
{
    if (!j) {
        log_error("persist: out of memory: %s not written", what);
        return;
    }
    spool_submit(st->spool, &j->base);
}

static struct storage *storage_of(const struct session *s)
{
    struct storage *st = s->w->b->storage;
    return st && st->spool ? st : NULL;
}

static struct persist_job *session_job(const struct session *s, enum persist_op op,
                                       const void *text, size_t text_len)
{
    return job_new(op, s->client_id, s->client_id_len, text, text_len);
}

void persist_session(struct session *s)
{
    struct storage *st = storage_of(s);
    if (!st)
        return;
    if (s->expiry_s == 0) {
        if (s->persisted)
            persist_session_delete(s);
        s->persisted = false;
        return;
    }
    size_t ulen = s->username ? strlen(s->username) : 0;
    struct persist_job *j = session_job(s, OP_SESSION_PUT, s->username, ulen);
    if (j) {
        j->n[0] = s->version | (int64_t)s->role << 8;
        j->n[1] = s->expiry_s;
        j->n[2] = s->conn ? 0 : (int64_t)msgid_now_ms();
        j->n[3] = s->username != NULL;
    }
    submit(st, j, "session");
    s->persisted = true;
}

void persist_session_delete(struct session *s)
{
    struct storage *st = storage_of(s);
    if (st)
        submit(st, session_job(s, OP_SESSION_DELETE, NULL, 0), "session removal");
}

void persist_subscribe(struct session *s, const char *filter, size_t len, uint8_t options,
                       uint32_t sub_id)
{
    struct storage *st = storage_of(s);
    if (!st || !s->persisted)
        return;
    struct persist_job *j = session_job(s, OP_SUB_PUT, filter, len);
    if (j) {
        j->n[0] = options;
        j->n[1] = sub_id;
    }
    submit(st, j, "subscription");
}

void persist_unsubscribe(struct session *s, const char *filter, size_t len)
{
    struct storage *st = storage_of(s);
    if (st && s->persisted)
        submit(st, session_job(s, OP_SUB_DELETE, filter, len), "unsubscription");
}

void persist_message(struct session *s, uint64_t seq, struct message *msg, const struct delivery *d,
                     uint8_t state, uint16_t packet_id)
{
    struct storage *st = storage_of(s);
    if (!st || !s->persisted)
        return;
    uint8_t subids[4 * DELIVERY_MAX_SUBIDS];
    size_t nsub = pack_subids(d, subids);
    struct persist_job *j = session_job(s, OP_MSG_PUT, subids, nsub);
    if (j) {
        j->msg = message_ref(msg);
        j->held = ack_hold_join(msg);
        j->n[0] = (int64_t)seq;
        j->n[1] = state;
        j->n[2] = packet_id;
        j->n[3] = d->qos | (d->retain ? 4 : 0);
    }
    submit(st, j, "queued message");
}

void persist_message_state(struct session *s, uint64_t seq, uint8_t state, uint16_t packet_id)
{
    struct storage *st = storage_of(s);
    if (!st || !s->persisted)
        return;
    struct persist_job *j = session_job(s, OP_MSG_STATE, NULL, 0);
    if (j) {
        j->n[0] = (int64_t)seq;
        j->n[1] = state;
        j->n[2] = packet_id;
    }
    submit(st, j, "message state");
}

void persist_message_delete(struct session *s, uint64_t seq)
{
    struct storage *st = storage_of(s);
    if (!st || !s->persisted)
        return;
    struct persist_job *j = session_job(s, OP_MSG_DELETE, NULL, 0);
    if (j)
        j->n[0] = (int64_t)seq;
    submit(st, j, "message removal");
}

void persist_retained(struct broker *b, struct message *msg)
{
    struct storage *st = b->storage;
    if (!st || !st->spool || msg->topic[0] == '$')
        return;
    struct persist_job *j;
    if (msg->payload_len == 0)
        j = job_new(OP_RETAINED_DELETE, msg->topic, msg->topic_len, NULL, 0);
    else
        j = job_new(OP_RETAINED_PUT, NULL, 0, NULL, 0);
    if (j) { /* a clear, too, is durable before the publisher's ack */
        j->msg = message_ref(msg);
        j->held = ack_hold_join(msg);
    }
    submit(st, j, "retained message");
}

int storage_spool_row(struct storage *st, struct message *msg, const struct storage_row *row)
{
    const struct store_part {
        const char *s;
        size_t len;
    } parts[4] = {{row->room, row->room ? row->room_len : 0},
                  {row->dm_low, row->dm_low ? row->dm_low_len : 0},
                  {row->dm_high, row->dm_high ? row->dm_high_len : 0},
                  {row->type, row->type ? row->type_len : 0}};
    size_t extra = 0;
    for (int i = 0; i < 4; i++) {
        if (parts[i].len > UINT8_MAX)
            return MQ_EINVAL;
        extra += parts[i].len;
    }
    struct persist_job *j = job_new(OP_SPOOL_ROW, NULL, 0, NULL, row->sender_len + extra);
    if (!j)
        return MQ_ENOMEM;
    memcpy(j->bytes, row->sender, row->sender_len);
    j->text_len = row->sender_len;
    char *p = j->bytes + row->sender_len;
    for (int i = 0; i < 4; i++) {
        j->part_len[i] = (uint8_t)parts[i].len;
        if (parts[i].len)
            memcpy(p, parts[i].s, parts[i].len);
        p += parts[i].len;
    }
    j->msg = message_ref(msg);
    j->held = ack_hold_join(msg);
    uint64_t id = row->id ? row->id : msgid_next(&st->ids);
    j->n[0] = (int64_t)id;
    j->n[1] = (int64_t)msgid_time_ms(id);
    j->n[2] = st->node_id;
    spool_submit(st->spool, &j->base);
    return MQ_OK;
}

int storage_spool(struct storage *st, struct message *msg, const char *sender, size_t sender_len)
{
    struct storage_row row = {.sender = sender, .sender_len = sender_len};
    return storage_spool_row(st, msg, &row);
}

/* ---- start-up ------------------------------------------------------------- */

struct restore {
    struct broker *b;
    int64_t now_unix;
    struct session **sessions; /* restored, to mark persisted at the end */
    size_t n, cap;
    size_t messages, dropped;
    int rc;
};

static struct worker *home_of(struct broker *b, const struct db_value *client_id)
{
    return b->workers[worker_home(b, client_id->p, client_id->len)];
}

static struct session *find_restored(struct broker *b, const struct db_value *client_id)
{
    return session_find(home_of(b, client_id), client_id->p, client_id->len);
}

/* Seconds an offline session is kept; 0 = forever. */
static uint32_t kept_for(const struct broker *b, uint32_t expiry_s)
{
    return expiry_s == SESSION_EXPIRY_NEVER ? b->cfg->persistent_client_expiration : expiry_s;
}

/* sessions: client_id, username, version, expiry_s, offline_since_ms, role */
static int restore_session(void *ctx, const struct db_value *col, size_t ncols)
{
    struct restore *r = ctx;
    struct broker *b = r->b;
    uint32_t expiry = (uint32_t)col[3].i;
    int64_t offline_unix = col[4].i ? col[4].i : r->now_unix; /* online at a crash: now */
    int64_t gone_ms = r->now_unix > offline_unix ? r->now_unix - offline_unix : 0;
    uint32_t kept = kept_for(b, expiry);
    if (kept && gone_ms >= (int64_t)kept * 1000) {
        r->dropped++;
        return 0; /* expired while the broker was down; its rows go below */
    }
    struct worker *w = home_of(b, &col[0]);
    const char *user = col[1].type == DB_BYTES ? col[1].p : NULL;
    struct session *s =
        session_create(w, col[0].p, col[0].len, user, user ? col[1].len : 0, expiry);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct session **v = realloc(r->sessions, cap * sizeof(*v));
        if (v) {
            r->sessions = v;
            r->cap = cap;
        }
    }
    if (!s || r->n == r->cap) {
        r->rc = MQ_ENOMEM;
        return 1;
    }
    r->sessions[r->n++] = s;
    s->version = (uint8_t)col[2].i;
    s->role = (uint8_t)col[5].i;
    uint64_t now_loop = uv_now(&w->loop);
    s->offline_since_ms = now_loop > (uint64_t)gone_ms ? now_loop - (uint64_t)gone_ms : 0;
    return 0;
}

/* session_subs: client_id, filter, options, sub_id */
static int restore_subscription(void *ctx, const struct db_value *col, size_t ncols)
{
    struct restore *r = ctx;
    struct session *s = find_restored(r->b, &col[0]);
    if (s && session_subscribe(s, col[1].p, col[1].len, (uint8_t)col[2].i, (uint32_t)col[3].i) < 0)
        log_warn("persist: subscription of '%s' not restored", s->client_id);
    return 0;
}

static struct message *row_message(const struct db_value *topic, const struct db_value *payload,
                                   const struct db_value *props, uint8_t qos, bool retain,
                                   int64_t expiry_s)
{
    struct message_extra extra = {.expiry_s = (uint32_t)expiry_s};
    if (props->type == DB_BYTES) {
        extra.props = props->p;
        extra.props_len = (uint32_t)props->len;
    }
    return message_new(topic->p, topic->len, payload->p, payload->len, qos, retain, &extra);
}

/* session_msgs: client_id, seq, state, packet_id, qos, retain, topic, payload,
 * props, expires_at_ms, subids */
static int restore_message(void *ctx, const struct db_value *col, size_t ncols)
{
    struct restore *r = ctx;
    struct session *s = find_restored(r->b, &col[0]);
    uint8_t state = (uint8_t)col[2].i;
    int64_t expiry_s = expiry_left_s(col[9].i);
    bool released = state == 1 + INFLIGHT_PUBCOMP;
    if (!s || (expiry_s < 0 && !released))
        return 0; /* its session or its time is gone */
    struct delivery d = {.qos = (uint8_t)col[4].i, .retain = col[5].i != 0};
    if (col[10].type == DB_BYTES) {
        const uint8_t *p = col[10].p;
        for (size_t i = 0; i + 4 <= col[10].len && d.nsubids < DELIVERY_MAX_SUBIDS; i += 4)
            d.subids[d.nsubids++] = (uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 |
                                    (uint32_t)p[i + 2] << 8 | p[i + 3];
    }
    struct message *msg = NULL;
    if (!released) {
        msg = row_message(&col[6], &col[7], &col[8], d.qos, d.retain, expiry_s);
        if (!msg) {
            r->rc = MQ_ENOMEM;
            return 1;
        }
    }
    if (session_restore_message(s, msg, &d, state, (uint16_t)col[3].i, (uint64_t)col[1].i) == MQ_OK)
        r->messages++;
    message_unref(msg);
    return 0;
}

/* retained: topic, qos, payload, props, expires_at_ms */
static int restore_retained(void *ctx, const struct db_value *col, size_t ncols)
{
    struct restore *r = ctx;
    int64_t expiry_s = expiry_left_s(col[4].i);
    if (expiry_s < 0)
        return 0;
    struct message *msg = row_message(&col[0], &col[2], &col[3], (uint8_t)col[1].i, true, expiry_s);
    if (!msg || retain_set(r->b->retain, msg) != MQ_OK)
        r->rc = MQ_ENOMEM;
    message_unref(msg);
    return r->rc != MQ_OK;
}

static int max_id(void *ctx, const struct db_value *col, size_t ncols)
{
    int64_t *max = ctx;
    if (col[0].type == DB_INT && col[0].i > *max)
        *max = col[0].i;
    return 0;
}

static const struct db_sql sql_sessions = {
    "SELECT client_id, username, version, expiry_s, offline_since_ms, role FROM sessions", NULL};
static const struct db_sql sql_subs = {
    "SELECT client_id, filter, options, sub_id FROM session_subs", NULL};
static const struct db_sql sql_msgs = {
    "SELECT client_id, seq, state, packet_id, qos, retain, topic, payload, props, expires_at_ms, "
    "subids FROM session_msgs ORDER BY client_id, seq",
    NULL};
static const struct db_sql sql_retained = {
    "SELECT topic, qos, payload, props, expires_at_ms FROM retained", NULL};
static const struct db_sql sql_mark_offline = {
    "UPDATE sessions SET offline_since_ms = ? WHERE offline_since_ms = 0", NULL};
static const struct db_sql sql_max_spool_id = {"SELECT MAX(id) FROM spool", NULL};
static const struct db_sql sql_max_archive_id = {"SELECT MAX(id) FROM messages", NULL};

/* Rows of sessions that were not restored (expired) go, with what they held. */
static const struct db_sql sql_orphan_subs = {
    "DELETE FROM session_subs WHERE client_id NOT IN (SELECT client_id FROM sessions)", NULL};
static const struct db_sql sql_orphan_msgs = {
    "DELETE FROM session_msgs WHERE client_id NOT IN (SELECT client_id FROM sessions)", NULL};

static void drop_session_rows(struct db *db, struct restore *r)
{
    /* The sessions restored keep their rows; the others are expired. */
    static const struct db_sql sql_expired = {
        "DELETE FROM sessions WHERE ? - offline_since_ms >= 1000 * CASE WHEN expiry_s = "
        "4294967295 THEN ? ELSE expiry_s END AND (expiry_s <> 4294967295 OR ? > 0)",
        NULL};
    int64_t v3 = r->b->cfg->persistent_client_expiration;
    struct db_value v[] = {DB_I(r->now_unix), DB_I(v3), DB_I(v3)};
    if (r->dropped && db_exec(db, &sql_expired, v, 3, NULL, NULL) != MQ_OK)
        log_warn("persist: expired sessions not removed: %s", db_error(db));
    db_exec(db, &sql_orphan_subs, NULL, 0, NULL, NULL);
    db_exec(db, &sql_orphan_msgs, NULL, 0, NULL, NULL);
    /* Messages and retained messages whose expiry passed while down (a
     * released QoS 2 only waits for PUBCOMP: its expiry no longer counts). */
    static const struct db_sql sql_expired_msgs = {
        "DELETE FROM session_msgs WHERE expires_at_ms BETWEEN 1 AND ? AND state <> 3", NULL};
    static const struct db_sql sql_expired_retained = {
        "DELETE FROM retained WHERE expires_at_ms BETWEEN 1 AND ?", NULL};
    struct db_value now = DB_I(r->now_unix);
    db_exec(db, &sql_expired_msgs, &now, 1, NULL, NULL);
    db_exec(db, &sql_expired_retained, &now, 1, NULL, NULL);
}

int persist_restore(struct broker *b, struct db *db)
{
    struct restore r = {.b = b, .now_unix = (int64_t)msgid_now_ms()};
    uint64_t t0 = message_clock_ms();
    struct db_value now = DB_I(r.now_unix);
    int rc = db_exec(db, &sql_mark_offline, &now, 1, NULL, NULL);
    if (rc == MQ_OK)
        rc = db_exec(db, &sql_sessions, NULL, 0, restore_session, &r);
    if (rc == MQ_OK && r.rc == MQ_OK)
        drop_session_rows(db, &r);
    if (rc == MQ_OK && r.rc == MQ_OK)
        rc = db_exec(db, &sql_subs, NULL, 0, restore_subscription, &r);
    if (rc == MQ_OK && r.rc == MQ_OK)
        rc = db_exec(db, &sql_msgs, NULL, 0, restore_message, &r);
    if (rc == MQ_OK && r.rc == MQ_OK)
        rc = db_exec(db, &sql_retained, NULL, 0, restore_retained, &r);
    for (size_t i = 0; i < r.n; i++)
        r.sessions[i]->persisted = true;
    free(r.sessions);
    for (unsigned i = 0; i < b->nworkers; i++)
        worker_publish_stats(b->workers[i]);
    if (rc == MQ_OK)
        rc = r.rc;
    if (rc != MQ_OK) {
        log_error("persist: restoring from the database failed: %s", db_error(db));
        return rc;
    }
    /* Ids never repeat one from before, even if the clock stepped back. */
    int64_t max = 0;
    db_exec(db, &sql_max_spool_id, NULL, 0, max_id, &max);
    db_exec(db, &sql_max_archive_id, NULL, 0, max_id, &max);
    if ((uint64_t)max > atomic_load(&b->storage->ids.last))
        atomic_store(&b->storage->ids.last, (uint64_t)max);
    log_info("restored %zu persistent sessions (%zu expired while down), %zu queued or inflight "
             "messages, %zu retained messages in %llu ms",
             r.n, r.dropped, r.messages, retain_count(b->retain),
             (unsigned long long)(message_clock_ms() - t0));
    return MQ_OK;
}
