/*
 * test_tls.c - the TLS layer and the link that stacks it (broker/tls.c,
 * broker/link.c) against an OpenSSL client, byte for byte through memory
 * BIOs, with no socket: the handshake, data both ways (one byte and
 * 300 KB), close_notify, refusals (TLS 1.1, not TLS at all, a client
 * certificate from the wrong CA or none when one is required), the
 * configuration errors that stop start-up, a reload that fails keeping the
 * old certificate, and TLS with WebSocket inside (wss).
 * Certificates are made by the openssl command line in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "broker.h"
#include "config.h"
#include "errors.h"
#include "link.h"
#include "tls.h"
#include "unit_helpers.h"

static char dir[512];

static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static const char *path(const char *name)
{
    static char buf[4][600];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
    return buf[i];
}

/* A CA, a server certificate for 127.0.0.1 signed by it, a client
 * certificate signed by it, and a client certificate of another CA. */
static int certs_setup(void **state)
{
    if (unit_tmpdir_setup(state) != 0)
        return -1;
    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    sh("cd %s && openssl req -x509 %s -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca "
       "2>/dev/null",
       dir, ec);
    sh("cd %s && openssl req -x509 %s -keyout other.key -out other.crt -days 2 -subj /CN=other "
       "2>/dev/null",
       dir, ec);
    const char *names[] = {"server", "client", "stranger"};
    const char *cas[] = {"ca", "ca", "other"};
    for (int i = 0; i < 3; i++)
        sh("cd %s && openssl req %s -keyout %s.key -out %s.csr -subj /CN=%s 2>/dev/null && "
           "openssl x509 -req -in %s.csr -CA %s.crt -CAkey %s.key -CAcreateserial -days 2 "
           "-out %s.crt 2>/dev/null",
           dir, ec, names[i], names[i], names[i], names[i], cas[i], cas[i], names[i]);
    return 0;
}

/* ---- a broker with just what link_new needs ------------------------------------------------ */

struct fixture {
    struct config cfg;
    struct broker b;
};

static void fixture_open(struct fixture *f, const char *ca, bool require)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(config_defaults(&f->cfg), MQ_OK);
    f->cfg.tls_cert = strdup(path("server.crt"));
    f->cfg.tls_key = strdup(path("server.key"));
    f->cfg.tls_ca = ca ? strdup(path(ca)) : NULL;
    f->cfg.tls_require_certificate = require;
    f->b.cfg = &f->cfg;
    assert_int_equal(tls_server_open(&f->cfg, &f->b.tls), MQ_OK);
    assert_non_null(f->b.tls);
}

static void fixture_close(struct fixture *f)
{
    tls_server_free(f->b.tls);
    config_free(&f->cfg);
}

/* ---- the client side ------------------------------------------------------------------------ */

struct client {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;
};

