/*
 * chat_control.c - comment control settings and the per-message check
 * (see chat_control.h for the settings and their rules).
 *
 * A document is parsed once, when it is installed, into a struct cc_doc:
 * the members it holds (a bit each), their values, its word filter built,
 * and its canonical JSON text (members in a fixed order, compact), which is
 * what chat_control_json() shows and chat_control_merge() returns. The
 * check never looks at JSON: it picks each member from the room's document
 * or the system's (resolve()), under the read lock, and runs the word
 * filter before letting go of the lock, since a replaced document (and its
 * filter) is freed as soon as the writer holds the write lock no more.
 * The buckets (struct rate_table) have their own locks: tokens are taken
 * after the read lock is released.
 *
 * Rooms are a strmap of struct cc_room holders, whose document is swapped
 * in place: installing a document for a known room cannot fail halfway.
 *
 * This file does not touch the database, nor decide membership (the
 * caller passes the sender's role).
 */
#include "chat_control.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "chat_dir.h"
#include "errors.h"
#include "json.h"
#include "log.h"
#include "mqtt_codec.h"
#include "ratelimit.h"
#include "strmap.h"
#include "textutil.h"
#include "wordfilter.h"

#define RATE_COUNT_MAX 10000
#define SECONDS_MAX    86400
#define MAX_LENGTH_MAX 100000
#define KEY_STACK      256 /* bucket keys up to this size are built on the stack */

/* The members, in the order documents are written: an index each (into
 * member_names), and a bit each (in struct cc_doc's has). */
enum cc_index { IX_RATE, IX_SLOW, IX_MAXLEN, IX_WHO, IX_FILTER, IX_PRESENCE, NMEMBERS };
enum cc_member {
    CC_RATE = 1u << IX_RATE,
    CC_SLOW = 1u << IX_SLOW,
    CC_MAXLEN = 1u << IX_MAXLEN,
    CC_WHO = 1u << IX_WHO,
    CC_FILTER = 1u << IX_FILTER,
    CC_PRESENCE = 1u << IX_PRESENCE,
    CC_ALL_MEMBERS = (1u << NMEMBERS) - 1,
};

static const char *const member_names[NMEMBERS] = {
    [IX_RATE] = "rate",        [IX_SLOW] = "slow_mode",     [IX_MAXLEN] = "max_length",
    [IX_WHO] = "who_can_post", [IX_FILTER] = "word_filter", [IX_PRESENCE] = "presence_events",
};

enum cc_who { CC_WHO_ALL = 0, CC_WHO_MEMBERS, CC_WHO_MODERATORS };
static const char *const who_names[] = {"all", "members", "moderators"};

/* Settings values; which of them a document holds is its `has`. */
struct cc_values {
    uint32_t rate_count;             /* messages per rate_seconds; 0 = off */
    uint32_t rate_seconds;           /* 1..SECONDS_MAX, or 0 with rate_count 0 */
    uint32_t slow_mode;              /* seconds between two messages; 0 = off */
    uint32_t max_length;             /* code points of text; 0 = no limit */
    enum cc_who who;                 /* who may post in the room */
    bool mask;                       /* word_filter policy: mask (true) or reject */
    bool presence_events;            /* presence topic carries names */
    const struct wordfilter *filter; /* NULL: no words */
    const char *words;               /* the words as a JSON array (not NUL-terminated) */
    size_t words_len;                /* bytes of words; 0 when none */
};

static const struct cc_values defaults = {.presence_events = true};

/* One installed document. */
struct cc_doc {
    unsigned has;              /* enum cc_member bits: the members present */
    struct cc_values v;        /* v.filter is filter; v.words points into json */
    struct wordfilter *filter; /* owned; NULL when the word list is empty or absent */
    char *json;                /* canonical compact text, NUL-terminated */
    size_t json_len;
};

/* A room's entry in cc->rooms: the map key, and the document swapped in place. */
struct cc_room {
    struct cc_doc *doc; /* never NULL while in the map */
    size_t len;
    char name[];
};

struct chat_control {
    pthread_rwlock_t lock; /* guards sys and rooms (not buckets) */
    struct cc_doc *sys;    /* the system document; NULL when none */
    struct strmap rooms;   /* room name -> struct cc_room */
    struct rate_table *buckets;
};

