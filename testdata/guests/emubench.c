/* emubench: a small static i386 program that times the events a PC emulator finds hard
 * (system calls, page faults, context switches, fork) and three guest-MIPS loops (integer,
 * CRC32, x87) plus a 1 MiB copy. The same binary runs natively, in QEMU and in emu
 * (scripts/guest-bench.sh), so the figures are comparable.
 *
 * Build: gcc -m32 -static -O2 -o emubench emubench.c
 * Usage: emubench [SCALE [ROW...]]   SCALE multiplies every iteration count (default 1,
 *        sized for ~0.2-1 s per row in an emulator); ROWs pick rows by key.
 *
 * Output, one line per row (machine-readable, space separated):
 *   EMUBENCH-MARK <key>                         just before the timed part starts
 *   EMUBENCH <key> <unit> <value> n=<events> secs=<elapsed> insns=<count> check=<hex>
 * then EMUBENCH-DONE. The MARK line lets a host time a row from outside (emu's guest clock
 * follows retired instructions, not wall time). `check` depends only on the program, never
 * on SCALE or speed, so a guest's checks must equal the native ones. A failed self-check
 * prints EMUBENCH-ERROR <key> <what> and makes the exit status 1.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double scale = 1.0;
static int errors;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Iteration count for a row: base * SCALE, at least 1 (the asm loops need n >= 1). */
static uint32_t count(uint32_t base)
{
    double n = base * scale + 0.5;
    if (n < 1)
        return 1;
    if (n > 2e9)
        return 2000000000u;
    return (uint32_t)n;
}

static void error(const char *key, const char *what, unsigned long long got)
{
    printf("EMUBENCH-ERROR %s %s (0x%llx)\n", key, what, got);
    fflush(stdout);
    errors++;
}

/* Printed and flushed right before t0, so a host watching the console can time the row. */
static uint64_t mark(const char *key)
{
    printf("EMUBENCH-MARK %s\n", key);
    fflush(stdout);
    return now_ns();
}

/* dt: the row's elapsed ns (callers pass now_ns() - t0 and compute nothing else in the
 * argument list: the order C evaluates arguments in is unspecified). value: ns and us are per
 * event; MIPS is insns / elapsed time. */
static void report(const char *key, const char *unit, uint64_t dt, uint32_t n, uint64_t insns,
                   unsigned long long check)
{
    double v;
    if (!strcmp(unit, "MIPS"))
        v = dt ? (double)insns * 1e3 / (double)dt : 0;
    else if (!strcmp(unit, "us"))
        v = (double)dt / 1e3 / n;
    else
        v = (double)dt / n;
    printf("EMUBENCH %s %s %.1f n=%u secs=%.6f insns=%llu check=%llx\n", key, unit, v, n,
           dt / 1e9, (unsigned long long)insns, check);
    fflush(stdout);
}

/* ---- getppid through the legacy int 0x80 gate (no vDSO, no sysenter) ---- */

static inline int getppid_int80(void)
{
    int r;
    __asm__ volatile("int $0x80" : "=a"(r) : "0"(64) /* __NR_getppid */ : "memory");
    return r;
}

static void row_getppid(void)
{
    const char *key = "getppid_int80";
    uint32_t n = count(100000), bad = 0;
    int want = getppid();
    for (uint32_t i = 0; i < n / 20 + 1; i++)
        getppid_int80();
    uint64_t t0 = mark(key);
    for (uint32_t i = 0; i < n; i++)
        bad += getppid_int80() != want;
    report(key, "ns", now_ns() - t0, n, 0, bad);
    if (bad)
        error(key, "int 0x80 getppid disagreed with getppid()", bad);
}

/* ---- page faults: map fresh anonymous pages, write each once, unmap ---- */

#define PF_PAGES 64 /* per mmap: large enough that mmap/munmap cost is spread thin */

