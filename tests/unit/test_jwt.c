/*
 * test_jwt.c - HS256 tokens (broker/jwt.c): tokens signed here and checked
 * there, two vectors computed once with openssl(1), and a table of forged
 * tokens (other algorithms, bad claims, bad base64url) that must all be
 * refused. The forged tokens carry valid signatures, made by this file's
 * own encoder, so that each case fails for the reason it names.
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
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "errors.h"
#include "jwt.h"

#define NOW 1763800000LL

static const uint8_t secret[] = "mqchat-test-secret";
#define SECRET    secret, sizeof(secret) - 1
#define BIG_TOKEN 8192

/*
 * Made once with:
 *   H=$(printf '{"alg":"HS256","typ":"JWT"}' | basenc --base64url | tr -d '=\n')
 *   P=$(printf '{"sub":"alice","role":"user","iat":1700000000,"exp":4102444800}' \
 *       | basenc --base64url | tr -d '=\n')
 *   S=$(printf '%s.%s' "$H" "$P" | openssl dgst -sha256 -hmac mqchat-test-secret -binary \
 *       | basenc --base64url | tr -d '=\n')
 * and the same for VECTOR2 with header {"typ":"JWT","alg":"HS256"} and
 * payload {"exp":4102444800,"sub":"bob_1.x-y"}.
 */
