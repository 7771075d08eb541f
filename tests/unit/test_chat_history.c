/*
 * test_chat_history.c - pages of history (broker/chat_history.c) read from
 * real SQLite databases in a temporary directory: a spool in its own file
 * next to an archive (the MySQL layout, with SQLite standing in for
 * MySQL) and both in one file (the SQLite layout); merging, duplicates,
 * the archiver's cursor, since/before/limit, rows that are no envelope,
 * a database that fails. Then the `since` arithmetic with the history
 * window, and the MQTT request's JSON, hostile inputs included (a table
 * of cases, then random mutations of valid requests).
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

#include "chat_history.h"
#include "db.h"
#include "errors.h"
#include "json.h"
#include "msgid.h"
#include "store.h"
#include "unit_helpers.h"

#define S(lit) ((struct store_str){(lit), sizeof(lit) - 1})

/* The databases of the suite: an archive and a separate spool, and one
 * file holding both. */
static struct db *archive_db, *spool_db, *one_db;

/* ---- filling the databases ------------------------------------------------------------------ */

/* Tests write spool rows themselves (the spool writer is spool.c's). */
static const struct db_sql sql_spool_insert = {
    "INSERT INTO spool (id, room, dm_low, dm_high, topic, sender, ts_ms, type, body, node) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    NULL};
static const struct db_sql sql_cursor = {
    "INSERT INTO spool_state (key, value) VALUES ('archived_seq', ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    NULL};
static const struct db_sql sql_max_seq = {"SELECT COALESCE(MAX(seq), 0) FROM spool", NULL};
static const struct db_sql sql_drop_messages = {"DROP TABLE messages", NULL};

/* The body of row id: an envelope, or something else for the ids that
 * bad_body() names. Written into buf. */
static struct store_str body_of(int64_t id, const char *bad, char *buf, size_t cap)
{
    int w = bad ? snprintf(buf, cap, "%s", bad)
                : snprintf(buf, cap, "{\"id\":\"%lld\"}", (long long)id);
    return (struct store_str){buf, (size_t)w};
}

/* A message of room (or of the dm pair when room is NULL). */
static struct store_message msg(const char *room, int64_t id, struct store_str body)
{
    struct store_message m = {.id = id,
                              .topic = S("chat/room/x"),
                              .sender = S("alice"),
                              .ts_ms = id,
                              .type = S("text"),
                              .body = body,
                              .node = 1};
    if (room) {
        m.room = (struct store_str){room, strlen(room)};
    } else {
        m.dm_low = S("alice");
        m.dm_high = S("bob");
    }
    return m;
}

static void archive_put(struct db *db, const char *room, int64_t id, const char *bad)
{
    char buf[64];
    struct store_message m = msg(room, id, body_of(id, bad, buf, sizeof(buf)));
    assert_int_equal(store_archive_put(db, &m, 1, NULL), MQ_OK);
}

static void spool_put(struct db *db, const char *room, int64_t id, const char *bad)
{
    char buf[64];
    struct store_message m = msg(room, id, body_of(id, bad, buf, sizeof(buf)));
    struct db_value v[] = {DB_I(m.id),
                           m.room.len ? DB_B(m.room.s, m.room.len) : DB_NIL,
                           m.dm_low.len ? DB_B(m.dm_low.s, m.dm_low.len) : DB_NIL,
                           m.dm_high.len ? DB_B(m.dm_high.s, m.dm_high.len) : DB_NIL,
                           DB_B(m.topic.s, m.topic.len),
                           DB_B(m.sender.s, m.sender.len),
                           DB_I(m.ts_ms),
                           DB_B(m.type.s, m.type.len),
                           DB_B(m.body.s, m.body.len),
                           DB_I(m.node)};
    assert_int_equal(db_exec(db, &sql_spool_insert, v, 10, NULL, NULL), MQ_OK);
}

static int int_row(void *ctx, const struct db_value *c, size_t n)
{
    *(int64_t *)ctx = c[0].i;
    return 1;
}

/* Marks every spool row written so far as archived. */
static void spool_archived_so_far(struct db *db)
{
    int64_t seq = 0;
    assert_int_equal(db_exec(db, &sql_max_seq, NULL, 0, int_row, &seq), MQ_OK);
    struct db_value v[] = {DB_I(seq)};
    assert_int_equal(db_exec(db, &sql_cursor, v, 1, NULL, NULL), MQ_OK);
}

/*
 * Room "lobby", the same rows in both layouts:
 *   archive: 1001..1060; 1010 is plain text, 1030 a JSON array, 1020 an
 *            envelope after blanks;
 *   spool:   1041..1050 archived already (past the cursor: never read;
 *            their bodies say "stale"), then 1051..1080 not archived yet
 *            (1051..1060 copied to the archive meanwhile: in both), 1070
 *            plain text.
 * Room "dev": 3001..3005 in the archive, 3100 in the spool.
 * alice/bob: 2001..2010 archived, 2008..2015 in the spool.
 */
static void fill(struct db *archive, struct db *spool)
{
    for (int64_t id = 1001; id <= 1060; id++)
        archive_put(archive, "lobby", id,
                    id == 1010   ? "plain text"
                    : id == 1030 ? "[1]"
                    : id == 1020 ? " \n\t{\"id\":\"1020\"}"
                                 : NULL);
    for (int64_t id = 3001; id <= 3005; id++)
        archive_put(archive, "dev", id, NULL);
    for (int64_t id = 2001; id <= 2010; id++)
        archive_put(archive, NULL, id, NULL);
    for (int64_t id = 1041; id <= 1050; id++)
        spool_put(spool, "lobby", id, "{\"stale\":true}");
    spool_archived_so_far(spool);
    for (int64_t id = 1051; id <= 1080; id++)
        spool_put(spool, "lobby", id, id == 1070 ? "x" : NULL);
    spool_put(spool, "dev", 3100, NULL);
    for (int64_t id = 2008; id <= 2015; id++)
        spool_put(spool, NULL, id, NULL);
}

static int group_setup(void **state)
{
    if (unit_tmpdir_setup(state) != 0)
        return -1;
    char a[512], s[512], o[512];
    snprintf(a, sizeof(a), "%s", unit_tmp_path("archive.db"));
    snprintf(s, sizeof(s), "%s", unit_tmp_path("spool.db"));
    snprintf(o, sizeof(o), "%s", unit_tmp_path("one.db"));
    if (db_open_sqlite(a, DB_DURABILITY_NORMAL, &archive_db) != MQ_OK ||
        db_open_sqlite(s, DB_DURABILITY_NORMAL, &spool_db) != MQ_OK ||
        db_open_sqlite(o, DB_DURABILITY_NORMAL, &one_db) != MQ_OK)
        return -1;
    fill(archive_db, spool_db);
    fill(one_db, one_db);
    return 0;
}

static int group_teardown(void **state)
{
    db_close(archive_db);
    db_close(spool_db);
    db_close(one_db);
    return unit_tmpdir_teardown(state);
}

/* ---- pages ------------------------------------------------------------------------------------
 */

/* Checks that the page holds ids[0..n) and that every body is the
 * envelope of its id. */
static void check_page(const struct chat_history_page *p, const int64_t *ids, size_t n)
{
    assert_int_equal(p->n, n);
    for (size_t i = 0; i < n; i++) {
        char want[64];
        int w = snprintf(want, sizeof(want), "{\"id\":\"%lld\"}", (long long)ids[i]);
        assert_int_equal(p->rows[i].id, ids[i]);
        const char *b = p->rows[i].body;
        size_t len = p->rows[i].len;
        while (len && (*b == ' ' || *b == '\n' || *b == '\t')) {
            b++;
            len--;
        }
        assert_int_equal(len, (size_t)w);
        assert_memory_equal(b, want, len);
    }
}

/* ids first, first+1, ... up to last, without the ones in skip[]. */
static size_t id_run(int64_t *out, int64_t first, int64_t last, const int64_t *skip, size_t nskip)
{
    size_t n = 0;
    for (int64_t id = first; id <= last; id++) {
        bool skipped = false;
        for (size_t k = 0; k < nskip; k++)
            skipped |= skip[k] == id;
        if (!skipped)
            out[n++] = id;
    }
    return n;
}

static const int64_t lobby_bad[] = {1010, 1030, 1070};
#define NBAD (sizeof(lobby_bad) / sizeof(lobby_bad[0]))

/* One case: a query on lobby and the run of ids it returns. */
struct page_case {
    int64_t since, before;
    int limit;
    int64_t first, last; /* the run (first > last: empty) */
};

static const struct page_case lobby_cases[] = {
    /* the latest 10: all from the spool */
    {0, 0, 10, 1071, 1080},
    /* latest 25: 1070 left out, and the spool's answer was full down to
     * 1056: what it holds below is unknown, so the page stops there */
    {0, 0, 25, 1056, 1080},
    /* limit 0 gives 1, a huge one 1000: everything once */
    {0, 0, 0, 1080, 1080},
    {0, 0, 100000, 1001, 1080},
    {0, 0, -5, 1080, 1080},
    /* before: the newest below it */
    {0, 1052, 5, 1047, 1051},
    {0, 1061, 3, 1058, 1060},
    {0, 1002, 10, 1001, 1001},
    {0, 1001, 10, 1, 0},
    /* since: the oldest above it */
    {1060, 0, 5, 1061, 1065},
    {1050, 0, 3, 1051, 1053},
    {1079, 0, 50, 1080, 1080},
    {1080, 0, 50, 1, 0},
    /* both: between them, oldest first */
    {1045, 1056, 100, 1046, 1055},
    {1045, 1056, 4, 1046, 1049},
    {1066, 1074, 100, 1067, 1073},
    /* rows that are no envelope inside a full answer: the page stops at
     * the edge of the source that was full (1006..1015 from the archive),
     * never skipping to the spool's 1051 */
    {1005, 0, 10, 1006, 1015},
    /* 1020 (blanks before the object) counts */
    {1018, 1022, 10, 1019, 1021},
};

static void run_lobby_cases(struct db *archive, struct db *spool)
{
    for (size_t c = 0; c < sizeof(lobby_cases) / sizeof(lobby_cases[0]); c++) {
        const struct page_case *pc = &lobby_cases[c];
        struct store_history_query q = {
            .room = S("lobby"), .since_id = pc->since, .before_id = pc->before, .limit = pc->limit};
        struct chat_history_page p = {0};
        int64_t ids[200];
        size_t n = pc->first <= pc->last ? id_run(ids, pc->first, pc->last, lobby_bad, NBAD) : 0;
        assert_int_equal(chat_history_fetch(archive, spool, NULL, &q, &p), MQ_OK);
        if (p.n != n)
            fprintf(stderr, "case %zu: %zu rows, want %zu\n", c, p.n, n);
        check_page(&p, ids, n);
        chat_history_page_free(&p);
        assert_null(p.rows);
        assert_int_equal(p.n, 0);
    }
}

/* The MySQL layout: the spool in the node's own file. */
static void test_fetch_two_files(void **state)
{
    run_lobby_cases(archive_db, spool_db);
}

/* The SQLite layout: one file, passed twice. */
static void test_fetch_one_file(void **state)
{
    run_lobby_cases(one_db, one_db);
}

/* No spool: the archive alone. */
static void test_fetch_archive_only(void **state)
{
    struct store_history_query q = {.room = S("lobby"), .limit = 10};
    struct chat_history_page p = {0};
    int64_t ids[64];
    assert_int_equal(chat_history_fetch(archive_db, NULL, NULL, &q, &p), MQ_OK);
    check_page(&p, ids, id_run(ids, 1051, 1060, NULL, 0));
    chat_history_page_free(&p);
    /* The spool's rows are the spool's: "dev" 3100 only with it. */
    q.room = S("dev");
    assert_int_equal(chat_history_fetch(archive_db, NULL, NULL, &q, &p), MQ_OK);
    check_page(&p, ids, id_run(ids, 3001, 3005, NULL, 0));
    chat_history_page_free(&p);
    assert_int_equal(chat_history_fetch(archive_db, spool_db, NULL, &q, &p), MQ_OK);
    size_t n = id_run(ids, 3001, 3005, NULL, 0);
    ids[n++] = 3100;
    check_page(&p, ids, n);
    chat_history_page_free(&p);
}

/* Direct messages: the pair's rows of both sources, once each. */
static void test_fetch_dm(void **state)
{
    struct store_history_query q = {.dm_low = S("alice"), .dm_high = S("bob"), .limit = 100};
    struct chat_history_page p = {0};
    int64_t ids[64];
    assert_int_equal(chat_history_fetch(archive_db, spool_db, NULL, &q, &p), MQ_OK);
    check_page(&p, ids, id_run(ids, 2001, 2015, NULL, 0));
    chat_history_page_free(&p);
    q.since_id = 2009;
    q.limit = 3;
    assert_int_equal(chat_history_fetch(one_db, one_db, NULL, &q, &p), MQ_OK);
    check_page(&p, ids, id_run(ids, 2010, 2012, NULL, 0));
    chat_history_page_free(&p);
    /* The pair in the other order names nobody's conversation. */
    struct store_history_query r = {.dm_low = S("bob"), .dm_high = S("alice"), .limit = 100};
    assert_int_equal(chat_history_fetch(archive_db, spool_db, NULL, &r, &p), MQ_OK);
    assert_int_equal(p.n, 0);
    assert_null(p.rows);
}

/* Queries that name no target or two, a spool that is not one, a
 * database that fails: an error and an empty page (ASan checks that the
 * rows read before the failure are freed). */
static void test_fetch_errors(void **state)
{
    struct chat_history_page p = {(void *)1, 7};
    struct store_history_query none = {.limit = 10};
    assert_int_equal(chat_history_fetch(archive_db, spool_db, NULL, &none, &p), MQ_EINVAL);
    assert_null(p.rows);
    assert_int_equal(p.n, 0);
    struct store_history_query both = {
        .room = S("lobby"), .dm_low = S("alice"), .dm_high = S("bob"), .limit = 10};
    assert_int_equal(chat_history_fetch(archive_db, NULL, NULL, &both, &p), MQ_EINVAL);
    assert_int_equal(p.n, 0);

    /* A database without its messages table: the spool's rows were read
     * first and are dropped with the error. */
    struct db *broken = NULL;
    char path[512];
    snprintf(path, sizeof(path), "%s", unit_tmp_path("broken.db"));
    assert_int_equal(db_open_sqlite(path, DB_DURABILITY_NORMAL, &broken), MQ_OK);
    assert_int_equal(db_exec(broken, &sql_drop_messages, NULL, 0, NULL, NULL), MQ_OK);
    struct store_history_query q = {.room = S("lobby"), .limit = 10};
    assert_int_equal(chat_history_fetch(broken, spool_db, NULL, &q, &p), MQ_EIO);
    assert_null(p.rows);
    assert_int_equal(p.n, 0);
    db_close(broken);
}

static void test_page_json(void **state)
{
    struct jbuf b;
    jbuf_init(&b);
    struct chat_history_page p = {0};
    chat_history_page_json(&p, &b);
    assert_string_equal(b.p, "[]");
    jbuf_reset(&b);
    struct store_history_query q = {.room = S("lobby"), .since_id = 1018, .limit = 3};
    assert_int_equal(chat_history_fetch(archive_db, spool_db, NULL, &q, &p), MQ_OK);
    chat_history_page_json(&p, &b);
    assert_false(b.oom);
    assert_string_equal(b.p, "[{\"id\":\"1019\"}, \n\t{\"id\":\"1020\"},{\"id\":\"1021\"}]");
    chat_history_page_free(&p);
    jbuf_free(&b);
}

/* ---- since and limit ------------------------------------------------------------------------ */

#define ID_OF_MS(ms) ((int64_t)(((uint64_t)(ms)-MSGID_EPOCH_MS) << 22))
#define DAY_MS       86400000ll

static void test_since(void **state)
{
    const int64_t now = (int64_t)MSGID_EPOCH_MS + 100 * DAY_MS;
    const int64_t max_id_ms = ((((int64_t)1 << 41) - 1) << 22) - 1;
    const struct {
        uint64_t since, window_s;
        int64_t now, want;
    } cases[] = {
        /* Unix ms: the last id of the millisecond before */
        {MSGID_EPOCH_MS + 1000, 0, 0, ID_OF_MS(MSGID_EPOCH_MS + 1000) - 1},
        {MSGID_EPOCH_MS + 1, 0, 0, ID_OF_MS(MSGID_EPOCH_MS + 1) - 1},
        {MSGID_EPOCH_MS, 0, 0, 1},
        {0, 0, 0, 1},
        {1, 0, 0, 1},
        /* past the ids' 41 bits of milliseconds: the last */
        {CHAT_HISTORY_SINCE_MS_BELOW - 1, 0, 0, max_id_ms},
        /* ids */
        {CHAT_HISTORY_SINCE_MS_BELOW, 0, 0, (int64_t)CHAT_HISTORY_SINCE_MS_BELOW},
        {7263489123456789123ull, 0, 0, 7263489123456789123ll},
        {INT64_MAX, 0, 0, INT64_MAX},
        {UINT64_MAX, 0, 0, INT64_MAX},
        /* the window (7 days before now) raises an older since */
        {MSGID_EPOCH_MS + DAY_MS, 7 * 86400, 0, ID_OF_MS(MSGID_EPOCH_MS + 93 * DAY_MS) - 1},
        {0, 7 * 86400, 0, ID_OF_MS(MSGID_EPOCH_MS + 93 * DAY_MS) - 1},
        {CHAT_HISTORY_SINCE_MS_BELOW, 7 * 86400, 0, ID_OF_MS(MSGID_EPOCH_MS + 93 * DAY_MS) - 1},
        /* and leaves a newer one */
        {MSGID_EPOCH_MS + 95 * DAY_MS, 7 * 86400, 0, ID_OF_MS(MSGID_EPOCH_MS + 95 * DAY_MS) - 1},
        {(uint64_t)ID_OF_MS(MSGID_EPOCH_MS + 99 * DAY_MS), 7 * 86400, 0,
         ID_OF_MS(MSGID_EPOCH_MS + 99 * DAY_MS)},
        /* a window reaching before the ids' epoch, or any time: none */
        {0, 200 * 86400, 0, 1},
        {0, UINT64_MAX, 0, 1},
        {0, UINT64_MAX / 1000 + 1, 0, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t at = cases[i].now ? cases[i].now : now;
        int64_t got = chat_history_since(cases[i].since, cases[i].window_s, at);
        if (got != cases[i].want)
            fprintf(stderr, "case %zu: %lld, want %lld\n", i, (long long)got,
                    (long long)cases[i].want);
        assert_int_equal(got, cases[i].want);
    }
    /* A clock before the epoch or at 0 changes nothing. */
    assert_int_equal(chat_history_since(0, 7 * 86400, 0), 1);
    assert_int_equal(chat_history_since(0, 7 * 86400, -5), 1);
}

static void test_limit(void **state)
{
    static const struct {
        uint64_t in;
        int want;
    } cases[] = {{0, 1},       {1, 1},       {49, 49},          {50, 50},
                 {1000, 1000}, {1001, 1000}, {INT32_MAX, 1000}, {UINT64_MAX, 1000}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(chat_history_limit(cases[i].in), cases[i].want);
}

/* ---- the MQTT request ----------------------------------------------------------------------- */

#define NOW    ((int64_t)MSGID_EPOCH_MS + 100 * DAY_MS)
#define WINDOW (7 * 86400)

struct req_case {
    const char *payload; /* NUL-terminated unless len is set */
    size_t len;
    int rc;
    int limit;
    int64_t before, since;
    const char *req; /* NULL: none */
};

static const struct req_case req_cases[] = {
    /* empty and defaults */
    {"", 0, MQ_OK, 50, 0, 0, NULL},
    {" \r\n\t ", 0, MQ_OK, 50, 0, 0, NULL},
    {"{}", 0, MQ_OK, 50, 0, 0, NULL},
    {" { } \n", 0, MQ_OK, 50, 0, 0, NULL},
    {"{\"limit\":null,\"before\":null,\"since\":null,\"req\":null}", 0, MQ_OK, 50, 0, 0, NULL},
    /* limit */
    {"{\"limit\":10}", 0, MQ_OK, 10, 0, 0, NULL},
    {"{\"limit\":\"10\"}", 0, MQ_OK, 10, 0, 0, NULL},
    {"{\"limit\":0}", 0, MQ_OK, 1, 0, 0, NULL},
    {"{\"limit\":5000}", 0, MQ_OK, 1000, 0, 0, NULL},
    {"{\"limit\":18446744073709551615}", 0, MQ_OK, 1000, 0, 0, NULL},
    {"{\"limit\":18446744073709551616}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":\"99999999999999999999999\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":-1}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":-0}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":1.5}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":10.0}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":1e3}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":\"1e3\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":\"\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":\" 5\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":\"+5\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":\"0x10\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":true}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":[1]}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":{}}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":1,\"limit\":2}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    /* before: ids above 2^53 keep every digit, as a string or a number */
    {"{\"before\":\"7263489123456789123\"}", 0, MQ_OK, 50, 7263489123456789123ll, 0, NULL},
    {"{\"before\":7263489123456789123}", 0, MQ_OK, 50, 7263489123456789123ll, 0, NULL},
    {"{\"before\":9007199254740993}", 0, MQ_OK, 50, 9007199254740993ll, 0, NULL},
    {"{\"before\":9223372036854775807}", 0, MQ_OK, 50, INT64_MAX, 0, NULL},
    {"{\"before\":9223372036854775808}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"before\":\"9223372036854775808\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"before\":0}", 0, MQ_OK, 50, 0, 0, NULL},
    {"{\"before\":\"abc\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"before\":7263489123456789123.5}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    /* since: an id, or ms moved up to the window */
    {"{\"since\":\"7263489123456789123\"}", 0, MQ_OK, 50, 0, 7263489123456789123ll, NULL},
    {"{\"since\":100000000000005}", 0, MQ_OK, 50, 0, ID_OF_MS(NOW - 7 * DAY_MS) - 1, NULL},
    {"{\"since\":\"1704412800000\"}", 0, MQ_OK, 50, 0, ID_OF_MS(NOW - 7 * DAY_MS) - 1, NULL},
    {"{\"since\":0}", 0, MQ_OK, 50, 0, ID_OF_MS(NOW - 7 * DAY_MS) - 1, NULL},
    {"{\"since\":-1}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"since\":\"1\",\"since\":\"2\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    /* req */
    {"{\"req\":\"page-2\"}", 0, MQ_OK, 50, 0, 0, "page-2"},
    {"{\"req\":\"\"}", 0, MQ_OK, 50, 0, 0, ""},
    {"{\"req\":\"caf\xc3\xa9 \\\"q\\\" \\u00e9\"}", 0, MQ_OK, 50, 0, 0,
     "caf\xc3\xa9 \"q\" \xc3\xa9"},
    {"{\"req\":"
     "\"0123456789012345678901234567890123456789012345678901234567890123\"}",
     0, MQ_OK, 50, 0, 0, "0123456789012345678901234567890123456789012345678901234567890123"},
    {"{\"req\":"
     "\"01234567890123456789012345678901234567890123456789012345678901234\"}",
     0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"req\":5}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"req\":[\"a\"]}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"req\":\"a\",\"req\":\"b\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"req\":\"a\\u0000b\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"req\":\"a\\\\u0000b\"}", 0, MQ_OK, 50, 0, 0, "a\\u0000b"},
    /* everything at once, blanks anywhere */
    {" {\n \"limit\" : 12 ,\t\"before\" : 7263489123456789123 , \"since\" : "
     "\"7263489123456789000\" ,"
     " \"req\" : \"x\" }\r\n",
     0, MQ_OK, 12, 7263489123456789123ll, 7263489123456789000ll, "x"},
    /* other members are ignored, however they look; the numbers are
     * still read from the right place */
    {"{\"x\":{\"limit\":\"nested\",\"a\":[1,{\"b\":\"}]\\\"\"}]},\"limit\":7}", 0, MQ_OK, 7, 0, 0,
     NULL},
    {"{\"a\":\"\\\"limit\\\":3,\",\"limit\":4}", 0, MQ_OK, 4, 0, 0, NULL},
    {"{\"\\u006cimit\":8}", 0, MQ_OK, 8, 0, 0, NULL},
    {"{\"a\":[],\"b\":{},\"c\":true,\"d\":null,\"e\":-1.5e3,\"before\":7263489123456789123}", 0,
     MQ_OK, 50, 7263489123456789123ll, 0, NULL},
    {"\xEF\xBB\xBF{\"limit\":3}", 0, MQ_OK, 3, 0, 0, NULL},
    /* not one JSON object */
    {"[]", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"\"x\"", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"5", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"null", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{} x", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{}{}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\" 5}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{'limit':5}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"limit\":5,}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"hello", 0, MQ_EINVAL, 0, 0, 0, NULL},
    /* not UTF-8, NUL bytes */
    {"{\"req\":\"\xff\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"req\":\"\xc0\xaf\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"req\":\"\xed\xa0\x80\"}", 0, MQ_EINVAL, 0, 0, 0, NULL},
    {"{}\0", 3, MQ_EINVAL, 0, 0, 0, NULL},
    {"{\"req\":\"a\0b\"}", 13, MQ_EINVAL, 0, 0, 0, NULL},
    {"\0", 1, MQ_EINVAL, 0, 0, 0, NULL},
};

static void test_request_cases(void **state)
{
    for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
        const struct req_case *c = &req_cases[i];
        size_t len = c->len ? c->len : strlen(c->payload);
        struct store_history_query q = {.room = S("lobby")};
        char req[CHAT_HISTORY_REQ_MAX + 1];
        bool has_req = true;
        int rc = chat_history_request_parse((const uint8_t *)c->payload, len, WINDOW, NOW, &q, req,
                                            &has_req);
        if (rc != c->rc)
            fprintf(stderr, "case %zu (%s): rc %d, want %d\n", i, c->payload, rc, c->rc);
        assert_int_equal(rc, c->rc);
        assert_int_equal(q.room.len, 5); /* never touched */
        if (rc != MQ_OK)
            continue;
        assert_int_equal(q.limit, c->limit);
        assert_int_equal(q.before_id, c->before);
        assert_int_equal(q.since_id, c->since);
        assert_int_equal(has_req, c->req != NULL);
        assert_string_equal(req, c->req ? c->req : "");
    }
}

/* The request and the HTTP query give the same page: a request parsed
 * into a query that chat_history_fetch answers. */
static void test_request_then_fetch(void **state)
{
    static const char payload[] = "{\"since\":\"1045\",\"before\":1056,\"limit\":\"4\"}";
    struct store_history_query q = {.room = S("lobby")};
    char req[CHAT_HISTORY_REQ_MAX + 1];
    bool has_req;
    assert_int_equal(chat_history_request_parse((const uint8_t *)payload, sizeof(payload) - 1, 0,
                                                NOW, &q, req, &has_req),
                     MQ_OK);
    /* 1045 is below 10^14: Unix ms, before the ids' epoch: the start */
    assert_int_equal(q.since_id, 1);
    assert_int_equal(q.before_id, 1056);
    struct chat_history_page p = {0};
    int64_t ids[8];
    assert_int_equal(chat_history_fetch(archive_db, spool_db, NULL, &q, &p), MQ_OK);
    check_page(&p, ids, id_run(ids, 1001, 1004, NULL, 0));
    chat_history_page_free(&p);
}

/* chat_history_json_u64 on its own: the member's position, absence, a
 * value that is not an object. */
static void test_json_u64(void **state)
{
    static const char text[] = "{\"a\":1,\"b\":[9223372036854775807],\"c\":\"12\",\"d\":"
                               "9223372036854775806,\"e\":null}";
    cJSON *o = cJSON_Parse(text);
    assert_non_null(o);
    uint64_t v = 99;
    assert_int_equal(chat_history_json_u64(text, strlen(text), o, "a", 10, &v), MQ_OK);
    assert_int_equal(v, 1);
    assert_int_equal(chat_history_json_u64(text, strlen(text), o, "b", UINT64_MAX, &v), MQ_EINVAL);
    assert_int_equal(chat_history_json_u64(text, strlen(text), o, "c", 12, &v), MQ_OK);
    assert_int_equal(v, 12);
    assert_int_equal(chat_history_json_u64(text, strlen(text), o, "c", 11, &v), MQ_EINVAL);
    assert_int_equal(chat_history_json_u64(text, strlen(text), o, "d", INT64_MAX, &v), MQ_OK);
    assert_int_equal(v, 9223372036854775806ull);
    v = 99;
    assert_int_equal(chat_history_json_u64(text, strlen(text), o, "e", 10, &v), MQ_ENOTFOUND);
    assert_int_equal(chat_history_json_u64(text, strlen(text), o, "zz", 10, &v), MQ_ENOTFOUND);
    assert_int_equal(v, 99);
    assert_int_equal(chat_history_json_u64(text, strlen(text), o->child, "a", 10, &v), MQ_EINVAL);
    /* text that does not hold the object: refused, not misread */
    assert_int_equal(chat_history_json_u64("{}", 2, o, "a", 10, &v), MQ_EINVAL);
    assert_int_equal(chat_history_json_u64("", 0, o, "d", INT64_MAX, &v), MQ_EINVAL);
    cJSON_Delete(o);
}

/* Random damage to valid requests: any answer, but never a crash, an
 * overread (ASan) or a req that is not NUL-terminated within bounds. */
static void test_request_mutations(void **state)
{
    static const char *const seeds[] = {
        "{\"limit\":10,\"before\":\"7263489123456789123\",\"since\":7263489123456789000,"
        "\"req\":\"page-2\"}",
        "{\"x\":{\"y\":[1,2,{\"z\":\"\\\"}\"}]},\"limit\":\"5\"}",
        "{\"req\":\"\\u00e9\\n\",\"since\":1763800000000}",
    };
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    char buf[256];
    for (int round = 0; round < 30000; round++) {
        const char *s = seeds[round % 3];
        size_t len = strlen(s);
        memcpy(buf, s, len);
        int edits = 1 + round % 4;
        for (int e = 0; e < edits; e++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(seed >> 33) % len;
            unsigned char c = (unsigned char)(seed >> 20);
            switch ((seed >> 8) % 4) {
            case 0: /* replace */
                buf[at] = (char)c;
                break;
            case 1: /* cut */
                len = at ? at : 1;
                break;
            case 2: /* insert a JSON-ish character */
                if (len < sizeof(buf) - 1) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = "{}[]\",:\\0-9e."[c % 14];
                    len++;
                }
                break;
            default: /* delete */
                if (len > 1) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
                break;
            }
        }
        /* A copy of exactly len bytes, so that ASan sees any overread. */
        uint8_t *p = malloc(len);
        assert_non_null(p);
        memcpy(p, buf, len);
        struct store_history_query q = {0};
        char req[CHAT_HISTORY_REQ_MAX + 1];
        bool has_req = false;
        int rc = chat_history_request_parse(p, len, WINDOW, NOW, &q, req, &has_req);
        assert_true(rc == MQ_OK || rc == MQ_EINVAL);
        if (rc == MQ_OK) {
            assert_true(q.limit >= 1 && q.limit <= CHAT_HISTORY_MAX);
            assert_true(q.since_id >= 0 && q.before_id >= 0);
            assert_true(strlen(req) <= CHAT_HISTORY_REQ_MAX);
        }
        free(p);
    }
}

/* Deep nesting in an ignored member: refused (cJSON's nesting limit),
 * not a stack overflow. */
static void test_request_deep(void **state)
{
    size_t depth = 100000, len = 2 * depth + 16;
    char *p = malloc(len);
    assert_non_null(p);
    size_t n = 0;
    n += (size_t)sprintf(p, "{\"a\":");
    for (size_t i = 0; i < depth; i++)
        p[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        p[n++] = ']';
    p[n++] = '}';
    struct store_history_query q = {0};
    char req[CHAT_HISTORY_REQ_MAX + 1];
    bool has_req;
    assert_int_equal(chat_history_request_parse((const uint8_t *)p, n, 0, NOW, &q, req, &has_req),
                     MQ_EINVAL);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetch_two_files),
        cmocka_unit_test(test_fetch_one_file),
        cmocka_unit_test(test_fetch_archive_only),
        cmocka_unit_test(test_fetch_dm),
        cmocka_unit_test(test_fetch_errors),
        cmocka_unit_test(test_page_json),
        cmocka_unit_test(test_since),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_request_cases),
        cmocka_unit_test(test_request_then_fetch),
        cmocka_unit_test(test_json_u64),
        cmocka_unit_test(test_request_mutations),
        cmocka_unit_test(test_request_deep),
    };
    return cmocka_run_group_tests_name("chat_history", tests, group_setup, group_teardown);
}
