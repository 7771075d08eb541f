/*
 * test_auth.c - unit tests for auth.c: Mosquitto password files.
 *
 * Known-answer lines ($7$ PBKDF2-HMAC-SHA512 and $6$ salted SHA-512) were
 * computed outside mqchat (Python's hashlib), files made by the real
 * mosquitto_passwd are checked when it is installed (the case says it is
 * skipped otherwise), and passwd_hash() output is read back. Tables of
 * {input, expected} rows as in SQLite's between.test; files live in a
 * mkdtemp() directory removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "errors.h"
#include "unit_helpers.h"

/* Computed with hashlib.pbkdf2_hmac('sha512', pw, salt, n) and
 * hashlib.sha512(pw + salt); salts are the decoded base64 bytes. */
#define LINE_ALICE                                                                                 \
    "alice:$7$101$AAECAwQFBgcICQoL$lp0Cm29zl+CI/RXyXDKvLye7OxM3OuE6RMzgXTX/f3imS/pFh2Ur7yarLDp"    \
    "KRUKpB0tOj6l0UrRv41zqxmD4tg=="
#define LINE_BOB                                                                                   \
    "bob:$7$1000$c2FsdHNhbHRzYWx0$Y3YsSPZZHS0kkk/R8wuI6oED1hqVZE9RSmpo1g70mrIk/Cj7A38X8/Vmwb7A"    \
    "nJ/VQSL79q2yLBJHibGruE77BQ=="
#define LINE_CAROL                                                                                 \
    "carol:$6$ZGVmZ2hpamtsbW5v$1+BLaXfLDydWyRHQZoRjsigu+f0WSyfRAQeXBbu7sH9VKx4+ym8+HJhTQTQPIw"     \
    "2nZk3wkhlD3snSbQmOjqYXuA=="
#define LINE_DAVE                                                                                  \
    "dave:$6$MDEyMzQ1Njc4OWFi$AJt2lIVzjmIPk7W2mMZAZYsyO899QzFQUDNmh3WFlhTTeU9JwwZxroOltSSwx/p7"    \
    "Q91AyFQ6Mjgtc7P6/oqWNw=="
#define LINE_EVE                                                                                   \
    "eve:$7$101$YWJjZGU=$Wkzk0XZS7nMGI5mwwBU/V7/WeL6+LKJNlUSua0SJ6MS/CBa14WHfIRAGfPmVU80VvLJFj"    \
    "nAFrzh/fgkvC+e2Rw=="

/* A well-formed hash part, for building malformed lines around it. */
#define HASH_OK                                                                                    \
    "lp0Cm29zl+CI/RXyXDKvLye7OxM3OuE6RMzgXTX/f3imS/pFh2Ur7yarLDpKRUKpB0tOj6l0UrRv41zqxmD4tg=="

static int check(const struct passwd_db *db, const char *user, const char *password)
{
    return passwd_db_check(db, user, strlen(user), (const uint8_t *)password,
                           password ? strlen(password) : 0);
}

static struct passwd_db *load_ok(const char *path)
{
    struct passwd_db *db = NULL;
    char err[600] = "";
    int rc = passwd_db_load(path, &db, err, sizeof(err));
    if (rc != MQ_OK)
        fail_msg("load %s: rc %d: %s", path, rc, err);
    assert_non_null(db);
    return db;
}

struct check_row {
    const char *user, *password; /* password NULL: none given */
    int rc;
};

static void run_checks(const struct passwd_db *db, const struct check_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = check(db, rows[i].user, rows[i].password);
        if (rc != rows[i].rc)
            fail_msg("row %zu (%s/%s): rc %d, want %d", i, rows[i].user,
                     rows[i].password ? rows[i].password : "(null)", rc, rows[i].rc);
    }
}

