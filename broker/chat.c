/*
 * chat.c - the chat policy (see chat.h): who logs in, who may subscribe,
 * publish and read what under the chat prefix, and the envelope a chat
 * publish becomes.
 *
 * Everything on the publish and delivery paths is answered from the
 * directory in memory (chat_dir.h). The only database writes made here are
 * the ones a worker causes by itself (a public room joined by subscribing,
 * a room created on first use): the directory changes at once and the row
 * is queued to the chat store thread. Messages are archived through the
 * spool (storage.h) by the caller (handle_publish.c), or here for
 * notifications from the HTTP API.
 *
 * Not here: the HTTP API (http_api.c), the wire (handle_*.c), routing
 * (router.c).
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "chat.h"
#include "cluster.h"
#include "conn.h"
#include "db.h"
#include "errors.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "message.h"
#include "mqtt5.h"
#include "mqtt_codec.h"
#include "msgid.h"
#include "chat_control.h"
#include "chat_live.h"
#include "presence.h"
#include "router.h"
#include "unread.h"
#include "session.h"
#include "storage.h"
#include "store.h"
#include "topic.h"
#include "worker.h"

#define MAX_META_BYTES 4096
#define MAX_JSON_DEPTH 8

/* ---- topics ----------------------------------------------------------- */

static bool same_name(const char *a, size_t alen, const char *b, size_t blen)
{
    return a && b && alen == blen && memcmp(a, b, alen) == 0;
}

/* True when topic starts with the prefix and a '/': *rest gets the levels
 * after it. */
static bool under_prefix(const struct chat *ch, const char *topic, size_t len, const char **rest,
                         size_t *rest_len)
{
    if (len <= ch->prefix_len || topic[ch->prefix_len] != '/' ||
        memcmp(topic, ch->prefix, ch->prefix_len) != 0)
        return false;
    *rest = topic + ch->prefix_len + 1;
    *rest_len = len - ch->prefix_len - 1;
    return true;
}

enum chat_kind chat_topic_parse(const struct chat *ch, const char *topic, size_t len,
                                struct chat_topic *out)
{
    *out = (struct chat_topic){CHAT_NOT_CHAT, NULL, 0};
    const char *rest;
    size_t rest_len;
    if (!under_prefix(ch, topic, len, &rest, &rest_len))
        return len == ch->prefix_len && memcmp(topic, ch->prefix, len) == 0
                   ? (out->kind = CHAT_INVALID)
                   : CHAT_NOT_CHAT;
    struct topic_level lv[4];
    size_t n = topic_levels(rest, rest_len, lv, 4);
    out->kind = CHAT_INVALID;
    if (n == 1 && topic_level_is(&lv[0], "system"))
        return out->kind = CHAT_SYSTEM;
    if (n < 2 || n > 3 || !chat_name_valid(lv[1].s, lv[1].len))
        return out->kind;
    out->name = lv[1].s;
    out->name_len = lv[1].len;
    if (topic_level_is(&lv[0], "room")) {
        if (n == 2)
            out->kind = CHAT_ROOM;
        else if (topic_level_is(&lv[2], "presence"))
            out->kind = CHAT_ROOM_PRESENCE;
        else if (topic_level_is(&lv[2], "read"))
            out->kind = CHAT_ROOM_READ;
        else if (topic_level_is(&lv[2], "history"))
            out->kind = CHAT_ROOM_HISTORY;
        else if (topic_level_is(&lv[2], "system"))
            out->kind = CHAT_ROOM_SYSTEM;
    } else if (topic_level_is(&lv[0], "dm") && n == 2) {
        out->kind = CHAT_DM;
    } else if (topic_level_is(&lv[0], "user") && n == 3 && topic_level_is(&lv[2], "events")) {
        out->kind = CHAT_USER_EVENTS;
    } else if (topic_level_is(&lv[0], "presence") && n == 2) {
        out->kind = CHAT_PRESENCE;
    }
    if (out->kind == CHAT_INVALID)
        out->name = NULL, out->name_len = 0;
    return out->kind;
}

bool chat_topic_archived(enum chat_kind k)
{
    return k == CHAT_ROOM || k == CHAT_DM || k == CHAT_SYSTEM || k == CHAT_ROOM_SYSTEM;
}

static bool is_room_kind(enum chat_kind k)
{
    return k == CHAT_ROOM || k == CHAT_ROOM_PRESENCE || k == CHAT_ROOM_READ ||
           k == CHAT_ROOM_HISTORY || k == CHAT_ROOM_SYSTEM;
}

/* ---- database writes queued by the workers ------------------------------ */

/* A membership or a room to write, fire and forget: the directory has it
 * already; a failure is logged (the row comes back at the next join). */
struct dir_write {
    struct store_job base;
    bool room;  /* also write the room (created on first use) */
    bool leave; /* remove the membership instead (a join taken back) */
    char room_name[CHAT_NAME_MAX + 1];
    char user[CHAT_NAME_MAX + 1];
    enum chat_member_role role;
    int64_t now_ms;
};

