/*
 * handle_publish.c - PUBLISH from a client and the acknowledgements of the
 * QoS 1 and QoS 2 flows in both directions (PUBACK, PUBREC, PUBREL,
 * PUBCOMP).
 *
 * Incoming QoS 2 is delivered on PUBLISH (method B of the specification's
 * figure 4.3): the packet id is remembered until PUBREL, and a repeated
 * PUBLISH with that id is acknowledged again but not delivered again.
 * A publish the ACL refuses, or one to a '$' topic, is not delivered: MQTT
 * 3.1.1 acknowledges it as usual (it has no way to say no), MQTT 5 answers
 * with reason 0x87 Not authorized.
 *
 * MQTT 5: topic aliases from the client are resolved here (an alias out of
 * range is 0x94, an unknown one a protocol error); a payload that claims to
 * be UTF-8 (Payload Format Indicator 1) and is not gets 0x99; more
 * unreleased QoS 2 publishes than the broker's Receive Maximum is 0x93. The
 * properties that travel with the message are kept in it.
 *
 * A publish under the chat prefix goes through the chat policy (chat.h):
 * refused with its reason code and a notice, or turned into the broker's
 * envelope, which is routed instead and always spooled (archived).
 *
 * A publish on a spooled topic (storage.h) gets its spool row; at QoS 1/2
 * its acknowledgement is held until that row (and the queue rows of the
 * persistent sessions it reached) committed (ackhold.h). Acknowledgements
 * still leave in the order the PUBLISH packets came (MQTT-4.6.0-2): one
 * that is ready while an earlier one is held waits in the connection's
 * ack_queue. While the spool is full, such a publish is refused: MQTT 5
 * 0x97 Quota exceeded; MQTT 3.1.1 has no way to say no, so the connection
 * is closed without an acknowledgement and the client sends it again
 * later; QoS 0 is dropped. Either way it is not delivered.
 */
#include <stdlib.h>
#include <string.h>

#include "ackhold.h"
#include "acl.h"
#include "chat.h"
#include "conn.h"
#include "handlers.h"
#include "mqtt5.h"
#include "router.h"
#include "session.h"
#include "storage.h"
#include "worker.h"

/* Held acknowledgements past which a connection is not read from until
 * half of them have gone (a client that does not wait for its PUBACKs
 * cannot queue work for the writer without bound). */
#define HELD_ACKS_MAX 1024

/* Acknowledgements of one connection that wait behind a held one. */
struct ack_queue {
    size_t head, n, cap;
    struct queued_ack {
        uint16_t id;
        uint8_t type;   /* MQTT_PUBACK or MQTT_PUBREC */
        uint8_t reason; /* what to send once ready */
        bool ready;
    } a[];
};

static int send_ack(struct conn *c, uint8_t type, uint16_t id, uint8_t reason)
{
    if (c->version == MQTT_V5) {
        uint8_t *p = conn_reserve(c, mqtt5_ack_size(reason, 0));
        if (!p)
            return MQ_EIO;
        mqtt5_encode_ack(p, type, id, reason, NULL, 0);
        return MQ_OK;
    }
    uint8_t pkt[4];
    return conn_send(c, pkt, mqtt_encode_ack(pkt, type, id));
}

static int ack_queue_push(struct conn *c, uint16_t id, uint8_t type, uint8_t reason, bool ready)
{
    struct ack_queue *q = c->acks;
    if (q && q->head && q->head + q->n == q->cap) { /* slide down to reuse the front */
        memmove(q->a, q->a + q->head, q->n * sizeof(q->a[0]));
        q->head = 0;
    }
    if (!q || q->n == q->cap) {
        size_t cap = q ? q->cap * 2 : 8;
        q = realloc(q, sizeof(*q) + cap * sizeof(q->a[0]));
        if (!q)
            return MQ_ENOMEM;
        if (!c->acks)
            q->head = q->n = 0;
        q->cap = cap;
        c->acks = q;
    }
    q->a[q->head + q->n++] = (struct queued_ack){id, type, reason, ready};
    return MQ_OK;
}

/* Sends the acknowledgements at the front of the queue that are ready. */
static int ack_queue_flush(struct conn *c)
{
    struct ack_queue *q = c->acks;
    int rc = MQ_OK;
    while (q->n && q->a[q->head].ready && rc == MQ_OK) {
        struct queued_ack *a = &q->a[q->head];
        rc = send_ack(c, a->type, a->id, a->reason);
        q->head++;
        q->n--;
    }
    if (q->n == 0)
        q->head = 0;
    return rc;
}

