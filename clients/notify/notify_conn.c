/*
 * notify_conn.c - the broker connection of mqchat-notify (see
 * notify_conn.h).
 *
 * Each connection attempt uses a fresh libmosquitto handle: a handle that
 * lost its connection would, on reconnecting, resend its unacknowledged
 * publish by itself, and this module wants to decide what is sent again.
 * The loop is driven here (mosquitto_loop), never by a libmosquitto thread.
 *
 * What the broker says, and what we make of it:
 *
 *   CONNACK 0                         connected
 *   CONNACK 3 / 0x88 / 0x89           server unavailable or busy: retried
 *   any other CONNACK refusal         NOTIFY_AUTH, not retried
 *   PUBACK < 0x80                     NOTIFY_OK
 *   PUBACK 0x87                       NOTIFY_NOT_ALLOWED
 *   PUBACK >= 0x80, other             NOTIFY_REJECTED
 *   3.1.1: PUBACK + a notice          the notice's `code`, mapped as above
 *   nothing / connection lost         retried; NOTIFY_UNREACHABLE at the end
 */
#include "notify_conn.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/safetext.h"

#define RETRY_DELAY_MAX_MS 10000
#define NOTICE_GRACE_MS    50 /* 3.1.1: how long a notice may trail its PUBACK */

enum conn_state {
    NC_DOWN,       /* no handle */
    NC_CONNECTING, /* CONNECT sent (or TCP/TLS under way), no CONNACK yet */
    NC_UP,         /* CONNACK 0 */
    NC_REFUSED,    /* CONNACK with a refusal (connack holds it) */
    NC_LOST,       /* the connection broke */
};

struct notify_conn {
    const struct notify_opts *o;
    struct mosquitto *mosq; /* NULL while NC_DOWN */
    enum conn_state state;
    int connack;       /* the CONNACK's return code / reason code */
    int disconnect_rc; /* on_disconnect's rc (a reason code for MQTT 5 DISCONNECT) */

    int mid;        /* the publish awaiting its acknowledgement; 0 if none */
    bool acked;     /* its PUBACK came */
    int ack_reason; /* the PUBACK's reason code (always 0 with 3.1.1) */

    int sub_mid;      /* 3.1.1: SUBSCRIBE to the events topic, 0 once answered */
    bool sub_ok;      /* granted: notices will come */
    char events[128]; /* PREFIX/user/USER/events with 3.1.1, else "" */

    const char *topic;      /* of the publish in flight (for matching notices) */
    bool notice;            /* a notice about it came */
    int notice_code;        /* its `code` */
    char notice_reason[64]; /* its `reason` */

    char err[512];
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static void set_err(struct notify_conn *nc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(nc->err, sizeof(nc->err), fmt, ap);
    va_end(ap);
}

/* ---- callbacks ---------------------------------------------------------- */

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    struct notify_conn *nc = obj;
    if (rc == 0) {
        nc->state = NC_UP;
    } else {
        nc->state = NC_REFUSED;
        nc->connack = rc;
    }
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props)
{
    struct notify_conn *nc = obj;
    if (nc->state == NC_UP || nc->state == NC_CONNECTING) {
        nc->state = NC_LOST;
        nc->disconnect_rc = rc;
    }
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
                       const mosquitto_property *props)
{
    struct notify_conn *nc = obj;
    if (nc->mid && mid == nc->mid) {
        nc->acked = true;
        nc->ack_reason = reason;
    }
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count, const int *granted,
                         const mosquitto_property *props)
{
    struct notify_conn *nc = obj;
    if (mid == nc->sub_mid) {
        nc->sub_mid = 0;
        nc->sub_ok = count > 0 && granted[0] < 0x80;
    }
}

/* A notice on the events topic: {"type":"notice","event":"rejected",
 * "topic":T,"reason":R,"code":C} about the publish in flight. */
static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m,
                       const mosquitto_property *props)
{
    struct notify_conn *nc = obj;
    if (!nc->topic || !nc->events[0] || strcmp(m->topic, nc->events) != 0)
        return;
    cJSON *doc = cJSON_ParseWithLength(m->payload, (size_t)m->payloadlen);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(doc, "type");
    const cJSON *topic = cJSON_GetObjectItemCaseSensitive(doc, "topic");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(doc, "reason");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(doc, "code");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "notice") && cJSON_IsString(topic) &&
        !strcmp(topic->valuestring, nc->topic) && cJSON_IsNumber(code)) {
        nc->notice = true;
        nc->notice_code = code->valueint;
        /* printed to stderr later: made safe for a terminal (safetext.h) */
        const char *why = cJSON_IsString(reason) ? reason->valuestring : "refused";
        safetext_copy(nc->notice_reason, sizeof(nc->notice_reason), why, strlen(why), 0);
    }
    cJSON_Delete(doc);
}

