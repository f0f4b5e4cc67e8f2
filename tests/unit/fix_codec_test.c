/*
 * fix_codec_test.c - the FIX 4.4 codec (connectors/fix/codec.h).
 *
 * 1. The worked BodyLength/CheckSum examples of shared/PROTOCOLS.md 3.2,
 *    byte for byte: each example's 9 and 10 recomputed by an independent
 *    reference (this file's own byte loop), the FIX 4.4 ones parsed, and the
 *    Logon and Heartbeat rebuilt by desk's encoder to the very same bytes.
 * 2. Every example message of PROTOCOLS.md 3.6 (and the gap fill of 3.5 and
 *    Binance's Logon of 3.8) parsed and decoded; those desk's builders can
 *    produce are rebuilt byte for byte.
 * 3. Encode -> parse round trips for every builder and every side x type x
 *    tif, -ENOSPC at every too-short buffer, -EINVAL for bad commands.
 * 4. Framing: every split position gives -EAGAIN until the message is
 *    complete, byte-at-a-time streams, zero-padded BodyLength, bad CheckSum
 *    / BodyLength / missing or malformed 10=, garbage between messages, DATA
 *    fields holding SOH, -EMSGSIZE.
 * 5. SendingTime formatting and parsing, fixed-point formatting exactness,
 *    getters' error codes, ClOrdID and ExecID mapping, and the
 *    ExecutionReport / OrderCancelReject -> desk_vevent_t table.
 * 6. Account messages: RequestForPositions (35=AN) and CollateralInquiry
 *    (35=BB) byte for byte against the reference framing; AO, AP (SOD + TQ,
 *    FIN alone, other PosTypes ignored), BA and BG decoded, and their
 *    errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors/fix/codec.h"
#include "core/fixed.h"

#define E8 INT64_C(100000000) /* 1.0 in fixed point */

/* ---- verbatim messages from shared/PROTOCOLS.md ('|' is SOH) ---- */

/* 3.2 worked examples 1-5 with their BodyLength and CheckSum. */
static const struct {
    const char *text;
    unsigned body_len, checksum;
} WORKED[] = {
    {"8=FIX.4.2|9=49|35=5|34=1|49=ARCA|52=20150916-04:14:05.306|56=TW|10=157|", 49, 157},
    {"8=FIX.4.4|9=76|35=A|49=CLIENT1|56=SIMVENUE|34=1|52=20250101-14:30:00.000|98=0|108=30|141=Y|"
     "10=111|",
     76, 111},
    {"8=FIX.4.4|9=135|35=D|49=CLIENT1|56=SIMVENUE|34=2|52=20250101-14:30:01.000|11=ORD-0001|"
     "55=AAPL|54=1|60=20250101-14:30:01.000|38=100|40=2|44=150.25|59=0|10=221|",
     135, 221},
    {"8=FIX.4.4|9=58|35=0|49=CLIENT1|56=SIMVENUE|34=3|52=20250101-14:30:30.000|10=029|", 58, 29},
    {"8=FIX.4.4|9=247|35=A|34=1|49=EXAMPLE|52=20240627-11:17:25.223|56=SPOT|95=88|"
     "96=4MHXelVVcpkdwuLbl6n73HQUXUf1dse2PCgT1DYqW9w8AVZ1RACFGM+5UdlGPrQHrgtS3CvsRURC1oj73j8gCA==|"
     "98=0|108=30|141=Y|553=sBRXrJx2DsOraMXOaUovEhgVRcjOvCtQwnWj8VxkOh1xqboS02SPGfKi2h8spZJb|"
     "25035=2|10=227|",
     247, 227},
};

/* 3.6 worked application and session messages. */
static const char ER_ACK[] =
    "8=FIX.4.4|9=180|35=8|49=SIMVENUE|56=CLIENT1|34=2|52=20250101-14:30:01.005|37=SIM-1|"
    "11=ORD-0001|17=EX-1|150=0|39=0|55=AAPL|54=1|38=100|40=2|44=150.25|59=0|151=100|14=0|6=0|"
    "60=20250101-14:30:01.004|10=037|";
static const char ER_FILL[] =
    "8=FIX.4.4|9=196|35=8|49=SIMVENUE|56=CLIENT1|34=3|52=20250101-14:30:02.000|37=SIM-1|"
    "11=ORD-0001|17=EX-2|150=F|39=1|55=AAPL|54=1|38=100|40=2|44=150.25|32=40|31=150.25|151=60|"
    "14=40|6=150.25|60=20250101-14:30:01.999|10=084|";
static const char CXL_REQ[] =
    "8=FIX.4.4|9=127|35=F|49=CLIENT1|56=SIMVENUE|34=3|52=20250101-14:30:03.000|41=ORD-0001|"
    "11=ORD-0002|55=AAPL|54=1|60=20250101-14:30:03.000|38=100|10=219|";
static const char RPL_REQ[] =
    "8=FIX.4.4|9=142|35=G|49=CLIENT1|56=SIMVENUE|34=4|52=20250101-14:30:04.000|41=ORD-0002|"
    "11=ORD-0003|55=AAPL|54=1|60=20250101-14:30:04.000|38=100|40=2|44=150.10|10=125|";
static const char TEST_REQ[] =
    "8=FIX.4.4|9=69|35=1|49=SIMVENUE|56=CLIENT1|34=5|52=20250101-14:31:00.000|112=TEST-1|10=144|";
static const char HB_REPLY[] =
    "8=FIX.4.4|9=69|35=0|49=CLIENT1|56=SIMVENUE|34=5|52=20250101-14:31:00.010|112=TEST-1|10=144|";
static const char RESEND[] =
    "8=FIX.4.4|9=67|35=2|49=CLIENT1|56=SIMVENUE|34=6|52=20250101-14:31:05.000|7=2|16=0|10=161|";
static const char SREJECT[] =
    "8=FIX.4.4|9=106|35=3|49=SIMVENUE|56=CLIENT1|34=7|52=20250101-14:31:06.000|45=7|371=11|"
    "372=D|373=1|58=Required tag missing|10=247|";
static const char LOGOUT[] =
    "8=FIX.4.4|9=58|35=5|49=CLIENT1|56=SIMVENUE|34=7|52=20250101-14:32:00.000|10=037|";
/* 3.5 gap fill, and 3.8 Binance's Logon reply (microsecond SendingTime). */
static const char GAPFILL[] =
    "8=FIX.4.4|9=100|35=4|49=SIMVENUE|56=CLIENT1|34=2|52=20250101-14:31:05.010|43=Y|"
    "122=20250101-14:30:01.005|123=Y|36=4|10=057|";
static const char BINANCE_LOGON[] =
    "8=FIX.4.4|9=113|35=A|34=1|49=SPOT|52=20240612-08:52:21.636837|56=5JQmUOsm|98=0|108=30|"
    "25037=4392a152-3481-4499-921a-6d42c50702e2|10=051|";

/* 2025-01-01 00:00:00 UTC in ns, and helpers for the examples' times. */
#define T20250101 (UINT64_C(1735689600) * UINT64_C(1000000000))
static uint64_t at(unsigned h, unsigned m, unsigned s, unsigned ms)
{
    return T20250101 + ((uint64_t)h * 3600 + m * 60 + s) * UINT64_C(1000000000) +
           (uint64_t)ms * UINT64_C(1000000);
}

/* ---- helpers ---- */

/* Copy a '|' message into out with SOH; returns its length. */
static size_t S(char *out, const char *pipe)
{
    size_t n = strlen(pipe);

    for (size_t i = 0; i < n; i++)
        out[i] = pipe[i] == '|' ? '\x01' : pipe[i];
    out[n] = '\0';
    return n;
}

/* Independent reference: byte sum mod 256 (the spec's fragment, unsigned). */
static unsigned ref_sum(const char *p, size_t n)
{
    unsigned s = 0;

    for (size_t i = 0; i < n; i++)
        s += (unsigned char)p[i];
    return s % 256;
}

/*
 * Reference framing: "8=FIX.4.4|9=<len>|" + body + "10=<ddd>|" where body is
 * a '|' string from "35=" through the last field's '|'.  Uses snprintf (it
 * is test code) so it shares nothing with the encoder.
 */
static size_t ref_frame(char *out, size_t cap, const char *body_pipe)
{
    char body[2048];
    size_t bl = S(body, body_pipe);
    int n = snprintf(out, cap,
                     "8=FIX.4.4\x01"
                     "9=%zu\x01%s",
                     bl, body);
    unsigned c = ref_sum(out, (size_t)n);
    n += snprintf(out + n, cap - (size_t)n, "10=%03u\x01", c);
    return (size_t)n;
}

static desk_fix_field_t FIELDS[256];

static desk_fix_msg_t new_msg(void)
{
    desk_fix_msg_t m;

    assert_int_equal(desk_fix_msg_init(&m, FIELDS, 256), 0);
    return m;
}

/* Parse exactly one whole message from s[0..n). */
static void parse_one(const char *s, size_t n, desk_fix_msg_t *m)
{
    size_t used = 99;

    assert_int_equal(desk_fix_parse(s, n, m, &used), 0);
    assert_int_equal(used, n);
    assert_int_equal(m->len, n);
    assert_ptr_equal(m->buf, s);
}

static void assert_sv(desk_fix_sv_t v, const char *want)
{
    assert_int_equal(v.len, strlen(want));
    assert_memory_equal(v.p, want, v.len);
}

static void assert_str(const desk_fix_msg_t *m, uint32_t tag, const char *want)
{
    desk_fix_sv_t v;

    assert_int_equal(desk_fix_get_str(m, tag, &v), 0);
    assert_sv(v, want);
}

static void assert_int_field(const desk_fix_msg_t *m, uint32_t tag, int64_t want)
{
    int64_t v = -12345;

    assert_int_equal(desk_fix_get_int(m, tag, &v), 0);
    assert_int_equal(v, want);
}

static void assert_fixed_field(const desk_fix_msg_t *m, uint32_t tag, int64_t want)
{
    int64_t v = -12345;

    assert_int_equal(desk_fix_get_fixed(m, tag, &v), 0);
    assert_int_equal(v, want);
}

