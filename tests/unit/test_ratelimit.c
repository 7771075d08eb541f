/*
 * test_ratelimit.c - token buckets (broker/ratelimit.c): burst and
 * refusal, refill to the millisecond, keys apart, buckets that are off,
 * changed parameters, a clock that steps back, refunds, sweeping, the
 * entry limit failing open, and threads hammering one key and many.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ratelimit.h"

#define L(lit) (lit), (sizeof(lit) - 1)

static int table_setup(void **state)
{
    struct rate_table *t = rate_table_new(1000);
    *state = t;
    return t ? 0 : -1;
}

static int table_teardown(void **state)
{
    rate_table_free(*state);
    return 0;
}

/* How many of n takes at now succeed. */
static int takes(struct rate_table *t, const char *key, size_t len, uint64_t now, uint32_t count,
                 uint64_t period, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += rate_take(t, key, len, now, count, period);
    return ok;
}

static void test_burst(void **state)
{
    struct rate_table *t = *state;
    /* A new key starts full: count tokens, then no more at the same time. */
    assert_true(rate_take(t, L("alice"), 0, 3, 1000));
    assert_true(rate_take(t, L("alice"), 0, 3, 1000));
    assert_true(rate_take(t, L("alice"), 0, 3, 1000));
    assert_false(rate_take(t, L("alice"), 0, 3, 1000));
    assert_false(rate_take(t, L("alice"), 0, 3, 1000));
    assert_int_equal(rate_table_size(t), 1);
    /* count 1: one message, then nothing. */
    assert_int_equal(takes(t, L("one"), 50, 1, 60000, 10), 1);
}

static void test_refill(void **state)
{
    struct rate_table *t = *state;
    /* 3 per 1000 ms: a token every 333.3 ms, continuously. */
    assert_int_equal(takes(t, L("k"), 1000, 3, 1000, 5), 3);
    assert_false(rate_take(t, L("k"), 1333, 3, 1000)); /* 999/1000 of a token */
    assert_true(rate_take(t, L("k"), 1334, 3, 1000));  /* 1.002 */
    assert_false(rate_take(t, L("k"), 1334, 3, 1000));
    /* The fraction left over is kept: 0.002 + 333 ms * 3/1000 = 1.001. */
    assert_true(rate_take(t, L("k"), 1667, 3, 1000));
    assert_false(rate_take(t, L("k"), 1667, 3, 1000));
    /* A long pause fills the bucket, never past its capacity. */
    assert_int_equal(takes(t, L("k"), 1000000, 3, 1000, 10), 3);
    /* 5 per 10 s: exactly one token every 2000 ms, no drift over many periods. */
    assert_int_equal(takes(t, L("slow"), 0, 5, 10000, 5), 5);
    for (uint64_t now = 2000; now <= 200000; now += 2000) {
        assert_false(rate_take(t, L("slow"), now - 1, 5, 10000));
        assert_true(rate_take(t, L("slow"), now, 5, 10000));
    }
}

static void test_keys_apart(void **state)
{
    struct rate_table *t = *state;
    assert_int_equal(takes(t, L("ab"), 0, 2, 1000, 5), 2);
    assert_int_equal(takes(t, L("abc"), 0, 2, 1000, 5), 2);  /* a longer key */
    assert_int_equal(takes(t, "abc", 2, 0, 2, 1000, 5), 0);  /* = "ab" */
    assert_int_equal(takes(t, L("a\0c"), 0, 2, 1000, 5), 2); /* NUL bytes are key bytes */
    assert_int_equal(takes(t, L("a\0d"), 0, 2, 1000, 5), 2);
    assert_int_equal(takes(t, L(""), 0, 2, 1000, 5), 2); /* the empty key is a key */
    assert_int_equal(takes(t, L("AB"), 0, 2, 1000, 5), 2);
    assert_int_equal(rate_table_size(t), 6);
    /* Many keys spread over the stripes, each with its own bucket. */
    char key[32];
    for (int i = 0; i < 500; i++) {
        int n = snprintf(key, sizeof(key), "user-%d", i);
        assert_int_equal(takes(t, key, (size_t)n, 0, 1, 1000, 3), 1);
    }
    assert_int_equal(rate_table_size(t), 506);
}

