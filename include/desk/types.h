/*
 * desk/types.h - the vocabulary shared by strategies, deskd and connectors.
 *
 * Units: every price, quantity and amount of money is an int64_t fixed-point
 * number scaled by DESK_SCALE (1e-8): 187.25 USD is 18725000000.  Money is in
 * the venue's quote currency (USD or USDT, treated as USD).  Timestamps are
 * CLOCK_MONOTONIC nanoseconds (desk_now_ns()) unless a field says otherwise.
 *
 * The two ring messages, desk_cmd (strategy -> deskd) and desk_event
 * (deskd -> strategy), are exactly one 64-byte cache line each; their layout
 * is ABI (see DESK_ABI_VERSION) and is pinned by static asserts below.
 */
#ifndef DESK_TYPES_H
#define DESK_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#define DESK_TYPES_ASSERT(e) static_assert(e, #e)
#else
#define DESK_TYPES_ASSERT(e) _Static_assert(e, #e)
#endif

#define DESK_SCALE INT64_C(100000000) /* fixed point: 1 unit = 1e-8 */
#define DESK_ABI_VERSION 2u           /* bump on any change to shared layout */
#define DESK_SYMBOL_MAX 16            /* bytes incl. NUL: "BTCUSDT", "AMZN" */
#define DESK_NAME_MAX 32              /* bytes incl. NUL: desk, strategy, connector */

/* Side of an order (FIX Side <54>: 1 = Buy, 2 = Sell). */
typedef enum desk_side {
    DESK_BUY = 1,
    DESK_SELL = 2,
} desk_side_t;

/* Order type (FIX OrdType <40>: 1 Market, 2 Limit, 3 Stop, 4 StopLimit). */
typedef enum desk_ord_type {
    DESK_MARKET = 1,
    DESK_LIMIT = 2,
    DESK_STOP = 3,
    DESK_STOP_LIMIT = 4,
} desk_ord_type_t;

/* Time in force (FIX TimeInForce <59>: 0 Day, 1 GTC, 3 IOC, 4 FOK). */
typedef enum desk_tif {
    DESK_DAY = 0,
    DESK_GTC = 1,
    DESK_IOC = 3,
    DESK_FOK = 4,
} desk_tif_t;

/* Venue type; it decides which order types and TIFs the guard accepts. */
typedef enum desk_venue_type {
    DESK_VENUE_EQUITIES = 1, /* market, limit, stop, stop-limit */
    DESK_VENUE_OPTIONS = 2,  /* market, limit, stop */
    DESK_VENUE_CRYPTO = 3,   /* market, limit, stop-limit */
    DESK_VENUE_FUTURES = 4,  /* market, limit, stop */
    DESK_VENUE_CASH = 5,     /* transfers only: no orders */
} desk_venue_type_t;

/* Asset class of an instrument. */
typedef enum desk_asset_class {
    DESK_ASSET_EQUITY = 1,
    DESK_ASSET_OPTION = 2,
    DESK_ASSET_CRYPTO = 3,
    DESK_ASSET_FUTURE = 4,
    DESK_ASSET_CASH = 5,
} desk_asset_class_t;

/*
 * OrdStatus (FIX <39>) as desk tracks it.  The numeric values are desk's own;
 * desk_ord_status_name() gives the FIX term.
 */
typedef enum desk_ord_status {
    DESK_OS_PENDING_NEW = 0,
    DESK_OS_NEW = 1,
    DESK_OS_PARTIALLY_FILLED = 2,
    DESK_OS_FILLED = 3,
    DESK_OS_PENDING_CANCEL = 4,
    DESK_OS_CANCELED = 5,
    DESK_OS_PENDING_REPLACE = 6,
    DESK_OS_REPLACED = 7,
    DESK_OS_REJECTED = 8,
    DESK_OS_EXPIRED = 9,
    DESK_OS__COUNT
} desk_ord_status_t;

/*
 * Why an order or a request was refused.  Every guard check has its own
 * code; the code travels to the strategy in desk_event.reason, is counted in
 * the main segment (desk status) and is named by desk_reject_name().
 * Append only: the numbers are ABI.
 */
