/*
 * desk/connector.h - the venue connector ABI.
 *
 * A connector is the C form of the typed adapter every venue implements:
 * connect, disconnect, get_quote, get_positions, get_buying_power,
 * place_order, cancel_order, replace_order, plus poll() for its own I/O and
 * timers.  Built-ins (paper, and later alpaca, binance, fix) and custom
 * shared objects (`type = "custom"`, `path = "..."` in desk.toml, exporting
 * `desk_connector_entry`) all use this interface.
 *
 * Threads.  deskd runs each connector on a connector thread (one per
 * connector, or shared by several when desk.toml says so).  Every op below is
 * called on that thread only, so a connector needs no lock for its own state.
 * The loop of a connector thread is:
 *     drain the router's command ring -> place_order / cancel_order / replace_order
 *     poll(now)                       -> I/O, timers, market data, events
 *     idle strategy (spin / yield / backoff) when neither did work
 * place_order() and friends are non-blocking: they return once the request
 * is on its way; acks, fills and rejects come back later through
 * desk_host_emit().
 *
 * Hot-path rules for connectors: no allocation per message, no blocking
 * syscall in an op (network I/O goes through the connector's io_uring).
 *
 * Ids.  deskd gives every order an order_id (unique for the desk) and every
 * command sent to a venue a cl_ord_id (unique for the desk, across restarts);
 * a connector derives the venue's ClOrdID string from cl_ord_id (e.g.
 * "d1-42") and maps the venue's messages back to order_id.  A replace sends a
 * new cl_ord_id with orig_cl_ord_id naming the one it replaces (FIX chains).
 */
#ifndef DESK_CONNECTOR_H
#define DESK_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DESK_CONNECTOR_ABI 1u /* desk_connector_ops.abi must equal this */

/* Router -> connector: one command, one cache line on the command ring. */
typedef struct desk_vcmd {
    uint8_t type;            /* desk_cmd_type_t: NEW, CANCEL or REPLACE */
    uint8_t side;            /* desk_side_t */
    uint8_t ord_type;        /* desk_ord_type_t */
    uint8_t tif;             /* desk_tif_t */
    uint32_t instrument;     /* instrument id */
    uint64_t order_id;       /* deskd's order id; events name it */
    uint64_t cl_ord_id;      /* this request's ClOrdID number (unique per desk) */
    uint64_t orig_cl_ord_id; /* CANCEL/REPLACE: the ClOrdID it refers to */
    int64_t qty;             /* order quantity, 1e-8 (REPLACE: new total qty) */
    int64_t px;              /* limit price, 1e-8; 0 if none */
    int64_t stop_px;         /* stop price, 1e-8; 0 if none */
    uint64_t route_ns;       /* desk_now_ns() when the router sent it */
} desk_vcmd_t;

/* Connector -> router: one venue event, one cache line on the event ring. */
typedef struct desk_vevent {
    uint8_t type;        /* desk_event_type_t: ACK, REJECT, FILL, CANCELED,
                            REPLACED, EXPIRED, CANCEL_REJECT */
    uint8_t flags;       /* DESK_VEV_* */
    uint16_t reason;     /* REJECT/CANCEL_REJECT: desk_reject_t (VENUE,
                            VENUE_CASH, ...) */
    uint32_t instrument; /* instrument id */
    uint64_t order_id;   /* deskd's order id (from desk_vcmd.order_id) */
    uint64_t exec_id;    /* venue's unique id of this event (FIX ExecID); a
                            repeated exec_id is a duplicate and is dropped */
    int64_t last_px;     /* FILL: price, 1e-8 */
    int64_t last_qty;    /* FILL: quantity, 1e-8 */
    int64_t fee;         /* FILL: fee in money, 1e-8 */
    int64_t cum_qty;     /* venue's cum qty after this event, 1e-8 */
    uint64_t venue_ns;   /* desk_now_ns() when the connector produced it */
} desk_vevent_t;

#define DESK_VEV_MAKER 0x01u /* FILL: this fill provided liquidity */
#define DESK_VEV_CATCHUP 0x02u /* FILL from an order status (recovery): cum_qty is
                                  the venue's total and last_px its average price
                                  over the whole order (AvgPx); the router fills
                                  the part it has not seen (cum_qty - its cum) at
                                  the price that leaves (AvgPx * cum_qty - the
                                  notional it booked) / that part; nothing if it
                                  saw it all */
