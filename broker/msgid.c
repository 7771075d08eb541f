/*
 * msgid.c - time-ordered 64-bit message ids (see msgid.h).
 */
#include "msgid.h"

#include <time.h>

#define SHIFT_TIME (MSGID_NODE_BITS + MSGID_SEQ_BITS)

uint64_t msgid_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void msgid_init(struct msgid_gen *g, unsigned node)
{
    g->node = node & MSGID_MAX_NODE;
    atomic_init(&g->last, 0);
}

uint64_t msgid_next(struct msgid_gen *g)
{
    uint64_t now = msgid_now_ms();
    uint64_t ms = now > MSGID_EPOCH_MS ? now - MSGID_EPOCH_MS : 0;
    uint64_t fresh = (ms << SHIFT_TIME) | ((uint64_t)g->node << MSGID_SEQ_BITS);
    uint64_t last = atomic_load_explicit(&g->last, memory_order_relaxed);
    const uint64_t seq_mask = (1u << MSGID_SEQ_BITS) - 1;
    for (;;) {
        /* Same millisecond (or a clock that stepped back): count on from the
         * last id; past the last sequence number, borrow the next millisecond. */
        uint64_t id = fresh;
        if (fresh <= last) {
            id = (last & seq_mask) < seq_mask ? last + 1
                                              : (((last >> SHIFT_TIME) + 1) << SHIFT_TIME) |
                                                    ((uint64_t)g->node << MSGID_SEQ_BITS);
        }
        if (atomic_compare_exchange_weak_explicit(&g->last, &last, id, memory_order_relaxed,
                                                  memory_order_relaxed))
            return id;
    }
}

uint64_t msgid_time_ms(uint64_t id)
{
    return (id >> SHIFT_TIME) + MSGID_EPOCH_MS;
}
