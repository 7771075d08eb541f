/*
 * redis_client.c - one Redis connection on a libuv loop (see
 * redis_client.h): a TCP stream, hiredis's RESP reader for what comes in,
 * redisFormatCommandArgv for what goes out, a FIFO of reply callbacks, and
 * the state machine that connects, authenticates, and after a loss waits
 * and connects again.
 *
 * It is not a cluster client: routing by slot, MOVED and ASK are the
 * caller's business (the pure functions at the end only parse what the
 * caller needs). Nor is it a queue for commands while Redis is away.
 *
 *   IDLE --start--> CONNECTING --TCP up--> AUTHING --+OK--> UP
 *                        |    (no password: straight to UP)
 *   CONNECTING, AUTHING, UP --loss, error, 2 s timeout--> WAITING
 *   WAITING --backoff timer--> CONNECTING
 *   any state --redis_client_close--> CLOSED
 *
 * Handles. The timer, the check and the idle handle live as long as the
 * client. The TCP handle is initialised for each connection attempt and
 * closed at each loss; a new connection starts only after the old handle's
 * close callback (tcp_state), so the write and connect requests embedded
 * here are always finished (cancelled, at worst) before they are reused.
 * A name resolution runs on libuv's thread pool and cannot always be
 * cancelled: each has a request of its own, and a resolution that belongs
 * to an attempt given up since (attempt counter) is dropped on arrival.
 * Every open handle and every outstanding resolution holds a reference
 * (refs); the memory goes with the last one, after redis_client_close.
 *
 * Output. Commands are encoded into out[iout]; the check handle writes that
 * whole buffer with one uv_write at the end of the loop turn and swaps the
 * buffers, so commands queued while the write is in flight gather in the
 * other one. An idle handle is started together with the check handle:
 * commands queued outside the poll phase (in a timer, say) would otherwise
 * wait for the next I/O event before the check phase came round.
 */
#include "redis_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/read.h>

#include "errors.h"
#include "log.h"
#include "textutil.h"

#define RC_BACKOFF_MIN_MS 100u
#define RC_BACKOFF_MAX_MS 5000u
#define RC_CONNECT_TIMEOUT_MS 2000u   /* from the attempt's start to `up` */
#define RC_DEFAULT_MAX_OUTPUT ((size_t)64 << 20)
#define RC_MAX_ARG_BYTES ((size_t)512 << 20) /* Redis's proto-max-bulk-len */
#define RC_READ_BUF 65536u
#define RC_MAX_ADDRS 8                /* addresses of one name tried in turn */
#define RC_KEEP_BUF ((size_t)1 << 20) /* output buffers over this are freed once written */
#define RC_KEEP_PENDING 4096u         /* reply slots kept when the FIFO empties */
#define RC_WRITE_CHUNK 0x40000000u    /* one uv_buf_t holds at most this (1 GiB) */

enum rc_state { RC_IDLE, RC_CONNECTING, RC_AUTHING, RC_UP, RC_WAITING, RC_CLOSED };
enum rc_tcp_state { RC_TCP_NONE, RC_TCP_OPEN, RC_TCP_CLOSING };

/* The callback of one command that waits for its reply. */
struct rc_pending {
    redis_reply_fn fn; /* NULL: the reply is dropped */
    void *ctx;
};

/* A growable byte buffer: len bytes used of cap allocated. */
struct rc_buf {
    char *p;
    size_t len, cap;
};

/* One name resolution; freed by its callback. */
struct rc_resolve {
    uv_getaddrinfo_t req;
    struct redis_client *rc;
    uint64_t attempt; /* rc->attempt when it started */
};

struct redis_client {
    uv_loop_t *loop;
    struct redis_client_callbacks cb;
    char *host, *password, *name; /* owned copies; password NULL = no AUTH */
    uint16_t port;
    bool subscriber;
    size_t max_output; /* bytes; never 0 */

