/*
 * client_chat_features.c - the chat features (doc/protocol.md, "Chat
 * features") through real client libraries:
 *
 *   history_v5_paho       Paho MQTT C (MQTTClient, MQTT 5): a history request
 *                         on chat/room/{room}/history with a Response Topic
 *                         and Correlation Data; the answer arrives on the
 *                         response topic (not subscribed to) with the same
 *                         correlation data: {"type":"history","room",
 *                         "req","messages":[...]} oldest first, paging back
 *                         with "before"
 *   presence_mosquitto    libmosquitto (MQTT 3.1.1): alice online (a Paho
 *                         client); a subscriber to chat/presence/{alice}
 *                         gets the retained message (retain flag set)
 *                         saying online, 1 device, a last_seen of now
 *
 * The broker runs with chat.presence_interval 200 and chat.presence_grace
 * 600. libmosquitto runs its network thread; its callback only fills a
 * mutex-protected slot the test thread polls.
 */
#include <MQTTClient.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chatlib.h"

static struct tl_broker broker;
static struct ch_pair pair; /* alice and bob, with their tokens */

/* See tests/broker/client_paho5.c: the two Paho libraries' heap trackers. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:*libpaho-mqtt3a.so*\nleak:*libpaho-mqtt3c.so*\n";
}

/* ---- Paho MQTTClient (MQTT 5) ---- */

static MQTTClient paho_login(const char *id, const char *user, const char *password)
{
    MQTTClient c;
    MQTTClient_createOptions co = MQTTClient_createOptions_initializer;
    MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer5;
    MQTTResponse r;
    int rc;
    co.MQTTVersion = MQTTVERSION_5;
    rc = MQTTClient_createWithOptions(&c, broker.uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (!CHECKF(rc == MQTTCLIENT_SUCCESS, "MQTTClient_createWithOptions: %d", rc))
        return NULL;
    o.keepAliveInterval = 30;
    o.cleanstart = 1;
    o.connectTimeout = 5;
    o.username = user;
    o.password = password;
    r = MQTTClient_connect5(c, &o, NULL, NULL);
    rc = r.reasonCode;
    MQTTResponse_free(r);
    if (!CHECKF(rc == MQTTCLIENT_SUCCESS, "connect as %s: %d", user, rc)) {
        MQTTClient_destroy(&c);
        return NULL;
    }
    return c;
}

/*
 * Waits (bounded) for a message on topic; returns its parsed payload
 * (cJSON_Delete it) and copies its Correlation Data into corr (NUL-
 * terminated, "" when none). Messages on other topics are skipped.
 */
static cJSON *paho_wait(MQTTClient c, const char *topic, char *corr, size_t corr_len)
{
    double deadline = tl_now() + TL_WAIT;
    corr[0] = '\0';
    while (tl_now() < deadline) {
        char *t = NULL;
        int tlen = 0;
        MQTTClient_message *m = NULL;
        int rc = MQTTClient_receive(c, &t, &tlen, &m, 100);
        if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED)
            return NULL;
        if (!m)
            continue;
        bool mine = strlen(topic) == (size_t)(tlen > 0 ? tlen : (int)strlen(t)) &&
                    memcmp(t, topic, strlen(topic)) == 0;
        cJSON *j = NULL;
        if (mine) {
            MQTTProperty *p =
                MQTTProperties_getProperty(&m->properties, MQTTPROPERTY_CODE_CORRELATION_DATA);
            if (p)
                snprintf(corr, corr_len, "%.*s", p->value.data.len, p->value.data.data);
            j = cJSON_ParseWithLength(m->payload, (size_t)m->payloadlen);
        }
        MQTTClient_freeMessage(&m);
        MQTTClient_free(t);
        if (mine)
            return j;
    }
    return NULL;
}

/* A history request with a response topic and correlation data; the
 * answer's messages array, detached (cJSON_Delete it), or NULL. */
static cJSON *ask_history(MQTTClient c, const char *room, const char *body, const char *rt,
                          const char *corr, const char *req)
{
    char topic[160], got_corr[128];
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty p;
    cJSON *ans, *msgs = NULL;
    snprintf(topic, sizeof topic, "chat/room/%s/history", room);
    memset(&p, 0, sizeof p);
    p.identifier = MQTTPROPERTY_CODE_RESPONSE_TOPIC;
    p.value.data.data = (char *)rt;
    p.value.data.len = (int)strlen(rt);
    MQTTProperties_add(&props, &p);
    memset(&p, 0, sizeof p);
    p.identifier = MQTTPROPERTY_CODE_CORRELATION_DATA;
    p.value.data.data = (char *)corr;
    p.value.data.len = (int)strlen(corr);
    MQTTProperties_add(&props, &p);
    bool sent = ch_paho_pub(c, topic, body, &props);
    MQTTProperties_free(&props);
    if (!sent)
        return NULL;
    ans = paho_wait(c, rt, got_corr, sizeof got_corr);
    if (!CHECKF(cJSON_IsObject(ans), "no history answer on %s", rt)) {
        cJSON_Delete(ans);
        return NULL;
    }
    CHECKF(strcmp(got_corr, corr) == 0, "correlation data '%s', sent '%s'", got_corr, corr);
    CHECKF(strcmp(ch_str(ans, "type"), "history") == 0, "type '%s'", ch_str(ans, "type"));
    CHECKF(strcmp(ch_str(ans, "room"), room) == 0, "room '%s'", ch_str(ans, "room"));
    CHECKF(strcmp(ch_str(ans, "req"), req) == 0, "req '%s', sent '%s'", ch_str(ans, "req"), req);
    msgs = cJSON_DetachItemFromObjectCaseSensitive(ans, "messages");
    cJSON_Delete(ans);
    if (!CHECKF(cJSON_IsArray(msgs), "no messages array in the answer")) {
        cJSON_Delete(msgs);
        return NULL;
    }
    return msgs;
}

