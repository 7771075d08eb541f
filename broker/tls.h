/*
 * tls.h - TLS for the tls.port and wss.port listeners (doc/transports.md):
 * the server's certificate context and the TLS link layer (link.h).
 *
 * struct tls_server holds the OpenSSL context made from tls.cert, tls.key
 * and tls.ca. It is shared by all workers: tls_layer_new() takes the
 * current context under a lock, and tls_server_reload() (SIGHUP, main
 * thread) swaps in a new one, which only later connections use. A layer is
 * an SSL object between two memory BIOs: OpenSSL never touches a socket,
 * so a handshake cannot block a worker.
 */
#ifndef MQCHAT_TLS_H
#define MQCHAT_TLS_H

#include "link.h"

struct config;
struct tls_server;

/*
 * Loads the certificate, key and CAs named by cfg. MQ_OK with *out NULL
 * when tls.cert and tls.key are both unset (no TLS); MQ_OK and a server;
 * or MQ_EINVAL/MQ_EIO after logging what is wrong (a file that does not
 * load, a key that does not match, tls.require_certificate without tls.ca).
 */
int tls_server_open(const struct config *cfg, struct tls_server **out);

/* Loads the files again; on success new connections use them. On failure
 * (logged) the previous context stays. MQ_OK or an error. */
int tls_server_reload(struct tls_server *ts);

/* Frees ts (NULL ok). Layers made from it stay valid. */
void tls_server_free(struct tls_server *ts);

/* A TLS layer (server side) with ts's current context; NULL when out of
 * memory. Its ops are tls_layer_ops. */
void *tls_layer_new(struct tls_server *ts);

extern const struct link_layer_ops tls_layer_ops;

#endif
