/*
 * test_ws.c - the WebSocket link layer (broker/ws.c): the accept key, the
 * HTTP upgrade and its refusals, frames up (binary, fragmented, control
 * frames between fragments, protocol errors and their close codes), frames
 * down (length encodings), the close handshake both ways, bytes arriving
 * one at a time, mutated requests and random frame bytes, and failed
 * allocations.
 *
 * Client frames are built here, masked as a browser masks them; what the
 * layer writes is parsed here to check statuses and frames. ws.c is
 * included so that its bytebuf_append and calloc can be made to fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bytebuf.h"
#include "errors.h"

/* Allocations through ws.c's own calls left before one fails; negative:
 * none fails. */
static long fail_countdown = -1;

/* The next allocation fails: once, when the countdown reaches 0 (it is
 * negative afterwards). */
static bool fault_now(void)
{
    if (fail_countdown < 0)
        return false;
    return fail_countdown-- == 0;
}

static int fault_bytebuf_append(struct bytebuf *b, const void *p, size_t n)
{
    return fault_now() ? MQ_ENOMEM : bytebuf_append(b, p, n);
}

static void *fault_calloc(size_t n, size_t size)
{
    return fault_now() ? NULL : calloc(n, size);
}

#define bytebuf_append fault_bytebuf_append
#define calloc         fault_calloc
#include "ws.c"
#undef bytebuf_append
#undef calloc

#include "config.h"

/* ---- Requests ------------------------------------------------------------ */

#define KEY      "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT   "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 section 1.3 */
#define RL       "GET /mqtt HTTP/1.1\r\n"
#define H_HOST   "Host: broker.example:8083\r\n"
#define H_UP     "Upgrade: websocket\r\n"
#define H_CONN   "Connection: Upgrade\r\n"
#define H_KEY    "Sec-WebSocket-Key: " KEY "\r\n"
#define H_VER    "Sec-WebSocket-Version: 13\r\n"
#define H_PROTO  "Sec-WebSocket-Protocol: mqtt\r\n"
#define GOOD_HDR H_HOST H_UP H_CONN H_KEY H_VER H_PROTO
#define GOOD     RL GOOD_HDR "\r\n"

#define ANSWER(proto)                                                                              \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"            \
    "Sec-WebSocket-Accept: " ACCEPT "\r\nSec-WebSocket-Protocol: " proto "\r\n\r\n"

/* ---- Fixture ------------------------------------------------------------- */

struct fx {
    struct config cfg;
    void *ws;
    struct bytebuf up;   /* what read() passed up */
    struct bytebuf down; /* what write() / goodbye() put on the wire */
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(config_defaults(&f->cfg), MQ_OK);
    f->ws = ws_layer_new(&f->cfg);
    assert_non_null(f->ws);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    ws_layer_ops.free(f->ws);
    config_free(&f->cfg);
    bytebuf_free(&f->up);
    bytebuf_free(&f->down);
    free(f);
    return 0;
}

static void fx_set(struct fx *f, const char *key, const char *value)
{
    char err[256];
    if (config_set(&f->cfg, key, value, "test", err, sizeof(err)) != MQ_OK)
        fail_msg("%s=%s: %s", key, value, err);
}

static void feed(struct fx *f, const void *p, size_t n)
{
    assert_int_equal(ws_layer_ops.read(f->ws, p, n, &f->up), MQ_OK);
}

static void feed_str(struct fx *f, const char *z)
{
    feed(f, z, strlen(z));
}

/* Feeds one byte per read. */
static void feed_bytes(struct fx *f, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        feed(f, (const uint8_t *)p + i, 1);
}

/* Empties down and writes what the layer owes into it. */
static void flush_owed(struct fx *f)
{
    f->down.len = 0;
    assert_int_equal(ws_layer_ops.write(f->ws, NULL, 0, &f->down), MQ_OK);
    assert_false(ws_layer_ops.owes(f->ws));
}

static bool down_is(const struct fx *f, const char *z)
{
    return f->down.len == strlen(z) && memcmp(f->down.data, z, f->down.len) == 0;
}

static bool up_is(const struct fx *f, const void *p, size_t n)
{
    return f->up.len == n && (n == 0 || memcmp(f->up.data, p, n) == 0);
}

/* Feeds GOOD and checks the 101 answer. */
static void upgrade(struct fx *f)
{
    feed_str(f, GOOD);
    assert_true(ws_layer_ops.open(f->ws));
    assert_true(ws_layer_ops.owes(f->ws));
    flush_owed(f);
    assert_true(down_is(f, ANSWER("mqtt")));
    assert_null(ws_layer_ops.finished(f->ws));
    f->down.len = 0;
}

/* ---- Frames -------------------------------------------------------------- */

#define FIN    0x80
#define OP_CON 0x0
#define OP_TXT 0x1
#define OP_BIN 0x2
#define OP_CLS 0x8
#define OP_PNG 0x9
#define OP_PON 0xa

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends a client frame: first byte b0 (FIN, RSV bits, opcode), payload
 * p[0..n), masked unless told otherwise. */
