# Sourced by the end-to-end benchmarks (scripts/bench-ingest.sh,
# scripts/bench-peer.sh): the engines installed, the release build made, the
# main job's consortium started in the background (four CometBFT validators,
# Apache Kafka, PostgreSQL, ehr-ingest, ehr-gateway) with its story told;
# then RPC, KAFKA, INGEST_PID, BENCH_DB (the run's database URL), DEVICES_CMD
# (ehr-devices logged in as the run's device gateway) and, when the run has
# TLS, EHR_CA_FILE and the Kafka users' folder KAFKA_USERS.
# Expects BENCH (a name for messages), DATA, DATABASE and BIN.

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
  kill -0 $CONSORTIUM 2>/dev/null || { cat "$LOG"; echo "$BENCH: the consortium stopped" >&2; exit 1; }
  sleep 1
done
grep -q "The story is told" "$LOG" || { echo "$BENCH: the consortium did not start within 10 minutes" >&2; exit 1; }

RPC=$(grep -o "RPC of General's at [^ ;]*" "$LOG" | head -1 | awk '{print $NF}')
# One broker or a cluster: the addresses after "at" (comma-separated).
KAFKA=$(sed -n 's/^  broker: Apache Kafka.* at \([0-9.:,]*[0-9]\).*/\1/p' "$LOG" | head -1)
[ -n "$KAFKA" ] || { echo "$BENCH: no broker address in $LOG" >&2; exit 1; }
if [ -f "$DATA/tls/ca.pem" ]; then
  # The run's certificate authority, which the devices' clients check the node's
  # RPC and the broker against; they log in as the run's device gateway.
  export EHR_CA_FILE="$DATA/tls/ca.pem" EHR_KAFKA_USER=device-gateway
  KAFKA_USERS=$(dirname "$(ls "$DATA"/kafka-*/users/device-gateway.password | head -1)")
  EHR_KAFKA_PASSWORD_FILE="$KAFKA_USERS/device-gateway.password"
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
echo "$BENCH: chain $RPC, Kafka $KAFKA, ehr-ingest pid $INGEST_PID, database $DATABASE"

