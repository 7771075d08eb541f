/*
 * archiver.c - the archiver thread (archiver.h): it moves committed spool
 * rows into the message archive, batch by batch, and trims the spool.
 *
 * It owns two connections, both used on its thread only: its own SQLite
 * connection to the node's database (the spool writer has another; WAL lets
 * one write while the other reads) and, when mysql_url is set, the MySQL
 * connection of the archive. One round:
 *
 *   1. read up to `batch` rows with spool.seq > cursor, in seq order;
 *   2. store_archive_put() them into the archive (one transaction);
 *   3. in one SQLite transaction: move the cursor (spool_state
 *      'archived_seq') to the last seq read and, with retention 0, delete
 *      the rows just archived.
 *
 * Archiving into SQLite, 2 and 3 are the same transaction. Archiving into
 * MySQL, 2 commits before 3: a crash (or a failed SQLite commit) in between
 * replays the batch later, and the archive skips ids it already holds, so a
 * message is archived exactly once either way.
 *
 * A full batch is followed at once by the next; a short one by a sleep of
 * idle_ms. A failure (the MySQL server went away, a locked or full
 * database) is retried after a backoff doubling from 100 ms to 5 s; the
 * outage is logged once when it starts and once when it ends. Every ~10 s
 * (and at start) archived rows older than retention_days are deleted, in
 * bounded chunks so that the spool writer never waits long for the lock.
 *
 * The last row. spool.seq is the rowid, and SQLite gives a new row
 * MAX(rowid) + 1 (without AUTOINCREMENT, and even with it a rowid can be
 * reused when sqlite_sequence is lost). If the archiver deleted every
 * archived row, new rows would get seqs at or below the cursor and never be
 * archived. So neither retention delete removes the row at the cursor: at
 * most one archived row stays in the spool, and seqs only grow. At start, a
 * cursor beyond MAX(seq) (a spool emptied by something else) is reset to 0:
 * whatever the spool holds is archived again, and the archive skips the ids
 * it already has.
 *
 * Not here: writing the spool (spool.c), refusing publishes when the spool
 * is too large (the publish path reads pending_bytes), the archive's SQL
 * (store.c).
 */
#include "archiver.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "log.h"
#include "store.h"

#define ARCHIVER_BATCH_DEFAULT   1000
#define ARCHIVER_BATCH_MAX       100000
#define ARCHIVER_IDLE_DEFAULT_MS 20
#define ARCHIVER_BACKOFF_MIN_MS  100
#define ARCHIVER_BACKOFF_MAX_MS  5000
#define ARCHIVER_TRIM_EVERY_MS   10000
#define ARCHIVER_TRIM_CHUNK      10000 /* rows per retention DELETE */
#define MS_PER_DAY               86400000LL

/* The columns a batch reads, in SELECT order. */
enum {
    COL_SEQ,
    COL_ID,
    COL_ROOM,
    COL_DM_LOW,
    COL_DM_HIGH,
    COL_TOPIC,
    COL_SENDER,
    COL_TS,
    COL_TYPE,
    COL_BODY,
    COL_NODE,
    NCOLS
};

/* The byte-string fields of a row. */
enum { STR_ROOM, STR_DM_LOW, STR_DM_HIGH, STR_TOPIC, STR_SENDER, STR_TYPE, STR_BODY, NSTR };

/* One spool row of the batch being read. Its strings are kept as offsets
 * into the batch arena (which may move while it grows) until the batch is
 * complete and struct store_message can point at them. */
struct arow {
    int64_t seq;
    int64_t id;
    int64_t ts_ms;
    int64_t node;
    size_t off[NSTR]; /* offset into arena of each string */
    size_t len[NSTR]; /* its length in bytes; 0 for NULL */
};

struct archiver {
    char *sqlite_path;
    char *mysql_url; /* NULL: the archive is the SQLite database itself */
    int retention_days;
    unsigned batch;   /* rows per round, >= 1 */
    unsigned idle_ms; /* sleep after a short round */
    struct spool_counters *counters;

