/*
 * client_mosquitto.c - the broker driven by libmosquitto, as mqchat-notify
 * and many integrators use it: QoS 0/1/2 round trips, retained messages,
 * the will on an abnormal close (the client's socket shut down under it)
 * and not after DISCONNECT, messages queued for an offline persistent
 * session, UNSUBSCRIBE.
 *
 * Clients run libmosquitto's network thread (mosquitto_loop_start); its
 * callbacks only update the atomics and mutex-protected fields of a struct
 * mctx, which the test thread polls with bounded waits. The will client is
 * driven by hand (mosquitto_loop) so that no thread reconnects it after its
 * socket is shut down.
 */
#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "testlib.h"

static struct tl_broker broker;

/* What one client's callbacks saw. */
struct mctx {
    struct mosquitto *m;
    bool threaded; /* mosquitto_loop_start was called */
    pthread_mutex_t mu;
    atomic_int connected; /* CONNACK code + 1, or -1 */
    atomic_int session_present;
    atomic_int subscribed; /* first granted QoS + 1 (0x80 + 1 when refused) */
    atomic_int unsubscribed;
    atomic_int published; /* on_publish calls */
    atomic_int arrived;   /* messages */
    atomic_int disconnected;
    char last_topic[128];   /* under mu */
    char last_payload[128]; /* under mu */
    int last_qos;           /* under mu */
    bool last_retain;       /* under mu */
};

static void on_connect(struct mosquitto *m, void *obj, int rc, int flags)
{
    struct mctx *c = obj;
    atomic_store(&c->session_present, flags & 1);
    atomic_store(&c->connected, rc + 1);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    struct mctx *c = obj;
    atomic_store(&c->subscribed, n > 0 ? granted[0] + 1 : -1);
}

static void on_unsubscribe(struct mosquitto *m, void *obj, int mid)
{
    atomic_fetch_add(&((struct mctx *)obj)->unsubscribed, 1);
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    atomic_fetch_add(&((struct mctx *)obj)->published, 1);
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    atomic_fetch_add(&((struct mctx *)obj)->disconnected, 1);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    struct mctx *c = obj;
    size_t n = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    if (n > sizeof c->last_payload - 1)
        n = sizeof c->last_payload - 1;
    pthread_mutex_lock(&c->mu);
    snprintf(c->last_topic, sizeof c->last_topic, "%s", msg->topic);
    if (n)
        memcpy(c->last_payload, msg->payload, n);
    c->last_payload[n] = '\0';
    c->last_qos = msg->qos;
    c->last_retain = msg->retain;
    pthread_mutex_unlock(&c->mu);
    atomic_fetch_add(&c->arrived, 1);
}

static int wait_atomic(atomic_int *v, int want, double timeout)
{
    double deadline = tl_now() + timeout;
    while (atomic_load(v) < want && atomic_load(v) >= 0 && tl_now() < deadline)
        tl_sleep_ms(5);
    return atomic_load(v);
}

static struct mctx *mctx_new(const char *id, bool clean, const char *will_topic,
                             const char *will_payload, int will_qos)
{
    struct mctx *c = calloc(1, sizeof *c);
    if (!CHECK(c != NULL))
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->m = mosquitto_new(id, clean, c);
    if (!CHECK(c->m != NULL)) {
        free(c);
        return NULL;
    }
    mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_with_flags_callback_set(c->m, on_connect);
    mosquitto_subscribe_callback_set(c->m, on_subscribe);
    mosquitto_unsubscribe_callback_set(c->m, on_unsubscribe);
    mosquitto_publish_callback_set(c->m, on_publish);
    mosquitto_disconnect_callback_set(c->m, on_disconnect);
    mosquitto_message_callback_set(c->m, on_message);
    if (will_topic)
        CHECK(mosquitto_will_set(c->m, will_topic, (int)strlen(will_payload), will_payload,
                                 will_qos, false) == MOSQ_ERR_SUCCESS);
    return c;
}

static void mctx_free(struct mctx **pc)
{
    struct mctx *c = *pc;
    if (!c)
        return;
    if (c->threaded) {
        if (atomic_load(&c->connected) == 1 && atomic_load(&c->disconnected) == 0) {
            mosquitto_disconnect(c->m);
            wait_atomic(&c->disconnected, 1, TL_WAIT);
        }
        mosquitto_loop_stop(c->m, true);
    }
    mosquitto_destroy(c->m);
    pthread_mutex_destroy(&c->mu);
    free(c);
    *pc = NULL;
}

