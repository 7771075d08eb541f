/*
 * textutil.c - error text and white space for the text-file readers (see
 * textutil.h).
 */
#include "textutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
