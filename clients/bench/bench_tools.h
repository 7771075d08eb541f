/*
 * bench_tools.h - two helper commands for scripts that drive mqchat-bench.
 *
 *   mqchat-bench freeport   prints a loopback TCP port nothing is bound to,
 *                           picked at random below the ephemeral range, so a
 *                           broker can be started on it;
 *   mqchat-bench probe      exits 0 once one MQTT CONNECT to --host:--port is
 *                           answered by an accepting CONNACK within
 *                           --setup-timeout seconds, 1 otherwise: "wait for
 *                           the port to answer", at the protocol level.
 */
#ifndef MQCHAT_BENCH_TOOLS_H
#define MQCHAT_BENCH_TOOLS_H

#include "bench_opts.h"

/* Prints a free port and a newline on stdout. Returns 0, or 1 when none
 * was found in a bounded number of tries. */
int bench_tool_freeport(const struct bench_opts *o);

/* Returns 0 when the broker accepted a connection, 1 otherwise (the reason
 * on stderr unless --quiet). */
int bench_tool_probe(const struct bench_opts *o);

#endif
