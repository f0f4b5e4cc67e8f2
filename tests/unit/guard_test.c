/*
 * guard_test.c - the pre-trade guard of core/guard.h.
 *
 * For every check the guard can refuse with, one order just inside the
 * limit is accepted and one just outside it (1e-8, one tick, one lot or one
 * token beyond) is refused with exactly that reason: the table `rows` below.
 * Then: precedence (every pair of failures reports the earlier check, and
 * peeling failures off one at a time walks the list in guard.h's order),
 * the venue-type tables against DESIGN.md, replace semantics, reduce-only,
 * the token bucket over simulated time, desk_limits_merge, market notional
 * at the touch and the reservation in the verdict.
 *
 * Every expected number is computed here with __int128 by hand, never by
 * calling the code under test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/guard.h"

#define UNITS(n) ((int64_t)(n) * DESK_SCALE)       /* n whole units */
#define CENTS(c) ((int64_t)(c) * (DESK_SCALE / 100)) /* c hundredths */
#define T0 UINT64_C(1000000000000)                  /* a monotonic "now", 1000 s */

/* px * qty / 1e8 toward zero, the notional, computed independently. */
static int64_t mul8(int64_t a, int64_t b)
{
    return (int64_t)((__int128)a * b / DESK_SCALE);
}

/* Everything one guard call reads, with a switch for the two pointers that
 * may be NULL. */
typedef struct fx {
    desk_cmd_t cmd;
    desk_instrument_t in;
    desk_limits_t lim;
    desk_quote_t q;
    desk_bucket_t bucket;
    desk_uta_t uta;
    desk_guard_ctx_t g;
    int have_instr;
    int have_quote;
} fx_t;

static fx_t F; /* the UTA is ~15 KB: keep it off the stack */

/*
 * The base case passes every check: an equities venue, a LIMIT DAY buy of
 * 10 at 100.00, quote 99.99 / 100.01 (mid exactly 100.00), lot 1e-8, tick
 * 0.01, no limits set, two venues (1,000,000 cash at venue 0) and two
 * instruments (0 trades at venue 0).
 */
static void base(fx_t *f)
{
    memset(f, 0, sizeof *f);
    f->cmd.type = DESK_CMD_NEW;
    f->cmd.side = DESK_BUY;
    f->cmd.ord_type = DESK_LIMIT;
    f->cmd.tif = DESK_DAY;
    f->cmd.instrument = 0;
    f->cmd.cl_ord_id = 1;
    f->cmd.qty = UNITS(10);
    f->cmd.px = CENTS(10000);
    f->in.id = 0;
    f->in.connector = 0;
    f->in.asset_class = DESK_ASSET_EQUITY;
    f->in.tradable = 1;
    snprintf(f->in.symbol, sizeof f->in.symbol, "TEST");
    f->in.tick_size = CENTS(1);
    f->in.lot_size = 1;
    f->in.min_notional = 0;
    f->in.open_min = -1;
    f->in.close_min = -1;
    f->q.bid_px = CENTS(9999);
    f->q.bid_qty = UNITS(5);
    f->q.ask_px = CENTS(10001);
    f->q.ask_qty = UNITS(5);
    f->q.last_px = CENTS(10000);
    f->q.last_qty = UNITS(1);
    desk_uta_init(&f->uta, 2, 2);
    f->uta.venue[0].cash = UNITS(1000000);
    f->uta.pos[0].venue = 0;
    f->uta.pos[1].venue = 0;
    f->bucket.last_ns = T0;
    f->have_instr = 1;
    f->have_quote = 1;
    f->g.venue_type = DESK_VENUE_EQUITIES;
    f->g.kill = DESK_KILL_ACTIVE;
    f->g.health = DESK_UP;
    f->g.minute_of_day = 600;
    f->g.now_ns = T0;
}

static desk_guard_verdict_t run(fx_t *f)
{
    f->g.cmd = &f->cmd;
    f->g.instr = f->have_instr ? &f->in : NULL;
    f->g.limits = &f->lim;
    f->g.quote = f->have_quote ? &f->q : NULL;
    f->g.uta = &f->uta;
    f->g.bucket = &f->bucket;
    return desk_guard_check(&f->g);
}

static int reason(fx_t *f)
{
    return run(f).reason;
}

/* Assert a reason, naming the case and both reasons on failure. */
#define EXPECT_REASON(f, want, what)                                                       \
    do {                                                                                   \
        int got_ = reason(f);                                                              \
        if (got_ != (int)(want)) {                                                         \
            print_error("%s: got %s, want %s\n", (what), desk_reject_name((unsigned)got_), \
                        desk_reject_name((unsigned)(want)));                               \
            fail();                                                                        \
        }                                                                                  \
    } while (0)

static void test_base_accepted(void **state)
{
    (void)state;
    base(&F);
    desk_guard_verdict_t v = run(&F);
    assert_int_equal(v.reason, DESK_REJ_NONE);
    assert_int_equal(v.reserve_px, CENTS(10000));
    assert_int_equal(v.reserve, UNITS(1000));
}

/* ---- one row per check: inside accepted, outside refused ------------------- */

/* Each setter turns the base case into the "inside" (out = 0) or "outside"
 * (out = 1) case of one check. */
typedef void (*row_set_fn)(fx_t *f, int out);

struct row {
    const char *name;
    int reason;     /* desk_reject_t of the outside case */
    row_set_fn set; /* builds both cases */
};

static void r_kill(fx_t *f, int out)
{
    f->g.kill = out ? DESK_KILL_HALTED : DESK_KILL_ACTIVE;
}

/* Long 10 with 4 already offered: selling 16 more would end at -10 (same
 * |position|: reducing); 1e-8 more would end beyond it. */
static void r_reduce_long(fx_t *f, int out)
{
    f->g.kill = DESK_KILL_REDUCING;
    f->uta.pos[0].qty = UNITS(10);
    f->uta.pos[0].avg_px = CENTS(10000);
    f->uta.pos[0].open_sell = UNITS(4);
    f->cmd.side = DESK_SELL;
    f->cmd.qty = UNITS(16) + out;
}

/* Short 10 with 4 bid: buying 16 ends at +10 at worst. */
static void r_reduce_short(fx_t *f, int out)
{
    f->g.kill = DESK_KILL_REDUCING;
    f->uta.pos[0].qty = -UNITS(10);
    f->uta.pos[0].avg_px = CENTS(10000);
    f->uta.pos[0].open_buy = UNITS(4);
    f->cmd.side = DESK_BUY;
    f->cmd.qty = UNITS(16) + out;
}

/* Flat: nothing reduces, a single lot is refused. */
static void r_reduce_flat(fx_t *f, int out)
{
    f->g.kill = out ? DESK_KILL_REDUCING : DESK_KILL_ACTIVE;
    f->cmd.qty = 1;
}

static void r_unknown(fx_t *f, int out)
{
    f->have_instr = !out;
}

static void r_down(fx_t *f, int out)
{
    f->g.health = out ? DESK_DOWN : DESK_UP;
}

static void r_degraded(fx_t *f, int out)
{
    f->g.health = out ? DESK_DEGRADED : DESK_UP;
}

static void r_disabled(fx_t *f, int out)
{
    f->in.tradable = (uint8_t)!out;
}

/* Day session 09:30-16:00 UTC: [570, 960). */
static void r_before_open(fx_t *f, int out)
{
    f->in.open_min = 570;
    f->in.close_min = 960;
    f->g.minute_of_day = out ? 569 : 570;
}

static void r_at_close(fx_t *f, int out)
{
    f->in.open_min = 570;
    f->in.close_min = 960;
    f->g.minute_of_day = out ? 960 : 959;
}

