/*
 * topic_tree.c - one worker's subscription index: exact filters by hash,
 * wildcard filters in a level trie.
 *
 * A filter without '+' or '#' can only match the topic equal to it, so it
 * is an entry in an open-addressing hash table keyed by the whole filter:
 * a PUBLISH to a chat room costs one hash of the topic, one probe and one
 * callback with the room's flat subscriber array. Filters with wildcards
 * live in a trie with one node per filter level; each node keeps its
 * literal children in a small hash table of its own and its '+' and '#'
 * children in two pointers. The trie is walked only when it is non-empty,
 * and the walk uses parent pointers instead of recursion or a stack, so a
 * hostile 30,000-level filter costs time, not stack, and matching never
 * allocates.
 *
 * Invariants: every hash entry and every trie node other than the root has
 * at least one subscriber or (nodes) at least one child; emptied ones are
 * freed at once. Each subscriber array holds an owner at most once.
 *
 * This is not thread-safe (one tree per worker) and not the '$' rule's
 * reference (topic.c is); it does not de-duplicate an owner reached through
 * two filters, which is the router's job.
 */
#include "topic_tree.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

/* A filter's subscribers. a[0..n) are in use; cap is the allocated size. */
struct sub_list {
    struct topic_sub *a;
    uint32_t n;
    uint32_t cap;
};

/*
 * The common head of an exact-table entry and a trie node: a name (a whole
 * filter for an entry, one level for a node) and that filter's subscribers.
 * A name is stored inline after the structure that embeds the head, and is
 * not NUL-terminated.
 */
struct named {
    const char *name;
    uint32_t len; /* bytes in name */
    struct sub_list subs;
};

/* One slot of an htab; e is NULL when the slot is empty. */
struct slot {
    uint64_t hash; /* str_hash() of e's name */
    struct named *e;
};

/*
 * Open addressing with linear probing over cap slots (a power of two, or 0
 * with a NULL array); at most 3/4 full. Deletion shifts later slots of the
 * same run back, so there are no tombstones.
 */
struct htab {
    struct slot *a;
    uint32_t cap;
    uint32_t n; /* occupied slots */
};

/* A trie node: one level of one or more wildcard filters. */
struct tnode {
    struct named head;    /* must be first: a node is found through its head */
    struct tnode *parent; /* NULL only for the root */
    struct tnode *plus;   /* the '+' child, or NULL */
    struct tnode *hash;   /* the '#' child (a leaf), or NULL */
    struct htab kids;     /* literal children by level name */
};                        /* head.name points just past the structure */

struct exact {
    struct named head; /* must be first */
    char filter[];     /* head.name points here */
};

struct topic_tree {
    struct htab exact; /* struct exact entries, by whole filter */
    struct tnode root; /* the trie's root: no name, never freed on its own */
    size_t count;      /* (owner, filter) pairs in the tree */
};

/* ---- hashing ----------------------------------------------------------- */

/* FNV-1a over the bytes, then a multiply-xorshift finaliser so that the low
 * bits used for the slot index depend on every input byte. */
static uint64_t str_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
}

/* ---- htab: the open-addressing table ---------------------------------- */

static bool same_name(const struct named *e, const char *s, size_t len)
{
    return e->len == len && memcmp(e->name, s, len) == 0;
}

static struct named *htab_find(const struct htab *m, uint64_t h, const char *s, size_t len)
{
    if (m->n == 0)
        return NULL;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        const struct slot *sl = &m->a[i];
        if (!sl->e)
            return NULL;
        if (sl->hash == h && same_name(sl->e, s, len))
            return sl->e;
    }
}

/* Puts e in a map known to have room and not to hold e's name. */
static void htab_put(struct slot *a, uint32_t cap, uint64_t h, struct named *e)
{
    uint32_t mask = cap - 1;
    uint32_t i = (uint32_t)h & mask;
    while (a[i].e)
        i = (i + 1) & mask;
    a[i].hash = h;
    a[i].e = e;
}

/* Moves every entry into a new array of cap slots. MQ_ENOMEM leaves m as it
 * was. */
static int htab_resize(struct htab *m, uint32_t cap)
{
    struct slot *a = calloc(cap, sizeof(*a));
    if (!a)
        return MQ_ENOMEM;
    for (uint32_t i = 0; i < m->cap; i++) {
        if (m->a[i].e)
            htab_put(a, cap, m->a[i].hash, m->a[i].e);
    }
    free(m->a);
    m->a = a;
    m->cap = cap;
    return MQ_OK;
}

