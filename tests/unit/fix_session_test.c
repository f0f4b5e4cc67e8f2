/*
 * fix_session_test.c - the FIX 4.4 initiator session state machine
 * (connectors/fix/session.c) driven with canned bytes and injected time: no
 * sockets, no threads.  The "venue" here is desk's own codec with the
 * CompIDs swapped; every byte the session sends is captured and parsed back.
 *
 * test_logon              Logon 35=A 34=1 98=0 108=30 (141=Y only with
 *                         reset_on_logon); the venue's Logon -> ACTIVE, UP.
 * test_heartbeat_timing   Heartbeat exactly at HeartBtInt of outbound
 *                         silence; TestRequest and DEGRADED at 1.2 x of
 *                         inbound silence, UP again on the answer; close at
 *                         2.4 x; a TestRequest from the venue is answered
 *                         with its 112.
 * test_gap_resend_request a number too high -> one ResendRequest 7=next 16=0;
 *                         the application message beyond the gap is held
 *                         back until the venue resends it (43=Y): one FILL;
 *                         a GapFill closes the gap; a repeat with 43=Y below
 *                         next_in is ignored.
 * test_peer_resend        the venue's ResendRequest 7=1 16=0: admin numbers
 *                         gap-filled (35=4 123=Y 43=Y 36=next), D and F
 *                         resent with 43=Y, 122 = original SendingTime, the
 *                         same 34 and body; next_out unchanged.
 * test_stale_new_order    a NewOrderSingle older than max_resend_age_ms is
 *                         gap-filled, never resent, and its order REJECTED
 *                         (DESK_REJ_VENUE, logged as stale) unless the venue
 *                         had answered it; later reports of it are ignored.
 * test_seq_too_low        34 below next_in without 43=Y -> Logout "MsgSeqNum
 *                         too low, expecting 3 but received 2", close; with
 *                         43=Y it is ignored.
 * test_persist            numbers survive destroy + create (the next Logon
 *                         has the stored 34); a torn record falls back to the
 *                         other; a store with no valid record is -EBADMSG.
 * test_exec_mapping       ack, fills, duplicate ExecID dropped, replace
 *                         chain 11/41, OrderCancelReject once per request,
 *                         cancel, unknown ClOrdID ignored, session Reject of
 *                         a NewOrderSingle -> REJECT.
 * test_garbled            a bad CheckSum -> DEGRADED; the next in-sequence
 *                         message -> UP.
 * test_emit_backpressure  events refused with -EAGAIN are kept and sent in
 *                         order by tick().
 * test_options            create() names an unknown option, a missing cash;
 *                         session hours parse and apply.
 * test_relogon_status     after a Logon with a sequence reset, one
 *                         OrderStatusRequest per live order (the pending
 *                         cancel's ClOrdID when there is one): a fill lost
 *                         with the reset comes as one catch-up FILL, a
 *                         cancel carried out as CANCELED, an order the venue
 *                         never got as REJECT, an acknowledged order it
 *                         forgot only logged, a replace shown live at its
 *                         OrderQty/Price REPLACED; without a reset the
 *                         resend's fill and the answer make exactly one FILL.
 * test_account_round      35=AN / 35=BB after the Logon (every field the
 *                         dictionary requires), AO + AP (SOD + TQ, FIN) + BA
 *                         -> one report with both positions and the balance;
 *                         the requests resent (43=Y) when the venue asks;
 *                         answers of an old round ignored; the next round
 *                         after reconcile_interval; -EBUSY logged once.
 * test_account_refused    BusinessMessageReject of 35=AN and Reject of 35=BB
 *                         turn each part off with one log line, the session
 *                         stays UP; a RequestForPositionsAck 728=4 or a
 *                         CollateralInquiryAck 945=4 do the same.
 * test_status_exec_id0    two status answers with ExecID 17=0 are both
 *                         handled; a catch-up FILL's exec_id is the same for
 *                         the same order and CumQty (recovery path too).
 * test_status_reask_order a cancel the venue does not know: CANCEL_REJECT,
 *                         then the order itself is asked on the same Logon.
 * test_status_pending_requests  a replace shown at other figures stays
 *                         pending (logged); a cancel on an order shown filled
 *                         is CANCEL_REJECT after the catch-up FILL.
 * test_account_hold       the report waits for the queued events before it;
 *                         a round a FILL overtook is taken again, the period
 *                         unchanged.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "connectors/fix/codec.h"
#include "connectors/fix/session.h"
#include "core/err.h"

#define SEC UINT64_C(1000000000)
#define MSN UINT64_C(1000000)
#define E8 INT64_C(100000000)
#define T0 (UINT64_C(1000) * SEC)       /* injected CLOCK_MONOTONIC */
#define W0 (UINT64_C(1735741800) * SEC) /* 2025-01-01 14:30:00 UTC */

/* ------------------------------------------------------------ capture */

struct cap {
    char out[1 << 18]; /* every byte the session sent */
    size_t out_len;
    size_t cursor;        /* next unread sent message */
    desk_vevent_t ev[64]; /* events emitted */
    int nev;
    int refuse_emit;      /* >0: refuse this many emits with -EAGAIN */
    int closes;           /* io.close calls */
    desk_health_t health; /* last health reported */
    char reason[64];
    char logs[16384]; /* every log line */
    desk_fix_field_t fields[256];
    desk_fix_msg_t m;      /* the last message taken */
    desk_fix_tmpl_t venue; /* SIMVENUE -> CLIENT1 */
    char vbuf[2048];
    int acct_rc;                /* what the account callback returns */
    int nrep;                   /* account reports handed over */
    desk_account_report_t rep;  /* the last one (rep.pos points at rep_pos) */
    desk_position_t rep_pos[8]; /* its positions */
};

static int c_send(const char *buf, size_t len, void *ctx)
{
    struct cap *c = ctx;
    assert_true(c->out_len + len <= sizeof c->out);
    memcpy(c->out + c->out_len, buf, len);
    c->out_len += len;
    return 0;
}

static int c_emit(const desk_vevent_t *ev, void *ctx)
{
    struct cap *c = ctx;
    if (c->refuse_emit > 0) {
        c->refuse_emit--;
        return -EAGAIN;
    }
    assert_true(c->nev < 64);
    c->ev[c->nev++] = *ev;
    return 0;
}

static void c_health(desk_health_t h, const char *reason, void *ctx)
{
    struct cap *c = ctx;
    c->health = h;
    snprintf(c->reason, sizeof c->reason, "%s", reason);
}

static void c_close(void *ctx)
{
    struct cap *c = ctx;
    c->closes++;
}

static void c_log(const char *line, void *ctx)
{
    struct cap *c = ctx;
    size_t n = strlen(c->logs);
    snprintf(c->logs + n, sizeof c->logs - n, "%s\n", line);
}

static int c_account(const desk_account_report_t *r, void *ctx)
{
    struct cap *c = ctx;
    c->nrep++;
    c->rep = *r;
    assert_true(r->npos <= 8);
    if (r->npos)
        memcpy(c->rep_pos, r->pos, r->npos * sizeof *r->pos);
    c->rep.pos = c->rep_pos;
    return c->acct_rc;
}

static struct cap *cap_new(void)
{
    struct cap *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(desk_fix_msg_init(&c->m, c->fields, 256), 0);
    assert_int_equal(desk_fix_tmpl_init(&c->venue, "SIMVENUE", "CLIENT1"), 0);
    c->health = DESK_DOWN;
    return c;
}

static desk_fix_session_cfg_t cfg_default(void)
{
    desk_fix_session_cfg_t sc = {
        .sender = "CLIENT1",
        .target = "SIMVENUE",
        .heartbeat_s = 30,
        .max_resend_age_ns = 5 * SEC,
        .max_orders = 64,
        .resend_ring = 64,
        .session_start_s = -1,
        .session_end_s = -1,
    };
    return sc;
}

static desk_fix_session_t *sess_new(struct cap *c, const desk_fix_session_cfg_t *sc)
{
    desk_fix_io_t io = {c_send, c_emit, c_health, c_close, c_log, c};
    desk_fix_session_t *s = NULL;
    int rc = desk_fix_session_create(sc, &io, &s);
    if (rc != 0)
        fail_msg("create: %d %s", rc, desk_errmsg());
    return s;
}

/* The next message the session sent: 1, or 0 if there is none. */
static int take(struct cap *c)
{
    size_t used = 0;
    if (c->cursor >= c->out_len)
        return 0;
    int rc = desk_fix_parse(c->out + c->cursor, c->out_len - c->cursor, &c->m, &used);
    assert_int_equal(rc, 0);
    c->cursor += used;
    return 1;
}

/* Field `tag` of the last taken message as a NUL-terminated string ("" if absent). */
static const char *fld(struct cap *c, uint32_t tag)
{
    static char buf[8][128];
    static int k;
    desk_fix_sv_t v;
    char *b = buf[k++ % 8];
    if (desk_fix_get_str(&c->m, tag, &v) != 0)
        return "";
    snprintf(b, 128, "%.*s", (int)v.len, v.p);
    return b;
}

static int has(struct cap *c, uint32_t tag)
{
    return desk_fix_find(&c->m, tag) >= 0;
}

/* Take the next sent message and check its MsgType and MsgSeqNum. */
static void expect_sent(struct cap *c, const char *type, uint64_t seq)
{
    if (!take(c))
        fail_msg("expected 35=%s 34=%llu, nothing sent", type, (unsigned long long)seq);
    assert_string_equal(fld(c, DESK_FIX_MsgType), type);
    char sq[24];
    snprintf(sq, sizeof sq, "%llu", (unsigned long long)seq);
    assert_string_equal(fld(c, DESK_FIX_MsgSeqNum), sq);
}

static void expect_nothing_sent(struct cap *c)
{
    if (take(c))
        fail_msg("unexpected message 35=%s 34=%s", fld(c, DESK_FIX_MsgType),
                 fld(c, DESK_FIX_MsgSeqNum));
}

/*
 * The venue sends one message: type, seq, optional PossDup (orig != 0), then
 * body fields "tag=value|tag=value" ('|' separates).  Fed to the session.
 */
static void venue(struct cap *c, desk_fix_session_t *s, uint64_t mono, const char *type,
                  uint64_t seq, uint64_t possdup_orig, const char *body)
{
    desk_fix_enc_t e;
    const char *msg;
    char tmp[1024];

    desk_fix_enc_begin(&e, &c->venue, c->vbuf, sizeof c->vbuf, type, seq, W0 + (mono - T0));
    if (possdup_orig)
        desk_fix_enc_possdup(&e, possdup_orig);
    snprintf(tmp, sizeof tmp, "%s", body ? body : "");
    for (char *p = tmp, *f; p && *p; p = f) {
        f = strchr(p, '|');
        if (f)
            *f++ = '\0';
        char *eq = strchr(p, '=');
        assert_non_null(eq);
        *eq = '\0';
        desk_fix_enc_str(&e, (uint32_t)atoi(p), eq + 1, strlen(eq + 1));
    }
    int n = desk_fix_enc_finish(&e, &msg);
    assert_true(n > 0);
    desk_fix_session_on_data(s, msg, (size_t)n, mono, W0 + (mono - T0));
}

static uint64_t wall(uint64_t mono)
{
    return W0 + (mono - T0);
}

