/*
 * auth.c - checks usernames and passwords against a Mosquitto password file.
 *
 * Each line of the file is `username:hash`; the hash forms, as
 * mosquitto_passwd writes them (Mosquitto 2.0), are
 *
 *   $7$ITERATIONS$SALT$HASH   HASH = PBKDF2-HMAC-SHA512(password, salt,
 *                                    ITERATIONS rounds, 64 bytes)
 *   $6$SALT$HASH              HASH = SHA-512(password bytes || salt bytes)
 *
 * where SALT and HASH are standard base64 (RFC 4648 alphabet, '=' padding)
 * of the raw bytes: the salt is 12 bytes and the PBKDF2 salt is the decoded
 * bytes, not the base64 text. The username is everything before the first
 * ':'. Lines are not trimmed except for the line ending and trailing blanks;
 * a '#' in the first column starts a comment.
 *
 * A username given twice is a load error naming both lines; Mosquitto
 * 2.0.11 silently lets the last line win, but a file that says two things
 * about one user is more likely a mistake than an intent.
 *
 * The database is a sorted array searched by binary search; a check of an
 * unknown user still runs one hash so that the answer's timing does not say
 * which usernames exist. This file is not where a user is allowed to connect
 * anonymously, nor where ACLs are kept (acl.c).
 */
#include "auth.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "errors.h"
#include "textutil.h"

#define HASH_LEN     64 /* bytes of SHA-512 output, and of the $7$ derived key */
#define SALT_MAX     64 /* longest salt accepted from a file, in bytes */
#define NEW_SALT_LEN 12 /* salt bytes passwd_hash() generates, as Mosquitto does */

enum hash_kind {
    HASH_SHA512 = 6, /* $6$: one SHA-512 over password then salt */
    HASH_PBKDF2 = 7, /* $7$: PBKDF2-HMAC-SHA512 */
};

struct passwd_entry {
    char *user;             /* owned, NUL-terminated copy of the username */
    size_t user_len;        /* strlen(user) */
    enum hash_kind kind;    /* which of the two forms the line used */
    unsigned iterations;    /* PBKDF2 rounds ($7$ only), >= 1 */
    size_t salt_len;        /* bytes used in salt[], 1..SALT_MAX */
    uint8_t salt[SALT_MAX]; /* decoded salt bytes */
    uint8_t hash[HASH_LEN]; /* decoded expected hash */
    unsigned line;          /* line number in the file, for duplicate errors */
};

struct passwd_db {
    struct passwd_entry *a; /* n entries sorted by (user bytes, length) */
    size_t n;
    struct passwd_entry decoy; /* hashed against when the user is unknown */
};

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The 6-bit value of a base64 character, or -1. */
static int b64_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/*
 * Decodes n characters of padded base64 at z into out (room for outcap
 * bytes). Returns the number of bytes decoded, or -1 when the text is not
 * canonical padded base64 (length not a multiple of 4, stray characters,
 * '=' anywhere but at the end) or does not fit.
 */
static long b64_decode(const char *z, size_t n, uint8_t *out, size_t outcap)
{
    if (n == 0 || n % 4 != 0)
        return -1;
    size_t pad = 0;
    if (z[n - 1] == '=')
        pad = z[n - 2] == '=' ? 2 : 1;
    size_t nout = n / 4 * 3 - pad;
    if (nout > outcap)
        return -1;

    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t group = 0;
        for (size_t j = 0; j < 4; j++) {
            int v;
            if (i + j >= n - pad)
                v = 0; /* a padding position */
            else if ((v = b64_value(z[i + j])) < 0)
                return -1;
            group = group << 6 | (uint32_t)v;
        }
        uint8_t bytes[3] = {(uint8_t)(group >> 16), (uint8_t)(group >> 8), (uint8_t)group};
        for (size_t j = 0; j < 3 && o < nout; j++)
            out[o++] = bytes[j];
    }
    return (long)nout;
}

/* Encodes n bytes as padded base64 into out, which must hold 4*ceil(n/3)+1
 * characters. */
static void b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t group = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            group |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            group |= in[i + 2];
        out[o++] = b64_alphabet[group >> 18 & 63];
        out[o++] = b64_alphabet[group >> 12 & 63];
        out[o++] = i + 1 < n ? b64_alphabet[group >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64_alphabet[group & 63] : '=';
    }
    out[o] = '\0';
}

/* Computes e's kind of hash of password into out. Returns 0, or -1 when
 * OpenSSL fails (no memory) or the password is longer than it takes. */
