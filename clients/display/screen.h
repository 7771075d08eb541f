/*
 * screen.h - the two outputs of mqchat-display.
 *
 * Plain (SCREEN_PLAIN): each frame that differs from the one before is
 * written to stdout as exactly `height` lines (rows without trailing
 * spaces, an empty row as an empty line), then a line holding a single
 * form feed ("\f\n"), then flushed. A reader splits the stream at "\f\n"
 * and takes the last complete frame: what e-ink refresh scripts and tests
 * do.
 *
 * Curses (SCREEN_CURSES): the frame drawn at the top left of the terminal
 * with ncursesw (rows past the terminal's size are clipped); 'q' quits.
 * Curses needs a UTF-8 locale to draw UTF-8: screen_open() sets LC_CTYPE
 * from the environment, and C.UTF-8 when that is not UTF-8. The layout's
 * widths never depend on it (textwidth.h).
 */
#ifndef MQCHAT_DISPLAY_SCREEN_H
#define MQCHAT_DISPLAY_SCREEN_H

#include <stdbool.h>

#include "render.h"

enum screen_kind { SCREEN_PLAIN, SCREEN_CURSES };

/* Starts the output. Returns DISPLAY_OK, or DISPLAY_EINVAL when curses
 * cannot start (no terminal). */
int screen_open(enum screen_kind kind);

/* The terminal's size (curses only, after screen_open()): sets *cols and
 * *rows and returns true; false otherwise. */
bool screen_size(enum screen_kind kind, int *cols, int *rows);

/* Shows f. Returns DISPLAY_OK or DISPLAY_EINVAL (stdout is gone). */
int screen_draw(enum screen_kind kind, const struct frame *f);

/* Curses: true when the user pressed 'q' (reads what is pending, never
 * waits). Plain: false. */
bool screen_quit_key(enum screen_kind kind);

/* Ends the output (curses: restores the terminal). */
void screen_close(enum screen_kind kind);

#endif
