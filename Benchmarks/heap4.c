/* The reference for `simctl bench`: a plain C 4-ary min-heap of timers running the same
 * synthetic load as KernelBench.runTimers: 64 processes, each event reschedules its process
 * 1 ms + [0, 9 ms) later (the same xoshiro256** draws, so both handle the same events: the checksums agree), until N events were handled. No lifecycle
 * checks, no trace hash, no cancellation: the floor a simulation kernel's queue is measured
 * against. Built by `simctl bench` with `cc -O2`; prints "events seconds checksum". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct { int64_t t; uint64_t seq; uint32_t target; } ev;

static ev *heap;
static size_t n;

static int less(const ev *a, const ev *b) { return a->t < b->t || (a->t == b->t && a->seq < b->seq); }

static void push(ev e) {
    size_t i = n++;
    while (i > 0) {
        size_t p = (i - 1) / 4;
        if (!less(&e, &heap[p])) break;
        heap[i] = heap[p];
        i = p;
    }
    heap[i] = e;
}

static ev pop(void) {
    ev top = heap[0], last = heap[--n];
    size_t i = 0;
    for (;;) {
        size_t c = 4 * i + 1, best = c;
        if (c >= n) break;
        for (size_t k = c + 1; k < c + 4 && k < n; k++) if (less(&heap[k], &heap[best])) best = k;
        if (!less(&heap[best], &last)) break;
        heap[i] = heap[best];
        i = best;
    }
    if (n > 0) heap[i] = last;
    return top;
}

/* xoshiro256** as SimCore.Rng uses, seeded by splitmix64. */
static uint64_t s[4];
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t next(void) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return r;
}
static void seed(uint64_t x) {
    for (int i = 0; i < 4; i++) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ULL);  /* splitmix64 */
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL; z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        s[i] = z ^ (z >> 31);
    }
}
/* Lemire's unbiased bounded draw, as SimCore.Rng.below. */
static uint64_t below(uint64_t b) {
    __uint128_t m = (__uint128_t)next() * b;
    if ((uint64_t)m < b) {
        uint64_t threshold = (0 - b) % b;
        while ((uint64_t)m < threshold) m = (__uint128_t)next() * b;
    }
    return (uint64_t)(m >> 64);
}

int main(int argc, char **argv) {
    uint64_t events = argc > 1 ? strtoull(argv[1], 0, 10) : 20000000ULL;
    const uint32_t procs = 64;
    const int64_t ms = 1000000;
    heap = malloc(sizeof(ev) * 4096);
    seed(3);
    uint64_t seq = 0, sum = 0;
    for (uint32_t p = 0; p < procs; p++) push((ev){ (int64_t)below(10 * ms), seq++, p });
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (uint64_t k = 0; k < events; k++) {
        ev e = pop();
        sum += e.target + (uint64_t)e.t;
        push((ev){ e.t + ms + (int64_t)below(9 * ms), seq++, e.target });
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%llu %.6f %llx\n", (unsigned long long)events, secs, (unsigned long long)sum);
    return 0;
}
