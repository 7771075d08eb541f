/*
 * test_topic.c - unit tests for topic.c: name and filter validation,
 * matching (MQTT 3.1.1 section 4.7 examples and the '$' rule) and filter
 * coverage.
 *
 * Each test walks a table of cases; a failing case prints its row. The last
 * test checks topic_filter_covers against topic_matches over every pair of a
 * small universe of filters and topics, so the two cannot drift apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "errors.h"
#include "topic.h"
#include "unit_helpers.h"

static const struct {
    const char *filter;
    const char *topic;
    bool match;
} match_cases[] = {
    /* MQTT 3.1.1 section 4.7.1.2: the multi-level wildcard. */
    {"sport/tennis/player1/#", "sport/tennis/player1", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/tennis/player1/#", "sport/tennis/player2", false},
    {"sport/tennis/player1/#", "sport/tennis", false},
    {"sport/#", "sport", true},
    {"sport/#", "sport/", true},
    {"sport/#", "sports", false},
    {"#", "sport", true},
    {"#", "sport/tennis/player1", true},
    {"#", "/", true},
    {"#", "/finance", true},
    /* Section 4.7.1.3: the single-level wildcard. */
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player2", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/tennis/+", "sport/tennis", false},
    {"sport/tennis/+", "sport/tennis/", true},
    {"sport/+", "sport", false},
    {"sport/+", "sport/", true},
    {"+", "sport", true},
    {"+", "sport/", false},
    {"+/+", "/finance", true},
    {"/+", "/finance", true},
    {"+", "/finance", false},
    {"+/tennis/#", "sport/tennis/player1", true},
    {"+/tennis/#", "sport/tennis", true},
    {"+/tennis/#", "sport/golf", false},
    /* Section 4.7.2: topics beginning with '$'. */
    {"#", "$SYS/x", false},
    {"#", "$SYS", false},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"+/#", "$SYS/monitor", false},
    {"+", "$SYS", false},
    {"$SYS/#", "$SYS/monitor/Clients", true},
    {"$SYS/#", "$SYS", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"$SYS/monitor/+", "$SYS/monitor/", true},
    {"$SYS", "$SYS", true},
    {"+/$x", "a/$x", true},
    {"a/#", "a/$x", true},
    {"#", "a$", true},
    /* Literal levels and empty levels. */
    {"a/b", "a/b", true},
    {"a/b", "a/bc", false},
    {"a/bc", "a/b", false},
    {"a/b", "a", false},
    {"a", "a/b", false},
    {"a/b", "A/b", false},
    {"/", "/", true},
    {"/", "", false},
    {"a//b", "a//b", true},
    {"a/+/b", "a//b", true},
    {"+/+", "/", true},
    {"+", "/", false},
    {"/#", "/", true},
    {"+/+", "a/b/c", false},
    {"a/+/#", "a", false},
    {"a/+/#", "a/b", true},
    {"a/+/#", "a/b/c/d", true},
    {"+/+/+", "a/b/c", true},
};

static void test_match_table(void **state)
{
    for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const char *f = match_cases[i].filter, *t = match_cases[i].topic;
        bool got = topic_matches(f, strlen(f), t, strlen(t));
        if (got != match_cases[i].match)
            fail_msg("case %zu: \"%s\" vs \"%s\": got %d", i, f, t, got);
    }
}

/* Lengths are explicit: bytes past them must not be read as topic. */
static void test_match_unterminated(void **state)
{
    const char buf[] = "sport/tennisXXXX";
    assert_true(topic_matches("sport/tennis", 12, buf, 12));
    assert_false(topic_matches("sport/tennis", 12, buf, 11));
    assert_true(topic_matches("sport/+", 7, buf, 12));
    assert_true(topic_matches("sport/#XXXX", 7, buf, 5));
    assert_false(topic_matches("+", 1, buf, 12));
}

