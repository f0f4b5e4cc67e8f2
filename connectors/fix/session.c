/*
 * session.c - the FIX 4.4 initiator: the session state machine
 * (desk_fix_session_*) and the "fix" connector that runs it over desk's
 * io_uring connections.  See session.h for the options and README.md for the
 * behaviour in full; the codec (bytes <-> structs) is codec.c.
 *
 * Session state machine (PROTOCOLS.md 3.4-3.6, QuickFIX's acceptance tests):
 *
 *   DISCONNECTED --on_open: Logon(108, 141=Y when resetting)--> LOGON_SENT
 *   LOGON_SENT --Logon--> ACTIVE (UP)          --Logout / timeout--> CLOSING
 *   ACTIVE --our Logout--> LOGOUT_SENT --Logout / 2 s--> CLOSING
 *   any --io.close--> CLOSING --on_close--> DISCONNECTED (DOWN)
 *
 * Inbound sequence numbers (next_in = the number expected):
 *   seq == next_in   handle it, next_in++ (a GapFill sets next_in = NewSeqNo);
 *   seq >  next_in   a gap: ResendRequest(7 = next_in, 16 = 0) once, until
 *                    next_in passes the highest number seen; admin messages
 *                    are acted on at once (the venue gap-fills over them),
 *                    application messages are dropped (they come back with
 *                    43=Y in the resend);
 *   seq <  next_in   43=Y: a duplicate, ignored; otherwise Logout "MsgSeqNum
 *                    too low, expecting X but received Y" and disconnect;
 *   SequenceReset without 123=Y (reset mode): 34 ignored, NewSeqNo must not
 *                    go backwards (else Reject 373=5).
 * Bytes that do not frame (bad BodyLength or CheckSum, garbage) are dropped
 * as QuickFIX does, the health goes DEGRADED ("garbled stream") and the next
 * good message shows the gap; the health is UP again once the gap is filled.
 *
 * Outbound: every message takes next_out; application messages (D, F, G,
 * and the requests H, AN, BB) are also recorded in a preallocated ring
 * indexed by MsgSeqNum (the command, the symbol and the original
 * SendingTime), so a ResendRequest is answered by re-encoding them with
 * 43=Y and 122 = the original time (same 34, same body, TransactTime
 * included).  Admin messages, numbers that fell
 * out of the ring (or were sent before a restart) and NewOrderSingles older
 * than max_resend_age_ms are covered by SequenceReset-GapFill (35=4, 123=Y,
 * 43=Y).  A stale NewOrderSingle the venue never acknowledged is reported
 * REJECTED (DESK_REJ_VENUE) with a log line saying why; one it did
 * acknowledge is just gap-filled.  While a resend is in progress new orders
 * get -EBUSY (the router retries them).
 *
 * After every Logon (once the resend and the recovery requests are out):
 * an OrderStatusRequest (H) per live order, whose answer settles what the
 * connection lost (catch-up fills included), then the account requests
 * (RequestForPositions AN, CollateralInquiry BB), again every
 * reconcile_interval; their answers (AO, AP, BA, BG) make one
 * desk_account_report_t (session.h, README.md).
 *
 * Heartbeats: a Heartbeat after HeartBtInt of outbound silence; after 1.2 x
 * HeartBtInt of inbound silence a TestRequest and DEGRADED ("missed
 * heartbeat"); after 2.4 x the connection is considered lost (QuickFIX uses
 * the same factors) and is closed, which reconnects.
 *
 * Store: <store_dir>/<sender>-<target>.seq holds next_out, next_in and the
 * daily session they belong to, as two 64-byte records written alternately
 * with pwrite (each with a generation and a checksum: a torn write leaves
 * the other record valid).  It is written on every send (before the bytes
 * leave: io_uring submits them at the next loop turn) and after each batch
 * of received messages.  fsync policy: by default the page cache only,
 * which survives a crash or kill of deskd but not of the machine;
 * store_fsync = true adds fdatasync() to every write (durable across power
 * loss, at a few hundred microseconds per message).  A number lost to a
 * machine crash errs on the safe side for outbound (the venue sees a gap and
 * asks for a resend, which is gap-filled), and inbound messages are at worst
 * received again (ExecIDs are deduplicated).
 *
 * Orders: a preallocated table of max_orders entries; each keeps its last
 * four ClOrdID numbers (the order and its cancel/replace requests) in an
 * open-addressing map ClOrdID -> entry.  Finished orders stay until their
 * entry is needed again (oldest finished first), so late answers still map.
 * ExecIDs are remembered in a FIFO-bounded set (4 x max_orders) and a
 * repeated ExecID is never a second event.
 *
 * Memory: everything is allocated in desk_fix_session_create / create();
 * nothing per message.  Threads: see session.h.
 */
#include "connectors/fix/session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/fix/codec.h"
#include "connectors/net/conn.h"
#include "connectors/net/loop.h"
#include "connectors/net/tls.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fixed.h"

#define MS UINT64_C(1000000)
#define SEC UINT64_C(1000000000)
#define DAY_S UINT64_C(86400)
#define FIX_NONE UINT32_MAX
#define FIX_NCL 4                             /* ClOrdIDs remembered per order */
#define FIX_FIELDS 512                        /* field index of one inbound message */
#define FIX_RX_CAP (DESK_FIX_MAX_BODY + 4096) /* receive buffer: one maximal message */
#define FIX_TX_CAP 2048                       /* one outbound message */
#define FIX_STORE_MAGIC UINT32_C(0x53584644)  /* "DFXS" */
#define FIX_STORE_VERSION 1u
#define FIX_PATH_MAX 512

/* ------------------------------------------------------------------------ */
/* Tables: ClOrdID map, ExecID set                                           */
/* ------------------------------------------------------------------------ */

/* Open addressing with linear probing; key 0 marks an empty cell. */
struct fix_map {
    uint64_t *keys; /* [mask + 1] (owned) */
    uint32_t *vals; /* [mask + 1] (owned; NULL for a set) */
    uint32_t mask;  /* cells - 1 (cells a power of two) */
    uint32_t n;     /* keys stored */
};

static inline uint32_t map_home(uint64_t k, uint32_t mask)
{
    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    return (uint32_t)k & mask;
}

static DESK_COLD int map_init(struct fix_map *m, uint32_t cells, int with_vals)
{
    m->keys = calloc(cells, sizeof *m->keys);
    m->vals = with_vals ? calloc(cells, sizeof *m->vals) : NULL;
    m->mask = cells - 1;
    m->n = 0;
    return m->keys == NULL || (with_vals && m->vals == NULL) ? -ENOMEM : 0;
}

