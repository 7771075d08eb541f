/*
 * client_paho_async.c - the broker driven by Paho MQTT C's asynchronous
 * client (MQTTAsync): connect and subscribe with success callbacks, QoS 1
 * and 2 publishes completed by the broker's acknowledgements, 1000 QoS 1
 * messages arriving complete and in order, fan-out to several subscribers,
 * connection-lost on takeover.
 *
 * Callbacks run on Paho's threads; they only update the C11 atomics and
 * mutex-protected fields of a struct actx, and the test thread polls those
 * with bounded waits.
 */
#include <MQTTAsync.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static struct tl_broker broker;

/* What one client's callbacks saw. */
struct actx {
    MQTTAsync c;
    pthread_mutex_t mu;
    atomic_int connected;  /* 1 after connect onSuccess, -1 after onFailure */
    atomic_int subscribed; /* granted QoS + 1 after subscribe onSuccess, -1 on failure */
    atomic_int published;  /* sendMessage onSuccess count */
    atomic_int pub_failed; /* sendMessage onFailure count */
    atomic_int lost;       /* connectionLost calls */
    atomic_int arrived;    /* messages arrived */
    atomic_int disconnected;
    int next_seq;           /* next sequence number expected (ordered tests); under mu */
    int out_of_order;       /* messages that broke the order; under mu */
    char last_topic[128];   /* under mu */
    char last_payload[128]; /* under mu */
    int last_qos;           /* under mu */
    int last_retained;      /* under mu */
};

static void on_lost(void *context, char *cause)
{
    struct actx *a = context;
    atomic_fetch_add(&a->lost, 1);
}

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct actx *a = context;
    char payload[128];
    size_t n =
        (size_t)m->payloadlen < sizeof payload - 1 ? (size_t)m->payloadlen : sizeof payload - 1;
    memcpy(payload, m->payload, n);
    payload[n] = '\0';
    pthread_mutex_lock(&a->mu);
    snprintf(a->last_topic, sizeof a->last_topic, "%s", topic);
    snprintf(a->last_payload, sizeof a->last_payload, "%s", payload);
    a->last_qos = m->qos;
    a->last_retained = m->retained;
    if (atoi(payload) != a->next_seq)
        a->out_of_order++;
    a->next_seq = atoi(payload) + 1;
    pthread_mutex_unlock(&a->mu);
    atomic_fetch_add(&a->arrived, 1);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_connect_ok(void *context, MQTTAsync_successData *r)
{
    atomic_store(&((struct actx *)context)->connected, 1);
}

static void on_connect_fail(void *context, MQTTAsync_failureData *r)
{
    atomic_store(&((struct actx *)context)->connected, -1);
}

static void on_sub_ok(void *context, MQTTAsync_successData *r)
{
    atomic_store(&((struct actx *)context)->subscribed, r->alt.qos + 1);
}

static void on_sub_fail(void *context, MQTTAsync_failureData *r)
{
    atomic_store(&((struct actx *)context)->subscribed, -1);
}

static void on_pub_ok(void *context, MQTTAsync_successData *r)
{
    atomic_fetch_add(&((struct actx *)context)->published, 1);
}

static void on_pub_fail(void *context, MQTTAsync_failureData *r)
{
    atomic_fetch_add(&((struct actx *)context)->pub_failed, 1);
}

static void on_disc_ok(void *context, MQTTAsync_successData *r)
{
    atomic_store(&((struct actx *)context)->disconnected, 1);
}

/* Polls until *v >= want or timeout seconds pass; returns the last value. */
static int wait_atomic(atomic_int *v, int want, double timeout)
{
    double deadline = tl_now() + timeout;
    int x;
    while ((x = atomic_load(v)) < want && x >= 0 && tl_now() < deadline)
        tl_sleep_ms(5);
    return atomic_load(v);
}

/*
 * Starts connecting a client; actx_wait() waits for the CONNACK. Paho's
 * background thread notices a new socket only between its select() calls
 * (up to a second apart while other clients are idle), so tests start all
 * their connects first and then wait for all of them.
 */
