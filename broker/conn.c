/*
 * conn.c - reading, framing, buffering and writing for one connection (see
 * conn.h). What a packet means is protocol.c's business, not this file's.
 */
#include "conn.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat_live.h"
#include "errors.h"
#include "handlers.h"
#include "link.h"
#include "log.h"
#include "mqtt5.h"
#include "protocol.h"
#include "session.h"
#include "strmap.h"
#include "worker.h"

/* One outbound alias: the strmap's key points at topic. */
struct out_alias {
    uint16_t alias;
    char topic[];
};

static void free_out_alias(void *ctx, void *value)
{
    free(value);
}

static void conn_free_aliases(struct conn *c)
{
    if (c->alias_out) {
        strmap_each(c->alias_out, free_out_alias, NULL);
        strmap_free(c->alias_out);
        free(c->alias_out);
    }
    if (c->alias_in) {
        for (unsigned i = 0; i <= c->w->b->cfg->max_topic_alias; i++)
            free(c->alias_in[i]);
        free(c->alias_in);
    }
}

static void on_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    link_free(c->link);
    conn_free_aliases(c);
    free(c->acks);
    free(c->in);
    free(c->out);
    free(c);
}

uint16_t conn_alias_out(struct conn *c, const char *topic, size_t len, bool *fresh)
{
    *fresh = false;
    if (!c->alias_max_out)
        return 0;
    if (c->alias_out) {
        struct out_alias *a = strmap_get(c->alias_out, topic, len);
        if (a)
            return a->alias;
    }
    if (c->alias_next_out >= c->alias_max_out)
        return 0;
    if (!c->alias_out) {
        c->alias_out = malloc(sizeof(*c->alias_out));
        if (!c->alias_out || strmap_init(c->alias_out) != MQ_OK) {
            free(c->alias_out);
            c->alias_out = NULL;
            return 0;
        }
    }
    struct out_alias *a = malloc(sizeof(*a) + len + 1);
    if (!a)
        return 0;
    memcpy(a->topic, topic, len);
    a->topic[len] = '\0';
    a->alias = (uint16_t)(c->alias_next_out + 1);
    if (strmap_put(c->alias_out, a->topic, len, a) != MQ_OK) {
        free(a);
        return 0;
    }
    c->alias_next_out++;
    *fresh = true;
    return a->alias;
}

void conn_alias_out_forget(struct conn *c, const char *topic, size_t len)
{
    struct out_alias *a = c->alias_out ? strmap_remove(c->alias_out, topic, len) : NULL;
    if (a) {
        free(a);
        c->alias_next_out--;
    }
}

int conn_alias_in_set(struct conn *c, uint16_t alias, const char *topic, size_t len)
{
    if (!c->alias_in) {
        c->alias_in = calloc((size_t)c->w->b->cfg->max_topic_alias + 1, sizeof(char *));
        if (!c->alias_in)
            return MQ_ENOMEM;
    }
    char *copy = strndup(topic, len);
    if (!copy)
        return MQ_ENOMEM;
    free(c->alias_in[alias]);
    c->alias_in[alias] = copy;
    return MQ_OK;
}

const char *conn_alias_in_get(const struct conn *c, uint16_t alias)
{
    return c->alias_in ? c->alias_in[alias] : NULL;
}

static void conn_doom(struct conn *c, const char *why);

/*
 * Turns c's out buffer of MQTT bytes into wire bytes (link.h), with the
 * layers' closing words after them when `goodbye`. On failure the output
 * is dropped and the connection doomed.
 */
static void conn_wrap_output(struct conn *c, bool goodbye)
{
    struct bytebuf wire = {0};
    int rc = link_write(c->link, c->out, c->out_len, &wire);
    if (rc == MQ_OK && goodbye)
        rc = link_goodbye(c->link, c->w->stopping ? LINK_BYE_SHUTDOWN : LINK_BYE_NORMAL, &wire);
    free(c->out);
    if (rc != MQ_OK) {
        bytebuf_free(&wire);
        wire = (struct bytebuf){0};
        conn_doom(c, "out of memory for output");
    }
    c->out = wire.data;
    c->out_len = wire.len;
    c->out_cap = wire.cap;
}

