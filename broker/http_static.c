/*
 * http_static.c - the web page's files for the HTTP API (see
 * http_static.h): a GET or HEAD outside /v1/ is answered from
 * http.static_dir.
 *
 * A path is checked twice. First as text: it must start with '/', have no
 * empty segment ("//"), and no segment that starts with '.' (which covers
 * ".", "..", and hidden files such as ".git" or ".env"). libmicrohttpd has
 * already percent-decoded it, so "%2e%2e" arrives as ".." and is refused
 * here. Then on disk: realpath() of the file must lie inside realpath() of
 * the directory, so a symbolic link out of it is refused too; the
 * resolved file is opened with O_NOFOLLOW and must be a regular file.
 *
 * The file goes out with libmicrohttpd's fd response (it reads, or
 * sendfile()s, and closes the descriptor); nothing is held in memory.
 * Every answer says Cache-Control: no-cache (the built files have no
 * content hash in their names, so a browser asks again each time) and
 * X-Content-Type-Options: nosniff; HTML pages carry a Content-Security-
 * Policy that allows scripts, styles and fetches from the page's own
 * origin, WebSocket connections anywhere (the MQTT listener is another
 * port, so another origin), and workers from blob: URLs (MQTT.js keeps its
 * timers in one, so that a background tab still pings in time).
 *
 * Not here: the API's endpoints (http_routes.c), deciding which requests
 * come here (http_api.c asks http_static_wants()).
 */
#include "http_static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "log.h"

#define STATIC_URL_MAX 1024 /* bytes of a path worth looking up */

#define CSP                                                                                        \
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "                      \
    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

/* Content types by file name extension; anything else is octet-stream. */
static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"ico", "image/x-icon"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"woff2", "font/woff2"},
};

static const char *content_type_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++)
            if (strcmp(dot + 1, content_types[i].ext) == 0)
                return content_types[i].type;
    return "application/octet-stream";
}

bool http_static_wants(const char *dir, const char *method, const char *url)
{
    if (!dir || !dir[0] || strcmp(dir, "none") == 0)
        return false;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return false;
    return strcmp(url, "/v1") != 0 && strncmp(url, "/v1/", 4) != 0;
}

/* True when url is a path this module looks up: see the file's comment. */
static bool path_ok(const char *url)
{
    size_t len = strlen(url);
    if (url[0] != '/' || len > STATIC_URL_MAX)
        return false;
    for (const char *seg = url + 1;; seg++) {
        size_t n = strcspn(seg, "/");
        if (seg[n] == '\0')
            return n == 0 || seg[0] != '.'; /* the last segment; empty: a directory's index */
        if (n == 0 || seg[0] == '.')
            return false;
        seg += n;
    }
}

/* Queues a JSON error answer (body: a literal). */
static int answer_error(struct MHD_Connection *conn, unsigned status, const char *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MQ_ENOMEM;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret == MHD_YES ? MQ_OK : MQ_EIO;
}

static int not_found(struct MHD_Connection *conn)
{
    return answer_error(conn, 404, "{\"error\":\"no such file\",\"code\":\"not_found\"}");
}

/* True when path (resolved) is dir (resolved) or below it. */
static bool inside(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    if (n == 1) /* "/" */
        return path[0] == '/';
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

int http_static_answer(struct MHD_Connection *conn, const char *dir, const char *url)
{
    char rdir[PATH_MAX], full[PATH_MAX], rfile[PATH_MAX];
    struct stat st;
    if (!realpath(dir, rdir) || stat(rdir, &st) != 0 || !S_ISDIR(st.st_mode))
        return answer_error(
            conn, 404, "{\"error\":\"web page not built: run make web\",\"code\":\"not_found\"}");
    if (!path_ok(url))
        return not_found(conn);
    size_t len = strlen(url);
    int w =
        snprintf(full, sizeof(full), "%s%s%s", rdir, url, url[len - 1] == '/' ? "index.html" : "");
    /* (a link inside the directory to a hidden file there is refused too) */
    if (w < 0 || (size_t)w >= sizeof(full) || !realpath(full, rfile) || !inside(rdir, rfile) ||
        !path_ok(rfile + (rdir[1] ? strlen(rdir) : 0)))
        return not_found(conn);
    int fd = open(rfile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return not_found(conn);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return not_found(conn);
    }
    if ((uint64_t)st.st_size > HTTP_STATIC_MAX_BYTES) {
        close(fd);
        log_warn("http: %s is over %u bytes: not served", rfile, HTTP_STATIC_MAX_BYTES);
        return answer_error(
            conn, 403, "{\"error\":\"the file is too large to serve\",\"code\":\"forbidden\"}");
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((size_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        return MQ_ENOMEM;
    }
    const char *type = content_type_of(rfile);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (strncmp(type, "text/html", 9) == 0)
        MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    enum MHD_Result ret = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp); /* closes fd once the answer is sent */
    return ret == MHD_YES ? MQ_OK : MQ_EIO;
}
