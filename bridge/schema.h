/*
 * schema.h - the numbered SQL migrations of schema/sqlite/ and schema/mysql/,
 * compiled into the binary.
 *
 * scripts/embed-sql.sh turns every schema/DIALECT/NNN_name.sql into one row
 * of schema_sqlite[] or schema_mysql[] (build/gen/schema_sql.c), sorted by
 * NNN; whole-line `--` comments are left out. A migration's SQL is one or
 * more statements, each ending with ';' at the end of a line and holding no
 * ';' elsewhere: SQLite runs the text as it is, MySQL one statement at a
 * time (db.c splits it). db.c applies the rows a database's schema_version
 * table does not list yet; this header does not run anything.
 */
#ifndef MQCHAT_SCHEMA_H
#define MQCHAT_SCHEMA_H

#include <stddef.h>

struct schema_migration {
    int version;      /* NNN of the file name, >= 1; unique within a dialect */
    const char *name; /* the file name without ".sql", e.g. "001_chat" */
    const char *sql;  /* the statements, NUL-terminated */
};

/* Sorted by version; the counts may be 0. */
extern const struct schema_migration schema_sqlite[];
extern const size_t schema_sqlite_count;
extern const struct schema_migration schema_mysql[];
extern const size_t schema_mysql_count;

#endif
