/*
 * test_chat_control.c - comment control (broker/chat_control.c): settings
 * documents validated and merged, room over system over default, every
 * refusal with its reason code, masking, moderators' exemptions, which
 * refusals leave which tokens alone, direct messages, presence events,
 * and checks racing settings changes (run by hand under -fsanitize=thread
 * as well).
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

#include "chat_control.h"
#include "errors.h"
#include "json.h"

#define L(lit) (lit), (sizeof(lit) - 1)

static int cc_setup(void **state)
{
    struct chat_control *cc = chat_control_new();
    *state = cc;
    return cc ? 0 : -1;
}

static int cc_teardown(void **state)
{
    chat_control_free(*state);
    return 0;
}

/* Installs doc for room (NULL: the system), asserting success. */
static void set_doc(struct chat_control *cc, const char *room, const char *doc)
{
    int rc = chat_control_set(cc, room, room ? strlen(room) : 0, doc, strlen(doc));
    if (rc != MQ_OK)
        fail_msg("set %s %s: %s", room ? room : "(system)", doc, mq_strerror(rc));
}

/* The scope's JSON (malloc'd). */
static char *doc_json(struct chat_control *cc, const char *room, bool effective)
{
    struct jbuf b;
    size_t len;
    jbuf_init(&b);
    chat_control_json(cc, room, room ? strlen(room) : 0, effective, &b);
    assert_false(b.oom);
    char *s = jbuf_take(&b, &len);
    assert_non_null(s);
    return s;
}

static void assert_json(struct chat_control *cc, const char *room, bool effective, const char *want)
{
    char *got = doc_json(cc, room, effective);
    if (strcmp(got, want) != 0)
        fail_msg("%s %s:\n got  %s\n want %s", room ? room : "(system)",
                 effective ? "effective" : "stored", got, want);
    free(got);
}

/* Checks a post by user (in room, or a direct message when room is NULL),
 * expecting the reason (NULL: accepted). Returns the masked text, if any
 * (the caller frees it). */
static char *post(struct chat_control *cc, const char *user, const char *room, int role,
                  const char *text, uint64_t now, const char *reason)
{
    struct control_post p = {
        .user = user,
        .user_len = strlen(user),
        .room = room,
        .room_len = room ? strlen(room) : 0,
        .member_role = role,
        .text = text,
        .text_len = text ? strlen(text) : 0,
        .now_ms = now,
    };
    struct control_verdict v;
    memset(&v, 0x5a, sizeof(v));
    assert_int_equal(chat_control_check(cc, &p, &v), MQ_OK);
    if (!reason) {
        if (v.code != 0)
            fail_msg("%s in %s at %llu: refused (%s), want accepted", user, room ? room : "dm",
                     (unsigned long long)now, v.reason);
        assert_null(v.reason);
        if (!v.masked)
            assert_int_equal(v.masked_len, 0);
        else
            assert_int_equal(v.masked_len, strlen(v.masked));
        return v.masked;
    }
    if (v.code == 0)
        fail_msg("%s in %s at %llu: accepted, want %s", user, room ? room : "dm",
                 (unsigned long long)now, reason);
    assert_non_null(v.reason);
    if (strcmp(v.reason, reason) != 0)
        fail_msg("%s in %s at %llu: refused (%s), want %s", user, room ? room : "dm",
                 (unsigned long long)now, v.reason, reason);
    assert_null(v.masked);
    if (strcmp(reason, "members_only") == 0 || strcmp(reason, "moderators_only") == 0)
        assert_int_equal(v.code, 0x87);
    else if (strcmp(reason, "too_long") == 0 || strcmp(reason, "filtered") == 0)
        assert_int_equal(v.code, 0x99);
    else
        assert_int_equal(v.code, 0x97);
    return NULL;
}

#define ACCEPT(cc, user, room, role, text, now)                                                    \
    assert_null(post((cc), (user), (room), (role), (text), (now), NULL))
#define REFUSE(cc, user, room, role, text, now, reason)                                            \
    post((cc), (user), (room), (role), (text), (now), (reason))

/* ---- documents -------------------------------------------------------------------------------
 */