/* Overnight session 22:00-06:00 UTC: [1320, 1440) and [0, 360). */
static void r_overnight_end(fx_t *f, int out)
{
    f->in.open_min = 1320;
    f->in.close_min = 360;
    f->g.minute_of_day = out ? 360 : 359;
}

static void r_overnight_start(fx_t *f, int out)
{
    f->in.open_min = 1320;
    f->in.close_min = 360;
    f->g.minute_of_day = out ? 1319 : 1320;
}

static void r_overnight_midnight(fx_t *f, int out)
{
    f->in.open_min = 1320;
    f->in.close_min = 360;
    f->g.minute_of_day = out ? 720 : 0;
}

static void r_overnight_2359(fx_t *f, int out)
{
    f->in.open_min = 1320;
    f->in.close_min = 360;
    f->g.minute_of_day = out ? 1000 : 1439;
}

static void r_bad_side(fx_t *f, int out)
{
    f->cmd.side = out ? 0 : DESK_SELL;
}

static void r_bad_side3(fx_t *f, int out)
{
    f->cmd.side = out ? 3 : DESK_BUY;
}

static void r_bad_type_high(fx_t *f, int out)
{
    f->cmd.ord_type = out ? DESK_STOP_LIMIT + 1 : DESK_STOP_LIMIT;
    f->cmd.stop_px = CENTS(9990);
}

static void r_bad_type_low(fx_t *f, int out)
{
    f->cmd.ord_type = out ? DESK_MARKET - 1 : DESK_MARKET;
    f->cmd.px = 0;
}

static void r_bad_tif2(fx_t *f, int out)
{
    f->cmd.tif = out ? 2 : DESK_GTC;
}

static void r_bad_tif5(fx_t *f, int out)
{
    f->cmd.tif = out ? 5 : DESK_FOK;
}

static void r_qty_zero(fx_t *f, int out)
{
    f->cmd.qty = out ? 0 : 1;
}

static void r_qty_negative(fx_t *f, int out)
{
    f->cmd.qty = out ? -1 : 1;
}

static void r_px_zero(fx_t *f, int out)
{
    f->cmd.px = out ? 0 : CENTS(1);
}

static void r_px_negative(fx_t *f, int out)
{
    f->cmd.px = out ? -CENTS(1) : CENTS(1);
}

static void r_market_with_px(fx_t *f, int out)
{
    f->cmd.ord_type = DESK_MARKET;
    f->cmd.px = out ? CENTS(10000) : 0;
}

static void r_stop_missing(fx_t *f, int out)
{
    f->cmd.ord_type = DESK_STOP;
    f->cmd.px = 0;
    f->cmd.stop_px = out ? 0 : CENTS(10100);
}

static void r_stop_on_limit(fx_t *f, int out)
{
    f->cmd.stop_px = out ? CENTS(1) : 0;
}

static void r_stoplimit_no_limit(fx_t *f, int out)
{
    f->cmd.ord_type = DESK_STOP_LIMIT;
    f->cmd.stop_px = CENTS(10100);
    f->cmd.px = out ? 0 : CENTS(10100);
}

static void r_type_crypto(fx_t *f, int out)
{
    f->g.venue_type = DESK_VENUE_CRYPTO;
    f->cmd.ord_type = out ? DESK_STOP : DESK_STOP_LIMIT;
    f->cmd.px = out ? 0 : CENTS(10100);
    f->cmd.stop_px = CENTS(10100);
}

static void r_type_options(fx_t *f, int out)
{
    f->g.venue_type = DESK_VENUE_OPTIONS;
    f->cmd.ord_type = out ? DESK_STOP_LIMIT : DESK_STOP;
    f->cmd.px = out ? CENTS(10100) : 0;
    f->cmd.stop_px = CENTS(10100);
}

static void r_type_futures(fx_t *f, int out)
{
    f->g.venue_type = DESK_VENUE_FUTURES;
    f->cmd.ord_type = out ? DESK_STOP_LIMIT : DESK_STOP;
    f->cmd.px = out ? CENTS(10100) : 0;
    f->cmd.stop_px = CENTS(10100);
}

static void r_type_cash(fx_t *f, int out)
{
    f->g.venue_type = out ? DESK_VENUE_CASH : DESK_VENUE_EQUITIES;
}

static void r_tif_options(fx_t *f, int out)
{
    f->g.venue_type = DESK_VENUE_OPTIONS;
    f->cmd.tif = out ? DESK_FOK : DESK_IOC;
}

static void r_lot(fx_t *f, int out)
{
    f->in.lot_size = UNITS(1);
    f->cmd.qty = UNITS(10) + out;
}

static void r_lot_crypto(fx_t *f, int out)
{
    f->in.lot_size = 100000; /* 0.001 */
    f->cmd.qty = 100000 * 7 + out * 50000;
}

static void r_tick(fx_t *f, int out)
{
    f->cmd.px = CENTS(10000) + out;
}

static void r_tick_stop(fx_t *f, int out)
{
    f->cmd.ord_type = DESK_STOP;
    f->cmd.px = 0;
    f->cmd.stop_px = CENTS(10100) + out;
}

static void r_tick_stoplimit_stop(fx_t *f, int out)
{
    f->cmd.ord_type = DESK_STOP_LIMIT;
    f->cmd.px = CENTS(10100);
    f->cmd.stop_px = CENTS(10100) + out;
}

static void r_no_ask(fx_t *f, int out)
{
    f->cmd.ord_type = DESK_MARKET;
    f->cmd.px = 0;
    f->q.ask_px = out ? 0 : CENTS(10001);
}

static void r_no_bid(fx_t *f, int out)
{
    f->cmd.side = DESK_SELL;
    f->cmd.ord_type = DESK_MARKET;
    f->cmd.px = 0;
    f->q.bid_px = out ? 0 : CENTS(9999);
}

static void r_market_no_quote(fx_t *f, int out)
{
    f->cmd.ord_type = DESK_MARKET;
    f->cmd.px = 0;
    f->have_quote = !out;
}

static void r_collar_no_quote(fx_t *f, int out)
{
    f->lim.collar_bps = 100;
    f->have_quote = !out;
}

/* A collar judged against the last trade when the book is empty. */
static void r_collar_empty_book(fx_t *f, int out)
{
    f->lim.collar_bps = 100;
    f->q.bid_px = 0;
    f->q.ask_px = 0;
    f->q.last_px = out ? 0 : CENTS(10000);
}

/* 10 at 100.00 is exactly 1000.00. */
static void r_min_notional(fx_t *f, int out)
{
    f->in.min_notional = UNITS(1000) + out;
}

static void r_max_qty(fx_t *f, int out)
{
    f->lim.max_order_qty = UNITS(10) - out;
}

static void r_max_notional(fx_t *f, int out)
{
    f->lim.max_order_notional = UNITS(1000) - out;
}

/* A notional that overflows int64 is refused, never wrapped. */
static void r_notional_overflow(fx_t *f, int out)
{
    f->cmd.qty = out ? INT64_MAX / 2 : UNITS(1000000);
    f->cmd.px = out ? CENTS(100000000) : CENTS(100);
}

/* Mid 100.00, 10 bps: 0.1 either side is inside; lot/tick 1e-8. */
static void r_collar_high(fx_t *f, int out)
{
    f->in.tick_size = 1;
    f->lim.collar_bps = 10;
    f->cmd.px = CENTS(10000) + CENTS(10) + out;
}

static void r_collar_low(fx_t *f, int out)
{
    f->in.tick_size = 1;
    f->lim.collar_bps = 10;
    f->cmd.side = DESK_SELL;
    f->cmd.px = CENTS(10000) - CENTS(10) - out;
}

/* The collar judges a stop's trigger too. */
static void r_collar_stop(fx_t *f, int out)
{
    f->in.tick_size = 1;
    f->lim.collar_bps = 10;
    f->cmd.ord_type = DESK_STOP;
    f->cmd.px = 0;
    f->cmd.stop_px = CENTS(10000) + CENTS(10) + out;
}

