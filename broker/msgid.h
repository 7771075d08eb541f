/*
 * msgid.h - the broker's message ids: 64-bit, unique across the nodes of a
 * cluster and ordered by time.
 *
 * Layout, high bits first: 41 bits of milliseconds since 2024-01-01T00:00Z
 * (good until 2093), 10 bits of node.id (0-1023), 12 bits of sequence
 * within the millisecond. The top bit is 0, so ids are positive in a signed
 * 64-bit column. When more than 4096 ids are asked for in one millisecond,
 * the generator borrows the next millisecond; when the clock steps back, it
 * keeps counting from the last id it gave. Any thread may call msgid_next().
 */
#ifndef MQCHAT_MSGID_H
#define MQCHAT_MSGID_H

#include <stdatomic.h>
#include <stdint.h>

#define MSGID_EPOCH_MS  1704067200000ull /* 2024-01-01T00:00:00Z */
#define MSGID_NODE_BITS 10
#define MSGID_SEQ_BITS  12
#define MSGID_MAX_NODE  ((1u << MSGID_NODE_BITS) - 1)

struct msgid_gen {
    unsigned node;
    atomic_uint_fast64_t last; /* the last id handed out */
};

void msgid_init(struct msgid_gen *g, unsigned node);

/* A new id, greater than every id this generator gave before. */
uint64_t msgid_next(struct msgid_gen *g);

/* The Unix time in milliseconds an id was made at. */
uint64_t msgid_time_ms(uint64_t id);

/* Wall-clock Unix time in milliseconds. */
uint64_t msgid_now_ms(void);

#endif
