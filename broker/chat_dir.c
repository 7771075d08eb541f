/*
 * chat_dir.c - the chat directory in memory (see chat_dir.h): hash maps of
 * users, rooms (each with its own maps of members and room blocks),
 * personal blocks and decorations, behind one reader-writer lock.
 *
 * Layout. Every map is a struct strmap whose keys live inside the values
 * (strmap does not copy keys): a value is a malloc'd struct ending in its
 * key bytes. Memberships and room blocks hang off their room, so a room's
 * member count is its members map's count, and deleting a room frees its
 * members and blocks with it. Personal blocks are one map keyed
 * "user\0other" (names never hold a NUL byte). A room's maps are allocated
 * on first use: most rooms never see a room block. The rooms map keeps no
 * order: chat_dir_rooms_page() walks all of it, keeping a page's worth of
 * names in a bounded heap, rather than every change paying for a sorted
 * index.
 *
 * Replacing a user's hash or a decoration allocates the new bytes before
 * freeing the old ones, so a failed allocation leaves the entry as it was.
 *
 * Locking. Readers (workers, on every chat publish, subscribe and
 * delivery) take the read lock; writers the write lock, which is asked to
 * be preferred where glibc allows it, so that a stream of readers cannot
 * starve the HTTP thread. No call holds the lock while calling out, except
 * chat_dir_deco_append() appending to the caller's buffer.
 *
 * This file does not touch the database after chat_dir_load(), and does
 * not decide who may do what (chat.c does, from what it reads here).
 */
#include "chat_dir.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "strmap.h"

/* "user" + '\0' + "other": the key of a personal block. */
#define PAIR_KEY_MAX (2 * CHAT_NAME_MAX + 1)

struct dir_user {
    enum chat_role role; /* CHAT_ROLE_USER, _SERVICE or _DISPLAY */
    char *hash;          /* malloc'd, NUL-terminated; NULL when the user has no password */
    size_t len;          /* bytes of id */
    char id[];           /* the key; not NUL-terminated */
};

struct dir_member {
    enum chat_member_role role;
    size_t len; /* bytes of user */
    char user[];
};

/* How many users block one user (the key): the delivery path asks this
 * once per message, and looks at single blocks only when it is not 0. */
struct dir_count {
    size_t n;
    size_t len;
    char key[];
};

/* A bare key: a room block (the user) or a personal block (user\0other). */
struct dir_key {
    size_t len;
    char key[];
};

struct dir_room {
    struct chat_room_info info; /* info.members unused: members.count is the count */
    struct strmap members;      /* user -> struct dir_member; buckets NULL until the first */
    struct strmap blocks;       /* user -> struct dir_key; buckets NULL until the first */
    size_t len;                 /* bytes of name */
    char name[];
};

struct dir_deco {
    char *json; /* malloc'd, json_len bytes (> 0), not NUL-terminated */
    size_t json_len;
    size_t len; /* bytes of user */
    char user[];
};

struct chat_dir {
    pthread_rwlock_t lock; /* guards everything below */
    struct strmap users;   /* id -> struct dir_user */
    struct strmap rooms;   /* name -> struct dir_room */
    struct strmap blocks;  /* "user\0other" -> struct dir_key */
    struct strmap blocked; /* other -> struct dir_count: how many users block them */
    struct strmap decos;   /* user -> struct dir_deco */
    chat_dir_listener listener; /* set once before concurrent use (chat_dir_listen) */
    void *listener_ctx;
};

/* Tells the listener about a change that was made, with the write lock
 * still held: changes are announced in the order they were applied. */
static void notify(struct chat_dir *d, const struct chat_dir_change *c)
{
    if (d->listener)
        d->listener(d->listener_ctx, c);
}

void chat_dir_listen(struct chat_dir *d, chat_dir_listener fn, void *ctx)
{
    d->listener = fn;
    d->listener_ctx = ctx;
}

/* ---- names and roles ------------------------------------------------------------------- */

bool chat_name_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > CHAT_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

const char *chat_role_name(enum chat_role r)
{
    switch (r) {
    case CHAT_ROLE_USER:
        return "user";
    case CHAT_ROLE_SERVICE:
        return "service";
    case CHAT_ROLE_DISPLAY:
        return "display";
    case CHAT_ROLE_NONE:
        break;
    }
    return "none";
}

int chat_role_parse(const char *s, size_t len, enum chat_role *out)
{
    static const enum chat_role roles[] = {CHAT_ROLE_USER, CHAT_ROLE_SERVICE, CHAT_ROLE_DISPLAY};
    if (!s)
        return MQ_EINVAL;
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        const char *name = chat_role_name(roles[i]);
        if (strlen(name) == len && memcmp(name, s, len) == 0) {
            *out = roles[i];
            return MQ_OK;
        }
    }
    return MQ_EINVAL;
}

