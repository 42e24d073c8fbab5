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

bash scripts/setup.sh
source scripts/database-url.sh
cargo build --release --locked --bins
mkdir -p "$DATA"
LOG="$DATA.log"

# shellcheck disable=SC2086
"$BIN/ehr-consortium" --duration 0 --rate 10 --devices 2 \
  --database "$DATABASE" --data "$DATA" ${CONSORTIUM_ARGS:-} >"$LOG" 2>&1 &
CONSORTIUM=$!
trap 'kill -INT $CONSORTIUM 2>/dev/null; wait $CONSORTIUM 2>/dev/null || true' EXIT

for _ in $(seq 600); do
  grep -q "The story is told" "$LOG" && break
  kill -0 $CONSORTIUM 2>/dev/null || { cat "$LOG"; echo "bench-ingest: the consortium stopped" >&2; exit 1; }
  sleep 1
done
grep -q "The story is told" "$LOG" || { echo "bench-ingest: the consortium did not start within 10 minutes" >&2; exit 1; }

RPC=$(grep -o "RPC of General's at [^ ;]*" "$LOG" | head -1 | awk '{print $NF}')
KAFKA=$(grep -o "broker: Apache Kafka (KRaft, one node) at [^ ,]*" "$LOG" | head -1 | awk '{print $NF}')
if [ -f "$DATA/tls/ca.pem" ]; then
  # The run's certificate authority, which the devices' clients check the node's
  # RPC and the broker against; they log in as the run's device gateway.
  export EHR_CA_FILE="$DATA/tls/ca.pem" EHR_KAFKA_USER=device-gateway
  EHR_KAFKA_PASSWORD_FILE=$(ls "$DATA"/kafka-*/users/device-gateway.password | head -1)
  export EHR_KAFKA_PASSWORD_FILE
  KAFKA_LOGIN=()
else
  KAFKA_LOGIN=(--kafka-insecure-plaintext)
fi
INGEST_PID=$(pgrep -n -f "ehr-ingest .*--brokers $KAFKA")
# The run's database on the same server, the URL's options (sslmode, sslrootcert) kept.
DB_MAIN=${DATABASE_URL%%\?*}
BENCH_DB="${DB_MAIN%/*}/$DATABASE${DATABASE_URL#"$DB_MAIN"}"
DEVICES_CMD=(target/release/ehr-devices --node "$RPC" --brokers "$KAFKA" "${KAFKA_LOGIN[@]}")
echo "bench-ingest: chain $RPC, Kafka $KAFKA, ehr-ingest pid $INGEST_PID, database $DATABASE"

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
