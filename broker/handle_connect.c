/*
 * handle_connect.c - CONNECT: validation, the hop to the client id's home
 * worker, authentication, session take-over or resumption, CONNACK.
 *
 * Order matters: the packet is decoded; a client id that lives on another
 * worker sends the connection there before anything else is decided (the
 * home worker decodes again and decides); then credentials, the will's
 * topic and ACL, and only then the session. Every refusal sends a CONNACK
 * (MQTT 3.1.1 return code, or the MQTT 5 reason code) and closes.
 *
 * MQTT 5 additions: the CONNECT properties (Session Expiry Interval, Receive
 * Maximum, Maximum Packet Size, Topic Alias Maximum, Request Problem
 * Information, Authentication Method: refused with 0x8C as no method is
 * supported) and the will properties; the CONNACK carries what the broker
 * allows (Receive Maximum, Maximum Packet Size, Topic Alias Maximum) and
 * what it decided (Assigned Client Identifier, Server Keep Alive).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acl.h"
#include "auth.h"
#include "chat.h"
#include "chat_live.h"
#include "conn.h"
#include "handlers.h"
#include "log.h"
#include "mqtt5.h"
#include "password.h"
#include "persist.h"
#include "protocol.h"
#include "session.h"
#include "topic.h"
#include "worker.h"

/* What the CONNECT asked for, decoded and checked. */
struct connect_req {
    struct mqtt_connect m;
    struct mqtt5_props props;      /* MQTT 5 only */
    struct mqtt5_props will_props; /* MQTT 5 only */
};

/* The MQTT 5 reason code for a 3.1.1 CONNACK return code. */
static uint8_t v5_reason(uint8_t rc311)
{
    switch (rc311) {
    case MQTT_CONNACK_BAD_PROTOCOL:
        return MQTT5_RC_UNSUPPORTED_PROTOCOL_VERSION;
    case MQTT_CONNACK_ID_REJECTED:
        return MQTT5_RC_CLIENT_ID_NOT_VALID;
    case MQTT_CONNACK_UNAVAILABLE:
        return MQTT5_RC_SERVER_UNAVAILABLE;
    case MQTT_CONNACK_BAD_CREDENTIALS:
        return MQTT5_RC_BAD_USERNAME_OR_PASSWORD;
    case MQTT_CONNACK_NOT_AUTHORIZED:
        return MQTT5_RC_NOT_AUTHORIZED;
    }
    return rc311;
}

/* Sends a refusing CONNACK and returns the error that closes the conn.
 * rc is a 3.1.1 return code, or for MQTT 5 a reason code >= 0x80. */
static int connect_refuse(struct conn *c, uint8_t rc)
{
    if (c->version == MQTT_V5) {
        uint8_t reason = rc >= 0x80 ? rc : v5_reason(rc);
        uint8_t props[96];
        struct mqtt5_writer pw;
        mqtt5_writer_init(&pw, props, sizeof(props));
        if (c->problem_info) {
            const char *text = mqtt5_reason_string(reason);
            mqtt5_put_str(&pw, MQTT5_PROP_REASON_STRING, text, strlen(text));
        }
        uint32_t plen = pw.overflow ? 0 : (uint32_t)pw.len;
        uint8_t *p = conn_reserve(c, mqtt5_connack_size(plen));
        if (p)
            mqtt5_encode_connack(p, false, reason, props, plen);
    } else {
        uint8_t pkt[4];
        conn_send(c, pkt, mqtt_encode_connack(pkt, false, rc));
    }
    return MQ_EDENIED;
}

/* connect_authenticate(): the chat user's password must be checked first. */
#define CONNECT_CHECK_PASSWORD 0xff

/* Checks credentials: a chat user's token (chat.h), else the password file,
 * else allow_anonymous. *role gets the chat role: none for a client whose
 * user name nobody checked. Returns MQTT_CONNACK_ACCEPTED, the refusing
 * return code, or CONNECT_CHECK_PASSWORD with the chat user's hash in hash
 * (and *role set) when the password must be checked against it. */
