//! Governance: a member's admin proposes; each member votes once; the change
//! applies when more than two thirds approve, and reaches CometBFT as validator
//! updates when it touches the validator set.

use ehr_ledger::crypto::SecretKey;
use ehr_ledger::ledger::actions::governance::is_supermajority;
use ehr_ledger::mock_consensus::validator_key;
use ehr_ledger::proto::{governance_change::Kind as Change, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

fn add_member(org: &str) -> Change {
    Change::AddMember(AddMember {
        org_id: org.into(),
        name: format!("{org} clinic"),
        admin_public_key: SecretKey::from_seed(&format!("admin@{org}"))
            .public_key()
            .to_bytes()
            .to_vec(),
    })
}

#[test]
fn two_thirds_is_strictly_more_than_two_thirds() {
    assert!(
        !is_supermajority(2, 3),
        "2 of 3 is exactly two thirds, not more"
    );
    assert!(is_supermajority(3, 4));
    assert!(!is_supermajority(2, 4));
    assert!(is_supermajority(1, 1));
    assert!(!is_supermajority(4, 6));
    assert!(is_supermajority(5, 6));
}

#[test]
fn a_new_member_joins_with_three_of_four_approvals_and_its_admin_can_act() {
    let mut w = World::new();
    let tx = w.admin.tx(propose(add_member("west")));
    let r = w.ok(tx);
    let id: u64 = event_attr(&r, "proposal", "id").unwrap().parse().unwrap();
    // The proposer's organisation approves by proposing; one more is still not enough.
    let tx = w.north_admin.tx(vote(id, true));
    w.ok(tx);
    let p: Proposal = w.query(&format!("/proposal/{id}"));
    assert_eq!(p.status, ProposalStatus::Open as i32);
    let tx = w.north_admin.tx(vote(id, true));
    w.refused(tx, Code::AlreadyVoted);
    // The third approval of four applies it.
    let tx = w.south_admin.tx(vote(id, true));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "proposal_decided", "status").as_deref(),
        Some("PROPOSAL_STATUS_APPLIED")
    );
    let tx = w.east_admin.tx(vote(id, true));
    w.refused(tx, Code::ProposalClosed);

    let org: Organisation = w.query("/organisation/west");
    assert_eq!(org.status, MemberStatus::Active as i32);
    let mut west_admin = actor("admin@west");
    let west_doctor = actor("doctor@west");
    let tx = west_admin.tx(register_staff(west_doctor.public_key(), Role::Doctor));
    w.ok(tx);
    let staff: ParticipantList = w.query("/staff/west");
    assert_eq!(staff.items.len(), 2);
    let orgs: OrganisationList = w.query("/organisations");
    assert_eq!(orgs.items.len(), 5);
}

#[test]
fn a_proposal_is_rejected_once_it_can_no_longer_pass() {
    let mut w = World::new();
    let tx = w.admin.tx(propose(add_member("west")));
    w.ok(tx);
    let tx = w.north_admin.tx(vote(1, false));
    w.ok(tx);
    let p: Proposal = w.query("/proposal/1");
    assert_eq!(
        p.status,
        ProposalStatus::Open as i32,
        "3 of 4 could still approve"
    );
    let tx = w.south_admin.tx(vote(1, false));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "proposal_decided", "status").as_deref(),
        Some("PROPOSAL_STATUS_REJECTED")
    );
    assert!(w.node.query("/organisation/west").value.is_empty());
}

