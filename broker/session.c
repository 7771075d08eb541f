/*
 * session.c - session state and message delivery to one client (see
 * session.h).
 *
 * Outgoing QoS 1/2 messages go through a window of at most
 * max_inflight_messages unacknowledged publishes; behind it a FIFO queue
 * bounded by max_queued_messages and max_queued_bytes keeps order. Once a
 * message is queued, later ones queue behind it even if the window has
 * room, so a client always receives one publisher's messages in order.
 * QoS 0 messages are never queued: they go out at once or, when the
 * connection's unsent output is over conn.out_soft_bytes or the client is
 * offline, are dropped (and counted, for an online client).
 *
 * MQTT 5: the window is also bounded by the client's Receive Maximum; a
 * PUBLISH larger than the client's Maximum Packet Size is dropped (counted);
 * an expired message is dropped wherever it waits; delayed wills wait in the
 * offline session until due.
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "cluster.h"
#include "conn.h"
#include "errors.h"
#include "mqtt5.h"
#include "mqtt_codec.h"
#include "persist.h"
#include "router.h"
#include "shared.h"
#include "topic_tree.h"
#include "worker.h"

static atomic_uint_fast64_t next_uid = 1;

struct session *session_find(struct worker *w, const char *client_id, size_t len)
{
    return strmap_get(&w->sessions, client_id, len);
}

struct session *session_create(struct worker *w, const char *client_id, size_t len,
                               const char *username, size_t username_len, uint32_t expiry_s)
{
    struct session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->w = w;
    s->uid = atomic_fetch_add(&next_uid, 1);
    s->expiry_s = expiry_s;
    s->client_id = strndup(client_id, len);
    s->client_id_len = (uint16_t)len;
    s->username = username ? strndup(username, username_len) : NULL;
    if (!s->client_id || (username && !s->username) ||
        strmap_put(&w->sessions, s->client_id, len, s) != MQ_OK) {
        free(s->client_id);
        free(s->username);
        free(s);
        return NULL;
    }
    w->count.clients_total++;
    return s;
}

static void subscription_drop(struct session *s, struct subscription *sub)
{
    struct worker *w = s->w;
    if (sub->shared) {
        const char *group, *filter;
        size_t group_len, filter_len;
        bool valid;
        shared_parse(sub->filter, sub->filter_len, &group, &group_len, &filter, &filter_len,
                     &valid);
        shared_remove(&w->b->shared, group, group_len, filter, filter_len, s->uid);
    } else {
        topic_tree_remove(w->tree, sub->filter, sub->filter_len, s);
        cluster_interest(w->b, sub->filter, sub->filter_len, -1);
    }
    free(sub->filter);
}

void session_destroy(struct session *s)
{
    if (s->persisted)
        persist_session_delete(s);
    session_free(s);
}

void session_free(struct session *s)
{
    struct worker *w = s->w;
    for (size_t i = 0; i < s->nsubs; i++)
        subscription_drop(s, &s->subs[i]);
    w->count.subscriptions -= s->nsubs;
    for (size_t i = 0; i < s->ninflight; i++)
        message_unref(s->inflight[i].msg);
    w->count.inflight -= s->ninflight;
    for (size_t i = 0; i < s->qlen; i++)
        message_unref(s->queue[(s->qhead + i) % s->qcap].msg);
    w->count.queued -= s->qlen;
    message_unref(s->will);
    strmap_remove(&w->sessions, s->client_id, s->client_id_len);
    w->count.clients_total--;
    free(s->subs);
    free(s->inflight);
    free(s->queue);
    free(s->rx_qos2);
    free(s->client_id);
    free(s->username);
    free(s);
}

void session_set_will(struct session *s, struct message *will, uint32_t delay_s, uint32_t expiry_s)
{
    message_unref(s->will);
    s->will = will;
    s->will_delay_s = delay_s;
    s->will_expiry_s = expiry_s;
    s->will_due_ms = 0;
}

struct message *session_take_will(struct session *s)
{
    struct message *will = s->will;
    s->will = NULL;
    s->will_due_ms = 0;
    /* Its Message Expiry Interval runs from now: the session holds the only
     * reference, so nobody else sees the message change. */
    if (will && s->will_expiry_s)
        will->expires_at_ms = message_clock_ms() + s->will_expiry_s * 1000ull;
    return will;
}

