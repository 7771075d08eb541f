/*
 * bench_transport.c - the client side of TLS and WebSocket for the load
 * generator (bench_transport.h).
 *
 * What it is: OpenSSL on memory BIOs, an HTTP/1.1 upgrade and an RFC 6455
 * client framer, stacked as TLS below WebSocket. What it is not: a socket
 * owner (bench_conn.c reads and writes the socket) or an MQTT decoder.
 *
 * Data in, in place: the wire bytes arrive in the loop's read buffer; TLS
 * copies them into its read BIO and decrypts into the same buffer; the
 * WebSocket parser then moves frame payloads down over their headers (the
 * write position never passes the read position). So the MQTT bytes end
 * where the wire bytes began, ready for mqtt_frame().
 *
 * Data out: the connection's MQTT bytes are framed (and masked) into the
 * wire buffer, or for wss into a frame buffer that SSL_write() encrypts into
 * the write BIO, which is drained into the wire buffer after every OpenSSL
 * call.
 *
 * Server frames, by opcode (RFC 6455 5.2):
 *
 *   | opcode | frame        | what happens                                  |
 *   | ---    | ---          | ---                                           |
 *   | 0x0    | continuation | payload to MQTT; only inside a fragmented one |
 *   | 0x1    | text         | protocol error (MQTT travels in binary)       |
 *   | 0x2    | binary       | payload to MQTT as it arrives                 |
 *   | 0x8    | close        | answered with a close (same status); closed   |
 *   | 0x9    | ping         | answered with a pong carrying its payload     |
 *   | 0xA    | pong         | ignored                                       |
 *   | other  | -            | protocol error                                |
 *
 * A masked server frame, reserved bits, or a control frame that is
 * fragmented or longer than 125 bytes is a protocol error too.
 */
#include "bench_transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "errors.h"

/* The GUID RFC 6455 appends to the key for Sec-WebSocket-Accept. */
#define TP_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Bytes of an upgrade answer we read before giving up on it. */
#define TP_HTTP_MAX 8192u
/* Largest control frame payload (RFC 6455 5.5). */
#define TP_CTL_MAX 125u
/* WebSocket opcodes. */
#define TP_OP_CONT   0x0
#define TP_OP_TEXT   0x1
#define TP_OP_BINARY 0x2
#define TP_OP_CLOSE  0x8
#define TP_OP_PING   0x9
#define TP_OP_PONG   0xA

enum tp_ws_state {
    TP_WS_NONE,      /* tls: no WebSocket layer */
    TP_WS_WAIT,      /* the upgrade request is waiting for TLS (wss) */
    TP_WS_UPGRADING, /* the request is sent; reading the answer */
    TP_WS_OPEN,      /* frames both ways */
    TP_WS_CLOSED,    /* a close frame went out or came in: no more frames */
};

struct bench_tp {
    struct bench_tp_ctx *x;
    SSL *ssl;      /* tls, wss; NULL for ws */
    BIO *rbio;     /* owned by ssl: ciphertext from the socket */
    BIO *wbio;     /* owned by ssl: ciphertext for the socket */
    bool tls_done; /* the handshake has finished (always true without TLS) */
    bool failed;   /* a failure was reported: no more input */
    bool closed;   /* the broker closed in order */
    bool bye;      /* bench_tp_goodbye() ran */
    enum tp_ws_state ws;
    char *req;       /* ws, wss: the upgrade request until it is sent, NUL-terminated */
    char accept[32]; /* ws, wss: the Sec-WebSocket-Accept the answer must carry */
    char *http;      /* the answer's header so far (TP_HTTP_MAX bytes), while upgrading */
    size_t http_len;
    /* The frame being parsed: its header while hdr_len < hdr_need, then its
     * payload, `left` bytes of it still to come. */
    uint8_t hdr[14];
    uint8_t hdr_len;
    uint8_t hdr_need;        /* 2 until the second byte says more */
    bool in_payload;         /* the header is complete: payload bytes follow */
    bool fragmented;         /* a data message is open (a frame without FIN went by) */
    uint8_t opcode;          /* of the frame being parsed */
    uint64_t left;           /* its payload bytes still to come */
    uint8_t ctl[TP_CTL_MAX]; /* the payload of a control frame, ctl_len bytes so far */
    uint8_t ctl_len;
    uint8_t *frame; /* wss: a masked frame on its way into SSL_write() */
    size_t frame_cap;
    uint8_t *wire; /* bytes for the socket: wire[wire_off..wire_len) */
    size_t wire_off;
    size_t wire_len;
    size_t wire_cap;
    char why[160]; /* why it failed or closed, "" while it did neither */
};

