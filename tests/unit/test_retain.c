/*
 * test_retain.c - unit tests for retain.c, the retained-message store.
 *
 * The module's source is included (not linked) so that its allocations can
 * be failed one at a time and its trie checked from the inside. Matching is
 * checked against a table (the MQTT 3.1.1 section 4.7 examples and the '$'
 * rule) and against topic_matches() over every short filter; reference
 * counts are read directly, and leaks are left to AddressSanitizer.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "errors.h"
#include "message.h"
#include "topic.h"

/* Allocations left before one fails; negative: none fails. */
static long fail_countdown = -1;
/* When set, every allocation after the first failure fails too. */
static bool fail_persist;

static bool fault_now(void)
{
    if (fail_countdown < 0)
        return false;
    if (fail_countdown > 0) {
        fail_countdown--;
        return false;
    }
    if (!fail_persist)
        fail_countdown = -1;
    return true;
}

static void *fault_calloc(size_t n, size_t size)
{
    return fault_now() ? NULL : calloc(n, size);
}

static void *fault_realloc(void *p, size_t size)
{
    return fault_now() ? NULL : realloc(p, size);
}

#define calloc  fault_calloc
#define realloc fault_realloc
#include "retain.c"
#include "unit_helpers.h"
#undef calloc
#undef realloc

/* ---- helpers ----------------------------------------------------------- */

static struct message *msg(const char *topic, const char *payload)
{
    struct message *m =
        message_new(topic, strlen(topic), (const uint8_t *)payload, strlen(payload), 1, true, NULL);
    assert_non_null(m);
    return m;
}

static unsigned refs(struct message *m)
{
    return atomic_load(&m->refs);
}

/* Sets topic to payload (an empty payload clears) and drops our reference. */
static int set(struct retain_store *r, const char *topic, const char *payload)
{
    struct message *m = msg(topic, payload);
    int rc = retain_set(r, m);
    message_unref(m);
    return rc;
}

#define MAXSEEN 1024

struct seen {
    size_t n;
    struct message *a[MAXSEEN]; /* not referenced: valid while the store is */
};

static void seen_fn(void *ctx, struct message *m)
{
    struct seen *s = ctx;
    assert_true(s->n < MAXSEEN);
    s->a[s->n++] = m;
}

static int cmp_topic(const void *a, const void *b)
{
    return strcmp((*(struct message *const *)a)->topic, (*(struct message *const *)b)->topic);
}

/* The topics matched by filter, sorted and joined by '|', into out. */
static const char *match_str(struct retain_store *r, const char *filter, char *out, size_t size)
{
    static struct seen s;
    s.n = 0;
    retain_match(r, filter, strlen(filter), seen_fn, &s);
    qsort(s.a, s.n, sizeof(s.a[0]), cmp_topic);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < s.n; i++) {
        int w = snprintf(out + used, size - used, "%s%s", i ? "|" : "", s.a[i]->topic);
        assert_true(w >= 0 && (size_t)w < size - used);
        used += (size_t)w;
    }
    return out;
}

/* Checks the trie: sorted children with back pointers, no empty node, and
 * as many messages as retain_count says. Returns the messages under n. */
static size_t check_node(const struct rnode *n)
{
    size_t msgs = n->msg ? 1 : 0;
    if (n->parent)
        assert_true(n->msg || n->nkids);
    assert_true(n->nkids <= n->cap);
    assert_true((n->nkids == 0) == (n->kids == NULL));
    for (uint32_t i = 0; i < n->nkids; i++) {
        const struct rnode *c = n->kids[i];
        assert_ptr_equal(c->parent, n);
        if (i > 0)
            assert_true(name_cmp(n->kids[i - 1], c->name, c->len) < 0);
        msgs += check_node(c);
    }
    return msgs;
}

static void check_store(struct retain_store *r)
{
    assert_null(r->root->msg);
    assert_int_equal(check_node(r->root), retain_count(r));
}

