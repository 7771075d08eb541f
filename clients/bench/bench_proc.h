/*
 * bench_proc.h - what the kernel says about the broker under test.
 *
 * Reads /proc/PID/status (VmRSS) and /proc/PID/stat (utime, stime) of a
 * process given by --pid, and this process's own CPU time, so a run can
 * report the broker's memory and CPU next to its throughput. Sampling is
 * a few small reads; it is done only at phase boundaries, never per
 * message.
 */
#ifndef MQCHAT_BENCH_PROC_H
#define MQCHAT_BENCH_PROC_H

#include <stdint.h>
#include <sys/types.h>

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

/* CPU used between two samples as a percentage of one core (can exceed
 * 100 for a multi-threaded process); 0 when no time passed. */
double bench_proc_cpu_pct(const struct bench_proc_sample *a, const struct bench_proc_sample *b);

#endif
