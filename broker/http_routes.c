/*
 * http_routes.c - the endpoints of the HTTP API (doc/protocol.md, "HTTP
 * API"), one handler each, and the table that routes to them.
 *
 * A handler runs on the API thread with the request read, the bearer
 * checked (r->auth, r->who, r->role) and the {name}s of its path validated
 * (r->arg, and r->arg2 for the two-name paths of blocks). It answers
 * through http__json() or http__error() and returns.
 *
 * Who may do what is decided here, from the chat directory (chat_dir.h).
 * A change is written to the database first (in one transaction when it
 * takes several rows) and then to memory (the directory, the comment
 * control settings), so that a request that fails changes nothing: the
 * few memory failures left (out of memory) undo the database write.
 * Presence, unread counts and read markers are the chat layer's memory
 * (presence.h, unread.h, chat_read_marker): answered from there.
 *
 * Not here: parsing requests and writing answers (http_api.c), history
 * pages (chat_history.c), the Prometheus text (metrics.c), routing MQTT
 * (chat.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "cluster.h"
#include "chat.h"
#include "chat_control.h"
#include "chat_history.h"
#include "db.h"
#include "envelope.h"
#include "errors.h"
#include "http_internal.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "msgid.h"
#include "mqtt_codec.h"
#include "presence.h"
#include "store.h"
#include "unread.h"

#define DECO_MAX_BYTES  1024               /* a decoration, compact */
#define ROOM_PAGE_MAX   200                /* rooms in one answer of GET /v1/rooms */
#define SERVICE_TTL_MAX (10 * 366 * 86400) /* seconds: the longest token the service mints */
#define METRICS_TYPE    "text/plain; version=0.0.4; charset=utf-8"

static struct chat *chat_of(const struct http_req *r)
{
    return r->api->b->chat;
}

static int64_t now_ms(void)
{
    return (int64_t)msgid_now_ms();
}