    enum rc_state state;
    uint64_t attempt;    /* bumped at each loss and at close */
    bool down_reported;  /* `down` told for the current loss; cleared by `up` */
    bool got_reply;      /* this connection has had a reply (backoff reset) */
    uint32_t backoff_ms; /* the wait before the next attempt */
    char why[160];       /* why the current attempt failed; "" = it timed out */

    bool numeric; /* host is an address: no resolution */
    struct sockaddr_storage addrs[RC_MAX_ADDRS];
    size_t naddrs, iaddr; /* the attempt's addresses; the one being tried */
    struct rc_resolve *resolving; /* the attempt's resolution, until its callback */

    uv_tcp_t tcp;
    enum rc_tcp_state tcp_state;
    bool connect_after_close; /* connect to addrs[iaddr] once tcp is closed */
    uv_connect_t connect_req;
    uv_write_t write_req;
    bool writing; /* write_req in flight, writing out[!iout] */
    uv_timer_t timer; /* connect timeout (CONNECTING, AUTHING), backoff (WAITING) */
    uv_check_t flush; /* active while out[iout] waits for the end of the turn */
    uv_idle_t nudge;  /* active with flush: the loop's poll does not block */

    struct rc_buf out[2];
    unsigned iout; /* out[iout] gathers commands */

    struct rc_pending *pending; /* ring of pcap (a power of two) slots */
    size_t phead, npending, pcap;

    redisReader *reader; /* a fresh one for each connection */
    unsigned refs;       /* open handles + outstanding resolutions */
    char rbuf[RC_READ_BUF];
};

static void rc_attempt(struct redis_client *rc);
static void rc_connect_addr(struct redis_client *rc);
static void on_timer(uv_timer_t *t);

/* ---- memory --------------------------------------------------------------------------- */

static void rc_free(struct redis_client *rc)
{
    free(rc->out[0].p);
    free(rc->out[1].p);
    free(rc->pending);
    if (rc->reader)
        redisReaderFree(rc->reader);
    free(rc->host);
    free(rc->password);
    free(rc->name);
    free(rc);
}

/* Drops one reference; the last one frees the client. */
static void rc_unref(struct redis_client *rc)
{
    if (--rc->refs == 0)
        rc_free(rc);
}

static void on_handle_closed(uv_handle_t *h)
{
    rc_unref(h->data);
}

/* ---- the FIFO of reply callbacks ------------------------------------------------------ */

/* Room for one more entry. MQ_OK or MQ_ENOMEM. */
static int rc_pending_reserve(struct redis_client *rc)
{
    if (rc->npending < rc->pcap)
        return MQ_OK;
    size_t cap = rc->pcap ? rc->pcap * 2 : 64;
    struct rc_pending *a = malloc(cap * sizeof(*a));
    if (!a)
        return MQ_ENOMEM;
    for (size_t i = 0; i < rc->npending; i++)
        a[i] = rc->pending[(rc->phead + i) & (rc->pcap - 1)];
    free(rc->pending);
    rc->pending = a;
    rc->pcap = cap;
    rc->phead = 0;
    return MQ_OK;
}

/* Appends an entry (after rc_pending_reserve). */
static void rc_pending_push(struct redis_client *rc, redis_reply_fn fn, void *ctx)
{
    struct rc_pending *p = &rc->pending[(rc->phead + rc->npending) & (rc->pcap - 1)];
    p->fn = fn;
    p->ctx = ctx;
    rc->npending++;
}

/* Takes the oldest entry (npending > 0). A large ring is given back when
 * it empties. */
static struct rc_pending rc_pending_pop(struct redis_client *rc)
{
    struct rc_pending p = rc->pending[rc->phead];
    rc->phead = (rc->phead + 1) & (rc->pcap - 1);
    if (--rc->npending == 0 && rc->pcap > RC_KEEP_PENDING) {
        free(rc->pending);
        rc->pending = NULL;
        rc->pcap = rc->phead = 0;
    }
    return p;
}

/* Calls every waiting callback with NULL, oldest first. A callback may
 * close the client; it cannot queue (nothing is up here). */
static void rc_fail_pending(struct redis_client *rc)
{
    while (rc->npending) {
        struct rc_pending p = rc_pending_pop(rc);
        if (p.fn)
            p.fn(p.ctx, NULL);
    }
}

