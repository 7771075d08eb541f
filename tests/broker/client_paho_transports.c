/*
 * client_paho_transports.c - the broker's TLS, WebSocket and secure
 * WebSocket listeners (doc/transports.md) driven by Paho MQTT C's
 * synchronous client, SSL build (libpaho-mqtt3cs), as an application uses
 * them: ssl://, ws://HOST:PORT/mqtt and wss://HOST:PORT/mqtt.
 *
 * Certificates are made at start-up with the openssl CLI in a temporary
 * directory (a CA, a server certificate for 127.0.0.1 and localhost signed
 * by it, and another CA); the broker runs with tls.port, ws.port and
 * wss.port on free ports (Mosquitto: three extra listeners).
 *
 * Cases: QoS 0/1/2 round trips over each transport, the server verified
 * against the CA (enableServerCertAuth and verify, by IP) and not verified;
 * a CA that did not sign the server refused by the client; 200 KB messages
 * over ws and wss both ways; MQTT 5 over ws (properties kept); a ws client
 * and a TLS client talking both ways; a burst of messages and a burst of
 * retained messages right after the SUBACK, which the broker may send in
 * one WebSocket frame (MQTT-6.0.0-2 allows several packets per frame).
 *
 * Paho's WebSocket layer keeps its frame state in process-wide variables
 * (src/WebSocket.c: in_frames, frame_buffer), so no case has two
 * WebSocket clients open at once.
 */
#include <MQTTClient.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static struct tl_broker broker;
static int tls_port, ws_port, wss_port;
static char certdir[128];
static char ca_pem[256], other_ca_pem[256], server_pem[256], server_key[256];

/* ---- set-up ---- */

static const char ca_cnf[] = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
                             "[v3_ca]\nbasicConstraints = critical, CA:TRUE\n"
                             "keyUsage = critical, keyCertSign, cRLSign\n"
                             "subjectKeyIdentifier = hash\n";
static const char leaf_cnf[] = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
                               "[server]\nbasicConstraints = critical, CA:FALSE\n"
                               "keyUsage = critical, digitalSignature\n"
                               "extendedKeyUsage = serverAuth\n"
                               "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                               "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n";

static bool write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fputs(text, f);
    return fclose(f) == 0;
}

static bool sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0)
        printf("command failed (%d): %s\n", rc, cmd);
    return rc == 0;
}

/* The certificates, with the openssl CLI (EC P-256 keys). */
static bool make_certs(void)
{
    char p[300];
    static const char *key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    snprintf(certdir, sizeof certdir, "/tmp/mqchat-pahocerts-XXXXXX");
    if (!mkdtemp(certdir))
        return false;
    snprintf(p, sizeof p, "%s/ca.cnf", certdir);
    if (!write_file(p, ca_cnf))
        return false;
    snprintf(p, sizeof p, "%s/leaf.cnf", certdir);
    if (!write_file(p, leaf_cnf))
        return false;
    snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", certdir);
    snprintf(other_ca_pem, sizeof other_ca_pem, "%s/other_ca.pem", certdir);
    snprintf(server_pem, sizeof server_pem, "%s/server.pem", certdir);
    snprintf(server_key, sizeof server_key, "%s/server.key", certdir);
    return sh("cd %s && openssl req -x509 -new -config ca.cnf -extensions v3_ca %s -keyout ca.key "
              "-out ca.pem -days 3 -subj '/CN=mqchat paho CA' -set_serial 11 >/dev/null 2>&1",
              certdir, key) &&
           sh("cd %s && openssl req -x509 -new -config ca.cnf -extensions v3_ca %s -keyout "
              "other_ca.key -out other_ca.pem -days 3 -subj '/CN=mqchat other CA' -set_serial 12 "
              ">/dev/null 2>&1",
              certdir, key) &&
           sh("cd %s && openssl req -new -config leaf.cnf %s -keyout server.key -out server.csr "
              "-subj '/CN=mqchat paho server' >/dev/null 2>&1 && openssl x509 -req -in server.csr "
              "-CA ca.pem -CAkey ca.key -set_serial 13 -days 3 -extfile leaf.cnf -extensions "
              "server -out server.pem >/dev/null 2>&1",
              certdir, key);
}

