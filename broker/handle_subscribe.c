/*
 * handle_subscribe.c - SUBSCRIBE and UNSUBSCRIBE.
 *
 * SUBSCRIBE: each filter is checked against the ACL (refused: 0x80 in a
 * 3.1.1 SUBACK, 0x87 in MQTT 5; under the chat prefix the chat policy is
 * the ACL, see chat.h), added to the session (the worker's topic
 * tree, or the broker's shared registry for "$share/{group}/{filter}") with
 * its options, and after the SUBACK the retained messages matching it are
 * sent with RETAIN set, each at min(granted, published) QoS, as Retain
 * Handling says (0: always, 1: only for a new subscription, 2: never;
 * never for a shared subscription). UNSUBSCRIBE removes filters; UNSUBACK
 * is sent whether or not they existed (MQTT 5 says which did not: 0x11).
 *
 * MQTT 5: the Subscription Identifier is kept with each subscription and
 * sent with the messages it matches; No Local on a shared subscription is
 * a protocol error; a malformed shared filter gets 0x8F.
 */
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "chat.h"
#include "chat_live.h"
#include "conn.h"
#include "handlers.h"
#include "mqtt5.h"
#include "retain.h"
#include "session.h"
#include "shared.h"
#include "worker.h"

/* The ACL's answer for filter (inner: the filter inside a $share one):
 * 0 allowed, else the MQTT 5 reason code that refuses it. Under the chat
 * prefix the chat policy decides (and may join a room: *joined); elsewhere
 * acl_file. */
static int subscribe_verdict(const struct conn *c, const struct mqtt_str *filter, const char *inner,
                             size_t inner_len, bool *joined)
{
    struct chat *ch = c->w->b->chat;
    *joined = false;
    int verdict = ch ? chat_subscribe_check(ch, c->s, inner, inner_len, joined) : -1;
    if (verdict >= 0)
        return verdict;
    const struct auth_snapshot *a = c->w->auth;
    if (!a || !a->acl)
        return 0;
    const struct session *s = c->s;
    return acl_check(a->acl, s->username, s->client_id, filter->s, filter->len, ACL_SUBSCRIBE)
               ? 0
               : MQTT5_RC_NOT_AUTHORIZED;
}

/* Collects retained messages (with references) while the store is locked,
 * to deliver them after it is unlocked. */
struct retained_batch {
    struct message **msgs;
    size_t n, cap;
};

static void collect_retained(void *ctx, struct message *msg)
{
    struct retained_batch *rb = ctx;
    if (rb->n == rb->cap) {
        size_t cap = rb->cap ? rb->cap * 2 : 16;
        struct message **msgs = realloc(rb->msgs, cap * sizeof(*msgs));
        if (!msgs)
            return;
        rb->msgs = msgs;
        rb->cap = cap;
    }
    rb->msgs[rb->n++] = message_ref(msg);
}

static void send_retained(struct conn *c, const struct mqtt_str *filter, uint8_t granted,
                          uint32_t sub_id)
{
    struct retained_batch rb = {0};
    retain_match(c->w->b->retain, filter->s, filter->len, collect_retained, &rb);
    struct chat *ch = c->w->b->chat;
    for (size_t i = 0; i < rb.n; i++) {
        struct message *msg = rb.msgs[i];
        struct chat_reader reader;
        if (ch && c->s && chat_reader_prepare(ch, msg, &reader) &&
            !chat_reader_allows(ch, &reader, c->s)) {
            message_unref(msg);
            continue;
        }
        struct delivery d = {.qos = msg->qos < granted ? msg->qos : granted, .retain = true};
        if (sub_id)
            d.subids[d.nsubids++] = sub_id;
        if (c->s)
            session_deliver(c->s, msg, &d);
        message_unref(msg);
    }
    free(rb.msgs);
}

/* The SUBACK code for one filter; adds the subscription when granted.
 * *is_new tells whether it did not exist before. Returns a code >= 0x80
 * for a refusal, or MQ_EPROTOCOL (as an int below 0) to close. */
static int subscribe_one(struct conn *c, const struct mqtt_str *filter, uint8_t options,
                         uint32_t sub_id, bool *is_new)
{
    bool v5 = c->version == MQTT_V5;
    const char *group, *inner;
    size_t group_len, inner_len;
    bool valid = true;
    bool shared =
        shared_parse(filter->s, filter->len, &group, &group_len, &inner, &inner_len, &valid);
    if (shared && !valid)
        return v5 ? MQTT5_RC_TOPIC_FILTER_INVALID : MQTT_SUBACK_FAILURE;
    if (shared && (options & SUB_OPT_NO_LOCAL)) {
        c->close_reason = MQTT5_RC_PROTOCOL_ERROR;
        return MQ_EPROTOCOL;
    }
    bool joined;
    int verdict = subscribe_verdict(c, filter, shared ? inner : filter->s,
                                    shared ? inner_len : filter->len, &joined);
    if (verdict)
        return v5 ? verdict : MQTT_SUBACK_FAILURE;
    int rc = session_subscribe(c->s, filter->s, filter->len, options, sub_id);
    if (rc < 0 && joined) /* no subscription: no membership either */
        chat_subscribe_undo_join(c->w->b->chat, c->s, shared ? inner : filter->s,
                                 shared ? inner_len : filter->len);
    if (rc < 0 && v5)
        return rc == MQ_EFULL ? MQTT5_RC_QUOTA_EXCEEDED : MQTT5_RC_UNSPECIFIED_ERROR;
    if (rc < 0)
        return MQTT_SUBACK_FAILURE;
    *is_new = rc == 1;
    if (rc == 1 && !shared)
        chat_sub_added(c, filter->s, filter->len);
    return options & SUB_OPT_QOS;
}

