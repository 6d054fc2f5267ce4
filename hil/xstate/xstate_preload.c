/* LD_PRELOAD for linux.uml: make UML's short NT_X86_XSTATE buffers work on hosts whose
 * XSAVE area is larger, without losing the guest tasks' extra vector state.
 *
 * UML saves/restores each guest task's FPU state with PTRACE_GETREGSET/SETREGSET
 * NT_X86_XSTATE into a fixed buffer per task (regs->fp). The host kernel accepts a short
 * buffer for GET but refuses a short SET with EFAULT, and UML then panics ("ptrace set
 * fp regs failed, errno = 14"). Here a short GET reads the FULL state into a shadow kept
 * per (host pid, UML buffer address), i.e. per guest task, and hands UML its prefix; a
 * short SET lays UML's bytes over that task's shadow and sets the full buffer. So the
 * state beyond UML's buffer (AVX-512, AMX...) is saved and restored per guest task.
 *
 * Environment (read once):
 *   DUNELOG_XSTATE_MODE  pertask (default, the fix) | shared (the naive fix: the rest of
 *                        the state comes from the host process's current registers at each
 *                        SET, so it leaks between guest threads; for tests) | off (forward)
 *   DUNELOG_XSTATE_CLAMP N: treat UML's buffer as N bytes (emulates a UML with a shorter
 *                        buffer, e.g. 832, on a host where the real one is big enough)
 *   DUNELOG_XSTATE_SLOTS shadow table capacity (default 4096)
 *   DUNELOG_XSTATE_STATS file to append one line of counters to at exit
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

typedef long (*ptrace_fn)(enum __ptrace_request, pid_t, void *, void *);

enum { MODE_PERTASK, MODE_SHARED, MODE_OFF };

struct ent {
    uintptr_t key;   /* UML's buffer address */
    pid_t pid;       /* host process (one per guest mm) */
    int next;        /* hash chain / free list, -1 = end */
    uint64_t used;   /* LRU clock */
    int valid;       /* shadow holds a state read from the kernel */
};

static ptrace_fn real_ptrace;
static int mode = MODE_PERTASK;
static size_t full;            /* host XSAVE size, CPUID(0xD,0).EBX */
static size_t stride;          /* full rounded up to 64 */
static size_t clamp;           /* 0 = no emulation */
static int cap = 4096, nbuckets;
static struct ent *ents;
static int *heads, freelist = -1;
static unsigned char *arena, *scratch;
static uint64_t tick;
static char lock;
static const char *stats_path;
static unsigned long n_short_get, n_short_set, n_pass, n_miss, n_evict, n_reap, n_nomem;

static void spin_lock(void) { while (__atomic_test_and_set(&lock, __ATOMIC_ACQUIRE)) ; }
static void spin_unlock(void) { __atomic_clear(&lock, __ATOMIC_RELEASE); }

__attribute__((constructor)) static void init(void)
{
    unsigned a, b, c, d;
    const char *m = getenv("DUNELOG_XSTATE_MODE"), *s;
    real_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
    if (m && !strcmp(m, "shared")) mode = MODE_SHARED;
    else if (m && !strcmp(m, "off")) mode = MODE_OFF;
    if ((s = getenv("DUNELOG_XSTATE_CLAMP")) && atol(s) > 0) clamp = (size_t)atol(s);
    if ((s = getenv("DUNELOG_XSTATE_SLOTS")) && atoi(s) > 0) cap = atoi(s);
    stats_path = getenv("DUNELOG_XSTATE_STATS");
    if (__get_cpuid_max(0, 0) >= 0xd) {
        __cpuid_count(0xd, 0, a, b, c, d);
        full = b;
    }
    stride = (full + 63) & ~(size_t)63;
}

