/*
 * bench_conn.c - sockets, buffers and the epoll loop of the load generator.
 *
 * What it is: the byte layer under bench_client.c. Sockets are registered
 * once, edge-triggered, for input and output; reads fill the loop's scratch
 * buffer and are cut into packets by mqtt_frame(); output accumulates in
 * each connection's out buffer during a loop turn and is written once at
 * the end of the turn. What it is not: an MQTT client (no packet is
 * interpreted here) and not thread-safe.
 *
 * Edge-triggered rules kept here: a read shorter than asked means the socket
 * is drained (stream sockets), except after EPOLLRDHUP, when the end of the
 * stream may sit behind the data and only a read returning 0 shows it (no
 * further edge would come); a read budget that runs out puts the
 * connection on the `more` list instead, so that it is read again next turn
 * without a new edge; a write that does not finish marks the connection
 * `blocked` until EPOLLOUT.
 *
 * Transports (bench_transport.h): a connection with one reads into the
 * same scratch buffer, asking for BENCH_TP_SLACK bytes less, and has the
 * transport turn the wire bytes into MQTT bytes in place; what the
 * transport owes the broker in return (handshake, pong, close) makes the
 * connection dirty. Its flush first hands the MQTT bytes of the out buffer
 * to the transport, when it is ready, then sends the transport's wire
 * bytes. The TCP path never looks further than `c->tp == NULL`.
 */
#include "bench_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Reads of one connection per loop turn before others get their turn. */
#define BENCH_READS_PER_TURN 4
/* The scratch buffer's floor, bytes: large reads make fewer syscalls. */
#define BENCH_SCRATCH_MIN (256u * 1024u)
/* An out buffer larger than this is freed once it has been sent; smaller
 * ones are kept for the next turn (no malloc/free churn per turn). */
#define BENCH_OUT_KEEP (1024u * 1024u)
/* No out buffer grows past this: the publish windows keep it far below. */
#define BENCH_OUT_MAX (64u * 1024u * 1024u)
/* Events taken per epoll_wait(). */
#define BENCH_EVENTS 1024

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_loop_init(struct bench_loop *l, const char *host, uint16_t port, uint32_t max_packet)
{
    memset(l, 0, sizeof(*l));
    l->epfd = -1;
    l->addr.sin_family = AF_INET;
    l->addr.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &l->addr.sin_addr) != 1)
        return MQ_EINVAL;
    l->max_packet = max_packet;
    l->scratch_cap = (size_t)max_packet * 2;
    if (l->scratch_cap < BENCH_SCRATCH_MIN)
        l->scratch_cap = BENCH_SCRATCH_MIN;
    l->scratch = malloc(l->scratch_cap);
    if (!l->scratch)
        return MQ_ENOMEM;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l->scratch);
        l->scratch = NULL;
        return MQ_EIO;
    }
    return MQ_OK;
}

int bench_loop_set_second(struct bench_loop *l, const char *host, uint16_t port)
{
    memset(&l->addr2, 0, sizeof(l->addr2));
    l->addr2.sin_family = AF_INET;
    l->addr2.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &l->addr2.sin_addr) != 1)
        return MQ_EINVAL;
    l->has_addr2 = true;
    return MQ_OK;
}

int bench_loop_set_transport(struct bench_loop *l, enum bench_transport kind, const char *ws_path)
{
    struct bench_tp_ctx x;

    int rc = bench_tp_ctx_init(&x, kind, ws_path);
    if (rc != MQ_OK)
        return rc;
    bench_tp_ctx_free(&l->tp);
    l->tp = x;
    return MQ_OK;
}

void bench_loop_free(struct bench_loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    l->epfd = -1;
    free(l->scratch);
    l->scratch = NULL;
    bench_tp_ctx_free(&l->tp);
}

/* Puts c on its loop's dirty list (once). */
static void conn__mark_dirty(struct bench_conn *c)
{
    if (!c->dirty && c->fd >= 0) {
        c->dirty = true;
        c->next_dirty = c->loop->dirty;
        c->loop->dirty = c;
    }
}

