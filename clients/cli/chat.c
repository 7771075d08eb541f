/*
 * chat.c - the interactive chat (see chat.h).
 *
 * Two threads touch the state below: the main thread (stdin, commands,
 * reconnects) and Paho's (arriving messages, a lost connection). One
 * mutex, ch->mu, guards every field marked "mu" and stdout, so a line is
 * always printed whole and the prompt is redrawn after it.
 *
 * Every string that came from the broker (messages, room names, notices,
 * HTTP errors) is made safe (safetext.h) before it is printed.
 */
#include "chat.h"

#include <cJSON.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/envelope.h"
#include "../common/safetext.h"
#include "backoff.h"
#include "conn.h"

#define CHAT_MAX_ROOMS 32
#define CHAT_MAX_NAMES 64
#define CHAT_SEEN 256          /* envelope ids remembered to drop redeliveries */
#define CHAT_HISTORY_PAGE 20   /* /history without N */
#define CHAT_LINE_MAX 16384

struct chat_room {
    char name[OPTS_NAME_MAX + 1];
    char last_id[ENVELOPE_ID_MAX];      /* newest message seen in it ("" none) */
    long online;                         /* from the room presence; -1 before any */
    int nnames;
    char names[CHAT_MAX_NAMES][OPTS_NAME_MAX + 1]; /* seen joining, not yet left */
};

struct chat {
    const struct mqchat_opts *o;
    struct api *api;
    struct conn *conn;
    char me[OPTS_NAME_MAX + 1];
    int tty;                             /* stdout is a terminal: prompt and colours */
    pthread_mutex_t mu;
    /* mu: */
    char room[OPTS_NAME_MAX + 1];        /* current room ("" none) */
    char dm[OPTS_NAME_MAX + 1];          /* current DM partner; wins over room when set */
    struct chat_room rooms[CHAT_MAX_ROOMS];
    int nrooms;
    char seen[CHAT_SEEN][ENVELOPE_ID_MAX];
    int iseen;
    int lost;                            /* set by the lost-connection callback */
    int reconnecting;                    /* the next connection is a reconnection */
    char lost_cause[128];
    /* main thread only: */
    char hist_key[OPTS_NAME_MAX + 2];    /* "#room" or "@user" the cursor belongs to */
    char hist_before[ENVELOPE_ID_MAX];   /* page before this id ("" = newest) */
    int hist_end;                        /* no older messages */
};

static volatile sig_atomic_t chat_stop;

static void chat__on_signal(int sig)
{
    (void)sig;
    chat_stop = 1;
}

/* ---- output (mu held) ---- */

static void chat__prompt_locked(struct chat *ch)
{
    if (!ch->tty)
        return;
    if (ch->dm[0])
        printf("[@%s]> ", ch->dm);
    else if (ch->room[0])
        printf("[#%s]> ", ch->room);
    else
        printf("> ");
    fflush(stdout);
}

static void chat__line_locked(struct chat *ch, const char *z)
{
    if (ch->tty)
        fputs("\r\033[K", stdout);
    fputs(z, stdout);
    fputc('\n', stdout);
    chat__prompt_locked(ch);
}

/* A count from a JSON number, clamped to 0..1e15 before the cast (a double
 * beyond long's range is undefined behaviour); 0 when not a number. */
static long chat__count(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0))
        return 0;
    return v->valuedouble < 1e15 ? (long)v->valuedouble : 1000000000000000L;
}

/* Prints env as one line above the prompt, after `indent`, however long
 * (mu held). */
static void chat__env_line_locked(struct chat *ch, const char *indent, const struct envelope *env,
                                  int flags)
{
    char small[1024], *line = small, *heap = NULL;
    size_t ni = strlen(indent);
    int n;

    memcpy(small, indent, ni + 1);
    n = envelope_format(env, flags, small + ni, sizeof small - ni);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof small - ni) {
        heap = malloc(ni + (size_t)n + 1);
        if (heap) {
            memcpy(heap, indent, ni);
            envelope_format(env, flags, heap + ni, (size_t)n + 1);
            line = heap;
        }
    }
    chat__line_locked(ch, line);
    free(heap);
}

/* Prints one line above the prompt; takes mu. */
static void chat__say(struct chat *ch, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&ch->mu);
    chat__line_locked(ch, buf);
    pthread_mutex_unlock(&ch->mu);
}

/* ---- rooms (mu held) ---- */

