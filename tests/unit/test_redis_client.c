/*
 * test_redis_client.c - bridge/redis_client.c: the pure functions and the
 * connection, against real redis-servers.
 *
 * Pure: key slots (known values, hash tags, and a real cluster's CLUSTER
 * KEYSLOT for binary keys), URLs (good and bad, percent-encoded passwords,
 * buffer limits), slot maps from hand-written RESP and from a real CLUSTER
 * SLOTS.
 *
 * Connection, each test with a loop of its own and every wait bounded by a
 * timer: 10,000 pipelined SET/GET answered in order (binary values, a 2 MiB
 * value, an error reply, dropped replies; a 16 MiB command still being
 * written while more is queued); a command queued from a timer
 * callback goes out without waiting for other I/O; subscriber mode
 * (SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE with binary payloads, errors pushed
 * too); a server killed and started again on its port (waiting callbacks
 * get NULL before `down`, `down` once, MQ_EIO while down, `up` again); AUTH
 * good, missing and wrong; max_output (MQ_EFULL, then accepted again); a
 * refused port, a name to resolve, a server that never answers AUTH (the
 * connect timeout), a server that sends garbage or replies nobody asked
 * for (an `up` and a `down` per retry, retries backing off); closing from
 * every callback and in every state, leaving no handle open (uv_loop_close
 * succeeds; ASan checks the memory). And a three-master cluster
 * (tests/redis.sh cluster-start): CLUSTER SLOTS parsed, 400 keys' slots
 * against CLUSTER KEYSLOT, SSUBSCRIBE/SPUBLISH on the channel's master and
 * the MOVED error another master pushes.
 *
 * Servers come from tests/redis.sh ($MQCHAT_REDIS_SH, else tests/redis.sh
 * below the current directory or a parent) in a temporary directory, and
 * are stopped at the end. Without redis-server the tests fail, they do not
 * skip: CI installs it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "errors.h"
#include "redis_client.h"

#define L(lit) (lit), (sizeof(lit) - 1)

/* ---- servers --------------------------------------------------------------------------- */

static char tmp[] = "/tmp/mqchat-redis.XXXXXX";
static char script[1024];

/* Servers to stop at the end: directory names under tmp, "c:" = cluster. */
static char started[8][32];
static size_t nstarted;

static const char *redis_sh(void)
{
    if (script[0])
        return script;
    const char *env = getenv("MQCHAT_REDIS_SH");
    if (env && *env) {
        snprintf(script, sizeof(script), "%s", env);
        return script;
    }
    char prefix[64] = "";
    for (int up = 0; up < 6; up++) {
        snprintf(script, sizeof(script), "%stests/redis.sh", prefix);
        if (access(script, R_OK) == 0)
            return script;
        strcat(prefix, "../");
    }
    script[0] = '\0';
    fail_msg("tests/redis.sh not found: run from the source tree or set MQCHAT_REDIS_SH");
    return NULL;
}

/* sh tests/redis.sh CMD tmp/NAME ARGS, asserting success. */
static void redis_ctl(const char *cmd, const char *name, const char *args)
{
    char line[2048];
    snprintf(line, sizeof(line), "sh '%s' %s '%s/%s' %s >/dev/null", redis_sh(), cmd, tmp, name,
             args ? args : "");
    int rc = system(line);
    if (rc != 0)
        fail_msg("`%s` failed (status %d); is redis-server installed? "
                 "(sh scripts/install-deps.sh)",
                 line, rc);
}

/* The first line of tmp/NAME/FILE as a number. */
static long read_num(const char *name, const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/%s", tmp, name, file);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long v = 0;
    assert_int_equal(fscanf(f, "%ld", &v), 1);
    fclose(f);
    return v;
}

/* Starts a server in tmp/NAME (ARGS to redis-server); returns its port,
 * checked against its URL through redis_url_parse. */
static uint16_t server_start(const char *name, const char *args)
{
    redis_ctl("start", name, args);
    assert_true(nstarted < 8);
    snprintf(started[nstarted++], sizeof(started[0]), "%s", name);
    char path[512], url[256], host[64];
    snprintf(path, sizeof(path), "%s/%s/url", tmp, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(url, sizeof(url), f));
    fclose(f);
    url[strcspn(url, "\n")] = '\0';
    uint16_t port = 0;
    assert_int_equal(redis_url_parse(url, host, sizeof(host), &port, NULL, 0), MQ_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, read_num(name, "port"));
    return port;
}

/* The shared server of the tests that do not stop theirs. */
static uint16_t main_port(void)
{
    static uint16_t port;
    if (!port)
        port = server_start("main", NULL);
    return port;
}

static int group_setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    return mkdtemp(tmp) ? 0 : -1;
}

static int group_teardown(void **state)
{
    char line[2048];
    for (size_t i = 0; i < nstarted; i++) {
        bool cluster = strncmp(started[i], "c:", 2) == 0;
        snprintf(line, sizeof(line), "sh '%s' %s '%s/%s' >/dev/null", redis_sh(),
                 cluster ? "cluster-stop" : "stop", tmp, started[i] + (cluster ? 2 : 0));
        if (system(line) != 0)
            fprintf(stderr, "test_redis_client: `%s` failed\n", line);
    }
    snprintf(line, sizeof(line), "rm -rf '%s'", tmp);
    return system(line) == 0 ? 0 : -1;
}

/* ---- a loop with deadlines ------------------------------------------------------------- */

struct harness {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool expired;
};

static void on_deadline(uv_timer_t *t)
{
    struct harness *h = t->data;
    h->expired = true;
}

static void h_init(struct harness *h)
{
    memset(h, 0, sizeof(*h));
    assert_int_equal(uv_loop_init(&h->loop), 0);
    uv_timer_init(&h->loop, &h->deadline);
    h->deadline.data = h;
}

/* Runs the loop until done(arg) or ms milliseconds; returns done(arg). */
static bool run_until(struct harness *h, bool (*done)(void *), void *arg, unsigned ms)
{
    h->expired = false;
    uv_timer_start(&h->deadline, on_deadline, ms, 0);
    while (!done(arg) && !h->expired)
        uv_run(&h->loop, UV_RUN_ONCE);
    uv_timer_stop(&h->deadline);
    return done(arg);
}

static bool never(void *arg)
{
    return false;
}

/* Runs the loop for ms milliseconds. */
static void run_for(struct harness *h, unsigned ms)
{
    run_until(h, never, NULL, ms);
}

struct at_least {
    const int *v;
    int n;
};

static bool reached(void *arg)
{
    const struct at_least *a = arg;
    return *a->v >= a->n;
}

/* Runs until the int var is at least n, at most ms milliseconds. */
#define WAIT_FOR(h, var, n, ms) run_until((h), reached, &(struct at_least){&(var), (n)}, (ms))

/* After the clients are closed: every handle must close within 5 s, and
 * the loop must close (nothing left open). */
static void h_finish(struct harness *h)
{
    h->expired = false;
    uv_timer_start(&h->deadline, on_deadline, 5000, 0);
    uv_unref((uv_handle_t *)&h->deadline);
    while (uv_loop_alive(&h->loop) && !h->expired)
        uv_run(&h->loop, UV_RUN_ONCE);
    assert_false(h->expired);
    uv_close((uv_handle_t *)&h->deadline, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&h->loop), 0);
}

static uint64_t now_ms(struct harness *h)
{
    uv_update_time(&h->loop);
    return uv_now(&h->loop);
}

/* ---- replies kept after their callback ---------------------------------------------------- */

static redisReply *copy_reply(const redisReply *r)
{
    redisReply *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->type = r->type;
    c->integer = r->integer;
    c->len = r->len;
    if (r->str) {
        c->str = malloc(r->len + 1);
        assert_non_null(c->str);
        memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements) {
        c->elements = r->elements;
        c->element = calloc(r->elements, sizeof(*c->element));
        assert_non_null(c->element);
        for (size_t i = 0; i < r->elements; i++)
            c->element[i] = copy_reply(r->element[i]);
    }
    return c;
}