static DESK_COLD void map_fini(struct fix_map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* The cell holding key, or the empty cell where it would go. */
static inline uint32_t map_find(const struct fix_map *m, uint64_t key)
{
    uint32_t i = map_home(key, m->mask);

    while (m->keys[i] != 0 && m->keys[i] != key)
        i = (i + 1) & m->mask;
    return i;
}

static inline uint32_t map_get(const struct fix_map *m, uint64_t key)
{
    if (key == 0)
        return FIX_NONE;
    uint32_t i = map_find(m, key);
    return m->keys[i] == key ? (m->vals ? m->vals[i] : 0) : FIX_NONE;
}

/* Insert or overwrite.  Returns 0, or -ENOSPC when only one cell is left
 * (probes must always find an empty cell). */
static int map_put(struct fix_map *m, uint64_t key, uint32_t val)
{
    uint32_t i = map_find(m, key);

    if (m->keys[i] != key) {
        if (m->n + 1 >= m->mask)
            return -ENOSPC;
        m->keys[i] = key;
        m->n++;
    }
    if (m->vals)
        m->vals[i] = val;
    return 0;
}

/* Remove key (backward-shift deletion: no tombstones). */
static void map_del(struct fix_map *m, uint64_t key)
{
    if (key == 0)
        return;
    uint32_t i = map_find(m, key), j = i;

    if (m->keys[i] != key)
        return;
    for (;;) {
        j = (j + 1) & m->mask;
        if (m->keys[j] == 0)
            break;
        uint32_t k = map_home(m->keys[j], m->mask);
        /* The entry at j may stay if its home lies cyclically in (i, j]. */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        m->keys[i] = m->keys[j];
        if (m->vals)
            m->vals[i] = m->vals[j];
        i = j;
    }
    m->keys[i] = 0;
    m->n--;
}

static uint32_t pow2_at_least(uint64_t v)
{
    uint32_t p = 64;

    while (p < v)
        p <<= 1;
    return p;
}

/* ------------------------------------------------------------------------ */
/* The session                                                               */
/* ------------------------------------------------------------------------ */

enum {
    OF_USED = 1,  /* the entry holds an order */
    OF_KNOWN = 2, /* the venue sent an ExecutionReport about it */
    OF_DONE = 4,  /* finished (in the done queue) */
    OF_STALE = 8, /* reported REJECTED as a stale NewOrderSingle */
    /* status requests */
    OF_RECOV = 16, /* recovered (adopted): its recovery status request is not answered yet */
    OF_ASK = 32,   /* live at a Logon: its status request is still to be sent */
};

/* One order as the session knows it. */
struct fix_order {
    uint64_t order_id;    /* deskd's order id */
    uint64_t cl[FIX_NCL]; /* ClOrdID numbers mapped to this entry (ring) */
    uint32_t instrument;  /* instrument id */
    uint8_t flags;        /* OF_* */
    uint8_t ncl;          /* entries of cl in use */
    uint8_t clhead;       /* next cl entry to write */
    uint8_t answered;     /* bit i: the request cl[i] has had its answer */
    uint8_t side;         /* desk_side_t (status requests name it) */
    uint8_t pend_type;    /* 'F' or 'G' while pend_cl is set */
    uint8_t ask_req;      /* ask_cl is the pending request's ClOrdID */
    uint8_t pad_;         /* zero */
    uint64_t live_cl;     /* the order's current ClOrdID (NEW, then each REPLACED) */
    uint64_t pend_cl;     /* cancel/replace request in flight, 0: none */
    uint64_t ask_cl;      /* ClOrdID of the status request in flight, 0: none */
    int64_t cum;          /* highest CumQty the venue reported, 1e-8 */
    int64_t pend_qty;     /* pend_type 'G': the replace's OrderQty, 1e-8 */
    int64_t pend_px;      /* pend_type 'G': the replace's Price, 1e-8 */
};

/* One sent application message, kept for resend. */
struct fix_sent {
    uint64_t seq;              /* its MsgSeqNum; 0: empty */
    uint64_t wall_ns;          /* original SendingTime (and TransactTime) */
    uint64_t mono_ns;          /* when it was sent (staleness) */
    desk_vcmd_t cmd;           /* the command it encodes */
    char sym[DESK_SYMBOL_MAX]; /* the symbol (not NUL terminated when full) */
    uint8_t sym_len;           /* its length */
    char type;                 /* 'D', 'F', 'G', 'H', 'N' (35=AN) or 'B' (35=BB): app_type() */
};

/* On-disk sequence-number record; two of them, written alternately. */
struct fix_store_rec {
    uint32_t magic;       /* FIX_STORE_MAGIC */
    uint32_t version;     /* FIX_STORE_VERSION */
    uint64_t gen;         /* write generation: the larger valid one wins */
    uint64_t next_out;    /* next MsgSeqNum to send */
    uint64_t next_in;     /* next MsgSeqNum expected */
    uint64_t window_ns;   /* start of the daily session these belong to (0: none) */
    uint64_t reserved[2]; /* zero */
    uint64_t check;       /* FNV-1a of the 56 bytes before it */
};
DESK_STATIC_ASSERT(sizeof(struct fix_store_rec) == 64);

/* A recovered order whose fate the venue is asked (OrderStatusRequest). */
struct fix_ask {
    desk_vcmd_t cmd;           /* the RECOVER command (order id, side, instrument) */
    uint64_t cl;               /* the ClOrdID number asked about */
    uint8_t req;               /* 1: cl is a cancel/replace request, 0: the order's NEW */
    uint8_t answered;          /* the venue answered */
    char sym[DESK_SYMBOL_MAX]; /* its symbol */
    uint8_t sym_len;           /* its length */
};

struct desk_fix_session {
    desk_fix_session_cfg_t cfg;           /* settings (strings point below) */
    char sender[DESK_FIX_COMPID_MAX + 1]; /* SenderCompID */
    char target[DESK_FIX_COMPID_MAX + 1]; /* TargetCompID */
    char store_path[FIX_PATH_MAX];        /* the store file, "" for none */
    int store_fd;                         /* its descriptor, -1 for none */
    uint64_t store_gen;                   /* generation of the last record written */
    desk_fix_io_t io;                     /* the outside world (copy) */
    desk_fix_account_fn account_fn;       /* account reports go here (NULL: none asked) */
    desk_fix_tmpl_t tmpl;                 /* 49/56 and the SendingTime cache */

    uint8_t state;          /* desk_fix_state_t */
    uint8_t health;         /* desk_health_t last reported */
    uint8_t sent_reset;     /* our Logon carried 141=Y */
    uint8_t gap;            /* our ResendRequest is outstanding */
    uint8_t garbled;        /* dropped bytes since the stream was last whole */
    uint8_t resending;      /* answering a ResendRequest */
    uint8_t in_dirty;       /* next_in changed since the last store write */
    uint8_t pad_;           /* zero */
    char health_reason[48]; /* reason last reported */
    uint64_t next_out;      /* next MsgSeqNum to send */
    uint64_t next_in;       /* next MsgSeqNum expected */
    uint64_t window_ns;     /* daily session of these numbers (0: none) */
    uint64_t hb_ns;         /* HeartBtInt in ns */
    uint64_t last_out;      /* mono of the last send */
    uint64_t last_in;       /* mono of the last message received */
    uint64_t testreq_at;    /* mono our TestRequest went out, 0: none */
    uint64_t testreq_n;     /* TestRequests sent (their ids) */
    uint64_t deadline;      /* Logon / Logout answer deadline (mono) */
    uint64_t gap_end;       /* highest MsgSeqNum seen beyond a gap */
    uint64_t rs_next;       /* resend: next number to answer */
    uint64_t rs_end;        /* resend: last number to answer */

    char *rx;                 /* receive buffer [FIX_RX_CAP] (owned) */
    size_t rx_len;            /* bytes in it */
    desk_fix_field_t *fields; /* field index [FIX_FIELDS] (owned) */
    desk_fix_msg_t m;         /* the message being handled */
    char tx[FIX_TX_CAP];      /* one outbound message */

    struct fix_order *ord; /* [max_orders] (owned) */
    uint32_t *free_stack;  /* free entries [max_orders] (owned) */
    uint32_t nfree;        /* entries on it */
    uint32_t *done_q;      /* finished entries, oldest first [max_orders] */
    uint32_t done_head;    /* oldest */
    uint32_t done_n;       /* entries */
    struct fix_map clmap;  /* ClOrdID number -> order entry */
    struct fix_map execs;  /* ExecIDs seen (a set) */
    uint64_t *exec_fifo;   /* the same ExecIDs, oldest first (owned) */
    uint32_t exec_cap;     /* its capacity */
    uint32_t exec_head;    /* oldest */
    uint32_t exec_n;       /* entries */
    struct fix_sent *sent; /* resend ring [resend_ring] (owned) */
    uint32_t sent_mask;    /* resend_ring - 1 */
    desk_vevent_t *pq;     /* events desk_host_emit refused (owned) */
    uint32_t pq_cap;       /* capacity */
    uint32_t pq_head;      /* oldest */
    uint32_t pq_n;         /* entries */
    desk_fix_stats_t st;   /* counters */
    struct fix_ask *ask;   /* recovered orders to ask about (35=H); owned */
    uint32_t nask;         /* entries of ask in use */
    uint32_t ask_cap;      /* entries allocated */
    uint32_t ask_sent;     /* 1 once the status requests went out */
    uint32_t ask_next;     /* next ask to send on this connection */

    desk_instrument_t *instr; /* this connector's instruments (owned copy) */
    uint32_t ninstr;          /* entries */
    uint32_t live_scan;       /* live-order status requests: next order entry to look at */
    uint32_t live_left;       /* orders flagged OF_ASK at the last Logon, not yet asked */
    char account[DESK_FIX_ACCOUNT_MAX + 1]; /* Account (1) of the account requests */

    /* Account requests (35=AN / 35=BB) and their answers: one round at a time. */
    uint8_t acct_pos_on;        /* positions asked (until the venue refuses them) */
    uint8_t acct_bal_on;        /* balance asked (likewise) */
    uint8_t acct_round;         /* a round is open (requests sent or to send) */
    uint8_t acct_send_pos;      /* the round's 35=AN is still to be sent */
    uint8_t acct_send_bal;      /* the round's 35=BB is still to be sent */
    uint8_t acct_pos_done;      /* the round's positions are complete */
    uint8_t acct_bal_done;      /* the round's balance is complete */
    uint8_t acct_busy_noted;    /* logged that deskd refused a report with -EBUSY */
    uint8_t acct_late_noted;    /* logged that a round went unanswered */
    uint8_t acct_unknown_noted; /* logged a position in a symbol that is not ours */
    uint8_t acct_retakes;       /* the round was taken again this many times (fills) */
    uint8_t acct_pad_;          /* zero */
    uint64_t acct_next;         /* mono when the next round is due */
    uint64_t acct_n;            /* rounds started: request ids p<n> and c<n> */
    uint64_t acct_pos_seq;      /* MsgSeqNum of the round's 35=AN (0: none) */
    uint64_t acct_bal_seq;      /* MsgSeqNum of the round's 35=BB */
    int32_t acct_pos_total;     /* position reports announced (727), -1: not yet */
    uint32_t acct_pos_got;      /* position reports received */
    uint64_t acct_venue_ns;     /* SendingTime of the last answer of the round */
    int64_t *acct_qty;          /* [ninstr] the round's positions (owned) */
    desk_position_t *acct_out;  /* [ninstr] the report's pos[] (owned) */
    desk_balance_t acct_bal;    /* the round's balance */
    uint64_t acct_logged;       /* hash of the last account logged (0: none) */
    uint64_t acct_fills0;       /* fills_out when the round started */
    uint64_t fills_out;         /* FILL events emitted (queued or handed over) */
};

/* b - a, or 0 when a is later: order ops stamp times with desk_now_ns(),
 * which can be ahead of the `now` deskd passes to the next poll. */
static inline uint64_t since(uint64_t b, uint64_t a)
{
    return b > a ? b - a : 0;
}

/* ---- logging and health (cold) ------------------------------------------- */

static DESK_COLD void slog(desk_fix_session_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static DESK_COLD void slog(desk_fix_session_t *s, const char *fmt, ...)
{
    char line[640];
    va_list ap;

    if (s->io.log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->io.log(line, s->io.ctx);
}

/* Printable copy of a field view for log lines. */
static int svlen(desk_fix_sv_t v)
{
    return (int)(v.len > 120 ? 120 : v.len);
}

/* Recompute the health from the state and report it when it changed. */
static void update_health(desk_fix_session_t *s)
{
    desk_health_t h;
    const char *why;

    switch (s->state) {
    case DESK_FIX_ACTIVE:
        if (s->testreq_at) {
            h = DESK_DEGRADED;
            why = "missed heartbeat: TestRequest sent";
        } else if (s->garbled) {
            h = DESK_DEGRADED;
            why = "garbled stream: waiting for the resend";
        } else {
            h = DESK_UP;
            why = "logged on";
        }
        break;
    case DESK_FIX_LOGON_SENT:
        h = DESK_DOWN;
        why = "logging on";
        break;
    case DESK_FIX_LOGOUT_SENT:
        h = DESK_DEGRADED;
        why = "logging out";
        break;
    default:
        return; /* CLOSING / DISCONNECTED: on_close reports DOWN with its cause */
    }
    if (h != s->health || strcmp(why, s->health_reason) != 0) {
        s->health = (uint8_t)h;
        snprintf(s->health_reason, sizeof s->health_reason, "%s", why);
        if (s->io.health)
            s->io.health(h, why, s->io.ctx);
    }
}

/* ---- the store ----------------------------------------------------------- */

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static int rec_valid(const struct fix_store_rec *r)
{
    return r->magic == FIX_STORE_MAGIC && r->version == FIX_STORE_VERSION &&
           r->check == fnv1a(r, offsetof(struct fix_store_rec, check)) && r->next_out >= 1 &&
           r->next_in >= 1;
}

/*
 * Write the numbers (hot path: one pwrite, plus fdatasync with
 * store_fsync).  A failure is counted and logged once; the session goes on
 * (the venue's resend logic covers a lost number).
 */
static void store_save(desk_fix_session_t *s)
{
    struct fix_store_rec r;

    s->in_dirty = 0;
    if (s->store_fd < 0)
        return;
    memset(&r, 0, sizeof r);
    r.magic = FIX_STORE_MAGIC;
    r.version = FIX_STORE_VERSION;
    r.gen = ++s->store_gen;
    r.next_out = s->next_out;
    r.next_in = s->next_in;
    r.window_ns = s->window_ns;
    r.check = fnv1a(&r, offsetof(struct fix_store_rec, check));
    off_t off = (off_t)((r.gen & 1) * sizeof r);
    if (pwrite(s->store_fd, &r, sizeof r, off) != (ssize_t)sizeof r ||
        (s->cfg.store_fsync && fdatasync(s->store_fd) != 0)) {
        if (s->st.store_errors++ == 0)
            slog(s, "fix: cannot write the sequence store %s: %s", s->store_path, strerror(errno));
    }
}

static DESK_COLD int store_open_dir(desk_fix_session_t *s, const char *dir)
{
    struct fix_store_rec r[2];

    s->store_fd = -1;
    s->next_out = s->next_in = 1;
    if (dir == NULL || dir[0] == '\0')
        return 0;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return DESK_ERR(-errno, "fix: cannot create store_dir %s: %s", dir, strerror(errno));
    int n =
        snprintf(s->store_path, sizeof s->store_path, "%s/%s-%s.seq", dir, s->sender, s->target);
    if (n < 0 || (size_t)n >= sizeof s->store_path)
        return DESK_ERR(-ENAMETOOLONG, "fix: store path too long under %s", dir);
    s->store_fd = open(s->store_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->store_fd < 0)
        return DESK_ERR(-errno, "fix: cannot open %s: %s", s->store_path, strerror(errno));
    memset(r, 0, sizeof r);
    ssize_t got = pread(s->store_fd, r, sizeof r, 0);
    if (got < 0)
        return DESK_ERR(-errno, "fix: cannot read %s: %s", s->store_path, strerror(errno));
    int v0 = got >= (ssize_t)sizeof r[0] && rec_valid(&r[0]);
    int v1 = got >= (ssize_t)sizeof r && rec_valid(&r[1]);
    if (!v0 && !v1) {
        if (got > 0)
            return DESK_ERR(-EBADMSG,
                            "fix: %s holds no valid record (corrupt?): move it away to start "
                            "the session at 1",
                            s->store_path);
        store_save(s); /* a new session: 1 and 1 */
        return 0;
    }
    const struct fix_store_rec *best = v0 && (!v1 || r[0].gen > r[1].gen) ? &r[0] : &r[1];
    s->store_gen = best->gen;
    s->next_out = best->next_out;
    s->next_in = best->next_in;
    s->window_ns = best->window_ns;
    return 0;
}

/* ---- daily session hours ------------------------------------------------- */

int desk_fix_parse_tod(const char *p, int32_t *out)
{
    int v[3] = {0, 0, 0}, n = 0;

    if (p == NULL)
        return -EINVAL;
    for (; n < 3; n++) {
        if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
            return -EINVAL;
        v[n] = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == '\0') {
            n++;
            break;
        }
        if (*p != ':' || n == 2)
            return -EINVAL;
        p++;
    }
    if (n < 2 || v[0] > 23 || v[1] > 59 || v[2] > 59)
        return -EINVAL;
    *out = v[0] * 3600 + v[1] * 60 + v[2];
    return 0;
}

static int have_hours(const desk_fix_session_t *s)
{
    return s->cfg.session_start_s >= 0 && s->cfg.session_end_s >= 0;
}

int desk_fix_session_in_hours(const desk_fix_session_t *s, uint64_t wall)
{
    if (!have_hours(s))
        return 1;
    uint64_t tod = (wall / SEC) % DAY_S;
    uint64_t a = (uint64_t)s->cfg.session_start_s, b = (uint64_t)s->cfg.session_end_s;
    if (a == b)
        return 1; /* a 24-hour session */
    return a < b ? (tod >= a && tod < b) : (tod >= a || tod < b);
}

/* Start (wall ns) of the daily session that `wall` belongs to (or the last
 * one that began before it).  0 without session hours. */
static uint64_t window_start(const desk_fix_session_t *s, uint64_t wall)
{
    if (!have_hours(s))
        return 0;
    uint64_t secs = wall / SEC, day = secs - secs % DAY_S, tod = secs % DAY_S;
    uint64_t a = (uint64_t)s->cfg.session_start_s;
    uint64_t start = tod >= a ? day + a : day - DAY_S + a;
    return start * SEC;
}

/* ---- pending events ------------------------------------------------------ */

static void emit(desk_fix_session_t *s, const desk_vevent_t *ev)
{
    s->fills_out += ev->type == DESK_EV_FILL; /* an account round after it is retaken */
    if (s->pq_n == 0 && s->io.emit(ev, s->io.ctx) == 0)
        return;
    if (s->pq_n == s->pq_cap) {
        /* Cannot happen unless the router stops draining for a long time:
         * the queue holds 4 x max_orders events. */
        if (s->st.emit_overflow++ == 0)
            slog(s, "fix: pending event queue full: events lost (router stalled?)");
        return;
    }
    s->pq[(s->pq_head + s->pq_n) % s->pq_cap] = *ev;
    s->pq_n++;
}

static int pq_drain(desk_fix_session_t *s)
{
    int n = 0;

    while (s->pq_n > 0 && s->io.emit(&s->pq[s->pq_head], s->io.ctx) == 0) {
        s->pq_head = (s->pq_head + 1) % s->pq_cap;
        s->pq_n--;
        n++;
    }
    return n;
}

/* ---- orders -------------------------------------------------------------- */

static uint32_t order_alloc(desk_fix_session_t *s)
{
    uint32_t i;

    if (s->nfree > 0) {
        i = s->free_stack[--s->nfree];
    } else if (s->done_n > 0) {
        /* Reuse the entry of the order that finished longest ago. */
        i = s->done_q[s->done_head];
        s->done_head = (s->done_head + 1) % s->cfg.max_orders;
        s->done_n--;
        struct fix_order *o = &s->ord[i];
        for (uint32_t k = 0; k < o->ncl; k++)
            map_del(&s->clmap, o->cl[k]);
    } else {
        return FIX_NONE;
    }
    memset(&s->ord[i], 0, sizeof s->ord[i]);
    s->ord[i].flags = OF_USED;
    return i;
}

/* Give back an entry whose send failed (with any ClOrdID it got).  The map
 * holds at most 4 keys per entry in 8 cells per entry, so map_put cannot
 * fail after a send; this path is for the send failing. */
static void order_unalloc(desk_fix_session_t *s, uint32_t i)
{
    for (uint32_t k = 0; k < s->ord[i].ncl; k++)
        map_del(&s->clmap, s->ord[i].cl[k]);
    s->ord[i].ncl = 0;
    s->ord[i].flags = 0;
    s->free_stack[s->nfree++] = i;
}

static void order_done(desk_fix_session_t *s, uint32_t i)
{
    struct fix_order *o = &s->ord[i];

    if (o->flags & OF_DONE)
        return;
    o->flags |= OF_DONE;
    s->done_q[(s->done_head + s->done_n) % s->cfg.max_orders] = i;
    s->done_n++;
}

/* Map ClOrdID number `cl` to entry i (the oldest of its FIX_NCL is dropped). */
static int order_add_cl(desk_fix_session_t *s, uint32_t i, uint64_t cl)
{
    struct fix_order *o = &s->ord[i];

    if (o->ncl == FIX_NCL)
        map_del(&s->clmap, o->cl[o->clhead]);
    int rc = map_put(&s->clmap, cl, i);
    if (rc != 0)
        return rc;
    o->cl[o->clhead] = cl;
    o->answered &= (uint8_t) ~(1u << o->clhead);
    o->clhead = (uint8_t)((o->clhead + 1) % FIX_NCL);
    if (o->ncl < FIX_NCL)
        o->ncl++;
    return 0;
}

static int order_cl_index(const struct fix_order *o, uint64_t cl)
{
    for (int k = 0; k < o->ncl; k++)
        if (o->cl[k] == cl)
            return k;
    return -1;
}

/* 1 the first time ExecID key `id` is seen, 0 for a repeat. */
static int exec_first(desk_fix_session_t *s, uint64_t id)
{
    uint64_t key = id ? id : UINT64_C(1) << 63;

    if (map_get(&s->execs, key) != FIX_NONE)
        return 0;
    if (s->exec_n == s->exec_cap) {
        map_del(&s->execs, s->exec_fifo[s->exec_head]);
        s->exec_head = (s->exec_head + 1) % s->exec_cap;
        s->exec_n--;
    }
    (void)map_put(&s->execs, key, 0); /* sized at 2 x exec_cap: never full */
    s->exec_fifo[(s->exec_head + s->exec_n) % s->exec_cap] = key;
    s->exec_n++;
    return 1;
}

/* ---- sending ------------------------------------------------------------- */

static void enc_begin(desk_fix_session_t *s, desk_fix_enc_t *e, const char *type, uint64_t seq,
                      uint64_t wall)
{
    desk_fix_enc_begin(e, &s->tmpl, s->tx, sizeof s->tx, type, seq, wall);
}

/*
 * Finish e and queue it.  `consume`: the message took next_out (advance it
 * and persist; resends do not).  Returns 0, -EBUSY (no room now),
 * -ENOTCONN, or the encoder's -EINVAL/-ENOSPC.
 */
static int enc_send(desk_fix_session_t *s, desk_fix_enc_t *e, uint64_t mono, int consume)
{
    const char *msg;
    int n = desk_fix_enc_finish(e, &msg);

    if (n < 0)
        return n;
    int rc = s->io.send(msg, (size_t)n, s->io.ctx);
    if (rc < 0)
        return rc == -ENOBUFS ? -EBUSY : rc;
    s->st.msgs_out++;
    s->last_out = mono;
    if (consume) {
        s->next_out++;
        store_save(s);
    }
    return 0;
}

static int send_heartbeat(desk_fix_session_t *s, const char *id, size_t n, uint64_t mono,
                          uint64_t wall)
{
    desk_fix_enc_t e;

    enc_begin(s, &e, "0", s->next_out, wall);
    desk_fix_put_heartbeat(&e, id, n);
    int rc = enc_send(s, &e, mono, 1);
    if (rc == 0)
        s->st.heartbeats++;
    return rc;
}

static int send_resend_request(desk_fix_session_t *s, uint64_t begin, uint64_t mono, uint64_t wall)
{
    desk_fix_enc_t e;

    enc_begin(s, &e, "2", s->next_out, wall);
    desk_fix_put_resend_request(&e, begin, 0);
    int rc = enc_send(s, &e, mono, 1);
    if (rc == 0) {
        s->st.resend_requests++;
        slog(s, "fix: gap: expected MsgSeqNum %llu, got %llu: ResendRequest 7=%llu 16=0",
             (unsigned long long)begin, (unsigned long long)s->gap_end, (unsigned long long)begin);
    }
    return rc;
}

static void send_reject(desk_fix_session_t *s, uint64_t ref_seq, uint32_t ref_tag,
                        desk_fix_sv_t ref_type, int reason, const char *text, uint64_t mono,
                        uint64_t wall)
{
    desk_fix_enc_t e;
    char t[4] = {0};

    if (ref_type.len > 0 && ref_type.len < sizeof t)
        memcpy(t, ref_type.p, ref_type.len);
    enc_begin(s, &e, "3", s->next_out, wall);
    desk_fix_put_reject(&e, ref_seq, ref_tag, t, reason, text, strlen(text));
    (void)enc_send(s, &e, mono, 1);
    slog(s, "fix: sent Reject 45=%llu 373=%d: %s", (unsigned long long)ref_seq, reason, text);
}

/* Ask the transport to close; nothing more is read or sent. */
static void do_close(desk_fix_session_t *s)
{
    if (s->state == DESK_FIX_CLOSING || s->state == DESK_FIX_DISCONNECTED)
        return;
    s->state = DESK_FIX_CLOSING;
    if (s->in_dirty)
        store_save(s);
    if (s->io.close)
        s->io.close(s->io.ctx);
}

static int send_logout(desk_fix_session_t *s, const char *text, uint64_t mono, uint64_t wall)
{
    desk_fix_enc_t e;

    enc_begin(s, &e, "5", s->next_out, wall);
    desk_fix_put_logout(&e, text, text ? strlen(text) : 0);
    return enc_send(s, &e, mono, 1);
}

/* ---- application messages out -------------------------------------------- */

/*
 * Application messages kept for resend, by their one-byte kind: 'D', 'F',
 * 'G' (orders), 'H' (OrderStatusRequest), 'N' (RequestForPositions
 * "p<cmd.cl_ord_id>") and 'B' (CollateralInquiry "c<cmd.cl_ord_id>").  The
 * requests are kept too: sent right after a Logon, they would otherwise be
 * gap-filled (lost) when the venue asks for a resend of the numbers around
 * the Logon, which it does whenever the last Logout was not exchanged.
 */
static const char *app_type(char kind)
{
    switch (kind) {
    case 'D':
        return "D";
    case 'F':
        return "F";
    case 'G':
        return "G";
    case 'H':
        return "H";
    case 'N':
        return "AN";
    default:
        return "BB";
    }
}

static void put_app(desk_fix_session_t *s, desk_fix_enc_t *e, char kind, const desk_vcmd_t *cmd,
                    const char *sym, size_t sym_len, uint64_t wall)
{
    char id[24];
    int n;

    switch (kind) {
    case 'D':
        desk_fix_put_new_order(e, cmd, sym, sym_len, wall);
        break;
    case 'F':
        desk_fix_put_cancel(e, cmd, sym, sym_len, wall);
        break;
    case 'G':
        desk_fix_put_replace(e, cmd, sym, sym_len, wall);
        break;
    case 'H':
        desk_fix_put_status(e, cmd, sym, sym_len);
        break;
    case 'N':
        n = snprintf(id, sizeof id, "p%llu", (unsigned long long)cmd->cl_ord_id);
        desk_fix_put_position_request(e, id, (size_t)n, s->account, strlen(s->account), wall);
        break;
    default:
        n = snprintf(id, sizeof id, "c%llu", (unsigned long long)cmd->cl_ord_id);
        desk_fix_put_collateral_inquiry(e, id, (size_t)n, s->account, strlen(s->account));
        break;
    }
}

/* Encode and send one application message with next_out; record it for
 * resend.  Returns 0 or -EBUSY/-ENOTCONN/-EINVAL. */
static int app_send(desk_fix_session_t *s, char type, const desk_vcmd_t *cmd, const char *sym,
                    size_t sym_len, uint64_t mono, uint64_t wall)
{
    desk_fix_enc_t e;
    uint64_t seq = s->next_out;

    if (sym_len > DESK_SYMBOL_MAX || (sym_len == 0 && type != 'N' && type != 'B'))
        return -EINVAL;
    enc_begin(s, &e, app_type(type), seq, wall);
    put_app(s, &e, type, cmd, sym, sym_len, wall);
    int rc = enc_send(s, &e, mono, 1);
    if (rc != 0)
        return rc;
    struct fix_sent *r = &s->sent[seq & s->sent_mask];
    r->seq = seq;
    r->wall_ns = wall;
    r->mono_ns = mono;
    r->cmd = *cmd;
    if (sym_len)
        memcpy(r->sym, sym, sym_len);
    r->sym_len = (uint8_t)sym_len;
    r->type = type;
    return 0;
}

static int can_send_app(const desk_fix_session_t *s)
{
    if (s->state != DESK_FIX_ACTIVE)
        return -ENOTCONN;
    if (s->resending)
        return -EBUSY; /* the resend goes out first, in order */
    return 0;
}

int desk_fix_session_new(desk_fix_session_t *s, const desk_vcmd_t *cmd, const char *sym,
                         size_t sym_len, uint64_t mono, uint64_t wall)
{
    int rc = can_send_app(s);

    if (rc != 0)
        return rc;
    if (cmd->cl_ord_id == 0 || map_get(&s->clmap, cmd->cl_ord_id) != FIX_NONE)
        return -EINVAL; /* never send a ClOrdID twice */
    uint32_t i = order_alloc(s);
    if (i == FIX_NONE)
        return -ENOSPC;
    rc = app_send(s, 'D', cmd, sym, sym_len, mono, wall);
    if (rc == 0)
        rc = order_add_cl(s, i, cmd->cl_ord_id);
    if (rc != 0) {
        order_unalloc(s, i);
        return rc;
    }
    s->ord[i].order_id = cmd->order_id;
    s->ord[i].instrument = cmd->instrument;
    s->ord[i].side = cmd->side;
    s->ord[i].live_cl = cmd->cl_ord_id;
    return 0;
}

/* Cancel and replace: the request's ClOrdID joins its order's entry. */
static int cxl_or_replace(desk_fix_session_t *s, char type, const desk_vcmd_t *cmd, const char *sym,
                          size_t sym_len, uint64_t mono, uint64_t wall)
{
    int rc = can_send_app(s);

    if (rc != 0)
        return rc;
    if (cmd->cl_ord_id == 0 || map_get(&s->clmap, cmd->cl_ord_id) != FIX_NONE)
        return -EINVAL;
    uint32_t i = map_get(&s->clmap, cmd->orig_cl_ord_id), fresh = 0;
    if (i == FIX_NONE) {
        /* An order this session never saw (deskd kept it across a restart
         * of the connector): track it from here. */
        if ((i = order_alloc(s)) == FIX_NONE)
            return -ENOSPC;
        fresh = 1;
    }
    rc = app_send(s, type, cmd, sym, sym_len, mono, wall);
    if (rc == 0 && fresh)
        rc = order_add_cl(s, i, cmd->orig_cl_ord_id);
    if (rc == 0)
        rc = order_add_cl(s, i, cmd->cl_ord_id);
    if (rc != 0) {
        if (fresh)
            order_unalloc(s, i);
        return rc;
    }
    struct fix_order *o = &s->ord[i];
    o->order_id = cmd->order_id;
    o->instrument = cmd->instrument;
    o->side = cmd->side;
    if (fresh)
        o->live_cl = cmd->orig_cl_ord_id;
    o->pend_cl = cmd->cl_ord_id;
    o->pend_type = (uint8_t)type;
    o->pend_qty = cmd->qty; /* a status answer shows whether the replace took */
    o->pend_px = cmd->px;
    return 0;
}

int desk_fix_session_cancel(desk_fix_session_t *s, const desk_vcmd_t *cmd, const char *sym,
                            size_t sym_len, uint64_t mono, uint64_t wall)
{
    return cxl_or_replace(s, 'F', cmd, sym, sym_len, mono, wall);
}

int desk_fix_session_replace(desk_fix_session_t *s, const desk_vcmd_t *cmd, const char *sym,
                             size_t sym_len, uint64_t mono, uint64_t wall)
{
    return cxl_or_replace(s, 'G', cmd, sym, sym_len, mono, wall);
}

int desk_fix_session_adopt(desk_fix_session_t *s, const desk_vcmd_t *cmd, const char *sym,
                           size_t sym_len)
{
    if (cmd->cl_ord_id == 0 || map_get(&s->clmap, cmd->cl_ord_id) != FIX_NONE)
        return -EINVAL;
    uint32_t i = order_alloc(s);
    if (i == FIX_NONE)
        return -ENOSPC;
    int rc = order_add_cl(s, i, cmd->cl_ord_id);
    if (rc == 0 && cmd->orig_cl_ord_id && map_get(&s->clmap, cmd->orig_cl_ord_id) == FIX_NONE)
        rc = order_add_cl(s, i, cmd->orig_cl_ord_id);
    if (rc != 0) {
        order_unalloc(s, i);
        return rc;
    }
    s->ord[i].order_id = cmd->order_id;
    s->ord[i].instrument = cmd->instrument;
    s->ord[i].flags |= OF_KNOWN; /* sent by an earlier run: never reported stale */
    s->ord[i].side = cmd->side;
    s->ord[i].live_cl = cmd->cl_ord_id;
    s->ord[i].pend_cl = cmd->orig_cl_ord_id; /* a request in flight (type not known) */
    /* Ask the venue once logged on (cold path: recovery only). */
    if (sym_len == 0 || sym_len > DESK_SYMBOL_MAX)
        return 0;
    if (s->nask == s->ask_cap) {
        uint32_t cap = s->ask_cap ? s->ask_cap * 2 : 64;
        struct fix_ask *a = realloc(s->ask, cap * sizeof *a);
        if (a == NULL)
            return 0; /* not asked: the resend alone settles it */
        s->ask = a;
        s->ask_cap = cap;
    }
    struct fix_ask *a = &s->ask[s->nask++];
    memset(a, 0, sizeof *a);
    a->cmd = *cmd;
    a->req = cmd->orig_cl_ord_id != 0;
    a->cl = a->req ? cmd->orig_cl_ord_id : cmd->cl_ord_id;
    memcpy(a->sym, sym, sym_len);
    a->sym_len = (uint8_t)sym_len;
    s->ask_sent = 0;
    s->ord[i].flags |= OF_RECOV; /* asked by the recovery request, not the Logon's */
    return 0;
}

/* Send an OrderStatusRequest for every recovered order not answered yet
 * (after each Logon and its resend: a request lost with a dropped connection
 * is asked again).  Kept for resend like the orders (app_send). */
static int send_asks(desk_fix_session_t *s, uint64_t mono, uint64_t wall)
{
    int n = 0;

    for (uint32_t k = s->ask_next; k < s->nask; s->ask_next = ++k) {
        if (s->ask[k].answered)
            continue;
        desk_vcmd_t c = s->ask[k].cmd;
        c.cl_ord_id = s->ask[k].cl;
        int rc = app_send(s, 'H', &c, s->ask[k].sym, s->ask[k].sym_len, mono, wall);
        if (rc == -EBUSY)
            return n;                 /* the rest on a later tick */
        s->ask[k].answered = rc != 0; /* unsendable: left to the resend */
        n++;
    }
    s->ask_sent = 1;
    return n;
}

/* The ExecID of a catch-up FILL, from the order and the venue's CumQty:
 * status answers carry no usable ExecID (17=0 at most venues), and this
 * makes two answers with the same CumQty one fill for the router (which
 * drops a repeated exec_id) and a higher CumQty a new one.  The top bit
 * keeps it apart from numeric ExecIDs (< 10^18). */
static uint64_t catchup_exec_id(uint64_t order_id, int64_t cum_qty)
{
    uint64_t k[3] = {order_id, (uint64_t)cum_qty, UINT64_C(0x63617463682d7570)};

    return fnv1a(k, sizeof k) | UINT64_C(1) << 63;
}

/* The venue's answer (150=I) about recovered order entry i.  Returns 1 and
 * fills ev when it settles the order, else 0.  A catch-up FILL (the venue's
 * CumQty, at its AvgPx) is emitted first when the venue filled anything: the
 * router applies only the part it has not seen. */
static int on_status(desk_fix_session_t *s, uint32_t i, const desk_fix_exec_t *x, uint64_t mono,
                     desk_vevent_t *ev)
{
    struct fix_ask *a = NULL;

    for (uint32_t k = 0; k < s->nask && a == NULL; k++)
        if (s->ask[k].cl == x->cl_ord_id && !s->ask[k].answered)
            a = &s->ask[k];
    if (a == NULL)
        return 0;
    a->answered = 1;
    s->ord[i].flags &= (uint8_t)~OF_RECOV;
    if (x->cum_qty > s->ord[i].cum)
        s->ord[i].cum = x->cum_qty;
    memset(ev, 0, sizeof *ev);
    ev->order_id = s->ord[i].order_id;
    ev->instrument = s->ord[i].instrument;
    ev->exec_id = desk_fix_exec_id(x->exec_id.p, x->exec_id.len);
    ev->cum_qty = x->cum_qty;
    ev->venue_ns = mono;
    ev->reason = DESK_REJ_VENUE;
    int unknown =
        x->ord_status == '8' && x->order_id.len == 4 && memcmp(x->order_id.p, "NONE", 4) == 0;
    if (unknown) {
        /* The venue never received it: the order (or the request) is dead. */
        slog(s, "fix: recovery: venue does not know d%llu: %s", (unsigned long long)a->cl,
             a->req ? "request refused" : "order rejected");
        ev->type = a->req ? DESK_EV_CANCEL_REJECT : DESK_EV_REJECT;
        if (a->req)
            s->ord[i].pend_cl = 0;
        return 1;
    }
    if (x->cum_qty > 0) {
        desk_vevent_t f = *ev;
        f.type = DESK_EV_FILL;
        f.flags = DESK_VEV_CATCHUP;
        f.last_px = x->avg_px;
        f.exec_id = catchup_exec_id(s->ord[i].order_id, x->cum_qty);
        emit(s, &f);
    }
    switch (x->ord_status) {
    case '0':
    case '1':
        if (a->req)
            return 0; /* the request's own answer came (or comes) in the resend */
        ev->type = DESK_EV_ACK;
        ev->flags = DESK_VEV_STATUS; /* deskd may have had it acked already */
        return 1;
    case '4':
        ev->type = DESK_EV_CANCELED;
        return 1;
    case 'C':
        ev->type = DESK_EV_EXPIRED;
        return 1;
    default:
        return 0; /* filled or rejected: the resend carried those reports */
    }
}

/* ---- status requests about live orders after a Logon ---------------------- */

/* The symbol of instrument `id` (not NUL terminated when full), or NULL when
 * it is not one of the session's.  Cold: a linear scan. */
static const char *instr_sym(const desk_fix_session_t *s, uint32_t id, size_t *len)
{
    for (uint32_t k = 0; k < s->ninstr; k++)
        if (s->instr[k].id == id) {
            *len = strnlen(s->instr[k].symbol, DESK_SYMBOL_MAX);
            return s->instr[k].symbol;
        }
    return NULL;
}

/*
 * At every Logon: flag each live order for an OrderStatusRequest.  The
 * resend normally brings what the venue sent while the connection was down,
 * but nothing does when either side reset the sequence numbers, or when the
 * venue gap-fills instead of resending; asking costs one message per live
 * order and settles both.  Recovered orders have their own request (asks).
 * Cold: one pass over the order table per Logon.
 */
static void flag_live(desk_fix_session_t *s)
{
    s->live_scan = 0;
    s->live_left = 0;
    for (uint32_t i = 0; i < s->cfg.max_orders; i++) {
        struct fix_order *o = &s->ord[i];
        o->ask_cl = 0;
        o->flags &= (uint8_t)~OF_ASK;
        if ((o->flags & OF_USED) && !(o->flags & (OF_DONE | OF_STALE | OF_RECOV)) && o->live_cl) {
            o->flags |= OF_ASK;
            s->live_left++;
        }
    }
    if (s->live_left)
        slog(s, "fix: logged on: asking the venue about %u live order(s) (OrderStatusRequest 35=H)",
             s->live_left);
}

/* Send the status requests flagged at the Logon: about the order's pending
 * cancel/replace when there is one (its fate is what is unknown), else about
 * the order.  Kept for resend (app_send).  Returns the messages sent. */
static int send_live_asks(desk_fix_session_t *s, uint64_t mono, uint64_t wall)
{
    int n = 0;

    for (; s->live_left > 0 && s->live_scan < s->cfg.max_orders; s->live_scan++) {
        struct fix_order *o = &s->ord[s->live_scan];
        if (!(o->flags & OF_ASK))
            continue;
        size_t len = 0;
        const char *sym = instr_sym(s, o->instrument, &len);
        desk_vcmd_t c = {0};
        c.side = o->side;
        c.cl_ord_id = o->pend_cl ? o->pend_cl : o->live_cl;
        if (sym != NULL && !(o->flags & OF_DONE)) {
            c.instrument = o->instrument;
            c.order_id = o->order_id;
            int rc = app_send(s, 'H', &c, sym, len, mono, wall);
            if (rc == -EBUSY)
                return n; /* the rest on a later tick */
            if (rc == 0) {
                o->ask_cl = c.cl_ord_id;
                o->ask_req = o->pend_cl != 0;
                s->st.status_asks++;
                n++;
            }
        }
        o->flags &= (uint8_t)~OF_ASK;
        s->live_left--;
    }
    s->live_left = 0;
    return n;
}

/* Ask about order entry i itself on this connection too: its pending
 * request was settled without news of the order (fills lost with a
 * sequence reset would stay missing).  Cold. */
static void reask_live(desk_fix_session_t *s, uint32_t i)
{
    struct fix_order *o = &s->ord[i];

    if ((o->flags & (OF_DONE | OF_ASK)) || o->live_cl == 0)
        return;
    o->flags |= OF_ASK;
    s->live_left++;
    if (s->live_scan > i)
        s->live_scan = i; /* send_live_asks() scans forward */
}

/* 1 when the status answer shows the replace pending on o carried out: it
 * names the replace's ClOrdID (the caller checked) with the OrderQty and
 * Price the replace asked for.  Reads Price (44) from the message. */
static int replace_took(const desk_fix_session_t *s, const struct fix_order *o,
                        const desk_fix_exec_t *x)
{
    int64_t px = 0;
    int have_px = desk_fix_get_fixed(&s->m, DESK_FIX_Price, &px) == 0;

    if (o->pend_type != 'G' || x->order_qty == 0 || x->order_qty != o->pend_qty)
        return 0;
    return have_px ? px == o->pend_px : o->pend_px == 0;
}

/* The venue's answer (150=I) about live order entry i.  `was_known`: the
 * venue had answered the order before this report.  Emits what the desk has
 * not been told (the rules are in session.h, after desk_fix_session_adopt).
 * Not de-duplicated by ExecID: venues send ExecID 0 on every status answer;
 * clearing ask_cl makes a repeat of the answer informational. */
static void on_live_status(desk_fix_session_t *s, uint32_t i, const desk_fix_exec_t *x,
                           int was_known, uint64_t mono)
{
    struct fix_order *o = &s->ord[i];
    uint64_t asked = o->ask_cl;
    int req = o->ask_req && o->pend_cl == asked; /* about a request still pending */
    desk_vevent_t ev = {0};

    o->ask_cl = 0;
    ev.order_id = o->order_id;
    ev.instrument = o->instrument;
    ev.exec_id = desk_fix_exec_id(x->exec_id.p, x->exec_id.len);
    ev.cum_qty = x->cum_qty;
    ev.venue_ns = mono;
    ev.reason = DESK_REJ_VENUE;
    int unknown =
        x->ord_status == '8' && x->order_id.len == 4 && memcmp(x->order_id.p, "NONE", 4) == 0;
    int k = order_cl_index(o, asked);
    if (unknown) {
        if (o->flags & OF_DONE)
            return;
        if (req) {
            slog(s,
                 "fix: after the reconnect the venue does not know request d%llu: CANCEL_REJECT; "
                 "asking about order d%llu",
                 (unsigned long long)asked, (unsigned long long)o->live_cl);
            if (k >= 0)
                o->answered |= (uint8_t)(1u << k);
            o->pend_cl = 0;
            ev.type = DESK_EV_CANCEL_REJECT;
            emit(s, &ev);
            reask_live(s, i);
        } else if (!o->ask_req && !was_known) {
            slog(s, "fix: after the reconnect the venue does not know order d%llu: REJECTED",
                 (unsigned long long)asked);
            ev.type = DESK_EV_REJECT;
            order_done(s, i);
            emit(s, &ev);
        } else {
            slog(s,
                 "fix: the venue no longer knows d%llu, which it acknowledged before the "
                 "reconnect: left open (check the order at the venue)",
                 (unsigned long long)asked);
        }
        return;
    }
    if (req && !(o->flags & OF_DONE) && (x->ord_status == '0' || x->ord_status == '1' ||
                                         x->ord_status == '2')) {
        if (replace_took(s, o, x)) {
            /* Live (or filled) under the replace's ClOrdID at its quantity
             * and price: the venue carried the replace out.  Before any
             * catch-up fill, which may go past the old quantity. */
            slog(s, "fix: after the reconnect the venue shows replace d%llu carried out: REPLACED",
                 (unsigned long long)asked);
            if (k >= 0)
                o->answered |= (uint8_t)(1u << k);
            o->live_cl = asked;
            o->pend_cl = 0;
            req = 0;
            ev.type = DESK_EV_REPLACED;
            emit(s, &ev);
        } else if (o->pend_type != 'F' && x->ord_status != '2') {
            slog(s,
                 "fix: after the reconnect the outcome of replace d%llu is not known (the "
                 "venue's OrderQty/Price are not the requested ones): left pending (check the "
                 "order at the venue)",
                 (unsigned long long)asked);
            req = 0;
        }
    }
    if (x->cum_qty > o->cum) {
        /* Fills the session never saw (lost with a sequence reset, or
         * gap-filled by the venue): the router applies the difference. */
        char a[24], b[24];
        desk_fixed_format(x->cum_qty, 0, a, sizeof a);
        desk_fixed_format(o->cum, 0, b, sizeof b);
        slog(s, "fix: d%llu: the venue's CumQty %s is above the %s reported: catch-up FILL",
             (unsigned long long)asked, a, b);
        desk_vevent_t f = ev;
        f.type = DESK_EV_FILL;
        f.flags = DESK_VEV_CATCHUP;
        f.last_px = x->avg_px;
        f.exec_id = catchup_exec_id(o->order_id, x->cum_qty);
        o->cum = x->cum_qty;
        emit(s, &f);
    }
    if (o->flags & OF_DONE)
        return; /* its own final report came (resend) */
    switch (x->ord_status) {
    case '0':
    case '1':
        if (!o->ask_req && !was_known) {
            ev.type = DESK_EV_ACK; /* the ack itself was lost */
            emit(s, &ev);
        } else if (req) {
            /* Still live after the cancel: refused (the OrderCancelReject
             * was lost).  Replaces were settled or logged above. */
            if (k >= 0)
                o->answered |= (uint8_t)(1u << k);
            o->pend_cl = 0;
            ev.type = DESK_EV_CANCEL_REJECT;
            emit(s, &ev);
        }
        return;
    case '2':
        /* Filled (the fills or the catch-up said so): a request still
         * pending came too late. */
        if (req) {
            slog(s, "fix: d%llu: the order is filled: request too late, CANCEL_REJECT",
                 (unsigned long long)asked);
            if (k >= 0)
                o->answered |= (uint8_t)(1u << k);
            o->pend_cl = 0;
            ev.type = DESK_EV_CANCEL_REJECT;
            emit(s, &ev);
        }
        order_done(s, i);
        return;
    case '4':
    case 'C':
        ev.type = x->ord_status == '4' ? DESK_EV_CANCELED : DESK_EV_EXPIRED;
        if (k >= 0 && o->pend_cl == asked)
            o->answered |= (uint8_t)(1u << k);
        o->pend_cl = 0;
        order_done(s, i);
        emit(s, &ev);
        return;
    case '8':
        if (!o->ask_req && !was_known) {
            ev.type = DESK_EV_REJECT;
            order_done(s, i);
            emit(s, &ev);
        }
        return;
    default:
        return; /* pending states: their reports follow */
    }
}

/* ---- account requests (35=AN, 35=BB) and reports -------------------------- */

/*
 * One round: RequestForPositions "p<n>" and CollateralInquiry "c<n>" go out
 * together after each Logon (once the resend and the status requests are
 * out, so the venue answers those first) and every reconcile_interval_ns;
 * the answers are matched by PosReqID / CollInquiryID, and the report goes
 * to deskd when every part asked for is complete.  A round still open when
 * the next is due is dropped (logged once).  Cold: a few messages a period.
 */

static int sv_is2(desk_fix_sv_t v, const char *t)
{
    return v.len == 2 && memcmp(v.p, t, 2) == 0;
}

static int acct_wanted(const desk_fix_session_t *s)
{
    return s->account_fn != NULL && (s->acct_pos_on || s->acct_bal_on);
}

/* 1 when v is the id of the current round ("p<n>" or "c<n>"). */
static int acct_id_is(const desk_fix_session_t *s, char kind, desk_fix_sv_t v)
{
    char id[24];
    int n = snprintf(id, sizeof id, "%c%llu", kind, (unsigned long long)s->acct_n);

    return s->acct_round && v.len == (uint32_t)n && memcmp(v.p, id, (size_t)n) == 0;
}

static void acct_start(desk_fix_session_t *s, uint64_t mono)
{
    if (s->acct_round && !s->acct_late_noted) {
        s->acct_late_noted = 1;
        slog(s,
             "fix: the venue has not answered account request round %llu in full (%s%s%s): "
             "starting the next",
             (unsigned long long)s->acct_n, s->acct_pos_done ? "" : "positions ",
             s->acct_bal_done ? "" : "balance",
             s->acct_pos_done && s->acct_bal_done ? "answered; held for events deskd has not "
                                                    "taken"
                                                  : "");
    }
    s->acct_n++;
    s->acct_round = 1;
    s->acct_retakes = 0;
    s->acct_fills0 = s->fills_out; /* a fill from here on may be in one part only */
    s->acct_send_pos = s->acct_pos_on;
    s->acct_send_bal = s->acct_bal_on;
    s->acct_pos_done = !s->acct_pos_on;
    s->acct_bal_done = !s->acct_bal_on;
    s->acct_pos_seq = s->acct_bal_seq = 0;
    s->acct_pos_total = -1;
    s->acct_pos_got = 0;
    s->acct_venue_ns = 0;
    memset(s->acct_qty, 0, (size_t)s->ninstr * sizeof *s->acct_qty);
    memset(&s->acct_bal, 0, sizeof s->acct_bal);
    s->st.account_rounds++;
    s->acct_next = s->cfg.reconcile_interval_ns ? mono + s->cfg.reconcile_interval_ns : UINT64_MAX;
}

/* Send what the round still has to send.  Returns the messages sent. */
static int acct_send(desk_fix_session_t *s, uint64_t mono, uint64_t wall)
{
    desk_vcmd_t c = {0};
    int n = 0;

    c.cl_ord_id = s->acct_n; /* the round's number: ids p<n> and c<n> */
    if (s->acct_send_pos) {
        uint64_t seq = s->next_out;
        int rc = app_send(s, 'N', &c, "", 0, mono, wall);
        if (rc == -EBUSY)
            return n;
        s->acct_send_pos = 0;
        if (rc == 0) {
            s->acct_pos_seq = seq;
            n++;
        }
    }
    if (s->acct_send_bal) {
        uint64_t seq = s->next_out;
        int rc = app_send(s, 'B', &c, "", 0, mono, wall);
        if (rc == -EBUSY)
            return n;
        s->acct_send_bal = 0;
        if (rc == 0) {
            s->acct_bal_seq = seq;
            n++;
        }
    }
    return n;
}

/* A part of the account the venue does not support: off for good, one line. */
static void acct_refused(desk_fix_session_t *s, int positions, const char *why)
{
    if (positions ? !s->acct_pos_on : !s->acct_bal_on)
        return;
    if (positions) {
        s->acct_pos_on = 0;
        s->acct_pos_done = 1;
        s->acct_send_pos = 0;
    } else {
        s->acct_bal_on = 0;
        s->acct_bal_done = 1;
        s->acct_send_bal = 0;
    }
    slog(s, "fix: the venue does not support %s (%s): %s reports off for this session",
         positions ? "RequestForPositions (35=AN)" : "CollateralInquiry (35=BB)", why,
         positions ? "position" : "balance");
}

/* Hash of what the log line shows, so an unchanged account is not logged again. */
static uint64_t acct_hash(const desk_account_report_t *r)
{
    uint64_t h = fnv1a(&r->flags, sizeof r->flags) ^ fnv1a(&r->balance, sizeof r->balance);

    return (h ^ fnv1a(r->pos, (size_t)r->npos * sizeof *r->pos)) | 1;
}

/* Log the venue's account when it differs from the last one logged. */
static DESK_COLD void acct_log(desk_fix_session_t *s, const desk_account_report_t *r)
{
    char line[512], a[24], b[24];
    int n = 0;
    uint64_t h = acct_hash(r);

    if (h == s->acct_logged)
        return;
    s->acct_logged = h;
    if (r->flags & DESK_REPORT_BALANCE) {
        desk_fixed_format(r->balance.cash, 0, a, sizeof a);
        desk_fixed_format(r->balance.buying_power, 0, b, sizeof b);
        n += snprintf(line + n, sizeof line - (size_t)n, " cash %s, buying power %s;", a, b);
    }
    if (r->flags & DESK_REPORT_POSITIONS) {
        n += snprintf(line + n, sizeof line - (size_t)n, " positions:%s", r->npos ? "" : " none");
        for (uint32_t k = 0; k < r->npos && n < (int)sizeof line - 64; k++) {
            size_t len = 0;
            const char *sym = instr_sym(s, r->pos[k].instrument, &len);
            desk_fixed_format(r->pos[k].qty, 0, a, sizeof a);
            n += snprintf(line + n, sizeof line - (size_t)n, "%s %.*s %s", k ? "," : "", (int)len,
                          sym ? sym : "?", a);
        }
    }
    slog(s, "fix: venue account:%s", line);
}

/* Every part asked for is in: hand the report to deskd. */
static void acct_finish(desk_fix_session_t *s, uint64_t mono)
{
    desk_account_report_t r = {0};

    if (!s->acct_round || !s->acct_pos_done || !s->acct_bal_done || s->acct_send_pos ||
        s->acct_send_bal)
        return;
    if (s->pq_n > 0)
        return; /* events before the report reach deskd first: tick() finishes it */
    if (s->fills_out != s->acct_fills0 && s->acct_retakes < 2 && acct_wanted(s)) {
        /* A fill came after the requests went out: the positions and the
         * balance may be from either side of it.  Take the round again
         * (as the Alpaca connector does); after two retakes the report goes
         * as it is (deskd reports a break only when two reports agree). */
        uint8_t n = (uint8_t)(s->acct_retakes + 1);
        uint64_t next = s->acct_next;
        s->acct_round = 0;
        acct_start(s, mono);
        s->acct_retakes = n;
        s->acct_next = next; /* the period is unchanged */
        return;
    }
    s->acct_round = 0;
    s->acct_late_noted = 0;
    if (!acct_wanted(s))
        return; /* the venue refused both parts */
    if (s->acct_pos_on) {
        r.flags |= DESK_REPORT_POSITIONS;
        for (uint32_t k = 0; k < s->ninstr; k++)
            if (s->acct_qty[k] != 0) {
                desk_position_t *p = &s->acct_out[r.npos++];
                memset(p, 0, sizeof *p);
                p->instrument = s->instr[k].id;
                p->qty = s->acct_qty[k];
                p->avg_px = 0; /* FIX 4.4 PositionReport has no entry price */
            }
        r.pos = s->acct_out;
    }
    if (s->acct_bal_on) {
        r.flags |= DESK_REPORT_BALANCE;
        r.balance = s->acct_bal;
    }
    r.venue_ts_ns = s->acct_venue_ns;
    acct_log(s, &r);
    int rc = s->account_fn(&r, s->io.ctx);
    if (rc == 0) {
        s->st.account_reports++;
        if (s->acct_busy_noted)
            slog(s, "fix: deskd takes account reports again");
        s->acct_busy_noted = 0;
    } else if (rc == -EBUSY) {
        /* deskd has not compared the previous report yet: this one is
         * dropped and the next round tries again (after each Logon only:
         * in a second). */
        s->st.account_busy++;
        if (s->cfg.reconcile_interval_ns == 0)
            s->acct_next = mono + SEC;
        if (!s->acct_busy_noted)
            slog(s, "fix: deskd has not taken the previous account report (EBUSY): trying again "
                    "next round");
        s->acct_busy_noted = 1;
    } else {
        slog(s, "fix: deskd refused the account report: %s", strerror(-rc));
    }
}

/* The local index of the instrument with this symbol, or -1. */
static int instr_by_sym(const desk_fix_session_t *s, desk_fix_sv_t sym)
{
    for (uint32_t k = 0; k < s->ninstr; k++) {
        size_t n = strnlen(s->instr[k].symbol, DESK_SYMBOL_MAX);
        if (n == sym.len && memcmp(s->instr[k].symbol, sym.p, n) == 0)
            return (int)k;
    }
    return -1;
}

/* 1 when PosReqResult / PosReqStatus say the venue will not answer. */
static int pos_refused(int32_t result, int32_t status)
{
    return status == 2 || result == 1 || result == 3 || result == 4 || result == 99;
}

static void acct_positions_complete(desk_fix_session_t *s)
{
    if (s->acct_pos_total >= 0 && s->acct_pos_got >= (uint32_t)s->acct_pos_total)
        s->acct_pos_done = 1;
}

/* RequestForPositionsAck (AO), PositionReport (AP), CollateralInquiryAck
 * (BG), CollateralReport (BA): the answers of a round. */
static void on_account_msg(desk_fix_session_t *s, const desk_fix_hdr_t *h, uint64_t mono)
{
    char t0 = h->msg_type.p[0], t1 = h->msg_type.p[1];
    char why[64];
    int rc;

    if (t0 == 'A' && t1 == 'O') {
        desk_fix_posack_t x;
        if ((rc = desk_fix_posack_decode(&s->m, &x)) != 0 || !acct_id_is(s, 'p', x.pos_req_id))
            goto ignored;
        if (pos_refused(x.result, x.status)) {
            snprintf(why, sizeof why, "RequestForPositionsAck 728=%d 729=%d", x.result, x.status);
            acct_refused(s, 1, why);
        } else if (x.result == 2) {
            s->acct_pos_total = 0; /* no positions */
        } else if (x.total >= 0) {
            s->acct_pos_total = x.total;
        }
        acct_positions_complete(s);
    } else if (t0 == 'A' && t1 == 'P') {
        desk_fix_posrpt_t x;
        if ((rc = desk_fix_posrpt_decode(&s->m, &x)) != 0 || !acct_id_is(s, 'p', x.pos_req_id) ||
            x.unsolicited)
            goto ignored;
        if (x.result == 2) {
            s->acct_pos_total = 0;
        } else if (pos_refused(x.result, 0)) {
            snprintf(why, sizeof why, "PositionReport 728=%d", x.result);
            acct_refused(s, 1, why);
        } else {
            int k = instr_by_sym(s, x.symbol);
            if (k >= 0) {
                if (desk_fixed_add(s->acct_qty[k], x.qty, &s->acct_qty[k]) != 0)
                    s->acct_qty[k] = x.qty;
            } else if (!s->acct_unknown_noted) {
                s->acct_unknown_noted = 1;
                slog(s,
                     "fix: PositionReport for '%.*s', not an instrument of this connector: "
                     "ignored",
                     svlen(x.symbol), x.symbol.p);
            }
            s->acct_pos_got++;
            if (x.total >= 0)
                s->acct_pos_total = x.total;
        }
        acct_positions_complete(s);
    } else if (t0 == 'B' && t1 == 'G') {
        desk_fix_collack_t x;
        if ((rc = desk_fix_collack_decode(&s->m, &x)) != 0 || !acct_id_is(s, 'c', x.inquiry_id))
            goto ignored;
        if (x.status == 4) {
            snprintf(why, sizeof why, "CollateralInquiryAck 945=4 946=%d", x.result);
            acct_refused(s, 0, why);
        }
    } else if (t0 == 'B' && t1 == 'A') {
        desk_fix_collrpt_t x;
        if ((rc = desk_fix_collrpt_decode(&s->m, &x)) != 0 || !acct_id_is(s, 'c', x.inquiry_id))
            goto ignored;
        if (!x.have_cash) {
            acct_refused(s, 0, "CollateralReport without CashOutstanding 901");
        } else if (!s->acct_bal_done) {
            /* One report: a venue with several (currencies) sends its
             * account currency first. */
            s->acct_bal.cash = x.cash;
            s->acct_bal.buying_power = x.have_excess ? x.margin_excess : x.cash;
            s->acct_bal_done = 1;
        }
    } else {
        slog(s, "fix: unsupported MsgType 35=%.*s: ignored", svlen(h->msg_type), h->msg_type.p);
        return;
    }
    s->acct_venue_ns = h->sending_ns;
    acct_finish(s, mono);
    return;
ignored:
    if (rc != 0)
        slog(s, "fix: unreadable 35=%.*s (%s): ignored", svlen(h->msg_type), h->msg_type.p,
             strerror(-rc));
    /* else: an answer to an earlier round (or unsolicited): not this round's */
}

/* A Reject or BusinessMessageReject naming one of our account requests
 * (by RefMsgType, or RefSeqNum when 372 is absent).  Returns 1 if it did. */
static int acct_reject(desk_fix_session_t *s, char type, int64_t ref, desk_fix_sv_t rtype,
                       int64_t reason, uint64_t mono)
{
    int pos =
        sv_is2(rtype, "AN") || (rtype.len == 0 && ref > 0 && (uint64_t)ref == s->acct_pos_seq);
    int bal =
        sv_is2(rtype, "BB") || (rtype.len == 0 && ref > 0 && (uint64_t)ref == s->acct_bal_seq);
    char why[64];

    if (!pos && !bal)
        return 0;
    snprintf(why, sizeof why, "%s %s=%lld", type == '3' ? "Reject" : "BusinessMessageReject",
             type == '3' ? "373" : "380", (long long)reason);
    acct_refused(s, pos, why);
    acct_finish(s, mono);
    return 1;
}

/* ---- answering a ResendRequest ------------------------------------------- */

static int sent_stale(const desk_fix_session_t *s, const struct fix_sent *r, uint64_t mono)
{
    return r->type == 'D' &&
           (s->cfg.max_resend_age_ns == 0 || since(mono, r->mono_ns) > s->cfg.max_resend_age_ns);
}

/* 1 if MsgSeqNum q is an application message we can resend now. */
static int resendable(const desk_fix_session_t *s, uint64_t q, uint64_t mono)
{
    const struct fix_sent *r = &s->sent[q & s->sent_mask];

    return r->seq == q && !sent_stale(s, r, mono);
}

/* A NewOrderSingle was gap-filled instead of resent because it is stale. */
static void stale_order(desk_fix_session_t *s, const struct fix_sent *r, uint64_t mono)
{
    uint32_t i = map_get(&s->clmap, r->cmd.cl_ord_id);
    unsigned long long age = (unsigned long long)(since(mono, r->mono_ns) / MS);

    if (i == FIX_NONE)
        return;
    struct fix_order *o = &s->ord[i];
    if (o->flags & (OF_KNOWN | OF_DONE)) {
        slog(s,
             "fix: NewOrderSingle d%llu (MsgSeqNum %llu) is %llu ms old: gap-filled, not "
             "resent (the venue already answered it)",
             (unsigned long long)r->cmd.cl_ord_id, (unsigned long long)r->seq, age);
        return;
    }
    desk_vevent_t ev = {0};
    ev.type = DESK_EV_REJECT;
    ev.reason = DESK_REJ_VENUE;
    ev.instrument = o->instrument;
    ev.order_id = o->order_id;
    ev.venue_ns = mono;
    o->flags |= OF_STALE;
    order_done(s, i);
    s->st.stale_rejects++;
    slog(s,
         "fix: NewOrderSingle d%llu (MsgSeqNum %llu, order %llu) is %llu ms old, above "
         "max_resend_age_ms %llu: gap-filled instead of resent; the order is REJECTED as stale "
         "(the venue asked for it again, so it never had it)",
         (unsigned long long)r->cmd.cl_ord_id, (unsigned long long)r->seq,
         (unsigned long long)o->order_id, age, (unsigned long long)(s->cfg.max_resend_age_ns / MS));
    emit(s, &ev);
}

/* Send what can be sent of the resend in progress.  Returns messages sent. */
static int resend_pump(desk_fix_session_t *s, uint64_t mono, uint64_t wall)
{
    int n = 0;

    while (s->resending && s->rs_next <= s->rs_end) {
        uint64_t q = s->rs_next;
        desk_fix_enc_t e;
        if (resendable(s, q, mono)) {
            const struct fix_sent *r = &s->sent[q & s->sent_mask];
            enc_begin(s, &e, app_type(r->type), q, wall);
            desk_fix_enc_possdup(&e, r->wall_ns);
            put_app(s, &e, r->type, &r->cmd, r->sym, r->sym_len, r->wall_ns);
            if (enc_send(s, &e, mono, 0) != 0)
                return n; /* no room: the rest goes from tick() */
            s->st.resent++;
            s->rs_next = q + 1;
        } else {
            /* A run of numbers we will not resend: one gap fill over it. */
            uint64_t k = q + 1;
            while (k <= s->rs_end && !resendable(s, k, mono))
                k++;
            enc_begin(s, &e, "4", q, wall);
            desk_fix_enc_possdup(&e, wall);
            desk_fix_put_seq_reset(&e, 1, k);
            if (enc_send(s, &e, mono, 0) != 0)
                return n;
            s->st.gap_fills++;
            for (uint64_t x = q; x < k; x++) {
                const struct fix_sent *r = &s->sent[x & s->sent_mask];
                if (r->seq == x && r->type == 'D')
                    stale_order(s, r, mono);
            }
            s->rs_next = k;
        }
        n++;
    }
    if (s->rs_next > s->rs_end) {
        s->resending = 0;
        update_health(s);
    }
    return n;
}

/* ---- inbound ------------------------------------------------------------- */

static int sv_is(desk_fix_sv_t v, const char *s)
{
    size_t n = strlen(s);
    return v.len == n && memcmp(v.p, s, n) == 0;
}

static int is_terminal(char ord_status)
{
    return ord_status == '2' || ord_status == '4' || ord_status == '8' || ord_status == 'C' ||
           ord_status == '3';
}

/* Look an inbound message's order up by 11, then 41. */
static uint32_t find_order(const desk_fix_session_t *s, uint64_t cl, uint64_t orig)
{
    uint32_t i = map_get(&s->clmap, cl);

    return i != FIX_NONE ? i : map_get(&s->clmap, orig);
}

static void on_exec(desk_fix_session_t *s, uint64_t mono)
{
    desk_fix_exec_t x;
    desk_vevent_t ev;
    int rc = desk_fix_exec_decode(&s->m, &x);

    if (rc != 0) {
        slog(s, "fix: unreadable ExecutionReport (%s): %.*s", strerror(-rc),
             (int)(s->m.len > 300 ? 300 : s->m.len), s->m.buf);
        return;
    }
    uint32_t i = find_order(s, x.cl_ord_id, x.orig_cl_ord_id);
    if (i == FIX_NONE) {
        s->st.unknown_orders++;
        slog(s, "fix: ExecutionReport 150=%c for unknown ClOrdID '%.*s' (37=%.*s): ignored",
             x.exec_type, svlen(x.cl_ord_id_s), x.cl_ord_id_s.p, svlen(x.order_id), x.order_id.p);
        return;
    }
    struct fix_order *o = &s->ord[i];
    if (o->flags & OF_STALE) {
        slog(s,
             "fix: ExecutionReport 150=%c for d%llu, already reported REJECTED as stale: "
             "ignored (check the order at the venue)",
             x.exec_type, (unsigned long long)x.cl_ord_id);
        return;
    }
    int was_known = (o->flags & OF_KNOWN) != 0;
    o->flags |= OF_KNOWN;
    rc = desk_fix_exec_to_vevent(&x, o->order_id, o->instrument, mono, &ev);
    if (rc < 0) {
        slog(s, "fix: ExecutionReport with unknown ExecType 150=%c: ignored", x.exec_type);
        return;
    }
    if (rc == 0 && x.exec_type == 'I' && s->nask && on_status(s, i, &x, mono, &ev)) {
        /* Not de-duplicated by ExecID (17=0 on status answers): on_status
         * takes one answer per request. */
        if (is_terminal(x.ord_status))
            order_done(s, i);
        emit(s, &ev);
        return;
    }
    if (rc == 0 && x.exec_type == 'I' && o->ask_cl != 0 && o->ask_cl == x.cl_ord_id) {
        on_live_status(s, i, &x, was_known, mono);
        return;
    }
    if (rc == 0)
        return; /* informational (pending states, restated, ...) */
    if (!exec_first(s, ev.exec_id)) {
        s->st.dup_execs++;
        return; /* a PossDup resend (or a venue repeat) of an ExecID already seen */
    }
    if (x.cum_qty > o->cum)
        o->cum = x.cum_qty;
    if (ev.type == DESK_EV_CANCELED || ev.type == DESK_EV_REPLACED) {
        int k = order_cl_index(o, x.cl_ord_id);
        if (k >= 0)
            o->answered |= (uint8_t)(1u << k);
        if (ev.type == DESK_EV_REPLACED)
            o->live_cl = x.cl_ord_id;
        if (ev.type == DESK_EV_REPLACED || x.cl_ord_id == o->pend_cl)
            o->pend_cl = 0;
    }
    if (is_terminal(x.ord_status))
        order_done(s, i);
    emit(s, &ev);
}

static void on_cxlrej(desk_fix_session_t *s, uint64_t mono)
{
    desk_fix_cxlrej_t x;
    desk_vevent_t ev;
    int rc = desk_fix_cxlrej_decode(&s->m, &x);

    if (rc != 0) {
        slog(s, "fix: unreadable OrderCancelReject (%s)", strerror(-rc));
        return;
    }
    uint32_t i = find_order(s, x.cl_ord_id, x.orig_cl_ord_id);
    if (i == FIX_NONE) {
        s->st.unknown_orders++;
        slog(s, "fix: OrderCancelReject for unknown ClOrdID '%.*s': ignored", svlen(x.cl_ord_id_s),
             x.cl_ord_id_s.p);
        return;
    }
    struct fix_order *o = &s->ord[i];
    int k = order_cl_index(o, x.cl_ord_id);
    if (k >= 0 && (o->answered & (1u << k))) {
        /* The request was answered already: this is the venue refusing our
         * PossDup resend of it (102=6), or a repeat.  Not a second answer. */
        slog(s, "fix: OrderCancelReject for d%llu (102=%d), already answered: ignored",
             (unsigned long long)x.cl_ord_id, x.cxl_rej_reason);
        return;
    }
    if (k >= 0)
        o->answered |= (uint8_t)(1u << k);
    if (x.cl_ord_id == o->pend_cl)
        o->pend_cl = 0;
    desk_fix_cxlrej_to_vevent(&x, o->order_id, o->instrument, mono, &ev);
    emit(s, &ev);
}

/* A session Reject or BusinessMessageReject of one of our messages. */
static void on_reject(desk_fix_session_t *s, char type, uint64_t mono)
{
    int64_t ref = 0, reason = -1;
    desk_fix_sv_t text = {NULL, 0}, rtype = {NULL, 0};

    (void)desk_fix_get_int(&s->m, DESK_FIX_RefSeqNum, &ref);
    (void)desk_fix_get_int(
        &s->m, type == '3' ? DESK_FIX_SessionRejectReason : DESK_FIX_BusinessRejectReason, &reason);
    (void)desk_fix_get_str(&s->m, DESK_FIX_Text, &text);
    (void)desk_fix_get_str(&s->m, DESK_FIX_RefMsgType, &rtype);
    s->st.session_rejects++;
    if (acct_reject(s, type, ref, rtype, reason, mono))
        return; /* the venue does not support an account request: logged once */
    slog(s, "fix: venue sent %s 45=%lld 372=%.*s %s=%lld: %.*s",
         type == '3' ? "Reject" : "BusinessMessageReject", (long long)ref, svlen(rtype), rtype.p,
         type == '3' ? "373" : "380", (long long)reason, svlen(text), text.p);
    if (ref <= 0)
        return;
    const struct fix_sent *r = &s->sent[(uint64_t)ref & s->sent_mask];
    if (r->seq != (uint64_t)ref || (r->type != 'D' && r->type != 'F' && r->type != 'G'))
        return; /* not an order message (a refused status request settles nothing) */
    uint32_t i = map_get(&s->clmap, r->cmd.cl_ord_id);
    if (i == FIX_NONE)
        return;
    struct fix_order *o = &s->ord[i];
    desk_vevent_t ev = {0};
    ev.reason = DESK_REJ_VENUE;
    ev.instrument = o->instrument;
    ev.order_id = o->order_id;
    ev.venue_ns = mono;
    if (r->type == 'D') {
        if (o->flags & (OF_KNOWN | OF_DONE))
            return;
        ev.type = DESK_EV_REJECT;
        order_done(s, i);
    } else {
        int k = order_cl_index(o, r->cmd.cl_ord_id);
        if (k < 0 || (o->answered & (1u << k)))
            return;
        o->answered |= (uint8_t)(1u << k);
        if (r->cmd.cl_ord_id == o->pend_cl)
            o->pend_cl = 0;
        ev.type = DESK_EV_CANCEL_REJECT;
    }
    emit(s, &ev);
}

static void on_logout(desk_fix_session_t *s, uint64_t mono, uint64_t wall)
{
    desk_fix_sv_t text = {NULL, 0};

    (void)desk_fix_get_str(&s->m, DESK_FIX_Text, &text);
    slog(s, "fix: venue sent Logout%s%.*s", text.len ? ": " : "", svlen(text), text.p);
    if (s->state == DESK_FIX_ACTIVE)
        (void)send_logout(s, NULL, mono, wall); /* answer it, then close */
    do_close(s);
}

static void on_resend_request(desk_fix_session_t *s, uint64_t mono, uint64_t wall)
{
    int64_t b = 0, e = 0;

    if (desk_fix_get_int(&s->m, DESK_FIX_BeginSeqNo, &b) != 0 ||
        desk_fix_get_int(&s->m, DESK_FIX_EndSeqNo, &e) != 0 || b < 0 || e < 0) {
        slog(s, "fix: ResendRequest without a usable 7/16: ignored");
        return;
    }
    uint64_t begin = b < 1 ? 1 : (uint64_t)b, end = (uint64_t)e;
    if (end == 0 || end >= s->next_out)
        end = s->next_out - 1;
    s->st.resends_served++;
    slog(s, "fix: venue asks for a resend of %llu..%llu", (unsigned long long)begin,
         (unsigned long long)end);
    if (begin > end)
        return;
    if (s->resending && s->rs_next < begin)
        begin = s->rs_next; /* merge with the resend in progress */
    s->resending = 1;
    s->rs_next = begin;
    s->rs_end = end;
    (void)resend_pump(s, mono, wall);
}

/* SequenceReset (either mode) for the given MsgSeqNum: move next_in. */
static void on_seq_reset(desk_fix_session_t *s, const desk_fix_hdr_t *h, int gap_fill,
                         uint64_t mono, uint64_t wall)
{
    int64_t ns = 0;

    if (desk_fix_get_int(&s->m, DESK_FIX_NewSeqNo, &ns) != 0 || ns < 1) {
        send_reject(s, h->seq, DESK_FIX_NewSeqNo, h->msg_type, 1, "Required tag missing", mono,
                    wall);
        if (gap_fill)
            s->next_in++;
        return;
    }
    if ((uint64_t)ns < s->next_in || (gap_fill && (uint64_t)ns <= h->seq)) {
        send_reject(s, h->seq, DESK_FIX_NewSeqNo, h->msg_type, 5,
                    "Value is incorrect (out of range) for this tag", mono, wall);
        if (gap_fill)
            s->next_in++;
        return;
    }
    if (!gap_fill)
        slog(s, "fix: venue SequenceReset (reset mode): next inbound %llu -> %lld",
             (unsigned long long)s->next_in, (long long)ns);
    s->next_in = (uint64_t)ns;
}

static void on_logon(desk_fix_session_t *s, const desk_fix_hdr_t *h, uint64_t mono, uint64_t wall)
{
    int reset = 0;
    int64_t hb = 0;

    (void)desk_fix_get_bool(&s->m, DESK_FIX_ResetSeqNumFlag, &reset);
    if (reset && !s->sent_reset) {
        slog(s, "fix: venue reset the sequence numbers (141=Y in its Logon)");
        s->next_in = 1;
    }
    if (desk_fix_get_int(&s->m, DESK_FIX_HeartBtInt, &hb) == 0 && hb != (int64_t)s->cfg.heartbeat_s)
        slog(s, "fix: venue answered HeartBtInt %lld (we use %u)", (long long)hb,
             s->cfg.heartbeat_s);
    if (h->seq < s->next_in) {
        char text[96];
        snprintf(text, sizeof text, "MsgSeqNum too low, expecting %llu but received %llu",
                 (unsigned long long)s->next_in, (unsigned long long)h->seq);
        slog(s, "fix: Logon answer: %s: Logout", text);
        (void)send_logout(s, text, mono, wall);
        do_close(s);
        return;
    }
    s->state = DESK_FIX_ACTIVE;
    s->ask_sent = 0; /* status requests not yet answered go out again on this connection */
    s->ask_next = 0;
    s->acct_round = 0; /* a round of the last connection will not be answered */
    s->acct_send_pos = s->acct_send_bal = 0;
    s->acct_next = 0;   /* a round right after the status requests */
    s->acct_logged = 0; /* and its account is logged */
    s->st.logons++;
    s->testreq_at = 0;
    s->garbled = 0;
    s->gap = 0;
    if (h->seq > s->next_in) {
        s->gap = 1;
        s->gap_end = h->seq;
        (void)send_resend_request(s, s->next_in, mono, wall);
    } else {
        s->next_in++;
    }
    store_save(s);
    slog(s, "fix: logged on as %s to %s (HeartBtInt %u s%s); next MsgSeqNum out %llu, in %llu",
         s->sender, s->target, s->cfg.heartbeat_s, s->sent_reset ? ", sequence reset" : "",
         (unsigned long long)s->next_out, (unsigned long long)s->next_in);
    flag_live(s);
    update_health(s);
}

/* Admin and application messages, by MsgType, once their number is right
 * (in_seq) or while a gap is open (admin only: application messages come
 * back in the resend). */
static void dispatch(desk_fix_session_t *s, const desk_fix_hdr_t *h, int in_seq, uint64_t mono,
                     uint64_t wall)
{
    char t = h->msg_type.len == 1 ? h->msg_type.p[0] : '\0';
    desk_fix_sv_t id;

    if (h->msg_type.len == 2) {
        if (in_seq)
            on_account_msg(s, h, mono); /* AO, AP, BG, BA; others are logged */
        return;
    }
    switch (t) {
    case '0': /* Heartbeat: the sign of life is already counted */
        break;
    case '1': /* TestRequest: answer with its id */
        if (desk_fix_get_str(&s->m, DESK_FIX_TestReqID, &id) == 0 && id.len > 0)
            (void)send_heartbeat(s, id.p, id.len, mono, wall);
        break;
    case '2':
        on_resend_request(s, mono, wall);
        break;
    case '3':
        on_reject(s, '3', mono);
        break;
    case '5':
        on_logout(s, mono, wall);
        break;
    case 'A':
        slog(s, "fix: Logon while logged on: ignored");
        break;
    case '8':
        if (in_seq)
            on_exec(s, mono);
        break;
    case '9':
        if (in_seq)
            on_cxlrej(s, mono);
        break;
    case 'j':
        if (in_seq)
            on_reject(s, 'j', mono);
        break;
    default:
        if (in_seq)
            slog(s, "fix: unsupported MsgType 35=%.*s: ignored", svlen(h->msg_type), h->msg_type.p);
        break;
    }
}

static void garbled(desk_fix_session_t *s, const char *what)
{
    s->st.garbled++;
    if (!s->garbled) {
        s->garbled = 1;
        slog(s, "fix: dropped garbled bytes from the venue (%s)", what);
        update_health(s);
    }
}

/* One well-framed message in s->m. */
static void handle(desk_fix_session_t *s, uint64_t mono, uint64_t wall)
{
    desk_fix_hdr_t h;

    s->st.msgs_in++;
    if (desk_fix_hdr_decode(&s->m, &h) != 0) {
        garbled(s, "bad standard header");
        return;
    }
    s->last_in = mono;
    if (s->testreq_at) {
        s->testreq_at = 0; /* any message answers our TestRequest */
        update_health(s);
    }
    if (!sv_is(h.sender, s->target) || !sv_is(h.target, s->sender)) {
        slog(s, "fix: message from %.*s to %.*s, expected %s to %s: Reject, Logout",
             svlen(h.sender), h.sender.p, svlen(h.target), h.target.p, s->target, s->sender);
        send_reject(s, h.seq, DESK_FIX_SenderCompID, h.msg_type, 9, "CompID problem", mono, wall);
        (void)send_logout(s, "CompID problem", mono, wall);
        do_close(s);
        return;
    }
    char t = h.msg_type.len == 1 ? h.msg_type.p[0] : '\0';
    if (s->state == DESK_FIX_LOGON_SENT) {
        if (t == 'A') {
            on_logon(s, &h, mono, wall);
        } else {
            if (t == '5')
                on_logout(s, mono, wall);
            else
                slog(s, "fix: expected Logon, got 35=%.*s: disconnecting", svlen(h.msg_type),
                     h.msg_type.p);
            do_close(s);
        }
        return;
    }
    int gap_fill = 0;
    if (t == '4' && (desk_fix_get_bool(&s->m, DESK_FIX_GapFillFlag, &gap_fill) != 0 || !gap_fill)) {
        on_seq_reset(s, &h, 0, mono, wall); /* reset mode: 34 is ignored */
        s->in_dirty = 1;
        return;
    }
    if (h.seq < s->next_in) {
        if (h.poss_dup)
            return; /* a resent duplicate of what we already have */
        char text[96];
        snprintf(text, sizeof text, "MsgSeqNum too low, expecting %llu but received %llu",
                 (unsigned long long)s->next_in, (unsigned long long)h.seq);
        slog(s, "fix: %s: Logout", text);
        (void)send_logout(s, text, mono, wall);
        do_close(s);
        return;
    }
    if (h.seq > s->next_in) {
        if (h.seq > s->gap_end || !s->gap)
            s->gap_end = h.seq;
        if (!s->gap) {
            s->gap = 1;
            (void)send_resend_request(s, s->next_in, mono, wall);
        }
        if (t != '4')
            dispatch(s, &h, 0, mono, wall);
        return;
    }
    /* In sequence. */
    if (t == '4')
        on_seq_reset(s, &h, 1, mono, wall);
    else
        s->next_in++;
    s->in_dirty = 1;
    if (t != '4')
        dispatch(s, &h, 1, mono, wall);
    if (s->gap && s->next_in > s->gap_end) {
        s->gap = 0;
        slog(s, "fix: gap filled: next MsgSeqNum in %llu", (unsigned long long)s->next_in);
    }
    if (!s->gap && s->garbled) {
        s->garbled = 0;
        update_health(s);
    }
}

/* Parse and handle every complete message in rx; keep the rest. */
static int drain_rx(desk_fix_session_t *s, uint64_t mono, uint64_t wall)
{
    size_t off = 0;
    int n = 0;

    while (off < s->rx_len && (s->state == DESK_FIX_LOGON_SENT || s->state == DESK_FIX_ACTIVE ||
                               s->state == DESK_FIX_LOGOUT_SENT)) {
        size_t used = 0;
        int rc = desk_fix_parse(s->rx + off, s->rx_len - off, &s->m, &used);
        if (rc == -EAGAIN)
            break;
        off += used;
        if (rc != 0) {
            garbled(s, rc == -EMSGSIZE ? "too many fields" : "bad framing or checksum");
            continue;
        }
        handle(s, mono, wall);
        n++;
    }
    if (s->state == DESK_FIX_CLOSING || s->state == DESK_FIX_DISCONNECTED)
        off = s->rx_len;
    if (off > 0) {
        memmove(s->rx, s->rx + off, s->rx_len - off);
        s->rx_len -= off;
    }
    return n;
}

int desk_fix_session_on_data(desk_fix_session_t *s, const void *data, size_t len, uint64_t mono,
                             uint64_t wall)
{
    const char *p = data;
    int n = 0;

    while (len > 0 && (s->state == DESK_FIX_LOGON_SENT || s->state == DESK_FIX_ACTIVE ||
                       s->state == DESK_FIX_LOGOUT_SENT)) {
        size_t room = FIX_RX_CAP - s->rx_len;
        if (room == 0) {
            /* A full buffer that still does not frame: the venue is broken. */
            s->rx_len = 0;
            garbled(s, "unframeable run longer than a message");
            continue;
        }
        size_t k = len < room ? len : room;
        memcpy(s->rx + s->rx_len, p, k);
        s->rx_len += k;
        p += k;
        len -= k;
        n += drain_rx(s, mono, wall);
    }
    if (s->in_dirty)
        store_save(s);
    return n;
}

/* ---- lifecycle, timers --------------------------------------------------- */

int desk_fix_session_on_open(desk_fix_session_t *s, uint64_t mono, uint64_t wall)
{
    desk_fix_enc_t e;
    int reset = s->cfg.reset_on_logon;

    uint64_t w = window_start(s, wall);
    if (w != s->window_ns) {
        /* A new daily session: both sides start again at 1. */
        if (s->window_ns != 0 || s->next_out != 1 || s->next_in != 1)
            slog(s, "fix: new daily session: sequence numbers reset to 1");
        s->window_ns = w;
        s->next_out = s->next_in = 1;
        reset = 1;
    }
    if (reset) {
        s->next_out = s->next_in = 1;
        memset(s->sent, 0, ((size_t)s->sent_mask + 1) * sizeof *s->sent);
    }
    s->rx_len = 0;
    s->gap = 0;
    s->garbled = 0;
    s->resending = 0;
    s->testreq_at = 0;
    s->sent_reset = (uint8_t)reset;
    s->state = DESK_FIX_LOGON_SENT;
    s->last_in = s->last_out = mono;
    s->deadline = mono + s->cfg.logon_timeout_ns;
    enc_begin(s, &e, "A", s->next_out, wall);
    desk_fix_put_logon(&e, s->cfg.heartbeat_s, reset);
    int rc = enc_send(s, &e, mono, 1);
    if (rc != 0) {
        slog(s, "fix: cannot send Logon: %s", strerror(-rc));
        do_close(s);
        return rc;
    }
    update_health(s);
    return 0;
}

void desk_fix_session_on_close(desk_fix_session_t *s, const char *why)
{
    if (s->in_dirty)
        store_save(s);
    s->state = DESK_FIX_DISCONNECTED;
    s->live_left = 0;
    s->acct_round = 0;
    s->acct_send_pos = s->acct_send_bal = 0;
    s->resending = 0;
    s->gap = 0;
    s->testreq_at = 0;
    s->rx_len = 0;
    if (s->health != DESK_DOWN || strcmp(s->health_reason, why ? why : "disconnected") != 0) {
        s->health = DESK_DOWN;
        snprintf(s->health_reason, sizeof s->health_reason, "%s", why ? why : "disconnected");
        if (s->io.health)
            s->io.health(DESK_DOWN, s->health_reason, s->io.ctx);
    }
}

int desk_fix_session_tick(desk_fix_session_t *s, uint64_t mono, uint64_t wall)
{
    int work = s->pq_n ? pq_drain(s) : 0;

    if (DESK_UNLIKELY(s->acct_round) && s->pq_n == 0)
        acct_finish(s, mono); /* a complete round held for the queued events */

    if (DESK_UNLIKELY(s->nask && !s->ask_sent) && s->state == DESK_FIX_ACTIVE && !s->resending)
        work += send_asks(s, mono, wall);
    /* After a Logon: status requests about live orders, then the account
     * (each after what precedes it has gone out, so the venue answers in
     * that order). */
    if (s->state == DESK_FIX_ACTIVE && !s->resending && (s->ask_sent || !s->nask)) {
        if (DESK_UNLIKELY(s->live_left))
            work += send_live_asks(s, mono, wall);
        if (DESK_UNLIKELY(mono >= s->acct_next) && !s->live_left && acct_wanted(s)) {
            acct_start(s, mono);
            work++;
        }
        if (DESK_UNLIKELY(s->acct_send_pos | s->acct_send_bal))
            work += acct_send(s, mono, wall);
    }

    switch (s->state) {
    case DESK_FIX_LOGON_SENT:
        if (mono >= s->deadline) {
            slog(s, "fix: no Logon answer within %llu ms: disconnecting",
                 (unsigned long long)(s->cfg.logon_timeout_ns / MS));
            do_close(s);
            work++;
        }
        break;
    case DESK_FIX_LOGOUT_SENT:
        if (mono >= s->deadline) {
            slog(s, "fix: no Logout answer: disconnecting");
            do_close(s);
            work++;
        }
        break;
    case DESK_FIX_ACTIVE:
        if (s->resending)
            work += resend_pump(s, mono, wall);
        if (since(mono, s->last_out) >= s->hb_ns && !s->resending &&
            send_heartbeat(s, NULL, 0, mono, wall) == 0)
            work++;
        uint64_t silent = since(mono, s->last_in);
        if (silent >= s->hb_ns * 24 / 10) {
            slog(s,
                 "fix: nothing from the venue for %llu ms (HeartBtInt %u s, TestRequest "
                 "unanswered): connection lost",
                 (unsigned long long)(silent / MS), s->cfg.heartbeat_s);
            do_close(s);
            work++;
        } else if (silent >= s->hb_ns * 12 / 10 && s->testreq_at == 0) {
            desk_fix_enc_t e;
            char id[32];
            int n = snprintf(id, sizeof id, "desk-%llu", (unsigned long long)++s->testreq_n);
            enc_begin(s, &e, "1", s->next_out, wall);
            desk_fix_put_test_request(&e, id, (size_t)n);
            if (enc_send(s, &e, mono, 1) == 0) {
                s->testreq_at = mono;
                s->st.test_requests++;
                slog(s, "fix: nothing from the venue for %llu ms: TestRequest %s",
                     (unsigned long long)(silent / MS), id);
                update_health(s);
                work++;
            }
        }
        break;
    default:
        break;
    }
    return work;
}

int desk_fix_session_logout(desk_fix_session_t *s, const char *text, uint64_t mono, uint64_t wall)
{
    if (s->state != DESK_FIX_ACTIVE)
        return -ENOTCONN;
    int rc = send_logout(s, text, mono, wall);
    if (rc != 0)
        return rc;
    s->state = DESK_FIX_LOGOUT_SENT;
    s->deadline = mono + s->cfg.logout_timeout_ns;
    update_health(s);
    return 0;
}

int desk_fix_session_reset_seqs(desk_fix_session_t *s)
{
    s->next_out = s->next_in = 1;
    memset(s->sent, 0, ((size_t)s->sent_mask + 1) * sizeof *s->sent);
    store_save(s);
    return 0;
}

desk_fix_state_t desk_fix_session_state(const desk_fix_session_t *s)
{
    return (desk_fix_state_t)s->state;
}

uint64_t desk_fix_session_next_out(const desk_fix_session_t *s)
{
    return s->next_out;
}

uint64_t desk_fix_session_next_in(const desk_fix_session_t *s)
{
    return s->next_in;
}

desk_health_t desk_fix_session_health(const desk_fix_session_t *s)
{
    return s->state == DESK_FIX_DISCONNECTED || s->state == DESK_FIX_CLOSING
               ? DESK_DOWN
               : (desk_health_t)s->health;
}

const desk_fix_stats_t *desk_fix_session_stats(const desk_fix_session_t *s)
{
    return &s->st;
}

void desk_fix_session_on_account(desk_fix_session_t *s, desk_fix_account_fn fn)
{
    s->account_fn = fn;
}

DESK_COLD void desk_fix_session_destroy(desk_fix_session_t *s)
{
    if (s == NULL)
        return;
    if (s->store_fd >= 0) {
        if (s->in_dirty)
            store_save(s);
        close(s->store_fd);
    }
    free(s->rx);
    free(s->fields);
    free(s->ord);
    free(s->ask);
    free(s->instr);
    free(s->acct_qty);
    free(s->acct_out);
    free(s->free_stack);
    free(s->done_q);
    map_fini(&s->clmap);
    map_fini(&s->execs);
    free(s->exec_fifo);
    free(s->sent);
    free(s->pq);
    free(s);
}

DESK_COLD int desk_fix_session_create(const desk_fix_session_cfg_t *cfg, const desk_fix_io_t *io,
                                      desk_fix_session_t **out)
{
    desk_fix_session_t *s;
    int rc;

    *out = NULL;
    if (cfg == NULL || io == NULL || io->send == NULL || io->emit == NULL)
        return DESK_ERR(-EINVAL, "fix: session config or io missing");
    if (cfg->heartbeat_s < 1 || cfg->heartbeat_s > 3600)
        return DESK_ERR(-EINVAL, "fix: heartbeat_s %u not in 1..3600", cfg->heartbeat_s);
    if (cfg->max_orders < 64 || cfg->max_orders > (1u << 20))
        return DESK_ERR(-EINVAL, "fix: max_orders %u not in 64..1048576", cfg->max_orders);
    if (cfg->resend_ring < 64 || cfg->resend_ring > (1u << 20) ||
        (cfg->resend_ring & (cfg->resend_ring - 1)))
        return DESK_ERR(-EINVAL, "fix: resend_ring %u is not a power of two in 64..1048576",
                        cfg->resend_ring);
    if (cfg->sender == NULL || cfg->target == NULL || strlen(cfg->sender) > DESK_FIX_COMPID_MAX ||
        strlen(cfg->target) > DESK_FIX_COMPID_MAX)
        return DESK_ERR(-EINVAL, "fix: SenderCompID and TargetCompID are 1..%d bytes",
                        DESK_FIX_COMPID_MAX);
    if ((cfg->session_start_s < 0) != (cfg->session_end_s < 0))
        return DESK_ERR(-EINVAL, "fix: session_start and session_end go together");
    if (cfg->ninstr > DESK_FIX_MAX_INSTR || (cfg->ninstr > 0 && cfg->instr == NULL))
        return DESK_ERR(-EINVAL, "fix: %u instruments (at most %d)", cfg->ninstr,
                        DESK_FIX_MAX_INSTR);
    if (cfg->account != NULL && strlen(cfg->account) > DESK_FIX_ACCOUNT_MAX)
        return DESK_ERR(-EINVAL, "fix: account is 1..%d bytes", DESK_FIX_ACCOUNT_MAX);
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return DESK_ERR(-ENOMEM, "fix: session");
    s->store_fd = -1;
    s->cfg = *cfg;
    snprintf(s->sender, sizeof s->sender, "%s", cfg->sender);
    snprintf(s->target, sizeof s->target, "%s", cfg->target);
    s->cfg.sender = s->sender;
    s->cfg.target = s->target;
    s->cfg.store_dir = NULL; /* used only by store_open, below */
    snprintf(s->account, sizeof s->account, "%s",
             cfg->account && cfg->account[0] ? cfg->account : s->sender);
    s->cfg.account = s->account;
    s->cfg.instr = NULL; /* the copy is s->instr */
    s->ninstr = cfg->ninstr;
    s->acct_pos_on = s->acct_bal_on = 1;
    if (s->cfg.logon_timeout_ns == 0)
        s->cfg.logon_timeout_ns = 10 * SEC;
    if (s->cfg.logout_timeout_ns == 0)
        s->cfg.logout_timeout_ns = 2 * SEC;
    s->io = *io;
    s->hb_ns = (uint64_t)cfg->heartbeat_s * SEC;
    s->health = DESK_DOWN;
    if ((rc = desk_fix_tmpl_init(&s->tmpl, s->sender, s->target)) != 0)
        goto fail;
    uint32_t n = cfg->max_orders;
    s->rx = malloc(FIX_RX_CAP);
    s->fields = calloc(FIX_FIELDS, sizeof *s->fields);
    s->ord = calloc(n, sizeof *s->ord);
    s->free_stack = calloc(n, sizeof *s->free_stack);
    s->done_q = calloc(n, sizeof *s->done_q);
    s->exec_cap = pow2_at_least(4ull * n);
    s->exec_fifo = calloc(s->exec_cap, sizeof *s->exec_fifo);
    s->sent = calloc(cfg->resend_ring, sizeof *s->sent);
    s->sent_mask = cfg->resend_ring - 1;
    s->pq_cap = 4 * n;
    s->pq = calloc(s->pq_cap, sizeof *s->pq);
    uint32_t ni = s->ninstr ? s->ninstr : 1;
    s->instr = calloc(ni, sizeof *s->instr);
    s->acct_qty = calloc(ni, sizeof *s->acct_qty);
    s->acct_out = calloc(ni, sizeof *s->acct_out);
    if (s->instr != NULL && s->ninstr > 0)
        memcpy(s->instr, cfg->instr, (size_t)s->ninstr * sizeof *s->instr);
    if (s->rx == NULL || s->fields == NULL || s->ord == NULL || s->free_stack == NULL ||
        s->done_q == NULL || s->exec_fifo == NULL || s->sent == NULL || s->pq == NULL ||
        s->instr == NULL || s->acct_qty == NULL || s->acct_out == NULL ||
        map_init(&s->clmap, pow2_at_least(2ull * FIX_NCL * n), 1) != 0 ||
        map_init(&s->execs, 2 * s->exec_cap, 0) != 0) {
        rc = DESK_ERR(-ENOMEM, "fix: session tables for %u orders", n);
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++)
        s->free_stack[i] = n - 1 - i;
    s->nfree = n;
    if ((rc = desk_fix_msg_init(&s->m, s->fields, FIX_FIELDS)) != 0)
        goto fail;
    if ((rc = store_open_dir(s, cfg->store_dir)) != 0)
        goto fail;
    *out = s;
    return 0;
fail:
    desk_fix_session_destroy(s);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The "fix" connector: options, connections, failover, deskd's ops          */
/* ------------------------------------------------------------------------ */

#define FIX_HOST_MAX 128

struct fix_endpoint {
    char host[FIX_HOST_MAX]; /* DNS name or IP literal (no brackets) */
    uint16_t port;           /* TCP port */
};

struct fix_opts {
    struct fix_endpoint ep[DESK_FIX_MAX_HOSTS]; /* hosts, in failover order */
    uint32_t nep;                               /* how many */
    char sender[DESK_FIX_COMPID_MAX + 1];       /* sender_comp_id */
    char target[DESK_FIX_COMPID_MAX + 1];       /* target_comp_id */
    char store_dir[FIX_PATH_MAX];               /* resolved against config_dir */
    char ca_file[FIX_PATH_MAX];                 /* resolved against config_dir */
    char server_name[FIX_HOST_MAX];             /* TLS name, "" = the host */
    int64_t cash;                               /* the cash option, 1e-8 */
    int have_cash;                              /* cash was given */
    uint32_t heartbeat_s;                       /* HeartBtInt */
    int reset_on_logon;                         /* 141=Y on every Logon */
    int store_fsync;                            /* fdatasync each store write */
    int tls;                                    /* TLS to the venue */
    uint64_t max_resend_age_ns;                 /* see session.h */
    int32_t session_start_s, session_end_s;     /* daily hours, -1 = none */
    uint32_t max_orders;                        /* order table */
    uint32_t resend_ring;                       /* resend ring slots */
    uint64_t connect_timeout_ns;                /* TCP + TLS handshake */
    uint64_t logon_timeout_ns;                  /* Logon answer */
    uint64_t reconnect_ns;                      /* first reconnect delay */
    uint64_t reconnect_max_ns;                  /* largest one */
    uint64_t reconcile_ns;                      /* account requests period, 0: Logon only */
    char account[DESK_FIX_ACCOUNT_MAX + 1];     /* Account (1), "" = sender_comp_id */
};

struct fix {
    desk_host_t *host;                    /* deskd's side (borrowed) */
    char name[DESK_NAME_MAX];             /* connector name */
    struct fix_opts o;                    /* options */
    desk_fix_session_t *s;                /* the session (owned) */
    desk_loop_t loop;                     /* the io_uring loop (owned) */
    int loop_ok;                          /* loop initialised */
    desk_tls_ctx_t tls;                   /* TLS context (owned, if o.tls) */
    int tls_ok;                           /* tls initialised */
    desk_conn_t conn[DESK_FIX_MAX_HOSTS]; /* one connection per host */
    uint32_t nconn;                       /* initialised connections */
    uint32_t cur;                         /* host in use / tried next */
    int want;                             /* between connect() and disconnect() */
    int link;                             /* conn[cur] is open */
    int hours_noted;                      /* logged "outside session hours" */
    uint32_t fails;                       /* consecutive attempts without a Logon */
    uint64_t logons_at_attempt;           /* session logons when this attempt began */
    uint64_t reconnect_at;                /* mono of the next attempt */
    uint64_t rng;                         /* backoff jitter state */
};

static int parse_bool(const char *v, int *out)
{
    if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0)
        *out = 1;
    else if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcasecmp(v, "no") == 0)
        *out = 0;
    else
        return -EINVAL;
    return 0;
}

/* A non-negative integer option within [lo, hi]. */
static int parse_u64(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end = NULL;

    if (v[0] < '0' || v[0] > '9')
        return -EINVAL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || x < lo || x > hi)
        return -EINVAL;
    *out = x;
    return 0;
}

