/*
 * json.h - writing JSON (and other text) into a growable buffer.
 *
 * The broker writes its JSON itself (envelopes, HTTP answers, notices):
 * output is appended field by field, with no document tree. Reading JSON
 * from clients is cJSON's job (envelope.c, jwt.c, http_api.c); this module
 * adds only json_unique_member() for it.
 *
 * Errors are sticky: after an allocation fails, b->oom is set, later writes
 * are ignored, and the caller checks b->oom once at the end.
 */
#ifndef MQCHAT_JSON_H
#define MQCHAT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jbuf {
    char *p;    /* malloc'd; NUL-terminated after every write (when p != NULL) */
    size_t len; /* bytes written, without the NUL */
    size_t cap; /* bytes allocated */
    bool oom;   /* an allocation failed: the content is incomplete */
};

/* An empty buffer (no allocation yet). */
void jbuf_init(struct jbuf *b);

/* Frees the bytes; b is empty again and may be reused. */
void jbuf_free(struct jbuf *b);

/* Forgets the content (and a past allocation failure: b->oom is cleared),
 * keeps the allocation. */
void jbuf_reset(struct jbuf *b);

/* Appends n raw bytes (no escaping). */
void jbuf_put(struct jbuf *b, const void *p, size_t n);

/* Appends a NUL-terminated string raw. */
void jbuf_puts(struct jbuf *b, const char *s);

/* Appends one raw character. */
void jbuf_putc(struct jbuf *b, char c);

/* Appends printf-formatted text. */
void jbuf_printf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Appends s[0..n) as a JSON string literal with its quotes: '"' and '\\'
 * escaped, control characters below 0x20 as \n, \r, \t or \u00XX, 0x7f as
 * \u007f; bytes >= 0x80 are copied unchanged (the caller has checked that
 * s is valid UTF-8).
 */
void jbuf_str(struct jbuf *b, const char *s, size_t n);

/* Appends a JSON number. */
void jbuf_i64(struct jbuf *b, int64_t v);

/* Appends an unsigned 64-bit number as a JSON string ("7263489123456789"):
 * message ids, which do not fit a JavaScript number. */
void jbuf_id(struct jbuf *b, uint64_t id);

struct cJSON;

/* The one member of the cJSON object obj named name (case-sensitive) in
 * *item, NULL when absent. False when the name appears more than once: a
 * repeated member is refused, not resolved. */
bool json_unique_member(const struct cJSON *obj, const char *name, const struct cJSON **item);

/* True when the JSON text p[0..len) holds a \u0000 escape (one that a
 * backslash does not itself escape: "\\u0000" is a backslash and
 * "u0000"). cJSON would cut a string there: callers refuse such text. */
bool json_has_nul_escape(const char *p, size_t len);

/* Takes the bytes out of b (the caller frees them; NULL when b->oom or
 * empty) and leaves b empty. *len gets their length. */
char *jbuf_take(struct jbuf *b, size_t *len);

#endif
