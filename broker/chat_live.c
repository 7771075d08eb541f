/*
 * chat_live.c - presence, unread counts, read markers and history
 * requests wired to MQTT (see chat_live.h).
 *
 * Threads. The hooks and the requests run on the workers; the tick on the
 * main loop (its messages go out through broker_publish_external()); the
 * history queries on a store thread of their own (the chat store thread
 * keeps the directory's writes, which must not wait behind a long history
 * read), whose answers come back to the requesting connection's worker as
 * WORK_STORE_DONE.
 */
#include "chat_live.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "broker.h"
#include "chat.h"
#include "chat_control.h"
#include "chat_history.h"
#include "cluster.h"
#include "conn.h"
#include "db.h"
#include "errors.h"
#include "json.h"
#include "log.h"
#include "message.h"
#include "mqtt5.h"
#include "mqtt_codec.h"
#include "redis_recent.h"
#include "msgid.h"
#include "persist.h"
#include "presence.h"
#include "retain.h"
#include "session.h"
#include "storage.h"
#include "store.h"
#include "unread.h"
#include "worker.h"

struct chat_live {
    struct broker *b;
    atomic_uint_fast64_t presence_updates, unread_updates; /* chat_live_stats */
    atomic_uint_fast64_t history_answered, history_failed;
    struct store *history; /* history queries; NULL when the database is away */
    struct db *spool;      /* the node's SQLite spool for the history thread, when the
                              chat database is MySQL (else the chat database holds it) */
    struct redis_recent *recent; /* the history thread's reader of the rooms' recent-history
                                    cache in Redis (a cluster only), else NULL */
    uv_timer_t timer;
    bool ticking;
};

/* History requests of one connection in the queue at once; more are
 * refused (0x97 too_many_requests) until answers go out. */
#define HISTORY_PENDING_MAX 4

/* Topics are at most the prefix, two names and a few words. */
#define LIVE_TOPIC_MAX (64 + 2 * CHAT_NAME_MAX + 32)

static int64_t now_ms(void)
{
    return (int64_t)msgid_now_ms();
}

/* ---- presence hooks (workers) ------------------------------------------------------------------ */

/* The room of an exact room filter {p}/room/{room}; false for anything
 * else (wildcards, shared subscriptions, other topics). */
static bool room_filter(const struct chat *ch, const char *filter, size_t len,
                        struct chat_topic *t)
{
    return chat_topic_parse(ch, filter, len, t) == CHAT_ROOM;
}

/* The chat user of c's session when presence counts it, else NULL. */
static const char *counted_user(const struct conn *c)
{
    const struct session *s = c->s;
    if (!s || !s->username || s->role != CHAT_ROLE_USER || !c->w->b->chat)
        return NULL;
    return chat_name_valid(s->username, strlen(s->username)) ? s->username : NULL;
}

/* Enters (or leaves) every room c's session views. */
static void view_rooms(struct chat *ch, const struct session *s, bool enter)
{
    size_t user_len = strlen(s->username);
    int64_t now = now_ms();
    for (size_t i = 0; i < s->nsubs; i++) {
        struct chat_topic t;
        if (s->subs[i].shared || !room_filter(ch, s->subs[i].filter, s->subs[i].filter_len, &t))
            continue;
        if (enter)
            presence_room_enter(ch->presence, t.name, t.name_len, s->username, user_len, now);
        else
            presence_room_leave(ch->presence, t.name, t.name_len, s->username, user_len, now);
    }
}

void chat_conn_up(struct conn *c)
{
    const char *user = counted_user(c);
    struct chat *ch = c->w->b->chat;
    if (!user || c->chat_live)
        return;
    c->chat_live = true;
    presence_device_up(ch->presence, user, strlen(user), now_ms());
    view_rooms(ch, c->s, true);
}

void chat_conn_down(struct conn *c)
{
    if (!c->chat_live || !c->s)
        return;
    c->chat_live = false;
    struct chat *ch = c->w->b->chat;
    view_rooms(ch, c->s, false);
    presence_device_down(ch->presence, c->s->username, strlen(c->s->username), now_ms());
}