/* ---- output --------------------------------------------------------------------------- */

static void rc_flush_soon(struct redis_client *rc);

/* Encodes one command onto the gathering buffer. MQ_OK or MQ_ENOMEM. */
static int rc_append(struct redis_client *rc, int argc, const char **argv, const size_t *argvlen)
{
    char *cmd = NULL;
    int n = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (n < 0 || !cmd)
        return MQ_ENOMEM;
    struct rc_buf *b = &rc->out[rc->iout];
    if (b->len + (size_t)n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + (size_t)n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            redisFreeCommand(cmd);
            return MQ_ENOMEM;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, cmd, (size_t)n);
    b->len += (size_t)n;
    redisFreeCommand(cmd);
    rc_flush_soon(rc);
    return MQ_OK;
}

static void rc_flush_stop(struct redis_client *rc)
{
    uv_check_stop(&rc->flush);
    uv_idle_stop(&rc->nudge);
}

static void on_nudge(uv_idle_t *h)
{
}

static void rc_lost(struct redis_client *rc, const char *what, const char *detail);

static void on_write(uv_write_t *req, int status)
{
    struct redis_client *rc = req->data;
    struct rc_buf *b = &rc->out[rc->iout ^ 1u];
    rc->writing = false;
    b->len = 0;
    if (b->cap > RC_KEEP_BUF) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
    if (rc->state != RC_UP && rc->state != RC_AUTHING)
        return; /* cancelled by a loss or a close */
    if (status < 0)
        rc_lost(rc, "write failed", uv_strerror(status));
    else if (rc->out[rc->iout].len)
        rc_flush_soon(rc);
}

/* The check handle: writes the gathered commands, all of them at once. */
static void on_flush(uv_check_t *h)
{
    struct redis_client *rc = h->data;
    rc_flush_stop(rc);
    struct rc_buf *b = &rc->out[rc->iout];
    if (rc->writing || b->len == 0 || (rc->state != RC_UP && rc->state != RC_AUTHING))
        return; /* on_write starts the flush again */
    uv_buf_t small[4], *bufs = small;
    size_t nbufs = (b->len + RC_WRITE_CHUNK - 1) / RC_WRITE_CHUNK;
    if (nbufs > sizeof(small) / sizeof(small[0])) {
        bufs = malloc(nbufs * sizeof(*bufs));
        if (!bufs) {
            rc_flush_soon(rc); /* try again next turn */
            return;
        }
    }
    for (size_t i = 0, off = 0; i < nbufs; i++, off += RC_WRITE_CHUNK) {
        size_t n = b->len - off < RC_WRITE_CHUNK ? b->len - off : RC_WRITE_CHUNK;
        bufs[i] = uv_buf_init(b->p + off, (unsigned)n);
    }
    rc->iout ^= 1u;
    rc->writing = true;
    rc->write_req.data = rc;
    int err = uv_write(&rc->write_req, (uv_stream_t *)&rc->tcp, bufs, (unsigned)nbufs, on_write);
    if (bufs != small)
        free(bufs); /* uv_write copied the array */
    if (err < 0) {
        rc->writing = false;
        b->len = 0;
        rc_lost(rc, "write failed", uv_strerror(err));
    }
}

static void rc_flush_soon(struct redis_client *rc)
{
    uv_check_start(&rc->flush, on_flush);
    uv_idle_start(&rc->nudge, on_nudge);
}

/* ---- losing and making the connection --------------------------------------------------- */

static void on_tcp_closed(uv_handle_t *h)
{
    struct redis_client *rc = h->data;
    rc->tcp_state = RC_TCP_NONE;
    bool again = rc->connect_after_close && rc->state == RC_CONNECTING;
    rc->connect_after_close = false;
    if (again)
        rc_connect_addr(rc);
    rc_unref(rc);
}

static void rc_tcp_close(struct redis_client *rc)
{
    if (rc->tcp_state != RC_TCP_OPEN)
        return;
    rc->tcp_state = RC_TCP_CLOSING;
    uv_close((uv_handle_t *)&rc->tcp, on_tcp_closed);
}

