//! Benchmarks and load generators of ehr-ledger; see benches/ and docs/BENCHMARKS.md.
