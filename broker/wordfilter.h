/*
 * wordfilter.h - a list of forbidden words, found in chat text
 * case-insensitively, and masked with '*' on request.
 *
 * Matching is substring matching on case-folded code points, not whole
 * words: Chinese, Japanese and Thai text has no spaces between words, so
 * a word boundary rule would let every CJK word through. The price is the
 * "Scunthorpe problem" (the word "ass" also finds "class"); pick the words
 * with that in mind. A word may hold spaces ("bad word"); matching is
 * exact between its code points (no skipping of blanks or punctuation).
 *
 * Case folding (wordfilter_fold) maps single code points to single code
 * points. It folds exactly the ranges below, each as Unicode's simple case
 * folding (CaseFolding.txt, status C and S) does, and nothing else (not
 * the rest of the Greek and Cyrillic blocks, nor Latin Extended-B):
 *   U+0041-U+005A  A-Z -> a-z (+0x20)
 *   U+00B5         micro sign -> U+03BC (Greek mu)
 *   U+00C0-U+00DE  Latin-1 capitals -> +0x20, except U+00D7 (the
 *                  multiplication sign); U+00DF (sharp s) is left alone
 *   U+0100-U+012F  Latin Extended-A pairs: even (capital) -> odd (+1)
 *   U+0132-U+0137  even -> odd (+1)
 *   U+0139-U+0148  odd (capital) -> even (+1)
 *   U+014A-U+0177  even -> odd (+1)
 *   U+0178         Y with diaeresis -> U+00FF
 *   U+0179-U+017E  odd -> even (+1)
 *   U+017F         long s -> 's'
 *   U+0386         -> U+03AC; U+0388-U+038A -> +0x25; U+038C -> U+03CC;
 *   U+038E-U+038F  -> +0x3F (the accented Greek capitals)
 *   U+0391-U+03AB  Greek capitals (with Ϊ, Ϋ) -> +0x20, except U+03A2 (unassigned)
 *   U+03C2         final sigma -> U+03C3 (sigma)
 *   U+0400-U+040F  Cyrillic capitals -> +0x50
 *   U+0410-U+042F  Cyrillic capitals -> +0x20
 * Left unfolded on purpose: U+0130 and U+0131 (Turkish dotted/dotless i,
 * whose folding depends on the language), U+0138 and U+0149 (lower case
 * letters without a capital), and everything not listed (CJK has no case).
 *
 * Text handed to the filter is normally valid UTF-8 (the envelope parser
 * refuses the rest). A byte that does not start a well-formed sequence
 * (overlong forms, surrogates and values above U+10FFFF included) counts
 * as one character of its own that no word matches.
 *
 * A filter is immutable after wordfilter_build(): any number of threads may
 * call match and mask on it at once. The owner frees it when no thread uses
 * it any more (chat_control.c does so under its write lock).
 */
#ifndef MQCHAT_WORDFILTER_H
#define MQCHAT_WORDFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WORDFILTER_MAX_WORDS 1000 /* words per filter */
#define WORDFILTER_WORD_MAX  64   /* bytes per word */

struct wordfilter;

/* The case folding of one code point (the table above); code points
 * outside it come back unchanged. */
uint32_t wordfilter_fold(uint32_t cp);

/* True when word[0..len) may be a filter word: 1-64 bytes of well-formed
 * UTF-8, no U+0000, and not made of white space and control characters
 * alone (U+0000-U+0020, U+007F: such a word folds to nothing worth
 * matching and would mask every gap between words). */
bool wordfilter_word_valid(const char *word, size_t len);

/*
 * Builds a filter from words[0..n), of lens[i] bytes each (lens NULL:
 * the words are NUL-terminated). Words that fold to the same code points
 * ("Bad", "BAD") are kept once. n == 0 gives a filter that matches nothing.
 * Returns MQ_OK and *out (free it with wordfilter_free); MQ_EINVAL when a
 * word is not wordfilter_word_valid or n > WORDFILTER_MAX_WORDS; MQ_ENOMEM.
 * *out is set only on MQ_OK; the words are copied (the caller keeps his).
 */
int wordfilter_build(const char *const *words, const size_t *lens, size_t n,
                     struct wordfilter **out);

/* Frees f. NULL ok. */
void wordfilter_free(struct wordfilter *f);

/* The number of distinct (folded) words in f; 0 for NULL. */
size_t wordfilter_count(const struct wordfilter *f);

/* True when text[0..len) contains any word of f, compared case-folded.
 * f NULL matches nothing. Allocates nothing. */
bool wordfilter_match(const struct wordfilter *f, const char *text, size_t len);

/*
 * Copies text[0..len) into *out with every character (code point) of every
 * occurrence of every word replaced by one '*': "Bad word" with the word
 * "bad" gives "*** word", and "ärger" with "ÄRGER" gives "*****" (5 bytes
 * for 6). Overlapping and adjacent occurrences mask the union of their
 * characters. The result is never longer than the text.
 *
 * Returns the number of occurrences (a word found at a position; "aaa"
 * holds "aa" twice) and sets *out (malloc'd, NUL-terminated, the caller
 * frees it) and *out_len (bytes, without the NUL). Returns 0 when there is
 * none: *out = NULL, *out_len = 0, nothing allocated. MQ_ENOMEM (negative):
 * *out = NULL. The count saturates at INT_MAX.
 */
int wordfilter_mask(const struct wordfilter *f, const char *text, size_t len, char **out,
                    size_t *out_len);

#endif