const char *bench_tp_name(enum bench_transport kind)
{
    switch (kind) {
    case BENCH_TP_TCP:
        return "tcp";
    case BENCH_TP_TLS:
        return "tls";
    case BENCH_TP_WS:
        return "ws";
    case BENCH_TP_WSS:
        return "wss";
    }
    return "?";
}

int bench_tp_parse(const char *name, enum bench_transport *kind)
{
    static const enum bench_transport all[] = {BENCH_TP_TCP, BENCH_TP_TLS, BENCH_TP_WS,
                                               BENCH_TP_WSS};
    for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(name, bench_tp_name(all[i])) == 0) {
            *kind = all[i];
            return MQ_OK;
        }
    }
    return MQ_EINVAL;
}

int bench_tp_ctx_init(struct bench_tp_ctx *x, enum bench_transport kind, const char *ws_path)
{
    memset(x, 0, sizeof(*x));
    x->kind = kind;
    x->ws_path = ws_path ? ws_path : "/mqtt";
    if (RAND_bytes((unsigned char *)&x->rng, sizeof(x->rng)) != 1)
        return MQ_EIO;
    x->rng |= 1; /* xorshift never leaves 0 */
    if (kind == BENCH_TP_TLS || kind == BENCH_TP_WSS) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx)
            return MQ_EIO;
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        /* A loopback benchmark against a throwaway self-signed certificate. */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
        x->ssl_ctx = ctx;
    }
    return MQ_OK;
}

void bench_tp_ctx_free(struct bench_tp_ctx *x)
{
    if (x->ssl_ctx)
        SSL_CTX_free(x->ssl_ctx);
    x->ssl_ctx = NULL;
}

/* The next 64 pseudo-random bits (xorshift64*), for masks. */
static uint64_t tp__rand(struct bench_tp_ctx *x)
{
    x->rng ^= x->rng >> 12;
    x->rng ^= x->rng << 25;
    x->rng ^= x->rng >> 27;
    return x->rng * 0x2545F4914F6CDD1Dull;
}

/* Records the first reason t failed or closed. */
static void tp__why(struct bench_tp *t, const char *what, const char *detail)
{
    if (!t->why[0])
        snprintf(t->why, sizeof(t->why), "%s%s", what, detail ? detail : "");
}

/* Fails t with OpenSSL's first queued reason (the queue is emptied, so the
 * next connection's SSL_get_error() is not misled). Returns MQ_EPROTOCOL
 * when the handshake failed, else MQ_EIO. */
static int tp__ssl_fail(struct bench_tp *t, const char *what)
{
    char buf[120];
    unsigned long e = ERR_get_error();

    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    else
        snprintf(buf, sizeof(buf), "no reason given (the broker closed?)");
    ERR_clear_error();
    tp__why(t, what, buf);
    t->failed = true;
    return t->tls_done ? MQ_EIO : MQ_EPROTOCOL;
}

/* Returns room for n more wire bytes at the wire buffer's end, or NULL. */
static uint8_t *tp__wire_reserve(struct bench_tp *t, size_t n)
{
    if (t->wire_off > 0 && t->wire_len + n > t->wire_cap) {
        memmove(t->wire, t->wire + t->wire_off, t->wire_len - t->wire_off);
        t->wire_len -= t->wire_off;
        t->wire_off = 0;
    }
    if (t->wire_len + n > t->wire_cap) {
        size_t cap = t->wire_cap ? t->wire_cap : 512;
        while (cap < t->wire_len + n)
            cap *= 2;
        uint8_t *p = realloc(t->wire, cap);
        if (!p)
            return NULL;
        t->wire = p;
        t->wire_cap = cap;
    }
    return t->wire + t->wire_len;
}