/* The broker with the three listeners on free ports (three tries). */
static bool start_broker(void)
{
    char extra[2048];
    for (int attempt = 0; attempt < 3; attempt++) {
        tls_port = tl_free_port();
        do
            ws_port = tl_free_port();
        while (ws_port == tls_port);
        do
            wss_port = tl_free_port();
        while (wss_port == tls_port || wss_port == ws_port);
        if (tl_is_mosquitto())
            snprintf(extra, sizeof extra,
                     "listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n"
                     "listener %d 127.0.0.1\nprotocol websockets\n"
                     "listener %d 127.0.0.1\nprotocol websockets\ncertfile %s\nkeyfile %s\n",
                     tls_port, server_pem, server_key, ws_port, wss_port, server_pem, server_key);
        else
            snprintf(extra, sizeof extra,
                     "tls.port %d\nws.port %d\nwss.port %d\ntls.cert %s\ntls.key %s\n", tls_port,
                     ws_port, wss_port, server_pem, server_key);
        if (tl_broker_start(&broker, extra) != 0) {
            tl_broker_stop(&broker);
            continue;
        }
        double deadline = tl_now() + 10.0;
        int ports[3] = {tls_port, ws_port, wss_port};
        bool ok = true;
        for (int i = 0; i < 3 && ok; i++) {
            while (!tl_port_accepts(ports[i]) && tl_now() < deadline)
                tl_sleep_ms(20);
            ok = tl_port_accepts(ports[i]);
        }
        if (ok)
            return true;
        printf("a transport port does not accept\n");
        tl_broker_print_log(&broker, 20);
        tl_broker_stop(&broker);
    }
    return false;
}

/* ---- clients ---- */

enum transport { T_TCP, T_TLS, T_WS, T_WSS };
static const char *tname[] = {"tcp", "tls", "ws", "wss"};

static const char *uri_of(enum transport t)
{
    static char uri[4][96];
    switch (t) {
    case T_TCP:
        return broker.uri;
    case T_TLS:
        snprintf(uri[1], sizeof uri[1], "ssl://127.0.0.1:%d", tls_port);
        return uri[1];
    case T_WS:
        snprintf(uri[2], sizeof uri[2], "ws://127.0.0.1:%d/mqtt", ws_port);
        return uri[2];
    case T_WSS:
        snprintf(uri[3], sizeof uri[3], "wss://127.0.0.1:%d/mqtt", wss_port);
        return uri[3];
    }
    return NULL;
}

enum verify { V_CA, V_NONE, V_OTHER_CA };

struct conn_opts {
    int version;       /* MQTTVERSION_3_1_1 (0 = that) or MQTTVERSION_5 */
    enum verify check; /* how the server is checked (ssl, wss) */
    bool expect_fail;  /* the connect must fail */
};

/* A connected client over t, or NULL (a failed check, unless the connect
 * was to fail). */
