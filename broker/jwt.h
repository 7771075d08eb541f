/*
 * jwt.h - HS256 JSON Web Tokens: the tokens mqchat's users log in with.
 *
 * A token is base64url(header) "." base64url(payload) "." base64url(sig),
 * with header {"alg":"HS256","typ":"JWT"} and sig = HMAC-SHA256(secret,
 * the first two parts). The claims mqchat reads are `sub` (the user id,
 * required), `exp` (expiry, Unix seconds, required), `iat` (issued at,
 * optional) and `role` (optional: "user", "service" or "display").
 * Tokens are minted by POST /v1/tokens or by an integrator holding the
 * same secret (chat.token_secret).
 *
 * Pure functions: no I/O, no globals; safe from any thread.
 */
#ifndef MQCHAT_JWT_H
#define MQCHAT_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JWT_MAX_LEN     4096 /* longer tokens are refused unread */
#define JWT_SUB_MAX     64   /* a user id: 1-64 of [A-Za-z0-9_.-] */
#define JWT_ROLE_MAX    15

struct jwt_claims {
    char sub[JWT_SUB_MAX + 1];   /* NUL-terminated user id */
    char role[JWT_ROLE_MAX + 1]; /* NUL-terminated; "" when the token has none */
    int64_t iat;                 /* Unix seconds; 0 when absent */
    int64_t exp;                 /* Unix seconds */
};

/*
 * Writes the signed token for c (sub, exp, iat when not 0, role when not
 * empty) into out, NUL-terminated. Returns its length (> 0), or MQ_EINVAL
 * when sub is not a valid user id, role holds other characters than a user
 * id may, the secret is empty, or out is too small (512 bytes always
 * suffice).
 */
int jwt_sign(const uint8_t *secret, size_t secret_len, const struct jwt_claims *c, char *out,
             size_t outlen);

/*
 * Checks token[0..len) against secret at time now_s (Unix seconds).
 * MQ_OK with *out filled when: the token has three base64url parts, its
 * header says alg HS256 (any other alg, "none" included, is refused), the
 * signature matches (compared in constant time), the payload is a JSON
 * object whose `sub` is a valid user id and whose numeric `exp` is later
 * than now_s, `iat` (if any) is a number no more than 300 s ahead of now_s,
 * and `role` (if any) is a string of at most JWT_ROLE_MAX bytes.
 * MQ_EDENIED otherwise (out is then unspecified).
 */
int jwt_verify(const uint8_t *secret, size_t secret_len, const char *token, size_t len,
               int64_t now_s, struct jwt_claims *out);

/* True when p[0..len) has the shape of a JWT (two dots, base64url
 * characters only, at most JWT_MAX_LEN bytes): a password that looks like
 * this is checked as a token. */
bool jwt_is_token_shaped(const char *p, size_t len);

#endif
