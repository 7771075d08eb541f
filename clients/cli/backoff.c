/*
 * backoff.c - reconnect delays (see backoff.h).
 */
#include "backoff.h"

#include <stdio.h>
#include <time.h>

void backoff_reset(struct backoff *b)
{
    b->next_ms = BACKOFF_MIN_MS;
}

int backoff_take(struct backoff *b)
{
    int d = b->next_ms < BACKOFF_MIN_MS ? BACKOFF_MIN_MS : b->next_ms;
    b->next_ms = d * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d * 2;
    return d;
}

void backoff_describe(int ms, char *buf, unsigned n)
{
    if (ms % 1000)
        snprintf(buf, n, "%d.%d s", ms / 1000, (ms % 1000) / 100);
    else
        snprintf(buf, n, "%d s", ms / 1000);
}

long long backoff_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
