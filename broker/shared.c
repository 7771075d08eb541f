/*
 * shared.c - the shared subscription registry (see shared.h). Groups are a
 * flat array searched linearly: shared subscriptions serve a handful of
 * back-end consumers, not thousands of viewers.
 */
#include "shared.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "topic.h"

#define SHARE_PREFIX     "$share/"
#define SHARE_PREFIX_LEN 7

bool shared_parse(const char *s, size_t len, const char **group, size_t *group_len,
                  const char **filter, size_t *filter_len, bool *valid)
{
    if (len < SHARE_PREFIX_LEN || memcmp(s, SHARE_PREFIX, SHARE_PREFIX_LEN) != 0)
        return false;
    const char *g = s + SHARE_PREFIX_LEN;
    const char *end = s + len;
    const char *slash = memchr(g, '/', (size_t)(end - g));
    *valid = false;
    if (!slash || slash == g || slash + 1 >= end)
        return true;
    for (const char *p = g; p < slash; p++)
        if (*p == '+' || *p == '#')
            return true;
    *group = g;
    *group_len = (size_t)(slash - g);
    *filter = slash + 1;
    *filter_len = (size_t)(end - slash - 1);
    *valid = topic_validate_filter(*filter, *filter_len) == MQ_OK;
    return true;
}

int shared_init(struct shared_registry *r)
{
    memset(r, 0, sizeof(*r));
    atomic_init(&r->count, 0);
    return pthread_mutex_init(&r->lock, NULL) == 0 ? MQ_OK : MQ_ENOMEM;
}

static void group_free(struct shared_group *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->members[i].client_id);
    free(g->members);
    free(g->name);
    free(g->filter);
}

void shared_free(struct shared_registry *r)
{
    for (size_t i = 0; i < r->n; i++)
        group_free(&r->groups[i]);
    free(r->groups);
    pthread_mutex_destroy(&r->lock);
}

static struct shared_group *group_find(struct shared_registry *r, const char *group,
                                       size_t group_len, const char *filter, size_t filter_len)
{
    for (size_t i = 0; i < r->n; i++) {
        struct shared_group *g = &r->groups[i];
        if (strlen(g->name) == group_len && memcmp(g->name, group, group_len) == 0 &&
            g->filter_len == filter_len && memcmp(g->filter, filter, filter_len) == 0)
            return g;
    }
    return NULL;
}

static struct shared_group *group_create(struct shared_registry *r, const char *group,
                                         size_t group_len, const char *filter, size_t filter_len)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        struct shared_group *a = realloc(r->groups, cap * sizeof(*a));
        if (!a)
            return NULL;
        r->groups = a;
        r->cap = cap;
    }
    struct shared_group *g = &r->groups[r->n];
    memset(g, 0, sizeof(*g));
    g->name = strndup(group, group_len);
    g->filter = strndup(filter, filter_len);
    g->filter_len = filter_len;
    if (!g->name || !g->filter) {
        group_free(g);
        return NULL;
    }
    r->n++;
    atomic_store(&r->count, r->n);
    return g;
}

int shared_add(struct shared_registry *r, const char *group, size_t group_len, const char *filter,
               size_t filter_len, const struct shared_member *m)
{
    int rc = MQ_ENOMEM;
    pthread_mutex_lock(&r->lock);
    struct shared_group *g = group_find(r, group, group_len, filter, filter_len);
    if (!g && r->n >= SHARED_MAX_GROUPS) {
        rc = MQ_EFULL;
        goto out;
    }
    if (!g)
        g = group_create(r, group, group_len, filter, filter_len);
    if (!g)
        goto out;
    for (size_t i = 0; i < g->n; i++) {
        if (g->members[i].session_uid == m->session_uid) {
            g->members[i].options = m->options;
            g->members[i].sub_id = m->sub_id;
            rc = 0;
            goto out;
        }
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4;
        struct shared_member *a = realloc(g->members, cap * sizeof(*a));
        if (!a)
            goto out;
        g->members = a;
        g->cap = cap;
    }
    char *cid = strdup(m->client_id);
    if (!cid)
        goto out;
    g->members[g->n] = *m;
    g->members[g->n].client_id = cid;
    g->n++;
    rc = 1;
out:
    if (g && g->n == 0) { /* made just now, and the member could not join */
        group_free(g);
        *g = r->groups[--r->n];
        atomic_store(&r->count, r->n);
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int shared_remove(struct shared_registry *r, const char *group, size_t group_len,
                  const char *filter, size_t filter_len, uint64_t session_uid)
{
    int rc = MQ_ENOTFOUND;
    pthread_mutex_lock(&r->lock);
    struct shared_group *g = group_find(r, group, group_len, filter, filter_len);
    for (size_t i = 0; g && i < g->n; i++) {
        if (g->members[i].session_uid != session_uid)
            continue;
        free(g->members[i].client_id);
        g->members[i] = g->members[--g->n];
        rc = MQ_OK;
        if (g->n == 0) {
            group_free(g);
            *g = r->groups[--r->n];
            atomic_store(&r->count, r->n);
        }
        break;
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

size_t shared_pick(struct shared_registry *r, const char *topic, size_t topic_len,
                   bool literal_first, struct shared_pick *out, size_t max)
{
    if (atomic_load_explicit(&r->count, memory_order_relaxed) == 0)
        return 0;
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n && n < max; i++) {
        struct shared_group *g = &r->groups[i];
        if (literal_first && (g->filter[0] == '+' || g->filter[0] == '#'))
            continue;
        if (!topic_matches(g->filter, g->filter_len, topic, topic_len))
            continue;
        struct shared_member *m = &g->members[g->next++ % g->n];
        char *cid = strdup(m->client_id);
        if (!cid)
            continue;
        out[n++] = (struct shared_pick){m->worker, m->session_uid, cid, m->options, m->sub_id};
    }
    pthread_mutex_unlock(&r->lock);
    return n;
}
