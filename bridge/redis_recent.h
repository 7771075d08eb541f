/*
 * redis_recent.h - reads a room's recent-history cache in Redis (the list
 * `{redis.prefix}:h:{room}` the bridge appends every room message to, see
 * redis_bridge_cache) for a history page.
 *
 * Blocking (hiredis's synchronous API, with a 500 ms timeout): only for
 * the threads that serve history (the HTTP API's, the chat history
 * thread), each with its own struct redis_recent. It connects on first
 * use and again after an error; on Redis Cluster it follows a MOVED
 * answer to the master that owns the key. A Redis that is away costs one
 * timeout and then one attempt per second at most: history is served from
 * the spool and the archive meanwhile.
 */
#ifndef MQCHAT_REDIS_RECENT_H
#define MQCHAT_REDIS_RECENT_H

#include <stddef.h>

struct redis_recent;

/* NULL when url is not redis://... (or out of memory). Nothing connects yet. */
struct redis_recent *redis_recent_new(const char *url, const char *prefix);
void redis_recent_free(struct redis_recent *rr);

/* Calls fn with every entry of room's cache, oldest first. MQ_OK, or
 * MQ_EIO (Redis away or refusing: nothing was called). */
int redis_recent_read(struct redis_recent *rr, const char *room, size_t room_len,
                      void (*fn)(void *ctx, const char *entry, size_t len), void *ctx);

#endif
