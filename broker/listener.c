/*
 * listener.c - accept loop on the main thread (see listener.h).
 */
#include "listener.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.h"
#include "errors.h"
#include "log.h"
#include "worker.h"

static void on_acceptable(uv_poll_t *h, int status, int events)
{
    struct listener *l = h->data;
    struct broker *b = l->b;
    for (int i = 0; i < 256; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        int max = b->cfg->max_connections;
        if (max >= 0 && atomic_load(&b->connections) >= max) {
            log_debug("refusing a connection: max_connections %d reached", max);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        atomic_fetch_add(&b->connections, 1);
        atomic_fetch_add(&b->sockets_accepted[l->kind], 1);
        struct work item = {.kind = WORK_ADOPT, .u.adopt = {.fd = fd, .kind = l->kind}};
        unsigned dest = l->next++ % b->nworkers;
        if (worker_post(b->workers[dest], &item) != MQ_OK) {
            atomic_fetch_sub(&b->connections, 1);
            close(fd);
        }
    }
}

int listener_start(struct listener *l, struct broker *b, uv_loop_t *loop, const char *host,
                   uint16_t port, enum link_kind kind)
{
    l->b = b;
    l->fd = -1;
    l->kind = kind;
    char service[8];
    snprintf(service, sizeof(service), "%u", port);
    struct addrinfo hints = {.ai_family = host ? AF_UNSPEC : AF_INET,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        log_error("bind_address '%s': %s", host ? host : "", gai_strerror(gai));
        return MQ_EIO;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
        log_error("cannot listen on %s:%u: %s", host ? host : "0.0.0.0", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return MQ_EIO;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    l->fd = fd;
    uv_poll_init(loop, &l->poll, fd);
    l->poll.data = l;
    uv_poll_start(&l->poll, UV_READABLE, on_acceptable);
    return MQ_OK;
}

static void on_poll_closed(uv_handle_t *h)
{
    struct listener *l = h->data;
    close(l->fd);
    l->fd = -1;
}

void listener_stop(struct listener *l)
{
    if (l->fd < 0)
        return;
    uv_poll_stop(&l->poll);
    uv_close((uv_handle_t *)&l->poll, on_poll_closed);
}