int bench_conn_open(struct bench_loop *l, struct bench_conn *c, bool second)
{
    int one = 1;
    struct epoll_event ev;
    const struct sockaddr_in *to = second && l->has_addr2 ? &l->addr2 : &l->addr;

    memset(c, 0, sizeof(*c));
    c->loop = l;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return MQ_EIO;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (l->tp.kind != BENCH_TP_TCP) {
        char host[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &to->sin_addr, host, sizeof(host));
        c->tp = bench_tp_new(&l->tp, host, ntohs(to->sin_port));
        if (!c->tp) {
            errno = ENOMEM;
            goto err;
        }
    }
    if (connect(c->fd, (const struct sockaddr *)to, sizeof(*to)) == 0)
        c->connected = true;
    else if (errno != EINPROGRESS)
        goto err;
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        goto err;
    l->n_open++;
    if (c->tp)
        conn__mark_dirty(c); /* the ClientHello or the upgrade request */
    return MQ_OK;

err:;
    int saved = errno;
    close(c->fd);
    c->fd = -1;
    bench_tp_free(c->tp);
    c->tp = NULL;
    errno = saved;
    return MQ_EIO;
}

static void conn__unlink(struct bench_conn **head, struct bench_conn *c, bool more)
{
    struct bench_conn **pp = head;
    while (*pp) {
        if (*pp == c) {
            *pp = more ? c->next_more : c->next_dirty;
            return;
        }
        pp = more ? &(*pp)->next_more : &(*pp)->next_dirty;
    }
}

void bench_conn_close(struct bench_conn *c)
{
    if (c->fd < 0)
        return;
    if (c->dirty)
        conn__unlink(&c->loop->dirty, c, false);
    if (c->more)
        conn__unlink(&c->loop->more, c, true);
    close(c->fd);
    c->fd = -1;
    c->loop->n_open--;
    bench_tp_free(c->tp);
    c->tp = NULL;
    free(c->out);
    free(c->in);
    c->out = NULL;
    c->in = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
    c->in_len = c->in_cap = 0;
    c->dirty = c->more = c->blocked = c->connected = c->hup = false;
}

static void conn__fail(struct bench_conn *c, int err)
{
    struct bench_loop *l = c->loop;
    const char *stage = c->tp && c->connected ? bench_tp_stage(c->tp) : NULL;

    if (c->tp && bench_tp_why(c->tp)[0])
        snprintf(l->why, sizeof(l->why), "%s", bench_tp_why(c->tp));
    else if (stage)
        snprintf(l->why, sizeof(l->why), "%s during the %s",
                 err ? strerror(err) : "closed by the broker", stage);
    else
        l->why[0] = '\0';
    bench_conn_close(c);
    if (l->on_close)
        l->on_close(l->ctx, c, err);
    l->why[0] = '\0';
}

uint8_t *bench_conn_reserve(struct bench_conn *c, size_t n)
{
    if (c->out_len + n > c->out_cap && c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 256;
        while (cap < c->out_len + n)
            cap *= 2;
        if (cap > BENCH_OUT_MAX)
            return NULL;
        uint8_t *p = realloc(c->out, cap);
        if (!p)
            return NULL;
        c->out = p;
        c->out_cap = cap;
    }
    return c->out + c->out_len;
}

void bench_conn_commit(struct bench_conn *c, size_t n)
{
    c->out_len += n;
    conn__mark_dirty(c);
}

int bench_conn_send(struct bench_conn *c, const void *buf, size_t n)
{
    uint8_t *p = bench_conn_reserve(c, n);
    if (!p)
        return MQ_ENOMEM;
    memcpy(p, buf, n);
    bench_conn_commit(c, n);
    return MQ_OK;
}

size_t bench_conn_pending(const struct bench_conn *c)
{
    size_t wire = 0;
    if (c->tp)
        bench_tp_wire(c->tp, &wire);
    return c->out_len - c->out_off + wire;
}

