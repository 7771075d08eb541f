/*
 * test_wordfilter.c - the word filter (broker/wordfilter.c): case folding
 * range by range, case-insensitive substring matching in ASCII, Latin,
 * Greek, Cyrillic and CJK text, masking one '*' per character with
 * overlapping and adjacent occurrences, the word rules and limits, text
 * that is not UTF-8, and random texts checked against a naive reference.
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
#include "wordfilter.h"

#define L(lit) (lit), (sizeof(lit) - 1)

/* A filter of the NUL-terminated words of the NULL-terminated list. */
static struct wordfilter *build(const char *const *words)
{
    size_t n = 0;
    struct wordfilter *f = NULL;
    while (words[n])
        n++;
    assert_int_equal(wordfilter_build(words, NULL, n, &f), MQ_OK);
    assert_non_null(f);
    return f;
}

/* ---- folding ------------------------------------------------------------------------------- */

static void test_fold(void **state)
{
    static const struct {
        uint32_t cp, folded;
    } cases[] = {
        {'A', 'a'},           {'Z', 'z'},       {'a', 'a'},       {'@', '@'},
        {'[', '['},           {'0', '0'},       {0x00B5, 0x03BC}, {0x00C0, 0x00E0},
        {0x00C4, 0x00E4},     {0x00D6, 0x00F6}, {0x00D7, 0x00D7}, {0x00D8, 0x00F8},
        {0x00DE, 0x00FE},     {0x00DF, 0x00DF}, {0x00E4, 0x00E4}, {0x00F7, 0x00F7},
        {0x00FF, 0x00FF},     {0x0100, 0x0101}, {0x0101, 0x0101}, {0x012E, 0x012F},
        {0x012F, 0x012F},     {0x0130, 0x0130}, {0x0131, 0x0131}, {0x0132, 0x0133},
        {0x0136, 0x0137},     {0x0137, 0x0137}, {0x0138, 0x0138}, {0x0139, 0x013A},
        {0x013A, 0x013A},     {0x0141, 0x0142}, {0x0147, 0x0148}, {0x0148, 0x0148},
        {0x0149, 0x0149},     {0x014A, 0x014B}, {0x0152, 0x0153}, {0x0176, 0x0177},
        {0x0177, 0x0177},     {0x0178, 0x00FF}, {0x0179, 0x017A}, {0x017A, 0x017A},
        {0x017D, 0x017E},     {0x017E, 0x017E}, {0x017F, 's'},    {0x0180, 0x0180},
        {0x0385, 0x0385},     {0x0386, 0x03AC}, {0x0387, 0x0387}, {0x0388, 0x03AD},
        {0x038A, 0x03AF},     {0x038B, 0x038B}, {0x038C, 0x03CC}, {0x038D, 0x038D},
        {0x038E, 0x03CD},     {0x038F, 0x03CE}, {0x0390, 0x0390}, {0x0391, 0x03B1},
        {0x03A1, 0x03C1},     {0x03A2, 0x03A2}, {0x03A3, 0x03C3}, {0x03A9, 0x03C9},
        {0x03AA, 0x03CA},     {0x03AB, 0x03CB}, {0x03AC, 0x03AC}, {0x03B1, 0x03B1}, {0x03C2, 0x03C3}, {0x03C3, 0x03C3},
        {0x03FF, 0x03FF},     {0x0400, 0x0450}, {0x0401, 0x0451}, {0x040F, 0x045F},
        {0x0410, 0x0430},     {0x041F, 0x043F}, {0x042F, 0x044F}, {0x0430, 0x0430},
        {0x0450, 0x0450},     {0x0460, 0x0460}, {0x4E00, 0x4E00}, {0x1F600, 0x1F600},
        {0x10FFFF, 0x10FFFF},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (wordfilter_fold(cases[i].cp) != cases[i].folded)
            fail_msg("fold U+%04X: got U+%04X, want U+%04X", (unsigned)cases[i].cp,
                     (unsigned)wordfilter_fold(cases[i].cp), (unsigned)cases[i].folded);
    /* Folding is idempotent over the whole range it touches. */
    for (uint32_t c = 0; c < 0x500; c++)
        if (wordfilter_fold(wordfilter_fold(c)) != wordfilter_fold(c))
            fail_msg("fold not idempotent at U+%04X", (unsigned)c);
}

/* ---- matching ------------------------------------------------------------------------------ */

static const struct {
    const char *word; /* one word */
    const char *text;
    bool match;
} match_cases[] = {
    {"bad", "this is bad", true},
    {"bad", "BAD news", true},
    {"BaD", "so bAd", true},
    {"bad", "badge", true}, /* substrings, not whole words */
    {"bad", "ba d", false},
    {"bad", "ba", false},
    {"bad", "", false},
    {"bad word", "a BAD WORD here", true},
    {"bad word", "a bad  word", false},
    {"a", "A", true},
    {"\xc3\x84RGER", "so ein \xc3\xa4rger", true},                  /* ÄRGER / ärger */
    {"\xc3\xa4rger", "\xc3\x84RGER!", true},                        /* and back */
    {"\xc3\x84rger", "Arger", false},                               /* Ä is not A */
    {"\xce\x91\xce\x92\xce\x93", "\xce\xb1\xce\xb2\xce\xb3", true}, /* ΑΒΓ / αβγ */
    /* ΣΟΦΟΣ / σοφος with a final sigma */
    {"\xce\xa3\xce\x9f\xce\xa6\xce\x9f\xce\xa3", "\xcf\x83\xce\xbf\xcf\x86\xce\xbf\xcf\x82", true},
    {"\xce\x86", "\xce\xac", true}, /* Ά / ά */
    /* ПРИВЕТ / привет */
    {"\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2",
     "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 !", true},
    {"\xd0\x81\xd0\x96", "\xd1\x91\xd0\xb6", true},                         /* ЁЖ / ёж */
    {"\xc5\x81\xc3\x93\x44\xc5\xb9", "\xc5\x82\xc3\xb3\x64\xc5\xba", true}, /* ŁÓDŹ / łódź */
    {"\xc5\xb8", "\xc3\xbf", true},                                         /* Ÿ / ÿ */
    {"\xc4\xb0", "i", false},                                               /* İ left alone */
    {"i", "\xc4\xb1", false},                                               /* ı left alone */
    /* 坏蛋 inside 你是坏蛋吗: no word boundaries */
    {"\xe5\x9d\x8f\xe8\x9b\x8b", "\xe4\xbd\xa0\xe6\x98\xaf\xe5\x9d\x8f\xe8\x9b\x8b\xe5\x90\x97",
     true},
    {"\xe5\x9d\x8f\xe8\x9b\x8b", "\xe5\x9d\x8f \xe8\x9b\x8b", false},
    {"\xf0\x9f\x92\xa9", "so \xf0\x9f\x92\xa9!", true}, /* a 4-byte character */
    {"bad", "b\377ad", false},                          /* a bad byte is a character */
    {"bad", "\377\303bad\342\202", true},               /* bad bytes around */
    {"bad", "\355\240\200bad", true},                   /* a surrogate: three bad bytes */
    {"\xc3\xa4", "\xc3", false},                        /* a sequence cut short */
};

static void test_match(void **state)
{
    for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const char *words[] = {match_cases[i].word, NULL};
        struct wordfilter *f = build(words);
        const char *t = match_cases[i].text;
        if (wordfilter_match(f, t, strlen(t)) != match_cases[i].match)
            fail_msg("match case %zu: expected %s", i, match_cases[i].match ? "a match" : "none");
        wordfilter_free(f);
    }
}

