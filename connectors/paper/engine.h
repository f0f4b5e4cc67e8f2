/*
 * engine.h - the paper venue's matching engine: simulated execution of our
 * orders against recorded market data.  Pure logic: no I/O, no clock, no
 * allocation after desk_paper_engine_create(), no lock.
 *
 * The engine trades one instrument.  It is fed, in time order, market-data
 * events (desk_paper_engine_on_md), order commands (desk_paper_engine_cmd)
 * and the end of a session (desk_paper_engine_end_session), and it reports
 * every outcome synchronously through the emit callback.  These rules are
 * the paper venue's documented behaviour:
 *
 * Available size.  Each md event offers its displayed size once: a QUOTE
 * offers ask_qty at ask_px to our buys and bid_qty at bid_px to our sells; a
 * TRADE offers its qty.  Whatever our orders take from an event is subtracted
 * from it, so two orders can never both take the full size.  A new QUOTE
 * resets the quote's availability (a fresh view of the book); a TRADE's
 * size is available only while that TRADE is processed.  Among our own
 * orders, the one accepted (or last replaced) first goes first.
 *
 * MARKET.  On arrival it takes from the current quote (the last QUOTE event)
 * at exactly the opposite touch (buy: ask_px, sell: bid_px), up to what that
 * quote still offers: a taker fill.  The rest: IOC -> CANCELED; FOK -> if
 * the whole qty is not available at the touch on arrival nothing fills and
 * the order is EXPIRED; DAY/GTC -> it keeps taking at the touch of each
 * later QUOTE until done.  With no quote yet (or an empty opposite side) a
 * market order is REJECTED (reason VENUE).
 *
 * LIMIT.  Marketable on arrival (buy px >= ask, sell px <= bid): it takes at
 * the touch (ask or bid, not its limit) up to the available size, as a taker;
 * the rest rests (IOC: CANCELED; FOK: all-or-nothing at the touch on arrival,
 * else EXPIRED).  A resting buy at P fills at P as a maker (maker_fee_bps):
 * on a QUOTE with ask_px <= P, up to that quote's ask size; on a TRADE
 * printed strictly below P, up to the trade's size.  A trade AT P does not
 * fill it: our queue position is unknown, so the venue is conservative.
 * Sells mirror this (QUOTE with bid_px >= P, TRADE strictly above P).
 *
 * STOP / STOP_LIMIT.  A buy stop triggers on a TRADE printed at >= stop_px
 * (sell: <= stop_px); trades before the order arrived do not count.  A
 * triggered STOP then behaves as a MARKET order arriving at that moment
 * (it takes at the current quote's touch, then follows its TIF); a triggered
 * STOP_LIMIT becomes a LIMIT at px arriving at that moment.  The triggering
 * TRADE itself does not fill the order as a maker.  Triggering emits no
 * event (fills, or CANCELED/EXPIRED by TIF, follow).
 *
 * Time in force.  DAY orders (resting, working market, or untriggered stops)
 * EXPIRE when the md clock crosses a UTC midnight (checked before the event
 * that crosses it is matched) and at end of session; GTC orders survive the
 * end of session.  IOC and FOK never rest.
 *
 * Account.  Cash and one position.  On NEW a buy must be fundable: qty *
 * reference price + its fee <= cash - cash reserved by open buys, where the
 * reference price is the limit px (LIMIT, STOP_LIMIT), the current ask
 * (MARKET) or the larger of the current ask and stop_px (STOP); the fee in
 * the reservation is at max(fee_bps, maker_fee_bps, 0).  A sell must not
 * exceed position - open sells, unless allow_short.  Otherwise REJECT with
 * DESK_REJ_VENUE_CASH.  A market or stop buy that later fills at a price
 * above its reference fills only what the free cash pays for; the unfunded
 * remainder is CANCELED.  Fills move cash and position: a buy pays notional
 * + fee, a sell receives notional - fee, with notional = px * qty / 1e8 and
 * fee = notional * bps / 10000, both rounded toward zero.
 *
 * Invalid orders (qty <= 0, limit price <= 0 for LIMIT/STOP_LIMIT, stop price
 * <= 0 for STOP/STOP_LIMIT, another instrument, bad side, type or TIF,
 * order_id 0 or already open, cl_ord_id already naming an open order, a
 * notional beyond int64, a full order pool) are REJECTED with DESK_REJ_VENUE.
 *
 * Events (desk_vevent_t, venue_ns left 0 for the caller to stamp): ACK on
 * acceptance; FILL with last_px, last_qty, fee, cum_qty and DESK_VEV_MAKER
 * for maker fills (an order is done when cum_qty reaches its qty: no further
 * event); CANCELED and EXPIRED with cum_qty; REPLACED with cum_qty; REJECT
 * and CANCEL_REJECT with a reason.  Every event gets the next exec_id (1, 2,
 * 3, ...: unique and increasing).  FILL events also pass a
 * desk_paper_fill_info_t: the md index whose size the fill took (for a
 * taker fill, the QUOTE whose touch it took) and maker or taker.
 *
 * Cancel and replace.  Orders are keyed by order_id; a CANCEL/REPLACE whose
 * order_id is 0 is mapped through orig_cl_ord_id, which must be the order's
 * current ClOrdID (the NEW's, or the last accepted REPLACE's).  An unknown or
 * finished order -> CANCEL_REJECT (DESK_REJ_UNKNOWN_ORDER).  REPLACE changes
 * qty (the new total) and, for limit types, px (must be > 0), and for an
 * untriggered stop, stop_px (must be > 0); the new qty must exceed cum_qty
 * and the change must be fundable as on NEW, else CANCEL_REJECT (VENUE or
 * VENUE_CASH).  A replaced order goes to the back of our own queue and may
 * become marketable: it then takes at the touch at once as a taker.
 *
 * Threads: an engine belongs to one thread (the paper connector's).  The
 * emit callback runs on that thread inside the engine call and must not
 * call back into the engine.
 */
