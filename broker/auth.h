/*
 * auth.h - Mosquitto-compatible password file: who may connect.
 *
 * Reads the file mosquitto_passwd writes, unchanged: one `username:hash`
 * per line, where hash is
 *   $7$ITERATIONS$SALT_BASE64$HASH_BASE64   PBKDF2-HMAC-SHA512 (Mosquitto 2.0), or
 *   $6$SALT_BASE64$HASH_BASE64              SHA512(password || salt) (Mosquitto 1.x).
 * Blank lines and '#' comments are skipped. A loaded passwd_db is immutable,
 * so several threads may check against it at once; a reload builds a new one.
 */
#ifndef MQCHAT_AUTH_H
#define MQCHAT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct passwd_db;

/*
 * Loads path into a new database. Returns MQ_OK and sets *out (the caller
 * owns it); MQ_EIO (unreadable) or MQ_EINVAL (a malformed line: err gets
 * "PATH:LINE: what is wrong"); MQ_ENOMEM.
 */
int passwd_db_load(const char *path, struct passwd_db **out, char *err, size_t errlen);

/*
 * MQ_OK when user exists and password matches (constant-time comparison of
 * the hashes); MQ_EDENIED otherwise (unknown user, wrong password, no
 * password given: password NULL).
 */
int passwd_db_check(const struct passwd_db *db, const char *user, size_t user_len,
                    const uint8_t *password, size_t password_len);

/* True when user has a line in db (no password check). */
bool passwd_db_has_user(const struct passwd_db *db, const char *user, size_t user_len);

/* Frees db. NULL ok. */
void passwd_db_free(struct passwd_db *db);

/*
 * Writes a new `$7$` hash line body for password into out (NUL-terminated),
 * with a fresh random salt and `iterations` rounds (Mosquitto uses 101).
 * Returns MQ_OK, MQ_EINVAL (out too small: 256 bytes always suffice) or
 * MQ_EIO (no randomness).
 */
int passwd_hash(const char *password, unsigned iterations, char *out, size_t outlen);

#endif
