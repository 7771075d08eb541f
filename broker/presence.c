/*
 * presence.c - who is online (see presence.h).
 *
 * Two maps behind one mutex: users (name -> struct pres_user) and rooms
 * (name -> struct pres_room, each with its viewers). The workers only
 * change counters and put the entry on a dirty list; presence_tick() walks
 * the dirty lists, decides what is worth telling, and builds the payloads
 * into a batch that is handed out once the lock is released.
 *
 * A user entry stays for as long as the broker runs (it remembers
 * last_seen); a room entry goes when nobody views it and it has no
 * totals. A viewer entry goes when its grace has passed.
 */
#include "presence.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "json.h"
#include "log.h"
#include "strmap.h"

struct pres_user {
    int devices;            /* live connections on this node now */
    int reported;           /* this node's devices as last reported (the grace applied) */
    int remote;             /* devices on the other nodes of a cluster */
    int shown_devices;      /* what the last message said (0 = offline) */
    int64_t last_seen;      /* Unix ms; 0 = never */
    int64_t gone_since;     /* devices dropped to 0 then; 0 = not waiting for the grace */
    bool dirty;             /* on the dirty list */
    struct pres_user *next; /* dirty list */
    size_t len;
    char name[];
};

struct pres_viewer {
    int devices;        /* this user's live sessions subscribed to the room */
    int64_t gone_since; /* devices dropped to 0 then (in the grace); 0 otherwise */
    bool joined;        /* joined since the last update (not shown yet) */
    size_t len;
    char user[];
};

struct pres_room {
    struct strmap viewers; /* user -> struct pres_viewer: viewing, or in the grace */
    size_t in_grace;       /* viewers with devices 0 */
    size_t joins;          /* viewers with `joined` set */
    char **left;           /* names that left since the last update (at most max_names + 1) */
    size_t nleft, leaves;  /* names kept, leaves counted */
    int64_t shown_online;
    int64_t remote;   /* viewers on the other nodes of a cluster */
    int64_t reported; /* this node's viewers as last reported to them */
    int64_t cheers, hearts;
    int64_t shown_cheers, shown_hearts;
    int64_t stored_cheers, stored_hearts;
    bool dirty;
    struct pres_room *next; /* dirty list */
    size_t len;
    char name[];
};

struct presence {
    pthread_mutex_t lock;
    struct presence_config cfg;
    struct strmap users;
    struct strmap rooms;
    struct pres_user *dirty_users;
    struct pres_room *dirty_rooms;
    size_t online; /* users whose last message said online */
};

/* ---- entries -------------------------------------------------------------------------------- */

static struct pres_user *user_get(struct presence *p, const char *name, size_t len)
{
    struct pres_user *u = strmap_get(&p->users, name, len);
    if (u || len == 0)
        return u;
    if (!(u = calloc(1, sizeof(*u) + len)))
        return NULL;
    u->len = len;
    memcpy(u->name, name, len);
    if (strmap_put(&p->users, u->name, len, u) != MQ_OK) {
        free(u);
        return NULL;
    }
    return u;
}

static void user_touch(struct presence *p, struct pres_user *u)
{
    if (u->dirty)
        return;
    u->dirty = true;
    u->next = p->dirty_users;
    p->dirty_users = u;
}

static struct pres_room *room_get(struct presence *p, const char *name, size_t len, bool create)
{
    struct pres_room *r = strmap_get(&p->rooms, name, len);
    if (r || !create || len == 0)
        return r;
    if (!(r = calloc(1, sizeof(*r) + len)))
        return NULL;
    r->len = len;
    memcpy(r->name, name, len);
    if (strmap_init(&r->viewers) != MQ_OK) {
        free(r);
        return NULL;
    }
    if (strmap_put(&p->rooms, r->name, len, r) != MQ_OK) {
        strmap_free(&r->viewers);
        free(r);
        return NULL;
    }
    return r;
}