static const struct {
    const char *patch;
    int rc;
    const char *out; /* merged (MQ_OK), or a piece of the error message */
} merge_cases[] = {
    {"{}", MQ_OK, "{}"},
    {" { } ", MQ_OK, "{}"},
    {"{\"rate\":{\"count\":5,\"seconds\":10}}", MQ_OK, "{\"rate\":{\"count\":5,\"seconds\":10}}"},
    {"{\"rate\":{\"seconds\":10,\"count\":10000}}", MQ_OK,
     "{\"rate\":{\"count\":10000,\"seconds\":10}}"},
    {"{\"rate\":{\"count\":0}}", MQ_OK, "{\"rate\":{\"count\":0,\"seconds\":0}}"},
    {"{\"rate\":{\"count\":0,\"seconds\":0}}", MQ_OK, "{\"rate\":{\"count\":0,\"seconds\":0}}"},
    {"{\"rate\":{\"count\":1,\"seconds\":86400}}", MQ_OK,
     "{\"rate\":{\"count\":1,\"seconds\":86400}}"},
    {"{\"presence_events\":false,\"slow_mode\":30,\"max_length\":500,\"who_can_post\":"
     "\"moderators\"}",
     MQ_OK,
     "{\"slow_mode\":30,\"max_length\":500,\"who_can_post\":\"moderators\",\"presence_events\":"
     "false}"},
    {"{\"slow_mode\":0,\"max_length\":0,\"who_can_post\":\"all\"}", MQ_OK,
     "{\"slow_mode\":0,\"max_length\":0,\"who_can_post\":\"all\"}"},
    {"{\"slow_mode\":86400,\"max_length\":100000,\"who_can_post\":\"members\"}", MQ_OK,
     "{\"slow_mode\":86400,\"max_length\":100000,\"who_can_post\":\"members\"}"},
    {"{\"slow_mode\":30.0}", MQ_OK, "{\"slow_mode\":30}"},
    {"{\"word_filter\":{\"words\":[\"bad\",\"w\xc3\xb6rd\"],\"policy\":\"mask\"}}", MQ_OK,
     "{\"word_filter\":{\"words\":[\"bad\",\"w\xc3\xb6rd\"],\"policy\":\"mask\"}}"},
    {"{\"word_filter\":{\"words\":[\"a\\\"b\",\"c\\\\d\",\"\\u00e4\"]}}", MQ_OK,
     "{\"word_filter\":{\"words\":[\"a\\\"b\",\"c\\\\d\",\"\xc3\xa4\"],\"policy\":\"reject\"}}"},
    {"{\"word_filter\":{}}", MQ_OK, "{\"word_filter\":{\"words\":[],\"policy\":\"reject\"}}"},
    {"{\"word_filter\":{\"words\":[]}}", MQ_OK,
     "{\"word_filter\":{\"words\":[],\"policy\":\"reject\"}}"},
    {"{\"slow_mode\":null}", MQ_OK, "{}"}, /* removing what is not there */
    /* refused */
    {"", MQ_EINVAL, "not a JSON object"},
    {"[]", MQ_EINVAL, "not a JSON object"},
    {"\"x\"", MQ_EINVAL, "not a JSON object"},
    {"{", MQ_EINVAL, "not a JSON object"},
    {"{} x", MQ_EINVAL, "not a JSON object"},
    {"{}{}", MQ_EINVAL, "not a JSON object"},
    {"{\"slow_mode\":1,}", MQ_EINVAL, "not a JSON object"},
    {"{\"\xff\":1}", MQ_EINVAL, "UTF-8"},
    {"{\"colour\":\"red\"}", MQ_EINVAL, "unknown member 'colour'"},
    {"{\"Rate\":{\"count\":1,\"seconds\":1}}", MQ_EINVAL, "unknown member 'Rate'"},
    {"{\"slow_mode\":1,\"slow_mode\":2}", MQ_EINVAL, "'slow_mode' appears twice"},
    {"{\"slow_mode\":null,\"slow_mode\":2}", MQ_EINVAL, "'slow_mode' appears twice"},
    {"{\"rate\":5}", MQ_EINVAL, "'rate' must be an object"},
    {"{\"rate\":null,\"rate\":{}}", MQ_EINVAL, "appears twice"},
    {"{\"rate\":{}}", MQ_EINVAL, "'rate.count' is required"},
    {"{\"rate\":{\"count\":5}}", MQ_EINVAL, "'rate.seconds' is required"},
    {"{\"rate\":{\"count\":10001,\"seconds\":10}}", MQ_EINVAL, "'rate.count' must be"},
    {"{\"rate\":{\"count\":-1,\"seconds\":10}}", MQ_EINVAL, "'rate.count' must be"},
    {"{\"rate\":{\"count\":1.5,\"seconds\":10}}", MQ_EINVAL, "'rate.count' must be"},
    {"{\"rate\":{\"count\":\"5\",\"seconds\":10}}", MQ_EINVAL, "'rate.count' must be"},
    {"{\"rate\":{\"count\":5,\"seconds\":0}}", MQ_EINVAL, "'rate.seconds' must be"},
    {"{\"rate\":{\"count\":5,\"seconds\":86401}}", MQ_EINVAL, "'rate.seconds' must be"},
    {"{\"rate\":{\"count\":0,\"seconds\":-1}}", MQ_EINVAL, "'rate.seconds' must be"},
    {"{\"rate\":{\"count\":5,\"seconds\":10,\"burst\":3}}", MQ_EINVAL,
     "unknown member 'rate.burst'"},
    {"{\"rate\":{\"count\":5,\"count\":6,\"seconds\":10}}", MQ_EINVAL,
     "'rate.count' appears twice"},
    {"{\"slow_mode\":\"30\"}", MQ_EINVAL, "'slow_mode' must be a whole number from 0 to 86400"},
    {"{\"slow_mode\":-1}", MQ_EINVAL, "'slow_mode' must be"},
    {"{\"slow_mode\":86401}", MQ_EINVAL, "'slow_mode' must be"},
    {"{\"slow_mode\":1e300}", MQ_EINVAL, "'slow_mode' must be"},
    {"{\"slow_mode\":true}", MQ_EINVAL, "'slow_mode' must be"},
    {"{\"slow_mode\":[30]}", MQ_EINVAL, "'slow_mode' must be"},
    {"{\"max_length\":100001}", MQ_EINVAL, "'max_length' must be"},
    {"{\"max_length\":0.5}", MQ_EINVAL, "'max_length' must be"},
    {"{\"who_can_post\":\"everyone\"}", MQ_EINVAL, "'who_can_post' must be"},
    {"{\"who_can_post\":\"All\"}", MQ_EINVAL, "'who_can_post' must be"},
    {"{\"who_can_post\":1}", MQ_EINVAL, "'who_can_post' must be"},
    {"{\"word_filter\":[\"bad\"]}", MQ_EINVAL, "'word_filter' must be an object"},
    {"{\"word_filter\":{\"words\":\"bad\"}}", MQ_EINVAL, "'word_filter.words' must be an array"},
    {"{\"word_filter\":{\"words\":[1]}}", MQ_EINVAL, "'word_filter.words[0]' must be"},
    {"{\"word_filter\":{\"words\":[\"ok\",null]}}", MQ_EINVAL, "'word_filter.words[1]' must be"},
    {"{\"word_filter\":{\"words\":[\"ok\",\"\"]}}", MQ_EINVAL, "'word_filter.words[1]' must be"},
    {"{\"word_filter\":{\"words\":[\"  \"]}}", MQ_EINVAL, "'word_filter.words[0]' must be"},
    {"{\"word_filter\":{\"words\":[\"\\ud800\"]}}", MQ_EINVAL, "not a JSON object"},
    {"{\"word_filter\":{\"words\":[\"\\ud83d\\ude00\"]}}", MQ_OK,
     "{\"word_filter\":{\"words\":[\"\xf0\x9f\x98\x80\"],\"policy\":\"reject\"}}"},
    {"{\"word_filter\":{\"words\":[\"a\\u0000b\"]}}", MQ_EINVAL, "\\u0000"},
    {"{\"word_filter\":{\"words\":[\"x\\\\u0000\"]}}", MQ_OK,
     "{\"word_filter\":{\"words\":[\"x\\\\u0000\"],\"policy\":\"reject\"}}"},
    {"{\"word_filter\":{\"words\":[\"01234567890123456789012345678901234567890123456789"
     "012345678901234\"]}}",
     MQ_EINVAL, "'word_filter.words[0]' must be 1 to 64 bytes"},
    {"{\"word_filter\":{\"policy\":\"drop\"}}", MQ_EINVAL, "'word_filter.policy' must be"},
    {"{\"word_filter\":{\"policy\":null}}", MQ_EINVAL, "'word_filter.policy' must be"},
    {"{\"word_filter\":{\"words\":[],\"list\":[]}}", MQ_EINVAL,
     "unknown member 'word_filter.list'"},
    {"{\"word_filter\":{\"words\":[],\"words\":[]}}", MQ_EINVAL,
     "'word_filter.words' appears twice"},
    {"{\"presence_events\":1}", MQ_EINVAL, "'presence_events' must be true or false"},
    {"{\"presence_events\":\"false\"}", MQ_EINVAL, "'presence_events' must be"},
};

