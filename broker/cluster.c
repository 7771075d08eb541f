/*
 * cluster.c - this node among the nodes of a cluster (see cluster.h and
 * doc/cluster.md).
 *
 * Control events are small JSON objects on the bridge's control channel,
 * each with "k" (what it is) and "i" (the sending process's instance, a
 * random id drawn at start-up, so that two processes given one node.id
 * are noticed):
 *   {"k":"hb"}                          heartbeat, every node_timeout / 3
 *   {"k":"hello"}                       connected to Redis: tell me your counts
 *   {"k":"bye"}                         stopping: my counts are gone (after
 *                                       chat.presence_grace, as for a device)
 *   {"k":"dev","u":U,"n":N}             my devices of user U are now N
 *   {"k":"view","room":R,"n":N}         my viewers in room R are now N
 *   {"k":"snap","gen":G,"users":{U:N},"rooms":{R:N},"end":B}  all of them, in chunks
 *   {"k":"post","room":R,"id":I,"from":U[,"cheers":C,"hearts":H]}  a room message
 *   {"k":"mark","u":U,"room":R,"upto":I}                           a read marker
 *   {"k":"dir",...}                     a directory change (dir_event())
 *   {"k":"settings","room":R|null,"doc":D}      comment control settings
 *
 * The table of the other nodes (their instance and deadline) is touched on
 * the bridge's thread only; what they count is cluster_presence.h's.
 */
#include "cluster.h"

#include <cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "chat.h"
#include "chat_control.h"
#include "chat_dir.h"
#include "cluster_channel.h"
#include "cluster_presence.h"
#include "errors.h"
#include "json.h"
#include "log.h"
#include "message.h"
#include "mqtt5.h"
#include "mqtt_codec.h"
#include "topic.h"
#include "presence.h"
#include "redis_bridge.h"
#include "redis_recent.h"
#include "strmap.h"
#include "unread.h"

#define MAX_NODES 1024
#define TICK_MS   100 /* how often node deadlines are checked (heartbeats: node_timeout / 3) */

struct node_state {
    bool alive;
    uint64_t dead_at; /* message_clock_ms() when it counts as dead unless heard from */
    char inst[24];    /* its process's instance id */
};

struct cluster {
    struct broker *b;
    struct redis_bridge *bridge;
    struct cluster_routes routes;
    char inst[24];
    uint64_t node_timeout_ms;
    /* bridge thread only: */
    struct node_state *nodes[MAX_NODES];
    struct cluster_presence *presence; /* what the other nodes count */
    unsigned known[MAX_NODES];         /* ids with a node_state */
    size_t nknown;
    uint32_t snap_gen;
    uint64_t next_heartbeat; /* message_clock_ms() */
    bool duplicate_logged;
    atomic_uint alive; /* nodes alive (metrics) */
};

/* Set while a change from another node is applied, so that the directory
 * listener does not announce it again. */
static _Thread_local bool applying_remote;

static struct cluster *cl_of(const struct broker *b)
{
    return b->cluster;
}

/* ---- sending events ------------------------------------------------------------------------- */

static void event_begin(struct cluster *cl, struct jbuf *jb, const char *kind)
{
    jbuf_init(jb);
    jbuf_puts(jb, "{\"k\":");
    jbuf_str(jb, kind, strlen(kind));
    jbuf_puts(jb, ",\"i\":");
    jbuf_str(jb, cl->inst, strlen(cl->inst));
}

/* Sends the event begun in jb (and frees jb). lazy: a count or a beat, whose
 * order against messages does not matter (redis_bridge_control). */
static void event_send(struct cluster *cl, struct jbuf *jb, bool lazy)
{
    jbuf_putc(jb, '}');
    if (jb->oom)
        log_warn("cluster: an event not sent: out of memory");
    else
        redis_bridge_control(cl->bridge, jb->p, jb->len, lazy);
    jbuf_free(jb);
}

static void member_str(struct jbuf *jb, const char *name, const char *s, size_t len)
{
    jbuf_printf(jb, ",\"%s\":", name);
    if (s)
        jbuf_str(jb, s, len);
    else
        jbuf_puts(jb, "null");
}

