/*
 * test_presence.c - who is online (broker/presence.c), driven with explicit
 * clocks: devices across connections, the grace that keeps a reconnect or a
 * take-over from flapping, coalescing to one update per tick, room joins and
 * leaves with names and their cap, per-room events off, support totals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>

#include "json.h"
#include "presence.h"

#define L(lit) (lit), (sizeof(lit) - 1)

#define GRACE 1000

/* What one tick emitted. */
struct seen {
    int users, rooms, totals;
    int reports, reported; /* local reports (for the other nodes), the last count */
    int room_reports;
    int64_t room_reported;
    char user_json[512];
    char room_json[4096];
    char totals_room[80];
    int64_t cheers, hearts;
    bool events; /* what the room wants */
};

static void on_user(void *ctx, const char *user, size_t len, const char *json, size_t json_len)
{
    struct seen *s = ctx;
    s->users++;
    snprintf(s->user_json, sizeof(s->user_json), "%.*s", (int)json_len, json);
}

static void on_room(void *ctx, const char *room, size_t len, const char *json, size_t json_len)
{
    struct seen *s = ctx;
    s->rooms++;
    snprintf(s->room_json, sizeof(s->room_json), "%.*s", (int)json_len, json);
}

static void on_totals(void *ctx, const char *room, size_t len, int64_t cheers, int64_t hearts)
{
    struct seen *s = ctx;
    s->totals++;
    snprintf(s->totals_room, sizeof(s->totals_room), "%.*s", (int)len, room);
    s->cheers = cheers;
    s->hearts = hearts;
}

static void on_local(void *ctx, const char *user, size_t len, int devices)
{
    struct seen *s = ctx;
    s->reports++;
    s->reported = devices;
}

static void on_local_room(void *ctx, const char *room, size_t len, int64_t viewers)
{
    struct seen *s = ctx;
    s->room_reports++;
    s->room_reported = viewers;
}

static bool on_events(void *ctx, const char *room, size_t len)
{
    return ((struct seen *)ctx)->events;
}

static struct seen tick(struct presence *p, int64_t now, bool events)
{
    struct seen s = {.events = events};
    struct presence_emit e = {&s, on_user, on_room, on_totals, on_events, on_local, on_local_room};
    presence_tick(p, now, &e);
    return s;
}

static struct presence *make(size_t max_names)
{
    struct presence_config cfg = {GRACE, max_names};
    struct presence *p = presence_new(&cfg);
    assert_non_null(p);
    return p;
}

/* Member key of the JSON object text as a number (asserts it is one). */
static double num(const char *json, const char *key)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("%s: '%s' is not a number", json, key);
    double d = v->valuedouble;
    cJSON_Delete(o);
    return d;
}

static bool is_true(const char *json, const char *key)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    bool t = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
    cJSON_Delete(o);
    return t;
}

/* The names in array key, comma-joined. */
static void names(const char *json, const char *key, char *out, size_t cap)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *it;
    assert_true(cJSON_IsArray(a));
    out[0] = '\0';
    size_t n = 0;
    cJSON_ArrayForEach(it, a)
    {
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "", it->valuestring);
    }
    cJSON_Delete(o);
}

