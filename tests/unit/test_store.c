/*
 * test_store.c - unit tests for db.h and store.h (db.c, db_sqlite.c,
 * db_mysql.c, store.c, store_thread.c) against real databases.
 *
 * One suite of store tests runs twice: against a fresh SQLite file in a
 * temporary directory, and, when MQCHAT_TEST_MYSQL_URL is set
 * (mysql://user:password@host:port/database, e.g. from tests/mariadb.sh),
 * against MySQL/MariaDB. The MySQL run never touches the tables of the
 * URL's database: it creates a database of its own,
 * mqchat_store_<pid>_<unix seconds>, runs there and drops it at the end
 * (the URL's user needs CREATE and DROP). With MQCHAT_REQUIRE_MYSQL=1 and
 * no URL the program fails instead of skipping MySQL.
 *
 * Strings are checked byte for byte (lengths and memcmp): quotes,
 * backslashes, NUL bytes, 4-byte UTF-8, ids differing only in case, SQL
 * injection text, 1 MiB bodies. Tests share one database per backend, so
 * each uses names and message ids of its own. Also here: the migrations
 * (idempotent), a corrupt SQLite file moved aside, bad MySQL URLs, an
 * unreachable server, a MySQL connection that goes away, and the store
 * thread's ordering.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"
#include "errors.h"
#include "schema.h"
#include "store.h"
#include "unit_helpers.h"

/* The database one run of the suite uses. */
struct backend {
    enum db_backend kind;
    char where[1024]; /* SQLite: the file; MySQL: the URL of the per-run database */
    struct db *db;    /* the connection the tests share */
};

static struct backend sqlite_be = {.kind = DB_SQLITE};
static struct backend mysql_be = {.kind = DB_MYSQL};

/* A second connection to the same database. */
static struct db *open_again(const struct backend *be)
{
    struct db *db = NULL;
    int rc = be->kind == DB_SQLITE ? db_open_sqlite(be->where, DB_DURABILITY_NORMAL, &db)
                                   : db_open_mysql(be->where, &db);
    assert_int_equal(rc, MQ_OK);
    assert_non_null(db);
    return db;
}

/* ---- helpers ------------------------------------------------------------------------- */

#define S(lit)       ((struct store_str){(lit), sizeof(lit) - 1}) /* a literal, NULs included */
#define SB(ptr, len) ((struct store_str){(ptr), (len)})

/* A malloc'd copy of some bytes. */
struct copy {
    char *p;
    size_t len;
};

static struct copy dup_str(struct store_str s)
{
    struct copy c = {malloc(s.len + 1), s.len};
    assert_non_null(c.p);
    if (s.len)
        memcpy(c.p, s.s, s.len);
    c.p[s.len] = '\0';
    return c;
}

static void assert_bytes(struct store_str got, struct store_str want)
{
    assert_int_equal(got.len, want.len);
    if (want.len)
        assert_memory_equal(got.s, want.s, want.len);
}

static void assert_copy(struct copy got, struct store_str want)
{
    assert_bytes(SB(got.p, got.len), want);
}

/* Bytewise order: memcmp, the shorter first on a tie. */
static int bytes_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    return c ? c : na < nb ? -1 : na > nb ? 1 : 0;
}

/* ---- users ----------------------------------------------------------------------------- */

struct user_copy {
    int calls;
    struct copy id, hash, role;
    int64_t created_ms;
};

static void user_fn(void *ctx, const struct store_user *u)
{
    struct user_copy *c = ctx;
    c->calls++;
    c->id = dup_str(u->id);
    c->hash = dup_str(u->password_hash);
    c->role = dup_str(u->role);
    c->created_ms = u->created_ms;
}

static void user_copy_free(struct user_copy *c)
{
    free(c->id.p);
    free(c->hash.p);
    free(c->role.p);
    memset(c, 0, sizeof(*c));
}

/* Gets id and checks every field against u. */
static void check_user(struct db *db, const struct store_user *u)
{
    struct user_copy c = {0};
    assert_int_equal(store_user_get(db, u->id, user_fn, &c), MQ_OK);
    assert_int_equal(c.calls, 1);
    assert_copy(c.id, u->id);
    assert_copy(c.hash, u->password_hash);
    assert_copy(c.role, u->role);
    assert_int_equal(c.created_ms, u->created_ms);
    user_copy_free(&c);
}

static void test_users(void **state)
{
    struct backend *be = *state;
    struct store_user u = {S("u-alice"), S("$argon2id$v=19$m=65536$abc"), S("user"), 1000};
    struct user_copy c = {0};
    assert_int_equal(store_user_get(be->db, u.id, user_fn, &c), MQ_ENOTFOUND);
    assert_int_equal(c.calls, 0);
    assert_int_equal(store_user_put(be->db, &u), MQ_OK);
    check_user(be->db, &u);

    /* Put again: replaced, still one user. */
    struct store_user u2 = {S("u-alice"), S(""), S("service"), 2000};
    assert_int_equal(store_user_put(be->db, &u2), MQ_OK);
    check_user(be->db, &u2);

    /* Case makes another user. */
    struct store_user big = {S("U-Alice"), S("h"), S("display"), 3000};
    assert_int_equal(store_user_put(be->db, &big), MQ_OK);
    check_user(be->db, &big);
    check_user(be->db, &u2);

    assert_int_equal(store_user_delete(be->db, u.id), MQ_OK);
    assert_int_equal(store_user_get(be->db, u.id, user_fn, &c), MQ_ENOTFOUND);
    assert_int_equal(store_user_delete(be->db, u.id), MQ_ENOTFOUND);
    check_user(be->db, &big);
    assert_int_equal(store_user_delete(be->db, big.id), MQ_OK);
}

/* ---- rooms and memberships ---------------------------------------------------------------- */

struct room_copy {
    struct copy name, owner;
    bool is_private;
    int64_t member_cap, created_ms;
};

struct room_list {
    size_t n;
    struct room_copy a[64];
};

static void room_fn(void *ctx, const struct store_room *r)
{
    struct room_list *l = ctx;
    assert_true(l->n < 64);
    l->a[l->n++] = (struct room_copy){dup_str(r->name), dup_str(r->owner), r->is_private,
                                      r->member_cap, r->created_ms};
}

static void room_list_free(struct room_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->a[i].name.p);
        free(l->a[i].owner.p);
    }
    l->n = 0;
}

static void check_room(const struct room_copy *got, const struct store_room *want)
{
    assert_copy(got->name, want->name);
    assert_copy(got->owner, want->owner);
    assert_int_equal(got->is_private, want->is_private);
    assert_int_equal(got->member_cap, want->member_cap);
    assert_int_equal(got->created_ms, want->created_ms);
}

struct member_list {
    size_t n;
    struct {
        struct copy room, user;
        enum store_role role;
        int64_t joined_ms;
    } a[64];
};

static void member_fn(void *ctx, const struct store_member *m)
{
    struct member_list *l = ctx;
    assert_true(l->n < 64);
    l->a[l->n].room = dup_str(m->room);
    l->a[l->n].user = dup_str(m->user);
    l->a[l->n].role = m->role;
    l->a[l->n].joined_ms = m->joined_ms;
    l->n++;
}

static void member_list_free(struct member_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->a[i].room.p);
        free(l->a[i].user.p);
    }
    l->n = 0;
}

/* Pairs (room blocks, user blocks, decorations). */
struct pair_list {
    size_t n;
    struct copy a[64], b[64];
};

static void pair_fn(void *ctx, struct store_str a, struct store_str b)
{
    struct pair_list *l = ctx;
    assert_true(l->n < 64);
    l->a[l->n] = dup_str(a);
    l->b[l->n] = dup_str(b);
    l->n++;
}

static void pair_list_free(struct pair_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->a[i].p);
        free(l->b[i].p);
    }
    l->n = 0;
}

/* Index of (a, b) in l, or -1. */
static int pair_find(const struct pair_list *l, struct store_str a, struct store_str b)
{
    for (size_t i = 0; i < l->n; i++)
        if (bytes_cmp(l->a[i].p, l->a[i].len, a.s, a.len) == 0 &&
            bytes_cmp(l->b[i].p, l->b[i].len, b.s, b.len) == 0)
            return (int)i;
    return -1;
}

static void test_rooms_and_members(void **state)
{
    struct backend *be = *state;
    struct db *db = be->db;
    struct store_room r = {S("r-lobby"), false, S("owner1"), 0, 111};
    struct room_list l = {0};
    assert_int_equal(store_room_get(db, r.name, room_fn, &l), MQ_ENOTFOUND);
    assert_int_equal(store_room_put(db, &r), MQ_OK);
    assert_int_equal(store_room_get(db, r.name, room_fn, &l), MQ_OK);
    assert_int_equal(l.n, 1);
    check_room(&l.a[0], &r);
    room_list_free(&l);

    struct store_room r2 = {S("r-lobby"), true, S("owner2"), 50, 222};
    assert_int_equal(store_room_put(db, &r2), MQ_OK);
    assert_int_equal(store_room_get(db, r.name, room_fn, &l), MQ_OK);
    assert_int_equal(l.n, 1);
    check_room(&l.a[0], &r2);
    room_list_free(&l);

    struct store_room r3 = {S("r-attic"), false, S("o"), 3, 333};
    assert_int_equal(store_room_put(db, &r3), MQ_OK);
    assert_int_equal(store_room_list(db, room_fn, &l), MQ_OK);
    assert_true(l.n >= 2);
    for (size_t i = 1; i < l.n; i++)
        assert_true(
            bytes_cmp(l.a[i - 1].name.p, l.a[i - 1].name.len, l.a[i].name.p, l.a[i].name.len) < 0);
    room_list_free(&l);

    /* Members: put, update the role (joined_ms stays), list in user order, count. */
    const char *users[] = {"m-carol", "m-alice", "m-bob"};
    for (int i = 0; i < 3; i++) {
        struct store_member m = {r.name, STORE_STR(users[i]), STORE_MEMBER, 1000 + i};
        assert_int_equal(store_member_put(db, &m), MQ_OK);
    }
    struct store_member up = {r.name, S("m-bob"), STORE_MODERATOR, 9999};
    assert_int_equal(store_member_put(db, &up), MQ_OK);
    struct store_member other = {r3.name, S("m-alice"), STORE_OWNER, 5};
    assert_int_equal(store_member_put(db, &other), MQ_OK);

    int64_t count = -1;
    assert_int_equal(store_member_count(db, r.name, &count), MQ_OK);
    assert_int_equal(count, 3);
    struct member_list ml = {0};
    assert_int_equal(store_member_list(db, r.name, member_fn, &ml), MQ_OK);
    assert_int_equal(ml.n, 3);
    assert_copy(ml.a[0].user, S("m-alice"));
    assert_copy(ml.a[1].user, S("m-bob"));
    assert_copy(ml.a[2].user, S("m-carol"));
    assert_copy(ml.a[1].room, r.name);
    assert_int_equal(ml.a[1].role, STORE_MODERATOR);
    assert_int_equal(ml.a[1].joined_ms, 1002);
    assert_int_equal(ml.a[0].role, STORE_MEMBER);
    member_list_free(&ml);

    assert_int_equal(store_member_delete(db, r.name, S("m-carol")), MQ_OK);
    assert_int_equal(store_member_delete(db, r.name, S("m-carol")), MQ_ENOTFOUND);
    assert_int_equal(store_member_count(db, r.name, &count), MQ_OK);
    assert_int_equal(count, 2);

    /* Deleting the room takes its memberships and blocks, not other rooms'. */
    assert_int_equal(store_room_block_put(db, r.name, S("m-troll"), S("m-bob"), 7), MQ_OK);
    assert_int_equal(store_room_block_put(db, r3.name, S("m-troll"), S("o"), 8), MQ_OK);
    assert_int_equal(store_room_delete(db, r.name), MQ_OK);
    assert_int_equal(store_room_delete(db, r.name), MQ_ENOTFOUND);
    assert_int_equal(store_room_get(db, r.name, room_fn, &l), MQ_ENOTFOUND);
    assert_int_equal(store_member_count(db, r.name, &count), MQ_OK);
    assert_int_equal(count, 0);
    assert_int_equal(store_member_count(db, r3.name, &count), MQ_OK);
    assert_int_equal(count, 1);
    struct pair_list pl = {0};
    assert_int_equal(store_room_block_list(db, pair_fn, &pl), MQ_OK);
    assert_int_equal(pair_find(&pl, r.name, S("m-troll")), -1);
    assert_true(pair_find(&pl, r3.name, S("m-troll")) >= 0);
    pair_list_free(&pl);
    assert_int_equal(store_room_delete(db, r3.name), MQ_OK);
    assert_int_equal(store_member_count(db, r3.name, &count), MQ_OK);
    assert_int_equal(count, 0);
}