static bool user_role_valid(enum chat_role r)
{
    return r == CHAT_ROLE_USER || r == CHAT_ROLE_SERVICE || r == CHAT_ROLE_DISPLAY;
}

static bool member_role_valid(enum chat_member_role r)
{
    return r == CHAT_MEMBER || r == CHAT_MODERATOR || r == CHAT_OWNER;
}

/* ---- maps whose table is allocated on first use ------------------------------------------- */

static void *map_get(const struct strmap *m, const char *key, size_t len)
{
    return m->buckets ? strmap_get(m, key, len) : NULL;
}

static int map_put(struct strmap *m, const char *key, size_t len, void *value)
{
    if (!m->buckets && strmap_init(m) != MQ_OK)
        return MQ_ENOMEM;
    return strmap_put(m, key, len, value);
}

static void *map_remove(struct strmap *m, const char *key, size_t len)
{
    return m->buckets ? strmap_remove(m, key, len) : NULL;
}

static size_t map_count(const struct strmap *m)
{
    return m->buckets ? m->count : 0;
}

static void free_value(void *ctx, void *value)
{
    free(value);
}

static void free_user(void *ctx, void *value)
{
    struct dir_user *u = value;
    free(u->hash);
    free(u);
}

static void free_room(void *ctx, void *value)
{
    struct dir_room *r = value;
    strmap_each(&r->members, free_value, NULL);
    strmap_free(&r->members);
    strmap_each(&r->blocks, free_value, NULL);
    strmap_free(&r->blocks);
    free(r);
}

static void free_deco(void *ctx, void *value)
{
    struct dir_deco *dc = value;
    free(dc->json);
    free(dc);
}

/* Frees every value of m with fn, then m's table. */
static void map_clear(struct strmap *m, void (*fn)(void *ctx, void *value))
{
    strmap_each(m, fn, NULL);
    strmap_free(m);
}

/* A new bare key holding bytes[0..len). NULL when out of memory. */
static struct dir_key *key_new(const char *bytes, size_t len)
{
    struct dir_key *k = malloc(sizeof(*k) + len);
    if (!k)
        return NULL;
    k->len = len;
    memcpy(k->key, bytes, len);
    return k;
}

/* "user\0other" into buf (PAIR_KEY_MAX bytes); returns its length. Both
 * names are valid, so they fit. */
static size_t pair_key(char *buf, const char *user, size_t user_len, const char *other,
                       size_t other_len)
{
    memcpy(buf, user, user_len);
    buf[user_len] = '\0';
    memcpy(buf + user_len + 1, other, other_len);
    return user_len + 1 + other_len;
}

/* ---- the lock ------------------------------------------------------------------------------ */

/* A failing rwlock call means a corrupted lock or a thread that already
 * holds it: a bug, not a condition to survive. */
static void dir_lock_failed(const char *what, int err)
{
    log_error("chat directory: %s failed: %s", what, strerror(err));
    abort();
}

static void read_lock(struct chat_dir *d)
{
    int err = pthread_rwlock_rdlock(&d->lock);
    if (err)
        dir_lock_failed("pthread_rwlock_rdlock", err);
}

static void write_lock(struct chat_dir *d)
{
    int err = pthread_rwlock_wrlock(&d->lock);
    if (err)
        dir_lock_failed("pthread_rwlock_wrlock", err);
}

static void unlock(struct chat_dir *d)
{
    int err = pthread_rwlock_unlock(&d->lock);
    if (err)
        dir_lock_failed("pthread_rwlock_unlock", err);
}

/* ---- the directory --------------------------------------------------------------------------- */

