/*
 * bench_tools.c - the freeport and probe helper commands (bench_tools.h).
 *
 * freeport binds a plain socket to random ports on 127.0.0.1 until one
 * succeeds: that port had no listener and no other binding a moment ago.
 * The range, 20000-32767, sits below Linux's default ephemeral ports so
 * that the load generator's own outgoing connections do not take it.
 * probe reuses bench_client.c with a single client and no subscription.
 */
#include "bench_tools.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_client.h"

#define FREEPORT_LOW   20000u
#define FREEPORT_SPAN  12768u
#define FREEPORT_TRIES 200

int bench_tool_freeport(const struct bench_opts *o)
{
    struct sockaddr_in sa;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    srand((unsigned)ts.tv_nsec ^ ((unsigned)getpid() << 16));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < FREEPORT_TRIES; i++) {
        uint16_t port = (uint16_t)(FREEPORT_LOW + (unsigned)rand() % FREEPORT_SPAN);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return 1;
        sa.sin_port = htons(port);
        int ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        if (ok) {
            printf("%u\n", (unsigned)port);
            return 0;
        }
    }
    fprintf(stderr, "mqchat-bench: no free port found\n");
    return 1;
}

int bench_tool_probe(const struct bench_opts *o)
{
    struct bench_clients s;

    int rc = bench_clients_init(&s, o, 1);
    if (rc != MQ_OK) {
        fprintf(stderr, "mqchat-bench: probe: %s\n", mq_strerror(rc));
        return 1;
    }
    rc = bench_clients_setup(&s, 1, o->setup_timeout, true);
    if (rc != MQ_OK && !o->quiet)
        fprintf(stderr, "mqchat-bench: probe %s:%u: %s\n", o->host, (unsigned)o->port,
                s.first_error[0] ? s.first_error : "no answer");
    bench_clients_disconnect(&s);
    bench_clients_free(&s);
    return rc == MQ_OK ? 0 : 1;
}