static void room_touch(struct presence *p, struct pres_room *r)
{
    if (r->dirty)
        return;
    r->dirty = true;
    r->next = p->dirty_rooms;
    p->dirty_rooms = r;
}

static void free_value(void *ctx, void *value)
{
    free(value);
}

static void room_free(struct pres_room *r)
{
    strmap_each(&r->viewers, free_value, NULL);
    strmap_free(&r->viewers);
    for (size_t i = 0; i < r->nleft; i++)
        free(r->left[i]);
    free(r->left);
    free(r);
}

static void room_free_value(void *ctx, void *value)
{
    room_free(value);
}

/* ---- life ----------------------------------------------------------------------------------- */

struct presence *presence_new(const struct presence_config *cfg)
{
    struct presence *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->cfg = *cfg;
    if (strmap_init(&p->users) != MQ_OK)
        goto fail_users;
    if (strmap_init(&p->rooms) != MQ_OK)
        goto fail_rooms;
    pthread_mutex_init(&p->lock, NULL);
    return p;
fail_rooms:
    strmap_free(&p->users);
fail_users:
    free(p);
    return NULL;
}

void presence_free(struct presence *p)
{
    if (!p)
        return;
    strmap_each(&p->users, free_value, NULL);
    strmap_free(&p->users);
    strmap_each(&p->rooms, room_free_value, NULL);
    strmap_free(&p->rooms);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void presence_restore(struct presence *p, const char *user, size_t len, int64_t last_seen_ms)
{
    pthread_mutex_lock(&p->lock);
    struct pres_user *u = user_get(p, user, len);
    if (u && last_seen_ms > u->last_seen)
        u->last_seen = last_seen_ms;
    pthread_mutex_unlock(&p->lock);
}

/* ---- users ---------------------------------------------------------------------------------- */

void presence_device_up(struct presence *p, const char *user, size_t len, int64_t now_ms)
{
    pthread_mutex_lock(&p->lock);
    struct pres_user *u = user_get(p, user, len);
    if (u) {
        u->devices++;
        u->gone_since = 0;
        user_touch(p, u);
    } else {
        log_warn("presence: '%.*s' not tracked: out of memory", (int)len, user);
    }
    pthread_mutex_unlock(&p->lock);
}

void presence_device_down(struct presence *p, const char *user, size_t len, int64_t now_ms)
{
    pthread_mutex_lock(&p->lock);
    struct pres_user *u = strmap_get(&p->users, user, len);
    if (u && u->devices > 0) {
        if (--u->devices == 0)
            u->gone_since = now_ms;
        user_touch(p, u);
    }
    pthread_mutex_unlock(&p->lock);
}

void presence_remote_set(struct presence *p, const char *user, size_t len, int devices)
{
    pthread_mutex_lock(&p->lock);
    struct pres_user *u = devices ? user_get(p, user, len) : strmap_get(&p->users, user, len);
    if (u && u->remote != devices) {
        u->remote = devices;
        user_touch(p, u);
    }
    pthread_mutex_unlock(&p->lock);
}

void presence_room_remote_set(struct presence *p, const char *room, size_t len, int64_t viewers)
{
    pthread_mutex_lock(&p->lock);
    struct pres_room *r = room_get(p, room, len, viewers > 0);
    if (r && r->remote != viewers) {
        r->remote = viewers;
        room_touch(p, r);
    }
    pthread_mutex_unlock(&p->lock);
}

static void local_user(void *ctx, void *value)
{
    const struct presence_local *pl = ctx;
    struct pres_user *u = value;
    if (u->reported)
        pl->user(pl->ctx, u->name, u->len, u->reported);
}

static void local_room(void *ctx, void *value)
{
    const struct presence_local *pl = ctx;
    struct pres_room *r = value;
    if (r->reported)
        pl->room(pl->ctx, r->name, r->len, r->reported);
}

void presence_local_each(struct presence *p, const struct presence_local *pl)
{
    pthread_mutex_lock(&p->lock);
    strmap_each(&p->users, local_user, (void *)pl);
    strmap_each(&p->rooms, local_room, (void *)pl);
    pl->done(pl->ctx);
    pthread_mutex_unlock(&p->lock);
}

/* ---- rooms ---------------------------------------------------------------------------------- */

void presence_room_enter(struct presence *p, const char *room, size_t room_len, const char *user,
                         size_t user_len, int64_t now_ms)
{
    pthread_mutex_lock(&p->lock);
    struct pres_room *r = room_get(p, room, room_len, true);
    struct pres_viewer *v = r ? strmap_get(&r->viewers, user, user_len) : NULL;
    if (r && !v && (v = calloc(1, sizeof(*v) + user_len))) {
        v->len = user_len;
        memcpy(v->user, user, user_len);
        if (strmap_put(&r->viewers, v->user, user_len, v) != MQ_OK) {
            free(v);
            v = NULL;
        } else {
            v->joined = true;
            r->joins++;
        }
    }
    if (v) {
        if (v->devices++ == 0 && v->gone_since) { /* back within the grace */
            v->gone_since = 0;
            r->in_grace--;
        }
        room_touch(p, r);
    } else {
        log_warn("presence: '%.*s' in room '%.*s' not tracked: out of memory", (int)user_len, user,
                 (int)room_len, room);
    }
    pthread_mutex_unlock(&p->lock);
}

void presence_room_leave(struct presence *p, const char *room, size_t room_len, const char *user,
                         size_t user_len, int64_t now_ms)
{
    pthread_mutex_lock(&p->lock);
    struct pres_room *r = room_get(p, room, room_len, false);
    struct pres_viewer *v = r ? strmap_get(&r->viewers, user, user_len) : NULL;
    if (v && v->devices > 0 && --v->devices == 0) {
        v->gone_since = now_ms ? now_ms : 1;
        r->in_grace++;
        room_touch(p, r);
    }
    pthread_mutex_unlock(&p->lock);
}

void presence_room_support(struct presence *p, const char *room, size_t room_len, int64_t cheers,
                           int64_t hearts)
{
    pthread_mutex_lock(&p->lock);
    struct pres_room *r = room_get(p, room, room_len, true);
    if (r) {
        r->cheers += cheers;
        r->hearts += hearts;
        room_touch(p, r);
    }
    pthread_mutex_unlock(&p->lock);
}

void presence_room_totals_restore(struct presence *p, const char *room, size_t room_len,
                                  int64_t cheers, int64_t hearts)
{
    pthread_mutex_lock(&p->lock);
    struct pres_room *r = room_get(p, room, room_len, true);
    if (r) {
        r->cheers = r->shown_cheers = r->stored_cheers = cheers;
        r->hearts = r->shown_hearts = r->stored_hearts = hearts;
    }
    pthread_mutex_unlock(&p->lock);
}

/* ---- reading -------------------------------------------------------------------------------- */

/* {"user":..,"online":..,"devices":..,"last_seen":..} as shown, with
 * "type":"presence" first for the message. */
static void user_json(const char *name, size_t len, int devices, int64_t last_seen, bool typed,
                      struct jbuf *out)
{
    jbuf_puts(out, typed ? "{\"type\":\"presence\",\"user\":" : "{\"user\":");
    jbuf_str(out, name, len);
    jbuf_printf(out, ",\"online\":%s,\"devices\":%d,\"last_seen\":", devices ? "true" : "false",
                devices);
    if (last_seen)
        jbuf_i64(out, last_seen);
    else
        jbuf_puts(out, "null");
    jbuf_putc(out, '}');
}

void presence_user_json(struct presence *p, const char *user, size_t len, struct jbuf *out)
{
    pthread_mutex_lock(&p->lock);
    struct pres_user *u = strmap_get(&p->users, user, len);
    user_json(user, len, u ? u->shown_devices : 0, u ? u->last_seen : 0, false, out);
    pthread_mutex_unlock(&p->lock);
}

size_t presence_users_online(struct presence *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->online;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void presence_room_stats(struct presence *p, const char *room, size_t len,
                         struct presence_room_stats *out)
{
    pthread_mutex_lock(&p->lock);
    struct pres_room *r = strmap_get(&p->rooms, room, len);
    *out = (struct presence_room_stats){0};
    if (r)
        *out = (struct presence_room_stats){(int64_t)r->viewers.count + r->remote, r->cheers,
                                            r->hearts};
    pthread_mutex_unlock(&p->lock);
}

/* ---- the tick ------------------------------------------------------------------------------- */

/* What one tick hands out, built under the lock. */
struct out_item {
    enum { OUT_USER, OUT_ROOM, OUT_TOTALS, OUT_LOCAL, OUT_LOCAL_ROOM } kind;
    char *name; /* malloc'd */
    size_t len;
    char *json; /* malloc'd (OUT_USER, OUT_ROOM) */
    size_t json_len;
    int64_t cheers, hearts; /* OUT_TOTALS; cheers is the count of OUT_LOCAL(_ROOM) */
};

struct batch {
    struct out_item *items;
    size_t n, cap;
};

static void batch_add(struct batch *b, struct out_item it)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        struct out_item *items = realloc(b->items, cap * sizeof(*items));
        if (!items) {
            free(it.name);
            free(it.json);
            return;
        }
        b->items = items;
        b->cap = cap;
    }
    b->items[b->n++] = it;
}

