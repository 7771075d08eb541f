/*
 * acl.c - the Mosquitto acl_file: loading it and answering "may this client
 * read, write or subscribe to this?".
 *
 * A loaded file is three sets of entries: the anonymous list (topic lines
 * before the first `user` line), one list per username (topic lines after
 * `user NAME`; a name given twice gets one merged list) and the patterns
 * (pattern lines, for every client, anonymous included). A client is judged
 * by its own list (the anonymous one when it has no username) plus every
 * pattern:
 *   ACL_READ, ACL_WRITE on a topic name: granted when some entry with that
 *     access matches the topic and no deny entry matches it.
 *   ACL_SUBSCRIBE on a filter: granted when some read entry covers the
 *     filter (topic_filter_covers: every topic the filter matches is
 *     readable) and no deny entry overlaps it (matches some topic the filter
 *     matches too).
 * With no grant the answer is no: an empty file allows nothing.
 *
 * Lines are read as Mosquitto 2.0 reads them: `topic X` grants readwrite on
 * X; with more words the first must be the access and the rest of the line
 * (spaces included) is the topic. Errors name the file and line.
 *
 * Where this differs from Mosquitto 2.0, on purpose:
 *   - SUBSCRIBE is judged by coverage: with `topic read a/+/c` a client may
 *     subscribe to "a/+/c" or "a/b/c" but not to "a/#" or "#", and a deny
 *     overlapping the filter refuses the subscription as a whole.
 *     Mosquitto 2.0.11 grants every such SUBSCRIBE (checked: "a/#", "#" and
 *     a filter overlapping a deny all get QoS 0) and filters each message
 *     with the read check at delivery instead.
 *   - A username or client id containing '+', '#' or '/', or starting with
 *     '$' where it would form the first topic level, is never substituted:
 *     a grant pattern that needs it grants nothing, and a deny pattern that
 *     needs it denies everything. Mosquitto, when patterns exist, refuses
 *     all access to a client whose username or client id contains '+' or
 *     '#' (2.0.11 closes the connection at its SUBSCRIBE), and substitutes
 *     '/' and '$' as they are.
 *   - %u and %c must fill a whole topic level, as mosquitto.conf(5) says;
 *     "a/x%u" is a load error. Mosquitto 2.0.11 substitutes inside a level
 *     anyway ("users/x%u" gives "users/xalice"). %u and %c are only special
 *     in pattern lines.
 * This file does not decide what happens with no acl_file (the caller allows
 * everything) nor check passwords (auth.c).
 */
#include "acl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "textutil.h"
#include "topic.h"

struct acl_entry {
    char *filter;    /* owned, NUL-terminated, a valid topic filter; in patterns
                        %u and %c stand alone in their levels */
    size_t len;      /* strlen(filter) */
    unsigned access; /* ACL_READ and/or ACL_WRITE granted; 0 when deny */
    bool deny;       /* a deny entry: matching it refuses, whatever grants */
    bool has_user;   /* a pattern with a %u level */
    bool has_client; /* a pattern with a %c level */
};

struct acl_list {
    struct acl_entry *a; /* n entries in file order, room for cap */
    size_t n, cap;
};

struct acl_user {
    char *name;           /* owned username, as in CONNECT */
    struct acl_list list; /* that user's topic entries */
    unsigned order;       /* position of its first `user` line, to keep merges stable */
};

struct acl_db {
    struct acl_list anon;     /* topic lines before the first `user` line */
    struct acl_list patterns; /* pattern lines, for every client */
    struct acl_user *users;   /* n_users lists sorted by name, names unique */
    size_t n_users, cap_users;
};

/* Returns the index just past the level starting at `start`: the index of the
 * next '/' or len. */
static size_t level_end(const char *s, size_t len, size_t start)
{
    const char *slash = memchr(s + start, '/', len - start);
    return slash ? (size_t)(slash - s) : len;
}