/* "host:port[,host:port...]"; IPv6 literals in brackets. */
static DESK_COLD int parse_hosts(const char *v, struct fix_opts *o)
{
    const char *p = v;

    o->nep = 0;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *q = e;
        while (q > p && q[-1] == ' ')
            q--;
        const char *colon = q;
        while (colon > p && colon[-1] != ':')
            colon--;
        if (colon == p || o->nep == DESK_FIX_MAX_HOSTS)
            return -EINVAL;
        const char *hs = p, *he = colon - 1;
        if (*hs == '[' && he > hs && he[-1] == ']') {
            hs++;
            he--;
        }
        size_t hl = (size_t)(he - hs);
        char port[8];
        size_t pl = (size_t)(q - colon);
        if (hl == 0 || hl >= FIX_HOST_MAX || pl == 0 || pl >= sizeof port)
            return -EINVAL;
        memcpy(port, colon, pl);
        port[pl] = '\0';
        uint64_t pn;
        if (parse_u64(port, 1, 65535, &pn) != 0)
            return -EINVAL;
        memcpy(o->ep[o->nep].host, hs, hl);
        o->ep[o->nep].host[hl] = '\0';
        o->ep[o->nep].port = (uint16_t)pn;
        o->nep++;
        p = e;
    }
    return o->nep > 0 ? 0 : -EINVAL;
}