static void found_room(void *ctx, const struct store_room *r)
{
    *(bool *)ctx = true;
}

static void dir_write_run(struct db *db, struct store_job *job)
{
    struct dir_write *j = (struct dir_write *)job;
    struct store_str room = STORE_STR(j->room_name), user = STORE_STR(j->user);
    job->result = MQ_OK;
    if (j->leave) {
        job->result = store_member_delete(db, room, user);
        if (job->result != MQ_OK && job->result != MQ_ENOTFOUND)
            log_warn("chat: membership of '%s' in room '%s' not removed: %s", j->user,
                     j->room_name, mq_strerror(job->result));
        return;
    }
    if (j->room) { /* made on first use: never replaces a room the database has */
        bool exists = false;
        job->result = store_room_get(db, room, found_room, &exists);
        if (job->result == MQ_ENOTFOUND) {
            struct store_room r = {.name = room, .owner = user, .created_ms = j->now_ms};
            job->result = store_room_put(db, &r);
        } else if (job->result == MQ_OK && exists) {
            log_warn("chat: room '%s' made on first use here exists in the database already; "
                     "the database's stays",
                     j->room_name);
            return;
        }
    }
    if (job->result == MQ_OK) {
        struct store_member m = {room, user, (enum store_role)j->role, j->now_ms};
        job->result = store_member_put(db, &m);
    }
    if (job->result != MQ_OK)
        log_warn("chat: membership of '%s' in room '%s' not stored: %s", j->user, j->room_name,
                 mq_strerror(job->result));
}

static void dir_write_post(void *ctx, struct store_job *job)
{
    free(job);
}

static void queue_dir_write(struct chat *ch, const char *room, size_t room_len, const char *user,
                            size_t user_len, enum chat_member_role role, bool new_room,
                            bool leave)
{
    if (!ch->store)
        return;
    struct dir_write *j = calloc(1, sizeof(*j));
    if (!j) {
        log_warn("chat: membership of '%.*s' not stored: out of memory", (int)user_len, user);
        return;
    }
    j->base.run = dir_write_run;
    j->base.post = dir_write_post;
    j->room = new_room;
    j->leave = leave;
    memcpy(j->room_name, room, room_len);
    memcpy(j->user, user, user_len);
    j->role = role;
    j->now_ms = (int64_t)msgid_now_ms();
    store_submit(ch->store, &j->base);
}

/* Creates a public room owned by user (chat.auto_create_rooms). MQ_EEXIST
 * when another thread made it meanwhile (it is left as it is: the caller
 * looks again); MQ_EAGAIN while the directory could not be loaded (a room
 * the database holds may be missing from it). */
static int room_create_on_first_use(struct chat *ch, const char *room, size_t room_len,
                                    const char *user, size_t user_len)
{
    if (!ch->dir_loaded)
        return MQ_EAGAIN;
    if (user_len > CHAT_NAME_MAX)
        return MQ_EINVAL;
    struct chat_room_info info = {.created_ms = (int64_t)msgid_now_ms()};
    memcpy(info.owner, user, user_len);
    int rc = chat_dir_room_add(ch->dir, room, room_len, &info);
    if (rc == MQ_OK)
        rc = chat_dir_member_put(ch->dir, room, room_len, user, user_len, CHAT_OWNER);
    if (rc == MQ_OK) {
        queue_dir_write(ch, room, room_len, user, user_len, CHAT_OWNER, true, false);
        unread_join(ch->unread, user, user_len, room, room_len);
        log_info("chat: room '%.*s' created by '%.*s' on first use", (int)room_len, room,
                 (int)user_len, user);
    }
    return rc;
}

/* ---- authentication ----------------------------------------------------- */

int chat_authenticate(struct chat *ch, const char *user, size_t user_len, const uint8_t *password,
                      size_t password_len, int64_t now_s, enum chat_role *role, char *hash,
                      size_t hashlen)
{
    if (!chat_name_valid(user, user_len))
        return MQ_ENOTFOUND;
    const char *pw = (const char *)password;
    if (pw && ch->token_secret && jwt_is_token_shaped(pw, password_len)) {
        struct jwt_claims c;
        if (jwt_verify(ch->token_secret, ch->token_secret_len, pw, password_len, now_s, &c) !=
                MQ_OK ||
            !same_name(c.sub, strlen(c.sub), user, user_len))
            return MQ_EDENIED;
        if (c.role[0])
            return chat_role_parse(c.role, strlen(c.role), role) == MQ_OK ? MQ_OK : MQ_EDENIED;
        if (!chat_dir_user_get(ch->dir, user, user_len, role, NULL, 0))
            *role = CHAT_ROLE_USER; /* minted by an integrator for its own user */
        return MQ_OK;
    }
    if (!chat_dir_user_get(ch->dir, user, user_len, role, hash, hashlen))
        return MQ_ENOTFOUND;
    return pw && hash[0] ? MQ_EAGAIN : MQ_EDENIED;
}

