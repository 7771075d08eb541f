/*
 * password.h - the chat users' password hashes: Argon2id (libargon2).
 *
 * Hashes are stored in the PHC string format libargon2 writes
 * ("$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH"), so their parameters travel
 * with them and can be raised later without invalidating old hashes.
 * Parameters: 19 MiB of memory, 2 passes, 1 lane (OWASP's minimum for
 * Argon2id), a 16-byte random salt, a 32-byte hash. A verification costs
 * tens of milliseconds of one CPU: that is the point.
 *
 * Passwords are never logged or stored in clear. Safe from any thread.
 */
#ifndef MQCHAT_PASSWORD_H
#define MQCHAT_PASSWORD_H

#include <stddef.h>
#include <stdint.h>

#define PASSWORD_HASH_MAX 128 /* bytes of an encoded hash, with its NUL */
#define PASSWORD_MAX_LEN  1024 /* longer passwords are refused */

/*
 * Writes the encoded Argon2id hash of pw[0..len) into out (NUL-terminated).
 * Returns MQ_OK; MQ_EINVAL when len is 0 or above PASSWORD_MAX_LEN or out
 * is smaller than PASSWORD_HASH_MAX; MQ_EIO when no randomness is
 * available; MQ_ENOMEM.
 */
int password_hash(const char *pw, size_t len, char *out, size_t outlen);

/*
 * MQ_OK when pw[0..len) matches the encoded hash; MQ_EDENIED when it does
 * not, when encoded is not an Argon2id hash, or when pw is empty or too
 * long.
 */
int password_verify(const char *encoded, const uint8_t *pw, size_t len);

#endif