/* A path option, relative to desk.toml's directory unless absolute. */
static int resolve_path(const desk_connector_cfg_t *cfg, const char *v, char *out, size_t cap)
{
    int n = v[0] == '/' || cfg->config_dir == NULL || cfg->config_dir[0] == '\0'
                ? snprintf(out, cap, "%s", v)
                : snprintf(out, cap, "%s/%s", cfg->config_dir, v);
    return n <= 0 || (size_t)n >= cap ? -EINVAL : 0;
}

static DESK_COLD int parse_opts(const desk_connector_cfg_t *cfg, struct fix_opts *o)
{
    const char *cn = cfg->name ? cfg->name : "?";
    int have_hosts = 0, have_store = 0, have_start = 0, have_end = 0;

    memset(o, 0, sizeof *o);
    o->heartbeat_s = 30;
    o->max_resend_age_ns = 5000 * MS;
    o->session_start_s = o->session_end_s = -1;
    o->max_orders = 16384;
    o->resend_ring = 8192;
    o->connect_timeout_ns = 5000 * MS;
    o->logon_timeout_ns = 10000 * MS;
    o->reconnect_ns = 250 * MS;
    o->reconnect_max_ns = 10000 * MS;
    o->reconcile_ns = 10000 * MS;
    for (uint32_t i = 0; i < cfg->nopts; i++) {
        const desk_opt_t *opt = &cfg->opts[i];
        const char *k = opt->key, *v = opt->value ? opt->value : "";
        uint64_t x = 0;
        int rc = 0;

        if (strcmp(k, "hosts") == 0) {
            rc = parse_hosts(v, o);
            have_hosts = 1;
        } else if (strcmp(k, "sender_comp_id") == 0 || strcmp(k, "target_comp_id") == 0) {
            char *dst = k[0] == 's' ? o->sender : o->target;
            size_t n = strlen(v);
            rc = n == 0 || n > DESK_FIX_COMPID_MAX ? -EINVAL : 0;
            for (size_t j = 0; rc == 0 && j < n; j++)
                if (v[j] < 0x21 || v[j] > 0x7e)
                    rc = -EINVAL;
            if (rc == 0)
                memcpy(dst, v, n + 1);
        } else if (strcmp(k, "cash") == 0) {
            rc = desk_fixed_parse_cstr(v, &o->cash);
            if (rc == 0 && o->cash < 0)
                rc = -EINVAL;
            o->have_cash = 1;
        } else if (strcmp(k, "heartbeat_s") == 0) {
            rc = parse_u64(v, 1, 3600, &x);
            o->heartbeat_s = (uint32_t)x;
        } else if (strcmp(k, "reset_on_logon") == 0) {
            rc = parse_bool(v, &o->reset_on_logon);
        } else if (strcmp(k, "store_dir") == 0) {
            rc = v[0] ? resolve_path(cfg, v, o->store_dir, sizeof o->store_dir) : -EINVAL;
            have_store = 1;
        } else if (strcmp(k, "store_fsync") == 0) {
            rc = parse_bool(v, &o->store_fsync);
        } else if (strcmp(k, "max_resend_age_ms") == 0) {
            rc = parse_u64(v, 0, 86400000, &x);
            o->max_resend_age_ns = x * MS;
        } else if (strcmp(k, "tls") == 0) {
            rc = parse_bool(v, &o->tls);
        } else if (strcmp(k, "ca_file") == 0) {
            rc = v[0] ? resolve_path(cfg, v, o->ca_file, sizeof o->ca_file) : -EINVAL;
        } else if (strcmp(k, "server_name") == 0) {
            size_t n = strlen(v);
            rc = n == 0 || n >= sizeof o->server_name ? -EINVAL : 0;
            if (rc == 0)
                memcpy(o->server_name, v, n + 1);
        } else if (strcmp(k, "session_start") == 0) {
            rc = desk_fix_parse_tod(v, &o->session_start_s);
            have_start = 1;
        } else if (strcmp(k, "session_end") == 0) {
            rc = desk_fix_parse_tod(v, &o->session_end_s);
            have_end = 1;
        } else if (strcmp(k, "max_orders") == 0) {
            rc = parse_u64(v, 64, 1u << 20, &x);
            o->max_orders = (uint32_t)x;
        } else if (strcmp(k, "resend_ring") == 0) {
            rc = parse_u64(v, 64, 1u << 20, &x);
            if (rc == 0 && (x & (x - 1)))
                rc = -EINVAL;
            o->resend_ring = (uint32_t)x;
        } else if (strcmp(k, "connect_timeout_ms") == 0) {
            rc = parse_u64(v, 1, 600000, &x);
            o->connect_timeout_ns = x * MS;
        } else if (strcmp(k, "logon_timeout_ms") == 0) {
            rc = parse_u64(v, 1, 600000, &x);
            o->logon_timeout_ns = x * MS;
        } else if (strcmp(k, "reconnect_ms") == 0) {
            rc = parse_u64(v, 1, 600000, &x);
            o->reconnect_ns = x * MS;
        } else if (strcmp(k, "reconnect_max_ms") == 0) {
            rc = parse_u64(v, 1, 3600000, &x);
            o->reconnect_max_ns = x * MS;
        } else if (strcmp(k, "reconcile_interval_ms") == 0) {
            rc = parse_u64(v, 0, 86400000, &x);
            o->reconcile_ns = x * MS;
        } else if (strcmp(k, "account") == 0) {
            size_t n = strlen(v);
            rc = n == 0 || n > DESK_FIX_ACCOUNT_MAX ? -EINVAL : 0;
            for (size_t j = 0; rc == 0 && j < n; j++)
                if (v[j] < 0x20 || v[j] > 0x7e)
                    rc = -EINVAL;
            if (rc == 0)
                memcpy(o->account, v, n + 1);
        } else {
            return DESK_ERR(-EINVAL, "desk.toml:%d: connector '%s': unknown fix option '%s'",
                            opt->line, cn, k);
        }
        if (rc != 0)
            return DESK_ERR(-EINVAL, "desk.toml:%d: connector '%s': bad value for fix option '%s'",
                            opt->line, cn, k);
    }
    if (!have_hosts)
        return DESK_ERR(-EINVAL, "connector '%s': fix option 'hosts' is required", cn);
    if (o->sender[0] == '\0' || o->target[0] == '\0')
        return DESK_ERR(-EINVAL,
                        "connector '%s': fix options 'sender_comp_id' and 'target_comp_id' are "
                        "required",
                        cn);
    if (!o->have_cash)
        return DESK_ERR(-EINVAL,
                        "connector '%s': fix option 'cash' is required (the account's cash "
                        "when deskd starts, before the venue can be asked)",
                        cn);
    if (!have_store && !o->reset_on_logon)
        return DESK_ERR(-EINVAL,
                        "connector '%s': fix option 'store_dir' is required unless "
                        "reset_on_logon = true (sequence numbers must survive a restart)",
                        cn);
    if (have_start != have_end)
        return DESK_ERR(-EINVAL, "connector '%s': session_start and session_end go together", cn);
    if (o->reconnect_max_ns < o->reconnect_ns)
        o->reconnect_max_ns = o->reconnect_ns;
    if (o->ca_file[0] && !o->tls)
        return DESK_ERR(-EINVAL, "connector '%s': ca_file is set but tls is not", cn);
    return 0;
}