static void test_devices_and_grace(void **state)
{
    struct presence *p = make(20);
    presence_device_up(p, L("alice"), 100);
    presence_device_up(p, L("alice"), 110);
    struct seen s = tick(p, 200, true);
    assert_int_equal(s.users, 1);
    assert_true(is_true(s.user_json, "online"));
    assert_int_equal((int)num(s.user_json, "devices"), 2);
    assert_int_equal((int)num(s.user_json, "last_seen"), 200);
    assert_non_null(strstr(s.user_json, "\"type\":\"presence\""));
    /* One device goes: still online, one device. */
    presence_device_down(p, L("alice"), 300);
    s = tick(p, 400, true);
    assert_int_equal(s.users, 1);
    assert_true(is_true(s.user_json, "online"));
    assert_int_equal((int)num(s.user_json, "devices"), 1);
    /* The last goes: online during the grace, then offline, last_seen = when it went. */
    presence_device_down(p, L("alice"), 500);
    assert_int_equal(tick(p, 600, true).users, 0);
    assert_int_equal(tick(p, 500 + GRACE - 1, true).users, 0);
    s = tick(p, 500 + GRACE, true);
    assert_int_equal(s.users, 1);
    assert_false(is_true(s.user_json, "online"));
    assert_int_equal((int)num(s.user_json, "devices"), 0);
    assert_int_equal((int)num(s.user_json, "last_seen"), 500);
    /* Nothing more to say. */
    assert_int_equal(tick(p, 5000, true).users, 0);
    struct jbuf jb;
    jbuf_init(&jb);
    presence_user_json(p, L("alice"), &jb);
    assert_string_equal(jb.p, "{\"user\":\"alice\",\"online\":false,\"devices\":0,\"last_seen\":500}");
    jbuf_reset(&jb);
    presence_user_json(p, L("nobody"), &jb);
    assert_string_equal(jb.p,
                        "{\"user\":\"nobody\",\"online\":false,\"devices\":0,\"last_seen\":null}");
    jbuf_free(&jb);
    presence_free(p);
}

static void test_takeover_and_reconnect_do_not_flap(void **state)
{
    struct presence *p = make(20);
    presence_device_up(p, L("bob"), 0);
    assert_int_equal(tick(p, 100, true).users, 1);
    /* A take-over: down then up, inside one tick. */
    presence_device_down(p, L("bob"), 150);
    presence_device_up(p, L("bob"), 150);
    assert_int_equal(tick(p, 200, true).users, 0);
    /* A reconnect across ticks, inside the grace. */
    presence_device_down(p, L("bob"), 300);
    assert_int_equal(tick(p, 400, true).users, 0);
    assert_int_equal(tick(p, 800, true).users, 0);
    presence_device_up(p, L("bob"), 900);
    assert_int_equal(tick(p, 1000, true).users, 0);
    assert_int_equal(tick(p, 5000, true).users, 0); /* the grace has nothing left to end */
    /* A down without an up is ignored (never below zero). */
    presence_device_down(p, L("carol"), 10);
    assert_int_equal(tick(p, 5000 + GRACE, true).users, 0);
    presence_free(p);
}

static void test_room_joins_and_leaves(void **state)
{
    struct presence *p = make(20);
    presence_room_enter(p, L("lobby"), L("alice"), 0);
    presence_room_enter(p, L("lobby"), L("bob"), 0);
    presence_room_enter(p, L("lobby"), L("bob"), 0); /* bob's second device */
    struct seen s = tick(p, 100, true);
    assert_int_equal(s.rooms, 1);
    assert_int_equal((int)num(s.room_json, "online"), 2);
    char buf[256];
    names(s.room_json, "joined", buf, sizeof(buf));
    assert_true(strcmp(buf, "alice,bob") == 0 || strcmp(buf, "bob,alice") == 0);
    names(s.room_json, "left", buf, sizeof(buf));
    assert_string_equal(buf, "");
    /* Coalesced: nothing changed, nothing said. */
    assert_int_equal(tick(p, 200, true).rooms, 0);
    /* bob's second device goes: still viewing. */
    presence_room_leave(p, L("lobby"), L("bob"), 300);
    assert_int_equal(tick(p, 400, true).rooms, 0);
    /* bob's last device goes: a leave after the grace. */
    presence_room_leave(p, L("lobby"), L("bob"), 500);
    assert_int_equal(tick(p, 600, true).rooms, 0);
    s = tick(p, 500 + GRACE, true);
    assert_int_equal(s.rooms, 1);
    assert_int_equal((int)num(s.room_json, "online"), 1);
    names(s.room_json, "left", buf, sizeof(buf));
    assert_string_equal(buf, "bob");
    /* A join and leave inside one interval cancel (the count moves back). */
    presence_room_enter(p, L("lobby"), L("carol"), 2000);
    presence_room_leave(p, L("lobby"), L("carol"), 2000);
    s = tick(p, 2000 + GRACE, true);
    assert_int_equal(s.rooms, 0);
    struct presence_room_stats st;
    presence_room_stats(p, L("lobby"), &st);
    assert_int_equal(st.online, 1);
    presence_free(p);
}

