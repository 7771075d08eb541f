/*
 * test_topic_tree.c - unit tests for topic_tree.c, the per-worker
 * subscription index.
 *
 * The module's source is included (not linked) so that the tests can fail
 * its allocations one at a time (fault_calloc, fault_realloc) and can check
 * its invariants from the inside (check_tree). Matching is checked three
 * ways: a table of routes through the exact table, '+' and '#'; an oracle
 * comparison with topic_matches() over every short topic; and large cases
 * (a 1000-subscriber room, 10,000 filters, a 20,000-level filter).
 */
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
#include "topic_tree.c"
#include "unit_helpers.h"
#undef calloc
#undef realloc

/* ---- helpers ----------------------------------------------------------- */

#define NOWNERS 20000
static char owners[NOWNERS]; /* owner i is &owners[i] */
#define OWNER(i) ((void *)&owners[(i)])

struct collect {
    size_t calls;             /* callbacks made */
    size_t total;             /* subscribers reported, over all calls */
    unsigned count[NOWNERS];  /* times each owner was reported */
    uint8_t options[NOWNERS]; /* the last options seen per owner */
    uint32_t sub_id[NOWNERS]; /* the last sub_id seen per owner */
};

static struct collect col; /* large: static, reset by do_match */

static void collect_fn(void *ctx, const struct topic_sub *subs, size_t n)
{
    struct collect *c = ctx;
    assert_true(n > 0);
    c->calls++;
    c->total += n;
    for (size_t i = 0; i < n; i++) {
        ptrdiff_t o = (char *)subs[i].owner - owners;
        assert_true(o >= 0 && o < NOWNERS);
        c->count[o]++;
        c->options[o] = subs[i].options;
        c->sub_id[o] = subs[i].sub_id;
    }
}

static struct collect *do_match(const struct topic_tree *t, const char *topic)
{
    memset(&col, 0, sizeof(col));
    topic_tree_match(t, topic, strlen(topic), collect_fn, &col);
    return &col;
}

static int add(struct topic_tree *t, const char *filter, size_t owner)
{
    return topic_tree_add(t, filter, strlen(filter), OWNER(owner), 1, 0);
}

static int del(struct topic_tree *t, const char *filter, size_t owner)
{
    return topic_tree_remove(t, filter, strlen(filter), OWNER(owner));
}

static void check_subs(const struct sub_list *l)
{
    assert_true(l->n <= l->cap);
    for (uint32_t i = 0; i < l->n; i++) {
        assert_non_null(l->a[i].owner);
        for (uint32_t j = i + 1; j < l->n; j++)
            assert_ptr_not_equal(l->a[i].owner, l->a[j].owner);
    }
}

static void check_map(const struct htab *m)
{
    uint32_t used = 0;
    assert_true(m->cap == 0 || (m->cap & (m->cap - 1)) == 0);
    assert_true((uint64_t)m->n * 4 <= (uint64_t)m->cap * 3);
    for (uint32_t i = 0; i < m->cap; i++) {
        const struct named *e = m->a[i].e;
        if (!e)
            continue;
        used++;
        assert_true(m->a[i].hash == str_hash(e->name, e->len));
        assert_ptr_equal(htab_find(m, m->a[i].hash, e->name, e->len), e);
    }
    assert_int_equal(used, m->n);
}

/* Checks a trie node and everything under it; returns its subscriptions. */
static size_t check_node(const struct tnode *n, bool root)
{
    size_t subs = n->head.subs.n;
    if (!root)
        assert_false(node_is_empty(n));
    check_subs(&n->head.subs);
    check_map(&n->kids);
    if (n->plus) {
        assert_ptr_equal(n->plus->parent, n);
        assert_true(n->plus->head.len == 1 && n->plus->head.name[0] == '+');
        subs += check_node(n->plus, false);
    }
    if (n->hash) {
        assert_ptr_equal(n->hash->parent, n);
        assert_true(n->hash->head.len == 1 && n->hash->head.name[0] == '#');
        assert_true(!n->hash->plus && !n->hash->hash && n->hash->kids.n == 0);
        subs += check_node(n->hash, false);
    }
    for (uint32_t i = 0; i < n->kids.cap; i++) {
        const struct tnode *c = (const struct tnode *)n->kids.a[i].e;
        if (c) {
            assert_ptr_equal(c->parent, n);
            subs += check_node(c, false);
        }
    }
    return subs;
}

