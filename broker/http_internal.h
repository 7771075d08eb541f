/*
 * http_internal.h - what the two halves of the HTTP API share, and nothing
 * else includes: http_api.c (the daemon, one request's life, the bearer,
 * answers, reading JSON bodies) and http_routes.c (the endpoints of
 * doc/protocol.md, "HTTP API").
 *
 * Every request runs on libmicrohttpd's one internal thread, so struct
 * http_api and its database connections are touched by that thread only
 * (after http_api_start() returned and until http_api_stop()).
 */
#ifndef MQCHAT_HTTP_INTERNAL_H
#define MQCHAT_HTTP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "chat_dir.h"
#include "json.h"
#include "password.h"

struct broker;
struct db;
struct MHD_Connection;
struct MHD_Daemon;

struct http_api {
    struct broker *b;
    struct MHD_Daemon *daemon;
    struct db *db;        /* the chat database (chat_db_open): MySQL, or data_dir/mqchat.db */
    struct db *spool_db;  /* MySQL mode only: the node's SQLite file, read for the spool rows
                             not yet archived (store_history_spool); NULL in SQLite mode,
                             where db holds the spool table too */
    struct redis_recent *recent; /* in a cluster, the rooms' recent-history cache, else NULL */
    bool db_stale;        /* a call failed for want of the server: db_reconnect() both
                             connections before the next request that needs them */
    atomic_bool starting; /* inside MHD_start_daemon: its complaints are errors */
    uint16_t mqtt_port;   /* the MQTT/TCP port, for the join answer */
    char dummy_hash[PASSWORD_HASH_MAX]; /* an Argon2id hash that a login for an unknown user
                                           is checked against, so that it costs what a wrong
                                           password costs; "" until first needed */
};

/* The methods the API knows; a bit each, so that a route can name several. */
enum http_method {
    HTTP_GET = 1,
    HTTP_POST = 2,
    HTTP_PUT = 4,
    HTTP_DELETE = 8,
    HTTP_OTHER = 16, /* HEAD, PATCH...: never routed (405 on a known path) */
};

/* What the Authorization header said. */
enum http_auth {
    HTTP_AUTH_NONE, /* no header */
    HTTP_AUTH_OK,   /* a valid bearer: who and role are set */
    HTTP_AUTH_BAD,  /* a header that is not a valid bearer */
};

/*
 * One request, from its first header to its completion callback. The body
 * grows in memory up to http.max_body_bytes; past that, too_large is set
 * and nothing more is kept.
 */
struct http_req {
    struct http_api *api;
    struct MHD_Connection *conn;
    enum http_method method;

    char *body; /* malloc'd, body_len bytes plus a NUL; NULL while empty */
    size_t body_len, body_cap;
    bool too_large; /* the body went over http.max_body_bytes: answered 413 */
    bool answered;  /* a response is queued already (an early 413) */

    enum http_auth auth;
    char who[CHAT_NAME_MAX + 1]; /* the caller: the token's sub, or "service" */
    size_t who_len;
    enum chat_role role; /* the caller's role (HTTP_AUTH_OK only) */

    char arg[CHAT_NAME_MAX + 1]; /* the {room} or {user} of the path, validated; "" if none */
    size_t arg_len;
    char arg2[CHAT_NAME_MAX + 1]; /* the second {name} of the path (/blocks/{user}), validated;
                                     "" if none */
    size_t arg2_len;

    /* The answer. */
    unsigned status;
    struct jbuf out;
    const char *content_type; /* static string */
    char allow[32];           /* the Allow header of a 405; "" otherwise */
};

/* An endpoint: method, path pattern ('*' stands for one {name} segment). */
struct http_route {
    unsigned method;     /* one enum http_method bit */
    const char *pattern; /* the path; a '*' level stands for one {name} segment (at most
                            HTTP_MAX_ARGS of them: r->arg, then r->arg2) */
    bool uses_db;        /* reconnect a stale database before it runs */
    void (*handle)(struct http_req *r);
};

#define HTTP_MAX_ARGS 2 /* '*' levels in one pattern */

/* The endpoints (http_routes.c), and how many. */
extern const struct http_route http__routes[];
extern const size_t http__nroutes;

/* ---- answers (http_api.c) -------------------------------------------------- */

/* Starts a JSON answer with status: returns the buffer to write it into
 * (emptied first). */
struct jbuf *http__json(struct http_req *r, unsigned status);

/* Answers {"error":what,"code":code} with status (what is not escaped:
 * callers pass literals or names already validated). */
void http__error(struct http_req *r, unsigned status, const char *code, const char *what);

/* Answers the failure rc of a database call: 503 unavailable for the
 * database's own errors (and then reconnects before the next request),
 * 500 internal when out of memory. */
void http__db_failed(struct http_req *r, int rc);

/* True when the caller presented a valid bearer; otherwise answers 401
 * unauthorized and returns false. */
bool http__authed(struct http_req *r);

/* True when the caller has the service role. */
bool http__is_service(const struct http_req *r);

/* A request header or query parameter; NULL when absent. Valid while the
 * request lives. */
const char *http__header(struct http_req *r, const char *name);
const char *http__query(struct http_req *r, const char *name);

/* ---- reading JSON bodies (http_api.c) --------------------------------------- */

/*
 * Parses the body as one JSON object and returns it (the caller frees it
 * with cJSON_Delete). An empty body is an empty object when !required.
 * NULL after answering 400 bad_json (not UTF-8, not JSON, not an object,
 * or empty when required) or 500 (out of memory).
 */
cJSON *http__body(struct http_req *r, bool required);

/*
 * Member key of o as a string: true with *out (NULL when absent or null;
 * points into o) and *len; false after answering 400 bad_request when it
 * is missing but required, or not a string.
 */
bool http__member_str(struct http_req *r, const cJSON *o, const char *key, bool required,
                      const char **out, size_t *len);

/* Member key of o as a whole number in [min, max]: true with *out (left
 * as it was when absent or null); false after answering 400 bad_request. */
bool http__member_int(struct http_req *r, const cJSON *o, const char *key, int64_t min, int64_t max,
                      int64_t *out);

/* Member key of o as a boolean: true with *out (left as it was when absent
 * or null); false after answering 400 bad_request. */
bool http__member_bool(struct http_req *r, const cJSON *o, const char *key, bool *out);

#endif
