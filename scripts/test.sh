#!/usr/bin/env bash
# The test command: sets up what is missing, then checks formatting and lints
# and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
