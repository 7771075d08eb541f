/*
 * bench_traffic.c - the publishing phase of a run: sending on schedule or
 * as the windows allow, crediting windows from deliveries, counting and
 * timing every delivery.
 *
 * What it is: the measurement loop shared by every traffic scenario. What it
 * is not: the topology (which client publishes to which topic with how
 * many subscribers: bench_scenarios.c) or the protocol plumbing
 * (bench_client.c). The payload header and the window rules are described
 * in bench_traffic.h.
 */
#include "bench_traffic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_proc.h"

/* Offsets of the fields of the text header (bench_traffic.h). */
#define TEXT_OFF_MAGIC 4u
#define TEXT_OFF_PUB   13u
#define TEXT_OFF_SEQ   22u
#define TEXT_OFF_SENT  39u
/* How often slots are checked for the timeout, ns. */
#define TRAFFIC_SCAN_NS 100000000u
/* The longest wait for socket events while publishing or draining, ms. */
#define TRAFFIC_WAIT_MS 10

/* The header of a delivery, as read back from its payload. */
struct traffic_header {
    uint32_t magic;
    uint32_t pub;
    uint64_t seq;
    uint64_t sent_ns;
};

int bench_traffic_init(struct bench_traffic *t, struct bench_clients *clients,
                       const struct bench_opts *o, uint32_t n_pubs, uint32_t window,
                       enum bench_payload format)
{
    memset(t, 0, sizeof(*t));
    if (o->size < (format == BENCH_PAYLOAD_TEXT ? BENCH_TEXT_HEADER : BENCH_PAYLOAD_MIN))
        return MQ_EINVAL;
    t->format = format;
    t->clients = clients;
    t->n_pubs = n_pubs;
    t->window = window ? window : 1;
    t->rate = o->rate;
    t->count = o->count;
    t->qos = o->qos;
    t->size = o->size;
    t->magic = BENCH_PAYLOAD_MAGIC ^ (uint32_t)getpid();
    t->broker_pids = o->pids;
    t->n_broker_pids = o->n_pids;
    t->quiet = o->quiet;
    t->pubs = calloc(n_pubs ? n_pubs : 1, sizeof(*t->pubs));
    t->expect = calloc(clients->n ? clients->n : 1, sizeof(*t->expect));
    t->n_expect = calloc(clients->n ? clients->n : 1, sizeof(*t->n_expect));
    if (!t->pubs || !t->expect || !t->n_expect) {
        bench_traffic_free(t);
        return MQ_ENOMEM;
    }
    return MQ_OK;
}

void bench_traffic_free(struct bench_traffic *t)
{
    for (uint32_t i = 0; i < t->n_pubs && t->pubs; i++) {
        free(t->pubs[i].tmpl);
        free(t->pubs[i].ring);
    }
    for (uint32_t i = 0; i < t->clients->n && t->expect; i++)
        free(t->expect[i]);
    free(t->pubs);
    free(t->expect);
    free(t->n_expect);
    t->pubs = NULL;
    t->expect = NULL;
    t->n_expect = NULL;
}

/* Writes v as `digits` lower-case hex digits (the low ones) at out. */
static void traffic__hex(uint8_t *out, uint64_t v, unsigned digits)
{
    static const char digit[] = "0123456789abcdef";

    for (unsigned k = digits; k-- > 0; v >>= 4)
        out[k] = (uint8_t)digit[v & 15u];
}

/* Reads `digits` lower-case hex digits at in into *out; false when one is
 * not a hex digit. */
static bool traffic__unhex(const uint8_t *in, unsigned digits, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned k = 0; k < digits; k++) {
        uint8_t c = in[k];
        if (c >= '0' && c <= '9')
            v = v << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v << 4 | (uint64_t)(c - 'a' + 10);
        else
            return false;
    }
    *out = v;
    return true;
}

/* Fills payload[0..size) with the text header's constant parts (the
 * magic and the publisher's index i; sequence and time left as zeros) and
 * '.' filler. */