static void free_copy(redisReply *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->elements; i++)
        free_copy(c->element[i]);
    free(c->element);
    free(c->str);
    free(c);
}

/* r is a bulk string of exactly s[0..len). */
static bool is_str(const redisReply *r, const char *s, size_t len)
{
    return r && r->type == REDIS_REPLY_STRING && r->len == len && memcmp(r->str, s, len) == 0;
}

/* r is an array whose first element is the bulk string kind. */
static bool is_push(const redisReply *r, const char *kind, size_t n)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements == n &&
           is_str(r->element[0], kind, strlen(kind));
}

/* ---- a client and what happened to it ------------------------------------------------------ */

#define MAX_PUSH 32

struct ev {
    struct redis_client *rc;
    struct harness *h;
    int ups, downs;
    char why[256];
    int nulls_at_down; /* null_replies when `down` came */
    int null_replies;  /* reply callbacks called with NULL (through got_reply) */
    redisReply *push[MAX_PUSH];
    int npush;
    bool close_in_up, close_in_down; /* redis_client_close from that callback */
};

static void ev_up(void *ctx, struct redis_client *rc)
{
    struct ev *e = ctx;
    assert_ptr_equal(rc, e->rc);
    assert_true(redis_client_is_up(rc));
    e->ups++;
    if (e->close_in_up) {
        redis_client_close(rc);
        e->rc = NULL;
    }
}

static void ev_down(void *ctx, struct redis_client *rc, const char *why)
{
    struct ev *e = ctx;
    assert_ptr_equal(rc, e->rc);
    assert_false(redis_client_is_up(rc));
    assert_non_null(why);
    e->downs++;
    e->nulls_at_down = e->null_replies;
    snprintf(e->why, sizeof(e->why), "%s", why);
    if (e->close_in_down) {
        redis_client_close(rc);
        e->rc = NULL;
    }
}

static void ev_push(void *ctx, struct redis_client *rc, const redisReply *reply)
{
    struct ev *e = ctx;
    assert_non_null(reply);
    if (e->npush < MAX_PUSH)
        e->push[e->npush++] = copy_reply(reply);
}

static void ev_clear_push(struct ev *e)
{
    for (int i = 0; i < e->npush; i++)
        free_copy(e->push[i]);
    e->npush = 0;
}

/* A client of host:port with e's callbacks (started). */
static void ev_open(struct ev *e, struct harness *h, const char *host, uint16_t port,
                    const char *password, bool subscriber, size_t max_output)
{
    memset(e, 0, sizeof(*e));
    e->h = h;
    struct redis_client_config cfg = {host, port, password, subscriber, max_output};
    struct redis_client_callbacks cb = {e, ev_up, ev_down, ev_push};
    e->rc = redis_client_new(&h->loop, &cfg, &cb);
    assert_non_null(e->rc);
    redis_client_start(e->rc);
}

static void ev_close(struct ev *e)
{
    if (e->rc)
        redis_client_close(e->rc);
    e->rc = NULL;
    ev_clear_push(e);
}

/* One reply, copied. */
struct got {
    int n;          /* callbacks */
    int nulls;      /* of which with NULL */
    redisReply *r;  /* the last non-NULL reply, copied */
    struct ev *ev;  /* counts NULLs there too, when set */
};

static void got_reply(void *ctx, const redisReply *reply)
{
    struct got *g = ctx;
    g->n++;
    if (!reply) {
        g->nulls++;
        if (g->ev)
            g->ev->null_replies++;
        return;
    }
    free_copy(g->r);
    g->r = copy_reply(reply);
}

/* Queues a command of C strings. */
static int cmd(struct redis_client *rc, redis_reply_fn fn, void *ctx, int argc, ...)
{
    const char *argv[16];
    size_t argvlen[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc && i < 16; i++) {
        argv[i] = va_arg(ap, const char *);
        argvlen[i] = strlen(argv[i]);
    }
    va_end(ap);
    return redis_client_command(rc, argc, argv, argvlen, fn, ctx);
}

/* ---- pure: key slots ---------------------------------------------------------------------- */

static void test_key_slot(void **state)
{
    /* Values from a Redis 7 cluster's CLUSTER KEYSLOT. */
    static const struct {
        const char *key;
        unsigned slot;
    } cases[] = {
        {"foo", 12182},        {"123456789", 12739},     {"", 0},
        {"{user1000}.following", 3443}, {"foo{}{bar}", 8363}, {"{}", 15257},
        {"foo{{bar}}zap", 4015}, {"foo{bar}{zap}", 5061},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(redis_key_slot(cases[i].key, strlen(cases[i].key)), cases[i].slot);

    /* The first non-empty {...} is hashed; an empty one hashes the whole key. */
    unsigned user = redis_key_slot(L("user1000"));
    assert_int_equal(redis_key_slot(L("{user1000}.following")), user);
    assert_int_equal(redis_key_slot(L("{user1000}.followers")), user);
    assert_int_equal(redis_key_slot(L("foo{bar}{zap}")), redis_key_slot(L("bar")));
    assert_int_equal(redis_key_slot(L("foo{{bar}}zap")), redis_key_slot(L("{bar")));
    assert_int_not_equal(redis_key_slot(L("foo{}{bar}")), redis_key_slot(L("bar")));
    assert_int_equal(redis_key_slot(L("a{b}")), redis_key_slot(L("b")));
    assert_int_equal(redis_key_slot(L("\0{x}\0")), redis_key_slot(L("x")));
    assert_int_not_equal(redis_key_slot(L("{bar")), redis_key_slot(L("bar")));
    assert_int_not_equal(redis_key_slot(L("bar}")), redis_key_slot(L("bar")));
    /* The length counts, not a NUL. */
    assert_int_not_equal(redis_key_slot(L("foo\0")), redis_key_slot(L("foo")));
    assert_int_equal(redis_key_slot("foobar", 3), 12182);
    for (unsigned i = 0; i < 1000; i++) {
        char key[16];
        int n = snprintf(key, sizeof(key), "k%u", i * 7919u);
        assert_true(redis_key_slot(key, (size_t)n) < REDIS_SLOTS);
    }
}

/* ---- pure: URLs --------------------------------------------------------------------------- */

static void test_url_parse(void **state)
{
    static const struct {
        const char *url, *host;
        uint16_t port;
        const char *password;
    } good[] = {
        {"redis://127.0.0.1:6379", "127.0.0.1", 6379, ""},
        {"redis://localhost", "localhost", 6379, ""},
        {"redis://localhost/", "localhost", 6379, ""},
        {"redis://h:7000/0", "h", 7000, ""},
        {"redis://:secret@10.0.0.1:7000", "10.0.0.1", 7000, "secret"},
        {"redis://default:secret@h", "h", 6379, "secret"},
        {"redis://:p%40ss%3Aw%2fd%27@h:1", "h", 1, "p@ss:w/d'"},
        {"redis://:a:b@h", "h", 6379, "a:b"},
        {"redis://:a@b@h", "h", 6379, "a@b"},
        {"REDIS://H:65535", "H", 65535, ""},
        {"redis://[::1]:6380", "::1", 6380, ""},
        {"redis://[::1]", "::1", 6379, ""},
        {"redis://redis.example.com:16379", "redis.example.com", 16379, ""},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char host[64] = "x", pw[64] = "x";
        uint16_t port = 0;
        int rc = redis_url_parse(good[i].url, host, sizeof(host), &port, pw, sizeof(pw));
        if (rc != MQ_OK)
            fail_msg("%s: %s", good[i].url, mq_strerror(rc));
        assert_string_equal(host, good[i].host);
        assert_int_equal(port, good[i].port);
        assert_string_equal(pw, good[i].password);
    }

    static const char *const bad[] = {
        "",
        "http://h",
        "redis:/h",
        "rediss://h",
        "redis://",
        "redis://:6379",
        "redis://h:",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:123456",
        "redis://h:12a",
        "redis://h:-1",
        "redis://h/1",
        "redis://h/0/x",
        "redis://h?db=1",
        "redis://h#x",
        "redis://user:pw@h",
        "redis://pw@h",
        "redis://:@h",
        "redis://:pw@",
        "redis://:pw@:7000",
        "redis://:%00@h",
        "redis://:%4@h",
        "redis://:%zz@h",
        "redis://[::1",
        "redis://[::1]x",
        "redis://[::1]:",
        "redis://[]:6379",
        "redis://h h",
        "redis://h\t",
        "redis://a:b:c",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char host[64], pw[64];
        uint16_t port;
        if (redis_url_parse(bad[i], host, sizeof(host), &port, pw, sizeof(pw)) != MQ_EINVAL)
            fail_msg("'%s' parsed", bad[i]);
    }

    /* Buffer limits, with room for the NUL. */
    char host[4], pw[4];
    uint16_t port;
    assert_int_equal(redis_url_parse("redis://abc", host, sizeof(host), &port, pw, sizeof(pw)),
                     MQ_OK);
    assert_string_equal(host, "abc");
    assert_int_equal(redis_url_parse("redis://abcd", host, sizeof(host), &port, pw, sizeof(pw)),
                     MQ_EINVAL);
    assert_int_equal(redis_url_parse("redis://:abc@h", host, sizeof(host), &port, pw, sizeof(pw)),
                     MQ_OK);
    assert_string_equal(pw, "abc");
    assert_int_equal(redis_url_parse("redis://:a%41c@h", host, sizeof(host), &port, pw, sizeof(pw)),
                     MQ_OK);
    assert_string_equal(pw, "aAc");
    assert_int_equal(redis_url_parse("redis://:abcd@h", host, sizeof(host), &port, pw, sizeof(pw)),
                     MQ_EINVAL);
    /* No password buffer: fine without a password, refused with one. */
    assert_int_equal(redis_url_parse("redis://h:1", host, sizeof(host), &port, NULL, 0), MQ_OK);
    assert_int_equal(redis_url_parse("redis://:p@h", host, sizeof(host), &port, NULL, 0),
                     MQ_EINVAL);
    assert_int_equal(redis_url_parse(NULL, host, sizeof(host), &port, NULL, 0), MQ_EINVAL);
}

/* ---- pure: slot maps from hand-written RESP ------------------------------------------------- */

/* RESP text built piece by piece. */
struct resp {
    char buf[16384];
    size_t len;
};

static void resp_add(struct resp *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->buf + r->len, sizeof(r->buf) - r->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(r->buf) - r->len);
    r->len += (size_t)n;
}