    struct db *spool;   /* our SQLite connection: spool, cursor, (SQLite) archive */
    struct db *archive; /* MySQL; NULL until connected, and in SQLite mode */
    bool reconnect;     /* the MySQL connection failed: reconnect before use */
    int64_t cursor;     /* every spool row with seq <= cursor is archived */

    /* Outage bookkeeping (thread only). */
    bool failing;         /* the last round failed (and that was logged) */
    uint64_t nfailed;     /* failed rounds in the current outage */
    unsigned backoff_ms;  /* the next wait after a failure */
    int64_t next_trim_ms; /* monotonic time of the next retention pass */

    /* The current batch (thread only); arrays of `batch` entries. */
    struct arow *rows;
    struct store_message *msgs;
    size_t nrows;
    char *arena; /* the batch's string bytes */
    size_t arena_len;
    size_t arena_cap;
    int read_rc; /* MQ_ENOMEM when a row could not be copied */

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* signalled when stopping is set */
    bool stopping;       /* under lock */
};

static const struct db_sql sql_cursor_get = {
    "SELECT value FROM spool_state WHERE key = 'archived_seq'",
    NULL,
};

static const struct db_sql sql_cursor_set = {
    "INSERT OR REPLACE INTO spool_state(key, value) VALUES ('archived_seq', ?)",
    NULL,
};

static const struct db_sql sql_pending = {
    "SELECT COALESCE(SUM(length(CAST(body AS BLOB))), 0) FROM spool WHERE seq > ?",
    NULL,
};

static const struct db_sql sql_batch = {
    "SELECT seq, id, room, dm_low, dm_high, topic, sender, ts_ms, type, body, node "
    "FROM spool WHERE seq > ? ORDER BY seq LIMIT ?",
    NULL,
};

static const struct db_sql sql_max_seq = {
    "SELECT COALESCE(MAX(seq), 0) FROM spool",
    NULL,
};

/* Both deletes keep the row at the cursor itself: see "The last row". */
static const struct db_sql sql_drop_archived = {
    "DELETE FROM spool WHERE seq < ?",
    NULL,
};

static const struct db_sql sql_trim = {
    "DELETE FROM spool WHERE seq IN (SELECT seq FROM spool WHERE seq < ? AND ts_ms < ? "
    "ORDER BY seq LIMIT ?)",
    NULL,
};

static int64_t archiver__now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool archiver__stopping(struct archiver *a)
{
    pthread_mutex_lock(&a->lock);
    bool stop = a->stopping;
    pthread_mutex_unlock(&a->lock);
    return stop;
}

/* Sleeps ms milliseconds, or less when archiver_stop() wakes the thread. */
static void archiver__sleep(struct archiver *a, unsigned ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&a->lock);
    while (!a->stopping)
        if (pthread_cond_timedwait(&a->wake, &a->lock, &until) != 0)
            break; /* timed out */
    pthread_mutex_unlock(&a->lock);
}

/* Row callback: the first column as an integer into *(int64_t *)ctx. */
static int archiver__int_row(void *ctx, const struct db_value *cols, size_t ncols)
{
    if (ncols >= 1 && cols[0].type == DB_INT)
        *(int64_t *)ctx = cols[0].i;
    return 0;
}

/* Appends n bytes to the arena; returns their offset, or SIZE_MAX when out
 * of memory. */
static size_t archiver__arena_add(struct archiver *a, const void *p, size_t n)
{
    if (a->arena_cap - a->arena_len < n) {
        size_t cap = a->arena_cap ? a->arena_cap : 64 * 1024;
        while (cap - a->arena_len < n) {
            if (cap > SIZE_MAX / 2)
                return SIZE_MAX;
            cap *= 2;
        }
        char *arena = realloc(a->arena, cap);
        if (!arena)
            return SIZE_MAX;
        a->arena = arena;
        a->arena_cap = cap;
    }
    size_t off = a->arena_len;
    if (n)
        memcpy(a->arena + off, p, n);
    a->arena_len += n;
    return off;
}