#[test]
fn validator_changes_reach_consensus_as_validator_updates() {
    let mut w = World::new();
    let key = validator_key("validator-2@north");
    let tx = w.north_admin.tx(propose(Change::AddValidator(AddValidator {
        pub_key: key.clone(),
        power: 5,
        operator_org: "north".into(),
    })));
    w.ok(tx);
    let tx = w.admin.tx(vote(1, true));
    w.ok(tx);
    let tx = w.south_admin.tx(vote(1, true));
    let txs = vec![tx];
    let block = w.node.block(txs).unwrap();
    assert_eq!(
        block.tx_results[0].code,
        Code::Ok,
        "{}",
        block.tx_results[0].log
    );
    assert_eq!(block.validator_updates.len(), 1);
    assert_eq!(block.validator_updates[0].pub_key, key);
    assert_eq!(block.validator_updates[0].power, 5);
    let set: ValidatorList = w.query("/validators");
    assert_eq!(set.items.len(), 5);

    // Re-weight, then remove: power 0 removes.
    let tx = w
        .admin
        .tx(propose(Change::SetValidatorPower(SetValidatorPower {
            pub_key: key.clone(),
            power: 20,
        })));
    w.ok(tx);
    let tx = w.north_admin.tx(vote(2, true));
    w.ok(tx);
    let tx = w.east_admin.tx(vote(2, true));
    let block = w.node.block(vec![tx]).unwrap();
    assert_eq!(block.validator_updates[0].power, 20);
    let tx = w.admin.tx(propose(Change::RemoveValidator(RemoveValidator {
        pub_key: key.clone(),
    })));
    w.ok(tx);
    let tx = w.north_admin.tx(vote(3, true));
    w.ok(tx);
    let tx = w.east_admin.tx(vote(3, true));
    let block = w.node.block(vec![tx]).unwrap();
    assert_eq!(block.validator_updates[0].power, 0);
    let set: ValidatorList = w.query("/validators");
    assert_eq!(set.items.len(), 4);
}

#[test]
fn proposals_that_could_not_apply_are_refused_up_front() {
    let mut w = World::new();
    let tx = w.admin.tx(propose(add_member("north")));
    w.refused(tx, Code::OrganisationExists);
    let tx = w.admin.tx(propose(Change::AddValidator(AddValidator {
        pub_key: validator_key("validator@north"),
        power: 1,
        operator_org: "north".into(),
    })));
    w.refused(tx, Code::ValidatorExists);
    let tx = w.admin.tx(propose(Change::RemoveValidator(RemoveValidator {
        pub_key: validator_key("nobody"),
    })));
    w.refused(tx, Code::UnknownValidator);
    let tx = w.admin.tx(propose(Change::RemoveMember(RemoveMember {
        org_id: "nowhere".into(),
    })));
    w.refused(tx, Code::UnknownOrganisation);
    // A key that is not an ed25519 point never gets near CometBFT.
    let tx = w.admin.tx(propose(Change::AddValidator(AddValidator {
        pub_key: vec![7; 31],
        power: 1,
        operator_org: "north".into(),
    })));
    w.refused(tx, Code::InvalidField);
    w.admin.nonce -= 1; // a malformed transaction does not use its nonce
    let tx = w.admin.tx(propose(Change::AddValidator(AddValidator {
        pub_key: validator_key("x"),
        power: 0,
        operator_org: "north".into(),
    })));
    w.refused(tx, Code::InvalidField);
    w.admin.nonce -= 1;
    // Only admins of members propose and vote.
    for signer in [&mut w.doctor, &mut w.ingest, &mut w.alice] {
        let tx = signer.tx(propose(add_member("west")));
        let r = w.node.deliver(tx);
        assert_eq!(r.code, Code::WrongRole, "{}", r.log);
    }
    let tx = w.stranger.tx(vote(1, true));
    w.refused(tx, Code::NotRegistered);
}

#[test]
fn a_removed_member_loses_its_vote_its_staff_and_its_validators() {
    let mut w = World::new();
    let tx = w.admin.tx(propose(Change::RemoveMember(RemoveMember {
        org_id: "east".into(),
    })));
    w.ok(tx);
    let tx = w.north_admin.tx(vote(1, true));
    w.ok(tx);
    let tx = w.south_admin.tx(vote(1, true));
    let block = w.node.block(vec![tx]).unwrap();
    assert_eq!(block.tx_results[0].code, Code::Ok);
    assert_eq!(
        block.validator_updates,
        vec![ehr_ledger::ledger::ValidatorUpdate {
            pub_key: validator_key("validator@east"),
            power: 0
        }]
    );
    let org: Organisation = w.query("/organisation/east");
    assert_eq!(org.status, MemberStatus::Removed as i32);
    // East's admin can no longer act.
    let tx = w.east_admin.tx(propose(add_member("west")));
    w.refused(tx, Code::OrgNotMember);
    // Three members remain: two approvals are not more than two thirds, three are.
    let tx = w.admin.tx(propose(add_member("west")));
    w.ok(tx);
    let tx = w.north_admin.tx(vote(2, true));
    w.ok(tx);
    let p: Proposal = w.query("/proposal/2");
    assert_eq!(p.status, ProposalStatus::Open as i32);
    let tx = w.south_admin.tx(vote(2, true));
    w.ok(tx);
    let p: Proposal = w.query("/proposal/2");
    assert_eq!(p.status, ProposalStatus::Applied as i32);
}

