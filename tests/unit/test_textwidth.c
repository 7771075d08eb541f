/*
 * test_textwidth.c - clients/common/textwidth.c: UTF-8 decoding (valid
 * sequences of every length, overlong forms, surrogates, values above
 * U+10FFFF, cut sequences, stray continuation bytes), the width of code
 * points from each class (ASCII, controls, combining marks, format
 * characters, Hangul jamo, CJK, fullwidth and halfwidth forms, emoji, the
 * CJK planes, unassigned), string widths and the longest prefix that fits,
 * and wrapping: spaces, long words, CJK and emoji (break opportunities
 * next to wide characters), combining marks kept with their base, '\n',
 * a character wider than the line, bad bytes; then 3,000 random strings
 * checked for the invariants (no line too wide, every line on character
 * boundaries, no text lost).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../clients/common/textwidth.h"

/* ---- decoding ------------------------------------------------------------------------------ */

static void test_decode(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        size_t want_n;
        uint32_t want_cp;
    } cases[] = {
        {"A", 1, 1, 'A'},
        {"\x7f", 1, 1, 0x7F},
        {"\xc3\xa9", 2, 2, 0xE9},
        {"\xdf\xbf", 2, 2, 0x7FF},
        {"\xe0\xa0\x80", 3, 3, 0x800},
        {"\xe6\xbc\xa2", 3, 3, 0x6F22},
        {"\xef\xbf\xbd", 3, 3, 0xFFFD},
        {"\xf0\x9f\x98\x80", 4, 4, 0x1F600},
        {"\xf4\x8f\xbf\xbf", 4, 4, 0x10FFFF},
        /* invalid: one byte, U+FFFD */
        {"\x80", 1, 1, TEXTWIDTH_BAD},         /* stray continuation */
        {"\xc0\x80", 2, 1, TEXTWIDTH_BAD},     /* overlong NUL */
        {"\xc1\xbf", 2, 1, TEXTWIDTH_BAD},     /* overlong */
        {"\xe0\x80\x80", 3, 1, TEXTWIDTH_BAD}, /* overlong 3-byte */
        {"\xf0\x80\x80\x80", 4, 1, TEXTWIDTH_BAD},
        {"\xed\xa0\x80", 3, 1, TEXTWIDTH_BAD},     /* surrogate D800 */
        {"\xed\xbf\xbf", 3, 1, TEXTWIDTH_BAD},     /* surrogate DFFF */
        {"\xf4\x90\x80\x80", 4, 1, TEXTWIDTH_BAD}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 1, TEXTWIDTH_BAD},
        {"\xff", 1, 1, TEXTWIDTH_BAD},
        {"\xe6\xbc", 2, 1, TEXTWIDTH_BAD},     /* cut by the length */
        {"\xe6\xbc\xa2", 2, 1, TEXTWIDTH_BAD}, /* cut by len, bytes beyond not read */
        {"\xf0\x9f\x98", 3, 1, TEXTWIDTH_BAD},
        {"\xc3"
         "A",
         2, 1, TEXTWIDTH_BAD}, /* not a continuation */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t cp = 0xDEAD;
        size_t n = textwidth_decode(cases[i].s, cases[i].len, &cp);
        if (n != cases[i].want_n || cp != cases[i].want_cp)
            fail_msg("case %zu: got n=%zu cp=U+%04X, want n=%zu cp=U+%04X", i, n, cp,
                     cases[i].want_n, cases[i].want_cp);
    }
    uint32_t cp = 42;
    assert_int_equal(textwidth_decode("", 0, &cp), 0);
    assert_int_equal(cp, 42);
}

/* ---- widths -------------------------------------------------------------------------------- */

