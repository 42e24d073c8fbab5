#!/usr/bin/env bash
# The test command: sets up what is missing (Debian packages, PostgreSQL,
# CometBFT and Apache Kafka: scripts/setup.sh), then checks formatting and
# lints and runs every test of the workspace — the four-validator CometBFT
# network and Apache Kafka included, never skipped — ending with the total.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
source scripts/database-url.sh
# No incremental caches: a whole-workspace build gains nothing from them, and
# they took 3.1 GB of the 11 GB the test build left on disk
# (docs/BENCHMARKS.md, "The test build's disk").
export CARGO_INCREMENTAL=0
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

# The tests run the workspace's binaries as real processes (ehr, ehr-node,
# ehr-ingest, ehr-gateway, ehr-consortium); cargo test builds only the binaries
# of packages that have integration tests of their own, so build them all first
# — with the tests (--tests), so that the features the tests' dependencies add
# are the same in both builds and cargo test finds every binary already built
# instead of building each one a second time.
cargo build --workspace --bins --tests --locked

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
# The portal (TypeScript) first: its protobuf code generated again from
# abci-app/core/proto and type-checked, its tests (vitest, which print
# "Tests  N passed" or "Tests  N failed | M passed"), then its build, which
# the gateway serves in the browser tests below.
(cd portal && npm run --silent check && NO_COLOR=1 npx vitest run && npm run --silent build) 2>&1 | tee "$log"
portal_status=${PIPESTATUS[0]}
if ! git diff --quiet -- portal/src/gen 2>/dev/null; then
  echo "portal/src/gen is not in step with abci-app/core/proto: run 'npm run gen' in portal/ and commit it"
  portal_status=1
fi
# The Ethereum contract: contracts/out must be what its source compiles to
# (the Rust client deploys those bytes).
if ! (cd contracts && npm run --silent check) 2>&1 | tee -a "$log"; then
  portal_status=1
fi
cargo test --workspace --locked 2>&1 | tee -a "$log"
status=${PIPESTATUS[0]}
[ "$status" -ne 0 ] || status=$portal_status
set -e
# cargo prints one "test result" line per test binary; the crash test, which
# has its own main, prints its own "N passed, N failed" line.
totals=$(grep -E '^(test result: [a-zA-Z]+\. )?[0-9]+ passed; [0-9]+ failed|^[0-9]+ passed, [0-9]+ failed$' "$log" |
  grep -Eo '[0-9]+ passed[;,] [0-9]+ failed' | tr -d ';,' |
  awk '{p += $1; f += $3} END {print p + 0, f + 0}')
read -r passed failed <<<"$totals"
portal=$(grep -E '^ +Tests +' "$log" | tail -1 || true)
portal_passed=$(grep -Eo '[0-9]+ passed' <<<"$portal" | grep -Eo '[0-9]+' || echo 0)
portal_failed=$(grep -Eo '[0-9]+ failed' <<<"$portal" | grep -Eo '[0-9]+' || echo 0)
totals="$((passed + portal_passed)) $((failed + portal_failed))"
read -r passed failed <<<"$totals"
echo
echo "$passed passed, $failed failed"
exit "$status"
