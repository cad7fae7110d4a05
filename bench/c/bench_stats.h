/*
 * bench_stats: what the two C benchmark clients (loadgen, distclient) share: a latency
 * histogram, the clock, the CPU time of a server process and of the client itself, and
 * the result line both print.
 *
 * The histogram keeps counts in log-linear buckets, as HdrHistogram does: exact below
 * 128 ns, then 64 buckets per power of two (about 1.5 % wide), so a percentile costs a
 * walk over a few thousand counters and recording one latency is a shift and an add,
 * cheap enough for a client that must never be the bottleneck. One histogram belongs to
 * one thread; merge them once the run is over.
 */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stdint.h>
#include <sys/types.h>

/* 128 exact buckets, then 64 per shift from 1 to 57 (a 64-bit value's largest). */
#define BENCH_HIST_BUCKETS (128 + 57 * 64)

typedef struct {
    uint64_t counts[BENCH_HIST_BUCKETS];
    uint64_t n;
} bench_hist_t;

void bench_hist_add(bench_hist_t *h, uint64_t ns);
void bench_hist_merge(bench_hist_t *into, const bench_hist_t *from);
/* The p-th quantile (0 < p <= 1) in nanoseconds: the middle of its bucket; 0 if empty. */
double bench_hist_quantile(const bench_hist_t *h, double p);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* utime + stime of process pid (all its threads) in seconds, from /proc/PID/stat;
 * -1 if it cannot be read (the process is gone, or pid is 0: no server to watch). */
double bench_proc_cpu(pid_t pid);
/* The CPU seconds (user + system) this process has used. */
double bench_self_cpu(void);

/* What one measured point adds up to. */
typedef struct {
    const char *what; /* "conns=1000 depth=8" or "callers=64": the point's coordinates */
    double secs;      /* the measuring window */
    uint64_t calls;   /* completed within it */
    uint64_t errors;
    const bench_hist_t *hist; /* latencies of the calls sent within it */
    double server_cpu;        /* seconds, or < 0: unknown */
    double client_cpu;        /* seconds */
} bench_result_t;

/* Prints the point twice: a sentence for people, then one line for programs,
 * "RESULT key=value ...", which bench/bench_server.erl parses. */
void bench_result_print(const bench_result_t *r);

#endif