static void traffic__text_template(const struct bench_traffic *t, uint8_t *payload, uint32_t i)
{
    memset(payload, '.', t->size);
    memcpy(payload, "mqb ", 4);
    traffic__hex(payload + TEXT_OFF_MAGIC, t->magic, 8);
    payload[TEXT_OFF_PUB - 1] = ' ';
    traffic__hex(payload + TEXT_OFF_PUB, i, 8);
    payload[TEXT_OFF_SEQ - 1] = ' ';
    traffic__hex(payload + TEXT_OFF_SEQ, 0, 16);
    payload[TEXT_OFF_SENT - 1] = ' ';
    traffic__hex(payload + TEXT_OFF_SENT, 0, 16);
}

/* Where the value of the first "text" member of the JSON object p[0..n)
 * starts (just after its opening quote), or NULL when there is none.
 * Occurrences of the string "text" that are not followed by a colon (the
 * value of "type", say) are skipped. */
static const uint8_t *traffic__find_text(const uint8_t *p, size_t n)
{
    static const char key[] = "\"text\"";
    const uint8_t *end = p + n;

    while (p < end) {
        const uint8_t *q = memmem(p, (size_t)(end - p), key, sizeof(key) - 1);
        if (!q)
            return NULL;
        p = q + sizeof(key) - 1;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        if (p >= end || *p != ':')
            continue;
        p++;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        return p < end && *p == '"' ? p + 1 : NULL;
    }
    return NULL;
}

/* Reads the text header at p[0..n) into *h; false when it is not one. */
static bool traffic__read_text(const uint8_t *p, size_t n, struct traffic_header *h)
{
    uint64_t magic, pub;

    if (n < BENCH_TEXT_HEADER || memcmp(p, "mqb ", 4) != 0 || p[TEXT_OFF_PUB - 1] != ' ' ||
        p[TEXT_OFF_SEQ - 1] != ' ' || p[TEXT_OFF_SENT - 1] != ' ')
        return false;
    if (!traffic__unhex(p + TEXT_OFF_MAGIC, 8, &magic) ||
        !traffic__unhex(p + TEXT_OFF_PUB, 8, &pub) ||
        !traffic__unhex(p + TEXT_OFF_SEQ, 16, &h->seq) ||
        !traffic__unhex(p + TEXT_OFF_SENT, 16, &h->sent_ns))
        return false;
    h->magic = (uint32_t)magic;
    h->pub = (uint32_t)pub;
    return true;
}

/* Reads the header of a delivery: at the start of the payload (binary), or
 * inside the envelope's "text" member (text; a miss counts in
 * not_envelope). Returns false when there is none. */
static bool traffic__read_header(struct bench_traffic *t, const struct mqtt_publish *m,
                                 struct traffic_header *h)
{
    if (t->format == BENCH_PAYLOAD_TEXT) {
        const uint8_t *text = traffic__find_text(m->payload, m->payload_len);
        if (!text || !traffic__read_text(text, m->payload_len - (size_t)(text - m->payload), h)) {
            t->not_envelope++;
            return false;
        }
        return true;
    }
    if (m->payload_len < BENCH_PAYLOAD_MIN)
        return false;
    memcpy(&h->magic, m->payload, 4);
    memcpy(&h->pub, m->payload + 4, 4);
    memcpy(&h->seq, m->payload + 8, 8);
    memcpy(&h->sent_ns, m->payload + 16, 8);
    return true;
}

int bench_traffic_add_sub(struct bench_traffic *t, const struct bench_client *c, uint32_t n_sources)
{
    free(t->expect[c->id]);
    t->expect[c->id] = calloc(n_sources ? n_sources : 1, sizeof(uint64_t));
    t->n_expect[c->id] = t->expect[c->id] ? n_sources : 0;
    return t->expect[c->id] ? MQ_OK : MQ_ENOMEM;
}

