/*
 * alpaca_session_test.c - the alpaca connector's pure parts
 * (connectors/alpaca/session.h, desk__ internals):
 *   - the ClOrdID map (open addressing, backward-shift deletion) against a
 *     reference model under random put/get/del, over several capacities,
 *     including full tables and clustered keys;
 *   - the ambiguous-outcome table: classification of HTTP answers and the
 *     next step of a POST/PATCH for every outcome and attempt count;
 *   - URL parsing for base_url / stream_url;
 *   - create() option validation: unknown keys, literal credentials, bad
 *     URLs, a venue type other than equities;
 *   - restart recovery of a request in flight: which venue answers settle
 *     it and which are asked again, and the backoff between asks.
 * The connector's I/O paths are covered end to end by
 * tests/integration/alpaca_e2e_test.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors/alpaca/codec.h"
#include "connectors/alpaca/session.h"
#include "core/err.h"
#include "core/host.h"

#define NONE UINT32_MAX

/* ------------------------------------------------------------------ map */

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Random operations against a plain array model, for each capacity. */
static void test_map_model(void **state)
{
    (void)state;
    static const uint32_t caps[] = {2, 4, 8, 64, 1024};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        uint32_t cap = caps[c];
        void *mem = aligned_alloc(8, desk__alpaca_map_bytes(cap));
        desk__alpaca_map_t m;
        uint64_t keys[1024];
        uint32_t vals[1024];
        uint32_t n = 0;

        assert_int_equal(desk__alpaca_map_init(&m, mem, cap), 0);
        /* Keys from a small range so that clusters, collisions and deletions
         * inside clusters happen all the time. */
        uint64_t base = 1795242037926470ull; /* like desk's wall-clock ClOrdIDs */
        for (int op = 0; op < 200000; op++) {
            uint64_t k = base + rnd() % (2 * cap + 3);
            int r = (int)(rnd() % 3);
            uint32_t at = NONE;
            for (uint32_t i = 0; i < n; i++)
                if (keys[i] == k)
                    at = i;
            if (r == 0) {
                uint32_t v = (uint32_t)rnd();
                int rc = desk__alpaca_map_put(&m, k, v);
                if (at != NONE) {
                    assert_int_equal(rc, -EEXIST);
                } else if (n >= cap - 1) {
                    assert_int_equal(rc, -ENOSPC); /* one cell stays free */
                } else {
                    assert_int_equal(rc, 0);
                    keys[n] = k;
                    vals[n++] = v;
                }
            } else if (r == 1) {
                int rc = desk__alpaca_map_del(&m, k);
                if (at == NONE) {
                    assert_int_equal(rc, -ENOENT);
                } else {
                    assert_int_equal(rc, 0);
                    keys[at] = keys[--n];
                    vals[at] = vals[n];
                }
            } else {
                assert_int_equal(desk__alpaca_map_get(&m, k), at == NONE ? NONE : vals[at]);
            }
            assert_int_equal(m.n, n);
        }
        /* Every key still findable, every absent one absent. */
        for (uint32_t i = 0; i < n; i++)
            assert_int_equal(desk__alpaca_map_get(&m, keys[i]), vals[i]);
        free(mem);
    }
}

static void test_map_edges(void **state)
{
    (void)state;
    uint64_t mem[64];
    desk__alpaca_map_t m;

    assert_int_equal(desk__alpaca_map_init(&m, mem, 3), -EINVAL);
    assert_int_equal(desk__alpaca_map_init(&m, mem, 1), -EINVAL);
    assert_int_equal(desk__alpaca_map_init(&m, mem, 16), 0);
    assert_int_equal(desk__alpaca_map_put(&m, 0, 1), -EINVAL); /* 0 marks empty cells */
    assert_int_equal(desk__alpaca_map_get(&m, 0), NONE);
    assert_int_equal(desk__alpaca_map_del(&m, 0), -ENOENT);
    for (uint64_t k = 1; k <= 15; k++)
        assert_int_equal(desk__alpaca_map_put(&m, k, (uint32_t)k * 10), 0);
    assert_int_equal(desk__alpaca_map_put(&m, 99, 1), -ENOSPC);
    for (uint64_t k = 1; k <= 15; k += 2)
        assert_int_equal(desk__alpaca_map_del(&m, k), 0);
    for (uint64_t k = 1; k <= 15; k++)
        assert_int_equal(desk__alpaca_map_get(&m, k), k % 2 ? NONE : (uint32_t)k * 10);
}