static void sub_changed(struct conn *c, const char *filter, size_t len, bool added)
{
    struct chat *ch = c->w->b->chat;
    struct chat_topic t;
    if (!c->chat_live || !room_filter(ch, filter, len, &t))
        return;
    const char *user = c->s->username;
    if (added)
        presence_room_enter(ch->presence, t.name, t.name_len, user, strlen(user), now_ms());
    else
        presence_room_leave(ch->presence, t.name, t.name_len, user, strlen(user), now_ms());
}

void chat_sub_added(struct conn *c, const char *filter, size_t len)
{
    sub_changed(c, filter, len, true);
}

void chat_sub_removed(struct conn *c, const char *filter, size_t len)
{
    sub_changed(c, filter, len, false);
}

/* ---- read markers ------------------------------------------------------------------------------ */

struct marker_write {
    struct store_job base;
    char user[CHAT_NAME_MAX + 1], room[CHAT_NAME_MAX + 1];
    int64_t upto, now_ms;
};

/* True when a MySQL connection that failed with rc came back (the query
 * is then worth one more try): the store threads' connections are not
 * reopened by anyone else. */
static bool reconnected(struct db *db, int rc)
{
    return rc == MQ_EAGAIN && db_backend(db) == DB_MYSQL && db_reconnect(db) == MQ_OK;
}

static void marker_write_run(struct db *db, struct store_job *job)
{
    struct marker_write *j = (struct marker_write *)job;
    struct store_str user = STORE_STR(j->user), room = STORE_STR(j->room);
    job->result = store_read_marker_put(db, user, room, j->upto, j->now_ms);
    if (reconnected(db, job->result))
        job->result = store_read_marker_put(db, user, room, j->upto, j->now_ms);
    if (job->result != MQ_OK)
        log_warn("chat: read marker of '%s' in '%s' not stored: %s", j->user, j->room,
                 mq_strerror(job->result));
}

static void free_job(void *ctx, struct store_job *job)
{
    free(job);
}

int chat_read_marker(struct chat *ch, const char *user, size_t user_len, const char *room,
                     size_t room_len, int64_t upto)
{
    if (!chat_name_valid(user, user_len) || !chat_name_valid(room, room_len) || upto < 1)
        return MQ_EINVAL;
    if (chat_dir_member_role(ch->dir, room, room_len, user, user_len) < 0)
        return MQ_EDENIED;
    unread_mark(ch->unread, user, user_len, room, room_len, upto); /* stored by the tick */
    cluster_read_marker(ch->b, user, user_len, room, room_len, upto);
    return MQ_OK;
}

/* The tick: a marker that moved, to the chat store. */
static void store_marker(void *ctx, const char *user, size_t user_len, const char *room,
                         size_t room_len, int64_t upto)
{
    struct broker *b = ctx;
    struct chat *ch = b->chat;
    struct marker_write *j = ch->store ? calloc(1, sizeof(*j)) : NULL;
    if (!j)
        return; /* in memory it moved: the count is right until a restart */
    j->base.run = marker_write_run;
    j->base.post = free_job;
    memcpy(j->user, user, user_len);
    memcpy(j->room, room, room_len);
    j->upto = upto;
    j->now_ms = now_ms();
    store_submit(ch->store, &j->base);
}

const char *chat_read_request(struct chat *ch, struct conn *c, const struct mqtt_publish *p,
                              const struct chat_topic *t)
{
    const char *user = c->s->username;
    if (chat_dir_member_role(ch->dir, t->name, t->name_len, user, strlen(user)) < 0)
        return "not_member";
    const char *text = (const char *)p->payload;
    cJSON *o = p->payload_len ? cJSON_ParseWithLength(text, p->payload_len) : NULL;
    uint64_t upto = 0;
    int rc = cJSON_IsObject(o) ? chat_history_json_u64(text, p->payload_len, o, "upto",
                                                       INT64_MAX, &upto)
                               : MQ_EINVAL;
    cJSON_Delete(o);
    if (rc != MQ_OK || upto == 0)
        return "bad_request";
    rc = chat_read_marker(ch, user, strlen(user), t->name, t->name_len, (int64_t)upto);
    return rc == MQ_OK ? NULL : rc == MQ_EDENIED ? "not_member" : "bad_request";
}

