/*
 * fix_peer.cc - desk-fix-peer: a FIX 4.4 acceptor built on QuickFIX (Debian's
 * libquickfix), the venue desk's FIX connector is tested against.
 *
 * Why QuickFIX: it is the engine most FIX venues and OMSs are built on, and
 * with UseDataDictionary=Y and every Validate* switch on it checks each
 * message desk sends against the FIX 4.4 data dictionary (required tags,
 * enum values, field types, header/body/trailer order, user-defined tags,
 * BodyLength and CheckSum).  Every session-level Reject (35=3) and every
 * BusinessMessageReject (35=j) it sends is written to the reject log, so a
 * test asserts "the peer logged no reject" to prove desk's encoding valid.
 *
 * What it does (see tests/peers/README.md for the flags):
 *   - one session, SenderCompID --sender (SIMVENUE) / TargetCompID --target
 *     (CLIENT1), FileStore in --store, listening on 127.0.0.1 only;
 *   - NewOrderSingle: ExecutionReport 150=0/39=0, then fills (150=F with
 *     39=1 partially filled / 39=2 filled, LastQty/LastPx) against recorded
 *     market data: the LOBSTER AMZN level-1 book (--book), one row of the
 *     top of book per tick, each row's size offered once; symbols given with
 *     --sim-symbol fill deterministically, --fill-pct of the order per tick
 *     at the limit price; IOC/FOK leftovers are canceled (150=4);
 *   - OrderCancelRequest: 150=4; OrderCancelReplaceRequest: 150=5 with the
 *     new ClOrdID (11) and OrigClOrdID (41); unknown or finished orders get an
 *     OrderCancelReject (35=9, 102=1 unknown / 0 too late);
 *   - rejects: unknown symbol 150=8/103=1, duplicate ClOrdID 103=6, bad
 *     quantity 103=13, unsupported type or TIF 103=11;
 *   - --hold-symbol symbols never fill by themselves, only by the `fill`
 *     command (an order that stays open as long as a test needs);
 *   - the account: starting cash (--cash), then every fill moves the cash
 *     and the position of its symbol; kept in <store>/account so it
 *     survives a restart of the peer.  RequestForPositions (35=AN) is
 *     answered by RequestForPositionsAck (35=AO) and one PositionReport
 *     (35=AP) per symbol with a position (PositionQty: SOD = --phantom, TQ =
 *     bought / sold); CollateralInquiry (35=BB) by one CollateralReport
 *     (35=BA): CashOutstanding 901 = cash, MarginExcess 899 = cash minus
 *     open buy orders (leaves x limit), TotalNetValue 900.
 *     --account-reports unsupported answers both with BusinessMessageReject
 *     (35=j 380=3, QuickFIX's answer to an unsupported MsgType), reject with
 *     a session Reject (35=3 373=5);
 *   - faults on demand, from a control file (--control) polled every tick or
 *     from --on-app N:CMD (run after the N-th application message).  The
 *     peer claims the file by renaming it before reading it; a client writes
 *     its next command only once the file is gone (taken), never over an
 *     unread one:
 *       drop           close the TCP connection without a Logout
 *       skip K         jump the outbound MsgSeqNum by K, then send a
 *                      Heartbeat so the gap shows at once
 *       resend K       send ResendRequest(7 = expected inbound - K, 16 = 0)
 *       testreq ID     send TestRequest(112 = ID)
 *       logout [TEXT]  send Logout (58 = TEXT)
 *       fill SYM [Q]   fill every live order in SYM by Q (default: all it
 *                      has left) at its limit price (--sim-px for market
 *                      orders), even while no session is logged on (QuickFIX
 *                      stores the reports for the resend)
 *       phantom SYM Q  the start-of-day position of SYM is Q (a position the
 *                      client never traded: a reconciliation break)
 *     --on-app counts order-entry messages only (D, F, G, H), not the
 *     account requests a client sends on its own schedule;
 *   - stops by itself: after --max-seconds (default 120), or at the first
 *     logout/disconnect after a logon with --exit-on-logout.
 *
 * Threads: QuickFIX runs in poll mode (Acceptor::poll) on the main thread,
 * so callbacks, ticks and control commands never race.
 *
 * Loopback only: QuickFIX 1.15 has no SocketAcceptHost setting and binds
 * INADDR_ANY, so this program interposes bind() (below) and rewrites
 * INADDR_ANY to 127.0.0.1 for every socket it opens.
 *
 * A test tool: it may allocate, print and use the C++ library freely.
 */
#include <dlfcn.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <quickfix/Application.h>
#include <quickfix/FileLog.h>
#include <quickfix/FileStore.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketAcceptor.h>

#include "desk/fixed.h"

/* ------------------------------------------------------------ loopback */

/* QuickFIX binds its acceptor to INADDR_ANY; keep the peer on loopback. */
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

/*
 * QuickFIX 1.15's SocketAcceptor frees its socket server only at the end of
 * its own thread (start/block), never in poll mode, which this peer uses:
 * LeakSanitizer (DESK_SANITIZE=address) would fail every run on QuickFIX's
 * allocations.  Suppress leaks whose stack passes through libquickfix only;
 * the peer's own code stays checked.  Read by LSan at startup; unused
 * otherwise.
 */
extern "C" const char *__lsan_default_suppressions();
extern "C" const char *__lsan_default_suppressions()
{
    return "leak:libquickfix.so\n";
}

