/*
 * shm.h - desk's shared-memory segments and their layout (ABI).
 *
 * Main segment /dev/shm/desk.<desk>: written by deskd only; strategies and
 * `desk status` map it read-only.  It holds, at offsets recorded in its
 * header: the instrument table, the quote table (one seqlock per
 * instrument), the UTA snapshot (seqlock), one block per connector (health,
 * counters, dispatch histogram), one block per strategy (liveness and
 * counters), desk-wide stats (counters, rejects by reason, per-stage latency
 * histograms), a seqlocked snapshot of open orders, and the reconciliation
 * block (each connector's last venue report, open breaks, recent break
 * transitions; seqlock).
 *
 * Strategy segment /dev/shm/desk.<desk>.<strategy>, one per [[strategy]]:
 * created by deskd with the owner and mode desk.toml gives; it holds the
 * strategy's slot header (pid, heartbeat), its order ring (strategy ->
 * router) and its event ring (router -> strategy).
 *
 * Rules: offsets, never pointers; every struct's size is pinned by static
 * asserts; each field names its writer (W:).  Attach checks magic, ABI
 * version and layout hash and says exactly what mismatched.
 */
#ifndef DESK_SHM_H
#define DESK_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../core/desk_compiler.h"
#include "../core/hist.h"
#include "desk/connector.h"
#include "desk/types.h"
#include "seqlock.h"
#include "spsc.h"

#define DESK_MAIN_MAGIC UINT64_C(0x4e49414d4b534544)  /* "DESKMAIN" */
#define DESK_STRAT_MAGIC UINT64_C(0x54415254534b5344) /* "DSKSTRAT" */
#define DESK_SHM_MAX_CONNECTORS 16
#define DESK_SHM_MAX_INSTRUMENTS 256
#define DESK_SHM_MAX_STRATEGIES 32
#define DESK_SHM_OPEN_ORDERS 1024 /* open orders shown by desk status */
#define DESK_SHM_REJECT_SLOTS 32  /* >= DESK_REJ__COUNT */
#define DESK_SHM_BREAKS 320       /* open reconciliation breaks: room for every one (each
                                     instrument, and cash, buying power and orders of
                                     each connector) */
#define DESK_SHM_BREAK_LOG 64     /* break transitions kept for the control thread's log */

DESK_STATIC_ASSERT(DESK_REJ__COUNT <= DESK_SHM_REJECT_SLOTS);
DESK_STATIC_ASSERT(DESK_SHM_BREAKS >= DESK_SHM_MAX_INSTRUMENTS + 3 * DESK_SHM_MAX_CONNECTORS);

/* Latency stages measured by the router (W: router thread). */
enum desk_stage {
    DESK_STAGE_SUBMIT_ROUTER = 0, /* desk_submit() stamp -> router dequeues it */
    DESK_STAGE_GUARD = 1,         /* admission of one command: ClOrdID index, quote and
                                     health reads, the guard itself */
    DESK_STAGE_SUBMIT_ROUTED = 2, /* submit -> command on the connector's ring */
    DESK_STAGE_SUBMIT_ACK = 3,    /* submit -> venue ack applied by the router */
    DESK_STAGE_SUBMIT_FILL = 4,   /* submit -> first fill applied by the router */
    DESK_STAGE__COUNT
};

/* deskd's life cycle, in the main header. */
enum desk_run_state {
    DESK_RUN_STARTING = 0,
    DESK_RUN_RUNNING = 1,
    DESK_RUN_STOPPING = 2,
    DESK_RUN_STOPPED = 3,
};

/* Main segment header.  Everything but the atomics is written once at start. */
struct desk_main_hdr {
    uint64_t magic;            /* DESK_MAIN_MAGIC */
    uint32_t abi_version;      /* DESK_ABI_VERSION */
    uint32_t layout_hash;      /* desk_shm_layout_hash() of the writer */
    char name[DESK_NAME_MAX];  /* desk name */
    int32_t router_pid;        /* deskd's pid */
    uint32_t ninstruments;     /* entries in the instrument table */
    uint32_t nconnectors;      /* connector blocks */
    uint32_t nstrategies;      /* strategy blocks */
    uint64_t start_wall_ns;    /* deskd start, ns since the Unix epoch */
    uint64_t start_mono_ns;    /* deskd start, desk_now_ns() */
    uint64_t total_size;       /* bytes of this segment */
    uint64_t off_instruments;  /* desk_instrument_t[ninstruments] */
    uint64_t off_quotes;       /* struct desk_quote_slot[ninstruments] */
    uint64_t off_uta;          /* struct desk_uta_shm */
    uint64_t off_connectors;   /* struct desk_conn_shm[nconnectors] */
    uint64_t off_strategies;   /* struct desk_strat_shm[nstrategies] */
    uint64_t off_stats;        /* struct desk_stats_shm */
    uint64_t off_orders;       /* struct desk_orders_shm */
    uint64_t off_recon;        /* struct desk_recon_shm */
    _Alignas(DESK_FALSE_SHARING) _Atomic uint64_t heartbeat_ns; /* W: router, each loop turn */
    _Atomic uint32_t run_state; /* enum desk_run_state; W: main thread */
    _Atomic uint32_t kill;      /* desk_kill_t; W: control thread */
    _Atomic uint32_t kill_seq;  /* bumped on each kill switch change; W: control */
    uint32_t pad_;
};

