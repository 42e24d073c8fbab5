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
set -euo pipefail
cd "$(dirname "$0")/.."

RATES=${RATES:-"2000 4000 8000 12000 16000"}
SECONDS_EACH=${SECONDS_EACH:-30}
DEVICES=${DEVICES:-50}
DATA=${DATA:-target/bench-ingest}
DATABASE=ehr_ingest_bench
: "${DATABASE_URL:=postgres://postgres:postgres@127.0.0.1:5432/postgres}"
export DATABASE_URL

bash scripts/setup.sh
cargo build --release --locked --bins
mkdir -p "$DATA"
LOG="$DATA.log"

target/release/ehr-consortium --duration 0 --rate 10 --devices 2 \
  --database "$DATABASE" --data "$DATA" >"$LOG" 2>&1 &
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
INGEST_PID=$(pgrep -n -f "release/ehr-ingest .*--brokers $KAFKA")
BENCH_DB="${DATABASE_URL%/*}/$DATABASE"
DEVICES_CMD=(target/release/ehr-devices --node "$RPC" --brokers "$KAFKA")
echo "bench-ingest: chain $RPC, Kafka $KAFKA, ehr-ingest pid $INGEST_PID, database $DATABASE"

"${DEVICES_CMD[@]}" setup --fleet f1 --devices "$DEVICES" --admin-key-file "$DATA/ehr/keys/admin-general.json"
target/release/ehr-devices bound --seconds 5
for rate in $RATES; do
  echo "== offered $rate readings/s for $SECONDS_EACH s"
  "${DEVICES_CMD[@]}" run --fleet f1 --devices "$DEVICES" --rate "$rate" --seconds "$SECONDS_EACH" \
    --database-url "$BENCH_DB" --ingest-pid "$INGEST_PID"
  target/release/ehr-devices bound --seconds 3
done
