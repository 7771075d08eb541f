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
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "conn.h"
#include "errors.h"
#include "mqtt_codec.h"
#include "router.h"
#include "topic_tree.h"
#include "worker.h"

struct session *session_find(struct worker *w, const char *client_id, size_t len)
{
    return strmap_get(&w->sessions, client_id, len);
}

struct session *session_create(struct worker *w, const char *client_id, size_t len,
                               const char *username, size_t username_len, bool clean)
{
    struct session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->w = w;
    s->clean = clean;
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

void session_destroy(struct session *s)
{
    struct worker *w = s->w;
    for (size_t i = 0; i < s->nsubs; i++) {
        topic_tree_remove(w->tree, s->subs[i].filter, s->subs[i].filter_len, s);
        free(s->subs[i].filter);
    }
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

void session_set_will(struct session *s, struct message *will)
{
    message_unref(s->will);
    s->will = will;
}

/* Appends the PUBLISH of m to s's connection; encodes once per (message,
 * QoS, retain) on this worker and patches only the packet id and DUP. */
static int send_publish(struct session *s, struct message *m, uint8_t qos, uint16_t id,
                        bool retain, bool dup)
{
    struct worker *w = s->w;
    struct encode_cache *e = &w->enc;
    if (e->msg != m || e->qos != qos || e->retain != retain) {
        size_t n = mqtt_publish_size(m->topic_len, m->payload_len, qos);
        if (n > e->cap) {
            uint8_t *bytes = realloc(e->bytes, n);
            if (!bytes)
                return MQ_ENOMEM;
            e->bytes = bytes;
            e->cap = n;
        }
        e->len = mqtt_encode_publish(e->bytes, m->topic, m->topic_len, m->payload,
                                     m->payload_len, qos, retain, false, qos ? 1 : 0,
                                     &e->id_offset);
        message_ref(m);
        message_unref(e->msg);
        e->msg = m;
        e->qos = qos;
        e->retain = retain;
    }
    uint8_t *p = conn_reserve(s->conn, e->len);
    if (!p)
        return MQ_EIO;
    memcpy(p, e->bytes, e->len);
    if (qos) {
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
    return max ? max : 65535;
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

/* Puts m into the window and sends it. The caller checked there is room. */
static void inflight_send(struct session *s, struct message *m, uint8_t qos, bool retain)
{
    if (s->ninflight == s->capinflight) {
        size_t cap = s->capinflight ? s->capinflight * 2 : 4;
        struct inflight *a = realloc(s->inflight, cap * sizeof(*a));
        if (!a) {
            s->w->count.msgs_dropped++;
            return;
        }
        s->inflight = a;
        s->capinflight = cap;
    }
    struct inflight *f = &s->inflight[s->ninflight++];
    f->msg = message_ref(m);
    f->packet_id = next_packet_id(s);
    f->qos = qos;
    f->retain = retain;
    f->state = qos == 1 ? INFLIGHT_PUBACK : INFLIGHT_PUBREC;
    s->w->count.inflight++;
    send_publish(s, m, qos, f->packet_id, retain, false);
}

static bool queue_push(struct session *s, struct message *m, uint8_t qos, bool retain)
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
    s->queue[(s->qhead + s->qlen) % s->qcap] = (struct queued){message_ref(m), qos, retain};
    s->qlen++;
    s->qbytes += m->payload_len;
    s->w->count.queued++;
    return true;
}

/* Moves queued messages into the window while it has room. */
static void queue_pump(struct session *s)
{
    size_t window = window_size(s);
    while (s->conn && s->qlen && s->ninflight < window) {
        struct queued q = s->queue[s->qhead];
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        s->qbytes -= q.msg->payload_len;
        s->w->count.queued--;
        inflight_send(s, q.msg, q.qos, q.retain);
        message_unref(q.msg);
    }
}

static bool may_read(const struct session *s, const struct message *m)
{
    const struct auth_snapshot *a = s->w->auth;
    return !a || !a->acl ||
           acl_check(a->acl, s->username, s->client_id, m->topic, m->topic_len, ACL_READ);
}

void session_deliver(struct session *s, struct message *m, uint8_t qos, bool retain)
{
    struct worker *w = s->w;
    if (!may_read(s, m))
        return;
    if (qos == 0) {
        if (!s->conn)
            return;
        if (conn_backlog(s->conn) > w->b->cfg->out_soft_bytes) {
            w->count.msgs_dropped++;
            return;
        }
        send_publish(s, m, 0, 0, retain, false);
        return;
    }
    if (s->conn && s->qlen == 0 && s->ninflight < window_size(s)) {
        inflight_send(s, m, qos, retain);
        return;
    }
    if (!queue_push(s, m, qos, retain))
        w->count.msgs_dropped++;
}

void session_attach(struct session *s, struct conn *c)
{
    s->conn = c;
    s->w->count.clients_connected++;
    for (size_t i = 0; i < s->ninflight; i++) {
        struct inflight *f = &s->inflight[i];
        if (f->state == INFLIGHT_PUBCOMP)
            send_pubrel(s, f->packet_id);
        else
            send_publish(s, f->msg, f->qos, f->packet_id, f->retain, true);
    }
    queue_pump(s);
}

void session_detach(struct session *s, bool send_will)
{
    struct worker *w = s->w;
    s->conn = NULL;
    w->count.clients_connected--;
    s->offline_since_ms = uv_now(&w->loop);
    struct message *will = s->will;
    s->will = NULL;
    if (s->clean)
        session_destroy(s);
    if (will && send_will)
        router_publish(w, will);
    else
        message_unref(will);
}

int session_subscribe(struct session *s, const char *filter, size_t len, uint8_t options)
{
    struct worker *w = s->w;
    for (size_t i = 0; i < s->nsubs; i++) {
        struct subscription *sub = &s->subs[i];
        if (sub->filter_len == len && memcmp(sub->filter, filter, len) == 0) {
            sub->options = options;
            return topic_tree_add(w->tree, filter, len, s, options, 0) < 0 ? MQ_ENOMEM : 0;
        }
    }
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
    int rc = topic_tree_add(w->tree, filter, len, s, options, 0);
    if (rc < 0) {
        free(copy);
        return rc;
    }
    s->subs[s->nsubs++] = (struct subscription){copy, (uint16_t)len, options};
    w->count.subscriptions++;
    return 1;
}

int session_unsubscribe(struct session *s, const char *filter, size_t len)
{
    for (size_t i = 0; i < s->nsubs; i++) {
        struct subscription *sub = &s->subs[i];
        if (sub->filter_len == len && memcmp(sub->filter, filter, len) == 0) {
            topic_tree_remove(s->w->tree, filter, len, s);
            free(sub->filter);
            s->subs[i] = s->subs[--s->nsubs];
            s->w->count.subscriptions--;
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

void session_on_pubrec(struct session *s, uint16_t id)
{
    struct inflight *f = inflight_find(s, id, INFLIGHT_PUBREC);
    if (f) {
        message_unref(f->msg);
        f->msg = NULL;
        f->state = INFLIGHT_PUBCOMP;
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

bool session_rx_qos2_seen(struct session *s, uint16_t id)
{
    for (size_t i = 0; i < s->nrx_qos2; i++)
        if (s->rx_qos2[i] == id)
            return true;
    if (s->nrx_qos2 == s->caprx_qos2) {
        size_t cap = s->caprx_qos2 ? s->caprx_qos2 * 2 : 4;
        uint16_t *a = realloc(s->rx_qos2, cap * sizeof(*a));
        if (!a)
            return false; /* cannot remember it: deliver, at worst twice */
        s->rx_qos2 = a;
        s->caprx_qos2 = cap;
    }
    s->rx_qos2[s->nrx_qos2++] = id;
    return false;
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
    uint64_t now_ms, max_age_ms;
    struct session **victims;
    size_t n, cap;
};

static void find_expired(void *ctx, void *value)
{
    struct expiry_scan *x = ctx;
    struct session *s = value;
    if (s->conn || x->now_ms - s->offline_since_ms < x->max_age_ms)
        return;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        struct session **v = realloc(x->victims, cap * sizeof(*v));
        if (!v)
            return;
        x->victims = v;
        x->cap = cap;
    }
    x->victims[x->n++] = s;
}

void session_expire(struct worker *w, uint64_t now_ms)
{
    uint32_t expiry = w->b->cfg->persistent_client_expiration;
    if (!expiry)
        return;
    struct expiry_scan x = {.now_ms = now_ms, .max_age_ms = (uint64_t)expiry * 1000};
    strmap_each(&w->sessions, find_expired, &x);
    for (size_t i = 0; i < x.n; i++)
        session_destroy(x.victims[i]);
    free(x.victims);
}
