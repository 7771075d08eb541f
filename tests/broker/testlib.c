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
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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
#define STOP_TIMEOUT  5.0

static const char *tl__program = "client test";
static int tl__passed;                 /* test cases that passed */
static int tl__failed;                 /* test cases that failed */
static int tl__case_failures;          /* failed checks in the running test case */
static int tl__any_failure;            /* failed checks in the whole run */
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

bool tl_is_mosquitto(void)
{
    const char *impl = getenv("MQCHAT_IMPL");
    const char *bin = tl__binary();
    const char *base = strrchr(bin, '/');
    if (impl && strcmp(impl, "mosquitto") == 0)
        return true;
    base = base ? base + 1 : bin;
    return strncmp(base, "mosquitto", 9) == 0;
}

int tl_free_port(void)
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

bool tl_port_accepts(int port)
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

/* True when extra has a `KEY N` line; *port gets N. */
static bool tl__extra_port(const char *extra, const char *key, int *port)
{
    size_t n = strlen(key);
    const char *p = extra;
    while (p && *p) {
        p += strspn(p, " \t");
        if (strncmp(p, key, n) == 0 && (p[n] == ' ' || p[n] == '\t')) {
            *port = atoi(p + n + 1);
            return true;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return false;
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
        fprintf(f,
                "port %d\nbind_address 127.0.0.1\nhttp.bind_address 127.0.0.1\ndata_dir "
                "%s/data\nworkers %d\n",
                b->port, b->dir, tl_workers());
        fprintf(f, "allow_anonymous true\nsys_interval 0\n");
        if (!tl__extra_port(extra, "http.port", &b->http_port))
            fprintf(f, "http.port %d\n", b->http_port);
        /* On by default (wss.port with a certificate): parallel brokers would collide. */
        int port;
        if (!tl__extra_port(extra, "ws.port", &port))
            fprintf(f, "ws.port 0\n");
        if (!tl__extra_port(extra, "wss.port", &port))
            fprintf(f, "wss.port 0\n");
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
    b->mosquitto = tl_is_mosquitto();
    snprintf(b->dir, sizeof b->dir, "/tmp/mqchat-ctest-XXXXXX");
    if (!mkdtemp(b->dir)) {
        printf("mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    snprintf(b->conf, sizeof b->conf, "%s/%s", b->dir,
             b->mosquitto ? "mosquitto.conf" : "mqchat.conf");
    snprintf(b->log, sizeof b->log, "%s/broker.log", b->dir);
    snprintf(data, sizeof data, "%s/data", b->dir);
    mkdir(data, 0700);
    for (int attempt = 0; attempt < 3; attempt++) {
        double deadline;
        b->port = tl_free_port();
        b->http_port = 0; /* the HTTP API's port, mqchatd only (tl__write_config) */
        while (!b->mosquitto && b->port > 0 && (b->http_port == 0 || b->http_port == b->port))
            b->http_port = tl_free_port();
        if (b->port <= 0 || b->http_port < 0 || tl__write_config(b, extra) != 0 ||
            tl__spawn(b) != 0) {
            printf("cannot set up the broker: %s\n", strerror(errno));
            return -1;
        }
        deadline = tl_now() + START_TIMEOUT;
        while (tl_now() < deadline && tl_broker_alive(b)) {
            if (tl_port_accepts(b->port)) {
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

void tl_rm_tree(const char *dir)
{
    nftw(dir, tl__rm, 16, FTW_DEPTH | FTW_PHYS);
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
        tl_rm_tree(b->dir);
    b->dir[0] = '\0';
    return b->status;
}

/* ---- proxy ---- */

#define TL_PROXY_CONNS 8

/* Bytes read from one side, not yet forwarded as whole packets. */
struct tl__buf {
    unsigned char *data;
    size_t len, cap;
};

/* A packet to the broker held until `release` (monotonic seconds). */
struct tl__held {
    unsigned char *pkt;
    size_t len;
    double release;
    struct tl__held *next;
};

struct tl__pair {
    int client_fd, broker_fd; /* -1 when the slot is free */
    int number;
    struct tl__buf from_client, from_broker;
    struct tl__held *held, *held_tail;
};

struct tl_proxy {
    int listen_fd;
    int broker_port;
    int wake[2]; /* self-pipe: tl_proxy_stop wakes the thread */
    atomic_int stop;
    pthread_t thread;
    pthread_mutex_t mu; /* delay_mask, delay_ms */
    unsigned delay_mask;
    int delay_ms;
    int accepted;
    tl_packet_fn *fn;
    void *ctx;
    char uri[64];
    struct tl__pair pairs[TL_PROXY_CONNS];
};

/* Writes all of buf to a blocking socket; false when the peer is gone. */
static bool tl__write_all(int fd, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Length of the whole packet at the start of b (fixed header included),
 * 0 while it is incomplete, -1 when the remaining length is malformed. */
static long tl__packet_len(const struct tl__buf *b)
{
    size_t rl = 0;
    for (size_t i = 1; i < 5; i++) {
        if (i >= b->len)
            return 0;
        rl |= (size_t)(b->data[i] & 0x7F) << (7 * (i - 1));
        if (!(b->data[i] & 0x80))
            return 1 + (long)i + (long)rl <= (long)b->len ? 1 + (long)i + (long)rl : 0;
    }
    return -1;
}

static void tl__pair_close(struct tl__pair *pr)
{
    if (pr->client_fd >= 0)
        close(pr->client_fd);
    if (pr->broker_fd >= 0)
        close(pr->broker_fd);
    pr->client_fd = pr->broker_fd = -1;
    free(pr->from_client.data);
    free(pr->from_broker.data);
    memset(&pr->from_client, 0, sizeof pr->from_client);
    memset(&pr->from_broker, 0, sizeof pr->from_broker);
    while (pr->held) {
        struct tl__held *h = pr->held;
        pr->held = h->next;
        free(h->pkt);
        free(h);
    }
    pr->held_tail = NULL;
}

/* Forwards the held packets to the broker whose time has come. */
static bool tl__release_held(struct tl_proxy *p, struct tl__pair *pr, double now)
{
    while (pr->held && pr->held->release <= now) {
        struct tl__held *h = pr->held;
        bool ok;
        if (p->fn)
            p->fn(p->ctx, pr->number, TL_TO_BROKER, h->pkt, h->len);
        ok = tl__write_all(pr->broker_fd, h->pkt, h->len);
        pr->held = h->next;
        if (!pr->held)
            pr->held_tail = NULL;
        free(h->pkt);
        free(h);
        if (!ok)
            return false;
    }
    return true;
}

/* Reads what fd has into b and forwards its whole packets; false when the
 * connection is over. */
static bool tl__relay(struct tl_proxy *p, struct tl__pair *pr, int dir)
{
    struct tl__buf *b = dir == TL_TO_BROKER ? &pr->from_client : &pr->from_broker;
    int from = dir == TL_TO_BROKER ? pr->client_fd : pr->broker_fd;
    int to = dir == TL_TO_BROKER ? pr->broker_fd : pr->client_fd;
    ssize_t n;
    long plen;
    if (b->cap - b->len < 4096) {
        size_t cap = b->cap ? b->cap * 2 : 16384;
        unsigned char *d = realloc(b->data, cap);
        if (!d)
            return false;
        b->data = d;
        b->cap = cap;
    }
    n = recv(from, b->data + b->len, b->cap - b->len, 0);
    if (n < 0 && errno == EINTR)
        return true;
    if (n <= 0)
        return false;
    b->len += (size_t)n;
    while ((plen = tl__packet_len(b)) != 0) {
        unsigned type;
        unsigned mask;
        int ms;
        if (plen < 0) { /* not MQTT: pass the rest through as it is */
            bool ok = tl__write_all(to, b->data, b->len);
            b->len = 0;
            return ok;
        }
        type = b->data[0] >> 4;
        pthread_mutex_lock(&p->mu);
        mask = p->delay_mask;
        ms = p->delay_ms;
        pthread_mutex_unlock(&p->mu);
        if (dir == TL_TO_BROKER && (pr->held || (ms > 0 && (mask & (1u << type))))) {
            struct tl__held *h = calloc(1, sizeof *h);
            double at = tl_now() + ((mask & (1u << type)) ? ms / 1000.0 : 0.0);
            if (!h || !(h->pkt = malloc((size_t)plen))) {
                free(h);
                return false;
            }
            memcpy(h->pkt, b->data, (size_t)plen);
            h->len = (size_t)plen;
            /* never before the packet ahead of it */
            h->release = pr->held_tail && pr->held_tail->release > at ? pr->held_tail->release : at;
            if (pr->held_tail)
                pr->held_tail->next = h;
            else
                pr->held = h;
            pr->held_tail = h;
        } else {
            if (p->fn)
                p->fn(p->ctx, pr->number, dir, b->data, (size_t)plen);
            if (!tl__write_all(to, b->data, (size_t)plen))
                return false;
        }
        memmove(b->data, b->data + plen, b->len - (size_t)plen);
        b->len -= (size_t)plen;
    }
    return true;
}

static int tl__connect_broker(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *tl__proxy_main(void *arg)
{
    struct tl_proxy *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd fds[2 + 2 * TL_PROXY_CONNS];
        int owner[2 + 2 * TL_PROXY_CONNS]; /* pair index, or -1 */
        int nfds = 0, timeout = 1000;
        double now = tl_now();
        fds[nfds].fd = p->wake[0];
        fds[nfds].events = POLLIN;
        owner[nfds++] = -1;
        fds[nfds].fd = p->listen_fd;
        fds[nfds].events = POLLIN;
        owner[nfds++] = -1;
        for (int i = 0; i < TL_PROXY_CONNS; i++) {
            struct tl__pair *pr = &p->pairs[i];
            if (pr->client_fd < 0)
                continue;
            fds[nfds].fd = pr->client_fd;
            fds[nfds].events = POLLIN;
            owner[nfds++] = i;
            fds[nfds].fd = pr->broker_fd;
            fds[nfds].events = POLLIN;
            owner[nfds++] = i;
            if (pr->held) {
                int ms = (int)((pr->held->release - now) * 1000.0) + 1;
                if (ms < timeout)
                    timeout = ms < 0 ? 0 : ms;
            }
        }
        if (poll(fds, (nfds_t)nfds, timeout) < 0 && errno != EINTR)
            break;
        if (fds[1].revents & POLLIN) {
            int c = accept(p->listen_fd, NULL, NULL);
            int slot = -1;
            for (int i = 0; i < TL_PROXY_CONNS && slot < 0 && c >= 0; i++)
                if (p->pairs[i].client_fd < 0)
                    slot = i;
            if (c >= 0 && slot >= 0) {
                struct tl__pair *pr = &p->pairs[slot];
                pr->broker_fd = tl__connect_broker(p->broker_port);
                if (pr->broker_fd >= 0) {
                    pr->client_fd = c;
                    pr->number = p->accepted++;
                } else {
                    close(c);
                }
            } else if (c >= 0) {
                close(c); /* no free slot */
            }
        }
        for (int k = 2; k < nfds; k++) {
            struct tl__pair *pr = &p->pairs[owner[k]];
            int dir;
            if (pr->client_fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            dir = fds[k].fd == pr->client_fd ? TL_TO_BROKER : TL_TO_CLIENT;
            if (fds[k].fd != pr->client_fd && fds[k].fd != pr->broker_fd)
                continue; /* the slot was closed and reused in this round */
            if (!tl__relay(p, pr, dir))
                tl__pair_close(pr);
        }
        now = tl_now();
        for (int i = 0; i < TL_PROXY_CONNS; i++) {
            struct tl__pair *pr = &p->pairs[i];
            if (pr->client_fd >= 0 && pr->held && !tl__release_held(p, pr, now))
                tl__pair_close(pr);
        }
    }
    for (int i = 0; i < TL_PROXY_CONNS; i++)
        tl__pair_close(&p->pairs[i]);
    return NULL;
}

struct tl_proxy *tl_proxy_start(int broker_port, tl_packet_fn *fn, void *ctx)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    struct tl_proxy *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->broker_port = broker_port;
    p->fn = fn;
    p->ctx = ctx;
    p->wake[0] = p->wake[1] = -1;
    for (int i = 0; i < TL_PROXY_CONNS; i++)
        p->pairs[i].client_fd = p->pairs[i].broker_fd = -1;
    pthread_mutex_init(&p->mu, NULL);
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(p->listen_fd, 16) != 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&sa, &len) != 0 || pipe(p->wake) != 0) {
        printf("proxy: %s\n", strerror(errno));
        goto fail;
    }
    snprintf(p->uri, sizeof p->uri, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
    if (pthread_create(&p->thread, NULL, tl__proxy_main, p) != 0) {
        printf("proxy: cannot start its thread\n");
        goto fail;
    }
    return p;
fail:
    if (p->listen_fd >= 0)
        close(p->listen_fd);
    if (p->wake[0] >= 0) {
        close(p->wake[0]);
        close(p->wake[1]);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
    return NULL;
}

void tl_proxy_delay(struct tl_proxy *p, unsigned type_mask, int ms)
{
    pthread_mutex_lock(&p->mu);
    p->delay_mask = type_mask;
    p->delay_ms = ms;
    pthread_mutex_unlock(&p->mu);
}

const char *tl_proxy_uri(const struct tl_proxy *p)
{
    return p->uri;
}

void tl_proxy_stop(struct tl_proxy **pp)
{
    struct tl_proxy *p = *pp;
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    if (write(p->wake[1], "x", 1) < 0) {
        /* the thread still sees stop within its 1 s poll */
    }
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->mu);
    free(p);
    *pp = NULL;
}