/* Moves what OpenSSL wrote into the write BIO to the wire buffer. */
static int tp__drain(struct bench_tp *t)
{
    size_t n = BIO_ctrl_pending(t->wbio);
    if (n == 0)
        return MQ_OK;
    uint8_t *p = tp__wire_reserve(t, n);
    if (!p)
        return MQ_ENOMEM;
    int got = BIO_read(t->wbio, p, (int)n);
    if (got > 0)
        t->wire_len += (size_t)got;
    return MQ_OK;
}

/* Encrypts data[0..n) into the wire buffer (TLS after its handshake). */
static int tp__tls_write(struct bench_tp *t, const uint8_t *data, size_t n)
{
    while (n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        int r = SSL_write(t->ssl, data, chunk);
        if (r <= 0)
            return tp__ssl_fail(t, "TLS write: ");
        data += r;
        n -= (size_t)r;
    }
    return tp__drain(t);
}

/* Sends bytes that sit directly on TLS, or on the socket without it. */
static int tp__send_plain(struct bench_tp *t, const uint8_t *data, size_t n)
{
    if (t->ssl)
        return tp__tls_write(t, data, n);
    uint8_t *p = tp__wire_reserve(t, n);
    if (!p)
        return MQ_ENOMEM;
    memcpy(p, data, n);
    t->wire_len += n;
    return MQ_OK;
}

/* Copies src[0..n) to dst XORed with the 4-byte mask (8 bytes a turn). */
static void tp__mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4])
{
    uint32_t m32;
    memcpy(&m32, mask, 4);
    uint64_t m64 = (uint64_t)m32 << 32 | m32;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= m64;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ mask[i & 3];
}

/* Writes one whole (FIN) masked frame of opcode with payload data[0..n). */
static int tp__put_frame(struct bench_tp *t, uint8_t opcode, const uint8_t *data, size_t n)
{
    size_t hl = 2 + (n < 126 ? 0 : n < 65536 ? 2 : 8) + 4;
    uint8_t *p;

    if (t->ssl) {
        if (hl + n > t->frame_cap) {
            size_t cap = hl + n < 4096 ? 4096 : hl + n;
            uint8_t *f = realloc(t->frame, cap);
            if (!f)
                return MQ_ENOMEM;
            t->frame = f;
            t->frame_cap = cap;
        }
        p = t->frame;
    } else if (!(p = tp__wire_reserve(t, hl + n))) {
        return MQ_ENOMEM;
    }
    p[0] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        p[1] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        p[1] = 0x80 | 126;
        p[2] = (uint8_t)(n >> 8);
        p[3] = (uint8_t)n;
    } else {
        p[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            p[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    }
    uint32_t r = (uint32_t)(tp__rand(t->x) >> 32);
    uint8_t *mask = p + hl - 4;
    memcpy(mask, &r, 4);
    tp__mask(p + hl, data, n, mask);
    if (t->ssl)
        return tp__tls_write(t, p, hl + n);
    t->wire_len += hl + n;
    return MQ_OK;
}

/* Sends the upgrade request (ws: at once; wss: when TLS is done). */
static int tp__send_request(struct bench_tp *t)
{
    int rc = tp__send_plain(t, (const uint8_t *)t->req, strlen(t->req));
    free(t->req);
    t->req = NULL;
    t->ws = TP_WS_UPGRADING;
    return rc;
}

/* Builds the upgrade request for host:port and the Accept it must get back. */
static int tp__build_request(struct bench_tp *t, const char *host, uint16_t port)
{
    unsigned char raw[16];
    char key[32];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char both[64];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return MQ_EIO;
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw)); /* 24 characters */
    int k = snprintf(both, sizeof(both), "%s%s", key, TP_WS_GUID);
    if (EVP_Digest(both, (size_t)k, md, &md_len, EVP_sha1(), NULL) != 1)
        return MQ_EIO;
    EVP_EncodeBlock((unsigned char *)t->accept, md, (int)md_len); /* 28 characters */

    size_t cap = strlen(t->x->ws_path) + strlen(host) + 256;
    t->req = malloc(cap);
    if (!t->req)
        return MQ_ENOMEM;
    snprintf(t->req, cap,
             "GET %s HTTP/1.1\r\n"
             "Host: %s:%u\r\n"
             "Upgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\n"
             "Sec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Protocol: mqtt\r\n"
             "\r\n",
             t->x->ws_path, host, (unsigned)port, key);
    return MQ_OK;
}

