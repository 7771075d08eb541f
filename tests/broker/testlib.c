/*
 * testlib.c - broker process control and check counting for the client
 * library tests. See testlib.h for what it does and does not do.
 */
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT 10.0
#define STOP_TIMEOUT 5.0

static const char *tl__program = "client test";
static int tl__passed;         /* test cases that passed */
static int tl__failed;         /* test cases that failed */
static int tl__case_failures;  /* failed checks in the running test case */
static int tl__any_failure;    /* failed checks in the whole run */
static volatile pid_t tl__watched_pid; /* broker to kill from the watchdog */

double tl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tl_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

const char *tl_name(const char *prefix)
{
    static char names[16][96];
    static unsigned n;
    char *out = names[n % 16];
    n++;
    snprintf(out, sizeof names[0], "%s-%ld-%u", prefix, (long)getpid(), n);
    return out;
}

int tl_workers(void)
{
    const char *w = getenv("MQCHAT_WORKERS");
    int n = w ? atoi(w) : 1;
    return n > 0 ? n : 1;
}

/* SIGALRM (the watchdog) or SIGTERM/SIGINT (a runner's time limit): kill
 * the broker this program started, say so, and exit. */
static void tl__on_alarm(int sig)
{
    static const char msg[] = "\nwatchdog: the test program ran out of time or was stopped\n"
                              "0 passed, 1 failed\n";
    (void)sig;
    if (tl__watched_pid > 0)
        kill(tl__watched_pid, SIGKILL);
    if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing more can be done */
    }
    _exit(2);
}

void tl_init(const char *program, int seconds)
{
    tl__program = program;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, tl__on_alarm);
    signal(SIGTERM, tl__on_alarm);
    signal(SIGINT, tl__on_alarm);
    alarm((unsigned)seconds);
    setvbuf(stdout, NULL, _IOLBF, 0);
}

bool tl_check(bool ok, const char *file, int line, const char *expr, const char *fmt, ...)
{
    if (ok)
        return true;
    tl__case_failures++;
    tl__any_failure++;
    printf("    %s:%d: check failed: %s", file, line, expr);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        printf(" -- ");
        vprintf(fmt, ap);
        va_end(ap);
    }
    printf("\n");
    return false;
}

void tl_run(const char *name, void (*fn)(void))
{
    double t0 = tl_now();
    tl__case_failures = 0;
    fn();
    if (tl__case_failures == 0) {
        tl__passed++;
        printf("  ok    %s.%s (%.2fs)\n", tl__program, name, tl_now() - t0);
    } else {
        tl__failed++;
        printf("  FAIL  %s.%s (%.2fs)\n", tl__program, name, tl_now() - t0);
    }
}

int tl_finish(void)
{
    printf("%d passed, %d failed\n", tl__passed, tl__failed);
    return tl__failed ? 1 : 0;
}

/* ---- broker process ---- */

static const char *tl__binary(void)
{
    const char *b = getenv("MQCHAT_BROKER");
    return (b && *b) ? b : "build/mqchatd";
}

static bool tl__is_mosquitto(void)
{
    const char *impl = getenv("MQCHAT_IMPL");
    const char *bin = tl__binary();
    const char *base = strrchr(bin, '/');
    if (impl && strcmp(impl, "mosquitto") == 0)
        return true;
    base = base ? base + 1 : bin;
    return strncmp(base, "mosquitto", 9) == 0;
}

