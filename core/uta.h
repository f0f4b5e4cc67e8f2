/*
 * uta.h - the Unified Trading Account: one book of cash, positions,
 * reservations and PnL across every venue.
 *
 * Per venue: cash, cash reserved for open buy orders, realized PnL, fees, and
 * the venue's own buying power as it last reported it.  Per instrument: the
 * signed position, its average price, realized PnL, the mark, and the leaves
 * of open buy and sell orders.  Totals: cash, reserved, buying power (cash -
 * reserved, summed: a limit order on one venue lowers the buying power every
 * strategy sees), NAV (cash + marked positions), realized and unrealized PnL.
 *
 * Accounts are cash accounts: buying power is cash net of reservations; a
 * margin model for futures and options is not built yet.  Fees are charged to
 * cash at each fill and are not reserved in advance.
 *
 * Router thread only: no lock, no allocation, no syscall.  The router
 * publishes a copy to the main segment with desk_uta_publish() (seqlock).
 */
#ifndef DESK_UTA_H
#define DESK_UTA_H

#include <stdint.h>

#include "../ring/shm.h"
#include "desk/types.h"

typedef struct desk_uta_venue_state {
    int64_t cash;         /* money 1e-8 */
    int64_t reserved;     /* held for open buys */
    int64_t realized_pnl; /* realized before fees */
    int64_t fees;         /* fees paid */
    int64_t venue_bp;     /* venue's own buying power, last reported */
} desk_uta_venue_state_t;

typedef struct desk_uta_pos_state {
    int64_t qty;          /* signed position */
    int64_t avg_px;       /* average entry price of the open position */
    int64_t realized_pnl; /* realized before fees */
    int64_t mark_px;      /* mark: quote mid, else last trade, else avg */
    int64_t open_buy;     /* leaves of open buys */
    int64_t open_sell;    /* leaves of open sells */
    uint16_t venue;       /* connector index */
} desk_uta_pos_state_t;

typedef struct desk_uta {
    uint32_t nvenues;                                         /* venues in use */
    uint32_t ninstruments;                                    /* instruments in use */
    desk_uta_venue_state_t venue[DESK_SHM_MAX_CONNECTORS];    /* per venue */
    desk_uta_pos_state_t pos[DESK_SHM_MAX_INSTRUMENTS];       /* per instrument */
} desk_uta_t;

#ifdef __cplusplus
extern "C" {
#endif

/* Zero the account for these counts.  Cold. */
void desk_uta_init(desk_uta_t *u, uint32_t nvenues, uint32_t ninstruments);

/* a + b, clamped to the int64 range instead of overflowing (figures that
 * large only come from a damaged journal or a venue gone mad; the books stay
 * defined, and the guard refuses everything at such figures). */
static inline int64_t desk_sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* a - b, clamped like desk_sat_add. */
static inline int64_t desk_sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Adjust the cash reserved at a venue by `delta` (negative releases). */
static inline void desk_uta_reserve(desk_uta_t *u, uint16_t venue, int64_t delta)
{
    u->venue[venue].reserved = desk_sat_add(u->venue[venue].reserved, delta);
}

/*
 * Apply a fill: cash moves by -/+ notional and -fee; the position and its
 * average price move; closing quantity realizes (px - avg) * qty.  Returns 0
 * or -ERANGE if a product overflows (then nothing changed).
 */
int desk_uta_fill(desk_uta_t *u, uint32_t instrument, uint8_t side, int64_t px, int64_t qty,
                  int64_t fee);

/* Set the mark of an instrument (quote mid or last trade). */
static inline void desk_uta_mark(desk_uta_t *u, uint32_t instrument, int64_t px)
{
    u->pos[instrument].mark_px = px;
}

/* Cash - reserved at one venue. */
static inline int64_t desk_uta_venue_bp(const desk_uta_t *u, uint16_t venue)
{
    return desk_sat_sub(u->venue[venue].cash, u->venue[venue].reserved);
}

/* UTA buying power: sum of cash - reserved over venues. */
int64_t desk_uta_buying_power(const desk_uta_t *u);

/* Unrealized PnL of one instrument at its mark, 0 if flat. */
int64_t desk_uta_unrealized(const desk_uta_t *u, uint32_t instrument);

/* Today's PnL: realized + unrealized - fees over everything. */
int64_t desk_uta_day_pnl(const desk_uta_t *u);

/* Compute totals and publish everything under the main segment's seqlock. */
void desk_uta_publish(const desk_uta_t *u, struct desk_uta_shm *shm, uint64_t now_ns);

#ifdef __cplusplus
}
#endif

#endif /* DESK_UTA_H */
