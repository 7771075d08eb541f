/*
 * http_api.c - the HTTP API's daemon and the life of one request (see
 * http_api.h); the endpoints themselves are in http_routes.c.
 *
 * libmicrohttpd runs one internal thread (epoll on Linux, so descriptor
 * numbers above FD_SETSIZE are fine) that accepts, reads, calls
 * on_request() and writes. Handlers may block on the database: the API is
 * off the MQTT hot path, and its own connection is nobody else's.
 *
 * A request's life, as libmicrohttpd calls on_request():
 * 1. headers read: a struct http_req is made; a Content-Length over
 *    http.max_body_bytes is answered 413 at once (before a client that
 *    sent "Expect: 100-continue" sends the body);
 * 2. body pieces: appended to req->body while the total stays within the
 *    limit; past it the body is dropped, the 413 is queued, and the rest
 *    of the upload is discarded unread into memory;
 * 3. end of body: the bearer is checked, the path routed (404 unknown
 *    path, 405 known path and wrong method, 400 invalid {name}), the
 *    handler fills the answer, and it is queued;
 * 4. on_completed() frees the request.
 *
 * Limits: at most HTTP_MAX_CONNECTIONS connections, HTTP_TIMEOUT_S seconds
 * of silence, HTTP_MEMORY_LIMIT bytes of buffer per connection; request
 * headers that do not fit are answered by libmicrohttpd itself (431, or
 * 414 for a request line that is too long) and never reach a handler.
 *
 * Not here: TLS (put a proxy in front), keep-alive tuning, HTTP/2.
 */
#include "http_api.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "broker.h"
#include "chat.h"
#include "cluster.h"
#include "db.h"
#include "errors.h"
#include "http_internal.h"
#include "http_static.h"
#include "jwt.h"
#include "log.h"
#include "mqtt_codec.h"
#include "redis_recent.h"
#include "storage.h"

#define HTTP_MAX_CONNECTIONS 256
#define HTTP_TIMEOUT_S       30
#define HTTP_MEMORY_LIMIT    (32 * 1024) /* per connection: the request headers must fit */

#define JSON_TYPE "application/json"

/* ---- answers ------------------------------------------------------------------------------- */

struct jbuf *http__json(struct http_req *r, unsigned status)
{
    jbuf_reset(&r->out);
    r->status = status;
    r->content_type = JSON_TYPE;
    return &r->out;
}

void http__error(struct http_req *r, unsigned status, const char *code, const char *what)
{
    struct jbuf *o = http__json(r, status);
    jbuf_puts(o, "{\"error\":");
    jbuf_str(o, what, strlen(what));
    jbuf_puts(o, ",\"code\":");
    jbuf_str(o, code, strlen(code));
    jbuf_putc(o, '}');
}

void http__db_failed(struct http_req *r, int rc)
{
    if (rc == MQ_ENOMEM) {
        http__error(r, 500, "internal", "out of memory");
        return;
    }
    log_warn("http: database: %s", db_error(r->api->db));
    if (rc == MQ_EAGAIN || rc == MQ_EIO)
        r->api->db_stale = true;
    http__error(r, 503, "unavailable", "the database does not answer");
}

bool http__authed(struct http_req *r)
{
    if (r->auth == HTTP_AUTH_OK)
        return true;
    http__error(r, 401, "unauthorized",
                r->auth == HTTP_AUTH_NONE ? "a bearer token is required"
                                          : "the bearer token is not valid");
    return false;
}

bool http__is_service(const struct http_req *r)
{
    return r->auth == HTTP_AUTH_OK && r->role == CHAT_ROLE_SERVICE;
}