static void test_merge_validate(void **state)
{
    struct chat_control *cc = *state;
    for (size_t i = 0; i < sizeof(merge_cases) / sizeof(merge_cases[0]); i++) {
        const char *patch = merge_cases[i].patch;
        char err[200] = "";
        char *merged = (char *)"untouched";
        int rc = chat_control_merge(cc, NULL, 0, patch, strlen(patch), &merged, err, sizeof(err));
        if (rc != merge_cases[i].rc)
            fail_msg("merge case %zu %s: rc %d (%s)", i, patch, rc, err);
        if (rc == MQ_OK) {
            if (strcmp(merged, merge_cases[i].out) != 0)
                fail_msg("merge case %zu: got %s, want %s", i, merged, merge_cases[i].out);
            /* What merge makes, set takes, and shows back unchanged. */
            assert_int_equal(chat_control_set(cc, L("room"), merged, strlen(merged)), MQ_OK);
            assert_json(cc, "room", false, merge_cases[i].out);
            free(merged);
        } else {
            assert_null(merged);
            if (!strstr(err, merge_cases[i].out))
                fail_msg("merge case %zu %s: error \"%s\" lacks \"%s\"", i, patch, err,
                         merge_cases[i].out);
            /* set refuses the same document, and keeps what was there. */
            set_doc(cc, "room", "{\"slow_mode\":7}");
            assert_int_equal(chat_control_set(cc, L("room"), patch, strlen(patch)),
                             strlen(patch) == 0 ? MQ_OK : MQ_EINVAL);
            if (strlen(patch) > 0)
                assert_json(cc, "room", false, "{\"slow_mode\":7}");
        }
    }
    /* Nothing was applied to the system scope by merging. */
    assert_json(cc, NULL, false, "{}");
}

