/*
 * codec.h - Alpaca Trading API v2 wire format <-> desk structs.  Bytes in,
 * structs out (and back); no I/O, no clock, no allocation, no printf.
 *
 * Sources: shared/PROTOCOLS.md section 1 (Alpaca v2: POST /v2/orders body,
 * the Order object, trade_updates stream messages, account, positions, error
 * bodies, latest quote) and sections 4-5.  The connector's session layer
 * (connectors/alpaca/session.c) frames these bodies into HTTP requests and
 * WebSocket messages; this file only knows JSON.
 *
 * Encoding.  Request bodies are written into a caller buffer with
 * hand-written integer and fixed-point formatting.  Decimals are JSON strings
 * ("qty":"100", "limit_price":"223.82"), as Alpaca recommends.  A buffer that
 * is too small gives -ENOSPC and nothing usable: output is never truncated.
 * desk's ClOrdID string is "d" followed by the decimal cl_ord_id
 * ("d1795242037926470"), at most 21 bytes, well under Alpaca's 48.
 *
 * Decoding.  Every decoder parses one complete JSON document with the
 * product's simdjson shim (connectors/net/json.h; the caller owns the
 * desk_json_t, sized for the largest message it accepts) and fills a struct.
 * Decimals go straight to fixed point at 1e-8 (DESK_SCALE), exactly: a value
 * finer than 1e-8 or beyond about 9.2e10 is -ERANGE, never rounded.  Strings
 * are copied NUL-terminated into fixed arrays; a string that does not fit,
 * or that holds a NUL byte, is -EBADMSG (ids are never truncated).  The one
 * exception is the human text of an error body, which is cut to fit and
 * flagged (desk_alpaca_error_t.truncated).
 *
 * Return codes shared by every decoder:
 *    0 (or a count, or a kind > 0)  success;
 *   -EBADMSG  not JSON, or JSON that breaks the documented shape: a required
 *             field missing or of the wrong type, an unknown enum string
 *             (status, side, type, time_in_force, event), a negative
 *             quantity or price, a string too long for its array;
 *   -ERANGE   a decimal that is not representable at 1e-8;
 *   -EMSGSIZE the document is longer than the desk_json_t accepts;
 *   -ENOSPC   (list decoders) more elements than the caller's array holds.
 * On error the output struct is in an unspecified state (never read it).
 *
 * Mapping onto desk.  desk_alpaca_update_to_vevents() turns a trade_update
 * into at most two desk_vevent_t (a catch-up FILL, then the event itself):
 *   new                                   -> ACK
 *   fill, partial_fill                    -> FILL (qty = filled_qty delta)
 *   canceled                              -> CANCELED
 *   expired, done_for_day                 -> EXPIRED
 *   replaced                              -> REPLACED
 *   rejected                              -> REJECT (reason DESK_REJ_VENUE)
 *   order_cancel_rejected,
 *   order_replace_rejected                -> CANCEL_REJECT (DESK_REJ_VENUE)
 *   pending_new, pending_cancel, pending_replace, accepted, stopped,
 *   calculated, suspended, restated       -> informational (nothing)
 *
 * Dedup rule.  Fills are derived from order.filled_qty, the venue's
 * cumulative quantity, never from data.qty alone: an update whose
 * order.filled_qty is not above the cum qty desk already applied adds no
 * fill (a duplicate, or a stale update delivered out of order).  Every event
 * gets an exec_id that depends only on (order id, event, filled_qty)
 * (desk_alpaca_exec_id()), so the same venue fact delivered twice, or once
 * as a fill and once as the catch-up of a later terminal event, has the same
 * exec_id and the router drops the second copy.
 *
 * Replace.  Alpaca's PATCH /v2/orders/{id} creates a NEW order (new id, 0
 * filled) that replaces the old one; its qty is the quantity of the new
 * order.  desk's REPLACE carries the new TOTAL quantity (FIX semantics), so
 * desk_alpaca_replace_encode() writes qty = cmd->qty - filled_qty, the part
 * still to trade.  desk-alpaca-sim implements the same rule.
 *
 * Threads: every function is pure apart from the caller's desk_json_t, which
 * belongs to one thread.  Fit for the connector's hot path.
 */