int bench_traffic_add_pub(struct bench_traffic *t, uint32_t i, struct bench_client *c,
                          const char *topic, uint32_t fanout, uint32_t src)
{
    struct bench_pub *p = &t->pubs[i];
    size_t tlen = strlen(topic);
    size_t id_off = 0;

    if (tlen > 65535)
        return MQ_EINVAL;
    size_t n = bench_clients_publish_size(t->clients, tlen, t->size, t->qos);
    uint8_t *payload = calloc(t->size, 1);
    p->tmpl = malloc(n);
    p->ring = calloc(t->window, sizeof(*p->ring));
    if (!payload || !p->tmpl || !p->ring) {
        free(payload);
        free(p->tmpl);
        free(p->ring);
        p->tmpl = NULL;
        p->ring = NULL;
        return MQ_ENOMEM;
    }
    if (t->format == BENCH_PAYLOAD_TEXT)
        traffic__text_template(t, payload, i);
    p->tmpl_len = (uint32_t)bench_clients_encode_publish(t->clients, p->tmpl, topic, tlen, payload,
                                                         t->size, t->qos, &id_off);
    free(payload);
    p->payload_off = p->tmpl_len - t->size;
    p->id_off = (uint32_t)id_off;
    p->client = c;
    p->fanout = fanout;
    p->src = src;
    p->next_id = 1;
    c->pub = (int32_t)i;
    return MQ_OK;
}

/* True when publisher p may send one more message now. */
static bool traffic__can_send(const struct bench_traffic *t, const struct bench_pub *p)
{
    return p->seq - p->done < t->window && p->client->state == BENCH_CL_READY;
}

/* Queues one message of publisher i. Returns false when out of memory. */
static bool traffic__send(struct bench_traffic *t, uint32_t i)
{
    struct bench_pub *p = &t->pubs[i];
    uint8_t *o = bench_conn_reserve(&p->client->conn, p->tmpl_len);
    if (!o)
        return false;
    memcpy(o, p->tmpl, p->tmpl_len);
    uint64_t now = bench_now_ns();
    uint8_t *h = o + p->payload_off;
    if (t->format == BENCH_PAYLOAD_TEXT) {
        /* The magic and the index are in the template already. */
        traffic__hex(h + TEXT_OFF_SEQ, p->seq, 16);
        traffic__hex(h + TEXT_OFF_SENT, now, 16);
    } else {
        memcpy(h, &t->magic, 4);
        memcpy(h + 4, &i, 4);
        memcpy(h + 8, &p->seq, 8);
        memcpy(h + 16, &now, 8);
    }
    if (t->qos > 0) {
        o[p->id_off] = (uint8_t)(p->next_id >> 8);
        o[p->id_off + 1] = (uint8_t)p->next_id;
        if (++p->next_id == 0)
            p->next_id = 1;
    }
    bench_conn_commit(&p->client->conn, p->tmpl_len);

    struct bench_slot *s = &p->ring[p->seq % t->window];
    s->seq = p->seq;
    s->sent_ns = now;
    s->left = p->fanout;
    p->seq++;
    t->published++;
    t->expected += p->fanout;
    return true;
}

/* Moves p->done past the fully delivered slots at the window's start. */
static void traffic__advance(struct bench_traffic *t, struct bench_pub *p)
{
    while (p->done < p->seq && p->ring[p->done % t->window].left == 0)
        p->done++;
}

/* Credits one delivery (or proven loss) of message seq to p's window. */
static void traffic__credit(struct bench_traffic *t, struct bench_pub *p, uint64_t seq)
{
    struct bench_slot *s = &p->ring[seq % t->window];
    if (s->seq != seq || s->left == 0)
        return; /* already given up on, or its slot reused */
    s->left--;
    if (s->left == 0 && seq == p->done)
        traffic__advance(t, p);
}

static void traffic__on_publish(void *ctx, struct bench_client *c, const struct mqtt_publish *m,
                                uint64_t now)
{
    struct bench_traffic *t = ctx;
    struct traffic_header h;

    if (!traffic__read_header(t, m, &h) || h.magic != t->magic || h.pub >= t->n_pubs ||
        h.seq >= t->pubs[h.pub].seq) {
        t->stale++;
        return;
    }
    uint64_t seq = h.seq, sent = h.sent_ns;
    if (!t->delivery_b)
        t->delivery_b = m->payload_len > UINT32_MAX ? UINT32_MAX : (uint32_t)m->payload_len;
    struct bench_pub *p = &t->pubs[h.pub];
    uint64_t *next = t->expect[c->id];
    if (!next || p->src >= t->n_expect[c->id]) {
        t->unexpected++;
        return;
    }
    next += p->src;
    t->received++;
    if (seq < *next) {
        t->duplicates++;
        return;
    }
    bench_hist_record(&t->hist, now > sent ? now - sent : 0);
    if (now <= t->t_end)
        t->received_in_run++;
    if (seq > *next) {
        uint64_t q = *next > p->done ? *next : p->done;
        t->gaps += seq - *next;
        for (; q < seq; q++)
            traffic__credit(t, p, q);
    }
    *next = seq + 1;
    traffic__credit(t, p, seq);
}