static struct actx *actx_start(const char *id, int cleansession)
{
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    struct actx *a = calloc(1, sizeof *a);
    int rc;
    if (!CHECK(a != NULL))
        return NULL;
    pthread_mutex_init(&a->mu, NULL);
    if (!CHECK(MQTTAsync_create(&a->c, broker.uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) ==
               MQTTASYNC_SUCCESS)) {
        free(a);
        return NULL;
    }
    MQTTAsync_setCallbacks(a->c, a, on_lost, on_message, NULL);
    o.keepAliveInterval = 30;
    o.cleansession = cleansession;
    o.MQTTVersion = MQTTVERSION_3_1_1;
    o.connectTimeout = 5;
    o.onSuccess = on_connect_ok;
    o.onFailure = on_connect_fail;
    o.context = a;
    rc = MQTTAsync_connect(a->c, &o);
    if (!CHECKF(rc == MQTTASYNC_SUCCESS, "MQTTAsync_connect %s: %d", id, rc))
        atomic_store(&a->connected, -1);
    return a;
}

static bool actx_wait(struct actx *a)
{
    return a && CHECKF(wait_atomic(&a->connected, 1, TL_WAIT) == 1, "a client did not connect");
}

static struct actx *actx_connect(const char *id, int cleansession)
{
    struct actx *a = actx_start(id, cleansession);
    if (a && !actx_wait(a)) {
        MQTTAsync_destroy(&a->c);
        pthread_mutex_destroy(&a->mu);
        free(a);
        return NULL;
    }
    return a;
}

static void actx_free(struct actx **pa)
{
    struct actx *a = *pa;
    if (!a)
        return;
    if (MQTTAsync_isConnected(a->c)) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.onSuccess = on_disc_ok;
        d.context = a;
        d.timeout = 1000;
        if (MQTTAsync_disconnect(a->c, &d) == MQTTASYNC_SUCCESS)
            wait_atomic(&a->disconnected, 1, TL_WAIT);
    }
    MQTTAsync_destroy(&a->c);
    pthread_mutex_destroy(&a->mu);
    free(a);
    *pa = NULL;
}

static bool asub_start(struct actx *a, const char *topic, int qos)
{
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    int rc;
    atomic_store(&a->subscribed, 0);
    r.onSuccess = on_sub_ok;
    r.onFailure = on_sub_fail;
    r.context = a;
    rc = MQTTAsync_subscribe(a->c, topic, qos, &r);
    return CHECKF(rc == MQTTASYNC_SUCCESS, "MQTTAsync_subscribe: %d", rc);
}

static bool asub_wait(struct actx *a, const char *topic, int qos)
{
    int rc = wait_atomic(&a->subscribed, 1, TL_WAIT);
    return CHECKF(rc == qos + 1, "subscribe %s qos %d: granted %d", topic, qos, rc - 1);
}

static bool asub(struct actx *a, const char *topic, int qos)
{
    return asub_start(a, topic, qos) && asub_wait(a, topic, qos);
}

static bool apub(struct actx *a, const char *topic, const char *payload, int qos)
{
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    int rc;
    m.payload = (void *)payload;
    m.payloadlen = (int)strlen(payload);
    m.qos = qos;
    r.onSuccess = on_pub_ok;
    r.onFailure = on_pub_fail;
    r.context = a;
    rc = MQTTAsync_sendMessage(a->c, topic, &m, &r);
    return CHECKF(rc == MQTTASYNC_SUCCESS, "MQTTAsync_sendMessage: %d", rc);
}

static void test_connect_subscribe_grants(void)
{
    struct actx *a = actx_connect(tl_name("async"), 1);
    if (!a)
        return;
    for (int qos = 0; qos <= 2; qos++) {
        char topic[64];
        snprintf(topic, sizeof topic, "%s/%d", tl_name("paho/async/grant"), qos);
        asub(a, topic, qos);
    }
    actx_free(&a);
}

static void round_trip(int qos)
{
    const char *topic = tl_name("paho/async/rt");
    struct actx *s = actx_start(tl_name("sub"), 1);
    struct actx *p = actx_start(tl_name("pub"), 1);
    if (actx_wait(s) && actx_wait(p) && asub(s, topic, qos) && apub(p, topic, "0", qos)) {
        CHECKF(wait_atomic(&p->published, 1, TL_WAIT) == 1, "publish qos %d not completed", qos);
        CHECKF(wait_atomic(&s->arrived, 1, TL_WAIT) == 1, "qos %d message did not arrive", qos);
        pthread_mutex_lock(&s->mu);
        CHECKF(strcmp(s->last_topic, topic) == 0 && strcmp(s->last_payload, "0") == 0 &&
                   s->last_qos == qos && s->last_retained == 0,
               "got %s '%s' qos %d retained %d", s->last_topic, s->last_payload, s->last_qos,
               s->last_retained);
        pthread_mutex_unlock(&s->mu);
        tl_sleep_ms((int)(TL_QUIET * 1000));
        CHECKF(atomic_load(&s->arrived) == 1, "%d copies", atomic_load(&s->arrived));
    }
    actx_free(&s);
    actx_free(&p);
}