/* Fills the encode cache with m's PUBLISH for (version family, qos, retain):
 * the form every subscriber without per-subscriber properties gets. */
static int encode_shared_form(struct worker *w, struct message *m, uint8_t version, uint8_t qos,
                              bool retain)
{
    struct encode_cache *e = &w->enc;
    bool v5 = version == MQTT_V5;
    if (e->msg == m && e->v5 == v5 && e->qos == qos && e->retain == retain)
        return MQ_OK;
    size_t n = v5 ? mqtt5_publish_size(m->topic_len, m->props_len, m->payload_len, qos)
                  : mqtt_publish_size(m->topic_len, m->payload_len, qos);
    if (n > e->cap) {
        uint8_t *bytes = realloc(e->bytes, n);
        if (!bytes)
            return MQ_ENOMEM;
        e->bytes = bytes;
        e->cap = n;
    }
    if (v5)
        e->len = mqtt5_encode_publish(e->bytes, m->topic, m->topic_len, m->props, m->props_len,
                                      m->payload, m->payload_len, qos, retain, false, qos ? 1 : 0,
                                      &e->id_offset);
    else
        e->len = mqtt_encode_publish(e->bytes, m->topic, m->topic_len, m->payload, m->payload_len,
                                     qos, retain, false, qos ? 1 : 0, &e->id_offset);
    message_ref(m);
    message_unref(e->msg);
    e->msg = m;
    e->v5 = v5;
    e->qos = qos;
    e->retain = retain;
    return MQ_OK;
}

/* The MQTT 5 properties one subscriber's copy needs beyond m->props. */
static void put_own_props(struct mqtt5_writer *pw, const struct message *m,
                          const struct delivery *d, uint16_t alias, uint64_t now_ms)
{
    if (m->expires_at_ms)
        mqtt5_put_u32(pw, MQTT5_PROP_MESSAGE_EXPIRY_INTERVAL, message_expiry_left(m, now_ms));
    mqtt5_put_raw(pw, m->props, m->props_len);
    for (uint8_t i = 0; i < d->nsubids; i++)
        mqtt5_put_varint(pw, MQTT5_PROP_SUBSCRIPTION_IDENTIFIER, d->subids[i]);
    if (alias)
        mqtt5_put_u16(pw, MQTT5_PROP_TOPIC_ALIAS, alias);
}

/* An MQTT 5 PUBLISH made for this subscriber alone (Subscription
 * Identifiers, a topic alias or a Message Expiry Interval). */
static int send_publish_v5_own(struct session *s, struct message *m, const struct delivery *d,
                               uint16_t id, bool dup)
{
    struct conn *c = s->conn;
    uint64_t now = message_clock_ms();
    bool fresh = false;
    uint16_t alias = conn_alias_out(c, m->topic, m->topic_len, &fresh);
    struct mqtt5_writer pw;
    mqtt5_writer_init(&pw, NULL, 0);
    put_own_props(&pw, m, d, alias, now);
    size_t plen = pw.len;
    size_t tlen = alias && !fresh ? 0 : m->topic_len;
    size_t n = mqtt5_publish_size(tlen, (uint32_t)plen, m->payload_len, d->qos);
    if (c->max_packet_out && n > c->max_packet_out) {
        if (fresh)
            conn_alias_out_forget(c, m->topic, m->topic_len);
        s->w->count.msgs_dropped++;
        return MQ_ETOOLARGE;
    }
    uint8_t *props = malloc(plen ? plen : 1);
    if (!props)
        return MQ_ENOMEM;
    mqtt5_writer_init(&pw, props, plen);
    put_own_props(&pw, m, d, alias, now);
    int rc = MQ_EIO;
    uint8_t *p = conn_reserve(c, n);
    if (p) {
        mqtt5_encode_publish(p, m->topic, tlen, props, (uint32_t)plen, m->payload, m->payload_len,
                             d->qos, d->retain, dup, id, NULL);
        s->w->count.msgs_sent++;
        rc = MQ_OK;
    } else if (fresh) {
        conn_alias_out_forget(c, m->topic, m->topic_len);
    }
    free(props);
    return rc;
}

/* Appends the PUBLISH of m to s's connection. The common case is encoded
 * once per (message, version, QoS, retain) on this worker and copied, with
 * only the packet id and DUP patched; MQTT 5 copies that need properties of
 * their own are encoded for the subscriber. */