/* Copies a byte-string column (NULL: empty; an integer: its decimal text). */
static int archiver__copy_str(struct archiver *a, const struct db_value *v, size_t *off,
                              size_t *len)
{
    const void *p = NULL;
    size_t n = 0;
    char num[24];
    if (v->type == DB_BYTES) {
        p = v->p;
        n = v->len;
    } else if (v->type == DB_INT) {
        n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)v->i);
        p = num;
    }
    *off = archiver__arena_add(a, p, n);
    *len = n;
    return *off == SIZE_MAX ? MQ_ENOMEM : MQ_OK;
}

static int64_t archiver__col_int(const struct db_value *v)
{
    return v->type == DB_INT ? v->i : 0;
}

/* Row callback of sql_batch: copies the row into the batch. */
static int archiver__batch_row(void *ctx, const struct db_value *cols, size_t ncols)
{
    static const int str_col[NSTR] = {COL_ROOM,   COL_DM_LOW, COL_DM_HIGH, COL_TOPIC,
                                      COL_SENDER, COL_TYPE,   COL_BODY};
    struct archiver *a = ctx;
    if (ncols < NCOLS || a->nrows >= a->batch) {
        a->read_rc = MQ_EIO;
        return 1;
    }
    struct arow *r = &a->rows[a->nrows];
    r->seq = archiver__col_int(&cols[COL_SEQ]);
    r->id = archiver__col_int(&cols[COL_ID]);
    r->ts_ms = archiver__col_int(&cols[COL_TS]);
    r->node = archiver__col_int(&cols[COL_NODE]);
    for (int i = 0; i < NSTR; i++) {
        if (archiver__copy_str(a, &cols[str_col[i]], &r->off[i], &r->len[i]) != MQ_OK) {
            a->read_rc = MQ_ENOMEM;
            return 1;
        }
    }
    a->nrows++;
    return 0;
}

/* Reads the next batch (rows with seq > cursor) into rows[] and msgs[].
 * *body_bytes gets the sum of the body lengths. Returns MQ_OK or an error
 * of db_exec() / MQ_ENOMEM. */
static int archiver__read_batch(struct archiver *a, int64_t *body_bytes)
{
    a->nrows = 0;
    a->arena_len = 0;
    a->read_rc = MQ_OK;
    struct db_value params[2] = {DB_I(a->cursor), DB_I(a->batch)};
    int rc = db_exec(a->spool, &sql_batch, params, 2, archiver__batch_row, a);
    if (rc == MQ_OK)
        rc = a->read_rc;
    if (rc != MQ_OK)
        return rc;
    *body_bytes = 0;
    for (size_t i = 0; i < a->nrows; i++) {
        const struct arow *r = &a->rows[i];
        struct store_str s[NSTR];
        for (int k = 0; k < NSTR; k++)
            s[k] = (struct store_str){a->arena ? a->arena + r->off[k] : "", r->len[k]};
        a->msgs[i] = (struct store_message){
            .id = r->id,
            .room = s[STR_ROOM],
            .dm_low = s[STR_DM_LOW],
            .dm_high = s[STR_DM_HIGH],
            .topic = s[STR_TOPIC],
            .sender = s[STR_SENDER],
            .ts_ms = r->ts_ms,
            .type = s[STR_TYPE],
            .body = s[STR_BODY],
            .node = r->node,
        };
        *body_bytes += (int64_t)r->len[STR_BODY];
    }
    return MQ_OK;
}

/*
 * store_archive_put() of the batch, except that a message the archive
 * refuses (MQ_EINVAL: a name or type too long, two targets; store.c logs
 * which) is dropped rather than holding up every message behind it. The
 * refusal comes before anything is written, so the transaction is intact.
 */
static int archiver__put(struct archiver *a, struct db *db)
{
    int rc = store_archive_put(db, a->msgs, a->nrows, NULL);
    if (rc != MQ_EINVAL)
        return rc;
    size_t dropped = 0;
    for (size_t i = 0; i < a->nrows; i++) {
        rc = store_archive_put(db, &a->msgs[i], 1, NULL);
        if (rc == MQ_EINVAL)
            dropped++;
        else if (rc != MQ_OK)
            return rc;
    }
    log_error("archiver: %zu spool rows (seq %lld..%lld) dropped: the archive refuses them",
              dropped, (long long)a->rows[0].seq, (long long)a->rows[a->nrows - 1].seq);
    return MQ_OK;
}

