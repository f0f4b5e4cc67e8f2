/*
 * health_test.c - circuit breaker and rate limiter (connectors/net/health.h)
 * on simulated time.
 *
 * Breaker: every transition of the state machine in health.h, including the
 * half-open probe (granted once, success closes, failure or silence
 * re-opens), missed heartbeats, bans and the link's DOWN overriding all.
 * Rate limiter: exact token counts over simulated windows for several venue
 * limits, Retry-After blocking, and 429s counted into the breaker.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "connectors/net/health.h"
#include "core/err.h"

#define S(x) ((uint64_t)(x) * 1000000000ull)
#define MS(x) ((uint64_t)(x) * 1000000ull)

static void assert_reason_has(const desk_breaker_t *b, const char *needle)
{
    if (strstr(desk_breaker_reason(b), needle) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", desk_breaker_reason(b), needle);
}

/* N consecutive failures open it; a success in between resets the count;
 * cool-down, one probe, probe failure re-opens, probe success closes. */
static void test_breaker_failures(void **state)
{
    desk_breaker_t b;
    desk_breaker_cfg_t cfg = {.fail_threshold = 3, .cooldown_ns = S(10)};
    uint64_t t = S(1000);

    (void)state;
    assert_int_equal(desk_breaker_init(&b, &cfg, t), 0);
    assert_int_equal(desk_breaker_health(&b), DESK_DOWN);
    assert_int_equal(desk_breaker_allow(&b, t), 0); /* link down: nothing goes out */
    desk_breaker_link(&b, 1, t, NULL);
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
    assert_string_equal(desk_breaker_reason(&b), "");
    assert_int_equal(desk_breaker_allow(&b, t), 1);

    desk_breaker_failure(&b, t, "HTTP 500");
    desk_breaker_failure(&b, t, "HTTP 500");
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
    desk_breaker_success(&b, t); /* resets the run */
    desk_breaker_failure(&b, t, "HTTP 500");
    desk_breaker_failure(&b, t, "HTTP 500");
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
    uint32_t v = b.version;
    desk_breaker_failure(&b, t, "HTTP 503");
    assert_int_equal(desk_breaker_health(&b), DESK_DEGRADED);
    assert_int_equal(b.state, DESK_BREAKER_OPEN);
    assert_true(b.version != v);
    assert_reason_has(&b, "3 failures");
    assert_reason_has(&b, "HTTP 503");

    /* OPEN: nothing allowed during the cool-down, a success changes nothing. */
    assert_int_equal(desk_breaker_allow(&b, t + S(10) - 1), 0);
    desk_breaker_success(&b, t + S(5));
    assert_int_equal(b.state, DESK_BREAKER_OPEN);
    /* Cool-down over: exactly one probe. */
    assert_int_equal(desk_breaker_allow(&b, t + S(10)), 1);
    assert_int_equal(b.state, DESK_BREAKER_HALF_OPEN);
    assert_int_equal(desk_breaker_health(&b), DESK_DEGRADED);
    assert_int_equal(desk_breaker_allow(&b, t + S(10)), 0);
    assert_int_equal(desk_breaker_allow(&b, t + S(11)), 0);
    /* The probe fails: open again for a full cool-down. */
    desk_breaker_failure(&b, t + S(11), "timeout");
    assert_int_equal(b.state, DESK_BREAKER_OPEN);
    assert_reason_has(&b, "probe failed");
    assert_int_equal(desk_breaker_allow(&b, t + S(20)), 0);
    /* tick moves it to HALF_OPEN; the next allow is the probe. */
    desk_breaker_tick(&b, t + S(21));
    assert_int_equal(b.state, DESK_BREAKER_HALF_OPEN);
    assert_int_equal(desk_breaker_allow(&b, t + S(21)), 1);
    desk_breaker_success(&b, t + S(21));
    assert_int_equal(b.state, DESK_BREAKER_CLOSED);
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
    assert_string_equal(desk_breaker_reason(&b), "");
    assert_int_equal(b.opens, 2);
    /* Closed again: a fresh run of failures is needed to open it. */
    desk_breaker_failure(&b, t + S(22), "x");
    desk_breaker_failure(&b, t + S(22), "x");
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
}

/* The link: DOWN with its reason overrides the breaker; an open breaker
 * survives a reconnect (DEGRADED, not UP). */
