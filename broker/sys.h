/*
 * sys.h - $SYS/broker/... statistics, published every sys_interval seconds
 * from the main thread as retained QoS 0 messages, with Mosquitto's topic
 * names (see doc/architecture.md for the list). A topic is republished
 * only when its value changed, as Mosquitto does.
 */
#ifndef MQCHAT_SYS_H
#define MQCHAT_SYS_H

#include <uv.h>

struct broker;

#define SYS_MAX_TOPICS 32

struct sys_reporter {
    struct broker *b;
    uv_timer_t timer;
    char *last[SYS_MAX_TOPICS]; /* last value published per topic (owned) */
    uint64_t archived_before;   /* archived count at the last report (for the rate) */
    uint64_t reported_ms;       /* uv_now() of the last report */
};

/* Starts the timer on loop when b->cfg->sys_interval > 0 (and publishes
 * the first values at once). */
void sys_start(struct sys_reporter *r, struct broker *b, uv_loop_t *loop);

/* Stops the timer and frees the remembered values. */
void sys_stop(struct sys_reporter *r);

#endif
