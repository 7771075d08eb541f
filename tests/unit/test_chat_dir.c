/*
 * test_chat_dir.c - the in-memory chat directory (broker/chat_dir.c):
 * names and roles, users, rooms with their members and member caps, both
 * kinds of blocks, decorations, pages of rooms in name order (scopes, paging
 * through thousands), loading from a real SQLite database filled
 * through store.h, and readers racing a writer (run by hand under
 * -fsanitize=thread as well).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat_dir.h"
#include "db.h"
#include "errors.h"
#include "json.h"
#include "store.h"
#include "unit_helpers.h"

/* A literal with its length (NULs included). */
#define L(lit)  (lit), (sizeof(lit) - 1)
#define SS(lit) ((struct store_str){(lit), sizeof(lit) - 1})

static int dir_setup(void **state)
{
    struct chat_dir *d = chat_dir_new();
    *state = d;
    return d ? 0 : -1;
}

static int dir_teardown(void **state)
{
    chat_dir_free(*state);
    return 0;
}

static struct chat_room_info room_info(bool is_private, int64_t cap, const char *owner)
{
    struct chat_room_info info = {.is_private = is_private, .member_cap = cap, .created_ms = 42};
    snprintf(info.owner, sizeof(info.owner), "%s", owner);
    return info;
}

/* ---- names and roles ----------------------------------------------------------------------- */

static const char name64[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
static const char name65[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-x";

static const struct {
    const char *s;
    size_t len;
    bool valid;
} names[] = {
    {L("a"), true},
    {L("alice"), true},
    {L("Alice_01.x-y"), true},
    {L("..."), true},
    {L("-"), true},
    {name64, 64, true},
    {L(""), false},
    {name65, 65, false},
    {L("a b"), false},
    {L("a/b"), false},
    {L("a+b"), false},
    {L("a#"), false},
    {L("nul\0inside"), false},
    {L("caf\xc3\xa9"), false},
    {L("tab\t"), false},
    {L("quote'"), false},
    {L("semi;colon"), false},
    {L("at@host"), false},
    {NULL, 0, false},
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static void test_names(void **state)
{
    for (size_t i = 0; i < NNAMES; i++)
        if (chat_name_valid(names[i].s, names[i].len) != names[i].valid)
            fail_msg("name %zu: expected %s", i, names[i].valid ? "valid" : "invalid");
}

static void test_roles(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        int rc;
        enum chat_role role;
    } cases[] = {
        {L("user"), MQ_OK, CHAT_ROLE_USER},
        {L("service"), MQ_OK, CHAT_ROLE_SERVICE},
        {L("display"), MQ_OK, CHAT_ROLE_DISPLAY},
        {L("none"), MQ_EINVAL, CHAT_ROLE_NONE},
        {L(""), MQ_EINVAL, CHAT_ROLE_NONE},
        {L("User"), MQ_EINVAL, CHAT_ROLE_NONE},
        {L("users"), MQ_EINVAL, CHAT_ROLE_NONE},
        {L("use"), MQ_EINVAL, CHAT_ROLE_NONE},
        {L("user\0"), MQ_EINVAL, CHAT_ROLE_NONE},
        {"userX", 4, MQ_OK, CHAT_ROLE_USER}, /* the length decides, not a NUL */
        {NULL, 0, MQ_EINVAL, CHAT_ROLE_NONE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum chat_role r = (enum chat_role)99;
        int rc = chat_role_parse(cases[i].s, cases[i].len, &r);
        if (rc != cases[i].rc)
            fail_msg("role case %zu: rc %d", i, rc);
        if (rc == MQ_OK)
            assert_int_equal(r, cases[i].role);
        else
            assert_int_equal(r, 99); /* untouched */
    }
    assert_string_equal(chat_role_name(CHAT_ROLE_USER), "user");
    assert_string_equal(chat_role_name(CHAT_ROLE_SERVICE), "service");
    assert_string_equal(chat_role_name(CHAT_ROLE_DISPLAY), "display");
    assert_string_equal(chat_role_name(CHAT_ROLE_NONE), "none");
    assert_string_equal(chat_role_name((enum chat_role)77), "none");
    /* name and parse agree */
    for (enum chat_role r = CHAT_ROLE_USER; r <= CHAT_ROLE_DISPLAY; r++) {
        enum chat_role back;
        const char *n = chat_role_name(r);
        assert_int_equal(chat_role_parse(n, strlen(n), &back), MQ_OK);
        assert_int_equal(back, r);
    }
}

/* ---- users -------------------------------------------------------------------------------- */

static void test_users(void **state)
{
    struct chat_dir *d = *state;
    enum chat_role role = CHAT_ROLE_NONE;
    char hash[128];

    assert_false(chat_dir_user_get(d, L("alice"), &role, hash, sizeof(hash)));
    assert_int_equal(chat_dir_user_put(d, L("alice"), CHAT_ROLE_USER, "$argon2id$v=19$abc"), MQ_OK);
    assert_true(chat_dir_user_get(d, L("alice"), &role, hash, sizeof(hash)));
    assert_int_equal(role, CHAT_ROLE_USER);
    assert_string_equal(hash, "$argon2id$v=19$abc");
    assert_true(chat_dir_user_get(d, L("alice"), NULL, NULL, 0)); /* existence only */

    /* Replace: new role, no password (NULL and "" alike). */
    assert_int_equal(chat_dir_user_put(d, L("alice"), CHAT_ROLE_SERVICE, NULL), MQ_OK);
    assert_true(chat_dir_user_get(d, L("alice"), &role, hash, sizeof(hash)));
    assert_int_equal(role, CHAT_ROLE_SERVICE);
    assert_string_equal(hash, "");
    assert_int_equal(chat_dir_user_put(d, L("alice"), CHAT_ROLE_DISPLAY, ""), MQ_OK);
    assert_true(chat_dir_user_get(d, L("alice"), &role, hash, sizeof(hash)));
    assert_int_equal(role, CHAT_ROLE_DISPLAY);
    assert_string_equal(hash, "");

    /* Truncation to hashlen - 1. */
    assert_int_equal(chat_dir_user_put(d, L("bob"), CHAT_ROLE_USER, "0123456789"), MQ_OK);
    char small[5];
    memset(small, 'X', sizeof(small));
    assert_true(chat_dir_user_get(d, L("bob"), NULL, small, sizeof(small)));
    assert_string_equal(small, "0123");

    /* Ids are byte-exact and length-exact. */
    assert_false(chat_dir_user_get(d, L("Alice"), &role, NULL, 0));
    assert_false(chat_dir_user_get(d, "alice", 4, &role, NULL, 0));
    assert_false(chat_dir_user_get(d, "bobby", 5, &role, NULL, 0));
    assert_true(chat_dir_user_get(d, "bobby", 3, &role, NULL, 0));

    /* Only real roles. */
    assert_int_equal(chat_dir_user_put(d, L("carol"), CHAT_ROLE_NONE, NULL), MQ_EINVAL);
    assert_int_equal(chat_dir_user_put(d, L("carol"), (enum chat_role)9, NULL), MQ_EINVAL);
    assert_false(chat_dir_user_get(d, L("carol"), NULL, NULL, 0));

    assert_int_equal(chat_dir_user_delete(d, L("alice")), MQ_OK);
    assert_false(chat_dir_user_get(d, L("alice"), &role, hash, sizeof(hash)));
    assert_int_equal(chat_dir_user_delete(d, L("alice")), MQ_ENOTFOUND);
    assert_true(chat_dir_user_get(d, L("bob"), NULL, NULL, 0));

    /* Many users: the table grows and every one is still found. */
    char id[32];
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(id, sizeof(id), "user-%d", i);
        assert_int_equal(chat_dir_user_put(d, id, (size_t)n, CHAT_ROLE_USER, id), MQ_OK);
    }
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(id, sizeof(id), "user-%d", i);
        assert_true(chat_dir_user_get(d, id, (size_t)n, &role, hash, sizeof(hash)));
        assert_string_equal(hash, id);
    }
    for (int i = 0; i < 2000; i += 2) {
        int n = snprintf(id, sizeof(id), "user-%d", i);
        assert_int_equal(chat_dir_user_delete(d, id, (size_t)n), MQ_OK);
    }
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(id, sizeof(id), "user-%d", i);
        assert_int_equal(chat_dir_user_get(d, id, (size_t)n, NULL, NULL, 0), i % 2 == 1);
    }
}