namespace
{

/* ------------------------------------------------------------ options */

struct Options {
    int port = 0;                            /* 0: pick a free loopback port */
    std::string ready_file;                  /* written with the port once listening */
    std::string store;                       /* FileStore (and QuickFIX FileLog) directory */
    std::string dict;                        /* FIX44.xml; empty: no data dictionary */
    std::string reject_log;                  /* every Reject/BusinessMessageReject sent */
    std::string event_log;                   /* orders, executions, commands; "" = stdout */
    std::string sender = "SIMVENUE";         /* our SenderCompID */
    std::string target = "CLIENT1";          /* the client's CompID */
    std::string book;                        /* LOBSTER orderbook_1.csv */
    std::string book_symbol = "AMZN";        /* the symbol that trades against --book */
    long book_start = 0;                     /* first book row */
    std::vector<std::string> sim_symbols;    /* deterministic symbols */
    int fill_pct = 50;                       /* deterministic fill per tick, % of qty */
    int64_t sim_px = 100 * DESK_SCALE;       /* deterministic market-order price */
    int tick_ms = 100;                       /* matching tick */
    int rows_per_tick = 1;                   /* book rows advanced per tick */
    int max_seconds = 120;                   /* hard stop */
    bool exit_on_logout = false;             /* stop after the first session ends */
    std::string control;                     /* control file polled each tick */
    std::multimap<long, std::string> on_app; /* app message number -> command */
    std::vector<std::string> hold_symbols;   /* filled only by the `fill` command */
    int64_t cash = 1000000 * DESK_SCALE;     /* starting cash (a new account) */
    std::string account_reports = "on";      /* on | unsupported | reject */
    std::map<std::string, int64_t> phantom;  /* start-of-day positions by symbol */
};

[[noreturn]] void usage(const char *why)
{
    std::fprintf(stderr,
                 "desk-fix-peer: %s\n"
                 "usage: desk-fix-peer --store DIR [--port N] [--ready-file F] [--dict FIX44.xml]\n"
                 "  [--reject-log F] [--event-log F] [--sender ID] [--target ID]\n"
                 "  [--book orderbook_1.csv] [--book-symbol SYM] [--book-start ROW]\n"
                 "  [--sim-symbol SYM]... [--fill-pct P] [--sim-px PX] [--tick-ms MS]\n"
                 "  [--rows-per-tick N] [--max-seconds S] [--exit-on-logout]\n"
                 "  [--control FILE] [--on-app N:CMD]... [--hold-symbol SYM]...\n"
                 "  [--cash AMT] [--account-reports on|unsupported|reject]\n"
                 "  [--phantom SYM:QTY]...\n",
                 why);
    std::exit(2);
}

long to_long(const char *s, const char *flag)
{
    char *end = nullptr;
    errno = 0;
    long v = std::strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        usage((std::string("bad number for ") + flag).c_str());
    return v;
}

Options parse_args(int argc, char **argv)
{
    Options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto val = [&]() -> const char * {
            if (i + 1 >= argc)
                usage((a + " needs a value").c_str());
            return argv[++i];
        };
        if (a == "--port")
            o.port = (int)to_long(val(), "--port");
        else if (a == "--ready-file")
            o.ready_file = val();
        else if (a == "--store")
            o.store = val();
        else if (a == "--dict")
            o.dict = val();
        else if (a == "--reject-log")
            o.reject_log = val();
        else if (a == "--event-log")
            o.event_log = val();
        else if (a == "--sender")
            o.sender = val();
        else if (a == "--target")
            o.target = val();
        else if (a == "--book")
            o.book = val();
        else if (a == "--book-symbol")
            o.book_symbol = val();
        else if (a == "--book-start")
            o.book_start = to_long(val(), "--book-start");
        else if (a == "--sim-symbol")
            o.sim_symbols.push_back(val());
        else if (a == "--fill-pct")
            o.fill_pct = (int)to_long(val(), "--fill-pct");
        else if (a == "--sim-px") {
            const char *s = val();
            if (desk_fixed_parse(s, std::strlen(s), &o.sim_px) != 0 || o.sim_px <= 0)
                usage("bad --sim-px");
        } else if (a == "--tick-ms")
            o.tick_ms = (int)to_long(val(), "--tick-ms");
        else if (a == "--rows-per-tick")
            o.rows_per_tick = (int)to_long(val(), "--rows-per-tick");
        else if (a == "--max-seconds")
            o.max_seconds = (int)to_long(val(), "--max-seconds");
        else if (a == "--exit-on-logout")
            o.exit_on_logout = true;
        else if (a == "--control")
            o.control = val();
        else if (a == "--on-app") {
            std::string v = val();
            size_t colon = v.find(':');
            if (colon == std::string::npos)
                usage("--on-app wants N:CMD");
            o.on_app.emplace(to_long(v.substr(0, colon).c_str(), "--on-app"), v.substr(colon + 1));
        } else if (a == "--hold-symbol")
            o.hold_symbols.push_back(val());
        else if (a == "--cash") {
            const char *s = val();
            if (desk_fixed_parse(s, std::strlen(s), &o.cash) != 0)
                usage("bad --cash");
        } else if (a == "--account-reports") {
            o.account_reports = val();
            if (o.account_reports != "on" && o.account_reports != "unsupported" &&
                o.account_reports != "reject")
                usage("--account-reports is on, unsupported or reject");
        } else if (a == "--phantom") {
            std::string v = val();
            size_t colon = v.find(':');
            int64_t q = 0;
            if (colon == std::string::npos ||
                desk_fixed_parse(v.data() + colon + 1, v.size() - colon - 1, &q) != 0)
                usage("--phantom wants SYM:QTY");
            o.phantom[v.substr(0, colon)] = q;
        } else if (a == "--help" || a == "-h")
            usage("help");
        else
            usage(("unknown flag " + a).c_str());
    }
    if (o.store.empty())
        usage("--store is required");
    if (o.fill_pct < 1 || o.fill_pct > 100)
        usage("--fill-pct must be 1..100");
    if (o.tick_ms < 1 || o.rows_per_tick < 1 || o.max_seconds < 1)
        usage("--tick-ms, --rows-per-tick and --max-seconds must be positive");
    return o;
}

/* ------------------------------------------------------------ helpers */

std::string fixed_str(int64_t v)
{
    char buf[32];
    int n = desk_fixed_format(v, 0, buf, sizeof buf);
    return n < 0 ? std::string("0") : std::string(buf, (size_t)n);
}

/* UTCTimestamp with milliseconds, now. */
std::string utc_now()
{
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char buf[32];
    size_t n = std::strftime(buf, sizeof buf, "%Y%m%d-%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03ld", (long)(tv.tv_usec / 1000));
    return buf;
}

double mono_s()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One row of a LOBSTER level-1 order book file (prices x 1e4, sizes). */
struct BookRow {
    int64_t ask_px, ask_sz, bid_px, bid_sz; /* desk fixed point (1e-8) */
};

/*
 * Read LOBSTER's orderbook_1.csv: "ask_px,ask_sz,bid_px,bid_sz" per line,
 * prices in dollars x 10000, sizes in shares, no header.  Rows with an empty
 * side (LOBSTER's +-9999999999 dummies) are kept with size 0 on that side.
 */
std::vector<BookRow> read_book(const std::string &path)
{
    std::vector<BookRow> rows;
    std::ifstream in(path);
    std::string line;
    if (!in)
        throw std::runtime_error("cannot open book " + path);
    while (std::getline(in, line)) {
        long long f[4];
        if (std::sscanf(line.c_str(), "%lld,%lld,%lld,%lld", &f[0], &f[1], &f[2], &f[3]) != 4)
            throw std::runtime_error("bad book line: " + line);
        BookRow r;
        bool ask_ok = f[0] > 0 && f[0]<9999999999LL, bid_ok = f[2]> 0 && f[2] < 9999999999LL;
        r.ask_px = ask_ok ? f[0] * 10000 : 0;
        r.ask_sz = ask_ok ? f[1] * DESK_SCALE : 0;
        r.bid_px = bid_ok ? f[2] * 10000 : 0;
        r.bid_sz = bid_ok ? f[3] * DESK_SCALE : 0;
        rows.push_back(r);
    }
    if (rows.empty())
        throw std::runtime_error("empty book " + path);
    return rows;
}

