/*
 * control.h - the control thread's decisions, as pure functions: the kill
 * switch request carried by DESK_KILL_SIGNAL, strategy heartbeat staleness,
 * and the daily-loss trip of the automatic HALT.
 *
 * deskd's control thread (core/deskd.c, the main thread) applies them every
 * 100 ms; they are kept apart so that unit tests can check every edge
 * without processes, signals or clocks.  None of them makes a syscall or
 * touches shared state; any thread may call them.
 *
 * The kill request.  `desk halt|reduce|resume` sends DESK_KILL_SIGNAL with
 * sigqueue(); its sival_int is
 *     bits 0..7   the desk_kill_t wanted (DESK_KILL_STATE_MASK);
 *     bit 8       DESK_KILL_CANCEL_ALL: with HALTED only, also cancel every
 *                 open order of every strategy (`desk halt --cancel-all`);
 *     other bits  zero (a request with any other bit set is refused).
 * A plain desk_kill_t (0, 1, 2) is therefore still a valid request.
 *
 * The daily-loss trip.  The desk-wide day PnL is the guard's daily-loss
 * figure (desk_uta_day_pnl(): realized after fees + unrealized), read by the
 * control thread from the published UTA snapshot as totals.realized_pnl +
 * totals.unrealized_pnl.  The HALT fires on the *transition* from above
 * -daily_loss to at or below it (and at the first check, when deskd starts
 * already past the limit).  After an operator's `desk resume` it does not
 * fire again until the PnL has recovered above the limit and fallen back to
 * it; meanwhile the guard's own daily_loss check still refuses every order
 * that does not reduce a position.
 */
#ifndef DESK_CONTROL_H
#define DESK_CONTROL_H

#include <stdint.h>

#include "../ring/shm.h"
#include "desk/types.h"

#define DESK_KILL_STATE_MASK 0xffu  /* sival_int bits holding the desk_kill_t */
#define DESK_KILL_CANCEL_ALL 0x100u /* sival_int flag: HALTED and cancel all */

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The sival_int for a kill request: `want` with `flags` (0 or
 * DESK_KILL_CANCEL_ALL).  Returns the value (>= 0), or -EINVAL for a state
 * above DESK_KILL_HALTED, an unknown flag, or CANCEL_ALL with a state other
 * than HALTED.  Pure.
 */
int desk_control_kill_encode(desk_kill_t want, uint32_t flags);

/*
 * Split a received sival_int into the wanted state and its flags.  Returns
 * 0 with *want and *flags set, or -EINVAL (what desk_control_kill_encode()
 * would refuse; *want and *flags untouched).  Pure.
 */
int desk_control_kill_decode(int value, desk_kill_t *want, uint32_t *flags);

/*
 * How stale a strategy's heartbeat is: its age in whole milliseconds when
 * it is older than timeout_ms (so at least 1), else 0 (fresh, or
 * timeout_ms == 0: the check is off).  now_ns and hb_ns are desk_now_ns()
 * values; a heartbeat ahead of now_ns (written between the two reads) is
 * fresh.  Pure.
 */
uint64_t desk_control_hb_stale_ms(uint64_t now_ns, uint64_t hb_ns, uint32_t timeout_ms);

/* The daily-loss trip's memory between checks (zero it to start). */
typedef struct desk_loss_trip {
    uint8_t below; /* 1: the PnL was at or below -limit at the last check */
} desk_loss_trip_t;

/*
 * One check of the desk-wide day PnL (money, 1e-8) against the daily loss
 * limit (money, 1e-8, > 0; 0 = no limit).  Returns 1 exactly when the PnL
 * has just reached -limit or below (it was above at the previous check, or
 * this is the first), which is when the desk is HALTED; else 0.  Pure apart
 * from *t.
 */
int desk_control_loss_check(desk_loss_trip_t *t, int64_t day_pnl, int64_t limit);

/*
 * The desk-wide day PnL of a published UTA snapshot: realized (after fees)
 * plus unrealized, saturating at INT64_MIN/INT64_MAX instead of
 * overflowing.  Pure.
 */
int64_t desk_control_day_pnl(const struct desk_uta_totals *t);

#ifdef __cplusplus
}
#endif

#endif /* DESK_CONTROL_H */
