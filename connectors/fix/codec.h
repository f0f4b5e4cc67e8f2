/*
 * codec.h - FIX 4.4 tag=value wire format <-> desk structs.  Bytes in,
 * structs out (and back); no I/O, no clock, no allocation, no printf.
 *
 * Sources: shared/PROTOCOLS.md section 3 (framing, BodyLength and CheckSum
 * rules, header and trailer, session and application messages,
 * enumerations) and section 5; tag numbers and names are those of
 * shared/data/fix/FIX44.xml (QuickFIX's FIX 4.4 data dictionary).  The FIX
 * session state machine (sequence numbers, heartbeats, resends) is not here:
 * it lives in connectors/fix/session.c and uses this file for bytes.
 *
 * Parsing (desk_fix_parse).  Zero copy: a message is a field index
 * (tag, offset, length) over the caller's receive buffer, which must stay
 * unchanged while the index is read.  The index array is the caller's,
 * preallocated at its chosen capacity (desk_fix_msg_init).  Framing follows
 * PROTOCOLS.md 3.1-3.2 exactly:
 *   - a message starts with "8=FIX.4.4<SOH>9=<BodyLength><SOH>" (BodyLength
 *     may be zero-padded: "9=0000113"), then "35=<MsgType><SOH>";
 *   - BodyLength counts the bytes from "35=" up to and including the SOH
 *     before "10="; the trailer "10=<3 digits><SOH>" must sit exactly there;
 *   - CheckSum is the sum of every byte from "8=" through that SOH, mod 256,
 *     sent as exactly three zero-padded digits.
 * One call parses at most one message and says how many bytes to drop from
 * the front of the buffer:
 *    0         a whole, well-framed message; *used = its length;
 *   -EAGAIN    the bytes so far are the start of a message that is not
 *              complete yet; *used = 0 (receive more, call again);
 *   -EBADMSG   bytes to drop silently (*used >= 1): a message with a bad
 *              BodyLength, CheckSum, trailer or field syntax, or garbage
 *              before the next "8=FIX.4.4<SOH>9=" (the session ignores these,
 *              as QuickFIX does: the next good message reveals the gap);
 *   -EMSGSIZE  a well-framed message with more fields than the index holds;
 *              *used = its length (drop it, or size the index larger).
 * A BodyLength above DESK_FIX_MAX_BODY is -EBADMSG.  A receive buffer must
 * hold DESK_FIX_MAX_BODY + 32 bytes to be sure of progress; a full buffer
 * that still gives -EAGAIN means the peer is broken.  Repeating groups are
 * not interpreted: their fields are indexed flat, in wire order.  DATA
 * fields (96 RawData, 89 Signature, ...) may hold SOH: their length comes
 * from the LENGTH field just before them, as FIX requires.
 *
 * Encoding.  A session keeps one desk_fix_tmpl_t with its precomputed
 * "49=<SenderCompID><SOH>56=<TargetCompID><SOH>" and a cache of the current
 * second's SendingTime text.  A message is written with
 *     desk_fix_enc_begin(&e, &tmpl, buf, cap, "D", seq, now_ns);
 *     [desk_fix_enc_possdup(&e, orig_ns);]      (resends and gap fills)
 *     desk_fix_put_new_order(&e, cmd, sym, symlen, now_ns);   (one body)
 *     n = desk_fix_enc_finish(&e, &msg);
 * begin writes 35, 49, 56, 34 and 52 after a reserved gap; finish writes
 * BodyLength right-aligned into the gap, puts "8=FIX.4.4<SOH>9=" in front
 * of it and appends "10=xxx<SOH>", so nothing is moved: the message starts
 * at msg (inside buf, at most 4 bytes in) and is n bytes long.  Errors are
 * sticky: after the first -ENOSPC or -EINVAL every later call is a no-op and
 * finish returns that error.  Numbers are formatted by hand: integers,
 * fixed-point decimals (exact, trailing zeros trimmed: 150.25, 100, 0.001)
 * and UTC timestamps (YYYYMMDD-HH:MM:SS.sss).
 *
 * ClOrdID.  desk's ClOrdID string is "d" followed by the decimal cl_ord_id
 * ("d42"), at most 21 bytes; desk_fix_clid_parse() maps it back.
 *
 * Mapping onto desk (desk_fix_exec_to_vevent, desk_fix_cxlrej_to_vevent):
 *   150 ExecType 0 New                 -> ACK
 *                F Trade               -> FILL (LastQty 32 @ LastPx 31)
 *                4 Canceled            -> CANCELED
 *                5 Replaced            -> REPLACED
 *                8 Rejected            -> REJECT (reason from 103)
 *                C Expired, 3 DoneForDay -> EXPIRED
 *                6 PendingCancel, E PendingReplace, A PendingNew, 7, 9, B,
 *                D Restated, G/H TradeCorrect/Cancel, I OrderStatus
 *                                      -> informational (no event)
 *   35=9 OrderCancelReject             -> CANCEL_REJECT (reason from 102)
 * Fills are deduplicated by ExecID by the session and the router, not here;
 * every event carries desk_fix_exec_id(ExecID) in desk_vevent_t.exec_id.
 *
 * Account messages (FIX 4.4 Vol. 5, Position Maintenance and Collateral
 * Management; connectors/fix/README.md has the field choices): desk sends
 * RequestForPositions (35=AN) and CollateralInquiry (35=BB) and decodes
 * RequestForPositionsAck (35=AO), PositionReport (35=AP: the net position
 * from its PositionQty group), CollateralReport (35=BA: CashOutstanding 901
 * as cash, MarginExcess 899 as buying power) and CollateralInquiryAck
 * (35=BG).
 *
 * Threads: every function is pure apart from the caller's structs, which
 * belong to one thread (the connector thread).  Fit for the hot path except
 * the functions marked cold.
 */
