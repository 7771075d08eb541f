/*
 * ws.c - the WebSocket link layer, server side (see ws.h and the section
 * "WebSocket (RFC 6455)" of doc/transports.md).
 *
 * Two phases. First the HTTP upgrade, which is ours: the request is
 * gathered (at most WS_MAX_HANDSHAKE bytes, its blank line included),
 * parsed line by line with bounded spans (never strlen on request bytes),
 * and answered with 101 or a plain HTTP refusal:
 *
 *   400  malformed request or header line, folded header, not HTTP/1.1,
 *        repeated Sec-WebSocket-Key/-Version or Origin, no Upgrade:
 *        websocket, no Connection: Upgrade, no Sec-WebSocket-Version, a
 *        Sec-WebSocket-Key that is not 16 bytes of base64, no mqtt or
 *        mqttv3.1 in Sec-WebSocket-Protocol
 *   403  ws.origins set and the Origin given is not in it
 *   404  the path (before any query string) is not ws.path
 *   405  not GET
 *   426  Sec-WebSocket-Version not 13
 *   431  no blank line within WS_MAX_HANDSHAKE bytes
 *
 * Then the frames, which are wslay's (event API, no buffering): the
 * payload of binary frames and their continuations goes up as it arrives;
 * what is written goes down as one binary frame per MQTT packet. wslay answers pings, checks
 * masking, reserved bits, opcodes, fragmentation and ws.max_frame_bytes,
 * and answers a close frame; a text frame is ours to refuse (1003). When
 * wslay stops reading, the close frame it queued is serialized at once into
 * the bytes owed, so that finished() can name the status sent.
 *
 * This file does not read or write sockets, and keeps no MQTT message:
 * what goes up is whatever part of the stream the frames carried; what
 * comes down is only cut at its packets' boundaries.
 */
#include "ws.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <wslay/wslay.h>

#include "config.h"
#include "errors.h"
#include "mqtt_codec.h"

#define WS_GUID      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 section 1.3 */
#define WS_KEY_CHARS 24 /* base64 of the key's 16 bytes, "==" included */

/* Refusals of the upgrade: index into ws_refusals (0 is none). */
enum ws_verdict {
    WS_ACCEPT,
    WS_BAD_REQUEST_LINE,
    WS_BAD_HEADER,
    WS_FOLDED,
    WS_REPEATED,
    WS_NOT_HTTP11,
    WS_NOT_GET,
    WS_WRONG_PATH,
    WS_NO_UPGRADE,
    WS_NO_CONNECTION,
    WS_NO_VERSION,
    WS_BAD_VERSION,
    WS_BAD_KEY,
    WS_BAD_ORIGIN,
    WS_NO_MQTT,
    WS_TOO_LARGE,
};

struct ws_refusal {
    int status;
    const char *phrase; /* the status line's reason phrase */
    const char *why;    /* the answer's body and finished()'s reason */
    const char *extra;  /* header lines added to the answer, each ending in CRLF */
};

static const struct ws_refusal ws_refusals[] = {
    [WS_BAD_REQUEST_LINE] = {400, "Bad Request", "malformed request line", ""},
    [WS_BAD_HEADER] = {400, "Bad Request", "malformed header line", ""},
    [WS_FOLDED] = {400, "Bad Request", "folded header line", ""},
    [WS_REPEATED] = {400, "Bad Request", "repeated header", ""},
    [WS_NOT_HTTP11] = {400, "Bad Request", "not HTTP/1.1", ""},
    [WS_NOT_GET] = {405, "Method Not Allowed", "method not GET", "Allow: GET\r\n"},
    [WS_WRONG_PATH] = {404, "Not Found", "path not ws.path", ""},
    [WS_NO_UPGRADE] = {400, "Bad Request", "no Upgrade: websocket", ""},
    [WS_NO_CONNECTION] = {400, "Bad Request", "no Connection: Upgrade", ""},
    [WS_NO_VERSION] = {400, "Bad Request", "no Sec-WebSocket-Version", ""},
    [WS_BAD_VERSION] = {426, "Upgrade Required", "Sec-WebSocket-Version not 13",
                        "Sec-WebSocket-Version: 13\r\n"},
    [WS_BAD_KEY] = {400, "Bad Request", "missing or malformed Sec-WebSocket-Key", ""},
    [WS_BAD_ORIGIN] = {403, "Forbidden", "Origin not in ws.origins", ""},
    [WS_NO_MQTT] = {400, "Bad Request", "no mqtt subprotocol offered", ""},
    [WS_TOO_LARGE] = {431, "Request Header Fields Too Large", "request over 8 KiB", ""},
};

