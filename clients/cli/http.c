/*
 * http.c - a minimal HTTP/1.1 client (see http.h): getaddrinfo, a
 * non-blocking connect bounded by poll(), one request, the whole answer
 * read until the server closes, then parsed in memory. The timeout bounds
 * the whole request (connect, send, the answer), not each read.
 */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int http_base_parse(const char *url, struct http_base *base)
{
    const char *p, *host_end, *path;
    size_t n;

    memset(base, 0, sizeof *base);
    if (strncmp(url, "http://", 7) != 0)
        return HTTP_EURL;
    p = url + 7;
    path = strchr(p, '/');
    if (!path)
        path = p + strlen(p);
    if (*p == '[') {
        host_end = memchr(p, ']', (size_t)(path - p));
        if (!host_end)
            return HTTP_EURL;
        n = (size_t)(host_end - p - 1);
        if (n == 0 || n >= sizeof base->host)
            return HTTP_EURL;
        memcpy(base->host, p + 1, n);
        p = host_end + 1;
    } else {
        host_end = memchr(p, ':', (size_t)(path - p));
        if (!host_end)
            host_end = path;
        n = (size_t)(host_end - p);
        if (n == 0 || n >= sizeof base->host)
            return HTTP_EURL;
        memcpy(base->host, p, n);
        p = host_end;
    }
    if (*p == ':') {
        n = (size_t)(path - p - 1);
        if (n == 0 || n >= sizeof base->port || strspn(p + 1, "0123456789") < n)
            return HTTP_EURL;
        memcpy(base->port, p + 1, n);
    } else if (p != path) {
        return HTTP_EURL;
    } else {
        strcpy(base->port, "80");
    }
    n = strlen(path);
    while (n > 0 && path[n - 1] == '/')
        n--;
    if (n >= sizeof base->prefix)
        return HTTP_EURL;
    memcpy(base->prefix, path, n);
    return HTTP_OK;
}

static long long http__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for `events` until `deadline` (http__now_ms()
 * time); 1 ready, 0 timed out, -1 error. */
static int http__wait(int fd, short events, long long deadline)
{
    struct pollfd pfd = {fd, events, 0};
    int rc;
    do {
        long long left = deadline - http__now_ms();
        if (left <= 0)
            return 0;
        rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
    } while ((rc < 0 && errno == EINTR) || (rc == 0 && http__now_ms() < deadline));
    return rc;
}

