/*
 * client_paho5.c - MQTT 5 features driven by Paho MQTT C, both its
 * asynchronous client (MQTTAsync) and its synchronous one (MQTTClient), at
 * MQTTVERSION_5, with one 3.1.1 client for the cross-version test:
 *
 *   MQTTAsync   CONNACK properties; Receive Maximum 2 honoured for QoS 1 and
 *               2 (counted at a testlib proxy that also holds the client's
 *               acknowledgements back); topic aliases both ways; shared
 *               subscriptions; No Local, Retain As Published, Retain
 *               Handling; Subscription Identifiers; will delay (sent after
 *               the delay, cancelled by a reconnect); DISCONNECT 0x8E on
 *               takeover and 0x8B on shutdown.
 *   MQTTClient  request/response (Response Topic, Correlation Data); User
 *               Properties in order; Content Type and Payload Format
 *               Indicator; Message Expiry (remaining interval forwarded, an
 *               expired queued message dropped); Session Expiry (session
 *               present, subscription and queued messages kept); a v5 and a
 *               3.1.1 client exchanging messages both ways.
 *
 * Paho C (1.3.11) as a v5 client, where it matters here:
 *  - it does not resolve the topic aliases a server sends: a message that
 *    carries only an alias arrives with an empty topic name and the Topic
 *    Alias property, and the application keeps the mapping (so does this
 *    test);
 *  - MQTTClient reports Session Present only for 3.1.1 (MQTTAsync's
 *    connect success data has it);
 *  - a server's DISCONNECT goes to MQTTAsync_setDisconnected's callback,
 *    not connectionLost;
 *  - an MQTTAsync connect made while another MQTTAsync client is idle
 *    takes about 2 s (the new socket waits for the select() on the others),
 *    so such reconnects here use MQTTClient;
 *  - with both libraries linked, MQTTAsync's v5 property handling leaks
 *    under LeakSanitizer (see __lsan_default_suppressions below).
 *
 * MQTTAsync callbacks run on Paho's threads; they only update atomics and
 * the mutex-protected queue of a struct actx, which the test thread polls
 * with bounded waits.
 */
#include <MQTTAsync.h>
#include <MQTTClient.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static struct tl_broker broker;

/*
 * LeakSanitizer (make asan): the test programs are linked with both Paho
 * libraries, which export the same MQTTProperties_* functions but each keep
 * their own heap tracker (Paho's Heap.c, which frees only blocks it
 * allocated itself). MQTTAsync's v5 code then allocates property arrays in
 * one tracker and frees them through the other, which leaves them
 * allocated. Those leaks are the libraries' (a program using MQTTAsync
 * alone has none), so allocations made inside a Paho library are not
 * reported; this program's own allocations still are.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:*libpaho-mqtt3a.so*\nleak:*libpaho-mqtt3c.so*\n";
}

/* ---- properties ---- */

static void prop_int(MQTTProperties *props, enum MQTTPropertyCodes id, unsigned value)
{
    MQTTProperty p;
    memset(&p, 0, sizeof p);
    p.identifier = id;
    switch (MQTTProperty_getType(id)) {
    case MQTTPROPERTY_TYPE_BYTE:
        p.value.byte = (unsigned char)value;
        break;
    case MQTTPROPERTY_TYPE_TWO_BYTE_INTEGER:
        p.value.integer2 = (unsigned short)value;
        break;
    default:
        p.value.integer4 = value;
        break;
    }
    CHECK(MQTTProperties_add(props, &p) == 0);
}

/* A string or binary property; the library copies the bytes. */
static void prop_bytes(MQTTProperties *props, enum MQTTPropertyCodes id, const void *data, int len)
{
    MQTTProperty p;
    memset(&p, 0, sizeof p);
    p.identifier = id;
    p.value.data.data = (char *)data;
    p.value.data.len = len;
    CHECK(MQTTProperties_add(props, &p) == 0);
}

static void prop_user(MQTTProperties *props, const char *name, const char *value)
{
    MQTTProperty p;
    memset(&p, 0, sizeof p);
    p.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
    p.value.data.data = (char *)name;
    p.value.data.len = (int)strlen(name);
    p.value.value.data = (char *)value;
    p.value.value.len = (int)strlen(value);
    CHECK(MQTTProperties_add(props, &p) == 0);
}

/* A numeric property's value, or -1 when absent. */
static long prop_num(MQTTProperties *props, enum MQTTPropertyCodes id)
{
    if (!MQTTProperties_hasProperty(props, id))
        return -1;
    return (long)(unsigned)MQTTProperties_getNumericValue(props, id);
}

/* True when the string/binary property id equals data/len (absent: false). */
static bool prop_is(MQTTProperties *props, enum MQTTPropertyCodes id, const void *data, int len)
{
    MQTTProperty *p = MQTTProperties_getProperty(props, id);
    return p && p->value.data.len == len &&
           (len == 0 || memcmp(p->value.data.data, data, (size_t)len) == 0);
}

/* ---- a received message ---- */

struct got {
    char topic[160];
    char payload[160];
    int payloadlen;
    int qos;
    int retained;
    MQTTProperties props; /* a copy; freed by got_free */
};

static void got_fill(struct got *g, const char *topic, int topic_len, const void *payload, int len,
                     int qos, int retained, const MQTTProperties *props)
{
    size_t tn = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t pn = (size_t)len < sizeof g->payload - 1 ? (size_t)len : sizeof g->payload - 1;
    if (tn > sizeof g->topic - 1)
        tn = sizeof g->topic - 1;
    memcpy(g->topic, topic, tn);
    g->topic[tn] = '\0';
    memcpy(g->payload, payload, pn);
    g->payload[pn] = '\0';
    g->payloadlen = len;
    g->qos = qos;
    g->retained = retained;
    g->props = MQTTProperties_copy(props);
}

static void got_free(struct got *g)
{
    MQTTProperties_free(&g->props);
}

/* ---- MQTTAsync ---- */

#define QUEUE_MAX 128

struct actx {
    MQTTAsync c;
    char id[96];
    pthread_mutex_t mu;
    atomic_int connected; /* 1 after connect onSuccess5, -1 after onFailure5 */
    atomic_int session_present;
    atomic_int subscribed; /* reason code + 1 after SUBACK, -1 on failure */
    atomic_int published;  /* sendMessage onSuccess5 count */
    atomic_int pub_failed;
    atomic_int lost;              /* connectionLost calls */
    atomic_int server_disconnect; /* reason code of a server DISCONNECT + 1, 0 none */
    atomic_int disconnected;      /* our disconnect completed */
    MQTTProperties connack;       /* under mu */
    struct got queue[QUEUE_MAX];  /* under mu */
    int queued;                   /* under mu */
    int taken;                    /* read by the test thread only */
};

static void a_on_lost(void *context, char *cause)
{
    atomic_fetch_add(&((struct actx *)context)->lost, 1);
}

static void a_on_disconnected(void *context, MQTTProperties *props, enum MQTTReasonCodes rc)
{
    atomic_store(&((struct actx *)context)->server_disconnect, (int)rc + 1);
}

