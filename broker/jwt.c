/*
 * jwt.c - HS256 JSON Web Tokens (RFC 7519, JWS compact form of RFC 7515),
 * signed and checked (see jwt.h).
 *
 * Only what mqchat needs: one algorithm (HMAC-SHA256), one key, four
 * claims. Base64url is RFC 4648 section 5 without '=' padding; the decoder
 * is strict (no padding, no whitespace, no other alphabet, unused low bits
 * zero), so that one token has exactly one spelling. The signature is
 * checked before any JSON is parsed; the header must then be a JSON object
 * with "alg":"HS256" and no "crit" (RFC 7515 4.1.11: extensions we do not
 * know must be refused). A claim that appears twice refuses the token, as
 * does a "\u0000" escape anywhere in the JSON: both are ways of making two
 * readers see two different tokens.
 *
 * Not here: where the secret comes from, what a role allows (chat.c), and
 * token revocation (there is none; tokens are short-lived).
 */
#include "jwt.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "errors.h"
#include "json.h"

#define JWT_SIG_LEN     32                 /* bytes of an HMAC-SHA256 */
#define JWT_SIG_B64_LEN 43                 /* its base64url length */
#define JWT_IAT_SKEW    300                /* seconds an iat may be ahead of our clock */
#define JWT_NUM_LIMIT   9007199254740992.0 /* 2^53: larger times are refused */

/* The header every token we sign carries: {"alg":"HS256","typ":"JWT"}. */
static const char jwt_header_b64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of a base64url character, or -1. */
static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Base64url of in[0..n) into out, unpadded and not NUL-terminated. Returns
 * its length; out must hold (n * 4 + 2) / 3 bytes. */
static size_t b64url_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;

    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
    }
    return o;
}

/*
 * Decodes unpadded base64url in[0..n) into out (which holds n * 3 / 4
 * bytes). Returns the decoded length, or -1 for a character outside the
 * alphabet, an impossible length (n % 4 == 1), or non-zero unused bits.
 */
static long b64url_decode(const char *in, size_t n, uint8_t *out)
{
    size_t o = 0, i = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (n % 4 == 1)
        return -1;
    for (; i < n; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1))
        return -1;
    return (long)o;
}

static bool jwt_sub_valid(const char *s, size_t n)
{
    if (n == 0 || n > JWT_SUB_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* HMAC-SHA256(secret, msg[0..n)) into mac. False when OpenSSL fails or the
 * secret is empty or absurdly long. */
static bool jwt_hmac(const uint8_t *secret, size_t secret_len, const char *msg, size_t n,
                     uint8_t mac[JWT_SIG_LEN])
{
    unsigned int mac_len = 0;

    if (!secret || secret_len == 0 || secret_len > INT_MAX)
        return false;
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)msg, n, mac, &mac_len))
        return false;
    return mac_len == JWT_SIG_LEN;
}

int jwt_sign(const uint8_t *secret, size_t secret_len, const struct jwt_claims *c, char *out,
             size_t outlen)
{
    char payload[256]; /* the longest claims take 153 bytes */
    uint8_t mac[JWT_SIG_LEN];
    size_t sub_len = strnlen(c->sub, sizeof(c->sub));
    size_t role_len = strnlen(c->role, sizeof(c->role));
    size_t n, need;
    int len;

    /* The role is written unescaped: user-id characters only. */
    if (!jwt_sub_valid(c->sub, sub_len) || role_len > JWT_ROLE_MAX ||
        (role_len && !jwt_sub_valid(c->role, role_len)))
        return MQ_EINVAL;
    len = snprintf(payload, sizeof(payload), "{\"sub\":\"%s\"", c->sub);
    if (role_len)
        len += snprintf(payload + len, sizeof(payload) - (size_t)len, ",\"role\":\"%s\"", c->role);
    if (c->iat)
        len += snprintf(payload + len, sizeof(payload) - (size_t)len, ",\"iat\":%" PRId64, c->iat);
    len += snprintf(payload + len, sizeof(payload) - (size_t)len, ",\"exp\":%" PRId64 "}", c->exp);

    /* header "." payload "." signature NUL */
    need = (sizeof(jwt_header_b64) - 1) + 1 + ((size_t)len * 4 + 2) / 3 + 1 + JWT_SIG_B64_LEN + 1;
    if (need > outlen)
        return MQ_EINVAL;
    n = sizeof(jwt_header_b64) - 1;
    memcpy(out, jwt_header_b64, n);
    out[n++] = '.';
    n += b64url_encode((const uint8_t *)payload, (size_t)len, out + n);
    if (!jwt_hmac(secret, secret_len, out, n, mac))
        return MQ_EINVAL;
    out[n++] = '.';
    n += b64url_encode(mac, sizeof(mac), out + n);
    out[n] = '\0';
    return (int)n;
}

