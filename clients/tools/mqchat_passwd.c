/*
 * mqchat_passwd.c - mqchat-passwd, the password file tool (like mosquitto_passwd).
 *
 *   mqchat-passwd [-c] FILE USER            set USER's password, asked twice
 *   mqchat-passwd [-c] -b FILE USER PASSWORD  set it from the command line
 *   mqchat-passwd -D FILE USER              delete USER
 *
 * -c creates FILE (replacing any file there) with USER alone; without it
 * FILE must exist, and its other lines, comments included, are kept as they
 * are. Lines are written as passwd_hash() makes them ($7$, PBKDF2-SHA512,
 * 101 rounds as mosquitto_passwd uses), so both mqchatd and Mosquitto read
 * the file. The new file is written beside the old one with mode 0600 and
 * renamed over it, so a reader sees the old file or the new one, never half.
 * The password prompt turns echo off when stdin is a terminal; otherwise the
 * two lines are read from stdin as they come.
 *
 * Exit status: 0 done; 1 bad usage or input (a bad username, passwords that
 * differ); 2 an I/O error, or no such user for -D. This tool does not check
 * passwords nor read ACL files.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "errors.h"

#define PROG         "mqchat-passwd"
#define ITERATIONS   101   /* PBKDF2 rounds, as mosquitto_passwd writes them */
#define PASSWORD_MAX 1024  /* bytes of buffer for a typed password, newline included */
#define USER_MAX     65535 /* the longest username MQTT can carry */

enum exit_code {
    EXIT_DONE = 0,  /* the file was written */
    EXIT_USAGE = 1, /* bad arguments or input; the file is untouched */
    EXIT_IO = 2,    /* the file could not be read or written, or -D found no such user */
};

static void usage(FILE *to)
{
    fputs("usage: " PROG " [-c] FILE USER              set USER's password (asked twice)\n"
          "       " PROG " [-c] -b FILE USER PASSWORD  set it from the command line\n"
          "       " PROG " -D FILE USER                delete USER\n"
          "\n"
          "  -c      create FILE, replacing any file there\n"
          "  -b      batch: take PASSWORD from the command line (visible to other users)\n"
          "  -D      delete USER from FILE\n"
          "  --help  this text\n"
          "\n"
          "FILE is in mosquitto_passwd format; other users' lines are kept.\n"
          "Exit status: 0 ok, 1 usage or bad input, 2 I/O error or no such user.\n",
          to);
}

/* The terminal settings to put back when a signal arrives mid-prompt. */
static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

static void restore_tty_and_die(int sig)
{
    if (tty_changed)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

/*
 * Prints prompt on stderr and reads one line from stdin into buf (cap
 * bytes) without echo when stdin is a terminal. Returns 0, or -1 with a
 * message printed (end of input, or a line too long for buf).
 */
static int read_password(const char *prompt, char *buf, size_t cap)
{
    bool tty = isatty(STDIN_FILENO);
    if (tty && tcgetattr(STDIN_FILENO, &saved_tty) == 0) {
        struct termios quiet = saved_tty;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        struct sigaction sa = {.sa_handler = restore_tty_and_die};
        sigemptyset(&sa.sa_mask);
        int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            sigaction(sigs[i], &sa, NULL);
        tty_changed = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }

    fputs(prompt, stderr);
    fflush(stderr);
    char *got = fgets(buf, (int)cap, stdin);

    if (tty_changed) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
        tty_changed = 0;
    } else if (!tty) {
        fputc('\n', stderr); /* what the user's Enter would have shown */
    }
    if (got == NULL) {
        fprintf(stderr, "\n" PROG ": no password given\n");
        return -1;
    }
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '\r')
            buf[--n] = '\0';
    } else if (n + 1 == cap) {
        fprintf(stderr, PROG ": password too long (at most %zu bytes)\n", cap - 2);
        return -1;
    }
    return 0;
}

/* Asks for the password twice into pw (PASSWORD_MAX bytes). 0 or -1. */
static int prompt_password(char *pw)
{
    char again[PASSWORD_MAX];
    int rc = -1;
    if (read_password("Password: ", pw, PASSWORD_MAX) != 0 ||
        read_password("Reenter password: ", again, sizeof(again)) != 0)
        goto out;
    if (strcmp(pw, again) != 0) {
        fprintf(stderr, PROG ": passwords do not match\n");
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(again, sizeof(again));
    return rc;
}

/* NULL when user can go in a password file, else what is wrong with it. */
static const char *check_username(const char *user)
{
    size_t n = strlen(user);
    if (n == 0)
        return "empty username";
    if (n > USER_MAX)
        return "username longer than 65535 bytes";
    if (user[0] == '#')
        return "a username may not start with '#' (that line would be a comment)";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)user[i];
        if (ch == ':')
            return "a username may not contain ':'";
        if (ch < 0x20 || ch == 0x7f)
            return "a username may not contain control characters";
    }
    return NULL;
}