/* An odd spread: mid = bid + (ask - bid) / 2 rounded down, 100.005 here. */
static void r_collar_odd_mid(fx_t *f, int out)
{
    int64_t mid = CENTS(10000) + 500000; /* bid 100.00, ask 100.01 */
    /* 100 bps of 100.005 = 1.00005: the limit may be mid + 1.00005. */
    int64_t dev = (int64_t)((__int128)mid * 100 / 10000);
    f->in.tick_size = 1;
    f->lim.collar_bps = 100;
    f->q.bid_px = CENTS(10000);
    f->q.ask_px = CENTS(10001);
    f->cmd.px = mid + dev + out;
}

/* Long 5 with 3 more bid: buying 2 ends at 10. */
static void r_max_pos(fx_t *f, int out)
{
    f->lim.max_position_qty = UNITS(10);
    f->uta.pos[0].qty = UNITS(5);
    f->uta.pos[0].avg_px = CENTS(10000);
    f->uta.pos[0].open_buy = UNITS(3);
    f->cmd.qty = UNITS(2) + out;
}

static void r_max_pos_short(fx_t *f, int out)
{
    f->lim.max_position_qty = UNITS(10);
    f->uta.pos[0].qty = -UNITS(5);
    f->uta.pos[0].avg_px = CENTS(10000);
    f->uta.pos[0].open_sell = UNITS(3);
    f->cmd.side = DESK_SELL;
    f->cmd.qty = UNITS(2) + out;
}

static void r_max_pos_notional(fx_t *f, int out)
{
    f->lim.max_position_notional = UNITS(1000) - out;
    f->uta.pos[0].qty = UNITS(5);
    f->uta.pos[0].avg_px = CENTS(10000);
    f->uta.pos[0].open_buy = UNITS(3);
    f->cmd.qty = UNITS(2);
}

/* Realized -300, fees 100, unrealized -100 (instrument 1: long 1 bought at
 * 200, marked at 100): today's PnL is -500, the limit. */
static void r_daily_loss(fx_t *f, int out)
{
    f->lim.daily_loss = UNITS(500);
    f->uta.venue[0].realized_pnl = -UNITS(300) + (out ? 0 : 1);
    f->uta.venue[0].fees = UNITS(100);
    f->uta.pos[1].qty = UNITS(1);
    f->uta.pos[1].avg_px = UNITS(200);
    f->uta.pos[1].mark_px = UNITS(100);
}

static void r_rate(fx_t *f, int out)
{
    f->lim.orders_per_sec = 1;
    f->lim.burst = 1;
    f->bucket.tokens = 1000000 - out;
    f->bucket.last_ns = f->g.now_ns;
}

/* Venue 0 has exactly the 1000.00 the buy needs; a reservation of 1e-8 at
 * venue 1 takes the UTA total below it (venue 0 alone still could pay). */
static void r_bp(fx_t *f, int out)
{
    f->uta.venue[0].cash = UNITS(1000);
    f->uta.venue[1].cash = 0;
    f->uta.venue[1].reserved = out;
}

/* Plenty of UTA buying power, but it sits at venue 1. */
static void r_venue_cash(fx_t *f, int out)
{
    f->uta.venue[0].cash = UNITS(1000) - out;
    f->uta.venue[1].cash = UNITS(1000000);
}

/* Venue 0's own reservations count against it. */
static void r_venue_reserved(fx_t *f, int out)
{
    f->uta.venue[0].cash = UNITS(1500);
    f->uta.venue[0].reserved = UNITS(500) + out;
    f->uta.venue[1].cash = UNITS(1000000);
}

/* Spot crypto: long 5, 2 already offered: 3 more is all that is held. */
static void r_crypto_sell(fx_t *f, int out)
{
    f->g.venue_type = DESK_VENUE_CRYPTO;
    f->uta.pos[0].qty = UNITS(5);
    f->uta.pos[0].avg_px = CENTS(10000);
    f->uta.pos[0].open_sell = UNITS(2);
    f->cmd.side = DESK_SELL;
    f->cmd.qty = UNITS(3) + out;
}

static const struct row rows[] = {
    {"kill switch", DESK_REJ_KILL_SWITCH, r_kill},
    {"reduce-only long", DESK_REJ_REDUCE_ONLY, r_reduce_long},
    {"reduce-only short", DESK_REJ_REDUCE_ONLY, r_reduce_short},
    {"reduce-only flat", DESK_REJ_REDUCE_ONLY, r_reduce_flat},
    {"unknown instrument", DESK_REJ_UNKNOWN_INSTRUMENT, r_unknown},
    {"connector down", DESK_REJ_CONNECTOR_DOWN, r_down},
    {"connector degraded", DESK_REJ_CONNECTOR_DOWN, r_degraded},
    {"disabled", DESK_REJ_NOT_TRADABLE, r_disabled},
    {"before open", DESK_REJ_NOT_TRADABLE, r_before_open},
    {"at close", DESK_REJ_NOT_TRADABLE, r_at_close},
    {"overnight end", DESK_REJ_NOT_TRADABLE, r_overnight_end},
    {"overnight start", DESK_REJ_NOT_TRADABLE, r_overnight_start},
    {"overnight midnight", DESK_REJ_NOT_TRADABLE, r_overnight_midnight},
    {"overnight 23:59", DESK_REJ_NOT_TRADABLE, r_overnight_2359},
    {"side 0", DESK_REJ_BAD_COMMAND, r_bad_side},
    {"side 3", DESK_REJ_BAD_COMMAND, r_bad_side3},
    {"ord_type 5", DESK_REJ_BAD_COMMAND, r_bad_type_high},
    {"ord_type 0", DESK_REJ_BAD_COMMAND, r_bad_type_low},
    {"tif 2", DESK_REJ_BAD_COMMAND, r_bad_tif2},
    {"tif 5", DESK_REJ_BAD_COMMAND, r_bad_tif5},
    {"qty 0", DESK_REJ_BAD_QTY, r_qty_zero},
    {"qty < 0", DESK_REJ_BAD_QTY, r_qty_negative},
    {"limit px 0", DESK_REJ_BAD_PRICE, r_px_zero},
    {"limit px < 0", DESK_REJ_BAD_PRICE, r_px_negative},
    {"market with px", DESK_REJ_BAD_PRICE, r_market_with_px},
    {"stop without stop px", DESK_REJ_BAD_PRICE, r_stop_missing},
    {"limit with stop px", DESK_REJ_BAD_PRICE, r_stop_on_limit},
    {"stop-limit without px", DESK_REJ_BAD_PRICE, r_stoplimit_no_limit},
    {"crypto stop", DESK_REJ_ORDER_TYPE, r_type_crypto},
    {"options stop-limit", DESK_REJ_ORDER_TYPE, r_type_options},
    {"futures stop-limit", DESK_REJ_ORDER_TYPE, r_type_futures},
    {"cash venue", DESK_REJ_ORDER_TYPE, r_type_cash},
    {"options FOK", DESK_REJ_TIF, r_tif_options},
    {"lot 1", DESK_REJ_LOT_SIZE, r_lot},
    {"lot 0.001", DESK_REJ_LOT_SIZE, r_lot_crypto},
    {"tick limit", DESK_REJ_TICK_SIZE, r_tick},
    {"tick stop", DESK_REJ_TICK_SIZE, r_tick_stop},
    {"tick stop-limit trigger", DESK_REJ_TICK_SIZE, r_tick_stoplimit_stop},
    {"market buy, no ask", DESK_REJ_NO_QUOTE, r_no_ask},
    {"market sell, no bid", DESK_REJ_NO_QUOTE, r_no_bid},
    {"market, no quote", DESK_REJ_NO_QUOTE, r_market_no_quote},
    {"collar, no quote", DESK_REJ_NO_QUOTE, r_collar_no_quote},
    {"collar, empty book", DESK_REJ_NO_QUOTE, r_collar_empty_book},
    {"min notional", DESK_REJ_MIN_NOTIONAL, r_min_notional},
    {"max order qty", DESK_REJ_MAX_ORDER_QTY, r_max_qty},
    {"max order notional", DESK_REJ_MAX_ORDER_NOTIONAL, r_max_notional},
    {"notional overflow", DESK_REJ_MAX_ORDER_NOTIONAL, r_notional_overflow},
    {"collar above", DESK_REJ_PRICE_COLLAR, r_collar_high},
    {"collar below", DESK_REJ_PRICE_COLLAR, r_collar_low},
    {"collar stop", DESK_REJ_PRICE_COLLAR, r_collar_stop},
    {"collar odd mid", DESK_REJ_PRICE_COLLAR, r_collar_odd_mid},
    {"max position long", DESK_REJ_MAX_POSITION, r_max_pos},
    {"max position short", DESK_REJ_MAX_POSITION, r_max_pos_short},
    {"max position notional", DESK_REJ_MAX_POSITION_NOTIONAL, r_max_pos_notional},
    {"daily loss", DESK_REJ_DAILY_LOSS, r_daily_loss},
    {"rate limit", DESK_REJ_RATE_LIMIT, r_rate},
    {"buying power", DESK_REJ_BUYING_POWER, r_bp},
    {"venue cash", DESK_REJ_VENUE_CASH, r_venue_cash},
    {"venue reserved", DESK_REJ_VENUE_CASH, r_venue_reserved},
    {"crypto sell inventory", DESK_REJ_VENUE_CASH, r_crypto_sell},
};
#define NROWS (sizeof rows / sizeof rows[0])