static int a_on_message(void *context, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct actx *a = context;
    pthread_mutex_lock(&a->mu);
    if (a->queued < QUEUE_MAX) {
        got_fill(&a->queue[a->queued], topic, topic_len, m->payload, m->payloadlen, m->qos,
                 m->retained, &m->properties);
        a->queued++;
    }
    pthread_mutex_unlock(&a->mu);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void a_on_connect_ok(void *context, MQTTAsync_successData5 *r)
{
    struct actx *a = context;
    pthread_mutex_lock(&a->mu);
    MQTTProperties_free(&a->connack);
    a->connack = MQTTProperties_copy(&r->properties);
    pthread_mutex_unlock(&a->mu);
    atomic_store(&a->session_present, r->alt.connect.sessionPresent);
    atomic_store(&a->connected, 1);
}

static void a_on_connect_fail(void *context, MQTTAsync_failureData5 *r)
{
    atomic_store(&((struct actx *)context)->connected, -1);
}

static void a_on_sub_ok(void *context, MQTTAsync_successData5 *r)
{
    atomic_store(&((struct actx *)context)->subscribed, (int)r->reasonCode + 1);
}

static void a_on_sub_fail(void *context, MQTTAsync_failureData5 *r)
{
    atomic_store(&((struct actx *)context)->subscribed, -1);
}

static void a_on_pub_ok(void *context, MQTTAsync_successData5 *r)
{
    atomic_fetch_add(&((struct actx *)context)->published, 1);
}

static void a_on_pub_fail(void *context, MQTTAsync_failureData5 *r)
{
    atomic_fetch_add(&((struct actx *)context)->pub_failed, 1);
}

static void a_on_disc_ok(void *context, MQTTAsync_successData5 *r)
{
    atomic_store(&((struct actx *)context)->disconnected, 1);
}

/* Waits until a's connection ended from the server's side: a DISCONNECT
 * (Paho calls the disconnected callback, not connectionLost) or a close. */
static bool await_server_end(struct actx *a, double timeout)
{
    double deadline = tl_now() + timeout;
    while (atomic_load(&a->lost) == 0 && atomic_load(&a->server_disconnect) == 0 &&
           tl_now() < deadline)
        tl_sleep_ms(5);
    return atomic_load(&a->lost) > 0 || atomic_load(&a->server_disconnect) > 0;
}

/* Polls until *v >= want (or < 0) or timeout seconds pass; returns the value. */
static int wait_atomic(atomic_int *v, int want, double timeout)
{
    double deadline = tl_now() + timeout;
    int x;
    while ((x = atomic_load(v)) < want && x >= 0 && tl_now() < deadline)
        tl_sleep_ms(5);
    return atomic_load(v);
}

struct aopts {
    const char *uri;       /* NULL: the broker */
    int cleanstart;        /* as given (0 or 1) */
    MQTTProperties *props; /* CONNECT properties, or NULL */
    MQTTAsync_willOptions *will;
    MQTTProperties *will_props;
};

/*
 * Starts connecting an MQTT 5 client; actx_wait() waits for the CONNACK.
 * Paho's background thread notices a new socket only between its select()
 * calls, so tests start their connects first and then wait for them all.
 */
static struct actx *actx_start(const char *id, const struct aopts *o)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    MQTTAsync_connectOptions c = MQTTAsync_connectOptions_initializer5;
    MQTTProperties none = MQTTProperties_initializer;
    struct actx *a = calloc(1, sizeof *a);
    int rc;
    if (!CHECK(a != NULL))
        return NULL;
    snprintf(a->id, sizeof a->id, "%s", id);
    pthread_mutex_init(&a->mu, NULL);
    rc = MQTTAsync_createWithOptions(&a->c, o && o->uri ? o->uri : broker.uri, id,
                                     MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (!CHECKF(rc == MQTTASYNC_SUCCESS, "MQTTAsync_createWithOptions: %d", rc)) {
        pthread_mutex_destroy(&a->mu);
        free(a);
        return NULL;
    }
    MQTTAsync_setCallbacks(a->c, a, a_on_lost, a_on_message, NULL);
    MQTTAsync_setDisconnected(a->c, a, a_on_disconnected);
    c.keepAliveInterval = 30;
    c.cleanstart = o ? o->cleanstart : 1;
    c.connectTimeout = 5;
    c.connectProperties = o && o->props ? o->props : &none;
    c.will = o ? o->will : NULL;
    c.willProperties = o && o->will_props ? o->will_props : NULL;
    c.onSuccess5 = a_on_connect_ok;
    c.onFailure5 = a_on_connect_fail;
    c.context = a;
    rc = MQTTAsync_connect(a->c, &c);
    if (!CHECKF(rc == MQTTASYNC_SUCCESS, "MQTTAsync_connect %s: %d", id, rc))
        atomic_store(&a->connected, -1);
    return a;
}

static bool actx_wait(struct actx *a)
{
    return a && CHECKF(wait_atomic(&a->connected, 1, TL_WAIT) == 1, "%s did not connect", a->id);
}

static void actx_free(struct actx **pa)
{
    struct actx *a = *pa;
    if (!a)
        return;
    if (MQTTAsync_isConnected(a->c)) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
        d.onSuccess5 = a_on_disc_ok;
        d.context = a;
        d.timeout = 1000;
        if (MQTTAsync_disconnect(a->c, &d) == MQTTASYNC_SUCCESS)
            wait_atomic(&a->disconnected, 1, TL_WAIT);
    }
    MQTTAsync_destroy(&a->c);
    for (int i = 0; i < a->queued; i++)
        got_free(&a->queue[i]);
    MQTTProperties_free(&a->connack);
    pthread_mutex_destroy(&a->mu);
    free(a);
    *pa = NULL;
}

/* Disconnects with a reason code (and a will, when it is 0x04). */
static bool actx_disconnect(struct actx *a, enum MQTTReasonCodes rc)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
    d.reasonCode = rc;
    d.onSuccess5 = a_on_disc_ok;
    d.context = a;
    d.timeout = 1000;
    return CHECK(MQTTAsync_disconnect(a->c, &d) == MQTTASYNC_SUCCESS) &&
           CHECKF(wait_atomic(&a->disconnected, 1, TL_WAIT) == 1, "disconnect not completed");
}

/* Subscribes (options and a Subscription Identifier when subid > 0) and
 * waits for the SUBACK granting qos. */
static bool asub_opts(struct actx *a, const char *filter, int qos, int no_local, int rap, int rh,
                      int subid)
{
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer;
    int rc;
    atomic_store(&a->subscribed, 0);
    r.onSuccess5 = a_on_sub_ok;
    r.onFailure5 = a_on_sub_fail;
    r.context = a;
    r.subscribeOptions.noLocal = (unsigned char)no_local;
    r.subscribeOptions.retainAsPublished = (unsigned char)rap;
    r.subscribeOptions.retainHandling = (unsigned char)rh;
    if (subid > 0)
        prop_int(&props, MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER, (unsigned)subid);
    r.properties = props;
    rc = MQTTAsync_subscribe(a->c, filter, qos, &r);
    MQTTProperties_free(&props);
    if (!CHECKF(rc == MQTTASYNC_SUCCESS, "MQTTAsync_subscribe %s: %d", filter, rc))
        return false;
    rc = wait_atomic(&a->subscribed, 1, TL_WAIT);
    return CHECKF(rc == qos + 1, "subscribe %s qos %d: reason code %d", filter, qos, rc - 1);
}

static bool asub(struct actx *a, const char *filter, int qos)
{
    return asub_opts(a, filter, qos, 0, 0, 0, 0);
}

/* Publishes and, when wait is set, waits for its completion. */
static bool apub_props(struct actx *a, const char *topic, const char *payload, int qos,
                       int retained, MQTTProperties *props, bool wait)
{
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    int before = atomic_load(&a->published);
    int rc;
    m.payload = (void *)payload;
    m.payloadlen = (int)strlen(payload);
    m.qos = qos;
    m.retained = retained;
    if (props)
        m.properties = *props;
    r.onSuccess5 = a_on_pub_ok;
    r.onFailure5 = a_on_pub_fail;
    r.context = a;
    rc = MQTTAsync_sendMessage(a->c, topic, &m, &r);
    if (!CHECKF(rc == MQTTASYNC_SUCCESS, "MQTTAsync_sendMessage to '%s': %d", topic, rc))
        return false;
    return !wait ||
           CHECKF(wait_atomic(&a->published, before + 1, TL_WAIT) == before + 1,
                  "publish to '%s' not completed (%d failed)", topic, atomic_load(&a->pub_failed));
}

static bool apub(struct actx *a, const char *topic, const char *payload, int qos, int retained)
{
    return apub_props(a, topic, payload, qos, retained, NULL, true);
}

/* Messages queued for a so far. */
static int aqueued(struct actx *a)
{
    int n;
    pthread_mutex_lock(&a->mu);
    n = a->queued;
    pthread_mutex_unlock(&a->mu);
    return n;
}

/* Waits until a has n messages queued in all; returns how many it has. */
static int await_count(struct actx *a, int n, double timeout)
{
    double deadline = tl_now() + timeout;
    while (aqueued(a) < n && tl_now() < deadline)
        tl_sleep_ms(5);
    return aqueued(a);
}

/* The next message not yet taken (within timeout seconds), or NULL. The
 * pointer stays valid until actx_free. */
static struct got *anext(struct actx *a, double timeout)
{
    if (await_count(a, a->taken + 1, timeout) < a->taken + 1)
        return NULL;
    return &a->queue[a->taken++];
}

