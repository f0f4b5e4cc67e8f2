// bench_fix.cc - FIX 4.4: desk's codec (connectors/fix/codec.h) and desk's
// fix session (connectors/fix/session.h) against QuickFIX 1.15 (Debian's
// libquickfix-dev), the engine most FIX venues and OMSs are built on.
//
// Rows (every one checks its own output before anything is timed):
//
//   Fix/<who>/encode_NewOrderSingle   a desk_vcmd_t (BUY LIMIT GTC 100 AMZN
//       @ 223.82, ClOrdID d<n>) into the bytes of a NewOrderSingle (35=D)
//       with SenderCompID, TargetCompID, MsgSeqNum and SendingTime:
//       desk      desk_fix_enc_begin (session template precomputed once) +
//                 desk_fix_put_new_order + desk_fix_enc_finish;
//       quickfix  a new FIX44::NewOrderSingle built field by field from the
//                 same desk_vcmd_t (typed fields: QTY and PRICE are double
//                 in QuickFIX, the UtcTimeStamp built from the same ns),
//                 header fields set, then Message::toString().
//       Check: both outputs parse (desk_fix_parse: framing, BodyLength,
//       CheckSum) to the same multiset of tag=value pairs, 9 and 10
//       included.  Field order differs (QuickFIX orders the header 8, 9, 35,
//       34, 49, 52, 56 and the body by tag number; desk writes PROTOCOLS.md
//       3.6's order), which FIX allows.
//
//   Fix/<who>/decode_ExecutionReport   a partial fill (35=8, 150=F, 39=1;
//       37, 11, 17, 55, 54, 38, 32, 31, 151, 14, 6, 60) into one plain
//       struct (ExecOut) with fixed-point decimals, ids copied out, the
//       header's MsgSeqNum and SendingTime as numbers:
//       desk            desk_fix_parse + desk_fix_hdr_decode +
//                       desk_fix_exec_decode + desk_fix_get_time(60);
//       quickfix_dict   FIX::Message(string, FIX44.xml dictionary, true)
//                       then DataDictionary::validate (what a QuickFIX
//                       session with UseDataDictionary=Y does to each
//                       message it receives), getField per tag,
//                       desk_fixed_parse on the decimal strings;
//       quickfix        FIX::Message(string, true), no dictionary, no
//                       validation beyond framing, then the same getField.
//       `true` is QuickFIX's BodyLength and CheckSum check (the default of
//       a QuickFIX session, ValidateLengthAndChecksum=Y); desk_fix_parse
//       always checks both, so both sides do the same framing work.  The
//       QuickFIX rows start from a std::string (QuickFIX's parser copies
//       socket bytes into one first; that copy is not counted); desk reads
//       the bytes in place.  Timestamps go through desk_fix_time_parse and
//       decimals through desk_fixed_parse on both sides (QuickFIX's own
//       converters give double).  Check: identical structs.
//
//   Fix/<who>/send_NewOrderSingle   (BK_FIX_SESSION builds) an order on a
//       logged-on FIX session on loopback, to an in-process QuickFIX
//       acceptor (SocketAcceptor, MemoryStore, FIX44.xml validation when
//       the file is there) running on CPU 1; one order in flight at a
//       time (before each order, untimed, the previous one has been
//       received by the acceptor and desk's send completion reaped).
//       Every order is timed alone (rdtsc) into a histogram.
//       desk      what the fix connector's place_order does on the
//                 connector thread (fix_order_op in session.c), then the
//                 io_uring hand-off: desk_now_ns + desk_wall_ns,
//                 desk_fix_session_new (order table, ClOrdID map, encode
//                 from the template, desk_conn_send copying the bytes into
//                 the socket's send ring and preparing the send SQE, resend
//                 ring entry), then desk_loop_submit (io_uring_enter: the
//                 kernel takes the SQE; for a TCP send it normally runs the
//                 send inline).  Stamps: before the clock reads -> after
//                 io_uring_enter returns.  No store_dir (reset_on_logon =
//                 true): no pwrite.
//       quickfix  build a FIX44::NewOrderSingle from the same desk_vcmd_t
//                 (TransactTime = now), then Session::sendToTarget(msg,
//                 sessionID) on a SocketInitiator's logged-on session
//                 (MemoryStore, PersistMessages=Y): header, toString, store,
//                 then SocketConnection::send, which in 1.15 polls the
//                 socket for POLLOUT and send()s synchronously.  Stamps:
//                 before the message is built -> sendToTarget returned.
//       Not here: desk_submit -> router (guard) -> connector ring, which is
//       desk_e2e's submit_to_routed / submit_to_venue_held; deskd's
//       instrument lookup in fix_order_op (one array index).
//       Check: the acceptor received every order (fromApp counted per
//       session) and sent no Reject (35=3) or BusinessMessageReject (35=j).
//
// Single-threaded rows run on CPU 0, batched (16 operations per histogram
// sample); the send rows' QuickFIX threads (acceptor and initiator reactor)
// are started from a thread pinned to CPU 1 so that they inherit it.
#include <dlfcn.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <quickfix/Application.h>
#include <quickfix/DataDictionary.h>
#include <quickfix/MessageStore.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketAcceptor.h>
#include <quickfix/SocketInitiator.h>
#include <quickfix/fix44/NewOrderSingle.h>