/* ---- blocks, decorations, settings ----------------------------------------------------------- */

static void test_blocks(void **state)
{
    struct db *db = ((struct backend *)*state)->db;
    struct pair_list l = {0};
    assert_int_equal(store_room_block_put(db, S("b-room"), S("b-x"), S("b-mod"), 1), MQ_OK);
    assert_int_equal(store_room_block_put(db, S("b-room"), S("b-x"), S("b-mod2"), 2), MQ_OK);
    assert_int_equal(store_room_block_put(db, S("b-room"), S("b-y"), S("b-mod"), 3), MQ_OK);
    assert_int_equal(store_room_block_list(db, pair_fn, &l), MQ_OK);
    int ix = pair_find(&l, S("b-room"), S("b-x")), iy = pair_find(&l, S("b-room"), S("b-y"));
    assert_true(ix >= 0 && iy == ix + 1);
    pair_list_free(&l);
    assert_int_equal(store_room_block_delete(db, S("b-room"), S("b-x")), MQ_OK);
    assert_int_equal(store_room_block_delete(db, S("b-room"), S("b-x")), MQ_ENOTFOUND);
    assert_int_equal(store_room_block_list(db, pair_fn, &l), MQ_OK);
    assert_int_equal(pair_find(&l, S("b-room"), S("b-x")), -1);
    pair_list_free(&l);
    assert_int_equal(store_room_block_delete(db, S("b-room"), S("b-y")), MQ_OK);

    assert_int_equal(store_user_block_put(db, S("b-alice"), S("b-bob"), 1), MQ_OK);
    assert_int_equal(store_user_block_put(db, S("b-alice"), S("b-bob"), 2), MQ_OK);
    assert_int_equal(store_user_block_put(db, S("b-bob"), S("b-alice"), 3), MQ_OK);
    assert_int_equal(store_user_block_list(db, pair_fn, &l), MQ_OK);
    assert_true(pair_find(&l, S("b-alice"), S("b-bob")) >= 0);
    assert_true(pair_find(&l, S("b-bob"), S("b-alice")) >= 0);
    assert_int_equal(pair_find(&l, S("b-alice"), S("b-alice")), -1);
    size_t before = l.n;
    pair_list_free(&l);
    assert_int_equal(store_user_block_delete(db, S("b-alice"), S("b-bob")), MQ_OK);
    assert_int_equal(store_user_block_delete(db, S("b-alice"), S("b-bob")), MQ_ENOTFOUND);
    assert_int_equal(store_user_block_list(db, pair_fn, &l), MQ_OK);
    assert_int_equal(l.n, before - 1);
    assert_int_equal(pair_find(&l, S("b-alice"), S("b-bob")), -1);
    pair_list_free(&l);
    assert_int_equal(store_user_block_delete(db, S("b-bob"), S("b-alice")), MQ_OK);
}

/* Names handed to a one-name callback (the blocks of one room or user). */
struct name_list {
    size_t n;
    struct copy a[64];
};

static void name_fn(void *ctx, struct store_str name)
{
    struct name_list *l = ctx;
    assert_true(l->n < 64);
    l->a[l->n++] = dup_str(name);
}

static void name_list_free(struct name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->a[i].p);
    l->n = 0;
}

/* The blocks of one room, of one user: only theirs, in byte order, names
 * that differ in case or by a NUL byte kept apart. */
static void test_blocks_of_one(void **state)
{
    struct db *db = ((struct backend *)*state)->db;
    struct name_list l = {0};
    assert_int_equal(store_room_block_list_room(db, S("bo-room"), name_fn, &l), MQ_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(store_room_block_put(db, S("bo-room"), S("zed"), S("mod"), 1), MQ_OK);
    assert_int_equal(store_room_block_put(db, S("bo-room"), S("amy"), S("mod"), 2), MQ_OK);
    assert_int_equal(store_room_block_put(db, S("bo-room"), S("Amy"), S("mod"), 3), MQ_OK);
    assert_int_equal(store_room_block_put(db, S("bo-room"), S("amy"), S("mod2"), 4), MQ_OK);
    assert_int_equal(store_room_block_put(db, S("bo-room\0x"), S("nul"), S("mod"), 5), MQ_OK);
    assert_int_equal(store_room_block_put(db, S("bo-Room"), S("case"), S("mod"), 6), MQ_OK);
    assert_int_equal(store_room_block_put(db, S("bo-room2"), S("other"), S("mod"), 7), MQ_OK);
    assert_int_equal(store_room_block_list_room(db, S("bo-room"), name_fn, &l), MQ_OK);
    assert_int_equal(l.n, 3);
    assert_copy(l.a[0], S("Amy"));
    assert_copy(l.a[1], S("amy"));
    assert_copy(l.a[2], S("zed"));
    name_list_free(&l);
    assert_int_equal(store_room_block_list_room(db, S("bo-room\0x"), name_fn, &l), MQ_OK);
    assert_int_equal(l.n, 1);
    assert_copy(l.a[0], S("nul"));
    name_list_free(&l);
    assert_int_equal(store_room_block_delete(db, S("bo-room"), S("amy")), MQ_OK);
    assert_int_equal(store_room_block_list_room(db, S("bo-room"), name_fn, &l), MQ_OK);
    assert_int_equal(l.n, 2);
    assert_copy(l.a[0], S("Amy"));
    assert_copy(l.a[1], S("zed"));
    name_list_free(&l);
    assert_int_equal(store_room_block_list_room(db, S("bo-nothing"), name_fn, &l), MQ_OK);
    assert_int_equal(l.n, 0);
    static const struct store_str rooms[] = {S("bo-room"), S("bo-room\0x"), S("bo-Room"),
                                             S("bo-room2")};
    for (size_t i = 0; i < sizeof(rooms) / sizeof(rooms[0]); i++) {
        assert_int_equal(store_room_block_list_room(db, rooms[i], name_fn, &l), MQ_OK);
        for (size_t k = 0; k < l.n; k++)
            assert_int_equal(store_room_block_delete(db, rooms[i], SB(l.a[k].p, l.a[k].len)),
                             MQ_OK);
        name_list_free(&l);
    }

    assert_int_equal(store_user_block_list_user(db, S("bo-alice"), name_fn, &l), MQ_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(store_user_block_put(db, S("bo-alice"), S("bob"), 1), MQ_OK);
    assert_int_equal(store_user_block_put(db, S("bo-alice"), S("Bob"), 1), MQ_OK);
    assert_int_equal(store_user_block_put(db, S("bo-alice"), S("bob"), 2), MQ_OK);
    assert_int_equal(store_user_block_put(db, S("bo-alice"), S("x'); DROP TABLE users;--"), 2),
                     MQ_OK);
    assert_int_equal(store_user_block_put(db, S("bo-Alice"), S("carol"), 3), MQ_OK);
    assert_int_equal(store_user_block_put(db, S("bo-bob"), S("bo-alice"), 3), MQ_OK);
    assert_int_equal(store_user_block_list_user(db, S("bo-alice"), name_fn, &l), MQ_OK);
    assert_int_equal(l.n, 3);
    assert_copy(l.a[0], S("Bob"));
    assert_copy(l.a[1], S("bob"));
    assert_copy(l.a[2], S("x'); DROP TABLE users;--"));
    name_list_free(&l);
    assert_int_equal(store_user_block_delete(db, S("bo-alice"), S("Bob")), MQ_OK);
    assert_int_equal(store_user_block_delete(db, S("bo-alice"), S("bob")), MQ_OK);
    assert_int_equal(store_user_block_delete(db, S("bo-alice"), S("x'); DROP TABLE users;--")),
                     MQ_OK);
    assert_int_equal(store_user_block_list_user(db, S("bo-alice"), name_fn, &l), MQ_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(store_user_block_list_user(db, S("bo-Alice"), name_fn, &l), MQ_OK);
    assert_int_equal(l.n, 1);
    assert_copy(l.a[0], S("carol"));
    name_list_free(&l);
    assert_int_equal(store_user_block_delete(db, S("bo-Alice"), S("carol")), MQ_OK);
    assert_int_equal(store_user_block_delete(db, S("bo-bob"), S("bo-alice")), MQ_OK);
}

struct setting_list {
    size_t n;
    struct copy scope[64], key[64], value[64];
};

static void setting_fn(void *ctx, struct store_str scope, struct store_str key,
                       struct store_str value)
{
    struct setting_list *l = ctx;
    assert_true(l->n < 64);
    l->scope[l->n] = dup_str(scope);
    l->key[l->n] = dup_str(key);
    l->value[l->n] = dup_str(value);
    l->n++;
}

static void setting_list_free(struct setting_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->scope[i].p);
        free(l->key[i].p);
        free(l->value[i].p);
    }
    l->n = 0;
}

/* Index of (scope, key) in l, or -1. */
static int setting_find(const struct setting_list *l, struct store_str scope, struct store_str key)
{
    for (size_t i = 0; i < l->n; i++)
        if (bytes_cmp(l->scope[i].p, l->scope[i].len, scope.s, scope.len) == 0 &&
            bytes_cmp(l->key[i].p, l->key[i].len, key.s, key.len) == 0)
            return (int)i;
    return -1;
}

static void test_decorations_and_settings(void **state)
{
    struct db *db = ((struct backend *)*state)->db;
    struct pair_list l = {0};
    assert_int_equal(store_decoration_put(db, S("d-alice"), S("{\"color\":\"red\"}"), 1), MQ_OK);
    assert_int_equal(store_decoration_put(db, S("d-alice"), S("{\"color\":\"blue\"}"), 2), MQ_OK);
    assert_int_equal(store_decoration_put(db, S("d-bob"), S("{}"), 3), MQ_OK);
    assert_int_equal(store_decoration_list(db, pair_fn, &l), MQ_OK);
    int i = pair_find(&l, S("d-alice"), S("{\"color\":\"blue\"}"));
    assert_true(i >= 0);
    assert_int_equal(pair_find(&l, S("d-bob"), S("{}")), i + 1);
    pair_list_free(&l);
    assert_int_equal(store_decoration_delete(db, S("d-alice")), MQ_OK);
    assert_int_equal(store_decoration_delete(db, S("d-alice")), MQ_ENOTFOUND);
    assert_int_equal(store_decoration_delete(db, S("d-bob")), MQ_OK);
    assert_int_equal(store_decoration_list(db, pair_fn, &l), MQ_OK);
    assert_int_equal(pair_find(&l, S("d-bob"), S("{}")), -1);
    pair_list_free(&l);

    struct setting_list sl = {0};
    assert_int_equal(store_setting_put(db, S(""), S("s-max_rooms"), S("10")), MQ_OK);
    assert_int_equal(store_setting_put(db, S(""), S("s-max_rooms"), S("20")), MQ_OK);
    assert_int_equal(store_setting_put(db, S("s-room"), S("s-max_rooms"), S("")), MQ_OK);
    assert_int_equal(store_setting_put(db, S("s-room"), S("s-topic"), S("x")), MQ_OK);
    assert_int_equal(store_setting_list(db, setting_fn, &sl), MQ_OK);
    int a = setting_find(&sl, S(""), S("s-max_rooms"));
    int b = setting_find(&sl, S("s-room"), S("s-max_rooms"));
    int c = setting_find(&sl, S("s-room"), S("s-topic"));
    assert_true(a >= 0 && b > a && c == b + 1);
    assert_copy(sl.value[a], S("20"));
    assert_copy(sl.value[b], S(""));
    assert_non_null(sl.value[b].p);
    setting_list_free(&sl);
    assert_int_equal(store_setting_delete(db, S("s-room"), S("s-max_rooms")), MQ_OK);
    assert_int_equal(store_setting_delete(db, S("s-room"), S("s-max_rooms")), MQ_ENOTFOUND);
    assert_int_equal(store_setting_list(db, setting_fn, &sl), MQ_OK);
    assert_int_equal(setting_find(&sl, S("s-room"), S("s-max_rooms")), -1);
    assert_true(setting_find(&sl, S(""), S("s-max_rooms")) >= 0);
    setting_list_free(&sl);
}

/* ---- notifications and read markers -----------------------------------------------------------
 */

struct note_list {
    size_t n;
    int64_t id[64], ts[64];
    struct copy kind[64], target[64], sender[64], body[64];
};

static void note_fn(void *ctx, const struct store_notification *n)
{
    struct note_list *l = ctx;
    assert_true(l->n < 64);
    l->id[l->n] = n->id;
    l->ts[l->n] = n->ts_ms;
    l->kind[l->n] = dup_str(n->target_kind);
    l->target[l->n] = dup_str(n->target);
    l->sender[l->n] = dup_str(n->sender);
    l->body[l->n] = dup_str(n->body);
    l->n++;
}

static void note_list_free(struct note_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->kind[i].p);
        free(l->target[i].p);
        free(l->sender[i].p);
        free(l->body[i].p);
    }
    l->n = 0;
}