/* Listens TL_QUIET seconds; returns the number of messages not yet taken. */
static int aquiet(struct actx *a)
{
    tl_sleep_ms((int)(TL_QUIET * 1000));
    return aqueued(a) - a->taken;
}

static bool expect_next(struct actx *a, const char *topic, const char *payload)
{
    struct got *g = anext(a, TL_WAIT);
    if (!CHECKF(g != NULL, "%s: no message (expected '%s' on %s)", a->id, payload, topic))
        return false;
    return CHECKF(strcmp(g->topic, topic) == 0 && strcmp(g->payload, payload) == 0,
                  "%s: got '%s' on '%s', expected '%s' on '%s'", a->id, g->payload, g->topic,
                  payload, topic);
}

/* Connects n clients at once (ids from prefix); false unless all connected. */
static bool aconnect_all(struct actx **out, int n, const char *prefix)
{
    bool ok = true;
    for (int i = 0; i < n; i++)
        out[i] = actx_start(tl_name(prefix), NULL);
    for (int i = 0; i < n; i++)
        ok = actx_wait(out[i]) && ok;
    return ok;
}

static void afree_all(struct actx **a, int n)
{
    for (int i = 0; i < n; i++)
        actx_free(&a[i]);
}

/* ---- MQTTClient (synchronous, no callbacks: MQTTClient_receive) ---- */

/* A connected MQTTClient at version 5 (or 4 = 3.1.1); NULL on failure. */
static MQTTClient sclient(const char *id, int version, int cleanstart, unsigned session_expiry,
                          int *session_present)
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
        MQTTProperties props = MQTTProperties_initializer;
        MQTTResponse r;
        o.keepAliveInterval = 30;
        o.cleanstart = cleanstart;
        o.connectTimeout = 5;
        if (session_expiry)
            prop_int(&props, MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL, session_expiry);
        r = MQTTClient_connect5(c, &o, &props, NULL);
        MQTTProperties_free(&props);
        rc = r.reasonCode;
        MQTTResponse_free(r);
        if (session_present)
            *session_present = o.returned.sessionPresent;
    } else {
        MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
        o.keepAliveInterval = 30;
        o.cleansession = cleanstart;
        o.MQTTVersion = version;
        o.connectTimeout = 5;
        rc = MQTTClient_connect(c, &o);
        if (session_present)
            *session_present = o.returned.sessionPresent;
    }
    if (!CHECKF(rc == MQTTCLIENT_SUCCESS, "connect %s (version %d): %d", id, version, rc)) {
        MQTTClient_destroy(&c);
        return NULL;
    }
    return c;
}

static void sfree(MQTTClient *c)
{
    if (!*c)
        return;
    if (MQTTClient_isConnected(*c))
        MQTTClient_disconnect5(*c, 1000, MQTTREASONCODE_NORMAL_DISCONNECTION, NULL);
    MQTTClient_destroy(c);
    *c = NULL;
}

static void sfree3(MQTTClient *c)
{
    if (!*c)
        return;
    if (MQTTClient_isConnected(*c))
        MQTTClient_disconnect(*c, 1000);
    MQTTClient_destroy(c);
    *c = NULL;
}

static bool ssub(MQTTClient c, const char *filter, int qos)
{
    MQTTSubscribe_options so = MQTTSubscribe_options_initializer;
    MQTTResponse r = MQTTClient_subscribe5(c, filter, qos, &so, NULL);
    int rc = r.reasonCode;
    MQTTResponse_free(r);
    return CHECKF(rc == qos, "subscribe %s qos %d: reason code %d", filter, qos, rc);
}

static bool ssub3(MQTTClient c, const char *filter, int qos)
{
    int rc = MQTTClient_subscribe(c, filter, qos);
    return CHECKF(rc == MQTTCLIENT_SUCCESS, "3.1.1 subscribe %s: %d", filter, rc);
}

/* Publishes (properties may be NULL) and waits for the acknowledgement. */
static bool spub(MQTTClient c, const char *topic, const void *payload, int len, int qos,
                 int retained, MQTTProperties *props)
{
    MQTTClient_message m = MQTTClient_message_initializer;
    MQTTClient_deliveryToken token = 0;
    MQTTResponse r;
    int rc;
    m.payload = (void *)payload;
    m.payloadlen = len;
    m.qos = qos;
    m.retained = retained;
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

static bool spub3(MQTTClient c, const char *topic, const char *payload, int qos, int retained)
{
    MQTTClient_deliveryToken token = 0;
    int rc = MQTTClient_publish(c, topic, (int)strlen(payload), payload, qos, retained, &token);
    if (!CHECKF(rc == MQTTCLIENT_SUCCESS, "3.1.1 publish to %s: %d", topic, rc))
        return false;
    rc = MQTTClient_waitForCompletion(c, token, (unsigned long)(TL_WAIT * 1000));
    return CHECKF(rc == MQTTCLIENT_SUCCESS, "3.1.1 publish to %s not completed: %d", topic, rc);
}

/* Receives one message within timeout seconds into g (got_free it). */
static bool srecv(MQTTClient c, double timeout, struct got *g)
{
    double deadline = tl_now() + timeout;
    while (tl_now() < deadline) {
        char *topic = NULL;
        int topic_len = 0;
        MQTTClient_message *m = NULL;
        int rc = MQTTClient_receive(c, &topic, &topic_len, &m, 100);
        if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED)
            return false;
        if (m) {
            got_fill(g, topic, topic_len, m->payload, m->payloadlen, m->qos, m->retained,
                     &m->properties);
            MQTTClient_freeMessage(&m);
            MQTTClient_free(topic);
            return true;
        }
    }
    return false;
}

/* ---- tests: MQTTAsync ---- */

static void test_connack_properties(void)
{
    struct actx *a = actx_start(tl_name("p5-connack"), NULL);
    if (actx_wait(a)) {
        long rm, tam, mps;
        pthread_mutex_lock(&a->mu);
        rm = prop_num(&a->connack, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);
        tam = prop_num(&a->connack, MQTTPROPERTY_CODE_TOPIC_ALIAS_MAXIMUM);
        mps = prop_num(&a->connack, MQTTPROPERTY_CODE_MAXIMUM_PACKET_SIZE);
        pthread_mutex_unlock(&a->mu);
        /* mqchatd: max_inflight_messages 20 and max_topic_alias 10 by default;
         * Mosquitto 2.0's defaults are the same numbers. */
        CHECKF(rm == 20, "Receive Maximum %ld", rm);
        CHECKF(tam == 10, "Topic Alias Maximum %ld", tam);
        if (broker.mosquitto) /* sent only when max_packet_size is set */
            CHECKF(mps == -1, "Maximum Packet Size %ld", mps);
        else
            CHECKF(mps >= 1048576, "Maximum Packet Size %ld (1 MiB message_size_limit)", mps);
        CHECK(atomic_load(&a->session_present) == 0);
    }
    actx_free(&a);
}

/* What the proxy saw of one subscriber's QoS 1/2 deliveries. */
struct flow {
    atomic_int outstanding; /* sent by the broker, not yet acknowledged */
    atomic_int max;
    atomic_int publishes;
};

static void flow_count(void *ctx, int conn, int dir, const unsigned char *pkt, size_t len)
{
    struct flow *f = ctx;
    unsigned type = pkt[0] >> 4;
    if (dir == TL_TO_CLIENT && type == 3) {
        atomic_fetch_add(&f->publishes, 1);
        if ((pkt[0] >> 1) & 3) {
            int now = atomic_fetch_add(&f->outstanding, 1) + 1;
            int m = atomic_load(&f->max);
            while (now > m && !atomic_compare_exchange_weak(&f->max, &m, now)) {
            }
        }
    } else if (dir == TL_TO_BROKER) {
        /* PUBACK or PUBCOMP ends a delivery; so does a PUBREC with an error
         * (remaining length 3 or more: packet id, reason code). */
        if (type == 4 || type == 7 || (type == 5 && len >= 5 && pkt[1] >= 3 && pkt[4] >= 0x80))
            atomic_fetch_sub(&f->outstanding, 1);
    }
}