/* Every call refuses every invalid name in every position. */
static void test_invalid_names(void **state)
{
    struct chat_dir *d = *state;
    struct chat_room_info info = room_info(false, 0, "");
    struct jbuf b;
    jbuf_init(&b);
    assert_int_equal(chat_dir_room_put(d, L("valid"), &info), MQ_OK);
    assert_int_equal(chat_dir_user_put(d, L("valid"), CHAT_ROLE_USER, NULL), MQ_OK);
    for (size_t i = 0; i < NNAMES; i++) {
        if (names[i].valid)
            continue;
        const char *s = names[i].s;
        size_t n = names[i].len;
        assert_int_equal(chat_dir_user_put(d, s, n, CHAT_ROLE_USER, "h"), MQ_EINVAL);
        assert_false(chat_dir_user_get(d, s, n, NULL, NULL, 0));
        assert_int_equal(chat_dir_user_delete(d, s, n), MQ_EINVAL);
        assert_int_equal(chat_dir_room_put(d, s, n, &info), MQ_EINVAL);
        assert_false(chat_dir_room_get(d, s, n, NULL));
        assert_int_equal(chat_dir_room_delete(d, s, n), MQ_EINVAL);
        assert_int_equal(chat_dir_member_put(d, s, n, L("valid"), CHAT_MEMBER), MQ_EINVAL);
        assert_int_equal(chat_dir_member_put(d, L("valid"), s, n, CHAT_MEMBER), MQ_EINVAL);
        assert_int_equal(chat_dir_member_delete(d, s, n, L("valid")), MQ_EINVAL);
        assert_int_equal(chat_dir_member_delete(d, L("valid"), s, n), MQ_EINVAL);
        assert_int_equal(chat_dir_member_role(d, s, n, L("valid")), -1);
        assert_int_equal(chat_dir_member_role(d, L("valid"), s, n), -1);
        assert_int_equal(chat_dir_room_block_put(d, s, n, L("valid")), MQ_EINVAL);
        assert_int_equal(chat_dir_room_block_put(d, L("valid"), s, n), MQ_EINVAL);
        assert_int_equal(chat_dir_room_block_delete(d, s, n, L("valid")), MQ_EINVAL);
        assert_int_equal(chat_dir_room_block_delete(d, L("valid"), s, n), MQ_EINVAL);
        assert_false(chat_dir_room_blocked(d, s, n, L("valid")));
        assert_false(chat_dir_room_blocked(d, L("valid"), s, n));
        assert_int_equal(chat_dir_user_block_put(d, s, n, L("valid")), MQ_EINVAL);
        assert_int_equal(chat_dir_user_block_put(d, L("valid"), s, n), MQ_EINVAL);
        assert_int_equal(chat_dir_user_block_delete(d, s, n, L("valid")), MQ_EINVAL);
        assert_int_equal(chat_dir_user_block_delete(d, L("valid"), s, n), MQ_EINVAL);
        assert_false(chat_dir_user_blocks(d, s, n, L("valid")));
        assert_false(chat_dir_user_blocks(d, L("valid"), s, n));
        assert_int_equal(chat_dir_deco_put(d, s, n, L("{}")), MQ_EINVAL);
        assert_false(chat_dir_deco_append(d, s, n, &b));
    }
    assert_int_equal(b.len, 0);
    /* A bad member role, a bad room setting. */
    assert_int_equal(chat_dir_member_put(d, L("valid"), L("valid"), (enum chat_member_role)3),
                     MQ_EINVAL);
    assert_int_equal(chat_dir_member_put(d, L("valid"), L("valid"), (enum chat_member_role) - 1),
                     MQ_EINVAL);
    assert_int_equal(chat_dir_member_role(d, L("valid"), L("valid")), -1);
    info.member_cap = -1;
    assert_int_equal(chat_dir_room_put(d, L("valid2"), &info), MQ_EINVAL);
    info = room_info(false, 0, "not valid");
    assert_int_equal(chat_dir_room_put(d, L("valid2"), &info), MQ_EINVAL);
    memset(info.owner, 'a', sizeof(info.owner)); /* no NUL inside the array */
    assert_int_equal(chat_dir_room_put(d, L("valid2"), &info), MQ_EINVAL);
    assert_int_equal(chat_dir_room_put(d, L("valid2"), NULL), MQ_EINVAL);
    assert_false(chat_dir_room_get(d, L("valid2"), NULL));
    assert_int_equal(chat_dir_deco_put(d, L("valid"), NULL, 3), MQ_EINVAL);
    jbuf_free(&b);
}