static int send_publish(struct session *s, struct message *m, const struct delivery *d, uint16_t id,
                        bool dup)
{
    struct worker *w = s->w;
    struct conn *c = s->conn;
    if (c->version == MQTT_V5 && (d->nsubids || m->expires_at_ms || c->alias_max_out))
        return send_publish_v5_own(s, m, d, id, dup);
    int rc = encode_shared_form(w, m, c->version, d->qos, d->retain);
    if (rc != MQ_OK)
        return rc;
    struct encode_cache *e = &w->enc;
    if (c->max_packet_out && e->len > c->max_packet_out) {
        w->count.msgs_dropped++;
        return MQ_ETOOLARGE;
    }
    uint8_t *p = conn_reserve(c, e->len);
    if (!p)
        return MQ_EIO;
    memcpy(p, e->bytes, e->len);
    if (d->qos) {
        p[e->id_offset] = (uint8_t)(id >> 8);
        p[e->id_offset + 1] = (uint8_t)id;
        if (dup)
            p[0] |= 0x08;
    }
    w->count.msgs_sent++;
    return MQ_OK;
}

static int send_pubrel(struct session *s, uint16_t id)
{
    uint8_t *p = conn_reserve(s->conn, 4);
    if (!p)
        return MQ_EIO;
    mqtt_encode_ack(p, MQTT_PUBREL, id);
    return MQ_OK;
}

static size_t window_size(const struct session *s)
{
    uint32_t max = s->w->b->cfg->max_inflight_messages;
    if (!max || max > 65535)
        max = 65535;
    if (s->conn && s->conn->version == MQTT_V5 && s->conn->receive_max < max)
        max = s->conn->receive_max;
    return max;
}

static uint16_t next_packet_id(struct session *s)
{
    for (;;) {
        uint16_t id = ++s->next_packet_id;
        if (id == 0)
            continue;
        bool used = false;
        for (size_t i = 0; i < s->ninflight && !used; i++)
            used = s->inflight[i].packet_id == id;
        if (!used)
            return id;
    }
}

static bool inflight_grow(struct session *s)
{
    if (s->ninflight < s->capinflight)
        return true;
    size_t cap = s->capinflight ? s->capinflight * 2 : 4;
    struct inflight *a = realloc(s->inflight, cap * sizeof(*a));
    if (!a)
        return false;
    s->inflight = a;
    s->capinflight = cap;
    return true;
}

/* A message enters s: its row number (0 when s is not persisted). */
static uint64_t persist_enter(struct session *s, struct message *m, const struct delivery *d,
                              uint8_t state, uint16_t packet_id)
{
    if (!s->persisted)
        return 0;
    uint64_t seq = ++s->persist_seq;
    persist_message(s, seq, m, d, state, packet_id);
    return seq;
}

static void persist_leave(struct session *s, uint64_t seq)
{
    if (seq)
        persist_message_delete(s, seq);
}

/* Puts m into the window and sends it. The caller checked there is room.
 * seq: m's row if it comes from the queue, else 0. */
static void inflight_send(struct session *s, struct message *m, const struct delivery *d,
                          uint64_t seq)
{
    if (!inflight_grow(s)) {
        s->w->count.msgs_dropped++;
        persist_leave(s, seq);
        return;
    }
    uint16_t id = next_packet_id(s);
    if (send_publish(s, m, d, id, false) == MQ_ETOOLARGE) {
        persist_leave(s, seq);
        return; /* never fits this client: not worth a window slot */
    }
    uint8_t state = d->qos == 1 ? INFLIGHT_PUBACK : INFLIGHT_PUBREC;
    if (seq)
        persist_message_state(s, seq, 1 + state, id);
    else
        seq = persist_enter(s, m, d, 1 + state, id);
    struct inflight *f = &s->inflight[s->ninflight++];
    f->msg = message_ref(m);
    f->seq = seq;
    f->packet_id = id;
    f->d = *d;
    f->state = state;
    s->w->count.inflight++;
}