static uint32_t pf_chunk(void)
{
    volatile uint8_t *p = mmap(0, PF_PAGES * 4096, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t bad = 0;
    if (p == MAP_FAILED)
        return PF_PAGES;
    for (uint32_t i = 0; i < PF_PAGES; i++)
        p[i * 4096 + 8] = (uint8_t)(i + 1); /* the write faults the page in */
    /* Each page must be fresh zeroes except for the byte just written. */
    for (uint32_t i = 0; i < PF_PAGES; i++)
        bad += p[i * 4096 + 8] != (uint8_t)(i + 1) || p[i * 4096 + 4000] != 0;
    munmap((void *)p, PF_PAGES * 4096);
    return bad;
}

static void row_page_fault(void)
{
    const char *key = "page_fault";
    uint32_t chunks = count(160), bad = 0;
    for (uint32_t i = 0; i < chunks / 20 + 1; i++)
        pf_chunk();
    uint64_t t0 = mark(key);
    for (uint32_t i = 0; i < chunks; i++)
        bad += pf_chunk();
    report(key, "ns", now_ns() - t0, chunks * PF_PAGES, 0, bad);
    if (bad)
        error(key, "fresh anonymous pages held wrong bytes", bad);
}

/* ---- pipe ping-pong: the child answers each byte with byte + 1 ---- */

static void row_pipe(void)
{
    const char *key = "pipe_roundtrip";
    uint32_t n = count(2000), warm = n / 20 + 1, bad = 0;
    int to_child[2], to_parent[2];
    if (pipe(to_child) || pipe(to_parent)) {
        error(key, "pipe failed", 0);
        return;
    }
    fflush(stdout); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        error(key, "fork failed", 0);
        return;
    }
    if (pid == 0) {
        uint8_t b;
        close(to_child[1]);
        close(to_parent[0]);
        while (read(to_child[0], &b, 1) == 1) {
            b++;
            if (write(to_parent[1], &b, 1) != 1)
                break;
        }
        _exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    uint64_t t0 = 0;
    for (uint32_t i = 0; i < warm + n; i++) {
        uint8_t b = (uint8_t)i, r = 0;
        if (i == warm)
            t0 = mark(key);
        if (write(to_child[1], &b, 1) != 1 || read(to_parent[0], &r, 1) != 1) {
            bad += 1000000;
            break;
        }
        bad += r != (uint8_t)(b + 1);
    }
    if (!t0)
        t0 = mark(key);
    report(key, "ns", now_ns() - t0, n, 0, bad);
    close(to_child[1]);
    close(to_parent[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        bad++;
    if (bad)
        error(key, "ping-pong answers or child exit were wrong", bad);
}

/* ---- fork + _exit + waitpid; the exit status travels back as a check ---- */

static uint32_t fork_one(uint32_t i)
{
    pid_t pid = fork();
    int st;
    if (pid == 0)
        _exit(i & 0x7f);
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return 1;
    return !WIFEXITED(st) || WEXITSTATUS(st) != (int)(i & 0x7f);
}

static void row_fork(void)
{
    const char *key = "fork_exit_wait";
    uint32_t n = count(200), bad = 0;
    fflush(stdout);
    for (uint32_t i = 0; i < n / 20 + 1; i++)
        fork_one(i);
    uint64_t t0 = mark(key);
    for (uint32_t i = 0; i < n; i++)
        bad += fork_one(i);
    report(key, "ns", now_ns() - t0, n, 0, bad);
    if (bad)
        error(key, "a child's exit status was lost", bad);
}

/* ---- integer loop: 16 instructions per iteration, no data-dependent branches ---- */

#define INT_INSNS 16

static uint32_t int_loop(uint32_t n)
{
    uint32_t a = 0x12345678, b = 0x9abcdef0, s = 0x0f1e2d3c, d = 0x55aa55aa, t;
    __asm__ volatile("1:\n\t"
                     "lea 3(%[a],%[b],2), %[t]\n\t"
                     "add %[t], %[s]\n\t"
                     "xor %[s], %[a]\n\t"
                     "rol $5, %[a]\n\t"
                     "sub %[a], %[d]\n\t"
                     "mov %[d], %[b]\n\t"
                     "shr $3, %[b]\n\t"
                     "and $0xffff, %[t]\n\t"
                     "or %[t], %[b]\n\t"
                     "imul %[b], %[t]\n\t"
                     "cmp %[t], %[s]\n\t"
                     "adc $0, %[a]\n\t" /* consumes CF: lazy flags must be right */
                     "not %[t]\n\t"
                     "add %[t], %[d]\n\t"
                     "dec %[n]\n\t"
                     "jnz 1b"
                     : [a] "+r"(a), [b] "+r"(b), [s] "+r"(s), [d] "+r"(d), [t] "=&r"(t),
                       [n] "+r"(n)
                     :
                     : "cc");
    return a ^ b ^ s ^ d;
}

static void row_int(void)
{
    const char *key = "int_loop";
    uint32_t n = count(4000000);
    uint32_t check = int_loop(4096); /* fixed length: independent of SCALE */
    int_loop(n / 20 + 1);
    uint64_t t0 = mark(key);
    int_loop(n);
    report(key, "MIPS", now_ns() - t0, n, (uint64_t)n * INT_INSNS, check);
}

/* ---- CRC-32 (IEEE, table driven as zlib's slow path): 8 instructions per byte. MIPS counts
 * the loop's instructions only; the C call around each 64 KiB pass adds about a dozen more
 * (0.003%). ---- */

#define CRC_LEN 65536
#define CRC_INSNS 8

static uint32_t crc_table[256];
static uint8_t crc_buf[CRC_LEN];

static uint32_t crc32_asm(uint32_t crc, const uint8_t *p, uint32_t len)
{
    uint32_t t;
    __asm__ volatile("1:\n\t"
                     "movzbl (%[p]), %[t]\n\t"
                     "xor %[crc], %[t]\n\t"
                     "movzbl %b[t], %[t]\n\t"
                     "shr $8, %[crc]\n\t"
                     "xor (%[tab],%[t],4), %[crc]\n\t"
                     "inc %[p]\n\t"
                     "dec %[n]\n\t"
                     "jnz 1b"
                     : [crc] "+r"(crc), [p] "+r"(p), [n] "+r"(len), [t] "=&q"(t)
                     : [tab] "r"(crc_table)
                     : "cc", "memory");
    return crc;
}

/* Bit at a time, in C: an independent reference for the asm loop. */
static uint32_t crc32_bitwise(const uint8_t *p, uint32_t len)
{
    uint32_t crc = ~0u;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
    }
    return ~crc;
}

static uint32_t crc32_buf(const uint8_t *p, uint32_t len)
{
    return ~crc32_asm(~0u, p, len);
}

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & -(c & 1));
        crc_table[i] = c;
    }
    uint32_t x = 2463534242u; /* xorshift32: arbitrary but fixed contents */
    for (uint32_t i = 0; i < CRC_LEN; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        crc_buf[i] = (uint8_t)x;
    }
}

