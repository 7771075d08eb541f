/*
 * topic.c - MQTT topic names and filters: validation, matching and coverage.
 *
 * A topic is walked one level at a time: a level is the bytes between two
 * '/' (or the ends of the string), so "a//b" has three levels and "/" has
 * two empty ones. '+' stands for exactly one level (possibly empty), '#'
 * for the rest of the topic including nothing ("a/#" matches "a"). A topic
 * whose first character is '$' is never matched by a filter whose first
 * level is a wildcard (MQTT 3.1.1 section 4.7.2).
 *
 * This file is the reference for one topic against one filter. It is not
 * the subscription index: a worker finds the subscribers of a topic through
 * topic_tree.c, and the retained store walks its own trie in retain.c; both
 * follow the rules written here. UTF-8 is the codec's concern.
 */
#include "topic.h"

#include <string.h>

#include "errors.h"

/* Returns the index just past the level starting at `start`: the index of the
 * next '/' or `len`. */
static size_t level_end(const char *s, size_t len, size_t start)
{
    const char *slash = memchr(s + start, '/', len - start);
    return slash ? (size_t)(slash - s) : len;
}

/* True when the level [start, end) of s is exactly the one character c. */
static bool level_is(const char *s, size_t start, size_t end, char c)
{
    return end - start == 1 && s[start] == c;
}

int topic_validate_name(const char *topic, size_t len)
{
    if (len == 0)
        return MQ_EPROTOCOL;
    for (size_t i = 0; i < len; i++) {
        if (topic[i] == '+' || topic[i] == '#')
            return MQ_EPROTOCOL;
    }
    return MQ_OK;
}

int topic_validate_filter(const char *filter, size_t len)
{
    if (len == 0)
        return MQ_EPROTOCOL;
    size_t start = 0;
    for (;;) {
        size_t end = level_end(filter, len, start);
        for (size_t i = start; i < end; i++) {
            if (filter[i] != '+' && filter[i] != '#')
                continue;
            if (end - start != 1)
                return MQ_EPROTOCOL; /* a wildcard sharing its level */
            if (filter[i] == '#' && end != len)
                return MQ_EPROTOCOL; /* '#' before the last level */
        }
        if (end == len)
            return MQ_OK;
        start = end + 1;
    }
}

bool topic_matches(const char *filter, size_t flen, const char *topic, size_t tlen)
{
    if (flen == 0 || tlen == 0)
        return false;
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        return false;

    size_t fi = 0, ti = 0;
    bool topic_done = false; /* every level of topic has been matched */
    for (;;) {
        size_t fe = level_end(filter, flen, fi);
        if (level_is(filter, fi, fe, '#'))
            return true; /* the rest of topic, including nothing */
        if (topic_done)
            return false; /* filter has a level left that topic has not */
        size_t te = level_end(topic, tlen, ti);
        if (!level_is(filter, fi, fe, '+') &&
            (fe - fi != te - ti || memcmp(filter + fi, topic + ti, fe - fi) != 0))
            return false;
        if (fe == flen)
            return te == tlen;
        fi = fe + 1;
        if (te == tlen)
            topic_done = true;
        else
            ti = te + 1;
    }
}

bool topic_filter_covers(const char *super, size_t slen, const char *sub, size_t sublen)
{
    if (slen == 0 || sublen == 0)
        return false;

    size_t pi = 0, bi = 0; /* level starts in super (p) and sub (b) */
    bool sub_done = false; /* every level of sub has been compared */
    for (size_t depth = 0;; depth++) {
        bool first = depth == 0;
        size_t pe = level_end(super, slen, pi);
        bool p_hash = level_is(super, pi, pe, '#');
        bool p_plus = level_is(super, pi, pe, '+');
        if (sub_done)
            return p_hash; /* "a/#" covers "a"; "a/+" does not */

        size_t be = level_end(sub, sublen, bi);
        bool b_hash = level_is(sub, bi, be, '#');
        bool b_plus = level_is(sub, bi, be, '+');
        /* The '$' rule: a leading wildcard in super misses the '$' topics
         * that a literal first level of sub can name. */
        if (first && (p_hash || p_plus) && !b_hash && !b_plus && sub[bi] == '$')
            return false;
        if (p_hash)
            return true;
        if (b_hash) {
            /* sub reaches any depth from here, super does not; except
             * that a topic is never empty: when sub's levels so far cannot
             * be a topic on their own ("#", "/#"), then "+/#" and "/+/#"
             * still cover sub. */
            bool no_topic_yet = first || (depth == 1 && bi == 1);
            return no_topic_yet && p_plus && slen == pe + 2 && super[pe + 1] == '#';
        }
        if (!p_plus && (b_plus || pe - pi != be - bi || memcmp(super + pi, sub + bi, pe - pi) != 0))
            return false;

        if (pe == slen)
            return be == sublen;
        pi = pe + 1;
        if (be == sublen)
            sub_done = true;
        else
            bi = be + 1;
    }
}

size_t topic_levels(const char *p, size_t len, struct topic_level *lv, size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && p[i] != '/')
            continue;
        if (n < max)
            lv[n] = (struct topic_level){p + start, i - start};
        n++;
        start = i + 1;
    }
    return n;
}

bool topic_level_is(const struct topic_level *l, const char *word)
{
    size_t n = strlen(word);
    return l->len == n && memcmp(l->s, word, n) == 0;
}