/* Connect and log on (Logon 1 <-> 1); the captured Logon is consumed. */
static void logon(struct cap *c, desk_fix_session_t *s, uint64_t mono)
{
    assert_int_equal(desk_fix_session_on_open(s, mono, wall(mono)), 0);
    assert_true(take(c));
    assert_string_equal(fld(c, DESK_FIX_MsgType), "A");
    char seq[24];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)desk_fix_session_next_in(s));
    venue(c, s, mono, "A", desk_fix_session_next_in(s), 0, "98=0|108=30");
    assert_int_equal(desk_fix_session_state(s), DESK_FIX_ACTIVE);
}

static desk_vcmd_t cmd_new(uint64_t order_id, uint64_t cl, int64_t qty, int64_t px)
{
    desk_vcmd_t v = {0};
    v.type = DESK_CMD_NEW;
    v.side = DESK_BUY;
    v.ord_type = DESK_LIMIT;
    v.tif = DESK_DAY;
    v.instrument = 3;
    v.order_id = order_id;
    v.cl_ord_id = cl;
    v.qty = qty;
    v.px = px;
    return v;
}

static desk_vcmd_t cmd_req(uint8_t type, const desk_vcmd_t *o, uint64_t cl, uint64_t orig)
{
    desk_vcmd_t v = *o;
    v.type = type;
    v.cl_ord_id = cl;
    v.orig_cl_ord_id = orig;
    return v;
}

/* ExecutionReport body for the venue. */
static const char *er(char exec_type, char status, const char *clid, const char *orig,
                      const char *exec_id, const char *last_qty, const char *cum,
                      const char *leaves)
{
    static char b[512];
    int n = snprintf(b, sizeof b, "37=SIM-1|11=%s|", clid);
    if (orig)
        n += snprintf(b + n, sizeof b - (size_t)n, "41=%s|", orig);
    n += snprintf(b + n, sizeof b - (size_t)n, "17=%s|150=%c|39=%c|55=AMZN|54=1|", exec_id,
                  exec_type, status);
    if (last_qty)
        n += snprintf(b + n, sizeof b - (size_t)n, "32=%s|31=150.25|", last_qty);
    snprintf(b + n, sizeof b - (size_t)n, "151=%s|14=%s|6=150.25", leaves, cum);
    return b;
}

/* ------------------------------------------------------------ tests */

static void test_logon(void **state)
{
    (void)state;
    for (int reset = 0; reset < 2; reset++) {
        struct cap *c = cap_new();
        desk_fix_session_cfg_t sc = cfg_default();
        sc.reset_on_logon = (uint8_t)reset;
        desk_fix_session_t *s = sess_new(c, &sc);

        assert_int_equal(desk_fix_session_health(s), DESK_DOWN);
        assert_int_equal(desk_fix_session_on_open(s, T0, W0), 0);
        expect_sent(c, "A", 1);
        assert_string_equal(fld(c, DESK_FIX_SenderCompID), "CLIENT1");
        assert_string_equal(fld(c, DESK_FIX_TargetCompID), "SIMVENUE");
        assert_string_equal(fld(c, DESK_FIX_EncryptMethod), "0");
        assert_string_equal(fld(c, DESK_FIX_HeartBtInt), "30");
        assert_string_equal(fld(c, DESK_FIX_SendingTime), "20250101-14:30:00.000");
        assert_int_equal(has(c, DESK_FIX_ResetSeqNumFlag), reset);
        if (reset)
            assert_string_equal(fld(c, DESK_FIX_ResetSeqNumFlag), "Y");
        assert_int_equal(desk_fix_session_state(s), DESK_FIX_LOGON_SENT);
        /* Anything but a Logon first is a protocol error. */
        venue(c, s, T0, "A", 1, 0, reset ? "98=0|108=30|141=Y" : "98=0|108=30");
        assert_int_equal(desk_fix_session_state(s), DESK_FIX_ACTIVE);
        assert_int_equal(c->health, DESK_UP);
        assert_int_equal(desk_fix_session_next_out(s), 2);
        assert_int_equal(desk_fix_session_next_in(s), 2);
        assert_int_equal(desk_fix_session_stats(s)->logons, 1);
        expect_nothing_sent(c);
        desk_fix_session_destroy(s);
        free(c);
    }
    /* The venue refuses the Logon with a Logout: closed, never UP. */
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    desk_fix_session_t *s = sess_new(c, &sc);
    assert_int_equal(desk_fix_session_on_open(s, T0, W0), 0);
    venue(c, s, T0, "5", 1, 0, "58=bad password");
    assert_int_equal(c->closes, 1);
    assert_non_null(strstr(c->logs, "bad password"));
    desk_fix_session_on_close(s, "closed");
    assert_int_equal(c->health, DESK_DOWN);
    /* No Logon answer within the deadline: closed. */
    assert_int_equal(desk_fix_session_on_open(s, T0, W0), 0);
    desk_fix_session_tick(s, T0 + 9 * SEC, wall(T0 + 9 * SEC));
    assert_int_equal(c->closes, 1);
    desk_fix_session_tick(s, T0 + 10 * SEC, wall(T0 + 10 * SEC));
    assert_int_equal(c->closes, 2);
    desk_fix_session_destroy(s);
    free(c);
}

static void test_heartbeat_timing(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    desk_fix_session_t *s = sess_new(c, &sc);
    uint64_t t = T0;

    logon(c, s, t);
    /* An order stamped after the `now` of the next tick (deskd's order ops
     * read the clock, poll gets the turn's earlier time): no Heartbeat. */
    desk_vcmd_t o = cmd_new(7, 100, 10 * E8, 150 * E8);
    assert_int_equal(desk_fix_session_new(s, &o, "AMZN", 4, t + MSN, wall(t + MSN)), 0);
    expect_sent(c, "D", 2);
    desk_fix_session_tick(s, t, wall(t));
    expect_nothing_sent(c);
    /* Outbound silence: a Heartbeat at exactly HeartBtInt, not before. */
    venue(c, s, t + 29 * SEC, "0", 2, 0, NULL); /* keeps the inbound side alive */
    assert_int_equal(desk_fix_session_tick(s, t + MSN + 30 * SEC - 1, wall(t + MSN + 30 * SEC - 1)),
                     0);
    expect_nothing_sent(c);
    desk_fix_session_tick(s, t + MSN + 30 * SEC, wall(t + MSN + 30 * SEC));
    expect_sent(c, "0", 3);
    assert_false(has(c, DESK_FIX_TestReqID));

    /* Inbound silence since t+29: TestRequest at 1.2 x 30 s = 36 s. */
    uint64_t last_in = t + 29 * SEC;
    venue(c, s, last_in, "0", 3, 0, NULL); /* (same instant) */
    desk_fix_session_tick(s, last_in + 36 * SEC - 1, wall(last_in + 36 * SEC - 1));
    /* A Heartbeat of ours is due (30 s after t+30); no TestRequest yet. */
    expect_sent(c, "0", 4);
    expect_nothing_sent(c);
    assert_int_equal(c->health, DESK_UP);
    desk_fix_session_tick(s, last_in + 36 * SEC, wall(last_in + 36 * SEC));
    expect_sent(c, "1", 5);
    char id[64];
    snprintf(id, sizeof id, "%s", fld(c, DESK_FIX_TestReqID));
    assert_true(strlen(id) > 0);
    assert_int_equal(c->health, DESK_DEGRADED);
    assert_non_null(strstr(c->reason, "heartbeat"));
    /* Only one TestRequest while it is outstanding. */
    desk_fix_session_tick(s, last_in + 40 * SEC, wall(last_in + 40 * SEC));
    expect_nothing_sent(c);
    /* The answer: UP again. */
    char body[96];
    snprintf(body, sizeof body, "112=%s", id);
    venue(c, s, last_in + 41 * SEC, "0", 4, 0, body);
    assert_int_equal(c->health, DESK_UP);
    assert_int_equal(c->closes, 0);

    /* The venue's TestRequest is answered with its id. */
    venue(c, s, last_in + 42 * SEC, "1", 5, 0, "112=HELLO");
    expect_sent(c, "0", 6);
    assert_string_equal(fld(c, DESK_FIX_TestReqID), "HELLO");

    /* Silence again: TestRequest at +36 s, connection lost at +72 s. */
    uint64_t q = last_in + 42 * SEC;
    desk_fix_session_tick(s, q + 36 * SEC, wall(q + 36 * SEC));
    while (take(c))
        ;
    assert_int_equal(c->health, DESK_DEGRADED);
    desk_fix_session_tick(s, q + 72 * SEC - 1, wall(q + 72 * SEC - 1));
    assert_int_equal(c->closes, 0);
    desk_fix_session_tick(s, q + 72 * SEC, wall(q + 72 * SEC));
    assert_int_equal(c->closes, 1);
    assert_non_null(strstr(c->logs, "connection lost"));
    desk_fix_session_on_close(s, "lost");
    assert_int_equal(c->health, DESK_DOWN);
    assert_int_equal(desk_fix_session_state(s), DESK_FIX_DISCONNECTED);
    desk_fix_session_destroy(s);
    free(c);
}

static void test_gap_resend_request(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    desk_fix_session_t *s = sess_new(c, &sc);
    uint64_t t = T0;

    logon(c, s, t);
    desk_vcmd_t o = cmd_new(7, 100, 10 * E8, 150 * E8);
    assert_int_equal(desk_fix_session_new(s, &o, "AMZN", 4, t, wall(t)), 0);
    expect_sent(c, "D", 2);
    venue(c, s, t, "8", 2, 0, er('0', '0', "d100", NULL, "E1", NULL, "0", "10"));
    assert_int_equal(c->nev, 1);
    assert_int_equal(c->ev[0].type, DESK_EV_ACK);

    /* 3 and 4 are lost; 5 (a fill) shows the gap. */
    venue(c, s, t + SEC, "8", 5, 0, er('F', '1', "d100", NULL, "E4", "4", "4", "6"));
    expect_sent(c, "2", 3);
    assert_string_equal(fld(c, DESK_FIX_BeginSeqNo), "3");
    assert_string_equal(fld(c, DESK_FIX_EndSeqNo), "0");
    assert_int_equal(c->nev, 1); /* held back: it comes again in the resend */
    assert_int_equal(desk_fix_session_next_in(s), 3);
    /* More beyond the gap: no second ResendRequest. */
    venue(c, s, t + SEC, "0", 6, 0, NULL);
    expect_nothing_sent(c);
    assert_int_equal(desk_fix_session_stats(s)->resend_requests, 1);

    /* The resend: 3 (admin: gap fill to 4), 4 (a fill), 5 (the fill again), 6 (admin). */
    uint64_t orig = wall(t + SEC);
    venue(c, s, t + 2 * SEC, "4", 3, orig, "123=Y|36=4");
    assert_int_equal(desk_fix_session_next_in(s), 4);
    venue(c, s, t + 2 * SEC, "8", 4, orig, er('F', '1', "d100", NULL, "E3", "2", "2", "8"));
    venue(c, s, t + 2 * SEC, "8", 5, orig, er('F', '1', "d100", NULL, "E4", "4", "6", "4"));
    venue(c, s, t + 2 * SEC, "4", 6, orig, "123=Y|36=7");
    assert_int_equal(desk_fix_session_next_in(s), 7);
    assert_int_equal(c->nev, 3);
    assert_int_equal(c->ev[1].type, DESK_EV_FILL);
    assert_int_equal(c->ev[1].last_qty, 2 * E8);
    assert_int_equal(c->ev[2].type, DESK_EV_FILL);
    assert_int_equal(c->ev[2].last_qty, 4 * E8);
    assert_int_equal(c->ev[2].cum_qty, 6 * E8);
    assert_non_null(strstr(c->logs, "gap filled"));
    /* A repeat below next_in with 43=Y: ignored, no second event, no Logout. */
    venue(c, s, t + 3 * SEC, "8", 5, orig, er('F', '1', "d100", NULL, "E4", "4", "6", "4"));
    assert_int_equal(c->nev, 3);
    assert_int_equal(c->closes, 0);
    expect_nothing_sent(c);
    /* SequenceReset in reset mode: 34 ignored, NewSeqNo must not go back. */
    venue(c, s, t + 3 * SEC, "4", 0, 0, "36=20");
    assert_int_equal(desk_fix_session_next_in(s), 20);
    venue(c, s, t + 3 * SEC, "4", 0, 0, "36=10");
    expect_sent(c, "3", 4);
    assert_string_equal(fld(c, DESK_FIX_SessionRejectReason), "5");
    assert_int_equal(desk_fix_session_next_in(s), 20);
    desk_fix_session_destroy(s);
    free(c);
}

