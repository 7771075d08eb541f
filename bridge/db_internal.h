/*
 * db_internal.h - what db.c shares with its two backends, db_sqlite.c and
 * db_mysql.c: the backend operations table and the common part of a
 * struct db (statement cache, last error, change counters).
 *
 * db.c owns dispatch, the statement cache, multi-row batching, transactions
 * and the migrations runner; a backend owns its connection, preparing and
 * running one statement, and its mapping of errors onto MQ_* codes. Nothing
 * outside bridge/db*.c includes this header.
 */
#ifndef MQCHAT_DB_INTERNAL_H
#define MQCHAT_DB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* Most rows one multi-row INSERT statement carries (db_insert_rows). */
#define DB_ROWS_PER_STATEMENT 256

/*
 * A backend. Every int-returning operation returns MQ_OK or the codes of
 * db_exec() and records a message with db__set_error() on failure.
 */
struct db_ops {
    /* Prepares one statement into *stmt (a backend handle). */
    int (*prepare)(struct db *db, const char *text, void **stmt);
    /* Frees a prepared statement. */
    void (*finalize)(struct db *db, void *stmt);
    /* Binds params[0..n-1], runs stmt, calls fn (may be NULL) per row until
     * it returns non-zero, and leaves stmt ready to run again. Sets
     * db->changes (0 for statements that return rows) and db->last_id. */
    int (*run)(struct db *db, void *stmt, const struct db_value *params, size_t n, db_row_fn fn,
               void *ctx);
    /* Runs text without parameters, discarding any rows. SQLite accepts
     * several statements; MySQL exactly one. */
    int (*exec_text)(struct db *db, const char *text);
    /* True inside a transaction; NULL when ROLLBACK is harmless anyway. */
    bool (*in_transaction)(struct db *db);
    /* Drops the connection and makes a new one (cache already cleared). */
    int (*reconnect)(struct db *db);
    /* Closes the connection and frees the backend struct (cache cleared). */
    void (*close)(struct db *db);
};

/* One cached prepared statement. */
struct db_stmt_slot {
    const struct db_sql *sql; /* the key: the statement's static address */
    int kind;                 /* DB_SLOT_* below */
    size_t nrows;             /* rows of an insert slot's statement; 0 for DB_SLOT_EXEC */
    void *stmt;               /* the backend's prepared statement */
};

enum {
    DB_SLOT_EXEC = 0,  /* db_exec() */
    DB_SLOT_FULL = 1,  /* db_insert_rows(), a full chunk of rows */
    DB_SLOT_OTHER = 2, /* db_insert_rows(), any other row count (re-prepared on change) */
};

/* The part of every connection db.c knows; a backend's struct starts with it. */
struct db {
    enum db_backend backend;
    const struct db_ops *ops;
    struct db_stmt_slot *slots; /* the statement cache, nslots used of cap */
    size_t nslots, cap;
    int64_t changes;   /* rows changed by the last statement (db_changes) */
    int64_t last_id;   /* rowid / AUTO_INCREMENT of the last insert */
    size_t max_params; /* most parameters one statement may bind */
    size_t max_bytes;  /* most value bytes one statement should carry; 0 = no limit */
    char err[512];     /* the last error, NUL-terminated; "" when none yet */
};

/* Sets the common fields of a fresh connection. */
void db__init(struct db *db, enum db_backend backend, const struct db_ops *ops);

/* Formats the last error (db_error()). */
void db__set_error(struct db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Applies the migrations the database does not list yet (logged). MQ_OK or
 * MQ_EIO. */
int db__migrate(struct db *db);

/* Finalizes and forgets every cached statement. */
void db__drop_statements(struct db *db);

/* The wall clock in Unix milliseconds. */
int64_t db__now_ms(void);

#endif