/* ---- the session's io: the current connection and deskd ----------------- */

static int io_send(const char *buf, size_t len, void *ctx)
{
    struct fix *f = ctx;

    return desk_conn_send(&f->conn[f->cur], buf, len);
}

static int io_emit(const desk_vevent_t *ev, void *ctx)
{
    struct fix *f = ctx;

    return desk_host_emit(f->host, ev);
}

static void io_health(desk_health_t h, const char *reason, void *ctx)
{
    struct fix *f = ctx;

    desk_host_health(f->host, h, reason);
}

static void io_close(void *ctx)
{
    struct fix *f = ctx;

    desk_conn_close(&f->conn[f->cur]);
}

static DESK_COLD void io_log(const char *line, void *ctx)
{
    struct fix *f = ctx;

    desk_host_log(f->host, "%s", line);
}

static int io_account_report(const desk_account_report_t *r, void *ctx)
{
    struct fix *f = ctx;

    return desk_host_account_report(f->host, r);
}

/* ---- connection callbacks (inside desk_loop_poll) ------------------------ */

static void c_open(desk_conn_t *c, void *ctx)
{
    struct fix *f = ctx;

    (void)c;
    f->link = 1;
    desk_host_log(f->host, "fix: connected to %s:%u%s", f->o.ep[f->cur].host,
                  (unsigned)f->o.ep[f->cur].port, f->o.tls ? " (TLS)" : "");
    (void)desk_fix_session_on_open(f->s, desk_loop_now(&f->loop), desk_wall_ns());
}