static uint8_t connect_authenticate(struct conn *c, const struct mqtt_connect *m,
                                    enum chat_role *role, char hash[PASSWORD_HASH_MAX])
{
    *role = CHAT_ROLE_NONE;
    const struct auth_snapshot *a = c->w->auth;
    struct chat *ch = c->w->b->chat;
    const uint8_t *pw = m->has_password ? (const uint8_t *)m->password.s : NULL;
    if (m->has_username && ch) {
        int rc = chat_authenticate(ch, m->username.s, m->username.len, pw, m->password.len,
                                   (int64_t)time(NULL), role, hash, PASSWORD_HASH_MAX);
        if (rc == MQ_OK)
            return MQTT_CONNACK_ACCEPTED;
        if (rc == MQ_EAGAIN)
            return CONNECT_CHECK_PASSWORD;
        if (rc == MQ_EDENIED)
            return MQTT_CONNACK_BAD_CREDENTIALS;
    }
    if (m->has_username && a && a->passwd) {
        if (passwd_db_check(a->passwd, m->username.s, m->username.len, pw, m->password.len) !=
            MQ_OK)
            return MQTT_CONNACK_BAD_CREDENTIALS;
        /* A name that is not a valid user id gets no chat rights. */
        *role = chat_name_valid(m->username.s, m->username.len) ? CHAT_ROLE_USER : CHAT_ROLE_NONE;
        return MQTT_CONNACK_ACCEPTED;
    }
    return c->w->b->cfg->allow_anonymous ? MQTT_CONNACK_ACCEPTED : MQTT_CONNACK_NOT_AUTHORIZED;
}

/*
 * A chat user's password, checked on libuv's thread pool: an Argon2id
 * check costs tens of milliseconds, which the worker's other clients must
 * not wait for. The connection stops reading; the CONNECT and the bytes
 * after it wait here and are replayed when the answer is in, with the
 * answer in the conn (login_verdict), so that the second pass does not
 * check again.
 */
struct password_check {
    uv_work_t req;
    struct conn *c; /* NULL once the connection closed meanwhile */
    uint8_t *bytes; /* the CONNECT and what followed it (malloc'd) */
    size_t len;
    uint8_t role; /* the user's chat role, for a match */
    int result;   /* password_verify()'s answer */
    char hash[PASSWORD_HASH_MAX];
    size_t password_len;
    uint8_t password[]; /* wiped before it is freed */
};

static void password_check_free(struct password_check *pc)
{
    explicit_bzero(pc->password, pc->password_len);
    free(pc->bytes);
    free(pc);
}

static void password_check_run(uv_work_t *req) /* a thread-pool thread */
{
    struct password_check *pc = req->data;
    pc->result = password_verify(pc->hash, pc->password, pc->password_len);
}

static void password_check_done(uv_work_t *req, int status) /* the worker's loop */
{
    struct password_check *pc = req->data;
    struct conn *c = pc->c;
    if (!c) {
        password_check_free(pc);
        return;
    }
    c->password_check = NULL;
    c->login_verdict = status == 0 && pc->result == MQ_OK ? 1 : 2;
    c->login_role = pc->role;
    uint8_t *bytes = pc->bytes;
    pc->bytes = NULL;
    size_t len = pc->len;
    password_check_free(pc);
    conn_replay(c, bytes, len);
    c->login_verdict = 0;
    if (!publish_acks_backlogged(c)) /* else publish_ack_settle() resumes it */
        conn_pause_reading(c, false);
}

void connect_forget_check(struct conn *c)
{
    if (c->password_check)
        c->password_check->c = NULL;
    c->password_check = NULL;
}

/* Sets the CONNECT (from[0..len): it and what followed) aside while the
 * password is checked. PROTOCOL_STOP, or MQ_ENOMEM. */