/* ------------------------------------------------------------ orders */

struct Order {
    std::string order_id;   /* 37, ours */
    std::string clid;       /* 11 of the latest accepted request */
    std::string symbol;     /* 55 */
    char side = '1';        /* 54 */
    char ord_type = '2';    /* 40 */
    char tif = '0';         /* 59 */
    int64_t qty = 0;        /* 38 */
    int64_t px = 0;         /* 44, 0 if none */
    int64_t stop_px = 0;    /* 99, 0 if none */
    int64_t cum = 0;        /* 14 */
    __int128 notional = 0;  /* sum of LastPx * LastQty, for AvgPx */
    char status = '0';      /* 39 */
    bool triggered = false; /* stop orders: has the stop been hit */
    bool live() const
    {
        return status == '0' || status == '1';
    }
    int64_t avg_px() const
    {
        return cum == 0 ? 0 : (int64_t)(notional / cum);
    }
};

class Peer : public FIX::Application
{
  public:
    explicit Peer(const Options &o) : opt_(o)
    {
        if (!o.book.empty())
            book_ = read_book(o.book);
        row_ = book_.empty() ? 0 : (size_t)o.book_start % book_.size();
        if (!o.reject_log.empty()) {
            rej_ = std::fopen(o.reject_log.c_str(), "a");
            if (rej_ == nullptr)
                throw std::runtime_error("cannot open reject log " + o.reject_log);
        }
        ev_ = stdout;
        if (!o.event_log.empty()) {
            ev_ = std::fopen(o.event_log.c_str(), "a");
            if (ev_ == nullptr)
                throw std::runtime_error("cannot open event log " + o.event_log);
        }
        exec_prefix_ = std::to_string((long)time(nullptr)) + "-";
        phantom_ = o.phantom;
        account_path_ = o.store + "/account";
        load_account();
    }

    ~Peer() override
    {
        if (rej_ != nullptr)
            std::fclose(rej_);
        if (ev_ != stdout)
            std::fclose(ev_);
    }

    /* -------- QuickFIX callbacks (all on the main thread, inside poll) -------- */

    void onCreate(const FIX::SessionID &sid) override
    {
        sid_ = sid;
    }

    void onLogon(const FIX::SessionID &) override
    {
        logged_on_ = true;
        had_logon_ = true;
        event("LOGON");
    }

    void onLogout(const FIX::SessionID &) override
    {
        if (logged_on_)
            event("LOGOUT");
        logged_on_ = false;
        if (had_logon_)
            session_ended_ = true;
    }

    void toAdmin(FIX::Message &m, const FIX::SessionID &) override
    {
        const std::string &t = m.getHeader().getField(FIX::FIELD::MsgType);
        if (t == "3")
            reject_line("REJECT", m);
        else if (t == "5" && m.isSetField(FIX::FIELD::Text))
            event("SEND LOGOUT 58=" + m.getField(FIX::FIELD::Text));
    }

    void toApp(FIX::Message &m, const FIX::SessionID &) throw(FIX::DoNotSend) override
    {
        if (m.getHeader().getField(FIX::FIELD::MsgType) == "j")
            reject_line("BUSINESS_REJECT", m);
    }

    void fromAdmin(const FIX::Message &m,
                   const FIX::SessionID &) throw(FIX::FieldNotFound, FIX::IncorrectDataFormat,
                                                 FIX::IncorrectTagValue, FIX::RejectLogon) override
    {
        const std::string &t = m.getHeader().getField(FIX::FIELD::MsgType);
        if (t == "3")
            event("RECV REJECT " + flat(m));
    }

    void fromApp(const FIX::Message &m,
                 const FIX::SessionID &) throw(FIX::FieldNotFound, FIX::IncorrectDataFormat,
                                               FIX::IncorrectTagValue,
                                               FIX::UnsupportedMessageType) override
    {
        const std::string &t = m.getHeader().getField(FIX::FIELD::MsgType);
        if (t == "AN" || t == "BB") {
            /* Account requests come on the client's own schedule: they do
             * not count for --on-app. */
            if (opt_.account_reports == "unsupported")
                throw FIX::UnsupportedMessageType(); /* QuickFIX: 35=j 380=3 */
            if (opt_.account_reports == "reject")
                throw FIX::IncorrectTagValue(t == "AN" ? FIX::FIELD::PosReqType
                                                       : FIX::FIELD::SubscriptionRequestType);
            if (t == "AN")
                on_positions(m);
            else
                on_collateral(m);
            return;
        }
        napp_++;
        if (t == "D")
            on_new(m);
        else if (t == "F")
            on_cancel(m);
        else if (t == "G")
            on_replace(m);
        else if (t == "H")
            on_status(m);
        else
            throw FIX::UnsupportedMessageType();
        auto range = opt_.on_app.equal_range(napp_);
        for (auto it = range.first; it != range.second; ++it)
            pending_.push_back(it->second);
    }

    /* -------- main loop hooks -------- */

    /* One matching tick: advance the book, fill what can fill. */
    void tick()
    {
        if (!book_.empty()) {
            row_ = (row_ + (size_t)opt_.rows_per_tick) % book_.size();
            used_ask_ = used_bid_ = 0;
        }
        for (auto &id : arrival_) {
            auto it = orders_.find(id);
            if (it != orders_.end() && it->second.live())
                match(it->second, false);
        }
        /* Forget finished orders from the arrival list. */
        std::deque<std::string> keep;
        for (auto &id : arrival_)
            if (orders_[id].live())
                keep.push_back(id);
        arrival_.swap(keep);
    }

    /* Run queued and control-file commands (outside QuickFIX callbacks). */
    void run_commands()
    {
        if (!opt_.control.empty()) {
            /* Claim the file by renaming it first: a command the client
             * writes while this one is being read lands in a new control
             * file for the next tick instead of being removed unread. */
            std::string taken = opt_.control + ".taken";
            if (std::rename(opt_.control.c_str(), taken.c_str()) == 0) {
                std::ifstream in(taken);
                std::string line;
                while (std::getline(in, line))
                    if (!line.empty())
                        pending_.push_back(line);
                in.close();
                std::remove(taken.c_str());
            }
        }
        while (!pending_.empty()) {
            std::string c = pending_.front();
            pending_.pop_front();
            command(c);
        }
    }

