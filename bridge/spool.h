/*
 * spool.h - the edge buffer: one writer thread that owns every write to the
 * node's local SQLite database (data_dir/mqchat.db).
 *
 * Workers hand it jobs (spool_submit); the thread takes whatever is queued,
 * runs it all in one transaction (group commit: one commit per batch, the
 * batch closed after at most a few milliseconds or SPOOL_BATCH_MAX jobs),
 * and then hands each job back through its `post` callback, with
 * job->result telling whether the commit happened. A QoS 1/2 publish that
 * is spooled is acknowledged only from that callback.
 *
 * What the jobs write: spool rows (every message the broker keeps: chat
 * messages, publishes on store.spool_topics), and the node-local state that
 * must survive a restart (persistent sessions, their subscriptions, queued
 * and inflight messages; retained messages). See persist.h.
 *
 * The archiver (archiver.h) drains the spool table into the archive.
 * struct spool_counters is what both publish for $SYS and /metrics.
 */
#ifndef MQCHAT_SPOOL_H
#define MQCHAT_SPOOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"

#define SPOOL_BATCH_MAX 4096

/* Shared counters (relaxed atomics; any thread reads them). */
struct spool_counters {
    atomic_int_fast64_t committed_seq;   /* highest spool.seq committed */
    atomic_int_fast64_t archived_seq;    /* highest spool.seq archived (archiver) */
    atomic_int_fast64_t pending_bytes;   /* body bytes committed and not archived */
    atomic_uint_fast64_t appended;       /* spool rows committed since start */
    atomic_uint_fast64_t archived;       /* rows archived since start (archiver) */
    atomic_uint_fast64_t archive_errors; /* failed archive attempts (archiver) */
    atomic_bool archive_up;              /* the archive database answers */
    atomic_uint_fast64_t batches;        /* transactions committed */
    atomic_uint_fast64_t failed_batches; /* transactions that failed (disk full...) */
    atomic_int_fast64_t full_at_ms;      /* CLOCK_MONOTONIC ms of the last write that failed
                                            for lack of space; 0 after one that succeeded */
};

struct spool;
struct spool_job;

/*
 * A unit of work for the writer. `write` runs on the writer thread inside
 * the batch transaction and returns MQ_OK or an error (the batch is then
 * rolled back and retried job by job, so one bad job fails alone). After
 * the commit, `post` hands the job back with result set; whoever receives
 * it frees it. `post` may be NULL: the writer then frees the job with
 * `free_fn`.
 */
struct spool_job {
    int (*write)(struct db *db, struct spool_job *job);
    void (*post)(void *post_ctx, struct spool_job *job); /* any thread; may be NULL */
    void (*free_fn)(struct spool_job *job);
    void *post_ctx;
    int result;             /* MQ_OK when committed */
    int64_t body_bytes;     /* spool body bytes this job adds (counters) */
    int64_t seq;            /* spool.seq of the row written, if any */
    struct spool_job *next; /* the spool's queue */
};

/* CLOCK_MONOTONIC in milliseconds, never 0 (the clock of full_at_ms). */
int64_t spool_clock_ms(void);

/* Starts the writer thread on db (ownership passes). NULL on failure. */
struct spool *spool_start(struct db *db, struct spool_counters *counters);

/* Queues job (any thread). Jobs commit in the order they are submitted. */
void spool_submit(struct spool *sp, struct spool_job *job);

/* Commits everything queued, stops the thread, closes the db. NULL ok. */
void spool_stop(struct spool *sp);

#endif
