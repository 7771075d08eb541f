/*
 * db_mysql.c - the MySQL/MariaDB backend of db.h over the libmysqlclient
 * API (libmariadb): the URL, connecting, server-side prepared statements
 * (mysql_stmt_*) with bound parameters and bound results, and the client's
 * error numbers as MQ_* codes.
 *
 * URL: mysql://[user[:password]@][host][:port]/database[?socket=/path]
 * user, password, database and the socket path are percent-decoded (a
 * decoded NUL is refused); an IPv6 host is written in brackets. Host
 * "localhost", or an empty host, connects over the Unix socket (the
 * `socket` option's, else the client library's default).
 *
 * Every session runs with sql_mode STRICT_ALL_TABLES (a value too long for
 * its column is an error, never silently cut) and the utf8mb4 character
 * set; our columns are binary, so bytes go in and out untouched. Results
 * are fetched whole (mysql_stmt_store_result) into per-statement buffers
 * that grow when a fetch reports truncation, so a BLOB of any length comes
 * back complete. A lost connection reads as MQ_EAGAIN; db_reconnect() then
 * connects again with the same parameters. This file is not where
 * statements are cached or migrations run (db.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "db_internal.h"
#include "errors.h"
#include "log.h"
#include "textutil.h"

#define CONNECT_TIMEOUT_S 3     /* seconds to wait for a TCP/socket connection */
#define IO_TIMEOUT_S      60    /* seconds a read or write may stall on a live connection */
#define MAX_PARAMS        65535 /* placeholders per statement, the protocol's limit */
#define FIRST_BUF         256   /* initial result buffer of a byte column */

/* Where to connect; every string owned (NULL when absent). */
struct my_target {
    char *user, *password, *host, *database, *socket;
    unsigned port;
};

struct db_mysql {
    struct db base; /* first: a struct db * is a struct db_mysql * */
    MYSQL *h;       /* NULL after a failed reconnect */
    struct my_target t;
};

/* One result column's buffer. */
struct my_col {
    bool is_int;       /* bound as MYSQL_TYPE_LONGLONG into i */
    long long i;       /* an integer column's value */
    char *buf;         /* a byte column's value, cap bytes */
    unsigned long cap; /* size of buf */
    unsigned long len; /* length of the fetched value */
    my_bool is_null;   /* the value is NULL */
    my_bool error;     /* truncated */
};

/* A prepared statement and its result buffers. */
struct my_stmt {
    MYSQL_STMT *st;
    unsigned nparams;
    unsigned ncols;
    MYSQL_BIND *pbind;     /* nparams */
    MYSQL_BIND *rbind;     /* ncols */
    struct my_col *cols;   /* ncols */
    struct db_value *vals; /* ncols, handed to the row callback */
};

static struct db_mysql *my(struct db *db)
{
    return (struct db_mysql *)db;
}

/* A client or server error number as an MQ_* code. */
static int my_code(unsigned err)
{
    switch (err) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case ER_CONNECTION_KILLED:
    case ER_SERVER_SHUTDOWN:
    case ER_LOCK_DEADLOCK:
    case ER_LOCK_WAIT_TIMEOUT:
        return MQ_EAGAIN;
    case ER_RECORD_FILE_FULL:
    case ER_DISK_FULL:
        return MQ_EFULL;
    case CR_OUT_OF_MEMORY:
        return MQ_ENOMEM;
    default:
        return MQ_EIO;
    }
}

static int my_fail(struct db *db, unsigned err, const char *msg, const char *what)
{
    db__set_error(db, "mysql: %s: %s (%u)", what, msg, err);
    return my_code(err);
}

static int my_conn_fail(struct db *db, const char *what)
{
    return my_fail(db, mysql_errno(my(db)->h), mysql_error(my(db)->h), what);
}

static int my_stmt_fail(struct db *db, MYSQL_STMT *st, const char *what)
{
    return my_fail(db, mysql_stmt_errno(st), mysql_stmt_error(st), what);
}

static int my_not_connected(struct db *db)
{
    db__set_error(db, "mysql: not connected");
    return MQ_EAGAIN;
}

/* ---- the URL ---------------------------------------------------------------- */

/* Percent-decodes s[0..len) into a new string in *out. */
static int my_decode(const char *s, size_t len, char **out)
{
    char *d = malloc(len + 1), *p = d;
    if (!d)
        return MQ_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            *p++ = s[i];
            continue;
        }
        int hi = i + 2 < len ? text_hex_digit(s[i + 1]) : -1;
        int lo = hi >= 0 ? text_hex_digit(s[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0)) {
            free(d);
            return MQ_EINVAL;
        }
        *p++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *p = '\0';
    *out = d;
    return MQ_OK;
}