const char *http__header(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http__query(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Queues r's answer. Its bytes pass to libmicrohttpd, which frees them. */
static enum MHD_Result send_answer(struct http_req *r)
{
    static char oom_body[] = "{\"error\":\"out of memory\",\"code\":\"internal\"}";
    size_t len = 0;
    char *p = jbuf_take(&r->out, &len);
    struct MHD_Response *resp;
    unsigned status = r->status;
    if (p) {
        resp = MHD_create_response_from_buffer(len, p, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(p);
    } else {
        status = 500;
        r->content_type = JSON_TYPE;
        resp =
            MHD_create_response_from_buffer(sizeof(oom_body) - 1, oom_body, MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->allow[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->answered = ret == MHD_YES;
    return ret;
}

/* ---- reading JSON bodies ------------------------------------------------------------------- */

cJSON *http__body(struct http_req *r, bool required)
{
    const char *p = r->body ? r->body : "";
    size_t len = r->body_len, i = 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (i == len) {
        if (required) {
            http__error(r, 400, "bad_json", "a JSON object is required");
            return NULL;
        }
        cJSON *o = cJSON_CreateObject();
        if (!o)
            http__error(r, 500, "internal", "out of memory");
        return o;
    }
    if (mqtt_utf8_check(p, len) != MQ_OK) {
        http__error(r, 400, "bad_json", "the body is not valid UTF-8");
        return NULL;
    }
    if (json_has_nul_escape(p, len)) { /* cJSON would cut the string there: "a\u0000b" -> "a" */
        http__error(r, 400, "bad_json", "NUL characters (\\u0000) are not accepted");
        return NULL;
    }
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(p, len, &end, false);
    if (o && end) {
        size_t used = (size_t)(end - p);
        while (used < len &&
               (p[used] == ' ' || p[used] == '\t' || p[used] == '\r' || p[used] == '\n'))
            used++;
        if (used != len) {
            cJSON_Delete(o);
            o = NULL;
        }
    }
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        http__error(r, 400, "bad_json", "the body is not a JSON object");
        return NULL;
    }
    return o;
}

/* The member key of o; NULL when absent or JSON null. */
static const cJSON *member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* Answers 400 bad_request "'key' must be ...". */
static void bad_member(struct http_req *r, const char *key, const char *what)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "'%s' %s", key, what);
    http__error(r, 400, "bad_request", msg);
}

bool http__member_str(struct http_req *r, const cJSON *o, const char *key, bool required,
                      const char **out, size_t *len)
{
    const cJSON *v = member(o, key);
    *out = NULL;
    *len = 0;
    if (!v) {
        if (required)
            bad_member(r, key, "is required");
        return !required;
    }
    if (!cJSON_IsString(v) || !v->valuestring) {
        bad_member(r, key, "must be a string");
        return false;
    }
    *out = v->valuestring;
    *len = strlen(v->valuestring);
    return true;
}

bool http__member_int(struct http_req *r, const cJSON *o, const char *key, int64_t min, int64_t max,
                      int64_t *out)
{
    const cJSON *v = member(o, key);
    if (!v)
        return true;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1.0;
    /* 2^53: every whole number up to it is exact in a double. */
    if (!cJSON_IsNumber(v) || d != (double)(int64_t)d || d < -9007199254740992.0 ||
        d > 9007199254740992.0 || (int64_t)d < min || (int64_t)d > max) {
        char what[96];
        snprintf(what, sizeof(what), "must be a whole number from %lld to %lld", (long long)min,
                 (long long)max);
        bad_member(r, key, what);
        return false;
    }
    *out = (int64_t)d;
    return true;
}

bool http__member_bool(struct http_req *r, const cJSON *o, const char *key, bool *out)
{
    const cJSON *v = member(o, key);
    if (!v)
        return true;
    if (!cJSON_IsBool(v)) {
        bad_member(r, key, "must be true or false");
        return false;
    }
    *out = cJSON_IsTrue(v);
    return true;
}

/* ---- the bearer ---------------------------------------------------------------------------- */

/* a[0..alen) == b[0..blen), in a time that depends on alen only (blen > 0). */
static bool secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = alen != blen;
    for (size_t i = 0; i < alen; i++)
        diff |= (unsigned char)(a[i] ^ b[i % blen]);
    return diff == 0;
}

/* Sets r->auth (and who, role) from the Authorization header. */
static void authenticate(struct http_req *r)
{
    struct chat *ch = r->api->b->chat;
    const char *h = http__header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    r->auth = HTTP_AUTH_NONE;
    if (!h)
        return;
    r->auth = HTTP_AUTH_BAD;
    h += strspn(h, " \t");
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
        return;
    const char *tok = h + 6 + strspn(h + 6, " \t");
    size_t len = strlen(tok);
    while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
        len--;
    if (len == 0 || len > JWT_MAX_LEN)
        return;
    size_t keylen = ch->service_key ? strlen(ch->service_key) : 0;
    if (keylen && secret_equal(tok, len, ch->service_key, keylen)) {
        memcpy(r->who, "service", sizeof("service"));
        r->who_len = strlen(r->who);
        r->role = CHAT_ROLE_SERVICE;
        r->auth = HTTP_AUTH_OK;
        return;
    }
    struct jwt_claims c;
    if (!ch->token_secret || jwt_verify(ch->token_secret, ch->token_secret_len, tok, len,
                                        (int64_t)time(NULL), &c) != MQ_OK)
        return;
    size_t sublen = strlen(c.sub);
    if (!chat_name_valid(c.sub, sublen))
        return;
    if (c.role[0]) {
        if (chat_role_parse(c.role, strlen(c.role), &r->role) != MQ_OK)
            return; /* a role mqchat does not know: not trusted with any */
    } else if (!chat_dir_user_get(ch->dir, c.sub, sublen, &r->role, NULL, 0)) {
        r->role = CHAT_ROLE_USER; /* minted by an integrator for a user of its own */
    }
    memcpy(r->who, c.sub, sublen + 1);
    r->who_len = sublen;
    r->auth = HTTP_AUTH_OK;
}

/* ---- routing ------------------------------------------------------------------------------- */

static enum http_method method_of(const char *m)
{
    if (strcmp(m, MHD_HTTP_METHOD_GET) == 0)
        return HTTP_GET;
    if (strcmp(m, MHD_HTTP_METHOD_POST) == 0)
        return HTTP_POST;
    if (strcmp(m, MHD_HTTP_METHOD_PUT) == 0)
        return HTTP_PUT;
    if (strcmp(m, MHD_HTTP_METHOD_DELETE) == 0)
        return HTTP_DELETE;
    return HTTP_OTHER;
}

/* The {name} levels of a path, as path_match() found them. */
struct path_args {
    const char *s[HTTP_MAX_ARGS];
    size_t len[HTTP_MAX_ARGS];
    size_t n;
};

/*
 * True when path matches pattern, where a '*' level matches one non-empty
 * level; a gets those levels in order (at most HTTP_MAX_ARGS: a pattern
 * with more matches nothing).
 */
static bool path_match(const char *pattern, const char *path, struct path_args *a)
{
    a->n = 0;
    while (*pattern) {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0 || a->n == HTTP_MAX_ARGS)
                return false;
            a->s[a->n] = path;
            a->len[a->n++] = n;
            path += n;
            pattern++;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *path == '\0';
}

/* Writes the methods of mask into r->allow ("PUT, DELETE"). */
static void set_allow(struct http_req *r, unsigned mask)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {HTTP_GET, "GET"}, {HTTP_POST, "POST"}, {HTTP_PUT, "PUT"}, {HTTP_DELETE, "DELETE"}};
    size_t n = 0;
    r->allow[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(mask & names[i].bit))
            continue;
        int w = snprintf(r->allow + n, sizeof(r->allow) - n, "%s%s", n ? ", " : "", names[i].name);
        if (w > 0 && (size_t)w < sizeof(r->allow) - n)
            n += (size_t)w;
    }
}

