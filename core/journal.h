/*
 * journal.h - the append-only, CRC32C-framed journal of everything deskd
 * decided: one file per UTC trading day, written by its own thread from an
 * SPSC ring that the router thread feeds.
 *
 * Files
 *   <dir>/desk-<desk>-YYYYMMDD.journal, the UTC date of the wall clock when
 *   the journal thread wrote the records.  A file is a sequence of frames,
 *   all DESK_JOURNAL_FRAME (72) bytes:
 *       [u32 len = 64, little-endian][u32 crc32c, little-endian][64-byte record]
 *   where crc = CRC-32C of the 4 len bytes followed by the 64 record bytes
 *   (so a damaged length is caught too).  The first frame of every file is a
 *   DESK_JREC_FILE record (magic, format version, day) written by the journal
 *   itself; the rest are whatever the router pushed, in push order.  Integers
 *   in records are little-endian (the host order of every supported target).
 *
 * Torn tail versus corruption
 *   A crash can leave the end of the file short or garbled (a frame cut in
 *   the middle, or blocks that reached the disk as zeros or stale data).
 *   That is a *torn tail*: a bad frame (short, wrong len, CRC mismatch) after
 *   which no valid frame starts at any later byte offset.  deskd cuts it off
 *   when it opens the file (ftruncate), and reports the bytes cut.  A bad
 *   frame that IS followed by a valid frame (on a frame boundary, or shifted
 *   by lost or extra bytes) is *corruption*: it cannot come from an
 *   interrupted append, so the scan stops there and reports the offset
 *   (-EBADMSG); nothing is ever silently skipped, and deskd should refuse to
 *   start on it (fail closed: an operator looks at the file).  A file with
 *   no valid first record and more than one frame of nonzero bytes is not a
 *   journal (-EBADMSG, offset 0) and is never cut either.
 *
 * Sequence numbers and write-ahead
 *   Every record pushed in this run gets the next sequence number (1, 2, ...;
 *   desk_journal_pushed() is the last one, read by the router right after its
 *   push).  The journal thread publishes, with release stores:
 *     written_seq  the last record handed to write(2): in the page cache, so
 *                  it survives a crash of deskd, not a power loss;
 *     synced_seq   the last record made durable by fdatasync(2): survives a
 *                  power loss;
 *     durable_seq  the one the fsync policy promises (below).
 *   A ClOrdID must be journaled before it reaches a venue.  The router keeps
 *   that promise without blocking: it writes the venue command into the
 *   connector's command ring but holds the ring's commit until
 *   desk_journal_durable_seq() >= the seq of the record that names it
 *   (checked again on every loop turn).  The price is the journal's write
 *   latency on the send path; see the policies.
 *
 * fsync policies (desk.toml; desk_journal_policy_parse())
 *   "none"         durable_seq = written_seq.  No fsync during the day (one at
 *                  rollover and at stop).  A deskd crash loses nothing; a
 *                  power loss or kernel panic can lose the last ~30 s (the
 *                  kernel's writeback), and with it ClOrdIDs already sent.
 *                  Lowest latency: a write(2) per batch, a few microseconds.
 *   "interval:MS"  durable_seq = written_seq, and fdatasync at most every MS
 *                  milliseconds while unsynced records exist.  Same send
 *                  latency as none; a power loss loses at most about MS ms
 *                  (plus the journal's idle sleep).  The recommended default
 *                  ("interval:10").
 *   "every"        durable_seq = synced_seq: fdatasync after every drained
 *                  batch, before durable_seq moves, so a venue never sees a
 *                  ClOrdID that a power loss could erase.  Batching makes it
 *                  group commit (records that arrive during one fdatasync go
 *                  in the next), but each send waits for one fdatasync: tens
 *                  of microseconds on NVMe, milliseconds on a spinning disk.
 *
 * Back-pressure
 *   The router never blocks.  Before it takes a strategy command or a venue
 *   event it checks desk_journal_room(j, 1): with no room the command (or
 *   event) stays in its ring and is taken on a later turn, exactly like a
 *   full event ring.  desk_journal_push() on a full ring returns -EAGAIN and
 *   writes nothing; both count in stats.full.  A write error (ENOSPC, EIO)
 *   leaves the records in the ring and retries every 10 ms, so the ring fills
 *   and the desk stops taking commands until the disk recovers; an fdatasync
 *   error is sticky (after a failed fsync the kernel may have dropped the
 *   dirty pages, so nothing after it can be called durable): durable_seq
 *   stops for the rest of the run.  desk_journal_error() reports both, for
 *   the control thread to log and to halt the desk.
 *
 * Threads
 *   Producer (the router thread): push, room, pushed.  Consumer (the journal
 *   thread after desk_journal_start(), else the thread that opened it):
 *   desk_journal_poll().  Any thread: durable/written/synced seq, error,
 *   stats.  Setup and teardown (open, start, stop, close) from one control
 *   thread.  The producer side makes no syscall and allocates nothing.
 *
 * Protocol (beyond ring/spsc.h's P and C)
 *   (W) The journal thread stores written/synced/durable with release after
 *       the write(2)/fdatasync(2) they describe returned.  A reader's acquire
 *       load pairs with W: once it sees seq s, record s is in the file.
 */
