/*
 * kern_guard.c - scenarios for desk_guard_check(), the pre-trade guard.
 *
 * The base scenario is an order every check has to look at and accepts: a
 * BUY LIMIT GTC of 0.001 BTCUSDT at 61837.63 on a crypto venue, with every
 * limit set (max order qty and notional, price collar, max position qty and
 * notional, daily loss, an order-rate throttle whose bucket never runs dry),
 * trading hours set (so the hours test computes), a min notional, a quote,
 * and a UTA with cash on the venue.  Each reject scenario changes the one
 * thing that makes its check refuse; the checks before it still run, so a
 * late reject (VENUE_CASH) costs about what an accept costs and an early one
 * (KILL_SWITCH) almost nothing.  DUPLICATE_CLORDID, ORDER_TABLE_FULL and the
 * cancel/replace reasons are refused by the router, not by the guard, and
 * have no scenario here.
 */
#include <stdlib.h>
#include <string.h>

#include "core/guard.h"
#include "core/uta.h"
#include "desk/types.h"
#include "kern.h"

#define PX(units, cents) ((int64_t)(units)*DESK_SCALE + (int64_t)(cents) * (DESK_SCALE / 100))

struct bk_guard {
    desk_guard_ctx_t ctx;    /* what desk_guard_check() reads */
    desk_cmd_t cmd;          /* the order */
    desk_instrument_t instr; /* BTCUSDT */
    desk_limits_t limits;    /* effective limits */
    desk_quote_t quote;      /* current quote */
    desk_bucket_t bucket;    /* throttle */
    desk_bucket_t bucket0;   /* throttle as built (restored per run) */
    desk_uta_t uta;          /* the account */
    int reason;              /* the scenario */
};

const char *bk_guard_name(int reason)
{
    return reason == BK_GUARD_ACCEPT ? "ACCEPT" : desk_reject_name((unsigned)reason);
}

