// bench_util.h - what every desk microbenchmark shares: CPU pinning, the
// TSC clock, per-batch histograms, and the main() that records the machine.
//
// Conventions for every benchmark in bench/:
//   - the benchmark's own thread is pinned to CPU 0 and a second thread (the
//     consumer or echo side of a two-thread benchmark) to CPU 1, with
//     pthread_setaffinity_np; the context line "pinned" says whether both
//     pins succeeded;
//   - "Time" is per operation (per message, per check, per parse); items/s
//     is operations per second;
//   - p50_ns, p99_ns, p999_ns and max_ns come from desk's histogram
//     (core/hist.h).  Single-threaded rows are timed in batches (an
//     operation of 10 ns is shorter than the clock read that would time it
//     alone), so their percentiles are of the per-operation mean of each
//     batch; ping-pong rows time every round trip.
#ifndef DESK_BENCH_UTIL_H
#define DESK_BENCH_UTIL_H

#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <x86intrin.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "kern.h"

namespace bk
{

// Pin the calling thread to one CPU.  Returns false if the CPU does not
// exist or the call failed (the benchmark still runs, unpinned).
inline bool pin(int cpu)
{
    if (cpu < 0 || cpu >= (int)std::thread::hardware_concurrency())
        return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((size_t)cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

inline uint64_t mono_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// Nanoseconds per TSC tick, measured once against CLOCK_MONOTONIC over
// 100 ms (the CPU has constant_tsc/nonstop_tsc on the machines we run on).
inline double ns_per_tick()
{
    static double v = [] {
        uint64_t n0 = mono_ns(), t0 = __rdtsc();
        while (mono_ns() - n0 < 100000000u) {
        }
        uint64_t n1 = mono_ns(), t1 = __rdtsc();
        return (double)(n1 - n0) / (double)(t1 - t0);
    }();
    return v;
}

// Owns a desk histogram and writes its percentiles into a benchmark's
// counters.
class Hist
{
  public:
    Hist() : h_(bk_hist_create()) {}
    ~Hist() { bk_hist_destroy(h_); }
    Hist(const Hist &) = delete;
    Hist &operator=(const Hist &) = delete;
    bk_hist_t *get() { return h_; }
    void add(uint64_t ns) { bk_hist_add(h_, ns); }
    void add_ticks(const uint64_t *t, size_t n, double scale)
    {
        bk_hist_add_ticks(h_, t, n, ns_per_tick(), scale);
    }
    void report(benchmark::State &st) const
    {
        st.counters["p50_ns"] = (double)bk_hist_quantile(h_, 0.50);
        st.counters["p99_ns"] = (double)bk_hist_quantile(h_, 0.99);
        st.counters["p999_ns"] = (double)bk_hist_quantile(h_, 0.999);
        st.counters["max_ns"] = (double)bk_hist_max(h_);
        st.counters["samples"] = (double)bk_hist_count(h_);
    }

  private:
    bk_hist_t *h_;
};

// Run `fn(n)` (which performs n operations) in batches of `batch` until the
// benchmark has enough iterations; each batch's mean per-operation time goes
// into the histogram.  Time is per operation; items/s is operations/s.
template <class Fn> inline void run_batched(benchmark::State &st, uint64_t batch, Fn &&fn)
{
    Hist h;
    const double npt = ns_per_tick();
    while (st.KeepRunningBatch((benchmark::IterationCount)batch)) {
        uint64_t t0 = __rdtsc();
        fn(batch);
        uint64_t t1 = __rdtsc();
        h.add((uint64_t)((double)(t1 - t0) * npt / (double)batch + 0.5));
    }
    st.SetItemsProcessed(st.iterations());
    h.report(st);
}

inline std::string read_first(const char *path, const char *key)
{
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(key, 0) == 0) {
            auto p = line.find(':');
            if (p != std::string::npos) {
                auto v = line.substr(p + 1);
                v.erase(0, v.find_first_not_of(" \t"));
                return v;
            }
        }
    return "?";
}

// main() of every bench binary: pin the benchmark thread to CPU 0, record
// the machine in the JSON context, run what the command line selects.
inline int main(int argc, char **argv)
{
    bool pinned = pin(0) && std::thread::hardware_concurrency() >= 2;
    benchmark::AddCustomContext("cpu_model", read_first("/proc/cpuinfo", "model name"));
    benchmark::AddCustomContext("online_cpus", std::to_string(std::thread::hardware_concurrency()));
    benchmark::AddCustomContext("pinned", pinned ? "cpu0+cpu1" : "no");
    benchmark::AddCustomContext("tsc_ns_per_tick", std::to_string(ns_per_tick()));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

} // namespace bk

#define DESK_BENCH_MAIN()                                                                          \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        return bk::main(argc, argv);                                                               \
    }

#endif // DESK_BENCH_UTIL_H
