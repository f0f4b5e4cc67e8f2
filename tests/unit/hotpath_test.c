/*
 * hotpath_test.c - the hot path allocates nothing and makes no system call.
 *
 * After warm-up, a child process runs N rounds of the whole hot path -
 * desk_submit, the router's turn (guard, order table, UTA, rings), the
 * venue's answer, desk_poll, desk_quote, desk_account, desk_position - under
 *   - a seccomp filter that allows only write(2) and exit(2) and kills the
 *     child with SIGSYS on any other system call, so "no syscall" is
 *     enforced by the kernel, not assumed (clock_gettime must stay in the
 *     vDSO).  (Strict mode would be simpler, but on some kernels it makes
 *     the vDSO's clock_gettime fault, seen on 6.18: a filter does not.)
 *   - a malloc counter: malloc/calloc/realloc/free are wrapped (glibc's
 *     __libc_* underneath; under ASan the sanitizer's allocator hooks), and
 *     the count must not move during the rounds.
 * The child reports its counts through a pipe with write(2), then leaves
 * with the raw exit syscall (exit_group is not allowed by the filter).
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "testdesk.h"

static volatile uint64_t nalloc; /* allocations seen; only this process */

#ifdef DESK_SANITIZED
/* ASan owns malloc: count through its hooks instead of wrapping it. */
void __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
                                               void (*f)(const volatile void *));
static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    nalloc++;
}
static void on_free(const volatile void *p)
{
    (void)p;
}
static void install_counter(void)
{
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}
#else
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
void *malloc(size_t n)
{
    nalloc++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    nalloc++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    nalloc++;
    return __libc_realloc(p, n);
}
void free(void *p)
{
    __libc_free(p);
}
static void install_counter(void)
{
}
#endif

#define ROUNDS 20000

/* Allow write(2) and exit(2); any other system call kills with SIGSYS. */
static int forbid_syscalls(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = (unsigned short)(sizeof f / sizeof f[0]), .filter = f};

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

struct result {
    uint64_t allocs;   /* allocations during the rounds */
    uint64_t fills;    /* fills seen by the strategy */
    uint64_t quotes;   /* successful quote reads */
    uint64_t rejects;  /* guard rejects seen */
};

/* One round: a crossing IOC buy or sell that fills, a resting buy that is
 * canceled, and a rejected order, each through every hot-path stage. */
static void round_trip(struct testdesk *t, desk_client_t *c, uint64_t i, struct result *r)
{
    desk_event_t ev[16];
    desk_quote_t q;
    desk_account_t a;
    desk_pos_t p;
    uint64_t base = 10 + i * 4;
    int buy = (i & 1) == 0;

    desk_submit_new(c, base, 0, buy ? DESK_BUY : DESK_SELL, DESK_LIMIT, DESK_IOC, TD_QTY(0.001),
                    buy ? t->ask : t->bid, 0);
    desk_submit_new(c, base + 1, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.001), TD_PX(50000),
                    0);
    desk_submit_new(c, base + 2, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, 1, TD_PX(50000), 0);
    for (int k = 0; k < 3; k++) {
        desk_router_poll(t->router, desk_now_ns());
        td_venue_step(t, 64);
    }
    desk_submit_cancel(c, base + 3, base + 1);
    for (int k = 0; k < 3; k++) {
        desk_router_poll(t->router, desk_now_ns());
        td_venue_step(t, 64);
    }
    int n;
    while ((n = desk_poll(c, ev, 16)) > 0)
        for (int k = 0; k < n; k++) {
            r->fills += ev[k].type == DESK_EV_FILL;
            r->rejects += ev[k].type == DESK_EV_REJECT;
        }
    r->quotes += desk_quote(c, 0, &q) == 0;
    desk_account(c, &a);
    desk_position(c, 0, &p);
}

static void test_no_alloc_no_syscall(void **state)
{
    (void)state;
    struct testdesk t;
    desk_client_t *c;
    int pfd[2];

    assert_int_equal(td_open(&t, 1024, 4096, TD_PX(1000000000)), 0);
    desk_router_seed_position(t.router, 0, TD_QTY(100), TD_PX(50000));
    assert_int_equal(desk_attach(&c, t.name, "s"), 0);
    assert_int_equal(pipe(pfd), 0);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct result r = {0};
        install_counter();
        /* Warm up: first touches of pages, lazy symbol binding, TLS. */
        for (uint64_t i = 0; i < 200; i++)
            round_trip(&t, c, i, &r);
        memset(&r, 0, sizeof r);
        uint64_t before = nalloc;
        if (forbid_syscalls() != 0)
            _exit(3);
        for (uint64_t i = 200; i < 200 + ROUNDS; i++)
            round_trip(&t, c, i, &r);
        r.allocs = nalloc - before;
        if (write(pfd[1], &r, sizeof r) != (ssize_t)sizeof r)
            syscall(SYS_exit, 4);
        syscall(SYS_exit, 0);
    }
    close(pfd[1]);
    struct result r = {0};
    ssize_t got = read(pfd[0], &r, sizeof r);
    int status = 0;
    waitpid(pid, &status, 0);
    close(pfd[0]);
    if (WIFSIGNALED(status))
        fail_msg("hot path child killed by signal %d%s", WTERMSIG(status),
                 WTERMSIG(status) == SIGSYS ? " (seccomp: a system call was made)" : "");
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(got, (ssize_t)sizeof r);
    printf("hot path: %d rounds, %llu fills, %llu rejects, %llu quote reads, %llu allocations\n",
           ROUNDS, (unsigned long long)r.fills, (unsigned long long)r.rejects,
           (unsigned long long)r.quotes, (unsigned long long)r.allocs);
    /* The rounds really ran the paths under test. */
    assert_true(r.fills == ROUNDS);
    assert_true(r.rejects == ROUNDS);
    assert_true(r.quotes == ROUNDS);
    assert_true(r.allocs == 0);
    desk_detach(c);
    td_close(&t);
}

/* The filter itself works: a system call under it kills the child. */
static void test_filter_catches_syscall(void **state)
{
    (void)state;
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (forbid_syscalls() != 0)
            _exit(3);
        (void)getppid(); /* any syscall but write/exit */
        syscall(SYS_exit, 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* The counter itself works: an allocation is seen. */
static void test_counter_counts(void **state)
{
    (void)state;
    install_counter();
    uint64_t before = nalloc;
    void *volatile p = malloc(64);
    free(p);
    assert_true(nalloc > before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_counts),
        cmocka_unit_test(test_filter_catches_syscall),
        cmocka_unit_test(test_no_alloc_no_syscall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
