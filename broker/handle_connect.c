/*
 * handle_connect.c - CONNECT: validation, the hop to the client id's home
 * worker, authentication, session take-over or resumption, CONNACK.
 *
 * Order matters: the packet is decoded; a client id that lives on another
 * worker sends the connection there before anything else is decided (the
 * home worker decodes again and decides); then credentials, the will's
 * topic and ACL, and only then the session. Every refusal sends the CONNACK
 * return code of MQTT 3.1.1 section 3.2.2.3 and closes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "auth.h"
#include "conn.h"
#include "handlers.h"
#include "log.h"
#include "protocol.h"
#include "session.h"
#include "topic.h"
#include "worker.h"

/* Sends a refusing CONNACK and returns the error that closes the conn. */
static int connect_refuse(struct conn *c, uint8_t rc)
{
    uint8_t pkt[4];
    conn_send(c, pkt, mqtt_encode_connack(pkt, false, rc));
    return MQ_EDENIED;
}

/* Checks credentials against the password file and allow_anonymous.
 * Returns MQTT_CONNACK_ACCEPTED or the refusing return code. */
static uint8_t connect_authenticate(struct conn *c, const struct mqtt_connect *m)
{
    const struct auth_snapshot *a = c->w->auth;
    if (m->has_username && a && a->passwd) {
        const uint8_t *pw = m->has_password ? (const uint8_t *)m->password.s : NULL;
        if (passwd_db_check(a->passwd, m->username.s, m->username.len, pw, m->password.len) !=
            MQ_OK)
            return MQTT_CONNACK_BAD_CREDENTIALS;
        return MQTT_CONNACK_ACCEPTED;
    }
    return c->w->b->cfg->allow_anonymous ? MQTT_CONNACK_ACCEPTED : MQTT_CONNACK_NOT_AUTHORIZED;
}

/*
 * Builds the will message. Returns MQ_OK with *will (NULL when the CONNECT
 * has none), MQ_EPROTOCOL for a topic a client may not publish to at all,
 * MQ_EDENIED when the ACL refuses it, MQ_ENOMEM.
 */
static int connect_will(struct conn *c, const struct mqtt_connect *m, const char *username,
                        const char *client_id, struct message **will)
{
    *will = NULL;
    if (!m->will)
        return MQ_OK;
    const struct config *cfg = c->w->b->cfg;
    if (topic_validate_name(m->will_topic.s, m->will_topic.len) != MQ_OK)
        return MQ_EPROTOCOL;
    if (cfg->message_size_limit && m->will_payload.len > cfg->message_size_limit)
        return MQ_ETOOLARGE;
    const struct auth_snapshot *a = c->w->auth;
    if (m->will_topic.s[0] == '$' ||
        (a && a->acl &&
         !acl_check(a->acl, username, client_id, m->will_topic.s, m->will_topic.len, ACL_WRITE)))
        return MQ_EDENIED;
    *will = message_new(m->will_topic.s, m->will_topic.len, (const uint8_t *)m->will_payload.s,
                        m->will_payload.len, m->will_qos, m->will_retain);
    return *will ? MQ_OK : MQ_ENOMEM;
}

/* Finds the session to resume, after closing any connection that holds
 * it (take-over). Returns NULL when a new session must be made. */
static struct session *connect_take_over(struct conn *c, const char *client_id, size_t len,
                                         bool clean, const char *username)
{
    struct worker *w = c->w;
    struct session *s = session_find(w, client_id, len);
    if (s && s->conn) {
        conn_close(s->conn, "session taken over by a new connection");
        s = session_find(w, client_id, len); /* a clean session is gone now */
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

int handle_connect(struct conn *c, const struct mqtt_frame *f, const uint8_t *rest,
                   size_t rest_len)
{
    struct worker *w = c->w;
    const struct config *cfg = w->b->cfg;
    struct mqtt_connect m;
    int rc = mqtt_decode_connect(f, &m);
    if (rc == MQ_EPROTOCOL || (rc == MQ_OK && m.version == MQTT_V5))
        return connect_refuse(c, MQTT_CONNACK_BAD_PROTOCOL);
    if (rc != MQ_OK)
        return rc;
    c->version = m.version;

    if (m.client_id.len == 0 && (!m.clean_start || !cfg->allow_zero_length_clientid))
        return connect_refuse(c, MQTT_CONNACK_ID_REJECTED);
    if (m.client_id.len) {
        unsigned home = worker_home(w->b, m.client_id.s, m.client_id.len);
        if (home != w->index) {
            conn_handoff(c, home, rest, rest_len);
            return PROTOCOL_STOP;
        }
    }
    if (cfg->max_keepalive && m.keepalive > cfg->max_keepalive)
        return connect_refuse(c, MQTT_CONNACK_ID_REJECTED);

    uint8_t verdict = connect_authenticate(c, &m);
    if (verdict != MQTT_CONNACK_ACCEPTED)
        return connect_refuse(c, verdict);

    char auto_id[48];
    const char *client_id = m.client_id.s;
    size_t client_id_len = m.client_id.len;
    if (client_id_len == 0) {
        uint64_t salt = uv_hrtime();
        int n = snprintf(auto_id, sizeof(auto_id), "auto-%u-%llx-%llx", w->index,
                         (unsigned long long)++w->auto_id_counter, (unsigned long long)salt);
        client_id = auto_id;
        client_id_len = (size_t)n;
    }

    /* NUL-terminated copies for the ACL and the session. */
    char *username = m.has_username ? strndup(m.username.s, m.username.len) : NULL;
    char *cid = strndup(client_id, client_id_len);
    struct message *will = NULL;
    if ((m.has_username && !username) || !cid) {
        rc = MQ_ENOMEM;
        goto out;
    }
    rc = connect_will(c, &m, username, cid, &will);
    if (rc == MQ_EDENIED) {
        rc = connect_refuse(c, MQTT_CONNACK_NOT_AUTHORIZED);
        goto out;
    }
    if (rc != MQ_OK)
        goto out;

    struct session *s = connect_take_over(c, cid, client_id_len, m.clean_start, username);
    bool present = s != NULL;
    if (!s)
        s = session_create(w, cid, client_id_len, username, username ? strlen(username) : 0,
                           m.clean_start);
    if (!s) {
        message_unref(will);
        rc = connect_refuse(c, MQTT_CONNACK_UNAVAILABLE);
        goto out;
    }
    session_set_will(s, will);
    s->version = m.version;
    c->keepalive = m.keepalive;
    c->state = CONN_ACTIVE;
    c->s = s;
    uint8_t pkt[4];
    conn_send(c, pkt, mqtt_encode_connack(pkt, present, MQTT_CONNACK_ACCEPTED));
    session_attach(s, c);
    log_debug("worker %u: client '%s' connected (user %s, %s session)", w->index, cid,
              username ? username : "-", present ? "resumed" : "new");
    rc = MQ_OK;
out:
    free(username);
    free(cid);
    return rc;
}
