/*
 * notify_opts.h - the command line of mqchat-notify: what to publish, where,
 * and how to reach the broker.
 *
 * This module turns argv and the environment (MQCHAT_USER, MQCHAT_PASSWORD,
 * MQCHAT_TOKEN) into a struct notify_opts and prints --help. It does not
 * talk to the broker (notify_conn.c) or build payloads (notify_payload.c).
 */
#ifndef MQCHAT_NOTIFY_OPTS_H
#define MQCHAT_NOTIFY_OPTS_H

#include <stdbool.h>
#include <stdio.h>

/* The exit codes of mqchat-notify (also in --help and mqchat-notify(1)). */
enum notify_exit {
    NOTIFY_OK = 0,          /* every notification delivered (acknowledged) */
    NOTIFY_USAGE = 1,       /* bad options, arguments, --meta or local error */
    NOTIFY_AUTH = 2,        /* the broker refused the login (CONNACK) */
    NOTIFY_NOT_ALLOWED = 3, /* the publish was refused: not authorized (0x87) */
    NOTIFY_UNREACHABLE = 4, /* no connection (or no acknowledgement) after the retries */
    NOTIFY_REJECTED = 5,    /* the publish was refused for another reason */
};

/* Where a notification goes (doc/protocol.md, "Topics"). */
enum notify_target {
    NOTIFY_TO_NONE = 0,
    NOTIFY_TO_ALL,  /* {prefix}/system */
    NOTIFY_TO_ROOM, /* {prefix}/room/{room}/system */
    NOTIFY_TO_USER, /* {prefix}/user/{user}/events */
};

struct notify_opts {
    enum notify_target target;
    const char *target_name; /* the room or user id (argv); NULL for --all */
    const char *prefix;      /* chat.prefix of the broker, default "chat" */
    const char *meta;        /* --meta JSON text (argv), or NULL */
    char *text;              /* the arguments joined by spaces (owned); NULL with stdin */
    bool from_stdin;         /* "-": one notification per line of stdin */

    const char *host;      /* default "localhost" */
    int port;              /* 0 until parsed: then 1883, or 8883 with TLS */
    const char *client_id; /* NULL: libmosquitto makes a random one */
    int version;           /* 5 or 311 */
    int keepalive;         /* seconds */

    bool tls;             /* --tls, or implied by --cafile/--capath/--insecure/--cert */
    bool insecure;        /* no verification of the server's certificate at all */
    const char *cafile;   /* PEM CA bundle; NULL: the system's CAs */
    const char *capath;   /* directory of hashed CA certificates */
    const char *certfile; /* client certificate (PEM) */
    const char *keyfile;  /* its key */

    const char *username; /* flag, MQCHAT_USER, or the token's `sub` */
    const char *password; /* the password or the token: never printed */
    char *token_user;     /* the `sub` claim read from a token (owned), or NULL */

    int retries;        /* connection attempts after the first, >= 0 */
    int retry_delay_ms; /* first wait between attempts; doubles, at most 10 s */
    int timeout_ms;     /* a connection attempt, and the wait for an acknowledgement */
    bool quiet;         /* only errors */
    bool keep_going;    /* stdin: go on after a refused notification */
};

/*
 * Parses argv (and the environment) into *o. Returns -1 when --help or
 * --version was printed to out (exit 0), NOTIFY_OK, or NOTIFY_USAGE with
 * the reason printed to err. *o points into argv and the environment;
 * call notify_opts_free() afterwards in every case.
 */
int notify_opts_parse(int argc, char **argv, struct notify_opts *o, FILE *out, FILE *err);

/* Frees what notify_opts_parse() allocated (text, token_user). */
void notify_opts_free(struct notify_opts *o);

/* Prints the --help text to f. */
void notify_usage(FILE *f);

#endif
