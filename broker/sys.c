/*
 * sys.c - the $SYS reporter (see sys.h). Sums the workers' published
 * counters; never touches a worker's private state.
 */
#include "sys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "storage.h"
#include "worker.h"

struct totals {
    uint64_t received, sent, bytes_received, bytes_sent, dropped;
    uint64_t connected, total, subscriptions, inflight, queued;
};

static uint64_t load(atomic_uint_fast64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void sum(const struct broker *b, struct totals *t)
{
    memset(t, 0, sizeof(*t));
    for (unsigned i = 0; i < b->nworkers; i++) {
        struct worker_stats *s = &b->workers[i]->stats;
        t->received += load(&s->msgs_received);
        t->sent += load(&s->msgs_sent);
        t->bytes_received += load(&s->bytes_received);
        t->bytes_sent += load(&s->bytes_sent);
        t->dropped += load(&s->msgs_dropped);
        t->connected += load(&s->clients_connected);
        t->total += load(&s->clients_total);
        t->subscriptions += load(&s->subscriptions);
        t->inflight += load(&s->inflight);
        t->queued += load(&s->queued);
    }
}

/* Publishes value on topic when it differs from the last one sent. */
static void sys_put(struct sys_reporter *r, int slot, const char *topic, const char *value)
{
    if (r->last[slot] && strcmp(r->last[slot], value) == 0)
        return;
    char *copy = strdup(value);
    if (!copy)
        return;
    struct message *m =
        message_new(topic, strlen(topic), (const uint8_t *)value, strlen(value), 0, true, NULL);
    if (!m) {
        free(copy);
        return;
    }
    free(r->last[slot]);
    r->last[slot] = copy;
    broker_publish_external(r->b, m);
}

static void sys_put_u64(struct sys_reporter *r, int slot, const char *topic, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    sys_put(r, slot, topic, buf);
}

/* The spool and the archive (doc/storage.md): bytes and rows waiting for
 * the archive, rows archived and their rate over the last interval. */
static void sys_put_storage(struct sys_reporter *r, int n, struct storage *st, uint64_t now_ms)
{
    struct spool_counters *k = &st->counters;
    int64_t lag = atomic_load(&k->committed_seq) - atomic_load(&k->archived_seq);
    int64_t bytes = atomic_load(&k->pending_bytes);
    uint64_t archived = load(&k->archived);
    uint64_t rate = 0;
    if (r->reported_ms && now_ms > r->reported_ms)
        rate = (archived - r->archived_before) * 1000 / (now_ms - r->reported_ms);
    r->archived_before = archived;
    r->reported_ms = now_ms;
    sys_put_u64(r, n++, "$SYS/broker/store/spool/bytes", bytes > 0 ? (uint64_t)bytes : 0);
    sys_put_u64(r, n++, "$SYS/broker/store/spool/lag", lag > 0 ? (uint64_t)lag : 0);
    sys_put_u64(r, n++, "$SYS/broker/store/spool/appended", load(&k->appended));
    sys_put_u64(r, n++, "$SYS/broker/store/spool/refused", load(&st->refused));
    sys_put_u64(r, n++, "$SYS/broker/store/archive/messages", archived);
    sys_put_u64(r, n++, "$SYS/broker/store/archive/rate", rate);
    sys_put_u64(r, n++, "$SYS/broker/store/archive/up", atomic_load(&k->archive_up) ? 1 : 0);
    sys_put_u64(r, n++, "$SYS/broker/store/archive/errors", load(&k->archive_errors));
}

static void on_sys_timer(uv_timer_t *h)
{
    struct sys_reporter *r = h->data;
    struct broker *b = r->b;
    struct totals t;
    sum(b, &t);
    char buf[64];
    uint64_t uptime = (uv_hrtime() - b->start_time) / 1000000000u;
    snprintf(buf, sizeof(buf), "%" PRIu64 " seconds", uptime);
    int n = 0;
    sys_put(r, n++, "$SYS/broker/version", "mqchat version " MQCHAT_VERSION);
    sys_put(r, n++, "$SYS/broker/uptime", buf);
    sys_put_u64(r, n++, "$SYS/broker/clients/connected", t.connected);
    sys_put_u64(r, n++, "$SYS/broker/clients/active", t.connected);
    sys_put_u64(r, n++, "$SYS/broker/clients/total", t.total);
    sys_put_u64(r, n++, "$SYS/broker/clients/disconnected", t.total - t.connected);
    sys_put_u64(r, n++, "$SYS/broker/messages/received", t.received);
    sys_put_u64(r, n++, "$SYS/broker/messages/sent", t.sent);
    sys_put_u64(r, n++, "$SYS/broker/publish/messages/received", t.received);
    sys_put_u64(r, n++, "$SYS/broker/publish/messages/sent", t.sent);
    sys_put_u64(r, n++, "$SYS/broker/publish/messages/dropped", t.dropped);
    sys_put_u64(r, n++, "$SYS/broker/bytes/received", t.bytes_received);
    sys_put_u64(r, n++, "$SYS/broker/bytes/sent", t.bytes_sent);
    sys_put_u64(r, n++, "$SYS/broker/subscriptions/count", t.subscriptions);
    sys_put_u64(r, n++, "$SYS/broker/messages/inflight", t.inflight);
    sys_put_u64(r, n++, "$SYS/broker/messages/stored", t.queued);
    sys_put_u64(r, n++, "$SYS/broker/retained messages/count", retain_count(b->retain));
    sys_put_u64(r, n++, "$SYS/broker/connections/socket/count",
                (uint64_t)atomic_load(&b->connections));
    if (b->storage)
        sys_put_storage(r, n, b->storage, uv_now(h->loop));
}

void sys_start(struct sys_reporter *r, struct broker *b, uv_loop_t *loop)
{
    memset(r, 0, sizeof(*r));
    r->b = b;
    uint64_t every = (uint64_t)b->cfg->sys_interval * 1000;
    if (!every)
        return;
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_sys_timer, 0, every);
}

void sys_stop(struct sys_reporter *r)
{
    if (r->b && r->b->cfg->sys_interval)
        uv_close((uv_handle_t *)&r->timer, NULL);
    for (int i = 0; i < SYS_MAX_TOPICS; i++) {
        free(r->last[i]);
        r->last[i] = NULL;
    }
}