static const char VECTOR1[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJhbGljZSIsInJvbGUiOiJ1c2VyIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9."
    "kZMxeBnEVw0gRN0VRguHuANu4KBuYJMhX-kkkG1zV-Y";
static const char VECTOR2[] = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9."
                              "eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImJvYl8xLngteSJ9."
                              "54sTlZv7vlFv9Uj0zMcVFvCNl8bqSd8c00GgEBhe27M";

/* Unpadded base64url of in[0..n), appended at out (NUL-terminated). */
static void b64url(const void *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const uint8_t *p = in;
    size_t o = strlen(out);

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = a[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = a[v & 63];
    }
    out[o] = '\0';
}

/* h_b64.p_b64.signature, signed with the test secret, into out
 * (BIG_TOKEN bytes): the first two parts are taken as they are. */
static void forge_raw(const char *h_b64, const char *p_b64, char *out)
{
    uint8_t mac[32];
    unsigned int mac_len;

    snprintf(out, BIG_TOKEN, "%s.%s", h_b64, p_b64);
    assert_non_null(HMAC(EVP_sha256(), secret, (int)sizeof(secret) - 1, (uint8_t *)out, strlen(out),
                         mac, &mac_len));
    strcat(out, ".");
    b64url(mac, mac_len, out);
}

/* The token of header and payload (JSON text, any bytes up to the NUL
 * unless n says more), into out (BIG_TOKEN). */
static void forge_n(const char *header, const char *payload, size_t n, char *out)
{
    char h[BIG_TOKEN] = "", p[BIG_TOKEN] = "";

    b64url(header, strlen(header), h);
    b64url(payload, n, p);
    forge_raw(h, p, out);
}

static void forge(const char *header, const char *payload, char *out)
{
    forge_n(header, payload, strlen(payload), out);
}

static int verify_str(const char *token, struct jwt_claims *c)
{
    return jwt_verify(SECRET, token, strlen(token), NOW, c);
}

static void test_vectors(void **state)
{
    struct jwt_claims c = {.sub = "alice", .role = "user", .iat = 1700000000, .exp = 4102444800};
    char out[512];

    /* Our signer writes the claims in the vector's order: same bytes. */
    int n = jwt_sign(SECRET, &c, out, sizeof(out));
    assert_int_equal(n, strlen(VECTOR1));
    assert_string_equal(out, VECTOR1);

    memset(&c, 0x55, sizeof(c));
    assert_int_equal(verify_str(VECTOR1, &c), MQ_OK);
    assert_string_equal(c.sub, "alice");
    assert_string_equal(c.role, "user");
    assert_int_equal(c.iat, 1700000000);
    assert_int_equal(c.exp, 4102444800);

    memset(&c, 0x55, sizeof(c));
    assert_int_equal(verify_str(VECTOR2, &c), MQ_OK);
    assert_string_equal(c.sub, "bob_1.x-y");
    assert_string_equal(c.role, "");
    assert_int_equal(c.iat, 0);
    assert_int_equal(c.exp, 4102444800);
}

static void test_round_trip(void **state)
{
    static const struct jwt_claims cases[] = {
        {.sub = "alice", .exp = NOW + 60},
        {.sub = "svc.bot-1_x", .role = "service", .iat = NOW - 5, .exp = NOW + 3600},
        {.sub = "d", .role = "display", .iat = NOW + 300, .exp = NOW + 1},
        {.sub = "0123456789012345678901234567890123456789012345678901234567890123",
         .role = "123456789012345",
         .exp = INT64_C(9007199254740992)},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char tok[512];
        struct jwt_claims got;
        int n = jwt_sign(SECRET, &cases[i], tok, sizeof(tok));
        assert_true(n > 0);
        assert_int_equal((size_t)n, strlen(tok));
        assert_true(jwt_is_token_shaped(tok, (size_t)n));
        memset(&got, 0x55, sizeof(got));
        assert_int_equal(jwt_verify(SECRET, tok, (size_t)n, NOW, &got), MQ_OK);
        assert_string_equal(got.sub, cases[i].sub);
        assert_string_equal(got.role, cases[i].role);
        assert_int_equal(got.iat, cases[i].iat);
        assert_int_equal(got.exp, cases[i].exp);
    }
}

static void test_sign_refusals(void **state)
{
    struct jwt_claims c = {.sub = "alice", .exp = NOW + 60};
    struct jwt_claims worst = {.role = "service.display", .iat = INT64_MIN, .exp = INT64_MIN};
    char out[512];
    int n;

    /* The output size: too small by one, then exactly enough. */
    n = jwt_sign(SECRET, &c, out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal(jwt_sign(SECRET, &c, out, (size_t)n), MQ_EINVAL);
    assert_int_equal(jwt_sign(SECRET, &c, out, (size_t)n + 1), n);

    /* The longest claims still fit 512 bytes. */
    memset(worst.sub, 'z', JWT_SUB_MAX);
    worst.sub[JWT_SUB_MAX] = '\0';
    assert_true(jwt_sign(SECRET, &worst, out, sizeof(out)) > 0);

    /* Invalid user ids. */
    static const char *const bad_subs[] = {"", "a/b", "a b", "é", "a+b", "#"};
    for (size_t i = 0; i < sizeof(bad_subs) / sizeof(bad_subs[0]); i++) {
        struct jwt_claims b = {.exp = NOW + 60};
        strcpy(b.sub, bad_subs[i]);
        assert_int_equal(jwt_sign(SECRET, &b, out, sizeof(out)), MQ_EINVAL);
    }
    /* Roles are written unescaped: user-id characters only. */
    static const char *const bad_roles[] = {"a\"b", "a\\b", "a b", "r\xc3\xa9le", "x/y"};
    for (size_t i = 0; i < sizeof(bad_roles) / sizeof(bad_roles[0]); i++) {
        struct jwt_claims b = {.sub = "alice", .exp = NOW + 60};
        strcpy(b.role, bad_roles[i]);
        assert_int_equal(jwt_sign(SECRET, &b, out, sizeof(out)), MQ_EINVAL);
    }
    struct jwt_claims long_role = {.sub = "alice", .exp = NOW + 60};
    memset(long_role.role, 'r', sizeof(long_role.role)); /* 16 bytes, no NUL */
    assert_int_equal(jwt_sign(SECRET, &long_role, out, sizeof(out)), MQ_EINVAL);

    /* A sub that fills the array without its NUL: 65 bytes. */
    struct jwt_claims unterminated = {.exp = NOW + 60};
    memset(unterminated.sub, 'a', sizeof(unterminated.sub));
    assert_int_equal(jwt_sign(SECRET, &unterminated, out, sizeof(out)), MQ_EINVAL);

    /* No secret, no token. */
    assert_int_equal(jwt_sign(secret, 0, &c, out, sizeof(out)), MQ_EINVAL);
}

static void test_tampering(void **state)
{
    struct jwt_claims c = {.sub = "alice", .role = "user", .exp = NOW + 60};
    char tok[512], copy[512];
    int n = jwt_sign(SECRET, &c, tok, sizeof(tok));
    char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');

    assert_true(n > 0);
    assert_int_equal(verify_str(tok, &c), MQ_OK);

    /* Every single-character change in the payload or signature. */
    for (char *p = tok; *p; p++) {
        if (*p == '.')
            continue;
        strcpy(copy, tok);
        copy[p - tok] = *p == 'A' ? 'B' : 'A';
        assert_int_equal(verify_str(copy, &c), MQ_EDENIED);
    }

    /* A payload from another token with this token's signature. */
    struct jwt_claims admin = {.sub = "mallory", .role = "service", .exp = NOW + 60};
    char other[512];
    assert_true(jwt_sign(SECRET, &admin, other, sizeof(other)) > 0);
    snprintf(copy, sizeof(copy), "%.*s%.*s%s", (int)(dot1 - tok + 1), tok,
             (int)(strrchr(other, '.') - strchr(other, '.') - 1), strchr(other, '.') + 1, dot2);
    assert_int_equal(verify_str(copy, &c), MQ_EDENIED);

    /* Wrong secret; truncated secret; no secret. */
    static const uint8_t wrong[] = "mqchat-test-secreT";
    assert_int_equal(jwt_verify(wrong, sizeof(wrong) - 1, tok, (size_t)n, NOW, &c), MQ_EDENIED);
    assert_int_equal(jwt_verify(secret, sizeof(secret) - 2, tok, (size_t)n, NOW, &c), MQ_EDENIED);
    assert_int_equal(jwt_verify(secret, 0, tok, (size_t)n, NOW, &c), MQ_EDENIED);

    /* The length given is the token: one byte short, or a byte more. */
    assert_int_equal(jwt_verify(SECRET, tok, (size_t)n - 1, NOW, &c), MQ_EDENIED);
    strcpy(copy, tok);
    strcat(copy, "A");
    assert_int_equal(verify_str(copy, &c), MQ_EDENIED);
}

static void test_expiry(void **state)
{
    struct jwt_claims c = {.sub = "alice", .exp = NOW + 10};
    struct jwt_claims got;
    char tok[512];
    int n = jwt_sign(SECRET, &c, tok, sizeof(tok));

    assert_true(n > 0);
    assert_int_equal(jwt_verify(SECRET, tok, (size_t)n, NOW + 9, &got), MQ_OK);
    assert_int_equal(jwt_verify(SECRET, tok, (size_t)n, NOW + 10, &got), MQ_EDENIED);
    assert_int_equal(jwt_verify(SECRET, tok, (size_t)n, NOW + 11, &got), MQ_EDENIED);
}

/* Tokens with valid signatures and something wrong inside. */
static void test_forged(void **state)
{
    static const char ok_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    static const struct {
        const char *header;
        const char *payload;
        int rc;
    } cases[] = {
        /* The baselines: they pass, so the rest fail for their own reason. */
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060}", MQ_OK},
        {"{\"alg\":\"HS256\"}", "{\"sub\":\"alice\",\"exp\":1763800060}", MQ_OK},
        {" { \"alg\" : \"HS256\" } ", " {\"exp\":1763800060.5,\"sub\":\"alice\",\"x\":[1]} ",
         MQ_OK},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060,\"jti\":\"x\",\"aud\":\"y\"}", MQ_OK},
        /* Header. */
        {"{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"alice\",\"exp\":1763800060}",
         MQ_EDENIED},
        {"{\"alg\":\"HS512\",\"typ\":\"JWT\"}", "{\"sub\":\"alice\",\"exp\":1763800060}",
         MQ_EDENIED},
        {"{\"alg\":\"RS256\"}", "{\"sub\":\"alice\",\"exp\":1763800060}", MQ_EDENIED},
        {"{\"alg\":\"hs256\"}", "{\"sub\":\"alice\",\"exp\":1763800060}", MQ_EDENIED},
        {"{\"ALG\":\"HS256\"}", "{\"sub\":\"alice\",\"exp\":1763800060}", MQ_EDENIED},
        {"{\"typ\":\"JWT\"}", "{\"sub\":\"alice\",\"exp\":1763800060}", MQ_EDENIED},
        {"{\"alg\":[\"HS256\"]}", "{\"sub\":\"alice\",\"exp\":1763800060}", MQ_EDENIED},
        {"{\"alg\":\"HS256\",\"alg\":\"none\"}", "{\"sub\":\"alice\",\"exp\":1763800060}",
         MQ_EDENIED},
        {"{\"alg\":\"HS256\",\"typ\":1}", "{\"sub\":\"alice\",\"exp\":1763800060}", MQ_EDENIED},
        {"{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}",
         "{\"sub\":\"alice\",\"exp\":1763800060}", MQ_EDENIED},
        {"[\"HS256\"]", "{\"sub\":\"alice\",\"exp\":1763800060}", MQ_EDENIED},
        {"\"HS256\"", "{\"sub\":\"alice\",\"exp\":1763800060}", MQ_EDENIED},
        {"{\"alg\":\"HS256\"", "{\"sub\":\"alice\",\"exp\":1763800060}", MQ_EDENIED},
        {"{\"alg\":\"HS256\"}x", "{\"sub\":\"alice\",\"exp\":1763800060}", MQ_EDENIED},
        /* exp. */
        {ok_header, "{\"sub\":\"alice\"}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800000}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763799999}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":\"1763800060\"}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":null}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":true}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1e300}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060,\"exp\":1}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"EXP\":1763800060}", MQ_EDENIED},
        /* sub. */
        {ok_header, "{\"exp\":1763800060}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"\",\"exp\":1763800060}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"a/b\",\"exp\":1763800060}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"a+\",\"exp\":1763800060}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"al ice\",\"exp\":1763800060}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"\\u00e9\",\"exp\":1763800060}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\\u0000x\",\"exp\":1763800060}", MQ_EDENIED},
        {ok_header, "{\"sub\":42,\"exp\":1763800060}", MQ_EDENIED},
        {ok_header, "{\"sub\":[\"alice\"],\"exp\":1763800060}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"bob\",\"sub\":\"alice\",\"exp\":1763800060}", MQ_EDENIED},
        {ok_header,
         "{\"sub\":\"0123456789012345678901234567890123456789012345678901234567890123\","
         "\"exp\":1763800060}",
         MQ_OK},
        {ok_header,
         "{\"sub\":\"01234567890123456789012345678901234567890123456789012345678901234\","
         "\"exp\":1763800060}",
         MQ_EDENIED},
        /* iat: at most 300 s ahead. */
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060,\"iat\":1763800300}", MQ_OK},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060,\"iat\":1763800301}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060,\"iat\":1863800000}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060,\"iat\":\"0\"}", MQ_EDENIED},
        /* role. */
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060,\"role\":\"123456789012345\"}", MQ_OK},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060,\"role\":\"1234567890123456\"}",
         MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060,\"role\":1}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060,\"role\":null}", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060,\"role\":\"a\",\"role\":\"service\"}",
         MQ_EDENIED},
        /* Not an object, not JSON. */
        {ok_header, "[{\"sub\":\"alice\",\"exp\":1763800060}]", MQ_EDENIED},
        {ok_header, "\"alice\"", MQ_EDENIED},
        {ok_header, "null", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060} x", MQ_EDENIED},
        {ok_header, "{\"sub\":\"alice\",\"exp\":1763800060}{}", MQ_EDENIED},
        {ok_header, "{'sub':'alice','exp':1763800060}", MQ_EDENIED},
        {ok_header, "\xff\xfe", MQ_EDENIED},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char tok[BIG_TOKEN];
        struct jwt_claims c;
        forge(cases[i].header, cases[i].payload, tok);
        int rc = verify_str(tok, &c);
        if (rc != cases[i].rc)
            print_error("case %zu: %s . %s\n", i, cases[i].header, cases[i].payload);
        assert_int_equal(rc, cases[i].rc);
    }
}

