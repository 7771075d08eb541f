/*
 * log.c - timestamped log lines on stderr (see log.h).
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static atomic_bool verbose_on;

void log_set_verbose(bool verbose)
{
    atomic_store(&verbose_on, verbose);
}

bool log_is_verbose(void)
{
    return atomic_load(&verbose_on);
}

static void log_line(const char *level, const char *fmt, va_list ap)
{
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

    char line[1024];
    int n = snprintf(line, sizeof(line), "%s.%03ldZ %s ", stamp, ts.tv_nsec / 1000000, level);
    if (n < 0)
        return;
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    fprintf(stderr, "%s\n", line);
}

#define LOG_BODY(level)                                                                            \
    do {                                                                                           \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_line(level, fmt, ap);                                                                  \
        va_end(ap);                                                                                \
    } while (0)

void log_error(const char *fmt, ...)
{
    LOG_BODY("error");
}

void log_warn(const char *fmt, ...)
{
    LOG_BODY("warn");
}

void log_info(const char *fmt, ...)
{
    LOG_BODY("info");
}

void log_debug(const char *fmt, ...)
{
    if (!atomic_load(&verbose_on))
        return;
    LOG_BODY("debug");
}
