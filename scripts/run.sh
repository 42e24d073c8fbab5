#!/usr/bin/env bash
# The main job: sets up what is missing, then runs a local four-hospital
# consortium through a clinical story, block by block, on a ledger kept on disk.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo run --release --locked -p ehr-ledger --example consortium -- "$@"