static void test_off(void **state)
{
    struct rate_table *t = *state;
    assert_int_equal(takes(t, L("k"), 0, 0, 1000, 100), 100);
    assert_int_equal(takes(t, L("k"), 0, 5, 0, 100), 100);
    assert_int_equal(rate_table_size(t), 0);
    assert_int_equal(rate_table_overflows(t), 0);
    /* An existing bucket is not touched by a call with the limit off. */
    assert_int_equal(takes(t, L("k"), 0, 1, 1000, 2), 1);
    assert_int_equal(takes(t, L("k"), 0, 0, 1000, 3), 3);
    assert_false(rate_take(t, L("k"), 0, 1, 1000));
}

static void test_retune_and_clock(void **state)
{
    struct rate_table *t = *state;
    assert_int_equal(takes(t, L("k"), 0, 10, 1000, 2), 2); /* 8 left */
    /* A smaller capacity cuts the tokens down to it. */
    assert_int_equal(takes(t, L("k"), 0, 2, 1000, 5), 2);
    /* A larger one keeps what is there (0), and refills at the new rate. */
    assert_false(rate_take(t, L("k"), 0, 100, 1000));
    assert_int_equal(takes(t, L("k"), 50, 100, 1000, 10), 5); /* 50 ms * 0.1/ms */
    /* A clock read a moment earlier by another thread: no time passed,
     * and the later time still counts from the latest refill. */
    assert_int_equal(takes(t, L("c"), 1000, 1, 1000, 2), 1);
    assert_false(rate_take(t, L("c"), 500, 1, 1000));
    assert_false(rate_take(t, L("c"), 1999, 1, 1000));
    assert_true(rate_take(t, L("c"), 2000, 1, 1000));
    /* Periods beyond the cap and huge clocks do not overflow. */
    assert_int_equal(takes(t, L("h"), UINT64_MAX - 10, 10000, UINT64_MAX, 20000), 10000);
    assert_false(rate_take(t, L("h"), UINT64_MAX, 10000, UINT64_MAX));
    assert_int_equal(takes(t, L("z"), 0, UINT32_MAX, 1, 3), 3);
    assert_int_equal(takes(t, L("z"), UINT64_MAX, UINT32_MAX, 1, 3), 3);
}

static void test_refund(void **state)
{
    struct rate_table *t = *state;
    assert_int_equal(takes(t, L("k"), 0, 3, 1000, 5), 3);
    rate_refund(t, L("k"));
    assert_true(rate_take(t, L("k"), 0, 3, 1000));
    assert_false(rate_take(t, L("k"), 0, 3, 1000));
    /* Never above capacity. */
    assert_true(rate_take(t, L("full"), 0, 2, 1000));
    rate_refund(t, L("full"));
    rate_refund(t, L("full"));
    rate_refund(t, L("full"));
    assert_int_equal(takes(t, L("full"), 0, 2, 1000, 5), 2);
    /* No entry: nothing happens. */
    rate_refund(t, L("nobody"));
    assert_int_equal(rate_table_size(t), 2);
}

static void test_sweep(void **state)
{
    struct rate_table *t = *state;
    assert_int_equal(takes(t, L("early"), 0, 3, 1000, 3), 3);  /* empty at 0, full at 1000 */
    assert_int_equal(takes(t, L("late"), 500, 3, 1000, 3), 3); /* empty at 500, full at 1500 */
    assert_true(rate_take(t, L("one"), 900, 3, 1000));         /* full again at 1234 */
    assert_int_equal(rate_table_size(t), 3);
    assert_int_equal(rate_table_sweep(t, 0), 0);
    assert_int_equal(rate_table_sweep(t, 999), 0);
    assert_int_equal(rate_table_sweep(t, 1000), 1); /* early */
    assert_int_equal(rate_table_size(t), 2);
    assert_int_equal(rate_table_sweep(t, 1233), 0);
    assert_int_equal(rate_table_sweep(t, 1234), 1); /* one */
    /* late is still remembered: it refuses at 1000 */
    assert_false(rate_take(t, L("late"), 500, 3, 1000));
    assert_int_equal(rate_table_sweep(t, 2000), 1);
    assert_int_equal(rate_table_size(t), 0);
    /* A swept key starts full again. */
    assert_int_equal(takes(t, L("early"), 2000, 3, 1000, 5), 3);
    /* Many entries, half of them full. */
    char key[32];
    for (int i = 0; i < 400; i++) {
        int n = snprintf(key, sizeof(key), "u%d", i);
        assert_true(rate_take(t, key, (size_t)n, i % 2 ? 10000 : 0, 1, 5000));
    }
    assert_int_equal(rate_table_sweep(t, 5000), 200 + 1); /* the even ones, and early */
    assert_int_equal(rate_table_size(t), 200);
    assert_int_equal(rate_table_sweep(t, UINT64_MAX), 200);
    assert_int_equal(rate_table_size(t), 0);
}

