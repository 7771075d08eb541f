/*
 * redis_recent.c - the recent-history cache, read (see redis_recent.h).
 */
#include "redis_recent.h"

#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "errors.h"
#include "log.h"
#include "message.h"
#include "redis_client.h"

#define TIMEOUT_MS    500
#define RETRY_MS      1000 /* after a failure, the next attempt waits this long */
#define MAX_REDIRECTS 3

struct redis_recent {
    char host[256];
    uint16_t port;
    char password[256];
    char *prefix;
    redisContext *c;
    uint64_t retry_at; /* message_clock_ms(): no attempt before */
};

struct redis_recent *redis_recent_new(const char *url, const char *prefix)
{
    struct redis_recent *rr = calloc(1, sizeof(*rr));
    if (!rr)
        return NULL;
    if (redis_url_parse(url, rr->host, sizeof(rr->host), &rr->port, rr->password,
                        sizeof(rr->password)) != MQ_OK ||
        !(rr->prefix = strdup(prefix))) {
        free(rr);
        return NULL;
    }
    return rr;
}

static void drop(struct redis_recent *rr)
{
    if (rr->c)
        redisFree(rr->c);
    rr->c = NULL;
}

void redis_recent_free(struct redis_recent *rr)
{
    if (!rr)
        return;
    drop(rr);
    free(rr->prefix);
    free(rr);
}

static int connect_to(struct redis_recent *rr, const char *host, uint16_t port)
{
    struct timeval tv = {0, TIMEOUT_MS * 1000};
    drop(rr);
    rr->c = redisConnectWithTimeout(host, port, tv);
    if (!rr->c || rr->c->err || redisSetTimeout(rr->c, tv) != REDIS_OK) {
        drop(rr);
        return MQ_EIO;
    }
    if (!rr->password[0])
        return MQ_OK;
    redisReply *r = redisCommand(rr->c, "AUTH %s", rr->password);
    int rc = r && r->type != REDIS_REPLY_ERROR ? MQ_OK : MQ_EIO;
    if (r)
        freeReplyObject(r);
    if (rc != MQ_OK)
        drop(rr);
    return rc;
}

/* "MOVED <slot> <host>:<port>" (the host may be empty: the one asked, or
 * an IPv6 address with colons): connects there. */
static int follow(struct redis_recent *rr, const redisReply *r)
{
    const char *at = strchr(r->str + 6, ' ');
    const char *colon = at ? strrchr(at, ':') : NULL;
    char *end;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    size_t host_len = colon ? (size_t)(colon - at - 1) : 0;
    char host[256];
    if (!colon || port == 0 || port > 65535 || *end || host_len >= sizeof(host))
        return MQ_EIO;
    memcpy(host, at + 1, host_len);
    host[host_len] = '\0';
    return connect_to(rr, host_len ? host : rr->host, (uint16_t)port);
}

int redis_recent_read(struct redis_recent *rr, const char *room, size_t room_len,
                      void (*fn)(void *ctx, const char *entry, size_t len), void *ctx)
{
    uint64_t now = message_clock_ms();
    if (!rr->c && (now < rr->retry_at || connect_to(rr, rr->host, rr->port) != MQ_OK)) {
        if (now >= rr->retry_at)
            rr->retry_at = now + RETRY_MS;
        return MQ_EIO;
    }
    char key[512];
    int klen = snprintf(key, sizeof(key), "%s:h:%.*s", rr->prefix, (int)room_len, room);
    if (klen <= 0 || (size_t)klen >= sizeof(key))
        return MQ_EIO;
    redisReply *r = NULL;
    for (int i = 0; i <= MAX_REDIRECTS; i++) {
        r = rr->c ? redisCommand(rr->c, "LRANGE %b 0 -1", key, (size_t)klen) : NULL;
        if (!r || r->type != REDIS_REPLY_ERROR || strncmp(r->str, "MOVED ", 6) != 0)
            break;
        int rc = follow(rr, r);
        freeReplyObject(r);
        r = NULL;
        if (rc != MQ_OK)
            break;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        if (r && r->type == REDIS_REPLY_ERROR)
            log_warn("redis: LRANGE %s: %s", key, r->str);
        if (r)
            freeReplyObject(r);
        drop(rr);
        rr->retry_at = now + RETRY_MS;
        return MQ_EIO;
    }
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            fn(ctx, r->element[i]->str, r->element[i]->len);
    freeReplyObject(r);
    return MQ_OK;
}
