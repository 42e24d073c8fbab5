#!/usr/bin/env bash
# Ingest beside what a hospital's IT team would otherwise deploy to move Kafka
# records into PostgreSQL: Kafka Connect's standalone worker with Debezium's
# JDBC sink (docs/BENCHMARKS.md, "Ingest beside Kafka Connect"). Both on the
# same machine, in the same run, on the same engines — the main job's
# consortium: Apache Kafka (TLS and SCRAM, the readings in four partitions),
# PostgreSQL (TLS), four CometBFT validators — by the same protocol: a backlog
# of the same readings published first, then drained; the rate is the
# readings over the span from the first stored to the last, from the
# database's own clock.
#
#   bash scripts/bench-peer.sh                     # 200 000 readings, Connect with 2 and 4 tasks, batches of 500 and 3 000
#   READINGS=100000 RUNS=2 bash scripts/bench-peer.sh
#
# Ours verifies each reading's signature against the chain's device
# registry, encrypts it under its patient's key (wrapped for her readers),
# stores it exactly once and anchors its batch on chain; Connect copies the
# reading's fields and signature (JSON with its schema) into a table, with
# reWriteBatchedInserts, in insert mode (no key: its fastest).
set -euo pipefail
cd "$(dirname "$0")/.."

READINGS=${READINGS:-200000}
RUNS=${RUNS:-2}
DEVICES=${DEVICES:-50}
DATA=${DATA:-target/bench-peer}
DATABASE=ehr_peer_bench
BIN=${BIN:-target/release}
CONNECT=${CONNECT:-$PWD/target/engines/kafka-connect}
BENCH=bench-peer
source scripts/bench-consortium.sh
[ -n "${KAFKA_USERS:-}" ] || { echo "bench-peer: run it with the consortium's TLS (no --insecure-plaintext)" >&2; exit 1; }

if [ ! -d "$CONNECT/plugins/debezium-connector-jdbc" ]; then
  echo "bench-peer: installing Kafka Connect and Debezium's JDBC sink into $CONNECT (Maven Central)"
  mvn -q -B -f scripts/kafka-connect/pom.xml package -Dconnect.dir="$CONNECT"
fi

"${DEVICES_CMD[@]}" setup --fleet p1 --devices "$DEVICES" --admin-key-file "$DATA/ehr/keys/admin-general.json"
echo "== warm-up: 8 000 readings/s for 20 s (not reported)"
"${DEVICES_CMD[@]}" run --fleet p1 --devices "$DEVICES" --rate 8000 --seconds 20 --database-url "$BENCH_DB" | grep "end to end"

ours() {
  echo "== ours, run $1: a backlog of $READINGS readings published while ehr-ingest is paused, then drained"
  "${DEVICES_CMD[@]}" run --fleet p1 --devices "$DEVICES" --rate 8000 --backlog "$READINGS" \
    --database-url "$BENCH_DB" --ingest-pid "$INGEST_PID" | tee "$DATA-ours-$1.txt"
  grep -o "drained .*" "$DATA-ours-$1.txt" | grep -o "[0-9]* readings/s" | awk '{print $1}' >>"$DATA-ours.rates"
}

