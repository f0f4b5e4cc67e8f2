#!/usr/bin/env bash
# bench/smoke.sh BUILD_DIR - run every desk benchmark for one short smoke
# iteration (CI: tools/test.sh calls `bash bench/smoke.sh build/bench`).
#
# Asserts no number.  Fails only when a benchmark crashes, or when a row
# fails its own correctness check (lost or reordered ring messages, a guard
# scenario that does not hit its reason, decoders that disagree, an e2e order
# unanswered or lost, a journal missing an order's record or left behind in
# TMPDIR, a FIX order over loopback not filled): those rows
# report error_occurred in Google Benchmark's JSON, and desk_e2e and
# desk_net_rtt exit nonzero.
set -euo pipefail
build=${1:?usage: bench/smoke.sh BUILD_DIR}
bin="$build/bench"
fail=0
ran=0
for b in bench_ring bench_guard bench_fixed bench_json bench_fix; do
  if [ ! -x "$bin/$b" ]; then
    echo "smoke: $b not built, skipped"
    continue
  fi
  out=$("$bin/$b" --benchmark_min_time=0.001 --benchmark_format=json 2>/dev/null) || {
    echo "smoke: $b crashed"
    fail=1
    continue
  }
  rows=$(grep -c '"name":' <<<"$out" || true)
  if grep -q '"error_occurred": true' <<<"$out"; then
    echo "smoke: $b: a row failed its check:"
    grep '"error_message"' <<<"$out" | sort -u
    fail=1
  else
    echo "smoke: $b: $rows rows ok"
  fi
  ran=$((ran + 1))
done
if [ -x "$bin/desk_e2e" ]; then
  # The journaled rows too (fsync none, interval:10, every), their journal
  # files in a private TMPDIR that must be empty again afterwards; then the
  # journal once on a thread of its own and once driven by the strategy
  # thread, whichever the CPU count would pick.
  jtmp=$(mktemp -d)
  if TMPDIR=$jtmp "$bin/desk_e2e" --orders 500 --warmup 50 --tp-seconds 1 --capacity 65536 \
    --clordids 4000000 --probe-seconds 0 --journal none,interval:10,every --every-orders 100 \
    >/dev/null; then
    echo "smoke: desk_e2e ok"
  else
    echo "smoke: desk_e2e failed"
    fail=1
  fi
  for jt in on off; do
    if TMPDIR=$jtmp "$bin/desk_e2e" --orders 200 --warmup 20 --tp-seconds 0 --probe-seconds 0 \
      --no-paper --journal none,every --every-orders 50 --journal-thread $jt >/dev/null 2>&1; then
      echo "smoke: desk_e2e --journal-thread $jt ok"
    else
      echo "smoke: desk_e2e --journal-thread $jt failed"
      fail=1
    fi
  done
  if [ -n "$(ls -A "$jtmp")" ]; then
    echo "smoke: desk_e2e left journal files in $jtmp:"
    ls -R "$jtmp"
    fail=1
  fi
  rm -rf "$jtmp"
  ran=$((ran + 1))
else
  echo "smoke: desk_e2e not built, skipped"
fi
if [ -x "$bin/desk_net_rtt" ]; then
  if "$bin/desk_net_rtt" --orders 200 --warmup 20 >/dev/null 2>&1; then
    echo "smoke: desk_net_rtt ok"
  else
    echo "smoke: desk_net_rtt failed"
    fail=1
  fi
  ran=$((ran + 1))
else
  echo "smoke: desk_net_rtt not built, skipped"
fi
echo "smoke: $ran benchmark programs run, $([ $fail = 0 ] && echo 'all ok' || echo 'FAILED')"
exit $fail