/* Opens the chat database (and, in MySQL mode, the spool's SQLite file)
 * where it is not open yet. MQ_OK or the error of the first that failed. */
static int open_databases(struct http_api *api)
{
    const struct broker *b = api->b;
    int rc = api->db ? MQ_OK : chat_db_open(b, &api->db);
    if (rc == MQ_OK && !api->spool_db && b->cfg->mysql_url && b->storage)
        rc = db_open_sqlite(b->storage->db_path, DB_DURABILITY_NORMAL, &api->spool_db);
    return rc;
}

/* Reconnects the API's databases after a failure (or opens them when they
 * were away at start-up). False after answering 503. */
static bool db_ready(struct http_req *r)
{
    struct http_api *api = r->api;
    if (!api->db_stale)
        return true;
    int rc = open_databases(api);
    if (rc == MQ_OK)
        rc = db_reconnect(api->db);
    if (rc == MQ_OK && api->spool_db)
        rc = db_reconnect(api->spool_db);
    if (rc != MQ_OK) {
        log_warn("http: database still unavailable: %s",
                 api->db ? db_error(api->db) : mq_strerror(rc));
        http__error(r, 503, "unavailable", "the database does not answer");
        return false;
    }
    api->db_stale = false;
    return true;
}

static void dispatch(struct http_req *r, const char *path)
{
    const struct http_route *found = NULL;
    unsigned allowed = 0;
    struct path_args args = {0};
    for (size_t i = 0; i < http__nroutes; i++) {
        const struct http_route *rt = &http__routes[i];
        struct path_args a = {0};
        if (!path_match(rt->pattern, path, &a))
            continue;
        allowed |= rt->method;
        if (rt->method == (unsigned)r->method && !found) {
            found = rt;
            args = a;
        }
    }
    if (!allowed) {
        http__error(r, 404, "not_found", "no such endpoint");
        return;
    }
    if (!found) {
        set_allow(r, allowed);
        http__error(r, 405, "method_not_allowed", "method not allowed on this path");
        return;
    }
    char *dst[HTTP_MAX_ARGS] = {r->arg, r->arg2};
    size_t *dst_len[HTTP_MAX_ARGS] = {&r->arg_len, &r->arg2_len};
    for (size_t i = 0; i < args.n; i++) {
        if (!chat_name_valid(args.s[i], args.len[i])) {
            http__error(r, 400, "invalid_name", "names are 1-64 bytes of [A-Za-z0-9_.-]");
            return;
        }
        memcpy(dst[i], args.s[i], args.len[i]);
        dst[i][args.len[i]] = '\0';
        *dst_len[i] = args.len[i];
    }
    if (found->uses_db && !db_ready(r))
        return;
    authenticate(r);
    found->handle(r);
}