static void test_every_check_boundary(void **state)
{
    char what[96];
    int seen[DESK_REJ__COUNT] = {0};

    (void)state;
    for (size_t i = 0; i < NROWS; i++) {
        base(&F);
        rows[i].set(&F, 0);
        snprintf(what, sizeof what, "%s (inside)", rows[i].name);
        EXPECT_REASON(&F, DESK_REJ_NONE, what);
        base(&F);
        rows[i].set(&F, 1);
        snprintf(what, sizeof what, "%s (outside)", rows[i].name);
        EXPECT_REASON(&F, rows[i].reason, what);
        seen[rows[i].reason] = 1;
    }
    /* The table covers every reason the guard can give. */
    static const int guard_reasons[] = {
        DESK_REJ_KILL_SWITCH,  DESK_REJ_REDUCE_ONLY,        DESK_REJ_UNKNOWN_INSTRUMENT,
        DESK_REJ_CONNECTOR_DOWN, DESK_REJ_NOT_TRADABLE,     DESK_REJ_BAD_COMMAND,
        DESK_REJ_BAD_QTY,      DESK_REJ_BAD_PRICE,          DESK_REJ_ORDER_TYPE,
        DESK_REJ_TIF,          DESK_REJ_LOT_SIZE,           DESK_REJ_TICK_SIZE,
        DESK_REJ_NO_QUOTE,     DESK_REJ_MIN_NOTIONAL,       DESK_REJ_MAX_ORDER_QTY,
        DESK_REJ_MAX_ORDER_NOTIONAL, DESK_REJ_PRICE_COLLAR, DESK_REJ_MAX_POSITION,
        DESK_REJ_MAX_POSITION_NOTIONAL, DESK_REJ_DAILY_LOSS, DESK_REJ_RATE_LIMIT,
        DESK_REJ_BUYING_POWER, DESK_REJ_VENUE_CASH,
    };
    for (size_t i = 0; i < sizeof guard_reasons / sizeof guard_reasons[0]; i++) {
        if (!seen[guard_reasons[i]])
            print_error("no row for %s\n", desk_reject_name((unsigned)guard_reasons[i]));
        assert_true(seen[guard_reasons[i]]);
    }
}

/* ---- precedence ------------------------------------------------------------ */

/*
 * Independent failure injections, in guard.h's order, on one base order (an
 * options venue so that TIF can fail: LIMIT DAY buy 10 at 100.00, lot 1,
 * tick 0.01, collar 100 bps, a throttle with tokens to spare, cash at both
 * venues).  Applied last to first, so that where two share a field (the kill
 * switch) the earlier one wins.
 */
static void p_base(fx_t *f)
{
    base(f);
    f->g.venue_type = DESK_VENUE_OPTIONS;
    f->in.lot_size = UNITS(1);
    f->lim.collar_bps = 100;
    f->lim.orders_per_sec = 1000;
    f->lim.burst = 1000;
    f->bucket.tokens = INT64_C(1000) * 1000000;
    f->uta.venue[1].cash = UNITS(1000000);
}

static void i_kill(fx_t *f) { f->g.kill = DESK_KILL_HALTED; }
static void i_reduce(fx_t *f) { f->g.kill = DESK_KILL_REDUCING; }
static void i_down(fx_t *f) { f->g.health = DESK_DOWN; }
static void i_disabled(fx_t *f) { f->in.tradable = 0; }
static void i_side(fx_t *f) { f->cmd.side = 7; }
static void i_stop_px(fx_t *f) { f->cmd.stop_px = CENTS(1); }
static void i_cash_venue(fx_t *f) { f->g.venue_type = DESK_VENUE_CASH; }
static void i_fok(fx_t *f) { f->cmd.tif = DESK_FOK; }
static void i_lot(fx_t *f) { f->in.lot_size = UNITS(3); }
static void i_tick(fx_t *f) { f->in.tick_size = CENTS(3); }
static void i_no_quote(fx_t *f) { f->have_quote = 0; }
static void i_min_notional(fx_t *f) { f->in.min_notional = UNITS(1000000); }
static void i_max_qty(fx_t *f) { f->lim.max_order_qty = UNITS(1); }
static void i_max_notional(fx_t *f) { f->lim.max_order_notional = UNITS(1); }
static void i_collar(fx_t *f)
{
    f->q.bid_px = CENTS(19999);
    f->q.ask_px = CENTS(20001);
}
static void i_max_pos(fx_t *f) { f->lim.max_position_qty = UNITS(1); }
static void i_max_pos_notional(fx_t *f) { f->lim.max_position_notional = UNITS(1); }
static void i_daily_loss(fx_t *f)
{
    f->lim.daily_loss = UNITS(1);
    f->uta.venue[0].realized_pnl = -UNITS(2);
}
static void i_rate(fx_t *f) { f->bucket.tokens = 0; }
static void i_bp(fx_t *f) { f->uta.venue[1].reserved = UNITS(2000000); }
static void i_venue_cash(fx_t *f) { f->uta.venue[0].cash = 0; }

struct inj {
    int reason;
    void (*apply)(fx_t *f);
};

static const struct inj injs[] = {
    {DESK_REJ_KILL_SWITCH, i_kill},
    {DESK_REJ_REDUCE_ONLY, i_reduce},
    {DESK_REJ_CONNECTOR_DOWN, i_down},
    {DESK_REJ_NOT_TRADABLE, i_disabled},
    {DESK_REJ_BAD_COMMAND, i_side},
    {DESK_REJ_BAD_PRICE, i_stop_px},
    {DESK_REJ_ORDER_TYPE, i_cash_venue},
    {DESK_REJ_TIF, i_fok},
    {DESK_REJ_LOT_SIZE, i_lot},
    {DESK_REJ_TICK_SIZE, i_tick},
    {DESK_REJ_NO_QUOTE, i_no_quote},
    {DESK_REJ_MIN_NOTIONAL, i_min_notional},
    {DESK_REJ_MAX_ORDER_QTY, i_max_qty},
    {DESK_REJ_MAX_ORDER_NOTIONAL, i_max_notional},
    {DESK_REJ_PRICE_COLLAR, i_collar},
    {DESK_REJ_MAX_POSITION, i_max_pos},
    {DESK_REJ_MAX_POSITION_NOTIONAL, i_max_pos_notional},
    {DESK_REJ_DAILY_LOSS, i_daily_loss},
    {DESK_REJ_RATE_LIMIT, i_rate},
    {DESK_REJ_BUYING_POWER, i_bp},
    {DESK_REJ_VENUE_CASH, i_venue_cash},
};
#define NINJ (sizeof injs / sizeof injs[0])