static void send_simple(struct cluster *cl, const char *kind)
{
    struct jbuf jb;
    event_begin(cl, &jb, kind);
    event_send(cl, &jb, true);
}

static void snapshot_begin(void *ctx, struct jbuf *jb)
{
    event_begin(ctx, jb, "snap");
}

static void snapshot_send(void *ctx, struct jbuf *jb)
{
    event_send(ctx, jb, true);
}

/* Every user and room this node counts, to every other node. */
static void send_snapshot(struct cluster *cl)
{
    struct chat *ch = cl->b->chat;
    struct cluster_snapshot_out out = {cl, snapshot_begin, snapshot_send};
    cluster_presence_snapshot_build(ch ? ch->presence : NULL, ++cl->snap_gen, &out);
}

/* ---- the other nodes' users ---------------------------------------------------------------- */

static struct node_state *node_get(struct cluster *cl, unsigned id)
{
    if (id >= MAX_NODES)
        return NULL;
    struct node_state *n = cl->nodes[id];
    if (n)
        return n;
    if (!(n = calloc(1, sizeof(*n))))
        return NULL;
    cl->nodes[id] = n;
    cl->known[cl->nknown++] = id;
    return n;
}

static void node_dead(struct cluster *cl, unsigned id, struct node_state *n, const char *why)
{
    if (!n->alive)
        return;
    log_info("cluster: node %u %s", id, why);
    n->alive = false;
    atomic_fetch_sub(&cl->alive, 1);
    cluster_presence_forget(cl->presence, id);
}

/* An event from node id, process inst: it is alive. */
static struct node_state *node_heard(struct cluster *cl, unsigned id, const char *inst)
{
    struct node_state *n = node_get(cl, id);
    if (!n)
        return NULL;
    if (strcmp(n->inst, inst) != 0) {
        if (n->inst[0])
            node_dead(cl, id, n, "restarted");
        snprintf(n->inst, sizeof(n->inst), "%s", inst);
    }
    if (!n->alive) {
        n->alive = true;
        atomic_fetch_add(&cl->alive, 1);
        log_info("cluster: node %u is up", id);
    }
    n->dead_at = message_clock_ms() + cl->node_timeout_ms;
    return n;
}

/* ---- receiving events ------------------------------------------------------------------------ */

static const char *str_of(const cJSON *o, const char *name, size_t *len)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(it))
        return NULL;
    *len = strlen(it->valuestring);
    return it->valuestring;
}

/* A whole number member in lo..hi, else lo (a JSON number is a double:
 * anything outside the range is not converted). */
static int64_t int_of(const cJSON *o, const char *name, int64_t lo, int64_t hi)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(it) || !(it->valuedouble >= (double)lo && it->valuedouble <= (double)hi))
        return lo;
    return (int64_t)it->valuedouble;
}