static void row_crc(void)
{
    const char *key = "crc32_loop";
    uint32_t n = count(100), check = crc32_buf(crc_buf, CRC_LEN);
    uint32_t known = crc32_buf((const uint8_t *)"123456789", 9);
    if (known != 0xCBF43926u)
        error(key, "CRC-32 of \"123456789\" is not cbf43926", known);
    if (check != crc32_bitwise(crc_buf, CRC_LEN))
        error(key, "table and bitwise CRC-32 disagree", check);
    for (uint32_t i = 0; i < n / 20 + 1; i++)
        crc32_buf(crc_buf, CRC_LEN);
    uint64_t t0 = mark(key);
    uint32_t bad = 0;
    for (uint32_t i = 0; i < n; i++)
        bad += crc32_buf(crc_buf, CRC_LEN) != check;
    report(key, "MIPS", now_ns() - t0, n, (uint64_t)n * CRC_LEN * CRC_INSNS, check);
    if (bad)
        error(key, "a pass gave a different CRC", bad);
}

/* ---- x87: x = (x*1.25 + 0.5) / 2, then (x + sqrt(x*x)) / 2, stored as a double each
 * iteration. It converges to 2/3 and stays a normal number (no denormal slow paths).
 * 12 instructions per iteration, 10 of them x87. ---- */

#define X87_INSNS 12

static double x87_loop(uint32_t n)
{
    static const double a = 1.25, b = 0.5, c = 2.0, h = 0.5;
    double x = 0.1;
    __asm__ volatile("1:\n\t"
                     "fldl %[x]\n\t"
                     "fmull %[a]\n\t"
                     "faddl %[b]\n\t"
                     "fdivl %[c]\n\t"
                     "fld %%st(0)\n\t"
                     "fmul %%st(0), %%st\n\t"
                     "fsqrt\n\t"
                     "faddp\n\t"
                     "fmull %[h]\n\t"
                     "fstpl %[x]\n\t"
                     "dec %[n]\n\t"
                     "jnz 1b"
                     : [x] "+m"(x), [n] "+r"(n)
                     : [a] "m"(a), [b] "m"(b), [c] "m"(c), [h] "m"(h)
                     : "cc", "st", "st(1)");
    return x;
}