/* True when line (one line of a password file) is user's entry. */
static bool line_is_user(const char *line, const char *user, size_t user_len)
{
    return strncmp(line, user, user_len) == 0 && line[user_len] == ':';
}

/*
 * Writes the new file: every line of `in` (NULL: none) except user's, then,
 * unless hash is NULL (delete), user's new line in place of the first old
 * one or at the end. The file is written to a temporary name beside path
 * with mode 0600, synced and renamed over path. *found tells whether user
 * had a line. Returns EXIT_DONE or EXIT_IO (message printed).
 */
static int rewrite(const char *path, FILE *in, const char *user, const char *hash, bool *found)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    if (tmp == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return EXIT_IO;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".XXXXXX", 8);

    int rc = EXIT_IO;
    char *line = NULL;
    size_t cap = 0, user_len = strlen(user);
    FILE *out = NULL;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, PROG ": %s: %s\n", tmp, strerror(errno));
        free(tmp);
        return EXIT_IO;
    }
    if (fchmod(fd, 0600) != 0 || (out = fdopen(fd, "w")) == NULL) {
        fprintf(stderr, PROG ": %s: %s\n", tmp, strerror(errno));
        close(fd);
        goto out;
    }

    *found = false;
    ssize_t len;
    while (in != NULL && (len = getline(&line, &cap, in)) != -1) {
        if (line_is_user(line, user, user_len)) {
            if (!*found && hash != NULL)
                fprintf(out, "%s:%s\n", user, hash);
            *found = true;
            continue;
        }
        fputs(line, out);
        if (len > 0 && line[len - 1] != '\n')
            fputc('\n', out);
    }
    if (in != NULL && ferror(in)) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        goto out;
    }
    if (!*found && hash != NULL)
        fprintf(out, "%s:%s\n", user, hash);
    if (hash == NULL && !*found) {
        rc = EXIT_IO; /* nothing to delete: leave the file alone */
        goto out;
    }

    if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
        fprintf(stderr, PROG ": %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    int closed = fclose(out);
    out = NULL;
    if (closed != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        goto out;
    }
    /* Make the rename itself durable. */
    char *dir_copy = strdup(path);
    if (dir_copy != NULL) {
        int dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir_copy);
    }
    free(line);
    free(tmp);
    return EXIT_DONE;

out:
    if (out != NULL)
        fclose(out);
    unlink(tmp);
    free(line);
    free(tmp);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool create = false, batch = false, delete = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "+cbDh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            create = true;
            break;
        case 'b':
            batch = true;
            break;
        case 'D':
            delete = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_DONE;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    int want = delete ? 2 : batch ? 3 : 2;
    if ((delete &&(create || batch)) || argc - optind != want) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *path = argv[optind], *user = argv[optind + 1];
    const char *bad = check_username(user);
    if (bad != NULL) {
        fprintf(stderr, PROG ": %s\n", bad);
        return EXIT_USAGE;
    }

    FILE *in = NULL;
    if (!create) {
        in = fopen(path, "r");
        if (in == NULL) {
            fprintf(stderr, PROG ": %s: %s%s\n", path, strerror(errno),
                    errno == ENOENT && !delete ? " (use -c to create it)" : "");
            return EXIT_IO;
        }
    }

    bool found = false;
    int rc;
    if (delete) {
        rc = rewrite(path, in, user, NULL, &found);
        if (rc == EXIT_IO && !found)
            fprintf(stderr, PROG ": %s: no user '%s'\n", path, user);
        fclose(in);
        return rc;
    }

    char pw[PASSWORD_MAX];
    char hash[256];
    rc = EXIT_USAGE;
    if (batch) {
        if (strlen(argv[optind + 2]) >= sizeof(pw)) {
            fprintf(stderr, PROG ": password too long (at most %zu bytes)\n", sizeof(pw) - 1);
            goto out;
        }
        strcpy(pw, argv[optind + 2]);
    } else if (prompt_password(pw) != 0) {
        goto out;
    }
    if (pw[0] == '\0') {
        fprintf(stderr, PROG ": empty password\n");
        goto out;
    }
    int hrc = passwd_hash(pw, ITERATIONS, hash, sizeof(hash));
    if (hrc != MQ_OK) {
        fprintf(stderr, PROG ": cannot hash the password: %s\n", mq_strerror(hrc));
        rc = EXIT_IO;
        goto out;
    }
    rc = rewrite(path, in, user, hash, &found);
out:
    OPENSSL_cleanse(pw, sizeof(pw));
    if (in != NULL)
        fclose(in);
    return rc;
}
