/*
 * test_acl.c - unit tests for acl.c: the Mosquitto acl_file.
 *
 * One main file exercises anonymous topics, per-user sections (one user
 * given twice), patterns with %u and %c, deny precedence and SUBSCRIBE
 * coverage; a second checks deny patterns and hostile usernames and client
 * ids; a third table loads one small file per row to probe how a deny entry
 * overlaps a subscription. Rows are {who, topic, access, expected} as in
 * SQLite's between.test. Files live in a mkdtemp() directory removed at
 * the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "acl.h"
#include "errors.h"
#include "unit_helpers.h"

#define R ACL_READ
#define W ACL_WRITE
#define S ACL_SUBSCRIBE

struct row {
    const char *user;   /* NULL: anonymous */
    const char *client; /* client id */
    const char *topic;  /* topic name (R, W) or filter (S) */
    enum acl_access access;
    bool want;
};

static struct acl_db *load_ok(const char *text)
{
    const char *path = unit_write_file("acl", text);
    struct acl_db *db = NULL;
    char err[600] = "";
    int rc = acl_db_load(path, &db, err, sizeof(err));
    if (rc != MQ_OK)
        fail_msg("load: rc %d: %s", rc, err);
    assert_non_null(db);
    return db;
}

static const char *access_name(enum acl_access a)
{
    return a == R ? "read" : a == W ? "write" : a == S ? "subscribe" : "?";
}

static void run_rows(const struct acl_db *db, const struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        bool got = acl_check(db, r->user, r->client, r->topic, strlen(r->topic), r->access);
        if (got != r->want)
            fail_msg("row %zu: %s/%s %s '%s': got %s, want %s", i, r->user ? r->user : "(anon)",
                     r->client, access_name(r->access), r->topic, got ? "allowed" : "refused",
                     r->want ? "allowed" : "refused");
    }
}

static const char main_acl[] = "# Anonymous clients.\n"
                               "topic read public/#\n"
                               "topic lobby\n"
                               "topic deny public/secret/#\n"
                               "topic  read   u/%u  \n"
                               "topic read\n"
                               "topic readwrite foo bar\n"
                               "\n"
                               "user alice\n"
                               "topic readwrite alice/#\n"
                               "topic read a/#\n"
                               "topic write out/+/cmd\n"
                               "topic deny alice/private\n"
                               "\n"
                               "user bob\n"
                               "topic read a/+\n"
                               "topic read $SYS/#\n"
                               "topic read x/y z\n"
                               "\n"
                               "# alice again: her lists merge.\n"
                               "user alice\n"
                               "topic read shared/#\n"
                               "\n"
                               "# Everyone.\n"
                               "pattern readwrite users/%u/#\n"
                               "pattern write devices/%c/state\n"
                               "pattern read %c/inbox\n"
                               "pattern deny users/%u/locked\n";

static void test_anonymous(void **state)
{
    static const struct row rows[] = {
        {NULL, "c1", "public/news", R, true},
        {NULL, "c1", "public/news", W, false},
        {NULL, "c1", "public", R, true},
        {NULL, "c1", "lobby", R, true},
        {NULL, "c1", "lobby", W, true},
        {NULL, "c1", "lobby/x", W, false},
        {NULL, "c1", "public/secret", R, false},
        {NULL, "c1", "public/secret/x", R, false},
        {NULL, "c1", "public/secretive", R, true},
        {NULL, "c1", "u/%u", R, true}, /* %u is literal in topic lines */
        {NULL, "c1", "u/c1", R, false},
        {NULL, "c1", "foo bar", W, true},
        {NULL, "c1", "read", W, true},        /* "topic read": a topic named read */
        {NULL, "c1", "alice/x", R, false},    /* user sections are not for anonymous */
        {NULL, "c1", "users/c1/x", R, false}, /* %u patterns need a username */
        {NULL, "c1", "devices/c1/state", W, true},
        {NULL, "c1", "devices/c2/state", W, false},
        {NULL, "c1", "devices/c1/state", R, false},
        {NULL, "c1", "c1/inbox", R, true},
        {NULL, "c1", "c2/inbox", R, false},
        {NULL, "c1", "public/news/+", S, true},
        {NULL, "c1", "public/+/today", S, false}, /* public/secret/today */
        {NULL, "c1", "public/#", S, false},       /* overlaps the deny */
        {NULL, "c1", "public/+", S, false},       /* matches public/secret */
        {NULL, "c1", "public/secret/x", S, false},
        {NULL, "c1", "#", S, false},
        {NULL, "c1", "lobby", S, true},
        {NULL, "c1", "c1/inbox", S, true},
        {NULL, "c1", "+/inbox", S, false},
        {NULL, "c1", "devices/c1/state", S, false},
    };
    struct acl_db *db = load_ok(main_acl);
    run_rows(db, rows, sizeof(rows) / sizeof(rows[0]));
    acl_db_free(db);
}