static MQTTClient client_new(enum transport t, const char *id, const struct conn_opts *co)
{
    MQTTClient c = NULL;
    MQTTClient_createOptions cro = MQTTClient_createOptions_initializer;
    MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
    MQTTClient_connectOptions o5 = MQTTClient_connectOptions_initializer5;
    MQTTClient_SSLOptions so = MQTTClient_SSLOptions_initializer;
    int version = co && co->version ? co->version : MQTTVERSION_3_1_1;
    enum verify check = co ? co->check : V_CA;
    bool expect_fail = co && co->expect_fail;
    MQTTClient_connectOptions *opts = version == MQTTVERSION_5 ? &o5 : &o;
    int rc;
    cro.MQTTVersion = version;
    rc = MQTTClient_createWithOptions(&c, uri_of(t), id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &cro);
    if (!CHECKF(rc == MQTTCLIENT_SUCCESS, "create %s %s: rc %d", tname[t], uri_of(t), rc))
        return NULL;
    opts->keepAliveInterval = 60;
    if (version != MQTTVERSION_5)
        opts->cleansession = 1;
    opts->MQTTVersion = version;
    opts->connectTimeout = 5;
    if (t == T_TLS || t == T_WSS) {
        if (check == V_NONE) {
            so.enableServerCertAuth = 0;
            so.verify = 0;
        } else {
            so.trustStore = check == V_OTHER_CA ? other_ca_pem : ca_pem;
            so.enableServerCertAuth = 1;
            so.verify = 1; /* the host name (here the IP) against the certificate */
        }
        opts->ssl = &so;
    }
    if (version == MQTTVERSION_5) {
        MQTTResponse r = MQTTClient_connect5(c, opts, NULL, NULL);
        rc = r.reasonCode;
        MQTTResponse_free(r);
    } else {
        rc = MQTTClient_connect(c, opts);
    }
    if (expect_fail) {
        CHECKF(rc != MQTTCLIENT_SUCCESS, "connect %s %s: succeeded, expected a failure", tname[t],
               id);
        MQTTClient_destroy(&c);
        return NULL;
    }
    if (!CHECKF(rc == MQTTCLIENT_SUCCESS, "connect %s %s (%s): rc %d", tname[t], id, uri_of(t),
                rc)) {
        MQTTClient_destroy(&c);
        return NULL;
    }
    return c;
}

static void client_free(MQTTClient *c, int version)
{
    if (!*c)
        return;
    if (MQTTClient_isConnected(*c)) {
        if (version == MQTTVERSION_5)
            MQTTClient_disconnect5(*c, 1000, MQTTREASONCODE_NORMAL_DISCONNECTION, NULL);
        else
            MQTTClient_disconnect(*c, 1000);
    }
    MQTTClient_destroy(c);
}

static bool sub(MQTTClient c, const char *topic, int qos)
{
    int rc = MQTTClient_subscribe(c, topic, qos);
    return CHECKF(rc == MQTTCLIENT_SUCCESS, "subscribe %s: rc %d", topic, rc);
}

static bool pub(MQTTClient c, const char *topic, const void *payload, int len, int qos,
                int retained)
{
    MQTTClient_message m = MQTTClient_message_initializer;
    MQTTClient_deliveryToken tok = 0;
    int rc;
    m.payload = (void *)payload;
    m.payloadlen = len;
    m.qos = qos;
    m.retained = retained;
    rc = MQTTClient_publishMessage(c, topic, &m, &tok);
    if (!CHECKF(rc == MQTTCLIENT_SUCCESS, "publish %s: rc %d", topic, rc))
        return false;
    if (qos == 0)
        return true;
    rc = MQTTClient_waitForCompletion(c, tok, (unsigned long)(TL_WAIT * 1000));
    return CHECKF(rc == MQTTCLIENT_SUCCESS, "publish %s qos %d not completed: rc %d", topic, qos,
                  rc);
}

/* The next message within timeout seconds (the caller frees it and *topic),
 * or NULL. */
static MQTTClient_message *recv_msg(MQTTClient c, double timeout, char **topic)
{
    double deadline = tl_now() + timeout;
    *topic = NULL;
    while (tl_now() < deadline) {
        int tlen = 0;
        MQTTClient_message *m = NULL;
        int rc = MQTTClient_receive(c, topic, &tlen, &m, 100);
        if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED)
            return NULL;
        if (m)
            return m;
    }
    return NULL;
}

static bool expect_msg(MQTTClient c, const char *topic, const void *payload, int len, int qos,
                       const char *what)
{
    char *t = NULL;
    MQTTClient_message *m = recv_msg(c, TL_WAIT, &t);
    bool ok;
    if (!CHECKF(m, "%s: no message on %s within %.0f s", what, topic, TL_WAIT))
        return false;
    ok = CHECKF(strcmp(t, topic) == 0 && m->payloadlen == len &&
                    memcmp(m->payload, payload, (size_t)len) == 0 && m->qos == qos,
                "%s: got %s (%d bytes, qos %d), expected %s (%d bytes, qos %d)", what, t,
                m->payloadlen, m->qos, topic, len, qos);
    MQTTClient_freeMessage(&m);
    MQTTClient_free(t);
    return ok;
}