/* Bytes of the request buffer: not NUL-terminated. p is NULL when absent. */
struct ws_span {
    const char *p;
    size_t n;
};

/* Subprotocols offered, as bits. */
#define WS_OFFERS_MQTT   1u /* "mqtt" (MQTT 3.1.1 and 5) */
#define WS_OFFERS_MQTT31 2u /* "mqttv3.1", the older name */

/* What the checks need of a request; spans point into the request buffer. */
struct ws_request {
    struct ws_span method, target, version; /* the request line's three parts */
    struct ws_span key, ws_version, origin; /* headers that may appear once */
    bool upgrade;                           /* Upgrade lists websocket */
    bool connection;                        /* Connection lists upgrade */
    unsigned offers;                        /* WS_OFFERS_* */
};

struct ws_layer {
    const struct config *cfg;
    wslay_event_context_ptr ctx; /* NULL until the upgrade is accepted */
    struct bytebuf req;          /* the request so far, at most WS_MAX_HANDSHAKE bytes;
                                    freed once it is answered */
    struct bytebuf owed;         /* bytes for the peer ahead of anything else: the
                                    upgrade's answer, then a close frame serialized
                                    when reading stopped; freed when written */
    /* Valid only during wslay_event_recv / wslay_event_send calls. */
    const uint8_t *in;    /* the rest of read()'s input, in_len bytes */
    size_t in_len;        /* bytes at in */
    struct bytebuf *up;   /* read()'s output */
    struct bytebuf *down; /* where sent frames go */
    bool data_frame;      /* the frame being received is binary or a continuation
                             (of a binary message: text ones are refused) */
    bool nomem;           /* a wslay callback ran out of memory */
    char reason[96];      /* why the layer finished, or "" while it has not */
};

void *ws_layer_new(const struct config *cfg)
{
    struct ws_layer *l = calloc(1, sizeof(*l));
    if (l)
        l->cfg = cfg;
    return l;
}

static void ws_free(void *layer)
{
    struct ws_layer *l = layer;
    if (!l)
        return;
    wslay_event_context_free(l->ctx);
    bytebuf_free(&l->req);
    bytebuf_free(&l->owed);
    free(l);
}