static void traffic__on_puback(void *ctx, struct bench_client *c, uint16_t packet_id, uint64_t now)
{
    struct bench_traffic *t = ctx;
    if (c->pub >= 0)
        t->acked++;
}

/* Frees slots that have waited too long, so a lost delivery does not stop
 * its publisher for good. */
static void traffic__expire(struct bench_traffic *t, uint64_t now)
{
    uint64_t limit = (uint64_t)BENCH_SLOT_TIMEOUT_MS * 1000000u;

    for (uint32_t i = 0; i < t->n_pubs; i++) {
        struct bench_pub *p = &t->pubs[i];
        while (p->done < p->seq) {
            struct bench_slot *s = &p->ring[p->done % t->window];
            if (s->left == 0) {
                p->done++;
            } else if (now > s->sent_ns && now - s->sent_ns > limit) {
                t->window_timeouts++;
                p->done++;
            } else {
                break;
            }
        }
    }
}

/* True while the cap on messages (if any) allows more. */
static bool traffic__under_cap(const struct bench_traffic *t)
{
    return t->count == 0 || t->published < t->count;
}

/* Sends what the windows allow (rate 0). Returns false when out of memory. */
static bool traffic__fill(struct bench_traffic *t)
{
    for (uint32_t i = 0; i < t->n_pubs; i++) {
        struct bench_pub *p = &t->pubs[i];
        while (traffic__can_send(t, p) && traffic__under_cap(t))
            if (!traffic__send(t, i))
                return false;
    }
    return true;
}

/*
 * Sends the scheduled messages that are due (rate R): message j of the
 * whole run is due at t0 + j / (R * n_pubs) seconds and goes to publisher
 * j % n_pubs. Returns the ms until the next one is due (>= 1), or -1 when
 * out of memory.
 */
static int traffic__schedule(struct bench_traffic *t, uint64_t *j, uint64_t now)
{
    double interval = 1e9 / ((double)t->rate * (double)t->n_pubs);

    for (;;) {
        uint64_t due = t->t0 + (uint64_t)((double)*j * interval);
        if (due > now) {
            uint64_t wait_ms = (due - now + 999999u) / 1000000u;
            return wait_ms > TRAFFIC_WAIT_MS ? TRAFFIC_WAIT_MS : (int)(wait_ms ? wait_ms : 1);
        }
        if (!traffic__under_cap(t))
            return TRAFFIC_WAIT_MS;
        uint32_t i = (uint32_t)(*j % t->n_pubs);
        (*j)++;
        if (!traffic__can_send(t, &t->pubs[i]))
            t->throttled++;
        else if (!traffic__send(t, i))
            return -1;
    }
}

/* True when every delivery and ack due has arrived. */
static bool traffic__drained(const struct bench_traffic *t)
{
    if (t->received - t->duplicates < t->expected)
        return false;
    return t->qos == 0 || t->acked >= t->published;
}

/* Samples the brokers into each[] and *sum; false when there are none or
 * one is gone. */
static bool traffic__sample_brokers(const struct bench_traffic *t, struct bench_proc_sample *each,
                                    struct bench_proc_sample *sum)
{
    if (!t->n_broker_pids)
        return false;
    return bench_proc_sample_all(t->broker_pids, t->n_broker_pids, each, sum) == MQ_OK;
}

/* The brokers' CPU over [b0, b1]: the sum, and each one's. */
static void traffic__broker_cpu(struct bench_traffic *t, const struct bench_proc_sample *e0,
                                const struct bench_proc_sample *e1,
                                const struct bench_proc_sample *b0,
                                const struct bench_proc_sample *b1)
{
    t->broker_cpu_pct = bench_proc_cpu_pct(b0, b1);
    for (uint32_t i = 0; i < t->n_broker_pids && i < BENCH_MAX_PIDS; i++)
        t->proc_cpu_pct[i] = bench_proc_cpu_pct(&e0[i], &e1[i]);
}