static void assert_char_field(const desk_fix_msg_t *m, uint32_t tag, char want)
{
    char c = 0;

    assert_int_equal(desk_fix_get_char(m, tag, &c), 0);
    assert_int_equal(c, want);
}

/* Finish an encoder and compare with a '|' message, byte for byte. */
static void assert_encoded(desk_fix_enc_t *e, const char *want_pipe)
{
    char want[2048];
    size_t wn = S(want, want_pipe);
    const char *msg = NULL;
    int n = desk_fix_enc_finish(e, &msg);

    assert_int_equal(n, (int)wn);
    assert_memory_equal(msg, want, wn);
}

static desk_fix_tmpl_t CLIENT, VENUE; /* CLIENT1->SIMVENUE and back */

static int setup(void **state)
{
    (void)state;
    assert_int_equal(desk_fix_tmpl_init(&CLIENT, "CLIENT1", "SIMVENUE"), 0);
    assert_int_equal(desk_fix_tmpl_init(&VENUE, "SIMVENUE", "CLIENT1"), 0);
    return 0;
}

/* ---- 1. worked examples of 3.2 ---- */

static void test_worked_examples(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof WORKED / sizeof WORKED[0]; k++) {
        char buf[1024];
        size_t n = S(buf, WORKED[k].text);
        /* Body: from the byte after 9's SOH through the SOH before "10=". */
        const char *b = strchr(strstr(buf, "\x01"
                                           "9=") +
                                   1,
                               '\x01') +
                        1;
        const char *t = buf + n - 7; /* "10=ddd<SOH>" */
        assert_memory_equal(t, "10=", 3);
        assert_int_equal((size_t)(t - b), WORKED[k].body_len);
        assert_int_equal(ref_sum(buf, (size_t)(t - buf)), WORKED[k].checksum);
        assert_int_equal(desk_fix_checksum(buf, (size_t)(t - buf)), WORKED[k].checksum);

        desk_fix_msg_t m = new_msg();
        size_t used = 0;
        int rc = desk_fix_parse(buf, n, &m, &used);
        if (k == 0) {
            /* FIX.4.2 is not this session's BeginString: dropped whole. */
            assert_int_equal(rc, -EBADMSG);
            assert_int_equal(used, n);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(used, n);
        int64_t bl;
        assert_int_equal(desk_fix_get_int(&m, DESK_FIX_BodyLength, &bl), 0);
        assert_int_equal(bl, WORKED[k].body_len);
        char cks[4] = {t[3], t[4], t[5], 0};
        assert_str(&m, DESK_FIX_CheckSum, cks);
        assert_int_equal(m.fields[0].tag, 8);
        assert_int_equal(m.fields[1].tag, 9);
        assert_int_equal(m.fields[2].tag, 35);
        assert_int_equal(m.fields[m.nfields - 1].tag, 10);
    }

    /* Example 5 carries RawData (96) after RawDataLength (95=88). */
    char buf[1024];
    size_t n = S(buf, WORKED[4].text);
    desk_fix_msg_t m = new_msg();
    parse_one(buf, n, &m);
    desk_fix_sv_t raw;
    assert_int_equal(desk_fix_get_str(&m, DESK_FIX_RawData, &raw), 0);
    assert_int_equal(raw.len, 88);
    assert_int_field(&m, 25035, 2);
}

/* desk's encoder writes examples 2 (Logon) and 4 (Heartbeat, "10=029"). */
static void test_worked_examples_encoded(void **state)
{
    desk_fix_enc_t e;
    char buf[512];

    (void)state;
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "A", 1, at(14, 30, 0, 0));
    desk_fix_put_logon(&e, 30, 1);
    assert_encoded(&e, WORKED[1].text);

    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "0", 3, at(14, 30, 30, 0));
    desk_fix_put_heartbeat(&e, NULL, 0);
    assert_encoded(&e, WORKED[3].text);

    /* Example 3 through the generic field writers. */
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "D", 2, at(14, 30, 1, 0));
    desk_fix_enc_str(&e, DESK_FIX_ClOrdID, "ORD-0001", 8);
    desk_fix_enc_str(&e, DESK_FIX_Symbol, "AAPL", 4);
    desk_fix_enc_char(&e, DESK_FIX_Side, '1');
    desk_fix_enc_time(&e, DESK_FIX_TransactTime, at(14, 30, 1, 0));
    desk_fix_enc_fixed(&e, DESK_FIX_OrderQty, 100 * E8);
    desk_fix_enc_char(&e, DESK_FIX_OrdType, '2');
    desk_fix_enc_fixed(&e, DESK_FIX_Price, 15025 * E8 / 100);
    desk_fix_enc_char(&e, DESK_FIX_TimeInForce, '0');
    assert_encoded(&e, WORKED[2].text);

    /* The NewOrderSingle builder: the same message with ClOrdID "d1". */
    desk_vcmd_t c = {.type = DESK_CMD_NEW,
                     .side = DESK_BUY,
                     .ord_type = DESK_LIMIT,
                     .tif = DESK_DAY,
                     .cl_ord_id = 1,
                     .qty = 100 * E8,
                     .px = 15025 * E8 / 100};
    char want[512];
    size_t wn = ref_frame(want, sizeof want,
                          "35=D|49=CLIENT1|56=SIMVENUE|34=2|52=20250101-14:30:01.000|11=d1|55=AAPL|"
                          "54=1|60=20250101-14:30:01.000|38=100|40=2|44=150.25|59=0|");
    const char *msg;
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "D", 2, at(14, 30, 1, 0));
    desk_fix_put_new_order(&e, &c, "AAPL", 4, at(14, 30, 1, 0));
    assert_int_equal(desk_fix_enc_finish(&e, &msg), (int)wn);
    assert_memory_equal(msg, want, wn);
}

/* ---- 2. every example of 3.6 (plus 3.5's gap fill and 3.8's Logon) ---- */

static void test_section_3_6_parsed(void **state)
{
    char buf[1024];
    desk_fix_msg_t m = new_msg();
    desk_fix_hdr_t h;
    desk_fix_exec_t x;
    desk_vevent_t ev;

    (void)state;
    /* NewOrderSingle acknowledged. */
    parse_one(buf, S(buf, ER_ACK), &m);
    assert_int_equal(desk_fix_hdr_decode(&m, &h), 0);
    assert_sv(h.msg_type, "8");
    assert_sv(h.sender, "SIMVENUE");
    assert_sv(h.target, "CLIENT1");
    assert_int_equal(h.seq, 2);
    assert_int_equal(h.sending_ns, at(14, 30, 1, 5));
    assert_int_equal(h.poss_dup, 0);
    assert_int_equal(desk_fix_exec_decode(&m, &x), 0);
    assert_sv(x.order_id, "SIM-1");
    assert_sv(x.cl_ord_id_s, "ORD-0001");
    assert_int_equal(x.cl_ord_id, 0); /* not desk's format */
    assert_sv(x.exec_id, "EX-1");
    assert_int_equal(x.exec_type, '0');
    assert_int_equal(x.ord_status, '0');
    assert_int_equal(x.side, '1');
    assert_sv(x.symbol, "AAPL");
    assert_int_equal(x.leaves_qty, 100 * E8);
    assert_int_equal(x.cum_qty, 0);
    assert_int_equal(x.avg_px, 0);
    assert_int_equal(x.order_qty, 100 * E8);
    assert_int_equal(x.ord_rej_reason, -1);
    assert_int_equal(desk_fix_exec_to_vevent(&x, 77, 3, 555, &ev), 1);
    assert_int_equal(ev.type, DESK_EV_ACK);
    assert_int_equal(ev.order_id, 77);
    assert_int_equal(ev.instrument, 3);
    assert_int_equal(ev.venue_ns, 555);
    assert_int_equal(ev.exec_id, desk_fix_exec_id("EX-1", 4));

    /* Partial fill 40 @ 150.25. */
    parse_one(buf, S(buf, ER_FILL), &m);
    assert_int_equal(desk_fix_exec_decode(&m, &x), 0);
    assert_int_equal(x.exec_type, 'F');
    assert_int_equal(x.ord_status, '1');
    assert_int_equal(x.last_qty, 40 * E8);
    assert_int_equal(x.last_px, 15025 * E8 / 100);
    assert_int_equal(x.leaves_qty, 60 * E8);
    assert_int_equal(x.cum_qty, 40 * E8);
    assert_int_equal(x.avg_px, 15025 * E8 / 100);
    assert_int_equal(desk_fix_exec_to_vevent(&x, 77, 3, 556, &ev), 1);
    assert_int_equal(ev.type, DESK_EV_FILL);
    assert_int_equal(ev.last_qty, 40 * E8);
    assert_int_equal(ev.last_px, 15025 * E8 / 100);
    assert_int_equal(ev.cum_qty, 40 * E8);
    assert_int_not_equal(ev.exec_id, desk_fix_exec_id("EX-1", 4));

    /* OrderCancelRequest and OrderCancelReplaceRequest. */
    parse_one(buf, S(buf, CXL_REQ), &m);
    assert_true(desk_fix_msg_is(&m, "F"));
    assert_str(&m, DESK_FIX_OrigClOrdID, "ORD-0001");
    assert_str(&m, DESK_FIX_ClOrdID, "ORD-0002");
    assert_fixed_field(&m, DESK_FIX_OrderQty, 100 * E8);
    assert_int_equal(desk_fix_exec_decode(&m, &x), -EINVAL);
    parse_one(buf, S(buf, RPL_REQ), &m);
    assert_true(desk_fix_msg_is(&m, "G"));
    assert_fixed_field(&m, DESK_FIX_Price, 15010 * E8 / 100);
    assert_char_field(&m, DESK_FIX_OrdType, '2');
    uint64_t t;
    assert_int_equal(desk_fix_get_time(&m, DESK_FIX_TransactTime, &t), 0);
    assert_int_equal(t, at(14, 30, 4, 0));

    /* TestRequest, Heartbeat reply, ResendRequest, Reject, Logout. */
    parse_one(buf, S(buf, TEST_REQ), &m);
    assert_true(desk_fix_msg_is(&m, "1"));
    assert_str(&m, DESK_FIX_TestReqID, "TEST-1");
    parse_one(buf, S(buf, HB_REPLY), &m);
    assert_true(desk_fix_msg_is(&m, "0"));
    assert_str(&m, DESK_FIX_TestReqID, "TEST-1");
    assert_int_equal(desk_fix_hdr_decode(&m, &h), 0);
    assert_int_equal(h.sending_ns, at(14, 31, 0, 10));
    parse_one(buf, S(buf, RESEND), &m);
    assert_int_field(&m, DESK_FIX_BeginSeqNo, 2);
    assert_int_field(&m, DESK_FIX_EndSeqNo, 0);
    parse_one(buf, S(buf, SREJECT), &m);
    assert_int_field(&m, DESK_FIX_RefSeqNum, 7);
    assert_int_field(&m, DESK_FIX_RefTagID, 11);
    assert_str(&m, DESK_FIX_RefMsgType, "D");
    assert_int_field(&m, DESK_FIX_SessionRejectReason, 1);
    assert_str(&m, DESK_FIX_Text, "Required tag missing");
    parse_one(buf, S(buf, LOGOUT), &m);
    assert_true(desk_fix_msg_is(&m, "5"));
    assert_int_equal(desk_fix_find(&m, DESK_FIX_Text), -ENOENT);

    /* 3.5 gap fill: PossDup and OrigSendingTime in the header. */
    parse_one(buf, S(buf, GAPFILL), &m);
    assert_int_equal(desk_fix_hdr_decode(&m, &h), 0);
    assert_int_equal(h.poss_dup, 1);
    assert_int_equal(h.orig_sending_ns, at(14, 30, 1, 5));
    int gf = -1;
    assert_int_equal(desk_fix_get_bool(&m, DESK_FIX_GapFillFlag, &gf), 0);
    assert_int_equal(gf, 1);
    assert_int_field(&m, DESK_FIX_NewSeqNo, 4);

    /* 3.8 Binance Logon: microseconds in 52, a user-defined tag. */
    parse_one(buf, S(buf, BINANCE_LOGON), &m);
    assert_int_equal(desk_fix_hdr_decode(&m, &h), 0);
    assert_int_equal(h.sending_ns, UINT64_C(1718182341636837000));
    assert_str(&m, 25037, "4392a152-3481-4499-921a-6d42c50702e2");
}

