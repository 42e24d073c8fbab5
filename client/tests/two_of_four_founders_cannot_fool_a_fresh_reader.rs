//! Two of the four founding hospitals collude: with two keys of their own
//! they sign a made-up header at a later height, naming a validator set of
//! their two founders' keys and two new ones, all four signing. A reader that
//! trusts the four founders must not accept it: half the trusted power signed
//! it, and the light client's options (`rpc::light::options`, what every
//! reader and service verifies with) ask for more than two thirds. With
//! CometBFT's default of one third, the forged header — its app hash, so any
//! state "proven" against it — would pass.

use std::time::Duration;

use ed25519_consensus::SigningKey;
use ehr_client::rpc::light::options;
use tendermint::block::header::Version;
use tendermint::block::parts::Header as PartSetHeader;
use tendermint::block::{self, Commit, CommitSig, Header, Height, Round};
use tendermint::chain;
use tendermint::hash::{AppHash, Hash};
use tendermint::validator::{Info, Set};
use tendermint::vote::{SignedVote, Type, ValidatorIndex, Vote};
use tendermint::{account, Signature, Time};
use tendermint_light_client_verifier::types::{TrustedBlockState, UntrustedBlockState};
use tendermint_light_client_verifier::{ProdVerifier, Verdict, Verifier};

fn key(seed: u8) -> SigningKey {
    SigningKey::from([seed; 32])
}

fn info(k: &SigningKey) -> Info {
    let public = tendermint::PublicKey::from_raw_ed25519(k.verification_key().as_bytes())
        .expect("an ed25519 key");
    Info::new(public, 10u32.into())
}

fn at(secs_ago: u64) -> Time {
    let now = Time::now();
    (now - Duration::from_secs(secs_ago)).expect("a time")
}

/// A header at `height` naming `set`, and a commit of it signed by `signers`.
fn signed(
    chain_id: &chain::Id,
    height: u64,
    time: Time,
    set: &Set,
    signers: &[&SigningKey],
) -> tendermint::block::signed_header::SignedHeader {
    let header = Header {
        version: Version { block: 11, app: 0 },
        chain_id: chain_id.clone(),
        height: Height::try_from(height).unwrap(),
        time,
        last_block_id: None,
        last_commit_hash: None,
        data_hash: None,
        validators_hash: set.hash(),
        next_validators_hash: set.hash(),
        consensus_hash: Hash::Sha256([1; 32]),
        app_hash: AppHash::try_from(vec![0xAB; 32]).unwrap(),
        last_results_hash: None,
        evidence_hash: None,
        proposer_address: set.validators()[0].address,
    };
    let block_id = block::Id {
        hash: header.hash(),
        part_set_header: PartSetHeader::new(1, Hash::Sha256([2; 32])).unwrap(),
    };
    let signatures = set
        .validators()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let Some(k) = signers
                .iter()
                .find(|k| account::Id::from(info(k).pub_key) == v.address)
            else {
                return CommitSig::BlockIdFlagAbsent;
            };
            let vote = Vote {
                vote_type: Type::Precommit,
                height: header.height,
                round: Round::default(),
                block_id: Some(block_id),
                timestamp: Some(time),
                validator_address: v.address,
                validator_index: ValidatorIndex::try_from(i as u32).unwrap(),
                signature: None,
                extension: vec![],
                extension_signature: None,
            };
            // What is signed is the canonical vote; the signature given here
            // is not part of it.
            let unsigned = Signature::new([1u8; 64]).unwrap().unwrap();
            let bytes = SignedVote::new(vote, chain_id.clone(), v.address, unsigned).sign_bytes();
            CommitSig::BlockIdFlagCommit {
                validator_address: v.address,
                timestamp: time,
                signature: Signature::new(k.sign(&bytes).to_bytes()).unwrap(),
            }
        })
        .collect();
    tendermint::block::signed_header::SignedHeader::new(
        header.clone(),
        Commit {
            height: header.height,
            round: Round::default(),
            block_id,
            signatures,
        },
    )
    .unwrap()
}

#[test]
fn two_of_four_founders_cannot_fool_a_fresh_reader() {
    let chain_id: chain::Id = "ehr-consortium".parse().unwrap();
    let founders: Vec<SigningKey> = (1..=4).map(key).collect();
    let founding = Set::without_proposer(founders.iter().map(info).collect());
    let trusted_header = signed(
        &chain_id,
        1,
        at(3600),
        &founding,
        &founders.iter().collect::<Vec<_>>(),
    );
    let trusted = || TrustedBlockState {
        chain_id: &chain_id,
        header_time: trusted_header.header.time,
        height: trusted_header.header.height,
        next_validators: &founding,
        next_validators_hash: founding.hash(),
    };

    // The two colluders and two keys of their own.
    let (a, b, e, f) = (&founders[0], &founders[1], key(5), key(6));
    let forged_set = Set::without_proposer([a, b, &e, &f].into_iter().map(info).collect());
    let forged = signed(&chain_id, 100, at(60), &forged_set, &[a, b, &e, &f]);
    let untrusted = UntrustedBlockState {
        signed_header: &forged,
        validators: &forged_set,
        next_validators: Some(&forged_set),
    };
    let verdict =
        ProdVerifier::default().verify_update_header(untrusted, trusted(), &options(), Time::now());
    assert!(
        matches!(verdict, Verdict::NotEnoughTrust(_)),
        "half the founders' power vouched for a made-up header: {verdict:?}"
    );

    // Three of four founders (more than two thirds) do carry a real change.
    let (c, g) = (&founders[2], key(7));
    let next_set = Set::without_proposer([a, b, c, &g].into_iter().map(info).collect());
    let changed = signed(&chain_id, 100, at(60), &next_set, &[a, b, c, &g]);
    let untrusted = UntrustedBlockState {
        signed_header: &changed,
        validators: &next_set,
        next_validators: Some(&next_set),
    };
    let verdict =
        ProdVerifier::default().verify_update_header(untrusted, trusted(), &options(), Time::now());
    assert!(matches!(verdict, Verdict::Success), "{verdict:?}");
}