#ifndef DESK_JOURNAL_H
#define DESK_JOURNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../ring/spsc.h"
#include "config.h"
#include "desk/connector.h"
#include "desk/types.h"
#include "desk_compiler.h"
#include "order.h"

#define DESK_JOURNAL_MAGIC UINT64_C(0x314c4e524a4b5344) /* "DSKJRNL1" little-endian */
#define DESK_JOURNAL_VERSION 1u   /* record layout version, in the FILE record */
#define DESK_JOURNAL_REC 64u      /* bytes of one record (one ring slot) */
#define DESK_JOURNAL_FRAME 72u    /* bytes of one frame on disk: len, crc, record */
#define DESK_JOURNAL_SLOTS 65536u /* default ring capacity (4 MiB) */
#define DESK_JOURNAL_BATCH 1024u  /* records per write(2), at most */
#define DESK_JOURNAL_CHAIN_MAX 32u /* days recovery reads back looking for one that
                                      replays on its own (deskd refuses beyond) */

/* Record kinds (the first byte of every record).  Append only: on disk. */
typedef enum desk_jrec_kind {
    DESK_JREC_FILE = 1,    /* first record of every file; written by the journal */
    DESK_JREC_SESSION = 2, /* deskd started: config hash, venue ClOrdID base */
    DESK_JREC_NAME = 3,    /* index -> name of a strategy, connector, instrument */
    DESK_JREC_CMD = 4,     /* a command accepted and sent to a venue */
    DESK_JREC_REJECT = 5,  /* a command refused by the router or the guard */
    DESK_JREC_EVENT = 6,   /* a venue event taken by the router */
    DESK_JREC_BALANCE = 7, /* cash/position set from a venue (seed, reconcile) */
    DESK_JREC_BREAK = 8,   /* a reconciliation break opened, changed or cleared */
    DESK_JREC_SNAPSHOT = 9, /* a new trading day: the state carried into it begins/ends */
    DESK_JREC_CARRY = 10,  /* one live order carried into the new day (3 parts) */
    DESK_JREC__COUNT
} desk_jrec_kind_t;

/* desk_jrec_name.what */
enum {
    DESK_JNAME_STRATEGY = 1,   /* index = strategy index */
    DESK_JNAME_CONNECTOR = 2,  /* index = connector index */
    DESK_JNAME_INSTRUMENT = 3, /* index = instrument id; connector = its venue */
};

/* desk_jrec_event.result: what the router did with the event.  The first
 * three equal desk_ord_result_t. */
enum {
    DESK_JEV_APPLIED = 0,       /* applied to the order and the UTA */
    DESK_JEV_INVALID = 1,       /* did not fit the order's state: not applied */
    DESK_JEV_DUPLICATE = 2,     /* duplicate fill (exec id or cum qty), or a status
                                   ack of an acknowledged order: dropped */
    DESK_JEV_UNKNOWN_ORDER = 3, /* no such order id: not applied */
};

/* desk_jrec_balance.what and .source */
enum {
    DESK_JBAL_CASH = 1,      /* connector's cash and venue buying power := values */
    DESK_JBAL_POSITION = 2,  /* instrument's position qty and avg px := values */
    DESK_JBAL_SEED = 1,      /* source: read from the venue at start */
    DESK_JBAL_RECONCILE = 2, /* source: reconciliation with the venue */
    DESK_JBAL_SNAPSHOT = 3,  /* source: carried into a new trading day */
};

/* desk_jrec_snapshot.what */
enum {
    DESK_JSNAP_BEGIN = 1, /* replay forgets everything before it: the state follows */
    DESK_JSNAP_END = 2,   /* the carried state is complete */
};

/* The prefix every record shares: kind at 0, timestamp at 8. */
struct desk_jrec_head {
    uint8_t kind;      /* desk_jrec_kind_t */
    uint8_t bytes_[7]; /* kind-specific */
    uint64_t ts_ns;    /* UTC wall clock (ns since the epoch) when the journal
                          thread wrote it; set by the journal, not the router */
    uint8_t body_[48]; /* kind-specific */
};

/* DESK_JREC_FILE: the journal's own header record, first in every file. */
struct desk_jrec_file {
    uint8_t kind;             /* DESK_JREC_FILE */
    uint8_t version;          /* DESK_JOURNAL_VERSION */
    uint16_t frame;           /* DESK_JOURNAL_FRAME */
    uint32_t day;             /* UTC date YYYYMMDD the file holds */
    uint64_t ts_ns;           /* when the file was started */
    uint64_t magic;           /* DESK_JOURNAL_MAGIC */
    char desk[DESK_NAME_MAX]; /* desk name, NUL-terminated */
    uint64_t pad_;            /* zero */
};