/* ---- subscribing -------------------------------------------------------- */

/* A room filter: {p}/room/{room}[/presence|/system|/+|/#]. *joined: this
 * call made the user a member of a public room. */
static int subscribe_room(struct chat *ch, const struct session *s, const struct topic_level *lv,
                          size_t n, bool *joined)
{
    const struct topic_level *room = &lv[1];
    if (!chat_name_valid(room->s, room->len))
        return MQTT5_RC_NOT_AUTHORIZED;
    if (n == 3 && !topic_level_is(&lv[2], "presence") && !topic_level_is(&lv[2], "system") &&
        !topic_level_is(&lv[2], "+") && !topic_level_is(&lv[2], "#"))
        return MQTT5_RC_NOT_AUTHORIZED;
    const char *user = s->username;
    size_t user_len = strlen(user);
    bool viewer_only = n == 3 || s->role == CHAT_ROLE_DISPLAY;
    struct chat_room_info info;
    if (!chat_dir_room_get(ch->dir, room->s, room->len, &info)) {
        if (!ch->auto_create_rooms || viewer_only)
            return MQTT5_RC_NOT_AUTHORIZED;
        int rc = room_create_on_first_use(ch, room->s, room->len, user, user_len);
        if (rc == MQ_EEXIST) /* made meanwhile: judge it as it is */
            return subscribe_room(ch, s, lv, n, joined);
        return rc == MQ_OK ? 0 : MQTT5_RC_NOT_AUTHORIZED;
    }
    int role = chat_dir_member_role(ch->dir, room->s, room->len, user, user_len);
    if (role >= 0)
        return 0;
    if (info.is_private)
        return MQTT5_RC_NOT_AUTHORIZED;
    if (viewer_only)
        return 0;
    /* Subscribing to a public room joins it. */
    int rc = chat_dir_member_put(ch->dir, room->s, room->len, user, user_len, CHAT_MEMBER);
    if (rc == MQ_EFULL)
        return MQTT5_RC_QUOTA_EXCEEDED;
    if (rc != MQ_OK)
        return MQTT5_RC_UNSPECIFIED_ERROR;
    queue_dir_write(ch, room->s, room->len, user, user_len, CHAT_MEMBER, false, false);
    unread_join(ch->unread, user, user_len, room->s, room->len);
    *joined = true;
    return 0;
}

int chat_subscribe_check(struct chat *ch, const struct session *s, const char *filter, size_t len,
                         bool *joined)
{
    *joined = false;
    const char *rest;
    size_t rest_len;
    bool exact = len == ch->prefix_len && memcmp(filter, ch->prefix, len) == 0;
    if (!exact && !under_prefix(ch, filter, len, &rest, &rest_len))
        return -1;
    if (!s->username || s->role == CHAT_ROLE_NONE)
        return MQTT5_RC_NOT_AUTHORIZED;
    if (s->role == CHAT_ROLE_SERVICE)
        return 0;
    if (exact)
        return MQTT5_RC_NOT_AUTHORIZED;
    struct topic_level lv[4];
    size_t n = topic_levels(rest, rest_len, lv, 4);
    if (n > 4)
        return MQTT5_RC_NOT_AUTHORIZED;
    const char *me = s->username;
    size_t me_len = strlen(me);
    if (n == 1)
        return topic_level_is(&lv[0], "system") ? 0 : MQTT5_RC_NOT_AUTHORIZED;
    if (topic_level_is(&lv[0], "room") && n <= 3)
        return subscribe_room(ch, s, lv, n, joined);
    bool mine = same_name(lv[1].s, lv[1].len, me, me_len);
    if (topic_level_is(&lv[0], "dm") && mine && (n == 2 || (n == 3 && topic_level_is(&lv[2], "#"))))
        return 0;
    if (topic_level_is(&lv[0], "user") && mine && n == 3 &&
        (topic_level_is(&lv[2], "events") || topic_level_is(&lv[2], "#") || topic_level_is(&lv[2], "+")))
        return 0;
    if (topic_level_is(&lv[0], "user") && mine && n == 4 && topic_level_is(&lv[2], "events") &&
        topic_level_is(&lv[3], "#"))
        return 0;
    if (topic_level_is(&lv[0], "presence") && n == 2 && chat_name_valid(lv[1].s, lv[1].len))
        return 0;
    return MQTT5_RC_NOT_AUTHORIZED;
}

void chat_subscribe_undo_join(struct chat *ch, const struct session *s, const char *filter,
                              size_t len)
{
    struct chat_topic t;
    /* The filter joined through {p}/room/{room}: its second level. */
    const char *rest;
    size_t rest_len;
    if (!under_prefix(ch, filter, len, &rest, &rest_len))
        return;
    struct topic_level lv[3];
    if (topic_levels(rest, rest_len, lv, 3) < 2 || !topic_level_is(&lv[0], "room"))
        return;
    t.name = lv[1].s;
    t.name_len = lv[1].len;
    size_t user_len = strlen(s->username);
    if (chat_dir_member_role(ch->dir, t.name, t.name_len, s->username, user_len) != CHAT_MEMBER ||
        chat_dir_member_delete(ch->dir, t.name, t.name_len, s->username, user_len) != MQ_OK)
        return;
    queue_dir_write(ch, t.name, t.name_len, s->username, user_len, CHAT_MEMBER, false, true);
}