static void test_match_many(void **state)
{
    const char *words[] = {"apple",
                           "banana",
                           "cherry",
                           "date",
                           "elder",
                           "fig",
                           "grape",
                           "\xc3\xa9t\xc3\xa9",
                           "\xd0\xb4\xd0\xb0",
                           NULL};
    struct wordfilter *f = build(words);
    assert_int_equal(wordfilter_count(f), 9);
    assert_true(wordfilter_match(f, L("I like FIGS")));
    assert_true(wordfilter_match(f, L("\xc3\x89T\xc3\x89"))); /* ÉTÉ */
    assert_true(wordfilter_match(f, L("\xd0\x94\xd0\x90")));  /* ДА */
    assert_false(wordfilter_match(f, L("I like fi gs and ban ana")));
    assert_false(wordfilter_match(f, L("")));
    assert_false(wordfilter_match(f, NULL, 0));
    /* The length decides, not a NUL. */
    assert_false(wordfilter_match(f, "xfig", 3));
    assert_true(wordfilter_match(f, "xfig", 4));
    assert_true(wordfilter_match(f, L("x\0fig")));
    /* Words that fold alike are kept once. */
    const char *dup[] = {"Bad", "BAD", "bad", "b\303\244d", "B\303\204D", NULL};
    struct wordfilter *g = build(dup);
    assert_int_equal(wordfilter_count(g), 2);
    wordfilter_free(g);
    wordfilter_free(f);
}