/* DESK_JREC_SESSION: deskd started (pushed once, before the first command). */
struct desk_jrec_session {
    uint8_t kind;           /* DESK_JREC_SESSION */
    uint8_t pad0_;          /* zero */
    uint16_t pad1_;         /* zero */
    uint32_t pid;           /* deskd's pid */
    uint64_t ts_ns;         /* journal time */
    uint64_t config_hash;   /* hash of desk.toml as loaded (e.g. its CRC-32C) */
    uint64_t venue_cl_base; /* the router's first venue ClOrdID number */
    uint64_t start_mono_ns; /* desk_now_ns() at start (matches the main segment) */
    uint32_t nconnectors;   /* connectors in desk.toml */
    uint32_t ninstruments;  /* instruments in desk.toml */
    uint32_t nstrategies;   /* strategies in desk.toml */
    uint32_t abi;           /* DESK_ABI_VERSION */
    uint64_t pad2_;         /* zero */
};

/* DESK_JREC_NAME: makes the journal self-describing for audits. */
struct desk_jrec_name {
    uint8_t kind;             /* DESK_JREC_NAME */
    uint8_t what;             /* DESK_JNAME_* */
    uint16_t connector;       /* INSTRUMENT: its connector index, else 0 */
    uint32_t index;           /* strategy index, connector index or instrument id */
    uint64_t ts_ns;           /* journal time */
    char name[DESK_NAME_MAX]; /* name or symbol, NUL-terminated */
    uint64_t pad_[2];         /* zero */
};

/*
 * DESK_JREC_CMD: a command that passed the guard and went to a venue: NEW
 * (cl_ord_id is the order's), CANCEL or REPLACE (cl_ord_id is the request's;
 * 0 for deskd's own cancels, e.g. cancel-all), with the venue ClOrdID number
 * it was sent under.  For REPLACE, qty and px are the requested new ones.
 */
struct desk_jrec_cmd {
    uint8_t kind;        /* DESK_JREC_CMD */
    uint8_t type;        /* desk_cmd_type_t */
    uint8_t side;        /* desk_side_t */
    uint8_t ord_type;    /* desk_ord_type_t */
    uint8_t tif;         /* desk_tif_t */
    uint8_t strategy;    /* strategy index */
    uint16_t instrument; /* instrument id */
    uint64_t ts_ns;      /* journal time */
    uint64_t cl_ord_id;  /* the strategy's ClOrdID of this command */
    uint64_t order_id;   /* deskd's order id */
    uint64_t venue_cl;   /* venue ClOrdID number sent (desk_vcmd.cl_ord_id) */
    int64_t qty;         /* order quantity (REPLACE: new), 1e-8 */
    int64_t px;          /* limit price (REPLACE: new), 1e-8 */
    int64_t stop_px;     /* stop price, 1e-8; a MARKET order: the price its
                            cash was reserved at (0 for a sell) */
};

/* DESK_JREC_REJECT: a command refused before it reached a venue.  Its
 * ClOrdID is used all the same (it can never name another order). */
struct desk_jrec_reject {
    uint8_t kind;            /* DESK_JREC_REJECT */
    uint8_t type;            /* desk_cmd_type_t as submitted (may be invalid) */
    uint8_t side;            /* as submitted */
    uint8_t ord_type;        /* as submitted */
    uint8_t tif;             /* as submitted */
    uint8_t strategy;        /* strategy index */
    uint16_t instrument;     /* as submitted (low 16 bits) */
    uint64_t ts_ns;          /* journal time */
    uint64_t cl_ord_id;      /* the command's ClOrdID */
    uint64_t orig_cl_ord_id; /* CANCEL/REPLACE: the order it named */
    uint64_t order_id;       /* the order concerned, 0 if none */
    int64_t qty;             /* as submitted, 1e-8 */
    int64_t px;              /* as submitted, 1e-8 */
    uint16_t reason;         /* desk_reject_t */
    uint16_t pad_[3];        /* zero */
};

/* DESK_JREC_EVENT: a venue event the router took, applied or not. */
struct desk_jrec_event {
    uint8_t kind;        /* DESK_JREC_EVENT */
    uint8_t type;        /* desk_event_type_t */
    uint16_t reason;     /* desk_vevent.reason */
    uint8_t flags;       /* DESK_VEV_* */
    uint8_t result;      /* DESK_JEV_* */
    uint16_t instrument; /* instrument id */
    uint64_t ts_ns;      /* journal time */
    uint64_t order_id;   /* deskd's order id */
    uint64_t exec_id;    /* venue's exec id */
    int64_t last_px;     /* FILL: price, 1e-8 */
    int64_t last_qty;    /* FILL: quantity, 1e-8 */
    int64_t fee;         /* FILL: fee, money 1e-8 */
    int64_t cum_qty;     /* venue's cum qty after it, 1e-8 */
};

/* DESK_JREC_BALANCE: state that cannot be derived from commands and events.
 * Values are absolute (set, not add), so replay is idempotent. */
