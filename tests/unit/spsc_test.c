/*
 * spsc_test.c - the SPSC ring (ring/spsc.h): single-thread contract, two
 * threads, two processes.
 *
 * Every test loops over the ring sizes in ring_sizes[] (liburing's
 * FOR_ALL_TEST_CONFIGS): 2 and 4 make the full/empty edges and the
 * wrap-around happen on nearly every operation, 4096 exercises long runs
 * where the cached peer index saves the cross-core read.
 *
 * Messages carry a sequence number, six words derived from it and an
 * FNV-1a checksum of the first seven words, so a torn slot, a lost message,
 * a duplicate or a reordering all fail.
 *
 * The two-thread test is labelled "concurrency": CI also runs it under
 * ThreadSanitizer, which checks that the release/acquire pairs of spsc.h
 * order the slot contents (the slots themselves are plain memory).
 * Experiment, done once (clang 14, -fsanitize=thread, a copy of spsc.h on
 * the include path ahead of the real one): with the tail store of
 * desk_spsc_commit() weakened to memory_order_relaxed, test_two_threads
 * fails (exit 66) with "WARNING: ThreadSanitizer: data race": write by the
 * producer in msg_make (prod_fill), read by the consumer's memcpy in
 * cons_check.  With the head store of desk_spsc_release() weakened instead,
 * TSan reports the mirror race: the producer's msg_make overwriting a slot
 * after the consumer's memcpy of it.  With the real spsc.h it is clean.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "ring/spsc.h"

static const uint32_t ring_sizes[] = {2, 4, 64, 4096};
#define NSIZES (sizeof ring_sizes / sizeof ring_sizes[0])

/* Loop a test body over every ring size (liburing FOR_ALL_TEST_CONFIGS). */
#define FOR_ALL_RING_SIZES(n)                                                                   \
    for (size_t cfg_ = 0; cfg_ < NSIZES && ((n) = ring_sizes[cfg_], 1); cfg_++)

/* Messages in the stress tests: fewer under sanitizers, which run 5-20x
 * slower, so the TSan job stays well inside its time budget. */
#ifdef DESK_SANITIZED
#define THREAD_MSGS 1000000ull
#else
#define THREAD_MSGS 10000000ull
#endif
#define PROCESS_MSGS 10000000ull /* always 10 M: the child is single-threaded */

/* Small rings hand over every few messages, so on a loaded 2-core machine
 * each handover may cost a context switch: rings below 4096 slots move a
 * tenth as many (still hundreds of thousands of wrap-arounds).  The 4096-slot
 * ring moves the full count, so the 10 M figure always holds. */
static uint64_t msgs_for(uint64_t full, uint32_t nslots)
{
    return nslots < 4096 ? full / 10 : full;
}

/* ---- messages ------------------------------------------------------------- */

struct msg {
    uint64_t w[8]; /* w[0] seq, w[1..6] derived from seq, w[7] checksum */
};
DESK_STATIC_ASSERT(sizeof(struct msg) == DESK_SPSC_SLOT);

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t fnv64(const uint64_t *w, int n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (int i = 0; i < n; i++)
        h = (h ^ w[i]) * 0x100000001b3ull;
    return h;
}

static void msg_make(struct msg *m, uint64_t seq)
{
    m->w[0] = seq;
    for (int j = 1; j < 7; j++)
        m->w[j] = splitmix(seq * 7 + (uint64_t)j);
    m->w[7] = fnv64(m->w, 7);
}

/* 0 if m is the intact message number `seq`, else a nonzero code. */
static int msg_bad(const struct msg *m, uint64_t seq)
{
    if (m->w[0] != seq)
        return 1;
    if (m->w[7] != fnv64(m->w, 7))
        return 2;
    for (int j = 1; j < 7; j++)
        if (m->w[j] != splitmix(seq * 7 + (uint64_t)j))
            return 3;
    return 0;
}

/* xorshift64*: the batch sizes of the stress tests. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/* ---- a ring in heap memory ------------------------------------------------- */

struct ring {
    void *mem;         /* 128-byte aligned, owned */
    size_t len;        /* desk_spsc_bytes(n) */
    desk_spsc_t prod;  /* producer handle */
    desk_spsc_t cons;  /* consumer handle */
};