#define DESK_VEV_STATUS 0x04u  /* ACK from an order status answer (recovery after
                                  a restart: GET by client_order_id, FIX 35=H):
                                  the order is live at the venue.  The connector
                                  cannot tell whether deskd saw the ack before it
                                  went down; an order already acknowledged takes
                                  it as a repeat (a duplicate), not an invalid
                                  event */

/* A top-of-book quote, the unit of the quote table. */
typedef struct desk_quote {
    int64_t bid_px;     /* best bid, 1e-8; 0 when no bid */
    int64_t bid_qty;    /* size at the best bid, 1e-8 */
    int64_t ask_px;     /* best ask, 1e-8; 0 when no ask */
    int64_t ask_qty;    /* size at the best ask, 1e-8 */
    int64_t last_px;    /* last trade price, 1e-8; 0 before the first trade */
    int64_t last_qty;   /* last trade size, 1e-8 */
    uint64_t venue_ts_ns; /* venue/market-data time, ns since the Unix epoch */
    uint64_t recv_ns;   /* desk_now_ns() when published */
} desk_quote_t;

/* One position as a venue reports it. */
typedef struct desk_position {
    uint32_t instrument; /* instrument id */
    uint32_t pad_;       /* zero */
    int64_t qty;         /* signed quantity, 1e-8 */
    int64_t avg_px;      /* average entry price, 1e-8 */
} desk_position_t;

/* Balances as a venue reports them. */
typedef struct desk_balance {
    int64_t cash;         /* settled cash, money 1e-8 */
    int64_t buying_power; /* the venue's own buying power, money 1e-8 */
} desk_balance_t;

/* Read-only view of an instrument (see core/instrument.h for the table). */
typedef struct desk_instrument {
    uint32_t id;               /* index in the desk's instrument table */
    uint16_t connector;        /* index of the connector that trades it */
    uint8_t asset_class;       /* desk_asset_class_t */
    uint8_t tradable;          /* 1 if orders may be sent */
    char symbol[DESK_SYMBOL_MAX]; /* venue symbol, NUL terminated */
    int64_t tick_size;         /* price grid, 1e-8 (> 0) */
    int64_t lot_size;          /* quantity grid, 1e-8 (> 0) */
    int64_t min_notional;      /* smallest px*qty accepted, money 1e-8 (0: none) */
    int32_t open_min;          /* trading hours: minutes after 00:00 UTC, or -1 */
    int32_t close_min;         /* end of trading hours (exclusive), or -1 */
} desk_instrument_t;

/* One connector option from desk.toml ([connector.options]); secrets have
 * already been resolved from { env = ... } / { file = ... } references. */
typedef struct desk_opt {
    const char *key;   /* option name */
    const char *value; /* its value as text */
    int line;          /* line in desk.toml, for error messages */
    int secret;        /* 1 if it came from a credential reference: never log */
} desk_opt_t;

/* What a connector is created with (borrowed for the connector's life). */
typedef struct desk_connector_cfg {
    const char *name;     /* [[connector]] name */
    const char *type;     /* "paper", "custom", ... */
    uint8_t venue_type;   /* desk_venue_type_t */
    uint16_t index;       /* this connector's index in the desk */
    const desk_opt_t *opts; /* its options */
    uint32_t nopts;       /* how many */
    const char *config_dir; /* directory of desk.toml, for relative paths */
} desk_connector_cfg_t;

/* deskd's side of a connector, opaque. */
typedef struct desk_host desk_host_t;

/*
 * Send one event to the router.  Returns 0, or -EAGAIN when the event ring is
 * full: nothing was sent, the connector keeps the event and retries on its
 * next poll (back-pressure; never drop an event).  Connector thread only.
 */
int desk_host_emit(desk_host_t *h, const desk_vevent_t *ev);

/*
 * Publish a quote for `instrument` into the desk's quote table (seqlock in
 * the main segment), stamping recv_ns.  Returns 0, or -EINVAL if the
 * instrument is not this connector's.  Connector thread only; no syscall.
 */
int desk_host_quote(desk_host_t *h, uint32_t instrument, const desk_quote_t *q);

/*
 * Report health: DESK_UP, DESK_DEGRADED or DESK_DOWN with a short reason
 * (copied, cut at 47 bytes).  The router routes nothing to a connector that
 * is not UP.  Connector thread only.
 */
void desk_host_health(desk_host_t *h, desk_health_t state, const char *reason);

/* What a desk_account_report carries (desk_account_report.flags). */
#define DESK_REPORT_BALANCE 0x1u   /* balance: the venue's cash and buying power */
#define DESK_REPORT_POSITIONS 0x2u /* pos[]: every position the venue holds in this
                                      connector's instruments; one not listed is flat */