static void test_known_answers(void **state)
{
    const char *path = unit_write_file("p", "# mosquitto password file\n"
                                            "\n" LINE_ALICE "\n" LINE_BOB "\r\n" LINE_CAROL "\n"
                                            "   \n" LINE_DAVE "  \n" LINE_EVE);
    static const struct check_row rows[] = {
        {"alice", "correct horse", MQ_OK},
        {"alice", "correct horse ", MQ_EDENIED},
        {"alice", "Correct horse", MQ_EDENIED},
        {"alice", "", MQ_EDENIED},
        {"alice", NULL, MQ_EDENIED},
        {"bob", "p\xc3\xa4ssw\xc3\xb6rd", MQ_OK},
        {"bob", "passwort", MQ_EDENIED},
        {"carol", "hunter2", MQ_OK},
        {"carol", "hunter3", MQ_EDENIED},
        {"carol", "correct horse", MQ_EDENIED},
        {"dave", "pass:with:colons", MQ_OK},
        {"dave", "pass", MQ_EDENIED},
        {"eve", "short salt", MQ_OK},
        {"mallory", "correct horse", MQ_EDENIED},
        {"", "correct horse", MQ_EDENIED},
        {"Alice", "correct horse", MQ_EDENIED},
        {"alic", "correct horse", MQ_EDENIED},
        {"alicee", "correct horse", MQ_EDENIED},
    };
    struct passwd_db *db = load_ok(path);
    run_checks(db, rows, sizeof(rows) / sizeof(rows[0]));

    /* The username is length-delimited, not NUL-terminated. */
    const char *pw = "correct horse";
    assert_int_equal(passwd_db_check(db, "alicex", 5, (const uint8_t *)pw, strlen(pw)), MQ_OK);
    assert_int_equal(passwd_db_check(db, "alice", 5, (const uint8_t *)pw, 7), MQ_EDENIED);
    assert_int_equal(passwd_db_check(db, NULL, 0, (const uint8_t *)pw, strlen(pw)), MQ_EDENIED);
    passwd_db_free(db);

    assert_int_equal(check(NULL, "alice", "correct horse"), MQ_EDENIED);
    passwd_db_free(NULL);
}