static int lock_init(pthread_rwlock_t *lock)
{
    pthread_rwlockattr_t attr;
    if (pthread_rwlockattr_init(&attr) != 0)
        return MQ_ENOMEM;
#ifdef __GLIBC__
    /* Writers first: glibc's default lets a steady stream of readers starve them. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    int err = pthread_rwlock_init(lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    return err ? MQ_ENOMEM : MQ_OK;
}

struct chat_dir *chat_dir_new(void)
{
    struct chat_dir *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    if (strmap_init(&d->users) != MQ_OK || strmap_init(&d->rooms) != MQ_OK ||
        strmap_init(&d->blocks) != MQ_OK || strmap_init(&d->decos) != MQ_OK ||
        strmap_init(&d->blocked) != MQ_OK)
        goto err;
    if (lock_init(&d->lock) != MQ_OK)
        goto err;
    return d;
err:
    strmap_free(&d->users);
    strmap_free(&d->rooms);
    strmap_free(&d->blocks);
    strmap_free(&d->decos);
    strmap_free(&d->blocked);
    free(d);
    return NULL;
}

void chat_dir_free(struct chat_dir *d)
{
    if (!d)
        return;
    map_clear(&d->users, free_user);
    map_clear(&d->rooms, free_room);
    map_clear(&d->blocks, free_value);
    map_clear(&d->decos, free_deco);
    map_clear(&d->blocked, free_value);
    pthread_rwlock_destroy(&d->lock);
    free(d);
}

/* ---- users (the __ functions run with the write lock held) ------------------------------------
 */

/* A malloc'd NUL-terminated copy of hash[0..len), or NULL (*rc = MQ_OK)
 * when len is 0; NULL with *rc = MQ_ENOMEM when out of memory. */
static char *hash_dup(const char *hash, size_t len, int *rc)
{
    *rc = MQ_OK;
    if (len == 0)
        return NULL;
    char *p = malloc(len + 1);
    if (!p) {
        *rc = MQ_ENOMEM;
        return NULL;
    }
    memcpy(p, hash, len);
    p[len] = '\0';
    return p;
}

static int user__put(struct chat_dir *d, const char *id, size_t len, enum chat_role role,
                     const char *hash, size_t hash_len)
{
    int rc;
    char *h = hash_dup(hash, hash_len, &rc);
    if (rc != MQ_OK)
        return rc;
    struct dir_user *u = strmap_get(&d->users, id, len);
    if (u) {
        free(u->hash);
        u->hash = h;
        u->role = role;
        return MQ_OK;
    }
    u = malloc(sizeof(*u) + len);
    if (!u)
        goto err;
    u->role = role;
    u->hash = h;
    u->len = len;
    memcpy(u->id, id, len);
    if (strmap_put(&d->users, u->id, u->len, u) != MQ_OK)
        goto err;
    return MQ_OK;
err:
    free(u);
    free(h);
    return MQ_ENOMEM;
}

int chat_dir_user_put(struct chat_dir *d, const char *id, size_t len, enum chat_role role,
                      const char *password_hash)
{
    if (!chat_name_valid(id, len) || !user_role_valid(role))
        return MQ_EINVAL;
    size_t hash_len = password_hash ? strlen(password_hash) : 0;
    write_lock(d);
    int rc = user__put(d, id, len, role, password_hash, hash_len);
    if (rc == MQ_OK)
        notify(d, &(struct chat_dir_change){.kind = CHAT_DIR_USER_PUT, .a = id, .a_len = len,
                                            .role = (int)role, .hash = password_hash});
    unlock(d);
    return rc;
}

bool chat_dir_user_get(struct chat_dir *d, const char *id, size_t len, enum chat_role *role,
                       char *hash, size_t hashlen)
{
    if (!chat_name_valid(id, len))
        return false;
    read_lock(d);
    const struct dir_user *u = strmap_get(&d->users, id, len);
    if (u) {
        if (role)
            *role = u->role;
        if (hash && hashlen > 0)
            snprintf(hash, hashlen, "%s", u->hash ? u->hash : "");
    }
    unlock(d);
    return u != NULL;
}

int chat_dir_user_delete(struct chat_dir *d, const char *id, size_t len)
{
    if (!chat_name_valid(id, len))
        return MQ_EINVAL;
    write_lock(d);
    struct dir_user *u = strmap_remove(&d->users, id, len);
    if (u)
        notify(d, &(struct chat_dir_change){.kind = CHAT_DIR_USER_DELETE, .a = id, .a_len = len});
    unlock(d);
    if (!u)
        return MQ_ENOTFOUND;
    free_user(NULL, u);
    return MQ_OK;
}

/* ---- rooms -------------------------------------------------------------------------------- */

/* MQ_OK when info can be stored: a cap >= 0 and an owner that is empty or a
 * valid name (NUL-terminated inside its array). */
static int room_info_check(const struct chat_room_info *info)
{
    if (!info || info->member_cap < 0)
        return MQ_EINVAL;
    size_t n = strnlen(info->owner, sizeof(info->owner));
    if (n == sizeof(info->owner) || (n > 0 && !chat_name_valid(info->owner, n)))
        return MQ_EINVAL;
    return MQ_OK;
}

static int room__put(struct chat_dir *d, const char *name, size_t len,
                     const struct chat_room_info *info)
{
    struct dir_room *r = strmap_get(&d->rooms, name, len);
    if (!r) {
        r = calloc(1, sizeof(*r) + len);
        if (!r)
            return MQ_ENOMEM;
        r->len = len;
        memcpy(r->name, name, len);
        if (strmap_put(&d->rooms, r->name, r->len, r) != MQ_OK) {
            free(r);
            return MQ_ENOMEM;
        }
    }
    r->info = *info;
    r->info.members = 0;
    return MQ_OK;
}

int chat_dir_room_put(struct chat_dir *d, const char *name, size_t len,
                      const struct chat_room_info *info)
{
    if (!chat_name_valid(name, len) || room_info_check(info) != MQ_OK)
        return MQ_EINVAL;
    write_lock(d);
    int rc = room__put(d, name, len, info);
    if (rc == MQ_OK)
        notify(d, &(struct chat_dir_change){.kind = CHAT_DIR_ROOM_PUT, .a = name, .a_len = len,
                                            .room = info});
    unlock(d);
    return rc;
}

int chat_dir_room_add(struct chat_dir *d, const char *name, size_t len,
                      const struct chat_room_info *info)
{
    if (!chat_name_valid(name, len) || room_info_check(info) != MQ_OK)
        return MQ_EINVAL;
    write_lock(d);
    int rc = strmap_get(&d->rooms, name, len) ? MQ_EEXIST : room__put(d, name, len, info);
    if (rc == MQ_OK)
        notify(d, &(struct chat_dir_change){.kind = CHAT_DIR_ROOM_ADD, .a = name, .a_len = len,
                                            .room = info});
    unlock(d);
    return rc;
}

bool chat_dir_room_get(struct chat_dir *d, const char *name, size_t len, struct chat_room_info *out)
{
    if (!chat_name_valid(name, len))
        return false;
    read_lock(d);
    const struct dir_room *r = strmap_get(&d->rooms, name, len);
    if (r && out) {
        *out = r->info;
        out->members = (int64_t)map_count(&r->members);
    }
    unlock(d);
    return r != NULL;
}

int chat_dir_reader_lookup(struct chat_dir *d, const char *room, size_t room_len,
                           const char *sender, size_t sender_len, bool *sender_blocked)
{
    int kind = -1;
    *sender_blocked = false;
    read_lock(d);
    const struct dir_room *r =
        room && chat_name_valid(room, room_len) ? strmap_get(&d->rooms, room, room_len) : NULL;
    if (r)
        kind = r->info.is_private ? 1 : 0;
    if (sender && d->blocked.count)
        *sender_blocked = strmap_get(&d->blocked, sender, sender_len) != NULL;
    unlock(d);
    return kind;
}

int chat_dir_room_delete(struct chat_dir *d, const char *name, size_t len)
{
    if (!chat_name_valid(name, len))
        return MQ_EINVAL;
    write_lock(d);
    struct dir_room *r = strmap_remove(&d->rooms, name, len);
    if (r)
        notify(d, &(struct chat_dir_change){.kind = CHAT_DIR_ROOM_DELETE, .a = name, .a_len = len});
    unlock(d);
    if (!r)
        return MQ_ENOTFOUND;
    free_room(NULL, r);
    return MQ_OK;
}

/* ---- members ------------------------------------------------------------------------------ */

/* enforce_cap is false while loading: a room may hold more members than a
 * cap lowered later. */
static int member__put(struct chat_dir *d, const char *room, size_t room_len, const char *user,
                       size_t user_len, enum chat_member_role role, bool enforce_cap)
{
    struct dir_room *r = strmap_get(&d->rooms, room, room_len);
    if (!r)
        return MQ_ENOTFOUND;
    struct dir_member *m = map_get(&r->members, user, user_len);
    if (m) {
        m->role = role;
        return MQ_OK;
    }
    if (enforce_cap && r->info.member_cap > 0 &&
        (int64_t)map_count(&r->members) >= r->info.member_cap)
        return MQ_EFULL;
    m = malloc(sizeof(*m) + user_len);
    if (!m)
        return MQ_ENOMEM;
    m->role = role;
    m->len = user_len;
    memcpy(m->user, user, user_len);
    if (map_put(&r->members, m->user, m->len, m) != MQ_OK) {
        free(m);
        return MQ_ENOMEM;
    }
    return MQ_OK;
}

int chat_dir_member_put(struct chat_dir *d, const char *room, size_t room_len, const char *user,
                        size_t user_len, enum chat_member_role role)
{
    if (!chat_name_valid(room, room_len) || !chat_name_valid(user, user_len) ||
        !member_role_valid(role))
        return MQ_EINVAL;
    write_lock(d);
    int rc = member__put(d, room, room_len, user, user_len, role, true);
    if (rc == MQ_OK)
        notify(d, &(struct chat_dir_change){.kind = CHAT_DIR_MEMBER_PUT, .a = room,
                                            .a_len = room_len, .b = user, .b_len = user_len,
                                            .role = (int)role});
    unlock(d);
    return rc;
}

int chat_dir_member_delete(struct chat_dir *d, const char *room, size_t room_len, const char *user,
                           size_t user_len)
{
    if (!chat_name_valid(room, room_len) || !chat_name_valid(user, user_len))
        return MQ_EINVAL;
    struct dir_member *m = NULL;
    write_lock(d);
    struct dir_room *r = strmap_get(&d->rooms, room, room_len);
    if (r)
        m = map_remove(&r->members, user, user_len);
    if (m)
        notify(d, &(struct chat_dir_change){.kind = CHAT_DIR_MEMBER_DELETE, .a = room,
                                            .a_len = room_len, .b = user, .b_len = user_len});
    unlock(d);
    if (!m)
        return MQ_ENOTFOUND;
    free(m);
    return MQ_OK;
}

int chat_dir_room_members(struct chat_dir *d, const char *room, size_t room_len,
                          void (*fn)(void *ctx, const char *user, size_t len), void *ctx)
{
    int rc = MQ_ENOTFOUND;
    read_lock(d);
    const struct dir_room *r = strmap_get(&d->rooms, room, room_len);
    if (r) {
        rc = MQ_OK;
        for (size_t b = 0; r->members.buckets && b < r->members.nbuckets; b++)
            for (const struct strmap_entry *e = r->members.buckets[b]; e; e = e->next)
                fn(ctx, e->key, e->key_len);
    }
    unlock(d);
    return rc;
}

/* ---- pages of rooms ------------------------------------------------------------------------- */

/* Byte order of two names (a prefix sorts first). */
static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int room_cmp(const struct dir_room *a, const struct dir_room *b)
{
    return name_cmp(a->name, a->len, b->name, b->len);
}

/* The viewer's membership role in r, or -1. */
static int room__role(const struct dir_room *r, const char *viewer, size_t viewer_len)
{
    const struct dir_member *m = map_get(&r->members, viewer, viewer_len);
    return m ? (int)m->role : -1;
}

/*
 * A max-heap of rooms by name (heap[0] sorts last), at most cap entries:
 * the cap smallest names offered so far. The rooms are the directory's,
 * valid while its lock is held.
 */
struct room_heap {
    const struct dir_room **a;
    size_t n, cap;
};

static void heap_sift_down(struct room_heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, big = i;
        if (l < h->n && room_cmp(h->a[l], h->a[big]) > 0)
            big = l;
        if (r < h->n && room_cmp(h->a[r], h->a[big]) > 0)
            big = r;
        if (big == i)
            return;
        const struct dir_room *t = h->a[i];
        h->a[i] = h->a[big];
        h->a[big] = t;
        i = big;
    }
}

