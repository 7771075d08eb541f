/*
 * opts.c - flags, MQCHAT_* environment and the config file (see opts.h).
 *
 * The config file holds "key = value" lines (or "key value"); '#' starts a
 * comment. Keys: url, api, user, password, token, cafile, insecure, room,
 * device, keepalive. A file holding a password or token that others may
 * read gets a warning.
 */
#include "opts.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

void opts_usage(FILE *f)
{
    fputs("usage: mqchat [options]                  interactive chat\n"
          "       mqchat [options] send ROOM TEXT...  post one message (ROOM or @USER)\n"
          "       mqchat [options] tail ROOM          print a room's messages as they come\n"
          "\n"
          "Options may also follow the command: after send only before ROOM (TEXT is\n"
          "taken as it is, even when it starts with '-'), after tail anywhere.\n"
          "\n"
          "options:\n"
          "  -u, --user USER       user id (env MQCHAT_USER)\n"
          "  -P, --password PASS   password (env MQCHAT_PASSWORD; asked with echo off if absent)\n"
          "  -t, --token TOKEN     chat token instead of a password (env MQCHAT_TOKEN)\n"
          "  -U, --url URL         broker: tcp://, ssl://, ws://, wss:// (default tcp://localhost:1883)\n"
          "  -a, --api URL         HTTP API base (default http://HOST:8080)\n"
          "      --cafile FILE     CA certificates (PEM) for ssl:// and wss://\n"
          "      --insecure        do not verify the server's certificate\n"
          "  -r, --room ROOM       room to join at start (chat)\n"
          "  -d, --device NAME     device name in the persistent client id (default: host name)\n"
          "  -k, --keepalive SEC   MQTT keepalive (default 30)\n"
          "      --timeout SEC     send/tail: how long to wait for the broker (default 10)\n"
          "      --json            tail: print raw envelopes (one JSON object a line)\n"
          "  -n, --count N         tail: exit after N messages\n"
          "  -c, --config FILE     config file (default ~/.config/mqchat/config)\n"
          "  -h, --help            this text\n"
          "\n"
          "exit codes: 0 ok, 1 usage, 2 login refused, 3 not allowed, 4 unreachable, 5 failed\n",
          f);
}

