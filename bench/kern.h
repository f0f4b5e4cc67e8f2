/*
 * kern.h - the C side of desk's microbenchmarks, callable from C++.
 *
 * desk's hot-path headers (ring/spsc.h, core/hist.h, core/guard.h through
 * ring/shm.h) use C11 `_Atomic`, which g++ does not accept, and Concurrency
 * Kit's <ck_ring.h> is not valid C++ either.  So every measured loop that
 * touches them lives in a C file (kern_*.c) and runs whole: the benchmark
 * (C++, Google Benchmark) calls one function per batch of operations, never
 * one per operation, so the call boundary costs nothing measurable and the
 * ring operations inline exactly as they do in desk itself.
 *
 * Every ring kernel moves the same 64-byte message (bk_msg_t): the producer
 * writes a sequence number into its own copy and the ring copies all 64
 * bytes in; the consumer copies all 64 bytes out and checks the sequence, so
 * no ring gets away with moving a pointer or skipping the read.
 *
 * Thread rules: a ring's produce/ping functions run on one thread, its
 * consume/echo functions on one other thread, as the SPSC contract says.
 */
#ifndef DESK_BENCH_KERN_H
#define DESK_BENCH_KERN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BK_STOP UINT64_MAX /* sequence number that tells a consumer to leave */

/* The benchmark message: one cache line, like desk_cmd and desk_event. */
typedef struct bk_msg {
    uint64_t seq;        /* producer's sequence number, or BK_STOP */
    uint64_t stamp;      /* free for the caller (a TSC stamp) */
    uint64_t payload[6]; /* filler, copied like the rest */
} bk_msg_t;

/* ---- rings under test ------------------------------------------------ */

/* Which ring a bk_ring_t wraps (the C++ file handles Boost itself). */
typedef enum bk_ring_kind {
    BK_RING_DESK = 1,       /* desk_spsc_push / desk_spsc_pop, one message at a time */
    BK_RING_DESK_BATCH = 2, /* desk_spsc_claim_n/commit and peek_n/release, batches */
    BK_RING_CK = 3,         /* ck_ring_enqueue_spsc_<T> / dequeue (CK_RING_PROTOTYPE copies T) */
} bk_ring_kind_t;

typedef struct bk_ring bk_ring_t;

/* A ring of `slots` (power of two) 64-byte slots, empty, in fresh memory.
 * Returns NULL on allocation failure.  Cold. */
bk_ring_t *bk_ring_create(bk_ring_kind_t kind, uint32_t slots);
void bk_ring_destroy(bk_ring_t *r);

/*
 * Producer: push messages seq0 .. seq0+n-1, spinning (pause) while the ring
 * is full.  Returns how many times it found the ring full.
 */
uint64_t bk_ring_produce(bk_ring_t *r, uint64_t seq0, uint64_t n);

/* Producer: push one BK_STOP message (spins while full). */
void bk_ring_stop(bk_ring_t *r);

/*
 * Consumer: pop messages until BK_STOP arrives.  Returns the number of data
 * messages; *errors counts messages whose sequence was not the expected next
 * one (must stay 0: a ring that reorders or loses a message is broken).
 */
uint64_t bk_ring_consume(bk_ring_t *r, uint64_t *errors);

/*
 * Ping side of a ping-pong over two rings: n round trips, each pushes one
 * message on `out` and spins until its echo arrives on `in`.  ticks[i]
 * receives the TSC ticks of round trip i (consecutive rdtsc deltas, so one
 * rdtsc per round trip).  Returns the number of bad echoes (must be 0).
 */
uint64_t bk_ring_ping(bk_ring_t *out, bk_ring_t *in, uint64_t seq0, uint64_t n, uint64_t *ticks);

/* Echo side: pop from `in`, push the same 64 bytes on `out`, until BK_STOP
 * (which is echoed too).  Returns the number of messages echoed. */
uint64_t bk_ring_echo(bk_ring_t *in, bk_ring_t *out);

/* ---- histograms (desk's own core/hist.h, log-linear, 3% buckets) ------- */

typedef struct bk_hist bk_hist_t;

bk_hist_t *bk_hist_create(void);
void bk_hist_destroy(bk_hist_t *h);
void bk_hist_reset(bk_hist_t *h);
void bk_hist_add(bk_hist_t *h, uint64_t ns);
/* Add n samples given in TSC ticks, converted with ns_per_tick (scaled by
 * `scale`, e.g. 0.5 to record one-way halves of round trips). */
void bk_hist_add_ticks(bk_hist_t *h, const uint64_t *ticks, size_t n, double ns_per_tick,
                       double scale);
uint64_t bk_hist_quantile(const bk_hist_t *h, double q);
uint64_t bk_hist_max(const bk_hist_t *h);
uint64_t bk_hist_count(const bk_hist_t *h);

/* ---- the pre-trade guard ------------------------------------------------ */

/*
 * Scenarios: BK_GUARD_ACCEPT runs every check and accepts; every other value
 * is a desk_reject_t the scenario is built to hit (the cheapest honest way:
 * one field of an otherwise accepted order changed).
 */
#define BK_GUARD_ACCEPT 0

typedef struct bk_guard bk_guard_t;

/* Build scenario `reason`; NULL if desk has no cheap way to hit it through
 * desk_guard_check() (e.g. DUPLICATE_CLORDID, which the router refuses). */
bk_guard_t *bk_guard_create(int reason);
void bk_guard_destroy(bk_guard_t *g);

/* Run desk_guard_check() n times (the clock in the context advances 1 ns per
 * call, as the router's would).  Returns the reason of the last verdict. */
int bk_guard_run(bk_guard_t *g, uint64_t n);

/* desk_reject_name() for a reason, "ACCEPT" for BK_GUARD_ACCEPT. */
const char *bk_guard_name(int reason);

#ifdef __cplusplus
}
#endif

#endif /* DESK_BENCH_KERN_H */