/* One slot range owned by host:port, with an id and no replicas. */
static void resp_range(struct resp *r, int from, int to, const char *host, int port)
{
    resp_add(r, "*3\r\n:%d\r\n:%d\r\n*3\r\n$%zu\r\n%s\r\n:%d\r\n$2\r\nid\r\n", from, to,
             strlen(host), host, port);
}

/* The reply in r, parsed by hiredis's reader (freeReplyObject it). */
static redisReply *resp_parse(const struct resp *r)
{
    redisReader *reader = redisReaderCreate();
    assert_non_null(reader);
    assert_int_equal(redisReaderFeed(reader, r->buf, r->len), REDIS_OK);
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(reader, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(reader);
    return reply;
}

/* redis_slot_map_parse of RESP text. */
static int parse_map(const char *text, struct redis_slot_map *map)
{
    struct resp r = {.len = 0};
    resp_add(&r, "%s", text);
    redisReply *reply = resp_parse(&r);
    int rc = redis_slot_map_parse(reply, map);
    freeReplyObject(reply);
    return rc;
}

static void test_slot_map_parse(void **state)
{
    struct redis_slot_map *map = malloc(sizeof(*map));
    assert_non_null(map);

    /* Three masters, the second with a replica (not a master). */
    struct resp r = {.len = 0};
    resp_add(&r, "*3\r\n");
    resp_range(&r, 0, 5460, "127.0.0.1", 7000);
    resp_add(&r, "*4\r\n:5461\r\n:10922\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nid\r\n"
                 "*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$2\r\nr1\r\n");
    resp_range(&r, 10923, 16383, "10.0.0.3", 7002);
    redisReply *reply = resp_parse(&r);
    assert_int_equal(redis_slot_map_parse(reply, map), MQ_OK);
    freeReplyObject(reply);
    assert_int_equal(map->nmasters, 3);
    assert_string_equal(map->masters[0].host, "127.0.0.1");
    assert_int_equal(map->masters[0].port, 7000);
    assert_int_equal(map->masters[1].port, 7001);
    assert_string_equal(map->masters[2].host, "10.0.0.3");
    assert_int_equal(map->masters[2].port, 7002);
    assert_int_equal(map->owner[0], 0);
    assert_int_equal(map->owner[5460], 0);
    assert_int_equal(map->owner[5461], 1);
    assert_int_equal(map->owner[10922], 1);
    assert_int_equal(map->owner[10923], 2);
    assert_int_equal(map->owner[16383], 2);
    assert_int_equal(map->owner[redis_key_slot(L("foo"))], 2);

    /* A master with two ranges is one master; a gap is not covered. */
    r.len = 0;
    resp_add(&r, "*3\r\n");
    resp_range(&r, 0, 99, "a", 1);
    resp_range(&r, 200, 299, "b", 1);
    resp_range(&r, 300, 16383, "a", 1);
    reply = resp_parse(&r);
    assert_int_equal(redis_slot_map_parse(reply, map), MQ_OK);
    freeReplyObject(reply);
    assert_int_equal(map->nmasters, 2);
    assert_int_equal(map->owner[99], 0);
    assert_int_equal(map->owner[100], -1);
    assert_int_equal(map->owner[199], -1);
    assert_int_equal(map->owner[200], 1);
    assert_int_equal(map->owner[300], 0);
    /* Same host, other port: another master. */
    r.len = 0;
    resp_add(&r, "*2\r\n");
    resp_range(&r, 0, 0, "a", 1);
    resp_range(&r, 1, 1, "a", 2);
    reply = resp_parse(&r);
    assert_int_equal(redis_slot_map_parse(reply, map), MQ_OK);
    freeReplyObject(reply);
    assert_int_equal(map->nmasters, 2);

    /* Nothing assigned yet; an unknown endpoint (NIL host) reads as "". */
    assert_int_equal(parse_map("*0\r\n", map), MQ_OK);
    assert_int_equal(map->nmasters, 0);
    assert_int_equal(map->owner[0], -1);
    assert_int_equal(map->owner[16383], -1);
    assert_int_equal(parse_map("*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$-1\r\n:7000\r\n", map), MQ_OK);
    assert_int_equal(map->nmasters, 1);
    assert_string_equal(map->masters[0].host, "");

    /* 64 masters fit, 65 do not. */
    for (int n = 64; n <= 65; n++) {
        r.len = 0;
        resp_add(&r, "*%d\r\n", n);
        for (int i = 0; i < n; i++)
            resp_range(&r, i, i, "10.1.1.1", 7000 + i);
        reply = resp_parse(&r);
        assert_int_equal(redis_slot_map_parse(reply, map), n == 64 ? MQ_OK : MQ_EINVAL);
        freeReplyObject(reply);
    }
    assert_int_equal(redis_slot_map_parse(NULL, map), MQ_EINVAL);

    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
#define B(lit) {lit, sizeof(lit) - 1}
        B("-ERR This instance has cluster support disabled\r\n"),
        B(":1\r\n"),
        B("$3\r\nfoo\r\n"),
        B("*1\r\n:1\r\n"),                                          /* a range not an array */
        B("*1\r\n*2\r\n:0\r\n:1\r\n"),                              /* no node */
        B("*1\r\n*3\r\n:5\r\n:4\r\n*2\r\n$1\r\na\r\n:1\r\n"),      /* start > end */
        B("*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\na\r\n:1\r\n"),  /* past the last slot */
        B("*1\r\n*3\r\n:-1\r\n:4\r\n*2\r\n$1\r\na\r\n:1\r\n"),     /* negative */
        B("*1\r\n*3\r\n$1\r\n0\r\n:4\r\n*2\r\n$1\r\na\r\n:1\r\n"), /* start a string */
        B("*1\r\n*3\r\n:0\r\n:4\r\n$1\r\na\r\n"),                  /* node not an array */
        B("*1\r\n*3\r\n:0\r\n:4\r\n*1\r\n$1\r\na\r\n"),            /* node without a port */
        B("*1\r\n*3\r\n:0\r\n:4\r\n*2\r\n:1\r\n:1\r\n"),           /* host a number */
        B("*1\r\n*3\r\n:0\r\n:4\r\n*2\r\n$1\r\na\r\n:0\r\n"),      /* port 0 */
        B("*1\r\n*3\r\n:0\r\n:4\r\n*2\r\n$1\r\na\r\n:65536\r\n"),  /* port too large */
        B("*1\r\n*3\r\n:0\r\n:4\r\n*2\r\n$1\r\na\r\n$4\r\n7000\r\n"), /* port a string */
        B("*1\r\n*3\r\n:0\r\n:4\r\n*2\r\n$3\r\na\0b\r\n:1\r\n"),   /* a NUL in the host */
        B("*2\r\n*3\r\n:0\r\n:4\r\n*2\r\n$1\r\na\r\n:1\r\n$-1\r\n"), /* a NIL range */
#undef B
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct resp b = {.len = bad[i].n};
        memcpy(b.buf, bad[i].s, bad[i].n);
        reply = resp_parse(&b);
        if (redis_slot_map_parse(reply, map) != MQ_EINVAL)
            fail_msg("bad slot map %zu accepted", i);
        freeReplyObject(reply);
    }

    /* A host of 255 bytes fits, 256 do not. */
    char longhost[260];
    for (int len = 255; len <= 256; len++) {
        memset(longhost, 'h', (size_t)len);
        longhost[len] = '\0';
        r.len = 0;
        resp_add(&r, "*1\r\n");
        resp_range(&r, 0, 16383, longhost, 7000);
        reply = resp_parse(&r);
        assert_int_equal(redis_slot_map_parse(reply, map), len == 255 ? MQ_OK : MQ_EINVAL);
        freeReplyObject(reply);
    }
    free(map);
}

