/*
 * archiver.h - the thread that drains the spool into the archive.
 *
 * It reads committed spool rows (spool.seq > the cursor kept in the
 * spool_state table) in batches, writes them to the archive with
 * store_archive_put() (multi-row, idempotent on the message id: a replay
 * after a crash never duplicates), and then advances the cursor. The
 * archive is MySQL when mysql.url is set, else the messages table of the
 * same SQLite database. While the archive is unreachable it retries with
 * exponential backoff (100 ms doubling to 5 s) and chat goes on: the spool
 * grows (bounded by store.spool_max_bytes, which the publish path checks).
 * Archived spool rows older than store.retention_days are deleted.
 */
#ifndef MQCHAT_ARCHIVER_H
#define MQCHAT_ARCHIVER_H

#include "db.h"
#include "spool.h"

struct archiver;

struct archiver_config {
    const char *sqlite_path; /* the node's database (the spool) */
    const char *mysql_url;   /* NULL or "": archive into SQLite */
    int retention_days;      /* archived spool rows kept this long; 0 = delete once archived */
    unsigned batch;          /* rows per archive transaction; 0 = 1000 */
    unsigned idle_ms;        /* poll interval when the spool is drained; 0 = 20 */
};

/* Starts the thread; it connects (and reconnects) to the archive itself.
 * counters: archived_seq, pending_bytes, archived, archive_errors and
 * archive_up are updated by the archiver. NULL on failure (logged). */
struct archiver *archiver_start(const struct archiver_config *cfg, struct spool_counters *counters);

/* Stops the thread (after its current batch) and frees it. NULL ok. */
void archiver_stop(struct archiver *a);

#endif