static void c_data(desk_conn_t *c, const uint8_t *data, size_t len, void *ctx)
{
    struct fix *f = ctx;

    (void)c;
    (void)desk_fix_session_on_data(f->s, data, len, desk_loop_now(&f->loop), desk_wall_ns());
}

static void c_close(desk_conn_t *c, int err, const char *why, void *ctx)
{
    struct fix *f = ctx;
    char reason[48];
    uint32_t was = f->cur;

    (void)c;
    f->link = 0;
    snprintf(reason, sizeof reason, "%s", why && why[0] ? why : "connection closed");
    desk_fix_session_on_close(f->s, reason);
    if (!f->want)
        return;
    /* A connection that never logged on counts as a failure and moves on to
     * the next host (failover); one that did starts again with the same. */
    if (desk_fix_session_stats(f->s)->logons > f->logons_at_attempt) {
        f->fails = 0;
    } else {
        f->fails++;
        f->cur = (f->cur + 1) % f->nconn;
    }
    uint64_t d = desk_conn_backoff_ns(f->fails ? f->fails - 1 : 0, f->o.reconnect_ns,
                                      f->o.reconnect_max_ns, &f->rng);
    f->reconnect_at = desk_loop_now(&f->loop) + d;
    desk_host_log(f->host, "fix: %s:%u: %s (%d); reconnecting to %s:%u in %llu ms",
                  f->o.ep[was].host, (unsigned)f->o.ep[was].port, why ? why : "closed", err,
                  f->o.ep[f->cur].host, (unsigned)f->o.ep[f->cur].port,
                  (unsigned long long)(d / MS));
}