/* ---- tests ------------------------------------------------------------- */

static void test_set_replace_clear(void **state)
{
    struct retain_store *r = retain_new();
    assert_non_null(r);
    assert_int_equal(retain_count(r), 0);

    struct message *m1 = msg("a/b", "one"), *m2 = msg("a/b", "two"), *empty = msg("a/b", "");
    assert_int_equal(retain_set(r, m1), MQ_OK);
    assert_int_equal(refs(m1), 2);
    assert_int_equal(retain_count(r), 1);

    assert_int_equal(retain_set(r, m2), MQ_OK); /* replaces m1 */
    assert_int_equal(refs(m1), 1);
    assert_int_equal(refs(m2), 2);
    assert_int_equal(retain_count(r), 1);

    assert_int_equal(retain_set(r, m2), MQ_OK); /* the same message again */
    assert_int_equal(refs(m2), 2);

    assert_int_equal(retain_set(r, empty), MQ_OK); /* clears, keeps nothing */
    assert_int_equal(refs(empty), 1);
    assert_int_equal(refs(m2), 1);
    assert_int_equal(retain_count(r), 0);
    assert_int_equal(r->root->nkids, 0); /* the "a" and "b" nodes are gone */

    assert_int_equal(retain_set(r, empty), MQ_OK); /* clearing nothing is fine */
    assert_int_equal(set(r, "x", ""), MQ_OK);
    assert_int_equal(retain_count(r), 0);

    /* Clearing a parent keeps the child; clearing the child frees both. */
    assert_int_equal(set(r, "a", "p"), MQ_OK);
    assert_int_equal(set(r, "a/b", "c"), MQ_OK);
    assert_int_equal(set(r, "a", ""), MQ_OK);
    assert_int_equal(retain_count(r), 1);
    check_store(r);
    assert_int_equal(set(r, "a/b", ""), MQ_OK);
    assert_int_equal(r->root->nkids, 0);
    check_store(r);

    message_unref(m1);
    message_unref(m2);
    message_unref(empty);
    retain_free(r);
    retain_free(NULL);
}

static const char *const retained[] = {
    "sport",
    "sport/tennis",
    "sport/tennis/player1",
    "sport/tennis/player1/ranking",
    "sport/tennis/player1/score/wimbledon",
    "sport/tennis/player2",
    "sport/",
    "/finance",
    "/",
    "$SYS",
    "$SYS/monitor/Clients",
    "$SYS/x",
    "a/b/c",
    "a/x/c",
    "a//c",
    "a$/b",
};

static const struct {
    const char *filter;
    const char *topics; /* sorted (strcmp), joined by '|' */
} match_cases[] = {
    {"sport/tennis/player1/#",
     "sport/tennis/player1|sport/tennis/player1/ranking|sport/tennis/player1/score/wimbledon"},
    {"sport/#", "sport|sport/|sport/tennis|sport/tennis/player1|sport/tennis/player1/ranking|"
                "sport/tennis/player1/score/wimbledon|sport/tennis/player2"},
    {"#", "/|/finance|a$/b|a//c|a/b/c|a/x/c|sport|sport/|sport/tennis|sport/tennis/player1|"
          "sport/tennis/player1/ranking|sport/tennis/player1/score/wimbledon|sport/tennis/player2"},
    {"sport/tennis/+", "sport/tennis/player1|sport/tennis/player2"},
    {"sport/+", "sport/|sport/tennis"},
    {"+", "sport"},
    {"+/+", "/|/finance|a$/b|sport/|sport/tennis"},
    {"/+", "/|/finance"},
    {"+/b", "a$/b"},
    {"$SYS/#", "$SYS|$SYS/monitor/Clients|$SYS/x"},
    {"+/monitor/Clients", ""},
    {"+/#",
     "/|/finance|a$/b|a//c|a/b/c|a/x/c|sport|sport/|sport/tennis|sport/tennis/player1|"
     "sport/tennis/player1/ranking|sport/tennis/player1/score/wimbledon|sport/tennis/player2"},
    {"$SYS/monitor/+", "$SYS/monitor/Clients"},
    {"$SYS/+", "$SYS/x"},
    {"$SYS", "$SYS"},
    {"a/+/c", "a//c|a/b/c|a/x/c"},
    {"a/b/c", "a/b/c"},
    {"+/+/c", "a//c|a/b/c|a/x/c"},
    {"+/+/+/#", "a//c|a/b/c|a/x/c|sport/tennis/player1|sport/tennis/player1/ranking|"
                "sport/tennis/player1/score/wimbledon|sport/tennis/player2"},
    {"sport/tennis/player1/+", "sport/tennis/player1/ranking"},
    {"nope", ""},
    {"nope/#", ""},
    {"sport/tennis/player3/#", ""},
};