static void test_overflow(void **state)
{
    struct rate_table *t = rate_table_new(2);
    assert_non_null(t);
    assert_int_equal(takes(t, L("a"), 0, 1, 1000, 2), 1);
    assert_int_equal(takes(t, L("b"), 0, 1, 1000, 2), 1);
    /* Full: a new key passes every time (fail open) and is counted. */
    assert_int_equal(takes(t, L("c"), 0, 1, 1000, 5), 5);
    assert_int_equal(rate_table_overflows(t), 5);
    assert_int_equal(rate_table_size(t), 2);
    /* Known keys still count. */
    assert_false(rate_take(t, L("a"), 0, 1, 1000));
    /* Room again after a sweep. */
    assert_int_equal(rate_table_sweep(t, 1000), 2);
    assert_int_equal(takes(t, L("c"), 1000, 1, 1000, 5), 1);
    assert_int_equal(rate_table_overflows(t), 5);
    rate_table_free(t);
    /* max 0: no entry ever. */
    t = rate_table_new(0);
    assert_non_null(t);
    assert_int_equal(takes(t, L("a"), 0, 1, 1000, 3), 3);
    assert_int_equal(rate_table_overflows(t), 3);
    assert_int_equal(rate_table_size(t), 0);
    rate_table_free(t);
    rate_table_free(NULL);
}

/* ---- threads --------------------------------------------------------------------------------- */

#define NTHREADS 4
#define NTAKES   10000

struct hammer {
    struct rate_table *t;
    int id;
    atomic_int ok;
};

static void *hammer_one_key(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < NTAKES; i++)
        if (rate_take(h->t, L("hot"), 777, 100, 60000))
            atomic_fetch_add(&h->ok, 1);
    return NULL;
}

static void *hammer_new_keys(void *arg)
{
    struct hammer *h = arg;
    char key[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(key, sizeof(key), "t%d-%d", h->id, i);
        if (rate_take(h->t, key, (size_t)n, 0, 1, 1000))
            atomic_fetch_add(&h->ok, 1);
        if (i % 100 == 0)
            rate_table_sweep(h->t, 0); /* sweeps racing the takes remove nothing */
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct rate_table *t = rate_table_new(500);
    struct hammer h = {.t = t};
    pthread_t th[NTHREADS];
    atomic_init(&h.ok, 0);
    assert_non_null(t);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer_one_key, &h), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&h.ok), 100); /* exactly count, never more */
    assert_int_equal(rate_table_size(t), 1);

    /* 4000 new keys into a table of 500: exactly 500 entries, the rest
     * let through and counted. */
    struct hammer hs[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        hs[i].t = t;
        hs[i].id = i;
        atomic_init(&hs[i].ok, 0);
        assert_int_equal(pthread_create(&th[i], NULL, hammer_new_keys, &hs[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        ok += atomic_load(&hs[i].ok);
    }
    assert_int_equal(ok, NTHREADS * 1000);
    assert_int_equal(rate_table_size(t), 500);
    assert_int_equal(rate_table_overflows(t), NTHREADS * 1000 - 499);
    rate_table_free(t);
}

#define TABLE_TEST(f) cmocka_unit_test_setup_teardown(f, table_setup, table_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TABLE_TEST(test_burst), TABLE_TEST(test_refill),           TABLE_TEST(test_keys_apart),
        TABLE_TEST(test_off),   TABLE_TEST(test_retune_and_clock), TABLE_TEST(test_refund),
        TABLE_TEST(test_sweep), cmocka_unit_test(test_overflow),   cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
