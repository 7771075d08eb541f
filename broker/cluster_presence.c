/*
 * cluster_presence.c - the other nodes' share of presence (see
 * cluster_presence.h).
 */
#include "cluster_presence.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "chat_dir.h"
#include "errors.h"
#include "json.h"
#include "log.h"
#include "presence.h"
#include "strmap.h"

#define MAX_NODES      1024    /* node.id is 0..1023 */
#define SNAPSHOT_CHUNK 500     /* names per snapshot event */
#define COUNT_MAX      1000000 /* a larger count is not believed */

/* What one node counts for one name. */
struct remote_count {
    int64_t count;
    uint32_t gen; /* the node's snapshot that last named it */
    size_t len;
    char name[];
};

struct cp_node {
    struct strmap counts[2]; /* per enum cluster_count: name -> struct remote_count */
    uint32_t gen;            /* the snapshot being received */
};

struct cluster_presence {
    struct presence *p;
    struct cp_node *nodes[MAX_NODES];
    unsigned known[MAX_NODES]; /* ids with a cp_node */
    size_t nknown;
};

struct cluster_presence *cluster_presence_new(struct presence *p)
{
    struct cluster_presence *cp = calloc(1, sizeof(*cp));
    if (cp)
        cp->p = p;
    return cp;
}

/* ---- sums ------------------------------------------------------------------------------------ */

static int64_t sum_of(struct cluster_presence *cp, enum cluster_count what, const char *name,
                      size_t len)
{
    int64_t sum = 0;
    for (size_t i = 0; i < cp->nknown; i++) {
        struct remote_count *rc = strmap_get(&cp->nodes[cp->known[i]]->counts[what], name, len);
        if (rc)
            sum += rc->count;
    }
    return sum;
}

static void changed(struct cluster_presence *cp, enum cluster_count what, const char *name,
                    size_t len)
{
    if (!cp->p)
        return;
    int64_t sum = sum_of(cp, what, name, len);
    if (what == CLUSTER_DEVICES)
        presence_remote_set(cp->p, name, len, sum > COUNT_MAX ? COUNT_MAX : (int)sum);
    else
        presence_room_remote_set(cp->p, name, len, sum);
}

/* ---- one node's table ------------------------------------------------------------------------ */

static struct cp_node *node_get(struct cluster_presence *cp, unsigned id)
{
    if (id >= MAX_NODES)
        return NULL;
    struct cp_node *n = cp->nodes[id];
    if (n)
        return n;
    if (!(n = calloc(1, sizeof(*n))))
        return NULL;
    if (strmap_init(&n->counts[0]) != MQ_OK || strmap_init(&n->counts[1]) != MQ_OK) {
        strmap_free(&n->counts[0]);
        free(n);
        return NULL;
    }
    cp->nodes[id] = n;
    cp->known[cp->nknown++] = id;
    return n;
}

static void set_count(struct cluster_presence *cp, struct cp_node *n, enum cluster_count what,
                      const char *name, size_t len, int64_t count)
{
    if (!chat_name_valid(name, len) || count < 0 || count > COUNT_MAX)
        return;
    struct strmap *m = &n->counts[what];
    struct remote_count *rc = strmap_get(m, name, len);
    if (!count) {
        if (rc) {
            strmap_remove(m, name, len);
            free(rc);
            changed(cp, what, name, len);
        }
        return;
    }
    if (!rc) {
        if (!(rc = malloc(sizeof(*rc) + len)))
            return;
        rc->count = 0;
        rc->len = len;
        memcpy(rc->name, name, len);
        if (strmap_put(m, rc->name, len, rc) != MQ_OK) {
            free(rc);
            log_warn("cluster: a count of '%.*s' from another node lost: out of memory", (int)len,
                     name);
            return;
        }
    }
    rc->gen = n->gen;
    if (rc->count != count) {
        rc->count = count;
        changed(cp, what, name, len);
    }
}

void cluster_presence_set(struct cluster_presence *cp, unsigned node, enum cluster_count what,
                          const char *name, size_t len, int64_t count)
{
    struct cp_node *n = node_get(cp, node);
    if (n)
        set_count(cp, n, what, name, len, count);
}

struct collect {
    struct remote_count **v;
    size_t n, cap;
    bool all; /* every entry, else those the snapshot gen did not name */
    uint32_t gen;
};

static void collect_one(void *ctx, void *value)
{
    struct collect *c = ctx;
    struct remote_count *rc = value;
    if (!c->all && rc->gen == c->gen)
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct remote_count **v = realloc(c->v, cap * sizeof(*v));
        if (!v)
            return;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = rc;
}

/* Forgets n's entries (all, or those its current snapshot did not name),
 * collected first: the map is not changed while it is walked. */