static void rc_cancel_resolve(struct redis_client *rc)
{
    if (rc->resolving) {
        uv_cancel((uv_req_t *)&rc->resolving->req); /* its callback comes all the same */
        rc->resolving = NULL;
    }
}

/* Drops what the connection had (the socket, unwritten commands, waiting
 * callbacks, a resolution), then reports `down` when this loss has not
 * been reported yet, and schedules the next attempt. why = what: detail. */
static void rc_lost(struct redis_client *rc, const char *what, const char *detail)
{
    char why[sizeof(rc->why) + 64];
    snprintf(why, sizeof(why), "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
    rc->state = RC_WAITING;
    rc->attempt++;
    rc_cancel_resolve(rc);
    uv_timer_stop(&rc->timer);
    rc_flush_stop(rc);
    rc->out[rc->iout].len = 0;
    rc->connect_after_close = false;
    rc_tcp_close(rc);
    rc_fail_pending(rc);
    if (rc->state != RC_WAITING)
        return; /* a callback closed the client */
    if (!rc->down_reported) {
        rc->down_reported = true;
        log_warn("redis %s: down: %s", rc->name, why);
        if (rc->cb.down)
            rc->cb.down(rc->cb.ctx, rc, why);
        if (rc->state != RC_WAITING)
            return;
    } else {
        log_debug("redis %s: still down: %s", rc->name, why);
    }
    uv_timer_start(&rc->timer, on_timer, rc->backoff_ms, 0);
    rc->backoff_ms = rc->backoff_ms * 2 < RC_BACKOFF_MAX_MS ? rc->backoff_ms * 2 : RC_BACKOFF_MAX_MS;
}

/* Ends the current attempt at the next timer phase (never from inside
 * redis_client_start or another caller's call): why is copied. */
static void rc_fail_soon(struct redis_client *rc, const char *what, const char *detail)
{
    snprintf(rc->why, sizeof(rc->why), "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
    uv_timer_start(&rc->timer, on_timer, 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct redis_client *rc = t->data;
    if (rc->state == RC_WAITING) {
        rc_attempt(rc);
    } else if (rc->state == RC_CONNECTING || rc->state == RC_AUTHING) {
        char why[sizeof(rc->why)];
        snprintf(why, sizeof(why), "%s", rc->why);
        if (why[0])
            rc_lost(rc, why, NULL);
        else
            rc_lost(rc, rc->state == RC_AUTHING ? "no answer to AUTH" : "cannot connect",
                    "timed out after 2 s");
    }
}

static void rc_up(struct redis_client *rc)
{
    rc->state = RC_UP;
    uv_timer_stop(&rc->timer);
    rc->down_reported = false;
    log_info("redis %s: up", rc->name);
    if (rc->cb.up)
        rc->cb.up(rc->cb.ctx, rc);
}

/* The first reply of a connection resets the backoff. */
static void rc_got_reply(struct redis_client *rc)
{
    if (!rc->got_reply) {
        rc->got_reply = true;
        rc->backoff_ms = RC_BACKOFF_MIN_MS;
    }
}

/* Hands one reply to whom it belongs. */
static void rc_dispatch(struct redis_client *rc, const redisReply *reply)
{
    if (rc->state == RC_AUTHING) {
        if (reply->type == REDIS_REPLY_ERROR) {
            rc_lost(rc, "AUTH refused", reply->str);
            return;
        }
        rc_got_reply(rc);
        rc_up(rc);
        return;
    }
    if (!rc->subscriber && rc->npending == 0) {
        rc_lost(rc, "protocol error", "a reply no command asked for");
        return;
    }
    rc_got_reply(rc);
    if (rc->subscriber) {
        if (rc->cb.push)
            rc->cb.push(rc->cb.ctx, rc, reply);
        return;
    }
    struct rc_pending p = rc_pending_pop(rc);
    if (p.fn)
        p.fn(p.ctx, reply);
}

/* Takes every whole reply out of the reader, while the connection lasts
 * (a callback may close the client or a reply end the connection). */
static void rc_drain(struct redis_client *rc)
{
    while (rc->state == RC_UP || rc->state == RC_AUTHING) {
        void *reply = NULL;
        if (redisReaderGetReply(rc->reader, &reply) != REDIS_OK) {
            char err[sizeof(rc->reader->errstr)];
            snprintf(err, sizeof(err), "%s", rc->reader->errstr);
            rc_lost(rc, "protocol error", err);
            return;
        }
        if (!reply)
            return;
        rc_dispatch(rc, reply);
        freeReplyObject(reply);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct redis_client *rc = h->data;
    *buf = uv_buf_init(rc->rbuf, sizeof(rc->rbuf));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct redis_client *rc = stream->data;
    if (rc->state != RC_UP && rc->state != RC_AUTHING)
        return;
    if (nread < 0) {
        rc_lost(rc, nread == UV_EOF ? "the server closed the connection" : "read failed",
                nread == UV_EOF ? NULL : uv_strerror((int)nread));
        return;
    }
    if (nread == 0)
        return;
    if (redisReaderFeed(rc->reader, buf->base, (size_t)nread) != REDIS_OK) {
        rc_lost(rc, "out of memory for a reply", NULL);
        return;
    }
    rc_drain(rc);
}

/* The TCP connection is made: read, and AUTH or be up. */
static void rc_connected(struct redis_client *rc)
{
    uv_tcp_nodelay(&rc->tcp, 1);
    uv_tcp_keepalive(&rc->tcp, 1, 60);
    redisReader *reader = redisReaderCreate();
    if (!reader) {
        rc_lost(rc, "out of memory for the reader", NULL);
        return;
    }
    if (rc->reader)
        redisReaderFree(rc->reader);
    rc->reader = reader;
    int err = uv_read_start((uv_stream_t *)&rc->tcp, on_alloc, on_read);
    if (err < 0) {
        rc_lost(rc, "cannot read", uv_strerror(err));
        return;
    }
    if (!rc->password) {
        rc_up(rc);
        return;
    }
    rc->state = RC_AUTHING;
    const char *argv[2] = {"AUTH", rc->password};
    size_t argvlen[2] = {4, strlen(rc->password)};
    if (rc_append(rc, 2, argv, argvlen) != MQ_OK)
        rc_lost(rc, "out of memory for AUTH", NULL);
}

/* Tries the next address of the attempt, or gives the attempt up. */
static void rc_next_addr(struct redis_client *rc, int err)
{
    if (rc->iaddr + 1 < rc->naddrs) {
        rc->iaddr++;
        rc->connect_after_close = true;
        rc_tcp_close(rc);
        return;
    }
    rc_fail_soon(rc, "cannot connect", uv_strerror(err));
}

static void on_connected(uv_connect_t *req, int status)
{
    struct redis_client *rc = req->data;
    if (status == UV_ECANCELED || rc->state != RC_CONNECTING)
        return;
    if (status < 0)
        rc_next_addr(rc, status);
    else
        rc_connected(rc);
}

/* Connects to addrs[iaddr] (once the previous TCP handle is closed). */
static void rc_connect_addr(struct redis_client *rc)
{
    if (rc->tcp_state == RC_TCP_CLOSING) {
        rc->connect_after_close = true;
        return;
    }
    int err = uv_tcp_init(rc->loop, &rc->tcp);
    if (err < 0) {
        rc_fail_soon(rc, "cannot make a socket", uv_strerror(err));
        return;
    }
    rc->tcp.data = rc;
    rc->tcp_state = RC_TCP_OPEN;
    rc->refs++;
    rc->connect_req.data = rc;
    err = uv_tcp_connect(&rc->connect_req, &rc->tcp, (const struct sockaddr *)&rc->addrs[rc->iaddr],
                         on_connected);
    if (err < 0)
        rc_next_addr(rc, err);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct rc_resolve *r = req->data;
    struct redis_client *rc = r->rc;
    bool current = r->attempt == rc->attempt && rc->state == RC_CONNECTING;
    free(r);
    if (current) {
        rc->resolving = NULL;
        rc->naddrs = rc->iaddr = 0;
        for (struct addrinfo *ai = status == 0 ? res : NULL; ai && rc->naddrs < RC_MAX_ADDRS;
             ai = ai->ai_next) {
            if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
                ai->ai_addrlen <= sizeof(rc->addrs[0]))
                memcpy(&rc->addrs[rc->naddrs++], ai->ai_addr, ai->ai_addrlen);
        }
        if (status < 0)
            rc_lost(rc, "cannot resolve the host name", uv_strerror(status));
        else if (rc->naddrs == 0)
            rc_lost(rc, "cannot resolve the host name", "no IPv4 or IPv6 address");
        else
            rc_connect_addr(rc);
    }
    if (res)
        uv_freeaddrinfo(res);
    rc_unref(rc);
}

static void rc_resolve(struct redis_client *rc)
{
    struct rc_resolve *r = malloc(sizeof(*r));
    if (!r) {
        rc_fail_soon(rc, "out of memory", NULL);
        return;
    }
    r->rc = rc;
    r->attempt = rc->attempt;
    r->req.data = r;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)rc->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    int err = uv_getaddrinfo(rc->loop, &r->req, on_resolved, rc->host, port, &hints);
    if (err < 0) {
        free(r);
        rc_fail_soon(rc, "cannot resolve the host name", uv_strerror(err));
        return;
    }
    rc->refs++;
    rc->resolving = r;
}

/* One connection attempt, bounded by the connect timeout. */
static void rc_attempt(struct redis_client *rc)
{
    rc->state = RC_CONNECTING;
    rc->got_reply = false;
    rc->why[0] = '\0';
    uv_timer_start(&rc->timer, on_timer, RC_CONNECT_TIMEOUT_MS, 0);
    if (rc->numeric) {
        rc->naddrs = 1;
        rc->iaddr = 0;
        rc_connect_addr(rc);
    } else {
        rc_resolve(rc);
    }
}

/* ---- the public face ---------------------------------------------------------------- */

struct redis_client *redis_client_new(uv_loop_t *loop, const struct redis_client_config *cfg,
                                      const struct redis_client_callbacks *cb)
{
    if (!loop || !cfg || !cfg->host || !cfg->host[0])
        return NULL;
    struct redis_client *rc = calloc(1, sizeof(*rc));
    if (!rc)
        return NULL;
    rc->loop = loop;
    if (cb)
        rc->cb = *cb;
    rc->port = cfg->port;
    rc->subscriber = cfg->subscriber;
    rc->max_output = cfg->max_output ? cfg->max_output : RC_DEFAULT_MAX_OUTPUT;
    rc->backoff_ms = RC_BACKOFF_MIN_MS;
    size_t namelen = strlen(cfg->host) + 16;
    rc->host = strdup(cfg->host);
    rc->name = malloc(namelen);
    rc->password = cfg->password ? strdup(cfg->password) : NULL;
    rc->reader = redisReaderCreate();
    if (!rc->host || !rc->name || (cfg->password && !rc->password) || !rc->reader) {
        rc_free(rc);
        return NULL;
    }
    bool v6 = strchr(cfg->host, ':') != NULL;
    snprintf(rc->name, namelen, v6 ? "[%s]:%u" : "%s:%u", cfg->host, (unsigned)cfg->port);
    if (uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&rc->addrs[0]) == 0 ||
        uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&rc->addrs[0]) == 0)
        rc->numeric = true;
    uv_timer_init(loop, &rc->timer);
    uv_check_init(loop, &rc->flush);
    uv_idle_init(loop, &rc->nudge);
    rc->timer.data = rc->flush.data = rc->nudge.data = rc;
    rc->refs = 3;
    return rc;
}