static int compute_hash(const struct passwd_entry *e, const uint8_t *password, size_t password_len,
                        uint8_t out[HASH_LEN])
{
    if (password_len > INT_MAX)
        return -1;
    if (e->kind == HASH_PBKDF2) {
        int ok =
            PKCS5_PBKDF2_HMAC((const char *)password, (int)password_len, e->salt, (int)e->salt_len,
                              (int)e->iterations, EVP_sha512(), HASH_LEN, out);
        return ok == 1 ? 0 : -1;
    }

    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned outlen = 0;
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, password, password_len) == 1 &&
             EVP_DigestUpdate(ctx, e->salt, e->salt_len) == 1 &&
             EVP_DigestFinal_ex(ctx, out, &outlen) == 1 && outlen == HASH_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* Splits the n characters at z on '$' into at most max fields (pointers and
 * lengths). Returns the number of fields. */
static size_t split_dollar(const char *z, size_t n, const char **f, size_t *flen, size_t max)
{
    size_t nf = 0, start = 0;
    for (size_t i = 0; i <= n && nf < max; i++) {
        if (i == n || z[i] == '$') {
            f[nf] = z + start;
            flen[nf] = i - start;
            nf++;
            start = i + 1;
        }
    }
    return nf;
}

/*
 * Parses the hash part of a line (n characters at z) into e. Returns NULL on
 * success or a static description of what is wrong.
 */
static const char *parse_hash(const char *z, size_t n, struct passwd_entry *e)
{
    const char *f[6];
    size_t flen[6];
    size_t nf = split_dollar(z, n, f, flen, 6);

    if (n == 0)
        return "missing hash";
    if (nf < 1 || flen[0] != 0)
        return "hash does not start with '$'";
    const char *salt_b64, *hash_b64;
    size_t salt_n, hash_n;
    if (nf >= 2 && flen[1] == 1 && f[1][0] == '7') {
        if (nf != 5)
            return "a $7$ hash is $7$ITERATIONS$SALT$HASH";
        unsigned long iter = 0;
        if (flen[2] == 0 || flen[2] > 9)
            return "bad iteration count";
        for (size_t i = 0; i < flen[2]; i++) {
            if (f[2][i] < '0' || f[2][i] > '9')
                return "bad iteration count";
            iter = iter * 10 + (unsigned long)(f[2][i] - '0');
        }
        if (iter == 0)
            return "bad iteration count";
        e->kind = HASH_PBKDF2;
        e->iterations = (unsigned)iter;
        salt_b64 = f[3], salt_n = flen[3];
        hash_b64 = f[4], hash_n = flen[4];
    } else if (nf >= 2 && flen[1] == 1 && f[1][0] == '6') {
        if (nf != 4)
            return "a $6$ hash is $6$SALT$HASH";
        e->kind = HASH_SHA512;
        e->iterations = 0;
        salt_b64 = f[2], salt_n = flen[2];
        hash_b64 = f[3], hash_n = flen[3];
    } else {
        return "unknown hash type (expected $6$ or $7$)";
    }

    long got = b64_decode(salt_b64, salt_n, e->salt, sizeof(e->salt));
    if (got <= 0)
        return "bad salt";
    e->salt_len = (size_t)got;
    if (b64_decode(hash_b64, hash_n, e->hash, sizeof(e->hash)) != HASH_LEN)
        return "bad hash (expected 64 bytes of base64)";
    return NULL;
}

/* Orders entries by username bytes, shorter first on a common prefix. */
static int entry_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int entry_qsort_cmp(const void *pa, const void *pb)
{
    const struct passwd_entry *a = pa, *b = pb;
    int c = entry_cmp(a->user, a->user_len, b->user, b->user_len);
    if (c != 0)
        return c;
    return a->line < b->line ? -1 : a->line > b->line;
}

void passwd_db_free(struct passwd_db *db)
{
    if (db == NULL)
        return;
    for (size_t i = 0; i < db->n; i++) {
        OPENSSL_cleanse(db->a[i].hash, sizeof(db->a[i].hash));
        free(db->a[i].user);
    }
    free(db->a);
    OPENSSL_cleanse(db, sizeof(*db));
    free(db);
}