/*
 * A subscriber with Receive Maximum 2 behind a proxy that holds its PUBACKs
 * and PUBCOMPs back 40 ms each; a publisher bursts n messages. Mosquitto
 * 2.0.11 releases two queued messages for each acknowledgement, so past the
 * first window it has 3 deliveries out: against it only 3 messages are
 * sent, which checks the first window (the third waits for an ack).
 */
static void receive_maximum(int qos)
{
    int n = broker.mosquitto ? 3 : 12;
    const char *topic = tl_name("paho5/flow");
    struct flow f;
    struct tl_proxy *px = NULL;
    struct actx *s = NULL, *p = NULL;
    MQTTProperties props = MQTTProperties_initializer;
    struct aopts o = {0};
    atomic_init(&f.outstanding, 0);
    atomic_init(&f.max, 0);
    atomic_init(&f.publishes, 0);
    px = tl_proxy_start(broker.port, flow_count, &f);
    if (!CHECK(px != NULL))
        return;
    tl_proxy_delay(px, (1u << 4) | (1u << 7), 40);
    prop_int(&props, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM, 2);
    o.uri = tl_proxy_uri(px);
    o.cleanstart = 1;
    o.props = &props;
    s = actx_start(tl_name("p5-flow-sub"), &o);
    p = actx_start(tl_name("p5-flow-pub"), NULL);
    if (actx_wait(s) && actx_wait(p) && asub(s, topic, qos)) {
        int got;
        for (int i = 0; i < n; i++) {
            char payload[16];
            snprintf(payload, sizeof payload, "%d", i);
            if (!apub_props(p, topic, payload, qos, 0, NULL, false))
                break;
        }
        got = await_count(s, n, TL_WAIT + n * 0.1);
        CHECKF(got == n, "%d of %d messages arrived", got, n);
        for (int i = 0; i < got; i++) {
            char want[16];
            snprintf(want, sizeof want, "%d", i);
            CHECKF(strcmp(s->queue[i].payload, want) == 0, "message %d is '%s'", i,
                   s->queue[i].payload);
        }
        CHECKF(atomic_load(&f.max) <= 2, "%d unacknowledged QoS %d deliveries at once",
               atomic_load(&f.max), qos);
        /* the burst outpaces the held acknowledgements: the window fills */
        CHECKF(atomic_load(&f.max) >= 2, "the window of 2 was never filled (max %d)",
               atomic_load(&f.max));
        CHECKF(wait_atomic(&p->published, n, TL_WAIT) == n, "%d of %d publishes completed",
               atomic_load(&p->published), n);
    }
    MQTTProperties_free(&props);
    actx_free(&s);
    actx_free(&p);
    tl_proxy_stop(&px);
}

static void test_receive_maximum_qos1(void)
{
    receive_maximum(1);
}

static void test_receive_maximum_qos2(void)
{
    receive_maximum(2);
}

static void test_topic_alias_from_client(void)
{
    char base[96], one[128], two[128], three[128], other[128], all[128];
    struct actx *c[3] = {0};
    struct actx *sub, *oth, *pub;
    snprintf(base, sizeof base, "%s", tl_name("paho5/alias/in"));
    snprintf(one, sizeof one, "%s/one", base);
    snprintf(two, sizeof two, "%s/two", base);
    snprintf(three, sizeof three, "%s/three", base);
    snprintf(other, sizeof other, "%s/other", base);
    snprintf(all, sizeof all, "%s/#", base);
    if (!aconnect_all(c, 3, "p5-alias"))
        goto out;
    sub = c[0];
    oth = c[1];
    pub = c[2];
    if (!asub(sub, all, 1) || !asub(oth, other, 1))
        goto out;
    {
        struct {
            const char *topic;
            int alias;
            const char *payload;
        } steps[] = {
            {one, 1, "set 1"},  {two, 2, "set 2"},     {"", 1, "alias 1"},
            {"", 2, "alias 2"}, {three, 1, "reset 1"}, {"", 1, "alias 1 again"},
        };
        const char *want[] = {one, two, one, two, three, three};
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
            MQTTProperties props = MQTTProperties_initializer;
            bool ok;
            prop_int(&props, MQTTPROPERTY_CODE_TOPIC_ALIAS, (unsigned)steps[i].alias);
            ok = apub_props(pub, steps[i].topic, steps[i].payload, 1, 0, &props, true);
            MQTTProperties_free(&props);
            if (!ok)
                goto out;
        }
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
            struct got *g;
            if (!expect_next(sub, want[i], steps[i].payload))
                break;
            g = &sub->queue[sub->taken - 1];
            /* between the publisher and the broker only: not forwarded */
            CHECKF(prop_num(&g->props, MQTTPROPERTY_CODE_TOPIC_ALIAS) == -1,
                   "the publisher's alias was forwarded");
        }
        CHECKF(aquiet(oth) == 0, "a subscriber of another topic got a message");
    }
out:
    afree_all(c, 3);
}

static void test_topic_alias_to_client(void)
{
    char base[96], all[128], topics[3][128];
    const char *leaves[3] = {"a", "b", "c/d"};
    char map[5][160]; /* alias -> topic, kept by the application */
    MQTTProperties props = MQTTProperties_initializer;
    struct aopts o = {0};
    struct actx *s = NULL, *p = NULL;
    int aliased = 0, alias_only = 0, n = 0;
    memset(map, 0, sizeof map);
    snprintf(base, sizeof base, "%s", tl_name("paho5/alias/out"));
    snprintf(all, sizeof all, "%s/#", base);
    for (int i = 0; i < 3; i++)
        snprintf(topics[i], sizeof topics[i], "%s/%s", base, leaves[i]);
    prop_int(&props, MQTTPROPERTY_CODE_TOPIC_ALIAS_MAXIMUM, 4);
    o.cleanstart = 1;
    o.props = &props;
    s = actx_start(tl_name("p5-alias-sub"), &o);
    p = actx_start(tl_name("p5-alias-pub"), NULL);
    if (!actx_wait(s) || !actx_wait(p) || !asub(s, all, 1))
        goto out;
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < 3; i++) {
            char payload[32];
            snprintf(payload, sizeof payload, "%s %d", leaves[i], round);
            if (!apub(p, topics[i], payload, round % 2, 0))
                goto out;
            n++;
        }
    for (int k = 0; k < n; k++) {
        struct got *g = anext(s, TL_WAIT);
        long alias;
        const char *topic;
        char want[32];
        snprintf(want, sizeof want, "%s %d", leaves[k % 3], k / 3);
        if (!CHECKF(g != NULL, "message %d of %d missing", k, n))
            break;
        alias = prop_num(&g->props, MQTTPROPERTY_CODE_TOPIC_ALIAS);
        topic = g->topic;
        if (alias != -1) {
            aliased++;
            if (!CHECKF(alias >= 1 && alias <= 4, "alias %ld outside the client's maximum 4",
                        alias))
                continue;
            if (g->topic[0])
                snprintf(map[alias], sizeof map[alias], "%s", g->topic);
            else {
                alias_only++;
                topic = map[alias];
            }
        }
        CHECKF(strcmp(topic, topics[k % 3]) == 0 && strcmp(g->payload, want) == 0,
               "message %d: '%s' on '%s' (alias %ld), expected '%s' on '%s'", k, g->payload, topic,
               alias, want, topics[k % 3]);
    }
    if (broker.mosquitto) {
        /* Mosquitto 2.0.11 never sends topic aliases (the server may choose not to). */
        CHECKF(aliased == 0, "%d aliased", aliased);
    } else {
        CHECKF(aliased > 0, "no topic alias used");
        CHECKF(alias_only >= 6, "only %d of %d deliveries used the alias alone", alias_only, n);
    }
out:
    MQTTProperties_free(&props);
    actx_free(&s);
    actx_free(&p);
}

static void test_no_alias_without_maximum(void)
{
    const char *topic = tl_name("paho5/alias/none");
    struct actx *c[2] = {0};
    if (aconnect_all(c, 2, "p5-noalias") && asub(c[0], topic, 1)) {
        for (int i = 0; i < 4; i++)
            apub(c[1], topic, "x", 1, 0);
        for (int i = 0; i < 4; i++) {
            struct got *g = anext(c[0], TL_WAIT);
            if (!CHECKF(g != NULL, "message %d missing", i))
                break;
            CHECKF(strcmp(g->topic, topic) == 0 &&
                       prop_num(&g->props, MQTTPROPERTY_CODE_TOPIC_ALIAS) == -1,
                   "message %d on '%s' with alias %ld", i, g->topic,
                   prop_num(&g->props, MQTTPROPERTY_CODE_TOPIC_ALIAS));
        }
    }
    afree_all(c, 2);
}

