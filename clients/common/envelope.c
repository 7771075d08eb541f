/*
 * envelope.c - parse a chat envelope (cJSON) and format it as one line.
 * See envelope.h for the line formats. No I/O, no globals; the only
 * allocation is the envelope's text.
 */
#include "envelope.h"

#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "safetext.h"

/* Copies the string member `name` of obj into dst (size n), or "" . */
static void envelope__str(const cJSON *obj, const char *name, char *dst, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    dst[0] = '\0';
    if (cJSON_IsString(v) && v->valuestring && strlen(v->valuestring) < n)
        memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
}

static int envelope__hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses #rgb, #rrggbb or #rrggbbaa (alpha ignored) into rgb. Returns 1 when
 * valid, else 0. */
static int envelope__color(const char *z, unsigned char rgb[3])
{
    size_t n = strlen(z), i;
    if (z[0] != '#' || (n != 4 && n != 7 && n != 9))
        return 0;
    for (i = 1; i < n; i++)
        if (envelope__hex(z[i]) < 0)
            return 0;
    for (i = 0; i < 3; i++) {
        if (n == 4)
            rgb[i] = (unsigned char)(envelope__hex(z[1 + i]) * 17);
        else
            rgb[i] = (unsigned char)(envelope__hex(z[1 + 2 * i]) * 16 + envelope__hex(z[2 + 2 * i]));
    }
    return 1;
}

/* Length of z cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t envelope__utf8_cut(const char *z, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)z[max] & 0xC0) == 0x80)
        max--;
    return max;
}

int envelope_parse(const char *json, size_t n, struct envelope *env)
{
    cJSON *root;
    const cJSON *v, *deco, *meta;
    int rc = ENVELOPE_OK;

    memset(env, 0, sizeof *env);
    env->amount = 1;
    root = cJSON_ParseWithLength(json, n);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ENVELOPE_EJSON;
    }
    envelope__str(root, "id", env->id, sizeof env->id);
    envelope__str(root, "room", env->room, sizeof env->room);
    envelope__str(root, "to", env->to, sizeof env->to);
    envelope__str(root, "from", env->from, sizeof env->from);
    envelope__str(root, "type", env->type, sizeof env->type);
    if (!env->from[0]) {
        rc = ENVELOPE_EFIELD;
        goto err;
    }
    if (!env->type[0])
        strcpy(env->type, "text");
    v = cJSON_GetObjectItemCaseSensitive(root, "ts");
    if (cJSON_IsNumber(v) && v->valuedouble > 0)
        env->ts = v->valuedouble < 9.0e18 ? (int64_t)v->valuedouble : INT64_C(9000000000000000000);
    meta = cJSON_GetObjectItemCaseSensitive(root, "meta");
    v = cJSON_GetObjectItemCaseSensitive(meta, "amount");
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1e9)
        env->amount = (long)v->valuedouble;
    deco = cJSON_GetObjectItemCaseSensitive(root, "deco");
    v = cJSON_GetObjectItemCaseSensitive(deco, "color");
    if (cJSON_IsString(v) && v->valuestring)
        env->has_color = envelope__color(v->valuestring, env->rgb);
    v = cJSON_GetObjectItemCaseSensitive(deco, "badge");
    if (cJSON_IsString(v) && v->valuestring) {
        const char *z = v->valuestring;
        size_t len;
        while (*z == ' ')
            z++;
        len = strlen(z);
        while (len > 0 && z[len - 1] == ' ')
            len--;
        len = envelope__utf8_cut(z, len, ENVELOPE_BADGE_MAX);
        memcpy(env->badge, z, len);
        env->badge[len] = '\0';
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "text");
    env->text = strdup(cJSON_IsString(v) && v->valuestring ? v->valuestring : "");
    if (!env->text) {
        rc = ENVELOPE_ENOMEM;
        goto err;
    }
    cJSON_Delete(root);
    return ENVELOPE_OK;
err:
    cJSON_Delete(root);
    memset(env, 0, sizeof *env);
    return rc;
}

void envelope_free(struct envelope *env)
{
    free(env->text);
    env->text = NULL;
}

/* Length of z[0..len) without a UTF-8 sequence cut short at its end. */
static size_t envelope__trim_partial(const char *z, size_t len)
{
    size_t j = len;
    unsigned char lead;
    size_t need;
    while (j > 0 && len - j < 3 && ((unsigned char)z[j - 1] & 0xC0) == 0x80)
        j--;
    if (j == 0)
        return len;
    lead = (unsigned char)z[j - 1];
    need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return len - (j - 1) < need ? j - 1 : len;
}

