/*
 * notify_payload.h - what mqchat-notify publishes: the topic of a target and
 * the JSON payload of one notification (doc/protocol.md, "Publishing").
 *
 * Pure functions: no I/O, no broker. The broker validates again (UTF-8,
 * lengths, nesting) and says no in its PUBACK; these checks only catch what
 * would make a wrong topic or a payload that is not ours.
 */
#ifndef MQCHAT_NOTIFY_PAYLOAD_H
#define MQCHAT_NOTIFY_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "notify_opts.h"

/* True when name is a user id or room name: 1-64 bytes of [A-Za-z0-9_.-]. */
bool notify_name_valid(const char *name);

/* True when prefix is a plain topic prefix (1-64 bytes, no wildcard, no
 * empty level, not starting with '$' or '/'). */
bool notify_prefix_valid(const char *prefix);

/*
 * Checks that json is one JSON object. Returns 0, or -1 with the reason in
 * why (always NUL-terminated when size > 0).
 */
int notify_meta_check(const char *json, char *why, size_t size);

/*
 * Writes the topic of o's target into buf: PREFIX/system,
 * PREFIX/room/ROOM/system or PREFIX/user/USER/events. Returns 0, or -1 when it
 * does not fit.
 */
int notify_topic(const struct notify_opts *o, char *buf, size_t size);

/*
 * The payload of one notification: {"type":"text","text":TEXT} plus
 * "meta" (meta_json, already checked by notify_meta_check) when not NULL.
 * text is len bytes, copied as they are (the broker judges their UTF-8).
 * Returns a malloc'd NUL-terminated string the caller frees, or NULL when
 * out of memory.
 */
char *notify_payload(const char *text, size_t len, const char *meta_json);

#endif