/* ---- rooms and members ----------------------------------------------------------------------- */

static void test_rooms(void **state)
{
    struct chat_dir *d = *state;
    struct chat_room_info out;
    assert_false(chat_dir_room_get(d, L("lobby"), &out));
    struct chat_room_info info = room_info(true, 0, "alice");
    info.members = 1234; /* ignored by put */
    assert_int_equal(chat_dir_room_put(d, L("lobby"), &info), MQ_OK);
    memset(&out, 0xff, sizeof(out));
    assert_true(chat_dir_room_get(d, L("lobby"), &out));
    assert_true(out.is_private);
    assert_int_equal(out.member_cap, 0);
    assert_string_equal(out.owner, "alice");
    assert_int_equal(out.created_ms, 42);
    assert_int_equal(out.members, 0);
    assert_true(chat_dir_room_get(d, L("lobby"), NULL));

    /* Members; a role change; the count. */
    assert_int_equal(chat_dir_member_put(d, L("lobby"), L("alice"), CHAT_OWNER), MQ_OK);
    assert_int_equal(chat_dir_member_put(d, L("lobby"), L("bob"), CHAT_MEMBER), MQ_OK);
    assert_int_equal(chat_dir_member_put(d, L("lobby"), L("carol"), CHAT_MEMBER), MQ_OK);
    assert_int_equal(chat_dir_member_put(d, L("lobby"), L("bob"), CHAT_MODERATOR), MQ_OK);
    assert_int_equal(chat_dir_member_role(d, L("lobby"), L("alice")), CHAT_OWNER);
    assert_int_equal(chat_dir_member_role(d, L("lobby"), L("bob")), CHAT_MODERATOR);
    assert_int_equal(chat_dir_member_role(d, L("lobby"), L("carol")), CHAT_MEMBER);
    assert_int_equal(chat_dir_member_role(d, L("lobby"), L("dave")), -1);
    assert_int_equal(chat_dir_member_role(d, L("nowhere"), L("alice")), -1);
    assert_int_equal(chat_dir_member_role(d, L("lobby"), L("Alice")), -1);
    assert_true(chat_dir_room_get(d, L("lobby"), &out));
    assert_int_equal(out.members, 3);

    /* No such room. */
    assert_int_equal(chat_dir_member_put(d, L("nowhere"), L("alice"), CHAT_MEMBER), MQ_ENOTFOUND);
    assert_int_equal(chat_dir_member_delete(d, L("nowhere"), L("alice")), MQ_ENOTFOUND);

    /* Delete a member. */
    assert_int_equal(chat_dir_member_delete(d, L("lobby"), L("carol")), MQ_OK);
    assert_int_equal(chat_dir_member_delete(d, L("lobby"), L("carol")), MQ_ENOTFOUND);
    assert_int_equal(chat_dir_member_role(d, L("lobby"), L("carol")), -1);
    assert_true(chat_dir_room_get(d, L("lobby"), &out));
    assert_int_equal(out.members, 2);

    /* Replacing the settings keeps the members. */
    info = room_info(false, 10, "");
    assert_int_equal(chat_dir_room_put(d, L("lobby"), &info), MQ_OK);
    assert_true(chat_dir_room_get(d, L("lobby"), &out));
    assert_false(out.is_private);
    assert_int_equal(out.member_cap, 10);
    assert_string_equal(out.owner, "");
    assert_int_equal(out.members, 2);
    assert_int_equal(chat_dir_member_role(d, L("lobby"), L("bob")), CHAT_MODERATOR);

    /* Another room with the same member, and a room block in each. */
    assert_int_equal(chat_dir_room_put(d, L("attic"), &info), MQ_OK);
    assert_int_equal(chat_dir_member_put(d, L("attic"), L("bob"), CHAT_MEMBER), MQ_OK);
    assert_int_equal(chat_dir_room_block_put(d, L("lobby"), L("troll")), MQ_OK);
    assert_int_equal(chat_dir_room_block_put(d, L("attic"), L("troll")), MQ_OK);

    /* Deleting the room takes its members and blocks, and only its own. */
    assert_int_equal(chat_dir_room_delete(d, L("lobby")), MQ_OK);
    assert_int_equal(chat_dir_room_delete(d, L("lobby")), MQ_ENOTFOUND);
    assert_false(chat_dir_room_get(d, L("lobby"), &out));
    assert_int_equal(chat_dir_member_role(d, L("lobby"), L("bob")), -1);
    assert_false(chat_dir_room_blocked(d, L("lobby"), L("troll")));
    assert_int_equal(chat_dir_member_role(d, L("attic"), L("bob")), CHAT_MEMBER);
    assert_true(chat_dir_room_blocked(d, L("attic"), L("troll")));

    /* A room of the same name starts empty. */
    assert_int_equal(chat_dir_room_put(d, L("lobby"), &info), MQ_OK);
    assert_true(chat_dir_room_get(d, L("lobby"), &out));
    assert_int_equal(out.members, 0);
    assert_int_equal(chat_dir_member_role(d, L("lobby"), L("alice")), -1);
    assert_false(chat_dir_room_blocked(d, L("lobby"), L("troll")));
}