/* Every single failure alone, and every pair: the earlier check decides. */
static void test_precedence_pairs(void **state)
{
    char what[128];

    (void)state;
    p_base(&F);
    EXPECT_REASON(&F, DESK_REJ_NONE, "precedence base");
    for (size_t i = 0; i < NINJ; i++) {
        p_base(&F);
        injs[i].apply(&F);
        snprintf(what, sizeof what, "alone %s", desk_reject_name((unsigned)injs[i].reason));
        EXPECT_REASON(&F, injs[i].reason, what);
        for (size_t j = i + 1; j < NINJ; j++) {
            p_base(&F);
            injs[j].apply(&F);
            injs[i].apply(&F);
            snprintf(what, sizeof what, "%s + %s", desk_reject_name((unsigned)injs[i].reason),
                     desk_reject_name((unsigned)injs[j].reason));
            EXPECT_REASON(&F, injs[i].reason, what);
        }
    }
}

/* All failures at once, then peel them off front to back: each step reports
 * the next check in guard.h's list. */
static void test_precedence_peel(void **state)
{
    char what[64];

    (void)state;
    for (size_t first = 0; first <= NINJ; first++) {
        p_base(&F);
        for (size_t k = NINJ; k-- > first;)
            injs[k].apply(&F);
        int want = first < NINJ ? injs[first].reason : DESK_REJ_NONE;
        snprintf(what, sizeof what, "peel from %zu", first);
        EXPECT_REASON(&F, want, what);
    }
}

/* The instrument lookup: HALTED still wins over an unknown instrument, and
 * an unknown instrument wins over everything that needs the instrument. */
static void test_precedence_unknown_instrument(void **state)
{
    (void)state;
    base(&F);
    F.have_instr = 0;
    F.g.kill = DESK_KILL_HALTED;
    EXPECT_REASON(&F, DESK_REJ_KILL_SWITCH, "halted + unknown");
    base(&F);
    F.have_instr = 0;
    F.g.health = DESK_DOWN;
    F.cmd.qty = 0;
    F.cmd.side = 9;
    EXPECT_REASON(&F, DESK_REJ_UNKNOWN_INSTRUMENT, "unknown + down + bad");
    /* BAD_COMMAND before BAD_QTY before BAD_PRICE. */
    base(&F);
    F.cmd.tif = 2;
    F.cmd.qty = 0;
    F.cmd.px = 0;
    EXPECT_REASON(&F, DESK_REJ_BAD_COMMAND, "tif + qty + px");
    F.cmd.tif = DESK_DAY;
    EXPECT_REASON(&F, DESK_REJ_BAD_QTY, "qty + px");
    F.cmd.qty = UNITS(1);
    EXPECT_REASON(&F, DESK_REJ_BAD_PRICE, "px");
}

/* ---- venue-type tables (DESIGN.md, "Unified Trading Account") ------------ */

/* type_ok[venue type][ord type], from DESIGN.md's table. */
static const int type_ok[7][5] = {
    [DESK_VENUE_EQUITIES] = {0, 1, 1, 1, 1},
    [DESK_VENUE_OPTIONS] = {0, 1, 1, 1, 0},
    [DESK_VENUE_CRYPTO] = {0, 1, 1, 0, 1},
    [DESK_VENUE_FUTURES] = {0, 1, 1, 1, 0},
    [DESK_VENUE_CASH] = {0, 0, 0, 0, 0},
};

static const uint8_t tifs[] = {DESK_DAY, DESK_GTC, DESK_IOC, DESK_FOK};

/* Listed options take no FOK; cash venues take no orders at all. */
static int tif_ok(int venue, uint8_t tif)
{
    if (venue < DESK_VENUE_EQUITIES || venue > DESK_VENUE_FUTURES)
        return 0;
    return !(venue == DESK_VENUE_OPTIONS && tif == DESK_FOK);
}

static void test_venue_tables(void **state)
{
    (void)state;
    for (int v = 0; v <= 6; v++) {
        for (int t = 0; t <= 5; t++) {
            int want = t >= 1 && t <= 4 ? type_ok[v][t] : 0;
            assert_int_equal(desk_venue_supports_type((uint8_t)v, (uint8_t)t), want);
        }
        for (int tif = 0; tif <= 5; tif++) {
            int want = (tif == 0 || tif == 1 || tif == 3 || tif == 4) && tif_ok(v, (uint8_t)tif);
            assert_int_equal(desk_venue_supports_tif((uint8_t)v, (uint8_t)tif), want);
        }
    }
}

/* The same tables through desk_guard_check: the verdict names the check. */
static void test_venue_tables_through_guard(void **state)
{
    char what[96];

    (void)state;
    for (int v = 0; v <= 6; v++) {
        for (int t = DESK_MARKET; t <= DESK_STOP_LIMIT; t++) {
            for (size_t k = 0; k < sizeof tifs; k++) {
                base(&F);
                F.g.venue_type = (uint8_t)v;
                F.cmd.ord_type = (uint8_t)t;
                F.cmd.tif = tifs[k];
                F.cmd.px = t == DESK_LIMIT || t == DESK_STOP_LIMIT ? CENTS(10100) : 0;
                F.cmd.stop_px = t == DESK_STOP || t == DESK_STOP_LIMIT ? CENTS(10100) : 0;
                int want = !type_ok[v][t]             ? DESK_REJ_ORDER_TYPE
                           : !tif_ok(v, tifs[k])      ? DESK_REJ_TIF
                                                      : DESK_REJ_NONE;
                snprintf(what, sizeof what, "venue %d type %d tif %u", v, t, tifs[k]);
                EXPECT_REASON(&F, want, what);
            }
        }
    }
}

/* ---- market notional at the touch and the reservation ------------------- */

static void test_market_notional_at_touch(void **state)
{
    (void)state;
    /* A market buy of 10 is judged at the ask, 100.01: 1000.10. */
    int64_t at_ask = mul8(CENTS(10001), UNITS(10));
    assert_int_equal(at_ask, CENTS(100010));
    base(&F);
    F.cmd.ord_type = DESK_MARKET;
    F.cmd.px = 0;
    F.lim.max_order_notional = at_ask;
    desk_guard_verdict_t v = run(&F);
    assert_int_equal(v.reason, DESK_REJ_NONE);
    assert_int_equal(v.reserve_px, CENTS(10001));
    assert_int_equal(v.reserve, at_ask);
    F.lim.max_order_notional = at_ask - 1; /* mid or bid would still pass */
    EXPECT_REASON(&F, DESK_REJ_MAX_ORDER_NOTIONAL, "market buy at ask");

    /* A market sell is judged at the bid, 99.99: 999.90. */
    int64_t at_bid = mul8(CENTS(9999), UNITS(10));
    base(&F);
    F.cmd.side = DESK_SELL;
    F.cmd.ord_type = DESK_MARKET;
    F.cmd.px = 0;
    F.in.min_notional = at_bid;
    EXPECT_REASON(&F, DESK_REJ_NONE, "market sell min notional at bid");
    F.in.min_notional = at_bid + 1; /* the ask or mid would pass */
    EXPECT_REASON(&F, DESK_REJ_MIN_NOTIONAL, "market sell at bid");

    /* The same touch sets the position notional and buying power. */
    base(&F);
    F.cmd.ord_type = DESK_MARKET;
    F.cmd.px = 0;
    F.lim.max_position_notional = at_ask;
    EXPECT_REASON(&F, DESK_REJ_NONE, "market position notional");
    F.lim.max_position_notional = at_ask - 1;
    EXPECT_REASON(&F, DESK_REJ_MAX_POSITION_NOTIONAL, "market position notional at ask");
    base(&F);
    F.cmd.ord_type = DESK_MARKET;
    F.cmd.px = 0;
    F.uta.venue[0].cash = at_ask;
    EXPECT_REASON(&F, DESK_REJ_NONE, "market bp");
    F.uta.venue[0].cash = at_ask - 1;
    EXPECT_REASON(&F, DESK_REJ_BUYING_POWER, "market bp at ask");
}

