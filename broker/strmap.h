/*
 * strmap.h - a small hash map from byte-string keys to pointers.
 *
 * Used for per-worker tables (client id -> session). Single-threaded: the
 * owner serialises access. The map does not copy keys: the key bytes must
 * live, unchanged, as long as the entry (keep the key inside the value).
 */
#ifndef MQCHAT_STRMAP_H
#define MQCHAT_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_entry {
    const char *key;
    size_t key_len;
    uint64_t hash;
    void *value;
    struct strmap_entry *next;
};

struct strmap {
    struct strmap_entry **buckets; /* nbuckets heads, a power of two */
    size_t nbuckets;
    size_t count; /* entries stored */
};

/* FNV-1a 64 over key[0..len): also used to pick a client id's home worker. */
uint64_t strmap_hash(const char *key, size_t len);

/* Initialises an empty map. MQ_OK or MQ_ENOMEM. */
int strmap_init(struct strmap *m);

/* Frees the table (not the values). */
void strmap_free(struct strmap *m);

/* The value stored under key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key, size_t len);

/* Stores value under key (which must not be present yet). MQ_OK or MQ_ENOMEM
 * (map unchanged). */
int strmap_put(struct strmap *m, const char *key, size_t len, void *value);

/* Removes key and returns its value (NULL when absent). */
void *strmap_remove(struct strmap *m, const char *key, size_t len);

/* Calls fn for every value; fn must not change the map. */
void strmap_each(const struct strmap *m, void (*fn)(void *ctx, void *value), void *ctx);

#endif
