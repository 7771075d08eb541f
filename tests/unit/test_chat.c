/*
 * test_chat.c - unit tests for the chat policy's pure parts (chat.c): topic
 * classification, the SUBSCRIBE rules, the delivery check and login. The
 * publish path needs a worker and a connection: tests/chat covers it end
 * to end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "chat.h"
#include "errors.h"
#include "jwt.h"
#include "mqtt5.h"
#include "password.h"
#include "session.h"
#include "unread.h"

static struct chat ch;

static int setup(void **state)
{
    memset(&ch, 0, sizeof(ch));
    ch.prefix = "chat";
    ch.prefix_len = 4;
    ch.token_secret = (const uint8_t *)"s3cret";
    ch.token_secret_len = 6;
    ch.dir = chat_dir_new();
    ch.unread = unread_new(ch.dir, 999);
    ch.dir_loaded = true;
    assert_non_null(ch.dir);
    struct chat_room_info pub = {.is_private = false}, priv = {.is_private = true},
                          small = {.member_cap = 1};
    strcpy(pub.owner, "alice");
    strcpy(priv.owner, "alice");
    strcpy(small.owner, "alice");
    assert_int_equal(chat_dir_room_put(ch.dir, "lobby", 5, &pub), MQ_OK);
    assert_int_equal(chat_dir_room_put(ch.dir, "vip", 3, &priv), MQ_OK);
    assert_int_equal(chat_dir_room_put(ch.dir, "tiny", 4, &small), MQ_OK);
    assert_int_equal(chat_dir_member_put(ch.dir, "vip", 3, "alice", 5, CHAT_OWNER), MQ_OK);
    assert_int_equal(chat_dir_member_put(ch.dir, "tiny", 4, "alice", 5, CHAT_OWNER), MQ_OK);
    return 0;
}

static int teardown(void **state)
{
    unread_free(ch.unread);
    chat_dir_free(ch.dir);
    return 0;
}

static void test_topic_parse(void **state)
{
    static const struct {
        const char *topic;
        enum chat_kind kind;
        const char *name;
    } cases[] = {
        {"chat/room/lobby", CHAT_ROOM, "lobby"},
        {"chat/room/lobby/presence", CHAT_ROOM_PRESENCE, "lobby"},
        {"chat/room/lobby/read", CHAT_ROOM_READ, "lobby"},
        {"chat/room/lobby/history", CHAT_ROOM_HISTORY, "lobby"},
        {"chat/room/lobby/system", CHAT_ROOM_SYSTEM, "lobby"},
        {"chat/dm/bob", CHAT_DM, "bob"},
        {"chat/user/bob/events", CHAT_USER_EVENTS, "bob"},
        {"chat/presence/bob", CHAT_PRESENCE, "bob"},
        {"chat/system", CHAT_SYSTEM, NULL},
        {"chat", CHAT_INVALID, NULL},
        {"chat/", CHAT_INVALID, NULL},
        {"chat/room", CHAT_INVALID, NULL},
        {"chat/room/", CHAT_INVALID, NULL},
        {"chat/room/lobby/other", CHAT_INVALID, NULL},
        {"chat/room/lobby/system/x", CHAT_INVALID, NULL},
        {"chat/room/o'brien", CHAT_INVALID, NULL},
        {"chat/dm/bob/x", CHAT_INVALID, NULL},
        {"chat/user/bob", CHAT_INVALID, NULL},
        {"chat/unknown/x", CHAT_INVALID, NULL},
        {"chatter/room/lobby", CHAT_NOT_CHAT, NULL},
        {"sensors/1", CHAT_NOT_CHAT, NULL},
        {"cha", CHAT_NOT_CHAT, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct chat_topic t;
        enum chat_kind k = chat_topic_parse(&ch, cases[i].topic, strlen(cases[i].topic), &t);
        if (k != cases[i].kind)
            fail_msg("%s: kind %d, want %d", cases[i].topic, k, cases[i].kind);
        assert_int_equal(t.kind, k);
        if (cases[i].name) {
            assert_int_equal(t.name_len, strlen(cases[i].name));
            assert_memory_equal(t.name, cases[i].name, t.name_len);
        }
    }
}

static int check_sub(const char *user, enum chat_role role, const char *filter)
{
    struct session s;
    memset(&s, 0, sizeof(s));
    s.username = (char *)user;
    s.role = (uint8_t)role;
    bool joined;
    return chat_subscribe_check(&ch, &s, filter, strlen(filter), &joined);
}

static void test_subscribe_rules(void **state)
{
    static const struct {
        const char *user;
        enum chat_role role;
        const char *filter;
        int want;
    } cases[] = {
        {"bob", CHAT_ROLE_USER, "sensors/#", -1},
        {"bob", CHAT_ROLE_USER, "#", -1},
        {"bob", CHAT_ROLE_USER, "+/room/lobby", -1},
        {"bob", CHAT_ROLE_USER, "chat/room/lobby", 0},
        {"bob", CHAT_ROLE_USER, "chat/room/lobby/presence", 0},
        {"bob", CHAT_ROLE_USER, "chat/room/lobby/system", 0},
        {"bob", CHAT_ROLE_USER, "chat/room/lobby/#", 0},
        {"bob", CHAT_ROLE_USER, "chat/room/lobby/read", MQTT5_RC_NOT_AUTHORIZED},
        {"bob", CHAT_ROLE_USER, "chat/room/vip", MQTT5_RC_NOT_AUTHORIZED},
        {"alice", CHAT_ROLE_USER, "chat/room/vip", 0},
        {"bob", CHAT_ROLE_USER, "chat/room/nowhere", MQTT5_RC_NOT_AUTHORIZED},
        {"bob", CHAT_ROLE_USER, "chat/room/+", MQTT5_RC_NOT_AUTHORIZED},
        {"bob", CHAT_ROLE_USER, "chat/#", MQTT5_RC_NOT_AUTHORIZED},
        {"bob", CHAT_ROLE_USER, "chat", MQTT5_RC_NOT_AUTHORIZED},
        {"bob", CHAT_ROLE_USER, "chat/+/lobby", MQTT5_RC_NOT_AUTHORIZED},
        {"bob", CHAT_ROLE_USER, "chat/dm/bob", 0},
        {"bob", CHAT_ROLE_USER, "chat/dm/bob/#", 0},
        {"bob", CHAT_ROLE_USER, "chat/dm/alice", MQTT5_RC_NOT_AUTHORIZED},
        {"bob", CHAT_ROLE_USER, "chat/dm/+", MQTT5_RC_NOT_AUTHORIZED},
        {"bob", CHAT_ROLE_USER, "chat/dm/#", MQTT5_RC_NOT_AUTHORIZED},
        {"bob", CHAT_ROLE_USER, "chat/user/bob/events", 0},
        {"bob", CHAT_ROLE_USER, "chat/user/bob/events/#", 0},
        {"bob", CHAT_ROLE_USER, "chat/user/bob/#", 0},
        {"bob", CHAT_ROLE_USER, "chat/user/bob/events/x", MQTT5_RC_NOT_AUTHORIZED},
        {"bob", CHAT_ROLE_USER, "chat/user/alice/events", MQTT5_RC_NOT_AUTHORIZED},
        {"bob", CHAT_ROLE_USER, "chat/user/+/events", MQTT5_RC_NOT_AUTHORIZED},
        {"bob", CHAT_ROLE_USER, "chat/presence/alice", 0},
        {"bob", CHAT_ROLE_USER, "chat/presence/+", MQTT5_RC_NOT_AUTHORIZED},
        {"bob", CHAT_ROLE_USER, "chat/system", 0},
        {"bob", CHAT_ROLE_SERVICE, "chat/#", 0},
        {"bob", CHAT_ROLE_SERVICE, "chat/dm/+", 0},
        {"bob", CHAT_ROLE_DISPLAY, "chat/room/lobby", 0},
        {"bob", CHAT_ROLE_DISPLAY, "chat/room/vip", MQTT5_RC_NOT_AUTHORIZED},
        {NULL, CHAT_ROLE_NONE, "chat/room/lobby", MQTT5_RC_NOT_AUTHORIZED},
        {"eve", CHAT_ROLE_NONE, "chat/system", MQTT5_RC_NOT_AUTHORIZED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = check_sub(cases[i].user, cases[i].role, cases[i].filter);
        if (got != cases[i].want)
            fail_msg("%s as %s: %d, want %d", cases[i].filter,
                     cases[i].user ? cases[i].user : "(anonymous)", got, cases[i].want);
    }
}

static void test_subscribe_joins_public_room(void **state)
{
    assert_int_equal(chat_dir_member_role(ch.dir, "lobby", 5, "carol", 5), -1);
    assert_int_equal(check_sub("carol", CHAT_ROLE_USER, "chat/room/lobby"), 0);
    assert_int_equal(chat_dir_member_role(ch.dir, "lobby", 5, "carol", 5), CHAT_MEMBER);
    /* A display views without joining. */
    assert_int_equal(check_sub("screen", CHAT_ROLE_DISPLAY, "chat/room/lobby"), 0);
    assert_int_equal(chat_dir_member_role(ch.dir, "lobby", 5, "screen", 6), -1);
    /* A full room refuses a new member. */
    assert_int_equal(check_sub("dave", CHAT_ROLE_USER, "chat/room/tiny"), MQTT5_RC_QUOTA_EXCEEDED);
    assert_int_equal(check_sub("alice", CHAT_ROLE_USER, "chat/room/tiny"), 0);
    /* A join whose subscription could not be made is taken back; a member
     * of old or an owner is left as they were. */
    struct session s;
    memset(&s, 0, sizeof(s));
    s.username = "frank";
    s.role = CHAT_ROLE_USER;
    bool joined = false;
    assert_int_equal(chat_subscribe_check(&ch, &s, "chat/room/lobby", 15, &joined), 0);
    assert_true(joined);
    chat_subscribe_undo_join(&ch, &s, "chat/room/lobby", 15);
    assert_int_equal(chat_dir_member_role(ch.dir, "lobby", 5, "frank", 5), -1);
    assert_int_equal(chat_subscribe_check(&ch, &s, "chat/room/lobby/#", 17, &joined), 0);
    assert_false(joined); /* a viewer's filter joins nobody */
    s.username = "alice";
    assert_int_equal(chat_subscribe_check(&ch, &s, "chat/room/tiny", 14, &joined), 0);
    assert_false(joined); /* the owner already */
    chat_subscribe_undo_join(&ch, &s, "chat/room/tiny", 14);
    assert_int_equal(chat_dir_member_role(ch.dir, "tiny", 4, "alice", 5), CHAT_OWNER);
}