static void test_notifications_and_markers(void **state)
{
    struct db *db = ((struct backend *)*state)->db;
    for (int i = 1; i <= 10; i++) {
        struct store_notification n = {
            .id = 7000 + i,
            .target_kind = i % 2 ? S("room") : S("user"),
            .target = i % 2 ? S("n-room") : S("n-bob"),
            .sender = S("n-admin"),
            .ts_ms = 100 * i,
            .body = S("hello\0world"),
        };
        assert_int_equal(store_notification_put(db, &n), MQ_OK);
        assert_int_equal(store_notification_put(db, &n), MQ_OK); /* a replay */
    }
    struct store_notification all = {7100, S("all"), S(""), S("n-admin"), 5, S("to all")};
    assert_int_equal(store_notification_put(db, &all), MQ_OK);

    struct note_list l = {0};
    assert_int_equal(store_notification_list(db, S("room"), S("n-room"), 0, 100, note_fn, &l),
                     MQ_OK);
    assert_int_equal(l.n, 5);
    for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(l.id[i], 7001 + 2 * (int64_t)i);
        assert_int_equal(l.ts[i], 100 * (7001 + 2 * (int64_t)i - 7000));
        assert_copy(l.kind[i], S("room"));
        assert_copy(l.target[i], S("n-room"));
        assert_copy(l.sender[i], S("n-admin"));
        assert_copy(l.body[i], S("hello\0world"));
    }
    note_list_free(&l);
    assert_int_equal(store_notification_list(db, S("room"), S("n-room"), 7003, 2, note_fn, &l),
                     MQ_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.id[0], 7005);
    assert_int_equal(l.id[1], 7007);
    note_list_free(&l);
    assert_int_equal(store_notification_list(db, S("user"), S("n-bob"), 0, 0, note_fn, &l), MQ_OK);
    assert_int_equal(l.n, 1); /* limit clamped to 1 */
    assert_int_equal(l.id[0], 7002);
    note_list_free(&l);
    assert_int_equal(store_notification_list(db, S("all"), S(""), 0, 10, note_fn, &l), MQ_OK);
    assert_int_equal(l.n, 1);
    assert_copy(l.body[0], S("to all"));
    note_list_free(&l);

    int64_t upto = -1;
    assert_int_equal(store_read_marker_get(db, S("n-bob"), S("n-room"), &upto), MQ_OK);
    assert_int_equal(upto, 0);
    assert_int_equal(store_read_marker_put(db, S("n-bob"), S("n-room"), 42, 1), MQ_OK);
    assert_int_equal(store_read_marker_get(db, S("n-bob"), S("n-room"), &upto), MQ_OK);
    assert_int_equal(upto, 42);
    assert_int_equal(store_read_marker_put(db, S("n-bob"), S("n-room"), INT64_MAX, 2), MQ_OK);
    assert_int_equal(store_read_marker_get(db, S("n-bob"), S("n-room"), &upto), MQ_OK);
    assert_int_equal(upto, INT64_MAX);
    assert_int_equal(store_read_marker_get(db, S("N-bob"), S("n-room"), &upto), MQ_OK);
    assert_int_equal(upto, 0);
}

/* Every marker, as the chat layer loads them at start-up. */
struct marker_list {
    size_t n;
    struct copy user[64], room[64];
    int64_t upto[64];
};

static void marker_fn(void *ctx, struct store_str user, struct store_str room, int64_t upto)
{
    struct marker_list *l = ctx;
    assert_true(l->n < 64);
    l->user[l->n] = dup_str(user);
    l->room[l->n] = dup_str(room);
    l->upto[l->n] = upto;
    l->n++;
}

static void marker_list_free(struct marker_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->user[i].p);
        free(l->room[i].p);
    }
    l->n = 0;
}

/* Index of (user, room) in l, or -1. */
static int marker_find(const struct marker_list *l, struct store_str user, struct store_str room)
{
    for (size_t i = 0; i < l->n; i++)
        if (bytes_cmp(l->user[i].p, l->user[i].len, user.s, user.len) == 0 &&
            bytes_cmp(l->room[i].p, l->room[i].len, room.s, room.len) == 0)
            return (int)i;
    return -1;
}

/* Markers move forward only; the list holds them all, in (user, room)
 * order. */
static void test_read_markers(void **state)
{
    struct db *db = ((struct backend *)*state)->db;
    struct marker_list l = {0};
    int64_t upto = -1;
    assert_int_equal(store_read_marker_put(db, S("rm-alice"), S("lobby"), 1000, 10), MQ_OK);
    assert_int_equal(store_read_marker_put(db, S("rm-alice"), S("lobby"), 999, 11), MQ_OK);
    assert_int_equal(store_read_marker_get(db, S("rm-alice"), S("lobby"), &upto), MQ_OK);
    assert_int_equal(upto, 1000);
    assert_int_equal(store_read_marker_put(db, S("rm-alice"), S("lobby"), 1000, 12), MQ_OK);
    assert_int_equal(store_read_marker_put(db, S("rm-alice"), S("lobby"), 1, 13), MQ_OK);
    assert_int_equal(store_read_marker_get(db, S("rm-alice"), S("lobby"), &upto), MQ_OK);
    assert_int_equal(upto, 1000);
    assert_int_equal(store_read_marker_put(db, S("rm-alice"), S("lobby"), 1001, 14), MQ_OK);
    assert_int_equal(store_read_marker_get(db, S("rm-alice"), S("lobby"), &upto), MQ_OK);
    assert_int_equal(upto, 1001);
    assert_int_equal(store_read_marker_put(db, S("rm-alice"), S("dev"), 5, 15), MQ_OK);
    assert_int_equal(store_read_marker_put(db, S("rm-Alice"), S("lobby"), 7, 16), MQ_OK);
    assert_int_equal(store_read_marker_put(db, S("rm-bob"), S("lobby\0x"), INT64_MAX, 17), MQ_OK);
    assert_int_equal(store_read_marker_put(db, S("rm-bob"), S("lobby\0x"), 3, 18), MQ_OK);

    assert_int_equal(store_read_marker_list(db, marker_fn, &l), MQ_OK);
    int a = marker_find(&l, S("rm-Alice"), S("lobby"));
    int b = marker_find(&l, S("rm-alice"), S("dev"));
    int c = marker_find(&l, S("rm-alice"), S("lobby"));
    int d = marker_find(&l, S("rm-bob"), S("lobby\0x"));
    assert_true(a >= 0 && b == a + 1 && c == b + 1 && d == c + 1);
    assert_int_equal(l.upto[a], 7);
    assert_int_equal(l.upto[b], 5);
    assert_int_equal(l.upto[c], 1001);
    assert_int_equal(l.upto[d], INT64_MAX);
    for (size_t i = 1; i < l.n; i++) {
        int k = bytes_cmp(l.user[i - 1].p, l.user[i - 1].len, l.user[i].p, l.user[i].len);
        assert_true(k < 0 || (k == 0 && bytes_cmp(l.room[i - 1].p, l.room[i - 1].len, l.room[i].p,
                                                  l.room[i].len) < 0));
    }
    marker_list_free(&l);
}

/* ---- the archive
 * --------------------------------------------------------------------------------- */

/* Messages as history returns them. */
struct msg_list {
    size_t n, cap;
    struct {
        int64_t id, ts_ms, node;
        struct copy room, dm_low, dm_high, topic, sender, type, body;
        bool room_null;
    } * a;
};

