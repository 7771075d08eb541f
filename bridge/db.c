/*
 * db.c - the backend-independent half of db.h: dispatch to SQLite or MySQL,
 * the per-connection cache of prepared statements, multi-row inserts split
 * into as few statements as the backend allows, transactions and the
 * migrations runner.
 *
 * The cache is a small array searched by the struct db_sql's address (a
 * connection holds a few dozen statements; a linear scan of pointers costs
 * nothing next to a database call). db_insert_rows() keeps at most two
 * statements per db_sql: one for a full chunk of DB_ROWS_PER_STATEMENT rows
 * (or fewer when the backend's parameter limit says so) and one for the
 * last row count that was not a full chunk, prepared again when that count
 * changes. A chunk is also cut short when its values would pass the
 * backend's byte budget (MySQL: half of max_allowed_packet).
 *
 * Migrations: schema_version(version, applied_ms) is created if missing,
 * then every compiled-in migration (schema.h) whose version it does not list
 * runs in its own transaction together with the row recording it. MySQL
 * commits DDL implicitly, so there a migration is made of CREATE ... IF NOT
 * EXISTS statements that can simply run again after an interruption, and a
 * named lock (GET_LOCK) keeps two nodes from migrating at once. This file
 * does not open connections or talk to a server itself (db_sqlite.c,
 * db_mysql.c).
 */
#include "db_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "log.h"
#include "schema.h"

#define MAX_VERSION 1000 /* migration numbers are NNN: 1..999 (embed-sql.sh) */

void db__init(struct db *db, enum db_backend backend, const struct db_ops *ops)
{
    db->backend = backend;
    db->ops = ops;
    db->slots = NULL;
    db->nslots = db->cap = 0;
    db->changes = db->last_id = 0;
    db->max_params = 999;
    db->max_bytes = 0;
    db->err[0] = '\0';
}

void db__set_error(struct db *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->err, sizeof(db->err), fmt, ap);
    va_end(ap);
}

int64_t db__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void db__drop_statements(struct db *db)
{
    for (size_t i = 0; i < db->nslots; i++)
        db->ops->finalize(db, db->slots[i].stmt);
    free(db->slots);
    db->slots = NULL;
    db->nslots = db->cap = 0;
}

/* ---- the statement cache ------------------------------------------------ */

static struct db_stmt_slot *db__find_slot(struct db *db, const struct db_sql *sql, int kind)
{
    for (size_t i = 0; i < db->nslots; i++)
        if (db->slots[i].sql == sql && db->slots[i].kind == kind)
            return &db->slots[i];
    return NULL;
}

static struct db_stmt_slot *db__new_slot(struct db *db)
{
    if (db->nslots == db->cap) {
        size_t cap = db->cap ? db->cap * 2 : 32;
        struct db_stmt_slot *a = realloc(db->slots, cap * sizeof(*a));
        if (!a)
            return NULL;
        db->slots = a;
        db->cap = cap;
    }
    return &db->slots[db->nslots++];
}

static const char *db__text(const struct db *db, const struct db_sql *sql)
{
    return db->backend == DB_SQLITE ? sql->sqlite : sql->mysql;
}

/* The cached statement of (sql, kind), prepared from text when missing. */
static int db__statement(struct db *db, const struct db_sql *sql, int kind, size_t nrows,
                         const char *text, void **out)
{
    struct db_stmt_slot *slot = db__find_slot(db, sql, kind);
    if (slot && slot->nrows == nrows) {
        *out = slot->stmt;
        return MQ_OK;
    }
    void *stmt;
    int rc = db->ops->prepare(db, text, &stmt);
    if (rc != MQ_OK)
        return rc;
    if (slot) {
        db->ops->finalize(db, slot->stmt);
    } else if (!(slot = db__new_slot(db))) {
        db->ops->finalize(db, stmt);
        db__set_error(db, "out of memory");
        return MQ_ENOMEM;
    }
    *slot = (struct db_stmt_slot){.sql = sql, .kind = kind, .nrows = nrows, .stmt = stmt};
    *out = stmt;
    return MQ_OK;
}

/* ---- public calls ---------------------------------------------------------- */

void db_close(struct db *db)
{
    if (!db)
        return;
    db__drop_statements(db);
    db->ops->close(db);
}

enum db_backend db_backend(const struct db *db)
{
    return db->backend;
}

int db_exec(struct db *db, const struct db_sql *sql, const struct db_value *params, size_t n,
            db_row_fn fn, void *ctx)
{
    const char *text = db__text(db, sql);
    if (!text) {
        db__set_error(db, "statement has no %s text",
                      db->backend == DB_SQLITE ? "SQLite" : "MySQL");
        return MQ_EIO;
    }
    void *stmt;
    int rc = db__statement(db, sql, DB_SLOT_EXEC, 0, text, &stmt);
    if (rc != MQ_OK)
        return rc;
    return db->ops->run(db, stmt, params, n, fn, ctx);
}