static void test_peer_resend(void **state)
{
    (void)state;
    desk_fix_session_cfg_t sc = cfg_default();
    uint64_t t = T0;
    /* max age 60 s: the NewOrderSingle is 32 s old at the resend (staleness
     * has its own test). */
    desk_vcmd_t o = cmd_new(7, 100, 10 * E8, 150 * E8);
    uint64_t t_new = t + 1500 * MSN;
    desk_vcmd_t x = cmd_req(DESK_CMD_CANCEL, &o, 101, 100);
    uint64_t t_cxl = t_new + 31 * SEC;
    char sent_d[512];

    struct cap *c = cap_new();
    sc.max_resend_age_ns = 60 * SEC;
    desk_fix_session_t *s = sess_new(c, &sc);
    logon(c, s, t);
    assert_int_equal(desk_fix_session_new(s, &o, "AMZN", 4, t_new, wall(t_new)), 0);
    expect_sent(c, "D", 2);
    snprintf(sent_d, sizeof sent_d, "%.*s", (int)c->m.len, c->m.buf);
    desk_fix_session_tick(s, t_new + 30 * SEC, wall(t_new + 30 * SEC));
    expect_sent(c, "0", 3);
    venue(c, s, t_new + 30 * SEC, "0", 2, 0, NULL);
    assert_int_equal(desk_fix_session_cancel(s, &x, "AMZN", 4, t_cxl, wall(t_cxl)), 0);
    expect_sent(c, "F", 4);
    uint64_t t_rr = t_cxl + SEC;
    venue(c, s, t_rr, "2", 3, 0, "7=1|16=0");
    /* 1: Logon -> gap fill to 2. */
    expect_sent(c, "4", 1);
    assert_string_equal(fld(c, DESK_FIX_GapFillFlag), "Y");
    assert_string_equal(fld(c, DESK_FIX_NewSeqNo), "2");
    assert_string_equal(fld(c, DESK_FIX_PossDupFlag), "Y");
    assert_true(has(c, DESK_FIX_OrigSendingTime));
    /* 2: the NewOrderSingle again, 43=Y, 122 = its first SendingTime. */
    expect_sent(c, "D", 2);
    assert_string_equal(fld(c, DESK_FIX_PossDupFlag), "Y");
    assert_string_equal(fld(c, DESK_FIX_OrigSendingTime), "20250101-14:30:01.500");
    assert_string_equal(fld(c, DESK_FIX_SendingTime), "20250101-14:30:33.500");
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d100");
    assert_string_equal(fld(c, DESK_FIX_TransactTime), "20250101-14:30:01.500");
    assert_string_equal(fld(c, DESK_FIX_Price), "150");
    /* Same body as the first time: everything after 52 up to 10 matches. */
    const char *b0 = strstr(sent_d, "\00111="), *b1 = strstr(c->m.buf, "\00111=");
    assert_non_null(b0);
    assert_non_null(b1);
    assert_memory_equal(b0, b1, (size_t)(strstr(b0, "\00110=") - b0));
    /* 3: Heartbeat -> gap fill to 4; 4: the cancel, resent. */
    expect_sent(c, "4", 3);
    assert_string_equal(fld(c, DESK_FIX_NewSeqNo), "4");
    expect_sent(c, "F", 4);
    assert_string_equal(fld(c, DESK_FIX_PossDupFlag), "Y");
    assert_string_equal(fld(c, DESK_FIX_OrigSendingTime), "20250101-14:30:32.500");
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d101");
    expect_nothing_sent(c);
    assert_int_equal(desk_fix_session_next_out(s), 5);
    assert_int_equal(desk_fix_session_stats(s)->resent, 2);
    assert_int_equal(desk_fix_session_stats(s)->gap_fills, 2);
    /* A bounded request: 3..3 only. */
    venue(c, s, t_rr, "2", 4, 0, "7=3|16=3");
    expect_sent(c, "4", 3);
    assert_string_equal(fld(c, DESK_FIX_NewSeqNo), "4");
    expect_nothing_sent(c);
    /* Life goes on at 5. */
    desk_vcmd_t o2 = cmd_new(8, 102, 1 * E8, 150 * E8);
    assert_int_equal(desk_fix_session_new(s, &o2, "AMZN", 4, t_rr, wall(t_rr)), 0);
    expect_sent(c, "D", 5);
    assert_false(has(c, DESK_FIX_PossDupFlag));
    desk_fix_session_destroy(s);
    free(c);
}

static void test_stale_new_order(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    sc.max_resend_age_ns = 1 * SEC;
    desk_fix_session_t *s = sess_new(c, &sc);
    uint64_t t = T0;

    logon(c, s, t);
    desk_vcmd_t a = cmd_new(7, 100, 10 * E8, 150 * E8); /* never answered */
    desk_vcmd_t b = cmd_new(8, 101, 10 * E8, 150 * E8); /* acknowledged */
    assert_int_equal(desk_fix_session_new(s, &a, "AMZN", 4, t, wall(t)), 0);
    assert_int_equal(desk_fix_session_new(s, &b, "AMZN", 4, t, wall(t)), 0);
    expect_sent(c, "D", 2);
    expect_sent(c, "D", 3);
    venue(c, s, t, "8", 2, 0, er('0', '0', "d101", NULL, "E1", NULL, "0", "10"));
    assert_int_equal(c->nev, 1);
    /* Fresh: resent. */
    venue(c, s, t + 500 * MSN, "2", 3, 0, "7=2|16=2");
    expect_sent(c, "D", 2);
    assert_string_equal(fld(c, DESK_FIX_PossDupFlag), "Y");
    /* 2 s later both are stale: one gap fill over 2..3, nothing resent. */
    venue(c, s, t + 2 * SEC, "2", 4, 0, "7=2|16=0");
    expect_sent(c, "4", 2);
    assert_string_equal(fld(c, DESK_FIX_NewSeqNo), "4");
    expect_nothing_sent(c);
    /* a is REJECTED as stale, b (the venue has it) is not. */
    assert_int_equal(c->nev, 2);
    assert_int_equal(c->ev[1].type, DESK_EV_REJECT);
    assert_int_equal(c->ev[1].order_id, 7);
    assert_int_equal(c->ev[1].reason, DESK_REJ_VENUE);
    assert_int_equal(desk_fix_session_stats(s)->stale_rejects, 1);
    assert_non_null(strstr(c->logs, "REJECTED as stale"));
    assert_non_null(strstr(c->logs, "max_resend_age_ms 1000"));
    /* Asked again: no second REJECT. */
    venue(c, s, t + 3 * SEC, "2", 5, 0, "7=2|16=0");
    expect_sent(c, "4", 2);
    assert_int_equal(c->nev, 2);
    /* A late report about a: ignored (it was reported REJECTED). */
    venue(c, s, t + 3 * SEC, "8", 6, 0, er('0', '0', "d100", NULL, "E9", NULL, "0", "10"));
    assert_int_equal(c->nev, 2);
    desk_fix_session_destroy(s);
    free(c);

    /* max_resend_age_ms = 0: a NewOrderSingle is never resent. */
    c = cap_new();
    sc.max_resend_age_ns = 0;
    s = sess_new(c, &sc);
    logon(c, s, t);
    assert_int_equal(desk_fix_session_new(s, &a, "AMZN", 4, t, wall(t)), 0);
    expect_sent(c, "D", 2);
    venue(c, s, t, "2", 2, 0, "7=2|16=0");
    expect_sent(c, "4", 2);
    assert_int_equal(c->nev, 1);
    assert_int_equal(c->ev[0].type, DESK_EV_REJECT);
    desk_fix_session_destroy(s);
    free(c);
}

static void test_seq_too_low(void **state)
{
    (void)state;
    for (int possdup = 0; possdup < 2; possdup++) {
        struct cap *c = cap_new();
        desk_fix_session_cfg_t sc = cfg_default();
        desk_fix_session_t *s = sess_new(c, &sc);
        logon(c, s, T0);
        venue(c, s, T0, "0", 2, 0, NULL);
        assert_int_equal(desk_fix_session_next_in(s), 3);
        venue(c, s, T0, "0", 2, possdup ? W0 : 0, NULL);
        if (possdup) {
            expect_nothing_sent(c);
            assert_int_equal(c->closes, 0);
            assert_int_equal(desk_fix_session_state(s), DESK_FIX_ACTIVE);
        } else {
            expect_sent(c, "5", 2);
            assert_string_equal(fld(c, DESK_FIX_Text),
                                "MsgSeqNum too low, expecting 3 but received 2");
            assert_int_equal(c->closes, 1);
            assert_int_equal(desk_fix_session_state(s), DESK_FIX_CLOSING);
            /* Nothing more is read. */
            venue(c, s, T0, "0", 3, 0, NULL);
            assert_int_equal(desk_fix_session_next_in(s), 3);
        }
        desk_fix_session_destroy(s);
        free(c);
    }
    /* Too low in the Logon answer: Logout too. */
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    desk_fix_session_t *s = sess_new(c, &sc);
    logon(c, s, T0);
    venue(c, s, T0, "0", 2, 0, NULL);
    desk_fix_session_on_close(s, "x");
    assert_int_equal(desk_fix_session_on_open(s, T0, W0), 0);
    expect_sent(c, "A", 2);
    venue(c, s, T0, "A", 1, 0, "98=0|108=30");
    expect_sent(c, "5", 3);
    assert_string_equal(fld(c, DESK_FIX_Text), "MsgSeqNum too low, expecting 3 but received 1");
    assert_int_equal(c->closes, 1);
    desk_fix_session_destroy(s);
    free(c);
}

static int rm_one(const char *p, const struct stat *sb, int f, struct FTW *ftw)
{
    (void)sb;
    (void)f;
    (void)ftw;
    return remove(p);
}

