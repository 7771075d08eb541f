/*
 * chat_history.c - pages of history (chat_history.h): the spool and the
 * archive merged, the `since` arithmetic, and the MQTT request's JSON.
 *
 * Ids are 64 bits: 41 of milliseconds since MSGID_EPOCH_MS, then the node
 * and the sequence (msgid.h). A time in ms therefore maps to an id range,
 * and `since=<ms>` (inclusive) becomes "ids above the last id of the
 * millisecond before".
 *
 * JSON numbers: cJSON keeps a number as a double, which holds whole
 * numbers exactly only up to 2^53, and message ids are larger. So a
 * number member is read again from the request's text: the object's
 * members are walked in the text (cJSON keeps them in text order) to the
 * member's value, and its digits are converted here.
 *
 * Not here: the SQL (store.c), who may read a room (chat.c,
 * http_routes.c), the answers around a page.
 */
#include "chat_history.h"

#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "errors.h"
#include "json.h"
#include "mqtt_codec.h"
#include "msgid.h"
#include "redis_recent.h"

/* ---- the page ---------------------------------------------------------------------------- */

/*
 * The rows of both sources, before merging. Each source returns at most
 * `limit` rows, counted before the rows that are no envelope are left
 * out; so when a source returned `limit` rows, what lies past the last of
 * them (in its query's order) is unknown, and the page must stop there or
 * it could skip a row.
 */
struct collect {
    struct chat_history_row *rows;
    size_t n, cap;
    bool oom;     /* a row could not be kept: the page would be wrong */
    size_t raw;   /* rows the current source returned, kept or not */
    int64_t last; /* the id of the current source's last row */
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void collect_row(void *ctx, const struct store_message *m)
{
    struct collect *c = ctx;
    size_t i = 0;
    c->raw++;
    c->last = m->id;
    while (i < m->body.len && is_blank(m->body.s[i]))
        i++;
    if (c->oom || i == m->body.len || m->body.s[i] != '{')
        return; /* not an envelope: nothing a client could use */
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct chat_history_row *rows = realloc(c->rows, cap * sizeof(*rows));
        if (!rows) {
            c->oom = true;
            return;
        }
        c->rows = rows;
        c->cap = cap;
    }
    char *body = malloc(m->body.len);
    if (!body) {
        c->oom = true;
        return;
    }
    memcpy(body, m->body.s, m->body.len);
    c->rows[c->n++] = (struct chat_history_row){m->id, body, m->body.len};
}

static int row_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct chat_history_row *)a)->id;
    int64_t y = ((const struct chat_history_row *)b)->id;
    return x < y ? -1 : x > y;
}

void chat_history_page_free(struct chat_history_page *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->rows[i].body);
    free(p->rows);
    p->rows = NULL;
    p->n = 0;
}

/* After a source: a full answer (limit rows) moves the edge the page may
 * not cross to its last row. */
static void source_done(struct collect *c, const struct store_history_query *q, int64_t *lo,
                        int64_t *hi)
{
    if (c->raw >= (size_t)q->limit) {
        if (q->since_id > 0 && c->last < *hi) /* ascending: nothing above is known */
            *hi = c->last;
        else if (q->since_id <= 0 && c->last > *lo) /* descending: nothing below */
            *lo = c->last;
    }
    c->raw = 0;
}

/* The recent-history cache: what a room query's range holds. */
struct recent_ctx {
    struct collect *c;
    const struct store_history_query *q;
};