static void msg_fn(void *ctx, const struct store_message *m)
{
    struct msg_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->a = realloc(l->a, l->cap * sizeof(*l->a));
        assert_non_null(l->a);
    }
    l->a[l->n].id = m->id;
    l->a[l->n].ts_ms = m->ts_ms;
    l->a[l->n].node = m->node;
    l->a[l->n].room = dup_str(m->room);
    l->a[l->n].room_null = m->room.s == NULL;
    l->a[l->n].dm_low = dup_str(m->dm_low);
    l->a[l->n].dm_high = dup_str(m->dm_high);
    l->a[l->n].topic = dup_str(m->topic);
    l->a[l->n].sender = dup_str(m->sender);
    l->a[l->n].type = dup_str(m->type);
    l->a[l->n].body = dup_str(m->body);
    l->n++;
}

static void msg_list_free(struct msg_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->a[i].room.p);
        free(l->a[i].dm_low.p);
        free(l->a[i].dm_high.p);
        free(l->a[i].topic.p);
        free(l->a[i].sender.p);
        free(l->a[i].type.p);
        free(l->a[i].body.p);
    }
    free(l->a);
    memset(l, 0, sizeof(*l));
}

/* A room message with id, body "body-<id>". */
static struct store_message room_msg(struct store_str room, int64_t id, char *body, size_t cap)
{
    int w = snprintf(body, cap, "body-%lld", (long long)id);
    return (struct store_message){.id = id,
                                  .room = room,
                                  .topic = S("chat/room/x"),
                                  .sender = S("a-sender"),
                                  .ts_ms = id * 10,
                                  .type = S("text"),
                                  .body = SB(body, (size_t)w),
                                  .node = 3};
}

static int64_t archive_count(struct db *db)
{
    int64_t n = -1;
    assert_int_equal(store_archive_count(db, &n), MQ_OK);
    return n;
}

static void test_archive_idempotent(void **state)
{
    struct db *db = ((struct backend *)*state)->db;
    enum { N = 300 };
    static char bodies[N][32];
    struct store_message m[N];
    for (int i = 0; i < N; i++)
        m[i] = room_msg(S("a-idem"), 100000 + i, bodies[i], sizeof(bodies[i]));
    int64_t before = archive_count(db), inserted = -1;
    assert_int_equal(store_archive_put(db, m, N, &inserted), MQ_OK);
    assert_int_equal(inserted, N);
    assert_int_equal(archive_count(db), before + N);
    assert_int_equal(store_archive_put(db, m, N, &inserted), MQ_OK);
    assert_int_equal(inserted, 0);
    assert_int_equal(archive_count(db), before + N);
    /* A batch half old, half new. */
    struct store_message more[20];
    static char more_bodies[20][32];
    for (int i = 0; i < 20; i++)
        more[i] = room_msg(S("a-idem"), 100000 + N - 10 + i, more_bodies[i], 32);
    assert_int_equal(store_archive_put(db, more, 20, &inserted), MQ_OK);
    assert_int_equal(inserted, 10);
    assert_int_equal(archive_count(db), before + N + 10);
    assert_int_equal(store_archive_put(db, more, 0, &inserted), MQ_OK);
    assert_int_equal(inserted, 0);
    assert_int_equal(store_archive_put(db, more, 1, NULL), MQ_OK);
}

/* More rows than one statement holds, then sizes that change the cached
 * "other" statement, then the big batch again. */
static void test_archive_many(void **state)
{
    struct db *db = ((struct backend *)*state)->db;
    enum { N = 1000 };
    static char bodies[N][32];
    static struct store_message m[N];
    for (int i = 0; i < N; i++)
        m[i] = room_msg(S("a-many"), 200000 + i, bodies[i], sizeof(bodies[i]));
    int64_t before = archive_count(db), inserted = -1;
    assert_int_equal(store_archive_put(db, m, N, &inserted), MQ_OK);
    assert_int_equal(inserted, N);
    assert_int_equal(archive_count(db), before + N);
    static const size_t sizes[] = {17, 1, 255, 256, 257, 600};
    int64_t next = 300000;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (size_t i = 0; i < sizes[s]; i++)
            m[i] = room_msg(S("a-many2"), next + (int64_t)i, bodies[i], sizeof(bodies[i]));
        assert_int_equal(store_archive_put(db, m, sizes[s], &inserted), MQ_OK);
        assert_int_equal(inserted, (int64_t)sizes[s]);
        next += 1000;
    }

    /* All 1000 of a-many come back (limit clamped to 1000), newest first. */
    struct msg_list l = {0};
    struct store_history_query q = {.room = S("a-many"), .limit = 5000};
    assert_int_equal(store_history(db, &q, msg_fn, &l), MQ_OK);
    assert_int_equal(l.n, N);
    for (size_t i = 0; i < l.n; i++) {
        char want[32];
        int w = snprintf(want, sizeof(want), "body-%lld", (long long)(200000 + N - 1 - (int)i));
        assert_int_equal(l.a[i].id, 200000 + N - 1 - (int64_t)i);
        assert_copy(l.a[i].body, SB(want, (size_t)w));
    }
    msg_list_free(&l);
}

static void check_ids(const struct msg_list *l, int64_t first, int64_t step, size_t n)
{
    assert_int_equal(l->n, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(l->a[i].id, first + step * (int64_t)i);
}

static void test_history(void **state)
{
    struct db *db = ((struct backend *)*state)->db;
    enum { N = 50 };
    static char bodies[3 * N][32];
    struct store_message m[3 * N];
    for (int i = 0; i < N; i++) {
        m[3 * i] = room_msg(S("h-room"), 5001 + i, bodies[3 * i], 32);
        m[3 * i + 1] = room_msg(S("h-other"), 6001 + i, bodies[3 * i + 1], 32);
        m[3 * i + 2] = room_msg(S(""), 8001 + i, bodies[3 * i + 2], 32);
        m[3 * i + 2].dm_low = S("h-alice");
        m[3 * i + 2].dm_high = i % 2 ? S("h-bob") : S("h-carol");
        m[3 * i + 2].type = S("sticker");
    }
    assert_int_equal(store_archive_put(db, m, 3 * N, NULL), MQ_OK);

    struct msg_list l = {0};
    struct store_history_query q = {.room = S("h-room"), .limit = 10};
    assert_int_equal(store_history(db, &q, msg_fn, &l), MQ_OK); /* latest 10, newest first */
    check_ids(&l, 5050, -1, 10);
    assert_copy(l.a[0].room, S("h-room"));
    assert_copy(l.a[0].topic, S("chat/room/x"));
    assert_copy(l.a[0].sender, S("a-sender"));
    assert_copy(l.a[0].type, S("text"));
    assert_copy(l.a[0].body, S("body-5050"));
    assert_int_equal(l.a[0].ts_ms, 50500);
    assert_int_equal(l.a[0].node, 3);
    assert_int_equal(l.a[0].dm_low.len, 0);
    msg_list_free(&l);

    q.before_id = 5041; /* the page before */
    assert_int_equal(store_history(db, &q, msg_fn, &l), MQ_OK);
    check_ids(&l, 5040, -1, 10);
    msg_list_free(&l);
    q.before_id = 5003;
    assert_int_equal(store_history(db, &q, msg_fn, &l), MQ_OK);
    check_ids(&l, 5002, -1, 2);
    msg_list_free(&l);

    q.before_id = 0;
    q.since_id = 5040; /* oldest first from there */
    q.limit = 5;
    assert_int_equal(store_history(db, &q, msg_fn, &l), MQ_OK);
    check_ids(&l, 5041, 1, 5);
    msg_list_free(&l);
    q.since_id = 5045;
    q.limit = 1000;
    assert_int_equal(store_history(db, &q, msg_fn, &l), MQ_OK);
    check_ids(&l, 5046, 1, 5);
    msg_list_free(&l);
    q.since_id = 5050;
    assert_int_equal(store_history(db, &q, msg_fn, &l), MQ_OK);
    assert_int_equal(l.n, 0);
    q.since_id = 0;
    q.limit = 0; /* clamped to 1 */
    assert_int_equal(store_history(db, &q, msg_fn, &l), MQ_OK);
    check_ids(&l, 5050, -1, 1);
    msg_list_free(&l);
    q.limit = -5;
    assert_int_equal(store_history(db, &q, msg_fn, &l), MQ_OK);
    check_ids(&l, 5050, -1, 1);
    msg_list_free(&l);

    /* Direct messages: only the pair asked for. */
    struct store_history_query d = {.dm_low = S("h-alice"), .dm_high = S("h-bob"), .limit = 100};
    assert_int_equal(store_history(db, &d, msg_fn, &l), MQ_OK);
    check_ids(&l, 8050, -2, 25);
    assert_int_equal(l.a[0].room.len, 0);
    assert_true(l.a[0].room_null);
    assert_copy(l.a[0].dm_low, S("h-alice"));
    assert_copy(l.a[0].dm_high, S("h-bob"));
    assert_copy(l.a[0].type, S("sticker"));
    msg_list_free(&l);
    d.since_id = 8001;
    d.limit = 3;
    assert_int_equal(store_history(db, &d, msg_fn, &l), MQ_OK);
    check_ids(&l, 8002, 2, 3);
    msg_list_free(&l);
    d.dm_high = S("h-carol");
    d.since_id = 0;
    d.before_id = 8005;
    assert_int_equal(store_history(db, &d, msg_fn, &l), MQ_OK);
    check_ids(&l, 8003, -2, 2);
    msg_list_free(&l);

    /* Neither or both targets. */
    struct store_history_query bad = {.limit = 10};
    assert_int_equal(store_history(db, &bad, msg_fn, &l), MQ_EINVAL);
    bad.room = S("h-room");
    bad.dm_low = S("h-alice");
    bad.dm_high = S("h-bob");
    assert_int_equal(store_history(db, &bad, msg_fn, &l), MQ_EINVAL);
    assert_int_equal(l.n, 0);

    /* A message with a room and a dm pair, or an over-long room, is refused. */
    struct store_message wrong = m[0];
    wrong.id = 9999;
    wrong.dm_low = S("x");
    wrong.dm_high = S("y");
    assert_int_equal(store_archive_put(db, &wrong, 1, NULL), MQ_EINVAL);
    static char longname[300];
    memset(longname, 'r', sizeof(longname));
    wrong = m[0];
    wrong.room = SB(longname, sizeof(longname));
    assert_int_equal(store_archive_put(db, &wrong, 1, NULL), MQ_EINVAL);
}

/* ---- listing every user and every membership ------------------------------------------ */

/* Every row of a list call, in the order it came (other tests' rows too). */
struct all_rows {
    size_t n, cap;
    struct {
        struct copy a, b, c; /* user: id, hash, role; member: room, user, - */
        int64_t x, y;        /* user: created_ms, -; member: role, joined_ms */
    } * r;
};

static void all_rows_grow(struct all_rows *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 32;
        l->r = realloc(l->r, l->cap * sizeof(*l->r));
        assert_non_null(l->r);
    }
}

