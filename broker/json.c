/*
 * json.c - a growable text buffer with JSON string escaping (see json.h).
 *
 * The buffer doubles when it runs out of room, starting at 64 bytes, and
 * keeps a NUL after its content so that it can be logged or handed to a
 * C-string API at any time. It never parses JSON and never checks that what
 * is written with jbuf_put() or jbuf_printf() is JSON: the caller writes
 * the punctuation, this module escapes string literals and formats numbers.
 *
 * Errors are sticky: after one failed allocation b->oom stays set, every
 * later write is a no-op, and jbuf_take() returns NULL. jbuf_reset() and
 * jbuf_free() clear it.
 */
#include "json.h"

#include <cJSON.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JBUF_MIN_CAP 64

/* Makes room for n more bytes plus the NUL. False (and b->oom set) when
 * the allocation fails or the size would overflow; the content is then
 * unchanged. */
static bool jbuf_reserve(struct jbuf *b, size_t n)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return false;
    if (n > SIZE_MAX - b->len - 1)
        goto err;
    need = b->len + n + 1;
    if (need <= b->cap)
        return true;
    cap = b->cap ? b->cap : JBUF_MIN_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = realloc(b->p, cap);
    if (!p)
        goto err;
    b->p = p;
    b->cap = cap;
    return true;
err:
    b->oom = true;
    return false;
}

void jbuf_init(struct jbuf *b)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = false;
}

void jbuf_free(struct jbuf *b)
{
    free(b->p);
    jbuf_init(b);
}

void jbuf_reset(struct jbuf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->p)
        b->p[0] = '\0';
}

void jbuf_put(struct jbuf *b, const void *p, size_t n)
{
    if (!jbuf_reserve(b, n))
        return;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void jbuf_puts(struct jbuf *b, const char *s)
{
    jbuf_put(b, s, strlen(s));
}

void jbuf_putc(struct jbuf *b, char c)
{
    jbuf_put(b, &c, 1);
}

void jbuf_printf(struct jbuf *b, const char *fmt, ...)
{
    va_list ap, again;
    int n;

    /* A first try in whatever room there is; a second, exactly sized, when
     * the text did not fit. */
    if (!jbuf_reserve(b, JBUF_MIN_CAP))
        return;
    va_start(ap, fmt);
    va_copy(again, ap);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    if (n < 0)
        goto err;
    if ((size_t)n >= b->cap - b->len) {
        if (!jbuf_reserve(b, (size_t)n))
            goto done;
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, again);
        if (n < 0)
            goto err;
    }
    b->len += (size_t)n;
    goto done;
err:
    b->oom = true; /* an encoding error: what was written is incomplete */
    b->p[b->len] = '\0';
done:
    va_end(again);
    va_end(ap);
}

/* True when byte c is copied into a JSON string literal as it is. */
static bool json_plain(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\' && c != 0x7f;
}

void jbuf_str(struct jbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *z = (const unsigned char *)s;
    size_t i = 0;

    jbuf_putc(b, '"');
    while (i < n) {
        size_t run = i;
        while (run < n && json_plain(z[run]))
            run++;
        if (run > i) {
            jbuf_put(b, z + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = z[i++];
        switch (c) {
        case '"':
            jbuf_put(b, "\\\"", 2);
            break;
        case '\\':
            jbuf_put(b, "\\\\", 2);
            break;
        case '\n':
            jbuf_put(b, "\\n", 2);
            break;
        case '\r':
            jbuf_put(b, "\\r", 2);
            break;
        case '\t':
            jbuf_put(b, "\\t", 2);
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
            jbuf_put(b, u, sizeof(u));
            break;
        }
        }
    }
    jbuf_putc(b, '"');
}

void jbuf_i64(struct jbuf *b, int64_t v)
{
    jbuf_printf(b, "%" PRId64, v);
}

void jbuf_id(struct jbuf *b, uint64_t id)
{
    jbuf_printf(b, "\"%" PRIu64 "\"", id);
}

bool json_has_nul_escape(const char *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (p[i] != '\\')
            continue;
        if (p[i + 1] == 'u' && len - i >= 6 && memcmp(p + i + 2, "0000", 4) == 0)
            return true;
        i++; /* the escaped character is not the start of an escape */
    }
    return false;
}

char *jbuf_take(struct jbuf *b, size_t *len)
{
    char *p = b->p;

    *len = 0;
    if (b->oom || b->len == 0) {
        jbuf_free(b);
        return NULL;
    }
    *len = b->len;
    jbuf_init(b);
    return p;
}

bool json_unique_member(const cJSON *obj, const char *name, const cJSON **item)
{
    const cJSON *m;
    *item = NULL;
    cJSON_ArrayForEach(m, obj)
    {
        if (m->string && strcmp(m->string, name) == 0) {
            if (*item)
                return false;
            *item = m;
        }
    }
    return true;
}