#ifndef DESK_ALPACA_CODEC_H
#define DESK_ALPACA_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "connectors/net/json.h"
#include "desk/connector.h"
#include "desk/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DESK_ALPACA_ID_MAX 64      /* order/execution/account ids incl. NUL (uuid: 36) */
#define DESK_ALPACA_CLID_MAX 64    /* client_order_id incl. NUL (Alpaca: <= 48 chars) */
#define DESK_ALPACA_SYM_MAX 32     /* symbols incl. NUL ("AMZN", "BTC/USD", options) */
#define DESK_ALPACA_MSG_MAX 256    /* error message text kept, incl. NUL */
#define DESK_ALPACA_WORD_MAX 32    /* short enum-like strings (account status) incl. NUL */
#define DESK_ALPACA_CLID_FMT_MAX 22 /* "d" + 20 digits + NUL: desk_alpaca_clid_format() */

/* Order status (the Order object's "status"; PROTOCOLS.md 1.4). */
typedef enum desk_alpaca_status {
    DESK_ALPACA_ST_NEW = 1,
    DESK_ALPACA_ST_PARTIALLY_FILLED = 2,
    DESK_ALPACA_ST_FILLED = 3,
    DESK_ALPACA_ST_DONE_FOR_DAY = 4,
    DESK_ALPACA_ST_CANCELED = 5,
    DESK_ALPACA_ST_EXPIRED = 6,
    DESK_ALPACA_ST_REPLACED = 7,
    DESK_ALPACA_ST_PENDING_CANCEL = 8,
    DESK_ALPACA_ST_PENDING_REPLACE = 9,
    DESK_ALPACA_ST_PENDING_REVIEW = 10,
    DESK_ALPACA_ST_ACCEPTED = 11,
    DESK_ALPACA_ST_PENDING_NEW = 12,
    DESK_ALPACA_ST_ACCEPTED_FOR_BIDDING = 13,
    DESK_ALPACA_ST_STOPPED = 14,
    DESK_ALPACA_ST_REJECTED = 15,
    DESK_ALPACA_ST_SUSPENDED = 16,
    DESK_ALPACA_ST_CALCULATED = 17,
    DESK_ALPACA_ST_HELD = 18,
    DESK_ALPACA_ST__COUNT
} desk_alpaca_status_t;

/* trade_updates "event" (PROTOCOLS.md 1.9, plus alpaca-py's accepted/restated). */
typedef enum desk_alpaca_event {
    DESK_ALPACA_EV_NEW = 1,
    DESK_ALPACA_EV_FILL = 2,
    DESK_ALPACA_EV_PARTIAL_FILL = 3,
    DESK_ALPACA_EV_CANCELED = 4,
    DESK_ALPACA_EV_EXPIRED = 5,
    DESK_ALPACA_EV_DONE_FOR_DAY = 6,
    DESK_ALPACA_EV_REPLACED = 7,
    DESK_ALPACA_EV_REJECTED = 8,
    DESK_ALPACA_EV_PENDING_NEW = 9,
    DESK_ALPACA_EV_STOPPED = 10,
    DESK_ALPACA_EV_PENDING_CANCEL = 11,
    DESK_ALPACA_EV_PENDING_REPLACE = 12,
    DESK_ALPACA_EV_CALCULATED = 13,
    DESK_ALPACA_EV_SUSPENDED = 14,
    DESK_ALPACA_EV_ORDER_REPLACE_REJECTED = 15,
    DESK_ALPACA_EV_ORDER_CANCEL_REJECTED = 16,
    DESK_ALPACA_EV_ACCEPTED = 17,
    DESK_ALPACA_EV_RESTATED = 18,
    DESK_ALPACA_EV__COUNT
} desk_alpaca_event_t;

/* Order "type": desk_ord_type_t values plus Alpaca's trailing_stop. */
typedef enum desk_alpaca_type {
    DESK_ALPACA_MARKET = DESK_MARKET,
    DESK_ALPACA_LIMIT = DESK_LIMIT,
    DESK_ALPACA_STOP = DESK_STOP,
    DESK_ALPACA_STOP_LIMIT = DESK_STOP_LIMIT,
    DESK_ALPACA_TRAILING_STOP = 5, /* decoded, never sent by desk */
} desk_alpaca_type_t;

/* "time_in_force": desk_tif_t values plus Alpaca's opg, cls, gtx, gtd. */
typedef enum desk_alpaca_tif {
    DESK_ALPACA_DAY = DESK_DAY,
    DESK_ALPACA_GTC = DESK_GTC,
    DESK_ALPACA_IOC = DESK_IOC,
    DESK_ALPACA_FOK = DESK_FOK,
    DESK_ALPACA_OPG = 10, /* decoded only */
    DESK_ALPACA_CLS = 11, /* decoded only */
    DESK_ALPACA_GTX = 12, /* decoded only (Go SDK) */
    DESK_ALPACA_GTD = 13, /* decoded only (Go SDK) */
} desk_alpaca_tif_t;

