/*
 * textutil.h - small helpers shared by the readers of text files
 * (config.c, auth.c, acl.c): error text and white space; and by the
 * readers of URLs (db_mysql.c, redis_client.c): host and port.
 */
#ifndef MQCHAT_TEXTUTIL_H
#define MQCHAT_TEXTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* printf into err when the caller gave room for it (err NULL or errlen 0:
 * nothing is written); always NUL-terminated. */
void text_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* True for ' ', '\t', '\r', '\n', '\v' and '\f'. */
bool text_is_blank(char ch);

/* Returns the first non-blank character of z and cuts trailing blanks off
 * in place. */
char *text_trim(char *z);

/* The value of a hexadecimal digit, or -1. */
int text_hex_digit(char c);

/* Splits s[0..len), "host[:port]" or "[v6 address][:port]", into *host
 * (into s, without brackets; *host_len may be 0) and *port (default_port
 * when absent). MQ_OK, or MQ_EINVAL for a bracket not closed or not
 * followed by ':' or the end, and for a port that is not 1..65535 in
 * decimal. The host itself is the caller's to check. */
int text_split_hostport(const char *s, size_t len, const char **host, size_t *host_len,
                        uint16_t *port, uint16_t default_port);

#endif