int bench_traffic_run(struct bench_traffic *t, uint32_t duration_s, uint32_t drain_ms)
{
    struct bench_clients *s = t->clients;
    struct bench_proc_sample b0, b1, m0, m1;
    struct bench_proc_sample e0[BENCH_MAX_PIDS], e1[BENCH_MAX_PIDS];
    bool have_broker = false;
    int rc = MQ_OK;
    uint64_t j = 0;

    s->on_publish = traffic__on_publish;
    s->on_puback = traffic__on_puback;
    s->ctx = t;
    bench_hist_reset(&t->hist);
    have_broker = traffic__sample_brokers(t, e0, &b0);
    bench_proc_sample(0, &m0);

    t->t0 = bench_now_ns();
    /* Until publishing stops, every delivery counts as "in the run". */
    t->t_end = UINT64_MAX;
    uint64_t run_ns = (uint64_t)duration_s * 1000000000u;
    uint64_t warm_ns = run_ns / 5;
    if (warm_ns > (uint64_t)BENCH_WARMUP_MAX_MS * 1000000u)
        warm_ns = (uint64_t)BENCH_WARMUP_MAX_MS * 1000000u;
    uint64_t stop = t->t0 + run_ns;
    bool warm = false;
    t->t_warm = t->t0 + warm_ns;
    uint64_t next_scan = t->t0 + TRAFFIC_SCAN_NS;
    uint64_t next_report = t->t0 + 1000000000u;
    bool publishing = true;
    uint64_t drain_end = 0;

    for (;;) {
        uint64_t now = bench_now_ns();
        int wait = TRAFFIC_WAIT_MS;

        if (!warm && publishing && now >= t->t_warm) {
            warm = true;
            t->t_warm = now;
            t->published_warm = t->published;
            t->received_warm = t->received_in_run;
        }
        if (publishing && (now >= stop || !traffic__under_cap(t))) {
            publishing = false;
            t->t_end = now;
            drain_end = now + (uint64_t)drain_ms * 1000000u;
            if (have_broker)
                have_broker = traffic__sample_brokers(t, e1, &b1);
            bench_proc_sample(0, &m1);
        }
        if (publishing) {
            if (t->rate == 0) {
                if (!traffic__fill(t)) {
                    rc = MQ_ENOMEM;
                    break;
                }
            } else {
                wait = traffic__schedule(t, &j, now);
                if (wait < 0) {
                    rc = MQ_ENOMEM;
                    break;
                }
            }
        } else if (traffic__drained(t) || now >= drain_end) {
            break;
        }
        if (now >= next_scan) {
            traffic__expire(t, now);
            next_scan = now + TRAFFIC_SCAN_NS;
        }
        if (!t->quiet && now >= next_report) {
            fprintf(stderr, "mqchat-bench: %.0f s: %llu published, %llu of %llu delivered\n",
                    (double)(now - t->t0) / 1e9, (unsigned long long)t->published,
                    (unsigned long long)t->received, (unsigned long long)t->expected);
            next_report += 1000000000u;
        }
        if (s->n_failed == s->n) {
            rc = MQ_EIO;
            break;
        }
        if (bench_clients_poll(s, wait) < 0) {
            rc = MQ_EIO;
            break;
        }
    }
    if (!warm) {
        /* Stopped (by --count) before the warm-up ended: measure it all. */
        t->t_warm = t->t0;
        t->published_warm = 0;
        t->received_warm = 0;
    }
    if (publishing) {
        t->t_end = bench_now_ns();
        if (have_broker)
            have_broker = traffic__sample_brokers(t, e1, &b1);
        bench_proc_sample(0, &m1);
    }
    t->bench_cpu_pct = bench_proc_cpu_pct(&m0, &m1);
    t->broker_sampled = have_broker;
    if (have_broker)
        traffic__broker_cpu(t, e0, e1, &b0, &b1);
    s->on_publish = NULL;
    s->on_puback = NULL;
    return rc;
}