void redis_client_start(struct redis_client *rc)
{
    if (rc->state == RC_IDLE)
        rc_attempt(rc);
}

void redis_client_close(struct redis_client *rc)
{
    if (!rc || rc->state == RC_CLOSED)
        return;
    rc->state = RC_CLOSED;
    rc->attempt++;
    rc_cancel_resolve(rc);
    rc->connect_after_close = false;
    rc_tcp_close(rc);
    rc->out[rc->iout].len = 0;
    uv_close((uv_handle_t *)&rc->timer, on_handle_closed);
    uv_close((uv_handle_t *)&rc->flush, on_handle_closed);
    uv_close((uv_handle_t *)&rc->nudge, on_handle_closed);
    rc_fail_pending(rc);
}

void redis_client_drop(struct redis_client *rc, const char *why)
{
    if (rc->state == RC_UP)
        rc_lost(rc, why, NULL);
}

bool redis_client_is_up(const struct redis_client *rc)
{
    return rc->state == RC_UP;
}

int redis_client_command(struct redis_client *rc, int argc, const char **argv,
                         const size_t *argvlen, redis_reply_fn fn, void *ctx)
{
    if (argc < 1 || !argv || (rc->subscriber && fn))
        return MQ_EINVAL;
    if (argvlen)
        for (int i = 0; i < argc; i++)
            if (argvlen[i] > RC_MAX_ARG_BYTES)
                return MQ_EINVAL;
    if (rc->state != RC_UP)
        return MQ_EIO;
    if (redis_client_pending_bytes(rc) >= rc->max_output)
        return MQ_EFULL;
    if (!rc->subscriber && rc_pending_reserve(rc) != MQ_OK)
        return MQ_ENOMEM;
    int err = rc_append(rc, argc, argv, argvlen);
    if (err != MQ_OK)
        return err;
    if (!rc->subscriber)
        rc_pending_push(rc, fn, ctx);
    return MQ_OK;
}