/* ---- pure and real: a cluster ---------------------------------------------------------------- */

/* A CLUSTER KEYSLOT reply against the slot expected. */
struct keyslot {
    unsigned expect;
    int *bad;
    int *done;
};

static void on_keyslot(void *ctx, const redisReply *r)
{
    struct keyslot *k = ctx;
    (*k->done)++;
    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != (long long)k->expect)
        (*k->bad)++;
}

static void test_cluster(void **state)
{
    snprintf(started[nstarted++], sizeof(started[0]), "c:cluster");
    redis_ctl("cluster-start", "cluster", NULL);
    long ports[3];
    char path[512];
    snprintf(path, sizeof(path), "%s/cluster/ports", tmp);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    for (int i = 0; i < 3; i++)
        assert_int_equal(fscanf(f, "%ld", &ports[i]), 1);
    fclose(f);

    struct harness h;
    h_init(&h);
    struct ev e;
    ev_open(&e, &h, "127.0.0.1", (uint16_t)ports[0], NULL, false, 0);
    assert_true(WAIT_FOR(&h, e.ups, 1, 5000));

    /* CLUSTER SLOTS: three masters on our ports, every slot covered. */
    struct got slots = {0};
    assert_int_equal(cmd(e.rc, got_reply, &slots, 2, "CLUSTER", "SLOTS"), MQ_OK);
    assert_true(WAIT_FOR(&h, slots.n, 1, 5000));
    struct redis_slot_map *map = malloc(sizeof(*map));
    assert_non_null(map);
    assert_int_equal(redis_slot_map_parse(slots.r, map), MQ_OK);
    free_copy(slots.r);
    assert_int_equal(map->nmasters, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(map->masters[i].host, "127.0.0.1");
        int found = 0;
        for (int j = 0; j < 3; j++)
            found += map->masters[i].port == ports[j];
        assert_int_equal(found, 1);
    }
    for (size_t s = 0; s < REDIS_SLOTS; s++)
        assert_true(map->owner[s] >= 0 && map->owner[s] < 3);

    /* Our slots are the server's, binary keys and hash tags included. */
    enum { NKEYS = 400 };
    static const char *const fixed[] = {"foo", "", "{user1000}.following", "foo{}{bar}", "{}",
                                        "foo{{bar}}zap", "foo{bar}{zap}", "{", "}", "}{",
                                        "{a}{b}", "x{", "x}y{z}"};
    struct keyslot *ks = calloc(NKEYS, sizeof(*ks));
    assert_non_null(ks);
    int bad = 0, done = 0;
    uint32_t seed = 12345;
    for (int i = 0; i < NKEYS; i++) {
        char key[40];
        size_t len;
        if ((size_t)i < sizeof(fixed) / sizeof(fixed[0])) {
            len = strlen(fixed[i]);
            memcpy(key, fixed[i], len);
        } else {
            len = 1 + (size_t)(i % 30);
            for (size_t j = 0; j < len; j++) {
                seed = seed * 1103515245u + 12345u;
                unsigned v = (seed >> 16) & 0xff;
                key[j] = (char)(v % 7 == 0 ? '{' : v % 7 == 1 ? '}' : (int)v); /* NULs too */
            }
        }
        ks[i] = (struct keyslot){redis_key_slot(key, len), &bad, &done};
        const char *argv[3] = {"CLUSTER", "KEYSLOT", key};
        size_t argvlen[3] = {7, 7, len};
        assert_int_equal(redis_client_command(e.rc, 3, argv, argvlen, on_keyslot, &ks[i]), MQ_OK);
    }
    assert_true(WAIT_FOR(&h, done, NKEYS, 10000));
    assert_int_equal(bad, 0);
    free(ks);

    /* Sharded pub/sub on the channel's master; another master answers MOVED, pushed. */
    static const char ch[] = "news{room7}";
    static const char payload[] = "sharded\0payload";
    int m = map->owner[redis_key_slot(L(ch))];
    uint16_t owner = map->masters[m].port, other = map->masters[(m + 1) % 3].port;
    struct ev sub, pub, wrong;
    ev_open(&sub, &h, "127.0.0.1", owner, NULL, true, 0);
    ev_open(&pub, &h, "127.0.0.1", owner, NULL, false, 0);
    ev_open(&wrong, &h, "127.0.0.1", other, NULL, true, 0);
    assert_true(WAIT_FOR(&h, sub.ups, 1, 5000));
    assert_true(WAIT_FOR(&h, pub.ups, 1, 5000));
    assert_true(WAIT_FOR(&h, wrong.ups, 1, 5000));
    assert_int_equal(cmd(sub.rc, NULL, NULL, 2, "SSUBSCRIBE", ch), MQ_OK);
    assert_int_equal(cmd(wrong.rc, NULL, NULL, 2, "SSUBSCRIBE", ch), MQ_OK);
    assert_true(WAIT_FOR(&h, sub.npush, 1, 5000));
    assert_true(is_push(sub.push[0], "ssubscribe", 3));
    assert_true(WAIT_FOR(&h, wrong.npush, 1, 5000));
    assert_int_equal(wrong.push[0]->type, REDIS_REPLY_ERROR);
    assert_memory_equal(wrong.push[0]->str, "MOVED", 5);
    const char *argv[3] = {"SPUBLISH", ch, payload};
    size_t argvlen[3] = {8, sizeof(ch) - 1, sizeof(payload) - 1};
    struct got n = {0};
    assert_int_equal(redis_client_command(pub.rc, 3, argv, argvlen, got_reply, &n), MQ_OK);
    assert_true(WAIT_FOR(&h, sub.npush, 2, 5000));
    assert_true(is_push(sub.push[1], "smessage", 3));
    assert_true(is_str(sub.push[1]->element[1], L(ch)));
    assert_true(is_str(sub.push[1]->element[2], L(payload)));
    assert_true(WAIT_FOR(&h, n.n, 1, 5000));
    assert_int_equal(n.r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(n.r->integer, 1);
    free_copy(n.r);

    ev_close(&sub);
    ev_close(&pub);
    ev_close(&wrong);
    ev_close(&e);
    free(map);
    h_finish(&h);
    redis_ctl("cluster-stop", "cluster", NULL);
}

/* ---- pipelining ---------------------------------------------------------------------------- */

enum pipe_kind { P_SET, P_GET, P_ERR, P_BIG_GET, P_PONG };

struct pipeline {
    int next;     /* the sequence number the next callback must carry */
    int done;     /* callbacks */
    int bad;      /* replies out of order or not as expected */
    const char *big;
    size_t big_len;
};

struct pipe_item {
    struct pipeline *p;
    int seq;
    enum pipe_kind kind;
    int i;
};

static void on_pipe(void *ctx, const redisReply *r)
{
    struct pipe_item *it = ctx;
    struct pipeline *p = it->p;
    if (it->seq != p->next)
        p->bad++;
    p->next = it->seq + 1;
    p->done++;
    if (!r) {
        p->bad++;
        return;
    }
    char want[32];
    int n;
    switch (it->kind) {
    case P_SET:
        p->bad += !(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0);
        break;
    case P_GET:
        n = snprintf(want, sizeof(want), "v%c%d", '\0', it->i);
        p->bad += !is_str(r, want, (size_t)n);
        break;
    case P_ERR:
        p->bad += r->type != REDIS_REPLY_ERROR;
        break;
    case P_BIG_GET:
        p->bad += !is_str(r, p->big, p->big_len);
        break;
    case P_PONG:
        p->bad += !(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0);
        break;
    }
}

/* Queues one command whose reply on_pipe checks. */
static void pipe_cmd(struct redis_client *rc, struct pipe_item *items, int *nitems,
                     struct pipeline *p, enum pipe_kind kind, int i, int argc, const char **argv,
                     const size_t *argvlen)
{
    struct pipe_item *it = &items[*nitems];
    *it = (struct pipe_item){p, *nitems, kind, i};
    (*nitems)++;
    assert_int_equal(redis_client_command(rc, argc, argv, argvlen, on_pipe, it), MQ_OK);
}

static void test_pipeline(void **state)
{
    uint16_t port = main_port();
    struct harness h;
    h_init(&h);
    struct ev e;
    ev_open(&e, &h, "127.0.0.1", port, NULL, false, 0);
    assert_true(WAIT_FOR(&h, e.ups, 1, 5000));

    enum { N = 5000, BIG = 2 << 20 };
    struct pipe_item *items = calloc(2 * N + 8, sizeof(*items));
    char *big = malloc(BIG);
    assert_non_null(items);
    assert_non_null(big);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)(i * 31 + (i >> 8));
    struct pipeline p = {.big = big, .big_len = BIG};
    int nitems = 0;
    assert_int_equal(cmd(e.rc, NULL, NULL, 2, "DEL", "pipe:counter"), MQ_OK);
    for (int i = 0; i < N; i++) {
        char key[32], val[32];
        int kn = snprintf(key, sizeof(key), "pipe:%d", i);
        int vn = snprintf(val, sizeof(val), "v%c%d", '\0', i);
        const char *set[3] = {"SET", key, val};
        size_t setlen[3] = {3, (size_t)kn, (size_t)vn};
        pipe_cmd(e.rc, items, &nitems, &p, P_SET, i, 3, set, setlen);
        const char *get[2] = {"GET", key};
        size_t getlen[2] = {3, (size_t)kn};
        pipe_cmd(e.rc, items, &nitems, &p, P_GET, i, 2, get, getlen);
        if (i == N / 2) {
            /* A reply nobody wants, and an error reply, in the middle. */
            assert_int_equal(cmd(e.rc, NULL, NULL, 2, "INCR", "pipe:counter"), MQ_OK);
            const char *incr[2] = {"INCR", "pipe:0"};
            size_t incrlen[2] = {4, 6};
            pipe_cmd(e.rc, items, &nitems, &p, P_ERR, 0, 2, incr, incrlen);
        }
        if (i == N / 4) {
            const char *bset[3] = {"SET", "pipe:big", big};
            size_t bsetlen[3] = {3, 8, BIG};
            const char *bget[2] = {"GET", "pipe:big"};
            size_t bgetlen[2] = {3, 8};
            pipe_cmd(e.rc, items, &nitems, &p, P_SET, 0, 3, bset, bsetlen);
            pipe_cmd(e.rc, items, &nitems, &p, P_BIG_GET, 0, 2, bget, bgetlen);
        }
    }
    /* Nothing has been written yet: all of it goes at the end of the turn. */
    assert_true(redis_client_pending_bytes(e.rc) > (size_t)BIG + 10 * N);
    uint64_t t0 = now_ms(&h);
    assert_true(WAIT_FOR(&h, p.done, nitems, 30000));
    print_message("pipeline: %d replies in %llu ms\n", nitems,
                  (unsigned long long)(now_ms(&h) - t0));
    assert_int_equal(p.bad, 0);
    assert_int_equal(redis_client_pending_bytes(e.rc), 0);
    struct got counter = {0};
    assert_int_equal(cmd(e.rc, got_reply, &counter, 2, "GET", "pipe:counter"), MQ_OK);
    assert_true(WAIT_FOR(&h, counter.n, 1, 5000));
    assert_true(is_str(counter.r, L("1")));
    free_copy(counter.r);

    /* A 16 MiB command is still being written after its turn; what is queued
     * meanwhile waits in the other buffer and is answered in order. */
    enum { HUGE = 16 << 20 };
    char *huge = calloc(1, HUGE);
    assert_non_null(huge);
    struct pipeline q = {.big = huge, .big_len = HUGE};
    nitems = 0;
    const char *hset[3] = {"SET", "pipe:huge", huge};
    size_t hsetlen[3] = {3, 9, HUGE};
    pipe_cmd(e.rc, items, &nitems, &q, P_SET, 0, 3, hset, hsetlen);
    uv_run(&h.loop, UV_RUN_NOWAIT);
    size_t inflight = redis_client_pending_bytes(e.rc);
    assert_true(inflight > 0 && inflight <= (size_t)HUGE + 64);
    const char *ping[1] = {"PING"};
    size_t pinglen[1] = {4};
    const char *hget[2] = {"GET", "pipe:huge"};
    size_t hgetlen[2] = {3, 9};
    pipe_cmd(e.rc, items, &nitems, &q, P_BIG_GET, 0, 2, hget, hgetlen);
    pipe_cmd(e.rc, items, &nitems, &q, P_PONG, 0, 1, ping, pinglen);
    assert_true(redis_client_pending_bytes(e.rc) > inflight);
    assert_true(WAIT_FOR(&h, q.done, nitems, 30000));
    assert_int_equal(q.bad, 0);
    assert_int_equal(redis_client_pending_bytes(e.rc), 0);

    ev_close(&e);
    h_finish(&h);
    free(huge);
    free(big);
    free(items);
}