static int tl__free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int port = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static bool tl__port_accepts(int port)
{
    struct sockaddr_in sa;
    bool ok;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static int tl__write_config(struct tl_broker *b, const char *extra)
{
    FILE *f = fopen(b->conf, "w");
    if (!f)
        return -1;
    if (b->mosquitto) {
        fprintf(f, "listener %d 127.0.0.1\npersistence false\nlog_dest stderr\nlog_type all\n",
                b->port);
        if (geteuid() == 0)
            fprintf(f, "user root\n"); /* else it drops to "mosquitto" and cannot read b->dir */
        fprintf(f, "allow_anonymous true\nsys_interval 0\n");
    } else {
        fprintf(f, "port %d\nbind_address 127.0.0.1\ndata_dir %s/data\nworkers %d\n", b->port,
                b->dir, tl_workers());
        fprintf(f, "allow_anonymous true\nsys_interval 0\n");
    }
    if (extra)
        fputs(extra, f);
    return fclose(f) == 0 ? 0 : -1;
}

static int tl__status_of(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return -1;
}

bool tl_broker_alive(struct tl_broker *b)
{
    int ws;
    pid_t r;
    if (b->pid <= 0)
        return false;
    r = waitpid(b->pid, &ws, WNOHANG);
    if (r == b->pid) {
        b->status = tl__status_of(ws);
        b->pid = 0;
        tl__watched_pid = 0;
        return false;
    }
    return r == 0;
}

void tl_broker_print_log(const struct tl_broker *b, int lines)
{
    char buf[512];
    long total = 0, i = 0;
    FILE *f = fopen(b->log, "r");
    if (!f)
        return;
    while (fgets(buf, sizeof buf, f))
        if (strchr(buf, '\n'))
            total++;
    rewind(f);
    printf("--- broker log (last %d of %ld lines) ---\n", lines, total);
    while (fgets(buf, sizeof buf, f)) {
        if (i >= total - lines)
            fputs(buf, stdout);
        if (strchr(buf, '\n'))
            i++;
    }
    fclose(f);
}

static int tl__spawn(struct tl_broker *b)
{
    char port[16];
    const char *bin = tl__binary();
    pid_t pid;
    snprintf(port, sizeof port, "%d", b->port);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int null = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        if (chdir(b->dir) != 0)
            _exit(127);
        if (b->mosquitto)
            execl(bin, bin, "-c", b->conf, (char *)NULL);
        else
            execl(bin, bin, "-c", b->conf, "-p", port, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    b->pid = pid;
    tl__watched_pid = pid;
    return 0;
}

int tl_broker_start(struct tl_broker *b, const char *extra)
{
    char data[300];
    memset(b, 0, sizeof *b);
    b->status = -1;
    b->mosquitto = tl__is_mosquitto();
    snprintf(b->dir, sizeof b->dir, "/tmp/mqchat-ctest-XXXXXX");
    if (!mkdtemp(b->dir)) {
        printf("mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    snprintf(b->conf, sizeof b->conf, "%s/%s", b->dir, b->mosquitto ? "mosquitto.conf" : "mqchat.conf");
    snprintf(b->log, sizeof b->log, "%s/broker.log", b->dir);
    snprintf(data, sizeof data, "%s/data", b->dir);
    mkdir(data, 0700);
    for (int attempt = 0; attempt < 3; attempt++) {
        double deadline;
        b->port = tl__free_port();
        if (b->port <= 0 || tl__write_config(b, extra) != 0 || tl__spawn(b) != 0) {
            printf("cannot set up the broker: %s\n", strerror(errno));
            return -1;
        }
        deadline = tl_now() + START_TIMEOUT;
        while (tl_now() < deadline && tl_broker_alive(b)) {
            if (tl__port_accepts(b->port)) {
                snprintf(b->uri, sizeof b->uri, "tcp://127.0.0.1:%d", b->port);
                return 0;
            }
            tl_sleep_ms(20);
        }
        if (tl_broker_alive(b)) {
            printf("broker did not accept on port %d within %.0f s\n", b->port, START_TIMEOUT);
            tl_broker_print_log(b, 30);
            kill(b->pid, SIGKILL);
            waitpid(b->pid, NULL, 0);
            b->pid = 0;
            return -1;
        }
        /* It exited: retry only when the port was taken in the meantime. */
        {
            char buf[4096];
            size_t n;
            bool in_use = false;
            FILE *f = fopen(b->log, "r");
            if (f) {
                n = fread(buf, 1, sizeof buf - 1, f);
                buf[n] = '\0';
                in_use = strstr(buf, "in use") != NULL;
                fclose(f);
            }
            if (!in_use)
                break;
        }
    }
    printf("broker %s exited at start-up with status %d\n", tl__binary(), b->status);
    tl_broker_print_log(b, 30);
    return -1;
}

static int tl__rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

int tl_broker_stop(struct tl_broker *b)
{
    if (b->pid > 0 && tl_broker_alive(b)) {
        double deadline = tl_now() + STOP_TIMEOUT;
        kill(b->pid, SIGTERM);
        while (tl_broker_alive(b) && tl_now() < deadline)
            tl_sleep_ms(10);
        if (b->pid > 0) {
            int ws;
            kill(b->pid, SIGKILL);
            if (waitpid(b->pid, &ws, 0) == b->pid)
                b->status = tl__status_of(ws);
            b->pid = 0;
            tl__watched_pid = 0;
        }
    }
    if (tl__any_failure || b->status != 0)
        tl_broker_print_log(b, 40);
    if (b->dir[0])
        nftw(b->dir, tl__rm, 16, FTW_DEPTH | FTW_PHYS);
    b->dir[0] = '\0';
    return b->status;
}