static void test_reservation_in_verdict(void **state)
{
    desk_guard_verdict_t v;

    (void)state;
    /* A limit buy reserves leaves * limit, rounded toward zero. */
    base(&F);
    F.cmd.px = CENTS(10001);
    F.cmd.qty = 333333333; /* 3.33333333 */
    v = run(&F);
    assert_int_equal(v.reason, DESK_REJ_NONE);
    assert_int_equal(v.reserve_px, CENTS(10001));
    assert_int_equal(v.reserve, (int64_t)((__int128)10001000000 * 333333333 / 100000000));
    assert_int_equal(v.reserve, INT64_C(33336666633));

    /* A sell reserves no cash. */
    base(&F);
    F.cmd.side = DESK_SELL;
    v = run(&F);
    assert_int_equal(v.reason, DESK_REJ_NONE);
    assert_int_equal(v.reserve_px, 0);
    assert_int_equal(v.reserve, 0);

    /* A buy stop not yet triggered reserves at its stop ... */
    base(&F);
    F.cmd.ord_type = DESK_STOP;
    F.cmd.px = 0;
    F.cmd.stop_px = CENTS(10100);
    v = run(&F);
    assert_int_equal(v.reason, DESK_REJ_NONE);
    assert_int_equal(v.reserve_px, CENTS(10100));
    assert_int_equal(v.reserve, UNITS(1010));
    /* ... and one the market has passed (ask above the stop) at the ask. */
    F.q.bid_px = CENTS(10200);
    F.q.ask_px = CENTS(10202);
    v = run(&F);
    assert_int_equal(v.reason, DESK_REJ_NONE);
    assert_int_equal(v.reserve_px, CENTS(10202));
    assert_int_equal(v.reserve, UNITS(1020) + CENTS(20));
    /* Triggered at the ask, it is judged there too. */
    F.lim.max_order_notional = UNITS(1020) + CENTS(20) - 1;
    EXPECT_REASON(&F, DESK_REJ_MAX_ORDER_NOTIONAL, "triggered stop at the ask");

    /* A stop-limit reserves at its limit. */
    base(&F);
    F.cmd.ord_type = DESK_STOP_LIMIT;
    F.cmd.px = CENTS(10150);
    F.cmd.stop_px = CENTS(10100);
    v = run(&F);
    assert_int_equal(v.reason, DESK_REJ_NONE);
    assert_int_equal(v.reserve_px, CENTS(10150));
    assert_int_equal(v.reserve, UNITS(1015));

    /* A refused order reserves nothing. */
    base(&F);
    F.uta.venue[0].cash = 0;
    v = run(&F);
    assert_int_equal(v.reason, DESK_REJ_BUYING_POWER);
    assert_int_equal(v.reserve_px, 0);
    assert_int_equal(v.reserve, 0);
}

/*
 * guard.h, check 8: "a market or stop order, or a collar, needs a quote and
 * there is none".  A stop order with no quote at all cannot be judged: if
 * the market is already through its trigger it trades at a touch the guard
 * never saw.
 */
/* A stop is judged at its stop price (guard.h check 8): it needs a quote
 * only when a collar is set. */
static void test_stop_order_needs_quote(void **state)
{
    (void)state;
    base(&F);
    F.cmd.ord_type = DESK_STOP;
    F.cmd.px = 0;
    F.cmd.stop_px = CENTS(10100);
    EXPECT_REASON(&F, DESK_REJ_NONE, "stop with quote");
    F.have_quote = 0;
    F.lim.collar_bps = 0;
    EXPECT_REASON(&F, DESK_REJ_NONE, "stop without quote, no collar");
    F.lim.collar_bps = 100;
    EXPECT_REASON(&F, DESK_REJ_NO_QUOTE, "stop without quote, collar set");
}

/* ---- replace semantics ----------------------------------------------------- */

/* A buy of 10 at 100.00 with 4 filled: 6 leaves, 600.00 reserved, and the
 * UTA knows its 6 leaves as open buys and its reservation at venue 0. */
static void replace_base(fx_t *f)
{
    base(f);
    f->cmd.type = DESK_CMD_REPLACE;
    f->cmd.cl_ord_id = 2;
    f->cmd.orig_cl_ord_id = 1;
    f->g.replace_cum_qty = UNITS(4);
    f->g.replace_old_leaves = UNITS(6);
    f->g.replace_old_reserved = UNITS(600);
    f->uta.pos[0].qty = UNITS(4);
    f->uta.pos[0].avg_px = CENTS(10000);
    f->uta.pos[0].open_buy = UNITS(6);
    f->uta.venue[0].reserved = UNITS(600);
}

static void test_replace_counts_only_the_change(void **state)
{
    desk_guard_verdict_t v;

    (void)state;
    /* Grow to 12: leaves 8, two more than now.  Position at worst: 4 held
     * + 6 open + 2 = 12 (counting the old leaves again would give 18). */
    replace_base(&F);
    F.cmd.qty = UNITS(12);
    F.lim.max_position_qty = UNITS(12);
    v = run(&F);
    assert_int_equal(v.reason, DESK_REJ_NONE);
    assert_int_equal(v.reserve_px, CENTS(10000));
    assert_int_equal(v.reserve, UNITS(800)); /* the new leaves, 8 * 100 */
    F.lim.max_position_qty = UNITS(12) - 1;
    EXPECT_REASON(&F, DESK_REJ_MAX_POSITION, "replace position");

    /* Buying power: only the extra 200.00 is needed. */
    replace_base(&F);
    F.cmd.qty = UNITS(12);
    F.uta.venue[0].cash = UNITS(800); /* 800 - 600 reserved = 200 */
    EXPECT_REASON(&F, DESK_REJ_NONE, "replace bp exact");
    F.uta.venue[0].cash = UNITS(800) - 1;
    EXPECT_REASON(&F, DESK_REJ_BUYING_POWER, "replace bp 1e-8 short");
    /* ... and at the venue. */
    replace_base(&F);
    F.cmd.qty = UNITS(12);
    F.uta.venue[0].cash = UNITS(800) - 1;
    F.uta.venue[1].cash = UNITS(1000);
    EXPECT_REASON(&F, DESK_REJ_VENUE_CASH, "replace venue cash 1e-8 short");

    /* Max order qty and notional judge the new total. */
    replace_base(&F);
    F.cmd.qty = UNITS(12);
    F.lim.max_order_qty = UNITS(12);
    F.lim.max_order_notional = UNITS(1200);
    EXPECT_REASON(&F, DESK_REJ_NONE, "replace order limits");
    F.lim.max_order_qty = UNITS(12) - 1;
    EXPECT_REASON(&F, DESK_REJ_MAX_ORDER_QTY, "replace max qty");
    F.lim.max_order_qty = 0;
    F.lim.max_order_notional = UNITS(1200) - 1;
    EXPECT_REASON(&F, DESK_REJ_MAX_ORDER_NOTIONAL, "replace max notional");

    /* A new total at or below what is filled leaves nothing: BAD_QTY. */
    replace_base(&F);
    F.cmd.qty = UNITS(4) + 1;
    EXPECT_REASON(&F, DESK_REJ_NONE, "replace to cum + 1e-8");
    F.cmd.qty = UNITS(4);
    EXPECT_REASON(&F, DESK_REJ_BAD_QTY, "replace to cum");

    /* A shrink needs no cash, even with none free; it reserves the new
     * leaves.  A reprice up at the same size needs only the difference. */
    replace_base(&F);
    F.uta.venue[0].cash = UNITS(600); /* buying power 0 */
    F.cmd.qty = UNITS(8);
    v = run(&F);
    assert_int_equal(v.reason, DESK_REJ_NONE);
    assert_int_equal(v.reserve, UNITS(400));
    F.cmd.qty = UNITS(10);
    F.cmd.px = CENTS(10001); /* 6 * 100.01 = 600.06: 0.06 more */
    F.uta.venue[0].cash = UNITS(600) + CENTS(6);
    v = run(&F);
    assert_int_equal(v.reason, DESK_REJ_NONE);
    assert_int_equal(v.reserve, UNITS(600) + CENTS(6));
    F.uta.venue[0].cash = UNITS(600) + CENTS(6) - 1;
    EXPECT_REASON(&F, DESK_REJ_BUYING_POWER, "reprice 1e-8 short");
}