/* "sql row,row,...,row" with nrows rows, malloc'd (NULL when out of memory). */
static char *db__multi_row_text(const char *sql, const char *row_sql, size_t nrows)
{
    size_t lsql = strlen(sql), lrow = strlen(row_sql);
    char *s = malloc(lsql + 1 + nrows * (lrow + 1) + 1);
    if (!s)
        return NULL;
    char *p = s;
    memcpy(p, sql, lsql);
    p += lsql;
    *p++ = ' ';
    for (size_t i = 0; i < nrows; i++) {
        if (i > 0)
            *p++ = ',';
        memcpy(p, row_sql, lrow);
        p += lrow;
    }
    *p = '\0';
    return s;
}

/* Bytes one row's values take in a statement (an estimate for the budget). */
static size_t db__row_bytes(const struct db_value *row, size_t ncols)
{
    size_t bytes = 0;
    for (size_t i = 0; i < ncols; i++)
        bytes += 16 + (row[i].type == DB_BYTES ? row[i].len : 0);
    return bytes;
}

/* Rows of the next statement: up to chunk, fewer if the byte budget says so. */
static size_t db__next_rows(const struct db *db, const struct db_value *params, size_t ncols,
                            size_t left, size_t chunk)
{
    size_t k = left < chunk ? left : chunk;
    if (db->max_bytes == 0)
        return k;
    size_t bytes = 0;
    for (size_t r = 0; r < k; r++) {
        bytes += db__row_bytes(params + r * ncols, ncols);
        if (bytes > db->max_bytes)
            return r > 0 ? r : 1;
    }
    return k;
}

int db_insert_rows(struct db *db, const struct db_sql *sql, const char *row_sql, size_t ncols,
                   const struct db_value *params, size_t nrows)
{
    const char *text = db__text(db, sql);
    if (!text || ncols == 0 || ncols > db->max_params) {
        db__set_error(db, "db_insert_rows: bad statement or %zu columns", ncols);
        return MQ_EIO;
    }
    size_t chunk = db->max_params / ncols;
    if (chunk > DB_ROWS_PER_STATEMENT)
        chunk = DB_ROWS_PER_STATEMENT;
    int64_t changes = 0;
    int rc = MQ_OK;
    for (size_t done = 0; done < nrows;) {
        const struct db_value *row = params + done * ncols;
        size_t k = db__next_rows(db, row, ncols, nrows - done, chunk);
        int kind = k == chunk ? DB_SLOT_FULL : DB_SLOT_OTHER;
        void *stmt;
        struct db_stmt_slot *slot = db__find_slot(db, sql, kind);
        if (slot && slot->nrows == k) {
            stmt = slot->stmt;
        } else {
            char *multi = db__multi_row_text(text, row_sql, k);
            if (!multi) {
                db__set_error(db, "out of memory");
                rc = MQ_ENOMEM;
                break;
            }
            rc = db__statement(db, sql, kind, k, multi, &stmt);
            free(multi);
            if (rc != MQ_OK)
                break;
        }
        rc = db->ops->run(db, stmt, row, k * ncols, NULL, NULL);
        if (rc != MQ_OK)
            break;
        changes += db->changes;
        done += k;
    }
    db->changes = changes;
    return rc;
}

int64_t db_changes(struct db *db)
{
    return db->changes;
}

int64_t db_last_id(struct db *db)
{
    return db->last_id;
}

static const struct db_sql sql_begin = {"BEGIN IMMEDIATE", "START TRANSACTION"};
static const struct db_sql sql_commit = {"COMMIT", "COMMIT"};
static const struct db_sql sql_rollback = {"ROLLBACK", "ROLLBACK"};

/* SQLite's BEGIN IMMEDIATE takes the write lock at once (waiting up to the
 * busy timeout), so a transaction never fails half-way for want of it. */
int db_begin(struct db *db)
{
    return db->ops->exec_text(db, db__text(db, &sql_begin));
}

int db_commit(struct db *db)
{
    return db->ops->exec_text(db, db__text(db, &sql_commit));
}

int db_rollback(struct db *db)
{
    if (db->ops->in_transaction && !db->ops->in_transaction(db))
        return MQ_OK;
    return db->ops->exec_text(db, db__text(db, &sql_rollback));
}

int db_reconnect(struct db *db)
{
    db__drop_statements(db);
    return db->ops->reconnect(db);
}

const char *db_error(const struct db *db)
{
    return db->err;
}

/* ---- migrations ------------------------------------------------------------ */