/* Presence flags of nullable Order fields (desk_alpaca_order_t.flags). */
#define DESK_ALPACA_HAS_QTY 0x01u      /* qty was a decimal (not null) */
#define DESK_ALPACA_HAS_NOTIONAL 0x02u /* notional was a decimal */
#define DESK_ALPACA_HAS_AVG 0x04u      /* filled_avg_price was a decimal */
#define DESK_ALPACA_HAS_LIMIT 0x08u    /* limit_price was a decimal */
#define DESK_ALPACA_HAS_STOP 0x10u     /* stop_price was a decimal */

/* An Order object (PROTOCOLS.md 1.4), top level or embedded in an update. */
typedef struct desk_alpaca_order {
    char id[DESK_ALPACA_ID_MAX];                /* venue order id (uuid) */
    char client_order_id[DESK_ALPACA_CLID_MAX]; /* "d<cl_ord_id>" for desk's orders */
    char symbol[DESK_ALPACA_SYM_MAX];           /* as sent (not trimmed: "AAPL " stays) */
    char replaced_by[DESK_ALPACA_ID_MAX];       /* id of the replacing order, "" if null */
    char replaces[DESK_ALPACA_ID_MAX];          /* id of the replaced order, "" if null */
    uint8_t status;                             /* desk_alpaca_status_t */
    uint8_t side;                               /* desk_side_t */
    uint8_t type;                               /* desk_alpaca_type_t */
    uint8_t tif;                                /* desk_alpaca_tif_t */
    uint8_t flags;                              /* DESK_ALPACA_HAS_* */
    uint8_t pad_[3];                            /* zero */
    int64_t qty;              /* order quantity, 1e-8, >= 0 (0 if null) */
    int64_t notional;         /* notional amount, money 1e-8, >= 0 (0 if null) */
    int64_t filled_qty;       /* cumulative filled quantity, 1e-8, >= 0 */
    int64_t filled_avg_price; /* average fill price, 1e-8, >= 0 (0 if null) */
    int64_t limit_price;      /* 1e-8, > 0 when HAS_LIMIT, else 0 */
    int64_t stop_price;       /* 1e-8, > 0 when HAS_STOP, else 0 */
} desk_alpaca_order_t;

/* Presence flags of a trade update (desk_alpaca_update_t.flags). */
#define DESK_ALPACA_UP_PRICE 0x01u   /* data.price present */
#define DESK_ALPACA_UP_QTY 0x02u     /* data.qty present */
#define DESK_ALPACA_UP_POS_QTY 0x04u /* data.position_qty present */
#define DESK_ALPACA_UP_TS 0x08u      /* data.timestamp present */
#define DESK_ALPACA_UP_EXEC 0x10u    /* data.execution_id present */

/* The data of a {"stream":"trade_updates"} message (PROTOCOLS.md 1.9). */
typedef struct desk_alpaca_update {
    uint8_t event;                         /* desk_alpaca_event_t */
    uint8_t flags;                         /* DESK_ALPACA_UP_* */
    uint8_t pad_[6];                       /* zero */
    int64_t price;                         /* data.price, 1e-8, >= 0 (0 if absent) */
    int64_t qty;                           /* data.qty, 1e-8, >= 0 (0 if absent) */
    int64_t position_qty;                  /* data.position_qty, signed, 1e-8 */
    int64_t timestamp_ns;                  /* data.timestamp, ns since the Unix epoch */
    char execution_id[DESK_ALPACA_ID_MAX]; /* data.execution_id, "" if absent */
    desk_alpaca_order_t order;             /* data.order */
} desk_alpaca_update_t;

/* Kinds of stream messages (desk_alpaca_stream_decode()'s result). */
typedef enum desk_alpaca_msg {
    DESK_ALPACA_MSG_AUTHORIZATION = 1, /* {"stream":"authorization",...} */
    DESK_ALPACA_MSG_LISTENING = 2,     /* {"stream":"listening",...} */
    DESK_ALPACA_MSG_TRADE_UPDATE = 3,  /* {"stream":"trade_updates",...} */
    DESK_ALPACA_MSG_OTHER = 4,         /* another stream name: ignore */
} desk_alpaca_msg_t;

