/*
 * bench_stats.c - the latency histogram and the report printer.
 *
 * Bucket layout: values 0..63 ns have a bucket each. A larger value v with
 * its highest set bit at position m (m >= 6) is shifted right by s = m - 5,
 * leaving a top part t in 32..63; its bucket is 64 + (s - 1) * 32 + (t - 32).
 * A bucket therefore spans 2^s ns and is reported by its upper edge, so
 * percentiles err on the slow side, never the fast one.
 * Nothing here allocates; printing is the only I/O.
 */
#include "bench_stats.h"

#include <string.h>

#include "mqtt_codec.h"

/* Values at or above 2^46 ns are counted in the last bucket. */
#define HIST_MAX_VALUE ((1ull << 46) - 1)

void bench_hist_reset(struct bench_hist *h)
{
    memset(h, 0, sizeof(*h));
}

static unsigned hist__index(uint64_t v)
{
    if (v < 64)
        return (unsigned)v;
    if (v > HIST_MAX_VALUE)
        v = HIST_MAX_VALUE;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - 5u;
    unsigned top = (unsigned)(v >> shift);
    return 64u + (shift - 1u) * 32u + (top - 32u);
}

static uint64_t hist__upper(unsigned idx)
{
    if (idx < 64)
        return idx;
    unsigned k = idx - 64u;
    unsigned shift = k / 32u + 1u;
    uint64_t top = k % 32u + 32u;
    return ((top + 1u) << shift) - 1u;
}

void bench_hist_record(struct bench_hist *h, uint64_t ns)
{
    h->counts[hist__index(ns)]++;
    h->n++;
    h->sum_ns += ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

uint64_t bench_hist_percentile(const struct bench_hist *h, double pct)
{
    if (h->n == 0)
        return 0;
    uint64_t target = (uint64_t)((double)h->n * pct / 100.0 + 0.999999);
    if (target == 0)
        target = 1;
    if (target > h->n)
        target = h->n;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= target) {
            uint64_t v = hist__upper(i);
            return v < h->max_ns ? v : h->max_ns;
        }
    }
    return h->max_ns;
}

double bench_result_rate(const struct bench_result *r)
{
    return r->measured_s > 0 ? (double)r->received_in_run / r->measured_s : 0.0;
}

double bench_result_pub_rate(const struct bench_result *r)
{
    return r->measured_s > 0 ? (double)r->published_in_run / r->measured_s : 0.0;
}