/* Within the caller's SQLite transaction: moves the cursor to seq and, with
 * retention 0, deletes the rows it passed. */
static int archiver__advance(struct archiver *a, int64_t seq)
{
    struct db_value p = DB_I(seq);
    int rc = db_exec(a->spool, &sql_cursor_set, &p, 1, NULL, NULL);
    if (rc == MQ_OK && a->retention_days == 0)
        rc = db_exec(a->spool, &sql_drop_archived, &p, 1, NULL, NULL);
    return rc;
}

/* Where a failed round failed: the archive, or our side (the spool). */
enum archiver_side { SIDE_SPOOL, SIDE_ARCHIVE };

/* SQLite mode: archive the batch, move the cursor, in one transaction. */
static int archiver__commit_sqlite(struct archiver *a, enum archiver_side *side)
{
    *side = SIDE_ARCHIVE;
    int rc = db_begin(a->spool);
    if (rc == MQ_OK)
        rc = archiver__put(a, a->spool);
    if (rc == MQ_OK)
        rc = archiver__advance(a, a->rows[a->nrows - 1].seq);
    if (rc == MQ_OK)
        rc = db_commit(a->spool);
    if (rc != MQ_OK)
        db_rollback(a->spool);
    return rc;
}

/* MySQL mode: archive the batch in MySQL, then move the cursor in SQLite. */
static int archiver__commit_mysql(struct archiver *a, enum archiver_side *side)
{
    *side = SIDE_ARCHIVE;
    int rc = db_begin(a->archive);
    if (rc == MQ_OK)
        rc = archiver__put(a, a->archive);
    if (rc == MQ_OK)
        rc = db_commit(a->archive);
    if (rc != MQ_OK) {
        db_rollback(a->archive);
        a->reconnect = true;
        return rc;
    }
    *side = SIDE_SPOOL;
    rc = db_begin(a->spool);
    if (rc == MQ_OK)
        rc = archiver__advance(a, a->rows[a->nrows - 1].seq);
    if (rc == MQ_OK)
        rc = db_commit(a->spool);
    if (rc != MQ_OK)
        db_rollback(a->spool);
    return rc;
}

/* Makes sure the MySQL connection is there (connecting or reconnecting). */
static int archiver__connect(struct archiver *a)
{
    if (!a->archive) {
        int rc = db_open_mysql(a->mysql_url, &a->archive);
        if (rc != MQ_OK)
            a->archive = NULL;
        return rc;
    }
    if (a->reconnect) {
        int rc = db_reconnect(a->archive);
        if (rc != MQ_OK)
            return rc;
        a->reconnect = false;
    }
    return MQ_OK;
}

/*
 * One round. Returns the number of rows archived (0 when the spool is
 * drained) or a negative error, with *side telling which database failed.
 */
static int archiver__round(struct archiver *a, enum archiver_side *side)
{
    int rc;
    *side = SIDE_ARCHIVE;
    if (a->mysql_url && (rc = archiver__connect(a)) != MQ_OK)
        return rc;
    *side = SIDE_SPOOL;
    int64_t body_bytes = 0;
    if ((rc = archiver__read_batch(a, &body_bytes)) != MQ_OK)
        return rc;
    if (a->nrows == 0)
        return 0;
    rc = a->mysql_url ? archiver__commit_mysql(a, side) : archiver__commit_sqlite(a, side);
    /* A MySQL connection left idle may have been closed by the server
     * (wait_timeout): one immediate reconnect before calling it an outage. */
    if (rc == MQ_EAGAIN && a->mysql_url && *side == SIDE_ARCHIVE && !a->failing &&
        archiver__connect(a) == MQ_OK)
        rc = archiver__commit_mysql(a, side);
    if (rc != MQ_OK)
        return rc;
    a->cursor = a->rows[a->nrows - 1].seq;
    atomic_store_explicit(&a->counters->archived_seq, a->cursor, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->counters->archived, a->nrows, memory_order_relaxed);
    atomic_fetch_sub_explicit(&a->counters->pending_bytes, body_bytes, memory_order_relaxed);
    return (int)a->nrows;
}