/* Makes room for one more entry. MQ_OK or MQ_ENOMEM (m unchanged). */
static int htab_reserve(struct htab *m)
{
    if ((uint64_t)(m->n + 1) * 4 <= (uint64_t)m->cap * 3)
        return MQ_OK;
    if (m->cap >= (UINT32_C(1) << 31))
        return MQ_ENOMEM;
    return htab_resize(m, m->cap ? m->cap * 2 : 4);
}

/* Adds e under hash h; the caller has called htab_reserve() and knows the
 * name is absent. */
static void htab_insert(struct htab *m, uint64_t h, struct named *e)
{
    htab_put(m->a, m->cap, h, e);
    m->n++;
}

/* Removes the entry e (present, under hash h). Later entries of the same
 * probe run move back so that every entry stays reachable from its home
 * slot. The array shrinks when it is mostly empty, if memory allows. */
static void htab_remove(struct htab *m, uint64_t h, const struct named *e)
{
    uint32_t mask = m->cap - 1;
    uint32_t i = (uint32_t)h & mask;
    while (m->a[i].e != e)
        i = (i + 1) & mask;
    for (uint32_t j = (i + 1) & mask; m->a[j].e; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)m->a[j].hash & mask;
        /* Slot j may fill the hole at i unless its home lies in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            m->a[i] = m->a[j];
            i = j;
        }
    }
    m->a[i].e = NULL;
    m->n--;
    if (m->n == 0) {
        free(m->a);
        m->a = NULL;
        m->cap = 0;
    } else if (m->cap > 64 && m->n < m->cap / 8) {
        htab_resize(m, m->cap / 4); /* on failure the map keeps its size */
    }
}

/* ---- subscriber arrays ------------------------------------------------- */

static struct topic_sub *sub_find(const struct sub_list *l, const void *owner)
{
    for (uint32_t i = 0; i < l->n; i++) {
        if (l->a[i].owner == owner)
            return &l->a[i];
    }
    return NULL;
}

/* Appends a subscriber. MQ_OK or MQ_ENOMEM (l unchanged). */
static int sub_push(struct sub_list *l, void *owner, uint8_t options, uint32_t sub_id)
{
    if (l->n == l->cap) {
        if (l->cap >= UINT32_MAX / 2)
            return MQ_ENOMEM;
        uint32_t cap = l->cap ? l->cap * 2 : 2;
        struct topic_sub *a = realloc(l->a, cap * sizeof(*a));
        if (!a)
            return MQ_ENOMEM;
        l->a = a;
        l->cap = cap;
    }
    l->a[l->n++] = (struct topic_sub){.owner = owner, .options = options, .sub_id = sub_id};
    return MQ_OK;
}

/* Adds or replaces owner's subscription: 1 added, 0 replaced, MQ_ENOMEM. */
static int sub_add(struct sub_list *l, void *owner, uint8_t options, uint32_t sub_id)
{
    struct topic_sub *s = sub_find(l, owner);
    if (s) {
        s->options = options;
        s->sub_id = sub_id;
        return 0;
    }
    int rc = sub_push(l, owner, options, sub_id);
    return rc == MQ_OK ? 1 : rc;
}

/* Removes owner by moving the last subscriber into its place. MQ_OK or
 * MQ_ENOTFOUND. */
static int sub_remove(struct sub_list *l, const void *owner)
{
    struct topic_sub *s = sub_find(l, owner);
    if (!s)
        return MQ_ENOTFOUND;
    *s = l->a[--l->n];
    if (l->n == 0) {
        free(l->a);
        l->a = NULL;
        l->cap = 0;
    } else if (l->cap > 16 && l->n < l->cap / 4) {
        struct topic_sub *a = realloc(l->a, (l->cap / 2) * sizeof(*a));
        if (a) { /* on failure the array keeps its size */
            l->a = a;
            l->cap /= 2;
        }
    }
    return MQ_OK;
}

/* ---- the trie ---------------------------------------------------------- */

static bool has_wildcard(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+' || s[i] == '#')
            return true;
    }
    return false;
}

static size_t level_end(const char *s, size_t len, size_t start)
{
    const char *slash = memchr(s + start, '/', len - start);
    return slash ? (size_t)(slash - s) : len;
}

static bool node_is_empty(const struct tnode *n)
{
    return n->head.subs.n == 0 && !n->plus && !n->hash && n->kids.n == 0;
}

