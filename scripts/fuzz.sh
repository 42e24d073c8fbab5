#!/usr/bin/env bash
# Fuzzes the parsers that take bytes from outside (fuzz/fuzz_targets): the
# transaction envelope and body with the stateless checks, ABCI frames, broker
# readings (protobuf and JSON), and the gateway's signed-request headers.
#
#   scripts/fuzz.sh                 # every target, 10 minutes each
#   FUZZ_SECONDS=60 scripts/fuzz.sh tx_envelope
#
# cargo-fuzz needs nightly features: RUSTC_BOOTSTRAP=1 lets the stable
# toolchain build them. Crashes land in fuzz/artifacts/<target>/; the run
# fails if any target found one.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-600}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi
failed=0
for t in "${targets[@]}"; do
    echo "== $t: ${seconds} s"
    mkdir -p "fuzz/corpus/$t"
    if ! (cd fuzz && cargo fuzz run -O "$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -n 15); then
        echo "== $t: CRASH (see fuzz/artifacts/$t)"
        failed=1
    fi
done
exit $failed