static void ring_open(struct ring *r, uint32_t n)
{
    r->len = desk_spsc_bytes(n);
    r->mem = aligned_alloc(DESK_FALSE_SHARING, (r->len + 127) & ~(size_t)127);
    assert_non_null(r->mem);
    memset(r->mem, 0xa5, r->len); /* init must not rely on zeroed memory */
    assert_int_equal(desk_spsc_init(r->mem, r->len, n), 0);
    assert_int_equal(desk_spsc_attach_producer(&r->prod, r->mem, r->len), 0);
    assert_int_equal(desk_spsc_attach_consumer(&r->cons, r->mem, r->len), 0);
}

static void ring_close(struct ring *r)
{
    free(r->mem);
    r->mem = NULL;
}

static void push_seq(desk_spsc_t *q, uint64_t seq)
{
    struct msg m;

    msg_make(&m, seq);
    assert_int_equal(desk_spsc_push(q, &m), 0);
}

static void pop_seq(desk_spsc_t *q, uint64_t seq)
{
    struct msg m;

    assert_int_equal(desk_spsc_pop(q, &m), 0);
    assert_int_equal(msg_bad(&m, seq), 0);
}

/* ---- single thread ------------------------------------------------------- */

/* An empty ring: peek is NULL, pop is -EAGAIN and leaves the output alone. */
static void test_empty(void **state)
{
    uint32_t n;

    (void)state;
    FOR_ALL_RING_SIZES(n) {
        struct ring r;
        struct msg m;

        ring_open(&r, n);
        assert_null(desk_spsc_peek(&r.cons));
        assert_int_equal(desk_spsc_peek_n(&r.cons, 16), 0);
        memset(&m, 0x77, sizeof m);
        assert_int_equal(desk_spsc_pop(&r.cons, &m), -EAGAIN);
        for (size_t i = 0; i < sizeof m; i++)
            assert_int_equal(((unsigned char *)&m)[i], 0x77);
        assert_int_equal(desk_spsc_depth(r.prod.hdr), 0);
        /* Still empty after a push and a pop. */
        push_seq(&r.prod, 0);
        pop_seq(&r.cons, 0);
        assert_null(desk_spsc_peek(&r.cons));
        assert_int_equal(desk_spsc_pop(&r.cons, &m), -EAGAIN);
        ring_close(&r);
    }
}

/* Exactly `n` messages fit; the next push is -EAGAIN and overwrites nothing. */
static void test_full(void **state)
{
    uint32_t n;

    (void)state;
    FOR_ALL_RING_SIZES(n) {
        struct ring r;
        struct msg m;

        ring_open(&r, n);
        for (uint64_t i = 0; i < n; i++) {
            push_seq(&r.prod, i);
            assert_int_equal(desk_spsc_depth(r.prod.hdr), i + 1);
        }
        msg_make(&m, 999999);
        assert_int_equal(desk_spsc_push(&r.prod, &m), -EAGAIN);
        assert_int_equal(desk_spsc_push(&r.prod, &m), -EAGAIN);
        assert_null(desk_spsc_claim(&r.prod));
        assert_int_equal(desk_spsc_claim_n(&r.prod, 5), 0);
        assert_int_equal(desk_spsc_depth(r.prod.hdr), n);
        assert_int_equal(desk_spsc_peek_n(&r.cons, UINT32_MAX), n);
        for (uint64_t i = 0; i < n; i++)
            pop_seq(&r.cons, i);
        assert_int_equal(desk_spsc_pop(&r.cons, &m), -EAGAIN);
        /* One slot freed: exactly one push fits again. */
        for (uint64_t i = 0; i < n; i++)
            push_seq(&r.prod, n + i);
        pop_seq(&r.cons, n);
        push_seq(&r.prod, 2 * n);
        assert_int_equal(desk_spsc_push(&r.prod, &m), -EAGAIN);
        for (uint64_t i = 1; i <= n; i++)
            pop_seq(&r.cons, n + i);
        assert_int_equal(desk_spsc_depth(r.prod.hdr), 0);
        ring_close(&r);
    }
}

/* FIFO order across many wrap-arounds, with every fill level from 1 to n. */
static void test_fifo_wrap(void **state)
{
    uint32_t n;

    (void)state;
    FOR_ALL_RING_SIZES(n) {
        struct ring r;
        uint64_t in = 0, out = 0;

        ring_open(&r, n);
        /* At least 200 laps of the ring (2000 for the small ones). */
        uint64_t total = (uint64_t)n * 200 + 20000;
        uint32_t k = 1;
        while (out < total) {
            for (uint32_t i = 0; i < k; i++)
                push_seq(&r.prod, in++);
            assert_int_equal(desk_spsc_depth(r.cons.hdr), k);
            for (uint32_t i = 0; i < k; i++)
                pop_seq(&r.cons, out++);
            k = k % n + 1;
        }
        /* The indices went round the ring at least 200 times. */
        assert_true(atomic_load_explicit(&r.prod.hdr->tail, memory_order_relaxed) >= 200ull * n);
        ring_close(&r);
    }
}