static struct chat_room *chat__room_find(struct chat *ch, const char *name)
{
    int i;
    for (i = 0; i < ch->nrooms; i++)
        if (!strcmp(ch->rooms[i].name, name))
            return &ch->rooms[i];
    return NULL;
}

static struct chat_room *chat__room_add(struct chat *ch, const char *name)
{
    struct chat_room *r = chat__room_find(ch, name);
    if (r || ch->nrooms == CHAT_MAX_ROOMS || !opts_valid_name(name))
        return r;
    r = &ch->rooms[ch->nrooms++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->online = -1;
    return r;
}

static void chat__room_remove(struct chat *ch, const char *name)
{
    struct chat_room *r = chat__room_find(ch, name);
    if (r) {
        *r = ch->rooms[--ch->nrooms];
    }
}

static void chat__names_update(struct chat_room *r, const cJSON *list, int add)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, list)
    {
        int i, found = -1;
        if (!cJSON_IsString(it) || !opts_valid_name(it->valuestring))
            continue;
        for (i = 0; i < r->nnames; i++)
            if (!strcmp(r->names[i], it->valuestring))
                found = i;
        if (add && found < 0 && r->nnames < CHAT_MAX_NAMES)
            snprintf(r->names[r->nnames++], sizeof r->names[0], "%s", it->valuestring);
        else if (!add && found >= 0)
            memcpy(r->names[found], r->names[--r->nnames], sizeof r->names[0]);
    }
}

/* 1 when id was seen already (and remembers it otherwise). */
static int chat__seen_locked(struct chat *ch, const char *id)
{
    int i;
    if (!id[0])
        return 0;
    for (i = 0; i < CHAT_SEEN; i++)
        if (!strcmp(ch->seen[i], id))
            return 1;
    snprintf(ch->seen[ch->iseen], sizeof ch->seen[0], "%s", id);
    ch->iseen = (ch->iseen + 1) % CHAT_SEEN;
    return 0;
}

/* ---- what arrives (Paho's thread) ---- */

static void chat__show_envelope(struct chat *ch, const char *payload, size_t len, int live)
{
    struct envelope env;
    int flags = 0;

    if (envelope_parse(payload, len, &env) != ENVELOPE_OK)
        return;
    pthread_mutex_lock(&ch->mu);
    if (live && chat__seen_locked(ch, env.id)) {
        pthread_mutex_unlock(&ch->mu);
        envelope_free(&env);
        return;
    }
    if (env.room[0]) {
        /* rooms are added by /join only: a message (a late redelivery, a
         * room left a moment ago) does not bring a room back */
        struct chat_room *r = chat__room_find(ch, env.room);
        if (r && env.id[0] && strcmp(env.type, "system") != 0)
            snprintf(r->last_id, sizeof r->last_id, "%s", env.id);
        if (strcmp(env.room, ch->room) != 0 || ch->dm[0])
            flags |= ENVELOPE_FMT_ROOM;
    }
    if (ch->tty)
        flags |= ENVELOPE_FMT_COLOR;
    chat__env_line_locked(ch, "", &env, flags);
    pthread_mutex_unlock(&ch->mu);
    envelope_free(&env);
}

static void chat__presence(struct chat *ch, const char *room, const char *payload, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(payload, len);
    const cJSON *online = cJSON_GetObjectItemCaseSensitive(j, "online");
    const cJSON *joined = cJSON_GetObjectItemCaseSensitive(j, "joined");
    const cJSON *left = cJSON_GetObjectItemCaseSensitive(j, "left");
    struct chat_room *r;

    if (!j)
        return;
    pthread_mutex_lock(&ch->mu);
    r = chat__room_find(ch, room);
    if (r) {
        if (cJSON_IsNumber(online))
            r->online = chat__count(online);
        chat__names_update(r, joined, 1);
        chat__names_update(r, left, 0);
    }
    pthread_mutex_unlock(&ch->mu);
    cJSON_Delete(j);
}