/* ---- documents: parsing and writing ---------------------------------------------------------
 */

static void doc_free(struct cc_doc *d)
{
    if (!d)
        return;
    wordfilter_free(d->filter);
    free(d->json);
    free(d);
}

/* Parses text[0..len) into a cJSON object (*out). MQ_OK, MQ_EINVAL (err
 * says why), MQ_ENOMEM. */
static int json_object_parse(const char *text, size_t len, cJSON **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!text) {
        text_err(err, errlen, "the document is not a JSON object");
        return MQ_EINVAL;
    }
    if (mqtt_utf8_check(text, len) != MQ_OK) {
        text_err(err, errlen, "the document is not valid UTF-8");
        return MQ_EINVAL;
    }
    if (json_has_nul_escape(text, len)) {
        text_err(err, errlen, "NUL characters (\\u0000) are not accepted");
        return MQ_EINVAL;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return MQ_ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    /* The NUL inside the length: trailing garbage is refused. */
    cJSON *o = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
    free(copy);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        text_err(err, errlen, "the document is not a JSON object");
        return MQ_EINVAL;
    }
    *out = o;
    return MQ_OK;
}

/* The bytes of the member name s to quote in a message: at most 40, cut
 * at a character boundary (the message may end up in a JSON answer). */
static int name_cut(const char *s)
{
    size_t n = strlen(s);
    if (n <= 40)
        return (int)n;
    for (n = 40; n > 0 && ((unsigned char)s[n] & 0xC0u) == 0x80u; n--)
        ;
    return (int)n;
}

/* Refuses members of obj other than names[0..n), and any of them twice.
 * what names obj in the message ("" for the document). */
static bool members_check(const cJSON *obj, const char *what, const char *const *names, size_t n,
                          char *err, size_t errlen)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, obj)
    {
        size_t i;
        for (i = 0; i < n && strcmp(m->string, names[i]) != 0; i++)
            ;
        if (i == n) {
            text_err(err, errlen, "unknown member '%s%s%.*s'", what, *what ? "." : "",
                     name_cut(m->string), m->string);
            return false;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const cJSON *item;
        if (!json_unique_member(obj, names[i], &item)) {
            text_err(err, errlen, "'%s%s%s' appears twice", what, *what ? "." : "", names[i]);
            return false;
        }
    }
    return true;
}

/* The whole number v in min..max into *out; false (err set) otherwise. */
static bool whole_number(const cJSON *v, const char *name, uint32_t min, uint32_t max,
                         uint32_t *out, char *err, size_t errlen)
{
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1.0;
    if (!cJSON_IsNumber(v) || !(d >= (double)min && d <= (double)max) || d != (double)(uint32_t)d) {
        text_err(err, errlen, "'%s' must be a whole number from %u to %u", name, (unsigned)min,
                 (unsigned)max);
        return false;
    }
    *out = (uint32_t)d;
    return true;
}

static bool parse_rate(const cJSON *v, struct cc_values *out, char *err, size_t errlen)
{
    static const char *const names[] = {"count", "seconds"};
    const cJSON *count, *seconds;
    if (!cJSON_IsObject(v)) {
        text_err(err, errlen, "'rate' must be an object with count and seconds");
        return false;
    }
    if (!members_check(v, "rate", names, 2, err, errlen))
        return false;
    json_unique_member(v, "count", &count);
    json_unique_member(v, "seconds", &seconds);
    if (!count) {
        text_err(err, errlen, "'rate.count' is required");
        return false;
    }
    if (!whole_number(count, "rate.count", 0, RATE_COUNT_MAX, &out->rate_count, err, errlen))
        return false;
    out->rate_seconds = 0;
    if (out->rate_count == 0) /* off: seconds may be left out, or 0 */
        return !seconds || whole_number(seconds, "rate.seconds", 0, SECONDS_MAX, &out->rate_seconds,
                                        err, errlen);
    if (!seconds) {
        text_err(err, errlen, "'rate.seconds' is required");
        return false;
    }
    return whole_number(seconds, "rate.seconds", 1, SECONDS_MAX, &out->rate_seconds, err, errlen);
}

/* Parses word_filter into out->mask and d->filter (built). The words'
 * JSON is written later, from v. */