/* --------------------------------------------- ambiguous outcomes table */

static void test_classify(void **state)
{
    (void)state;
    /* POST/PATCH/DELETE answers. */
    assert_int_equal(desk__alpaca_classify(200, 1, 0), DESK__ALP_OK);
    assert_int_equal(desk__alpaca_classify(204, 1, 0), DESK__ALP_OK);
    assert_int_equal(desk__alpaca_classify(200, 0, 0), DESK__ALP_AMBIGUOUS); /* cut body */
    assert_int_equal(desk__alpaca_classify(0, 0, 0), DESK__ALP_AMBIGUOUS);   /* no answer */
    assert_int_equal(desk__alpaca_classify(500, 1, 0), DESK__ALP_AMBIGUOUS);
    assert_int_equal(desk__alpaca_classify(503, 0, 0), DESK__ALP_AMBIGUOUS);
    assert_int_equal(desk__alpaca_classify(429, 0, 0), DESK__ALP_THROTTLED);
    assert_int_equal(desk__alpaca_classify(422, 0, 0), DESK__ALP_REFUSED);
    assert_int_equal(desk__alpaca_classify(403, 0, 0), DESK__ALP_REFUSED);
    assert_int_equal(desk__alpaca_classify(404, 0, 0), DESK__ALP_REFUSED);
    assert_int_equal(desk__alpaca_classify(301, 0, 0), DESK__ALP_AMBIGUOUS);
    /* The settling GET by client_order_id. */
    assert_int_equal(desk__alpaca_classify(200, 1, 1), DESK__ALP_FOUND);
    assert_int_equal(desk__alpaca_classify(404, 0, 1), DESK__ALP_NOT_FOUND);
    assert_int_equal(desk__alpaca_classify(200, 0, 1), DESK__ALP_AMBIGUOUS);
    assert_int_equal(desk__alpaca_classify(502, 0, 1), DESK__ALP_AMBIGUOUS);
    assert_int_equal(desk__alpaca_classify(429, 0, 1), DESK__ALP_THROTTLED);
}

static void test_next(void **state)
{
    (void)state;
    for (unsigned max = 1; max <= 5; max++)
        for (unsigned att = 1; att <= max + 1; att++) {
            /* Success: live.  A timeout or 5xx is never a reject. */
            assert_int_equal(desk__alpaca_next(DESK__ALP_OK, att, max), DESK__ALP_LIVE);
            assert_int_equal(desk__alpaca_next(DESK__ALP_FOUND, att, max), DESK__ALP_LIVE);
            assert_int_equal(desk__alpaca_next(DESK__ALP_AMBIGUOUS, att, max), DESK__ALP_SETTLE);
            assert_int_equal(desk__alpaca_next(DESK__ALP_THROTTLED, att, max), DESK__ALP_RESEND);
            /* A refusal is final only for the first send: a resend may have
             * hit "client_order_id must be unique" after an earlier one
             * landed. */
            assert_int_equal(desk__alpaca_next(DESK__ALP_REFUSED, att, max),
                             att == 1 ? DESK__ALP_REJECT : DESK__ALP_SETTLE);
            /* Not at the venue: send again until the attempts run out. */
            assert_int_equal(desk__alpaca_next(DESK__ALP_NOT_FOUND, att, max),
                             att < max ? DESK__ALP_RESEND : DESK__ALP_REJECT);
        }
}