static void test_member_cap(void **state)
{
    struct chat_dir *d = *state;
    struct chat_room_info info = room_info(false, 3, "owner");
    struct chat_room_info out;
    assert_int_equal(chat_dir_room_put(d, L("small"), &info), MQ_OK);
    assert_int_equal(chat_dir_member_put(d, L("small"), L("u1"), CHAT_OWNER), MQ_OK);
    assert_int_equal(chat_dir_member_put(d, L("small"), L("u2"), CHAT_MEMBER), MQ_OK);
    assert_int_equal(chat_dir_member_put(d, L("small"), L("u3"), CHAT_MEMBER), MQ_OK);
    assert_int_equal(chat_dir_member_put(d, L("small"), L("u4"), CHAT_MEMBER), MQ_EFULL);
    assert_int_equal(chat_dir_member_role(d, L("small"), L("u4")), -1);
    /* At the cap: a role change of a member is fine, a re-put too. */
    assert_int_equal(chat_dir_member_put(d, L("small"), L("u2"), CHAT_MODERATOR), MQ_OK);
    assert_int_equal(chat_dir_member_role(d, L("small"), L("u2")), CHAT_MODERATOR);
    assert_int_equal(chat_dir_member_put(d, L("small"), L("u3"), CHAT_MEMBER), MQ_OK);
    assert_true(chat_dir_room_get(d, L("small"), &out));
    assert_int_equal(out.members, 3);
    /* A place frees up. */
    assert_int_equal(chat_dir_member_delete(d, L("small"), L("u3")), MQ_OK);
    assert_int_equal(chat_dir_member_put(d, L("small"), L("u4"), CHAT_MEMBER), MQ_OK);
    assert_int_equal(chat_dir_member_put(d, L("small"), L("u5"), CHAT_MEMBER), MQ_EFULL);
    /* A cap lowered below the count stops new members only; raised, it lets them in. */
    info.member_cap = 1;
    assert_int_equal(chat_dir_room_put(d, L("small"), &info), MQ_OK);
    assert_true(chat_dir_room_get(d, L("small"), &out));
    assert_int_equal(out.members, 3);
    assert_int_equal(chat_dir_member_put(d, L("small"), L("u5"), CHAT_MEMBER), MQ_EFULL);
    assert_int_equal(chat_dir_member_put(d, L("small"), L("u1"), CHAT_MEMBER), MQ_OK);
    info.member_cap = 0; /* no cap */
    assert_int_equal(chat_dir_room_put(d, L("small"), &info), MQ_OK);
    char user[16];
    for (int i = 5; i < 500; i++) {
        int n = snprintf(user, sizeof(user), "u%d", i);
        assert_int_equal(chat_dir_member_put(d, L("small"), user, (size_t)n, CHAT_MEMBER), MQ_OK);
    }
    assert_true(chat_dir_room_get(d, L("small"), &out));
    assert_int_equal(out.members, 498);
    info.member_cap = 1;
    assert_int_equal(chat_dir_room_put(d, L("small"), &info), MQ_OK);
    assert_int_equal(chat_dir_member_put(d, L("small"), L("u500"), CHAT_MEMBER), MQ_EFULL);
}

/* ---- blocks ------------------------------------------------------------------------------------
 */

static void test_blocks(void **state)
{
    struct chat_dir *d = *state;
    struct chat_room_info info = room_info(false, 0, "");
    assert_int_equal(chat_dir_room_put(d, L("hall"), &info), MQ_OK);

    /* Room blocks. */
    assert_false(chat_dir_room_blocked(d, L("hall"), L("troll")));
    assert_int_equal(chat_dir_room_block_put(d, L("hall"), L("troll")), MQ_OK);
    assert_int_equal(chat_dir_room_block_put(d, L("hall"), L("troll")), MQ_OK); /* again */
    assert_true(chat_dir_room_blocked(d, L("hall"), L("troll")));
    assert_false(chat_dir_room_blocked(d, L("hall"), L("Troll")));
    assert_false(chat_dir_room_blocked(d, L("other"), L("troll")));
    assert_int_equal(chat_dir_room_block_put(d, L("other"), L("troll")), MQ_ENOTFOUND);
    assert_int_equal(chat_dir_room_block_delete(d, L("other"), L("troll")), MQ_ENOTFOUND);
    /* A block is not a membership. */
    assert_int_equal(chat_dir_member_role(d, L("hall"), L("troll")), -1);
    struct chat_room_info out;
    assert_true(chat_dir_room_get(d, L("hall"), &out));
    assert_int_equal(out.members, 0);
    assert_int_equal(chat_dir_room_block_delete(d, L("hall"), L("troll")), MQ_OK);
    assert_int_equal(chat_dir_room_block_delete(d, L("hall"), L("troll")), MQ_ENOTFOUND);
    assert_false(chat_dir_room_blocked(d, L("hall"), L("troll")));

    /* Personal blocks have a direction, and need no user or room to exist. */
    assert_false(chat_dir_user_blocks(d, L("alice"), L("bob")));
    assert_int_equal(chat_dir_user_block_put(d, L("alice"), L("bob")), MQ_OK);
    assert_int_equal(chat_dir_user_block_put(d, L("alice"), L("bob")), MQ_OK);
    assert_true(chat_dir_user_blocks(d, L("alice"), L("bob")));
    assert_false(chat_dir_user_blocks(d, L("bob"), L("alice")));
    /* Keys without a separator would make "alic" + "ebob" meet "alice" + "bob". */
    assert_false(chat_dir_user_blocks(d, L("alic"), L("ebob")));
    assert_false(chat_dir_user_blocks(d, L("alicebo"), L("b")));
    assert_int_equal(chat_dir_user_block_put(d, L("bob"), L("alice")), MQ_OK);
    assert_true(chat_dir_user_blocks(d, L("bob"), L("alice")));
    assert_int_equal(chat_dir_user_block_delete(d, L("alice"), L("bob")), MQ_OK);
    assert_int_equal(chat_dir_user_block_delete(d, L("alice"), L("bob")), MQ_ENOTFOUND);
    assert_false(chat_dir_user_blocks(d, L("alice"), L("bob")));
    assert_true(chat_dir_user_blocks(d, L("bob"), L("alice")));
    /* Longest names. */
    assert_int_equal(chat_dir_user_block_put(d, name64, 64, name64, 64), MQ_OK);
    assert_true(chat_dir_user_blocks(d, name64, 64, name64, 64));
    assert_false(chat_dir_user_blocks(d, name64, 64, name64, 63));

    /* The delivery check's lookup: the room's kind and "does anyone block
     * the sender", counted per blocked user. */
    bool blocked = true;
    assert_int_equal(chat_dir_reader_lookup(d, L("hall"), L("carol"), &blocked), 0);
    assert_false(blocked);
    assert_int_equal(chat_dir_reader_lookup(d, L("nowhere"), L("alice"), &blocked), -1);
    assert_true(blocked); /* bob blocks alice */
    assert_int_equal(chat_dir_user_block_put(d, L("carol"), L("alice")), MQ_OK);
    assert_int_equal(chat_dir_user_block_delete(d, L("bob"), L("alice")), MQ_OK);
    assert_int_equal(chat_dir_reader_lookup(d, NULL, 0, L("alice"), &blocked), -1);
    assert_true(blocked); /* carol still does */
    assert_int_equal(chat_dir_user_block_delete(d, L("carol"), L("alice")), MQ_OK);
    assert_int_equal(chat_dir_reader_lookup(d, NULL, 0, L("alice"), &blocked), -1);
    assert_false(blocked);
    struct chat_room_info priv = room_info(true, 0, "");
    assert_int_equal(chat_dir_room_put(d, L("vault"), &priv), MQ_OK);
    assert_int_equal(chat_dir_reader_lookup(d, L("vault"), NULL, 0, &blocked), 1);
}