/* The child of n for the level s[0..len), or NULL. */
static struct tnode *node_child(const struct tnode *n, const char *s, size_t len)
{
    if (len == 1 && s[0] == '+')
        return n->plus;
    if (len == 1 && s[0] == '#')
        return n->hash;
    return (struct tnode *)htab_find(&n->kids, str_hash(s, len), s, len);
}

/* The child of n for the level s[0..len), created when missing. NULL when
 * out of memory (n unchanged). */
static struct tnode *node_child_make(struct tnode *n, const char *s, size_t len)
{
    struct tnode *c = node_child(n, s, len);
    if (c)
        return c;
    bool literal = !(len == 1 && (s[0] == '+' || s[0] == '#'));
    c = calloc(1, sizeof(*c) + len);
    if (!c)
        return NULL;
    uint64_t h = 0;
    if (literal) {
        h = str_hash(s, len);
        if (htab_reserve(&n->kids) != MQ_OK) {
            free(c);
            return NULL;
        }
    }
    memcpy(c + 1, s, len);
    c->head.name = (const char *)(c + 1);
    c->head.len = (uint32_t)len;
    c->parent = n;
    if (!literal && s[0] == '+')
        n->plus = c;
    else if (!literal)
        n->hash = c;
    else
        htab_insert(&n->kids, h, &c->head);
    return c;
}

/* Frees n and then each ancestor left empty by that, stopping at the root
 * or at the first ancestor still in use. */
static void node_prune(struct tnode *n)
{
    while (n->parent && node_is_empty(n)) {
        struct tnode *p = n->parent;
        if (p->plus == n)
            p->plus = NULL;
        else if (p->hash == n)
            p->hash = NULL;
        else
            htab_remove(&p->kids, str_hash(n->head.name, n->head.len), &n->head);
        free(n->kids.a);
        free(n->head.subs.a);
        free(n);
        n = p;
    }
}

/* The node of the filter, or NULL when the trie has no such path. */
static struct tnode *trie_find(const struct tnode *root, const char *filter, size_t len)
{
    const struct tnode *n = root;
    for (size_t start = 0;;) {
        size_t end = level_end(filter, len, start);
        n = node_child(n, filter + start, end - start);
        if (!n || end == len)
            return (struct tnode *)n;
        start = end + 1;
    }
}

static int trie_add(struct tnode *root, const char *filter, size_t len, void *owner,
                    uint8_t options, uint32_t sub_id)
{
    struct tnode *n = root;
    for (size_t start = 0;;) {
        size_t end = level_end(filter, len, start);
        struct tnode *c = node_child_make(n, filter + start, end - start);
        if (!c) {
            node_prune(n); /* drop the empty nodes made so far */
            return MQ_ENOMEM;
        }
        n = c;
        if (end == len)
            break;
        start = end + 1;
    }
    int rc = sub_add(&n->head.subs, owner, options, sub_id);
    if (rc < 0)
        node_prune(n);
    return rc;
}

/* Frees every node under root (not root itself) without recursion: the
 * parent pointers, no longer needed, chain a work list. */
static void trie_free(struct tnode *root)
{
    struct tnode *list = NULL;
    struct tnode *n = root;
    for (;;) {
        struct tnode *kids[2] = {n->plus, n->hash};
        for (int k = 0; k < 2; k++) {
            if (kids[k]) {
                kids[k]->parent = list;
                list = kids[k];
            }
        }
        for (uint32_t i = 0; i < n->kids.cap; i++) {
            struct tnode *c = (struct tnode *)n->kids.a[i].e;
            if (c) {
                c->parent = list;
                list = c;
            }
        }
        free(n->kids.a);
        free(n->head.subs.a);
        if (n != root)
            free(n);
        if (!list)
            return;
        n = list;
        list = n->parent;
    }
}

static void report(const struct tnode *n, topic_match_fn fn, void *ctx)
{
    if (n->head.subs.n)
        fn(ctx, n->head.subs.a, n->head.subs.n);
}

/*
 * Depth-first walk of the trie for one topic. At each node, pos is the
 * start of the topic level the node's children must match, or len + 1 when
 * the topic is used up. A node tries its '#' child, then its literal child,
 * then its '+' child; going back up, the parent's level is found again by
 * scanning back to the previous '/', and the parent continues with its '+'
 * child only when the walk came back from the literal one.
 */