/* Lines the loader must refuse, with the error after "PATH". */
static void test_malformed(void **state)
{
    static const struct {
        const char *text;
        const char *err;
    } rows[] = {
        {"alice\n", ":1: expected username:hash"},
        {"# ok\nalice correct\n", ":2: expected username:hash"},
        {":$7$101$AAECAwQFBgcICQoL$" HASH_OK "\n", ":1: empty username"},
        {"alice:\n", ":1: missing hash"},
        {"alice:plaintext\n", ":1: hash does not start with '$'"},
        {"alice:$5$AAECAwQFBgcICQoL$" HASH_OK "\n", ":1: unknown hash type (expected $6$ or $7$)"},
        {"alice:$77$101$AAECAwQFBgcICQoL$" HASH_OK "\n",
         ":1: unknown hash type (expected $6$ or $7$)"},
        {"alice:$7$AAECAwQFBgcICQoL$" HASH_OK "\n", ":1: a $7$ hash is $7$ITERATIONS$SALT$HASH"},
        {"alice:$7$101$AAECAwQFBgcICQoL$" HASH_OK "$x\n",
         ":1: a $7$ hash is $7$ITERATIONS$SALT$HASH"},
        {"alice:$7$0$AAECAwQFBgcICQoL$" HASH_OK "\n", ":1: bad iteration count"},
        {"alice:$7$-1$AAECAwQFBgcICQoL$" HASH_OK "\n", ":1: bad iteration count"},
        {"alice:$7$1e3$AAECAwQFBgcICQoL$" HASH_OK "\n", ":1: bad iteration count"},
        {"alice:$7$$AAECAwQFBgcICQoL$" HASH_OK "\n", ":1: bad iteration count"},
        {"alice:$7$9999999999$AAECAwQFBgcICQoL$" HASH_OK "\n", ":1: bad iteration count"},
        {"alice:$7$101$$" HASH_OK "\n", ":1: bad salt"},
        {"alice:$7$101$AAECAwQFBgcICQo$" HASH_OK "\n", ":1: bad salt"},
        {"alice:$7$101$AAEC*wQFBgcICQoL$" HASH_OK "\n", ":1: bad salt"},
        {"alice:$7$101$AA==AwQFBgcICQoL$" HASH_OK "\n", ":1: bad salt"},
        {"alice:$7$101$AAECAwQFBgcICQoL$\n", ":1: bad hash (expected 64 bytes of base64)"},
        {"alice:$7$101$AAECAwQFBgcICQoL$AAAA\n", ":1: bad hash (expected 64 bytes of base64)"},
        {"alice:$7$101$AAECAwQFBgcICQoL$" HASH_OK "AAAA\n",
         ":1: bad hash (expected 64 bytes of base64)"},
        {"alice:$6$AAECAwQFBgcICQoL\n", ":1: a $6$ hash is $6$SALT$HASH"},
        {"alice:$6$101$AAECAwQFBgcICQoL$" HASH_OK "\n", ":1: a $6$ hash is $6$SALT$HASH"},
        {LINE_ALICE "\n" LINE_BOB "\n" LINE_ALICE "\n",
         ":3: duplicate user 'alice' (first on line 1)"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *path = unit_write_file("p", rows[i].text);
        char want[600], err[600] = "";
        snprintf(want, sizeof(want), "%s%s", path, rows[i].err);
        struct passwd_db *db = (struct passwd_db *)1;
        int rc = passwd_db_load(path, &db, err, sizeof(err));
        if (rc != MQ_EINVAL || strcmp(err, want) != 0)
            fail_msg("row %zu: rc %d '%s', want MQ_EINVAL '%s'", i, rc, err, want);
        assert_null(db);
    }
}

static void test_files(void **state)
{
    struct passwd_db *db = (struct passwd_db *)1;
    char err[600] = "", want[600];
    const char *path = unit_tmp_path("absent");
    snprintf(want, sizeof(want), "%s: No such file or directory", path);
    assert_int_equal(passwd_db_load(path, &db, err, sizeof(err)), MQ_EIO);
    assert_string_equal(err, want);
    assert_null(db);

    /* An empty file (or comments only) loads and lets nobody in. */
    db = load_ok(unit_write_file("p", "# nobody\n\n"));
    assert_int_equal(check(db, "alice", "correct horse"), MQ_EDENIED);
    assert_int_equal(check(db, "", ""), MQ_EDENIED);
    passwd_db_free(db);
}

static void test_passwd_hash(void **state)
{
    char a[256], b[256];
    assert_int_equal(passwd_hash("s3cret", 101, a, sizeof(a)), MQ_OK);
    assert_int_equal(passwd_hash("s3cret", 101, b, sizeof(b)), MQ_OK);
    assert_string_not_equal(a, b); /* fresh salt each time */

    /* $7$101$ + 16 characters of salt + $ + 88 of hash. */
    assert_int_equal(strncmp(a, "$7$101$", 7), 0);
    assert_int_equal(strlen(a), 7 + 16 + 1 + 88);
    assert_int_equal(a[7 + 16], '$');
    assert_int_equal(strcmp(a + strlen(a) - 2, "=="), 0);

    char text[600];
    snprintf(text, sizeof(text), "u1:%s\nu2:%s\n", a, b);
    struct passwd_db *db = load_ok(unit_write_file("p", text));
    static const struct check_row rows[] = {
        {"u1", "s3cret", MQ_OK},
        {"u2", "s3cret", MQ_OK},
        {"u1", "s3cre", MQ_EDENIED},
        {"u3", "s3cret", MQ_EDENIED},
    };
    run_checks(db, rows, sizeof(rows) / sizeof(rows[0]));
    passwd_db_free(db);

    /* Other iteration counts are written as given. */
    assert_int_equal(passwd_hash("x", 2000, a, sizeof(a)), MQ_OK);
    assert_int_equal(strncmp(a, "$7$2000$", 8), 0);

    /* Too small an out buffer, or no rounds: MQ_EINVAL. */
    assert_int_equal(passwd_hash("s3cret", 101, a, 100), MQ_EINVAL);
    assert_string_equal(a, "");
    assert_int_equal(passwd_hash("s3cret", 0, a, sizeof(a)), MQ_EINVAL);
}

/* The full path of prog when it is an executable on $PATH, else NULL. */
static const char *find_program(const char *prog)
{
    static char path[1024];
    const char *env = getenv("PATH");
    if (env == NULL)
        env = "/usr/local/bin:/usr/bin:/bin";
    while (*env != '\0') {
        size_t n = strcspn(env, ":");
        snprintf(path, sizeof(path), "%.*s/%s", (int)n, env, prog);
        if (n > 0 && access(path, X_OK) == 0)
            return path;
        env += n;
        if (*env == ':')
            env++;
    }
    return NULL;
}

/* Runs argv (argv[0] a full path) with stdout and stderr discarded; returns
 * its exit status, or -1. */
static int run(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL || freopen("/dev/null", "w", stderr) == NULL)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Files written by the real mosquitto_passwd, in both of its hash formats. */
static void test_mosquitto_passwd(void **state)
{
    const char *prog = find_program("mosquitto_passwd");
    if (prog == NULL) {
        print_message("skipped: mosquitto_passwd is not installed\n");
        skip();
    }
    char bin[1024];
    snprintf(bin, sizeof(bin), "%s", prog);
    char f7[512], f6[512];
    snprintf(f7, sizeof(f7), "%s", unit_tmp_path("mp"));
    snprintf(f6, sizeof(f6), "%s", unit_tmp_path("mp6"));

    static const struct {
        const char *hash; /* -H argument, NULL for the default ($7$) */
        const char *user, *password;
        bool create;
    } users[] = {
        {NULL, "alice", "secret one", true},
        {NULL, "bob", "p\xc3\xa4ss:w\xc3\xb6rd", false},
        {NULL, "carol", "x", false},
        {"sha512", "dave", "hunter2", true},
        {"sha512", "erin", "a much longer password with spaces and $ signs", false},
    };
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        char *argv[10];
        int n = 0;
        argv[n++] = bin;
        if (users[i].hash) {
            argv[n++] = (char *)"-H";
            argv[n++] = (char *)users[i].hash;
        }
        if (users[i].create)
            argv[n++] = (char *)"-c";
        argv[n++] = (char *)"-b";
        argv[n++] = users[i].hash ? f6 : f7;
        argv[n++] = (char *)users[i].user;
        argv[n++] = (char *)users[i].password;
        argv[n] = NULL;
        int st = run(argv);
        if (st != 0)
            fail_msg("mosquitto_passwd for %s exited %d", users[i].user, st);
    }

    static const struct check_row rows7[] = {
        {"alice", "secret one", MQ_OK},
        {"alice", "secret two", MQ_EDENIED},
        {"bob", "p\xc3\xa4ss:w\xc3\xb6rd", MQ_OK},
        {"bob", "pass:word", MQ_EDENIED},
        {"carol", "x", MQ_OK},
        {"carol", "y", MQ_EDENIED},
        {"dave", "hunter2", MQ_EDENIED}, /* in the other file */
    };
    struct passwd_db *db = load_ok(f7);
    run_checks(db, rows7, sizeof(rows7) / sizeof(rows7[0]));
    passwd_db_free(db);

    static const struct check_row rows6[] = {
        {"dave", "hunter2", MQ_OK},
        {"dave", "hunter", MQ_EDENIED},
        {"erin", "a much longer password with spaces and $ signs", MQ_OK},
        {"erin", "a much longer password with spaces and $ sign", MQ_EDENIED},
        {"alice", "secret one", MQ_EDENIED},
    };
    db = load_ok(f6);
    run_checks(db, rows6, sizeof(rows6) / sizeof(rows6[0]));
    passwd_db_free(db);

    /* A file with a line from passwd_hash() is one mosquitto_passwd edits
     * without complaint, and both lines check. */
    char line[300], text[400];
    assert_int_equal(passwd_hash("round trip", 101, line, sizeof(line)), MQ_OK);
    snprintf(text, sizeof(text), "frank:%s\n", line);
    unit_write_file("mp", text);
    char *argv[] = {bin, (char *)"-b", f7, (char *)"gina", (char *)"gina's", NULL};
    assert_int_equal(run(argv), 0);
    static const struct check_row rows_mixed[] = {
        {"frank", "round trip", MQ_OK},
        {"gina", "gina's", MQ_OK},
        {"frank", "gina's", MQ_EDENIED},
        {"alice", "secret one", MQ_EDENIED}, /* the file was rewritten */
    };
    db = load_ok(f7);
    run_checks(db, rows_mixed, sizeof(rows_mixed) / sizeof(rows_mixed[0]));
    passwd_db_free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_passwd_hash),
        cmocka_unit_test(test_mosquitto_passwd),
    };
    return cmocka_run_group_tests(tests, unit_tmpdir_setup, unit_tmpdir_teardown);
}
