/*
 * unit_helpers.h - what several cmocka programs in tests/unit share: a
 * temporary directory for the file readers' tests, and a generator of
 * topic strings for the exhaustive matching tests. Linked into every unit
 * test program by the Makefile.
 */
#ifndef MQCHAT_UNIT_HELPERS_H
#define MQCHAT_UNIT_HELPERS_H

#include <stddef.h>

/* cmocka group setup/teardown: makes /tmp/mqchat-unit.XXXXXX, and removes
 * it with every file in it. Both return 0 on success. */
int unit_tmpdir_setup(void **state);
int unit_tmpdir_teardown(void **state);

/* The temporary directory's path (valid after unit_tmpdir_setup). */
const char *unit_tmpdir(void);

/* tmpdir/name, in a static buffer (overwritten by the next call). */
const char *unit_tmp_path(const char *name);

/* Writes text to tmpdir/name (asserting success); returns its path, in the
 * same static buffer as unit_tmp_path(). */
const char *unit_write_file(const char *name, const char *text);

/*
 * Every string of 1..depth '/'-separated levels over alphabet[0..na), into
 * out (rows of `stride` bytes, at most max rows; asserts on overflow).
 * Returns the number of strings.
 */
size_t unit_gen_levels(const char *const *alphabet, size_t na, size_t depth, char *out,
                       size_t stride, size_t max);

#endif
