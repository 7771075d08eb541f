/*
 * chat.h - mqchat's interactive mode: a line-oriented chat on a terminal.
 * Owner: the mqchat CLI (issue 9).
 *
 * What it is: lines read from stdin are commands (/join, /leave, /rooms,
 * /dm, /history, /who, /block, /unblock, /read, /help, /quit) or text sent
 * to the current room or direct-message partner; messages arriving from
 * the broker are printed above the prompt as "HH:MM sender: text". The
 * connection is a persistent MQTT 5 session (client id
 * mqchat-USER-DEVICE, session expiry 7 days), so what arrived while the
 * client was away is shown when it comes back; a lost connection is
 * retried with backoff (backoff.h), said on screen.
 *
 * What it is not: no line editor (the terminal's own cooked mode), no
 * scroll-back beyond the terminal's.
 */
#ifndef MQCHAT_CLI_CHAT_H
#define MQCHAT_CLI_CHAT_H

#include "api.h"
#include "opts.h"

/* Session expiry asked for at CONNECT (seconds). */
#define CHAT_SESSION_EXPIRY (7 * 24 * 3600)

/* Runs the chat until /quit, end of input, SIGINT or SIGTERM. user is the
 * logged-in user id, secret the token or password for MQTT; api may have
 * no token (then /history, /rooms, /block... say they are unavailable).
 * Returns an MQCHAT_EXIT_* code (0 after /quit). */
int chat_run(const struct mqchat_opts *o, struct api *api, const char *user, const char *secret);

#endif
