/*
 * strmap.c - chained hash map with power-of-two tables that double when the
 * load passes 1 (see strmap.h).
 */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"

uint64_t strmap_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h;
}

int strmap_init(struct strmap *m)
{
    m->nbuckets = 16;
    m->count = 0;
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    return m->buckets ? MQ_OK : MQ_ENOMEM;
}

void strmap_free(struct strmap *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e) {
            struct strmap_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->count = 0;
}

static struct strmap_entry **strmap__slot(const struct strmap *m, const char *key, size_t len,
                                          uint64_t h)
{
    struct strmap_entry **pe = &m->buckets[h & (m->nbuckets - 1)];
    while (*pe) {
        struct strmap_entry *e = *pe;
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
            return pe;
        pe = &e->next;
    }
    return pe;
}

void *strmap_get(const struct strmap *m, const char *key, size_t len)
{
    struct strmap_entry *e = *strmap__slot(m, key, len, strmap_hash(key, len));
    return e ? e->value : NULL;
}

static void strmap__grow(struct strmap *m)
{
    size_t n = m->nbuckets * 2;
    struct strmap_entry **b = calloc(n, sizeof(*b));
    if (!b)
        return; /* keep the longer chains; still correct */
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e) {
            struct strmap_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int strmap_put(struct strmap *m, const char *key, size_t len, void *value)
{
    struct strmap_entry *e = malloc(sizeof(*e));
    if (!e)
        return MQ_ENOMEM;
    e->key = key;
    e->key_len = len;
    e->hash = strmap_hash(key, len);
    e->value = value;
    struct strmap_entry **head = &m->buckets[e->hash & (m->nbuckets - 1)];
    e->next = *head;
    *head = e;
    if (++m->count > m->nbuckets)
        strmap__grow(m);
    return MQ_OK;
}

void *strmap_remove(struct strmap *m, const char *key, size_t len)
{
    struct strmap_entry **pe = strmap__slot(m, key, len, strmap_hash(key, len));
    struct strmap_entry *e = *pe;
    if (!e)
        return NULL;
    void *value = e->value;
    *pe = e->next;
    free(e);
    m->count--;
    return value;
}

void strmap_each(const struct strmap *m, void (*fn)(void *ctx, void *value), void *ctx)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct strmap_entry *e = m->buckets[i]; e; e = e->next)
            fn(ctx, e->value);
}