struct desk_jrec_balance {
    uint8_t kind;        /* DESK_JREC_BALANCE */
    uint8_t what;        /* DESK_JBAL_CASH or DESK_JBAL_POSITION */
    uint8_t source;      /* DESK_JBAL_SEED, DESK_JBAL_RECONCILE or DESK_JBAL_SNAPSHOT */
    uint8_t pad0_;       /* zero */
    uint16_t connector;  /* connector index */
    uint16_t instrument; /* POSITION: instrument id */
    uint64_t ts_ns;      /* journal time */
    int64_t cash;        /* CASH: the venue's cash, money 1e-8 */
    int64_t venue_bp;    /* CASH: the venue's buying power, money 1e-8 */
    int64_t qty;         /* POSITION: signed quantity, 1e-8 */
    int64_t avg_px;      /* POSITION: average entry price, 1e-8 */
    uint64_t pad1_[2];   /* zero */
};

/* DESK_JREC_BREAK: reconciliation found the venue and the desk disagree
 * (or agree again), core/recon.h.  Informational: replay skips it. */
struct desk_jrec_break {
    uint8_t kind;        /* DESK_JREC_BREAK */
    uint8_t what;        /* enum desk_break_kind (ring/shm.h) */
    uint8_t open;        /* 1: opened or changed, 0: cleared */
    uint8_t pad0_;       /* zero */
    uint16_t connector;  /* connector index */
    uint16_t pad1_;      /* zero */
    uint64_t ts_ns;      /* journal time */
    uint32_t instrument; /* POSITION: instrument id; else UINT32_MAX */
    uint32_t pad2_;      /* zero */
    int64_t desk;        /* the desk's figure: qty or money, 1e-8 (orders: 0) */
    int64_t venue;       /* the venue's figure (orders: a count, not scaled) */
    uint64_t pad3_[3];   /* zero */
};

/*
 * DESK_JREC_SNAPSHOT: the start of a trading day's file when deskd runs
 * across UTC midnight (or starts on a day after its last journal): BEGIN,
 * then a BALANCE (source SNAPSHOT) per connector (cash, venue buying power)
 * and per instrument with a position (qty, avg px), then three CARRY records
 * per live order, then END.  Replay resets the order table and the UTA at
 * BEGIN (records before it in the file, written late for the previous day,
 * are already in the state it carries).  The day's realized PnL and fees
 * start at zero after it.
 */
struct desk_jrec_snapshot {
    uint8_t kind;           /* DESK_JREC_SNAPSHOT */
    uint8_t what;           /* DESK_JSNAP_BEGIN or DESK_JSNAP_END */
    uint8_t pad0_[6];       /* zero */
    uint64_t ts_ns;         /* journal time */
    uint32_t day;           /* the new trading day, YYYYMMDD (UTC) */
    uint32_t nlive;         /* live orders carried (3 CARRY records each) */
    uint64_t next_venue_cl; /* the router's next venue ClOrdID number */
    uint64_t generation;    /* the order table's generation counter */
    uint32_t from_day;      /* the day the state comes from (YYYYMMDD) */
    uint32_t pad1_;         /* zero */
    uint64_t pad2_[2];      /* zero */
};

/* DESK_JREC_CARRY: one live order carried into a new day, in three parts
 * (part 1 identity, part 2 quantities and prices, part 3 the request in
 * flight, zeros when none), each naming the order. */
struct desk_jrec_carry {
    uint8_t kind;        /* DESK_JREC_CARRY */
    uint8_t part;        /* 1, 2 or 3 */
    uint8_t side;        /* part 1: desk_side_t */
    uint8_t ord_type;    /* part 1: desk_ord_type_t */
    uint8_t tif;         /* part 1: desk_tif_t */
    uint8_t status;      /* part 1: desk_ord_status_t */
    uint8_t prev_status; /* part 1: status before a pending cancel/replace */
    uint8_t strategy;    /* part 1: strategy index */
    uint64_t ts_ns;      /* journal time */
    uint64_t order_id;   /* every part: deskd's order id */
    uint64_t a;          /* 1: cl_ord_id      2: qty        3: req_cl_ord_id */
    uint64_t b;          /* 1: venue_cl       2: px         3: req_venue_cl */
    uint64_t c;          /* 1: instrument     2: stop_px    3: new_qty */
    uint64_t d;          /* 1: filled_once    2: cum_qty    3: new_px */
    uint64_t e;          /* 1: 0              2: reserve_px 3: cum_notional */
};

/* One record: 64 bytes, one ring slot, the payload of one frame. */
typedef union desk_jrec {
    struct desk_jrec_head head;          /* kind and ts_ns of any record */
    struct desk_jrec_file file;          /* DESK_JREC_FILE */
    struct desk_jrec_session session;    /* DESK_JREC_SESSION */
    struct desk_jrec_name name;          /* DESK_JREC_NAME */
    struct desk_jrec_cmd cmd;            /* DESK_JREC_CMD */
    struct desk_jrec_reject reject;      /* DESK_JREC_REJECT */
    struct desk_jrec_event event;        /* DESK_JREC_EVENT */
    struct desk_jrec_balance balance;    /* DESK_JREC_BALANCE */
    struct desk_jrec_break brk;          /* DESK_JREC_BREAK */
    struct desk_jrec_snapshot snap;      /* DESK_JREC_SNAPSHOT */
    struct desk_jrec_carry carry;        /* DESK_JREC_CARRY */
    unsigned char raw[DESK_JOURNAL_REC]; /* the bytes */
} desk_jrec_t;

