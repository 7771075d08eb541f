/*
 * http_static.h - the web page's files, served by the HTTP API at `/`
 * (doc/transports.md, "Web page"): GET and HEAD of any path outside /v1/
 * that is not an endpoint of the API, answered from http.static_dir.
 *
 * It is not a general web server: no directory listings, no ranges, no
 * conditional requests, no compression. Files are the committed page
 * built by `make web` (clients/web/dist), a few hundred KiB.
 */
#ifndef MQCHAT_HTTP_STATIC_H
#define MQCHAT_HTTP_STATIC_H

#include <stdbool.h>

struct MHD_Connection;

/* The largest file served, in bytes; a larger one is answered 403. */
#define HTTP_STATIC_MAX_BYTES (8u * 1024 * 1024)

/*
 * True when a request (method, url as libmicrohttpd decoded it) belongs to
 * the static files of dir: dir is set and not "none", the method is GET
 * or HEAD, and url is not /v1 or under /v1/. The caller still keeps its
 * own endpoints outside /v1/ (/healthz, /metrics).
 */
bool http_static_wants(const char *dir, const char *method, const char *url);

/*
 * Queues the answer to a GET or HEAD of url on conn, from dir:
 * - the file (`/` and a path ending in `/` are that directory's
 *   index.html) with its content type by extension, 200;
 * - 404 JSON not_found for a path with an empty, `.` or `..` segment, or
 *   any segment starting with '.', for a file that is missing, is not a
 *   regular file, or does not resolve (realpath) inside dir;
 * - 404 JSON not_found "web page not built: run make web" when dir itself
 *   does not exist;
 * - 403 JSON forbidden for a file over HTTP_STATIC_MAX_BYTES.
 * libmicrohttpd leaves out the body of a HEAD answer (and keeps its
 * Content-Length). Blocks on the disk: call it on the API's thread.
 * Returns MQ_OK when an answer is queued, MQ_ENOMEM or MQ_EIO when none
 * could be (the caller then gives up on the connection).
 */
int http_static_answer(struct MHD_Connection *conn, const char *dir, const char *url);

#endif
