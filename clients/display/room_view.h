/*
 * room_view.h - what a room display knows about its room: the newest
 * messages (at most a fixed number, ordered by envelope id, each once),
 * the online count from the room's presence topic, and the state of the
 * connection. Fed with the JSON the broker sends (doc/protocol.md: the
 * envelope, the history answer, the room presence message); knows nothing
 * of MQTT or of the screen (render.c draws it).
 *
 * Envelopes are parsed and turned into a line of text by the clients'
 * shared clients/common/envelope.c ("HH:MM sender: text", local time);
 * the view keeps that line and the id.
 */
#ifndef MQCHAT_DISPLAY_ROOM_VIEW_H
#define MQCHAT_DISPLAY_ROOM_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Return codes of this program's modules: 0 or one of these. */
enum {
    DISPLAY_OK = 0,
    DISPLAY_ENOMEM = -1, /* out of memory: nothing changed */
    DISPLAY_EINVAL = -2, /* not what the protocol says: ignored */
};

/* The state of the link to the broker, as the header shows it. */
enum room_link {
    ROOM_LINK_CONNECTING, /* never connected yet */
    ROOM_LINK_LIVE,       /* connected and subscribed */
    ROOM_LINK_OFFLINE,    /* lost, or refused: retrying */
};

/* One message as shown. */
struct room_msg {
    uint64_t id; /* The envelope's id (decimal string in the JSON); orders messages. */
    char *line;  /* envelope_format()'s line, NUL-terminated; owned by the view. */
};

struct room_view {
    size_t max;          /* Messages kept at most (the newest); at least 1. */
    size_t n;            /* Messages held, 0..max. */
    struct room_msg *a;  /* a[0..n), ascending id. */
    long online;         /* Users viewing the room (presence `online`), -1 unknown. */
    enum room_link link; /* The connection state. */
};

/* Makes an empty view keeping at most max (>= 1) messages. Returns
 * DISPLAY_OK or DISPLAY_ENOMEM. */
int room_view_init(struct room_view *v, size_t max);

/* Frees what the view holds; v may be reused after room_view_init(). */
void room_view_free(struct room_view *v);

/*
 * Adds one envelope (the JSON of a PUBLISH on chat/room/{room} or its
 * /system topic). A message already held (same id) or older than every
 * message of a full view changes nothing. Returns 1 when the view changed,
 * 0 when not, DISPLAY_EINVAL when the payload is not an envelope with an
 * id, DISPLAY_ENOMEM.
 */
int room_view_add_json(struct room_view *v, const char *json, size_t len);

/*
 * Adds the messages of a history answer
 * ({"type":"history","messages":[...]}), as room_view_add_json() does each.
 * Returns 1 when the view changed, 0 when not (also for an answer with
 * "error"), DISPLAY_EINVAL when it is not a history answer, DISPLAY_ENOMEM.
 */
int room_view_history_json(struct room_view *v, const char *json, size_t len);

/* Takes `online` from a room presence message. Returns 1 when it changed,
 * 0 when not, DISPLAY_EINVAL when there is no `online` number. */
int room_view_presence_json(struct room_view *v, const char *json, size_t len);

#endif