#[test]
fn a_change_that_became_impossible_while_voting_fails_without_harm() {
    let mut w = World::new();
    // Two proposals to add the same organisation id; the second to pass cannot apply.
    let tx = w.admin.tx(propose(add_member("west")));
    w.ok(tx);
    let tx = w.north_admin.tx(propose(add_member("west")));
    w.ok(tx);
    for id in [1, 2] {
        for admin in [&mut w.south_admin, &mut w.east_admin] {
            let tx = admin.tx(vote(id, true));
            let r = w.node.deliver(tx);
            assert!(
                r.code == Code::Ok || r.code == Code::ProposalClosed,
                "{}",
                r.log
            );
        }
    }
    // West joined with proposal 1: five members now, so three approvals of
    // proposal 2 are not enough, and a fourth decides it.
    let second: Proposal = w.query("/proposal/2");
    assert_eq!(second.status, ProposalStatus::Open as i32);
    let tx = w.admin.tx(vote(2, true));
    w.ok(tx);
    let first: Proposal = w.query("/proposal/1");
    let second: Proposal = w.query("/proposal/2");
    assert_eq!(first.status, ProposalStatus::Applied as i32);
    assert_eq!(second.status, ProposalStatus::Failed as i32);
    assert!(
        second.failure.contains("already taken"),
        "{}",
        second.failure
    );
    let all: ProposalList = w.query("/proposals");
    assert_eq!(all.items.len(), 2);
}

#[test]
fn a_validator_added_and_removed_in_one_block_reaches_consensus_as_no_update() {
    let mut w = World::new();
    let extra = validator_key("validator-2@east");
    let tx = w.admin.tx(propose(Change::AddValidator(AddValidator {
        pub_key: extra.clone(),
        power: 10,
        operator_org: "east".into(),
    })));
    w.ok(tx);
    let tx = w.admin.tx(propose(Change::RemoveMember(RemoveMember {
        org_id: "east".into(),
    })));
    w.ok(tx);
    for id in [1, 2] {
        let tx = w.north_admin.tx(vote(id, true));
        w.ok(tx);
    }
    // South's two deciding votes in one block: East's new validator is added,
    // then East leaves with all its validators.
    let add = w.south_admin.tx(vote(1, true));
    let remove = w.south_admin.tx(vote(2, true));
    let block = w.node.block(vec![add, remove]).unwrap();
    for r in &block.tx_results {
        assert_eq!(r.code, Code::Ok, "{}", r.log);
    }
    // CometBFT never had the new key: it must not be told to remove it.
    assert_eq!(
        block.validator_updates,
        vec![ehr_ledger::ledger::ValidatorUpdate {
            pub_key: validator_key("validator@east"),
            power: 0
        }]
    );
    let set: ValidatorList = w.query("/validators");
    assert_eq!(set.items.len(), 3);
}

#[test]
fn a_validator_reweighted_and_back_in_one_block_reaches_consensus_as_no_update() {
    let mut w = World::new();
    let key = validator_key("validator@north");
    let current: ValidatorList = w.query("/validators");
    let power = current
        .items
        .iter()
        .find(|v| v.pub_key == key)
        .map(|v| v.power)
        .unwrap();
    for p in [power + 5, power] {
        let tx = w
            .admin
            .tx(propose(Change::SetValidatorPower(SetValidatorPower {
                pub_key: key.clone(),
                power: p,
            })));
        w.ok(tx);
    }
    for id in [1, 2] {
        let tx = w.north_admin.tx(vote(id, true));
        w.ok(tx);
    }
    let first = w.south_admin.tx(vote(1, true));
    let second = w.south_admin.tx(vote(2, true));
    let block = w.node.block(vec![first, second]).unwrap();
    for r in &block.tx_results {
        assert_eq!(r.code, Code::Ok, "{}", r.log);
    }
    assert!(block.validator_updates.is_empty());
}