    bool session_ended() const
    {
        return session_ended_;
    }
    bool logged_on() const
    {
        return logged_on_;
    }
    const FIX::SessionID &sid() const
    {
        return sid_;
    }

  private:
    /* -------- logging -------- */

    static std::string flat(const FIX::Message &m)
    {
        std::string s = m.toString();
        for (auto &c : s)
            if (c == '\x01')
                c = '|';
        return s;
    }

    void event(const std::string &what)
    {
        std::fprintf(ev_, "%s %s\n", utc_now().c_str(), what.c_str());
        std::fflush(ev_);
    }

    void reject_line(const char *kind, const FIX::Message &m)
    {
        std::string line = std::string(kind) + " " + flat(m);
        event("SEND " + line);
        if (rej_ != nullptr) {
            std::fprintf(rej_, "%s %s\n", utc_now().c_str(), line.c_str());
            std::fflush(rej_);
        }
    }

    /* -------- field access -------- */

    static std::string str(const FIX::Message &m, int tag)
    {
        return m.getField(tag); /* throws FieldNotFound: QuickFIX sends 373=1 */
    }

    static std::string opt_str(const FIX::Message &m, int tag, const std::string &dflt)
    {
        return m.isSetField(tag) ? m.getField(tag) : dflt;
    }

    static int64_t dec(const FIX::Message &m, int tag)
    {
        const std::string &s = m.getField(tag);
        int64_t v = 0;
        if (desk_fixed_parse(s.data(), s.size(), &v) != 0)
            throw FIX::IncorrectDataFormat(tag, s);
        return v;
    }

    bool known_symbol(const std::string &s) const
    {
        if (!book_.empty() && s == opt_.book_symbol)
            return true;
        for (auto &x : opt_.sim_symbols)
            if (x == s)
                return true;
        return held(s);
    }

    bool held(const std::string &s) const
    {
        for (auto &x : opt_.hold_symbols)
            if (x == s)
                return true;
        return false;
    }

    /* -------- outbound messages -------- */

    void send(FIX::Message &m)
    {
        FIX::Session::sendToTarget(m, sid_);
    }

    /* An ExecutionReport about o; extra fields are set by the caller. */
    FIX::Message er(const Order &o, char exec_type, const std::string &clid)
    {
        FIX::Message m;
        m.getHeader().setField(FIX::FIELD::MsgType, "8");
        m.setField(FIX::FIELD::OrderID, o.order_id);
        m.setField(FIX::FIELD::ClOrdID, clid);
        m.setField(FIX::FIELD::ExecID, exec_prefix_ + std::to_string(++nexec_));
        m.setField(FIX::FIELD::ExecType, std::string(1, exec_type));
        m.setField(FIX::FIELD::OrdStatus, std::string(1, o.status));
        m.setField(FIX::FIELD::Symbol, o.symbol);
        m.setField(FIX::FIELD::Side, std::string(1, o.side));
        m.setField(FIX::FIELD::OrderQty, fixed_str(o.qty));
        m.setField(FIX::FIELD::OrdType, std::string(1, o.ord_type));
        if (o.px > 0)
            m.setField(FIX::FIELD::Price, fixed_str(o.px));
        if (o.stop_px > 0)
            m.setField(FIX::FIELD::StopPx, fixed_str(o.stop_px));
        m.setField(FIX::FIELD::TimeInForce, std::string(1, o.tif));
        m.setField(FIX::FIELD::LeavesQty, fixed_str(o.live() ? o.qty - o.cum : 0));
        m.setField(FIX::FIELD::CumQty, fixed_str(o.cum));
        m.setField(FIX::FIELD::AvgPx, fixed_str(o.avg_px()));
        m.setField(FIX::FIELD::TransactTime, utc_now());
        return m;
    }

    void send_er(FIX::Message &m, const Order &o, const char *what)
    {
        send(m);
        event(std::string("SEND ER ") + what + " 37=" + o.order_id +
              " 11=" + m.getField(FIX::FIELD::ClOrdID) + " 39=" + std::string(1, o.status) +
              " 14=" + fixed_str(o.cum) + " 54=" + std::string(1, o.side));
    }

    /* ExecutionReport 150=8 for a NewOrderSingle we refuse (no order kept). */
    void reject_new(const FIX::Message &m, const std::string &clid, int reason,
                    const std::string &text)
    {
        Order o;
        o.order_id = "NONE";
        o.symbol = opt_str(m, FIX::FIELD::Symbol, "?");
        o.side = opt_str(m, FIX::FIELD::Side, "1")[0];
        o.ord_type = opt_str(m, FIX::FIELD::OrdType, "2")[0];
        o.tif = opt_str(m, FIX::FIELD::TimeInForce, "0")[0];
        o.status = '8';
        int64_t q = 0;
        const std::string qs = opt_str(m, FIX::FIELD::OrderQty, "0");
        if (desk_fixed_parse(qs.data(), qs.size(), &q) == 0 && q > 0)
            o.qty = q;
        FIX::Message r = er(o, '8', clid);
        r.setField(FIX::FIELD::OrdRejReason, std::to_string(reason));
        r.setField(FIX::FIELD::Text, text);
        send_er(r, o, ("REJECTED 103=" + std::to_string(reason)).c_str());
    }

    void cancel_reject(const std::string &order_id, const std::string &clid,
                       const std::string &orig, char status, char response_to, int reason,
                       const std::string &text)
    {
        FIX::Message m;
        m.getHeader().setField(FIX::FIELD::MsgType, "9");
        m.setField(FIX::FIELD::OrderID, order_id);
        m.setField(FIX::FIELD::ClOrdID, clid);
        m.setField(FIX::FIELD::OrigClOrdID, orig);
        m.setField(FIX::FIELD::OrdStatus, std::string(1, status));
        m.setField(FIX::FIELD::CxlRejResponseTo, std::string(1, response_to));
        m.setField(FIX::FIELD::CxlRejReason, std::to_string(reason));
        m.setField(FIX::FIELD::Text, text);
        send(m);
        event("SEND CANCEL_REJECT 11=" + clid + " 41=" + orig + " 102=" + std::to_string(reason));
    }

    /* -------- order handling -------- */

