/*
 * bench_scenarios.c - topologies: who subscribes to what, who publishes
 * where, then set-up, measurement and report.
 *
 * What it is: the glue between the options and the generic layers. Each
 * scenario only fills in filters, topics and the expected fan-out per
 * publisher; connecting is bench_client.c's job, publishing and counting
 * bench_traffic.c's, printing bench_stats.c's. Subscribers are always set
 * up before publishers, so no message is published before its audience
 * exists.
 *
 * Two brokers (--port2, two nodes of a cluster): scenario__place() sends
 * each connection to one of them as --split says; with --split pubsub the
 * rooms scenarios give every member a subscribing connection (ids 0..N-1)
 * and a publishing one (ids N..2N-1, logged in as the same chat user), so
 * that every delivery crosses from the publishers' broker to the
 * subscribers'.
 */
#include "bench_scenarios.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_client.h"
#include "bench_proc.h"
#include "bench_stats.h"
#include "bench_traffic.h"

/* conns: how long the broker's RSS may take to settle, ns. */
#define SCENARIO_SETTLE_MAX_NS  5000000000ull
#define SCENARIO_SETTLE_MIN_NS  1000000000ull
#define SCENARIO_SETTLE_STEP_MS 250
/* conns: RSS samples this close (KiB) count as settled. */
#define SCENARIO_SETTLE_KB 64u
/* Bytes of one topic or filter string. */
#define SCENARIO_NAME 64
/* chat-rooms: the broker's chat.prefix (its default). */
#define SCENARIO_CHAT_PREFIX "chat"

struct scenario {
    const struct bench_opts *o;
    struct bench_clients clients;
    struct bench_traffic traffic;
    bool have_traffic;
    char (*names)[SCENARIO_NAME]; /* topic and filter strings the clients point at */
    uint32_t n_names;
    struct bench_result r;
};

static const char *scenario__name(enum bench_scenario sc)
{
    switch (sc) {
    case BENCH_FANOUT:
        return "fanout";
    case BENCH_FANIN:
        return "fanin";
    case BENCH_P2P:
        return "p2p";
    case BENCH_ROOMS:
        return "rooms";
    case BENCH_CHAT_ROOMS:
        return "chat-rooms";
    case BENCH_CONNS:
        return "conns";
    case BENCH_PROBE:
        return "probe";
    case BENCH_FREEPORT:
        return "freeport";
    }
    return "?";
}

void bench_scenario_defaults(struct bench_opts *o)
{
    switch (o->scenario) {
    case BENCH_FANOUT:
        if (!o->pubs)
            o->pubs = 1;
        if (!o->subs)
            o->subs = 1000;
        break;
    case BENCH_FANIN:
        if (!o->pubs)
            o->pubs = 100;
        if (!o->subs)
            o->subs = 1;
        break;
    case BENCH_P2P:
        if (!o->pubs)
            o->pubs = 100;
        break;
    case BENCH_ROOMS:
    case BENCH_CHAT_ROOMS:
        if (!o->rooms)
            o->rooms = 100;
        if (!o->members)
            o->members = 50;
        if (!o->rate_set)
            o->rate = 1;
        break;
    case BENCH_CONNS:
        if (!o->conns)
            o->conns = 1000;
        break;
    case BENCH_PROBE:
    case BENCH_FREEPORT:
        break;
    }
}

/* The window when --window is not given: a --rate 0 run shares a budget
 * of deliveries in flight among its publishers; a paced run allows one
 * second of its rate (at least 4), so it is throttled only when deliveries
 * fall a second behind. */
static uint32_t scenario__window(const struct bench_opts *o, uint32_t n_pubs, uint32_t fanout)
{
    uint64_t w;

    if (o->window)
        return o->window;
    if (o->rate)
        w = o->rate;
    else
        w = BENCH_INFLIGHT_BUDGET / ((uint64_t)n_pubs * (fanout ? fanout : 1));
    if (w < 4)
        w = 4;
    if (w > 1024)
        w = 1024;
    return (uint32_t)w;
}

/* Allocates n name slots. */
static int scenario__names(struct scenario *s, uint32_t n)
{
    s->names = calloc(n ? n : 1, sizeof(*s->names));
    s->n_names = n;
    return s->names ? MQ_OK : MQ_ENOMEM;
}

/* Formats name slot i as "mqbench/PID/<what><suffix>" and returns it. */
static const char *scenario__name_at(struct scenario *s, uint32_t i, const char *what,
                                     const char *suffix)
{
    snprintf(s->names[i], SCENARIO_NAME, "mqbench/%ld/%s%s", (long)getpid(), what, suffix);
    return s->names[i];
}