__attribute__((destructor)) static void fini(void)
{
    char line[256];
    int fd, n;
    if (!stats_path || !(n_short_get | n_short_set | n_pass)) return;
    n = snprintf(line, sizeof line,
                 "pid=%d mode=%d full=%zu clamp=%zu short_get=%lu short_set=%lu passthrough=%lu "
                 "set_miss=%lu evicted=%lu reaped=%lu nomem=%lu\n", (int)getpid(), mode, full,
                 clamp, n_short_get, n_short_set, n_pass, n_miss, n_evict, n_reap, n_nomem);
    if ((fd = open(stats_path, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0) {
        if (write(fd, line, (size_t)n) < 0) { /* nothing to do */ }
        close(fd);
    }
}

/* Table memory comes from mmap, not malloc: this runs inside UML's ptrace paths. The arena
 * is reserved, not committed, so only shadows in use cost memory. */
static int table_init(void)
{
    if (ents) return 0;
    if (scratch == NULL) {
        scratch = mmap(NULL, stride, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (scratch == MAP_FAILED) { scratch = NULL; return -1; }
    }
    if (mode != MODE_PERTASK) return 0;
    for (nbuckets = 1; nbuckets < 2 * cap; nbuckets <<= 1) ;
    size_t meta = (size_t)cap * sizeof *ents + (size_t)nbuckets * sizeof *heads;
    void *p = mmap(NULL, meta, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *q = mmap(NULL, (size_t)cap * stride, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED || q == MAP_FAILED) return -1;
    ents = p;
    heads = (int *)(ents + cap);
    arena = q;
    for (int i = 0; i < nbuckets; i++) heads[i] = -1;
    for (int i = cap - 1; i >= 0; i--) { ents[i].next = freelist; freelist = i; }
    return 0;
}

static unsigned bucket(pid_t pid, uintptr_t key)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull ^ (uint64_t)pid * 0xC2B2AE3D27D4EB4Full;
    return (unsigned)(h >> 32) & (unsigned)(nbuckets - 1);
}

static void unlink_ent(int i)
{
    int *pp = &heads[bucket(ents[i].pid, ents[i].key)];
    while (*pp != i) pp = &ents[*pp].next;
    *pp = ents[i].next;
    ents[i].next = freelist;
    freelist = i;
}

/* Make room: first drop shadows of host processes that are gone (their guest mm died),
 * then the least recently used one. Evicting a live task's shadow only costs that task
 * its extra state at its next SET (it then takes the host process's current state). */
static void make_room(void)
{
    int lru = -1;
    for (int i = 0; i < cap; i++) {
        if (ents[i].pid == 0) continue;
        if (kill(ents[i].pid, 0) < 0 && errno == ESRCH) {
            unlink_ent(i);
            ents[i].pid = 0;
            n_reap++;
        } else if (lru < 0 || ents[i].used < ents[lru].used) {
            lru = i;
        }
    }
    if (freelist < 0 && lru >= 0) {
        unlink_ent(lru);
        ents[lru].pid = 0;
        n_evict++;
    }
}

/* The shadow for (pid, key), created (invalid) if absent and `create`; NULL if none. */
static struct ent *lookup(pid_t pid, uintptr_t key, int create)
{
    unsigned h = bucket(pid, key);
    for (int i = heads[h]; i >= 0; i = ents[i].next)
        if (ents[i].key == key && ents[i].pid == pid) { ents[i].used = ++tick; return &ents[i]; }
    if (!create) return NULL;
    if (freelist < 0) make_room();
    if (freelist < 0) return NULL;
    int i = freelist;
    freelist = ents[i].next;
    ents[i] = (struct ent){ .key = key, .pid = pid, .next = heads[h], .used = ++tick };
    heads[h] = i;
    return &ents[i];
}

static unsigned char *shadow_of(struct ent *e) { return arena + (size_t)(e - ents) * stride; }

static long regset(enum __ptrace_request req, pid_t pid, void *buf, size_t len, size_t *got)
{
    struct iovec v = { buf, len };
    long r = real_ptrace(req, pid, (void *)(uintptr_t)NT_X86_XSTATE, &v);
    if (got) *got = v.iov_len;
    return r;
}

static long xstate(enum __ptrace_request req, pid_t pid, struct iovec *iov)
{
    size_t len = iov->iov_len, got = 0;
    long r;
    if (clamp && len > clamp) len = clamp;
    if (len >= full || full == 0 || mode == MODE_OFF || (mode == MODE_SHARED && req == PTRACE_GETREGSET)) {
        /* nothing to fix (or deliberately not fixing): forward, clamped if emulating */
        n_pass++;
        r = regset(req, pid, iov->iov_base, len, &got);
        if (r == 0) iov->iov_len = got;
        return r;
    }
    spin_lock();
    if (table_init() < 0) { spin_unlock(); errno = ENOMEM; return -1; }
    struct ent *e = mode == MODE_PERTASK ? lookup(pid, (uintptr_t)iov->iov_base, 1) : NULL;
    if (mode == MODE_PERTASK && !e) n_nomem++;
    unsigned char *buf = e ? shadow_of(e) : scratch;
    if (req == PTRACE_GETREGSET) {
        n_short_get++;
        r = regset(PTRACE_GETREGSET, pid, buf, full, &got);
        if (r == 0) {
            if (got > len) got = len;
            memcpy(iov->iov_base, buf, got);
            iov->iov_len = got;
        }
        if (e) e->valid = (r == 0);
    } else {
        n_short_set++;
        r = 0;
        if (!e || !e->valid) {
            /* no saved state for this task (first switch, evicted, or `shared` mode):
             * take the rest from the host process as it is now */
            if (mode == MODE_PERTASK) n_miss++;
            r = regset(PTRACE_GETREGSET, pid, buf, full, NULL);
        }
        if (r == 0) {
            memcpy(buf, iov->iov_base, len);
            r = regset(PTRACE_SETREGSET, pid, buf, full, NULL);
        }
        if (e) e->valid = (r == 0);
    }
    int saved = errno;
    spin_unlock();
    errno = saved;
    return r;
}

/* glibc: long ptrace(enum __ptrace_request, pid_t, void *addr, void *data); it always
 * reads the three arguments, and so do we. */
long ptrace(enum __ptrace_request req, ...)
{
    va_list ap;
    va_start(ap, req);
    pid_t pid = va_arg(ap, pid_t);
    void *addr = va_arg(ap, void *);
    void *data = va_arg(ap, void *);
    va_end(ap);
    if (!real_ptrace) init();
    if ((req == PTRACE_GETREGSET || req == PTRACE_SETREGSET) &&
        (uintptr_t)addr == NT_X86_XSTATE && data != NULL)
        return xstate(req, pid, (struct iovec *)data);
    return real_ptrace(req, pid, addr, data);
}
