//! State sync inside one process: a validator writes a snapshot of its
//! committed state; an empty ledger takes it chunk by chunk, checks each
//! chunk against the app hash the chain committed to as it arrives, and
//! from then on reaches the same app hash as the validator at every block.
//! Wrong chunks, reordered entries, forged entries a peer announced as its
//! own, a snapshot that is not the chain's, chunks too large, snapshots too
//! large and malformed offers are refused, each with its reason, and leave
//! the joining store empty.

use std::path::Path;
use std::time::{Duration, Instant};

use ehr_ledger::ledger::{ChunkVerdict, Ledger, LedgerOptions, OfferVerdict, SnapshotPolicy};
use ehr_ledger::mock_consensus::TestNode;
use ehr_ledger::storage::snapshot::{
    decode_chunk, Manifest, OfferRefusal, FORMAT, MAX_CHUNKS, MAX_CHUNK_BYTES,
};
use ehr_ledger::storage::{verify_proof, StateProof, StateRead};
use ehr_testkit::world::workload::{apply, blocks};
use ehr_testkit::world::*;

/// A chunk's proof (with its length) and its entries, apart.
fn split(chunk: &[u8]) -> (&[u8], &[u8]) {
    let proof = u32::from_be_bytes(chunk[..4].try_into().unwrap()) as usize;
    chunk.split_at(4 + proof)
}

fn encode(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in entries {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v);
    }
    out
}

/// A peer's lie: `chunks` announced as the snapshot `m` (its metadata made
/// to match them).
fn announced(m: &Manifest, chunks: &[Vec<u8>]) -> Manifest {
    Manifest {
        chunk_hashes: chunks
            .iter()
            .map(|c| ehr_ledger::crypto::sha256(c))
            .collect(),
        ..m.clone()
    }
}

/// Nothing at all is left in a joining store.
fn empty(joiner: &Ledger) {
    assert!(joiner.status().unwrap().is_none(), "nothing restored");
    let left = joiner
        .storage()
        .snapshot()
        .unwrap()
        .scan_raw(b"", 10)
        .unwrap();
    assert!(left.is_empty(), "nothing of the snapshot kept: {left:?}");
}

fn snapshotting(dir: &Path, every: u64) -> LedgerOptions {
    LedgerOptions {
        snapshots: Some(SnapshotPolicy {
            dir: dir.to_path_buf(),
            every,
            keep: 2,
            // Small chunks, so that a snapshot of this small state has many.
            chunk_bytes: 1024,
        }),
        ..Default::default()
    }
}