/* True when msgs holds exactly the texts "m<first>".."m<first+n-1>" in order. */
static bool texts_are(const cJSON *msgs, int first, int n)
{
    char want[32];
    int i = 0;
    const cJSON *e;
    if (!CHECKF(cJSON_GetArraySize(msgs) == n, "%d messages, expected %d",
                cJSON_GetArraySize(msgs), n))
        return false;
    cJSON_ArrayForEach(e, msgs)
    {
        snprintf(want, sizeof want, "m%02d", first + i++);
        if (!CHECKF(strcmp(ch_str(e, "text"), want) == 0, "message %d: text '%s', expected %s",
                    i - 1, ch_str(e, "text"), want))
            return false;
    }
    return true;
}

static void test_history_v5_paho(void)
{
    const char *room = tl_name("hist");
    char topic[128], text[16], before[32], body[128];
    const char *rt = tl_name("resp/bob");
    MQTTClient a = NULL, b = NULL;
    cJSON *page = NULL;
    snprintf(topic, sizeof topic, "chat/room/%s", room);
    if (!ch_make_room(&broker, pair.atok, room, false))
        return;
    a = paho_login(tl_name("alice"), pair.alice, pair.atok);
    b = paho_login(tl_name("bob"), pair.bob, pair.btok);
    if (!CHECK(a && b))
        goto out;
    for (int i = 0; i < 15; i++) {
        snprintf(text, sizeof text, "m%02d", i);
        if (!ch_paho_pub(a, topic, text, NULL))
            goto out;
    }
    /* The latest 10, then the 5 before them, then nothing. */
    page = ask_history(b, room, "{\"limit\":10,\"req\":\"p1\"}", rt, "corr-1", "p1");
    if (!page || !texts_are(page, 5, 10))
        goto out;
    snprintf(before, sizeof before, "%s", ch_str(cJSON_GetArrayItem(page, 0), "id"));
    CHECKF(ch_is_decimal_id(before), "id '%s'", before);
    cJSON_Delete(page);
    snprintf(body, sizeof body, "{\"limit\":10,\"before\":\"%s\",\"req\":\"p2\"}", before);
    page = ask_history(b, room, body, rt, "corr-2", "p2");
    if (!page || !texts_are(page, 0, 5))
        goto out;
    snprintf(before, sizeof before, "%s", ch_str(cJSON_GetArrayItem(page, 0), "id"));
    cJSON_Delete(page);
    snprintf(body, sizeof body, "{\"limit\":10,\"before\":\"%s\",\"req\":\"p3\"}", before);
    page = ask_history(b, room, body, rt, "corr-3", "p3");
    if (page)
        texts_are(page, 0, 0);
out:
    cJSON_Delete(page);
    ch_paho_logout(&a);
    ch_paho_logout(&b);
}

/* ---- libmosquitto (MQTT 3.1.1) ---- */

struct mctx {
    pthread_mutex_t mu;
    atomic_int connected;  /* CONNACK code + 1 */
    atomic_int subscribed; /* granted QoS + 1 */
    char *payload;         /* the first message on the topic (under mu) */
    bool retain;           /* under mu */
    char topic[160];
};

static void m_on_connect(struct mosquitto *m, void *obj, int rc)
{
    atomic_store(&((struct mctx *)obj)->connected, rc + 1);
}

static void m_on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    atomic_store(&((struct mctx *)obj)->subscribed, n > 0 ? granted[0] + 1 : -1);
}

static void m_on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    struct mctx *c = obj;
    pthread_mutex_lock(&c->mu);
    if (!c->payload && strcmp(msg->topic, c->topic) == 0) {
        c->payload = malloc((size_t)msg->payloadlen + 1);
        if (c->payload) {
            memcpy(c->payload, msg->payload, (size_t)msg->payloadlen);
            c->payload[msg->payloadlen] = '\0';
        }
        c->retain = msg->retain;
    }
    pthread_mutex_unlock(&c->mu);
}

static int wait_atomic(atomic_int *v, double timeout)
{
    double deadline = tl_now() + timeout;
    while (atomic_load(v) == 0 && tl_now() < deadline)
        tl_sleep_ms(5);
    return atomic_load(v);
}