static int parse_filter(const cJSON *v, struct cc_doc *d, char *err, size_t errlen)
{
    static const char *const names[] = {"words", "policy"};
    const cJSON *words, *policy, *w;
    const char **a = NULL;
    size_t *lens = NULL, n = 0;
    int rc;

    if (!cJSON_IsObject(v)) {
        text_err(err, errlen, "'word_filter' must be an object with words and policy");
        return MQ_EINVAL;
    }
    if (!members_check(v, "word_filter", names, 2, err, errlen))
        return MQ_EINVAL;
    json_unique_member(v, "words", &words);
    json_unique_member(v, "policy", &policy);
    d->v.mask = false;
    if (policy) {
        if (cJSON_IsString(policy) && strcmp(policy->valuestring, "mask") == 0) {
            d->v.mask = true;
        } else if (!cJSON_IsString(policy) || strcmp(policy->valuestring, "reject") != 0) {
            text_err(err, errlen, "'word_filter.policy' must be \"reject\" or \"mask\"");
            return MQ_EINVAL;
        }
    }
    if (!words)
        return MQ_OK;
    if (!cJSON_IsArray(words) || cJSON_GetArraySize(words) > WORDFILTER_MAX_WORDS) {
        text_err(err, errlen, "'word_filter.words' must be an array of at most %d strings",
                 WORDFILTER_MAX_WORDS);
        return MQ_EINVAL;
    }
    size_t nw = (size_t)cJSON_GetArraySize(words);
    if (nw == 0)
        return MQ_OK;
    a = malloc(nw * sizeof(*a));
    lens = malloc(nw * sizeof(*lens));
    if (!a || !lens) {
        rc = MQ_ENOMEM;
        goto out;
    }
    cJSON_ArrayForEach(w, words)
    {
        size_t len = cJSON_IsString(w) ? strlen(w->valuestring) : 0;
        if (!cJSON_IsString(w) || !wordfilter_word_valid(w->valuestring, len)) {
            text_err(err, errlen,
                     "'word_filter.words[%zu]' must be 1 to %d bytes of UTF-8, not only blanks", n,
                     WORDFILTER_WORD_MAX);
            rc = MQ_EINVAL;
            goto out;
        }
        a[n] = w->valuestring;
        lens[n++] = len;
    }
    rc = wordfilter_build(a, lens, n, &d->filter);
    if (rc == MQ_EINVAL) /* checked above: should not happen */
        text_err(err, errlen, "'word_filter.words' holds a bad word");
out:
    free(a);
    free(lens);
    return rc;
}

/* Parses one member (its bit is `bit`) of a document into d. */
static int parse_member(unsigned bit, const cJSON *v, struct cc_doc *d, char *err, size_t errlen)
{
    switch (bit) {
    case CC_RATE:
        return parse_rate(v, &d->v, err, errlen) ? MQ_OK : MQ_EINVAL;
    case CC_SLOW:
        return whole_number(v, "slow_mode", 0, SECONDS_MAX, &d->v.slow_mode, err, errlen)
                   ? MQ_OK
                   : MQ_EINVAL;
    case CC_MAXLEN:
        return whole_number(v, "max_length", 0, MAX_LENGTH_MAX, &d->v.max_length, err, errlen)
                   ? MQ_OK
                   : MQ_EINVAL;
    case CC_WHO:
        for (size_t i = 0; cJSON_IsString(v) && i < sizeof(who_names) / sizeof(who_names[0]); i++) {
            if (strcmp(v->valuestring, who_names[i]) == 0) {
                d->v.who = (enum cc_who)i;
                return MQ_OK;
            }
        }
        text_err(err, errlen, "'who_can_post' must be \"all\", \"members\" or \"moderators\"");
        return MQ_EINVAL;
    case CC_FILTER:
        return parse_filter(v, d, err, errlen);
    case CC_PRESENCE:
        if (!cJSON_IsBool(v)) {
            text_err(err, errlen, "'presence_events' must be true or false");
            return MQ_EINVAL;
        }
        d->v.presence_events = cJSON_IsTrue(v);
        return MQ_OK;
    }
    return MQ_EINVAL;
}

/*
 * Writes the members `has` of v to b as a compact JSON object. words_off
 * (may be NULL) gets the offset in b of the word array, when written.
 */