/* A command queued in a timer callback, with nothing else to wake the
 * loop: it must go out at the end of that turn, not at the deadline. */
struct late {
    struct ev *e;
    struct got g;
    uint64_t queued_ms;
};

static void on_late_timer(uv_timer_t *t)
{
    struct late *l = t->data;
    l->queued_ms = uv_now(t->loop);
    assert_int_equal(cmd(l->e->rc, got_reply, &l->g, 1, "PING"), MQ_OK);
}

static void test_queue_from_timer(void **state)
{
    uint16_t port = main_port();
    struct harness h;
    h_init(&h);
    struct ev e;
    ev_open(&e, &h, "127.0.0.1", port, NULL, false, 0);
    assert_true(WAIT_FOR(&h, e.ups, 1, 5000));
    struct late l = {.e = &e};
    uv_timer_t t;
    uv_timer_init(&h.loop, &t);
    t.data = &l;
    uv_timer_start(&t, on_late_timer, 50, 0);
    assert_true(WAIT_FOR(&h, l.g.n, 1, 3000));
    uint64_t took = now_ms(&h) - l.queued_ms;
    assert_true(took < 1000);
    assert_int_equal(l.g.r->type, REDIS_REPLY_STATUS);
    free_copy(l.g.r);
    uv_close((uv_handle_t *)&t, NULL);
    ev_close(&e);
    h_finish(&h);
}