/* The session messages of 3.5/3.6 that desk's builders write, byte for byte. */
static void test_section_3_6_encoded(void **state)
{
    desk_fix_enc_t e;
    char buf[512];

    (void)state;
    desk_fix_enc_begin(&e, &VENUE, buf, sizeof buf, "1", 5, at(14, 31, 0, 0));
    desk_fix_put_test_request(&e, "TEST-1", 6);
    assert_encoded(&e, TEST_REQ);

    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "0", 5, at(14, 31, 0, 10));
    desk_fix_put_heartbeat(&e, "TEST-1", 6);
    assert_encoded(&e, HB_REPLY);

    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "2", 6, at(14, 31, 5, 0));
    desk_fix_put_resend_request(&e, 2, 0);
    assert_encoded(&e, RESEND);

    desk_fix_enc_begin(&e, &VENUE, buf, sizeof buf, "3", 7, at(14, 31, 6, 0));
    desk_fix_put_reject(&e, 7, 11, "D", 1, "Required tag missing", 20);
    assert_encoded(&e, SREJECT);

    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "5", 7, at(14, 32, 0, 0));
    desk_fix_put_logout(&e, NULL, 0);
    assert_encoded(&e, LOGOUT);

    desk_fix_enc_begin(&e, &VENUE, buf, sizeof buf, "4", 2, at(14, 31, 5, 10));
    desk_fix_enc_possdup(&e, at(14, 30, 1, 5));
    desk_fix_put_seq_reset(&e, 1, 4);
    assert_encoded(&e, GAPFILL);

    /* Cancel and replace with the examples' ClOrdIDs via the field writers. */
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "F", 3, at(14, 30, 3, 0));
    desk_fix_enc_str(&e, DESK_FIX_OrigClOrdID, "ORD-0001", 8);
    desk_fix_enc_str(&e, DESK_FIX_ClOrdID, "ORD-0002", 8);
    desk_fix_enc_str(&e, DESK_FIX_Symbol, "AAPL", 4);
    desk_fix_enc_char(&e, DESK_FIX_Side, '1');
    desk_fix_enc_time(&e, DESK_FIX_TransactTime, at(14, 30, 3, 0));
    desk_fix_enc_int(&e, DESK_FIX_OrderQty, 100);
    assert_encoded(&e, CXL_REQ);

    /* The builders, against the reference framing of the same fields. */
    desk_vcmd_t c = {.type = DESK_CMD_CANCEL,
                     .side = DESK_BUY,
                     .cl_ord_id = 2,
                     .orig_cl_ord_id = 1,
                     .qty = 100 * E8};
    char want[512];
    const char *msg;
    size_t wn = ref_frame(want, sizeof want,
                          "35=F|49=CLIENT1|56=SIMVENUE|34=3|52=20250101-14:30:03.000|41=d1|11=d2|"
                          "55=AAPL|54=1|60=20250101-14:30:03.000|38=100|");
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "F", 3, at(14, 30, 3, 0));
    desk_fix_put_cancel(&e, &c, "AAPL", 4, at(14, 30, 3, 0));
    assert_int_equal(desk_fix_enc_finish(&e, &msg), (int)wn);
    assert_memory_equal(msg, want, wn);

    c.type = DESK_CMD_REPLACE;
    c.cl_ord_id = 3;
    c.orig_cl_ord_id = 2;
    c.ord_type = DESK_LIMIT;
    c.tif = DESK_DAY;
    c.px = 15010 * E8 / 100;
    wn = ref_frame(want, sizeof want,
                   "35=G|49=CLIENT1|56=SIMVENUE|34=4|52=20250101-14:30:04.000|41=d2|11=d3|"
                   "55=AAPL|54=1|60=20250101-14:30:04.000|38=100|40=2|44=150.1|59=0|");
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "G", 4, at(14, 30, 4, 0));
    desk_fix_put_replace(&e, &c, "AAPL", 4, at(14, 30, 4, 0));
    assert_int_equal(desk_fix_enc_finish(&e, &msg), (int)wn);
    assert_memory_equal(msg, want, wn);
}

/* ---- 3. round trips ---- */

/* Parse msg[0..n) into m and check the standard header written by begin. */
static void check_header(const char *msg, int n, desk_fix_msg_t *m, const char *type, uint64_t seq,
                         uint64_t now)
{
    desk_fix_hdr_t h;

    assert_true(n > 0);
    parse_one(msg, (size_t)n, m);
    assert_int_equal(desk_fix_hdr_decode(m, &h), 0);
    assert_sv(h.msg_type, type);
    assert_sv(h.sender, "CLIENT1");
    assert_sv(h.target, "SIMVENUE");
    assert_int_equal(h.seq, seq);
    assert_int_equal(h.sending_ns, now / 1000000 * 1000000);
}

static void test_roundtrip_orders(void **state)
{
    static const uint8_t types[] = {DESK_MARKET, DESK_LIMIT, DESK_STOP, DESK_STOP_LIMIT};
    static const uint8_t tifs[] = {DESK_DAY, DESK_GTC, DESK_IOC, DESK_FOK};
    static const int64_t qtys[] = {1, 100 * E8, 12345678901234567, INT64_MAX};
    static const int64_t pxs[] = {1, 15025 * E8 / 100, 99999999, 922337203685477580};
    char buf[512];
    desk_fix_msg_t m = new_msg();
    desk_fix_enc_t e;
    const char *msg;
    uint64_t now = at(23, 59, 59, 999) + 123456; /* sub-ms digits are dropped */
    uint64_t seq = 1;

    (void)state;
    for (unsigned side = DESK_BUY; side <= DESK_SELL; side++)
        for (size_t ti = 0; ti < 4; ti++)
            for (size_t fi = 0; fi < 4; fi++)
                for (size_t k = 0; k < 4; k++) {
                    desk_vcmd_t c = {.side = (uint8_t)side,
                                     .ord_type = types[ti],
                                     .tif = tifs[fi],
                                     .cl_ord_id = UINT64_MAX - k,
                                     .orig_cl_ord_id = 7 + k,
                                     .qty = qtys[k],
                                     .px = pxs[k],
                                     .stop_px = pxs[3 - k]};
                    int lim = types[ti] == DESK_LIMIT || types[ti] == DESK_STOP_LIMIT;
                    int stp = types[ti] == DESK_STOP || types[ti] == DESK_STOP_LIMIT;
                    const char *mt[3] = {"D", "F", "G"};
                    for (int w = 0; w < 3; w++) {
                        desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, mt[w], seq, now);
                        if (w == 0)
                            desk_fix_put_new_order(&e, &c, "BTCUSDT", 7, now);
                        else if (w == 1)
                            desk_fix_put_cancel(&e, &c, "BTCUSDT", 7, now);
                        else
                            desk_fix_put_replace(&e, &c, "BTCUSDT", 7, now);
                        int n = desk_fix_enc_finish(&e, &msg);
                        check_header(msg, n, &m, mt[w], seq, now);
                        seq++;
                        desk_fix_sv_t v;
                        uint64_t id = 0;
                        assert_int_equal(desk_fix_get_str(&m, DESK_FIX_ClOrdID, &v), 0);
                        assert_int_equal(desk_fix_clid_parse(v.p, v.len, &id), 0);
                        assert_int_equal(id, c.cl_ord_id);
                        assert_str(&m, DESK_FIX_Symbol, "BTCUSDT");
                        assert_char_field(&m, DESK_FIX_Side, (char)('0' + side));
                        assert_fixed_field(&m, DESK_FIX_OrderQty, c.qty);
                        uint64_t tt = 0;
                        assert_int_equal(desk_fix_get_time(&m, DESK_FIX_TransactTime, &tt), 0);
                        assert_int_equal(tt, now / 1000000 * 1000000);
                        if (w != 0) {
                            assert_int_equal(desk_fix_get_str(&m, DESK_FIX_OrigClOrdID, &v), 0);
                            assert_int_equal(desk_fix_clid_parse(v.p, v.len, &id), 0);
                            assert_int_equal(id, c.orig_cl_ord_id);
                        }
                        if (w == 1) {
                            assert_int_equal(desk_fix_find(&m, DESK_FIX_OrdType), -ENOENT);
                            assert_int_equal(desk_fix_find(&m, DESK_FIX_Price), -ENOENT);
                            continue;
                        }
                        assert_char_field(&m, DESK_FIX_OrdType, (char)('0' + types[ti]));
                        assert_char_field(&m, DESK_FIX_TimeInForce, (char)('0' + tifs[fi]));
                        if (lim)
                            assert_fixed_field(&m, DESK_FIX_Price, c.px);
                        else
                            assert_int_equal(desk_fix_find(&m, DESK_FIX_Price), -ENOENT);
                        if (stp)
                            assert_fixed_field(&m, DESK_FIX_StopPx, c.stop_px);
                        else
                            assert_int_equal(desk_fix_find(&m, DESK_FIX_StopPx), -ENOENT);
                    }
                }
}