/* Keeps room when it is among the cap smallest offered so far. */
static void heap_offer(struct room_heap *h, const struct dir_room *room)
{
    if (h->n == h->cap) {
        h->a[0] = room; /* the caller checked it sorts before heap[0] */
        heap_sift_down(h, 0);
        return;
    }
    size_t i = h->n++;
    h->a[i] = room;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (room_cmp(h->a[parent], h->a[i]) >= 0)
            break;
        const struct dir_room *t = h->a[i];
        h->a[i] = h->a[parent];
        h->a[parent] = t;
        i = parent;
    }
}

/* Sorts the heap's rooms in place, smallest first (heapsort). */
static void heap_sort(struct room_heap *h)
{
    size_t n = h->n;
    while (h->n > 1) {
        const struct dir_room *t = h->a[0];
        h->a[0] = h->a[--h->n];
        h->a[h->n] = t;
        heap_sift_down(h, 0);
    }
    h->n = n;
}

int chat_dir_rooms_page(struct chat_dir *d, const char *viewer, size_t viewer_len,
                        enum chat_dir_scope scope, const char *after, size_t after_len,
                        size_t limit, struct chat_dir_room_row *rows, size_t *n, bool *more)
{
    *n = 0;
    *more = false;
    if (limit == 0 || limit > SIZE_MAX / sizeof(struct dir_room *) - 1 ||
        !chat_name_valid(viewer, viewer_len) ||
        (after_len > 0 && !chat_name_valid(after, after_len)))
        return MQ_EINVAL;
    /* One more than a page, to know whether another follows. */
    struct room_heap h = {.a = malloc((limit + 1) * sizeof(*h.a)), .n = 0, .cap = limit + 1};
    if (!h.a)
        return MQ_ENOMEM;
    read_lock(d);
    for (size_t b = 0; b < d->rooms.nbuckets; b++) {
        for (const struct strmap_entry *e = d->rooms.buckets[b]; e; e = e->next) {
            const struct dir_room *r = e->value;
            if (after_len > 0 && name_cmp(r->name, r->len, after, after_len) <= 0)
                continue;
            if (h.n == h.cap && room_cmp(r, h.a[0]) >= 0)
                continue; /* after every name kept: cheaper than the membership test */
            if (scope == CHAT_DIR_MEMBER || (scope == CHAT_DIR_VISIBLE && r->info.is_private))
                if (room__role(r, viewer, viewer_len) < 0)
                    continue;
            heap_offer(&h, r);
        }
    }
    heap_sort(&h);
    *more = h.n > limit;
    *n = h.n > limit ? limit : h.n;
    for (size_t i = 0; i < *n; i++) {
        const struct dir_room *r = h.a[i];
        struct chat_dir_room_row *row = &rows[i];
        memcpy(row->name, r->name, r->len);
        row->name[r->len] = '\0';
        row->len = r->len;
        row->info = r->info;
        row->info.members = (int64_t)map_count(&r->members);
        row->role = room__role(r, viewer, viewer_len);
    }
    unlock(d);
    free(h.a);
    return MQ_OK;
}