DESK_STATIC_ASSERT(sizeof(desk_jrec_t) == DESK_JOURNAL_REC);
DESK_STATIC_ASSERT(sizeof(desk_jrec_t) == DESK_SPSC_SLOT);
DESK_STATIC_ASSERT(sizeof(struct desk_jrec_file) == 64);
DESK_STATIC_ASSERT(sizeof(struct desk_jrec_session) == 64);
DESK_STATIC_ASSERT(sizeof(struct desk_jrec_name) == 64);
DESK_STATIC_ASSERT(sizeof(struct desk_jrec_cmd) == 64);
DESK_STATIC_ASSERT(sizeof(struct desk_jrec_reject) == 64);
DESK_STATIC_ASSERT(sizeof(struct desk_jrec_event) == 64);
DESK_STATIC_ASSERT(sizeof(struct desk_jrec_balance) == 64);
DESK_STATIC_ASSERT(sizeof(struct desk_jrec_break) == 64);
DESK_STATIC_ASSERT(sizeof(struct desk_jrec_snapshot) == 64);
DESK_STATIC_ASSERT(sizeof(struct desk_jrec_carry) == 64);
DESK_STATIC_ASSERT(offsetof(struct desk_jrec_snapshot, ts_ns) == 8);
DESK_STATIC_ASSERT(offsetof(struct desk_jrec_carry, ts_ns) == 8);
DESK_STATIC_ASSERT(offsetof(struct desk_jrec_break, ts_ns) == 8);
DESK_STATIC_ASSERT(offsetof(struct desk_jrec_file, ts_ns) == 8);
DESK_STATIC_ASSERT(offsetof(struct desk_jrec_session, ts_ns) == 8);
DESK_STATIC_ASSERT(offsetof(struct desk_jrec_name, ts_ns) == 8);
DESK_STATIC_ASSERT(offsetof(struct desk_jrec_cmd, ts_ns) == 8);
DESK_STATIC_ASSERT(offsetof(struct desk_jrec_reject, ts_ns) == 8);
DESK_STATIC_ASSERT(offsetof(struct desk_jrec_event, ts_ns) == 8);
DESK_STATIC_ASSERT(offsetof(struct desk_jrec_balance, ts_ns) == 8);
DESK_STATIC_ASSERT(offsetof(struct desk_jrec_cmd, stop_px) == 56);
DESK_STATIC_ASSERT(offsetof(struct desk_jrec_event, cum_qty) == 56);
/* The narrowed index fields hold every index desk can have. */
DESK_STATIC_ASSERT(DESK_MAX_STRATEGIES <= 256);
DESK_STATIC_ASSERT(DESK_MAX_INSTRUMENTS <= 65536);
DESK_STATIC_ASSERT(DESK_MAX_CONNECTORS <= 65536);

/* fsync policy (see the top of this file). */
typedef enum desk_fsync {
    DESK_FSYNC_NONE = 0,     /* never during the day */
    DESK_FSYNC_INTERVAL = 1, /* at most every interval_ms */
    DESK_FSYNC_EVERY = 2,    /* after every drained batch; durable = synced */
} desk_fsync_t;

typedef struct desk_journal_policy {
    uint8_t fsync;        /* desk_fsync_t */
    uint32_t interval_ms; /* DESK_FSYNC_INTERVAL: 1..3600000 */
} desk_journal_policy_t;

typedef struct desk_journal_opts {
    const char *dir;                /* directory of the files (created if missing,
                                       one level); borrowed, copied at open */
    const char *desk;               /* desk name (1..31 bytes, no '/'); copied */
    desk_journal_policy_t policy;   /* fsync policy */
    uint32_t nslots;                /* ring capacity, power of two; 0: DESK_JOURNAL_SLOTS */
    uint8_t idle;                   /* desk_idle_t of the journal thread (0 is spin:
                                       deskd passes cfg->idle, tests backoff) */
    uint32_t idle_max_us;           /* backoff: longest sleep; 0: 200 */
    uint64_t (*wall_ns)(void *ctx); /* UTC clock for file days and record
                                       stamps; NULL: desk_wall_ns().  Tests
                                       inject one.  Called by the consumer. */
    void *clock_ctx;                /* passed to wall_ns */
} desk_journal_opts_t;

/* What a scan of a file found. */
typedef struct desk_jscan {
    uint64_t records;     /* complete valid records, the FILE record included */
    uint64_t good_end;    /* offset just past the last valid record */
    uint64_t size;        /* file size when scanned (before any truncation) */
    uint64_t torn_bytes;  /* size - good_end: the torn tail (0 if clean) */
    uint64_t corrupt_off; /* -EBADMSG: offset of the bad frame; else UINT64_MAX */
    uint32_t day;         /* the FILE record's day, 0 if none */
    uint32_t truncated;   /* 1 if the torn tail was cut off */
} desk_jscan_t;