static void test_breaker_link(void **state)
{
    desk_breaker_t b;
    desk_breaker_cfg_t cfg = {.fail_threshold = 1, .cooldown_ns = S(5)};

    (void)state;
    desk_breaker_init(&b, &cfg, 0);
    assert_string_equal(desk_breaker_reason(&b), "not connected");
    desk_breaker_link(&b, 1, S(1), NULL);
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
    desk_breaker_link(&b, 0, S(2), "connection reset by peer");
    assert_int_equal(desk_breaker_health(&b), DESK_DOWN);
    assert_string_equal(desk_breaker_reason(&b), "connection reset by peer");
    desk_breaker_link(&b, 1, S(3), NULL);
    desk_breaker_failure(&b, S(3), "reject storm");
    assert_int_equal(desk_breaker_health(&b), DESK_DEGRADED);
    desk_breaker_link(&b, 0, S(4), NULL);
    assert_int_equal(desk_breaker_health(&b), DESK_DOWN);
    desk_breaker_link(&b, 1, S(4), NULL);
    assert_int_equal(desk_breaker_health(&b), DESK_DEGRADED);
    assert_reason_has(&b, "breaker open");
    /* A probe granted before a link loss is void: the next link gets one. */
    assert_int_equal(desk_breaker_allow(&b, S(8)), 1);
    desk_breaker_link(&b, 0, S(8), NULL);
    desk_breaker_link(&b, 1, S(9), NULL);
    assert_int_equal(desk_breaker_allow(&b, S(9)), 1);
    desk_breaker_success(&b, S(9));
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
    /* A long reason is cut, not overflowed. */
    char lng[200];
    memset(lng, 'r', sizeof lng - 1);
    lng[sizeof lng - 1] = '\0';
    desk_breaker_link(&b, 0, S(10), lng);
    assert_int_equal(strlen(desk_breaker_reason(&b)), DESK_HEALTH_REASON_MAX - 1);
}

/* A missed heartbeat degrades; a heartbeat after the cool-down restores. */
static void test_breaker_heartbeat(void **state)
{
    desk_breaker_t b;
    desk_breaker_cfg_t cfg = {.heartbeat_ns = S(5), .cooldown_ns = S(3)};
    uint64_t t = S(100);

    (void)state;
    desk_breaker_init(&b, &cfg, 0);
    desk_breaker_link(&b, 1, t, NULL);
    for (int i = 1; i <= 10; i++) { /* heartbeats every 4 s keep it UP */
        desk_breaker_tick(&b, t + S(4) * (uint64_t)i - 1);
        desk_breaker_heartbeat(&b, t + S(4) * (uint64_t)i);
        assert_int_equal(desk_breaker_health(&b), DESK_UP);
    }
    t += S(40);
    desk_breaker_tick(&b, t + S(5)); /* exactly the limit: still fine */
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
    desk_breaker_tick(&b, t + S(5) + 1);
    assert_int_equal(desk_breaker_health(&b), DESK_DEGRADED);
    assert_string_equal(desk_breaker_reason(&b), "missed heartbeat");
    /* A heartbeat during the cool-down does not close it yet. */
    desk_breaker_heartbeat(&b, t + S(6));
    assert_int_equal(b.state, DESK_BREAKER_OPEN);
    desk_breaker_tick(&b, t + S(9));
    assert_int_equal(b.state, DESK_BREAKER_HALF_OPEN);
    desk_breaker_heartbeat(&b, t + S(9));
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
    /* A clock that goes backwards never counts as silence. */
    desk_breaker_tick(&b, t);
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
}

/* An unanswered probe counts as a failure; a trip (ban) uses its own cool-down. */
static void test_breaker_probe_timeout_and_trip(void **state)
{
    desk_breaker_t b;
    desk_breaker_cfg_t cfg = {.fail_threshold = 1, .cooldown_ns = S(2), .probe_timeout_ns = S(1)};

    (void)state;
    desk_breaker_init(&b, &cfg, 0);
    desk_breaker_link(&b, 1, 0, NULL);
    desk_breaker_failure(&b, 0, "x");
    assert_int_equal(desk_breaker_allow(&b, S(2)), 1);
    desk_breaker_tick(&b, S(3)); /* exactly the timeout: still waiting */
    assert_int_equal(b.state, DESK_BREAKER_HALF_OPEN);
    desk_breaker_tick(&b, S(3) + 1);
    assert_int_equal(b.state, DESK_BREAKER_OPEN);
    assert_string_equal(desk_breaker_reason(&b), "probe unanswered");

    desk_breaker_init(&b, &cfg, 0);
    desk_breaker_link(&b, 1, 0, NULL);
    desk_breaker_trip(&b, S(10), S(60), "IP banned (418)");
    assert_int_equal(desk_breaker_health(&b), DESK_DEGRADED);
    assert_string_equal(desk_breaker_reason(&b), "IP banned (418)");
    assert_int_equal(desk_breaker_allow(&b, S(69)), 0);
    assert_int_equal(desk_breaker_allow(&b, S(70)), 1);
    desk_breaker_success(&b, S(70));
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
}

