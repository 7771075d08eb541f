/*
 * link.c - the MQTT side of mqchat-display (see link.h): libmosquitto in
 * the caller's thread (mosquitto_loop), reconnection with back-off, the
 * room's subscriptions and the history request made at every connect.
 * Not here: what a message means to the view (room_view.c), drawing.
 */
#include "link.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS   60000
#define CORRELATION      "mqchat-display"

struct link {
    struct mosquitto *mosq;
    struct link_opts o;
    struct room_view *view;
    char room_topic[256];     /* {prefix}/room/{room} */
    char system_topic[272];   /* .../system */
    char presence_topic[272]; /* .../presence */
    char history_topic[272];  /* .../history: where requests go */
    char events_topic[256];   /* {prefix}/user/{user}/events: where answers come */
    bool socket_up;           /* A TCP connection exists (CONNACK or not). */
    bool ever_connected;      /* Some CONNACK accepted us once. */
    int refused;              /* Reason code of the last refused CONNACK, 0 none. */
    int fatal;                /* LINK_EAUTH / LINK_EDENIED once decided, else 0. */
    int sub_mid;              /* Message id of our SUBSCRIBE, -1 none pending. */
    bool changed;             /* The view changed during this step. */
    long backoff_ms;          /* The next delay before jitter. */
    long long next_try_ms;    /* Monotonic ms of the next connection attempt. */
};

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_event(const struct link *l, const char *what, const char *detail)
{
    if (l->o.verbose)
        fprintf(stderr, "mqchat-display: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
}

static void set_link(struct link *l, enum room_link s)
{
    if (l->view->link != s) {
        l->view->link = s;
        l->changed = true;
    }
}

/* Plans the next attempt after the current delay (+-25%), and doubles it. */
static void schedule_retry(struct link *l)
{
    long d = l->backoff_ms;
    long jitter = d / 2 ? (long)(random() % (d / 2 + 1)) - d / 4 : 0;
    l->next_try_ms = mono_ms() + d + jitter;
    l->backoff_ms = d * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d * 2;
    if (l->o.verbose)
        fprintf(stderr, "mqchat-display: next attempt in %.1f s\n", (double)(d + jitter) / 1000);
}

/* Asks the room's latest messages; the answer comes on events_topic. */
static void request_history(struct link *l)
{
    mosquitto_property *props = NULL;
    char body[96];
    int n =
        snprintf(body, sizeof(body), "{\"limit\":%d,\"req\":\"" CORRELATION "\"}", l->o.history);
    if (mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, l->events_topic) ||
        mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, CORRELATION,
                                      (uint16_t)strlen(CORRELATION))) {
        mosquitto_property_free_all(&props);
        return; /* out of memory: the live messages still come */
    }
    int rc = mosquitto_publish_v5(l->mosq, NULL, l->history_topic, n, body, 0, false, props);
    if (rc != MOSQ_ERR_SUCCESS)
        log_event(l, "history request not sent", mosquitto_strerror(rc));
    mosquitto_property_free_all(&props);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    struct link *l = obj;
    if (rc != 0) {
        l->refused = rc;
        log_event(l, "connection refused", mosquitto_reason_string(rc));
        if (!l->ever_connected &&
            (rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD || rc == MQTT_RC_NOT_AUTHORIZED ||
             rc == MQTT_RC_BAD_AUTHENTICATION_METHOD || rc == MQTT_RC_BANNED))
            l->fatal = LINK_EAUTH;
        return;
    }
    l->ever_connected = true;
    l->refused = 0;
    l->backoff_ms = BACKOFF_FIRST_MS;
    log_event(l, "connected", NULL);
    char *subs[] = {l->room_topic, l->system_topic, l->presence_topic};
    if (mosquitto_subscribe_multiple(mosq, &l->sub_mid, 3, subs, 0, 0, NULL) != MOSQ_ERR_SUCCESS) {
        l->sub_mid = -1;
        mosquitto_disconnect(mosq); /* try again from the start */
    }
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *granted,
                         const mosquitto_property *props)
{
    struct link *l = obj;
    if (mid != l->sub_mid)
        return;
    l->sub_mid = -1;
    if (n < 1 || granted[0] >= 0x80) {
        fprintf(stderr, "mqchat-display: may not read room '%s' (SUBACK 0x%02x)\n", l->o.room,
                n < 1 ? 0x80 : (unsigned)granted[0]);
        l->fatal = LINK_EDENIED;
        return;
    }
    set_link(l, ROOM_LINK_LIVE);
    request_history(l);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m,
                       const mosquitto_property *props)
{
    struct link *l = obj;
    const char *p = m->payload ? m->payload : "";
    size_t len = (size_t)m->payloadlen;
    int rc = 0;
    if (strcmp(m->topic, l->room_topic) == 0 || strcmp(m->topic, l->system_topic) == 0)
        rc = room_view_add_json(l->view, p, len);
    else if (strcmp(m->topic, l->presence_topic) == 0)
        rc = room_view_presence_json(l->view, p, len);
    else if (strcmp(m->topic, l->events_topic) == 0)
        rc = room_view_history_json(l->view, p, len); /* other events: DISPLAY_EINVAL, ignored */
    if (rc == 1)
        l->changed = true;
}

