/*
 * ratelimit.c - token buckets in a striped hash table (see ratelimit.h).
 *
 * Layout. RATE_STRIPES stripes, each a mutex and a struct strmap; a key
 * lives in the stripe named by the top bits of its hash (strmap uses the
 * low bits for its buckets). A value is a malloc'd struct rate_entry ending
 * in its key bytes, since strmap does not copy keys.
 *
 * Arithmetic. Tokens are kept exactly, in integers: one token is period_ms
 * units, a full bucket count * period_ms units, and every millisecond adds
 * count units. So "5 per 10 s" is 10000 units a token, 50000 full, 5 units
 * a millisecond: a token every 2000 ms on the dot, with no rounding drift.
 * period_ms is capped at RATE_PERIOD_MAX and the time added at one refill
 * at period_ms (after a whole period the bucket is full anyway), so that
 * no product leaves 64 bits.
 */
#include "ratelimit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "strmap.h"

#define RATE_STRIPE_BITS 6
#define RATE_STRIPES     (1u << RATE_STRIPE_BITS)
#define RATE_PERIOD_MAX  UINT32_MAX /* ms, about 49.7 days */

struct rate_entry {
    uint64_t level;     /* tokens * period_ms, 0..count * period_ms, as of last_ms */
    uint64_t last_ms;   /* when level was last brought up to date */
    uint64_t period_ms; /* 1..RATE_PERIOD_MAX: the latest call's */
    uint32_t count;     /* >= 1: the latest call's */
    size_t len;         /* bytes of key */
    char key[];         /* the map key; not NUL-terminated */
};

struct rate_stripe {
    pthread_mutex_t lock; /* guards map and its entries */
    struct strmap map;    /* key -> struct rate_entry */
    char pad[64];         /* keeps two stripes' locks off one cache line */
};

struct rate_table {
    size_t max_entries;
    atomic_size_t entries; /* over all stripes; <= max_entries */
    atomic_uint_least64_t overflows;
    struct rate_stripe stripes[RATE_STRIPES];
};

struct rate_table *rate_table_new(size_t max_entries)
{
    struct rate_table *t = calloc(1, sizeof(*t));
    size_t i;
    if (!t)
        return NULL;
    t->max_entries = max_entries;
    atomic_init(&t->entries, 0);
    atomic_init(&t->overflows, 0);
    for (i = 0; i < RATE_STRIPES; i++) {
        if (strmap_init(&t->stripes[i].map) != MQ_OK)
            goto err;
        if (pthread_mutex_init(&t->stripes[i].lock, NULL) != 0) {
            strmap_free(&t->stripes[i].map);
            goto err;
        }
    }
    return t;
err:
    while (i-- > 0) {
        pthread_mutex_destroy(&t->stripes[i].lock);
        strmap_free(&t->stripes[i].map);
    }
    free(t);
    return NULL;
}

static void free_entry(void *ctx, void *value)
{
    free(value);
}

void rate_table_free(struct rate_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < RATE_STRIPES; i++) {
        strmap_each(&t->stripes[i].map, free_entry, NULL);
        strmap_free(&t->stripes[i].map);
        pthread_mutex_destroy(&t->stripes[i].lock);
    }
    free(t);
}

static struct rate_stripe *stripe_of(struct rate_table *t, const char *key, size_t len)
{
    return &t->stripes[strmap_hash(key, len) >> (64 - RATE_STRIPE_BITS)];
}

/* The level e would have at now_ms (e unchanged). */
static uint64_t entry_level_at(const struct rate_entry *e, uint64_t now_ms)
{
    uint64_t full = (uint64_t)e->count * e->period_ms;
    if (now_ms <= e->last_ms)
        return e->level;
    uint64_t dt = now_ms - e->last_ms;
    if (dt >= e->period_ms)
        return full;
    uint64_t add = dt * e->count; /* dt < period_ms: no overflow */
    return add < full - e->level ? e->level + add : full;
}

/* Takes the latest call's parameters, keeping the tokens (as a fraction
 * of a token) up to the new capacity. */