/* ---- masking -------------------------------------------------------------------------------- */

static const struct {
    const char *words[4];
    const char *text;
    int count;
    const char *masked; /* NULL: no occurrence */
} mask_cases[] = {
    {{"bad"}, "Bad word", 1, "*** word"},
    {{"bad"}, "bad bad BAD", 3, "*** *** ***"},
    {{"bad"}, "badbad", 2, "******"}, /* adjacent */
    {{"aa"}, "aaa", 2, "***"},        /* overlapping occurrences of one word */
    {{"abc", "bcd"}, "xabcdx", 2, "x****x"},
    {{"abcd", "bc"}, "abcde", 2, "****e"}, /* one inside another */
    {{"bc", "abcd"}, "abcde", 2, "****e"},
    {{"b", "abc"}, "abc", 2, "***"},
    {{"\xc3\x84RGER"}, "so ein \xc3\xa4rger!", 1, "so ein *****!"}, /* 2-byte ä: one '*' */
    {{"\xe5\x9d\x8f\xe8\x9b\x8b"},
     "\xe4\xbd\xa0\xe6\x98\xaf\xe5\x9d\x8f\xe8\x9b\x8b\xe5\x90\x97",
     1,
     "\xe4\xbd\xa0\xe6\x98\xaf**\xe5\x90\x97"},
    {{"\xf0\x9f\x92\xa9"}, "a\360\237\222\251b", 1, "a*b"},
    {{"bad"}, "\377bad\376", 1, "\377***\376"}, /* bad bytes copied as they are */
    {{"bad"}, "good", 0, NULL},
    {{"bad"}, "", 0, NULL},
    {{"x", "y", "z"}, "xyz", 3, "***"},
};

static void test_mask(void **state)
{
    for (size_t i = 0; i < sizeof(mask_cases) / sizeof(mask_cases[0]); i++) {
        const char *words[5] = {0};
        memcpy(words, mask_cases[i].words, sizeof(mask_cases[i].words));
        struct wordfilter *f = build(words);
        const char *t = mask_cases[i].text;
        char *out = (char *)"untouched";
        size_t out_len = 77;
        int n = wordfilter_mask(f, t, strlen(t), &out, &out_len);
        if (n != mask_cases[i].count)
            fail_msg("mask case %zu: %d occurrences, want %d", i, n, mask_cases[i].count);
        if (!mask_cases[i].masked) {
            assert_null(out);
            assert_int_equal(out_len, 0);
            assert_false(wordfilter_match(f, t, strlen(t)));
        } else {
            assert_non_null(out);
            if (strcmp(out, mask_cases[i].masked) != 0)
                fail_msg("mask case %zu: got \"%s\", want \"%s\"", i, out, mask_cases[i].masked);
            assert_int_equal(out_len, strlen(mask_cases[i].masked));
            assert_true(out_len <= strlen(t));
            assert_true(wordfilter_match(f, t, strlen(t)));
            free(out);
        }
        wordfilter_free(f);
    }
}

/* No words, or no filter: nothing found, nothing allocated. */
static void test_empty(void **state)
{
    struct wordfilter *f = NULL;
    char *out = (char *)"x";
    size_t out_len = 5;
    assert_int_equal(wordfilter_build(NULL, NULL, 0, &f), MQ_OK);
    assert_non_null(f);
    assert_int_equal(wordfilter_count(f), 0);
    assert_false(wordfilter_match(f, L("anything at all")));
    assert_int_equal(wordfilter_mask(f, L("anything"), &out, &out_len), 0);
    assert_null(out);
    assert_int_equal(out_len, 0);
    wordfilter_free(f);
    assert_int_equal(wordfilter_count(NULL), 0);
    assert_false(wordfilter_match(NULL, L("x")));
    out = (char *)"x";
    assert_int_equal(wordfilter_mask(NULL, L("x"), &out, &out_len), 0);
    assert_null(out);
    wordfilter_free(NULL);
}