/* ---- history requests ------------------------------------------------------------------------- */

struct history_job {
    struct store_job base;
    struct broker *b;
    struct db *spool; /* the live's, used on the history thread only */
    struct redis_recent *recent; /* the live's, likewise */
    struct store_history_query q;
    char room[CHAT_NAME_MAX + 1];
    char req[CHAT_HISTORY_REQ_MAX + 1];
    bool has_req;
    struct chat_history_page page;
    int fetched; /* the query's result; base.result is MQ_EIO only when the broker stops */
    /* Where the answer goes. */
    unsigned worker;
    char *client_id;
    uint64_t session_uid, conn_serial;
    uint8_t qos;
    char *topic; /* the response topic, or {p}/user/{user}/events */
    uint8_t *correlation;
    size_t correlation_len;
};

static void history_job_free(struct history_job *j)
{
    chat_history_page_free(&j->page);
    free(j->client_id);
    free(j->topic);
    free(j->correlation);
    free(j);
}

static void history_run(struct db *db, struct store_job *job)
{
    struct history_job *j = (struct history_job *)job;
    struct db *spool = j->spool ? j->spool : db_backend(db) == DB_SQLITE ? db : NULL;
    j->fetched = chat_history_fetch(db, spool, j->recent, &j->q, &j->page);
    if (reconnected(db, j->fetched))
        j->fetched = chat_history_fetch(db, spool, j->recent, &j->q, &j->page);
    job->result = MQ_OK;
}

static void history_post(void *ctx, struct store_job *job)
{
    struct history_job *j = (struct history_job *)job;
    struct work item = {.kind = WORK_STORE_DONE, .u.store_job = job};
    if (j->worker >= j->b->nworkers || worker_post(j->b->workers[j->worker], &item) != MQ_OK)
        history_job_free(j); /* the broker stops */
}

/* The answer's MQTT 5 properties: the envelope's content type and the
 * request's correlation data. 0 when they do not fit. */
static size_t history_props(const struct history_job *j, uint8_t *out, size_t cap)
{
    struct mqtt5_writer pw;
    mqtt5_writer_init(&pw, out, cap);
    mqtt5_put_u8(&pw, MQTT5_PROP_PAYLOAD_FORMAT_INDICATOR, 1);
    static const char ct[] = "application/json";
    mqtt5_put_str(&pw, MQTT5_PROP_CONTENT_TYPE, ct, sizeof(ct) - 1);
    if (j->correlation)
        mqtt5_put_bin(&pw, MQTT5_PROP_CORRELATION_DATA, j->correlation, j->correlation_len);
    return pw.overflow ? 0 : pw.len;
}

