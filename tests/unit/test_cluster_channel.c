/*
 * test_cluster_channel.c - which Redis channel a topic crosses nodes on,
 * and which channels a subscription needs (cluster_channel.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cluster_channel.h"
#include "errors.h"

static struct cluster_routes routes(const char *bridge)
{
    struct cluster_routes r;
    assert_int_equal(cluster_routes_parse(&r, "chat", bridge), MQ_OK);
    return r;
}

static void assert_topic(const struct cluster_routes *r, const char *topic, const char *want)
{
    char out[CLUSTER_CHANNEL_MAX];
    size_t n = cluster_topic_channel(r, topic, strlen(topic), out);
    if (!want) {
        if (n)
            fail_msg("'%s' crosses on '%s', should stay", topic, out);
        return;
    }
    if (!n)
        fail_msg("'%s' stays, should cross on '%s'", topic, want);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_topics(void **state)
{
    struct cluster_routes r = routes("sensors/# alerts/+/high,alerts/#");
    assert_topic(&r, "chat/room/lobby", "r:lobby");
    assert_topic(&r, "chat/room/lobby/system", "r:lobby");
    assert_topic(&r, "chat/room/lobby/presence", NULL);
    assert_topic(&r, "chat/room/lobby/read", NULL);
    assert_topic(&r, "chat/room/lobby/history", NULL);
    assert_topic(&r, "chat/dm/bob", "u:bob");
    assert_topic(&r, "chat/user/bob/events", "u:bob");
    assert_topic(&r, "chat/user/bob", NULL);
    assert_topic(&r, "chat/user/bob/events/x", NULL);
    assert_topic(&r, "chat/system", "sys");
    assert_topic(&r, "chat/presence/bob", NULL);
    assert_topic(&r, "chat", NULL);
    assert_topic(&r, "chatter/room/x", NULL);
    assert_topic(&r, "sensors/k1/temp", "t:sensors/#");
    assert_topic(&r, "sensors", "t:sensors/#");
    assert_topic(&r, "alerts/a/high", "t:alerts/+/high"); /* the first match, in order */
    assert_topic(&r, "alerts/a/low", "t:alerts/#");
    assert_topic(&r, "other/x", NULL);
    assert_topic(&r, "$SYS/broker/uptime", NULL);
    cluster_routes_free(&r);
}

struct seen {
    char names[8][CLUSTER_CHANNEL_MAX];
    size_t n;
};

static void add(void *ctx, const char *ch, size_t len)
{
    struct seen *s = ctx;
    assert_true(s->n < 8);
    assert_int_equal(strlen(ch), len);
    strcpy(s->names[s->n++], ch);
}

static void assert_filter(const struct cluster_routes *r, const char *filter, const char *want)
{
    struct seen s = {0};
    cluster_filter_channels(r, filter, strlen(filter), add, &s);
    char got[1024] = "";
    for (size_t i = 0; i < s.n; i++) {
        if (i)
            strcat(got, " ");
        strcat(got, s.names[i]);
    }
    if (strcmp(got, want) != 0)
        fail_msg("'%s' needs '%s', want '%s'", filter, got, want);
}

static void test_filters(void **state)
{
    struct cluster_routes r = routes("sensors/# alerts/+/high");
    assert_filter(&r, "chat/room/lobby", "r:lobby");
    assert_filter(&r, "chat/room/lobby/#", "r:lobby");
    assert_filter(&r, "chat/room/lobby/+", "r:lobby");
    assert_filter(&r, "chat/room/lobby/system", "r:lobby");
    assert_filter(&r, "chat/room/lobby/presence", "");
    assert_filter(&r, "chat/room/+", "");
    assert_filter(&r, "chat/#", "");
    assert_filter(&r, "chat/dm/bob", "u:bob");
    assert_filter(&r, "chat/dm/bob/#", "u:bob");
    assert_filter(&r, "chat/user/bob/events", "u:bob");
    assert_filter(&r, "chat/user/bob/#", "u:bob");
    assert_filter(&r, "chat/user/bob/events/#", "u:bob");
    assert_filter(&r, "chat/user/bob/events/+", "");
    assert_filter(&r, "chat/room/lobby/x/#", "");
    assert_filter(&r, "chat/user/+/events", "");
    assert_filter(&r, "chat/system", "sys");
    assert_filter(&r, "sensors/+/temp", "t:sensors/#");
    assert_filter(&r, "#", "t:sensors/# t:alerts/+/high");
    assert_filter(&r, "+/x/high", "t:sensors/# t:alerts/+/high");
    assert_filter(&r, "alerts/x/low", "");
    assert_filter(&r, "other/#", "");
    cluster_routes_free(&r);
}

static void assert_overlap(const char *a, const char *b, bool want)
{
    bool got = cluster_filters_overlap(a, strlen(a), b, strlen(b));
    if (got != want)
        fail_msg("'%s' and '%s': overlap %d, want %d", a, b, got, want);
    got = cluster_filters_overlap(b, strlen(b), a, strlen(a));
    if (got != want)
        fail_msg("'%s' and '%s' (swapped): overlap %d, want %d", b, a, got, want);
}

static void test_overlap(void **state)
{
    assert_overlap("a/b", "a/b", true);
    assert_overlap("a/b", "a/c", false);
    assert_overlap("a/+", "a/c", true);
    assert_overlap("a/#", "a", true);
    assert_overlap("a/#", "a/b/c", true);
    assert_overlap("a/+", "a", false);
    assert_overlap("a/+/c", "a/b/+", true);
    assert_overlap("a/+/c", "a/b/d", false);
    assert_overlap("#", "x/y", true);
    assert_overlap("+", "a/b", false);
    assert_overlap("a//b", "a/+/b", true);
    assert_overlap("a/b/c", "a/b", false);
}

static void test_bad_bridge_topics(void **state)
{
    const char *bad[] = {"chat/#", "chat", "$SYS/#", "a/#/b", "a+/b", "ok/# chat/room/x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        struct cluster_routes r;
        if (cluster_routes_parse(&r, "chat", bad[i]) != MQ_EINVAL)
            fail_msg("'%s' accepted as redis.bridge_topics", bad[i]);
    }
    struct cluster_routes r = routes(NULL);
    assert_int_equal(r.nbridge, 0);
    cluster_routes_free(&r);
    r = routes("  , ");
    assert_int_equal(r.nbridge, 0);
    cluster_routes_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topics),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_bad_bridge_topics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