static void test_users(void **state)
{
    static const struct row rows[] = {
        {"alice", "phone", "alice/x", R, true},
        {"alice", "phone", "alice/x", W, true},
        {"alice", "phone", "alice", W, true},
        {"alice", "phone", "alice/private", R, false},
        {"alice", "phone", "alice/private", W, false},
        {"alice", "phone", "alice/private/x", R, true},
        {"alice", "phone", "a/b/c", R, true},
        {"alice", "phone", "a/b/c", W, false},
        {"alice", "phone", "out/1/cmd", W, true},
        {"alice", "phone", "out/1/cmd", R, false},
        {"alice", "phone", "out/1/2/cmd", W, false},
        {"alice", "phone", "shared/doc", R, true},   /* from her second section */
        {"alice", "phone", "public/news", R, false}, /* anonymous topics are not hers */
        {"alice", "phone", "users/alice/x", W, true},
        {"alice", "phone", "users/alice", R, true},
        {"alice", "phone", "users/bob/x", R, false},
        {"alice", "phone", "users/alice/locked", W, false},
        {"alice", "phone", "devices/phone/state", W, true},
        {"alice", "phone", "phone/inbox", R, true},
        {"alice", "phone", "a/+/c", S, true}, /* a/# covers it */
        {"alice", "phone", "a/#", S, true},
        {"alice", "phone", "a", S, true},
        {"alice", "phone", "+/b", S, false},
        {"alice", "phone", "alice/#", S, false}, /* overlaps deny alice/private */
        {"alice", "phone", "alice/+/x", S, true},
        {"alice", "phone", "alice/public", S, true},
        {"alice", "phone", "out/+/cmd", S, false},     /* write only */
        {"alice", "phone", "users/alice/#", S, false}, /* overlaps users/alice/locked */
        {"alice", "phone", "users/alice/inbox", S, true},
        {"bob", "b1", "a/b", R, true},
        {"bob", "b1", "a/b/c", R, false},
        {"bob", "b1", "a/+", S, true},
        {"bob", "b1", "a/#", S, false}, /* a/+ does not cover a/# */
        {"bob", "b1", "a", S, false},
        {"bob", "b1", "$SYS/broker/uptime", R, true},
        {"bob", "b1", "$SYS/#", S, true},
        {"bob", "b1", "x/y z", R, true},
        {"bob", "b1", "alice/x", R, false},
        {"bob", "b1", "users/bob/x", R, true},
        {"carol", "c", "users/carol/x", R, true},
        {"carol", "c", "public/news", R, false}, /* a user with no section */
        {"", "c", "users//x", R, true},          /* an empty username is still a name */
        {"Alice", "c", "alice/x", R, false},
    };
    struct acl_db *db = load_ok(main_acl);
    run_rows(db, rows, sizeof(rows) / sizeof(rows[0]));
    acl_db_free(db);
}