#ifndef DESK_FIX_CODEC_H
#define DESK_FIX_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "desk/connector.h"
#include "desk/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DESK_FIX_SOH '\x01'      /* the field delimiter */
#define DESK_FIX_MAX_BODY 65535u /* largest BodyLength accepted (and written) */
#define DESK_FIX_COMPID_MAX 32   /* longest SenderCompID/TargetCompID, bytes */
#define DESK_FIX_CLID_MAX 22     /* "d" + 20 digits + NUL */
#define DESK_FIX_TIME_LEN 21     /* "YYYYMMDD-HH:MM:SS.sss" */
#define DESK_FIX_HDR_RESERVE 18  /* bytes begin reserves for "8=FIX.4.4|9=nnnnn|" */
#define DESK_FIX_TRAILER_LEN 7   /* "10=xxx|" */

/*
 * FIX 4.4 tag numbers used by desk.  Each constant carries the field's exact
 * FIX44.xml name (as QuickFIX's FIX::FIELD:: does), so every place that
 * reads or writes a tag names it as the dictionary does; the comment gives
 * the dictionary's type.
 */
enum desk_fix_tag {
    DESK_FIX_Account = 1,                 /* STRING */
    DESK_FIX_AvgPx = 6,                   /* PRICE */
    DESK_FIX_BeginSeqNo = 7,              /* SEQNUM */
    DESK_FIX_BeginString = 8,             /* STRING, "FIX.4.4" */
    DESK_FIX_BodyLength = 9,              /* LENGTH */
    DESK_FIX_CheckSum = 10,               /* STRING, 3 digits */
    DESK_FIX_ClOrdID = 11,                /* STRING */
    DESK_FIX_Commission = 12,             /* AMT */
    DESK_FIX_CommType = 13,               /* CHAR: 3 = absolute */
    DESK_FIX_CumQty = 14,                 /* QTY */
    DESK_FIX_Currency = 15,               /* CURRENCY */
    DESK_FIX_EndSeqNo = 16,               /* SEQNUM, 0 = infinity */
    DESK_FIX_ExecID = 17,                 /* STRING */
    DESK_FIX_LastPx = 31,                 /* PRICE */
    DESK_FIX_LastQty = 32,                /* QTY */
    DESK_FIX_MsgSeqNum = 34,              /* SEQNUM */
    DESK_FIX_MsgType = 35,                /* STRING */
    DESK_FIX_NewSeqNo = 36,               /* SEQNUM */
    DESK_FIX_OrderID = 37,                /* STRING */
    DESK_FIX_OrderQty = 38,               /* QTY */
    DESK_FIX_OrdStatus = 39,              /* CHAR */
    DESK_FIX_OrdType = 40,                /* CHAR */
    DESK_FIX_OrigClOrdID = 41,            /* STRING */
    DESK_FIX_PossDupFlag = 43,            /* BOOLEAN */
    DESK_FIX_Price = 44,                  /* PRICE */
    DESK_FIX_RefSeqNum = 45,              /* SEQNUM */
    DESK_FIX_SenderCompID = 49,           /* STRING */
    DESK_FIX_SendingTime = 52,            /* UTCTIMESTAMP */
    DESK_FIX_Side = 54,                   /* CHAR */
    DESK_FIX_Symbol = 55,                 /* STRING */
    DESK_FIX_TargetCompID = 56,           /* STRING */
    DESK_FIX_Text = 58,                   /* STRING */
    DESK_FIX_TimeInForce = 59,            /* CHAR */
    DESK_FIX_TransactTime = 60,           /* UTCTIMESTAMP */
    DESK_FIX_RawDataLength = 95,          /* LENGTH */
    DESK_FIX_RawData = 96,                /* DATA */
    DESK_FIX_PossResend = 97,             /* BOOLEAN */
    DESK_FIX_EncryptMethod = 98,          /* INT, 0 = None */
    DESK_FIX_StopPx = 99,                 /* PRICE */
    DESK_FIX_CxlRejReason = 102,          /* INT */
    DESK_FIX_OrdRejReason = 103,          /* INT */
    DESK_FIX_HeartBtInt = 108,            /* INT, seconds */
    DESK_FIX_TestReqID = 112,             /* STRING */
    DESK_FIX_OrigSendingTime = 122,       /* UTCTIMESTAMP */
    DESK_FIX_GapFillFlag = 123,           /* BOOLEAN */
    DESK_FIX_ResetSeqNumFlag = 141,       /* BOOLEAN */
    DESK_FIX_ExecType = 150,              /* CHAR */
    DESK_FIX_LeavesQty = 151,             /* QTY */
    DESK_FIX_UnsolicitedIndicator = 325,  /* BOOLEAN */
    DESK_FIX_RefTagID = 371,              /* INT */
    DESK_FIX_RefMsgType = 372,            /* STRING */
    DESK_FIX_SessionRejectReason = 373,   /* INT */
    DESK_FIX_BusinessRejectReason = 380,  /* INT */
    DESK_FIX_CxlRejResponseTo = 434,      /* CHAR: 1 cancel, 2 cancel/replace */
    DESK_FIX_AccountType = 581,           /* INT: 1 = carried customer side */
    DESK_FIX_NoPositions = 702,           /* NUMINGROUP (PositionQty) */
    DESK_FIX_PosType = 703,               /* STRING: SOD, TQ, FIN, ... */
    DESK_FIX_LongQty = 704,               /* QTY */
    DESK_FIX_ShortQty = 705,              /* QTY */
    DESK_FIX_PosAmtType = 707,            /* STRING */
    DESK_FIX_PosAmt = 708,                /* AMT */
    DESK_FIX_PosReqID = 710,              /* STRING */
    DESK_FIX_ClearingBusinessDate = 715,  /* LOCALMKTDATE, YYYYMMDD */
    DESK_FIX_PosMaintRptID = 721,         /* STRING */
    DESK_FIX_PosReqType = 724,            /* INT: 0 = positions */
    DESK_FIX_TotalNumPosReports = 727,    /* INT */
    DESK_FIX_PosReqResult = 728,          /* INT */
    DESK_FIX_PosReqStatus = 729,          /* INT */
    DESK_FIX_SettlPrice = 730,            /* PRICE */
    DESK_FIX_SettlPriceType = 731,        /* INT */
    DESK_FIX_PriorSettlPrice = 734,       /* PRICE */
    DESK_FIX_NoPosAmt = 753,              /* NUMINGROUP (PositionAmountData) */
    DESK_FIX_NextExpectedMsgSeqNum = 789, /* SEQNUM */
    DESK_FIX_MarginExcess = 899,          /* AMT */
    DESK_FIX_TotalNetValue = 900,         /* AMT */
    DESK_FIX_CashOutstanding = 901,       /* AMT */
    DESK_FIX_CollRptID = 908,             /* STRING */
    DESK_FIX_CollInquiryID = 909,         /* STRING */
    DESK_FIX_CollStatus = 910,            /* INT */
    DESK_FIX_TotNumReports = 911,         /* INT */
    DESK_FIX_LastRptRequested = 912,      /* BOOLEAN */
    DESK_FIX_CollInquiryStatus = 945,     /* INT: 4 = rejected */
    DESK_FIX_CollInquiryResult = 946,     /* INT */
    /* longer names */
    DESK_FIX_SubscriptionRequestType = 263, /* CHAR: 0 = snapshot */
};