static void test_replace_reduce_only(void **state)
{
    (void)state;
    /* Flat, one buy of 10 open, desk REDUCING: shrinking or repricing is
     * fine, growing by 1e-8 is not. */
    base(&F);
    F.cmd.type = DESK_CMD_REPLACE;
    F.g.kill = DESK_KILL_REDUCING;
    F.g.replace_cum_qty = 0;
    F.g.replace_old_leaves = UNITS(10);
    F.g.replace_old_reserved = UNITS(1000);
    F.uta.pos[0].open_buy = UNITS(10);
    F.uta.venue[0].reserved = UNITS(1000);
    F.cmd.qty = UNITS(8);
    EXPECT_REASON(&F, DESK_REJ_NONE, "shrinking replace while reducing");
    F.cmd.qty = UNITS(10);
    F.cmd.px = CENTS(9990);
    EXPECT_REASON(&F, DESK_REJ_NONE, "reprice while reducing");
    F.cmd.px = CENTS(10000);
    F.cmd.qty = UNITS(10) + 1;
    EXPECT_REASON(&F, DESK_REJ_REDUCE_ONLY, "growing replace while reducing");
    /* A shrinking replace skips the position limits: it adds no risk. */
    F.cmd.qty = UNITS(8);
    F.lim.max_position_qty = UNITS(1);
    EXPECT_REASON(&F, DESK_REJ_NONE, "shrinking replace over the position limit");
    F.g.kill = DESK_KILL_HALTED;
    EXPECT_REASON(&F, DESK_REJ_KILL_SWITCH, "replace while halted");
}

/* ---- reduce-only ----------------------------------------------------------- */

static void test_reduce_only(void **state)
{
    (void)state;
    /* Long 10: a sell of 10 closes, accepted; a buy of 1e-8 grows. */
    base(&F);
    F.g.kill = DESK_KILL_REDUCING;
    F.uta.pos[0].qty = UNITS(10);
    F.uta.pos[0].avg_px = CENTS(10000);
    F.cmd.side = DESK_SELL;
    EXPECT_REASON(&F, DESK_REJ_NONE, "sell to close");
    F.cmd.side = DESK_BUY;
    F.cmd.qty = 1;
    EXPECT_REASON(&F, DESK_REJ_REDUCE_ONLY, "buy while long");
    /* Open sells count as if filled: with 10 already offered, 1e-8 more
     * would go short. */
    F.cmd.side = DESK_SELL;
    F.uta.pos[0].open_sell = UNITS(10);
    F.cmd.qty = UNITS(10);
    EXPECT_REASON(&F, DESK_REJ_NONE, "sell to -10 with 10 open");
    F.cmd.qty = UNITS(10) + 1;
    EXPECT_REASON(&F, DESK_REJ_REDUCE_ONLY, "sell beyond -10 with 10 open");
    /* A reducing order is not held back by the daily loss or position
     * limits: the desk must be able to get out. */
    F.cmd.qty = UNITS(5);
    F.lim.daily_loss = UNITS(1);
    F.uta.venue[0].realized_pnl = -UNITS(100);
    F.lim.max_position_qty = UNITS(1);
    EXPECT_REASON(&F, DESK_REJ_NONE, "reducing past daily loss");
    F.g.kill = DESK_KILL_ACTIVE;
    F.cmd.side = DESK_BUY;
    EXPECT_REASON(&F, DESK_REJ_MAX_POSITION, "buying while long, limits apply");
}

/* ---- the token bucket ------------------------------------------------------ */

static int attempt(fx_t *f, uint64_t now)
{
    f->g.now_ns = now;
    return reason(f);
}

static void test_bucket_init(void **state)
{
    desk_limits_t l = {0};
    desk_bucket_t b = {.tokens = -5, .last_ns = 1};

    (void)state;
    l.orders_per_sec = 2;
    l.burst = 3;
    desk_bucket_init(&b, &l, T0);
    assert_int_equal(b.tokens, INT64_C(3000000));
    assert_int_equal(b.last_ns, T0);
}