static void test_names_capped_and_events_off(void **state)
{
    struct presence *p = make(3);
    char user[16];
    for (int i = 0; i < 10; i++) {
        int n = snprintf(user, sizeof(user), "u%d", i);
        presence_room_enter(p, L("big"), user, (size_t)n, 0);
    }
    struct seen s = tick(p, 100, true);
    assert_int_equal(s.rooms, 1);
    assert_int_equal((int)num(s.room_json, "online"), 10);
    char buf[256];
    names(s.room_json, "joined", buf, sizeof(buf));
    assert_string_equal(buf, ""); /* 10 > 3: the count only */
    /* Within the cap, but the room does not want names. */
    presence_room_enter(p, L("big"), L("late"), 200);
    s = tick(p, 300, false);
    assert_int_equal((int)num(s.room_json, "online"), 11);
    names(s.room_json, "joined", buf, sizeof(buf));
    assert_string_equal(buf, "");
    /* Many users through one room, one update per tick whatever happens. */
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 1000; i++) {
            int n = snprintf(user, sizeof(user), "v%d.%d", round, i);
            presence_room_enter(p, L("big"), user, (size_t)n, 1000 + round);
        }
        assert_int_equal(tick(p, 1000 + round * 100, true).rooms, 1);
    }
    presence_free(p);
}

static void test_support_totals(void **state)
{
    struct presence *p = make(20);
    presence_room_totals_restore(p, L("stage"), 10, 2);
    assert_int_equal(tick(p, 0, true).totals, 0); /* restored: nothing to store */
    presence_room_support(p, L("stage"), 100, 0);
    presence_room_support(p, L("stage"), 0, 1);
    struct seen s = tick(p, 100, true);
    assert_int_equal(s.totals, 1);
    assert_string_equal(s.totals_room, "stage");
    assert_int_equal(s.cheers, 110);
    assert_int_equal(s.hearts, 3);
    assert_int_equal(s.rooms, 1);
    assert_int_equal((int)num(s.room_json, "cheers"), 110);
    assert_int_equal((int)num(s.room_json, "hearts"), 3);
    struct presence_room_stats st;
    presence_room_stats(p, L("stage"), &st);
    assert_int_equal(st.cheers, 110);
    assert_int_equal(st.hearts, 3);
    s = tick(p, 200, true);
    assert_int_equal(s.totals + s.rooms, 0);
    presence_free(p);
}

static void test_restore_last_seen(void **state)
{
    struct presence *p = make(20);
    presence_restore(p, L("dave"), 12345);
    struct jbuf jb;
    jbuf_init(&jb);
    presence_user_json(p, L("dave"), &jb);
    assert_string_equal(jb.p, "{\"user\":\"dave\",\"online\":false,\"devices\":0,\"last_seen\":12345}");
    jbuf_free(&jb);
    presence_free(p);
}

/* In a cluster: devices on other nodes make a user online here, and the
 * devices shown are the sum of both. */
