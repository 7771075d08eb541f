/*
 * http.h - a minimal blocking HTTP/1.1 client for mqchat's JSON API.
 * Owner: the mqchat CLI (issue 9).
 *
 * What it is: one request per connection (Connection: close) to an
 * http://host[:port][/prefix] base URL, with an optional bearer token and
 * JSON body; the answer's status and body (Content-Length, chunked, or up
 * to EOF). Bounded: the whole request (connect, send, every read) must be
 * done within timeout_ms (name resolution aside), and an answer over
 * HTTP_MAX_BODY bytes is an error.
 *
 * What it is not: no TLS (put the API behind a local port or a proxy), no
 * redirects, no keep-alive, no proxies. It is meant for the few calls the
 * CLI makes (tokens, history, blocks, rooms), not for bulk traffic.
 */
#ifndef MQCHAT_CLI_HTTP_H
#define MQCHAT_CLI_HTTP_H

#include <stddef.h>

#define HTTP_MAX_BODY (4 * 1024 * 1024)

enum {
    HTTP_OK = 0,
    HTTP_EURL = -1,         /* not an http:// URL we understand */
    HTTP_EUNREACHABLE = -2, /* name not resolved, connection refused or timed out */
    HTTP_EPROTO = -3,       /* the answer is not HTTP/1.x, or too large */
    HTTP_ENOMEM = -4,
};

/* A parsed base URL. */
struct http_base {
    char host[256];
    char port[8];
    char prefix[256]; /* path prefix without a trailing '/'; "" for none */
};

/* An answer. body is NUL-terminated heap memory owned by the caller
 * (http_response_free()); len excludes the NUL. */
struct http_response {
    int status;
    char *body;
    size_t len;
};

/* Parses "http://host[:port][/prefix]" (port 80 by default; an IPv6
 * address in brackets). Returns HTTP_OK or HTTP_EURL. */
int http_base_parse(const char *url, struct http_base *base);

/* Sends `method path` (path starts with '/', already percent-encoded) to
 * base, with "Authorization: Bearer <bearer>" when bearer is not NULL and
 * body (JSON, may be NULL) as the request body. Fills *resp on HTTP_OK
 * (any status, 4xx and 5xx included); on error *resp is empty. */
int http_request(const struct http_base *base, const char *method, const char *path,
                 const char *bearer, const char *body, int timeout_ms,
                 struct http_response *resp);

/* Frees the body of resp. */
void http_response_free(struct http_response *resp);

/* A short text for an HTTP_E* code. */
const char *http_strerror(int rc);

#endif