/* Records why the layer finished; the first reason stays. */
static void ws__finish(struct ws_layer *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void ws__finish(struct ws_layer *l, const char *fmt, ...)
{
    if (l->reason[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->reason, sizeof(l->reason), fmt, ap);
    va_end(ap);
}

/* ---- Accept key ---------------------------------------------------------- */

void ws_accept_key(const char *key, size_t key_len, char out[29])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c && EVP_DigestInit_ex(c, EVP_sha1(), NULL) && EVP_DigestUpdate(c, key, key_len) &&
              EVP_DigestUpdate(c, WS_GUID, sizeof(WS_GUID) - 1) &&
              EVP_DigestFinal_ex(c, md, &md_len) && md_len == 20;
    EVP_MD_CTX_free(c);
    out[0] = '\0';
    if (ok)
        EVP_EncodeBlock((unsigned char *)out, md, 20);
}

/* ---- Request parsing ----------------------------------------------------- */

static char ws__lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s equals the NUL-terminated z, ignoring ASCII case when fold. */
static bool ws__span_is(struct ws_span s, const char *z, bool fold)
{
    size_t i = 0;
    for (; i < s.n && z[i]; i++) {
        if (fold ? ws__lower(s.p[i]) != ws__lower(z[i]) : s.p[i] != z[i])
            return false;
    }
    return i == s.n && z[i] == '\0';
}

static bool ws__is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* s without the spaces and tabs at either end. */
static struct ws_span ws__trim(struct ws_span s)
{
    while (s.n > 0 && ws__is_ows(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && ws__is_ows(s.p[s.n - 1]))
        s.n--;
    return s;
}

/* The comma-separated list s has an element equal to z. */
static bool ws__list_has(struct ws_span s, const char *z, bool fold)
{
    while (s.n > 0) {
        const char *comma = memchr(s.p, ',', s.n);
        size_t n = comma ? (size_t)(comma - s.p) : s.n;
        if (ws__span_is(ws__trim((struct ws_span){s.p, n}), z, fold))
            return true;
        s.p += comma ? n + 1 : n;
        s.n -= comma ? n + 1 : n;
    }
    return false;
}

/* A character of an HTTP token (RFC 7230 section 3.2.6). */
static bool ws__is_tchar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* A control character other than tab: never in a header line. */
static bool ws__is_ctl(char c)
{
    return ((unsigned char)c < 0x20 && c != '\t') || c == 0x7f;
}

/* Splits off the first part of *s up to a space; false when there is no
 * space or the part is empty. */
static bool ws__split_sp(struct ws_span *s, struct ws_span *part)
{
    const char *sp = memchr(s->p, ' ', s->n);
    if (!sp || sp == s->p)
        return false;
    *part = (struct ws_span){s->p, (size_t)(sp - s->p)};
    s->n -= part->n + 1;
    s->p = sp + 1;
    return true;
}

/* "GET /mqtt?x HTTP/1.1": exactly two single spaces between three parts,
 * a token for a method and no control characters. */
static enum ws_verdict ws__request_line(struct ws_span line, struct ws_request *r)
{
    for (size_t i = 0; i < line.n; i++) {
        if (ws__is_ctl(line.p[i]) || line.p[i] == '\t')
            return WS_BAD_REQUEST_LINE;
    }
    if (!ws__split_sp(&line, &r->method) || !ws__split_sp(&line, &r->target) || line.n == 0 ||
        memchr(line.p, ' ', line.n))
        return WS_BAD_REQUEST_LINE;
    for (size_t i = 0; i < r->method.n; i++) {
        if (!ws__is_tchar(r->method.p[i]))
            return WS_BAD_REQUEST_LINE;
    }
    r->version = line;
    return WS_ACCEPT;
}

/* Keeps the value of a header that may appear only once. */
static enum ws_verdict ws__once(struct ws_span *slot, struct ws_span value)
{
    if (slot->p)
        return WS_REPEATED;
    *slot = value;
    return WS_ACCEPT;
}

/* Takes one header line ("Name: value"). */
static enum ws_verdict ws__header(struct ws_span line, struct ws_request *r)
{
    if (ws__is_ows(line.p[0]))
        return WS_FOLDED;
    const char *colon = memchr(line.p, ':', line.n);
    if (!colon || colon == line.p)
        return WS_BAD_HEADER;
    struct ws_span name = {line.p, (size_t)(colon - line.p)};
    struct ws_span value = {colon + 1, line.n - name.n - 1};
    for (size_t i = 0; i < name.n; i++) {
        if (!ws__is_tchar(name.p[i]))
            return WS_BAD_HEADER;
    }
    for (size_t i = 0; i < value.n; i++) {
        if (ws__is_ctl(value.p[i]))
            return WS_BAD_HEADER;
    }
    value = ws__trim(value);
    if (ws__span_is(name, "upgrade", true))
        r->upgrade |= ws__list_has(value, "websocket", true);
    else if (ws__span_is(name, "connection", true))
        r->connection |= ws__list_has(value, "upgrade", true);
    else if (ws__span_is(name, "sec-websocket-protocol", true))
        r->offers |= (ws__list_has(value, "mqtt", false) ? WS_OFFERS_MQTT : 0) |
                     (ws__list_has(value, "mqttv3.1", false) ? WS_OFFERS_MQTT31 : 0);
    else if (ws__span_is(name, "sec-websocket-key", true))
        return ws__once(&r->key, value);
    else if (ws__span_is(name, "sec-websocket-version", true))
        return ws__once(&r->ws_version, value);
    else if (ws__span_is(name, "origin", true))
        return ws__once(&r->origin, value);
    return WS_ACCEPT;
}

/* The line of [*pos, end) up to its CRLF (end must follow a CRLF); *pos
 * moves past the CRLF. */
static struct ws_span ws__next_line(const char **pos, const char *end)
{
    const char *eol = memmem(*pos, (size_t)(end - *pos), "\r\n", 2);
    struct ws_span line = {*pos, (size_t)(eol - *pos)};
    *pos = eol + 2;
    return line;
}

/* Parses the request z[0..n), which ends with its blank line. */
static enum ws_verdict ws__parse(const char *z, size_t n, struct ws_request *r)
{
    const char *pos = z, *end = z + n;
    enum ws_verdict v = ws__request_line(ws__next_line(&pos, end), r);
    while (v == WS_ACCEPT) {
        struct ws_span line = ws__next_line(&pos, end);
        if (line.n == 0)
            break;
        v = ws__header(line, r);
    }
    return v;
}

/* 24 characters of base64 ending in "==": 16 bytes. */
static bool ws__key_ok(struct ws_span key)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (key.n != WS_KEY_CHARS || key.p[22] != '=' || key.p[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++) {
        if (key.p[i] == '\0' || !strchr(alphabet, key.p[i]))
            return false;
    }
    return true;
}

/* origin is allowed by the space-separated list (NULL, empty or "*" among
 * them: any); a request without Origin is always allowed. */
static bool ws__origin_ok(const char *list, struct ws_span origin)
{
    if (!list || !origin.p)
        return true;
    bool listed_any = false;
    for (const char *z = list; *z;) {
        size_t n = strcspn(z, " \t");
        if (n > 0) {
            struct ws_span entry = {z, n};
            if (ws__span_is(entry, "*", false) || (n == origin.n && memcmp(z, origin.p, n) == 0))
                return true;
            listed_any = true;
        }
        z += n + (z[n] != '\0');
    }
    return !listed_any;
}

/* The request's path, without its query string, is ws.path. */
static bool ws__path_ok(const char *path, struct ws_span target)
{
    const char *query = memchr(target.p, '?', target.n);
    size_t n = query ? (size_t)(query - target.p) : target.n;
    return strlen(path) == n && memcmp(path, target.p, n) == 0;
}

/* Checks a parsed request against RFC 6455 and the configuration. */
static enum ws_verdict ws__check(const struct ws_request *r, const struct config *cfg)
{
    if (!ws__span_is(r->version, "HTTP/1.1", false))
        return WS_NOT_HTTP11;
    if (!ws__span_is(r->method, "GET", false))
        return WS_NOT_GET;
    if (!ws__path_ok(cfg->ws_path, r->target))
        return WS_WRONG_PATH;
    if (!r->upgrade)
        return WS_NO_UPGRADE;
    if (!r->connection)
        return WS_NO_CONNECTION;
    if (!r->ws_version.p)
        return WS_NO_VERSION;
    if (!ws__span_is(r->ws_version, "13", false))
        return WS_BAD_VERSION;
    if (!r->key.p || !ws__key_ok(r->key))
        return WS_BAD_KEY;
    if (!ws__origin_ok(cfg->ws_origins, r->origin))
        return WS_BAD_ORIGIN;
    if (!r->offers)
        return WS_NO_MQTT;
    return WS_ACCEPT;
}

/* ---- Answers ------------------------------------------------------------- */

/* Puts the refusal's HTTP answer in owed; the layer is finished. */
static int ws__refuse(struct ws_layer *l, enum ws_verdict v)
{
    const struct ws_refusal *f = &ws_refusals[v];
    char answer[384];
    int n = snprintf(answer, sizeof(answer),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n%s\r\n%s\n",
                     f->status, f->phrase, strlen(f->why) + 1, f->extra, f->why);
    bytebuf_free(&l->req);
    ws__finish(l, "websocket upgrade refused: %d %s", f->status, f->why);
    return bytebuf_append(&l->owed, answer, (size_t)n);
}

static ssize_t ws__recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                           void *user);
static ssize_t ws__send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                           void *user);
static void ws__frame_start_cb(wslay_event_context_ptr ctx,
                               const struct wslay_event_on_frame_recv_start_arg *arg, void *user);
