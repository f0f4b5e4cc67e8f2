/*
 * control_test.c - the control thread's pure decisions (core/control.h):
 * the kill request's encoding, heartbeat staleness, the daily-loss trip and
 * the day PnL; and the desk.toml keys that drive them (heartbeat_timeout_ms,
 * [guard] halt_cancels_all).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/control.h"
#include "core/err.h"

#define MS UINT64_C(1000000)

static void test_kill_encode_decode(void **state)
{
    (void)state;
    /* Every valid request round-trips; a plain state is its own value, so a
     * sender that knows nothing of the flags still works. */
    for (unsigned k = DESK_KILL_ACTIVE; k <= DESK_KILL_HALTED; k++) {
        int v = desk_control_kill_encode((desk_kill_t)k, 0);
        assert_int_equal(v, (int)k);
        desk_kill_t want = DESK_KILL_ACTIVE;
        uint32_t flags = 99;
        assert_int_equal(desk_control_kill_decode(v, &want, &flags), 0);
        assert_int_equal(want, k);
        assert_int_equal(flags, 0);
    }
    int v = desk_control_kill_encode(DESK_KILL_HALTED, DESK_KILL_CANCEL_ALL);
    assert_int_equal(v, DESK_KILL_HALTED | DESK_KILL_CANCEL_ALL);
    desk_kill_t want = DESK_KILL_ACTIVE;
    uint32_t flags = 0;
    assert_int_equal(desk_control_kill_decode(v, &want, &flags), 0);
    assert_int_equal(want, DESK_KILL_HALTED);
    assert_int_equal(flags, DESK_KILL_CANCEL_ALL);

    /* Cancel-all only with HALTED; no unknown state or flag. */
    assert_int_equal(desk_control_kill_encode(DESK_KILL_ACTIVE, DESK_KILL_CANCEL_ALL), -EINVAL);
    assert_int_equal(desk_control_kill_encode(DESK_KILL_REDUCING, DESK_KILL_CANCEL_ALL), -EINVAL);
    assert_int_equal(desk_control_kill_encode((desk_kill_t)3, 0), -EINVAL);
    assert_int_equal(desk_control_kill_encode(DESK_KILL_HALTED, 0x200), -EINVAL);
    static const int bad[] = {
        -1, 3, 0xff, 0x100, 0x101, 0x200 | DESK_KILL_HALTED, 0x300 | DESK_KILL_HALTED, INT32_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        want = DESK_KILL_REDUCING;
        flags = 7;
        assert_int_equal(desk_control_kill_decode(bad[i], &want, &flags), -EINVAL);
        assert_int_equal(want, DESK_KILL_REDUCING); /* untouched */
        assert_int_equal(flags, 7);
    }
}

static void test_hb_stale(void **state)
{
    (void)state;
    uint64_t now = 1000000 * MS;
    /* Off. */
    assert_int_equal(desk_control_hb_stale_ms(now, 0, 0), 0);
    /* Fresh: younger than or exactly the timeout. */
    assert_int_equal(desk_control_hb_stale_ms(now, now, 5000), 0);
    assert_int_equal(desk_control_hb_stale_ms(now, now - 4999 * MS, 5000), 0);
    assert_int_equal(desk_control_hb_stale_ms(now, now - 5000 * MS, 5000), 0);
    /* A heartbeat written after `now` was read is fresh, not a huge age. */
    assert_int_equal(desk_control_hb_stale_ms(now, now + 3 * MS, 100), 0);
    /* Stale: the age in ms, never 0. */
    assert_int_equal(desk_control_hb_stale_ms(now, now - 5000 * MS - 1, 5000), 5000);
    assert_int_equal(desk_control_hb_stale_ms(now, now - 7250 * MS, 5000), 7250);
    assert_int_equal(desk_control_hb_stale_ms(now, now - 101 * MS, 100), 101);
    /* A heartbeat never written (0) is as old as the clock. */
    assert_int_equal(desk_control_hb_stale_ms(now, 0, 100), 1000000);
}