#define DESK_REPORT_ORDERS 0x4u    /* venue_only_orders: open orders at the venue that
                                      the connector cannot map to a desk order */

/* The venue's own view of the account, for reconciliation. */
typedef struct desk_account_report {
    uint32_t flags;                /* DESK_REPORT_*: which parts below are the venue's */
    uint32_t npos;                 /* entries in pos[] (<= this connector's instruments) */
    desk_balance_t balance;        /* DESK_REPORT_BALANCE: cash and buying power, 1e-8 */
    const desk_position_t *pos;    /* DESK_REPORT_POSITIONS: [npos], borrowed for the call */
    uint32_t venue_only_orders;    /* DESK_REPORT_ORDERS: their count */
    uint32_t pad_;                 /* zero */
    uint64_t venue_ts_ns;          /* the venue's time of the snapshot, ns since the
                                      Unix epoch; 0 if it does not say */
} desk_account_report_t;

/*
 * Report the venue's own account (reconciliation): at start once the venue
 * has answered, after every reconnect, and periodically (each connector's
 * `reconcile_interval_ms`).  deskd compares it with the UTA once every event
 * emitted before this call has been applied, and reports each difference
 * that two reports in a row agree on as a break (desk status, journal, log;
 * core/recon.h).  The report is copied.  Returns 0, -EBUSY if deskd has not
 * taken the previous report yet (nothing copied: report again later), or
 * -EINVAL (npos too large, pos NULL with npos > 0, or an instrument that is
 * not this connector's).  Connector thread only; no allocation, no syscall.
 */
int desk_host_account_report(desk_host_t *h, const desk_account_report_t *r);

/* Log a line to deskd's log, prefixed with the connector's name.  Cold. */
void desk_host_log(desk_host_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The instrument with id `id`, or NULL.  Any thread; the table is fixed. */
const desk_instrument_t *desk_host_instrument(desk_host_t *h, uint32_t id);

/* This connector's instruments: their count, and the i-th one. */
uint32_t desk_host_ninstruments(desk_host_t *h);
const desk_instrument_t *desk_host_instrument_at(desk_host_t *h, uint32_t i);

/* The value of option `key`, or NULL if desk.toml does not set it. */
const desk_opt_t *desk_connector_opt(const desk_connector_cfg_t *cfg, const char *key);

/*
 * The connector's operations.  Every function runs on the connector thread.
 * Return codes are >= 0 on success, -errno on failure; a failure of an order
 * op is reported back to the router as a REJECT event by deskd, so the order
 * is never lost.
 */
typedef struct desk_connector_ops {
    uint32_t abi;     /* DESK_CONNECTOR_ABI */
    const char *type; /* the `type` string in desk.toml */

    /* Allocate and configure; no network yet.  Cold.  -EINVAL names the bad
     * option through desk_errmsg(). */
    int (*create)(const desk_connector_cfg_t *cfg, desk_host_t *host, void **self);
    /* Free everything create() made.  Cold. */
    void (*destroy)(void *self);
    /* Start connecting (non-blocking is fine: report UP via desk_host_health). */
    int (*connect)(void *self);
    /* Close sessions; report DOWN. */
    int (*disconnect)(void *self);
    /* Do I/O, timers and market data; return how much work was done (0 idle). */
    int (*poll)(void *self, uint64_t now_ns);
    /* Send a NEW; -EBUSY if it cannot be queued now (the router retries). */
    int (*place_order)(void *self, const desk_vcmd_t *cmd);
    /* Send a CANCEL of cmd->orig_cl_ord_id. */
    int (*cancel_order)(void *self, const desk_vcmd_t *cmd);
    /* Send a REPLACE of cmd->orig_cl_ord_id with cmd's qty/px. */
    int (*replace_order)(void *self, const desk_vcmd_t *cmd);
    /* Latest quote known to the connector; -ENOENT if none yet. */
    int (*get_quote)(void *self, uint32_t instrument, desk_quote_t *out);
    /* Fill out[0..cap) with positions; returns how many, or -ENOSPC. */
    int (*get_positions)(void *self, desk_position_t *out, size_t cap);
    /* Cash and the venue's buying power. */
    int (*get_buying_power)(void *self, desk_balance_t *out);
} desk_connector_ops_t;

/* A custom connector's shared object exports this symbol. */
typedef const desk_connector_ops_t *(*desk_connector_entry_fn)(void);
#define DESK_CONNECTOR_ENTRY "desk_connector_entry"

#ifdef __cplusplus
}
#endif

#endif /* DESK_CONNECTOR_H */