static void test_persist(void **state)
{
    (void)state;
    char dir[64], file[160];
    snprintf(dir, sizeof dir, "/tmp/desk-fix-session-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char store[96];
    snprintf(store, sizeof store, "%s/store", dir); /* created by the session */
    snprintf(file, sizeof file, "%s/CLIENT1-SIMVENUE.seq", store);

    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    sc.store_dir = store;
    desk_fix_session_t *s = sess_new(c, &sc);
    assert_int_equal(desk_fix_session_next_out(s), 1);
    logon(c, s, T0);
    desk_vcmd_t o = cmd_new(7, 100, 10 * E8, 150 * E8);
    assert_int_equal(desk_fix_session_new(s, &o, "AMZN", 4, T0, W0), 0);
    venue(c, s, T0, "0", 2, 0, NULL);
    venue(c, s, T0, "0", 3, 0, NULL);
    assert_int_equal(desk_fix_session_next_out(s), 3);
    assert_int_equal(desk_fix_session_next_in(s), 4);
    desk_fix_session_destroy(s); /* a deskd restart */
    free(c);

    c = cap_new();
    s = sess_new(c, &sc);
    assert_int_equal(desk_fix_session_next_out(s), 3);
    assert_int_equal(desk_fix_session_next_in(s), 4);
    assert_int_equal(desk_fix_session_on_open(s, T0, W0), 0);
    expect_sent(c, "A", 3);
    assert_false(has(c, DESK_FIX_ResetSeqNumFlag));
    venue(c, s, T0, "A", 4, 0, "98=0|108=30");
    assert_int_equal(desk_fix_session_state(s), DESK_FIX_ACTIVE);
    assert_int_equal(desk_fix_session_next_in(s), 5);
    assert_int_equal(desk_fix_session_next_out(s), 4);
    desk_fix_session_destroy(s);
    free(c);

    /* Tear the newest record: the other one is used. */
    FILE *f = fopen(file, "r+b");
    assert_non_null(f);
    unsigned char recs[128];
    assert_int_equal(fread(recs, 1, 128, f), 128);
    uint64_t g0, g1;
    memcpy(&g0, recs + 8, 8);
    memcpy(&g1, recs + 64 + 8, 8);
    long newest = g0 > g1 ? 0 : 64;
    fseek(f, newest + 20, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    c = cap_new();
    s = sess_new(c, &sc);
    /* The older record: before the last write (next_in 5 after the Logon). */
    assert_int_equal(desk_fix_session_next_out(s), 4);
    assert_int_equal(desk_fix_session_next_in(s), 4);
    desk_fix_session_destroy(s);
    free(c);

    /* Both torn: refused, with a message naming the file. */
    f = fopen(file, "r+b");
    assert_non_null(f);
    fseek(f, 20, SEEK_SET);
    fputc(0x11, f);
    fseek(f, 64 + 20, SEEK_SET);
    fputc(0x11, f);
    fclose(f);
    c = cap_new();
    desk_fix_io_t io = {c_send, c_emit, c_health, c_close, c_log, c};
    desk_fix_session_t *bad = NULL;
    assert_int_equal(desk_fix_session_create(&sc, &io, &bad), -EBADMSG);
    assert_null(bad);
    assert_non_null(strstr(desk_errmsg(), "CLIENT1-SIMVENUE.seq"));
    free(c);

    /* reset_on_logon: both numbers back to 1, 141=Y, and stored. */
    remove(file);
    c = cap_new();
    s = sess_new(c, &sc);
    logon(c, s, T0);
    venue(c, s, T0, "0", 2, 0, NULL);
    desk_fix_session_destroy(s);
    free(c);
    c = cap_new();
    sc.reset_on_logon = 1;
    s = sess_new(c, &sc);
    assert_int_equal(desk_fix_session_next_out(s), 2);
    assert_int_equal(desk_fix_session_on_open(s, T0, W0), 0);
    expect_sent(c, "A", 1);
    assert_string_equal(fld(c, DESK_FIX_ResetSeqNumFlag), "Y");
    desk_fix_session_destroy(s);
    free(c);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_exec_mapping(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    desk_fix_session_t *s = sess_new(c, &sc);
    uint64_t t = T0, in = 2;

    /* Not logged on: nothing is sent. */
    desk_vcmd_t o = cmd_new(7, 100, 10 * E8, 150 * E8);
    assert_int_equal(desk_fix_session_new(s, &o, "AMZN", 4, t, wall(t)), -ENOTCONN);
    logon(c, s, t);
    assert_int_equal(desk_fix_session_new(s, &o, "AMZN", 4, t, wall(t)), 0);
    expect_sent(c, "D", 2);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d100");
    assert_string_equal(fld(c, DESK_FIX_Symbol), "AMZN");
    assert_string_equal(fld(c, DESK_FIX_OrderQty), "10");
    /* The same ClOrdID twice: refused. */
    assert_int_equal(desk_fix_session_new(s, &o, "AMZN", 4, t, wall(t)), -EINVAL);

    venue(c, s, t, "8", in++, 0, er('0', '0', "d100", NULL, "X1", NULL, "0", "10"));
    venue(c, s, t, "8", in++, 0, er('F', '1', "d100", NULL, "X2", "4", "4", "6"));
    /* The same ExecID again with a new MsgSeqNum: no second FILL. */
    venue(c, s, t, "8", in++, 0, er('F', '1', "d100", NULL, "X2", "4", "4", "6"));
    assert_int_equal(c->nev, 2);
    assert_int_equal(c->ev[0].type, DESK_EV_ACK);
    assert_int_equal(c->ev[0].order_id, 7);
    assert_int_equal(c->ev[0].instrument, 3);
    assert_int_equal(c->ev[1].type, DESK_EV_FILL);
    assert_int_equal(c->ev[1].last_qty, 4 * E8);
    assert_int_equal(c->ev[1].last_px, 15025000000);
    assert_int_equal(c->ev[1].cum_qty, 4 * E8);
    assert_true(c->ev[1].exec_id != 0);
    assert_int_equal(desk_fix_session_stats(s)->dup_execs, 1);

    /* Replace d100 -> d101: G with 41/11, then 150=5 maps to the order. */
    desk_vcmd_t r = cmd_req(DESK_CMD_REPLACE, &o, 101, 100);
    r.qty = 12 * E8;
    assert_int_equal(desk_fix_session_replace(s, &r, "AMZN", 4, t, wall(t)), 0);
    expect_sent(c, "G", 3);
    assert_string_equal(fld(c, DESK_FIX_OrigClOrdID), "d100");
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d101");
    assert_string_equal(fld(c, DESK_FIX_OrderQty), "12");
    venue(c, s, t, "8", in++, 0, er('5', '1', "d101", "d100", "X3", NULL, "4", "8"));
    assert_int_equal(c->nev, 3);
    assert_int_equal(c->ev[2].type, DESK_EV_REPLACED);
    assert_int_equal(c->ev[2].order_id, 7);

    /* Cancel d101 -> refused once (a PossDup repeat of the refusal is not
     * a second answer), then cancel again -> canceled. */
    desk_vcmd_t x = cmd_req(DESK_CMD_CANCEL, &o, 102, 101);
    assert_int_equal(desk_fix_session_cancel(s, &x, "AMZN", 4, t, wall(t)), 0);
    expect_sent(c, "F", 4);
    assert_string_equal(fld(c, DESK_FIX_OrigClOrdID), "d101");
    venue(c, s, t, "9", in++, 0, "37=SIM-1|11=d102|41=d101|39=1|434=1|102=0|58=too late");
    venue(c, s, t, "9", in++, 0, "37=SIM-1|11=d102|41=d101|39=1|434=1|102=6|58=dup");
    assert_int_equal(c->nev, 4);
    assert_int_equal(c->ev[3].type, DESK_EV_CANCEL_REJECT);
    assert_int_equal(c->ev[3].order_id, 7);
    assert_int_equal(c->ev[3].reason, DESK_REJ_ORDER_NOT_OPEN);
    desk_vcmd_t x2 = cmd_req(DESK_CMD_CANCEL, &o, 103, 101);
    assert_int_equal(desk_fix_session_cancel(s, &x2, "AMZN", 4, t, wall(t)), 0);
    expect_sent(c, "F", 5);
    venue(c, s, t, "8", in++, 0, er('4', '4', "d103", "d101", "X4", NULL, "4", "0"));
    assert_int_equal(c->nev, 5);
    assert_int_equal(c->ev[4].type, DESK_EV_CANCELED);
    assert_int_equal(c->ev[4].order_id, 7);

    /* A report for a ClOrdID desk never sent: ignored, counted. */
    venue(c, s, t, "8", in++, 0, er('0', '0', "OTHER-1", NULL, "X5", NULL, "0", "10"));
    assert_int_equal(c->nev, 5);
    assert_int_equal(desk_fix_session_stats(s)->unknown_orders, 1);

    /* Venue reject of a new order: 150=8 -> REJECT. */
    desk_vcmd_t n2 = cmd_new(8, 110, 1 * E8, 150 * E8);
    assert_int_equal(desk_fix_session_new(s, &n2, "NOPE", 4, t, wall(t)), 0);
    expect_sent(c, "D", 6);
    venue(c, s, t, "8", in++, 0,
          "37=NONE|11=d110|17=X6|150=8|39=8|55=NOPE|54=1|151=0|14=0|6=0|103=1|58=Unknown");
    assert_int_equal(c->nev, 6);
    assert_int_equal(c->ev[5].type, DESK_EV_REJECT);
    assert_int_equal(c->ev[5].order_id, 8);
    assert_int_equal(c->ev[5].reason, DESK_REJ_UNKNOWN_INSTRUMENT);

    /* A session Reject of a NewOrderSingle: the order is REJECTED. */
    desk_vcmd_t n3 = cmd_new(9, 111, 1 * E8, 150 * E8);
    assert_int_equal(desk_fix_session_new(s, &n3, "AMZN", 4, t, wall(t)), 0);
    expect_sent(c, "D", 7);
    venue(c, s, t, "3", in++, 0, "45=7|371=54|372=D|373=5|58=Value is incorrect");
    assert_int_equal(c->nev, 7);
    assert_int_equal(c->ev[6].type, DESK_EV_REJECT);
    assert_int_equal(c->ev[6].order_id, 9);
    assert_non_null(strstr(c->logs, "373=5"));
    expect_nothing_sent(c);
    desk_fix_session_destroy(s);
    free(c);
}

/* Recovery: adopted orders map again (nothing is sent), and after the Logon
 * each gets an OrderStatusRequest whose 150=I answer settles it. */
static void test_adopt_and_status(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    desk_fix_session_t *s = sess_new(c, &sc);
    uint64_t t = T0, in = 2;

    desk_vcmd_t a = cmd_new(7, 100, 10 * E8, 150 * E8); /* PendingNew, never reached the venue */
    desk_vcmd_t b = cmd_new(8, 200, 10 * E8, 150 * E8); /* live, 4 filled, 2 more lost */
    desk_vcmd_t k = cmd_new(9, 300, 10 * E8, 150 * E8); /* a cancel d301 in flight */
    a.type = b.type = k.type = DESK_CMD_RECOVER;
    k.orig_cl_ord_id = 301;
    assert_int_equal(desk_fix_session_adopt(s, &a, "AMZN", 4), 0);
    assert_int_equal(desk_fix_session_adopt(s, &b, "AMZN", 4), 0);
    assert_int_equal(desk_fix_session_adopt(s, &k, "AMZN", 4), 0);
    assert_int_equal(desk_fix_session_adopt(s, &a, "AMZN", 4), -EINVAL); /* mapped already */
    logon(c, s, t);
    expect_nothing_sent(c);
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "H", 2);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d100");
    assert_string_equal(fld(c, DESK_FIX_Side), "1");
    assert_string_equal(fld(c, DESK_FIX_Symbol), "AMZN");
    expect_sent(c, "H", 3);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d200");
    expect_sent(c, "H", 4);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d301"); /* the request in flight */
    desk_fix_session_tick(s, t, wall(t));
    expect_nothing_sent(c); /* asked once */

    /* A resent report about an adopted order maps to it. */
    venue(c, s, t, "8", in++, 0, er('F', '1', "d200", NULL, "X1", "4", "4", "6"));
    assert_int_equal(c->nev, 1);
    assert_int_equal(c->ev[0].order_id, 8);
    /* Unknown at the venue: the order is rejected. */
    venue(c, s, t, "8", in++, 0, "37=NONE|11=d100|17=S1|150=I|39=8|55=AMZN|54=1|151=0|14=0|6=0");
    assert_int_equal(c->nev, 2);
    assert_int_equal(c->ev[1].type, DESK_EV_REJECT);
    assert_int_equal(c->ev[1].order_id, 7);
    /* Known, 6 filled: a catch-up FILL (cum 6 at AvgPx; the router applies the
     * 2 it has not seen), then an ACK flagged as a status answer (a repeat,
     * counted as a duplicate by the router, for an order it had acked). */
    venue(c, s, t, "8", in++, 0, er('I', '1', "d200", NULL, "S2", NULL, "6", "4"));
    assert_int_equal(c->nev, 4);
    assert_int_equal(c->ev[2].type, DESK_EV_FILL);
    assert_true(c->ev[2].flags & DESK_VEV_CATCHUP);
    assert_int_equal(c->ev[2].cum_qty, 6 * E8);
    assert_int_equal(c->ev[2].last_px, 15025000000);
    assert_int_equal(c->ev[2].order_id, 8);
    assert_int_equal(c->ev[3].type, DESK_EV_ACK);
    assert_int_equal(c->ev[3].flags, DESK_VEV_STATUS);
    /* The cancel request was carried out: CANCELED. */
    venue(c, s, t, "8", in++, 0, er('I', '4', "d301", "d300", "S3", NULL, "0", "0"));
    assert_int_equal(c->nev, 5);
    assert_int_equal(c->ev[4].type, DESK_EV_CANCELED);
    assert_int_equal(c->ev[4].order_id, 9);
    /* A second answer about the same ClOrdID settles nothing more. */
    venue(c, s, t, "8", in++, 0, er('I', '4', "d301", "d300", "S4", NULL, "0", "0"));
    assert_int_equal(c->nev, 5);
    desk_fix_session_destroy(s);
    free(c);
}

static void test_garbled(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    desk_fix_session_t *s = sess_new(c, &sc);

    logon(c, s, T0);
    assert_int_equal(c->health, DESK_UP);
    const char *bad = "8=FIX.4.4\0019=58\00135=0\00149=SIMVENUE\00156=CLIENT1\00134=2\001"
                      "52=20250101-14:30:30.000\00110=000\001";
    desk_fix_session_on_data(s, bad, strlen(bad), T0, W0);
    assert_int_equal(c->health, DESK_DEGRADED);
    assert_non_null(strstr(c->reason, "garbled"));
    assert_true(desk_fix_session_stats(s)->garbled >= 1);
    /* The next message is 2 again (the bad one was never counted): UP. */
    venue(c, s, T0, "0", 2, 0, NULL);
    assert_int_equal(c->health, DESK_UP);
    /* Split anywhere: one byte at a time works. */
    desk_fix_enc_t e;
    const char *msg;
    desk_fix_enc_begin(&e, &c->venue, c->vbuf, sizeof c->vbuf, "1", 3, W0);
    desk_fix_put_test_request(&e, "SPLIT", 5);
    int n = desk_fix_enc_finish(&e, &msg);
    for (int i = 0; i < n; i++)
        desk_fix_session_on_data(s, msg + i, 1, T0, W0);
    expect_sent(c, "0", 2);
    assert_string_equal(fld(c, DESK_FIX_TestReqID), "SPLIT");
    /* Wrong CompIDs: Reject 373=9, Logout, close. */
    desk_fix_tmpl_t other;
    assert_int_equal(desk_fix_tmpl_init(&other, "EVIL", "CLIENT1"), 0);
    desk_fix_enc_begin(&e, &other, c->vbuf, sizeof c->vbuf, "0", 4, W0);
    n = desk_fix_enc_finish(&e, &msg);
    desk_fix_session_on_data(s, msg, (size_t)n, T0, W0);
    expect_sent(c, "3", 3);
    assert_string_equal(fld(c, DESK_FIX_SessionRejectReason), "9");
    expect_sent(c, "5", 4);
    assert_int_equal(c->closes, 1);
    desk_fix_session_destroy(s);
    free(c);
}

static void test_emit_backpressure(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    desk_fix_session_t *s = sess_new(c, &sc);

    logon(c, s, T0);
    desk_vcmd_t o = cmd_new(7, 100, 10 * E8, 150 * E8);
    assert_int_equal(desk_fix_session_new(s, &o, "AMZN", 4, T0, W0), 0);
    c->refuse_emit = 1;
    venue(c, s, T0, "8", 2, 0, er('0', '0', "d100", NULL, "X1", NULL, "0", "10"));
    venue(c, s, T0, "8", 3, 0, er('F', '1', "d100", NULL, "X2", "4", "4", "6"));
    assert_int_equal(c->nev, 0); /* the ring was full: both kept, in order */
    desk_fix_session_tick(s, T0, W0);
    assert_int_equal(c->nev, 2);
    assert_int_equal(c->ev[0].type, DESK_EV_ACK);
    assert_int_equal(c->ev[1].type, DESK_EV_FILL);
    desk_fix_session_destroy(s);
    free(c);
}

static void test_options(void **state)
{
    (void)state;
    const desk_connector_ops_t *ops = desk_fix_ops();
    assert_string_equal(ops->type, "fix");
    desk_opt_t opts[] = {
        {"hosts", "127.0.0.1:9876,127.0.0.1:9877", 10, 0},
        {"sender_comp_id", "CLIENT1", 11, 0},
        {"target_comp_id", "SIMVENUE", 12, 0},
        {"cash", "1000", 13, 0},
        {"reset_on_logon", "true", 14, 0},
        {"bogus_option", "1", 15, 0},
    };
    desk_connector_cfg_t cfg = {.name = "fx", .type = "fix", .opts = opts, .nopts = 6};
    void *self = (void *)1;
    assert_int_equal(ops->create(&cfg, NULL, &self), -EINVAL);
    assert_null(self);
    assert_non_null(strstr(desk_errmsg(), "bogus_option"));
    assert_non_null(strstr(desk_errmsg(), ":15"));
    /* cash is required (FIX has no account query). */
    desk_opt_t nocash[] = {opts[0], opts[1], opts[2], opts[4]};
    cfg.opts = nocash;
    cfg.nopts = 4;
    assert_int_equal(ops->create(&cfg, NULL, &self), -EINVAL);
    assert_non_null(strstr(desk_errmsg(), "cash"));
    /* store_dir is required unless reset_on_logon. */
    desk_opt_t nostore[] = {opts[0], opts[1], opts[2], opts[3]};
    cfg.opts = nostore;
    assert_int_equal(ops->create(&cfg, NULL, &self), -EINVAL);
    assert_non_null(strstr(desk_errmsg(), "store_dir"));
    /* A bad host list. */
    desk_opt_t badhost[] = {{"hosts", "127.0.0.1", 3, 0}, opts[1], opts[2], opts[3], opts[4]};
    cfg.opts = badhost;
    cfg.nopts = 5;
    assert_int_equal(ops->create(&cfg, NULL, &self), -EINVAL);
    assert_non_null(strstr(desk_errmsg(), "'hosts'"));

    /* Session hours. */
    int32_t tod = 0;
    assert_int_equal(desk_fix_parse_tod("13:30:05", &tod), 0);
    assert_int_equal(tod, 13 * 3600 + 30 * 60 + 5);
    assert_int_equal(desk_fix_parse_tod("08:00", &tod), 0);
    assert_int_equal(tod, 8 * 3600);
    assert_int_equal(desk_fix_parse_tod("24:00:00", &tod), -EINVAL);
    assert_int_equal(desk_fix_parse_tod("8:00", &tod), -EINVAL);
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    sc.session_start_s = 13 * 3600;
    sc.session_end_s = 20 * 3600;
    desk_fix_session_t *s = sess_new(c, &sc);
    assert_true(desk_fix_session_in_hours(s, W0));                   /* 14:30 */
    assert_false(desk_fix_session_in_hours(s, W0 - 2 * 3600 * SEC)); /* 12:30 */
    assert_false(desk_fix_session_in_hours(s, W0 + 6 * 3600 * SEC)); /* 20:30 */
    /* The first Logon of a daily session resets to 1 with 141=Y. */
    assert_int_equal(desk_fix_session_on_open(s, T0, W0), 0);
    expect_sent(c, "A", 1);
    assert_string_equal(fld(c, DESK_FIX_ResetSeqNumFlag), "Y");
    venue(c, s, T0, "A", 1, 0, "98=0|108=30|141=Y");
    venue(c, s, T0, "0", 2, 0, NULL);
    desk_fix_session_on_close(s, "x");
    /* Same day: no reset. */
    assert_int_equal(desk_fix_session_on_open(s, T0, W0 + 3600 * SEC), 0);
    expect_sent(c, "A", 2);
    assert_false(has(c, DESK_FIX_ResetSeqNumFlag));
    desk_fix_session_on_close(s, "x");
    /* Next day: reset. */
    assert_int_equal(desk_fix_session_on_open(s, T0, W0 + 86400 * SEC), 0);
    expect_sent(c, "A", 1);
    assert_string_equal(fld(c, DESK_FIX_ResetSeqNumFlag), "Y");
    desk_fix_session_destroy(s);
    free(c);
    /* Overnight hours (22:00 - 06:00). */
    c = cap_new();
    sc.session_start_s = 22 * 3600;
    sc.session_end_s = 6 * 3600;
    s = sess_new(c, &sc);
    assert_false(desk_fix_session_in_hours(s, W0));
    assert_true(desk_fix_session_in_hours(s, W0 + 8 * 3600 * SEC));  /* 22:30 */
    assert_true(desk_fix_session_in_hours(s, W0 + 12 * 3600 * SEC)); /* 02:30 */
    desk_fix_session_destroy(s);
    free(c);
}

/* ------------------------------------------------- reconnect and account */

static const desk_instrument_t TEST_INSTR[2] = {{.id = 3, .symbol = "AMZN"},
                                                {.id = 5, .symbol = "SIMX"}};

static int count_str(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void test_relogon_status(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    sc.reset_on_logon = 1;
    sc.instr = TEST_INSTR;
    sc.ninstr = 2;
    desk_fix_session_t *s = sess_new(c, &sc);
    uint64_t t = T0, in = 2;

    logon(c, s, t);
    desk_vcmd_t a = cmd_new(7, 10, 10 * E8, 150 * E8); /* 4 filled, 6 more while down */
    desk_vcmd_t b = cmd_new(8, 20, 10 * E8, 150 * E8); /* acked; cancel d21 in flight */
    desk_vcmd_t k = cmd_new(9, 30, 10 * E8, 150 * E8); /* never reached the venue */
    assert_int_equal(desk_fix_session_new(s, &a, "AMZN", 4, t, wall(t)), 0);
    venue(c, s, t, "8", in++, 0, er('0', '0', "d10", NULL, "E1", NULL, "0", "10"));
    venue(c, s, t, "8", in++, 0, er('F', '1', "d10", NULL, "E2", "4", "4", "6"));
    assert_int_equal(desk_fix_session_new(s, &b, "AMZN", 4, t, wall(t)), 0);
    venue(c, s, t, "8", in++, 0, er('0', '0', "d20", NULL, "E3", NULL, "0", "10"));
    desk_vcmd_t x = cmd_req(DESK_CMD_CANCEL, &b, 21, 20);
    assert_int_equal(desk_fix_session_cancel(s, &x, "AMZN", 4, t, wall(t)), 0);
    assert_int_equal(desk_fix_session_new(s, &k, "AMZN", 4, t, wall(t)), 0);
    desk_vcmd_t f = cmd_new(10, 50, 10 * E8, 150 * E8); /* acked; the venue will forget it */
    desk_vcmd_t g = cmd_new(12, 60, 10 * E8, 150 * E8); /* acked; replace d61 in flight */
    assert_int_equal(desk_fix_session_new(s, &f, "AMZN", 4, t, wall(t)), 0);
    venue(c, s, t, "8", in++, 0, er('0', '0', "d50", NULL, "E4", NULL, "0", "10"));
    assert_int_equal(desk_fix_session_new(s, &g, "AMZN", 4, t, wall(t)), 0);
    venue(c, s, t, "8", in++, 0, er('0', '0', "d60", NULL, "E5", NULL, "0", "10"));
    desk_vcmd_t rg = cmd_req(DESK_CMD_REPLACE, &g, 61, 60);
    rg.qty = 12 * E8;
    assert_int_equal(desk_fix_session_replace(s, &rg, "AMZN", 4, t, wall(t)), 0);
    expect_sent(c, "D", 2);
    expect_sent(c, "D", 3);
    expect_sent(c, "F", 4);
    expect_sent(c, "D", 5);
    expect_sent(c, "D", 6);
    expect_sent(c, "D", 7);
    expect_sent(c, "G", 8);
    assert_int_equal(c->nev, 5);

    /* The connection drops; the next Logon resets both sides to 1, so
     * nothing the venue sent meanwhile will be resent. */
    desk_fix_session_on_close(s, "dropped");
    t += SEC;
    logon(c, s, t);
    assert_non_null(strstr(c->logs, "asking the venue about 5 live order(s)"));
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "H", 2);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d10");
    assert_string_equal(fld(c, DESK_FIX_Symbol), "AMZN");
    assert_string_equal(fld(c, DESK_FIX_Side), "1");
    expect_sent(c, "H", 3);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d21"); /* the cancel's fate is unknown */
    expect_sent(c, "H", 4);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d30");
    expect_sent(c, "H", 5);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d50");
    expect_sent(c, "H", 6);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d61");
    desk_fix_session_tick(s, t, wall(t));
    expect_nothing_sent(c);
    assert_int_equal(desk_fix_session_stats(s)->status_asks, 5);

    in = 2;
    /* d10 filled in full while down: one catch-up FILL up to CumQty 10. */
    venue(c, s, t, "8", in++, 0, er('I', '2', "d10", NULL, "S1", NULL, "10", "0"));
    assert_int_equal(c->nev, 6);
    assert_int_equal(c->ev[5].type, DESK_EV_FILL);
    assert_true(c->ev[5].flags & DESK_VEV_CATCHUP);
    assert_int_equal(c->ev[5].cum_qty, 10 * E8);
    assert_int_equal(c->ev[5].last_px, 15025000000);
    assert_int_equal(c->ev[5].order_id, 7);
    assert_non_null(strstr(c->logs, "d10: the venue's CumQty 10 is above the 4 reported"));
    /* The cancel was carried out. */
    venue(c, s, t, "8", in++, 0, er('I', '4', "d21", "d20", "S2", NULL, "0", "0"));
    assert_int_equal(c->nev, 7);
    assert_int_equal(c->ev[6].type, DESK_EV_CANCELED);
    assert_int_equal(c->ev[6].order_id, 8);
    /* d30 never reached the venue: REJECT. */
    venue(c, s, t, "8", in++, 0, "37=NONE|11=d30|17=S3|150=I|39=8|55=AMZN|54=1|151=0|14=0|6=0");
    assert_int_equal(c->nev, 8);
    assert_int_equal(c->ev[7].type, DESK_EV_REJECT);
    assert_int_equal(c->ev[7].order_id, 9);
    /* d50 was acknowledged and the venue no longer knows it: logged only. */
    venue(c, s, t, "8", in++, 0, "37=NONE|11=d50|17=S5|150=I|39=8|55=AMZN|54=1|151=0|14=0|6=0");
    assert_non_null(strstr(c->logs, "no longer knows d50"));
    /* Live under the replace's ClOrdID at its quantity and price: the
     * venue carried the replace out (its ExecutionReport was lost). */
    char rb[512];
    snprintf(rb, sizeof rb, "%s|38=12|44=150",
             er('I', '0', "d61", "d60", "S6", NULL, "0", "12"));
    venue(c, s, t, "8", in++, 0, rb);
    assert_null(strstr(c->logs, "outcome of replace d61 is not known"));
    assert_int_equal(c->nev, 9);
    assert_int_equal(c->ev[8].type, DESK_EV_REPLACED);
    assert_int_equal(c->ev[8].order_id, 12);
    /* A second answer settles nothing more. */
    venue(c, s, t, "8", in++, 0, er('I', '2', "d10", NULL, "S4", NULL, "10", "0"));
    venue(c, s, t, "8", in++, 0, rb);
    assert_int_equal(c->nev, 9);
    /* Still live: d50 and d60 (now d61); the next Logon asks again about
     * those only. */
    desk_fix_session_on_close(s, "dropped");
    logon(c, s, t + SEC);
    desk_fix_session_tick(s, t + SEC, wall(t + SEC));
    expect_sent(c, "H", 2);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d50");
    expect_sent(c, "H", 3);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d61"); /* the order's own now */
    expect_nothing_sent(c);
    desk_fix_session_destroy(s);
    free(c);

    /* Without a reset the venue resends the fill; the status answer that
     * follows adds nothing: exactly one FILL. */
    c = cap_new();
    sc.reset_on_logon = 0;
    s = sess_new(c, &sc);
    t = T0;
    logon(c, s, t);
    desk_vcmd_t d = cmd_new(11, 40, 10 * E8, 150 * E8);
    d.instrument = 5;
    assert_int_equal(desk_fix_session_new(s, &d, "SIMX", 4, t, wall(t)), 0);
    expect_sent(c, "D", 2);
    venue(c, s, t, "8", 2, 0, er('0', '0', "d40", NULL, "G1", NULL, "0", "10"));
    desk_fix_session_on_close(s, "dropped");
    t += SEC;
    assert_int_equal(desk_fix_session_on_open(s, t, wall(t)), 0);
    expect_sent(c, "A", 3);
    venue(c, s, t, "A", 5, 0, "98=0|108=30"); /* 3 and 4 went out while down */
    expect_sent(c, "2", 4);
    assert_string_equal(fld(c, DESK_FIX_BeginSeqNo), "3");
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "H", 5);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d40");
    assert_string_equal(fld(c, DESK_FIX_Symbol), "SIMX");
    uint64_t orig = wall(t - SEC / 2);
    venue(c, s, t, "8", 3, orig, er('F', '2', "d40", NULL, "G2", "10", "10", "0"));
    venue(c, s, t, "4", 4, orig, "123=Y|36=6");
    venue(c, s, t, "8", 6, 0, er('I', '2', "d40", NULL, "G3", NULL, "10", "0"));
    int fills = 0;
    for (int i = 0; i < c->nev; i++)
        fills += c->ev[i].type == DESK_EV_FILL;
    assert_int_equal(fills, 1);
    assert_int_equal(c->nev, 2); /* ACK, FILL */
    assert_null(strstr(c->logs, "catch-up"));
    desk_fix_session_destroy(s);
    free(c);
}

/* The venue's answers of round n: an AO announcing `total` reports. */
static void venue_posack(struct cap *c, desk_fix_session_t *s, uint64_t t, uint64_t seq, int n,
                         int total, int result, int status)
{
    char b[256];
    snprintf(b, sizeof b, "721=PM%d|710=p%d|727=%d|728=%d|729=%d|1=CLIENT1|581=1", n, n, total,
             result, status);
    venue(c, s, t, "AO", seq, 0, b);
}

static void venue_posrpt(struct cap *c, desk_fix_session_t *s, uint64_t t, uint64_t seq, int n,
                         int total, const char *sym, const char *group)
{
    char b[512];
    snprintf(b, sizeof b,
             "721=PR%d|710=p%d|724=0|727=%d|325=N|728=0|715=20250101|1=CLIENT1|581=1|55=%s|"
             "730=150|731=2|734=150|%s",
             n, n, total, sym, group);
    venue(c, s, t, "AP", seq, 0, b);
}

static void test_account_round(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    sc.instr = TEST_INSTR;
    sc.ninstr = 2;
    sc.reconcile_interval_ns = 10 * SEC;
    desk_fix_session_t *s = sess_new(c, &sc);
    uint64_t t = T0, in = 2;

    desk_fix_session_on_account(s, c_account);
    logon(c, s, t);
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "AN", 2);
    assert_string_equal(fld(c, DESK_FIX_PosReqID), "p1");
    assert_string_equal(fld(c, DESK_FIX_PosReqType), "0");
    assert_string_equal(fld(c, DESK_FIX_SubscriptionRequestType), "0");
    assert_string_equal(fld(c, DESK_FIX_Account), "CLIENT1"); /* the sender by default */
    assert_string_equal(fld(c, DESK_FIX_AccountType), "1");
    assert_string_equal(fld(c, DESK_FIX_ClearingBusinessDate), "20250101");
    assert_string_equal(fld(c, DESK_FIX_TransactTime), "20250101-14:30:00.000");
    expect_sent(c, "BB", 3);
    assert_string_equal(fld(c, DESK_FIX_CollInquiryID), "c1");
    assert_string_equal(fld(c, DESK_FIX_SubscriptionRequestType), "0");
    assert_string_equal(fld(c, DESK_FIX_Account), "CLIENT1");
    desk_fix_session_tick(s, t + SEC, wall(t + SEC));
    expect_nothing_sent(c); /* one round at a time */
    /* The venue asks for a resend around its Logon: the requests go again
     * (43=Y, same number), they are not gap-filled away. */
    venue(c, s, t, "2", in++, 0, "7=2|16=0");
    expect_sent(c, "AN", 2);
    assert_string_equal(fld(c, DESK_FIX_PossDupFlag), "Y");
    assert_string_equal(fld(c, DESK_FIX_PosReqID), "p1");
    assert_string_equal(fld(c, DESK_FIX_TransactTime), "20250101-14:30:00.000");
    expect_sent(c, "BB", 3);
    assert_string_equal(fld(c, DESK_FIX_PossDupFlag), "Y");
    assert_string_equal(fld(c, DESK_FIX_CollInquiryID), "c1");
    expect_nothing_sent(c);

    venue_posack(c, s, t, in++, 1, 2, 0, 0);
    /* AMZN: start of day 5 long, today +10 -3: 12. */
    venue_posrpt(c, s, t, in++, 1, 2, "AMZN", "702=2|703=SOD|704=5|705=0|703=TQ|704=10|705=3");
    venue(c, s, t, "BA", in++, 0, "908=CR1|909=c1|910=3|911=1|901=1000.5|899=900|900=2000");
    assert_int_equal(c->nrep, 0); /* one position report still to come */
    /* An answer of another round is not this round's. */
    venue_posrpt(c, s, t, in++, 0, 2, "SIMX", "702=1|703=TQ|704=99|705=0");
    assert_int_equal(c->nrep, 0);
    /* SIMX: the final figure (FIN) stands alone: short 4. */
    venue_posrpt(c, s, t, in++, 1, 2, "SIMX", "702=2|703=TQ|704=100|705=0|703=FIN|704=0|705=4");
    assert_int_equal(c->nrep, 1);
    assert_int_equal(c->rep.flags, DESK_REPORT_POSITIONS | DESK_REPORT_BALANCE);
    assert_int_equal(c->rep.npos, 2);
    assert_int_equal(c->rep.pos[0].instrument, 3);
    assert_int_equal(c->rep.pos[0].qty, 12 * E8);
    assert_int_equal(c->rep.pos[1].instrument, 5);
    assert_int_equal(c->rep.pos[1].qty, -4 * E8);
    assert_int_equal(c->rep.balance.cash, 100050000000);
    assert_int_equal(c->rep.balance.buying_power, 900 * E8);
    assert_int_equal(c->rep.venue_ts_ns, wall(t) / MSN * MSN);
    assert_non_null(strstr(
        c->logs, "venue account: cash 1000.5, buying power 900; positions: AMZN 12, SIMX -4"));
    assert_int_equal(desk_fix_session_stats(s)->account_reports, 1);

    /* The next round comes after reconcile_interval; deskd is busy. */
    c->acct_rc = -EBUSY;
    t += 10 * SEC;
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "AN", 4);
    assert_string_equal(fld(c, DESK_FIX_PosReqID), "p2");
    expect_sent(c, "BB", 5);
    /* No positions; no 899: buying power = cash. */
    venue_posack(c, s, t, in++, 2, 0, 2, 0);
    venue(c, s, t, "BA", in++, 0, "908=CR2|909=c2|910=3|901=1000");
    assert_int_equal(c->nrep, 2);
    assert_int_equal(c->rep.npos, 0);
    assert_int_equal(c->rep.balance.buying_power, 1000 * E8);
    assert_int_equal(desk_fix_session_stats(s)->account_busy, 1);
    assert_non_null(strstr(c->logs, "positions: none"));
    t += 10 * SEC;
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "AN", 6);
    expect_sent(c, "BB", 7);
    venue_posack(c, s, t, in++, 3, 0, 2, 0);
    venue(c, s, t, "BA", in++, 0, "908=CR3|909=c3|910=3|901=1000");
    assert_int_equal(desk_fix_session_stats(s)->account_busy, 2);
    /* Logged once; the unchanged account is not logged again. */
    assert_int_equal(count_str(c->logs, "(EBUSY)"), 1);
    assert_int_equal(count_str(c->logs, "venue account:"), 2);
    /* A round the venue leaves unanswered is dropped at the next. */
    c->acct_rc = 0;
    t += 10 * SEC;
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "AN", 8);
    expect_sent(c, "BB", 9);
    t += 10 * SEC;
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "AN", 10);
    expect_sent(c, "BB", 11);
    assert_non_null(strstr(c->logs, "has not answered account request round 4"));
    venue_posack(c, s, t, in++, 4, 0, 2, 0); /* round 4's: too late, ignored */
    venue(c, s, t, "BA", in++, 0, "908=CR4|909=c4|910=3|901=1000");
    assert_int_equal(c->nrep, 3);
    venue_posack(c, s, t, in++, 5, 1, 0, 0);
    venue_posrpt(c, s, t, in++, 5, 1, "ELSE", "702=1|703=TQ|704=1|705=0"); /* not ours */
    venue(c, s, t, "BA", in++, 0, "908=CR5|909=c5|910=3|901=1000");
    assert_int_equal(c->nrep, 4);
    assert_int_equal(c->rep.npos, 0);
    assert_non_null(strstr(c->logs, "PositionReport for 'ELSE'"));
    assert_non_null(strstr(c->logs, "deskd takes account reports again"));
    assert_int_equal(c->health, DESK_UP);
    desk_fix_session_destroy(s);
    free(c);

    /* reconcile_interval 0: one round per Logon; a report deskd refuses
     * (-EBUSY) is asked again a second later, until one is taken. */
    c = cap_new();
    sc.reconcile_interval_ns = 0;
    s = sess_new(c, &sc);
    t = T0;
    in = 2;
    desk_fix_session_on_account(s, c_account);
    logon(c, s, t);
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "AN", 2);
    expect_sent(c, "BB", 3);
    c->acct_rc = -EBUSY;
    venue_posack(c, s, t, in++, 1, 0, 2, 0);
    venue(c, s, t, "BA", in++, 0, "908=CR1|909=c1|910=3|901=7");
    assert_int_equal(c->nrep, 1);
    desk_fix_session_tick(s, t + SEC / 2, wall(t + SEC / 2));
    expect_nothing_sent(c);
    c->acct_rc = 0;
    desk_fix_session_tick(s, t + SEC, wall(t + SEC));
    expect_sent(c, "AN", 4);
    assert_string_equal(fld(c, DESK_FIX_PosReqID), "p2");
    expect_sent(c, "BB", 5);
    venue_posack(c, s, t, in++, 2, 0, 2, 0);
    venue(c, s, t, "BA", in++, 0, "908=CR2|909=c2|910=3|901=7");
    assert_int_equal(c->nrep, 2);
    desk_fix_session_tick(s, t + 20 * SEC, wall(t + 20 * SEC));
    expect_nothing_sent(c); /* taken: nothing more until the next Logon */
    desk_fix_session_on_close(s, "x");
    logon(c, s, t + 21 * SEC);
    desk_fix_session_tick(s, t + 21 * SEC, wall(t + 21 * SEC));
    expect_sent(c, "AN", 7); /* Logon 6 */
    desk_fix_session_destroy(s);
    free(c);
}

