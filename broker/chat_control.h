/*
 * chat_control.h - comment control: rate limits, slow mode, a length
 * limit, who may post, a word filter and presence events, set system-wide
 * and per room, and the check every chat message passes before it is
 * routed.
 *
 * Settings are a JSON object, every member optional:
 *
 *   member           value                                    off / default
 *   rate             {"count": 1..10000, "seconds": 1..86400} count 0 (seconds 0..86400)
 *   slow_mode        seconds, 0..86400                        0
 *   max_length       characters (code points), 0..100000      0: no limit here
 *   who_can_post     "all" | "members" | "moderators"         "all"
 *   word_filter      {"words": [0..1000 words],               no filter
 *                     "policy": "reject" | "mask"}            "reject"
 *   presence_events  true | false                             true
 *
 * rate is a token bucket per user and room (a burst of count messages,
 * then count per seconds); slow_mode is the time a user waits between two
 * messages in one room; "moderators" admits moderators and owners. A word
 * is what wordfilter_word_valid() accepts (1-64 bytes of UTF-8; see
 * wordfilter.h for case folding and substring matching); "words" may be
 * left out (no words). presence_events says whether the room's presence
 * topic carries the names of who joins and leaves. Unknown members, a
 * member twice, wrong types and numbers out of range are refused.
 *
 * Scopes. There is one system document and one per room. A room's
 * effective settings take each member from the room's document when it has
 * it, else from the system document, else the default: a member is
 * inherited or replaced whole (a room's word_filter replaces the system's
 * list; {"words": []} turns the filter off in that room). Direct messages
 * follow the system document's rate, max_length and word_filter only.
 *
 * The check (chat_control_check) runs, in this order: who_can_post,
 * max_length, word_filter (reject, or mask and go on), slow_mode, rate.
 * Moderators and owners of the room are exempt from slow_mode and rate,
 * not from the others. A message refused by any check consumes no token:
 * the slow-mode token is taken first, and given back when the rate bucket
 * then refuses (two messages of one user racing on two threads may see the
 * slow-mode token gone for that moment, never the reverse). Buckets: rate
 * per (room, user), rate per user for direct messages (apart from every
 * room), slow mode per (room, user).
 *
 * Reason codes (MQTT 5) and reasons of a refusal:
 *   0x87 not authorised        "members_only", "moderators_only"
 *   0x99 payload format invalid "too_long", "filtered"
 *   0x97 quota exceeded        "slow_mode", "rate_limited"
 *
 * Ownership: documents given to chat_control_set() are parsed and copied;
 * the caller keeps his bytes. Nothing here touches a database: the HTTP
 * API stores the document chat_control_merge() made, then installs it
 * with chat_control_set(); start-up loads the stored ones the same way.
 * Room names are checked with chat_name_valid().
 *
 * Thread safety: every call may come from any thread. One reader-writer
 * lock guards the documents (the check reads, word filter included; set
 * swaps documents under the write lock and frees the replaced one, with its
 * word filter, after it, when no reader can hold it any more); the buckets
 * are a struct rate_table with its own locks. Two chat_control_merge() +
 * chat_control_set() sequences on one scope at once: the last set wins
 * (the HTTP thread runs them one at a time).
 */
#ifndef MQCHAT_CHAT_CONTROL_H
#define MQCHAT_CHAT_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jbuf;

#define CHAT_CONTROL_MAX_BUCKETS 262144 /* rate and slow-mode buckets held at once */

struct chat_control;

/* No documents (every setting at its default), or NULL when out of
 * memory. */
struct chat_control *chat_control_new(void);

/* Frees cc with its documents and buckets. NULL ok. */
void chat_control_free(struct chat_control *cc);

/*
 * Merges patch[0..len) (a JSON object in UTF-8) into the stored document
 * of the scope (room NULL: the system): each member of patch replaces the
 * stored one, and a member whose value is null removes it. Nothing is
 * applied: the caller stores the result, then calls chat_control_set().
 * Returns MQ_OK and *merged (malloc'd, the caller frees it; the whole new
 * document as compact JSON, NUL-terminated, "{}" when empty); MQ_EINVAL
 * with a short message in err (NUL-terminated, at most errlen bytes; err
 * may be NULL) for a patch that is not a JSON object, holds an unknown
 * member or one twice, a bad value, or a bad room name; MQ_ENOMEM.
 * *merged is NULL unless MQ_OK.
 */
int chat_control_merge(struct chat_control *cc, const char *room, size_t room_len,
                       const char *patch, size_t len, char **merged, char *err, size_t errlen);

/*
 * Installs doc[0..len) (a whole document, as chat_control_merge() made it
 * or as loaded from the database) for the scope, replacing the stored one;
 * "{}" (any empty object) or len 0 removes the scope's document. MQ_OK;
 * MQ_EINVAL (a document that does not validate, or a bad room name);
 * MQ_ENOMEM. On error nothing changes.
 */
int chat_control_set(struct chat_control *cc, const char *room, size_t room_len, const char *doc,
                     size_t len);

/*
 * Appends to out the scope's stored document ("{}" when none), or with
 * effective true the settings in force there with every member present:
 * rate as {"count":0,"seconds":0} when off, word_filter with its words
 * ({"words":[],"policy":"reject"} when none). The effective settings of
 * the system scope are the system document over the defaults (direct
 * messages use only its rate, max_length and word_filter). Documents come
 * out compact, members in the order of the table above, words as given.
 */
void chat_control_json(struct chat_control *cc, const char *room, size_t room_len, bool effective,
                       struct jbuf *out);

/* Whether the room's presence topic carries join and leave names
 * (presence_events, room over system over true). room NULL: the system
 * document's, or true. */
bool chat_control_presence_events(struct chat_control *cc, const char *room, size_t room_len);

/* A chat message about to be posted. */
struct control_post {
    const char *user; /* the sender */
    size_t user_len;
    const char *room; /* NULL for a direct message */
    size_t room_len;
    int member_role;  /* the sender in the room: -1 not a member, 0 member, 1 moderator,
                         2 owner (enum chat_member_role); ignored for direct messages */
    const char *text; /* the message text (UTF-8), NULL when it has none (a sticker) */
    size_t text_len;  /* bytes */
    uint64_t now_ms;  /* a monotonic clock, the same for every caller of cc */
};

struct control_verdict {
    uint8_t code;       /* 0 accepted, else the MQTT 5 reason code (table above) */
    const char *reason; /* static; NULL when accepted */
    char *masked;       /* accepted with words masked: the new text (malloc'd,
                           NUL-terminated, the caller frees it); else NULL */
    size_t masked_len;  /* bytes of masked */
};

/*
 * Checks p against the effective settings of its room (or of direct
 * messages) and takes its rate and slow-mode tokens when it passes.
 * Returns MQ_OK with *v filled in (refused or accepted), or MQ_ENOMEM
 * (masking could not allocate: nothing taken, v->masked NULL). Takes the
 * read lock once; allocates only to mask.
 */
int chat_control_check(struct chat_control *cc, const struct control_post *p,
                       struct control_verdict *v);

/* Housekeeping from a timer (any thread): forgets the buckets that are
 * full again at now_ms. */
void chat_control_sweep(struct chat_control *cc, uint64_t now_ms);

#endif