/* Stream-message actions echoed in authorization replies. */
typedef enum desk_alpaca_action {
    DESK_ALPACA_ACT_NONE = 0,         /* absent */
    DESK_ALPACA_ACT_AUTHENTICATE = 1, /* "authenticate" */
    DESK_ALPACA_ACT_LISTEN = 2,       /* "listen" */
    DESK_ALPACA_ACT_OTHER = 3,        /* another string */
} desk_alpaca_action_t;

#define DESK_ALPACA_STREAM_TRADE_UPDATES 0x1u /* "trade_updates" in a listening list */

/* One decoded stream message. */
typedef struct desk_alpaca_stream {
    uint8_t kind;                /* desk_alpaca_msg_t */
    uint8_t authorized;          /* AUTHORIZATION: 1 "authorized", 0 "unauthorized" */
    uint8_t action;              /* AUTHORIZATION: desk_alpaca_action_t */
    uint8_t pad_;                /* zero */
    uint32_t streams;            /* LISTENING: DESK_ALPACA_STREAM_* bits */
    uint32_t nstreams;           /* LISTENING: entries in data.streams */
    uint32_t pad2_;              /* zero */
    desk_alpaca_update_t update; /* TRADE_UPDATE: the update */
} desk_alpaca_stream_t;

/* GET /v2/account (PROTOCOLS.md 1.7): the fields desk uses. */
typedef struct desk_alpaca_account {
    char id[DESK_ALPACA_ID_MAX];       /* account id, "" if absent */
    char status[DESK_ALPACA_WORD_MAX]; /* "ACTIVE", ... */
    char currency[8];                  /* "USD", "" if absent */
    uint8_t active;                    /* 1 if status is "ACTIVE" */
    uint8_t trading_blocked;           /* flags, 0 if absent */
    uint8_t account_blocked;           /* ditto */
    uint8_t pattern_day_trader;        /* ditto */
    uint8_t shorting_enabled;          /* ditto */
    uint8_t pad_[3];                   /* zero */
    int64_t cash;                      /* money 1e-8 (may be negative: margin) */
    int64_t buying_power;              /* money 1e-8 */
    int64_t equity;                    /* money 1e-8 */
    int64_t last_equity;               /* money 1e-8, 0 if absent */
    int64_t long_market_value;         /* money 1e-8, 0 if absent */
    int64_t short_market_value;        /* money 1e-8, 0 if absent */
    int64_t initial_margin;            /* money 1e-8, 0 if absent */
    int64_t maintenance_margin;        /* money 1e-8, 0 if absent */
    int64_t multiplier;                /* 1e-8 ("1" -> 1e8), 0 if absent */
    int64_t daytrade_count;            /* number or integer string; 0 if absent */
} desk_alpaca_account_t;

/* Position side. */
typedef enum desk_alpaca_pos_side {
    DESK_ALPACA_LONG = 1,  /* "long": qty >= 0 */
    DESK_ALPACA_SHORT = 2, /* "short": qty <= 0 */
} desk_alpaca_pos_side_t;

/* One element of GET /v2/positions (PROTOCOLS.md 1.6). */
typedef struct desk_alpaca_position {
    char symbol[DESK_ALPACA_SYM_MAX]; /* as sent */
    uint8_t side;                     /* desk_alpaca_pos_side_t, consistent with qty's sign */
    uint8_t pad_[7];                  /* zero */
    int64_t qty;                      /* signed quantity, 1e-8 (negative: short) */
    int64_t avg_entry_price;          /* 1e-8, >= 0 */
    int64_t market_value;             /* money 1e-8, signed; 0 if absent */
    int64_t cost_basis;               /* money 1e-8, signed; 0 if absent */
    int64_t unrealized_pl;            /* money 1e-8, signed; 0 if absent */
    int64_t current_price;            /* 1e-8, >= 0; 0 if absent */
} desk_alpaca_position_t;

/* An error body {"code":..., "message":...} (PROTOCOLS.md 1.8). */
typedef struct desk_alpaca_error {
    int64_t code;                       /* e.g. 40310000; 0 when absent */
    uint8_t has_code;                   /* 1 if "code" was present */
    uint8_t truncated;                  /* 1 if message was cut to fit */
    uint8_t pad_[6];                    /* zero */
    char message[DESK_ALPACA_MSG_MAX];  /* NUL terminated */
} desk_alpaca_error_t;

