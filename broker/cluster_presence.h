/*
 * cluster_presence.h - the other nodes' share of presence (doc/cluster.md,
 * "Shared state"): for each other node, the devices it counts per user and
 * the viewers it counts per room, as it announced them; their sums go to
 * presence.h (presence_remote_set, presence_room_remote_set), which adds
 * this node's own.
 *
 * A node announces a change of one count at a time (cluster_presence_set)
 * and its whole table in chunks of a numbered snapshot when it connects or
 * another node says hello; the last chunk forgets what the snapshot did not
 * name. A node that dies or stops is forgotten whole.
 *
 * The tables are used on one thread (the bridge's: cluster.c calls these
 * as control events arrive). cluster_presence_snapshot_build reads this
 * node's presence under its lock (presence_local_each).
 */
#ifndef MQCHAT_CLUSTER_PRESENCE_H
#define MQCHAT_CLUSTER_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct jbuf;
struct presence;

enum cluster_count { CLUSTER_DEVICES, CLUSTER_VIEWERS };

struct cluster_presence;

/* NULL when out of memory. p (may be NULL: nothing is summed) is not owned. */
struct cluster_presence *cluster_presence_new(struct presence *p);
void cluster_presence_free(struct cluster_presence *cp);

/* Node `node` counts `count` devices of user `name` (CLUSTER_DEVICES) or
 * viewers in room `name` (CLUSTER_VIEWERS); 0 forgets it. Bad names and
 * counts out of range are ignored. */
void cluster_presence_set(struct cluster_presence *cp, unsigned node, enum cluster_count what,
                          const char *name, size_t len, int64_t count);

/* A chunk of node's snapshot gen: {"users":{U:N,...},"rooms":{R:N,...}};
 * end: the last one, after which what gen did not name is forgotten. */
void cluster_presence_snapshot(struct cluster_presence *cp, unsigned node, uint32_t gen,
                               const struct cJSON *chunk, bool end);

/* Forgets everything node counted (it died or stopped). */
void cluster_presence_forget(struct cluster_presence *cp, unsigned node);

/*
 * This node's own table, as snapshot chunks: for each chunk, begin(ctx,
 * jb) starts an event in jb, the chunk's members are added
 * (,"gen":G,"users":{...},"rooms":{...},"end":B) and send(ctx, jb) sends
 * it; every chunk is sent under p's lock, so none overtakes a later change
 * of a count (which is announced after the lock).
 */
struct cluster_snapshot_out {
    void *ctx;
    void (*begin)(void *ctx, struct jbuf *jb);
    void (*send)(void *ctx, struct jbuf *jb);
};
void cluster_presence_snapshot_build(struct presence *p, uint32_t gen,
                                     const struct cluster_snapshot_out *out);

#endif
