/*
 * chat_history.h - one page of a room's or a direct conversation's
 * history, the same for every way of asking: GET /v1/rooms/{room}/messages
 * and /v1/dms/{user}/messages (http_routes.c) and a publish on
 * {p}/room/{room}/history (chat.c, on the store thread).
 *
 * A page is read from two places: the node's spool (rows committed
 * locally that the archiver has not copied yet) and the archive. The
 * spool is read first, so that a row archived in between is found in one
 * or both, never in neither; the two are merged by id, duplicates
 * dropped, and the page keeps `limit` rows: the oldest after `since` when
 * there is one, else the newest. It is always returned oldest first.
 *
 * The request values mean the same wherever they come from:
 * - limit: 1..CHAT_HISTORY_MAX, default CHAT_HISTORY_DEFAULT (0 gives 1,
 *   more gives the maximum);
 * - before: an id; the page holds ids below it (0: no bound);
 * - since: below CHAT_HISTORY_SINCE_MS_BELOW a Unix time in milliseconds
 *   (messages from that millisecond on, inclusive), else an id (ids above
 *   it); moved up to the start of chat.history_window when older.
 *
 * Not here: who may read what (chat.c, http_routes.c), the answer's
 * envelope around the messages, and the SQL (store.h).
 *
 * Blocking: chat_history_fetch() queries databases; never on a worker loop.
 * The other calls are pure.
 */
#ifndef MQCHAT_CHAT_HISTORY_H
#define MQCHAT_CHAT_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct cJSON;
struct db;
struct jbuf;
struct redis_recent;

#define CHAT_HISTORY_DEFAULT        50   /* messages per page when no limit is asked */
#define CHAT_HISTORY_MAX            1000 /* the most messages per page */
#define CHAT_HISTORY_SINCE_MS_BELOW 100000000000000ull /* 10^14: a smaller since is Unix ms */
#define CHAT_HISTORY_REQ_MAX        64                 /* bytes of an MQTT request's "req" */

/* One message of a page: its id and its envelope (a JSON object). */
struct chat_history_row {
    int64_t id;
    char *body; /* malloc'd, len bytes, not NUL-terminated */
    size_t len;
};

/* A page: n rows, oldest first, ids strictly increasing. */
struct chat_history_page {
    struct chat_history_row *rows; /* malloc'd; NULL when n is 0 */
    size_t n;
};

/*
 * Reads the page q asks for (exactly one of q->room or the dm pair set;
 * q->limit clamped to 1..CHAT_HISTORY_MAX) into *out, which the caller
 * frees with chat_history_page_free() whatever the result.
 *
 * spool: the node's SQLite database whose spool table holds the rows not
 * archived yet, queried first; NULL to read the archive only. In SQLite
 * mode that is the archive's own file: pass the same struct db twice.
 * archive: the chat database (SQLite or MySQL).
 * recent: in a cluster, the room's recent-history cache in Redis
 * (redis_recent.h), which holds the newest messages of every node, also
 * those their archivers have not copied yet; NULL for none. A Redis that
 * is away is skipped.
 *
 * Rows whose body is not a JSON object (after leading blanks) are left
 * out. Each source is asked for `limit` rows, counted before that: a page
 * with such rows in its range may hold fewer than `limit` messages (it
 * then stops where a source's answer stopped), but it never skips one, so
 * paging on with since or before from its edge goes on where it ended.
 * Returns MQ_OK; MQ_EINVAL (q names neither target or both, or spool
 * is not SQLite); MQ_ENOMEM; or the error of the query that failed (see
 * db_exec: MQ_EAGAIN, MQ_EIO, MQ_EFULL). On an error *out is empty.
 */
int chat_history_fetch(struct db *archive, struct db *spool, struct redis_recent *recent,
                       const struct store_history_query *q, struct chat_history_page *out);

/* Frees the rows; *p is empty again. NULL-safe on an empty page. */
void chat_history_page_free(struct chat_history_page *p);

/* Appends the page's envelopes as a JSON array, "[env,env,...]" ("[]"
 * when empty), to out. */
void chat_history_page_json(const struct chat_history_page *p, struct jbuf *out);

/*
 * The since_id for a `since` value: below CHAT_HISTORY_SINCE_MS_BELOW it
 * is Unix ms, turned into the largest id before that millisecond; else it
 * is an id. Raised to the first millisecond of the history window
 * (window_s seconds before now_ms; 0 = no window). Always >= 1. since
 * above INT64_MAX counts as INT64_MAX.
 */
int64_t chat_history_since(uint64_t since, uint64_t window_s, int64_t now_ms);

/* limit clamped to 1..CHAT_HISTORY_MAX. */
int chat_history_limit(uint64_t limit);

/*
 * Reads member key of the JSON object obj, parsed by cJSON from
 * text[0..len), as a whole number from 0 to max: a JSON string of decimal
 * digits ("7263489123456789") or a JSON number written with digits only
 * (7263489123456789, read from the text itself so that ids above 2^53
 * keep every digit). MQ_OK with *out; MQ_ENOTFOUND when absent or null
 * (*out untouched); MQ_EINVAL for anything else (a sign, a fraction, an
 * exponent, an empty string, a value above max, a repeated member).
 * text must be the exact text obj was parsed from.
 */
int chat_history_json_u64(const char *text, size_t len, const struct cJSON *obj, const char *key,
                          uint64_t max, uint64_t *out);

/*
 * Parses the payload of an MQTT history request,
 *   {"limit":n,"before":id,"since":id-or-ms,"req":"..."}
 * where every member is optional (an empty payload, or one of blanks only,
 * is the same as {}); limit, before and since are strings of digits or
 * JSON integers (chat_history_json_u64; since and before at most
 * INT64_MAX); req is a string of at most CHAT_HISTORY_REQ_MAX bytes.
 * Other members are ignored.
 *
 * Fills q's since_id, before_id and limit (room and dm pair untouched:
 * the caller sets them) as the HTTP history does, with the history window
 * window_s (seconds, 0 = none) at now_ms; copies req NUL-terminated into
 * req and sets *has_req (req[0] = '\0' and false when absent).
 *
 * MQ_OK, or MQ_EINVAL (q, req and *has_req then unspecified): not valid
 * UTF-8, a \u0000 escape, not exactly one JSON object, a member repeated
 * or of the wrong type or out of range, req too long.
 */
int chat_history_request_parse(const uint8_t *payload, size_t len, uint64_t window_s,
                               int64_t now_ms, struct store_history_query *q,
                               char req[CHAT_HISTORY_REQ_MAX + 1], bool *has_req);

#endif
