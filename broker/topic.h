/*
 * topic.h - MQTT topic names and topic filters: validation and matching.
 *
 * A topic name (in PUBLISH) is one or more levels separated by '/', with no
 * '+' or '#'. A topic filter (in SUBSCRIBE) may use '+' as a whole level and
 * '#' as the whole last level. Valid filters: "a/b", "+", "a/+/c", "#",
 * "a/#", "/", "+/+". Invalid: "", "a+", "a/#/b", "#a", "a/b#".
 * Topics beginning with '$' are not matched by a filter whose first level is
 * a wildcard ("#" and "+/x" do not match "$SYS/x"; "$SYS/#" does).
 * Lengths are explicit: strings need not be NUL-terminated.
 */
#ifndef MQCHAT_TOPIC_H
#define MQCHAT_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

/* MQ_OK or MQ_EPROTOCOL (empty, or a wildcard character present). UTF-8 is
 * checked by the codec, not here. */
int topic_validate_name(const char *topic, size_t len);

/* One level of a topic name or filter: s[0..len), not NUL-terminated. */
struct topic_level {
    const char *s;
    size_t len;
};

/* Splits p[0..len) at '/' into lv (at most max levels kept); returns how
 * many levels there are, more than max when p has more. */
size_t topic_levels(const char *p, size_t len, struct topic_level *lv, size_t max);

/* True when the level is exactly word. */
bool topic_level_is(const struct topic_level *l, const char *word);

/* MQ_OK or MQ_EPROTOCOL (empty, or a wildcard not alone in its level, or
 * '#' not last). */
int topic_validate_filter(const char *filter, size_t len);

/* True when the (valid) filter matches the (valid) topic name, with the '$'
 * rule above. */
bool topic_matches(const char *filter, size_t flen, const char *topic, size_t tlen);

/* True when every topic matched by filter `sub` is also matched by filter
 * `super` ("a/+" is covered by "a/#" and by "+/+"; "a/#" is not covered by
 * "a/+"). Used by the ACL at SUBSCRIBE time. */
bool topic_filter_covers(const char *super, size_t slen, const char *sub, size_t sublen);

#endif