/* An output buffer that counts what would have been written. */
struct envelope__out {
    char *buf;
    size_t cap;  /* bytes of buf, NUL included */
    size_t len;  /* bytes of the whole line so far */
    size_t kept; /* bytes actually in buf (at a UTF-8 boundary) */
};

/* Appends len bytes of z as they are. */
static void envelope__raw(struct envelope__out *o, const char *z, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (o->len == o->kept && o->kept + 1 < o->cap)
            o->buf[o->kept++] = z[i];
        o->len++;
    }
}

/* Appends len bytes of z, made safe for a terminal (safetext.h) when clean. */
static void envelope__put(struct envelope__out *o, const char *z, size_t len, int clean)
{
    size_t i = 0;
    if (!clean) {
        envelope__raw(o, z, len);
        return;
    }
    while (i < len) {
        const char *rep;
        size_t nrep;
        i += safetext_next(z + i, len - i, 0, &rep, &nrep);
        envelope__raw(o, rep, nrep);
    }
}

static void envelope__puts(struct envelope__out *o, const char *z, int clean)
{
    envelope__put(o, z, strlen(z), clean);
}

static void envelope__printf(struct envelope__out *o, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        envelope__put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1, 0);
}

int envelope_format(const struct envelope *env, int flags, char *buf, size_t n)
{
    struct envelope__out o = {buf, n, 0, 0};
    time_t t = (time_t)(env->ts / 1000);
    struct tm tm;
    const char *text = env->text ? env->text : "";
    int color = (flags & ENVELOPE_FMT_COLOR) && env->has_color;

    if (env->ts > 0 && ((flags & ENVELOPE_FMT_UTC) ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)))
        envelope__printf(&o, "%02d:%02d ", tm.tm_hour, tm.tm_min);
    else
        envelope__puts(&o, "--:-- ", 0);
    if (flags & ENVELOPE_FMT_ROOM) {
        if (env->room[0]) {
            envelope__puts(&o, "#", 0);
            envelope__puts(&o, env->room, 1);
            envelope__puts(&o, " ", 0);
        }
    }
    if (!strcmp(env->type, "system"))
        envelope__puts(&o, "** ", 0);
    if (color)
        envelope__printf(&o, "\033[1;38;2;%d;%d;%dm", env->rgb[0], env->rgb[1], env->rgb[2]);
    envelope__puts(&o, env->from, 1);
    if (color)
        envelope__puts(&o, "\033[0m", 0);
    if (env->badge[0]) {
        envelope__puts(&o, " [", 0);
        envelope__puts(&o, env->badge, 1);
        envelope__puts(&o, "]", 0);
    }
    if (env->to[0]) {
        envelope__puts(&o, " -> ", 0);
        envelope__puts(&o, env->to, 1);
    }
    if (!strcmp(env->type, "cheer")) {
        envelope__printf(&o, " cheered %ld", env->amount);
        if (text[0])
            envelope__puts(&o, ": ", 0);
    } else if (!strcmp(env->type, "heart")) {
        if (env->amount == 1)
            envelope__puts(&o, " sent a heart", 0);
        else
            envelope__printf(&o, " sent %ld hearts", env->amount);
        if (text[0])
            envelope__puts(&o, ": ", 0);
    } else if (!strcmp(env->type, "sticker")) {
        envelope__puts(&o, ": [sticker]", 0);
        if (text[0])
            envelope__puts(&o, " ", 0);
    } else {
        envelope__puts(&o, ": ", 0);
    }
    envelope__puts(&o, text, 1);

    if (n > 0)
        buf[envelope__trim_partial(buf, o.kept)] = '\0';
    return (int)o.len;
}