static void test_account_refused(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    sc.instr = TEST_INSTR;
    sc.ninstr = 2;
    sc.reconcile_interval_ns = 10 * SEC;
    sc.account = "ACC-9";
    desk_fix_session_t *s = sess_new(c, &sc);
    uint64_t t = T0, in = 2;

    desk_fix_session_on_account(s, c_account);
    logon(c, s, t);
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "AN", 2);
    assert_string_equal(fld(c, DESK_FIX_Account), "ACC-9");
    expect_sent(c, "BB", 3);
    venue(c, s, t, "j", in++, 0, "45=2|372=AN|380=3|58=Unsupported Message Type");
    assert_int_equal(count_str(c->logs, "does not support RequestForPositions (35=AN)"), 1);
    assert_non_null(strstr(c->logs, "BusinessMessageReject 380=3): position reports off"));
    assert_null(strstr(c->logs, "venue sent BusinessMessageReject")); /* one line only */
    venue(c, s, t, "BA", in++, 0, "908=CR1|909=c1|910=3|901=50|899=40");
    assert_int_equal(c->nrep, 1);
    assert_int_equal(c->rep.flags, DESK_REPORT_BALANCE);
    assert_int_equal(c->rep.npos, 0);
    assert_int_equal(c->rep.balance.cash, 50 * E8);
    t += 10 * SEC;
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "BB", 4); /* positions are no longer asked */
    expect_nothing_sent(c);
    venue(c, s, t, "3", in++, 0, "45=4|371=263|372=BB|373=5|58=Value is incorrect");
    assert_int_equal(count_str(c->logs, "does not support CollateralInquiry (35=BB)"), 1);
    assert_int_equal(c->nrep, 1);
    t += 10 * SEC;
    desk_fix_session_tick(s, t, wall(t));
    expect_nothing_sent(c); /* both off, for good: also after a new Logon */
    desk_fix_session_on_close(s, "x");
    logon(c, s, t);
    desk_fix_session_tick(s, t, wall(t));
    expect_nothing_sent(c);
    assert_int_equal(desk_fix_session_state(s), DESK_FIX_ACTIVE);
    assert_int_equal(c->health, DESK_UP);
    assert_int_equal(c->closes, 0);
    desk_fix_session_destroy(s);
    free(c);

    /* The Acks can refuse too: 728=4 (not supported), 945=4 (rejected). */
    c = cap_new();
    s = sess_new(c, &sc);
    t = T0;
    in = 2;
    desk_fix_session_on_account(s, c_account);
    logon(c, s, t);
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "AN", 2);
    expect_sent(c, "BB", 3);
    venue_posack(c, s, t, in++, 1, 0, 4, 2);
    assert_non_null(strstr(c->logs, "(RequestForPositionsAck 728=4 729=2)"));
    venue(c, s, t, "BG", in++, 0, "909=c1|945=4|946=8");
    assert_non_null(strstr(c->logs, "(CollateralInquiryAck 945=4 946=8)"));
    assert_int_equal(c->nrep, 0);
    t += 10 * SEC;
    desk_fix_session_tick(s, t, wall(t));
    expect_nothing_sent(c);
    desk_fix_session_destroy(s);
    free(c);
}