# The peer reads as the broker's admin (its own topic and consumer groups),
# over TLS with a SCRAM login like ours, and writes over TLS as the owner.
CONNECT_RUN="$DATA-connect"
rm -rf "$CONNECT_RUN" && mkdir -p "$CONNECT_RUN" && chmod 700 "$CONNECT_RUN"
ADMIN_PASSWORD=$(cat "$KAFKA_USERS/admin.password")
USERINFO=${BENCH_DB#*://}; USERINFO=${USERINFO%%@*}
DB_USER=${USERINFO%%:*}; DB_PASSWORD=${USERINFO#*:}
HOSTPATH=${BENCH_DB#*@}; HOSTPATH=${HOSTPATH%%\?*}
QUERY=""; [[ "$BENCH_DB" == *\?* ]] && QUERY="${BENCH_DB#*\?}&"
JDBC="jdbc:postgresql://$HOSTPATH?${QUERY}reWriteBatchedInserts=true"
PEER_TOPIC=readings-json

echo "== the peer's backlog: the same $READINGS readings as Kafka Connect's JSON with a schema, topic $PEER_TOPIC (4 partitions)"
EHR_KAFKA_USER=admin EHR_KAFKA_PASSWORD_FILE="$KAFKA_USERS/admin.password" \
  target/release/ehr-devices --node "$RPC" --brokers "$KAFKA" --topic "$PEER_TOPIC" \
  run --fleet p1 --devices "$DEVICES" --rate 8000 --backlog "$READINGS" --connect-json --partitions 4

sql() { PGOPTIONS="-c client_min_messages=warning" psql "$BENCH_DB" -v ON_ERROR_STOP=1 -qtA -c "$1"; }

peer() { # tasks, batch size
  local name="peer-t$1-b$2-$RANDOM" dir="$CONNECT_RUN/t$1-b$2"
  mkdir -p "$dir"
  sql "DROP TABLE IF EXISTS peer_readings;
       CREATE TABLE peer_readings (device_id text NOT NULL, seq bigint NOT NULL, measured_at_ms bigint NOT NULL,
         loinc text NOT NULL, value double precision NOT NULL, unit text NOT NULL, signature bytea NOT NULL,
         stored_at timestamptz NOT NULL DEFAULT clock_timestamp())"
  local login="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$ADMIN_PASSWORD\";"
  {
    echo "bootstrap.servers=$KAFKA"
    for prefix in "" "consumer."; do
      echo "${prefix}security.protocol=SASL_SSL"
      echo "${prefix}sasl.mechanism=SCRAM-SHA-512"
      echo "${prefix}sasl.jaas.config=$login"
      echo "${prefix}ssl.truststore.type=PEM"
      echo "${prefix}ssl.truststore.location=$PWD/$EHR_CA_FILE"
    done
    echo "key.converter=org.apache.kafka.connect.storage.StringConverter"
    echo "value.converter=org.apache.kafka.connect.json.JsonConverter"
    echo "value.converter.schemas.enable=true"
    echo "offset.storage.file.filename=$dir/connect.offsets"
    echo "plugin.path=$CONNECT/plugins"
    echo "plugin.discovery=service_load"
    echo "listeners=http://127.0.0.1:$((18000 + RANDOM % 2000))"
    echo "consumer.max.poll.records=$2"
    echo "consumer.max.partition.fetch.bytes=10485760"
    echo "consumer.fetch.max.bytes=52428800"
  } >"$dir/worker.properties"
  {
    echo "name=$name"
    echo "connector.class=io.debezium.connector.jdbc.JdbcSinkConnector"
    echo "tasks.max=$1"
    echo "topics=$PEER_TOPIC"
    echo "connection.url=$JDBC"
    echo "connection.username=$DB_USER"
    echo "connection.password=$DB_PASSWORD"
    echo "connection.pool.min_size=1"
    echo "insert.mode=insert"
    echo "primary.key.mode=none"
    echo "schema.evolution=none"
    echo "collection.name.format=peer_readings"
    echo "batch.size=$2"
    echo "consumer.override.max.poll.records=$2"
  } >"$dir/sink.properties"
  chmod 600 "$dir"/*.properties
  java -Xmx1g -Dlog4j2.configurationFile="$PWD/scripts/kafka-connect/log4j2.properties" -cp "$CONNECT/libs/*" \
    org.apache.kafka.connect.cli.ConnectStandalone "$dir/worker.properties" "$dir/sink.properties" >"$dir/connect.log" 2>&1 &
  local java=$! stored=0
  for _ in $(seq 600); do
    stored=$(sql "SELECT count(*) FROM peer_readings")
    [ "$stored" -ge "$READINGS" ] && break
    kill -0 $java 2>/dev/null || break
    sleep 0.5
  done
  kill $java 2>/dev/null; wait $java 2>/dev/null || true
  if [ "$stored" -lt "$READINGS" ]; then
    tail -30 "$dir/connect.log"
    echo "bench-peer: Kafka Connect stored $stored of $READINGS readings" >&2
    exit 1
  fi
  local rate
  rate=$(sql "SELECT round(count(*) / extract(epoch FROM max(stored_at) - min(stored_at))) FROM peer_readings")
  echo "Kafka Connect + Debezium JDBC sink, $1 tasks, batches of $2: drained $stored rows at $rate rows/s" | tee -a "$DATA-peer.txt"
  echo "$rate" >>"$DATA-peer.rates"
}

rm -f "$DATA-ours.rates" "$DATA-peer.rates" "$DATA-peer.txt"
for run in $(seq "$RUNS"); do
  ours "$run"
  for tasks in 2 4; do
    for batch in 500 3000; do
      peer "$tasks" "$batch"
    done
  done
done
best_ours=$(sort -n "$DATA-ours.rates" | tail -1)
best_peer=$(sort -n "$DATA-peer.rates" | tail -1)
echo "== ours: $(paste -sd ' ' "$DATA-ours.rates") readings/s; Kafka Connect: $(paste -sd ' ' "$DATA-peer.rates") rows/s"
awk -v o="$best_ours" -v p="$best_peer" 'BEGIN { printf "best of each: ours %d readings/s, Kafka Connect %d rows/s: ours %.2f x\n", o, p, o / p }'
