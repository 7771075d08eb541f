/*
 * worker.c - a worker thread's loop, inbox and end-of-turn work (see
 * worker.h). Packet handling is elsewhere: conn.c for bytes, the handlers
 * for packets, router.c and session.c for delivery.
 */
#include "worker.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ackhold.h"
#include "auth.h"
#include "conn.h"
#include "errors.h"
#include "log.h"
#include "mqtt5.h"
#include "router.h"
#include "session.h"
#include "store.h"
#include "topic_tree.h"

static int work_list_push(struct work_list *l, const struct work *item)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct work *items = realloc(l->items, cap * sizeof(*items));
        if (!items)
            return MQ_ENOMEM;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = *item;
    return MQ_OK;
}

/* Releases whatever references an item holds (it will not be processed). */
static void work_discard(struct work *item)
{
    switch (item->kind) {
    case WORK_DELIVER:
        if (item->u.msg->ack) /* dropped, but durable: the publisher may have its ack */
            ack_hold_release(item->u.msg, MQ_OK);
        message_unref(item->u.msg);
        break;
    case WORK_ACK:
        message_unref(item->u.msg);
        break;
    case WORK_STORE_DONE:
        item->u.store_job->result = MQ_EIO; /* the broker stops: nobody to answer */
        item->u.store_job->done(item->u.store_job);
        break;
    case WORK_DELIVER_SHARED:
        if (item->u.shared.msg->ack)
            ack_hold_release(item->u.shared.msg, MQ_OK);
        message_unref(item->u.shared.msg);
        free(item->u.shared.client_id);
        break;
    case WORK_ADOPT:
        close(item->u.adopt.fd);
        link_free(item->u.adopt.link);
        free(item->u.adopt.bytes);
        break;
    case WORK_RELOAD:
        auth_snapshot_unref(item->u.auth);
        break;
    case WORK_WILLS:
    case WORK_STOP:
        break;
    }
}

unsigned worker_home(const struct broker *b, const char *client_id, size_t len)
{
    return (unsigned)(strmap_hash(client_id, len) % b->nworkers);
}

int worker_post(struct worker *w, const struct work *item)
{
    pthread_mutex_lock(&w->inbox_lock);
    int rc = w->inbox_closed ? MQ_EIO : work_list_push(&w->inbox, item);
    pthread_mutex_unlock(&w->inbox_lock);
    if (rc == MQ_OK)
        uv_async_send(&w->wake);
    return rc;
}

int worker_post_later(struct worker *w, unsigned dest, const struct work *item)
{
    return work_list_push(&w->outbox[dest], item);
}

/* Hands every outbox to its destination: one lock and one wake-up each. */
static void worker_flush_outboxes(struct worker *w)
{
    for (unsigned i = 0; i < w->b->nworkers; i++) {
        struct work_list *l = &w->outbox[i];
        if (l->n == 0)
            continue;
        struct worker *dest = w->b->workers[i];
        size_t moved = 0;
        pthread_mutex_lock(&dest->inbox_lock);
        if (dest->inbox_closed) {
            /* stopped: everything below is discarded */
        } else if (dest->inbox.n == 0 && dest->inbox.cap <= l->cap) {
            /* Swap arrays instead of copying. */
            struct work_list tmp = dest->inbox;
            dest->inbox = *l;
            *l = tmp;
            moved = dest->inbox.n;
        } else {
            for (; moved < l->n; moved++)
                if (work_list_push(&dest->inbox, &l->items[moved]) != MQ_OK)
                    break;
        }
        bool closed = dest->inbox_closed;
        pthread_mutex_unlock(&dest->inbox_lock);
        if (!closed)
            uv_async_send(&dest->wake);
        for (size_t k = moved; k < l->n; k++) {
            work_discard(&l->items[k]);
            w->count.msgs_dropped++;
        }
        l->n = 0;
    }
}

void worker_publish_stats(struct worker *w)
{
    struct worker_stats *s = &w->stats;
    atomic_store_explicit(&s->msgs_received, w->count.msgs_received, memory_order_relaxed);
    atomic_store_explicit(&s->msgs_sent, w->count.msgs_sent, memory_order_relaxed);
    atomic_store_explicit(&s->bytes_received, w->count.bytes_received, memory_order_relaxed);
    atomic_store_explicit(&s->bytes_sent, w->count.bytes_sent, memory_order_relaxed);
    atomic_store_explicit(&s->msgs_dropped, w->count.msgs_dropped, memory_order_relaxed);
    atomic_store_explicit(&s->clients_connected, w->count.clients_connected, memory_order_relaxed);
    atomic_store_explicit(&s->clients_total, w->count.clients_total, memory_order_relaxed);
    atomic_store_explicit(&s->subscriptions, w->count.subscriptions, memory_order_release);
    atomic_store_explicit(&s->inflight, w->count.inflight, memory_order_relaxed);
    atomic_store_explicit(&s->queued, w->count.queued, memory_order_relaxed);
}

