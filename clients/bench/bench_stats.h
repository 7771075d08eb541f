/*
 * bench_stats.h - latency histogram and the result report of mqchat-bench.
 *
 * The histogram is log-linear (the HdrHistogram idea, much reduced): values
 * in nanoseconds, exact below 64 ns, and above that 32 buckets per power of
 * two, so a percentile is reported within about 3% of the true value with a
 * fixed 10 KiB of counters however many millions of samples come in.
 * The report is one struct filled by the scenario and printed either as
 * text for people or as one JSON line for run-bench.sh.
 */
#ifndef MQCHAT_BENCH_STATS_H
#define MQCHAT_BENCH_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bench_proc.h"

#define BENCH_HIST_BUCKETS 1344 /* covers values below 2^46 ns (about 19 hours) */

struct bench_hist {
    uint64_t counts[BENCH_HIST_BUCKETS];
    uint64_t n;      /* samples recorded */
    uint64_t max_ns; /* the largest sample, exact */
    uint64_t sum_ns; /* for the mean */
};

/* Empties h. */
void bench_hist_reset(struct bench_hist *h);

/* Adds one sample of ns nanoseconds (clamped to the covered range). */
void bench_hist_record(struct bench_hist *h, uint64_t ns);

/* The value at or below which pct percent (0-100) of samples fall: the top
 * of the bucket holding that sample, never above max_ns. 0 when empty. */
uint64_t bench_hist_percentile(const struct bench_hist *h, double pct);

/* What one run measured. Fields that do not apply stay 0; have_proc says
 * whether the broker fields were sampled (--pid). */
struct bench_result {
    const char *scenario; /* "fanout", "rooms", ... */
    const char *label;    /* --label or NULL */
    uint8_t version;      /* protocol level: 4 (MQTT 3.1.1) or 5 */
    uint32_t props;       /* user properties per PUBLISH (--props) */
    uint32_t packet_b;    /* bytes of one PUBLISH as sent, 0 when nothing is published */
    uint32_t delivery_b;  /* payload bytes of one delivery as received (chat-rooms: the
                             envelope), 0 when nothing was received */
    uint8_t qos;
    uint32_t size;             /* payload bytes */
    uint32_t pubs;             /* publishing connections */
    uint32_t subs;             /* subscribing connections */
    uint32_t conns;            /* connections asked for */
    uint32_t conns_ready;      /* connections that completed their handshake */
    uint32_t conns_failed;     /* connections that failed, at set-up or later */
    uint32_t rate;             /* per publisher, msg/s; 0 = as fast as the window allows */
    uint32_t window;           /* messages in flight per publisher */
    double setup_s;            /* seconds to connect and subscribe everything */
    double duration_s;         /* seconds of publishing */
    double measured_s;         /* seconds of publishing after the warm-up: the rates' base */
    uint64_t published;        /* PUBLISH packets sent */
    uint64_t acked;            /* PUBACKs received (QoS 1) */
    uint64_t expected;         /* deliveries the published messages should cause */
    uint64_t received;         /* deliveries received, drain included */
    uint64_t received_in_run;  /* deliveries received between the warm-up and the end of
                                  publishing */
    uint64_t published_in_run; /* messages published in that time */
    uint64_t duplicates;       /* deliveries of a message the subscriber already had */
    uint64_t gaps;             /* deliveries proven lost by a later one (in the loss) */
    uint64_t unexpected;       /* deliveries to a subscriber that should not get them */
    uint64_t throttled;        /* scheduled sends skipped because the window was full */
    uint64_t window_timeouts;  /* window slots given up on after BENCH_SLOT_TIMEOUT_MS */
    uint64_t protocol_errors;  /* packets from the broker that were wrong or unexpected */
    struct bench_hist *hist;   /* delivery latency; NULL when none was measured */
    double bench_cpu_pct;      /* this process's CPU over the run, % of one core */
    const char *split;         /* where the connections went: "alternate" or "pubsub" across
                                  two brokers, "pubsub" on one; NULL: one broker, one
                                  connection per member (not printed) */
    bool have_proc;
    double broker_cpu_pct; /* broker utime+stime over the run, % of one core (several
                              --pid: their sum) */
    uint32_t n_procs;      /* --pid given; with more than one, each one's share: */
    double proc_cpu_pct[BENCH_MAX_PIDS];
    uint64_t rss_before_kb; /* broker VmRSS before connecting (several --pid: summed) */
    uint64_t rss_after_kb;  /* broker VmRSS at the end (conns: after settling) */
    double rss_per_conn_b;  /* (after - before) / conns_ready, bytes (conns only) */
    const char *error;      /* first error seen, or NULL */

    const char *transport; /* "tcp", "tls", "ws" or "wss" (--transport); NULL: tcp */
    const char *tls;       /* TLS version and cipher negotiated, NULL without TLS */
};

/* Deliveries per second over the measured time. */
double bench_result_rate(const struct bench_result *r);

/* Messages published per second over the measured time. */
double bench_result_pub_rate(const struct bench_result *r);

/* Lost deliveries as a percentage of those expected (0 when none expected). */
double bench_result_loss_pct(const struct bench_result *r);

/* Prints r to out: several lines of text, or one JSON object and a newline. */
void bench_result_print(const struct bench_result *r, FILE *out, bool json);

#endif