static void all_users_fn(void *ctx, const struct store_user *u)
{
    struct all_rows *l = ctx;
    all_rows_grow(l);
    l->r[l->n].a = dup_str(u->id);
    l->r[l->n].b = dup_str(u->password_hash);
    l->r[l->n].c = dup_str(u->role);
    l->r[l->n].x = u->created_ms;
    l->r[l->n].y = 0;
    l->n++;
}

static void all_members_fn(void *ctx, const struct store_member *m)
{
    struct all_rows *l = ctx;
    all_rows_grow(l);
    l->r[l->n].a = dup_str(m->room);
    l->r[l->n].b = dup_str(m->user);
    l->r[l->n].c = dup_str(S(""));
    l->r[l->n].x = m->role;
    l->r[l->n].y = m->joined_ms;
    l->n++;
}

static void all_rows_free(struct all_rows *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->r[i].a.p);
        free(l->r[i].b.p);
        free(l->r[i].c.p);
    }
    free(l->r);
    memset(l, 0, sizeof(*l));
}

/* Index of the row whose (a, b) is (a, b), or -1. */
static int all_rows_find(const struct all_rows *l, struct store_str a, struct store_str b)
{
    for (size_t i = 0; i < l->n; i++)
        if (bytes_cmp(l->r[i].a.p, l->r[i].a.len, a.s, a.len) == 0 &&
            bytes_cmp(l->r[i].b.p, l->r[i].b.len, b.s, b.len) == 0)
            return (int)i;
    return -1;
}

/* Index of the row whose a is a, or -1. */
static int all_rows_find_a(const struct all_rows *l, struct store_str a)
{
    for (size_t i = 0; i < l->n; i++)
        if (bytes_cmp(l->r[i].a.p, l->r[i].a.len, a.s, a.len) == 0)
            return (int)i;
    return -1;
}

static void test_user_list(void **state)
{
    struct db *db = ((struct backend *)*state)->db;
    /* Put out of order; ids that differ in case, length and a NUL byte. */
    const struct store_user users[] = {
        {S("ul-carol"), S("$argon2id$c"), S("display"), 3},
        {S("ul-alice"), S("$argon2id$a"), S("user"), 1},
        {S("UL-alice"), S(""), S("service"), 4},
        {S("ul-al"), S("h\0x"), S("user"), 5},
        {S("ul-al\0ice"), S("nul"), S("user"), 6},
        {S("ul-bob"), S("$argon2id$b"), S("service"), 2},
    };
    enum { NU = sizeof(users) / sizeof(users[0]) };
    struct all_rows l = {0};
    assert_int_equal(store_user_list(db, all_users_fn, &l), MQ_OK);
    for (size_t i = 0; i < NU; i++)
        assert_int_equal(all_rows_find_a(&l, users[i].id), -1);
    size_t before = l.n;
    all_rows_free(&l);

    for (size_t i = 0; i < NU; i++)
        assert_int_equal(store_user_put(db, &users[i]), MQ_OK);
    assert_int_equal(store_user_put(db, &users[1]), MQ_OK); /* a replay: still one row */
    assert_int_equal(store_user_list(db, all_users_fn, &l), MQ_OK);
    assert_int_equal(l.n, before + NU);
    for (size_t i = 1; i < l.n; i++) /* byte order, each id once */
        assert_true(bytes_cmp(l.r[i - 1].a.p, l.r[i - 1].a.len, l.r[i].a.p, l.r[i].a.len) < 0);
    for (size_t i = 0; i < NU; i++) {
        int k = all_rows_find_a(&l, users[i].id);
        assert_true(k >= 0);
        assert_copy(l.r[k].b, users[i].password_hash);
        assert_copy(l.r[k].c, users[i].role);
        assert_int_equal(l.r[k].x, users[i].created_ms);
    }
    /* ul-al < ul-al\0ice < ul-alice: the shorter first, then the NUL byte. */
    int k1 = all_rows_find_a(&l, S("ul-al")), k2 = all_rows_find_a(&l, S("ul-al\0ice"));
    int k3 = all_rows_find_a(&l, S("ul-alice"));
    assert_true(k1 < k2 && k2 < k3);
    all_rows_free(&l);

    for (size_t i = 0; i < NU; i++)
        assert_int_equal(store_user_delete(db, users[i].id), MQ_OK);
    assert_int_equal(store_user_list(db, all_users_fn, &l), MQ_OK);
    assert_int_equal(l.n, before);
    all_rows_free(&l);
}

static void test_member_list_all(void **state)
{
    struct db *db = ((struct backend *)*state)->db;
    const struct store_member members[] = {
        {S("ml-b"), S("zed"), STORE_MEMBER, 10}, {S("ml-a"), S("bob"), STORE_MODERATOR, 11},
        {S("ml-b"), S("amy"), STORE_OWNER, 12},  {S("ml-a"), S("Bob"), STORE_MEMBER, 13},
        {S("ml-a"), S("bo"), STORE_MEMBER, 14},  {S("ml-a\0"), S("amy"), STORE_MEMBER, 15},
        {S("ml-"), S("x\0y"), STORE_OWNER, 16},
    };
    enum { NM = sizeof(members) / sizeof(members[0]) };
    struct all_rows l = {0};
    assert_int_equal(store_member_list_all(db, all_members_fn, &l), MQ_OK);
    size_t before = l.n;
    for (size_t i = 0; i < NM; i++)
        assert_int_equal(all_rows_find(&l, members[i].room, members[i].user), -1);
    all_rows_free(&l);

    for (size_t i = 0; i < NM; i++)
        assert_int_equal(store_member_put(db, &members[i]), MQ_OK);
    struct store_member promote = {S("ml-b"), S("zed"), STORE_MODERATOR, 99};
    assert_int_equal(store_member_put(db, &promote), MQ_OK); /* role changes, joined_ms stays */
    assert_int_equal(store_member_list_all(db, all_members_fn, &l), MQ_OK);
    assert_int_equal(l.n, before + NM);
    for (size_t i = 1; i < l.n; i++) { /* (room, user) in byte order */
        int c = bytes_cmp(l.r[i - 1].a.p, l.r[i - 1].a.len, l.r[i].a.p, l.r[i].a.len);
        if (c == 0)
            c = bytes_cmp(l.r[i - 1].b.p, l.r[i - 1].b.len, l.r[i].b.p, l.r[i].b.len);
        assert_true(c < 0);
    }
    for (size_t i = 0; i < NM; i++) {
        int k = all_rows_find(&l, members[i].room, members[i].user);
        assert_true(k >= 0);
        bool zed = i == 0;
        assert_int_equal(l.r[k].x, zed ? STORE_MODERATOR : (int64_t)members[i].role);
        assert_int_equal(l.r[k].y, members[i].joined_ms);
    }
    /* ml- < ml-a (Bob < bo < bob) < ml-a\0 < ml-b (amy < zed) */
    int order[] = {all_rows_find(&l, S("ml-"), S("x\0y")),   all_rows_find(&l, S("ml-a"), S("Bob")),
                   all_rows_find(&l, S("ml-a"), S("bo")),    all_rows_find(&l, S("ml-a"), S("bob")),
                   all_rows_find(&l, S("ml-a\0"), S("amy")), all_rows_find(&l, S("ml-b"), S("amy")),
                   all_rows_find(&l, S("ml-b"), S("zed"))};
    for (size_t i = 1; i < sizeof(order) / sizeof(order[0]); i++)
        assert_true(order[i - 1] < order[i]);
    all_rows_free(&l);

    /* A deleted room's memberships are gone from the list. */
    struct store_room ra = {S("ml-a"), false, S("bob"), 0, 1};
    assert_int_equal(store_room_put(db, &ra), MQ_OK);
    assert_int_equal(store_room_delete(db, ra.name), MQ_OK);
    assert_int_equal(store_member_list_all(db, all_members_fn, &l), MQ_OK);
    assert_int_equal(l.n, before + NM - 3);
    assert_int_equal(all_rows_find(&l, S("ml-a"), S("bob")), -1);
    all_rows_free(&l);
    for (size_t i = 0; i < NM; i++)
        if (bytes_cmp(members[i].room.s, members[i].room.len, "ml-a", 4) != 0)
            assert_int_equal(store_member_delete(db, members[i].room, members[i].user), MQ_OK);
    assert_int_equal(store_member_list_all(db, all_members_fn, &l), MQ_OK);
    assert_int_equal(l.n, before);
    all_rows_free(&l);
}

/* ---- history from the spool ------------------------------------------------------------------ */