/* sub subscribes to a fresh topic at QoS 2; pub publishes at 0, 1, 2. */
static void round_trips(MQTTClient p, MQTTClient s, const char *what)
{
    const char *topic = tl_name("paho/transports/rt");
    char payload[96];
    if (!sub(s, topic, 2))
        return;
    for (int qos = 0; qos <= 2; qos++) {
        snprintf(payload, sizeof payload, "%s qos %d", what, qos);
        /* (after a failure, no more: a message or an ack that did not come
         * can hold Paho's next publish until the keep alive's PINGRESP) */
        if (!pub(p, topic, payload, (int)strlen(payload), qos, 0) ||
            !expect_msg(s, topic, payload, (int)strlen(payload), qos, what))
            return;
    }
}

static void round_trips_over(enum transport t, const struct conn_opts *co)
{
    MQTTClient c = client_new(t, tl_name(tname[t]), co);
    if (!c)
        return;
    round_trips(c, c, tname[t]);
    client_free(&c, 0);
}

/* ---- cases ---- */

static void test_tls_verified(void)
{
    struct conn_opts co = {0, V_CA, false};
    round_trips_over(T_TLS, &co);
}

static void test_tls_not_verified(void)
{
    struct conn_opts co = {0, V_NONE, false};
    round_trips_over(T_TLS, &co);
}

static void test_tls_wrong_ca_refused(void)
{
    struct conn_opts co = {0, V_OTHER_CA, true};
    client_new(T_TLS, tl_name("tls-wrong-ca"), &co);
    struct conn_opts ok = {0, V_CA, false};
    round_trips_over(T_TLS, &ok); /* and the broker goes on */
}

static void test_ws(void)
{
    round_trips_over(T_WS, NULL);
}

static void test_wss_verified(void)
{
    struct conn_opts co = {0, V_CA, false};
    round_trips_over(T_WSS, &co);
}

static void test_wss_not_verified(void)
{
    struct conn_opts co = {0, V_NONE, false};
    round_trips_over(T_WSS, &co);
}

/* 200 KB from the client over t to a TCP subscriber, and back. */
static void large_over(enum transport t)
{
    enum { BIG = 200 * 1024 };
    unsigned char *big = malloc(BIG);
    const char *up = tl_name("paho/transports/big-up");
    const char *down = tl_name("paho/transports/big-down");
    MQTTClient c = client_new(t, tl_name(tname[t]), NULL);
    MQTTClient tcp = client_new(T_TCP, tl_name("tcp"), NULL);
    if (CHECK(big) && c && tcp) {
        for (size_t i = 0; i < BIG; i++)
            big[i] = (unsigned char)(i * 31 + i / 1000);
        if (sub(tcp, up, 1) && pub(c, up, big, BIG, 1, 0))
            expect_msg(tcp, up, big, BIG, 1, "200 KB up");
        big[0] ^= 0xFF;
        if (sub(c, down, 1) && pub(tcp, down, big, BIG, 1, 0))
            expect_msg(c, down, big, BIG, 1, "200 KB down");
    }
    client_free(&c, 0);
    client_free(&tcp, 0);
    free(big);
}

static void test_ws_large(void)
{
    large_over(T_WS);
}

static void test_wss_large(void)
{
    large_over(T_WSS);
}