static void test_merge_patch(void **state)
{
    struct chat_control *cc = *state;
    char err[200], *merged;
    set_doc(cc, NULL,
            "{\"rate\":{\"count\":5,\"seconds\":10},\"slow_mode\":30,\"word_filter\":{\"words\":"
            "[\"bad\"]}}");
    /* Replace one member, remove another, add a third; word_filter replaced whole. */
    const char *patch = "{\"slow_mode\":null,\"max_length\":200,\"rate\":{\"count\":1,"
                        "\"seconds\":1},\"word_filter\":{\"policy\":\"mask\"}}";
    assert_int_equal(
        chat_control_merge(cc, NULL, 0, patch, strlen(patch), &merged, err, sizeof(err)), MQ_OK);
    assert_string_equal(merged, "{\"rate\":{\"count\":1,\"seconds\":1},\"max_length\":200,"
                                "\"word_filter\":{\"words\":[],\"policy\":\"mask\"}}");
    /* Not applied until set. */
    assert_json(cc, NULL, false,
                "{\"rate\":{\"count\":5,\"seconds\":10},\"slow_mode\":30,\"word_filter\":{"
                "\"words\":[\"bad\"],\"policy\":\"reject\"}}");
    assert_int_equal(chat_control_set(cc, NULL, 0, merged, strlen(merged)), MQ_OK);
    assert_json(cc, NULL, false, merged);
    free(merged);

    /* A room's patch merges into the room's document, not the system's. */
    assert_int_equal(
        chat_control_merge(cc, L("lobby"), L("{\"slow_mode\":5}"), &merged, err, sizeof(err)),
        MQ_OK);
    assert_string_equal(merged, "{\"slow_mode\":5}");
    free(merged);

    /* Removing every member gives "{}", and setting it removes the document. */
    set_doc(cc, "lobby", "{\"slow_mode\":5,\"presence_events\":false}");
    assert_int_equal(chat_control_merge(cc, L("lobby"),
                                        L("{\"slow_mode\":null,\"presence_events\":null}"), &merged,
                                        err, sizeof(err)),
                     MQ_OK);
    assert_string_equal(merged, "{}");
    assert_int_equal(chat_control_set(cc, L("lobby"), merged, strlen(merged)), MQ_OK);
    free(merged);
    assert_json(cc, "lobby", false, "{}");
    assert_true(chat_control_presence_events(cc, L("lobby")));

    /* A bad value in a patch is refused even when the rest is fine. */
    merged = (char *)"x";
    assert_int_equal(chat_control_merge(cc, NULL, 0, L("{\"max_length\":1,\"slow_mode\":-5}"),
                                        &merged, err, sizeof(err)),
                     MQ_EINVAL);
    assert_null(merged);
    assert_non_null(strstr(err, "slow_mode"));

    /* Bad room names. */
    assert_int_equal(chat_control_merge(cc, L("no/slash"), L("{}"), &merged, err, sizeof(err)),
                     MQ_EINVAL);
    assert_int_equal(chat_control_merge(cc, "", 0, L("{}"), &merged, err, sizeof(err)), MQ_EINVAL);
    assert_int_equal(chat_control_set(cc, L("no/slash"), L("{}")), MQ_EINVAL);
    assert_int_equal(chat_control_set(cc, L("a b"), L("{\"slow_mode\":1}")), MQ_EINVAL);

    /* err may be NULL or tiny; it is always terminated. */
    assert_int_equal(chat_control_merge(cc, NULL, 0, L("{\"x\":1}"), &merged, NULL, 0), MQ_EINVAL);
    char tiny[8];
    memset(tiny, 'Z', sizeof(tiny));
    assert_int_equal(chat_control_merge(cc, NULL, 0, L("{\"x\":1}"), &merged, tiny, sizeof(tiny)),
                     MQ_EINVAL);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);

    /* A long unknown name is quoted cut short, at a character boundary. */
    struct jbuf nb;
    jbuf_init(&nb);
    jbuf_puts(&nb, "{\"x");
    for (int i = 0; i < 30; i++)
        jbuf_puts(&nb, "\xc3\xa9");
    jbuf_puts(&nb, "\":1}");
    assert_int_equal(chat_control_merge(cc, NULL, 0, nb.p, nb.len, &merged, err, sizeof(err)),
                     MQ_EINVAL);
    nb.len = 0;
    jbuf_puts(&nb, "unknown member 'x");
    for (int i = 0; i < 19; i++)
        jbuf_puts(&nb, "\xc3\xa9");
    jbuf_puts(&nb, "'");
    assert_string_equal(err, nb.p);
    jbuf_free(&nb);
    assert_int_equal(chat_control_merge(cc, NULL, 0, NULL, 0, &merged, err, sizeof(err)),
                     MQ_EINVAL);

    /* The 1000-word limit. */
    struct jbuf b;
    jbuf_init(&b);
    jbuf_puts(&b, "{\"word_filter\":{\"words\":[");
    for (int i = 0; i < 1000; i++)
        jbuf_printf(&b, "%s\"w%d\"", i ? "," : "", i);
    jbuf_puts(&b, "]}}");
    assert_int_equal(chat_control_merge(cc, NULL, 0, b.p, b.len, &merged, err, sizeof(err)), MQ_OK);
    free(merged);
    b.len -= 3;
    jbuf_puts(&b, ",\"w1000\"]}}");
    assert_int_equal(chat_control_merge(cc, NULL, 0, b.p, b.len, &merged, err, sizeof(err)),
                     MQ_EINVAL);
    assert_non_null(strstr(err, "at most 1000"));
    jbuf_free(&b);

    /* Deep nesting is refused, not a crash. */
    jbuf_init(&b);
    jbuf_puts(&b, "{\"rate\":");
    for (int i = 0; i < 5000; i++)
        jbuf_putc(&b, '[');
    for (int i = 0; i < 5000; i++)
        jbuf_putc(&b, ']');
    jbuf_putc(&b, '}');
    assert_int_equal(chat_control_merge(cc, NULL, 0, b.p, b.len, &merged, err, sizeof(err)),
                     MQ_EINVAL);
    jbuf_free(&b);
}