bk_guard_t *bk_guard_create(int reason)
{
    bk_guard_t *g = calloc(1, sizeof *g);

    if (g == NULL)
        return NULL;
    g->reason = reason;
    desk_cmd_t *c = &g->cmd;
    c->type = DESK_CMD_NEW;
    c->side = DESK_BUY;
    c->ord_type = DESK_LIMIT;
    c->tif = DESK_GTC;
    c->instrument = 0;
    c->cl_ord_id = 42;
    c->qty = DESK_SCALE / 1000; /* 0.001 */
    c->px = PX(61837, 63);

    desk_instrument_t *in = &g->instr;
    in->id = 0;
    in->connector = 0;
    in->asset_class = DESK_ASSET_CRYPTO;
    in->tradable = 1;
    memcpy(in->symbol, "BTCUSDT", 8);
    in->tick_size = DESK_SCALE / 100;   /* 0.01 */
    in->lot_size = DESK_SCALE / 100000; /* 0.00001 */
    in->min_notional = 5 * DESK_SCALE;  /* 5 USDT */
    in->open_min = 0;                   /* hours set: the test computes */
    in->close_min = 1440;

    desk_limits_t *l = &g->limits;
    l->max_order_qty = 10 * DESK_SCALE;
    l->max_order_notional = 1000000 * DESK_SCALE;
    l->max_position_qty = 100 * DESK_SCALE;
    l->max_position_notional = 10000000 * DESK_SCALE;
    l->daily_loss = 100000 * DESK_SCALE;
    l->collar_bps = 500;
    l->orders_per_sec = 1000000000u; /* set, so the bucket is consulted ... */
    l->burst = UINT32_MAX;           /* ... and never empties in a run */

    g->quote.bid_px = PX(61837, 62);
    g->quote.bid_qty = DESK_SCALE;
    g->quote.ask_px = PX(61837, 63);
    g->quote.ask_qty = DESK_SCALE;
    g->quote.last_px = PX(61837, 62);

    desk_uta_init(&g->uta, 2, 1);
    g->uta.venue[0].cash = 10000000 * DESK_SCALE;
    g->uta.venue[0].venue_bp = g->uta.venue[0].cash;
    g->uta.pos[0].mark_px = g->quote.bid_px;

    uint64_t now = 1000000000000ull;
    desk_bucket_init(&g->bucket, l, now);

    desk_guard_ctx_t *x = &g->ctx;
    x->cmd = c;
    x->instr = in;
    x->limits = l;
    x->quote = &g->quote;
    x->uta = &g->uta;
    x->bucket = &g->bucket;
    x->venue_type = DESK_VENUE_CRYPTO;
    x->kill = DESK_KILL_ACTIVE;
    x->health = DESK_UP;
    x->minute_of_day = 600;
    x->now_ns = now;

    switch (reason) {
    case BK_GUARD_ACCEPT: break;
    case DESK_REJ_KILL_SWITCH: x->kill = DESK_KILL_HALTED; break;
    case DESK_REJ_REDUCE_ONLY:
        x->kill = DESK_KILL_REDUCING; /* flat: a buy grows |position| */
        break;
    case DESK_REJ_UNKNOWN_INSTRUMENT: x->instr = NULL; break;
    case DESK_REJ_CONNECTOR_DOWN: x->health = DESK_DEGRADED; break;
    case DESK_REJ_NOT_TRADABLE:
        in->open_min = 870; /* 14:30-21:00 UTC; now is 10:00 */
        in->close_min = 1260;
        break;
    case DESK_REJ_BAD_COMMAND: c->side = 7; break;
    case DESK_REJ_BAD_QTY: c->qty = 0; break;
    case DESK_REJ_BAD_PRICE: c->px = 0; break;
    case DESK_REJ_ORDER_TYPE:
        c->ord_type = DESK_STOP; /* crypto spot: no plain stop */
        c->px = 0;
        c->stop_px = PX(61837, 63);
        break;
    case DESK_REJ_TIF:
        x->venue_type = DESK_VENUE_OPTIONS; /* listed options: no FOK */
        c->tif = DESK_FOK;
        break;
    case DESK_REJ_LOT_SIZE:
        c->qty += DESK_SCALE / 1000000; /* 0.001001 */
        break;
    case DESK_REJ_TICK_SIZE:
        c->px += DESK_SCALE / 1000; /* 61837.631 */
        break;
    case DESK_REJ_NO_QUOTE: x->quote = NULL; break;
    case DESK_REJ_MIN_NOTIONAL:
        in->min_notional = 100 * DESK_SCALE; /* order is about 61.84 */
        break;
    case DESK_REJ_MAX_ORDER_QTY: l->max_order_qty = DESK_SCALE / 10000; break;
    case DESK_REJ_MAX_ORDER_NOTIONAL: l->max_order_notional = 50 * DESK_SCALE; break;
    case DESK_REJ_PRICE_COLLAR:
        c->px = PX(70000, 0); /* 13% above mid, collar 5% */
        break;
    case DESK_REJ_MAX_POSITION: l->max_position_qty = DESK_SCALE / 10000; break;
    case DESK_REJ_MAX_POSITION_NOTIONAL: l->max_position_notional = 50 * DESK_SCALE; break;
    case DESK_REJ_DAILY_LOSS: g->uta.venue[0].realized_pnl = -200000 * DESK_SCALE; break;
    case DESK_REJ_RATE_LIMIT:
        l->orders_per_sec = 1;
        l->burst = 1;
        g->bucket.tokens = 0; /* empty; 1 ns per call refills nothing */
        break;
    case DESK_REJ_BUYING_POWER: g->uta.venue[0].cash = 10 * DESK_SCALE; break;
    case DESK_REJ_VENUE_CASH:
        /* The UTA as a whole can pay (cash at venue 1), venue 0 cannot. */
        g->uta.venue[0].cash = 10 * DESK_SCALE;
        g->uta.venue[1].cash = 10000000 * DESK_SCALE;
        break;
    default: free(g); return NULL;
    }
    g->bucket0 = g->bucket;
    return g;
}

void bk_guard_destroy(bk_guard_t *g)
{
    free(g);
}

int bk_guard_run(bk_guard_t *g, uint64_t n)
{
    desk_guard_verdict_t v = {0};

    /* A run starts from the bucket as built: the accepted scenario spends
     * one token per call and must never meet an empty bucket. */
    g->bucket = g->bucket0;
    g->bucket.last_ns = g->ctx.now_ns;
    for (uint64_t i = 0; i < n; i++) {
        g->ctx.now_ns++;
        v = desk_guard_check(&g->ctx);
        /* Keep the verdict live so the call is never elided. */
        __asm__ __volatile__("" : : "r"(v.reason), "r"(v.reserve) : "memory");
    }
    return v.reason;
}
