/*
 * script.c - `mqchat send` and `mqchat tail` (see script.h).
 */
#include "script.h"

#include <cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/envelope.h"
#include "../common/safetext.h"
#include "../common/textwidth.h"
#include "backoff.h"
#include "conn.h"

#define SCRIPT_MAX_TEXT 16384
#define SCRIPT_NOTICE_WAIT_MS 1000

struct script {
    const struct mqchat_opts *o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* mu: */
    long printed;          /* tail: messages printed */
    int lost;              /* the connection was lost */
    char notice[128];      /* send: the reason of a refusal notice */
};

static volatile sig_atomic_t script_stop;

static void script__on_signal(int sig)
{
    (void)sig;
    script_stop = 1;
}

/*
 * tail --json: writes the envelope j as one line of JSON with no control
 * byte a terminal would act on. cJSON_PrintUnformatted() escapes C0
 * controls in strings; DEL and C1 controls (U+0080-U+009F, U+009B being a
 * one-character CSI) it leaves raw, so they are written as \u escapes, and
 * a byte that is not UTF-8 as \ufffd. Outside strings JSON is ASCII, so
 * this only ever rewrites string contents. Returns 0, or -1 out of memory.
 */
static int script__json_line(const cJSON *j)
{
    char *z = cJSON_PrintUnformatted(j);
    size_t len, i = 0;

    if (!z)
        return -1;
    len = strlen(z);
    while (i < len) {
        uint32_t cp;
        size_t n = textwidth_decode(z + i, len - i, &cp);
        if (cp == TEXTWIDTH_BAD && n == 1)
            fputs("\\ufffd", stdout);
        else if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
            printf("\\u%04x", (unsigned)cp);
        else
            fwrite(z + i, 1, n, stdout);
        i += n;
    }
    fputc('\n', stdout);
    free(z);
    return 0;
}