static void test_roundtrip_session(void **state)
{
    char buf[512];
    desk_fix_msg_t m = new_msg();
    desk_fix_enc_t e;
    const char *msg;
    int n, b;
    uint64_t now = at(9, 8, 7, 6);

    (void)state;
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "A", 1, now);
    desk_fix_put_logon(&e, 65535, 0);
    n = desk_fix_enc_finish(&e, &msg);
    check_header(msg, n, &m, "A", 1, now);
    assert_int_field(&m, DESK_FIX_EncryptMethod, 0);
    assert_int_field(&m, DESK_FIX_HeartBtInt, 65535);
    assert_int_equal(desk_fix_find(&m, DESK_FIX_ResetSeqNumFlag), -ENOENT);

    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "A", 1, now);
    desk_fix_put_logon(&e, 5, 1);
    n = desk_fix_enc_finish(&e, &msg);
    check_header(msg, n, &m, "A", 1, now);
    assert_int_equal(desk_fix_get_bool(&m, DESK_FIX_ResetSeqNumFlag, &b), 0);
    assert_int_equal(b, 1);

    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "0", 2, now);
    desk_fix_put_heartbeat(&e, NULL, 0);
    n = desk_fix_enc_finish(&e, &msg);
    check_header(msg, n, &m, "0", 2, now);
    assert_int_equal(m.nfields, 8); /* 8 9 35 49 56 34 52 10 */

    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "1", 3, now);
    desk_fix_put_test_request(&e, "ping 1", 6);
    n = desk_fix_enc_finish(&e, &msg);
    check_header(msg, n, &m, "1", 3, now);
    assert_str(&m, DESK_FIX_TestReqID, "ping 1");

    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "2", 4, now);
    desk_fix_put_resend_request(&e, 17, 42);
    n = desk_fix_enc_finish(&e, &msg);
    check_header(msg, n, &m, "2", 4, now);
    assert_int_field(&m, DESK_FIX_BeginSeqNo, 17);
    assert_int_field(&m, DESK_FIX_EndSeqNo, 42);

    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "4", 5, now);
    desk_fix_put_seq_reset(&e, 0, 1000000000000);
    n = desk_fix_enc_finish(&e, &msg);
    check_header(msg, n, &m, "4", 5, now);
    assert_int_field(&m, DESK_FIX_NewSeqNo, 1000000000000);
    assert_int_equal(desk_fix_find(&m, DESK_FIX_GapFillFlag), -ENOENT);

    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "3", 6, now);
    desk_fix_put_reject(&e, 3, 0, NULL, -1, NULL, 0);
    n = desk_fix_enc_finish(&e, &msg);
    check_header(msg, n, &m, "3", 6, now);
    assert_int_field(&m, DESK_FIX_RefSeqNum, 3);
    assert_int_equal(desk_fix_find(&m, DESK_FIX_RefTagID), -ENOENT);
    assert_int_equal(desk_fix_find(&m, DESK_FIX_SessionRejectReason), -ENOENT);

    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "5", 7, now);
    desk_fix_put_logout(&e, "bye: \xc3\xa9t\xc3\xa9", 10); /* UTF-8 in Text */
    n = desk_fix_enc_finish(&e, &msg);
    check_header(msg, n, &m, "5", 7, now);
    assert_str(&m, DESK_FIX_Text, "bye: \xc3\xa9t\xc3\xa9");
    assert_int_equal(desk_fix_checksum(msg, (size_t)n - 7), ref_sum(msg, (size_t)n - 7));

    /* Two-character MsgType through the generic writers. */
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "AE", 8, now);
    desk_fix_enc_int(&e, 571, -5);
    n = desk_fix_enc_finish(&e, &msg);
    check_header(msg, n, &m, "AE", 8, now);
    assert_true(desk_fix_msg_is(&m, "AE"));
    assert_false(desk_fix_msg_is(&m, "A"));
    assert_int_field(&m, 571, -5);
}

/* Every buffer one byte too short is -ENOSPC; the exact size works. */
static void test_enospc_and_einval(void **state)
{
    char buf[512];
    desk_fix_enc_t e;
    const char *msg;
    desk_vcmd_t c = {.side = DESK_SELL,
                     .ord_type = DESK_STOP_LIMIT,
                     .tif = DESK_GTC,
                     .cl_ord_id = 99,
                     .qty = 5 * E8,
                     .px = 3 * E8,
                     .stop_px = 4 * E8};
    uint64_t now = at(1, 2, 3, 4);

    (void)state;
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "D", 10, now);
    desk_fix_put_new_order(&e, &c, "AMZN", 4, now);
    int full = desk_fix_enc_finish(&e, &msg);
    assert_true(full > 0);
    size_t need = (size_t)(msg - buf) + (size_t)full;
    for (size_t cap = 0; cap < need; cap++) {
        desk_fix_enc_begin(&e, &CLIENT, buf, cap, "D", 10, now);
        desk_fix_put_new_order(&e, &c, "AMZN", 4, now);
        assert_int_equal(desk_fix_enc_finish(&e, &msg), -ENOSPC);
    }
    desk_fix_enc_begin(&e, &CLIENT, buf, need, "D", 10, now);
    desk_fix_put_new_order(&e, &c, "AMZN", 4, now);
    assert_int_equal(desk_fix_enc_finish(&e, &msg), full);

    /* -EINVAL: each bad command, and a body that does not match 35. */
    desk_vcmd_t bad[] = {c, c, c, c, c, c, c};
    bad[0].side = 3;
    bad[1].ord_type = 5;
    bad[2].tif = 2;
    bad[3].qty = 0;
    bad[4].px = 0;       /* stop-limit without its limit price */
    bad[5].stop_px = -1; /* ... or without its stop price */
    bad[6].qty = -E8;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "D", 1, now);
        desk_fix_put_new_order(&e, &bad[k], "AMZN", 4, now);
        assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);
    }
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "D", 1, now);
    desk_fix_put_new_order(&e, &c, "AM\x01ZN", 5, now); /* SOH in a value */
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "D", 1, now);
    desk_fix_put_new_order(&e, &c, "", 0, now);
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "F", 1, now);
    desk_fix_put_new_order(&e, &c, "AMZN", 4, now); /* D body in an F */
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "", 1, now);
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "ABC", 1, now);
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "1", 1, now);
    desk_fix_put_test_request(&e, NULL, 0); /* 112 is required */
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "2", 1, now);
    desk_fix_put_resend_request(&e, 5, 4);
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "4", 1, now);
    desk_fix_put_seq_reset(&e, 1, 0);
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "0", 1, now);
    desk_fix_enc_char(&e, 58, '\x01');
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);

    /* A body over DESK_FIX_MAX_BODY is refused even with room for it. */
    static char big[DESK_FIX_MAX_BODY + 512];
    static char text[DESK_FIX_MAX_BODY];
    memset(text, 'x', sizeof text);
    desk_fix_enc_begin(&e, &CLIENT, big, sizeof big, "5", 1, now);
    desk_fix_put_logout(&e, text, sizeof text);
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -ENOSPC);

    desk_fix_tmpl_t t;
    assert_int_equal(desk_fix_tmpl_init(&t, "", "X"), -EINVAL);
    assert_int_equal(desk_fix_tmpl_init(&t, "A B", "X"), -EINVAL);
    assert_int_equal(desk_fix_tmpl_init(&t, "A", NULL), -EINVAL);
    assert_int_equal(desk_fix_tmpl_init(&t, "123456789012345678901234567890123", "X"), -EINVAL);
    assert_int_equal(desk_fix_tmpl_init(&t, "12345678901234567890123456789012", "X"), 0);
}

/* ---- 4. framing ---- */

/* All the 4.4 examples back to back: the stream the split tests feed. */
static size_t example_stream(char *out)
{
    const char *all[] = {WORKED[1].text, WORKED[2].text, WORKED[3].text, WORKED[4].text,
                         ER_ACK,         ER_FILL,        CXL_REQ,        RPL_REQ,
                         TEST_REQ,       HB_REPLY,       RESEND,         SREJECT,
                         LOGOUT,         GAPFILL,        BINANCE_LOGON};
    size_t n = 0;

    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        n += S(out + n, all[k]);
    return n;
}
#define N_STREAM 15