/* One instrument's quote; 128 bytes so neighbours never share a line pair. */
struct desk_quote_slot {
    desk_seqlock_t lock;                     /* W: the instrument's connector thread */
    uint64_t pad_[7];                        /* zero */
    _Alignas(DESK_CACHELINE) desk_quote_t q; /* protected by lock */
};

/* UTA per venue, as published (money in 1e-8). */
struct desk_uta_venue {
    int64_t cash;           /* cash balance after fills and fees */
    int64_t reserved;       /* held for open buy orders (notional; fees are not reserved) */
    int64_t buying_power;   /* cash - reserved (cash accounts) */
    int64_t equity;         /* cash + marked positions of this venue */
    int64_t realized_pnl;   /* today's realized PnL, after fees */
    int64_t unrealized_pnl; /* marked to mid (last trade when no quote) */
    int64_t fees;           /* fees paid today */
    int64_t venue_bp;       /* the venue's own buying power as last reported */
};

/* UTA per instrument. */
struct desk_uta_pos {
    int64_t qty;            /* signed position, 1e-8 */
    int64_t avg_px;         /* average entry price of the open position */
    int64_t mark_px;        /* price used to mark it */
    int64_t realized_pnl;   /* realized today (before fees) */
    int64_t unrealized_pnl; /* (mark - avg) * qty */
    int64_t open_buy_qty;   /* leaves qty of open buy orders */
    int64_t open_sell_qty;  /* leaves qty of open sell orders */
    int64_t pad_;           /* zero */
};

/* The UTA totals; followed in the snapshot by venues[] and positions[]. */
struct desk_uta_totals {
    int64_t cash;           /* sum of venue cash */
    int64_t reserved;       /* sum of reservations */
    int64_t buying_power;   /* UTA buying power, net of open orders */
    int64_t nav;            /* cash + marked positions */
    int64_t realized_pnl;   /* today, after fees */
    int64_t unrealized_pnl; /* marked */
    int64_t fees;           /* today */
    uint64_t updated_ns;    /* desk_now_ns() of this snapshot */
};

/* The published UTA: totals, then nconnectors venues, then ninstruments
 * positions (only that prefix is copied by reads and writes). */
struct desk_uta_shm {
    desk_seqlock_t lock;                  /* W: router thread */
    uint64_t pad_[15];                    /* zero */
    _Alignas(DESK_FALSE_SHARING) struct desk_uta_totals t;
    struct desk_uta_venue venues[DESK_SHM_MAX_CONNECTORS];
    struct desk_uta_pos pos[DESK_SHM_MAX_INSTRUMENTS];
};

/* Connector health text, seqlocked together with its state. */
struct desk_conn_health {
    uint64_t state;    /* desk_health_t */
    uint64_t since_ns; /* desk_now_ns() of the last change */
    char reason[48];   /* why, NUL terminated */
};

/* One connector as desk status shows it. */
struct desk_conn_shm {
    char name[DESK_NAME_MAX];   /* connector name */
    char type[DESK_NAME_MAX];   /* "paper", ... */
    uint32_t venue_type;        /* desk_venue_type_t */
    uint32_t index;             /* connector index */
    uint64_t pad0_[5];
    _Alignas(DESK_FALSE_SHARING) desk_seqlock_t hlock; /* W: connector thread */
    struct desk_conn_health health;                    /* protected by hlock */
    _Atomic uint64_t last_quote_ns; /* desk_now_ns() of the last quote; W: connector */
    _Atomic uint64_t quotes;        /* quotes published; W: connector */
    _Atomic uint64_t cmds;          /* commands taken from the router; W: connector */
    _Atomic uint64_t vevents;       /* events emitted to the router; W: connector */
    _Atomic uint64_t backpressure;  /* emit found the event ring full; W: connector */
    _Alignas(DESK_FALSE_SHARING) _Atomic uint64_t routed; /* commands sent; W: router */
    _Atomic uint64_t acks;            /* W: router */
    _Atomic uint64_t fills;           /* W: router */
    _Atomic uint64_t rejects;         /* venue rejects; W: router */
    _Atomic uint64_t cmd_ring_depth;  /* router -> connector ring; W: router */
    _Atomic uint64_t event_ring_depth; /* connector -> router ring; W: router */
    _Alignas(DESK_FALSE_SHARING) desk_hist_t dispatch; /* route -> connector op; W: connector */
};