static void test_shared_subscription(void)
{
    const char *topic = tl_name("paho5/shared");
    char share[160];
    struct actx *c[4] = {0};
    int n = 40, counts[2] = {0, 0};
    bool seen[40] = {false};
    snprintf(share, sizeof share, "$share/g/%s", topic);
    if (!aconnect_all(c, 4, "p5-shared") || !asub(c[0], share, 1) || !asub(c[1], share, 1) ||
        !asub(c[2], topic, 1))
        goto out;
    for (int i = 0; i < n; i++) {
        char payload[16];
        snprintf(payload, sizeof payload, "%d", i);
        if (!apub(c[3], topic, payload, i % 3 ? 1 : 0, 0))
            goto out;
    }
    CHECKF(await_count(c[2], n, TL_WAIT) == n, "the ordinary subscriber got %d of %d",
           aqueued(c[2]), n);
    {
        double deadline = tl_now() + TL_WAIT;
        while (aqueued(c[0]) + aqueued(c[1]) < n && tl_now() < deadline)
            tl_sleep_ms(5);
    }
    tl_sleep_ms((int)(TL_QUIET * 1000));
    for (int m = 0; m < 2; m++) {
        counts[m] = aqueued(c[m]);
        for (int i = 0; i < counts[m]; i++) {
            int v = atoi(c[m]->queue[i].payload);
            CHECKF(v >= 0 && v < n && !seen[v], "message %d delivered twice", v);
            CHECKF(strcmp(c[m]->queue[i].topic, topic) == 0, "delivered on '%s'",
                   c[m]->queue[i].topic);
            if (v >= 0 && v < n)
                seen[v] = true;
        }
    }
    CHECKF(counts[0] + counts[1] == n, "the group got %d + %d of %d", counts[0], counts[1], n);
    CHECKF(counts[0] > 0 && counts[1] > 0, "split %d/%d", counts[0], counts[1]);
out:
    afree_all(c, 4);
}

static void test_no_local(void)
{
    const char *topic = tl_name("paho5/nolocal");
    struct actx *c[2] = {0};
    if (aconnect_all(c, 2, "p5-nl") && asub_opts(c[0], topic, 1, 1, 0, 0, 0) &&
        asub(c[1], topic, 1) && apub(c[0], topic, "mine", 1, 0) &&
        expect_next(c[1], topic, "mine") && apub(c[1], topic, "theirs", 1, 0)) {
        expect_next(c[0], topic, "theirs");
        expect_next(c[1], topic, "theirs"); /* No Local 0: its own message back */
        CHECKF(aquiet(c[0]) == 0, "own message delivered despite No Local");
    }
    afree_all(c, 2);
}

static void test_retain_as_published(void)
{
    const char *topic = tl_name("paho5/rap");
    struct actx *c[3] = {0};
    if (aconnect_all(c, 3, "p5-rap") && asub_opts(c[0], topic, 1, 0, 1, 0, 0) &&
        asub_opts(c[1], topic, 1, 0, 0, 0, 0) && apub(c[2], topic, "retained", 1, 1) &&
        apub(c[2], topic, "plain", 1, 0)) {
        for (int k = 0; k < 2; k++) {
            struct got *r = anext(c[k], TL_WAIT);
            struct got *q = anext(c[k], TL_WAIT);
            if (!CHECKF(r && q, "subscriber %d missed messages", k))
                continue;
            CHECKF(strcmp(r->payload, "retained") == 0 && r->retained == (k == 0),
                   "subscriber %d (rap %d): '%s' retain %d", k, k == 0, r->payload, r->retained);
            CHECKF(strcmp(q->payload, "plain") == 0 && q->retained == 0, "'%s' retain %d",
                   q->payload, q->retained);
        }
        apub(c[2], topic, "", 1, 1); /* clear */
    }
    afree_all(c, 3);
}

static void test_retain_handling(void)
{
    const char *topic = tl_name("paho5/rh");
    struct actx *c[3] = {0};
    if (!aconnect_all(c, 3, "p5-rh") || !apub(c[2], topic, "stored", 1, 1))
        goto out;
    /* 2: no retained message on subscribing; live messages still arrive */
    if (asub_opts(c[0], topic, 1, 0, 0, 2, 0)) {
        CHECKF(aquiet(c[0]) == 0, "Retain Handling 2 sent the retained message");
        if (apub(c[2], topic, "live", 1, 0))
            expect_next(c[0], topic, "live");
    }
    /* 1: only for a new subscription */
    if (asub_opts(c[0], topic, 1, 0, 0, 1, 0))
        CHECKF(aquiet(c[0]) == 0, "Retain Handling 1 sent it for an existing subscription");
    if (asub_opts(c[1], topic, 1, 0, 0, 1, 0) && expect_next(c[1], topic, "stored"))
        CHECK(c[1]->queue[c[1]->taken - 1].retained == 1);
    /* 0: on every subscribe */
    if (asub_opts(c[0], topic, 1, 0, 0, 0, 0) && expect_next(c[0], topic, "stored"))
        CHECK(c[0]->queue[c[0]->taken - 1].retained == 1);
    apub(c[2], topic, "", 1, 1);
out:
    afree_all(c, 3);
}

static void test_subscription_identifiers(void)
{
    char base[96], fx[128], fy[128], fz[128], tx[128], ty[128], tz[128];
    struct actx *c[2] = {0};
    snprintf(base, sizeof base, "%s", tl_name("paho5/subid"));
    snprintf(fx, sizeof fx, "%s/x/+", base);
    snprintf(fy, sizeof fy, "%s/y/#", base);
    snprintf(fz, sizeof fz, "%s/z", base);
    snprintf(tx, sizeof tx, "%s/x/1", base);
    snprintf(ty, sizeof ty, "%s/y/2/3", base);
    snprintf(tz, sizeof tz, "%s/z", base);
    if (!aconnect_all(c, 2, "p5-subid") || !asub_opts(c[0], fx, 1, 0, 0, 0, 5) ||
        !asub_opts(c[0], fy, 1, 0, 0, 0, 268435455) || !asub(c[0], fz, 1))
        goto out;
    if (apub(c[1], tx, "x", 1, 0) && apub(c[1], ty, "y", 1, 0) && apub(c[1], tz, "z", 1, 0)) {
        long want[3] = {5, 268435455, -1};
        const char *topics[3] = {tx, ty, tz};
        const char *payloads[3] = {"x", "y", "z"};
        for (int i = 0; i < 3; i++) {
            struct got *g;
            if (!expect_next(c[0], topics[i], payloads[i]))
                break;
            g = &c[0]->queue[c[0]->taken - 1];
            CHECKF(prop_num(&g->props, MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER) == want[i] &&
                       MQTTProperties_propertyCount(&g->props,
                                                    MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER) ==
                           (want[i] == -1 ? 0 : 1),
                   "%s: subscription identifier %ld, expected %ld", payloads[i],
                   prop_num(&g->props, MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER), want[i]);
        }
    }
out:
    afree_all(c, 2);
}

/* When the DISCONNECT went through the proxy, in microseconds (0: not yet). */
static void note_disconnect(void *ctx, int conn, int dir, const unsigned char *pkt, size_t len)
{
    if (dir == TL_TO_BROKER && (pkt[0] >> 4) == 14)
        atomic_store((atomic_llong *)ctx, (long long)(tl_now() * 1e6));
}

/*
 * Two will clients at once (session expiry 10, will delay 2 s), both
 * ending with DISCONNECT 0x04 (disconnect with will): the first stays
 * away, its will arrives after the delay; the second reconnects 0.3 s
 * later, which cancels its will. The first goes through a proxy that
 * notes when its DISCONNECT reaches the broker, where the delay starts.
 */
