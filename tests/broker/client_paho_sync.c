/*
 * client_paho_sync.c - the broker driven by Paho MQTT C's synchronous
 * client (MQTTClient), as an application would use it: QoS 0/1/2 round
 * trips, retained messages, wills on an abnormal close (the client's socket
 * shut down under it, and a keepalive left to expire), messages queued for
 * an offline persistent session, session takeover.
 *
 * Clients run without callbacks (MQTTClient_receive polls), so Paho sends
 * no PINGREQ behind the test's back: that is what lets a keepalive expire.
 */
#include <MQTTClient.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

static struct tl_broker broker;

/* A connected client, or NULL (with a failed check). */
static MQTTClient client_new(const char *id, int cleansession, int keepalive,
                             MQTTClient_willOptions *will, int *session_present)
{
    MQTTClient c = NULL;
    MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
    int rc;
    if (!CHECK(MQTTClient_create(&c, broker.uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) ==
               MQTTCLIENT_SUCCESS))
        return NULL;
    o.keepAliveInterval = keepalive;
    o.cleansession = cleansession;
    o.MQTTVersion = MQTTVERSION_3_1_1;
    o.connectTimeout = 5;
    o.will = will;
    rc = MQTTClient_connect(c, &o);
    if (!CHECKF(rc == MQTTCLIENT_SUCCESS, "connect %s: rc %d", id, rc)) {
        MQTTClient_destroy(&c);
        return NULL;
    }
    if (session_present)
        *session_present = o.returned.sessionPresent;
    return c;
}

static void client_free(MQTTClient *c)
{
    if (!*c)
        return;
    if (MQTTClient_isConnected(*c))
        MQTTClient_disconnect(*c, 1000);
    MQTTClient_destroy(c);
}

static bool sub(MQTTClient c, const char *topic, int qos)
{
    int rc = MQTTClient_subscribe(c, topic, qos);
    return CHECKF(rc == MQTTCLIENT_SUCCESS, "subscribe %s: rc %d", topic, rc);
}

static bool pub(MQTTClient c, const char *topic, const char *payload, int qos, int retained)
{
    MQTTClient_message m = MQTTClient_message_initializer;
    MQTTClient_deliveryToken tok = 0;
    int rc;
    m.payload = (void *)payload;
    m.payloadlen = (int)strlen(payload);
    m.qos = qos;
    m.retained = retained;
    rc = MQTTClient_publishMessage(c, topic, &m, &tok);
    if (!CHECKF(rc == MQTTCLIENT_SUCCESS, "publish %s: rc %d", topic, rc))
        return false;
    rc = MQTTClient_waitForCompletion(c, tok, (unsigned long)(TL_WAIT * 1000));
    return CHECKF(rc == MQTTCLIENT_SUCCESS, "publish %s qos %d not completed: rc %d", topic, qos,
                  rc);
}

struct got {
    char topic[256];
    char payload[256];
    int qos;
    int retained;
    int dup;
};

/* Waits up to timeout seconds for one message. */
static bool recv_one(MQTTClient c, double timeout, struct got *g)
{
    double deadline = tl_now() + timeout;
    memset(g, 0, sizeof *g);
    while (tl_now() < deadline) {
        char *topic = NULL;
        int tlen = 0;
        MQTTClient_message *m = NULL;
        int rc = MQTTClient_receive(c, &topic, &tlen, &m, 100);
        if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED)
            return false;
        if (m) {
            size_t n = (size_t)m->payloadlen < sizeof g->payload - 1 ? (size_t)m->payloadlen
                                                                     : sizeof g->payload - 1;
            snprintf(g->topic, sizeof g->topic, "%s", topic);
            memcpy(g->payload, m->payload, n);
            g->payload[n] = '\0';
            g->qos = m->qos;
            g->retained = m->retained;
            g->dup = m->dup;
            MQTTClient_freeMessage(&m);
            MQTTClient_free(topic);
            return true;
        }
    }
    return false;
}