struct bench_tp *bench_tp_new(struct bench_tp_ctx *x, const char *host, uint16_t port)
{
    struct bench_tp *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->x = x;
    t->tls_done = true;
    t->hdr_need = 2;
    if (x->kind == BENCH_TP_WS || x->kind == BENCH_TP_WSS) {
        if (tp__build_request(t, host, port) != MQ_OK)
            goto err;
        t->ws = TP_WS_WAIT;
    }
    if (x->kind == BENCH_TP_TLS || x->kind == BENCH_TP_WSS) {
        t->tls_done = false;
        t->ssl = SSL_new(x->ssl_ctx);
        t->rbio = BIO_new(BIO_s_mem());
        t->wbio = BIO_new(BIO_s_mem());
        if (!t->ssl || !t->rbio || !t->wbio) {
            BIO_free(t->rbio);
            BIO_free(t->wbio);
            t->rbio = t->wbio = NULL;
            goto err;
        }
        /* An empty memory BIO says "retry", not end of file. */
        BIO_set_mem_eof_return(t->rbio, -1);
        SSL_set_bio(t->ssl, t->rbio, t->wbio);
        SSL_set_connect_state(t->ssl);
        int r = SSL_do_handshake(t->ssl);
        if (r != 1 && SSL_get_error(t->ssl, r) != SSL_ERROR_WANT_READ)
            goto err;
        if (tp__drain(t) != MQ_OK)
            goto err;
    } else if (t->ws == TP_WS_WAIT && tp__send_request(t) != MQ_OK) {
        goto err;
    }
    return t;

err:
    ERR_clear_error();
    bench_tp_free(t);
    return NULL;
}

void bench_tp_free(struct bench_tp *t)
{
    if (!t)
        return;
    if (t->ssl)
        SSL_free(t->ssl); /* and its BIOs */
    free(t->req);
    free(t->http);
    free(t->frame);
    free(t->wire);
    free(t);
}

bool bench_tp_ready(const struct bench_tp *t)
{
    return t->tls_done && (t->ws == TP_WS_NONE || t->ws == TP_WS_OPEN) && !t->closed &&
           !t->failed && !t->bye;
}

bool bench_tp_closed(const struct bench_tp *t)
{
    return t->closed;
}

const char *bench_tp_why(const struct bench_tp *t)
{
    return t->why;
}

const char *bench_tp_stage(const struct bench_tp *t)
{
    if (!t->tls_done)
        return "TLS handshake";
    if (t->ws == TP_WS_WAIT || t->ws == TP_WS_UPGRADING)
        return "WebSocket upgrade";
    return NULL;
}

const uint8_t *bench_tp_wire(const struct bench_tp *t, size_t *n)
{
    *n = t->wire_len - t->wire_off;
    return t->wire + t->wire_off;
}

void bench_tp_consumed(struct bench_tp *t, size_t n)
{
    t->wire_off += n;
    if (t->wire_off >= t->wire_len)
        t->wire_off = t->wire_len = 0;
}

/* Fails t with a protocol error: what + detail. */
static int tp__proto(struct bench_tp *t, const char *what, const char *detail)
{
    tp__why(t, what, detail);
    t->failed = true;
    return MQ_EPROTOCOL;
}

/* Trims blanks at both ends of s[0..*n); returns the new start. */
static const char *tp__trim(const char *s, size_t *n)
{
    while (*n && (*s == ' ' || *s == '\t')) {
        s++;
        (*n)--;
    }
    while (*n && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
        (*n)--;
    return s;
}

/* True when the comma-separated list v[0..n) holds token (any case). */
static bool tp__has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token);
    while (n) {
        const char *comma = memchr(v, ',', n);
        size_t item = comma ? (size_t)(comma - v) : n;
        size_t il = item;
        const char *s = tp__trim(v, &il);
        if (il == tl && strncasecmp(s, token, tl) == 0)
            return true;
        if (!comma)
            break;
        v += item + 1;
        n -= item + 1;
    }
    return false;
}

