/*
 * bench_proc.h - what the kernel says about the broker under test.
 *
 * Reads /proc/PID/status (VmRSS) and /proc/PID/stat (utime, stime) of the
 * processes given by --pid, and this process's own CPU time, so a run can
 * report the broker's memory and CPU next to its throughput. Several --pid
 * (a cluster: two nodes and their Redis) are sampled together and summed.
 * Sampling is a few small reads; it is done only at phase boundaries,
 * never per message.
 */
#ifndef MQCHAT_BENCH_PROC_H
#define MQCHAT_BENCH_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* Processes one run may sample (--pid given several times). */
#define BENCH_MAX_PIDS 4u

struct bench_proc_sample {
    uint64_t at_ns;  /* CLOCK_MONOTONIC when taken */
    uint64_t rss_kb; /* VmRSS, KiB */
    uint64_t cpu_ns; /* utime + stime, nanoseconds */
};

/*
 * Samples process pid (0 = this process, from getrusage(), rss_kb from
 * /proc/self/status). Returns MQ_OK, or MQ_EIO when the process is gone or
 * its /proc files do not parse (*s is then zeroed).
 */
int bench_proc_sample(pid_t pid, struct bench_proc_sample *s);

/*
 * Samples the n (<= BENCH_MAX_PIDS) processes of pids: each into each[i]
 * (each may be NULL) and their sum into *sum (rss_kb and cpu_ns added up,
 * at_ns the time of the last sample). Returns MQ_OK, or MQ_EIO when any of
 * them cannot be sampled (*sum is then zeroed).
 */
int bench_proc_sample_all(const pid_t *pids, uint32_t n, struct bench_proc_sample *each,
                          struct bench_proc_sample *sum);

/* CPU used between two samples as a percentage of one core (can exceed
 * 100 for a multi-threaded process); 0 when no time passed. */
double bench_proc_cpu_pct(const struct bench_proc_sample *a, const struct bench_proc_sample *b);

#endif