/* Checks every invariant of t: maps consistent, no empty entry or node, no
 * duplicate owner in a filter, and count equal to the subscriptions held. */
static void check_tree(const struct topic_tree *t)
{
    size_t subs = 0;
    check_map(&t->exact);
    for (uint32_t i = 0; i < t->exact.cap; i++) {
        const struct named *e = t->exact.a[i].e;
        if (e) {
            assert_true(e->subs.n > 0);
            assert_false(has_wildcard(e->name, e->len));
            check_subs(&e->subs);
            subs += e->subs.n;
        }
    }
    assert_null(t->root.parent);
    subs += check_node(&t->root, true);
    assert_int_equal(subs, topic_tree_count(t));
}

/* A tiny deterministic generator, so failures repeat. */
static uint32_t rnd_state = 12345;
static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) % n;
}

/* ---- tests ------------------------------------------------------------- */

static void test_empty(void **state)
{
    struct topic_tree *t = topic_tree_new();
    assert_non_null(t);
    assert_int_equal(topic_tree_count(t), 0);
    assert_int_equal(do_match(t, "a")->calls, 0);
    assert_int_equal(do_match(t, "$SYS/x")->calls, 0);
    assert_int_equal(del(t, "a", 0), MQ_ENOTFOUND);
    assert_int_equal(del(t, "a/+", 0), MQ_ENOTFOUND);
    check_tree(t);
    topic_tree_free(t);
    topic_tree_free(NULL);
}

static void test_add_replace_remove_count(void **state)
{
    static const char *const filters[] = {"room/1", "room/+", "room/#", "#", "+", "/", "a//b"};
    size_t nf = sizeof(filters) / sizeof(filters[0]);
    struct topic_tree *t = topic_tree_new();
    assert_non_null(t);

    for (size_t i = 0; i < nf; i++) {
        assert_int_equal(add(t, filters[i], 0), 1);
        assert_int_equal(add(t, filters[i], 1), 1);
        assert_int_equal(topic_tree_count(t), 2 * (i + 1));
    }
    /* A repeated SUBSCRIBE replaces options and sub_id, not adds. */
    for (size_t i = 0; i < nf; i++) {
        const char *f = filters[i];
        assert_int_equal(topic_tree_add(t, f, strlen(f), OWNER(1), 2, 77), 0);
    }
    assert_int_equal(topic_tree_count(t), 2 * nf);
    struct collect *c = do_match(t, "room/1");
    assert_int_equal(c->calls, 4); /* room/1, room/+, room/#, # */
    assert_int_equal(c->count[0], 4);
    assert_int_equal(c->count[1], 4);
    assert_int_equal(c->options[1], 2);
    assert_int_equal(c->sub_id[1], 77);
    assert_int_equal(c->options[0], 1);
    check_tree(t);

    for (size_t i = 0; i < nf; i++) {
        assert_int_equal(del(t, filters[i], 0), MQ_OK);
        assert_int_equal(del(t, filters[i], 0), MQ_ENOTFOUND);
        check_tree(t);
    }
    assert_int_equal(topic_tree_count(t), nf);
    for (size_t i = 0; i < nf; i++)
        assert_int_equal(del(t, filters[i], 1), MQ_OK);
    assert_int_equal(topic_tree_count(t), 0);
    assert_int_equal(t->exact.n, 0);
    assert_true(!t->root.plus && !t->root.hash && t->root.kids.n == 0);
    assert_int_equal(do_match(t, "room/1")->calls, 0);
    topic_tree_free(t);
}