#ifndef DESK_PAPER_ENGINE_H
#define DESK_PAPER_ENGINE_H

#include <stdint.h>

#include "connectors/paper/md.h"
#include "desk/connector.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct desk_paper_engine desk_paper_engine_t;

/* Why a FILL happened (passed with FILL events only; NULL otherwise). */
typedef struct desk_paper_fill_info {
    uint64_t md_index; /* index of the md event whose size the fill took */
    uint8_t maker;     /* 1: maker fill at our limit; 0: taker fill at the touch */
} desk_paper_fill_info_t;

/* Receives every event; info is non-NULL for FILL events.  Borrowed views. */
typedef void (*desk_paper_emit_fn)(const desk_vevent_t *ev, const desk_paper_fill_info_t *info,
                                   void *ctx);

/* Engine configuration (copied at create). */
typedef struct desk_paper_engine_cfg {
    uint32_t instrument;     /* the instrument id this engine trades */
    uint32_t max_orders;     /* open orders at once: the preallocated pool (>= 1) */
    int64_t fee_bps;         /* taker fee in basis points, fixed 1e-8 (10 bps = 10 * DESK_SCALE) */
    int64_t maker_fee_bps;   /* maker fee in bps, fixed 1e-8; negative is a rebate */
    int64_t cash;            /* starting cash, money 1e-8 (>= 0) */
    int allow_short;         /* nonzero: sells need no inventory */
    desk_paper_emit_fn emit; /* event sink (required) */
    void *ctx;               /* passed to emit */
} desk_paper_engine_cfg_t;

/* An open order as desk_paper_engine_order() reports it. */
typedef struct desk_paper_order {
    uint64_t order_id;  /* deskd's order id */
    uint64_t cl_ord_id; /* current ClOrdID */
    uint8_t side;       /* desk_side_t */
    uint8_t ord_type;   /* desk_ord_type_t as placed */
    uint8_t tif;        /* desk_tif_t */
    uint8_t triggered;  /* stops: 1 once triggered (others: 1) */
    int64_t qty;        /* order quantity, 1e-8 */
    int64_t cum_qty;    /* filled so far, 1e-8 */
    int64_t leaves_qty; /* qty - cum_qty */
    int64_t px;         /* limit price, 1e-8 (0 for market/stop) */
    int64_t stop_px;    /* stop price, 1e-8 (0 unless a stop type) */
    int64_t reserved;   /* buys: cash reserved for leaves_qty, money 1e-8 */
} desk_paper_order_t;

/*
 * Allocate an engine for cfg (pool and hash tables for max_orders orders).
 * On success *out owns it (desk_paper_engine_destroy()).  Returns 0,
 * -EINVAL (max_orders 0 or > 2^24, cash < 0, no emit) or -ENOMEM; detail via
 * desk_errmsg().  Cold; any thread.
 */
int desk_paper_engine_create(const desk_paper_engine_cfg_t *cfg, desk_paper_engine_t **out);

/* Free an engine.  NULL is a no-op.  Cold. */
void desk_paper_engine_destroy(desk_paper_engine_t *e);

/*
 * Feed market-data event `idx` (the index reported in fill infos).  Events
 * must come in time order.  Expires DAY orders first if ev crosses a UTC
 * midnight, then updates the quote (QUOTE) or last trade (TRADE) and matches
 * every open order as the header comment says, emitting events.  Returns 0,
 * or -EINVAL for an event of unknown kind (ignored).  Owner thread; no
 * allocation.
 */
int desk_paper_engine_on_md(desk_paper_engine_t *e, uint64_t idx, const desk_md_event_t *ev);

/*
 * Apply one command (NEW, CANCEL or REPLACE) at the current md position,
 * emitting its events (ACK/REJECT/FILL/CANCELED/EXPIRED/REPLACED/
 * CANCEL_REJECT).  Returns 0 (whatever the business outcome), or -EINVAL if
 * cmd->type is none of the three (nothing emitted).  Owner thread; no
 * allocation.
 */
int desk_paper_engine_cmd(desk_paper_engine_t *e, const desk_vcmd_t *cmd);

/*
 * End of session: every open DAY order EXPIRES; GTC orders stay.  Returns the
 * number of orders expired.  Owner thread.
 */
int desk_paper_engine_end_session(desk_paper_engine_t *e);

/* The current quote and last trade; -ENOENT before the first QUOTE.  Owner thread. */
int desk_paper_engine_quote(const desk_paper_engine_t *e, desk_quote_t *out);

/* The position (qty 0 when flat; avg_px of the open position).  Owner thread. */
void desk_paper_engine_position(const desk_paper_engine_t *e, desk_position_t *out);

/* Cash, and buying power = cash - cash reserved by open buys.  Owner thread. */
void desk_paper_engine_balance(const desk_paper_engine_t *e, desk_balance_t *out);

/* The open order order_id: 0, or -ENOENT if it is not open.  Owner thread. */
int desk_paper_engine_order(const desk_paper_engine_t *e, uint64_t order_id,
                            desk_paper_order_t *out);

/* Number of open orders.  Owner thread. */
uint32_t desk_paper_engine_open_count(const desk_paper_engine_t *e);

#ifdef __cplusplus
}
#endif

#endif /* DESK_PAPER_ENGINE_H */
