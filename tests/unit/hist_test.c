/*
 * hist_test.c - the log-linear latency histogram (core/hist.h).
 *
 * Pins the bucket arithmetic (every value falls in the bucket whose bounds
 * contain it, buckets tile 0 .. UINT64_MAX with no gap, overlap or width
 * above 1/32 of their value) and the quantile contract: within 3.2% of the
 * true value, never below it, capped at the largest sample, 0 when empty.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/hist.h"

/* low(index(v)) <= v < low(index(v) + 1), with the last bucket open above. */
static void check_value(uint64_t v)
{
    uint32_t i = desk_hist_index(v);

    if (i >= DESK_HIST_NBUCKETS)
        fail_msg("index(%llu) = %u is out of range", (unsigned long long)v, i);
    uint64_t lo = desk_hist_bucket_low(i);
    if (lo > v)
        fail_msg("value %llu: bucket %u starts at %llu", (unsigned long long)v, i,
                 (unsigned long long)lo);
    if (i + 1 < DESK_HIST_NBUCKETS && v >= desk_hist_bucket_low(i + 1))
        fail_msg("value %llu: bucket %u ends at %llu", (unsigned long long)v, i,
                 (unsigned long long)desk_hist_bucket_low(i + 1));
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/* Every bucket: its low maps back to it, buckets are contiguous and their
 * width is at most 1/32 of their low bound (exact below 32). */
static void test_buckets(void **state)
{
    (void)state;
    assert_int_equal(desk_hist_bucket_low(0), 0);
    assert_int_equal(desk_hist_index(0), 0);
    assert_int_equal(desk_hist_index(UINT64_MAX), DESK_HIST_NBUCKETS - 1);
    for (uint32_t i = 0; i < DESK_HIST_NBUCKETS; i++) {
        uint64_t lo = desk_hist_bucket_low(i);
        assert_int_equal(desk_hist_index(lo), i);
        if (i + 1 < DESK_HIST_NBUCKETS) {
            uint64_t next = desk_hist_bucket_low(i + 1);
            assert_true(next > lo);
            assert_int_equal(desk_hist_index(next - 1), i); /* no gap */
            if (i < DESK_HIST_SUB)
                assert_int_equal(next - lo, 1);             /* exact below 32 */
            else
                assert_true((next - lo) * DESK_HIST_SUB <= lo); /* width <= 1/32 */
        }
        check_value(lo);
        if (lo > 0)
            check_value(lo - 1);
    }
}

/* A sweep of values: all of 0 .. 100000, both sides of every power of two,
 * UINT64_MAX and random values of every magnitude. */
static void test_index_sweep(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull;

    (void)state;
    for (uint64_t v = 0; v <= 100000; v++)
        check_value(v);
    static const uint64_t fixed[] = {0, 1, 31, 32, 33, 63, 64, 65, 1000, 999999,
                                     UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        check_value(fixed[i]);
    assert_int_equal(desk_hist_index(31), 31);
    assert_int_equal(desk_hist_index(32), 32);
    for (int e = 0; e < 64; e++) {
        uint64_t p = 1ull << e;
        check_value(p);
        check_value(p - 1);
        check_value(p + 1);
        check_value(p | (p >> 1));
        check_value(p + (p - 1)); /* all ones below and at e */
    }
    for (int i = 0; i < 1000000; i++)
        check_value(rnd(&seed) >> (rnd(&seed) % 64));
}

/* The true quantile of sorted samples, with the same rank rule as hist.h. */
static uint64_t true_quantile(const uint64_t *sorted, size_t n, double q)
{
    uint64_t rank = (uint64_t)(q * (double)n);

    if ((double)rank < q * (double)n)
        rank++;
    if (rank == 0)
        rank = 1;
    return sorted[rank - 1];
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Record the samples and check several quantiles: never below the truth,
 * at most 3.2% above it (exact below 32), never above the max. */
static void check_distribution(const char *name, uint64_t *v, size_t n)
{
    static const double qs[] = {0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0};
    desk_hist_t *h = calloc(1, sizeof *h);
    uint64_t max = 0;

    assert_non_null(h);
    for (size_t i = 0; i < n; i++) {
        desk_hist_record(h, v[i]);
        if (v[i] > max)
            max = v[i];
    }
    assert_int_equal(atomic_load_explicit(&h->count, memory_order_relaxed), n);
    assert_int_equal(atomic_load_explicit(&h->max, memory_order_relaxed), max);
    qsort(v, n, sizeof v[0], cmp_u64);
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        uint64_t want = true_quantile(v, n, qs[k]);
        uint64_t got = desk_hist_quantile(h, qs[k]);
        if (got < want || (double)(got - want) > 0.032 * (double)want || got > max)
            fail_msg("%s: q=%g gives %llu, true %llu, max %llu", name, qs[k],
                     (unsigned long long)got, (unsigned long long)want,
                     (unsigned long long)max);
    }
    free(h);
}

static void test_quantiles(void **state)
{
    size_t n = 1000;
    uint64_t *v = calloc(200000, sizeof *v);
    desk_hist_t *h = calloc(1, sizeof *h);
    uint64_t seed = 42;

    (void)state;
    assert_non_null(v);
    assert_non_null(h);
    /* 1..1000 uniform, the case of the brief. */
    for (uint64_t i = 1; i <= 1000; i++)
        desk_hist_record(h, i);
    uint64_t p50 = desk_hist_quantile(h, 0.5), p999 = desk_hist_quantile(h, 0.999);
    assert_true(p50 >= 500 && (double)p50 <= 500 * 1.032);
    assert_true(p999 >= 999 && (double)p999 <= 999 * 1.032);
    assert_int_equal(desk_hist_quantile(h, 1.0), 1000);
    assert_int_equal(desk_hist_quantile(h, 0.0), 1);
    assert_int_equal(desk_hist_quantile(h, -1.0), 1);   /* clamped to 0 */
    assert_int_equal(desk_hist_quantile(h, 2.0), 1000); /* clamped to 1 */
    assert_int_equal(atomic_load_explicit(&h->sum, memory_order_relaxed), 500500);

    for (uint64_t i = 0; i < n; i++)
        v[i] = i + 1;
    check_distribution("uniform 1..1000", v, n);
    /* Latency-like: 99% near 20 us, 1% tail up to 5 ms. */
    n = 200000;
    for (size_t i = 0; i < n; i++)
        v[i] = (rnd(&seed) % 100 == 0) ? 100000 + rnd(&seed) % 4900000 : 18000 + rnd(&seed) % 4000;
    check_distribution("bimodal latency", v, n);
    /* Wide: log-uniform over 1 ns .. 2^60 ns. */
    for (size_t i = 0; i < n; i++)
        v[i] = 1 + (rnd(&seed) >> (rnd(&seed) % 60 + 4));
    check_distribution("log-uniform", v, n);
    /* Small values are exact. */
    for (size_t i = 0; i < 1000; i++)
        v[i] = i % 32;
    check_distribution("small", v, 1000);
    /* Huge values, up to UINT64_MAX. */
    for (size_t i = 0; i < 1000; i++)
        v[i] = UINT64_MAX - i * 1000003ull;
    check_distribution("huge", v, 1000);
    free(h);
    free(v);
}

/* Empty is 0; one sample is exact whatever its bucket (capped at max);
 * reset empties. */
static void test_empty_max_reset(void **state)
{
    desk_hist_t *h = calloc(1, sizeof *h);

    (void)state;
    assert_non_null(h);
    assert_int_equal(desk_hist_quantile(h, 0.5), 0);
    assert_int_equal(desk_hist_quantile(h, 0.999), 0);
    assert_int_equal(desk_hist_quantile(h, 1.0), 0);
    /* 1000 lies in bucket [992, 1008): the upper edge 1007 is capped at 1000. */
    desk_hist_record(h, 1000);
    assert_int_equal(desk_hist_quantile(h, 0.5), 1000);
    assert_int_equal(desk_hist_quantile(h, 1.0), 1000);
    /* A second, larger sample: p50 is the first one's bucket edge, capped
     * by nothing but still within 3.2% and not below 1000. */
    desk_hist_record(h, 5000000);
    uint64_t p50 = desk_hist_quantile(h, 0.5);
    assert_true(p50 >= 1000 && p50 <= 1032);
    assert_int_equal(desk_hist_quantile(h, 1.0), 5000000);
    desk_hist_record(h, UINT64_MAX);
    assert_int_equal(desk_hist_quantile(h, 1.0), UINT64_MAX);
    desk_hist_reset(h);
    assert_int_equal(atomic_load_explicit(&h->count, memory_order_relaxed), 0);
    assert_int_equal(atomic_load_explicit(&h->max, memory_order_relaxed), 0);
    assert_int_equal(atomic_load_explicit(&h->sum, memory_order_relaxed), 0);
    for (uint32_t i = 0; i < DESK_HIST_NBUCKETS; i++)
        assert_int_equal(atomic_load_explicit(&h->bucket[i], memory_order_relaxed), 0);
    assert_int_equal(desk_hist_quantile(h, 0.5), 0);
    desk_hist_record(h, 0);
    assert_int_equal(desk_hist_quantile(h, 0.5), 0);
    assert_int_equal(atomic_load_explicit(&h->count, memory_order_relaxed), 1);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_index_sweep),
        cmocka_unit_test(test_quantiles),
        cmocka_unit_test(test_empty_max_reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
