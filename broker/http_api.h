/*
 * http_api.h - the HTTP API (doc/protocol.md, "HTTP API"): JSON over
 * libmicrohttpd on http.port (default 8080; 0 turns it off), in its own
 * thread, off the MQTT hot path.
 *
 * It owns one database connection of its own (chat_db_open) and, in MySQL
 * mode, one to the local SQLite file for the spool rows not yet archived.
 * A change is written to the database first and then to the chat
 * directory (chat_dir.h), so that a failure changes nothing.
 */
#ifndef MQCHAT_HTTP_API_H
#define MQCHAT_HTTP_API_H

#include <stdint.h>

struct broker;
struct http_api;

/*
 * Starts the API on http.bind_address:http.port for b (b->chat open).
 * mqtt_port: the MQTT/TCP port actually bound, for the join answer.
 * MQ_OK and *out (NULL when http.port is 0), or MQ_EIO after logging why
 * (the port is taken...).
 */
int http_api_start(struct broker *b, uint16_t mqtt_port, struct http_api **out);

/* Stops the thread, closes the databases, frees api. NULL ok. */
void http_api_stop(struct http_api *api);

#endif
