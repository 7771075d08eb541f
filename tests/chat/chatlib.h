/*
 * chatlib.h - what the chat client-library programs (client_chat_*.c)
 * share: the chat keys of the broker's config, and the HTTP API driven
 * through curl (popen), with cJSON to read the answers; and two Paho MQTT
 * C (MQTTClient) steps every program needs.
 *
 * The broker itself is started and stopped by tests/broker/testlib.c.
 */
#ifndef MQCHAT_CHATLIB_H
#define MQCHAT_CHATLIB_H

#include <MQTTClient.h>
#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "../broker/testlib.h"

/* The service key (chat.service_key) of this run. */
const char *ch_service_key(void);

/*
 * The config lines of a chat broker, for tl_broker_start's extra:
 * chat.service_key and chat.token_secret (random for this run) and
 * http.bind_address 127.0.0.1.
 */
const char *ch_config(void);

/*
 * One HTTP request to the broker's API: method, path ("/v1/users"), bearer
 * (NULL for none), body (JSON text, NULL for none). Returns the status (0
 * when curl got no answer); *json gets the parsed answer (NULL when it is
 * not JSON; cJSON_Delete it). json may be NULL.
 */
int ch_http(const struct tl_broker *b, const char *method, const char *path, const char *bearer,
            const char *body, cJSON **json);

/* Creates a user with the service key (password NULL: tokens only). */
bool ch_make_user(const struct tl_broker *b, const char *name, const char *password,
                  const char *role);

/* A token for user minted by the service role into tok (NUL-terminated). */
bool ch_service_token(const struct tl_broker *b, const char *user, char *tok, size_t len);

/* Two chat users with their tokens, as most programs start. */
struct ch_pair {
    char alice[64], bob[64];     /* tl_name("alice"), tl_name("bob") */
    char atok[1024], btok[1024]; /* their tokens */
};

/* Starts b with cfg (ch_config() and more) and makes the pair; on a
 * failure the broker is stopped and "0 passed, 1 failed" printed: the
 * program returns 1. */
bool ch_start_with_pair(struct tl_broker *b, const char *cfg, struct ch_pair *p);

/* Creates a room as the holder of bearer. */
bool ch_make_room(const struct tl_broker *b, const char *bearer, const char *name, bool is_private);

/* The string member name of obj, or "" (never NULL). */
const char *ch_str(const cJSON *obj, const char *name);

/* The numeric member name of obj, or -1. */
double ch_num(const cJSON *obj, const char *name);

/* True when s is a decimal string of 1-20 digits without a leading 0. */
bool ch_is_decimal_id(const char *s);

/* Disconnects (if connected) and destroys *c; sets it NULL. NULL ok. */
void ch_paho_logout(MQTTClient *c);

/* Publishes payload at QoS 1 with MQTT 5 props (may be NULL) and waits
 * for the PUBACK; false (a check failed) otherwise. */
bool ch_paho_pub(MQTTClient c, const char *topic, const char *payload, MQTTProperties *props);

#endif
