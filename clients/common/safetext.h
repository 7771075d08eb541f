/*
 * safetext.h - server text made safe to print on a terminal. Shared by the
 * terminal clients (mqchat, mqchat-notify, mqchat-display): every string
 * that came from the broker (a message, a room name, the reason of a
 * notice, the error of an HTTP answer) goes through here before it is
 * written to stdout or stderr, so a peer cannot move the cursor, retitle
 * the window or hide text with escape sequences.
 *
 * What it replaces: C0 controls (U+0000-U+001F, so ESC, CR, tab and - in
 * single-line output - newline), DEL (U+007F) and C1 controls
 * (U+0080-U+009F, such as U+009B, the one-character CSI) become a space;
 * bytes that are not valid UTF-8 (textwidth_decode()'s TEXTWIDTH_BAD)
 * become U+FFFD. Everything else is copied as is.
 *
 * What it is not: no width handling or wrapping (textwidth.h), no handling
 * of bidirectional or invisible format characters.
 */
#ifndef MQCHAT_SAFETEXT_H
#define MQCHAT_SAFETEXT_H

#include <stddef.h>

/* Flags for safetext_next() and safetext_copy(). */
#define SAFETEXT_NEWLINES 0x1 /* keep '\n' (multi-line output); else it becomes a space */

/*
 * Looks at the character at s[0..len) (len > 0). Returns its length in
 * bytes (1-4) and sets *rep and *nrep to the bytes to print instead: s
 * itself when the character is safe, else a static " " or U+FFFD.
 */
size_t safetext_next(const char *s, size_t len, int flags, const char **rep, size_t *nrep);

/*
 * Writes s[0..len) made safe into out (size n, always NUL-terminated when
 * n > 0), cut at a character boundary when it does not fit. Returns the
 * length the whole safe text has (like snprintf: more than n - 1 means it
 * was cut).
 */
size_t safetext_copy(char *out, size_t n, const char *s, size_t len, int flags);

/*
 * A heap copy of the NUL-terminated s made safe (s NULL: ""). Returns NULL
 * when out of memory; the caller frees it.
 */
char *safetext_dup(const char *s, int flags);

#endif