static void test_payload_nul(void **state)
{
    /* A raw NUL inside the payload JSON, signed. */
    static const char payload[] = "{\"sub\":\"alice\",\"exp\":1763800060}\0garbage";
    char tok[BIG_TOKEN];
    struct jwt_claims c;

    forge_n("{\"alg\":\"HS256\"}", payload, sizeof(payload) - 1, tok);
    assert_int_equal(verify_str(tok, &c), MQ_EDENIED);
    forge_n("{\"alg\":\"HS256\"}", payload, strlen(payload), tok);
    assert_int_equal(verify_str(tok, &c), MQ_OK);
}

/* Signed tokens whose first two parts are not canonical base64url. */
static void test_signed_bad_base64(void **state)
{
    /* {"alg":"HS256"} and {"sub":"alice","exp":1763800060}: 43 characters,
     * the last one with 2 unused (zero) bits. */
    static const char h[] = "eyJhbGciOiJIUzI1NiJ9";
    static const char p[] = "eyJzdWIiOiJhbGljZSIsImV4cCI6MTc2MzgwMDA2MH0";
    static const struct {
        const char *h, *p;
        int rc;
    } cases[] = {
        {h, p, MQ_OK},
        {h, "eyJzdWIiOiJhbGljZSIsImV4cCI6MTc2MzgwMDA2MH1", MQ_EDENIED},   /* unused bit set */
        {h, "eyJzdWIiOiJhbGljZSIsImV4cCI6MTc2MzgwMDA2MH0A", MQ_EDENIED},  /* 44 = 4k */
        {h, "eyJzdWIiOiJhbGljZSIsImV4cCI6MTc2MzgwMDA2MH0AA", MQ_EDENIED}, /* NUL bytes */
        {"eyJhbGciOiJIUzI1NiJ9A", p, MQ_EDENIED},                         /* 4k + 1 */
        {"eyJhbGciOiJIUzI1NiJ9==", p, MQ_EDENIED},                        /* padding */
        {"eyJhbGciOiJIUzI1NiJ9", "", MQ_EDENIED},                         /* empty */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char tok[BIG_TOKEN];
        struct jwt_claims c;
        forge_raw(cases[i].h, cases[i].p, tok);
        assert_int_equal(verify_str(tok, &c), cases[i].rc);
    }
}

