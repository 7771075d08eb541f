/*
 * test_safetext.c - clients/common/safetext.c, the sanitizer every string
 * from the server goes through before a terminal client prints it: a table
 * of inputs (plain ASCII and UTF-8 kept; C0 controls with ESC, CR, tab and
 * newline, DEL, the C1 controls U+0080-U+009F as UTF-8 - U+009B is a
 * one-character CSI -, invalid, overlong, surrogate and cut sequences,
 * stray bytes 0x80-0x9F) and the safe text each must give, with and
 * without SAFETEXT_NEWLINES; a buffer too small (cut at a character
 * boundary, the full length returned); safetext_dup(); then 3,000 random
 * byte strings checked for the invariant (valid UTF-8, no C0/DEL/C1 left).
 * envelope_format(), which uses it, is checked end to end by
 * tests/clients/test_mqchat.py (its envelope_parse() has the name of the
 * broker's, so it cannot be linked here beside libmqchat.a).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../clients/common/safetext.h"
#include "../../clients/common/textwidth.h"

/* 1 when s[0..len) is valid UTF-8 holding no C0 (but '\n' when nl), DEL
 * or C1 control. */
static int is_safe(const char *s, size_t len, int nl)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = textwidth_decode(s + i, len - i, &cp);
        if (cp == TEXTWIDTH_BAD && !(n == 3 && !memcmp(s + i, "\xEF\xBF\xBD", 3)))
            return 0;
        if ((cp < 0x20 && !(nl && cp == '\n')) || (cp >= 0x7F && cp < 0xA0))
            return 0;
        i += n;
    }
    return 1;
}

static void test_table(void **state)
{
    static const struct {
        const char *in;
        int flags;
        const char *want;
    } cases[] = {
        {"", 0, ""},
        {"hello, world", 0, "hello, world"},
        {"caf\xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x98\x80", 0, "caf\xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x98\x80"},
        {"\xef\xbf\xbd", 0, "\xef\xbf\xbd"},           /* U+FFFD itself */
        {"a\x1b[2Jb", 0, "a [2Jb"},                    /* ESC */
        {"\x1b]0;title\x07", 0, " ]0;title "},         /* OSC, BEL */
        {"a\rb\tc\nd", 0, "a b c d"},                  /* CR, tab, newline */
        {"a\nb", SAFETEXT_NEWLINES, "a\nb"},           /* newline kept on request */
        {"a\rb", SAFETEXT_NEWLINES, "a b"},
        {"del\x7f", 0, "del "},
        {"x\xc2\x9b" "2Jy", 0, "x 2Jy"},               /* U+009B CSI */
        {"\xc2\x80\xc2\x85\xc2\x9f", 0, "   "},        /* C1 from both ends */
        {"\xc2\xa0nbsp", 0, "\xc2\xa0nbsp"},           /* U+00A0 is not a control */
        {"\x9b" "2J", 0, "\xef\xbf\xbd" "2J"},         /* a raw 8-bit CSI byte */
        {"\x80\xff", 0, "\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xc0\x9b", 0, "\xef\xbf\xbd\xef\xbf\xbd"},   /* overlong */
        {"\xed\xa0\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
        {"ab\xe6\xbc", 0, "ab\xef\xbf\xbd\xef\xbf\xbd"},             /* cut sequence */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[128];
        size_t len = strlen(cases[i].in);
        size_t n = safetext_copy(out, sizeof(out), cases[i].in, len, cases[i].flags);
        if (strcmp(out, cases[i].want) != 0 || n != strlen(cases[i].want))
            fail_msg("case %zu: got '%s' (%zu)", i, out, n);
        char *d = safetext_dup(cases[i].in, cases[i].flags);
        assert_non_null(d);
        assert_string_equal(d, cases[i].want);
        free(d);
    }
    char *d = safetext_dup(NULL, 0);
    assert_non_null(d);
    assert_string_equal(d, "");
    free(d);
}

static void test_small_buffer(void **state)
{
    char out[6];
    /* "ab" + U+00E9 (2 bytes) + U+6F22 (3 bytes): the 3-byte one does not fit in 5 */
    size_t n = safetext_copy(out, sizeof(out), "ab\xc3\xa9\xe6\xbc\xa2", 7, 0);
    assert_int_equal(n, 7);
    assert_string_equal(out, "ab\xc3\xa9");
    /* a replacement that does not fit is not cut either */
    n = safetext_copy(out, 5, "abc\x80", 4, 0);
    assert_int_equal(n, 6);
    assert_string_equal(out, "abc");
    /* size 0: nothing written, the length still counted */
    n = safetext_copy(NULL, 0, "a\x1b", 2, 0);
    assert_int_equal(n, 2);
    n = safetext_copy(out, 1, "abc", 3, 0);
    assert_int_equal(n, 3);
    assert_string_equal(out, "");
}

static void test_random(void **state)
{
    static const unsigned char pick[] = {0x00, 0x07, 0x09, 0x0a, 0x0d, 0x1b, 0x20, 'a', '[', 0x7f,
                                         0x80, 0x9b, 0x9f, 0xa0, 0xbf, 0xc2, 0xc3, 0xe2, 0xe6,
                                         0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
    srand(7);
    for (int round = 0; round < 3000; round++) {
        char in[40], out[256];
        size_t len = (size_t)(rand() % 40);
        for (size_t i = 0; i < len; i++)
            in[i] = (char)pick[rand() % (int)sizeof(pick)];
        int flags = round % 2 ? SAFETEXT_NEWLINES : 0;
        size_t n = safetext_copy(out, sizeof(out), in, len, flags);
        assert_true(n < sizeof(out)); /* at most 3 bytes out for each byte in */
        assert_int_equal(strlen(out), n);
        if (!is_safe(out, n, flags & SAFETEXT_NEWLINES))
            fail_msg("round %d: control or bad byte left", round);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_small_buffer),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