static bool same_name(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static struct store_str sstr(const char *s, size_t len)
{
    return (struct store_str){s, len};
}

static const char *member_role_name(int role)
{
    return role == CHAT_OWNER ? "owner" : role == CHAT_MODERATOR ? "moderator" : "member";
}

/* Answers 400 invalid_name unless s[0..len) is a valid name. */
static bool name_ok(struct http_req *r, const char *what, const char *s, size_t len)
{
    if (chat_name_valid(s, len))
        return true;
    char msg[96];
    snprintf(msg, sizeof(msg), "'%s' must be 1-64 bytes of [A-Za-z0-9_.-]", what);
    http__error(r, 400, "invalid_name", msg);
    return false;
}

/* Query parameter key as a decimal number up to max: true with *out and
 * *present (untouched when absent); false after answering 400. */
static bool query_num(struct http_req *r, const char *key, uint64_t max, uint64_t *out,
                      bool *present)
{
    const char *v = http__query(r, key);
    if (!v)
        return true;
    size_t len = strlen(v);
    uint64_t n = 0;
    bool ok = len > 0 && len <= 20 && strspn(v, "0123456789") == len;
    for (size_t i = 0; ok && i < len; i++) {
        unsigned d = (unsigned)(v[i] - '0');
        if (n > (UINT64_MAX - d) / 10)
            ok = false;
        else
            n = n * 10 + d;
    }
    if (!ok || n > max) {
        char msg[96];
        snprintf(msg, sizeof(msg), "'%s' must be a number from 0 to %" PRIu64, key, max);
        http__error(r, 400, "bad_request", msg);
        return false;
    }
    *out = n;
    *present = true;
    return true;
}

/* Appends "<prefix><middle><name><suffix>" as a JSON string: a topic. */
static void write_topic(struct jbuf *o, const struct chat *ch, const char *middle, const char *name,
                        const char *suffix)
{
    struct jbuf t;
    jbuf_init(&t);
    jbuf_printf(&t, "%s%s%s%s", ch->prefix, middle, name, suffix);
    if (t.oom)
        o->oom = true;
    else
        jbuf_str(o, t.p, t.len);
    jbuf_free(&t);
}

static void found(void *ctx)
{
    *(bool *)ctx = true;
}

static void found_user(void *ctx, const struct store_user *u)
{
    found(ctx);
}

static void found_room(void *ctx, const struct store_room *room)
{
    found(ctx);
}

/* ---- users and tokens ---------------------------------------------------------------------- */

/* POST /v1/users {"id","password","role"}: the service role, or anyone
 * (role user, with a password) when chat.open_signup is on. */
static void user_create(struct http_req *r)
{
    struct http_api *api = r->api;
    struct chat *ch = chat_of(r);
    bool service = http__is_service(r);
    if (r->auth == HTTP_AUTH_BAD || (!service && !ch->open_signup && r->auth == HTTP_AUTH_NONE)) {
        http__authed(r);
        return;
    }
    if (!service && !ch->open_signup) {
        http__error(r, 403, "forbidden", "only the service role creates users");
        return;
    }
    cJSON *o = http__body(r, true);
    if (!o)
        return;
    const char *id, *pw, *role_s;
    size_t id_len, pw_len, role_len;
    enum chat_role role = CHAT_ROLE_USER;
    char hash[PASSWORD_HASH_MAX] = "";
    if (!http__member_str(r, o, "id", true, &id, &id_len) ||
        !http__member_str(r, o, "password", !service, &pw, &pw_len) ||
        !http__member_str(r, o, "role", false, &role_s, &role_len) || !name_ok(r, "id", id, id_len))
        goto out;
    if (role_s && chat_role_parse(role_s, role_len, &role) != MQ_OK) {
        http__error(r, 400, "bad_request", "'role' must be user, service or display");
        goto out;
    }
    if (!service && role != CHAT_ROLE_USER) {
        http__error(r, 403, "forbidden", "sign-up creates users of role user only");
        goto out;
    }
    /* "service" is who the service key acts as (it owns the rooms the
     * service makes): nobody may sign up or be created under that name. */
    bool exists = same_name(id, id_len, "service", 7) ||
                  chat_dir_user_get(ch->dir, id, id_len, NULL, NULL, 0);
    if (!exists) {
        int rc = store_user_get(api->db, sstr(id, id_len), found_user, &exists);
        if (rc != MQ_OK && rc != MQ_ENOTFOUND) {
            http__db_failed(r, rc);
            goto out;
        }
    }
    if (exists) {
        http__error(r, 409, "exists", "that user id is taken");
        goto out;
    }
    if (pw) {
        int rc = password_hash(pw, pw_len, hash, sizeof(hash));
        if (rc == MQ_EINVAL) {
            http__error(r, 400, "bad_request", "'password' must be 1-1024 bytes");
            goto out;
        }
        if (rc != MQ_OK) {
            http__error(r, 500, "internal", "cannot hash the password");
            goto out;
        }
    }
    int64_t created = now_ms();
    const char *role_name = chat_role_name(role);
    struct store_user u = {sstr(id, id_len), sstr(hash, strlen(hash)), STORE_STR(role_name),
                           created};
    int rc = store_user_put(api->db, &u);
    if (rc != MQ_OK) {
        http__db_failed(r, rc);
        goto out;
    }
    if (chat_dir_user_put(ch->dir, id, id_len, role, hash) != MQ_OK) {
        store_user_delete(api->db, u.id);
        http__error(r, 500, "internal", "out of memory");
        goto out;
    }
    log_info("http: user '%.*s' (%s) created by %s", (int)id_len, id, role_name,
             service ? "the service" : "sign-up");
    struct jbuf *out = http__json(r, 201);
    jbuf_puts(out, "{\"id\":");
    jbuf_str(out, id, id_len);
    jbuf_puts(out, ",\"role\":");
    jbuf_str(out, role_name, strlen(role_name));
    jbuf_puts(out, ",\"created_ms\":");
    jbuf_i64(out, created);
    jbuf_putc(out, '}');
out:
    cJSON_Delete(o);
}

/* Spends on a login for an unknown user what a wrong password costs. */
static void burn_password_check(struct http_api *api, const char *pw, size_t len)
{
    if (!api->dummy_hash[0] &&
        password_hash("mqchat-no-such-user", 19, api->dummy_hash, sizeof(api->dummy_hash)) != MQ_OK)
        api->dummy_hash[0] = '\0';
    if (api->dummy_hash[0])
        password_verify(api->dummy_hash, (const uint8_t *)pw, len);
}

/* POST /v1/tokens {"user","password"} -> a token; the service role may
 * leave the password out, and set "ttl" and "role". */
static void token_create(struct http_req *r)
{
    struct http_api *api = r->api;
    struct chat *ch = chat_of(r);
    const struct config *cfg = api->b->cfg;
    if (!ch->token_secret) {
        http__error(r, 503, "tokens_disabled", "no chat.token_secret: tokens are off");
        return;
    }
    cJSON *o = http__body(r, true);
    if (!o)
        return;
    const char *user, *pw, *role_s;
    size_t user_len, pw_len, role_len;
    int64_t ttl = cfg->chat_token_ttl;
    bool service = http__is_service(r);
    if (!http__member_str(r, o, "user", true, &user, &user_len) ||
        !http__member_str(r, o, "password", false, &pw, &pw_len) ||
        !http__member_str(r, o, "role", false, &role_s, &role_len) ||
        !http__member_int(r, o, "ttl", 1, SERVICE_TTL_MAX, &ttl) ||
        !name_ok(r, "user", user, user_len))
        goto out;
    enum chat_role role = CHAT_ROLE_USER;
    if (pw) {
        char hash[PASSWORD_HASH_MAX];
        bool known = chat_dir_user_get(ch->dir, user, user_len, &role, hash, sizeof(hash));
        if (!known || !hash[0]) {
            burn_password_check(api, pw, pw_len);
            http__error(r, 401, "bad_credentials", "wrong user or password");
            goto out;
        }
        if (password_verify(hash, (const uint8_t *)pw, pw_len) != MQ_OK) {
            http__error(r, 401, "bad_credentials", "wrong user or password");
            goto out;
        }
    } else if (!service) {
        if (r->auth == HTTP_AUTH_OK)
            http__error(r, 403, "forbidden",
                        "only the service role mints tokens without a password");
        else
            http__error(r, 401, "unauthorized", "'password' is required");
        goto out;
    } else if (!chat_dir_user_get(ch->dir, user, user_len, &role, NULL, 0)) {
        role = CHAT_ROLE_USER;
    }
    if (!service) {
        if (role_s) {
            http__error(r, 403, "forbidden", "only the service role sets a token's role");
            goto out;
        }
        if (ttl > (int64_t)cfg->chat_token_ttl)
            ttl = cfg->chat_token_ttl;
    }
    /* The role goes into the token only when the service asks for one:
     * otherwise it is looked up at each use, so that a change applies. */
    struct jwt_claims c = {0};
    if (role_s) {
        if (chat_role_parse(role_s, role_len, &role) != MQ_OK) {
            http__error(r, 400, "bad_request", "'role' must be user, service or display");
            goto out;
        }
        snprintf(c.role, sizeof(c.role), "%s", chat_role_name(role));
    }
    memcpy(c.sub, user, user_len);
    c.sub[user_len] = '\0';
    c.iat = (int64_t)time(NULL);
    c.exp = c.iat + ttl;
    char token[512];
    if (jwt_sign(ch->token_secret, ch->token_secret_len, &c, token, sizeof(token)) <= 0) {
        http__error(r, 500, "internal", "cannot sign the token");
        goto out;
    }
    const char *role_name = chat_role_name(role);
    struct jbuf *out = http__json(r, 200);
    jbuf_puts(out, "{\"token\":");
    jbuf_str(out, token, strlen(token));
    jbuf_puts(out, ",\"user\":");
    jbuf_str(out, user, user_len);
    jbuf_puts(out, ",\"role\":");
    jbuf_str(out, role_name, strlen(role_name));
    jbuf_puts(out, ",\"expires_at\":");
    jbuf_i64(out, c.exp);
    jbuf_putc(out, '}');
out:
    cJSON_Delete(o);
}

/* ---- rooms --------------------------------------------------------------------------------- */

/* The members of the room object, without its braces: its settings and
 * members, and what presence knows of it (viewers online, cheers and
 * hearts; 0 while presence is not up). */
static void write_room_members(struct jbuf *o, const struct chat *ch, const char *name, size_t len,
                               const struct chat_room_info *info)
{
    struct presence_room_stats st = {0};
    if (ch->presence)
        presence_room_stats(ch->presence, name, len, &st);
    jbuf_puts(o, "\"name\":");
    jbuf_str(o, name, len);
    jbuf_puts(o, info->is_private ? ",\"private\":true" : ",\"private\":false");
    jbuf_puts(o, ",\"owner\":");
    jbuf_str(o, info->owner, strlen(info->owner));
    jbuf_puts(o, ",\"member_cap\":");
    jbuf_i64(o, info->member_cap);
    jbuf_puts(o, ",\"members\":");
    jbuf_i64(o, info->members);
    jbuf_puts(o, ",\"created_ms\":");
    jbuf_i64(o, info->created_ms);
    jbuf_puts(o, ",\"online\":");
    jbuf_i64(o, st.online);
    jbuf_puts(o, ",\"cheers\":");
    jbuf_i64(o, st.cheers);
    jbuf_puts(o, ",\"hearts\":");
    jbuf_i64(o, st.hearts);
}

/* The room object of POST /v1/rooms, GET /v1/rooms/{room} and the list. */
static void write_room(struct jbuf *o, const struct chat *ch, const char *name, size_t len,
                       const struct chat_room_info *info)
{
    jbuf_putc(o, '{');
    write_room_members(o, ch, name, len, info);
    jbuf_putc(o, '}');
}

/*
 * Creates room name owned by owner: the room and the owner's membership in
 * one transaction, then the directory. MQ_OK with *info as the directory
 * now has it, or an error after answering it.
 */
static int create_room(struct http_req *r, const char *name, size_t len, bool is_private,
                       int64_t cap, const char *owner, size_t owner_len,
                       struct chat_room_info *info)
{
    struct db *db = r->api->db;
    struct chat *ch = chat_of(r);
    int64_t now = now_ms();
    struct store_room room = {sstr(name, len), is_private, sstr(owner, owner_len), cap, now};
    struct store_member m = {sstr(name, len), sstr(owner, owner_len), STORE_OWNER, now};
    int rc = db_begin(db);
    if (rc == MQ_OK && (rc = store_room_put(db, &room)) == MQ_OK &&
        (rc = store_member_put(db, &m)) == MQ_OK)
        rc = db_commit(db);
    if (rc != MQ_OK) {
        db_rollback(db);
        http__db_failed(r, rc);
        return rc;
    }
    memset(info, 0, sizeof(*info));
    info->is_private = is_private;
    info->member_cap = cap;
    memcpy(info->owner, owner, owner_len);
    info->created_ms = now;
    rc = chat_dir_room_put(ch->dir, name, len, info);
    if (rc == MQ_OK)
        rc = chat_dir_member_put(ch->dir, name, len, owner, owner_len, CHAT_OWNER);
    if (rc == MQ_OK && ch->unread)
        unread_join(ch->unread, owner, owner_len, name, len);
    if (rc != MQ_OK) {
        chat_dir_room_delete(ch->dir, name, len);
        store_room_delete(db, room.name);
        http__error(r, 500, "internal", "out of memory");
        return rc;
    }
    chat_dir_room_get(ch->dir, name, len, info);
    log_info("http: room '%.*s' created by '%s', owner '%.*s'", (int)len, name, r->who,
             (int)owner_len, owner);
    return MQ_OK;
}

/* True when room exists in the directory or, behind it, the database
 * (another node may have made it); false also after answering a database
 * failure (then *failed). */
static bool room_exists(struct http_req *r, const char *name, size_t len, bool *failed)
{
    struct chat_room_info info;
    bool exists = chat_dir_room_get(chat_of(r)->dir, name, len, &info);
    *failed = false;
    if (exists)
        return true;
    int rc = store_room_get(r->api->db, sstr(name, len), found_room, &exists);
    if (rc != MQ_OK && rc != MQ_ENOTFOUND) {
        http__db_failed(r, rc);
        *failed = true;
        return false;
    }
    return exists;
}

/* POST /v1/rooms {"name","private","member_cap","owner"}. */
static void room_create(struct http_req *r)
{
    if (!http__authed(r))
        return;
    if (r->role == CHAT_ROLE_DISPLAY) {
        http__error(r, 403, "forbidden", "a display may not create rooms");
        return;
    }
    cJSON *o = http__body(r, true);
    if (!o)
        return;
    const char *name, *owner;
    size_t name_len, owner_len;
    bool is_private = false, failed;
    int64_t cap = 0;
    if (!http__member_str(r, o, "name", true, &name, &name_len) ||
        !http__member_str(r, o, "owner", false, &owner, &owner_len) ||
        !http__member_bool(r, o, "private", &is_private) ||
        !http__member_int(r, o, "member_cap", 0, INT32_MAX, &cap) ||
        !name_ok(r, "name", name, name_len))
        goto out;
    if (!owner) {
        owner = r->who;
        owner_len = r->who_len;
    } else if (!name_ok(r, "owner", owner, owner_len)) {
        goto out;
    } else if (!http__is_service(r) && !same_name(owner, owner_len, r->who, r->who_len)) {
        http__error(r, 403, "forbidden", "only the service role names another owner");
        goto out;
    }
    if (room_exists(r, name, name_len, &failed)) {
        http__error(r, 409, "exists", "that room exists");
        goto out;
    }
    if (failed)
        goto out;
    struct chat_room_info info;
    if (create_room(r, name, name_len, is_private, cap, owner, owner_len, &info) != MQ_OK)
        goto out;
    write_room(http__json(r, 201), chat_of(r), name, name_len, &info);
out:
    cJSON_Delete(o);
}

/* GET /v1/rooms/{room}: a private room shows itself to its members and the
 * service role only (404 to others). */
static void room_get(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    struct chat_room_info info;
    if (!http__authed(r))
        return;
    if (!chat_dir_room_get(ch->dir, r->arg, r->arg_len, &info) ||
        (info.is_private && !http__is_service(r) &&
         chat_dir_member_role(ch->dir, r->arg, r->arg_len, r->who, r->who_len) < 0)) {
        http__error(r, 404, "not_found", "no such room");
        return;
    }
    write_room(http__json(r, 200), ch, r->arg, r->arg_len, &info);
}

/*
 * GET /v1/rooms[?after=NAME][&limit=N][&member=true]: the rooms the caller
 * may see (public rooms and the private rooms it is a member of; the
 * service role: every room), by name, limit (1-200, default 200) at a
 * time, with "next" to page on. member=true: only the caller's rooms, each
 * with its "role" in it. From the directory (chat_dir_rooms_page: a walk
 * of every room per page).
 */
static void room_list(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    if (!http__authed(r))
        return;
    uint64_t limit = ROOM_PAGE_MAX;
    bool has_limit = false;
    if (!query_num(r, "limit", UINT64_MAX, &limit, &has_limit))
        return;
    limit = limit < 1 ? 1 : limit > ROOM_PAGE_MAX ? ROOM_PAGE_MAX : limit;
    const char *after = http__query(r, "after");
    size_t after_len = after ? strlen(after) : 0;
    if (after_len > 0 && !name_ok(r, "after", after, after_len))
        return;
    const char *member = http__query(r, "member");
    bool mine = member && strcmp(member, "true") == 0;
    if (member && !mine && strcmp(member, "false") != 0) {
        http__error(r, 400, "bad_request", "'member' must be true or false");
        return;
    }
    enum chat_dir_scope scope = mine                  ? CHAT_DIR_MEMBER
                                : http__is_service(r) ? CHAT_DIR_ALL
                                                      : CHAT_DIR_VISIBLE;
    struct chat_dir_room_row *rows = malloc((size_t)limit * sizeof(*rows));
    size_t n = 0;
    bool more = false;
    int rc = rows ? chat_dir_rooms_page(ch->dir, r->who, r->who_len, scope, after, after_len,
                                        (size_t)limit, rows, &n, &more)
                  : MQ_ENOMEM;
    if (rc != MQ_OK) {
        free(rows);
        http__error(r, 500, "internal", rc == MQ_ENOMEM ? "out of memory" : mq_strerror(rc));
        return;
    }
    struct jbuf *o = http__json(r, 200);
    jbuf_puts(o, "{\"rooms\":[");
    for (size_t i = 0; i < n; i++) {
        const struct chat_dir_room_row *row = &rows[i];
        if (i > 0)
            jbuf_putc(o, ',');
        if (!mine) {
            write_room(o, ch, row->name, row->len, &row->info);
            continue;
        }
        const char *role = member_role_name(row->role);
        jbuf_putc(o, '{');
        write_room_members(o, ch, row->name, row->len, &row->info);
        jbuf_puts(o, ",\"role\":");
        jbuf_str(o, role, strlen(role));
        jbuf_putc(o, '}');
    }
    jbuf_puts(o, "],\"next\":");
    if (more && n > 0)
        jbuf_str(o, rows[n - 1].name, rows[n - 1].len);
    else
        jbuf_puts(o, "null");
    jbuf_putc(o, '}');
    free(rows);
}

/* The host the request was sent to, without its port ("[::1]" kept
 * bracketed); "127.0.0.1" when the Host header is missing or odd. */
static void request_host(struct http_req *r, char *out, size_t cap)
{
    const char *h = http__header(r, "Host");
    size_t n = 0;
    if (h && h[0] == '[') {
        const char *end = strchr(h, ']');
        n = end ? (size_t)(end - h) + 1 : 0;
    } else if (h) {
        n = strcspn(h, ":");
    }
    if (n == 0 || n >= cap ||
        strspn(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_:[]") < n) {
        snprintf(out, cap, "127.0.0.1");
        return;
    }
    memcpy(out, h, n);
    out[n] = '\0';
}

/* `,"NAME":"SCHEME://HOST:PORT/PATH"`, or null when port is 0. */
static void write_ws_url(struct jbuf *o, const char *name, const char *scheme, const char *host,
                         uint16_t port, const char *path)
{
    jbuf_printf(o, ",\"%s\":", name);
    if (!port) {
        jbuf_puts(o, "null");
        return;
    }
    bool v6 = strchr(host, ':') != NULL && host[0] != '[';
    char url[512];
    snprintf(url, sizeof(url), "%s://%s%s%s:%u%s", scheme, v6 ? "[" : "", host, v6 ? "]" : "",
             (unsigned)port, path);
    jbuf_str(o, url, strlen(url));
}

/* The join answer's "mqtt" object: where to connect, per transport
 * (doc/transports.md, "The join answer"). */
static void write_mqtt_endpoints(struct http_req *r, struct jbuf *o)
{
    const struct broker *b = r->api->b;
    const struct config *cfg = b->cfg;
    char host[256];
    request_host(r, host, sizeof(host));
    jbuf_puts(o, "{\"host\":");
    jbuf_str(o, host, strlen(host));
    jbuf_printf(o, ",\"port\":%u,\"tls_port\":", (unsigned)r->api->mqtt_port);
    if (b->tls && cfg->tls_port)
        jbuf_printf(o, "%u", (unsigned)cfg->tls_port);
    else
        jbuf_puts(o, "null");
    write_ws_url(o, "ws_url", "ws", host, cfg->ws_port, cfg->ws_path);
    write_ws_url(o, "wss_url", "wss", host, b->tls ? cfg->wss_port : 0, cfg->ws_path);
    jbuf_putc(o, '}');
}

static void write_join(struct http_req *r, const char *user, size_t user_len, int role)
{
    struct chat *ch = chat_of(r);
    const char *role_name = member_role_name(role);
    struct jbuf *o = http__json(r, 200);
    jbuf_puts(o, "{\"room\":");
    jbuf_str(o, r->arg, r->arg_len);
    jbuf_puts(o, ",\"user\":");
    jbuf_str(o, user, user_len);
    jbuf_puts(o, ",\"role\":");
    jbuf_str(o, role_name, strlen(role_name));
    jbuf_puts(o, ",\"mqtt\":");
    write_mqtt_endpoints(r, o);
    jbuf_puts(o, ",\"topic\":");
    write_topic(o, ch, "/room/", r->arg, "");
    jbuf_putc(o, '}');
}

/*
 * The member a join or leave is about: the body's "user" (someone else:
 * only the room's owner or a moderator, or the service role), else the
 * caller. False after answering.
 */
static bool target_user(struct http_req *r, const cJSON *o, const char **user, size_t *len,
                        bool *other)
{
    if (!http__member_str(r, o, "user", false, user, len))
        return false;
    if (!*user) {
        *user = r->who;
        *len = r->who_len;
    } else if (!name_ok(r, "user", *user, *len)) {
        return false;
    }
    *other = !same_name(*user, *len, r->who, r->who_len);
    return true;
}

/* POST /v1/rooms/{room}/join [{"user"}]. */
static void room_join(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    struct db *db = r->api->db;
    if (!http__authed(r))
        return;
    cJSON *o = http__body(r, false);
    if (!o)
        return;
    const char *user;
    size_t user_len;
    bool other, service = http__is_service(r);
    struct chat_room_info info;
    if (!target_user(r, o, &user, &user_len, &other))
        goto out;
    if (!chat_dir_room_get(ch->dir, r->arg, r->arg_len, &info)) {
        if (!ch->auto_create_rooms || other || r->role == CHAT_ROLE_DISPLAY) {
            http__error(r, 404, "not_found", "no such room");
            goto out;
        }
        if (create_room(r, r->arg, r->arg_len, false, 0, r->who, r->who_len, &info) == MQ_OK)
            write_join(r, user, user_len, CHAT_OWNER);
        goto out;
    }
    int mine = chat_dir_member_role(ch->dir, r->arg, r->arg_len, r->who, r->who_len);
    if (other && !service && mine < CHAT_MODERATOR) {
        http__error(r, 403, "forbidden", "only the owner, a moderator or the service adds members");
        goto out;
    }
    if (!other && info.is_private && !service && mine < 0) {
        http__error(r, 403, "private_room", "a private room is joined by invitation only");
        goto out;
    }
    int role = chat_dir_member_role(ch->dir, r->arg, r->arg_len, user, user_len);
    if (role >= 0) {
        write_join(r, user, user_len, role);
        goto out;
    }
    if (info.member_cap > 0 && info.members >= info.member_cap) {
        http__error(r, 409, "room_full", "the room is full");
        goto out;
    }
    struct store_member m = {sstr(r->arg, r->arg_len), sstr(user, user_len), STORE_MEMBER,
                             now_ms()};
    int rc = store_member_put(db, &m);
    if (rc != MQ_OK) {
        http__db_failed(r, rc);
        goto out;
    }
    rc = chat_dir_member_put(ch->dir, r->arg, r->arg_len, user, user_len, CHAT_MEMBER);
    if (rc != MQ_OK) {
        store_member_delete(db, m.room, m.user);
        if (rc == MQ_EFULL)
            http__error(r, 409, "room_full", "the room is full");
        else if (rc == MQ_ENOTFOUND)
            http__error(r, 404, "not_found", "no such room");
        else
            http__error(r, 500, "internal", "out of memory");
        goto out;
    }
    if (ch->unread)
        unread_join(ch->unread, user, user_len, r->arg, r->arg_len);
    write_join(r, user, user_len, CHAT_MEMBER);
out:
    cJSON_Delete(o);
}

/* POST /v1/rooms/{room}/leave [{"user"}]: the owner removes anyone, a
 * moderator plain members, the service anyone. */
static void room_leave(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    if (!http__authed(r))
        return;
    cJSON *o = http__body(r, false);
    if (!o)
        return;
    const char *user;
    size_t user_len;
    bool other;
    if (!target_user(r, o, &user, &user_len, &other))
        goto out;
    struct chat_room_info info;
    if (!chat_dir_room_get(ch->dir, r->arg, r->arg_len, &info)) {
        http__error(r, 404, "not_found", "no such room");
        goto out;
    }
    int role = chat_dir_member_role(ch->dir, r->arg, r->arg_len, user, user_len);
    if (other && !http__is_service(r)) {
        int mine = chat_dir_member_role(ch->dir, r->arg, r->arg_len, r->who, r->who_len);
        if (mine != CHAT_OWNER && !(mine == CHAT_MODERATOR && role == CHAT_MEMBER)) {
            http__error(r, 403, "forbidden", "not allowed to remove that member");
            goto out;
        }
    }
    if (role < 0) {
        http__error(r, 404, "not_found", "not a member of that room");
        goto out;
    }
    int rc = store_member_delete(r->api->db, sstr(r->arg, r->arg_len), sstr(user, user_len));
    if (rc != MQ_OK && rc != MQ_ENOTFOUND) {
        http__db_failed(r, rc);
        goto out;
    }
    chat_dir_member_delete(ch->dir, r->arg, r->arg_len, user, user_len);
    struct jbuf *out = http__json(r, 200);
    jbuf_puts(out, "{\"room\":");
    jbuf_str(out, r->arg, r->arg_len);
    jbuf_puts(out, ",\"user\":");
    jbuf_str(out, user, user_len);
    jbuf_puts(out, ",\"left\":true}");
out:
    cJSON_Delete(o);
}

/* ---- history ------------------------------------------------------------------------------- */

/* since/before/limit into q (chat_history.h). False after answering 400. */
static bool history_params(struct http_req *r, struct store_history_query *q)
{
    const struct config *cfg = r->api->b->cfg;
    uint64_t since = 0, before = 0, limit = CHAT_HISTORY_DEFAULT;
    bool has_since = false, has_before = false, has_limit = false;
    if (!query_num(r, "since", INT64_MAX, &since, &has_since) ||
        !query_num(r, "before", INT64_MAX, &before, &has_before) ||
        !query_num(r, "limit", UINT64_MAX, &limit, &has_limit))
        return false;
    q->limit = chat_history_limit(limit);
    q->before_id = (int64_t)before;
    if (has_since)
        q->since_id = chat_history_since(since, cfg->chat_history_window, now_ms());
    return true;
}

/*
 * Answers {"<key>":name,"messages":[...]} for q: the page chat_history
 * reads from the spool rows not yet archived and the archive.
 */
static void history_answer(struct http_req *r, struct store_history_query *q, const char *key)
{
    struct http_api *api = r->api;
    struct chat_history_page page;
    if (!history_params(r, q))
        return;
    /* In SQLite mode the chat database holds the spool table too. */
    struct db *spool = api->spool_db                      ? api->spool_db
                       : db_backend(api->db) == DB_SQLITE ? api->db
                                                          : NULL;
    int rc = chat_history_fetch(api->db, spool, api->recent, q, &page);
    if (rc != MQ_OK) {
        http__db_failed(r, rc);
        return;
    }
    struct jbuf *o = http__json(r, 200);
    jbuf_printf(o, "{\"%s\":", key);
    jbuf_str(o, r->arg, r->arg_len);
    jbuf_puts(o, ",\"messages\":");
    chat_history_page_json(&page, o);
    jbuf_putc(o, '}');
    chat_history_page_free(&page);
}

/* GET /v1/rooms/{room}/messages: a private room's to its members and the
 * service role only. */
static void room_history(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    struct chat_room_info info;
    if (!http__authed(r))
        return;
    if (!chat_dir_room_get(ch->dir, r->arg, r->arg_len, &info)) {
        http__error(r, 404, "not_found", "no such room");
        return;
    }
    if (info.is_private && !http__is_service(r) &&
        chat_dir_member_role(ch->dir, r->arg, r->arg_len, r->who, r->who_len) < 0) {
        http__error(r, 403, "private_room", "members only");
        return;
    }
    struct store_history_query q = {.room = sstr(r->arg, r->arg_len)};
    history_answer(r, &q, "room");
}

/* GET /v1/dms/{user}/messages: the caller's direct messages with {user}. */
static void dm_history(struct http_req *r)
{
    if (!http__authed(r))
        return;
    /* The pair in byte order, a shorter name first when it is a prefix. */
    size_t n = r->who_len < r->arg_len ? r->who_len : r->arg_len;
    int c = memcmp(r->who, r->arg, n);
    bool me_first = c < 0 || (c == 0 && r->who_len <= r->arg_len);
    struct store_str me = sstr(r->who, r->who_len), peer = sstr(r->arg, r->arg_len);
    struct store_history_query q = {.dm_low = me_first ? me : peer,
                                    .dm_high = me_first ? peer : me};
    history_answer(r, &q, "with");
}

/* ---- notifications ------------------------------------------------------------------------- */

/* Nesting depth of v: 0 for a scalar, 1 for a flat object or array. */
static int json_depth(const cJSON *v)
{
    int d = 0;
    for (const cJSON *c = v->child; c; c = c->next) {
        int cd = json_depth(c);
        if (cd > d)
            d = cd;
    }
    return (cJSON_IsObject(v) || cJSON_IsArray(v)) ? d + 1 : 0;
}

/* Reads "text" and "meta" into in (type system). False after answering. */
static bool notification_in(struct http_req *r, const cJSON *o, struct envelope_in *in)
{
    const struct envelope_limits *lim = &chat_of(r)->limits;
    const char *text;
    size_t text_len;
    if (!http__member_str(r, o, "text", true, &text, &text_len))
        return false;
    if (text_len == 0 || (lim->max_text && text_len > lim->max_text) ||
        mqtt_utf8_check(text, text_len) != MQ_OK) {
        char msg[96];
        snprintf(msg, sizeof(msg), "'text' must be 1-%zu bytes of UTF-8", lim->max_text);
        http__error(r, 400, "bad_request", msg);
        return false;
    }
    snprintf(in->type, sizeof(in->type), "system");
    if (!(in->text = strndup(text, text_len)))
        goto oom;
    in->text_len = text_len;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(o, "meta");
    if (!meta || cJSON_IsNull(meta))
        return true;
    if (!cJSON_IsObject(meta)) {
        http__error(r, 400, "bad_request", "'meta' must be an object");
        return false;
    }
    char *compact = cJSON_PrintUnformatted(meta);
    if (!compact)
        goto oom;
    size_t len = strlen(compact);
    bool too_big = lim->max_meta && len > lim->max_meta;
    bool too_deep = lim->max_depth && json_depth(meta) + 1 > lim->max_depth;
    if (!too_big && !too_deep)
        in->meta = strndup(compact, len);
    cJSON_free(compact);
    if (too_big || too_deep) {
        http__error(r, 400, "bad_request",
                    too_big ? "'meta' is too long" : "'meta' is nested too deep");
        return false;
    }
    if (!in->meta)
        goto oom;
    in->meta_len = len;
    return true;
oom:
    http__error(r, 500, "internal", "out of memory");
    return false;
}

/* Keeps the notification in the notifications table. The message is out
 * already: a failure is logged, not answered. */
static void notification_keep(struct http_req *r, uint64_t id, const char *kind, const char *target,
                              size_t target_len, const struct envelope_in *in)
{
    struct jbuf body;
    jbuf_init(&body);
    jbuf_puts(&body, "{\"text\":");
    jbuf_str(&body, in->text, in->text_len);
    if (in->meta) {
        jbuf_puts(&body, ",\"meta\":");
        jbuf_put(&body, in->meta, in->meta_len);
    }
    jbuf_putc(&body, '}');
    int rc = MQ_ENOMEM;
    if (!body.oom) {
        struct store_notification n = {(int64_t)id,
                                       STORE_STR(kind),
                                       sstr(target, target_len),
                                       sstr(r->who, r->who_len),
                                       (int64_t)msgid_time_ms(id),
                                       sstr(body.p, body.len)};
        rc = store_notification_put(r->api->db, &n);
    }
    if (rc != MQ_OK) {
        log_warn("http: notification %" PRIu64 " sent but not kept: %s", id, mq_strerror(rc));
        if (rc == MQ_EAGAIN || rc == MQ_EIO)
            r->api->db_stale = true;
    }
    jbuf_free(&body);
}

/* POST /v1/notifications {"target","room"|"user","text","meta"} (service). */
static void notify(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    if (!http__authed(r))
        return;
    if (!http__is_service(r)) {
        http__error(r, 403, "forbidden", "notifications are for the service role");
        return;
    }
    cJSON *o = http__body(r, true);
    if (!o)
        return;
    struct envelope_in in = {0};
    const char *target_s, *name = "";
    size_t target_len, name_len = 0;
    enum chat_target to;
    if (!http__member_str(r, o, "target", true, &target_s, &target_len))
        goto out;
    if (strcmp(target_s, "all") == 0) {
        to = CHAT_TO_ALL;
    } else if (strcmp(target_s, "room") == 0 || strcmp(target_s, "user") == 0) {
        to = target_s[0] == 'r' ? CHAT_TO_ROOM : CHAT_TO_USER;
        if (!http__member_str(r, o, target_s, true, &name, &name_len) ||
            !name_ok(r, target_s, name, name_len))
            goto out;
        struct chat_room_info info;
        if (to == CHAT_TO_ROOM && !chat_dir_room_get(ch->dir, name, name_len, &info)) {
            http__error(r, 404, "not_found", "no such room");
            goto out;
        }
    } else {
        http__error(r, 400, "bad_request", "'target' must be all, room or user");
        goto out;
    }
    if (!notification_in(r, o, &in))
        goto out;
    uint64_t id = 0;
    int rc = chat_notify(r->api->b, to, name, name_len, r->who, r->who_len, &in, &id);
    if (rc == MQ_EINVAL) {
        http__error(r, 400, "invalid_name", "not a valid target");
        goto out;
    }
    if (rc == MQ_EFULL) {
        http__error(r, 503, "unavailable", "the spool is full");
        goto out;
    }
    if (rc != MQ_OK) {
        http__error(r, 500, "internal", mq_strerror(rc));
        goto out;
    }
    const char *kind = to == CHAT_TO_ALL ? "all" : to == CHAT_TO_ROOM ? "room" : "user";
    notification_keep(r, id, kind, name, name_len, &in);
    struct jbuf *out = http__json(r, 201);
    jbuf_puts(out, "{\"id\":");
    jbuf_id(out, id);
    jbuf_puts(out, ",\"topic\":");
    if (to == CHAT_TO_ALL)
        write_topic(out, ch, "/system", "", "");
    else if (to == CHAT_TO_ROOM)
        write_topic(out, ch, "/room/", name, "/system");
    else
        write_topic(out, ch, "/user/", name, "/events");
    jbuf_putc(out, '}');
out:
    envelope_in_free(&in);
    cJSON_Delete(o);
}

/* ---- decorations --------------------------------------------------------------------------- */

/* The user themselves or the service. False after answering. */
static bool may_decorate(struct http_req *r)
{
    if (!http__authed(r))
        return false;
    if (http__is_service(r) || same_name(r->who, r->who_len, r->arg, r->arg_len))
        return true;
    http__error(r, 403, "forbidden", "only the user or the service sets a decoration");
    return false;
}

static void write_deco(struct http_req *r, const char *json, size_t len)
{
    struct jbuf *o = http__json(r, 200);
    jbuf_puts(o, "{\"user\":");
    jbuf_str(o, r->arg, r->arg_len);
    jbuf_puts(o, ",\"deco\":");
    if (len)
        jbuf_put(o, json, len);
    else
        jbuf_puts(o, "null");
    jbuf_putc(o, '}');
}

/* PUT /v1/users/{user}/decoration: a JSON object, at most 1024 bytes
 * compact, kept compact. */
static void deco_put(struct http_req *r)
{
    if (!may_decorate(r))
        return;
    cJSON *o = http__body(r, true);
    if (!o)
        return;
    char *compact = cJSON_PrintUnformatted(o);
    size_t len = compact ? strlen(compact) : 0;
    if (!compact) {
        http__error(r, 500, "internal", "out of memory");
    } else if (len > DECO_MAX_BYTES) {
        http__error(r, 413, "too_large", "a decoration is at most 1024 bytes");
    } else {
        int rc = store_decoration_put(r->api->db, sstr(r->arg, r->arg_len), sstr(compact, len),
                                      now_ms());
        if (rc != MQ_OK)
            http__db_failed(r, rc);
        else if (chat_dir_deco_put(chat_of(r)->dir, r->arg, r->arg_len, compact, len) != MQ_OK)
            http__error(r, 500, "internal", "out of memory");
        else
            write_deco(r, compact, len);
    }
    cJSON_free(compact);
    cJSON_Delete(o);
}

/* DELETE /v1/users/{user}/decoration: also when there is none. */
static void deco_delete(struct http_req *r)
{
    if (!may_decorate(r))
        return;
    int rc = store_decoration_delete(r->api->db, sstr(r->arg, r->arg_len));
    if (rc != MQ_OK && rc != MQ_ENOTFOUND) {
        http__db_failed(r, rc);
        return;
    }
    chat_dir_deco_put(chat_of(r)->dir, r->arg, r->arg_len, NULL, 0);
    write_deco(r, NULL, 0);
}

/* ---- blocks (and the checks the chat-feature endpoints share) ---------------------------- */

/* False after answering 503 when a part of the chat layer is not up. */
static bool chat_up(struct http_req *r, const void *part)
{
    if (part)
        return true;
    http__error(r, 503, "unavailable", "the chat layer is not up");
    return false;
}

/* The path's room exists (else 404) and the caller is its owner, a
 * moderator or the service (else 403). *mine gets the caller's member
 * role (-1: none). False after answering. */
static bool room_staff(struct http_req *r, struct chat_room_info *info, int *mine)
{
    struct chat *ch = chat_of(r);
    if (!http__authed(r))
        return false;
    if (!chat_dir_room_get(ch->dir, r->arg, r->arg_len, info)) {
        http__error(r, 404, "not_found", "no such room");
        return false;
    }
    *mine = chat_dir_member_role(ch->dir, r->arg, r->arg_len, r->who, r->who_len);
    if (!http__is_service(r) && *mine < CHAT_MODERATOR) {
        http__error(r, 403, "forbidden", "only the room's owner, a moderator or the service");
        return false;
    }
    return true;
}

/*
 * POST/DELETE /v1/rooms/{room}/blocks/{user}: the room's owner, a
 * moderator or the service; a moderator not on the owner or another
 * moderator; nobody on themselves. False after answering.
 */
static bool may_room_block(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    struct chat_room_info info;
    int mine;
    if (!room_staff(r, &info, &mine))
        return false;
    if (same_name(r->arg2, r->arg2_len, r->who, r->who_len)) {
        http__error(r, 400, "bad_request", "you cannot block yourself");
        return false;
    }
    if (!http__is_service(r) && mine == CHAT_MODERATOR) {
        int theirs = chat_dir_member_role(ch->dir, r->arg, r->arg_len, r->arg2, r->arg2_len);
        if (theirs >= CHAT_MODERATOR ||
            same_name(r->arg2, r->arg2_len, info.owner, strlen(info.owner))) {
            http__error(r, 403, "forbidden",
                        "a moderator may not block the owner or another moderator");
            return false;
        }
    }
    return true;
}

/*
 * PUT /v1/rooms/{room}/members/{user} {"role":"moderator"|"member"}: the
 * room's owner or the service names or removes a moderator. {user} must be
 * a member already; the owner's own role does not change here. The
 * database first, then the directory.
 */
static void member_role_put(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    struct chat_room_info info;
    int mine;
    if (!room_staff(r, &info, &mine))
        return;
    if (!http__is_service(r) && mine != CHAT_OWNER) {
        http__error(r, 403, "forbidden", "only the room's owner or the service");
        return;
    }
    cJSON *o = http__body(r, true);
    const char *role = NULL;
    size_t role_len = 0;
    if (!o || !http__member_str(r, o, "role", true, &role, &role_len))
        goto out;
    enum chat_member_role want;
    if (role_len == 9 && memcmp(role, "moderator", 9) == 0) {
        want = CHAT_MODERATOR;
    } else if (role_len == 6 && memcmp(role, "member", 6) == 0) {
        want = CHAT_MEMBER;
    } else {
        http__error(r, 400, "bad_request", "'role' must be \"moderator\" or \"member\"");
        goto out;
    }
    int theirs = chat_dir_member_role(ch->dir, r->arg, r->arg_len, r->arg2, r->arg2_len);
    if (theirs < 0) {
        http__error(r, 404, "not_member", "not a member of the room");
        goto out;
    }
    if (theirs == CHAT_OWNER) {
        http__error(r, 409, "owner", "the owner's role does not change");
        goto out;
    }
    struct store_member m = {sstr(r->arg, r->arg_len), sstr(r->arg2, r->arg2_len),
                             (enum store_role)want, now_ms()};
    int rc = store_member_put(r->api->db, &m);
    if (rc != MQ_OK) {
        http__db_failed(r, rc);
        goto out;
    }
    rc = chat_dir_member_put(ch->dir, r->arg, r->arg_len, r->arg2, r->arg2_len, want);
    if (rc != MQ_OK) {
        m.role = (enum store_role)theirs;
        store_member_put(r->api->db, &m);
        http__error(r, rc == MQ_ENOMEM ? 500 : 409, rc == MQ_ENOMEM ? "internal" : "conflict",
                    rc == MQ_ENOMEM ? "out of memory" : "the membership changed meanwhile");
        goto out;
    }
    log_info("http: '%s' is now %s of room '%s' (set by '%s')", r->arg2, role, r->arg, r->who);
    struct jbuf *out = http__json(r, 200);
    jbuf_puts(out, "{\"room\":");
    jbuf_str(out, r->arg, r->arg_len);
    jbuf_puts(out, ",\"user\":");
    jbuf_str(out, r->arg2, r->arg2_len);
    jbuf_printf(out, ",\"role\":\"%s\"}", member_role_name(want));
out:
    cJSON_Delete(o);
}

/* {"<k1>":arg,"<k2>":arg2,"blocked":true|false} */
static void write_block(struct http_req *r, const char *k1, const char *k2, bool blocked)
{
    struct jbuf *o = http__json(r, 200);
    jbuf_printf(o, "{\"%s\":", k1);
    jbuf_str(o, r->arg, r->arg_len);
    jbuf_printf(o, ",\"%s\":", k2);
    jbuf_str(o, r->arg2, r->arg2_len);
    jbuf_puts(o, blocked ? ",\"blocked\":true}" : ",\"blocked\":false}");
}

/* POST /v1/rooms/{room}/blocks/{user}: the database, then the directory
 * (the block is lifted again when the directory refuses it). */
static void room_block_put(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    struct db *db = r->api->db;
    if (!may_room_block(r))
        return;
    struct store_str room = sstr(r->arg, r->arg_len), user = sstr(r->arg2, r->arg2_len);
    bool was = chat_dir_room_blocked(ch->dir, r->arg, r->arg_len, r->arg2, r->arg2_len);
    int rc = store_room_block_put(db, room, user, sstr(r->who, r->who_len), now_ms());
    if (rc != MQ_OK) {
        http__db_failed(r, rc);
        return;
    }
    rc = chat_dir_room_block_put(ch->dir, r->arg, r->arg_len, r->arg2, r->arg2_len);
    if (rc != MQ_OK) {
        if (!was)
            store_room_block_delete(db, room, user);
        if (rc == MQ_ENOTFOUND)
            http__error(r, 404, "not_found", "no such room");
        else
            http__error(r, 500, "internal", "out of memory");
        return;
    }
    log_info("http: '%s' blocked in room '%s' by '%s'", r->arg2, r->arg, r->who);
    write_block(r, "room", "user", true);
}

/* DELETE /v1/rooms/{room}/blocks/{user}: also when there is none. */
static void room_block_delete(struct http_req *r)
{
    if (!may_room_block(r))
        return;
    int rc =
        store_room_block_delete(r->api->db, sstr(r->arg, r->arg_len), sstr(r->arg2, r->arg2_len));
    if (rc != MQ_OK && rc != MQ_ENOTFOUND) {
        http__db_failed(r, rc);
        return;
    }
    chat_dir_room_block_delete(chat_of(r)->dir, r->arg, r->arg_len, r->arg2, r->arg2_len);
    if (rc == MQ_OK)
        log_info("http: '%s' unblocked in room '%s' by '%s'", r->arg2, r->arg, r->who);
    write_block(r, "room", "user", false);
}

/* Appends the names of a block list as a JSON array's members (names the
 * directory would not hold are left out). */
struct name_list {
    struct jbuf *o;
    size_t n;
};

static void add_name(void *ctx, struct store_str name)
{
    struct name_list *l = ctx;
    if (!chat_name_valid(name.s, name.len))
        return;
    if (l->n++)
        jbuf_putc(l->o, ',');
    jbuf_str(l->o, name.s, name.len);
}

/* {"<key>":arg,"blocks":[...]} from list (the database). */
static void write_block_list(struct http_req *r, const char *key,
                             int (*list)(struct db *db, struct store_str name,
                                         void (*fn)(void *ctx, struct store_str name), void *ctx))
{
    struct jbuf *o = http__json(r, 200);
    struct name_list l = {o, 0};
    jbuf_printf(o, "{\"%s\":", key);
    jbuf_str(o, r->arg, r->arg_len);
    jbuf_puts(o, ",\"blocks\":[");
    int rc = list(r->api->db, sstr(r->arg, r->arg_len), add_name, &l);
    if (rc != MQ_OK) {
        http__db_failed(r, rc);
        return;
    }
    jbuf_puts(o, "]}");
}

/* GET /v1/rooms/{room}/blocks: owner, moderators, service. */
static void room_block_list(struct http_req *r)
{
    struct chat_room_info info;
    int mine;
    if (room_staff(r, &info, &mine))
        write_block_list(r, "room", store_room_block_list_room);
}

/* /v1/users/{user}/blocks...: the user or the service. False after
 * answering. */
static bool may_user_block(struct http_req *r)
{
    if (!http__authed(r))
        return false;
    if (!http__is_service(r) && !same_name(r->who, r->who_len, r->arg, r->arg_len)) {
        http__error(r, 403, "forbidden", "only the user or the service");
        return false;
    }
    if (r->arg2_len && same_name(r->arg, r->arg_len, r->arg2, r->arg2_len)) {
        http__error(r, 400, "bad_request", "a user cannot block themselves");
        return false;
    }
    return true;
}

/* POST /v1/users/{user}/blocks/{other}. */
static void user_block_put(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    struct db *db = r->api->db;
    if (!may_user_block(r))
        return;
    struct store_str user = sstr(r->arg, r->arg_len), other = sstr(r->arg2, r->arg2_len);
    bool was = chat_dir_user_blocks(ch->dir, r->arg, r->arg_len, r->arg2, r->arg2_len);
    int rc = store_user_block_put(db, user, other, now_ms());
    if (rc != MQ_OK) {
        http__db_failed(r, rc);
        return;
    }
    if (chat_dir_user_block_put(ch->dir, r->arg, r->arg_len, r->arg2, r->arg2_len) != MQ_OK) {
        if (!was)
            store_user_block_delete(db, user, other);
        http__error(r, 500, "internal", "out of memory");
        return;
    }
    write_block(r, "user", "other", true);
}

/* DELETE /v1/users/{user}/blocks/{other}: also when there is none. */
static void user_block_delete(struct http_req *r)
{
    if (!may_user_block(r))
        return;
    int rc =
        store_user_block_delete(r->api->db, sstr(r->arg, r->arg_len), sstr(r->arg2, r->arg2_len));
    if (rc != MQ_OK && rc != MQ_ENOTFOUND) {
        http__db_failed(r, rc);
        return;
    }
    chat_dir_user_block_delete(chat_of(r)->dir, r->arg, r->arg_len, r->arg2, r->arg2_len);
    write_block(r, "user", "other", false);
}

/* GET /v1/users/{user}/blocks: the user or the service. */
static void user_block_list(struct http_req *r)
{
    if (may_user_block(r))
        write_block_list(r, "user", store_user_block_list_user);
}

/* ---- presence, unread counts, read markers ------------------------------------------------- */

/* GET /v1/users/{user}/presence: any caller; someone {user} blocks gets
 * what a user never seen looks like. */
static void user_presence(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    if (!http__authed(r) || !chat_up(r, ch->presence))
        return;
    struct jbuf *o = http__json(r, 200);
    if (!http__is_service(r) &&
        chat_dir_user_blocks(ch->dir, r->arg, r->arg_len, r->who, r->who_len)) {
        jbuf_puts(o, "{\"user\":");
        jbuf_str(o, r->arg, r->arg_len);
        jbuf_puts(o, ",\"online\":false,\"devices\":0,\"last_seen\":null}");
        return;
    }
    presence_user_json(ch->presence, r->arg, r->arg_len, o);
}

/* GET /v1/users/{user}/unread: the user or the service. unread_json's
 * object with "user" first: {"user":..,"rooms":{..},"total":N}. */
static void user_unread(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    if (!http__authed(r))
        return;
    if (!http__is_service(r) && !same_name(r->who, r->who_len, r->arg, r->arg_len)) {
        http__error(r, 403, "forbidden", "only the user or the service");
        return;
    }
    if (!chat_up(r, ch->unread))
        return;
    struct jbuf summary;
    jbuf_init(&summary);
    unread_json(ch->unread, r->arg, r->arg_len, &summary);
    if (summary.oom || summary.len < 2 || summary.p[0] != '{') {
        jbuf_free(&summary);
        http__error(r, 500, "internal", "out of memory");
        return;
    }
    struct jbuf *o = http__json(r, 200);
    jbuf_puts(o, "{\"user\":");
    jbuf_str(o, r->arg, r->arg_len);
    if (summary.p[1] != '}')
        jbuf_putc(o, ',');
    jbuf_put(o, summary.p + 1, summary.len - 1);
    jbuf_free(&summary);
}

/* POST /v1/rooms/{room}/read {"upto":id[,"user"]}: the caller's own
 * marker; the service names the member. */
static void room_read(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    struct chat_room_info info;
    if (!http__authed(r))
        return;
    if (!chat_dir_room_get(ch->dir, r->arg, r->arg_len, &info)) {
        http__error(r, 404, "not_found", "no such room");
        return;
    }
    if (!chat_up(r, ch->unread))
        return;
    cJSON *o = http__body(r, true);
    if (!o)
        return;
    const char *user;
    size_t user_len;
    uint64_t upto = 0;
    bool service = http__is_service(r);
    if (!http__member_str(r, o, "user", service, &user, &user_len))
        goto out;
    if (!user) {
        user = r->who;
        user_len = r->who_len;
    } else if (!name_ok(r, "user", user, user_len)) {
        goto out;
    } else if (!service && !same_name(user, user_len, r->who, r->who_len)) {
        http__error(r, 403, "forbidden", "only the service sets someone else's marker");
        goto out;
    }
    int rc = chat_history_json_u64(r->body, r->body_len, o, "upto", INT64_MAX, &upto);
    if (rc != MQ_OK || upto == 0) {
        http__error(r, 400, "bad_request",
                    rc == MQ_ENOTFOUND ? "'upto' is required"
                                       : "'upto' must be a message id (a string of digits)");
        goto out;
    }
    rc = chat_read_marker(ch, user, user_len, r->arg, r->arg_len, (int64_t)upto);
    if (rc == MQ_EDENIED) {
        http__error(r, 403, "not_member", "not a member of that room");
        goto out;
    }
    if (rc == MQ_EINVAL) {
        http__error(r, 400, "bad_request", "not a valid read marker");
        goto out;
    }
    if (rc != MQ_OK) {
        http__error(r, 500, "internal", mq_strerror(rc));
        goto out;
    }
    struct unread_room ur;
    unread_room_get(ch->unread, user, user_len, r->arg, r->arg_len, &ur);
    struct jbuf *out = http__json(r, 200);
    jbuf_puts(out, "{\"room\":");
    jbuf_str(out, r->arg, r->arg_len);
    jbuf_puts(out, ",\"user\":");
    jbuf_str(out, user, user_len);
    jbuf_puts(out, ",\"upto\":");
    jbuf_id(out, (uint64_t)ur.upto);
    jbuf_puts(out, ",\"unread\":");
    jbuf_i64(out, ur.count);
    jbuf_putc(out, '}');
out:
    cJSON_Delete(o);
}

/* ---- settings ------------------------------------------------------------------------------ */

#define SETTINGS_KEY "control" /* the settings row of a scope (store_setting_*) */

/* {"scope":"system"|"room"[,"room":..],"settings":{..}[,"effective":{..}]}
 * for the system (room NULL) or a room; settings is doc when given, else
 * the stored document. */
static void write_settings(struct http_req *r, const char *room, size_t room_len, const char *doc,
                           bool effective)
{
    struct chat_control *cc = chat_of(r)->control;
    struct jbuf *o = http__json(r, 200);
    if (room) {
        jbuf_puts(o, "{\"scope\":\"room\",\"room\":");
        jbuf_str(o, room, room_len);
    } else {
        jbuf_puts(o, "{\"scope\":\"system\"");
    }
    jbuf_puts(o, ",\"settings\":");
    if (doc)
        jbuf_puts(o, doc);
    else
        chat_control_json(cc, room, room_len, false, o);
    if (effective) {
        jbuf_puts(o, ",\"effective\":");
        chat_control_json(cc, room, room_len, true, o);
    }
    jbuf_putc(o, '}');
}

/*
 * A PUT of settings: the body is a patch of the scope's document
 * (chat_control_merge); the merged document is stored, then installed. If
 * it cannot be installed, the previous document is stored again.
 */
static void settings_put(struct http_req *r, const char *room, size_t room_len)
{
    struct chat_control *cc = chat_of(r)->control;
    struct db *db = r->api->db;
    if (!chat_of(r)->settings_loaded) {
        /* A patch merged into defaults would overwrite what is stored. */
        http__error(r, 503, "unavailable",
                    "the stored settings were not loaded (the chat database was away at "
                    "start-up): restart the broker once it is back");
        return;
    }
    cJSON *o = http__body(r, true); /* UTF-8, one object, no \u0000 */
    if (!o)
        return;
    cJSON_Delete(o);
    char err[160] = "", *merged = NULL;
    int rc =
        chat_control_merge(cc, room, room_len, r->body, r->body_len, &merged, err, sizeof(err));
    if (rc == MQ_EINVAL) {
        http__error(r, 400, "bad_request", err[0] ? err : "not valid settings");
        return;
    }
    if (rc != MQ_OK) {
        http__error(r, 500, "internal", "out of memory");
        return;
    }
    struct jbuf old;
    jbuf_init(&old);
    chat_control_json(cc, room, room_len, false, &old);
    struct store_str scope = room ? sstr(room, room_len) : sstr("", 0);
    size_t len = strlen(merged);
    if (old.oom) {
        http__error(r, 500, "internal", "out of memory");
    } else if ((rc = store_setting_put(db, scope, STORE_STR(SETTINGS_KEY), sstr(merged, len))) !=
               MQ_OK) {
        http__db_failed(r, rc);
    } else if ((rc = chat_control_set(cc, room, room_len, merged, len)) != MQ_OK) {
        store_setting_put(db, scope, STORE_STR(SETTINGS_KEY), sstr(old.p, old.len));
        http__error(r, 500, "internal",
                    rc == MQ_ENOMEM ? "out of memory" : "the settings could not be applied");
    } else {
        cluster_settings_changed(r->api->b, room, room_len, merged, len);
        log_info("http: settings of %s%.*s set by '%s'", room ? "room " : "the system",
                 (int)room_len, room ? room : "", r->who);
        write_settings(r, room, room_len, merged, false);
    }
    jbuf_free(&old);
    free(merged);
}

/* PUT /v1/settings: the service. */
static void system_settings_put(struct http_req *r)
{
    if (!http__authed(r))
        return;
    if (!http__is_service(r)) {
        http__error(r, 403, "forbidden", "system settings are for the service role");
        return;
    }
    if (chat_up(r, chat_of(r)->control))
        settings_put(r, NULL, 0);
}

/* GET /v1/settings: any caller. */
static void system_settings_get(struct http_req *r)
{
    if (http__authed(r) && chat_up(r, chat_of(r)->control))
        write_settings(r, NULL, 0, NULL, true);
}

/* PUT /v1/rooms/{room}/settings: the room's owner, a moderator, the
 * service. */
static void room_settings_put(struct http_req *r)
{
    struct chat_room_info info;
    int mine;
    if (room_staff(r, &info, &mine) && chat_up(r, chat_of(r)->control))
        settings_put(r, r->arg, r->arg_len);
}

/* GET /v1/rooms/{room}/settings: whoever may read the room. */
static void room_settings_get(struct http_req *r)
{
    struct chat *ch = chat_of(r);
    struct chat_room_info info;
    if (!http__authed(r))
        return;
    if (!chat_dir_room_get(ch->dir, r->arg, r->arg_len, &info)) {
        http__error(r, 404, "not_found", "no such room");
        return;
    }
    if (info.is_private && !http__is_service(r) &&
        chat_dir_member_role(ch->dir, r->arg, r->arg_len, r->who, r->who_len) < 0) {
        http__error(r, 403, "private_room", "members only");
        return;
    }
    if (chat_up(r, ch->control))
        write_settings(r, r->arg, r->arg_len, NULL, true);
}

/* ---- health and metrics -------------------------------------------------------------------- */

static void healthz(struct http_req *r)
{
    jbuf_puts(http__json(r, 200), "{\"status\":\"ok\"}");
}

static void metrics(struct http_req *r)
{
    struct jbuf *o = http__json(r, 200);
    r->content_type = METRICS_TYPE;
    metrics_write(r->api->b, o);
}

/* ---- the table ----------------------------------------------------------------------------- */

const struct http_route http__routes[] = {
    {HTTP_POST, "/v1/users", true, user_create},
    {HTTP_PUT, "/v1/users/*/decoration", true, deco_put},
    {HTTP_DELETE, "/v1/users/*/decoration", true, deco_delete},
    {HTTP_POST, "/v1/tokens", false, token_create},
    {HTTP_GET, "/v1/rooms", false, room_list},
    {HTTP_POST, "/v1/rooms", true, room_create},
    {HTTP_GET, "/v1/rooms/*", false, room_get},
    {HTTP_POST, "/v1/rooms/*/join", true, room_join},
    {HTTP_POST, "/v1/rooms/*/leave", true, room_leave},
    {HTTP_GET, "/v1/rooms/*/messages", true, room_history},
    {HTTP_GET, "/v1/dms/*/messages", true, dm_history},
    {HTTP_PUT, "/v1/rooms/*/members/*", true, member_role_put},
    {HTTP_POST, "/v1/rooms/*/blocks/*", true, room_block_put},
    {HTTP_DELETE, "/v1/rooms/*/blocks/*", true, room_block_delete},
    {HTTP_GET, "/v1/rooms/*/blocks", true, room_block_list},
    {HTTP_POST, "/v1/users/*/blocks/*", true, user_block_put},
    {HTTP_DELETE, "/v1/users/*/blocks/*", true, user_block_delete},
    {HTTP_GET, "/v1/users/*/blocks", true, user_block_list},
    {HTTP_GET, "/v1/users/*/presence", false, user_presence},
    {HTTP_GET, "/v1/users/*/unread", false, user_unread},
    {HTTP_POST, "/v1/rooms/*/read", false, room_read},
    {HTTP_GET, "/v1/settings", false, system_settings_get},
    {HTTP_PUT, "/v1/settings", true, system_settings_put},
    {HTTP_GET, "/v1/rooms/*/settings", false, room_settings_get},
    {HTTP_PUT, "/v1/rooms/*/settings", true, room_settings_put},
    {HTTP_POST, "/v1/notifications", true, notify},
    {HTTP_GET, "/healthz", false, healthz},
    {HTTP_GET, "/metrics", false, metrics},
};

const size_t http__nroutes = sizeof(http__routes) / sizeof(http__routes[0]);