static void row_x87(void)
{
    const char *key = "x87_loop";
    uint32_t n = count(1000000);
    double r = x87_loop(4096);
    unsigned long long check;
    memcpy(&check, &r, sizeof check);
    if (!(r > 0.66 && r < 0.67))
        error(key, "the loop did not converge to 2/3", check);
    x87_loop(n / 20 + 1);
    uint64_t t0 = mark(key);
    x87_loop(n);
    report(key, "MIPS", now_ns() - t0, n, (uint64_t)n * X87_INSNS, check);
}

/* ---- 1 MiB copy, one dword per iteration with plain movs (no rep movs) ---- */

#define COPY_BYTES (1u << 20)

static void copy_mov(uint32_t *dst, const uint32_t *src, uint32_t words)
{
    uint32_t t;
    __asm__ volatile("1:\n\t"
                     "mov (%[s]), %[t]\n\t"
                     "mov %[t], (%[d])\n\t"
                     "add $4, %[s]\n\t"
                     "add $4, %[d]\n\t"
                     "dec %[n]\n\t"
                     "jnz 1b"
                     : [s] "+r"(src), [d] "+r"(dst), [n] "+r"(words), [t] "=&r"(t)
                     :
                     : "cc", "memory");
}

static void row_copy(void)
{
    const char *key = "copy_1mib";
    uint32_t n = count(30);
    uint32_t *src = malloc(COPY_BYTES), *dst = malloc(COPY_BYTES);
    if (!src || !dst) {
        error(key, "malloc failed", 0);
        return;
    }
    for (uint32_t i = 0; i < COPY_BYTES / 4; i++)
        src[i] = i * 2654435761u;
    memset(dst, 0, COPY_BYTES);
    copy_mov(dst, src, COPY_BYTES / 4); /* warm-up: caches and TLB */
    uint32_t check = crc32_buf((const uint8_t *)dst, COPY_BYTES);
    memset(dst, 0, COPY_BYTES); /* so the memcmp below sees the timed copies' work */
    uint64_t t0 = mark(key);
    for (uint32_t i = 0; i < n; i++)
        copy_mov(dst, src, COPY_BYTES / 4);
    report(key, "us", now_ns() - t0, n, (uint64_t)n * (COPY_BYTES / 4) * 6, check);
    if (memcmp(dst, src, COPY_BYTES))
        error(key, "the copy differs from its source", 0);
    free(src);
    free(dst);
}

static const struct {
    const char *key;
    void (*run)(void);
} rows[] = {
    {"getppid_int80", row_getppid}, {"page_fault", row_page_fault},
    {"pipe_roundtrip", row_pipe},   {"fork_exit_wait", row_fork},
    {"int_loop", row_int},          {"crc32_loop", row_crc},
    {"x87_loop", row_x87},          {"copy_1mib", row_copy},
};

int main(int argc, char **argv)
{
    const int nrows = sizeof rows / sizeof rows[0];
    if (argc > 1) {
        char *end;
        scale = strtod(argv[1], &end);
        if (*end || !(scale > 0)) {
            fprintf(stderr, "usage: emubench [SCALE [ROW...]]  (SCALE > 0)\n");
            return 2;
        }
    }
    for (int a = 2; a < argc; a++) {
        int found = 0;
        for (int i = 0; i < nrows; i++)
            found |= !strcmp(argv[a], rows[i].key);
        if (!found) {
            fprintf(stderr, "emubench: unknown row %s\n", argv[a]);
            return 2;
        }
    }
    struct timespec res;
    clock_getres(CLOCK_MONOTONIC, &res);
    crc_init();
    printf("EMUBENCH-BEGIN scale=%g clock_res_ns=%ld\n", scale, res.tv_nsec);
    fflush(stdout);
    for (int i = 0; i < nrows; i++) {
        int wanted = argc <= 2;
        for (int a = 2; a < argc; a++)
            wanted |= !strcmp(argv[a], rows[i].key);
        if (wanted)
            rows[i].run();
    }
    printf("EMUBENCH-DONE\n");
    fflush(stdout);
    return errors ? 1 : 0;
}
