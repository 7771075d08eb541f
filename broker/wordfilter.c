/*
 * wordfilter.c - forbidden words found by case-folded substring search
 * (see wordfilter.h for what matches).
 *
 * Layout. Every word is folded once, at build time, into an array of code
 * points; all of them live back to back in f->cps. The words are sorted by
 * a hash of their first code point into WF_BUCKETS buckets, so that the
 * scan, which folds the text one code point at a time, looks only at the
 * few words that can start where it stands (usually none: the bucket is
 * empty and the scan moves on). A candidate word is compared by decoding
 * and folding the text after that point, one code point at a time, until
 * it differs: nothing is allocated to match, and the text is never folded
 * into a copy.
 *
 * Cost: about one decode, one fold and one bucket look-up per character of
 * text, plus one comparison per word whose first code point occurs there.
 * This is not Aho-Corasick: a text of many characters that each start a
 * long common prefix of many words costs more, which the limits (1000
 * words of 64 bytes) keep bounded.
 */
#include "wordfilter.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

#define WF_BUCKETS 256u

/* A byte that starts no well-formed UTF-8 sequence decodes as WF_BAD plus
 * the byte: above every code point, so that no word contains it. */
#define WF_BAD 0x110000u

struct wf_word {
    uint32_t first;     /* cp[0], kept beside n for the scan */
    uint32_t n;         /* code points, 1..WORDFILTER_WORD_MAX */
    const uint32_t *cp; /* n folded code points inside the filter's cps */
};

struct wordfilter {
    size_t nwords;                  /* distinct folded words */
    struct wf_word *words;          /* nwords, ordered by bucket; NULL when none */
    uint32_t *cps;                  /* every word's code points, in words' order */
    uint32_t start[WF_BUCKETS + 1]; /* words of bucket b: words[start[b] .. start[b + 1]) */
};

/* ---- code points ------------------------------------------------------------------------ */

/* Decodes the code point at s[0..len) (len >= 1) into *cp and returns its
 * length in bytes. A byte that starts no well-formed sequence gives
 * WF_BAD | byte and length 1. */
static size_t wf_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1Fu;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0Fu;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07u;
        min = 0x10000;
    } else {
        goto bad;
    }
    if (len < n)
        goto bad;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0u) != 0x80u)
            goto bad;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        goto bad;
    *cp = v;
    return n;
bad:
    *cp = WF_BAD | c;
    return 1;
}

/* wordfilter_fold() beyond ASCII. */
static uint32_t wf_fold_wide(uint32_t c)
{
    if (c < 0x100) {
        if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
            return c + 0x20;
        return c == 0xB5 ? 0x3BC : c;
    }
    if (c < 0x180) { /* Latin Extended-A */
        if (c <= 0x12F || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
            return c | 1u; /* capital even, small odd */
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
            return (c & 1u) ? c + 1 : c; /* capital odd, small even */
        if (c == 0x178)
            return 0xFF;
        if (c == 0x17F)
            return 's';
        return c; /* U+0130, U+0131, U+0138, U+0149 */
    }
    if (c < 0x386 || c > 0x42F)
        return c;
    if (c >= 0x410)
        return c + 0x20;
    if (c >= 0x400)
        return c + 0x50;
    if (c >= 0x391 && c <= 0x3AB) /* with Ϊ and Ϋ */
        return c == 0x3A2 ? c : c + 0x20;
    switch (c) {
    case 0x386:
        return 0x3AC;
    case 0x388:
    case 0x389:
    case 0x38A:
        return c + 0x25;
    case 0x38C:
        return 0x3CC;
    case 0x38E:
    case 0x38F:
        return c + 0x3F;
    case 0x3C2:
        return 0x3C3;
    }
    return c;
}

/* The fold, ASCII inline: the scan calls it once per character. */
static inline uint32_t wf_fold(uint32_t c)
{
    if (c < 0x80)
        return c - 'A' < 26u ? c + 0x20 : c;
    return wf_fold_wide(c);
}

uint32_t wordfilter_fold(uint32_t c)
{
    return wf_fold(c);
}

/* Decodes and folds the character at s[0..len) (len >= 1) into *cp;
 * returns its length in bytes. ASCII inline. */
static inline size_t wf_next_folded(const unsigned char *s, size_t len, uint32_t *cp)
{
    uint32_t b = s[0];
    if (b < 0x80) {
        *cp = b - 'A' < 26u ? b + 0x20 : b;
        return 1;
    }
    size_t l = wf_next(s, len, cp);
    *cp = wf_fold_wide(*cp);
    return l;
}

static inline uint32_t wf_bucket(uint32_t folded)
{
    return (folded * 0x9E3779B1u) >> 24; /* Fibonacci hashing: the top 8 bits */
}

bool wordfilter_word_valid(const char *word, size_t len)
{
    const unsigned char *s = (const unsigned char *)word;
    bool visible = false;
    if (!word || len == 0 || len > WORDFILTER_WORD_MAX)
        return false;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        i += wf_next(s + i, len - i, &c);
        if (c >= WF_BAD || c == 0)
            return false;
        if (c > 0x20 && c != 0x7F)
            visible = true;
    }
    return visible;
}

