/*
 * client_chat_paho.c - chatting through mqchat with Paho MQTT C at MQTT 5,
 * as a mobile or desktop client would (doc/protocol.md):
 *
 *   token_login         users and tokens made over HTTP (curl); MQTTClient
 *                       logs in with the token (v5 and 3.1.1); a tampered
 *                       token is refused with 0x86
 *   room_envelope       join over HTTP (the answer's MQTT port and topic),
 *                       chat in the room: the envelope (id, room, from even
 *                       when the payload forges it, ts, type, text), Content
 *                       Type application/json, Payload Format Indicator 1 and
 *                       the user properties id and from; the sender's own
 *                       user properties are not forwarded
 *   dm_multi_device     alice -> bob reaches both of bob's clients and alice's
 *                       other one (chat/dm/alice), the same bytes everywhere
 *   refused_publish     MQTTAsync: a non-member's publish into a private
 *                       room fails with PUBACK 0x87 (onFailure5), and the
 *                       notice arrives on chat/user/{user}/events
 *
 * MQTTClient runs without callbacks (MQTTClient_receive); the MQTTAsync
 * client's callbacks only set atomics the test thread polls.
 */
#include <MQTTAsync.h>
#include <MQTTClient.h>
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

/* ---- MQTTClient ---- */

struct msg {
    char topic[160];
    char *payload; /* NUL-terminated copy */
    int len;
    int qos;
    MQTTProperties props;
};

static void msg_free(struct msg *m)
{
    free(m->payload);
    m->payload = NULL;
    MQTTProperties_free(&m->props);
}

/* A connected client at version (MQTTVERSION_5 or _3_1_1) logged in as
 * user/password; *reason gets the CONNACK code. NULL when refused. */
static MQTTClient login(const char *id, int version, const char *user, const char *password,
                        int *reason)
{
    MQTTClient c;
    MQTTClient_createOptions co = MQTTClient_createOptions_initializer;
    int rc;
    co.MQTTVersion = version;
    rc = MQTTClient_createWithOptions(&c, broker.uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (!CHECKF(rc == MQTTCLIENT_SUCCESS, "MQTTClient_createWithOptions: %d", rc))
        return NULL;
    if (version == MQTTVERSION_5) {
        MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer5;
        MQTTResponse r;
        o.keepAliveInterval = 30;
        o.cleanstart = 1;
        o.connectTimeout = 5;
        o.username = user;
        o.password = password;
        r = MQTTClient_connect5(c, &o, NULL, NULL);
        rc = r.reasonCode;
        MQTTResponse_free(r);
    } else {
        MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
        o.keepAliveInterval = 30;
        o.cleansession = 1;
        o.MQTTVersion = version;
        o.connectTimeout = 5;
        o.username = user;
        o.password = password;
        rc = MQTTClient_connect(c, &o);
    }
    if (reason)
        *reason = rc;
    if (rc != MQTTCLIENT_SUCCESS) {
        MQTTClient_destroy(&c);
        return NULL;
    }
    return c;
}

static bool sub(MQTTClient c, const char *filter, int qos)
{
    MQTTSubscribe_options so = MQTTSubscribe_options_initializer;
    MQTTResponse r = MQTTClient_subscribe5(c, filter, qos, &so, NULL);
    int rc = r.reasonCode;
    MQTTResponse_free(r);
    return CHECKF(rc == qos, "subscribe %s qos %d: reason code %d", filter, qos, rc);
}

/* The next message within timeout seconds (msg_free it). */
static bool recv_msg(MQTTClient c, double timeout, struct msg *g)
{
    double deadline = tl_now() + timeout;
    memset(g, 0, sizeof *g);
    while (tl_now() < deadline) {
        char *topic = NULL;
        int topic_len = 0;
        MQTTClient_message *m = NULL;
        int rc = MQTTClient_receive(c, &topic, &topic_len, &m, 100);
        if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED)
            return false;
        if (m) {
            snprintf(g->topic, sizeof g->topic, "%.*s",
                     topic_len > 0 ? topic_len : (int)strlen(topic), topic);
            g->payload = malloc((size_t)m->payloadlen + 1);
            if (g->payload) {
                memcpy(g->payload, m->payload, (size_t)m->payloadlen);
                g->payload[m->payloadlen] = '\0';
            }
            g->len = m->payloadlen;
            g->qos = m->qos;
            g->props = MQTTProperties_copy(&m->properties);
            MQTTClient_freeMessage(&m);
            MQTTClient_free(topic);
            return g->payload != NULL;
        }
    }
    return false;
}

