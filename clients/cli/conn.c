/*
 * conn.c - Paho MQTTAsync made blocking (see conn.h).
 *
 * Each blocking call allocates a waiter shared with Paho's callback: both
 * hold a reference and the last one frees it, so a call that times out
 * never leaves the callback writing into freed memory.
 */
#include "conn.h"
#include "opts.h"

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct conn {
    MQTTAsync cli;
    struct conn_opts o;     /* copies of the caller's strings */
    char *url, *client_id, *user, *password, *cafile;
    conn_message_fn *on_message;
    conn_lost_fn *on_lost;
    conn_up_fn *on_up;
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int connected;          /* guarded by mu */
};

struct conn__wait {
    struct conn *c;
    int refs;               /* 2 while both the caller and the callback may touch it */
    int done;
    int ok;
    int code;               /* Paho's error code on failure */
    int reason;             /* MQTT reason code */
    int session_present;
};

static struct conn__wait *conn__wait_new(struct conn *c)
{
    struct conn__wait *w = calloc(1, sizeof *w);
    if (w) {
        w->c = c;
        w->refs = 2;
    }
    return w;
}

/* Drops one reference; c->mu must be held. */
static void conn__wait_unref(struct conn__wait *w)
{
    if (--w->refs == 0)
        free(w);
}

static void conn__finish(struct conn__wait *w, int ok, int code, int reason, int sp)
{
    struct conn *c = w->c;
    pthread_mutex_lock(&c->mu);
    w->done = 1;
    w->ok = ok;
    w->code = code;
    w->reason = reason;
    w->session_present = sp;
    pthread_cond_broadcast(&c->cv);
    conn__wait_unref(w);
    pthread_mutex_unlock(&c->mu);
}

static void conn__on_success(void *ctx, MQTTAsync_successData5 *r)
{
    conn__finish(ctx, 1, 0, r ? (int)r->reasonCode : 0, -1);
}

static void conn__on_failure(void *ctx, MQTTAsync_failureData5 *r)
{
    conn__finish(ctx, 0, r ? r->code : MQTTASYNC_FAILURE, r ? (int)r->reasonCode : 0, -1);
}

static void conn__on_connect(void *ctx, MQTTAsync_successData5 *r)
{
    struct conn__wait *w = ctx;
    struct conn *c = w->c;
    pthread_mutex_lock(&c->mu);
    c->connected = 1;
    pthread_mutex_unlock(&c->mu);
    if (c->on_up)
        c->on_up(c->ctx, r ? r->alt.connect.sessionPresent : 0);
    conn__finish(w, 1, 0, 0, r ? r->alt.connect.sessionPresent : 0);
}

/* Waits for w until the timeout; returns 1 when done. Drops the caller's
 * reference only via conn__wait_release(). */
static int conn__await(struct conn__wait *w, int timeout_ms)
{
    struct conn *c = w->c;
    struct timespec ts;
    int done;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    while (!w->done && pthread_cond_timedwait(&c->cv, &c->mu, &ts) == 0)
        ;
    done = w->done;
    pthread_mutex_unlock(&c->mu);
    return done;
}

static void conn__wait_release(struct conn__wait *w)
{
    struct conn *c = w->c;
    pthread_mutex_lock(&c->mu);
    conn__wait_unref(w);
    pthread_mutex_unlock(&c->mu);
}

static void conn__lost(void *ctx, char *cause)
{
    struct conn *c = ctx;
    pthread_mutex_lock(&c->mu);
    c->connected = 0;
    pthread_mutex_unlock(&c->mu);
    if (c->on_lost)
        c->on_lost(c->ctx, cause ? cause : "connection lost");
}

/* The broker sent DISCONNECT (MQTT 5), e.g. when it shuts down. */
static void conn__disconnected(void *ctx, MQTTProperties *props, enum MQTTReasonCodes reason)
{
    char cause[96];
    (void)props;
    snprintf(cause, sizeof cause, "the broker closed the connection: %s",
             conn_reason_string((int)reason));
    conn__lost(ctx, cause);
}

static int conn__arrived(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct conn *c = ctx;
    char *t = topic_len > 0 ? strndup(topic, (size_t)topic_len) : NULL;
    if (c->on_message)
        c->on_message(c->ctx, t ? t : topic, m->payload, (size_t)m->payloadlen);
    free(t);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static char *conn__dup(const char *z, int *fail)
{
    char *d;
    if (!z)
        return NULL;
    d = strdup(z);
    if (!d)
        *fail = 1;
    return d;
}

int conn_create(struct conn **out, const struct conn_opts *o, conn_message_fn *on_message,
                conn_lost_fn *on_lost, void *ctx)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    struct conn *c = calloc(1, sizeof *c);
    int fail = 0;

    *out = NULL;
    if (!c)
        return CONN_ENOMEM;
    c->o = *o;
    c->url = conn__dup(o->url, &fail);
    c->client_id = conn__dup(o->client_id, &fail);
    c->user = conn__dup(o->user, &fail);
    c->password = conn__dup(o->password, &fail);
    c->cafile = conn__dup(o->cafile, &fail);
    c->on_message = on_message;
    c->on_lost = on_lost;
    c->ctx = ctx;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (fail)
        goto err;
    if (!c->url || !c->client_id) {
        conn_destroy(c);
        return CONN_EINVAL;
    }
    co.sendWhileDisconnected = 0;
    if (MQTTAsync_createWithOptions(&c->cli, c->url, c->client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                    NULL, &co) != MQTTASYNC_SUCCESS) {
        c->cli = NULL;
        conn_destroy(c);
        return CONN_EINVAL;
    }
    MQTTAsync_setCallbacks(c->cli, c, conn__lost, conn__arrived, NULL);
    MQTTAsync_setDisconnected(c->cli, c, conn__disconnected);
    *out = c;
    return CONN_OK;
err:
    conn_destroy(c);
    return CONN_ENOMEM;
}

