/*
 * kern_hist.c - desk's own latency histogram (core/hist.h: log-linear,
 * buckets at most 3.1% wide, quantiles read at the bucket's upper edge so a
 * figure is never optimistic) behind a C API the C++ benchmarks can call.
 */
#include "kern.h"

#include <stdlib.h>

#include "core/hist.h"

struct bk_hist {
    desk_hist_t h; /* desk's histogram, owned by the thread that adds */
};

bk_hist_t *bk_hist_create(void)
{
    bk_hist_t *h = calloc(1, sizeof *h);

    return h;
}

void bk_hist_destroy(bk_hist_t *h)
{
    free(h);
}

void bk_hist_reset(bk_hist_t *h)
{
    desk_hist_reset(&h->h);
}

void bk_hist_add(bk_hist_t *h, uint64_t ns)
{
    desk_hist_record(&h->h, ns);
}

void bk_hist_add_ticks(bk_hist_t *h, const uint64_t *ticks, size_t n, double ns_per_tick,
                       double scale)
{
    for (size_t i = 0; i < n; i++)
        desk_hist_record(&h->h, (uint64_t)((double)ticks[i] * ns_per_tick * scale + 0.5));
}

uint64_t bk_hist_quantile(const bk_hist_t *h, double q)
{
    return desk_hist_quantile(&h->h, q);
}

uint64_t bk_hist_max(const bk_hist_t *h)
{
    return atomic_load_explicit(&h->h.max, memory_order_relaxed);
}

uint64_t bk_hist_count(const bk_hist_t *h)
{
    return atomic_load_explicit(&h->h.count, memory_order_relaxed);
}
