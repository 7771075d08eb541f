/*
 * test_archiver.c - unit tests for archiver.c, the thread that drains the
 * spool into the archive.
 *
 * Each test plays the spool writer itself: it inserts spool rows straight
 * into a SQLite file in a temporary directory (and moves the counters as
 * spool.c would), starts the archiver on that file, and polls the counters,
 * with a bound, until the rows are archived. Then it reads the archive back
 * through store.h: every row exactly once, every byte as written.
 *
 * Into SQLite: retention (0 drops archived rows at once; N days drops only
 * older ones), the cursor, pending_bytes, a replay from cursor 0 that adds
 * nothing. Into MySQL (MQCHAT_TEST_MYSQL_URL; a failure rather than a skip
 * when MQCHAT_REQUIRE_MYSQL=1): the same in a database of the test's own
 * (mqchat_archiver_test, dropped and created again), and with
 * MQCHAT_TEST_MARIADB_DIR (tests/mariadb.sh's directory) an outage: the
 * server is killed, rows stay pending and archive_up goes false, the server
 * comes back and every row arrives once.
 */
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

#include "archiver.h"
#include "db.h"
#include "errors.h"
#include "spool.h"
#include "store.h"
#include "unit_helpers.h"

#define TEST_DB_NAME "mqchat_archiver_test"
#define WAIT_MS      30000 /* bound for every wait on the archiver */
#define NODE         7
#define ID_BASE      1000000

/* ---- the rows the tests write: row i is a function of i ----------------- */

enum kind { K_ROOM, K_DM, K_MQTT };

struct row {
    enum kind kind;
    char room[32];
    char dm_low[16], dm_high[16];
    char topic[64];
    char sender[32];
    char type[8];
    char body[96];
    size_t room_len, dm_low_len, dm_high_len, topic_len, sender_len, type_len, body_len;
};

static void row_make(int i, struct row *r)
{
    memset(r, 0, sizeof(*r));
    r->kind = (enum kind)(i % 3);
    if (r->kind == K_ROOM) {
        r->room_len = (size_t)snprintf(r->room, sizeof(r->room), "room-%d", i % 5);
        r->topic_len = (size_t)snprintf(r->topic, sizeof(r->topic), "chat/room/%s", r->room);
    } else if (r->kind == K_DM) {
        memcpy(r->dm_low, "alice", 5);
        r->dm_low_len = 5;
        memcpy(r->dm_high, "bo'b\0x", 6); /* a quote and a NUL byte */
        r->dm_high_len = 6;
        r->topic_len = (size_t)snprintf(r->topic, sizeof(r->topic), "chat/dm/alice");
    } else {
        r->topic_len = (size_t)snprintf(r->topic, sizeof(r->topic), "sensors/%d/t", i);
    }
    r->sender_len = (size_t)snprintf(r->sender, sizeof(r->sender), "user-%d", i % 7);
    r->type_len =
        (size_t)snprintf(r->type, sizeof(r->type), "%s", r->kind == K_MQTT ? "mqtt" : "text");
    /* Bytes no string escaping survives: NUL, quotes, backslash, UTF-8, 0xff. */
    static const char tail[] = "\0'\"\\ \xc3\xa9 \xff;--";
    int n = snprintf(r->body, sizeof(r->body), "message %d ", i);
    size_t extra = (size_t)(i % 40);
    memcpy(r->body + n, tail, sizeof(tail) - 1);
    memset(r->body + n + sizeof(tail) - 1, 'x', extra);
    r->body_len = (size_t)n + sizeof(tail) - 1 + extra;
}

static struct db_value opt_bytes(const char *p, size_t n)
{
    return n ? DB_B(p, n) : DB_NIL;
}

