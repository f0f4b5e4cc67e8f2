/*
 * paper.h - the "paper" connector: simulated execution on recorded market
 * data (md.h replays it, engine.h matches our orders against it).
 *
 * desk.toml options ([connector.options] of a `type = "paper"` connector):
 *   data          path of the capture (required).  A relative path is looked
 *                 up as desk_md_resolve() says: $DESK_DATA_DIR, then
 *                 <config_dir>/../shared/data/marketdata, then
 *                 <config_dir>/.cache/marketdata (tools/fetch-data.sh).
 *   cash          starting cash, a decimal string (required).
 *   speed         replay speed: "0" as fast as possible, "1" real time
 *                 (default), "20" twenty times real time; decimals allowed,
 *                 parsed exactly.
 *   fee_bps       taker fee in basis points, decimal (default 0).
 *   maker_fee_bps maker fee in basis points, decimal (default fee_bps).
 *   latency_us    simulated order latency in microseconds, decimal (default 0).
 *   loop          true/false (default false): at the end of data start over.
 *   allow_short   true/false (default false): sells need no inventory.
 *   max_orders    open orders at once (default 65536).
 *   reconcile_interval_ms  how often the engine's account (position, cash,
 *                 buying power) is reported to deskd for reconciliation
 *                 (desk_host_account_report), default 5000; 0: only once,
 *                 after connect.
 * Any other key makes create() fail with -EINVAL naming it.
 *
 * Behaviour.  One instrument per paper connector: the data's symbol must be
 * the symbol of the connector's only instrument.  The replay clock starts
 * at the first poll after connect(): md time = first event time + (wall time
 * since then) * speed; poll() feeds every due md event to the engine (at
 * most 4096 per call) and publishes the quote after each with
 * desk_host_quote().  Orders are delayed by latency_us in a preallocated
 * queue (place/cancel/replace return -EBUSY when it is full), then applied
 * in md-time order with the market data.  Events go out through
 * desk_host_emit(); on -EAGAIN they wait in a preallocated queue, in order,
 * and market data stops advancing until the queue drains: nothing is ever
 * dropped.  At the end of data DAY orders expire (end of session); with
 * loop the data restarts, otherwise health stays UP with reason
 * "end of data".
 *
 * Threads: every op runs on the connector thread (connector.h).
 */
#ifndef DESK_PAPER_H
#define DESK_PAPER_H

#include "desk/connector.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The paper connector's operations (type "paper").  Static; any thread. */
const desk_connector_ops_t *desk_paper_ops(void);

#ifdef __cplusplus
}
#endif

#endif /* DESK_PAPER_H */
