/*
 * unit_helpers.c - shared helpers of the unit tests (see unit_helpers.h).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_helpers.h"

static char tmpdir[] = "/tmp/mqchat-unit.XXXXXX";

int unit_tmpdir_setup(void **state)
{
    return mkdtemp(tmpdir) ? 0 : -1;
}

int unit_tmpdir_teardown(void **state)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlink(unit_tmp_path(e->d_name));
    closedir(d);
    return rmdir(tmpdir);
}

const char *unit_tmpdir(void)
{
    return tmpdir;
}

const char *unit_tmp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    return path;
}

const char *unit_write_file(const char *name, const char *text)
{
    const char *path = unit_tmp_path(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    return path;
}

size_t unit_gen_levels(const char *const *alphabet, size_t na, size_t depth, char *out,
                       size_t stride, size_t max)
{
    size_t n = 0, first = 0;
    for (size_t i = 0; i < na; i++) {
        assert_true(n < max);
        snprintf(out + n++ * stride, stride, "%s", alphabet[i]);
    }
    for (size_t d = 2; d <= depth; d++) {
        size_t last = n;
        for (size_t p = first; p < last; p++) {
            for (size_t i = 0; i < na; i++) {
                assert_true(n < max);
                int w = snprintf(out + n * stride, stride, "%s/%s", out + p * stride, alphabet[i]);
                assert_true(w > 0 && (size_t)w < stride);
                n++;
            }
        }
        first = last;
    }
    return n;
}