/* One FILL account activity (GET /v2/account/activities/FILL; PROTOCOLS.md 4.2). */
typedef struct desk_alpaca_activity {
    char id[DESK_ALPACA_ID_MAX];       /* activity id ("<time>::<uuid>") */
    char order_id[DESK_ALPACA_ID_MAX]; /* the order's venue id */
    char symbol[DESK_ALPACA_SYM_MAX];  /* as sent ("LTC/USD") */
    uint8_t side;                      /* desk_side_t */
    uint8_t order_status;              /* desk_alpaca_status_t after this fill */
    uint8_t partial;                   /* 1 if "type" is "partial_fill" */
    uint8_t pad_[5];                   /* zero */
    int64_t price;                     /* this fill's price, 1e-8, >= 0 */
    int64_t qty;                       /* this fill's quantity, 1e-8, >= 0 */
    int64_t cum_qty;                   /* order's cumulative qty after it, >= 0 */
    int64_t leaves_qty;                /* order's remaining qty after it, >= 0 */
    int64_t transaction_time_ns;       /* ns since the Unix epoch */
} desk_alpaca_activity_t;

/* GET /v2/clock. */
typedef struct desk_alpaca_clock {
    int64_t timestamp_ns;  /* venue time, ns since the Unix epoch */
    int64_t next_open_ns;  /* next market open */
    int64_t next_close_ns; /* next market close */
    uint8_t is_open;       /* 1 if the market is open now */
    uint8_t pad_[7];       /* zero */
} desk_alpaca_clock_t;

/* ---------------------------------------------------------------- names -- */

/*
 * Wire names of the enums ("partially_filled", "order_cancel_rejected",
 * "stop_limit", "gtc", "buy").  Never NULL: an unknown value gives "".  Pure.
 */
const char *desk_alpaca_status_name(unsigned status);
const char *desk_alpaca_event_name(unsigned event);
const char *desk_alpaca_type_name(unsigned type);
const char *desk_alpaca_tif_name(unsigned tif);
const char *desk_alpaca_side_name(unsigned side);

/*
 * Look a wire name up: the enum value (> 0), or -EBADMSG if s[0..len) names
 * no value (matching is exact and case-sensitive).  Pure.
 */
int desk_alpaca_status_parse(const char *s, size_t len);
int desk_alpaca_event_parse(const char *s, size_t len);

/* ---------------------------------------------------------------- encode -- */

/*
 * Write desk's ClOrdID string for cl_ord_id ("d" + decimal, NUL terminated)
 * into buf[cap].  Returns its length (2..21), or -ENOSPC if cap is too small
 * (DESK_ALPACA_CLID_FMT_MAX always suffices).  Pure.
 */
int desk_alpaca_clid_format(uint64_t cl_ord_id, char *buf, size_t cap);

/*
 * Parse a ClOrdID string made by desk_alpaca_clid_format(): "d" followed by
 * 1-20 decimal digits without a leading zero (or "d0"), within uint64.
 * Returns 0 with *out set, or -EINVAL for anything else (an order placed by
 * another client).  Pure.
 */
int desk_alpaca_clid_parse(const char *s, size_t len, uint64_t *out);

/*
 * The POST /v2/orders body for a NEW command on `symbol`:
 *   {"symbol":"AMZN","qty":"100","side":"buy","type":"limit",
 *    "time_in_force":"day","limit_price":"223.82","client_order_id":"d42"}
 * limit_price is written for LIMIT and STOP_LIMIT, stop_price for STOP and
 * STOP_LIMIT.  Returns the body length (buf is NUL terminated; the NUL is not
 * counted), -EINVAL (not a NEW; bad side, type or tif; qty <= 0; a missing or
 * non-positive price the type needs; an empty symbol or one with control
 * bytes or longer than DESK_ALPACA_SYM_MAX - 1), or -ENOSPC (buf too small;
 * 256 bytes always suffice).  Pure; no printf.
 */
int desk_alpaca_order_encode(const desk_vcmd_t *cmd, const char *symbol, char *buf, size_t cap);

/*
 * The PATCH /v2/orders/{id} body for a REPLACE command whose order has
 * filled `filled_qty` so far:
 *   {"qty":"<cmd->qty - filled_qty>","limit_price":"...","client_order_id":"d43"}
 * (limit_price for LIMIT/STOP_LIMIT, stop_price for STOP/STOP_LIMIT, each
 * only when nonzero).  Returns the length, -EINVAL (not a REPLACE, nothing
 * left to trade, filled_qty < 0, bad ord_type, negative price) or -ENOSPC.
 * Pure; no printf.
 */
int desk_alpaca_replace_encode(const desk_vcmd_t *cmd, int64_t filled_qty, char *buf, size_t cap);