/* Empties c's out buffer after its bytes were sent (or encoded). */
static void conn__out_done(struct bench_conn *c)
{
    c->out_off = c->out_len = 0;
    if (c->out_cap > BENCH_OUT_KEEP) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
}

/* Hands c's queued MQTT bytes to its transport once it is ready. Returns
 * MQ_OK (also when it is not ready yet) or what bench_tp_output() returns. */
static int conn__encode(struct bench_conn *c)
{
    if (c->out_off == c->out_len || !bench_tp_ready(c->tp))
        return MQ_OK;
    int rc = bench_tp_output(c->tp, c->out + c->out_off, c->out_len - c->out_off);
    conn__out_done(c);
    return rc;
}

void bench_conn_goodbye(struct bench_conn *c)
{
    if (c->fd < 0 || !c->tp)
        return;
    if (conn__encode(c) != MQ_OK)
        return;
    bench_tp_goodbye(c->tp);
    conn__mark_dirty(c);
}

/* One send() of buf[0..len) on c's socket (again after EINTR), counted in
 * c's loop; *sent gets the bytes sent. Returns 1 when all of them were, 0
 * when the socket took fewer (c is marked blocked until EPOLLOUT), -1 when
 * c failed (and was closed). */
static int conn__send(struct bench_conn *c, const uint8_t *buf, size_t len, size_t *sent)
{
    struct bench_loop *l = c->loop;
    ssize_t n;

    *sent = 0;
    while ((n = send(c->fd, buf, len, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->blocked = true;
            return 0;
        }
        conn__fail(c, errno);
        return -1;
    }
    l->n_writes++;
    l->bytes_out += (uint64_t)n;
    *sent = (size_t)n;
    if ((size_t)n < len) {
        c->blocked = true;
        return 0;
    }
    return 1;
}

/* Writes c's transport's wire bytes, after encoding what c has queued;
 * returns false when c failed (and was closed). */
static bool conn__write_tp(struct bench_conn *c)
{
    const uint8_t *w;
    size_t want, sent;
    int rc;

    if (conn__encode(c) != MQ_OK) {
        conn__fail(c, ENOMEM);
        return false;
    }
    while ((w = bench_tp_wire(c->tp, &want)), want > 0) {
        rc = conn__send(c, w, want, &sent);
        if (rc < 0)
            return false;
        bench_tp_consumed(c->tp, sent);
        if (rc == 0)
            return true;
    }
    c->blocked = false;
    return true;
}

/* Writes what c has queued; returns false when c failed (and was closed). */
static bool conn__write(struct bench_conn *c)
{
    size_t sent;
    int rc;

    if (c->tp)
        return conn__write_tp(c);
    while (c->out_off < c->out_len) {
        rc = conn__send(c, c->out + c->out_off, c->out_len - c->out_off, &sent);
        if (rc < 0)
            return false;
        c->out_off += sent;
        if (rc == 0)
            return true;
    }
    c->blocked = false;
    conn__out_done(c);
    return true;
}

void bench_loop_flush(struct bench_loop *l)
{
    while (l->dirty) {
        struct bench_conn *c = l->dirty;
        l->dirty = c->next_dirty;
        c->dirty = false;
        if (c->connected && !c->blocked)
            conn__write(c);
    }
}

/* Keeps in[0..n) as c's unfinished packet. Returns false on ENOMEM. */
static bool conn__keep(struct bench_conn *c, const uint8_t *in, size_t n)
{
    if (n > c->in_cap) {
        size_t cap = n < 256 ? 256 : n;
        uint8_t *p = realloc(c->in, cap);
        if (!p)
            return false;
        c->in = p;
        c->in_cap = (uint32_t)cap;
    }
    if (n)
        memcpy(c->in, in, n);
    c->in_len = (uint32_t)n;
    return true;
}

/* Turns the n wire bytes c read into scratch + have into MQTT bytes, in
 * place (*got of them); makes c dirty when its transport has something to
 * send. Returns false when c failed (and was closed). */
static bool conn__unwrap(struct bench_loop *l, struct bench_conn *c, size_t have, size_t n,
                         size_t *got)
{
    int rc = bench_tp_input(c->tp, l->scratch + have, n, l->scratch_cap - have, got);
    if (rc != MQ_OK) {
        /* A failed handshake may owe the broker an alert: one try to send it. */
        conn__write_tp(c);
        if (c->fd >= 0)
            conn__fail(c, rc == MQ_ENOMEM ? ENOMEM : EPROTO);
        return false;
    }
    size_t wire = 0;
    bench_tp_wire(c->tp, &wire);
    if (wire || (c->out_off < c->out_len && bench_tp_ready(c->tp)))
        conn__mark_dirty(c);
    return true;
}

/* Reads and frames what c has, within the per-turn budget. */
static void conn__read(struct bench_loop *l, struct bench_conn *c)
{
    for (int i = 0; i < BENCH_READS_PER_TURN; i++) {
        size_t have = c->in_len;
        size_t room = l->scratch_cap - have;
        size_t want = c->tp ? room - BENCH_TP_SLACK : room;

        if (have)
            memcpy(l->scratch, c->in, have);
        ssize_t n = read(c->fd, l->scratch + have, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn__fail(c, errno);
            return;
        }
        if (n == 0) {
            conn__fail(c, 0);
            return;
        }
        l->n_reads++;
        l->bytes_in += (uint64_t)n;

        uint64_t now = bench_now_ns();
        size_t got = (size_t)n;
        if (c->tp && !conn__unwrap(l, c, have, (size_t)n, &got))
            return;
        size_t len = have + got;
        size_t pos = 0;
        while (pos < len) {
            struct mqtt_frame f;
            int rc = mqtt_frame(l->scratch + pos, len - pos, l->max_packet, &f);
            if (rc == MQ_EAGAIN)
                break;
            if (rc != MQ_OK) {
                conn__fail(c, EPROTO);
                return;
            }
            l->on_packet(l->ctx, c, &f, now);
            if (c->fd < 0)
                return;
            pos += f.total_len;
        }
        if (!conn__keep(c, l->scratch + pos, len - pos)) {
            conn__fail(c, ENOMEM);
            return;
        }
        if (c->tp && bench_tp_closed(c->tp)) {
            /* The broker closed its transport: answer (one try), then close. */
            if (conn__write_tp(c))
                conn__fail(c, 0);
            return;
        }
        if ((size_t)n < want && !c->hup)
            return;
    }
    if (!c->more) {
        c->more = true;
        c->next_more = l->more;
        l->more = c;
    }
}

/* Handles one epoll event of c. */
static void conn__event(struct bench_loop *l, struct bench_conn *c, uint32_t ev)
{
    if (c->fd < 0)
        return;
    if (ev & EPOLLERR) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        conn__fail(c, err ? err : EIO);
        return;
    }
    if (!c->connected && (ev & EPOLLOUT)) {
        c->connected = true;
        c->blocked = false;
        if (bench_conn_pending(c) && !conn__write(c))
            return;
    } else if ((ev & EPOLLOUT) && c->blocked) {
        if (!conn__write(c))
            return;
    }
    if (ev & (EPOLLRDHUP | EPOLLHUP))
        c->hup = true;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
        conn__read(l, c);
}

int bench_loop_poll(struct bench_loop *l, int timeout_ms)
{
    struct epoll_event evs[BENCH_EVENTS];
    int served = 0;

    if (l->more) {
        struct bench_conn *list = l->more;
        l->more = NULL;
        while (list) {
            struct bench_conn *c = list;
            list = c->next_more;
            c->more = false;
            if (c->fd >= 0) {
                conn__read(l, c);
                served++;
            }
        }
        timeout_ms = 0;
    }
    if (l->dirty)
        bench_loop_flush(l);

    int n = epoll_wait(l->epfd, evs, BENCH_EVENTS, timeout_ms);
    if (n < 0)
        return errno == EINTR ? served : MQ_EIO;
    for (int i = 0; i < n; i++)
        conn__event(l, evs[i].data.ptr, evs[i].events);
    bench_loop_flush(l);
    return served + n;
}
