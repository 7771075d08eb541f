/*
 * store_thread.c - the store thread of store.h: one pthread that owns a
 * struct db and runs submitted jobs one at a time, in submission order.
 *
 * The queue is a FIFO linked through store_job.next, guarded by a mutex;
 * a condition variable wakes the thread when a job arrives or the store
 * stops. For each job the thread calls run(db, job) and then post(post_ctx,
 * job), both outside the lock; after post the job belongs to whoever post
 * handed it to. Stopping lets the thread drain what is queued, joins it and
 * closes the db. This file does not retry failed jobs or reconnect (a job's
 * run decides that, e.g. with db_reconnect()).
 */
#include "store.h"

#include <pthread.h>
#include <stdlib.h>

#include "log.h"

struct store {
    struct db *db; /* owned; used by the thread only */
    pthread_t thread;
    pthread_mutex_t lock;   /* guards head, tail and stopping */
    pthread_cond_t wake;    /* signalled on submit and on stop */
    struct store_job *head; /* oldest queued job, NULL when empty */
    struct store_job *tail; /* newest queued job */
    bool stopping;          /* set by store_stop(): exit once the queue is empty */
};

/* Takes the whole queue, waiting for work; NULL when stopping and empty. */
static struct store_job *store__take(struct store *st)
{
    pthread_mutex_lock(&st->lock);
    while (!st->head && !st->stopping)
        pthread_cond_wait(&st->wake, &st->lock);
    struct store_job *jobs = st->head;
    st->head = st->tail = NULL;
    pthread_mutex_unlock(&st->lock);
    return jobs;
}

static void *store__main(void *arg)
{
    struct store *st = arg;
    struct store_job *jobs;
    while ((jobs = store__take(st)) != NULL) {
        while (jobs) {
            struct store_job *job = jobs;
            jobs = job->next;
            job->next = NULL;
            job->run(st->db, job);
            job->post(job->post_ctx, job);
        }
    }
    return NULL;
}

struct store *store_start(struct db *db)
{
    struct store *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->db = db;
    if (pthread_mutex_init(&st->lock, NULL) != 0)
        goto err_free;
    if (pthread_cond_init(&st->wake, NULL) != 0)
        goto err_mutex;
    if (pthread_create(&st->thread, NULL, store__main, st) != 0) {
        log_error("store: cannot start the store thread");
        goto err_cond;
    }
    return st;
err_cond:
    pthread_cond_destroy(&st->wake);
err_mutex:
    pthread_mutex_destroy(&st->lock);
err_free:
    free(st);
    return NULL;
}

void store_submit(struct store *st, struct store_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&st->lock);
    if (st->tail)
        st->tail->next = job;
    else
        st->head = job;
    st->tail = job;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
}

void store_stop(struct store *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->lock);
    st->stopping = true;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
    pthread_join(st->thread, NULL);
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->lock);
    db_close(st->db);
    free(st);
}