static void chat__event(struct chat *ch, const char *payload, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(payload, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(j, "reason");
    const cJSON *topic = cJSON_GetObjectItemCaseSensitive(j, "topic");

    if (cJSON_IsString(type) && !strcmp(type->valuestring, "notice")) {
        char zreason[128], ztopic[256];
        const char *r = cJSON_IsString(reason) ? reason->valuestring : "no reason";
        const char *t = cJSON_IsString(topic) ? topic->valuestring : "?";
        safetext_copy(zreason, sizeof zreason, r, strlen(r), 0);
        safetext_copy(ztopic, sizeof ztopic, t, strlen(t), 0);
        chat__say(ch, "-- refused: %s (%s)", zreason, ztopic);
    } else if (cJSON_IsString(type) && strcmp(type->valuestring, "unread") != 0 &&
             strcmp(type->valuestring, "history") != 0)
        chat__show_envelope(ch, payload, len, 1); /* a notification to me */
    cJSON_Delete(j);
}

static void chat__on_message(void *ctx, const char *topic, const char *payload, size_t len)
{
    struct chat *ch = ctx;
    char room[OPTS_NAME_MAX + 1];
    const char *p;

    if (strncmp(topic, "chat/", 5) != 0)
        return;
    p = topic + 5;
    if (!strncmp(p, "room/", 5)) {
        const char *rest = strchr(p + 5, '/');
        size_t n = rest ? (size_t)(rest - p - 5) : strlen(p + 5);
        if (n == 0 || n > OPTS_NAME_MAX)
            return;
        memcpy(room, p + 5, n);
        room[n] = '\0';
        if (!rest || !strcmp(rest, "/system"))
            chat__show_envelope(ch, payload, len, 1);
        else if (!strcmp(rest, "/presence"))
            chat__presence(ch, room, payload, len);
    } else if (!strncmp(p, "dm/", 3) || !strcmp(p, "system")) {
        chat__show_envelope(ch, payload, len, 1);
    } else if (!strncmp(p, "user/", 5)) {
        chat__event(ch, payload, len);
    }
}

static void chat__on_lost(void *ctx, const char *cause)
{
    struct chat *ch = ctx;
    pthread_mutex_lock(&ch->mu);
    ch->lost = 1;
    snprintf(ch->lost_cause, sizeof ch->lost_cause, "%s", cause);
    pthread_mutex_unlock(&ch->mu);
}

/* Says "reconnected" before the messages the session kept come in. */
static void chat__on_up(void *ctx, int session_present)
{
    struct chat *ch = ctx;
    pthread_mutex_lock(&ch->mu);
    if (ch->reconnecting) {
        ch->reconnecting = 0;
        chat__line_locked(ch, session_present ? "-- reconnected (session resumed)"
                                              : "-- reconnected (new session)");
    }
    pthread_mutex_unlock(&ch->mu);
}

/* ---- subscriptions ---- */

/* Subscribes to a room's topics; 0, or an error already printed. */
static int chat__subscribe_room(struct chat *ch, const char *room)
{
    char topic[128];
    int reason = 0, rc;

    snprintf(topic, sizeof topic, "chat/room/%s", room);
    rc = conn_subscribe(ch->conn, topic, 1, &reason);
    if (rc == CONN_EDENIED) {
        chat__say(ch, "-- cannot join #%s: %s (the room does not exist, or it is private)", room,
                  conn_reason_string(reason));
        return -1;
    }
    if (rc != CONN_OK) {
        chat__say(ch, "-- cannot join #%s: %s", room, conn_strerror(rc));
        return -1;
    }
    snprintf(topic, sizeof topic, "chat/room/%s/system", room);
    conn_subscribe(ch->conn, topic, 1, NULL);
    snprintf(topic, sizeof topic, "chat/room/%s/presence", room);
    conn_subscribe(ch->conn, topic, 0, NULL);
    return 0;
}

/* The topics every session has: my DMs, my events, system notifications. */
static int chat__subscribe_base(struct chat *ch)
{
    char topic[128];
    int rc;
    snprintf(topic, sizeof topic, "chat/dm/%s", ch->me);
    if ((rc = conn_subscribe(ch->conn, topic, 1, NULL)) != CONN_OK)
        return rc;
    snprintf(topic, sizeof topic, "chat/user/%s/events", ch->me);
    if ((rc = conn_subscribe(ch->conn, topic, 1, NULL)) != CONN_OK)
        return rc;
    return conn_subscribe(ch->conn, "chat/system", 1, NULL);
}

static void chat__resubscribe_all(struct chat *ch)
{
    char names[CHAT_MAX_ROOMS][OPTS_NAME_MAX + 1];
    int i, n;
    pthread_mutex_lock(&ch->mu);
    n = ch->nrooms;
    for (i = 0; i < n; i++)
        memcpy(names[i], ch->rooms[i].name, sizeof names[i]);
    pthread_mutex_unlock(&ch->mu);
    chat__subscribe_base(ch);
    for (i = 0; i < n; i++)
        chat__subscribe_room(ch, names[i]);
}

/* ---- commands ---- */

static int chat__need_api(struct chat *ch, const char *what)
{
    if (ch->api->token)
        return 1;
    chat__say(ch, "-- %s needs the HTTP API (log in with a password or token and --api)", what);
    return 0;
}

static void chat__cmd_join(struct chat *ch, const char *room)
{
    int known;
    if (!opts_valid_name(room)) {
        chat__say(ch, "-- usage: /join ROOM (1-64 of A-Z a-z 0-9 _ . -)");
        return;
    }
    pthread_mutex_lock(&ch->mu);
    known = chat__room_find(ch, room) != NULL;
    pthread_mutex_unlock(&ch->mu);
    if (!known && chat__subscribe_room(ch, room) != 0)
        return;
    pthread_mutex_lock(&ch->mu);
    chat__room_add(ch, room);
    snprintf(ch->room, sizeof ch->room, "%s", room);
    ch->dm[0] = '\0';
    pthread_mutex_unlock(&ch->mu);
    chat__say(ch, known ? "-- now in #%s" : "-- joined #%s (/history for earlier messages, /who for who is here)", room);
}

static void chat__cmd_leave(struct chat *ch, const char *arg)
{
    char room[OPTS_NAME_MAX + 1], topic[128], err[256], path[160];
    const char *suffix[] = {"", "/system", "/presence"};
    int i, rc;

    pthread_mutex_lock(&ch->mu);
    snprintf(room, sizeof room, "%s", arg && *arg ? arg : ch->room);
    pthread_mutex_unlock(&ch->mu);
    if (!opts_valid_name(room)) {
        chat__say(ch, "-- usage: /leave [ROOM] (not in a room now)");
        return;
    }
    for (i = 0; i < 3; i++) {
        snprintf(topic, sizeof topic, "chat/room/%s%s", room, suffix[i]);
        conn_unsubscribe(ch->conn, topic);
    }
    if (ch->api->token) {
        snprintf(path, sizeof path, "/v1/rooms/%s/leave", room);
        rc = api_call(ch->api, "POST", path, NULL, NULL, err, sizeof err);
        if (rc != 200 && rc != 404)
            chat__say(ch, "-- leaving #%s over HTTP failed: %s", room, err);
    }
    pthread_mutex_lock(&ch->mu);
    chat__room_remove(ch, room);
    if (!strcmp(ch->room, room))
        snprintf(ch->room, sizeof ch->room, "%s", ch->nrooms ? ch->rooms[0].name : "");
    pthread_mutex_unlock(&ch->mu);
    chat__say(ch, "-- left #%s", room);
}

static void chat__cmd_rooms(struct chat *ch)
{
    cJSON *ans = NULL;
    const cJSON *it;
    char err[256], line[512], zname[4 * OPTS_NAME_MAX + 1];
    int rc;

    if (!chat__need_api(ch, "/rooms"))
        return;
    rc = api_call(ch->api, "GET", "/v1/rooms?limit=200", NULL, &ans, err, sizeof err);
    if (rc != 200) {
        chat__say(ch, "-- /rooms failed: %s", err);
        cJSON_Delete(ans);
        return;
    }
    chat__say(ch, "-- rooms (* joined here):");
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ans, "rooms"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *online = cJSON_GetObjectItemCaseSensitive(it, "online");
        int priv = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "private")), joined;
        if (!cJSON_IsString(name))
            continue;
        pthread_mutex_lock(&ch->mu);
        joined = chat__room_find(ch, name->valuestring) != NULL;
        pthread_mutex_unlock(&ch->mu);
        safetext_copy(zname, sizeof zname, name->valuestring, strlen(name->valuestring), 0);
        snprintf(line, sizeof line, "   %s#%s  %ld online%s", joined ? "*" : " ", zname,
                 chat__count(online), priv ? "  (private)" : "");
        chat__say(ch, "%s", line);
    }
    cJSON_Delete(ans);
}