static void script__on_message(void *ctx, const char *topic, const char *payload, size_t len)
{
    struct script *s = ctx;
    size_t tl = strlen(topic);

    if (tl > 7 && !strcmp(topic + tl - 7, "/events")) {
        cJSON *j = cJSON_ParseWithLength(payload, len);
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(j, "reason");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
        if (cJSON_IsString(type) && !strcmp(type->valuestring, "notice") && cJSON_IsString(reason)) {
            pthread_mutex_lock(&s->mu);
            safetext_copy(s->notice, sizeof s->notice, reason->valuestring,
                          strlen(reason->valuestring), 0);
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
        }
        cJSON_Delete(j);
        return;
    }
    if (s->o->mode != MQCHAT_TAIL)
        return;
    pthread_mutex_lock(&s->mu);
    if (s->o->count && s->printed >= s->o->count) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    if (s->o->json) {
        cJSON *j = cJSON_ParseWithLength(payload, len);
        int rc = j ? script__json_line(j) : -1;
        cJSON_Delete(j);
        if (rc != 0) { /* not JSON (the broker sends JSON only), or no memory */
            pthread_mutex_unlock(&s->mu);
            return;
        }
    } else {
        struct envelope env;
        char line[SCRIPT_MAX_TEXT + 512];
        if (envelope_parse(payload, len, &env) != ENVELOPE_OK) {
            pthread_mutex_unlock(&s->mu);
            return;
        }
        envelope_format(&env, isatty(STDOUT_FILENO) ? ENVELOPE_FMT_COLOR : 0, line, sizeof line);
        puts(line);
        envelope_free(&env);
    }
    fflush(stdout);
    s->printed++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void script__on_lost(void *ctx, const char *cause)
{
    struct script *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->lost = 1;
    pthread_mutex_unlock(&s->mu);
    (void)cause;
}

/* Reads all of stdin (at most SCRIPT_MAX_TEXT bytes), final newline cut. */
static char *script__read_stdin(void)
{
    char *buf = malloc(SCRIPT_MAX_TEXT + 2);
    size_t n;
    if (!buf)
        return NULL;
    n = fread(buf, 1, SCRIPT_MAX_TEXT + 1, stdin);
    if (n > SCRIPT_MAX_TEXT) {
        free(buf);
        return NULL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    return buf;
}

static int script__send(struct script *s, struct conn *c, const char *user)
{
    const struct mqchat_opts *o = s->o;
    char topic[160], events[160], *text = o->text, *owned = NULL, *payload = NULL;
    cJSON *j;
    int rc, reason = 0;

    if (!text) {
        text = owned = script__read_stdin();
        if (!text) {
            fprintf(stderr, "mqchat: send: could not read the text from stdin (at most %d bytes)\n",
                    SCRIPT_MAX_TEXT);
            return MQCHAT_EXIT_USAGE;
        }
    }
    if (!*text) {
        free(owned);
        fprintf(stderr, "mqchat: send: empty text\n");
        return MQCHAT_EXIT_USAGE;
    }
    if (o->target[0] == '@')
        snprintf(topic, sizeof topic, "chat/dm/%s", o->target + 1);
    else
        snprintf(topic, sizeof topic, "chat/room/%s", o->target);
    j = cJSON_CreateObject();
    if (j && cJSON_AddStringToObject(j, "type", "text") && cJSON_AddStringToObject(j, "text", text))
        payload = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    free(owned);
    if (!payload)
        return MQCHAT_EXIT_FAILED;
    /* The notice says why a publish was refused; best effort. */
    snprintf(events, sizeof events, "chat/user/%s/events", user);
    conn_subscribe(c, events, 0, NULL);
    rc = conn_publish(c, topic, payload, strlen(payload), 1, &reason);
    free(payload);
    if (rc == CONN_OK)
        return MQCHAT_EXIT_OK;
    if (rc == CONN_EDENIED) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += SCRIPT_NOTICE_WAIT_MS % 1000 * 1000000L;
        ts.tv_sec += SCRIPT_NOTICE_WAIT_MS / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&s->mu);
        while (!s->notice[0] && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
            ;
        fprintf(stderr, "mqchat: send: refused: %s%s%s (0x%02x)\n", s->notice,
                s->notice[0] ? ", " : "", conn_reason_string(reason), reason);
        pthread_mutex_unlock(&s->mu);
        return MQCHAT_EXIT_DENIED;
    }
    fprintf(stderr, "mqchat: send: %s\n", conn_strerror(rc));
    return MQCHAT_EXIT_FAILED;
}

static int script__subscribe_tail(struct conn *c, const char *room)
{
    char topic[160];
    int reason = 0, rc;
    snprintf(topic, sizeof topic, "chat/room/%s", room);
    rc = conn_subscribe(c, topic, 1, &reason);
    if (rc == CONN_EDENIED) {
        fprintf(stderr, "mqchat: tail: #%s refused: %s (0x%02x)\n", room, conn_reason_string(reason),
                reason);
        return MQCHAT_EXIT_DENIED;
    }
    if (rc != CONN_OK) {
        fprintf(stderr, "mqchat: tail: %s\n", conn_strerror(rc));
        return MQCHAT_EXIT_FAILED;
    }
    snprintf(topic, sizeof topic, "chat/room/%s/system", room);
    conn_subscribe(c, topic, 1, NULL);
    return MQCHAT_EXIT_OK;
}

static int script__tail(struct script *s, struct conn *c)
{
    struct backoff bo;
    long long next_try = 0;
    int down = 0, rc;
    char delay[32];

    if ((rc = script__subscribe_tail(c, s->o->target)) != MQCHAT_EXIT_OK)
        return rc;
    backoff_reset(&bo);
    while (!script_stop) {
        int lost, done;
        pthread_mutex_lock(&s->mu);
        lost = s->lost;
        s->lost = 0;
        done = s->o->count && s->printed >= s->o->count;
        pthread_mutex_unlock(&s->mu);
        if (done)
            return MQCHAT_EXIT_OK;
        if (lost && !down) {
            int d = backoff_take(&bo);
            down = 1;
            next_try = backoff_now_ms() + d;
            backoff_describe(d, delay, sizeof delay);
            fprintf(stderr, "mqchat: disconnected, reconnecting in %s\n", delay);
        }
        if (down && backoff_now_ms() >= next_try) {
            rc = conn_connect(c, NULL, NULL);
            if (rc == CONN_OK && script__subscribe_tail(c, s->o->target) == MQCHAT_EXIT_OK) {
                down = 0;
                backoff_reset(&bo);
                fprintf(stderr, "mqchat: reconnected\n");
            } else {
                int d = backoff_take(&bo);
                next_try = backoff_now_ms() + d;
                backoff_describe(d, delay, sizeof delay);
                fprintf(stderr, "mqchat: still disconnected (%s), reconnecting in %s\n",
                        conn_strerror(rc), delay);
            }
        }
        usleep(50000);
    }
    return MQCHAT_EXIT_OK;
}

int script_run(const struct mqchat_opts *o, const char *user, const char *secret)
{
    struct script s;
    struct conn_opts co;
    struct conn *c = NULL;
    struct sigaction sa;
    char client_id[160];
    int rc, reason = 0, code;

    memset(&s, 0, sizeof s);
    s.o = o;
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    snprintf(client_id, sizeof client_id, "mqchat-%s-%s-%ld", o->mode == MQCHAT_SEND ? "send" : "tail",
             user, (long)getpid());
    conn_opts_from(&co, o, client_id, user, secret);
    co.clean = 1;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = script__on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    rc = conn_create(&c, &co, script__on_message, script__on_lost, &s);
    if (rc != CONN_OK) {
        fprintf(stderr, "mqchat: %s: %s\n", o->url, conn_strerror(rc));
        code = rc == CONN_EINVAL ? MQCHAT_EXIT_USAGE : MQCHAT_EXIT_FAILED;
        goto out;
    }
    rc = conn_connect(c, NULL, &reason);
    if (rc != CONN_OK) {
        if (reason)
            fprintf(stderr, "mqchat: %s: %s (%s)\n", o->url, conn_strerror(rc),
                    conn_reason_string(reason));
        else
            fprintf(stderr, "mqchat: %s: %s\n", o->url, conn_strerror(rc));
        code = conn_exit_code(rc);
        goto out;
    }
    code = o->mode == MQCHAT_SEND ? script__send(&s, c, user) : script__tail(&s, c);
out:
    conn_destroy(c);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
    return code;
}