/* Partial batches: claim 5, commit 3; peek several, release some. */
static void test_batch(void **state)
{
    uint32_t n;

    (void)state;
    FOR_ALL_RING_SIZES(n) {
        struct ring r;
        uint64_t in = 0, out = 0;

        ring_open(&r, n);
        for (int round = 0; round < 1000; round++) {
            uint32_t want = 5, c = desk_spsc_claim_n(&r.prod, want);
            uint32_t free_ = n - (uint32_t)(in - out);

            assert_int_equal(c, want < free_ ? want : free_);
            for (uint32_t i = 0; i < c; i++)
                msg_make(desk_spsc_slot(&r.prod, i), in + i);
            uint32_t commit = c < 3 ? c : 3;
            /* Nothing is visible before the commit. */
            assert_int_equal(desk_spsc_peek_n(&r.cons, UINT32_MAX), (uint32_t)(in - out));
            desk_spsc_commit(&r.prod, commit);
            in += commit;
            /* Exactly the committed messages are visible, in order. */
            uint32_t avail = desk_spsc_peek_n(&r.cons, UINT32_MAX);
            assert_int_equal(avail, (uint32_t)(in - out));
            for (uint32_t i = 0; i < avail; i++)
                assert_int_equal(msg_bad(desk_spsc_slot(&r.cons, i), out + i), 0);
            /* Release two (or what there is); the rest stays. */
            uint32_t rel = avail < 2 ? avail : 2;
            desk_spsc_release(&r.cons, rel);
            out += rel;
            assert_int_equal(desk_spsc_depth(r.prod.hdr), in - out);
            if (avail > rel)
                assert_int_equal(msg_bad(desk_spsc_peek(&r.cons), out), 0);
        }
        /* Drain: the uncommitted tails of the claims were never delivered. */
        while (desk_spsc_peek(&r.cons) != NULL)
            pop_seq(&r.cons, out++);
        assert_int_equal(out, in);
        ring_close(&r);
    }
}

/*
 * Random claim_n/commit and peek_n/release against a model: claim_n returns
 * exactly min(want, free) and never more, peek_n exactly min(max, depth),
 * even when the cached peer index is stale.
 */
static void test_claim_bounds(void **state)
{
    uint32_t n;

    (void)state;
    FOR_ALL_RING_SIZES(n) {
        struct ring r;
        uint64_t in = 0, out = 0, seed = 0x1234567ull + n;

        ring_open(&r, n);
        for (int op = 0; op < 100000; op++) {
            uint32_t want = (uint32_t)(rnd(&seed) % (2ull * n + 2));
            uint64_t free_ = n - (in - out);

            if (rnd(&seed) & 1) {
                uint32_t c = desk_spsc_claim_n(&r.prod, want);
                assert_int_equal(c, want < free_ ? want : free_);
                assert_true(c <= free_);
                uint32_t k = c ? (uint32_t)(rnd(&seed) % (c + 1ull)) : 0;
                for (uint32_t i = 0; i < k; i++)
                    msg_make(desk_spsc_slot(&r.prod, i), in + i);
                if (k)
                    desk_spsc_commit(&r.prod, k);
                in += k;
            } else {
                uint32_t a = desk_spsc_peek_n(&r.cons, want);
                assert_int_equal(a, want < in - out ? want : in - out);
                uint32_t k = a ? (uint32_t)(rnd(&seed) % (a + 1ull)) : 0;
                for (uint32_t i = 0; i < k; i++)
                    assert_int_equal(msg_bad(desk_spsc_slot(&r.cons, i), out + i), 0);
                if (k)
                    desk_spsc_release(&r.cons, k);
                out += k;
            }
            assert_int_equal(desk_spsc_depth(r.prod.hdr), in - out);
        }
        ring_close(&r);
    }
}