/* True when c holds the PUBREC of QoS 2 packet id (its store is pending). */
static bool ack_pending(const struct conn *c, uint16_t id)
{
    const struct ack_queue *q = c->acks;
    for (size_t i = 0; q && i < q->n; i++)
        if (!q->a[q->head + i].ready && q->a[q->head + i].id == id &&
            q->a[q->head + i].type == MQTT_PUBREC)
            return true;
    return false;
}

/* An acknowledgement that is due now: sent, unless held ones go first. */
static int ack_in_order(struct conn *c, uint8_t type, uint16_t id, uint8_t reason)
{
    if (!c->acks || c->acks->n == 0)
        return send_ack(c, type, id, reason);
    return ack_queue_push(c, id, type, reason, true);
}

void publish_ack_settle(struct conn *c, uint16_t id, uint8_t type, int result)
{
    if (result != MQ_OK && c->version != MQTT_V5) {
        conn_close(c, "a spooled publish was not stored: closed without PUBACK");
        return;
    }
    struct ack_queue *q = c->acks;
    for (size_t i = 0; q && i < q->n; i++) {
        struct queued_ack *a = &q->a[q->head + i];
        if (!a->ready && a->id == id && a->type == type) { /* a resend's entry too */
            a->ready = true;
            a->reason = result == MQ_OK ? MQTT5_RC_SUCCESS : MQTT5_RC_QUOTA_EXCEEDED;
        }
    }
    if (!q)
        return;
    ack_queue_flush(c);
    if (c->read_paused && q->n < HELD_ACKS_MAX / 2)
        conn_pause_reading(c, false);
}

bool publish_acks_backlogged(const struct conn *c)
{
    return c->acks && c->acks->n >= HELD_ACKS_MAX / 2;
}

static bool may_publish(const struct conn *c, const char *topic, size_t len)
{
    if (topic[0] == '$')
        return false;
    const struct auth_snapshot *a = c->w->auth;
    if (!a || !a->acl)
        return true;
    const struct session *s = c->s;
    return acl_check(a->acl, s->username, s->client_id, topic, len, ACL_WRITE);
}

/* The broker's Receive Maximum: unreleased incoming QoS 2 publishes. */
static size_t receive_maximum(const struct conn *c)
{
    uint32_t max = c->w->b->cfg->max_inflight_messages;
    return max && max < 65535 ? max : 65535;
}

/*
 * MQTT 5: resolves the topic alias and checks the properties of p.
 * Returns MQ_OK (p->topic set) or an error with c->close_reason set. A
 * payload that is not the UTF-8 it claims to be is not an error that
 * closes: *reason gets 0x99 for the acknowledgement instead.
 */
static int publish_v5_checks(struct conn *c, struct mqtt_publish *p, struct mqtt5_props *props,
                             uint8_t *reason)
{
    int rc = mqtt5_props_decode(p->props, p->props_len, MQTT5_CTX_PUBLISH, props);
    if (rc != MQ_OK) {
        /* Topic Alias 0 has its own reason; a repeated one is a protocol error. */
        bool alias_zero = props->bad_id == MQTT5_PROP_TOPIC_ALIAS && props->topic_alias == 0;
        c->close_reason = alias_zero ? MQTT5_RC_TOPIC_ALIAS_INVALID : mqtt5_reason_for_error(rc);
        return rc;
    }
    if (mqtt5_has(props, MQTT5_PROP_TOPIC_ALIAS)) {
        uint16_t alias = props->topic_alias;
        if (alias > c->w->b->cfg->max_topic_alias) {
            c->close_reason = MQTT5_RC_TOPIC_ALIAS_INVALID;
            return MQ_EPROTOCOL;
        }
        if (p->topic.len) {
            if (conn_alias_in_set(c, alias, p->topic.s, p->topic.len) != MQ_OK)
                return MQ_ENOMEM;
        } else {
            const char *topic = conn_alias_in_get(c, alias);
            if (!topic) {
                c->close_reason = MQTT5_RC_PROTOCOL_ERROR;
                return MQ_EPROTOCOL;
            }
            p->topic.s = topic;
            p->topic.len = (uint16_t)strlen(topic);
        }
    } else if (p->topic.len == 0) {
        c->close_reason = MQTT5_RC_PROTOCOL_ERROR;
        return MQ_EPROTOCOL;
    }
    if (props->payload_format == 1 &&
        mqtt_utf8_check((const char *)p->payload, p->payload_len) != MQ_OK)
        *reason = MQTT5_RC_PAYLOAD_FORMAT_INVALID;
    return MQ_OK;
}