static void my_target_free(struct my_target *t)
{
    free(t->user);
    free(t->password);
    free(t->host);
    free(t->database);
    free(t->socket);
    memset(t, 0, sizeof(*t));
}

/* host[:port] or [v6]:port from s[0..len). */
static int my_parse_host(const char *s, size_t len, struct my_target *t)
{
    const char *h;
    size_t n;
    uint16_t port;
    if (text_split_hostport(s, len, &h, &n, &port, 3306) != MQ_OK)
        return MQ_EINVAL;
    t->port = port;
    return n ? my_decode(h, n, &t->host) : MQ_OK;
}

/* Parses the query string: only socket=PATH. */
static int my_parse_query(const char *q, struct my_target *t)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > 7 && strncmp(q, "socket=", 7) == 0 && !t->socket) {
            int rc = my_decode(q + 7, len - 7, &t->socket);
            if (rc != MQ_OK)
                return rc;
        } else if (len > 0) {
            return MQ_EINVAL;
        }
        q += len + (amp ? 1 : 0);
    }
    return MQ_OK;
}

static int my_parse_url(const char *url, struct my_target *t)
{
    static const char scheme[] = "mysql://";
    memset(t, 0, sizeof(*t));
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        return MQ_EINVAL;
    const char *auth = url + sizeof(scheme) - 1;
    const char *slash = strchr(auth, '/');
    if (!slash)
        return MQ_EINVAL;
    const char *at = NULL;
    for (const char *p = auth; p < slash; p++)
        if (*p == '@')
            at = p;
    int rc = MQ_OK;
    const char *hostpart = auth;
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        const char *uend = colon ? colon : at;
        rc = my_decode(auth, (size_t)(uend - auth), &t->user);
        if (rc == MQ_OK && colon)
            rc = my_decode(colon + 1, (size_t)(at - colon - 1), &t->password);
        hostpart = at + 1;
    }
    if (rc == MQ_OK)
        rc = my_parse_host(hostpart, (size_t)(slash - hostpart), t);
    const char *qm = strchr(slash, '?');
    size_t dblen = qm ? (size_t)(qm - slash - 1) : strlen(slash + 1);
    if (rc == MQ_OK && dblen == 0)
        rc = MQ_EINVAL;
    if (rc == MQ_OK)
        rc = my_decode(slash + 1, dblen, &t->database);
    if (rc == MQ_OK && qm)
        rc = my_parse_query(qm + 1, t);
    if (rc == MQ_OK && !t->host && !(t->host = strdup("localhost")))
        rc = MQ_ENOMEM;
    if (rc != MQ_OK)
        my_target_free(t);
    return rc;
}

/* ---- connecting --------------------------------------------------------------- */

/* The server's max_allowed_packet, or 0 if it cannot be read. */
static size_t my_max_packet(MYSQL *h)
{
    size_t v = 0;
    if (mysql_query(h, "SELECT @@max_allowed_packet") != 0)
        return 0;
    MYSQL_RES *res = mysql_store_result(h);
    if (!res)
        return 0;
    MYSQL_ROW row = mysql_fetch_row(res);
    if (row && row[0])
        v = (size_t)strtoull(row[0], NULL, 10);
    mysql_free_result(res);
    return v;
}