static bool expect_msg(MQTTClient c, const char *topic, const char *payload, int qos, int retained)
{
    struct got g;
    if (!CHECKF(recv_one(c, TL_WAIT, &g), "no message on %s", topic))
        return false;
    return CHECKF(strcmp(g.topic, topic) == 0 && strcmp(g.payload, payload) == 0 && g.qos == qos &&
                      g.retained == retained,
                  "got %s '%s' qos %d retained %d, expected %s '%s' qos %d retained %d", g.topic,
                  g.payload, g.qos, g.retained, topic, payload, qos, retained);
}

static bool expect_none(MQTTClient c)
{
    struct got g;
    return CHECKF(!recv_one(c, TL_QUIET, &g), "unexpected message %s '%s'", g.topic, g.payload);
}

static void test_qos_round_trips(void)
{
    for (int qos = 0; qos <= 2; qos++) {
        const char *topic = tl_name("paho/sync/qos");
        MQTTClient s = client_new(tl_name("sub"), 1, 30, NULL, NULL);
        MQTTClient p = client_new(tl_name("pub"), 1, 30, NULL, NULL);
        char payload[32];
        snprintf(payload, sizeof payload, "qos %d round trip", qos);
        if (s && p && sub(s, topic, qos) && pub(p, topic, payload, qos, 0)) {
            expect_msg(s, topic, payload, qos, 0);
            expect_none(s);
        }
        client_free(&s);
        client_free(&p);
    }
}

static void test_qos_downgrade(void)
{
    const char *topic = tl_name("paho/sync/down");
    MQTTClient s = client_new(tl_name("sub"), 1, 30, NULL, NULL);
    MQTTClient p = client_new(tl_name("pub"), 1, 30, NULL, NULL);
    if (s && p && sub(s, topic, 1) && pub(p, topic, "sent at 2", 2, 0))
        expect_msg(s, topic, "sent at 2", 1, 0);
    client_free(&s);
    client_free(&p);
}

static void test_retained(void)
{
    const char *topic = tl_name("paho/sync/retained");
    MQTTClient p = client_new(tl_name("pub"), 1, 30, NULL, NULL);
    MQTTClient s1 = NULL, s2 = NULL;
    if (!p)
        return;
    if (pub(p, topic, "retained one", 1, 1)) {
        s1 = client_new(tl_name("sub"), 1, 30, NULL, NULL);
        if (s1 && sub(s1, topic, 1)) {
            expect_msg(s1, topic, "retained one", 1, 1);
            pub(p, topic, "live", 1, 1);
            expect_msg(s1, topic, "live", 1, 0); /* live delivery: retained flag 0 */
        }
        pub(p, topic, "", 1, 1); /* clear */
        s2 = client_new(tl_name("sub"), 1, 30, NULL, NULL);
        if (s2 && sub(s2, topic, 1))
            expect_none(s2);
    }
    client_free(&s1);
    client_free(&s2);
    client_free(&p);
}

/* fds of this process's TCP sockets connected to the broker. */
static int broker_fds(int *fds, int max)
{
    int n = 0;
    for (int fd = 3; fd < 1024 && n < max; fd++) {
        struct sockaddr_in sa;
        socklen_t len = sizeof sa;
        if (getpeername(fd, (struct sockaddr *)&sa, &len) == 0 && sa.sin_family == AF_INET &&
            ntohs(sa.sin_port) == broker.port)
            fds[n++] = fd;
    }
    return n;
}

static void test_will_on_socket_shutdown(void)
{
    const char *topic = tl_name("paho/sync/will");
    MQTTClient_willOptions will = MQTTClient_willOptions_initializer;
    MQTTClient w = NULL;
    MQTTClient obs = client_new(tl_name("obs"), 1, 30, NULL, NULL);
    int before[64], after[64], nb, na, victim = -1;
    if (!obs || !sub(obs, topic, 1))
        goto out;
    will.topicName = topic;
    will.message = "connection lost";
    will.qos = 1;
    nb = broker_fds(before, 64);
    w = client_new(tl_name("will"), 1, 30, &will, NULL);
    if (!w)
        goto out;
    na = broker_fds(after, 64);
    for (int i = 0; i < na; i++) {
        bool old = false;
        for (int j = 0; j < nb; j++)
            old = old || before[j] == after[i];
        if (!old)
            victim = after[i];
    }
    if (!CHECKF(victim >= 0, "cannot find the will client's socket"))
        goto out;
    shutdown(victim, SHUT_RDWR); /* the broker sees the connection end, no DISCONNECT */
    expect_msg(obs, topic, "connection lost", 1, 0);
out:
    client_free(&w);
    client_free(&obs);
}