/* What a failed round's code means here (MQ_EAGAIN is not "more bytes"). */
static const char *archiver__why(int rc)
{
    switch (rc) {
    case MQ_EAGAIN:
        return "connection lost or database locked";
    case MQ_EFULL:
        return "disk or database full";
    default:
        return mq_strerror(rc);
    }
}

static void archiver__round_failed(struct archiver *a, int rc, enum archiver_side side)
{
    atomic_fetch_add_explicit(&a->counters->archive_errors, 1, memory_order_relaxed);
    bool archive = side == SIDE_ARCHIVE || !a->mysql_url;
    if (archive)
        atomic_store_explicit(&a->counters->archive_up, false, memory_order_relaxed);
    if (!a->failing) {
        if (side == SIDE_ARCHIVE && a->mysql_url && !a->archive)
            log_warn("archiver: cannot connect to the MySQL archive (%s); messages stay in the "
                     "spool, retrying",
                     archiver__why(rc));
        else
            log_warn("archiver: %s failed (%s: %s); messages stay in the spool, retrying",
                     !a->mysql_url          ? "the SQLite archive"
                     : side == SIDE_ARCHIVE ? "the MySQL archive"
                                            : "the SQLite spool",
                     archiver__why(rc),
                     rc == MQ_ENOMEM
                         ? "out of memory"
                         : db_error(side == SIDE_ARCHIVE && a->mysql_url ? a->archive : a->spool));
        a->failing = true;
        a->backoff_ms = ARCHIVER_BACKOFF_MIN_MS;
        a->nfailed = 0;
    } else {
        a->backoff_ms *= 2;
        if (a->backoff_ms > ARCHIVER_BACKOFF_MAX_MS)
            a->backoff_ms = ARCHIVER_BACKOFF_MAX_MS;
    }
    a->nfailed++;
}

static void archiver__round_ok(struct archiver *a)
{
    if (a->failing) {
        log_info("archiver: archiving again (after %llu failed attempts)",
                 (unsigned long long)a->nfailed);
        a->failing = false;
    }
    atomic_store_explicit(&a->counters->archive_up, true, memory_order_relaxed);
}

/* Deletes archived spool rows older than the retention, a chunk at a time. */
static void archiver__trim(struct archiver *a)
{
    int64_t cutoff = INT64_MAX;
    if (a->retention_days > 0) {
        int64_t days = a->retention_days;
        cutoff = archiver__now_ms(CLOCK_REALTIME) - days * MS_PER_DAY;
    }
    int64_t total = 0;
    for (;;) {
        struct db_value p[3] = {DB_I(a->cursor), DB_I(cutoff), DB_I(ARCHIVER_TRIM_CHUNK)};
        int rc = db_exec(a->spool, &sql_trim, p, 3, NULL, NULL);
        if (rc != MQ_OK) {
            log_warn("archiver: spool retention: %s (%s); trying again later", mq_strerror(rc),
                     db_error(a->spool));
            break;
        }
        int64_t n = db_changes(a->spool);
        total += n;
        if (n < ARCHIVER_TRIM_CHUNK || archiver__stopping(a))
            break;
    }
    if (total > 0)
        log_debug("archiver: retention deleted %lld archived spool rows", (long long)total);
}

static void *archiver__main(void *arg)
{
    struct archiver *a = arg;
    while (!archiver__stopping(a)) {
        enum archiver_side side;
        int n = archiver__round(a, &side);
        if (n < 0) {
            archiver__round_failed(a, n, side);
            archiver__sleep(a, a->backoff_ms);
            continue;
        }
        archiver__round_ok(a);
        int64_t now = archiver__now_ms(CLOCK_MONOTONIC);
        if (now >= a->next_trim_ms) {
            archiver__trim(a);
            a->next_trim_ms = now + ARCHIVER_TRIM_EVERY_MS;
        }
        if ((unsigned)n < a->batch)
            archiver__sleep(a, a->idle_ms);
    }
    return NULL;
}

