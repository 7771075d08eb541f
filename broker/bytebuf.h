/*
 * bytebuf.h - a growable byte buffer, for the transport layers (link.h).
 *
 * The owner of a struct bytebuf owns its bytes. Appending may move them;
 * bytebuf_take() hands them over to the caller.
 */
#ifndef MQCHAT_BYTEBUF_H
#define MQCHAT_BYTEBUF_H

#include <stddef.h>
#include <stdint.h>

struct bytebuf {
    uint8_t *data; /* malloc'd, or NULL while empty */
    size_t len;    /* bytes held */
    size_t cap;    /* bytes allocated */
};

/* Appends n bytes. MQ_OK or MQ_ENOMEM (nothing appended). */
int bytebuf_append(struct bytebuf *b, const void *p, size_t n);

/* Makes room for n more bytes and returns where they go (len is not
 * changed: add what was written to b->len). NULL when out of memory. */
uint8_t *bytebuf_reserve(struct bytebuf *b, size_t n);

/* Drops the first n bytes (n <= len), keeping the allocation. */
void bytebuf_consume(struct bytebuf *b, size_t n);

/* Gives the bytes to the caller (free() them) and leaves b empty. */
uint8_t *bytebuf_take(struct bytebuf *b, size_t *len);

/* Frees the bytes; b is empty again. */
void bytebuf_free(struct bytebuf *b);

#endif