static void test_ws_mqtt5(void)
{
    struct conn_opts co = {MQTTVERSION_5, V_CA, false};
    MQTTClient c = client_new(T_WS, tl_name("ws5"), &co);
    const char *topic = tl_name("paho/transports/v5");
    if (!c)
        return;
    MQTTSubscribe_options so = MQTTSubscribe_options_initializer;
    MQTTResponse r = MQTTClient_subscribe5(c, topic, 2, &so, NULL);
    bool subbed =
        CHECKF(r.reasonCode == MQTTREASONCODE_GRANTED_QOS_2, "subscribe5: %d", r.reasonCode);
    MQTTResponse_free(r);
    for (int qos = 0; subbed && qos <= 2; qos++) {
        MQTTClient_message m = MQTTClient_message_initializer;
        MQTTProperty p;
        MQTTClient_deliveryToken tok = 0;
        char payload[64], *t = NULL;
        snprintf(payload, sizeof payload, "v5 over ws qos %d", qos);
        m.payload = payload;
        m.payloadlen = (int)strlen(payload);
        m.qos = qos;
        p.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
        p.value.data.data = "transport";
        p.value.data.len = 9;
        p.value.value.data = "ws";
        p.value.value.len = 2;
        MQTTProperties_add(&m.properties, &p);
        r = MQTTClient_publishMessage5(c, topic, &m, &tok);
        MQTTProperties_free(&m.properties);
        if (!CHECKF(r.reasonCode == MQTTREASONCODE_SUCCESS, "publish5 qos %d: %d", qos,
                    r.reasonCode)) {
            MQTTResponse_free(r);
            break;
        }
        MQTTResponse_free(r);
        if (qos && !CHECKF(MQTTClient_waitForCompletion(c, tok, 5000) == MQTTCLIENT_SUCCESS,
                           "publish5 qos %d not completed", qos))
            break;
        MQTTClient_message *got = recv_msg(c, TL_WAIT, &t);
        if (!CHECKF(got, "no v5 message at qos %d", qos))
            break;
        MQTTProperty *up =
            MQTTProperties_getProperty(&got->properties, MQTTPROPERTY_CODE_USER_PROPERTY);
        CHECKF(got->payloadlen == (int)strlen(payload) &&
                   memcmp(got->payload, payload, strlen(payload)) == 0 && got->qos == qos,
               "qos %d: got %.*s qos %d", qos, got->payloadlen, (char *)got->payload, got->qos);
        CHECKF(up && up->value.data.len == 9 && memcmp(up->value.data.data, "transport", 9) == 0 &&
                   up->value.value.len == 2 && memcmp(up->value.value.data, "ws", 2) == 0,
               "qos %d: the user property did not come through", qos);
        bool ok = got->payloadlen == (int)strlen(payload) && got->qos == qos;
        MQTTClient_freeMessage(&got);
        MQTTClient_free(t);
        if (!ok)
            break;
    }
    client_free(&c, MQTTVERSION_5);
}

static void test_ws_and_tls_talk(void)
{
    MQTTClient ws = client_new(T_WS, tl_name("ws"), NULL);
    MQTTClient tls = client_new(T_TLS, tl_name("tls"), NULL);
    if (ws && tls) {
        round_trips(ws, tls, "ws to tls");
        round_trips(tls, ws, "tls to ws");
    }
    client_free(&ws, 0);
    client_free(&tls, 0);
}

static void test_wss_and_tcp_talk(void)
{
    MQTTClient wss = client_new(T_WSS, tl_name("wss"), NULL);
    MQTTClient tcp = client_new(T_TCP, tl_name("tcp"), NULL);
    if (wss && tcp) {
        round_trips(wss, tcp, "wss to tcp");
        round_trips(tcp, wss, "tcp to wss");
    }
    client_free(&wss, 0);
    client_free(&tcp, 0);
}

/*
 * N QoS 0 messages published back to back by a TCP client: the broker is
 * free to send several in one WebSocket frame. Each must reach the client
 * over t within TL_WAIT, with nothing else arriving on the socket after.
 */
static void burst_over(enum transport t)
{
    enum { N = 20 };
    const char *topic = tl_name("paho/transports/burst");
    MQTTClient c = client_new(t, tl_name(tname[t]), NULL);
    MQTTClient tcp = client_new(T_TCP, tl_name("tcp"), NULL);
    int got = 0;
    if (c && tcp && sub(c, topic, 0)) {
        for (int i = 0; i < N; i++) {
            char payload[32];
            snprintf(payload, sizeof payload, "burst %d", i);
            pub(tcp, topic, payload, (int)strlen(payload), 0, 0);
        }
        for (; got < N; got++) {
            char payload[32];
            snprintf(payload, sizeof payload, "burst %d", got);
            if (!expect_msg(c, topic, payload, (int)strlen(payload), 0, "burst"))
                break;
        }
        CHECKF(got == N, "%s: %d of %d messages of a burst arrived", tname[t], got, N);
    }
    client_free(&c, 0);
    client_free(&tcp, 0);
}

