/*
 * api.c - mqchatd's HTTP API for the CLI (see api.h).
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/safetext.h"
#include "../common/token.h"

int api_init(struct api *a, const char *url)
{
    memset(a, 0, sizeof *a);
    if (!url || http_base_parse(url, &a->base) != HTTP_OK)
        return HTTP_EURL;
    a->have_base = 1;
    return HTTP_OK;
}

void api_free(struct api *a)
{
    if (a->token) {
        memset(a->token, 0, strlen(a->token));
        free(a->token);
    }
    a->token = NULL;
}

/* Fills err from an error answer {"error":..., "code":...}, made safe to
 * print (safetext.h): the server's words may hold escape sequences. */
static void api__error(const struct http_response *r, char *err, size_t errn)
{
    cJSON *j = cJSON_ParseWithLength(r->body ? r->body : "", r->len);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (!err || errn == 0) {
        cJSON_Delete(j);
        return;
    }
    if (cJSON_IsString(msg) && cJSON_IsString(code)) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s (%s)", msg->valuestring, code->valuestring);
        safetext_copy(err, errn, tmp, strlen(tmp), 0);
    } else
        snprintf(err, errn, "HTTP %d", r->status);
    cJSON_Delete(j);
}

int api_call(struct api *a, const char *method, const char *path, const char *body,
             cJSON **out, char *err, size_t errn)
{
    struct http_response r;
    int rc;

    if (out)
        *out = NULL;
    if (err && errn)
        err[0] = '\0';
    if (!a->have_base) {
        if (err && errn)
            snprintf(err, errn, "no HTTP API (--api)");
        return HTTP_EURL;
    }
    rc = http_request(&a->base, method, path, a->token, body, API_TIMEOUT_MS, &r);
    if (rc != HTTP_OK) {
        if (err && errn)
            snprintf(err, errn, "%s", http_strerror(rc));
        return rc;
    }
    if (r.status >= 400)
        api__error(&r, err, errn);
    else if (out && r.len)
        *out = cJSON_ParseWithLength(r.body, r.len);
    rc = r.status;
    http_response_free(&r);
    return rc;
}

int api_login(struct api *a, const char *user, const char *password, char *err, size_t errn)
{
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    const cJSON *tok;
    char *body;
    int rc;

    if (!req || !cJSON_AddStringToObject(req, "user", user) ||
        !cJSON_AddStringToObject(req, "password", password) ||
        !(body = cJSON_PrintUnformatted(req))) {
        cJSON_Delete(req);
        return HTTP_ENOMEM;
    }
    cJSON_Delete(req);
    api_free(a);
    rc = api_call(a, "POST", "/v1/tokens", body, &ans, err, errn);
    memset(body, 0, strlen(body));
    free(body);
    tok = cJSON_GetObjectItemCaseSensitive(ans, "token");
    if (rc == 200) {
        if (cJSON_IsString(tok) && (a->token = strdup(tok->valuestring)) != NULL) {
            cJSON_Delete(ans);
            return rc;
        }
        rc = HTTP_EPROTO;
    }
    cJSON_Delete(ans);
    return rc;
}

int api_token_user(const char *token, char *user, size_t n)
{
    char *sub = token_subject(token);
    int rc = sub && strlen(sub) < n ? 0 : -1;
    if (rc == 0)
        strcpy(user, sub);
    free(sub);
    return rc;
}