static void test_match_table(void **state)
{
    char buf[1024];
    struct retain_store *r = retain_new();
    assert_non_null(r);
    for (size_t i = 0; i < sizeof(retained) / sizeof(retained[0]); i++)
        assert_int_equal(set(r, retained[i], retained[i]), MQ_OK);
    assert_int_equal(retain_count(r), sizeof(retained) / sizeof(retained[0]));
    check_store(r);
    for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const char *got = match_str(r, match_cases[i].filter, buf, sizeof(buf));
        if (strcmp(got, match_cases[i].topics) != 0)
            fail_msg("case %zu \"%s\": got \"%s\"", i, match_cases[i].filter, got);
    }
    retain_free(r);
}

/* Lengths are explicit: the filter need not be NUL-terminated. */
static void test_match_unterminated(void **state)
{
    struct seen s = {0};
    struct retain_store *r = retain_new();
    assert_non_null(r);
    assert_int_equal(set(r, "a/b", "x"), MQ_OK);
    retain_match(r, "a/bcd", 3, seen_fn, &s);
    assert_int_equal(s.n, 1);
    retain_match(r, "a/+XX", 3, seen_fn, &s);
    assert_int_equal(s.n, 2);
    retain_match(r, "a/bcd", 4, seen_fn, &s);
    assert_int_equal(s.n, 2);
    retain_free(r);
}

/*
 * The store against topic_matches(): a random half of every topic of up to
 * four levels is retained (then some cleared), and every valid filter of up
 * to four levels must report exactly the retained topics it matches, each
 * once, with the message that was stored for it.
 */
static void test_against_topic_matches(void **state)
{
    static const char *const flevels[] = {"a", "$S", "", "+", "#"};
    static const char *const tlevels[] = {"a", "$S", "", "c"};
    static char filters[5 + 25 + 125 + 625][16], topics[4 + 16 + 64 + 256][16];
    static struct message *stored[4 + 16 + 64 + 256];
    static struct seen s;
    size_t nf = unit_gen_levels(flevels, 5, 4, &filters[0][0], sizeof(filters[0]), 780);
    size_t nt = unit_gen_levels(tlevels, 4, 4, &topics[0][0], sizeof(topics[0]), 340);
    uint32_t rnd = 7;

    struct retain_store *r = retain_new();
    assert_non_null(r);
    memset(stored, 0, sizeof(stored));
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < nt; i++) {
            rnd = rnd * 1103515245u + 12345u;
            bool keep = (rnd >> 16) % 2;
            if (topics[i][0] == '\0')
                continue; /* "" is not a topic */
            struct message *m = msg(topics[i], keep ? topics[i] : "");
            assert_int_equal(retain_set(r, m), MQ_OK);
            message_unref(stored[i]);
            stored[i] = keep ? m : NULL;
            if (!keep)
                message_unref(m);
        }
        check_store(r);
        for (size_t f = 0; f < nf; f++) {
            size_t fl = strlen(filters[f]);
            if (topic_validate_filter(filters[f], fl) != MQ_OK)
                continue;
            s.n = 0;
            retain_match(r, filters[f], fl, seen_fn, &s);
            size_t want = 0;
            for (size_t i = 0; i < nt; i++) {
                if (!stored[i] || !topic_matches(filters[f], fl, topics[i], strlen(topics[i])))
                    continue;
                want++;
                size_t found = 0;
                for (size_t k = 0; k < s.n; k++)
                    found += s.a[k] == stored[i];
                if (found != 1)
                    fail_msg("\"%s\": \"%s\" reported %zu times", filters[f], topics[i], found);
            }
            if (s.n != want)
                fail_msg("\"%s\": %zu reported, %zu expected", filters[f], s.n, want);
        }
    }
    for (size_t i = 0; i < nt; i++)
        message_unref(stored[i]);
    retain_free(r);
}

