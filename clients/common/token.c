/*
 * token.c - the subject of a chat token (see token.h).
 */
#include "token.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* The value of one base64url character, or -1. */
static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes base64url z[0..len) (no padding) into a heap buffer; *n gets
 * its length. NULL on a bad character or out of memory. */
static unsigned char *b64url_decode(const char *z, size_t len, size_t *n)
{
    unsigned char *out = malloc(len * 3 / 4 + 1);
    if (!out)
        return NULL;
    unsigned acc = 0;
    int bits = 0;
    *n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value(z[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = ((acc << 6) | (unsigned)v) & 0xFFFFFFu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[(*n)++] = (unsigned char)(acc >> bits);
        }
    }
    return out;
}

char *token_subject(const char *token)
{
    const char *a = token ? strchr(token, '.') : NULL;
    const char *b = a ? strchr(a + 1, '.') : NULL;
    if (!b)
        return NULL;
    size_t n;
    unsigned char *json = b64url_decode(a + 1, (size_t)(b - a - 1), &n);
    if (!json)
        return NULL;
    char *sub = NULL;
    cJSON *doc = cJSON_ParseWithLength((const char *)json, n);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "sub");
    if (cJSON_IsString(s) && s->valuestring[0])
        sub = strdup(s->valuestring);
    cJSON_Delete(doc);
    free(json);
    return sub;
}