static void batch_add_json(struct batch *b, int kind, const char *name, size_t len,
                           struct jbuf *jb)
{
    size_t json_len;
    char *json = jb->oom ? NULL : jbuf_take(jb, &json_len);
    char *copy = malloc(len ? len : 1);
    if (!json || !copy) {
        free(json);
        free(copy);
        log_warn("presence: an update for '%.*s' lost: out of memory", (int)len, name);
        return;
    }
    memcpy(copy, name, len);
    batch_add(b, (struct out_item){.kind = kind, .name = copy, .len = len, .json = json,
                                   .json_len = json_len});
}

/* This node's count of a user's devices (OUT_LOCAL) or of a room's viewers
 * (OUT_LOCAL_ROOM) changed: for the other nodes. */
static void batch_add_report(struct batch *b, int kind, const char *name, size_t len,
                             int64_t count)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, name, len);
    batch_add(b, (struct out_item){.kind = kind, .name = copy, .len = len, .cheers = count});
}

/* Decides about one dirty user; true when it stays dirty (in its grace).
 * This node's part is its devices, or what it last reported while the
 * grace runs; the other nodes' part is added to it. */
static bool tick_user(struct presence *p, struct pres_user *u, int64_t now_ms, struct batch *b)
{
    bool waiting = !u->devices && u->reported && now_ms - u->gone_since < (int64_t)p->cfg.grace_ms;
    int local = waiting ? u->reported : u->devices;
    bool local_gone = !local && u->reported;
    if (local != u->reported) {
        u->reported = local;
        batch_add_report(b, OUT_LOCAL, u->name, u->len, local);
    }
    int show = local + u->remote;
    if (show == u->shown_devices)
        return waiting;
    u->last_seen = show ? now_ms : local_gone && u->gone_since ? u->gone_since : now_ms;
    if (!u->shown_devices)
        p->online++;
    else if (!show)
        p->online--;
    u->shown_devices = show;
    struct jbuf jb;
    jbuf_init(&jb);
    user_json(u->name, u->len, show, u->last_seen, true, &jb);
    batch_add_json(b, OUT_USER, u->name, u->len, &jb);
    jbuf_free(&jb);
    return waiting;
}