/* On the requester's worker: the answer, to the requesting connection. */
static void history_done(struct store_job *job)
{
    struct history_job *j = (struct history_job *)job;
    struct worker *w = j->b->workers[j->worker];
    struct session *s = job->result == MQ_EIO
                            ? NULL
                            : session_find(w, j->client_id, strlen(j->client_id));
    if (!s || s->uid != j->session_uid || !s->conn || s->conn->serial != j->conn_serial) {
        history_job_free(j);
        return; /* gone meanwhile */
    }
    if (s->conn->history_pending)
        s->conn->history_pending--;
    struct jbuf jb;
    jbuf_init(&jb);
    jbuf_puts(&jb, "{\"type\":\"history\",\"room\":");
    jbuf_str(&jb, j->room, strlen(j->room));
    if (j->has_req) {
        jbuf_puts(&jb, ",\"req\":");
        jbuf_str(&jb, j->req, strlen(j->req));
    }
    struct chat_live *live = j->b->chat->live;
    atomic_fetch_add_explicit(j->fetched == MQ_OK ? &live->history_answered
                                                  : &live->history_failed,
                              1, memory_order_relaxed);
    if (j->fetched == MQ_OK) {
        jbuf_puts(&jb, ",\"messages\":");
        chat_history_page_json(&j->page, &jb);
    } else {
        jbuf_puts(&jb, ",\"error\":\"unavailable\"");
    }
    jbuf_putc(&jb, '}');
    size_t props_cap = 64 + j->correlation_len;
    uint8_t *props = malloc(props_cap);
    struct message_extra extra = {.props = props};
    extra.props_len = props ? (uint32_t)history_props(j, props, props_cap) : 0;
    struct message *msg =
        jb.oom || !props ? NULL
                         : message_new(j->topic, strlen(j->topic), (const uint8_t *)jb.p, jb.len,
                                       j->qos, false, &extra);
    jbuf_free(&jb);
    free(props);
    if (msg) {
        msg->chat = true;
        struct delivery d = {.qos = j->qos};
        session_deliver(s, msg, &d);
        message_unref(msg);
    } else {
        log_warn("chat: a history answer to '%s' lost: out of memory", j->client_id);
    }
    history_job_free(j);
}

/* May s read room t? NULL, or the refusal's reason. */
static const char *may_read_room(struct chat *ch, const struct session *s,
                                 const struct chat_topic *t)
{
    struct chat_room_info info;
    if (!chat_dir_room_get(ch->dir, t->name, t->name_len, &info))
        return "unknown_room";
    if (info.is_private && s->role != CHAT_ROLE_SERVICE &&
        chat_dir_member_role(ch->dir, t->name, t->name_len, s->username, strlen(s->username)) <
            0)
        return "not_member";
    return NULL;
}

/* Where the answer goes: the response topic (MQTT 5), else the user's
 * events topic. False when out of memory. */
static bool history_reply_to(struct chat *ch, const struct conn *c,
                             const struct mqtt5_props *props, struct history_job *j)
{
    if (props && props->response_topic.s && props->response_topic.len) {
        j->topic = strndup(props->response_topic.s, props->response_topic.len);
        if (props->correlation_data.s) {
            j->correlation_len = props->correlation_data.len;
            j->correlation = malloc(j->correlation_len ? j->correlation_len : 1);
            if (!j->correlation)
                return false;
            memcpy(j->correlation, props->correlation_data.s, j->correlation_len);
        }
    } else {
        char events[LIVE_TOPIC_MAX];
        snprintf(events, sizeof(events), "%s/user/%s/events", ch->prefix, c->s->username);
        j->topic = strdup(events);
    }
    return j->topic != NULL;
}

const char *chat_history_request(struct chat *ch, struct conn *c, const struct mqtt_publish *p,
                                 const struct mqtt5_props *props, const struct chat_topic *t)
{
    const char *refused = may_read_room(ch, c->s, t);
    if (refused)
        return refused;
    if (c->history_pending >= HISTORY_PENDING_MAX)
        return "too_many_requests";
    struct history_job *j = calloc(1, sizeof(*j));
    if (!j)
        return "unavailable";
    memcpy(j->room, t->name, t->name_len);
    j->q.room = (struct store_str){j->room, t->name_len};
    if (chat_history_request_parse(p->payload, p->payload_len, c->w->b->cfg->chat_history_window,
                                   now_ms(), &j->q, j->req, &j->has_req) != MQ_OK) {
        history_job_free(j);
        return "bad_request";
    }
    struct chat_live *live = ch->live;
    j->b = c->w->b;
    j->spool = live->spool;
    j->recent = live->recent;
    j->worker = c->w->index;
    j->client_id = strdup(c->s->client_id);
    j->session_uid = c->s->uid;
    j->conn_serial = c->serial;
    j->qos = p->qos > 1 ? 1 : p->qos;
    if (!j->client_id || !history_reply_to(ch, c, c->version == MQTT_V5 ? props : NULL, j)) {
        history_job_free(j);
        return "unavailable";
    }
    c->history_pending++;
    if (!live->history) {
        j->fetched = MQ_ENOTFOUND;
        history_done(&j->base); /* answers {"error":"unavailable"} */
        return NULL;
    }
    j->base.run = history_run;
    j->base.post = history_post;
    j->base.done = history_done;
    store_submit(live->history, &j->base);
    return NULL;
}

