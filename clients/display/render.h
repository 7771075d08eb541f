/*
 * render.h - lays a room view out on a fixed grid of width x height
 * columns and rows: the frame both outputs (screen.h) draw.
 *
 * Row 0 is the header: "#room" on the left, on the right "N here | live"
 * (N from the room presence topic, left out until known), "offline" while
 * the link is down, "connecting" before the first connection. Rows 1 to
 * height-1 hold the messages, each the line envelope_format() makes of it
 * ("HH:MM sender: text", local time), wrapped by display width
 * (textwidth.h), newest at the bottom; the oldest message that does not
 * fit whole shows its last lines, and older ones are scrolled off.
 *
 * Text is made safe for a terminal (safetext.h): control characters (C0,
 * DEL, C1) become spaces, '\n' in a message breaks the line, bytes that
 * are not UTF-8 become U+FFFD. Not here: MQTT, output.
 */
#ifndef MQCHAT_DISPLAY_RENDER_H
#define MQCHAT_DISPLAY_RENDER_H

#include <stddef.h>

#include "room_view.h"

struct frame {
    size_t width;  /* Columns of every row, >= 1. */
    size_t height; /* Rows, >= 1 (the header alone when 1). */
    char **rows;   /* rows[0..height): NUL-terminated UTF-8, each at most
                      `width` columns wide (textwidth_str), no trailing
                      spaces, no control characters; owned by the frame. */
};

/* An empty frame (every row ""). Returns DISPLAY_OK or DISPLAY_ENOMEM. */
int frame_init(struct frame *f, size_t width, size_t height);

void frame_free(struct frame *f);

/* 1 when a and b (of the same size) show the same, else 0. */
int frame_equal(const struct frame *a, const struct frame *b);

/*
 * Draws v of room `room` into f (replacing its rows). Returns DISPLAY_OK,
 * or DISPLAY_ENOMEM with f holding some rows of the new frame and some of
 * the old one (all valid strings).
 */
int render_frame(const struct room_view *v, const char *room, struct frame *f);

#endif
