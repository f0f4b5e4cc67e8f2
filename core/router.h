/*
 * router.h - the router thread: strategy rings in, guard, order table,
 * connector rings out; venue events in, order state and UTA, strategy
 * event rings out.
 *
 * One writer per piece of state: the router thread alone writes the order
 * table, the UTA and its snapshot, the desk-wide stats and the open-order
 * snapshot.  It reads quotes and connector health through seqlocks and the
 * kill switch through an atomic.
 *
 * Each loop turn:
 *   1. for every strategy: take up to a batch of commands from its order
 *      ring; a command is taken only when the strategy's event ring and the
 *      target connector's command ring both have room (otherwise it stays
 *      in the order ring: back-pressure, never a drop);
 *   2. for every connector: take up to a batch of venue events and apply
 *      them; an event is taken only when its strategy's event ring has room
 *      (the events of a strategy whose process is gone are applied and
 *      counted as undelivered, so a dead process cannot stall the desk; a
 *      live one that does not poll stalls its connectors: back-pressure);
 *   3. publish the UTA snapshot when it changed, refresh marks, ring depths
 *      and the open-order snapshot every status interval, handle
 *      cancel-all requests, compare waiting venue account reports
 *      (reconciliation, core/recon.h); heartbeat;
 *   4. idle strategy when nothing was done.
 * The loop allocates nothing, takes no lock and makes no syscall, except the
 * idle strategy's sched_yield/nanosleep when there is no work (DESK_IDLE_SPIN
 * makes none at all).
 *
 * Venue ClOrdID numbers (desk_vcmd.cl_ord_id) start from the wall clock in
 * microseconds at start and count up, so they do not repeat across restarts
 * unless more requests were sent than microseconds elapsed between the two
 * starts; recovery from the journal makes this exact (the counter continues
 * above every journaled number, desk_router_replay()).
 *
 * Write-ahead journal (r->journal, optional): every command taken from a
 * strategy, every venue event taken and every seeded balance is pushed as one
 * record.  A command or an event is taken only when the journal ring has room
 * for its record.  A venue command is written into its connector ring's next
 * free slot but its commit is *held* until desk_journal_durable_seq() reaches
 * the seq of its CMD record (checked at the start and end of every turn), so a
 * venue never sees a ClOrdID the journal does not hold.
 */
#ifndef DESK_ROUTER_H
#define DESK_ROUTER_H

#include <stdatomic.h>
#include <stdint.h>

#include "../ring/shm.h"
#include "../ring/spsc.h"
#include "config.h"
#include "guard.h"
#include "journal.h"
#include "order.h"
#include "recon.h"
#include "uta.h"

#define DESK_ROUTER_BATCH 64 /* messages taken from one ring per turn */

typedef struct desk_router_strat {
    desk_spsc_t orders;             /* consumer: strategy -> router */
    desk_spsc_t events;             /* producer: router -> strategy */
    struct desk_strat_shm *shm;     /* status block in the main segment */
    desk_bucket_t bucket;           /* order-rate throttle */
    _Atomic uint32_t alive;         /* 1 while its process lives; W: control */
    _Atomic uint32_t gone;          /* 1 once its process was seen to die or
                                       detach (events are then applied but not
                                       delivered); 0 again on a new attach.
                                       W: control */
    _Atomic uint32_t cancel_all;    /* request to cancel its orders; W: control
                                       sets, router clears */
    _Atomic uint64_t stale_epoch;   /* nonzero: the attach_epoch in which the control
                                       thread declared it disconnected (stale
                                       heartbeat): its NEW and REPLACE commands are
                                       refused with DESK_REJ_STRATEGY_GONE until it
                                       attaches again.  W: control */
    struct desk_strat_hdr *seg;     /* its segment (attach_epoch), borrowed */
    uint8_t attached;               /* rings are set up */
    uint8_t cancel_on_disconnect;   /* from desk.toml */
} desk_router_strat_t;