/* A Logon with a sequence reset and two live orders (d10: 3 of 10 filled
 * while down, d20: acked, cancel d21 in flight); cursor past the Logon. */
static desk_fix_session_t *two_live(struct cap *c, uint64_t t)
{
    desk_fix_session_cfg_t sc = cfg_default();
    sc.reset_on_logon = 1;
    sc.instr = TEST_INSTR;
    sc.ninstr = 2;
    desk_fix_session_t *s = sess_new(c, &sc);
    uint64_t in = 2;

    logon(c, s, t);
    desk_vcmd_t a = cmd_new(7, 10, 10 * E8, 150 * E8);
    desk_vcmd_t b = cmd_new(8, 20, 10 * E8, 150 * E8);
    assert_int_equal(desk_fix_session_new(s, &a, "AMZN", 4, t, wall(t)), 0);
    venue(c, s, t, "8", in++, 0, er('0', '0', "d10", NULL, "E1", NULL, "0", "10"));
    assert_int_equal(desk_fix_session_new(s, &b, "AMZN", 4, t, wall(t)), 0);
    venue(c, s, t, "8", in++, 0, er('0', '0', "d20", NULL, "E2", NULL, "0", "10"));
    while (take(c))
        ;
    assert_int_equal(c->nev, 2);
    desk_fix_session_on_close(s, "dropped");
    logon(c, s, t + SEC);
    return s;
}