static void recent_row(void *ctx, const char *entry, size_t len)
{
    struct recent_ctx *rc = ctx;
    cJSON *env = cJSON_ParseWithLength(entry, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(env, "id");
    int64_t v = cJSON_IsString(id) ? (int64_t)strtoull(id->valuestring, NULL, 10) : 0;
    cJSON_Delete(env);
    if (v <= 0 || (rc->q->since_id > 0 && v <= rc->q->since_id) ||
        (rc->q->before_id > 0 && v >= rc->q->before_id))
        return;
    struct store_message m = {.id = v, .body = {entry, len}};
    collect_row(rc->c, &m);
}

int chat_history_fetch(struct db *archive, struct db *spool, struct redis_recent *recent,
                       const struct store_history_query *q, struct chat_history_page *out)
{
    struct collect c = {0};
    struct store_history_query lq = *q;
    int64_t lo = INT64_MIN, hi = INT64_MAX; /* the ids the page may hold */
    lq.limit = q->limit < 1 ? 1 : chat_history_limit((uint64_t)q->limit);
    out->rows = NULL;
    out->n = 0;
    int rc = MQ_OK;
    if (spool) {
        rc = store_history_spool(spool, &lq, collect_row, &c);
        source_done(&c, &lq, &lo, &hi);
    }
    if (rc == MQ_OK) {
        rc = store_history(archive, &lq, collect_row, &c);
        source_done(&c, &lq, &lo, &hi);
    }
    if (rc == MQ_OK && recent && q->room.len) {
        /* The newest messages of every node, whole: no edge to move. A
         * Redis that is away only leaves them out. */
        struct recent_ctx rctx = {&c, &lq};
        redis_recent_read(recent, q->room.s, q->room.len, recent_row, &rctx);
        c.raw = 0;
    }
    if (rc == MQ_OK && c.oom)
        rc = MQ_ENOMEM;
    struct chat_history_page all = {c.rows, c.n};
    if (rc != MQ_OK) {
        chat_history_page_free(&all);
        return rc;
    }
    if (all.n > 1)
        qsort(all.rows, all.n, sizeof(*all.rows), row_cmp);
    /* Duplicates (a row in the spool and the archive) and rows past an
     * edge go. */
    size_t n = 0;
    for (size_t i = 0; i < all.n; i++) {
        int64_t id = all.rows[i].id;
        if ((n && all.rows[n - 1].id == id) || id < lo || id > hi) {
            free(all.rows[i].body);
            continue;
        }
        all.rows[n++] = all.rows[i];
    }
    /* The limit: the oldest after a since, else the newest. */
    size_t keep = n < (size_t)lq.limit ? n : (size_t)lq.limit;
    size_t first = lq.since_id > 0 ? 0 : n - keep;
    for (size_t i = 0; i < n; i++)
        if (i < first || i >= first + keep)
            free(all.rows[i].body);
    if (first)
        memmove(all.rows, all.rows + first, keep * sizeof(*all.rows));
    out->rows = keep ? all.rows : NULL;
    out->n = keep;
    if (!keep)
        free(all.rows);
    return MQ_OK;
}

void chat_history_page_json(const struct chat_history_page *p, struct jbuf *out)
{
    jbuf_putc(out, '[');
    for (size_t i = 0; i < p->n; i++) {
        if (i)
            jbuf_putc(out, ',');
        jbuf_put(out, p->rows[i].body, p->rows[i].len);
    }
    jbuf_putc(out, ']');
}

/* ---- since and limit --------------------------------------------------------------------- */

/* The since_id that returns messages from Unix millisecond ms on: the
 * smallest id of that millisecond, less one (since is exclusive). */
static int64_t since_of_ms(int64_t ms)
{
    const int64_t max_delta = ((int64_t)1 << 41) - 1; /* the id's millisecond bits */
    if (ms <= (int64_t)MSGID_EPOCH_MS)
        return 1;
    int64_t delta = ms - (int64_t)MSGID_EPOCH_MS;
    if (delta > max_delta)
        delta = max_delta;
    int64_t id = (delta << (MSGID_NODE_BITS + MSGID_SEQ_BITS)) - 1;
    return id < 1 ? 1 : id;
}

int64_t chat_history_since(uint64_t since, uint64_t window_s, int64_t now_ms)
{
    int64_t id = since < CHAT_HISTORY_SINCE_MS_BELOW ? since_of_ms((int64_t)since)
                 : since > INT64_MAX                 ? INT64_MAX
                                                     : (int64_t)since;
    if (window_s) {
        /* A window longer than the ids reach back counts as none. */
        uint64_t span =
            window_s > (uint64_t)INT64_MAX / 1000 ? (uint64_t)INT64_MAX : window_s * 1000;
        if (now_ms > 0 && span < (uint64_t)now_ms) {
            int64_t floor = since_of_ms(now_ms - (int64_t)span);
            if (id < floor)
                id = floor;
        }
    }
    return id < 1 ? 1 : id;
}

int chat_history_limit(uint64_t limit)
{
    return limit < 1 ? 1 : limit > CHAT_HISTORY_MAX ? CHAT_HISTORY_MAX : (int)limit;
}

/* ---- reading numbers from the request's text ---------------------------------------------- */

/* cJSON skips every byte up to ' ' (control characters included) as
 * blank; the walk below skips the same. */
static size_t skip_ws(const char *p, size_t len, size_t i)
{
    while (i < len && (unsigned char)p[i] <= ' ')
        i++;
    return i;
}

/* p[i] is '"': the index after the closing quote (len if none). */
static size_t skip_string(const char *p, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return len;
}

/* The index after the JSON value starting at p[i]. */
static size_t skip_value(const char *p, size_t len, size_t i)
{
    if (i >= len)
        return len;
    if (p[i] == '"')
        return skip_string(p, len, i);
    if (p[i] == '{' || p[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            char c = p[i];
            if (c == '"') {
                i = skip_string(p, len, i);
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
            i++;
        }
        return len;
    }
    while (i < len && p[i] != ',' && p[i] != '}' && p[i] != ']' && (unsigned char)p[i] > ' ')
        i++;
    return i;
}

/* The text of the value of the index-th member of the object p[0..len)
 * holds (valid JSON, as cJSON parsed it): true with *start and *n. */
static bool member_text(const char *p, size_t len, size_t index, size_t *start, size_t *n)
{
    size_t i = 0;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) /* cJSON skips a UTF-8 BOM */
        i = 3;
    i = skip_ws(p, len, i);
    if (i >= len || p[i] != '{')
        return false;
    i++;
    for (size_t k = 0;; k++) {
        i = skip_ws(p, len, i);
        if (i >= len || p[i] != '"')
            return false;
        i = skip_ws(p, len, skip_string(p, len, i));
        if (i >= len || p[i] != ':')
            return false;
        i = skip_ws(p, len, i + 1);
        size_t s = i;
        i = skip_value(p, len, i);
        if (k == index) {
            *start = s;
            *n = i - s;
            return true;
        }
        i = skip_ws(p, len, i);
        if (i >= len || p[i] != ',')
            return false;
        i++;
    }
}

/* s[0..n) as a decimal number up to max: 1-20 digits, nothing else. */
static int parse_digits(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 20)
        return MQ_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return MQ_EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return MQ_EINVAL;
        v = v * 10 + d;
    }
    if (v > max)
        return MQ_EINVAL;
    *out = v;
    return MQ_OK;
}

