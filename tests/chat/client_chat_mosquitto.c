/*
 * client_chat_mosquitto.c - chatting through mqchat with libmosquitto at
 * MQTT 3.1.1, as integrators' bots and scripts do (doc/protocol.md):
 *
 *   password_login   users made over HTTP (curl) with a password; the
 *                    password logs in (CONNACK 0), a wrong one gets 4
 *   room_chat        two users in a room: both get the envelope (from, room,
 *                    type, text, a decimal id), a forged "from" ignored
 *   refused_notice   a non-member publishing into a private room gets its
 *                    PUBACK (3.1.1 cannot refuse) and the notice on
 *                    chat/user/{user}/events; the room hears nothing
 *
 * Clients run libmosquitto's network thread; callbacks only fill a
 * mutex-protected queue and atomics that the test thread polls.
 */
#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatlib.h"

#define QMAX 32

static struct tl_broker broker;
static char alice[64], bob[64];
static const char *apw = "alice's \"secret\" \\ pw";
static const char *bpw = "bob pw; DROP TABLE users; --";

struct mctx {
    struct mosquitto *m;
    pthread_mutex_t mu;
    atomic_int connected; /* CONNACK code + 1 */
    atomic_int subscribed;
    atomic_int published;
    char topic[QMAX][160]; /* under mu */
    char *payload[QMAX];   /* under mu */
    int queued;            /* under mu */
    int taken;             /* test thread only */
};

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    atomic_store(&((struct mctx *)obj)->connected, rc + 1);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    atomic_store(&((struct mctx *)obj)->subscribed, n > 0 ? granted[0] + 1 : -1);
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    atomic_fetch_add(&((struct mctx *)obj)->published, 1);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    struct mctx *c = obj;
    pthread_mutex_lock(&c->mu);
    if (c->queued < QMAX) {
        char *p = malloc((size_t)msg->payloadlen + 1);
        if (p) {
            memcpy(p, msg->payload, (size_t)msg->payloadlen);
            p[msg->payloadlen] = '\0';
        }
        snprintf(c->topic[c->queued], sizeof c->topic[0], "%s", msg->topic);
        c->payload[c->queued++] = p;
    }
    pthread_mutex_unlock(&c->mu);
}

static int wait_atomic(atomic_int *v, int want, double timeout)
{
    double deadline = tl_now() + timeout;
    while (atomic_load(v) < want && tl_now() < deadline)
        tl_sleep_ms(5);
    return atomic_load(v);
}

/* A client logged in as user/password; *code gets the CONNACK code (-1:
 * none). Returns NULL unless the code is 0. */
static struct mctx *login(const char *user, const char *password, int *code)
{
    struct mctx *c = calloc(1, sizeof *c);
    int rc;
    *code = -1;
    if (!CHECK(c != NULL))
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->m = mosquitto_new(tl_name(user), true, c);
    if (!CHECK(c->m != NULL)) {
        free(c);
        return NULL;
    }
    mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(c->m, on_connect);
    mosquitto_subscribe_callback_set(c->m, on_subscribe);
    mosquitto_publish_callback_set(c->m, on_publish);
    mosquitto_message_callback_set(c->m, on_message);
    mosquitto_username_pw_set(c->m, user, password);
    rc = mosquitto_connect(c->m, "127.0.0.1", broker.port, 30);
    if (CHECKF(rc == MOSQ_ERR_SUCCESS, "mosquitto_connect: %s", mosquitto_strerror(rc)))
        mosquitto_loop_start(c->m);
    *code = wait_atomic(&c->connected, 1, TL_WAIT) - 1;
    return c;
}