/* Status answers carry ExecID 17=0 at real venues: every one is handled,
 * and a catch-up FILL's exec_id depends on the order and CumQty only. */
static void test_status_exec_id0(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    uint64_t t = T0 + SEC, in = 2;
    desk_fix_session_t *s = two_live(c, T0);

    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "H", 2);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d10");
    expect_sent(c, "H", 3);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d20");
    venue(c, s, t, "8", in++, 0, er('I', '1', "d10", NULL, "0", NULL, "3", "7"));
    venue(c, s, t, "8", in++, 0, er('I', '1', "d20", NULL, "0", NULL, "5", "5"));
    assert_int_equal(c->nev, 4);
    assert_int_equal(c->ev[2].type, DESK_EV_FILL);
    assert_true(c->ev[2].flags & DESK_VEV_CATCHUP);
    assert_int_equal(c->ev[2].order_id, 7);
    assert_int_equal(c->ev[2].cum_qty, 3 * E8);
    assert_int_equal(c->ev[3].type, DESK_EV_FILL);
    assert_int_equal(c->ev[3].order_id, 8);
    assert_int_equal(c->ev[3].cum_qty, 5 * E8);
    assert_true(c->ev[2].exec_id != c->ev[3].exec_id);
    uint64_t xid = c->ev[2].exec_id;
    desk_fix_session_destroy(s);
    free(c);

    /* The recovery path: the same order at the same CumQty gives the same
     * exec_id (the router drops the repeat), a higher CumQty a new one. */
    c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    s = sess_new(c, &sc);
    desk_vcmd_t r = cmd_new(7, 10, 10 * E8, 150 * E8);
    desk_vcmd_t r2 = cmd_new(9, 30, 10 * E8, 150 * E8);
    r.type = r2.type = DESK_CMD_RECOVER;
    assert_int_equal(desk_fix_session_adopt(s, &r, "AMZN", 4), 0);
    assert_int_equal(desk_fix_session_adopt(s, &r2, "AMZN", 4), 0);
    logon(c, s, T0);
    desk_fix_session_tick(s, T0, wall(T0));
    in = 2;
    venue(c, s, T0, "8", in++, 0, er('I', '1', "d10", NULL, "0", NULL, "3", "7"));
    venue(c, s, T0, "8", in++, 0, er('I', '1', "d30", NULL, "0", NULL, "4", "6"));
    assert_int_equal(c->nev, 4); /* FILL, ACK for each: the second not dropped */
    assert_int_equal(c->ev[0].type, DESK_EV_FILL);
    assert_int_equal(c->ev[0].exec_id, xid);
    assert_int_equal(c->ev[2].type, DESK_EV_FILL);
    assert_int_equal(c->ev[2].order_id, 9);
    assert_true(c->ev[2].exec_id != xid);
    desk_fix_session_destroy(s);
    free(c);
}

