/*
 * hist.h - log-linear latency histograms that live in shared memory.
 *
 * Values (nanoseconds) below 32 have a bucket each; above, every power of
 * two is cut into 32 linear sub-buckets, so a bucket's width is at most
 * 1/32 (3.1%) of its value: p99.9 is reported within 3.1%, never averaged
 * away.  1,920 buckets cover 0 .. 2^64 ns.
 *
 * One writer thread per histogram (it updates with relaxed load + store, no
 * locked instruction); any process may read it concurrently.  A reader's
 * snapshot may be mid-update by one sample, which is fine for monitoring.
 * desk_hist_record() makes no syscall and allocates nothing.
 */
#ifndef DESK_HIST_H
#define DESK_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define DESK_HIST_SUB_BITS 5
#define DESK_HIST_SUB (1u << DESK_HIST_SUB_BITS)                  /* 32 */
#define DESK_HIST_NBUCKETS (DESK_HIST_SUB * (64 - DESK_HIST_SUB_BITS + 1)) /* 1920 */

typedef struct desk_hist {
    _Atomic uint64_t count;                      /* samples; W: owner thread */
    _Atomic uint64_t sum;                        /* sum of samples, ns */
    _Atomic uint64_t max;                        /* largest sample, ns */
    _Atomic uint64_t pad_;                       /* zero */
    _Atomic uint64_t bucket[DESK_HIST_NBUCKETS]; /* counts per bucket */
} desk_hist_t;

#ifdef __cplusplus
extern "C" {
#endif

/* Bucket index of value v. */
static inline uint32_t desk_hist_index(uint64_t v)
{
    if (v < DESK_HIST_SUB)
        return (uint32_t)v;
    uint32_t e = 63u - (uint32_t)__builtin_clzll(v); /* >= SUB_BITS */
    uint32_t sub = (uint32_t)(v >> (e - DESK_HIST_SUB_BITS)) & (DESK_HIST_SUB - 1);
    return DESK_HIST_SUB * (e - DESK_HIST_SUB_BITS + 1) + sub;
}

/* Add one sample.  Owner thread only: relaxed, single writer. */
static inline void desk_hist_record(desk_hist_t *h, uint64_t v)
{
    _Atomic uint64_t *b = &h->bucket[desk_hist_index(v)];

    atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&h->sum, atomic_load_explicit(&h->sum, memory_order_relaxed) + v,
                          memory_order_relaxed);
    if (v > atomic_load_explicit(&h->max, memory_order_relaxed))
        atomic_store_explicit(&h->max, v, memory_order_relaxed);
    /* Count last, so a reader that sees count n sees at least n samples. */
    atomic_store_explicit(&h->count, atomic_load_explicit(&h->count, memory_order_relaxed) + 1,
                          memory_order_release);
}

/* Lowest value that falls into bucket i. */
uint64_t desk_hist_bucket_low(uint32_t i);

/*
 * The value at quantile q in [0, 1] (0.5 = p50, 0.999 = p99.9): the upper
 * edge of the bucket holding that rank, capped at max, so the figure is
 * never optimistic.  0 if the histogram is empty.  Any thread.
 */
uint64_t desk_hist_quantile(const desk_hist_t *h, double q);

/* Zero every counter.  Owner thread only (or before the owner starts). */
void desk_hist_reset(desk_hist_t *h);

#ifdef __cplusplus
}
#endif

#endif /* DESK_HIST_H */