static void put_frame(struct bytebuf *b, uint8_t b0, const void *p, size_t n, bool masked)
{
    uint8_t h[14];
    size_t hn = 0;
    uint8_t m = masked ? 0x80 : 0;
    h[hn++] = b0;
    if (n < 126) {
        h[hn++] = m | (uint8_t)n;
    } else if (n < 65536) {
        h[hn++] = m | 126;
        h[hn++] = (uint8_t)(n >> 8);
        h[hn++] = (uint8_t)n;
    } else {
        h[hn++] = m | 127;
        for (int i = 7; i >= 0; i--)
            h[hn++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    if (masked) {
        memcpy(h + hn, mask_key, 4);
        hn += 4;
    }
    assert_int_equal(bytebuf_append(b, h, hn), MQ_OK);
    uint8_t *dst = bytebuf_reserve(b, n);
    assert_true(n == 0 || dst != NULL);
    for (size_t i = 0; i < n; i++)
        dst[i] = ((const uint8_t *)p)[i] ^ (masked ? mask_key[i % 4] : 0);
    b->len += n;
}

/* A close payload: the status, big-endian. */
static void close_payload(uint8_t out[2], uint16_t code)
{
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
}

struct sframe {
    uint8_t b0;       /* FIN, RSV, opcode */
    const uint8_t *p; /* payload */
    size_t n;         /* payload bytes */
    size_t hn;        /* header bytes */
};

/* Parses the server frame at d[0..n): complete and unmasked. Returns the
 * bytes it spans. */
static size_t get_frame(const uint8_t *d, size_t n, struct sframe *f)
{
    assert_true(n >= 2);
    assert_int_equal(d[1] & 0x80, 0); /* servers never mask */
    uint64_t len = d[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
        assert_true(n >= 4);
        len = (uint64_t)d[2] << 8 | d[3];
        h = 4;
    } else if (len == 127) {
        assert_true(n >= 10);
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | d[2 + i];
        h = 10;
    }
    assert_true(n >= h && n - h >= len);
    *f = (struct sframe){d[0], d + h, (size_t)len, h};
    return h + (size_t)len;
}

/* down holds exactly one close frame with `code` (0: no status). */
static void assert_close_sent(const struct fx *f, uint16_t code)
{
    struct sframe s;
    assert_int_equal(get_frame(f->down.data, f->down.len, &s), f->down.len);
    assert_int_equal(s.b0, FIN | OP_CLS);
    if (code == 0) {
        assert_int_equal(s.n, 0);
    } else {
        assert_int_equal(s.n, 2);
        assert_int_equal(s.p[0] << 8 | s.p[1], code);
    }
}

/* ---- Accept key ---------------------------------------------------------- */

static void test_accept_key(void **state)
{
    char out[29];
    ws_accept_key(KEY, strlen(KEY), out);
    assert_string_equal(out, ACCEPT);
    /* Not every key is the RFC's. */
    ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out);
    assert_string_equal(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

/* ---- Upgrades ------------------------------------------------------------ */

static void test_good_upgrade(void **state)
{
    static const struct {
        const char *request;
        const char *origins; /* ws.origins, or NULL for the default (any) */
        const char *answer;
    } rows[] = {
        {GOOD, NULL, ANSWER("mqtt")},
        /* Only the older name offered: it is chosen; both: mqtt. */
        {RL H_HOST H_UP H_CONN H_KEY H_VER "Sec-WebSocket-Protocol: mqttv3.1\r\n\r\n", NULL,
         ANSWER("mqttv3.1")},
        {RL H_HOST H_UP H_CONN H_KEY H_VER "Sec-WebSocket-Protocol: mqttv3.1, mqtt\r\n\r\n", NULL,
         ANSWER("mqtt")},
        {RL H_HOST H_UP H_CONN H_KEY H_VER "Sec-WebSocket-Protocol: wamp\r\n"
                                           "Sec-WebSocket-Protocol:mqtt\r\n\r\n",
         NULL, ANSWER("mqtt")},
        /* A query string is ignored. */
        {"GET /mqtt?client=web&x=%20 HTTP/1.1\r\n" GOOD_HDR "\r\n", NULL, ANSWER("mqtt")},
        {"GET /mqtt? HTTP/1.1\r\n" GOOD_HDR "\r\n", NULL, ANSWER("mqtt")},
        /* Header names and the Upgrade and Connection tokens in any case;
         * white space around values. */
        {RL "uPgRaDe: WebSocket\r\nCONNECTION: upgrade\r\nsec-websocket-key:" KEY "  \r\n"
            "SEC-WEBSOCKET-VERSION:\t13\r\nsec-WebSocket-protocol: mqtt\r\n\r\n",
         NULL, ANSWER("mqtt")},
        /* Connection and Upgrade lists. */
        {RL H_HOST
         "Upgrade: h2c, websocket\r\nConnection: keep-alive, Upgrade\r\n" H_KEY H_VER H_PROTO
         "\r\n",
         NULL, ANSWER("mqtt")},
        {RL H_HOST H_UP "Connection: keep-alive\r\nConnection: Upgrade\r\n" H_KEY H_VER H_PROTO
                        "\r\n",
         NULL, ANSWER("mqtt")},
        /* Origin: any without ws.origins; absent is fine with it; listed;
         * "*" in the list. */
        {RL "Origin: https://anywhere.example\r\n" GOOD_HDR "\r\n", NULL, ANSWER("mqtt")},
        {GOOD, "https://chat.example.com", ANSWER("mqtt")},
        {RL "Origin: https://chat.example.com\r\n" GOOD_HDR "\r\n",
         "https://a.example https://chat.example.com", ANSWER("mqtt")},
        {RL "Origin: https://other.example\r\n" GOOD_HDR "\r\n", "https://a.example *",
         ANSWER("mqtt")},
        /* Headers the layer does not know are ignored. */
        {RL "Sec-WebSocket-Extensions: permessage-deflate\r\nUser-Agent: x\r\n" GOOD_HDR "\r\n",
         NULL, ANSWER("mqtt")},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        void *st;
        fx_setup(&st);
        struct fx *f = st;
        if (rows[i].origins)
            fx_set(f, "ws.origins", rows[i].origins);
        feed_str(f, rows[i].request);
        if (!ws_layer_ops.open(f->ws))
            fail_msg("row %zu: refused: %s", i, ws_layer_ops.finished(f->ws));
        flush_owed(f);
        if (!down_is(f, rows[i].answer))
            fail_msg("row %zu: answer %.*s", i, (int)f->down.len, (char *)f->down.data);
        assert_null(ws_layer_ops.finished(f->ws));
        assert_int_equal(f->up.len, 0);
        fx_teardown(&st);
    }
}

/* The status of the HTTP answer in down; checks its framing on the way. */
static int refusal_status(const struct fx *f)
{
    char text[1024];
    assert_true(f->down.len > 0 && f->down.len < sizeof(text));
    memcpy(text, f->down.data, f->down.len);
    text[f->down.len] = '\0';
    int status = 0;
    assert_int_equal(sscanf(text, "HTTP/1.1 %d ", &status), 1);
    assert_non_null(strstr(text, "\r\nConnection: close\r\n"));
    const char *cl = strstr(text, "\r\nContent-Length: ");
    const char *body = strstr(text, "\r\n\r\n");
    assert_non_null(cl);
    assert_non_null(body);
    assert_int_equal(strtoul(cl + 18, NULL, 10), strlen(body + 4));
    return status;
}

/* After a refusal: finished says why, nothing is open, and whatever comes
 * next is dropped. */
static void check_refused(struct fx *f, int status, size_t row)
{
    assert_false(ws_layer_ops.open(f->ws));
    assert_true(ws_layer_ops.owes(f->ws));
    flush_owed(f);
    int got = refusal_status(f);
    if (got != status)
        fail_msg("row %zu: status %d, want %d (%s)", row, got, status,
                 ws_layer_ops.finished(f->ws));
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "websocket upgrade refused: %d ", status);
    const char *why = ws_layer_ops.finished(f->ws);
    assert_non_null(why);
    assert_memory_equal(why, prefix, strlen(prefix));
    feed_str(f, GOOD);
    f->down.len = 0;
    assert_int_equal(ws_layer_ops.write(f->ws, (const uint8_t *)"abc", 3, &f->down), MQ_OK);
    assert_int_equal(f->down.len, 0);
    assert_int_equal(f->up.len, 0);
    assert_string_equal(ws_layer_ops.finished(f->ws), why);
}

static void test_refusals(void **state)
{
    static const struct {
        const char *request;
        const char *origins;
        int status;
    } rows[] = {
        /* 400: headers missing or malformed. */
        {RL H_HOST H_UP H_CONN H_VER H_PROTO "\r\n", NULL, 400},
        {RL H_HOST H_UP H_CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n" H_VER H_PROTO "\r\n",
         NULL, 400},
        {RL H_HOST H_UP H_CONN "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n" H_VER H_PROTO
                               "\r\n",
         NULL, 400}, /* 20 bytes */
        {RL H_HOST H_UP H_CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ*==\r\n" H_VER H_PROTO
                               "\r\n",
         NULL, 400},
        {RL H_HOST H_UP H_CONN "Sec-WebSocket-Key:\r\n" H_VER H_PROTO "\r\n", NULL, 400},
        {RL H_HOST H_UP H_CONN H_KEY H_KEY H_VER H_PROTO "\r\n", NULL, 400},
        {RL H_HOST H_UP H_CONN H_KEY H_VER "Sec-WebSocket-Protocol: wamp, mqtt5\r\n\r\n", NULL,
         400},
        {RL H_HOST H_UP H_CONN H_KEY H_VER "Sec-WebSocket-Protocol: MQTT\r\n\r\n", NULL, 400},
        {RL H_HOST H_UP H_CONN H_KEY H_VER "\r\n", NULL, 400},
        {RL H_HOST H_CONN H_KEY H_VER H_PROTO "\r\n", NULL, 400},
        {RL H_HOST "Upgrade: websockets\r\n" H_CONN H_KEY H_VER H_PROTO "\r\n", NULL, 400},
        {RL H_HOST H_UP "Connection: keep-alive\r\n" H_KEY H_VER H_PROTO "\r\n", NULL, 400},
        {RL H_HOST H_UP H_CONN H_KEY H_PROTO "\r\n", NULL, 400},
        {RL H_HOST H_UP H_CONN H_KEY H_VER H_VER H_PROTO "\r\n", NULL, 400},
        {"GET /mqtt HTTP/1.0\r\n" GOOD_HDR "\r\n", NULL, 400},
        {"GET /mqtt HTTP/1.1 extra\r\n" GOOD_HDR "\r\n", NULL, 400},
        {"GET  /mqtt HTTP/1.1\r\n" GOOD_HDR "\r\n", NULL, 400},
        {"GET /mqtt\r\n" GOOD_HDR "\r\n", NULL, 400},
        {"G(T /mqtt HTTP/1.1\r\n" GOOD_HDR "\r\n", NULL, 400},
        {"\r\n" GOOD, NULL, 400},
        {"\r\n\r\n", NULL, 400},
        /* Folded, nameless, spaced-out header lines. */
        {RL GOOD_HDR "X-Long: a\r\n b\r\n\r\n", NULL, 400},
        {RL GOOD_HDR "\tX: b\r\n\r\n", NULL, 400},
        {RL GOOD_HDR "no colon here\r\n\r\n", NULL, 400},
        {RL GOOD_HDR ": empty name\r\n\r\n", NULL, 400},
        {RL "Upgrade : websocket\r\n" H_HOST H_CONN H_KEY H_VER H_PROTO "\r\n", NULL, 400},
        {RL GOOD_HDR "X: a\rb\r\n\r\n", NULL, 400},
        {RL GOOD_HDR "X: a\nb\r\n\r\n", NULL, 400},
        /* 403: ws.origins set, Origin not in it (exactly). */
        {RL "Origin: https://evil.example\r\n" GOOD_HDR "\r\n", "https://chat.example.com", 403},
        {RL "Origin: https://chat.example.com.evil\r\n" GOOD_HDR "\r\n", "https://chat.example.com",
         403},
        {RL "Origin: https://chat.example\r\n" GOOD_HDR "\r\n", "https://chat.example.com", 403},
        {RL "Origin: https://a.example\r\nOrigin: https://b.example\r\n" GOOD_HDR "\r\n", NULL,
         400},
        /* 404: not ws.path. */
        {"GET /mqt HTTP/1.1\r\n" GOOD_HDR "\r\n", NULL, 404},
        {"GET /mqtt/ HTTP/1.1\r\n" GOOD_HDR "\r\n", NULL, 404},
        {"GET /MQTT HTTP/1.1\r\n" GOOD_HDR "\r\n", NULL, 404},
        {"GET / HTTP/1.1\r\n" GOOD_HDR "\r\n", NULL, 404},
        /* 405: not GET. */
        {"POST /mqtt HTTP/1.1\r\n" GOOD_HDR "\r\n", NULL, 405},
        /* Not a method: refused at the first byte (so are a TLS hello and
         * an MQTT CONNECT sent to the WebSocket port). */
        {"get /mqtt HTTP/1.1\r\n" GOOD_HDR "\r\n", NULL, 400},
        {"\x16\x03\x01\x02\x00", NULL, 400},
        {"\x10\x0c", NULL, 400},
        /* 426: another version. */
        {RL H_HOST H_UP H_CONN H_KEY "Sec-WebSocket-Version: 12\r\n" H_PROTO "\r\n", NULL, 426},
        {RL H_HOST H_UP H_CONN H_KEY "Sec-WebSocket-Version: 8, 13\r\n" H_PROTO "\r\n", NULL, 426},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        void *st;
        fx_setup(&st);
        struct fx *f = st;
        if (rows[i].origins)
            fx_set(f, "ws.origins", rows[i].origins);
        feed_str(f, rows[i].request);
        check_refused(f, rows[i].status, i);
        fx_teardown(&st);
    }
}

static void test_426_names_version(void **state)
{
    struct fx *f = *state;
    feed_str(f, RL H_HOST H_UP H_CONN H_KEY "Sec-WebSocket-Version: 12\r\n" H_PROTO "\r\n");
    flush_owed(f);
    assert_int_equal(refusal_status(f), 426);
    assert_non_null(memmem(f->down.data, f->down.len, "\r\nSec-WebSocket-Version: 13\r\n", 29));
    assert_string_equal(ws_layer_ops.finished(f->ws),
                        "websocket upgrade refused: 426 Sec-WebSocket-Version not 13");
}

static void test_405_allows_get(void **state)
{
    struct fx *f = *state;
    feed_str(f, "POST /mqtt HTTP/1.1\r\n" GOOD_HDR "\r\n");
    flush_owed(f);
    assert_int_equal(refusal_status(f), 405);
    assert_non_null(memmem(f->down.data, f->down.len, "\r\nAllow: GET\r\n", 14));
}

static void test_404_other_path(void **state)
{
    struct fx *f = *state;
    fx_set(f, "ws.path", "/chat/ws");
    feed_str(f, "GET /chat/ws?v=2 HTTP/1.1\r\n" GOOD_HDR "\r\n");
    assert_true(ws_layer_ops.open(f->ws));

    void *st;
    fx_setup(&st);
    struct fx *g = st;
    fx_set(g, "ws.path", "/chat/ws");
    feed_str(g, GOOD);
    check_refused(g, 404, 0);
    assert_string_equal(ws_layer_ops.finished(g->ws),
                        "websocket upgrade refused: 404 path not ws.path");
    fx_teardown(&st);
}

/* NUL bytes in the request line or a header are refused, not cut at. */
static void test_nul_bytes(void **state)
{
    static const char line[] = "GET /mqtt\0x HTTP/1.1\r\n" GOOD_HDR "\r\n";
    static const char hdr[] = RL "X: a\0b\r\n" GOOD_HDR "\r\n";
    static const char key[] = RL H_HOST H_UP H_CONN
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\0Q==\r\n" H_VER H_PROTO "\r\n";
    const struct {
        const char *p;
        size_t n;
    } rows[] = {{line, sizeof(line) - 1}, {hdr, sizeof(hdr) - 1}, {key, sizeof(key) - 1}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        void *st;
        fx_setup(&st);
        struct fx *f = st;
        feed(f, rows[i].p, rows[i].n);
        check_refused(f, 400, i);
        fx_teardown(&st);
    }
}

/* A request padded with an X-Pad header to exactly `total` bytes. */
static char *padded_request(size_t total)
{
    static const char head[] = RL GOOD_HDR "X-Pad: ";
    static const char tail[] = "\r\n\r\n";
    size_t fixed = sizeof(head) - 1 + sizeof(tail) - 1;
    assert_true(total > fixed);
    char *z = malloc(total + 1);
    assert_non_null(z);
    memcpy(z, head, sizeof(head) - 1);
    memset(z + sizeof(head) - 1, 'a', total - fixed);
    memcpy(z + total - (sizeof(tail) - 1), tail, sizeof(tail));
    assert_int_equal(strlen(z), total);
    return z;
}

static void test_size_limit(void **state)
{
    static const struct {
        size_t total; /* request bytes, blank line included */
        size_t split; /* bytes in the first read (the rest in a second), 0: one read */
        bool accepted;
    } rows[] = {
        {WS_MAX_HANDSHAKE, 0, true},      {WS_MAX_HANDSHAKE, WS_MAX_HANDSHAKE - 2, true},
        {WS_MAX_HANDSHAKE + 1, 0, false}, {WS_MAX_HANDSHAKE + 1, 100, false},
        {3 * WS_MAX_HANDSHAKE, 0, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        void *st;
        fx_setup(&st);
        struct fx *f = st;
        char *z = padded_request(rows[i].total);
        size_t split = rows[i].split ? rows[i].split : rows[i].total;
        feed(f, z, split);
        feed(f, z + split, rows[i].total - split);
        if (rows[i].accepted) {
            assert_true(ws_layer_ops.open(f->ws));
            flush_owed(f);
            assert_true(down_is(f, ANSWER("mqtt")));
        } else {
            check_refused(f, 431, i);
        }
        free(z);
        fx_teardown(&st);
    }
}

/* No blank line yet: the layer waits, whatever the size below the limit. */
static void test_431_without_blank_line(void **state)
{
    struct fx *f = *state;
    char chunk[1000];
    memset(chunk, 'b', sizeof(chunk));
    feed_str(f, RL "X-Pad: ");
    for (int i = 0; i < 8; i++) {
        feed(f, chunk, sizeof(chunk));
        assert_false(ws_layer_ops.owes(f->ws));
        assert_null(ws_layer_ops.finished(f->ws));
    }
    feed(f, chunk, sizeof(chunk));
    check_refused(f, 431, 0);
    assert_string_equal(ws_layer_ops.finished(f->ws),
                        "websocket upgrade refused: 431 request over 8 KiB");
}

static void test_one_byte_at_a_time(void **state)
{
    struct fx *f = *state;
    const char *z = GOOD;
    for (size_t i = 0; z[i]; i++) {
        assert_false(ws_layer_ops.open(f->ws));
        assert_false(ws_layer_ops.owes(f->ws));
        feed(f, z + i, 1);
    }
    assert_true(ws_layer_ops.open(f->ws));
    flush_owed(f);
    assert_true(down_is(f, ANSWER("mqtt")));

    void *st;
    fx_setup(&st);
    struct fx *g = st;
    feed_bytes(g, "GET /nope HTTP/1.1\r\n" GOOD_HDR "\r\n",
               strlen("GET /nope HTTP/1.1\r\n" GOOD_HDR "\r\n"));
    check_refused(g, 404, 0);
    fx_teardown(&st);
}

/* ---- Frames up ----------------------------------------------------------- */

static void test_binary_frame_up(void **state)
{
    struct fx *f = *state;
    upgrade(f);
    /* CONNECT's first bytes, then a whole PINGREQ and DISCONNECT in one frame. */
    static const uint8_t part[] = {0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T'};
    static const uint8_t two[] = {0xc0, 0x00, 0xe0, 0x00};
    struct bytebuf in = {0};
    put_frame(&in, FIN | OP_BIN, part, sizeof(part), true);
    feed(f, in.data, in.len);
    assert_true(up_is(f, part, sizeof(part)));
    f->up.len = 0;
    in.len = 0;
    put_frame(&in, FIN | OP_BIN, two, sizeof(two), true);
    put_frame(&in, FIN | OP_BIN, "", 0, true); /* an empty frame is allowed */
    feed(f, in.data, in.len);
    assert_true(up_is(f, two, sizeof(two)));
    assert_false(ws_layer_ops.owes(f->ws));
    assert_null(ws_layer_ops.finished(f->ws));
    bytebuf_free(&in);
}

/* One packet over BINARY(fin=0) + CONTINUATION(fin=1), a ping between. */
static void test_fragmented_with_ping(void **state)
{
    struct fx *f = *state;
    upgrade(f);
    struct bytebuf in = {0};
    put_frame(&in, OP_BIN, "\x30\x09\x00\x01t", 5, true);
    put_frame(&in, FIN | OP_PNG, "hi!", 3, true);
    put_frame(&in, OP_CON, "hel", 3, true);
    put_frame(&in, FIN | OP_PON, "ignored", 7, true);
    put_frame(&in, FIN | OP_CON, "lo", 2, true);
    feed(f, in.data, in.len);
    assert_true(up_is(f, "\x30\x09\x00\x01thello", 10));
    assert_true(ws_layer_ops.owes(f->ws));
    flush_owed(f);
    struct sframe s;
    assert_int_equal(get_frame(f->down.data, f->down.len, &s), f->down.len);
    assert_int_equal(s.b0, FIN | OP_PON);
    assert_int_equal(s.n, 3);
    assert_memory_equal(s.p, "hi!", 3);
    assert_null(ws_layer_ops.finished(f->ws));
    bytebuf_free(&in);
}

static void test_frames_one_byte_at_a_time(void **state)
{
    struct fx *f = *state;
    upgrade(f);
    uint8_t big[300];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    struct bytebuf in = {0};
    put_frame(&in, FIN | OP_BIN, big, 100, true);
    put_frame(&in, FIN | OP_PNG, "p", 1, true);
    put_frame(&in, OP_BIN, big + 100, 200, true); /* 16-bit length */
    put_frame(&in, FIN | OP_CON, "", 0, true);
    feed_bytes(f, in.data, in.len);
    assert_true(up_is(f, big, sizeof(big)));
    flush_owed(f);
    struct sframe s;
    assert_int_equal(get_frame(f->down.data, f->down.len, &s), f->down.len);
    assert_int_equal(s.b0, FIN | OP_PON);
    assert_memory_equal(s.p, "p", 1);
    bytebuf_free(&in);
}

static void test_frames_with_the_request(void **state)
{
    struct fx *f = *state;
    struct bytebuf in = {0};
    assert_int_equal(bytebuf_append(&in, GOOD, strlen(GOOD)), MQ_OK);
    put_frame(&in, FIN | OP_BIN, "\xc0\x00", 2, true);
    put_frame(&in, FIN | OP_PNG, "", 0, true);
    feed(f, in.data, in.len);
    assert_true(up_is(f, "\xc0\x00", 2));
    /* The 101 answer goes first, then the pong, then data written. */
    f->down.len = 0;
    assert_int_equal(ws_layer_ops.write(f->ws, (const uint8_t *)"\xd0\x00", 2, &f->down), MQ_OK);
    size_t n = strlen(ANSWER("mqtt"));
    assert_true(f->down.len > n);
    assert_memory_equal(f->down.data, ANSWER("mqtt"), n);
    struct sframe s;
    n += get_frame(f->down.data + n, f->down.len - n, &s);
    assert_int_equal(s.b0, FIN | OP_PON);
    assert_int_equal(s.n, 0);
    n += get_frame(f->down.data + n, f->down.len - n, &s);
    assert_int_equal(s.b0, FIN | OP_BIN);
    assert_memory_equal(s.p, "\xd0\x00", 2);
    assert_int_equal(n, f->down.len);
    bytebuf_free(&in);
}

/* A request and a close frame in one read: 101, then the close answer. */
static void test_close_with_the_request(void **state)
{
    struct fx *f = *state;
    struct bytebuf in = {0};
    uint8_t code[2];
    close_payload(code, 1000);
    assert_int_equal(bytebuf_append(&in, GOOD, strlen(GOOD)), MQ_OK);
    put_frame(&in, FIN | OP_CLS, code, 2, true);
    feed(f, in.data, in.len);
    assert_string_equal(ws_layer_ops.finished(f->ws), "websocket: close received (1000)");
    flush_owed(f);
    size_t n = strlen(ANSWER("mqtt"));
    assert_memory_equal(f->down.data, ANSWER("mqtt"), n);
    struct sframe s;
    assert_int_equal(n + get_frame(f->down.data + n, f->down.len - n, &s), f->down.len);
    assert_int_equal(s.b0, FIN | OP_CLS);
    assert_int_equal(s.n, 2);
    assert_memory_equal(s.p, code, 2);
    bytebuf_free(&in);
}

/* Frames that close the WebSocket, and the close each gets back. */
static void test_closing_frames(void **state)
{
    uint8_t c1000[2], c4000[2], c999[2], c1005[2], bad_reason[4];
    close_payload(c1000, 1000);
    close_payload(c4000, 4000);
    close_payload(c999, 999);
    close_payload(c1005, 1005);
    close_payload(bad_reason, 1000);
    bad_reason[2] = 0xc3; /* a truncated UTF-8 sequence */
    bad_reason[3] = 0x28;
    uint8_t big[200] = {0};
    static const struct {
        int kind; /* what to send: see the switch below */
        uint16_t code;
        const char *reason;
    } rows[] = {
        {0, 1002, "websocket: protocol error (1002)"}, /* unmasked binary */
        {1, 1003, "websocket: text frame (1003)"},     /* text */
        {2, 1009, "websocket: frame over ws.max_frame_bytes (1009)"},
        {3, 1000, "websocket: close received (1000)"}, /* close 1000 */
        {4, 4000, "websocket: close received (4000)"}, /* close 4000 */
        {5, 0, "websocket: close received (1005)"},    /* close without status */
        {6, 1002, "websocket: protocol error (1002)"}, /* close 999 */
        {7, 1002, "websocket: protocol error (1002)"}, /* close 1005 */
        {8, 1007, "websocket: invalid UTF-8 in a close frame (1007)"},
        {9, 1002, "websocket: protocol error (1002)"},  /* RSV1 */
        {10, 1002, "websocket: protocol error (1002)"}, /* opcode 3 */
        {11, 1002, "websocket: protocol error (1002)"}, /* continuation first */
        {12, 1002, "websocket: protocol error (1002)"}, /* binary inside a message */
        {13, 0, "websocket: protocol error"},           /* ping of 126 bytes */
        {14, 0, "websocket: protocol error"},           /* ping without FIN */
        {15, 1002, "websocket: protocol error (1002)"}, /* text inside a binary message */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        void *st;
        fx_setup(&st);
        struct fx *f = st;
        fx_set(f, "ws.max_frame_bytes", "100");
        upgrade(f);
        struct bytebuf in = {0};
        switch (rows[i].kind) {
        case 0:
            put_frame(&in, FIN | OP_BIN, "\xc0\x00", 2, false);
            break;
        case 1:
            put_frame(&in, FIN | OP_TXT, "hello", 5, true);
            break;
        case 2:
            put_frame(&in, FIN | OP_BIN, big, 101, true);
            break;
        case 3:
            put_frame(&in, FIN | OP_CLS, c1000, 2, true);
            break;
        case 4:
            put_frame(&in, FIN | OP_CLS, c4000, 2, true);
            break;
        case 5:
            put_frame(&in, FIN | OP_CLS, "", 0, true);
            break;
        case 6:
            put_frame(&in, FIN | OP_CLS, c999, 2, true);
            break;
        case 7:
            put_frame(&in, FIN | OP_CLS, c1005, 2, true);
            break;
        case 8:
            put_frame(&in, FIN | OP_CLS, bad_reason, 4, true);
            break;
        case 9:
            put_frame(&in, FIN | 0x40 | OP_BIN, "x", 1, true);
            break;
        case 10:
            put_frame(&in, FIN | 0x3, "x", 1, true);
            break;
        case 11:
            put_frame(&in, FIN | OP_CON, "x", 1, true);
            break;
        case 12:
            put_frame(&in, OP_BIN, "x", 1, true);
            put_frame(&in, FIN | OP_BIN, "y", 1, true);
            break;
        case 13:
            put_frame(&in, FIN | OP_PNG, big, 126, true);
            break;
        case 14:
            put_frame(&in, OP_PNG, "x", 1, true);
            break;
        case 15:
            put_frame(&in, OP_BIN, "x", 1, true);
            put_frame(&in, FIN | OP_TXT, "y", 1, true);
            break;
        }
        /* Whatever follows in the same read is not taken. */
        put_frame(&in, FIN | OP_BIN, "late", 4, true);
        feed(f, in.data, in.len);
        const char *why = ws_layer_ops.finished(f->ws);
        if (!why || strcmp(why, rows[i].reason) != 0)
            fail_msg("row %zu: finished %s, want %s", i, why ? why : "(null)", rows[i].reason);
        assert_true(ws_layer_ops.owes(f->ws));
        size_t up = f->up.len;
        assert_true(up <= 1 && (up == 0 || f->up.data[0] == 'x'));
        flush_owed(f);
        assert_close_sent(f, rows[i].code);
        /* Finished: input is not taken, output is dropped, no goodbye. */
        feed(f, in.data, in.len);
        assert_int_equal(f->up.len, up);
        f->down.len = 0;
        assert_int_equal(ws_layer_ops.write(f->ws, (const uint8_t *)"abc", 3, &f->down), MQ_OK);
        assert_int_equal(ws_layer_ops.goodbye(f->ws, LINK_BYE_NORMAL, &f->down), MQ_OK);
        assert_int_equal(f->down.len, 0);
        assert_string_equal(ws_layer_ops.finished(f->ws), rows[i].reason);
        bytebuf_free(&in);
        fx_teardown(&st);
    }
}

/* ws.max_frame_bytes limits each frame, not the message. */
static void test_max_frame_is_per_frame(void **state)
{
    struct fx *f = *state;
    fx_set(f, "ws.max_frame_bytes", "100");
    upgrade(f);
    uint8_t big[200];
    memset(big, 0x5a, sizeof(big));
    struct bytebuf in = {0};
    put_frame(&in, FIN | OP_BIN, big, 100, true);
    put_frame(&in, OP_BIN, big, 100, true);
    put_frame(&in, FIN | OP_CON, big + 100, 100, true);
    feed(f, in.data, in.len);
    assert_null(ws_layer_ops.finished(f->ws));
    assert_int_equal(f->up.len, 300);
    bytebuf_free(&in);
}

/* ---- Frames down --------------------------------------------------------- */

static void test_write_lengths(void **state)
{
    struct fx *f = *state;
    upgrade(f);
    static const struct {
        size_t n;
        size_t hn; /* header bytes: 7-bit, 16-bit, 64-bit length */
        uint8_t len_byte;
    } rows[] = {
        {1, 2, 1}, {125, 2, 125}, {126, 4, 126}, {65535, 4, 126}, {65536, 10, 127},
    };
    uint8_t *p = malloc(65536);
    assert_non_null(p);
    for (size_t i = 0; i < 65536; i++)
        p[i] = (uint8_t)(i ^ (i >> 8));
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        f->down.len = 0;
        assert_int_equal(ws_layer_ops.write(f->ws, p, rows[i].n, &f->down), MQ_OK);
        assert_false(ws_layer_ops.owes(f->ws));
        assert_int_equal(f->down.data[0], 0x82);
        assert_int_equal(f->down.data[1], rows[i].len_byte); /* no mask bit */
        struct sframe s;
        assert_int_equal(get_frame(f->down.data, f->down.len, &s), f->down.len);
        assert_int_equal(s.hn, rows[i].hn);
        assert_int_equal(s.n, rows[i].n);
        assert_memory_equal(s.p, p, rows[i].n);
    }
    /* The 64-bit length, byte by byte. */
    static const uint8_t h64[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0};
    assert_memory_equal(f->down.data, h64, sizeof(h64));
    free(p);
}

/* Several MQTT packets in one write: one frame each (Paho MQTT C reads only
 * the first packet of a frame). */
static void test_write_frame_per_packet(void **state)
{
    struct fx *f = *state;
    upgrade(f);
    static const uint8_t suback[] = {0x90, 0x03, 0x00, 0x01, 0x00};
    static const uint8_t publish[] = {0x30, 0x05, 0x00, 0x01, 't', 'h', 'i'};
    static const uint8_t pingresp[] = {0xd0, 0x00};
    const struct {
        const uint8_t *p;
        size_t n;
    } packets[] = {{suback, sizeof(suback)}, {publish, sizeof(publish)}, {pingresp, 2}};
    uint8_t all[sizeof(suback) + sizeof(publish) + 2];
    size_t n = 0;
    for (size_t i = 0; i < 3; i++) {
        memcpy(all + n, packets[i].p, packets[i].n);
        n += packets[i].n;
    }
    f->down.len = 0;
    assert_int_equal(ws_layer_ops.write(f->ws, all, n, &f->down), MQ_OK);
    size_t off = 0;
    for (size_t i = 0; i < 3; i++) {
        struct sframe s;
        off += get_frame(f->down.data + off, f->down.len - off, &s);
        assert_int_equal(f->down.data[off - s.hn - s.n], 0x82);
        assert_int_equal(s.n, packets[i].n);
        assert_memory_equal(s.p, packets[i].p, packets[i].n);
    }
    assert_int_equal(off, f->down.len);
}

static void test_write_before_open_dropped(void **state)
{
    struct fx *f = *state;
    assert_int_equal(ws_layer_ops.write(f->ws, (const uint8_t *)"abc", 3, &f->down), MQ_OK);
    assert_int_equal(f->down.len, 0);
    feed_str(f, RL H_HOST); /* half a request */
    assert_int_equal(ws_layer_ops.write(f->ws, (const uint8_t *)"abc", 3, &f->down), MQ_OK);
    assert_int_equal(f->down.len, 0);
    assert_false(ws_layer_ops.open(f->ws));
    assert_false(ws_layer_ops.owes(f->ws));
    assert_null(ws_layer_ops.finished(f->ws));
    /* No goodbye before the upgrade either. */
    assert_int_equal(ws_layer_ops.goodbye(f->ws, LINK_BYE_SHUTDOWN, &f->down), MQ_OK);
    assert_int_equal(f->down.len, 0);
    assert_null(ws_layer_ops.finished(f->ws));
}

/* ---- Goodbye ------------------------------------------------------------- */

static void test_goodbye(void **state)
{
    static const struct {
        enum link_bye why;
        uint8_t bytes[4];
        const char *reason;
    } rows[] = {
        {LINK_BYE_SHUTDOWN, {0x88, 0x02, 0x03, 0xe9}, "websocket: close sent (1001)"},
        {LINK_BYE_NORMAL, {0x88, 0x02, 0x03, 0xe8}, "websocket: close sent (1000)"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        void *st;
        fx_setup(&st);
        struct fx *f = st;
        upgrade(f);
        assert_int_equal(ws_layer_ops.goodbye(f->ws, rows[i].why, &f->down), MQ_OK);
        assert_int_equal(f->down.len, 4);
        assert_memory_equal(f->down.data, rows[i].bytes, 4);
        assert_string_equal(ws_layer_ops.finished(f->ws), rows[i].reason);
        assert_false(ws_layer_ops.owes(f->ws));
        /* Once: no second close, no data after it. */
        f->down.len = 0;
        assert_int_equal(ws_layer_ops.goodbye(f->ws, rows[i].why, &f->down), MQ_OK);
        assert_int_equal(ws_layer_ops.write(f->ws, (const uint8_t *)"abc", 3, &f->down), MQ_OK);
        assert_int_equal(f->down.len, 0);
        /* The peer's close answer is taken quietly. */
        struct bytebuf in = {0};
        put_frame(&in, FIN | OP_CLS, rows[i].bytes + 2, 2, true);
        feed(f, in.data, in.len);
        assert_false(ws_layer_ops.owes(f->ws));
        assert_string_equal(ws_layer_ops.finished(f->ws), rows[i].reason);
        bytebuf_free(&in);
        fx_teardown(&st);
    }
}

/* A goodbye before the 101 answer was written writes the answer first. */
static void test_goodbye_after_unwritten_answer(void **state)
{
    struct fx *f = *state;
    feed_str(f, GOOD);
    assert_int_equal(ws_layer_ops.goodbye(f->ws, LINK_BYE_NORMAL, &f->down), MQ_OK);
    size_t n = strlen(ANSWER("mqtt"));
    assert_int_equal(f->down.len, n + 4);
    assert_memory_equal(f->down.data, ANSWER("mqtt"), n);
    assert_memory_equal(f->down.data + n, "\x88\x02\x03\xe8", 4);
    assert_false(ws_layer_ops.owes(f->ws));
}

/* ---- Hostile input ------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Mutated requests in random pieces: an answer or a wait, never a crash;
 * an answer is 101 or one of the refusals. */
static void test_mutated_requests(void **state)
{
    static const char base[] = RL "Origin: https://chat.example.com\r\n" GOOD_HDR
                                  "Connection: keep-alive, Upgrade\r\n\r\n";
    char z[sizeof(base)];
    for (int iter = 0; iter < 20000; iter++) {
        void *st;
        fx_setup(&st);
        struct fx *f = st;
        if (iter % 2)
            fx_set(f, "ws.origins", "https://chat.example.com");
        memcpy(z, base, sizeof(base));
        int flips = 1 + (int)(rng() % 4);
        for (int k = 0; k < flips; k++) {
            size_t at = rng() % (sizeof(base) - 1);
            switch (rng() % 3) {
            case 0:
                z[at] = (char)rng();
                break;
            case 1:
                z[at] ^= (char)(1u << (rng() % 8));
                break;
            default:
                z[at] = "\r\n :,\t\0"[rng() % 7];
                break;
            }
        }
        size_t n = sizeof(base) - 1, off = 0;
        while (off < n) {
            size_t piece = 1 + rng() % 64;
            if (piece > n - off)
                piece = n - off;
            feed(f, z + off, piece);
            off += piece;
        }
        if (ws_layer_ops.open(f->ws)) {
            flush_owed(f);
            assert_memory_equal(f->down.data, "HTTP/1.1 101 ", 13);
        } else if (ws_layer_ops.finished(f->ws)) {
            flush_owed(f);
            int status = refusal_status(f);
            assert_true(status == 400 || status == 403 || status == 404 || status == 405 ||
                        status == 426);
        } else {
            assert_false(ws_layer_ops.owes(f->ws));
        }
        fx_teardown(&st);
    }
}

/* Random bytes after the upgrade, and random frames with random headers:
 * data up, a close, or a wait; never a crash, never more up than in. */
static void test_random_frames(void **state)
{
    for (int iter = 0; iter < 5000; iter++) {
        void *st;
        fx_setup(&st);
        struct fx *f = st;
        fx_set(f, "ws.max_frame_bytes", "1000");
        upgrade(f);
        struct bytebuf in = {0};
        int frames = 1 + (int)(rng() % 6);
        for (int k = 0; k < frames; k++) {
            uint8_t payload[300];
            size_t n = rng() % sizeof(payload);
            for (size_t j = 0; j < n; j++)
                payload[j] = (uint8_t)rng();
            uint8_t b0 = (rng() % 4) ? (uint8_t)(FIN | OP_BIN) : (uint8_t)rng();
            put_frame(&in, b0, payload, n, rng() % 8 != 0);
        }
        if (iter % 3 == 0) {
            for (size_t j = 0; j < 4; j++)
                in.data[rng() % in.len] = (uint8_t)rng();
        }
        size_t off = 0;
        while (off < in.len) {
            size_t piece = 1 + rng() % 200;
            if (piece > in.len - off)
                piece = in.len - off;
            feed(f, in.data + off, piece);
            off += piece;
        }
        assert_true(f->up.len <= in.len);
        flush_owed(f);
        if (ws_layer_ops.finished(f->ws)) {
            struct sframe s = {0};
            assert_true(f->down.len > 0);
            size_t used = 0;
            while (used < f->down.len)
                used += get_frame(f->down.data + used, f->down.len - used, &s);
            assert_int_equal(s.b0, FIN | OP_CLS);
        }
        bytebuf_free(&in);
        fx_teardown(&st);
    }
}

/* ---- Failed allocations -------------------------------------------------- */

/*
 * Runs a whole conversation with the k-th allocation of ws.c's own (the
 * layer, each bytebuf_append) failing, for every k: the call that meets it
 * returns MQ_ENOMEM (or the layer is NULL), and freeing the layer then
 * leaks nothing (ASan).
 */
static int conversation(void)
{
    struct config cfg;
    struct bytebuf up = {0}, down = {0}, in = {0};
    int rc = MQ_ENOMEM;
    assert_int_equal(config_defaults(&cfg), MQ_OK);
    void *ws = ws_layer_new(&cfg);
    if (!ws)
        goto out;
    assert_int_equal(bytebuf_append(&in, GOOD, strlen(GOOD)), MQ_OK);
    put_frame(&in, FIN | OP_BIN, "\xc0\x00", 2, true);
    put_frame(&in, FIN | OP_PNG, "ping", 4, true);
    if ((rc = ws_layer_ops.read(ws, in.data, 10, &up)) != MQ_OK ||
        (rc = ws_layer_ops.read(ws, in.data + 10, in.len - 10, &up)) != MQ_OK ||
        (rc = ws_layer_ops.write(ws, (const uint8_t *)"\xd0\x00", 2, &down)) != MQ_OK ||
        (rc = ws_layer_ops.goodbye(ws, LINK_BYE_NORMAL, &down)) != MQ_OK)
        goto out;
    assert_true(up.len == 2 && memcmp(up.data, "\xc0\x00", 2) == 0);
    assert_string_equal(ws_layer_ops.finished(ws), "websocket: close sent (1000)");
out:
    if (ws)
        ws_layer_ops.free(ws);
    config_free(&cfg);
    bytebuf_free(&up);
    bytebuf_free(&down);
    bytebuf_free(&in);
    return rc;
}

static void test_alloc_failures(void **state)
{
    long k;
    for (k = 0;; k++) {
        fail_countdown = k;
        int rc = conversation();
        bool failed = fail_countdown < 0;
        fail_countdown = -1;
        if (!failed) {
            assert_int_equal(rc, MQ_OK);
            break;
        }
        assert_int_equal(rc, MQ_ENOMEM);
    }
    assert_true(k >= 5); /* the layer, the request, the answer, up, a frame... */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_good_upgrade),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test_setup_teardown(test_426_names_version, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_write_frame_per_packet, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_405_allows_get, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_404_other_path, fx_setup, fx_teardown),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test_setup_teardown(test_431_without_blank_line, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_one_byte_at_a_time, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_binary_frame_up, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fragmented_with_ping, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_frames_one_byte_at_a_time, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_frames_with_the_request, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_close_with_the_request, fx_setup, fx_teardown),
        cmocka_unit_test(test_closing_frames),
        cmocka_unit_test_setup_teardown(test_max_frame_is_per_frame, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_write_lengths, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_write_before_open_dropped, fx_setup, fx_teardown),
        cmocka_unit_test(test_goodbye),
        cmocka_unit_test_setup_teardown(test_goodbye_after_unwritten_answer, fx_setup, fx_teardown),
        cmocka_unit_test(test_mutated_requests),
        cmocka_unit_test(test_random_frames),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
