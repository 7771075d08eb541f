/*
 * envelope.c - a chat client's payload in, the broker's envelope out (see
 * envelope.h).
 *
 * Parsing runs its checks cheapest first, so that a hostile payload costs
 * little: the size, then UTF-8 (mqtt_utf8_check, which also refuses NUL),
 * then, for JSON, one pass over the bytes that measures the nesting depth
 * of '{' and '[' outside string literals and refuses "\u0000" escapes,
 * and only then cJSON. A payload nested 100000 deep is refused by that
 * pass and never reaches cJSON's recursive parser.
 *
 * Members named "type", "text" and "meta" are read (case-sensitively); each
 * may appear at most once, since two readers could pick different copies.
 * Everything else the client wrote is dropped: the envelope is rebuilt from
 * the parsed values and the broker's stamp, never copied from the payload.
 * Blank means the ASCII white space ' ', '\t', '\n', '\r', '\v', '\f'; a
 * text of blanks only counts as empty, JSON or not.
 *
 * Not here: who may publish where (chat.c), what "deco" holds (chat_dir.c).
 */
#include "envelope.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "errors.h"
#include "mqtt_codec.h"

/* Message types any user may send; "system" is added for services. */
static const char *const envelope_types[] = {"text", "sticker", "cheer", "heart"};

const char *envelope_status_name(enum envelope_status st)
{
    switch (st) {
    case ENVELOPE_OK:
        return "ok";
    case ENVELOPE_EMPTY:
        return "empty";
    case ENVELOPE_BAD_UTF8:
        return "bad_utf8";
    case ENVELOPE_BAD_JSON:
        return "bad_json";
    case ENVELOPE_BAD_TYPE:
        return "bad_type";
    case ENVELOPE_TOO_LONG:
        return "too_long";
    case ENVELOPE_TOO_DEEP:
        return "too_deep";
    case ENVELOPE_BAD_AMOUNT:
        return "bad_amount";
    }
    return "unknown";
}

static bool envelope_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* True when s[0..n) is empty or blanks only. */
static bool envelope_all_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!envelope_blank((unsigned char)s[i]))
            return false;
    return true;
}

/*
 * The pass before cJSON: ENVELOPE_TOO_DEEP when '{' / '[' outside strings
 * nest deeper than max_depth, ENVELOPE_BAD_UTF8 for a "\u0000" escape
 * inside a string (it would cut the C string cJSON returns), ENVELOPE_OK
 * otherwise. Malformed JSON is left for cJSON to refuse.
 */
