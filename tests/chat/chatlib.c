/*
 * chatlib.c - HTTP through curl and chat config for the client-library
 * chat tests. See chatlib.h.
 */
#include "chatlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char ch__service_key[64];
static char ch__config[256];

static void ch__init(void)
{
    unsigned long r;
    if (ch__service_key[0])
        return;
    r = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16) ^ (unsigned long)clock();
    snprintf(ch__service_key, sizeof ch__service_key, "svc-ctest-%lx-%d", r, getpid());
    snprintf(ch__config, sizeof ch__config,
             "chat.service_key %s\nchat.token_secret jwt-ctest-%lx-%lx\n"
             "http.bind_address 127.0.0.1\n"
             /* No presence or unread updates on the events topics these
              * programs read notices from (a later line may set it again). */
             "chat.presence_interval 60000\n",
             ch__service_key, r * 2654435761UL, r ^ 0x5bd1e995UL);
}

const char *ch_service_key(void)
{
    ch__init();
    return ch__service_key;
}

const char *ch_config(void)
{
    ch__init();
    return ch__config;
}

int ch_http(const struct tl_broker *b, const char *method, const char *path, const char *bearer,
            const char *body, cJSON **json)
{
    char cmd[4096], bodyfile[400], auth[1200] = "", data[600] = "";
    char *out = NULL;
    size_t len = 0, cap = 0;
    int status = 0;
    FILE *p;
    char *nl;
    if (json)
        *json = NULL;
    snprintf(bodyfile, sizeof bodyfile, "%s/http-body.json", b->dir);
    if (body) {
        FILE *f = fopen(bodyfile, "w");
        if (!f || fputs(body, f) < 0) {
            if (f)
                fclose(f);
            printf("    cannot write %s\n", bodyfile);
            return 0;
        }
        fclose(f);
    }
    /* Bearers, methods and paths here are [A-Za-z0-9._/?=&-]: no quoting issue. */
    if (bearer)
        snprintf(auth, sizeof auth, " -H 'Authorization: Bearer %s'", bearer);
    if (body)
        snprintf(data, sizeof data, " -H 'Content-Type: application/json' --data-binary '@%s'",
                 bodyfile);
    snprintf(cmd, sizeof cmd,
             "curl -sS --max-time 10 -o - -w '\\n%%{http_code}' -X %s%s%s 'http://127.0.0.1:%d%s'",
             method, auth, data, b->http_port, path);
    p = popen(cmd, "r");
    if (!p) {
        printf("    popen curl failed\n");
        return 0;
    }
    for (;;) {
        size_t n;
        if (cap - len < 4096) {
            char *o = realloc(out, cap + 65536);
            if (!o)
                break;
            out = o;
            cap += 65536;
        }
        n = fread(out + len, 1, cap - len - 1, p);
        if (n == 0)
            break;
        len += n;
    }
    pclose(p);
    if (!out)
        return 0;
    out[len] = '\0';
    nl = strrchr(out, '\n');
    if (nl) {
        status = atoi(nl + 1);
        *nl = '\0';
    }
    if (json)
        *json = cJSON_Parse(out);
    if (status == 0 || status >= 500)
        printf("    %s %s -> %d %s\n", method, path, status, out);
    free(out);
    return status;
}

bool ch_make_user(const struct tl_broker *b, const char *name, const char *password,
                  const char *role)
{
    char body[512];
    cJSON *j = NULL;
    int st;
    bool ok;
    if (password)
        snprintf(body, sizeof body, "{\"id\":\"%s\",\"password\":\"%s\",\"role\":\"%s\"}", name,
                 password, role);
    else
        snprintf(body, sizeof body, "{\"id\":\"%s\",\"role\":\"%s\"}", name, role);
    st = ch_http(b, "POST", "/v1/users", ch_service_key(), body, &j);
    ok = CHECKF(st == 201 && strcmp(ch_str(j, "id"), name) == 0, "create user %s: status %d", name,
                st);
    cJSON_Delete(j);
    return ok;
}

bool ch_service_token(const struct tl_broker *b, const char *user, char *tok, size_t len)
{
    char body[256];
    cJSON *j = NULL;
    int st;
    bool ok;
    snprintf(body, sizeof body, "{\"user\":\"%s\",\"ttl\":3600}", user);
    st = ch_http(b, "POST", "/v1/tokens", ch_service_key(), body, &j);
    ok = CHECKF(st == 200 && ch_str(j, "token")[0], "token for %s: status %d", user, st);
    snprintf(tok, len, "%s", ch_str(j, "token"));
    cJSON_Delete(j);
    return ok;
}

bool ch_make_room(const struct tl_broker *b, const char *bearer, const char *name, bool is_private)
{
    char body[256];
    cJSON *j = NULL;
    int st;
    bool ok;
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"private\":%s}", name,
             is_private ? "true" : "false");
    st = ch_http(b, "POST", "/v1/rooms", bearer, body, &j);
    ok = CHECKF(st == 201 && strcmp(ch_str(j, "name"), name) == 0, "create room %s: status %d",
                name, st);
    cJSON_Delete(j);
    return ok;
}

const char *ch_str(const cJSON *obj, const char *name)
{
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
}

double ch_num(const cJSON *obj, const char *name)
{
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

bool ch_is_decimal_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 20 || s[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

void ch_paho_logout(MQTTClient *c)
{
    if (!*c)
        return;
    if (MQTTClient_isConnected(*c))
        MQTTClient_disconnect5(*c, 1000, MQTTREASONCODE_NORMAL_DISCONNECTION, NULL);
    MQTTClient_destroy(c);
    *c = NULL;
}

bool ch_paho_pub(MQTTClient c, const char *topic, const char *payload, MQTTProperties *props)
{
    MQTTClient_message m = MQTTClient_message_initializer;
    MQTTClient_deliveryToken token = 0;
    MQTTResponse r;
    int rc;
    m.payload = (void *)payload;
    m.payloadlen = (int)strlen(payload);
    m.qos = 1;
    if (props)
        m.properties = *props;
    r = MQTTClient_publishMessage5(c, topic, &m, &token);
    rc = r.reasonCode;
    MQTTResponse_free(r);
    if (!CHECKF(rc == MQTTCLIENT_SUCCESS, "publish to %s: %d", topic, rc))
        return false;
    rc = MQTTClient_waitForCompletion(c, token, (unsigned long)(TL_WAIT * 1000));
    return CHECKF(rc == MQTTCLIENT_SUCCESS, "publish to %s not completed: %d", topic, rc);
}

bool ch_start_with_pair(struct tl_broker *b, const char *cfg, struct ch_pair *p)
{
    if (tl_broker_start(b, cfg) != 0) {
        printf("0 passed, 1 failed\n");
        return false;
    }
    snprintf(p->alice, sizeof p->alice, "%s", tl_name("alice"));
    snprintf(p->bob, sizeof p->bob, "%s", tl_name("bob"));
    if (!ch_make_user(b, p->alice, NULL, "user") || !ch_make_user(b, p->bob, NULL, "user") ||
        !ch_service_token(b, p->alice, p->atok, sizeof p->atok) ||
        !ch_service_token(b, p->bob, p->btok, sizeof p->btok)) {
        tl_broker_stop(b);
        printf("0 passed, 1 failed\n");
        return false;
    }
    return true;
}