/* ---- the tick (main loop) --------------------------------------------------------------------- */

/* A broker-made retained message on topic with json, out to everyone
 * (persisted too when `keep`). */
static void publish_state(struct broker *b, const char *topic, size_t topic_len, const char *json,
                          size_t json_len, bool keep)
{
    struct message *msg =
        message_new(topic, topic_len, (const uint8_t *)json, json_len, 0, true, NULL);
    if (!msg) {
        log_warn("chat: update of '%s' lost: out of memory", topic);
        return;
    }
    msg->chat = true;
    if (keep)
        persist_retained(b, msg);
    broker_publish_external(b, msg);
}

static void emit_user(void *ctx, const char *user, size_t len, const char *json, size_t json_len)
{
    struct broker *b = ctx;
    char topic[LIVE_TOPIC_MAX];
    int n = snprintf(topic, sizeof(topic), "%s/presence/%.*s", b->chat->prefix, (int)len, user);
    publish_state(b, topic, (size_t)n, json, json_len, true);
    atomic_fetch_add_explicit(&b->chat->live->presence_updates, 1, memory_order_relaxed);
}

/* In a cluster: this node's devices of user, for the other nodes. */
static void emit_local(void *ctx, const char *user, size_t len, int devices)
{
    cluster_presence_report(ctx, user, len, devices);
}

static void emit_local_room(void *ctx, const char *room, size_t len, int64_t viewers)
{
    cluster_room_viewers_report(ctx, room, len, viewers);
}

static void emit_room(void *ctx, const char *room, size_t len, const char *json, size_t json_len)
{
    struct broker *b = ctx;
    char topic[LIVE_TOPIC_MAX];
    int n = snprintf(topic, sizeof(topic), "%s/room/%.*s/presence", b->chat->prefix, (int)len,
                     room);
    publish_state(b, topic, (size_t)n, json, json_len, false);
    atomic_fetch_add_explicit(&b->chat->live->presence_updates, 1, memory_order_relaxed);
}

static void emit_unread(void *ctx, const char *user, size_t len, const char *json,
                        size_t json_len)
{
    struct broker *b = ctx;
    char topic[LIVE_TOPIC_MAX];
    int n = snprintf(topic, sizeof(topic), "%s/user/%.*s/events", b->chat->prefix, (int)len, user);
    publish_state(b, topic, (size_t)n, json, json_len, false);
    atomic_fetch_add_explicit(&b->chat->live->unread_updates, 1, memory_order_relaxed);
}

struct totals_write {
    struct store_job base;
    char room[CHAT_NAME_MAX + 1];
    char json[96];
};

static void totals_write_run(struct db *db, struct store_job *job)
{
    struct totals_write *j = (struct totals_write *)job;
    struct store_str room = STORE_STR(j->room), key = STORE_STR("totals");
    job->result = store_setting_put(db, room, key, STORE_STR(j->json));
    if (reconnected(db, job->result))
        job->result = store_setting_put(db, room, key, STORE_STR(j->json));
    if (job->result != MQ_OK)
        log_warn("chat: support totals of '%s' not stored: %s", j->room,
                 mq_strerror(job->result));
}

static void emit_totals(void *ctx, const char *room, size_t len, int64_t cheers, int64_t hearts)
{
    struct broker *b = ctx;
    struct chat *ch = b->chat;
    struct totals_write *j = ch->store ? calloc(1, sizeof(*j)) : NULL;
    if (!j)
        return;
    j->base.run = totals_write_run;
    j->base.post = free_job;
    memcpy(j->room, room, len);
    snprintf(j->json, sizeof(j->json), "{\"cheers\":%lld,\"hearts\":%lld}", (long long)cheers,
             (long long)hearts);
    store_submit(ch->store, &j->base);
}