static void test_bad_base64(void **state)
{
    struct jwt_claims c = {.sub = "alice", .exp = NOW + 60};
    char tok[512], bad[600];
    int n = jwt_sign(SECRET, &c, tok, sizeof(tok));
    size_t h = (size_t)(strchr(tok, '.') - tok);
    size_t s = (size_t)(strrchr(tok, '.') - tok);

    assert_true(n > 0);
    /* Padding, standard-alphabet characters, whitespace. */
    snprintf(bad, sizeof(bad), "%s=", tok);
    assert_int_equal(verify_str(bad, &c), MQ_EDENIED);
    snprintf(bad, sizeof(bad), "%.*s=%s", (int)h, tok, tok + h);
    assert_int_equal(verify_str(bad, &c), MQ_EDENIED);
    strcpy(bad, tok);
    bad[s + 5] = '+';
    assert_int_equal(verify_str(bad, &c), MQ_EDENIED);
    strcpy(bad, tok);
    bad[2] = '/';
    assert_int_equal(verify_str(bad, &c), MQ_EDENIED);
    snprintf(bad, sizeof(bad), "%.*s %s", (int)h, tok, tok + h);
    assert_int_equal(verify_str(bad, &c), MQ_EDENIED);

    /* The signature's last character carries 2 unused bits: non-zero
     * ones make another spelling of the same bytes, which is refused. */
    strcpy(bad, tok);
    char *last = bad + strlen(bad) - 1;
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(a, *last) - a);
    assert_int_equal(v & 3, 0);
    *last = a[v | 1];
    assert_int_equal(verify_str(bad, &c), MQ_EDENIED);

    /* A header part of impossible length (4k + 1 characters). */
    snprintf(bad, sizeof(bad), "eyJhb.%s", tok + h + 1);
    assert_int_equal(verify_str(bad, &c), MQ_EDENIED);

    /* Empty parts, missing parts, extra parts. */
    static const char *const shapes[] = {"", ".", "..", "a.b", "a.b.c.d", ".b.c", "a..c", "a.b."};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        assert_int_equal(verify_str(shapes[i], &c), MQ_EDENIED);
    assert_int_equal(jwt_verify(SECRET, NULL, 0, NOW, &c), MQ_EDENIED);
}

