/*
 * screen.c - plain-text and curses output of a frame (see screen.h).
 * Not here: layout (render.c), MQTT.
 */
#include "screen.h"

#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curses.h>

static bool curses_up;

/* A UTF-8 LC_CTYPE for curses: the environment's, else C.UTF-8. */
static void utf8_locale(void)
{
    if (setlocale(LC_CTYPE, "")) {
        const char *cs = nl_langinfo(CODESET);
        if (cs && (strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "utf8") == 0))
            return;
    }
    setlocale(LC_CTYPE, "C.UTF-8");
}

int screen_open(enum screen_kind kind)
{
    if (kind == SCREEN_PLAIN)
        return DISPLAY_OK;
    utf8_locale();
    if (!newterm(NULL, stdout, stdin))
        return DISPLAY_EINVAL;
    curses_up = true;
    cbreak();
    noecho();
    nodelay(stdscr, TRUE);
    keypad(stdscr, TRUE);
    curs_set(0);
    return DISPLAY_OK;
}

bool screen_size(enum screen_kind kind, int *cols, int *rows)
{
    if (kind != SCREEN_CURSES || !curses_up)
        return false;
    *cols = COLS;
    *rows = LINES;
    return true;
}

int screen_draw(enum screen_kind kind, const struct frame *f)
{
    if (kind == SCREEN_PLAIN) {
        for (size_t i = 0; i < f->height; i++) {
            fputs(f->rows[i], stdout);
            putchar('\n');
        }
        fputs("\f\n", stdout);
        return fflush(stdout) == 0 && !ferror(stdout) ? DISPLAY_OK : DISPLAY_EINVAL;
    }
    erase();
    for (size_t i = 0; i < f->height && (int)i < LINES; i++) {
        if (i == 0)
            attron(A_REVERSE);
        mvaddstr((int)i, 0, f->rows[i]);
        if (i == 0) {
            for (int c = getcurx(stdscr); c < (int)f->width && c < COLS; c++)
                addch(' ');
            attroff(A_REVERSE);
        }
    }
    refresh();
    return DISPLAY_OK;
}

bool screen_quit_key(enum screen_kind kind)
{
    if (kind != SCREEN_CURSES || !curses_up)
        return false;
    int ch;
    while ((ch = getch()) != ERR)
        if (ch == 'q' || ch == 'Q')
            return true;
    return false;
}

void screen_close(enum screen_kind kind)
{
    if (kind == SCREEN_CURSES && curses_up) {
        endwin();
        curses_up = false;
    }
}