/* The first message's payload on c->topic (bounded wait), or NULL. */
static char *m_wait(struct mctx *c, bool *retain)
{
    double deadline = tl_now() + TL_WAIT;
    char *p = NULL;
    while (tl_now() < deadline) {
        pthread_mutex_lock(&c->mu);
        p = c->payload;
        c->payload = NULL;
        *retain = c->retain;
        pthread_mutex_unlock(&c->mu);
        if (p)
            return p;
        tl_sleep_ms(10);
    }
    return NULL;
}

/* Polls GET /v1/users/{user}/presence until "online" is true (bounded). */
static bool http_online(const char *user)
{
    char path[160];
    double deadline = tl_now() + TL_WAIT;
    snprintf(path, sizeof path, "/v1/users/%s/presence", user);
    while (tl_now() < deadline) {
        cJSON *j = NULL;
        int st = ch_http(&broker, "GET", path, pair.btok, NULL, &j);
        bool on = st == 200 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "online"));
        cJSON_Delete(j);
        if (on)
            return true;
        tl_sleep_ms(50);
    }
    return false;
}

static void test_presence_mosquitto(void)
{
    struct mctx ctx;
    struct mosquitto *m = NULL;
    MQTTClient a = NULL;
    char *payload = NULL;
    bool retain = false;
    int rc;
    memset(&ctx, 0, sizeof ctx);
    pthread_mutex_init(&ctx.mu, NULL);
    snprintf(ctx.topic, sizeof ctx.topic, "chat/presence/%s", pair.alice);
    a = paho_login(tl_name("alice-online"), pair.alice, pair.atok);
    if (!CHECK(a) || !CHECKF(http_online(pair.alice), "alice never online over HTTP"))
        goto out;
    tl_sleep_ms(400); /* two presence intervals: the retained message is out */
    m = mosquitto_new(tl_name("bob-watch"), true, &ctx);
    if (!CHECK(m != NULL))
        goto out;
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(m, m_on_connect);
    mosquitto_subscribe_callback_set(m, m_on_subscribe);
    mosquitto_message_callback_set(m, m_on_message);
    mosquitto_username_pw_set(m, pair.bob, pair.btok);
    rc = mosquitto_connect(m, "127.0.0.1", broker.port, 30);
    if (!CHECKF(rc == MOSQ_ERR_SUCCESS, "mosquitto_connect: %s", mosquitto_strerror(rc)))
        goto out;
    mosquitto_loop_start(m);
    if (!CHECKF(wait_atomic(&ctx.connected, TL_WAIT) == 1, "CONNACK %d",
                atomic_load(&ctx.connected) - 1))
        goto out;
    if (!CHECK(mosquitto_subscribe(m, NULL, ctx.topic, 1) == MOSQ_ERR_SUCCESS) ||
        !CHECKF(wait_atomic(&ctx.subscribed, TL_WAIT) == 2, "SUBACK %d",
                atomic_load(&ctx.subscribed) - 1))
        goto out;
    payload = m_wait(&ctx, &retain);
    if (CHECKF(payload != NULL, "no retained presence on %s", ctx.topic)) {
        cJSON *j = cJSON_Parse(payload);
        double last = ch_num(j, "last_seen"), now = (double)time(NULL) * 1000;
        CHECKF(retain, "the presence message came without the retain flag");
        CHECKF(strcmp(ch_str(j, "type"), "presence") == 0 && strcmp(ch_str(j, "user"), pair.alice) == 0 &&
                   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "online")) &&
                   ch_num(j, "devices") == 1,
               "presence %s", payload);
        CHECKF(last > now - 60000 && last < now + 10000, "last_seen %.0f is not recent", last);
        cJSON_Delete(j);
    }
out:
    free(payload);
    if (m) {
        mosquitto_disconnect(m);
        mosquitto_loop_stop(m, true);
        mosquitto_destroy(m);
    }
    pthread_mutex_lock(&ctx.mu);
    free(ctx.payload);
    pthread_mutex_unlock(&ctx.mu);
    pthread_mutex_destroy(&ctx.mu);
    ch_paho_logout(&a);
}

static void test_broker_exits_cleanly(void)
{
    int status = tl_broker_stop(&broker);
    CHECKF(status == 0, "broker exit status %d on SIGTERM", status);
}

int main(void)
{
    char cfg[1024];
    tl_init("client_chat_features", 100);
    mosquitto_lib_init();
    snprintf(cfg, sizeof cfg, "%schat.presence_interval 200\nchat.presence_grace 600\n",
             ch_config());
    if (!ch_start_with_pair(&broker, cfg, &pair))
        return 1;
    tl_run("history_v5_paho", test_history_v5_paho);
    tl_run("presence_mosquitto", test_presence_mosquitto);
    tl_run("broker_exits_cleanly", test_broker_exits_cleanly);
    mosquitto_lib_cleanup();
    return tl_finish();
}