static void ref_fn(void *ctx, struct message *m)
{
    *(struct message **)ctx = message_ref(m);
}

/* A reference taken in the callback outlives a clear and the store. */
static void test_references(void **state)
{
    struct retain_store *r = retain_new();
    assert_non_null(r);
    struct message *m = msg("room/1", "hello"), *kept = NULL;
    assert_int_equal(retain_set(r, m), MQ_OK);
    message_unref(m); /* the store's reference is now the only one */
    assert_int_equal(refs(m), 1);
    retain_match(r, "room/+", 6, ref_fn, &kept);
    assert_ptr_equal(kept, m);
    assert_int_equal(refs(m), 2);
    assert_int_equal(set(r, "room/1", ""), MQ_OK);
    assert_int_equal(refs(kept), 1);
    assert_memory_equal(kept->payload, "hello", 5);

    /* retain_free drops the references it holds, and only those. */
    struct message *a = msg("x/1", "a"), *b = msg("x/2", "b");
    assert_int_equal(retain_set(r, a), MQ_OK);
    assert_int_equal(retain_set(r, b), MQ_OK);
    assert_int_equal(retain_set(r, kept), MQ_OK);
    assert_int_equal(refs(a), 2);
    retain_free(r);
    assert_int_equal(refs(a), 1);
    assert_int_equal(refs(b), 1);
    assert_int_equal(refs(kept), 1);
    message_unref(a);
    message_unref(b);
    message_unref(kept);
}

/* A 20,000-level topic: storing, matching, clearing and freeing must not
 * recurse per level. */
static void test_deep_topic(void **state)
{
    enum { LEVELS = 20000 };
    size_t len = 2 * LEVELS - 1;
    char *topic = malloc(len + 1);
    assert_non_null(topic);
    for (size_t i = 0; i < len; i++)
        topic[i] = i % 2 ? '/' : 'a';
    topic[len] = '\0';
    struct retain_store *r = retain_new();
    assert_non_null(r);
    struct message *m = message_new(topic, len, (const uint8_t *)"x", 1, 0, true, NULL);
    assert_non_null(m);
    assert_int_equal(retain_set(r, m), MQ_OK);
    struct seen s = {0};
    retain_match(r, "#", 1, seen_fn, &s);
    retain_match(r, "a/#", 3, seen_fn, &s);
    retain_match(r, topic, len, seen_fn, &s);
    topic[len - 1] = '+';
    retain_match(r, topic, len, seen_fn, &s);
    assert_int_equal(s.n, 4);
    retain_free(r); /* the whole 20,000-node path at once */
    message_unref(m);

    r = retain_new();
    assert_non_null(r);
    topic[len - 1] = 'a';
    assert_int_equal(set(r, topic, "x"), MQ_OK);
    assert_int_equal(set(r, topic, ""), MQ_OK); /* node by node */
    assert_int_equal(r->root->nkids, 0);
    retain_free(r);
    free(topic);
}

static void test_empty_topic(void **state)
{
    struct retain_store *r = retain_new();
    assert_non_null(r);
    struct message *m = message_new("", 0, (const uint8_t *)"x", 1, 0, true, NULL);
    assert_non_null(m);
    assert_int_equal(retain_set(r, m), MQ_EINVAL);
    assert_int_equal(refs(m), 1);
    assert_int_equal(retain_count(r), 0);
    message_unref(m);
    retain_free(r);
}

