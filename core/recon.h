/*
 * recon.h - reconciliation: the venue's own account against the UTA.
 *
 * A connector reports what its venue says it holds (desk_host_account_report
 * in desk/connector.h): positions in its instruments, cash and buying power,
 * and how many open orders at the venue it cannot map to a desk order.  The
 * report goes into the connector's mailbox (struct desk_recon_box, one per
 * connector: written by the connector thread, read by the router thread).
 *
 * The router compares it, on its cold status tick, once it has applied every
 * event the connector emitted before the report (box.ev_seq against the
 * router's count of events taken), so nothing the connector already knew is
 * missing from the desk's side.  What the venue knew and the connector had
 * not yet told (a fill still on the wire) can still differ for one report,
 * so a difference becomes a BREAK only when two reports in a row show the
 * same difference (desk_recon_compare):
 *
 *   POSITION   venue qty - desk qty != 0 for an instrument of the connector
 *   CASH       |venue cash - desk cash| > cash_tolerance
 *   BUYING_POWER  desk buying power (cash - reserved) > venue buying power +
 *              cash_tolerance: the guard would pass orders the venue refuses
 *              (a venue with margin reports more: that is no break)
 *   ORDERS     the venue has open orders that no desk order maps to
 *
 * Every break that opens or clears is journaled (DESK_JREC_BREAK), published
 * in the main segment's reconciliation block (desk status) and logged by the
 * control thread.  A break is reported, never "fixed" by overwriting the
 * desk's books: fills the desk missed reach it as fills, through the
 * connectors' order reconciliation (FIX order status requests, Alpaca's open
 * orders and order lookups), and the break clears when the books agree again.
 * The venue's buying power is kept in the UTA (desk_uta_venue.venue_bp).
 */
#ifndef DESK_RECON_H
#define DESK_RECON_H

#include <stdatomic.h>
#include <stdint.h>

#include "../ring/shm.h"
#include "desk/connector.h"
#include "uta.h"

/* One connector's mailbox.  `full` is the hand-off: the connector thread
 * fills the rest while it is 0 and stores 1 (release); the router reads
 * while it is 1 and stores 0 (release) when done. */
struct desk_recon_box {
    _Atomic uint32_t full;  /* 1: a report waits for the router */
    uint32_t flags;         /* DESK_REPORT_* */
    uint32_t npos;          /* entries in pos[] */
    uint32_t venue_only_orders; /* DESK_REPORT_ORDERS */
    uint64_t ev_seq;        /* events the connector had emitted before the report */
    uint64_t venue_ts_ns;   /* the venue's time, 0 if unknown */
    uint64_t recv_ns;       /* desk_now_ns() when reported */
    desk_balance_t balance; /* DESK_REPORT_BALANCE */
    desk_position_t pos[DESK_SHM_MAX_INSTRUMENTS]; /* DESK_REPORT_POSITIONS */
};

/* The router's memory of one connector's last comparison. */
struct desk_recon_conn {
    uint64_t reports;      /* reports compared */
    int64_t cand_cash;     /* last report's cash difference (venue - desk) */
    uint32_t cand_orders;  /* last report's venue-only orders */
    uint8_t have;          /* which of the last report's figures differed (recon.c) */
};

/* Everything the router keeps for reconciliation. */
typedef struct desk_recon {
    struct desk_recon_conn conn[DESK_SHM_MAX_CONNECTORS];
    int64_t cand_pos[DESK_SHM_MAX_INSTRUMENTS];  /* last report's qty difference */
    uint8_t have_pos[DESK_SHM_MAX_INSTRUMENTS];  /* cand_pos holds a report */
    int64_t cash_tolerance;                      /* money, 1e-8 */
    uint32_t bp_tolerance_bps;                   /* of the desk's reservations */
    uint8_t dirty;                               /* d changed since the last publish */
    struct desk_recon_shm *shm;                  /* published block (W: router), or NULL */
    struct desk_recon_data *d;                   /* private copy, published whole (owned) */
} desk_recon_t;

/* One difference, as compare() finds it. */
typedef struct desk_recon_diff {
    uint8_t kind;        /* desk_break_kind_t */
    uint8_t open;        /* 1: the break opens (or changes), 0: it clears */
    uint16_t connector;  /* connector index */
    uint32_t instrument; /* POSITION: instrument id, else UINT32_MAX */
    int64_t desk;        /* the desk's figure (qty or money, 1e-8) */
    int64_t venue;       /* the venue's figure */
} desk_recon_diff_t;

#ifdef __cplusplus
extern "C" {
#endif

/* Set up: no breaks; cash_tolerance in money 1e-8 (>= 0); bp_tolerance_bps:
 * how far below the desk's buying power the venue's may be, in basis points
 * of the desk's cash reserved for open buys (a venue that also reserves the
 * fee of an open buy holds a little more); publishing into shm (NULL in
 * tests).  Returns 0 or -ENOMEM.  Cold. */
int desk_recon_init(desk_recon_t *rc, struct desk_recon_shm *shm, int64_t cash_tolerance,
                    uint32_t bp_tolerance_bps);
void desk_recon_fini(desk_recon_t *rc);

/*
 * Compare connector c's report with the UTA.  Every break that opens,
 * changes or clears is recorded in rc->d (open table, connector row,
 * transition log) and written to out[0..cap); returns how many were found
 * (it may exceed cap: the rest were recorded but not returned; each
 * instrument gives at most one, so cap >= DESK_SHM_MAX_INSTRUMENTS + 3
 * never loses one).  `instr` is the
 * instrument table, now_ns stamps new breaks.  Router thread; no
 * allocation, no syscall.
 */
uint32_t desk_recon_compare(desk_recon_t *rc, uint32_t c, const struct desk_recon_box *box,
                            const desk_uta_t *uta, const desk_instrument_t *instr,
                            uint32_t ninstr, uint64_t now_ns, desk_recon_diff_t *out,
                            uint32_t cap);

/* Copy rc->d into the main segment under its seqlock if it changed.
 * Router thread (or the control thread before the router starts). */
void desk_recon_publish(desk_recon_t *rc);

/*
 * Log (desk_log) every break transition in the main segment's block with seq
 * above *last, naming connector and instrument, and advance *last; says how
 * many were missed if more than DESK_SHM_BREAK_LOG happened between two
 * calls.  Control thread (it polls every 100 ms).  Cold.
 */
void desk_recon_log(struct desk_main_hdr *m, uint64_t *last);

/* "position", "cash", "buying_power", "orders" ("?" otherwise). */
const char *desk_break_kind_name(unsigned kind);

#ifdef __cplusplus
}
#endif

#endif /* DESK_RECON_H */