static void test_split_every_byte(void **state)
{
    char buf[1024];
    desk_fix_msg_t m = new_msg();
    size_t used;

    (void)state;
    for (size_t k = 1; k < sizeof WORKED / sizeof WORKED[0]; k++) {
        size_t n = S(buf, WORKED[k].text);
        for (size_t cut = 0; cut < n; cut++) {
            /* The first part alone is incomplete, whatever the cut. */
            used = 99;
            assert_int_equal(desk_fix_parse(buf, cut, &m, &used), -EAGAIN);
            assert_int_equal(used, 0);
            assert_int_equal(m.nfields, 0);
        }
        parse_one(buf, n, &m);
    }

    /* A whole stream fed one byte at a time to a receive buffer. */
    static char stream[8192], rx[8192];
    size_t total = example_stream(stream), have = 0, msgs = 0;
    for (size_t i = 0; i < total; i++) {
        rx[have++] = stream[i];
        for (;;) {
            int rc = desk_fix_parse(rx, have, &m, &used);
            if (rc == -EAGAIN) {
                assert_int_equal(used, 0);
                break;
            }
            assert_int_equal(rc, 0);
            msgs++;
            memmove(rx, rx + used, have - used);
            have -= used;
        }
    }
    assert_int_equal(msgs, N_STREAM);
    assert_int_equal(have, 0);

    /* And in chunks of every size from 2 to 64. */
    for (size_t chunk = 2; chunk <= 64; chunk++) {
        have = msgs = 0;
        for (size_t i = 0; i < total; i += chunk) {
            size_t c = total - i < chunk ? total - i : chunk;
            memcpy(rx + have, stream + i, c);
            have += c;
            int rc;
            while ((rc = desk_fix_parse(rx, have, &m, &used)) == 0) {
                msgs++;
                memmove(rx, rx + used, have - used);
                have -= used;
            }
            assert_int_equal(rc, -EAGAIN);
        }
        assert_int_equal(msgs, N_STREAM);
    }
}

/* Parse a '|' message that must be dropped; returns *used. */
static size_t expect_bad(const char *pipe)
{
    char buf[1024];
    size_t n = S(buf, pipe), used = 0;
    desk_fix_msg_t m = new_msg();

    assert_int_equal(desk_fix_parse(buf, n, &m, &used), -EBADMSG);
    assert_true(used >= 1 && used <= n);
    assert_int_equal(m.nfields, 0);
    return used;
}

static void test_bad_messages(void **state)
{
    char buf[2048], one[512];
    desk_fix_msg_t m = new_msg();
    size_t used, n;

    (void)state;
    /* Zero-padded BodyLength (Binance's "9=0000113" style) is accepted. */
    n = ref_frame(one, sizeof one, "35=0|49=A|56=B|34=1|52=20250101-00:00:00.000|");
    char *p = strstr(one, "\x01"
                          "9=") +
              3;
    memmove(p + 5, p, n - (size_t)(p - one) + 1);
    memcpy(p, "00000", 5);
    n += 5;
    unsigned c = ref_sum(one, n - 7);
    one[n - 4] = (char)('0' + c / 100);
    one[n - 3] = (char)('0' + c / 10 % 10);
    one[n - 2] = (char)('0' + c % 10);
    parse_one(one, n, &m);
    assert_str(&m, DESK_FIX_BodyLength, "0000045");
    assert_int_field(&m, DESK_FIX_BodyLength, 45);

    /* Bad CheckSum: the frame is dropped whole, silently. */
    used = expect_bad("8=FIX.4.4|9=58|35=0|49=CLIENT1|56=SIMVENUE|34=3|52=20250101-14:30:30.000|"
                      "10=030|");
    assert_int_equal(used, strlen(WORKED[3].text));
    /* Checksum sent unpadded, or with a letter: not a trailer. */
    expect_bad("8=FIX.4.4|9=58|35=0|49=CLIENT1|56=SIMVENUE|34=3|52=20250101-14:30:30.000|10=29|xx");
    expect_bad("8=FIX.4.4|9=58|35=0|49=CLIENT1|56=SIMVENUE|34=3|52=20250101-14:30:30.000|10=0a9|");
    /* Bad BodyLength, one short and one long: the trailer is not there. */
    expect_bad("8=FIX.4.4|9=57|35=0|49=CLIENT1|56=SIMVENUE|34=3|52=20250101-14:30:30.000|10=029|");
    expect_bad("8=FIX.4.4|9=59|35=0|49=CLIENT1|56=SIMVENUE|34=3|52=20250101-14:30:30.000|10=029|x");
    expect_bad("8=FIX.4.4|9=|35=0|10=029|");
    expect_bad("8=FIX.4.4|9=4|35=|10=000|");
    expect_bad("8=FIX.4.4|9=x5|35=0|10=000|");
    expect_bad("8=FIX.4.4|9=99999|35=0|");              /* above DESK_FIX_MAX_BODY */
    expect_bad("8=FIX.4.4|9=00000000058|35=0|10=000|"); /* 11 digits */
    /* BodyLength pointing at a "10=" that does not follow a SOH (inside a
     * value), even with a correct checksum: not a trailer. */
    n = S(one, "8=FIX.4.4|9=9|35=0|58=x");
    c = ref_sum(one, n);
    n += (size_t)snprintf(one + n, sizeof one - n, "10=%03u\x01", c);
    used = 0;
    assert_int_equal(desk_fix_parse(one, n, &m, &used), -EBADMSG);
    assert_int_equal(used, n);
    /* Missing 10=: the next message is found and kept. */
    n = S(buf, "8=FIX.4.4|9=58|35=0|49=CLIENT1|56=SIMVENUE|34=3|52=20250101-14:30:30.000|");
    size_t first = n;
    n += S(buf + n, WORKED[3].text);
    assert_int_equal(desk_fix_parse(buf, n, &m, &used), -EBADMSG);
    assert_int_equal(used, first);
    parse_one(buf + used, n - used, &m);

    /* Framed and checksummed, but the fields are broken (refs recompute 10). */
    const char *broken[] = {
        "49=A|35=0|56=B|",         /* 35 is not the third field */
        "35=0|49=A|=B|",           /* empty tag */
        "35=0|49=A|056=B|",        /* leading zero */
        "35=0|49=A|56B|",          /* no '=' */
        "35=0|49=A|1234567890=B|", /* 10-digit tag */
        "35=0|95=9|96=abc|",       /* DATA longer than the message */
    };
    for (size_t k = 0; k < sizeof broken / sizeof broken[0]; k++) {
        n = ref_frame(one, sizeof one, broken[k]);
        used = 0;
        assert_int_equal(desk_fix_parse(one, n, &m, &used), -EBADMSG);
        assert_int_equal(used, n);
    }

    /* DATA fields may hold SOH (and '='): their length says where they end. */
    n = ref_frame(one, sizeof one, "35=A|95=5|96=a|b=c|98=0|");
    parse_one(one, n, &m);
    desk_fix_sv_t v;
    assert_int_equal(desk_fix_get_str(&m, DESK_FIX_RawData, &v), 0);
    assert_int_equal(v.len, 5);
    assert_memory_equal(v.p,
                        "a\x01"
                        "b=c",
                        5);
    assert_int_field(&m, DESK_FIX_EncryptMethod, 0);
    /* Empty values are indexed (the session decides what they mean). */
    n = ref_frame(one, sizeof one, "35=0|58=|112=x|");
    parse_one(one, n, &m);
    assert_int_equal(desk_fix_get_str(&m, DESK_FIX_Text, &v), 0);
    assert_int_equal(v.len, 0);

    /* -EMSGSIZE: well framed but more fields than the index holds. */
    desk_fix_field_t small[6];
    desk_fix_msg_t ms;
    assert_int_equal(desk_fix_msg_init(&ms, small, 3), -EINVAL);
    assert_int_equal(desk_fix_msg_init(&ms, small, 6), 0);
    n = S(one, WORKED[3].text); /* 8 fields */
    assert_int_equal(desk_fix_parse(one, n, &ms, &used), -EMSGSIZE);
    assert_int_equal(used, n);
    assert_int_equal(ms.nfields, 0);
    desk_fix_field_t eight[8];
    assert_int_equal(desk_fix_msg_init(&ms, eight, 8), 0);
    assert_int_equal(desk_fix_parse(one, n, &ms, &used), 0);
    assert_int_equal(ms.nfields, 8);
}

static void test_garbage_between_messages(void **state)
{
    static char buf[4096];
    desk_fix_msg_t m = new_msg();
    size_t n = 0, used;
    int good = 0, dropped = 0;

    (void)state;
    n += S(buf + n, "garbage|8=FIX.4.2|9=5|");
    n += S(buf + n, WORKED[1].text);
    n += S(buf + n, "||xx8=FIX.4.");    /* a false start */
    n += S(buf + n, "58=FIX.4.4|9=0|"); /* looks like a start after '5' */
    n += S(buf + n, WORKED[3].text);
    n += S(buf + n, "8=FIX.4.4|9=58|35=0|49=CLIENT1|56=SIMVENUE|34=3|52=20250101-14:30:30.000|"
                    "10=028|"); /* bad checksum */
    n += S(buf + n, WORKED[2].text);
    n += S(buf + n, "\r\n8=FIX.4"); /* an unfinished start */

    size_t off = 0;
    for (;;) {
        int rc = desk_fix_parse(buf + off, n - off, &m, &used);
        if (rc == -EAGAIN) {
            assert_int_equal(used, 0);
            break;
        }
        assert_true(used >= 1);
        if (rc == 0)
            good++;
        else {
            assert_int_equal(rc, -EBADMSG);
            dropped++;
        }
        off += used;
    }
    assert_int_equal(good, 3);
    assert_true(dropped >= 3);
    /* What is left is exactly the unfinished "8=FIX.4". */
    assert_int_equal(n - off, 7);
    assert_memory_equal(buf + off, "8=FIX.4", 7);

    /* Garbage alone is dropped except a tail that could start a message. */
    n = S(buf, "hello world 8=FIX.4.4|");
    assert_int_equal(desk_fix_parse(buf, n, &m, &used), -EBADMSG);
    assert_int_equal(used, 12);
    assert_int_equal(desk_fix_parse(buf + 12, n - 12, &m, &used), -EAGAIN);
    n = S(buf, "zzzz");
    assert_int_equal(desk_fix_parse(buf, n, &m, &used), -EBADMSG);
    assert_int_equal(used, 4);
    assert_int_equal(desk_fix_parse(buf, 0, &m, &used), -EAGAIN);
}

/* ---- 5. times, numbers, ids, getters, the desk mapping ---- */