/* A borrowed view of bytes inside a message (not NUL terminated). */
typedef struct desk_fix_sv {
    const char *p; /* first byte; NULL when len is 0 and the field is absent */
    uint32_t len;  /* length in bytes */
} desk_fix_sv_t;

/* One field of a parsed message. */
typedef struct desk_fix_field {
    uint32_t tag; /* tag number (1..999999999) */
    uint32_t off; /* offset of the value from the message's first byte */
    uint32_t len; /* value length in bytes (0 for an empty value) */
} desk_fix_field_t;

/* A parsed message: an index over the caller's bytes (all borrowed). */
typedef struct desk_fix_msg {
    const char *buf;          /* first byte of the message ("8="), borrowed */
    uint32_t len;             /* whole message length, "8=" through "10=xxx<SOH>" */
    uint32_t nfields;         /* fields indexed: [0] 8, [1] 9, [2] 35, ..., last 10 */
    uint32_t cap;             /* capacity of fields[] */
    desk_fix_field_t *fields; /* caller's array of cap entries, lent until fini */
} desk_fix_msg_t;

/* Session identity and SendingTime cache, precomputed once per session. */
typedef struct desk_fix_tmpl {
    char comp[2 * DESK_FIX_COMPID_MAX + 8]; /* "49=<sender><SOH>56=<target><SOH>" */
    uint32_t comp_len;                      /* bytes used in comp */
    uint64_t cached_sec;                    /* Unix second whose text is cached, or ~0 */
    char sec_text[17];                      /* "YYYYMMDD-HH:MM:SS" of cached_sec */
} desk_fix_tmpl_t;

/* A message being written (see the file comment); one per message. */
typedef struct desk_fix_enc {
    char *buf;             /* caller's buffer, lent until finish */
    uint32_t cap;          /* its size (at most 4 GiB used) */
    uint32_t pos;          /* next byte to write */
    uint32_t body;         /* offset of "35=": the first BodyLength byte */
    int err;               /* sticky: 0, -ENOSPC or -EINVAL */
    char msg_type;         /* MsgType when it is one character, else 0 */
    char msg_type2[3];     /* MsgType when it is two characters ("AN"), else "" */
    desk_fix_tmpl_t *tmpl; /* the session's template, borrowed */
} desk_fix_enc_t;