static void values_write(const struct cc_values *v, unsigned has, struct jbuf *b, size_t *words_off)
{
    const char *sep = "";
    jbuf_putc(b, '{');
    for (size_t i = 0; i < NMEMBERS; i++) {
        unsigned bit = 1u << i;
        if (!(has & bit))
            continue;
        jbuf_printf(b, "%s\"%s\":", sep, member_names[i]);
        sep = ",";
        switch (bit) {
        case CC_RATE:
            jbuf_printf(b, "{\"count\":%u,\"seconds\":%u}", (unsigned)v->rate_count,
                        (unsigned)v->rate_seconds);
            break;
        case CC_SLOW:
            jbuf_printf(b, "%u", (unsigned)v->slow_mode);
            break;
        case CC_MAXLEN:
            jbuf_printf(b, "%u", (unsigned)v->max_length);
            break;
        case CC_WHO:
            jbuf_str(b, who_names[v->who], strlen(who_names[v->who]));
            break;
        case CC_FILTER:
            jbuf_puts(b, "{\"words\":");
            if (words_off)
                *words_off = b->len;
            if (v->words_len > 0)
                jbuf_put(b, v->words, v->words_len);
            else
                jbuf_puts(b, "[]");
            jbuf_printf(b, ",\"policy\":\"%s\"}", v->mask ? "mask" : "reject");
            break;
        case CC_PRESENCE:
            jbuf_puts(b, v->presence_events ? "true" : "false");
            break;
        }
    }
    jbuf_putc(b, '}');
}

/* The words of word_filter (obj, already checked) as a compact JSON
 * array, into b. */
static void words_write(const cJSON *obj, struct jbuf *b)
{
    const cJSON *wf, *words, *w;
    const char *sep = "";
    json_unique_member(obj, "word_filter", &wf);
    json_unique_member(wf, "words", &words);
    jbuf_putc(b, '[');
    cJSON_ArrayForEach(w, words)
    {
        jbuf_puts(b, sep);
        jbuf_str(b, w->valuestring, strlen(w->valuestring));
        sep = ",";
    }
    jbuf_putc(b, ']');
}

/*
 * Parses the document obj into *out (a new struct cc_doc, its filter built
 * and its canonical JSON written). MQ_OK, MQ_EINVAL (err says why),
 * MQ_ENOMEM.
 */
static int doc_parse(const cJSON *obj, struct cc_doc **out, char *err, size_t errlen)
{
    struct jbuf b, words;
    struct cc_doc *d;
    int rc = MQ_EINVAL;

    *out = NULL;
    jbuf_init(&b);
    jbuf_init(&words);
    if (!(d = calloc(1, sizeof(*d))))
        return MQ_ENOMEM;
    d->v = defaults;
    if (!members_check(obj, "", member_names, NMEMBERS, err, errlen))
        goto err;
    for (size_t i = 0; i < NMEMBERS; i++) {
        const cJSON *m;
        json_unique_member(obj, member_names[i], &m);
        if (!m)
            continue;
        if ((rc = parse_member(1u << i, m, d, err, errlen)) != MQ_OK)
            goto err;
        d->has |= 1u << i;
    }
    d->v.filter = d->filter;

    /* The canonical text, then v.words pointed into it. */
    if (d->filter) {
        words_write(obj, &words);
        d->v.words = words.p;
        d->v.words_len = words.len;
    }
    size_t words_off = 0;
    values_write(&d->v, d->has, &b, &words_off);
    rc = MQ_ENOMEM;
    if (b.oom || words.oom)
        goto err;
    d->json = jbuf_take(&b, &d->json_len);
    d->v.words = d->filter ? d->json + words_off : NULL;
    jbuf_free(&words);
    *out = d;
    return MQ_OK;
err:
    jbuf_free(&b);
    jbuf_free(&words);
    doc_free(d);
    return rc;
}