/* Tests write spool rows themselves (the spool writer is spool.c's). */
static const struct db_sql sql_spool_insert = {
    "INSERT INTO spool (id, room, dm_low, dm_high, topic, sender, ts_ms, type, body, node) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    NULL};

static struct db_value nullable(struct store_str s)
{
    return s.len ? DB_B(s.s, s.len) : DB_NIL;
}

static void spool_put(struct db *db, const struct store_message *m)
{
    struct db_value v[] = {DB_I(m->id),
                           nullable(m->room),
                           nullable(m->dm_low),
                           nullable(m->dm_high),
                           DB_B(m->topic.s, m->topic.len),
                           DB_B(m->sender.s, m->sender.len),
                           DB_I(m->ts_ms),
                           DB_B(m->type.s, m->type.len),
                           DB_B(m->body.s, m->body.len),
                           DB_I(m->node)};
    assert_int_equal(db_exec(db, &sql_spool_insert, v, 10, NULL, NULL), MQ_OK);
}

static void test_history_spool(void **state)
{
    struct backend *be = *state;
    struct db *db = be->db;
    struct msg_list l = {0};
    struct store_history_query q = {.room = S("sp-room"), .limit = 10};
    if (be->kind == DB_MYSQL) { /* no spool there */
        assert_int_equal(store_history_spool(db, &q, msg_fn, &l), MQ_EINVAL);
        assert_int_equal(l.n, 0);
        return;
    }
    enum { N = 50 };
    static char bodies[3 * N][32];
    struct store_message m[3 * N];
    for (int i = 0; i < N; i++) {
        m[3 * i] = room_msg(S("sp-room"), 15001 + i, bodies[3 * i], 32);
        m[3 * i + 1] = room_msg(S("sp-other"), 16001 + i, bodies[3 * i + 1], 32);
        m[3 * i + 2] = room_msg(S(""), 18001 + i, bodies[3 * i + 2], 32);
        m[3 * i + 2].dm_low = S("sp-alice");
        m[3 * i + 2].dm_high = i % 2 ? S("sp-bob") : S("sp-carol");
        m[3 * i + 2].type = S("sticker");
    }
    for (int i = 0; i < 3 * N; i++)
        spool_put(db, &m[i]);
    /* The archive is not read: a message there only is not returned; one
     * in both (archived, kept by retention) is, once. */
    static char extra_body[32], dup_body[32];
    struct store_message archived_only = room_msg(S("sp-room"), 15100, extra_body, 32);
    struct store_message dup = room_msg(S("sp-room"), 15050, dup_body, 32);
    assert_int_equal(store_archive_put(db, &archived_only, 1, NULL), MQ_OK);
    assert_int_equal(store_archive_put(db, &dup, 1, NULL), MQ_OK);

    assert_int_equal(store_history_spool(db, &q, msg_fn, &l), MQ_OK); /* latest 10 */
    check_ids(&l, 15050, -1, 10);
    assert_copy(l.a[0].room, S("sp-room"));
    assert_copy(l.a[0].topic, S("chat/room/x"));
    assert_copy(l.a[0].sender, S("a-sender"));
    assert_copy(l.a[0].type, S("text"));
    assert_copy(l.a[0].body, S("body-15050"));
    assert_int_equal(l.a[0].ts_ms, 150500);
    assert_int_equal(l.a[0].node, 3);
    assert_int_equal(l.a[0].dm_low.len, 0);
    msg_list_free(&l);

    q.before_id = 15041;
    assert_int_equal(store_history_spool(db, &q, msg_fn, &l), MQ_OK);
    check_ids(&l, 15040, -1, 10);
    msg_list_free(&l);
    q.before_id = 15003;
    assert_int_equal(store_history_spool(db, &q, msg_fn, &l), MQ_OK);
    check_ids(&l, 15002, -1, 2);
    msg_list_free(&l);
    q.before_id = 0;
    q.since_id = 15040;
    q.limit = 5;
    assert_int_equal(store_history_spool(db, &q, msg_fn, &l), MQ_OK);
    check_ids(&l, 15041, 1, 5);
    msg_list_free(&l);
    q.since_id = 15045;
    q.limit = 5000; /* clamped to 1000 */
    assert_int_equal(store_history_spool(db, &q, msg_fn, &l), MQ_OK);
    check_ids(&l, 15046, 1, 5);
    msg_list_free(&l);
    q.since_id = 15046;
    q.before_id = 15049; /* both: between, oldest first */
    assert_int_equal(store_history_spool(db, &q, msg_fn, &l), MQ_OK);
    check_ids(&l, 15047, 1, 2);
    msg_list_free(&l);
    q.since_id = 15050;
    q.before_id = 0;
    assert_int_equal(store_history_spool(db, &q, msg_fn, &l), MQ_OK);
    assert_int_equal(l.n, 0);
    q.since_id = 0;
    q.limit = 0; /* clamped to 1 */
    assert_int_equal(store_history_spool(db, &q, msg_fn, &l), MQ_OK);
    check_ids(&l, 15050, -1, 1);
    msg_list_free(&l);

    /* Direct messages: only the pair asked for. */
    struct store_history_query d = {.dm_low = S("sp-alice"), .dm_high = S("sp-bob"), .limit = 100};
    assert_int_equal(store_history_spool(db, &d, msg_fn, &l), MQ_OK);
    check_ids(&l, 18050, -2, 25);
    assert_true(l.a[0].room_null);
    assert_copy(l.a[0].dm_low, S("sp-alice"));
    assert_copy(l.a[0].dm_high, S("sp-bob"));
    assert_copy(l.a[0].type, S("sticker"));
    msg_list_free(&l);
    d.since_id = 18001;
    d.limit = 3;
    assert_int_equal(store_history_spool(db, &d, msg_fn, &l), MQ_OK);
    check_ids(&l, 18002, 2, 3);
    msg_list_free(&l);
    d.dm_high = S("sp-carol");
    d.since_id = 0;
    d.before_id = 18005;
    assert_int_equal(store_history_spool(db, &d, msg_fn, &l), MQ_OK);
    check_ids(&l, 18003, -2, 2);
    msg_list_free(&l);
    d.dm_low = S("sp-carol"); /* the pair is ordered: reversed finds nothing */
    d.dm_high = S("sp-alice");
    assert_int_equal(store_history_spool(db, &d, msg_fn, &l), MQ_OK);
    assert_int_equal(l.n, 0);

    /* Neither or both targets. */
    struct store_history_query bad = {.limit = 10};
    assert_int_equal(store_history_spool(db, &bad, msg_fn, &l), MQ_EINVAL);
    bad.room = S("sp-room");
    bad.dm_low = S("sp-alice");
    bad.dm_high = S("sp-bob");
    assert_int_equal(store_history_spool(db, &bad, msg_fn, &l), MQ_EINVAL);
    assert_int_equal(l.n, 0);

    /* The archive's own history is unchanged by the spool. */
    struct store_history_query a = {.room = S("sp-room"), .limit = 10};
    assert_int_equal(store_history(db, &a, msg_fn, &l), MQ_OK);
    check_ids(&l, 15100, -50, 2);
    msg_list_free(&l);
}

/* ---- hostile strings
 * --------------------------------------------------------------------------------- */

static const struct store_str hostile[] = {
    S("alice"),
    S("Alice"),
    S("ALICE"),
    S("o'brien"),
    S("say \"hi\""),
    S("back\\slash\\"),
    S("\\'\\\"%_"),
    S("nul\0inside"),
    S("nul"),
    S("\0"),
    S("\0\0\0"),
    S("emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89"),
    S("Robert'); DROP TABLE users;--"),
    S("x' OR '1'='1"),
    S("trailing space "),
    S("trailing space"),
    S("\xff\xfe not utf-8 \xc3"),
    S("tab\tnewline\ncr\r"),
};
#define NHOSTILE (sizeof(hostile) / sizeof(hostile[0]))

static void test_hostile_strings(void **state)
{
    struct db *db = ((struct backend *)*state)->db;
    for (size_t i = 0; i < NHOSTILE; i++) {
        struct store_user u = {hostile[i], hostile[NHOSTILE - 1 - i], hostile[i], (int64_t)i};
        assert_int_equal(store_user_put(db, &u), MQ_OK);
        struct store_room r = {hostile[i], i % 2, hostile[NHOSTILE - 1 - i], (int64_t)i, 1};
        assert_int_equal(store_room_put(db, &r), MQ_OK);
        assert_int_equal(store_setting_put(db, hostile[i], hostile[i], hostile[i]), MQ_OK);
    }
    for (size_t i = 0; i < NHOSTILE; i++) {
        struct store_user u = {hostile[i], hostile[NHOSTILE - 1 - i], hostile[i], (int64_t)i};
        check_user(db, &u);
        struct room_list l = {0};
        assert_int_equal(store_room_get(db, hostile[i], room_fn, &l), MQ_OK);
        assert_int_equal(l.n, 1);
        struct store_room r = {hostile[i], i % 2, hostile[NHOSTILE - 1 - i], (int64_t)i, 1};
        check_room(&l.a[0], &r);
        room_list_free(&l);
    }
    /* The users table survived Robert, and every name is listed once, in byte order. */
    struct room_list l = {0};
    assert_int_equal(store_room_list(db, room_fn, &l), MQ_OK);
    for (size_t i = 1; i < l.n; i++)
        assert_true(
            bytes_cmp(l.a[i - 1].name.p, l.a[i - 1].name.len, l.a[i].name.p, l.a[i].name.len) < 0);
    for (size_t i = 0; i < NHOSTILE; i++) {
        int seen = 0;
        for (size_t j = 0; j < l.n; j++)
            seen += bytes_cmp(l.a[j].name.p, l.a[j].name.len, hostile[i].s, hostile[i].len) == 0;
        assert_int_equal(seen, 1);
    }
    room_list_free(&l);
    struct setting_list sl = {0};
    assert_int_equal(store_setting_list(db, setting_fn, &sl), MQ_OK);
    for (size_t i = 0; i < NHOSTILE; i++) {
        int k = setting_find(&sl, hostile[i], hostile[i]);
        assert_true(k >= 0);
        assert_copy(sl.value[k], hostile[i]);
    }
    setting_list_free(&sl);

    /* Messages: hostile rooms, senders, topics and bodies. */
    struct store_message m[NHOSTILE];
    for (size_t i = 0; i < NHOSTILE; i++) {
        m[i] = (struct store_message){.id = 400000 + (int64_t)i,
                                      .room = hostile[i],
                                      .topic = hostile[(i + 1) % NHOSTILE],
                                      .sender = hostile[(i + 2) % NHOSTILE],
                                      .ts_ms = 1,
                                      .type = hostile[(i + 3) % NHOSTILE],
                                      .body = hostile[(i + 4) % NHOSTILE],
                                      .node = 1};
    }
    assert_int_equal(store_archive_put(db, m, NHOSTILE, NULL), MQ_OK);
    for (size_t i = 0; i < NHOSTILE; i++) {
        struct msg_list ml = {0};
        struct store_history_query q = {.room = hostile[i], .limit = 10};
        assert_int_equal(store_history(db, &q, msg_fn, &ml), MQ_OK);
        assert_int_equal(ml.n, 1);
        assert_int_equal(ml.a[0].id, m[i].id);
        assert_copy(ml.a[0].room, m[i].room);
        assert_copy(ml.a[0].topic, m[i].topic);
        assert_copy(ml.a[0].sender, m[i].sender);
        assert_copy(ml.a[0].type, m[i].type);
        assert_copy(ml.a[0].body, m[i].body);
        msg_list_free(&ml);
    }
    for (size_t i = 0; i < NHOSTILE; i++) {
        assert_int_equal(store_user_delete(db, hostile[i]), MQ_OK);
        assert_int_equal(store_room_delete(db, hostile[i]), MQ_OK);
        assert_int_equal(store_setting_delete(db, hostile[i], hostile[i]), MQ_OK);
    }
}

/* ---- large values
 * ------------------------------------------------------------------------------------ */

#define MIB (1024 * 1024)

static void test_long_values(void **state)
{
    struct backend *be = *state;
    struct db *db = be->db;
    char *big = malloc(MIB);
    assert_non_null(big);
    for (size_t i = 0; i < MIB; i++)
        big[i] = (char)(i * 7 + i / 251);
    struct store_message m = {.id = 500000,
                              .room = S("l-room"),
                              .topic = S("t"),
                              .sender = S("s"),
                              .type = S("text"),
                              .body = SB(big, MIB),
                              .node = 1};
    assert_int_equal(store_archive_put(db, &m, 1, NULL), MQ_OK);
    struct msg_list l = {0};
    struct store_history_query q = {.room = S("l-room"), .limit = 10};
    assert_int_equal(store_history(db, &q, msg_fn, &l), MQ_OK);
    assert_int_equal(l.n, 1);
    assert_copy(l.a[0].body, SB(big, MIB));
    msg_list_free(&l);

    assert_int_equal(store_decoration_put(db, S("l-user"), SB(big, MIB), 1), MQ_OK);
    struct pair_list pl = {0};
    assert_int_equal(store_decoration_list(db, pair_fn, &pl), MQ_OK);
    int i = pair_find(&pl, S("l-user"), SB(big, MIB));
    assert_true(i >= 0);
    pair_list_free(&pl);
    assert_int_equal(store_decoration_delete(db, S("l-user")), MQ_OK);

    /* 24 MiB in one put: more than MariaDB's default max_allowed_packet
     * (16 MiB), so MySQL gets several statements. */
    enum { NBIG = 24 };
    struct store_message many[NBIG];
    for (int k = 0; k < NBIG; k++) {
        many[k] = m;
        many[k].id = 500100 + k;
        many[k].room = S("l-room2");
    }
    int64_t inserted = -1;
    assert_int_equal(store_archive_put(db, many, NBIG, &inserted), MQ_OK);
    assert_int_equal(inserted, NBIG);
    q.room = S("l-room2");
    q.limit = 2;
    assert_int_equal(store_history(db, &q, msg_fn, &l), MQ_OK);
    assert_int_equal(l.n, 2);
    assert_copy(l.a[1].body, SB(big, MIB));
    msg_list_free(&l);
    free(big);
}

/* ---- db.h itself
 * ----------------------------------------------------------------------------------------- */

static const struct db_sql sql_msg_cols = {
    "SELECT room, dm_low, topic, ts_ms, node, body FROM messages WHERE id = ?",
    "SELECT room, dm_low, topic, ts_ms, node, body FROM messages WHERE id = ?",
};
static const struct db_sql sql_ids_from = {
    "SELECT id FROM messages WHERE id >= ? ORDER BY id",
    "SELECT id FROM messages WHERE id >= ? ORDER BY id",
};

struct values_seen {
    int rows;
    struct db_value v[6];
    struct copy topic, body;
};

static int values_fn(void *ctx, const struct db_value *cols, size_t n)
{
    struct values_seen *s = ctx;
    assert_int_equal(n, 6);
    memcpy(s->v, cols, sizeof(s->v));
    s->topic = dup_str(SB(cols[2].p, cols[2].len));
    s->body = dup_str(SB(cols[5].p, cols[5].len));
    s->rows++;
    return 0;
}

static int stop_after_two(void *ctx, const struct db_value *cols, size_t n)
{
    return ++*(int *)ctx >= 2;
}

static void test_db_values(void **state)
{
    struct db *db = ((struct backend *)*state)->db;
    struct store_message m = {.id = 600000,
                              .topic = S("plain/topic"),
                              .sender = S("s"),
                              .ts_ms = INT64_MIN,
                              .type = S("mqtt"),
                              .body = S(""),
                              .node = INT64_MAX};
    assert_int_equal(store_archive_put(db, &m, 1, NULL), MQ_OK);
    struct values_seen s = {0};
    struct db_value id = DB_I(600000);
    assert_int_equal(db_exec(db, &sql_msg_cols, &id, 1, values_fn, &s), MQ_OK);
    assert_int_equal(s.rows, 1);
    assert_int_equal(s.v[0].type, DB_NULL);
    assert_int_equal(s.v[1].type, DB_NULL);
    assert_int_equal(s.v[2].type, DB_BYTES);
    assert_copy(s.topic, S("plain/topic"));
    assert_int_equal(s.v[3].type, DB_INT);
    assert_true(s.v[3].i == INT64_MIN);
    assert_int_equal(s.v[4].type, DB_INT);
    assert_true(s.v[4].i == INT64_MAX);
    assert_int_equal(s.v[5].type, DB_BYTES); /* empty, not NULL */
    assert_int_equal(s.v[5].len, 0);
    free(s.topic.p);
    free(s.body.p);
    assert_int_equal(db_changes(db), 0);

    /* Stopping early, then the same statement again (no half-read result left). */
    int seen = 0;
    struct db_value from = DB_I(0);
    assert_int_equal(db_exec(db, &sql_ids_from, &from, 1, stop_after_two, &seen), MQ_OK);
    assert_int_equal(seen, 2);
    seen = 0;
    assert_int_equal(db_exec(db, &sql_ids_from, &from, 1, stop_after_two, &seen), MQ_OK);
    assert_int_equal(seen, 2);

    /* Wrong parameter count: an error with a message, and the connection goes on. */
    assert_int_equal(db_exec(db, &sql_ids_from, NULL, 0, NULL, NULL), MQ_EIO);
    assert_true(strlen(db_error(db)) > 0);
    static const struct db_sql bad = {"SELEC nonsense", "SELEC nonsense"};
    assert_int_equal(db_exec(db, &bad, NULL, 0, NULL, NULL), MQ_EIO);
    assert_int_equal(db_backend(db), ((struct backend *)*state)->kind);
    assert_int_equal(archive_count(db) > 0, 1);
}

static void test_transactions(void **state)
{
    struct db *db = ((struct backend *)*state)->db;
    struct store_user u = {S("t-user"), S("h"), S("user"), 1};
    struct user_copy c = {0};
    assert_int_equal(db_rollback(db), MQ_OK); /* outside a transaction */
    assert_int_equal(db_begin(db), MQ_OK);
    assert_int_equal(store_user_put(db, &u), MQ_OK);
    assert_int_equal(db_changes(db), 1);
    assert_int_equal(db_rollback(db), MQ_OK);
    assert_int_equal(store_user_get(db, u.id, user_fn, &c), MQ_ENOTFOUND);
    assert_int_equal(db_begin(db), MQ_OK);
    assert_int_equal(store_user_put(db, &u), MQ_OK);
    assert_int_equal(db_commit(db), MQ_OK);
    check_user(db, &u);
    assert_int_equal(store_user_delete(db, u.id), MQ_OK);
    assert_int_equal(db_rollback(db), MQ_OK);
}

/* ---- migrations
 * ---------------------------------------------------------------------------------------- */

static const struct db_sql sql_versions = {
    "SELECT version FROM schema_version ORDER BY version",
    "SELECT version FROM schema_version ORDER BY version",
};

struct versions {
    size_t n;
    int64_t v[64];
};

static int version_fn(void *ctx, const struct db_value *cols, size_t n)
{
    struct versions *vs = ctx;
    assert_true(vs->n < 64);
    vs->v[vs->n++] = cols[0].i;
    return 0;
}

static void check_versions(const struct backend *be, struct db *db)
{
    const struct schema_migration *list = be->kind == DB_SQLITE ? schema_sqlite : schema_mysql;
    size_t count = be->kind == DB_SQLITE ? schema_sqlite_count : schema_mysql_count;
    struct versions vs = {0};
    assert_int_equal(db_exec(db, &sql_versions, NULL, 0, version_fn, &vs), MQ_OK);
    assert_int_equal(vs.n, count);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(vs.v[i], list[i].version);
    assert_true(count >= 1);
    assert_string_equal(list[0].name, "001_chat");
}

static void test_migrations(void **state)
{
    struct backend *be = *state;
    check_versions(be, be->db);
    struct db *again = open_again(be); /* nothing left to apply */
    check_versions(be, again);
    db_close(again);
    again = open_again(be);
    check_versions(be, again);
    db_close(again);
    check_versions(be, be->db);
}

/* ---- the store thread
 * --------------------------------------------------------------------------------- */

enum { SUBMITTERS = 2, JOBS_EACH = 500 };

struct thread_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int posted;                /* jobs handed back */
    int last_run[SUBMITTERS];  /* seq of the last job run, per submitter (store thread) */
    int last_post[SUBMITTERS]; /* seq of the last job posted, per submitter */
    bool in_order;             /* every job ran and was posted in submission order */
    int failed;                /* jobs whose run failed */
    struct store *st;
};