int link_new(const struct link_opts *o, struct room_view *v, struct link **out)
{
    struct link *l = calloc(1, sizeof(*l));
    if (!l)
        return DISPLAY_ENOMEM;
    l->o = *o;
    l->view = v;
    l->sub_mid = -1;
    l->backoff_ms = BACKOFF_FIRST_MS;
    snprintf(l->room_topic, sizeof(l->room_topic), "%s/room/%s", o->prefix, o->room);
    snprintf(l->system_topic, sizeof(l->system_topic), "%s/system", l->room_topic);
    snprintf(l->presence_topic, sizeof(l->presence_topic), "%s/presence", l->room_topic);
    snprintf(l->history_topic, sizeof(l->history_topic), "%s/history", l->room_topic);
    snprintf(l->events_topic, sizeof(l->events_topic), "%s/user/%s/events", o->prefix, o->user);
    srandom((unsigned)(time(NULL) ^ (getpid() << 8)));
    char client_id[96];
    snprintf(client_id, sizeof(client_id), "display-%.64s-%ld", o->user, (long)getpid());
    l->mosq = mosquitto_new(client_id, true, l);
    if (!l->mosq) {
        free(l);
        return DISPLAY_ENOMEM;
    }
    int rc = mosquitto_int_option(l->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_username_pw_set(l->mosq, o->user, o->password);
    if (rc == MOSQ_ERR_SUCCESS && o->cafile) {
        rc = mosquitto_tls_set(l->mosq, o->cafile, NULL, NULL, NULL, NULL);
        if (rc == MOSQ_ERR_SUCCESS && o->insecure)
            rc = mosquitto_tls_insecure_set(l->mosq, true);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "mqchat-display: %s\n", mosquitto_strerror(rc));
        link_free(l);
        return rc == MOSQ_ERR_NOMEM ? DISPLAY_ENOMEM : LINK_ESETUP;
    }
    mosquitto_connect_v5_callback_set(l->mosq, on_connect);
    mosquitto_subscribe_v5_callback_set(l->mosq, on_subscribe);
    mosquitto_message_v5_callback_set(l->mosq, on_message);
    *out = l;
    return DISPLAY_OK;
}

/* The connection is gone (or was refused): offline, and plan the next try. */
static void lost(struct link *l, const char *why)
{
    if (l->socket_up)
        mosquitto_disconnect(l->mosq);
    l->socket_up = false;
    l->sub_mid = -1;
    log_event(l, "offline", why);
    set_link(l, ROOM_LINK_OFFLINE);
    schedule_retry(l);
}

int link_step(struct link *l, int timeout_ms, bool *changed)
{
    l->changed = false;
    *changed = false;
    if (!l->socket_up) {
        long long wait = l->next_try_ms - mono_ms();
        if (wait > 0) {
            poll(NULL, 0, wait < timeout_ms ? (int)wait : timeout_ms); /* a signal ends it */
            return DISPLAY_OK;
        }
        l->refused = 0;
        int rc =
            mosquitto_connect_bind_v5(l->mosq, l->o.host, l->o.port, l->o.keepalive, NULL, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            lost(l, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
            *changed = l->changed;
            return DISPLAY_OK;
        }
        l->socket_up = true;
        timeout_ms = timeout_ms < 100 ? timeout_ms : 100; /* the CONNACK comes soon */
    }
    int rc = mosquitto_loop(l->mosq, timeout_ms, 1);
    if (l->fatal) {
        *changed = l->changed;
        return l->fatal;
    }
    if (rc == MOSQ_ERR_NOMEM)
        return DISPLAY_ENOMEM;
    if (l->refused)
        lost(l, "refused");
    else if (rc != MOSQ_ERR_SUCCESS)
        lost(l, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    *changed = l->changed;
    return DISPLAY_OK;
}

void link_close(struct link *l)
{
    if (l->socket_up) {
        mosquitto_disconnect(l->mosq);
        mosquitto_loop(l->mosq, 10, 1); /* lets the DISCONNECT out */
        l->socket_up = false;
    }
}

void link_free(struct link *l)
{
    if (!l)
        return;
    mosquitto_destroy(l->mosq);
    free(l);
}