static bool room_events(void *ctx, const char *room, size_t len)
{
    struct broker *b = ctx;
    return chat_control_presence_events(b->chat->control, room, len);
}

static void on_tick(uv_timer_t *h)
{
    struct broker *b = h->data;
    struct chat *ch = b->chat;
    int64_t now = now_ms();
    struct presence_emit emit = {b,
                                 emit_user,
                                 emit_room,
                                 emit_totals,
                                 room_events,
                                 b->cluster ? emit_local : NULL,
                                 b->cluster ? emit_local_room : NULL};
    presence_tick(ch->presence, now, &emit);
    struct unread_emit ue = {b, emit_unread, store_marker};
    unread_tick(ch->unread, &ue);
    chat_control_sweep(ch->control, message_clock_ms());
}

void chat_live_stats(const struct chat *ch, struct chat_live_stats *out)
{
    *out = (struct chat_live_stats){0};
    struct chat_live *live = ch->live;
    if (!live)
        return;
    out->presence_updates = atomic_load_explicit(&live->presence_updates, memory_order_relaxed);
    out->unread_updates = atomic_load_explicit(&live->unread_updates, memory_order_relaxed);
    out->history_answered = atomic_load_explicit(&live->history_answered, memory_order_relaxed);
    out->history_failed = atomic_load_explicit(&live->history_failed, memory_order_relaxed);
}

void chat_tick_start(struct broker *b, uv_loop_t *loop)
{
    struct chat *ch = b->chat;
    if (!ch || !ch->live)
        return;
    struct chat_live *live = ch->live;
    uint64_t every = b->cfg->chat_presence_interval ? b->cfg->chat_presence_interval : 1000;
    uv_timer_init(loop, &live->timer);
    live->timer.data = b;
    uv_timer_start(&live->timer, on_tick, every, every);
    live->ticking = true;
}

void chat_tick_stop(struct broker *b)
{
    struct chat *ch = b->chat;
    if (!ch || !ch->live || !ch->live->ticking)
        return;
    ch->live->ticking = false;
    uv_close((uv_handle_t *)&ch->live->timer, NULL);
}

/* ---- start-up ------------------------------------------------------------------------------- */

/* A retained presence message of the last run: what it says of last_seen
 * goes to presence; one that still says online is rewritten as offline
 * (nobody is connected to a broker that is starting). */
struct restore_ctx {
    struct broker *b;
    struct message **online; /* messages to rewrite, with a reference each */
    size_t n, cap;
};

static void restore_presence(void *ctx, struct message *msg)
{
    struct restore_ctx *rc = ctx;
    struct chat *ch = rc->b->chat;
    struct chat_topic t;
    if (chat_topic_parse(ch, msg->topic, msg->topic_len, &t) != CHAT_PRESENCE)
        return;
    cJSON *o = cJSON_ParseWithLength((const char *)msg->payload, msg->payload_len);
    const cJSON *seen = cJSON_GetObjectItemCaseSensitive(o, "last_seen");
    if (cJSON_IsNumber(seen))
        presence_restore(ch->presence, t.name, t.name_len, (int64_t)seen->valuedouble);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "online"))) {
        if (rc->n == rc->cap) {
            size_t cap = rc->cap ? rc->cap * 2 : 16;
            struct message **m = realloc(rc->online, cap * sizeof(*m));
            if (m) {
                rc->online = m;
                rc->cap = cap;
            }
        }
        if (rc->n < rc->cap)
            rc->online[rc->n++] = message_ref(msg);
    }
    cJSON_Delete(o);
}

/* Retained messages under the prefix come back from the database as plain
 * messages; only the broker makes them (clients' retains are refused
 * there), so they are the chat layer's again. Start-up only: nobody else
 * holds them yet. */
