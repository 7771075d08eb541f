/*
 * mqchat_spoolbench.c - mqchat-spoolbench, how fast the archiver drains the
 * spool.
 *
 *   mqchat-spoolbench [-n ROWS] [-b BATCH] [-s BYTES] [-r DAYS] [-d DIR] [MYSQL_URL]
 *
 * Fills a fresh SQLite spool (DIR/spool.db; DIR defaults to a new
 * temporary directory, removed at the end) with ROWS chat messages of about
 * BYTES body bytes each, then starts the archiver (archiver.h) on it, into
 * MYSQL_URL or, without one, into the same SQLite database, and waits until
 * every row is archived. Prints the fill rate and then, on one line each:
 *
 *   archive_rate_msgs_per_s=N
 *   archive_elapsed_s=S
 *
 * Message ids are made from the start time, so runs into the same MySQL
 * database never collide (a collision would be skipped, not measured); the
 * archive's row count is checked to have grown by exactly ROWS.
 *
 * Not a test: nothing here fails on a slow machine. Exit status 0 when every
 * row arrived, 1 on bad usage, 2 on a database error or a timeout.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archiver.h"
#include "db.h"
#include "errors.h"
#include "spool.h"
#include "store.h"

#define PROG         "mqchat-spoolbench"
#define FILL_TX_ROWS 10000 /* rows per fill transaction */
#define NROOMS       100
#define TIMEOUT_S    600 /* give up waiting for the archiver after this */
#define BODY_MAX     65536