static void test_publish_qos1(void)
{
    round_trip(1);
}

static void test_publish_qos2(void)
{
    round_trip(2);
}

/* n messages at qos from one publisher to nsubs subscribers, in order. */
static void ordered(int n, int qos, int nsubs)
{
    const char *topic = tl_name("paho/async/order");
    struct actx *subs[16] = {0};
    struct actx *p = NULL;
    double timeout = 30.0;
    for (int i = 0; i < nsubs; i++)
        subs[i] = actx_start(tl_name("sub"), 1);
    p = actx_start(tl_name("pub"), 1);
    for (int i = 0; i < nsubs; i++)
        if (!actx_wait(subs[i]) || !asub_start(subs[i], topic, qos))
            goto out;
    for (int i = 0; i < nsubs; i++)
        if (!asub_wait(subs[i], topic, qos))
            goto out;
    if (!actx_wait(p))
        goto out;
    for (int i = 0; i < n; i++) {
        char payload[16];
        snprintf(payload, sizeof payload, "%d", i);
        if (!apub(p, topic, payload, qos))
            goto out;
    }
    CHECKF(wait_atomic(&p->published, n, timeout) == n, "%d of %d publishes completed (%d failed)",
           atomic_load(&p->published), n, atomic_load(&p->pub_failed));
    for (int i = 0; i < nsubs; i++) {
        int got = wait_atomic(&subs[i]->arrived, n, timeout);
        CHECKF(got == n, "subscriber %d: %d of %d messages", i, got, n);
        pthread_mutex_lock(&subs[i]->mu);
        CHECKF(subs[i]->out_of_order == 0, "subscriber %d: %d messages out of order", i,
               subs[i]->out_of_order);
        pthread_mutex_unlock(&subs[i]->mu);
    }
    tl_sleep_ms((int)(TL_QUIET * 1000));
    for (int i = 0; i < nsubs; i++)
        CHECKF(atomic_load(&subs[i]->arrived) == n, "subscriber %d: %d messages, expected %d", i,
               atomic_load(&subs[i]->arrived), n);
out:
    for (int i = 0; i < nsubs; i++)
        actx_free(&subs[i]);
    actx_free(&p);
}

static void test_1000_qos1_in_order(void)
{
    ordered(1000, 1, 1);
}

static void test_300_qos2_in_order(void)
{
    /* Mosquitto 2.0.11 stops sending to a subscriber whose window of 20
     * QoS 2 deliveries filled up while the flows complete interleaved (all
     * 20 PUBCOMPs received, the 21st message never sent): a bug of the
     * reference, so it gets a count that fits in its window. */
    ordered(broker.mosquitto ? 20 : 300, 2, 1);
}

static void test_fan_out_8_subscribers(void)
{
    ordered(200, 1, 8);
}

static void test_connection_lost_on_takeover(void)
{
    const char *id = tl_name("same");
    struct actx *a = actx_connect(id, 1);
    struct actx *b = NULL;
    if (!a)
        return;
    b = actx_connect(id, 1);
    if (b) {
        CHECKF(wait_atomic(&a->lost, 1, TL_WAIT) == 1, "no connectionLost for the old client");
        CHECKF(atomic_load(&b->lost) == 0, "the new client lost its connection");
    }
    actx_free(&a);
    actx_free(&b);
}

static void test_broker_exits_cleanly(void)
{
    int status = tl_broker_stop(&broker);
    CHECKF(status == 0, "broker exit status %d on SIGTERM", status);
}

int main(void)
{
    tl_init("client_paho_async", 150);
    if (tl_broker_start(&broker, NULL) != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    tl_run("connect_subscribe_grants", test_connect_subscribe_grants);
    tl_run("publish_qos1", test_publish_qos1);
    tl_run("publish_qos2", test_publish_qos2);
    tl_run("1000_qos1_in_order", test_1000_qos1_in_order);
    tl_run("300_qos2_in_order", test_300_qos2_in_order);
    tl_run("fan_out_8_subscribers", test_fan_out_8_subscribers);
    tl_run("connection_lost_on_takeover", test_connection_lost_on_takeover);
    tl_run("broker_exits_cleanly", test_broker_exits_cleanly);
    return tl_finish();
}