/* ---- the word rules -------------------------------------------------------------------------- */

static void test_bad_words(void **state)
{
    static const char w64[] = "0123456789012345678901234567890123456789012345678901234567890123";
    static const char w65[] = "01234567890123456789012345678901234567890123456789012345678901234";
    static const struct {
        const char *w;
        size_t len;
        bool valid;
    } cases[] = {
        {L("a"), true},
        {w64, 64, true},
        {L(" a "), true},
        {L("\xe5\x9d\x8f"), true},
        {L("\xf4\x8f\xbf\xbf"), true}, /* U+10FFFF */
        {L(""), false},
        {w65, 65, false},
        {L(" "), false},
        {L(" \t\r\n"), false},
        {L("\x7f"), false},
        {L("\x01\x02"), false},
        {L("a\0b"), false},
        {L("\xff"), false},
        {L("\xc0\x80"), false},         /* overlong NUL */
        {L("\xc1\xbf"), false},         /* overlong */
        {L("\xe0\x80\xaf"), false},     /* overlong */
        {L("\xed\xa0\x80"), false},     /* surrogate */
        {L("\xf4\x90\x80\x80"), false}, /* above U+10FFFF */
        {L("\xf5\x80\x80\x80"), false},
        {L("\xc3"), false}, /* cut short */
        {L("a\xe5\x9d"), false},
        {L("\x80"), false}, /* a lone continuation byte */
        {NULL, 0, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wordfilter *f = (struct wordfilter *)&cases; /* must stay untouched */
        const char *words[] = {"fine", cases[i].w};
        size_t lens[] = {4, cases[i].len};
        if (wordfilter_word_valid(cases[i].w, cases[i].len) != cases[i].valid)
            fail_msg("word case %zu: expected %s", i, cases[i].valid ? "valid" : "invalid");
        int rc = wordfilter_build(words, lens, 2, &f);
        assert_int_equal(rc, cases[i].valid ? MQ_OK : MQ_EINVAL);
        if (rc == MQ_OK) {
            assert_true(wordfilter_match(f, cases[i].w, cases[i].len));
            wordfilter_free(f);
        } else {
            assert_ptr_equal(f, (struct wordfilter *)&cases);
        }
    }
    /* n > 0 without words. */
    struct wordfilter *f = NULL;
    assert_int_equal(wordfilter_build(NULL, NULL, 1, &f), MQ_EINVAL);
    assert_null(f);
}

static void test_limits(void **state)
{
    static char buf[WORDFILTER_MAX_WORDS + 1][16];
    const char *words[WORDFILTER_MAX_WORDS + 1];
    for (size_t i = 0; i <= WORDFILTER_MAX_WORDS; i++) {
        snprintf(buf[i], sizeof(buf[i]), "w%zuq", i);
        words[i] = buf[i];
    }
    struct wordfilter *f = NULL;
    assert_int_equal(wordfilter_build(words, NULL, WORDFILTER_MAX_WORDS + 1, &f), MQ_EINVAL);
    assert_null(f);
    assert_int_equal(wordfilter_build(words, NULL, WORDFILTER_MAX_WORDS, &f), MQ_OK);
    assert_int_equal(wordfilter_count(f), WORDFILTER_MAX_WORDS);
    /* Every word is found (whatever bucket it fell into), the one left out not. */
    for (size_t i = 0; i < WORDFILTER_MAX_WORDS; i++) {
        char text[32];
        int n = snprintf(text, sizeof(text), "xx W%zuQ yy", i);
        if (!wordfilter_match(f, text, (size_t)n))
            fail_msg("word %zu not found", i);
    }
    assert_false(wordfilter_match(f, L("w1000q")));
    assert_false(wordfilter_match(f, L("w q w1 q")));
    char *out;
    size_t out_len;
    assert_int_equal(wordfilter_mask(f, L("w1q w999q w1000q"), &out, &out_len), 2);
    assert_string_equal(out, "*** ***** w1000q");
    free(out);
    wordfilter_free(f);
}

/* ---- random texts against a naive reference ----------------------------------------------- */

/* The alphabet: letters that fold together, a CJK character, a bad byte. */
static const char *const alpha[] = {"a",    "A", "b", "\xc3\xa4", "\xc3\x84", "\xe5\x9d\x8f",
                                    "\xff", " "};
#define NALPHA (sizeof(alpha) / sizeof(alpha[0]))
/* What each letter folds to (index of its class); the bad byte matches nothing. */
static const int alpha_class[NALPHA] = {0, 0, 1, 2, 2, 3, -1, 4};

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 16;
}