static bool bool_of(const cJSON *o, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* {"k":"dev","u":U,"n":N} or {"k":"view","room":R,"n":N} */
static void on_count(struct cluster *cl, unsigned node, const cJSON *ev, enum cluster_count what)
{
    size_t len = 0;
    const char *name = str_of(ev, what == CLUSTER_DEVICES ? "u" : "room", &len);
    if (name)
        cluster_presence_set(cl->presence, node, what, name, len, int_of(ev, "n", 0, 1000000));
}

/* A room made on first use here and on another node at the same moment:
 * every node keeps the one made first (then the owner's name decides), so
 * all end up with the same owner whatever order the events came in; the
 * other maker stays a member. */
static void settle_first_use(struct chat *ch, const char *room, size_t len,
                             const struct chat_room_info *theirs)
{
    struct chat_room_info ours;
    if (!chat_dir_room_get(ch->dir, room, len, &ours))
        return;
    bool theirs_first =
        theirs->created_ms < ours.created_ms ||
        (theirs->created_ms == ours.created_ms && strcmp(theirs->owner, ours.owner) < 0);
    if (!theirs_first)
        return;
    chat_dir_room_put(ch->dir, room, len, theirs);
    if (chat_dir_member_role(ch->dir, room, len, ours.owner, strlen(ours.owner)) == CHAT_OWNER)
        chat_dir_member_put(ch->dir, room, len, ours.owner, strlen(ours.owner), CHAT_MEMBER);
}

/* The role a member from another node gets here: an owner only if the
 * room says so (two nodes that made one room at once each made its user
 * the owner; settle_first_use kept one). */
static enum chat_member_role mirrored_role(struct chat *ch, const char *room, size_t len,
                                           const char *user, size_t user_len, int role)
{
    struct chat_room_info info;
    if (role == CHAT_OWNER && chat_dir_room_get(ch->dir, room, len, &info) &&
        (strlen(info.owner) != user_len || memcmp(info.owner, user, user_len) != 0))
        return CHAT_MEMBER;
    return (enum chat_member_role)role;
}

/* Applies a directory change from another node (see dir_event()). */
static void on_dir(struct cluster *cl, const cJSON *ev)
{
    struct chat *ch = cl->b->chat;
    if (!ch)
        return;
    size_t al = 0, bl = 0, hl = 0;
    const char *a = str_of(ev, "a", &al), *bname = str_of(ev, "b", &bl);
    const char *op = str_of(ev, "op", &hl);
    if (!a || !op)
        return;
    int role = (int)int_of(ev, "role", 0, 3);
    applying_remote = true;
    if (strcmp(op, "user") == 0) {
        const char *hash = str_of(ev, "hash", &hl);
        chat_dir_user_put(ch->dir, a, al, (enum chat_role)role, hash);
    } else if (strcmp(op, "user-") == 0) {
        chat_dir_user_delete(ch->dir, a, al);
    } else if (strcmp(op, "room") == 0 || strcmp(op, "room+") == 0) {
        struct chat_room_info info = {.is_private = bool_of(ev, "private"),
                                      .member_cap = int_of(ev, "cap", 0, INT32_MAX),
                                      .created_ms = int_of(ev, "created", 0, INT64_C(1) << 52)};
        const char *owner = str_of(ev, "owner", &hl);
        snprintf(info.owner, sizeof(info.owner), "%s", owner ? owner : "");
        if (op[4] != '+')
            chat_dir_room_put(ch->dir, a, al, &info);
        else if (chat_dir_room_add(ch->dir, a, al, &info) == MQ_EEXIST)
            settle_first_use(ch, a, al, &info);
    } else if (strcmp(op, "room-") == 0) {
        chat_dir_room_delete(ch->dir, a, al);
    } else if (bname && strcmp(op, "member") == 0) {
        /* The cap was checked where the member was added. */
        int rc = chat_dir_member_put(ch->dir, a, al, bname, bl,
                                     mirrored_role(ch, a, al, bname, bl, role));
        if (rc == MQ_OK)
            unread_join(ch->unread, bname, bl, a, al); /* as where the member joined */
        else if (rc == MQ_EFULL)
            log_warn("cluster: member '%s' of room '%s' not mirrored: the room is full here", bname,
                     a);
    } else if (bname && strcmp(op, "member-") == 0) {
        chat_dir_member_delete(ch->dir, a, al, bname, bl);
    } else if (bname && strcmp(op, "rblock") == 0) {
        chat_dir_room_block_put(ch->dir, a, al, bname, bl);
    } else if (bname && strcmp(op, "rblock-") == 0) {
        chat_dir_room_block_delete(ch->dir, a, al, bname, bl);
    } else if (bname && strcmp(op, "ublock") == 0) {
        chat_dir_user_block_put(ch->dir, a, al, bname, bl);
    } else if (bname && strcmp(op, "ublock-") == 0) {
        chat_dir_user_block_delete(ch->dir, a, al, bname, bl);
    } else if (strcmp(op, "deco") == 0) {
        const char *json = str_of(ev, "json", &hl);
        chat_dir_deco_put(ch->dir, a, al, json ? json : "", json ? hl : 0);
    }
    applying_remote = false;
}

static void on_settings(struct cluster *cl, const cJSON *ev)
{
    struct chat *ch = cl->b->chat;
    size_t rl = 0, dl = 0;
    const char *room = str_of(ev, "room", &rl);
    const char *doc = str_of(ev, "doc", &dl);
    if (!ch || !ch->control || !doc)
        return;
    if (chat_control_set(ch->control, room, rl, doc, dl) != MQ_OK)
        log_warn("cluster: settings of %s%s from another node not applied",
                 room ? "room " : "the system", room ? room : "");
}

/* A room message accepted on another node: counted as here. */
static void on_post(struct cluster *cl, const cJSON *ev)
{
    struct chat *ch = cl->b->chat;
    size_t rl = 0, fl = 0, il = 0;
    const char *room = str_of(ev, "room", &rl), *from = str_of(ev, "from", &fl);
    const char *id = str_of(ev, "id", &il);
    int64_t v = id ? (int64_t)strtoull(id, NULL, 10) : 0;
    if (!ch || !room || !from || v <= 0 || !chat_name_valid(room, rl))
        return;
    unread_message(ch->unread, room, rl, v, from, fl);
    int64_t cheers = int_of(ev, "cheers", 0, 1000000), hearts = int_of(ev, "hearts", 0, 1000000);
    if (cheers > 0 || hearts > 0)
        presence_room_support(ch->presence, room, rl, cheers, hearts);
}

static void on_mark(struct cluster *cl, const cJSON *ev)
{
    struct chat *ch = cl->b->chat;
    size_t ul = 0, rl = 0, il = 0;
    const char *user = str_of(ev, "u", &ul), *room = str_of(ev, "room", &rl);
    const char *id = str_of(ev, "upto", &il);
    int64_t upto = id ? (int64_t)strtoull(id, NULL, 10) : 0;
    if (ch && user && room && upto > 0 && chat_name_valid(user, ul) && chat_name_valid(room, rl))
        unread_mark(ch->unread, user, ul, room, rl, upto);
}

static void on_control(void *ctx, unsigned node, const char *event, size_t len)
{
    struct cluster *cl = ctx;
    cJSON *ev = cJSON_ParseWithLength(event, len);
    size_t kl = 0, il = 0;
    const char *kind = ev ? str_of(ev, "k", &kl) : NULL;
    const char *inst = ev ? str_of(ev, "i", &il) : NULL;
    if (inst && node == cl->b->cfg->node_id) {
        if (strcmp(inst, cl->inst) != 0 && !cl->duplicate_logged) {
            cl->duplicate_logged = true;
            log_error("cluster: another process runs as node.id %u: give every node its own "
                      "(message ids may collide, and neither node gets the other's messages)",
                      node);
        }
        inst = NULL; /* our own event, or a twin's: not another node */
    }
    struct node_state *n = kind && inst ? node_heard(cl, node, inst) : NULL;
    if (!n) {
        cJSON_Delete(ev);
        return;
    }
    if (strcmp(kind, "hello") == 0)
        send_snapshot(cl);
    else if (strcmp(kind, "bye") == 0)
        n->dead_at = message_clock_ms() + cl->b->cfg->chat_presence_grace; /* as a device's */
    else if (strcmp(kind, "dev") == 0 || strcmp(kind, "view") == 0)
        on_count(cl, node, ev, kind[0] == 'd' ? CLUSTER_DEVICES : CLUSTER_VIEWERS);
    else if (strcmp(kind, "snap") == 0)
        cluster_presence_snapshot(cl->presence, node, (uint32_t)int_of(ev, "gen", 0, UINT32_MAX),
                                  ev, bool_of(ev, "end"));
    else if (strcmp(kind, "post") == 0)
        on_post(cl, ev);
    else if (strcmp(kind, "mark") == 0)
        on_mark(cl, ev);
    else if (strcmp(kind, "dir") == 0)
        on_dir(cl, ev);
    else if (strcmp(kind, "settings") == 0)
        on_settings(cl, ev);
    cJSON_Delete(ev);
}

/* ---- the bridge's sink --------------------------------------------------------------------- */

/* What another node sent is delivered only when it is what a node of
 * ours would send: its topic on its own channel, a valid topic name, a
 * chat message with a valid sender, well-formed MQTT 5 properties. */
static bool message_acceptable(struct cluster *cl, const char *channel, size_t len,
                               const struct message *msg)
{
    char want[CLUSTER_CHANNEL_MAX];
    struct mqtt5_props props;
    size_t n = cluster_topic_channel(&cl->routes, msg->topic, msg->topic_len, want);
    return n == len && memcmp(want, channel, n) == 0 &&
           topic_validate_name(msg->topic, msg->topic_len) == MQ_OK &&
           mqtt_utf8_check(msg->topic, msg->topic_len) == MQ_OK &&
           (!msg->chat || (msg->sender && chat_name_valid(msg->sender, msg->sender_len))) &&
           (!msg->props_len ||
            mqtt5_props_decode(msg->props, msg->props_len, MQTT5_CTX_PUBLISH_OUT, &props) == MQ_OK);
}

static void on_message(void *ctx, const char *channel, size_t len, struct message *msg)
{
    struct cluster *cl = ctx;
    if (!message_acceptable(cl, channel, len, msg)) {
        log_warn("cluster: a message for '%s' on channel '%.*s' dropped: not what a node sends",
                 msg->topic, (int)len, channel);
        message_unref(msg);
        return;
    }
    broker_publish_external(cl->b, msg);
}

static void on_up(void *ctx)
{
    struct cluster *cl = ctx;
    log_info("cluster: connected to Redis as node %u", cl->b->cfg->node_id);
    send_simple(cl, "hello");
    send_snapshot(cl);
}

static void on_tick(void *ctx)
{
    struct cluster *cl = ctx;
    uint64_t now = message_clock_ms();
    if (now >= cl->next_heartbeat) {
        send_simple(cl, "hb");
        cl->next_heartbeat = now + cl->node_timeout_ms / 3;
    }
    for (size_t i = 0; i < cl->nknown; i++) {
        struct node_state *n = cl->nodes[cl->known[i]];
        if (n->alive && now > n->dead_at)
            node_dead(cl, cl->known[i], n, "gone (stopped, or not heard from)");
    }
}

/* ---- directory and settings changes made here ---------------------------------------------- */

static void dir_event(void *ctx, const struct chat_dir_change *c)
{
    static const char *const ops[] = {
        [CHAT_DIR_USER_PUT] = "user",
        [CHAT_DIR_USER_DELETE] = "user-",
        [CHAT_DIR_ROOM_PUT] = "room",
        [CHAT_DIR_ROOM_ADD] = "room+",
        [CHAT_DIR_ROOM_DELETE] = "room-",
        [CHAT_DIR_MEMBER_PUT] = "member",
        [CHAT_DIR_MEMBER_DELETE] = "member-",
        [CHAT_DIR_ROOM_BLOCK_PUT] = "rblock",
        [CHAT_DIR_ROOM_BLOCK_DELETE] = "rblock-",
        [CHAT_DIR_USER_BLOCK_PUT] = "ublock",
        [CHAT_DIR_USER_BLOCK_DELETE] = "ublock-",
        [CHAT_DIR_DECO_PUT] = "deco",
    };
    struct cluster *cl = ctx;
    if (applying_remote)
        return;
    struct jbuf jb;
    event_begin(cl, &jb, "dir");
    member_str(&jb, "op", ops[c->kind], strlen(ops[c->kind]));
    member_str(&jb, "a", c->a, c->a_len);
    if (c->b)
        member_str(&jb, "b", c->b, c->b_len);
    if (c->kind == CHAT_DIR_USER_PUT || c->kind == CHAT_DIR_MEMBER_PUT)
        jbuf_printf(&jb, ",\"role\":%d", c->role);
    if (c->kind == CHAT_DIR_USER_PUT && c->hash)
        member_str(&jb, "hash", c->hash, strlen(c->hash));
    if (c->room) {
        jbuf_printf(&jb, ",\"private\":%s,\"cap\":", c->room->is_private ? "true" : "false");
        jbuf_i64(&jb, c->room->member_cap);
        jbuf_puts(&jb, ",\"created\":");
        jbuf_i64(&jb, c->room->created_ms);
        member_str(&jb, "owner", c->room->owner, strlen(c->room->owner));
    }
    if (c->kind == CHAT_DIR_DECO_PUT && c->json_len)
        member_str(&jb, "json", c->json, c->json_len);
    event_send(cl, &jb, false);
}

void cluster_settings_changed(struct broker *b, const char *room, size_t room_len, const char *doc,
                              size_t len)
{
    struct cluster *cl = cl_of(b);
    if (!cl)
        return;
    struct jbuf jb;
    event_begin(cl, &jb, "settings");
    member_str(&jb, "room", room, room_len);
    member_str(&jb, "doc", doc, len);
    event_send(cl, &jb, false);
}

void cluster_room_post(struct broker *b, const char *room, size_t room_len, uint64_t id,
                       const char *sender, size_t sender_len, int64_t cheers, int64_t hearts)
{
    struct cluster *cl = cl_of(b);
    if (!cl)
        return;
    struct jbuf jb;
    event_begin(cl, &jb, "post");
    member_str(&jb, "room", room, room_len);
    jbuf_puts(&jb, ",\"id\":");
    jbuf_id(&jb, id);
    member_str(&jb, "from", sender, sender_len);
    if (cheers || hearts) {
        jbuf_puts(&jb, ",\"cheers\":");
        jbuf_i64(&jb, cheers);
        jbuf_puts(&jb, ",\"hearts\":");
        jbuf_i64(&jb, hearts);
    }
    event_send(cl, &jb, true);
}

void cluster_read_marker(struct broker *b, const char *user, size_t user_len, const char *room,
                         size_t room_len, int64_t upto)
{
    struct cluster *cl = cl_of(b);
    if (!cl)
        return;
    struct jbuf jb;
    event_begin(cl, &jb, "mark");
    member_str(&jb, "u", user, user_len);
    member_str(&jb, "room", room, room_len);
    jbuf_puts(&jb, ",\"upto\":"); /* a string: a JSON number is a double, ids need 64 bits */
    jbuf_id(&jb, (uint64_t)upto);
    event_send(cl, &jb, true);
}

void cluster_room_viewers_report(struct broker *b, const char *room, size_t len, int64_t viewers)
{
    struct cluster *cl = cl_of(b);
    if (!cl)
        return;
    struct jbuf jb;
    event_begin(cl, &jb, "view");
    member_str(&jb, "room", room, len);
    jbuf_puts(&jb, ",\"n\":");
    jbuf_i64(&jb, viewers);
    event_send(cl, &jb, true);
}

void cluster_presence_report(struct broker *b, const char *user, size_t len, int devices)
{
    struct cluster *cl = cl_of(b);
    if (!cl)
        return;
    struct jbuf jb;
    event_begin(cl, &jb, "dev");
    member_str(&jb, "u", user, len);
    jbuf_printf(&jb, ",\"n\":%d", devices);
    event_send(cl, &jb, true);
}

/* ---- messages and subscriptions -------------------------------------------------------------- */

void cluster_forward(struct broker *b, const struct message *msg)
{
    struct cluster *cl = cl_of(b);
    if (!cl)
        return;
    char channel[CLUSTER_CHANNEL_MAX];
    size_t n = cluster_topic_channel(&cl->routes, msg->topic, msg->topic_len, channel);
    if (!n)
        return;
    redis_bridge_forward(cl->bridge, channel, n, (struct message *)msg);
    /* A room message (not a room notification, not a shadow) goes to the
     * room's recent history too. */
    if (b->cfg->redis_history_cache && msg->chat && !msg->shadow && channel[0] == 'r' && b->chat) {
        struct chat_topic t;
        if (chat_topic_parse(b->chat, msg->topic, msg->topic_len, &t) == CHAT_ROOM) {
            channel[0] = 'h';
            redis_bridge_cache(cl->bridge, channel, n, (const char *)msg->payload,
                               msg->payload_len);
        }
    }
}

struct interest_ctx {
    struct cluster *cl;
    int delta;
};

static void interest_one(void *ctx, const char *channel, size_t len)
{
    struct interest_ctx *ic = ctx;
    redis_bridge_interest(ic->cl->bridge, channel, len, ic->delta);
}

void cluster_interest(struct broker *b, const char *filter, size_t len, int delta)
{
    struct cluster *cl = cl_of(b);
    if (!cl || (len >= 7 && memcmp(filter, "$share/", 7) == 0))
        return;
    struct interest_ctx ic = {cl, delta};
    cluster_filter_channels(&cl->routes, filter, len, interest_one, &ic);
}

/* ---- start and stop ------------------------------------------------------------------------- */

/* redis.prefix, or its default when set empty. */
static const char *redis_prefix(const struct config *cfg)
{
    return cfg->redis_prefix && cfg->redis_prefix[0] ? cfg->redis_prefix : "mqchat";
}

struct redis_recent *cluster_recent_open(const struct broker *b)
{
    const struct config *cfg = b->cfg;
    if (!b->cluster || !cfg->redis_history_cache)
        return NULL;
    return redis_recent_new(cfg->redis_url, redis_prefix(cfg));
}

const struct redis_bridge *cluster_bridge(const struct broker *b)
{
    return b->cluster ? cl_of(b)->bridge : NULL;
}

unsigned cluster_nodes_alive(const struct broker *b)
{
    return b->cluster ? atomic_load(&cl_of(b)->alive) : 0;
}

static void random_inst(char *out, size_t len)
{
    FILE *f = fopen("/dev/urandom", "rb");
    uint64_t v = 0;
    if (!f || fread(&v, sizeof(v), 1, f) != 1)
        v = message_clock_ms() ^ ((uint64_t)getpid() << 32);
    if (f)
        fclose(f);
    snprintf(out, len, "%016llx", (unsigned long long)v);
}

int cluster_open(struct broker *b)
{
    const struct config *cfg = b->cfg;
    b->cluster = NULL;
    if (!cfg->redis_url || !cfg->redis_url[0])
        return MQ_OK;
    struct cluster *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return MQ_ENOMEM;
    cl->b = b;
    cl->node_timeout_ms = cfg->redis_node_timeout;
    random_inst(cl->inst, sizeof(cl->inst));
    int rc = cluster_routes_parse(&cl->routes, cfg->chat_prefix, cfg->redis_bridge_topics);
    if (rc != MQ_OK) {
        free(cl);
        return rc;
    }
    struct redis_bridge_config bc = {
        .url = cfg->redis_url,
        .cluster = cfg->redis_cluster,
        .prefix = redis_prefix(cfg),
        .node_id = cfg->node_id,
        .tick_ms = TICK_MS,
        .echo_ms = cfg->redis_node_timeout / 3, /* the heartbeat */
        .cache_max = cfg->redis_history_cache,
    };
    struct redis_bridge_sink sink = {cl, on_message, on_control, on_up, on_tick};
    if ((rc = redis_bridge_new(&bc, &sink, &cl->bridge)) != MQ_OK) {
        cluster_routes_free(&cl->routes);
        free(cl);
        return rc;
    }
    b->cluster = cl;
    log_info("cluster: node %u, Redis%s at %s", cfg->node_id, cfg->redis_cluster ? " Cluster" : "",
             cfg->redis_url);
    return MQ_OK;
}

int cluster_start(struct broker *b)
{
    struct cluster *cl = cl_of(b);
    if (!cl)
        return MQ_OK;
    struct chat *ch = b->chat;
    if (!(cl->presence = cluster_presence_new(ch ? ch->presence : NULL)))
        return MQ_ENOMEM;
    if (ch && ch->dir)
        chat_dir_listen(ch->dir, dir_event, cl);
    return redis_bridge_start(cl->bridge);
}

void cluster_close(struct broker *b)
{
    struct cluster *cl = cl_of(b);
    if (!cl)
        return;
    if (b->chat && b->chat->dir)
        chat_dir_listen(b->chat->dir, NULL, NULL);
    send_simple(cl, "bye");
    redis_bridge_free(cl->bridge);
    for (size_t i = 0; i < cl->nknown; i++)
        free(cl->nodes[cl->known[i]]);
    cluster_presence_free(cl->presence);
    cluster_routes_free(&cl->routes);
    free(cl);
    b->cluster = NULL;
}
