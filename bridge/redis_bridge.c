/*
 * redis_bridge.c - node to node fan-out through Redis (see redis_bridge.h).
 *
 * Everything below the inbox runs on the bridge's thread: the channel
 * table (name -> struct chan: local interest and subscription state), the
 * masters (one publishing and one subscribing connection each; a single
 * Redis is one master owning every slot) and, for Redis Cluster, the slot
 * map read with CLUSTER SLOTS from the seed connection.
 */
#include "redis_bridge.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "errors.h"
#include "log.h"
#include "message.h"
#include "redis_client.h"
#include "strmap.h"

#define CONTROL_CHANNEL "control"
#define FRAME_MESSAGE   'M'
#define FRAME_CONTROL   'C'
/* The message frame header: 'M', node(2), flags, expiry(4), sender_len, topic_len(2), props_len(4).
 */
#define MESSAGE_HEADER 15
#define CONTROL_HEADER 3 /* 'C', node(2) */
#define FLAG_RETAIN    0x04
#define FLAG_CHAT      0x08
#define FLAG_SHADOW    0x10
#define PREFIX_MAX     200  /* bytes of redis.prefix */
#define STOP_FLUSH_MS  1000 /* how long stopping waits for queued commands to be written */
#define CONTROL_BATCH  65536 /* bytes of control events gathered into one frame */

enum item_kind { ITEM_FORWARD, ITEM_INTEREST, ITEM_CONTROL, ITEM_CACHE };

/* One request from another thread. */
struct item {
    enum item_kind kind;
    char *name; /* channel or key, after the prefix; malloc'd */
    size_t name_len;
    struct message *msg; /* ITEM_FORWARD: a reference */
    int delta;           /* ITEM_INTEREST */
    bool lazy;           /* ITEM_CONTROL: may go out after later messages */
    char *data;          /* ITEM_CONTROL, ITEM_CACHE: malloc'd */
    size_t data_len;
};

enum sub_state { SUB_NONE, SUB_SENT, SUB_CONFIRMED };

struct chan {
    long count;           /* local subscriptions mapping here */
    enum sub_state state; /* on its master's current subscribing connection */
    int master;           /* where it was (un)subscribed; -1 = nowhere yet */
    size_t len;
    char name[]; /* the full name, prefix included */
};

struct master {
    struct redis_bridge *br;
    struct redis_client *pub, *sub;
    char host[256];
    uint16_t port;
};

struct redis_bridge {
    struct redis_bridge_config cfg; /* strings below are owned copies */
    char host[256];
    uint16_t port;
    char password[256];
    struct redis_bridge_sink sink;
    struct redis_bridge_stats stats;

    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wake;
    uv_timer_t tick;
    uv_timer_t stop_timer;
    uint64_t stop_deadline;

    pthread_mutex_t lock; /* guards the three below */
    struct item *inbox;
    size_t ninbox, capinbox;
    bool stopping;

    struct strmap chans; /* full name -> struct chan */
    struct master masters[REDIS_MAX_MASTERS];
    size_t nmasters;
    struct redis_client *seed;  /* cluster: asks CLUSTER SLOTS */
    struct redis_slot_map *map; /* cluster: who owns which slot; NULL until known */
    bool refresh_wanted;        /* cluster: a MOVED was seen */
    bool control_up;            /* sink.up was called for the current connections */
    bool lost_logged;           /* the unforwarded warning of this outage was logged */
    bool ever_up[2 * REDIS_MAX_MASTERS + 1];

