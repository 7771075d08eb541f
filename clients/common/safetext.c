/*
 * safetext.c - server text made safe to print on a terminal (see
 * safetext.h). Decoding is textwidth_decode()'s, so what is "invalid
 * UTF-8" here is what the width and wrapping code measures as U+FFFD.
 */
#include "safetext.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "textwidth.h"

size_t safetext_next(const char *s, size_t len, int flags, const char **rep, size_t *nrep)
{
    uint32_t cp = TEXTWIDTH_BAD;
    size_t n = textwidth_decode(s, len, &cp);

    if (n == 0) {
        *rep = s;
        *nrep = 0;
        return 0;
    }
    if (cp == '\n' && (flags & SAFETEXT_NEWLINES)) {
        *rep = s;
        *nrep = 1;
    } else if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
        *rep = " ";
        *nrep = 1;
    } else if (cp == TEXTWIDTH_BAD) { /* a bad byte, or U+FFFD itself: the same bytes */
        *rep = "\xEF\xBF\xBD";
        *nrep = 3;
    } else {
        *rep = s;
        *nrep = n;
    }
    return n;
}

size_t safetext_copy(char *out, size_t n, const char *s, size_t len, int flags)
{
    size_t i = 0, total = 0, kept = 0;
    int full = 0;

    while (i < len) {
        const char *rep;
        size_t nrep;
        i += safetext_next(s + i, len - i, flags, &rep, &nrep);
        if (!full && kept + nrep < n) {
            memcpy(out + kept, rep, nrep);
            kept += nrep;
        } else {
            full = 1;
        }
        total += nrep;
    }
    if (n > 0)
        out[kept] = '\0';
    return total;
}

char *safetext_dup(const char *s, int flags)
{
    size_t len, need;
    char *out;

    if (!s)
        s = "";
    len = strlen(s);
    need = safetext_copy(NULL, 0, s, len, flags) + 1;
    out = malloc(need);
    if (out)
        safetext_copy(out, need, s, len, flags);
    return out;
}