typedef enum desk_reject {
    DESK_REJ_NONE = 0,
    DESK_REJ_UNKNOWN_INSTRUMENT = 1,   /* no such instrument id */
    DESK_REJ_NOT_TRADABLE = 2,         /* outside trading hours or disabled */
    DESK_REJ_BAD_QTY = 3,              /* quantity <= 0 */
    DESK_REJ_BAD_PRICE = 4,            /* limit/stop price <= 0 or missing */
    DESK_REJ_LOT_SIZE = 5,             /* quantity off the lot grid */
    DESK_REJ_TICK_SIZE = 6,            /* price off the tick grid */
    DESK_REJ_MIN_NOTIONAL = 7,         /* below the instrument's min notional */
    DESK_REJ_ORDER_TYPE = 8,           /* order type not supported by venue type */
    DESK_REJ_TIF = 9,                  /* time in force not supported */
    DESK_REJ_MAX_ORDER_QTY = 10,       /* above max order quantity */
    DESK_REJ_MAX_ORDER_NOTIONAL = 11,  /* above max order notional */
    DESK_REJ_PRICE_COLLAR = 12,        /* price too far from the current quote */
    DESK_REJ_NO_QUOTE = 13,            /* collar or market order needs a quote */
    DESK_REJ_MAX_POSITION = 14,        /* position qty after full fill too large */
    DESK_REJ_MAX_POSITION_NOTIONAL = 15, /* position notional after fill too large */
    DESK_REJ_BUYING_POWER = 16,        /* UTA buying power net of open orders */
    DESK_REJ_VENUE_CASH = 17,          /* the venue's own cash or inventory */
    DESK_REJ_DAILY_LOSS = 18,          /* daily loss limit reached */
    DESK_REJ_RATE_LIMIT = 19,          /* per-strategy order-rate throttle */
    DESK_REJ_DUPLICATE_CLORDID = 20,   /* ClOrdID already used today */
    DESK_REJ_KILL_SWITCH = 21,         /* desk HALTED */
    DESK_REJ_REDUCE_ONLY = 22,         /* desk REDUCING and order would not reduce */
    DESK_REJ_CONNECTOR_DOWN = 23,      /* connector not UP */
    DESK_REJ_UNKNOWN_ORDER = 24,       /* cancel/replace of an unknown ClOrdID */
    DESK_REJ_ORDER_NOT_OPEN = 25,      /* cancel/replace of a finished order */
    DESK_REJ_ORDER_TABLE_FULL = 26,    /* deskd's order table is full */
    DESK_REJ_VENUE = 27,               /* the venue refused it (see venue log) */
    DESK_REJ_BAD_COMMAND = 28,         /* malformed desk_cmd (side, type, ...) */
    DESK_REJ_PENDING = 29,             /* a cancel/replace is already in flight */
    DESK_REJ_RECONCILING = 30,         /* deskd recovering: orders in flight are
                                          being settled with the venue */
    DESK_REJ_STRATEGY_GONE = 31,       /* this strategy went longer than its
                                          heartbeat_timeout_ms without desk_poll:
                                          deskd cancelled its orders and dropped its
                                          events; it must attach again */
    DESK_REJ__COUNT
} desk_reject_t;

/* Command kinds on the order ring. */
typedef enum desk_cmd_type {
    DESK_CMD_NEW = 1,     /* new order */
    DESK_CMD_CANCEL = 2,  /* cancel orig_cl_ord_id */
    DESK_CMD_REPLACE = 3, /* replace orig_cl_ord_id by cl_ord_id (new px/qty) */
    DESK_CMD_RECOVER = 4, /* deskd -> the fix and alpaca connectors only, never from a
                             strategy: an order recovered from the journal; the
                             connector maps its venue ClOrdIDs again and asks the
                             venue about it, never sending it again */
} desk_cmd_type_t;

/*
 * A strategy's command, one cache line on the order ring.
 * cl_ord_id is the strategy's own ClOrdID: any nonzero number unique for the
 * strategy for the trading day; deskd maps it to a venue ClOrdID.
 */