static void on_turn_end(uv_check_t *h)
{
    struct worker *w = h->data;
    /* Statistics first: a SUBACK written below must not reach a client
     * before other workers can see this worker has subscriptions. */
    worker_publish_stats(w);
    /* Other workers first, so they fan out while this one writes. */
    worker_flush_outboxes(w);
    while (w->dirty) {
        struct conn *c = w->dirty;
        w->dirty = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
        conn_flush(c);
    }
    /* Closing a doomed connection above may have routed its will. */
    worker_flush_outboxes(w);
    if (w->wills_pending) {
        w->wills_pending = false;
        atomic_fetch_add(&w->b->wills_routed, 1);
        uv_async_send(w->b->wills_routed_wake);
    }
}

static void publish_will_of(void *ctx, void *value)
{
    struct session *s = value;
    if (s->conn && s->will) {
        router_publish(s->w, session_take_will(s));
    }
}

static void worker_stop(struct worker *w)
{
    w->stopping = true;
    pthread_mutex_lock(&w->inbox_lock);
    w->inbox_closed = true; /* the wake-up handle goes: later posts are refused */
    pthread_mutex_unlock(&w->inbox_lock);
    conn_close_all(w);
    uv_close((uv_handle_t *)&w->tick, NULL);
    uv_close((uv_handle_t *)&w->will_timer, NULL);
    uv_close((uv_handle_t *)&w->wake, NULL);
    /* turn_end stays until the connections' output is flushed; the loop
     * then has only it and is stopped explicitly. */
    uv_stop(&w->loop);
}

/* After a reload: clients whose user name left the password file are
 * disconnected (MQTT 5: 0x98 Administrative action). */
static void worker_drop_removed_users(struct worker *w)
{
    const struct passwd_db *db = w->auth ? w->auth->passwd : NULL;
    if (!db)
        return;
    struct conn *c = w->conns;
    while (c) {
        struct conn *next = c->next;
        const char *user = c->s ? c->s->username : NULL;
        if (c->state == CONN_ACTIVE && user && !passwd_db_has_user(db, user, strlen(user)))
            conn_disconnect(c, MQTT5_RC_ADMINISTRATIVE_ACTION, "user removed from password_file");
        c = next;
    }
}

static void on_wake(uv_async_t *h)
{
    struct worker *w = h->data;
    pthread_mutex_lock(&w->inbox_lock);
    struct work_list tmp = w->inbox;
    w->inbox = w->draining;
    w->draining = tmp;
    pthread_mutex_unlock(&w->inbox_lock);

    struct work_list *l = &w->draining;
    for (size_t i = 0; i < l->n; i++) {
        struct work *item = &l->items[i];
        switch (item->kind) {
        case WORK_DELIVER:
            router_deliver_local(w, item->u.msg);
            if (item->u.msg->ack)
                ack_hold_release(item->u.msg, MQ_OK);
            message_unref(item->u.msg);
            break;
        case WORK_DELIVER_SHARED:
            router_deliver_shared(w, item->u.shared.msg, item->u.shared.client_id,
                                  item->u.shared.session_uid, item->u.shared.options,
                                  item->u.shared.sub_id);
            work_discard(item); /* also ends its part of an ack hold */
            break;
        case WORK_ACK:
            ack_hold_deliver(w, item->u.msg);
            message_unref(item->u.msg);
            break;
        case WORK_STORE_DONE:
            item->u.store_job->done(item->u.store_job);
            break;
        case WORK_ADOPT:
            if (w->stopping)
                work_discard(item);
            else
                conn_adopt(w, &item->u.adopt);
            break;
        case WORK_RELOAD:
            auth_snapshot_unref(w->auth);
            w->auth = item->u.auth;
            worker_drop_removed_users(w);
            break;
        case WORK_WILLS:
            strmap_each(&w->sessions, publish_will_of, NULL);
            w->wills_pending = true;
            break;
        case WORK_STOP:
            for (size_t k = i + 1; k < l->n; k++)
                work_discard(&l->items[k]);
            l->n = 0;
            worker_stop(w);
            return;
        }
    }
    l->n = 0;
}

