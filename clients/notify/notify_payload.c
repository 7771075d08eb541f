/*
 * notify_payload.c - topics and payloads of mqchat-notify (see
 * notify_payload.h). The type is "text": on the system topics and a
 * user's events topic the broker makes every envelope type "system"
 * whatever was sent.
 */
#include "notify_payload.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool notify_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

bool notify_prefix_valid(const char *prefix)
{
    size_t n = prefix ? strlen(prefix) : 0;
    return n >= 1 && n <= 64 && prefix[0] != '$' && prefix[0] != '/' && prefix[n - 1] != '/' &&
           !strpbrk(prefix, "+#") && !strstr(prefix, "//");
}

int notify_meta_check(const char *json, char *why, size_t size)
{
    cJSON *doc = cJSON_Parse(json);
    int rc = 0;
    if (!doc) {
        snprintf(why, size, "not valid JSON");
        rc = -1;
    } else if (!cJSON_IsObject(doc)) {
        snprintf(why, size, "must be a JSON object");
        rc = -1;
    }
    cJSON_Delete(doc);
    return rc;
}

int notify_topic(const struct notify_opts *o, char *buf, size_t size)
{
    int n;
    switch (o->target) {
    case NOTIFY_TO_ALL:
        n = snprintf(buf, size, "%s/system", o->prefix);
        break;
    case NOTIFY_TO_ROOM:
        n = snprintf(buf, size, "%s/room/%s/system", o->prefix, o->target_name);
        break;
    case NOTIFY_TO_USER:
        n = snprintf(buf, size, "%s/user/%s/events", o->prefix, o->target_name);
        break;
    default:
        return -1;
    }
    return n > 0 && (size_t)n < size ? 0 : -1;
}

char *notify_payload(const char *text, size_t len, const char *meta_json)
{
    char *out = NULL;
    char *copy = malloc(len + 1);
    cJSON *doc = cJSON_CreateObject();
    if (!copy || !doc)
        goto done;
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (!cJSON_AddStringToObject(doc, "type", "text") ||
        !cJSON_AddStringToObject(doc, "text", copy))
        goto done;
    if (meta_json) {
        cJSON *meta = cJSON_Parse(meta_json);
        if (!meta)
            goto done;
        if (!cJSON_AddItemToObject(doc, "meta", meta)) {
            cJSON_Delete(meta);
            goto done;
        }
    }
    out = cJSON_PrintUnformatted(doc);
done:
    cJSON_Delete(doc);
    free(copy);
    return out;
}