/* Parses a document's text; *out NULL when it holds no member. */
static int doc_from_text(const char *text, size_t len, struct cc_doc **out, char *err,
                         size_t errlen)
{
    cJSON *obj;
    *out = NULL;
    if (len == 0)
        return MQ_OK;
    int rc = json_object_parse(text, len, &obj, err, errlen);
    if (rc != MQ_OK)
        return rc;
    rc = doc_parse(obj, out, err, errlen);
    cJSON_Delete(obj);
    if (rc == MQ_OK && (*out)->has == 0) {
        doc_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- the lock ------------------------------------------------------------------------------ */

/* A failing rwlock call means a corrupted lock or a thread that holds it
 * already: a bug, not a condition to survive. */
static void cc_lock_failed(const char *what, int err)
{
    log_error("chat control: %s failed: %s", what, strerror(err));
    abort();
}

static void read_lock(struct chat_control *cc)
{
    int err = pthread_rwlock_rdlock(&cc->lock);
    if (err)
        cc_lock_failed("pthread_rwlock_rdlock", err);
}

static void write_lock(struct chat_control *cc)
{
    int err = pthread_rwlock_wrlock(&cc->lock);
    if (err)
        cc_lock_failed("pthread_rwlock_wrlock", err);
}

static void unlock(struct chat_control *cc)
{
    int err = pthread_rwlock_unlock(&cc->lock);
    if (err)
        cc_lock_failed("pthread_rwlock_unlock", err);
}

/* ---- the whole ------------------------------------------------------------------------------ */

struct chat_control *chat_control_new(void)
{
    pthread_rwlockattr_t attr;
    struct chat_control *cc = calloc(1, sizeof(*cc));
    if (!cc)
        return NULL;
    if (strmap_init(&cc->rooms) != MQ_OK)
        goto err;
    if (!(cc->buckets = rate_table_new(CHAT_CONTROL_MAX_BUCKETS)))
        goto err;
    if (pthread_rwlockattr_init(&attr) != 0)
        goto err;
#ifdef __GLIBC__
    /* Writers first: settings changes must not wait behind a stream of checks. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    int e = pthread_rwlock_init(&cc->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (e != 0)
        goto err;
    return cc;
err:
    rate_table_free(cc->buckets);
    strmap_free(&cc->rooms);
    free(cc);
    return NULL;
}

static void free_room(void *ctx, void *value)
{
    struct cc_room *r = value;
    doc_free(r->doc);
    free(r);
}

void chat_control_free(struct chat_control *cc)
{
    if (!cc)
        return;
    strmap_each(&cc->rooms, free_room, NULL);
    strmap_free(&cc->rooms);
    doc_free(cc->sys);
    rate_table_free(cc->buckets);
    pthread_rwlock_destroy(&cc->lock);
    free(cc);
}

/* The room's document, or NULL (read lock held). */
static const struct cc_doc *room_doc(const struct chat_control *cc, const char *room, size_t len)
{
    const struct cc_room *r = strmap_get(&cc->rooms, room, len);
    return r ? r->doc : NULL;
}

/* The settings in force: each member from room, else sys, else the
 * default (either document may be NULL). */
static void resolve(const struct cc_doc *room, const struct cc_doc *sys, struct cc_values *out)
{
    const struct cc_doc *src[NMEMBERS];
    *out = defaults;
    for (size_t i = 0; i < NMEMBERS; i++) {
        unsigned bit = 1u << i;
        src[i] = room && (room->has & bit) ? room : sys && (sys->has & bit) ? sys : NULL;
    }
    if (src[IX_RATE]) {
        out->rate_count = src[IX_RATE]->v.rate_count;
        out->rate_seconds = src[IX_RATE]->v.rate_seconds;
    }
    if (src[IX_SLOW])
        out->slow_mode = src[IX_SLOW]->v.slow_mode;
    if (src[IX_MAXLEN])
        out->max_length = src[IX_MAXLEN]->v.max_length;
    if (src[IX_WHO])
        out->who = src[IX_WHO]->v.who;
    if (src[IX_FILTER]) {
        out->mask = src[IX_FILTER]->v.mask;
        out->filter = src[IX_FILTER]->v.filter;
        out->words = src[IX_FILTER]->v.words;
        out->words_len = src[IX_FILTER]->v.words_len;
    }
    if (src[IX_PRESENCE])
        out->presence_events = src[IX_PRESENCE]->v.presence_events;
}

int chat_control_merge(struct chat_control *cc, const char *room, size_t room_len,
                       const char *patch, size_t len, char **merged, char *err, size_t errlen)
{
    cJSON *p = NULL, *base = NULL;
    struct cc_doc *d = NULL;
    char *stored = NULL;
    const cJSON *m;
    int rc;

    *merged = NULL;
    if (room && !chat_name_valid(room, room_len)) {
        text_err(err, errlen, "bad room name");
        return MQ_EINVAL;
    }
    if ((rc = json_object_parse(patch, len, &p, err, errlen)) != MQ_OK)
        return rc;
    rc = MQ_EINVAL;
    if (!members_check(p, "", member_names, NMEMBERS, err, errlen))
        goto out;

    /* The stored document, copied out of the lock. */
    rc = MQ_ENOMEM;
    read_lock(cc);
    const struct cc_doc *old = room ? room_doc(cc, room, room_len) : cc->sys;
    stored = strdup(old ? old->json : "{}");
    unlock(cc);
    if (!stored || !(base = cJSON_Parse(stored)))
        goto out;

    cJSON_ArrayForEach(m, p)
    {
        cJSON_DeleteItemFromObjectCaseSensitive(base, m->string);
        if (cJSON_IsNull(m))
            continue;
        cJSON *copy = cJSON_Duplicate(m, true);
        if (!copy || !cJSON_AddItemToObject(base, m->string, copy)) {
            cJSON_Delete(copy);
            goto out;
        }
    }
    if ((rc = doc_parse(base, &d, err, errlen)) != MQ_OK)
        goto out;
    *merged = d->json;
    d->json = NULL;
out:
    doc_free(d);
    cJSON_Delete(base);
    cJSON_Delete(p);
    free(stored);
    return rc;
}

int chat_control_set(struct chat_control *cc, const char *room, size_t room_len, const char *doc,
                     size_t len)
{
    struct cc_doc *d, *old = NULL;
    struct cc_room *r, *gone = NULL;
    int rc;

    if (room && !chat_name_valid(room, room_len))
        return MQ_EINVAL;
    if ((rc = doc_from_text(doc, len, &d, NULL, 0)) != MQ_OK)
        return rc;
    write_lock(cc);
    if (!room) {
        old = cc->sys;
        cc->sys = d;
    } else if ((r = strmap_get(&cc->rooms, room, room_len))) {
        old = r->doc;
        if (d) {
            r->doc = d;
        } else {
            strmap_remove(&cc->rooms, room, room_len);
            gone = r;
        }
    } else if (d) {
        if ((r = malloc(sizeof(*r) + room_len))) {
            r->doc = d;
            r->len = room_len;
            memcpy(r->name, room, room_len);
        }
        if (!r || strmap_put(&cc->rooms, r->name, r->len, r) != MQ_OK) {
            free(r);
            old = d; /* freed below: nothing installed */
            rc = MQ_ENOMEM;
        }
    }
    unlock(cc);
    /* No reader can hold these any more. */
    doc_free(old);
    free(gone);
    return rc;
}

void chat_control_json(struct chat_control *cc, const char *room, size_t room_len, bool effective,
                       struct jbuf *out)
{
    read_lock(cc);
    const struct cc_doc *rd = room ? room_doc(cc, room, room_len) : NULL;
    if (!effective) {
        const struct cc_doc *d = room ? rd : cc->sys;
        jbuf_puts(out, d ? d->json : "{}");
    } else {
        struct cc_values v;
        resolve(rd, cc->sys, &v);
        if (v.rate_count == 0)
            v.rate_seconds = 0;
        values_write(&v, CC_ALL_MEMBERS, out, NULL);
    }
    unlock(cc);
}

bool chat_control_presence_events(struct chat_control *cc, const char *room, size_t room_len)
{
    struct cc_values v;
    read_lock(cc);
    resolve(room ? room_doc(cc, room, room_len) : NULL, cc->sys, &v);
    unlock(cc);
    return v.presence_events;
}

/* ---- the check -------------------------------------------------------------------------------
 */

/* True when text[0..len) (UTF-8) holds more than max code points. */
static bool too_long(const char *text, size_t len, uint32_t max)
{
    size_t n = 0;
    if (len <= max) /* a code point takes a byte at least */
        return false;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)text[i] & 0xC0u) != 0x80u && ++n > max)
            return true;
    return false;
}

