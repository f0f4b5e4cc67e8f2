/*
 * session.h - the "fix" connector: a FIX 4.4 initiator session on the
 * connector thread's io_uring loop (plain TCP or TLS), and the session state
 * machine it is built on.  connectors/fix/README.md is the user's guide.
 *
 * desk.toml options ([connector.options] of a `type = "fix"` connector):
 *   hosts              "host:port[,host:port...]": the venue's acceptors, tried
 *                      in order (failover), at most DESK_FIX_MAX_HOSTS; required
 *   sender_comp_id     our SenderCompID (49); required
 *   target_comp_id     the venue's CompID (56); required
 *   cash               the account's cash when deskd starts, a decimal string
 *                      (get_buying_power() returns it; the venue's own figure
 *                      comes with the account reports below); required
 *   heartbeat_s        HeartBtInt (108), 1..3600 [30]
 *   reset_on_logon     send ResetSeqNumFlag 141=Y on every Logon [false]
 *   store_dir          directory of the sequence-number store, relative to
 *                      desk.toml's directory; required unless reset_on_logon
 *   store_fsync        fdatasync() after every store write [false]
 *   max_resend_age_ms  a NewOrderSingle older than this is never resent: it is
 *                      gap-filled and its order reported REJECTED (0: never
 *                      resend one) [5000]
 *   tls                TLS to the venue [false]
 *   ca_file            PEM file of trusted CAs, relative to desk.toml's
 *                      directory [system store]
 *   server_name        name the certificate must match [the host]
 *   session_start      "HH:MM:SS" UTC: daily start of the FIX session
 *   session_end        "HH:MM:SS" UTC: daily end (both or neither) [always on]
 *   max_orders         orders tracked at once, 64..1048576 [16384]
 *   resend_ring        sent application messages kept for resend, a power of
 *                      two, 64..1048576 [8192]
 *   connect_timeout_ms TCP connect and TLS handshake [5000]
 *   logon_timeout_ms   the venue must answer our Logon within this [10000]
 *   reconnect_ms       first reconnect delay (doubles, with jitter) [250]
 *   reconnect_max_ms   largest reconnect delay [10000]
 *   reconcile_interval_ms  ask the venue for the account (RequestForPositions
 *                      35=AN, CollateralInquiry 35=BB) after every Logon and
 *                      then every this many ms, and report it to deskd
 *                      (desk_host_account_report); 0 = after each Logon only
 *                      [10000]
 *   account            Account (1) of those requests, 1..64 printable bytes
 *                      [sender_comp_id]
 * Any other key makes create() fail with -EINVAL naming it.
 *
 * The session state machine (desk_fix_session_*) is transport-free: it is
 * fed received bytes and the time, and sends bytes, emits desk events and
 * reports health through a desk_fix_io_t, so tests drive it with canned
 * bytes and injected time (tests/unit/fix_session_test.c).  The connector
 * glue in session.c wires it to desk_conn_t connections and to deskd.
 *
 * Threads: create() runs on deskd's main thread; every other op runs on the
 * connector thread (connector.h), except disconnect() and destroy(), which
 * deskd calls on its main thread after the connector thread has stopped.  A
 * desk_fix_session_t belongs to one thread at a time.
 */
#ifndef DESK_FIX_SESSION_H
#define DESK_FIX_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "desk/connector.h"
#include "desk/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DESK_FIX_MAX_HOSTS 8 /* entries of the hosts option */

/* The fix connector's operations (type "fix").  Static; any thread. */
const desk_connector_ops_t *desk_fix_ops(void);

/* ------------------------------------------------- the session machine */

/* Settings of one session.  Strings are copied by desk_fix_session_create. */
typedef struct desk_fix_session_cfg {
    const char *sender;         /* SenderCompID (49), 1..32 printable bytes */
    const char *target;         /* TargetCompID (56) */
    const char *store_dir;      /* sequence-number store directory; NULL or "": none */
    uint32_t heartbeat_s;       /* HeartBtInt, 1..3600 */
    uint8_t reset_on_logon;     /* 141=Y on every Logon */
    uint8_t store_fsync;        /* fdatasync after each store write */
    uint8_t pad_[2];            /* zero */
    uint64_t max_resend_age_ns; /* NewOrderSingles older than this are not resent */
    uint32_t max_orders;        /* orders tracked, 64..2^20 */
    uint32_t resend_ring;       /* sent app messages kept, power of two, 64..2^20 */
    uint64_t logon_timeout_ns;  /* Logon answer deadline [10 s] */
    uint64_t logout_timeout_ns; /* Logout answer deadline [2 s] */
    int32_t session_start_s;    /* daily start, seconds after 00:00 UTC; -1: none */
    int32_t session_end_s;      /* daily end; -1: none */

    /* Status requests and account reports after each Logon (see below). */
    const char *account;            /* Account (1) of the account requests; NULL or "": sender */
    uint64_t reconcile_interval_ns; /* account requests after each Logon and then every
                                       this; 0: after each Logon only */
    const desk_instrument_t *instr; /* this connector's instruments (copied by create):
                                       symbols of status requests and position reports */
    uint32_t ninstr;                /* entries of instr, <= DESK_FIX_MAX_INSTR */
} desk_fix_session_cfg_t;

