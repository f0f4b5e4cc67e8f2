/*
 * desk/client.h - libdesk, the strategy's side of desk.
 *
 * A strategy process declared in desk.toml ([[strategy]] name = "...")
 * attaches to a running desk, looks up instruments, reads quotes and the
 * Unified Trading Account straight from shared memory, submits orders into
 * its order ring and polls its event ring:
 *
 *     desk_client_t *c;
 *     if (desk_attach(&c, "demo", "mm") < 0) { puts(desk_client_errmsg()); ... }
 *     int id = desk_instrument_find(c, "BTCUSDT", NULL);
 *     desk_submit_new(c, 1, id, DESK_BUY, DESK_LIMIT, DESK_DAY, qty, px, 0);
 *     desk_event_t ev[64];
 *     int n = desk_poll(c, ev, 64);
 *
 * Units: prices and quantities are int64 fixed point at 1e-8 (DESK_SCALE);
 * money likewise, in USD.
 *
 * Hot path: desk_submit*, desk_poll, desk_quote, desk_uta, desk_position and
 * desk_kill_state make no system call, take no lock and allocate nothing
 * (tests/unit/hotpath_test.c proves it under seccomp strict mode and a malloc
 * counter).  desk_attach/desk_detach are cold.
 *
 * Thread-safety: one desk_client_t belongs to one thread at a time (the order
 * ring has a single producer and the event ring a single consumer).  Reads
 * of quotes and the UTA are safe from any thread that owns the client.
 *
 * Usable from C and C++ (extern "C").
 */
#ifndef DESK_CLIENT_H
#define DESK_CLIENT_H

#include <stdint.h>

#include "connector.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct desk_client desk_client_t;

/* The UTA as a strategy sees it (money 1e-8, USD). */
typedef struct desk_account {
    int64_t cash;           /* cash across venues */
    int64_t reserved;       /* held for open orders */
    int64_t buying_power;   /* net of every open order across all strategies */
    int64_t nav;            /* cash + marked positions */
    int64_t realized_pnl;   /* today, after fees */
    int64_t unrealized_pnl; /* positions marked to the quote mid */
    int64_t fees;           /* fees paid today */
    uint64_t updated_ns;    /* desk_now_ns() of the snapshot */
} desk_account_t;

/* One instrument's position in the UTA (all strategies together). */
typedef struct desk_pos {
    int64_t qty;            /* signed quantity, 1e-8 */
    int64_t avg_px;         /* average entry price, 1e-8 */
    int64_t mark_px;        /* mark price, 1e-8 */
    int64_t realized_pnl;   /* realized today, before fees */
    int64_t unrealized_pnl; /* (mark - avg) * qty */
} desk_pos_t;

/*
 * Attach to desk `desk` as strategy `strategy`: map the main segment
 * read-only and the strategy's own segment read-write, check magic, ABI
 * version and layout hash, and record this pid.  Returns 0 and *out, or:
 *   -ENOENT  no such desk or strategy (deskd not running, or the strategy is
 *            not declared in desk.toml);
 *   -EACCES  the strategy segment's owner/mode forbids this user;
 *   -EPROTO  libdesk and deskd disagree on the layout (message says what);
 *   -EBUSY   another live process is attached as this strategy;
 *   -ENOMEM.
 * desk_client_errmsg() says more.  Cold; any thread.
 */
int desk_attach(desk_client_t **out, const char *desk, const char *strategy);

/* Unmap and free.  Open orders stay; deskd cancels them on disconnect if
 * the strategy's cancel_on_disconnect is set.  Cold. */
void desk_detach(desk_client_t *c);

/* The last error message of a cold call on this thread (never NULL). */
const char *desk_client_errmsg(void);

/* Instrument id of `symbol` (on `venue`, or on any venue if venue is NULL):
 * >= 0, or -ENOENT.  Cold (string compare). */
int desk_instrument_find(const desk_client_t *c, const char *symbol, const char *venue);

/* Number of instruments, and instrument `id` (NULL if out of range). */
uint32_t desk_ninstruments(const desk_client_t *c);
const desk_instrument_t *desk_instrument(const desk_client_t *c, uint32_t id);

/* Latest quote of instrument `id` (seqlock read).  Returns 0, -ENOENT if no
 * quote was published yet, -EINVAL for a bad id.  Hot. */
int desk_quote(const desk_client_t *c, uint32_t id, desk_quote_t *out);

/* UTA totals (seqlock read).  Returns 0, or -ENOENT before the first
 * snapshot.  Hot. */
int desk_account(const desk_client_t *c, desk_account_t *out);

/* UTA position of instrument `id`.  Returns 0, -EINVAL, -ENOENT.  Hot. */
int desk_position(const desk_client_t *c, uint32_t id, desk_pos_t *out);

/* Kill switch state (desk_kill_t).  Hot. */
desk_kill_t desk_kill_state(const desk_client_t *c);

/*
 * Submit a command (NEW, CANCEL or REPLACE) on the order ring; libdesk stamps
 * cmd->submit_ns.  Returns 0, -EAGAIN if the ring is full (back-pressure:
 * nothing was sent; poll events and retry), or -EINVAL for a command with
 * an unknown type or cl_ord_id 0.  The guard's verdict arrives later as an
 * event (ACK or REJECT with a reason).  Hot.
 */
int desk_submit(desk_client_t *c, const desk_cmd_t *cmd);

/* Convenience forms of desk_submit().  Same returns.  Hot. */
int desk_submit_new(desk_client_t *c, uint64_t cl_ord_id, uint32_t instrument, desk_side_t side,
                    desk_ord_type_t type, desk_tif_t tif, int64_t qty, int64_t px,
                    int64_t stop_px);
int desk_submit_cancel(desk_client_t *c, uint64_t cl_ord_id, uint64_t orig_cl_ord_id);
int desk_submit_replace(desk_client_t *c, uint64_t cl_ord_id, uint64_t orig_cl_ord_id,
                        int64_t qty, int64_t px);

/*
 * Copy up to `max` events from the event ring into out[], oldest first, and
 * refresh this strategy's heartbeat.  Returns how many (0 if none).  Hot.
 * Call it at least every heartbeat_timeout_ms ([[strategy]] in desk.toml,
 * default 5000): a strategy that does not is taken as disconnected, its open
 * orders are cancelled (cancel_on_disconnect), and its new orders are
 * refused with DESK_REJ_STRATEGY_GONE until it attaches again.
 */
int desk_poll(desk_client_t *c, desk_event_t *out, int max);

/*
 * 1 if deskd is running and its heartbeat is younger than `max_age_ns`,
 * 0 otherwise (stopped, or a different deskd instance than the one attached
 * to).  Hot.
 */
int desk_alive(const desk_client_t *c, uint64_t max_age_ns);

/* CLOCK_MONOTONIC nanoseconds, the clock of every desk timestamp.  Hot. */
uint64_t desk_now(void);

#ifdef __cplusplus
}
#endif

#endif /* DESK_CLIENT_H */
