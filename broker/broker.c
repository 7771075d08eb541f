/*
 * broker.c - what the workers share: authentication snapshots and the door
 * for messages made outside any worker (see broker.h).
 */
#include "broker.h"

#include <stdlib.h>

#include "acl.h"
#include "auth.h"
#include "errors.h"
#include "log.h"
#include "worker.h"

int auth_snapshot_load(const struct config *cfg, struct auth_snapshot **out)
{
    char err[512];
    struct auth_snapshot *a = calloc(1, sizeof(*a));
    if (!a)
        return MQ_ENOMEM;
    atomic_init(&a->refs, 1);
    int rc = MQ_OK;
    if (cfg->password_file &&
        (rc = passwd_db_load(cfg->password_file, &a->passwd, err, sizeof(err))) != MQ_OK)
        goto fail;
    if (cfg->acl_file && (rc = acl_db_load(cfg->acl_file, &a->acl, err, sizeof(err))) != MQ_OK)
        goto fail;
    *out = a;
    return MQ_OK;
fail:
    log_error("%s", err);
    auth_snapshot_unref(a);
    return rc;
}

struct auth_snapshot *auth_snapshot_ref(struct auth_snapshot *a)
{
    atomic_fetch_add(&a->refs, 1);
    return a;
}

void auth_snapshot_unref(struct auth_snapshot *a)
{
    if (!a || atomic_fetch_sub(&a->refs, 1) != 1)
        return;
    passwd_db_free(a->passwd);
    acl_db_free(a->acl);
    free(a);
}

void broker_publish_external(struct broker *b, struct message *msg)
{
    if (msg->retain && retain_set(b->retain, msg) != MQ_OK)
        log_warn("retained message for '%s' not stored: out of memory", msg->topic);
    for (unsigned i = 0; i < b->nworkers; i++) {
        struct worker *w = b->workers[i];
        if (atomic_load_explicit(&w->stats.subscriptions, memory_order_acquire) == 0)
            continue;
        struct work item = {.kind = WORK_DELIVER, .u.msg = message_ref(msg)};
        if (worker_post(w, &item) != MQ_OK)
            message_unref(msg);
    }
    message_unref(msg);
}