#include "bench_util.h"
#include "connectors/fix/codec.h"
#include "core/clock.h"
#include "core/fixed.h"
#include "desk/types.h"
#ifdef BK_FIX_SESSION
#include "connectors/fix/session.h"
#include "connectors/net/conn.h"
#include "connectors/net/loop.h"
#endif

#ifndef BK_FIX44_XML
#define BK_FIX44_XML "../shared/data/fix/FIX44.xml"
#endif

// QuickFIX 1.15 binds its acceptor to INADDR_ANY (it has no
// SocketAcceptHost); keep the benchmark's acceptor on loopback, as
// tests/peers/fix_peer.cc does.
extern "C" int bind(int fd, const struct sockaddr *addr, socklen_t len) __THROW
{
    using bind_fn = int (*)(int, const struct sockaddr *, socklen_t);
    static bind_fn real = reinterpret_cast<bind_fn>(dlsym(RTLD_NEXT, "bind"));

    if (real == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    if (addr != nullptr && addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
        sockaddr_in a;
        std::memcpy(&a, addr, sizeof a);
        if (a.sin_addr.s_addr == htonl(INADDR_ANY)) {
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return real(fd, reinterpret_cast<const sockaddr *>(&a), sizeof a);
        }
    }
    return real(fd, addr, len);
}

// QuickFIX keeps some allocations until process exit (its socket servers);
// under -DDESK_SANITIZE=address only leaks inside libquickfix are ignored.
extern "C" const char *__lsan_default_suppressions();
extern "C" const char *__lsan_default_suppressions()
{
    return "leak:libquickfix.so\n";
}

namespace
{

constexpr uint64_t kBatch = 16;
const char kSym[] = "AMZN";
const char kSender[] = "CLIENT1";
const char kTarget[] = "SIMVENUE";
// 2012-06-21 14:30:00.123 UTC (the recorded LOBSTER AMZN day), in ns.
constexpr uint64_t kNow = 1340289000123000000ull;

desk_vcmd_t order_cmd(uint64_t id)
{
    desk_vcmd_t c;
    std::memset(&c, 0, sizeof c);
    c.type = DESK_CMD_NEW;
    c.side = DESK_BUY;
    c.ord_type = DESK_LIMIT;
    c.tif = DESK_GTC;
    c.instrument = 1;
    c.order_id = id;
    c.cl_ord_id = id;
    c.qty = 100 * DESK_SCALE;
    c.px = 22382 * DESK_SCALE / 100; // 223.82
    return c;
}

FIX::UtcTimeStamp qf_time(uint64_t ns)
{
    return FIX::UtcTimeStamp((time_t)(ns / 1000000000u), (int)(ns / 1000000u % 1000u), 3);
}

// The body of a NewOrderSingle from a desk_vcmd_t, the QuickFIX way: typed
// fields (QTY and PRICE are double in QuickFIX 1.15).
void qf_order_body(FIX44::NewOrderSingle &m, const desk_vcmd_t &c, const std::string &sym,
                   const FIX::UtcTimeStamp &ts)
{
    m.set(FIX::ClOrdID("d" + std::to_string(c.cl_ord_id)));
    m.set(FIX::Symbol(sym));
    m.set(FIX::Side(c.side == DESK_BUY ? FIX::Side_BUY : FIX::Side_SELL));
    m.set(FIX::TransactTime(ts, 3));
    m.set(FIX::OrderQty((double)c.qty / (double)DESK_SCALE));
    m.set(FIX::OrdType((char)('0' + c.ord_type)));
    if (c.ord_type == DESK_LIMIT || c.ord_type == DESK_STOP_LIMIT)
        m.set(FIX::Price((double)c.px / (double)DESK_SCALE));
    if (c.ord_type == DESK_STOP || c.ord_type == DESK_STOP_LIMIT)
        m.set(FIX::StopPx((double)c.stop_px / (double)DESK_SCALE));
    m.set(FIX::TimeInForce((char)('0' + c.tif)));
}

// Every tag=value of one message, sorted; empty if desk_fix_parse refuses it.
std::vector<std::pair<uint32_t, std::string>> fields_of(const char *p, size_t n)
{
    desk_fix_field_t f[64];
    desk_fix_msg_t m;
    size_t used = 0;
    std::vector<std::pair<uint32_t, std::string>> out;
    if (desk_fix_msg_init(&m, f, 64) != 0 || desk_fix_parse(p, n, &m, &used) != 0 || used != n)
        return out;
    for (uint32_t i = 0; i < m.nfields; i++)
        out.emplace_back(f[i].tag, std::string(m.buf + f[i].off, f[i].len));
    std::sort(out.begin(), out.end());
    return out;
}

// ---- row 1: encode NewOrderSingle ---------------------------------------------

struct DeskEncoder {
    desk_fix_tmpl_t tmpl;
    char buf[512];
    bool ok;
    DeskEncoder() { ok = desk_fix_tmpl_init(&tmpl, kSender, kTarget) == 0; }
    // Returns the length (> 0) and the message's first byte, or <= 0.
    int encode(const desk_vcmd_t &c, uint64_t seq, uint64_t now, const char **msg)
    {
        desk_fix_enc_t e;
        desk_fix_enc_begin(&e, &tmpl, buf, sizeof buf, "D", seq, now);
        desk_fix_put_new_order(&e, &c, kSym, sizeof kSym - 1, now);
        return desk_fix_enc_finish(&e, msg);
    }
};

struct QfEncoder {
    std::string sym = kSym;
    std::string out;
    int encode(const desk_vcmd_t &c, uint64_t seq, uint64_t now, const char **msg)
    {
        FIX44::NewOrderSingle m;
        FIX::UtcTimeStamp ts = qf_time(now);
        FIX::Header &h = m.getHeader();
        h.setField(FIX::SenderCompID(kSender));
        h.setField(FIX::TargetCompID(kTarget));
        h.setField(FIX::MsgSeqNum((int)seq));
        h.setField(FIX::SendingTime(ts, 3));
        qf_order_body(m, c, sym, ts);
        out = m.toString();
        *msg = out.data();
        return (int)out.size();
    }
};

template <class E> void BM_Encode(benchmark::State &st)
{
    E enc;
    DeskEncoder ref;
    desk_vcmd_t c = order_cmd(42);
    const char *a = nullptr, *b = nullptr;
    int na = enc.encode(c, 1234, kNow, &a);
    auto fa = na > 0 ? fields_of(a, (size_t)na) : decltype(fields_of(a, 0))();
    int nb = ref.encode(c, 1234, kNow, &b);
    auto fb = nb > 0 ? fields_of(b, (size_t)nb) : decltype(fields_of(b, 0))();
    if (!ref.ok || fa.empty() || fa != fb || na != nb) {
        st.SkipWithError("encoders disagree (tag=value multisets differ) or failed");
        return;
    }
    uint64_t seq = 1, bad = 0;
    bk::run_batched(st, kBatch, [&](uint64_t k) {
        for (uint64_t i = 0; i < k; i++) {
            const char *m;
            c.cl_ord_id = ++seq;
            int n = enc.encode(c, seq, kNow, &m);
            bad += n <= 0;
            benchmark::DoNotOptimize(m);
            benchmark::ClobberMemory();
        }
    });
    if (bad != 0)
        st.SkipWithError("an encode failed while timed");
    st.SetBytesProcessed(st.iterations() * (int64_t)na);
}

// ---- row 2: decode ExecutionReport --------------------------------------------

struct ExecOut {
    char order_id[32];   // 37
    char cl_ord_id[24];  // 11 as sent
    char exec_id[32];    // 17
    char symbol[16];     // 55
    uint64_t seq;        // 34
    uint64_t sending_ns; // 52
    uint64_t transact_ns; // 60
    uint64_t cl_ord_num; // 11 through desk_fix_clid_parse (0 if foreign)
    int64_t order_qty, last_qty, last_px, leaves_qty, cum_qty, avg_px; // 1e-8
    char exec_type, ord_status, side; // 150, 39, 54
};

bool copy_str(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return false;
    std::memcpy(dst, s, n);
    dst[n] = 0;
    return true;
}

// The ExecutionReport, built once with desk's generic encoder (so BodyLength
// and CheckSum are right): SIMVENUE -> CLIENT1, a partial fill of d42.
std::string make_exec_report()
{
    desk_fix_tmpl_t t;
    desk_fix_enc_t e;
    char buf[512];
    const char *msg;
    if (desk_fix_tmpl_init(&t, kTarget, kSender) != 0)
        return std::string();
    desk_fix_enc_begin(&e, &t, buf, sizeof buf, "8", 2, kNow);
    desk_fix_enc_str(&e, DESK_FIX_OrderID, "OID-20120621-0000123", 20);
    desk_fix_enc_str(&e, DESK_FIX_ClOrdID, "d42", 3);
    desk_fix_enc_str(&e, DESK_FIX_ExecID, "EXE-20120621-0000456", 20);
    desk_fix_enc_char(&e, DESK_FIX_ExecType, 'F');
    desk_fix_enc_char(&e, DESK_FIX_OrdStatus, '1');
    desk_fix_enc_str(&e, DESK_FIX_Symbol, kSym, sizeof kSym - 1);
    desk_fix_enc_char(&e, DESK_FIX_Side, '1');
    desk_fix_enc_fixed(&e, DESK_FIX_OrderQty, 100 * DESK_SCALE);
    desk_fix_enc_fixed(&e, DESK_FIX_LastQty, 40 * DESK_SCALE);
    desk_fix_enc_fixed(&e, DESK_FIX_LastPx, 22382 * DESK_SCALE / 100);
    desk_fix_enc_fixed(&e, DESK_FIX_LeavesQty, 60 * DESK_SCALE);
    desk_fix_enc_fixed(&e, DESK_FIX_CumQty, 40 * DESK_SCALE);
    desk_fix_enc_fixed(&e, DESK_FIX_AvgPx, 22382 * DESK_SCALE / 100);
    desk_fix_enc_time(&e, DESK_FIX_TransactTime, kNow - 1000000u);
    int n = desk_fix_enc_finish(&e, &msg);
    return n > 0 ? std::string(msg, (size_t)n) : std::string();
}

const std::string &exec_report()
{
    static const std::string s = make_exec_report();
    return s;
}

struct DeskDecoder {
    desk_fix_field_t f[64];
    desk_fix_msg_t m;
    DeskDecoder() { desk_fix_msg_init(&m, f, 64); }

    static bool sv(char *dst, size_t cap, desk_fix_sv_t v) { return copy_str(dst, cap, v.p, v.len); }

    bool decode(const std::string &s, ExecOut *o)
    {
        size_t used;
        desk_fix_hdr_t h;
        desk_fix_exec_t x;
        if (desk_fix_parse(s.data(), s.size(), &m, &used) != 0 || desk_fix_hdr_decode(&m, &h) != 0 ||
            desk_fix_exec_decode(&m, &x) != 0 || desk_fix_get_time(&m, DESK_FIX_TransactTime,
                                                                 &o->transact_ns) != 0)
            return false;
        o->seq = h.seq;
        o->sending_ns = h.sending_ns;
        o->cl_ord_num = x.cl_ord_id;
        o->order_qty = x.order_qty;
        o->last_qty = x.last_qty;
        o->last_px = x.last_px;
        o->leaves_qty = x.leaves_qty;
        o->cum_qty = x.cum_qty;
        o->avg_px = x.avg_px;
        o->exec_type = x.exec_type;
        o->ord_status = x.ord_status;
        o->side = x.side;
        return sv(o->order_id, sizeof o->order_id, x.order_id) &&
               sv(o->cl_ord_id, sizeof o->cl_ord_id, x.cl_ord_id_s) &&
               sv(o->exec_id, sizeof o->exec_id, x.exec_id) &&
               sv(o->symbol, sizeof o->symbol, x.symbol);
    }
};

const FIX::DataDictionary *fix44_dict()
{
    static std::unique_ptr<FIX::DataDictionary> dd = []() {
        std::unique_ptr<FIX::DataDictionary> d;
        if (access(BK_FIX44_XML, R_OK) != 0)
            return d;
        try {
            d.reset(new FIX::DataDictionary(BK_FIX44_XML));
        } catch (std::exception &) {
            d.reset();
        }
        return d;
    }();
    return dd.get();
}

template <bool Dict> struct QfDecoder {
    const FIX::DataDictionary *dd = fix44_dict();
    int bad = 0;

    void str(const FIX::FieldMap &m, int tag, char *dst, size_t cap)
    {
        const std::string &v = m.getField(tag);
        bad += !copy_str(dst, cap, v.data(), v.size());
    }
    void fx(const FIX::FieldMap &m, int tag, int64_t *out)
    {
        const std::string &v = m.getField(tag);
        bad += desk_fixed_parse(v.data(), v.size(), out) != 0;
    }
    void chr(const FIX::FieldMap &m, int tag, char *out)
    {
        const std::string &v = m.getField(tag);
        bad += v.size() != 1;
        *out = v.empty() ? 0 : v[0];
    }
    void tm(const FIX::FieldMap &m, int tag, uint64_t *out)
    {
        const std::string &v = m.getField(tag);
        bad += desk_fix_time_parse(v.data(), v.size(), out) != 0;
    }

    bool decode(const std::string &s, ExecOut *o)
    {
        bad = 0;
        try {
            FIX::Message msg = Dict ? FIX::Message(s, *dd, true) : FIX::Message(s, true);
            if (Dict)
                FIX::DataDictionary::validate(msg, dd, dd);
            const FIX::Header &h = msg.getHeader();
            bad += h.getField(FIX::FIELD::MsgType) != "8";
            FIX::MsgSeqNum seq;
            h.getField(seq);
            o->seq = (uint64_t)seq.getValue();
            tm(h, FIX::FIELD::SendingTime, &o->sending_ns);
            str(msg, FIX::FIELD::OrderID, o->order_id, sizeof o->order_id);
            str(msg, FIX::FIELD::ClOrdID, o->cl_ord_id, sizeof o->cl_ord_id);
            str(msg, FIX::FIELD::ExecID, o->exec_id, sizeof o->exec_id);
            chr(msg, FIX::FIELD::ExecType, &o->exec_type);
            chr(msg, FIX::FIELD::OrdStatus, &o->ord_status);
            str(msg, FIX::FIELD::Symbol, o->symbol, sizeof o->symbol);
            chr(msg, FIX::FIELD::Side, &o->side);
            fx(msg, FIX::FIELD::OrderQty, &o->order_qty);
            fx(msg, FIX::FIELD::LastQty, &o->last_qty);
            fx(msg, FIX::FIELD::LastPx, &o->last_px);
            fx(msg, FIX::FIELD::LeavesQty, &o->leaves_qty);
            fx(msg, FIX::FIELD::CumQty, &o->cum_qty);
            fx(msg, FIX::FIELD::AvgPx, &o->avg_px);
            tm(msg, FIX::FIELD::TransactTime, &o->transact_ns);
            const std::string &cl = msg.getField(FIX::FIELD::ClOrdID);
            if (desk_fix_clid_parse(cl.data(), cl.size(), &o->cl_ord_num) != 0)
                o->cl_ord_num = 0;
        } catch (std::exception &) {
            return false;
        }
        return bad == 0;
    }
};

template <class D> void BM_Decode(benchmark::State &st)
{
    D dec;
    DeskDecoder ref;
    ExecOut out, want;
    std::memset(&out, 0, sizeof out);
    std::memset(&want, 0, sizeof want);
    const std::string &er = exec_report();
    // Same struct, bit for bit, and the values the report carries.
    if (er.empty() || !ref.decode(er, &want) || !dec.decode(er, &out) ||
        std::memcmp(&out, &want, sizeof out) != 0 || want.last_px != 22382000000 ||
        want.cum_qty != 40 * DESK_SCALE || want.exec_type != 'F' || want.cl_ord_num != 42 ||
        want.seq != 2 || want.transact_ns != kNow - 1000000u) {
        st.SkipWithError("decoders disagree or failed");
        return;
    }
    uint64_t bad = 0;
    bk::run_batched(st, kBatch, [&](uint64_t k) {
        for (uint64_t i = 0; i < k; i++) {
            bad += !dec.decode(er, &out);
            benchmark::DoNotOptimize(out);
            benchmark::ClobberMemory();
        }
    });
    if (bad != 0)
        st.SkipWithError("a decode failed while timed");
    st.SetBytesProcessed(st.iterations() * (int64_t)er.size());
}

#ifdef BK_FIX_SESSION
// ---- row 3: an order on a logged-on session, to the socket -----------------------

const char kDeskComp[] = "DESK1";
constexpr uint32_t kMaxOrders = 65536; // desk session's order table (unanswered orders stay)

// The acceptor: counts what arrives per session, and every reject it sends.
class AcceptApp : public FIX::Application
{
  public:
    std::atomic<uint64_t> from_desk{0}, from_qf{0}, rejects{0};
    std::string last_reject;
    void onCreate(const FIX::SessionID &) override {}
    void onLogon(const FIX::SessionID &) override {}
    void onLogout(const FIX::SessionID &) override {}
    void toAdmin(FIX::Message &m, const FIX::SessionID &) override
    {
        if (m.getHeader().getField(FIX::FIELD::MsgType) == "3") {
            last_reject = m.toString();
            rejects.fetch_add(1, std::memory_order_release);
        }
    }
    void toApp(FIX::Message &m, const FIX::SessionID &) throw(FIX::DoNotSend) override
    {
        if (m.getHeader().getField(FIX::FIELD::MsgType) == "j") {
            last_reject = m.toString();
            rejects.fetch_add(1, std::memory_order_release);
        }
    }
    void fromAdmin(const FIX::Message &, const FIX::SessionID &) throw(
        FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
        FIX::RejectLogon) override
    {
    }
    void fromApp(const FIX::Message &, const FIX::SessionID &id) throw(
        FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
        FIX::UnsupportedMessageType) override
    {
        if (id.getTargetCompID().getValue() == kDeskComp)
            from_desk.fetch_add(1, std::memory_order_release);
        else
            from_qf.fetch_add(1, std::memory_order_release);
    }
};

class InitApp : public FIX::Application
{
  public:
    std::atomic<int> logged_on{0};
    void onCreate(const FIX::SessionID &) override {}
    void onLogon(const FIX::SessionID &) override { logged_on.store(1); }
    void onLogout(const FIX::SessionID &) override { logged_on.store(0); }
    void toAdmin(FIX::Message &, const FIX::SessionID &) override {}
    void toApp(FIX::Message &, const FIX::SessionID &) throw(FIX::DoNotSend) override {}
    void fromAdmin(const FIX::Message &, const FIX::SessionID &) throw(
        FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
        FIX::RejectLogon) override
    {
    }
    void fromApp(const FIX::Message &, const FIX::SessionID &) throw(
        FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
        FIX::UnsupportedMessageType) override
    {
    }
};

int free_port()
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a;
    socklen_t n = sizeof a;
    std::memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr *>(&a), &n) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

// Everything the send rows share: one QuickFIX acceptor with two sessions
// (SIMVENUE<->CLIENT1 for QuickFIX's initiator, SIMVENUE<->DESK1 for desk),
// QuickFIX's initiator, and desk's session on an io_uring loop.  Built on
// first use, kept for the whole program, torn down after the benchmarks.
class SendRig
{
  public:
    std::string err;     // why setup failed ("" when up)
    AcceptApp aapp;      // acceptor callbacks
    InitApp iapp;        // QuickFIX initiator callbacks
    FIX::SessionID qsid; // the QuickFIX initiator's session
    uint64_t desk_sent = 0, qf_sent = 0; // orders handed over, per side
    uint64_t clid = 1000000;             // ClOrdID numbers (shared, unique)

    // desk side
    desk_loop_t loop;
    desk_conn_t conn;
    desk_fix_session_t *s = nullptr;
    bool loop_ok = false, conn_ok = false;
    uint32_t in_session = 0; // orders sent on the current desk session
    uint64_t emitted = 0;    // events the desk session emitted (none expected)
    std::string desk_log;    // last log line of the desk session

    SendRig() { setup(); }
    ~SendRig() { teardown(); }

    void setup()
    {
        std::memset(&loop, 0, sizeof loop);
        std::memset(&conn, 0, sizeof conn);
        signal(SIGPIPE, SIG_IGN);
        int port = free_port();
        if (port <= 0) {
            err = "no free loopback port";
            return;
        }
        const FIX::DataDictionary *dd = fix44_dict();
        std::ostringstream a, i;
        a << "[DEFAULT]\nConnectionType=acceptor\nSocketAcceptPort=" << port
          << "\nSocketReuseAddress=Y\nSocketNodelay=Y\nStartTime=00:00:00\nEndTime=00:00:00\n"
             "CheckLatency=N\nPersistMessages=Y\n";
        if (dd)
            a << "UseDataDictionary=Y\nDataDictionary=" << BK_FIX44_XML
              << "\nValidateUserDefinedFields=Y\nValidateFieldsOutOfOrder=Y\n"
                 "ValidateFieldsHaveValues=Y\nAllowUnknownMsgFields=N\n";
        else
            a << "UseDataDictionary=N\n";
        a << "[SESSION]\nBeginString=FIX.4.4\nSenderCompID=" << kTarget
          << "\nTargetCompID=" << kSender << "\n";
        a << "[SESSION]\nBeginString=FIX.4.4\nSenderCompID=" << kTarget
          << "\nTargetCompID=" << kDeskComp << "\n";
        i << "[DEFAULT]\nConnectionType=initiator\nSocketConnectHost=127.0.0.1\n"
             "SocketConnectPort="
          << port
          << "\nSocketNodelay=Y\nHeartBtInt=120\nReconnectInterval=1\nStartTime=00:00:00\n"
             "EndTime=00:00:00\nResetOnLogon=Y\nCheckLatency=N\nPersistMessages=Y\n";
        if (dd)
            i << "UseDataDictionary=Y\nDataDictionary=" << BK_FIX44_XML << "\n";
        else
            i << "UseDataDictionary=N\n";
        i << "[SESSION]\nBeginString=FIX.4.4\nSenderCompID=" << kSender
          << "\nTargetCompID=" << kTarget << "\n";
        qsid = FIX::SessionID("FIX.4.4", kSender, kTarget);
        try {
            std::istringstream ai(a.str()), ii(i.str());
            aset.reset(new FIX::SessionSettings(ai));
            iset.reset(new FIX::SessionSettings(ii));
            acc.reset(new FIX::SocketAcceptor(aapp, astore, *aset));
            ini.reset(new FIX::SocketInitiator(iapp, istore, *iset));
            // QuickFIX's threads inherit the affinity of the thread that
            // starts them: start them from one pinned to CPU 1.
            std::string e;
            std::thread t([&]() {
                bk::pin(1);
                try {
                    acc->start();
                    ini->start();
                } catch (std::exception &x) {
                    e = x.what();
                }
            });
            t.join();
            if (!e.empty()) {
                err = "QuickFIX start: " + e;
                return;
            }
        } catch (std::exception &x) {
            err = std::string("QuickFIX setup: ") + x.what();
            return;
        }
        uint64_t end = bk::mono_ns() + 10000000000ull;
        while (!iapp.logged_on.load() && bk::mono_ns() < end)
            usleep(1000);
        if (!iapp.logged_on.load()) {
            err = "QuickFIX initiator did not log on in 10 s";
            return;
        }
        if (desk_loop_init(&loop, 1, nullptr) != 0) {
            err = "desk_loop_init failed (io_uring unavailable?)";
            return;
        }
        loop_ok = true;
        desk_conn_cfg_t cc;
        std::memset(&cc, 0, sizeof cc);
        cc.host = "127.0.0.1";
        cc.port = (uint16_t)port;
        cc.connect_timeout_ns = 5000000000ull;
        desk_conn_cb_t cb = {c_open, c_data, c_close};
        if (desk_conn_init(&conn, &loop, &cc, &cb, this) != 0) {
            err = "desk_conn_init failed";
            return;
        }
        conn_ok = true;
        desk_logon();
    }

    // A fresh desk session (reset_on_logon: numbers start at 1), connected
    // and logged on.  Sets err on failure.
    void desk_logon()
    {
        if (s != nullptr) {
            if (desk_conn_state(&conn) != DESK_CONN_IDLE) {
                desk_conn_close(&conn);
                uint64_t end = bk::mono_ns() + 5000000000ull;
                while (desk_conn_state(&conn) != DESK_CONN_IDLE && bk::mono_ns() < end)
                    desk_loop_poll(&loop, desk_now_ns());
            }
            desk_fix_session_destroy(s);
            s = nullptr;
        }
        desk_fix_session_cfg_t sc;
        std::memset(&sc, 0, sizeof sc);
        sc.sender = kDeskComp;
        sc.target = kTarget;
        sc.heartbeat_s = 120;
        sc.reset_on_logon = 1;
        sc.max_resend_age_ns = 5000000000ull;
        sc.max_orders = kMaxOrders;
        sc.resend_ring = 8192;
        sc.session_start_s = -1;
        sc.session_end_s = -1;
        desk_fix_io_t io = {io_send, io_emit, io_health, io_close, io_log, this};
        if (desk_fix_session_create(&sc, &io, &s) != 0) {
            err = "desk_fix_session_create failed";
            return;
        }
        in_session = 0;
        if (desk_conn_open(&conn) != 0) {
            err = "desk_conn_open failed";
            return;
        }
        uint64_t end = bk::mono_ns() + 10000000000ull;
        while (desk_fix_session_state(s) != DESK_FIX_ACTIVE && bk::mono_ns() < end) {
            desk_loop_poll(&loop, desk_now_ns());
            desk_fix_session_tick(s, desk_now_ns(), desk_wall_ns());
        }
        if (desk_fix_session_state(s) != DESK_FIX_ACTIVE)
            err = "desk session did not log on in 10 s: " + desk_log;
    }

    void teardown()
    {
        if (ini)
            ini->stop();
        if (s != nullptr && desk_fix_session_state(s) == DESK_FIX_ACTIVE) {
            desk_fix_session_logout(s, "bench done", desk_now_ns(), desk_wall_ns());
            uint64_t end = bk::mono_ns() + 1000000000ull;
            while (desk_fix_session_state(s) != DESK_FIX_DISCONNECTED && bk::mono_ns() < end) {
                desk_loop_poll(&loop, desk_now_ns());
                desk_fix_session_tick(s, desk_now_ns(), desk_wall_ns());
            }
        }
        if (conn_ok) {
            desk_conn_close(&conn);
            uint64_t end = bk::mono_ns() + 1000000000ull;
            while (desk_conn_state(&conn) != DESK_CONN_IDLE && bk::mono_ns() < end)
                desk_loop_poll(&loop, desk_now_ns());
            desk_conn_fini(&conn);
            conn_ok = false;
        }
        desk_fix_session_destroy(s);
        s = nullptr;
        if (loop_ok)
            desk_loop_fini(&loop);
        loop_ok = false;
        if (acc)
            acc->stop();
        ini.reset();
        acc.reset();
    }

    // Untimed: poll desk's loop until its send ring is empty (the send CQE
    // reaped) and the acceptor has received `want` orders from `who`.
    bool settle(const std::atomic<uint64_t> &who, uint64_t want, bool desk_side)
    {
        uint64_t end = bk::mono_ns() + 5000000000ull;
        for (;;) {
            bool done = who.load(std::memory_order_acquire) >= want;
            if (desk_side) {
                desk_loop_poll(&loop, desk_now_ns());
                done = done && desk_conn_queued(&conn) == 0;
            }
            if (done)
                return true;
            if (bk::mono_ns() > end)
                return false;
            desk_cpu_relax();
        }
    }

  private:
    std::unique_ptr<FIX::SessionSettings> aset, iset;
    FIX::MemoryStoreFactory astore, istore;
    std::unique_ptr<FIX::SocketAcceptor> acc;
    std::unique_ptr<FIX::SocketInitiator> ini;

    static void c_open(desk_conn_t *, void *ctx)
    {
        SendRig *r = static_cast<SendRig *>(ctx);
        desk_fix_session_on_open(r->s, desk_loop_now(&r->loop), desk_wall_ns());
    }
    static void c_data(desk_conn_t *, const uint8_t *d, size_t n, void *ctx)
    {
        SendRig *r = static_cast<SendRig *>(ctx);
        desk_fix_session_on_data(r->s, d, n, desk_loop_now(&r->loop), desk_wall_ns());
    }
    static void c_close(desk_conn_t *, int, const char *why, void *ctx)
    {
        SendRig *r = static_cast<SendRig *>(ctx);
        if (r->s != nullptr)
            desk_fix_session_on_close(r->s, why);
    }
    static int io_send(const char *buf, size_t len, void *ctx)
    {
        return desk_conn_send(&static_cast<SendRig *>(ctx)->conn, buf, len);
    }
    static int io_emit(const desk_vevent_t *, void *ctx)
    {
        static_cast<SendRig *>(ctx)->emitted++;
        return 0;
    }
    static void io_health(desk_health_t, const char *, void *) {}
    static void io_close(void *ctx) { desk_conn_close(&static_cast<SendRig *>(ctx)->conn); }
    static void io_log(const char *line, void *ctx) { static_cast<SendRig *>(ctx)->desk_log = line; }
};

std::unique_ptr<SendRig> g_rig;

SendRig *rig()
{
    if (!g_rig)
        g_rig.reset(new SendRig());
    return g_rig->err.empty() ? g_rig.get() : nullptr;
}

void send_report(benchmark::State &st, bk::Hist &h, uint64_t bad, const char *what)
{
    st.SetItemsProcessed(st.iterations());
    h.report(st);
    if (g_rig->aapp.rejects.load() != 0)
        st.SkipWithError(("the acceptor sent a reject: " + g_rig->aapp.last_reject).c_str());
    else if (bad != 0)
        st.SkipWithError(what);
}

void BM_SendDesk(benchmark::State &st)
{
    SendRig *r = rig();
    if (r == nullptr) {
        st.SkipWithError(("send rig: " + g_rig->err).c_str());
        return;
    }
    if (desk_fix_session_state(r->s) != DESK_FIX_ACTIVE)
        r->desk_logon();
    if (!r->err.empty()) {
        st.SkipWithError(r->err.c_str());
        return;
    }
    bk::Hist h, pre;
    const double npt = bk::ns_per_tick();
    uint64_t bad = 0;
    desk_vcmd_t c = order_cmd(0);
    for (auto _ : st) {
        // Untimed: the previous order is at the acceptor, the send ring is
        // empty, and the order table has room (orders are never answered
        // here, so a full table means a fresh session).
        if (!r->settle(r->aapp.from_desk, r->desk_sent, true)) {
            bad++;
            break;
        }
        if (r->in_session >= kMaxOrders - 1) {
            r->desk_logon();
            if (!r->err.empty()) {
                bad++;
                break;
            }
        }
        c.cl_ord_id = c.order_id = ++r->clid;
        uint64_t t0 = __rdtsc();
        uint64_t mono = desk_now_ns(), wall = desk_wall_ns();
        int rc = desk_fix_session_new(r->s, &c, kSym, sizeof kSym - 1, mono, wall);
        uint64_t tm = __rdtsc();
        int sub = desk_loop_submit(&r->loop);
        uint64_t t1 = __rdtsc();
        if (rc != 0 || sub < 1) {
            bad++;
            break;
        }
        r->desk_sent++;
        r->in_session++;
        double ns = (double)(t1 - t0) * npt;
        st.SetIterationTime(ns * 1e-9);
        h.add((uint64_t)(ns + 0.5));
        pre.add((uint64_t)((double)(tm - t0) * npt + 0.5));
    }
    if (bad == 0 && !r->settle(r->aapp.from_desk, r->desk_sent, true))
        bad++;
    // The part before io_uring_enter: clock reads + desk_fix_session_new.
    st.counters["p50_pre_submit_ns"] = (double)bk_hist_quantile(pre.get(), 0.50);
    send_report(st, h, bad,
                "desk: an order was refused, not submitted, or never reached the acceptor");
}

void BM_SendQuickfix(benchmark::State &st)
{
    SendRig *r = rig();
    if (r == nullptr) {
        st.SkipWithError(("send rig: " + g_rig->err).c_str());
        return;
    }
    if (!r->iapp.logged_on.load()) {
        st.SkipWithError("QuickFIX initiator is not logged on");
        return;
    }
    bk::Hist h;
    const double npt = bk::ns_per_tick();
    const std::string sym = kSym;
    uint64_t bad = 0;
    desk_vcmd_t c = order_cmd(0);
    for (auto _ : st) {
        if (!r->settle(r->aapp.from_qf, r->qf_sent, false)) {
            bad++;
            break;
        }
        c.cl_ord_id = c.order_id = ++r->clid;
        uint64_t t0 = __rdtsc();
        bool ok;
        try {
            FIX44::NewOrderSingle m;
            qf_order_body(m, c, sym, FIX::UtcTimeStamp());
            ok = FIX::Session::sendToTarget(m, r->qsid);
        } catch (std::exception &) {
            ok = false;
        }
        uint64_t t1 = __rdtsc();
        if (!ok) {
            bad++;
            break;
        }
        r->qf_sent++;
        double ns = (double)(t1 - t0) * npt;
        st.SetIterationTime(ns * 1e-9);
        h.add((uint64_t)(ns + 0.5));
    }
    if (bad == 0 && !r->settle(r->aapp.from_qf, r->qf_sent, false))
        bad++;
    send_report(st, h, bad,
                "quickfix: sendToTarget failed or an order never reached the acceptor");
}
#endif // BK_FIX_SESSION

} // namespace