/* Checks the whole answer header in t->http (ending with the blank line). */
static int tp__check_answer(struct bench_tp *t)
{
    const char *h = t->http;
    const char *end = h + t->http_len;
    const char *eol = strstr(h, "\r\n");
    bool upgrade = false, connection = false, accept = false, protocol = false;
    char line[96];

    size_t status_len = (size_t)(eol - h);
    snprintf(line, sizeof(line), "%.*s", (int)(status_len < 80 ? status_len : 80), h);
    if (status_len < 12 || strncmp(h, "HTTP/1.1 101", 12) != 0)
        return tp__proto(t, "WebSocket upgrade refused: ", line);
    for (const char *p = eol + 2; p < end;) {
        const char *e = strstr(p, "\r\n");
        if (!e || e == p)
            break;
        const char *colon = memchr(p, ':', (size_t)(e - p));
        if (colon) {
            size_t nl = (size_t)(colon - p);
            size_t vl = (size_t)(e - colon - 1);
            const char *v = tp__trim(colon + 1, &vl);
            if (nl == 7 && strncasecmp(p, "upgrade", 7) == 0)
                upgrade = vl == 9 && strncasecmp(v, "websocket", 9) == 0;
            else if (nl == 10 && strncasecmp(p, "connection", 10) == 0)
                connection = tp__has_token(v, vl, "upgrade");
            else if (nl == 20 && strncasecmp(p, "sec-websocket-accept", 20) == 0)
                accept = vl == strlen(t->accept) && memcmp(v, t->accept, vl) == 0;
            else if (nl == 22 && strncasecmp(p, "sec-websocket-protocol", 22) == 0)
                protocol = vl == 4 && strncasecmp(v, "mqtt", 4) == 0;
        }
        p = e + 2;
    }
    if (!upgrade || !connection)
        return tp__proto(t,
                         "WebSocket upgrade: 101 without Upgrade: websocket and "
                         "Connection: Upgrade",
                         NULL);
    if (!accept)
        return tp__proto(t, "WebSocket upgrade: wrong or missing Sec-WebSocket-Accept", NULL);
    if (!protocol)
        return tp__proto(t, "WebSocket upgrade: the answer does not choose the mqtt protocol",
                         NULL);
    free(t->http);
    t->http = NULL;
    t->http_len = 0;
    t->ws = TP_WS_OPEN;
    return MQ_OK;
}

/* Reads the upgrade answer from buf[0..n); *used says how many of those
 * bytes were the answer's (the rest are frames). */
static int tp__upgrade(struct bench_tp *t, const uint8_t *buf, size_t n, size_t *used)
{
    if (!t->http && !(t->http = malloc(TP_HTTP_MAX + 1)))
        return MQ_ENOMEM;
    size_t old = t->http_len;
    size_t take = n < TP_HTTP_MAX - old ? n : TP_HTTP_MAX - old;
    memcpy(t->http + old, buf, take);
    t->http_len = old + take;
    t->http[t->http_len] = '\0';
    /* The blank line may start in an earlier read: look from 3 bytes back. */
    size_t from = old > 3 ? old - 3 : 0;
    for (size_t i = from; i + 4 <= t->http_len; i++) {
        if (memcmp(t->http + i, "\r\n\r\n", 4) == 0) {
            *used = i + 4 - old;
            t->http_len = i + 4;
            t->http[t->http_len] = '\0';
            return tp__check_answer(t);
        }
    }
    *used = take;
    if (t->http_len >= TP_HTTP_MAX)
        return tp__proto(t, "WebSocket upgrade: no end to the answer's header", NULL);
    return MQ_OK;
}

