/*
 * retain.c - the retained-message store: a trie of topic levels behind one
 * mutex.
 *
 * Each node is one topic level and may hold the retained message of the
 * topic that ends there. A node keeps its children in an array sorted by
 * level name (bytes, then length), so a literal filter level is a binary
 * search, '+' is a walk over one array, and '#' is a walk over one subtree:
 * retain_match visits only the part of the trie that the filter can reach,
 * not every retained topic ("chat/room/7/#" touches one room's subtree).
 * Sorted arrays rather than hash tables because this store is off the hot
 * path (only RETAIN publishes and SUBSCRIBE touch it), and because a sorted
 * array lets a walk find its place again after coming back up: every walk
 * here follows parent pointers instead of recursing, so a topic with 30,000
 * levels costs no stack.
 *
 * Invariant: every node other than the root holds a message or has a child;
 * a node left with neither is freed at once.
 *
 * This is not the matcher's reference ('$' rule and level rules come from
 * topic.c and are repeated here for the trie) and not persistent: saving
 * retained messages across restarts belongs to the spool.
 */
#include "retain.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

struct rnode {
    struct rnode *parent; /* NULL only for the root */
    struct message *msg;  /* the retained message of this topic, or NULL */
    struct rnode **kids;  /* nkids children, sorted by name; NULL when none */
    uint32_t nkids;
    uint32_t cap; /* allocated entries of kids */
    uint32_t len; /* bytes in name */
    char name[];  /* this level, not NUL-terminated; empty for the root */
};

struct retain_store {
    pthread_mutex_t lock; /* guards everything below */
    struct rnode *root;   /* the trie's root: no name, never holds a message */
    size_t count;         /* nodes holding a message */
};

static size_t level_end(const char *s, size_t len, size_t start)
{
    const char *slash = memchr(s + start, '/', len - start);
    return slash ? (size_t)(slash - s) : len;
}

/* Start of the level that ends at end (a '/' or the string's end). */
static size_t level_start(const char *s, size_t end)
{
    const char *slash = end ? memrchr(s, '/', end) : NULL;
    return slash ? (size_t)(slash - s) + 1 : 0;
}

static bool level_is(const char *s, size_t start, size_t end, char c)
{
    return end - start == 1 && s[start] == c;
}

static int name_cmp(const struct rnode *n, const char *s, size_t len)
{
    size_t m = n->len < len ? n->len : len;
    int c = memcmp(n->name, s, m);
    if (c)
        return c;
    return n->len < len ? -1 : n->len > len ? 1 : 0;
}

/* Index of the child named s[0..len) in n, or where it would be inserted;
 * *found tells which. */
