/*
 * router.c - fan-out of one message: retained store, this worker, the
 * other workers (see router.h).
 *
 * A worker with no subscriptions at all is skipped: each worker publishes
 * its subscription count (an atomic, stored before its SUBACKs are written
 * at turn end), so a message never crosses threads to nobody.
 */
#include "router.h"

#include <stdlib.h>

#include "errors.h"
#include "log.h"
#include "session.h"
#include "topic_tree.h"
#include "worker.h"

static void collect_hits(void *ctx, const struct topic_sub *subs, size_t n)
{
    struct worker *w = ctx;
    uint32_t gen = w->match_gen;
    for (size_t i = 0; i < n; i++) {
        struct session *s = subs[i].owner;
        uint8_t qos = subs[i].options & 3;
        if (s->match_gen == gen) {
            struct delivery_hit *h = &w->hits[s->match_slot];
            if (qos > h->qos)
                h->qos = qos;
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
        w->hits[w->nhits++] = (struct delivery_hit){s, qos};
    }
}

void router_deliver_local(struct worker *w, struct message *msg)
{
    if (topic_tree_count(w->tree) == 0)
        return;
    if (++w->match_gen == 0)
        w->match_gen = 1;
    w->nhits = 0;
    topic_tree_match(w->tree, msg->topic, msg->topic_len, collect_hits, w);
    for (size_t i = 0; i < w->nhits; i++) {
        struct delivery_hit *h = &w->hits[i];
        session_deliver(h->s, msg, h->qos < msg->qos ? h->qos : msg->qos, false);
    }
}

void router_publish(struct worker *w, struct message *msg)
{
    struct broker *b = w->b;
    if (msg->retain && retain_set(b->retain, msg) != MQ_OK)
        log_warn("retained message for '%s' not stored: out of memory", msg->topic);
    router_deliver_local(w, msg);
    for (unsigned i = 0; i < b->nworkers; i++) {
        if (i == w->index)
            continue;
        struct worker *dest = b->workers[i];
        if (atomic_load_explicit(&dest->stats.subscriptions, memory_order_acquire) == 0)
            continue;
        struct work item = {.kind = WORK_DELIVER, .u.msg = message_ref(msg)};
        if (worker_post_later(w, i, &item) != MQ_OK) {
            message_unref(msg);
            w->count.msgs_dropped++;
        }
    }
    message_unref(msg);
}
