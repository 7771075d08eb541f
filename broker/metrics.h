/*
 * metrics.h - the broker's counters in the Prometheus text format
 * (version 0.0.4), for GET /metrics.
 *
 * Reads only atomics (workers' published stats, the spool counters, the
 * chat counters), so any thread may call it at any time.
 */
#ifndef MQCHAT_METRICS_H
#define MQCHAT_METRICS_H

struct broker;
struct jbuf;

/* Appends every metric with its # HELP and # TYPE lines to out. */
void metrics_write(struct broker *b, struct jbuf *out);

#endif