/* True when nothing arrives within TL_QUIET. */
static bool quiet(MQTTClient c)
{
    struct msg g;
    if (recv_msg(c, TL_QUIET, &g)) {
        CHECKF(false, "unexpected message on %s: %s", g.topic, g.payload);
        msg_free(&g);
        return false;
    }
    return true;
}

/* The value of the user property name in props, or NULL. */
static const char *user_prop(MQTTProperties *props, const char *name, char *buf, size_t len)
{
    for (int i = 0; i < props->count; i++) {
        MQTTProperty *p = &props->array[i];
        if (p->identifier == MQTTPROPERTY_CODE_USER_PROPERTY &&
            p->value.data.len == (int)strlen(name) &&
            memcmp(p->value.data.data, name, (size_t)p->value.data.len) == 0) {
            snprintf(buf, len, "%.*s", p->value.value.len, p->value.value.data);
            return buf;
        }
    }
    return NULL;
}

static int count_user_props(MQTTProperties *props)
{
    int n = 0;
    for (int i = 0; i < props->count; i++)
        n += props->array[i].identifier == MQTTPROPERTY_CODE_USER_PROPERTY;
    return n;
}

/*
 * Receives one envelope on topic from sender with the given text and checks
 * its members and, for a v5 client, its properties. Returns the parsed envelope (cJSON_Delete
 * it) and copies the raw payload into raw (may be NULL); NULL on failure.
 */
static cJSON *expect_envelope(MQTTClient c, bool v5, const char *topic, const char *sender,
                              const char *text, char *raw, size_t rawlen)
{
    struct msg g;
    cJSON *env;
    char buf[128];
    double ts;
    if (!CHECKF(recv_msg(c, TL_WAIT, &g), "no message on %s", topic))
        return NULL;
    CHECKF(strcmp(g.topic, topic) == 0, "topic %s, expected %s", g.topic, topic);
    env = cJSON_Parse(g.payload);
    if (!CHECKF(cJSON_IsObject(env), "not a JSON object: %s", g.payload)) {
        msg_free(&g);
        cJSON_Delete(env);
        return NULL;
    }
    CHECKF(ch_is_decimal_id(ch_str(env, "id")), "id not a decimal string: %s", g.payload);
    CHECKF(strcmp(ch_str(env, "from"), sender) == 0, "from is not %s: %s", sender, g.payload);
    CHECKF(strcmp(ch_str(env, "text"), text) == 0, "text is not %s: %s", text, g.payload);
    CHECKF(strcmp(ch_str(env, "type"), "text") == 0, "type is not text: %s", g.payload);
    ts = ch_num(env, "ts");
    CHECKF(ts > ((double)time(NULL) - 10) * 1000 && ts < ((double)time(NULL) + 10) * 1000,
           "ts %.0f is not now", ts);
    /* MQTT 5: content type, payload format, user properties id and from only. */
    if (v5 && CHECKF(MQTTProperties_hasProperty(&g.props, MQTTPROPERTY_CODE_CONTENT_TYPE),
                     "no content type on %s", g.topic)) {
        MQTTProperty *p = MQTTProperties_getProperty(&g.props, MQTTPROPERTY_CODE_CONTENT_TYPE);
        CHECKF(p->value.data.len == 16 && memcmp(p->value.data.data, "application/json", 16) == 0,
               "content type %.*s", p->value.data.len, p->value.data.data);
        CHECK(MQTTProperties_getNumericValue(&g.props,
                                             MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR) == 1);
        CHECKF(user_prop(&g.props, "id", buf, sizeof buf) && strcmp(buf, ch_str(env, "id")) == 0,
               "user property id missing or not the envelope's id");
        CHECKF(user_prop(&g.props, "from", buf, sizeof buf) && strcmp(buf, sender) == 0,
               "user property from missing or not %s", sender);
        CHECKF(count_user_props(&g.props) == 2, "%d user properties, expected id and from",
               count_user_props(&g.props));
        CHECK(!MQTTProperties_hasProperty(&g.props, MQTTPROPERTY_CODE_RESPONSE_TOPIC));
    }
    if (raw)
        snprintf(raw, rawlen, "%s", g.payload);
    msg_free(&g);
    return env;
}

/* ---- tests ---- */