static bool level_is(const char *s, size_t start, size_t end, const char *what)
{
    size_t n = strlen(what);
    return end - start == n && memcmp(s + start, what, n) == 0;
}

static bool level_is_wild(const char *s, size_t start, size_t end)
{
    return level_is(s, start, end, "+") || level_is(s, start, end, "#");
}

/*
 * True when some topic name is matched by both filters a and b (both valid).
 * Walks the levels side by side: '#' on either side absorbs the rest of the
 * other, '+' pairs with any one level, literals must be equal; one filter
 * running out first overlaps only when the other's remainder is "#" ("a/#"
 * matches "a"). A wildcard first level never meets a '$' first level.
 */
static bool filters_overlap(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t ai = 0, bi = 0;
    for (bool first = true;; first = false) {
        size_t ae = level_end(a, alen, ai), be = level_end(b, blen, bi);
        bool a_wild = level_is_wild(a, ai, ae), b_wild = level_is_wild(b, bi, be);
        if (first && a_wild && !b_wild && be > bi && b[bi] == '$')
            return false;
        if (first && b_wild && !a_wild && ae > ai && a[ai] == '$')
            return false;
        if (level_is(a, ai, ae, "#") || level_is(b, bi, be, "#"))
            return true;
        if (!a_wild && !b_wild && (ae - ai != be - bi || memcmp(a + ai, b + bi, ae - ai) != 0))
            return false;

        bool a_last = ae == alen, b_last = be == blen;
        if (a_last && b_last)
            return true;
        if (a_last)
            return blen - be == 2 && b[be + 1] == '#';
        if (b_last)
            return alen - ae == 2 && a[ae + 1] == '#';
        ai = ae + 1;
        bi = be + 1;
    }
}

/* What one entry says about one request. */
enum verdict {
    VERDICT_NONE = 0, /* the entry does not apply */
    VERDICT_GRANT,
    VERDICT_DENY,
};

/* Judges the filter f (an entry's, after any substitution) against topic
 * for access, as described at the top of the file. */
static enum verdict judge(const struct acl_entry *e, const char *f, size_t flen, const char *topic,
                          size_t len, enum acl_access access)
{
    if (access == ACL_SUBSCRIBE) {
        if (e->deny)
            return filters_overlap(f, flen, topic, len) ? VERDICT_DENY : VERDICT_NONE;
        if ((e->access & ACL_READ) && topic_filter_covers(f, flen, topic, len))
            return VERDICT_GRANT;
        return VERDICT_NONE;
    }
    if (!e->deny && !(e->access & (unsigned)access))
        return VERDICT_NONE;
    if (!topic_matches(f, flen, topic, len))
        return VERDICT_NONE;
    return e->deny ? VERDICT_DENY : VERDICT_GRANT;
}

/* True when value may not be substituted into a pattern: it could widen or
 * reshape the filter ('+', '#', '/'), or, as the first level, reach the '$'
 * topics. */
static bool value_is_hostile(const char *value, bool first_level)
{
    return strpbrk(value, "+#/") != NULL || (first_level && value[0] == '$');
}

/*
 * Judges a pattern for one client: substitutes %u and %c, then judge().
 * A pattern needing a username or client id the client lacks does not
 * apply; one needing a hostile value denies if it is a deny pattern and
 * does not apply otherwise. Out of memory denies.
 */
static enum verdict judge_pattern(const struct acl_entry *e, const char *username,
                                  const char *client_id, const char *topic, size_t len,
                                  enum acl_access access)
{
    if ((e->has_user && username == NULL) || (e->has_client && client_id == NULL))
        return VERDICT_NONE;
    if (!e->has_user && !e->has_client)
        return judge(e, e->filter, e->len, topic, len, access);