/* A JSON object from base64url b64[0..n), or NULL. */
static cJSON *jwt_decode_object(const char *b64, size_t n)
{
    uint8_t buf[JWT_MAX_LEN];
    long len;
    cJSON *obj;

    if (n == 0)
        return NULL;
    len = b64url_decode(b64, n, buf); /* n < JWT_MAX_LEN: it fits */
    if (len <= 0 || (size_t)len >= sizeof(buf))
        return NULL;
    /* No raw NUL, no escaped one: what cJSON returns as C strings must be
     * the whole strings. */
    if (memchr(buf, '\0', (size_t)len))
        return NULL;
    for (long i = 0; i + 6 <= len; i++)
        if (memcmp(buf + i, "\\u0000", 6) == 0)
            return NULL;
    buf[len] = '\0';
    obj = cJSON_ParseWithLengthOpts((const char *)buf, (size_t)len + 1, NULL, 1);
    if (obj && !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

/* A NumericDate claim as whole seconds (rounded down). False when it is
 * not a finite number within +-2^53. */
static bool jwt_seconds(const cJSON *item, int64_t *v)
{
    double d;

    if (!cJSON_IsNumber(item))
        return false;
    d = item->valuedouble;
    if (!isfinite(d) || d > JWT_NUM_LIMIT || d < -JWT_NUM_LIMIT)
        return false;
    *v = (int64_t)floor(d);
    return true;
}

static bool jwt_header_ok(const char *b64, size_t n)
{
    cJSON *h = jwt_decode_object(b64, n);
    const cJSON *alg, *typ, *crit;
    bool ok = false;

    if (!h)
        return false;
    if (!json_unique_member(h, "alg", &alg) || !json_unique_member(h, "typ", &typ) ||
        !json_unique_member(h, "crit", &crit))
        goto done;
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0)
        goto done;
    if (typ && !cJSON_IsString(typ))
        goto done;
    ok = crit == NULL;
done:
    cJSON_Delete(h);
    return ok;
}

static bool jwt_claims_ok(const char *b64, size_t n, int64_t now_s, struct jwt_claims *out)
{
    cJSON *p = jwt_decode_object(b64, n);
    const cJSON *sub, *exp, *iat, *role;
    bool ok = false;
    size_t len;

    if (!p)
        return false;
    if (!json_unique_member(p, "sub", &sub) || !json_unique_member(p, "exp", &exp) ||
        !json_unique_member(p, "iat", &iat) || !json_unique_member(p, "role", &role))
        goto done;

    if (!cJSON_IsString(sub))
        goto done;
    len = strlen(sub->valuestring);
    if (!jwt_sub_valid(sub->valuestring, len))
        goto done;
    memcpy(out->sub, sub->valuestring, len + 1);

    if (!jwt_seconds(exp, &out->exp) || exp->valuedouble <= (double)now_s)
        goto done;

    out->iat = 0;
    if (iat && (!jwt_seconds(iat, &out->iat) || out->iat > now_s + JWT_IAT_SKEW))
        goto done;

    out->role[0] = '\0';
    if (role) {
        if (!cJSON_IsString(role))
            goto done;
        len = strlen(role->valuestring);
        if (len > JWT_ROLE_MAX)
            goto done;
        memcpy(out->role, role->valuestring, len + 1);
    }
    ok = true;
done:
    cJSON_Delete(p);
    return ok;
}

int jwt_verify(const uint8_t *secret, size_t secret_len, const char *token, size_t len,
               int64_t now_s, struct jwt_claims *out)
{
    const char *dot1, *dot2;
    uint8_t mac[JWT_SIG_LEN], sig[JWT_SIG_LEN + 2];

    if (!token || !jwt_is_token_shaped(token, len))
        return MQ_EDENIED;
    dot1 = memchr(token, '.', len);
    dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));

    /* The signature first: nothing unsigned reaches the JSON parser. */
    if ((size_t)(token + len - (dot2 + 1)) != JWT_SIG_B64_LEN ||
        b64url_decode(dot2 + 1, JWT_SIG_B64_LEN, sig) != JWT_SIG_LEN)
        return MQ_EDENIED;
    if (!jwt_hmac(secret, secret_len, token, (size_t)(dot2 - token), mac))
        return MQ_EDENIED;
    if (CRYPTO_memcmp(mac, sig, JWT_SIG_LEN) != 0)
        return MQ_EDENIED;

    if (!jwt_header_ok(token, (size_t)(dot1 - token)))
        return MQ_EDENIED;
    if (!jwt_claims_ok(dot1 + 1, (size_t)(dot2 - dot1 - 1), now_s, out))
        return MQ_EDENIED;
    return MQ_OK;
}

bool jwt_is_token_shaped(const char *p, size_t len)
{
    size_t dots = 0, part = 0;

    if (len == 0 || len > JWT_MAX_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '.') {
            if (part == 0 || ++dots > 2)
                return false;
            part = 0;
        } else if (b64url_value((unsigned char)p[i]) < 0) {
            return false;
        } else {
            part++;
        }
    }
    return dots == 2 && part > 0;
}