double bench_result_loss_pct(const struct bench_result *r)
{
    if (r->expected == 0)
        return 0.0;
    uint64_t good = r->received - r->duplicates;
    if (good >= r->expected)
        return 0.0;
    return 100.0 * (double)(r->expected - good) / (double)r->expected;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* "3.1.1" or "5" for a protocol level. */
static const char *version__name(uint8_t version)
{
    return version == MQTT_V5 ? "5" : "3.1.1";
}

/* Prints s as a JSON string, escaping what JSON requires. */
static void json__string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void print__json(const struct bench_result *r, FILE *out)
{
    const struct bench_hist *h = r->hist;

    fprintf(out, "{\"scenario\":");
    json__string(out, r->scenario);
    if (r->label) {
        fprintf(out, ",\"label\":");
        json__string(out, r->label);
    }
    fprintf(out,
            ",\"mqtt\":\"%s\",\"transport\":\"%s\",\"props\":%u,\"packet_b\":%u,"
            "\"delivery_b\":%u",
            version__name(r->version), r->transport ? r->transport : "tcp", (unsigned)r->props,
            (unsigned)r->packet_b, (unsigned)r->delivery_b);
    if (r->tls) {
        fprintf(out, ",\"tls\":");
        json__string(out, r->tls);
    }
    fprintf(out,
            ",\"qos\":%u,\"size\":%u,\"pubs\":%u,\"subs\":%u,\"conns\":%u,\"conns_ready\":%u,"
            "\"conns_failed\":%u,\"rate\":%u,\"window\":%u,\"setup_s\":%.3f,\"duration_s\":%.3f,"
            "\"measured_s\":%.3f,"
            "\"published\":%llu,\"acked\":%llu,\"expected\":%llu,\"received\":%llu,"
            "\"published_in_run\":%llu,\"received_in_run\":%llu,\"duplicates\":%llu,\"gaps\":%llu,"
            "\"unexpected\":%llu,"
            "\"throttled\":%llu,"
            "\"window_timeouts\":%llu,\"protocol_errors\":%llu,\"published_per_s\":%.1f,"
            "\"delivered_per_s\":%.1f,\"loss_pct\":%.4f",
            (unsigned)r->qos, (unsigned)r->size, (unsigned)r->pubs, (unsigned)r->subs,
            (unsigned)r->conns, (unsigned)r->conns_ready, (unsigned)r->conns_failed,
            (unsigned)r->rate, (unsigned)r->window, r->setup_s, r->duration_s, r->measured_s,
            (unsigned long long)r->published, (unsigned long long)r->acked,
            (unsigned long long)r->expected, (unsigned long long)r->received,
            (unsigned long long)r->published_in_run, (unsigned long long)r->received_in_run,
            (unsigned long long)r->duplicates, (unsigned long long)r->gaps,
            (unsigned long long)r->unexpected, (unsigned long long)r->throttled,
            (unsigned long long)r->window_timeouts, (unsigned long long)r->protocol_errors,
            bench_result_pub_rate(r), bench_result_rate(r), bench_result_loss_pct(r));
    if (h && h->n)
        fprintf(out,
                ",\"lat_p50_ms\":%.3f,\"lat_p99_ms\":%.3f,\"lat_max_ms\":%.3f,\"lat_mean_ms\":%.3f",
                ms(bench_hist_percentile(h, 50)), ms(bench_hist_percentile(h, 99)), ms(h->max_ns),
                ms(h->sum_ns / h->n));
    fprintf(out, ",\"bench_cpu_pct\":%.1f", r->bench_cpu_pct);
    if (r->split) {
        fprintf(out, ",\"split\":");
        json__string(out, r->split);
    }
    if (r->have_proc) {
        fprintf(out,
                ",\"broker_cpu_pct\":%.1f,\"rss_before_kb\":%llu,\"rss_after_kb\":%llu,"
                "\"rss_per_conn_b\":%.1f",
                r->broker_cpu_pct, (unsigned long long)r->rss_before_kb,
                (unsigned long long)r->rss_after_kb, r->rss_per_conn_b);
        for (uint32_t i = 0; r->n_procs > 1 && i < r->n_procs && i < BENCH_MAX_PIDS; i++)
            fprintf(out, ",\"broker%u_cpu_pct\":%.1f", (unsigned)i + 1, r->proc_cpu_pct[i]);
    }
    if (r->error) {
        fprintf(out, ",\"error\":");
        json__string(out, r->error);
    }
    fprintf(out, "}\n");
}

/* The broker CPU of the text report: "CPU 80.0%, ", or with several --pid
 * "CPU 80.0% (50.0 + 20.0 + 10.0), " in the order given. */
static void print__cpu(const struct bench_result *r, FILE *out)
{
    fprintf(out, "CPU %.1f%%", r->broker_cpu_pct);
    for (uint32_t i = 0; r->n_procs > 1 && i < r->n_procs && i < BENCH_MAX_PIDS; i++)
        fprintf(out, "%s%.1f", i ? " + " : " (", r->proc_cpu_pct[i]);
    fprintf(out, "%s, ", r->n_procs > 1 ? ")" : "");
}

static void print__text(const struct bench_result *r, FILE *out)
{
    const struct bench_hist *h = r->hist;

    fprintf(out, "scenario        %s%s%s%s\n", r->scenario, r->label ? " (" : "",
            r->label ? r->label : "", r->label ? ")" : "");
    fprintf(out, "protocol        MQTT %s over %s", version__name(r->version),
            r->transport ? r->transport : "tcp");
    if (r->tls)
        fprintf(out, " (%s)", r->tls);
    if (r->props)
        fprintf(out, ", %u user properties and a Content Type per publish", (unsigned)r->props);
    if (r->packet_b)
        fprintf(out, ", PUBLISH %u B", (unsigned)r->packet_b);
    if (r->delivery_b && r->delivery_b != r->size)
        fprintf(out, ", delivered payload %u B", (unsigned)r->delivery_b);
    fprintf(out, "\n");
    fprintf(out, "connections     %u ready of %u, %u failed, set-up %.2f s",
            (unsigned)r->conns_ready, (unsigned)r->conns, (unsigned)r->conns_failed, r->setup_s);
    if (r->split)
        fprintf(out, ", split %s", r->split);
    fprintf(out, "\n");
    if (r->pubs && r->duration_s > 0) {
        fprintf(out, "traffic         %u publishers -> %u subscribers, QoS %u, %u B payload, ",
                (unsigned)r->pubs, (unsigned)r->subs, (unsigned)r->qos, (unsigned)r->size);
        if (r->rate)
            fprintf(out, "%u msg/s each", (unsigned)r->rate);
        else
            fprintf(out, "window %u", (unsigned)r->window);
        fprintf(out, "\n");
        fprintf(out,
                "published       %llu in %.2f s (%.0f msg/s after %.2f s warm-up), %llu acked\n",
                (unsigned long long)r->published, r->duration_s, bench_result_pub_rate(r),
                r->duration_s - r->measured_s, (unsigned long long)r->acked);
        fprintf(out, "deliveries      %llu received of %llu expected, loss %.3f%%\n",
                (unsigned long long)r->received, (unsigned long long)r->expected,
                bench_result_loss_pct(r));
        fprintf(out, "delivered/s     %.0f\n", bench_result_rate(r));
        if (h && h->n)
            fprintf(out, "latency ms      p50 %.3f  p99 %.3f  max %.3f  mean %.3f\n",
                    ms(bench_hist_percentile(h, 50)), ms(bench_hist_percentile(h, 99)),
                    ms(h->max_ns), ms(h->sum_ns / h->n));
        if (r->throttled || r->window_timeouts || r->duplicates || r->gaps || r->unexpected)
            fprintf(out,
                    "flow            %llu sends throttled, %llu window timeouts, %llu gaps, "
                    "%llu duplicates, %llu unexpected\n",
                    (unsigned long long)r->throttled, (unsigned long long)r->window_timeouts,
                    (unsigned long long)r->gaps, (unsigned long long)r->duplicates,
                    (unsigned long long)r->unexpected);
    }
    if (r->have_proc) {
        fprintf(out, "broker          ");
        if (r->pubs)
            print__cpu(r, out);
        fprintf(out, "RSS %llu -> %llu KiB", (unsigned long long)r->rss_before_kb,
                (unsigned long long)r->rss_after_kb);
        if (r->rss_per_conn_b > 0)
            fprintf(out, ", %.0f B per connection", r->rss_per_conn_b);
        fprintf(out, "\n");
    }
    if (r->pubs && r->duration_s > 0)
        fprintf(out, "load generator  CPU %.1f%%\n", r->bench_cpu_pct);
    if (r->protocol_errors)
        fprintf(out, "protocol errors %llu\n", (unsigned long long)r->protocol_errors);
    if (r->error)
        fprintf(out, "first error     %s\n", r->error);
}

void bench_result_print(const struct bench_result *r, FILE *out, bool json)
{
    if (json)
        print__json(r, out);
    else
        print__text(r, out);
    fflush(out);
}