    /* The substituted length, checking each value where it lands. */
    size_t need = 0;
    bool hostile = false;
    for (size_t i = 0;;) {
        size_t end = level_end(e->filter, e->len, i);
        const char *value = NULL;
        if (level_is(e->filter, i, end, "%u"))
            value = username;
        else if (level_is(e->filter, i, end, "%c"))
            value = client_id;
        if (value != NULL) {
            hostile = hostile || value_is_hostile(value, i == 0);
            need += strlen(value);
        } else {
            need += end - i;
        }
        if (end == e->len)
            break;
        need++;
        i = end + 1;
    }
    if (hostile)
        return e->deny ? VERDICT_DENY : VERDICT_NONE;

    char local[256];
    char *f = need < sizeof(local) ? local : malloc(need + 1);
    if (f == NULL)
        return VERDICT_DENY;
    size_t o = 0;
    for (size_t i = 0;;) {
        size_t end = level_end(e->filter, e->len, i);
        const char *value = NULL;
        size_t vlen = end - i;
        if (level_is(e->filter, i, end, "%u"))
            value = username;
        else if (level_is(e->filter, i, end, "%c"))
            value = client_id;
        if (value != NULL)
            vlen = strlen(value);
        else
            value = e->filter + i;
        memcpy(f + o, value, vlen);
        o += vlen;
        if (end == e->len)
            break;
        f[o++] = '/';
        i = end + 1;
    }
    f[o] = '\0';

    enum verdict v = judge(e, f, o, topic, len, access);
    if (f != local)
        free(f);
    return v;
}

static int user_cmp(const void *pa, const void *pb)
{
    const struct acl_user *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    if (c != 0)
        return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

static const struct acl_list *find_user(const struct acl_db *db, const char *name)
{
    size_t lo = 0, hi = db->n_users;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, db->users[mid].name);
        if (c == 0)
            return &db->users[mid].list;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

bool acl_check(const struct acl_db *db, const char *username, const char *client_id,
               const char *topic, size_t len, enum acl_access access)
{
    if (db == NULL || topic == NULL || len == 0)
        return false;
    if (access != ACL_READ && access != ACL_WRITE && access != ACL_SUBSCRIBE)
        return false;

    bool granted = false;
    const struct acl_list *own = username ? find_user(db, username) : &db->anon;
    for (size_t i = 0; own != NULL && i < own->n; i++) {
        const struct acl_entry *e = &own->a[i];
        enum verdict v = judge(e, e->filter, e->len, topic, len, access);
        if (v == VERDICT_DENY)
            return false;
        granted = granted || v == VERDICT_GRANT;
    }
    for (size_t i = 0; i < db->patterns.n; i++) {
        enum verdict v = judge_pattern(&db->patterns.a[i], username, client_id, topic, len, access);
        if (v == VERDICT_DENY)
            return false;
        granted = granted || v == VERDICT_GRANT;
    }
    return granted;
}

static void list_free(struct acl_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->a[i].filter);
    free(l->a);
    l->a = NULL;
    l->n = l->cap = 0;
}

void acl_db_free(struct acl_db *db)
{
    if (db == NULL)
        return;
    list_free(&db->anon);
    list_free(&db->patterns);
    for (size_t i = 0; i < db->n_users; i++) {
        free(db->users[i].name);
        list_free(&db->users[i].list);
    }
    free(db->users);
    free(db);
}

/* Appends e to l (taking its filter). Returns MQ_OK or MQ_ENOMEM (l unchanged,
 * e's filter still the caller's). */
static int list_push(struct acl_list *l, const struct acl_entry *e)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 8;
        struct acl_entry *na = realloc(l->a, ncap * sizeof(*na));
        if (na == NULL)
            return MQ_ENOMEM;
        l->a = na;
        l->cap = ncap;
    }
    l->a[l->n++] = *e;
    return MQ_OK;
}

/* Appends l's entries to into and empties l. MQ_OK or MQ_ENOMEM (nothing
 * moved). */
