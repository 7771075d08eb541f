/*
 * config.c - mqchatd's settings: defaults, mosquitto.conf-style files, --set.
 *
 * Every key is one row of config_keys[] below: its name, how its text is
 * parsed (boolean, integer, duration, string), where it lands in struct
 * config (offsetof) and the smallest and largest value accepted. Adding a key
 * is adding a row, a field in config.h and a line in etc/mqchat.conf.
 * Numbers are plain decimal ("1883", "-1"): no sign where none is allowed,
 * no hex, no unit suffixes and no trailing text. Booleans are exactly
 * "true" or "false", as in Mosquitto. persistent_client_expiration also takes
 * Mosquitto's duration forms: N seconds, or N followed by h (hours), d (days),
 * w (weeks), m (months of 30 days) or y (years of 365 days).
 *
 * This file only parses and stores; it does not check that one key agrees
 * with another, nor that paths exist. Those are the concern of the code that
 * uses them, at start-up.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "textutil.h"

enum key_type {
    KEY_BOOL,     /* bool: "true" or "false" */
    KEY_INT,      /* int, may be negative down to min */
    KEY_U16,      /* uint16_t */
    KEY_U32,      /* uint32_t */
    KEY_U64,      /* uint64_t */
    KEY_UNSIGNED, /* unsigned */
    KEY_DURATION, /* uint32_t seconds; Mosquitto's h d w m y suffixes */
    KEY_STRING,   /* char *, owned by the struct; replaced on each set */
    KEY_CHOICE,   /* unsigned: the index of the value in the row's `choices` */
};

struct config_key {
    const char *name;    /* the key as written in the file */
    enum key_type type;  /* how the value is parsed and stored */
    size_t offset;       /* offsetof(struct config, field) */
    int64_t min;         /* smallest accepted value (numbers only) */
    uint64_t max;        /* largest accepted value (numbers only) */
    const char *choices; /* KEY_CHOICE: the accepted words, '|'-separated */
};

/* clang-format off */
#define KEY(name, type, field, min, max) { name, type, offsetof(struct config, field), min, max, NULL }
#define CHOICE(name, field, choices) { name, KEY_CHOICE, offsetof(struct config, field), 0, 0, choices }
/* clang-format on */

