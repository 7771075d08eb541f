/*
 * config.h - mqchatd's configuration: defaults, the config file, --set.
 *
 * The file format is mosquitto.conf's: one `key value` per line, '#'
 * comments, blank lines ignored, the value is the rest of the line with
 * surrounding white space trimmed. Keys Mosquitto also has keep Mosquitto's
 * names and meanings; mqchat's own keys are dotted (conn.*, later chat.*,
 * http.*, ...), except data_dir and workers. A key given twice: the last
 * one wins. Unknown keys and bad values are errors that name the file and
 * line ("mqchat.conf:12: unknown key 'prot'"); for --set, the `where` given
 * by the caller stands in for file:line.
 *
 * etc/mqchat.conf lists every key with its default; keep it in step.
 * The struct is filled once at start-up and read-only afterwards; strings
 * are owned by the struct and freed by config_free().
 */
#ifndef MQCHAT_CONFIG_H
#define MQCHAT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config {
    /* Listener. */
    uint16_t port;      /* port: MQTT over TCP, default 1883 */
    char *bind_address; /* bind_address: default NULL = all IPv4 addresses */

    /* Authentication and authorisation. */
    bool allow_anonymous;            /* allow_anonymous: default false */
    bool allow_zero_length_clientid; /* allow_zero_length_clientid: default true */
    char *password_file;             /* password_file: mosquitto_passwd format, NULL = none */
    char *acl_file;                  /* acl_file: mosquitto acl format, NULL = none */

    /* Limits. 0 or -1 where noted means "no limit". */
    int max_connections;                   /* max_connections: default -1 = unlimited */
    uint32_t max_inflight_messages;        /* max_inflight_messages: outgoing QoS 1/2 window per
                                             client, default 20, 0 = unlimited */
    uint32_t max_queued_messages;          /* max_queued_messages: per session, default 1000,
                                              0 = unlimited */
    uint64_t max_queued_bytes;             /* max_queued_bytes: per session, default 8 MiB,
                                              0 = unlimited */
    uint32_t message_size_limit;           /* message_size_limit: max PUBLISH payload in bytes,
                                              default 1 MiB, 0 = the protocol's 268435455 */
    uint16_t max_keepalive;                /* max_keepalive: seconds, default 65535 */
    uint16_t max_topic_alias;              /* max_topic_alias: MQTT 5 topic aliases a client may
                                              set up towards the broker, default 10, 0 = none */
    uint32_t persistent_client_expiration; /* persistent_client_expiration: seconds a
                                      disconnected persistent session is kept, 0 = forever;
                                      the file takes Mosquitto's forms (3600, 1h, 2d, 1w,
                                      1m, 1y) */
    uint32_t sys_interval;                 /* sys_interval: seconds between $SYS updates,
                                              default 10, 0 = no $SYS */
    uint32_t max_subscriptions;            /* session.max_subscriptions: filters one session
                                              may hold, default 1000, 0 = unlimited */
    uint64_t out_soft_bytes;               /* conn.out_soft_bytes: a connection's unsent output
                                              above which QoS 0 deliveries are dropped (counted),
                                              default 1 MiB */
    uint64_t out_hard_bytes;               /* conn.out_hard_bytes: unsent output past which the
                                              client is disconnected, default 8 MiB */
    uint32_t handshake_timeout;            /* conn.handshake_timeout: ms from accept to a done
                                              TLS handshake and WebSocket upgrade, 5000 */

    /* TLS and WebSocket listeners (doc/transports.md). */
    uint16_t tls_port;            /* tls.port: MQTT over TLS, 8883, 0 = off; on only
                                     with tls.cert and tls.key */
    char *tls_cert;               /* tls.cert: PEM certificate chain, NULL = no TLS */
    char *tls_key;                /* tls.key: PEM private key */
    char *tls_ca;                 /* tls.ca: PEM CAs that client certificates are checked
                                     against, NULL = client certificates not asked for */
    bool tls_require_certificate; /* tls.require_certificate: a client certificate is a
                                     must, default false */
    uint16_t ws_port;             /* ws.port: MQTT over WebSocket, 8083, 0 = off */
    char *ws_path;                /* ws.path: the path that upgrades, "/mqtt" */
    uint16_t wss_port;            /* wss.port: MQTT over WebSocket over TLS, 8084, 0 = off;
                                     on only with tls.cert and tls.key */
    char *ws_origins;             /* ws.origins: space-separated allowed Origin values,
                                     NULL = any */
    uint32_t ws_max_frame;        /* ws.max_frame_bytes: a client frame's payload, 1 MiB + 1 KiB */

    /* Process. */
    char *data_dir;   /* data_dir: default "data" (relative to the cwd) */
    unsigned workers; /* workers: worker threads, default 0 = one per core */
    bool verbose;     /* set by -v (no config key) */
    unsigned node_id; /* node.id: this node in a cluster, 0-1023 (in message ids), default 0 */

    /* Cluster over Redis (doc/cluster.md). */
    char *redis_url;              /* redis.url: redis://[:password@]host[:port], NULL = alone */
    bool redis_cluster;           /* redis.cluster: Redis Cluster, sharded pub/sub */
    char *redis_bridge_topics;    /* redis.bridge_topics: plain filters that cross nodes */
    char *redis_prefix;           /* redis.prefix: namespace of channels and keys, "mqchat" */
    uint32_t redis_node_timeout;  /* redis.node_timeout: ms without a heartbeat before a
                                     node counts as dead, default 3000 */
    uint32_t redis_history_cache; /* redis.history_cache: recent messages kept per room in
                                     Redis, default 100, 0 = off */

    /* Storage (doc/storage.md). */
    char *mysql_url;           /* mysql.url: mysql://user:pass@host:port/db, NULL = the
                                  archive is SQLite under data_dir */
    unsigned store_durability; /* store.durability: enum db_durability, "normal" (survives a
                                  crash of the process, default) or "full" (a power loss) */
    char *spool_topics;        /* store.spool_topics: space-separated topic filters whose
                                  publishes are spooled and archived, NULL = none */
    uint64_t spool_max_bytes;  /* store.spool_max_bytes: spooled bytes not yet archived
                                  past which spooled QoS 1/2 publishes are refused, 1 GiB */
    uint32_t retention_days;   /* store.retention_days: archived spool rows kept, default 7 */

    /* Chat (doc/protocol.md). */
    char *chat_prefix;            /* chat.prefix: the chat namespace, default "chat" */
    char *chat_token_secret;      /* chat.token_secret: HS256 secret of login tokens,
                                     NULL = tokens are neither minted nor accepted */
    char *chat_service_key;       /* chat.service_key: a bearer key that acts as the
                                     service role on the HTTP API, NULL = none */
    bool chat_open_signup;        /* chat.open_signup: anyone may POST /v1/users, default false */
    bool chat_auto_create_rooms;  /* chat.auto_create_rooms: a room is created (public) on
                                     first join, default false */
    uint32_t chat_max_payload;    /* chat.max_payload_bytes: a chat publish's payload, 16384 */
    uint32_t chat_max_text;       /* chat.max_text_bytes: a message's text, default 4000 */
    uint32_t chat_token_ttl;      /* chat.token_ttl: seconds a minted token lives, 1d */
    uint32_t chat_history_window; /* chat.history_window: a history `since` older than this
                                     many seconds is moved up to it, default 7d */
    uint32_t chat_presence_interval; /* chat.presence_interval: ms between presence and unread
                                        updates, default 1000 */
    uint32_t chat_presence_grace;    /* chat.presence_grace: ms a user stays online after the
                                        last device left, default 5000 */
    uint32_t chat_presence_max_names; /* chat.presence_max_names: names per room presence
                                         update, default 20 */
    uint32_t chat_unread_max;        /* chat.unread_max: where unread counts stop, default 999 */

    /* HTTP API. */
    uint16_t http_port;        /* http.port: default 8080, 0 = no HTTP API */
    char *http_bind_address;   /* http.bind_address: default NULL = all IPv4 addresses */
    uint32_t http_max_body;    /* http.max_body_bytes: a request body, default 65536 */
    char *http_static_dir;     /* http.static_dir: files served at /, default the build's
                                  clients/web/dist (MQCHAT_WEB_DIR), NULL = none */
};

/* Fills c with the defaults above (strings allocated where non-NULL).
 * Returns MQ_OK or MQ_ENOMEM. */
int config_defaults(struct config *c);

/*
 * Reads a config file into c (on top of what c holds).
 * Returns MQ_OK; MQ_EIO when the file cannot be read; MQ_EINVAL for an
 * unknown key or a bad value; err gets "PATH:LINE: what is wrong" (or
 * "PATH: strerror" for MQ_EIO), NUL-terminated within errlen.
 * On error c may hold the values of earlier lines.
 */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/*
 * Sets one key from text (the value of a config line or of --set KEY=VALUE).
 * `where` names the origin for error text ("mqchat.conf:12", "--set").
 * Returns MQ_OK, MQ_EINVAL (err filled), or MQ_ENOMEM.
 */
int config_set(struct config *c, const char *key, const char *value, const char *where, char *err,
               size_t errlen);

/* Frees the strings c owns; c may be reused after config_defaults(). */
void config_free(struct config *c);

#endif