/* A handle attached later resumes at the ring's current indices. */
static void test_reattach(void **state)
{
    uint32_t n;

    (void)state;
    FOR_ALL_RING_SIZES(n) {
        struct ring r;
        desk_spsc_t p2, c2;
        uint64_t k = n > 2 ? n - 1 : 2;

        ring_open(&r, n);
        for (uint64_t i = 0; i < k; i++)
            push_seq(&r.prod, i);
        pop_seq(&r.cons, 0);
        assert_int_equal(desk_spsc_attach_producer(&p2, r.mem, r.len), 0);
        assert_int_equal(desk_spsc_attach_consumer(&c2, r.mem, r.len), 0);
        push_seq(&p2, k);
        for (uint64_t i = 1; i <= k; i++)
            pop_seq(&c2, i);
        assert_null(desk_spsc_peek(&c2));
        assert_int_equal(desk_spsc_depth(r.prod.hdr), 0);
        ring_close(&r);
    }
}

/* init refuses bad capacities, misaligned memory and short lengths. */
static void test_init_rejects(void **state)
{
    static const uint32_t bad[] = {0, 1, 3, 6, 100, 4095, DESK_SPSC_MAX_SLOTS * 2u, UINT32_MAX};
    uint32_t n;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ring r;
        ring_open(&r, 4);
        desk_errclear();
        assert_int_equal(desk_spsc_init(r.mem, r.len, bad[i]), -EINVAL);
        assert_non_null(strstr(desk_errmsg(), "power of two"));
        ring_close(&r);
    }
    FOR_ALL_RING_SIZES(n) {
        size_t len = desk_spsc_bytes(n);
        unsigned char *mem = aligned_alloc(DESK_FALSE_SHARING, len + 256);

        assert_non_null(mem);
        for (size_t off = 8; off < DESK_FALSE_SHARING; off *= 2) {
            desk_errclear();
            assert_int_equal(desk_spsc_init(mem + off, len, n), -EINVAL);
            assert_non_null(strstr(desk_errmsg(), "aligned"));
        }
        desk_errclear();
        assert_int_equal(desk_spsc_init(mem, len - 1, n), -EINVAL);
        assert_non_null(strstr(desk_errmsg(), "bytes"));
        assert_int_equal(desk_spsc_init(mem, 0, n), -EINVAL);
        assert_int_equal(desk_spsc_init(mem, len, n), 0);        /* exact length is enough */
        assert_int_equal(desk_spsc_init(mem + 128, len, n), 0); /* any 128-byte boundary */
        free(mem);
    }
}

/* Expect attach (both sides) to fail with -EINVAL and a message holding `word`. */
static void expect_attach_fails(void *mem, size_t len, const char *word)
{
    desk_spsc_t q;

    desk_errclear();
    assert_int_equal(desk_spsc_attach_producer(&q, mem, len), -EINVAL);
    if (strstr(desk_errmsg(), word) == NULL)
        fail_msg("producer attach: message '%s' does not mention '%s'", desk_errmsg(), word);
    desk_errclear();
    assert_int_equal(desk_spsc_attach_consumer(&q, mem, len), -EINVAL);
    if (strstr(desk_errmsg(), word) == NULL)
        fail_msg("consumer attach: message '%s' does not mention '%s'", desk_errmsg(), word);
}

/* attach checks magic, version, slot size, capacity and length. */
static void test_attach_rejects(void **state)
{
    uint32_t n;

    (void)state;
    FOR_ALL_RING_SIZES(n) {
        struct ring r;

        ring_open(&r, n);
        struct desk_spsc_hdr *h = r.mem;

        atomic_store_explicit(&h->magic, DESK_SPSC_MAGIC ^ 1u, memory_order_relaxed);
        expect_attach_fails(r.mem, r.len, "magic");
        atomic_store_explicit(&h->magic, DESK_SPSC_MAGIC, memory_order_relaxed);

        h->version = DESK_SPSC_VERSION + 1;
        expect_attach_fails(r.mem, r.len, "version");
        h->version = DESK_SPSC_VERSION;

        h->slot_size = 128;
        expect_attach_fails(r.mem, r.len, "slot size");
        h->slot_size = DESK_SPSC_SLOT;

        h->nslots = n + 1;
        expect_attach_fails(r.mem, r.len, "capacity");
        h->nslots = n * 2; /* a power of two, but it does not fit len */
        expect_attach_fails(r.mem, r.len, "capacity");
        h->nslots = n;

        expect_attach_fails(r.mem, r.len - 1, "capacity");
        expect_attach_fails(r.mem, sizeof *h - 1, "smaller");
        /* Restored: attach works again. */
        assert_int_equal(desk_spsc_attach_producer(&r.prod, r.mem, r.len), 0);
        ring_close(&r);
    }
    /* Never-formatted (zero) memory has no magic. */
    size_t len = desk_spsc_bytes(4);
    void *mem = aligned_alloc(DESK_FALSE_SHARING, len);
    assert_non_null(mem);
    memset(mem, 0, len);
    expect_attach_fails(mem, len, "magic");
    free(mem);
}

