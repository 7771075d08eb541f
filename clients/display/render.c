/*
 * render.c - the layout of a room display (see render.h): header, messages
 * wrapped by display width and stacked from the bottom. Pure: a view in, a
 * grid of strings out; no terminal, no MQTT.
 */
#include "render.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/safetext.h"
#include "../common/textwidth.h"

int frame_init(struct frame *f, size_t width, size_t height)
{
    f->width = width ? width : 1;
    f->height = height ? height : 1;
    f->rows = calloc(f->height, sizeof(*f->rows));
    if (!f->rows)
        return DISPLAY_ENOMEM;
    for (size_t i = 0; i < f->height; i++) {
        f->rows[i] = strdup("");
        if (!f->rows[i]) {
            frame_free(f);
            return DISPLAY_ENOMEM;
        }
    }
    return DISPLAY_OK;
}

void frame_free(struct frame *f)
{
    if (f->rows)
        for (size_t i = 0; i < f->height; i++)
            free(f->rows[i]);
    free(f->rows);
    f->rows = NULL;
}

int frame_equal(const struct frame *a, const struct frame *b)
{
    if (a->width != b->width || a->height != b->height)
        return 0;
    for (size_t i = 0; i < a->height; i++)
        if (strcmp(a->rows[i], b->rows[i]) != 0)
            return 0;
    return 1;
}

/* Replaces row i with s[0..len). */
static int set_row(struct frame *f, size_t i, const char *s, size_t len)
{
    char *r = malloc(len + 1);
    if (!r)
        return DISPLAY_ENOMEM;
    memcpy(r, s, len);
    r[len] = '\0';
    free(f->rows[i]);
    f->rows[i] = r;
    return DISPLAY_OK;
}

/* A growing byte buffer; oom set on a failed allocation. */
struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* Appends s made safe for a terminal (safetext.h); newlines kept when
 * `newlines`, else turned into spaces. */
static void buf_add_safe(struct buf *b, const char *s, bool newlines)
{
    size_t len = strlen(s), i = 0;
    while (i < len) {
        const char *rep;
        size_t nrep;
        i += safetext_next(s + i, len - i, newlines ? SAFETEXT_NEWLINES : 0, &rep, &nrep);
        buf_add(b, rep, nrep);
    }
}

/* The text of one message (envelope_format()'s line, made safe) into b. */
static void format_msg(struct buf *b, const struct room_msg *m)
{
    buf_add_safe(b, m->line, true);
}

/* Row 0. */
static int render_header(const struct room_view *v, const char *room, struct frame *f)
{
    char right[64];
    switch (v->link) {
    case ROOM_LINK_LIVE:
        if (v->online >= 0)
            snprintf(right, sizeof(right), "%ld here | live", v->online);
        else
            snprintf(right, sizeof(right), "live");
        break;
    case ROOM_LINK_OFFLINE:
        snprintf(right, sizeof(right), "offline");
        break;
    default:
        snprintf(right, sizeof(right), "connecting");
        break;
    }
    struct buf left = {0};
    buf_puts(&left, "#");
    buf_add_safe(&left, room, false);
    struct buf row = {0};
    size_t rcols = textwidth_str(right, strlen(right));
    if (rcols + 2 > f->width) { /* no room for both: the state wins */
        size_t cols, n = textwidth_fit(right, strlen(right), f->width, &cols);
        buf_add(&row, right, n);
    } else {
        size_t lcols,
            n = textwidth_fit(left.p ? left.p : "", left.len, f->width - rcols - 1, &lcols);
        buf_add(&row, left.p ? left.p : "", n);
        for (size_t i = lcols; i < f->width - rcols; i++)
            buf_puts(&row, " ");
        buf_puts(&row, right);
    }
    int rc = left.oom || row.oom ? DISPLAY_ENOMEM : set_row(f, 0, row.p ? row.p : "", row.len);
    free(left.p);
    free(row.p);
    return rc;
}

int render_frame(const struct room_view *v, const char *room, struct frame *f)
{
    int rc = render_header(v, room, f);
    if (rc != DISPLAY_OK)
        return rc;
    size_t free_rows = f->height - 1; /* rows 1..free_rows, filled from the bottom */
    struct textwidth_line *lines = NULL;
    size_t nlines_cap = 0;
    for (size_t k = v->n; k > 0 && free_rows > 0 && rc == DISPLAY_OK; k--) {
        struct buf b = {0};
        format_msg(&b, &v->a[k - 1]);
        if (b.oom) {
            free(b.p);
            rc = DISPLAY_ENOMEM;
            break;
        }
        size_t n = textwidth_wrap(b.p, b.len, f->width, lines, nlines_cap);
        if (n > nlines_cap) {
            struct textwidth_line *p = realloc(lines, n * sizeof(*lines));
            if (!p) {
                free(b.p);
                rc = DISPLAY_ENOMEM;
                break;
            }
            lines = p;
            nlines_cap = n;
            textwidth_wrap(b.p, b.len, f->width, lines, nlines_cap);
        }
        for (size_t j = n; j > 0 && free_rows > 0 && rc == DISPLAY_OK; j--) {
            const struct textwidth_line *l = &lines[j - 1];
            /* A character wider than the frame (width 1) is left out. */
            rc = l->cols > f->width ? set_row(f, free_rows, "", 0)
                                    : set_row(f, free_rows, b.p + l->off, l->len);
            free_rows--;
        }
        free(b.p);
    }
    for (; free_rows > 0 && rc == DISPLAY_OK; free_rows--)
        rc = set_row(f, free_rows, "", 0);
    free(lines);
    return rc;
}