/*
 * The stream's first message, {"action":"authenticate","data":{"key_id":..,
 * "secret_key":..}}, with both strings JSON-escaped.  Returns the length,
 * -EINVAL (NULL or empty key or secret), or -ENOSPC.  Cold (the secret passes
 * through buf: the caller wipes it).
 */
int desk_alpaca_auth_encode(const char *key_id, const char *secret, char *buf, size_t cap);

/*
 * {"action":"listen","data":{"streams":["trade_updates"]}}.  Returns the
 * length or -ENOSPC.  Pure.
 */
int desk_alpaca_listen_encode(char *buf, size_t cap);

/*
 * Request paths (NUL terminated; return the length, -EINVAL or -ENOSPC):
 *   desk_alpaca_path_order:   "/v2/orders/{id}"  (id: 1-63 of [0-9A-Za-z-])
 *   desk_alpaca_path_by_clid: "/v2/orders:by_client_order_id?client_order_id=d42"
 *   desk_alpaca_path_quote:   "/v2/stocks/{symbol}/quotes/latest"
 *                             (symbol: 1-31 of [0-9A-Za-z._-])
 * Pure.
 */
int desk_alpaca_path_order(const char *id, char *buf, size_t cap);
int desk_alpaca_path_by_clid(uint64_t cl_ord_id, char *buf, size_t cap);
int desk_alpaca_path_quote(const char *symbol, char *buf, size_t cap);

/* ---------------------------------------------------------------- decode -- */

/*
 * An Order object (the body of POST/GET/PATCH /v2/orders/...).  Required:
 * id, client_order_id, symbol, status, side, type (or the deprecated
 * order_type), time_in_force, filled_qty, and qty or notional (one may be
 * null).  Nullable: filled_avg_price, limit_price, stop_price, replaced_by,
 * replaces.  Other fields are ignored.  Returns 0 or a shared decoder error
 * (file comment).  Owner thread of j.
 */
int desk_alpaca_order_decode(desk_json_t *j, const char *buf, size_t len, desk_alpaca_order_t *out);

/*
 * A JSON array of Order objects (GET /v2/orders).  Fills out[0..n) and
 * returns n >= 0, or -ENOSPC if the array has more than cap elements, or a
 * shared decoder error.  Cold (reconciliation).  Owner thread of j.
 */
int desk_alpaca_orders_decode(desk_json_t *j, const char *buf, size_t len, desk_alpaca_order_t *out,
                              size_t cap);

/*
 * One trade_updates stream message (text or binary frame payload).
 * AUTHORIZATION needs data.status "authorized" or "unauthorized"; LISTENING
 * needs data.streams (an array of strings); TRADE_UPDATE needs data.event (a
 * known event) and data.order (an Order object, decoded as
 * desk_alpaca_order_decode() does); data.price, data.qty (>= 0),
 * data.position_qty, data.timestamp (RFC 3339) and data.execution_id are
 * optional.  Returns the desk_alpaca_msg_t kind (> 0) or a shared decoder
 * error.  Hot path; owner thread of j.
 */
int desk_alpaca_stream_decode(desk_json_t *j, const char *buf, size_t len,
                              desk_alpaca_stream_t *out);

/*
 * GET /v2/account.  Required: status, cash, buying_power, equity; the other
 * fields of desk_alpaca_account_t are optional (0 / "" if absent or null).
 * daytrade_count may be a JSON integer or an integer string.  Returns 0 or
 * a shared decoder error.  Cold.  Owner thread of j.
 */
int desk_alpaca_account_decode(desk_json_t *j, const char *buf, size_t len,
                               desk_alpaca_account_t *out);

/*
 * GET /v2/positions: an array of Position.  Each needs symbol, qty,
 * avg_entry_price and side ("long"/"short", agreeing with qty's sign).
 * Returns the count n >= 0, -ENOSPC if more than cap, or a shared decoder
 * error.  Cold.  Owner thread of j.
 */
int desk_alpaca_positions_decode(desk_json_t *j, const char *buf, size_t len,
                                 desk_alpaca_position_t *out, size_t cap);

/*
 * An error body.  "message" is required (a string); "code" is optional (a
 * JSON integer); other context keys are ignored.  A message longer than
 * DESK_ALPACA_MSG_MAX - 1 bytes is cut and flagged.  Returns 0 or a shared
 * decoder error.  Cold.  Owner thread of j.
 */
int desk_alpaca_error_decode(desk_json_t *j, const char *buf, size_t len, desk_alpaca_error_t *out);

