//! Benchmarks and load generators of ehr-ledger; see benches/ and docs/BENCHMARKS.md.
//!
//! - `load`: offered load against a chain's RPC (transactions prepared before
//!   the timed window), used by `ehr-loadgen` and `ehr-consensus-bench`.

pub mod load;
pub mod prefill;
