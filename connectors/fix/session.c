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
 * Outbound: every message takes next_out; application messages (D, F, G)
 * are also recorded in a preallocated ring indexed by MsgSeqNum (the
 * command, the symbol and the original SendingTime), so a ResendRequest is
 * answered by re-encoding them with 43=Y and 122 = the original time (same
 * 34, same body, TransactTime included).  Admin messages, numbers that fell
 * out of the ring (or were sent before a restart) and NewOrderSingles older
 * than max_resend_age_ms are covered by SequenceReset-GapFill (35=4, 123=Y,
 * 43=Y).  A stale NewOrderSingle the venue never acknowledged is reported
 * REJECTED (DESK_REJ_VENUE) with a log line saying why; one it did
 * acknowledge is just gap-filled.  While a resend is in progress new orders
 * get -EBUSY (the router retries them).
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
};

/* One sent application message, kept for resend. */
struct fix_sent {
    uint64_t seq;              /* its MsgSeqNum; 0: empty */
    uint64_t wall_ns;          /* original SendingTime (and TransactTime) */
    uint64_t mono_ns;          /* when it was sent (staleness) */
    desk_vcmd_t cmd;           /* the command it encodes */
    char sym[DESK_SYMBOL_MAX]; /* the symbol (not NUL terminated when full) */
    uint8_t sym_len;           /* its length */
    char type;                 /* 'D', 'F' or 'G' */
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

static void put_app(desk_fix_enc_t *e, char type, const desk_vcmd_t *cmd, const char *sym,
                    size_t sym_len, uint64_t wall)
{
    if (type == 'D')
        desk_fix_put_new_order(e, cmd, sym, sym_len, wall);
    else if (type == 'F')
        desk_fix_put_cancel(e, cmd, sym, sym_len, wall);
    else
        desk_fix_put_replace(e, cmd, sym, sym_len, wall);
}

/* Encode and send one application message with next_out; record it for
 * resend.  Returns 0 or -EBUSY/-ENOTCONN/-EINVAL. */
static int app_send(desk_fix_session_t *s, char type, const desk_vcmd_t *cmd, const char *sym,
                    size_t sym_len, uint64_t mono, uint64_t wall)
{
    desk_fix_enc_t e;
    const char ts[2] = {type, '\0'};
    uint64_t seq = s->next_out;

    if (sym_len == 0 || sym_len > DESK_SYMBOL_MAX)
        return -EINVAL;
    enc_begin(s, &e, ts, seq, wall);
    put_app(&e, type, cmd, sym, sym_len, wall);
    int rc = enc_send(s, &e, mono, 1);
    if (rc != 0)
        return rc;
    struct fix_sent *r = &s->sent[seq & s->sent_mask];
    r->seq = seq;
    r->wall_ns = wall;
    r->mono_ns = mono;
    r->cmd = *cmd;
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
    s->ord[i].order_id = cmd->order_id;
    s->ord[i].instrument = cmd->instrument;
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
    return 0;
}

/* Send an OrderStatusRequest for every recovered order not answered yet
 * (after each Logon and its resend: a request lost with a dropped connection
 * is asked again).  Not kept for resend: gap-filled if asked. */
static int send_asks(desk_fix_session_t *s, uint64_t mono, uint64_t wall)
{
    int n = 0;

    for (uint32_t k = s->ask_next; k < s->nask; s->ask_next = ++k) {
        if (s->ask[k].answered)
            continue;
        desk_fix_enc_t e;
        desk_vcmd_t c = s->ask[k].cmd;
        c.cl_ord_id = s->ask[k].cl;
        enc_begin(s, &e, "H", s->next_out, wall);
        desk_fix_put_status(&e, &c, s->ask[k].sym, s->ask[k].sym_len);
        int rc = enc_send(s, &e, mono, 1);
        if (rc == -EBUSY)
            return n;                 /* the rest on a later tick */
        s->ask[k].answered = rc != 0; /* unsendable: left to the resend */
        n++;
    }
    s->ask_sent = 1;
    return n;
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
        return 1;
    }
    if (x->cum_qty > 0) {
        desk_vevent_t f = *ev;
        f.type = DESK_EV_FILL;
        f.flags = DESK_VEV_CATCHUP;
        f.last_px = x->avg_px;
        f.exec_id = ev->exec_id ^ 0x5a5a5a5a5a5a5a5aull; /* distinct from the status's own */
        emit(s, &f);
    }
    switch (x->ord_status) {
    case '0':
    case '1':
        if (a->req)
            return 0; /* the request's own answer came (or comes) in the resend */
        ev->type = DESK_EV_ACK;
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
            const char ts[2] = {r->type, '\0'};
            enc_begin(s, &e, ts, q, wall);
            desk_fix_enc_possdup(&e, r->wall_ns);
            put_app(&e, r->type, &r->cmd, r->sym, r->sym_len, r->wall_ns);
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
    o->flags |= OF_KNOWN;
    rc = desk_fix_exec_to_vevent(&x, o->order_id, o->instrument, mono, &ev);
    if (rc < 0) {
        slog(s, "fix: ExecutionReport with unknown ExecType 150=%c: ignored", x.exec_type);
        return;
    }
    if (rc == 0 && x.exec_type == 'I' && s->nask && on_status(s, i, &x, mono, &ev)) {
        if (!exec_first(s, ev.exec_id))
            return;
        if (is_terminal(x.ord_status))
            order_done(s, i);
        emit(s, &ev);
        return;
    }
    if (rc == 0)
        return; /* informational (pending states, restated, ...) */
    if (!exec_first(s, ev.exec_id)) {
        s->st.dup_execs++;
        return; /* a PossDup resend (or a venue repeat) of an ExecID already seen */
    }
    if (ev.type == DESK_EV_CANCELED || ev.type == DESK_EV_REPLACED) {
        int k = order_cl_index(o, x.cl_ord_id);
        if (k >= 0)
            o->answered |= (uint8_t)(1u << k);
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
    slog(s, "fix: venue sent %s 45=%lld 372=%.*s %s=%lld: %.*s",
         type == '3' ? "Reject" : "BusinessMessageReject", (long long)ref, svlen(rtype), rtype.p,
         type == '3' ? "373" : "380", (long long)reason, svlen(text), text.p);
    if (ref <= 0)
        return;
    const struct fix_sent *r = &s->sent[(uint64_t)ref & s->sent_mask];
    if (r->seq != (uint64_t)ref)
        return;
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

    if (DESK_UNLIKELY(s->nask && !s->ask_sent) && s->state == DESK_FIX_ACTIVE && !s->resending)
        work += send_asks(s, mono, wall);

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
    if (s->rx == NULL || s->fields == NULL || s->ord == NULL || s->free_stack == NULL ||
        s->done_q == NULL || s->exec_fifo == NULL || s->sent == NULL || s->pq == NULL ||
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
                        "connector '%s': fix option 'cash' is required (FIX has no standard "
                        "account query)",
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
    };
    desk_fix_io_t io = {
        .send = io_send,
        .emit = io_emit,
        .health = io_health,
        .close = io_close,
        .log = io_log,
        .ctx = f,
    };
    if ((rc = desk_fix_session_create(&sc, &io, &f->s)) != 0) {
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
                  "store %s: next out %llu, in %llu",
                  f->o.sender, f->o.target, f->o.nep, f->o.ep[0].host, (unsigned)f->o.ep[0].port,
                  f->o.tls ? ", TLS" : "", f->o.heartbeat_s,
                  f->o.store_dir[0] ? f->o.store_dir : "(none: reset_on_logon)",
                  (unsigned long long)desk_fix_session_next_out(f->s),
                  (unsigned long long)desk_fix_session_next_in(f->s));
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

/* FIX has no standard position query: none are reported. */
static int fix_get_positions(void *self, desk_position_t *out, size_t cap)
{
    (void)self;
    (void)out;
    (void)cap;
    return 0;
}

/* FIX has no standard account query: the `cash` option is both. */
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