/* True when path is one of the endpoints (whatever the method). */
static bool routed(const char *path)
{
    struct path_args a;
    for (size_t i = 0; i < http__nroutes; i++)
        if (path_match(http__routes[i].pattern, path, &a))
            return true;
    return false;
}

/* ---- libmicrohttpd callbacks --------------------------------------------------------------- */

/* Appends a piece of the body, or gives up on it past the limit. */
static void take_body(struct http_req *r, const char *data, size_t n)
{
    size_t max = r->api->b->cfg->http_max_body;
    if (r->too_large)
        return;
    if (n > max - r->body_len) {
        r->too_large = true;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        return;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *p = realloc(r->body, cap);
        if (!p) {
            /* Answered like a body too large to hold: nothing is half done. */
            r->too_large = true;
            return;
        }
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
}

static void answer_too_large(struct http_req *r)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "the body is over %u bytes", r->api->b->cfg->http_max_body);
    http__error(r, 413, "too_large", msg);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_api *api = cls;
    struct http_req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof(*r))))
            return MHD_NO;
        r->api = api;
        r->conn = conn;
        r->method = method_of(method);
        r->content_type = JSON_TYPE;
        jbuf_init(&r->out);
        *con_cls = r;
        const char *cl = http__header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno == 0 && end != cl && n > api->b->cfg->http_max_body) {
                r->too_large = true;
                answer_too_large(r);
                return send_answer(r);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        bool was_too_large = r->too_large;
        take_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        if (r->too_large && !was_too_large && !r->answered) {
            /* Answered now: libmicrohttpd then discards the rest of the
             * upload. If it refuses, the answer waits for the end. */
            answer_too_large(r);
            send_answer(r);
        }
        return MHD_YES;
    }
    if (r->answered)
        return MHD_YES;
    const char *dir = api->b->cfg->http_static_dir;
    if (r->too_large)
        answer_too_large(r);
    else if (http_static_wants(dir, method, url) && !routed(url))
        return http_static_answer(conn, dir, url) == MQ_OK ? MHD_YES : MHD_NO;
    else
        dispatch(r, url);
    return send_answer(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_req *r = *con_cls;
    if (!r)
        return;
    free(r->body);
    jbuf_free(&r->out);
    free(r);
    *con_cls = NULL;
}