/*
 * Latest quote (PROTOCOLS.md 1.10).  With symbol NULL the body must be the
 * single-symbol form {"symbol":..,"quote":{..}}; with a symbol, either form
 * is accepted and the multi-symbol {"quotes":{"<symbol>":{..}}} is searched
 * for it (-EBADMSG if absent).  Fills bid_px/bid_qty (bp/bs), ask_px/ask_qty
 * (ap/as), venue_ts_ns (t); last_px, last_qty and recv_ns are set to 0.
 * Prices and sizes are JSON numbers (strings are accepted too), >= 0.
 * Returns 0 or a shared decoder error.  Owner thread of j.
 */
int desk_alpaca_quote_decode(desk_json_t *j, const char *buf, size_t len, const char *symbol,
                             desk_quote_t *out);

/*
 * GET /v2/account/activities/FILL: an array of FILL activities, each with
 * id, order_id, symbol, side, price, qty, cum_qty, leaves_qty,
 * transaction_time (RFC 3339), type ("fill" or "partial_fill") and
 * order_status.  Elements whose activity_type is present and not "FILL" are
 * -EBADMSG (ask for FILL activities only).  Returns the count n >= 0,
 * -ENOSPC if more than cap, or a shared decoder error.  Cold (reconciliation
 * after a reconnect).  Owner thread of j.
 */
int desk_alpaca_activities_decode(desk_json_t *j, const char *buf, size_t len,
                                  desk_alpaca_activity_t *out, size_t cap);

/*
 * GET /v2/clock: timestamp, is_open, next_open, next_close (all required).
 * Returns 0 or a shared decoder error.  Cold.  Owner thread of j.
 */
int desk_alpaca_clock_decode(desk_json_t *j, const char *buf, size_t len, desk_alpaca_clock_t *out);

/*
 * Parse an RFC 3339 timestamp ("2022-04-19T13:45:04.981350886-04:00": 0-9
 * fractional digits, "Z" or a +-HH:MM offset) into ns since the Unix epoch
 * (UTC).  Returns 0, or -EBADMSG (bad syntax, out-of-range field, or a time
 * outside 1970..2262).  Pure.
 */
int desk_alpaca_time_parse(const char *s, size_t len, int64_t *ns);

/* ------------------------------------------------------- mapping to desk -- */

/*
 * The desk_event_type_t an Alpaca event maps to (see the table in the file
 * comment), 0 for an informational event, or -EINVAL for an unknown value.
 * Pure.
 */
int desk_alpaca_event_to_desk(unsigned event);

/*
 * desk's OrdStatus for an order: new -> NEW; partially_filled ->
 * PARTIALLY_FILLED; filled -> FILLED; canceled -> CANCELED; expired and
 * done_for_day -> EXPIRED; replaced -> REPLACED; pending_cancel and
 * pending_replace -> PENDING_*; rejected -> REJECTED; accepted, pending_new,
 * pending_review, accepted_for_bidding -> PENDING_NEW; stopped, suspended,
 * calculated and held -> PARTIALLY_FILLED if anything filled, else NEW.
 * Returns the desk_ord_status_t (>= 0) or -EINVAL for an unknown status.
 * Pure.
 */
int desk_alpaca_status_to_desk(const desk_alpaca_order_t *o);

/* 1 if no further update can follow (filled, canceled, expired, replaced,
 * rejected, done_for_day), else 0.  Pure. */
int desk_alpaca_status_is_final(unsigned status);

/*
 * The exec_id desk uses for a venue fact: FNV-1a 64 of order_id, the event's
 * kind and the cumulative filled quantity, never 0.  Fills use event
 * DESK_ALPACA_EV_FILL for both fill and partial_fill.  Pure.
 */
uint64_t desk_alpaca_exec_id(const char *order_id, unsigned event, int64_t filled_qty);

/*
 * The fill that update u adds on top of what desk applied (prev_cum, the
 * cum qty so far, and prev_avg_px, its average price): *last_qty =
 * order.filled_qty - prev_cum, and *last_px = data.price when data.qty equals
 * that delta (one execution, exact), else the price implied by the running
 * averages, (avg * cum - prev_avg * prev_cum) / delta, rounded toward zero.
 * Returns 1 (a new fill), 0 (nothing new: order.filled_qty <= prev_cum, a
 * duplicate or stale update; outputs untouched), or -EPROTO (filled_qty
 * above a known qty, a fill without filled_avg_price, prev_cum < 0, or an
 * implied price <= 0).  Pure.
 */
