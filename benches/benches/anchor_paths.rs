//! What deriving a record's audit path from its batch's block tree costs, at
//! the width ingest keeps (`ehr_ingest::store::TREE_BLOCK_BITS`), beside
//! what storing every path cost ingest before: per batch, the paths of all
//! its records (`merkle::proofs`) or the block-tree blob
//! (`block_tree::build`); per record read, the path derived from one slice
//! (`block_tree::path_from`, what the gateway does).
//!
//! `cargo bench -p ehr-benches --bench anchor_paths`

use criterion::{criterion_group, criterion_main, Criterion};
use ehr_ingest::store::TREE_BLOCK_BITS as BITS;
use ehr_ledger::crypto::block_tree::{self, Layout};
use ehr_ledger::crypto::{merkle, sha256};

/// A full batch: 4 000 records' SHA-256s (ingest's largest).
fn batch() -> Vec<[u8; 32]> {
    (0..4_000).map(|i: u32| sha256(&i.to_be_bytes())).collect()
}

fn anchor_paths(c: &mut Criterion) {
    let items = batch();
    let mut g = c.benchmark_group("a batch of 4000");
    g.bench_function("every path (stored with each record before)", |b| {
        b.iter(|| merkle::proofs(&items))
    });
    g.bench_function("the block tree", |b| {
        b.iter(|| block_tree::build(&items, BITS).unwrap())
    });
    g.finish();

    let blob = block_tree::build(&items, BITS).unwrap();
    let layout = Layout::new(items.len(), BITS).unwrap();
    let index = 2_345;
    let slice = &blob[layout.slice_of(index).unwrap()];
    c.bench_function("one record's path from its block's slice", |b| {
        b.iter(|| block_tree::path_from(slice, &layout, index).unwrap())
    });
}

criterion_group!(benches, anchor_paths);
criterion_main!(benches);