int chat_dir_member_role(struct chat_dir *d, const char *room, size_t room_len, const char *user,
                         size_t user_len)
{
    if (!chat_name_valid(room, room_len) || !chat_name_valid(user, user_len))
        return -1;
    int role = -1;
    read_lock(d);
    const struct dir_room *r = strmap_get(&d->rooms, room, room_len);
    const struct dir_member *m = r ? map_get(&r->members, user, user_len) : NULL;
    if (m)
        role = (int)m->role;
    unlock(d);
    return role;
}

/* ---- blocks ------------------------------------------------------------------------------- */

int chat_dir_room_block_put(struct chat_dir *d, const char *room, size_t room_len, const char *user,
                            size_t user_len)
{
    if (!chat_name_valid(room, room_len) || !chat_name_valid(user, user_len))
        return MQ_EINVAL;
    int rc = MQ_OK;
    write_lock(d);
    struct dir_room *r = strmap_get(&d->rooms, room, room_len);
    if (!r) {
        rc = MQ_ENOTFOUND;
    } else if (!map_get(&r->blocks, user, user_len)) {
        struct dir_key *k = key_new(user, user_len);
        if (!k || map_put(&r->blocks, k->key, k->len, k) != MQ_OK) {
            free(k);
            rc = MQ_ENOMEM;
        }
    }
    if (rc == MQ_OK)
        notify(d, &(struct chat_dir_change){.kind = CHAT_DIR_ROOM_BLOCK_PUT, .a = room,
                                            .a_len = room_len, .b = user, .b_len = user_len});
    unlock(d);
    return rc;
}

