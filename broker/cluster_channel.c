/*
 * cluster_channel.c - topics and filters to Redis channels (see
 * cluster_channel.h).
 */
#include "cluster_channel.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "topic.h"

static bool is_wild(const struct topic_level *l)
{
    return topic_level_is(l, "+") || topic_level_is(l, "#");
}

static size_t make(char *out, const char *kind, const char *name, size_t len)
{
    size_t k = strlen(kind);
    if (k + len + 1 > CLUSTER_CHANNEL_MAX)
        return 0;
    memcpy(out, kind, k);
    memcpy(out + k, name, len);
    out[k + len] = '\0';
    return k + len;
}

/* The part of p after "{chat_prefix}/", or NULL when p is not under it. */
static const char *under_prefix(const struct cluster_routes *r, const char *p, size_t len,
                                size_t *rest_len)
{
    size_t n = r->chat_prefix_len;
    if (len <= n || memcmp(p, r->chat_prefix, n) != 0 || p[n] != '/')
        return NULL;
    *rest_len = len - n - 1;
    return p + n + 1;
}

/* A chat topic (filter false) or filter (true) below the prefix. */
static size_t chat_channel(const char *rest, size_t len, bool filter, char *out)
{
    struct topic_level lv[4];
    size_t n = topic_levels(rest, len, lv, 4);
    if (n > 4 || n == 0)
        return 0;
    if (n == 4) /* only {p}/user/{user}/events/#, which matches the events topic too */
        return filter && topic_level_is(&lv[0], "user") && !is_wild(&lv[1]) && lv[1].len &&
                       topic_level_is(&lv[2], "events") && topic_level_is(&lv[3], "#")
                   ? make(out, "u:", lv[1].s, lv[1].len)
                   : 0;
    if (n == 1)
        return topic_level_is(&lv[0], "system") ? make(out, "sys", "", 0) : 0;
    if (lv[1].len == 0 || is_wild(&lv[1]))
        return 0; /* no one room or user: stays on its node */
    bool any_below = filter && n == 3 && is_wild(&lv[2]);
    if (topic_level_is(&lv[0], "room") && (n == 2 || topic_level_is(&lv[2], "system") || any_below))
        return make(out, "r:", lv[1].s, lv[1].len);
    if (topic_level_is(&lv[0], "dm") &&
        (n == 2 || (filter && n == 3 && topic_level_is(&lv[2], "#"))))
        return make(out, "u:", lv[1].s, lv[1].len);
    if (topic_level_is(&lv[0], "user") && n == 3 && (topic_level_is(&lv[2], "events") || any_below))
        return make(out, "u:", lv[1].s, lv[1].len);
    return 0;
}

size_t cluster_topic_channel(const struct cluster_routes *r, const char *topic, size_t len,
                             char *out)
{
    if (len == 0 || topic[0] == '$')
        return 0;
    size_t rest_len;
    const char *rest = under_prefix(r, topic, len, &rest_len);
    if (rest)
        return chat_channel(rest, rest_len, false, out);
    if (len == r->chat_prefix_len && memcmp(topic, r->chat_prefix, len) == 0)
        return 0;
    for (size_t i = 0; i < r->nbridge; i++)
        if (topic_matches(r->bridge[i], strlen(r->bridge[i]), topic, len))
            return make(out, "t:", r->bridge[i], strlen(r->bridge[i]));
    return 0;
}

void cluster_filter_channels(const struct cluster_routes *r, const char *filter, size_t len,
                             void (*fn)(void *ctx, const char *channel, size_t len), void *ctx)
{
    char ch[CLUSTER_CHANNEL_MAX];
    size_t rest_len, n;
    const char *rest = under_prefix(r, filter, len, &rest_len);
    if (rest) {
        if ((n = chat_channel(rest, rest_len, true, ch)) > 0)
            fn(ctx, ch, n);
        return;
    }
    for (size_t i = 0; i < r->nbridge; i++) {
        size_t blen = strlen(r->bridge[i]);
        if (cluster_filters_overlap(filter, len, r->bridge[i], blen) &&
            (n = make(ch, "t:", r->bridge[i], blen)) > 0)
            fn(ctx, ch, n);
    }
}

/* The level of p starting at *pos ([*pos, end of level)); advances *pos
 * past its '/'; false when p is used up. */
static bool next_level(const char *p, size_t len, size_t *pos, bool *done, struct topic_level *out)
{
    if (*done)
        return false;
    size_t start = *pos, i = start;
    while (i < len && p[i] != '/')
        i++;
    *out = (struct topic_level){p + start, i - start};
    if (i >= len)
        *done = true;
    *pos = i + 1;
    return true;
}

bool cluster_filters_overlap(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t pa = 0, pb = 0;
    bool da = false, db = false;
    for (;;) {
        struct topic_level la, lb;
        bool ha = next_level(a, alen, &pa, &da, &la);
        bool hb = next_level(b, blen, &pb, &db, &lb);
        if (!ha && !hb)
            return true;
        if (ha && topic_level_is(&la, "#"))
            return true;
        if (hb && topic_level_is(&lb, "#"))
            return true;
        if (!ha || !hb)
            return false; /* one is longer, and not by a '#' ("a/#" covers "a": seen above) */
        if (topic_level_is(&la, "+") || topic_level_is(&lb, "+"))
            continue;
        if (la.len != lb.len || memcmp(la.s, lb.s, la.len) != 0)
            return false;
    }
}

int cluster_routes_parse(struct cluster_routes *r, const char *chat_prefix, const char *list)
{
    memset(r, 0, sizeof(*r));
    r->chat_prefix = chat_prefix;
    r->chat_prefix_len = strlen(chat_prefix);
    const char *p = list ? list : "";
    while (*p) {
        size_t skip = strspn(p, " ,\t");
        p += skip;
        size_t n = strcspn(p, " ,\t");
        if (n == 0)
            continue;
        size_t rest_len;
        bool chat = under_prefix(r, p, n, &rest_len) ||
                    (n == r->chat_prefix_len && memcmp(p, chat_prefix, n) == 0);
        if (p[0] == '$' || chat || topic_validate_filter(p, n) != MQ_OK) {
            log_error("redis.bridge_topics: '%.*s' is not a filter that can cross nodes (a valid "
                      "filter, not starting with '$', outside chat.prefix)",
                      (int)n, p);
            cluster_routes_free(r);
            return MQ_EINVAL;
        }
        char **a = realloc(r->bridge, (r->nbridge + 1) * sizeof(*a));
        char *copy = a ? strndup(p, n) : NULL;
        if (a)
            r->bridge = a;
        if (!copy) {
            cluster_routes_free(r);
            return MQ_ENOMEM;
        }
        r->bridge[r->nbridge++] = copy;
        p += n;
    }
    return MQ_OK;
}

void cluster_routes_free(struct cluster_routes *r)
{
    for (size_t i = 0; i < r->nbridge; i++)
        free(r->bridge[i]);
    free(r->bridge);
    r->bridge = NULL;
    r->nbridge = 0;
}