/* ---- stress: shared by the two-thread and two-process tests -------------- */

/* Wait politely: 2 cores are shared by both sides and everything else. */
static void backoff(unsigned *spins)
{
    if (++*spins < 64)
        desk_cpu_relax();
    else
        sched_yield();
}

/*
 * Produce messages 0..count-1 in random batches (claim up to `bmax`, commit
 * a random prefix of the claim).  Returns the running checksum: the sum of
 * every message's checksum word.
 */
static uint64_t prod_fill(desk_spsc_t *q, uint64_t count, uint32_t bmax, uint64_t seed)
{
    uint64_t seq = 0, sum = 0;

    while (seq < count) {
        uint64_t left = count - seq;
        uint32_t want = 1 + (uint32_t)(rnd(&seed) % bmax);
        unsigned spins = 0;

        if (want > left)
            want = (uint32_t)left;
        uint32_t c;
        while ((c = desk_spsc_claim_n(q, want)) == 0)
            backoff(&spins);
        uint32_t k = (rnd(&seed) & 3) == 0 ? 1 + (uint32_t)(rnd(&seed) % c) : c;
        for (uint32_t i = 0; i < k; i++) {
            struct msg *m = desk_spsc_slot(q, i);
            msg_make(m, seq + i);
            sum += m->w[7];
        }
        desk_spsc_commit(q, k);
        seq += k;
    }
    return sum;
}

/* What the consumer found. */
struct cons_result {
    uint64_t received; /* messages checked */
    uint64_t sum;      /* running checksum, as prod_fill() */
    uint64_t bad_seq;  /* first message that failed, if any */
    int bad;           /* msg_bad() code of it, 0 if all good */
    int stalled;       /* 1 if nothing arrived for too long */
};

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Consume `count` messages in random batches, checking strict sequence and
 * each checksum.  Stops at the first bad message, or after `stall_ns`
 * without progress (so a broken producer fails the test, not hangs it).
 */
static void cons_check(desk_spsc_t *q, uint64_t count, uint32_t bmax, uint64_t seed,
                       uint64_t stall_ns, struct cons_result *res)
{
    uint64_t seq = 0, sum = 0;
    uint64_t last = mono_ns();
    unsigned spins = 0;

    memset(res, 0, sizeof *res);
    while (seq < count) {
        uint32_t max = 1 + (uint32_t)(rnd(&seed) % bmax);
        uint32_t a = desk_spsc_peek_n(q, max);

        if (a == 0) {
            backoff(&spins);
            if ((spins & 1023) == 0 && mono_ns() - last > stall_ns) {
                res->stalled = 1;
                break;
            }
            continue;
        }
        spins = 0;
        last = mono_ns();
        uint32_t k = (rnd(&seed) & 3) == 0 ? 1 + (uint32_t)(rnd(&seed) % a) : a;
        for (uint32_t i = 0; i < k; i++) {
            struct msg m;
            memcpy(&m, desk_spsc_slot(q, i), sizeof m);
            int b = msg_bad(&m, seq + i);
            if (b) {
                res->bad = b;
                res->bad_seq = seq + i;
                res->received = seq + i;
                res->sum = sum;
                return;
            }
            sum += m.w[7];
        }
        desk_spsc_release(q, k);
        seq += k;
    }
    res->received = seq;
    res->sum = sum;
}

static uint32_t batch_max(uint32_t n)
{
    return n < 256 ? n : 256;
}

/* ---- two threads ---------------------------------------------------------- */

struct prod_arg {
    desk_spsc_t *q;  /* producer handle */
    uint64_t count;  /* messages to send */
    uint32_t bmax;   /* largest batch */
    uint64_t sum;    /* out: running checksum */
};

static void *prod_thread(void *p)
{
    struct prod_arg *a = p;

    a->sum = prod_fill(a->q, a->count, a->bmax, 0x9e3779b97f4a7c15ull ^ a->count);
    return NULL;
}