typedef struct desk_router_conn {
    desk_spsc_t cmd;                /* producer: router -> connector */
    desk_spsc_t evq;                /* consumer: connector -> router */
    struct desk_conn_shm *shm;      /* status block in the main segment */
    uint32_t held;                  /* venue commands written into cmd but not
                                       committed: waiting for the journal */
    uint64_t held_seq;              /* journal seq that must be durable before
                                       the held commands are committed */
    uint64_t ev_taken;              /* events taken from evq, ever */
    struct desk_recon_box *box;     /* account reports (borrowed), NULL: none */
    uint8_t venue_type;             /* desk_venue_type_t */
    uint8_t attached;               /* rings are set up */
} desk_router_conn_t;

/* Breaks one comparison can return: a position per instrument (opening or
 * clearing), cash, buying power, orders. */
#define DESK_ROUTER_RECON_DIFFS (DESK_SHM_MAX_INSTRUMENTS + 3)

typedef struct desk_router {
    const desk_config_t *cfg;             /* borrowed */
    struct desk_main_hdr *main;           /* main segment (RW), borrowed */
    const desk_instrument_t *instr;       /* instrument table in main */
    struct desk_quote_slot *quotes;       /* quote table in main */
    struct desk_stats_shm *stats;         /* W: router */
    struct desk_uta_shm *uta_shm;         /* W: router */
    struct desk_orders_shm *orders_shm;   /* W: router */
    uint32_t ninstr, nconn, nstrat;       /* counts */
    uint32_t idle;                        /* desk_idle_t */
    uint64_t idle_max_ns;                 /* backoff's longest sleep */
    desk_router_strat_t strat[DESK_SHM_MAX_STRATEGIES];
    desk_router_conn_t conn[DESK_SHM_MAX_CONNECTORS];
    desk_limits_t *limits;                /* [nstrat * ninstr] effective limits (owned) */
    desk_orders_t orders;                 /* the order table */
    desk_uta_t uta;                       /* the account */
    uint64_t next_venue_cl;               /* next venue ClOrdID number */
    uint64_t status_interval_ns;          /* how often to refresh status */
    uint64_t last_status_ns;              /* last refresh */
    uint32_t uta_dirty;                   /* UTA changed since last publish */
    uint32_t idle_turns;                  /* consecutive idle turns (backoff) */
    struct desk_journal *journal;         /* write-ahead journal, NULL for none
                                             (tests); borrowed */
    uint64_t gap_id[64];                  /* orders that ended with the venue's cum qty
                                             above the desk's (fills lost at a crash) */
    int64_t gap_cum[64];                  /* the venue's cum qty of each */
    uint32_t ngap;                        /* entries used (a ring: the newest kept) */
    uint8_t replaying;                    /* 1 during desk_router_replay(): no
                                             events are emitted to strategies */
    uint64_t reconcile_deadline_ns;       /* reconciling ends by then even with
                                             orders unanswered (set at start) */
    _Atomic uint32_t reconcile_breaks;    /* orders still in flight when it ended
                                             at the deadline; W: router */
    _Atomic uint32_t reconciling;         /* 1: recovered orders are being settled
                                             with the venues; NEW is refused with
                                             DESK_REJ_RECONCILING.  W: control */
    uint32_t day;                         /* trading day (UTC YYYYMMDD) the journal's
                                             file holds; 0: not journaling days */
    desk_recon_t recon;                   /* reconciliation with venue reports */
    desk_recon_diff_t recon_diff[DESK_ROUTER_RECON_DIFFS]; /* one comparison's breaks */
    _Atomic uint32_t stop;                /* 1: leave the loop; W: any thread */
} desk_router_t;

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Prepare a router over a created main segment: order table, effective
 * limits, UTA for the configured connectors and instruments.  Returns 0, or
 * -ENOMEM / -EINVAL with desk_errmsg().  Cold.
 */
int desk_router_init(desk_router_t *r, const desk_config_t *cfg, struct desk_main_hdr *main);
void desk_router_fini(desk_router_t *r);

/* Bind strategy `i`'s rings (its segment must outlive the router).  Cold. */
int desk_router_attach_strategy(desk_router_t *r, uint32_t i, struct desk_strat_hdr *seg);

/* Bind connector `i`'s two in-process rings (memory formatted by
 * desk_spsc_init; borrowed).  Cold. */
int desk_router_attach_connector(desk_router_t *r, uint32_t i, void *cmd_ring, size_t cmd_len,
                                 void *ev_ring, size_t ev_len);