/* Formats name slot k as the topic of room k and returns it: under
 * "mqbench/PID/" for rooms; for chat-rooms the chat room "room<k>"
 * (doc/protocol.md), whose name cannot hold the pid: there a message of
 * another run is told apart by the magic in its payload. */
static const char *scenario__room_at(struct scenario *s, uint32_t k)
{
    char num[16];

    snprintf(num, sizeof(num), "%u", (unsigned)k);
    if (s->o->scenario == BENCH_CHAT_ROOMS) {
        snprintf(s->names[k], SCENARIO_NAME, "%s/room/room%s", SCENARIO_CHAT_PREFIX, num);
        return s->names[k];
    }
    return scenario__name_at(s, k, "room/", num);
}

/* rooms, chat-rooms: member i (room k = i / members) subscribes to its room
 * on client i and publishes to it on client i, or with --split pubsub on
 * client N + i, which logs in as the same chat user. */
static int scenario__build_rooms(struct scenario *s, uint32_t fanout)
{
    const struct bench_opts *o = s->o;
    struct bench_client *a = s->clients.a;
    uint32_t n = o->rooms * o->members;
    int rc = MQ_OK;

    for (uint32_t k = 0; k < o->rooms && rc == MQ_OK; k++) {
        const char *topic = scenario__room_at(s, k);
        for (uint32_t m = 0; m < o->members && rc == MQ_OK; m++) {
            uint32_t i = k * o->members + m;
            struct bench_client *pub = o->split == BENCH_SPLIT_PUBSUB ? &a[n + i] : &a[i];
            a[i].filter = topic;
            pub->login = i;
            rc = bench_traffic_add_sub(&s->traffic, &a[i], o->members);
            if (rc == MQ_OK)
                rc = bench_traffic_add_pub(&s->traffic, i, pub, topic, fanout, m);
        }
    }
    return rc;
}

/* Sends each connection to the first or the second broker (--port2) as
 * --split says: alternate, the odd ids to the second; pubsub, the
 * connections that publish to the first and the others to the second.
 * Without --port2 they all go to the first. */
static void scenario__place(struct scenario *s)
{
    const struct bench_opts *o = s->o;

    if (o->port2)
        s->r.split = o->split == BENCH_SPLIT_PUBSUB ? "pubsub" : "alternate";
    else if (o->split == BENCH_SPLIT_PUBSUB)
        s->r.split = "pubsub, one broker";
    if (!o->port2)
        return;
    for (uint32_t i = 0; i < s->clients.n; i++) {
        struct bench_client *c = &s->clients.a[i];
        c->second = o->split == BENCH_SPLIT_PUBSUB ? c->pub < 0 : (i & 1u) != 0;
    }
}