static int my_connect(struct db_mysql *m)
{
    const struct my_target *t = &m->t;
    MYSQL *h = mysql_init(NULL);
    if (!h) {
        db__set_error(&m->base, "mysql: out of memory");
        log_error("mysql: out of memory");
        return MQ_EIO;
    }
    unsigned connect_timeout = CONNECT_TIMEOUT_S, io_timeout = IO_TIMEOUT_S;
    mysql_options(h, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options(h, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    mysql_options(h, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
    mysql_options(h, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(h, MYSQL_INIT_COMMAND,
                  "SET SESSION sql_mode='STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
    if (!mysql_real_connect(h, t->host, t->user, t->password, t->database, t->port, t->socket, 0)) {
        db__set_error(&m->base, "mysql: %s (%u)", mysql_error(h), mysql_errno(h));
        log_error("mysql: cannot connect to %s:%u/%s: %s", t->socket ? t->socket : t->host, t->port,
                  t->database, mysql_error(h));
        mysql_close(h);
        return MQ_EIO;
    }
    m->h = h;
    size_t packet = my_max_packet(h);
    m->base.max_bytes = packet > 0 ? packet / 2 : 8u << 20;
    return MQ_OK;
}

/* ---- statements ------------------------------------------------------------------ */

static bool my_is_int(enum enum_field_types type)
{
    switch (type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
        return true;
    default:
        return false;
    }
}

static void my_stmt_free(struct my_stmt *s)
{
    if (!s)
        return;
    if (s->st)
        mysql_stmt_close(s->st);
    for (unsigned i = 0; s->cols && i < s->ncols; i++)
        free(s->cols[i].buf);
    free(s->pbind);
    free(s->rbind);
    free(s->cols);
    free(s->vals);
    free(s);
}

/* Sets up the result columns of a prepared statement. */
static int my_prepare_columns(struct db *db, struct my_stmt *s)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata(s->st);
    if (!meta)
        return my_stmt_fail(db, s->st, "result metadata");
    s->rbind = calloc(s->ncols, sizeof(*s->rbind));
    s->cols = calloc(s->ncols, sizeof(*s->cols));
    s->vals = calloc(s->ncols, sizeof(*s->vals));
    int rc = s->rbind && s->cols && s->vals ? MQ_OK : MQ_ENOMEM;
    for (unsigned i = 0; rc == MQ_OK && i < s->ncols; i++) {
        struct my_col *c = &s->cols[i];
        c->is_int = my_is_int(mysql_fetch_field_direct(meta, i)->type);
        if (!c->is_int && !(c->buf = malloc(c->cap = FIRST_BUF)))
            rc = MQ_ENOMEM;
    }
    mysql_free_result(meta);
    if (rc != MQ_OK)
        db__set_error(db, "out of memory");
    return rc;
}

static int my_prepare(struct db *db, const char *text, void **out)
{
    if (!my(db)->h)
        return my_not_connected(db);
    struct my_stmt *s = calloc(1, sizeof(*s));
    if (!s || !(s->st = mysql_stmt_init(my(db)->h))) {
        free(s);
        db__set_error(db, "out of memory");
        return MQ_ENOMEM;
    }
    int rc = MQ_OK;
    if (mysql_stmt_prepare(s->st, text, strlen(text)) != 0)
        rc = my_stmt_fail(db, s->st, "prepare");
    if (rc == MQ_OK) {
        s->nparams = (unsigned)mysql_stmt_param_count(s->st);
        s->ncols = mysql_stmt_field_count(s->st);
        if (s->nparams && !(s->pbind = calloc(s->nparams, sizeof(*s->pbind)))) {
            db__set_error(db, "out of memory");
            rc = MQ_ENOMEM;
        }
    }
    if (rc == MQ_OK && s->ncols)
        rc = my_prepare_columns(db, s);
    if (rc != MQ_OK) {
        my_stmt_free(s);
        return rc;
    }
    *out = s;
    return MQ_OK;
}

static void my_finalize(struct db *db, void *stmt)
{
    my_stmt_free(stmt);
}

static int my_bind_params(struct db *db, struct my_stmt *s, const struct db_value *params, size_t n)
{
    static char empty[1];
    if (n != s->nparams) {
        db__set_error(db, "mysql: statement takes %u parameters, %zu given", s->nparams, n);
        return MQ_EIO;
    }
    if (n == 0)
        return MQ_OK;
    memset(s->pbind, 0, n * sizeof(*s->pbind));
    for (size_t i = 0; i < n; i++) {
        const struct db_value *v = &params[i];
        MYSQL_BIND *b = &s->pbind[i];
        switch (v->type) {
        case DB_INT:
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = (void *)&v->i;
            break;
        case DB_BYTES:
            b->buffer_type = MYSQL_TYPE_BLOB;
            b->buffer = v->len ? (void *)v->p : empty;
            b->buffer_length = v->len;
            break;
        default:
            b->buffer_type = MYSQL_TYPE_NULL;
            break;
        }
    }
    if (mysql_stmt_bind_param(s->st, s->pbind) != 0)
        return my_stmt_fail(db, s->st, "bind");
    return MQ_OK;
}

/* Points the result binds at the current column buffers. */
static int my_bind_results(struct db *db, struct my_stmt *s)
{
    for (unsigned i = 0; i < s->ncols; i++) {
        struct my_col *c = &s->cols[i];
        MYSQL_BIND *b = &s->rbind[i];
        memset(b, 0, sizeof(*b));
        if (c->is_int) {
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &c->i;
        } else {
            b->buffer_type = MYSQL_TYPE_BLOB;
            b->buffer = c->buf;
            b->buffer_length = c->cap;
        }
        b->length = &c->len;
        b->is_null = &c->is_null;
        b->error = &c->error;
    }
    if (mysql_stmt_bind_result(s->st, s->rbind) != 0)
        return my_stmt_fail(db, s->st, "bind result");
    return MQ_OK;
}

/* After MYSQL_DATA_TRUNCATED: grows the short buffers and fetches those
 * columns again, whole. */
static int my_refetch(struct db *db, struct my_stmt *s)
{
    bool grown = false;
    for (unsigned i = 0; i < s->ncols; i++) {
        struct my_col *c = &s->cols[i];
        if (c->is_int || c->is_null || c->len <= c->cap)
            continue;
        char *buf = realloc(c->buf, c->len);
        if (!buf) {
            db__set_error(db, "out of memory");
            return MQ_ENOMEM;
        }
        c->buf = buf;
        c->cap = c->len;
        s->rbind[i].buffer = buf;
        s->rbind[i].buffer_length = c->cap;
        if (mysql_stmt_fetch_column(s->st, &s->rbind[i], i, 0) != 0)
            return my_stmt_fail(db, s->st, "fetch column");
        grown = true;
    }
    if (!grown) {
        db__set_error(db, "mysql: fetch: a column was truncated");
        return MQ_EIO;
    }
    return my_bind_results(db, s);
}

static void my_row_values(struct my_stmt *s)
{
    for (unsigned i = 0; i < s->ncols; i++) {
        const struct my_col *c = &s->cols[i];
        if (c->is_null)
            s->vals[i] = DB_NIL;
        else if (c->is_int)
            s->vals[i] = DB_I(c->i);
        else
            s->vals[i] = DB_B(c->buf, (size_t)c->len);
    }
}

/* Fetches every row of an executed statement into fn. */
static int my_fetch_all(struct db *db, struct my_stmt *s, db_row_fn fn, void *ctx)
{
    if (mysql_stmt_store_result(s->st) != 0)
        return my_stmt_fail(db, s->st, "store result");
    int rc = my_bind_results(db, s);
    while (rc == MQ_OK) {
        int f = mysql_stmt_fetch(s->st);
        if (f == MYSQL_NO_DATA)
            break;
        if (f == 1) {
            rc = my_stmt_fail(db, s->st, "fetch");
            break;
        }
        if (f == MYSQL_DATA_TRUNCATED && (rc = my_refetch(db, s)) != MQ_OK)
            break;
        if (!fn)
            continue;
        my_row_values(s);
        if (fn(ctx, s->vals, s->ncols) != 0)
            break;
    }
    mysql_stmt_free_result(s->st);
    return rc;
}

static int my_run(struct db *db, void *stmt, const struct db_value *params, size_t n, db_row_fn fn,
                  void *ctx)
{
    struct my_stmt *s = stmt;
    int rc = my_bind_params(db, s, params, n);
    if (rc != MQ_OK)
        return rc;
    if (mysql_stmt_execute(s->st) != 0)
        return my_stmt_fail(db, s->st, "execute");
    if (s->ncols)
        rc = my_fetch_all(db, s, fn, ctx);
    db->changes = s->ncols ? 0 : (int64_t)mysql_stmt_affected_rows(s->st);
    if (!s->ncols)
        db->last_id = (int64_t)mysql_stmt_insert_id(s->st);
    return rc;
}

static int my_exec_text(struct db *db, const char *text)
{
    MYSQL *h = my(db)->h;
    if (!h)
        return my_not_connected(db);
    if (mysql_real_query(h, text, strlen(text)) != 0)
        return my_conn_fail(db, "query");
    MYSQL_RES *res = mysql_store_result(h);
    if (res)
        mysql_free_result(res);
    else if (mysql_field_count(h) != 0)
        return my_conn_fail(db, "store result");
    db->changes = (int64_t)mysql_affected_rows(h);
    return MQ_OK;
}

static int my_reconnect(struct db *db)
{
    struct db_mysql *m = my(db);
    if (m->h)
        mysql_close(m->h);
    m->h = NULL;
    return my_connect(m);
}

static void my_close(struct db *db)
{
    struct db_mysql *m = my(db);
    if (m->h)
        mysql_close(m->h);
    my_target_free(&m->t);
    free(m);
}

static const struct db_ops mysql_ops = {
    .prepare = my_prepare,
    .finalize = my_finalize,
    .run = my_run,
    .exec_text = my_exec_text,
    .in_transaction = NULL,
    .reconnect = my_reconnect,
    .close = my_close,
};

int db_open_mysql(const char *url, struct db **out)
{
    struct db_mysql *m = calloc(1, sizeof(*m));
    if (!m) {
        log_error("mysql: out of memory");
        return MQ_EIO;
    }
    db__init(&m->base, DB_MYSQL, &mysql_ops);
    m->base.max_params = MAX_PARAMS;
    int rc = my_parse_url(url, &m->t);
    if (rc != MQ_OK) {
        log_error("mysql: mysql.url does not parse (mysql://user:password@host:port/database"
                  "[?socket=/path])");
        free(m);
        return rc == MQ_ENOMEM ? MQ_EIO : MQ_EINVAL;
    }
    if (my_connect(m) != MQ_OK || db__migrate(&m->base) != MQ_OK) {
        db_close(&m->base);
        return MQ_EIO;
    }
    *out = &m->base;
    return MQ_OK;
}
