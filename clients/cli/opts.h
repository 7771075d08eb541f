/*
 * opts.h - mqchat's settings: command-line flags, environment and the
 * config file, merged in that order of precedence (a flag beats MQCHAT_*,
 * which beats ~/.config/mqchat/config), plus the exit codes every mode
 * uses. Owner: the mqchat CLI (issue 9).
 *
 * What it is not: no network, no validation of what the broker will say
 * (a user id is checked for its shape only).
 */
#ifndef MQCHAT_CLI_OPTS_H
#define MQCHAT_CLI_OPTS_H

#include <stddef.h>
#include <stdio.h>

/* Exit codes (documented in doc/man/mqchat.1). */
enum mqchat_exit {
    MQCHAT_EXIT_OK = 0,
    MQCHAT_EXIT_USAGE = 1,       /* bad flags, config, or a missing user */
    MQCHAT_EXIT_AUTH = 2,        /* login refused: wrong password, bad or expired token */
    MQCHAT_EXIT_DENIED = 3,      /* the broker refused the publish or subscription */
    MQCHAT_EXIT_UNREACHABLE = 4, /* broker (or API) not reachable in time */
    MQCHAT_EXIT_FAILED = 5,      /* anything else: no acknowledgement, connection lost */
};

enum mqchat_mode { MQCHAT_CHAT, MQCHAT_SEND, MQCHAT_TAIL };

#define OPTS_NAME_MAX 64

struct mqchat_opts {
    enum mqchat_mode mode;
    char *url;      /* MQTT URL: tcp://, ssl://, ws://, wss:// (default tcp://localhost:1883) */
    char *api;      /* HTTP API base (default http://HOST:8080, HOST from url) */
    char *user;     /* user id; from the token's "sub" when only a token is given */
    char *password; /* never printed; wiped by opts_free() */
    char *token;    /* a chat token (JWT), used for MQTT and as the API bearer */
    char *cafile;   /* PEM CA file for ssl:// and wss:// */
    int insecure;   /* do not verify the server certificate */
    char *room;     /* the room to join at start (chat mode) */
    char *device;   /* part of the persistent client id (default: the host name) */
    int keepalive;  /* seconds (default 30) */
    int json;       /* tail: print the raw envelopes */
    long count;     /* tail: exit after this many messages (0 = never) */
    int timeout;    /* send/tail: seconds to wait for the broker (default 10) */
    /* send/tail operands */
    char *target;   /* ROOM, or @USER for a direct message (send only) */
    char *text;     /* send: the text (joined operands; NULL = read stdin) */
};

/* Fills *o from argv, the environment and the config file. Prints the
 * reason to stderr and returns MQCHAT_EXIT_USAGE on a usage error; returns
 * -1 after printing --help (the caller exits 0); 0 otherwise. The strings
 * in *o are heap copies owned by o (opts_free()). */
int opts_parse(int argc, char **argv, struct mqchat_opts *o);

/* Frees *o, overwriting the password and token first. */
void opts_free(struct mqchat_opts *o);

/* Asks for a password on the terminal (/dev/tty) with echo off. Returns a
 * heap string, or NULL when there is no terminal or reading failed. */
char *opts_prompt_password(const char *user);

/* 1 when z is a valid user id or room name: 1-64 bytes of [A-Za-z0-9_.-]. */
int opts_valid_name(const char *z);

/* Prints the usage text to f. */
void opts_usage(FILE *f);

#endif