/* Values that would reshape a pattern's filter never grant anything. */
static void test_hostile_names(void **state)
{
    static const struct row rows[] = {
        {"+", "c", "users/alice/x", R, false},
        {"+", "c", "users/+/x", S, false},
        {"#", "c", "users/alice/x", R, false},
        {"#", "c", "users/#", S, false},
        {"eve/x", "c", "users/eve/x/y", R, false},
        {"eve/x", "c", "users/eve/x", W, false},
        {"a+b", "c", "users/a+b/x", W, false},
        {"$eve", "c", "users/$eve/x", R, true}, /* '$' only matters as a first level */
        {NULL, "+", "devices/x/state", W, false},
        {NULL, "#", "devices/x/state", W, false},
        {NULL, "#", "x/inbox", R, false},
        {NULL, "a/b", "devices/a/b/state", W, false},
        {NULL, "$SYS", "$SYS/inbox", R, false}, /* %c/inbox must not reach $SYS */
        {NULL, "$SYS", "devices/$SYS/state", W, true},
        {NULL, "+", "lobby", W, true}, /* ordinary entries still apply */
    };
    struct acl_db *db = load_ok(main_acl);
    run_rows(db, rows, sizeof(rows) / sizeof(rows[0]));
    acl_db_free(db);
}

/* A deny pattern: applies per user, and denies everything when its value
 * is hostile. */
static void test_deny_patterns(void **state)
{
    static const struct row rows[] = {
        {"alice", "c", "x", R, true},
        {"alice", "c", "private/alice/x", R, false},
        {"alice", "c", "private/alice", W, false},
        {"alice", "c", "private/bob/x", R, true},
        {"alice", "c", "#", S, false},
        {"alice", "c", "private/+/x", S, false},
        {"alice", "c", "private/bob/#", S, true},
        {"alice", "c", "x/#", S, true},
        {"alice", "c", "$SYS/x", R, false}, /* '#' does not reach $ topics */
        {"alice", "c", "$SYS/#", S, false},
        {"a+b", "c", "x", R, false},
        {"a+b", "c", "x", W, false},
        {"a/b", "c", "x/#", S, false},
        {"#", "c", "private/other/x", R, false},
        {NULL, "c", "private/x/y", R, true}, /* no username: the %u deny does not apply */
        {NULL, "+", "x", R, false},          /* hostile client id meets a %c deny */
        {"alice", "ok", "x", W, true},
        {"alice", "ok", "y/ok/z", W, false},
    };
    struct acl_db *db = load_ok("pattern readwrite #\n"
                                "pattern deny private/%u/#\n"
                                "pattern deny y/%c/z\n");
    run_rows(db, rows, sizeof(rows) / sizeof(rows[0]));
    acl_db_free(db);
}

/* SUBSCRIBE against one deny entry: refused when some topic matches both. */
static void test_deny_overlap(void **state)
{
    static const struct {
        const char *deny, *filter;
        bool want;
    } rows[] = {
        {"a/b", "a/+", false},     {"a/b", "a/c", true},
        {"a/b", "a/b/c", true},    {"a/b", "a/#", false},
        {"a/b", "a", true},        {"a/#", "a", false}, /* a/# matches a */
        {"a/+", "a", true},        {"+/+", "a", true},
        {"+/+", "a/b/c", true},    {"+/+", "a/#", false},
        {"+/+", "+", true},        {"#", "x", false},
        {"#", "+/+/+", false},     {"+/b", "a/+", false},
        {"a/+/c", "+/b/+", false}, {"a/+/c", "+/b/d", true},
        {"a/b/#", "a/+", false},   {"a//b", "a/+/b", false},
        {"a//b", "a/c/b", true},   {"/", "+/+", false},
        {"/", "+", true},          {"/x", "#", false},
        {"$SYS/#", "#", true}, /* "#" never matches $SYS topics */
        {"$SYS/+", "+/x", true},   {"#", "$SYS/x", true},
        {"+/x", "$SYS/x", true},   {"$SYS/+", "$SYS/x", false},
        {"$SYS/#", "$SYS", false}, {"$SYS", "$SYS/#", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "topic read #\ntopic read $SYS/#\ntopic deny %s\n",
                 rows[i].deny);
        struct acl_db *db = load_ok(text);
        const char *f = rows[i].filter;
        bool got = acl_check(db, NULL, "c", f, strlen(f), S);
        if (got != rows[i].want)
            fail_msg("row %zu: deny '%s', subscribe '%s': got %d, want %d", i, rows[i].deny, f, got,
                     rows[i].want);
        acl_db_free(db);
    }
}

