/*
 * bytebuf.c - a growable byte buffer (see bytebuf.h).
 */
#include "bytebuf.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"

uint8_t *bytebuf_reserve(struct bytebuf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return b->data + b->len;
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap - b->len < n)
        cap *= 2;
    uint8_t *data = realloc(b->data, cap);
    if (!data)
        return NULL;
    b->data = data;
    b->cap = cap;
    return b->data + b->len;
}

int bytebuf_append(struct bytebuf *b, const void *p, size_t n)
{
    if (n == 0)
        return MQ_OK;
    uint8_t *dst = bytebuf_reserve(b, n);
    if (!dst)
        return MQ_ENOMEM;
    memcpy(dst, p, n);
    b->len += n;
    return MQ_OK;
}

void bytebuf_consume(struct bytebuf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

uint8_t *bytebuf_take(struct bytebuf *b, size_t *len)
{
    uint8_t *data = b->data;
    *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return data;
}

void bytebuf_free(struct bytebuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
