/* Cross-thread vector-state test, run inside the (UML) guest.
 *
 *   vecstate [seconds=3] [threads=2]
 *
 * Each thread keeps thread-unique values in AVX-512-only state (the full zmm0..zmm31,
 * so the upper halves of zmm0..15 and zmm16..31, and k0..k7) and adds a thread-unique
 * increment to them in a register-only loop, chunk after chunk, while the threads preempt
 * each other on the guest's one CPU. After each chunk the values must equal start +
 * iterations * increment; a value from another thread (or zeroed state) cannot.
 * Exit 0: intact (one summary line); 1: mixed (names thread, register, lane); 77: no
 * AVX-512 (CPU or OS); 2: usage/setup error.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define NZ 32            /* zmm0..31; zmm15 holds the increment */
#define NK 8             /* k0..7; k0 holds the increment */
#define CHUNK 200000L    /* iterations per register-only block (~1 ms) */

struct state { uint64_t z[NZ][8]; uint64_t k[NK]; } __attribute__((aligned(64)));

/* chunk(struct state *s, long n): load all, n times {zmm_i += zmm15 (i != 15);
 * k_i += k0 (i > 0)}, store all. A plain SysV function: every vector and mask register is
 * caller-saved, so it may use them all; nothing in between calls keeps state in them. */
void chunk(struct state *s, long n);
__asm__(
    ".text\n.globl chunk\n.type chunk,@function\nchunk:\n"
#define LD(i) "vmovdqu64 " #i "*64(%rdi), %zmm" #i "\n"
    LD(0) LD(1) LD(2) LD(3) LD(4) LD(5) LD(6) LD(7) LD(8) LD(9) LD(10) LD(11) LD(12) LD(13)
    LD(14) LD(15) LD(16) LD(17) LD(18) LD(19) LD(20) LD(21) LD(22) LD(23) LD(24) LD(25)
    LD(26) LD(27) LD(28) LD(29) LD(30) LD(31)
#define KL(i) "kmovq 2048+" #i "*8(%rdi), %k" #i "\n"
    KL(0) KL(1) KL(2) KL(3) KL(4) KL(5) KL(6) KL(7)
    "1:\n"
#define AD(i) "vpaddq %zmm15, %zmm" #i ", %zmm" #i "\n"
    AD(0) AD(1) AD(2) AD(3) AD(4) AD(5) AD(6) AD(7) AD(8) AD(9) AD(10) AD(11) AD(12) AD(13)
    AD(14) AD(16) AD(17) AD(18) AD(19) AD(20) AD(21) AD(22) AD(23) AD(24) AD(25) AD(26)
    AD(27) AD(28) AD(29) AD(30) AD(31)
#define KA(i) "kaddq %k0, %k" #i ", %k" #i "\n"
    KA(1) KA(2) KA(3) KA(4) KA(5) KA(6) KA(7)
    "dec %rsi\njnz 1b\n"
#define ST(i) "vmovdqu64 %zmm" #i ", " #i "*64(%rdi)\n"
    ST(0) ST(1) ST(2) ST(3) ST(4) ST(5) ST(6) ST(7) ST(8) ST(9) ST(10) ST(11) ST(12) ST(13)
    ST(14) ST(15) ST(16) ST(17) ST(18) ST(19) ST(20) ST(21) ST(22) ST(23) ST(24) ST(25)
    ST(26) ST(27) ST(28) ST(29) ST(30) ST(31)
#define KS(i) "kmovq %k" #i ", 2048+" #i "*8(%rdi)\n"
    KS(0) KS(1) KS(2) KS(3) KS(4) KS(5) KS(6) KS(7)
    "vzeroupper\nret\n.size chunk,.-chunk\n");

static uint64_t mix(uint64_t x)   /* splitmix64 */
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

struct thr {
    pthread_t t;
    int id;
    struct state s;
    long iters, chunks;
    struct rusage ru;
    char err[256];
};