static void test_effective(void **state)
{
    struct chat_control *cc = *state;
    static const char defaults[] =
        "{\"rate\":{\"count\":0,\"seconds\":0},\"slow_mode\":0,\"max_length\":0,"
        "\"who_can_post\":\"all\",\"word_filter\":{\"words\":[],\"policy\":\"reject\"},"
        "\"presence_events\":true}";
    assert_json(cc, NULL, false, "{}");
    assert_json(cc, NULL, true, defaults);
    assert_json(cc, "lobby", true, defaults);

    set_doc(cc, NULL,
            "{\"rate\":{\"count\":5,\"seconds\":10},\"slow_mode\":30,\"word_filter\":{\"words\":"
            "[\"bad\",\"w\xc3\xb6rd\"],\"policy\":\"mask\"}}");
    set_doc(cc, "lobby",
            "{\"slow_mode\":0,\"who_can_post\":\"members\",\"max_length\":100,"
            "\"presence_events\":false}");
    set_doc(cc, "quiet", "{\"word_filter\":{\"words\":[]},\"rate\":{\"count\":0}}");

    /* The system: its document over the defaults. */
    assert_json(cc, NULL, true,
                "{\"rate\":{\"count\":5,\"seconds\":10},\"slow_mode\":30,\"max_length\":0,"
                "\"who_can_post\":\"all\",\"word_filter\":{\"words\":[\"bad\",\"w\xc3\xb6rd\"],"
                "\"policy\":\"mask\"},\"presence_events\":true}");
    /* lobby: its own slow_mode (0 wins over the system's 30), who_can_post,
     * max_length and presence_events; rate and word_filter inherited. */
    assert_json(cc, "lobby", true,
                "{\"rate\":{\"count\":5,\"seconds\":10},\"slow_mode\":0,\"max_length\":100,"
                "\"who_can_post\":\"members\",\"word_filter\":{\"words\":[\"bad\",\"w\xc3\xb6rd\"],"
                "\"policy\":\"mask\"},\"presence_events\":false}");
    /* quiet: an empty word list and rate off replace the system's. */
    assert_json(cc, "quiet", true,
                "{\"rate\":{\"count\":0,\"seconds\":0},\"slow_mode\":30,\"max_length\":0,"
                "\"who_can_post\":\"all\",\"word_filter\":{\"words\":[],\"policy\":\"reject\"},"
                "\"presence_events\":true}");
    /* A room without a document: the system's. */
    assert_json(cc, "other", true,
                "{\"rate\":{\"count\":5,\"seconds\":10},\"slow_mode\":30,\"max_length\":0,"
                "\"who_can_post\":\"all\",\"word_filter\":{\"words\":[\"bad\",\"w\xc3\xb6rd\"],"
                "\"policy\":\"mask\"},\"presence_events\":true}");
    assert_json(cc, "other", false, "{}");
    assert_json(cc, "lobby", false,
                "{\"slow_mode\":0,\"max_length\":100,\"who_can_post\":\"members\","
                "\"presence_events\":false}");

    /* The effective document is itself a valid document. */
    char *eff = doc_json(cc, "lobby", true);
    set_doc(cc, "copy", eff);
    assert_json(cc, "copy", false, eff);
    free(eff);

    /* Removing the system document: rooms fall back to the defaults. */
    assert_int_equal(chat_control_set(cc, NULL, 0, NULL, 0), MQ_OK);
    assert_json(cc, NULL, false, "{}");
    assert_json(cc, "other", true, defaults);
    assert_json(cc, "quiet", true, defaults);
    /* And the filter is gone from the checks. */
    ACCEPT(cc, "alice", "other", -1, "bad", 0);
    /* Removing a room document. */
    set_doc(cc, "lobby", "{}");
    assert_json(cc, "lobby", false, "{}");
    set_doc(cc, "lobby", " {  } ");
    assert_int_equal(chat_control_set(cc, L("lobby"), "", 0), MQ_OK);
}

/* ---- the check ------------------------------------------------------------------------------ */