/* Publishes text as a JSON envelope request to topic. */
static void chat__send(struct chat *ch, const char *topic, const char *text)
{
    cJSON *j = cJSON_CreateObject();
    char *payload = NULL;
    int reason = 0, rc;

    if (j && cJSON_AddStringToObject(j, "type", "text") && cJSON_AddStringToObject(j, "text", text))
        payload = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!payload) {
        chat__say(ch, "-- out of memory, not sent");
        return;
    }
    rc = conn_publish(ch->conn, topic, payload, strlen(payload), 1, &reason);
    free(payload);
    if (rc == CONN_EDISCONNECTED)
        chat__say(ch, "-- not connected: message not sent");
    else if (rc != CONN_OK && rc != CONN_EDENIED) /* a refusal is told by its notice */
        chat__say(ch, "-- not sent: %s", conn_strerror(rc));
}

static void chat__cmd_dm(struct chat *ch, char *arg)
{
    char *text = arg + strcspn(arg, " ");
    char topic[128];
    if (*text)
        *text++ = '\0';
    if (!opts_valid_name(arg)) {
        chat__say(ch, "-- usage: /dm USER [text]");
        return;
    }
    while (*text == ' ')
        text++;
    if (*text) {
        snprintf(topic, sizeof topic, "chat/dm/%s", arg);
        chat__send(ch, topic, text);
        return;
    }
    pthread_mutex_lock(&ch->mu);
    snprintf(ch->dm, sizeof ch->dm, "%s", arg);
    pthread_mutex_unlock(&ch->mu);
    chat__say(ch, "-- talking to @%s (/join ROOM to go back to a room)", arg);
}