int chat_dir_room_block_delete(struct chat_dir *d, const char *room, size_t room_len,
                               const char *user, size_t user_len)
{
    if (!chat_name_valid(room, room_len) || !chat_name_valid(user, user_len))
        return MQ_EINVAL;
    struct dir_key *k = NULL;
    write_lock(d);
    struct dir_room *r = strmap_get(&d->rooms, room, room_len);
    if (r)
        k = map_remove(&r->blocks, user, user_len);
    if (k)
        notify(d, &(struct chat_dir_change){.kind = CHAT_DIR_ROOM_BLOCK_DELETE, .a = room,
                                            .a_len = room_len, .b = user, .b_len = user_len});
    unlock(d);
    if (!k)
        return MQ_ENOTFOUND;
    free(k);
    return MQ_OK;
}

bool chat_dir_room_blocked(struct chat_dir *d, const char *room, size_t room_len, const char *user,
                           size_t user_len)
{
    if (!chat_name_valid(room, room_len) || !chat_name_valid(user, user_len))
        return false;
    read_lock(d);
    const struct dir_room *r = strmap_get(&d->rooms, room, room_len);
    bool blocked = r && map_get(&r->blocks, user, user_len) != NULL;
    unlock(d);
    return blocked;
}

int chat_dir_user_block_put(struct chat_dir *d, const char *user, size_t user_len,
                            const char *other, size_t other_len)
{
    if (!chat_name_valid(user, user_len) || !chat_name_valid(other, other_len))
        return MQ_EINVAL;
    char key[PAIR_KEY_MAX];
    size_t n = pair_key(key, user, user_len, other, other_len);
    /* Both allocated outside the lock; freed if not needed. */
    struct dir_key *k = key_new(key, n);
    struct dir_count *c = malloc(sizeof(*c) + other_len);
    if (!k || !c) {
        free(k);
        free(c);
        return MQ_ENOMEM;
    }
    c->n = 0;
    c->len = other_len;
    memcpy(c->key, other, other_len);
    int rc = MQ_OK;
    write_lock(d);
    struct dir_count *have = strmap_get(&d->blocked, other, other_len);
    if (strmap_get(&d->blocks, key, n)) {
        free(k);
        k = NULL;
    } else if ((!have && strmap_put(&d->blocked, c->key, c->len, c) != MQ_OK) ||
               strmap_put(&d->blocks, k->key, k->len, k) != MQ_OK) {
        if (!have && strmap_get(&d->blocked, other, other_len) == c)
            strmap_remove(&d->blocked, other, other_len);
        rc = MQ_ENOMEM;
    } else {
        if (!have)
            have = c, c = NULL;
        have->n++;
        k = NULL;
    }
    if (rc == MQ_OK)
        notify(d, &(struct chat_dir_change){.kind = CHAT_DIR_USER_BLOCK_PUT, .a = user,
                                            .a_len = user_len, .b = other, .b_len = other_len});
    unlock(d);
    free(k);
    free(c);
    return rc;
}