int passwd_db_load(const char *path, struct passwd_db **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        text_err(err, errlen, "%s: %s", path, strerror(errno));
        return MQ_EIO;
    }

    int rc = MQ_OK;
    char *line = NULL;
    size_t cap = 0, acap = 0;
    unsigned lineno = 0;
    ssize_t len;
    struct passwd_db *db = calloc(1, sizeof(*db));
    if (db == NULL)
        goto nomem;

    while ((len = getline(&line, &cap, f)) != -1) {
        lineno++;
        size_t n = (size_t)len;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                         line[n - 1] == '\t'))
            n--;
        if (n == 0 || line[0] == '#')
            continue;

        const char *colon = memchr(line, ':', n);
        const char *what = NULL;
        struct passwd_entry e = {0};
        if (colon == NULL)
            what = "expected username:hash";
        else if (colon == line)
            what = "empty username";
        else if (memchr(line, '\0', n) != NULL)
            what = "NUL byte in line";
        else
            what = parse_hash(colon + 1, n - (size_t)(colon + 1 - line), &e);
        if (what != NULL) {
            text_err(err, errlen, "%s:%u: %s", path, lineno, what);
            rc = MQ_EINVAL;
            goto err;
        }

        e.user_len = (size_t)(colon - line);
        e.user = strndup(line, e.user_len);
        e.line = lineno;
        if (e.user == NULL)
            goto nomem;
        if (db->n == acap) {
            size_t ncap = acap ? acap * 2 : 16;
            struct passwd_entry *na = realloc(db->a, ncap * sizeof(*na));
            if (na == NULL) {
                free(e.user);
                goto nomem;
            }
            db->a = na;
            acap = ncap;
        }
        db->a[db->n++] = e;
        db->decoy = e;
        db->decoy.user = NULL;
    }
    if (ferror(f)) {
        text_err(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
        rc = MQ_EIO;
        goto err;
    }

    if (db->n > 0)
        qsort(db->a, db->n, sizeof(db->a[0]), entry_qsort_cmp);
    for (size_t i = 1; i < db->n; i++) {
        if (entry_cmp(db->a[i - 1].user, db->a[i - 1].user_len, db->a[i].user, db->a[i].user_len) ==
            0) {
            text_err(err, errlen, "%s:%u: duplicate user '%s' (first on line %u)", path,
                     db->a[i].line, db->a[i].user, db->a[i - 1].line);
            rc = MQ_EINVAL;
            goto err;
        }
    }
    if (db->n == 0) {
        /* Still cost one ordinary hash for every check. */
        db->decoy.kind = HASH_PBKDF2;
        db->decoy.iterations = 101;
        db->decoy.salt_len = NEW_SALT_LEN;
    }

    free(line);
    fclose(f);
    *out = db;
    return MQ_OK;

nomem:
    text_err(err, errlen, "%s: out of memory", path);
    rc = MQ_ENOMEM;
err:
    free(line);
    fclose(f);
    passwd_db_free(db);
    return rc;
}

/* The entry of user, or NULL (binary search of the sorted array). */
static const struct passwd_entry *passwd_db_find(const struct passwd_db *db, const char *user,
                                                 size_t user_len)
{
    size_t lo = 0, hi = db->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = entry_cmp(user, user_len, db->a[mid].user, db->a[mid].user_len);
        if (c == 0)
            return &db->a[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

bool passwd_db_has_user(const struct passwd_db *db, const char *user, size_t user_len)
{
    return db && user && passwd_db_find(db, user, user_len) != NULL;
}

int passwd_db_check(const struct passwd_db *db, const char *user, size_t user_len,
                    const uint8_t *password, size_t password_len)
{
    if (db == NULL || user == NULL)
        return MQ_EDENIED;

    const struct passwd_entry *e = passwd_db_find(db, user, user_len);

    static const uint8_t empty[1];
    const uint8_t *pw = password ? password : empty;
    size_t pwlen = password ? password_len : 0;
    uint8_t got[HASH_LEN];
    int ok = compute_hash(e ? e : &db->decoy, pw, pwlen, got) == 0;
    ok = ok && e != NULL && password != NULL && CRYPTO_memcmp(got, e->hash, HASH_LEN) == 0;
    OPENSSL_cleanse(got, sizeof(got));
    return ok ? MQ_OK : MQ_EDENIED;
}

int passwd_hash(const char *password, unsigned iterations, char *out, size_t outlen)
{
    if (password == NULL || out == NULL || iterations == 0 || iterations > INT_MAX)
        return MQ_EINVAL;
    struct passwd_entry e = {
        .kind = HASH_PBKDF2, .iterations = iterations, .salt_len = NEW_SALT_LEN};
    if (RAND_bytes(e.salt, NEW_SALT_LEN) != 1)
        return MQ_EIO;
    if (compute_hash(&e, (const uint8_t *)password, strlen(password), e.hash) != 0)
        return MQ_EIO; /* OpenSSL could not run the hash: counted as "no randomness" */

    char salt_b64[(NEW_SALT_LEN + 2) / 3 * 4 + 1];
    char hash_b64[(HASH_LEN + 2) / 3 * 4 + 1];
    b64_encode(e.salt, NEW_SALT_LEN, salt_b64);
    b64_encode(e.hash, HASH_LEN, hash_b64);
    OPENSSL_cleanse(e.hash, sizeof(e.hash));
    int n = snprintf(out, outlen, "$7$%u$%s$%s", iterations, salt_b64, hash_b64);
    if (n < 0 || (size_t)n >= outlen) {
        if (outlen > 0)
            out[0] = '\0';
        return MQ_EINVAL;
    }
    return MQ_OK;
}