static void mark_chat(void *ctx, struct message *msg)
{
    msg->chat = true;
}

static void restore_presences(struct broker *b)
{
    struct chat *ch = b->chat;
    char filter[LIVE_TOPIC_MAX];
    int n = snprintf(filter, sizeof(filter), "%s/#", ch->prefix);
    retain_match(b->retain, filter, (size_t)n, mark_chat, NULL);
    n = snprintf(filter, sizeof(filter), "%s/presence/+", ch->prefix);
    struct restore_ctx rc = {b, NULL, 0, 0};
    retain_match(b->retain, filter, (size_t)n, restore_presence, &rc);
    int64_t now = now_ms();
    for (size_t i = 0; i < rc.n; i++) {
        struct message *old = rc.online[i];
        struct chat_topic t;
        chat_topic_parse(ch, old->topic, old->topic_len, &t);
        struct jbuf jb;
        jbuf_init(&jb);
        jbuf_puts(&jb, "{\"type\":\"presence\",\"user\":");
        jbuf_str(&jb, t.name, t.name_len);
        jbuf_printf(&jb, ",\"online\":false,\"devices\":0,\"last_seen\":%lld}", (long long)now);
        presence_restore(ch->presence, t.name, t.name_len, now);
        if (!jb.oom)
            publish_state(b, old->topic, old->topic_len, jb.p, jb.len, true);
        jbuf_free(&jb);
        message_unref(old);
    }
    if (rc.n)
        log_info("chat: %zu users online when the broker last stopped are offline now", rc.n);
    free(rc.online);
}

static void load_setting(void *ctx, struct store_str scope, struct store_str key,
                         struct store_str value)
{
    struct chat *ch = ctx;
    const char *room = scope.len ? scope.s : NULL;
    if (key.len == 7 && memcmp(key.s, "control", 7) == 0) {
        if (chat_control_set(ch->control, room, scope.len, value.s, value.len) != MQ_OK)
            log_warn("chat: the comment control settings of '%.*s' are not valid: ignored",
                     (int)scope.len, scope.len ? scope.s : "(system)");
    } else if (key.len == 6 && memcmp(key.s, "totals", 6) == 0 && room) {
        cJSON *o = cJSON_ParseWithLength(value.s, value.len);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "cheers");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "hearts");
        if (cJSON_IsNumber(c) && cJSON_IsNumber(h))
            presence_room_totals_restore(ch->presence, room, scope.len, (int64_t)c->valuedouble,
                                         (int64_t)h->valuedouble);
        cJSON_Delete(o);
    }
}

static void load_marker(void *ctx, struct store_str user, struct store_str room, int64_t upto)
{
    struct chat *ch = ctx;
    unread_restore_marker(ch->unread, user.s, user.len, room.s, room.len, upto);
}

/* Room names, gathered before asking for each room's latest messages (one
 * query at a time on a connection). */
struct names {
    char (*v)[CHAT_NAME_MAX + 1];
    size_t n, cap;
};

static void add_room_name(void *ctx, const struct store_room *r)
{
    struct names *nm = ctx;
    if (!chat_name_valid(r->name.s, r->name.len))
        return;
    if (nm->n == nm->cap) {
        size_t cap = nm->cap ? nm->cap * 2 : 64;
        void *v = realloc(nm->v, cap * sizeof(*nm->v));
        if (!v)
            return;
        nm->v = v;
        nm->cap = cap;
    }
    memcpy(nm->v[nm->n], r->name.s, r->name.len);
    nm->v[nm->n][r->name.len] = '\0';
    nm->n++;
}

/* A room's latest message ids, gathered from the spool and the archive
 * (newest first, duplicates possible) before they go to unread in
 * ascending order. */
struct latest_ids {
    int64_t *v;
    size_t n, cap;
};

static void add_latest(void *ctx, const struct store_message *m)
{
    struct latest_ids *l = ctx;
    if (m->type.len == 6 && memcmp(m->type.s, "system", 6) == 0)
        return; /* notifications are not counted as unread while running either */
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        int64_t *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = m->id;
}

