/*
 * shared.h - MQTT 5 shared subscriptions ($share/{group}/{filter}) across
 * all workers.
 *
 * A shared group's members may live on different workers, yet each message
 * must reach exactly one of them, so groups cannot sit in the per-worker
 * topic trees. They sit here instead: one registry for the broker behind a
 * mutex, consulted by the publishing worker, which picks one member per
 * matching group (round-robin) and sends the message to that member's
 * worker only. A broker with no shared subscriptions pays one atomic load
 * per publish.
 */
#ifndef MQCHAT_SHARED_H
#define MQCHAT_SHARED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct shared_member {
    uint64_t session_uid; /* the member session (session_uid) */
    unsigned worker;      /* its home worker */
    char *client_id;      /* owned copy, to find the session there */
    uint8_t options;      /* subscription options (QoS in bits 0-1) */
    uint32_t sub_id;      /* subscription identifier, 0 if none */
};

struct shared_group {
    char *name;   /* the {group} part */
    char *filter; /* the {filter} part, NUL-terminated */
    size_t filter_len;
    struct shared_member *members;
    size_t n, cap;
    size_t next; /* round-robin position */
};

struct shared_registry {
    pthread_mutex_t lock;
    struct shared_group *groups;
    size_t n, cap;
    atomic_size_t count; /* groups, readable without the lock */
};

/* The picked member of one matching group: what the publisher needs to
 * send the message on. client_id is an owned copy. */
struct shared_pick {
    unsigned worker;
    uint64_t session_uid;
    char *client_id;
    uint8_t options;
    uint32_t sub_id;
};

/*
 * Splits "$share/{group}/{filter}" into its parts. Returns true for a
 * shared subscription filter at all (it starts with "$share/"); then
 * *valid says whether group (non-empty, no '+', '#' or '/') and filter
 * (non-empty) are well formed.
 */
bool shared_parse(const char *s, size_t len, const char **group, size_t *group_len,
                  const char **filter, size_t *filter_len, bool *valid);

int shared_init(struct shared_registry *r);
void shared_free(struct shared_registry *r);

/* At most this many groups exist at once (each publish scans them all). */
#define SHARED_MAX_GROUPS 1024

/* Adds or replaces a member. Returns 1 new, 0 replaced, MQ_ENOMEM, or
 * MQ_EFULL when the group would be new and SHARED_MAX_GROUPS exist. */
int shared_add(struct shared_registry *r, const char *group, size_t group_len, const char *filter,
               size_t filter_len, const struct shared_member *m);

/* Removes session_uid from the group. MQ_OK or MQ_ENOTFOUND. */
int shared_remove(struct shared_registry *r, const char *group, size_t group_len,
                  const char *filter, size_t filter_len, uint64_t session_uid);

/*
 * Picks one member of each group whose filter matches topic, writing at
 * most max picks; returns how many. With literal_first, groups whose
 * filter starts with a wildcard ("#", "+/...") are skipped (a chat topic:
 * such a group is plain MQTT, and a member picked for a message it may not
 * read would lose it for the whole group). Each pick's client_id must be
 * freed by the caller. Returns 0 at once when there are no groups.
 */
size_t shared_pick(struct shared_registry *r, const char *topic, size_t topic_len,
                   bool literal_first, struct shared_pick *out, size_t max);

#endif