static void test_cluster_remote_devices(void **state)
{
    struct presence *p = make(20);
    presence_remote_set(p, L("alice"), 2);
    struct seen s = tick(p, 1000, true);
    assert_int_equal(s.users, 1);
    assert_true(is_true(s.user_json, "online"));
    assert_int_equal((int)num(s.user_json, "devices"), 2);
    assert_int_equal(s.reports, 0); /* nothing of this node's own changed */
    presence_device_up(p, L("alice"), 1100);
    s = tick(p, 1200, true);
    assert_int_equal((int)num(s.user_json, "devices"), 3);
    assert_int_equal(s.reports, 1);
    assert_int_equal(s.reported, 1);
    presence_remote_set(p, L("alice"), 0);
    s = tick(p, 1300, true);
    assert_int_equal((int)num(s.user_json, "devices"), 1);
    assert_true(is_true(s.user_json, "online"));
    presence_device_down(p, L("alice"), 1400);
    s = tick(p, 1500, true); /* in the grace: nothing, and no report yet */
    assert_int_equal(s.users + s.reports, 0);
    s = tick(p, 1400 + GRACE + 1, true);
    assert_int_equal(s.reports, 1);
    assert_int_equal(s.reported, 0);
    assert_int_equal(s.users, 1);
    assert_false(is_true(s.user_json, "online"));
    assert_int_equal(presence_users_online(p), 0);
    presence_free(p);
}

static void count_done(void *ctx)
{
}

static void count_room(void *ctx, const char *room, size_t len, int64_t viewers)
{
}

static void count_local(void *ctx, const char *user, size_t len, int devices)
{
    *(int *)ctx += devices;
}

/* A reconnect inside the grace is not reported to the other nodes; the
 * local table (what a snapshot announces) keeps the user meanwhile. */
static void test_cluster_local_report_after_grace(void **state)
{
    struct presence *p = make(20);
    presence_device_up(p, L("bob"), 0);
    struct seen s = tick(p, 10, true);
    assert_int_equal(s.reports, 1);
    presence_device_down(p, L("bob"), 20);
    s = tick(p, 30, true);
    int total = 0;
    presence_local_each(p, &(struct presence_local){&total, count_local, count_room, count_done});
    assert_int_equal(total, 1);
    presence_device_up(p, L("bob"), 40);
    s = tick(p, 20 + GRACE + 10, true);
    assert_int_equal(s.reports + s.users, 0);
    presence_device_down(p, L("bob"), 2000);
    s = tick(p, 2000 + GRACE + 1, true);
    assert_int_equal(s.reports, 1);
    assert_int_equal(s.reported, 0);
    total = 0;
    presence_local_each(p, &(struct presence_local){&total, count_local, count_room, count_done});
    assert_int_equal(total, 0);
    presence_free(p);
}

/* In a cluster: a room's online count adds the other nodes' viewers, and
 * this node's viewer count is reported when it changes. */
static void test_cluster_room_viewers(void **state)
{
    struct presence *p = make(20);
    presence_room_remote_set(p, L("hall"), 5);
    struct seen s = tick(p, 100, true);
    assert_int_equal(s.rooms, 1);
    assert_int_equal((int)num(s.room_json, "online"), 5);
    assert_int_equal(s.room_reports, 0);
    presence_room_enter(p, L("hall"), L("ann"), 150);
    s = tick(p, 200, true);
    assert_int_equal((int)num(s.room_json, "online"), 6);
    assert_int_equal(s.room_reports, 1);
    assert_int_equal(s.room_reported, 1);
    presence_room_remote_set(p, L("hall"), 0);
    s = tick(p, 300, true);
    assert_int_equal((int)num(s.room_json, "online"), 1);
    assert_int_equal(s.room_reports, 0);
    presence_room_leave(p, L("hall"), L("ann"), 400);
    s = tick(p, 400 + GRACE + 1, true);
    assert_int_equal((int)num(s.room_json, "online"), 0);
    assert_int_equal(s.room_reports, 1);
    assert_int_equal(s.room_reported, 0);
    presence_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_devices_and_grace),
        cmocka_unit_test(test_takeover_and_reconnect_do_not_flap),
        cmocka_unit_test(test_room_joins_and_leaves),
        cmocka_unit_test(test_names_capped_and_events_off),
        cmocka_unit_test(test_support_totals),
        cmocka_unit_test(test_restore_last_seen),
        cmocka_unit_test(test_cluster_remote_devices),
        cmocka_unit_test(test_cluster_local_report_after_grace),
        cmocka_unit_test(test_cluster_room_viewers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