static void test_rate_limit_refill(void **state)
{
    (void)state;
    base(&F);
    F.lim.orders_per_sec = 2;
    F.lim.burst = 3;
    desk_bucket_init(&F.bucket, &F.lim, T0);
    /* The burst: three at once, the fourth refused. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(attempt(&F, T0), DESK_REJ_NONE);
    assert_int_equal(attempt(&F, T0), DESK_REJ_RATE_LIMIT);
    /* 2 per second: one token takes 0.5 s; 1 us short is not enough. */
    assert_int_equal(attempt(&F, T0 + 499999000), DESK_REJ_RATE_LIMIT);
    assert_int_equal(attempt(&F, T0 + 500000000), DESK_REJ_NONE);
    assert_int_equal(attempt(&F, T0 + 500000000), DESK_REJ_RATE_LIMIT);
    /* Time running backwards adds nothing. */
    assert_int_equal(attempt(&F, T0), DESK_REJ_RATE_LIMIT);
    /* A long pause fills the bucket only to its burst. */
    uint64_t t = T0 + 500000000 + UINT64_C(10000000000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(attempt(&F, t), DESK_REJ_NONE);
    assert_int_equal(attempt(&F, t), DESK_REJ_RATE_LIMIT);
    /* Steady state: every 0.5 s exactly one more. */
    for (int k = 1; k <= 20; k++) {
        uint64_t tk = t + (uint64_t)k * 500000000;
        assert_int_equal(attempt(&F, tk), DESK_REJ_NONE);
        assert_int_equal(attempt(&F, tk), DESK_REJ_RATE_LIMIT);
    }
}

/* Orders refused by an earlier check take no token. */
static void test_rate_limit_refused_orders_take_no_token(void **state)
{
    (void)state;
    base(&F);
    F.lim.orders_per_sec = 1;
    F.lim.burst = 1;
    desk_bucket_init(&F.bucket, &F.lim, T0);
    F.cmd.qty = 0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(attempt(&F, T0), DESK_REJ_BAD_QTY);
    F.cmd.qty = UNITS(1);
    F.lim.max_order_qty = 1;
    assert_int_equal(attempt(&F, T0), DESK_REJ_MAX_ORDER_QTY);
    F.lim.max_order_qty = 0;
    assert_int_equal(attempt(&F, T0), DESK_REJ_NONE);
    assert_int_equal(attempt(&F, T0), DESK_REJ_RATE_LIMIT);
    assert_int_equal(F.bucket.tokens, 0);
}

/*
 * Refill must not depend on how often the guard runs.  At 1000 orders/s
 * a token takes 1 ms; a strategy retrying every 999 ns for 1.998 ms must
 * get exactly one more order through.
 */
static void test_rate_limit_frequent_calls_still_refill(void **state)
{
    int accepted = 0;

    (void)state;
    base(&F);
    F.lim.orders_per_sec = 1000;
    F.lim.burst = 1;
    desk_bucket_init(&F.bucket, &F.lim, T0);
    assert_int_equal(attempt(&F, T0), DESK_REJ_NONE);
    for (uint64_t k = 1; k <= 2000; k++) {
        int r = attempt(&F, T0 + k * 999);
        assert_true(r == DESK_REJ_NONE || r == DESK_REJ_RATE_LIMIT);
        accepted += r == DESK_REJ_NONE;
    }
    if (accepted != 1)
        print_error("1.998 ms at 1000/s in 999 ns steps: %d accepted, want 1\n", accepted);
    assert_int_equal(accepted, 1);
}

/*
 * A long pause must fill the bucket, whatever the rate: at 4e9 orders/s
 * (any uint32 is a valid orders_per_sec) an hour's refill is 1.44e19
 * micro-tokens, more than INT64_MAX.
 */
static void test_rate_limit_long_pause_high_rate(void **state)
{
    (void)state;
    base(&F);
    F.lim.orders_per_sec = 4000000000u;
    F.lim.burst = 2;
    desk_bucket_init(&F.bucket, &F.lim, T0);
    assert_int_equal(attempt(&F, T0), DESK_REJ_NONE);
    assert_int_equal(attempt(&F, T0), DESK_REJ_NONE);
    assert_int_equal(attempt(&F, T0), DESK_REJ_RATE_LIMIT);
    uint64_t t = T0 + UINT64_C(3600) * 1000000000;
    assert_int_equal(attempt(&F, t), DESK_REJ_NONE);
    assert_int_equal(attempt(&F, t), DESK_REJ_NONE);
    assert_int_equal(attempt(&F, t), DESK_REJ_RATE_LIMIT);
    assert_true(F.bucket.tokens >= 0);
}

/* No throttle configured: any number of orders at one instant. */
static void test_rate_limit_unset(void **state)
{
    (void)state;
    base(&F);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(attempt(&F, T0), DESK_REJ_NONE);
}

/* ---- limits merge ---------------------------------------------------------- */

static void test_limits_merge(void **state)
{
    desk_limits_t a = {0}, b = {0}, c = {0}, out;

    (void)state;
    /* The tightest set value of each field, whichever set it comes from;
     * 0 means unset and never wins. */
    a.max_order_qty = UNITS(5);
    b.max_order_qty = UNITS(3);
    c.max_order_qty = 0;
    a.max_order_notional = 0;
    b.max_order_notional = UNITS(700);
    c.max_order_notional = UNITS(600);
    a.max_position_qty = UNITS(9);
    b.max_position_qty = 0;
    c.max_position_qty = 0;
    a.max_position_notional = 0;
    b.max_position_notional = 0;
    c.max_position_notional = UNITS(420);
    a.daily_loss = UNITS(100);
    b.daily_loss = UNITS(100) - 1;
    c.daily_loss = UNITS(100) + 1;
    a.collar_bps = 50;
    b.collar_bps = 0;
    c.collar_bps = 49;
    a.orders_per_sec = 0;
    b.orders_per_sec = 20;
    c.orders_per_sec = 10;
    a.burst = 5;
    b.burst = 0;
    c.burst = 0;
    a.pad_ = b.pad_ = c.pad_ = 7;
    memset(&out, 0xa5, sizeof out);
    desk_limits_merge(&out, &a, &b, &c);
    assert_int_equal(out.max_order_qty, UNITS(3));
    assert_int_equal(out.max_order_notional, UNITS(600));
    assert_int_equal(out.max_position_qty, UNITS(9));
    assert_int_equal(out.max_position_notional, UNITS(420));
    assert_int_equal(out.daily_loss, UNITS(100) - 1);
    assert_int_equal(out.collar_bps, 49);
    assert_int_equal(out.orders_per_sec, 10);
    assert_int_equal(out.burst, 5);
    assert_int_equal(out.pad_, 0);

    /* The order of the three does not matter. */
    desk_limits_t out2, out3;
    desk_limits_merge(&out2, &c, &a, &b);
    desk_limits_merge(&out3, &b, &c, &a);
    assert_memory_equal(&out, &out2, sizeof out);
    assert_memory_equal(&out, &out3, sizeof out);

    /* All unset stays unset (no throttle, so no burst). */
    desk_limits_t z = {0};
    memset(&out, 0xa5, sizeof out);
    desk_limits_merge(&out, &z, &z, &z);
    assert_int_equal(out.max_order_qty, 0);
    assert_int_equal(out.max_order_notional, 0);
    assert_int_equal(out.max_position_qty, 0);
    assert_int_equal(out.max_position_notional, 0);
    assert_int_equal(out.daily_loss, 0);
    assert_int_equal(out.collar_bps, 0);
    assert_int_equal(out.orders_per_sec, 0);
    assert_int_equal(out.burst, 0);

    /* A rate without a burst gets burst = rate; a set burst is kept. */
    desk_limits_t r = {0};
    r.orders_per_sec = 25;
    desk_limits_merge(&out, &z, &r, &z);
    assert_int_equal(out.orders_per_sec, 25);
    assert_int_equal(out.burst, 25);
    desk_limits_t rb = {0};
    rb.burst = 100;
    desk_limits_merge(&out, &r, &z, &rb);
    assert_int_equal(out.orders_per_sec, 25);
    assert_int_equal(out.burst, 100);
    /* Values near the top of the range are compared, not added. */
    desk_limits_t big = {0};
    big.max_order_qty = INT64_MAX;
    big.collar_bps = UINT32_MAX;
    desk_limits_merge(&out, &big, &z, &z);
    assert_true(out.max_order_qty == INT64_MAX);
    assert_true(out.collar_bps == UINT32_MAX);

    /* The merged limits drive the guard: the tightest refuses. */
    base(&F);
    desk_limits_merge(&F.lim, &a, &b, &c);
    F.cmd.qty = UNITS(3);
    F.cmd.px = CENTS(10000);
    desk_bucket_init(&F.bucket, &F.lim, T0);
    EXPECT_REASON(&F, DESK_REJ_NONE, "merged: 3 at 100");
    F.cmd.qty = UNITS(3) + 1;
    EXPECT_REASON(&F, DESK_REJ_MAX_ORDER_QTY, "merged: 3 + 1e-8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_accepted),
        cmocka_unit_test(test_every_check_boundary),
        cmocka_unit_test(test_precedence_pairs),
        cmocka_unit_test(test_precedence_peel),
        cmocka_unit_test(test_precedence_unknown_instrument),
        cmocka_unit_test(test_venue_tables),
        cmocka_unit_test(test_venue_tables_through_guard),
        cmocka_unit_test(test_market_notional_at_touch),
        cmocka_unit_test(test_reservation_in_verdict),
        cmocka_unit_test(test_stop_order_needs_quote),
        cmocka_unit_test(test_replace_counts_only_the_change),
        cmocka_unit_test(test_replace_reduce_only),
        cmocka_unit_test(test_reduce_only),
        cmocka_unit_test(test_bucket_init),
        cmocka_unit_test(test_rate_limit_refill),
        cmocka_unit_test(test_rate_limit_refused_orders_take_no_token),
        cmocka_unit_test(test_rate_limit_frequent_calls_still_refill),
        cmocka_unit_test(test_rate_limit_long_pause_high_rate),
        cmocka_unit_test(test_rate_limit_unset),
        cmocka_unit_test(test_limits_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
