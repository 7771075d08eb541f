/*
 * textutil.h - small helpers shared by the readers of text files
 * (config.c, auth.c, acl.c): error text and white space.
 */
#ifndef MQCHAT_TEXTUTIL_H
#define MQCHAT_TEXTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* printf into err when the caller gave room for it (err NULL or errlen 0:
 * nothing is written); always NUL-terminated. */
void text_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* True for ' ', '\t', '\r', '\n', '\v' and '\f'. */
bool text_is_blank(char ch);

/* Returns the first non-blank character of z and cuts trailing blanks off
 * in place. */
char *text_trim(char *z);

#endif
