/*
 * test_msgid.c - the broker's 64-bit message ids (broker/msgid.c): layout,
 * order, uniqueness across threads, the sequence overflowing into the next
 * millisecond.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "msgid.h"

static void test_layout(void **state)
{
    struct msgid_gen g;
    msgid_init(&g, 513);
    uint64_t before = msgid_now_ms();
    uint64_t id = msgid_next(&g);
    uint64_t after = msgid_now_ms();
    assert_true(id < (1ull << 63)); /* positive as a signed column */
    assert_int_equal((id >> MSGID_SEQ_BITS) & MSGID_MAX_NODE, 513);
    assert_in_range(msgid_time_ms(id), before, after + 1); /* may have borrowed 1 ms */
}

static void test_ordered_and_overflowing(void **state)
{
    struct msgid_gen g;
    msgid_init(&g, 7);
    uint64_t last = 0;
    /* Many more ids than 4096 per millisecond: the sequence carries into
     * the time bits and the node bits stay put. */
    for (int i = 0; i < 100000; i++) {
        uint64_t id = msgid_next(&g);
        assert_true(id > last);
        assert_int_equal((id >> MSGID_SEQ_BITS) & MSGID_MAX_NODE, 7);
        last = id;
    }
}

static void test_clock_behind_last(void **state)
{
    struct msgid_gen g;
    msgid_init(&g, 1);
    /* As after a restart whose clock stepped back: a last id in the future. */
    uint64_t future = ((msgid_now_ms() - MSGID_EPOCH_MS + 60000) << 22) | (1u << 12) | 4095;
    atomic_store(&g.last, future);
    uint64_t id = msgid_next(&g);
    assert_true(id > future);
    assert_int_equal((id >> MSGID_SEQ_BITS) & MSGID_MAX_NODE, 1);
    assert_int_equal(id & 4095, 0);
}

#define THREADS    4
#define PER_THREAD 50000

struct run {
    struct msgid_gen *g;
    uint64_t *out;
};

static void *take_ids(void *arg)
{
    struct run *r = arg;
    for (int i = 0; i < PER_THREAD; i++)
        r->out[i] = msgid_next(r->g);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_unique_across_threads(void **state)
{
    struct msgid_gen g;
    msgid_init(&g, 3);
    uint64_t *all = malloc(sizeof(uint64_t) * THREADS * PER_THREAD);
    assert_non_null(all);
    pthread_t t[THREADS];
    struct run runs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        runs[i] = (struct run){&g, all + (size_t)i * PER_THREAD};
        assert_int_equal(pthread_create(&t[i], NULL, take_ids, &runs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    qsort(all, THREADS * PER_THREAD, sizeof(uint64_t), cmp_u64);
    for (size_t i = 1; i < THREADS * PER_THREAD; i++)
        assert_true(all[i] > all[i - 1]);
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_ordered_and_overflowing),
        cmocka_unit_test(test_clock_behind_last),
        cmocka_unit_test(test_unique_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