/* libmicrohttpd's own complaints: errors while starting, debug noise after. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_api *api = cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (api->starting)
        log_error("http: %s", line);
    else
        log_debug("http: %s", line);
}

/* ---- start and stop ------------------------------------------------------------------------ */

/* http.bind_address:http.port as a socket address (NULL address: every
 * IPv4 address). MQ_OK, or MQ_EIO after logging why. */
static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss, bool *v6)
{
    char service[8];
    snprintf(service, sizeof(service), "%u", port);
    struct addrinfo hints = {.ai_family = host ? AF_UNSPEC : AF_INET,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        log_error("http.bind_address '%s': %s", host ? host : "", gai_strerror(gai));
        return MQ_EIO;
    }
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return MQ_OK;
}

void http_api_stop(struct http_api *api)
{
    if (!api)
        return;
    if (api->daemon)
        MHD_stop_daemon(api->daemon);
    db_close(api->spool_db);
    db_close(api->db);
    redis_recent_free(api->recent);
    free(api);
}

int http_api_start(struct broker *b, uint16_t mqtt_port, struct http_api **out)
{
    const struct config *cfg = b->cfg;
    *out = NULL;
    if (cfg->http_port == 0)
        return MQ_OK;
    struct http_api *api = calloc(1, sizeof(*api));
    if (!api) {
        log_error("http: out of memory");
        return MQ_EIO;
    }
    api->b = b;
    api->recent = cluster_recent_open(b);
    api->mqtt_port = mqtt_port;
    int rc = open_databases(api);
    if (rc == MQ_ENOMEM)
        goto err;
    if (rc != MQ_OK) { /* MySQL away: answer 503 until it is back, retried per request */
        log_warn("http: the chat database is unavailable (%s): retried at each request",
                 mq_strerror(rc));
        api->db_stale = true;
    }
    struct sockaddr_storage ss;
    bool v6 = false;
    if ((rc = resolve(cfg->http_bind_address, cfg->http_port, &ss, &v6)) != MQ_OK)
        goto err;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (v6)
        flags |= MHD_USE_IPv6;
    api->starting = true;
    /* The logger first: libmicrohttpd prints to stderr until it has one.
     * No MHD_OPTION_LISTENING_ADDRESS_REUSE: it means SO_REUSEPORT, which
     * would let a second broker share the port unnoticed (SO_REUSEADDR is
     * libmicrohttpd's default). */
    api->daemon = MHD_start_daemon(
        flags, cfg->http_port, NULL, NULL, on_request, api, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
        api, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, api, MHD_OPTION_END);
    api->starting = false;
    if (!api->daemon) {
        log_error("http: cannot listen on %s:%u",
                  cfg->http_bind_address ? cfg->http_bind_address : "0.0.0.0", cfg->http_port);
        rc = MQ_EIO;
        goto err;
    }
    log_info("http: API on %s:%u", cfg->http_bind_address ? cfg->http_bind_address : "0.0.0.0",
             cfg->http_port);
    *out = api;
    return MQ_OK;
err:
    if (rc == MQ_ENOMEM)
        log_error("http: out of memory");
    http_api_stop(api);
    return MQ_EIO;
}
