/*
 * textutil.c - error text and white space for the text-file readers (see
 * textutil.h).
 */
#include "textutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

void text_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

bool text_is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

char *text_trim(char *z)
{
    while (text_is_blank(*z))
        z++;
    size_t n = strlen(z);
    while (n > 0 && text_is_blank(z[n - 1]))
        z[--n] = '\0';
    return z;
}

int text_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int text_split_hostport(const char *s, size_t len, const char **host, size_t *host_len,
                        uint16_t *port, uint16_t default_port)
{
    const char *end = s + len, *h = s, *hend, *colon = NULL;
    if (len > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (!rb)
            return MQ_EINVAL;
        h = s + 1;
        hend = rb;
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return MQ_EINVAL;
            colon = rb + 1;
        }
    } else {
        colon = memchr(s, ':', len);
        hend = colon ? colon : end;
    }
    unsigned long v = default_port;
    if (colon) {
        const char *p = colon + 1;
        if (p == end || end - p > 5)
            return MQ_EINVAL;
        for (v = 0; p < end; p++) {
            if (*p < '0' || *p > '9')
                return MQ_EINVAL;
            v = v * 10 + (unsigned long)(*p - '0');
        }
        if (v == 0 || v > 65535)
            return MQ_EINVAL;
    }
    *host = h;
    *host_len = (size_t)(hend - h);
    *port = (uint16_t)v;
    return MQ_OK;
}