/* The standard header of an inbound message (views borrow the message). */
typedef struct desk_fix_hdr {
    desk_fix_sv_t msg_type;   /* 35 MsgType */
    desk_fix_sv_t sender;     /* 49 SenderCompID */
    desk_fix_sv_t target;     /* 56 TargetCompID */
    uint64_t seq;             /* 34 MsgSeqNum */
    uint64_t sending_ns;      /* 52 SendingTime, ns since the Unix epoch (UTC) */
    uint64_t orig_sending_ns; /* 122 OrigSendingTime, 0 when absent */
    uint8_t poss_dup;         /* 43 PossDupFlag: 1 when Y */
    uint8_t poss_resend;      /* 97 PossResend: 1 when Y */
} desk_fix_hdr_t;

/* ExecutionReport (35=8), decoded; views borrow the message. */
typedef struct desk_fix_exec {
    desk_fix_sv_t order_id;      /* 37 OrderID (required) */
    desk_fix_sv_t cl_ord_id_s;   /* 11 ClOrdID as sent (may be empty) */
    desk_fix_sv_t orig_cl_ord_s; /* 41 OrigClOrdID as sent (may be empty) */
    desk_fix_sv_t exec_id;       /* 17 ExecID (required) */
    desk_fix_sv_t symbol;        /* 55 Symbol (required) */
    desk_fix_sv_t text;          /* 58 Text (may be empty) */
    uint64_t cl_ord_id;          /* 11 parsed by desk_fix_clid_parse, 0 if absent/foreign */
    uint64_t orig_cl_ord_id;     /* 41 parsed likewise, 0 if absent/foreign */
    int64_t leaves_qty;          /* 151 LeavesQty, 1e-8 (required) */
    int64_t cum_qty;             /* 14 CumQty, 1e-8 (required) */
    int64_t avg_px;              /* 6 AvgPx, 1e-8 (required) */
    int64_t last_px;             /* 31 LastPx, 1e-8 (required when 150=F, else 0) */
    int64_t last_qty;            /* 32 LastQty, 1e-8 (required when 150=F, else 0) */
    int64_t order_qty;           /* 38 OrderQty, 1e-8, 0 when absent */
    int64_t commission;          /* 12 Commission, money 1e-8, 0 when absent */
    int32_t ord_rej_reason;      /* 103 OrdRejReason, -1 when absent */
    char exec_type;              /* 150 ExecType (required) */
    char ord_status;             /* 39 OrdStatus (required) */
    char side;                   /* 54 Side (required) */
} desk_fix_exec_t;

/* OrderCancelReject (35=9), decoded; views borrow the message. */
typedef struct desk_fix_cxlrej {
    desk_fix_sv_t order_id;      /* 37 OrderID ("NONE" if unknown) */
    desk_fix_sv_t cl_ord_id_s;   /* 11 ClOrdID of the refused request */
    desk_fix_sv_t orig_cl_ord_s; /* 41 OrigClOrdID: the order it named */
    desk_fix_sv_t text;          /* 58 Text (may be empty) */
    uint64_t cl_ord_id;          /* 11 parsed, 0 if foreign */
    uint64_t orig_cl_ord_id;     /* 41 parsed, 0 if foreign */
    int32_t cxl_rej_reason;      /* 102 CxlRejReason, -1 when absent */
    char ord_status;             /* 39 OrdStatus (required) */
    char response_to;            /* 434 CxlRejResponseTo: '1' cancel, '2' replace */
} desk_fix_cxlrej_t;

/*
 * Account messages (FIX 4.4 Volume 5, "Post-Trade": Position Maintenance and
 * Collateral Management; fields as FIX44.xml defines them).  Decoded views
 * borrow the message.  Cold: a few per reconcile period.
 */

/* RequestForPositionsAck (35=AO). */
typedef struct desk_fix_posack {
    desk_fix_sv_t pos_req_id; /* 710 PosReqID (empty when absent) */
    desk_fix_sv_t text;       /* 58 Text (may be empty) */
    int32_t total;            /* 727 TotalNumPosReports, -1 when absent */
    int32_t result;           /* 728 PosReqResult (required): 0 valid, 1 invalid or
                                 unsupported, 2 no positions, 3 not authorized,
                                 4 not supported, 99 other */
    int32_t status;           /* 729 PosReqStatus (required): 0 completed,
                                 1 with warnings, 2 rejected */
} desk_fix_posack_t;

/* PositionReport (35=AP): one instrument's position. */
typedef struct desk_fix_posrpt {
    desk_fix_sv_t pos_req_id; /* 710 PosReqID (empty when absent) */
    desk_fix_sv_t symbol;     /* 55 Symbol (required here: desk maps by it) */
    desk_fix_sv_t account;    /* 1 Account (may be empty) */
    int32_t total;            /* 727 TotalNumPosReports, -1 when absent */
    int32_t result;           /* 728 PosReqResult (required) */
    uint8_t unsolicited;      /* 325 UnsolicitedIndicator = Y */
    uint8_t have_fin;         /* a PosType FIN entry was present */
    uint8_t npos;             /* NoPositions entries read (capped at 255) */
    int64_t qty;              /* net position, 1e-8: LongQty - ShortQty of the FIN
                                 entry if there is one, else the sum over the SOD
                                 and TQ entries; other PosTypes are ignored */
    int64_t settl_px;         /* 730 SettlPrice, 1e-8 (0 when absent) */
} desk_fix_posrpt_t;

