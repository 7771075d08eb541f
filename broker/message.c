/*
 * message.c - allocation, reference counting and expiry of struct message.
 */
#include "message.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t message_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct message *message_new(const char *topic, size_t topic_len, const uint8_t *payload,
                            size_t payload_len, uint8_t qos, bool retain,
                            const struct message_extra *extra)
{
    static const struct message_extra none;
    if (!extra)
        extra = &none;
    size_t sender_len = extra->sender ? extra->sender_len : 0;
    struct message *m =
        malloc(sizeof(*m) + topic_len + 1 + extra->props_len + payload_len + sender_len + 1);
    if (!m)
        return NULL;
    atomic_init(&m->refs, 1);
    m->qos = qos;
    m->retain = retain;
    m->chat = false;
    m->shadow = false;
    m->topic_len = (uint16_t)topic_len;
    m->payload_len = (uint32_t)payload_len;
    m->props_len = extra->props_len;
    m->expires_at_ms = extra->expiry_s ? message_clock_ms() + extra->expiry_s * 1000ull : 0;
    m->origin = extra->origin;
    m->ack = NULL;
    m->topic = (char *)(m + 1);
    memcpy(m->topic, topic, topic_len);
    m->topic[topic_len] = '\0';
    m->props = extra->props_len ? (uint8_t *)m->topic + topic_len + 1 : NULL;
    if (extra->props_len)
        memcpy(m->props, extra->props, extra->props_len);
    m->payload = (uint8_t *)m->topic + topic_len + 1 + extra->props_len;
    if (payload_len)
        memcpy(m->payload, payload, payload_len);
    m->sender = NULL;
    m->sender_len = 0;
    if (extra->sender) {
        m->sender = (char *)m->payload + payload_len;
        memcpy(m->sender, extra->sender, sender_len);
        m->sender[sender_len] = '\0';
        m->sender_len = (uint8_t)sender_len;
    }
    return m;
}

struct message *message_ref(struct message *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void message_unref(struct message *m)
{
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        free(m->ack);
        free(m);
    }
}

bool message_expired(const struct message *m, uint64_t now_ms)
{
    return m->expires_at_ms && now_ms >= m->expires_at_ms;
}

uint32_t message_expiry_left(const struct message *m, uint64_t now_ms)
{
    uint64_t left = m->expires_at_ms > now_ms ? m->expires_at_ms - now_ms : 0;
    uint64_t s = (left + 999) / 1000;
    return s ? (uint32_t)s : 1;
}
