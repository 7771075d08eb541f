/*
 * ratelimit.h - token buckets under byte-string keys, for rate limits and
 * slow mode (chat_control.c).
 *
 * A bucket holds up to `count` tokens and gains `count` tokens per
 * `period_ms`, continuously (fractions included): a burst of `count`
 * messages, then one every period_ms / count. Slow mode is the bucket
 * count = 1, period = the interval. A key seen for the first time starts
 * full. The bucket parameters come with every call (they live in the
 * caller's settings, which may change): an entry takes the ones of its
 * latest call, its tokens cut down to a smaller capacity.
 *
 * Time is the caller's: every call passes now_ms (any monotonic
 * millisecond clock, the same for all callers of one table). A now_ms
 * older than an entry's last refill counts as no time passed, so workers
 * whose clocks were read a moment apart do not disturb each other.
 *
 * The table is bounded (max_entries). When it is full, a new key is let
 * through (fail open: a flood of new keys must not refuse everyone's
 * messages) and counted (rate_table_overflows). rate_table_sweep(), run
 * from a timer, removes the entries that have refilled completely: they
 * remember nothing a new entry would not.
 *
 * Thread safety: every call may come from any thread at once. The table
 * is split into stripes by a hash of the key, each with its own mutex and
 * hash map, so that workers taking tokens under different keys rarely
 * wait for each other; the entry count and the overflow count are atomic.
 * Only rate_table_free() needs the table to be idle.
 */
#ifndef MQCHAT_RATELIMIT_H
#define MQCHAT_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rate_table;

/* An empty table holding at most max_entries buckets, or NULL when out of
 * memory. */
struct rate_table *rate_table_new(size_t max_entries);

/* Frees t and every entry. NULL ok. No other call may be running on t. */
void rate_table_free(struct rate_table *t);

/*
 * Takes one token from the bucket under key[0..len) (capacity count,
 * refilled at count per period_ms) and returns true, or returns false and
 * takes nothing when the bucket holds less than one token.
 * period_ms above 2^32 - 1 (49.7 days) counts as 2^32 - 1.
 * count == 0 or period_ms == 0: true, and no entry is made. A new key
 * when the table is full, or when the entry cannot be allocated: true
 * (fail open), counted in rate_table_overflows().
 */
bool rate_take(struct rate_table *t, const char *key, size_t len, uint64_t now_ms, uint32_t count,
               uint64_t period_ms);

/* Gives back one token taken from key's bucket by rate_take() (the bucket
 * never holds more than its capacity): for a caller that takes tokens
 * from two buckets and refuses when the second is empty. Nothing happens
 * when key has no entry. */
void rate_refund(struct rate_table *t, const char *key, size_t len);

/* Removes the entries whose bucket is full at now_ms. Returns how many. */
size_t rate_table_sweep(struct rate_table *t, uint64_t now_ms);

/* The number of entries. */
size_t rate_table_size(struct rate_table *t);

/* How many new keys were let through without an entry (table full, or out
 * of memory) since rate_table_new(). */
uint64_t rate_table_overflows(struct rate_table *t);

#endif