/* Records that v left r (the grace passed): a join not shown yet cancels. */
static void viewer_gone(struct presence *p, struct pres_room *r, struct pres_viewer *v)
{
    if (v->joined) {
        r->joins--;
    } else {
        r->leaves++;
        if (r->nleft <= p->cfg.max_names) {
            char **left = realloc(r->left, (r->nleft + 1) * sizeof(*left));
            char *name = malloc(v->len + 1);
            if (left)
                r->left = left;
            if (left && name) {
                memcpy(name, v->user, v->len);
                name[v->len] = '\0';
                r->left[r->nleft++] = name;
            } else {
                free(name);
            }
        }
    }
}

struct expire_ctx {
    struct presence *p;
    struct pres_room *r;
    int64_t now_ms;
    struct pres_viewer **gone; /* viewers to remove after the walk */
    size_t ngone;
};

static void find_expired(void *ctx, void *value)
{
    struct expire_ctx *e = ctx;
    struct pres_viewer *v = value;
    if (v->devices == 0 && e->now_ms - v->gone_since >= (int64_t)e->p->cfg.grace_ms)
        e->gone[e->ngone++] = v;
}

/* Removes r's viewers whose grace has passed. */
static void expire_viewers(struct presence *p, struct pres_room *r, int64_t now_ms)
{
    struct expire_ctx e = {p, r, now_ms, calloc(r->in_grace, sizeof(*e.gone)), 0};
    if (!e.gone)
        return; /* next tick */
    strmap_each(&r->viewers, find_expired, &e);
    for (size_t i = 0; i < e.ngone; i++) {
        struct pres_viewer *v = e.gone[i];
        viewer_gone(p, r, v);
        strmap_remove(&r->viewers, v->user, v->len);
        r->in_grace--;
        free(v);
    }
    free(e.gone);
}

