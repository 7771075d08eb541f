/*
 * storage.c - opening and closing the node's database, and what is spooled
 * (see storage.h).
 */
#include "storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archiver.h"
#include "broker.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "persist.h"
#include "topic.h"

#define DB_FILE "mqchat.db"

/* Splits store.spool_topics at white space into st's filters, checking
 * each. MQ_OK, MQ_EINVAL (logged) or MQ_ENOMEM. */
static int parse_spool_topics(struct storage *st, const char *text)
{
    const char *blank = " \t";
    for (const char *p = text ? text + strspn(text, blank) : NULL; p && *p; p += strspn(p, blank)) {
        size_t len = strcspn(p, blank);
        if (topic_validate_filter(p, len) != MQ_OK) {
            log_error("store.spool_topics: '%.*s' is not a valid topic filter", (int)len, p);
            return MQ_EINVAL;
        }
        char **v = realloc(st->spool_filters, (st->nspool_filters + 1) * sizeof(*v));
        if (!v)
            return MQ_ENOMEM;
        st->spool_filters = v;
        if (!(v[st->nspool_filters] = strndup(p, len)))
            return MQ_ENOMEM;
        st->nspool_filters++;
        p += len;
    }
    return MQ_OK;
}

static void storage_free(struct storage *st)
{
    for (size_t i = 0; i < st->nspool_filters; i++)
        free(st->spool_filters[i]);
    free(st->spool_filters);
    free(st->db_path);
    free(st);
}

int storage_open(struct broker *b)
{
    const struct config *cfg = b->cfg;
    struct storage *st = calloc(1, sizeof(*st));
    if (!st)
        return MQ_ENOMEM;
    b->storage = st;
    st->node_id = cfg->node_id;
    st->spool_max_bytes = cfg->spool_max_bytes;
    msgid_init(&st->ids, cfg->node_id);
    int rc = parse_spool_topics(st, cfg->spool_topics);
    size_t n = strlen(cfg->data_dir) + sizeof("/" DB_FILE);
    if (rc == MQ_OK && !(st->db_path = malloc(n)))
        rc = MQ_ENOMEM;
    if (rc != MQ_OK)
        goto fail;
    snprintf(st->db_path, n, "%s/" DB_FILE, cfg->data_dir);

    struct db *db;
    if ((rc = db_open_sqlite(st->db_path, cfg->store_durability, &db)) != MQ_OK)
        goto fail;
    if ((rc = persist_restore(b, db)) != MQ_OK) {
        db_close(db);
        goto fail;
    }
    atomic_store(&st->counters.archive_up, true);
    if (!(st->spool = spool_start(db, &st->counters))) {
        db_close(db);
        rc = MQ_ENOMEM;
        goto fail;
    }
    struct archiver_config ac = {.sqlite_path = st->db_path,
                                 .mysql_url = cfg->mysql_url,
                                 .retention_days = (int)cfg->retention_days};
    if (!(st->archiver = archiver_start(&ac, &st->counters))) {
        rc = MQ_EIO;
        goto fail;
    }
    log_info("storage: %s (durability %s), archive %s, %zu spooled topic filters", st->db_path,
             cfg->store_durability == DB_DURABILITY_FULL ? "full" : "normal",
             cfg->mysql_url ? "MySQL" : "SQLite", st->nspool_filters);
    return MQ_OK;
fail:
    if (rc == MQ_ENOMEM)
        log_error("storage: out of memory");
    storage_close(b);
    return rc;
}

void storage_close(struct broker *b)
{
    struct storage *st = b->storage;
    if (!st)
        return;
    spool_stop(st->spool);
    archiver_stop(st->archiver);
    storage_free(st);
    b->storage = NULL;
}

bool storage_spools(const struct storage *st, const char *topic, size_t len)
{
    for (size_t i = 0; i < st->nspool_filters; i++)
        if (topic_matches(st->spool_filters[i], strlen(st->spool_filters[i]), topic, len))
            return true;
    return false;
}

void storage_refused(struct storage *st, const char *topic, size_t len)
{
    uint64_t n = atomic_fetch_add_explicit(&st->refused, 1, memory_order_relaxed) + 1;
    int64_t now = spool_clock_ms();
    int64_t last = atomic_load_explicit(&st->refused_logged_ms, memory_order_relaxed);
    if (last && now - last < 10000)
        return;
    if (atomic_compare_exchange_strong(&st->refused_logged_ms, &last, now))
        log_warn("spool full (%lld bytes waiting for the archive, cap %llu) or disk full: "
                 "publish to '%.*s' refused (%llu refused so far)",
                 (long long)atomic_load(&st->counters.pending_bytes),
                 (unsigned long long)st->spool_max_bytes, (int)len, topic, (unsigned long long)n);
}

bool storage_spool_full(const struct storage *st)
{
    const struct spool_counters *k = &st->counters;
    int64_t full_at = atomic_load_explicit(&k->full_at_ms, memory_order_relaxed);
    if (full_at && spool_clock_ms() - full_at < 1000)
        return true; /* a write failed for lack of space a moment ago */
    /* The archiver may count a row off before the writer has counted it in:
     * the sum is briefly negative. */
    int64_t pending = atomic_load_explicit(&k->pending_bytes, memory_order_relaxed);
    return pending > 0 && (uint64_t)pending >= st->spool_max_bytes;
}
