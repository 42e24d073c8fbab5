#!/usr/bin/env bash
# Four hospitals at four sites (docs/BENCHMARKS.md, "Four sites, wide-area
# latency"): each validator in a network namespace of its own, every link
# between two sites through Toxiproxy with the given one-way latency. For
# each latency, one run of the read benchmark: ledger transactions offered at
# WRITE_RATE (about half of what the sites commit at saturation), the doctor's
# reads at 50/s through the gateway, and a device publishing 100 readings/s —
# committed tx/s and submit → committed, read latency, and measured →
# anchored, all in one run. Then the two settings docs/node.md weighs across
# sites: a shorter timeout_commit (which it finds is not the lever) and a
# shorter flush_throttle_timeout (what it recommends).
#
#   bash scripts/bench-sites.sh
#   LATENCIES="10 50" WRITE_RATE=350 SECONDS_EACH=20 bash scripts/bench-sites.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LATENCIES=${LATENCIES:-"10 25 50 100"}
WRITE_RATE=${WRITE_RATE:-350}
SECONDS_EACH=${SECONDS_EACH:-20}
TUNED_COMMIT_MS=${TUNED_COMMIT_MS:-100}
TUNED_FLUSH_MS=${TUNED_FLUSH_MS:-10}
source scripts/database-url.sh
cargo build --release --locked --workspace --bins
run() {
  target/release/ehr-read-bench --cometbft --latency-ms "$1" --timeout-commit-ms "$2" \
    --flush-throttle-ms "${3:-100}" \
    --write-rate "$WRITE_RATE" --read-rate 50 --clients 4 --reading-rate 100 \
    --seconds "$SECONDS_EACH" 2>&1 | grep -vE "^(starting|signing|[0-9]+ readings stored)"
}
for latency in $LATENCIES; do
  echo "=== $latency ms one way between sites, timeout_commit 300 ms"
  run "$latency" 300
done
last=${LATENCIES##* }
echo "=== $last ms one way between sites, timeout_commit $TUNED_COMMIT_MS ms"
run "$last" "$TUNED_COMMIT_MS"
echo "=== 50 ms one way between sites, timeout_commit $TUNED_COMMIT_MS ms"
run 50 "$TUNED_COMMIT_MS"
echo "=== 50 ms one way between sites, flush_throttle_timeout $TUNED_FLUSH_MS ms"
run 50 300 "$TUNED_FLUSH_MS"