/* A whole control frame arrived (its payload in t->ctl). */
static int tp__control(struct bench_tp *t)
{
    char code[48];

    switch (t->opcode) {
    case TP_OP_PING:
        return tp__put_frame(t, TP_OP_PONG, t->ctl, t->ctl_len);
    case TP_OP_PONG:
        return MQ_OK;
    case TP_OP_CLOSE:
        if (t->ctl_len >= 2)
            snprintf(code, sizeof(code), "%u", (unsigned)(t->ctl[0] << 8 | t->ctl[1]));
        else
            snprintf(code, sizeof(code), "without a status");
        tp__why(t, "WebSocket close from the broker, ", code);
        t->closed = true;
        t->ws = TP_WS_CLOSED;
        /* The answer: the same status (RFC 6455 5.5.1). */
        return tp__put_frame(t, TP_OP_CLOSE, t->ctl, t->ctl_len >= 2 ? 2 : 0);
    default:
        return MQ_OK;
    }
}

/* The header in t->hdr is complete: checks it and starts the payload. */
static int tp__header(struct bench_tp *t)
{
    uint8_t b0 = t->hdr[0], b1 = t->hdr[1];
    uint8_t op = b0 & 0x0F;
    bool fin = (b0 & 0x80) != 0;
    uint64_t len = b1 & 0x7F;
    char what[32];

    if (len == 126)
        len = (uint64_t)t->hdr[2] << 8 | t->hdr[3];
    else if (len == 127)
        for (int i = 0; i < 8; i++)
            len = (i ? len << 8 : 0) | t->hdr[2 + i];
    if (b0 & 0x70)
        return tp__proto(t, "WebSocket: a frame with reserved bits set", NULL);
    if (b1 & 0x80)
        return tp__proto(t, "WebSocket: a masked frame from the broker", NULL);
    switch (op) {
    case TP_OP_CONT:
        if (!t->fragmented)
            return tp__proto(t, "WebSocket: a continuation frame without a start", NULL);
        t->fragmented = !fin;
        break;
    case TP_OP_BINARY:
        if (t->fragmented)
            return tp__proto(t, "WebSocket: a new message inside a fragmented one", NULL);
        t->fragmented = !fin;
        break;
    case TP_OP_TEXT:
        return tp__proto(t, "WebSocket: a text frame (MQTT travels in binary ones)", NULL);
    case TP_OP_CLOSE:
    case TP_OP_PING:
    case TP_OP_PONG:
        if (!fin || len > TP_CTL_MAX)
            return tp__proto(t, "WebSocket: a fragmented or oversized control frame", NULL);
        break;
    default:
        snprintf(what, sizeof(what), "0x%x", (unsigned)op);
        return tp__proto(t, "WebSocket: unknown opcode ", what);
    }
    t->opcode = op;
    t->left = len;
    t->ctl_len = 0;
    t->in_payload = true;
    t->hdr_len = 0;
    t->hdr_need = 2;
    return MQ_OK;
}

/* Bytes of a frame header whose second byte is b1: 2, the extended length
 * (2 or 8) and the mask (4, which only a client may send). */
static uint8_t tp__header_size(uint8_t b1)
{
    uint8_t len7 = b1 & 0x7F;
    uint8_t n = 2;

    if (len7 == 126)
        n += 2;
    else if (len7 == 127)
        n += 8;
    if (b1 & 0x80)
        n += 4;
    return n;
}

/* Parses frames from in[0..n) and writes their data payload to out, which
 * may be in (out <= in: payloads only move down). *out_len: bytes written. */
static int tp__frames(struct bench_tp *t, uint8_t *out, const uint8_t *in, size_t n,
                      size_t *out_len)
{
    size_t i = 0, o = 0;
    int rc = MQ_OK;

    while (i < n && t->ws == TP_WS_OPEN) {
        if (!t->in_payload) {
            t->hdr[t->hdr_len++] = in[i++];
            if (t->hdr_len == 2)
                t->hdr_need = tp__header_size(t->hdr[1]);
            if (t->hdr_len < t->hdr_need)
                continue;
            if ((rc = tp__header(t)) != MQ_OK)
                break;
        } else {
            size_t k = n - i < t->left ? n - i : (size_t)t->left;
            if (t->opcode & 0x8) {
                memcpy(t->ctl + t->ctl_len, in + i, k);
                t->ctl_len = (uint8_t)(t->ctl_len + k);
            } else {
                memmove(out + o, in + i, k);
                o += k;
            }
            i += k;
            t->left -= k;
        }
        if (t->in_payload && t->left == 0) {
            t->in_payload = false;
            if ((t->opcode & 0x8) && (rc = tp__control(t)) != MQ_OK)
                break;
        }
    }
    *out_len = o;
    return rc;
}