struct test_job {
    struct store_job job; /* first */
    struct thread_state *ts;
    int submitter, seq;
};

static void job_run(struct db *db, struct store_job *job)
{
    struct test_job *j = (struct test_job *)job;
    if (j->seq != j->ts->last_run[j->submitter] + 1)
        j->ts->in_order = false;
    j->ts->last_run[j->submitter] = j->seq;
    int64_t n;
    job->result = store_archive_count(db, &n);
}

static void job_done(struct store_job *job)
{
    free(job);
}

static void job_post(void *ctx, struct store_job *job)
{
    struct thread_state *ts = ctx;
    struct test_job *j = (struct test_job *)job;
    pthread_mutex_lock(&ts->lock);
    if (j->seq != ts->last_post[j->submitter] + 1)
        ts->in_order = false;
    ts->last_post[j->submitter] = j->seq;
    ts->failed += job->result != MQ_OK;
    ts->posted++;
    pthread_cond_signal(&ts->cond);
    pthread_mutex_unlock(&ts->lock);
    job->done(job);
}

static void submit_one(struct thread_state *ts, int submitter, int seq)
{
    struct test_job *j = calloc(1, sizeof(*j));
    assert_non_null(j);
    j->job = (struct store_job){.run = job_run, .done = job_done, .post = job_post, .post_ctx = ts};
    j->ts = ts;
    j->submitter = submitter;
    j->seq = seq;
    store_submit(ts->st, &j->job);
}

struct submitter_arg {
    struct thread_state *ts;
    int id;
};

static void *submitter_main(void *arg)
{
    struct submitter_arg *a = arg;
    for (int i = 1; i <= JOBS_EACH; i++)
        submit_one(a->ts, a->id, i);
    return NULL;
}

static void test_store_thread(void **state)
{
    struct backend *be = *state;
    static struct thread_state ts;
    memset(&ts, 0, sizeof(ts));
    pthread_mutex_init(&ts.lock, NULL);
    pthread_cond_init(&ts.cond, NULL);
    ts.in_order = true;
    ts.st = store_start(open_again(be));
    assert_non_null(ts.st);

    pthread_t th[SUBMITTERS];
    struct submitter_arg args[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++) {
        args[i] = (struct submitter_arg){&ts, i};
        assert_int_equal(pthread_create(&th[i], NULL, submitter_main, &args[i]), 0);
    }
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_lock(&ts.lock);
    while (ts.posted < SUBMITTERS * JOBS_EACH)
        pthread_cond_wait(&ts.cond, &ts.lock);
    pthread_mutex_unlock(&ts.lock);
    assert_int_equal(ts.posted, SUBMITTERS * JOBS_EACH);

    /* Stopping runs what is still queued. */
    for (int i = 1; i <= 100; i++)
        submit_one(&ts, 0, JOBS_EACH + i);
    store_stop(ts.st);
    assert_int_equal(ts.posted, SUBMITTERS * JOBS_EACH + 100);
    assert_int_equal(ts.last_post[0], JOBS_EACH + 100);
    assert_int_equal(ts.last_post[1], JOBS_EACH);
    assert_true(ts.in_order);
    assert_int_equal(ts.failed, 0);
    store_stop(NULL);
    pthread_cond_destroy(&ts.cond);
    pthread_mutex_destroy(&ts.lock);
}

/* ---- backend-specific
 * -------------------------------------------------------------------------------------- */

/* The name of the first file in the temp directory starting with prefix. */
static bool find_file(const char *prefix, char *name, size_t cap)
{
    DIR *d = opendir(unit_tmpdir());
    assert_non_null(d);
    struct dirent *e;
    bool found = false;
    while (!found && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(name, cap, "%s", e->d_name);
            found = true;
        }
    }
    closedir(d);
    return found;
}

static void read_file(const char *path, char *buf, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    *len = fread(buf, 1, cap, f);
    fclose(f);
}

