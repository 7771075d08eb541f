/*
 * api.h - the calls mqchat makes to mqchatd's HTTP API (doc/protocol.md,
 * "HTTP API"): log in for a token, history pages, personal blocks, the
 * room list, read markers, leaving a room. Owner: the mqchat CLI (issue 9).
 *
 * Each call is one blocking request through http.c (a few seconds at
 * most). Answers are parsed with cJSON; the caller owns what it gets.
 * Errors: a negative HTTP_E* code when no answer came, else the HTTP
 * status; for a status >= 400, err receives the answer's "error" and
 * "code" (or a short description), made safe to print (safetext.h).
 */
#ifndef MQCHAT_CLI_API_H
#define MQCHAT_CLI_API_H

#include <cJSON.h>
#include <stddef.h>

#include "http.h"

#define API_TIMEOUT_MS 5000

struct api {
    struct http_base base;
    int have_base;   /* 0 when no usable API URL was given */
    char *token;     /* bearer (heap, owned); NULL before login */
};

/* Parses url into a->base. Returns HTTP_OK or HTTP_EURL. */
int api_init(struct api *a, const char *url);

/* Frees a->token (wiping it). */
void api_free(struct api *a);

/* POST /v1/tokens with user + password; on 200 sets a->token. Returns the
 * HTTP status (200, 401 for bad credentials...) or a negative HTTP_E*. */
int api_login(struct api *a, const char *user, const char *password, char *err, size_t errn);

/* One request with the bearer; on a 2xx answer with a JSON body *out gets
 * it (caller frees with cJSON_Delete), else *out is NULL. Returns the HTTP
 * status or a negative HTTP_E*; err as above for >= 400. */
int api_call(struct api *a, const char *method, const char *path, const char *body,
             cJSON **out, char *err, size_t errn);

/* The "sub" claim of a JWT, copied into user (size n). Returns 0, or -1
 * when token is not a JWT with a string "sub". No signature check. */
int api_token_user(const char *token, char *user, size_t n);

#endif