static int connect_check_password(struct conn *c, const struct mqtt_connect *m, const char *hash,
                                  enum chat_role role, const uint8_t *from, size_t len)
{
    struct password_check *pc = calloc(1, sizeof(*pc) + m->password.len);
    uint8_t *bytes = malloc(len ? len : 1);
    if (!pc || !bytes) {
        free(pc);
        free(bytes);
        return MQ_ENOMEM;
    }
    memcpy(bytes, from, len);
    pc->req.data = pc;
    pc->c = c;
    pc->bytes = bytes;
    pc->len = len;
    pc->role = (uint8_t)role;
    snprintf(pc->hash, sizeof(pc->hash), "%s", hash);
    pc->password_len = m->password.len;
    memcpy(pc->password, m->password.s, m->password.len);
    if (uv_queue_work(&c->w->loop, &pc->req, password_check_run, password_check_done) != 0) {
        password_check_free(pc);
        return MQ_EIO;
    }
    c->password_check = pc;
    conn_pause_reading(c, true);
    return PROTOCOL_STOP;
}

/*
 * Builds the will message. Returns MQ_OK with *will (NULL when the CONNECT
 * has none), MQ_EPROTOCOL for a topic a client may not publish to at all,
 * MQ_EDENIED when the ACL refuses it, MQ_ENOMEM.
 */
static int connect_will(struct conn *c, const struct connect_req *r, const char *username,
                        const char *client_id, struct message **will)
{
    const struct mqtt_connect *m = &r->m;
    *will = NULL;
    if (!m->will)
        return MQ_OK;
    const struct config *cfg = c->w->b->cfg;
    if (topic_validate_name(m->will_topic.s, m->will_topic.len) != MQ_OK)
        return MQ_EPROTOCOL;
    if (cfg->message_size_limit && m->will_payload.len > cfg->message_size_limit)
        return MQ_ETOOLARGE;
    const struct auth_snapshot *a = c->w->auth;
    struct chat *ch = c->w->b->chat;
    struct chat_topic t;
    if (ch && chat_topic_parse(ch, m->will_topic.s, m->will_topic.len, &t) != CHAT_NOT_CHAT)
        return MQ_EDENIED; /* chat messages are made by the chat policy, not left behind */
    if (m->will_topic.s[0] == '$' ||
        (a && a->acl &&
         !acl_check(a->acl, username, client_id, m->will_topic.s, m->will_topic.len, ACL_WRITE)))
        return MQ_EDENIED;
    struct message_extra extra = {0};
    uint8_t *props = NULL;
    if (m->version == MQTT_V5 && r->will_props.raw_len) {
        static const uint8_t drop[] = {MQTT5_PROP_WILL_DELAY_INTERVAL,
                                       MQTT5_PROP_MESSAGE_EXPIRY_INTERVAL};
        props = malloc(r->will_props.raw_len);
        if (!props)
            return MQ_ENOMEM;
        extra.props = props;
        extra.props_len = (uint32_t)mqtt5_props_filter(r->will_props.raw, r->will_props.raw_len,
                                                       props, drop, sizeof(drop));
    }
    *will = message_new(m->will_topic.s, m->will_topic.len, (const uint8_t *)m->will_payload.s,
                        m->will_payload.len, m->will_qos, m->will_retain, &extra);
    free(props);
    return *will ? MQ_OK : MQ_ENOMEM;
}

/*
 * Makes a client id for a client that sent none, into buf. It is chosen so
 * that its home worker is w: an MQTT 5 client may come back with it (its
 * session then lives on here). Returns its length.
 */
static size_t assign_client_id(struct worker *w, char *buf, size_t size)
{
    for (;;) {
        uint64_t salt = uv_hrtime();
        int n = snprintf(buf, size, "auto-%llx-%llx", (unsigned long long)++w->auto_id_counter,
                         (unsigned long long)salt);
        if (worker_home(w->b, buf, (size_t)n) == w->index)
            return (size_t)n;
    }
}

/* Finds the session to resume, after closing any connection that holds
 * it (take-over). Returns NULL when a new session must be made. */
static struct session *connect_take_over(struct conn *c, const char *client_id, size_t len,
                                         bool clean, const char *username)
{
    struct worker *w = c->w;
    struct session *s = session_find(w, client_id, len);
    if (s && s->conn) {
        conn_disconnect(s->conn, MQTT5_RC_SESSION_TAKEN_OVER,
                        "session taken over by a new connection");
        s = session_find(w, client_id, len); /* a session that ended is gone now */
    }
    if (!s)
        return NULL;
    bool same_user = (!username && !s->username) ||
                     (username && s->username && strcmp(username, s->username) == 0);
    if (clean || !same_user) {
        session_destroy(s);
        return NULL;
    }
    return s;
}