/* Take connector i's account reports from `box` (host.h; borrowed).  On its
 * status tick the router compares a waiting report with the UTA once every
 * event emitted before it has been taken, journals each break that opens or
 * clears (DESK_JREC_BREAK), publishes the reconciliation block and keeps the
 * venue's buying power (core/recon.h).  Cold. */
void desk_router_attach_recon(desk_router_t *r, uint32_t i, struct desk_recon_box *box);

/* Set connector i's cash and the venue's buying power in the UTA, and a
 * starting position (from the venue at connect).  Before the router runs. */
void desk_router_seed_cash(desk_router_t *r, uint32_t i, int64_t cash, int64_t venue_bp);
void desk_router_seed_position(desk_router_t *r, uint32_t instrument, int64_t qty,
                               int64_t avg_px);

/*
 * Recovery: apply one journal record (in file order) to the order table, the
 * ClOrdID index, the UTA and the venue ClOrdID counter, as the router did
 * when it wrote it, without emitting events, journaling or sending anything.
 * CMD NEW (and a day snapshot's CARRY) restores the order at the very id
 * the journal names (desk_orders_restore()), so order ids come out as they
 * were (the connectors' events name them); a slot that already holds a live
 * order, or a command deskd could not have sent, means the journal does not
 * describe this table: -EPROTO (refuse to start).  DESK_JREC_SNAPSHOT BEGIN
 * forgets the orders and the books (the snapshot carries them).
 * Call between desk_router_init() and attaching the journal; control thread,
 * before the router thread starts.  Returns 0 or -EPROTO (desk_errmsg()).
 */
int desk_router_replay(desk_router_t *r, const desk_jrec_t *rec);

/* What a journal file holds, for recovery (desk_router_scan_file). */
typedef struct desk_replay_info {
    uint32_t records;      /* records but the FILE record */
    uint32_t applied;      /* records replayed by desk_router_replay_file() */
    uint64_t from;         /* replay starts at this offset: the last complete day
                              snapshot's BEGIN, else 0 */
    uint64_t until;        /* and stops before this one: a snapshot cut short at the
                              end of the file, else UINT64_MAX */
    uint8_t first_kind;    /* kind of the first record after FILE; 0: none */
    uint8_t snapshot;      /* the file holds a complete day snapshot */
    uint8_t torn_snapshot; /* it ends in a day snapshot cut short by a crash */
} desk_replay_info_t;

/* A file replays on its own (self-contained) when it holds a complete day
 * snapshot, or when deskd started on it from nothing (its first record is
 * a SESSION); otherwise it continues the day before's file (deskd crashed
 * after midnight before writing the snapshot) and that file is needed too. */
static inline int desk_replay_self_contained(const desk_replay_info_t *in)
{
    return in->snapshot || in->first_kind == DESK_JREC_SESSION;
}

/*
 * Scan a journal file for recovery: counts, its first record's kind, where
 * its last complete day snapshot begins (BEGIN ... END with 3 CARRY records
 * per live order: else -EPROTO, the file is not one deskd wrote), and a
 * snapshot cut short at its end.  Returns what desk_journal_replay()
 * returns.  Any thread.  Cold.
 */
int desk_router_scan_file(const char *path, desk_replay_info_t *info);

/*
 * Recovery from one journal file: every record through desk_router_replay(),
 * from its last complete day snapshot (records before it were written late
 * for the previous day and are already in the state it carries) up to a
 * snapshot cut short at its end (ignored).  *info (may be NULL) receives
 * the scan and the count of records replayed.  Returns what
 * desk_journal_replay() returns, -EPROTO from the scan, or the first error
 * of desk_router_replay() (-EPROTO).  Call desk_router_replay_done() after
 * the last file.  Control thread, before the router thread starts.  Cold.
 */
int desk_router_replay_file(desk_router_t *r, const char *path, desk_replay_info_t *info);

/* What desk_router_recover() did. */
typedef struct desk_recovery {
    uint32_t files;          /* journal files replayed (today's counted, even empty) */
    uint32_t from_day;       /* the oldest day replayed (YYYYMMDD) */
    uint32_t carry_day;      /* the newest earlier day replayed, 0 if only today's:
                                then the caller carries it with desk_router_new_day() */
    uint32_t applied;        /* records replayed */
    uint32_t torn_snapshots; /* day snapshots cut short by a crash, ignored */
} desk_recovery_t;