static void test_will_delay(void)
{
    atomic_llong disc_us;
    struct tl_proxy *px;
    const char *topic_sent = tl_name("paho5/will/sent");
    const char *topic_cancel = tl_name("paho5/will/cancel");
    const char *id_cancel = tl_name("p5-will-cancel");
    MQTTAsync_willOptions will[2] = {MQTTAsync_willOptions_initializer,
                                     MQTTAsync_willOptions_initializer};
    MQTTProperties cprops = MQTTProperties_initializer, wprops = MQTTProperties_initializer;
    struct aopts o[2];
    struct actx *obs = NULL, *w[2] = {0};
    MQTTClient again = NULL;
    double t0, arrived = -1;
    atomic_init(&disc_us, 0);
    px = tl_proxy_start(broker.port, note_disconnect, &disc_us);
    if (!CHECK(px != NULL))
        return;
    prop_int(&cprops, MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL, 10);
    prop_int(&wprops, MQTTPROPERTY_CODE_WILL_DELAY_INTERVAL, 2);
    prop_user(&wprops, "why", "test");
    for (int i = 0; i < 2; i++) {
        will[i].topicName = i == 0 ? topic_sent : topic_cancel;
        will[i].message = "gone";
        will[i].qos = 1;
        memset(&o[i], 0, sizeof o[i]);
        o[i].cleanstart = 1;
        o[i].props = &cprops;
        o[i].will = &will[i];
        o[i].will_props = &wprops;
    }
    o[0].uri = tl_proxy_uri(px);
    obs = actx_start(tl_name("p5-will-obs"), NULL);
    w[0] = actx_start(tl_name("p5-will-sent"), &o[0]);
    w[1] = actx_start(id_cancel, &o[1]);
    if (!actx_wait(obs) || !actx_wait(w[0]) || !actx_wait(w[1]) || !asub(obs, topic_sent, 1) ||
        !asub(obs, topic_cancel, 1))
        goto out;
    if (!actx_disconnect(w[0], MQTTREASONCODE_DISCONNECT_WITH_WILL_MESSAGE) ||
        !actx_disconnect(w[1], MQTTREASONCODE_DISCONNECT_WITH_WILL_MESSAGE))
        goto out;
    /* Paho may report the disconnect before the proxy's thread has relayed
     * the packet: give it a moment (bounded). */
    for (int i = 0; i < 200 && atomic_load(&disc_us) == 0; i++)
        tl_sleep_ms(5);
    if (!CHECKF(atomic_load(&disc_us) > 0, "the proxy saw no DISCONNECT"))
        goto out;
    t0 = (double)atomic_load(&disc_us) / 1e6;
    /* An MQTTClient reconnects: an MQTTAsync connect next to the idle
     * observer would take 2 s (see test_session_expiry), past the delay.
     * (MQTTClient does not report Session Present at v5.) */
    tl_sleep_ms(300);
    again = sclient(id_cancel, MQTTVERSION_5, 0, 10, NULL);
    CHECKF(again != NULL && tl_now() - t0 < 1.5, "reconnected %.2f s after the DISCONNECT",
           tl_now() - t0);
    /* until the will has come and 1.5 s past the cancelled one's delay */
    while (tl_now() < t0 + 5.0 && (arrived < 0 || tl_now() < t0 + 3.5)) {
        if (arrived < 0 && aqueued(obs) > 0)
            arrived = tl_now() - t0;
        tl_sleep_ms(10);
    }
    if (CHECKF(arrived >= 0, "the will did not arrive within 5 s")) {
        struct got *g = anext(obs, 0);
        MQTTProperty *up = MQTTProperties_getProperty(&g->props, MQTTPROPERTY_CODE_USER_PROPERTY);
        CHECKF(strcmp(g->topic, topic_sent) == 0 && strcmp(g->payload, "gone") == 0,
               "got '%s' on '%s'", g->payload, g->topic);
        CHECKF(up && up->value.data.len == 3 && memcmp(up->value.data.data, "why", 3) == 0,
               "the will's user property is missing");
        /* Mosquitto checks will delays once a second. */
        CHECKF(arrived >= 1.9 && arrived <= (broker.mosquitto ? 4.0 : 3.5), "will after %.2f s",
               arrived);
    }
    CHECKF(aqueued(obs) <= 1, "the cancelled will was sent too (%d messages)", aqueued(obs));
out:
    MQTTProperties_free(&cprops);
    MQTTProperties_free(&wprops);
    actx_free(&obs);
    actx_free(&w[0]);
    actx_free(&w[1]);
    sfree(&again);
    tl_proxy_stop(&px);
}

/* The newcomer is an MQTTClient (see test_session_expiry on MQTTAsync
 * connects next to an idle one). */
static void test_takeover_disconnect(void)
{
    const char *id = tl_name("p5-same");
    struct actx *a = actx_start(id, NULL);
    MQTTClient b = NULL;
    if (!actx_wait(a))
        goto out;
    b = sclient(id, MQTTVERSION_5, 1, 0, NULL);
    if (!b)
        goto out;
    CHECKF(await_server_end(a, TL_WAIT), "the old client's connection did not end");
    if (broker.mosquitto) /* Mosquitto 2.0.11 closes it without a DISCONNECT */
        CHECKF(atomic_load(&a->server_disconnect) == 0, "DISCONNECT 0x%02x",
               atomic_load(&a->server_disconnect) - 1);
    else
        CHECKF(atomic_load(&a->server_disconnect) == 0x8E + 1, "DISCONNECT reason 0x%02x, not 0x8E",
               atomic_load(&a->server_disconnect) - 1);
    CHECK(MQTTClient_isConnected(b));
out:
    actx_free(&a);
    sfree(&b);
}

/* ---- tests: MQTTClient ---- */

static void test_request_response(void)
{
    const char *service = tl_name("paho5/rr/service");
    const char *reply = tl_name("paho5/rr/reply");
    MQTTClient req = sclient(tl_name("p5-requester"), MQTTVERSION_5, 1, 0, NULL);
    MQTTClient res = sclient(tl_name("p5-responder"), MQTTVERSION_5, 1, 0, NULL);
    static const unsigned char ids[3][5] = {{0, 1, 2, 255, 0}, {'r', 'e', 'q', '-', '2'}, {0}};
    static const int id_len[3] = {5, 5, 0};
    if (!req || !res || !ssub(req, reply, 1) || !ssub(res, service, 1))
        goto out;
    for (int i = 0; i < 3; i++) {
        MQTTProperties props = MQTTProperties_initializer;
        struct got q, a;
        char payload[16], answer[200];
        bool ok;
        snprintf(payload, sizeof payload, "q%d", i);
        prop_bytes(&props, MQTTPROPERTY_CODE_RESPONSE_TOPIC, reply, (int)strlen(reply));
        prop_bytes(&props, MQTTPROPERTY_CODE_CORRELATION_DATA, ids[i], id_len[i]);
        ok = spub(req, service, payload, (int)strlen(payload), 1, 0, &props);
        MQTTProperties_free(&props);
        if (!ok || !CHECKF(srecv(res, TL_WAIT, &q), "request %d did not arrive", i))
            break;
        /* the responder answers on the Response Topic with the Correlation Data */
        {
            MQTTProperty *rt =
                MQTTProperties_getProperty(&q.props, MQTTPROPERTY_CODE_RESPONSE_TOPIC);
            MQTTProperty *cd =
                MQTTProperties_getProperty(&q.props, MQTTPROPERTY_CODE_CORRELATION_DATA);
            char topic[160] = "";
            MQTTProperties back = MQTTProperties_initializer;
            CHECKF(prop_is(&q.props, MQTTPROPERTY_CODE_RESPONSE_TOPIC, reply, (int)strlen(reply)),
                   "request %d: Response Topic changed", i);
            CHECKF(prop_is(&q.props, MQTTPROPERTY_CODE_CORRELATION_DATA, ids[i], id_len[i]),
                   "request %d: Correlation Data changed", i);
            if (rt && rt->value.data.len < (int)sizeof topic)
                memcpy(topic, rt->value.data.data, (size_t)rt->value.data.len);
            if (cd)
                prop_bytes(&back, MQTTPROPERTY_CODE_CORRELATION_DATA, cd->value.data.data,
                           cd->value.data.len);
            snprintf(answer, sizeof answer, "answer to %s", q.payload);
            ok = CHECK(topic[0]) && spub(res, topic, answer, (int)strlen(answer), 1, 0, &back);
            MQTTProperties_free(&back);
            got_free(&q);
        }
        if (!ok || !CHECKF(srecv(req, TL_WAIT, &a), "response %d did not arrive", i))
            break;
        CHECKF(strcmp(a.topic, reply) == 0 && strcmp(a.payload, answer) == 0, "got '%s' on '%s'",
               a.payload, a.topic);
        CHECKF(prop_is(&a.props, MQTTPROPERTY_CODE_CORRELATION_DATA, ids[i], id_len[i]),
               "response %d: Correlation Data changed", i);
        CHECK(!MQTTProperties_hasProperty(&a.props, MQTTPROPERTY_CODE_RESPONSE_TOPIC));
        got_free(&a);
    }
out:
    sfree(&req);
    sfree(&res);
}