static void test_who_can_post(void **state)
{
    struct chat_control *cc = *state;
    ACCEPT(cc, "anyone", "open", -1, "hi", 0); /* default: all */
    set_doc(cc, "club", "{\"who_can_post\":\"members\"}");
    REFUSE(cc, "stranger", "club", -1, "hi", 0, "members_only");
    ACCEPT(cc, "member", "club", 0, "hi", 0);
    ACCEPT(cc, "mod", "club", 1, "hi", 0);
    ACCEPT(cc, "owner", "club", 2, "hi", 0);
    set_doc(cc, "stage", "{\"who_can_post\":\"moderators\"}");
    REFUSE(cc, "stranger", "stage", -1, "hi", 0, "moderators_only");
    REFUSE(cc, "member", "stage", 0, "hi", 0, "moderators_only");
    REFUSE(cc, "member", "stage", 0, NULL, 0, "moderators_only"); /* stickers too */
    ACCEPT(cc, "mod", "stage", 1, "hi", 0);
    ACCEPT(cc, "owner", "stage", 2, "hi", 0);
    /* From the system document. */
    set_doc(cc, NULL, "{\"who_can_post\":\"members\"}");
    REFUSE(cc, "stranger", "open", -1, "hi", 0, "members_only");
    set_doc(cc, "open", "{\"who_can_post\":\"all\"}");
    ACCEPT(cc, "stranger", "open", -1, "hi", 0);
}

static void test_max_length(void **state)
{
    struct chat_control *cc = *state;
    set_doc(cc, "r", "{\"max_length\":3}");
    ACCEPT(cc, "u", "r", 0, "abc", 0);
    ACCEPT(cc, "u", "r", 0, "", 0);
    ACCEPT(cc, "u", "r", 0, "\xc3\xa4\xc3\xb6\xc3\xbc", 0); /* 3 characters, 6 bytes */
    ACCEPT(cc, "u", "r", 0,
           "\xf0\x9f\x92\xa9\xe5\x9d\x8f"
           "a",
           0); /* 3 characters, 8 bytes */
    REFUSE(cc, "u", "r", 0, "abcd", 0, "too_long");
    REFUSE(cc, "u", "r", 0, "\xc3\xa4\xc3\xb6\xc3\xbcx", 0, "too_long");
    ACCEPT(cc, "u", "r", 0, NULL, 0); /* no text: nothing to measure */
    /* Moderators are not exempt. */
    REFUSE(cc, "owner", "r", 2, "abcd", 0, "too_long");
    /* who_can_post comes first. */
    set_doc(cc, "r", "{\"max_length\":3,\"who_can_post\":\"members\"}");
    REFUSE(cc, "x", "r", -1, "abcd", 0, "members_only");
}

static void test_filter(void **state)
{
    struct chat_control *cc = *state;
    set_doc(cc, "r", "{\"word_filter\":{\"words\":[\"bad\",\"\xc3\x84RGER\"]}}");
    REFUSE(cc, "u", "r", 0, "this is BAD", 0, "filtered");
    REFUSE(cc, "u", "r", 0, "so ein \xc3\xa4rger", 0, "filtered");
    REFUSE(cc, "mod", "r", 1, "badge", 0, "filtered"); /* substrings; no exemption */
    ACCEPT(cc, "u", "r", 0, "good", 0);
    ACCEPT(cc, "u", "r", 0, NULL, 0);
    /* Mask: accepted, the new text handed back. */
    set_doc(cc, "m",
            "{\"word_filter\":{\"words\":[\"bad\",\"\xc3\x84RGER\"],\"policy\":\"mask\"}}");
    char *masked = post(cc, "u", "m", 0, "Bad word, \xc3\xa4rger!", 0, NULL);
    assert_non_null(masked);
    assert_string_equal(masked, "*** word, *****!");
    free(masked);
    ACCEPT(cc, "u", "m", 0, "all good", 0); /* nothing to mask: masked stays NULL */
    /* max_length is checked on the original text, before the filter. */
    set_doc(cc, "m2", "{\"max_length\":2,\"word_filter\":{\"words\":[\"bad\"]}}");
    REFUSE(cc, "u", "m2", 0, "bad", 0, "too_long");
}

static void test_rate_and_slow(void **state)
{
    struct chat_control *cc = *state;
    set_doc(cc, "r", "{\"rate\":{\"count\":3,\"seconds\":10}}");
    ACCEPT(cc, "u", "r", 0, "1", 0);
    ACCEPT(cc, "u", "r", 0, "2", 100);
    ACCEPT(cc, "u", "r", 0, "3", 200);
    REFUSE(cc, "u", "r", 0, "4", 300, "rate_limited");
    ACCEPT(cc, "v", "r", 0, "other user", 300);  /* per user */
    ACCEPT(cc, "u", "r2", 0, "other room", 300); /* per room */
    ACCEPT(cc, "u", "r", 0, "refilled", 3334);   /* a token every 3333.3 ms */
    REFUSE(cc, "u", "r", 0, "again", 3334, "rate_limited");
    ACCEPT(cc, "u", "r", 0, NULL, 6667); /* stickers count too */

    set_doc(cc, "s", "{\"slow_mode\":30}");
    ACCEPT(cc, "u", "s", 0, "1", 0);
    REFUSE(cc, "u", "s", 0, "2", 1000, "slow_mode");
    REFUSE(cc, "u", "s", 0, "3", 29999, "slow_mode");
    ACCEPT(cc, "v", "s", 0, "other user", 1000);
    ACCEPT(cc, "u", "s", 0, "4", 30000);
    REFUSE(cc, "u", "s", 0, "5", 30001, "slow_mode");

    /* Moderators and owners are exempt from both. */
    set_doc(cc, "both", "{\"rate\":{\"count\":1,\"seconds\":100},\"slow_mode\":60}");
    for (int i = 0; i < 20; i++) {
        ACCEPT(cc, "mod", "both", 1, "m", 0);
        ACCEPT(cc, "owner", "both", 2, "o", 0);
    }
    ACCEPT(cc, "member", "both", 0, "m", 0);
    REFUSE(cc, "member", "both", 0, "m", 1, "slow_mode");
    ACCEPT(cc, "stranger", "both", -1, "m", 1);
    REFUSE(cc, "stranger", "both", -1, "m", 2, "slow_mode");
    /* ...but not from the filter (above) nor from who_can_post's rules. */
    chat_control_sweep(cc, 1000000);
}