/* The one table of keys. Ranges follow Mosquitto where it has the key. */
static const struct config_key config_keys[] = {
    KEY("port", KEY_U16, port, 1, 65535),
    KEY("bind_address", KEY_STRING, bind_address, 0, 0),
    KEY("allow_anonymous", KEY_BOOL, allow_anonymous, 0, 1),
    KEY("allow_zero_length_clientid", KEY_BOOL, allow_zero_length_clientid, 0, 1),
    KEY("password_file", KEY_STRING, password_file, 0, 0),
    KEY("acl_file", KEY_STRING, acl_file, 0, 0),
    KEY("max_connections", KEY_INT, max_connections, -1, INT32_MAX),
    KEY("max_inflight_messages", KEY_U32, max_inflight_messages, 0, 65535),
    KEY("max_queued_messages", KEY_U32, max_queued_messages, 0, UINT32_MAX),
    KEY("max_queued_bytes", KEY_U64, max_queued_bytes, 0, UINT64_MAX),
    KEY("message_size_limit", KEY_U32, message_size_limit, 0, 268435455),
    KEY("max_keepalive", KEY_U16, max_keepalive, 0, 65535),
    KEY("max_topic_alias", KEY_U16, max_topic_alias, 0, 65535),
    KEY("persistent_client_expiration", KEY_DURATION, persistent_client_expiration, 0, UINT32_MAX),
    KEY("sys_interval", KEY_U32, sys_interval, 0, 65535),
    KEY("session.max_subscriptions", KEY_U32, max_subscriptions, 0, 4294967295u),
    KEY("conn.out_soft_bytes", KEY_U64, out_soft_bytes, 1, UINT64_MAX),
    KEY("conn.out_hard_bytes", KEY_U64, out_hard_bytes, 1, UINT64_MAX),
    KEY("conn.handshake_timeout", KEY_U32, handshake_timeout, 100, 600000),
    KEY("tls.port", KEY_U16, tls_port, 0, 65535),
    KEY("tls.cert", KEY_STRING, tls_cert, 0, 0),
    KEY("tls.key", KEY_STRING, tls_key, 0, 0),
    KEY("tls.ca", KEY_STRING, tls_ca, 0, 0),
    KEY("tls.require_certificate", KEY_BOOL, tls_require_certificate, 0, 1),
    KEY("ws.port", KEY_U16, ws_port, 0, 65535),
    KEY("ws.path", KEY_STRING, ws_path, 0, 0),
    KEY("wss.port", KEY_U16, wss_port, 0, 65535),
    KEY("ws.origins", KEY_STRING, ws_origins, 0, 0),
    KEY("ws.max_frame_bytes", KEY_U32, ws_max_frame, 16, 268435455),
    KEY("data_dir", KEY_STRING, data_dir, 0, 0),
    KEY("workers", KEY_UNSIGNED, workers, 0, 1024),
    KEY("node.id", KEY_UNSIGNED, node_id, 0, 1023),
    KEY("mysql.url", KEY_STRING, mysql_url, 0, 0),
    KEY("redis.url", KEY_STRING, redis_url, 0, 0),
    KEY("redis.cluster", KEY_BOOL, redis_cluster, 0, 1),
    KEY("redis.bridge_topics", KEY_STRING, redis_bridge_topics, 0, 0),
    KEY("redis.prefix", KEY_STRING, redis_prefix, 0, 0),
    KEY("redis.node_timeout", KEY_U32, redis_node_timeout, 500, 60000),
    KEY("redis.history_cache", KEY_U32, redis_history_cache, 0, 10000),
    CHOICE("store.durability", store_durability, "normal|full"),
    KEY("store.spool_topics", KEY_STRING, spool_topics, 0, 0),
    KEY("store.spool_max_bytes", KEY_U64, spool_max_bytes, 1, UINT64_MAX),
    KEY("store.retention_days", KEY_U32, retention_days, 0, 36500),
    KEY("chat.prefix", KEY_STRING, chat_prefix, 0, 0),
    KEY("chat.token_secret", KEY_STRING, chat_token_secret, 0, 0),
    KEY("chat.service_key", KEY_STRING, chat_service_key, 0, 0),
    KEY("chat.open_signup", KEY_BOOL, chat_open_signup, 0, 1),
    KEY("chat.auto_create_rooms", KEY_BOOL, chat_auto_create_rooms, 0, 1),
    KEY("chat.max_payload_bytes", KEY_U32, chat_max_payload, 16, 1u << 20),
    KEY("chat.max_text_bytes", KEY_U32, chat_max_text, 1, 1u << 20),
    KEY("chat.token_ttl", KEY_DURATION, chat_token_ttl, 60, UINT32_MAX),
    KEY("chat.history_window", KEY_DURATION, chat_history_window, 60, UINT32_MAX),
    KEY("chat.presence_interval", KEY_U32, chat_presence_interval, 50, 60000),
    KEY("chat.presence_grace", KEY_U32, chat_presence_grace, 0, 600000),
    KEY("chat.presence_max_names", KEY_U32, chat_presence_max_names, 0, 1000),
    KEY("chat.unread_max", KEY_U32, chat_unread_max, 1, 999), /* + 1: a history page */
    KEY("http.port", KEY_U16, http_port, 0, 65535),
    KEY("http.bind_address", KEY_STRING, http_bind_address, 0, 0),
    KEY("http.max_body_bytes", KEY_U32, http_max_body, 64, 1u << 24),
    KEY("http.static_dir", KEY_STRING, http_static_dir, 0, 0),
};

#define N_CONFIG_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* What parse_decimal() found. */
enum parse_result {
    PARSE_OK,       /* digits, magnitude fits in 64 bits */
    PARSE_NAN,      /* no digits where the number should start */
    PARSE_OVERFLOW, /* more than 2^64-1 */
};

/*
 * Parses the decimal number at the start of z: an optional '-', then digits.
 * *neg and *mag get the sign and magnitude, *end the first character after
 * the digits (trailing text is the caller's to judge).
 */
