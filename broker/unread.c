/*
 * unread.c - unread counts from read markers (see unread.h).
 *
 * Rooms: name -> struct ur_room, the latest message ids in a ring kept in
 * ascending order (ids arrive nearly in order: an id older than the newest
 * is inserted in place), at most max + 1 of them, so that "more than max"
 * can be told from "exactly max". Users: name -> struct ur_user, an array
 * of (room, upto) markers and the last summary handed out.
 *
 * unread_tick() works in four steps so that the directory's lock and ours
 * are never held together for long: take the rooms that had messages
 * (ours), list their members (the directory's), give members without a
 * marker one (ours), then build the summaries of the users touched (ours,
 * with a membership lookup per marker: the order is always ours, then the
 * directory's).
 */
#include "unread.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chat_dir.h"
#include "errors.h"
#include "json.h"
#include "log.h"
#include "strmap.h"

struct ur_room {
    int64_t *ids; /* ring of cap slots; n of them used from head, ascending */
    size_t head, n, cap;
    int64_t latest_at_tick; /* the newest id when the last tick ran: new members' marker */
    bool dirty;
    struct ur_room *next; /* dirty list */
    size_t len;
    char name[];
};

struct ur_mark {
    char room[CHAT_NAME_MAX + 1]; /* NUL-terminated */
    size_t room_len;
    int64_t upto;
    int64_t stored; /* the upto the database has (handed to the tick's store) */
};

struct ur_user {
    struct ur_mark *marks;
    size_t n, cap;
    char *shown; /* the last summary handed out (malloc'd JSON), NULL = none */
    size_t shown_len;
    bool dirty;
    struct ur_user *next;
    size_t len;
    char name[];
};

struct unread {
    pthread_mutex_t lock;
    struct chat_dir *dir;
    size_t max;
    struct strmap rooms, users;
    struct ur_room *dirty_rooms;
    struct ur_user *dirty_users;
};

/* ---- rooms ---------------------------------------------------------------------------------- */

static int64_t ring_at(const struct ur_room *r, size_t i)
{
    return r->ids[(r->head + i) % r->cap];
}

static void ring_set(struct ur_room *r, size_t i, int64_t id)
{
    r->ids[(r->head + i) % r->cap] = id;
}

/* Number of ids above upto. */
static size_t ring_count_above(const struct ur_room *r, int64_t upto)
{
    size_t lo = 0, hi = r->n; /* first index with id > upto */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring_at(r, mid) > upto)
            hi = mid;
        else
            lo = mid + 1;
    }
    return r->n - lo;
}

static int64_t ring_latest(const struct ur_room *r)
{
    return r->n ? ring_at(r, r->n - 1) : 0;
}

/* Grows the ring towards limit slots. False when full at limit or out of memory. */
static bool ring_grow(struct ur_room *r, size_t limit)
{
    if (r->cap >= limit)
        return false;
    size_t cap = r->cap ? r->cap * 2 : 16;
    if (cap > limit)
        cap = limit;
    int64_t *ids = malloc(cap * sizeof(*ids));
    if (!ids)
        return false;
    for (size_t i = 0; i < r->n; i++)
        ids[i] = ring_at(r, i);
    free(r->ids);
    r->ids = ids;
    r->head = 0;
    r->cap = cap;
    return true;
}

/* Inserts id in order; the oldest goes when the ring holds limit ids. */
static void ring_insert(struct ur_room *r, int64_t id, size_t limit)
{
    if (r->n && id <= ring_at(r, 0) && r->n >= limit)
        return; /* older than everything kept */
    if (r->n == r->cap && !ring_grow(r, limit)) {
        if (!r->cap)
            return;
        r->head = (r->head + 1) % r->cap; /* drop the oldest */
        r->n--;
    }
    size_t i = r->n; /* shift newer ids up by one */
    while (i > 0 && ring_at(r, i - 1) > id) {
        ring_set(r, i, ring_at(r, i - 1));
        i--;
    }
    if (i > 0 && ring_at(r, i - 1) == id) { /* already there: undo the shift */
        for (size_t k = i; k < r->n; k++)
            ring_set(r, k, ring_at(r, k + 1));
        return;
    }
    ring_set(r, i, id);
    r->n++;
}

static struct ur_room *room_get(struct unread *u, const char *name, size_t len, bool create)
{
    struct ur_room *r = strmap_get(&u->rooms, name, len);
    if (r || !create || !chat_name_valid(name, len))
        return r;
    if (!(r = calloc(1, sizeof(*r) + len)))
        return NULL;
    r->len = len;
    memcpy(r->name, name, len);
    if (strmap_put(&u->rooms, r->name, len, r) != MQ_OK) {
        free(r);
        return NULL;
    }
    return r;
}

