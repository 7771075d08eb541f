/*
 * link.h - mqchat-display's MQTT 5 connection (libmosquitto, driven from
 * the caller's loop: no thread of libmosquitto's own).
 *
 * On every successful CONNECT (clean start, QoS 0, the keepalive asked
 * for) it subscribes to {prefix}/room/{room}, .../system and .../presence
 * in one SUBSCRIBE, and once that is granted asks the room's history over
 * MQTT (doc/protocol.md, "History over MQTT": a request on
 * {prefix}/room/{room}/history with the Response Topic
 * {prefix}/user/{user}/events and Correlation Data), so that the view
 * shows the last messages on start and after every reconnect, including
 * those sent while the display was away. What arrives goes into the room
 * view (room_view.h).
 *
 * A lost connection is retried forever: after 1 s, doubling up to 60 s,
 * each delay with +-25% jitter; the delay starts again at 1 s once a
 * connection is accepted. The exceptions end the program: credentials
 * refused at the first CONNECT (a wrong password never gets better), and a
 * SUBSCRIBE to the room refused (the user may not read it, or it does not
 * exist).
 */
#ifndef MQCHAT_DISPLAY_LINK_H
#define MQCHAT_DISPLAY_LINK_H

#include <stdbool.h>

#include "room_view.h"

/* What link_step() may return besides DISPLAY_OK / DISPLAY_ENOMEM. */
enum {
    LINK_EAUTH = -10,   /* credentials refused at the first CONNECT */
    LINK_EDENIED = -11, /* SUBSCRIBE to the room refused */
    LINK_ESETUP = -12,  /* libmosquitto refused the options (TLS files...) */
};

struct link_opts {
    const char *host;     /* Broker host name or address. */
    int port;             /* MQTT port. */
    const char *user;     /* MQTT user name: the user id. */
    const char *password; /* Its password, or a token; not copied: must outlive the link. */
    const char *room;     /* Room to show. */
    const char *prefix;   /* chat.prefix of the broker ("chat"). */
    int keepalive;        /* Seconds. */
    int history;          /* Messages asked for at each (re)connect, 1-1000. */
    const char *cafile;   /* CA certificates: TLS when set. */
    bool insecure;        /* TLS without checking the host name. */
    bool verbose;         /* Log connection events to stderr. */
};

struct link;

/*
 * Makes a link feeding view v (which must outlive it); nothing is sent
 * before the first link_step(). Returns DISPLAY_OK with *out, or
 * DISPLAY_ENOMEM / LINK_ESETUP (with a message on stderr).
 */
int link_new(const struct link_opts *o, struct room_view *v, struct link **out);

/*
 * Does what is due, waiting at most timeout_ms for it: connects when the
 * back-off delay has passed, reads and writes, keeps alive. Sets *changed
 * when the view changed (messages, online count, link state). A signal
 * ends the wait early. Returns DISPLAY_OK, or LINK_EAUTH / LINK_EDENIED
 * (the program should end), or DISPLAY_ENOMEM.
 */
int link_step(struct link *l, int timeout_ms, bool *changed);

/* Sends DISCONNECT when connected, then closes the socket. */
void link_close(struct link *l);

/* Frees the link (closed or not). */
void link_free(struct link *l);

#endif