struct joined_ctx {
    struct jbuf *jb;
    bool names;
    bool first;
    size_t ghosts; /* joined and gone again, in the grace: not shown */
};

static void list_joined(void *ctx, void *value)
{
    struct joined_ctx *j = ctx;
    struct pres_viewer *v = value;
    if (!v->joined)
        return;
    if (v->devices == 0) {
        /* Came and went inside the interval: neither shown nor counted;
         * its grace either brings it back or cancels the join. */
        j->ghosts++;
        return;
    }
    v->joined = false;
    if (!j->names)
        return;
    if (!j->first)
        jbuf_putc(j->jb, ',');
    j->first = false;
    jbuf_str(j->jb, v->user, v->len);
}

/* The room's update, if anything changed. */
static void room_update(struct presence *p, struct pres_room *r, bool events, int64_t now_ms,
                        struct batch *b)
{
    bool changed = r->joins || r->leaves ||
                   (int64_t)r->viewers.count + r->remote != r->shown_online ||
                   r->cheers != r->shown_cheers || r->hearts != r->shown_hearts;
    if (!changed)
        return;
    bool names = events && r->joins + r->leaves <= p->cfg.max_names;
    struct jbuf jb, joined;
    jbuf_init(&jb);
    jbuf_init(&joined);
    struct joined_ctx j = {&joined, names, true, 0};
    if (r->joins)
        strmap_each(&r->viewers, list_joined, &j);
    int64_t local = (int64_t)(r->viewers.count - j.ghosts);
    if (local != r->reported) {
        r->reported = local;
        batch_add_report(b, OUT_LOCAL_ROOM, r->name, r->len, local);
    }
    int64_t online = local + r->remote;
    if (j.ghosts == r->joins && !r->leaves && online == r->shown_online &&
        r->cheers == r->shown_cheers && r->hearts == r->shown_hearts) {
        jbuf_free(&joined);
        jbuf_free(&jb);
        return; /* only visitors that came and went: nothing to tell yet */
    }
    jbuf_puts(&jb, "{\"type\":\"presence\",\"room\":");
    jbuf_str(&jb, r->name, r->len);
    jbuf_printf(&jb, ",\"online\":%lld,\"joined\":[", (long long)online);
    if (joined.len)
        jbuf_put(&jb, joined.p, joined.len);
    jbuf_free(&joined);
    jbuf_puts(&jb, "],\"left\":[");
    for (size_t i = 0; i < r->nleft; i++) {
        if (names) {
            if (i)
                jbuf_putc(&jb, ',');
            jbuf_str(&jb, r->left[i], strlen(r->left[i]));
        }
        free(r->left[i]);
    }
    jbuf_printf(&jb, "],\"cheers\":%lld,\"hearts\":%lld,\"ts\":%lld}", (long long)r->cheers,
                (long long)r->hearts, (long long)now_ms);
    r->nleft = r->leaves = 0;
    r->joins = j.ghosts;
    r->shown_online = online;
    r->shown_cheers = r->cheers;
    r->shown_hearts = r->hearts;
    batch_add_json(b, OUT_ROOM, r->name, r->len, &jb);
    jbuf_free(&jb);
}