/* ---- decorations
 * --------------------------------------------------------------------------------- */

static void test_decorations(void **state)
{
    struct chat_dir *d = *state;
    struct jbuf b;
    jbuf_init(&b);
    assert_false(chat_dir_deco_append(d, L("alice"), &b));
    assert_int_equal(b.len, 0);
    assert_int_equal(chat_dir_deco_put(d, L("alice"), L("{\"color\":\"red\"}")), MQ_OK);
    jbuf_put(&b, "[", 1);
    assert_true(chat_dir_deco_append(d, L("alice"), &b));
    jbuf_put(&b, ",", 1);
    assert_false(chat_dir_deco_append(d, L("bob"), &b)); /* unchanged */
    assert_true(chat_dir_deco_append(d, L("alice"), &b));
    jbuf_put(&b, "]", 1);
    assert_false(b.oom);
    assert_int_equal(b.len, strlen("[{\"color\":\"red\"},{\"color\":\"red\"}]"));
    assert_memory_equal(b.p, "[{\"color\":\"red\"},{\"color\":\"red\"}]", b.len);

    /* Replaced; kept byte for byte, NUL and all. */
    static const char odd[] = "{\"x\":\"a\0b\"}";
    assert_int_equal(chat_dir_deco_put(d, L("alice"), odd, sizeof(odd) - 1), MQ_OK);
    jbuf_reset(&b);
    assert_true(chat_dir_deco_append(d, L("alice"), &b));
    assert_int_equal(b.len, sizeof(odd) - 1);
    assert_memory_equal(b.p, odd, sizeof(odd) - 1);

    /* Removed by an empty one (and again: still fine). */
    assert_int_equal(chat_dir_deco_put(d, L("alice"), NULL, 0), MQ_OK);
    assert_int_equal(chat_dir_deco_put(d, L("alice"), "", 0), MQ_OK);
    jbuf_reset(&b);
    assert_false(chat_dir_deco_append(d, L("alice"), &b));
    assert_int_equal(b.len, 0);

    /* A big one. */
    size_t big_len = 256 * 1024;
    char *big = malloc(big_len);
    assert_non_null(big);
    memset(big, 'j', big_len);
    assert_int_equal(chat_dir_deco_put(d, L("bob"), big, big_len), MQ_OK);
    assert_true(chat_dir_deco_append(d, L("bob"), &b));
    assert_int_equal(b.len, big_len);
    assert_memory_equal(b.p, big, big_len);
    free(big);
    jbuf_free(&b);
}

/* ---- pages of rooms -------------------------------------------------------------------------- */

/* The names of one page, joined by ' ' ("" for none), into buf. */
static const char *page_names(const struct chat_dir_room_row *rows, size_t n, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? " " : "", rows[i].name);
    return buf;
}