/*
 * A bucket key: tag, then the room's length (4 bytes) and bytes, then the
 * user's bytes, so that no two (room, user) pairs share a key. Built in
 * buf (KEY_STACK bytes) when it fits, else malloc'd (*heap set, the caller
 * frees it). NULL when out of memory.
 */
static char *bucket_key(char *buf, char **heap, char tag, const char *room, size_t room_len,
                        const char *user, size_t user_len, size_t *len)
{
    uint32_t rl = (uint32_t)room_len;
    char *k = buf;
    *len = 1 + sizeof(rl) + room_len + user_len;
    *heap = NULL;
    if (*len > KEY_STACK && !(k = *heap = malloc(*len)))
        return NULL;
    k[0] = tag;
    memcpy(k + 1, &rl, sizeof(rl));
    if (room_len)
        memcpy(k + 1 + sizeof(rl), room, room_len);
    memcpy(k + 1 + sizeof(rl) + room_len, user, user_len);
    return k;
}

static void refuse(struct control_verdict *v, uint8_t code, const char *reason)
{
    free(v->masked);
    v->masked = NULL;
    v->masked_len = 0;
    v->code = code;
    v->reason = reason;
}

int chat_control_check(struct chat_control *cc, const struct control_post *p,
                       struct control_verdict *v)
{
    struct cc_values e;
    bool dm = p->room == NULL;
    int rc = MQ_OK;