/* One producer thread, one consumer thread, THREAD_MSGS messages per size. */
static void test_two_threads(void **state)
{
    uint32_t n;

    (void)state;
    FOR_ALL_RING_SIZES(n) {
        struct ring r;
        struct prod_arg pa;
        struct cons_result res;
        pthread_t t;
        uint64_t t0 = mono_ns(), count = msgs_for(THREAD_MSGS, n);

        ring_open(&r, n);
        pa.q = &r.prod;
        pa.count = count;
        pa.bmax = batch_max(n);
        pa.sum = 0;
        assert_int_equal(pthread_create(&t, NULL, prod_thread, &pa), 0);
        cons_check(&r.cons, count, batch_max(n), 0xabcdefull + n, 60000000000ull, &res);
        if (res.stalled)
            fail_msg("ring %u: nothing arrived for 60 s after message %llu", n,
                     (unsigned long long)res.received); /* the thread is left behind */
        if (res.bad) {
            /* The producer may be blocked on a full ring: drain it so that
             * it finishes and can be joined, then fail. */
            uint64_t drained = res.received;
            while (drained < count) {
                uint32_t a = desk_spsc_peek_n(&r.cons, n);
                if (a) {
                    desk_spsc_release(&r.cons, a);
                    drained += a;
                } else {
                    sched_yield();
                }
            }
        }
        assert_int_equal(pthread_join(t, NULL), 0);
        if (res.bad)
            fail_msg("ring %u: message %llu is bad (code %d)", n,
                     (unsigned long long)res.bad_seq, res.bad);
        assert_false(res.stalled);
        assert_int_equal(res.received, count);
        assert_int_equal(res.sum, pa.sum);
        assert_int_equal(desk_spsc_depth(r.prod.hdr), 0);
        print_message("two threads, ring %4u: %llu msgs in %.2f s\n", n,
                      (unsigned long long)count, (double)(mono_ns() - t0) / 1e9);
        ring_close(&r);
    }
}

/* ---- two processes -------------------------------------------------------- */

/*
 * The child produces PROCESS_MSGS messages into a ring in a MAP_SHARED
 * anonymous mapping and writes its running checksum into a pipe; the parent
 * consumes, checks every message and compares the checksums.
 */
static void test_two_processes(void **state)
{
    uint32_t n;

    (void)state;
    FOR_ALL_RING_SIZES(n) {
        size_t len = desk_spsc_bytes(n);
        void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        struct cons_result res = {0};
        int pfd[2];
        uint64_t t0 = mono_ns(), count = msgs_for(PROCESS_MSGS, n);

        assert_true(mem != MAP_FAILED);
        assert_int_equal(desk_spsc_init(mem, len, n), 0);
        assert_int_equal(pipe(pfd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* Child: no cmocka here, only exit codes.  Die with the parent. */
            desk_spsc_t q;
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            close(pfd[0]);
            if (desk_spsc_attach_producer(&q, mem, len) != 0)
                _exit(2);
            uint64_t sum = prod_fill(&q, count, batch_max(n), 0x5151ull + n);
            if (write(pfd[1], &sum, sizeof sum) != (ssize_t)sizeof sum)
                _exit(3);
            _exit(0);
        }
        close(pfd[1]);
        desk_spsc_t c;
        int arc = desk_spsc_attach_consumer(&c, mem, len);
        if (arc == 0)
            cons_check(&c, count, batch_max(n), 0x7777ull + n, 60000000000ull, &res);
        if (arc != 0 || res.bad || res.stalled)
            kill(pid, SIGKILL); /* it may be blocked on a full ring */
        uint64_t child_sum = 0;
        ssize_t got = read(pfd[0], &child_sum, sizeof child_sum);
        int status = 0;
        pid_t w = waitpid(pid, &status, 0);
        close(pfd[0]);
        munmap(mem, len);
        assert_int_equal(arc, 0);
        if (res.bad)
            fail_msg("ring %u: message %llu is bad (code %d)", n,
                     (unsigned long long)res.bad_seq, res.bad);
        assert_false(res.stalled);
        assert_int_equal(w, pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_int_equal(got, (ssize_t)sizeof child_sum);
        assert_int_equal(res.received, count);
        assert_int_equal(res.sum, child_sum);
        print_message("two processes, ring %4u: %llu msgs in %.2f s\n", n,
                      (unsigned long long)count, (double)(mono_ns() - t0) / 1e9);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_fifo_wrap),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_claim_bounds),
        cmocka_unit_test(test_reattach),
        cmocka_unit_test(test_init_rejects),
        cmocka_unit_test(test_attach_rejects),
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_two_processes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
