/*
 * script.h - mqchat's non-interactive modes for scripts. Owner: the mqchat
 * CLI (issue 9).
 *
 *   mqchat send ROOM TEXT   publishes one message (QoS 1) and exits 0 once
 *                           the broker acknowledged it; @USER for a direct
 *                           message; TEXT from stdin when not given.
 *   mqchat tail ROOM        prints the room's messages as they arrive, one
 *                           line each (--json: the envelopes as received),
 *                           reconnecting with backoff; -n N stops after N.
 *
 * Both use a clean session with a client id of their own (they never take
 * over the interactive client's persistent session). Exit codes: opts.h.
 */
#ifndef MQCHAT_CLI_SCRIPT_H
#define MQCHAT_CLI_SCRIPT_H

#include "opts.h"

/* Runs send or tail as o->mode says; returns an MQCHAT_EXIT_* code. */
int script_run(const struct mqchat_opts *o, const char *user, const char *secret);

#endif