int chat_history_json_u64(const char *text, size_t len, const cJSON *obj, const char *key,
                          uint64_t max, uint64_t *out)
{
    const cJSON *v = NULL;
    if (!cJSON_IsObject(obj) || !json_unique_member(obj, key, &v))
        return MQ_EINVAL;
    if (!v || cJSON_IsNull(v))
        return MQ_ENOTFOUND;
    if (cJSON_IsString(v) && v->valuestring)
        return parse_digits(v->valuestring, strlen(v->valuestring), max, out);
    if (!cJSON_IsNumber(v))
        return MQ_EINVAL;
    size_t index = 0;
    for (const cJSON *c = obj->child; c && c != v; c = c->next)
        index++;
    size_t start, n;
    if (!member_text(text, len, index, &start, &n))
        return MQ_EINVAL;
    return parse_digits(text + start, n, max, out);
}

/* ---- the MQTT request --------------------------------------------------------------------- */

int chat_history_request_parse(const uint8_t *payload, size_t len, uint64_t window_s,
                               int64_t now_ms, struct store_history_query *q,
                               char req[CHAT_HISTORY_REQ_MAX + 1], bool *has_req)
{
    const char *p = (const char *)payload;
    req[0] = '\0';
    *has_req = false;
    q->since_id = 0;
    q->before_id = 0;
    q->limit = CHAT_HISTORY_DEFAULT;
    size_t i = 0;
    while (i < len && is_blank(p[i]))
        i++;
    if (i == len)
        return MQ_OK;
    if (mqtt_utf8_check(p, len) != MQ_OK || json_has_nul_escape(p, len))
        return MQ_EINVAL;
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(p, len, &end, false);
    if (!o)
        return MQ_EINVAL;
    int rc = MQ_EINVAL;
    size_t used = end ? (size_t)(end - p) : 0;
    while (used < len && is_blank(p[used]))
        used++;
    if (!end || used != len || !cJSON_IsObject(o))
        goto out;
    uint64_t limit = CHAT_HISTORY_DEFAULT, before = 0, since = 0;
    int lrc = chat_history_json_u64(p, len, o, "limit", UINT64_MAX, &limit);
    int brc = chat_history_json_u64(p, len, o, "before", INT64_MAX, &before);
    int src = chat_history_json_u64(p, len, o, "since", INT64_MAX, &since);
    if ((lrc != MQ_OK && lrc != MQ_ENOTFOUND) || (brc != MQ_OK && brc != MQ_ENOTFOUND) ||
        (src != MQ_OK && src != MQ_ENOTFOUND))
        goto out;
    const cJSON *r = NULL;
    if (!json_unique_member(o, "req", &r))
        goto out;
    if (r && !cJSON_IsNull(r)) {
        size_t n = cJSON_IsString(r) && r->valuestring ? strlen(r->valuestring) : SIZE_MAX;
        if (n > CHAT_HISTORY_REQ_MAX)
            goto out;
        memcpy(req, r->valuestring, n + 1);
        *has_req = true;
    }
    q->limit = chat_history_limit(limit);
    q->before_id = (int64_t)before;
    if (src == MQ_OK)
        q->since_id = chat_history_since(since, window_s, now_ms);
    rc = MQ_OK;
out:
    cJSON_Delete(o);
    return rc;
}
