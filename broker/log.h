/*
 * log.h - the broker's log lines, on stderr.
 *
 * One line per call, prefixed with the time and the level; stdio's own lock
 * keeps lines from different threads whole. Debug lines are printed only
 * after log_set_verbose(true) (the -v flag). Never log secrets: passwords
 * and tokens do not reach these functions.
 */
#ifndef MQCHAT_LOG_H
#define MQCHAT_LOG_H

#include <stdbool.h>

void log_set_verbose(bool verbose);
bool log_is_verbose(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