/* Journal counters (desk status may show them). */
typedef struct desk_journal_stats {
    uint64_t records;   /* records written in this run (FILE records included) */
    uint64_t bytes;     /* bytes written in this run */
    uint64_t batches;   /* write(2) batches */
    uint64_t fsyncs;    /* fdatasync(2) calls */
    uint64_t rollovers; /* day changes */
    uint64_t full;      /* times the router found the ring full */
    uint64_t written;   /* written_seq */
    uint64_t synced;    /* synced_seq */
    uint64_t durable;   /* durable_seq */
    uint32_t day;       /* UTC day of the open file */
    int32_t error;      /* desk_journal_error() */
} desk_journal_stats_t;

/*
 * The journal handle (allocated by desk_journal_open).  The fields are
 * public only so that the producer calls below can be inline; touch them
 * only through the functions.
 */
typedef struct desk_journal {
    /* ---- producer (router thread) ---------------------------------- */
    desk_spsc_t prod;      /* producer handle on the ring; W: router */
    uint64_t pushed;       /* seq of the last record pushed; W: router */
    _Atomic uint64_t full; /* full-ring encounters; W: router */
    /* ---- published by the consumer (journal thread) ---------------- */
    _Alignas(DESK_FALSE_SHARING) _Atomic uint64_t durable; /* W: consumer (W) */
    _Atomic uint64_t written;                              /* W: consumer (W) */
    _Atomic uint64_t synced;                               /* W: consumer (W) */
    _Atomic int32_t error;      /* 0, or -errno of the last I/O failure; W: consumer */
    _Atomic uint32_t day;       /* UTC day of the open file; W: consumer */
    _Atomic uint64_t records;   /* stats; W: consumer */
    _Atomic uint64_t bytes;     /* stats; W: consumer */
    _Atomic uint64_t batches;   /* stats; W: consumer */
    _Atomic uint64_t fsyncs;    /* stats; W: consumer */
    _Atomic uint64_t rollovers; /* stats; W: consumer */
    _Alignas(DESK_FALSE_SHARING) _Atomic uint32_t stop; /* 1: drain and exit; W: control */
    /* ---- consumer private ------------------------------------------ */
    _Alignas(DESK_FALSE_SHARING) desk_spsc_t cons; /* consumer handle on the ring */
    uint64_t done;                                 /* records taken from the ring and written */
    uint64_t file_off;                             /* bytes in the open file (all valid frames) */
    uint64_t last_sync_ns;                         /* desk_now_ns() of the last fdatasync */
    uint32_t file_day;                             /* day of the open file */
    int fd;                                        /* the open file, -1 if none */
    _Atomic uint32_t sync_failed;                  /* an fdatasync failed: durable is frozen;
                                                      W: consumer, read by wait */
    desk_journal_opts_t opts; /* copy; dir and desk point into the fields below */
    char dir[DESK_PATH_MAX];  /* journal directory */
    char desk[DESK_NAME_MAX]; /* desk name */
    char path[DESK_PATH_MAX + DESK_NAME_MAX + 32]; /* the open file's path */
    unsigned char *buf;                            /* DESK_JOURNAL_BATCH frames (owned) */
    void *ring;                                    /* ring memory (owned) */
    size_t ring_len;                               /* its size */
    pthread_t tid;                                 /* the journal thread */
    uint8_t started;                               /* tid is running; W: control */
} desk_journal_t;