    char *control_name; /* "{prefix}:control" */
    size_t control_len;
    bool started;       /* the thread runs (redis_bridge_start) */
    uint64_t last_echo; /* loop time one of our own control events last came back */
    uint8_t *frame;     /* scratch for frames and full names */
    uint8_t *batch;     /* the control frame being gathered ('C', node, events) */
    size_t batch_len, batch_cap;
    bool batch_ordered; /* it holds an event that must go before later messages */
    size_t frame_cap;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static void put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The scratch buffer, at least n bytes; NULL when out of memory. */
static uint8_t *scratch(struct redis_bridge *br, size_t n)
{
    if (n > br->frame_cap) {
        size_t cap = n < 4096 ? 4096 : n * 2;
        uint8_t *f = realloc(br->frame, cap);
        if (!f)
            return NULL;
        br->frame = f;
        br->frame_cap = cap;
    }
    return br->frame;
}

/* "{prefix}:{name}" into out (at least prefix + name + 2 bytes); its length. */
static size_t full_name(const struct redis_bridge *br, const char *name, size_t len, char *out)
{
    size_t plen = strlen(br->cfg.prefix);
    memcpy(out, br->cfg.prefix, plen);
    out[plen] = ':';
    memcpy(out + plen + 1, name, len);
    out[plen + 1 + len] = '\0';
    return plen + 1 + len;
}

/* The master that owns name (a full channel or key), or -1. */
static int master_of(const struct redis_bridge *br, const char *name, size_t len)
{
    if (!br->cfg.cluster)
        return br->nmasters ? 0 : -1;
    if (!br->map)
        return -1;
    int m = br->map->owner[redis_key_slot(name, len)];
    return m >= 0 && (size_t)m < br->nmasters ? m : -1; /* a master not opened: nowhere */
}

static bool master_pub_up(const struct redis_bridge *br, int m)
{
    return m >= 0 && (size_t)m < br->nmasters && redis_client_is_up(br->masters[m].pub);
}

static bool master_sub_up(const struct redis_bridge *br, int m)
{
    return m >= 0 && (size_t)m < br->nmasters && redis_client_is_up(br->masters[m].sub);
}

static void count_lost(struct redis_bridge *br, const char *what)
{
    atomic_fetch_add_explicit(&br->stats.unforwarded, 1, memory_order_relaxed);
    if (!br->lost_logged) {
        br->lost_logged = true;
        log_warn("redis bridge: %s not forwarded (Redis unreachable); counting what is lost in "
                 "mqchat_redis_unforwarded_total",
                 what);
    }
}

/* Redis Cluster: the slot map is read again at the next tick. */
static void want_refresh(struct redis_bridge *br, const char *why)
{
    if (!br->cfg.cluster || br->refresh_wanted)
        return;
    log_info("redis bridge: %s: reading the cluster's slots again", why);
    br->refresh_wanted = true;
}

/* ---- subscriptions ------------------------------------------------------------------------ */

static void chan_send(struct redis_bridge *br, struct chan *c, bool subscribe)
{
    int m = c->master;
    const char *cmd = br->cfg.cluster ? (subscribe ? "SSUBSCRIBE" : "SUNSUBSCRIBE")
                                      : (subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE");
    const char *argv[2] = {cmd, c->name};
    size_t argvlen[2] = {strlen(cmd), c->len};
    if (redis_client_command(br->masters[m].sub, 2, argv, argvlen, NULL, NULL) != MQ_OK)
        return; /* down: the `up` of the connection subscribes again */
    if (subscribe) {
        c->state = SUB_SENT;
    } else {
        if (c->state == SUB_CONFIRMED)
            atomic_fetch_sub_explicit(&br->stats.channels, 1, memory_order_relaxed);
        c->state = SUB_NONE;
    }
}

/* Brings c's subscription in line with its count and its master. */
static void chan_sync(struct redis_bridge *br, struct chan *c)
{
    int want = c->count > 0 ? master_of(br, c->name, c->len) : -1;
    if (c->state != SUB_NONE && c->master != want && master_sub_up(br, c->master))
        chan_send(br, c, false);
    if (c->master != want) {
        if (c->state == SUB_CONFIRMED)
            atomic_fetch_sub_explicit(&br->stats.channels, 1, memory_order_relaxed);
        c->state = SUB_NONE;
    }
    c->master = want;
    if (c->state == SUB_NONE && master_sub_up(br, want))
        chan_send(br, c, true);
}

static void interest(struct redis_bridge *br, const char *name, size_t len, int delta)
{
    char full[1024];
    if (len + strlen(br->cfg.prefix) + 2 > sizeof(full))
        return;
    size_t flen = full_name(br, name, len, full);
    struct chan *c = strmap_get(&br->chans, full, flen);
    if (!c) {
        if (delta <= 0 || !(c = calloc(1, sizeof(*c) + flen + 1)))
            return;
        c->master = -1;
        c->len = flen;
        memcpy(c->name, full, flen + 1);
        if (strmap_put(&br->chans, c->name, flen, c) != MQ_OK) {
            free(c);
            log_warn("redis bridge: channel '%s' not subscribed: out of memory", full);
            return;
        }
    }
    c->count += delta;
    if (c->count < 0)
        c->count = 0;
    if (c->count == 0) {
        if (c->state != SUB_NONE && master_sub_up(br, c->master))
            chan_send(br, c, false);
        else if (c->state == SUB_CONFIRMED)
            atomic_fetch_sub_explicit(&br->stats.channels, 1, memory_order_relaxed);
        strmap_remove(&br->chans, c->name, c->len);
        free(c);
        return;
    }
    chan_sync(br, c);
}

struct resync_ctx {
    struct redis_bridge *br;
    int master; /* only channels of this master; -1 = all */
    bool lost;  /* the master's subscribing connection went down */
};

static void resync_one(void *ctx, void *value)
{
    struct resync_ctx *rc = ctx;
    struct chan *c = value;
    if (rc->master >= 0 && c->master != rc->master)
        return;
    if (rc->lost) {
        if (c->state == SUB_CONFIRMED)
            atomic_fetch_sub_explicit(&rc->br->stats.channels, 1, memory_order_relaxed);
        c->state = SUB_NONE;
        return;
    }
    chan_sync(rc->br, c);
}

static void resync(struct redis_bridge *br, int master, bool lost)
{
    struct resync_ctx ctx = {br, master, lost};
    strmap_each(&br->chans, resync_one, &ctx);
}

/* ---- up and down ---------------------------------------------------------------------------- */

static void update_up(struct redis_bridge *br)
{
    bool all = br->nmasters > 0;
    for (size_t i = 0; i < br->nmasters; i++)
        all =
            all && redis_client_is_up(br->masters[i].pub) && redis_client_is_up(br->masters[i].sub);
    if (br->cfg.cluster && !br->map)
        all = false;
    atomic_store(&br->stats.up, all);
    if (all)
        br->lost_logged = false;

    struct chan *c = strmap_get(&br->chans, br->control_name, br->control_len);
    bool control = c && c->state == SUB_CONFIRMED && master_pub_up(br, c->master);
    if (control && !br->control_up) {
        br->last_echo = uv_now(&br->loop);
        if (br->sink.up)
            br->sink.up(br->sink.ctx);
    }
    br->control_up = control;
}

/* Which of the connections this is: 2m (publishing) or 2m + 1
 * (subscribing) of master m, or the seed (last). */
static size_t conn_slot(struct redis_bridge *br, struct redis_client *rc)
{
    for (size_t i = 0; i < br->nmasters; i++) {
        if (br->masters[i].pub == rc)
            return 2 * i;
        if (br->masters[i].sub == rc)
            return 2 * i + 1;
    }
    return 2 * REDIS_MAX_MASTERS;
}

static void note_up(struct redis_bridge *br, struct redis_client *rc)
{
    size_t slot = conn_slot(br, rc);
    if (br->ever_up[slot])
        atomic_fetch_add_explicit(&br->stats.reconnects, 1, memory_order_relaxed);
    br->ever_up[slot] = true;
}

static void on_master_up(void *ctx, struct redis_client *rc)
{
    struct master *m = ctx;
    struct redis_bridge *br = m->br;
    note_up(br, rc);
    if (rc == m->sub)
        resync(br, (int)(m - br->masters), false);
    update_up(br);
}

static void on_master_down(void *ctx, struct redis_client *rc, const char *why)
{
    struct master *m = ctx;
    struct redis_bridge *br = m->br;
    if (rc == m->sub)
        resync(br, (int)(m - br->masters), true);
    want_refresh(br, "a master is unreachable"); /* a replica may have taken over */
    update_up(br);
}

/* ---- what arrives ------------------------------------------------------------------------- */

static void deliver_message(struct redis_bridge *br, const char *channel, size_t channel_len,
                            const uint8_t *f, size_t len)
{
    if (len < MESSAGE_HEADER || (f[3] & 3) == 3)
        return;
    uint8_t flags = f[3];
    uint32_t expiry = get_u32(f + 4);
    size_t sender_len = f[8];
    size_t topic_len = get_u16(f + 9);
    size_t props_len = get_u32(f + 11);
    if (topic_len == 0 || MESSAGE_HEADER + sender_len + topic_len + props_len > len)
        return;
    const char *sender = (const char *)f + MESSAGE_HEADER;
    const char *topic = sender + sender_len;
    const uint8_t *props = (const uint8_t *)topic + topic_len;
    const uint8_t *payload = props + props_len;
    size_t payload_len = len - (size_t)(payload - f);
    struct message_extra extra = {
        .props = props_len ? props : NULL,
        .props_len = (uint32_t)props_len,
        .expiry_s = expiry,
        .sender = sender_len ? sender : NULL,
        .sender_len = sender_len,
    };
    struct message *msg =
        message_new(topic, topic_len, payload, payload_len, flags & 3, flags & FLAG_RETAIN, &extra);
    if (!msg) {
        log_warn("redis bridge: a message for '%.*s' lost: out of memory", (int)topic_len, topic);
        return;
    }
    msg->chat = flags & FLAG_CHAT;
    msg->shadow = flags & FLAG_SHADOW;
    atomic_fetch_add_explicit(&br->stats.received, 1, memory_order_relaxed);
    size_t plen = strlen(br->cfg.prefix) + 1; /* the channel as the sink knows it */
    br->sink.message(br->sink.ctx, channel + plen, channel_len - plen, msg);
}

/* A control frame: events separated by newlines, each to the sink. */
static void control_events(struct redis_bridge *br, unsigned node, const char *p, size_t len)
{
    while (len) {
        const char *nl = memchr(p, '\n', len);
        size_t n = nl ? (size_t)(nl - p) : len;
        if (n)
            br->sink.control(br->sink.ctx, node, p, n);
        p += n + (nl ? 1 : 0);
        len -= n + (nl ? 1 : 0);
    }
}

static void on_frame(struct redis_bridge *br, const char *channel, size_t channel_len,
                     const uint8_t *f, size_t len)
{
    if (len < CONTROL_HEADER)
        return;
    unsigned node = get_u16(f + 1);
    if (f[0] == FRAME_CONTROL && node == br->cfg.node_id)
        br->last_echo = uv_now(&br->loop); /* the control channel carries */
    if (f[0] == FRAME_MESSAGE && node == br->cfg.node_id)
        return; /* our own, back from Redis */
    if (f[0] == FRAME_MESSAGE && channel_len > strlen(br->cfg.prefix) + 1)
        deliver_message(br, channel, channel_len, f, len);
    else if (f[0] == FRAME_CONTROL && br->sink.control)
        control_events(br, node, (const char *)f + CONTROL_HEADER, len - CONTROL_HEADER);
}

static bool reply_is(const redisReply *r, const char *word)
{
    size_t n = strlen(word);
    return r->type == REDIS_REPLY_STRING && r->len == n && memcmp(r->str, word, n) == 0;
}

static void on_push(void *ctx, struct redis_client *rc, const redisReply *r)
{
    struct master *m = ctx;
    struct redis_bridge *br = m->br;
    if (r->type == REDIS_REPLY_ERROR) {
        log_warn("redis bridge: %s: %.*s", redis_client_name(rc), (int)r->len, r->str);
        if (r->len >= 5 && memcmp(r->str, "MOVED", 5) == 0)
            want_refresh(br, "a channel moved");
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return;
    const redisReply *kind = r->element[0], *chan = r->element[1], *data = r->element[2];
    if (chan->type != REDIS_REPLY_STRING)
        return;
    if ((reply_is(kind, "message") || reply_is(kind, "smessage")) &&
        data->type == REDIS_REPLY_STRING) {
        on_frame(br, chan->str, chan->len, (const uint8_t *)data->str, data->len);
    } else if (reply_is(kind, "subscribe") || reply_is(kind, "ssubscribe")) {
        struct chan *c = strmap_get(&br->chans, chan->str, chan->len);
        if (c && c->state == SUB_SENT && c->master == (int)(m - br->masters)) {
            c->state = SUB_CONFIRMED;
            atomic_fetch_add_explicit(&br->stats.channels, 1, memory_order_relaxed);
            update_up(br);
        }
    } else if (reply_is(kind, "unsubscribe") || reply_is(kind, "sunsubscribe")) {
        /* Ours are for channels gone or moved elsewhere; one for a channel
         * still wanted here is the server's: its slot moved. */
        struct chan *c = strmap_get(&br->chans, chan->str, chan->len);
        if (c && c->state != SUB_NONE && c->master == (int)(m - br->masters)) {
            if (c->state == SUB_CONFIRMED)
                atomic_fetch_sub_explicit(&br->stats.channels, 1, memory_order_relaxed);
            c->state = SUB_NONE;
            want_refresh(br, "a channel was unsubscribed by Redis");
            if (!br->cfg.cluster)
                chan_sync(br, c);
            update_up(br);
        }
    }
}

/* ---- masters and the slot map ------------------------------------------------------------ */

static void on_publish_reply(void *ctx, const redisReply *r)
{
    struct redis_bridge *br = ctx;
    if (!r || r->type != REDIS_REPLY_ERROR)
        return;
    if (r->len >= 5 && memcmp(r->str, "MOVED", 5) == 0)
        want_refresh(br, "a key moved");
    else
        log_warn("redis bridge: %.*s", (int)r->len, r->str);
}

static int master_open(struct redis_bridge *br, size_t i, const char *host, uint16_t port)
{
    struct master *m = &br->masters[i];
    m->br = br;
    snprintf(m->host, sizeof(m->host), "%s", host);
    m->port = port;
    struct redis_client_callbacks cb = {m, on_master_up, on_master_down, on_push};
    struct redis_client_config cc = {m->host, port, br->password[0] ? br->password : NULL, false,
                                     0};
    m->pub = redis_client_new(&br->loop, &cc, &cb);
    cc.subscriber = true;
    m->sub = redis_client_new(&br->loop, &cc, &cb);
    if (!m->pub || !m->sub) {
        if (m->pub)
            redis_client_close(m->pub);
        if (m->sub)
            redis_client_close(m->sub);
        m->pub = m->sub = NULL;
        return MQ_ENOMEM;
    }
    redis_client_start(m->pub);
    redis_client_start(m->sub);
    return MQ_OK;
}

static void masters_close(struct redis_bridge *br)
{
    for (size_t i = 0; i < br->nmasters; i++) {
        redis_client_close(br->masters[i].pub);
        redis_client_close(br->masters[i].sub);
        br->masters[i].pub = br->masters[i].sub = NULL;
    }
    br->nmasters = 0;
    memset(br->ever_up, 0, sizeof(br->ever_up));
}

static bool same_masters(const struct redis_bridge *br, const struct redis_slot_map *map)
{
    if (map->nmasters != br->nmasters)
        return false;
    for (size_t i = 0; i < map->nmasters; i++)
        if (strcmp(map->masters[i].host, br->masters[i].host) != 0 ||
            map->masters[i].port != br->masters[i].port)
            return false;
    return true;
}

static void on_slots(void *ctx, const redisReply *r)
{
    struct redis_bridge *br = ctx;
    if (!r)
        return; /* the seed went down: its `up` asks again */
    struct redis_slot_map *map = malloc(sizeof(*map));
    if (!map || redis_slot_map_parse(r, map) != MQ_OK || map->nmasters == 0) {
        log_warn("redis bridge: CLUSTER SLOTS from %s: %s", redis_client_name(br->seed),
                 r->type == REDIS_REPLY_ERROR ? r->str : "not a usable slot map");
        free(map);
        return;
    }
    /* No endpoint given ("" or "?"): the server at the address we asked. */
    for (size_t i = 0; i < map->nmasters; i++)
        if (!map->masters[i].host[0] || strcmp(map->masters[i].host, "?") == 0)
            snprintf(map->masters[i].host, sizeof(map->masters[i].host), "%s", br->host);
    if (br->map && same_masters(br, map)) {
        free(br->map);
        br->map = map;
        resync(br, -1, false); /* same servers, maybe other owners */
        update_up(br);
        return;
    }
    masters_close(br);
    free(br->map);
    br->map = map;
    resync(br, -1, true);
    for (size_t i = 0; i < map->nmasters; i++) {
        if (master_open(br, i, map->masters[i].host, map->masters[i].port) != MQ_OK) {
            log_error("redis bridge: out of memory opening %s:%u", map->masters[i].host,
                      map->masters[i].port);
            break;
        }
        br->nmasters = i + 1;
    }
    log_info("redis bridge: Redis Cluster with %zu masters", br->nmasters);
    resync(br, -1, false);
    update_up(br);
}

/* Asks for the slot map: the seed if it is up, else any master that is. */
static void ask_slots(struct redis_bridge *br)
{
    struct redis_client *rc = br->seed && redis_client_is_up(br->seed) ? br->seed : NULL;
    for (size_t i = 0; !rc && i < br->nmasters; i++)
        if (redis_client_is_up(br->masters[i].pub))
            rc = br->masters[i].pub;
    const char *argv[2] = {"CLUSTER", "SLOTS"};
    size_t argvlen[2] = {7, 5};
    if (rc && redis_client_command(rc, 2, argv, argvlen, on_slots, br) == MQ_OK)
        br->refresh_wanted = false;
}

static void on_seed_up(void *ctx, struct redis_client *rc)
{
    ask_slots(ctx);
}

static void on_seed_down(void *ctx, struct redis_client *rc, const char *why)
{
}

/* ---- what other threads ask --------------------------------------------------------------- */

static void forward(struct redis_bridge *br, const char *name, size_t name_len, struct message *msg)
{
    uint64_t now = message_clock_ms();
    if (message_expired(msg, now))
        return;
    uint32_t expiry = msg->expires_at_ms ? message_expiry_left(msg, now) : 0;
    size_t plen = strlen(br->cfg.prefix);
    size_t frame_len =
        MESSAGE_HEADER + msg->sender_len + msg->topic_len + msg->props_len + msg->payload_len;
    uint8_t *f = scratch(br, frame_len + plen + name_len + 2);
    if (!f) {
        count_lost(br, "a message");
        return;
    }
    f[0] = FRAME_MESSAGE;
    put_u16(f + 1, br->cfg.node_id);
    f[3] = (uint8_t)((msg->qos & 3) | (msg->retain ? FLAG_RETAIN : 0) |
                     (msg->chat ? FLAG_CHAT : 0) | (msg->shadow ? FLAG_SHADOW : 0));
    put_u32(f + 4, expiry);
    f[8] = msg->sender_len;
    put_u16(f + 9, msg->topic_len);
    put_u32(f + 11, msg->props_len);
    uint8_t *p = f + MESSAGE_HEADER;
    if (msg->sender_len)
        memcpy(p, msg->sender, msg->sender_len);
    p += msg->sender_len;
    memcpy(p, msg->topic, msg->topic_len);
    p += msg->topic_len;
    if (msg->props_len)
        memcpy(p, msg->props, msg->props_len);
    p += msg->props_len;
    memcpy(p, msg->payload, msg->payload_len);

    char *full = (char *)f + frame_len;
    size_t flen = full_name(br, name, name_len, full);
    int m = master_of(br, full, flen);
    const char *cmd = br->cfg.cluster ? "SPUBLISH" : "PUBLISH";
    const char *argv[3] = {cmd, full, (const char *)f};
    size_t argvlen[3] = {strlen(cmd), flen, frame_len};
    if (!master_pub_up(br, m) ||
        redis_client_command(br->masters[m].pub, 3, argv, argvlen, on_publish_reply, br) != MQ_OK) {
        count_lost(br, "a message");
        return;
    }
    atomic_fetch_add_explicit(&br->stats.forwarded, 1, memory_order_relaxed);
}

/* Publishes the control events gathered in br->batch as one frame. */
static void control_flush(struct redis_bridge *br)
{
    if (br->batch_len <= CONTROL_HEADER)
        return;
    int m = master_of(br, br->control_name, br->control_len);
    const char *cmd = br->cfg.cluster ? "SPUBLISH" : "PUBLISH";
    const char *argv[3] = {cmd, br->control_name, (const char *)br->batch};
    size_t argvlen[3] = {strlen(cmd), br->control_len, br->batch_len};
    if (master_pub_up(br, m))
        redis_client_command(br->masters[m].pub, 3, argv, argvlen, on_publish_reply, br);
    br->batch_len = 0;
    br->batch_ordered = false;
}

/* Adds an event to the frame being gathered (one per wake-up, cut at
 * CONTROL_BATCH bytes): events are JSON, which never holds a raw newline,
 * so a newline separates them. */
static void control(struct redis_bridge *br, const char *event, size_t len, bool lazy)
{
    br->batch_ordered |= !lazy;
    if (br->batch_len > CONTROL_HEADER && br->batch_len + 1 + len > CONTROL_BATCH)
        control_flush(br);
    size_t need = (br->batch_len ? br->batch_len + 1 : CONTROL_HEADER) + len;
    if (need > br->batch_cap) {
        uint8_t *b = realloc(br->batch, need > CONTROL_BATCH ? need : CONTROL_BATCH);
        if (!b)
            return;
        br->batch = b;
        br->batch_cap = need > CONTROL_BATCH ? need : CONTROL_BATCH;
    }
    if (!br->batch_len) {
        br->batch[0] = FRAME_CONTROL;
        put_u16(br->batch + 1, br->cfg.node_id);
        br->batch_len = CONTROL_HEADER;
    } else {
        br->batch[br->batch_len++] = '\n';
    }
    memcpy(br->batch + br->batch_len, event, len);
    br->batch_len += len;
}

static void cache(struct redis_bridge *br, const char *key, size_t key_len, const char *value,
                  size_t value_len)
{
    char full[1024];
    if (key_len + strlen(br->cfg.prefix) + 2 > sizeof(full))
        return;
    size_t flen = full_name(br, key, key_len, full);
    int m = master_of(br, full, flen);
    if (!master_pub_up(br, m))
        return;
    char keep[24];
    int klen = snprintf(keep, sizeof(keep), "-%u", br->cfg.cache_max);
    const char *push[3] = {"RPUSH", full, value};
    size_t push_len[3] = {5, flen, value_len};
    const char *trim[4] = {"LTRIM", full, keep, "-1"};
    size_t trim_len[4] = {5, flen, (size_t)klen, 2};
    struct redis_client *rc = br->masters[m].pub;
    if (redis_client_command(rc, 3, push, push_len, on_publish_reply, br) == MQ_OK)
        redis_client_command(rc, 4, trim, trim_len, on_publish_reply, br);
}

static void item_free(struct item *it)
{
    message_unref(it->msg);
    free(it->name);
    free(it->data);
}

static void drain(struct redis_bridge *br)
{
    pthread_mutex_lock(&br->lock);
    struct item *items = br->inbox;
    size_t n = br->ninbox;
    br->inbox = NULL;
    br->ninbox = br->capinbox = 0;
    pthread_mutex_unlock(&br->lock);
    for (size_t i = 0; i < n; i++) {
        struct item *it = &items[i];
        switch (it->kind) {
        case ITEM_FORWARD:
            if (br->batch_ordered)
                control_flush(br); /* a block before the message it stops */
            forward(br, it->name, it->name_len, it->msg);
            break;
        case ITEM_INTEREST:
            interest(br, it->name, it->name_len, it->delta);
            break;
        case ITEM_CONTROL:
            control(br, it->data, it->data_len, it->lazy);
            break;
        case ITEM_CACHE:
            cache(br, it->name, it->name_len, it->data, it->data_len);
            break;
        }
        item_free(it);
    }
    free(items);
    control_flush(br);
}

/* Queues it (taking over what it holds) and wakes the thread. */
static void post(struct redis_bridge *br, struct item *it)
{
    pthread_mutex_lock(&br->lock);
    bool ok = !br->stopping;
    if (ok && br->ninbox == br->capinbox) {
        size_t cap = br->capinbox ? br->capinbox * 2 : 64;
        struct item *a = realloc(br->inbox, cap * sizeof(*a));
        if (a) {
            br->inbox = a;
            br->capinbox = cap;
        } else {
            ok = false;
        }
    }
    if (ok)
        br->inbox[br->ninbox++] = *it;
    pthread_mutex_unlock(&br->lock);
    if (!ok) {
        if (it->kind == ITEM_FORWARD)
            atomic_fetch_add_explicit(&br->stats.unforwarded, 1, memory_order_relaxed);
        item_free(it);
        return;
    }
    uv_async_send(&br->wake);
}

static char *copy_bytes(const char *s, size_t len)
{
    char *c = malloc(len + 1);
    if (c) {
        memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}

void redis_bridge_forward(struct redis_bridge *br, const char *channel, size_t len,
                          struct message *msg)
{
    struct item it = {.kind = ITEM_FORWARD, .name = copy_bytes(channel, len), .name_len = len};
    if (!it.name) {
        atomic_fetch_add_explicit(&br->stats.unforwarded, 1, memory_order_relaxed);
        return;
    }
    it.msg = message_ref(msg);
    post(br, &it);
}

void redis_bridge_interest(struct redis_bridge *br, const char *channel, size_t len, int delta)
{
    struct item it = {
        .kind = ITEM_INTEREST, .name = copy_bytes(channel, len), .name_len = len, .delta = delta};
    if (!it.name) {
        log_warn("redis bridge: interest in '%.*s' lost: out of memory", (int)len, channel);
        return;
    }
    post(br, &it);
}

void redis_bridge_control(struct redis_bridge *br, const char *event, size_t len, bool lazy)
{
    struct item it = {.kind = ITEM_CONTROL, .data = copy_bytes(event, len), .data_len = len,
                      .lazy = lazy};
    if (it.data)
        post(br, &it);
}

void redis_bridge_cache(struct redis_bridge *br, const char *key, size_t key_len, const char *value,
                        size_t value_len)
{
    struct item it = {.kind = ITEM_CACHE,
                      .name = copy_bytes(key, key_len),
                      .name_len = key_len,
                      .data = copy_bytes(value, value_len),
                      .data_len = value_len};
    if (it.name && it.data)
        post(br, &it);
    else
        item_free(&it);
}

const struct redis_bridge_stats *redis_bridge_stats(const struct redis_bridge *br)
{
    return &br->stats;
}

/* ---- the thread ----------------------------------------------------------------------------- */

static void close_all(struct redis_bridge *br)
{
    masters_close(br);
    if (br->seed) {
        redis_client_close(br->seed);
        br->seed = NULL;
    }
    uv_close((uv_handle_t *)&br->wake, NULL);
    uv_close((uv_handle_t *)&br->tick, NULL);
    uv_close((uv_handle_t *)&br->stop_timer, NULL);
}

static bool output_pending(const struct redis_bridge *br)
{
    for (size_t i = 0; i < br->nmasters; i++)
        if (redis_client_is_up(br->masters[i].pub) &&
            redis_client_pending_bytes(br->masters[i].pub) > 0)
            return true;
    return false;
}

static void on_stop_timer(uv_timer_t *t)
{
    struct redis_bridge *br = t->data;
    if (output_pending(br) && uv_now(&br->loop) < br->stop_deadline)
        return;
    uv_timer_stop(t);
    close_all(br);
}

static void on_wake(uv_async_t *h)
{
    struct redis_bridge *br = h->data;
    drain(br);
    pthread_mutex_lock(&br->lock);
    bool stopping = br->stopping;
    pthread_mutex_unlock(&br->lock);
    if (stopping && !uv_is_active((uv_handle_t *)&br->stop_timer)) {
        uv_timer_stop(&br->tick);
        br->stop_deadline = uv_now(&br->loop) + STOP_FLUSH_MS;
        uv_timer_start(&br->stop_timer, on_stop_timer, 10, 10);
    }
}

/* The control channel looks up but nothing of ours comes back on it: its
 * connections are dead without knowing it. */
static void check_echo(struct redis_bridge *br)
{
    if (!br->control_up || !br->cfg.echo_ms ||
        uv_now(&br->loop) - br->last_echo <= 2 * (uint64_t)br->cfg.echo_ms)
        return;
    struct chan *c = strmap_get(&br->chans, br->control_name, br->control_len);
    if (!c || c->master < 0 || (size_t)c->master >= br->nmasters)
        return;
    log_warn("redis bridge: nothing came back on the control channel for %u ms: reconnecting",
             2 * br->cfg.echo_ms);
    redis_client_drop(br->masters[c->master].sub, "no traffic on the control channel");
    redis_client_drop(br->masters[c->master].pub, "no traffic on the control channel");
}

static void on_tick(uv_timer_t *t)
{
    struct redis_bridge *br = t->data;
    check_echo(br);
    if (br->refresh_wanted)
        ask_slots(br);
    if (br->sink.tick)
        br->sink.tick(br->sink.ctx);
}

static void run(void *arg)
{
    struct redis_bridge *br = arg;
    if (br->cfg.cluster) {
        struct redis_client_callbacks cb = {br, on_seed_up, on_seed_down, NULL};
        struct redis_client_config cc = {br->host, br->port, br->password[0] ? br->password : NULL,
                                         false, 0};
        br->seed = redis_client_new(&br->loop, &cc, &cb);
        if (br->seed)
            redis_client_start(br->seed);
        else
            log_error("redis bridge: out of memory");
    } else if (master_open(br, 0, br->host, br->port) == MQ_OK) {
        br->nmasters = 1;
    } else {
        log_error("redis bridge: out of memory");
    }
    uv_timer_start(&br->tick, on_tick, br->cfg.tick_ms, br->cfg.tick_ms);
    drain(br);
    uv_run(&br->loop, UV_RUN_DEFAULT);
}

int redis_bridge_new(const struct redis_bridge_config *cfg, const struct redis_bridge_sink *sink,
                     struct redis_bridge **out)
{
    struct redis_bridge *br = calloc(1, sizeof(*br));
    if (!br)
        return MQ_ENOMEM;
    br->cfg = *cfg;
    br->sink = *sink;
    if (redis_url_parse(cfg->url, br->host, sizeof(br->host), &br->port, br->password,
                        sizeof(br->password)) != MQ_OK) {
        log_error("redis.url '%s': not redis://[:password@]host[:port]", cfg->url);
        free(br);
        return MQ_EINVAL;
    }
    br->cfg.url = NULL;
    if (strlen(cfg->prefix) > PREFIX_MAX) {
        log_error("redis.prefix: longer than %d bytes", PREFIX_MAX);
        free(br);
        return MQ_EINVAL;
    }
    br->cfg.prefix = strdup(cfg->prefix);
    br->control_name = malloc(PREFIX_MAX + sizeof(CONTROL_CHANNEL) + 1);
    if (!br->cfg.prefix || !br->control_name || strmap_init(&br->chans) != MQ_OK) {
        free((char *)br->cfg.prefix);
        free(br->control_name);
        free(br);
        return MQ_ENOMEM;
    }
    br->control_len = full_name(br, CONTROL_CHANNEL, strlen(CONTROL_CHANNEL), br->control_name);
    pthread_mutex_init(&br->lock, NULL);
    uv_loop_init(&br->loop);
    uv_async_init(&br->loop, &br->wake, on_wake);
    uv_timer_init(&br->loop, &br->tick);
    uv_timer_init(&br->loop, &br->stop_timer);
    br->wake.data = br->tick.data = br->stop_timer.data = br;
    redis_bridge_interest(br, CONTROL_CHANNEL, strlen(CONTROL_CHANNEL), 1);
    *out = br;
    return MQ_OK;
}

int redis_bridge_start(struct redis_bridge *br)
{
    if (uv_thread_create(&br->thread, run, br) != 0) {
        log_error("redis bridge: cannot start its thread");
        return MQ_EIO;
    }
    br->started = true;
    return MQ_OK;
}

static void free_chan(void *ctx, void *value)
{
    free(value);
}

void redis_bridge_free(struct redis_bridge *br)
{
    if (!br)
        return;
    pthread_mutex_lock(&br->lock);
    br->stopping = true;
    pthread_mutex_unlock(&br->lock);
    if (br->started) {
        uv_async_send(&br->wake);
        uv_thread_join(&br->thread);
    } else {
        close_all(br); /* nothing connected: only the handles to close, here */
        uv_run(&br->loop, UV_RUN_DEFAULT);
    }
    for (size_t i = 0; i < br->ninbox; i++)
        item_free(&br->inbox[i]);
    free(br->inbox);
    uv_loop_close(&br->loop);
    strmap_each(&br->chans, free_chan, NULL);
    strmap_free(&br->chans);
    pthread_mutex_destroy(&br->lock);
    free(br->map);
    free(br->frame);
    free(br->batch);
    free(br->control_name);
    free((char *)br->cfg.prefix);
    free(br);
}