int chat_dir_user_block_delete(struct chat_dir *d, const char *user, size_t user_len,
                               const char *other, size_t other_len)
{
    if (!chat_name_valid(user, user_len) || !chat_name_valid(other, other_len))
        return MQ_EINVAL;
    char key[PAIR_KEY_MAX];
    size_t n = pair_key(key, user, user_len, other, other_len);
    struct dir_count *gone = NULL;
    write_lock(d);
    struct dir_key *k = strmap_remove(&d->blocks, key, n);
    struct dir_count *c = k ? strmap_get(&d->blocked, other, other_len) : NULL;
    if (c && --c->n == 0)
        gone = strmap_remove(&d->blocked, other, other_len);
    if (k)
        notify(d, &(struct chat_dir_change){.kind = CHAT_DIR_USER_BLOCK_DELETE, .a = user,
                                            .a_len = user_len, .b = other, .b_len = other_len});
    unlock(d);
    free(gone);
    if (!k)
        return MQ_ENOTFOUND;
    free(k);
    return MQ_OK;
}

bool chat_dir_user_blocks(struct chat_dir *d, const char *user, size_t user_len, const char *other,
                          size_t other_len)
{
    if (!chat_name_valid(user, user_len) || !chat_name_valid(other, other_len))
        return false;
    char key[PAIR_KEY_MAX];
    size_t n = pair_key(key, user, user_len, other, other_len);
    read_lock(d);
    bool blocks = strmap_get(&d->blocks, key, n) != NULL;
    unlock(d);
    return blocks;
}

/* ---- decorations ---------------------------------------------------------------------------- */

int chat_dir_deco_put(struct chat_dir *d, const char *user, size_t user_len, const char *json,
                      size_t json_len)
{
    if (!chat_name_valid(user, user_len) || (json_len > 0 && !json))
        return MQ_EINVAL;
    if (json_len == 0) {
        write_lock(d);
        struct dir_deco *old = strmap_remove(&d->decos, user, user_len);
        notify(d, &(struct chat_dir_change){.kind = CHAT_DIR_DECO_PUT, .a = user,
                                            .a_len = user_len});
        unlock(d);
        if (old)
            free_deco(NULL, old);
        return MQ_OK;
    }
    /* Both allocations happen outside the lock. Afterwards dc and copy hold
     * whatever the map did not keep (the spare entry, the replaced json). */
    struct dir_deco *dc = malloc(sizeof(*dc) + user_len);
    char *copy = malloc(json_len);
    int rc = MQ_ENOMEM;
    if (!dc || !copy)
        goto err;
    memcpy(copy, json, json_len);
    dc->json = copy;
    dc->json_len = json_len;
    dc->len = user_len;
    memcpy(dc->user, user, user_len);
    write_lock(d);
    struct dir_deco *cur = strmap_get(&d->decos, user, user_len);
    if (cur) {
        char *old = cur->json;
        cur->json = copy;
        cur->json_len = json_len;
        copy = old;
        rc = MQ_OK;
    } else if ((rc = strmap_put(&d->decos, dc->user, dc->len, dc)) == MQ_OK) {
        dc = NULL;
        copy = NULL;
    }
    if (rc == MQ_OK)
        notify(d, &(struct chat_dir_change){.kind = CHAT_DIR_DECO_PUT, .a = user,
                                            .a_len = user_len, .json = json, .json_len = json_len});
    unlock(d);
err:
    free(dc);
    free(copy);
    return rc;
}

bool chat_dir_deco_append(struct chat_dir *d, const char *user, size_t user_len, struct jbuf *out)
{
    if (!out || !chat_name_valid(user, user_len))
        return false;
    read_lock(d);
    const struct dir_deco *dc = strmap_get(&d->decos, user, user_len);
    if (dc)
        jbuf_put(out, dc->json, dc->json_len);
    unlock(d);
    return dc != NULL;
}

/* ---- loading ------------------------------------------------------------------------------- */

/* What chat_dir_load() counts: rows taken and rows it had to leave out. */
struct load_ctx {
    struct chat_dir *d;
    int rc; /* the first MQ_ENOMEM of a row; later rows are skipped */
    size_t users, rooms, members, room_blocks, user_blocks, decos;
    size_t invalid; /* rows with a bad name, role, owner or hash */
    size_t orphans; /* memberships and room blocks of rooms that do not exist */
};

/* Records the result of one row. */
static void load_result(struct load_ctx *lc, int rc, size_t *counter)
{
    if (rc == MQ_OK)
        (*counter)++;
    else if (rc == MQ_ENOTFOUND)
        lc->orphans++;
    else if (rc == MQ_EINVAL)
        lc->invalid++;
    else if (lc->rc == MQ_OK)
        lc->rc = rc;
}

