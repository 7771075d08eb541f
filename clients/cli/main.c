/*
 * main.c - mqchat, the terminal chat client of mqchat (issue 9;
 * doc/man/mqchat.1). Reads the settings (opts.c), finds who logs in and
 * with what (a token, or a password traded for one at POST /v1/tokens),
 * then runs the interactive chat (chat.c) or send / tail (script.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "chat.h"
#include "opts.h"
#include "script.h"

/* "http://HOST:8080" from an MQTT URL's host; buf of size n. */
static void main__default_api(const char *url, char *buf, size_t n)
{
    const char *p = strstr(url, "://"), *end;
    p = p ? p + 3 : url;
    if (*p == '[') {
        end = strchr(p, ']');
        end = end ? end + 1 : p + strlen(p);
    } else {
        end = p + strcspn(p, ":/");
    }
    snprintf(buf, n, "http://%.*s:8080", (int)(end - p), p);
}

int main(int argc, char **argv)
{
    struct mqchat_opts o;
    struct api api;
    char apiurl[512], user[OPTS_NAME_MAX + 1], err[256];
    const char *secret;
    int rc;

    memset(&api, 0, sizeof api);
    rc = opts_parse(argc, argv, &o);
    if (rc != 0) {
        opts_free(&o);
        return rc < 0 ? MQCHAT_EXIT_OK : rc;
    }
    if (!o.api)
        main__default_api(o.url, apiurl, sizeof apiurl);
    if (api_init(&api, o.api ? o.api : apiurl) != HTTP_OK && o.api) {
        fprintf(stderr, "mqchat: --api %s: %s\n", o.api, http_strerror(HTTP_EURL));
        rc = MQCHAT_EXIT_USAGE;
        goto out;
    }
    user[0] = '\0';
    if (o.user)
        snprintf(user, sizeof user, "%s", o.user);
    else if (o.token && api_token_user(o.token, user, sizeof user) != 0)
        user[0] = '\0';
    if (!user[0] || !opts_valid_name(user)) {
        fprintf(stderr, "mqchat: who are you? give --user (or MQCHAT_USER, or user in the config)\n");
        rc = MQCHAT_EXIT_USAGE;
        goto out;
    }
    if (!o.token && !o.password) {
        if (isatty(STDIN_FILENO))
            o.password = opts_prompt_password(user);
        if (!o.password) {
            fprintf(stderr, "mqchat: no password or token (--password, MQCHAT_PASSWORD, --token)\n");
            rc = MQCHAT_EXIT_USAGE;
            goto out;
        }
    }
    if (o.token) {
        api.token = strdup(o.token);
        secret = o.token;
    } else if (o.mode == MQCHAT_CHAT) {
        /* Trade the password for a token: cheap for the broker to check, and
         * the bearer of the HTTP calls. Without the API, log in to MQTT with
         * the password and do without history and blocks. */
        rc = api_login(&api, user, o.password, err, sizeof err);
        if (rc == 401 || rc == 400) {
            fprintf(stderr, "mqchat: login refused for %s: %s\n", user, err);
            rc = MQCHAT_EXIT_AUTH;
            goto out;
        }
        if (rc != 200)
            fprintf(stderr, "mqchat: no token from the HTTP API (%s); going on without it\n", err);
        secret = api.token ? api.token : o.password;
    } else {
        secret = o.password;
    }
    if (o.mode == MQCHAT_CHAT)
        rc = chat_run(&o, &api, user, secret);
    else
        rc = script_run(&o, user, secret);
out:
    api_free(&api);
    opts_free(&o);
    return rc;
}