static const struct {
    const char *s;
    int name;   /* topic_validate_name */
    int filter; /* topic_validate_filter */
} valid_cases[] = {
    {"a", MQ_OK, MQ_OK},
    {"a/b", MQ_OK, MQ_OK},
    {"/", MQ_OK, MQ_OK},
    {"//", MQ_OK, MQ_OK},
    {"a b/c d", MQ_OK, MQ_OK},
    {"$SYS/broker", MQ_OK, MQ_OK},
    {"", MQ_EPROTOCOL, MQ_EPROTOCOL},
    {"+", MQ_EPROTOCOL, MQ_OK},
    {"#", MQ_EPROTOCOL, MQ_OK},
    {"a/+/c", MQ_EPROTOCOL, MQ_OK},
    {"a/#", MQ_EPROTOCOL, MQ_OK},
    {"+/+", MQ_EPROTOCOL, MQ_OK},
    {"/#", MQ_EPROTOCOL, MQ_OK},
    {"+/", MQ_EPROTOCOL, MQ_OK},
    {"/+", MQ_EPROTOCOL, MQ_OK},
    {"+/#", MQ_EPROTOCOL, MQ_OK},
    {"$SYS/#", MQ_EPROTOCOL, MQ_OK},
    {"a+", MQ_EPROTOCOL, MQ_EPROTOCOL},
    {"+a", MQ_EPROTOCOL, MQ_EPROTOCOL},
    {"a/+b", MQ_EPROTOCOL, MQ_EPROTOCOL},
    {"++", MQ_EPROTOCOL, MQ_EPROTOCOL},
    {"a/#/b", MQ_EPROTOCOL, MQ_EPROTOCOL},
    {"#a", MQ_EPROTOCOL, MQ_EPROTOCOL},
    {"a/b#", MQ_EPROTOCOL, MQ_EPROTOCOL},
    {"a/#b", MQ_EPROTOCOL, MQ_EPROTOCOL},
    {"##", MQ_EPROTOCOL, MQ_EPROTOCOL},
    {"#/", MQ_EPROTOCOL, MQ_EPROTOCOL},
    {"a/#/", MQ_EPROTOCOL, MQ_EPROTOCOL},
    {"+#", MQ_EPROTOCOL, MQ_EPROTOCOL},
};

static void test_validate_table(void **state)
{
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const char *s = valid_cases[i].s;
        int name = topic_validate_name(s, strlen(s));
        int filter = topic_validate_filter(s, strlen(s));
        if (name != valid_cases[i].name || filter != valid_cases[i].filter)
            fail_msg("case %zu: \"%s\": name %d, filter %d", i, s, name, filter);
    }
}

static void test_validate_unterminated(void **state)
{
    assert_int_equal(topic_validate_name("a/b+", 3), MQ_OK);
    assert_int_equal(topic_validate_filter("a/#/b", 3), MQ_OK);
    assert_int_equal(topic_validate_filter("a/+x", 3), MQ_OK);
    assert_int_equal(topic_validate_filter("a/+x", 4), MQ_EPROTOCOL);
}

static const struct {
    const char *super;
    const char *sub;
    bool covers;
} cover_cases[] = {
    {"a/#", "a/+", true},      {"+/+", "a/+", true},
    {"a/+", "a/#", false},     {"#", "a", true},
    {"#", "a/b/c", true},      {"#", "+", true},
    {"#", "#", true},          {"#", "+/#", true},
    {"#", "/", true},          {"#", "$SYS/x", false},
    {"#", "$SYS/#", false},    {"+/#", "#", true},
    {"+/#", "$SYS", false},    {"$SYS/#", "$SYS/x", true},
    {"$SYS/#", "$SYS", true},  {"$SYS/#", "$SYS/+/y", true},
    {"$SYS/#", "#", false},    {"$SYS/+", "$SYS/x", true},
    {"+", "a", true},          {"+", "+", true},
    {"+", "#", false},         {"+", "a/b", false},
    {"+", "$x", false},        {"+/x", "$SYS/x", false},
    {"+/x", "+/x", true},      {"a/b", "a/b", true},
    {"a/b", "a/+", false},     {"a/b", "a/c", false},
    {"a/b", "a", false},       {"a/b", "a/b/c", false},
    {"a/#", "a", true},        {"a/#", "a/b/c", true},
    {"a/#", "a/#", true},      {"a/#", "b", false},
    {"a/#", "#", false},       {"a/#", "+/b", false},
    {"a/+/c", "a/b/c", true},  {"a/+/c", "a/+/c", true},
    {"a/+/c", "a/+/+", false}, {"a/+/c", "a/b", false},
    {"+/+", "/", true},        {"+/+", "a", false},
    {"+/+", "a/b/c", false},   {"+/+", "$SYS/x", false},
    {"a/+/#", "a/b", true},    {"a/+/#", "a/+/+/+", true},
    {"a/+/#", "a", false},     {"a/+/#", "a/#", false},
};

static void test_covers_table(void **state)
{
    for (size_t i = 0; i < sizeof(cover_cases) / sizeof(cover_cases[0]); i++) {
        const char *p = cover_cases[i].super, *b = cover_cases[i].sub;
        bool got = topic_filter_covers(p, strlen(p), b, strlen(b));
        if (got != cover_cases[i].covers)
            fail_msg("case %zu: \"%s\" covers \"%s\": got %d", i, p, b, got);
    }
}

