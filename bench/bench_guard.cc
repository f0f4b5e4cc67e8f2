// bench_guard.cc - desk_guard_check(), the pre-trade guard, on an accepted
// order (every check runs) and on each reject path the guard itself decides
// (one row per reason; see kern_guard.c for how each is hit).
//
// Single-threaded on CPU 0.  Time = ns per check; items/s = checks/s.
// Percentiles are of the per-check mean of 256-check batches.  Each row
// first checks that its scenario really yields its reason (a row that
// measured the wrong path would be skipped with an error, not reported).
#include "bench_util.h"

#include <vector>

namespace
{

constexpr uint64_t kBatch = 256;

void BM_Guard(benchmark::State &st, int reason)
{
    bk_guard_t *g = bk_guard_create(reason);
    if (g == nullptr) {
        st.SkipWithError("no scenario");
        return;
    }
    int got = bk_guard_run(g, 1);
    if (got != reason) {
        st.SkipWithError((std::string("scenario gave ") + bk_guard_name(got)).c_str());
        bk_guard_destroy(g);
        return;
    }
    bk::run_batched(st, kBatch, [&](uint64_t n) { benchmark::DoNotOptimize(bk_guard_run(g, n)); });
    bk_guard_destroy(g);
}

// Register ACCEPT and every reason that has a scenario, named by reason.
int register_all()
{
    for (int r = 0; r < 64; r++) {
        bk_guard_t *g = bk_guard_create(r);
        if (g == nullptr)
            continue;
        bk_guard_destroy(g);
        std::string name = std::string("Guard/") + bk_guard_name(r);
        benchmark::RegisterBenchmark(name.c_str(), BM_Guard, r)->UseRealTime();
    }
    return 0;
}

int registered = register_all();

} // namespace

DESK_BENCH_MAIN()