/* Decodes the MQTT 5 property blocks and applies what they ask of c.
 * MQ_OK, or an error with c->close_reason / a refusal to send. */
static int connect_v5_props(struct conn *c, struct connect_req *r)
{
    int rc = mqtt5_props_decode(r->m.props, r->m.props_len, MQTT5_CTX_CONNECT, &r->props);
    if (rc == MQ_OK && r->m.will)
        rc = mqtt5_props_decode(r->m.will_props, r->m.will_props_len, MQTT5_CTX_WILL,
                                &r->will_props);
    if (rc != MQ_OK)
        return rc;
    const struct mqtt5_props *p = &r->props;
    c->problem_info =
        !mqtt5_has(p, MQTT5_PROP_REQUEST_PROBLEM_INFORMATION) || p->request_problem_info;
    c->receive_max = mqtt5_has(p, MQTT5_PROP_RECEIVE_MAXIMUM) ? p->receive_maximum : 65535;
    c->max_packet_out = mqtt5_has(p, MQTT5_PROP_MAXIMUM_PACKET_SIZE) ? p->maximum_packet_size : 0;
    /* The broker assigns at most max_topic_alias aliases, like it accepts. */
    uint16_t cap = c->w->b->cfg->max_topic_alias;
    c->alias_max_out = p->topic_alias_maximum < cap ? p->topic_alias_maximum : cap;
    return MQ_OK;
}

/* Sends the accepting CONNACK. */
static void connect_accept(struct conn *c, bool present, const char *assigned_id,
                           uint16_t server_keepalive)
{
    if (c->version != MQTT_V5) {
        uint8_t pkt[4];
        conn_send(c, pkt, mqtt_encode_connack(pkt, present, MQTT_CONNACK_ACCEPTED));
        return;
    }
    const struct config *cfg = c->w->b->cfg;
    uint8_t props[160];
    struct mqtt5_writer pw;
    mqtt5_writer_init(&pw, props, sizeof(props));
    uint32_t window = cfg->max_inflight_messages;
    mqtt5_put_u16(&pw, MQTT5_PROP_RECEIVE_MAXIMUM,
                  (uint16_t)(window && window < 65535 ? window : 65535));
    uint32_t max_packet = protocol_max_packet(c);
    if (max_packet)
        mqtt5_put_u32(&pw, MQTT5_PROP_MAXIMUM_PACKET_SIZE, max_packet);
    if (cfg->max_topic_alias)
        mqtt5_put_u16(&pw, MQTT5_PROP_TOPIC_ALIAS_MAXIMUM, cfg->max_topic_alias);
    if (assigned_id)
        mqtt5_put_str(&pw, MQTT5_PROP_ASSIGNED_CLIENT_IDENTIFIER, assigned_id, strlen(assigned_id));
    if (server_keepalive)
        mqtt5_put_u16(&pw, MQTT5_PROP_SERVER_KEEP_ALIVE, server_keepalive);
    uint32_t plen = pw.overflow ? 0 : (uint32_t)pw.len;
    uint8_t *p = conn_reserve(c, mqtt5_connack_size(plen));
    if (p)
        mqtt5_encode_connack(p, present, MQTT5_RC_SUCCESS, props, plen);
}