static const desk_conn_cb_t fix_conn_cb = {
    .on_open = c_open,
    .on_data = c_data,
    .on_close = c_close,
};

/* Start an attempt on the current host (cold: once per connection). */
static void attempt(struct fix *f)
{
    f->logons_at_attempt = desk_fix_session_stats(f->s)->logons;
    int rc = desk_conn_open(&f->conn[f->cur]);
    if (rc != 0 && rc != -EALREADY) {
        /* -EBUSY: the SQ is full; anything else is counted as a failure. */
        f->reconnect_at = desk_now_ns() + f->o.reconnect_ns;
        if (rc != -EBUSY)
            desk_host_log(f->host, "fix: cannot connect to %s:%u: %s", f->o.ep[f->cur].host,
                          (unsigned)f->o.ep[f->cur].port, strerror(-rc));
    }
}

/* ---- ops ------------------------------------------------------------------ */

static void fix_destroy(void *self);

static DESK_COLD int fix_create(const desk_connector_cfg_t *cfg, desk_host_t *host, void **self)
{
    struct fix *f;
    int rc;

    if (cfg == NULL || self == NULL)
        return DESK_ERR(-EINVAL, "cfg or self is NULL");
    *self = NULL;
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return DESK_ERR(-ENOMEM, "no memory for the fix connector");
    f->host = host;
    snprintf(f->name, sizeof f->name, "%s", cfg->name ? cfg->name : "?");
    if ((rc = parse_opts(cfg, &f->o)) != 0)
        goto fail;

    /* The instruments' symbols: status requests and position reports name
     * them (copied by the session). */
    uint32_t ni = host ? desk_host_ninstruments(host) : 0;
    desk_instrument_t *instr = calloc(ni ? ni : 1, sizeof *instr);
    if (instr == NULL) {
        rc = DESK_ERR(-ENOMEM, "no memory for the fix connector");
        goto fail;
    }
    for (uint32_t i = 0; i < ni; i++)
        instr[i] = *desk_host_instrument_at(host, i);
    desk_fix_session_cfg_t sc = {
        .sender = f->o.sender,
        .target = f->o.target,
        .store_dir = f->o.store_dir,
        .heartbeat_s = f->o.heartbeat_s,
        .reset_on_logon = (uint8_t)f->o.reset_on_logon,
        .store_fsync = (uint8_t)f->o.store_fsync,
        .max_resend_age_ns = f->o.max_resend_age_ns,
        .max_orders = f->o.max_orders,
        .resend_ring = f->o.resend_ring,
        .logon_timeout_ns = f->o.logon_timeout_ns,
        .session_start_s = f->o.session_start_s,
        .session_end_s = f->o.session_end_s,
        .account = f->o.account,
        .reconcile_interval_ns = f->o.reconcile_ns,
        .instr = instr,
        .ninstr = ni,
    };
    desk_fix_io_t io = {
        .send = io_send,
        .emit = io_emit,
        .health = io_health,
        .close = io_close,
        .log = io_log,
        .ctx = f,
    };
    rc = desk_fix_session_create(&sc, &io, &f->s);
    free(instr);
    if (rc == 0)
        desk_fix_session_on_account(f->s, io_account_report);
    if (rc != 0) {
        rc = DESK_ERR(rc, "connector '%s': %s", f->name, desk_errmsg());
        goto fail;
    }
    /* A large send ring: a resend of many messages goes out at once. */
    desk_loop_cfg_t lc = {.max_timers = 4 * f->o.nep + 8, .sbuf_size = 1u << 20};
    if ((rc = desk_loop_init(&f->loop, f->o.nep, &lc)) != 0) {
        rc = DESK_ERR(rc, "connector '%s': io_uring loop: %s", f->name, desk_errmsg());
        goto fail;
    }
    f->loop_ok = 1;
    if (f->o.tls) {
        desk_tls_cfg_t tc = {.ca_file = f->o.ca_file[0] ? f->o.ca_file : NULL};
        if ((rc = desk_tls_ctx_init(&f->tls, &tc)) != 0) {
            rc = DESK_ERR(rc, "connector '%s': TLS: %s", f->name, desk_errmsg());
            goto fail;
        }
        f->tls_ok = 1;
    }
    for (uint32_t i = 0; i < f->o.nep; i++) {
        desk_conn_cfg_t cc = {
            .host = f->o.ep[i].host,
            .port = f->o.ep[i].port,
            .tls = f->o.tls ? &f->tls : NULL,
            .server_name = f->o.server_name[0] ? f->o.server_name : NULL,
            .connect_timeout_ns = f->o.connect_timeout_ns,
            .backoff_base_ns = 0, /* reconnects and failover are ours (c_close) */
        };
        if ((rc = desk_conn_init(&f->conn[i], &f->loop, &cc, &fix_conn_cb, f)) != 0) {
            rc = DESK_ERR(rc, "connector '%s': %s:%u: %s", f->name, f->o.ep[i].host,
                          (unsigned)f->o.ep[i].port, desk_errmsg());
            goto fail;
        }
        f->nconn++;
    }
    f->rng = desk_now_ns() | 1;
    desk_host_log(host,
                  "fix: %s -> %s via %u host(s) (first %s:%u%s), HeartBtInt %u s; sequence "
                  "store %s: next out %llu, in %llu; account requests every %llu ms%s",
                  f->o.sender, f->o.target, f->o.nep, f->o.ep[0].host, (unsigned)f->o.ep[0].port,
                  f->o.tls ? ", TLS" : "", f->o.heartbeat_s,
                  f->o.store_dir[0] ? f->o.store_dir : "(none: reset_on_logon)",
                  (unsigned long long)desk_fix_session_next_out(f->s),
                  (unsigned long long)desk_fix_session_next_in(f->s),
                  (unsigned long long)(f->o.reconcile_ns / MS),
                  f->o.reconcile_ns ? "" : " (0: after each Logon only)");
    *self = f;
    return 0;
fail:
    fix_destroy(f);
    return rc;
}