static void archiver__free(struct archiver *a)
{
    db_close(a->archive);
    db_close(a->spool);
    free(a->rows);
    free(a->msgs);
    free(a->arena);
    free(a->sqlite_path);
    free(a->mysql_url);
    free(a);
}

struct archiver *archiver_start(const struct archiver_config *cfg, struct spool_counters *counters)
{
    if (!cfg || !cfg->sqlite_path || !counters) {
        log_error("archiver: no spool database");
        return NULL;
    }
    struct archiver *a = calloc(1, sizeof(*a));
    if (!a) {
        log_error("archiver: out of memory");
        return NULL;
    }
    a->counters = counters;
    a->retention_days = cfg->retention_days < 0 ? 0 : cfg->retention_days;
    if (a->retention_days > 1000000)
        a->retention_days = 1000000;
    a->batch = cfg->batch ? cfg->batch : ARCHIVER_BATCH_DEFAULT;
    if (a->batch > ARCHIVER_BATCH_MAX)
        a->batch = ARCHIVER_BATCH_MAX;
    a->idle_ms = cfg->idle_ms ? cfg->idle_ms : ARCHIVER_IDLE_DEFAULT_MS;
    a->sqlite_path = strdup(cfg->sqlite_path);
    if (cfg->mysql_url && cfg->mysql_url[0])
        a->mysql_url = strdup(cfg->mysql_url);
    a->rows = calloc(a->batch, sizeof(*a->rows));
    a->msgs = calloc(a->batch, sizeof(*a->msgs));
    if (!a->sqlite_path || (cfg->mysql_url && cfg->mysql_url[0] && !a->mysql_url) || !a->rows ||
        !a->msgs) {
        log_error("archiver: out of memory");
        goto err;
    }

    if (db_open_sqlite(a->sqlite_path, DB_DURABILITY_NORMAL, &a->spool) != MQ_OK) {
        a->spool = NULL;
        goto err;
    }
    int64_t pending = 0;
    struct db_value p;
    int rc = db_exec(a->spool, &sql_cursor_get, NULL, 0, archiver__int_row, &a->cursor);
    if (rc == MQ_OK) {
        p = DB_I(a->cursor);
        rc = db_exec(a->spool, &sql_pending, &p, 1, archiver__int_row, &pending);
    }
    int64_t max_seq = 0;
    if (rc == MQ_OK)
        rc = db_exec(a->spool, &sql_max_seq, NULL, 0, archiver__int_row, &max_seq);
    if (rc == MQ_OK && max_seq < a->cursor) {
        log_warn("archiver: the spool's last seq %lld is below the archive cursor %lld; "
                 "archiving the spool again from the start (the archive skips known ids)",
                 (long long)max_seq, (long long)a->cursor);
        a->cursor = 0;
        p = DB_I(a->cursor);
        rc = db_exec(a->spool, &sql_pending, &p, 1, archiver__int_row, &pending);
    }
    if (rc != MQ_OK) {
        log_error("archiver: cannot read the spool of %s: %s", a->sqlite_path, db_error(a->spool));
        goto err;
    }
    atomic_store_explicit(&counters->archived_seq, a->cursor, memory_order_relaxed);
    atomic_store_explicit(&counters->pending_bytes, pending, memory_order_relaxed);
    /* SQLite mode: the archive is the database just opened. MySQL mode: up
     * once the thread has connected. */
    atomic_store_explicit(&counters->archive_up, a->mysql_url == NULL, memory_order_relaxed);

    if (pthread_mutex_init(&a->lock, NULL) != 0)
        goto err;
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0) {
        pthread_mutex_destroy(&a->lock);
        goto err;
    }
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&a->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_destroy(&a->lock);
        goto err;
    }
    if (pthread_create(&a->thread, NULL, archiver__main, a) != 0) {
        log_error("archiver: cannot start its thread");
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        goto err;
    }
    log_info("archiver: archiving the spool of %s into %s (batch %u, retention %d days)",
             a->sqlite_path, a->mysql_url ? "MySQL" : "SQLite", a->batch, a->retention_days);
    return a;

err:
    archiver__free(a);
    return NULL;
}

void archiver_stop(struct archiver *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    archiver__free(a);
}
