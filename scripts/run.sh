#!/usr/bin/env bash
# The main job: sets up what is missing (Debian packages, PostgreSQL, CometBFT
# and Apache Kafka), builds the workspace, then runs a local consortium of four
# hospitals — four CometBFT validators, Kafka, ingest, gateway, a fleet of
# devices and a clinical story, every part a real process — with live progress,
# until the given duration has passed or Ctrl-C, and sums up.
#
#   scripts/run.sh                    # 60 s of steady work after the story
#   scripts/run.sh --duration 0       # until Ctrl-C
#   scripts/run.sh --chain dev        # the dev sequencer instead (quick, not BFT)
#   scripts/run.sh --chaos 7          # faults drawn from seed 7 while it works
#   scripts/run.sh --help             # every option
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
source scripts/database-url.sh
echo "building (release)…"
cargo build --release --locked --workspace --bins
(cd portal && npm run --silent build >/dev/null)
exec target/release/ehr-consortium "$@"