#define DESK_FIX_MAX_INSTR 4096 /* instruments one session maps */
#define DESK_FIX_ACCOUNT_MAX 64 /* longest Account (1) */

/*
 * What the session does to the outside world.  Every callback runs inside a
 * desk_fix_session_* call, on the caller's thread, with `ctx`.
 */
typedef struct desk_fix_io {
    /* Queue `len` bytes (borrowed for the call) on the connection, all or
     * nothing.  Returns 0, -EBUSY/-ENOBUFS (no room now: retry later) or
     * -ENOTCONN. */
    int (*send)(const char *buf, size_t len, void *ctx);
    /* Hand one event to deskd.  Returns 0, or -EAGAIN (ring full: the session
     * keeps the event and retries from its pending queue). */
    int (*emit)(const desk_vevent_t *ev, void *ctx);
    /* Health changed (called only on a change of state or reason). */
    void (*health)(desk_health_t state, const char *reason, void *ctx);
    /* Close the connection now (after what is queued); on_close follows. */
    void (*close)(void *ctx);
    /* One log line (cold; never on the hot path). */
    void (*log)(const char *line, void *ctx);
    void *ctx; /* passed to every callback (borrowed) */
} desk_fix_io_t;

/* Where the session hands the venue's account (desk_fix_session_on_account):
 * r and r->pos are borrowed for the call.  Returns 0, -EBUSY (deskd has not
 * taken the previous report: the next round tries again) or -EINVAL. */
typedef int (*desk_fix_account_fn)(const desk_account_report_t *r, void *ctx);

/* Session states. */
typedef enum desk_fix_state {
    DESK_FIX_DISCONNECTED = 0, /* no connection */
    DESK_FIX_LOGON_SENT = 1,   /* connected, our Logon is out */
    DESK_FIX_ACTIVE = 2,       /* logged on: orders may be sent */
    DESK_FIX_LOGOUT_SENT = 3,  /* our Logout is out, waiting for the answer */
    DESK_FIX_CLOSING = 4,      /* the connection is being closed */
} desk_fix_state_t;

/* Counters (written by the session's thread only). */
typedef struct desk_fix_stats {
    uint64_t msgs_in;         /* well-framed messages received */
    uint64_t msgs_out;        /* messages sent (resends included) */
    uint64_t garbled;         /* bytes runs dropped: bad framing, checksum, header */
    uint64_t logons;          /* Logons completed */
    uint64_t resend_requests; /* ResendRequests we sent */
    uint64_t resends_served;  /* ResendRequests from the venue we answered */
    uint64_t resent;          /* application messages resent with 43=Y */
    uint64_t gap_fills;       /* SequenceReset-GapFills we sent */
    uint64_t stale_rejects;   /* NewOrderSingles reported REJECTED as stale */
    uint64_t dup_execs;       /* ExecutionReports dropped as duplicate ExecIDs */
    uint64_t unknown_orders;  /* venue messages about ClOrdIDs we do not know */
    uint64_t test_requests;   /* TestRequests we sent */
    uint64_t heartbeats;      /* Heartbeats we sent */
    uint64_t session_rejects; /* session Rejects (35=3) received */
    uint64_t emit_overflow;   /* events lost because the pending queue was full (a bug) */
    uint64_t store_errors;    /* failed store writes */
    uint64_t status_asks;     /* OrderStatusRequests about live orders after a Logon */
    uint64_t account_rounds;  /* account request rounds started (35=AN and/or 35=BB) */
    uint64_t account_reports; /* complete reports deskd took */
    uint64_t account_busy;    /* reports deskd refused with -EBUSY */
} desk_fix_stats_t;

