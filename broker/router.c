/*
 * router.c - fan-out of one message: retained store, this worker, the
 * other workers, shared subscription groups (see router.h).
 *
 * A worker with no subscriptions at all is skipped: each worker publishes
 * its subscription count (an atomic, stored before its SUBACKs are written
 * at turn end), so a message never crosses threads to nobody.
 */
#include "router.h"

#include <stdlib.h>
#include <string.h>

#include "ackhold.h"
#include "chat.h"
#include "cluster.h"
#include "errors.h"
#include "log.h"
#include "persist.h"
#include "session.h"
#include "shared.h"
#include "topic_tree.h"
#include "worker.h"

/* The most shared groups one message is handed to. */
#define ROUTER_MAX_SHARED_GROUPS 64

struct match_ctx {
    struct worker *w;
    const struct message *msg;
};

static void hit_add_subid(struct delivery *d, uint32_t sub_id)
{
    if (sub_id && d->nsubids < DELIVERY_MAX_SUBIDS)
        d->subids[d->nsubids++] = sub_id;
}

static void collect_hits(void *ctx, const struct topic_sub *subs, size_t n)
{
    struct match_ctx *mc = ctx;
    struct worker *w = mc->w;
    uint32_t gen = w->match_gen;
    for (size_t i = 0; i < n; i++) {
        struct session *s = subs[i].owner;
        uint8_t opts = subs[i].options;
        if ((opts & SUB_OPT_NO_LOCAL) && mc->msg->origin == s->uid)
            continue;
        uint8_t qos = opts & SUB_OPT_QOS;
        bool rap = opts & SUB_OPT_RETAIN_AS_PUBLISHED;
        if (s->match_gen == gen) {
            struct delivery *d = &w->hits[s->match_slot].d;
            if (qos > d->qos)
                d->qos = qos;
            d->retain |= rap;
            hit_add_subid(d, subs[i].sub_id);
            continue;
        }
        if (w->nhits == w->caphits) {
            size_t cap = w->caphits ? w->caphits * 2 : 64;
            struct delivery_hit *hits = realloc(w->hits, cap * sizeof(*hits));
            if (!hits) {
                w->count.msgs_dropped++;
                continue;
            }
            w->hits = hits;
            w->caphits = cap;
        }
        s->match_gen = gen;
        s->match_slot = (uint32_t)w->nhits;
        struct delivery_hit *h = &w->hits[w->nhits++];
        h->s = s;
        h->d.qos = qos;
        h->d.retain = rap; /* for now "asked for RAP"; resolved below */
        h->d.nsubids = 0;
        hit_add_subid(&h->d, subs[i].sub_id);
    }
}

void router_deliver_local(struct worker *w, struct message *msg)
{
    if (topic_tree_count(w->tree) == 0)
        return;
    if (++w->match_gen == 0)
        w->match_gen = 1;
    w->nhits = 0;
    struct match_ctx mc = {w, msg};
    topic_tree_match(w->tree, msg->topic, msg->topic_len, collect_hits, &mc);
    struct chat *ch = w->b->chat;
    struct chat_reader reader;
    bool chat = ch && w->nhits && chat_reader_prepare(ch, msg, &reader);
    for (size_t i = 0; i < w->nhits; i++) {
        if (chat && !chat_reader_allows(ch, &reader, w->hits[i].s))
            continue; /* the ACL again, at delivery; nothing the policy did not make */
        struct delivery *d = &w->hits[i].d;
        if (d->qos > msg->qos)
            d->qos = msg->qos;
        d->retain = d->retain && msg->retain;
        session_deliver(w->hits[i].s, msg, d);
    }
}

void router_deliver_shared(struct worker *w, struct message *msg, const char *client_id,
                           uint64_t session_uid, uint8_t options, uint32_t sub_id)
{
    struct session *s = session_find(w, client_id, strlen(client_id));
    if (!s || s->uid != session_uid)
        return; /* the member left meanwhile */
    struct chat *ch = w->b->chat;
    struct chat_reader reader;
    if (ch && chat_reader_prepare(ch, msg, &reader) && !chat_reader_allows(ch, &reader, s))
        return;
    struct delivery d = {.qos = options & SUB_OPT_QOS};
    if (d.qos > msg->qos)
        d.qos = msg->qos;
    d.retain = (options & SUB_OPT_RETAIN_AS_PUBLISHED) && msg->retain;
    hit_add_subid(&d, sub_id);
    session_deliver(s, msg, &d);
}

/* Hands msg to one member of each matching shared group. */
static void route_shared(struct worker *w, struct message *msg)
{
    struct shared_pick picks[ROUTER_MAX_SHARED_GROUPS];
    size_t n = shared_pick(&w->b->shared, msg->topic, msg->topic_len, msg->chat, picks,
                           ROUTER_MAX_SHARED_GROUPS);
    for (size_t i = 0; i < n; i++) {
        struct shared_pick *p = &picks[i];
        if (p->worker == w->index) {
            router_deliver_shared(w, msg, p->client_id, p->session_uid, p->options, p->sub_id);
            free(p->client_id);
            continue;
        }
        struct work item = {.kind = WORK_DELIVER_SHARED};
        item.u.shared.msg = message_ref(msg);
        item.u.shared.client_id = p->client_id;
        item.u.shared.session_uid = p->session_uid;
        item.u.shared.options = p->options;
        item.u.shared.sub_id = p->sub_id;
        bool held = ack_hold_join(msg);
        if (worker_post_later(w, p->worker, &item) != MQ_OK) {
            if (held)
                ack_hold_release(msg, MQ_OK);
            message_unref(msg);
            free(p->client_id);
            w->count.msgs_dropped++;
        }
    }
}

void router_publish(struct worker *w, struct message *msg)
{
    struct broker *b = w->b;
    cluster_forward(b, msg);
    if (msg->retain) {
        if (retain_set(b->retain, msg) == MQ_OK)
            persist_retained(b, msg);
        else
            log_warn("retained message for '%s' not stored: out of memory", msg->topic);
    }
    router_deliver_local(w, msg);
    for (unsigned i = 0; i < b->nworkers; i++) {
        if (i == w->index)
            continue;
        struct worker *dest = b->workers[i];
        if (atomic_load_explicit(&dest->stats.subscriptions, memory_order_acquire) == 0)
            continue;
        struct work item = {.kind = WORK_DELIVER, .u.msg = message_ref(msg)};
        bool held = ack_hold_join(msg);
        if (worker_post_later(w, i, &item) != MQ_OK) {
            if (held)
                ack_hold_release(msg, MQ_OK);
            message_unref(msg);
            w->count.msgs_dropped++;
        }
    }
    route_shared(w, msg);
    message_unref(msg);
}
