/*
 * test_config.c - unit tests for config.c: defaults, every key, bad values
 * and their error text, durations, config files with file:line errors.
 *
 * Cases are tables of {input, expected} rows in the manner of SQLite's
 * between.test; a failing row prints its index. Files are written into a
 * mkdtemp() directory made by the group setup and removed by its teardown.
 * This is not a test of how mqchatd uses the values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "errors.h"
#include "unit_helpers.h"

/* Where a field lives, so a table row can name it and the test read it. */
struct field {
    size_t off;     /* offsetof(struct config, field) */
    size_t size;    /* sizeof the field: 1 bool, 2 uint16_t, 4 uint32_t/int/unsigned, 8 uint64_t */
    bool is_signed; /* an int */
};

#define FIELD(m)                                                                                   \
    {                                                                                              \
        offsetof(struct config, m), sizeof(((struct config *)0)->m), false                         \
    }
#define SFIELD(m)                                                                                  \
    {                                                                                              \
        offsetof(struct config, m), sizeof(((struct config *)0)->m), true                          \
    }
#define SFIELD_OF(m) offsetof(struct config, m)

/* The field's value widened to long long (uint64_t fields stay below 2^63 here). */
static long long field_value(const struct config *c, struct field f)
{
    const char *p = (const char *)c + f.off;
    switch (f.size) {
    case 1:
        return *(const bool *)p;
    case 2:
        return *(const uint16_t *)p;
    case 4:
        return f.is_signed ? (long long)*(const int *)p : (long long)*(const uint32_t *)p;
    case 8:
        return (long long)*(const uint64_t *)p;
    }
    fail_msg("field of size %zu", f.size);
    return 0;
}

static const char *field_string(const struct config *c, size_t off)
{
    return *(char *const *)((const char *)c + off);
}

static void test_defaults(void **state)
{
    static const struct {
        struct field f;
        long long want;
    } rows[] = {
        {FIELD(port), 1883},
        {FIELD(allow_anonymous), 0},
        {FIELD(allow_zero_length_clientid), 1},
        {SFIELD(max_connections), -1},
        {FIELD(max_inflight_messages), 20},
        {FIELD(max_queued_messages), 1000},
        {FIELD(max_queued_bytes), 8 << 20},
        {FIELD(message_size_limit), 1 << 20},
        {FIELD(max_keepalive), 65535},
        {FIELD(max_topic_alias), 10},
        {FIELD(max_subscriptions), 1000},
        {FIELD(persistent_client_expiration), 0},
        {FIELD(sys_interval), 10},
        {FIELD(out_soft_bytes), 1 << 20},
        {FIELD(out_hard_bytes), 8 << 20},
        {FIELD(workers), 0},
        {FIELD(verbose), 0},
    };
    struct config c;
    assert_int_equal(config_defaults(&c), MQ_OK);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (field_value(&c, rows[i].f) != rows[i].want)
            fail_msg("row %zu: got %lld, want %lld", i, field_value(&c, rows[i].f), rows[i].want);
    }
    assert_null(c.bind_address);
    assert_null(c.password_file);
    assert_null(c.acl_file);
    assert_string_equal(c.data_dir, "data");
    config_free(&c);
    assert_null(c.data_dir);
}