typedef struct desk_fix_session desk_fix_session_t;

/*
 * Allocate a session: every table (orders, ClOrdID map, ExecID set, resend
 * ring, pending events, receive buffer) is reserved here, nothing later.
 * Opens (creating it and store_dir if needed) the store file
 * <store_dir>/<sender>-<target>.seq and loads the sequence numbers it holds
 * (1 and 1 for a new file).  `io` is copied.  Returns 0; -EINVAL (bad
 * setting, named by desk_errmsg()); -ENOMEM; or the error of opening, reading
 * or creating the store (-EACCES, -EIO, ...; a store whose records are both
 * corrupt is -EBADMSG).  Cold; any thread.
 */
int desk_fix_session_create(const desk_fix_session_cfg_t *cfg, const desk_fix_io_t *io,
                            desk_fix_session_t **out);

/*
 * Ask the venue for the account (see below) and hand every complete answer
 * to fn(r, io.ctx).  Without this call (or with fn NULL) the session never
 * sends RequestForPositions or CollateralInquiry.  Cold; before the first
 * Logon.
 */
void desk_fix_session_on_account(desk_fix_session_t *s, desk_fix_account_fn fn);

/* Free everything (closes the store).  Safe with NULL.  Cold. */
void desk_fix_session_destroy(desk_fix_session_t *s);

/*
 * The connection is open: send Logon (with 141=Y and both numbers reset to 1
 * when reset_on_logon is set or a new daily session began).  `mono` is
 * CLOCK_MONOTONIC ns (timers), `wall` CLOCK_REALTIME ns (SendingTime).
 * Returns 0, or the send error.  Session thread.
 */
int desk_fix_session_on_open(desk_fix_session_t *s, uint64_t mono, uint64_t wall);

/*
 * Bytes received (any split).  Parses and handles every complete message:
 * sequence checks, gap detection (ResendRequest), resend answers, heartbeats,
 * and ExecutionReport / OrderCancelReject -> desk events.  Returns the number
 * of messages handled (>= 0).  Never fails: bad bytes are dropped and
 * counted.  Session thread.
 */
int desk_fix_session_on_data(desk_fix_session_t *s, const void *data, size_t len, uint64_t mono,
                             uint64_t wall);

/* The connection closed: DISCONNECTED, health DOWN (reason `why`, may be
 * NULL).  Session thread. */
void desk_fix_session_on_close(desk_fix_session_t *s, const char *why);

/*
 * Timers: Heartbeat after HeartBtInt of outbound silence; TestRequest (and
 * DEGRADED) after 1.2 x HeartBtInt of inbound silence; close after 2.4 x;
 * Logon and Logout deadlines; the rest of a resend; queued events.  Returns
 * the work done (0 when idle).  Session thread.
 */
int desk_fix_session_tick(desk_fix_session_t *s, uint64_t mono, uint64_t wall);

/*
 * Orders.  NEW -> NewOrderSingle (D), CANCEL -> OrderCancelRequest (F),
 * REPLACE -> OrderCancelReplaceRequest (G), ClOrdID "d<cl_ord_id>" (41 =
 * "d<orig_cl_ord_id>").  `sym` (sym_len bytes) is the instrument's symbol.
 * Returns 0 (sent); -ENOTCONN (not logged on); -EBUSY (a resend is in
 * progress or the send buffer is full: retry); -EINVAL (a ClOrdID already
 * used, or a command the codec refuses); -ENOSPC (order table full).
 * No allocation; hot path (one pwrite to the store).  Session thread.
 */
int desk_fix_session_new(desk_fix_session_t *s, const desk_vcmd_t *cmd, const char *sym,
                         size_t sym_len, uint64_t mono, uint64_t wall);
int desk_fix_session_cancel(desk_fix_session_t *s, const desk_vcmd_t *cmd, const char *sym,
                            size_t sym_len, uint64_t mono, uint64_t wall);
int desk_fix_session_replace(desk_fix_session_t *s, const desk_vcmd_t *cmd, const char *sym,
                             size_t sym_len, uint64_t mono, uint64_t wall);