/* Venue limits the rate limiter is looped over. */
static const struct rl_case {
    uint32_t requests;
    uint64_t window_ns;
    uint32_t burst;
} rl_cases[] = {
    {200, S(60), 0},  /* Alpaca: 200/min */
    {1200, S(60), 50}, /* weight-style limit with a small burst */
    {10, S(1), 1},    /* 10/s, no burst */
    {7, MS(333), 3},  /* awkward numbers: rounding must stay exact */
};

/* Greedy taking over a simulated period gets exactly burst + floor(T*r/w)
 * tokens, never one more; wait_ns predicts the next token to the ns. */
static void test_ratelimit_refill(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof rl_cases / sizeof rl_cases[0]; k++) {
        const struct rl_case *c = &rl_cases[k];
        desk_ratelimit_t rl;
        desk_ratelimit_cfg_t cfg = {.requests = c->requests, .window_ns = c->window_ns,
                                    .burst = c->burst};
        uint64_t t0 = S(5000);
        uint32_t burst = c->burst ? c->burst : c->requests;

        assert_int_equal(desk_ratelimit_init(&rl, &cfg, NULL, t0), 0);
        for (uint32_t i = 0; i < burst; i++)
            assert_int_equal(desk_ratelimit_take(&rl, t0), 0);
        assert_int_equal(desk_ratelimit_take(&rl, t0), -EAGAIN);
        uint64_t w = desk_ratelimit_wait_ns(&rl, t0);
        uint64_t per = (c->window_ns + c->requests - 1) / c->requests;
        assert_int_equal(w, per);
        assert_int_equal(desk_ratelimit_take(&rl, t0 + w - 1), -EAGAIN);
        assert_int_equal(desk_ratelimit_take(&rl, t0 + w), 0);

        /* Greedy over three windows from a fresh empty bucket. */
        desk_ratelimit_init(&rl, &cfg, NULL, t0);
        for (uint32_t i = 0; i < burst; i++)
            desk_ratelimit_take(&rl, t0);
        uint64_t T = 3 * c->window_ns, now = t0, taken = 0;
        for (;;) {
            uint64_t d = desk_ratelimit_wait_ns(&rl, now);
            if (now + d > t0 + T)
                break;
            now += d;
            assert_int_equal(desk_ratelimit_take(&rl, now), 0);
            taken++;
        }
        assert_int_equal(taken, (uint64_t)3 * c->requests);
        assert_int_equal(desk_ratelimit_take(&rl, t0 + T), -EAGAIN);

        /* A long idle refills to the burst, not beyond (and no overflow). */
        uint64_t late = t0 + S(1000000000ull);
        for (uint32_t i = 0; i < burst; i++)
            assert_int_equal(desk_ratelimit_take(&rl, late), 0);
        assert_int_equal(desk_ratelimit_take(&rl, late), -EAGAIN);
        /* Time going backwards earns nothing. */
        assert_int_equal(desk_ratelimit_take(&rl, t0), -EAGAIN);
    }
    desk_ratelimit_t rl;
    desk_ratelimit_cfg_t bad = {.requests = 0, .window_ns = S(1)};
    assert_int_equal(desk_ratelimit_init(&rl, &bad, NULL, 0), -EINVAL);
    desk_ratelimit_cfg_t huge = {.requests = 1, .window_ns = UINT64_MAX / 2, .burst = 4};
    assert_int_equal(desk_ratelimit_init(&rl, &huge, NULL, 0), -EINVAL);
    assert_non_null(strstr(desk_errmsg(), "overflows"));
    assert_int_equal(desk_ratelimit_init(&rl, NULL, NULL, 0), -EINVAL);
}

/* Retry-After blocks every request for its duration and empties the bucket;
 * a shorter later value does not shorten it; 0 uses the default. */
