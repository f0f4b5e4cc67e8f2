/*
 * deskd.h - the daemon: segments, router, connectors, control thread.
 *
 * desk_deskd_run() is `desk up`: it creates the main segment and one segment
 * per [[strategy]], creates every connector and seeds the UTA from what each
 * venue reports (cash, buying power, positions), connects them, starts the
 * connector threads and the router thread, then becomes the control thread
 * until SIGINT or SIGTERM:
 *   - DESK_KILL_SIGNAL (SIGRTMIN+1) with an int value sets the kill switch
 *     (desk halt / reduce / resume send it; DESK_KILL_CANCEL_ALL in the value
 *     also cancels every open order, core/control.h; the new state is
 *     published in the main header for them to confirm);
 *   - every 100 ms it checks each strategy (pidfd taken at attach, else
 *     kill(pid, 0); and its heartbeat against heartbeat_timeout_ms): a
 *     strategy that died, detached or went stale is marked gone and, if its
 *     cancel_on_disconnect is set, the router is asked to cancel its open
 *     orders;
 *   - it HALTs the desk when the day PnL crosses -[guard] daily_loss (and
 *     on a journal error), cancelling everything if halt_cancels_all;
 *   - it logs the reconciliation breaks the router publishes (core/recon.h).
 * On stop it stops the router and the connectors, disconnects, and removes
 * every segment it created.
 */
#ifndef DESK_DESKD_H
#define DESK_DESKD_H

#include <signal.h>

#include "config.h"

#ifndef DESK_KILL_SIGNAL
#define DESK_KILL_SIGNAL (SIGRTMIN + 1) /* sigqueue value: the desk_kill_t wanted */
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Run deskd in the calling thread until SIGINT/SIGTERM (or until
 * `*stop_flag` becomes nonzero, if stop_flag is not NULL: tests use it).
 * Blocks SIGINT, SIGTERM and DESK_KILL_SIGNAL in the process.  Returns 0 on
 * a clean stop, or -errno if start-up failed (desk_errmsg() says what; any
 * segment created is removed again).  Cold.
 */
int desk_deskd_run(const desk_config_t *cfg, const volatile sig_atomic_t *stop_flag);

#ifdef __cplusplus
}
#endif

#endif /* DESK_DESKD_H */