/* A message refused by an earlier check consumes no later token. */
static void test_no_token_on_refusal(void **state)
{
    struct chat_control *cc = *state;
    /* Filter and length refusals take no rate token. */
    set_doc(cc, "f",
            "{\"rate\":{\"count\":1,\"seconds\":100},\"max_length\":10,"
            "\"word_filter\":{\"words\":[\"bad\"]}}");
    for (int i = 0; i < 5; i++) {
        REFUSE(cc, "u", "f", 0, "bad", i, "filtered");
        REFUSE(cc, "u", "f", 0, "far too long a text", i, "too_long");
    }
    ACCEPT(cc, "u", "f", 0, "fine", 10);
    REFUSE(cc, "u", "f", 0, "fine", 11, "rate_limited");
    /* Nor do who_can_post refusals. */
    set_doc(cc, "w", "{\"rate\":{\"count\":1,\"seconds\":100},\"who_can_post\":\"members\"}");
    REFUSE(cc, "u", "w", -1, "hi", 0, "members_only");
    ACCEPT(cc, "u", "w", 0, "hi", 1);

    /* A slow-mode refusal takes no rate token: 2 per 1000 s, 10 s apart. */
    set_doc(cc, "s", "{\"rate\":{\"count\":2,\"seconds\":1000},\"slow_mode\":10}");
    ACCEPT(cc, "u", "s", 0, "1", 0);
    REFUSE(cc, "u", "s", 0, "2", 1000, "slow_mode");
    REFUSE(cc, "u", "s", 0, "3", 2000, "slow_mode");
    ACCEPT(cc, "u", "s", 0, "4", 10000); /* the second rate token is still there */
    /* A rate refusal gives the slow-mode token back. */
    REFUSE(cc, "u", "s", 0, "5", 20000, "rate_limited");
    set_doc(cc, "s", "{\"slow_mode\":10}"); /* rate off, same slow-mode bucket */
    ACCEPT(cc, "u", "s", 0, "6", 20000);    /* had 5 taken it, this would be slow_mode */
    REFUSE(cc, "u", "s", 0, "7", 20001, "slow_mode");
}

static void test_direct_messages(void **state)
{
    struct chat_control *cc = *state;
    /* No system document: anything goes. */
    for (int i = 0; i < 10; i++)
        ACCEPT(cc, "u", NULL, -1, "bad", 0);
    set_doc(cc, NULL,
            "{\"rate\":{\"count\":2,\"seconds\":100},\"slow_mode\":60,\"max_length\":5,"
            "\"who_can_post\":\"moderators\",\"word_filter\":{\"words\":[\"bad\"]}}");
    /* Room documents never apply to direct messages. */
    set_doc(cc, "r",
            "{\"rate\":{\"count\":1,\"seconds\":100},\"slow_mode\":0,\"max_length\":0,"
            "\"who_can_post\":\"all\",\"word_filter\":{\"words\":[]}}");
    /* The system's who_can_post and slow_mode do not apply; role is ignored. */
    ACCEPT(cc, "a", NULL, -1, "hi", 0);
    REFUSE(cc, "a", NULL, -1, "bad", 1, "filtered");
    REFUSE(cc, "a", NULL, -1, "longer", 1, "too_long");
    ACCEPT(cc, "a", NULL, 2, "hi", 1); /* the second token; "owner" is not exempt in DMs */
    REFUSE(cc, "a", NULL, 2, "hi", 2, "rate_limited");
    ACCEPT(cc, "b", NULL, -1, "hi", 2); /* per user */
    /* The DM bucket is apart from every room's, both ways. */
    ACCEPT(cc, "a", "r", 0, "bad and long", 2);
    ACCEPT(cc, "c", "r", 0, "x", 3);
    ACCEPT(cc, "c", NULL, -1, "x", 3);
    ACCEPT(cc, "c", NULL, -1, "x", 3);
    REFUSE(cc, "c", NULL, -1, "x", 3, "rate_limited");
    REFUSE(cc, "c", "r", 0, "x", 4, "rate_limited");
    /* In a room without a document, the system's slow mode applies. */
    ACCEPT(cc, "d", "plain", 1, "hi", 0); /* a moderator */
    ACCEPT(cc, "d", "plain", 1, "hi", 0);
    REFUSE(cc, "d", "plain", 0, "hi", 0, "moderators_only");
}