static void test_auto_create_rooms(void **state)
{
    assert_int_equal(check_sub("erin", CHAT_ROLE_USER, "chat/room/fresh"), MQTT5_RC_NOT_AUTHORIZED);
    ch.auto_create_rooms = true;
    assert_int_equal(check_sub("erin", CHAT_ROLE_USER, "chat/room/fresh"), 0);
    ch.auto_create_rooms = false;
    struct chat_room_info info;
    assert_true(chat_dir_room_get(ch.dir, "fresh", 5, &info));
    assert_false(info.is_private);
    assert_string_equal(info.owner, "erin");
    assert_int_equal(chat_dir_member_role(ch.dir, "fresh", 5, "erin", 4), CHAT_OWNER);
}

static bool reads(const char *user, enum chat_role role, const char *topic)
{
    struct session s;
    memset(&s, 0, sizeof(s));
    s.username = (char *)user;
    s.role = (uint8_t)role;
    struct chat_reader r;
    struct message *m = message_new(topic, strlen(topic), (const uint8_t *)"x", 1, 0, false, NULL);
    assert_non_null(m);
    m->chat = true;
    assert_true(chat_reader_prepare(&ch, m, &r));
    bool allowed = chat_reader_allows(&ch, &r, &s);
    message_unref(m);
    return allowed;
}

