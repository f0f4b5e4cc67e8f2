/* guard.c - the pre-trade guard; see guard.h for the checks and their order. */
#include "guard.h"

#include "fixed.h"

static inline int64_t min_set(int64_t a, int64_t b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

static inline uint32_t min_set32(uint32_t a, uint32_t b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

void desk_limits_merge(desk_limits_t *out, const desk_limits_t *a, const desk_limits_t *b,
                       const desk_limits_t *c)
{
    out->max_order_qty = min_set(min_set(a->max_order_qty, b->max_order_qty), c->max_order_qty);
    out->max_order_notional =
        min_set(min_set(a->max_order_notional, b->max_order_notional), c->max_order_notional);
    out->max_position_qty =
        min_set(min_set(a->max_position_qty, b->max_position_qty), c->max_position_qty);
    out->max_position_notional = min_set(
        min_set(a->max_position_notional, b->max_position_notional), c->max_position_notional);
    out->daily_loss = min_set(min_set(a->daily_loss, b->daily_loss), c->daily_loss);
    out->collar_bps = min_set32(min_set32(a->collar_bps, b->collar_bps), c->collar_bps);
    out->orders_per_sec =
        min_set32(min_set32(a->orders_per_sec, b->orders_per_sec), c->orders_per_sec);
    out->burst = min_set32(min_set32(a->burst, b->burst), c->burst);
    if (out->orders_per_sec && out->burst == 0)
        out->burst = out->orders_per_sec;
    out->pad_ = 0;
}

void desk_bucket_init(desk_bucket_t *b, const desk_limits_t *l, uint64_t now_ns)
{
    b->tokens = (int64_t)l->burst * 1000000;
    b->last_ns = now_ns;
}

int desk_venue_supports_type(uint8_t venue_type, uint8_t ord_type)
{
    switch (venue_type) {
    case DESK_VENUE_EQUITIES:
        return ord_type >= DESK_MARKET && ord_type <= DESK_STOP_LIMIT;
    case DESK_VENUE_OPTIONS:
    case DESK_VENUE_FUTURES:
        return ord_type == DESK_MARKET || ord_type == DESK_LIMIT || ord_type == DESK_STOP;
    case DESK_VENUE_CRYPTO:
        return ord_type == DESK_MARKET || ord_type == DESK_LIMIT || ord_type == DESK_STOP_LIMIT;
    default: /* cash accounts take transfers, not orders */
        return 0;
    }
}

int desk_venue_supports_tif(uint8_t venue_type, uint8_t tif)
{
    switch (venue_type) {
    case DESK_VENUE_OPTIONS: /* listed options: no fill-or-kill */
        return tif == DESK_DAY || tif == DESK_GTC || tif == DESK_IOC;
    case DESK_VENUE_EQUITIES:
    case DESK_VENUE_FUTURES:
    case DESK_VENUE_CRYPTO: /* DAY on a 24/7 venue ends at 00:00 UTC */
        return tif == DESK_DAY || tif == DESK_GTC || tif == DESK_IOC || tif == DESK_FOK;
    default:
        return 0;
    }
}

static inline int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

static int in_hours(const desk_instrument_t *in, uint32_t minute)
{
    if (in->open_min < 0 || in->close_min < 0)
        return 1;
    uint32_t o = (uint32_t)in->open_min, c = (uint32_t)in->close_min;
    return o <= c ? minute >= o && minute < c : minute >= o || minute < c;
}

/* Take one token; 0 if the bucket is empty.  Tokens are kept in 1e-6, and
 * time is credited in whole microseconds: the remainder stays in last_ns, so
 * calls closer together than 1 us still refill. */
static int bucket_take(desk_bucket_t *b, const desk_limits_t *l, uint64_t now)
{
    if (l->orders_per_sec == 0)
        return 1;
    int64_t cap = (int64_t)l->burst * 1000000;
    if (now > b->last_ns) {
        /* rate tokens/s = rate micro-tokens per microsecond. */
        uint64_t us = (now - b->last_ns) / 1000;
        b->last_ns += us * 1000;
        unsigned __int128 add = (unsigned __int128)us * l->orders_per_sec;
        b->tokens = add >= (unsigned __int128)(cap - b->tokens) ? cap : b->tokens + (int64_t)add;
    }
    if (b->tokens < 1000000)
        return 0;
    b->tokens -= 1000000;
    return 1;
}

static desk_guard_verdict_t verdict(desk_reject_t r)
{
    desk_guard_verdict_t v = {.reason = (uint16_t)r};
    return v;
}

desk_guard_verdict_t desk_guard_check(const desk_guard_ctx_t *g)
{
    const desk_cmd_t *c = g->cmd;
    const desk_instrument_t *in = g->instr;
    const desk_limits_t *l = g->limits;
    const desk_quote_t *q = g->quote;
    int is_replace = c->type == DESK_CMD_REPLACE;
    int buy = c->side == DESK_BUY;
    desk_guard_verdict_t v = {0};

    if (in == NULL)
        return verdict(g->kill == DESK_KILL_HALTED ? DESK_REJ_KILL_SWITCH
                                                   : DESK_REJ_UNKNOWN_INSTRUMENT);
    const desk_uta_pos_state_t *pos = &g->uta->pos[in->id];
    /* What this command adds to the open quantity on its side (a replace
     * counts only its change; it may be negative). */
    int64_t new_leaves = is_replace ? c->qty - g->replace_cum_qty : c->qty;
    int64_t add_qty = is_replace ? new_leaves - g->replace_old_leaves : c->qty;
    int64_t open_same = buy ? pos->open_buy : pos->open_sell;
    int64_t worst = buy ? pos->qty + open_same + add_qty : pos->qty - open_same - add_qty;
    /* Reducing: even if all its side fills, |position| does not grow. */
    int reduces = abs64(worst) <= abs64(pos->qty) && (buy ? pos->qty < 0 : pos->qty > 0);
    if (add_qty <= 0 && is_replace)
        reduces = 1; /* shrinking an order never adds risk */

    if (g->kill == DESK_KILL_HALTED)
        return verdict(DESK_REJ_KILL_SWITCH);
    if (g->kill == DESK_KILL_REDUCING && !reduces)
        return verdict(DESK_REJ_REDUCE_ONLY);
    if (g->health != DESK_UP)
        return verdict(DESK_REJ_CONNECTOR_DOWN);
    if (!in->tradable || !in_hours(in, g->minute_of_day))
        return verdict(DESK_REJ_NOT_TRADABLE);

    if ((c->side != DESK_BUY && c->side != DESK_SELL) || c->ord_type < DESK_MARKET ||
        c->ord_type > DESK_STOP_LIMIT ||
        (c->tif != DESK_DAY && c->tif != DESK_GTC && c->tif != DESK_IOC && c->tif != DESK_FOK))
        return verdict(DESK_REJ_BAD_COMMAND);
    if (c->qty <= 0 || new_leaves <= 0)
        return verdict(DESK_REJ_BAD_QTY);
    int has_limit = c->ord_type == DESK_LIMIT || c->ord_type == DESK_STOP_LIMIT;
    int has_stop = c->ord_type == DESK_STOP || c->ord_type == DESK_STOP_LIMIT;
    if ((has_limit ? c->px <= 0 : c->px != 0) || (has_stop ? c->stop_px <= 0 : c->stop_px != 0))
        return verdict(DESK_REJ_BAD_PRICE);
    if (!desk_venue_supports_type(g->venue_type, c->ord_type))
        return verdict(DESK_REJ_ORDER_TYPE);
    if (!desk_venue_supports_tif(g->venue_type, c->tif))
        return verdict(DESK_REJ_TIF);
    if (c->qty % in->lot_size)
        return verdict(DESK_REJ_LOT_SIZE);
    if ((has_limit && c->px % in->tick_size) || (has_stop && c->stop_px % in->tick_size))
        return verdict(DESK_REJ_TICK_SIZE);

    /* The price this order's notional is judged at. */
    int64_t touch = q ? (buy ? q->ask_px : q->bid_px) : 0;
    int64_t ref_px = has_limit ? c->px : c->ord_type == DESK_STOP ? c->stop_px : touch;
    if (c->ord_type == DESK_STOP && touch > 0 && (buy ? touch > ref_px : touch < ref_px))
        ref_px = touch; /* already through its stop: it trades at the touch */
    int64_t mid = 0;
    if (q && q->bid_px > 0 && q->ask_px > 0)
        mid = q->bid_px + (q->ask_px - q->bid_px) / 2;
    else if (q)
        mid = q->bid_px > 0 ? q->bid_px : q->ask_px > 0 ? q->ask_px : q->last_px;
    if ((c->ord_type == DESK_MARKET && touch <= 0) || (l->collar_bps && mid <= 0))
        return verdict(DESK_REJ_NO_QUOTE);

    int64_t notional;
    if (desk_fixed_mul(ref_px, c->qty, &notional) < 0)
        return verdict(DESK_REJ_MAX_ORDER_NOTIONAL);
    if (notional < in->min_notional)
        return verdict(DESK_REJ_MIN_NOTIONAL);
    if (l->max_order_qty && c->qty > l->max_order_qty)
        return verdict(DESK_REJ_MAX_ORDER_QTY);
    if (l->max_order_notional && notional > l->max_order_notional)
        return verdict(DESK_REJ_MAX_ORDER_NOTIONAL);
    if (l->collar_bps) {
        int64_t px = has_limit ? c->px : has_stop ? c->stop_px : 0;
        /* |px - mid| / mid > collar_bps / 10000, without division. */
        if (px && (__int128)abs64(px - mid) * 10000 > (__int128)mid * l->collar_bps)
            return verdict(DESK_REJ_PRICE_COLLAR);
    }
    if (!reduces) {
        int64_t wpos_notional;
        if (l->max_position_qty && abs64(worst) > l->max_position_qty)
            return verdict(DESK_REJ_MAX_POSITION);
        if (l->max_position_notional &&
            (desk_fixed_mul(abs64(worst), ref_px, &wpos_notional) < 0 ||
             wpos_notional > l->max_position_notional))
            return verdict(DESK_REJ_MAX_POSITION_NOTIONAL);
        if (l->daily_loss && desk_uta_day_pnl(g->uta) <= -l->daily_loss)
            return verdict(DESK_REJ_DAILY_LOSS);
    }
    if (!bucket_take(g->bucket, l, g->now_ns))
        return verdict(DESK_REJ_RATE_LIMIT);

    if (buy) {
        int64_t reserve;
        if (desk_fixed_mul(ref_px, new_leaves, &reserve) < 0)
            return verdict(DESK_REJ_BUYING_POWER);
        int64_t need = reserve - (is_replace ? g->replace_old_reserved : 0);
        if (need > 0 && need > desk_uta_buying_power(g->uta))
            return verdict(DESK_REJ_BUYING_POWER);
        if (need > 0 && need > desk_uta_venue_bp(g->uta, in->connector))
            return verdict(DESK_REJ_VENUE_CASH);
        v.reserve_px = ref_px;
        v.reserve = reserve;
    } else if (g->venue_type == DESK_VENUE_CRYPTO && add_qty > 0 &&
               add_qty > pos->qty - pos->open_sell) {
        return verdict(DESK_REJ_VENUE_CASH); /* spot: sell only what is held */
    }
    v.reason = DESK_REJ_NONE;
    return v;
}