typedef struct desk_cmd {
    uint8_t type;             /* desk_cmd_type_t */
    uint8_t side;             /* desk_side_t (NEW, REPLACE) */
    uint8_t ord_type;         /* desk_ord_type_t (NEW, REPLACE) */
    uint8_t tif;              /* desk_tif_t (NEW) */
    uint32_t instrument;      /* instrument id (desk_instrument_find) */
    uint64_t cl_ord_id;       /* this command's ClOrdID, nonzero */
    uint64_t orig_cl_ord_id;  /* CANCEL/REPLACE: the order it refers to */
    int64_t qty;              /* order quantity, 1e-8 (REPLACE: new total) */
    int64_t px;               /* limit price, 1e-8; 0 for market/stop */
    int64_t stop_px;          /* stop trigger price, 1e-8; 0 unless stop */
    uint64_t submit_ns;       /* desk_now_ns() at submit; stamped by libdesk */
    uint64_t user;            /* opaque to deskd, echoed nowhere; strategy's tag */
} desk_cmd_t;

/* Event kinds on the event ring. */
typedef enum desk_event_type {
    DESK_EV_ACK = 1,            /* order accepted by the venue: New */
    DESK_EV_REJECT = 2,         /* refused: reason says why (guard or venue) */
    DESK_EV_FILL = 3,           /* a fill: last_px/last_qty/fee */
    DESK_EV_CANCELED = 4,       /* order canceled (by request, IOC rest, ...) */
    DESK_EV_REPLACED = 5,       /* replace done: cl_ord_id is the new id */
    DESK_EV_EXPIRED = 6,        /* DAY order expired, or FOK not fillable */
    DESK_EV_CANCEL_REJECT = 7,  /* cancel/replace refused; order unchanged */
} desk_event_type_t;

/*
 * deskd's report to a strategy, one cache line on the event ring.
 * For CANCEL_REJECT, cl_ord_id is the cancel/replace request's id and ref is
 * the order's id; for REPLACED, cl_ord_id is the new id and ref the old.
 * Otherwise ref is deskd's order id (unique across strategies).
 */
typedef struct desk_event {
    uint8_t type;         /* desk_event_type_t */
    uint8_t ord_status;   /* desk_ord_status_t after this event */
    uint16_t reason;      /* desk_reject_t for REJECT/CANCEL_REJECT, else 0 */
    uint32_t instrument;  /* instrument id */
    uint64_t cl_ord_id;   /* the strategy's ClOrdID this event is about */
    uint64_t ref;         /* see above */
    int64_t last_px;      /* FILL: price of this fill, 1e-8 */
    int64_t last_qty;     /* FILL: quantity of this fill, 1e-8 */
    int64_t cum_qty;      /* total filled so far, 1e-8 */
    int64_t leaves_qty;   /* still open: order_qty - cum_qty, 0 when done */
    int64_t fee;          /* FILL: fee charged for this fill, money 1e-8 */
} desk_event_t;

DESK_TYPES_ASSERT(sizeof(desk_cmd_t) == 64);
DESK_TYPES_ASSERT(sizeof(desk_event_t) == 64);
DESK_TYPES_ASSERT(offsetof(desk_cmd_t, submit_ns) == 48);
DESK_TYPES_ASSERT(offsetof(desk_event_t, fee) == 56);

/* Kill switch state (desk halt / reduce / resume). */
typedef enum desk_kill {
    DESK_KILL_ACTIVE = 0,   /* orders flow */
    DESK_KILL_REDUCING = 1, /* only orders that reduce a position */
    DESK_KILL_HALTED = 2,   /* no new orders; cancels pass */
} desk_kill_t;

/* Connector health as desk status shows it. */
typedef enum desk_health {
    DESK_DOWN = 0,     /* not connected */
    DESK_UP = 1,       /* connected, healthy */
    DESK_DEGRADED = 2, /* connected but failing: the router sends nothing */
} desk_health_t;

/* Static names for the enums above ("PartiallyFilled", "PRICE_COLLAR", ...).
 * Never NULL: unknown values give "?".  Thread-safe. */
const char *desk_ord_status_name(unsigned s);
const char *desk_reject_name(unsigned r);
const char *desk_event_type_name(unsigned t);
const char *desk_health_name(unsigned h);
const char *desk_kill_name(unsigned k);

#ifdef __cplusplus
}
#endif

#endif /* DESK_TYPES_H */