static void trie_match(const struct tnode *root, const char *topic, size_t len, topic_match_fn fn,
                       void *ctx)
{
    bool dollar = topic[0] == '$'; /* root wildcards must not match */
    const struct tnode *n = root;
    size_t pos = 0, end;

descend:
    if (n->hash && !(n == root && dollar))
        report(n->hash, fn, ctx);
    if (pos > len) {
        report(n, fn, ctx);
        goto ascend;
    }
    end = level_end(topic, len, pos);
    if (n->kids.n) {
        const struct tnode *c = (const struct tnode *)htab_find(
            &n->kids, str_hash(topic + pos, end - pos), topic + pos, end - pos);
        if (c) {
            n = c;
            pos = end + 1;
            goto descend;
        }
    }
try_plus:
    if (n->plus && !(n == root && dollar)) {
        n = n->plus;
        pos = end + 1;
        goto descend;
    }
ascend:
    for (;;) {
        if (n == root)
            return;
        const struct tnode *from = n;
        n = n->parent;
        /* The parent's level ended at pos - 1 (a '/', or len). */
        end = pos - 1;
        const char *slash = end ? memrchr(topic, '/', end) : NULL;
        pos = slash ? (size_t)(slash - topic) + 1 : 0;
        if (from != n->plus)
            goto try_plus;
    }
}

/* ---- public interface -------------------------------------------------- */

struct topic_tree *topic_tree_new(void)
{
    return calloc(1, sizeof(struct topic_tree));
}

void topic_tree_free(struct topic_tree *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->exact.cap; i++) {
        struct named *e = t->exact.a[i].e;
        if (e) {
            free(e->subs.a);
            free(e);
        }
    }
    free(t->exact.a);
    trie_free(&t->root);
    free(t);
}

static int exact_add(struct topic_tree *t, const char *filter, size_t len, void *owner,
                     uint8_t options, uint32_t sub_id)
{
    uint64_t h = str_hash(filter, len);
    struct named *e = htab_find(&t->exact, h, filter, len);
    if (e)
        return sub_add(&e->subs, owner, options, sub_id);

    struct exact *x = calloc(1, sizeof(*x) + len);
    if (!x)
        return MQ_ENOMEM;
    memcpy(x->filter, filter, len);
    x->head.name = x->filter;
    x->head.len = (uint32_t)len;
    if (sub_push(&x->head.subs, owner, options, sub_id) != MQ_OK ||
        htab_reserve(&t->exact) != MQ_OK) {
        free(x->head.subs.a);
        free(x);
        return MQ_ENOMEM;
    }
    htab_insert(&t->exact, h, &x->head);
    return 1;
}

int topic_tree_add(struct topic_tree *t, const char *filter, size_t len, void *owner,
                   uint8_t options, uint32_t sub_id)
{
    if (len == 0 || len > UINT32_MAX)
        return MQ_EINVAL;
    int rc = has_wildcard(filter, len) ? trie_add(&t->root, filter, len, owner, options, sub_id)
                                       : exact_add(t, filter, len, owner, options, sub_id);
    if (rc == 1)
        t->count++;
    return rc;
}

int topic_tree_remove(struct topic_tree *t, const char *filter, size_t len, void *owner)
{
    if (len == 0)
        return MQ_ENOTFOUND;
    int rc;
    if (has_wildcard(filter, len)) {
        struct tnode *n = trie_find(&t->root, filter, len);
        if (!n)
            return MQ_ENOTFOUND;
        rc = sub_remove(&n->head.subs, owner);
        if (rc == MQ_OK)
            node_prune(n);
    } else {
        uint64_t h = str_hash(filter, len);
        struct named *e = htab_find(&t->exact, h, filter, len);
        if (!e)
            return MQ_ENOTFOUND;
        rc = sub_remove(&e->subs, owner);
        if (rc == MQ_OK && e->subs.n == 0) {
            htab_remove(&t->exact, h, e);
            free(e);
        }
    }
    if (rc == MQ_OK)
        t->count--;
    return rc;
}

void topic_tree_match(const struct topic_tree *t, const char *topic, size_t len, topic_match_fn fn,
                      void *ctx)
{
    if (len == 0)
        return;
    if (t->exact.n) {
        const struct named *e = htab_find(&t->exact, str_hash(topic, len), topic, len);
        if (e)
            fn(ctx, e->subs.a, e->subs.n);
    }
    const struct tnode *r = &t->root;
    if (r->plus || r->hash || r->kids.n)
        trie_match(r, topic, len, fn, ctx);
}

size_t topic_tree_count(const struct topic_tree *t)
{
    return t->count;
}