/* One strategy as desk status shows it (W: router unless said). */
struct desk_strat_shm {
    char name[DESK_NAME_MAX];         /* strategy name */
    _Atomic int32_t pid;              /* attached pid, 0 if none seen */
    _Atomic uint32_t alive;           /* 1 if attached and heartbeating */
    _Atomic uint64_t cmds;            /* commands received */
    _Atomic uint64_t orders;          /* new orders accepted by the guard */
    _Atomic uint64_t rejects;         /* commands rejected (guard or venue) */
    _Atomic uint64_t fills;           /* fills delivered */
    _Atomic uint64_t open_orders;     /* orders not yet done */
    _Atomic uint64_t order_ring_depth; /* published, not yet taken */
    _Atomic uint64_t event_ring_depth; /* published, not yet polled */
    _Atomic uint64_t event_ring_full;  /* times the router found it full */
    uint64_t pad_[2];
};

/* Desk-wide counters and latency (W: router thread). */
struct desk_stats_shm {
    _Atomic uint64_t cmds;              /* commands taken from strategies */
    _Atomic uint64_t orders;            /* new orders accepted */
    _Atomic uint64_t rejects;           /* all rejects */
    _Atomic uint64_t fills;             /* fills applied */
    _Atomic uint64_t cancels;           /* orders canceled */
    _Atomic uint64_t expired;           /* orders expired */
    _Atomic uint64_t replaced;          /* replaces done */
    _Atomic uint64_t invalid_events;    /* venue events that did not fit the state */
    _Atomic uint64_t duplicate_execs;   /* repeats dropped: fills by exec id or cum qty,
                                           status acks (DESK_VEV_STATUS) of acked orders */
    _Atomic uint64_t loop_turns;        /* router loop iterations */
    _Atomic uint64_t reject_by_reason[DESK_SHM_REJECT_SLOTS]; /* index desk_reject_t */
    _Alignas(DESK_FALSE_SHARING) desk_hist_t stage[DESK_STAGE__COUNT];
};

/* One open order in the status snapshot. */
struct desk_open_order {
    uint64_t order_id;   /* deskd's id */
    uint64_t cl_ord_id;  /* the strategy's ClOrdID */
    uint32_t instrument; /* instrument id */
    uint16_t strategy;   /* strategy index */
    uint8_t side;        /* desk_side_t */
    uint8_t status;      /* desk_ord_status_t */
    uint8_t ord_type;    /* desk_ord_type_t */
    uint8_t tif;         /* desk_tif_t */
    uint8_t pad_[6];
    int64_t qty;         /* order qty */
    int64_t px;          /* limit price (0 market) */
    int64_t cum_qty;     /* filled */
    int64_t leaves_qty;  /* open */
};

/* Snapshot of open orders, refreshed by the router every status interval. */
struct desk_orders_shm {
    desk_seqlock_t lock;   /* W: router */
    uint64_t total;        /* open orders in deskd (may exceed the list) */
    uint64_t n;            /* entries used below */
    uint64_t pad_[13];
    _Alignas(DESK_FALSE_SHARING) struct desk_open_order o[DESK_SHM_OPEN_ORDERS];
};

/* What a reconciliation break is about (core/recon.h). */
enum desk_break_kind {
    DESK_BREAK_POSITION = 1,     /* venue qty != desk qty for an instrument */
    DESK_BREAK_CASH = 2,         /* venue cash != desk cash beyond the tolerance */
    DESK_BREAK_BUYING_POWER = 3, /* desk buying power above the venue's */
    DESK_BREAK_ORDERS = 4,       /* open orders at the venue that no desk order maps to */
};

/* One open break. */
struct desk_break {
    uint8_t kind;        /* enum desk_break_kind */
    uint8_t pad0_;
    uint16_t connector;  /* connector index */
    uint32_t instrument; /* POSITION: instrument id; else UINT32_MAX */
    int64_t desk;        /* the desk's figure: qty or money (orders: 0), 1e-8 */
    int64_t venue;       /* the venue's figure (orders: their count, not scaled) */
    uint64_t since_ns;   /* desk_now_ns() when it opened */
};