/* Files the loader refuses, with the error after "PATH". */
static void test_load_errors(void **state)
{
    static const struct {
        const char *text, *err;
    } rows[] = {
        {"topics read a\n", ":1: unknown keyword 'topics' (expected topic, user or pattern)"},
        {"# c\nTopic a\n", ":2: unknown keyword 'Topic' (expected topic, user or pattern)"},
        {"topic\n", ":1: missing topic"},
        {"topic foo bar\n", ":1: unknown access 'foo' (expected read, write, readwrite or deny)"},
        {"pattern reed a/%u\n",
         ":1: unknown access 'reed' (expected read, write, readwrite or deny)"},
        {"pattern   \n", ":1: missing topic"},
        {"topic read a/#/b\n", ":1: invalid topic filter 'a/#/b'"},
        {"topic a+\n", ":1: invalid topic filter 'a+'"},
        {"\n\n# c\ntopic deny #/a\n", ":4: invalid topic filter '#/a'"},
        {"user\n", ":1: missing user name"},
        {"user alice\ntopic a\nuser   \n", ":3: missing user name"},
        {"pattern read users/x%u\n", ":1: %u and %c must fill a whole topic level in 'users/x%u'"},
        {"pattern read %c%u/x\n", ":1: %u and %c must fill a whole topic level in '%c%u/x'"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *path = unit_write_file("acl", rows[i].text);
        char want[600], err[600] = "";
        snprintf(want, sizeof(want), "%s%s", path, rows[i].err);
        struct acl_db *db = (struct acl_db *)1;
        int rc = acl_db_load(path, &db, err, sizeof(err));
        if (rc != MQ_EINVAL || strcmp(err, want) != 0)
            fail_msg("row %zu: rc %d '%s', want MQ_EINVAL '%s'", i, rc, err, want);
        assert_null(db);
    }

    struct acl_db *db = (struct acl_db *)1;
    char err[600] = "", want[600];
    const char *path = unit_tmp_path("absent");
    snprintf(want, sizeof(want), "%s: No such file or directory", path);
    assert_int_equal(acl_db_load(path, &db, err, sizeof(err)), MQ_EIO);
    assert_string_equal(err, want);
    assert_null(db);
    acl_db_free(NULL);
}

/* An empty file allows nothing; odd arguments are refused, not trusted. */
static void test_edges(void **state)
{
    struct acl_db *db = load_ok("# nothing\n\n");
    static const struct row rows[] = {
        {NULL, "c", "a", R, false},
        {"alice", "c", "a", W, false},
        {"alice", "c", "#", S, false},
    };
    run_rows(db, rows, sizeof(rows) / sizeof(rows[0]));
    acl_db_free(db);

    db = load_ok("topic readwrite #\npattern read in/%c\n");
    assert_true(acl_check(db, NULL, "c", "a", 1, R));
    assert_false(acl_check(db, NULL, "c", "a", 0, R));
    assert_false(acl_check(db, NULL, "c", "a", 1, (enum acl_access)(R | W)));
    assert_false(acl_check(db, NULL, "c", "a", 1, (enum acl_access)0));
    assert_false(acl_check(NULL, NULL, "c", "a", 1, R));
    assert_true(acl_check(db, NULL, "c", "ab", 1, W)); /* length-delimited topic */
    assert_true(acl_check(db, NULL, "c", "in/c", 4, R));
    assert_false(acl_check(db, "u", NULL, "in/c", 4, R)); /* no client id: %c does not apply */

    /* A long client id takes the heap path of the substitution. */
    char id[600], topic[700];
    memset(id, 'x', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    snprintf(topic, sizeof(topic), "in/%s", id);
    assert_true(acl_check(db, "u", id, topic, strlen(topic), R));
    topic[strlen(topic) - 1] = 'y';
    assert_false(acl_check(db, "u", id, topic, strlen(topic), R));
    acl_db_free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anonymous),     cmocka_unit_test(test_users),
        cmocka_unit_test(test_hostile_names), cmocka_unit_test(test_deny_patterns),
        cmocka_unit_test(test_deny_overlap),  cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_edges),
    };
    return cmocka_run_group_tests(tests, unit_tmpdir_setup, unit_tmpdir_teardown);
}