int handle_connect(struct conn *c, const struct mqtt_frame *f, const uint8_t *rest, size_t rest_len)
{
    struct worker *w = c->w;
    const struct config *cfg = w->b->cfg;
    struct connect_req r;
    memset(&r, 0, sizeof(r));
    int rc = mqtt_decode_connect(f, &r.m);
    if (rc == MQ_EPROTOCOL)
        return connect_refuse(c, MQTT_CONNACK_BAD_PROTOCOL);
    if (rc != MQ_OK)
        return rc;
    const struct mqtt_connect *m = &r.m;
    c->version = m->version;
    if (m->version == MQTT_V5 && (rc = connect_v5_props(c, &r)) != MQ_OK)
        return connect_refuse(c, mqtt5_reason_for_error(rc));

    bool v5 = m->version == MQTT_V5;
    if (m->client_id.len == 0 && ((!v5 && !m->clean_start) || !cfg->allow_zero_length_clientid))
        return connect_refuse(c, MQTT_CONNACK_ID_REJECTED);
    if (m->client_id.len) {
        unsigned home = worker_home(w->b, m->client_id.s, m->client_id.len);
        if (home != w->index) {
            conn_handoff(c, home, rest, rest_len);
            return PROTOCOL_STOP;
        }
    }
    if (v5 && mqtt5_has(&r.props, MQTT5_PROP_AUTHENTICATION_METHOD))
        return connect_refuse(c, MQTT5_RC_BAD_AUTHENTICATION_METHOD);
    uint16_t keepalive = m->keepalive;
    uint16_t server_keepalive = 0;
    if (cfg->max_keepalive && keepalive > cfg->max_keepalive) {
        if (!v5)
            return connect_refuse(c, MQTT_CONNACK_ID_REJECTED);
        keepalive = server_keepalive = cfg->max_keepalive;
    }

    enum chat_role role = (enum chat_role)c->login_role;
    uint8_t verdict;
    if (c->login_verdict) { /* the replay after a password check */
        verdict = c->login_verdict == 1 ? MQTT_CONNACK_ACCEPTED : MQTT_CONNACK_BAD_CREDENTIALS;
    } else {
        char hash[PASSWORD_HASH_MAX];
        verdict = connect_authenticate(c, m, &role, hash);
        if (verdict == CONNECT_CHECK_PASSWORD)
            return connect_check_password(c, m, hash, role, rest, rest_len);
    }
    if (verdict != MQTT_CONNACK_ACCEPTED)
        return connect_refuse(c, verdict);

    char auto_id[48];
    const char *client_id = m->client_id.s;
    size_t client_id_len = m->client_id.len;
    if (client_id_len == 0) {
        client_id_len = assign_client_id(w, auto_id, sizeof(auto_id));
        client_id = auto_id;
    }

    /* NUL-terminated copies for the ACL and the session. */
    char *username = m->has_username ? strndup(m->username.s, m->username.len) : NULL;
    char *cid = strndup(client_id, client_id_len);
    struct message *will = NULL;
    if ((m->has_username && !username) || !cid) {
        rc = MQ_ENOMEM;
        goto out;
    }
    rc = connect_will(c, &r, username, cid, &will);
    if (rc == MQ_EDENIED) {
        rc = connect_refuse(c, MQTT_CONNACK_NOT_AUTHORIZED);
        goto out;
    }
    if (rc != MQ_OK)
        goto out;

    uint32_t expiry = v5 ? r.props.session_expiry : (m->clean_start ? 0 : SESSION_EXPIRY_NEVER);
    struct session *s = connect_take_over(c, cid, client_id_len, m->clean_start, username);
    bool present = s != NULL;
    if (!s)
        s = session_create(w, cid, client_id_len, username, username ? strlen(username) : 0,
                           expiry);
    if (!s) {
        message_unref(will);
        rc = connect_refuse(c, MQTT_CONNACK_UNAVAILABLE);
        goto out;
    }
    s->expiry_s = expiry;
    s->role = (uint8_t)role;
    session_set_will(s, will, v5 ? r.will_props.will_delay : 0,
                     v5 ? r.will_props.message_expiry : 0);
    s->version = m->version;
    c->keepalive = keepalive;
    c->state = CONN_ACTIVE;
    c->s = s;
    connect_accept(c, present, client_id == auto_id && v5 ? cid : NULL, server_keepalive);
    session_attach(s, c);
    chat_conn_up(c);
    persist_session(s); /* online now: a crash does not count as time offline */
    log_debug("worker %u: client '%s' connected (MQTT level %u, user %s, %s session)", w->index,
              cid, m->version, username ? username : "-", present ? "resumed" : "new");
    rc = MQ_OK;
out:
    free(username);
    free(cid);
    return rc;
}