/* ---- delivery ----------------------------------------------------------- */

bool chat_reader_prepare(struct chat *ch, const struct message *msg, struct chat_reader *r)
{
    if (chat_topic_parse(ch, msg->topic, msg->topic_len, &r->t) == CHAT_NOT_CHAT)
        return false;
    r->made_by_chat = msg->chat;
    r->shadow = msg->shadow;
    r->sender = msg->sender;
    r->sender_len = msg->sender_len;
    /* One directory lookup per message: the room's kind, and whether
     * anyone blocks the sender of a room message. */
    bool room = is_room_kind(r->t.kind);
    const char *sender = r->t.kind == CHAT_ROOM ? msg->sender : NULL;
    if (!room && !sender) {
        r->room = READER_NO_ROOM;
        r->sender_blocked = false;
        return true;
    }
    int kind = chat_dir_reader_lookup(ch->dir, room ? r->t.name : NULL, r->t.name_len, sender,
                                      msg->sender_len, &r->sender_blocked);
    r->room = kind < 0 ? READER_NO_ROOM : kind ? READER_PRIVATE_ROOM : READER_PUBLIC_ROOM;
    return true;
}

bool chat_reader_allows(struct chat *ch, const struct chat_reader *r, const struct session *s)
{
    if (!r->made_by_chat || !s->username || s->role == CHAT_ROLE_NONE)
        return false;
    const struct chat_topic *t = &r->t;
    size_t user_len = strlen(s->username);
    if (r->shadow) /* blocked in the room: the sender's own devices only */
        return same_name(r->sender, r->sender_len, s->username, user_len);
    if (s->role == CHAT_ROLE_SERVICE)
        return true;
    if (r->sender_blocked && chat_dir_user_blocks(ch->dir, s->username, user_len, r->sender,
                                                  r->sender_len))
        return false;
    switch (t->kind) {
    case CHAT_ROOM:
    case CHAT_ROOM_PRESENCE:
    case CHAT_ROOM_SYSTEM:
        if (r->room != READER_PRIVATE_ROOM)
            return r->room == READER_PUBLIC_ROOM;
        return chat_dir_member_role(ch->dir, t->name, t->name_len, s->username, user_len) >= 0;
    case CHAT_DM:
    case CHAT_USER_EVENTS:
        return same_name(t->name, t->name_len, s->username, user_len);
    case CHAT_PRESENCE: /* not to those the user blocks */
        return !chat_dir_user_blocks(ch->dir, t->name, t->name_len, s->username, user_len);
    case CHAT_SYSTEM:
        return true;
    default:
        return false;
    }
}

/* ---- publishing --------------------------------------------------------- */

/* Why a publish is refused: its reason code and the notice's word. */
struct refusal {
    uint8_t code;
    const char *reason;
};

/* Tells user why a publish on topic was refused, on {p}/user/{user}/events
 * (QoS 0, from the broker). */
static void send_notice(struct chat *ch, struct worker *w, const char *user, const char *topic,
                        size_t topic_len, const struct refusal *why)
{
    char events[CHAT_NAME_MAX + 128];
    int n = snprintf(events, sizeof(events), "%s/user/%s/events", ch->prefix, user);
    if (n <= 0 || (size_t)n >= sizeof(events))
        return;
    struct jbuf jb;
    jbuf_init(&jb);
    jbuf_puts(&jb, "{\"type\":\"notice\",\"event\":\"rejected\",\"topic\":");
    jbuf_str(&jb, topic, topic_len);
    jbuf_puts(&jb, ",\"reason\":");
    jbuf_str(&jb, why->reason, strlen(why->reason));
    jbuf_printf(&jb, ",\"code\":%u}", why->code);
    struct message *msg =
        jb.oom ? NULL
               : message_new(events, (size_t)n, (const uint8_t *)jb.p, jb.len, 0, false, NULL);
    jbuf_free(&jb);
    if (msg) {
        msg->chat = true;
        router_publish(w, msg);
    }
}

/* Checks that user (with role) may publish on t. Returns true, or false
 * with *why. Creates the room on first use when so configured. */