static void test_token_login(void)
{
    MQTTClient c5, c3, bad;
    int reason = -1;
    char tampered[1024];
    c5 = login(tl_name("alice5"), MQTTVERSION_5, pair.alice, pair.atok, &reason);
    CHECKF(c5 != NULL, "v5 token login: reason %d", reason);
    c3 = login(tl_name("alice3"), MQTTVERSION_3_1_1, pair.alice, pair.atok, &reason);
    CHECKF(c3 != NULL, "3.1.1 token login: %d", reason);
    /* The token of bob for alice, and a flipped signature: 0x86. */
    bad = login(tl_name("alice-bad"), MQTTVERSION_5, pair.alice, pair.btok, &reason);
    CHECKF(bad == NULL && reason == MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD,
           "bob's token as pair.alice: reason %d, expected 0x86", reason);
    ch_paho_logout(&bad);
    snprintf(tampered, sizeof tampered, "%s", pair.atok);
    tampered[strlen(tampered) - 2] = tampered[strlen(tampered) - 2] == 'A' ? 'B' : 'A';
    bad = login(tl_name("alice-bad"), MQTTVERSION_5, pair.alice, tampered, &reason);
    CHECKF(bad == NULL && reason == MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD,
           "tampered token: reason %d, expected 0x86", reason);
    ch_paho_logout(&bad);
    ch_paho_logout(&c5);
    if (c3) {
        MQTTClient_disconnect(c3, 1000);
        MQTTClient_destroy(&c3);
    }
}

static void test_room_envelope(void)
{
    const char *room = tl_name("lobby");
    char topic[128], path[160], raw_a[4096], raw_b[4096];
    MQTTClient a = NULL, b = NULL;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty p;
    cJSON *j = NULL, *ea = NULL, *eb = NULL;
    const cJSON *mqtt;
    int st;
    snprintf(topic, sizeof topic, "chat/room/%s", room);
    if (!ch_make_room(&broker, pair.atok, room, false))
        return;
    /* bob joins over HTTP: the answer says where to connect. */
    snprintf(path, sizeof path, "/v1/rooms/%s/join", room);
    st = ch_http(&broker, "POST", path, pair.btok, NULL, &j);
    CHECKF(st == 200, "join: status %d", st);
    mqtt = cJSON_GetObjectItemCaseSensitive(j, "mqtt");
    CHECKF(ch_num(mqtt, "port") == broker.port, "join answer's mqtt.port %.0f, broker on %d",
           ch_num(mqtt, "port"), broker.port);
    CHECKF(strcmp(ch_str(mqtt, "host"), "127.0.0.1") == 0, "mqtt.host %s", ch_str(mqtt, "host"));
    CHECKF(strcmp(ch_str(j, "topic"), topic) == 0, "join answer's topic %s", ch_str(j, "topic"));
    CHECKF(strcmp(ch_str(j, "user"), pair.bob) == 0, "join answer's user %s", ch_str(j, "user"));
    cJSON_Delete(j);

    a = login(tl_name("alice"), MQTTVERSION_5, pair.alice, pair.atok, NULL);
    b = login(tl_name("bob"), MQTTVERSION_5, pair.bob, pair.btok, NULL);
    if (!CHECK(a && b) || !sub(a, topic, 1) || !sub(b, topic, 1))
        goto out;
    /* The sender's own user properties and response topic stay behind;
     * a forged "from" is ignored. */
    memset(&p, 0, sizeof p);
    p.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
    p.value.data.data = "from";
    p.value.data.len = 4;
    p.value.value.data = "mallory";
    p.value.value.len = 7;
    MQTTProperties_add(&props, &p);
    memset(&p, 0, sizeof p);
    p.identifier = MQTTPROPERTY_CODE_RESPONSE_TOPIC;
    p.value.data.data = "reply/here";
    p.value.data.len = 10;
    MQTTProperties_add(&props, &p);
    if (!ch_paho_pub(a, topic, "{\"type\":\"text\",\"text\":\"hello from paho\",\"from\":\"mallory\"}",
             &props))
        goto out;
    eb = expect_envelope(b, true, topic, pair.alice, "hello from paho", raw_b, sizeof raw_b);
    ea = expect_envelope(a, true, topic, pair.alice, "hello from paho", raw_a, sizeof raw_a);
    if (eb)
        CHECKF(strcmp(ch_str(eb, "room"), room) == 0, "room %s", ch_str(eb, "room"));
    if (ea && eb)
        CHECKF(strcmp(raw_a, raw_b) == 0, "different bytes: %s / %s", raw_a, raw_b);
    quiet(b);
out:
    MQTTProperties_free(&props);
    cJSON_Delete(ea);
    cJSON_Delete(eb);
    ch_paho_logout(&a);
    ch_paho_logout(&b);
}