/* One break opening, changing or clearing, for the log. */
struct desk_break_event {
    uint64_t seq;        /* 1, 2, ... (the control thread logs seq > its last) */
    uint8_t kind;        /* enum desk_break_kind */
    uint8_t open;        /* 1: opened or changed, 0: cleared */
    uint16_t connector;  /* connector index */
    uint32_t instrument; /* as in struct desk_break */
    int64_t desk;        /* the desk's figure */
    int64_t venue;       /* the venue's figure */
};

/* One connector's reconciliation status. */
struct desk_recon_row {
    uint64_t reports;       /* venue account reports compared */
    uint64_t last_ns;       /* desk_now_ns() of the last comparison, 0: none yet */
    uint32_t flags;         /* DESK_REPORT_* of the last report */
    uint32_t breaks;        /* open breaks of this connector */
    int64_t venue_cash;     /* last reported cash (DESK_REPORT_BALANCE) */
    int64_t venue_bp;       /* last reported buying power */
    uint32_t venue_orders;  /* last reported venue-only open orders */
    uint32_t pad_;
};

/* The reconciliation block of the main segment (W: router). */
struct desk_recon_data {
    uint64_t nbreaks;       /* entries used in open[] */
    uint64_t dropped;       /* breaks that did not fit open[] (still journaled and logged) */
    uint64_t tseq;          /* transitions ever; log[] holds the last DESK_SHM_BREAK_LOG */
    uint64_t pad_[5];
    struct desk_recon_row conn[DESK_SHM_MAX_CONNECTORS];
    struct desk_break open[DESK_SHM_BREAKS];
    struct desk_break_event log[DESK_SHM_BREAK_LOG]; /* transition seq s at [(s-1) % N] */
};

struct desk_recon_shm {
    desk_seqlock_t lock;    /* W: router */
    uint64_t pad_[15];
    _Alignas(DESK_FALSE_SHARING) struct desk_recon_data d;
};

/* Strategy segment header. */
struct desk_strat_hdr {
    uint64_t magic;             /* DESK_STRAT_MAGIC */
    uint32_t abi_version;       /* DESK_ABI_VERSION */
    uint32_t layout_hash;       /* desk_shm_layout_hash() */
    char desk[DESK_NAME_MAX];   /* desk name */
    char name[DESK_NAME_MAX];   /* strategy name */
    uint32_t index;             /* strategy index in the main segment */
    uint32_t pad0_;
    uint64_t deskd_start_ns;    /* main header's start_mono_ns: detects restarts */
    uint64_t off_order_ring;    /* struct desk_spsc_hdr, strategy -> router */
    uint64_t off_event_ring;    /* struct desk_spsc_hdr, router -> strategy */
    uint64_t order_ring_bytes;  /* bytes at off_order_ring */
    uint64_t event_ring_bytes;  /* bytes at off_event_ring */
    uint64_t total_size;        /* bytes of the segment */
    _Alignas(DESK_FALSE_SHARING) _Atomic int32_t pid; /* W: strategy at attach, 0 at detach */
    uint32_t pad1_;
    _Atomic uint64_t attach_epoch; /* bumped by each attach; W: strategy */
    _Atomic uint64_t heartbeat_ns; /* desk_now_ns(); W: strategy, in desk_poll */
};

DESK_STATIC_ASSERT(sizeof(struct desk_quote_slot) == 128);
DESK_STATIC_ASSERT(sizeof(struct desk_uta_venue) == 64);
DESK_STATIC_ASSERT(sizeof(struct desk_uta_pos) == 64);
DESK_STATIC_ASSERT(sizeof(struct desk_open_order) == 64);
DESK_STATIC_ASSERT(sizeof(struct desk_break) == 32);
DESK_STATIC_ASSERT(sizeof(struct desk_break_event) == 32);
DESK_STATIC_ASSERT(sizeof(struct desk_recon_row) == 48);
DESK_STATIC_ASSERT(offsetof(struct desk_main_hdr, heartbeat_ns) % DESK_FALSE_SHARING == 0);
DESK_STATIC_ASSERT(offsetof(struct desk_conn_shm, routed) -
                       offsetof(struct desk_conn_shm, hlock) >= DESK_FALSE_SHARING);
DESK_STATIC_ASSERT(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2);