static void ws__frame_chunk_cb(wslay_event_context_ptr ctx,
                               const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user);

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws__recv_cb,
    .send_callback = ws__send_cb,
    .on_frame_recv_start_callback = ws__frame_start_cb,
    .on_frame_recv_chunk_callback = ws__frame_chunk_cb,
};

/* Puts the 101 answer in owed and starts framing. MQ_OK or MQ_ENOMEM. */
static int ws__accept(struct ws_layer *l, const struct ws_request *r)
{
    char accept[29], answer[192];
    ws_accept_key(r->key.p, r->key.n, accept);
    if (accept[0] == '\0')
        return MQ_ENOMEM;
    int n = snprintf(answer, sizeof(answer),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                     "Sec-WebSocket-Protocol: %s\r\n\r\n",
                     accept, (r->offers & WS_OFFERS_MQTT) ? "mqtt" : "mqttv3.1");
    wslay_event_context_ptr ctx;
    if (wslay_event_context_server_init(&ctx, &ws_callbacks, l) != 0)
        return MQ_ENOMEM;
    if (bytebuf_append(&l->owed, answer, (size_t)n) != MQ_OK) {
        wslay_event_context_free(ctx);
        return MQ_ENOMEM;
    }
    wslay_event_config_set_no_buffering(ctx, 1);
    wslay_event_config_set_max_recv_msg_length(ctx, l->cfg->ws_max_frame);
    l->ctx = ctx;
    bytebuf_free(&l->req);
    return MQ_OK;
}

