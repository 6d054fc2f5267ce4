/* Host-independent check of the short-XSTATE-SETREGSET fix (docs/HIL.md).
 *
 *   setregset_check [short_len=512]   trace a child stopped with known vector values in its
 *                                     registers; GETREGSET NT_X86_XSTATE of short_len bytes,
 *                                     SETREGSET the same bytes back, compare the full state
 *   setregset_check --size            print CPUID(0xD,0).EBX (the host's XSAVE size)
 *
 * The kernel alone refuses a SETREGSET shorter than the full XSAVE size with EFAULT; through
 * xstate_preload.so it must succeed and leave the child's full state as it was.
 * Exit: 0 ok, state intact; 1 ok but state changed; 2 EFAULT (unfixed); 3 other error;
 * 77 no XSAVE.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

static uint64_t pat[32][8] __attribute__((aligned(64)));

/* Child: load pat into ymm0..15 (and zmm0..31 when AVX-512 is on), then stop itself with
 * a raw kill(getpid(), SIGSTOP) so no libc code runs between loading and stopping. */
static void __attribute__((noreturn)) child(int avx512)
{
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) _exit(3);
    if (avx512) {
        __asm__ volatile(
#define LZ(i) "vmovdqu64 " #i "*64(%0), %%zmm" #i "\n"
            LZ(0) LZ(1) LZ(2) LZ(3) LZ(4) LZ(5) LZ(6) LZ(7) LZ(8) LZ(9) LZ(10) LZ(11) LZ(12)
            LZ(13) LZ(14) LZ(15) LZ(16) LZ(17) LZ(18) LZ(19) LZ(20) LZ(21) LZ(22) LZ(23)
            LZ(24) LZ(25) LZ(26) LZ(27) LZ(28) LZ(29) LZ(30) LZ(31)
            "mov $0x7f, %%r8\nkmovq %%r8, %%k1\n"
            "mov $39, %%eax\nsyscall\nmov %%eax, %%edi\nmov $19, %%esi\nmov $62, %%eax\nsyscall\n"
            "mov $60, %%eax\nxor %%edi, %%edi\nsyscall\n"
            :: "r"(pat) : "rax", "rdi", "rsi", "rcx", "r8", "r11", "memory");
    } else {
        __asm__ volatile(
#define LY(i) "vmovdqu " #i "*64(%0), %%ymm" #i "\n"
            LY(0) LY(1) LY(2) LY(3) LY(4) LY(5) LY(6) LY(7) LY(8) LY(9) LY(10) LY(11) LY(12)
            LY(13) LY(14) LY(15)
            "mov $39, %%eax\nsyscall\nmov %%eax, %%edi\nmov $19, %%esi\nmov $62, %%eax\nsyscall\n"
            "mov $60, %%eax\nxor %%edi, %%edi\nsyscall\n"
            :: "r"(pat) : "rax", "rdi", "rsi", "rcx", "r11", "memory");
    }
    _exit(0);
}

static long xs(enum __ptrace_request req, pid_t pid, void *buf, size_t *len)
{
    struct iovec v = { buf, *len };
    long r = ptrace(req, pid, (void *)NT_X86_XSTATE, &v);
    *len = v.iov_len;
    return r;
}

int main(int argc, char **argv)
{
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, 0) < 0xd) { printf("setregset_check: no XSAVE (CPUID leaf 0xD)\n"); return 77; }
    __cpuid_count(0xd, 0, a, b, c, d);
    size_t full = b;
    if (argc > 1 && !strcmp(argv[1], "--size")) { printf("%zu\n", full); return 0; }
    size_t slen = argc > 1 ? strtoul(argv[1], NULL, 0) : 512;
    __cpuid(1, a, b, c, d);
    if (!(c & bit_OSXSAVE) || !(c & bit_AVX)) { printf("setregset_check: no AVX/OSXSAVE\n"); return 77; }
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    __cpuid_count(7, 0, a, b, c, d);
    int avx512 = (b & bit_AVX512F) && (b & bit_AVX512BW) && (lo & 0xe6) == 0xe6;
    for (int r = 0; r < 32; r++)
        for (int l = 0; l < 8; l++)
            pat[r][l] = 0x5A00000000000000ull | (uint64_t)r << 16 | (uint64_t)l << 8 | 0x11;

    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 3; }
    if (pid == 0) child(avx512);
    int st, rc = 3;
    /* first stop: the SIGSTOP the child sent itself after loading the values */
    if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) {
        printf("setregset_check: child did not stop (status %#x)\n", st);
        goto done;
    }
    unsigned char *before = calloc(1, full), *after = calloc(1, full), *shortb = calloc(1, full);
    size_t n1 = full, n2 = slen, n3 = full;
    if (xs(PTRACE_GETREGSET, pid, before, &n1) < 0 || n1 != full) {
        printf("setregset_check: full GETREGSET failed: %s (len %zu)\n", strerror(errno), n1);
        goto done;
    }
    /* the known values are in the state we read (ymm0 low half at 160, upper half at 576) */
    if (memcmp(before + 160, pat[0], 16) || memcmp(before + 576, &pat[0][2], 16)) {
        printf("setregset_check: child's registers do not hold the pattern\n");
        goto done;
    }
    if (xs(PTRACE_GETREGSET, pid, shortb, &n2) < 0) {
        printf("setregset_check: GETREGSET of %zu bytes failed: %s\n", slen, strerror(errno));
        goto done;
    }
    size_t n4 = n2;
    if (xs(PTRACE_SETREGSET, pid, shortb, &n4) < 0) {
        int e = errno;
        printf("setregset_check: SETREGSET of %zu of %zu bytes: %s (%s)\n", n2, full,
               strerror(e), e == EFAULT ? "EFAULT: unfixed" : "error");
        rc = e == EFAULT ? 2 : 3;
        goto done;
    }
    if (xs(PTRACE_GETREGSET, pid, after, &n3) < 0 || n3 != full) {
        printf("setregset_check: full GETREGSET after SET failed: %s\n", strerror(errno));
        goto done;
    }
    size_t i;
    for (i = 0; i < full && before[i] == after[i]; i++) ;
    if (i == full) {
        printf("setregset_check: ok: SETREGSET of %zu of %zu bytes succeeded, full state intact "
               "(%s)\n", n2, full, avx512 ? "zmm0-31, k1 loaded" : "ymm0-15 loaded");
        rc = 0;
    } else {
        printf("setregset_check: SETREGSET of %zu of %zu bytes succeeded but the state changed "
               "(first difference at byte %zu)\n", n2, full, i);
        rc = 1;
    }
done:
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return rc;
}