static void conn_unlink(struct conn *c)
{
    struct worker *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

void conn_close(struct conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    bool counted = c->state != CONN_HANDOFF;
    c->state = CONN_CLOSED;
    log_debug("worker %u: closing connection: %s", c->w->index, why);
    if (c->link && !link_ready(c->link))
        atomic_fetch_add(&c->w->b->handshakes_failed[link_kind(c->link)], 1);
    if (c->link && !c->writing)
        conn_wrap_output(c, true);
    if (c->out_len && !c->writing) {
        uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)c->out_len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n > 0)
            c->w->count.bytes_sent += (uint64_t)n;
    }
    conn_unlink(c);
    connect_forget_check(c);
    if (c->s) {
        struct session *s = c->s;
        chat_conn_down(c); /* while the session still has its subscriptions */
        c->s = NULL;
        session_detach(s, !c->disconnect_sent);
    }
    if (counted)
        atomic_fetch_sub(&c->w->b->connections, 1);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

void conn_disconnect(struct conn *c, uint8_t reason, const char *why)
{
    if (c->version == MQTT_V5 && c->state == CONN_ACTIVE && !c->doomed) {
        const char *text = c->problem_info ? mqtt5_reason_string(reason) : NULL;
        uint8_t props[160];
        struct mqtt5_writer pw;
        mqtt5_writer_init(&pw, props, sizeof(props));
        if (text)
            mqtt5_put_str(&pw, MQTT5_PROP_REASON_STRING, text, strlen(text));
        uint32_t plen = pw.overflow ? 0 : (uint32_t)pw.len;
        uint8_t *p = conn_reserve(c, mqtt5_disconnect_size(reason, plen));
        if (p)
            mqtt5_encode_disconnect(p, reason, props, plen);
    }
    conn_close(c, why);
}

void conn_close_all(struct worker *w)
{
    while (w->conns)
        conn_disconnect(w->conns, MQTT5_RC_SERVER_SHUTTING_DOWN, "shutting down");
}

static void conn_mark_dirty(struct conn *c)
{
    if (!c->dirty) {
        c->dirty = true;
        c->dirty_next = c->w->dirty;
        c->w->dirty = c;
    }
}

size_t conn_backlog(const struct conn *c)
{
    return c->out_len + c->writing_len;
}

static void conn_doom(struct conn *c, const char *why)
{
    c->doomed = why;
    conn_mark_dirty(c);
}

uint8_t *conn_reserve(struct conn *c, size_t n)
{
    if (c->state == CONN_CLOSED || c->state == CONN_HANDOFF || c->doomed)
        return NULL;
    if (conn_backlog(c) + n > c->w->b->cfg->out_hard_bytes) {
        conn_doom(c, "slow reader: unsent output over conn.out_hard_bytes");
        return NULL;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 512;
        while (cap < c->out_len + n)
            cap *= 2;
        uint8_t *out = realloc(c->out, cap);
        if (!out) {
            conn_doom(c, "out of memory for output");
            return NULL;
        }
        c->out = out;
        c->out_cap = cap;
    }
    uint8_t *p = c->out + c->out_len;
    c->out_len += n;
    conn_mark_dirty(c);
    return p;
}

int conn_send(struct conn *c, const void *bytes, size_t n)
{
    uint8_t *p = conn_reserve(c, n);
    if (!p)
        return MQ_EIO;
    memcpy(p, bytes, n);
    return MQ_OK;
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    free(c->writing);
    c->writing = NULL;
    if (status == 0)
        c->w->count.bytes_sent += c->writing_len;
    c->writing_len = 0;
    if (c->state == CONN_CLOSED)
        return;
    if (status < 0)
        conn_close(c, uv_strerror(status));
    else if (c->out_len || (c->link && (link_owes(c->link) || link_finished(c->link))))
        conn_mark_dirty(c);
}