/* Decides about one dirty room; true when it stays dirty (viewers in their
 * grace). *drop: nothing left worth keeping. */
static bool tick_room(struct presence *p, struct pres_room *r, const struct presence_emit *emit,
                      int64_t now_ms, struct batch *b, bool *drop)
{
    if (r->in_grace)
        expire_viewers(p, r, now_ms);
    bool events = true;
    if (emit->events && (r->joins || r->leaves)) {
        /* The room's settings (chat_control.h) have their own lock, taken
         * here under ours: nothing takes them the other way round. */
        events = emit->events(emit->ctx, r->name, r->len);
    }
    room_update(p, r, events, now_ms, b);
    if (r->cheers != r->stored_cheers || r->hearts != r->stored_hearts) {
        char *name = malloc(r->len);
        if (name) {
            memcpy(name, r->name, r->len);
            batch_add(b, (struct out_item){.kind = OUT_TOTALS, .name = name, .len = r->len,
                                           .cheers = r->cheers, .hearts = r->hearts});
            r->stored_cheers = r->cheers;
            r->stored_hearts = r->hearts;
        }
    }
    *drop = r->viewers.count == 0 && !r->remote && !r->reported && !r->cheers && !r->hearts;
    return r->in_grace > 0;
}

void presence_tick(struct presence *p, int64_t now_ms, const struct presence_emit *emit)
{
    struct batch b = {0};
    pthread_mutex_lock(&p->lock);
    struct pres_user *users = p->dirty_users, *keep_users = NULL;
    p->dirty_users = NULL;
    while (users) {
        struct pres_user *u = users;
        users = u->next;
        if (tick_user(p, u, now_ms, &b)) {
            u->next = keep_users;
            keep_users = u;
        } else {
            u->dirty = false;
        }
    }
    p->dirty_users = keep_users;
    struct pres_room *rooms = p->dirty_rooms, *keep_rooms = NULL;
    p->dirty_rooms = NULL;
    while (rooms) {
        struct pres_room *r = rooms;
        rooms = r->next;
        bool drop = false;
        if (tick_room(p, r, emit, now_ms, &b, &drop)) {
            r->next = keep_rooms;
            keep_rooms = r;
            continue;
        }
        r->dirty = false;
        if (drop) {
            strmap_remove(&p->rooms, r->name, r->len);
            room_free(r);
        }
    }
    p->dirty_rooms = keep_rooms;
    pthread_mutex_unlock(&p->lock);

    for (size_t i = 0; i < b.n; i++) {
        struct out_item *it = &b.items[i];
        if (it->kind == OUT_USER && emit->user)
            emit->user(emit->ctx, it->name, it->len, it->json, it->json_len);
        else if (it->kind == OUT_ROOM && emit->room)
            emit->room(emit->ctx, it->name, it->len, it->json, it->json_len);
        else if (it->kind == OUT_TOTALS && emit->totals)
            emit->totals(emit->ctx, it->name, it->len, it->cheers, it->hearts);
        else if (it->kind == OUT_LOCAL && emit->local)
            emit->local(emit->ctx, it->name, it->len, (int)it->cheers);
        else if (it->kind == OUT_LOCAL_ROOM && emit->local_room)
            emit->local_room(emit->ctx, it->name, it->len, it->cheers);
        free(it->name);
        free(it->json);
    }
    free(b.items);
}