static void test_remove_not_found(void **state)
{
    struct topic_tree *t = topic_tree_new();
    assert_non_null(t);
    assert_int_equal(add(t, "a/+", 0), 1);
    assert_int_equal(add(t, "a/b", 0), 1);
    assert_int_equal(del(t, "a/+", 1), MQ_ENOTFOUND);   /* other owner */
    assert_int_equal(del(t, "a/b", 1), MQ_ENOTFOUND);   /* other owner */
    assert_int_equal(del(t, "a/#", 0), MQ_ENOTFOUND);   /* sibling */
    assert_int_equal(del(t, "a/+/c", 0), MQ_ENOTFOUND); /* deeper */
    assert_int_equal(del(t, "+", 0), MQ_ENOTFOUND);     /* no path */
    assert_int_equal(del(t, "a", 0), MQ_ENOTFOUND);     /* prefix */
    assert_int_equal(del(t, "a/b/c", 0), MQ_ENOTFOUND); /* longer */
    assert_int_equal(add(t, "a/+/c", 0), 1);
    assert_int_equal(del(t, "a/+", 0), MQ_OK);        /* inner node stays */
    assert_int_equal(del(t, "a/+", 0), MQ_ENOTFOUND); /* no subscribers there */
    assert_int_equal(do_match(t, "a/x/c")->calls, 1);
    assert_int_equal(topic_tree_count(t), 2);
    check_tree(t);
    topic_tree_free(t);
}

/* Owner i subscribes with route_filters[i]. */
static const char *const route_filters[] = {
    "sport/tennis/player1",   /* A: exact */
    "sport/tennis/+",         /* B */
    "sport/#",                /* C */
    "#",                      /* D */
    "+/+",                    /* E */
    "$SYS/#",                 /* F */
    "+/monitor/Clients",      /* G */
    "$SYS/monitor/+",         /* H */
    "/+",                     /* I */
    "+",                      /* J */
    "sport/tennis/player1/#", /* K */
    "a/+/c",                  /* L */
    "a/b/c",                  /* M: exact */
    "a/+/+",                  /* N */
    "a/b/+",                  /* O */
    "$SYS/monitor/Clients",   /* P: exact */
    "+/b/#",                  /* Q */
};

static const struct {
    const char *topic;
    const char *owners; /* letters: owner 'A' + i, each reported once */
} route_cases[] = {
    {"sport/tennis/player1", "ABCDK"},
    {"sport/tennis/player1/ranking", "CDK"},
    {"sport/tennis/player1/score/wimbledon", "CDK"},
    {"sport/tennis/player2", "BCD"},
    {"sport", "CDJ"},
    {"sport/", "CDE"},
    {"/finance", "DEI"},
    {"/", "DEI"},
    {"$SYS/monitor/Clients", "FHP"},
    {"$SYS", "F"},
    {"$SYS/x", "F"},
    {"a/b/c", "DLMNOQ"},
    {"a/x/c", "DLN"},
    {"a/b", "DEQ"},
    {"a/b/c/d", "DQ"},
    {"x/monitor/Clients", "DG"},
    {"nothing/here/at/all", "D"},
    {"sport/tennis/player1/", "CDK"},
};

static void test_match_routes(void **state)
{
    size_t nf = sizeof(route_filters) / sizeof(route_filters[0]);
    struct topic_tree *t = topic_tree_new();
    assert_non_null(t);
    for (size_t i = 0; i < nf; i++) {
        const char *f = route_filters[i];
        assert_int_equal(topic_tree_add(t, f, strlen(f), OWNER(i), (uint8_t)i, (uint32_t)i + 100),
                         1);
    }
    check_tree(t);
    for (size_t k = 0; k < sizeof(route_cases) / sizeof(route_cases[0]); k++) {
        const char *topic = route_cases[k].topic, *want = route_cases[k].owners;
        struct collect *c = do_match(t, topic);
        for (size_t i = 0; i < nf; i++) {
            unsigned expect = strchr(want, (int)('A' + i)) != NULL;
            if (c->count[i] != expect)
                fail_msg("case %zu \"%s\": owner %c (\"%s\") reported %u times", k, topic,
                         (int)('A' + i), route_filters[i], c->count[i]);
            if (expect)
                assert_true(c->options[i] == i && c->sub_id[i] == i + 100);
        }
        assert_int_equal(c->calls, strlen(want));
        assert_int_equal(c->total, strlen(want));
    }
    topic_tree_free(t);
}

