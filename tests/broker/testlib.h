/*
 * testlib.h - what the client-library broker tests (client_*.c) share.
 *
 * It starts the broker under test as a real process on a free loopback
 * port, with a generated config in a fresh mkdtemp directory, waits until
 * the port accepts (polling, bounded), and stops it by PID (SIGTERM, then
 * SIGKILL). It counts checks per test case and prints, as the program's
 * last line, `N passed, N failed` (test cases, not checks).
 *
 * It is not an MQTT client: the programs use Paho MQTT C and libmosquitto.
 *
 * Environment:
 *   MQCHAT_BROKER   broker binary (default build/mqchatd); a file name that
 *                   starts with "mosquitto", or MQCHAT_IMPL=mosquitto, runs
 *                   it as Mosquitto 2.0 with an equivalent mosquitto.conf.
 *   MQCHAT_WORKERS  mqchatd's `workers` (default 1).
 */
#ifndef MQCHAT_TESTLIB_H
#define MQCHAT_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Seconds to wait for what must happen, and to listen for what must not. */
#define TL_WAIT  5.0
#define TL_QUIET 0.5

struct tl_broker {
    pid_t pid;      /* 0 when not running */
    int port;       /* the loopback TCP port it listens on */
    int http_port;  /* mqchatd's HTTP API (http.port): a free port unless the
                       extra config sets one; 0 for Mosquitto */
    bool mosquitto; /* run as Mosquitto (see above) */
    int status;     /* exit status once stopped: 0..255, 128+signal, -1 unknown */
    char dir[256];  /* the temporary directory (config, log, data) */
    char conf[320]; /* path of the generated config */
    char log[320];  /* path of the broker's stdout+stderr */
    char uri[64];   /* "tcp://127.0.0.1:PORT" for Paho */
};

/*
 * Starts the broker. extra is appended to the generated config (lines of
 * `key value`, mqchatd names; NULL for none). mqchatd also gets `http.port`
 * = a free port (b->http_port) unless extra has an `http.port` line.
 * Returns 0 when the port accepts connections, -1 (with the log printed)
 * when the broker exits or does not accept within 10 s.
 */
int tl_broker_start(struct tl_broker *b, const char *extra);

/*
 * SIGTERM, up to 5 s for the exit, then SIGKILL. Returns the exit status
 * (0..255), 128 + signal number when killed by a signal, or -1.
 * The temporary directory is removed; its log is printed first when any
 * check has failed.
 */
int tl_broker_stop(struct tl_broker *b);

/* True while the broker process has not exited. */
bool tl_broker_alive(struct tl_broker *b);

/* Prints the last `lines` lines of the broker's log to stdout. */
void tl_broker_print_log(const struct tl_broker *b, int lines);

/*
 * Installs a watchdog (the whole program is stopped after `seconds`, the
 * broker killed) and ignores SIGPIPE. Call first.
 */
void tl_init(const char *program, int seconds);

/* Records one check inside the current test case; returns ok. */
bool tl_check(bool ok, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define CHECK(cond)       tl_check(!!(cond), __FILE__, __LINE__, #cond, NULL)
#define CHECKF(cond, ...) tl_check(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

/* Runs one test case and prints "ok NAME" or "FAIL NAME". */
void tl_run(const char *name, void (*fn)(void));

/* Prints `N passed, N failed`; returns the process exit status (0 = all passed). */
int tl_finish(void);

/* Monotonic seconds. */
double tl_now(void);

/* Sleeps ms milliseconds (a poll interval, never a synchronisation). */
void tl_sleep_ms(int ms);

/*
 * A name unique in this run: "PREFIX-PID-N", for client ids and topics.
 * Returns a pointer to one of 16 rotating static buffers.
 */
const char *tl_name(const char *prefix);

/* The number of worker threads the broker was asked to use. */
int tl_workers(void);

/*
 * True when the broker under test runs as Mosquitto (MQCHAT_IMPL or the
 * MQCHAT_BROKER file name, see above), also before tl_broker_start.
 */
bool tl_is_mosquitto(void);

/*
 * A loopback TCP port that was free a moment ago (bound to port 0, read
 * back, closed): another process may take it before it is used, so callers
 * retry. Returns the port, or -1 when no socket could be made.
 */
int tl_free_port(void);

/* True when a TCP connection to 127.0.0.1:port is accepted (then closed). */
bool tl_port_accepts(int port);

/* Removes dir and everything below it, symbolic links not followed;
 * what cannot be removed is left. */
void tl_rm_tree(const char *dir);

/*
 * A loopback TCP relay between one or more clients and the broker, for
 * tests that must see (or slow down) the packets themselves: a client
 * library connects to the proxy's uri instead of the broker's. A thread
 * accepts clients (up to 8 at once), opens a connection to the broker for
 * each, and forwards whole MQTT packets both ways, framed by the fixed
 * header (the protocol version does not matter).
 *
 * fn, when not NULL, is called on the proxy thread for every packet as it
 * is forwarded, after any delay: dir is TL_TO_BROKER or TL_TO_CLIENT, pkt
 * the whole packet (fixed header included), conn the connection's number
 * (0, 1, ... in accept order).
 */
enum { TL_TO_BROKER = 0, TL_TO_CLIENT = 1 };

typedef void tl_packet_fn(void *ctx, int conn, int dir, const unsigned char *pkt, size_t len);

struct tl_proxy;

/* Starts a proxy to 127.0.0.1:broker_port; NULL (with a message) on error. */
struct tl_proxy *tl_proxy_start(int broker_port, tl_packet_fn *fn, void *ctx);

/*
 * From now on, holds each packet to the broker whose type (1..15) is set in
 * type_mask (bit 1 << type) for ms milliseconds before forwarding it; the
 * packets behind it wait too, so the order is kept. 0 ms: no delay.
 */
void tl_proxy_delay(struct tl_proxy *p, unsigned type_mask, int ms);

/* "tcp://127.0.0.1:PORT" of the proxy, for Paho. */
const char *tl_proxy_uri(const struct tl_proxy *p);

/* Closes every relayed connection, stops the thread, frees; *p = NULL. */
void tl_proxy_stop(struct tl_proxy **p);

#endif