void conn_flush(struct conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->doomed) {
        conn_close(c, c->doomed);
        return;
    }
    if (c->writing)
        return;
    if (c->link) {
        const char *over = link_finished(c->link);
        if (over) {
            conn_close(c, over); /* writes what is left, what the link owes, goodbye */
            return;
        }
        if (c->out_len || link_owes(c->link))
            conn_wrap_output(c, false); /* c->out holds wire bytes until the write below */
        if (link_finished(c->link))
            conn_mark_dirty(c); /* a layer failed while writing: close once this is out */
    }
    if (c->out_len == 0)
        return;
    uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)c->out_len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0) {
        c->out_len = 0; /* the socket is broken: nothing more to try */
        conn_close(c, uv_strerror(n));
        return;
    }
    c->w->count.bytes_sent += (uint64_t)n;
    if ((size_t)n == c->out_len) {
        /* All gone: give the buffer back so idle connections stay small. */
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_cap = 0;
        return;
    }
    /* The kernel is full: the rest goes out by a uv_write that owns it. */
    c->writing = c->out;
    c->writing_len = c->out_len - (size_t)n;
    c->out = NULL;
    c->out_len = c->out_cap = 0;
    uv_buf_t rest = uv_buf_init((char *)c->writing + n, (unsigned)c->writing_len);
    c->write_req.data = c;
    int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &rest, 1, on_write);
    if (rc < 0) {
        free(c->writing);
        c->writing = NULL;
        c->writing_len = 0;
        conn_close(c, uv_strerror(rc));
    }
}

/*
 * Frames and handles the packets in data[0..len). Returns how many bytes
 * were consumed, or -1 when the connection was closed or handed off (the
 * caller must not touch its input any more).
 */
static long conn_process(struct conn *c, const uint8_t *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        struct mqtt_frame f;
        int rc = mqtt_frame(data + off, len - off, protocol_max_packet(c), &f);
        if (rc == MQ_EAGAIN)
            break;
        if (rc < 0) {
            conn_disconnect(c, mqtt5_reason_for_error(rc), mq_strerror(rc));
            return -1;
        }
        c->last_in_ms = uv_now(&c->w->loop);
        rc = protocol_handle_packet(c, &f, data + off, len - off);
        if (rc == PROTOCOL_STOP)
            return -1;
        if (rc < 0 || c->state == CONN_CLOSED) {
            uint8_t reason = c->close_reason ? c->close_reason : mqtt5_reason_for_error(rc);
            conn_disconnect(c, reason, mq_strerror(rc));
            return -1;
        }
        off += f.total_len;
    }
    return (long)off;
}

/* Keeps data[0..len) as the connection's unframed input. */
static int conn_keep_tail(struct conn *c, const uint8_t *data, size_t len)
{
    if (len > c->in_cap) {
        uint8_t *in = realloc(c->in, len);
        if (!in)
            return MQ_ENOMEM;
        c->in = in;
        c->in_cap = (uint32_t)len;
    }
    memmove(c->in, data, len);
    c->in_len = (uint32_t)len;
    return MQ_OK;
}

/* Handles newly read bytes, joining them to any unframed tail. */
static void conn_feed(struct conn *c, const uint8_t *data, size_t len)
{
    if (c->in_len == 0) {
        long used = conn_process(c, data, len);
        if (used >= 0 && (size_t)used < len && conn_keep_tail(c, data + used, len - (size_t)used))
            conn_close(c, "out of memory for input");
        return;
    }
    size_t total = (size_t)c->in_len + len;
    if (total > c->in_cap) {
        size_t cap = c->in_cap * 2u > total ? c->in_cap * 2u : total;
        uint8_t *in = realloc(c->in, cap);
        if (!in) {
            conn_close(c, "out of memory for input");
            return;
        }
        c->in = in;
        c->in_cap = (uint32_t)cap;
    }
    memcpy(c->in + c->in_len, data, len);
    c->in_len = (uint32_t)total;
    long used = conn_process(c, c->in, total);
    if (used < 0)
        return;
    if ((size_t)used == total) {
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_cap = 0;
    } else {
        memmove(c->in, c->in + used, total - (size_t)used);
        c->in_len = (uint32_t)(total - (size_t)used);
    }
}

/* Handles bytes read on a connection with a link: the MQTT bytes they
 * carry, then whatever the layers must answer or end with. */