size_t redis_client_pending_bytes(const struct redis_client *rc)
{
    return rc->out[rc->iout].len + (rc->writing ? rc->out[rc->iout ^ 1u].len : 0);
}

const char *redis_client_name(const struct redis_client *rc)
{
    return rc->name;
}

/* ---- URLs ------------------------------------------------------------------------------ */

/* Percent-decodes s[0..len) into out (size outlen, NUL-terminated). A
 * decoded NUL, a bad escape or too little room: MQ_EINVAL. */
static int rc_decode(const char *s, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < len ? text_hex_digit(s[i + 1]) : -1;
            int lo = hi >= 0 ? text_hex_digit(s[i + 2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0))
                return MQ_EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n + 1 >= outlen)
            return MQ_EINVAL;
        out[n++] = c;
    }
    if (n >= outlen)
        return MQ_EINVAL;
    out[n] = '\0';
    return MQ_OK;
}

/* host[:port] or [v6][:port] from s[0..len). */
static int rc_parse_hostport(const char *s, size_t len, char *host, size_t hostlen, uint16_t *port)
{
    const char *h;
    size_t n;
    if (text_split_hostport(s, len, &h, &n, port, 6379) != MQ_OK || n == 0 || n >= hostlen)
        return MQ_EINVAL;
    for (const char *p = h; p < h + n; p++)
        if ((unsigned char)*p <= ' ' || *p == '@' || *p == '[' || *p == ']' || *p == 0x7f ||
            (h == s && (*p == '%' || *p == ':')))
            return MQ_EINVAL;
    memcpy(host, h, n);
    host[n] = '\0';
    return MQ_OK;
}

