//! What deriving a record's audit path from its batch's block tree costs
//! (docs/design/compact-readings.md), beside what storing every path costs
//! ingest today: per batch, the paths of all its records (`merkle::proofs`)
//! or the block-tree blob (`block_tree::build`); per record read, the path
//! derived from one slice (`block_tree::path_from`).
//!
//! `cargo bench -p ehr-benches --bench anchor_paths`

use criterion::{criterion_group, criterion_main, Criterion};
use ehr_ledger::crypto::block_tree::{self, Layout};
use ehr_ledger::crypto::{merkle, sha256};

/// A full batch: 4 000 records' SHA-256s (ingest's largest).
fn batch() -> Vec<[u8; 32]> {
    (0..4_000).map(|i: u32| sha256(&i.to_be_bytes())).collect()
}

fn anchor_paths(c: &mut Criterion) {
    let items = batch();
    let mut g = c.benchmark_group("a batch of 4000");
    g.bench_function("every path (stored with each record today)", |b| {
        b.iter(|| merkle::proofs(&items))
    });
    g.bench_function("the block tree, blocks of 32", |b| {
        b.iter(|| block_tree::build(&items, 5).unwrap())
    });
    g.finish();

    let blob = block_tree::build(&items, 5).unwrap();
    let layout = Layout::new(items.len(), 5).unwrap();
    let index = 2_345;
    let slice = &blob[layout.slice_of(index).unwrap()];
    c.bench_function("one record's path from its block's slice", |b| {
        b.iter(|| block_tree::path_from(slice, &layout, index).unwrap())
    });
}

criterion_group!(benches, anchor_paths);
criterion_main!(benches);
