/*
 * test_password.c - Argon2id password hashes (broker/password.c): the
 * encoded form and its parameters, hash then verify, salts that differ,
 * the length limits, and encoded strings that are not ours (garbage,
 * other algorithms, parameters too costly to honour). Each hash costs tens
 * of milliseconds: the cases are few on purpose.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "errors.h"
#include "password.h"

#define PW(s) (const uint8_t *)(s), strlen(s)

static const char PREFIX[] = "$argon2id$v=19$m=19456,t=2,p=1$";

static void test_hash_and_verify(void **state)
{
    static const char *const passwords[] = {
        "correct horse battery staple",
        "x",
        "p\xc3\xa4ssw\xc3\xb6rd \xf0\x9f\x94\x91",
    };

    for (size_t i = 0; i < sizeof(passwords) / sizeof(passwords[0]); i++) {
        char h[PASSWORD_HASH_MAX];
        const char *pw = passwords[i];
        assert_int_equal(password_hash(pw, strlen(pw), h, sizeof(h)), MQ_OK);
        assert_true(strlen(h) < PASSWORD_HASH_MAX);
        /* Parameters travel with the hash; salt 16 bytes and hash 32 bytes
         * in unpadded base64: 22 and 43 characters. */
        assert_memory_equal(h, PREFIX, sizeof(PREFIX) - 1);
        assert_int_equal(strlen(h), sizeof(PREFIX) - 1 + 22 + 1 + 43);
        assert_int_equal(h[sizeof(PREFIX) - 1 + 22], '$');

        assert_int_equal(password_verify(h, PW(pw)), MQ_OK);
        /* Wrong passwords: another, a prefix, one byte more, case. */
        assert_int_equal(password_verify(h, PW("Correct horse battery staple")), MQ_EDENIED);
        assert_int_equal(password_verify(h, (const uint8_t *)pw, strlen(pw) - 1), MQ_EDENIED);
        char longer[64];
        strcpy(longer, pw);
        strcat(longer, "!");
        assert_int_equal(password_verify(h, PW(longer)), MQ_EDENIED);
    }
}

static void test_salted(void **state)
{
    char a[PASSWORD_HASH_MAX], b[PASSWORD_HASH_MAX];

    assert_int_equal(password_hash("same", 4, a, sizeof(a)), MQ_OK);
    assert_int_equal(password_hash("same", 4, b, sizeof(b)), MQ_OK);
    assert_string_not_equal(a, b);
    assert_int_equal(password_verify(a, PW("same")), MQ_OK);
    assert_int_equal(password_verify(b, PW("same")), MQ_OK);
}

static void test_binary_password(void **state)
{
    /* Bytes, not a C string: a NUL inside counts. */
    static const char pw[] = "ab\0cd";
    char h[PASSWORD_HASH_MAX];

    assert_int_equal(password_hash(pw, 5, h, sizeof(h)), MQ_OK);
    assert_int_equal(password_verify(h, (const uint8_t *)pw, 5), MQ_OK);
    assert_int_equal(password_verify(h, (const uint8_t *)pw, 2), MQ_EDENIED);
}

static void test_lengths(void **state)
{
    char h[PASSWORD_HASH_MAX], ok[PASSWORD_HASH_MAX];
    char *big = malloc(PASSWORD_MAX_LEN + 1);

    assert_non_null(big);
    memset(big, 'p', PASSWORD_MAX_LEN + 1);
    assert_int_equal(password_hash("", 0, h, sizeof(h)), MQ_EINVAL);
    assert_int_equal(password_hash(big, PASSWORD_MAX_LEN + 1, h, sizeof(h)), MQ_EINVAL);
    assert_int_equal(password_hash("pw", 2, h, PASSWORD_HASH_MAX - 1), MQ_EINVAL);

    assert_int_equal(password_hash(big, PASSWORD_MAX_LEN, ok, sizeof(ok)), MQ_OK);
    assert_int_equal(password_verify(ok, (const uint8_t *)big, PASSWORD_MAX_LEN), MQ_OK);
    assert_int_equal(password_verify(ok, (const uint8_t *)big, PASSWORD_MAX_LEN + 1), MQ_EDENIED);
    assert_int_equal(password_verify(ok, (const uint8_t *)"", 0), MQ_EDENIED);
    assert_int_equal(password_verify(ok, NULL, 0), MQ_EDENIED);
    free(big);
}

static void test_not_a_hash(void **state)
{
    char h[PASSWORD_HASH_MAX], bad[PASSWORD_HASH_MAX + 64];

    assert_int_equal(password_hash("secret", 6, h, sizeof(h)), MQ_OK);
    const char *tail = h + sizeof(PREFIX) - 1; /* SALT$HASH */

    static const char *const garbage[] = {
        "",
        "secret",
        "$",
        "$argon2id$",
        "$argon2id$v=19$",
        "$argon2id$v=19$m=19456,t=2,p=1$",
        "$argon2id$v=19$m=19456,t=2,p=1$$",
        "$argon2id$v=19$m=19456,t=2,p=1$!!!!$!!!!",
        "$7$101$c2FsdA==$aGFzaA==",
        "$6$salt$hash",
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        assert_int_equal(password_verify(garbage[i], PW("secret")), MQ_EDENIED);
    assert_int_equal(password_verify(NULL, PW("secret")), MQ_EDENIED);

    /* The same salt and hash under other parameter texts. */
    static const char *const params[] = {
        "$argon2i$v=19$m=19456,t=2,p=1$",       /* Argon2i, not id */
        "$argon2d$v=19$m=19456,t=2,p=1$",       /* Argon2d */
        "$argon2id$v=19$m=19456,t=3,p=1$",      /* other passes: other hash */
        "$argon2id$v=19$m=4194304,t=2,p=1$",    /* 4 GiB: refused unread */
        "$argon2id$v=19$m=19456,t=100000,p=1$", /* minutes of CPU */
        "$argon2id$v=19$m=19456,t=2,p=255$",    /* lanes */
        "$argon2id$v=19$m=99999999999999999999999,t=2,p=1$",
        "$argon2id$v=19$m=-1,t=2,p=1$",
        "$argon2id$v=19$t=2,m=19456,p=1$",
        "$argon2id$v=16$m=19456,t=2,p=1$",
    };
    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        snprintf(bad, sizeof(bad), "%s%s", params[i], tail);
        assert_int_equal(password_verify(bad, PW("secret")), MQ_EDENIED);
    }
    /* And the original again, to show the tail was right. */
    snprintf(bad, sizeof(bad), "%s%s", PREFIX, tail);
    assert_int_equal(password_verify(bad, PW("secret")), MQ_OK);

    /* Truncated or extended encodings. */
    strcpy(bad, h);
    bad[strlen(bad) - 1] = '\0';
    assert_int_equal(password_verify(bad, PW("secret")), MQ_EDENIED);
    snprintf(bad, sizeof(bad), "%sA", h);
    assert_int_equal(password_verify(bad, PW("secret")), MQ_EDENIED);

    /* Something very long. */
    char *huge = malloc(100000);
    assert_non_null(huge);
    memset(huge, 'A', 99999);
    huge[99999] = '\0';
    memcpy(huge, PREFIX, sizeof(PREFIX) - 1);
    assert_int_equal(password_verify(huge, PW("secret")), MQ_EDENIED);
    free(huge);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_and_verify), cmocka_unit_test(test_salted),
        cmocka_unit_test(test_binary_password), cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_not_a_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