static void test_rooms_page(void **state)
{
    struct chat_dir *d = *state;
    struct chat_dir_room_row rows[8];
    size_t n;
    bool more;
    char buf[512];

    assert_int_equal(
        chat_dir_rooms_page(d, L("bob"), CHAT_DIR_VISIBLE, NULL, 0, 8, rows, &n, &more), MQ_OK);
    assert_int_equal(n, 0);
    assert_false(more);

    /* Names in byte order: upper case, digits and '-' '.' '_' sort as ASCII;
     * a prefix before what extends it. */
    static const struct {
        const char *name;
        bool is_private;
        const char *member; /* bob's membership, if any */
    } rooms[] = {
        {"lobby", false, NULL},   {"Lobby", false, NULL},     {"lobby-2", false, "member"},
        {"a.b_c-d", false, NULL}, {"vip", true, "owner"},     {"secret", true, NULL},
        {"0day", false, NULL},    {"lob", true, "moderator"},
    };
    for (size_t i = 0; i < sizeof(rooms) / sizeof(rooms[0]); i++) {
        struct chat_room_info info = room_info(rooms[i].is_private, (int64_t)i, "alice");
        size_t len = strlen(rooms[i].name);
        assert_int_equal(chat_dir_room_put(d, rooms[i].name, len, &info), MQ_OK);
        assert_int_equal(chat_dir_member_put(d, rooms[i].name, len, L("alice"), CHAT_OWNER), MQ_OK);
        if (!rooms[i].member)
            continue;
        enum chat_member_role role = rooms[i].member[0] == 'o'   ? CHAT_OWNER
                                     : rooms[i].member[1] == 'o' ? CHAT_MODERATOR
                                                                 : CHAT_MEMBER;
        assert_int_equal(chat_dir_member_put(d, rooms[i].name, len, L("bob"), role), MQ_OK);
    }

    static const struct {
        const char *viewer;
        enum chat_dir_scope scope;
        const char *after;
        size_t limit;
        const char *want;
        bool more;
    } cases[] = {
        {"bob", CHAT_DIR_VISIBLE, "", 8, "0day Lobby a.b_c-d lob lobby lobby-2 vip", false},
        {"carol", CHAT_DIR_VISIBLE, "", 8, "0day Lobby a.b_c-d lobby lobby-2", false},
        {"carol", CHAT_DIR_ALL, "", 8, "0day Lobby a.b_c-d lob lobby lobby-2 secret vip", false},
        {"bob", CHAT_DIR_MEMBER, "", 8, "lob lobby-2 vip", false},
        {"carol", CHAT_DIR_MEMBER, "", 8, "", false},
        {"alice", CHAT_DIR_MEMBER, "", 8, "0day Lobby a.b_c-d lob lobby lobby-2 secret vip", false},
        /* Pages. */
        {"bob", CHAT_DIR_VISIBLE, "", 3, "0day Lobby a.b_c-d", true},
        {"bob", CHAT_DIR_VISIBLE, "a.b_c-d", 3, "lob lobby lobby-2", true},
        {"bob", CHAT_DIR_VISIBLE, "lobby-2", 3, "vip", false},
        {"bob", CHAT_DIR_VISIBLE, "lobby-1", 1, "lobby-2", true}, /* after a name not there */
        {"bob", CHAT_DIR_VISIBLE, "lob", 2, "lobby lobby-2", true},
        {"bob", CHAT_DIR_VISIBLE, "vip", 3, "", false},
        {"bob", CHAT_DIR_VISIBLE, "zzz", 3, "", false},
        {"carol", CHAT_DIR_VISIBLE, "lobby-2", 1, "", false}, /* secret and vip: not for carol */
        {"carol", CHAT_DIR_ALL, "lobby-2", 1, "secret", true},
        {"bob", CHAT_DIR_MEMBER, "lob", 1, "lobby-2", true},
        {"bob", CHAT_DIR_MEMBER, "lobby-2", 1, "vip", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(rows, 0xff, sizeof(rows));
        more = !cases[i].more;
        int rc = chat_dir_rooms_page(d, cases[i].viewer, strlen(cases[i].viewer), cases[i].scope,
                                     cases[i].after, strlen(cases[i].after), cases[i].limit, rows,
                                     &n, &more);
        if (rc != MQ_OK)
            fail_msg("page case %zu: rc %d", i, rc);
        if (strcmp(page_names(rows, n, buf, sizeof(buf)), cases[i].want) != 0 ||
            more != cases[i].more)
            fail_msg("page case %zu: got \"%s\" more %d, want \"%s\" more %d", i, buf, more,
                     cases[i].want, cases[i].more);
    }

    /* A row: the settings, the member count, the viewer's role. */
    assert_int_equal(chat_dir_rooms_page(d, L("bob"), CHAT_DIR_ALL, NULL, 0, 8, rows, &n, &more),
                     MQ_OK);
    assert_int_equal(n, 8);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rows[i].len, strlen(rows[i].name));
        assert_string_equal(rows[i].info.owner, "alice");
        assert_int_equal(rows[i].info.created_ms, 42);
    }
    assert_string_equal(rows[3].name, "lob");
    assert_true(rows[3].info.is_private);
    assert_int_equal(rows[3].info.member_cap, 7);
    assert_int_equal(rows[3].info.members, 2);
    assert_int_equal(rows[3].role, CHAT_MODERATOR);
    assert_string_equal(rows[4].name, "lobby");
    assert_false(rows[4].info.is_private);
    assert_int_equal(rows[4].info.members, 1);
    assert_int_equal(rows[4].role, -1);
    assert_int_equal(rows[5].role, CHAT_MEMBER);
    assert_int_equal(rows[6].role, -1); /* secret: bob is no member; the scope shows it */
    assert_int_equal(rows[7].role, CHAT_OWNER);

    /* Refused. */
    assert_int_equal(chat_dir_rooms_page(d, L("bob"), CHAT_DIR_ALL, NULL, 0, 0, rows, &n, &more),
                     MQ_EINVAL);
    assert_int_equal(chat_dir_rooms_page(d, L("b b"), CHAT_DIR_ALL, NULL, 0, 8, rows, &n, &more),
                     MQ_EINVAL);
    assert_int_equal(chat_dir_rooms_page(d, NULL, 0, CHAT_DIR_ALL, NULL, 0, 8, rows, &n, &more),
                     MQ_EINVAL);
    assert_int_equal(chat_dir_rooms_page(d, L("bob"), CHAT_DIR_ALL, L("a/b"), 8, rows, &n, &more),
                     MQ_EINVAL);
    assert_int_equal(n, 0);
    assert_false(more);
}

#define MANY_ROOMS 3000

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Many rooms made in a scrambled order, paged through in small pages for
 * each scope: every room the scope shows, once, in order. */
static void test_rooms_page_many(void **state)
{
    struct chat_dir *d = *state;
    static char many[MANY_ROOMS][16];
    const char *want[3][MANY_ROOMS];
    size_t nwant[3] = {0, 0, 0};
    for (size_t k = 0; k < MANY_ROOMS; k++) {
        size_t i = (k * 7919) % MANY_ROOMS; /* 7919 is prime: a permutation */
        snprintf(many[i], sizeof(many[i]), "r%zu", i * 37 % 10007);
        bool is_private = i % 3 == 0;
        bool member = i % 4 == 0;
        struct chat_room_info info = room_info(is_private, 0, "");
        size_t len = strlen(many[i]);
        assert_int_equal(chat_dir_room_put(d, many[i], len, &info), MQ_OK);
        if (member)
            assert_int_equal(chat_dir_member_put(d, many[i], len, L("viewer"), CHAT_MEMBER), MQ_OK);
        if (!is_private || member)
            want[CHAT_DIR_VISIBLE][nwant[CHAT_DIR_VISIBLE]++] = many[i];
        want[CHAT_DIR_ALL][nwant[CHAT_DIR_ALL]++] = many[i];
        if (member)
            want[CHAT_DIR_MEMBER][nwant[CHAT_DIR_MEMBER]++] = many[i];
    }
    enum chat_dir_scope scopes[] = {CHAT_DIR_VISIBLE, CHAT_DIR_ALL, CHAT_DIR_MEMBER};
    for (size_t s = 0; s < 3; s++) {
        enum chat_dir_scope sc = scopes[s];
        qsort(want[sc], nwant[sc], sizeof(want[sc][0]), str_cmp);
        struct chat_dir_room_row rows[7];
        char after[CHAT_NAME_MAX + 1] = "";
        size_t seen = 0, n, pages = 0;
        bool more = true;
        while (more) {
            assert_int_equal(
                chat_dir_rooms_page(d, L("viewer"), sc, after, strlen(after), 7, rows, &n, &more),
                MQ_OK);
            assert_true(n == 7 || !more);
            for (size_t i = 0; i < n; i++) {
                assert_true(seen < nwant[sc]);
                assert_string_equal(rows[i].name, want[sc][seen]);
                seen++;
            }
            if (n > 0)
                snprintf(after, sizeof(after), "%s", rows[n - 1].name);
            pages++;
        }
        assert_int_equal(seen, nwant[sc]);
        /* No empty page at the end: "more" is false on the last full one. */
        assert_int_equal(pages, nwant[sc] == 0 ? 1 : (nwant[sc] + 6) / 7);
    }
}