    void on_new(const FIX::Message &m)
    {
        std::string clid = str(m, FIX::FIELD::ClOrdID);
        std::string sym = str(m, FIX::FIELD::Symbol); /* required by real venues */
        int64_t qty = dec(m, FIX::FIELD::OrderQty);   /* likewise */
        char side = str(m, FIX::FIELD::Side)[0];
        char type = str(m, FIX::FIELD::OrdType)[0];
        char tif = opt_str(m, FIX::FIELD::TimeInForce, "0")[0];
        bool possdup = m.getHeader().isSetField(FIX::FIELD::PossDupFlag) &&
                       m.getHeader().getField(FIX::FIELD::PossDupFlag) == "Y";

        if (clids_.count(clid) != 0) {
            if (possdup) {
                event("IGNORE resent NewOrderSingle 11=" + clid);
                return;
            }
            reject_new(m, clid, 6, "Duplicate ClOrdID");
            return;
        }
        clids_[clid] = "";
        if (!known_symbol(sym))
            return reject_new(m, clid, 1, "Unknown symbol " + sym);
        if (qty <= 0)
            return reject_new(m, clid, 13, "Quantity must be positive");
        if (side != '1' && side != '2')
            return reject_new(m, clid, 11, "Only Buy and Sell are supported");
        if (type < '1' || type > '4')
            return reject_new(m, clid, 11, "Unsupported OrdType");
        if (tif != '0' && tif != '1' && tif != '3' && tif != '4')
            return reject_new(m, clid, 11, "Unsupported TimeInForce");
        Order o;
        o.clid = clid;
        o.symbol = sym;
        o.side = side;
        o.ord_type = type;
        o.tif = tif;
        o.qty = qty;
        if (type == '2' || type == '4') {
            if (!m.isSetField(FIX::FIELD::Price))
                return reject_new(m, clid, 99, "Price required for this OrdType");
            o.px = dec(m, FIX::FIELD::Price);
        }
        if (type == '3' || type == '4') {
            if (!m.isSetField(FIX::FIELD::StopPx))
                return reject_new(m, clid, 99, "StopPx required for this OrdType");
            o.stop_px = dec(m, FIX::FIELD::StopPx);
        }
        if ((o.px < 0) || (o.stop_px < 0) || ((type == '2' || type == '4') && o.px == 0))
            return reject_new(m, clid, 99, "Price must be positive");
        o.order_id = "SIM-" + std::to_string(++norders_);
        o.triggered = type == '1' || type == '2';
        clids_[clid] = o.order_id;
        Order &ref = orders_[o.order_id] = o;
        arrival_.push_back(o.order_id);
        FIX::Message ack = er(ref, '0', clid);
        send_er(ack, ref, "NEW");
        match(ref, true);
    }

    /* The live order whose current ClOrdID is `orig`, or nullptr. */
    Order *by_clid(const std::string &orig)
    {
        auto it = clids_.find(orig);
        if (it == clids_.end() || it->second.empty())
            return nullptr;
        auto o = orders_.find(it->second);
        if (o == orders_.end() || o->second.clid != orig)
            return nullptr;
        return &o->second;
    }

    /*
     * OrderStatusRequest: ExecutionReport 150=I about the order its ClOrdID
     * names (the order's own, or a cancel/replace request's), with the
     * order's current status and CumQty; 39=8, 37=NONE when the ClOrdID was
     * never received.
     */
    void on_status(const FIX::Message &m)
    {
        std::string clid = str(m, FIX::FIELD::ClOrdID);
        auto it = clids_.find(clid);
        auto o = it == clids_.end() || it->second.empty() ? orders_.end()
                                                          : orders_.find(it->second);
        if (o == orders_.end()) {
            Order u;
            u.order_id = "NONE";
            u.symbol = opt_str(m, FIX::FIELD::Symbol, "?");
            u.side = opt_str(m, FIX::FIELD::Side, "1")[0];
            u.status = '8';
            FIX::Message r = er(u, 'I', clid);
            r.setField(FIX::FIELD::Text, "Unknown order");
            send_er(r, u, "STATUS unknown");
            return;
        }
        FIX::Message r = er(o->second, 'I', clid);
        send_er(r, o->second, "STATUS");
    }

    void on_cancel(const FIX::Message &m)
    {
        std::string clid = str(m, FIX::FIELD::ClOrdID);
        std::string orig = str(m, FIX::FIELD::OrigClOrdID);
        Order *o = by_clid(orig);

        if (clids_.count(clid) != 0)
            return cancel_reject(o ? o->order_id : "NONE", clid, orig, o ? o->status : '8', '1', 6,
                                 "Duplicate ClOrdID");
        clids_[clid] = o ? o->order_id : "";
        if (o == nullptr)
            return cancel_reject("NONE", clid, orig, '8', '1', 1, "Unknown order");
        if (!o->live())
            return cancel_reject(o->order_id, clid, orig, o->status, '1', 0, "Too late to cancel");
        o->status = '4';
        o->clid = clid;
        FIX::Message r = er(*o, '4', clid);
        r.setField(FIX::FIELD::OrigClOrdID, orig);
        send_er(r, *o, "CANCELED");
    }

    void on_replace(const FIX::Message &m)
    {
        std::string clid = str(m, FIX::FIELD::ClOrdID);
        std::string orig = str(m, FIX::FIELD::OrigClOrdID);
        int64_t qty = dec(m, FIX::FIELD::OrderQty);
        char type = str(m, FIX::FIELD::OrdType)[0];
        Order *o = by_clid(orig);

        if (clids_.count(clid) != 0)
            return cancel_reject(o ? o->order_id : "NONE", clid, orig, o ? o->status : '8', '2', 6,
                                 "Duplicate ClOrdID");
        clids_[clid] = o ? o->order_id : "";
        if (o == nullptr)
            return cancel_reject("NONE", clid, orig, '8', '2', 1, "Unknown order");
        if (!o->live())
            return cancel_reject(o->order_id, clid, orig, o->status, '2', 0, "Too late to replace");
        if (str(m, FIX::FIELD::Symbol) != o->symbol || str(m, FIX::FIELD::Side)[0] != o->side)
            return cancel_reject(o->order_id, clid, orig, o->status, '2', 99,
                                 "Symbol and Side cannot change");
        if (qty <= o->cum)
            return cancel_reject(o->order_id, clid, orig, o->status, '2', 99,
                                 "OrderQty not above CumQty");
        if (type < '1' || type > '4')
            return cancel_reject(o->order_id, clid, orig, o->status, '2', 99,
                                 "Unsupported OrdType");
        int64_t px = (type == '2' || type == '4') ? dec(m, FIX::FIELD::Price) : 0;
        int64_t stop = (type == '3' || type == '4') ? dec(m, FIX::FIELD::StopPx) : 0;
        if (((type == '2' || type == '4') && px <= 0) ||
            ((type == '3' || type == '4') && stop <= 0))
            return cancel_reject(o->order_id, clid, orig, o->status, '2', 99,
                                 "Price/StopPx required for this OrdType");
        o->qty = qty;
        o->ord_type = type;
        o->px = px;
        o->stop_px = stop;
        o->tif = opt_str(m, FIX::FIELD::TimeInForce, std::string(1, o->tif))[0];
        o->triggered = o->triggered || type == '1' || type == '2';
        o->clid = clid;
        FIX::Message r = er(*o, '5', clid);
        r.setField(FIX::FIELD::OrigClOrdID, orig);
        send_er(r, *o, "REPLACED");
        match(*o, false);
    }

