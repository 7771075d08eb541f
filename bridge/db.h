/*
 * db.h - one connection to a SQL database, SQLite or MySQL/MariaDB, behind
 * one small API: prepared statements with bound parameters, rows handed to
 * a callback, transactions.
 *
 * A statement is a struct db_sql: the same statement written in both
 * dialects, in static storage. Its address keys the connection's cache of
 * prepared statements, so a statement is prepared once per connection and
 * then only re-bound. Parameters are always bound, never pasted into SQL.
 *
 * Values are integers or byte strings. Byte strings are stored and
 * returned exactly (NUL bytes, quotes, backslashes, any UTF-8 or none):
 * SQLite binds them as BLOBs, MySQL columns holding them are VARBINARY or
 * BLOB. A NULL column comes back as DB_NULL.
 *
 * A struct db belongs to one thread at a time: it is not locked. Blocking
 * calls: never use one on a worker loop (see store.h for the thread that
 * runs them).
 *
 * Opening applies the numbered migrations of schema/sqlite/ or
 * schema/mysql/ (compiled into the binary) that the database's
 * schema_version table does not list yet, each in its own transaction.
 */
#ifndef MQCHAT_DB_H
#define MQCHAT_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;

enum db_backend { DB_SQLITE, DB_MYSQL };

/* store.durability: what a committed transaction survives. */
enum db_durability {
    DB_DURABILITY_NORMAL, /* a crash of the process (SQLite WAL, synchronous=NORMAL) */
    DB_DURABILITY_FULL,   /* a power loss: fsync at every commit (synchronous=FULL) */
};

/* One statement in both dialects; static storage (its address is its key). */
struct db_sql {
    const char *sqlite;
    const char *mysql;
};

enum db_type { DB_NULL, DB_INT, DB_BYTES };

struct db_value {
    enum db_type type;
    int64_t i;     /* DB_INT */
    const void *p; /* DB_BYTES: not NUL-terminated on return; may be NULL if len is 0 */
    size_t len;    /* DB_BYTES */
};

#define DB_I(x)      ((struct db_value){.type = DB_INT, .i = (int64_t)(x)})
#define DB_B(ptr, n) ((struct db_value){.type = DB_BYTES, .p = (ptr), .len = (n)})
#define DB_S(str)    DB_B((str), strlen(str)) /* a C string's bytes (needs string.h) */
#define DB_NIL       ((struct db_value){.type = DB_NULL})

/*
 * Called once per result row. cols[] and the bytes they point to are valid
 * during the call only. Return 0 to go on, anything else to stop early
 * (db_exec then returns MQ_OK).
 */
typedef int (*db_row_fn)(void *ctx, const struct db_value *cols, size_t ncols);

/*
 * Opens (creating it and its directory's file if missing) the SQLite
 * database at path: WAL mode, the durability asked for, a busy timeout,
 * foreign keys off, migrations applied. A file that is not a database or
 * fails SQLite's quick check is renamed to "<path>.corrupt-<unix seconds>"
 * (its -wal and -shm too), logged at error level with both names, and a
 * fresh database is created in its place.
 * Returns MQ_OK and *out, or MQ_EIO (logged).
 */
int db_open_sqlite(const char *path, enum db_durability durability, struct db **out);

/*
 * Connects to "mysql://user:password@host:port/database" (port optional,
 * default 3306; user and password may be percent-encoded; host "localhost"
 * or a "?socket=/path" query selects a Unix socket), sets utf8mb4 and
 * applies the migrations. Returns MQ_OK and *out, MQ_EINVAL for a URL that
 * does not parse, MQ_EIO when the server is unreachable or refuses (logged).
 */
int db_open_mysql(const char *url, struct db **out);

/* Closes the connection and frees its statements. NULL is a no-op. */
void db_close(struct db *db);

enum db_backend db_backend(const struct db *db);

/*
 * Runs sql with params[0..n-1] bound in order, calling fn (may be NULL) for
 * each row. Returns MQ_OK, MQ_EFULL (disk or database full), MQ_EAGAIN (the
 * MySQL server went away or the SQLite database stayed locked: the caller
 * may retry later; db_reconnect() first for MySQL) or MQ_EIO (any other
 * error); db_error() tells what.
 */
int db_exec(struct db *db, const struct db_sql *sql, const struct db_value *params, size_t n,
            db_row_fn fn, void *ctx);

/*
 * Multi-row insert: sql holds "INSERT ... VALUES" without any row and
 * row_sql the placeholder group of one row, e.g. "(?,?,?)". Inserts nrows
 * rows whose values are params[0 .. nrows*ncols-1], row after row, with as
 * few statements as possible (prepared once per batch size and cached).
 * Returns as db_exec().
 */
int db_insert_rows(struct db *db, const struct db_sql *sql, const char *row_sql, size_t ncols,
                   const struct db_value *params, size_t nrows);

/* Rows changed by the last db_exec() or db_insert_rows(). */
int64_t db_changes(struct db *db);

/* The rowid / AUTO_INCREMENT value of the last insert. */
int64_t db_last_id(struct db *db);

/* Transactions. Each returns as db_exec(). db_rollback() is harmless
 * outside a transaction. */
int db_begin(struct db *db);
int db_commit(struct db *db);
int db_rollback(struct db *db);

/* MySQL: drops the statement cache and connects again (MQ_OK or MQ_EIO).
 * SQLite: MQ_OK. */
int db_reconnect(struct db *db);

/* The last error, for logs; never NULL. */
const char *db_error(const struct db *db);

#endif