/* A connected socket (blocking mode off), or -1. */
static int http__connect(const struct http_base *base, long long deadline)
{
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(base->host, base->port, &hints, &res) != 0)
        return -1;
    for (ai = res; ai; ai = ai->ai_next) {
        int err = 0;
        socklen_t len = sizeof err;
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS && http__wait(fd, POLLOUT, deadline) == 1 &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int http__send_all(int fd, const char *z, size_t n, long long deadline)
{
    while (n > 0) {
        ssize_t w = send(fd, z, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (http__wait(fd, POLLOUT, deadline) != 1)
                return -1;
            continue;
        }
        if (w <= 0)
            return -1;
        z += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Decodes a chunked body in place; returns its length or -1. */
static long http__dechunk(char *z, size_t n)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end;
        unsigned long size = strtoul(z + in, &end, 16);
        char *eol = memchr(z + in, '\n', n - in);
        if (end == z + in || !eol)
            return -1;
        in = (size_t)(eol - z) + 1;
        if (size == 0)
            return (long)out;
        if (size > n - in)
            return -1;
        memmove(z + out, z + in, size);
        out += size;
        in += size;
        if (in < n && z[in] == '\r')
            in++;
        if (in < n && z[in] == '\n')
            in++;
    }
}

/* 1 when the header line h (ending at "\r\n" or the NUL) holds `word`,
 * in any case. */
static int http__line_has(const char *h, const char *word)
{
    const char *eol = strstr(h, "\r\n");
    size_t len = eol ? (size_t)(eol - h) : strlen(h), wn = strlen(word), i;
    for (i = 0; i + wn <= len; i++)
        if (!strncasecmp(h + i, word, wn))
            return 1;
    return 0;
}

/* Parses raw (len bytes, NUL-terminated) into resp; takes ownership of raw. */
static int http__parse(char *raw, size_t len, struct http_response *resp)
{
    char *hdr_end = strstr(raw, "\r\n\r\n");
    char *line, *body;
    long clen = -1;
    int chunked = 0;
    size_t blen;

    if (strncmp(raw, "HTTP/1.", 7) != 0 || !hdr_end || len < 12)
        goto err;
    resp->status = atoi(raw + 9);
    if (resp->status < 100 || resp->status > 999)
        goto err;
    *hdr_end = '\0';
    for (line = strstr(raw, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (!strncasecmp(h, "Content-Length:", 15))
            clen = atol(h + 15);
        else if (!strncasecmp(h, "Transfer-Encoding:", 18) && http__line_has(h + 18, "chunked"))
            chunked = 1;
    }
    body = hdr_end + 4;
    blen = len - (size_t)(body - raw);
    if (chunked) {
        long d = http__dechunk(body, blen);
        if (d < 0)
            goto err;
        blen = (size_t)d;
    } else if (clen >= 0 && (size_t)clen < blen) {
        blen = (size_t)clen;
    }
    memmove(raw, body, blen);
    raw[blen] = '\0';
    resp->body = raw;
    resp->len = blen;
    return HTTP_OK;
err:
    free(raw);
    memset(resp, 0, sizeof *resp);
    return HTTP_EPROTO;
}

int http_request(const struct http_base *base, const char *method, const char *path,
                 const char *bearer, const char *body, int timeout_ms,
                 struct http_response *resp)
{
    char head[2048];
    char *raw = NULL;
    size_t len = 0, cap = 0;
    int fd, n, rc = HTTP_OK;
    long long deadline = http__now_ms() + timeout_ms;

    memset(resp, 0, sizeof *resp);
    n = snprintf(head, sizeof head,
                 "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: mqchat\r\n"
                 "Accept: application/json\r\nConnection: close\r\n"
                 "%s%s%s"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 method, base->prefix, path, strchr(base->host, ':') ? "[" : "", base->host,
                 strchr(base->host, ':') ? "]" : "", base->port,
                 bearer ? "Authorization: Bearer " : "", bearer ? bearer : "", bearer ? "\r\n" : "",
                 body ? strlen(body) : 0);
    if (n < 0 || (size_t)n >= sizeof head)
        return HTTP_EURL;
    fd = http__connect(base, deadline);
    if (fd < 0)
        return HTTP_EUNREACHABLE;
    if (http__send_all(fd, head, (size_t)n, deadline) < 0 ||
        (body && http__send_all(fd, body, strlen(body), deadline) < 0)) {
        rc = HTTP_EUNREACHABLE;
        goto out;
    }
    for (;;) {
        ssize_t r;
        if (cap - len < 4096) {
            char *p;
            if (cap >= HTTP_MAX_BODY) {
                rc = HTTP_EPROTO;
                goto out;
            }
            cap = cap ? cap * 2 : 8192;
            p = realloc(raw, cap + 1);
            if (!p) {
                rc = HTTP_ENOMEM;
                goto out;
            }
            raw = p;
        }
        r = recv(fd, raw + len, cap - len, 0);
        if (r > 0) {
            len += (size_t)r;
            continue;
        }
        if (r == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN && http__wait(fd, POLLIN, deadline) == 1)
            continue;
        rc = HTTP_EUNREACHABLE;
        goto out;
    }
    close(fd);
    if (!raw)
        return HTTP_EPROTO;
    raw[len] = '\0';
    return http__parse(raw, len, resp);
out:
    close(fd);
    free(raw);
    return rc;
}

void http_response_free(struct http_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}

const char *http_strerror(int rc)
{
    switch (rc) {
    case HTTP_OK:
        return "ok";
    case HTTP_EURL:
        return "bad API URL (http://host[:port] expected)";
    case HTTP_EUNREACHABLE:
        return "API unreachable";
    case HTTP_EPROTO:
        return "bad HTTP answer";
    case HTTP_ENOMEM:
        return "out of memory";
    }
    return "unknown error";
}