    /* -------- matching -------- */

    /* Fill `q` of o at `px`: one ExecutionReport 150=F. */
    void fill(Order &o, int64_t q, int64_t px)
    {
        o.cum += q;
        o.notional += (__int128)px * q;
        o.status = o.cum == o.qty ? '2' : '1';
        account_fill(o.symbol, o.side, q, px);
        FIX::Message r = er(o, 'F', o.clid);
        r.setField(FIX::FIELD::LastQty, fixed_str(q));
        r.setField(FIX::FIELD::LastPx, fixed_str(px));
        send_er(r, o, o.status == '2' ? "FILLED" : "PARTIAL");
    }

    /* -------- the account -------- */

    struct Position {
        int64_t bought = 0;  /* today's buys (TQ LongQty) */
        int64_t sold = 0;    /* today's sells (TQ ShortQty) */
        int64_t last_px = 0; /* last fill price: the report's SettlPrice */
    };

    /* Cash and position move with every fill, as a cash account's do; the
     * notional is rounded as desk rounds it (desk_fixed_mul). */
    void account_fill(const std::string &sym, char side, int64_t q, int64_t px)
    {
        int64_t notional = 0;
        if (desk_fixed_mul(px, q, &notional) != 0)
            throw std::runtime_error("notional overflow");
        Position &p = pos_[sym];
        if (side == '1') {
            cash_ -= notional;
            p.bought += q;
        } else {
            cash_ += notional;
            p.sold += q;
        }
        p.last_px = px;
        save_account();
    }

    /* <store>/account: "cash N" and "pos SYM BOUGHT SOLD LASTPX" (1e-8 units). */
    void load_account()
    {
        cash_ = opt_.cash;
        std::ifstream in(account_path_);
        std::string kind;
        while (in >> kind) {
            long long a = 0, b = 0, c = 0;
            std::string sym;
            if (kind == "cash" && in >> a)
                cash_ = a;
            else if (kind == "pos" && in >> sym >> a >> b >> c)
                pos_[sym] = Position{a, b, c};
            else
                throw std::runtime_error("bad line in " + account_path_);
        }
    }

    void save_account()
    {
        std::string tmp = account_path_ + ".tmp";
        FILE *f = std::fopen(tmp.c_str(), "w");
        if (f == nullptr)
            throw std::runtime_error("cannot write " + tmp);
        std::fprintf(f, "cash %lld\n", (long long)cash_);
        for (auto &kv : pos_)
            std::fprintf(f, "pos %s %lld %lld %lld\n", kv.first.c_str(),
                         (long long)kv.second.bought, (long long)kv.second.sold,
                         (long long)kv.second.last_px);
        std::fclose(f);
        std::rename(tmp.c_str(), account_path_.c_str());
    }

    /* Net position of sym: start of day (phantom) plus today's trades. */
    int64_t net(const std::string &sym) const
    {
        auto ph = phantom_.find(sym);
        auto p = pos_.find(sym);
        int64_t q = ph == phantom_.end() ? 0 : ph->second;
        if (p != pos_.end())
            q += p->second.bought - p->second.sold;
        return q;
    }

    /* Cash held for open buy orders: leaves x limit (--sim-px for market). */
    int64_t reserved() const
    {
        int64_t r = 0;
        for (auto &kv : orders_) {
            const Order &o = kv.second;
            int64_t v = 0;
            if (o.live() && o.side == '1' &&
                desk_fixed_mul(o.px > 0 ? o.px : opt_.sim_px, o.qty - o.cum, &v) == 0)
                r += v;
        }
        return r;
    }

    static std::string today()
    {
        time_t t = time(nullptr);
        struct tm tm;
        gmtime_r(&t, &tm);
        char buf[16];
        std::strftime(buf, sizeof buf, "%Y%m%d", &tm);
        return buf;
    }

    /* Fields every position message carries (FIX44.xml: Parties is required
     * but has no required field; Account and AccountType are). */
    void pos_common(FIX::Message &m, const std::string &req_id, const std::string &acct)
    {
        m.setField(FIX::FIELD::PosMaintRptID, "PM-" + std::to_string(++nrpt_));
        m.setField(FIX::FIELD::PosReqID, req_id);
        m.setField(FIX::FIELD::UnsolicitedIndicator, "N");
        m.setField(FIX::FIELD::Account, acct);
        m.setField(FIX::FIELD::AccountType, "1");
    }

    /*
     * RequestForPositions: RequestForPositionsAck (728 = 0, or 2 with no
     * position; 727 = how many reports follow), then one PositionReport per
     * symbol whose position is not zero, its PositionQty group holding SOD
     * (the phantom position) and TQ (LongQty bought, ShortQty sold today).
     */
    void on_positions(const FIX::Message &m)
    {
        std::string id = str(m, FIX::FIELD::PosReqID);
        std::string acct = opt_str(m, FIX::FIELD::Account, opt_.target);
        std::vector<std::string> syms;
        std::map<std::string, int> seen;
        for (auto &kv : pos_)
            seen[kv.first] = 1;
        for (auto &kv : phantom_)
            seen[kv.first] = 1;
        for (auto &kv : seen)
            if (net(kv.first) != 0)
                syms.push_back(kv.first);
        bool ok = str(m, FIX::FIELD::PosReqType) == "0";
        FIX::Message ack;
        ack.getHeader().setField(FIX::FIELD::MsgType, "AO");
        pos_common(ack, id, acct);
        ack.setField(FIX::FIELD::TotalNumPosReports, std::to_string(ok ? syms.size() : 0));
        ack.setField(FIX::FIELD::PosReqResult, !ok ? "4" : syms.empty() ? "2" : "0");
        ack.setField(FIX::FIELD::PosReqStatus, ok ? "0" : "2");
        send(ack);
        event("SEND POSITION_ACK 710=" + id + " 727=" + std::to_string(ok ? syms.size() : 0));
        if (!ok)
            return;
        for (auto &sym : syms) {
            FIX::Message r;
            r.getHeader().setField(FIX::FIELD::MsgType, "AP");
            pos_common(r, id, acct);
            r.setField(FIX::FIELD::PosReqType, "0");
            r.setField(FIX::FIELD::TotalNumPosReports, std::to_string(syms.size()));
            r.setField(FIX::FIELD::PosReqResult, "0");
            r.setField(FIX::FIELD::ClearingBusinessDate, today());
            r.setField(FIX::FIELD::Symbol, sym);
            auto p = pos_.find(sym);
            Position ps = p == pos_.end() ? Position{} : p->second;
            int64_t px = ps.last_px > 0 ? ps.last_px : opt_.sim_px;
            r.setField(FIX::FIELD::SettlPrice, fixed_str(px));
            r.setField(FIX::FIELD::SettlPriceType, "2"); /* theoretical: a mark, not a settlement */
            r.setField(FIX::FIELD::PriorSettlPrice, fixed_str(px));
            auto ph = phantom_.find(sym);
            int64_t sod = ph == phantom_.end() ? 0 : ph->second;
            FIX::Group g1(FIX::FIELD::NoPositions, FIX::FIELD::PosType);
            g1.setField(FIX::FIELD::PosType, "SOD");
            g1.setField(FIX::FIELD::LongQty, fixed_str(sod > 0 ? sod : 0));
            g1.setField(FIX::FIELD::ShortQty, fixed_str(sod < 0 ? -sod : 0));
            r.addGroup(g1);
            FIX::Group g2(FIX::FIELD::NoPositions, FIX::FIELD::PosType);
            g2.setField(FIX::FIELD::PosType, "TQ");
            g2.setField(FIX::FIELD::LongQty, fixed_str(ps.bought));
            g2.setField(FIX::FIELD::ShortQty, fixed_str(ps.sold));
            r.addGroup(g2);
            send(r);
            event("SEND POSITION_REPORT 710=" + id + " 55=" + sym + " qty=" + fixed_str(net(sym)));
        }
    }

