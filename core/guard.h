/*
 * guard.h - the pre-trade guard: every check of a market access control
 * (SEC Rule 15c3-5 style), run in the router thread for every new and
 * replace order before anything leaves the host.
 *
 * The guard is a pure function of a context the router assembles: the
 * command, the instrument, the effective limits (the tightest of global, per
 * strategy and per instrument), the current quote, the UTA, the throttle
 * bucket, the kill switch and the connector's health.  It returns a verdict
 * value, never an error code: DESK_REJ_NONE accepts, anything else names the
 * one check that refused (desk_reject_t).  Checks run in this order, and
 * the first that fails decides:
 *
 *   1 KILL_SWITCH / REDUCE_ONLY  HALTED refuses; REDUCING accepts only an
 *                                order that cannot grow |position| even if
 *                                every open order on its side fills
 *   2 UNKNOWN_INSTRUMENT         (the router looks the instrument up)
 *   3 CONNECTOR_DOWN             the venue's connector is not UP
 *   4 NOT_TRADABLE               disabled, or outside trading hours (UTC)
 *   5 BAD_COMMAND, BAD_QTY, BAD_PRICE   malformed side/type/tif, qty <= 0,
 *                                a limit without price, a stop without stop
 *   6 ORDER_TYPE, TIF            unsupported by the venue type (DESIGN.md)
 *   7 LOT_SIZE, TICK_SIZE        off the grid
 *   8 NO_QUOTE                   a market order, or any order when a collar
 *                                is set, needs a quote and there is none (a
 *                                stop is judged at its stop price)
 *   9 MIN_NOTIONAL, MAX_ORDER_QTY, MAX_ORDER_NOTIONAL
 *  10 PRICE_COLLAR               |limit - mid| > collar_bps of mid
 *  11 MAX_POSITION, MAX_POSITION_NOTIONAL  position + this order + open
 *                                same-side leaves, if all filled
 *  12 DAILY_LOSS                 realized + unrealized - fees <= -limit
 *  13 RATE_LIMIT                 the strategy's token bucket is empty
 *  14 BUYING_POWER               a buy's notional > UTA buying power
 *  15 VENUE_CASH                 a buy's notional > the venue's cash net of
 *                                reservations; a crypto sell > the position
 *                                net of open sells (spot: no shorting)
 * Duplicate ClOrdIDs (DUPLICATE_CLORDID) are refused by the router before
 * the guard, from its ClOrdID index.
 *
 * Notional of a market (or stop) order is estimated at the touch it would
 * take (ask for a buy, bid for a sell).  Thread-safety: router thread only
 * (the throttle bucket is updated).  No allocation, no lock, no syscall.
 */
#ifndef DESK_GUARD_H
#define DESK_GUARD_H

#include <stdint.h>

#include "config.h"
#include "desk/connector.h"
#include "desk/types.h"
#include "uta.h"

/* A token bucket: `tokens` in 1e-6 units refilled at rate per second. */
typedef struct desk_bucket {
    int64_t tokens;   /* current tokens * 1e6 */
    uint64_t last_ns; /* last refill time */
} desk_bucket_t;

/* Everything one check needs, assembled by the router. */
typedef struct desk_guard_ctx {
    const desk_cmd_t *cmd;             /* the command (NEW or REPLACE) */
    const desk_instrument_t *instr;    /* NULL if unknown */
    const desk_limits_t *limits;       /* effective limits for (strategy, instrument) */
    const desk_quote_t *quote;         /* NULL if no quote yet */
    const desk_uta_t *uta;             /* the account */
    desk_bucket_t *bucket;             /* the strategy's throttle */
    uint8_t venue_type;                /* desk_venue_type_t of the connector */
    uint8_t kill;                      /* desk_kill_t */
    uint8_t health;                    /* desk_health_t of the connector */
    uint8_t pad_;
    uint32_t minute_of_day;            /* UTC wall clock, for trading hours */
    uint64_t now_ns;                   /* desk_now_ns(), for the throttle */
    /* For a REPLACE: the order's current state, so only the change counts. */
    int64_t replace_cum_qty;           /* filled so far */
    int64_t replace_old_leaves;        /* leaves before the replace */
    int64_t replace_old_reserved;      /* cash reserved before the replace */
} desk_guard_ctx_t;

/* The verdict: a reason (DESK_REJ_NONE = accepted) and what to reserve. */
typedef struct desk_guard_verdict {
    uint16_t reason;    /* desk_reject_t */
    uint16_t pad_[3];
    int64_t reserve_px; /* price to reserve buys at (limit, or touch) */
    int64_t reserve;    /* cash to reserve: leaves * reserve_px (buys) */
} desk_guard_verdict_t;

#ifdef __cplusplus
extern "C" {
#endif

/* Run every check; see the list above. */
desk_guard_verdict_t desk_guard_check(const desk_guard_ctx_t *g);

/* Fill a bucket to its burst (start of day).  Cold. */
void desk_bucket_init(desk_bucket_t *b, const desk_limits_t *l, uint64_t now_ns);

/* The tightest of three limit sets (0 = unset). */
void desk_limits_merge(desk_limits_t *out, const desk_limits_t *a, const desk_limits_t *b,
                       const desk_limits_t *c);

/* 1 if the venue type supports this order type / time in force. */
int desk_venue_supports_type(uint8_t venue_type, uint8_t ord_type);
int desk_venue_supports_tif(uint8_t venue_type, uint8_t tif);

#ifdef __cplusplus
}
#endif

#endif /* DESK_GUARD_H */