/// The validator's snapshots once the one at `height` is written (they are
/// written on a thread of their own).
fn snapshot_at(ledger: &Ledger, height: u64) -> Manifest {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(m) = ledger
            .list_snapshots()
            .into_iter()
            .find(|m| m.height == height)
        {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot at height {height}: {:?}",
            ledger.list_snapshots()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn offer(ledger: &Ledger, m: &Manifest, app_hash: &[u8]) -> OfferVerdict {
    let offered = Manifest::from_offer(m.height, m.format, m.chunks(), &m.hash(), &m.metadata());
    ledger.offer_snapshot(offered, app_hash).unwrap()
}

fn chunks(source: &Ledger, m: &Manifest) -> Vec<Vec<u8>> {
    (0..m.chunks())
        .map(|i| source.load_snapshot_chunk(m.height, m.format, i).unwrap())
        .collect()
}

/// A validator that wrote snapshots every 10 heights, 25 blocks in: its
/// node, the snapshot at height 20 and the app hash of that height.
struct Source {
    world: World,
    snapshot: Manifest,
    app_hash_at_snapshot: [u8; 32],
    rest: Vec<ehr_testkit::world::workload::Block>,
}

fn source() -> Source {
    let stream = blocks(&mut World::new(), 40);
    let mut world = World::new();
    let snapshots = world.dir.as_ref().unwrap().path().join("snapshots");
    world.node = world
        .node
        .reopen_with(snapshotting(&snapshots, 10))
        .unwrap();
    // Registration was height 1; 19 more blocks reach height 20.
    let hashes = apply(&mut world.node, &stream[..19]);
    assert_eq!(world.node.height(), 20);
    let snapshot = snapshot_at(&world.node.ledger, 20);
    assert_eq!(snapshot.format, FORMAT);
    Source {
        world,
        snapshot,
        app_hash_at_snapshot: hashes[18],
        rest: stream[19..].to_vec(),
    }
}

#[test]
fn an_empty_ledger_restored_from_a_snapshot_follows_the_chain_block_for_block() {
    let mut src = source();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("joiner.redb");
    {
        let joiner = Ledger::open(&path).unwrap();
        assert_eq!(
            offer(&joiner, &src.snapshot, &src.app_hash_at_snapshot),
            OfferVerdict::Accept
        );
        let all = chunks(&src.world.node.ledger, &src.snapshot);
        for (i, chunk) in all.iter().enumerate() {
            let verdict = joiner.apply_snapshot_chunk(i as u32, chunk).unwrap();
            if i + 1 < all.len() {
                assert_eq!(verdict, ChunkVerdict::Accepted);
            } else {
                assert_eq!(verdict, ChunkVerdict::Restored(20));
            }
        }
        let status = joiner.status().unwrap().expect("a chain after the restore");
        assert_eq!(status.block_height, 20);
        assert_eq!(status.app_hash, src.app_hash_at_snapshot);
        assert_eq!(status.chain_id, CHAIN);
    }
    // Restored durably: reopened, it goes on from height 21 like the validator.
    let mut joiner = TestNode::reopen(&path).unwrap();
    let ahead = apply(&mut src.world.node, &src.rest);
    let follower = apply(&mut joiner, &src.rest);
    assert_eq!(
        follower, ahead,
        "same blocks, same app hashes after the restore"
    );

    // It answers queries with proofs from the snapshot's height on, and
    // says plainly that it has nothing older.
    let key = b"chain";
    let (value, proof): (Option<Vec<u8>>, StateProof) =
        joiner.ledger.storage().get_with_proof(key, 20).unwrap();
    verify_proof(src.app_hash_at_snapshot, key, value.as_deref(), &proof).unwrap();
    let refused = joiner.ledger.query("/store", key, 19, true);
    assert_eq!(
        refused.code,
        ehr_ledger::ledger::QueryCode::HeightUnavailable
    );
    assert!(
        refused.log.contains("keeps heights from 20"),
        "the reason is given: {}",
        refused.log
    );
    let answered = src.world.node.ledger.query("/store", key, 19, true);
    assert_eq!(
        answered.code,
        ehr_ledger::ledger::QueryCode::Ok,
        "the archive still has it"
    );
}

#[test]
fn a_chunk_that_is_not_the_announced_one_is_fetched_again() {
    let src = source();
    let dir = tempfile::tempdir().unwrap();
    let joiner = Ledger::open(&dir.path().join("joiner.redb")).unwrap();
    assert_eq!(
        offer(&joiner, &src.snapshot, &src.app_hash_at_snapshot),
        OfferVerdict::Accept
    );
    let all = chunks(&src.world.node.ledger, &src.snapshot);
    let mut bad = all[0].clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    match joiner.apply_snapshot_chunk(0, &bad).unwrap() {
        ChunkVerdict::Refetch(why) => assert!(why.contains("hash"), "{why}"),
        other => panic!("a flipped byte must be fetched again, got {other:?}"),
    }
    match joiner.apply_snapshot_chunk(1, &all[0]).unwrap() {
        ChunkVerdict::Retry(why) => assert!(why.contains("chunk 0 is next"), "{why}"),
        other => panic!("a chunk out of turn is not taken, got {other:?}"),
    }
    // The right chunk afterwards is taken.
    for (i, chunk) in all.iter().enumerate() {
        joiner.apply_snapshot_chunk(i as u32, chunk).unwrap();
    }
    assert_eq!(joiner.status().unwrap().unwrap().block_height, 20);
}

#[test]
fn a_snapshot_that_does_not_hash_to_the_chains_app_hash_is_rejected_and_leaves_nothing() {
    let src = source();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("joiner.redb");
    let joiner = Ledger::open(&path).unwrap();
    let mut other = src.app_hash_at_snapshot;
    other[0] ^= 0xff;
    assert_eq!(offer(&joiner, &src.snapshot, &other), OfferVerdict::Accept);
    let all = chunks(&src.world.node.ledger, &src.snapshot);
    assert!(all.len() > 2);
    // The first chunk already does not prove against that app hash: the
    // rest is never fetched.
    match joiner.apply_snapshot_chunk(0, &all[0]).unwrap() {
        ChunkVerdict::RejectSnapshot(why) => {
            assert!(why.contains("does not prove against the app hash"), "{why}")
        }
        other => panic!("a state that is not the chain's must be rejected, got {other:?}"),
    }
    empty(&joiner);
    assert_eq!(
        joiner.query("/store", b"chain", 0, false).code,
        ehr_ledger::ledger::QueryCode::HeightUnavailable,
        "no state at all"
    );
    // The same snapshot with the right app hash is then taken.
    assert_eq!(
        offer(&joiner, &src.snapshot, &src.app_hash_at_snapshot),
        OfferVerdict::Accept
    );
    for (i, chunk) in all.iter().enumerate() {
        joiner.apply_snapshot_chunk(i as u32, chunk).unwrap();
    }
    assert_eq!(
        joiner.status().unwrap().unwrap().app_hash,
        src.app_hash_at_snapshot
    );
}

#[test]
fn a_snapshot_with_entries_out_of_order_is_rejected_even_with_consistent_hashes() {
    let src = source();
    let mut all = chunks(&src.world.node.ledger, &src.snapshot);
    let first = decode_chunk(&all[0], None).unwrap();
    assert!(first.entries.len() > 2);
    // A peer swaps two entries of the first chunk, keeps its proof, and
    // announces the chunk's new hash.
    let mut entries = first.entries.clone();
    entries.swap(0, 1);
    let (proof, _) = split(&all[0]);
    all[0] = [proof, &encode(&entries)].concat();
    let lie = announced(&src.snapshot, &all);
    let dir = tempfile::tempdir().unwrap();
    let joiner = Ledger::open(&dir.path().join("joiner.redb")).unwrap();
    assert_eq!(
        offer(&joiner, &lie, &src.app_hash_at_snapshot),
        OfferVerdict::Accept
    );
    match joiner.apply_snapshot_chunk(0, &all[0]).unwrap() {
        ChunkVerdict::RejectSnapshot(why) => assert!(why.contains("order"), "{why}"),
        other => panic!("entries out of order must be refused, got {other:?}"),
    }
    empty(&joiner);
}

#[test]
fn forged_entries_a_peer_announces_as_its_own_are_refused_at_their_chunk_and_nothing_is_kept() {
    let src = source();
    let honest = chunks(&src.world.node.ledger, &src.snapshot);
    assert!(honest.len() > 3);
    let decoded = |i: usize| {
        let after = (i > 0).then(|| decode_chunk(&honest[i - 1], None).unwrap().last().unwrap());
        decode_chunk(&honest[i], after).unwrap()
    };
    let forgeries: Vec<(&str, Vec<u8>)> = vec![
        // A value changed under its key: the chunk's hashes still fit the
        // order and the proof's shape, not the app hash.
        ("a changed value", {
            let mut entries = decoded(2).entries;
            entries[0].1.push(1);
            [split(&honest[2]).0, &encode(&entries)].concat()
        }),
        // An entry left out: what the chunk proves no longer reaches the root.
        ("an entry left out", {
            let mut entries = decoded(2).entries;
            entries.remove(0);
            [split(&honest[2]).0, &encode(&entries)].concat()
        }),
        // An invented entry (a key of its own choosing, in order).
        ("an invented entry", {
            let mut entries = decoded(2).entries;
            let last = entries.last().unwrap().clone();
            entries.push(([last.0, b"-invented".to_vec()].concat(), last.1));
            entries.sort_by_key(|(k, _)| ehr_ledger::storage::key_hash(k).0);
            [split(&honest[2]).0, &encode(&entries)].concat()
        }),
        // The proof of another chunk.
        ("another chunk's proof", {
            [split(&honest[3]).0, split(&honest[2]).1].concat()
        }),
        ("a proof that does not decode", {
            [&7u32.to_be_bytes()[..], b"garbage", split(&honest[2]).1].concat()
        }),
        ("a proof longer than the chunk", {
            [&u32::MAX.to_be_bytes()[..], split(&honest[2]).1].concat()
        }),
        ("a proof with no entry", split(&honest[2]).0.to_vec()),
    ];
    for (what, forged) in forgeries {
        let mut all = honest.clone();
        all[2] = forged;
        let lie = announced(&src.snapshot, &all);
        let dir = tempfile::tempdir().unwrap();
        let joiner = Ledger::open(&dir.path().join("joiner.redb")).unwrap();
        assert_eq!(
            offer(&joiner, &lie, &src.app_hash_at_snapshot),
            OfferVerdict::Accept
        );
        for i in 0..2 {
            assert_eq!(
                joiner.apply_snapshot_chunk(i, &all[i as usize]).unwrap(),
                ChunkVerdict::Accepted,
                "{what}: the honest chunks before it are taken"
            );
        }
        match joiner.apply_snapshot_chunk(2, &all[2]).unwrap() {
            ChunkVerdict::RejectSnapshot(why) => assert!(
                why.starts_with("chunk 2:")
                    && (why.contains("app hash")
                        || why.contains("proof")
                        || why.contains("no entry")
                        || why.contains("ends inside")),
                "{what}: {why}"
            ),
            other => panic!("{what}: must be refused at its chunk, got {other:?}"),
        }
        empty(&joiner);
    }
}

#[test]
fn a_chunk_larger_than_cometbft_carries_and_a_snapshot_larger_than_the_node_takes_are_refused() {
    let src = source();
    let all = chunks(&src.world.node.ledger, &src.snapshot);
    // An offer of more chunks than a node holds the metadata of.
    let many = MAX_CHUNKS + 1;
    let metadata = vec![0u8; 32 * many as usize];
    match Manifest::from_offer(
        20,
        FORMAT,
        many,
        &ehr_ledger::crypto::sha256(&metadata),
        &metadata,
    ) {
        Err(OfferRefusal::Invalid(why)) => assert!(why.contains("chunks"), "{why}"),
        other => panic!("{other:?}"),
    }
    // One chunk larger than CometBFT carries, announced by its peer.
    let huge = vec![0u8; MAX_CHUNK_BYTES + 1];
    let lie = announced(&src.snapshot, std::slice::from_ref(&huge));
    let dir = tempfile::tempdir().unwrap();
    let joiner = Ledger::open(&dir.path().join("joiner.redb")).unwrap();
    assert_eq!(
        offer(&joiner, &lie, &src.app_hash_at_snapshot),
        OfferVerdict::Accept
    );
    match joiner.apply_snapshot_chunk(0, &huge).unwrap() {
        ChunkVerdict::RejectSnapshot(why) => {
            assert!(why.contains("more than the 16000000"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    empty(&joiner);
    // An honest snapshot larger than this node's operator allows: refused
    // at the chunk that passes the limit, and what was taken goes.
    let limit = (all[0].len() + all[1].len() / 2) as u64;
    let joiner = Ledger::open_with(
        &dir.path().join("small.redb"),
        LedgerOptions {
            max_restore_bytes: Some(limit),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        offer(&joiner, &src.snapshot, &src.app_hash_at_snapshot),
        OfferVerdict::Accept
    );
    assert_eq!(
        joiner.apply_snapshot_chunk(0, &all[0]).unwrap(),
        ChunkVerdict::Accepted
    );
    match joiner.apply_snapshot_chunk(1, &all[1]).unwrap() {
        // Not the sender's fault: no `RejectSnapshot`, which rejects it.
        ChunkVerdict::TooLarge(why) => {
            assert!(why.contains("--state-sync-max-bytes"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    empty(&joiner);
}

#[test]
fn malformed_offers_and_offers_to_a_node_with_state_are_refused_with_the_reason() {
    let src = source();
    let m = &src.snapshot;
    let metadata = m.metadata();
    assert_eq!(
        // Format 1, the flat state in key order without proofs, is no
        // longer read: its chunks could only be checked at the end.
        Manifest::from_offer(m.height, 1, m.chunks(), &m.hash(), &metadata),
        Err(OfferRefusal::Format(1))
    );
    for (height, chunks, hash, metadata, reason) in [
        (
            0,
            m.chunks(),
            m.hash().to_vec(),
            metadata.clone(),
            "height 0",
        ),
        (m.height, 0, m.hash().to_vec(), vec![], "0 chunks"),
        (
            m.height,
            m.chunks() + 1,
            m.hash().to_vec(),
            metadata.clone(),
            "not 32 per chunk",
        ),
        (
            m.height,
            m.chunks(),
            vec![7; 32],
            metadata.clone(),
            "not the hash of its metadata",
        ),
    ] {
        match Manifest::from_offer(height, FORMAT, chunks, &hash, &metadata) {
            Err(OfferRefusal::Invalid(why)) => assert!(why.contains(reason), "{why}"),
            other => panic!("{reason}: {other:?}"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let joiner = Ledger::open(&dir.path().join("joiner.redb")).unwrap();
    match offer(&joiner, m, &[1, 2, 3]) {
        OfferVerdict::Reject(why) => assert!(why.contains("3 bytes"), "{why}"),
        other => panic!("{other:?}"),
    }
    match joiner
        .offer_snapshot(Err(OfferRefusal::Format(9)), &src.app_hash_at_snapshot)
        .unwrap()
    {
        OfferVerdict::RejectFormat(why) => assert!(why.contains("format 9"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A node that has a chain does not take a snapshot over it.
    match offer(&src.world.node.ledger, m, &src.app_hash_at_snapshot) {
        OfferVerdict::Reject(why) => assert!(why.contains("already has a state"), "{why}"),
        other => panic!("{other:?}"),
    }
    match joiner.apply_snapshot_chunk(0, b"anything").unwrap() {
        ChunkVerdict::Retry(why) => assert!(why.contains("no snapshot"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_the_last_snapshots_are_kept_and_a_crash_while_restoring_leaves_an_empty_store() {
    let mut src = source();
    apply(&mut src.world.node, &src.rest[..10]);
    assert_eq!(src.world.node.height(), 30);
    snapshot_at(&src.world.node.ledger, 30);
    let heights: Vec<u64> = src
        .world
        .node
        .ledger
        .list_snapshots()
        .iter()
        .map(|m| m.height)
        .collect();
    assert_eq!(heights, vec![30, 20], "keep 2, newest first");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("joiner.redb");
    {
        let joiner = Ledger::open(&path).unwrap();
        let m = snapshot_at(&src.world.node.ledger, 20);
        assert_eq!(
            offer(&joiner, &m, &src.app_hash_at_snapshot),
            OfferVerdict::Accept
        );
        let all = chunks(&src.world.node.ledger, &m);
        assert!(all.len() > 2, "a snapshot of many chunks");
        for (i, chunk) in all[..2].iter().enumerate() {
            assert_eq!(
                joiner.apply_snapshot_chunk(i as u32, chunk).unwrap(),
                ChunkVerdict::Accepted
            );
        }
        // The node dies here, its restore unfinished.
    }
    let reopened = Ledger::open(&path).unwrap();
    assert!(reopened.status().unwrap().is_none());
    let left = reopened
        .storage()
        .snapshot()
        .unwrap()
        .scan_raw(b"", 10)
        .unwrap();
    assert!(left.is_empty(), "no half-restored state is kept: {left:?}");
}