/* A whole ambiguous story through the table: a POST times out, the GET
 * finds nothing, the resend lands (or is refused as a duplicate because the
 * first landed late), and the settle finds it: never two orders, never a
 * reject of an order the venue has. */
static void test_story(void **state)
{
    (void)state;
    unsigned att = 1, max = 3;
    assert_int_equal(desk__alpaca_next(desk__alpaca_classify(0, 0, 0), att, max), DESK__ALP_SETTLE);
    assert_int_equal(desk__alpaca_next(desk__alpaca_classify(404, 0, 1), att, max),
                     DESK__ALP_RESEND);
    att++;
    assert_int_equal(desk__alpaca_next(desk__alpaca_classify(422, 0, 0), att, max),
                     DESK__ALP_SETTLE);
    assert_int_equal(desk__alpaca_next(desk__alpaca_classify(200, 1, 1), att, max), DESK__ALP_LIVE);
}

/* ---------------------------------------- recovery: a request pending */


#define SEC 1000000000ull

/* Which answers settle a recovered order with a request in flight, and which
 * must be asked again: never an outcome told while the venue is working. */
static void test_rec_pending(void **state)
{
    (void)state;
    /* The replace is pending: the replacement exists and is not final. */
    static const unsigned pend_r[] = {DESK_ALPACA_ST_ACCEPTED, DESK_ALPACA_ST_PENDING_NEW,
                                      DESK_ALPACA_ST_NEW, DESK_ALPACA_ST_PENDING_REPLACE};
    for (size_t k = 0; k < sizeof pend_r / sizeof pend_r[0]; k++) {
        assert_int_equal(desk__alpaca_rec_pending(DESK_ALPACA_ST_NEW, 1, pend_r[k]), 1);
        assert_int_equal(desk__alpaca_rec_pending(DESK_ALPACA_ST_PENDING_REPLACE, 1, pend_r[k]),
                         1);
        /* Replaced: a final answer, whatever the replacement's state. */
        assert_int_equal(desk__alpaca_rec_pending(DESK_ALPACA_ST_REPLACED, 1, pend_r[k]), 0);
    }
    /* The old order pending_replace or pending_cancel: a 404 of the new
     * client_order_id (or a cancel's number, never sent) is no answer yet. */
    assert_int_equal(desk__alpaca_rec_pending(DESK_ALPACA_ST_PENDING_REPLACE, 0, 0), 1);
    assert_int_equal(desk__alpaca_rec_pending(DESK_ALPACA_ST_PENDING_CANCEL, 0, 0), 1);
    assert_int_equal(
        desk__alpaca_rec_pending(DESK_ALPACA_ST_PENDING_CANCEL, 1, DESK_ALPACA_ST_REJECTED), 1);
    /* Settled: 404 with the old order no longer pending (CANCEL_REJECT),
     * the replacement rejected, or the old order final. */
    assert_int_equal(desk__alpaca_rec_pending(DESK_ALPACA_ST_NEW, 0, 0), 0);
    assert_int_equal(desk__alpaca_rec_pending(DESK_ALPACA_ST_PARTIALLY_FILLED, 0, 0), 0);
    assert_int_equal(desk__alpaca_rec_pending(DESK_ALPACA_ST_NEW, 1, DESK_ALPACA_ST_REJECTED), 0);
    assert_int_equal(desk__alpaca_rec_pending(DESK_ALPACA_ST_CANCELED, 0, 0), 0);
    assert_int_equal(desk__alpaca_rec_pending(DESK_ALPACA_ST_FILLED, 1, DESK_ALPACA_ST_NEW), 0);
}