/* ---- loading from a database ------------------------------------------------------------------
 */

static void test_load(void **state)
{
    struct db *db = NULL;
    assert_int_equal(db_open_sqlite(unit_tmp_path("chat_dir.db"), DB_DURABILITY_NORMAL, &db),
                     MQ_OK);

    /* Users: three good ones, one with a role the directory does not know,
     * one with an id it refuses. */
    struct store_user users[] = {
        {SS("alice"), SS("$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA"), SS("user"), 1},
        {SS("svc"), SS(""), SS("service"), 2},
        {SS("screen"), SS("h2"), SS("display"), 3},
        {SS("mallory"), SS("h3"), SS("admin"), 4},
        {SS("bad name"), SS("h4"), SS("user"), 5},
    };
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
        assert_int_equal(store_user_put(db, &users[i]), MQ_OK);

    struct store_room rooms[] = {
        {SS("lobby"), false, SS("alice"), 0, 100},
        {SS("vip"), true, SS("svc"), 2, 200},
        {SS("odd"), false, SS("not a name"), 0, 300}, /* loaded without an owner */
    };
    for (size_t i = 0; i < sizeof(rooms) / sizeof(rooms[0]); i++)
        assert_int_equal(store_room_put(db, &rooms[i]), MQ_OK);

    /* vip has a cap of 2 and three members (the cap was lowered later):
     * all three are loaded. "ghost" is no room. */
    struct store_member members[] = {
        {SS("lobby"), SS("alice"), STORE_OWNER, 1},     {SS("lobby"), SS("svc"), STORE_MEMBER, 2},
        {SS("vip"), SS("alice"), STORE_MODERATOR, 3},   {SS("vip"), SS("svc"), STORE_OWNER, 4},
        {SS("vip"), SS("screen"), STORE_MEMBER, 5},     {SS("ghost"), SS("alice"), STORE_MEMBER, 6},
        {SS("lobby"), SS("bad/name"), STORE_MEMBER, 7},
    };
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
        assert_int_equal(store_member_put(db, &members[i]), MQ_OK);

    assert_int_equal(store_room_block_put(db, SS("lobby"), SS("troll"), SS("alice"), 1), MQ_OK);
    assert_int_equal(store_room_block_put(db, SS("ghost"), SS("troll"), SS("alice"), 1), MQ_OK);
    assert_int_equal(store_user_block_put(db, SS("alice"), SS("troll"), 1), MQ_OK);
    assert_int_equal(store_user_block_put(db, SS("svc"), SS("alice"), 1), MQ_OK);
    assert_int_equal(store_decoration_put(db, SS("alice"), SS("{\"badge\":\"gold\"}"), 1), MQ_OK);

    struct chat_dir *d = chat_dir_new();
    assert_non_null(d);
    assert_int_equal(chat_dir_load(d, db), MQ_OK);

    enum chat_role role;
    char hash[256];
    assert_true(chat_dir_user_get(d, L("alice"), &role, hash, sizeof(hash)));
    assert_int_equal(role, CHAT_ROLE_USER);
    assert_string_equal(hash, "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA");
    assert_true(chat_dir_user_get(d, L("svc"), &role, hash, sizeof(hash)));
    assert_int_equal(role, CHAT_ROLE_SERVICE);
    assert_string_equal(hash, "");
    assert_true(chat_dir_user_get(d, L("screen"), &role, NULL, 0));
    assert_int_equal(role, CHAT_ROLE_DISPLAY);
    assert_false(chat_dir_user_get(d, L("mallory"), NULL, NULL, 0));

    struct chat_room_info out;
    assert_true(chat_dir_room_get(d, L("lobby"), &out));
    assert_false(out.is_private);
    assert_string_equal(out.owner, "alice");
    assert_int_equal(out.created_ms, 100);
    assert_int_equal(out.members, 2);
    assert_true(chat_dir_room_get(d, L("vip"), &out));
    assert_true(out.is_private);
    assert_int_equal(out.member_cap, 2);
    assert_string_equal(out.owner, "svc");
    assert_int_equal(out.members, 3);
    assert_true(chat_dir_room_get(d, L("odd"), &out));
    assert_string_equal(out.owner, "");
    assert_false(chat_dir_room_get(d, L("ghost"), &out));

    assert_int_equal(chat_dir_member_role(d, L("lobby"), L("alice")), CHAT_OWNER);
    assert_int_equal(chat_dir_member_role(d, L("lobby"), L("svc")), CHAT_MEMBER);
    assert_int_equal(chat_dir_member_role(d, L("vip"), L("alice")), CHAT_MODERATOR);
    assert_int_equal(chat_dir_member_role(d, L("vip"), L("svc")), CHAT_OWNER);
    assert_int_equal(chat_dir_member_role(d, L("vip"), L("screen")), CHAT_MEMBER);
    assert_int_equal(chat_dir_member_role(d, L("ghost"), L("alice")), -1);
    /* Over the cap after loading: no new member. */
    assert_int_equal(chat_dir_member_put(d, L("vip"), L("newbie"), CHAT_MEMBER), MQ_EFULL);

    assert_true(chat_dir_room_blocked(d, L("lobby"), L("troll")));
    assert_false(chat_dir_room_blocked(d, L("ghost"), L("troll")));
    assert_true(chat_dir_user_blocks(d, L("alice"), L("troll")));
    assert_true(chat_dir_user_blocks(d, L("svc"), L("alice")));
    assert_false(chat_dir_user_blocks(d, L("alice"), L("svc")));

    struct jbuf b;
    jbuf_init(&b);
    assert_true(chat_dir_deco_append(d, L("alice"), &b));
    assert_int_equal(b.len, strlen("{\"badge\":\"gold\"}"));
    assert_memory_equal(b.p, "{\"badge\":\"gold\"}", b.len);
    assert_false(chat_dir_deco_append(d, L("svc"), &b));
    jbuf_free(&b);
    chat_dir_free(d);

    /* An empty database loads into an empty directory; a database missing
     * a table is an error. */
    struct db *empty = NULL;
    assert_int_equal(db_open_sqlite(unit_tmp_path("empty.db"), DB_DURABILITY_NORMAL, &empty),
                     MQ_OK);
    d = chat_dir_new();
    assert_non_null(d);
    assert_int_equal(chat_dir_load(d, empty), MQ_OK);
    assert_false(chat_dir_user_get(d, L("alice"), NULL, NULL, 0));
    static const struct db_sql drop = {"DROP TABLE memberships", NULL};
    assert_int_equal(db_exec(empty, &drop, NULL, 0, NULL, NULL), MQ_OK);
    assert_int_equal(chat_dir_load(d, empty), MQ_EIO);
    chat_dir_free(d);
    db_close(empty);
    db_close(db);
}

