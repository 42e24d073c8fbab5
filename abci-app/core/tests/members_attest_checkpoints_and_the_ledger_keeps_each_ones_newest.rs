//! Where members' signatures for an Ethereum checkpoint meet: an admin posts
//! the signature of the app hash after a past block, made with the key that
//! signs the transaction; the ledger keeps each admin's newest one, and
//! refuses a signature by another key, of another chain, a high s, a height
//! without an app hash yet, or one no newer than the member's last.

use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

fn attested(w: &World) -> Vec<CheckpointAttestation> {
    w.query::<CheckpointAttestationList>("/attestations").items
}

#[test]
fn each_member_keeps_its_newest_attestation_and_anyone_lists_them() {
    let mut w = World::new();
    for _ in 0..2 {
        w.node.block(vec![]).unwrap();
    }
    let (h, hash) = (w.node.height(), w.node.app_hash());
    let tx = w.admin.tx(attest(&w.admin, CHAIN, h, hash));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "checkpoint_attested", "org_id").as_deref(),
        Some("general")
    );
    assert_eq!(
        event_attr(&r, "checkpoint_attested", "height"),
        Some(h.to_string())
    );
    let tx = w.north_admin.tx(attest(&w.north_admin, CHAIN, h, hash));
    w.ok(tx);
    let list = attested(&w);
    assert_eq!(list.len(), 2);
    let general = list.iter().find(|a| a.org_id == "general").unwrap();
    assert_eq!(
        (general.height, general.app_hash.as_slice()),
        (h, &hash[..])
    );
    assert_eq!(general.public_key, w.admin.public_key());

    // The same height again, or an older one: refused, the newest kept.
    let tx = w.admin.tx(attest(&w.admin, CHAIN, h, hash));
    let r = w.refused(tx, Code::StaleAttestation);
    assert!(
        r.log.contains(&format!("already attested height {h}")),
        "{}",
        r.log
    );
    let tx = w.admin.tx(attest(&w.admin, CHAIN, h - 1, [3; 32]));
    w.refused(tx, Code::StaleAttestation);

    // A later height replaces the member's attestation: one per member.
    let (later, later_hash) = (w.node.height(), w.node.app_hash());
    let tx = w.admin.tx(attest(&w.admin, CHAIN, later, later_hash));
    w.ok(tx);
    let list = attested(&w);
    assert_eq!(list.len(), 2);
    let general = list.iter().find(|a| a.org_id == "general").unwrap();
    assert_eq!(general.height, later);

    // A second admin of General keeps an attestation of its own: the first's
    // newer one refuses nothing of it.
    let mut second = actor("second admin of general");
    let tx = w.admin.tx(register_staff(second.public_key(), Role::Admin));
    w.ok(tx);
    let tx = second.tx(attest(&second, CHAIN, h, hash));
    w.ok(tx);
    let list = attested(&w);
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().filter(|a| a.org_id == "general").count(), 2);
}

#[test]
fn a_signature_not_by_the_sender_or_not_for_this_chain_is_refused() {
    let mut w = World::new();
    let (h, hash) = (w.node.height(), w.node.app_hash());
    // North's signature, sent by General: a member cannot post another's.
    let theirs = attest(&w.north_admin, CHAIN, h, hash);
    let tx = w.admin.tx(theirs);
    let r = w.refused(tx, Code::BadSignature);
    assert!(r.log.contains("not by the transaction's key"), "{}", r.log);
    // Signed for another chain's id.
    let tx = w.admin.tx(attest(&w.admin, "another-chain", h, hash));
    w.refused(tx, Code::BadSignature);
    // v other than 27 or 28, and the high-s twin of a good signature.
    let Kind::AttestCheckpoint(good) = attest(&w.admin, CHAIN, h, hash) else {
        unreachable!()
    };
    let mut bad_v = good.clone();
    bad_v.signature[64] = 1;
    let tx = w.admin.tx(Kind::AttestCheckpoint(bad_v));
    let r = w.refused(tx, Code::BadSignature);
    assert!(r.log.contains("27 or 28"), "{}", r.log);
    let mut high = good.clone();
    let sig = k256::ecdsa::Signature::from_slice(&good.signature[..64]).unwrap();
    let (r_, s_) = sig.split_scalars();
    let twin = k256::ecdsa::Signature::from_scalars(r_, -*s_).unwrap();
    high.signature[..64].copy_from_slice(&twin.to_bytes());
    high.signature[64] = 27 + 28 - good.signature[64];
    let tx = w.admin.tx(Kind::AttestCheckpoint(high));
    let r = w.refused(tx, Code::BadSignature);
    assert!(r.log.contains("upper half"), "{}", r.log);
    // Wrong lengths.
    let mut short = good.clone();
    short.app_hash.pop();
    let tx = w.admin.tx(Kind::AttestCheckpoint(short));
    w.refused(tx, Code::InvalidField);
    assert!(attested(&w).is_empty(), "nothing refused is kept");
}

#[test]
fn only_an_admin_attests_and_only_a_past_height() {
    let mut w = World::new();
    let (h, hash) = (w.node.height(), w.node.app_hash());
    let tx = w.doctor.tx(attest(&w.doctor, CHAIN, h, hash));
    w.refused(tx, Code::WrongRole);
    let tx = w.stranger.tx(attest(&w.stranger, CHAIN, h, hash));
    w.refused(tx, Code::NotRegistered);
    // The block that takes it is h + 1 or later: its own height, and any
    // after it, have no app hash yet.
    let ahead = w.node.height() + 1;
    let tx = w.admin.tx(attest(&w.admin, CHAIN, ahead, hash));
    let r = w.refused(tx, Code::InvalidField);
    assert!(r.log.contains("no app hash yet"), "{}", r.log);
    let tx = w.admin.tx(attest(&w.admin, CHAIN, 0, hash));
    w.refused(tx, Code::InvalidField);
}