static int send_suback(struct conn *c, uint16_t id, const uint8_t *codes, size_t n)
{
    if (c->version == MQTT_V5) {
        uint8_t *p = conn_reserve(c, mqtt5_suback_size(n, 0));
        if (p)
            mqtt5_encode_suback(p, id, codes, n, NULL, 0);
        return p ? MQ_OK : MQ_EIO;
    }
    uint8_t *p = conn_reserve(c, mqtt_suback_size(n));
    if (p)
        mqtt_encode_suback(p, id, codes, n);
    return p ? MQ_OK : MQ_EIO;
}

int handle_subscribe(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_subscribe sub;
    int rc = mqtt_decode_subscribe(f, c->version, &sub);
    if (rc != MQ_OK)
        return rc;
    uint32_t sub_id = 0;
    if (c->version == MQTT_V5) {
        struct mqtt5_props props;
        rc = mqtt5_props_decode(sub.props, sub.props_len, MQTT5_CTX_SUBSCRIBE, &props);
        if (rc != MQ_OK)
            return rc;
        if (props.subid_count)
            sub_id = props.subid[0];
    }
    uint8_t *codes = malloc(sub.count * 2);
    if (!codes)
        return MQ_ENOMEM;
    uint8_t *fresh = codes + sub.count;

    struct mqtt_sub_iter it = sub.iter;
    struct mqtt_str filter;
    uint8_t options;
    for (size_t i = 0; mqtt_next_filter(&it, &filter, &options); i++) {
        bool is_new = false;
        int code = subscribe_one(c, &filter, options, sub_id, &is_new);
        if (code < 0) {
            free(codes);
            return code;
        }
        codes[i] = (uint8_t)code;
        fresh[i] = is_new;
    }
    rc = send_suback(c, sub.packet_id, codes, sub.count);

    it = sub.iter;
    for (size_t i = 0; rc == MQ_OK && mqtt_next_filter(&it, &filter, &options); i++) {
        uint8_t handling = SUB_OPT_RETAIN_HANDLING(options);
        bool shared = filter.len >= 7 && memcmp(filter.s, "$share/", 7) == 0;
        if (codes[i] >= 0x80 || shared || handling == 2 || (handling == 1 && !fresh[i]))
            continue;
        send_retained(c, &filter, codes[i], sub_id);
    }
    free(codes);
    return rc;
}

int handle_unsubscribe(struct conn *c, const struct mqtt_frame *f)
{
    struct mqtt_subscribe unsub;
    int rc = mqtt_decode_unsubscribe(f, c->version, &unsub);
    if (rc != MQ_OK)
        return rc;
    bool v5 = c->version == MQTT_V5;
    if (v5) {
        struct mqtt5_props props;
        rc = mqtt5_props_decode(unsub.props, unsub.props_len, MQTT5_CTX_UNSUBSCRIBE, &props);
        if (rc != MQ_OK)
            return rc;
    }
    uint8_t *codes = malloc(unsub.count);
    if (!codes)
        return MQ_ENOMEM;
    struct mqtt_sub_iter it = unsub.iter;
    struct mqtt_str filter;
    uint8_t options;
    for (size_t i = 0; mqtt_next_filter(&it, &filter, &options); i++) {
        bool removed = session_unsubscribe(c->s, filter.s, filter.len) == MQ_OK;
        if (removed)
            chat_sub_removed(c, filter.s, filter.len);
        codes[i] = removed ? MQTT5_RC_SUCCESS : MQTT5_RC_NO_SUBSCRIPTION_EXISTED;
    }
    uint8_t *p;
    if (v5) {
        p = conn_reserve(c, mqtt5_suback_size(unsub.count, 0));
        if (p)
            mqtt5_encode_unsuback(p, unsub.packet_id, codes, unsub.count, NULL, 0);
    } else {
        p = conn_reserve(c, 4);
        if (p)
            mqtt_encode_ack(p, MQTT_UNSUBACK, unsub.packet_id);
    }
    free(codes);
    return p ? MQ_OK : MQ_EIO;
}
