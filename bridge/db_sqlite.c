/*
 * db_sqlite.c - the SQLite backend of db.h: opening (WAL, synchronous per
 * durability, busy timeout, moving a corrupt file aside), preparing,
 * binding and stepping statements, and SQLite's result codes as MQ_*.
 *
 * Byte strings are bound as BLOBs (an empty one as a zero-length BLOB,
 * never as NULL), so every stored value compares bytewise; TEXT read back
 * is handed out as bytes too. Statements are prepared with
 * SQLITE_PREPARE_PERSISTENT (db.c keeps them for the connection's life) and
 * reset with their bindings cleared after every run, so no read transaction
 * stays open between calls. The connection is opened SQLITE_OPEN_NOMUTEX:
 * one thread at a time, as db.h says. This file is not where statements are
 * cached or migrations run (db.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "db_internal.h"
#include "errors.h"
#include "log.h"

#define BUSY_TIMEOUT_MS 5000 /* how long a statement waits for another writer */
#define MAX_PARAMS      4096 /* parameters per statement we use (SQLite allows more) */
#define STACK_COLS      16   /* result columns handled without an allocation */

struct db_sqlite {
    struct db base; /* first: a struct db * is a struct db_sqlite * */
    sqlite3 *h;
};

static struct db_sqlite *sq(struct db *db)
{
    return (struct db_sqlite *)db;
}

/* An SQLite result code as an MQ_* code. */
static int sq_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return MQ_OK;
    case SQLITE_FULL:
        return MQ_EFULL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return MQ_EAGAIN;
    case SQLITE_NOMEM:
        return MQ_ENOMEM;
    default:
        return MQ_EIO;
    }
}

/* Records the connection's last error and returns rc as an MQ_* code. */
static int sq_fail(struct db *db, int rc, const char *what)
{
    db__set_error(db, "sqlite: %s: %s (%d)", what, sqlite3_errmsg(sq(db)->h), rc);
    return sq_code(rc);
}

/* ---- statements ------------------------------------------------------------ */

static int sq_prepare(struct db *db, const char *text, void **out)
{
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(sq(db)->h, text, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail);
    if (rc != SQLITE_OK)
        return sq_fail(db, rc, "prepare");
    if (!st || (tail && *tail)) {
        sqlite3_finalize(st);
        db__set_error(db, "sqlite: prepare: not exactly one statement: %.200s", text);
        return MQ_EIO;
    }
    *out = st;
    return MQ_OK;
}

static void sq_finalize(struct db *db, void *stmt)
{
    sqlite3_finalize(stmt);
}

static int sq_bind(struct db *db, sqlite3_stmt *st, const struct db_value *params, size_t n)
{
    if ((size_t)sqlite3_bind_parameter_count(st) != n) {
        db__set_error(db, "sqlite: statement takes %d parameters, %zu given",
                      sqlite3_bind_parameter_count(st), n);
        return MQ_EIO;
    }
    for (size_t i = 0; i < n; i++) {
        const struct db_value *v = &params[i];
        int col = (int)i + 1, rc;
        switch (v->type) {
        case DB_INT:
            rc = sqlite3_bind_int64(st, col, v->i);
            break;
        case DB_BYTES:
            rc = sqlite3_bind_blob64(st, col, v->len ? v->p : "", v->len, SQLITE_STATIC);
            break;
        default:
            rc = sqlite3_bind_null(st, col);
            break;
        }
        if (rc != SQLITE_OK)
            return sq_fail(db, rc, "bind");
    }
    return MQ_OK;
}

/* Column i of the current row as a db_value (valid until the next step). */
static struct db_value sq_column(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        return DB_NIL;
    case SQLITE_INTEGER:
        return DB_I(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return DB_I((int64_t)sqlite3_column_double(st, i));
    default: {
        const void *p = sqlite3_column_blob(st, i);
        size_t len = (size_t)sqlite3_column_bytes(st, i);
        return DB_B(p ? p : "", len);
    }
    }
}

/* Steps st to the end (or until fn stops), handing each row to fn. */
static int sq_step_all(struct db *db, sqlite3_stmt *st, db_row_fn fn, void *ctx)
{
    int ncols = sqlite3_column_count(st);
    struct db_value stack[STACK_COLS];
    struct db_value *cols = stack;
    if (ncols > STACK_COLS && !(cols = malloc((size_t)ncols * sizeof(*cols)))) {
        db__set_error(db, "out of memory");
        return MQ_ENOMEM;
    }
    int rc, result = MQ_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!fn)
            continue;
        for (int i = 0; i < ncols; i++)
            cols[i] = sq_column(st, i);
        if (fn(ctx, cols, (size_t)ncols) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        result = sq_fail(db, rc, "step");
    if (cols != stack)
        free(cols);
    return result;
}