static void conn_feed_link(struct conn *c, const uint8_t *raw, size_t len)
{
    struct bytebuf *app = &c->w->link_app;
    app->len = 0;
    if (link_read(c->link, raw, len, app) != MQ_OK) {
        conn_close(c, "out of memory for input");
        return;
    }
    if (app->len)
        conn_feed(c, app->data, app->len);
    if (app->cap > READ_BUF_SIZE * 2)
        bytebuf_free(app); /* one large read does not stay allocated */
    if (c->state == CONN_CLOSED || c->state == CONN_HANDOFF)
        return;
    if (!c->link_was_ready && link_ready(c->link)) {
        c->link_was_ready = true;
        c->opened_ms = uv_now(&c->w->loop); /* the time for CONNECT starts now */
    }
    size_t owed = link_owes(c->link);
    if (owed && conn_backlog(c) + owed > c->w->b->cfg->out_hard_bytes)
        conn_doom(c, "slow reader: answers owed past conn.out_hard_bytes");
    else if (owed || link_finished(c->link))
        conn_mark_dirty(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    *buf = uv_buf_init((char *)c->w->read_buf, READ_BUF_SIZE);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

void conn_pause_reading(struct conn *c, bool pause)
{
    if (c->read_paused == pause || c->state == CONN_CLOSED || c->state == CONN_HANDOFF)
        return;
    c->read_paused = pause;
    if (pause) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        return;
    }
    c->last_in_ms = uv_now(&c->w->loop); /* the wait was ours, not the client's silence */
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c, "cannot read again");
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    if (nread < 0) {
        conn_close(c, nread == UV_EOF ? "peer closed" : uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || c->state == CONN_CLOSED || c->state == CONN_HANDOFF)
        return;
    c->w->count.bytes_received += (uint64_t)nread;
    if (c->link)
        conn_feed_link(c, (const uint8_t *)buf->base, (size_t)nread);
    else
        conn_feed(c, (const uint8_t *)buf->base, (size_t)nread);
}

int conn_adopt(struct worker *w, struct work_adopt *a)
{
    int fd = a->fd;
    uint8_t *bytes = a->bytes;
    uint32_t len = a->len;
    struct link *link = a->link;
    if (!link && a->kind != LINK_TCP)
        link = link_new(w->b, a->kind);
    struct conn *c = (link || a->kind == LINK_TCP) ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        close(fd);
        link_free(link);
        free(bytes);
        atomic_fetch_sub(&w->b->connections, 1);
        return MQ_ENOMEM;
    }
    c->w = w;
    c->link = link;
    uv_tcp_init(&w->loop, &c->tcp);
    c->tcp.data = c;
    int rc = uv_tcp_open(&c->tcp, fd);
    if (rc != 0)
        close(fd); /* the handle does not own it */
    else
        rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    c->opened_ms = c->last_in_ms = uv_now(&w->loop);
    c->serial = ++w->conn_serial;
    if (rc != 0) {
        free(bytes);
        conn_close(c, uv_strerror(rc));
        return MQ_EIO;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (link && link_owes(link))
        conn_mark_dirty(c); /* an answer its first worker had no turn end to write */
    if (bytes)
        conn_replay(c, bytes, len);
    return MQ_OK;
}

void conn_replay(struct conn *c, uint8_t *bytes, size_t len)
{
    free(c->in);
    c->in = bytes;
    c->in_len = c->in_cap = (uint32_t)len;
    long used = conn_process(c, c->in, len);
    if (used < 0)
        return;
    if ((size_t)used == len) {
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_cap = 0;
    } else {
        memmove(c->in, c->in + used, len - (size_t)used);
        c->in_len = (uint32_t)(len - (size_t)used);
    }
}

void conn_handoff(struct conn *c, unsigned dest, const uint8_t *from, size_t len)
{
    struct worker *w = c->w;
    uv_os_fd_t fd;
    int newfd = -1;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        newfd = dup(fd);
    uint8_t *bytes = malloc(len ? len : 1);
    if (newfd < 0 || !bytes) {
        if (newfd >= 0)
            close(newfd);
        free(bytes);
        conn_close(c, "hand-off failed");
        return;
    }
    memcpy(bytes, from, len);
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->state = CONN_HANDOFF;
    struct work item = {.kind = WORK_ADOPT};
    item.u.adopt.fd = newfd;
    item.u.adopt.kind = c->link ? link_kind(c->link) : LINK_TCP;
    item.u.adopt.link = c->link;
    item.u.adopt.bytes = bytes;
    item.u.adopt.len = (uint32_t)len;
    if (worker_post(w->b->workers[dest], &item) != MQ_OK) {
        close(newfd);
        free(bytes);
        c->state = CONN_NEW;
        conn_close(c, "hand-off failed");
        return;
    }
    c->link = NULL; /* the other worker's now */
    conn_close(c, "handed to the client id's home worker");
}