static void test_presence_events(void **state)
{
    struct chat_control *cc = *state;
    assert_true(chat_control_presence_events(cc, NULL, 0));
    assert_true(chat_control_presence_events(cc, L("lobby")));
    set_doc(cc, "lobby", "{\"presence_events\":false}");
    assert_false(chat_control_presence_events(cc, L("lobby")));
    assert_true(chat_control_presence_events(cc, L("other")));
    assert_true(chat_control_presence_events(cc, NULL, 0));
    set_doc(cc, NULL, "{\"presence_events\":false}");
    assert_false(chat_control_presence_events(cc, L("other")));
    assert_false(chat_control_presence_events(cc, NULL, 0));
    set_doc(cc, "other", "{\"presence_events\":true}");
    assert_true(chat_control_presence_events(cc, L("other")));
    set_doc(cc, "lobby", "{\"slow_mode\":1}"); /* presence_events now inherited */
    assert_false(chat_control_presence_events(cc, L("lobby")));
    /* Names of any bytes are looked up, not trusted. */
    assert_false(chat_control_presence_events(cc, L("no such room/#")));
}

/* Many rooms come and go; each keeps its own document. */
static void test_many_rooms(void **state)
{
    struct chat_control *cc = *state;
    char room[32], doc[64];
    for (int i = 0; i < 300; i++) {
        snprintf(room, sizeof(room), "room-%d", i);
        snprintf(doc, sizeof(doc), "{\"max_length\":%d}", i + 1);
        set_doc(cc, room, doc);
    }
    for (int i = 0; i < 300; i += 2) {
        snprintf(room, sizeof(room), "room-%d", i);
        set_doc(cc, room, "{}");
    }
    for (int i = 0; i < 300; i++) {
        snprintf(room, sizeof(room), "room-%d", i);
        snprintf(doc, sizeof(doc), "{\"max_length\":%d}", i + 1);
        assert_json(cc, room, false, i % 2 ? doc : "{}");
    }
}

/* ---- threads ---------------------------------------------------------------------------------
 */

struct race {
    struct chat_control *cc;
    atomic_bool stop;
    atomic_int checks;
};

static void *race_checker(void *arg)
{
    struct race *r = arg;
    uint64_t now = 0;
    while (!atomic_load(&r->stop)) {
        struct control_post p = {.user = "u",
                                 .user_len = 1,
                                 .room = "hot",
                                 .room_len = 3,
                                 .member_role = 0,
                                 .text = "a bad word",
                                 .text_len = 10,
                                 .now_ms = now++};
        struct control_verdict v;
        if (chat_control_check(r->cc, &p, &v) == MQ_OK)
            free(v.masked);
        p.room = NULL; /* a DM */
        if (chat_control_check(r->cc, &p, &v) == MQ_OK)
            free(v.masked);
        atomic_fetch_add(&r->checks, 1);
    }
    return NULL;
}

static void test_race(void **state)
{
    struct chat_control *cc = *state;
    struct race r = {.cc = cc};
    pthread_t th[3];
    static const char *const docs[] = {
        "{\"word_filter\":{\"words\":[\"bad\",\"word\"],\"policy\":\"mask\"}}",
        "{\"word_filter\":{\"words\":[\"bad\"]},\"rate\":{\"count\":2,\"seconds\":1}}",
        "{\"slow_mode\":1,\"max_length\":5}",
        "{}",
    };
    atomic_init(&r.stop, false);
    atomic_init(&r.checks, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_checker, &r), 0);
    for (int i = 0; i < 400; i++) {
        set_doc(cc, i % 2 ? "hot" : NULL, docs[i % 4]);
        if (i % 50 == 0)
            chat_control_sweep(cc, (uint64_t)i * 1000);
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_true(atomic_load(&r.checks) > 0);
}

static void test_new_free(void **state)
{
    chat_control_free(NULL);
    struct chat_control *cc = chat_control_new();
    assert_non_null(cc);
    set_doc(cc, NULL, "{\"word_filter\":{\"words\":[\"x\"]}}");
    set_doc(cc, "r", "{\"word_filter\":{\"words\":[\"y\"]},\"slow_mode\":1}");
    ACCEPT(cc, "u", "r", 0, "x", 0);
    chat_control_free(cc); /* with documents and buckets in it */
}

#define CC_TEST(f) cmocka_unit_test_setup_teardown(f, cc_setup, cc_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CC_TEST(test_merge_validate),    CC_TEST(test_merge_patch),
        CC_TEST(test_effective),         CC_TEST(test_who_can_post),
        CC_TEST(test_max_length),        CC_TEST(test_filter),
        CC_TEST(test_rate_and_slow),     CC_TEST(test_no_token_on_refusal),
        CC_TEST(test_direct_messages),   CC_TEST(test_presence_events),
        CC_TEST(test_many_rooms),        CC_TEST(test_race),
        cmocka_unit_test(test_new_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