static void chat__cmd_history(struct chat *ch, const char *arg)
{
    char key[OPTS_NAME_MAX + 2], path[256], err[256];
    cJSON *ans = NULL;
    const cJSON *msgs, *it;
    long limit = arg && *arg ? atol(arg) : CHAT_HISTORY_PAGE;
    int rc, n;

    if (!chat__need_api(ch, "/history"))
        return;
    if (limit < 1 || limit > 1000) {
        chat__say(ch, "-- usage: /history [N] (1-1000, default %d)", CHAT_HISTORY_PAGE);
        return;
    }
    pthread_mutex_lock(&ch->mu);
    if (ch->dm[0])
        snprintf(key, sizeof key, "@%s", ch->dm);
    else if (ch->room[0])
        snprintf(key, sizeof key, "#%s", ch->room);
    else
        key[0] = '\0';
    pthread_mutex_unlock(&ch->mu);
    if (!key[0]) {
        chat__say(ch, "-- /history: join a room or /dm someone first");
        return;
    }
    if (strcmp(key, ch->hist_key) != 0) {
        snprintf(ch->hist_key, sizeof ch->hist_key, "%s", key);
        ch->hist_before[0] = '\0';
        ch->hist_end = 0;
    }
    if (ch->hist_end) {
        chat__say(ch, "-- no older messages in %s", key);
        return;
    }
    n = snprintf(path, sizeof path, key[0] == '#' ? "/v1/rooms/%s/messages?limit=%ld"
                                                  : "/v1/dms/%s/messages?limit=%ld",
                 key + 1, limit);
    if (ch->hist_before[0])
        snprintf(path + n, sizeof path - (size_t)n, "&before=%s", ch->hist_before);
    rc = api_call(ch->api, "GET", path, NULL, &ans, err, sizeof err);
    if (rc != 200) {
        chat__say(ch, "-- /history failed: %s", err);
        cJSON_Delete(ans);
        return;
    }
    msgs = cJSON_GetObjectItemCaseSensitive(ans, "messages");
    n = cJSON_GetArraySize(msgs);
    if (n == 0) {
        ch->hist_end = 1;
        chat__say(ch, "-- no older messages in %s", key);
        cJSON_Delete(ans);
        return;
    }
    chat__say(ch, "-- %s: %d earlier message%s%s", key, n, n == 1 ? "" : "s",
              n < limit ? " (the oldest)" : " (/history again for older)");
    cJSON_ArrayForEach(it, msgs)
    {
        struct envelope env;
        char *z = cJSON_PrintUnformatted(it);
        if (z && envelope_parse(z, strlen(z), &env) == ENVELOPE_OK) {
            if (it == msgs->child)
                snprintf(ch->hist_before, sizeof ch->hist_before, "%s", env.id);
            pthread_mutex_lock(&ch->mu);
            chat__env_line_locked(ch, "   ", &env, ch->tty ? ENVELOPE_FMT_COLOR : 0);
            pthread_mutex_unlock(&ch->mu);
            envelope_free(&env);
        }
        free(z);
    }
    if (n < limit)
        ch->hist_end = 1;
    chat__say(ch, "-- end of %s history page", key);
    cJSON_Delete(ans);
}