/*
 * Soundness of topic_filter_covers against topic_matches: whenever super is
 * said to cover sub, every topic of the universe matched by sub is matched
 * by super.
 */
static void test_covers_agrees_with_matches(void **state)
{
    static const char *const filters[] = {
        "#",    "+",      "+/+",    "+/#", "a",      "a/#",   "a/+",   "a/b",
        "/",    "/#",     "/+",     "+/b", "a/+/c",  "a/b/c", "a/+/#", "+/+/+",
        "$SYS", "$SYS/#", "$SYS/+", "+/x", "$SYS/x", "a//b",  "a/+/b", "b/#",
    };
    static const char *const topics[] = {
        "a",      "b",        "a/b", "a/c",    "a/b/c", "a/x/c", "a/b/c/d", "/",
        "/a",     "a/",       "//",  "a//b",   "b/x",   "x",     "a/x",     "$SYS",
        "$SYS/x", "$SYS/a/b", "$x",  "a/$SYS", "$SYS/", "/b",    "c/b",     "a/b/b",
    };
    size_t nf = sizeof(filters) / sizeof(filters[0]);
    size_t nt = sizeof(topics) / sizeof(topics[0]);
    for (size_t p = 0; p < nf; p++) {
        for (size_t b = 0; b < nf; b++) {
            bool covers =
                topic_filter_covers(filters[p], strlen(filters[p]), filters[b], strlen(filters[b]));
            for (size_t i = 0; i < nt; i++) {
                bool in_sub =
                    topic_matches(filters[b], strlen(filters[b]), topics[i], strlen(topics[i]));
                bool in_super =
                    topic_matches(filters[p], strlen(filters[p]), topics[i], strlen(topics[i]));
                if (covers && in_sub && !in_super)
                    fail_msg("\"%s\" said to cover \"%s\" but \"%s\" escapes", filters[p],
                             filters[b], topics[i]);
            }
        }
    }
}

/* Appends to out every string of 1..depth levels drawn from alphabet;
 * returns how many it wrote. */
/*
 * Exhaustive agreement: for every pair of valid filters of up to three
 * levels over {a, $S, "", +, #}, topic_filter_covers must say true exactly
 * when each topic of up to four levels over {a, $S, "", c} matched by sub is
 * matched by super. ("c" appears in no filter; four levels reach past the
 * deepest filter, so these topics are witnesses enough.)
 */
static void test_covers_exhaustive(void **state)
{
    static const char *const flevels[] = {"a", "$S", "", "+", "#"};
    static const char *const tlevels[] = {"a", "$S", "", "c"};
    static char filters[5 + 25 + 125][32], topics[4 + 16 + 64 + 256][32];
    size_t nf = unit_gen_levels(flevels, 5, 3, &filters[0][0], sizeof(filters[0]), 155);
    size_t nt = unit_gen_levels(tlevels, 4, 4, &topics[0][0], sizeof(topics[0]), 340);
    size_t nvalid = 0, ncover = 0;
    for (size_t p = 0; p < nf; p++) {
        if (topic_validate_filter(filters[p], strlen(filters[p])) != MQ_OK)
            continue;
        nvalid++;
        for (size_t b = 0; b < nf; b++) {
            if (topic_validate_filter(filters[b], strlen(filters[b])) != MQ_OK)
                continue;
            bool want = true;
            for (size_t i = 0; i < nt && want; i++) {
                size_t tl = strlen(topics[i]);
                if (topic_matches(filters[b], strlen(filters[b]), topics[i], tl) &&
                    !topic_matches(filters[p], strlen(filters[p]), topics[i], tl))
                    want = false;
            }
            bool got =
                topic_filter_covers(filters[p], strlen(filters[p]), filters[b], strlen(filters[b]));
            if (got != want)
                fail_msg("\"%s\" covers \"%s\": got %d, want %d", filters[p], filters[b], got,
                         want);
            ncover += got;
        }
    }
    assert_true(nvalid > 50);
    assert_true(ncover > nvalid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),       cmocka_unit_test(test_match_unterminated),
        cmocka_unit_test(test_validate_table),    cmocka_unit_test(test_validate_unterminated),
        cmocka_unit_test(test_covers_table),      cmocka_unit_test(test_covers_agrees_with_matches),
        cmocka_unit_test(test_covers_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