/* Drive the loop on the calling thread until every connection is idle or
 * `ns` passed (disconnect and destroy, after the connector thread ended). */
static DESK_COLD void quiesce(struct fix *f, uint64_t ns)
{
    uint64_t end = desk_now_ns() + ns;

    for (;;) {
        int busy = 0;
        for (uint32_t i = 0; i < f->nconn; i++)
            busy |= desk_conn_state(&f->conn[i]) != DESK_CONN_IDLE;
        if (!busy || desk_now_ns() > end)
            break;
        (void)desk_loop_wait(&f->loop, 10 * MS);
        uint64_t now = desk_now_ns();
        (void)desk_loop_poll(&f->loop, now);
        (void)desk_fix_session_tick(f->s, now, desk_wall_ns());
    }
}

static DESK_COLD void fix_destroy(void *self)
{
    struct fix *f = self;

    if (f == NULL)
        return;
    f->want = 0;
    if (f->loop_ok) {
        for (uint32_t i = 0; i < f->nconn; i++)
            desk_conn_close(&f->conn[i]);
        quiesce(f, 1000 * MS);
        for (uint32_t i = 0; i < f->nconn; i++)
            (void)desk_conn_fini(&f->conn[i]);
        desk_loop_fini(&f->loop);
    }
    if (f->tls_ok)
        desk_tls_ctx_fini(&f->tls);
    desk_fix_session_destroy(f->s);
    free(f);
}

static DESK_COLD int fix_connect(void *self)
{
    struct fix *f = self;

    f->want = 1;
    f->fails = 0;
    f->reconnect_at = 0;
    desk_host_health(f->host, DESK_DOWN, "connecting");
    if (desk_fix_session_in_hours(f->s, desk_wall_ns()))
        attempt(f);
    return 0;
}

static DESK_COLD int fix_disconnect(void *self)
{
    struct fix *f = self;
    uint64_t now = desk_now_ns();

    f->want = 0;
    if (desk_fix_session_logout(f->s, "desk disconnecting", now, desk_wall_ns()) == 0) {
        /* Wait for the venue's Logout (the session closes on it, or after
         * its 2 s deadline). */
        uint64_t end = now + 2500 * MS;
        while (desk_fix_session_state(f->s) != DESK_FIX_DISCONNECTED && desk_now_ns() < end) {
            (void)desk_loop_wait(&f->loop, 10 * MS);
            now = desk_now_ns();
            (void)desk_loop_poll(&f->loop, now);
            (void)desk_fix_session_tick(f->s, now, desk_wall_ns());
        }
    }
    for (uint32_t i = 0; i < f->nconn; i++)
        desk_conn_close(&f->conn[i]);
    quiesce(f, 1000 * MS);
    desk_host_health(f->host, DESK_DOWN, "disconnected");
    return 0;
}

static int fix_poll(void *self, uint64_t now)
{
    struct fix *f = self;
    uint64_t wall = desk_wall_ns();
    int work = desk_loop_poll(&f->loop, now);

    if (f->want) {
        int in_hours = desk_fix_session_in_hours(f->s, wall);
        desk_fix_state_t st = desk_fix_session_state(f->s);
        if (!in_hours && st == DESK_FIX_ACTIVE) {
            desk_host_log(f->host, "fix: end of the session hours: Logout");
            (void)desk_fix_session_logout(f->s, "end of session", now, wall);
            work++;
        }
        if (!f->link && desk_conn_state(&f->conn[f->cur]) == DESK_CONN_IDLE &&
            now >= f->reconnect_at) {
            if (in_hours) {
                f->hours_noted = 0;
                attempt(f);
                work++;
            } else if (!f->hours_noted) {
                f->hours_noted = 1;
                desk_host_health(f->host, DESK_DOWN, "outside session hours");
            }
        }
    }
    work += desk_fix_session_tick(f->s, now, wall);
    return work;
}

static int fix_order_op(struct fix *f, const desk_vcmd_t *cmd, int op)
{
    const desk_instrument_t *in = desk_host_instrument(f->host, cmd->instrument);

    if (in == NULL)
        return -EINVAL;
    size_t n = strnlen(in->symbol, DESK_SYMBOL_MAX);
    uint64_t mono = desk_now_ns(), wall = desk_wall_ns();
    switch (op) {
    case DESK_CMD_NEW:
        return desk_fix_session_new(f->s, cmd, in->symbol, n, mono, wall);
    case DESK_CMD_CANCEL:
        return desk_fix_session_cancel(f->s, cmd, in->symbol, n, mono, wall);
    default:
        return desk_fix_session_replace(f->s, cmd, in->symbol, n, mono, wall);
    }
}

static int fix_place(void *self, const desk_vcmd_t *cmd)
{
    if (cmd->type == DESK_CMD_RECOVER) {
        struct fix *f = self;
        const desk_instrument_t *in = desk_host_instrument(f->host, cmd->instrument);
        return desk_fix_session_adopt(f->s, cmd, in ? in->symbol : "",
                                      in ? strnlen(in->symbol, DESK_SYMBOL_MAX) : 0);
    }
    return fix_order_op(self, cmd, DESK_CMD_NEW);
}

static int fix_cancel(void *self, const desk_vcmd_t *cmd)
{
    return fix_order_op(self, cmd, DESK_CMD_CANCEL);
}

static int fix_replace(void *self, const desk_vcmd_t *cmd)
{
    return fix_order_op(self, cmd, DESK_CMD_REPLACE);
}

/* FIX order entry carries no market data. */
static int fix_get_quote(void *self, uint32_t instrument, desk_quote_t *out)
{
    (void)self;
    (void)instrument;
    (void)out;
    return -ENOENT;
}

/* None at start: positions build up from fills, and the venue's own
 * (RequestForPositions) reach deskd through desk_host_account_report. */
static int fix_get_positions(void *self, desk_position_t *out, size_t cap)
{
    (void)self;
    (void)out;
    (void)cap;
    return 0;
}

/* At start, before any Logon: the `cash` option is both.  The venue's own
 * figures (CollateralInquiry) come later through desk_host_account_report. */
static int fix_get_buying_power(void *self, desk_balance_t *out)
{
    struct fix *f = self;

    out->cash = f->o.cash;
    out->buying_power = f->o.cash;
    return 0;
}

static const desk_connector_ops_t fix_ops = {
    .abi = DESK_CONNECTOR_ABI,
    .type = "fix",
    .create = fix_create,
    .destroy = fix_destroy,
    .connect = fix_connect,
    .disconnect = fix_disconnect,
    .poll = fix_poll,
    .place_order = fix_place,
    .cancel_order = fix_cancel,
    .replace_order = fix_replace,
    .get_quote = fix_get_quote,
    .get_positions = fix_get_positions,
    .get_buying_power = fix_get_buying_power,
};

const desk_connector_ops_t *desk_fix_ops(void)
{
    return &fix_ops;
}
