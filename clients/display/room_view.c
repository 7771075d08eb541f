/*
 * room_view.c - the messages, online count and link state a room display
 * shows (see room_view.h). Messages are kept in an array sorted by id: a
 * display holds a screenful (tens), so insertion by moving is cheaper and
 * simpler than anything cleverer. Not here: MQTT, drawing.
 */
#include "room_view.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "../common/envelope.h"

int room_view_init(struct room_view *v, size_t max)
{
    memset(v, 0, sizeof(*v));
    v->max = max ? max : 1;
    v->a = calloc(v->max, sizeof(*v->a));
    if (!v->a)
        return DISPLAY_ENOMEM;
    v->online = -1;
    v->link = ROOM_LINK_CONNECTING;
    return DISPLAY_OK;
}

void room_view_free(struct room_view *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->a[i].line);
    free(v->a);
    memset(v, 0, sizeof(*v));
}

/* The id of an envelope: a string of 1-20 decimal digits that fits 64 bits. */
static bool parse_id(const char *s, uint64_t *id)
{
    size_t n = strlen(s);
    if (n == 0 || n > 20)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    errno = 0;
    unsigned long long u = strtoull(s, NULL, 10);
    if (errno || u == 0)
        return false;
    *id = (uint64_t)u;
    return true;
}

/* The line envelope_format() makes of env, malloc'd; NULL when out of memory. */
static char *format_line(const struct envelope *env)
{
    char small[256];
    int n = envelope_format(env, 0, small, sizeof(small));
    if (n < 0)
        return NULL;
    char *line = malloc((size_t)n + 1);
    if (!line)
        return NULL;
    if ((size_t)n < sizeof(small))
        memcpy(line, small, (size_t)n + 1);
    else if (envelope_format(env, 0, line, (size_t)n + 1) < 0) {
        free(line);
        return NULL;
    }
    return line;
}

/* Inserts the envelope json[0..len); same returns as room_view_add_json(). */
static int add_envelope(struct room_view *v, const char *json, size_t len)
{
    struct envelope env;
    int rc = envelope_parse(json, len, &env);
    if (rc == ENVELOPE_ENOMEM)
        return DISPLAY_ENOMEM;
    uint64_t id;
    if (rc != ENVELOPE_OK || !parse_id(env.id, &id)) {
        envelope_free(&env);
        return DISPLAY_EINVAL;
    }
    /* Where it goes: after every smaller id. */
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->a[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if ((lo < v->n && v->a[lo].id == id) || (v->n == v->max && lo == 0)) {
        envelope_free(&env); /* held already, or older than everything a full view holds */
        return 0;
    }
    struct room_msg m = {.id = id, .line = format_line(&env)};
    envelope_free(&env);
    if (!m.line)
        return DISPLAY_ENOMEM;
    if (v->n == v->max) { /* drop the oldest to make room */
        free(v->a[0].line);
        memmove(&v->a[0], &v->a[1], (v->n - 1) * sizeof(*v->a));
        v->n--;
        lo--;
    }
    memmove(&v->a[lo + 1], &v->a[lo], (v->n - lo) * sizeof(*v->a));
    v->a[lo] = m;
    v->n++;
    return 1;
}

int room_view_add_json(struct room_view *v, const char *json, size_t len)
{
    return add_envelope(v, json, len);
}

int room_view_history_json(struct room_view *v, const char *json, size_t len)
{
    cJSON *doc = cJSON_ParseWithLength(json, len);
    if (!doc)
        return DISPLAY_EINVAL;
    int rc = DISPLAY_EINVAL;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(doc, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "history") != 0)
        goto out;
    rc = 0;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(doc, "messages");
    const cJSON *env;
    cJSON_ArrayForEach(env, msgs)
    {
        char *one = cJSON_PrintUnformatted(env);
        int r = one ? add_envelope(v, one, strlen(one)) : DISPLAY_ENOMEM;
        free(one);
        if (r == DISPLAY_ENOMEM) {
            rc = r;
            break;
        }
        if (r == 1)
            rc = 1;
    }
out:
    cJSON_Delete(doc);
    return rc;
}

int room_view_presence_json(struct room_view *v, const char *json, size_t len)
{
    cJSON *doc = cJSON_ParseWithLength(json, len);
    if (!doc)
        return DISPLAY_EINVAL;
    int rc = DISPLAY_EINVAL;
    const cJSON *online = cJSON_GetObjectItemCaseSensitive(doc, "online");
    if (cJSON_IsNumber(online) && online->valuedouble >= 0) {
        /* clamped before the cast: a double beyond long's range is undefined */
        long n = online->valuedouble < 1e15 ? (long)online->valuedouble : 1000000000000000L;
        rc = n != v->online;
        v->online = n;
    }
    cJSON_Delete(doc);
    return rc;
}