static void test_dm_multi_device(void)
{
    char dm_bob[128], dm_alice[128], r1[4096], r2[4096], r3[4096];
    MQTTClient a1, a2, b1, b2;
    cJSON *e1 = NULL, *e2 = NULL, *e3 = NULL;
    snprintf(dm_bob, sizeof dm_bob, "chat/dm/%s", pair.bob);
    snprintf(dm_alice, sizeof dm_alice, "chat/dm/%s", pair.alice);
    a1 = login(tl_name("alice-phone"), MQTTVERSION_5, pair.alice, pair.atok, NULL);
    a2 = login(tl_name("alice-laptop"), MQTTVERSION_5, pair.alice, pair.atok, NULL);
    b1 = login(tl_name("bob-phone"), MQTTVERSION_5, pair.bob, pair.btok, NULL);
    b2 = login(tl_name("bob-laptop"), MQTTVERSION_3_1_1, pair.bob, pair.btok, NULL);
    if (!CHECK(a1 && a2 && b1 && b2) || !sub(b1, dm_bob, 1) || !sub(a2, dm_alice, 1))
        goto out;
    CHECK(MQTTClient_subscribe(b2, dm_bob, 1) == MQTTCLIENT_SUCCESS);
    /* Someone else's DMs: refused (0x87). */
    {
        MQTTSubscribe_options so = MQTTSubscribe_options_initializer;
        MQTTResponse r = MQTTClient_subscribe5(b1, dm_alice, 1, &so, NULL);
        CHECKF(r.reasonCode == MQTTREASONCODE_NOT_AUTHORIZED, "bob on %s: reason %d", dm_alice,
               r.reasonCode);
        MQTTResponse_free(r);
    }
    if (!ch_paho_pub(a1, dm_bob, "see you at eight", NULL))
        goto out;
    e1 = expect_envelope(b1, true, dm_bob, pair.alice, "see you at eight", r1, sizeof r1);
    e2 = expect_envelope(b2, false, dm_bob, pair.alice, "see you at eight", r2, sizeof r2);
    e3 = expect_envelope(a2, true, dm_alice, pair.alice, "see you at eight", r3, sizeof r3);
    if (e1 && e2 && e3) {
        CHECKF(strcmp(ch_str(e1, "to"), pair.bob) == 0, "to %s", ch_str(e1, "to"));
        CHECKF(strcmp(r1, r2) == 0 && strcmp(r1, r3) == 0, "not the same envelope: %s / %s / %s",
               r1, r2, r3);
    }
    quiet(b1);
    quiet(a2);
out:
    cJSON_Delete(e1);
    cJSON_Delete(e2);
    cJSON_Delete(e3);
    ch_paho_logout(&a1);
    ch_paho_logout(&a2);
    ch_paho_logout(&b1);
    if (b2) {
        MQTTClient_disconnect(b2, 1000);
        MQTTClient_destroy(&b2);
    }
}

/* ---- MQTTAsync: the PUBACK reason code of a refused publish ---- */

struct actx {
    atomic_int connected; /* 1 ok, -1 failed */
    atomic_int done;      /* 1 success, -1 failure */
    atomic_int reason;
};

static void a_conn_ok(void *ctx, MQTTAsync_successData5 *r)
{
    atomic_store(&((struct actx *)ctx)->connected, 1);
}

static void a_conn_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    atomic_store(&((struct actx *)ctx)->connected, -1);
}

static void a_pub_ok(void *ctx, MQTTAsync_successData5 *r)
{
    atomic_store(&((struct actx *)ctx)->reason, r ? (int)r->reasonCode : 0);
    atomic_store(&((struct actx *)ctx)->done, 1);
}

static void a_pub_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    atomic_store(&((struct actx *)ctx)->reason, r ? (int)r->reasonCode : -1);
    atomic_store(&((struct actx *)ctx)->done, -1);
}