#ifdef __cplusplus
extern "C" {
#endif

/* FNV-1a of every shared struct's size and key offsets: two builds that
 * disagree on the layout disagree on this number.  Pure. */
uint32_t desk_shm_layout_hash(void);

/* "/desk.<desk>" and "/desk.<desk>.<strategy>" (shm_open names).  Returns the
 * length, or -ENAMETOOLONG / -EINVAL for names with '/' or empty. */
int desk_shm_main_name(char *buf, size_t cap, const char *desk);
int desk_shm_strat_name(char *buf, size_t cap, const char *desk, const char *strategy);

/* Bytes of the main segment for these counts, and the offsets it will use
 * (filled into hdr by desk_shm_main_layout()). */
void desk_shm_main_layout(struct desk_main_hdr *hdr, uint32_t ninstruments,
                          uint32_t nconnectors, uint32_t nstrategies);

/* Typed views of the main segment at its recorded offsets. */
static inline desk_instrument_t *desk_shm_instruments(struct desk_main_hdr *h)
{
    return (desk_instrument_t *)(void *)((char *)h + h->off_instruments);
}
static inline struct desk_quote_slot *desk_shm_quotes(struct desk_main_hdr *h)
{
    return (struct desk_quote_slot *)(void *)((char *)h + h->off_quotes);
}
static inline struct desk_uta_shm *desk_shm_uta(struct desk_main_hdr *h)
{
    return (struct desk_uta_shm *)(void *)((char *)h + h->off_uta);
}
static inline struct desk_conn_shm *desk_shm_conns(struct desk_main_hdr *h)
{
    return (struct desk_conn_shm *)(void *)((char *)h + h->off_connectors);
}
static inline struct desk_strat_shm *desk_shm_strats(struct desk_main_hdr *h)
{
    return (struct desk_strat_shm *)(void *)((char *)h + h->off_strategies);
}
static inline struct desk_stats_shm *desk_shm_stats(struct desk_main_hdr *h)
{
    return (struct desk_stats_shm *)(void *)((char *)h + h->off_stats);
}
static inline struct desk_orders_shm *desk_shm_orders(struct desk_main_hdr *h)
{
    return (struct desk_orders_shm *)(void *)((char *)h + h->off_orders);
}
static inline struct desk_recon_shm *desk_shm_recon(struct desk_main_hdr *h)
{
    return (struct desk_recon_shm *)(void *)((char *)h + h->off_recon);
}

/* Bytes of the UTA snapshot prefix that is copied for these counts. */
static inline size_t desk_shm_uta_bytes(uint32_t nconnectors, uint32_t ninstruments)
{
    (void)nconnectors;
    return offsetof(struct desk_uta_shm, pos) + (size_t)ninstruments * sizeof(struct desk_uta_pos) -
           offsetof(struct desk_uta_shm, t);
}

/*
 * Create (deskd) the main segment: shm_open O_CREAT|O_EXCL (an existing one
 * whose router pid is dead is replaced; a live one is -EEXIST), size it,
 * map it read-write, zero it and fill the header (magic last).  mode is the
 * file mode (0644 lets strategies and desk status read it).  Returns 0 and
 * *out and *len, or -errno with desk_errmsg().  Cold.
 */
int desk_shm_main_create(const char *desk, uint32_t ninstruments, uint32_t nconnectors,
                         uint32_t nstrategies, mode_t mode, struct desk_main_hdr **out,
                         size_t *len);

/*
 * Map an existing main segment read-only and check magic, ABI version and
 * layout hash.  Returns 0, -ENOENT (no such desk: is deskd running?),
 * -EPROTO (a mismatch; the message says which field, expected and found),
 * or -errno.  Cold.
 */
int desk_shm_main_attach(const char *desk, const struct desk_main_hdr **out, size_t *len);

/*
 * Create (deskd) a strategy segment with both rings, owned by uid:gid with
 * `mode`.  Returns 0 and the mapping, or -errno (-EPERM when chown is not
 * allowed: deskd must run as root to give segments to other users).  Cold.
 */
int desk_shm_strat_create(const char *desk, const char *strategy, uint32_t index,
                          uint64_t deskd_start_ns, uint32_t order_slots, uint32_t event_slots,
                          uid_t uid, gid_t gid, mode_t mode, struct desk_strat_hdr **out,
                          size_t *len);

/* Map a strategy segment read-write and check it (as desk_shm_main_attach).
 * -EACCES names the segment when its mode forbids this user.  Cold. */
int desk_shm_strat_attach(const char *desk, const char *strategy, struct desk_strat_hdr **out,
                          size_t *len);

/* Unmap (and, for the creator, unlink with desk_shm_unlink). Cold. */
void desk_shm_unmap(const void *p, size_t len);
int desk_shm_unlink_main(const char *desk);
int desk_shm_unlink_strat(const char *desk, const char *strategy);

#ifdef __cplusplus
}
#endif

#endif /* DESK_SHM_H */