static void test_owner_two_filters(void **state)
{
    struct topic_tree *t = topic_tree_new();
    assert_non_null(t);
    assert_int_equal(topic_tree_add(t, "room/1", 6, OWNER(0), 0, 1), 1);
    assert_int_equal(topic_tree_add(t, "room/+", 6, OWNER(0), 1, 2), 1);
    assert_int_equal(topic_tree_add(t, "room/#", 6, OWNER(0), 2, 3), 1);
    assert_int_equal(topic_tree_count(t), 3);
    struct collect *c = do_match(t, "room/1");
    assert_int_equal(c->calls, 3);
    assert_int_equal(c->count[0], 3);
    c = do_match(t, "room/2");
    assert_int_equal(c->calls, 2);
    assert_int_equal(c->count[0], 2);
    assert_int_equal(del(t, "room/+", 0), MQ_OK);
    c = do_match(t, "room/1");
    assert_int_equal(c->calls, 2);
    check_tree(t);
    topic_tree_free(t);
}

static void test_many_owners_one_filter(void **state)
{
    static const char *const filters[] = {"chat/room/42", "chat/+/42", "chat/#"};
    for (size_t f = 0; f < 3; f++) {
        struct topic_tree *t = topic_tree_new();
        assert_non_null(t);
        for (size_t i = 0; i < 1000; i++)
            assert_int_equal(add(t, filters[f], i), 1);
        assert_int_equal(topic_tree_count(t), 1000);
        struct collect *c = do_match(t, "chat/room/42");
        assert_int_equal(c->calls, 1);
        assert_int_equal(c->total, 1000);
        for (size_t i = 0; i < 1000; i++)
            assert_int_equal(c->count[i], 1);
        /* Remove every other owner, then the rest: arrays shrink. */
        for (size_t i = 0; i < 1000; i += 2)
            assert_int_equal(del(t, filters[f], i), MQ_OK);
        c = do_match(t, "chat/room/42");
        assert_int_equal(c->total, 500);
        for (size_t i = 0; i < 1000; i++)
            assert_int_equal(c->count[i], i % 2);
        check_tree(t);
        for (size_t i = 1; i < 1000; i += 2)
            assert_int_equal(del(t, filters[f], i), MQ_OK);
        assert_int_equal(do_match(t, "chat/room/42")->calls, 0);
        check_tree(t);
        topic_tree_free(t);
    }
}

static void test_remove_middle(void **state)
{
    static const char *const filters[] = {"r", "+/r/#"};
    for (size_t f = 0; f < 2; f++) {
        struct topic_tree *t = topic_tree_new();
        assert_non_null(t);
        for (size_t i = 0; i < 10; i++)
            assert_int_equal(topic_tree_add(t, filters[f], strlen(filters[f]), OWNER(i), (uint8_t)i,
                                            (uint32_t)i),
                             1);
        assert_int_equal(del(t, filters[f], 5), MQ_OK);
        assert_int_equal(del(t, filters[f], 5), MQ_ENOTFOUND);
        struct collect *c = do_match(t, f == 0 ? "r" : "x/r");
        assert_int_equal(c->total, 9);
        for (size_t i = 0; i < 10; i++) {
            assert_int_equal(c->count[i], i != 5);
            if (i != 5) /* the moved last element keeps its own options */
                assert_true(c->options[i] == i && c->sub_id[i] == i);
        }
        assert_int_equal(del(t, filters[f], 0), MQ_OK); /* first */
        assert_int_equal(del(t, filters[f], 9), MQ_OK); /* last */
        c = do_match(t, f == 0 ? "r" : "x/r");
        assert_int_equal(c->total, 7);
        assert_int_equal(c->count[0] + c->count[5] + c->count[9], 0);
        check_tree(t);
        topic_tree_free(t);
    }
}