static double seconds = 3;
static volatile int go;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *run(void *arg)
{
    struct thr *t = arg;
    struct state want;
    for (int r = 0; r < NZ; r++)
        for (int l = 0; l < 8; l++)
            t->s.z[r][l] = mix((uint64_t)t->id << 32 | (uint64_t)r << 8 | (uint64_t)l);
    for (int l = 0; l < 8; l++) t->s.z[15][l] |= 1;   /* odd increments */
    for (int r = 0; r < NK; r++) t->s.k[r] = mix((uint64_t)t->id << 32 | 0x1000 | (uint64_t)r);
    t->s.k[0] |= 1;
    while (!go) sched_yield();                          /* both threads start together */
    double end = now() + seconds;
    do {
        want = t->s;
        chunk(&t->s, CHUNK);
        for (int r = 0; r < NZ; r++)
            for (int l = 0; l < 8; l++)
                if (r != 15) want.z[r][l] += (uint64_t)CHUNK * want.z[15][l];
        for (int r = 1; r < NK; r++) want.k[r] += (uint64_t)CHUNK * want.k[0];
        for (int r = 0; r < NZ; r++)
            for (int l = 0; l < 8; l++)
                if (t->s.z[r][l] != want.z[r][l]) {
                    snprintf(t->err, sizeof t->err, "thread %d register zmm%d lane %d (bits %d-%d) "
                             "after %ld iterations: expected 0x%016llx, got 0x%016llx", t->id, r, l,
                             64 * l, 64 * l + 63, t->iters + CHUNK,
                             (unsigned long long)want.z[r][l], (unsigned long long)t->s.z[r][l]);
                    goto out;
                }
        for (int r = 0; r < NK; r++)
            if (t->s.k[r] != want.k[r]) {
                snprintf(t->err, sizeof t->err, "thread %d register k%d after %ld iterations: "
                         "expected 0x%016llx, got 0x%016llx", t->id, r, t->iters + CHUNK,
                         (unsigned long long)want.k[r], (unsigned long long)t->s.k[r]);
                goto out;
            }
        t->iters += CHUNK;
        t->chunks++;
    } while (now() < end);
out:
    getrusage(RUSAGE_THREAD, &t->ru);
    return NULL;
}

static int have_avx512(char *why, size_t n)
{
    unsigned a, b, c, d;
    __cpuid(1, a, b, c, d);
    if (!(c & bit_OSXSAVE)) return snprintf(why, n, "no OSXSAVE"), 0;
    if (__get_cpuid_max(0, 0) < 7) return snprintf(why, n, "no CPUID leaf 7"), 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (!(b & bit_AVX512F) || !(b & bit_AVX512BW))
        return snprintf(why, n, "CPU has no AVX512F+AVX512BW"), 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xe6) != 0xe6)
        return snprintf(why, n, "OS does not enable AVX-512 state (XCR0=%#x)", lo), 0;
    return 1;
}

int main(int argc, char **argv)
{
    int n = 2;
    char why[128];
    if (argc > 1) seconds = atof(argv[1]);
    if (argc > 2) n = atoi(argv[2]);
    if (seconds <= 0 || n < 1 || n > 64) {
        fprintf(stderr, "usage: vecstate [seconds>0] [threads 1..64]\n");
        return 2;
    }
    if (!have_avx512(why, sizeof why)) {
        printf("vecstate: skipped: %s\n", why);
        return 77;
    }
    struct thr *t = calloc((size_t)n, sizeof *t);
    if (!t) return 2;
    for (int i = 0; i < n; i++) {
        t[i].id = i;
        if (pthread_create(&t[i].t, NULL, run, &t[i])) { perror("pthread_create"); return 2; }
    }
    double t0 = now();
    go = 1;
    for (int i = 0; i < n; i++) pthread_join(t[i].t, NULL);
    double took = now() - t0;
    long iters = 0, nivcsw = 0, nvcsw = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        iters += t[i].iters;
        nivcsw += t[i].ru.ru_nivcsw;
        nvcsw += t[i].ru.ru_nvcsw;
        if (t[i].err[0]) { printf("vecstate: MIXED: %s\n", t[i].err); bad = 1; }
    }
    printf("vecstate: %s threads=%d seconds=%.1f iterations=%ld (", bad ? "FAIL" : "ok", n, took,
           iters);
    for (int i = 0; i < n; i++) printf("%s%ld", i ? "+" : "", t[i].iters);
    printf(") involuntary_switches=%ld voluntary_switches=%ld registers=zmm0-31,k0-7\n",
           nivcsw, nvcsw);
    return bad;
}