static void test_random_reference(void **state)
{
    for (int round = 0; round < 300; round++) {
        /* 1-4 words of 1-3 letters (no bad byte in words, no word of spaces). */
        size_t nw = 1 + rnd() % 4;
        char wbuf[4][16];
        const char *words[4];
        int wcls[4][3];
        size_t wn[4];
        for (size_t w = 0; w < nw; w++) {
            size_t len = 0;
            wn[w] = 1 + rnd() % 3;
            for (size_t k = 0; k < wn[w]; k++) {
                size_t a = rnd() % 6; /* letters only */
                wcls[w][k] = alpha_class[a];
                len += (size_t)sprintf(wbuf[w] + len, "%s", alpha[a]);
            }
            words[w] = wbuf[w];
        }
        struct wordfilter *f = NULL;
        assert_int_equal(wordfilter_build(words, NULL, nw, &f), MQ_OK);

        /* A text of 0-30 characters; the expected mask and count. */
        size_t nt = rnd() % 31;
        int tcls[31];
        size_t tidx[31];
        char text[31 * 3 + 1];
        size_t tlen = 0;
        for (size_t k = 0; k < nt; k++) {
            tidx[k] = rnd() % NALPHA;
            tcls[k] = alpha_class[tidx[k]];
            tlen += (size_t)sprintf(text + tlen, "%s", alpha[tidx[k]]);
        }
        bool masked[31] = {false};
        int count = 0;
        for (size_t k = 0; k < nt; k++)
            for (size_t w = 0; w < nw; w++) {
                size_t j = 0;
                while (j < wn[w] && k + j < nt && tcls[k + j] == wcls[w][j])
                    j++;
                if (j == wn[w]) {
                    count++;
                    for (j = 0; j < wn[w]; j++)
                        masked[k + j] = true;
                }
            }
        /* Words that fold alike count once: recount with distinct words. */
        for (size_t w = 1; w < nw; w++)
            for (size_t v = 0; v < w; v++) {
                if (wn[w] != wn[v] || memcmp(wcls[w], wcls[v], wn[w] * sizeof(int)) != 0)
                    continue;
                /* w repeats v: take w's occurrences off again */
                for (size_t k = 0; k + wn[w] <= nt; k++) {
                    size_t j = 0;
                    while (j < wn[w] && tcls[k + j] == wcls[w][j])
                        j++;
                    count -= j == wn[w];
                }
                break;
            }
        char want[sizeof(text)];
        size_t wlen = 0;
        for (size_t k = 0; k < nt; k++)
            wlen += (size_t)sprintf(want + wlen, "%s", masked[k] ? "*" : alpha[tidx[k]]);

        char *out = NULL;
        size_t out_len = 0;
        int n = wordfilter_mask(f, text, tlen, &out, &out_len);
        if (n != count)
            fail_msg("round %d: %d occurrences, want %d", round, n, count);
        assert_int_equal(wordfilter_match(f, text, tlen), count > 0);
        if (count > 0) {
            assert_int_equal(out_len, wlen);
            assert_memory_equal(out, want, wlen);
        } else {
            assert_null(out);
        }
        free(out);
        wordfilter_free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold),       cmocka_unit_test(test_match),
        cmocka_unit_test(test_match_many), cmocka_unit_test(test_mask),
        cmocka_unit_test(test_empty),      cmocka_unit_test(test_bad_words),
        cmocka_unit_test(test_limits),     cmocka_unit_test(test_random_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