static int sq_run(struct db *db, void *stmt, const struct db_value *params, size_t n, db_row_fn fn,
                  void *ctx)
{
    sqlite3_stmt *st = stmt;
    int rc = sq_bind(db, st, params, n);
    if (rc == MQ_OK)
        rc = sq_step_all(db, st, fn, ctx);
    if (rc == MQ_OK) {
        db->changes = sqlite3_stmt_readonly(st) ? 0 : sqlite3_changes64(sq(db)->h);
        db->last_id = sqlite3_last_insert_rowid(sq(db)->h);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sq_exec_text(struct db *db, const char *text)
{
    int rc = sqlite3_exec(sq(db)->h, text, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(db, rc, "exec");
    db->changes = sqlite3_changes64(sq(db)->h);
    return MQ_OK;
}

static bool sq_in_transaction(struct db *db)
{
    return !sqlite3_get_autocommit(sq(db)->h);
}

static int sq_reconnect(struct db *db)
{
    return MQ_OK;
}

static void sq_close(struct db *db)
{
    sqlite3_close(sq(db)->h);
    free(db);
}

static const struct db_ops sqlite_ops = {
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .run = sq_run,
    .exec_text = sq_exec_text,
    .in_transaction = sq_in_transaction,
    .reconnect = sq_reconnect,
    .close = sq_close,
};

/* ---- opening ---------------------------------------------------------------- */

/* Runs PRAGMA quick_check. MQ_OK, MQ_EINVAL (the file is not a sound
 * database: corrupt, or not a database at all) or MQ_EIO (something else,
 * e.g. locked or unreadable), with the reason in why. */
static int sq_quick_check(sqlite3 *h, char *why, size_t whylen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(h, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    int result = MQ_OK;
    if (rc == SQLITE_ROW) {
        const char *txt = (const char *)sqlite3_column_text(st, 0);
        if (!txt || strcmp(txt, "ok") != 0) {
            snprintf(why, whylen, "quick_check: %s", txt ? txt : "(null)");
            result = MQ_EINVAL;
        }
    } else {
        snprintf(why, whylen, "%s", sqlite3_errmsg(h));
        int primary = rc & 0xff;
        result = primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT ? MQ_EINVAL : MQ_EIO;
    }
    sqlite3_finalize(st);
    return result;
}

/* Runs one PRAGMA, returning its SQLite result code. */
static int sq_pragma(sqlite3 *h, const char *sql)
{
    return sqlite3_exec(h, sql, NULL, NULL, NULL);
}

/* Opens and configures the file. MQ_OK and *out, MQ_EINVAL when the file
 * is corrupt (why says how), MQ_EIO otherwise (logged). */
static int sq_open_file(const char *path, enum db_durability durability, sqlite3 **out, char *why,
                        size_t whylen)
{
    sqlite3 *h = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &h, flags, NULL);
    if (rc != SQLITE_OK) {
        log_error("sqlite: cannot open %s: %s", path, h ? sqlite3_errmsg(h) : "out of memory");
        sqlite3_close(h);
        return MQ_EIO;
    }
    sqlite3_busy_timeout(h, BUSY_TIMEOUT_MS);
    int result = sq_quick_check(h, why, whylen);
    if (result == MQ_OK) {
        const char *sync = durability == DB_DURABILITY_FULL ? "PRAGMA synchronous=FULL"
                                                            : "PRAGMA synchronous=NORMAL";
        if ((rc = sq_pragma(h, "PRAGMA journal_mode=WAL")) != SQLITE_OK ||
            (rc = sq_pragma(h, sync)) != SQLITE_OK ||
            (rc = sq_pragma(h, "PRAGMA foreign_keys=OFF")) != SQLITE_OK) {
            int primary = rc & 0xff;
            snprintf(why, whylen, "%s", sqlite3_errmsg(h));
            result = primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT ? MQ_EINVAL : MQ_EIO;
        }
    }
    if (result == MQ_EIO)
        log_error("sqlite: cannot open %s: %s", path, why);
    if (result != MQ_OK) {
        sqlite3_close(h);
        return result;
    }
    *out = h;
    return MQ_OK;
}

/* Renames path+suffix to aside+suffix if it exists. */
static int sq_move(const char *path, const char *aside, const char *suffix)
{
    char from[4096], to[4096];
    snprintf(from, sizeof(from), "%s%s", path, suffix);
    snprintf(to, sizeof(to), "%s%s", aside, suffix);
    if (rename(from, to) == 0 || errno == ENOENT)
        return MQ_OK;
    log_error("sqlite: cannot rename %s to %s: %s", from, to, strerror(errno));
    return MQ_EIO;
}

/* Moves the corrupt database and its -wal and -shm files aside. */
static int sq_move_aside(const char *path, const char *why)
{
    char aside[4096];
    int w = snprintf(aside, sizeof(aside), "%s.corrupt-%lld", path, (long long)time(NULL));
    if (w < 0 || (size_t)w >= sizeof(aside) - 8) {
        log_error("sqlite: %s is corrupt (%s) and its name too long to move aside", path, why);
        return MQ_EIO;
    }
    if (sq_move(path, aside, "") != MQ_OK || sq_move(path, aside, "-wal") != MQ_OK ||
        sq_move(path, aside, "-shm") != MQ_OK)
        return MQ_EIO;
    log_error("sqlite: %s is corrupt (%s): moved to %s, starting a fresh database", path, why,
              aside);
    return MQ_OK;
}

int db_open_sqlite(const char *path, enum db_durability durability, struct db **out)
{
    char why[512] = "";
    sqlite3 *h = NULL;
    int rc = sq_open_file(path, durability, &h, why, sizeof(why));
    if (rc == MQ_EINVAL) {
        if (sq_move_aside(path, why) != MQ_OK)
            return MQ_EIO;
        rc = sq_open_file(path, durability, &h, why, sizeof(why));
        if (rc == MQ_EINVAL)
            log_error("sqlite: fresh database %s is unusable: %s", path, why);
    }
    if (rc != MQ_OK)
        return MQ_EIO;
    struct db_sqlite *s = calloc(1, sizeof(*s));
    if (!s) {
        log_error("sqlite: out of memory opening %s", path);
        sqlite3_close(h);
        return MQ_EIO;
    }
    s->h = h;
    db__init(&s->base, DB_SQLITE, &sqlite_ops);
    int limit = sqlite3_limit(h, SQLITE_LIMIT_VARIABLE_NUMBER, -1);
    s->base.max_params = limit > 0 && limit < MAX_PARAMS ? (size_t)limit : MAX_PARAMS;
    if (db__migrate(&s->base) != MQ_OK) {
        db_close(&s->base);
        return MQ_EIO;
    }
    *out = &s->base;
    return MQ_OK;
}