static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Each room's latest messages (the archive's and the spool's), for the
 * unread counts. */
static void load_latest(struct broker *b, struct db *db, struct db *spool)
{
    struct chat *ch = b->chat;
    struct names nm = {0};
    if (store_room_list(db, add_room_name, &nm) != MQ_OK)
        log_warn("chat: rooms not listed: unread counts start from now");
    struct latest_ids ids = {0};
    for (size_t i = 0; i < nm.n; i++) {
        /* chat.unread_max is at most 999: its + 1 is a page of history. */
        struct store_history_query q = {.room = STORE_STR(nm.v[i]),
                                        .limit = (int)b->cfg->chat_unread_max + 1};
        ids.n = 0;
        if (spool)
            store_history_spool(spool, &q, add_latest, &ids);
        store_history(db, &q, add_latest, &ids);
        if (ids.n)
            qsort(ids.v, ids.n, sizeof(*ids.v), id_cmp);
        for (size_t k = 0; k < ids.n; k++)
            unread_restore_id(ch->unread, nm.v[i], strlen(nm.v[i]), ids.v[k]);
    }
    free(ids.v);
    free(nm.v);
}

int chat_live_open(struct broker *b, struct db *db)
{
    struct chat *ch = b->chat;
    const struct config *cfg = b->cfg;
    struct presence_config pc = {cfg->chat_presence_grace, cfg->chat_presence_max_names};
    if (!(ch->live = calloc(1, sizeof(*ch->live))) || !(ch->presence = presence_new(&pc)) ||
        !(ch->unread = unread_new(ch->dir, cfg->chat_unread_max)) ||
        !(ch->control = chat_control_new()))
        return MQ_ENOMEM;
    ch->live->b = b;
    restore_presences(b);
    if (!db)
        return MQ_OK;
    if (store_setting_list(db, load_setting, ch) == MQ_OK)
        ch->settings_loaded = true;
    else
        log_warn("chat: settings not loaded: comment control is off, and cannot be changed, "
                 "until a restart loads them");
    if (store_read_marker_list(db, load_marker, ch) != MQ_OK)
        log_warn("chat: read markers not loaded");
    if (db_backend(db) == DB_MYSQL && b->storage &&
        db_open_sqlite(b->storage->db_path, (enum db_durability)cfg->store_durability,
                       &ch->live->spool) != MQ_OK)
        log_warn("chat: history over MQTT reads the archive only (the spool is not readable)");
    load_latest(b, db, db_backend(db) == DB_SQLITE ? db : ch->live->spool);
    ch->live->recent = cluster_recent_open(b);
    struct db *hdb = NULL;
    if (chat_db_open(b, &hdb) == MQ_OK && !(ch->live->history = store_start(hdb)))
        db_close(hdb);
    if (!ch->live->history)
        log_warn("chat: history over MQTT is unavailable (no database connection)");
    return MQ_OK;
}

void chat_live_close(struct chat *ch)
{
    if (ch->live && ch->presence) {
        /* The support totals and the read markers moved in the last
         * interval, to the chat store (stopped after us): nothing else of
         * the tick outlives the run. */
        struct presence_emit last = {.ctx = ch->live->b, .totals = emit_totals};
        presence_tick(ch->presence, now_ms(), &last);
        struct unread_emit markers = {.ctx = ch->live->b, .marker = store_marker};
        if (ch->unread)
            unread_tick(ch->unread, &markers);
    }
    if (ch->live) {
        store_stop(ch->live->history);
        if (ch->live->spool)
            db_close(ch->live->spool);
        redis_recent_free(ch->live->recent);
        free(ch->live);
        ch->live = NULL;
    }
    presence_free(ch->presence);
    unread_free(ch->unread);
    chat_control_free(ch->control);
    ch->presence = NULL;
    ch->unread = NULL;
    ch->control = NULL;
}