static void test_sending_time(void **state)
{
    char out[DESK_FIX_TIME_LEN + 1] = {0};
    uint64_t ns;

    (void)state;
    assert_int_equal(desk_fix_time_format(0, out), 21);
    assert_string_equal(out, "19700101-00:00:00.000");
    desk_fix_time_format(at(14, 30, 0, 0), out);
    assert_string_equal(out, "20250101-14:30:00.000");
    /* Leap day, last millisecond, sub-ms digits truncated (not rounded). */
    desk_fix_time_format(UINT64_C(1709251199) * 1000000000 + 999999999, out);
    assert_string_equal(out, "20240229-23:59:59.999");
    desk_fix_time_format(UINT64_C(951782400) * 1000000000 + 7000000, out); /* 2000-02-29 */
    assert_string_equal(out, "20000229-00:00:00.007");
    desk_fix_time_format(UINT64_MAX, out);
    assert_string_equal(out, "25540721-23:34:33.709");

    /* Parse: every fraction width; format -> parse round trips. */
    assert_int_equal(desk_fix_time_parse("20250101-14:30:00", 17, &ns), 0);
    assert_int_equal(ns, at(14, 30, 0, 0));
    assert_int_equal(desk_fix_time_parse("20250101-14:30:00.5", 19, &ns), 0);
    assert_int_equal(ns, at(14, 30, 0, 500));
    assert_int_equal(desk_fix_time_parse("20240612-08:52:21.636837", 24, &ns), 0);
    assert_int_equal(ns, UINT64_C(1718182341636837000));
    assert_int_equal(desk_fix_time_parse("20240612-08:52:21.636837123", 27, &ns), 0);
    assert_int_equal(ns, UINT64_C(1718182341636837123));
    assert_int_equal(desk_fix_time_parse("20161231-23:59:60", 17, &ns), 0); /* leap second */
    assert_int_equal(ns, UINT64_C(1483228799) * 1000000000);
    uint64_t x = 0x9e3779b97f4a7c15;
    for (int i = 0; i < 10000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t t = x % (UINT64_C(4102444800) * 1000000000); /* before 2100 */
        desk_fix_time_format(t, out);
        assert_int_equal(desk_fix_time_parse(out, 21, &ns), 0);
        assert_int_equal(ns, t / 1000000 * 1000000);
    }
    const char *bad[] = {"20250101 14:30:00",    "20251301-14:30:00",
                         "20250230-14:30:00",    "20230229-00:00:00",
                         "19691231-23:59:59",    "20250101-24:00:00",
                         "20250101-14:60:00",    "20250101-14:30:61",
                         "20250101-14:30:00.",   "20250101-14:30:00.1234567890",
                         "20250101-14:30:00,1",  "2025010-14:30:00.0",
                         "20250101-14:30:0x",    "25540721-23:34:34",
                         "20250101-14:30:00.12a"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ns = 42;
        assert_int_equal(desk_fix_time_parse(bad[k], strlen(bad[k]), &ns), -EBADMSG);
        assert_int_equal(ns, 42);
    }

    /* The template caches the second; a new second must not reuse it. */
    desk_fix_enc_t e;
    char buf[256];
    const char *msg;
    desk_fix_msg_t m = new_msg();
    uint64_t t0 = at(10, 0, 0, 999);
    for (int k = 0; k < 3; k++) {
        uint64_t t = t0 + (uint64_t)k * 1000000; /* 999 ms, then the next second */
        desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "0", 1, t);
        int n = desk_fix_enc_finish(&e, &msg);
        parse_one(msg, (size_t)n, &m);
        uint64_t got;
        assert_int_equal(desk_fix_get_time(&m, DESK_FIX_SendingTime, &got), 0);
        assert_int_equal(got, t);
    }
}

static void test_fixed_format(void **state)
{
    static const struct {
        int64_t v;
        const char *s;
    } cases[] = {
        {0, "0"},
        {1, "0.00000001"},
        {-1, "-0.00000001"},
        {15025 * E8 / 100, "150.25"},
        {15010 * E8 / 100, "150.1"},
        {100 * E8, "100"},
        {-100000, "-0.001"},
        {E8 + 1, "1.00000001"},
        {12345678901234567, "123456789.01234567"},
        {INT64_MAX, "92233720368.54775807"},
        {INT64_MIN, "-92233720368.54775808"},
    };
    char out[22];

    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int n = desk_fix_fixed_format(cases[k].v, out);
        assert_int_equal(n, (int)strlen(cases[k].s));
        assert_memory_equal(out, cases[k].s, (size_t)n);
    }
    /* Exactness: format -> desk_fixed_parse gives the same value back. */
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t v = (int64_t)x >> (x % 50);
        int64_t back = 0;
        int n = desk_fix_fixed_format(v, out);
        assert_true(n >= 1 && n <= 21);
        assert_int_equal(desk_fixed_parse(out, (size_t)n, &back), 0);
        assert_int_equal(back, v);
        assert_true(n == 1 || out[n - 1] != '0' || memchr(out, '.', (size_t)n) == NULL);
    }
}