/* ---- users ---------------------------------------------------------------------------------- */

static struct ur_user *user_get(struct unread *u, const char *name, size_t len, bool create)
{
    struct ur_user *x = strmap_get(&u->users, name, len);
    if (x || !create || !chat_name_valid(name, len))
        return x;
    if (!(x = calloc(1, sizeof(*x) + len)))
        return NULL;
    x->len = len;
    memcpy(x->name, name, len);
    if (strmap_put(&u->users, x->name, len, x) != MQ_OK) {
        free(x);
        return NULL;
    }
    return x;
}

static void user_touch(struct unread *u, struct ur_user *x)
{
    if (x->dirty)
        return;
    x->dirty = true;
    x->next = u->dirty_users;
    u->dirty_users = x;
}

static struct ur_mark *mark_find(struct ur_user *x, const char *room, size_t len)
{
    for (size_t i = 0; i < x->n; i++)
        if (x->marks[i].room_len == len && memcmp(x->marks[i].room, room, len) == 0)
            return &x->marks[i];
    return NULL;
}

/* The user's marker in room, made (at upto) when missing. NULL on oom. */
static struct ur_mark *mark_get(struct ur_user *x, const char *room, size_t len, int64_t upto)
{
    struct ur_mark *m = mark_find(x, room, len);
    if (m)
        return m;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 4;
        struct ur_mark *marks = realloc(x->marks, cap * sizeof(*marks));
        if (!marks)
            return NULL;
        x->marks = marks;
        x->cap = cap;
    }
    m = &x->marks[x->n++];
    memcpy(m->room, room, len);
    m->room[len] = '\0';
    m->room_len = len;
    m->upto = upto;
    m->stored = 0;
    return m;
}

/* ---- life ----------------------------------------------------------------------------------- */

struct unread *unread_new(struct chat_dir *dir, size_t max)
{
    struct unread *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->dir = dir;
    u->max = max ? max : 1;
    if (strmap_init(&u->rooms) != MQ_OK) {
        free(u);
        return NULL;
    }
    if (strmap_init(&u->users) != MQ_OK) {
        strmap_free(&u->rooms);
        free(u);
        return NULL;
    }
    pthread_mutex_init(&u->lock, NULL);
    return u;
}

static void free_room(void *ctx, void *value)
{
    struct ur_room *r = value;
    free(r->ids);
    free(r);
}

static void free_user(void *ctx, void *value)
{
    struct ur_user *x = value;
    free(x->marks);
    free(x->shown);
    free(x);
}