static void logout(struct mctx **pc)
{
    struct mctx *c = *pc;
    if (!c)
        return;
    mosquitto_disconnect(c->m);
    mosquitto_loop_stop(c->m, true);
    mosquitto_destroy(c->m);
    for (int i = 0; i < c->queued; i++)
        free(c->payload[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
    *pc = NULL;
}

static bool sub(struct mctx *c, const char *filter, int qos, int want)
{
    atomic_store(&c->subscribed, 0);
    if (!CHECK(mosquitto_subscribe(c->m, NULL, filter, qos) == MOSQ_ERR_SUCCESS))
        return false;
    return CHECKF(wait_atomic(&c->subscribed, 1, TL_WAIT) == want + 1,
                  "SUBACK for %s: %d, expected %d", filter, atomic_load(&c->subscribed) - 1, want);
}

static bool pub(struct mctx *c, const char *topic, const char *payload)
{
    int before = atomic_load(&c->published);
    if (!CHECK(mosquitto_publish(c->m, NULL, topic, (int)strlen(payload), payload, 1, false) ==
               MOSQ_ERR_SUCCESS))
        return false;
    return CHECKF(wait_atomic(&c->published, before + 1, TL_WAIT) > before,
                  "no PUBACK for the publish to %s", topic);
}

/* The next message (topic into topic, payload returned, free it), or NULL. */
static char *next(struct mctx *c, double timeout, char *topic, size_t len)
{
    double deadline = tl_now() + timeout;
    for (;;) {
        char *p = NULL;
        bool got = false;
        pthread_mutex_lock(&c->mu);
        if (c->taken < c->queued) {
            snprintf(topic, len, "%s", c->topic[c->taken]);
            p = c->payload[c->taken];
            c->payload[c->taken++] = NULL;
            got = true;
        }
        pthread_mutex_unlock(&c->mu);
        if (got)
            return p;
        if (tl_now() >= deadline)
            return NULL;
        tl_sleep_ms(5);
    }
}

static void expect_nothing(struct mctx *c)
{
    char topic[160];
    char *p = next(c, TL_QUIET, topic, sizeof topic);
    CHECKF(p == NULL, "unexpected message on %s: %s", topic, p ? p : "");
    free(p);
}

/* The next message must be an envelope on topic from sender with text. */
static void expect_envelope(struct mctx *c, const char *topic, const char *sender, const char *room,
                            const char *text)
{
    char got[160];
    char *p = next(c, TL_WAIT, got, sizeof got);
    cJSON *env;
    if (!CHECKF(p != NULL, "no envelope on %s", topic))
        return;
    env = cJSON_Parse(p);
    CHECKF(strcmp(got, topic) == 0, "topic %s, expected %s", got, topic);
    CHECKF(cJSON_IsObject(env), "not a JSON object: %s", p);
    CHECKF(ch_is_decimal_id(ch_str(env, "id")), "id: %s", p);
    CHECKF(strcmp(ch_str(env, "from"), sender) == 0, "from is not %s: %s", sender, p);
    CHECKF(strcmp(ch_str(env, "room"), room) == 0, "room is not %s: %s", room, p);
    CHECKF(strcmp(ch_str(env, "type"), "text") == 0, "type: %s", p);
    CHECKF(strcmp(ch_str(env, "text"), text) == 0, "text is not %s: %s", text, p);
    CHECKF(ch_num(env, "ts") > 1.7e12, "ts: %s", p);
    cJSON_Delete(env);
    free(p);
}

/* ---- tests ---- */

static void test_password_login(void)
{
    int code;
    struct mctx *a = login(alice, apw, &code);
    CHECKF(code == 0, "alice's password: CONNACK %d", code);
    logout(&a);
    a = login(alice, "not alice's password", &code);
    CHECKF(code == 4, "a wrong password: CONNACK %d, expected 4", code);
    logout(&a);
    a = login(alice, bpw, &code);
    CHECKF(code == 4, "bob's password for alice: CONNACK %d, expected 4", code);
    logout(&a);
}

static void test_room_chat(void)
{
    const char *room = tl_name("lounge");
    char topic[128], body[160], tok[1024];
    struct mctx *a = NULL, *b = NULL;
    int code;
    cJSON *j = NULL;
    snprintf(topic, sizeof topic, "chat/room/%s", room);
    /* alice creates the room with a token she got for her password. */
    snprintf(body, sizeof body, "{\"user\":\"%s\",\"password\":\"alice's \\\"secret\\\" \\\\ pw\"}",
             alice);
    if (!CHECKF(ch_http(&broker, "POST", "/v1/tokens", NULL, body, &j) == 200,
                "token for alice's password"))
        goto out;
    snprintf(tok, sizeof tok, "%s", ch_str(j, "token"));
    if (!ch_make_room(&broker, tok, room, false))
        goto out;
    a = login(alice, apw, &code);
    b = login(bob, bpw, &code);
    if (!CHECK(a && b) || !sub(a, topic, 1, 1) || !sub(b, topic, 1, 1))
        goto out;
    if (!pub(a, topic, "hi from libmosquitto"))
        goto out;
    expect_envelope(a, topic, alice, room, "hi from libmosquitto");
    expect_envelope(b, topic, alice, room, "hi from libmosquitto");
    if (!pub(b, topic, "{\"text\":\"it's me, really\",\"from\":\"alice\"}"))
        goto out;
    expect_envelope(a, topic, bob, room, "it's me, really");
    expect_envelope(b, topic, bob, room, "it's me, really");
    expect_nothing(a);
out:
    cJSON_Delete(j);
    logout(&a);
    logout(&b);
}

static void test_refused_notice(void)
{
    const char *room = tl_name("backstage");
    char topic[128], events[128], got[160], tok[1024], body[160];
    struct mctx *a = NULL, *b = NULL;
    int code;
    cJSON *j = NULL;
    char *p;
    snprintf(topic, sizeof topic, "chat/room/%s", room);
    snprintf(events, sizeof events, "chat/user/%s/events", bob);
    snprintf(body, sizeof body, "{\"user\":\"%s\",\"ttl\":600}", alice);
    if (!CHECK(ch_http(&broker, "POST", "/v1/tokens", ch_service_key(), body, &j) == 200))
        goto out;
    snprintf(tok, sizeof tok, "%s", ch_str(j, "token"));
    if (!ch_make_room(&broker, tok, room, true))
        goto out;
    a = login(alice, apw, &code);
    b = login(bob, bpw, &code);
    if (!CHECK(a && b) || !sub(a, topic, 1, 1) || !sub(b, events, 0, 0))
        goto out;
    sub(b, topic, 1, 0x80); /* not a member */
    if (!pub(b, topic, "can I come in?"))
        goto out;
    p = next(b, TL_WAIT, got, sizeof got);
    if (CHECKF(p != NULL, "no notice on %s", events)) {
        cJSON *n = cJSON_Parse(p);
        CHECKF(strcmp(got, events) == 0, "notice on %s", got);
        CHECKF(strcmp(ch_str(n, "type"), "notice") == 0 &&
                   strcmp(ch_str(n, "event"), "rejected") == 0 &&
                   strcmp(ch_str(n, "topic"), topic) == 0 &&
                   strcmp(ch_str(n, "reason"), "not_member") == 0 && ch_num(n, "code") == 135,
               "notice %s", p);
        cJSON_Delete(n);
        free(p);
    }
    expect_nothing(a);
    expect_nothing(b);
out:
    cJSON_Delete(j);
    logout(&a);
    logout(&b);
}

static void test_broker_exits_cleanly(void)
{
    int status = tl_broker_stop(&broker);
    CHECKF(status == 0, "broker exit status %d on SIGTERM", status);
}

int main(void)
{
    char body[256];
    int ok = 1;
    tl_init("client_chat_mosquitto", 100);
    mosquitto_lib_init();
    if (tl_broker_start(&broker, ch_config()) != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    snprintf(alice, sizeof alice, "%s", tl_name("alice"));
    snprintf(bob, sizeof bob, "%s", tl_name("bob"));
    /* Passwords with quotes, a backslash and SQL, as JSON strings. */
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"password\":\"alice's \\\"secret\\\" \\\\ pw\",\"role\":\"user\"}",
             alice);
    ok = ok && CHECK(ch_http(&broker, "POST", "/v1/users", ch_service_key(), body, NULL) == 201);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"password\":\"%s\"}", bob, bpw);
    ok = ok && CHECK(ch_http(&broker, "POST", "/v1/users", ch_service_key(), body, NULL) == 201);
    if (!ok) {
        tl_broker_stop(&broker);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    tl_run("password_login", test_password_login);
    tl_run("room_chat", test_room_chat);
    tl_run("refused_notice", test_refused_notice);
    tl_run("broker_exits_cleanly", test_broker_exits_cleanly);
    mosquitto_lib_cleanup();
    return tl_finish();
}