/* ---- building ------------------------------------------------------------------------------ */

/* A word while the filter is built: its bucket and folded code points. */
struct wf_tmp {
    uint32_t bucket;
    uint32_t n;
    const uint32_t *cp;
};

static int wf_tmp_cmp(const void *pa, const void *pb)
{
    const struct wf_tmp *a = pa, *b = pb;
    if (a->bucket != b->bucket)
        return a->bucket < b->bucket ? -1 : 1;
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (uint32_t i = 0; i < a->n; i++)
        if (a->cp[i] != b->cp[i])
            return a->cp[i] < b->cp[i] ? -1 : 1;
    return 0;
}

int wordfilter_build(const char *const *words, const size_t *lens, size_t n,
                     struct wordfilter **out)
{
    struct wordfilter *f = NULL;
    struct wf_tmp *tmp = NULL;
    uint32_t *raw = NULL;
    size_t total = 0, nd = 0;

    if (n > WORDFILTER_MAX_WORDS || (n > 0 && !words))
        return MQ_EINVAL;
    for (size_t i = 0; i < n; i++) {
        size_t len = !words[i] ? 0 : lens ? lens[i] : strlen(words[i]);
        if (!wordfilter_word_valid(words[i], len))
            return MQ_EINVAL;
        total += len; /* bytes >= code points: room enough */
    }

    if (!(f = calloc(1, sizeof(*f))))
        goto err;
    if (n == 0) {
        *out = f;
        return MQ_OK;
    }
    raw = malloc(total * sizeof(*raw));
    tmp = malloc(n * sizeof(*tmp));
    if (!raw || !tmp)
        goto err;

    /* Fold every word into raw. */
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *s = (const unsigned char *)words[i];
        size_t len = lens ? lens[i] : strlen(words[i]);
        uint32_t *cp = raw + used;
        uint32_t k = 0;
        for (size_t j = 0; j < len; k++) {
            uint32_t c;
            j += wf_next(s + j, len - j, &c);
            cp[k] = wordfilter_fold(c);
        }
        tmp[i] = (struct wf_tmp){.bucket = wf_bucket(cp[0]), .n = k, .cp = cp};
        used += k;
    }

    /* Sort by bucket and drop repeats; then copy the distinct words, in
     * order, into the filter (the scan then reads a bucket's code points
     * from one place). */
    qsort(tmp, n, sizeof(*tmp), wf_tmp_cmp);
    total = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && wf_tmp_cmp(&tmp[i - 1], &tmp[i]) == 0)
            continue;
        tmp[nd++] = tmp[i];
        total += tmp[i].n;
    }
    f->words = malloc(nd * sizeof(*f->words));
    f->cps = malloc(total * sizeof(*f->cps));
    if (!f->words || !f->cps)
        goto err;
    used = 0;
    for (size_t i = 0; i < nd; i++) {
        uint32_t *cp = f->cps + used;
        memcpy(cp, tmp[i].cp, tmp[i].n * sizeof(*cp));
        f->words[i] = (struct wf_word){.first = cp[0], .n = tmp[i].n, .cp = cp};
        used += tmp[i].n;
        f->start[tmp[i].bucket + 1]++;
    }
    for (uint32_t b = 0; b < WF_BUCKETS; b++)
        f->start[b + 1] += f->start[b];
    f->nwords = nd;
    free(tmp);
    free(raw);
    *out = f;
    return MQ_OK;