static void chat__cmd_who(struct chat *ch)
{
    char line[CHAT_MAX_NAMES * (OPTS_NAME_MAX + 2) + 128];
    struct chat_room *r;
    size_t n;
    int i, me = 0;

    pthread_mutex_lock(&ch->mu);
    r = ch->room[0] ? chat__room_find(ch, ch->room) : NULL;
    if (!r) {
        pthread_mutex_unlock(&ch->mu);
        chat__say(ch, "-- /who: join a room first");
        return;
    }
    if (r->online < 0) {
        snprintf(line, sizeof line, "-- #%s: no presence update yet", r->name);
    } else {
        n = (size_t)snprintf(line, sizeof line, "-- #%s: %ld online:", r->name, r->online);
        for (i = 0; i < r->nnames && n < sizeof line - OPTS_NAME_MAX - 4; i++) {
            n += (size_t)snprintf(line + n, sizeof line - n, " %s", r->names[i]);
            me |= !strcmp(r->names[i], ch->me);
        }
        if (!me && n < sizeof line - OPTS_NAME_MAX - 4)
            snprintf(line + n, sizeof line - n, " %s", ch->me);
    }
    chat__line_locked(ch, line);
    pthread_mutex_unlock(&ch->mu);
}

static void chat__cmd_block(struct chat *ch, const char *other, int on)
{
    char path[200], err[256];
    int rc;
    if (!opts_valid_name(other)) {
        chat__say(ch, "-- usage: /%s USER", on ? "block" : "unblock");
        return;
    }
    if (!chat__need_api(ch, on ? "/block" : "/unblock"))
        return;
    snprintf(path, sizeof path, "/v1/users/%s/blocks/%s", ch->me, other);
    rc = api_call(ch->api, on ? "POST" : "DELETE", path, NULL, NULL, err, sizeof err);
    if (rc == 200)
        chat__say(ch, on ? "-- blocked %s: no more of their messages or DMs" : "-- unblocked %s",
                  other);
    else
        chat__say(ch, "-- /%s failed: %s", on ? "block" : "unblock", err);
}

static void chat__cmd_read(struct chat *ch)
{
    char room[OPTS_NAME_MAX + 1], upto[ENVELOPE_ID_MAX], path[160], body[80], err[256];
    struct chat_room *r;
    cJSON *ans = NULL;
    const cJSON *unread;
    int rc;

    if (!chat__need_api(ch, "/read"))
        return;
    pthread_mutex_lock(&ch->mu);
    snprintf(room, sizeof room, "%s", ch->room);
    r = room[0] ? chat__room_find(ch, room) : NULL;
    snprintf(upto, sizeof upto, "%s", r ? r->last_id : "");
    pthread_mutex_unlock(&ch->mu);
    if (!room[0]) {
        chat__say(ch, "-- /read: join a room first");
        return;
    }
    if (!upto[0]) {
        /* nothing seen live: mark up to the newest message (the broker caps it) */
        snprintf(upto, sizeof upto, "%s", "9223372036854775807");
    }
    snprintf(path, sizeof path, "/v1/rooms/%s/read", room);
    snprintf(body, sizeof body, "{\"upto\":\"%s\"}", upto);
    rc = api_call(ch->api, "POST", path, body, &ans, err, sizeof err);
    unread = cJSON_GetObjectItemCaseSensitive(ans, "unread");
    if (rc == 200)
        chat__say(ch, "-- #%s marked read (%ld unread)", room, chat__count(unread));
    else
        chat__say(ch, "-- /read failed: %s", err);
    cJSON_Delete(ans);
}

static void chat__cmd_help(struct chat *ch)
{
    static const char *lines[] = {
        "-- commands:",
        "   /join ROOM       join a room and talk there",
        "   /leave [ROOM]    leave the current (or named) room",
        "   /rooms           list the rooms you may see",
        "   /dm USER [text]  send USER a direct message, or talk to USER",
        "   /history [N]     N earlier messages (again: the page before)",
        "   /who             who is in the current room",
        "   /block USER      stop seeing USER; /unblock USER to undo",
        "   /read            mark the current room read",
        "   /quit            leave mqchat (the session keeps your messages)",
        "   anything else is sent to the current room or DM partner",
    };
    size_t i;
    for (i = 0; i < sizeof lines / sizeof lines[0]; i++)
        chat__say(ch, "%s", lines[i]);
}