static void test_ten_thousand_filters(void **state)
{
    enum { N = 10000, W = 1000 };
    char buf[64];
    struct topic_tree *t = topic_tree_new();
    assert_non_null(t);
    for (size_t i = 0; i < N; i++) {
        snprintf(buf, sizeof(buf), "chat/room/%zu", i);
        assert_int_equal(add(t, buf, i), 1);
    }
    for (size_t i = 0; i < W; i++) {
        snprintf(buf, sizeof(buf), "chat/room/%zu/+", i);
        assert_int_equal(add(t, buf, N + i), 1);
    }
    assert_int_equal(topic_tree_count(t), N + W);
    check_tree(t);
    for (size_t i = 0; i < N; i++) {
        snprintf(buf, sizeof(buf), "chat/room/%zu", i);
        struct collect *c = do_match(t, buf);
        assert_int_equal(c->calls, 1);
        assert_int_equal(c->count[i], 1);
    }
    struct collect *c = do_match(t, "chat/room/999/typing");
    assert_int_equal(c->calls, 1);
    assert_int_equal(c->count[N + 999], 1);
    assert_int_equal(do_match(t, "chat/room/10000")->calls, 0);

    /* Remove in a shuffled order, checking that the rest stay findable
     * while the hash table shifts entries back and shrinks. */
    static size_t order[N];
    for (size_t i = 0; i < N; i++)
        order[i] = i;
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = rnd((uint32_t)i + 1), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    for (size_t k = 0; k < N; k++) {
        snprintf(buf, sizeof(buf), "chat/room/%zu", order[k]);
        assert_int_equal(del(t, buf, order[k]), MQ_OK);
        if (k % 1000 == 999) {
            check_tree(t);
            for (size_t m = k + 1; m < N; m += 97) {
                snprintf(buf, sizeof(buf), "chat/room/%zu", order[m]);
                assert_int_equal(do_match(t, buf)->count[order[m]], 1);
            }
        }
    }
    assert_int_equal(t->exact.n, 0);
    assert_int_equal(topic_tree_count(t), W);
    for (size_t i = 0; i < W; i++) {
        snprintf(buf, sizeof(buf), "chat/room/%zu/+", i);
        assert_int_equal(del(t, buf, N + i), MQ_OK);
    }
    assert_int_equal(topic_tree_count(t), 0);
    assert_true(!t->root.plus && !t->root.hash && t->root.kids.n == 0);
    topic_tree_free(t);
}

/*
 * The tree against topic_matches(): random subscriptions drawn from every
 * valid filter of up to three levels, then every topic of up to four levels
 * matched both ways: each owner must be reported once per matching filter
 * it holds, and each matching filter must make one call.
 */
static void test_against_topic_matches(void **state)
{
    static const char *const flevels[] = {"a", "b", "$S", "", "+", "#"};
    static const char *const tlevels[] = {"a", "b", "$S", "", "c"};
    static char filters[6 + 36 + 216][16], topics[5 + 25 + 125 + 625][16];
    static bool held[6 + 36 + 216][32]; /* held[filter][owner] */
    size_t nf = unit_gen_levels(flevels, 6, 3, &filters[0][0], sizeof(filters[0]), 258);
    size_t nt = unit_gen_levels(tlevels, 5, 4, &topics[0][0], sizeof(topics[0]), 780);
    size_t nvalid = 0;
    for (size_t i = 0; i < nf; i++) {
        if (topic_validate_filter(filters[i], strlen(filters[i])) == MQ_OK)
            memcpy(filters[nvalid++], filters[i], sizeof(filters[0]));
    }
    memset(held, 0, sizeof(held));

    struct topic_tree *t = topic_tree_new();
    assert_non_null(t);
    for (int round = 0; round < 3; round++) {
        /* Add some, then remove some, keeping held[][] in step. */
        for (int k = 0; k < 400; k++) {
            size_t f = rnd((uint32_t)nvalid), o = rnd(32);
            int rc = add(t, filters[f], o);
            assert_int_equal(rc, held[f][o] ? 0 : 1);
            held[f][o] = true;
        }
        for (int k = 0; k < 250; k++) {
            size_t f = rnd((uint32_t)nvalid), o = rnd(32);
            int rc = del(t, filters[f], o);
            assert_int_equal(rc, held[f][o] ? MQ_OK : MQ_ENOTFOUND);
            held[f][o] = false;
        }
        check_tree(t);
        for (size_t i = 0; i < nt; i++) {
            unsigned want[32] = {0};
            size_t want_calls = 0;
            for (size_t f = 0; f < nvalid; f++) {
                if (!topic_matches(filters[f], strlen(filters[f]), topics[i], strlen(topics[i])))
                    continue;
                bool any = false;
                for (size_t o = 0; o < 32; o++) {
                    want[o] += held[f][o];
                    any |= held[f][o];
                }
                want_calls += any;
            }
            struct collect *c = do_match(t, topics[i]);
            assert_int_equal(c->calls, want_calls);
            for (size_t o = 0; o < 32; o++) {
                if (c->count[o] != want[o])
                    fail_msg("\"%s\": owner %zu reported %u times, want %u", topics[i], o,
                             c->count[o], want[o]);
            }
        }
    }
    topic_tree_free(t);
}