    memset(v, 0, sizeof(*v));
    read_lock(cc);
    resolve(dm ? NULL : room_doc(cc, p->room, p->room_len), cc->sys, &e);
    if (dm) { /* direct messages: the system's rate, max_length and word_filter */
        e.who = CC_WHO_ALL;
        e.slow_mode = 0;
    }
    if ((e.who == CC_WHO_MEMBERS && p->member_role < 0) ||
        (e.who == CC_WHO_MODERATORS && p->member_role < CHAT_MODERATOR)) {
        refuse(v, 0x87, e.who == CC_WHO_MEMBERS ? "members_only" : "moderators_only");
    } else if (p->text && e.max_length > 0 && too_long(p->text, p->text_len, e.max_length)) {
        refuse(v, 0x99, "too_long");
    } else if (p->text && e.filter) {
        if (!e.mask) {
            if (wordfilter_match(e.filter, p->text, p->text_len))
                refuse(v, 0x99, "filtered");
        } else {
            int n = wordfilter_mask(e.filter, p->text, p->text_len, &v->masked, &v->masked_len);
            if (n < 0)
                rc = MQ_ENOMEM;
        }
    }
    unlock(cc);
    if (rc != MQ_OK || v->code != 0)
        return rc;
    if (!dm && p->member_role >= CHAT_MODERATOR)
        return MQ_OK; /* moderators and owners: no slow mode, no rate */

    /* Slow mode first; its token goes back when the rate refuses. */
    char sbuf[KEY_STACK], rbuf[KEY_STACK];
    char *sheap = NULL, *rheap = NULL, *skey = NULL, *rkey;
    size_t slen = 0, rlen;
    if (e.slow_mode > 0) {
        skey = bucket_key(sbuf, &sheap, 's', p->room, p->room_len, p->user, p->user_len, &slen);
        if (!skey) {
            rc = MQ_ENOMEM;
            goto out;
        }
        if (!rate_take(cc->buckets, skey, slen, p->now_ms, 1, (uint64_t)e.slow_mode * 1000)) {
            refuse(v, 0x97, "slow_mode");
            goto out;
        }
    }
    if (e.rate_count > 0) {
        rkey = bucket_key(rbuf, &rheap, dm ? 'd' : 'r', p->room, dm ? 0 : p->room_len, p->user,
                          p->user_len, &rlen);
        if (!rkey) {
            rc = MQ_ENOMEM;
        } else if (!rate_take(cc->buckets, rkey, rlen, p->now_ms, e.rate_count,
                              (uint64_t)e.rate_seconds * 1000)) {
            refuse(v, 0x97, "rate_limited");
        }
        if (rkey == NULL || v->code != 0) {
            if (skey)
                rate_refund(cc->buckets, skey, slen);
        }
    }
out:
    if (rc != MQ_OK)
        refuse(v, 0, NULL);
    free(sheap);
    free(rheap);
    return rc;
}

void chat_control_sweep(struct chat_control *cc, uint64_t now_ms)
{
    rate_table_sweep(cc->buckets, now_ms);
}