static int a_arrived(void *ctx, char *topic, int len, MQTTAsync_message *m)
{
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static int wait_nonzero(atomic_int *v, double timeout)
{
    double deadline = tl_now() + timeout;
    while (atomic_load(v) == 0 && tl_now() < deadline)
        tl_sleep_ms(5);
    return atomic_load(v);
}

static void test_refused_publish(void)
{
    const char *room = tl_name("vip");
    char topic[128], events[128];
    struct actx ctx;
    MQTTAsync a = NULL;
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    MQTTClient watch = NULL, owner = NULL;
    struct msg g;
    int rc;
    memset(&ctx, 0, sizeof ctx);
    snprintf(topic, sizeof topic, "chat/room/%s", room);
    snprintf(events, sizeof events, "chat/user/%s/events", pair.bob);
    if (!ch_make_room(&broker, pair.atok, room, true))
        return;
    owner = login(tl_name("alice-owner"), MQTTVERSION_5, pair.alice, pair.atok, NULL);
    watch = login(tl_name("bob-events"), MQTTVERSION_5, pair.bob, pair.btok, NULL);
    if (!CHECK(owner && watch) || !sub(owner, topic, 1) || !sub(watch, events, 0))
        goto out;
    co.MQTTVersion = MQTTVERSION_5;
    rc = MQTTAsync_createWithOptions(&a, broker.uri, tl_name("bob-async"),
                                     MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (!CHECKF(rc == MQTTASYNC_SUCCESS, "MQTTAsync_createWithOptions: %d", rc))
        goto out;
    MQTTAsync_setCallbacks(a, &ctx, NULL, a_arrived, NULL);
    o.keepAliveInterval = 30;
    o.cleanstart = 1;
    o.username = pair.bob;
    o.password = pair.btok;
    o.onSuccess5 = a_conn_ok;
    o.onFailure5 = a_conn_fail;
    o.context = &ctx;
    if (!CHECK(MQTTAsync_connect(a, &o) == MQTTASYNC_SUCCESS) ||
        !CHECKF(wait_nonzero(&ctx.connected, TL_WAIT) == 1, "bob's MQTTAsync connect"))
        goto out;
    ro.onSuccess5 = a_pub_ok;
    ro.onFailure5 = a_pub_fail;
    ro.context = &ctx;
    m.payload = "let me in";
    m.payloadlen = 9;
    m.qos = 1;
    if (!CHECK(MQTTAsync_sendMessage(a, topic, &m, &ro) == MQTTASYNC_SUCCESS))
        goto out;
    CHECKF(wait_nonzero(&ctx.done, TL_WAIT) == -1, "the publish did not fail (done %d)",
           atomic_load(&ctx.done));
    CHECKF(atomic_load(&ctx.reason) == MQTTREASONCODE_NOT_AUTHORIZED,
           "PUBACK reason %d, expected 0x87", atomic_load(&ctx.reason));
    /* The notice, on bob's events. */
    if (CHECKF(recv_msg(watch, TL_WAIT, &g), "no notice on %s", events)) {
        cJSON *n = cJSON_Parse(g.payload);
        CHECKF(strcmp(g.topic, events) == 0, "notice on %s", g.topic);
        CHECKF(strcmp(ch_str(n, "type"), "notice") == 0 &&
                   strcmp(ch_str(n, "event"), "rejected") == 0 &&
                   strcmp(ch_str(n, "topic"), topic) == 0 &&
                   strcmp(ch_str(n, "reason"), "not_member") == 0 && ch_num(n, "code") == 135,
               "notice %s", g.payload);
        cJSON_Delete(n);
        msg_free(&g);
    }
    quiet(owner);
out:
    if (a) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 1000;
        MQTTAsync_disconnect(a, &d);
        tl_sleep_ms(50);
        MQTTAsync_destroy(&a);
    }
    ch_paho_logout(&owner);
    ch_paho_logout(&watch);
}

static void test_broker_exits_cleanly(void)
{
    int status = tl_broker_stop(&broker);
    CHECKF(status == 0, "broker exit status %d on SIGTERM", status);
}

int main(void)
{
    tl_init("client_chat_paho", 100);
    if (!ch_start_with_pair(&broker, ch_config(), &pair))
        return 1;
    tl_run("token_login", test_token_login);
    tl_run("room_envelope", test_room_envelope);
    tl_run("dm_multi_device", test_dm_multi_device);
    tl_run("refused_publish", test_refused_publish);
    tl_run("broker_exits_cleanly", test_broker_exits_cleanly);
    return tl_finish();
}
