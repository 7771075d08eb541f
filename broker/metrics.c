/*
 * metrics.c - the broker's counters as Prometheus text, format 0.0.4
 * (see metrics.h): one "# HELP" and one "# TYPE" line per metric, then
 * its samples, "name{label="value"} number".
 *
 * Everything is read from atomics that their owners publish (workers once
 * per loop turn, the spool and archiver threads, the chat policy), so a
 * scrape never stops a worker; the sums may mix values a few
 * milliseconds apart. Counters only grow while the process lives; gauges
 * go up and down.
 *
 * Only the MQTT/TCP listener exists today: the per-listener metrics have
 * one sample, listener="mqtt".
 */
#include "metrics.h"

#include <inttypes.h>
#include <string.h>

#include "broker.h"
#include "chat.h"
#include "chat_live.h"
#include "cluster.h"
#include "json.h"
#include "presence.h"
#include "redis_bridge.h"
#include "storage.h"
#include "worker.h"

struct sums {
    uint64_t received, sent, dropped, bytes_received, bytes_sent;
    uint64_t connected, sessions, subscriptions, inflight, queued;
};

static uint64_t load(const atomic_uint_fast64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void sum_workers(const struct broker *b, struct sums *t)
{
    memset(t, 0, sizeof(*t));
    for (unsigned i = 0; b->workers && i < b->nworkers; i++) {
        struct worker_stats *s = &b->workers[i]->stats;
        t->received += load(&s->msgs_received);
        t->sent += load(&s->msgs_sent);
        t->dropped += load(&s->msgs_dropped);
        t->bytes_received += load(&s->bytes_received);
        t->bytes_sent += load(&s->bytes_sent);
        t->connected += load(&s->clients_connected);
        t->sessions += load(&s->clients_total);
        t->subscriptions += load(&s->subscriptions);
        t->inflight += load(&s->inflight);
        t->queued += load(&s->queued);
    }
}

/* The # HELP and # TYPE lines of name. */
static void head(struct jbuf *o, const char *name, const char *type, const char *help)
{
    jbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric with one sample and no label. */
static void one(struct jbuf *o, const char *name, const char *type, const char *help, uint64_t v)
{
    head(o, name, type, help);
    jbuf_printf(o, "%s %" PRIu64 "\n", name, v);
}

static uint64_t positive(int64_t v)
{
    return v > 0 ? (uint64_t)v : 0;
}

static void write_storage(struct jbuf *o, struct storage *st)
{
    struct spool_counters *k = &st->counters;
    int64_t lag = atomic_load_explicit(&k->committed_seq, memory_order_relaxed) -
                  atomic_load_explicit(&k->archived_seq, memory_order_relaxed);
    one(o, "mqchat_spool_lag_rows", "gauge", "Spool rows committed and not yet archived.",
        positive(lag));
    one(o, "mqchat_spool_pending_bytes", "gauge",
        "Message body bytes in the spool not yet archived.",
        positive(atomic_load_explicit(&k->pending_bytes, memory_order_relaxed)));
    one(o, "mqchat_spool_appended_total", "counter", "Spool rows committed since start.",
        load(&k->appended));
    one(o, "mqchat_spool_refused_total", "counter", "Publishes refused because the spool was full.",
        load(&st->refused));
    one(o, "mqchat_archive_up", "gauge", "1 when the archive database answers, else 0.",
        atomic_load_explicit(&k->archive_up, memory_order_relaxed) ? 1 : 0);
    one(o, "mqchat_archive_messages_total", "counter", "Spool rows archived since start.",
        load(&k->archived));
    one(o, "mqchat_archive_errors_total", "counter", "Failed attempts to write the archive.",
        load(&k->archive_errors));
}

static void write_chat_live(struct jbuf *o, struct chat *ch)
{
    struct chat_live_stats st;
    chat_live_stats(ch, &st);
    one(o, "mqchat_chat_users_online", "gauge", "Chat users shown online (presence).",
        ch->presence ? presence_users_online(ch->presence) : 0);
    one(o, "mqchat_chat_presence_updates_total", "counter",
        "User and room presence messages published.", st.presence_updates);
    one(o, "mqchat_chat_unread_updates_total", "counter", "Unread summaries published.",
        st.unread_updates);
    head(o, "mqchat_chat_history_requests_total", "counter",
         "History requests over MQTT answered, with messages or unavailable.");
    jbuf_printf(o, "mqchat_chat_history_requests_total{result=\"answered\"} %" PRIu64 "\n",
                st.history_answered);
    jbuf_printf(o, "mqchat_chat_history_requests_total{result=\"unavailable\"} %" PRIu64 "\n",
                st.history_failed);
}

static void write_cluster(struct jbuf *o, struct broker *b)
{
    const struct redis_bridge_stats *st = redis_bridge_stats(cluster_bridge(b));
    one(o, "mqchat_redis_up", "gauge", "1 when every Redis connection is up, else 0.",
        atomic_load(&st->up) ? 1 : 0);
    one(o, "mqchat_redis_forwarded_total", "counter", "Messages published to Redis.",
        load(&st->forwarded));
    one(o, "mqchat_redis_received_total", "counter", "Messages from other nodes delivered here.",
        load(&st->received));
    one(o, "mqchat_redis_unforwarded_total", "counter",
        "Messages that could not be published to Redis (down or too slow).",
        load(&st->unforwarded));
    one(o, "mqchat_redis_reconnects_total", "counter",
        "Connections to Redis made again after a loss.", load(&st->reconnects));
    one(o, "mqchat_redis_channels", "gauge", "Redis channels this node is subscribed to.",
        load(&st->channels));
    one(o, "mqchat_cluster_nodes", "gauge", "Other nodes heard from within redis.node_timeout.",
        cluster_nodes_alive(b));
}

void metrics_write(struct broker *b, struct jbuf *o)
{
    struct sums t;
    sum_workers(b, &t);
    int conns = atomic_load_explicit(&b->connections, memory_order_relaxed);

    one(o, "mqchat_connections", "gauge", "Open network connections.",
        conns > 0 ? (uint64_t)conns : 0);
    static const char *const listener[] = {"mqtt", "tls", "ws", "wss"}; /* by enum link_kind */
    head(o, "mqchat_connections_accepted_total", "counter", "Connections accepted, per listener.");
    for (int k = 0; k < 4; k++)
        jbuf_printf(o, "mqchat_connections_accepted_total{listener=\"%s\"} %" PRIu64 "\n",
                    listener[k], load(&b->sockets_accepted[k]));
    head(o, "mqchat_handshakes_failed_total", "counter",
         "TLS handshakes and WebSocket upgrades that did not finish, per listener.");
    for (int k = 1; k < 4; k++)
        jbuf_printf(o, "mqchat_handshakes_failed_total{listener=\"%s\"} %" PRIu64 "\n",
                    listener[k], load(&b->handshakes_failed[k]));
    one(o, "mqchat_messages_received_total", "counter", "PUBLISH packets received.", t.received);
    one(o, "mqchat_messages_sent_total", "counter", "PUBLISH packets sent.", t.sent);
    one(o, "mqchat_messages_dropped_total", "counter",
        "Deliveries dropped by a queue or output limit.", t.dropped);
    one(o, "mqchat_bytes_received_total", "counter", "Bytes read from MQTT clients.",
        t.bytes_received);
    one(o, "mqchat_bytes_sent_total", "counter", "Bytes written to MQTT clients.", t.bytes_sent);
    one(o, "mqchat_clients_connected", "gauge", "Sessions with a live connection.", t.connected);
    one(o, "mqchat_sessions", "gauge", "Sessions, connected or not.", t.sessions);
    one(o, "mqchat_subscriptions", "gauge", "Subscriptions (session, filter).", t.subscriptions);
    one(o, "mqchat_inflight_messages", "gauge", "Outgoing QoS 1/2 messages awaiting their ack.",
        t.inflight);
    one(o, "mqchat_queued_messages", "gauge", "Messages waiting in session queues.", t.queued);
    one(o, "mqchat_retained_messages", "gauge", "Retained messages.",
        b->retain ? retain_count(b->retain) : 0);

    if (b->chat) {
        head(o, "mqchat_chat_messages_total", "counter",
             "Chat publishes, accepted or refused by the chat policy.");
        jbuf_printf(o, "mqchat_chat_messages_total{result=\"accepted\"} %" PRIu64 "\n",
                    load(&b->chat->accepted));
        jbuf_printf(o, "mqchat_chat_messages_total{result=\"refused\"} %" PRIu64 "\n",
                    load(&b->chat->refused));
        write_chat_live(o, b->chat);
    }
    if (b->storage)
        write_storage(o, b->storage);
    if (cluster_bridge(b))
        write_cluster(o, b);

    uint64_t now = uv_hrtime();
    one(o, "mqchat_uptime_seconds", "gauge", "Seconds since the broker started.",
        now > b->start_time ? (now - b->start_time) / 1000000000u : 0);
}