static void load_user(void *ctx, const struct store_user *u)
{
    struct load_ctx *lc = ctx;
    enum chat_role role;
    if (lc->rc != MQ_OK)
        return;
    if (!chat_name_valid(u->id.s, u->id.len) ||
        chat_role_parse(u->role.s, u->role.len, &role) != MQ_OK ||
        (u->password_hash.len > 0 && memchr(u->password_hash.s, '\0', u->password_hash.len))) {
        lc->invalid++; /* not logged by name: the id may be any bytes */
        return;
    }
    write_lock(lc->d);
    int rc = user__put(lc->d, u->id.s, u->id.len, role, u->password_hash.s, u->password_hash.len);
    unlock(lc->d);
    load_result(lc, rc, &lc->users);
}

static void load_room(void *ctx, const struct store_room *r)
{
    struct load_ctx *lc = ctx;
    if (lc->rc != MQ_OK)
        return;
    if (!chat_name_valid(r->name.s, r->name.len)) {
        lc->invalid++;
        return;
    }
    struct chat_room_info info = {.is_private = r->is_private,
                                  .member_cap = r->member_cap > 0 ? r->member_cap : 0,
                                  .created_ms = r->created_ms};
    if (chat_name_valid(r->owner.s, r->owner.len)) {
        memcpy(info.owner, r->owner.s, r->owner.len);
        info.owner[r->owner.len] = '\0';
    } else if (r->owner.len > 0) {
        log_warn("chat directory: room '%.*s' has an owner that is not a valid name: "
                 "loaded without one",
                 (int)r->name.len, r->name.s);
    }
    write_lock(lc->d);
    int rc = room__put(lc->d, r->name.s, r->name.len, &info);
    unlock(lc->d);
    load_result(lc, rc, &lc->rooms);
}

static void load_member(void *ctx, const struct store_member *m)
{
    struct load_ctx *lc = ctx;
    if (lc->rc != MQ_OK)
        return;
    if (!chat_name_valid(m->room.s, m->room.len) || !chat_name_valid(m->user.s, m->user.len) ||
        !member_role_valid((enum chat_member_role)m->role)) {
        lc->invalid++;
        return;
    }
    write_lock(lc->d);
    int rc = member__put(lc->d, m->room.s, m->room.len, m->user.s, m->user.len,
                         (enum chat_member_role)m->role, false);
    unlock(lc->d);
    load_result(lc, rc, &lc->members);
}

static void load_room_block(void *ctx, struct store_str room, struct store_str user)
{
    struct load_ctx *lc = ctx;
    if (lc->rc == MQ_OK)
        load_result(lc, chat_dir_room_block_put(lc->d, room.s, room.len, user.s, user.len),
                    &lc->room_blocks);
}

static void load_user_block(void *ctx, struct store_str user, struct store_str other)
{
    struct load_ctx *lc = ctx;
    if (lc->rc == MQ_OK)
        load_result(lc, chat_dir_user_block_put(lc->d, user.s, user.len, other.s, other.len),
                    &lc->user_blocks);
}

static void load_deco(void *ctx, struct store_str user, struct store_str json)
{
    struct load_ctx *lc = ctx;
    if (lc->rc != MQ_OK || json.len == 0)
        return;
    load_result(lc, chat_dir_deco_put(lc->d, user.s, user.len, json.s, json.len), &lc->decos);
}

int chat_dir_load(struct chat_dir *d, struct db *db)
{
    struct load_ctx lc = {.d = d, .rc = MQ_OK};
    int rc = store_user_list(db, load_user, &lc);
    if (rc == MQ_OK)
        rc = store_room_list(db, load_room, &lc);
    if (rc == MQ_OK)
        rc = store_member_list_all(db, load_member, &lc);
    if (rc == MQ_OK)
        rc = store_room_block_list(db, load_room_block, &lc);
    if (rc == MQ_OK)
        rc = store_user_block_list(db, load_user_block, &lc);
    if (rc == MQ_OK)
        rc = store_decoration_list(db, load_deco, &lc);
    if (rc != MQ_OK) {
        log_error("chat directory: loading from the database failed: %s", db_error(db));
        return rc;
    }
    if (lc.rc != MQ_OK) {
        log_error("chat directory: loading failed: %s", mq_strerror(lc.rc));
        return lc.rc;
    }
    if (lc.invalid > 0)
        log_warn("chat directory: %zu rows with a bad name, role or hash left out", lc.invalid);
    if (lc.orphans > 0)
        log_warn("chat directory: %zu memberships and room blocks of missing rooms left out",
                 lc.orphans);
    log_info("chat directory: %zu users, %zu rooms, %zu memberships, %zu room blocks, "
             "%zu personal blocks, %zu decorations",
             lc.users, lc.rooms, lc.members, lc.room_blocks, lc.user_blocks, lc.decos);
    return MQ_OK;
}