static void test_ws_burst(void)
{
    burst_over(T_WS);
}

static void test_wss_burst(void)
{
    burst_over(T_WSS);
}

/* Retained messages on 5 topics: a wildcard subscription over t gets all 5
 * right after its SUBACK (likely one flush, one frame, with it). */
static void retained_over(enum transport t)
{
    enum { N = 5 };
    const char *base = tl_name("paho/transports/kept");
    char topic[N][160], filter[170];
    MQTTClient tcp = client_new(T_TCP, tl_name("tcp"), NULL);
    MQTTClient c = NULL;
    int got = 0;
    if (!tcp)
        return;
    for (int i = 0; i < N; i++) {
        snprintf(topic[i], sizeof topic[i], "%s/%d", base, i);
        pub(tcp, topic[i], "kept", 4, 1, 1);
    }
    snprintf(filter, sizeof filter, "%s/#", base);
    c = client_new(t, tl_name(tname[t]), NULL);
    if (c && sub(c, filter, 1)) {
        char *tp = NULL;
        MQTTClient_message *m;
        while (got < N && (m = recv_msg(c, TL_WAIT, &tp)) != NULL) {
            CHECKF(m->retained && m->payloadlen == 4, "%s: not the retained message", tp);
            got++;
            MQTTClient_freeMessage(&m);
            MQTTClient_free(tp);
        }
        CHECKF(got == N, "%s: %d of %d retained messages arrived after the SUBACK", tname[t], got,
               N);
    }
    for (int i = 0; i < N; i++)
        pub(tcp, topic[i], "", 0, 1, 1);
    client_free(&c, 0);
    client_free(&tcp, 0);
}

static void test_ws_retained_after_suback(void)
{
    retained_over(T_WS);
}

static void test_wss_retained_after_suback(void)
{
    retained_over(T_WSS);
}

static const struct {
    const char *name;
    void (*fn)(void);
} cases[] = {
    {"tls_verified_qos012", test_tls_verified},
    {"tls_not_verified_qos012", test_tls_not_verified},
    {"tls_wrong_ca_refused", test_tls_wrong_ca_refused},
    {"ws_qos012", test_ws},
    {"wss_verified_qos012", test_wss_verified},
    {"wss_not_verified_qos012", test_wss_not_verified},
    {"ws_200k_both_ways", test_ws_large},
    {"wss_200k_both_ways", test_wss_large},
    {"ws_mqtt5", test_ws_mqtt5},
    {"ws_and_tls_talk", test_ws_and_tls_talk},
    {"wss_and_tcp_talk", test_wss_and_tcp_talk},
    {"ws_burst_of_20", test_ws_burst},
    {"wss_burst_of_20", test_wss_burst},
    {"ws_retained_after_suback", test_ws_retained_after_suback},
    {"wss_retained_after_suback", test_wss_retained_after_suback},
};

/* With arguments, only the cases whose names contain one of them run. */
int main(int argc, char **argv)
{
    int rc;
    tl_init("client_paho_transports", 170);
    if (!make_certs()) {
        printf("cannot make the certificates with openssl\n0 passed, 1 failed\n");
        return 1;
    }
    if (!start_broker()) {
        printf("0 passed, 1 failed\n");
        tl_rm_tree(certdir);
        return 1;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool run = argc < 2;
        for (int a = 1; a < argc && !run; a++)
            run = strstr(cases[i].name, argv[a]) != NULL;
        if (run)
            tl_run(cases[i].name, cases[i].fn);
    }
    CHECKF(tl_broker_alive(&broker), "the broker died");
    rc = tl_broker_stop(&broker);
    CHECKF(rc == 0, "broker exit status %d", rc);
    tl_rm_tree(certdir);
    return tl_finish();
}