int redis_url_parse(const char *url, char *host, size_t hostlen, uint16_t *port, char *password,
                    size_t passwordlen)
{
    static const char scheme[] = "redis://";
    if (!url || !host || hostlen == 0 || !port)
        return MQ_EINVAL;
    if (strncasecmp(url, scheme, sizeof(scheme) - 1) != 0)
        return MQ_EINVAL;
    const char *auth = url + sizeof(scheme) - 1;
    const char *end = auth + strcspn(auth, "/?#");
    /* Only nothing, "/" or "/0" may follow: no database other than 0. */
    if (*end && strcmp(end, "/") != 0 && strcmp(end, "/0") != 0)
        return MQ_EINVAL;
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    const char *hp = auth;
    if (password && passwordlen)
        password[0] = '\0';
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        if (!colon || colon + 1 == at || !password)
            return MQ_EINVAL;
        size_t ulen = (size_t)(colon - auth);
        if (ulen != 0 && !(ulen == 7 && strncmp(auth, "default", 7) == 0))
            return MQ_EINVAL; /* AUTH with a user name is not supported */
        if (rc_decode(colon + 1, (size_t)(at - colon - 1), password, passwordlen) != MQ_OK)
            return MQ_EINVAL;
        hp = at + 1;
    }
    return rc_parse_hostport(hp, (size_t)(end - hp), host, hostlen, port);
}

