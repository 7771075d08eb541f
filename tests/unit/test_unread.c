/*
 * test_unread.c - unread counts from read markers (broker/unread.c) over a
 * real directory (chat_dir.h): markers that only move forward, the
 * sender's own marker, new members starting with nothing unread, the cap,
 * ids arriving out of order, members who left, and the summaries a tick
 * hands out only when they changed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat_dir.h"
#include "errors.h"
#include "json.h"
#include "unread.h"

#define L(lit) (lit), (sizeof(lit) - 1)

struct fixture {
    struct chat_dir *dir;
    struct unread *u;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->dir = chat_dir_new();
    assert_non_null(f->dir);
    f->u = unread_new(f->dir, 5);
    assert_non_null(f->u);
    struct chat_room_info info = {.created_ms = 1};
    assert_int_equal(chat_dir_room_put(f->dir, L("lobby"), &info), MQ_OK);
    assert_int_equal(chat_dir_room_put(f->dir, L("dev"), &info), MQ_OK);
    assert_int_equal(chat_dir_member_put(f->dir, L("lobby"), L("alice"), CHAT_MEMBER), MQ_OK);
    assert_int_equal(chat_dir_member_put(f->dir, L("lobby"), L("bob"), CHAT_MEMBER), MQ_OK);
    assert_int_equal(chat_dir_member_put(f->dir, L("dev"), L("alice"), CHAT_MEMBER), MQ_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unread_free(f->u);
    chat_dir_free(f->dir);
    free(f);
    return 0;
}

static int64_t count(struct fixture *f, const char *user, const char *room)
{
    struct unread_room r;
    unread_room_get(f->u, user, strlen(user), room, strlen(room), &r);
    return r.count;
}

/* The summaries of one tick, concatenated "user=json;", and the markers
 * it hands out to store, "user/room=upto;". */
struct pushes {
    char text[4096];
    int n;
    char stored[1024];
};

static void on_push(void *ctx, const char *user, size_t len, const char *json, size_t json_len)
{
    struct pushes *p = ctx;
    size_t at = strlen(p->text);
    snprintf(p->text + at, sizeof(p->text) - at, "%.*s=%.*s;", (int)len, user, (int)json_len,
             json);
    p->n++;
}

static void on_marker(void *ctx, const char *user, size_t len, const char *room,
                      size_t room_len, int64_t upto)
{
    struct pushes *p = ctx;
    size_t at = strlen(p->stored);
    snprintf(p->stored + at, sizeof(p->stored) - at, "%.*s/%.*s=%lld;", (int)len, user,
             (int)room_len, room, (long long)upto);
}

static struct pushes tick(struct fixture *f)
{
    struct pushes p = {{0}, 0, {0}};
    struct unread_emit e = {&p, on_push, on_marker};
    unread_tick(f->u, &e);
    return p;
}

static void test_markers(void **state)
{
    struct fixture *f = *state;
    unread_join(f->u, L("alice"), L("lobby"));
    unread_join(f->u, L("bob"), L("lobby"));
    for (int64_t id = 101; id <= 103; id++)
        unread_message(f->u, L("lobby"), id, L("bob"));
    assert_int_equal(count(f, "alice", "lobby"), 3);
    assert_int_equal(count(f, "bob", "lobby"), 0); /* his own */
    assert_true(unread_mark(f->u, L("alice"), L("lobby"), 102));
    assert_int_equal(count(f, "alice", "lobby"), 1);
    assert_false(unread_mark(f->u, L("alice"), L("lobby"), 101)); /* never back */
    assert_false(unread_mark(f->u, L("alice"), L("lobby"), 102));
    assert_int_equal(count(f, "alice", "lobby"), 1);
    /* Posting moves the poster's marker. */
    unread_message(f->u, L("lobby"), 104, L("alice"));
    assert_int_equal(count(f, "alice", "lobby"), 0);
    assert_int_equal(count(f, "bob", "lobby"), 1);
    struct jbuf jb;
    jbuf_init(&jb);
    unread_json(f->u, L("bob"), &jb);
    assert_string_equal(jb.p, "{\"rooms\":{\"lobby\":1},\"total\":1}");
    jbuf_reset(&jb);
    unread_json(f->u, L("nobody"), &jb);
    assert_string_equal(jb.p, "{\"rooms\":{},\"total\":0}");
    jbuf_free(&jb);
}

static void test_cap_and_order(void **state)
{
    struct fixture *f = *state;
    unread_join(f->u, L("alice"), L("dev"));
    /* Out of order and repeated ids: each counted once. */
    int64_t ids[] = {10, 12, 11, 12, 13};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        unread_message(f->u, L("dev"), ids[i], L("carol"));
    assert_int_equal(count(f, "alice", "dev"), 4);
    assert_true(unread_mark(f->u, L("alice"), L("dev"), 11));
    assert_int_equal(count(f, "alice", "dev"), 2);
    /* Past the cap (5): "5 or more". */
    for (int64_t id = 20; id < 40; id++)
        unread_message(f->u, L("dev"), id, L("carol"));
    assert_int_equal(count(f, "alice", "dev"), 5);
    assert_true(unread_mark(f->u, L("alice"), L("dev"), 37));
    assert_int_equal(count(f, "alice", "dev"), 2);
}