/* A pending cancel the venue never received: CANCEL_REJECT, then the order
 * itself is asked on the same Logon, and its lost fills come back. */
static void test_status_reask_order(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    sc.reset_on_logon = 1;
    sc.instr = TEST_INSTR;
    sc.ninstr = 2;
    desk_fix_session_t *s = sess_new(c, &sc);
    uint64_t t = T0, in = 2;

    logon(c, s, t);
    desk_vcmd_t b = cmd_new(8, 20, 10 * E8, 150 * E8);
    assert_int_equal(desk_fix_session_new(s, &b, "AMZN", 4, t, wall(t)), 0);
    venue(c, s, t, "8", in++, 0, er('0', '0', "d20", NULL, "E2", NULL, "0", "10"));
    desk_vcmd_t x = cmd_req(DESK_CMD_CANCEL, &b, 21, 20);
    assert_int_equal(desk_fix_session_cancel(s, &x, "AMZN", 4, t, wall(t)), 0);
    expect_sent(c, "D", 2);
    expect_sent(c, "F", 3);
    desk_fix_session_on_close(s, "dropped");
    t += SEC;
    logon(c, s, t);
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "H", 2);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d21");
    expect_nothing_sent(c);
    in = 2;
    venue(c, s, t, "8", in++, 0, "37=NONE|11=d21|17=S1|150=I|39=8|55=AMZN|54=1|151=0|14=0|6=0");
    assert_int_equal(c->nev, 2);
    assert_int_equal(c->ev[1].type, DESK_EV_CANCEL_REJECT);
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "H", 3);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d20");
    expect_nothing_sent(c);
    venue(c, s, t, "8", in++, 0, er('I', '1', "d20", NULL, "S2", NULL, "4", "6"));
    assert_int_equal(c->nev, 3);
    assert_int_equal(c->ev[2].type, DESK_EV_FILL);
    assert_int_equal(c->ev[2].cum_qty, 4 * E8);
    assert_int_equal(desk_fix_session_stats(s)->status_asks, 2);
    desk_fix_session_destroy(s);
    free(c);
}

/* Pending requests answered by a status: a replace at other figures stays
 * pending (logged); a cancel on a filled order is refused (too late). */
static void test_status_pending_requests(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    uint64_t t = T0, in = 2;
    desk_fix_session_cfg_t sc = cfg_default();
    sc.reset_on_logon = 1;
    sc.instr = TEST_INSTR;
    sc.ninstr = 2;
    desk_fix_session_t *s = sess_new(c, &sc);

    logon(c, s, t);
    desk_vcmd_t a = cmd_new(7, 10, 10 * E8, 150 * E8);
    desk_vcmd_t b = cmd_new(8, 20, 10 * E8, 150 * E8);
    assert_int_equal(desk_fix_session_new(s, &a, "AMZN", 4, t, wall(t)), 0);
    venue(c, s, t, "8", in++, 0, er('0', '0', "d10", NULL, "E1", NULL, "0", "10"));
    assert_int_equal(desk_fix_session_new(s, &b, "AMZN", 4, t, wall(t)), 0);
    venue(c, s, t, "8", in++, 0, er('0', '0', "d20", NULL, "E2", NULL, "0", "10"));
    desk_vcmd_t ra = cmd_req(DESK_CMD_REPLACE, &a, 11, 10);
    ra.qty = 12 * E8;
    assert_int_equal(desk_fix_session_replace(s, &ra, "AMZN", 4, t, wall(t)), 0);
    desk_vcmd_t xb = cmd_req(DESK_CMD_CANCEL, &b, 21, 20);
    assert_int_equal(desk_fix_session_cancel(s, &xb, "AMZN", 4, t, wall(t)), 0);
    while (take(c))
        ;
    desk_fix_session_on_close(s, "dropped");
    t += SEC;
    logon(c, s, t);
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "H", 2);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d11");
    expect_sent(c, "H", 3);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d21");
    in = 2;
    char rb[512];
    snprintf(rb, sizeof rb, "%s|38=10|44=150", er('I', '0', "d11", "d10", "S1", NULL, "0", "10"));
    venue(c, s, t, "8", in++, 0, rb);
    assert_int_equal(c->nev, 2);
    assert_non_null(strstr(c->logs, "outcome of replace d11 is not known"));
    /* d20 filled in full before the cancel arrived. */
    venue(c, s, t, "8", in++, 0, er('I', '2', "d21", "d20", "S2", NULL, "10", "0"));
    assert_int_equal(c->nev, 4);
    assert_int_equal(c->ev[2].type, DESK_EV_FILL);
    assert_int_equal(c->ev[2].cum_qty, 10 * E8);
    assert_int_equal(c->ev[3].type, DESK_EV_CANCEL_REJECT);
    assert_int_equal(c->ev[3].order_id, 8);
    /* The next Logon asks about the replace again only. */
    desk_fix_session_on_close(s, "dropped");
    logon(c, s, t + SEC);
    desk_fix_session_tick(s, t + SEC, wall(t + SEC));
    expect_sent(c, "H", 2);
    assert_string_equal(fld(c, DESK_FIX_ClOrdID), "d11");
    expect_nothing_sent(c);
    desk_fix_session_destroy(s);
    free(c);
}

/* An account report waits for the events queued before it, and a round a
 * fill overtook is taken again. */
static void test_account_hold(void **state)
{
    (void)state;
    struct cap *c = cap_new();
    desk_fix_session_cfg_t sc = cfg_default();
    sc.instr = TEST_INSTR;
    sc.ninstr = 2;
    sc.reconcile_interval_ns = 10 * SEC;
    desk_fix_session_t *s = sess_new(c, &sc);
    uint64_t t = T0, in = 2;

    desk_fix_session_on_account(s, c_account);
    logon(c, s, t);
    desk_vcmd_t a = cmd_new(7, 10, 10 * E8, 150 * E8);
    assert_int_equal(desk_fix_session_new(s, &a, "AMZN", 4, t, wall(t)), 0);
    expect_sent(c, "D", 2);
    venue(c, s, t, "8", in++, 0, er('0', '0', "d10", NULL, "E1", NULL, "0", "10"));
    /* A fill deskd cannot take yet: queued, and still queued at the tick
     * that starts the round. */
    c->refuse_emit = 2;
    venue(c, s, t, "8", in++, 0, er('F', '1', "d10", NULL, "E2", "2", "2", "8"));
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "AN", 3);
    expect_sent(c, "BB", 4);
    assert_int_equal(c->nev, 1);
    venue_posack(c, s, t, in++, 1, 1, 0, 0);
    venue_posrpt(c, s, t, in++, 1, 1, "AMZN", "702=1|703=FIN|704=2|705=0");
    venue(c, s, t, "BA", in++, 0, "908=CR1|909=c1|910=3|901=700");
    assert_int_equal(c->nrep, 0); /* the fill before it has not reached deskd */
    desk_fix_session_tick(s, t, wall(t));
    assert_int_equal(c->nev, 2);
    assert_int_equal(c->nrep, 1); /* then the report, not taken again */
    assert_int_equal(c->rep.pos[0].qty, 2 * E8);
    expect_nothing_sent(c);

    /* A fill between the PositionReport and the CollateralReport: the
     * round is taken again. */
    t += 10 * SEC;
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "AN", 5);
    expect_sent(c, "BB", 6);
    venue_posack(c, s, t, in++, 2, 1, 0, 0);
    venue_posrpt(c, s, t, in++, 2, 1, "AMZN", "702=1|703=FIN|704=2|705=0");
    venue(c, s, t, "8", in++, 0, er('F', '1', "d10", NULL, "E3", "1", "3", "7"));
    venue(c, s, t, "BA", in++, 0, "908=CR2|909=c2|910=3|901=550");
    assert_int_equal(c->nrep, 1);
    desk_fix_session_tick(s, t, wall(t));
    expect_sent(c, "AN", 7);
    assert_string_equal(fld(c, DESK_FIX_PosReqID), "p3");
    expect_sent(c, "BB", 8);
    venue_posack(c, s, t, in++, 3, 1, 0, 0);
    venue_posrpt(c, s, t, in++, 3, 1, "AMZN", "702=1|703=FIN|704=3|705=0");
    venue(c, s, t, "BA", in++, 0, "908=CR3|909=c3|910=3|901=550");
    assert_int_equal(c->nrep, 2);
    assert_int_equal(c->rep.pos[0].qty, 3 * E8);
    /* The period is unchanged: the next round 10 s after round 2. */
    desk_fix_session_tick(s, t + 9 * SEC, wall(t + 9 * SEC));
    expect_nothing_sent(c);
    desk_fix_session_tick(s, t + 10 * SEC, wall(t + 10 * SEC));
    expect_sent(c, "AN", 9);
    desk_fix_session_destroy(s);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logon),
        cmocka_unit_test(test_heartbeat_timing),
        cmocka_unit_test(test_gap_resend_request),
        cmocka_unit_test(test_peer_resend),
        cmocka_unit_test(test_stale_new_order),
        cmocka_unit_test(test_seq_too_low),
        cmocka_unit_test(test_persist),
        cmocka_unit_test(test_exec_mapping),
        cmocka_unit_test(test_adopt_and_status),
        cmocka_unit_test(test_garbled),
        cmocka_unit_test(test_emit_backpressure),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_relogon_status),
        cmocka_unit_test(test_account_round),
        cmocka_unit_test(test_account_refused),
        cmocka_unit_test(test_status_exec_id0),
        cmocka_unit_test(test_status_reask_order),
        cmocka_unit_test(test_status_pending_requests),
        cmocka_unit_test(test_account_hold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
