/*
 * backoff.h - reconnect delays: 0.5 s doubling up to 30 s, back to 0.5 s
 * after a success. Owner: the mqchat CLI (issue 9). Pure arithmetic.
 */
#ifndef MQCHAT_CLI_BACKOFF_H
#define MQCHAT_CLI_BACKOFF_H

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

struct backoff {
    int next_ms; /* the delay before the next attempt, BACKOFF_MIN_MS..BACKOFF_MAX_MS */
};

/* Starts over at BACKOFF_MIN_MS. */
void backoff_reset(struct backoff *b);

/* Returns the delay to wait now (ms) and doubles the next one. */
int backoff_take(struct backoff *b);

/* Writes a delay as people read it ("0.5 s", "2 s") into buf. */
void backoff_describe(int ms, char *buf, unsigned n);

/* Milliseconds of CLOCK_MONOTONIC. */
long long backoff_now_ms(void);

#endif