static bool queue_push(struct session *s, struct message *m, const struct delivery *d)
{
    const struct config *cfg = s->w->b->cfg;
    if ((cfg->max_queued_messages && s->qlen >= cfg->max_queued_messages) ||
        (cfg->max_queued_bytes && s->qbytes + m->payload_len > cfg->max_queued_bytes))
        return false;
    if (s->qlen == s->qcap) {
        size_t cap = s->qcap ? s->qcap * 2 : 8;
        struct queued *q = malloc(cap * sizeof(*q));
        if (!q)
            return false;
        for (size_t i = 0; i < s->qlen; i++)
            q[i] = s->queue[(s->qhead + i) % s->qcap];
        free(s->queue);
        s->queue = q;
        s->qcap = cap;
        s->qhead = 0;
    }
    uint64_t seq = persist_enter(s, m, d, 0, 0);
    s->queue[(s->qhead + s->qlen) % s->qcap] = (struct queued){message_ref(m), seq, *d};
    s->qlen++;
    s->qbytes += m->payload_len;
    s->w->count.queued++;
    return true;
}

/* Moves queued messages into the window while it has room. */
static void queue_pump(struct session *s)
{
    size_t window = window_size(s);
    uint64_t now = 0;
    while (s->conn && s->qlen && s->ninflight < window) {
        struct queued q = s->queue[s->qhead];
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        s->qbytes -= q.msg->payload_len;
        s->w->count.queued--;
        if (q.msg->expires_at_ms && !now)
            now = message_clock_ms();
        if (!message_expired(q.msg, now))
            inflight_send(s, q.msg, &q.d, q.seq);
        else
            persist_leave(s, q.seq);
        message_unref(q.msg);
    }
}

static bool may_read(const struct session *s, const struct message *m)
{
    const struct auth_snapshot *a = s->w->auth;
    return !a || !a->acl ||
           acl_check(a->acl, s->username, s->client_id, m->topic, m->topic_len, ACL_READ);
}

void session_deliver(struct session *s, struct message *m, const struct delivery *d)
{
    struct worker *w = s->w;
    if (!may_read(s, m) || (m->expires_at_ms && message_expired(m, message_clock_ms())))
        return;
    if (d->qos == 0) {
        if (!s->conn)
            return;
        if (conn_backlog(s->conn) > w->b->cfg->out_soft_bytes) {
            w->count.msgs_dropped++;
            return;
        }
        send_publish(s, m, d, 0, false);
        return;
    }
    if (s->conn && s->qlen == 0 && s->ninflight < window_size(s)) {
        inflight_send(s, m, d, 0);
        return;
    }
    if (!queue_push(s, m, d))
        w->count.msgs_dropped++;
}

void session_attach(struct session *s, struct conn *c)
{
    s->conn = c;
    s->w->count.clients_connected++;
    for (size_t i = 0; i < s->ninflight;) {
        struct inflight *f = &s->inflight[i];
        if (f->state == INFLIGHT_PUBCOMP) {
            send_pubrel(s, f->packet_id);
        } else if (send_publish(s, f->msg, &f->d, f->packet_id, true) == MQ_ETOOLARGE) {
            /* Too large for the client's new Maximum Packet Size: it can never
             * be acknowledged, so it counts as delivered (MQTT 5 3.1.2.11.4). */
            persist_leave(s, f->seq);
            message_unref(f->msg);
            memmove(f, f + 1, (s->ninflight - i - 1) * sizeof(*f));
            s->ninflight--;
            s->w->count.inflight--;
            continue;
        }
        i++;
    }
    queue_pump(s);
}

void session_detach(struct session *s, bool send_will)
{
    struct worker *w = s->w;
    s->conn = NULL;
    w->count.clients_connected--;
    s->offline_since_ms = uv_now(&w->loop);
    if (s->expiry_s)
        persist_session(s);
    if (!send_will) {
        message_unref(s->will);
        s->will = NULL;
    } else if (s->will && s->will_delay_s && s->expiry_s) {
        /* MQTT 5: the will waits for its delay or the end of the session,
         * whichever comes first (session_expire sends it). */
        uint32_t delay = s->will_delay_s < s->expiry_s ? s->will_delay_s : s->expiry_s;
        s->will_due_ms = s->offline_since_ms + (uint64_t)delay * 1000;
        worker_wake_at(w, s->will_due_ms);
        return;
    }
    struct message *will = session_take_will(s);
    if (s->expiry_s == 0)
        session_destroy(s);
    if (will)
        router_publish(w, will);
}