/* CollateralReport (35=BA). */
typedef struct desk_fix_collrpt {
    desk_fix_sv_t coll_rpt_id; /* 908 CollRptID (required) */
    desk_fix_sv_t inquiry_id;  /* 909 CollInquiryID (empty when absent) */
    desk_fix_sv_t currency;    /* 15 Currency (may be empty) */
    int32_t status;            /* 910 CollStatus (required) */
    int32_t total;             /* 911 TotNumReports, -1 when absent */
    uint8_t have_cash;         /* 901 was present */
    uint8_t have_excess;       /* 899 was present */
    uint8_t have_net;          /* 900 was present */
    int64_t cash;              /* 901 CashOutstanding, money 1e-8: desk reads it as the
                                  account's cash balance */
    int64_t margin_excess;     /* 899 MarginExcess, money 1e-8 (may be negative):
                                  desk reads it as the venue's buying power */
    int64_t net_value;         /* 900 TotalNetValue, money 1e-8 */
} desk_fix_collrpt_t;

/* CollateralInquiryAck (35=BG). */
typedef struct desk_fix_collack {
    desk_fix_sv_t inquiry_id; /* 909 CollInquiryID (required) */
    desk_fix_sv_t text;       /* 58 Text (may be empty) */
    int32_t status;           /* 945 CollInquiryStatus (required): 4 = rejected */
    int32_t result;           /* 946 CollInquiryResult, -1 when absent */
} desk_fix_collack_t;

/* ------------------------------------------------------------- parsing */

/*
 * Prepare `m` to index into fields[0..cap).  `fields` is borrowed for as long
 * as m is used.  Returns 0, or -EINVAL if fields is NULL or cap < 4 (8, 9,
 * 35 and 10 always take four).  Any thread; cold.
 */
int desk_fix_msg_init(desk_fix_msg_t *m, desk_fix_field_t *fields, uint32_t cap);

/*
 * Parse at most one message from buf[0..len) into m (see the file comment for
 * the framing rules).  Always sets *used: the bytes the caller must drop from
 * the front of buf before the next call.  Returns 0 (m indexes the message;
 * m->buf == buf), -EAGAIN (incomplete; *used == 0), -EBADMSG (drop *used >= 1
 * bytes silently) or -EMSGSIZE (well framed, more than m->cap fields; drop
 * *used bytes).  On any error m->nfields is 0.  The buffer is borrowed and
 * must not change while m is read.  Connector thread; hot path.
 */
int desk_fix_parse(const char *buf, size_t len, desk_fix_msg_t *m, size_t *used);

/*
 * Sum of the bytes p[0..n) modulo 256, as unsigned chars: the FIX CheckSum
 * of a message whose bytes up to and including the SOH before "10=" are p.
 * Pure.
 */
unsigned desk_fix_checksum(const void *p, size_t n);

/* MsgType (35) of a parsed message: a view of its value.  Pure. */
desk_fix_sv_t desk_fix_msg_type(const desk_fix_msg_t *m);

/*
 * 1 if the message's MsgType is exactly the NUL-terminated `type` ("8",
 * "AE"), else 0.  Pure.
 */
int desk_fix_msg_is(const desk_fix_msg_t *m, const char *type);

/*
 * Index in m->fields of the first field with `tag`, or -ENOENT.  A linear
 * scan (messages desk reads have fewer than 50 fields).  Pure.
 */
int desk_fix_find(const desk_fix_msg_t *m, uint32_t tag);

/*
 * The value of the first field `tag` as a view into the message.  Returns 0,
 * or -ENOENT (absent; *out is {NULL, 0}).  Pure.
 */
int desk_fix_get_str(const desk_fix_msg_t *m, uint32_t tag, desk_fix_sv_t *out);

/*
 * The value of `tag` as a signed decimal integer ("-12", "007").  Returns 0,
 * -ENOENT (absent), -EBADMSG (empty or not an integer) or -ERANGE (does not
 * fit int64_t).  *out is untouched on error.  Pure.
 */
int desk_fix_get_int(const desk_fix_msg_t *m, uint32_t tag, int64_t *out);

/*
 * The value of `tag` (Price, Qty, Amt: "150.25", "002000.00") as fixed point
 * at 1e-8, exactly, through desk_fixed_parse().  Returns 0, -ENOENT,
 * -EBADMSG (not a decimal) or -ERANGE (finer than 1e-8, or too large).
 * *out is untouched on error.  Pure.
 */
int desk_fix_get_fixed(const desk_fix_msg_t *m, uint32_t tag, int64_t *out);

/*
 * The value of a CHAR field: exactly one byte.  Returns 0, -ENOENT or
 * -EBADMSG (empty or longer than one byte).  Pure.
 */
int desk_fix_get_char(const desk_fix_msg_t *m, uint32_t tag, char *out);

/*
 * The value of a BOOLEAN field: 1 for "Y", 0 for "N".  Returns 0, -ENOENT or
 * -EBADMSG (anything else).  Pure.
 */
int desk_fix_get_bool(const desk_fix_msg_t *m, uint32_t tag, int *out);

