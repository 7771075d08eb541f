/*
 * textwidth.h - UTF-8 decoding, the display width of a character in
 * terminal columns, and wrapping a string into lines of at most W columns.
 *
 * Widths follow wcwidth(3) as terminals apply it: East Asian Wide and
 * Fullwidth characters (CJK, Hangul syllables, emoji with emoji
 * presentation) take 2 columns; combining marks (Mn, Me), format characters
 * (Cf, such as ZERO WIDTH JOINER), Hangul medial and final jamo, and control
 * characters take 0; everything else takes 1. The tables are compiled in
 * (Unicode 14): nothing here depends on the locale, setlocale() or the C
 * library's wcwidth().
 *
 * This is not a renderer: it does not know about grapheme clusters (an
 * emoji ZWJ sequence counts as the sum of its parts, as most terminals
 * draw it), bidirectional text or tabs. Bytes that are not UTF-8 are
 * decoded one byte at a time as U+FFFD (width 1), so any byte string can be
 * measured and wrapped, and a line never ends inside a sequence.
 */
#ifndef MQCHAT_TEXTWIDTH_H
#define MQCHAT_TEXTWIDTH_H

#include <stddef.h>
#include <stdint.h>

/* What textwidth_decode() gives for a byte that does not start a valid,
 * complete, shortest-form UTF-8 sequence (or a surrogate). */
#define TEXTWIDTH_BAD 0xFFFDu

/*
 * Decodes the character at s[0..len). Returns its length in bytes (1-4)
 * and sets *cp; an invalid, overlong, surrogate, out-of-range or cut
 * sequence: returns 1 and *cp = TEXTWIDTH_BAD. len 0: returns 0, *cp
 * untouched.
 */
size_t textwidth_decode(const char *s, size_t len, uint32_t *cp);

/* The columns code point cp takes: 0, 1 or 2 (see above). */
int textwidth_cp(uint32_t cp);

/* The columns s[0..len) takes: the sum over its characters. */
size_t textwidth_str(const char *s, size_t len);

/*
 * The longest prefix of s[0..len) that fits in `width` columns, ending on
 * a character boundary (zero-width characters that follow the last one
 * that fits are kept with it). Returns its length in bytes; *cols, when
 * not NULL, gets its width.
 */
size_t textwidth_fit(const char *s, size_t len, size_t width, size_t *cols);

/* One wrapped line: s[off .. off+len), `cols` columns wide. */
struct textwidth_line {
    size_t off;  /* Byte offset of the line in the wrapped string. */
    size_t len;  /* Its length in bytes (trailing spaces not counted). */
    size_t cols; /* Its display width: at most the wrap width, except a
                    single character wider than the wrap width alone. */
};

/*
 * Wraps s[0..len) into lines of at most `width` columns (width 0 is taken
 * as 1), greedily: a line breaks at its last break opportunity that fits -
 * a space, or just before or after a wide character (CJK text has no
 * spaces between words) - else in the middle of the word (between two
 * characters, never inside a UTF-8 sequence, never before a zero-width
 * character). The space a line breaks at, and the spaces that follow it,
 * start no line; trailing spaces are left out of a line's length. '\n' ends a line (an empty line
 * for two in a row). A character wider than `width` (a wide one with width 1) makes a line of its
 * own. An empty string gives no lines.
 *
 * Stores the first `max` lines in lines[] (which may be NULL when max is
 * 0) and returns the number of lines the whole string takes, which may be
 * more than max: call again with a larger array to get them all.
 */
size_t textwidth_wrap(const char *s, size_t len, size_t width, struct textwidth_line *lines,
                      size_t max);

#endif