static const struct db_sql sql_version_table = {
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
    "applied_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS schema_version (version INT NOT NULL PRIMARY KEY, "
    "applied_ms BIGINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
};
static const struct db_sql sql_versions = {
    "SELECT version FROM schema_version",
    "SELECT version FROM schema_version",
};
static const struct db_sql sql_version_get = {
    "SELECT version FROM schema_version WHERE version = ?",
    "SELECT version FROM schema_version WHERE version = ?",
};
static const struct db_sql sql_version_add = {
    "INSERT INTO schema_version (version, applied_ms) VALUES (?, ?)",
    "INSERT INTO schema_version (version, applied_ms) VALUES (?, ?)",
};
static const struct db_sql sql_lock = {NULL, "SELECT GET_LOCK('mqchat.schema', 60)"};
static const struct db_sql sql_unlock = {NULL, "SELECT RELEASE_LOCK('mqchat.schema')"};

static int db__note_version(void *ctx, const struct db_value *cols, size_t ncols)
{
    bool *applied = ctx;
    if (ncols == 1 && cols[0].type == DB_INT && cols[0].i > 0 && cols[0].i < MAX_VERSION)
        applied[cols[0].i] = true;
    return 0;
}

/* True when s holds something other than blanks. */
static bool db__has_text(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return true;
    return false;
}

/* MySQL: runs the statements of sql one by one, split at ';' ending a line. */
static int db__exec_each(struct db *db, const char *sql)
{
    char *copy = strdup(sql);
    if (!copy) {
        db__set_error(db, "out of memory");
        return MQ_ENOMEM;
    }
    int rc = MQ_OK;
    char *start = copy;
    for (char *p = copy; rc == MQ_OK; p++) {
        bool end = *p == '\0';
        if (*p == ';') {
            char *q = p + 1;
            while (*q == ' ' || *q == '\t' || *q == '\r')
                q++;
            end = *q == '\n' || *q == '\0';
        }
        if (!end)
            continue;
        bool last = *p == '\0';
        *p = '\0';
        if (db__has_text(start))
            rc = db->ops->exec_text(db, start);
        if (last)
            break;
        start = p + 1;
    }
    free(copy);
    return rc;
}

static int db__found(void *ctx, const struct db_value *cols, size_t ncols)
{
    *(bool *)ctx = true;
    return 1;
}

/* Applies m in a transaction, unless another connection applied it since
 * the versions were read (two threads opening one SQLite file at once: the
 * second waits for the first's BEGIN IMMEDIATE, then finds the row). */
static int db__apply(struct db *db, const struct schema_migration *m)
{
    bool done = false;
    struct db_value version = DB_I(m->version);
    int rc = db_begin(db);
    if (rc == MQ_OK)
        rc = db_exec(db, &sql_version_get, &version, 1, db__found, &done);
    if (rc == MQ_OK && done)
        return db_commit(db) == MQ_OK ? MQ_OK : MQ_EIO;
    if (rc == MQ_OK)
        rc = db->backend == DB_SQLITE ? db->ops->exec_text(db, m->sql) : db__exec_each(db, m->sql);
    if (rc == MQ_OK) {
        struct db_value v[2] = {DB_I(m->version), DB_I(db__now_ms())};
        rc = db_exec(db, &sql_version_add, v, 2, NULL, NULL);
    }
    if (rc == MQ_OK)
        rc = db_commit(db);
    if (rc != MQ_OK) {
        log_error("migration %s failed: %s", m->name, db_error(db));
        db_rollback(db);
        return MQ_EIO;
    }
    log_info("applied migration %s", m->name);
    return MQ_OK;
}

int db__migrate(struct db *db)
{
    const struct schema_migration *list = db->backend == DB_SQLITE ? schema_sqlite : schema_mysql;
    size_t count = db->backend == DB_SQLITE ? schema_sqlite_count : schema_mysql_count;
    bool *applied = calloc(MAX_VERSION, sizeof(*applied));
    if (!applied) {
        log_error("migrations: out of memory");
        return MQ_EIO;
    }
    bool locked = db->backend == DB_MYSQL;
    int rc = locked ? db->ops->exec_text(db, sql_lock.mysql) : MQ_OK;
    if (rc == MQ_OK)
        rc = db->ops->exec_text(db, db__text(db, &sql_version_table));
    if (rc == MQ_OK)
        rc = db_exec(db, &sql_versions, NULL, 0, db__note_version, applied);
    if (rc != MQ_OK) {
        log_error("migrations: cannot read schema_version: %s", db_error(db));
        rc = MQ_EIO;
    }
    for (size_t i = 0; rc == MQ_OK && i < count; i++) {
        int v = list[i].version;
        if (v < 1 || v >= MAX_VERSION) {
            log_error("migration %s: version %d out of range", list[i].name, v);
            rc = MQ_EIO;
        } else if (!applied[v]) {
            rc = db__apply(db, &list[i]);
        }
    }
    if (locked)
        db->ops->exec_text(db, sql_unlock.mysql);
    free(applied);
    return rc;
}