void conn_set_on_up(struct conn *c, conn_up_fn *on_up)
{
    c->on_up = on_up;
}

int conn_set_password(struct conn *c, const char *password)
{
    char *d = NULL;
    if (password && !(d = strdup(password)))
        return CONN_ENOMEM;
    if (c->password) {
        memset(c->password, 0, strlen(c->password));
        free(c->password);
    }
    c->password = d;
    return CONN_OK;
}

static int conn__is_tls(const char *url)
{
    return !strncmp(url, "ssl://", 6) || !strncmp(url, "wss://", 6) || !strncmp(url, "mqtts://", 8);
}

int conn_connect(struct conn *c, int *session_present, int *reason)
{
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty p;
    struct conn__wait *w = conn__wait_new(c);
    int rc;

    if (session_present)
        *session_present = 0;
    if (reason)
        *reason = 0;
    if (!w)
        return CONN_ENOMEM;
    if (!strncmp(c->url, "ws://", 5) || !strncmp(c->url, "wss://", 6)) {
        MQTTAsync_connectOptions ws = MQTTAsync_connectOptions_initializer5_ws;
        co = ws;
    }
    co.keepAliveInterval = c->o.keepalive;
    co.cleanstart = c->o.clean;
    co.username = c->user;
    co.password = c->password;
    co.connectTimeout = (c->o.timeout_ms + 999) / 1000;
    co.automaticReconnect = 0;
    co.onSuccess5 = conn__on_connect;
    co.onFailure5 = conn__on_failure;
    co.context = w;
    if (c->o.session_expiry) {
        p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
        p.value.integer4 = c->o.session_expiry;
        MQTTProperties_add(&props, &p);
        co.connectProperties = &props;
    }
    if (conn__is_tls(c->url)) {
        ssl.trustStore = c->cafile;
        ssl.enableServerCertAuth = !c->o.insecure;
        ssl.verify = !c->o.insecure;
        co.ssl = &ssl;
    }
    rc = MQTTAsync_connect(c->cli, &co);
    MQTTProperties_free(&props);
    if (rc != MQTTASYNC_SUCCESS) {
        pthread_mutex_lock(&c->mu);
        conn__wait_unref(w); /* the callback will never run */
        pthread_mutex_unlock(&c->mu);
        conn__wait_release(w);
        return rc == MQTTASYNC_BAD_PROTOCOL ? CONN_EINVAL : CONN_EUNREACHABLE;
    }
    if (!conn__await(w, c->o.timeout_ms + 2000)) {
        conn__wait_release(w);
        return CONN_ETIMEOUT;
    }
    /* Paho 1.3 reports a CONNACK refusal's reason code in `code`. */
    if (!w->ok && w->reason < 0x80 && w->code >= 0x80 && w->code <= 0xFF)
        w->reason = w->code;
    if (w->ok) {
        if (session_present)
            *session_present = w->session_present;
        rc = CONN_OK;
    } else if (w->reason >= 0x80) {
        if (reason)
            *reason = w->reason;
        rc = (w->reason == 0x86 || w->reason == 0x87 || w->reason == 0x8C) ? CONN_EAUTH
                                                                             : CONN_EREFUSED;
    } else if (w->code == 4 || w->code == 5) {
        /* MQTT 3.1.1 return codes, should a broker answer with one */
        rc = CONN_EAUTH;
    } else {
        rc = CONN_EUNREACHABLE;
    }
    conn__wait_release(w);
    return rc;
}

int conn_connected(struct conn *c)
{
    int v;
    pthread_mutex_lock(&c->mu);
    v = c->connected && MQTTAsync_isConnected(c->cli);
    pthread_mutex_unlock(&c->mu);
    return v;
}