static int list_merge(struct acl_list *into, struct acl_list *l)
{
    if (into->n + l->n > into->cap) {
        size_t ncap = into->n + l->n;
        struct acl_entry *na = realloc(into->a, ncap * sizeof(*na));
        if (na == NULL)
            return MQ_ENOMEM;
        into->a = na;
        into->cap = ncap;
    }
    memcpy(into->a + into->n, l->a, l->n * sizeof(*l->a));
    into->n += l->n;
    free(l->a);
    l->a = NULL;
    l->n = l->cap = 0;
    return MQ_OK;
}

/* Sorts the users by name and merges repeated names into the first one's list.
 * MQ_OK or MQ_ENOMEM (db still whole, to be freed). */
static int users_finish(struct acl_db *db)
{
    if (db->n_users == 0)
        return MQ_OK;
    qsort(db->users, db->n_users, sizeof(db->users[0]), user_cmp);
    size_t out = 0;
    for (size_t i = 1; i < db->n_users; i++) {
        struct acl_user *u = &db->users[i];
        if (strcmp(u->name, db->users[out].name) == 0) {
            if (list_merge(&db->users[out].list, &u->list) != MQ_OK)
                return MQ_ENOMEM;
            free(u->name);
            u->name = NULL;
        } else {
            db->users[++out] = *u;
            if (out != i)
                *u = (struct acl_user){0};
        }
    }
    db->n_users = out + 1;
    return MQ_OK;
}

/* Cuts the first word off z: NUL-terminates it and returns the rest, trimmed
 * (an empty string when there is none). */
static char *cut_word(char *z)
{
    while (*z != '\0' && !text_is_blank(*z))
        z++;
    if (*z == '\0')
        return z;
    *z++ = '\0';
    return text_trim(z);
}

/* Parses the access word; -1 when w is none. deny gives 0 with *deny set. */
static int parse_access(const char *w, bool *deny)
{
    *deny = false;
    if (strcmp(w, "read") == 0)
        return ACL_READ;
    if (strcmp(w, "write") == 0)
        return ACL_WRITE;
    if (strcmp(w, "readwrite") == 0)
        return ACL_READ | ACL_WRITE;
    if (strcmp(w, "deny") == 0) {
        *deny = true;
        return 0;
    }
    return -1;
}

/*
 * Parses the rest of a topic or pattern line ("[ACCESS] FILTER") into e,
 * with its own copy of the filter. Returns MQ_OK; MQ_EINVAL with what is
 * wrong in `what`; MQ_ENOMEM. On error e owns nothing.
 */
static int parse_entry(char *rest, bool pattern, struct acl_entry *e, char *what, size_t whatlen)
{
    *e = (struct acl_entry){.access = ACL_READ | ACL_WRITE};

    /* One word is the topic; with more, the first is the access (as Mosquitto). */
    char *filter = rest;
    size_t wlen = strcspn(rest, " \t\r\n\v\f");
    if (rest[wlen] != '\0') {
        char word[16];
        int access = -1;
        bool deny = false;
        if (wlen < sizeof(word)) {
            memcpy(word, rest, wlen);
            word[wlen] = '\0';
            access = parse_access(word, &deny);
        }
        if (access < 0) {
            text_err(what, whatlen,
                     "unknown access '%.*s' (expected read, write, readwrite or deny)",
                     (int)(wlen < 64 ? wlen : 64), rest);
            return MQ_EINVAL;
        }
        e->access = (unsigned)access;
        e->deny = deny;
        filter = text_trim(rest + wlen);
    }
    if (*filter == '\0') {
        text_err(what, whatlen, "missing topic");
        return MQ_EINVAL;
    }

    size_t len = strlen(filter);
    if (topic_validate_filter(filter, len) != MQ_OK) {
        text_err(what, whatlen, "invalid topic filter '%s'", filter);
        return MQ_EINVAL;
    }
    if (pattern) {
        for (size_t i = 0;;) {
            size_t end = level_end(filter, len, i);
            bool u = level_is(filter, i, end, "%u"), c = level_is(filter, i, end, "%c");
            e->has_user = e->has_user || u;
            e->has_client = e->has_client || c;
            if (!u && !c) {
                for (size_t j = i; j + 1 < end; j++) {
                    if (filter[j] == '%' && (filter[j + 1] == 'u' || filter[j + 1] == 'c')) {
                        text_err(what, whatlen, "%%u and %%c must fill a whole topic level in '%s'",
                                 filter);
                        return MQ_EINVAL;
                    }
                }
            }
            if (end == len)
                break;
            i = end + 1;
        }
    }
    e->filter = strdup(filter);
    if (e->filter == NULL)
        return MQ_ENOMEM;
    e->len = len;
    return MQ_OK;
}