static void on_tick(uv_timer_t *h)
{
    struct worker *w = h->data;
    uint64_t now = uv_now(&w->loop);
    struct conn *c = w->conns;
    while (c) {
        struct conn *next = c->next;
        bool handshaking = c->link && !link_ready(c->link);
        if (c->state == CONN_NEW && handshaking) {
            if (now - c->opened_ms > w->b->cfg->handshake_timeout)
                conn_close(c, "transport handshake not done within conn.handshake_timeout");
        } else if (c->state == CONN_NEW && now - c->opened_ms > 10000) {
            conn_close(c, "no CONNECT within 10 s");
        } else if (c->state == CONN_ACTIVE && c->keepalive && !c->read_paused &&
                   now - c->last_in_ms > (uint64_t)c->keepalive * 1500) {
            conn_disconnect(c, MQTT5_RC_KEEP_ALIVE_TIMEOUT, "keepalive expired");
        }
        c = next;
    }
    session_expire(w, now);
    /* Timers run before the loop polls: write now, not after the next poll. */
    on_turn_end(&w->turn_end);
}

static void on_will_timer(uv_timer_t *h)
{
    struct worker *w = h->data;
    w->will_timer_due = 0;
    session_expire(w, uv_now(&w->loop));
    on_turn_end(&w->turn_end);
}

void worker_wake_at(struct worker *w, uint64_t due_ms)
{
    if (w->stopping || (w->will_timer_due && w->will_timer_due <= due_ms))
        return;
    uint64_t now = uv_now(&w->loop);
    w->will_timer_due = due_ms;
    uv_timer_start(&w->will_timer, on_will_timer, due_ms > now ? due_ms - now : 0, 0);
}

static void worker_main(void *arg)
{
    struct worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    /* Flush what the last turn produced and let close callbacks run. */
    on_turn_end(&w->turn_end);
    uv_close((uv_handle_t *)&w->turn_end, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

struct worker *worker_new(struct broker *b, unsigned index, struct auth_snapshot *auth)
{
    struct worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->b = b;
    w->index = index;
    w->auth = auth;
    w->read_buf = malloc(READ_BUF_SIZE);
    w->outbox = calloc(b->nworkers, sizeof(*w->outbox));
    w->tree = topic_tree_new();
    if (!w->read_buf || !w->outbox || !w->tree || strmap_init(&w->sessions) != MQ_OK)
        goto err;
    pthread_mutex_init(&w->inbox_lock, NULL);
    if (uv_loop_init(&w->loop) != 0)
        goto err;
    uv_async_init(&w->loop, &w->wake, on_wake);
    uv_check_init(&w->loop, &w->turn_end);
    uv_timer_init(&w->loop, &w->tick);
    uv_timer_init(&w->loop, &w->will_timer);
    w->wake.data = w->turn_end.data = w->tick.data = w->will_timer.data = w;
    uv_check_start(&w->turn_end, on_turn_end);
    uv_timer_start(&w->tick, on_tick, 1000, 1000);
    return w;
err:
    free(w->read_buf);
    free(w->outbox);
    topic_tree_free(w->tree);
    free(w);
    return NULL;
}

int worker_start(struct worker *w)
{
    return uv_thread_create(&w->thread, worker_main, w) == 0 ? MQ_OK : MQ_EIO;
}

void worker_join(struct worker *w)
{
    uv_thread_join(&w->thread);
}

void worker_drop_work(struct worker *w)
{
    for (unsigned i = 0; i < w->b->nworkers; i++) {
        for (size_t k = 0; k < w->outbox[i].n; k++)
            work_discard(&w->outbox[i].items[k]);
        w->outbox[i].n = 0;
    }
    for (size_t k = 0; k < w->inbox.n; k++)
        work_discard(&w->inbox.items[k]);
    w->inbox.n = 0;
}

void worker_free(struct worker *w)
{
    /* Connections are closed by now; sessions go without their wills. */
    while (w->sessions.count) {
        struct session *s = NULL;
        for (size_t i = 0; i < w->sessions.nbuckets && !s; i++)
            if (w->sessions.buckets[i])
                s = w->sessions.buckets[i]->value;
        session_free(s);
    }
    uv_loop_close(&w->loop);
    worker_drop_work(w);
    for (unsigned i = 0; i < w->b->nworkers; i++)
        free(w->outbox[i].items);
    free(w->inbox.items);
    free(w->draining.items);
    free(w->outbox);
    free(w->hits);
    message_unref(w->enc.msg);
    free(w->enc.bytes);
    topic_tree_free(w->tree);
    strmap_free(&w->sessions);
    auth_snapshot_unref(w->auth);
    pthread_mutex_destroy(&w->inbox_lock);
    free(w->read_buf);
    bytebuf_free(&w->link_app);
    free(w);
}
