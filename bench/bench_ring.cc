// bench_ring.cc - desk's SPSC ring against Concurrency Kit's ck_ring and
// boost::lockfree::spsc_queue, and against the physical limit: a bare
// cache-line ping-pong between the same two cores.
//
// Rows (all move 64-byte messages by value; see kern_ring.c for the C side):
//   Throughput/<ring>   producer on CPU 0 pushes as fast as the ring lets
//                       it, consumer on CPU 1 pops and checks every sequence
//                       number.  Time = wall time per message, items/s =
//                       messages/s.  4096-slot rings.  Percentiles are of
//                       the per-message mean of each 4096-message batch.
//   PingPong/<ring>     one-way latency: the ping thread (CPU 0) pushes one
//                       message on ring A and spins until the echo thread
//                       (CPU 1) has popped it and pushed it back on ring B.
//                       Time and percentiles are one-way = round trip / 2,
//                       every round trip timed (one rdtsc each).
//   PingPong/cacheline  the limit: the same exchange with nothing but two
//                       C++ atomics on two separate 128-byte-aligned lines
//                       (a store-release and a spinning load-acquire each
//                       way).  No ring can beat it: every message has to
//                       move at least one line each way.
// Every spin waits with `pause`, for every contender.
#include <boost/lockfree/spsc_queue.hpp>

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace
{

constexpr uint32_t kSlots = 4096;     // ring capacity for every contender
constexpr uint64_t kBatch = 4096;     // throughput: messages per timed batch
constexpr uint64_t kPingBatch = 1024; // ping-pong: round trips per batch

inline void relax()
{
    __builtin_ia32_pause();
}

// ---- adapters: one interface over the four rings --------------------------

// desk and ck rings live in C (kern_ring.c).
struct CRing {
    explicit CRing(bk_ring_kind_t k) : r(bk_ring_create(k, kSlots)) {}
    ~CRing() { bk_ring_destroy(r); }
    bool ok() const { return r != nullptr; }
    uint64_t produce(uint64_t seq, uint64_t n) { return bk_ring_produce(r, seq, n); }
    void stop() { bk_ring_stop(r); }
    uint64_t consume(uint64_t *errors) { return bk_ring_consume(r, errors); }
    static uint64_t ping(CRing &out, CRing &in, uint64_t seq, uint64_t n, uint64_t *t)
    {
        return bk_ring_ping(out.r, in.r, seq, n, t);
    }
    static uint64_t echo(CRing &in, CRing &out) { return bk_ring_echo(in.r, out.r); }
    bk_ring_t *r;
};

// boost::lockfree::spsc_queue<std::array<uint8_t, 64>>, runtime capacity.
struct BoostRing {
    using Msg = std::array<uint8_t, 64>;
    static_assert(sizeof(Msg) == sizeof(bk_msg_t), "64-byte messages");
    BoostRing() : q(kSlots) {}
    bool ok() const { return true; }
    void push(const bk_msg_t &m)
    {
        Msg a;
        std::memcpy(a.data(), &m, sizeof m);
        while (!q.push(a))
            relax();
    }
    bool push_full(const bk_msg_t &m)
    {
        Msg a;
        std::memcpy(a.data(), &m, sizeof m);
        bool full = false;
        while (!q.push(a)) {
            full = true;
            relax();
        }
        return full;
    }
    void pop(bk_msg_t &m)
    {
        Msg a;
        while (!q.pop(a))
            relax();
        std::memcpy(&m, a.data(), sizeof m);
    }
    uint64_t produce(uint64_t seq, uint64_t n)
    {
        bk_msg_t m{};
        uint64_t full = 0;
        for (uint64_t i = 0; i < n; i++) {
            m.seq = seq + i;
            full += push_full(m);
        }
        return full;
    }
    void stop()
    {
        bk_msg_t m{};
        m.seq = BK_STOP;
        push(m);
    }
    uint64_t consume(uint64_t *errors)
    {
        bk_msg_t m;
        uint64_t got = 0, expect = UINT64_MAX, bad = 0;
        for (;;) {
            pop(m);
            if (m.seq == BK_STOP)
                break;
            bad += expect != UINT64_MAX && m.seq != expect;
            expect = m.seq + 1;
            got++;
        }
        *errors = bad;
        return got;
    }
    static uint64_t ping(BoostRing &out, BoostRing &in, uint64_t seq, uint64_t n, uint64_t *t)
    {
        bk_msg_t m{}, back;
        uint64_t bad = 0, prev = __rdtsc();
        for (uint64_t i = 0; i < n; i++) {
            m.seq = seq + i;
            out.push(m);
            in.pop(back);
            bad += back.seq != m.seq;
            uint64_t now = __rdtsc();
            t[i] = now - prev;
            prev = now;
        }
        return bad;
    }
    static uint64_t echo(BoostRing &in, BoostRing &out)
    {
        bk_msg_t m;
        uint64_t n = 0;
        for (;;) {
            in.pop(m);
            out.push(m);
            if (m.seq == BK_STOP)
                return n;
            n++;
        }
    }
    boost::lockfree::spsc_queue<Msg> q;
};

// ---- throughput ------------------------------------------------------------

template <class R> void throughput(benchmark::State &st, R &ring)
{
    if (!ring.ok()) {
        st.SkipWithError("ring allocation failed");
        return;
    }
    std::atomic<int> ready{0};
    uint64_t errors = 0, got = 0;
    bool pinned1 = false;
    std::thread cons([&] {
        pinned1 = bk::pin(1);
        ready.store(1, std::memory_order_release);
        got = ring.consume(&errors);
    });
    while (!ready.load(std::memory_order_acquire))
        relax();
    uint64_t seq = 0, full = 0;
    bk::Hist h;
    const double npt = bk::ns_per_tick();
    while (st.KeepRunningBatch((benchmark::IterationCount)kBatch)) {
        uint64_t t0 = __rdtsc();
        full += ring.produce(seq, kBatch);
        seq += kBatch;
        h.add((uint64_t)((double)(__rdtsc() - t0) * npt / (double)kBatch + 0.5));
    }
    ring.stop();
    cons.join();
    if (errors != 0 || got != seq)
        st.SkipWithError("messages lost or reordered");
    st.SetItemsProcessed(st.iterations());
    st.SetBytesProcessed(st.iterations() * 64);
    st.counters["full_waits"] = (double)full;
    st.counters["pinned"] = pinned1 ? 1 : 0;
    h.report(st);
}

void BM_Throughput_desk(benchmark::State &st)
{
    CRing r(BK_RING_DESK);
    throughput(st, r);
}
void BM_Throughput_desk_batch32(benchmark::State &st)
{
    CRing r(BK_RING_DESK_BATCH);
    throughput(st, r);
}
void BM_Throughput_ck(benchmark::State &st)
{
    CRing r(BK_RING_CK);
    throughput(st, r);
}
void BM_Throughput_boost(benchmark::State &st)
{
    BoostRing r;
    throughput(st, r);
}

// ---- ping-pong (one-way latency) -----------------------------------------

template <class R> void pingpong(benchmark::State &st, R &a, R &b)
{
    if (!a.ok() || !b.ok()) {
        st.SkipWithError("ring allocation failed");
        return;
    }
    bool pinned1 = false;
    std::thread echo([&] {
        pinned1 = bk::pin(1);
        R::echo(a, b);
    });
    std::vector<uint64_t> ticks(kPingBatch);
    bk::Hist h;
    const double npt = bk::ns_per_tick();
    uint64_t seq = 0, bad = 0;
    // Warm up: the first round trips fault in the rings' pages.
    bad += R::ping(a, b, seq, kPingBatch, ticks.data());
    seq += kPingBatch;
    while (st.KeepRunningBatch((benchmark::IterationCount)kPingBatch)) {
        bad += R::ping(a, b, seq, kPingBatch, ticks.data());
        seq += kPingBatch;
        uint64_t sum = 0;
        for (uint64_t t : ticks)
            sum += t;
        st.SetIterationTime((double)sum * npt * 1e-9 / 2); // one way
        h.add_ticks(ticks.data(), ticks.size(), 0.5);
    }
    a.stop();
    echo.join();
    if (bad != 0)
        st.SkipWithError("bad echo");
    st.SetItemsProcessed(st.iterations());
    st.counters["pinned"] = pinned1 ? 1 : 0;
    h.report(st);
}

void BM_PingPong_desk(benchmark::State &st)
{
    CRing a(BK_RING_DESK), b(BK_RING_DESK);
    pingpong(st, a, b);
}
void BM_PingPong_ck(benchmark::State &st)
{
    CRing a(BK_RING_CK), b(BK_RING_CK);
    pingpong(st, a, b);
}
void BM_PingPong_boost(benchmark::State &st)
{
    BoostRing a, b;
    pingpong(st, a, b);
}

// The physical limit: two lines, one written by each side.
struct alignas(128) Line {
    std::atomic<uint64_t> v{0};
    char pad[128 - sizeof(std::atomic<uint64_t>)];
};
static_assert(sizeof(Line) == 128 && alignof(Line) == 128, "one 128-byte line pair each");

struct Lines {
    Line ping; // W: ping thread
    Line pong; // W: echo thread
};

void BM_PingPong_cacheline(benchmark::State &st)
{
    auto lines = std::make_unique<Lines>();
    Line &ping = lines->ping, &pong = lines->pong;
    bool pinned1 = false;
    std::thread echo([&] {
        pinned1 = bk::pin(1);
        uint64_t last = 0;
        for (;;) {
            // Acquire pairs with the ping thread's release store.
            uint64_t v = ping.v.load(std::memory_order_acquire);
            if (v == last) {
                relax();
                continue;
            }
            // Release pairs with the ping thread's acquire spin.
            pong.v.store(v, std::memory_order_release);
            last = v;
            if (v == BK_STOP)
                return;
        }
    });
    std::vector<uint64_t> ticks(kPingBatch);
    bk::Hist h;
    const double npt = bk::ns_per_tick();
    uint64_t seq = 1;
    auto run = [&] {
        uint64_t prev = __rdtsc();
        for (uint64_t i = 0; i < kPingBatch; i++, seq++) {
            ping.v.store(seq, std::memory_order_release);
            while (pong.v.load(std::memory_order_acquire) != seq)
                relax();
            uint64_t now = __rdtsc();
            ticks[i] = now - prev;
            prev = now;
        }
    };
    run(); // warm up
    while (st.KeepRunningBatch((benchmark::IterationCount)kPingBatch)) {
        run();
        uint64_t sum = 0;
        for (uint64_t t : ticks)
            sum += t;
        st.SetIterationTime((double)sum * npt * 1e-9 / 2);
        h.add_ticks(ticks.data(), ticks.size(), 0.5);
    }
    ping.v.store(BK_STOP, std::memory_order_release);
    echo.join();
    st.SetItemsProcessed(st.iterations());
    st.counters["pinned"] = pinned1 ? 1 : 0;
    h.report(st);
}

} // namespace

BENCHMARK(BM_Throughput_desk)->Name("Throughput/desk")->UseRealTime();
BENCHMARK(BM_Throughput_desk_batch32)->Name("Throughput/desk_batch32")->UseRealTime();
BENCHMARK(BM_Throughput_ck)->Name("Throughput/ck")->UseRealTime();
BENCHMARK(BM_Throughput_boost)->Name("Throughput/boost")->UseRealTime();
BENCHMARK(BM_PingPong_desk)->Name("PingPong/desk")->UseManualTime();
BENCHMARK(BM_PingPong_ck)->Name("PingPong/ck")->UseManualTime();
BENCHMARK(BM_PingPong_boost)->Name("PingPong/boost")->UseManualTime();
BENCHMARK(BM_PingPong_cacheline)->Name("PingPong/cacheline")->UseManualTime();

DESK_BENCH_MAIN()