/* Builds the connections, subscriptions and publishers of o->scenario. */
static int scenario__build(struct scenario *s)
{
    const struct bench_opts *o = s->o;
    uint32_t n_clients = 0, n_pubs = 0, fanout = 0, n_names = 0;
    char num[16];
    int rc;

    switch (o->scenario) {
    case BENCH_FANOUT:
        n_clients = o->subs + o->pubs;
        n_pubs = o->pubs;
        fanout = o->subs;
        n_names = 1;
        s->r.subs = o->subs;
        break;
    case BENCH_FANIN:
        n_clients = o->subs + o->pubs;
        n_pubs = o->pubs;
        fanout = o->subs;
        n_names = o->pubs + 1;
        s->r.subs = o->subs;
        break;
    case BENCH_P2P:
        n_clients = 2 * o->pubs;
        n_pubs = o->pubs;
        fanout = 1;
        n_names = o->pubs;
        s->r.subs = o->pubs;
        break;
    case BENCH_ROOMS:
    case BENCH_CHAT_ROOMS:
        n_pubs = o->rooms * o->members;
        n_clients = o->split == BENCH_SPLIT_PUBSUB ? 2 * n_pubs : n_pubs;
        fanout = o->members;
        n_names = o->rooms;
        s->r.subs = n_pubs;
        break;
    case BENCH_CONNS:
        n_clients = o->conns;
        n_names = o->conns;
        s->r.subs = n_clients;
        break;
    default:
        return MQ_EINVAL;
    }
    if (n_clients == 0 || n_clients > BENCH_MAX_CONNS)
        return MQ_EINVAL;
    s->r.conns = n_clients;
    s->r.pubs = n_pubs;
    if ((rc = bench_clients_init(&s->clients, o, n_clients)) != MQ_OK)
        return rc;
    if ((rc = scenario__names(s, n_names)) != MQ_OK)
        return rc;
    if (n_pubs) {
        s->r.window = scenario__window(o, n_pubs, fanout);
        enum bench_payload format =
            o->scenario == BENCH_CHAT_ROOMS ? BENCH_PAYLOAD_TEXT : BENCH_PAYLOAD_BINARY;
        rc = bench_traffic_init(&s->traffic, &s->clients, o, n_pubs, s->r.window, format);
        if (rc != MQ_OK)
            return rc;
        s->have_traffic = true;
    }

    struct bench_client *a = s->clients.a;
    switch (o->scenario) {
    case BENCH_FANOUT: {
        const char *topic = scenario__name_at(s, 0, "fanout", "");
        for (uint32_t i = 0; i < o->subs && rc == MQ_OK; i++) {
            a[i].filter = topic;
            rc = bench_traffic_add_sub(&s->traffic, &a[i], o->pubs);
        }
        for (uint32_t i = 0; i < o->pubs && rc == MQ_OK; i++)
            rc = bench_traffic_add_pub(&s->traffic, i, &a[o->subs + i], topic, fanout, i);
        break;
    }
    case BENCH_FANIN: {
        const char *filter = scenario__name_at(s, o->pubs, "fanin/", "+");
        for (uint32_t i = 0; i < o->subs && rc == MQ_OK; i++) {
            a[i].filter = filter;
            rc = bench_traffic_add_sub(&s->traffic, &a[i], o->pubs);
        }
        for (uint32_t i = 0; i < o->pubs && rc == MQ_OK; i++) {
            snprintf(num, sizeof(num), "%u", (unsigned)i);
            const char *topic = scenario__name_at(s, i, "fanin/", num);
            rc = bench_traffic_add_pub(&s->traffic, i, &a[o->subs + i], topic, fanout, i);
        }
        break;
    }
    case BENCH_P2P:
        for (uint32_t i = 0; i < o->pubs && rc == MQ_OK; i++) {
            snprintf(num, sizeof(num), "%u", (unsigned)i);
            const char *topic = scenario__name_at(s, i, "p2p/", num);
            a[i].filter = topic;
            rc = bench_traffic_add_sub(&s->traffic, &a[i], 1);
            if (rc == MQ_OK)
                rc = bench_traffic_add_pub(&s->traffic, i, &a[o->pubs + i], topic, 1, 0);
        }
        break;
    case BENCH_ROOMS:
    case BENCH_CHAT_ROOMS:
        rc = scenario__build_rooms(s, fanout);
        break;
    case BENCH_CONNS:
        for (uint32_t i = 0; i < o->conns; i++) {
            snprintf(num, sizeof(num), "%u", (unsigned)i);
            a[i].filter = scenario__name_at(s, i, "idle/", num);
        }
        break;
    default:
        break;
    }
    if (rc == MQ_OK)
        scenario__place(s);
    return rc;
}

/* conns: keeps the connections served while the broker's RSS settles, then
 * returns the settled value (0 when the broker cannot be sampled). */
static uint64_t scenario__settle(struct scenario *s)
{
    struct bench_proc_sample ps;
    uint64_t start = bench_now_ns();
    uint64_t prev = 0;
    int stable = 0;

    for (;;) {
        uint64_t step_end = bench_now_ns() + SCENARIO_SETTLE_STEP_MS * 1000000ull;
        while (bench_now_ns() < step_end)
            if (bench_clients_poll(&s->clients, SCENARIO_SETTLE_STEP_MS) < 0)
                break;
        if (bench_proc_sample_all(s->o->pids, s->o->n_pids, NULL, &ps) != MQ_OK)
            return 0;
        uint64_t now = bench_now_ns();
        uint64_t diff = ps.rss_kb > prev ? ps.rss_kb - prev : prev - ps.rss_kb;
        if (now - start >= SCENARIO_SETTLE_MIN_NS && diff <= SCENARIO_SETTLE_KB)
            stable++;
        else
            stable = 0;
        prev = ps.rss_kb;
        if (stable >= 2 || now - start >= SCENARIO_SETTLE_MAX_NS)
            return ps.rss_kb;
    }
}