/* The backoff: 200 ms doubling to 5 s, never 0, never more. */
static void test_rec_backoff(void **state)
{
    (void)state;
    assert_int_equal(desk__alpaca_rec_backoff_ns(0), 200000000ull);
    assert_int_equal(desk__alpaca_rec_backoff_ns(1), 400000000ull);
    assert_int_equal(desk__alpaca_rec_backoff_ns(4), 3200000000ull);
    for (unsigned t = 5; t < 300; t++)
        assert_int_equal(desk__alpaca_rec_backoff_ns(t), 5 * SEC);
    for (unsigned t = 1; t < 300; t++)
        assert_true(desk__alpaca_rec_backoff_ns(t) >= desk__alpaca_rec_backoff_ns(t - 1));
}

/* The reviewer's story: the replacement stays pending_new for 30 s of venue
 * time (the old rule gave up after 20 asks, about 4 s, and told
 * CANCEL_REJECT), then the old order is replaced.  Every answer before that
 * must say "ask again", and the one after it must settle. */
static void test_rec_slow_replace(void **state)
{
    (void)state;
    uint64_t t = 0;
    unsigned tries = 0;
    while (t < 30 * SEC) {
        assert_int_equal(desk__alpaca_rec_pending(DESK_ALPACA_ST_PENDING_REPLACE, 1,
                                                  DESK_ALPACA_ST_PENDING_NEW),
                         1);
        assert_int_equal(desk__alpaca_rec_pending(DESK_ALPACA_ST_NEW, 1, DESK_ALPACA_ST_ACCEPTED),
                         1);
        t += desk__alpaca_rec_backoff_ns(tries++);
    }
    assert_true(tries > 5 && tries < 20); /* backed off, not 150 asks at 200 ms */
    assert_int_equal(desk__alpaca_rec_pending(DESK_ALPACA_ST_REPLACED, 1, DESK_ALPACA_ST_NEW), 0);
}

/* ----------------------------------------------------------------- URLs */