    /*
     * CollateralInquiry: one CollateralReport.  CashOutstanding (901) is the
     * cash, MarginExcess (899) what can still be committed (cash minus open
     * buy orders), TotalNetValue (900) cash plus positions at their last
     * price; CollStatus 3 (assigned).
     */
    void on_collateral(const FIX::Message &m)
    {
        std::string id = opt_str(m, FIX::FIELD::CollInquiryID, "");
        int64_t value = cash_;
        for (auto &kv : pos_) {
            int64_t v = 0;
            if (desk_fixed_mul(kv.second.last_px, net(kv.first), &v) == 0)
                value += v;
        }
        FIX::Message r;
        r.getHeader().setField(FIX::FIELD::MsgType, "BA");
        r.setField(FIX::FIELD::CollRptID, "CR-" + std::to_string(++nrpt_));
        if (!id.empty())
            r.setField(FIX::FIELD::CollInquiryID, id);
        r.setField(FIX::FIELD::CollStatus, "3");
        r.setField(FIX::FIELD::TotNumReports, "1");
        r.setField(FIX::FIELD::LastRptRequested, "Y");
        r.setField(FIX::FIELD::Account, opt_str(m, FIX::FIELD::Account, opt_.target));
        r.setField(FIX::FIELD::Currency, "USD");
        r.setField(FIX::FIELD::CashOutstanding, fixed_str(cash_));
        r.setField(FIX::FIELD::MarginExcess, fixed_str(cash_ - reserved()));
        r.setField(FIX::FIELD::TotalNetValue, fixed_str(value));
        send(r);
        event("SEND COLLATERAL_REPORT 909=" + id + " 901=" + fixed_str(cash_) +
              " 899=" + fixed_str(cash_ - reserved()));
    }

    /* Try to execute o now; `arrival` is true right after the ack (IOC/FOK). */
    void match(Order &o, bool arrival)
    {
        bool buy = o.side == '1';
        int64_t avail = 0, px = 0;

        if (!book_.empty() && o.symbol == opt_.book_symbol) {
            const BookRow &r = book_[row_];
            /* A stop triggers when the market reaches it: ask for buys, bid for sells. */
            if (!o.triggered && o.stop_px > 0 &&
                (buy ? (r.ask_px > 0 && r.ask_px >= o.stop_px)
                     : (r.bid_px > 0 && r.bid_px <= o.stop_px)))
                o.triggered = true;
            px = buy ? r.ask_px : r.bid_px;
            avail = buy ? r.ask_sz - used_ask_ : r.bid_sz - used_bid_;
            bool marketable =
                o.triggered && px > 0 && (o.px == 0 || (buy ? o.px >= px : o.px <= px));
            if (!marketable)
                avail = 0;
        } else {
            /* Deterministic symbol: fill_pct of the order per tick, at the
             * limit; a held symbol waits for the `fill` command. */
            o.triggered = true;
            px = o.px > 0 ? o.px : opt_.sim_px;
            __int128 step = ((__int128)o.qty * opt_.fill_pct + 99) / 100;
            avail = arrival || held(o.symbol) ? 0 : (int64_t)step;
        }
        int64_t leaves = o.qty - o.cum;
        if (arrival && o.tif == '4' && avail < leaves) {
            o.status = '4'; /* FOK that cannot fill whole: canceled, nothing traded */
            FIX::Message r = er(o, '4', o.clid);
            send_er(r, o, "CANCELED (FOK)");
            return;
        }
        if (avail > 0) {
            int64_t q = avail < leaves ? avail : leaves;
            if (buy)
                used_ask_ += q;
            else
                used_bid_ += q;
            fill(o, q, px);
        }
        if (arrival && o.tif == '3' && o.live()) {
            o.status = '4'; /* IOC remainder */
            FIX::Message r = er(o, '4', o.clid);
            send_er(r, o, "CANCELED (IOC rest)");
        }
    }

    /* -------- fault commands -------- */