/* Adds sub to the tree or, for "$share/", to the shared registry. */
static int subscription_add(struct session *s, const char *filter, size_t len, uint8_t options,
                            uint32_t sub_id)
{
    const char *group, *f;
    size_t group_len, f_len;
    bool valid;
    if (!shared_parse(filter, len, &group, &group_len, &f, &f_len, &valid))
        return topic_tree_add(s->w->tree, filter, len, s, options, sub_id);
    if (!valid)
        return MQ_EINVAL;
    struct shared_member m = {s->uid, s->w->index, s->client_id, options, sub_id};
    return shared_add(&s->w->b->shared, group, group_len, f, f_len, &m);
}

int session_subscribe(struct session *s, const char *filter, size_t len, uint8_t options,
                      uint32_t sub_id)
{
    struct worker *w = s->w;
    for (size_t i = 0; i < s->nsubs; i++) {
        struct subscription *sub = &s->subs[i];
        if (sub->filter_len == len && memcmp(sub->filter, filter, len) == 0) {
            int rc = subscription_add(s, filter, len, options, sub_id);
            if (rc < 0)
                return rc;
            sub->options = options;
            sub->sub_id = sub_id;
            persist_subscribe(s, filter, len, options, sub_id);
            return 0;
        }
    }
    uint32_t max = w->b->cfg->max_subscriptions;
    if (max && s->nsubs >= max)
        return MQ_EFULL;
    if (s->nsubs == s->capsubs) {
        size_t cap = s->capsubs ? s->capsubs * 2 : 2;
        struct subscription *a = realloc(s->subs, cap * sizeof(*a));
        if (!a)
            return MQ_ENOMEM;
        s->subs = a;
        s->capsubs = cap;
    }
    char *copy = strndup(filter, len);
    if (!copy)
        return MQ_ENOMEM;
    int rc = subscription_add(s, filter, len, options, sub_id);
    if (rc < 0) {
        free(copy);
        return rc;
    }
    bool shared = strncmp(copy, "$share/", 7) == 0;
    if (!shared)
        cluster_interest(w->b, copy, len, +1);
    s->subs[s->nsubs++] = (struct subscription){copy, (uint16_t)len, options, sub_id, shared};
    w->count.subscriptions++;
    persist_subscribe(s, filter, len, options, sub_id);
    return 1;
}

int session_unsubscribe(struct session *s, const char *filter, size_t len)
{
    for (size_t i = 0; i < s->nsubs; i++) {
        struct subscription *sub = &s->subs[i];
        if (sub->filter_len == len && memcmp(sub->filter, filter, len) == 0) {
            subscription_drop(s, sub);
            s->subs[i] = s->subs[--s->nsubs];
            s->w->count.subscriptions--;
            persist_unsubscribe(s, filter, len);
            return MQ_OK;
        }
    }
    return MQ_ENOTFOUND;
}

static struct inflight *inflight_find(struct session *s, uint16_t id, uint8_t state)
{
    for (size_t i = 0; i < s->ninflight; i++)
        if (s->inflight[i].packet_id == id && s->inflight[i].state == state)
            return &s->inflight[i];
    return NULL;
}

/* Removes a finished entry, keeping the others in send order. */
static void inflight_remove(struct session *s, struct inflight *f)
{
    persist_leave(s, f->seq);
    message_unref(f->msg);
    size_t i = (size_t)(f - s->inflight);
    memmove(f, f + 1, (s->ninflight - i - 1) * sizeof(*f));
    s->ninflight--;
    s->w->count.inflight--;
    queue_pump(s);
}

void session_on_puback(struct session *s, uint16_t id)
{
    struct inflight *f = inflight_find(s, id, INFLIGHT_PUBACK);
    if (f)
        inflight_remove(s, f);
}

void session_on_pubrec(struct session *s, uint16_t id, uint8_t reason)
{
    struct inflight *f = inflight_find(s, id, INFLIGHT_PUBREC);
    if (f && reason >= 0x80) {
        inflight_remove(s, f); /* the receiver refused it: the flow ends here */
        return;
    }
    if (f) {
        message_unref(f->msg);
        f->msg = NULL;
        f->state = INFLIGHT_PUBCOMP;
        if (f->seq)
            persist_message_state(s, f->seq, 1 + INFLIGHT_PUBCOMP, id);
    } else if (!inflight_find(s, id, INFLIGHT_PUBCOMP)) {
        return;
    }
    send_pubrel(s, id);
}

