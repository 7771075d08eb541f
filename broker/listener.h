/*
 * listener.h - a listening socket for MQTT over TCP, TLS, WebSocket or
 * secure WebSocket (link.h), on the main thread.
 *
 * Accepts connections (non-blocking, TCP_NODELAY), enforces
 * max_connections, and deals them round-robin to the workers' inboxes. The
 * worker that first reads a CONNECT may then pass the connection on to the
 * client id's home worker (see worker.h).
 */
#ifndef MQCHAT_LISTENER_H
#define MQCHAT_LISTENER_H

#include <stdint.h>
#include <uv.h>

#include "link.h"

struct broker;

struct listener {
    struct broker *b;
    int fd;         /* listening socket */
    uv_poll_t poll; /* readable = connections waiting */
    unsigned next;  /* next worker, round-robin */
    uint16_t port;  /* the port actually bound */
    enum link_kind kind; /* what its connections speak under MQTT */
};

/*
 * Binds host:port (host NULL = all IPv4 addresses; an IPv6 literal or a
 * name works too) and starts accepting on loop connections of `kind`.
 * MQ_OK, or MQ_EIO after logging why.
 */
int listener_start(struct listener *l, struct broker *b, uv_loop_t *loop, const char *host,
                   uint16_t port, enum link_kind kind);

/* Stops accepting and closes the socket (its poll handle is closed on loop). */
void listener_stop(struct listener *l);

#endif