void unread_free(struct unread *u)
{
    if (!u)
        return;
    strmap_each(&u->rooms, free_room, NULL);
    strmap_free(&u->rooms);
    strmap_each(&u->users, free_user, NULL);
    strmap_free(&u->users);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

void unread_restore_id(struct unread *u, const char *room, size_t room_len, int64_t id)
{
    pthread_mutex_lock(&u->lock);
    struct ur_room *r = room_get(u, room, room_len, true);
    if (r) {
        ring_insert(r, id, u->max + 1);
        r->latest_at_tick = ring_latest(r);
    }
    pthread_mutex_unlock(&u->lock);
}

void unread_restore_marker(struct unread *u, const char *user, size_t user_len, const char *room,
                           size_t room_len, int64_t upto)
{
    if (!chat_name_valid(room, room_len))
        return;
    pthread_mutex_lock(&u->lock);
    struct ur_user *x = user_get(u, user, user_len, true);
    struct ur_mark *m = x ? mark_get(x, room, room_len, upto) : NULL;
    if (m && upto > m->upto)
        m->upto = upto;
    if (m && m->upto > m->stored)
        m->stored = upto;
    if (x)
        user_touch(u, x); /* its summary is handed out at the first tick */
    pthread_mutex_unlock(&u->lock);
}

/* ---- the hot path --------------------------------------------------------------------------- */

void unread_message(struct unread *u, const char *room, size_t room_len, int64_t id,
                    const char *sender, size_t sender_len)
{
    pthread_mutex_lock(&u->lock);
    struct ur_room *r = room_get(u, room, room_len, true);
    if (r) {
        ring_insert(r, id, u->max + 1);
        if (!r->dirty) {
            r->dirty = true;
            r->next = u->dirty_rooms;
            u->dirty_rooms = r;
        }
        struct ur_user *x = user_get(u, sender, sender_len, true);
        struct ur_mark *m = x ? mark_get(x, room, room_len, id) : NULL;
        if (m && id > m->upto)
            m->upto = id;
        if (m && m->upto > m->stored)
            user_touch(u, x); /* the tick stores the marker */
    }
    pthread_mutex_unlock(&u->lock);
}

void unread_join(struct unread *u, const char *user, size_t user_len, const char *room,
                 size_t room_len)
{
    pthread_mutex_lock(&u->lock);
    struct ur_room *r = room_get(u, room, room_len, false);
    struct ur_user *x = user_get(u, user, user_len, true);
    if (x && mark_get(x, room, room_len, r ? ring_latest(r) : 0))
        user_touch(u, x);
    pthread_mutex_unlock(&u->lock);
}

bool unread_mark(struct unread *u, const char *user, size_t user_len, const char *room,
                 size_t room_len, int64_t upto)
{
    if (!chat_name_valid(room, room_len))
        return false;
    bool moved = false;
    pthread_mutex_lock(&u->lock);
    /* Never past the room's newest message: a marker set too far (a
     * timestamp sent for an id) would hide every message to come. */
    struct ur_room *r = room_get(u, room, room_len, false);
    int64_t latest = r ? ring_latest(r) : 0;
    if (upto > latest)
        upto = latest;
    struct ur_user *x = user_get(u, user, user_len, true);
    struct ur_mark *m = x && upto > 0 ? mark_get(x, room, room_len, 0) : NULL;
    if (m && upto > m->upto) {
        m->upto = upto;
        moved = true;
        user_touch(u, x);
    }
    pthread_mutex_unlock(&u->lock);
    return moved;
}

/* ---- reading -------------------------------------------------------------------------------- */

/* The count of marker m of user x, who is a member of its room. */
static int64_t mark_count(struct unread *u, const struct ur_mark *m)
{
    struct ur_room *r = strmap_get(&u->rooms, m->room, m->room_len);
    if (!r || !r->n)
        return 0;
    size_t n = ring_count_above(r, m->upto);
    return (int64_t)(n > u->max ? u->max : n);
}

static bool is_member(struct unread *u, const struct ur_user *x, const struct ur_mark *m)
{
    return chat_dir_member_role(u->dir, m->room, m->room_len, x->name, x->len) >= 0;
}

void unread_room_get(struct unread *u, const char *user, size_t user_len, const char *room,
                     size_t room_len, struct unread_room *out)
{
    *out = (struct unread_room){0};
    pthread_mutex_lock(&u->lock);
    struct ur_user *x = user_get(u, user, user_len, false);
    struct ur_mark *m = x ? mark_find(x, room, room_len) : NULL;
    if (m) {
        out->upto = m->upto;
        out->count = is_member(u, x, m) ? mark_count(u, m) : 0;
    }
    pthread_mutex_unlock(&u->lock);
}

/* Appends {"rooms":{...},"total":N} of x, with "type":"unread" first for
 * the message. prune: markers of rooms x has left are dropped on the way
 * (the tick); else they are only skipped. */
static void summary_json(struct unread *u, struct ur_user *x, bool typed, bool prune,
                         struct jbuf *out)
{
    int64_t total = 0;
    bool first = true;
    size_t kept = 0;
    jbuf_puts(out, typed ? "{\"type\":\"unread\",\"rooms\":{" : "{\"rooms\":{");
    for (size_t i = 0; x && i < x->n; i++) {
        if (!is_member(u, x, &x->marks[i]))
            continue;
        if (prune)
            x->marks[kept++] = x->marks[i];
        int64_t n = mark_count(u, &x->marks[i]);
        if (!n)
            continue;
        if (!first)
            jbuf_putc(out, ',');
        first = false;
        jbuf_str(out, x->marks[i].room, x->marks[i].room_len);
        jbuf_printf(out, ":%lld", (long long)n);
        total += n;
    }
    if (x && prune)
        x->n = kept;
    jbuf_printf(out, "},\"total\":%lld}", (long long)total);
}

void unread_json(struct unread *u, const char *user, size_t user_len, struct jbuf *out)
{
    pthread_mutex_lock(&u->lock);
    summary_json(u, user_get(u, user, user_len, false), false, false, out);
    pthread_mutex_unlock(&u->lock);
}

/* ---- the tick ------------------------------------------------------------------------------- */

/* A room whose members must be looked at, copied out of the lock. */
struct touched_room {
    char name[CHAT_NAME_MAX + 1];
    size_t len;
    int64_t since; /* the new members' marker */
};

struct member_ctx {
    struct unread *u;
    const struct touched_room *room;
};

static void touch_member(void *ctx, const char *user, size_t len)
{
    struct member_ctx *mc = ctx;
    struct unread *u = mc->u;
    struct ur_user *x = user_get(u, user, len, true);
    if (!x || !mark_get(x, mc->room->name, mc->room->len, mc->room->since))
        return;
    user_touch(u, x);
}

/* A marker the database does not have yet, copied out of the lock. */
struct marker_out {
    char room[CHAT_NAME_MAX + 1];
    size_t room_len;
    int64_t upto;
};

/*
 * Step 4 for one user (the lock held): prunes and counts, and when the
 * summary changed returns it (malloc'd, *json_len) — NULL when unchanged
 * or out of memory. Markers to store go to *out (malloc'd, *nout).
 */
static char *user_update(struct unread *u, struct ur_user *x, size_t *json_len,
                         struct marker_out **out, size_t *nout)
{
    struct jbuf jb;
    jbuf_init(&jb);
    summary_json(u, x, true, true, &jb);
    *nout = 0;
    *out = NULL;
    size_t due = 0;
    for (size_t i = 0; i < x->n; i++)
        due += x->marks[i].upto > x->marks[i].stored;
    if (due && (*out = malloc(due * sizeof(**out)))) {
        for (size_t i = 0; i < x->n; i++) {
            struct ur_mark *m = &x->marks[i];
            if (m->upto <= m->stored)
                continue;
            struct marker_out *o = &(*out)[(*nout)++];
            memcpy(o->room, m->room, m->room_len + 1);
            o->room_len = m->room_len;
            o->upto = m->stored = m->upto;
        }
    }
    /* Nothing to say to someone in no room who was never told anything (a
     * poster in a public room they are not a member of). */
    bool silent = !x->n && !x->shown;
    char *copy = jb.oom || silent ? NULL : malloc(jb.len);
    if (!copy || (x->shown && x->shown_len == jb.len && memcmp(x->shown, jb.p, jb.len) == 0)) {
        free(copy);
        jbuf_free(&jb);
        return NULL;
    }
    memcpy(copy, jb.p, jb.len);
    free(x->shown);
    x->shown = copy;
    x->shown_len = jb.len;
    char *json = jbuf_take(&jb, json_len);
    jbuf_free(&jb);
    return json;
}

void unread_tick(struct unread *u, const struct unread_emit *e)
{
    /* 1. The rooms that had messages. */
    pthread_mutex_lock(&u->lock);
    size_t nrooms = 0;
    for (struct ur_room *r = u->dirty_rooms; r; r = r->next)
        nrooms++;
    struct touched_room *rooms = nrooms ? calloc(nrooms, sizeof(*rooms)) : NULL;
    size_t k = 0;
    for (struct ur_room *r = u->dirty_rooms; r && rooms; r = r->next) {
        memcpy(rooms[k].name, r->name, r->len);
        rooms[k].len = r->len;
        rooms[k].since = r->latest_at_tick;
        k++;
    }
    if (rooms || !nrooms) {
        while (u->dirty_rooms) {
            struct ur_room *r = u->dirty_rooms;
            u->dirty_rooms = r->next;
            r->dirty = false;
            r->latest_at_tick = ring_latest(r);
        }
    }
    pthread_mutex_unlock(&u->lock);

    /* 2 and 3. Their members, each with a marker (the directory calls back
     * under its own lock; ours is taken room by room). */
    for (size_t i = 0; i < k; i++) {
        struct member_ctx mc = {u, &rooms[i]};
        pthread_mutex_lock(&u->lock);
        chat_dir_room_members(u->dir, rooms[i].name, rooms[i].len, touch_member, &mc);
        pthread_mutex_unlock(&u->lock);
    }
    free(rooms);

    /* 4. The users touched, one at a time: the workers' publishes wait
     * for one user's summary at most. */
    for (;;) {
        pthread_mutex_lock(&u->lock);
        struct ur_user *x = u->dirty_users;
        if (!x) {
            pthread_mutex_unlock(&u->lock);
            break;
        }
        u->dirty_users = x->next;
        x->dirty = false;
        char name[CHAT_NAME_MAX + 1];
        size_t name_len = x->len, json_len = 0, nmarks;
        memcpy(name, x->name, name_len);
        struct marker_out *marks;
        char *json = user_update(u, x, &json_len, &marks, &nmarks);
        pthread_mutex_unlock(&u->lock);
        if (json && e->summary)
            e->summary(e->ctx, name, name_len, json, json_len);
        for (size_t i = 0; i < nmarks && e->marker; i++)
            e->marker(e->ctx, name, name_len, marks[i].room, marks[i].room_len, marks[i].upto);
        free(json);
        free(marks);
    }
}