/* Handles one input line; returns 1 to quit. */
static int chat__line(struct chat *ch, char *line)
{
    char topic[128], *cmd, *arg;
    size_t n = strlen(line);

    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
        line[--n] = '\0';
    if (!n)
        return 0;
    if (line[0] != '/' || line[1] == '/') {
        const char *text = line[0] == '/' ? line + 1 : line; /* "//x" sends "/x" */
        pthread_mutex_lock(&ch->mu);
        if (ch->dm[0])
            snprintf(topic, sizeof topic, "chat/dm/%s", ch->dm);
        else if (ch->room[0])
            snprintf(topic, sizeof topic, "chat/room/%s", ch->room);
        else
            topic[0] = '\0';
        pthread_mutex_unlock(&ch->mu);
        if (!topic[0])
            chat__say(ch, "-- not in a room: /join ROOM or /dm USER first (/help)");
        else
            chat__send(ch, topic, text);
        return 0;
    }
    cmd = line + 1;
    arg = cmd + strcspn(cmd, " ");
    if (*arg)
        *arg++ = '\0';
    while (*arg == ' ')
        arg++;
    if (!strcmp(cmd, "quit") || !strcmp(cmd, "exit"))
        return 1;
    if (!strcmp(cmd, "join"))
        chat__cmd_join(ch, arg);
    else if (!strcmp(cmd, "leave"))
        chat__cmd_leave(ch, arg);
    else if (!strcmp(cmd, "rooms"))
        chat__cmd_rooms(ch);
    else if (!strcmp(cmd, "dm"))
        chat__cmd_dm(ch, arg);
    else if (!strcmp(cmd, "history"))
        chat__cmd_history(ch, arg);
    else if (!strcmp(cmd, "who"))
        chat__cmd_who(ch);
    else if (!strcmp(cmd, "block"))
        chat__cmd_block(ch, arg, 1);
    else if (!strcmp(cmd, "unblock"))
        chat__cmd_block(ch, arg, 0);
    else if (!strcmp(cmd, "read"))
        chat__cmd_read(ch);
    else if (!strcmp(cmd, "help"))
        chat__cmd_help(ch);
    else
        chat__say(ch, "-- unknown command /%s (/help lists them)", cmd);
    return 0;
}

/* ---- the loop ---- */

/*
 * The broker refused the login of a reconnection: the token expired (chat
 * tokens live chat.token_ttl, a day by default) or was revoked. With a
 * password, trades it for a new token (POST /v1/tokens) that the next
 * conn_connect() sends. Returns 0 to try again now, 1 to try again after
 * the back-off (the API did not answer), or MQCHAT_EXIT_AUTH to give up
 * (no password, or the password was refused too); the reason is printed.
 */
static int chat__relogin(struct chat *ch)
{
    char err[256];
    int rc;

    if (!ch->o->password) {
        chat__say(ch, "-- login refused: the token has expired or was revoked; "
                      "start mqchat again with a new token or a password");
        return MQCHAT_EXIT_AUTH;
    }
    rc = api_login(ch->api, ch->me, ch->o->password, err, sizeof err);
    if (rc == 200) {
        if (conn_set_password(ch->conn, ch->api->token) != CONN_OK)
            return 1;
        chat__say(ch, "-- the token had expired: logged in again");
        return 0;
    }
    if (rc < 0 && rc != HTTP_EURL) {
        chat__say(ch, "-- login refused, and no new token from the HTTP API (%s)", err);
        return 1;
    }
    chat__say(ch, "-- login refused for %s: %s", ch->me,
              rc == HTTP_EURL ? "wrong password, or no HTTP API to renew the token" : err);
    return MQCHAT_EXIT_AUTH;
}