static void test_delivery_check(void **state)
{
    struct chat_reader r;
    struct message *m = message_new("sensors/1", 9, NULL, 0, 0, false, NULL);
    assert_non_null(m);
    assert_false(chat_reader_prepare(&ch, m, &r));
    message_unref(m);
    assert_true(reads("bob", CHAT_ROLE_USER, "chat/room/lobby"));
    assert_false(reads("bob", CHAT_ROLE_USER, "chat/room/vip"));
    assert_true(reads("alice", CHAT_ROLE_USER, "chat/room/vip"));
    assert_true(reads("alice", CHAT_ROLE_USER, "chat/room/vip/system"));
    assert_false(reads("alice", CHAT_ROLE_USER, "chat/room/gone"));
    assert_true(reads("bob", CHAT_ROLE_USER, "chat/dm/bob"));
    assert_false(reads("bob", CHAT_ROLE_USER, "chat/dm/bobby"));
    assert_false(reads("bob", CHAT_ROLE_USER, "chat/dm/alice"));
    assert_false(reads("bob", CHAT_ROLE_USER, "chat/user/alice/events"));
    assert_true(reads("bob", CHAT_ROLE_USER, "chat/system"));
    assert_true(reads("bob", CHAT_ROLE_SERVICE, "chat/dm/alice"));
    assert_false(reads(NULL, CHAT_ROLE_NONE, "chat/room/lobby"));
    assert_false(reads("eve", CHAT_ROLE_NONE, "chat/system"));
    /* Leaving a private room stops deliveries at once. */
    assert_int_equal(chat_dir_member_put(ch.dir, "vip", 3, "bob", 3, CHAT_MEMBER), MQ_OK);
    assert_true(reads("bob", CHAT_ROLE_USER, "chat/room/vip"));
    assert_int_equal(chat_dir_member_delete(ch.dir, "vip", 3, "bob", 3), MQ_OK);
    assert_false(reads("bob", CHAT_ROLE_USER, "chat/room/vip"));
}