static void test_getters_and_ids(void **state)
{
    char one[512], id[DESK_FIX_CLID_MAX];
    desk_fix_msg_t m = new_msg();
    int64_t v = 7;
    char c = 'z';
    int b = 9;
    uint64_t u = 0;

    (void)state;
    size_t n = ref_frame(one, sizeof one,
                         "35=8|1=-9223372036854775808|2=9223372036854775808|3=12a|4=|5=AB|"
                         "6=1.000000001|7=002000.00|8=Y|9=y|10=N|");
    parse_one(one, n, &m);
    /* Tags 8, 9 and 10 in the body: the first occurrence is the header's. */
    assert_str(&m, DESK_FIX_BeginString, "FIX.4.4");
    assert_int_field(&m, 1, INT64_MIN);
    assert_int_equal(desk_fix_get_int(&m, 2, &v), -ERANGE);
    assert_int_equal(desk_fix_get_int(&m, 3, &v), -EBADMSG);
    assert_int_equal(desk_fix_get_int(&m, 4, &v), -EBADMSG);
    assert_int_equal(desk_fix_get_int(&m, 404, &v), -ENOENT);
    assert_int_equal(v, 7);
    assert_int_equal(desk_fix_get_char(&m, 5, &c), -EBADMSG);
    assert_int_equal(desk_fix_get_char(&m, 4, &c), -EBADMSG);
    assert_int_equal(desk_fix_get_char(&m, 404, &c), -ENOENT);
    assert_int_equal(c, 'z');
    assert_int_equal(desk_fix_get_fixed(&m, 6, &v), -ERANGE);
    assert_int_equal(desk_fix_get_fixed(&m, 3, &v), -EBADMSG);
    assert_int_equal(desk_fix_get_fixed(&m, 4, &v), -EBADMSG);
    assert_fixed_field(&m, 7, 2000 * E8);
    assert_int_equal(desk_fix_get_bool(&m, 5, &b), -EBADMSG);
    assert_int_equal(desk_fix_get_bool(&m, 404, &b), -ENOENT);
    assert_int_equal(b, 9);
    desk_fix_sv_t sv = {one, 1};
    assert_int_equal(desk_fix_get_str(&m, 404, &sv), -ENOENT);
    assert_null(sv.p);
    assert_int_equal(sv.len, 0);
    assert_int_equal(desk_fix_get_time(&m, 5, &u), -EBADMSG);

    /* ClOrdID: "d" + decimal, and nothing else parses back. */
    assert_int_equal(desk_fix_clid_format(42, id, sizeof id), 3);
    assert_string_equal(id, "d42");
    assert_int_equal(desk_fix_clid_format(UINT64_MAX, id, sizeof id), 21);
    assert_string_equal(id, "d18446744073709551615");
    assert_int_equal(desk_fix_clid_parse(id, 21, &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(desk_fix_clid_format(42, id, 3), -ENOSPC);
    const char *nots[] = {"d", "42", "D42", "d042", "d0", "d18446744073709551616", "d4x", "d-1"};
    for (size_t k = 0; k < sizeof nots / sizeof nots[0]; k++)
        assert_int_equal(desk_fix_clid_parse(nots[k], strlen(nots[k]), &u), -EBADMSG);

    /* ExecID: numbers stay numbers; other strings hash into the top half. */
    assert_int_equal(desk_fix_exec_id("12345", 5), 12345);
    assert_true(desk_fix_exec_id("999999999999999999", 18) == UINT64_C(999999999999999999));
    assert_true(desk_fix_exec_id("9999999999999999999", 19) >> 63);
    assert_true(desk_fix_exec_id("007", 3) >> 63); /* not "7" */
    assert_true(desk_fix_exec_id("0", 1) >> 63);
    assert_true(desk_fix_exec_id("EX-1", 4) != desk_fix_exec_id("EX-2", 4));
    assert_true(desk_fix_exec_id("EX-1", 4) == desk_fix_exec_id("EX-1", 4));
}

/* An ExecutionReport body for the mapping table (reference-framed). */
static void er(desk_fix_msg_t *m, char *buf, size_t cap, const char *fields)
{
    char body[1024];

    snprintf(body, sizeof body, "35=8|49=V|56=C|34=9|52=20250101-00:00:00|%s", fields);
    size_t n = ref_frame(buf, cap, body);
    parse_one(buf, n, m);
}

static void test_exec_mapping(void **state)
{
    static const struct {
        char exec_type;
        int rc;
        uint8_t type;
    } table[] = {
        {'0', 1, DESK_EV_ACK},
        {'F', 1, DESK_EV_FILL},
        {'4', 1, DESK_EV_CANCELED},
        {'5', 1, DESK_EV_REPLACED},
        {'8', 1, DESK_EV_REJECT},
        {'C', 1, DESK_EV_EXPIRED},
        {'3', 1, DESK_EV_EXPIRED},
        {'6', 0, 0},
        {'E', 0, 0},
        {'A', 0, 0},
        {'7', 0, 0},
        {'9', 0, 0},
        {'B', 0, 0},
        {'D', 0, 0},
        {'G', 0, 0},
        {'H', 0, 0},
        {'I', 0, 0},
        {'1', -EBADMSG, 0},
        {'2', -EBADMSG, 0},
        {'Z', -EBADMSG, 0},
    };
    char buf[1024], f[512];
    desk_fix_msg_t m = new_msg();
    desk_fix_exec_t x;
    desk_vevent_t ev;

    (void)state;
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
        snprintf(f, sizeof f,
                 "37=O1|11=d8|41=d7|17=%zu|150=%c|39=1|55=AMZN|54=2|151=1.5|14=2.5|6=223.82|"
                 "32=2.5|31=223.82|12=0.01|103=1|",
                 k + 1, table[k].exec_type);
        er(&m, buf, sizeof buf, f);
        assert_int_equal(desk_fix_exec_decode(&m, &x), 0);
        assert_int_equal(x.cl_ord_id, 8);
        assert_int_equal(x.orig_cl_ord_id, 7);
        assert_int_equal(x.ord_rej_reason, 1);
        memset(&ev, 0xee, sizeof ev);
        assert_int_equal(desk_fix_exec_to_vevent(&x, 5, 6, 7, &ev), table[k].rc);
        if (table[k].rc != 1)
            continue;
        assert_int_equal(ev.type, table[k].type);
        assert_int_equal(ev.order_id, 5);
        assert_int_equal(ev.instrument, 6);
        assert_int_equal(ev.venue_ns, 7);
        assert_int_equal(ev.exec_id, k + 1);
        assert_int_equal(ev.cum_qty, 250000000);
        if (ev.type == DESK_EV_FILL) {
            assert_int_equal(ev.last_qty, 250000000);
            assert_int_equal(ev.last_px, 22382000000);
            assert_int_equal(ev.fee, 1000000);
        } else {
            assert_int_equal(ev.last_qty, 0);
            assert_int_equal(ev.fee, 0);
        }
        assert_int_equal(ev.reason, ev.type == DESK_EV_REJECT ? DESK_REJ_UNKNOWN_INSTRUMENT : 0);
    }

    /* OrdRejReason -> desk_reject_t. */
    static const struct {
        const char *r;
        uint16_t want;
    } rej[] = {{"0", DESK_REJ_VENUE_CASH},    {"1", DESK_REJ_UNKNOWN_INSTRUMENT},
               {"5", DESK_REJ_UNKNOWN_ORDER}, {"6", DESK_REJ_DUPLICATE_CLORDID},
               {"13", DESK_REJ_BAD_QTY},      {"99", DESK_REJ_VENUE},
               {NULL, DESK_REJ_VENUE}};
    for (size_t k = 0; k < sizeof rej / sizeof rej[0]; k++) {
        char tail[32] = "";
        if (rej[k].r != NULL)
            snprintf(tail, sizeof tail, "103=%s|", rej[k].r);
        snprintf(f, sizeof f,
                 "37=O1|11=d8|17=X|150=8|39=8|55=AMZN|54=1|151=0|14=0|6=0|58=no such symbol|%s",
                 tail);
        er(&m, buf, sizeof buf, f);
        assert_int_equal(desk_fix_exec_decode(&m, &x), 0);
        assert_sv(x.text, "no such symbol");
        assert_int_equal(desk_fix_exec_to_vevent(&x, 1, 1, 1, &ev), 1);
        assert_int_equal(ev.type, DESK_EV_REJECT);
        assert_int_equal(ev.reason, rej[k].want);
    }

    /* Required fields: each missing one is -EBADMSG. */
    const char *missing[] = {
        "11=d8|17=X|150=0|39=0|55=AMZN|54=1|151=1|14=0|6=0|",          /* 37 */
        "37=O|11=d8|150=0|39=0|55=AMZN|54=1|151=1|14=0|6=0|",          /* 17 */
        "37=O|17=X|39=0|55=AMZN|54=1|151=1|14=0|6=0|",                 /* 150 */
        "37=O|17=X|150=0|55=AMZN|54=1|151=1|14=0|6=0|",                /* 39 */
        "37=O|17=X|150=0|39=0|54=1|151=1|14=0|6=0|",                   /* 55 */
        "37=O|17=X|150=0|39=0|55=AMZN|151=1|14=0|6=0|",                /* 54 */
        "37=O|17=X|150=0|39=0|55=AMZN|54=1|14=0|6=0|",                 /* 151 */
        "37=O|17=X|150=0|39=0|55=AMZN|54=1|151=1|6=0|",                /* 14 */
        "37=O|17=X|150=0|39=0|55=AMZN|54=1|151=1|14=0|",               /* 6 */
        "37=O|17=X|150=F|39=1|55=AMZN|54=1|151=1|14=1|6=1|31=1|",      /* 32 on a trade */
        "37=O|17=X|150=F|39=1|55=AMZN|54=1|151=1|14=1|6=1|32=1|",      /* 31 on a trade */
        "37=O|17=X|150=F|39=1|55=AMZN|54=1|151=1|14=1|6=1|32=0|31=1|", /* empty trade */
        "37=O|17=X|150=0|39=0|55=AMZN|54=1|151=-1|14=0|6=0|",          /* negative qty */
        "37=O|17=X|150=00|39=0|55=AMZN|54=1|151=1|14=0|6=0|",          /* CHAR of 2 */
        "37=O|17=|150=0|39=0|55=AMZN|54=1|151=1|14=0|6=0|",            /* empty ExecID */
        "37=O|17=X|150=0|39=0|55=AMZN|54=1|151=1|14=0|6=0|103=x|",     /* bad 103 */
    };
    for (size_t k = 0; k < sizeof missing / sizeof missing[0]; k++) {
        er(&m, buf, sizeof buf, missing[k]);
        assert_int_equal(desk_fix_exec_decode(&m, &x), -EBADMSG);
    }
    er(&m, buf, sizeof buf, "37=O|17=X|150=0|39=0|55=AMZN|54=1|151=1.000000001|14=0|6=0|");
    assert_int_equal(desk_fix_exec_decode(&m, &x), -ERANGE);

    /* OrderCancelReject. */
    desk_fix_cxlrej_t r;
    static const struct {
        const char *reason;
        uint16_t want;
    } cx[] = {{"0", DESK_REJ_ORDER_NOT_OPEN},
              {"1", DESK_REJ_UNKNOWN_ORDER},
              {"3", DESK_REJ_PENDING},
              {"2", DESK_REJ_VENUE},
              {"99", DESK_REJ_VENUE}};
    for (size_t k = 0; k < sizeof cx / sizeof cx[0]; k++) {
        char body[256];
        snprintf(body, sizeof body,
                 "35=9|49=V|56=C|34=9|52=20250101-00:00:00|37=NONE|11=d12|41=d11|39=8|434=%c|"
                 "102=%s|58=Unknown order|",
                 k % 2 ? '1' : '2', cx[k].reason);
        size_t n = ref_frame(buf, sizeof buf, body);
        parse_one(buf, n, &m);
        assert_int_equal(desk_fix_cxlrej_decode(&m, &r), 0);
        assert_sv(r.order_id, "NONE");
        assert_int_equal(r.cl_ord_id, 12);
        assert_int_equal(r.orig_cl_ord_id, 11);
        assert_int_equal(r.ord_status, '8');
        assert_int_equal(r.response_to, k % 2 ? '1' : '2');
        assert_sv(r.text, "Unknown order");
        assert_int_equal(desk_fix_cxlrej_to_vevent(&r, 4, 2, 9, &ev), 1);
        assert_int_equal(ev.type, DESK_EV_CANCEL_REJECT);
        assert_int_equal(ev.reason, cx[k].want);
        assert_int_equal(ev.order_id, 4);
        assert_int_equal(ev.instrument, 2);
        assert_int_equal(ev.exec_id, 0);
        assert_int_equal(desk_fix_exec_decode(&m, &x), -EINVAL);
    }
    size_t n = ref_frame(buf, sizeof buf,
                         "35=9|49=V|56=C|34=9|52=20250101-00:00:00|37=NONE|11=d12|41=d11|39=8|"
                         "434=3|");
    parse_one(buf, n, &m);
    assert_int_equal(desk_fix_cxlrej_decode(&m, &r), -EBADMSG);
    n = ref_frame(buf, sizeof buf,
                  "35=9|49=V|56=C|34=9|52=20250101-00:00:00|37=NONE|11=d12|39=8|434=1|");
    parse_one(buf, n, &m);
    assert_int_equal(desk_fix_cxlrej_decode(&m, &r), -EBADMSG);
    er(&m, buf, sizeof buf, "37=O|17=X|150=0|39=0|55=AMZN|54=1|151=1|14=0|6=0|");
    assert_int_equal(desk_fix_cxlrej_decode(&m, &r), -EINVAL);

    /* Header decode: missing or malformed required fields. */
    desk_fix_hdr_t h;
    const char *hb[] = {"35=0|56=C|34=1|52=20250101-00:00:00|",
                        "35=0|49=V|34=1|52=20250101-00:00:00|",
                        "35=0|49=V|56=C|52=20250101-00:00:00|",
                        "35=0|49=V|56=C|34=-1|52=20250101-00:00:00|",
                        "35=0|49=V|56=C|34=1|",
                        "35=0|49=V|56=C|34=1|52=20250101|",
                        "35=0|49=V|56=C|34=1|52=20250101-00:00:00|43=X|",
                        "35=0|49=V|56=C|34=1|52=20250101-00:00:00|43=Y|122=bad|"};
    for (size_t k = 0; k < sizeof hb / sizeof hb[0]; k++) {
        n = ref_frame(buf, sizeof buf, hb[k]);
        parse_one(buf, n, &m);
        assert_int_equal(desk_fix_hdr_decode(&m, &h), -EBADMSG);
    }
    /* SequenceReset-Reset may carry 34=0 (PROTOCOLS.md 3.5). */
    n = ref_frame(buf, sizeof buf, "35=4|49=V|56=C|34=0|52=20250101-00:00:00|36=25|");
    parse_one(buf, n, &m);
    assert_int_equal(desk_fix_hdr_decode(&m, &h), 0);
    assert_int_equal(h.seq, 0);
}

/* ---- 6. account messages ---- */

/* Frame a venue message "35=<type>|49=V|56=C|34=9|52=...|<fields>" and parse it. */
static void acct_msg(desk_fix_msg_t *m, char *buf, size_t cap, const char *type, const char *fields)
{
    char body[1024];

    snprintf(body, sizeof body, "35=%s|49=V|56=C|34=9|52=20250101-00:00:00|%s", type, fields);
    size_t n = ref_frame(buf, cap, body);
    parse_one(buf, n, m);
}

static void test_account_encode(void **state)
{
    (void)state;
    char buf[512], want[1024];
    const char *msg;
    desk_fix_enc_t e;
    desk_fix_msg_t m = new_msg();

    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "AN", 7, at(14, 30, 0, 5));
    desk_fix_put_position_request(&e, "p1", 2, "CLIENT1", 7, at(14, 30, 0, 5));
    size_t wn = ref_frame(want, sizeof want,
                          "35=AN|49=CLIENT1|56=SIMVENUE|34=7|52=20250101-14:30:00.005|710=p1|724=0|"
                          "263=0|1=CLIENT1|581=1|715=20250101|60=20250101-14:30:00.005|");
    int n = desk_fix_enc_finish(&e, &msg);
    assert_int_equal(n, (int)wn);
    assert_memory_equal(msg, want, wn);
    parse_one(msg, (size_t)n, &m);
    assert_true(desk_fix_msg_is(&m, "AN"));

    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "BB", 8, at(14, 30, 1, 0));
    desk_fix_put_collateral_inquiry(&e, "c1", 2, "ACC 1", 5);
    wn = ref_frame(want, sizeof want,
                   "35=BB|49=CLIENT1|56=SIMVENUE|34=8|52=20250101-14:30:01.000|909=c1|263=0|"
                   "1=ACC 1|");
    n = desk_fix_enc_finish(&e, &msg);
    assert_int_equal(n, (int)wn);
    assert_memory_equal(msg, want, wn);

    /* The body must match the MsgType it was begun with; ids are required. */
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "BB", 9, 0);
    desk_fix_put_position_request(&e, "p1", 2, "A", 1, 0);
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "A", 9, 0);
    desk_fix_put_collateral_inquiry(&e, "c1", 2, "A", 1);
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "AN", 9, 0);
    desk_fix_put_position_request(&e, "", 0, "A", 1, 0);
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);
    desk_fix_enc_begin(&e, &CLIENT, buf, sizeof buf, "BB", 9, 0);
    desk_fix_put_collateral_inquiry(&e, "c1", 2, "", 0);
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -EINVAL);
    /* Too small a buffer. */
    desk_fix_enc_begin(&e, &CLIENT, buf, 100, "AN", 9, 0);
    desk_fix_put_position_request(&e, "p1", 2, "CLIENT1", 7, 0);
    assert_int_equal(desk_fix_enc_finish(&e, &msg), -ENOSPC);
}