static void usage(FILE *to)
{
    fputs("usage: " PROG " [-n ROWS] [-b BATCH] [-s BYTES] [-r DAYS] [-d DIR] [MYSQL_URL]\n"
          "\n"
          "  -n ROWS   spool rows to archive (default 200000)\n"
          "  -b BATCH  archiver rows per transaction (default 1000)\n"
          "  -s BYTES  body bytes per message (default 100)\n"
          "  -r DAYS   retention_days of the archiver (default 7; 0 trims as it goes)\n"
          "  -d DIR    put spool.db in DIR and keep it (default: a temporary directory)\n"
          "MYSQL_URL   mysql://user:pass@host:port/db to archive into (default: SQLite)\n",
          to);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct db_sql sql_insert = {
    "INSERT INTO spool(id, room, dm_low, dm_high, topic, sender, ts_ms, type, body, node) "
    "VALUES (?, ?, NULL, NULL, ?, ?, ?, 'text', ?, 1)",
    NULL,
};

/* Fills the spool with n rows; ids from id0. Returns MQ_OK or an error. */
static int fill(struct db *db, long n, size_t body_len, int64_t id0, struct spool_counters *c)
{
    char *body = malloc(body_len ? body_len : 1);
    if (!body)
        return MQ_ENOMEM;
    for (size_t i = 0; i < body_len; i++)
        body[i] = (char)('a' + i % 26);
    int64_t ts = wall_ms();
    int rc = MQ_OK;
    for (long i = 0; i < n && rc == MQ_OK; i++) {
        if (i % FILL_TX_ROWS == 0 && (rc = db_begin(db)) != MQ_OK)
            break;
        char room[16], topic[32], sender[16];
        int lroom = snprintf(room, sizeof(room), "room%ld", i % NROOMS);
        int ltopic = snprintf(topic, sizeof(topic), "chat/room/%s", room);
        int lsender = snprintf(sender, sizeof(sender), "user%ld", i % 997);
        /* vary the body a little, as chat does */
        int lnum = snprintf(body, body_len, "%ld ", i);
        if (lnum > 0 && (size_t)lnum < body_len)
            body[lnum] = ' ';
        struct db_value p[6] = {
            DB_I(id0 + i),
            DB_B(room, (size_t)lroom),
            DB_B(topic, (size_t)ltopic),
            DB_B(sender, (size_t)lsender),
            DB_I(ts + i / 1000),
            DB_B(body, body_len),
        };
        rc = db_exec(db, &sql_insert, p, 6, NULL, NULL);
        if (rc == MQ_OK && (i % FILL_TX_ROWS == FILL_TX_ROWS - 1 || i == n - 1))
            rc = db_commit(db);
        if (rc == MQ_OK) {
            atomic_store(&c->committed_seq, db_last_id(db));
            atomic_fetch_add(&c->pending_bytes, (int_fast64_t)body_len);
        }
    }
    if (rc != MQ_OK) {
        fprintf(stderr, PROG ": filling the spool: %s (%s)\n", mq_strerror(rc), db_error(db));
        db_rollback(db);
    }
    free(body);
    return rc;
}

static int archive_count(const char *mysql_url, struct db *sqlite, int64_t *count)
{
    struct db *db = sqlite;
    int rc = MQ_OK;
    if (mysql_url && (rc = db_open_mysql(mysql_url, &db)) != MQ_OK)
        return rc;
    rc = store_archive_count(db, count);
    if (rc != MQ_OK)
        fprintf(stderr, PROG ": counting the archive: %s (%s)\n", mq_strerror(rc), db_error(db));
    if (db != sqlite)
        db_close(db);
    return rc;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    long rows = 200000, batch = 1000, body = 100, days = 7;
    const char *dir_opt = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:b:s:r:d:h")) != -1) {
        bool ok = true;
        switch (opt) {
        case 'n':
            ok = parse_long(optarg, 1, 100000000, &rows);
            break;
        case 'b':
            ok = parse_long(optarg, 1, 100000, &batch);
            break;
        case 's':
            ok = parse_long(optarg, 1, BODY_MAX, &body);
            break;
        case 'r':
            ok = parse_long(optarg, 0, 36500, &days);
            break;
        case 'd':
            dir_opt = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            ok = false;
        }
        if (!ok) {
            usage(stderr);
            return 1;
        }
    }
    if (argc - optind > 1) {
        usage(stderr);
        return 1;
    }
    const char *mysql_url = optind < argc && argv[optind][0] ? argv[optind] : NULL;

    char tmpdir[] = "/tmp/mqchat-spoolbench.XXXXXX";
    const char *dir = dir_opt;
    if (!dir && !(dir = mkdtemp(tmpdir))) {
        perror(PROG ": mkdtemp");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/spool.db", dir);
    if (dir_opt)
        unlink(path); /* a fresh spool every run */

    int status = 2;
    struct spool_counters c;
    memset(&c, 0, sizeof(c));
    struct db *db = NULL;
    int64_t before = 0, after = 0;
    if (db_open_sqlite(path, DB_DURABILITY_NORMAL, &db) != MQ_OK) {
        db = NULL;
        goto out;
    }
    if (archive_count(mysql_url, db, &before) != MQ_OK)
        goto out;

    double t0 = now_s();
    if (fill(db, rows, (size_t)body, wall_ms() << 22, &c) != MQ_OK)
        goto out;
    double t1 = now_s();
    printf("fill: %ld rows of %ld body bytes in %.2f s (%.0f rows/s)\n", rows, body, t1 - t0,
           (double)rows / (t1 - t0));
    int64_t last = atomic_load(&c.committed_seq);

    struct archiver_config cfg = {
        .sqlite_path = path,
        .mysql_url = mysql_url,
        .retention_days = (int)days,
        .batch = (unsigned)batch,
        .idle_ms = 1,
    };
    t0 = now_s();
    struct archiver *a = archiver_start(&cfg, &c);
    if (!a)
        goto out;
    while (atomic_load(&c.archived_seq) < last && now_s() - t0 < TIMEOUT_S)
        usleep(1000);
    t1 = now_s();
    archiver_stop(a);
    if (atomic_load(&c.archived_seq) < last) {
        fprintf(stderr, PROG ": timed out: archived %lld of %ld rows\n",
                (long long)atomic_load(&c.archived), rows);
        goto out;
    }
    printf("archive: %ld rows into %s, batch %ld, retention %ld days, %llu failed attempts\n", rows,
           mysql_url ? "MySQL" : "SQLite", batch, days,
           (unsigned long long)atomic_load(&c.archive_errors));
    printf("archive_rate_msgs_per_s=%.0f\n", (double)rows / (t1 - t0));
    printf("archive_elapsed_s=%.3f\n", t1 - t0);
    if (archive_count(mysql_url, db, &after) != MQ_OK)
        goto out;
    if (after - before != rows) {
        fprintf(stderr, PROG ": the archive grew by %lld rows, not %ld\n",
                (long long)(after - before), rows);
        goto out;
    }
    status = 0;
out:
    db_close(db);
    if (!dir_opt) {
        char side[4200];
        const char *suffix[] = {"", "-wal", "-shm", "-journal"};
        for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
            snprintf(side, sizeof(side), "%s%s", path, suffix[i]);
            unlink(side);
        }
        rmdir(dir);
    }
    return status;
}
