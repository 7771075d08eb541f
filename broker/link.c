/*
 * link.c - stacking the TLS and WebSocket layers of a connection (see
 * link.h). Layer 0 is next to the socket; bytes read go up from it, bytes
 * written go down to it. Between two layers the bytes pass through `mid`,
 * which is emptied by every call.
 */
#include "link.h"

#include <stdlib.h>

#include "broker.h"
#include "errors.h"
#include "tls.h"
#include "ws.h"

#define LINK_MAX_LAYERS 2
#define LINK_MID_KEEP   1024 /* a larger `mid` allocation is given back after use, so that
                                 an idle connection holds none of TLS's 16 KiB reads */

struct link {
    enum link_kind kind;
    unsigned n; /* layers */
    const struct link_layer_ops *ops[LINK_MAX_LAYERS];
    void *layer[LINK_MAX_LAYERS];
    struct bytebuf mid; /* bytes between layer 0 and layer 1 */
};

static bool link_push(struct link *l, const struct link_layer_ops *ops, void *layer)
{
    if (!layer)
        return false;
    l->ops[l->n] = ops;
    l->layer[l->n] = layer;
    l->n++;
    return true;
}

struct link *link_new(struct broker *b, enum link_kind kind)
{
    bool tls = kind == LINK_TLS || kind == LINK_WSS;
    bool ws = kind == LINK_WS || kind == LINK_WSS;
    if (kind == LINK_TCP || (tls && !b->tls))
        return NULL;
    struct link *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->kind = kind;
    if ((tls && !link_push(l, &tls_layer_ops, tls_layer_new(b->tls))) ||
        (ws && !link_push(l, &ws_layer_ops, ws_layer_new(b->cfg)))) {
        link_free(l);
        return NULL;
    }
    return l;
}

void link_free(struct link *l)
{
    if (!l)
        return;
    for (unsigned i = 0; i < l->n; i++)
        l->ops[i]->free(l->layer[i]);
    bytebuf_free(&l->mid);
    free(l);
}

enum link_kind link_kind(const struct link *l)
{
    return l->kind;
}

const char *link_kind_name(enum link_kind kind)
{
    switch (kind) {
    case LINK_TLS:
        return "tls";
    case LINK_WS:
        return "ws";
    case LINK_WSS:
        return "wss";
    case LINK_TCP:
        break;
    }
    return "tcp";
}

/* Empties `mid`, giving a large allocation back. */
static void link_mid_done(struct link *l)
{
    if (l->mid.cap > LINK_MID_KEEP)
        bytebuf_free(&l->mid);
    else
        l->mid.len = 0;
}

int link_read(struct link *l, const uint8_t *raw, size_t len, struct bytebuf *app)
{
    if (l->n == 1)
        return l->ops[0]->read(l->layer[0], raw, len, app);
    int rc = l->ops[0]->read(l->layer[0], raw, len, &l->mid);
    if (rc == MQ_OK && l->mid.len)
        rc = l->ops[1]->read(l->layer[1], l->mid.data, l->mid.len, app);
    link_mid_done(l);
    return rc;
}

int link_write(struct link *l, const uint8_t *app, size_t len, struct bytebuf *wire)
{
    if (l->n == 1)
        return l->ops[0]->write(l->layer[0], app, len, wire);
    int rc = l->ops[1]->write(l->layer[1], app, len, &l->mid);
    if (rc == MQ_OK)
        rc = l->ops[0]->write(l->layer[0], l->mid.data, l->mid.len, wire);
    link_mid_done(l);
    return rc;
}

int link_goodbye(struct link *l, enum link_bye why, struct bytebuf *wire)
{
    if (l->n == 1)
        return l->ops[0]->goodbye(l->layer[0], why, wire);
    int rc = l->ops[1]->goodbye(l->layer[1], why, &l->mid);
    if (rc == MQ_OK)
        rc = l->ops[0]->write(l->layer[0], l->mid.data, l->mid.len, wire);
    if (rc == MQ_OK)
        rc = l->ops[0]->goodbye(l->layer[0], why, wire);
    link_mid_done(l);
    return rc;
}

bool link_ready(const struct link *l)
{
    for (unsigned i = 0; i < l->n; i++)
        if (!l->ops[i]->open(l->layer[i]))
            return false;
    return true;
}

size_t link_owes(const struct link *l)
{
    size_t n = 0;
    for (unsigned i = 0; i < l->n; i++)
        n += l->ops[i]->owes(l->layer[i]);
    return n;
}

const char *link_finished(const struct link *l)
{
    for (unsigned i = 0; i < l->n; i++) {
        const char *why = l->ops[i]->finished(l->layer[i]);
        if (why)
            return why;
    }
    return NULL;
}
