/*
 * notify_main.c - mqchat-notify: publishes system notifications to an
 * mqchat broker (doc/man/mqchat-notify.1).
 *
 * main() parses the command line (notify_opts.c), builds each payload
 * (notify_payload.c) and hands it to the connection (notify_conn.c), one
 * at a time: the next notification is published only once the previous
 * one was acknowledged, so they arrive in order. With "-" the lines of
 * stdin are read as they come (a pipe may stay open for hours: the
 * connection is kept alive between lines).
 */
#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notify_conn.h"
#include "notify_opts.h"
#include "notify_payload.h"

#define LINE_MAX_BYTES (1024 * 1024) /* longer lines are refused, not split */
#define IDLE_POLL_MS   1000          /* keepalive service while stdin is quiet */

/* Lines of a file descriptor, read with read(2) so that poll(2) tells the
 * truth about what is buffered. */
struct line_reader {
    int fd;
    char *buf; /* cap bytes; buf[0..len) unread */
    size_t len;
    size_t cap;
    bool eof;
    size_t consumed; /* bytes of the line last returned, dropped at the next call */
    bool skipping;   /* discarding the rest of an over-long line */
};

/*
 * The next line (without "\n" or "\r\n") into *line / *n, pointing into
 * r->buf until the next call. Returns 1 for a line, 0 at the end of input,
 * -1 on a read error, -2 for a line over LINE_MAX_BYTES (its bytes are
 * discarded). While no input is ready the connection is serviced.
 */
static int next_line(struct line_reader *r, struct notify_conn *nc, char **line, size_t *n)
{
    memmove(r->buf, r->buf + r->consumed, r->len - r->consumed);
    r->len -= r->consumed;
    r->consumed = 0;
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl || (r->eof && r->len)) {
            size_t end = nl ? (size_t)(nl - r->buf) : r->len;
            r->consumed = nl ? end + 1 : end;
            if (r->skipping) {
                r->skipping = false;
                return -2;
            }
            if (end && r->buf[end - 1] == '\r')
                end--;
            *line = r->buf;
            *n = end;
            return 1;
        }
        if (r->eof)
            return r->skipping ? (r->skipping = false, -2) : 0;
        if (r->len == r->cap) { /* a line longer than we take */
            r->skipping = true;
            r->len = 0;
        }
        struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
        int ready = poll(&pfd, 1, IDLE_POLL_MS);
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready <= 0) {
            notify_conn_service(nc, 1);
            continue;
        }
        ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        if (got == 0)
            r->eof = true;
        r->len += (size_t)got;
    }
}

/* Publishes one notification; prints what happened. Returns an enum
 * notify_exit. lineno 0: from the arguments. */
static int send_one(const struct notify_opts *o, struct notify_conn *nc, const char *topic,
                    const char *text, size_t len, long lineno)
{
    char where[32] = "";
    if (lineno)
        snprintf(where, sizeof(where), "line %ld: ", lineno);
    char *payload = notify_payload(text, len, o->meta);
    if (!payload) {
        fprintf(stderr, "mqchat-notify: %sout of memory\n", where);
        return NOTIFY_USAGE;
    }
    int rc = notify_conn_publish(nc, topic, payload, strlen(payload));
    free(payload);
    if (rc == NOTIFY_OK) {
        if (!o->quiet)
            printf("%sdelivered to %s\n", where, topic);
    } else {
        fprintf(stderr, "mqchat-notify: %s%s\n", where, notify_conn_error(nc));
    }
    fflush(stdout);
    return rc;
}

static int run_stdin(const struct notify_opts *o, struct notify_conn *nc, const char *topic)
{
    struct line_reader r = {.fd = STDIN_FILENO, .cap = LINE_MAX_BYTES + 2};
    if (!(r.buf = malloc(r.cap))) {
        fprintf(stderr, "mqchat-notify: out of memory\n");
        return NOTIFY_USAGE;
    }
    long lineno = 0, delivered = 0, failed = 0;
    int status = NOTIFY_OK;
    bool stopped = false;
    for (;;) {
        char *line;
        size_t n;
        int got = next_line(&r, nc, &line, &n);
        if (got == 0)
            break;
        if (got == -1) {
            fprintf(stderr, "mqchat-notify: reading stdin: %s\n", strerror(errno));
            if (status == NOTIFY_OK)
                status = NOTIFY_USAGE;
            stopped = true;
            break;
        }
        lineno++;
        int rc;
        if (got == -2) {
            fprintf(stderr, "mqchat-notify: line %ld: rejected: longer than %d bytes\n", lineno,
                    LINE_MAX_BYTES);
            rc = NOTIFY_REJECTED;
        } else if (n == 0) {
            continue; /* an empty line is no notification */
        } else if (memchr(line, '\0', n)) {
            fprintf(stderr, "mqchat-notify: line %ld: rejected: holds a NUL byte\n", lineno);
            rc = NOTIFY_REJECTED;
        } else {
            rc = send_one(o, nc, topic, line, n, lineno);
        }
        if (rc == NOTIFY_OK) {
            delivered++;
            continue;
        }
        failed++;
        if (status == NOTIFY_OK)
            status = rc;
        /* Without a connection or a login nothing later can succeed. */
        if (!o->keep_going || rc == NOTIFY_AUTH || rc == NOTIFY_UNREACHABLE || rc == NOTIFY_USAGE) {
            stopped = true;
            break;
        }
    }
    free(r.buf);
    if (!o->quiet || status != NOTIFY_OK)
        fprintf(stderr, "mqchat-notify: %ld delivered, %ld failed%s\n", delivered, failed,
                stopped ? ", stopped at the first failure" : "");
    return status;
}

int main(int argc, char **argv)
{
    struct notify_opts o;
    int rc = notify_opts_parse(argc, argv, &o, stdout, stderr);
    if (rc != NOTIFY_OK) {
        notify_opts_free(&o);
        return rc < 0 ? NOTIFY_OK : rc;
    }
    char topic[256];
    if (notify_topic(&o, topic, sizeof(topic)) != 0) {
        fprintf(stderr, "mqchat-notify: the topic is too long\n");
        notify_opts_free(&o);
        return NOTIFY_USAGE;
    }
    mosquitto_lib_init();
    struct notify_conn *nc = notify_conn_new(&o);
    if (!nc) {
        fprintf(stderr, "mqchat-notify: out of memory\n");
        rc = NOTIFY_USAGE;
    } else if (o.from_stdin) {
        rc = run_stdin(&o, nc, topic);
    } else {
        rc = send_one(&o, nc, topic, o.text, strlen(o.text), 0);
    }
    notify_conn_free(nc);
    mosquitto_lib_cleanup();
    notify_opts_free(&o);
    return rc;
}
