/*
 * ws.h - the WebSocket link layer (link.h) of the ws.port and wss.port
 * listeners: the HTTP upgrade (RFC 6455 section 4, the `mqtt` subprotocol,
 * ws.path, ws.origins) and then framing through wslay, without buffering
 * whole messages (doc/transports.md).
 *
 * Until the upgrade is answered the layer reads the request (at most
 * WS_MAX_HANDSHAKE bytes). A refusal is a plain HTTP answer, after which
 * the layer is finished. After the 101 answer, binary frame payload goes
 * up as it arrives; data written down goes out as one binary frame per
 * MQTT packet (see ws.c: Paho MQTT C needs it); pings are answered; a close frame is answered and finishes
 * the layer.
 */
#ifndef MQCHAT_WS_H
#define MQCHAT_WS_H

#include <stddef.h>
#include <stdint.h>

#include "link.h"

struct config;

#define WS_MAX_HANDSHAKE 8192 /* bytes of upgrade request, blank line included */

/* A WebSocket layer (server side) configured by cfg (ws.path, ws.origins,
 * ws.max_frame_bytes; cfg must outlive it). NULL when out of memory. Its
 * ops are ws_layer_ops. */
void *ws_layer_new(const struct config *cfg);

extern const struct link_layer_ops ws_layer_ops;

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key +
 * the RFC's GUID)), 28 characters and a NUL into out (an empty string when
 * OpenSSL runs out of memory). */
void ws_accept_key(const char *key, size_t key_len, char out[29]);

#endif
