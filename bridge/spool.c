/*
 * spool.c - the writer thread of the node's SQLite database (see spool.h).
 *
 * Jobs arrive on a mutex-guarded FIFO. The thread takes everything queued
 * at once and writes it in transactions of at most SPOOL_BATCH_MAX jobs:
 * while one batch commits, the next one gathers, so under load a commit
 * carries many jobs (group commit) and when idle a job waits for nothing
 * but its own commit. A batch that fails is rolled back and its jobs are
 * written again one transaction each, so that only the job at fault fails.
 */
#include "spool.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "errors.h"
#include "log.h"

struct spool {
    struct db *db;
    struct spool_counters *counters;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct spool_job *head, *tail; /* under lock */
    bool stopping;                 /* under lock */
};

int64_t spool_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1; /* never 0 */
}

static void finish(struct spool_job *job)
{
    if (job->post)
        job->post(job->post_ctx, job);
    else
        job->free_fn(job);
}

/* Writes jobs[0..n) in one transaction; MQ_OK when it committed. */
static int write_batch(struct db *db, struct spool_job **jobs, size_t n)
{
    int rc = db_begin(db);
    for (size_t i = 0; i < n && rc == MQ_OK; i++)
        rc = jobs[i]->write(db, jobs[i]);
    if (rc == MQ_OK)
        rc = db_commit(db);
    if (rc != MQ_OK)
        db_rollback(db);
    return rc;
}

static void account(struct spool *sp, struct spool_job **jobs, size_t n)
{
    struct spool_counters *k = sp->counters;
    int64_t bytes = 0, max_seq = 0;
    uint64_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        if (jobs[i]->result != MQ_OK || !jobs[i]->seq)
            continue;
        rows++;
        bytes += jobs[i]->body_bytes;
        if (jobs[i]->seq > max_seq)
            max_seq = jobs[i]->seq;
    }
    if (rows) {
        atomic_fetch_add_explicit(&k->pending_bytes, bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&k->appended, rows, memory_order_relaxed);
        atomic_store_explicit(&k->committed_seq, max_seq, memory_order_relaxed);
    }
}

static void run_batch(struct spool *sp, struct spool_job **jobs, size_t n)
{
    struct spool_counters *k = sp->counters;
    int rc = write_batch(sp->db, jobs, n);
    if (rc == MQ_OK) {
        for (size_t i = 0; i < n; i++)
            jobs[i]->result = MQ_OK;
    } else {
        atomic_fetch_add_explicit(&k->failed_batches, 1, memory_order_relaxed);
        log_error("spool: a batch of %zu writes failed (%s): %s; writing them one by one", n,
                  mq_strerror(rc), db_error(sp->db));
        rc = MQ_OK;
        for (size_t i = 0; i < n; i++) {
            jobs[i]->seq = 0;
            jobs[i]->result = write_batch(sp->db, &jobs[i], 1);
            if (jobs[i]->result != MQ_OK)
                rc = jobs[i]->result;
        }
    }
    atomic_fetch_add_explicit(&k->batches, 1, memory_order_relaxed);
    bool full = rc == MQ_EFULL;
    bool was_full = atomic_load_explicit(&k->full_at_ms, memory_order_relaxed) != 0;
    if (full && !was_full)
        log_error("spool: the database is full (disk or size limit): spooled QoS 1/2 "
                  "publishes are refused until a write succeeds (one try a second)");
    else if (!full && was_full && rc == MQ_OK)
        log_info("spool: writes succeed again");
    if (full)
        atomic_store_explicit(&k->full_at_ms, spool_clock_ms(), memory_order_relaxed);
    else if (rc == MQ_OK)
        atomic_store_explicit(&k->full_at_ms, 0, memory_order_relaxed);
    account(sp, jobs, n);
    for (size_t i = 0; i < n; i++)
        finish(jobs[i]);
}

static void *spool_main(void *arg)
{
    struct spool *sp = arg;
    struct spool_job *one[1];
    struct spool_job **batch = malloc(SPOOL_BATCH_MAX * sizeof(*batch));
    size_t cap = batch ? SPOOL_BATCH_MAX : 1; /* no memory for batches: one at a time */
    struct spool_job **buf = batch ? batch : one;
    for (;;) {
        pthread_mutex_lock(&sp->lock);
        while (!sp->head && !sp->stopping)
            pthread_cond_wait(&sp->wake, &sp->lock);
        struct spool_job *list = sp->head;
        sp->head = sp->tail = NULL;
        bool stopping = sp->stopping;
        pthread_mutex_unlock(&sp->lock);
        while (list) {
            size_t n = 0;
            for (; list && n < cap; list = list->next)
                buf[n++] = list;
            run_batch(sp, buf, n);
        }
        if (stopping)
            break;
    }
    free(batch);
    return NULL;
}

struct spool *spool_start(struct db *db, struct spool_counters *counters)
{
    struct spool *sp = calloc(1, sizeof(*sp));
    if (!sp)
        return NULL;
    sp->db = db;
    sp->counters = counters;
    pthread_mutex_init(&sp->lock, NULL);
    pthread_cond_init(&sp->wake, NULL);
    if (pthread_create(&sp->thread, NULL, spool_main, sp) != 0) {
        pthread_mutex_destroy(&sp->lock);
        pthread_cond_destroy(&sp->wake);
        free(sp);
        return NULL;
    }
    return sp;
}

void spool_submit(struct spool *sp, struct spool_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&sp->lock);
    if (sp->tail)
        sp->tail->next = job;
    else
        sp->head = job;
    sp->tail = job;
    pthread_cond_signal(&sp->wake);
    pthread_mutex_unlock(&sp->lock);
}

void spool_stop(struct spool *sp)
{
    if (!sp)
        return;
    pthread_mutex_lock(&sp->lock);
    sp->stopping = true;
    pthread_cond_signal(&sp->wake);
    pthread_mutex_unlock(&sp->lock);
    pthread_join(sp->thread, NULL);
    db_close(sp->db);
    pthread_mutex_destroy(&sp->lock);
    pthread_cond_destroy(&sp->wake);
    free(sp);
}