int opts_valid_name(const char *z)
{
    size_t n = z ? strlen(z) : 0;
    return n >= 1 && n <= OPTS_NAME_MAX &&
           strspn(z, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* Replaces *dst with a copy of z unless *dst is already set (earlier
 * sources win). */
static int opts__set(char **dst, const char *z)
{
    if (*dst || !z)
        return 0;
    *dst = strdup(z);
    return *dst ? 0 : -1;
}

static void opts__wipe(char *z)
{
    if (z) {
        volatile char *p = z;
        while (*p)
            *p++ = 0;
    }
}

static char *opts__trim(char *z)
{
    size_t n;
    while (*z == ' ' || *z == '\t')
        z++;
    n = strlen(z);
    while (n > 0 && (z[n - 1] == ' ' || z[n - 1] == '\t' || z[n - 1] == '\n' || z[n - 1] == '\r'))
        z[--n] = '\0';
    return z;
}

/* Reads the config file; a missing default file is fine. */
static int opts__file(const char *path, int explicit_path, struct mqchat_opts *o)
{
    char line[4096];
    int lineno = 0, secret = 0;
    struct stat st;
    FILE *f = fopen(path, "r");

    if (!f) {
        if (!explicit_path && errno == ENOENT)
            return 0;
        fprintf(stderr, "mqchat: %s: %s\n", path, strerror(errno));
        return MQCHAT_EXIT_USAGE;
    }
    while (fgets(line, sizeof line, f)) {
        char *k = opts__trim(line), *v;
        lineno++;
        if (!*k || *k == '#')
            continue;
        v = k + strcspn(k, " \t=");
        if (*v) {
            *v++ = '\0';
            v = opts__trim(v);
            if (*v == '=')
                v = opts__trim(v + 1);
        }
        if (!strcmp(k, "url"))
            opts__set(&o->url, v);
        else if (!strcmp(k, "api"))
            opts__set(&o->api, v);
        else if (!strcmp(k, "user"))
            opts__set(&o->user, v);
        else if (!strcmp(k, "password"))
            secret = 1, opts__set(&o->password, v);
        else if (!strcmp(k, "token"))
            secret = 1, opts__set(&o->token, v);
        else if (!strcmp(k, "cafile"))
            opts__set(&o->cafile, v);
        else if (!strcmp(k, "insecure"))
            o->insecure = o->insecure || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes");
        else if (!strcmp(k, "room"))
            opts__set(&o->room, v);
        else if (!strcmp(k, "device"))
            opts__set(&o->device, v);
        else if (!strcmp(k, "keepalive")) {
            if (!o->keepalive)
                o->keepalive = atoi(v);
        } else
            fprintf(stderr, "mqchat: %s:%d: unknown key '%s' ignored\n", path, lineno, k);
        opts__wipe(line);
    }
    if (secret && fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "mqchat: warning: %s holds a secret and others may read it (chmod 600)\n", path);
    fclose(f);
    return 0;
}

enum { O_CAFILE = 256, O_INSECURE, O_JSON, O_TIMEOUT };

static const struct option opts__longopts[] = {
    {"user", required_argument, 0, 'u'},   {"password", required_argument, 0, 'P'},
    {"token", required_argument, 0, 't'},  {"url", required_argument, 0, 'U'},
    {"api", required_argument, 0, 'a'},    {"cafile", required_argument, 0, O_CAFILE},
    {"insecure", no_argument, 0, O_INSECURE}, {"room", required_argument, 0, 'r'},
    {"device", required_argument, 0, 'd'}, {"keepalive", required_argument, 0, 'k'},
    {"timeout", required_argument, 0, O_TIMEOUT}, {"json", no_argument, 0, O_JSON},
    {"count", required_argument, 0, 'n'},  {"config", required_argument, 0, 'c'},
    {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};

/*
 * Runs getopt_long over argv[0..argc) (argv[0] is a name, not parsed) with
 * `shortopts` ("+..." stops at the first operand, without '+' options may
 * follow operands). Returns 0 with optind at the first operand, -1 after
 * --help, or MQCHAT_EXIT_USAGE.
 */
static int opts__getopt(int argc, char **argv, const char *shortopts, struct mqchat_opts *o,
                        const char **config)
{
    int c;

    optind = 0; /* glibc: start afresh, this may be the second pass */
    while ((c = getopt_long(argc, argv, shortopts, opts__longopts, NULL)) != -1) {
        switch (c) {
        case 'u': opts__set(&o->user, optarg); break;
        case 'P':
            opts__set(&o->password, optarg);
            opts__wipe(optarg); /* keep it out of ps(1) where the system allows */
            break;
        case 't':
            opts__set(&o->token, optarg);
            opts__wipe(optarg); /* a token is as good as a password for a day */
            break;
        case 'U': opts__set(&o->url, optarg); break;
        case 'a': opts__set(&o->api, optarg); break;
        case O_CAFILE: opts__set(&o->cafile, optarg); break;
        case O_INSECURE: o->insecure = 1; break;
        case 'r': opts__set(&o->room, optarg); break;
        case 'd': opts__set(&o->device, optarg); break;
        case 'k': o->keepalive = atoi(optarg); break;
        case O_TIMEOUT: o->timeout = atoi(optarg); break;
        case O_JSON: o->json = 1; break;
        case 'n': o->count = atol(optarg); break;
        case 'c': *config = optarg; break;
        case 'h': opts_usage(stdout); return -1;
        default: opts_usage(stderr); return MQCHAT_EXIT_USAGE;
        }
    }
    return 0;
}

int opts_parse(int argc, char **argv, struct mqchat_opts *o)
{
    const char *config = NULL;
    char defpath[4096];
    int rc;

    memset(o, 0, sizeof *o);
    /* Options before the command: '+' stops at it, so nothing after it is
     * taken for an option of mqchat by accident. */
    if ((rc = opts__getopt(argc, argv, "+u:P:t:U:a:r:d:k:n:c:h", o, &config)) != 0)
        return rc;
    if (optind < argc) {
        const char *cmd = argv[optind];
        if (!strcmp(cmd, "send") || !strcmp(cmd, "tail")) {
            /* The command's own pass over what follows it (argv[0] is the
             * command): send takes options before ROOM only, since TEXT may
             * start with '-'; tail takes them anywhere ("tail lobby --json"). */
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            o->mode = cmd[0] == 's' ? MQCHAT_SEND : MQCHAT_TAIL;
            rc = opts__getopt(sub_argc, sub_argv,
                              o->mode == MQCHAT_SEND ? "+u:P:t:U:a:r:d:k:n:c:h"
                                                     : "u:P:t:U:a:r:d:k:n:c:h",
                              o, &config);
            if (rc != 0)
                return rc;
            argc = sub_argc;
            argv = sub_argv;
            if (optind >= argc) {
                fprintf(stderr, "mqchat: %s needs a ROOM\n", cmd);
                return MQCHAT_EXIT_USAGE;
            }
            opts__set(&o->target, argv[optind++]);
            if (o->mode == MQCHAT_SEND && optind < argc) {
                size_t n = 0;
                int i;
                for (i = optind; i < argc; i++)
                    n += strlen(argv[i]) + 1;
                o->text = calloc(1, n + 1);
                if (!o->text)
                    return MQCHAT_EXIT_FAILED;
                for (i = optind; i < argc; i++) {
                    if (i > optind)
                        strcat(o->text, " ");
                    strcat(o->text, argv[i]);
                }
                optind = argc;
            }
            if (optind < argc) {
                fprintf(stderr, "mqchat: unexpected '%s'\n", argv[optind]);
                return MQCHAT_EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "mqchat: unknown command '%s' (send, tail, or none)\n", cmd);
            opts_usage(stderr);
            return MQCHAT_EXIT_USAGE;
        }
    }
    opts__set(&o->user, getenv("MQCHAT_USER"));
    opts__set(&o->password, getenv("MQCHAT_PASSWORD"));
    opts__set(&o->token, getenv("MQCHAT_TOKEN"));
    opts__set(&o->url, getenv("MQCHAT_URL"));
    opts__set(&o->api, getenv("MQCHAT_API"));
    if (!config) {
        const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        if (xdg && *xdg)
            snprintf(defpath, sizeof defpath, "%s/mqchat/config", xdg);
        else if (home && *home)
            snprintf(defpath, sizeof defpath, "%s/.config/mqchat/config", home);
        else
            defpath[0] = '\0';
        if (defpath[0] && (rc = opts__file(defpath, 0, o)) != 0)
            return rc;
    } else if ((rc = opts__file(config, 1, o)) != 0) {
        return rc;
    }
    opts__set(&o->url, "tcp://localhost:1883");
    if (!o->keepalive)
        o->keepalive = 30;
    if (!o->timeout)
        o->timeout = 10;
    if (o->user && !opts_valid_name(o->user)) {
        fprintf(stderr, "mqchat: '%s' is not a valid user id (1-64 of A-Z a-z 0-9 _ . -)\n", o->user);
        return MQCHAT_EXIT_USAGE;
    }
    if (o->room && !opts_valid_name(o->room)) {
        fprintf(stderr, "mqchat: '%s' is not a valid room name\n", o->room);
        return MQCHAT_EXIT_USAGE;
    }
    if (o->target && !opts_valid_name(o->target[0] == '@' && o->mode == MQCHAT_SEND ? o->target + 1
                                                                                   : o->target)) {
        fprintf(stderr, "mqchat: '%s' is not a valid room name (or @user)\n", o->target);
        return MQCHAT_EXIT_USAGE;
    }
    return 0;
}

void opts_free(struct mqchat_opts *o)
{
    opts__wipe(o->password);
    opts__wipe(o->token);
    free(o->url);
    free(o->api);
    free(o->user);
    free(o->password);
    free(o->token);
    free(o->cafile);
    free(o->room);
    free(o->device);
    free(o->target);
    free(o->text);
    memset(o, 0, sizeof *o);
}

/* The terminal while a password is being read, for the signal handlers:
 * a Ctrl-C (or Ctrl-\\, a hangup) must not leave echo off. */
static int opts__tty_fd = -1;
static struct termios opts__tty_old, opts__tty_quiet;

static void opts__on_prompt_signal(int sig)
{
    int saved = errno;
    struct sigaction dfl;
    sigset_t set;

    tcsetattr(opts__tty_fd, TCSAFLUSH, &opts__tty_old);
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig); /* dies, or (SIGTSTP) stops until SIGCONT */
    if (sig == SIGTSTP) {
        /* continued: back to reading with echo off */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = opts__on_prompt_signal;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGTSTP, &sa, NULL);
        tcsetattr(opts__tty_fd, TCSAFLUSH, &opts__tty_quiet);
    }
    errno = saved;
}

char *opts_prompt_password(const char *user)
{
    static const int sigs[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGTSTP};
    struct sigaction sa, old_sa[sizeof sigs / sizeof sigs[0]];
    size_t i;
    struct termios old, quiet;
    char buf[1024];
    char *out = NULL;
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    FILE *f;

    buf[0] = '\0';
    if (fd < 0)
        return NULL;
    f = fdopen(fd, "r+");
    if (!f) {
        close(fd);
        return NULL;
    }
    if (tcgetattr(fd, &old) != 0) {
        fclose(f);
        return NULL;
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    fprintf(f, "Password for %s: ", user);
    fflush(f);
    opts__tty_fd = fd;
    opts__tty_old = old;
    opts__tty_quiet = quiet;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = opts__on_prompt_signal;
    sa.sa_flags = SA_RESTART;
    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, &old_sa[i]);
    if (tcsetattr(fd, TCSAFLUSH, &quiet) == 0) {
        if (fgets(buf, sizeof buf, f)) {
            buf[strcspn(buf, "\r\n")] = '\0';
            out = strdup(buf);
        }
        tcsetattr(fd, TCSAFLUSH, &old);
    }
    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &old_sa[i], NULL);
    opts__tty_fd = -1;
    fputs("\n", f);
    opts__wipe(buf);
    fclose(f);
    return out;
}