/* ---- cluster slots ------------------------------------------------------------------------- */

/* CRC16-CCITT as XMODEM computes it (polynomial 0x1021, start 0, no
 * reflection, no final xor), bit by bit: keys are short. */
static uint16_t rc_crc16(const unsigned char *p, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned redis_key_slot(const char *key, size_t len)
{
    if (len == 0)
        return 0;
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t after = (size_t)(open - key) + 1;
        const char *close = memchr(open + 1, '}', len - after);
        if (close && close > open + 1) {
            key = open + 1;
            len = (size_t)(close - key);
        }
    }
    return rc_crc16((const unsigned char *)key, len) & (REDIS_SLOTS - 1);
}

/* The index of master host:port in map, added when new; -1 when the table
 * is full. */
static int rc_slot_master(struct redis_slot_map *map, const char *host, size_t len, uint16_t port)
{
    for (size_t i = 0; i < map->nmasters; i++)
        if (map->masters[i].port == port && strlen(map->masters[i].host) == len &&
            memcmp(map->masters[i].host, host, len) == 0)
            return (int)i;
    if (map->nmasters == REDIS_MAX_MASTERS)
        return -1;
    size_t i = map->nmasters++;
    memcpy(map->masters[i].host, host, len);
    map->masters[i].host[len] = '\0';
    map->masters[i].port = port;
    return (int)i;
}

/* One [start, end, [host, port, ...], ...] entry into map. */
static int rc_slot_range(const redisReply *e, struct redis_slot_map *map)
{
    if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 3)
        return MQ_EINVAL;
    const redisReply *from = e->element[0], *to = e->element[1], *node = e->element[2];
    if (!from || !to || from->type != REDIS_REPLY_INTEGER || to->type != REDIS_REPLY_INTEGER ||
        from->integer < 0 || from->integer > to->integer || to->integer >= REDIS_SLOTS)
        return MQ_EINVAL;
    if (!node || node->type != REDIS_REPLY_ARRAY || node->elements < 2)
        return MQ_EINVAL;
    const redisReply *h = node->element[0], *p = node->element[1];
    const char *host = "";
    size_t hlen = 0;
    if (h && h->type == REDIS_REPLY_STRING) {
        host = h->str;
        hlen = h->len;
    } else if (!h || h->type != REDIS_REPLY_NIL) {
        return MQ_EINVAL;
    }
    if (hlen >= sizeof(map->masters[0].host) || memchr(host, '\0', hlen))
        return MQ_EINVAL;
    if (!p || p->type != REDIS_REPLY_INTEGER || p->integer < 1 || p->integer > 65535)
        return MQ_EINVAL;
    int m = rc_slot_master(map, host, hlen, (uint16_t)p->integer);
    if (m < 0)
        return MQ_EINVAL;
    for (long long s = from->integer; s <= to->integer; s++)
        map->owner[s] = (int16_t)m;
    return MQ_OK;
}

int redis_slot_map_parse(const redisReply *reply, struct redis_slot_map *map)
{
    map->nmasters = 0;
    for (size_t i = 0; i < REDIS_SLOTS; i++)
        map->owner[i] = -1;
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        return MQ_EINVAL;
    for (size_t i = 0; i < reply->elements; i++) {
        int rc = rc_slot_range(reply->element[i], map);
        if (rc != MQ_OK)
            return rc;
    }
    return MQ_OK;
}
