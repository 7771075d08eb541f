/*
 * tls.c - the server's TLS context and the TLS link layer (see tls.h).
 *
 * A layer is one SSL object reading from and writing to two memory BIOs:
 * read() appends the socket's bytes to the read BIO and pulls plaintext out
 * with SSL_read (which also drives the handshake); write() pushes plaintext
 * in with SSL_write and drains the write BIO, where the handshake records,
 * alerts and session tickets wait too. OpenSSL's error queue is per thread:
 * it is cleared before each call whose failure is examined.
 */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "log.h"

#define TLS_READ_CHUNK  16384     /* plaintext pulled per SSL_read */
#define TLS_WRITE_CHUNK (1 << 20) /* plaintext pushed per SSL_write (it takes an int) */

struct tls_server {
    const struct config *cfg;
    pthread_mutex_t lock; /* guards ctx */
    SSL_CTX *ctx;         /* the current context: one reference */
};

struct tls_layer {
    SSL *ssl;   /* owns the two BIOs */
    BIO *rbio;  /* bytes from the socket, for OpenSSL */
    BIO *wbio;  /* bytes OpenSSL made, for the socket */
    bool bye;      /* close_notify written */
    char why[160]; /* why the connection must close; "" while it need not */
};

/* OpenSSL's first queued error as text ("no error" when none). */
static const char *ssl_error_text(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (!e)
        return "no error";
    ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

static SSL_CTX *tls_context_load(const struct config *cfg)
{
    char err[256];
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        log_error("tls: cannot make a context: %s", ssl_error_text(err, sizeof(err)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    static const unsigned char sid_ctx[] = "mqchatd";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    const char *what = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1)
        what = "tls.cert";
    else if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1)
        what = "tls.key";
    else if (SSL_CTX_check_private_key(ctx) != 1)
        what = "tls.key (does it match tls.cert?)";
    else if (cfg->tls_ca && SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1)
        what = "tls.ca";
    if (what) {
        log_error("tls: %s: %s", what, ssl_error_text(err, sizeof(err)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (cfg->tls_ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_ca);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        int mode = SSL_VERIFY_PEER;
        if (cfg->tls_require_certificate)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, NULL);
    }
    return ctx;
}

int tls_server_open(const struct config *cfg, struct tls_server **out)
{
    *out = NULL;
    if (!cfg->tls_cert && !cfg->tls_key) {
        if (cfg->tls_ca || cfg->tls_require_certificate)
            log_warn("tls.ca and tls.require_certificate do nothing without tls.cert and tls.key");
        return MQ_OK;
    }
    if (!cfg->tls_cert || !cfg->tls_key) {
        log_error("tls: %s is set but %s is not", cfg->tls_cert ? "tls.cert" : "tls.key",
                  cfg->tls_cert ? "tls.key" : "tls.cert");
        return MQ_EINVAL;
    }
    if (cfg->tls_require_certificate && !cfg->tls_ca) {
        log_error("tls: tls.require_certificate needs tls.ca to check certificates against");
        return MQ_EINVAL;
    }
    SSL_CTX *ctx = tls_context_load(cfg);
    if (!ctx)
        return MQ_EINVAL;
    struct tls_server *ts = calloc(1, sizeof(*ts));
    if (!ts) {
        SSL_CTX_free(ctx);
        return MQ_ENOMEM;
    }
    ts->cfg = cfg;
    ts->ctx = ctx;
    pthread_mutex_init(&ts->lock, NULL);
    *out = ts;
    return MQ_OK;
}

int tls_server_reload(struct tls_server *ts)
{
    SSL_CTX *ctx = tls_context_load(ts->cfg);
    if (!ctx) {
        log_error("tls: reload failed; the previous certificate stays in use");
        return MQ_EINVAL;
    }
    pthread_mutex_lock(&ts->lock);
    SSL_CTX *old = ts->ctx;
    ts->ctx = ctx;
    pthread_mutex_unlock(&ts->lock);
    SSL_CTX_free(old); /* connections made from it hold their own references */
    log_info("tls: certificate reloaded");
    return MQ_OK;
}

void tls_server_free(struct tls_server *ts)
{
    if (!ts)
        return;
    SSL_CTX_free(ts->ctx);
    pthread_mutex_destroy(&ts->lock);
    free(ts);
}

void *tls_layer_new(struct tls_server *ts)
{
    struct tls_layer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    pthread_mutex_lock(&ts->lock);
    t->ssl = SSL_new(ts->ctx);
    pthread_mutex_unlock(&ts->lock);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    /* An empty read BIO means "wait for more", not end of file. */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_accept_state(t->ssl);
    return t;
}

/* Records why the connection must close (the first reason wins). */
static void tls_fail(struct tls_layer *t, const char *what, const char *detail)
{
    if (!t->why[0])
        snprintf(t->why, sizeof(t->why), "tls: %s%s%.100s", what, *detail ? ": " : "", detail);
}

/* After an SSL call returned rc <= 0: true to go on later (it wants more
 * bytes), false when the connection is over (reason recorded). */
static bool tls_may_go_on(struct tls_layer *t, int rc)
{
    char err[256];
    switch (SSL_get_error(t->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return true;
    case SSL_ERROR_ZERO_RETURN:
        tls_fail(t, "the peer closed the session", "");
        return false;
    default:
        tls_fail(t, SSL_is_init_finished(t->ssl) ? "error" : "handshake failed",
                 ssl_error_text(err, sizeof(err)));
        return false;
    }
}

static int tls_read(void *layer, const uint8_t *in, size_t len, struct bytebuf *up)
{
    struct tls_layer *t = layer;
    if (t->why[0])
        return MQ_OK;
    while (len > 0) {
        int chunk = len > TLS_WRITE_CHUNK ? TLS_WRITE_CHUNK : (int)len;
        if (BIO_write(t->rbio, in, chunk) != chunk)
            return MQ_ENOMEM;
        in += chunk;
        len -= (size_t)chunk;
    }
    for (;;) {
        uint8_t *p = bytebuf_reserve(up, TLS_READ_CHUNK);
        if (!p)
            return MQ_ENOMEM;
        ERR_clear_error();
        int n = SSL_read(t->ssl, p, TLS_READ_CHUNK);
        if (n > 0) {
            up->len += (size_t)n;
            continue;
        }
        tls_may_go_on(t, n);
        return MQ_OK;
    }
}

/* Moves what OpenSSL wrote into down. */
static int tls_drain(struct tls_layer *t, struct bytebuf *down)
{
    size_t pending;
    while ((pending = BIO_ctrl_pending(t->wbio)) > 0) {
        uint8_t *p = bytebuf_reserve(down, pending);
        if (!p)
            return MQ_ENOMEM;
        int n = BIO_read(t->wbio, p, (int)(pending > TLS_WRITE_CHUNK ? TLS_WRITE_CHUNK : pending));
        if (n <= 0)
            break;
        down->len += (size_t)n;
    }
    return MQ_OK;
}

static int tls_write(void *layer, const uint8_t *in, size_t len, struct bytebuf *down)
{
    struct tls_layer *t = layer;
    if (!t->why[0] && !t->bye && SSL_is_init_finished(t->ssl)) {
        while (len > 0) {
            int chunk = len > TLS_WRITE_CHUNK ? TLS_WRITE_CHUNK : (int)len;
            ERR_clear_error();
            int n = SSL_write(t->ssl, in, chunk);
            if (n <= 0) {
                if (tls_may_go_on(t, n)) /* memory BIOs never block: bytes would be lost */
                    tls_fail(t, "a write stalled", "");
                break;
            }
            in += n;
            len -= (size_t)n;
        }
    }
    return tls_drain(t, down);
}

static int tls_goodbye(void *layer, enum link_bye why, struct bytebuf *down)
{
    struct tls_layer *t = layer;
    bool peer_said_bye = SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN;
    if (t->bye || (t->why[0] && !peer_said_bye) || !SSL_is_init_finished(t->ssl))
        return tls_drain(t, down);
    t->bye = true;
    ERR_clear_error();
    SSL_shutdown(t->ssl); /* queues close_notify; the peer's answer is not awaited */
    return tls_drain(t, down);
}

static bool tls_open(const void *layer)
{
    const struct tls_layer *t = layer;
    return SSL_is_init_finished(t->ssl);
}

static size_t tls_owes(const void *layer)
{
    const struct tls_layer *t = layer;
    return BIO_ctrl_pending(t->wbio);
}

static const char *tls_finished(const void *layer)
{
    const struct tls_layer *t = layer;
    return t->why[0] ? t->why : NULL;
}

static void tls_layer_free(void *layer)
{
    struct tls_layer *t = layer;
    SSL_free(t->ssl);
    free(t);
}

const struct link_layer_ops tls_layer_ops = {
    .name = "tls",
    .read = tls_read,
    .write = tls_write,
    .goodbye = tls_goodbye,
    .open = tls_open,
    .owes = tls_owes,
    .finished = tls_finished,
    .free = tls_layer_free,
};
