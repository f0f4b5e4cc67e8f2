// bench_fixed.cc - exact decimal parsing (core/fixed.h desk_fixed_parse)
// against the usual float route, on the venue strings desk sees most.
//
// Rows, for each string:
//   Fixed/desk/<s>       desk_fixed_parse(s, len, &v): exact, int64 at 1e-8,
//                        refuses what it cannot represent;
//   Fixed/strtod/<s>     llround(strtod(s, NULL) * 1e8): libc's correctly
//                        rounded double, then scaled and rounded (the binary
//                        double in between is why desk does not do this);
//   Fixed/from_chars/<s> std::from_chars(double) then llround(x * 1e8): the
//                        fastest standard float parser in libstdc++ 12.
// Single-threaded on CPU 0; Time = ns per parse.  Each row first checks
// that its result equals desk's (they agree on these strings; they do not
// on all: a nonzero ninth decimal is an error for desk and silently rounded
// by the float routes).
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "bench_util.h"
#include "core/fixed.h"

namespace
{

constexpr uint64_t kBatch = 256;

const char *const kStrings[] = {"61837.63000000", "0.00100000", "187.2500"};

int64_t parse_desk(const char *s, size_t n)
{
    int64_t v = 0;
    if (desk_fixed_parse(s, n, &v) < 0)
        return INT64_MIN;
    return v;
}

int64_t parse_strtod(const char *s, size_t)
{
    return llround(strtod(s, nullptr) * 1e8);
}

int64_t parse_from_chars(const char *s, size_t n)
{
    double d = 0;
    auto r = std::from_chars(s, s + n, d);
    if (r.ec != std::errc())
        return INT64_MIN;
    return llround(d * 1e8);
}

template <int64_t (*Parse)(const char *, size_t)> void BM_Fixed(benchmark::State &st, int which)
{
    const char *s = kStrings[which];
    size_t n = strlen(s);
    if (Parse(s, n) != parse_desk(s, n)) {
        st.SkipWithError("result differs from desk_fixed_parse");
        return;
    }
    bk::run_batched(st, kBatch, [&](uint64_t k) {
        for (uint64_t i = 0; i < k; i++) {
            const char *p = s;
            benchmark::DoNotOptimize(p); // the string is not a constant
            benchmark::DoNotOptimize(Parse(p, n));
        }
    });
}

int register_all()
{
    for (int i = 0; i < 3; i++) {
        std::string s = kStrings[i];
        benchmark::RegisterBenchmark(("Fixed/desk/" + s).c_str(), BM_Fixed<parse_desk>, i)
            ->UseRealTime();
        benchmark::RegisterBenchmark(("Fixed/strtod/" + s).c_str(), BM_Fixed<parse_strtod>, i)
            ->UseRealTime();
        benchmark::RegisterBenchmark(("Fixed/from_chars/" + s).c_str(), BM_Fixed<parse_from_chars>,
                                     i)
            ->UseRealTime();
    }
    return 0;
}

int registered = register_all();

} // namespace

DESK_BENCH_MAIN()