static void test_loss_trip(void **state)
{
    (void)state;
    desk_loss_trip_t t;
    const int64_t lim = 500000000; /* 5.00 */

    /* Fires once on the crossing, not on every check below the limit. */
    memset(&t, 0, sizeof t);
    assert_int_equal(desk_control_loss_check(&t, 0, lim), 0);
    assert_int_equal(desk_control_loss_check(&t, -499999999, lim), 0);
    assert_int_equal(desk_control_loss_check(&t, -500000000, lim), 1); /* at the limit */
    assert_int_equal(desk_control_loss_check(&t, -500000000, lim), 0);
    assert_int_equal(desk_control_loss_check(&t, -900000000, lim), 0);
    /* Re-armed only by recovering above the limit; then it fires again. */
    assert_int_equal(desk_control_loss_check(&t, -499999999, lim), 0);
    assert_int_equal(desk_control_loss_check(&t, -600000000, lim), 1);

    /* Already past the limit at the first check (deskd restarted after the
     * loss): it fires at once. */
    memset(&t, 0, sizeof t);
    assert_int_equal(desk_control_loss_check(&t, -700000000, lim), 1);
    assert_int_equal(desk_control_loss_check(&t, -700000000, lim), 0);

    /* No limit: never fires, whatever the PnL. */
    memset(&t, 0, sizeof t);
    assert_int_equal(desk_control_loss_check(&t, INT64_MIN, 0), 0);
    assert_int_equal(desk_control_loss_check(&t, -1, 0), 0);
    /* A large loss against the largest limit does not overflow. */
    assert_int_equal(desk_control_loss_check(&t, INT64_MIN + 1, INT64_MAX), 1);
}

static void test_day_pnl(void **state)
{
    (void)state;
    struct desk_uta_totals t;
    memset(&t, 0, sizeof t);
    t.realized_pnl = -120000000; /* -1.2 after fees */
    t.unrealized_pnl = -30000000;
    t.fees = 50000000; /* already inside realized_pnl: not counted twice */
    t.cash = 999;
    assert_int_equal(desk_control_day_pnl(&t), -150000000);
    t.realized_pnl = INT64_MIN + 5;
    t.unrealized_pnl = -10;
    assert_true(desk_control_day_pnl(&t) == INT64_MIN);
    t.realized_pnl = INT64_MAX - 5;
    t.unrealized_pnl = 10;
    assert_true(desk_control_day_pnl(&t) == INT64_MAX);
}

#define HDR "[desk]\nname = \"t\"\n"

static int load(desk_config_t *cfg, const char *text)
{
    desk_errclear();
    return desk_config_load_string(cfg, text, strlen(text), "desk.toml");
}

static void test_config_keys(void **state)
{
    (void)state;
    desk_config_t *cfg = malloc(sizeof *cfg);
    assert_non_null(cfg);

    /* Defaults: heartbeat 5000 ms, halt_cancels_all off. */
    assert_int_equal(load(cfg, HDR "[[strategy]]\nname = \"a\"\n"), 0);
    assert_int_equal(cfg->strategies[0].heartbeat_timeout_ms, 5000);
    assert_int_equal(cfg->halt_cancels_all, 0);

    assert_int_equal(load(cfg, HDR "[guard]\nhalt_cancels_all = true\ndaily_loss = \"7\"\n"
                                   "[[strategy]]\nname = \"a\"\nheartbeat_timeout_ms = 0\n"
                                   "[[strategy]]\nname = \"b\"\nheartbeat_timeout_ms = 100\n"),
                     0);
    assert_int_equal(cfg->halt_cancels_all, 1);
    assert_int_equal(cfg->limits.daily_loss, 700000000);
    assert_int_equal(cfg->strategies[0].heartbeat_timeout_ms, 0);
    assert_int_equal(cfg->strategies[1].heartbeat_timeout_ms, 100);

    /* Below the control thread's period, out of range, wrong type. */
    assert_int_equal(load(cfg, HDR "[[strategy]]\nname = \"a\"\nheartbeat_timeout_ms = 99\n"),
                     -EINVAL);
    assert_non_null(strstr(desk_errmsg(), "desk.toml:5:"));
    assert_non_null(strstr(desk_errmsg(), "strategy[0].heartbeat_timeout_ms"));
    assert_int_equal(load(cfg, HDR "[[strategy]]\nname = \"a\"\nheartbeat_timeout_ms = 86400001\n"),
                     -EINVAL);
    assert_int_equal(load(cfg, HDR "[[strategy]]\nname = \"a\"\nheartbeat_timeout_ms = \"5\"\n"),
                     -EINVAL);
    assert_int_equal(load(cfg, HDR "[guard]\nhalt_cancels_all = 1\n"), -EINVAL);
    assert_non_null(strstr(desk_errmsg(), "guard.halt_cancels_all"));
    /* halt_cancels_all is desk-wide: not a per-strategy or per-instrument limit. */
    assert_int_equal(load(cfg, HDR "[[strategy]]\nname = \"a\"\n[strategy.limits]\n"
                                   "halt_cancels_all = true\n"),
                     -EINVAL);
    assert_non_null(strstr(desk_errmsg(), "unknown key"));
    free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_encode_decode), cmocka_unit_test(test_hb_stale),
        cmocka_unit_test(test_loss_trip),          cmocka_unit_test(test_day_pnl),
        cmocka_unit_test(test_config_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