#ifdef __cplusplus
extern "C" {
#endif

/* ---- producer side (router thread): no syscall, no allocation ----------- */

/* Records the ring holds at most (its capacity).  Any thread. */
static inline uint32_t desk_journal_capacity(const desk_journal_t *j)
{
    return (uint32_t)(j->prod.mask + 1);
}

/*
 * Copy one record into the ring.  The journal stamps ts_ns (leave it 0).
 * Returns 0 (its seq is now desk_journal_pushed(j)), or -EAGAIN if the ring
 * is full (nothing written, counted in stats.full).  Router thread only.
 */
static inline int desk_journal_push(desk_journal_t *j, const desk_jrec_t *rec)
{
    if (DESK_UNLIKELY(desk_spsc_push(&j->prod, rec) < 0)) {
        /* Relaxed single-writer counter: monitoring only. */
        atomic_store_explicit(&j->full, atomic_load_explicit(&j->full, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        return -EAGAIN;
    }
    j->pushed++;
    return 0;
}

/*
 * How many of `want` records would fit now (want when there is room).  A
 * short answer counts in stats.full.  The router calls it with 1 before it
 * takes a command or an event (each makes at most one record), and leaves
 * the message in its ring when it returns 0.  Router thread only.
 */
static inline uint32_t desk_journal_room(desk_journal_t *j, uint32_t want)
{
    uint32_t n = desk_spsc_claim_n(&j->prod, want);

    if (DESK_UNLIKELY(n < want))
        atomic_store_explicit(&j->full, atomic_load_explicit(&j->full, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    return n;
}

/* Seq of the last record pushed (0 before the first).  Router thread only. */
static inline uint64_t desk_journal_pushed(const desk_journal_t *j)
{
    return j->pushed;
}

/*
 * The last seq durable per the fsync policy: every record with a seq at or
 * below it is in the file (page cache for none/interval, disk for every).
 * Monotonic.  Any thread.
 */
static inline uint64_t desk_journal_durable_seq(desk_journal_t *j)
{
    /* Acquire pairs with the consumer's release (W) after write/fdatasync. */
    return atomic_load_explicit(&j->durable, memory_order_acquire);
}

/* The last seq handed to write(2): in the page cache.  Any thread. */
static inline uint64_t desk_journal_written_seq(desk_journal_t *j)
{
    return atomic_load_explicit(&j->written, memory_order_acquire); /* pairs with W */
}

/* The last seq made durable by fdatasync(2): on disk.  Any thread. */
static inline uint64_t desk_journal_synced_seq(desk_journal_t *j)
{
    return atomic_load_explicit(&j->synced, memory_order_acquire); /* pairs with W */
}

/* ---- record builders (router thread; pure) ------------------------------ */

/* A CMD record for a venue command of `type` about order `o`. */
static inline void desk_jrec_cmd_fill(desk_jrec_t *r, uint8_t type, const desk_order_t *o,
                                      uint64_t cl_ord_id, uint64_t venue_cl, int64_t qty,
                                      int64_t px)
{
    memset(r, 0, sizeof *r);
    r->cmd.kind = DESK_JREC_CMD;
    r->cmd.type = type;
    r->cmd.side = o->side;
    r->cmd.ord_type = o->ord_type;
    r->cmd.tif = o->tif;
    r->cmd.strategy = (uint8_t)o->strategy;
    r->cmd.instrument = (uint16_t)o->instrument;
    r->cmd.cl_ord_id = cl_ord_id;
    r->cmd.order_id = o->order_id;
    r->cmd.venue_cl = venue_cl;
    r->cmd.qty = qty;
    r->cmd.px = px;
    /* A MARKET order has no stop price: the field carries the price its
     * cash was reserved at (the touch when the guard took it), so replay
     * reserves what the router reserved. */
    r->cmd.stop_px = o->ord_type == DESK_MARKET ? o->reserve_px : o->stop_px;
}

/* A REJECT record for command `c` of strategy `s`. */
static inline void desk_jrec_reject_fill(desk_jrec_t *r, const desk_cmd_t *c, uint32_t s,
                                         unsigned reason, uint64_t order_id)
{
    memset(r, 0, sizeof *r);
    r->reject.kind = DESK_JREC_REJECT;
    r->reject.type = c->type;
    r->reject.side = c->side;
    r->reject.ord_type = c->ord_type;
    r->reject.tif = c->tif;
    r->reject.strategy = (uint8_t)s;
    r->reject.instrument = (uint16_t)c->instrument;
    r->reject.cl_ord_id = c->cl_ord_id;
    r->reject.orig_cl_ord_id = c->orig_cl_ord_id;
    r->reject.order_id = order_id;
    r->reject.qty = c->qty;
    r->reject.px = c->px;
    r->reject.reason = (uint16_t)reason;
}

/* An EVENT record for venue event `v` with the router's `result` (DESK_JEV_*). */
static inline void desk_jrec_event_fill(desk_jrec_t *r, const desk_vevent_t *v, unsigned result)
{
    memset(r, 0, sizeof *r);
    r->event.kind = DESK_JREC_EVENT;
    r->event.type = v->type;
    r->event.reason = v->reason;
    r->event.flags = v->flags;
    r->event.result = (uint8_t)result;
    r->event.instrument = (uint16_t)v->instrument;
    r->event.order_id = v->order_id;
    r->event.exec_id = v->exec_id;
    r->event.last_px = v->last_px;
    r->event.last_qty = v->last_qty;
    r->event.fee = v->fee;
    r->event.cum_qty = v->cum_qty;
}

/* ---- setup, consumer, teardown (cold) ------------------------------------ */

/*
 * Parse an fsync policy: "none", "every" or "interval:MS" (MS in
 * 1..3600000).  Returns 0, or -EINVAL (desk_errmsg() says why).  Any thread.
 */
int desk_journal_policy_parse(const char *s, desk_journal_policy_t *out);

/* UTC date YYYYMMDD of a wall-clock time in ns since the epoch.  Pure. */
uint32_t desk_journal_day(uint64_t wall_ns);

/*
 * Write "<dir>/desk-<desk>-YYYYMMDD.journal" into buf[cap].  Returns its
 * length, or -ENAMETOOLONG if it does not fit.  Any thread.
 */
int desk_journal_path(char *buf, size_t cap, const char *dir, const char *desk, uint32_t day);

/*
 * The latest day before `before` (YYYYMMDD) that has a journal file
 * "<dir>/desk-<desk>-YYYYMMDD.journal".  Returns 1 with *day, 0 if there is
 * none (or no directory), or -errno (desk_errmsg()).  Files renamed aside
 * (anything after ".journal") are not journals.  Cold; any thread.
 */
int desk_journal_prev_day(const char *dir, const char *desk, uint32_t before, uint32_t *day);

/*
 * Open today's file (creating the directory and the file as needed), check
 * it, cut a torn tail off, write the FILE record into a new or empty file,
 * and allocate the ring.  *out receives the handle (owned by the caller:
 * desk_journal_close() it).  `scan` (may be NULL) receives what the check of
 * today's file found, also on -EBADMSG.  Returns 0, or:
 *   -EINVAL   bad options (desk_errmsg() names the field);
 *   -EBADMSG  today's file is corrupt (a bad frame followed by valid ones;
 *             scan->corrupt_off is its offset) or is not a desk journal;
 *   -ENOMEM;  or the -errno of mkdir/open/read/write/ftruncate.
 * Nothing is left allocated or open on failure.  Cold; control thread.
 */
int desk_journal_open(desk_journal_t **out, const desk_journal_opts_t *o, desk_jscan_t *scan);

/*
 * Start the journal thread ("desk-journal"), the consumer from now on.
 * Records pushed before it are kept and written first.  Returns 0, -EINVAL
 * if already started, or -errno from pthread_create.  Cold; control thread.
 */
int desk_journal_start(desk_journal_t *j);

/*
 * One consumer turn: take up to DESK_JOURNAL_BATCH records from the ring,
 * stamp them, roll to a new file when the UTC day changed, write them in one
 * write(2), release them, publish written/durable (and fdatasync per the
 * policy).  With nothing to take, performs a due interval fdatasync.
 * Returns the records written (0: none), or -errno of a failed I/O (the
 * records stay in the ring; also in desk_journal_error()).  Consumer only:
 * the journal thread, or before desk_journal_start() the control thread.
 */
int desk_journal_poll(desk_journal_t *j);

/*
 * Wait (sleeping 50 us at a time) until durable_seq >= seq, driving
 * desk_journal_poll() itself if the thread is not started.  Returns 0,
 * -ETIMEDOUT after timeout_ms, or the journal's error if an fdatasync failed.
 * Cold (deskd uses it at start, tests everywhere); control thread.
 */
int desk_journal_wait(desk_journal_t *j, uint64_t seq, uint32_t timeout_ms);

/*
 * Ask the thread to drain the ring, fdatasync (whatever the policy) and
 * exit, and join it.  The router must have stopped pushing.  Returns 0, or
 * the journal's error (records may then be left unwritten).  Idempotent;
 * without a thread it drains in the calling thread.  Cold; control thread.
 */
int desk_journal_stop(desk_journal_t *j);

/* Stop (if needed), close the file and free everything.  NULL is a no-op.
 * Cold; control thread. */
void desk_journal_close(desk_journal_t *j);

/* 0, or -errno of the last failed write(2)/ftruncate (cleared by the next
 * good write) or of a failed fdatasync (sticky).  Any thread. */
int desk_journal_error(desk_journal_t *j);

/* Copy the counters.  Any thread (each counter is a relaxed snapshot). */
void desk_journal_stats(desk_journal_t *j, desk_journal_stats_t *st);

/* ---- reading (cold; any thread; a file being written may be read) ------- */

/*
 * Called for each valid record in file order with its frame's offset.
 * Return 0 to go on, or a negative value to stop (the scan returns it).
 * `rec` is lent for the call only.
 */
typedef int desk_journal_cb(const desk_jrec_t *rec, uint64_t off, void *ctx);

/*
 * Check the journal open at `fd` from offset 0 and call `cb` (may be NULL)
 * for each valid record.  With `repair`, a torn tail is cut off
 * (ftruncate + fdatasync; fd must be writable).  `info` (may be NULL)
 * receives what was found.  Returns the number of valid records (a torn
 * tail is not an error), or:
 *   -EBADMSG  corruption: a bad frame followed by a valid one; or not a
 *             desk journal of this format: a valid first record that is not
 *             a FILE record of this version, or no valid first record and
 *             more than one frame of nonzero bytes; info->corrupt_off is the
 *             offset of the bad frame (0 for "not a journal").
 *             The records before it were delivered to cb.
 *   cb's negative value, when cb stopped the scan;
 *   -ENOMEM, or -errno of fstat/pread/ftruncate/fdatasync.
 * Any thread.
 */
int desk_journal_scan_fd(int fd, int repair, desk_journal_cb *cb, void *ctx, desk_jscan_t *info);

/* desk_journal_scan_fd() on the file at `path` (opened read-only unless
 * `repair`).  Also -ENOENT, -EACCES, ... from open(2).  Any thread. */
int desk_journal_scan(const char *path, int repair, desk_journal_cb *cb, void *ctx,
                      desk_jscan_t *info);

/*
 * Recovery: call cb for every record of the journal at `path`, read-only,
 * ignoring a torn tail (deskd cut it at desk_journal_open()).  Returns the
 * number of records delivered (the FILE record included), or a negative
 * code as desk_journal_scan_fd().  Any thread.
 */
int desk_journal_replay(const char *path, desk_journal_cb *cb, void *ctx);

/* "file", "session", "name", "cmd", "reject", "event", "balance", "break",
 * "snapshot", "carry"; "?" for an unknown kind.  Never NULL.  Any thread. */
const char *desk_jrec_kind_name(unsigned kind);

/* The kind named `s` (as above), or -EINVAL.  Any thread. */
int desk_jrec_kind_parse(const char *s);

#ifdef __cplusplus
}
#endif

#endif /* DESK_JOURNAL_H */