/* TLS: buf[0..n) ciphertext in, plaintext out into buf (cap bytes). */
static int tp__tls_input(struct bench_tp *t, uint8_t *buf, size_t n, size_t cap, size_t *out_len)
{
    size_t o = 0;
    int rc = MQ_OK;

    *out_len = 0;
    if (n && BIO_write(t->rbio, buf, (int)n) != (int)n)
        return MQ_ENOMEM;
    if (!t->tls_done) {
        int r = SSL_do_handshake(t->ssl);
        if (r != 1) {
            int e = SSL_get_error(t->ssl, r);
            if (e == SSL_ERROR_WANT_READ)
                return tp__drain(t);
            tp__drain(t); /* the alert, if any, goes out before the close */
            return tp__ssl_fail(t, "TLS handshake: ");
        }
        t->tls_done = true;
        if (!t->x->negotiated[0])
            snprintf(t->x->negotiated, sizeof(t->x->negotiated), "%s %s", SSL_get_version(t->ssl),
                     SSL_get_cipher_name(t->ssl));
        if (t->ws == TP_WS_WAIT && (rc = tp__send_request(t)) != MQ_OK)
            return rc;
    }
    while (o < cap) {
        size_t room = cap - o;
        int r = SSL_read(t->ssl, buf + o, room > (1u << 30) ? (1 << 30) : (int)room);
        if (r > 0) {
            o += (size_t)r;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            tp__why(t, "TLS close_notify from the broker", NULL);
            t->closed = true;
            break;
        }
        return tp__ssl_fail(t, "TLS read: ");
    }
    *out_len = o;
    return tp__drain(t);
}

int bench_tp_input(struct bench_tp *t, uint8_t *buf, size_t n, size_t cap, size_t *out_len)
{
    size_t len = n;
    int rc;

    *out_len = 0;
    if (t->failed)
        return MQ_EPROTOCOL;
    if (t->ssl) {
        if ((rc = tp__tls_input(t, buf, n, cap, &len)) != MQ_OK) {
            t->failed = true;
            return rc;
        }
    }
    if (t->ws == TP_WS_NONE) {
        *out_len = len;
        return MQ_OK;
    }
    size_t off = 0;
    if (t->ws == TP_WS_UPGRADING && len) {
        if ((rc = tp__upgrade(t, buf, len, &off)) != MQ_OK) {
            t->failed = true;
            return rc;
        }
    }
    if (t->ws != TP_WS_OPEN || off == len)
        return MQ_OK;
    if ((rc = tp__frames(t, buf, buf + off, len - off, out_len)) != MQ_OK)
        t->failed = true;
    return rc;
}

int bench_tp_output(struct bench_tp *t, const uint8_t *data, size_t n)
{
    if (t->ws == TP_WS_NONE)
        return tp__tls_write(t, data, n);
    while (n > 0) {
        size_t k = n < BENCH_TP_FRAME_MAX ? n : BENCH_TP_FRAME_MAX;
        int rc = tp__put_frame(t, TP_OP_BINARY, data, k);
        if (rc != MQ_OK)
            return rc;
        data += k;
        n -= k;
    }
    return MQ_OK;
}

void bench_tp_goodbye(struct bench_tp *t)
{
    static const uint8_t normal[2] = {1000 >> 8, 1000 & 0xFF};

    if (t->bye || t->failed)
        return;
    t->bye = true;
    if (t->ws == TP_WS_OPEN) {
        t->ws = TP_WS_CLOSED;
        if (tp__put_frame(t, TP_OP_CLOSE, normal, sizeof(normal)) != MQ_OK)
            return;
    }
    if (t->ssl && t->tls_done) {
        SSL_shutdown(t->ssl); /* queues close_notify; the answer is not awaited */
        ERR_clear_error();
        tp__drain(t);
    }
}