/* ---- subscriber mode ------------------------------------------------------------------------- */

static void test_subscriber(void **state)
{
    uint16_t port = main_port();
    struct harness h;
    h_init(&h);
    struct ev sub, pub;
    ev_open(&sub, &h, "127.0.0.1", port, NULL, true, 0);
    ev_open(&pub, &h, "127.0.0.1", port, NULL, false, 0);
    assert_true(WAIT_FOR(&h, sub.ups, 1, 5000));
    assert_true(WAIT_FOR(&h, pub.ups, 1, 5000));

    /* No reply callbacks in subscriber mode. */
    struct got g = {0};
    assert_int_equal(cmd(sub.rc, got_reply, &g, 2, "SUBSCRIBE", "x"), MQ_EINVAL);

    assert_int_equal(cmd(sub.rc, NULL, NULL, 2, "SUBSCRIBE", "sub:ch"), MQ_OK);
    assert_int_equal(cmd(sub.rc, NULL, NULL, 2, "PSUBSCRIBE", "sub:p.*"), MQ_OK);
    assert_int_equal(cmd(sub.rc, NULL, NULL, 2, "SSUBSCRIBE", "sub:shard"), MQ_OK);
    assert_true(WAIT_FOR(&h, sub.npush, 3, 5000));
    assert_true(is_push(sub.push[0], "subscribe", 3));
    assert_true(is_str(sub.push[0]->element[1], L("sub:ch")));
    assert_int_equal(sub.push[0]->element[2]->integer, 1);
    assert_true(is_push(sub.push[1], "psubscribe", 3));
    assert_true(is_push(sub.push[2], "ssubscribe", 3));
    assert_true(is_str(sub.push[2]->element[1], L("sub:shard")));
    ev_clear_push(&sub);

    static const char payload[] = "bin\0ary\0\xff\x01 payload";
    const char *argv[3] = {"PUBLISH", "sub:ch", payload};
    size_t argvlen[3] = {7, 6, sizeof(payload) - 1};
    assert_int_equal(redis_client_command(pub.rc, 3, argv, argvlen, got_reply, &g), MQ_OK);
    argv[1] = "sub:p.1";
    argvlen[1] = 7;
    assert_int_equal(redis_client_command(pub.rc, 3, argv, argvlen, NULL, NULL), MQ_OK);
    argv[0] = "SPUBLISH";
    argvlen[0] = 8;
    argv[1] = "sub:shard";
    argvlen[1] = 9;
    assert_int_equal(redis_client_command(pub.rc, 3, argv, argvlen, NULL, NULL), MQ_OK);
    assert_true(WAIT_FOR(&h, sub.npush, 3, 5000));
    assert_true(WAIT_FOR(&h, g.n, 1, 5000));
    assert_int_equal(g.r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(g.r->integer, 1); /* one subscriber got it */
    free_copy(g.r);

    assert_true(is_push(sub.push[0], "message", 3));
    assert_true(is_str(sub.push[0]->element[1], L("sub:ch")));
    assert_true(is_str(sub.push[0]->element[2], payload, sizeof(payload) - 1));
    assert_true(is_push(sub.push[1], "pmessage", 4));
    assert_true(is_str(sub.push[1]->element[1], L("sub:p.*")));
    assert_true(is_str(sub.push[1]->element[2], L("sub:p.1")));
    assert_true(is_str(sub.push[1]->element[3], payload, sizeof(payload) - 1));
    assert_true(is_push(sub.push[2], "smessage", 3));
    assert_true(is_str(sub.push[2]->element[1], L("sub:shard")));
    assert_true(is_str(sub.push[2]->element[2], payload, sizeof(payload) - 1));
    ev_clear_push(&sub);

    /* Errors are pushed too; unsubscribing confirms. */
    assert_int_equal(cmd(sub.rc, NULL, NULL, 2, "GET", "x"), MQ_OK);
    assert_int_equal(cmd(sub.rc, NULL, NULL, 2, "UNSUBSCRIBE", "sub:ch"), MQ_OK);
    assert_true(WAIT_FOR(&h, sub.npush, 2, 5000));
    assert_int_equal(sub.push[0]->type, REDIS_REPLY_ERROR);
    assert_true(is_push(sub.push[1], "unsubscribe", 3));

    ev_close(&sub);
    ev_close(&pub);
    h_finish(&h);
}

/* ---- outages ---------------------------------------------------------------------------------- */

static void test_outage(void **state)
{
    uint16_t port = server_start("outage", NULL);
    struct harness h;
    h_init(&h);
    struct ev e;
    ev_open(&e, &h, "127.0.0.1", port, NULL, false, 0);
    assert_true(WAIT_FOR(&h, e.ups, 1, 5000));

    /* A command waiting for its reply when the server dies. */
    struct got blpop = {.ev = &e};
    assert_int_equal(cmd(e.rc, got_reply, &blpop, 3, "BLPOP", "outage:nothing", "0"), MQ_OK);
    run_for(&h, 100);
    assert_int_equal(blpop.n, 0);
    redis_ctl("kill", "outage", NULL);
    assert_true(WAIT_FOR(&h, e.downs, 1, 5000));
    assert_int_equal(blpop.nulls, 1);
    assert_int_equal(e.nulls_at_down, 1); /* failed before `down` */
    assert_true(e.why[0] != '\0');
    assert_false(redis_client_is_up(e.rc));
    struct got g = {0};
    assert_int_equal(cmd(e.rc, got_reply, &g, 1, "PING"), MQ_EIO);
    assert_int_equal(redis_client_pending_bytes(e.rc), 0);

    /* Failed retries are not reported again. */
    run_for(&h, 1200);
    assert_int_equal(e.downs, 1);
    assert_int_equal(e.ups, 1);
    assert_int_equal(cmd(e.rc, got_reply, &g, 1, "PING"), MQ_EIO);

    /* The server is back on its port: up again, and working. */
    uint64_t t0 = now_ms(&h);
    redis_ctl("start-again", "outage", NULL);
    uint64_t t1 = now_ms(&h);
    assert_true(WAIT_FOR(&h, e.ups, 2, 8000));
    print_message("outage: server restarted in %llu ms, client up %llu ms later\n",
                  (unsigned long long)(t1 - t0), (unsigned long long)(now_ms(&h) - t1));
    assert_int_equal(e.downs, 1);
    assert_int_equal(cmd(e.rc, got_reply, &g, 3, "SET", "outage:k", "v"), MQ_OK);
    assert_true(WAIT_FOR(&h, g.n, 1, 5000));
    assert_int_equal(g.r->type, REDIS_REPLY_STATUS);

    /* A clean shutdown (the server closes the connection): the same. */
    redis_ctl("stop", "outage", NULL);
    assert_true(WAIT_FOR(&h, e.downs, 2, 5000));
    assert_int_equal(cmd(e.rc, got_reply, &g, 1, "PING"), MQ_EIO);
    redis_ctl("start-again", "outage", NULL);
    assert_true(WAIT_FOR(&h, e.ups, 3, 8000));
    assert_int_equal(cmd(e.rc, got_reply, &g, 2, "GET", "outage:k"), MQ_OK);
    assert_true(WAIT_FOR(&h, g.n, 2, 5000));
    assert_int_equal(g.r->type, REDIS_REPLY_NIL); /* no persistence */
    free_copy(g.r);

    ev_close(&e);
    h_finish(&h);
    redis_ctl("stop", "outage", NULL);
}

/* ---- AUTH ------------------------------------------------------------------------------------- */

static void test_auth(void **state)
{
    uint16_t port = server_start("auth", "--requirepass 'pw s3cret'");
    struct harness h;
    h_init(&h);
    struct ev good, none, bad;
    ev_open(&good, &h, "127.0.0.1", port, "pw s3cret", false, 0);
    ev_open(&none, &h, "127.0.0.1", port, NULL, false, 0);
    ev_open(&bad, &h, "127.0.0.1", port, "wrong", false, 0);

    assert_true(WAIT_FOR(&h, good.ups, 1, 5000));
    struct got g = {0};
    assert_int_equal(cmd(good.rc, got_reply, &g, 3, "SET", "auth:k", "v"), MQ_OK);
    assert_true(WAIT_FOR(&h, g.n, 1, 5000));
    assert_int_equal(g.r->type, REDIS_REPLY_STATUS);

    /* Without a password the connection is up, and Redis refuses. */
    assert_true(WAIT_FOR(&h, none.ups, 1, 5000));
    assert_int_equal(cmd(none.rc, got_reply, &g, 1, "PING"), MQ_OK);
    assert_true(WAIT_FOR(&h, g.n, 2, 5000));
    assert_int_equal(g.r->type, REDIS_REPLY_ERROR);
    assert_memory_equal(g.r->str, "NOAUTH", 6);
    free_copy(g.r);

    /* A wrong password: down once, never up, retried. */
    assert_true(WAIT_FOR(&h, bad.downs, 1, 5000));
    assert_non_null(strstr(bad.why, "AUTH refused"));
    assert_false(redis_client_is_up(bad.rc));
    assert_int_equal(cmd(bad.rc, NULL, NULL, 1, "PING"), MQ_EIO);
    run_for(&h, 1000);
    assert_int_equal(bad.downs, 1);
    assert_int_equal(bad.ups, 0);
    assert_int_equal(good.downs, 0);

    ev_close(&good);
    ev_close(&none);
    ev_close(&bad);
    h_finish(&h);
}

/* ---- max_output --------------------------------------------------------------------------------- */

static void test_max_output(void **state)
{
    uint16_t port = main_port();
    struct harness h;
    h_init(&h);
    struct ev e;
    ev_open(&e, &h, "127.0.0.1", port, NULL, false, 1000);
    assert_true(WAIT_FOR(&h, e.ups, 1, 5000));
    char val[100];
    memset(val, 'x', sizeof(val));
    const char *argv[3] = {"SET", "full:k", val};
    size_t argvlen[3] = {3, 6, sizeof(val)};
    struct got g = {0};
    int n = 0, rc;
    size_t before = 0, at;
    for (;;) {
        at = redis_client_pending_bytes(e.rc);
        rc = redis_client_command(e.rc, 3, argv, argvlen, got_reply, &g);
        if (rc != MQ_OK)
            break;
        before = at;
        n++;
        assert_true(n < 100);
    }
    assert_int_equal(rc, MQ_EFULL);
    assert_true(at >= 1000);
    assert_true(before < 1000);
    assert_int_equal(cmd(e.rc, got_reply, &g, 1, "PING"), MQ_EFULL);
    /* Written and answered: room again. */
    assert_true(WAIT_FOR(&h, g.n, n, 5000));
    assert_int_equal(g.nulls, 0);
    assert_int_equal(redis_client_pending_bytes(e.rc), 0);
    assert_int_equal(redis_client_command(e.rc, 3, argv, argvlen, got_reply, &g), MQ_OK);
    assert_true(WAIT_FOR(&h, g.n, n + 1, 5000));
    free_copy(g.r);
    ev_close(&e);
    h_finish(&h);
}

/* ---- connecting -------------------------------------------------------------------------------- */

/* A loopback port bound to fd (returned) and not listening: refused. */
static int refused_port(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void test_connect(void **state)
{
    uint16_t port = main_port();
    struct harness h;
    h_init(&h);

    /* A name (resolved on the thread pool) and an IPv6-looking name. */
    struct ev byname;
    ev_open(&byname, &h, "localhost", port, NULL, false, 0);
    char name[64];
    snprintf(name, sizeof(name), "localhost:%u", (unsigned)port);
    assert_string_equal(redis_client_name(byname.rc), name);
    assert_true(WAIT_FOR(&h, byname.ups, 1, 5000));
    struct got g = {0};
    assert_int_equal(cmd(byname.rc, got_reply, &g, 1, "PING"), MQ_OK);
    assert_true(WAIT_FOR(&h, g.n, 1, 5000));
    free_copy(g.r);

    /* Refused: down once (not again for each retry), never up. */
    uint16_t closed;
    int fd = refused_port(&closed);
    struct ev refused;
    ev_open(&refused, &h, "127.0.0.1", closed, NULL, false, 0);
    assert_int_equal(cmd(refused.rc, NULL, NULL, 1, "PING"), MQ_EIO);
    assert_true(WAIT_FOR(&h, refused.downs, 1, 3000));
    assert_non_null(strstr(refused.why, "refused"));
    run_for(&h, 800);
    assert_int_equal(refused.downs, 1);
    assert_int_equal(refused.ups, 0);
    assert_false(redis_client_is_up(refused.rc));

    /* A bad configuration. */
    struct redis_client_config cfg = {NULL, 1, NULL, false, 0};
    struct redis_client_callbacks cb = {NULL, NULL, NULL, NULL};
    assert_null(redis_client_new(&h.loop, &cfg, &cb));
    cfg.host = "";
    assert_null(redis_client_new(&h.loop, &cfg, &cb));

    ev_close(&byname);
    ev_close(&refused);
    h_finish(&h);
    close(fd);
}

/* A server of our own: accepts, sends `greeting` to each connection, reads
 * and drops what it gets. */
#define FAKE_MAX 32
struct fake {
    uv_tcp_t listener;
    uv_tcp_t conns[FAKE_MAX];
    uv_write_t writes[FAKE_MAX];
    int nconns;
    const char *greeting;
    size_t greeting_len;
    uint16_t port;
    char rbuf[4096];
};

static void fake_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    struct fake *f = hd->data;
    *buf = uv_buf_init(f->rbuf, sizeof(f->rbuf));
}

static void fake_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    if (nread < 0)
        uv_read_stop(s);
}