/* Builds the message of p, keeping the MQTT 5 properties that travel. */
static struct message *publish_message(struct conn *c, const struct mqtt_publish *p,
                                       const struct mqtt5_props *props)
{
    struct message_extra extra = {.origin = c->s->uid};
    uint8_t *kept = NULL;
    if (c->version == MQTT_V5 && props->raw_len) {
        static const uint8_t drop[] = {MQTT5_PROP_TOPIC_ALIAS, MQTT5_PROP_SUBSCRIPTION_IDENTIFIER,
                                       MQTT5_PROP_MESSAGE_EXPIRY_INTERVAL};
        kept = malloc(props->raw_len);
        if (!kept)
            return NULL;
        extra.props = kept;
        extra.props_len =
            (uint32_t)mqtt5_props_filter(props->raw, props->raw_len, kept, drop, sizeof(drop));
        extra.expiry_s = props->message_expiry;
    }
    struct message *msg = message_new(p->topic.s, p->topic.len, p->payload, p->payload_len, p->qos,
                                      p->retain, &extra);
    free(kept);
    return msg;
}

/*
 * Routes msg (the caller's reference passes) and `also` (another message
 * that goes with it, a direct message's own copy, or NULL) with msg's
 * spool row: the chat post's, or a plain "mqtt" row when post is NULL. At
 * QoS 1/2 the acknowledgement is held in c's ack queue until the row (and
 * what msg reached) is durable.
 */
static int route_spooled(struct conn *c, struct message *msg, struct message *also,
                         const struct mqtt_publish *p, uint8_t ack, const struct chat_post *post)
{
    struct broker *b = c->w->b;
    int rc = MQ_OK;
    if (p->qos && ((rc = ack_queue_push(c, p->packet_id, ack, 0, false)) != MQ_OK ||
                   (rc = ack_hold_attach(msg, c, p->packet_id, ack)) != MQ_OK)) {
        if (rc == MQ_OK)
            c->acks->n--; /* attach failed: take back the entry just pushed */
        message_unref(msg);
        message_unref(also);
        return rc;
    }
    if (c->acks && c->acks->n >= HELD_ACKS_MAX)
        conn_pause_reading(c, true);
    const struct session *s = c->s;
    const char *sender = s->username ? s->username : s->client_id;
    rc = post ? chat_post_spool(b, post) : storage_spool(b->storage, msg, sender, strlen(sender));
    if (rc != MQ_OK && msg->ack)
        ack_hold_fail(msg, MQ_ENOMEM); /* refused once routed: not stored */
    message_ref(msg);                  /* router_publish() takes one reference */
    router_publish(c->w, msg);
    if (also)
        router_publish(c->w, also);
    if (msg->ack)
        ack_hold_release(msg, MQ_OK); /* the routing part */
    message_unref(msg);
    return MQ_OK;
}

/* Makes p's message and routes it (with its spool row when spooled). */
static int publish_route(struct conn *c, const struct mqtt_publish *p,
                         const struct mqtt5_props *props, bool spooled, uint8_t ack)
{
    struct message *msg = publish_message(c, p, props);
    if (!msg)
        return MQ_ENOMEM;
    if (!spooled) {
        router_publish(c->w, msg);
        return MQ_OK;
    }
    return route_spooled(c, msg, NULL, p, ack, NULL);
}

/* A publish under the chat prefix: refused by the chat policy (*reason
 * set, a notice sent), or stamped into its envelope message(s), routed
 * and archived. */
static int publish_chat(struct conn *c, const struct mqtt_publish *p,
                        const struct mqtt5_props *props, const struct chat_topic *t, uint8_t ack,
                        uint8_t *reason, bool *spooled)
{
    struct chat_post post;
    int rc = chat_publish(c->w->b->chat, c, p, c->version == MQTT_V5 ? props : NULL, t, &post);
    if (rc < 0)
        return rc;
    if (rc != MQTT5_RC_SUCCESS) {
        *reason = (uint8_t)rc;
        return MQ_OK;
    }
    if (!post.msg[0])
        return MQ_OK; /* taken by the broker (a read marker, a history request) */
    struct message *keep = message_ref(post.msg[0]); /* post's names point into it */
    if (post.shadow || !*spooled) {
        /* Heard by its sender only: nothing to archive, acknowledged now. */
        *spooled = false;
        for (int i = 0; i < 2; i++)
            if (post.msg[i])
                router_publish(c->w, post.msg[i]); /* takes the reference */
        rc = MQ_OK;
    } else {
        rc = route_spooled(c, post.msg[0], post.msg[1], p, ack, &post); /* takes both */
    }
    post.msg[0] = post.msg[1] = NULL;
    if (rc == MQ_OK)
        chat_post_routed(c->w->b->chat, &post);
    message_unref(keep);
    return rc;
}