BENCHMARK(BM_Encode<DeskEncoder>)->Name("Fix/desk/encode_NewOrderSingle")->UseRealTime();
BENCHMARK(BM_Encode<QfEncoder>)->Name("Fix/quickfix/encode_NewOrderSingle")->UseRealTime();
BENCHMARK(BM_Decode<DeskDecoder>)->Name("Fix/desk/decode_ExecutionReport")->UseRealTime();
BENCHMARK(BM_Decode<QfDecoder<false>>)
    ->Name("Fix/quickfix/decode_ExecutionReport")
    ->UseRealTime();
#ifdef BK_FIX_SESSION
BENCHMARK(BM_SendDesk)->Name("Fix/desk/send_NewOrderSingle")->UseManualTime();
BENCHMARK(BM_SendQuickfix)->Name("Fix/quickfix/send_NewOrderSingle")->UseManualTime();
#endif

int main(int argc, char **argv)
{
    // The dictionary row exists only where shared/data/fix/FIX44.xml does.
    if (fix44_dict() != nullptr)
        benchmark::RegisterBenchmark("Fix/quickfix_dict/decode_ExecutionReport",
                                     BM_Decode<QfDecoder<true>>)
            ->UseRealTime();
    else
        std::fprintf(stderr, "bench_fix: %s not readable: no quickfix_dict row\n", BK_FIX44_XML);
    int rc = bk::main(argc, argv);
#ifdef BK_FIX_SESSION
    g_rig.reset();
#endif
    return rc;
}