/*
 * Fails each allocation of a retain_set in turn (once, then every one
 * after): each failure must return MQ_ENOMEM with the store unchanged and
 * sound, and the set must succeed once no allocation fails.
 */
static void test_alloc_failures(void **state)
{
    static const char *const topics[] = {"a/b/c/d/e", "a/x", "new", "a/b/y", "a/b/c"};
    char before[1024], after[1024];
    for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++) {
        for (int persist = 0; persist < 2; persist++) {
            long k;
            for (k = 0;; k++) {
                struct retain_store *r = retain_new();
                assert_non_null(r);
                assert_int_equal(set(r, "a/b", "1"), MQ_OK);
                assert_int_equal(set(r, "a/b/c", "2"), MQ_OK);
                assert_int_equal(set(r, "a/c", "3"), MQ_OK); /* "a" has two children */
                match_str(r, "#", before, sizeof(before));
                size_t count = retain_count(r);
                struct message *m = msg(topics[t], "v");
                fail_persist = persist;
                fail_countdown = k;
                int rc = retain_set(r, m);
                fail_countdown = -1;
                check_store(r);
                if (rc == MQ_OK) {
                    assert_int_equal(refs(m), 2);
                    message_unref(m);
                    retain_free(r);
                    break;
                }
                assert_int_equal(rc, MQ_ENOMEM);
                assert_int_equal(refs(m), 1);
                assert_int_equal(retain_count(r), count);
                assert_string_equal(match_str(r, "#", after, sizeof(after)), before);
                message_unref(m);
                retain_free(r);
            }
            /* Replacing "a/b/c" allocates nothing; the others must. */
            assert_true(k > 0 || strcmp(topics[t], "a/b/c") == 0);
        }
    }
}

/* Clearing never allocates, so it cannot fail. */
static void test_clear_under_alloc_failure(void **state)
{
    struct retain_store *r = retain_new();
    assert_non_null(r);
    assert_int_equal(set(r, "a/b", "1"), MQ_OK);
    assert_int_equal(set(r, "a/c", "1"), MQ_OK);
    fail_persist = true;
    fail_countdown = 0;
    assert_int_equal(set(r, "a/b", ""), MQ_OK);
    assert_int_equal(set(r, "a/c", ""), MQ_OK);
    fail_countdown = -1;
    assert_int_equal(retain_count(r), 0);
    retain_free(r);
}

struct worker_arg {
    struct retain_store *r;
    int id;
};

static void count_fn(void *ctx, struct message *m)
{
    (*(size_t *)ctx)++;
}

static void *worker(void *p)
{
    struct worker_arg *w = p;
    char topic[32];
    size_t n = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(topic, sizeof(topic), "w%d/t%d", w->id, i % 50);
        struct message *m =
            message_new(topic, strlen(topic), (const uint8_t *)"x", i % 3, 0, 1, NULL);
        if (!m || retain_set(w->r, m) != MQ_OK)
            abort();
        message_unref(m);
        retain_match(w->r, "+/#", 3, count_fn, &n);
    }
    return NULL;
}

/* Several threads setting, clearing and matching at once (for ASan/TSan). */
static void test_threads(void **state)
{
    enum { NTHREADS = 4 };
    pthread_t th[NTHREADS];
    struct worker_arg args[NTHREADS];
    struct retain_store *r = retain_new();
    assert_non_null(r);
    for (int i = 0; i < NTHREADS; i++) {
        args[i] = (struct worker_arg){.r = r, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    check_store(r);
    assert_true(retain_count(r) <= NTHREADS * 50);
    retain_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_replace_clear),
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_match_unterminated),
        cmocka_unit_test(test_against_topic_matches),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_deep_topic),
        cmocka_unit_test(test_empty_topic),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_clear_under_alloc_failure),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