static void entry_retune(struct rate_entry *e, uint32_t count, uint64_t period_ms)
{
    if (e->count == count && e->period_ms == period_ms)
        return;
    uint64_t whole = e->level / e->period_ms, part = e->level % e->period_ms;
    uint64_t level = whole * period_ms + part * period_ms / e->period_ms;
    uint64_t full = (uint64_t)count * period_ms;
    e->level = level < full ? level : full;
    e->count = count;
    e->period_ms = period_ms;
}

/* Reserves room for one more entry: false when the table is full. */
static bool reserve(struct rate_table *t)
{
    size_t n = atomic_load(&t->entries);
    do {
        if (n >= t->max_entries)
            return false;
    } while (!atomic_compare_exchange_weak(&t->entries, &n, n + 1));
    return true;
}

/* A new entry under key, full but for the token taken now. Fails open. */
static void entry_add(struct rate_table *t, struct rate_stripe *s, const char *key, size_t len,
                      uint64_t now_ms, uint32_t count, uint64_t period_ms)
{
    struct rate_entry *e = NULL;
    if (!reserve(t))
        goto overflow;
    if (!(e = malloc(sizeof(*e) + len)))
        goto release;
    e->count = count;
    e->period_ms = period_ms;
    e->level = (uint64_t)count * period_ms - period_ms;
    e->last_ms = now_ms;
    e->len = len;
    memcpy(e->key, key, len);
    if (strmap_put(&s->map, e->key, e->len, e) == MQ_OK)
        return;
    free(e);
release:
    atomic_fetch_sub(&t->entries, 1);
overflow:
    atomic_fetch_add(&t->overflows, 1);
}

bool rate_take(struct rate_table *t, const char *key, size_t len, uint64_t now_ms, uint32_t count,
               uint64_t period_ms)
{
    bool ok = true;
    if (count == 0 || period_ms == 0)
        return true;
    if (period_ms > RATE_PERIOD_MAX)
        period_ms = RATE_PERIOD_MAX;
    struct rate_stripe *s = stripe_of(t, key, len);
    pthread_mutex_lock(&s->lock);
    struct rate_entry *e = strmap_get(&s->map, key, len);
    if (!e) {
        entry_add(t, s, key, len, now_ms, count, period_ms);
    } else {
        entry_retune(e, count, period_ms);
        e->level = entry_level_at(e, now_ms);
        if (now_ms > e->last_ms)
            e->last_ms = now_ms;
        if (e->level >= e->period_ms)
            e->level -= e->period_ms;
        else
            ok = false;
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void rate_refund(struct rate_table *t, const char *key, size_t len)
{
    struct rate_stripe *s = stripe_of(t, key, len);
    pthread_mutex_lock(&s->lock);
    struct rate_entry *e = strmap_get(&s->map, key, len);
    if (e) {
        uint64_t full = (uint64_t)e->count * e->period_ms;
        e->level = full - e->level > e->period_ms ? e->level + e->period_ms : full;
    }
    pthread_mutex_unlock(&s->lock);
}

size_t rate_table_sweep(struct rate_table *t, uint64_t now_ms)
{
    size_t removed = 0;
    for (size_t i = 0; i < RATE_STRIPES; i++) {
        struct rate_stripe *s = &t->stripes[i];
        size_t n = 0;
        pthread_mutex_lock(&s->lock);
        /* strmap_remove() frees only the removed entry of its chain, and
         * never resizes: the saved next stays valid. */
        for (size_t b = 0; b < s->map.nbuckets; b++) {
            struct strmap_entry *me = s->map.buckets[b];
            while (me) {
                struct strmap_entry *next = me->next;
                struct rate_entry *e = me->value;
                if (entry_level_at(e, now_ms) == (uint64_t)e->count * e->period_ms) {
                    strmap_remove(&s->map, e->key, e->len);
                    free(e);
                    n++;
                }
                me = next;
            }
        }
        pthread_mutex_unlock(&s->lock);
        atomic_fetch_sub(&t->entries, n);
        removed += n;
    }
    return removed;
}

size_t rate_table_size(struct rate_table *t)
{
    return atomic_load(&t->entries);
}

uint64_t rate_table_overflows(struct rate_table *t)
{
    return atomic_load(&t->overflows);
}