static int envelope_prescan(const char *z, size_t n, int max_depth)
{
    bool in_str = false;
    int depth = 0;

    for (size_t i = 0; i < n; i++) {
        char c = z[i];
        if (in_str) {
            if (c == '"') {
                in_str = false;
            } else if (c == '\\' && i + 1 < n) {
                if (z[i + 1] == 'u' && n - i >= 6 && memcmp(z + i + 2, "0000", 4) == 0)
                    return ENVELOPE_BAD_UTF8;
                i++; /* the escaped character cannot end the string */
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                return ENVELOPE_TOO_DEEP;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return ENVELOPE_OK;
}

/* A malloc'd, NUL-terminated copy of s[0..n), or NULL. */
static char *envelope_dup(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static int envelope_set_type(struct envelope_in *in, const cJSON *type, bool allow_system)
{
    const char *v;

    if (!type) {
        strcpy(in->type, "text");
        return ENVELOPE_OK;
    }
    if (!cJSON_IsString(type))
        return ENVELOPE_BAD_JSON;
    v = type->valuestring;
    for (size_t i = 0; i < sizeof(envelope_types) / sizeof(envelope_types[0]); i++) {
        if (strcmp(v, envelope_types[i]) == 0) {
            strcpy(in->type, v);
            return ENVELOPE_OK;
        }
    }
    if (allow_system && strcmp(v, "system") == 0) {
        strcpy(in->type, v);
        return ENVELOPE_OK;
    }
    return ENVELOPE_BAD_TYPE;
}

/* The members of a parsed object into in. */
static int envelope_from_object(const cJSON *root, const struct envelope_limits *lim,
                                bool allow_system, struct envelope_in *in)
{
    const cJSON *type, *text, *meta;
    char *printed;
    size_t n;
    int rc;

    if (!cJSON_IsObject(root) || !json_unique_member(root, "type", &type) ||
        !json_unique_member(root, "text", &text) || !json_unique_member(root, "meta", &meta))
        return ENVELOPE_BAD_JSON;
    if ((text && !cJSON_IsString(text)) || (meta && !cJSON_IsObject(meta)))
        return ENVELOPE_BAD_JSON;
    if ((rc = envelope_set_type(in, type, allow_system)) != ENVELOPE_OK)
        return rc;

    if (text) {
        n = strlen(text->valuestring);
        if (n > lim->max_text)
            return ENVELOPE_TOO_LONG;
        if (!envelope_all_blank(text->valuestring, n)) {
            if (!(in->text = envelope_dup(text->valuestring, n)))
                return MQ_ENOMEM;
            in->text_len = n;
        }
    }
    if (!in->text && strcmp(in->type, "text") == 0)
        return ENVELOPE_EMPTY;

    if (meta) {
        if (!(printed = cJSON_PrintUnformatted(meta)))
            return MQ_ENOMEM;
        n = strlen(printed);
        rc = ENVELOPE_OK;
        if (n > lim->max_meta)
            rc = ENVELOPE_TOO_LONG;
        else if (!(in->meta = envelope_dup(printed, n)))
            rc = MQ_ENOMEM;
        else
            in->meta_len = n;
        cJSON_free(printed);
        if (rc != ENVELOPE_OK)
            return rc;
    }
    return ENVELOPE_OK;
}

int envelope_parse(const uint8_t *payload, size_t len, const struct envelope_limits *lim,
                   bool allow_system, struct envelope_in *in)
{
    const char *z = (const char *)payload;
    cJSON *root = NULL;
    char *copy = NULL;
    size_t i;
    int rc;

    memset(in, 0, sizeof(*in));
    if (len > lim->max_payload)
        return ENVELOPE_TOO_LONG;
    if (len == 0)
        return ENVELOPE_EMPTY;
    if (mqtt_utf8_check(z, len) != MQ_OK)
        return ENVELOPE_BAD_UTF8;
    for (i = 0; i < len && envelope_blank((unsigned char)z[i]); i++)
        ;
    if (i == len)
        return ENVELOPE_EMPTY;

    if (z[i] != '{') {
        /* Plain text, kept byte for byte. */
        if (len > lim->max_text)
            return ENVELOPE_TOO_LONG;
        strcpy(in->type, "text");
        if (!(in->text = envelope_dup(z, len)))
            return MQ_ENOMEM;
        in->text_len = len;
        return ENVELOPE_OK;
    }

    if ((rc = envelope_prescan(z + i, len - i, lim->max_depth)) != ENVELOPE_OK)
        return rc;
    /* cJSON wants the NUL inside the length it is given to refuse trailing
     * garbage; the payload holds no NUL (checked above). */
    if (!(copy = envelope_dup(z, len))) {
        rc = MQ_ENOMEM;
        goto err;
    }
    root = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
    if (!root) {
        rc = ENVELOPE_BAD_JSON; /* cJSON does not tell ENOMEM apart */
        goto err;
    }
    rc = envelope_from_object(root, lim, allow_system, in);
err:
    cJSON_Delete(root);
    free(copy);
    return rc;
}

void envelope_in_free(struct envelope_in *in)
{
    free(in->text);
    free(in->meta);
    memset(in, 0, sizeof(*in));
}

void envelope_write(struct jbuf *out, const struct envelope_in *in, const struct envelope_stamp *st)
{
    jbuf_puts(out, "{\"id\":");
    jbuf_id(out, st->id);
    if (st->room) {
        jbuf_puts(out, ",\"room\":");
        jbuf_str(out, st->room, st->room_len);
    }
    if (st->to) {
        jbuf_puts(out, ",\"to\":");
        jbuf_str(out, st->to, st->to_len);
    }
    if (st->from) {
        jbuf_puts(out, ",\"from\":");
        jbuf_str(out, st->from, st->from_len);
    }
    jbuf_printf(out, ",\"ts\":%" PRIu64 ",\"type\":", st->ts_ms);
    jbuf_str(out, in->type, strnlen(in->type, sizeof(in->type)));
    if (in->text) {
        jbuf_puts(out, ",\"text\":");
        jbuf_str(out, in->text, in->text_len);
    }
    if (in->meta) {
        jbuf_puts(out, ",\"meta\":");
        jbuf_put(out, in->meta, in->meta_len);
    }
    if (st->deco) {
        jbuf_puts(out, ",\"deco\":");
        jbuf_put(out, st->deco, st->deco_len);
    }
    jbuf_putc(out, '}');
}

/* One MQTT 5 User Property (identifier 0x26, two strings) at out. */
static size_t envelope_user_prop(uint8_t *out, const char *k, size_t kn, const char *v, size_t vn)
{
    size_t n = 0;

    out[n++] = 0x26;
    n += mqtt_put_str(out + n, k, kn);
    n += mqtt_put_str(out + n, v, vn);
    return n;
}

size_t envelope_v5_props(uint8_t *out, size_t cap, uint64_t id, const char *from, size_t from_len)
{
    static const char ctype[] = "application/json";
    char digits[24];
    int nd = snprintf(digits, sizeof(digits), "%" PRIu64, id);
    size_t n = 0, need;

    if (from_len > 0xffff || (from_len && !from))
        return 0;
    /* PFI (2) + content type (3 + 16) + ("id", digits) + ("from", from) */
    need = 2 + (3 + sizeof(ctype) - 1) + (1 + 2 + 2 + 2 + (size_t)nd) + (1 + 2 + 4 + 2 + from_len);
    if (need > cap)
        return 0;
    out[n++] = 0x01; /* Payload Format Indicator: UTF-8 */
    out[n++] = 0x01;
    out[n++] = 0x03; /* Content Type */
    n += mqtt_put_str(out + n, ctype, sizeof(ctype) - 1);
    n += envelope_user_prop(out + n, "id", 2, digits, (size_t)nd);
    n += envelope_user_prop(out + n, "from", 4, from, from_len);
    return n;
}

int envelope_amount(const struct envelope_in *in, int64_t *amount)
{
    *amount = 0;
    bool cheer = strcmp(in->type, "cheer") == 0, heart = strcmp(in->type, "heart") == 0;
    if (!cheer && !heart)
        return ENVELOPE_OK;
    *amount = 1;
    if (!in->meta)
        return ENVELOPE_OK;
    cJSON *meta = cJSON_ParseWithLength(in->meta, in->meta_len);
    if (!meta)
        return MQ_ENOMEM; /* it parsed once already: only memory can fail */
    const cJSON *a = NULL;
    int st = ENVELOPE_OK;
    if (!json_unique_member(meta, "amount", &a)) {
        st = ENVELOPE_BAD_AMOUNT; /* given twice */
    } else if (a) {
        double v = cJSON_IsNumber(a) ? a->valuedouble : 0;
        if (v < 1 || v > ENVELOPE_MAX_AMOUNT || v != (double)(int64_t)v)
            st = ENVELOPE_BAD_AMOUNT;
        else
            *amount = (int64_t)v;
    }
    cJSON_Delete(meta);
    return st;
}