static enum parse_result parse_decimal(const char *z, bool *neg, uint64_t *mag, const char **end)
{
    *neg = false;
    *mag = 0;
    *end = z;
    if (*z == '-') {
        *neg = true;
        z++;
    }
    if (*z < '0' || *z > '9')
        return PARSE_NAN;
    uint64_t v = 0;
    bool overflow = false;
    for (; *z >= '0' && *z <= '9'; z++) {
        unsigned d = (unsigned)(*z - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    *mag = v;
    *end = z;
    return overflow ? PARSE_OVERFLOW : PARSE_OK;
}

/* Seconds in one unit of a Mosquitto duration suffix, or 0 for no such unit. */
static uint64_t duration_unit(char ch)
{
    switch (ch) {
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    case 'w':
        return 7 * 86400;
    case 'm':
        return 30 * 86400;
    case 'y':
        return 365 * 86400;
    }
    return 0;
}

/* Stores the number (-mag when neg), already range-checked, into the field k
 * describes. */
static void store_number(struct config *c, const struct config_key *k, bool neg, uint64_t mag)
{
    char *field = (char *)c + k->offset;
    switch (k->type) {
    case KEY_BOOL:
        *(bool *)field = mag != 0;
        break;
    case KEY_INT:
        *(int *)field = (int)(neg ? -(int64_t)mag : (int64_t)mag);
        break;
    case KEY_U16:
        *(uint16_t *)field = (uint16_t)mag;
        break;
    case KEY_U32:
    case KEY_DURATION:
        *(uint32_t *)field = (uint32_t)mag;
        break;
    case KEY_U64:
        *(uint64_t *)field = mag;
        break;
    case KEY_UNSIGNED:
        *(unsigned *)field = (unsigned)mag;
        break;
    case KEY_STRING:
    case KEY_CHOICE:
        break;
    }
}

/* Stores the index of value among k's choices. MQ_OK or MQ_EINVAL. */
static int set_choice(struct config *c, const struct config_key *k, const char *value,
                      const char *where, char *err, size_t errlen)
{
    size_t len = strlen(value);
    unsigned index = 0;
    for (const char *w = k->choices; *w; index++) {
        size_t n = strcspn(w, "|");
        if (n == len && memcmp(w, value, len) == 0) {
            *(unsigned *)((char *)c + k->offset) = index;
            return MQ_OK;
        }
        w += n + (w[n] == '|');
    }
    text_err(err, errlen, "%s: %s: '%s' is not one of %s", where, k->name, value, k->choices);
    return MQ_EINVAL;
}

/* True when the number (-mag when neg) lies within k's range. */
static bool in_range(const struct config_key *k, bool neg, uint64_t mag)
{
    if (neg && mag != 0)
        return k->min < 0 && mag <= (uint64_t)(-(k->min + 1)) + 1;
    return (k->min <= 0 || mag >= (uint64_t)k->min) && mag <= k->max;
}

/* Parses value for the numeric or boolean key k and stores it.
 * Returns MQ_OK or MQ_EINVAL with err filled. */
static int set_number(struct config *c, const struct config_key *k, const char *value,
                      const char *where, char *err, size_t errlen)
{
    if (k->type == KEY_BOOL) {
        bool yes = strcmp(value, "true") == 0;
        if (!yes && strcmp(value, "false") != 0) {
            text_err(err, errlen, "%s: %s: '%s' is not true or false", where, k->name, value);
            return MQ_EINVAL;
        }
        store_number(c, k, false, yes);
        return MQ_OK;
    }

    bool neg;
    uint64_t mag;
    const char *end;
    enum parse_result pr = parse_decimal(value, &neg, &mag, &end);
    if (pr != PARSE_NAN && k->type == KEY_DURATION && *end != '\0') {
        uint64_t unit = duration_unit(*end);
        if (unit != 0 && end[1] == '\0') {
            end++;
            if (mag > UINT64_MAX / unit)
                pr = PARSE_OVERFLOW;
            else
                mag *= unit;
        }
    }
    if (pr == PARSE_NAN || *end != '\0') {
        if (k->type == KEY_DURATION)
            text_err(err, errlen,
                     "%s: %s: '%s' is not a duration (seconds, or a number followed by h, d, w, "
                     "m or y)",
                     where, k->name, value);
        else
            text_err(err, errlen, "%s: %s: '%s' is not a number", where, k->name, value);
        return MQ_EINVAL;
    }
    if (pr == PARSE_OVERFLOW || !in_range(k, neg, mag)) {
        text_err(err, errlen, "%s: %s: '%s' is out of range (%lld..%llu)", where, k->name, value,
                 (long long)k->min, (unsigned long long)k->max);
        return MQ_EINVAL;
    }
    store_number(c, k, neg && mag != 0, mag);
    return MQ_OK;
}

static const struct config_key *find_key(const char *name)
{
    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        if (strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    }
    return NULL;
}

int config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    c->port = 1883;
    c->bind_address = NULL;
    c->allow_anonymous = false;
    c->allow_zero_length_clientid = true;
    c->password_file = NULL;
    c->acl_file = NULL;
    c->max_connections = -1;
    c->max_inflight_messages = 20;
    c->max_queued_messages = 1000;
    c->max_queued_bytes = 8u << 20;
    c->message_size_limit = 1u << 20;
    c->max_keepalive = 65535;
    c->max_topic_alias = 10;
    c->max_subscriptions = 1000;
    c->persistent_client_expiration = 0;
    c->sys_interval = 10;
    c->out_soft_bytes = 1u << 20;
    c->out_hard_bytes = 8u << 20;
    c->workers = 0;
    c->spool_max_bytes = 1ull << 30;
    c->retention_days = 7;
    c->verbose = false;
    c->chat_max_payload = 16384;
    c->chat_max_text = 4000;
    c->chat_token_ttl = 86400;
    c->chat_history_window = 7 * 86400;
    c->chat_presence_interval = 1000;
    c->chat_presence_grace = 5000;
    c->chat_presence_max_names = 20;
    c->chat_unread_max = 999;
    c->http_port = 8080;
    c->http_max_body = 65536;
    c->handshake_timeout = 5000;
    c->tls_port = 8883;
    c->ws_port = 8083;
    c->wss_port = 8084;
    c->ws_max_frame = (1u << 20) + 1024;
    c->data_dir = strdup("data");
    c->chat_prefix = strdup("chat");
    c->redis_prefix = strdup("mqchat");
    c->ws_path = strdup("/mqtt");
    c->http_static_dir = strdup(MQCHAT_WEB_DIR);
    c->redis_node_timeout = 3000;
    c->redis_history_cache = 100;
    return c->data_dir && c->chat_prefix && c->redis_prefix && c->ws_path && c->http_static_dir
               ? MQ_OK
               : MQ_ENOMEM;
}

int config_set(struct config *c, const char *key, const char *value, const char *where, char *err,
               size_t errlen)
{
    const struct config_key *k = find_key(key);
    if (k == NULL) {
        text_err(err, errlen, "%s: unknown key '%s'", where, key);
        return MQ_EINVAL;
    }

    char *text = strdup(value);
    if (text == NULL) {
        text_err(err, errlen, "%s: out of memory", where);
        return MQ_ENOMEM;
    }
    char *v = text_trim(text);
    int rc = MQ_OK;
    if (*v == '\0') {
        text_err(err, errlen, "%s: missing value for '%s'", where, key);
        rc = MQ_EINVAL;
    } else if (k->type == KEY_STRING) {
        char **field = (char **)((char *)c + k->offset);
        if (v != text)
            memmove(text, v, strlen(v) + 1);
        free(*field);
        *field = text;
        return MQ_OK;
    } else if (k->type == KEY_CHOICE) {
        rc = set_choice(c, k, v, where, err, errlen);
    } else {
        rc = set_number(c, k, v, where, err, errlen);
    }
    free(text);
    return rc;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        text_err(err, errlen, "%s: %s", path, strerror(errno));
        return MQ_EIO;
    }

    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    int rc = MQ_OK;
    errno = 0;
    while (getline(&line, &cap, f) != -1) {
        lineno++;
        char *z = text_trim(line);
        if (*z == '\0' || *z == '#')
            continue;

        char *key = z;
        while (*z != '\0' && !text_is_blank(*z))
            z++;
        if (*z != '\0')
            *z++ = '\0';

        char where[64 + 4096];
        snprintf(where, sizeof(where), "%s:%u", path, lineno);
        rc = config_set(c, key, z, where, err, errlen);
        if (rc != MQ_OK)
            goto out;
        errno = 0;
    }
    if (ferror(f)) {
        text_err(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
        rc = MQ_EIO;
    }
out:
    free(line);
    fclose(f);
    return rc;
}

void config_free(struct config *c)
{
    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        if (config_keys[i].type != KEY_STRING)
            continue;
        char **field = (char **)((char *)c + config_keys[i].offset);
        free(*field);
        *field = NULL;
    }
}
