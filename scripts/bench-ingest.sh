#!/usr/bin/env bash
# The ingest benchmark of docs/BENCHMARKS.md ("Ingest end to end"): the main job's
# consortium (four CometBFT validators, Apache Kafka, PostgreSQL, ehr-ingest,
# ehr-gateway, all on this machine), a fleet of 50 devices from ehr-devices, the
# single-core signature-verification bound, then each offered rate in turn. Every
# reading is signed before its run's timed window; each run waits until all its
# readings are anchored and prints one row of the table.
#
#   bash scripts/bench-ingest.sh                       # rates 2000 4000 8000 12000 16000, 30 s each
#   RATES="1000 6000" SECONDS_EACH=20 bash scripts/bench-ingest.sh
#   PROFILE=1 bash scripts/bench-ingest.sh             # and a whole-machine perf profile of each run
#   BIN=/elsewhere/target/release bash scripts/bench-ingest.sh   # the consortium of another build
#   CONSORTIUM_ARGS=--insecure-plaintext bash scripts/bench-ingest.sh   # HTTP and Kafka in plaintext (scripts/bench-tls.sh)
#
# PROFILE=1 needs perf and the right to profile every process (root, or
# kernel.perf_event_paranoid <= 0): from 3 s into each window, written to
# $DATA-perf-<rate>.txt as CPU per process and where ehr-ingest's time goes.
set -euo pipefail
cd "$(dirname "$0")/.."

RATES=${RATES:-"2000 4000 8000 12000 16000"}
SECONDS_EACH=${SECONDS_EACH:-30}
DEVICES=${DEVICES:-50}
DATA=${DATA:-target/bench-ingest}
DATABASE=ehr_ingest_bench
BIN=${BIN:-target/release}

BENCH=bench-ingest
source scripts/bench-consortium.sh

"${DEVICES_CMD[@]}" setup --fleet f1 --devices "$DEVICES" --admin-key-file "$DATA/ehr/keys/admin-general.json"
target/release/ehr-devices bound --seconds 5
profile() { # rate, run's output file
  until grep -q "before the window" "$2"; do sleep 0.2; done
  sleep 3
  # Every process, 8 s, no call graphs; then ehr-ingest alone, 5 s, with
  # DWARF call graphs, for each step's share including what it calls.
  perf record -a -o "$DATA-perf-$1-all.data" -- sleep 8 >/dev/null 2>&1
  perf record -F 499 --call-graph dwarf,16384 -p "$INGEST_PID" -o "$DATA-perf-$1-ingest.data" -- sleep 5 >/dev/null 2>&1
  {
    echo "# CPU by thread name, offered $1 readings/s (perf record -a, 8 s; % of both cores)"
    perf report -i "$DATA-perf-$1-all.data" --sort comm --stdio 2>/dev/null | grep '%' | sed -n 1,25p
    echo "# ehr-ingest: share of its samples in each function and what it calls (perf record --call-graph dwarf, 5 s)"
    perf report -i "$DATA-perf-$1-ingest.data" --children --sort sym --stdio -g none 2>/dev/null \
      | grep -E 'ehr_ingest::|record_encryption::|reading::|postgres::Client|Transaction::execute|rdkafka::consumer|k256::ecdsa|ecdsa::' | sed -n 1,40p
  } >"$DATA-perf-$1.txt" || true
}

# A warm-up, not reported: Kafka's JVM compiles its hot paths as the load
# grows (its JIT compiler took a quarter of both cores during the first run
# at a new rate otherwise); a broker in service has long done so.
echo "== warm-up: ${WARMUP_RATE:-8000} readings/s for 30 s"
"${DEVICES_CMD[@]}" run --fleet f1 --devices "$DEVICES" --rate "${WARMUP_RATE:-8000}" --seconds 30 \
  --database-url "$BENCH_DB" | grep "end to end"

for rate in $RATES; do
  echo "== offered $rate readings/s for $SECONDS_EACH s"
  out="$DATA-run-$rate.txt"
  "${DEVICES_CMD[@]}" run --fleet f1 --devices "$DEVICES" --rate "$rate" --seconds "$SECONDS_EACH" \
    --database-url "$BENCH_DB" --ingest-pid "$INGEST_PID" >"$out" 2>&1 &
  run=$!
  [ -z "${PROFILE:-}" ] || profile "$rate" "$out"
  wait $run || { cat "$out"; exit 1; }
  cat "$out"
  target/release/ehr-devices bound --seconds 3
done