/*
 * The value of a UTCTimestamp field as ns since the Unix epoch (see
 * desk_fix_time_parse).  Returns 0, -ENOENT or -EBADMSG.  Pure.
 */
int desk_fix_get_time(const desk_fix_msg_t *m, uint32_t tag, uint64_t *ns);

/*
 * Parse a UTCTimestamp "YYYYMMDD-HH:MM:SS" with an optional fraction of 1 to
 * 9 digits (".sss" in FIX 4.4, ".ssssss" from Binance) into ns since the
 * Unix epoch.  Years from 1970 up to 2554 (the end of uint64_t ns); second
 * 60 (a leap second, which FIX allows) counts as second 59.  Returns 0 or -EBADMSG; *ns untouched
 * on error. Pure.
 */
int desk_fix_time_parse(const char *s, size_t len, uint64_t *ns);

/*
 * Write ns since the Unix epoch as "YYYYMMDD-HH:MM:SS.sss" (21 bytes, no
 * NUL; milliseconds truncated) into out.  Returns 21 (every uint64_t ns is
 * before year 2555, so it cannot fail).  Pure; no printf.
 */
int desk_fix_time_format(uint64_t ns, char out[DESK_FIX_TIME_LEN]);

/*
 * Write v (1e-8 fixed point) as an exact decimal with trailing zeros trimmed
 * ("150.25", "100", "-0.001", "0") into out, which must hold 21 bytes (no
 * NUL written).  Returns the length.  Pure; no printf.
 */
int desk_fix_fixed_format(int64_t v, char out[21]);

/*
 * Write desk's ClOrdID for cl_ord_id ("d42") into out[0..cap) with a NUL.
 * Returns its length (without the NUL), or -ENOSPC if cap is too small
 * (DESK_FIX_CLID_MAX always suffices).  Pure.
 */
int desk_fix_clid_format(uint64_t cl_ord_id, char *out, size_t cap);

/*
 * Parse desk's ClOrdID format ("d" then 1..20 digits without a leading zero,
 * value <= UINT64_MAX, not 0) back into a number.  Returns 0, or -EBADMSG for
 * any other string (an order desk did not send).  Pure.
 */
int desk_fix_clid_parse(const char *s, size_t len, uint64_t *out);

/*
 * desk_vevent_t.exec_id for a venue ExecID string: the number itself when
 * the ExecID is 1..18 decimal digits (so it is below 2^63), otherwise the
 * 64-bit FNV-1a hash of the bytes with the top bit set (the two ranges never
 * meet).  Two distinct non-numeric ExecIDs collide with probability about
 * 2^-63.  Pure.
 */
uint64_t desk_fix_exec_id(const char *s, size_t len);

/*
 * Decode the standard header of a parsed message: 35, 49, 56, 34 and 52 are
 * required; 43, 97 and 122 are optional.  Returns 0 or -EBADMSG (a required
 * field missing, empty or malformed).  Pure.
 */
int desk_fix_hdr_decode(const desk_fix_msg_t *m, desk_fix_hdr_t *h);

/*
 * Decode an ExecutionReport (35=8).  Required: 37, 17, 150, 39, 55, 54, 151,
 * 14, 6, and 31 and 32 when 150=F.  Optional: 11, 41, 38, 58, 103, 12.
 * Returns 0, -EINVAL (the message is not 35=8), -EBADMSG (a required field
 * missing or malformed, a CHAR that is not one byte, a negative quantity) or
 * -ERANGE (a decimal finer than 1e-8 or too large).  On error *x is in an
 * unspecified state.  Pure.
 */
int desk_fix_exec_decode(const desk_fix_msg_t *m, desk_fix_exec_t *x);

/*
 * Decode an OrderCancelReject (35=9).  Required: 37, 11, 41, 39, 434.
 * Optional: 102, 58.  Returns 0, -EINVAL (not 35=9) or -EBADMSG.  Pure.
 */
int desk_fix_cxlrej_decode(const desk_fix_msg_t *m, desk_fix_cxlrej_t *x);

/*
 * Map a decoded ExecutionReport onto one desk_vevent_t for deskd's order
 * `order_id` on `instrument`, stamped venue_ns = now_ns (see the mapping
 * table in the file comment).  Returns 1 (an event was written to *ev), 0
 * (informational ExecType: nothing written) or -EBADMSG (an unknown
 * ExecType).  exec_id is desk_fix_exec_id(ExecID); fee is Commission (12).
 * REJECT reasons: 103=1 -> UNKNOWN_INSTRUMENT, 5 -> UNKNOWN_ORDER,
 * 6 -> DUPLICATE_CLORDID, 13 -> BAD_QTY, 0 -> VENUE_CASH, else VENUE.  Pure.
 */
int desk_fix_exec_to_vevent(const desk_fix_exec_t *x, uint64_t order_id, uint32_t instrument,
                            uint64_t now_ns, desk_vevent_t *ev);

/*
 * Map a decoded OrderCancelReject onto a CANCEL_REJECT desk_vevent_t.
 * Reasons: 102=0 (too late) -> ORDER_NOT_OPEN, 1 -> UNKNOWN_ORDER,
 * 3 (already pending) -> PENDING, else VENUE.  exec_id is 0 (an
 * OrderCancelReject has no ExecID; it is never a duplicate fill).  Always
 * returns 1.  Pure.
 */