static void test_sqlite_corrupt(void **state)
{
    char garbage[8192], path[600], name[256], back[8192];
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (char)("not a database, just garbage "[i % 29]);
    snprintf(path, sizeof(path), "%s", unit_tmp_path("corrupt.db"));
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(garbage, 1, sizeof(garbage), f), sizeof(garbage));
    fclose(f);

    struct db *db = NULL;
    assert_int_equal(db_open_sqlite(path, DB_DURABILITY_FULL, &db), MQ_OK);
    assert_true(find_file("corrupt.db.corrupt-", name, sizeof(name)));
    size_t len;
    read_file(unit_tmp_path(name), back, sizeof(back), &len);
    assert_int_equal(len, sizeof(garbage));
    assert_memory_equal(back, garbage, len);
    /* The fresh database works and keeps what it is given. */
    struct store_user u = {S("c-user"), S("h"), S("user"), 1};
    assert_int_equal(store_user_put(db, &u), MQ_OK);
    check_user(db, &u);
    db_close(db);
    assert_int_equal(db_open_sqlite(path, DB_DURABILITY_NORMAL, &db), MQ_OK);
    check_user(db, &u);
    db_close(db);

    /* A file shorter than a page is an empty database to SQLite; a missing
     * directory is an error. */
    unit_write_file("short.db", "x");
    assert_int_equal(db_open_sqlite(unit_tmp_path("short.db"), DB_DURABILITY_NORMAL, &db), MQ_OK);
    db_close(db);
    assert_int_equal(db_open_sqlite("/nonexistent-dir/x/y.db", DB_DURABILITY_NORMAL, &db), MQ_EIO);
}

/* Threads opening one new file at once: every open succeeds, each
 * migration is applied once. */
enum { OPENERS = 4 };

static void *opener_main(void *arg)
{
    struct db *db = NULL;
    int rc = db_open_sqlite(unit_tmp_path("race.db"), DB_DURABILITY_NORMAL, &db);
    *(int *)arg = rc;
    db_close(db);
    return NULL;
}

static void test_sqlite_concurrent_open(void **state)
{
    pthread_t th[OPENERS];
    int rc[OPENERS];
    char path[600];
    snprintf(path, sizeof(path), "%s", unit_tmp_path("race.db"));
    for (int i = 0; i < OPENERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, opener_main, &rc[i]), 0);
    for (int i = 0; i < OPENERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rc[i], MQ_OK);
    }
    struct backend be = {.kind = DB_SQLITE};
    snprintf(be.where, sizeof(be.where), "%s", path);
    struct db *db = open_again(&be);
    check_versions(&be, db);
    db_close(db);
}

static void test_mysql_bad_urls(void **state)
{
    static const char *const urls[] = {
        "",
        "http://u:p@127.0.0.1/db",
        "mysql://u:p@127.0.0.1",
        "mysql://u:p@127.0.0.1/",
        "mysql://u:p@127.0.0.1/?socket=/x",
        "mysql://u:p@127.0.0.1:0/db",
        "mysql://u:p@127.0.0.1:65536/db",
        "mysql://u:p@127.0.0.1:/db",
        "mysql://u:p@127.0.0.1:12x/db",
        "mysql://u%zz:p@127.0.0.1/db",
        "mysql://u:p%4@127.0.0.1/db",
        "mysql://u:p%00@127.0.0.1/db",
        "mysql://u:p@127.0.0.1/db?bogus=1",
        "mysql://u:p@127.0.0.1/db?socket=",
        "mysql://u:p@[::1/db",
        "mysql://u:p@[::1]x/db",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        struct db *db = NULL;
        int rc = db_open_mysql(urls[i], &db);
        if (rc != MQ_EINVAL)
            fail_msg("url %zu '%s': %d", i, urls[i], rc);
        assert_null(db);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_mysql_unreachable(void **state)
{
    struct db *db = NULL;
    double t0 = now_s();
    assert_int_equal(db_open_mysql("mysql://u:p@127.0.0.1:1/db", &db), MQ_EIO);
    assert_int_equal(db_open_mysql("mysql://u:p@[::1]:1/db", &db), MQ_EIO);
    assert_int_equal(db_open_mysql("mysql://u@/db?socket=/nonexistent/mysql.sock", &db), MQ_EIO);
    assert_null(db);
    assert_true(now_s() - t0 < 5.0);
}

/* The server closes an idle connection: MQ_EAGAIN, then db_reconnect(). */
static void test_mysql_gone(void **state)
{
    struct backend *be = *state;
    static const struct db_sql short_timeout = {NULL, "SET SESSION wait_timeout = 1"};
    struct db *db = open_again(be);
    int64_t n;
    assert_int_equal(store_archive_count(db, &n), MQ_OK);
    assert_int_equal(db_exec(db, &short_timeout, NULL, 0, NULL, NULL), MQ_OK);
    sleep(3);
    int rc = store_archive_count(db, &n);
    assert_int_equal(rc, MQ_EAGAIN);
    assert_true(strlen(db_error(db)) > 0);
    assert_int_equal(db_reconnect(db), MQ_OK);
    assert_int_equal(store_archive_count(db, &n), MQ_OK);
    struct store_user u = {S("g-user"), S("h"), S("user"), 1};
    assert_int_equal(store_user_put(db, &u), MQ_OK);
    check_user(db, &u);
    assert_int_equal(store_user_delete(db, u.id), MQ_OK);
    db_close(db);
}

/* ---- groups
 * -------------------------------------------------------------------------------------------- */

static int sqlite_setup(void **state)
{
    if (unit_tmpdir_setup(state) != 0)
        return -1;
    snprintf(sqlite_be.where, sizeof(sqlite_be.where), "%s", unit_tmp_path("store.db"));
    if (db_open_sqlite(sqlite_be.where, DB_DURABILITY_NORMAL, &sqlite_be.db) != MQ_OK)
        return -1;
    *state = &sqlite_be;
    return 0;
}

static int sqlite_teardown(void **state)
{
    db_close(sqlite_be.db);
    sqlite_be.db = NULL;
    return unit_tmpdir_teardown(state);
}

/* CREATE DATABASE / DROP DATABASE of the per-run database (name filled in). */
static char mysql_dbname[64];
static char mysql_create_text[128], mysql_drop_text[128];
static const struct db_sql sql_create_db = {NULL, mysql_create_text};
static const struct db_sql sql_drop_db = {NULL, mysql_drop_text};

/* url with its database replaced by name, into out. */
static int url_with_database(const char *url, const char *name, char *out, size_t cap)
{
    const char *auth = strstr(url, "://");
    const char *slash = auth ? strchr(auth + 3, '/') : NULL;
    if (!slash)
        return -1;
    const char *query = strchr(slash, '?');
    int w = snprintf(out, cap, "%.*s/%s%s", (int)(slash - url), url, name, query ? query : "");
    return w > 0 && (size_t)w < cap ? 0 : -1;
}

/* Runs sql on a connection to the URL's own database. */
static int mysql_admin(const char *url, const struct db_sql *sql)
{
    struct db *db = NULL;
    if (db_open_mysql(url, &db) != MQ_OK)
        return -1;
    int rc = db_exec(db, sql, NULL, 0, NULL, NULL);
    if (rc != MQ_OK)
        fprintf(stderr, "test_store: %s: %s\n", sql->mysql, db_error(db));
    db_close(db);
    return rc == MQ_OK ? 0 : -1;
}

static int mysql_setup(void **state)
{
    const char *url = getenv("MQCHAT_TEST_MYSQL_URL");
    snprintf(mysql_dbname, sizeof(mysql_dbname), "mqchat_store_%ld_%lld", (long)getpid(),
             (long long)time(NULL));
    snprintf(mysql_create_text, sizeof(mysql_create_text), "CREATE DATABASE `%s`", mysql_dbname);
    snprintf(mysql_drop_text, sizeof(mysql_drop_text), "DROP DATABASE IF EXISTS `%s`",
             mysql_dbname);
    if (url_with_database(url, mysql_dbname, mysql_be.where, sizeof(mysql_be.where)) != 0) {
        fprintf(stderr, "test_store: MQCHAT_TEST_MYSQL_URL has no /database\n");
        return -1;
    }
    if (mysql_admin(url, &sql_create_db) != 0)
        return -1;
    if (db_open_mysql(mysql_be.where, &mysql_be.db) != MQ_OK)
        return -1;
    *state = &mysql_be;
    return 0;
}

static int mysql_teardown(void **state)
{
    db_close(mysql_be.db);
    mysql_be.db = NULL;
    return mysql_admin(getenv("MQCHAT_TEST_MYSQL_URL"), &sql_drop_db);
}

#define STORE_TESTS                                                                                \
    cmocka_unit_test(test_migrations), cmocka_unit_test(test_users),                               \
        cmocka_unit_test(test_rooms_and_members), cmocka_unit_test(test_user_list),                \
        cmocka_unit_test(test_member_list_all), cmocka_unit_test(test_blocks),                     \
        cmocka_unit_test(test_decorations_and_settings),                                           \
        cmocka_unit_test(test_notifications_and_markers), cmocka_unit_test(test_read_markers),     \
        cmocka_unit_test(test_blocks_of_one), cmocka_unit_test(test_archive_idempotent),           \
        cmocka_unit_test(test_archive_many), cmocka_unit_test(test_history),                       \
        cmocka_unit_test(test_history_spool), cmocka_unit_test(test_hostile_strings),              \
        cmocka_unit_test(test_long_values), cmocka_unit_test(test_db_values),                      \
        cmocka_unit_test(test_transactions), cmocka_unit_test(test_store_thread)

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        STORE_TESTS,
        cmocka_unit_test(test_sqlite_corrupt),
        cmocka_unit_test(test_sqlite_concurrent_open),
        cmocka_unit_test(test_mysql_bad_urls),
        cmocka_unit_test(test_mysql_unreachable),
    };
    const struct CMUnitTest mysql_tests[] = {
        STORE_TESTS,
        cmocka_unit_test(test_mysql_gone),
    };
    int failed =
        cmocka_run_group_tests_name("store_sqlite", sqlite_tests, sqlite_setup, sqlite_teardown);
    const char *url = getenv("MQCHAT_TEST_MYSQL_URL");
    const char *require = getenv("MQCHAT_REQUIRE_MYSQL");
    if (url && *url) {
        failed +=
            cmocka_run_group_tests_name("store_mysql", mysql_tests, mysql_setup, mysql_teardown);
    } else if (require && strcmp(require, "1") == 0) {
        fprintf(stderr, "test_store: MQCHAT_REQUIRE_MYSQL=1 but MQCHAT_TEST_MYSQL_URL is not set: "
                        "the MySQL suite did not run\n");
        printf("[  FAILED  ] 1 test(s), listed below:\n[  FAILED  ] store_mysql (no server)\n");
        failed++;
    } else {
        fprintf(stderr, "test_store: MQCHAT_TEST_MYSQL_URL not set: MySQL suite skipped\n");
    }
    return failed ? 1 : 0;
}