static void test_user_properties_in_order(void)
{
    const char *topic = tl_name("paho5/userprops");
    static const char *pairs[][2] = {
        {"zeta", "1"},   {"alpha", "a1"}, {"zeta", "2"},      {"mid dle", ""},
        {"ünï", "cödé"}, {"alpha", "a2"}, {"", "empty name"}, {"alpha", "a1"},
    };
    const int np = (int)(sizeof pairs / sizeof pairs[0]);
    MQTTClient s = sclient(tl_name("p5-up-sub"), MQTTVERSION_5, 1, 0, NULL);
    MQTTClient p = sclient(tl_name("p5-up-pub"), MQTTVERSION_5, 1, 0, NULL);
    if (!s || !p || !ssub(s, topic, 2))
        goto out;
    for (int qos = 0; qos <= 2; qos++) {
        MQTTProperties props = MQTTProperties_initializer;
        struct got g;
        bool ok;
        for (int i = 0; i < np; i++)
            prop_user(&props, pairs[i][0], pairs[i][1]);
        ok = spub(p, topic, "x", 1, qos, 0, &props);
        MQTTProperties_free(&props);
        if (!ok || !CHECKF(srecv(s, TL_WAIT, &g), "qos %d: nothing arrived", qos))
            break;
        if (CHECKF(MQTTProperties_propertyCount(&g.props, MQTTPROPERTY_CODE_USER_PROPERTY) == np,
                   "qos %d: %d user properties, %d sent", qos,
                   MQTTProperties_propertyCount(&g.props, MQTTPROPERTY_CODE_USER_PROPERTY), np))
            for (int i = 0; i < np; i++) {
                MQTTProperty *u =
                    MQTTProperties_getPropertyAt(&g.props, MQTTPROPERTY_CODE_USER_PROPERTY, i);
                CHECKF(u && u->value.data.len == (int)strlen(pairs[i][0]) &&
                           memcmp(u->value.data.data, pairs[i][0], strlen(pairs[i][0])) == 0 &&
                           u->value.value.len == (int)strlen(pairs[i][1]) &&
                           memcmp(u->value.value.data, pairs[i][1], strlen(pairs[i][1])) == 0,
                       "qos %d: user property %d is not (%s, %s)", qos, i, pairs[i][0],
                       pairs[i][1]);
            }
        got_free(&g);
    }
out:
    sfree(&s);
    sfree(&p);
}

static void test_content_type_and_format(void)
{
    const char *topic = tl_name("paho5/ctype");
    static const char json_type[] = "application/json; charset=utf-8";
    static const char bin_type[] = "application/octet-stream";
    static const unsigned char bin[2] = {0xFF, 0xFE};
    MQTTClient s = sclient(tl_name("p5-ct-sub"), MQTTVERSION_5, 1, 0, NULL);
    MQTTClient p = sclient(tl_name("p5-ct-pub"), MQTTVERSION_5, 1, 0, NULL);
    MQTTProperties a = MQTTProperties_initializer, b = MQTTProperties_initializer;
    struct got g;
    if (!s || !p || !ssub(s, topic, 1))
        goto out;
    prop_bytes(&a, MQTTPROPERTY_CODE_CONTENT_TYPE, json_type, (int)strlen(json_type));
    prop_int(&a, MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR, 1);
    prop_bytes(&b, MQTTPROPERTY_CODE_CONTENT_TYPE, bin_type, (int)strlen(bin_type));
    prop_int(&b, MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR, 0);
    if (!spub(p, topic, "{\"ok\":true}", 11, 1, 0, &a) || !spub(p, topic, bin, 2, 1, 0, &b) ||
        !spub(p, topic, "plain", 5, 1, 0, NULL))
        goto out;
    if (CHECKF(srecv(s, TL_WAIT, &g), "first message missing")) {
        CHECK(prop_is(&g.props, MQTTPROPERTY_CODE_CONTENT_TYPE, json_type, (int)strlen(json_type)));
        CHECK(prop_num(&g.props, MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR) == 1);
        got_free(&g);
    }
    if (CHECKF(srecv(s, TL_WAIT, &g), "second message missing")) {
        CHECK(prop_is(&g.props, MQTTPROPERTY_CODE_CONTENT_TYPE, bin_type, (int)strlen(bin_type)));
        /* indicator 0 may be sent or left out: both mean unspecified bytes */
        CHECK(prop_num(&g.props, MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR) <= 0);
        CHECK(g.payloadlen == 2 && memcmp(g.payload, bin, 2) == 0);
        got_free(&g);
    }
    if (CHECKF(srecv(s, TL_WAIT, &g), "third message missing")) {
        CHECK(!MQTTProperties_hasProperty(&g.props, MQTTPROPERTY_CODE_CONTENT_TYPE));
        CHECK(prop_num(&g.props, MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR) <= 0);
        got_free(&g);
    }
out:
    MQTTProperties_free(&a);
    MQTTProperties_free(&b);
    sfree(&s);
    sfree(&p);
}

static bool spub_expiry(MQTTClient c, const char *topic, const char *payload, long expiry)
{
    MQTTProperties props = MQTTProperties_initializer;
    bool ok;
    if (expiry >= 0)
        prop_int(&props, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL, (unsigned)expiry);
    ok = spub(c, topic, payload, (int)strlen(payload), 1, 0, &props);
    MQTTProperties_free(&props);
    return ok;
}

static void test_message_expiry(void)
{
    const char *live = tl_name("paho5/expiry/live");
    const char *queued = tl_name("paho5/expiry/queued");
    const char *id = tl_name("p5-expiry");
    MQTTClient s = sclient(tl_name("p5-exp-live"), MQTTVERSION_5, 1, 0, NULL);
    MQTTClient p = sclient(tl_name("p5-exp-pub"), MQTTVERSION_5, 1, 0, NULL);
    MQTTClient q = sclient(id, MQTTVERSION_5, 1, 30, NULL);
    struct got g;
    if (!s || !p || !q || !ssub(s, live, 1) || !ssub(q, queued, 1))
        goto out;
    /* live: the interval is forwarded (less the time the broker held it) */
    if (spub_expiry(p, live, "e", 60) && CHECKF(srecv(s, TL_WAIT, &g), "live message missing")) {
        long left = prop_num(&g.props, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL);
        CHECKF(left >= 59 && left <= 60, "expiry %ld forwarded, 59..60 expected", left);
        got_free(&g);
    }
    /* queued for an offline session: expired messages dropped, the others
     * forwarded with what remains of their interval */
    sfree(&q);
    if (!spub_expiry(p, queued, "short", 1) || !spub_expiry(p, queued, "long", 30) ||
        !spub_expiry(p, queued, "forever", -1))
        goto out;
    tl_sleep_ms(2200);
    q = sclient(id, MQTTVERSION_5, 0, 30, NULL); /* (no Session Present from MQTTClient at v5) */
    if (!q)
        goto out;
    if (CHECKF(srecv(q, TL_WAIT, &g), "queued messages missing")) {
        long left = prop_num(&g.props, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL);
        CHECKF(strcmp(g.payload, "long") == 0, "got '%s' first (the expired message?)", g.payload);
        CHECKF(left >= 26 && left <= 28, "expiry %ld after 2.2 s queued, 27 or 28 expected", left);
        got_free(&g);
    }
    if (CHECKF(srecv(q, TL_WAIT, &g), "the message without expiry is missing")) {
        CHECK(strcmp(g.payload, "forever") == 0);
        CHECK(!MQTTProperties_hasProperty(&g.props, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL));
        got_free(&g);
    }
    if (!CHECKF(!srecv(q, TL_QUIET, &g), "unexpected '%s'", g.payload))
        got_free(&g);
out:
    sfree(&s);
    sfree(&p);
    sfree(&q);
}

