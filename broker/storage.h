/*
 * storage.h - the broker's side of the storage layer (bridge/): what is
 * kept, when, and what survives a restart.
 *
 * One SQLite database per node, data_dir/mqchat.db, written only by the
 * spool's writer thread (spool.h) and drained by the archiver thread
 * (archiver.h) into the archive: MySQL when mysql.url is set, else the same
 * SQLite file. This module opens it at start-up, restores the persistent
 * sessions and retained messages it holds into the workers (before their
 * threads start), and closes it after the workers have stopped.
 *
 * Kept, from the workers:
 * - spool rows: every publish on a topic matching store.spool_topics (and,
 *   later, every chat message) gets a time-ordered id (msgid.h) and a row.
 *   A QoS 1/2 one is acknowledged only after its row committed (ackhold.h).
 *   While the spool holds more than store.spool_max_bytes not yet archived,
 *   or after a write failed for lack of space, such publishes are refused.
 * - persistent sessions (persist.h) and retained messages.
 *
 * struct storage belongs to the broker; its fields are set at start-up and
 * read-only afterwards, except the counters (atomics).
 */
#ifndef MQCHAT_STORAGE_H
#define MQCHAT_STORAGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msgid.h"
#include "spool.h"

struct broker;
struct message;
struct archiver;

struct storage {
    char *db_path;                  /* data_dir/mqchat.db */
    struct spool *spool;            /* the writer thread */
    struct archiver *archiver;      /* spool -> archive */
    struct spool_counters counters; /* for $SYS and metrics */
    struct msgid_gen ids;           /* message ids of this node */
    char **spool_filters;           /* store.spool_topics, split */
    size_t nspool_filters;
    uint64_t spool_max_bytes;
    unsigned node_id;
    atomic_uint_fast64_t refused;          /* spooled publishes refused: spool full */
    atomic_int_fast64_t refused_logged_ms; /* spool_clock_ms() of the last log line about it */
};

/*
 * Opens data_dir/mqchat.db (data_dir must exist), restores persistent
 * sessions and retained messages into b's workers (not yet started),
 * starts the writer and the archiver, and sets b->storage.
 * MQ_OK, or an error after logging what was wrong (a bad spool topic
 * filter, a database that cannot be opened).
 */
int storage_open(struct broker *b);

/* After every worker has stopped: commits what is queued, stops both
 * threads, frees b->storage. */
void storage_close(struct broker *b);

/* True when a publish on topic is spooled. */
bool storage_spools(const struct storage *st, const char *topic, size_t len);

/* True while spooled QoS 1/2 publishes are refused: the spool holds
 * store.spool_max_bytes not yet archived, or a write failed for lack of
 * space less than a second ago (after that, one more is tried). */
bool storage_spool_full(const struct storage *st);

/* Counts a refused publish; logs at most one line every 10 s. */
void storage_refused(struct storage *st, const char *topic, size_t len);

/*
 * Queues msg's spool row (sender: the publisher's user name, else its
 * client id), type "mqtt", with a new message id. If msg has an ack hold,
 * the row is one of its parts. MQ_OK or MQ_ENOMEM.
 */
int storage_spool(struct storage *st, struct message *msg, const char *sender, size_t sender_len);

/* What a chat message's archive row says besides its topic and body
 * (msg's topic and payload: the envelope). Strings are not NUL-terminated;
 * names are at most 64 bytes, type at most 15. */
struct storage_row {
    uint64_t id; /* the envelope's id (msgid.h) */
    const char *room; /* a room message, or NULL */
    size_t room_len;
    const char *dm_low, *dm_high; /* a direct message: the two users in byte order, or NULL */
    size_t dm_low_len, dm_high_len;
    const char *type; /* "text", "system", ... */
    size_t type_len;
    const char *sender;
    size_t sender_len;
};

/* As storage_spool(), with the row's id, room or DM pair and type.
 * MQ_OK, MQ_EINVAL (a name too long) or MQ_ENOMEM. */
int storage_spool_row(struct storage *st, struct message *msg, const struct storage_row *row);

#endif