/*
 * Adds in[0..len) to the request. Once its blank line is there, answers it;
 * *used is how many bytes of in belonged to the request (the rest are
 * frames). MQ_OK or MQ_ENOMEM.
 */
static int ws__handshake(struct ws_layer *l, const uint8_t *in, size_t len, size_t *used)
{
    size_t old = l->req.len;
    size_t take = len < WS_MAX_HANDSHAKE - old ? len : WS_MAX_HANDSHAKE - old;
    /* A request starts with a method (upper-case letters, as every method
     * in use): anything else, a TLS hello or an MQTT CONNECT sent to the
     * wrong port, is refused now rather than after the handshake timeout. */
    if (old == 0 && take > 0 && !(in[0] >= 'A' && in[0] <= 'Z')) {
        *used = len;
        return ws__refuse(l, WS_BAD_REQUEST_LINE);
    }
    if (bytebuf_append(&l->req, in, take) != MQ_OK)
        return MQ_ENOMEM;
    size_t from = old > 3 ? old - 3 : 0;
    const uint8_t *blank = memmem(l->req.data + from, l->req.len - from, "\r\n\r\n", 4);
    *used = len;
    if (!blank)
        return l->req.len < WS_MAX_HANDSHAKE ? MQ_OK : ws__refuse(l, WS_TOO_LARGE);
    size_t n = (size_t)(blank - l->req.data) + 4;
    *used = n - old;
    struct ws_request r = {0};
    enum ws_verdict v = ws__parse((const char *)l->req.data, n, &r);
    if (v == WS_ACCEPT)
        v = ws__check(&r, l->cfg);
    return v == WS_ACCEPT ? ws__accept(l, &r) : ws__refuse(l, v);
}