err:
    free(tmp);
    free(raw);
    wordfilter_free(f);
    return MQ_ENOMEM;
}

void wordfilter_free(struct wordfilter *f)
{
    if (!f)
        return;
    free(f->words);
    free(f->cps);
    free(f);
}

size_t wordfilter_count(const struct wordfilter *f)
{
    return f ? f->nwords : 0;
}

/* ---- scanning ------------------------------------------------------------------------------ */

/*
 * The words of f found at s[i..len), where the code point c (folded) of
 * clen bytes stands. Returns the end (byte offset) of the longest, or 0
 * when none is there; with all false, stops at the first. *found counts
 * the words found (when all).
 */
static size_t wf_at(const struct wordfilter *f, const unsigned char *s, size_t len, size_t i,
                    uint32_t c, size_t clen, bool all, int *found)
{
    uint32_t b = wf_bucket(c);
    size_t best = 0;
    for (uint32_t w = f->start[b]; w < f->start[b + 1]; w++) {
        const struct wf_word *wd = &f->words[w];
        if (wd->first != c)
            continue;
        size_t j = i + clen;
        uint32_t k = 1;
        while (k < wd->n && j < len) {
            uint32_t t;
            size_t l = wf_next_folded(s + j, len - j, &t);
            if (t != wd->cp[k])
                break;
            j += l;
            k++;
        }
        if (k < wd->n)
            continue;
        if (!all)
            return j;
        if (*found < INT_MAX)
            (*found)++;
        if (j > best)
            best = j;
    }
    return best;
}

bool wordfilter_match(const struct wordfilter *f, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    if (!f || f->nwords == 0 || !text)
        return false;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t l = wf_next_folded(s + i, len - i, &c);
        uint32_t b = wf_bucket(c);
        if (f->start[b] != f->start[b + 1] && wf_at(f, s, len, i, c, l, false, NULL))
            return true;
        i += l;
    }
    return false;
}

int wordfilter_mask(const struct wordfilter *f, const char *text, size_t len, char **out,
                    size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)text;
    char *o = NULL;      /* allocated at the first occurrence */
    size_t olen = 0;     /* bytes written to o */
    size_t mask_end = 0; /* characters before this byte offset are masked */
    int count = 0;

    *out = NULL;
    *out_len = 0;
    if (!f || f->nwords == 0 || !text)
        return 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t l = wf_next_folded(s + i, len - i, &c);
        uint32_t b = wf_bucket(c);
        if (f->start[b] != f->start[b + 1]) {
            int found = 0;
            size_t end = wf_at(f, s, len, i, c, l, true, &found);
            if (found > 0) {
                if (!o) {
                    if (len == SIZE_MAX || !(o = malloc(len + 1)))
                        return MQ_ENOMEM;
                    memcpy(o, text, i); /* nothing masked before i */
                    olen = i;
                }
                count = found > INT_MAX - count ? INT_MAX : count + found;
                if (end > mask_end)
                    mask_end = end;
            }
        }
        if (o) {
            if (i < mask_end) {
                o[olen++] = '*';
            } else {
                memcpy(o + olen, s + i, l);
                olen += l;
            }
        }
        i += l;
    }
    if (!o)
        return 0;
    o[olen] = '\0';
    *out = o;
    *out_len = olen;
    return count;
}