static void test_too_long(void **state)
{
    /* Correctly signed, valid, but over JWT_MAX_LEN: refused unread. */
    char payload[4000];
    char *tok = malloc(BIG_TOKEN);
    struct jwt_claims c;

    assert_non_null(tok);
    snprintf(payload, sizeof(payload), "{\"sub\":\"alice\",\"exp\":1763800060,\"pad\":\"%3000d\"}",
             0);
    forge("{\"alg\":\"HS256\"}", payload, tok);
    assert_true(strlen(tok) > JWT_MAX_LEN);
    assert_false(jwt_is_token_shaped(tok, strlen(tok)));
    assert_int_equal(verify_str(tok, &c), MQ_EDENIED);

    /* The same padding a little shorter fits, and passes. */
    snprintf(payload, sizeof(payload), "{\"sub\":\"alice\",\"exp\":1763800060,\"pad\":\"%2900d\"}",
             0);
    forge("{\"alg\":\"HS256\"}", payload, tok);
    assert_true(strlen(tok) <= JWT_MAX_LEN);
    assert_int_equal(verify_str(tok, &c), MQ_OK);
    free(tok);
}

static void test_token_shaped(void **state)
{
    static const struct {
        const char *s;
        bool shaped;
    } cases[] = {
        {VECTOR1, true},          {"a.b.c", true},
        {"A-_.0_9.zZ-", true},    {"", false},
        {"hunter2", false},       {"a.b", false},
        {"a.b.c.d", false},       {"a..c", false},
        {".b.c", false},          {"a.b.", false},
        {"a.b.c=", false},        {"a+b.c.d", false},
        {"a/b.c.d", false},       {"a b.c.d", false},
        {"my.pass.word!", false}, {"caf\xc3\xa9.b.c", false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (jwt_is_token_shaped(cases[i].s, strlen(cases[i].s)) != cases[i].shaped)
            print_error("case %zu: %s\n", i, cases[i].s);
        assert_int_equal(jwt_is_token_shaped(cases[i].s, strlen(cases[i].s)), cases[i].shaped);
    }
    /* The length given is what counts, not the NUL. */
    assert_true(jwt_is_token_shaped("a.b.c.d", 5));
    assert_false(jwt_is_token_shaped("a.b.c", 4));

    /* JWT_MAX_LEN exactly, and one more. */
    char *big = malloc(JWT_MAX_LEN + 2);
    assert_non_null(big);
    memset(big, 'x', JWT_MAX_LEN + 1);
    big[1] = '.';
    big[3] = '.';
    assert_true(jwt_is_token_shaped(big, JWT_MAX_LEN));
    assert_false(jwt_is_token_shaped(big, JWT_MAX_LEN + 1));
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),       cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_sign_refusals), cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_expiry),        cmocka_unit_test(test_forged),
        cmocka_unit_test(test_payload_nul),   cmocka_unit_test(test_signed_bad_base64),
        cmocka_unit_test(test_bad_base64),    cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_token_shaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