int desk_fix_cxlrej_to_vevent(const desk_fix_cxlrej_t *x, uint64_t order_id, uint32_t instrument,
                              uint64_t now_ns, desk_vevent_t *ev);

/*
 * Decode a RequestForPositionsAck (35=AO).  Required: 728, 729.  Returns 0,
 * -EINVAL (not 35=AO) or -EBADMSG (a required field missing or not an
 * integer).  Pure; cold.
 */
int desk_fix_posack_decode(const desk_fix_msg_t *m, desk_fix_posack_t *x);

/*
 * Decode a PositionReport (35=AP).  Required: 728 and 55; the PositionQty
 * group (702) is read flat: each entry starts at its 703 PosType, LongQty
 * 704 and ShortQty 705 (>= 0) belong to the entry before them.  Returns 0,
 * -EINVAL (not 35=AP), -EBADMSG (a required field missing, a quantity that
 * is not a decimal >= 0 or outside an entry) or -ERANGE.  Pure; cold.
 */
int desk_fix_posrpt_decode(const desk_fix_msg_t *m, desk_fix_posrpt_t *x);

/*
 * Decode a CollateralReport (35=BA).  Required: 908, 910; 901, 899 and 900
 * are optional (have_*).  Returns 0, -EINVAL (not 35=BA), -EBADMSG or
 * -ERANGE.  Pure; cold.
 */
int desk_fix_collrpt_decode(const desk_fix_msg_t *m, desk_fix_collrpt_t *x);

/*
 * Decode a CollateralInquiryAck (35=BG).  Required: 909, 945.  Returns 0,
 * -EINVAL (not 35=BG) or -EBADMSG.  Pure; cold.
 */
int desk_fix_collack_decode(const desk_fix_msg_t *m, desk_fix_collack_t *x);

/* ------------------------------------------------------------- encoding */

/*
 * Precompute a session's "49=<sender><SOH>56=<target><SOH>".  CompIDs are 1
 * to DESK_FIX_COMPID_MAX printable ASCII bytes (0x21..0x7e).  Returns 0, or
 * -EINVAL (named by desk_errmsg()).  Cold.
 */
int desk_fix_tmpl_init(desk_fix_tmpl_t *t, const char *sender, const char *target);

/*
 * Start a message of MsgType `type` (1 or 2 printable bytes, NUL
 * terminated) with MsgSeqNum `seq` and SendingTime `now_ns` (ns since the
 * Unix epoch, UTC: CLOCK_REALTIME) in buf[0..cap), which is lent until
 * desk_fix_enc_finish.  Writes 35, 49, 56, 34, 52 after DESK_FIX_HDR_RESERVE
 * reserved bytes.  Errors are recorded in e->err and reported by finish:
 * -EINVAL (bad type, cap > 4 GiB) or -ENOSPC.  Updates t's time cache.
 * Connector thread; hot path.
 */
void desk_fix_enc_begin(desk_fix_enc_t *e, desk_fix_tmpl_t *t, char *buf, size_t cap,
                        const char *type, uint64_t seq, uint64_t now_ns);

/*
 * Add header fields 43 PossDupFlag=Y and 122 OrigSendingTime=orig_ns, for a
 * resent message or a SequenceReset-GapFill.  Call right after begin, before
 * any body field (QuickFIX rejects header fields after body fields).
 */
void desk_fix_enc_possdup(desk_fix_enc_t *e, uint64_t orig_ns);

/* Append tag=<n bytes of s>; -EINVAL if s holds SOH or NUL, or n == 0. */
void desk_fix_enc_str(desk_fix_enc_t *e, uint32_t tag, const char *s, size_t n);
/* Append tag=<decimal integer v>. */
void desk_fix_enc_int(desk_fix_enc_t *e, uint32_t tag, int64_t v);
/* Append tag=<exact decimal of the 1e-8 fixed-point v>. */
void desk_fix_enc_fixed(desk_fix_enc_t *e, uint32_t tag, int64_t v);
/* Append tag=<one byte c>; -EINVAL if c is not printable ASCII. */
void desk_fix_enc_char(desk_fix_enc_t *e, uint32_t tag, char c);
/* Append tag=<UTCTimestamp of ns, YYYYMMDD-HH:MM:SS.sss>. */
void desk_fix_enc_time(desk_fix_enc_t *e, uint32_t tag, uint64_t ns);

/*
 * Finish the message: BodyLength, "8=FIX.4.4<SOH>9=" and the CheckSum
 * trailer.  Sets *msg to its first byte (inside the caller's buffer) and
 * returns its length, or returns the sticky error: -ENOSPC (buffer too
 * small; nothing usable was written) or -EINVAL (a bad argument to begin or
 * a put).  A body longer than DESK_FIX_MAX_BODY is -ENOSPC.  Hot path.
 */
int desk_fix_enc_finish(desk_fix_enc_t *e, const char **msg);

/*
 * Bodies.  Each appends the body of one message to an encoder begun with
 * the matching MsgType (a mismatch sets -EINVAL).  They write fields in the
 * order of PROTOCOLS.md 3.6.  Errors are sticky and reported by finish.
 */