/* Connects an MQTTAsync client with Clean Start and Session Expiry as
 * given and waits for it (NULL on failure). */
static struct actx *aconnect_session(const char *id, int cleanstart, unsigned expiry)
{
    MQTTProperties props = MQTTProperties_initializer;
    struct aopts o = {0};
    struct actx *a;
    o.cleanstart = cleanstart;
    o.props = &props;
    if (expiry)
        prop_int(&props, MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL, expiry);
    a = actx_start(id, &o);
    MQTTProperties_free(&props);
    if (a && !actx_wait(a))
        actx_free(&a);
    return a;
}

/*
 * The persistent client is an MQTTAsync one (Paho's MQTTClient reports
 * Session Present for 3.1.1 only) and the only one: Paho's MQTTAsync thread
 * takes a new socket into its select() only when the current one returns,
 * up to a second later, so a reconnect next to an idle MQTTAsync client
 * takes two seconds. The publisher is an MQTTClient.
 */
static void test_session_expiry(void)
{
    const char *topic = tl_name("paho5/session");
    const char *id = tl_name("p5-session");
    struct actx *c = aconnect_session(id, 1, 30);
    MQTTClient p = sclient(tl_name("p5-sess-pub"), MQTTVERSION_5, 1, 0, NULL);
    if (!c || !p || !CHECK(atomic_load(&c->session_present) == 0) || !asub(c, topic, 2))
        goto out;
    actx_free(&c); /* DISCONNECT 0x00: the session stays for 30 s */
    if (!spub(p, topic, "q1", 2, 1, 0, NULL) || !spub(p, topic, "q2", 2, 2, 0, NULL))
        goto out;
    c = aconnect_session(id, 0, 30);
    if (!c)
        goto out;
    CHECKF(atomic_load(&c->session_present) == 1,
           "session present %d after a reconnect within the expiry",
           atomic_load(&c->session_present));
    for (int i = 1; i <= 2; i++) {
        char want[16];
        snprintf(want, sizeof want, "q%d", i);
        if (!expect_next(c, topic, want))
            goto out;
        CHECKF(c->queue[c->taken - 1].qos == i, "'%s' at qos %d", want, c->queue[c->taken - 1].qos);
    }
    /* the subscription is still there */
    if (spub(p, topic, "live", 4, 1, 0, NULL))
        expect_next(c, topic, "live");
    /* Session Expiry 0 on the next connection: the session ends with it */
    actx_free(&c);
    c = aconnect_session(id, 0, 0);
    if (c)
        CHECKF(atomic_load(&c->session_present) == 1, "session present %d",
               atomic_load(&c->session_present));
    actx_free(&c);
    c = aconnect_session(id, 0, 0);
    if (c)
        CHECKF(atomic_load(&c->session_present) == 0,
               "session present %d after a session with expiry 0",
               atomic_load(&c->session_present));
out:
    actx_free(&c);
    sfree(&p);
}

/* A 3.1.1 client and a v5 client, both MQTTClient in this one program. */
static void test_v5_and_v311(void)
{
    const char *to3 = tl_name("paho5/x/to3");
    const char *to5 = tl_name("paho5/x/to5");
    MQTTClient c3 = sclient(tl_name("p5-v311"), MQTTVERSION_3_1_1, 1, 0, NULL);
    MQTTClient c5 = sclient(tl_name("p5-v5"), MQTTVERSION_5, 1, 0, NULL);
    struct got g;
    if (!c3 || !c5 || !ssub3(c3, to3, 2) || !ssub(c5, to5, 2))
        goto out;
    for (int qos = 0; qos <= 2; qos++) {
        MQTTProperties props = MQTTProperties_initializer;
        char payload[32];
        bool ok;
        /* v5 -> 3.1.1: properties dropped, the message intact */
        snprintf(payload, sizeof payload, "from v5 qos %d", qos);
        prop_user(&props, "k", "v");
        prop_int(&props, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL, 60);
        ok = spub(c5, to3, payload, (int)strlen(payload), qos, 0, &props);
        MQTTProperties_free(&props);
        if (ok && CHECKF(srecv(c3, TL_WAIT, &g), "qos %d: nothing reached the 3.1.1 client", qos)) {
            CHECKF(strcmp(g.topic, to3) == 0 && strcmp(g.payload, payload) == 0 && g.qos == qos &&
                       g.props.count == 0,
                   "3.1.1 got '%s' on '%s' qos %d, %d properties", g.payload, g.topic, g.qos,
                   g.props.count);
            got_free(&g);
        }
        /* 3.1.1 -> v5 */
        snprintf(payload, sizeof payload, "from 3.1.1 qos %d", qos);
        if (spub3(c3, to5, payload, qos, 0) &&
            CHECKF(srecv(c5, TL_WAIT, &g), "qos %d: nothing reached the v5 client", qos)) {
            CHECKF(strcmp(g.topic, to5) == 0 && strcmp(g.payload, payload) == 0 && g.qos == qos &&
                       !MQTTProperties_hasProperty(&g.props, MQTTPROPERTY_CODE_USER_PROPERTY),
                   "v5 got '%s' on '%s' qos %d", g.payload, g.topic, g.qos);
            got_free(&g);
        }
    }
    /* a retained message set by the v5 client reaches a new 3.1.1 subscriber */
    if (spub(c5, to3, "kept", 4, 1, 1, NULL)) {
        MQTTClient n3 = sclient(tl_name("p5-v311b"), MQTTVERSION_3_1_1, 1, 0, NULL);
        if (n3 && ssub3(n3, to3, 1)) {
            if (CHECKF(srecv(n3, TL_WAIT, &g), "retained message missing")) {
                CHECK(strcmp(g.payload, "kept") == 0 && g.retained == 1);
                got_free(&g);
            }
        }
        sfree3(&n3);
        spub(c5, to3, "", 0, 1, 1, NULL);
    }
out:
    sfree3(&c3);
    sfree(&c5);
}

static void test_broker_exits_cleanly(void)
{
    /* A v5 client still connected gets DISCONNECT 0x8B (server shutting down). */
    struct actx *a = actx_start(tl_name("p5-last"), NULL);
    int status;
    bool connected = actx_wait(a);
    status = tl_broker_stop(&broker);
    CHECKF(status == 0, "broker exit status %d on SIGTERM", status);
    if (connected) {
        CHECKF(await_server_end(a, TL_WAIT), "the client's connection did not end");
        if (broker.mosquitto) /* Mosquitto 2.0.11 closes without a DISCONNECT */
            CHECK(atomic_load(&a->server_disconnect) == 0);
        else
            CHECKF(atomic_load(&a->server_disconnect) == 0x8B + 1,
                   "DISCONNECT reason 0x%02x, not 0x8B", atomic_load(&a->server_disconnect) - 1);
    }
    actx_free(&a);
}

int main(void)
{
    tl_init("client_paho5", 150);
    if (tl_broker_start(&broker, NULL) != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    tl_run("connack_properties", test_connack_properties);
    tl_run("receive_maximum_qos1", test_receive_maximum_qos1);
    tl_run("receive_maximum_qos2", test_receive_maximum_qos2);
    tl_run("topic_alias_from_client", test_topic_alias_from_client);
    tl_run("topic_alias_to_client", test_topic_alias_to_client);
    tl_run("no_alias_without_maximum", test_no_alias_without_maximum);
    tl_run("shared_subscription", test_shared_subscription);
    tl_run("no_local", test_no_local);
    tl_run("retain_as_published", test_retain_as_published);
    tl_run("retain_handling", test_retain_handling);
    tl_run("subscription_identifiers", test_subscription_identifiers);
    tl_run("will_delay", test_will_delay);
    tl_run("takeover_disconnect", test_takeover_disconnect);
    tl_run("request_response", test_request_response);
    tl_run("user_properties_in_order", test_user_properties_in_order);
    tl_run("content_type_and_format", test_content_type_and_format);
    tl_run("message_expiry", test_message_expiry);
    tl_run("session_expiry", test_session_expiry);
    tl_run("v5_and_v311", test_v5_and_v311);
    tl_run("broker_exits_cleanly", test_broker_exits_cleanly);
    return tl_finish();
}