/* Lengths are explicit: filter and topic need not be NUL-terminated. */
static void test_unterminated(void **state)
{
    struct topic_tree *t = topic_tree_new();
    assert_non_null(t);
    assert_int_equal(topic_tree_add(t, "a/bXXX", 3, OWNER(0), 0, 0), 1);
    assert_int_equal(topic_tree_add(t, "a/+YYY", 3, OWNER(1), 0, 0), 1);
    struct collect *c = do_match(t, "a/b");
    assert_int_equal(c->calls, 2);
    memset(&col, 0, sizeof(col));
    topic_tree_match(t, "a/bcd", 3, collect_fn, &col);
    assert_int_equal(col.calls, 2);
    memset(&col, 0, sizeof(col));
    topic_tree_match(t, "a/bcd", 4, collect_fn, &col);
    assert_int_equal(col.calls, 1);
    assert_int_equal(topic_tree_remove(t, "a/bZZ", 3, OWNER(0)), MQ_OK);
    assert_int_equal(topic_tree_remove(t, "a/+ZZ", 3, OWNER(1)), MQ_OK);
    topic_tree_free(t);
}

/* A hostile 20,000-level filter: adding, matching, removing and freeing
 * must not recurse per level. */
static void test_deep_filter(void **state)
{
    enum { LEVELS = 20000 };
    size_t len = 2 * LEVELS - 1;
    char *plus = malloc(len + 1), *topic = malloc(len + 1);
    assert_non_null(plus);
    assert_non_null(topic);
    for (size_t i = 0; i < len; i++) {
        plus[i] = i % 2 ? '/' : '+';
        topic[i] = i % 2 ? '/' : 'a';
    }
    plus[len] = topic[len] = '\0';

    struct topic_tree *t = topic_tree_new();
    assert_non_null(t);
    assert_int_equal(topic_tree_add(t, plus, len, OWNER(0), 0, 0), 1);
    plus[len - 1] = '#';
    assert_int_equal(topic_tree_add(t, plus, len, OWNER(1), 0, 0), 1);
    assert_int_equal(topic_tree_add(t, topic, len, OWNER(2), 0, 0), 1);
    memset(&col, 0, sizeof(col));
    topic_tree_match(t, topic, len, collect_fn, &col);
    assert_int_equal(col.calls, 3);
    assert_int_equal(col.count[0] + col.count[1] + col.count[2], 3);
    memset(&col, 0, sizeof(col));
    topic_tree_match(t, topic, len - 2, collect_fn, &col);
    assert_int_equal(col.calls, 1); /* "+/.../#" by its parent level */
    assert_int_equal(col.count[1], 1);
    assert_int_equal(topic_tree_remove(t, plus, len, OWNER(1)), MQ_OK);
    topic_tree_free(t); /* frees the remaining 20,000-node path */
    free(plus);
    free(topic);
}

/* Probe topics whose match results define "the tree is unchanged". */
static const char *const probes[] = {"a/b/c/x/d", "a/b/c", "a/b/x",       "a/b", "x/1",
                                     "x/4",       "new",   "a/b/c/x/d/e", "q/r", "$SYS/a"};
#define NPROBES (sizeof(probes) / sizeof(probes[0]))

struct snapshot {
    size_t count;
    size_t calls[NPROBES];
    size_t total[NPROBES];
};