/*
 * Recovery at start: replay today's journal file (desk `desk`, in `dir`)
 * and, when it does not replay on its own (empty: deskd was down at
 * midnight; or only records that continue yesterday's: deskd crashed after
 * midnight before its day snapshot), the days before it, back to the first
 * that does (desk_replay_self_contained; empty files are skipped; at most
 * DESK_JOURNAL_CHAIN_MAX days), oldest first.  Returns 0 with *out, or
 * -EPROTO / -EBADMSG / -E2BIG / -errno with desk_errmsg().  The caller
 * calls desk_router_replay_done() and, when out->carry_day, writes the
 * carried books into today's file with desk_router_new_day().  Control
 * thread, before the router thread starts.  Cold.
 */
int desk_router_recover(desk_router_t *r, const char *dir, const char *desk, uint32_t today,
                        desk_recovery_t *out);

/* Recovery: the replay is over (after the last desk_router_replay()): the
 * order table's free list is rebuilt around the recovered orders.  Cold. */
void desk_router_replay_done(desk_router_t *r);

/* Journal a NAME record for every strategy, connector and instrument index
 * (a file is self-describing for audits).  Returns 0, or -EAGAIN when the
 * journal ring has no room for them all (nothing pushed).  Router thread,
 * or the control thread before the router starts.  Cold. */
int desk_router_journal_names(desk_router_t *r);

/*
 * A new trading day (UTC YYYYMMDD `day`): the day's realized PnL and fees
 * start over, the ClOrdID index forgets the previous day's ids (those of
 * live orders stay taken), and with a journal the whole carried state is
 * pushed as a day snapshot (DESK_JREC_SNAPSHOT BEGIN, the NAME records, a
 * BALANCE per connector and per position, three CARRY records per live
 * order, END), so
 * the new day's file replays on its own.  The router calls it on its status
 * tick when the UTC date passes r->day; deskd calls it at start when it
 * recovered a previous day's journal.  Returns 0, -EAGAIN (no room in the
 * journal ring now: nothing done, call again), or -ENOSPC (the snapshot is
 * larger than the ring).  Router thread, or the control thread before the
 * router starts.  Cold.
 */
int desk_router_new_day(desk_router_t *r, uint32_t day);

/*
 * Recovery: write a DESK_CMD_RECOVER command for every live order of
 * connector c, and for every order that ended with the venue reporting more
 * filled than the desk saw (its last fills were lost at a crash), into its
 * command ring (committed at once: it names no new
 * ClOrdID, so nothing is journaled), so that the connector maps the orders'
 * venue ClOrdIDs again.  Returns the number written, or -EBUSY if the ring
 * filled.  Control thread, before the router thread starts.
 */
int desk_router_recover_send(desk_router_t *r, uint32_t c);

/*
 * Recovery for a venue that lives inside deskd (paper): its orders died with
 * the process, so every live order of connector c is expired through the
 * normal event path (journaled, reservations released, strategies told).
 * Returns the number expired (it stops early when the journal ring is full:
 * drain it and call again until 0).  Control thread, after the journal is
 * attached and before the router thread starts.
 */
int desk_router_expire_conn(desk_router_t *r, uint32_t c);

/* Orders recovered in flight (PendingNew, PendingCancel, PendingReplace). */
uint32_t desk_router_inflight(desk_router_t *r);

/* One loop turn (steps 1-3 above); returns the number of messages handled.
 * Router thread only; tests call it directly. */
int desk_router_poll(desk_router_t *r, uint64_t now_ns);

/* Refresh marks, the UTA snapshot, depths and open orders now. */
void desk_router_publish(desk_router_t *r, uint64_t now_ns);

/* Loop until desk_router_stop(); the thread body.  Returns 0. */
int desk_router_run(desk_router_t *r);

/* Ask the loop to return (any thread). */
void desk_router_stop(desk_router_t *r);

/* The idle strategy, shared with the connector threads: `turns` counts
 * consecutive idle turns. */
void desk_idle_wait(uint32_t idle, uint64_t max_ns, uint32_t turns);

/* Set up the calling thread for its idle strategy (timer slack).  Cold. */
void desk_idle_prepare(uint32_t idle);

#ifdef __cplusplus
}
#endif

#endif /* DESK_ROUTER_H */