/* Every numeric and boolean key, good values including both ends of the range. */
static void test_each_key(void **state)
{
    static const struct {
        const char *key, *value;
        struct field f;
        long long want;
    } rows[] = {
        {"port", "1884", FIELD(port), 1884},
        {"port", "1", FIELD(port), 1},
        {"port", "65535", FIELD(port), 65535},
        {"allow_anonymous", "true", FIELD(allow_anonymous), 1},
        {"allow_anonymous", "false", FIELD(allow_anonymous), 0},
        {"allow_zero_length_clientid", "false", FIELD(allow_zero_length_clientid), 0},
        {"allow_zero_length_clientid", "true", FIELD(allow_zero_length_clientid), 1},
        {"max_connections", "-1", SFIELD(max_connections), -1},
        {"max_connections", "0", SFIELD(max_connections), 0},
        {"max_connections", "2147483647", SFIELD(max_connections), 2147483647},
        {"max_inflight_messages", "0", FIELD(max_inflight_messages), 0},
        {"max_inflight_messages", "65535", FIELD(max_inflight_messages), 65535},
        {"max_queued_messages", "4294967295", FIELD(max_queued_messages), 4294967295LL},
        {"max_queued_bytes", "0", FIELD(max_queued_bytes), 0},
        {"max_queued_bytes", "17179869184", FIELD(max_queued_bytes), 17179869184LL},
        {"message_size_limit", "268435455", FIELD(message_size_limit), 268435455},
        {"message_size_limit", "0", FIELD(message_size_limit), 0},
        {"max_keepalive", "0", FIELD(max_keepalive), 0},
        {"max_keepalive", "60", FIELD(max_keepalive), 60},
        {"max_topic_alias", "0", FIELD(max_topic_alias), 0},
        {"max_topic_alias", "65535", FIELD(max_topic_alias), 65535},
        {"persistent_client_expiration", "1d", FIELD(persistent_client_expiration), 86400},
        {"sys_interval", "0", FIELD(sys_interval), 0},
        {"sys_interval", "65535", FIELD(sys_interval), 65535},
        {"store.durability", "full", FIELD(store_durability), 1},
        {"store.durability", "normal", FIELD(store_durability), 0},
        {"node.id", "1023", FIELD(node_id), 1023},
        {"redis.cluster", "true", FIELD(redis_cluster), 1},
        {"redis.node_timeout", "500", FIELD(redis_node_timeout), 500},
        {"redis.node_timeout", "60000", FIELD(redis_node_timeout), 60000},
        {"redis.history_cache", "0", FIELD(redis_history_cache), 0},
        {"redis.history_cache", "10000", FIELD(redis_history_cache), 10000},
        {"store.retention_days", "0", FIELD(retention_days), 0},
        {"store.spool_max_bytes", "4096", FIELD(spool_max_bytes), 4096},
        {"conn.out_soft_bytes", "65536", FIELD(out_soft_bytes), 65536},
        {"conn.out_hard_bytes", "1073741824", FIELD(out_hard_bytes), 1073741824},
        {"workers", "4", FIELD(workers), 4},
        {"workers", "1024", FIELD(workers), 1024},
        {"workers", " 8 ", FIELD(workers), 8},
        {"max_connections", "-0", SFIELD(max_connections), 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct config c;
        char err[256] = "";
        assert_int_equal(config_defaults(&c), MQ_OK);
        int rc = config_set(&c, rows[i].key, rows[i].value, "--set", err, sizeof(err));
        if (rc != MQ_OK)
            fail_msg("row %zu (%s %s): rc %d: %s", i, rows[i].key, rows[i].value, rc, err);
        if (field_value(&c, rows[i].f) != rows[i].want)
            fail_msg("row %zu (%s %s): got %lld, want %lld", i, rows[i].key, rows[i].value,
                     field_value(&c, rows[i].f), rows[i].want);
        config_free(&c);
    }
}

static void test_string_keys(void **state)
{
    static const struct {
        const char *key, *value;
        size_t off;
        const char *want;
    } rows[] = {
        {"bind_address", "127.0.0.1", SFIELD_OF(bind_address), "127.0.0.1"},
        {"bind_address", "  ::1  ", SFIELD_OF(bind_address), "::1"},
        {"password_file", "/etc/mqchat/passwd", SFIELD_OF(password_file), "/etc/mqchat/passwd"},
        {"acl_file", "/etc/mqchat/acl file", SFIELD_OF(acl_file), "/etc/mqchat/acl file"},
        {"data_dir", "/var/lib/mqchat", SFIELD_OF(data_dir), "/var/lib/mqchat"},
        {"data_dir", "with # hash", SFIELD_OF(data_dir), "with # hash"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct config c;
        char err[256] = "";
        assert_int_equal(config_defaults(&c), MQ_OK);
        /* Set twice: the first value must be freed, the second kept. */
        assert_int_equal(config_set(&c, rows[i].key, "first", "--set", err, sizeof(err)), MQ_OK);
        int rc = config_set(&c, rows[i].key, rows[i].value, "--set", err, sizeof(err));
        if (rc != MQ_OK)
            fail_msg("row %zu: rc %d: %s", i, rc, err);
        const char *got = field_string(&c, rows[i].off);
        if (got == NULL || strcmp(got, rows[i].want) != 0)
            fail_msg("row %zu: got '%s', want '%s'", i, got ? got : "(null)", rows[i].want);
        config_free(&c);
        assert_null(field_string(&c, rows[i].off));
    }
}

/* Bad values through config_set: the exact error text, `where` first. */
static void test_bad_values(void **state)
{
    static const struct {
        const char *key, *value;
        int rc;
        const char *err;
    } rows[] = {
        {"prot", "1883", MQ_EINVAL, "--set: unknown key 'prot'"},
        {"Port", "1883", MQ_EINVAL, "--set: unknown key 'Port'"},
        {"port", "", MQ_EINVAL, "--set: missing value for 'port'"},
        {"port", "   ", MQ_EINVAL, "--set: missing value for 'port'"},
        {"bind_address", "", MQ_EINVAL, "--set: missing value for 'bind_address'"},
        {"port", "abc", MQ_EINVAL, "--set: port: 'abc' is not a number"},
        {"port", "18x3", MQ_EINVAL, "--set: port: '18x3' is not a number"},
        {"port", "0x50", MQ_EINVAL, "--set: port: '0x50' is not a number"},
        {"port", "+80", MQ_EINVAL, "--set: port: '+80' is not a number"},
        {"port", "1883 # mqtt", MQ_EINVAL, "--set: port: '1883 # mqtt' is not a number"},
        {"port", "0", MQ_EINVAL, "--set: port: '0' is out of range (1..65535)"},
        {"port", "65536", MQ_EINVAL, "--set: port: '65536' is out of range (1..65535)"},
        {"port", "-1", MQ_EINVAL, "--set: port: '-1' is out of range (1..65535)"},
        {"port", "99999999999999999999999", MQ_EINVAL,
         "--set: port: '99999999999999999999999' is out of range (1..65535)"},
        {"max_connections", "-2", MQ_EINVAL,
         "--set: max_connections: '-2' is out of range (-1..2147483647)"},
        {"max_connections", "2147483648", MQ_EINVAL,
         "--set: max_connections: '2147483648' is out of range (-1..2147483647)"},
        {"max_inflight_messages", "65536", MQ_EINVAL,
         "--set: max_inflight_messages: '65536' is out of range (0..65535)"},
        {"max_queued_messages", "-1", MQ_EINVAL,
         "--set: max_queued_messages: '-1' is out of range (0..4294967295)"},
        {"max_queued_messages", "4294967296", MQ_EINVAL,
         "--set: max_queued_messages: '4294967296' is out of range (0..4294967295)"},
        {"max_queued_bytes", "-5", MQ_EINVAL,
         "--set: max_queued_bytes: '-5' is out of range (0..18446744073709551615)"},
        {"max_queued_bytes", "8M", MQ_EINVAL, "--set: max_queued_bytes: '8M' is not a number"},
        {"message_size_limit", "268435456", MQ_EINVAL,
         "--set: message_size_limit: '268435456' is out of range (0..268435455)"},
        {"max_keepalive", "65536", MQ_EINVAL,
         "--set: max_keepalive: '65536' is out of range (0..65535)"},
        {"sys_interval", "-10", MQ_EINVAL, "--set: sys_interval: '-10' is out of range (0..65535)"},
        {"store.durability", "maybe", MQ_EINVAL,
         "--set: store.durability: 'maybe' is not one of normal|full"},
        {"store.durability", "Full", MQ_EINVAL,
         "--set: store.durability: 'Full' is not one of normal|full"},
        {"node.id", "1024", MQ_EINVAL, "--set: node.id: '1024' is out of range (0..1023)"},
        {"store.spool_max_bytes", "0", MQ_EINVAL,
         "--set: store.spool_max_bytes: '0' is out of range (1..18446744073709551615)"},
        {"conn.out_soft_bytes", "0", MQ_EINVAL,
         "--set: conn.out_soft_bytes: '0' is out of range (1..18446744073709551615)"},
        {"conn.out_hard_bytes", "0", MQ_EINVAL,
         "--set: conn.out_hard_bytes: '0' is out of range (1..18446744073709551615)"},
        {"workers", "1025", MQ_EINVAL, "--set: workers: '1025' is out of range (0..1024)"},
        {"workers", "-1", MQ_EINVAL, "--set: workers: '-1' is out of range (0..1024)"},
        {"allow_anonymous", "yes", MQ_EINVAL, "--set: allow_anonymous: 'yes' is not true or false"},
        {"allow_anonymous", "1", MQ_EINVAL, "--set: allow_anonymous: '1' is not true or false"},
        {"allow_anonymous", "TRUE", MQ_EINVAL,
         "--set: allow_anonymous: 'TRUE' is not true or false"},
        {"allow_zero_length_clientid", "off", MQ_EINVAL,
         "--set: allow_zero_length_clientid: 'off' is not true or false"},
        {"verbose", "true", MQ_EINVAL, "--set: unknown key 'verbose'"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct config c;
        char err[256] = "";
        assert_int_equal(config_defaults(&c), MQ_OK);
        int rc = config_set(&c, rows[i].key, rows[i].value, "--set", err, sizeof(err));
        if (rc != rows[i].rc || strcmp(err, rows[i].err) != 0)
            fail_msg("row %zu: rc %d '%s', want %d '%s'", i, rc, err, rows[i].rc, rows[i].err);
        assert_int_equal(c.port, 1883); /* a refused value leaves the field alone */
        config_free(&c);
    }
}

/* persistent_client_expiration in Mosquitto's forms. want -1: an error. */
static void test_durations(void **state)
{
    static const struct {
        const char *value;
        long long want;
    } rows[] = {
        {"0", 0},
        {"3600", 3600},
        {"1h", 3600},
        {"2h", 7200},
        {"2d", 172800},
        {"1w", 604800},
        {"1m", 2592000},
        {"1y", 31536000},
        {"136y", 4288896000LL},
        {"0d", 0},
        {"4294967295", 4294967295LL},
        {"4294967296", -1},
        {"137y", -1},
        {"99999999999999999999h", -1},
        {"1x", -1},
        {"h", -1},
        {"1hh", -1},
        {"1 h", -1},
        {"1H", -1},
        {"1s", -1},
        {"-1h", -1},
        {"1.5d", -1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct config c;
        char err[256] = "";
        assert_int_equal(config_defaults(&c), MQ_OK);
        c.persistent_client_expiration = 7;
        int rc = config_set(&c, "persistent_client_expiration", rows[i].value, "x.conf:3", err,
                            sizeof(err));
        if (rows[i].want < 0) {
            if (rc != MQ_EINVAL || strncmp(err, "x.conf:3: persistent_client_expiration: '", 41))
                fail_msg("row %zu (%s): rc %d '%s', want an error", i, rows[i].value, rc, err);
            assert_int_equal(c.persistent_client_expiration, 7);
        } else if (rc != MQ_OK || c.persistent_client_expiration != rows[i].want) {
            fail_msg("row %zu (%s): rc %d '%s' value %u, want %lld", i, rows[i].value, rc, err,
                     c.persistent_client_expiration, rows[i].want);
        }
        config_free(&c);
    }

    struct config c;
    char err[256];
    assert_int_equal(config_defaults(&c), MQ_OK);
    assert_int_equal(config_set(&c, "persistent_client_expiration", "1x", "f:1", err, sizeof(err)),
                     MQ_EINVAL);
    assert_string_equal(err, "f:1: persistent_client_expiration: '1x' is not a duration "
                             "(seconds, or a number followed by h, d, w, m or y)");
    assert_int_equal(
        config_set(&c, "persistent_client_expiration", "137y", "f:2", err, sizeof(err)), MQ_EINVAL);
    assert_string_equal(
        err, "f:2: persistent_client_expiration: '137y' is out of range (0..4294967295)");
    config_free(&c);
}

/* A whole file: comments, blank lines, CRLF, indentation, repeated keys. */
static void test_load_file(void **state)
{
    const char *path = unit_write_file("c.conf", "# mqchat test\n"
                                                 "\n"
                                                 "port 1884\n"
                                                 "   # an indented comment\n"
                                                 "\tbind_address   127.0.0.1  \n"
                                                 "allow_anonymous true\r\n"
                                                 "password_file /etc/p\n"
                                                 "acl_file /etc/a\n"
                                                 "max_connections 100\n"
                                                 "persistent_client_expiration 2w\n"
                                                 "data_dir /var/lib/x\n"
                                                 "conn.out_soft_bytes 2048\n"
                                                 "port 1885\n"
                                                 "workers 2"); /* no final newline */
    struct config c;
    char err[256] = "";
    assert_int_equal(config_defaults(&c), MQ_OK);
    int rc = config_load_file(&c, path, err, sizeof(err));
    if (rc != MQ_OK)
        fail_msg("rc %d: %s", rc, err);
    assert_int_equal(c.port, 1885);
    assert_string_equal(c.bind_address, "127.0.0.1");
    assert_true(c.allow_anonymous);
    assert_string_equal(c.password_file, "/etc/p");
    assert_string_equal(c.acl_file, "/etc/a");
    assert_int_equal(c.max_connections, 100);
    assert_int_equal(c.persistent_client_expiration, 14 * 86400);
    assert_string_equal(c.data_dir, "/var/lib/x");
    assert_int_equal(c.out_soft_bytes, 2048);
    assert_int_equal(c.workers, 2);
    assert_int_equal(c.max_inflight_messages, 20); /* untouched keys keep their defaults */
    config_free(&c);
}

/* Errors in files name the file and the line. */
static void test_file_errors(void **state)
{
    static const struct {
        const char *text;
        int rc;
        const char *err; /* what follows "PATH" */
    } rows[] = {
        {"port 1883\nprot 1884\n", MQ_EINVAL, ":2: unknown key 'prot'"},
        {"# c\n\nport 70000\n", MQ_EINVAL, ":3: port: '70000' is out of range (1..65535)"},
        {"port\n", MQ_EINVAL, ":1: missing value for 'port'"},
        {"allow_anonymous yes\n", MQ_EINVAL, ":1: allow_anonymous: 'yes' is not true or false"},
        {"a\n", MQ_EINVAL, ":1: unknown key 'a'"},
        {"max_queued_messages -3\n", MQ_EINVAL,
         ":1: max_queued_messages: '-3' is out of range (0..4294967295)"},
        {"port 1883\r\nworkers two\r\n", MQ_EINVAL, ":2: workers: 'two' is not a number"},
        {"listener 1883\n", MQ_EINVAL, ":1: unknown key 'listener'"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *path = unit_write_file("c.conf", rows[i].text);
        char want[600];
        snprintf(want, sizeof(want), "%s%s", path, rows[i].err);
        struct config c;
        char err[600] = "";
        assert_int_equal(config_defaults(&c), MQ_OK);
        int rc = config_load_file(&c, path, err, sizeof(err));
        if (rc != rows[i].rc || strcmp(err, want) != 0)
            fail_msg("row %zu: rc %d '%s', want %d '%s'", i, rc, err, rows[i].rc, want);
        config_free(&c);
    }

    struct config c;
    char err[600] = "";
    char path[512];
    snprintf(path, sizeof(path), "%s/missing.conf", unit_tmpdir());
    char want[600];
    snprintf(want, sizeof(want), "%s: No such file or directory", path);
    assert_int_equal(config_defaults(&c), MQ_OK);
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), MQ_EIO);
    assert_string_equal(err, want);

    /* A short err buffer is cut, still NUL-terminated; a NULL one is fine. */
    char tiny[8];
    assert_int_equal(config_set(&c, "nope", "1", "--set", tiny, sizeof(tiny)), MQ_EINVAL);
    assert_string_equal(tiny, "--set: ");
    assert_int_equal(config_set(&c, "nope", "1", "--set", NULL, 0), MQ_EINVAL);
    config_free(&c);
}

/*
 * etc/mqchat.conf with its settings uncommented must load and give the
 * defaults back (bind_address, password_file, acl_file, store.spool_topics,
 * mysql.url, chat.token_secret, chat.service_key and http.bind_address show
 * examples, not defaults). The file is found from the source path this test was compiled
 * with, so run the test from the repository root or with an absolute path.
 */
static void test_shipped_example(void **state)
{
    char src[512];
    const char *me = __FILE__, *tail = strstr(me, "tests/unit/test_config.c");
    snprintf(src, sizeof(src), "%.*setc/mqchat.conf", tail ? (int)(tail - me) : 0, me);
    FILE *in = fopen(src, "r");
    if (in == NULL) {
        print_message("skipped: %s not found from this directory\n", src);
        skip();
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/etc.conf", unit_tmpdir());
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    char line[1024];
    unsigned nkeys = 0;
    while (fgets(line, sizeof(line), in)) {
        /* "#key value" (no space after '#') is a commented-out setting. */
        if (line[0] == '#' && line[1] != ' ' && line[1] != '#' && line[1] != '\n') {
            fputs(line + 1, out);
            nkeys++;
        }
    }
    fclose(in);
    fclose(out);

    struct config def, c;
    char err[600] = "";
    assert_int_equal(config_defaults(&def), MQ_OK);
    assert_int_equal(config_defaults(&c), MQ_OK);
    int rc = config_load_file(&c, path, err, sizeof(err));
    if (rc != MQ_OK)
        fail_msg("rc %d: %s", rc, err);
    assert_int_equal(nkeys, 60); /* every key of struct config but verbose */
    assert_int_equal(c.port, def.port);
    assert_int_equal(c.max_topic_alias, def.max_topic_alias);
    assert_int_equal(c.allow_anonymous, def.allow_anonymous);
    assert_int_equal(c.allow_zero_length_clientid, def.allow_zero_length_clientid);
    assert_int_equal(c.max_connections, def.max_connections);
    assert_int_equal(c.max_inflight_messages, def.max_inflight_messages);
    assert_int_equal(c.max_queued_messages, def.max_queued_messages);
    assert_int_equal(c.max_queued_bytes, def.max_queued_bytes);
    assert_int_equal(c.message_size_limit, def.message_size_limit);
    assert_int_equal(c.max_keepalive, def.max_keepalive);
    assert_int_equal(c.persistent_client_expiration, def.persistent_client_expiration);
    assert_int_equal(c.sys_interval, def.sys_interval);
    assert_int_equal(c.out_soft_bytes, def.out_soft_bytes);
    assert_int_equal(c.out_hard_bytes, def.out_hard_bytes);
    assert_string_equal(c.data_dir, def.data_dir);
    assert_int_equal(c.workers, def.workers);
    assert_int_equal(c.node_id, def.node_id);
    assert_string_equal(c.chat_prefix, def.chat_prefix);
    assert_int_equal(c.chat_open_signup, def.chat_open_signup);
    assert_int_equal(c.chat_auto_create_rooms, def.chat_auto_create_rooms);
    assert_int_equal(c.chat_max_payload, def.chat_max_payload);
    assert_int_equal(c.chat_max_text, def.chat_max_text);
    assert_int_equal(c.chat_token_ttl, def.chat_token_ttl);
    assert_int_equal(c.chat_history_window, def.chat_history_window);
    assert_int_equal(c.http_port, def.http_port);
    assert_int_equal(c.http_max_body, def.http_max_body);
    assert_int_equal(c.store_durability, def.store_durability);
    assert_int_equal(c.spool_max_bytes, def.spool_max_bytes);
    assert_int_equal(c.retention_days, def.retention_days);
    assert_non_null(c.spool_topics);
    assert_non_null(c.mysql_url);
    assert_non_null(c.bind_address);
    assert_non_null(c.password_file);
    assert_non_null(c.acl_file);
    config_free(&def);
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_each_key),
        cmocka_unit_test(test_string_keys), cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_durations),   cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_file_errors), cmocka_unit_test(test_shipped_example),
    };
    return cmocka_run_group_tests(tests, unit_tmpdir_setup, unit_tmpdir_teardown);
}