/* Copies what the traffic measured into the report. */
static void scenario__collect(struct scenario *s)
{
    struct bench_traffic *t = &s->traffic;
    struct bench_result *r = &s->r;

    r->duration_s = (double)(t->t_end - t->t0) / 1e9;
    r->measured_s = (double)(t->t_end - t->t_warm) / 1e9;
    r->published_in_run = t->published - t->published_warm;
    r->published = t->published;
    r->acked = t->acked;
    r->expected = t->expected;
    r->received = t->received;
    r->received_in_run = t->received_in_run - t->received_warm;
    r->duplicates = t->duplicates;
    r->gaps = t->gaps;
    r->unexpected = t->unexpected;
    r->throttled = t->throttled;
    r->window_timeouts = t->window_timeouts;
    r->hist = &t->hist;
    r->packet_b = t->n_pubs ? t->pubs[0].tmpl_len : 0;
    r->delivery_b = t->delivery_b;
    r->bench_cpu_pct = t->bench_cpu_pct;
    r->broker_cpu_pct = t->broker_cpu_pct;
    r->n_procs = t->n_broker_pids;
    memcpy(r->proc_cpu_pct, t->proc_cpu_pct, sizeof(r->proc_cpu_pct));
    if (!t->broker_sampled)
        r->have_proc = false;
}

int bench_scenario_run(const struct bench_opts *o)
{
    struct scenario s;
    struct bench_proc_sample ps;
    int status = 0;

    memset(&s, 0, sizeof(s));
    s.o = o;
    s.r.scenario = scenario__name(o->scenario);
    s.r.label = o->label;
    s.r.version = o->version;
    s.r.transport = bench_tp_name(o->transport);
    s.r.props = o->props;
    s.r.qos = o->qos;
    s.r.size = o->size;
    s.r.rate = o->rate;
    int rc = scenario__build(&s);
    if (rc != MQ_OK) {
        fprintf(stderr, "mqchat-bench: cannot set up %s: %s\n", s.r.scenario, mq_strerror(rc));
        status = 2;
        goto out;
    }
    if (o->n_pids) {
        s.r.have_proc = bench_proc_sample_all(o->pids, o->n_pids, NULL, &ps) == MQ_OK;
        if (!s.r.have_proc)
            fprintf(stderr, "mqchat-bench: cannot read /proc of every --pid: broker figures "
                            "left out\n");
        s.r.rss_before_kb = ps.rss_kb;
    }

    uint64_t t0 = bench_now_ns();
    rc = bench_clients_setup(&s.clients, o->conn_window, o->setup_timeout, o->quiet);
    s.r.setup_s = (double)(bench_now_ns() - t0) / 1e9;
    if (!o->quiet)
        fprintf(stderr, "mqchat-bench: %u connections ready in %.2f s\n",
                (unsigned)s.clients.n_ready, s.r.setup_s);

    if (o->scenario == BENCH_CONNS) {
        if (s.r.have_proc) {
            s.r.rss_after_kb = scenario__settle(&s);
            if (s.r.rss_after_kb == 0)
                s.r.have_proc = false;
            else if (s.clients.n_ready && s.r.rss_after_kb > s.r.rss_before_kb)
                s.r.rss_per_conn_b =
                    (double)(s.r.rss_after_kb - s.r.rss_before_kb) * 1024.0 / s.clients.n_ready;
        }
    } else if (rc == MQ_OK) {
        rc = bench_traffic_run(&s.traffic, o->duration, o->drain_ms);
        scenario__collect(&s);
        if (s.r.have_proc && bench_proc_sample_all(o->pids, o->n_pids, NULL, &ps) == MQ_OK)
            s.r.rss_after_kb = ps.rss_kb;
        else
            s.r.have_proc = false;
        if (rc != MQ_OK && !s.clients.first_error[0])
            snprintf(s.clients.first_error, sizeof(s.clients.first_error), "traffic: %s",
                     mq_strerror(rc));
        if (s.traffic.not_envelope && !s.clients.first_error[0])
            snprintf(s.clients.first_error, sizeof(s.clients.first_error),
                     "%llu deliveries without the published text in a chat envelope",
                     (unsigned long long)s.traffic.not_envelope);
    }
    if (s.clients.loop.tp.negotiated[0])
        s.r.tls = s.clients.loop.tp.negotiated;
    s.r.conns_ready = s.clients.n_ready;
    s.r.conns_failed = s.clients.n_failed;
    s.r.protocol_errors = s.clients.n_protocol_errors;
    if (s.clients.first_error[0])
        s.r.error = s.clients.first_error;
    if (s.clients.n_failed || rc != MQ_OK || s.clients.n_protocol_errors)
        status = 1;
    bench_result_print(&s.r, stdout, o->json);
    bench_clients_disconnect(&s.clients);

out:
    if (s.have_traffic)
        bench_traffic_free(&s.traffic);
    if (s.clients.a)
        bench_clients_free(&s.clients);
    free(s.names);
    return status;
}
