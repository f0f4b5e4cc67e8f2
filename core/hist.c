/* hist.c - reader side of the log-linear histogram; see hist.h. */
#include "hist.h"

#include <string.h>

uint64_t desk_hist_bucket_low(uint32_t i)
{
    if (i < DESK_HIST_SUB)
        return i;
    uint32_t e = i / DESK_HIST_SUB + DESK_HIST_SUB_BITS - 1;
    uint64_t sub = i % DESK_HIST_SUB;
    return (1ull << e) | (sub << (e - DESK_HIST_SUB_BITS));
}

uint64_t desk_hist_quantile(const desk_hist_t *h, double q)
{
    /* Acquire pairs with the release of count in desk_hist_record(). */
    uint64_t n = atomic_load_explicit(&h->count, memory_order_acquire);
    uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);

    if (n == 0)
        return 0;
    if (!(q >= 0)) /* also NaN */
        q = 0;
    if (q > 1)
        q = 1;
    /* Rank of the sample at q, 1-based, rounded up: p99.9 of 1000 samples is
     * the 999th. */
    uint64_t rank = (uint64_t)(q * (double)n);
    if ((double)rank < q * (double)n)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < DESK_HIST_NBUCKETS; i++) {
        seen += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        if (seen >= rank) {
            uint64_t hi = i + 1 < DESK_HIST_NBUCKETS ? desk_hist_bucket_low(i + 1) - 1 : UINT64_MAX;
            return hi < max ? hi : max;
        }
    }
    return max;
}

void desk_hist_reset(desk_hist_t *h)
{
    atomic_store_explicit(&h->count, 0, memory_order_relaxed);
    atomic_store_explicit(&h->sum, 0, memory_order_relaxed);
    atomic_store_explicit(&h->max, 0, memory_order_relaxed);
    for (uint32_t i = 0; i < DESK_HIST_NBUCKETS; i++)
        atomic_store_explicit(&h->bucket[i], 0, memory_order_relaxed);
}
