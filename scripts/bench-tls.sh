#!/usr/bin/env bash
# The cost of TLS (docs/BENCHMARKS.md, "The cost of TLS"), in one run by one
# protocol: ingest end to end with every link secured (the main job's
# default: HTTPS, Kafka SASL/SCRAM over TLS) and with HTTP and Kafka in
# plaintext (--insecure-plaintext), at the same offered rates; then the
# gateway's read latency over HTTPS and over plaintext HTTP, two gateways on
# one stack, alternating. PostgreSQL stays on TLS in both: the local server
# refuses plaintext (scripts/setup.sh).
#
#   bash scripts/bench-tls.sh
#   RATES="4000 8000" SECONDS_EACH=20 bash scripts/bench-tls.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export RATES=${RATES:-"4000 8000 12000"}
export SECONDS_EACH=${SECONDS_EACH:-20}
for mode in tls plaintext; do
  echo "=== ingest end to end: $mode"
  args=""
  [ "$mode" = tls ] || args="--insecure-plaintext"
  CONSORTIUM_ARGS=$args DATA="target/bench-tls-$mode" bash scripts/bench-ingest.sh 2>&1 |
    grep -E "^== offered|end to end|bound"
done
# The read benchmark's stack makes its own database on the local server, over TLS.
source scripts/database-url.sh
echo "=== the gateway's reads: HTTPS and plaintext HTTP, alternating, four CometBFT validators"
target/release/ehr-read-bench --cometbft --clients 8 --read-rate 50 --seconds 40 --tls-and-plaintext 2>&1 |
  grep -vE "^(starting|signing|round)"