/*
 * Recovery: track an order deskd recovered from its journal (sent by an
 * earlier run) without sending anything: cmd->cl_ord_id is its live venue
 * ClOrdID number and cmd->orig_cl_ord_id the request in flight (0 if none),
 * so that the venue's ExecutionReports about them (the resend after logon)
 * map to cmd->order_id again.  Once logged on (after the resend) it sends an
 * OrderStatusRequest (35=H) about each (the order's ClOrdID, or the pending
 * request's); an answer 150=I that says the venue does not know it (39=8,
 * 37=NONE) reports the order REJECTED (or the request CANCEL_REJECT), one that
 * says New/Canceled/Expired reports that; fills come from the resend.
 * `sym` is the instrument's symbol (borrowed).  Returns 0, -EINVAL (0 or already mapped) or
 * -ENOSPC.  Session thread; before the first Logon.
 */
int desk_fix_session_adopt(desk_fix_session_t *s, const desk_vcmd_t *cmd, const char *sym,
                           size_t sym_len);

/*
 * After every Logon (once the venue's resend and the recovery requests are
 * done) the session also sends an OrderStatusRequest (35=H) about every
 * order that is still live in its table: reports the venue sent while the
 * connection was down are normally resent (stored sequence numbers), but are
 * lost when either side reset the numbers (141=Y, a new daily session) or
 * the venue gap-fills instead of resending.  The answer (150=I) fills the
 * difference between the venue's CumQty and the one the session saw with a
 * catch-up FILL (DESK_VEV_CATCHUP; its exec_id is derived from the order and
 * the venue's CumQty, so the same CumQty twice is one fill for the router),
 * and settles what the desk could not know: an order the venue never
 * received is REJECTED; a cancel it never received is CANCEL_REJECT and the
 * order itself is then asked too (its own fills may be lost); a cancel it
 * refused, or one on an order it shows filled (too late), is CANCEL_REJECT;
 * a replace it shows live or filled under the replace's ClOrdID at the
 * requested OrderQty and Price is REPLACED (other figures: left pending,
 * logged); an order it canceled or expired is reported so; an order the
 * venue acknowledged before and no longer knows is only logged.  Answers
 * are not de-duplicated by ExecID (venues send 17=0 on every one): the
 * first answer to each request counts, later ones are informational.
 *
 * Account (desk_fix_session_on_account): after every Logon and then every
 * reconcile_interval_ns, RequestForPositions (35=AN, PosReqType 0) and
 * CollateralInquiry (35=BB); the answers (RequestForPositionsAck 35=AO and
 * PositionReport 35=AP per instrument; CollateralReport 35=BA, CashOutstanding
 * 901 = cash, MarginExcess 899 = buying power) become one
 * desk_account_report_t with DESK_REPORT_POSITIONS and/or
 * DESK_REPORT_BALANCE.  The report waits until every event emitted before it
 * has reached deskd (none left in the pending queue), and a round during
 * which a FILL was emitted is taken again (at most twice; then it goes as it
 * is), so positions and balance are of one moment.  A venue that refuses one of the requests
 * (BusinessMessageReject 35=j or Reject 35=3 naming it, a RequestForPositionsAck
 * or CollateralInquiryAck that rejects it) has that part turned off for the
 * rest of the session's life, with one log line; the session is not
 * degraded.  See README.md for the fields.
 */

/*
 * Send Logout (58 = text, may be NULL) and wait for the answer (the Logout
 * deadline then closes).  Returns 0, -ENOTCONN (not logged on) or the send
 * error.  Session thread.
 */
int desk_fix_session_logout(desk_fix_session_t *s, const char *text, uint64_t mono, uint64_t wall);

/* Reset both sequence numbers to 1 now (and in the store).  Cold. */
int desk_fix_session_reset_seqs(desk_fix_session_t *s);

/* 1 when `wall` lies inside the configured daily session (always 1 without
 * session_start/session_end).  Pure. */
int desk_fix_session_in_hours(const desk_fix_session_t *s, uint64_t wall);

/* State, next MsgSeqNum to send, next expected, health, counters. */
desk_fix_state_t desk_fix_session_state(const desk_fix_session_t *s);
uint64_t desk_fix_session_next_out(const desk_fix_session_t *s);
uint64_t desk_fix_session_next_in(const desk_fix_session_t *s);
desk_health_t desk_fix_session_health(const desk_fix_session_t *s);
const desk_fix_stats_t *desk_fix_session_stats(const desk_fix_session_t *s);

/*
 * Parse "HH:MM:SS" (or "HH:MM") into seconds after midnight.  Returns 0 or
 * -EINVAL.  Pure.
 */
int desk_fix_parse_tod(const char *s, int32_t *out);

#ifdef __cplusplus
}
#endif

#endif /* DESK_FIX_SESSION_H */