static void fake_on_conn(uv_stream_t *srv, int status)
{
    struct fake *f = srv->data;
    if (status < 0 || f->nconns == FAKE_MAX)
        return;
    uv_tcp_t *c = &f->conns[f->nconns];
    uv_tcp_init(srv->loop, c);
    c->data = f;
    f->nconns++;
    if (uv_accept(srv, (uv_stream_t *)c) != 0)
        return;
    if (f->greeting_len) {
        uv_buf_t b = uv_buf_init((char *)f->greeting, (unsigned)f->greeting_len);
        uv_write(&f->writes[f->nconns - 1], (uv_stream_t *)c, &b, 1, NULL);
    }
    uv_read_start((uv_stream_t *)c, fake_alloc, fake_read);
}

static void fake_start(struct fake *f, struct harness *h, const char *greeting, size_t len)
{
    memset(f, 0, sizeof(*f));
    f->greeting = greeting;
    f->greeting_len = len;
    uv_tcp_init(&h->loop, &f->listener);
    f->listener.data = f;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_bind(&f->listener, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&f->listener, 16, fake_on_conn), 0);
    int len2 = sizeof(sa);
    assert_int_equal(uv_tcp_getsockname(&f->listener, (struct sockaddr *)&sa, &len2), 0);
    f->port = ntohs(sa.sin_port);
}

static void fake_stop(struct fake *f)
{
    for (int i = 0; i < f->nconns; i++)
        uv_close((uv_handle_t *)&f->conns[i], NULL);
    uv_close((uv_handle_t *)&f->listener, NULL);
}