static bool may_post(struct chat *ch, const char *user, enum chat_role role,
                     const struct chat_topic *t, struct refusal *why)
{
    size_t user_len = strlen(user);
    if (role == CHAT_ROLE_DISPLAY) {
        *why = (struct refusal){MQTT5_RC_NOT_AUTHORIZED, "read_only"};
        return false;
    }
    struct chat_room_info info;
    switch (t->kind) {
    case CHAT_ROOM:
    case CHAT_ROOM_SYSTEM:
        if (t->kind == CHAT_ROOM_SYSTEM && role != CHAT_ROLE_SERVICE) {
            *why = (struct refusal){MQTT5_RC_NOT_AUTHORIZED, "service_only"};
            return false;
        }
        if (!chat_dir_room_get(ch->dir, t->name, t->name_len, &info)) {
            int rc = ch->auto_create_rooms && t->kind == CHAT_ROOM
                         ? room_create_on_first_use(ch, t->name, t->name_len, user, user_len)
                         : MQ_ENOTFOUND;
            if (rc == MQ_OK)
                return true;
            if (rc == MQ_EEXIST) /* made meanwhile: judge it as it is */
                return may_post(ch, user, role, t, why);
            *why = (struct refusal){MQTT5_RC_TOPIC_NAME_INVALID, "unknown_room"};
            return false;
        }
        if (info.is_private && role != CHAT_ROLE_SERVICE &&
            chat_dir_member_role(ch->dir, t->name, t->name_len, user, user_len) < 0) {
            *why = (struct refusal){MQTT5_RC_NOT_AUTHORIZED, "not_member"};
            return false;
        }
        return true;
    case CHAT_SYSTEM:
        if (role != CHAT_ROLE_SERVICE) {
            *why = (struct refusal){MQTT5_RC_NOT_AUTHORIZED, "service_only"};
            return false;
        }
        return true;
    case CHAT_DM:
        return true;
    case CHAT_USER_EVENTS: /* a notification to that user: the service's, as over HTTP */
        if (role != CHAT_ROLE_SERVICE) {
            *why = (struct refusal){MQTT5_RC_NOT_AUTHORIZED, "broker_only"};
            return false;
        }
        return true;
    case CHAT_INVALID:
        *why = (struct refusal){MQTT5_RC_TOPIC_NAME_INVALID, "bad_topic"};
        return false;
    default:
        *why = (struct refusal){MQTT5_RC_NOT_AUTHORIZED, "broker_only"};
        return false;
    }
}

/* The envelope message on topic, with the MQTT 5 properties of id/from. */
static struct message *envelope_message(const char *topic, size_t topic_len, const struct jbuf *env,
                                        uint8_t qos, uint64_t id, const char *from, size_t from_len,
                                        uint64_t origin)
{
    uint8_t props[256 + 2 * CHAT_NAME_MAX];
    struct message_extra extra = {.origin = origin, .sender = from, .sender_len = from_len};
    extra.props = props;
    extra.props_len = (uint32_t)envelope_v5_props(props, sizeof(props), id, from, from_len);
    if (!extra.props_len)
        return NULL;
    struct message *msg =
        message_new(topic, topic_len, (const uint8_t *)env->p, env->len, qos, false, &extra);
    if (msg)
        msg->chat = true;
    return msg;
}

/* Orders the two users of a DM bytewise (as the archive keys them). */
static void dm_pair(struct chat_post *post, const char *a, size_t alen, const char *b, size_t blen)
{
    size_t min = alen < blen ? alen : blen;
    int cmp = memcmp(a, b, min);
    bool a_first = cmp < 0 || (cmp == 0 && alen <= blen);
    const char *lo = a_first ? a : b, *hi = a_first ? b : a;
    size_t lo_len = a_first ? alen : blen, hi_len = a_first ? blen : alen;
    memcpy(post->dm_low, lo, lo_len);
    post->dm_low[lo_len] = '\0';
    memcpy(post->dm_high, hi, hi_len);
    post->dm_high[hi_len] = '\0';
}

/*
 * Stamps in as a message on topic t and fills post: msg[0] on topic, and
 * for a DM the sender's copy on {p}/dm/{sender}. MQ_OK or MQ_ENOMEM.
 */