static void test_account_decode(void **state)
{
    (void)state;
    char buf[1024];
    desk_fix_msg_t m = new_msg();
    desk_fix_posack_t a;
    desk_fix_posrpt_t r;
    desk_fix_collrpt_t c;
    desk_fix_collack_t g;

    acct_msg(&m, buf, sizeof buf, "AO", "721=PM1|710=p1|727=3|728=0|729=0|1=X|581=1|");
    assert_int_equal(desk_fix_posack_decode(&m, &a), 0);
    assert_sv(a.pos_req_id, "p1");
    assert_int_equal(a.total, 3);
    assert_int_equal(a.result, 0);
    assert_int_equal(a.status, 0);
    acct_msg(&m, buf, sizeof buf, "AO", "721=PM1|728=4|729=2|58=not here|");
    assert_int_equal(desk_fix_posack_decode(&m, &a), 0);
    assert_int_equal(a.total, -1);
    assert_int_equal(a.pos_req_id.len, 0);
    assert_sv(a.text, "not here");
    acct_msg(&m, buf, sizeof buf, "AO", "721=PM1|710=p1|729=0|"); /* 728 missing */
    assert_int_equal(desk_fix_posack_decode(&m, &a), -EBADMSG);
    acct_msg(&m, buf, sizeof buf, "AO", "721=PM1|728=x|729=0|");
    assert_int_equal(desk_fix_posack_decode(&m, &a), -EBADMSG);
    assert_int_equal(desk_fix_posrpt_decode(&m, &r), -EINVAL); /* not an AP */

    /* SOD + TQ: 5 - 0 + 10.5 - 3 = 12.5. */
    acct_msg(&m, buf, sizeof buf, "AP",
             "721=PR1|710=p1|727=2|728=0|715=20250101|1=X|581=1|55=AMZN|730=150.25|731=2|"
             "734=150|702=2|703=SOD|704=5|705=0|703=TQ|704=10.5|705=3|");
    assert_int_equal(desk_fix_posrpt_decode(&m, &r), 0);
    assert_sv(r.symbol, "AMZN");
    assert_sv(r.pos_req_id, "p1");
    assert_sv(r.account, "X");
    assert_int_equal(r.total, 2);
    assert_int_equal(r.npos, 2);
    assert_false(r.have_fin);
    assert_int_equal(r.qty, 1250000000);
    assert_int_equal(r.settl_px, 15025000000);
    /* FIN stands alone; other PosTypes (here an intra-spread quantity) are
     * ignored; short positions are negative. */
    acct_msg(&m, buf, sizeof buf, "AP",
             "721=PR2|728=0|55=SIMX|325=Y|702=3|703=TQ|704=1|705=0|703=FIN|704=0|705=4|703=IAS|"
             "704=9|");
    assert_int_equal(desk_fix_posrpt_decode(&m, &r), 0);
    assert_true(r.have_fin);
    assert_true(r.unsolicited);
    assert_int_equal(r.npos, 3);
    assert_int_equal(r.qty, -4 * E8);
    assert_int_equal(r.total, -1);
    acct_msg(&m, buf, sizeof buf, "AP", "721=PR3|728=0|55=SIMX|702=1|703=TQ|705=2|");
    assert_int_equal(desk_fix_posrpt_decode(&m, &r), 0);
    assert_int_equal(r.qty, -2 * E8);
    /* Errors: no symbol, no 728, a quantity before any 703, a negative one,
     * a quantity finer than 1e-8. */
    acct_msg(&m, buf, sizeof buf, "AP", "721=PR|728=0|702=1|703=TQ|704=1|");
    assert_int_equal(desk_fix_posrpt_decode(&m, &r), -EBADMSG);
    acct_msg(&m, buf, sizeof buf, "AP", "721=PR|55=A|702=1|703=TQ|704=1|");
    assert_int_equal(desk_fix_posrpt_decode(&m, &r), -EBADMSG);
    acct_msg(&m, buf, sizeof buf, "AP", "721=PR|728=0|55=A|704=1|702=1|703=TQ|");
    assert_int_equal(desk_fix_posrpt_decode(&m, &r), -EBADMSG);
    acct_msg(&m, buf, sizeof buf, "AP", "721=PR|728=0|55=A|702=1|703=TQ|704=-1|");
    assert_int_equal(desk_fix_posrpt_decode(&m, &r), -EBADMSG);
    acct_msg(&m, buf, sizeof buf, "AP", "721=PR|728=0|55=A|702=1|703=TQ|704=0.000000001|");
    assert_int_equal(desk_fix_posrpt_decode(&m, &r), -ERANGE);

    acct_msg(&m, buf, sizeof buf, "BA",
             "908=CR1|909=c1|910=3|911=1|912=Y|1=X|15=USD|901=9998.75|899=-12.5|900=20000|");
    assert_int_equal(desk_fix_collrpt_decode(&m, &c), 0);
    assert_sv(c.coll_rpt_id, "CR1");
    assert_sv(c.inquiry_id, "c1");
    assert_sv(c.currency, "USD");
    assert_int_equal(c.status, 3);
    assert_int_equal(c.total, 1);
    assert_true(c.have_cash && c.have_excess && c.have_net);
    assert_int_equal(c.cash, 999875000000);
    assert_int_equal(c.margin_excess, -1250000000); /* a deficit */
    assert_int_equal(c.net_value, 20000 * E8);
    acct_msg(&m, buf, sizeof buf, "BA", "908=CR2|910=0|");
    assert_int_equal(desk_fix_collrpt_decode(&m, &c), 0);
    assert_false(c.have_cash || c.have_excess || c.have_net);
    assert_int_equal(c.total, -1);
    acct_msg(&m, buf, sizeof buf, "BA", "909=c1|910=0|901=1|"); /* no 908 */
    assert_int_equal(desk_fix_collrpt_decode(&m, &c), -EBADMSG);
    acct_msg(&m, buf, sizeof buf, "BA", "908=CR|910=0|901=1.5x|");
    assert_int_equal(desk_fix_collrpt_decode(&m, &c), -EBADMSG);
    assert_int_equal(desk_fix_collack_decode(&m, &g), -EINVAL);

    acct_msg(&m, buf, sizeof buf, "BG", "909=c1|945=4|946=8|58=no|");
    assert_int_equal(desk_fix_collack_decode(&m, &g), 0);
    assert_sv(g.inquiry_id, "c1");
    assert_int_equal(g.status, 4);
    assert_int_equal(g.result, 8);
    acct_msg(&m, buf, sizeof buf, "BG", "909=c1|");
    assert_int_equal(desk_fix_collack_decode(&m, &g), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_examples),    cmocka_unit_test(test_worked_examples_encoded),
        cmocka_unit_test(test_section_3_6_parsed), cmocka_unit_test(test_section_3_6_encoded),
        cmocka_unit_test(test_roundtrip_orders),   cmocka_unit_test(test_roundtrip_session),
        cmocka_unit_test(test_enospc_and_einval),  cmocka_unit_test(test_split_every_byte),
        cmocka_unit_test(test_bad_messages),       cmocka_unit_test(test_garbage_between_messages),
        cmocka_unit_test(test_sending_time),       cmocka_unit_test(test_fixed_format),
        cmocka_unit_test(test_getters_and_ids),    cmocka_unit_test(test_exec_mapping),
        cmocka_unit_test(test_account_encode),     cmocka_unit_test(test_account_decode),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
