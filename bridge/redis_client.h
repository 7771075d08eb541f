/*
 * redis_client.h - one connection to one Redis server, on a libuv loop.
 *
 * Written on libuv streams with hiredis's protocol half only (the RESP
 * reader of <hiredis/read.h> and redisFormatCommandArgv): hiredis 0.14's
 * async layer asserts on the replies of sharded pub/sub (SSUBSCRIBE), which
 * the cluster mode needs, and owning the stream makes pipelining explicit.
 *
 * Two modes, chosen at creation:
 * - command mode: each command gets exactly one reply, handed to the
 *   command's callback in the order the commands were sent;
 * - subscriber mode: the connection only (un)subscribes; every reply that
 *   arrives (subscribe confirmations, "message", "smessage", "pmessage"
 *   arrays, errors) goes to the push callback.
 *
 * Pipelining: commands are appended to one output buffer and written once
 * per loop turn (a uv_check handle), so a burst of N commands costs one
 * write and the replies come back together.
 *
 * The connection looks after itself: when it cannot connect, or the server
 * goes away, it closes, fails every command still waiting for a reply (the
 * callback gets NULL), reports `down`, and tries again after a backoff that
 * starts at 100 ms and doubles up to 5 s (reset after a connection that
 * got its first reply). `up` is reported once the TCP connection is made
 * and, when a password was given, AUTH succeeded; the owner then sends its
 * SUBSCRIBEs again. An attempt that is not up 2 s after it began (a
 * blackholed address, a server that never answers AUTH) counts as failed.
 * While the connection is down, commands are refused at once (MQ_EIO):
 * nothing is queued for later, so nothing is sent twice. `up` and `down`
 * come in pairs: a server that accepts and then fails each connection
 * gives an `up` and a `down` per retry.
 *
 * Everything is called on the loop's thread. The client never blocks.
 */
#ifndef MQCHAT_REDIS_CLIENT_H
#define MQCHAT_REDIS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <hiredis/hiredis.h> /* redisReply; the reader is <hiredis/read.h> */

struct redis_client;

/* reply is NULL when the connection dropped before it came. It is freed
 * after the callback returns: copy what you keep. */
typedef void (*redis_reply_fn)(void *ctx, const redisReply *reply);

struct redis_client_callbacks {
    void *ctx;
    /* The connection is ready (after AUTH when a password is set). */
    void (*up)(void *ctx, struct redis_client *rc);
    /* The connection was lost or could not be made (why: a short reason,
     * valid during the call). Reported once per loss; not again for each
     * failed retry. */
    void (*down)(void *ctx, struct redis_client *rc, const char *why);
    /* Subscriber mode: every reply. May be NULL in command mode. */
    void (*push)(void *ctx, struct redis_client *rc, const redisReply *reply);
};

struct redis_client_config {
    const char *host;     /* name or address; copied */
    uint16_t port;
    const char *password; /* AUTH on connect; NULL = none; copied */
    bool subscriber;      /* subscriber mode (see above) */
    size_t max_output;    /* bytes of unwritten commands before commands are
                             refused (MQ_EFULL); 0 = 64 MiB */
};

/* A client on loop (not connected yet). NULL when out of memory, or when
 * cfg->host is NULL or empty. */
struct redis_client *redis_client_new(uv_loop_t *loop, const struct redis_client_config *cfg,
                                      const struct redis_client_callbacks *cb);

/* Starts connecting (and reconnecting when the connection is lost). */
void redis_client_start(struct redis_client *rc);

/* Closes the connection and its handles; fails waiting commands (their
 * callbacks get NULL, before this returns). No `down` is reported. May be
 * called from any of the client's callbacks. The memory is freed once libuv
 * has closed the handles: run the loop (uv_run) after this. */
void redis_client_close(struct redis_client *rc);

/* Takes the connection as lost now (a connection that looks up but is dead:
 * a NAT or firewall dropped it): `down`, then reconnects with the backoff.
 * Not from inside this client's own callbacks. No-op unless up. */
void redis_client_drop(struct redis_client *rc, const char *why);

/* True between `up` and `down`. */
bool redis_client_is_up(const struct redis_client *rc);

/*
 * Queues one command (argv[0] is the command name; argvlen[i] its length;
 * binary safe). fn (may be NULL: the reply is read and dropped) gets the
 * reply in command mode; in subscriber mode fn must be NULL. MQ_OK; MQ_EIO
 * when the connection is not up; MQ_EFULL when max_output bytes are
 * already waiting (a command is taken whole while fewer are, so the
 * buffer may pass max_output by one command); MQ_ENOMEM; MQ_EINVAL when fn
 * is given in subscriber mode, argc < 1 or an argument is over 512 MiB.
 * Command mode counts on one reply per command: SUBSCRIBE, MONITOR or
 * CLIENT REPLY OFF there would hand replies to the wrong callbacks.
 */
int redis_client_command(struct redis_client *rc, int argc, const char **argv,
                         const size_t *argvlen, redis_reply_fn fn, void *ctx);

/* Bytes queued and not yet written (the pipeline). */
size_t redis_client_pending_bytes(const struct redis_client *rc);

/* "host:port" as configured (for logs; "[v6]:port" for an IPv6 address). */
const char *redis_client_name(const struct redis_client *rc);

/* ---- URLs and Redis Cluster key slots (pure functions) ---- */

/* Parses redis://[:password@]host[:port] (port 6379 when absent) into the
 * caller's buffers. The password is percent-decoded (%00 refused); the user
 * may be empty or "default"; an IPv6 host is written [in brackets]; the
 * only paths taken are "/" and "/0". No password in the URL: password[0]
 * = '\0' (password may then be NULL). MQ_OK or MQ_EINVAL (also when a
 * buffer is too small; the buffers' contents are then unspecified). */
int redis_url_parse(const char *url, char *host, size_t hostlen, uint16_t *port, char *password,
                    size_t passwordlen);

/* The Redis Cluster hash slot (0..16383) of key: CRC16 (XMODEM) of the key,
 * or of the part inside the first non-empty {...} hash tag, mod 16384. */
unsigned redis_key_slot(const char *key, size_t len);

/* The owner of each slot, from a CLUSTER SLOTS reply: masters only. */
#define REDIS_SLOTS 16384
#define REDIS_MAX_MASTERS 64
struct redis_slot_map {
    size_t nmasters;
    struct {
        char host[256];
        uint16_t port;
    } masters[REDIS_MAX_MASTERS];
    int16_t owner[REDIS_SLOTS]; /* index into masters; -1 = not covered */
};

/* Fills map from reply (an array as CLUSTER SLOTS answers). A master whose
 * host is NIL (Redis 7's "unknown endpoint") gets host "": the address the
 * reply came from. MQ_OK, or MQ_EINVAL when reply has not that shape or
 * names too many masters (map's contents are then unspecified). */
int redis_slot_map_parse(const redisReply *reply, struct redis_slot_map *map);

#endif