int handle_publish(struct conn *c, const struct mqtt_frame *f)
{
    struct worker *w = c->w;
    struct mqtt_publish p;
    int rc = mqtt_decode_publish(f, c->version, &p);
    if (rc != MQ_OK)
        return rc;
    w->count.msgs_received++;
    uint32_t limit = w->b->cfg->message_size_limit;
    if (limit && p.payload_len > limit)
        return MQ_ETOOLARGE;

    struct mqtt5_props props = {0};
    uint8_t reason = MQTT5_RC_SUCCESS;
    if (c->version == MQTT_V5) {
        if ((rc = publish_v5_checks(c, &p, &props, &reason)) != MQ_OK)
            return rc;
    }

    uint8_t ack = p.qos == 1 ? MQTT_PUBACK : MQTT_PUBREC;
    if (p.qos == 2) {
        if (session_rx_qos2_has(c->s, p.packet_id)) /* a resend: deliver once only */
            return ack_pending(c, p.packet_id)
                       ? ack_queue_push(c, p.packet_id, ack, 0, false) /* with the held one */
                       : ack_in_order(c, ack, p.packet_id, reason);
        if (c->version == MQTT_V5 && session_rx_qos2_count(c->s) >= receive_maximum(c)) {
            c->close_reason = MQTT5_RC_RECEIVE_MAXIMUM_EXCEEDED;
            return MQ_EFULL; /* not recorded: a resend on a new connection is delivered */
        }
    }
    struct chat *ch = w->b->chat;
    struct chat_topic chat_topic = {0};
    bool chat = ch && reason == MQTT5_RC_SUCCESS &&
                chat_topic_parse(ch, p.topic.s, p.topic.len, &chat_topic) != CHAT_NOT_CHAT;
    if (reason == MQTT5_RC_SUCCESS && !chat && !may_publish(c, p.topic.s, p.topic.len))
        reason = MQTT5_RC_NOT_AUTHORIZED;
    struct storage *st = w->b->storage;
    /* A chat message is always spooled (the chat layer needs the storage:
     * chat_open() runs after storage_open()). */
    bool spooled = reason == MQTT5_RC_SUCCESS && st &&
                   (chat ? chat_topic_archived(chat_topic.kind)
                         : st->nspool_filters && storage_spools(st, p.topic.s, p.topic.len));
    if (spooled && storage_spool_full(st)) {
        storage_refused(st, p.topic.s, p.topic.len);
        w->count.msgs_dropped++;
        if (p.qos == 0)
            return MQ_OK;
        if (c->version != MQTT_V5) {
            conn_close(c, "spool full: publish refused, closed without PUBACK");
            return MQ_OK;
        }
        spooled = false;
        reason = MQTT5_RC_QUOTA_EXCEEDED;
    }
    if (reason == MQTT5_RC_SUCCESS) {
        rc = chat ? publish_chat(c, &p, &props, &chat_topic, ack, &reason, &spooled)
                  : publish_route(c, &p, &props, spooled, ack);
        if (rc != MQ_OK)
            return rc;
    }
    if (reason == MQTT5_RC_SUCCESS) {
        /* Remembered only once delivered, so that nothing is lost on a failure
         * above; a refused QoS 2 ends at PUBREC and is not remembered. */
        if (p.qos == 2 && session_rx_qos2_add(c->s, p.packet_id) != MQ_OK)
            return MQ_ENOMEM;
        if (spooled && p.qos)
            return MQ_OK; /* acknowledged once durable (publish_ack_settle) */
    }
    return p.qos ? ack_in_order(c, ack, p.packet_id, reason) : MQ_OK;
}

static int decode_ack(struct conn *c, const struct mqtt_frame *f, struct mqtt_ack *a)
{
    int rc = mqtt_decode_ack(f, c->version, a);
    if (rc == MQ_OK && c->version == MQTT_V5) {
        struct mqtt5_props props;
        rc = mqtt5_props_decode(a->props, a->props_len, MQTT5_CTX_ACK, &props);
    }
    return rc;
}

int handle_puback(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_ack a;
    int rc = decode_ack(c, f, &a);
    if (rc == MQ_OK)
        session_on_puback(c->s, a.packet_id);
    return rc;
}

int handle_pubrec(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_ack a;
    int rc = decode_ack(c, f, &a);
    if (rc == MQ_OK)
        session_on_pubrec(c->s, a.packet_id, a.reason_code);
    return rc;
}

int handle_pubrel(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_ack a;
    int rc = decode_ack(c, f, &a);
    if (rc != MQ_OK)
        return rc;
    session_rx_qos2_release(c->s, a.packet_id);
    return send_ack(c, MQTT_PUBCOMP, a.packet_id, MQTT5_RC_SUCCESS);
}

int handle_pubcomp(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_ack a;
    int rc = decode_ack(c, f, &a);
    if (rc == MQ_OK)
        session_on_pubcomp(c->s, a.packet_id);
    return rc;
}