static void test_cp_width(void **state)
{
    static const struct {
        uint32_t cp;
        int w;
    } cases[] = {
        {'a', 1},     {' ', 1},     {'~', 1},     {0x00, 0},    {0x09, 0},    {0x0A, 0},
        {0x1B, 0},    {0x7F, 0},    {0x85, 0},    {0x9F, 0},    {0xA0, 1},    {0xAD, 1},
        {0xE9, 1},    {0x0300, 0},  {0x0301, 0},  {0x036F, 0},  {0x0370, 1},  {0x0483, 0},
        {0x0591, 0},  {0x05D0, 1},  {0x0600, 0},  {0x064B, 0},  {0x0E31, 0},  {0x0E01, 1},
        {0x1100, 2},  {0x115F, 2},  {0x1160, 0},  {0x11FF, 0},  {0x1AB0, 0},  {0x200B, 0},
        {0x200C, 0},  {0x200D, 0},  {0x2010, 1},  {0x202E, 0},  {0x2060, 0},  {0x20DD, 0},
        {0x2329, 2},  {0x231A, 2},  {0x2600, 1},  {0x2614, 2},  {0x2E80, 2},  {0x3000, 2},
        {0x3042, 2},  {0x30A2, 2},  {0x303F, 1},  {0x3099, 0},  {0x4E00, 2},  {0x9FFF, 2},
        {0xA4D0, 1},  {0xAC00, 2},  {0xD7A3, 2},  {0xF900, 2},  {0xFE0F, 0},  {0xFE10, 2},
        {0xFEFF, 0},  {0xFF01, 2},  {0xFF21, 2},  {0xFF61, 1},  {0xFFE0, 2},  {0xFFFD, 1},
        {0x1F300, 2}, {0x1F30D, 2}, {0x1F321, 1}, {0x1F600, 2}, {0x1F64F, 2}, {0x1F680, 2},
        {0x1F1E6, 1}, {0x1F3FB, 2}, {0x1F9FF, 2}, {0x20000, 2}, {0x2A6DF, 2}, {0x2FFFD, 2},
        {0x30000, 2}, {0x3FFFD, 2}, {0xE0001, 0}, {0xE0100, 0}, {0xE01EF, 0}, {0x10FFFF, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (textwidth_cp(cases[i].cp) != cases[i].w)
            fail_msg("U+%04X: width %d, want %d", cases[i].cp, textwidth_cp(cases[i].cp),
                     cases[i].w);
}

#define L(lit) (lit), (sizeof(lit) - 1)

static void test_str_and_fit(void **state)
{
    assert_int_equal(textwidth_str(L("")), 0);
    assert_int_equal(textwidth_str(L("hello")), 5);
    assert_int_equal(textwidth_str(L("he\xcc\x81llo")), 5);            /* e + U+0301 */
    assert_int_equal(textwidth_str(L("\xe6\xbc\xa2\xe5\xad\x97")), 4); /* 漢字 */
    assert_int_equal(textwidth_str(L("\xf0\x9f\x98\x80 ok")), 5);      /* 😀 ok */
    assert_int_equal(textwidth_str(L("\xff\xfe"
                                     "a")),
                     3);                                 /* bad bytes: 1 each */
    assert_int_equal(textwidth_str(L("a\x1b[31mb")), 6); /* ESC 0, "[31m" 4 */

    size_t cols = 99;
    /* 漢字x in 3 columns: 漢 only */
    assert_int_equal(textwidth_fit(L("\xe6\xbc\xa2\xe5\xad\x97x"), 3, &cols), 3);
    assert_int_equal(cols, 2);
    assert_int_equal(textwidth_fit(L("\xe6\xbc\xa2\xe5\xad\x97x"), 4, &cols), 6);
    assert_int_equal(cols, 4);
    assert_int_equal(textwidth_fit(L("\xe6\xbc\xa2"), 1, &cols), 0);
    assert_int_equal(cols, 0);
    /* e + acute in 1 column: the mark stays with its base */
    assert_int_equal(textwidth_fit(L("e\xcc\x81"
                                     "f"),
                                   1, &cols),
                     3);
    assert_int_equal(cols, 1);
    assert_int_equal(textwidth_fit(L("abc"), 10, NULL), 3);
}

/* ---- wrapping ------------------------------------------------------------------------------ */

/* Wraps s and compares the lines with want (NULL-terminated). */
static void check_wrap(size_t tn, const char *s, size_t width, const char *const *want)
{
    struct textwidth_line lines[64];
    size_t len = strlen(s);
    size_t n = textwidth_wrap(s, len, width, lines, 64);
    size_t nw = 0;
    while (want[nw])
        nw++;
    if (n != nw)
        fail_msg("case %zu: %zu lines, want %zu", tn, n, nw);
    for (size_t i = 0; i < n; i++) {
        if (lines[i].len != strlen(want[i]) || memcmp(s + lines[i].off, want[i], lines[i].len))
            fail_msg("case %zu line %zu: '%.*s', want '%s'", tn, i, (int)lines[i].len,
                     s + lines[i].off, want[i]);
        if (lines[i].cols != textwidth_str(want[i], strlen(want[i])))
            fail_msg("case %zu line %zu: cols %zu", tn, i, lines[i].cols);
    }
}

#define KANJI "\xe6\xbc\xa2" /* 漢 U+6F22 */
#define JI    "\xe5\xad\x97" /* 字 U+5B57 */
#define SMILE "\xf0\x9f\x98\x80"
#define ACUTE "\xcc\x81"

static void test_wrap_table(void **state)
{
    static const struct {
        const char *s;
        size_t width;
        const char *want[8];
    } cases[] = {
        {"", 10, {NULL}},
        {"hello world", 11, {"hello world", NULL}},
        {"hello world", 10, {"hello", "world", NULL}},
        {"hello world", 5, {"hello", "world", NULL}},
        {"hello  world", 6, {"hello", "world", NULL}},
        {"hello world  ", 20, {"hello world", NULL}},
        {"a b c d e f", 3, {"a b", "c d", "e f", NULL}},
        {"abcdefghij", 4, {"abcd", "efgh", "ij", NULL}},
        {"ab abcdefghij", 4, {"ab", "abcd", "efgh", "ij", NULL}},
        {"x", 0, {"x", NULL}},
        {KANJI JI KANJI JI KANJI, 4, {KANJI JI, KANJI JI, KANJI, NULL}},
        {KANJI JI KANJI JI KANJI, 5, {KANJI JI, KANJI JI, KANJI, NULL}},
        {KANJI JI KANJI JI KANJI, 6, {KANJI JI KANJI, JI KANJI, NULL}},
        {"ab" KANJI JI, 3, {"ab", KANJI, JI, NULL}},
        {"abc " KANJI JI KANJI, 8, {"abc " KANJI JI, KANJI, NULL}},
        {KANJI "abcdef", 5, {KANJI, "abcde", "f", NULL}},
        {"09:05 bob: " KANJI JI KANJI, 14, {"09:05 bob: " KANJI, JI KANJI, NULL}},
        {"x " SMILE SMILE, 4, {"x " SMILE, SMILE, NULL}},
        {SMILE SMILE SMILE, 5, {SMILE SMILE, SMILE, NULL}},
        {"e" ACUTE "e" ACUTE "e" ACUTE, 2, {"e" ACUTE "e" ACUTE, "e" ACUTE, NULL}},
        {ACUTE "ab", 1, {ACUTE "a", "b", NULL}},
        {KANJI "a", 1, {KANJI, "a", NULL}}, /* wider than the line: alone */
        {KANJI ACUTE "a", 1, {KANJI ACUTE, "a", NULL}},
        {"a\nb", 10, {"a", "b", NULL}},
        {"a\n\nb", 10, {"a", "", "b", NULL}},
        {"a\n", 10, {"a", NULL}},
        {"\nb", 10, {"", "b", NULL}},
        {"ab cd\n ef", 10, {"ab cd", " ef", NULL}},
        {"abc\ndefgh", 3, {"abc", "def", "gh", NULL}},
        {"\xff\xff\xff", 2, {"\xff\xff", "\xff", NULL}},
        {"ab\xe6\xbc", 3, {"ab\xe6", "\xbc", NULL}}, /* a cut sequence: bytes of width 1 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_wrap(i, cases[i].s, cases[i].width, cases[i].want);
}

static void test_wrap_count_beyond_max(void **state)
{
    struct textwidth_line one[1];
    const char *s = "one two three four";
    assert_int_equal(textwidth_wrap(s, strlen(s), 5, NULL, 0), 4);
    assert_int_equal(textwidth_wrap(s, strlen(s), 5, one, 1), 4);
    assert_int_equal(one[0].off, 0);
    assert_int_equal(one[0].len, 3);
    assert_int_equal(one[0].cols, 3);
}

/* ---- random strings ------------------------------------------------------------------------- */

/* True when s[0..off) ends on a character boundary of s (decoding from 0). */
static int on_boundary(const char *s, size_t len, size_t off)
{
    size_t i = 0;
    while (i < off) {
        uint32_t cp;
        i += textwidth_decode(s + i, len - i, &cp);
    }
    return i == off;
}

static void test_wrap_random(void **state)
{
    static const char *const pieces[] = {
        "a",
        "b",
        "Z",
        " ",
        " ",
        "  ",
        "\n",
        "\xc3\xa9",
        ACUTE,
        KANJI,
        JI,
        "\xea\xb0\x80",
        SMILE,
        "\xf0\x9f\x9a\x80",
        "\xe2\x80\x8d",
        "\xef\xbd\xa1",
        "\xff",
        "\xe6\xbc",
        "-",
        ".",
    };
    const size_t np = sizeof(pieces) / sizeof(pieces[0]);
    srand(12345);
    char s[512], kept[512], all[512];
    struct textwidth_line lines[512];
    for (int round = 0; round < 3000; round++) {
        size_t len = 0, k = (size_t)(rand() % 60);
        for (size_t j = 0; j < k; j++) {
            const char *p = pieces[rand() % (int)np];
            size_t pl = strlen(p);
            memcpy(s + len, p, pl);
            len += pl;
        }
        s[len] = '\0';
        size_t width = (size_t)(1 + rand() % 12);
        size_t n = textwidth_wrap(s, len, width, lines, 512);
        assert_true(n <= 512);
        size_t nk = 0, na = 0, prev_end = 0;
        for (size_t i = 0; i < n; i++) {
            const struct textwidth_line *l = &lines[i];
            assert_true(l->off >= prev_end);
            assert_true(l->off + l->len <= len);
            prev_end = l->off + l->len;
            if (!on_boundary(s, len, l->off) || !on_boundary(s, len, l->off + l->len))
                fail_msg("round %d: line %zu splits a character", round, i);
            assert_int_equal(l->cols, textwidth_str(s + l->off, l->len));
            if (l->cols > width) { /* only one character wider than the line */
                uint32_t cp;
                size_t m = textwidth_decode(s + l->off, l->len, &cp);
                assert_true(textwidth_cp(cp) > (int)width);
                assert_int_equal(textwidth_str(s + l->off + m, l->len - m), 0);
            }
            for (size_t b = 0; b < l->len; b++)
                if (s[l->off + b] != ' ')
                    kept[nk++] = s[l->off + b];
        }
        for (size_t b = 0; b < len; b++)
            if (s[b] != ' ' && s[b] != '\n')
                all[na++] = s[b];
        if (nk != na || memcmp(kept, all, na) != 0)
            fail_msg("round %d: text lost or added (width %zu, '%s')", round, width, s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_cp_width),
        cmocka_unit_test(test_str_and_fit),
        cmocka_unit_test(test_wrap_table),
        cmocka_unit_test(test_wrap_count_beyond_max),
        cmocka_unit_test(test_wrap_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