static int stamp(struct chat *ch, uint64_t id, const char *topic, size_t topic_len,
                 const struct chat_topic *t, const char *from, uint8_t qos, uint64_t origin,
                 const struct envelope_in *in, struct chat_post *post)
{
    size_t from_len = strlen(from);
    memset(post, 0, sizeof(*post));
    if (from_len > CHAT_NAME_MAX)
        return MQ_EINVAL; /* callers pass user ids only (chat_name_valid) */
    post->id = id;
    snprintf(post->type, sizeof(post->type), "%s", in->type);
    memcpy(post->sender, from, from_len);
    struct envelope_stamp st = {
        .id = id, .from = from, .from_len = from_len, .ts_ms = msgid_time_ms(id)};
    if (is_room_kind(t->kind)) {
        st.room = t->name;
        st.room_len = t->name_len;
    } else if (t->kind == CHAT_DM || t->kind == CHAT_USER_EVENTS) {
        st.to = t->name;
        st.to_len = t->name_len;
    }
    struct jbuf deco, env;
    jbuf_init(&deco);
    jbuf_init(&env);
    if (chat_dir_deco_append(ch->dir, from, from_len, &deco) && !deco.oom) {
        st.deco = deco.p;
        st.deco_len = deco.len;
    }
    envelope_write(&env, in, &st);
    int rc = MQ_ENOMEM;
    if (env.oom)
        goto out;
    post->msg[0] = envelope_message(topic, topic_len, &env, qos, id, from, from_len, origin);
    if (!post->msg[0])
        goto out;
    /* msg[0]'s topic outlives the post: point the row's names into it. */
    size_t name_off = t->name ? (size_t)(t->name - topic) : 0;
    if (is_room_kind(t->kind)) {
        post->room = post->msg[0]->topic + name_off;
        post->room_len = t->name_len;
    }
    if (t->kind == CHAT_DM) {
        dm_pair(post, t->name, t->name_len, from, from_len);
        if (!same_name(t->name, t->name_len, from, from_len)) {
            char own[CHAT_NAME_MAX + 128];
            int n = snprintf(own, sizeof(own), "%s/dm/%s", ch->prefix, from);
            post->msg[1] = envelope_message(own, (size_t)n, &env, qos, id, from, from_len, origin);
            if (!post->msg[1])
                goto out;
        }
    }
    rc = MQ_OK;
out:
    if (rc != MQ_OK)
        chat_post_free(post);
    jbuf_free(&deco);
    jbuf_free(&env);
    return rc;
}

static uint64_t next_id(struct broker *b)
{
    return msgid_next(&b->storage->ids);
}

/* The reason code of a read marker's or history request's refusal
 * (chat_live.h names them). */
static uint8_t request_refusal_code(const char *reason)
{
    static const struct refusal codes[] = {
        {MQTT5_RC_PAYLOAD_FORMAT_INVALID, "bad_request"},
        {MQTT5_RC_TOPIC_NAME_INVALID, "unknown_room"},
        {MQTT5_RC_QUOTA_EXCEEDED, "too_many_requests"},
        {MQTT5_RC_UNSPECIFIED_ERROR, "unavailable"},
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(codes[i].reason, reason) == 0)
            return codes[i].code;
    return MQTT5_RC_NOT_AUTHORIZED;
}

/*
 * Comment control and blocks for a user's room message or DM (in parsed,
 * its text masked in place when the filter says so). True when it may go
 * on (*shadow: to the sender's own devices only), else false with *why.
 */
static bool moderate(struct chat *ch, const char *user, const struct chat_topic *t,
                     struct envelope_in *in, bool *shadow, struct refusal *why, int *rc)
{
    size_t user_len = strlen(user);
    struct control_post cp = {.user = user,
                              .user_len = user_len,
                              .text = in->text,
                              .text_len = in->text_len,
                              .now_ms = message_clock_ms()}; /* the sweep's clock */
    if (t->kind == CHAT_ROOM) {
        cp.room = t->name;
        cp.room_len = t->name_len;
        cp.member_role = chat_dir_member_role(ch->dir, t->name, t->name_len, user, user_len);
        *shadow = chat_dir_room_blocked(ch->dir, t->name, t->name_len, user, user_len);
    } else if (chat_dir_user_blocks(ch->dir, t->name, t->name_len, user, user_len)) {
        *why = (struct refusal){MQTT5_RC_NOT_AUTHORIZED, "blocked"};
        return false;
    }
    struct control_verdict v;
    if ((*rc = chat_control_check(ch->control, &cp, &v)) != MQ_OK)
        return false;
    if (v.code) {
        *why = (struct refusal){v.code, v.reason};
        return false;
    }
    if (v.masked) {
        free(in->text);
        in->text = v.masked;
        in->text_len = v.masked_len;
    }
    return true;
}

void chat_post_routed(struct chat *ch, const struct chat_post *post)
{
    if (!post->room || post->shadow || strcmp(post->type, "system") == 0)
        return;
    size_t sender_len = strlen(post->sender);
    unread_message(ch->unread, post->room, post->room_len, (int64_t)post->id, post->sender,
                   sender_len);
    int64_t cheers = strcmp(post->type, "cheer") == 0 ? post->amount : 0;
    int64_t hearts = strcmp(post->type, "heart") == 0 ? post->amount : 0;
    if (post->amount)
        presence_room_support(ch->presence, post->room, post->room_len, cheers, hearts);
    cluster_room_post(ch->b, post->room, post->room_len, post->id, post->sender, sender_len,
                      cheers, hearts);
}

