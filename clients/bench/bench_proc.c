/*
 * bench_proc.c - /proc sampling of the broker under test (and of ourselves).
 *
 * /proc/PID/stat is "pid (comm) state ppid ..." where comm may hold spaces
 * and parentheses, so fields are counted from the last ')': utime and stime
 * are fields 14 and 15 of the line, in clock ticks (sysconf(_SC_CLK_TCK)).
 * /proc/PID/status has a "VmRSS:   1234 kB" line.
 */
#include "bench_proc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_conn.h"
#include "errors.h"

static int proc__rss(const char *path, uint64_t *kb)
{
    char line[256];
    FILE *f = fopen(path, "r");
    if (!f)
        return MQ_EIO;
    int rc = MQ_EIO;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            *kb = strtoull(line + 6, NULL, 10);
            rc = MQ_OK;
            break;
        }
    }
    fclose(f);
    return rc;
}

static int proc__cpu(const char *path, uint64_t *cpu_ns)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return MQ_EIO;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return MQ_EIO;
    /* After ')' come field 3 (state) onwards; utime is field 14. */
    unsigned long long utime = 0, stime = 0;
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 14)
            utime = strtoull(tok, NULL, 10);
        else if (field == 15) {
            stime = strtoull(tok, NULL, 10);
            break;
        }
    }
    if (field != 15)
        return MQ_EIO;
    long tck = sysconf(_SC_CLK_TCK);
    if (tck <= 0)
        tck = 100;
    *cpu_ns = (utime + stime) * (1000000000ull / (uint64_t)tck);
    return MQ_OK;
}

int bench_proc_sample(pid_t pid, struct bench_proc_sample *s)
{
    char path[64];

    memset(s, 0, sizeof(*s));
    s->at_ns = bench_now_ns();
    if (pid == 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        s->cpu_ns = ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
                    ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
        return proc__rss("/proc/self/status", &s->rss_kb);
    }
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    if (proc__rss(path, &s->rss_kb) != MQ_OK)
        goto err;
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if (proc__cpu(path, &s->cpu_ns) != MQ_OK)
        goto err;
    return MQ_OK;
err:
    memset(s, 0, sizeof(*s));
    return MQ_EIO;
}

int bench_proc_sample_all(const pid_t *pids, uint32_t n, struct bench_proc_sample *each,
                          struct bench_proc_sample *sum)
{
    struct bench_proc_sample one;

    memset(sum, 0, sizeof(*sum));
    for (uint32_t i = 0; i < n && i < BENCH_MAX_PIDS; i++) {
        if (bench_proc_sample(pids[i], &one) != MQ_OK) {
            memset(sum, 0, sizeof(*sum));
            return MQ_EIO;
        }
        if (each)
            each[i] = one;
        sum->rss_kb += one.rss_kb;
        sum->cpu_ns += one.cpu_ns;
        sum->at_ns = one.at_ns;
    }
    return n ? MQ_OK : MQ_EIO;
}

double bench_proc_cpu_pct(const struct bench_proc_sample *a, const struct bench_proc_sample *b)
{
    if (b->at_ns <= a->at_ns || b->cpu_ns < a->cpu_ns)
        return 0.0;
    return 100.0 * (double)(b->cpu_ns - a->cpu_ns) / (double)(b->at_ns - a->at_ns);
}