void session_on_pubcomp(struct session *s, uint16_t id)
{
    struct inflight *f = inflight_find(s, id, INFLIGHT_PUBCOMP);
    if (f)
        inflight_remove(s, f);
}

int session_restore_message(struct session *s, struct message *msg, const struct delivery *d,
                            uint8_t state, uint16_t packet_id, uint64_t seq)
{
    if (seq > s->persist_seq)
        s->persist_seq = seq;
    if (state == 0) {
        if (!queue_push(s, msg, d))
            return MQ_ENOMEM;
        s->queue[(s->qhead + s->qlen - 1) % s->qcap].seq = seq;
        return MQ_OK;
    }
    if (!inflight_grow(s))
        return MQ_ENOMEM;
    struct inflight *f = &s->inflight[s->ninflight++];
    f->msg = msg ? message_ref(msg) : NULL;
    f->seq = seq;
    f->packet_id = packet_id;
    f->d = *d;
    f->state = (uint8_t)(state - 1);
    s->w->count.inflight++;
    return MQ_OK;
}

bool session_rx_qos2_has(const struct session *s, uint16_t id)
{
    for (size_t i = 0; i < s->nrx_qos2; i++)
        if (s->rx_qos2[i] == id)
            return true;
    return false;
}

int session_rx_qos2_add(struct session *s, uint16_t id)
{
    if (s->nrx_qos2 == s->caprx_qos2) {
        size_t cap = s->caprx_qos2 ? s->caprx_qos2 * 2 : 4;
        uint16_t *a = realloc(s->rx_qos2, cap * sizeof(*a));
        if (!a)
            return MQ_ENOMEM;
        s->rx_qos2 = a;
        s->caprx_qos2 = cap;
    }
    s->rx_qos2[s->nrx_qos2++] = id;
    return MQ_OK;
}

size_t session_rx_qos2_count(const struct session *s)
{
    return s->nrx_qos2;
}

void session_rx_qos2_release(struct session *s, uint16_t id)
{
    for (size_t i = 0; i < s->nrx_qos2; i++) {
        if (s->rx_qos2[i] == id) {
            s->rx_qos2[i] = s->rx_qos2[--s->nrx_qos2];
            return;
        }
    }
}

struct expiry_scan {
    uint64_t now_ms;
    uint32_t v3_expiry_s; /* persistent_client_expiration; 0 = never */
    struct session **due; /* offline sessions with work to do now */
    size_t n, cap;
    uint64_t next_will_ms; /* the earliest delayed will not yet due; 0 = none */
};

/* Seconds an offline s is kept; 0 = forever. */
static uint32_t effective_expiry(const struct session *s, uint32_t v3_expiry_s)
{
    return s->expiry_s == SESSION_EXPIRY_NEVER ? v3_expiry_s : s->expiry_s;
}

static bool session_is_expired(const struct session *s, const struct expiry_scan *x)
{
    uint32_t e = effective_expiry(s, x->v3_expiry_s);
    return e && x->now_ms - s->offline_since_ms >= (uint64_t)e * 1000;
}

static void find_due(void *ctx, void *value)
{
    struct expiry_scan *x = ctx;
    struct session *s = value;
    if (s->conn)
        return;
    bool will_due = s->will && s->will_due_ms && x->now_ms >= s->will_due_ms;
    if (!will_due && !session_is_expired(s, x)) {
        if (s->will && s->will_due_ms && (!x->next_will_ms || s->will_due_ms < x->next_will_ms))
            x->next_will_ms = s->will_due_ms;
        return;
    }
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        struct session **v = realloc(x->due, cap * sizeof(*v));
        if (!v)
            return;
        x->due = v;
        x->cap = cap;
    }
    x->due[x->n++] = s;
}

void session_expire(struct worker *w, uint64_t now_ms)
{
    struct expiry_scan x = {.now_ms = now_ms,
                            .v3_expiry_s = w->b->cfg->persistent_client_expiration};
    strmap_each(&w->sessions, find_due, &x);
    for (size_t i = 0; i < x.n; i++) {
        struct session *s = x.due[i];
        struct message *will = s->will_due_ms ? session_take_will(s) : NULL;
        if (session_is_expired(s, &x))
            session_destroy(s);
        if (will)
            router_publish(w, will);
    }
    free(x.due);
    if (x.next_will_ms)
        worker_wake_at(w, x.next_will_ms);
}