/* A client connected with its network thread running, or NULL. */
static struct mctx *mctx_connect(const char *id, bool clean, int *session_present)
{
    struct mctx *c = mctx_new(id, clean, NULL, NULL, 0);
    int rc;
    if (!c)
        return NULL;
    rc = mosquitto_connect(c->m, "127.0.0.1", broker.port, 30);
    if (!CHECKF(rc == MOSQ_ERR_SUCCESS, "mosquitto_connect: %s", mosquitto_strerror(rc)) ||
        !CHECK(mosquitto_loop_start(c->m) == MOSQ_ERR_SUCCESS)) {
        mctx_free(&c);
        return NULL;
    }
    c->threaded = true;
    rc = wait_atomic(&c->connected, 1, TL_WAIT);
    if (!CHECKF(rc == 1, "%s: CONNACK %d", id, rc - 1)) {
        mctx_free(&c);
        return NULL;
    }
    if (session_present)
        *session_present = atomic_load(&c->session_present);
    return c;
}

static bool msub(struct mctx *c, const char *topic, int qos)
{
    int rc;
    atomic_store(&c->subscribed, 0);
    rc = mosquitto_subscribe(c->m, NULL, topic, qos);
    if (!CHECKF(rc == MOSQ_ERR_SUCCESS, "subscribe: %s", mosquitto_strerror(rc)))
        return false;
    rc = wait_atomic(&c->subscribed, 1, TL_WAIT);
    return CHECKF(rc == qos + 1, "subscribe %s qos %d: granted %d", topic, qos, rc - 1);
}

static bool mpub(struct mctx *c, const char *topic, const char *payload, int qos, bool retain)
{
    int before = atomic_load(&c->published);
    int rc = mosquitto_publish(c->m, NULL, topic, (int)strlen(payload), payload, qos, retain);
    if (!CHECKF(rc == MOSQ_ERR_SUCCESS, "publish: %s", mosquitto_strerror(rc)))
        return false;
    /* on_publish: written (QoS 0), PUBACK (QoS 1) or PUBCOMP (QoS 2) seen. */
    return CHECKF(wait_atomic(&c->published, before + 1, TL_WAIT) == before + 1,
                  "publish to %s at qos %d not completed", topic, qos);
}

