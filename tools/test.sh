#!/usr/bin/env bash
# test.sh - build and run desk's whole test suite, the way CI does.
#
#   1. gcc, AddressSanitizer + UndefinedBehaviorSanitizer, -Werror: every
#      ctest test (unit, integration, fuzz-corpus replays);
#   2. clang, ThreadSanitizer: the ring, seqlock and router concurrency tests;
#   3. clang, libFuzzer: each fuzz target for FUZZ_SECONDS (default 30 s).
#   4. Release build of bench/ with one smoke iteration of each benchmark,
#      when bench/ exists.
# Long modes (soak, 50-trial crash test) run only with --long.
# Exit status: 0 only if every stage passed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-2}
fuzz_seconds=${FUZZ_SECONDS:-30}
long=0
for a in "$@"; do
  case "$a" in
    --long) long=1 ;;
    *) echo "usage: tools/test.sh [--long]" >&2; exit 1 ;;
  esac
done
export DESK_LONG=$long

bash tools/setup.sh

stage() { printf '\n=== %s ===\n' "$*"; }

stage "gcc, address+undefined"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDESK_SANITIZE=address,undefined \
  -DDESK_WERROR=ON -DDESK_BENCH=OFF >/dev/null
cmake --build build/asan -j"$jobs" >/dev/null
(cd build/asan && ctest --output-on-failure -j"$jobs" --timeout 600) | tee build/asan/ctest.log
asan_line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' build/asan/ctest.log | tail -1)

stage "clang, thread (concurrency tests)"
CC=clang CXX=clang++ cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDESK_SANITIZE=thread -DDESK_WERROR=ON -DDESK_BENCH=OFF >/dev/null
cmake --build build/tsan -j"$jobs" --target spsc_test seqlock_test router_test journal_test >/dev/null
(cd build/tsan && TSAN_OPTIONS="halt_on_error=1" ctest --output-on-failure -L concurrency) \
  | tee build/tsan/ctest.log
tsan_line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' build/tsan/ctest.log | tail -1)

stage "clang, libFuzzer (${fuzz_seconds} s per target)"
CC=clang CXX=clang++ cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDESK_FUZZ=ON \
  -DDESK_TESTS=ON -DDESK_BENCH=OFF >/dev/null
targets=$(cd tests/fuzz && ls ./*_fuzz.c | sed 's|^\./||; s|\.c$||')
cmake --build build/fuzz -j"$jobs" --target $targets >/dev/null
nfuzz=0
for t in $targets; do
  parser=${t%_fuzz}
  work=build/fuzz/corpus-$parser
  mkdir -p "$work"
  echo "fuzz $t: ${fuzz_seconds}s over tests/fuzz/corpus/$parser"
  build/fuzz/tests/$t -max_total_time="$fuzz_seconds" -print_final_stats=0 \
    "$work" "tests/fuzz/corpus/$parser" 2>build/fuzz/$t.log \
    || { tail -40 build/fuzz/$t.log; echo "fuzz $t: FAILED"; exit 1; }
  nfuzz=$((nfuzz + 1))
done
echo "fuzz: $nfuzz targets ran clean"

if [ -f bench/CMakeLists.txt ]; then
  stage "bench: build and smoke-run"
  cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DDESK_TESTS=OFF -DDESK_BENCH=ON >/dev/null
  cmake --build build/bench -j"$jobs" >/dev/null
  if [ -x bench/smoke.sh ]; then bash bench/smoke.sh build/bench; fi
fi

count() { echo "$1" | sed -E 's/.* out of ([0-9]+).*/\1/'; }
total=$(( $(count "$asan_line") + $(count "$tsan_line") + nfuzz ))
stage "all stages passed"
echo "asan+ubsan: $asan_line"
echo "tsan:       $tsan_line"
echo "fuzz:       $nfuzz targets"
echo "$total passed, 0 failed"