/* Finishes a request started with w: waits, maps the outcome. */
static int conn__result(struct conn *c, struct conn__wait *w, int rc, int *reason)
{
    if (reason)
        *reason = 0;
    if (rc != MQTTASYNC_SUCCESS) {
        pthread_mutex_lock(&c->mu);
        conn__wait_unref(w);
        pthread_mutex_unlock(&c->mu);
        conn__wait_release(w);
        return rc == MQTTASYNC_DISCONNECTED ? CONN_EDISCONNECTED : CONN_EUNREACHABLE;
    }
    if (!conn__await(w, c->o.timeout_ms)) {
        conn__wait_release(w);
        return CONN_ETIMEOUT;
    }
    if (reason)
        *reason = w->reason;
    if (w->ok && w->reason < 0x80)
        rc = CONN_OK;
    else if (w->reason >= 0x80)
        rc = CONN_EDENIED;
    else
        rc = conn_connected(c) ? CONN_ETIMEOUT : CONN_EDISCONNECTED;
    conn__wait_release(w);
    return rc;
}

int conn_subscribe(struct conn *c, const char *filter, int qos, int *reason)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    struct conn__wait *w = conn__wait_new(c);
    if (!w)
        return CONN_ENOMEM;
    ro.onSuccess5 = conn__on_success;
    ro.onFailure5 = conn__on_failure;
    ro.context = w;
    return conn__result(c, w, MQTTAsync_subscribe(c->cli, filter, qos, &ro), reason);
}

int conn_unsubscribe(struct conn *c, const char *filter)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    struct conn__wait *w = conn__wait_new(c);
    if (!w)
        return CONN_ENOMEM;
    ro.onSuccess5 = conn__on_success;
    ro.onFailure5 = conn__on_failure;
    ro.context = w;
    return conn__result(c, w, MQTTAsync_unsubscribe(c->cli, filter, &ro), NULL);
}

int conn_publish(struct conn *c, const char *topic, const void *payload, size_t len, int qos,
                 int *reason)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    struct conn__wait *w = conn__wait_new(c);
    if (!w)
        return CONN_ENOMEM;
    m.payload = (void *)payload;
    m.payloadlen = (int)len;
    m.qos = qos;
    ro.onSuccess5 = conn__on_success;
    ro.onFailure5 = conn__on_failure;
    ro.context = w;
    return conn__result(c, w, MQTTAsync_sendMessage(c->cli, topic, &m, &ro), reason);
}

void conn_disconnect(struct conn *c)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
    struct conn__wait *w;
    if (!MQTTAsync_isConnected(c->cli))
        return;
    w = conn__wait_new(c);
    if (!w)
        return;
    d.timeout = 1000;
    d.onSuccess5 = conn__on_success;
    d.onFailure5 = conn__on_failure;
    d.context = w;
    if (MQTTAsync_disconnect(c->cli, &d) == MQTTASYNC_SUCCESS)
        conn__await(w, 2000);
    else {
        pthread_mutex_lock(&c->mu);
        conn__wait_unref(w);
        pthread_mutex_unlock(&c->mu);
    }
    conn__wait_release(w);
    pthread_mutex_lock(&c->mu);
    c->connected = 0;
    pthread_mutex_unlock(&c->mu);
}

void conn_destroy(struct conn *c)
{
    if (!c)
        return;
    if (c->cli) {
        conn_disconnect(c);
        MQTTAsync_destroy(&c->cli);
    }
    if (c->password)
        memset(c->password, 0, strlen(c->password));
    free(c->url);
    free(c->client_id);
    free(c->user);
    free(c->password);
    free(c->cafile);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

const char *conn_strerror(int rc)
{
    switch (rc) {
    case CONN_OK: return "ok";
    case CONN_EAUTH: return "login refused";
    case CONN_EREFUSED: return "connection refused by the broker";
    case CONN_EUNREACHABLE: return "broker unreachable";
    case CONN_ETIMEOUT: return "no answer from the broker in time";
    case CONN_EDISCONNECTED: return "not connected";
    case CONN_EDENIED: return "refused by the broker";
    case CONN_ENOMEM: return "out of memory";
    case CONN_EINVAL: return "bad URL or options";
    }
    return "unknown error";
}

const char *conn_reason_string(int reason)
{
    const char *z = MQTTReasonCode_toString((enum MQTTReasonCodes)reason);
    return z ? z : "unknown reason";
}

int conn_exit_code(int rc)
{
    switch (rc) {
    case CONN_EAUTH: return MQCHAT_EXIT_AUTH;
    case CONN_EREFUSED: return MQCHAT_EXIT_DENIED;
    case CONN_EUNREACHABLE:
    case CONN_ETIMEOUT: return MQCHAT_EXIT_UNREACHABLE;
    case CONN_EINVAL: return MQCHAT_EXIT_USAGE;
    }
    return MQCHAT_EXIT_FAILED;
}

void conn_opts_from(struct conn_opts *co, const struct mqchat_opts *o, const char *client_id,
                    const char *user, const char *secret)
{
    memset(co, 0, sizeof(*co));
    co->url = o->url;
    co->client_id = client_id;
    co->user = user;
    co->password = secret;
    co->cafile = o->cafile;
    co->insecure = o->insecure;
    co->keepalive = o->keepalive;
    co->timeout_ms = o->timeout * 1000;
}