static void client_open(struct client *c, int max_version, const char *cert)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(c->ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(c->ctx, path("ca.crt"), NULL), 1);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (max_version) {
        SSL_CTX_set_min_proto_version(c->ctx, TLS1_VERSION);
        SSL_CTX_set_max_proto_version(c->ctx, max_version);
        SSL_CTX_set_security_level(c->ctx, 0);
    }
    if (cert) {
        char name[64];
        snprintf(name, sizeof(name), "%s.crt", cert);
        assert_int_equal(SSL_CTX_use_certificate_file(c->ctx, path(name), SSL_FILETYPE_PEM), 1);
        snprintf(name, sizeof(name), "%s.key", cert);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(c->ctx, path(name), SSL_FILETYPE_PEM), 1);
    }
    c->ssl = SSL_new(c->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(c->rbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_connect_state(c->ssl);
}

static void client_close(struct client *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
}

/* Moves bytes both ways until nothing moves; the MQTT bytes the server
 * link yields are appended to app. */
static void pump(struct client *c, struct link *l, struct bytebuf *app)
{
    for (int round = 0; round < 50; round++) {
        bool moved = false;
        ERR_clear_error();
        if (!SSL_is_init_finished(c->ssl))
            SSL_do_handshake(c->ssl);
        uint8_t buf[65536];
        int n;
        while ((n = BIO_read(c->wbio, buf, sizeof(buf))) > 0) {
            assert_int_equal(link_read(l, buf, (size_t)n, app), MQ_OK);
            moved = true;
        }
        struct bytebuf wire = {0};
        assert_int_equal(link_write(l, NULL, 0, &wire), MQ_OK);
        if (wire.len) {
            BIO_write(c->rbio, wire.data, (int)wire.len);
            moved = true;
        }
        bytebuf_free(&wire);
        if (!moved)
            return;
    }
    fail_msg("the handshake does not settle");
}

/* Reads what the client can from its side, into out. */
static size_t client_read(struct client *c, uint8_t *out, size_t cap)
{
    size_t got = 0;
    int n;
    while (got < cap && (n = SSL_read(c->ssl, out + got, (int)(cap - got))) > 0)
        got += (size_t)n;
    return got;
}

static void server_send(struct client *c, struct link *l, const void *data, size_t len)
{
    struct bytebuf wire = {0};
    assert_int_equal(link_write(l, data, len, &wire), MQ_OK);
    BIO_write(c->rbio, wire.data, (int)wire.len);
    bytebuf_free(&wire);
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_handshake_and_data(void **state)
{
    struct fixture f;
    fixture_open(&f, NULL, false);
    struct link *l = link_new(&f.b, LINK_TLS);
    assert_non_null(l);
    assert_false(link_ready(l));
    struct client c;
    client_open(&c, 0, NULL);
    struct bytebuf app = {0};
    pump(&c, l, &app);
    assert_true(SSL_is_init_finished(c.ssl));
    assert_true(link_ready(l));
    assert_null(link_finished(l));
    assert_int_equal(app.len, 0);

    assert_int_equal(SSL_write(c.ssl, "x", 1), 1);
    pump(&c, l, &app);
    assert_int_equal(app.len, 1);
    assert_memory_equal(app.data, "x", 1);

    size_t big = 300 * 1024;
    uint8_t *data = malloc(big), *back = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 7);
    app.len = 0;
    assert_int_equal(SSL_write(c.ssl, data, (int)big), (int)big);
    pump(&c, l, &app);
    assert_int_equal(app.len, big);
    assert_memory_equal(app.data, data, big);

    server_send(&c, l, data, big);
    assert_int_equal(client_read(&c, back, big), big);
    assert_memory_equal(back, data, big);

    /* Goodbye: the client sees close_notify. */
    struct bytebuf wire = {0};
    assert_int_equal(link_goodbye(l, LINK_BYE_NORMAL, &wire), MQ_OK);
    assert_true(wire.len > 0);
    BIO_write(c.rbio, wire.data, (int)wire.len);
    bytebuf_free(&wire);
    uint8_t one;
    assert_true(SSL_read(c.ssl, &one, 1) <= 0);
    assert_int_equal(SSL_get_error(c.ssl, 0), SSL_ERROR_ZERO_RETURN);

    free(data);
    free(back);
    bytebuf_free(&app);
    client_close(&c);
    link_free(l);
    fixture_close(&f);
}

/* A handshake that fails: the link says why and owes the alert. */
static void expect_refused(struct fixture *f, int max_version, const char *cert)
{
    struct link *l = link_new(&f->b, LINK_TLS);
    struct client c;
    client_open(&c, max_version, cert);
    struct bytebuf app = {0};
    pump(&c, l, &app);
    const char *why = link_finished(l);
    assert_non_null(why);
    assert_non_null(strstr(why, "tls: handshake failed"));
    assert_false(link_ready(l));
    assert_int_equal(app.len, 0);
    bytebuf_free(&app);
    client_close(&c);
    link_free(l);
}

static void test_old_versions_refused(void **state)
{
    struct fixture f;
    fixture_open(&f, NULL, false);
    expect_refused(&f, TLS1_1_VERSION, NULL);
    expect_refused(&f, TLS1_VERSION, NULL);
    fixture_close(&f);
}

static void test_not_tls(void **state)
{
    struct fixture f;
    fixture_open(&f, NULL, false);
    struct link *l = link_new(&f.b, LINK_TLS);
    struct bytebuf app = {0};
    static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(link_read(l, (const uint8_t *)get, sizeof(get) - 1, &app), MQ_OK);
    assert_non_null(link_finished(l));
    assert_int_equal(app.len, 0);
    /* Input after the end is ignored. */
    assert_int_equal(link_read(l, (const uint8_t *)get, sizeof(get) - 1, &app), MQ_OK);
    assert_int_equal(app.len, 0);
    bytebuf_free(&app);
    link_free(l);
    fixture_close(&f);
}

static void test_client_certificates(void **state)
{
    struct fixture f;
    fixture_open(&f, "ca.crt", true);
    expect_refused(&f, 0, NULL);       /* none, but one is required */
    expect_refused(&f, 0, "stranger"); /* from another CA */
    struct link *l = link_new(&f.b, LINK_TLS);
    struct client c;
    client_open(&c, 0, "client");
    struct bytebuf app = {0};
    pump(&c, l, &app);
    assert_true(link_ready(l));
    assert_null(link_finished(l));
    client_close(&c);
    link_free(l);
    fixture_close(&f);

    /* tls.ca without the requirement: no certificate is fine, a bad one is not. */
    fixture_open(&f, "ca.crt", false);
    l = link_new(&f.b, LINK_TLS);
    client_open(&c, 0, NULL);
    pump(&c, l, &app);
    assert_true(link_ready(l));
    client_close(&c);
    link_free(l);
    expect_refused(&f, 0, "stranger");
    fixture_close(&f);
    bytebuf_free(&app);
}

static void test_configuration_errors(void **state)
{
    struct config cfg;
    struct tls_server *ts = NULL;
    assert_int_equal(config_defaults(&cfg), MQ_OK);
    assert_int_equal(tls_server_open(&cfg, &ts), MQ_OK); /* nothing set: no TLS */
    assert_null(ts);
    cfg.tls_cert = strdup(path("server.crt"));
    assert_int_equal(tls_server_open(&cfg, &ts), MQ_EINVAL); /* no key */
    cfg.tls_key = strdup(path("client.key"));
    assert_int_equal(tls_server_open(&cfg, &ts), MQ_EINVAL); /* not its key */
    free(cfg.tls_key);
    cfg.tls_key = strdup(path("missing.key"));
    assert_int_equal(tls_server_open(&cfg, &ts), MQ_EINVAL);
    free(cfg.tls_key);
    cfg.tls_key = strdup(path("server.key"));
    cfg.tls_require_certificate = true;
    assert_int_equal(tls_server_open(&cfg, &ts), MQ_EINVAL); /* no tls.ca */
    cfg.tls_ca = strdup(path("missing-ca.crt"));
    assert_int_equal(tls_server_open(&cfg, &ts), MQ_EINVAL);
    free(cfg.tls_ca);
    cfg.tls_ca = strdup(path("ca.crt"));
    assert_int_equal(tls_server_open(&cfg, &ts), MQ_OK);
    tls_server_free(ts);
    config_free(&cfg);
}

static void test_reload(void **state)
{
    struct fixture f;
    fixture_open(&f, NULL, false);
    sh("cp %s/server.crt %s/saved.crt && echo garbage > %s/server.crt", dir, dir, dir);
    assert_int_not_equal(tls_server_reload(f.b.tls), MQ_OK);
    sh("mv %s/saved.crt %s/server.crt", dir, dir);
    /* The old context is still in force. */
    struct link *l = link_new(&f.b, LINK_TLS);
    struct client c;
    client_open(&c, 0, NULL);
    struct bytebuf app = {0};
    pump(&c, l, &app);
    assert_true(link_ready(l));
    client_close(&c);
    /* A good reload; a link made before it still works. */
    assert_int_equal(tls_server_reload(f.b.tls), MQ_OK);
    struct client c2;
    client_open(&c2, 0, NULL);
    struct link *l2 = link_new(&f.b, LINK_TLS);
    pump(&c2, l2, &app);
    assert_true(link_ready(l2));
    assert_int_equal(SSL_write(c2.ssl, "ok", 2), 2);
    pump(&c2, l2, &app);
    assert_int_equal(app.len, 2);
    client_close(&c2);
    link_free(l2);
    link_free(l);
    bytebuf_free(&app);
    fixture_close(&f);
}

/* wss: the WebSocket upgrade and a frame, inside TLS. */
static void test_websocket_inside_tls(void **state)
{
    struct fixture f;
    fixture_open(&f, NULL, false);
    struct link *l = link_new(&f.b, LINK_WSS);
    assert_non_null(l);
    struct client c;
    client_open(&c, 0, NULL);
    struct bytebuf app = {0};
    pump(&c, l, &app);
    assert_true(SSL_is_init_finished(c.ssl));
    assert_false(link_ready(l)); /* TLS is, the WebSocket is not */
    static const char req[] = "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
    assert_int_equal(SSL_write(c.ssl, req, (int)sizeof(req) - 1), (int)sizeof(req) - 1);
    pump(&c, l, &app);
    assert_true(link_ready(l));
    char answer[1024] = {0};
    client_read(&c, (uint8_t *)answer, sizeof(answer) - 1);
    assert_non_null(strstr(answer, "HTTP/1.1 101"));
    assert_non_null(strstr(answer, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    /* A masked binary frame with 3 bytes. */
    const uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t frame[9] = {0x82, 0x80 | 3, mask[0], mask[1], mask[2], mask[3]};
    const uint8_t payload[3] = {0x10, 0x20, 0x30};
    for (int i = 0; i < 3; i++)
        frame[6 + i] = payload[i] ^ mask[i % 4];
    assert_int_equal(SSL_write(c.ssl, frame, sizeof(frame)), (int)sizeof(frame));
    pump(&c, l, &app);
    assert_int_equal(app.len, 3);
    assert_memory_equal(app.data, payload, 3);
    /* The server's bytes come back as one unmasked binary frame. */
    server_send(&c, l, "\xd0\x00", 2);
    uint8_t got[16];
    assert_int_equal(client_read(&c, got, sizeof(got)), 4);
    assert_int_equal(got[0], 0x82);
    assert_int_equal(got[1], 2);
    assert_memory_equal(got + 2, "\xd0\x00", 2);
    bytebuf_free(&app);
    client_close(&c);
    link_free(l);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_data),   cmocka_unit_test(test_old_versions_refused),
        cmocka_unit_test(test_not_tls),              cmocka_unit_test(test_client_certificates),
        cmocka_unit_test(test_configuration_errors), cmocka_unit_test(test_reload),
        cmocka_unit_test(test_websocket_inside_tls),
    };
    return cmocka_run_group_tests(tests, certs_setup, unit_tmpdir_teardown);
}