int chat_run(const struct mqchat_opts *o, struct api *api, const char *user, const char *secret)
{
    struct chat *ch = calloc(1, sizeof *ch);
    struct conn_opts co;
    struct backoff bo;
    struct sigaction sa;
    char client_id[160], host[64], inbuf[CHAT_LINE_MAX], delay[32], cause[128];
    size_t inlen = 0;
    long long next_try = 0;
    int rc, sp = 0, reason = 0, down = 0, code = MQCHAT_EXIT_OK;

    if (!ch)
        return MQCHAT_EXIT_FAILED;
    ch->o = o;
    ch->api = api;
    ch->tty = isatty(STDOUT_FILENO);
    snprintf(ch->me, sizeof ch->me, "%s", user);
    pthread_mutex_init(&ch->mu, NULL);
    if (gethostname(host, sizeof host) != 0)
        strcpy(host, "host");
    host[sizeof host - 1] = '\0';
    snprintf(client_id, sizeof client_id, "mqchat-%s-%s", user, o->device ? o->device : host);

    conn_opts_from(&co, o, client_id, user, secret);
    co.clean = 0;
    co.session_expiry = CHAT_SESSION_EXPIRY;
    rc = conn_create(&ch->conn, &co, chat__on_message, chat__on_lost, ch);
    if (rc != CONN_OK) {
        fprintf(stderr, "mqchat: %s: %s\n", o->url, conn_strerror(rc));
        code = rc == CONN_EINVAL ? MQCHAT_EXIT_USAGE : MQCHAT_EXIT_FAILED;
        goto out;
    }
    conn_set_on_up(ch->conn, chat__on_up);
    rc = conn_connect(ch->conn, &sp, &reason);
    if (rc != CONN_OK) {
        if (reason)
            fprintf(stderr, "mqchat: %s: %s (%s)\n", o->url, conn_strerror(rc),
                    conn_reason_string(reason));
        else
            fprintf(stderr, "mqchat: %s: %s\n", o->url, conn_strerror(rc));
        code = conn_exit_code(rc);
        goto out;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = chat__on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    chat__say(ch, "-- connected to %s as %s%s (/help for commands)", o->url, user,
              sp ? ", session resumed" : "");
    if (!api->token)
        chat__say(ch, "-- no HTTP API token: /history, /rooms, /block and /read are unavailable");
    if (chat__subscribe_base(ch) != CONN_OK)
        chat__say(ch, "-- could not subscribe to your direct messages");
    if (o->room)
        chat__cmd_join(ch, o->room);
    backoff_reset(&bo);

    while (!chat_stop) {
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        int lost, prc;

        pthread_mutex_lock(&ch->mu);
        lost = ch->lost;
        ch->lost = 0;
        snprintf(cause, sizeof cause, "%s", ch->lost_cause);
        pthread_mutex_unlock(&ch->mu);
        if (lost && !down) {
            int d = backoff_take(&bo);
            down = 1;
            next_try = backoff_now_ms() + d;
            backoff_describe(d, delay, sizeof delay);
            chat__say(ch, "-- disconnected (%s), reconnecting in %s", cause, delay);
        }
        if (down && backoff_now_ms() >= next_try) {
            pthread_mutex_lock(&ch->mu);
            ch->reconnecting = 1;
            pthread_mutex_unlock(&ch->mu);
            rc = conn_connect(ch->conn, &sp, &reason);
            if (rc == CONN_EAUTH) {
                int again = chat__relogin(ch);
                if (again == 0) {
                    rc = conn_connect(ch->conn, &sp, &reason);
                    if (rc == CONN_EAUTH) {
                        /* a fresh token refused at once: no use trying it again */
                        chat__say(ch, "-- login refused again (%s)", conn_reason_string(reason));
                        again = MQCHAT_EXIT_AUTH;
                    }
                }
                if (again == MQCHAT_EXIT_AUTH) {
                    code = MQCHAT_EXIT_AUTH;
                    goto done;
                }
            }
            if (rc == CONN_OK) {
                down = 0;
                backoff_reset(&bo);
                if (!sp)
                    chat__resubscribe_all(ch);
            } else {
                int d = backoff_take(&bo);
                next_try = backoff_now_ms() + d;
                backoff_describe(d, delay, sizeof delay);
                chat__say(ch, "-- still disconnected (%s), reconnecting in %s", conn_strerror(rc),
                          delay);
            }
        }
        prc = poll(&pfd, 1, 200);
        if (prc < 0 && errno != EINTR)
            break;
        if (prc > 0) {
            ssize_t r = read(STDIN_FILENO, inbuf + inlen, sizeof inbuf - 1 - inlen);
            char *nl;
            if (r <= 0)
                break; /* end of input */
            inlen += (size_t)r;
            inbuf[inlen] = '\0';
            while ((nl = memchr(inbuf, '\n', inlen)) != NULL) {
                size_t used = (size_t)(nl - inbuf) + 1;
                int quit;
                *nl = '\0';
                quit = chat__line(ch, inbuf);
                memmove(inbuf, inbuf + used, inlen - used);
                inlen -= used;
                if (quit)
                    goto done;
            }
            if (inlen == sizeof inbuf - 1) {
                chat__say(ch, "-- line too long, dropped");
                inlen = 0;
            }
            if (!down && !conn_connected(ch->conn)) {
                pthread_mutex_lock(&ch->mu);
                ch->lost = 1;
                pthread_mutex_unlock(&ch->mu);
            }
        }
    }
done:
    pthread_mutex_lock(&ch->mu);
    if (ch->tty)
        fputs("\r\033[K", stdout);
    puts("-- bye");
    fflush(stdout);
    pthread_mutex_unlock(&ch->mu);
out:
    conn_destroy(ch->conn);
    pthread_mutex_destroy(&ch->mu);
    free(ch);
    return code;
}