static const struct db_sql sql_insert = {
    "INSERT INTO spool(id, room, dm_low, dm_high, topic, sender, ts_ms, type, body, node) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    NULL,
};
static const struct db_sql sql_cursor = {
    "SELECT value FROM spool_state WHERE key = 'archived_seq'",
    NULL,
};
static const struct db_sql sql_cursor_reset = {
    "INSERT OR REPLACE INTO spool_state(key, value) VALUES ('archived_seq', 0)",
    NULL,
};
static const struct db_sql sql_spool_count = {
    "SELECT COUNT(*) FROM spool",
    NULL,
};
static const struct db_sql sql_spool_min = {
    "SELECT MIN(seq) FROM spool",
    NULL,
};
static const struct db_sql sql_spool_clear = {
    "DELETE FROM spool",
    NULL,
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Inserts rows from..from+n-1 with ts_ms, as the spool writer would (and
 * moves committed_seq and pending_bytes as it does). Returns the last seq. */
static int64_t spool_fill(struct db *db, struct spool_counters *c, int from, int n, int64_t ts)
{
    int64_t bytes = 0;
    int64_t seq = 0;
    assert_int_equal(db_begin(db), MQ_OK);
    for (int i = from; i < from + n; i++) {
        struct row r;
        row_make(i, &r);
        struct db_value p[10] = {
            DB_I(ID_BASE + i),
            opt_bytes(r.room, r.room_len),
            opt_bytes(r.dm_low, r.dm_low_len),
            opt_bytes(r.dm_high, r.dm_high_len),
            DB_B(r.topic, r.topic_len),
            DB_B(r.sender, r.sender_len),
            DB_I(ts),
            DB_B(r.type, r.type_len),
            DB_B(r.body, r.body_len),
            DB_I(NODE),
        };
        assert_int_equal(db_exec(db, &sql_insert, p, 10, NULL, NULL), MQ_OK);
        seq = db_last_id(db);
        bytes += (int64_t)r.body_len;
    }
    assert_int_equal(db_commit(db), MQ_OK);
    atomic_store(&c->committed_seq, seq);
    atomic_fetch_add(&c->pending_bytes, bytes);
    return seq;
}

static int int_row(void *ctx, const struct db_value *cols, size_t ncols)
{
    assert_true(ncols >= 1);
    assert_int_equal(cols[0].type, DB_INT);
    *(int64_t *)ctx = cols[0].i;
    return 0;
}

static int64_t query_int(struct db *db, const struct db_sql *sql)
{
    int64_t v = -1;
    assert_int_equal(db_exec(db, sql, NULL, 0, int_row, &v), MQ_OK);
    return v;
}

static int64_t archive_count(struct db *db)
{
    int64_t n = -1;
    assert_int_equal(store_archive_count(db, &n), MQ_OK);
    return n;
}

/* Polls until counters->archived_seq reaches seq; false after WAIT_MS. */
static bool wait_archived(struct spool_counters *c, int64_t seq)
{
    for (int t = 0; t < WAIT_MS / 10; t++) {
        if (atomic_load(&c->archived_seq) >= seq)
            return true;
        sleep_ms(10);
    }
    return false;
}

/* ---- reading the archive back ---------------------------------------- */

static bool str_eq(struct store_str s, const char *p, size_t n)
{
    return s.len == n && (n == 0 || memcmp(s.s, p, n) == 0);
}

struct seen {
    int64_t n;
    int64_t first, end; /* ids expected: first <= id - ID_BASE < end */
};

static void check_message(void *ctx, const struct store_message *m)
{
    struct seen *seen = ctx;
    int i = (int)(m->id - ID_BASE);
    assert_true(i >= seen->first && i < seen->end);
    struct row r;
    row_make(i, &r);
    assert_true(str_eq(m->room, r.room, r.room_len));
    assert_true(str_eq(m->dm_low, r.dm_low, r.dm_low_len));
    assert_true(str_eq(m->dm_high, r.dm_high, r.dm_high_len));
    assert_true(str_eq(m->topic, r.topic, r.topic_len));
    assert_true(str_eq(m->sender, r.sender, r.sender_len));
    assert_true(str_eq(m->type, r.type, r.type_len));
    assert_true(str_eq(m->body, r.body, r.body_len));
    assert_int_equal(m->node, NODE);
    seen->n++;
}

/* Checks that rows first..end-1 are archived once each: the total count,
 * and every room and DM message read back through store_history. */
static void check_archive(struct db *db, int first, int end)
{
    assert_int_equal(archive_count(db), end - first);
    int64_t want[6] = {0}; /* rooms 0..4, then the DM pair */
    for (int i = first; i < end; i++) {
        if (i % 3 == K_ROOM)
            want[i % 5]++;
        else if (i % 3 == K_DM)
            want[5]++;
    }
    for (int k = 0; k < 6; k++) {
        struct seen seen = {0, first, end};
        char room[24];
        struct store_history_query q = {.limit = 1000};
        if (k < 5) {
            snprintf(room, sizeof(room), "room-%d", k);
            q.room = STORE_STR(room);
        } else {
            q.dm_low = (struct store_str){"alice", 5};
            q.dm_high = (struct store_str){"bo'b\0x", 6};
        }
        assert_true(want[k] < q.limit); /* one page holds them all */
        assert_int_equal(store_history(db, &q, check_message, &seen), MQ_OK);
        assert_int_equal(seen.n, want[k]);
    }
}

/* ---- SQLite ------------------------------------------------------------ */

struct env {
    struct spool_counters c;
    struct db *db; /* the test's own connection to the spool file */
    char path[512];
};

static void env_open(struct env *e, const char *name)
{
    memset(&e->c, 0, sizeof(e->c));
    snprintf(e->path, sizeof(e->path), "%s", unit_tmp_path(name));
    assert_int_equal(db_open_sqlite(e->path, DB_DURABILITY_NORMAL, &e->db), MQ_OK);
}

static struct archiver *start(struct env *e, const char *mysql_url, int retention_days,
                              unsigned batch)
{
    struct archiver_config cfg = {
        .sqlite_path = e->path,
        .mysql_url = mysql_url,
        .retention_days = retention_days,
        .batch = batch,
        .idle_ms = 5,
    };
    struct archiver *a = archiver_start(&cfg, &e->c);
    assert_non_null(a);
    return a;
}

static void test_sqlite_keep(void **state)
{
    struct env e;
    env_open(&e, "keep.db");
    int64_t now = now_ms();
    /* 40 old rows (beyond 7 days) then 2460 fresh ones, all before start. */
    spool_fill(e.db, &e.c, 0, 40, now - 30 * 86400000LL);
    int64_t last = spool_fill(e.db, &e.c, 40, 2460, now);
    struct archiver *a = start(&e, NULL, 7, 1000);
    assert_true(wait_archived(&e.c, last));
    /* More while it runs (a partial batch after full ones). */
    last = spool_fill(e.db, &e.c, 2500, 321, now);
    assert_true(wait_archived(&e.c, last));
    /* The old rows go at the first retention pass (which follows the
     * first round); the fresh ones stay. */
    for (int t = 0; t < WAIT_MS / 10 && query_int(e.db, &sql_spool_count) != 2781; t++)
        sleep_ms(10);
    archiver_stop(a);

    assert_int_equal(query_int(e.db, &sql_spool_count), 2781);
    assert_int_equal(query_int(e.db, &sql_cursor), last);
    assert_int_equal(atomic_load(&e.c.archived_seq), last);
    assert_int_equal(atomic_load(&e.c.archived), 2821);
    assert_int_equal(atomic_load(&e.c.pending_bytes), 0);
    assert_true(atomic_load(&e.c.archive_up));
    assert_int_equal(atomic_load(&e.c.archive_errors), 0);
    check_archive(e.db, 0, 2821);

    /* Replay from cursor 0: nothing is archived twice. */
    assert_int_equal(db_exec(e.db, &sql_cursor_reset, NULL, 0, NULL, NULL), MQ_OK);
    memset(&e.c, 0, sizeof(e.c));
    a = start(&e, NULL, 7, 500);
    assert_true(wait_archived(&e.c, last));
    archiver_stop(a);
    assert_int_equal(atomic_load(&e.c.pending_bytes), 0);
    check_archive(e.db, 0, 2821);
    db_close(e.db);
}

static void test_sqlite_retention0(void **state)
{
    struct env e;
    env_open(&e, "drop.db");
    int64_t last = spool_fill(e.db, &e.c, 0, 1500, now_ms());
    struct archiver *a = start(&e, NULL, 0, 0); /* default batch */
    assert_true(wait_archived(&e.c, last));
    last = spool_fill(e.db, &e.c, 1500, 77, now_ms());
    assert_true(wait_archived(&e.c, last));
    archiver_stop(a);
    /* Only the row at the cursor stays (so that seqs keep growing). */
    assert_int_equal(query_int(e.db, &sql_spool_count), 1);
    assert_int_equal(query_int(e.db, &sql_spool_min), last);
    assert_int_equal(query_int(e.db, &sql_cursor), last);
    assert_int_equal(atomic_load(&e.c.pending_bytes), 0);
    assert_int_equal(atomic_load(&e.c.archived), 1577);
    check_archive(e.db, 0, 1577);

    /* A restart with the spool drained: the cursor is kept, nothing pending. */
    memset(&e.c, 0, sizeof(e.c));
    a = start(&e, NULL, 0, 0);
    assert_int_equal(atomic_load(&e.c.archived_seq), last);
    assert_int_equal(atomic_load(&e.c.pending_bytes), 0);
    archiver_stop(a);

    /* Someone empties the spool: new rows restart at seq 1, below the
     * cursor. The archiver starts over from 0 and still archives them. */
    assert_int_equal(db_exec(e.db, &sql_spool_clear, NULL, 0, NULL, NULL), MQ_OK);
    memset(&e.c, 0, sizeof(e.c));
    last = spool_fill(e.db, &e.c, 1577, 23, now_ms());
    assert_true(last < 1577);
    a = start(&e, NULL, 0, 0);
    assert_true(wait_archived(&e.c, last));
    archiver_stop(a);
    assert_int_equal(atomic_load(&e.c.pending_bytes), 0);
    assert_int_equal(query_int(e.db, &sql_cursor), last);
    check_archive(e.db, 0, 1600);
    db_close(e.db);
}

/* pending_bytes at start counts the rows past the cursor only. An archive
 * that cannot be reached (nothing listens on port 1) keeps the value still
 * while we look, and shows the outage bookkeeping. */
static void test_pending_at_start(void **state)
{
    struct env e;
    env_open(&e, "pending.db");
    int64_t first = spool_fill(e.db, &e.c, 0, 10, now_ms());
    struct archiver *a = start(&e, NULL, 7, 0);
    assert_true(wait_archived(&e.c, first));
    archiver_stop(a);
    int64_t bytes = 0;
    for (int i = 10; i < 30; i++) {
        struct row r;
        row_make(i, &r);
        bytes += (int64_t)r.body_len;
    }
    int64_t last = spool_fill(e.db, &e.c, 10, 20, now_ms());

    memset(&e.c, 0, sizeof(e.c));
    a = start(&e, "mysql://nobody:x@127.0.0.1:1/none", 7, 0);
    assert_int_equal(atomic_load(&e.c.pending_bytes), bytes);
    assert_int_equal(atomic_load(&e.c.archived_seq), first);
    for (int t = 0; t < WAIT_MS / 10 && atomic_load(&e.c.archive_errors) < 2; t++)
        sleep_ms(10);
    assert_true(atomic_load(&e.c.archive_errors) >= 2); /* retried */
    assert_false(atomic_load(&e.c.archive_up));
    assert_int_equal(atomic_load(&e.c.pending_bytes), bytes);
    assert_int_equal(atomic_load(&e.c.archived_seq), first);
    archiver_stop(a);

    memset(&e.c, 0, sizeof(e.c));
    a = start(&e, "", 7, 0); /* "" = SQLite */
    assert_true(wait_archived(&e.c, last));
    archiver_stop(a);
    assert_int_equal(atomic_load(&e.c.pending_bytes), 0);
    assert_int_equal(atomic_load(&e.c.archived), 20);
    check_archive(e.db, 0, 30);
    db_close(e.db);
}

static void test_start_fails_cleanly(void **state)
{
    struct spool_counters c;
    memset(&c, 0, sizeof(c));
    struct archiver_config cfg = {.sqlite_path = "/nonexistent-dir/x/y.db"};
    assert_null(archiver_start(&cfg, &c));
    assert_null(archiver_start(NULL, &c));
    archiver_stop(NULL);
}

/* ---- MySQL ------------------------------------------------------------- */

static char test_url[1024]; /* the test database's URL, set by mysql_setup */

static const struct db_sql sql_drop_db = {NULL, "DROP DATABASE IF EXISTS " TEST_DB_NAME};
static const struct db_sql sql_create_db = {NULL, "CREATE DATABASE " TEST_DB_NAME};

/* Skips (or fails, with MQCHAT_REQUIRE_MYSQL=1) without a server; else
 * makes an empty test database and its URL in test_url. */
static bool mysql_setup(void)
{
    const char *url = getenv("MQCHAT_TEST_MYSQL_URL");
    const char *req = getenv("MQCHAT_REQUIRE_MYSQL");
    if (!url || !*url) {
        if (req && strcmp(req, "1") == 0)
            fail_msg("MQCHAT_REQUIRE_MYSQL=1 but MQCHAT_TEST_MYSQL_URL is not set");
        return false;
    }
    /* The same URL with the database path replaced. */
    const char *q = strchr(url, '?');
    size_t end = q ? (size_t)(q - url) : strlen(url);
    size_t slash = end;
    while (slash > 0 && url[slash - 1] != '/')
        slash--;
    assert_true(slash > 0 && strstr(url, "://") && slash > (size_t)(strstr(url, "://") - url) + 3);
    int n =
        snprintf(test_url, sizeof(test_url), "%.*s%s%s", (int)slash, url, TEST_DB_NAME, q ? q : "");
    assert_true(n > 0 && (size_t)n < sizeof(test_url));

    struct db *db;
    assert_int_equal(db_open_mysql(url, &db), MQ_OK);
    assert_int_equal(db_exec(db, &sql_drop_db, NULL, 0, NULL, NULL), MQ_OK);
    assert_int_equal(db_exec(db, &sql_create_db, NULL, 0, NULL, NULL), MQ_OK);
    db_close(db);
    return true;
}

/* sh DIR/ctl CMD (tests/mariadb.sh on the suite's server). */
static void mariadb_ctl(const char *dir, const char *cmd)
{
    char line[1024];
    snprintf(line, sizeof(line), "sh '%s/ctl' %s >/dev/null", dir, cmd);
    assert_int_equal(system(line), 0);
}

static void test_mysql(void **state)
{
    if (!mysql_setup())
        skip();
    struct env e;
    env_open(&e, "mysql.db");
    struct db *my;
    assert_int_equal(db_open_mysql(test_url, &my), MQ_OK);

    int64_t last = spool_fill(e.db, &e.c, 0, 2600, now_ms());
    struct archiver *a = start(&e, test_url, 7, 1000);
    assert_true(wait_archived(&e.c, last));
    last = spool_fill(e.db, &e.c, 2600, 150, now_ms());
    assert_true(wait_archived(&e.c, last));
    archiver_stop(a);
    assert_int_equal(query_int(e.db, &sql_cursor), last);
    assert_int_equal(atomic_load(&e.c.pending_bytes), 0);
    assert_int_equal(atomic_load(&e.c.archived), 2750);
    assert_true(atomic_load(&e.c.archive_up));
    assert_int_equal(query_int(e.db, &sql_spool_count), 2750); /* retention 7 days */
    check_archive(my, 0, 2750);

    /* Idempotence: from cursor 0 again, MySQL gains nothing. */
    assert_int_equal(db_exec(e.db, &sql_cursor_reset, NULL, 0, NULL, NULL), MQ_OK);
    memset(&e.c, 0, sizeof(e.c));
    a = start(&e, test_url, 0, 700); /* and retention 0 this time */
    assert_true(wait_archived(&e.c, last));
    archiver_stop(a);
    assert_int_equal(atomic_load(&e.c.archived), 2750);
    assert_int_equal(atomic_load(&e.c.pending_bytes), 0);
    assert_int_equal(query_int(e.db, &sql_spool_count), 1);
    check_archive(my, 0, 2750);

    db_close(my);
    db_close(e.db);
}

/* Closes, server side, every connection to the test database (as the
 * server's wait_timeout does to an idle one). */
static void mariadb_kill_connections(const char *dir)
{
    char line[2048];
    snprintf(line, sizeof(line),
             "for id in $(mariadb --no-defaults -S '%s/sock' -u root -N -e "
             "\"SELECT id FROM information_schema.processlist WHERE db = '" TEST_DB_NAME "'\"); "
             "do mariadb --no-defaults -S '%s/sock' -u root -e \"KILL $id\" || exit 1; done",
             dir, dir);
    assert_int_equal(system(line), 0);
}

static void test_mysql_outage(void **state)
{
    if (!mysql_setup())
        skip();
    const char *dir = getenv("MQCHAT_TEST_MARIADB_DIR");
    if (!dir || !*dir) {
        const char *req = getenv("MQCHAT_REQUIRE_MYSQL");
        if (req && strcmp(req, "1") == 0)
            fail_msg("MQCHAT_REQUIRE_MYSQL=1 but MQCHAT_TEST_MARIADB_DIR is not set");
        skip();
    }
    struct env e;
    env_open(&e, "outage.db");
    int64_t last = spool_fill(e.db, &e.c, 0, 500, now_ms());
    struct archiver *a = start(&e, test_url, 0, 200);
    assert_true(wait_archived(&e.c, last));
    assert_true(atomic_load(&e.c.archive_up));

    /* The server closes the (idle) connection: reconnected at once, not
     * counted as a failure. */
    mariadb_kill_connections(dir);
    last = spool_fill(e.db, &e.c, 500, 100, now_ms());
    assert_true(wait_archived(&e.c, last));
    assert_true(atomic_load(&e.c.archive_up));
    assert_int_equal(atomic_load(&e.c.archive_errors), 0);

    /* The server goes away; chat goes on into the spool. */
    mariadb_ctl(dir, "kill");
    int64_t before = last;
    last = spool_fill(e.db, &e.c, 600, 450, now_ms());
    for (int t = 0; t < WAIT_MS / 10 && atomic_load(&e.c.archive_up); t++)
        sleep_ms(10);
    assert_false(atomic_load(&e.c.archive_up));
    sleep_ms(800); /* a few retries */
    assert_true(atomic_load(&e.c.archive_errors) >= 2);
    assert_int_equal(atomic_load(&e.c.archived_seq), before);
    assert_true(atomic_load(&e.c.pending_bytes) > 0);
    assert_int_equal(query_int(e.db, &sql_spool_count), 1 + 450);

    /* Stopping while the archive is away is prompt; a start then too. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    archiver_stop(a);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 3);
    a = start(&e, test_url, 0, 200);
    last = spool_fill(e.db, &e.c, 1050, 50, now_ms());
    sleep_ms(300);
    assert_false(atomic_load(&e.c.archive_up));
    assert_int_equal(atomic_load(&e.c.archived_seq), before);

    /* Back: every row arrives, once. */
    mariadb_ctl(dir, "start-again");
    assert_true(wait_archived(&e.c, last));
    assert_true(atomic_load(&e.c.archive_up));
    archiver_stop(a);
    assert_int_equal(atomic_load(&e.c.pending_bytes), 0);
    assert_int_equal(query_int(e.db, &sql_spool_count), 1);
    struct db *my;
    assert_int_equal(db_open_mysql(test_url, &my), MQ_OK);
    check_archive(my, 0, 1100);
    db_close(my);
    db_close(e.db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_keep),
        cmocka_unit_test(test_sqlite_retention0),
        cmocka_unit_test(test_pending_at_start),
        cmocka_unit_test(test_start_fails_cleanly),
        cmocka_unit_test(test_mysql),
        cmocka_unit_test(test_mysql_outage),
    };
    return cmocka_run_group_tests(tests, unit_tmpdir_setup, unit_tmpdir_teardown);
}
