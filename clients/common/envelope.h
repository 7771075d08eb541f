/*
 * envelope.h - the chat envelope of doc/protocol.md ("The envelope"), parsed
 * and shown as one line of text. Shared by the terminal clients (mqchat,
 * mqchat-display). Owner: the mqchat CLI (issue 9); changes that the other
 * clients need are welcome, keep it dependency-light (libc and cJSON only).
 *
 * What it is: envelope_parse() turns the JSON a subscriber receives
 *
 *   {"id":"7263489123456789","room":"lobby","from":"alice","ts":1763800000123,
 *    "type":"text","text":"hi","deco":{"color":"#ffcc00","badge":"mod"}}
 *
 * into a struct envelope, and envelope_format() renders it as one display
 * line, "HH:MM sender: text", with the decoration (a badge in brackets, the
 * name colour as a 24-bit ANSI colour when asked for).
 *
 * What it is not: no MQTT, no I/O, no wrapping to a screen width (a line may
 * be longer than any screen; mqchat-display wraps it itself), no validation
 * beyond what display needs (an envelope comes from the broker, which built
 * it; a member of the wrong type is treated as absent).
 */
#ifndef MQCHAT_ENVELOPE_H
#define MQCHAT_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_NAME_MAX 64  /* user ids and room names: 1-64 bytes */
#define ENVELOPE_ID_MAX 24    /* a decimal uint64 and its NUL */
#define ENVELOPE_TYPE_MAX 16  /* text, sticker, cheer, heart, system */
#define ENVELOPE_BADGE_MAX 64 /* bytes of deco.badge kept (cut at a UTF-8 boundary) */

/* Error codes (negative), as the other client modules use them. */
enum {
    ENVELOPE_OK = 0,
    ENVELOPE_EJSON = -1,  /* not a JSON object */
    ENVELOPE_EFIELD = -2, /* no string "from", or no "type" */
    ENVELOPE_ENOMEM = -3,
};

/* One parsed envelope. Strings are NUL-terminated and empty when absent.
 * `text` is heap memory owned by the struct: free it with envelope_free(). */
struct envelope {
    char id[ENVELOPE_ID_MAX];                  /* decimal string; "" when absent */
    char room[ENVELOPE_NAME_MAX + 1];          /* room messages */
    char to[ENVELOPE_NAME_MAX + 1];            /* direct messages, user notifications */
    char from[ENVELOPE_NAME_MAX + 1];          /* sender (set by the broker) */
    char type[ENVELOPE_TYPE_MAX];              /* "text" when absent */
    int64_t ts;                                /* Unix milliseconds; 0 when absent */
    long amount;                               /* meta.amount of a cheer/heart; 1 when absent */
    char *text;                                /* never NULL after a successful parse */
    int has_color;                             /* deco.color was a valid #rgb/#rrggbb(aa) */
    unsigned char rgb[3];                      /* that colour */
    char badge[ENVELOPE_BADGE_MAX + 1];        /* deco.badge, trimmed; "" when none */
};

/* Parses `n` bytes of JSON (need not be NUL-terminated) into *env.
 * Returns ENVELOPE_OK, or a negative code with *env left empty (safe to
 * pass to envelope_free()). On success the caller owns env->text. */
int envelope_parse(const char *json, size_t n, struct envelope *env);

/* Frees what envelope_parse() allocated; env may then be parsed into again. */
void envelope_free(struct envelope *env);

/* Flags for envelope_format(). */
#define ENVELOPE_FMT_COLOR 0x1 /* ANSI 24-bit colour for the sender's deco.color */
#define ENVELOPE_FMT_ROOM 0x2  /* "#room " (or "@to ") before the sender */
#define ENVELOPE_FMT_UTC 0x4   /* HH:MM in UTC rather than local time */

/* Writes one display line (no newline) into buf (size n, always
 * NUL-terminated when n > 0), cut at a UTF-8 boundary when too long:
 *
 *   text     "14:03 alice: hi there"       ([badge] after the name if any)
 *   DM       "14:03 alice -> bob: hi"      (an envelope with "to")
 *   sticker  "14:03 alice: [sticker] wave"
 *   cheer    "14:03 alice cheered 100: great stream!"
 *   heart    "14:03 alice sent 3 hearts"   ("a heart" for 1)
 *   system   "14:03 ** system: maintenance at noon"
 *
 * Every string shown is made safe (safetext.h): control characters (C0,
 * DEL and C1, so ESC and U+009B too) become spaces and bytes that are not
 * UTF-8 become U+FFFD, so a message cannot move the cursor or change the
 * terminal. Returns the length
 * the full line would have (like snprintf), or a negative code. */
int envelope_format(const struct envelope *env, int flags, char *buf, size_t n);

#endif
