/*
 * password.c - Argon2id password hashes through libargon2 (see password.h).
 *
 * New hashes use the parameters below; a stored hash is checked with the
 * parameters it carries, within sanity bounds (PW_VERIFY_MAX_*): a corrupt
 * or hostile row saying m=4194304 must not make the broker allocate 4 GiB
 * or spin for minutes. The bounds are far above today's parameters so that
 * they can be raised without touching this check.
 *
 * The salt comes from getrandom(2). libargon2 wipes its working memory and
 * compares hashes in constant time. Not here: rate limiting of failed
 * logins, and where hashes are stored (chat_dir.c).
 */
#include "password.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>

#include <argon2.h>

#include "errors.h"

#define PW_T_COST   2
#define PW_M_COST   19456 /* KiB */
#define PW_LANES    1
#define PW_SALT_LEN 16
#define PW_HASH_LEN 32

#define PW_VERIFY_MAX_M (256u * 1024) /* KiB: 256 MiB */
#define PW_VERIFY_MAX_T 16
#define PW_VERIFY_MAX_P 16
#define PW_ENCODED_MAX  512 /* longer "hashes" are garbage */

static const char pw_prefix[] = "$argon2id$";

/* Fills buf with n bytes from the kernel's CSPRNG; MQ_EIO when it fails. */
static int pw_random(uint8_t *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return MQ_EIO;
        }
        got += (size_t)r;
    }
    return MQ_OK;
}

int password_hash(const char *pw, size_t len, char *out, size_t outlen)
{
    uint8_t salt[PW_SALT_LEN];
    int rc;

    if (!pw || !out || len == 0 || len > PASSWORD_MAX_LEN || outlen < PASSWORD_HASH_MAX)
        return MQ_EINVAL;
    if ((rc = pw_random(salt, sizeof(salt))) != MQ_OK)
        goto err;
    switch (argon2id_hash_encoded(PW_T_COST, PW_M_COST, PW_LANES, pw, len, salt, sizeof(salt),
                                  PW_HASH_LEN, out, outlen)) {
    case ARGON2_OK:
        return MQ_OK;
    case ARGON2_MEMORY_ALLOCATION_ERROR:
        rc = MQ_ENOMEM;
        break;
    default:
        rc = MQ_EIO; /* nothing the caller did: the library failed */
        break;
    }
err:
    out[0] = '\0';
    return rc;
}

/* Reads "<key>=<decimal>" at *p, followed by the byte end; advances *p past
 * it. False when the text does not match or the number exceeds max. */
static bool pw_param(const char **p, char key, char end, unsigned long max, unsigned long *v)
{
    const char *z = *p;
    unsigned long n = 0;

    if (z[0] != key || z[1] != '=')
        return false;
    z += 2;
    if (*z < '0' || *z > '9')
        return false;
    while (*z >= '0' && *z <= '9') {
        n = n * 10 + (unsigned long)(*z++ - '0');
        if (n > max)
            return false;
    }
    if (*z != end)
        return false;
    *p = z + 1;
    *v = n;
    return true;
}

/* True when encoded is an Argon2id hash whose parameters are within the
 * bounds this broker is willing to spend on a check. */
static bool pw_params_sane(const char *encoded)
{
    const char *z = encoded + sizeof(pw_prefix) - 1;
    unsigned long v, m, t, p;

    if (z[0] == 'v' && !pw_param(&z, 'v', '$', 0xff, &v))
        return false;
    return pw_param(&z, 'm', ',', PW_VERIFY_MAX_M, &m) &&
           pw_param(&z, 't', ',', PW_VERIFY_MAX_T, &t) &&
           pw_param(&z, 'p', '$', PW_VERIFY_MAX_P, &p);
}

int password_verify(const char *encoded, const uint8_t *pw, size_t len)
{
    size_t n;

    if (!encoded || !pw || len == 0 || len > PASSWORD_MAX_LEN)
        return MQ_EDENIED;
    n = strnlen(encoded, PW_ENCODED_MAX + 1);
    if (n > PW_ENCODED_MAX || strncmp(encoded, pw_prefix, sizeof(pw_prefix) - 1) != 0)
        return MQ_EDENIED;
    if (!pw_params_sane(encoded))
        return MQ_EDENIED;
    return argon2id_verify(encoded, pw, len) == ARGON2_OK ? MQ_OK : MQ_EDENIED;
}