    void command(const std::string &line)
    {
        std::istringstream in(line);
        std::string verb;
        in >> verb;
        FIX::Session *s = FIX::Session::lookupSession(sid_);
        event("COMMAND " + line);
        if (verb == "fill" && s != nullptr) {
            std::string sym, qs;
            in >> sym >> qs;
            int64_t q = 0;
            if (!qs.empty() && (desk_fixed_parse(qs.data(), qs.size(), &q) != 0 || q <= 0)) {
                event("COMMAND bad quantity: " + line);
                return;
            }
            for (auto &id : arrival_) {
                auto it = orders_.find(id);
                if (it == orders_.end() || !it->second.live() || it->second.symbol != sym)
                    continue;
                Order &o = it->second;
                int64_t left = o.qty - o.cum, n = q > 0 && q < left ? q : left;
                fill(o, n, o.px > 0 ? o.px : opt_.sim_px);
            }
            return;
        }
        if (verb == "phantom") {
            std::string sym, qs;
            int64_t q = 0;
            in >> sym >> qs;
            if (sym.empty() || desk_fixed_parse(qs.data(), qs.size(), &q) != 0) {
                event("COMMAND bad phantom: " + line);
                return;
            }
            phantom_[sym] = q;
            return;
        }
        if (s == nullptr) {
            event("COMMAND ignored: no session");
            return;
        }
        if (verb == "drop") {
            s->disconnect();
        } else if (verb == "skip") {
            int k = 1;
            in >> k;
            s->setNextSenderMsgSeqNum(s->getExpectedSenderNum() + k);
            FIX::Message hb;
            hb.getHeader().setField(FIX::FIELD::MsgType, "0");
            send(hb);
        } else if (verb == "resend") {
            int k = 1;
            in >> k;
            int begin = s->getExpectedTargetNum() - k;
            FIX::Message rr;
            rr.getHeader().setField(FIX::FIELD::MsgType, "2");
            rr.setField(FIX::FIELD::BeginSeqNo, std::to_string(begin < 1 ? 1 : begin));
            rr.setField(FIX::FIELD::EndSeqNo, "0");
            send(rr);
        } else if (verb == "testreq") {
            std::string id = "PEER";
            in >> id;
            FIX::Message tr;
            tr.getHeader().setField(FIX::FIELD::MsgType, "1");
            tr.setField(FIX::FIELD::TestReqID, id);
            send(tr);
        } else if (verb == "logout") {
            std::string text;
            std::getline(in, text);
            if (!text.empty() && text[0] == ' ')
                text.erase(0, 1);
            s->logout(text);
        } else {
            event("COMMAND unknown: " + line);
        }
    }

    const Options &opt_;
    FIX::SessionID sid_;
    std::vector<BookRow> book_;
    size_t row_ = 0;                           /* current book row */
    int64_t used_ask_ = 0, used_bid_ = 0;      /* size taken from this row */
    std::map<std::string, Order> orders_;      /* by OrderID */
    std::map<std::string, std::string> clids_; /* every ClOrdID seen -> OrderID ("" if none) */
    std::deque<std::string> arrival_;          /* live OrderIDs, oldest first */
    std::deque<std::string> pending_;          /* commands to run after poll */
    std::string exec_prefix_;                  /* ExecIDs unique across restarts */
    long nexec_ = 0, norders_ = 0, napp_ = 0;
    int64_t cash_ = 0;                       /* the account's cash, 1e-8 */
    std::map<std::string, Position> pos_;    /* positions by symbol */
    std::map<std::string, int64_t> phantom_; /* start-of-day positions (--phantom) */
    std::string account_path_;               /* <store>/account */
    long nrpt_ = 0;                          /* PosMaintRptID / CollRptID numbers */
    bool logged_on_ = false, had_logon_ = false, session_ended_ = false;
    FILE *rej_ = nullptr;
    FILE *ev_ = nullptr;
};

/* A free loopback TCP port (the kernel's choice). */
int free_port()
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a;
    socklen_t len = sizeof a;
    std::memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

volatile sig_atomic_t g_stop = 0;

void on_signal(int)
{
    g_stop = 1;
}

} // namespace

int main(int argc, char **argv)
{
    Options o = parse_args(argc, argv);
    int port = o.port != 0 ? o.port : free_port();
    if (port <= 0) {
        std::fprintf(stderr, "desk-fix-peer: no free port: %s\n", std::strerror(errno));
        return 1;
    }
    mkdir(o.store.c_str(), 0700);

    std::ostringstream cfg;
    cfg << "[DEFAULT]\n"
        << "ConnectionType=acceptor\n"
        << "SocketAcceptPort=" << port << "\n"
        << "SocketReuseAddress=Y\n"
        << "SocketNodelay=Y\n"
        << "StartTime=00:00:00\nEndTime=00:00:00\n"
        << "FileStorePath=" << o.store << "\n"
        << "FileLogPath=" << o.store << "/log\n"
        << "CheckLatency=N\n"
        << "CheckCompID=Y\n"
        << "PersistMessages=Y\n";
    if (!o.dict.empty()) {
        cfg << "UseDataDictionary=Y\n"
            << "DataDictionary=" << o.dict << "\n"
            << "ValidateUserDefinedFields=Y\n"
            << "ValidateFieldsOutOfOrder=Y\n"
            << "ValidateFieldsHaveValues=Y\n"
            << "AllowUnknownMsgFields=N\n";
    } else {
        std::fprintf(stderr, "desk-fix-peer: no --dict: running WITHOUT a data dictionary "
                             "(no field validation)\n");
        cfg << "UseDataDictionary=N\n";
    }
    cfg << "[SESSION]\n"
        << "BeginString=FIX.4.4\n"
        << "SenderCompID=" << o.sender << "\n"
        << "TargetCompID=" << o.target << "\n";

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    try {
        std::istringstream cfg_in(cfg.str());
        FIX::SessionSettings settings(cfg_in);
        Peer peer(o);
        FIX::FileStoreFactory store(settings);
        FIX::FileLogFactory log(settings);
        FIX::SocketAcceptor acceptor(peer, store, settings, log);

        double start = mono_s(), next_tick = start + o.tick_ms / 1000.0;
        bool ready = false;
        double ended_at = 0;
        while (!g_stop) {
            double now = mono_s();
            double wait = next_tick - now;
            acceptor.poll(wait > 0 ? (wait < 0.05 ? wait : 0.05) : 0.0);
            if (!ready) {
                ready = true;
                std::fprintf(stderr, "desk-fix-peer: listening on 127.0.0.1:%d\n", port);
                if (!o.ready_file.empty()) {
                    std::string tmp = o.ready_file + ".tmp";
                    std::ofstream(tmp) << port << "\n";
                    std::rename(tmp.c_str(), o.ready_file.c_str());
                }
            }
            now = mono_s();
            if (now >= next_tick) {
                peer.tick();
                next_tick += o.tick_ms / 1000.0;
                if (next_tick < now)
                    next_tick = now + o.tick_ms / 1000.0;
            }
            peer.run_commands();
            if (now - start > o.max_seconds) {
                std::fprintf(stderr, "desk-fix-peer: --max-seconds reached\n");
                break;
            }
            if (o.exit_on_logout && peer.session_ended()) {
                /* Let QuickFIX finish the logout exchange before leaving. */
                if (ended_at == 0)
                    ended_at = now;
                else if (now - ended_at > 0.2)
                    break;
            }
        }
        FIX::Session *s = FIX::Session::lookupSession(peer.sid());
        if (s != nullptr && s->isLoggedOn()) {
            s->logout("desk-fix-peer stopping");
            for (double t0 = mono_s(); s->isLoggedOn() && mono_s() - t0 < 2.0;)
                acceptor.poll(0.05);
        }
        acceptor.stop(true);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "desk-fix-peer: %s\n", e.what());
        return 1;
    }
    return 0;
}