/*
 * The silent client runs in a child process (this program re-executed with
 * --silent-will): Paho's synchronous client pings for every client of the
 * process whenever any of them polls, so a silent client must be alone.
 * The child connects, says "connected" on its stdout, and then makes no call
 * until it is killed.
 */
static int silent_will_child(const char *uri, const char *topic)
{
    MQTTClient c;
    MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
    MQTTClient_willOptions will = MQTTClient_willOptions_initializer;
    if (MQTTClient_create(&c, uri, tl_name("silent"), MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
        MQTTCLIENT_SUCCESS)
        return 1;
    will.topicName = topic;
    will.message = "keepalive expired";
    o.keepAliveInterval = 1;
    o.cleansession = 1;
    o.MQTTVersion = MQTTVERSION_3_1_1;
    o.will = &will;
    if (MQTTClient_connect(c, &o) != MQTTCLIENT_SUCCESS)
        return 1;
    printf("connected\n");
    fflush(stdout);
    sleep(60); /* killed by the parent long before */
    return 0;
}

static void test_will_on_keepalive_expiry(void)
{
    /* Mosquitto 2.0.11 checks keepalives every few seconds: wait longer. */
    double wait = broker.mosquitto ? 12.0 : 1.5 + TL_WAIT;
    const char *topic = tl_name("paho/sync/ka");
    MQTTClient obs = client_new(tl_name("obs"), 1, 60, NULL, NULL);
    struct got g;
    int fd[2] = {-1, -1};
    pid_t child = -1;
    char line[32] = "";
    double t0;
    FILE *from_child = NULL;
    if (!obs || !sub(obs, topic, 0))
        goto out;
    if (!CHECK(pipe(fd) == 0))
        goto out;
    child = fork();
    if (child == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        execl("/proc/self/exe", "client_paho_sync", "--silent-will", broker.uri, topic,
              (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    fd[1] = -1;
    if (!CHECK(child > 0))
        goto out;
    from_child = fdopen(fd[0], "r");
    fd[0] = -1;
    if (!CHECKF(from_child && fgets(line, sizeof line, from_child) &&
                    strcmp(line, "connected\n") == 0,
                "the silent child did not connect"))
        goto out;
    t0 = tl_now();
    if (CHECKF(recv_one(obs, wait, &g), "no will within %.0f s of a 1 s keepalive", wait)) {
        CHECKF(strcmp(g.topic, topic) == 0 && strcmp(g.payload, "keepalive expired") == 0,
               "got %s '%s'", g.topic, g.payload);
        CHECKF(tl_now() - t0 > 0.9, "will %.2f s after CONNACK, before the keepalive passed",
               tl_now() - t0);
    }
out:
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    if (from_child)
        fclose(from_child);
    for (int i = 0; i < 2; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    client_free(&obs);
}

static void test_no_will_after_disconnect(void)
{
    const char *topic = tl_name("paho/sync/nowill");
    MQTTClient_willOptions will = MQTTClient_willOptions_initializer;
    MQTTClient obs = client_new(tl_name("obs"), 1, 30, NULL, NULL);
    MQTTClient w = NULL;
    if (!obs || !sub(obs, topic, 0))
        goto out;
    will.topicName = topic;
    will.message = "must not appear";
    w = client_new(tl_name("polite"), 1, 30, &will, NULL);
    if (!w)
        goto out;
    CHECK(MQTTClient_disconnect(w, 1000) == MQTTCLIENT_SUCCESS);
    expect_none(obs);
out:
    client_free(&w);
    client_free(&obs);
}

static void test_offline_queue(void)
{
    const char *topic = tl_name("paho/sync/offline");
    const char *id = tl_name("persistent");
    int present = -1;
    MQTTClient s = client_new(id, 0, 30, NULL, &present);
    MQTTClient p = NULL;
    if (!s)
        return;
    CHECKF(present == 0, "first connect: session present %d", present);
    if (!sub(s, topic, 2))
        goto out;
    CHECK(MQTTClient_disconnect(s, 1000) == MQTTCLIENT_SUCCESS);
    MQTTClient_destroy(&s);
    p = client_new(tl_name("pub"), 1, 30, NULL, NULL);
    if (!p)
        goto out;
    pub(p, topic, "offline 0", 0, 0);
    pub(p, topic, "offline 1", 1, 0);
    pub(p, topic, "offline 2", 2, 0);
    s = client_new(id, 0, 30, NULL, &present);
    if (!s)
        goto out;
    CHECKF(present == 1, "reconnect: session present %d", present);
    expect_msg(s, topic, "offline 1", 1, 0);
    expect_msg(s, topic, "offline 2", 2, 0);
    expect_none(s); /* QoS 0 is not queued */
    pub(p, topic, "live again", 1, 0);
    expect_msg(s, topic, "live again", 1, 0);
    client_free(&s);
    s = client_new(id, 1, 30, NULL, NULL); /* drop the session */
out:
    client_free(&s);
    client_free(&p);
}

static void test_takeover(void)
{
    const char *topic = tl_name("paho/sync/takeover");
    const char *id = tl_name("same");
    MQTTClient a = client_new(id, 1, 30, NULL, NULL);
    MQTTClient b = NULL;
    double deadline;
    struct got g;
    if (!a)
        return;
    b = client_new(id, 1, 30, NULL, NULL);
    if (!b)
        goto out;
    /* The old connection is closed by the broker: a read on it fails. */
    deadline = tl_now() + TL_WAIT;
    while (MQTTClient_isConnected(a) && tl_now() < deadline)
        recv_one(a, 0.2, &g);
    CHECKF(!MQTTClient_isConnected(a), "the old connection is still up after a takeover");
    if (sub(b, topic, 1) && pub(b, topic, "new owner", 1, 0))
        expect_msg(b, topic, "new owner", 1, 0);
out:
    client_free(&a);
    client_free(&b);
}

static void test_many_messages(void)
{
    const char *topic = tl_name("paho/sync/many");
    MQTTClient s = client_new(tl_name("sub"), 1, 30, NULL, NULL);
    MQTTClient p = client_new(tl_name("pub"), 1, 30, NULL, NULL);
    if (!s || !p || !sub(s, topic, 1))
        goto out;
    for (int i = 0; i < 20; i++) {
        char payload[16];
        snprintf(payload, sizeof payload, "%d", i);
        if (!pub(p, topic, payload, 1, 0))
            goto out;
    }
    for (int i = 0; i < 20; i++) {
        char payload[16];
        snprintf(payload, sizeof payload, "%d", i);
        if (!expect_msg(s, topic, payload, 1, 0))
            break;
    }
out:
    client_free(&s);
    client_free(&p);
}

static void test_broker_exits_cleanly(void)
{
    int status = tl_broker_stop(&broker);
    CHECKF(status == 0, "broker exit status %d on SIGTERM", status);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--silent-will") == 0)
        return silent_will_child(argv[2], argv[3]);
    tl_init("client_paho_sync", 150);
    if (tl_broker_start(&broker, NULL) != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    tl_run("qos_round_trips", test_qos_round_trips);
    tl_run("qos_downgrade", test_qos_downgrade);
    tl_run("retained", test_retained);
    tl_run("will_on_socket_shutdown", test_will_on_socket_shutdown);
    tl_run("will_on_keepalive_expiry", test_will_on_keepalive_expiry);
    tl_run("no_will_after_disconnect", test_no_will_after_disconnect);
    tl_run("offline_queue", test_offline_queue);
    tl_run("takeover", test_takeover);
    tl_run("many_messages_in_order", test_many_messages);
    tl_run("broker_exits_cleanly", test_broker_exits_cleanly);
    return tl_finish();
}
