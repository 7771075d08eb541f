/*
 * envelope.h - what a chat client publishes, and the envelope subscribers
 * get instead (doc/protocol.md, "The envelope").
 *
 * In: plain UTF-8 text, or a JSON object
 *     {"type":"text","text":"hi","meta":{...}}
 * where type is one of text, sticker, cheer, heart (default text), text is
 * a string (required, non-empty, for type text), meta any JSON object.
 * Every other member (a forged "from", "id" or "ts" among them) is ignored.
 * A payload whose first non-blank byte is '{' is JSON; anything else is
 * text.
 *
 * Out: {"id":"7263489123456789","room":"lobby","from":"alice",
 *       "ts":1763800000123,"type":"text","text":"hi","meta":{...},
 *       "deco":{"color":"#ffcc00"}}
 * with "room" for room messages, "to" for direct messages and user
 * notifications, and "meta"/"deco"/"text" only when present. The envelope
 * is built once per message; every subscriber gets the same bytes.
 *
 * Pure functions (no I/O, no globals), safe from any thread.
 */
#ifndef MQCHAT_ENVELOPE_H
#define MQCHAT_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* Why a payload was refused (ENVELOPE_OK = accepted). */
enum envelope_status {
    ENVELOPE_OK = 0,
    ENVELOPE_EMPTY,     /* no payload, or a text that is empty */
    ENVELOPE_BAD_UTF8,  /* not valid UTF-8 */
    ENVELOPE_BAD_JSON,  /* starts like JSON but does not parse, or is not an object,
                           or a member has the wrong JSON type */
    ENVELOPE_BAD_TYPE,  /* "type" is not an allowed message type */
    ENVELOPE_TOO_LONG,  /* payload, text or meta over its limit */
    ENVELOPE_TOO_DEEP,  /* JSON nested deeper than the limit */
    ENVELOPE_BAD_AMOUNT, /* a cheer's or heart's meta.amount is not a whole number 1..10^6 */
};

/* Short stable name of a status ("bad_json", ...), for notices and logs. */
const char *envelope_status_name(enum envelope_status st);

struct envelope_limits {
    size_t max_payload; /* bytes of the whole payload */
    size_t max_text;    /* bytes of the text (after JSON unescaping) */
    size_t max_meta;    /* bytes of meta, re-serialised compactly */
    int max_depth;      /* nesting of the whole JSON document (the object is 1) */
};

/* A parsed publish. Owns its strings: envelope_in_free() releases them. */
struct envelope_in {
    char type[16];   /* NUL-terminated message type */
    char *text;      /* malloc'd, NUL-terminated UTF-8; NULL when absent */
    size_t text_len;
    char *meta;      /* malloc'd compact JSON of the meta object; NULL when absent */
    size_t meta_len;
};

/*
 * Parses payload[0..len) into *in (which the caller then frees with
 * envelope_in_free(), whatever the result). Returns ENVELOPE_OK or the
 * reason it is refused; MQ_ENOMEM (negative) when an allocation failed.
 * allow_system: type "system" is accepted (service role only).
 */
int envelope_parse(const uint8_t *payload, size_t len, const struct envelope_limits *lim,
                   bool allow_system, struct envelope_in *in);

void envelope_in_free(struct envelope_in *in);

#define ENVELOPE_MAX_AMOUNT 1000000

/*
 * The amount of a cheer or heart: meta.amount, a whole number from 1 to
 * ENVELOPE_MAX_AMOUNT, 1 when absent. Other types: *amount 0. Returns
 * ENVELOPE_OK, ENVELOPE_BAD_AMOUNT, or MQ_ENOMEM.
 */
int envelope_amount(const struct envelope_in *in, int64_t *amount);

/* What the broker stamps on an envelope. Strings are not NUL-terminated;
 * a NULL pointer leaves the member out. */
struct envelope_stamp {
    uint64_t id;      /* msgid.h */
    const char *room; /* room messages and room notifications */
    size_t room_len;
    const char *to;   /* direct messages and user notifications: the recipient */
    size_t to_len;
    const char *from; /* the sender's user id */
    size_t from_len;
    uint64_t ts_ms;   /* Unix milliseconds */
    const char *deco; /* the sender's decoration, a JSON object; NULL = none */
    size_t deco_len;
};

/* Appends the envelope of in, stamped with st, to out (check out->oom). */
void envelope_write(struct jbuf *out, const struct envelope_in *in,
                    const struct envelope_stamp *st);

/*
 * Writes the MQTT 5 properties every envelope carries into out: Payload
 * Format Indicator 1, Content Type "application/json", User Property
 * ("id", decimal id), User Property ("from", from). The bytes are a
 * property block without its length prefix (what struct message keeps in
 * props). Returns the length, or 0 when cap is too small (256 bytes always
 * suffice for a valid user id).
 */
size_t envelope_v5_props(uint8_t *out, size_t cap, uint64_t id, const char *from,
                         size_t from_len);

#endif
