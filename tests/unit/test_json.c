/*
 * test_json.c - the JSON writer (broker/json.c): raw appends, string
 * escaping, numbers and ids, growth past the first allocation, reset and
 * take, and the sticky out-of-memory flag.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

static void test_empty(void **state)
{
    struct jbuf b;
    size_t len = 99;

    jbuf_init(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_false(b.oom);
    assert_null(jbuf_take(&b, &len));
    assert_int_equal(len, 0);
    jbuf_free(&b);
    jbuf_free(&b); /* twice is harmless */
}

static void test_raw_appends(void **state)
{
    struct jbuf b;

    jbuf_init(&b);
    jbuf_putc(&b, '{');
    jbuf_puts(&b, "\"a\":");
    jbuf_put(&b, "1,xyz", 2);
    jbuf_put(&b, NULL, 0);
    jbuf_printf(&b, "\"%s\":%d", "b", -2);
    jbuf_putc(&b, '}');
    assert_false(b.oom);
    assert_string_equal(b.p, "{\"a\":1,\"b\":-2}");
    assert_int_equal(b.len, strlen(b.p));
    jbuf_free(&b);
}

static void test_str_escapes(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"", 0, "\"\""},
        {"plain", 5, "\"plain\""},
        {"say \"hi\"", 8, "\"say \\\"hi\\\"\""},
        {"back\\slash", 10, "\"back\\\\slash\""},
        {"a\nb\rc\td", 7, "\"a\\nb\\rc\\td\""},
        {"\x01\x1f", 2, "\"\\u0001\\u001f\""},
        {"\b\f", 2, "\"\\u0008\\u000c\""},
        {"del\x7f", 4, "\"del\\u007f\""},
        {"nul\0in", 6, "\"nul\\u0000in\""},
        {"caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""},
        {"</script>", 9, "\"</script>\""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jbuf b;
        jbuf_init(&b);
        jbuf_str(&b, cases[i].in, cases[i].n);
        assert_false(b.oom);
        assert_string_equal(b.p, cases[i].out);
        jbuf_free(&b);
    }
}

static void test_numbers(void **state)
{
    static const struct {
        int64_t v;
        const char *out;
    } i64s[] = {
        {0, "0"},
        {-1, "-1"},
        {1763800000123, "1763800000123"},
        {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"},
    };
    static const struct {
        uint64_t v;
        const char *out;
    } ids[] = {
        {0, "\"0\""},
        {7263489123456789ull, "\"7263489123456789\""},
        {UINT64_MAX, "\"18446744073709551615\""},
    };
    struct jbuf b;

    jbuf_init(&b);
    for (size_t i = 0; i < sizeof(i64s) / sizeof(i64s[0]); i++) {
        jbuf_reset(&b);
        jbuf_i64(&b, i64s[i].v);
        assert_string_equal(b.p, i64s[i].out);
    }
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        jbuf_reset(&b);
        jbuf_id(&b, ids[i].v);
        assert_string_equal(b.p, ids[i].out);
    }
    jbuf_free(&b);
}

static void test_growth(void **state)
{
    struct jbuf b;
    char *big = malloc(10000);

    assert_non_null(big);
    memset(big, 'x', 10000);
    jbuf_init(&b);
    for (int i = 0; i < 1000; i++)
        jbuf_putc(&b, (char)('a' + i % 26));
    assert_int_equal(b.len, 1000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.p[1000], '\0');
    for (int i = 0; i < 1000; i++)
        assert_int_equal(b.p[i], 'a' + i % 26);

    /* A printf longer than the room left: the second, sized attempt. */
    jbuf_reset(&b);
    jbuf_printf(&b, "<%.*s>", 10000, big);
    assert_false(b.oom);
    assert_int_equal(b.len, 10002);
    assert_int_equal(b.p[0], '<');
    assert_int_equal(b.p[10001], '>');
    assert_int_equal(b.p[10002], '\0');

    /* A long escaped string. */
    jbuf_reset(&b);
    big[5000] = '"';
    jbuf_str(&b, big, 10000);
    assert_int_equal(b.len, 10003);
    assert_memory_equal(b.p + 5000, "x\\\"x", 4);
    free(big);
    jbuf_free(&b);
}

static void test_reset_and_take(void **state)
{
    struct jbuf b;
    size_t len;
    char *p;

    jbuf_init(&b);
    jbuf_puts(&b, "first");
    size_t cap = b.cap;
    jbuf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.p, "");
    /* Taking an empty (but allocated) buffer frees it. */
    assert_null(jbuf_take(&b, &len));
    assert_int_equal(len, 0);
    assert_null(b.p);

    jbuf_puts(&b, "second");
    p = jbuf_take(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 6);
    assert_string_equal(p, "second");
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(p);

    /* b is reusable after a take. */
    jbuf_puts(&b, "third");
    assert_string_equal(b.p, "third");
    jbuf_free(&b);
}

static void test_nul_escape(void **state)
{
    static const struct {
        const char *text;
        bool nul;
    } cases[] = {
        {"{\"a\":\"x\\u0000y\"}", true}, /* "x\u0000y" */
        {"\\u0000", true},
        {"\\\\u0000", false},  /* an escaped backslash, then "u0000" */
        {"\\\\\\u0000", true}, /* an escaped backslash, then the escape */
        {"\\u0001", false},
        {"\\u000", false},       /* cut short */
        {"\\", false},
        {"", false},
        {"u0000", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (json_has_nul_escape(cases[i].text, strlen(cases[i].text)) != cases[i].nul)
            fail_msg("case %zu: %s", i, cases[i].text);
}

static void test_sticky_oom(void **state)
{
    struct jbuf b;
    size_t len = 1;

    jbuf_init(&b);
    jbuf_puts(&b, "ok");
    /* A size that cannot be allocated sets the flag without touching the
     * content. (Sizes that overflow: a real failed malloc would abort under
     * ASan's default options.) */
    jbuf_put(&b, "x", SIZE_MAX - 1);
    assert_true(b.oom);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.p, "ok");
    /* Later writes are ignored. */
    jbuf_puts(&b, "more");
    jbuf_printf(&b, "%d", 42);
    jbuf_str(&b, "s", 1);
    jbuf_i64(&b, 1);
    jbuf_id(&b, 1);
    assert_int_equal(b.len, 2);
    assert_null(jbuf_take(&b, &len));
    assert_int_equal(len, 0);
    assert_false(b.oom);
    assert_null(b.p);

    /* reset clears the flag too: the content it described is gone. */
    jbuf_puts(&b, "a");
    jbuf_printf(&b, "%.*s", 1, "x"); /* fine */
    jbuf_put(&b, "x", SIZE_MAX);
    assert_true(b.oom);
    jbuf_reset(&b);
    assert_false(b.oom);
    jbuf_puts(&b, "b");
    assert_string_equal(b.p, "b");
    jbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),       cmocka_unit_test(test_raw_appends),
        cmocka_unit_test(test_str_escapes), cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_growth),      cmocka_unit_test(test_reset_and_take),
        cmocka_unit_test(test_sticky_oom),  cmocka_unit_test(test_nul_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