/* ---- connecting --------------------------------------------------------- */

static void drop(struct notify_conn *nc)
{
    if (nc->mosq) {
        if (nc->state == NC_UP)
            mosquitto_disconnect(nc->mosq);
        mosquitto_destroy(nc->mosq);
    }
    nc->mosq = NULL;
    nc->state = NC_DOWN;
    nc->mid = 0;
    nc->sub_mid = 0;
    nc->sub_ok = false;
}

/* Why libmosquitto call rc failed, in words. */
static const char *mosq_why(int rc, int saved_errno)
{
    if (rc == MOSQ_ERR_ERRNO)
        return strerror(saved_errno);
    if (rc == MOSQ_ERR_TLS)
        return "TLS handshake failed (certificate not trusted, or not TLS)";
    if (rc == MOSQ_ERR_EAI)
        return "host name lookup failed";
    return mosquitto_strerror(rc);
}

/* Makes and configures a handle. NOTIFY_OK, or NOTIFY_USAGE (a TLS file
 * that cannot be used, out of memory) with nc->err set. */
static int make_handle(struct notify_conn *nc)
{
    const struct notify_opts *o = nc->o;
    int rc;
    nc->mosq = mosquitto_new(o->client_id, true, nc);
    if (!nc->mosq) {
        set_err(nc, "cannot make a client: %s",
                errno == EINVAL ? "bad client id" : "out of memory");
        return NOTIFY_USAGE;
    }
    mosquitto_int_option(nc->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                         o->version == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    mosquitto_connect_v5_callback_set(nc->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(nc->mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(nc->mosq, on_publish);
    mosquitto_subscribe_v5_callback_set(nc->mosq, on_subscribe);
    mosquitto_message_v5_callback_set(nc->mosq, on_message);
    if (o->username && mosquitto_username_pw_set(nc->mosq, o->username, o->password)) {
        set_err(nc, "the user name or password is not usable (not UTF-8, or too long)");
        return NOTIFY_USAGE;
    }
    if (o->tls) {
        /* Without a CA of our own, the system's CAs (which alone turn TLS on:
         * mosquitto_tls_set() wants a CA file or directory). */
        if (!o->cafile && !o->capath)
            rc = mosquitto_int_option(nc->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
        else
            rc = mosquitto_tls_set(nc->mosq, o->cafile, o->capath, o->certfile, o->keyfile, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            set_err(nc, "TLS setup: %s (check --cafile, --capath, --cert, --key)",
                    rc == MOSQ_ERR_INVAL ? "a file cannot be read" : mosquitto_strerror(rc));
            return NOTIFY_USAGE;
        }
        if (o->insecure) {
            mosquitto_tls_opts_set(nc->mosq, 0 /* SSL_VERIFY_NONE */, NULL, NULL);
            mosquitto_tls_insecure_set(nc->mosq, true);
        }
    }
    return NOTIFY_OK;
}

/* Runs the loop until pred(nc) or the deadline; returns the loop's last rc
 * (MOSQ_ERR_SUCCESS also when the deadline passed). *saved gets errno of a
 * failed loop. */
static int pump(struct notify_conn *nc, bool (*pred)(const struct notify_conn *),
                long long deadline, int *saved)
{
    while (!pred(nc)) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return MOSQ_ERR_SUCCESS;
        errno = 0;
        int rc = mosquitto_loop(nc->mosq, left < 100 ? (int)left : 100, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            *saved = errno;
            return rc;
        }
    }
    return MOSQ_ERR_SUCCESS;
}

static bool not_connecting(const struct notify_conn *nc)
{
    return nc->state != NC_CONNECTING;
}

static bool subscribed(const struct notify_conn *nc)
{
    return nc->sub_mid == 0 || nc->state != NC_UP;
}

static bool answered(const struct notify_conn *nc)
{
    return nc->acked || nc->state != NC_UP;
}

/* One connection attempt. Returns NOTIFY_OK (connected), NOTIFY_AUTH
 * (refused for good), NOTIFY_USAGE (local), or NOTIFY_UNREACHABLE (worth
 * another try); nc->err says why. */
static int connect_once(struct notify_conn *nc)
{
    const struct notify_opts *o = nc->o;
    int rc = make_handle(nc);
    if (rc != NOTIFY_OK) {
        drop(nc);
        return rc;
    }
    nc->state = NC_CONNECTING;
    long long deadline = now_ms() + o->timeout_ms;
    errno = 0;
    rc = mosquitto_connect_async(nc->mosq, o->host, o->port, o->keepalive);
    int saved = errno;
    if (rc == MOSQ_ERR_SUCCESS)
        rc = pump(nc, not_connecting, deadline, &saved);
    if (nc->state == NC_REFUSED) {
        int code = nc->connack;
        bool transient = o->version == 5
                             ? (code == MQTT_RC_SERVER_UNAVAILABLE || code == MQTT_RC_SERVER_BUSY)
                             : code == 3;
        set_err(nc, "%s:%d refused the login as '%s': %s (CONNACK %s0x%02x)", o->host, o->port,
                o->username ? o->username : "(anonymous)",
                o->version == 5 ? mosquitto_reason_string(code) : mosquitto_connack_string(code),
                o->version == 5 ? "reason " : "", code);
        drop(nc);
        return transient ? NOTIFY_UNREACHABLE : NOTIFY_AUTH;
    }
    if (nc->state == NC_UP && o->version == 311 && o->username &&
        snprintf(nc->events, sizeof(nc->events), "%s/user/%s/events", o->prefix, o->username) <
            (int)sizeof(nc->events)) {
        /* The only way a 3.1.1 publisher hears of a refusal. */
        if (mosquitto_subscribe(nc->mosq, &nc->sub_mid, nc->events, 0) == MOSQ_ERR_SUCCESS)
            rc = pump(nc, subscribed, deadline, &saved);
        else
            nc->sub_mid = 0;
        if (nc->sub_mid) /* no SUBACK in time: go on without notices */
            nc->sub_mid = 0;
    }
    if (nc->state == NC_UP)
        return NOTIFY_OK;
    if (nc->state == NC_CONNECTING && rc == MOSQ_ERR_SUCCESS)
        set_err(nc, "%s:%d: no CONNACK within %d ms", o->host, o->port, o->timeout_ms);
    else if (nc->state == NC_LOST && rc == MOSQ_ERR_SUCCESS)
        set_err(nc, "%s:%d closed the connection", o->host, o->port);
    else
        set_err(nc, "%s:%d: %s", o->host, o->port, mosq_why(rc, saved));
    drop(nc);
    return NOTIFY_UNREACHABLE;
}

/* ---- publishing --------------------------------------------------------- */

/* The exit code and words of a refusal with reason code (0x80 and up). */
static int refusal(struct notify_conn *nc, const char *topic, int code, const char *word)
{
    const char *hint;
    switch (code) {
    case MQTT_RC_NOT_AUTHORIZED:
        hint = "the login lacks the service role, or may not post there";
        break;
    case MQTT_RC_TOPIC_NAME_INVALID:
        hint = "no such room, or not a topic of the chat protocol";
        break;
    case MQTT_RC_PAYLOAD_FORMAT_INVALID:
        hint = "the payload was refused: empty, too long, or not valid UTF-8";
        break;
    case MQTT_RC_QUOTA_EXCEEDED:
        hint = "over a rate limit, or the broker's spool is full";
        break;
    default:
        hint = mosquitto_reason_string(code);
        break;
    }
    if (word)
        set_err(nc, "%s on %s: %s (notice '%s', code 0x%02x)",
                code == MQTT_RC_NOT_AUTHORIZED ? "not allowed" : "rejected", topic, hint, word,
                code);
    else
        set_err(nc, "%s on %s: %s (PUBACK 0x%02x %s)",
                code == MQTT_RC_NOT_AUTHORIZED ? "not allowed" : "rejected", topic, hint, code,
                mosquitto_reason_string(code));
    return code == MQTT_RC_NOT_AUTHORIZED ? NOTIFY_NOT_ALLOWED : NOTIFY_REJECTED;
}

static bool never(const struct notify_conn *nc)
{
    return false;
}

/* One publish on an open connection. NOTIFY_OK / _NOT_ALLOWED / _REJECTED
 * when the broker answered; NOTIFY_UNREACHABLE when it did not (the
 * connection is then dropped). */
static int publish_once(struct notify_conn *nc, const char *topic, const void *payload, size_t len)
{
    const struct notify_opts *o = nc->o;
    int saved = 0;
    nc->acked = false;
    nc->ack_reason = 0;
    nc->notice = false;
    nc->topic = topic;
    int rc = mosquitto_publish_v5(nc->mosq, &nc->mid, topic, (int)len, payload, 1, false, NULL);
    if (rc == MOSQ_ERR_PAYLOAD_SIZE || rc == MOSQ_ERR_OVERSIZE_PACKET) {
        nc->mid = 0;
        set_err(nc, "rejected: %zu bytes is more than the broker takes (%s)", len,
                mosquitto_strerror(rc));
        return NOTIFY_REJECTED;
    }
    if (rc == MOSQ_ERR_SUCCESS)
        rc = pump(nc, answered, now_ms() + o->timeout_ms, &saved);
    int mid_was = nc->mid;
    nc->mid = 0;
    if (nc->acked) {
        if (nc->events[0] && nc->sub_ok && !nc->notice) /* a notice may trail its PUBACK */
            pump(nc, never, now_ms() + NOTICE_GRACE_MS, &saved);
        nc->topic = NULL;
        if (nc->ack_reason >= 0x80)
            return refusal(nc, topic, nc->ack_reason, NULL);
        if (nc->notice && nc->notice_code >= 0x80)
            return refusal(nc, topic, nc->notice_code, nc->notice_reason);
        return NOTIFY_OK;
    }
    nc->topic = NULL;
    if (nc->state == NC_LOST && o->version == 5 && nc->disconnect_rc >= 0x80)
        set_err(nc, "the broker closed the connection before acknowledging (DISCONNECT 0x%02x %s)",
                nc->disconnect_rc, mosquitto_reason_string(nc->disconnect_rc));
    else if (nc->state == NC_LOST || rc != MOSQ_ERR_SUCCESS)
        set_err(nc, "the connection broke before the acknowledgement (%s)",
                rc != MOSQ_ERR_SUCCESS ? mosq_why(rc, saved) : "closed by the broker");
    else
        set_err(nc, "no acknowledgement of message %d within %d ms", mid_was, o->timeout_ms);
    drop(nc);
    return NOTIFY_UNREACHABLE;
}

/* ---- the interface ------------------------------------------------------ */

struct notify_conn *notify_conn_new(const struct notify_opts *o)
{
    struct notify_conn *nc = calloc(1, sizeof(*nc));
    if (nc)
        nc->o = o;
    return nc;
}

int notify_conn_publish(struct notify_conn *nc, const char *topic, const void *payload, size_t len)
{
    const struct notify_opts *o = nc->o;
    nc->err[0] = '\0';
    for (int attempt = 0;; attempt++) {
        int rc = nc->state == NC_UP ? NOTIFY_OK : connect_once(nc);
        if (rc == NOTIFY_OK)
            rc = publish_once(nc, topic, payload, len);
        if (rc != NOTIFY_UNREACHABLE)
            return rc;
        if (attempt >= o->retries) {
            if (o->retries) {
                char why[sizeof(nc->err)];
                snprintf(why, sizeof(why), "%s", nc->err);
                set_err(nc, "%s (gave up after %d attempts)", why, attempt + 1);
            }
            return NOTIFY_UNREACHABLE;
        }
        /* doubles up to 10 s, or stays at --retry-delay when that is longer */
        long long delay = (long long)o->retry_delay_ms << (attempt < 20 ? attempt : 20);
        long long cap = o->retry_delay_ms > RETRY_DELAY_MAX_MS ? o->retry_delay_ms : RETRY_DELAY_MAX_MS;
        if (delay > cap)
            delay = cap;
        if (!o->quiet)
            fprintf(stderr, "mqchat-notify: %s; retrying in %lld ms (%d of %d)\n", nc->err, delay,
                    attempt + 1, o->retries);
        sleep_ms((int)delay);
    }
}

const char *notify_conn_error(const struct notify_conn *nc)
{
    return nc->err;
}

void notify_conn_service(struct notify_conn *nc, int timeout_ms)
{
    if (nc->state != NC_UP) {
        if (timeout_ms > 0)
            sleep_ms(timeout_ms);
        return;
    }
    int saved = 0;
    int rc = pump(nc, never, now_ms() + timeout_ms, &saved);
    if (rc != MOSQ_ERR_SUCCESS || nc->state != NC_UP)
        drop(nc);
}

void notify_conn_free(struct notify_conn *nc)
{
    if (!nc)
        return;
    drop(nc);
    free(nc);
}