/* ---- Frames -------------------------------------------------------------- */

static ssize_t ws__recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                           void *user)
{
    struct ws_layer *l = user;
    size_t n = len < l->in_len ? len : l->in_len;
    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    memcpy(buf, l->in, n);
    l->in += n;
    l->in_len -= n;
    return (ssize_t)n;
}

static ssize_t ws__send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                           void *user)
{
    struct ws_layer *l = user;
    if (bytebuf_append(l->down, data, len) != MQ_OK) {
        l->nomem = true;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static void ws__frame_start_cb(wslay_event_context_ptr ctx,
                               const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
    struct ws_layer *l = user;
    /* wslay lets a continuation through only inside a message, and the only
     * message that gets that far is binary. */
    l->data_frame = arg->opcode == WSLAY_BINARY_FRAME || arg->opcode == WSLAY_CONTINUATION_FRAME;
    if (arg->opcode == WSLAY_TEXT_FRAME) {
        if (wslay_event_queue_close(ctx, WSLAY_CODE_UNSUPPORTED_DATA, NULL, 0) == WSLAY_ERR_NOMEM)
            l->nomem = true;
        wslay_event_shutdown_read(ctx);
    }
}

static void ws__frame_chunk_cb(wslay_event_context_ptr ctx,
                               const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
    struct ws_layer *l = user;
    if (!l->data_frame || l->nomem)
        return;
    if (bytebuf_append(l->up, arg->data, arg->data_length) != MQ_OK) {
        l->nomem = true;
        wslay_event_shutdown_read(ctx);
    }
}

/* Sends what wslay has queued into to. MQ_OK or MQ_ENOMEM. */
static int ws__send(struct ws_layer *l, struct bytebuf *to)
{
    l->down = to;
    int rc = wslay_event_send(l->ctx);
    l->down = NULL;
    return rc == 0 && !l->nomem ? MQ_OK : MQ_ENOMEM;
}

/* wslay stopped reading (a close frame came, or a bad frame): its close
 * frame goes into owed now, and the layer is finished. */
static int ws__stopped(struct ws_layer *l)
{
    int rc = ws__send(l, &l->owed);
    unsigned sent = wslay_event_get_status_code_sent(l->ctx);
    if (wslay_event_get_close_received(l->ctx))
        ws__finish(l, "websocket: close received (%u)",
                   (unsigned)wslay_event_get_status_code_received(l->ctx));
    else if (sent == WSLAY_CODE_UNSUPPORTED_DATA)
        ws__finish(l, "websocket: text frame (1003)");
    else if (sent == WSLAY_CODE_MESSAGE_TOO_BIG)
        ws__finish(l, "websocket: frame over ws.max_frame_bytes (1009)");
    else if (sent == WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA)
        ws__finish(l, "websocket: invalid UTF-8 in a close frame (1007)");
    else if (sent == WSLAY_CODE_PROTOCOL_ERROR)
        ws__finish(l, "websocket: protocol error (1002)");
    else
        ws__finish(l, "websocket: protocol error");
    return rc;
}

/* Hands frame bytes to wslay; binary payload goes to up. */
static int ws__frames(struct ws_layer *l, const uint8_t *in, size_t len, struct bytebuf *up)
{
    l->in = in;
    l->in_len = len;
    l->up = up;
    int rc = wslay_event_recv(l->ctx);
    l->in = NULL;
    l->in_len = 0;
    l->up = NULL;
    if (l->nomem || rc == WSLAY_ERR_NOMEM)
        return MQ_ENOMEM;
    if (!wslay_event_get_read_enabled(l->ctx))
        return ws__stopped(l);
    return MQ_OK;
}

/* ---- The layer's operations ---------------------------------------------- */

static int ws_read(void *layer, const uint8_t *in, size_t len, struct bytebuf *up)
{
    struct ws_layer *l = layer;
    if (l->reason[0])
        return MQ_OK;
    if (len == 0)
        return MQ_OK;
    if (!l->ctx) {
        size_t used = 0;
        int rc = ws__handshake(l, in, len, &used);
        if (rc != MQ_OK || !l->ctx)
            return rc;
        in += used;
        len -= used;
    }
    return ws__frames(l, in, len, up);
}

/* Moves the bytes owed into down. */
static int ws__pay(struct ws_layer *l, struct bytebuf *down)
{
    if (bytebuf_append(down, l->owed.data, l->owed.len) != MQ_OK)
        return MQ_ENOMEM;
    bytebuf_free(&l->owed);
    return MQ_OK;
}

/*
 * Queues in[0..len), whole MQTT packets, as one binary frame per packet.
 * MQTT allows several packets in a frame, but Paho MQTT C (1.3) takes only
 * the first packet of a frame and leaves the rest until its socket is
 * readable again (a keepalive later, at worst); Mosquitto and EMQX send
 * one packet per frame too. Bytes that do not frame as MQTT go as one frame.
 */
static int ws__queue_packets(struct ws_layer *l, const uint8_t *in, size_t len)
{
    while (len > 0) {
        struct mqtt_frame f;
        size_t n = mqtt_frame(in, len, 0, &f) == MQ_OK ? f.total_len : len;
        struct wslay_event_msg msg = {WSLAY_BINARY_FRAME, in, n};
        if (wslay_event_queue_msg(l->ctx, &msg) == WSLAY_ERR_NOMEM)
            return MQ_ENOMEM;
        in += n;
        len -= n;
    }
    return MQ_OK;
}

static int ws_write(void *layer, const uint8_t *in, size_t len, struct bytebuf *down)
{
    struct ws_layer *l = layer;
    if (ws__pay(l, down) != MQ_OK)
        return MQ_ENOMEM;
    if (!l->ctx)
        return MQ_OK;
    if (len > 0 && !l->reason[0] && ws__queue_packets(l, in, len) != MQ_OK)
        return MQ_ENOMEM;
    return ws__send(l, down);
}

static int ws_goodbye(void *layer, enum link_bye why, struct bytebuf *down)
{
    struct ws_layer *l = layer;
    if (!l->ctx || l->reason[0])
        return MQ_OK;
    uint16_t code = why == LINK_BYE_SHUTDOWN ? WSLAY_CODE_GOING_AWAY : WSLAY_CODE_NORMAL_CLOSURE;
    if (ws__pay(l, down) != MQ_OK)
        return MQ_ENOMEM;
    int r = wslay_event_queue_close(l->ctx, code, NULL, 0);
    if (r != 0) /* WSLAY_ERR_NOMEM, or writing failed before: no close */
        return r == WSLAY_ERR_NOMEM ? MQ_ENOMEM : MQ_OK;
    ws__finish(l, "websocket: close sent (%u)", (unsigned)code);
    return ws__send(l, down);
}

static bool ws_open(const void *layer)
{
    const struct ws_layer *l = layer;
    return l->ctx != NULL;
}

static size_t ws_owes(const void *layer)
{
    const struct ws_layer *l = layer;
    size_t n = l->owed.len;
    if (l->ctx && wslay_event_want_write(l->ctx)) /* a frame header each, at most 14 bytes */
        n += wslay_event_get_queued_msg_length(l->ctx) +
             14 * (wslay_event_get_queued_msg_count(l->ctx) + 1);
    return n;
}

static const char *ws_finished(const void *layer)
{
    const struct ws_layer *l = layer;
    return l->reason[0] ? l->reason : NULL;
}

const struct link_layer_ops ws_layer_ops = {
    .name = "ws",
    .read = ws_read,
    .write = ws_write,
    .goodbye = ws_goodbye,
    .open = ws_open,
    .owes = ws_owes,
    .finished = ws_finished,
    .free = ws_free,
};
