/*
 * shm_test.c - desk's shared-memory segments (ring/shm.h): names, layout,
 * create, attach (and what it refuses), ownership and mode, unlink.
 *
 * Every test uses desk names unique to this process ("lt<pid>n<k>") and a
 * teardown that unlinks whatever the test may have created, also when an
 * assertion failed half-way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "ring/shm.h"

/* ---- per-test names and cleanup ------------------------------------------- */

static char desk_name[DESK_NAME_MAX]; /* this test's desk */
static const char *const strat_names[] = {"s1", "s2", "alpha.v2"};
static int name_counter;

static int setup(void **state)
{
    (void)state;
    snprintf(desk_name, sizeof desk_name, "lt%dn%d", (int)getpid(), name_counter++);
    desk_errclear();
    return 0;
}

/* Unlink everything a test may have left; errors (ENOENT) are expected. */
static int teardown(void **state)
{
    (void)state;
    desk_shm_unlink_main(desk_name);
    for (size_t i = 0; i < sizeof strat_names / sizeof strat_names[0]; i++)
        desk_shm_unlink_strat(desk_name, strat_names[i]);
    return 0;
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* Fail unless desk_errmsg() contains `word`. */
static void expect_msg(const char *word)
{
    if (strstr(desk_errmsg(), word) == NULL)
        fail_msg("message '%s' does not mention '%s'", desk_errmsg(), word);
}

static int shm_exists(const char *name)
{
    char path[256];
    struct stat st;

    snprintf(path, sizeof path, "/dev/shm%s", name);
    return stat(path, &st) == 0;
}

static void shm_stat(const char *name, struct stat *st)
{
    char path[256];

    snprintf(path, sizeof path, "/dev/shm%s", name);
    if (stat(path, st) != 0)
        fail_msg("stat(%s): %s", path, strerror(errno));
}

/* ---- names ----------------------------------------------------------------- */

static void test_names(void **state)
{
    char buf[128];

    (void)state;
    assert_int_equal(desk_shm_main_name(buf, sizeof buf, "abc"), 9);
    assert_string_equal(buf, "/desk.abc");
    assert_int_equal(desk_shm_strat_name(buf, sizeof buf, "abc", "s1"), 12);
    assert_string_equal(buf, "/desk.abc.s1");
    assert_int_equal(desk_shm_strat_name(buf, sizeof buf, "abc", "mm.v2"), 15);
    assert_string_equal(buf, "/desk.abc.mm.v2");

    /* Empty, NULL, '/' anywhere: -EINVAL with a message. */
    assert_int_equal(desk_shm_main_name(buf, sizeof buf, ""), -EINVAL);
    expect_msg("empty");
    assert_int_equal(desk_shm_main_name(buf, sizeof buf, NULL), -EINVAL);
    assert_int_equal(desk_shm_main_name(buf, sizeof buf, "a/b"), -EINVAL);
    expect_msg("'/'");
    assert_int_equal(desk_shm_main_name(buf, sizeof buf, "/abc"), -EINVAL);
    assert_int_equal(desk_shm_strat_name(buf, sizeof buf, "abc", ""), -EINVAL);
    assert_int_equal(desk_shm_strat_name(buf, sizeof buf, "", "s1"), -EINVAL);
    assert_int_equal(desk_shm_strat_name(buf, sizeof buf, "abc", "s/1"), -EINVAL);
    assert_int_equal(desk_shm_strat_name(buf, sizeof buf, "a/c", "s1"), -EINVAL);
    /* A desk name may not hold '.': "/desk.a.b" would be ambiguous. */
    assert_int_equal(desk_shm_main_name(buf, sizeof buf, "a.b"), -EINVAL);
    expect_msg("'.'");
    assert_int_equal(desk_shm_strat_name(buf, sizeof buf, "a.b", "s1"), -EINVAL);

    /* Names up to DESK_NAME_MAX - 1 bytes fit the headers; longer do not. */
    char longest[DESK_NAME_MAX], too_long[DESK_NAME_MAX + 1];
    memset(longest, 'd', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    memset(too_long, 'd', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    assert_int_equal(desk_shm_main_name(buf, sizeof buf, longest), 6 + DESK_NAME_MAX - 1);
    assert_int_equal(desk_shm_strat_name(buf, sizeof buf, longest, longest),
                     7 + 2 * (DESK_NAME_MAX - 1));
    assert_int_equal(desk_shm_main_name(buf, sizeof buf, too_long), -ENAMETOOLONG);
    assert_int_equal(desk_shm_strat_name(buf, sizeof buf, "abc", too_long), -ENAMETOOLONG);

    /* The buffer: exactly the length plus its NUL is enough, one less is not. */
    assert_int_equal(desk_shm_main_name(buf, 10, "abc"), 9);
    assert_int_equal(desk_shm_main_name(buf, 9, "abc"), -ENAMETOOLONG);
    expect_msg("does not fit");
    assert_int_equal(desk_shm_strat_name(buf, 13, "abc", "s1"), 12);
    assert_int_equal(desk_shm_strat_name(buf, 12, "abc", "s1"), -ENAMETOOLONG);
}

/* ---- layout ---------------------------------------------------------------- */

static void test_layout(void **state)
{
    static const uint32_t counts[][3] = {{0, 0, 0}, {1, 1, 1}, {3, 2, 5}, {256, 16, 32}};

    (void)state;
    uint32_t hash = desk_shm_layout_hash();
    assert_int_equal(hash, desk_shm_layout_hash()); /* pure */
    assert_int_not_equal(hash, 0);
    assert_int_not_equal(hash, 2166136261u); /* something was hashed */

    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        struct desk_main_hdr h;
        uint32_t ni = counts[c][0], nc = counts[c][1], ns = counts[c][2];

        memset(&h, 0, sizeof h);
        desk_shm_main_layout(&h, ni, nc, ns);
        assert_int_equal(h.ninstruments, ni);
        assert_int_equal(h.nconnectors, nc);
        assert_int_equal(h.nstrategies, ns);
        /* Each region: 128-byte aligned, after the previous one, big enough. */
        const uint64_t off[] = {h.off_instruments, h.off_quotes,  h.off_uta,
                                h.off_connectors,  h.off_strategies, h.off_stats,
                                h.off_orders,      h.off_recon,       h.total_size};
        const uint64_t need[] = {
            (uint64_t)ni * sizeof(desk_instrument_t), (uint64_t)ni * sizeof(struct desk_quote_slot),
            sizeof(struct desk_uta_shm),              (uint64_t)nc * sizeof(struct desk_conn_shm),
            (uint64_t)ns * sizeof(struct desk_strat_shm), sizeof(struct desk_stats_shm),
            sizeof(struct desk_orders_shm),           sizeof(struct desk_recon_shm)};
        assert_true(h.off_instruments >= sizeof h);
        for (size_t i = 0; i < 9; i++)
            assert_int_equal(off[i] % 128, 0);
        for (size_t i = 0; i < 8; i++) {
            assert_true(off[i + 1] >= off[i] + need[i]);
            assert_true(off[i + 1] < off[i] + need[i] + 128); /* no gap beyond padding */
        }
    }
}

/* ---- main segment ----------------------------------------------------------- */

/* 1 if the mapping that holds `p` is read-only shared in /proc/self/maps. */
static int mapping_perms(const void *p, char perms[5])
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char pr[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, pr) == 3 && (uintptr_t)p >= lo &&
            (uintptr_t)p < hi) {
            memcpy(perms, pr, 5);
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

static void segv_exit(int sig)
{
    (void)sig;
    _exit(42);
}

static void test_main_create_attach(void **state)
{
    struct desk_main_hdr *w = NULL;
    const struct desk_main_hdr *r = NULL;
    size_t wlen = 0, rlen = 0;
    char name[128];
    struct stat st;

    (void)state;
    desk_shm_main_name(name, sizeof name, desk_name);
    uint64_t wall0 = desk_wall_ns(), mono0 = desk_now_ns();
    mode_t old = umask(077); /* create must set the mode despite the umask */
    int rc = desk_shm_main_create(desk_name, 3, 2, 4, 0644, &w, &wlen);
    umask(old);
    if (rc != 0)
        fail_msg("create: %d %s", rc, desk_errmsg());
    assert_non_null(w);
    shm_stat(name, &st);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal((uint64_t)st.st_size, wlen);

    /* Header as written. */
    assert_true(__atomic_load_n(&w->magic, __ATOMIC_ACQUIRE) == DESK_MAIN_MAGIC);
    assert_int_equal(w->abi_version, DESK_ABI_VERSION);
    assert_int_equal(w->layout_hash, desk_shm_layout_hash());
    assert_string_equal(w->name, desk_name);
    assert_int_equal(w->router_pid, getpid());
    assert_int_equal(w->ninstruments, 3);
    assert_int_equal(w->nconnectors, 2);
    assert_int_equal(w->nstrategies, 4);
    assert_true(w->start_wall_ns >= wall0 && w->start_wall_ns <= desk_wall_ns());
    assert_true(w->start_mono_ns >= mono0 && w->start_mono_ns <= desk_now_ns());
    assert_int_equal(w->total_size, wlen);
    struct desk_main_hdr lay;
    memset(&lay, 0, sizeof lay);
    desk_shm_main_layout(&lay, 3, 2, 4);
    assert_int_equal(w->off_quotes, lay.off_quotes);
    assert_int_equal(w->off_orders, lay.off_orders);
    assert_int_equal(w->total_size, lay.total_size);
    /* Everything past the header is zero (a fresh object). */
    const unsigned char *b = (const unsigned char *)w;
    for (size_t i = w->off_instruments; i < wlen; i++)
        if (b[i] != 0)
            fail_msg("byte %zu of a new segment is %u", i, b[i]);
    /* The typed views point inside the segment. */
    assert_ptr_equal(desk_shm_orders(w), (const char *)w + lay.off_orders);
    assert_ptr_equal(desk_shm_quotes(w), (const char *)w + lay.off_quotes);

    /* Attach: same object, read-only. */
    rc = desk_shm_main_attach(desk_name, &r, &rlen);
    if (rc != 0)
        fail_msg("attach: %d %s", rc, desk_errmsg());
    assert_int_equal(rlen, wlen);
    assert_true(r != w);
    assert_memory_equal(r, w, sizeof *w);
    atomic_store_explicit(&w->heartbeat_ns, 12345, memory_order_relaxed);
    desk_shm_quotes(w)[2].q.bid_px = 777;
    assert_int_equal(atomic_load_explicit(&r->heartbeat_ns, memory_order_relaxed), 12345);
    assert_int_equal(desk_shm_quotes((struct desk_main_hdr *)(uintptr_t)r)[2].q.bid_px, 777);

    /* Read-only, seen by the kernel's page tables ... */
    char perms[5] = "";
    assert_true(mapping_perms(r, perms));
    if (strcmp(perms, "r--s") != 0)
        fail_msg("attach mapping has permissions %s, expected r--s", perms);
    assert_true(mapping_perms(w, perms));
    assert_string_equal(perms, "rw-s");
    /* ... and by a write: a child that tries it dies of SIGSEGV. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = segv_exit;
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        *(volatile uint32_t *)(uintptr_t)&r->nstrategies = 99;
        _exit(0); /* the write went through: the mapping is writable */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    int faulted = (WIFEXITED(status) && WEXITSTATUS(status) == 42) ||
                  (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
#ifdef DESK_SANITIZED
    faulted |= WIFEXITED(status) && WEXITSTATUS(status) != 0; /* ASan's SEGV report */
#endif
    if (!faulted)
        fail_msg("a write through the attach mapping did not fault (status 0x%x)", status);
    assert_int_equal(w->nstrategies, 4);

    desk_shm_unmap(r, rlen);
    desk_shm_unmap(w, wlen);
    assert_int_equal(desk_shm_unlink_main(desk_name), 0);
    assert_false(shm_exists(name));
}

/* Corrupt one header field, expect attach to fail with -EPROTO naming it. */
static void expect_proto(const char *field, const char *expected, const char *found)
{
    const struct desk_main_hdr *r = NULL;
    size_t rlen = 0;

    desk_errclear();
    assert_int_equal(desk_shm_main_attach(desk_name, &r, &rlen), -EPROTO);
    assert_null(r);
    expect_msg(field);
    expect_msg(expected);
    expect_msg(found);
}

static void test_main_attach_errors(void **state)
{
    struct desk_main_hdr *w = NULL;
    const struct desk_main_hdr *r = NULL;
    size_t wlen = 0, rlen = 0;
    char buf[64];

    (void)state;
    /* No segment: -ENOENT, and the message says what to do. */
    assert_int_equal(desk_shm_main_attach(desk_name, &r, &rlen), -ENOENT);
    snprintf(buf, sizeof buf, "no desk '%s'", desk_name);
    expect_msg(buf);
    expect_msg("is deskd running?");
    assert_int_equal(desk_shm_main_attach("a/b", &r, &rlen), -EINVAL);

    assert_int_equal(desk_shm_main_create(desk_name, 2, 1, 1, 0600, &w, &wlen), 0);

    /* Each of magic, abi_version, layout_hash: -EPROTO naming it. */
    __atomic_store_n(&w->magic, 0x1122334455667788ull, __ATOMIC_RELEASE);
    expect_proto("magic", "0x4e49414d4b534544", "0x1122334455667788");
    __atomic_store_n(&w->magic, DESK_MAIN_MAGIC, __ATOMIC_RELEASE);

    w->abi_version = DESK_ABI_VERSION + 98;
    snprintf(buf, sizeof buf, "found %u", DESK_ABI_VERSION + 98);
    expect_proto("abi_version", "expected 2", buf);
    w->abi_version = DESK_ABI_VERSION;

    w->layout_hash ^= 0xdeadbeefu;
    snprintf(buf, sizeof buf, "found 0x%08x", w->layout_hash);
    char exp[32];
    snprintf(exp, sizeof exp, "expected 0x%08x", desk_shm_layout_hash());
    expect_proto("layout_hash", exp, buf);
    w->layout_hash = desk_shm_layout_hash();

    /* The sizes and offsets are checked too. */
    w->total_size += 4096;
    expect_proto("total_size", "expected", "found");
    w->total_size -= 4096;
    w->off_quotes += 128;
    expect_proto("off_quotes", "expected", "found");
    w->off_quotes -= 128;
    w->ninstruments = DESK_SHM_MAX_INSTRUMENTS + 1;
    expect_proto("exceed", "instruments", "strategies");
    w->ninstruments = 2;

    /* Restored: attach succeeds. */
    assert_int_equal(desk_shm_main_attach(desk_name, &r, &rlen), 0);
    desk_shm_unmap(r, rlen);
    desk_shm_unmap(w, wlen);
    assert_int_equal(desk_shm_unlink_main(desk_name), 0);

    /* A segment smaller than the header (deskd mid-start, or junk). */
    desk_shm_main_name(buf, sizeof buf, desk_name);
    int fd = shm_open(buf, O_CREAT | O_EXCL | O_RDWR, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 100), 0);
    close(fd);
    assert_int_equal(desk_shm_main_attach(desk_name, &r, &rlen), -EPROTO);
    expect_msg("smaller than");
    /* Big enough but never published (magic 0). */
    fd = shm_open(buf, O_RDWR, 0);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    close(fd);
    expect_proto("magic", "expected", "found 0x0000000000000000");
}

/* A second deskd for the same desk is refused while the first lives. */
static void test_main_exists_live(void **state)
{
    struct desk_main_hdr *w = NULL, *w2 = NULL;
    size_t wlen = 0, wlen2 = 0;
    char pidstr[32];

    (void)state;
    assert_int_equal(desk_shm_main_create(desk_name, 1, 1, 1, 0644, &w, &wlen), 0);
    desk_errclear();
    assert_int_equal(desk_shm_main_create(desk_name, 1, 1, 1, 0644, &w2, &wlen2), -EEXIST);
    assert_null(w2);
    expect_msg(desk_name);
    snprintf(pidstr, sizeof pidstr, "pid %d", (int)getpid());
    expect_msg(pidstr);
    /* The first one is untouched and still attachable. */
    assert_true(__atomic_load_n(&w->magic, __ATOMIC_ACQUIRE) == DESK_MAIN_MAGIC);
    const struct desk_main_hdr *r = NULL;
    size_t rlen = 0;
    assert_int_equal(desk_shm_main_attach(desk_name, &r, &rlen), 0);
    assert_int_equal(r->router_pid, getpid());
    desk_shm_unmap(r, rlen);
    desk_shm_unmap(w, wlen);
}

/* A segment whose deskd died is replaced; so is one with no header. */
static void test_main_stale(void **state)
{
    struct desk_main_hdr *w = NULL;
    const struct desk_main_hdr *r = NULL;
    size_t wlen = 0, rlen = 0;
    int status;

    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct desk_main_hdr *c = NULL;
        size_t clen = 0;
        _exit(desk_shm_main_create(desk_name, 1, 1, 1, 0644, &c, &clen) == 0 ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid); /* reaped: its pid is dead */
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(desk_shm_main_attach(desk_name, &r, &rlen), 0);
    assert_int_equal(r->router_pid, pid);
    uint64_t old_start = r->start_mono_ns;

    /* Different counts, to see that the new segment is a new one. */
    int rc = desk_shm_main_create(desk_name, 5, 2, 3, 0644, &w, &wlen);
    if (rc != 0)
        fail_msg("replacing a stale segment: %d %s", rc, desk_errmsg());
    assert_int_equal(w->router_pid, getpid());
    assert_int_equal(w->ninstruments, 5);
    assert_true(w->start_mono_ns > old_start);
    /* The old mapping still shows the old object. */
    assert_int_equal(r->router_pid, pid);
    assert_int_equal(r->ninstruments, 1);
    desk_shm_unmap(r, rlen);
    desk_shm_unmap(w, wlen);
    assert_int_equal(desk_shm_unlink_main(desk_name), 0);

    /* Empty object (a deskd that died before writing its header). */
    char name[64];
    desk_shm_main_name(name, sizeof name, desk_name);
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(desk_shm_main_create(desk_name, 1, 1, 1, 0644, &w, &wlen), 0);
    assert_int_equal(w->router_pid, getpid());
    desk_shm_unmap(w, wlen);
}

static void test_create_rejects(void **state)
{
    struct desk_main_hdr *w = NULL;
    struct desk_strat_hdr *s = NULL;
    size_t len = 0;
    char name[64];

    (void)state;
    desk_shm_main_name(name, sizeof name, desk_name);
    assert_int_equal(desk_shm_main_create(desk_name, DESK_SHM_MAX_INSTRUMENTS + 1, 1, 1, 0644,
                                          &w, &len), -EINVAL);
    expect_msg("exceed");
    assert_int_equal(desk_shm_main_create(desk_name, 1, DESK_SHM_MAX_CONNECTORS + 1, 1, 0644,
                                          &w, &len), -EINVAL);
    assert_int_equal(desk_shm_main_create(desk_name, 1, 1, DESK_SHM_MAX_STRATEGIES + 1, 0644,
                                          &w, &len), -EINVAL);
    assert_int_equal(desk_shm_main_create("", 1, 1, 1, 0644, &w, &len), -EINVAL);
    assert_int_equal(desk_shm_main_create(desk_name, 1, 1, 1, 0644, NULL, &len), -EINVAL);
    assert_null(w);
    assert_false(shm_exists(name)); /* nothing left behind */

    desk_shm_strat_name(name, sizeof name, desk_name, "s1");
    static const uint32_t bad[] = {0, 1, 3, 100, DESK_SPSC_MAX_SLOTS * 2u};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(desk_shm_strat_create(desk_name, "s1", 0, 1, bad[i], 64, geteuid(),
                                               getegid(), 0600, &s, &len), -EINVAL);
        expect_msg("order ring");
        assert_int_equal(desk_shm_strat_create(desk_name, "s1", 0, 1, 64, bad[i], geteuid(),
                                               getegid(), 0600, &s, &len), -EINVAL);
        expect_msg("event ring");
    }
    assert_int_equal(desk_shm_strat_create(desk_name, "s1", DESK_SHM_MAX_STRATEGIES, 1, 64, 64,
                                           geteuid(), getegid(), 0600, &s, &len), -EINVAL);
    assert_int_equal(desk_shm_strat_create(desk_name, "s/1", 0, 1, 64, 64, geteuid(), getegid(),
                                           0600, &s, &len), -EINVAL);
    assert_null(s);
    assert_false(shm_exists(name));
}

/*
 * A failure after shm_open (here ftruncate, made to fail with EFBIG by a
 * tiny RLIMIT_FSIZE in a child) returns -errno and leaves no segment behind.
 */
static void test_create_unwinds(void **state)
{
    char mname[64], sname[64];
    int status;

    (void)state;
    desk_shm_main_name(mname, sizeof mname, desk_name);
    desk_shm_strat_name(sname, sizeof sname, desk_name, "s1");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {4096, 4096};
        struct desk_main_hdr *w = NULL;
        struct desk_strat_hdr *s = NULL;
        size_t len = 0;
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(10);
        if (desk_shm_main_create(desk_name, 1, 1, 1, 0644, &w, &len) != -EFBIG || w != NULL)
            _exit(11);
        if (strstr(desk_errmsg(), "ftruncate") == NULL)
            _exit(12);
        if (shm_exists(mname))
            _exit(13);
        if (desk_shm_strat_create(desk_name, "s1", 0, 1, 64, 64, geteuid(), getegid(), 0600,
                                  &s, &len) != -EFBIG || s != NULL)
            _exit(14);
        if (shm_exists(sname))
            _exit(15);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- strategy segment --------------------------------------------------------- */

static void test_strat_create_attach(void **state)
{
    struct desk_strat_hdr *d = NULL, *s = NULL;
    size_t dlen = 0, slen = 0;
    char name[128];
    struct stat st;

    (void)state;
    desk_shm_strat_name(name, sizeof name, desk_name, "alpha.v2");
    mode_t old = umask(0777); /* shm_open would create it with mode 0 */
    int rc = desk_shm_strat_create(desk_name, "alpha.v2", 7, 123456789, 64, 256, geteuid(),
                                   getegid(), 0600, &d, &dlen);
    umask(old);
    if (rc != 0)
        fail_msg("strat create: %d %s", rc, desk_errmsg());
    shm_stat(name, &st);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, geteuid());
    assert_int_equal((uint64_t)st.st_size, dlen);

    assert_true(__atomic_load_n(&d->magic, __ATOMIC_ACQUIRE) == DESK_STRAT_MAGIC);
    assert_int_equal(d->abi_version, DESK_ABI_VERSION);
    assert_int_equal(d->layout_hash, desk_shm_layout_hash());
    assert_string_equal(d->desk, desk_name);
    assert_string_equal(d->name, "alpha.v2");
    assert_int_equal(d->index, 7);
    assert_int_equal(d->deskd_start_ns, 123456789);
    assert_int_equal(d->off_order_ring % 128, 0);
    assert_int_equal(d->off_event_ring % 128, 0);
    assert_true(d->off_order_ring >= sizeof *d);
    assert_int_equal(d->order_ring_bytes, desk_spsc_bytes(64));
    assert_int_equal(d->event_ring_bytes, desk_spsc_bytes(256));
    assert_true(d->off_event_ring >= d->off_order_ring + d->order_ring_bytes);
    assert_true(d->off_event_ring + d->event_ring_bytes <= d->total_size);
    assert_int_equal(d->total_size, dlen);
    assert_int_equal(atomic_load_explicit(&d->pid, memory_order_relaxed), 0);

    rc = desk_shm_strat_attach(desk_name, "alpha.v2", &s, &slen);
    if (rc != 0)
        fail_msg("strat attach: %d %s", rc, desk_errmsg());
    assert_true(s != d);
    assert_int_equal(slen, dlen);
    assert_memory_equal(s, d, sizeof *d);

    /* The rings work across the two mappings: the strategy (s) produces
     * commands that deskd (d) consumes, and deskd produces events back. */
    desk_spsc_t sp, dc, dp, sc;
    assert_int_equal(desk_spsc_attach_producer(&sp, (char *)s + s->off_order_ring,
                                               s->order_ring_bytes), 0);
    assert_int_equal(desk_spsc_attach_consumer(&dc, (char *)d + d->off_order_ring,
                                               d->order_ring_bytes), 0);
    assert_int_equal(desk_spsc_attach_producer(&dp, (char *)d + d->off_event_ring,
                                               d->event_ring_bytes), 0);
    assert_int_equal(desk_spsc_attach_consumer(&sc, (char *)s + s->off_event_ring,
                                               s->event_ring_bytes), 0);
    assert_int_equal(sp.mask, 63);
    assert_int_equal(dp.mask, 255);
    for (uint64_t i = 1; i <= 64; i++) {
        desk_cmd_t c;
        memset(&c, 0, sizeof c);
        c.type = DESK_CMD_NEW;
        c.cl_ord_id = i;
        c.qty = (int64_t)i * DESK_SCALE;
        assert_int_equal(desk_spsc_push(&sp, &c), 0);
    }
    desk_cmd_t extra;
    memset(&extra, 0, sizeof extra);
    assert_int_equal(desk_spsc_push(&sp, &extra), -EAGAIN); /* 64 slots */
    for (uint64_t i = 1; i <= 64; i++) {
        desk_cmd_t c;
        desk_event_t e;
        assert_int_equal(desk_spsc_pop(&dc, &c), 0);
        assert_int_equal(c.cl_ord_id, i);
        assert_int_equal(c.qty, (int64_t)i * DESK_SCALE);
        memset(&e, 0, sizeof e);
        e.type = DESK_EV_ACK;
        e.cl_ord_id = c.cl_ord_id;
        e.ref = 1000 + i;
        assert_int_equal(desk_spsc_push(&dp, &e), 0);
    }
    assert_int_equal(desk_spsc_pop(&dc, &extra), -EAGAIN);
    for (uint64_t i = 1; i <= 64; i++) {
        desk_event_t e;
        assert_int_equal(desk_spsc_pop(&sc, &e), 0);
        assert_int_equal(e.type, DESK_EV_ACK);
        assert_int_equal(e.cl_ord_id, i);
        assert_int_equal(e.ref, 1000 + i);
    }
    desk_event_t none;
    assert_int_equal(desk_spsc_pop(&sc, &none), -EAGAIN);

    /* Creating it again replaces it: fresh, empty rings. */
    struct desk_strat_hdr *d2 = NULL;
    size_t dlen2 = 0;
    assert_int_equal(desk_shm_strat_create(desk_name, "alpha.v2", 7, 987654321, 64, 256,
                                           geteuid(), getegid(), 0600, &d2, &dlen2), 0);
    assert_int_equal(d2->deskd_start_ns, 987654321);
    assert_int_equal(desk_spsc_depth((struct desk_spsc_hdr *)(void *)((char *)d2 +
                                                                       d2->off_order_ring)),
                     0);
    desk_shm_unmap(d2, dlen2);

    desk_shm_unmap(s, slen);
    desk_shm_unmap(d, dlen);
    assert_int_equal(desk_shm_unlink_strat(desk_name, "alpha.v2"), 0);
    assert_false(shm_exists(name));
    assert_int_equal(desk_shm_unlink_strat(desk_name, "alpha.v2"), -ENOENT);
}

static void expect_strat_proto(const char *strategy, const char *field)
{
    struct desk_strat_hdr *s = NULL;
    size_t slen = 0;

    desk_errclear();
    assert_int_equal(desk_shm_strat_attach(desk_name, strategy, &s, &slen), -EPROTO);
    assert_null(s);
    expect_msg(field);
}

static void test_strat_attach_errors(void **state)
{
    struct desk_strat_hdr *d = NULL, *s = NULL;
    size_t dlen = 0, slen = 0;
    char name[64];

    (void)state;
    desk_shm_strat_name(name, sizeof name, desk_name, "s1");
    assert_int_equal(desk_shm_strat_attach(desk_name, "s1", &s, &slen), -ENOENT);
    expect_msg(name);
    expect_msg("s1");

    assert_int_equal(desk_shm_strat_create(desk_name, "s1", 0, 1, 4, 4, geteuid(), getegid(),
                                           0600, &d, &dlen), 0);
    __atomic_store_n(&d->magic, 42, __ATOMIC_RELEASE);
    expect_strat_proto("s1", "magic");
    __atomic_store_n(&d->magic, DESK_STRAT_MAGIC, __ATOMIC_RELEASE);
    d->abi_version = 77;
    expect_strat_proto("s1", "abi_version");
    d->abi_version = DESK_ABI_VERSION;
    d->layout_hash ^= 1;
    expect_strat_proto("s1", "layout_hash");
    d->layout_hash ^= 1;
    const uint64_t off_order = d->off_order_ring, off_event = d->off_event_ring;
    d->off_event_ring = d->total_size - 64;
    expect_strat_proto("s1", "event ring");
    d->off_event_ring = d->off_order_ring + 64; /* not where a ring may start */
    expect_strat_proto("s1", "event ring");
    d->off_event_ring = off_event;
    d->off_order_ring = 0; /* over the header */
    expect_strat_proto("s1", "order ring");
    d->off_order_ring = off_order;
    assert_int_equal(desk_shm_strat_attach(desk_name, "s1", &s, &slen), 0);
    desk_shm_unmap(s, slen);
    desk_shm_unmap(d, dlen);
}

/*
 * Ownership and mode.  As root: the segment is given to another user with
 * mode 0600; that user can attach, a third cannot (-EACCES naming the
 * segment and its mode).  Not root: giving it away is -EPERM, and a
 * read-only mode keeps even the owner out.
 */
static void child_attach(int wfd, uid_t uid, gid_t gid)
{
    struct desk_strat_hdr *s = NULL;
    size_t slen = 0;

    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        _exit(100);
    int rc = desk_shm_strat_attach(desk_name, "s2", &s, &slen);
    const char *m = desk_errmsg();
    if (write(wfd, m, strlen(m) + 1) < 0)
        _exit(101);
    _exit(rc == 0 ? 0 : rc == -EACCES ? 13 : 99);
}

static int run_child(uid_t uid, gid_t gid, char *msg, size_t cap)
{
    int pfd[2], status;

    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(pfd[0]);
        child_attach(pfd[1], uid, gid);
    }
    close(pfd[1]);
    ssize_t n = read(pfd[0], msg, cap - 1);
    msg[n > 0 ? n : 0] = '\0';
    close(pfd[0]);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_strat_owner_mode(void **state)
{
    struct desk_strat_hdr *d = NULL, *s = NULL;
    size_t dlen = 0, slen = 0;
    char name[64], msg[600];
    struct stat st;

    (void)state;
    desk_shm_strat_name(name, sizeof name, desk_name, "s2");
    if (geteuid() == 0) {
        const uid_t owner = 65534, other = 65533;
        int rc = desk_shm_strat_create(desk_name, "s2", 1, 1, 4, 4, owner, owner, 0600, &d,
                                       &dlen);
        if (rc != 0)
            fail_msg("create for uid %u: %d %s", owner, rc, desk_errmsg());
        shm_stat(name, &st);
        assert_int_equal(st.st_uid, owner);
        assert_int_equal(st.st_gid, owner);
        assert_int_equal(st.st_mode & 07777, 0600);
        /* The owner gets in. */
        assert_int_equal(run_child(owner, owner, msg, sizeof msg), 0);
        /* Anyone else: -EACCES, naming the segment and its mode. */
        assert_int_equal(run_child(other, other, msg, sizeof msg), 13);
        if (strstr(msg, name) == NULL || strstr(msg, "0600") == NULL)
            fail_msg("EACCES message '%s' does not name %s and mode 0600", msg, name);
        desk_shm_unmap(d, dlen);
    } else {
        print_message("not root: checking -EPERM and a read-only mode instead\n");
        assert_int_equal(desk_shm_strat_create(desk_name, "s2", 1, 1, 4, 4, geteuid() + 1,
                                               getegid(), 0600, &d, &dlen), -EPERM);
        expect_msg("root");
        assert_false(shm_exists(name));
        assert_int_equal(desk_shm_strat_create(desk_name, "s2", 1, 1, 4, 4, geteuid(),
                                               getegid(), 0400, &d, &dlen), 0);
        assert_int_equal(desk_shm_strat_attach(desk_name, "s2", &s, &slen), -EACCES);
        expect_msg(name);
        expect_msg("0400");
        desk_shm_unmap(d, dlen);
    }
}

/* Unlink: the name goes, mappings stay valid until unmapped. */
static void test_unlink(void **state)
{
    struct desk_main_hdr *w = NULL;
    const struct desk_main_hdr *r = NULL;
    size_t wlen = 0, rlen = 0;

    (void)state;
    assert_int_equal(desk_shm_unlink_main(desk_name), -ENOENT);
    assert_int_equal(desk_shm_main_create(desk_name, 1, 1, 1, 0644, &w, &wlen), 0);
    assert_int_equal(desk_shm_main_attach(desk_name, &r, &rlen), 0);
    assert_int_equal(desk_shm_unlink_main(desk_name), 0);
    assert_int_equal(desk_shm_main_attach(desk_name, &r, &rlen), -ENOENT);
    w->nstrategies = 1; /* still mapped */
    assert_int_equal(r->nstrategies, 1);
    assert_int_equal(desk_shm_unlink_main(desk_name), -ENOENT);
    assert_int_equal(desk_shm_unlink_main("x/y"), -EINVAL);
    assert_int_equal(desk_shm_unlink_strat(desk_name, "s1"), -ENOENT);
    desk_shm_unmap(r, rlen);
    desk_shm_unmap(w, wlen);
    desk_shm_unmap(NULL, 0); /* harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_names),
        TEST(test_layout),
        TEST(test_main_create_attach),
        TEST(test_main_attach_errors),
        TEST(test_main_exists_live),
        TEST(test_main_stale),
        TEST(test_create_rejects),
        TEST(test_create_unwinds),
        TEST(test_strat_create_attach),
        TEST(test_strat_attach_errors),
        TEST(test_strat_owner_mode),
        TEST(test_unlink),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