static uint32_t kid_search(const struct rnode *n, const char *s, size_t len, bool *found)
{
    uint32_t lo = 0, hi = n->nkids;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(n->kids[mid], s, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static struct rnode *kid_find(const struct rnode *n, const char *s, size_t len)
{
    bool found;
    uint32_t i = kid_search(n, s, len, &found);
    return found ? n->kids[i] : NULL;
}

/* Index of the child c within its parent p. */
static uint32_t kid_index(const struct rnode *p, const struct rnode *c)
{
    bool found;
    return kid_search(p, c->name, c->len, &found);
}

/* The child of n named s[0..len), created when missing. NULL when out of
 * memory (n's children unchanged). */
static struct rnode *kid_make(struct rnode *n, const char *s, size_t len)
{
    bool found;
    uint32_t i = kid_search(n, s, len, &found);
    if (found)
        return n->kids[i];
    struct rnode *c = calloc(1, sizeof(*c) + len);
    if (!c)
        return NULL;
    if (n->nkids == n->cap) {
        uint32_t cap = n->cap ? n->cap * 2 : 2;
        struct rnode **kids =
            n->cap < UINT32_MAX / 2 ? realloc(n->kids, cap * sizeof(*kids)) : NULL;
        if (!kids) {
            free(c);
            return NULL;
        }
        n->kids = kids;
        n->cap = cap;
    }
    memcpy(c->name, s, len);
    c->len = (uint32_t)len;
    c->parent = n;
    memmove(&n->kids[i + 1], &n->kids[i], (n->nkids - i) * sizeof(*n->kids));
    n->kids[i] = c;
    n->nkids++;
    return c;
}

/* Frees n and each ancestor it leaves empty, stopping at the root. */
static void prune(struct rnode *n)
{
    while (n->parent && !n->msg && n->nkids == 0) {
        struct rnode *p = n->parent;
        uint32_t i = kid_index(p, n);
        memmove(&p->kids[i], &p->kids[i + 1], (p->nkids - i - 1) * sizeof(*p->kids));
        if (--p->nkids == 0) {
            free(p->kids);
            p->kids = NULL;
            p->cap = 0;
        }
        free(n->kids);
        free(n);
        n = p;
    }
}

/* The node of topic, or NULL when there is none. */
static struct rnode *find(struct rnode *root, const char *topic, size_t len)
{
    struct rnode *n = root;
    for (size_t start = 0;;) {
        size_t end = level_end(topic, len, start);
        n = kid_find(n, topic + start, end - start);
        if (!n || end == len)
            return n;
        start = end + 1;
    }
}

static bool skip_dollar(const struct rnode *n, uint32_t i)
{
    return !n->parent && n->kids[i]->len && n->kids[i]->name[0] == '$';
}

/* Calls fn for every message strictly below top, in pre-order. Children of
 * the root whose name starts with '$' are left out (the '$' rule for '#'). */
static void report_subtree(struct rnode *top, retain_fn fn, void *ctx)
{
    struct rnode *n = top;
    uint32_t i = 0; /* next child of n to visit */
    for (;;) {
        while (i < n->nkids && skip_dollar(n, i))
            i++;
        if (i < n->nkids) {
            n = n->kids[i];
            i = 0;
            if (n->msg)
                fn(ctx, n->msg);
            continue;
        }
        if (n == top)
            return;
        struct rnode *c = n;
        n = n->parent;
        i = kid_index(n, c) + 1;
    }
}

struct retain_store *retain_new(void)
{
    struct retain_store *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->root = calloc(1, sizeof(*r->root));
    if (!r->root)
        goto err;
    if (pthread_mutex_init(&r->lock, NULL) != 0)
        goto err;
    return r;
err:
    free(r->root);
    free(r);
    return NULL;
}

/* Frees every node without recursion: parent pointers, no longer needed,
 * chain a work list. */
void retain_free(struct retain_store *r)
{
    if (!r)
        return;
    struct rnode *list = NULL;
    struct rnode *n = r->root;
    for (;;) {
        for (uint32_t i = 0; i < n->nkids; i++) {
            n->kids[i]->parent = list;
            list = n->kids[i];
        }
        free(n->kids);
        message_unref(n->msg);
        free(n);
        if (!list)
            break;
        n = list;
        list = n->parent;
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Adds the path of topic (creating nodes) and stores msg there; *old gets
 * the message it replaces. Called with the lock held. MQ_OK or MQ_ENOMEM
 * (trie unchanged). */
static int store(struct retain_store *r, const char *topic, size_t len, struct message *msg,
                 struct message **old)
{
    struct rnode *n = r->root;
    for (size_t start = 0;;) {
        size_t end = level_end(topic, len, start);
        struct rnode *c = kid_make(n, topic + start, end - start);
        if (!c) {
            prune(n); /* drop the empty nodes made so far */
            return MQ_ENOMEM;
        }
        n = c;
        if (end == len)
            break;
        start = end + 1;
    }
    *old = n->msg;
    n->msg = message_ref(msg);
    if (!*old)
        r->count++;
    return MQ_OK;
}

/* Removes the message of topic, if any, into *old. Called with the lock
 * held. */
static void clear(struct retain_store *r, const char *topic, size_t len, struct message **old)
{
    struct rnode *n = find(r->root, topic, len);
    if (n && n->msg) {
        *old = n->msg;
        n->msg = NULL;
        r->count--;
        prune(n);
    }
}

int retain_set(struct retain_store *r, struct message *msg)
{
    if (msg->topic_len == 0)
        return MQ_EINVAL;
    struct message *old = NULL;
    int rc = MQ_OK;

    pthread_mutex_lock(&r->lock);
    if (msg->payload_len == 0)
        clear(r, msg->topic, msg->topic_len, &old);
    else
        rc = store(r, msg->topic, msg->topic_len, msg, &old);
    pthread_mutex_unlock(&r->lock);
    message_unref(old); /* a replaced message may be freed here, unlocked */
    return rc;
}

/*
 * Walks the trie along the filter without recursion. At node n, fpos is the
 * start of the filter level that n's children must match, or flen + 1 when
 * the filter is used up (n itself matches). Coming back up from child c, the
 * parent's level is found again by scanning back to the previous '/'; under
 * a '+' level the walk goes on with the child after c.
 */
void retain_match(struct retain_store *r, const char *filter, size_t flen, retain_fn fn, void *ctx)
{
    if (flen == 0)
        return;
    pthread_mutex_lock(&r->lock);
    struct rnode *n = r->root;
    size_t fpos = 0, fend;
    uint32_t i;

descend:
    if (fpos > flen) {
        if (n->msg)
            fn(ctx, n->msg);
        goto ascend;
    }
    fend = level_end(filter, flen, fpos);
    if (level_is(filter, fpos, fend, '#')) {
        if (n->msg)
            fn(ctx, n->msg); /* "a/#" matches "a" */
        report_subtree(n, fn, ctx);
        goto ascend;
    }
    if (!level_is(filter, fpos, fend, '+')) {
        struct rnode *c = kid_find(n, filter + fpos, fend - fpos);
        if (c) {
            n = c;
            fpos = fend + 1;
            goto descend;
        }
        goto ascend;
    }
    i = 0;
next_plus:
    while (i < n->nkids && skip_dollar(n, i))
        i++;
    if (i < n->nkids) {
        n = n->kids[i];
        fpos = fend + 1;
        goto descend;
    }
ascend:
    while (n != r->root) {
        struct rnode *c = n;
        n = n->parent;
        fend = fpos - 1;
        fpos = level_start(filter, fend);
        if (level_is(filter, fpos, fend, '+')) {
            i = kid_index(n, c) + 1;
            goto next_plus;
        }
    }
    pthread_mutex_unlock(&r->lock);
}

size_t retain_count(struct retain_store *r)
{
    pthread_mutex_lock(&r->lock);
    size_t n = r->count;
    pthread_mutex_unlock(&r->lock);
    return n;
}