static void test_new_member_starts_read(void **state)
{
    struct fixture *f = *state;
    for (int64_t id = 1; id <= 3; id++)
        unread_message(f->u, L("lobby"), id, L("bob"));
    assert_int_equal(chat_dir_member_put(f->dir, L("lobby"), L("carol"), CHAT_MEMBER), MQ_OK);
    unread_join(f->u, L("carol"), L("lobby"));
    assert_int_equal(count(f, "carol", "lobby"), 0);
    unread_message(f->u, L("lobby"), 4, L("bob"));
    assert_int_equal(count(f, "carol", "lobby"), 1);
    /* A member that never joined through unread_join (one loaded from the
     * database without a marker) gets its marker at the tick after the
     * room's next message: at the room's latest id as of the tick before. */
    tick(f);
    assert_int_equal(chat_dir_member_put(f->dir, L("lobby"), L("dave"), CHAT_MEMBER), MQ_OK);
    unread_message(f->u, L("lobby"), 5, L("bob"));
    tick(f);
    assert_int_equal(count(f, "dave", "lobby"), 1);
}

static void test_left_members_not_counted(void **state)
{
    struct fixture *f = *state;
    unread_join(f->u, L("alice"), L("lobby"));
    unread_message(f->u, L("lobby"), 7, L("bob"));
    assert_int_equal(count(f, "alice", "lobby"), 1);
    assert_int_equal(chat_dir_member_delete(f->dir, L("lobby"), L("alice")), MQ_OK);
    assert_int_equal(count(f, "alice", "lobby"), 0);
    /* A marker for a room one is not in changes nothing. */
    assert_true(unread_mark(f->u, L("zed"), L("lobby"), 5));
    assert_int_equal(count(f, "zed", "lobby"), 0);
}

static void test_tick_pushes_changes_only(void **state)
{
    struct fixture *f = *state;
    unread_join(f->u, L("alice"), L("lobby"));
    unread_join(f->u, L("bob"), L("lobby"));
    unread_join(f->u, L("alice"), L("dev"));
    struct pushes p = tick(f);
    assert_int_equal(p.n, 2); /* first summaries of both */
    assert_non_null(strstr(p.text, "alice={\"type\":\"unread\",\"rooms\":{},\"total\":0};"));
    assert_int_equal(tick(f).n, 0);
    unread_message(f->u, L("lobby"), 50, L("bob"));
    unread_message(f->u, L("dev"), 51, L("carol"));
    unread_message(f->u, L("lobby"), 52, L("bob"));
    p = tick(f);
    /* alice's counts changed; bob's (his own messages) did not. */
    assert_int_equal(p.n, 1);
    assert_true(strstr(p.text, "alice={\"type\":\"unread\",\"rooms\":{\"lobby\":2,\"dev\":1},"
                               "\"total\":3};") ||
                strstr(p.text, "alice={\"type\":\"unread\",\"rooms\":{\"dev\":1,\"lobby\":2},"
                               "\"total\":3};"));
    assert_int_equal(tick(f).n, 0);
    assert_true(unread_mark(f->u, L("alice"), L("lobby"), 52));
    p = tick(f);
    assert_int_equal(p.n, 1);
    assert_non_null(strstr(p.text, "\"rooms\":{\"dev\":1},\"total\":1}"));
}

static void test_markers_handed_out_to_store(void **state)
{
    struct fixture *f = *state;
    unread_join(f->u, L("alice"), L("lobby"));
    unread_message(f->u, L("lobby"), 10, L("bob"));
    unread_message(f->u, L("lobby"), 11, L("bob"));
    struct pushes p = tick(f);
    /* bob's marker moved by posting; alice's was made by joining (at 0:
     * nothing to store). */
    assert_string_equal(p.stored, "bob/lobby=11;");
    assert_true(unread_mark(f->u, L("alice"), L("lobby"), 10));
    p = tick(f);
    assert_string_equal(p.stored, "alice/lobby=10;");
    assert_string_equal(tick(f).stored, ""); /* handed out once */
    /* Past the newest message: taken as the newest. */
    assert_true(unread_mark(f->u, L("alice"), L("lobby"), 999999));
    struct unread_room r;
    unread_room_get(f->u, L("alice"), L("lobby"), &r);
    assert_int_equal(r.upto, 11);
    assert_string_equal(tick(f).stored, "alice/lobby=11;");
    /* A room without messages: nothing moves. */
    assert_false(unread_mark(f->u, L("alice"), L("dev"), 5));
    /* Restored markers are the database's already. */
    unread_restore_marker(f->u, L("carol"), L("lobby"), 10);
    assert_string_equal(tick(f).stored, "");
}

static void test_restore(void **state)
{
    struct fixture *f = *state;
    unread_restore_id(f->u, L("lobby"), 30);
    unread_restore_id(f->u, L("lobby"), 10);
    unread_restore_id(f->u, L("lobby"), 20);
    unread_restore_marker(f->u, L("alice"), L("lobby"), 10);
    assert_int_equal(count(f, "alice", "lobby"), 2);
    unread_restore_marker(f->u, L("alice"), L("bad room!"), 10); /* ignored */
    struct pushes p = tick(f);
    assert_int_equal(p.n, 1);
    assert_non_null(strstr(p.text, "\"rooms\":{\"lobby\":2},\"total\":2}"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_markers),
        T(test_cap_and_order),
        T(test_new_member_starts_read),
        T(test_left_members_not_counted),
        T(test_tick_pushes_changes_only),
        T(test_markers_handed_out_to_store),
        T(test_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
