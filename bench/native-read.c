/*
 * Native memory read bandwidth, the ceiling the side-by-side bench (bench/bench.ts --llama-cpp) compares decode
 * against: 1 and 2 threads summing 64-bit words of a buffer far larger than any cache, compiled at bench time
 * with the machine's C compiler (-O3 -march=native, so the loop uses the widest vectors the CPU has, as
 * llama.cpp's native build does). Integer adds, so the compiler may vectorize and reorder without -ffast-math.
 *
 * usage: native-read [MiB=1024] [passes=5]; prints one JSON line { "bytes", "t1", "t2", "t1Passes", "t2Passes" }
 * in GB/s (1e9 bytes/s). 2 threads: each reads one half; a pass is timed from a common start to the later end.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
  const uint64_t *p;
  size_t n;
  uint64_t sum;
  pthread_barrier_t *start;
} Job;

/* 8 independent accumulators: no dependency chain longer than n/8 adds. */
static uint64_t sum(const uint64_t *p, size_t n) {
  uint64_t a[8] = {0};
  for (size_t i = 0; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) a[j] += p[i + j];
  return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

static void *run(void *arg) {
  Job *j = arg;
  pthread_barrier_wait(j->start);
  j->sum = sum(j->p, j->n);
  return NULL;
}

static double pass(const uint64_t *buf, size_t words, int threads, uint64_t *sink) {
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, threads + 1);
  pthread_t tid[2];
  Job job[2];
  size_t part = words / threads;
  for (int t = 0; t < threads; t++) {
    job[t] = (Job){buf + t * part, part, 0, &start};
    pthread_create(&tid[t], NULL, run, &job[t]);
  }
  pthread_barrier_wait(&start);
  double t0 = now();
  for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  double dt = now() - t0;
  for (int t = 0; t < threads; t++) *sink += job[t].sum;
  pthread_barrier_destroy(&start);
  return (double)(part * threads * 8) / dt / 1e9;
}

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
  int passes = argc > 2 ? atoi(argv[2]) : 5;
  if (mib < 1 || passes < 1) {
    fprintf(stderr, "native-read: bad arguments\n");
    return 2;
  }
  size_t words = (mib << 20) / 8 / 16 * 16;
  uint64_t *buf = aligned_alloc(64, words * 8);
  if (!buf) {
    fprintf(stderr, "native-read: cannot allocate %zu MiB\n", mib);
    return 1;
  }
  memset(buf, 0x5a, words * 8); /* touch every page before timing */
  uint64_t sink = 0;
  double best[3] = {0, 0, 0};
  double all[3][64];
  if (passes > 64) passes = 64;
  for (int threads = 1; threads <= 2; threads++) {
    for (int r = 0; r < passes; r++) {
      double g = pass(buf, words, threads, &sink);
      all[threads][r] = g;
      if (g > best[threads]) best[threads] = g;
    }
  }
  printf("{\"bytes\":%zu,\"t1\":%.3f,\"t2\":%.3f,\"t1Passes\":[", words * 8, best[1], best[2]);
  for (int r = 0; r < passes; r++) printf("%s%.3f", r ? "," : "", all[1][r]);
  printf("],\"t2Passes\":[");
  for (int r = 0; r < passes; r++) printf("%s%.3f", r ? "," : "", all[2][r]);
  printf("],\"sink\":%d}\n", (int)(sink & 1));
  free(buf);
  return 0;
}