static void test_ratelimit_retry_after(void **state)
{
    desk_ratelimit_t rl;
    desk_ratelimit_cfg_t cfg = {.requests = 200, .window_ns = S(60), .default_backoff_ns = MS(750)};
    uint64_t t = S(1);

    (void)state;
    desk_ratelimit_init(&rl, &cfg, NULL, t);
    assert_int_equal(desk_ratelimit_take(&rl, t), 0);
    desk_ratelimit_backoff(&rl, 2, t);
    assert_int_equal(desk_ratelimit_wait_ns(&rl, t), S(2));
    assert_int_equal(desk_ratelimit_take(&rl, t + S(1)), -EAGAIN);
    desk_ratelimit_backoff(&rl, 1, t + S(1)); /* ends sooner: ignored */
    assert_int_equal(desk_ratelimit_wait_ns(&rl, t + S(1)), S(1));
    assert_int_equal(desk_ratelimit_take(&rl, t + S(2) - 1), -EAGAIN);
    /* At +2 s the block ends.  The second 429 (at +1 s) emptied the bucket
     * again, so 1 s earned 1e9*200/60e9 = 3 whole tokens. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(desk_ratelimit_take(&rl, t + S(2)), 0);
    assert_int_equal(desk_ratelimit_take(&rl, t + S(2)), -EAGAIN);
    assert_int_equal(rl.backoffs, 2);

    desk_ratelimit_init(&rl, &cfg, NULL, t);
    desk_ratelimit_backoff(&rl, 0, t);
    assert_int_equal(desk_ratelimit_wait_ns(&rl, t), MS(750));
    assert_int_equal(desk_ratelimit_take(&rl, t + MS(750) - 1), -EAGAIN);
    /* 750 ms earn 2.5 tokens. */
    assert_int_equal(desk_ratelimit_take(&rl, t + MS(750)), 0);
}

/* Repeated 429s trip the linked breaker; a success in between resets. */
static void test_429_trips_breaker(void **state)
{
    desk_breaker_t b;
    desk_ratelimit_t rl;
    desk_breaker_cfg_t bc = {.ratelimit_threshold = 3, .cooldown_ns = S(30)};
    desk_ratelimit_cfg_t rc = {.requests = 200, .window_ns = S(60)};

    (void)state;
    desk_breaker_init(&b, &bc, 0);
    desk_breaker_link(&b, 1, 0, NULL);
    desk_ratelimit_init(&rl, &rc, &b, 0);
    desk_ratelimit_backoff(&rl, 1, S(1));
    desk_ratelimit_backoff(&rl, 1, S(2));
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
    desk_breaker_success(&b, S(3));
    desk_ratelimit_backoff(&rl, 1, S(4));
    desk_ratelimit_backoff(&rl, 1, S(5));
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
    desk_ratelimit_backoff(&rl, 1, S(6));
    assert_int_equal(desk_breaker_health(&b), DESK_DEGRADED);
    assert_string_equal(desk_breaker_reason(&b), "rate limited: 3 consecutive 429s");
    /* The probe after the cool-down gets a 429 too: open again. */
    assert_int_equal(desk_breaker_allow(&b, S(36)), 1);
    desk_ratelimit_backoff(&rl, 1, S(36));
    assert_int_equal(b.state, DESK_BREAKER_OPEN);
    assert_int_equal(desk_breaker_allow(&b, S(66)), 1);
    desk_breaker_success(&b, S(66));
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
}

/* A grant handed back unused neither resets the 429 run nor keeps the
 * probe slot: the next request may probe. */
static void test_release_grant(void **state)
{
    desk_breaker_t b;
    desk_breaker_cfg_t bc = {.ratelimit_threshold = 3, .cooldown_ns = S(30)};

    (void)state;
    desk_breaker_init(&b, &bc, 0);
    desk_breaker_link(&b, 1, 0, NULL);
    desk_breaker_ratelimited(&b, S(1));
    desk_breaker_ratelimited(&b, S(2));
    assert_int_equal(desk_breaker_allow(&b, S(3)), 1);
    desk_breaker_release(&b); /* nothing went out */
    assert_int_equal(b.n429, 2);
    desk_breaker_ratelimited(&b, S(4));
    assert_int_equal(desk_breaker_health(&b), DESK_DEGRADED);
    /* HALF_OPEN: the probe grant handed back is granted again. */
    assert_int_equal(desk_breaker_allow(&b, S(40)), 1);
    assert_int_equal(desk_breaker_allow(&b, S(40)), 0);
    desk_breaker_release(&b);
    assert_int_equal(b.state, DESK_BREAKER_HALF_OPEN);
    assert_int_equal(desk_breaker_allow(&b, S(41)), 1);
    desk_breaker_success(&b, S(41));
    assert_int_equal(desk_breaker_health(&b), DESK_UP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breaker_failures),
        cmocka_unit_test(test_breaker_link),
        cmocka_unit_test(test_breaker_heartbeat),
        cmocka_unit_test(test_breaker_probe_timeout_and_trip),
        cmocka_unit_test(test_ratelimit_refill),
        cmocka_unit_test(test_ratelimit_retry_after),
        cmocka_unit_test(test_429_trips_breaker),
        cmocka_unit_test(test_release_grant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