/*
 * NewOrderSingle (35=D) from cmd (type NEW): 11 ClOrdID "d<cl_ord_id>",
 * 55 Symbol, 54 Side, 60 TransactTime (= now_ns), 38 OrderQty, 40 OrdType,
 * 44 Price (limit and stop-limit), 99 StopPx (stop and stop-limit),
 * 59 TimeInForce.  -EINVAL: unknown side, order type or TIF, qty <= 0, a
 * missing price or stop price, or an empty symbol.
 */
void desk_fix_put_new_order(desk_fix_enc_t *e, const desk_vcmd_t *cmd, const char *sym,
                            size_t sym_len, uint64_t now_ns);

/*
 * OrderCancelRequest (35=F) from cmd (type CANCEL): 41 OrigClOrdID
 * "d<orig_cl_ord_id>", 11 ClOrdID "d<cl_ord_id>", 55, 54, 60, 38.  The
 * router fills side and qty from the order (FIX requires them).  -EINVAL as
 * for new orders.
 */
/* OrderStatusRequest (35=H): 11 = d<cmd->cl_ord_id>, 55, 54.  Recovery only. */
void desk_fix_put_status(desk_fix_enc_t *e, const desk_vcmd_t *cmd, const char *sym,
                         size_t sym_len);
void desk_fix_put_cancel(desk_fix_enc_t *e, const desk_vcmd_t *cmd, const char *sym, size_t sym_len,
                         uint64_t now_ns);

/*
 * OrderCancelReplaceRequest (35=G) from cmd (type REPLACE): 41, 11, 55, 54,
 * 60, 38 (the new total quantity), 40, 44 / 99 as for new orders, 59 (FIX
 * restates every field: absent 59 would mean Day, so the router sets tif).
 */
void desk_fix_put_replace(desk_fix_enc_t *e, const desk_vcmd_t *cmd, const char *sym,
                          size_t sym_len, uint64_t now_ns);

/*
 * Logon (35=A): 98 EncryptMethod=0, 108 HeartBtInt=heartbeat_s (0..65535),
 * and 141 ResetSeqNumFlag=Y when reset_seq is nonzero (omitted otherwise).
 */
void desk_fix_put_logon(desk_fix_enc_t *e, uint32_t heartbeat_s, int reset_seq);

/* Heartbeat (35=0), with 112 TestReqID = id[0..n) when answering (n > 0). */
void desk_fix_put_heartbeat(desk_fix_enc_t *e, const char *id, size_t n);

/* TestRequest (35=1): 112 TestReqID = id[0..n) (required, n > 0). */
void desk_fix_put_test_request(desk_fix_enc_t *e, const char *id, size_t n);

/* ResendRequest (35=2): 7 BeginSeqNo, 16 EndSeqNo (0 = infinity). */
void desk_fix_put_resend_request(desk_fix_enc_t *e, uint64_t begin, uint64_t end);

/*
 * SequenceReset (35=4): 123 GapFillFlag=Y when gap_fill (omitted for a
 * reset), 36 NewSeqNo.  A gap fill also needs desk_fix_enc_possdup().
 */
void desk_fix_put_seq_reset(desk_fix_enc_t *e, int gap_fill, uint64_t new_seq);

/*
 * Reject (35=3): 45 RefSeqNum, 371 RefTagID (if ref_tag > 0), 372
 * RefMsgType (if ref_type is not NULL or ""), 373 SessionRejectReason (if
 * reason >= 0), 58 Text (if text_len > 0).
 */
void desk_fix_put_reject(desk_fix_enc_t *e, uint64_t ref_seq, uint32_t ref_tag,
                         const char *ref_type, int reason, const char *text, size_t text_len);

/* Logout (35=5), with 58 Text = text[0..n) if n > 0. */
void desk_fix_put_logout(desk_fix_enc_t *e, const char *text, size_t n);

/*
 * RequestForPositions (35=AN), every field FIX44.xml requires: 710 PosReqID
 * = id[0..n), 724 PosReqType = 0 (positions), 263 SubscriptionRequestType =
 * 0 (snapshot), 1 Account = acct[0..acct_len), 581 AccountType = 1 (carried
 * customer side), 715 ClearingBusinessDate = the UTC date of now_ns
 * (YYYYMMDD), 60 TransactTime = now_ns.  The Parties component, required
 * by the dictionary, has no required field and is left out.  -EINVAL if id
 * or acct is empty.  Cold.
 */
void desk_fix_put_position_request(desk_fix_enc_t *e, const char *id, size_t n, const char *acct,
                                   size_t acct_len, uint64_t now_ns);

/*
 * CollateralInquiry (35=BB) (FIX44.xml requires no field): 909
 * CollInquiryID = id[0..n), 263 SubscriptionRequestType = 0 (snapshot),
 * 1 Account = acct[0..acct_len).  -EINVAL if id or acct is empty.  Cold.
 */
void desk_fix_put_collateral_inquiry(desk_fix_enc_t *e, const char *id, size_t n, const char *acct,
                                     size_t acct_len);

#ifdef __cplusplus
}
#endif

#endif /* DESK_FIX_CODEC_H */