int desk_alpaca_fill_delta(const desk_alpaca_update_t *u, int64_t prev_cum, int64_t prev_avg_px,
                           int64_t *last_qty, int64_t *last_px);

/*
 * Translate update u into the events desk must apply, given what desk
 * already applied for the order (prev_cum, prev_avg_px).  Writes out[0..n)
 * and returns n:
 *   - fill/partial_fill: 1 FILL if desk_alpaca_fill_delta() finds one, else 0;
 *   - canceled, expired, done_for_day, replaced (final events): a catch-up
 *     FILL first when order.filled_qty > prev_cum (a fill update lost or
 *     still to come out of order), then the event: up to 2;
 *   - new, rejected, order_*_rejected: 1;  informational events: 0.
 * Each event has type, exec_id (desk_alpaca_exec_id()), cum_qty (the
 * order's filled_qty), last_px/last_qty for FILL and reason DESK_REJ_VENUE
 * for REJECT/CANCEL_REJECT; order_id, instrument, fee, flags and venue_ns are
 * 0 for the caller to set.  Returns -EPROTO as desk_alpaca_fill_delta() does,
 * or -EINVAL for an unknown event.  Pure; hot path.
 */
int desk_alpaca_update_to_vevents(const desk_alpaca_update_t *u, int64_t prev_cum,
                                  int64_t prev_avg_px, desk_vevent_t out[2]);

/* --------------------------------------------- recovery and reconciliation -- */

/*
 * Recovery after a deskd restart: what the earlier Alpaca orders of a desk
 * order's replace chain filled, from desk's total quantity for the order
 * (desk_qty, the DESK_CMD_RECOVER command's qty) and the venue's Order o
 * for the order's current client_order_id.  desk's PATCH asks for qty = new
 * total - filled so far (see "Replace" above), so the chain before o filled
 * desk_qty - o->qty; an order never replaced gives 0.  Returns that (>= 0),
 * or -EPROTO when o has no qty (a notional order, never desk's) or more
 * than desk_qty.  Pure.
 */
int64_t desk_alpaca_chain_cum(int64_t desk_qty, const desk_alpaca_order_t *o);

/*
 * Recovery: the events that tell the router what the venue's Order o says,
 * for a desk order whose earlier Alpaca orders filled chain_cum (see
 * desk_alpaca_chain_cum()) and whose desk-side cum qty the connector does
 * not know (deskd's journal does).  Writes out[0..n) and returns n:
 *   - a FILL flagged DESK_VEV_CATCHUP when o->filled_qty > 0: cum_qty =
 *     chain_cum + filled_qty (the venue's total for the desk order),
 *     last_qty = filled_qty, last_px = filled_avg_price; the router fills
 *     only what it has not seen (desk/connector.h);
 *   - then, by o->status: open (new, partially_filled, accepted, pending_*,
 *     held, ...) -> ACK flagged DESK_VEV_STATUS when nothing filled and
 *     want_ack (a fill already says the order is live); canceled ->
 *     CANCELED; expired, done_for_day -> EXPIRED; rejected -> REJECT
 *     (DESK_REJ_VENUE); filled, replaced ->
 *     nothing more (the caller follows a replace).
 * exec_ids are desk_alpaca_exec_id()'s, so a fill the router saw on the
 * stream is recognised.  order_id, instrument and venue_ns are 0 for the
 * caller.  Returns -EPROTO for chain_cum < 0, filled_qty above qty, or a
 * fill without filled_avg_price, -EINVAL for an unknown status.  Pure.
 */
int desk_alpaca_recover_vevents(const desk_alpaca_order_t *o, int64_t chain_cum, int want_ack,
                                desk_vevent_t out[2]);

/*
 * GET /v2/positions mapped onto desk instruments: ap[0..n) against the
 * connector's instruments (symbol syms[k], id ids[k], k < ninst).  A symbol
 * matches when equal once trailing blanks are dropped (Alpaca's documented
 * example has "AAPL ").  Writes each match into out[] (instrument, qty,
 * avg_px = avg_entry_price) and returns how many; positions in symbols desk
 * does not trade are counted in *unmapped, not written.  Returns -ENOSPC if
 * more than cap match.  Pure.
 */
int desk_alpaca_positions_map(const desk_alpaca_position_t *ap, size_t n, const char *const *syms,
                              const uint32_t *ids, uint32_t ninst, desk_position_t *out, size_t cap,
                              uint32_t *unmapped);

#ifdef __cplusplus
}
#endif

#endif /* DESK_ALPACA_CODEC_H */
