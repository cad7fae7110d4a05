/*
 * bench_stats: see bench_stats.h. Nothing here allocates: both clients call it from
 * their hot loops (bench_hist_add, bench_now_ns) or once per point.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_stats.h"

/* Below 128 the value is its bucket. Above, the top 7 bits of the value (64..127 once
 * shifted) pick one of 64 buckets in the row of its shift. */
static unsigned bucket_of(uint64_t v)
{
    if (v < 128)
        return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - 6;
    return 128 + (shift - 1) * 64 + (unsigned)((v >> shift) - 64);
}

static void bucket_range(unsigned b, double *lo, double *hi)
{
    if (b < 128) {
        *lo = *hi = b;
        return;
    }
    unsigned shift = (b - 128) / 64 + 1;
    uint64_t m = (b - 128) % 64 + 64;
    *lo = (double)(m << shift);
    *hi = (double)(((m + 1) << shift) - 1);
}

void bench_hist_add(bench_hist_t *h, uint64_t ns)
{
    h->counts[bucket_of(ns)]++;
    h->n++;
}

void bench_hist_merge(bench_hist_t *into, const bench_hist_t *from)
{
    for (unsigned b = 0; b < BENCH_HIST_BUCKETS; b++)
        into->counts[b] += from->counts[b];
    into->n += from->n;
}

double bench_hist_quantile(const bench_hist_t *h, double p)
{
    if (h->n == 0)
        return 0;
    /* the rank of the value asked for, 1-based, as a sorted sample's ceil(p * n) */
    uint64_t rank = (uint64_t)(p * (double)h->n);
    if ((double)rank < p * (double)h->n)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < BENCH_HIST_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            double lo, hi;
            bucket_range(b, &lo, &hi);
            return (lo + hi) / 2;
        }
    }
    return 0; /* not reached: the counts add up to n */
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double bench_proc_cpu(pid_t pid)
{
    if (pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: count fields after its last ')' */
    char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (!p ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double bench_self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

void bench_result_print(const bench_result_t *r)
{
    double rate = r->secs > 0 ? (double)r->calls / r->secs : 0;
    double q[4] = {0.5, 0.9, 0.99, 0.999}, us[4];
    for (int i = 0; i < 4; i++)
        us[i] = bench_hist_quantile(r->hist, q[i]) / 1000;
    double util = -1, per_call = -1, per_core = -1;
    if (r->server_cpu >= 0 && r->secs > 0) {
        util = 100 * r->server_cpu / r->secs;
        if (r->calls > 0)
            per_call = r->server_cpu / (double)r->calls * 1e6;
        /* what one server core would do at 100 % if every call cost what these did */
        if (r->server_cpu > 0)
            per_core = (double)r->calls / r->server_cpu;
    }
    double client_util = r->secs > 0 ? 100 * r->client_cpu / r->secs : 0;
    printf("%s: %llu calls in %.2f s = %.0f calls/s, %llu errors; latency us p50 %.1f p90 %.1f "
           "p99 %.1f p99.9 %.1f; server CPU %.0f %%, %.2f us per call, %.0f calls/s per server "
           "core; client CPU %.0f %%\n",
           r->what, (unsigned long long)r->calls, r->secs, rate, (unsigned long long)r->errors,
           us[0], us[1], us[2], us[3], util, per_call, per_core, client_util);
    printf("RESULT %s secs=%.3f calls=%llu errors=%llu rate=%.1f p50_us=%.2f p90_us=%.2f "
           "p99_us=%.2f p999_us=%.2f server_cpu_s=%.3f server_util=%.1f us_per_call=%.3f "
           "per_core=%.0f client_util=%.1f\n",
           r->what, r->secs, (unsigned long long)r->calls, (unsigned long long)r->errors, rate,
           us[0], us[1], us[2], us[3], r->server_cpu, util, per_call, per_core, client_util);
    fflush(stdout);
}
