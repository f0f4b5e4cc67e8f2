#!/usr/bin/env bash
# quickstart.sh - the README's first command: install what is missing, build,
# start deskd on desk.toml.example (paper venue replaying the real Binance
# BTCUSDT capture), run the example market maker for DEMO_SECONDS (default
# 20), print `desk status`, and stop deskd.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${DEMO_SECONDS:-20}
build=build/release

bash tools/setup.sh
bash tools/fetch-data.sh
echo "quickstart: building (Release) in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDESK_TESTS=OFF -DDESK_BENCH=OFF >/dev/null
cmake --build "$build" -j"${JOBS:-2}" --target desk_cli desk_mm >/dev/null
desk=$build/desk
mm=$build/desk-mm
$desk check -c desk.toml.example

# The paper venue is a simulation that starts empty every time, so the demo
# starts a fresh trading day: today's journal of desk "demo" from an earlier
# run is moved aside (kept, never deleted), or deskd would recover its
# positions against a venue that no longer has them.
day=$(date -u +%Y%m%d)
if [ -f "journal/desk-demo-$day.journal" ]; then
  aside="journal/desk-demo-$day.journal.$(date -u +%H%M%S).prev"
  mv "journal/desk-demo-$day.journal" "$aside"
  echo "quickstart: moved the earlier demo journal aside to $aside"
fi

log=$build/deskd.log
$desk up -c desk.toml.example 2>"$log" &
deskd=$!
trap 'kill -TERM $deskd 2>/dev/null || true; wait $deskd 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  $desk status >/dev/null 2>&1 && break
  kill -0 $deskd 2>/dev/null || { cat "$log"; echo "quickstart: deskd failed to start" >&2; exit 2; }
  sleep 0.1
done
echo "quickstart: deskd is up (log: $log); running desk-mm for ${secs}s"
echo
$mm --seconds "$secs"
echo
$desk status
kill -TERM $deskd
wait $deskd
trap - EXIT
echo
echo "quickstart: deskd stopped cleanly; its log:"
sed 's/^/  /' "$log"