int chat_publish(struct chat *ch, struct conn *c, const struct mqtt_publish *p,
                 const struct mqtt5_props *props, const struct chat_topic *t,
                 struct chat_post *post)
{
    const struct session *s = c->s;
    memset(post, 0, sizeof(*post));
    struct refusal why = {MQTT5_RC_NOT_AUTHORIZED, NULL};
    if (!s->username || s->role == CHAT_ROLE_NONE ||
        !chat_name_valid(s->username, strlen(s->username))) {
        atomic_fetch_add_explicit(&ch->refused, 1, memory_order_relaxed);
        return MQTT5_RC_NOT_AUTHORIZED; /* anonymous: no events topic to tell */
    }
    const char *user = s->username;
    enum chat_role role = (enum chat_role)s->role;
    struct envelope_in in = {0};
    int rc = MQTT5_RC_SUCCESS;
    if (t->kind == CHAT_ROOM_READ || t->kind == CHAT_ROOM_HISTORY) {
        const char *reason = t->kind == CHAT_ROOM_READ
                                 ? chat_read_request(ch, c, p, t)
                                 : chat_history_request(ch, c, p, props, t);
        if (!reason)
            return MQTT5_RC_SUCCESS; /* consumed: post stays empty */
        why = (struct refusal){request_refusal_code(reason), reason};
        goto refuse;
    }
    if (!may_post(ch, user, role, t, &why))
        goto refuse;
    bool system =
        t->kind == CHAT_SYSTEM || t->kind == CHAT_ROOM_SYSTEM || t->kind == CHAT_USER_EVENTS;
    int st = envelope_parse(p->payload, p->payload_len, &ch->limits, system, &in);
    int64_t amount = 0;
    if (st == ENVELOPE_OK && !system)
        st = envelope_amount(&in, &amount);
    if (st < 0) {
        envelope_in_free(&in);
        return MQ_ENOMEM;
    }
    if (st != ENVELOPE_OK) {
        why = (struct refusal){MQTT5_RC_PAYLOAD_FORMAT_INVALID, envelope_status_name(st)};
        goto refuse;
    }
    if (system)
        snprintf(in.type, sizeof(in.type), "system");
    bool shadow = false;
    if (role != CHAT_ROLE_SERVICE && (t->kind == CHAT_ROOM || t->kind == CHAT_DM) &&
        !moderate(ch, user, t, &in, &shadow, &why, &rc)) {
        if (rc != MQ_OK) {
            envelope_in_free(&in);
            return rc;
        }
        goto refuse;
    }
    rc = stamp(ch, next_id(c->w->b), p->topic.s, p->topic.len, t, user, p->qos, s->uid, &in, post);
    envelope_in_free(&in);
    if (rc != MQ_OK)
        return rc;
    post->shadow = shadow;
    post->amount = amount;
    post->msg[0]->shadow = shadow;
    atomic_fetch_add_explicit(&ch->accepted, 1, memory_order_relaxed);
    return MQTT5_RC_SUCCESS;
refuse:
    envelope_in_free(&in);
    atomic_fetch_add_explicit(&ch->refused, 1, memory_order_relaxed);
    send_notice(ch, c->w, user, p->topic.s, p->topic.len, &why);
    return why.code;
}

void chat_post_free(struct chat_post *post)
{
    for (int i = 0; i < 2; i++) {
        message_unref(post->msg[i]);
        post->msg[i] = NULL;
    }
}

/* The archive row of a post. */
static struct storage_row post_row(const struct chat_post *post)
{
    struct storage_row row = {.id = post->id,
                              .room = post->room,
                              .room_len = post->room_len,
                              .type = post->type,
                              .type_len = strlen(post->type),
                              .sender = post->sender,
                              .sender_len = strlen(post->sender)};
    if (post->dm_low[0]) {
        row.dm_low = post->dm_low;
        row.dm_low_len = strlen(post->dm_low);
        row.dm_high = post->dm_high;
        row.dm_high_len = strlen(post->dm_high);
    }
    return row;
}

int chat_post_spool(struct broker *b, const struct chat_post *post)
{
    struct storage_row row = post_row(post);
    return storage_spool_row(b->storage, post->msg[0], &row);
}

int chat_notify(struct broker *b, enum chat_target to, const char *target, size_t target_len,
                const char *sender, size_t sender_len, const struct envelope_in *in, uint64_t *id)
{
    struct chat *ch = b->chat;
    char topic[CHAT_NAME_MAX * 2 + 64];
    int n;
    if (to != CHAT_TO_ALL && !chat_name_valid(target, target_len))
        return MQ_EINVAL;
    if (!chat_name_valid(sender, sender_len))
        return MQ_EINVAL;
    if (to == CHAT_TO_ALL)
        n = snprintf(topic, sizeof(topic), "%s/system", ch->prefix);
    else if (to == CHAT_TO_ROOM)
        n = snprintf(topic, sizeof(topic), "%s/room/%.*s/system", ch->prefix, (int)target_len,
                     target);
    else
        n = snprintf(topic, sizeof(topic), "%s/user/%.*s/events", ch->prefix, (int)target_len,
                     target);
    if (n <= 0 || (size_t)n >= sizeof(topic))
        return MQ_EINVAL;
    if (storage_spool_full(b->storage)) {
        storage_refused(b->storage, topic, (size_t)n);
        return MQ_EFULL;
    }
    struct chat_topic t;
    chat_topic_parse(ch, topic, (size_t)n, &t);
    char from[CHAT_NAME_MAX + 1];
    memcpy(from, sender, sender_len);
    from[sender_len] = '\0';
    struct envelope_in sys = *in;
    snprintf(sys.type, sizeof(sys.type), "system");
    struct chat_post post;
    int rc = stamp(ch, next_id(b), topic, (size_t)n, &t, from, 1, 0, &sys, &post);
    if (rc != MQ_OK)
        return rc;
    if ((rc = chat_post_spool(b, &post)) == MQ_OK) {
        *id = post.id;
        cluster_forward(b, post.msg[0]);
        broker_publish_external(b, message_ref(post.msg[0]));
        atomic_fetch_add_explicit(&ch->accepted, 1, memory_order_relaxed);
    }
    chat_post_free(&post);
    return rc;
}