/* ---- readers racing a writer ----------------------------------------------------------------- */

enum { RACE_USERS = 64, RACE_ROUNDS = 1000 };

struct race {
    struct chat_dir *d;
    atomic_bool stop;
    atomic_long lookups;
    atomic_int bad; /* answers that can never be right */
};

static void race_user(int i, char *buf, size_t cap, size_t *len)
{
    *len = (size_t)snprintf(buf, cap, "racer-%d", i);
}

static void *race_reader(void *arg)
{
    struct race *r = arg;
    char user[32];
    size_t len;
    long n = 0;
    while (!atomic_load(&r->stop)) {
        for (int i = 0; i < RACE_USERS; i++) {
            race_user(i, user, sizeof(user), &len);
            int role = chat_dir_member_role(r->d, L("arena"), user, len);
            /* Members are only ever put with CHAT_MEMBER or CHAT_MODERATOR. */
            if (role != -1 && role != CHAT_MEMBER && role != CHAT_MODERATOR)
                atomic_fetch_add(&r->bad, 1);
            struct chat_room_info info;
            if (!chat_dir_room_get(r->d, L("arena"), &info) || info.members < 0 ||
                info.members > RACE_USERS)
                atomic_fetch_add(&r->bad, 1);
            if (chat_dir_room_blocked(r->d, L("arena"), L("nobody")))
                atomic_fetch_add(&r->bad, 1);
            n++;
        }
    }
    atomic_fetch_add(&r->lookups, n);
    return NULL;
}

static void test_concurrency(void **state)
{
    struct chat_dir *d = *state;
    struct chat_room_info info = room_info(false, RACE_USERS, "");
    assert_int_equal(chat_dir_room_put(d, L("arena"), &info), MQ_OK);
    struct race r = {.d = d};
    atomic_init(&r.stop, false);
    atomic_init(&r.lookups, 0);
    atomic_init(&r.bad, 0);
    pthread_t readers[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&readers[i], NULL, race_reader, &r), 0);

    char user[32];
    size_t len;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        for (int i = 0; i < RACE_USERS; i++) {
            race_user(i, user, sizeof(user), &len);
            enum chat_member_role role = (round + i) % 2 ? CHAT_MEMBER : CHAT_MODERATOR;
            assert_int_equal(chat_dir_member_put(d, L("arena"), user, len, role), MQ_OK);
        }
        /* Settings rewritten under the readers, and decorations churned. */
        assert_int_equal(chat_dir_room_put(d, L("arena"), &info), MQ_OK);
        assert_int_equal(chat_dir_deco_put(d, L("racer-0"), L("{\"n\":1}")), MQ_OK);
        for (int i = 0; i < RACE_USERS; i += 1 + round % 3) {
            race_user(i, user, sizeof(user), &len);
            assert_int_equal(chat_dir_member_delete(d, L("arena"), user, len), MQ_OK);
        }
        assert_int_equal(chat_dir_deco_put(d, L("racer-0"), NULL, 0), MQ_OK);
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(readers[i], NULL);
    assert_int_equal(atomic_load(&r.bad), 0);
    assert_true(atomic_load(&r.lookups) > 0);
    assert_int_equal(chat_dir_room_delete(d, L("arena")), MQ_OK);
}

static void test_new_free(void **state)
{
    chat_dir_free(NULL);
    struct chat_dir *d = chat_dir_new();
    assert_non_null(d);
    /* Freed with something in every map. */
    struct chat_room_info info = room_info(false, 0, "");
    assert_int_equal(chat_dir_user_put(d, L("u"), CHAT_ROLE_USER, "h"), MQ_OK);
    assert_int_equal(chat_dir_room_put(d, L("r"), &info), MQ_OK);
    assert_int_equal(chat_dir_member_put(d, L("r"), L("u"), CHAT_MEMBER), MQ_OK);
    assert_int_equal(chat_dir_room_block_put(d, L("r"), L("x")), MQ_OK);
    assert_int_equal(chat_dir_user_block_put(d, L("u"), L("x")), MQ_OK);
    assert_int_equal(chat_dir_deco_put(d, L("u"), L("{}")), MQ_OK);
    chat_dir_free(d);
}

#define DIR_TEST(fn) cmocka_unit_test_setup_teardown(fn, dir_setup, dir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_roles),
        DIR_TEST(test_users),
        DIR_TEST(test_invalid_names),
        DIR_TEST(test_rooms),
        DIR_TEST(test_member_cap),
        DIR_TEST(test_blocks),
        DIR_TEST(test_decorations),
        DIR_TEST(test_rooms_page),
        DIR_TEST(test_rooms_page_many),
        cmocka_unit_test(test_load),
        DIR_TEST(test_concurrency),
        cmocka_unit_test(test_new_free),
    };
    return cmocka_run_group_tests(tests, unit_tmpdir_setup, unit_tmpdir_teardown);
}