static void take(const struct topic_tree *t, struct snapshot *s)
{
    s->count = topic_tree_count(t);
    for (size_t i = 0; i < NPROBES; i++) {
        struct collect *c = do_match(t, probes[i]);
        s->calls[i] = c->calls;
        s->total[i] = c->total;
    }
}

static struct topic_tree *base_tree(void)
{
    struct topic_tree *t = topic_tree_new();
    assert_non_null(t);
    assert_int_equal(add(t, "x/1", 0), 1);
    assert_int_equal(add(t, "x/2", 0), 1);
    assert_int_equal(add(t, "x/3", 0), 1); /* the fourth exact filter grows the table */
    assert_int_equal(add(t, "a/b/+", 0), 1);
    assert_int_equal(add(t, "a/b/+", 1), 1); /* the third owner grows the array */
    assert_int_equal(add(t, "q/r", 0), 1);
    assert_int_equal(add(t, "q/r", 1), 1);
    return t;
}

/*
 * Fails each allocation of an add in turn (once, then every one after):
 * each failure must return MQ_ENOMEM with the tree unchanged and sound,
 * and the add must succeed once no allocation fails.
 */
static void test_alloc_failures(void **state)
{
    static const struct {
        const char *filter;
        size_t owner;
    } adds[] = {
        {"a/b/c/+/d/#", 0}, /* shares "a/b" with the trie, then four new nodes */
        {"x/4", 0},         /* a new exact entry that grows the table */
        {"new", 0},         /* a new exact entry */
        {"a/b/+", 2},       /* a third owner on a wildcard filter */
        {"q/r", 2},         /* a third owner on an exact filter */
        {"+/#", 3},         /* two new nodes under the root */
    };
    for (size_t a = 0; a < sizeof(adds) / sizeof(adds[0]); a++) {
        for (int persist = 0; persist < 2; persist++) {
            long k;
            for (k = 0;; k++) {
                struct topic_tree *t = base_tree();
                struct snapshot before, after;
                take(t, &before);
                fail_persist = persist;
                fail_countdown = k;
                int rc = add(t, adds[a].filter, adds[a].owner);
                fail_countdown = -1;
                if (rc == 1) {
                    assert_int_equal(topic_tree_count(t), before.count + 1);
                    check_tree(t);
                    topic_tree_free(t);
                    break;
                }
                assert_int_equal(rc, MQ_ENOMEM);
                take(t, &after);
                assert_memory_equal(&before, &after, sizeof(before));
                check_tree(t);
                topic_tree_free(t);
            }
            assert_true(k > 0); /* the add did allocate */
        }
    }
}

/* Removal never fails: when shrinking an array or table cannot allocate,
 * it keeps its size. */
static void test_remove_under_alloc_failure(void **state)
{
    char buf[32];
    struct topic_tree *t = topic_tree_new();
    assert_non_null(t);
    for (size_t i = 0; i < 200; i++) {
        snprintf(buf, sizeof(buf), "k/%zu", i);
        assert_int_equal(add(t, buf, 0), 1);
        assert_int_equal(add(t, "k/+", i), 1);
    }
    fail_persist = true;
    fail_countdown = 0;
    for (size_t i = 0; i < 200; i++) {
        snprintf(buf, sizeof(buf), "k/%zu", i);
        assert_int_equal(del(t, buf, 0), MQ_OK);
        assert_int_equal(del(t, "k/+", i), MQ_OK);
        if (i % 50 == 0)
            check_tree(t);
    }
    fail_countdown = -1;
    assert_int_equal(topic_tree_count(t), 0);
    check_tree(t);
    topic_tree_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_add_replace_remove_count),
        cmocka_unit_test(test_remove_not_found),
        cmocka_unit_test(test_match_routes),
        cmocka_unit_test(test_owner_two_filters),
        cmocka_unit_test(test_many_owners_one_filter),
        cmocka_unit_test(test_remove_middle),
        cmocka_unit_test(test_ten_thousand_filters),
        cmocka_unit_test(test_against_topic_matches),
        cmocka_unit_test(test_unterminated),
        cmocka_unit_test(test_deep_filter),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_remove_under_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