static void test_connect_timeout(void **state)
{
    /* TCP connects, AUTH goes out, no answer ever comes. */
    struct harness h;
    h_init(&h);
    struct fake f;
    fake_start(&f, &h, NULL, 0);
    struct ev e;
    uint64_t t0 = now_ms(&h);
    ev_open(&e, &h, "127.0.0.1", f.port, "pw", false, 0);
    assert_true(WAIT_FOR(&h, e.downs, 1, 4000));
    uint64_t took = now_ms(&h) - t0;
    print_message("connect timeout: down after %llu ms (%s)\n", (unsigned long long)took, e.why);
    assert_true(took >= 1900 && took < 3500);
    assert_non_null(strstr(e.why, "AUTH"));
    assert_int_equal(e.ups, 0);
    assert_true(f.nconns >= 1);
    ev_close(&e);
    fake_stop(&f);
    h_finish(&h);
}

static void test_bad_server(void **state)
{
    /* (a command waiting would take the greeting "+OK" for its reply) */
    static const struct {
        const char *greeting, *why;
        bool subscriber, ping;
    } cases[] = {
        {"@what is this\r\n", "protocol error", false, true},
        {"+OK\r\n", "a reply no command asked for", false, false},
        {"*1\r\n!\r\n", "protocol error", true, false},
    };
    enum { NCASES = sizeof(cases) / sizeof(cases[0]) };
    struct harness h;
    h_init(&h);
    struct fake *f = calloc(NCASES, sizeof(*f));
    assert_non_null(f);
    struct ev e[NCASES];
    struct got g[NCASES];
    int rc[NCASES];
    for (size_t i = 0; i < NCASES; i++) {
        fake_start(&f[i], &h, cases[i].greeting, strlen(cases[i].greeting));
        ev_open(&e[i], &h, "127.0.0.1", f[i].port, NULL, cases[i].subscriber, 0);
        g[i] = (struct got){.ev = &e[i]};
    }
    for (size_t i = 0; i < NCASES; i++) {
        assert_true(WAIT_FOR(&h, e[i].ups, 1, 3000));
        /* (the greeting may have ended the connection already) */
        rc[i] = cases[i].ping ? cmd(e[i].rc, got_reply, &g[i], 1, "PING") : MQ_EIO;
        assert_true(rc[i] == MQ_OK || rc[i] == MQ_EIO);
    }
    for (size_t i = 0; i < NCASES; i++) {
        assert_true(WAIT_FOR(&h, e[i].downs, 1, 3000));
        assert_non_null(strstr(e[i].why, cases[i].why));
        assert_int_equal(g[i].nulls, rc[i] == MQ_OK ? 1 : 0);
    }
    /* Each retry connects (`up`) and fails (`down`): the pairs match, and
     * retries back off (100, 200, 400, 800 ms: 4 connections in 1.2 s). */
    run_for(&h, 1200);
    for (size_t i = 0; i < NCASES; i++) {
        print_message("bad server %zu: %d connections in 1.2 s, %d ups, %d downs\n", i,
                      f[i].nconns, e[i].ups, e[i].downs);
        assert_true(f[i].nconns >= 3 && f[i].nconns <= 6);
        assert_true(e[i].ups >= f[i].nconns - 1 && e[i].ups <= f[i].nconns);
        assert_true(e[i].downs >= e[i].ups - 1 && e[i].downs <= e[i].ups);
        ev_close(&e[i]);
        fake_stop(&f[i]);
    }
    h_finish(&h);
    free(f);
}

/* ---- closing ----------------------------------------------------------------------------------- */

/* Closes the client from a reply callback. */
struct closer {
    struct ev *e;
    int calls, nulls;
};

static void close_on_reply(void *ctx, const redisReply *r)
{
    struct closer *c = ctx;
    c->calls++;
    if (!r) {
        c->nulls++;
        return;
    }
    redis_client_close(c->e->rc);
    c->e->rc = NULL;
}

static void test_close(void **state)
{
    uint16_t port = main_port();
    struct harness h;
    h_init(&h);

    /* Never started; started and closed at once (connecting, resolving). */
    struct ev idle, connecting, resolving;
    memset(&idle, 0, sizeof(idle));
    struct redis_client_config cfg = {"127.0.0.1", port, NULL, false, 0};
    struct redis_client_callbacks cb = {&idle, ev_up, ev_down, ev_push};
    idle.rc = redis_client_new(&h.loop, &cfg, &cb);
    assert_non_null(idle.rc);
    char name[64];
    snprintf(name, sizeof(name), "127.0.0.1:%u", (unsigned)port);
    assert_string_equal(redis_client_name(idle.rc), name);
    cfg.host = "::1";
    struct redis_client *v6 = redis_client_new(&h.loop, &cfg, &cb);
    assert_non_null(v6);
    snprintf(name, sizeof(name), "[::1]:%u", (unsigned)port);
    assert_string_equal(redis_client_name(v6), name);
    redis_client_close(v6);
    ev_open(&connecting, &h, "127.0.0.1", port, NULL, false, 0);
    ev_open(&resolving, &h, "localhost", port, "pw", true, 0);
    ev_close(&idle);
    ev_close(&connecting);
    ev_close(&resolving);
    run_for(&h, 100);
    assert_int_equal(connecting.ups + connecting.downs + resolving.ups + resolving.downs, 0);

    /* Up, with three commands waiting: all fail before close returns, no `down`. */
    struct ev e;
    ev_open(&e, &h, "127.0.0.1", port, NULL, false, 0);
    assert_true(WAIT_FOR(&h, e.ups, 1, 5000));
    struct got g = {.ev = &e};
    for (int i = 0; i < 3; i++)
        assert_int_equal(cmd(e.rc, got_reply, &g, 1, "PING"), MQ_OK);
    ev_close(&e);
    assert_int_equal(g.nulls, 3);
    run_for(&h, 100);
    assert_int_equal(g.n, 3);
    assert_int_equal(e.downs, 0);

    /* Closed in a reply callback: the replies after it get NULL. */
    ev_open(&e, &h, "127.0.0.1", port, NULL, false, 0);
    assert_true(WAIT_FOR(&h, e.ups, 1, 5000));
    struct closer c = {.e = &e};
    for (int i = 0; i < 4; i++)
        assert_int_equal(cmd(e.rc, close_on_reply, &c, 1, "PING"), MQ_OK);
    assert_true(WAIT_FOR(&h, c.calls, 4, 5000));
    assert_int_equal(c.nulls, 3);
    run_for(&h, 100);
    assert_int_equal(c.calls, 4);
    assert_null(e.rc);

    /* Closed in `up` and in `down`. */
    struct ev in_up, in_down;
    ev_open(&in_up, &h, "127.0.0.1", port, NULL, false, 0);
    in_up.close_in_up = true;
    uint16_t closed;
    int fd = refused_port(&closed);
    ev_open(&in_down, &h, "127.0.0.1", closed, NULL, false, 0);
    in_down.close_in_down = true;
    assert_true(WAIT_FOR(&h, in_up.ups, 1, 5000));
    assert_true(WAIT_FOR(&h, in_down.downs, 1, 5000));
    run_for(&h, 300);
    assert_int_equal(in_up.ups, 1);
    assert_int_equal(in_up.downs, 0);
    assert_int_equal(in_down.downs, 1);
    assert_null(in_up.rc);
    assert_null(in_down.rc);

    /* Closed while down, between retries. */
    struct ev waiting;
    ev_open(&waiting, &h, "127.0.0.1", closed, NULL, true, 0);
    assert_true(WAIT_FOR(&h, waiting.downs, 1, 5000));
    ev_close(&waiting);

    h_finish(&h);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_slot),
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_slot_map_parse),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_queue_from_timer),
        cmocka_unit_test(test_subscriber),
        cmocka_unit_test(test_max_output),
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_bad_server),
        cmocka_unit_test(test_close),
        cmocka_unit_test(test_outage),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_cluster),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