/* ---- start and stop ----------------------------------------------------- */

int chat_db_open(const struct broker *b, struct db **out)
{
    const struct config *cfg = b->cfg;
    if (cfg->mysql_url)
        return db_open_mysql(cfg->mysql_url, out);
    return db_open_sqlite(b->storage->db_path, (enum db_durability)cfg->store_durability, out);
}

/* The prefix must be a plain topic name: no wildcards, no empty level. */
static int set_prefix(struct chat *ch, const char *prefix)
{
    size_t len = prefix ? strlen(prefix) : 0;
    while (len && prefix[len - 1] == '/')
        len--;
    if (len == 0 || len > 64 || prefix[0] == '$' || strpbrk(prefix, "+#") || strstr(prefix, "//") ||
        prefix[0] == '/') {
        log_error("chat.prefix: '%s' is not a usable topic prefix", prefix ? prefix : "");
        return MQ_EINVAL;
    }
    if (!(ch->prefix = strndup(prefix, len)))
        return MQ_ENOMEM;
    ch->prefix_len = len;
    return MQ_OK;
}

int chat_open(struct broker *b)
{
    const struct config *cfg = b->cfg;
    struct chat *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return MQ_ENOMEM;
    b->chat = ch;
    ch->b = b;
    int rc = set_prefix(ch, cfg->chat_prefix);
    if (rc != MQ_OK)
        goto fail;
    if (cfg->chat_token_secret && cfg->chat_token_secret[0]) {
        ch->token_secret = (const uint8_t *)cfg->chat_token_secret;
        ch->token_secret_len = strlen(cfg->chat_token_secret);
    }
    ch->service_key =
        cfg->chat_service_key && cfg->chat_service_key[0] ? cfg->chat_service_key : NULL;
    ch->open_signup = cfg->chat_open_signup;
    ch->auto_create_rooms = cfg->chat_auto_create_rooms;
    ch->limits = (struct envelope_limits){.max_payload = cfg->chat_max_payload,
                                          .max_text = cfg->chat_max_text,
                                          .max_meta = MAX_META_BYTES,
                                          .max_depth = MAX_JSON_DEPTH};
    rc = MQ_ENOMEM;
    if (!(ch->dir = chat_dir_new()))
        goto fail;
    struct db *db = NULL;
    if ((rc = chat_db_open(b, &db)) != MQ_OK) {
        /* MySQL away at start-up: chat goes on with tokens and rooms made
         * from now on; what the database holds is not known to this run. */
        log_error("chat: the chat database cannot be opened (%s): starting with an empty "
                  "directory",
                  mq_strerror(rc));
        rc = chat_live_open(b, NULL);
        if (rc != MQ_OK)
            goto fail;
        return MQ_OK;
    }
    if ((rc = chat_dir_load(ch->dir, db)) != MQ_OK) {
        log_error("chat: cannot load users and rooms: %s", mq_strerror(rc));
        db_close(db);
        goto fail;
    }
    ch->dir_loaded = true;
    if ((rc = chat_live_open(b, db)) != MQ_OK) {
        db_close(db);
        goto fail;
    }
    if (!(ch->store = store_start(db))) {
        db_close(db);
        rc = MQ_ENOMEM;
        goto fail;
    }
    if (ch->token_secret && ch->token_secret_len < 32)
        log_warn("chat.token_secret is %zu bytes: use at least 32 random bytes",
                 ch->token_secret_len);
    if (ch->service_key && strlen(ch->service_key) < 32)
        log_warn("chat.service_key is %zu bytes: use at least 32 random bytes",
                 strlen(ch->service_key));
    log_info("chat: prefix '%s', tokens %s, service key %s, open sign-up %s", ch->prefix,
             ch->token_secret ? "on" : "off", ch->service_key ? "set" : "unset",
             ch->open_signup ? "on" : "off");
    return MQ_OK;
fail:
    chat_close(b);
    return rc;
}

void chat_close(struct broker *b)
{
    struct chat *ch = b->chat;
    if (!ch)
        return;
    chat_live_close(ch);
    store_stop(ch->store);
    chat_dir_free(ch->dir);
    free(ch->prefix);
    free(ch);
    b->chat = NULL;
}
