/*
 * test_envelope.c - chat payloads in, envelopes out (broker/envelope.c): a
 * table of payloads with what each parses to or why it is refused, the
 * limits (payload, text, meta, depth) at and past their edges, nesting far
 * past cJSON's own limit, the envelope's member order and escaping, and
 * the MQTT 5 property bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "envelope.h"
#include "errors.h"

static const struct envelope_limits LIM = {
    .max_payload = 4096,
    .max_text = 100,
    .max_meta = 64,
    .max_depth = 8,
};

/* A payload given by its bytes; n = 0 means strlen. */
struct parse_case {
    const char *payload;
    size_t n;
    bool allow_system;
    int rc;
    const char *type; /* when rc is OK */
    const char *text; /* when rc is OK; NULL: absent */
    const char *meta; /* when rc is OK; NULL: absent */
};

static const struct parse_case cases[] = {
    /* Plain text, kept as sent. */
    {"hello", 0, false, ENVELOPE_OK, "text", "hello", NULL},
    {"  hello  \n", 0, false, ENVELOPE_OK, "text", "  hello  \n", NULL},
    {"caf\xc3\xa9 \xf0\x9f\x98\x80", 0, false, ENVELOPE_OK, "text", "caf\xc3\xa9 \xf0\x9f\x98\x80",
     NULL},
    {"[1,2]", 0, false, ENVELOPE_OK, "text", "[1,2]", NULL},   /* only '{' is JSON */
    {"\"hi\"", 0, false, ENVELOPE_OK, "text", "\"hi\"", NULL}, /* a JSON string: text */
    {"x{\"type\":\"heart\"}", 0, false, ENVELOPE_OK, "text", "x{\"type\":\"heart\"}", NULL},
    {"{{{{{{{{{{{{", 0, false, ENVELOPE_TOO_DEEP, NULL, NULL, NULL}, /* but this is JSON */
    /* JSON objects. */
    {"{\"text\":\"hi\"}", 0, false, ENVELOPE_OK, "text", "hi", NULL},
    {" \n{ \"type\" : \"text\" , \"text\" : \"hi\" } \r\n", 0, false, ENVELOPE_OK, "text", "hi",
     NULL},
    {"{\"type\":\"text\",\"text\":\"hi\",\"meta\":{\"a\": [1, 2.5], \"b\" : {}}}", 0, false,
     ENVELOPE_OK, "text", "hi", "{\"a\":[1,2.5],\"b\":{}}"},
    {"{\"type\":\"sticker\",\"meta\":{\"id\":\"cat\"}}", 0, false, ENVELOPE_OK, "sticker", NULL,
     "{\"id\":\"cat\"}"},
    {"{\"type\":\"cheer\",\"text\":\"go!\"}", 0, false, ENVELOPE_OK, "cheer", "go!", NULL},
    {"{\"type\":\"heart\",\"text\":\"\"}", 0, false, ENVELOPE_OK, "heart", NULL, NULL},
    {"{\"type\":\"heart\",\"text\":\"  \"}", 0, false, ENVELOPE_OK, "heart", NULL, NULL},
    {"{\"text\":\"  hi \"}", 0, false, ENVELOPE_OK, "text", "  hi ", NULL},
    {"{\"text\":\"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\\/\"}", 0, false, ENVELOPE_OK, "text",
     "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80/", NULL},
    {"{\"text\":\"{{{{{{{{{{{{[[[[[[[[[[\"}", 0, false, ENVELOPE_OK, "text",
     "{{{{{{{{{{{{[[[[[[[[[[", NULL},
    {"{\"text\":\"\\\"{{{{{{{{{{{{\\\\\"}", 0, false, ENVELOPE_OK, "text", "\"{{{{{{{{{{{{\\",
     NULL},
    {"{\"text\":\"a\\\\u0000b\"}", 0, false, ENVELOPE_OK, "text", "a\\u0000b", NULL},
    /* Forged members are ignored. */
    {"{\"text\":\"hi\",\"from\":\"admin\",\"id\":\"1\",\"ts\":0,\"room\":\"x\",\"to\":\"y\","
     "\"deco\":{\"color\":\"red\"},\"Type\":\"system\",\"TEXT\":5}",
     0, false, ENVELOPE_OK, "text", "hi", NULL},
    /* Types. */
    {"{\"type\":\"system\",\"text\":\"maintenance\"}", 0, true, ENVELOPE_OK, "system",
     "maintenance", NULL},
    {"{\"type\":\"system\",\"text\":\"maintenance\"}", 0, false, ENVELOPE_BAD_TYPE, NULL, NULL,
     NULL},
    {"{\"type\":\"shout\",\"text\":\"hi\"}", 0, true, ENVELOPE_BAD_TYPE, NULL, NULL, NULL},
    {"{\"type\":\"TEXT\",\"text\":\"hi\"}", 0, false, ENVELOPE_BAD_TYPE, NULL, NULL, NULL},
    {"{\"type\":\"\",\"text\":\"hi\"}", 0, false, ENVELOPE_BAD_TYPE, NULL, NULL, NULL},
    {"{\"type\":\"text \",\"text\":\"hi\"}", 0, false, ENVELOPE_BAD_TYPE, NULL, NULL, NULL},
    {"{\"type\":\"a-very-long-type-name-indeed\",\"text\":\"hi\"}", 0, false, ENVELOPE_BAD_TYPE,
     NULL, NULL, NULL},
    /* Wrong JSON types. */
    {"{\"type\":1,\"text\":\"hi\"}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"type\":null,\"text\":\"hi\"}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"type\":[\"text\"],\"text\":\"hi\"}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":1}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":null}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":[\"hi\"]}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"type\":\"sticker\",\"text\":false}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":\"hi\",\"meta\":\"x\"}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":\"hi\",\"meta\":[]}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":\"hi\",\"meta\":null}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    /* Duplicates of the members we read. */
    {"{\"type\":\"text\",\"type\":\"system\",\"text\":\"x\"}", 0, true, ENVELOPE_BAD_JSON, NULL,
     NULL, NULL},
    {"{\"text\":\"a\",\"text\":\"b\"}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":\"a\",\"meta\":{},\"meta\":{}}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    /* Not JSON, or more than one value. */
    {"{", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{text:\"hi\"}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":\"hi\",}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{'text':'hi'}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":\"hi\"", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":\"hi\"} x", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":\"hi\"}{}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":\"hi\"}]", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    {"{\"text\":\"\\ud800\"}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL,
     NULL}, /* lone surrogate escape */
    {"{\"text\":\"\\x41\"}", 0, false, ENVELOPE_BAD_JSON, NULL, NULL, NULL},
    /* Bad UTF-8, raw or escaped into a NUL. */
    {"\xc3\x28", 0, false, ENVELOPE_BAD_UTF8, NULL, NULL, NULL},
    {"\xed\xa0\x80", 0, false, ENVELOPE_BAD_UTF8, NULL, NULL, NULL},     /* surrogate U+D800 */
    {"\xc0\xaf", 0, false, ENVELOPE_BAD_UTF8, NULL, NULL, NULL},         /* overlong '/' */
    {"\xe0\x80\xaf", 0, false, ENVELOPE_BAD_UTF8, NULL, NULL, NULL},     /* overlong, 3 bytes */
    {"\xf4\x90\x80\x80", 0, false, ENVELOPE_BAD_UTF8, NULL, NULL, NULL}, /* above U+10FFFF */
    {"\xe2\x82", 0, false, ENVELOPE_BAD_UTF8, NULL, NULL, NULL},         /* truncated */
    {"\x80hi", 0, false, ENVELOPE_BAD_UTF8, NULL, NULL, NULL},           /* stray continuation */
    {"\xff", 0, false, ENVELOPE_BAD_UTF8, NULL, NULL, NULL},
    {"a\0b", 3, false, ENVELOPE_BAD_UTF8, NULL, NULL, NULL},
    {"{\"text\":\"hi\"}\0", 14, false, ENVELOPE_BAD_UTF8, NULL, NULL, NULL},
    {"{\"text\":\"\xc3\x28\"}", 0, false, ENVELOPE_BAD_UTF8, NULL, NULL, NULL},
    {"{\"text\":\"a\\u0000b\"}", 0, false, ENVELOPE_BAD_UTF8, NULL, NULL, NULL},
    {"{\"text\":\"hi\",\"meta\":{\"k\\u0000\":1}}", 0, false, ENVELOPE_BAD_UTF8, NULL, NULL, NULL},
    /* Empty. */
    {"", 0, false, ENVELOPE_EMPTY, NULL, NULL, NULL},
    {" ", 0, false, ENVELOPE_EMPTY, NULL, NULL, NULL},
    {" \t\r\n\v\f", 0, false, ENVELOPE_EMPTY, NULL, NULL, NULL},
    {"{}", 0, false, ENVELOPE_EMPTY, NULL, NULL, NULL},
    {"{\"meta\":{}}", 0, false, ENVELOPE_EMPTY, NULL, NULL, NULL},
    {"{\"type\":\"text\"}", 0, false, ENVELOPE_EMPTY, NULL, NULL, NULL},
    {"{\"text\":\"\"}", 0, false, ENVELOPE_EMPTY, NULL, NULL, NULL},
    {"{\"text\":\" \\n\\t \"}", 0, false, ENVELOPE_EMPTY, NULL, NULL, NULL},
};

static void check_case(size_t i, const struct parse_case *c)
{
    struct envelope_in in;
    size_t n = c->n ? c->n : strlen(c->payload);
    int rc;

    memset(&in, 0x55, sizeof(in)); /* parse initialises it */
    rc = envelope_parse((const uint8_t *)c->payload, n, &LIM, c->allow_system, &in);
    if (rc != c->rc)
        print_error("case %zu: %s: got %s, want %s\n", i, c->payload,
                    envelope_status_name((enum envelope_status)rc),
                    envelope_status_name((enum envelope_status)c->rc));
    assert_int_equal(rc, c->rc);
    if (rc == ENVELOPE_OK) {
        assert_string_equal(in.type, c->type);
        if (c->text) {
            assert_non_null(in.text);
            assert_int_equal(in.text_len, strlen(c->text));
            assert_string_equal(in.text, c->text);
        } else {
            assert_null(in.text);
        }
        if (c->meta) {
            assert_non_null(in.meta);
            assert_int_equal(in.meta_len, strlen(c->meta));
            assert_string_equal(in.meta, c->meta);
        } else {
            assert_null(in.meta);
        }
    }
    envelope_in_free(&in);
    assert_null(in.text);
    assert_null(in.meta);
    envelope_in_free(&in); /* twice is harmless */
}

static void test_parse_table(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_case(i, &cases[i]);
}

/* s repeated n times, then tail, in a malloc'd string. */
static char *repeat(const char *head, const char *s, size_t n, const char *tail)
{
    size_t hl = strlen(head), sl = strlen(s), tl = strlen(tail);
    char *p = malloc(hl + sl * n + tl + 1);

    assert_non_null(p);
    memcpy(p, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(p + hl + i * sl, s, sl);
    memcpy(p + hl + sl * n, tail, tl + 1);
    return p;
}

static int parse_str(const char *s, const struct envelope_limits *lim, struct envelope_in *in)
{
    return envelope_parse((const uint8_t *)s, strlen(s), lim, false, in);
}

static void test_text_limit(void **state)
{
    struct envelope_in in;
    char *s;

    /* Plain text: max_text bytes, then one more. */
    s = repeat("", "x", LIM.max_text, "");
    assert_int_equal(parse_str(s, &LIM, &in), ENVELOPE_OK);
    assert_int_equal(in.text_len, LIM.max_text);
    envelope_in_free(&in);
    free(s);
    s = repeat("", "x", LIM.max_text + 1, "");
    assert_int_equal(parse_str(s, &LIM, &in), ENVELOPE_TOO_LONG);
    envelope_in_free(&in);
    free(s);

    /* JSON text counts after unescaping: "\u00e9" is 2 bytes, not 6. */
    s = repeat("{\"text\":\"", "\\u00e9", LIM.max_text / 2, "\"}");
    assert_int_equal(parse_str(s, &LIM, &in), ENVELOPE_OK);
    assert_int_equal(in.text_len, LIM.max_text);
    envelope_in_free(&in);
    free(s);
    s = repeat("{\"text\":\"x", "\\u00e9", LIM.max_text / 2, "\"}");
    assert_int_equal(parse_str(s, &LIM, &in), ENVELOPE_TOO_LONG);
    envelope_in_free(&in);
    free(s);

    /* A too long text on a type where text is optional. */
    s = repeat("{\"type\":\"sticker\",\"text\":\"", "y", LIM.max_text + 1, "\"}");
    assert_int_equal(parse_str(s, &LIM, &in), ENVELOPE_TOO_LONG);
    envelope_in_free(&in);
    free(s);
}

static void test_payload_limit(void **state)
{
    struct envelope_limits lim = LIM;
    struct envelope_in in;
    char *s = repeat("", "\xff", 50, ""); /* bad UTF-8 too: size is checked first */

    lim.max_payload = 49;
    assert_int_equal(parse_str(s, &lim, &in), ENVELOPE_TOO_LONG);
    envelope_in_free(&in);
    lim.max_payload = 50;
    assert_int_equal(parse_str(s, &lim, &in), ENVELOPE_BAD_UTF8);
    envelope_in_free(&in);
    free(s);

    lim.max_payload = 0; /* nothing at all fits: even an empty payload is just EMPTY */
    assert_int_equal(envelope_parse((const uint8_t *)"", 0, &lim, false, &in), ENVELOPE_EMPTY);
    envelope_in_free(&in);
    assert_int_equal(parse_str("x", &lim, &in), ENVELOPE_TOO_LONG);
    envelope_in_free(&in);
    assert_int_equal(envelope_parse(NULL, 0, &LIM, false, &in), ENVELOPE_EMPTY);
    envelope_in_free(&in);
}

static void test_meta_limit(void **state)
{
    struct envelope_in in;
    char *s;

    /* {"k":"xxx..."} is 8 bytes around the x's; the input's spaces do not
     * count, the compact form does. */
    s = repeat("{\"type\":\"heart\",\"meta\":  {  \"k\"  :  \"", "x", LIM.max_meta - 8, "\" } }");
    assert_int_equal(parse_str(s, &LIM, &in), ENVELOPE_OK);
    assert_int_equal(in.meta_len, LIM.max_meta);
    assert_int_equal(strlen(in.meta), LIM.max_meta);
    assert_memory_equal(in.meta, "{\"k\":\"xxx", 9);
    envelope_in_free(&in);
    free(s);
    s = repeat("{\"type\":\"heart\",\"meta\":{\"k\":\"", "x", LIM.max_meta - 7, "\"}}");
    assert_int_equal(parse_str(s, &LIM, &in), ENVELOPE_TOO_LONG);
    envelope_in_free(&in);
    free(s);
}

static void test_depth(void **state)
{
    struct envelope_in in;
    char *s;

    /* The object is 1: meta at 2, then 6 more levels make 8 = the limit. */
    s = repeat("{\"text\":\"hi\",\"meta\":{\"a\":", "[", 6, "]]]]]]}}");
    assert_int_equal(parse_str(s, &LIM, &in), ENVELOPE_OK);
    assert_string_equal(in.meta, "{\"a\":[[[[[[]]]]]]}");
    envelope_in_free(&in);
    free(s);
    s = repeat("{\"text\":\"hi\",\"meta\":{\"a\":", "[", 7, "]]]]]]]}}");
    assert_int_equal(parse_str(s, &LIM, &in), ENVELOPE_TOO_DEEP);
    envelope_in_free(&in);
    free(s);

    /* Closed levels do not add up: many shallow siblings are fine. */
    struct envelope_limits lim = LIM;
    lim.max_meta = 10000;
    s = repeat("{\"text\":\"hi\",\"meta\":{\"a\":[", "[[]],", 200, "[]]}}");
    assert_int_equal(parse_str(s, &lim, &in), ENVELOPE_OK);
    envelope_in_free(&in);
    free(s);
}

static void test_deep_nesting_fast(void **state)
{
    struct envelope_limits lim = LIM;
    struct envelope_in in;
    clock_t t0 = clock();

    lim.max_payload = 1 << 20;
    /* 10000 and 100000 levels: refused by the pre-scan, before cJSON. */
    static const size_t depths[] = {10000, 100000};
    for (size_t i = 0; i < 2; i++) {
        char *s = repeat("{\"text\":\"hi\",\"meta\":{\"a\":", "[", depths[i], "");
        assert_int_equal(parse_str(s, &lim, &in), ENVELOPE_TOO_DEEP);
        envelope_in_free(&in);
        free(s);
        s = repeat("", "{\"a\":", depths[i], "1");
        assert_int_equal(parse_str(s, &lim, &in), ENVELOPE_TOO_DEEP);
        envelope_in_free(&in);
        free(s);
    }
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 0.5);

    /* A limit above cJSON's own (1000): cJSON refuses, nothing breaks. */
    lim.max_depth = 5000;
    char *s = repeat("{\"text\":\"hi\",\"meta\":{\"a\":", "[", 2000, "");
    char *t = repeat(s, "]", 2000, "}}");
    assert_int_equal(parse_str(t, &lim, &in), ENVELOPE_BAD_JSON);
    envelope_in_free(&in);
    free(t);
    free(s);
}

static void test_write(void **state)
{
    static const struct {
        const char *payload;
        struct envelope_stamp st;
        const char *out;
    } wcases[] = {
        {"{\"text\":\"hi\",\"meta\":{\"x\":1}}",
         {.id = 7263489123456789ull,
          .room = "lobby",
          .room_len = 5,
          .from = "alice",
          .from_len = 5,
          .ts_ms = 1763800000123ull,
          .deco = "{\"color\":\"#ffcc00\"}",
          .deco_len = 19},
         "{\"id\":\"7263489123456789\",\"room\":\"lobby\",\"from\":\"alice\",\"ts\":1763800000123,"
         "\"type\":\"text\",\"text\":\"hi\",\"meta\":{\"x\":1},\"deco\":{\"color\":\"#ffcc00\"}}"},
        /* A direct message: "to", no room, no deco. */
        {"hey",
         {.id = 1, .to = "bob", .to_len = 3, .from = "alice", .from_len = 5, .ts_ms = 5},
         "{\"id\":\"1\",\"to\":\"bob\",\"from\":\"alice\",\"ts\":5,\"type\":\"text\","
         "\"text\":\"hey\"}"},
        /* Both room and to; a sticker without text. The stamp's strings
         * are not NUL-terminated: only their lengths count. */
        {"{\"type\":\"sticker\",\"meta\":{\"s\":\"cat\"}}",
         {.id = UINT64_MAX,
          .room = "lobbyXXX",
          .room_len = 5,
          .to = "bobXXX",
          .to_len = 3,
          .from = "aliceXXX",
          .from_len = 5,
          .ts_ms = 0},
         "{\"id\":\"18446744073709551615\",\"room\":\"lobby\",\"to\":\"bob\",\"from\":\"alice\","
         "\"ts\":0,\"type\":\"sticker\",\"meta\":{\"s\":\"cat\"}}"},
        /* Escaping in text and in the stamp's strings. */
        {"say \"hi\" \\ \x01\t\n\x7f \xc3\xa9",
         {.id = 2, .room = "a\"b", .room_len = 3, .from = "c\\d", .from_len = 3, .ts_ms = 9},
         "{\"id\":\"2\",\"room\":\"a\\\"b\",\"from\":\"c\\\\d\",\"ts\":9,\"type\":\"text\","
         "\"text\":\"say \\\"hi\\\" \\\\ \\u0001\\t\\n\\u007f \xc3\xa9\"}"},
        /* JSON escapes come back escaped again; the forged from is gone. */
        {"{\"text\":\"\\\"q\\\" \\\\ \\u0002 \\/\",\"from\":\"mallory\"}",
         {.id = 3, .from = "alice", .from_len = 5, .ts_ms = 1},
         "{\"id\":\"3\",\"from\":\"alice\",\"ts\":1,\"type\":\"text\","
         "\"text\":\"\\\"q\\\" \\\\ \\u0002 /\"}"},
        /* No from at all. */
        {"{\"type\":\"heart\"}",
         {.id = 4, .room = "r", .room_len = 1, .ts_ms = 2},
         "{\"id\":\"4\",\"room\":\"r\",\"ts\":2,\"type\":\"heart\"}"},
    };

    for (size_t i = 0; i < sizeof(wcases) / sizeof(wcases[0]); i++) {
        struct envelope_in in;
        struct jbuf b;
        assert_int_equal(parse_str(wcases[i].payload, &LIM, &in), ENVELOPE_OK);
        jbuf_init(&b);
        jbuf_puts(&b, "prefix:"); /* write appends */
        envelope_write(&b, &in, &wcases[i].st);
        assert_false(b.oom);
        assert_memory_equal(b.p, "prefix:", 7);
        assert_string_equal(b.p + 7, wcases[i].out);
        jbuf_free(&b);
        envelope_in_free(&in);
    }
}

static void test_v5_props(void **state)
{
    static const uint8_t want[] = {
        0x01, 0x01,                                                                  /* PFI = 1 */
        0x03, 0x00, 0x10, 'a', 'p', 'p',  'l',  'i',  'c',  'a', 't', 'i', 'o', 'n', /* content */
        '/',  'j',  's',  'o', 'n',                                                  /* type */
        0x26, 0x00, 0x02, 'i', 'd', 0x00, 0x03, '4',  '2',  '7',                     /* id */
        0x26, 0x00, 0x04, 'f', 'r', 'o',  'm',  0x00, 0x05, 'a', 'l', 'i', 'c', 'e', /* from */
    };
    uint8_t out[256];

    memset(out, 0xee, sizeof(out));
    assert_int_equal(envelope_v5_props(out, sizeof(out), 427, "alice", 5), sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
    assert_int_equal(out[sizeof(want)], 0xee);

    /* Exactly enough room, then one byte short: nothing written. */
    memset(out, 0xee, sizeof(out));
    assert_int_equal(envelope_v5_props(out, sizeof(want), 427, "alice", 5), sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
    memset(out, 0xee, sizeof(out));
    assert_int_equal(envelope_v5_props(out, sizeof(want) - 1, 427, "alice", 5), 0);
    assert_int_equal(out[0], 0xee);
    assert_int_equal(envelope_v5_props(out, 0, 427, "alice", 5), 0);

    /* The largest id and the longest user id fit 256 bytes. */
    char from[64];
    memset(from, 'u', sizeof(from));
    size_t n = envelope_v5_props(out, sizeof(out), UINT64_MAX, from, sizeof(from));
    assert_int_equal(n, 2 + 19 + 7 + 20 + 9 + 64);
    assert_memory_equal(out + 21,
                        "\x26\x00\x02id\x00\x14"
                        "18446744073709551615",
                        27);
    assert_memory_equal(out + 48,
                        "\x26\x00\x04"
                        "from\x00\x40",
                        9);
    assert_memory_equal(out + 57, from, sizeof(from));

    /* Id 0. */
    n = envelope_v5_props(out, sizeof(out), 0, "a", 1);
    assert_int_equal(n, 2 + 19 + 7 + 1 + 9 + 1);
    assert_memory_equal(out + 21,
                        "\x26\x00\x02id\x00\x01"
                        "0",
                        8);
}

static void test_status_names(void **state)
{
    static const struct {
        enum envelope_status st;
        const char *name;
    } names[] = {
        {ENVELOPE_OK, "ok"},
        {ENVELOPE_EMPTY, "empty"},
        {ENVELOPE_BAD_UTF8, "bad_utf8"},
        {ENVELOPE_BAD_JSON, "bad_json"},
        {ENVELOPE_BAD_TYPE, "bad_type"},
        {ENVELOPE_TOO_LONG, "too_long"},
        {ENVELOPE_TOO_DEEP, "too_deep"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_string_equal(envelope_status_name(names[i].st), names[i].name);
    assert_string_equal(envelope_status_name((enum envelope_status)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),   cmocka_unit_test(test_text_limit),
        cmocka_unit_test(test_payload_limit), cmocka_unit_test(test_meta_limit),
        cmocka_unit_test(test_depth),         cmocka_unit_test(test_deep_nesting_fast),
        cmocka_unit_test(test_write),         cmocka_unit_test(test_v5_props),
        cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