static void sweep(struct cluster_presence *cp, struct cp_node *n, bool all)
{
    for (int what = 0; what < 2; what++) {
        struct collect c = {.all = all, .gen = n->gen};
        strmap_each(&n->counts[what], collect_one, &c);
        for (size_t i = 0; i < c.n; i++) {
            struct remote_count *rc = c.v[i];
            strmap_remove(&n->counts[what], rc->name, rc->len);
            changed(cp, (enum cluster_count)what, rc->name, rc->len);
            free(rc);
        }
        free(c.v);
    }
}

static void apply_object(struct cluster_presence *cp, struct cp_node *n, enum cluster_count what,
                         const cJSON *obj)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        if (cJSON_IsNumber(it) && it->string && it->valuedouble >= 0 &&
            it->valuedouble <= COUNT_MAX)
            set_count(cp, n, what, it->string, strlen(it->string), (int64_t)it->valuedouble);
    }
}

void cluster_presence_snapshot(struct cluster_presence *cp, unsigned node, uint32_t gen,
                               const cJSON *chunk, bool end)
{
    struct cp_node *n = node_get(cp, node);
    if (!n)
        return;
    n->gen = gen;
    apply_object(cp, n, CLUSTER_DEVICES, cJSON_GetObjectItemCaseSensitive(chunk, "users"));
    apply_object(cp, n, CLUSTER_VIEWERS, cJSON_GetObjectItemCaseSensitive(chunk, "rooms"));
    if (end)
        sweep(cp, n, false);
}

void cluster_presence_forget(struct cluster_presence *cp, unsigned node)
{
    if (node < MAX_NODES && cp->nodes[node])
        sweep(cp, cp->nodes[node], true);
}

void cluster_presence_free(struct cluster_presence *cp)
{
    if (!cp)
        return;
    for (size_t i = 0; i < cp->nknown; i++) {
        struct cp_node *n = cp->nodes[cp->known[i]];
        for (int what = 0; what < 2; what++) {
            struct collect c = {.all = true};
            strmap_each(&n->counts[what], collect_one, &c);
            for (size_t j = 0; j < c.n; j++)
                free(c.v[j]);
            free(c.v);
            strmap_free(&n->counts[what]);
        }
        free(n);
    }
    free(cp);
}

/* ---- this node's table, out -------------------------------------------------------------------
 */

struct build {
    const struct cluster_snapshot_out *out;
    uint32_t gen;
    struct jbuf jb;
    enum cluster_count what; /* the object being written: "users", then "rooms" */
    size_t in_chunk;         /* names in this chunk */
    size_t in_object;        /* names in the open object */
};

static void chunk_open(struct build *bd)
{
    bd->out->begin(bd->out->ctx, &bd->jb);
    jbuf_printf(&bd->jb, ",\"gen\":%u,\"users\":{", bd->gen);
    if (bd->what == CLUSTER_VIEWERS)
        jbuf_puts(&bd->jb, "},\"rooms\":{");
    bd->in_chunk = bd->in_object = 0;
}

static void chunk_close(struct build *bd, bool end)
{
    if (bd->what == CLUSTER_DEVICES)
        jbuf_puts(&bd->jb, "},\"rooms\":{");
    jbuf_printf(&bd->jb, "},\"end\":%s", end ? "true" : "false");
    bd->out->send(bd->out->ctx, &bd->jb);
}

static void build_add(struct build *bd, enum cluster_count what, const char *name, size_t len,
                      int64_t count)
{
    if (bd->what != what) {
        jbuf_puts(&bd->jb, "},\"rooms\":{");
        bd->what = what;
        bd->in_object = 0;
    }
    if (bd->in_chunk == SNAPSHOT_CHUNK) {
        chunk_close(bd, false);
        chunk_open(bd);
    }
    if (bd->in_object++)
        jbuf_putc(&bd->jb, ',');
    bd->in_chunk++;
    jbuf_str(&bd->jb, name, len);
    jbuf_putc(&bd->jb, ':');
    jbuf_i64(&bd->jb, count);
}

static void build_user(void *ctx, const char *user, size_t len, int devices)
{
    build_add(ctx, CLUSTER_DEVICES, user, len, devices);
}

static void build_room(void *ctx, const char *room, size_t len, int64_t viewers)
{
    build_add(ctx, CLUSTER_VIEWERS, room, len, viewers);
}

static void build_done(void *ctx)
{
    chunk_close(ctx, true);
}

void cluster_presence_snapshot_build(struct presence *p, uint32_t gen,
                                     const struct cluster_snapshot_out *out)
{
    struct build bd = {.out = out, .gen = gen, .what = CLUSTER_DEVICES};
    chunk_open(&bd);
    if (!p) {
        chunk_close(&bd, true);
        return;
    }
    struct presence_local pl = {&bd, build_user, build_room, build_done};
    presence_local_each(p, &pl);
}