static bool expect_msg(struct mctx *c, int nth, const char *topic, const char *payload, int qos,
                       bool retain)
{
    bool ok;
    if (!CHECKF(wait_atomic(&c->arrived, nth, TL_WAIT) >= nth, "message %d on %s did not arrive",
                nth, topic))
        return false;
    pthread_mutex_lock(&c->mu);
    ok = CHECKF(strcmp(c->last_topic, topic) == 0 && strcmp(c->last_payload, payload) == 0 &&
                    c->last_qos == qos && c->last_retain == retain,
                "got %s '%s' qos %d retain %d, expected %s '%s' qos %d retain %d", c->last_topic,
                c->last_payload, c->last_qos, c->last_retain, topic, payload, qos, retain);
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static bool expect_count(struct mctx *c, int n)
{
    tl_sleep_ms((int)(TL_QUIET * 1000));
    return CHECKF(atomic_load(&c->arrived) == n, "%d messages, expected %d",
                  atomic_load(&c->arrived), n);
}

static void test_qos_round_trips(void)
{
    struct mctx *s = mctx_connect(tl_name("sub"), true, NULL);
    struct mctx *p = mctx_connect(tl_name("pub"), true, NULL);
    if (!s || !p)
        goto out;
    for (int qos = 0; qos <= 2; qos++) {
        char topic[96], payload[32];
        snprintf(topic, sizeof topic, "%s", tl_name("mosq/qos"));
        snprintf(payload, sizeof payload, "at qos %d", qos);
        if (msub(s, topic, qos) && mpub(p, topic, payload, qos, false))
            expect_msg(s, qos + 1, topic, payload, qos, false);
    }
    expect_count(s, 3);
out:
    mctx_free(&s);
    mctx_free(&p);
}

static void test_retained(void)
{
    const char *topic = tl_name("mosq/retained");
    struct mctx *p = mctx_connect(tl_name("pub"), true, NULL);
    struct mctx *s1 = NULL, *s2 = NULL;
    if (!p || !mpub(p, topic, "kept", 1, true))
        goto out;
    s1 = mctx_connect(tl_name("sub"), true, NULL);
    if (s1 && msub(s1, topic, 1)) {
        expect_msg(s1, 1, topic, "kept", 1, true);
        mpub(p, topic, "live", 0, true);
        expect_msg(s1, 2, topic, "live", 0, false);
    }
    mpub(p, topic, "", 1, true);
    s2 = mctx_connect(tl_name("sub"), true, NULL);
    if (s2 && msub(s2, topic, 1))
        expect_count(s2, 0);
out:
    mctx_free(&s1);
    mctx_free(&s2);
    mctx_free(&p);
}

/* Connects c by hand (no network thread). */
static bool manual_connect(struct mctx *c)
{
    double deadline = tl_now() + TL_WAIT;
    int rc = mosquitto_connect(c->m, "127.0.0.1", broker.port, 30);
    if (!CHECKF(rc == MOSQ_ERR_SUCCESS, "mosquitto_connect: %s", mosquitto_strerror(rc)))
        return false;
    while (atomic_load(&c->connected) == 0 && tl_now() < deadline)
        mosquitto_loop(c->m, 50, 1);
    return CHECKF(atomic_load(&c->connected) == 1, "will client: CONNACK %d",
                  atomic_load(&c->connected) - 1);
}

static void test_will_on_socket_shutdown(void)
{
    const char *topic = tl_name("mosq/will");
    struct mctx *obs = mctx_connect(tl_name("obs"), true, NULL);
    struct mctx *w = mctx_new(tl_name("will"), true, topic, "socket died", 1);
    if (!obs || !w || !msub(obs, topic, 1) || !manual_connect(w))
        goto out;
    shutdown(mosquitto_socket(w->m), SHUT_RDWR);
    expect_msg(obs, 1, topic, "socket died", 1, false);
    expect_count(obs, 1);
out:
    mctx_free(&w);
    mctx_free(&obs);
}

static void test_no_will_after_disconnect(void)
{
    const char *topic = tl_name("mosq/nowill");
    struct mctx *obs = mctx_connect(tl_name("obs"), true, NULL);
    struct mctx *w = mctx_new(tl_name("polite"), true, topic, "must not appear", 1);
    double deadline = tl_now() + TL_WAIT;
    if (!obs || !w || !msub(obs, topic, 1) || !manual_connect(w))
        goto out;
    CHECK(mosquitto_disconnect(w->m) == MOSQ_ERR_SUCCESS);
    while (atomic_load(&w->disconnected) == 0 && tl_now() < deadline)
        mosquitto_loop(w->m, 50, 1);
    CHECK(atomic_load(&w->disconnected) == 1);
    expect_count(obs, 0);
out:
    mctx_free(&w);
    mctx_free(&obs);
}

static void test_offline_queue(void)
{
    const char *topic = tl_name("mosq/offline");
    const char *id = tl_name("persistent");
    int present = -1;
    struct mctx *s = mctx_connect(id, false, &present);
    struct mctx *p = NULL;
    if (!s)
        return;
    CHECKF(present == 0, "first connect: session present %d", present);
    if (!msub(s, topic, 2))
        goto out;
    mctx_free(&s); /* DISCONNECT: the session stays */
    p = mctx_connect(tl_name("pub"), true, NULL);
    if (!p || !mpub(p, topic, "queued 1", 1, false) || !mpub(p, topic, "not queued", 0, false) ||
        !mpub(p, topic, "queued 2", 2, false))
        goto out;
    s = mctx_connect(id, false, &present);
    if (!s)
        goto out;
    CHECKF(present == 1, "reconnect: session present %d", present);
    if (expect_msg(s, 2, topic, "queued 2", 2, false))
        expect_count(s, 2);
    mctx_free(&s);
    s = mctx_connect(id, true, NULL); /* drop the session */
out:
    mctx_free(&s);
    mctx_free(&p);
}

static void test_unsubscribe(void)
{
    const char *topic = tl_name("mosq/unsub");
    struct mctx *s = mctx_connect(tl_name("sub"), true, NULL);
    struct mctx *p = mctx_connect(tl_name("pub"), true, NULL);
    int rc;
    if (!s || !p || !msub(s, topic, 1) || !mpub(p, topic, "before", 1, false))
        goto out;
    expect_msg(s, 1, topic, "before", 1, false);
    rc = mosquitto_unsubscribe(s->m, NULL, topic);
    if (!CHECKF(rc == MOSQ_ERR_SUCCESS, "unsubscribe: %s", mosquitto_strerror(rc)) ||
        !CHECKF(wait_atomic(&s->unsubscribed, 1, TL_WAIT) == 1, "no UNSUBACK"))
        goto out;
    mpub(p, topic, "after", 1, false);
    expect_count(s, 1);
out:
    mctx_free(&s);
    mctx_free(&p);
}

static void test_broker_exits_cleanly(void)
{
    int status = tl_broker_stop(&broker);
    CHECKF(status == 0, "broker exit status %d on SIGTERM", status);
}

int main(void)
{
    int rc;
    tl_init("client_mosquitto", 120);
    mosquitto_lib_init();
    if (tl_broker_start(&broker, NULL) != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    tl_run("qos_round_trips", test_qos_round_trips);
    tl_run("retained", test_retained);
    tl_run("will_on_socket_shutdown", test_will_on_socket_shutdown);
    tl_run("no_will_after_disconnect", test_no_will_after_disconnect);
    tl_run("offline_queue", test_offline_queue);
    tl_run("unsubscribe", test_unsubscribe);
    tl_run("broker_exits_cleanly", test_broker_exits_cleanly);
    rc = tl_finish();
    mosquitto_lib_cleanup();
    return rc;
}
