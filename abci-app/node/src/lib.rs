//! ehr-node: the ledger served to consensus.
//!
//! - `abci`: the ABCI 2.0 socket server CometBFT v0.38 drives, one file per
//!   ABCI phase.
//! - `sequencer`: the dev sequencer — the same ledger ordered by one process
//!   behind a CometBFT-shaped RPC, for a quick look; not Byzantine fault
//!   tolerant.

pub mod abci;
pub mod sequencer;
