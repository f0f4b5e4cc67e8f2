/*
 * cli.h - the `desk` command's subcommands that only read the main segment
 * (desk status) or poke deskd's control thread (desk halt|reduce|resume).
 *
 * tools/desk.c owns main() and dispatches `desk status ...` to
 * desk_cli_status() and `desk halt|reduce|resume ...` to desk_cli_kill(),
 * passing the subcommand's own argv (argv[0] is the subcommand name).
 *
 * The renderers desk_status_render() and desk_status_render_json() take an
 * already-mapped main segment, so tests can build a fake one in plain memory
 * (desk_shm_main_layout) and check the text and the JSON.
 *
 * Exit codes of the subcommands: 0 ok, 2 error (no desk, bad usage,
 * permission, deskd did not confirm).
 */
#ifndef DESK_CLI_H
#define DESK_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "desk/types.h"
#include "ring/shm.h"

/*
 * The signal `desk halt|reduce|resume` sends to deskd (router_pid in the main
 * header) with sigqueue(); its sival_int is the wanted desk_kill_t.  deskd's
 * control thread takes it and then stores the new state in the header's
 * `kill` field (and bumps kill_seq), which is how the CLI sees it confirmed.
 * A real-time signal so that requests queue instead of merging, and carry a
 * value.  Defined here once: deskd and the CLI must agree on it.
 */
#define DESK_KILL_SIGNAL (SIGRTMIN + 1)

/* Exit codes of the subcommands below. */
#define DESK_CLI_OK 0
#define DESK_CLI_ERROR 2

#ifdef __cplusplus
extern "C" {
#endif

/*
 * `desk status [-n DESK] [--json] [--watch [--interval MS]]`: map the main
 * segment of DESK (default $DESK_NAME, else "demo") read-only and print
 * connectors, quotes, the UTA, strategies, open orders, counters and
 * latency.  --json prints one JSON object (one line); --watch redraws every
 * interval (default 1000 ms) until SIGINT or SIGTERM.  Returns the exit
 * code: 0, or 2 (usage; no desk: "no desk 'demo' (is deskd running?)";
 * layout mismatch; write error).  Main thread of the desk command; installs
 * SIGINT/SIGTERM handlers while --watch runs.
 */
int desk_cli_status(int argc, char **argv);

/*
 * `desk halt [--cancel-all]|reduce|resume [-n DESK]`: send DESK_KILL_SIGNAL with
 * `want` (| DESK_KILL_CANCEL_ALL for halt --cancel-all, core/control.h) to
 * deskd and wait up to 3 s for the main header's kill field to equal want.
 * Prints "desk demo: HALTED" on success.  Returns 0, or 2 (usage; no desk;
 * deskd not running; permission denied; deskd did not confirm within 3 s).
 * Main thread of the desk command.
 */
int desk_cli_kill(int argc, char **argv, desk_kill_t want);

/*
 * `desk connect equities --name NAME --env-prefix PFX [-c desk.toml]
 * [--base-url URL]` (tools/connect.c): append an alpaca [[connector]] block
 * whose credentials are { env = "PFX_API_KEY_ID" } / { env =
 * "PFX_API_SECRET_KEY" }, validated with desk_config_load() on a temporary
 * file that is then renamed over desk.toml.  Returns 0, 1 (usage, bad
 * name/prefix/URL) or 2 (unreadable file, duplicate connector name, a result
 * that would not load, write error).  Main thread of the desk command.
 */
int desk_cli_connect(int argc, char **argv);
int desk_cli_journal(int argc, char **argv); /* `desk journal`: see tools/journal_cli.c */

/*
 * Render the status of the main segment at `h` (mapped, at least
 * h->total_size bytes readable) to `out` as aligned text for a 100-column
 * terminal.  `now_ns` is desk_now_ns() (CLOCK_MONOTONIC) used for every age
 * and the uptime; tests pass a fixed value.  Reads seqlocked blocks as
 * consistent copies and never writes to *h.  Returns 0, -EPROTO if the
 * header's counts or offsets do not fit in total_size (nothing printed), or
 * -EIO if writing to `out` failed.  Any thread; allocates about 130 KiB
 * for the snapshot copy (-ENOMEM if it cannot).
 */
int desk_status_render(FILE *out, const struct desk_main_hdr *h, uint64_t now_ns);

/*
 * The same data as one JSON object on one line, followed by '\n'.  Fixed
 * point values (prices, quantities, money) are JSON strings holding the
 * exact decimal ("99876.54321"); counts and nanosecond figures are JSON
 * integers; absent things (no quote yet, no UTA snapshot) are null.
 * Returns as desk_status_render().  Any thread.
 */
int desk_status_render_json(FILE *out, const struct desk_main_hdr *h, uint64_t now_ns);

#ifdef __cplusplus
}
#endif

#endif /* DESK_CLI_H */