static void test_urls(void **state)
{
    (void)state;
    char h[64], p[64];
    uint16_t port = 0;

    assert_int_equal(desk__alpaca_parse_url("https://paper-api.alpaca.markets", "https", h,
                                            sizeof h, &port, p, sizeof p),
                     0);
    assert_string_equal(h, "paper-api.alpaca.markets");
    assert_int_equal(port, 443);
    assert_string_equal(p, "");
    assert_int_equal(
        desk__alpaca_parse_url("https://127.0.0.1:8443/", "https", h, sizeof h, &port, p, sizeof p),
        0);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(port, 8443);
    assert_string_equal(p, "");
    assert_int_equal(
        desk__alpaca_parse_url("wss://[::1]:9000/stream", "wss", h, sizeof h, &port, p, sizeof p),
        0);
    assert_string_equal(h, "::1");
    assert_int_equal(port, 9000);
    assert_string_equal(p, "/stream");
    assert_int_equal(desk__alpaca_parse_url("WSS://paper-api.alpaca.markets/stream", "wss", h,
                                            sizeof h, &port, p, sizeof p),
                     0);
    static const char *const bad[] = {
        "http://paper-api.alpaca.markets", /* not TLS */
        "https://",                        /* no host */
        "https://h:0",                     /* port 0 */
        "https://h:65536",                 /* port too large */
        "https://h:12x",                   /* junk after the port */
        "https://h/a b",                   /* space in the path */
        "https://h/p?q=1",                 /* a query */
        "https://user@h",                  /* credentials in the URL */
        "paper-api.alpaca.markets",        /* no scheme */
        "https://[::1",                    /* unclosed bracket */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (desk__alpaca_parse_url(bad[i], "https", h, sizeof h, &port, p, sizeof p) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    char small[4];
    assert_int_equal(desk__alpaca_parse_url("https://longhost", "https", small, sizeof small, &port,
                                            p, sizeof p),
                     -EINVAL);
}

/* --------------------------------------------------------------- create */

/* create() outside deskd: a zeroed host has no instruments, which is all
 * create() asks of it. */
static struct desk_host g_host;

static int create_with(const desk_opt_t *opts, uint32_t n, uint8_t vt)
{
    desk_connector_cfg_t cfg = {.name = "alp",
                                .type = "alpaca",
                                .venue_type = vt,
                                .opts = opts,
                                .nopts = n,
                                .config_dir = "/tmp"};
    void *self = NULL;
    int rc = desk_alpaca_ops()->create(&cfg, &g_host, &self);
    if (rc == 0) {
        assert_non_null(self);
        desk_alpaca_ops()->destroy(self);
    }
    return rc;
}

#define KEY                                                                                        \
    {                                                                                              \
        "api_key_id", "k", 3, 1                                                                    \
    }
#define SECRET                                                                                     \
    {                                                                                              \
        "api_secret_key", "s", 4, 1                                                                \
    }

static void expect_create(const desk_opt_t *o, uint32_t n, uint8_t vt, int rc, const char *msg)
{
    int got = create_with(o, n, vt);
    if (got != rc)
        fail_msg("create: %d, expected %d (%s)", got, rc, desk_errmsg());
    if (msg && strstr(desk_errmsg(), msg) == NULL)
        fail_msg("create: message '%s' lacks '%s'", desk_errmsg(), msg);
}

static void test_create_options(void **state)
{
    (void)state;
    const desk_opt_t ok[] = {KEY,
                             SECRET,
                             {"base_url", "https://127.0.0.1:8443", 5, 0},
                             {"request_timeout_ms", "1500", 6, 0},
                             {"pool_size", "3", 7, 0},
                             {"stream_url", "wss://127.0.0.1:8443/stream", 8, 0}};
    expect_create(ok, 6, DESK_VENUE_EQUITIES, 0, NULL);
    expect_create(ok, 2, DESK_VENUE_EQUITIES, 0, NULL); /* the paper endpoint by default */

    const desk_opt_t unknown[] = {KEY, SECRET, {"sped", "1", 9, 0}};
    expect_create(unknown, 3, DESK_VENUE_EQUITIES, -EINVAL, "unknown alpaca option 'sped'");
    const desk_opt_t literal[] = {{"api_key_id", "AKXXXX", 3, 0}, SECRET};
    expect_create(literal, 2, DESK_VENUE_EQUITIES, -EINVAL, "credential reference");
    const desk_opt_t nokey[] = {SECRET};
    expect_create(nokey, 1, DESK_VENUE_EQUITIES, -EINVAL, "required");
    const desk_opt_t http[] = {KEY, SECRET, {"base_url", "http://paper-api.alpaca.markets", 5, 0}};
    expect_create(http, 3, DESK_VENUE_EQUITIES, -EINVAL, "base_url");
    const desk_opt_t badv[] = {KEY, SECRET, {"request_timeout_ms", "soon", 6, 0}};
    expect_create(badv, 3, DESK_VENUE_EQUITIES, -EINVAL, "'request_timeout_ms'");
    const desk_opt_t pool[] = {KEY, SECRET, {"pool_size", "9", 6, 0}};
    expect_create(pool, 3, DESK_VENUE_EQUITIES, -EINVAL, "'pool_size'");
    const desk_opt_t ws[] = {KEY, SECRET, {"stream_url", "https://h/stream", 6, 0}};
    expect_create(ws, 3, DESK_VENUE_EQUITIES, -EINVAL, "stream_url");
    expect_create(ok, 2, DESK_VENUE_CRYPTO, -EINVAL, "equities");
    assert_string_equal(desk_alpaca_ops()->type, "alpaca");
    assert_int_equal(desk_alpaca_ops()->abi, DESK_CONNECTOR_ABI);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_model),      cmocka_unit_test(test_map_edges),
        cmocka_unit_test(test_classify),       cmocka_unit_test(test_next),
        cmocka_unit_test(test_story),          cmocka_unit_test(test_urls),
        cmocka_unit_test(test_create_options), cmocka_unit_test(test_rec_pending),
        cmocka_unit_test(test_rec_backoff),    cmocka_unit_test(test_rec_slow_replace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