/* chat_authenticate, then the password check it asks for (as
 * handle_connect does off the loop). */
static int login(const char *user, const char *password, enum chat_role *role)
{
    char hash[PASSWORD_HASH_MAX];
    size_t len = password ? strlen(password) : 0;
    int rc = chat_authenticate(&ch, user, strlen(user), (const uint8_t *)password, len, 1800000000,
                               role, hash, sizeof(hash));
    if (rc == MQ_EAGAIN)
        rc = password_verify(hash, (const uint8_t *)password, len);
    return rc;
}

static void test_authenticate(void **state)
{
    char hash[PASSWORD_HASH_MAX];
    assert_int_equal(password_hash("pw-alice", 8, hash, sizeof(hash)), MQ_OK);
    assert_int_equal(chat_dir_user_put(ch.dir, "alice", 5, CHAT_ROLE_SERVICE, hash), MQ_OK);
    enum chat_role role = CHAT_ROLE_NONE;
    assert_int_equal(login("alice", "pw-alice", &role), MQ_OK);
    assert_int_equal(role, CHAT_ROLE_SERVICE);
    assert_int_equal(login("alice", "wrong", &role), MQ_EDENIED);
    assert_int_equal(login("alice", NULL, &role), MQ_EDENIED);
    assert_int_equal(login("nobody", "pw", &role), MQ_ENOTFOUND);
    assert_int_equal(login("a/b", "pw", &role), MQ_ENOTFOUND);

    char token[512];
    struct jwt_claims c = {.sub = "zed", .exp = 1800000600};
    assert_true(jwt_sign(ch.token_secret, ch.token_secret_len, &c, token, sizeof(token)) > 0);
    assert_int_equal(login("zed", token, &role), MQ_OK); /* unknown to the directory */
    assert_int_equal(role, CHAT_ROLE_USER);
    assert_int_equal(login("alice", token, &role), MQ_EDENIED); /* someone else's */
    strcpy(c.role, "display");
    assert_true(jwt_sign(ch.token_secret, ch.token_secret_len, &c, token, sizeof(token)) > 0);
    assert_int_equal(login("zed", token, &role), MQ_OK);
    assert_int_equal(role, CHAT_ROLE_DISPLAY);
    c.exp = 1700000000; /* expired */
    assert_true(jwt_sign(ch.token_secret, ch.token_secret_len, &c, token, sizeof(token)) > 0);
    assert_int_equal(login("zed", token, &role), MQ_EDENIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_topic_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_joins_public_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_create_rooms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authenticate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
