/*
 * acl.h - Mosquitto-compatible ACL file: who may read and write what.
 *
 * The acl_file format of mosquitto.conf(5), unchanged:
 *   topic [read|write|readwrite|deny] FILTER   before any `user` line: for
 *                                              anonymous clients; after a
 *                                              `user NAME` line: for NAME
 *   user NAME
 *   pattern [read|write|readwrite|deny] FILTER  for every client, with %u
 *                                              (username) and %c (client id)
 *                                              substituted
 * Access defaults to readwrite when omitted. '#' comments and blank lines
 * are skipped. A `deny` line that matches wins over any grant.
 * A loaded acl_db is immutable and may be shared by threads.
 */
#ifndef MQCHAT_ACL_H
#define MQCHAT_ACL_H

#include <stdbool.h>
#include <stddef.h>

struct acl_db;

enum acl_access {
    ACL_READ = 1,      /* receive messages published on a topic name */
    ACL_WRITE = 2,     /* publish to a topic name */
    ACL_SUBSCRIBE = 4, /* subscribe to a filter: allowed when a read grant
                          covers the whole filter (topic_filter_covers) and
                          no deny entry matches (could match) it */
};

/* As passwd_db_load(): MQ_OK and *out, MQ_EIO, MQ_EINVAL with err, MQ_ENOMEM. */
int acl_db_load(const char *path, struct acl_db **out, char *err, size_t errlen);

/*
 * True when the client may do `access` on topic (a topic name for
 * ACL_READ/ACL_WRITE, a filter for ACL_SUBSCRIBE). username NULL means an
 * anonymous client. With no acl_file configured the caller does not call
 * this (everything is allowed). NUL-terminated username and client_id.
 */
bool acl_check(const struct acl_db *db, const char *username, const char *client_id,
               const char *topic, size_t len, enum acl_access access);

/* Frees db. NULL ok. */
void acl_db_free(struct acl_db *db);

#endif