/* Starts a `user NAME` section: a new user list, merged with any earlier one
 * of the same name by users_finish(). Returns MQ_OK or MQ_ENOMEM. */
static int add_user(struct acl_db *db, const char *name, unsigned order)
{
    if (db->n_users == db->cap_users) {
        size_t ncap = db->cap_users ? db->cap_users * 2 : 8;
        struct acl_user *nu = realloc(db->users, ncap * sizeof(*nu));
        if (nu == NULL)
            return MQ_ENOMEM;
        db->users = nu;
        db->cap_users = ncap;
    }
    char *copy = strdup(name);
    if (copy == NULL)
        return MQ_ENOMEM;
    db->users[db->n_users++] = (struct acl_user){.name = copy, .order = order};
    return MQ_OK;
}

int acl_db_load(const char *path, struct acl_db **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        text_err(err, errlen, "%s: %s", path, strerror(errno));
        return MQ_EIO;
    }

    int rc = MQ_OK;
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    bool in_user = false; /* after a `user` line: topics go to the last user */
    struct acl_db *db = calloc(1, sizeof(*db));
    if (db == NULL)
        goto nomem;

    while (getline(&line, &cap, f) != -1) {
        lineno++;
        char *z = text_trim(line);
        if (*z == '\0' || *z == '#')
            continue;
        char *rest = cut_word(z);

        if (strcmp(z, "user") == 0) {
            if (*rest == '\0') {
                text_err(err, errlen, "%s:%u: missing user name", path, lineno);
                rc = MQ_EINVAL;
                goto err;
            }
            if (add_user(db, rest, lineno) != MQ_OK)
                goto nomem;
            in_user = true;
            continue;
        }

        bool pattern = strcmp(z, "pattern") == 0;
        if (!pattern && strcmp(z, "topic") != 0) {
            text_err(err, errlen, "%s:%u: unknown keyword '%s' (expected topic, user or pattern)",
                     path, lineno, z);
            rc = MQ_EINVAL;
            goto err;
        }
        struct acl_entry e;
        char what[256];
        rc = parse_entry(rest, pattern, &e, what, sizeof(what));
        if (rc == MQ_ENOMEM)
            goto nomem;
        if (rc != MQ_OK) {
            text_err(err, errlen, "%s:%u: %s", path, lineno, what);
            goto err;
        }
        struct acl_list *l = pattern   ? &db->patterns
                             : in_user ? &db->users[db->n_users - 1].list
                                       : &db->anon;
        if (list_push(l, &e) != MQ_OK) {
            free(e.filter);
            goto nomem;
        }
    }
    if (ferror(f)) {
        text_err(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
        rc = MQ_EIO;
        goto err;
    }
    if (users_finish(db) != MQ_OK)
        goto nomem;

    free(line);
    fclose(f);
    *out = db;
    return MQ_OK;

nomem:
    text_err(err, errlen, "%s: out of memory", path);
    rc = MQ_ENOMEM;
err:
    free(line);
    fclose(f);
    acl_db_free(db);
    return rc;
}
