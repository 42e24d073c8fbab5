//! Consortium governance: a member's admin proposes a change, each member
//! organisation votes once, and the change applies as soon as more than two
//! thirds of the current members approve. It is rejected as soon as that can
//! no longer happen. Votes of organisations that have since left do not count.

use crate::crypto::PublicKey;
use crate::proto::{
    governance_change::Kind as Change, GovernanceChange, MemberStatus, Organisation,
    ParticipantKind, Proposal, ProposalStatus, Propose, Role, Validator, Vote,
};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;

use super::super::actors::{self, require_staff};
use super::super::codes;
use super::super::context::{Ctx, ValidatorUpdate};
use super::super::keys;
use super::organisations;

const ADMIN_ONLY: &str =
    "an admin of a member organisation may propose or vote on consortium changes";

pub fn propose(ctx: &mut Ctx, p: &Propose) -> Result<(), Refusal> {
    let admin = require_staff(ctx.state, &ctx.signer, &[Role::Admin], ADMIN_ONLY)?;
    let change = p.change.clone().unwrap_or_default();
    // Refuse what could not apply today rather than let members vote on it.
    check_applicable(ctx.state, &change)?;
    let id = ctx.next_id(keys::NEXT_PROPOSAL)?;
    let mut proposal = Proposal {
        id,
        proposer_org: admin.org_id.clone(),
        change: Some(change),
        approvals: vec![admin.org_id.clone()],
        rejections: vec![],
        status: ProposalStatus::Open as i32,
        created_at: ctx.time,
        decided_at: 0,
        failure: String::new(),
    };
    ctx.emit(
        "proposal",
        &[
            ("id", id.to_string()),
            ("proposer_org", admin.org_id.clone()),
        ],
    );
    decide(ctx, &mut proposal)?;
    ctx.state.put(keys::proposal(id), &proposal);
    Ok(())
}

pub fn vote(ctx: &mut Ctx, v: &Vote) -> Result<(), Refusal> {
    let admin = require_staff(ctx.state, &ctx.signer, &[Role::Admin], ADMIN_ONLY)?;
    let key = keys::proposal(v.proposal_id);
    let mut proposal: Proposal = ctx.state.get(key.as_bytes())?.ok_or_else(|| {
        Refusal::new(
            Code::UnknownProposal,
            format!("there is no proposal {}", v.proposal_id),
        )
    })?;
    if proposal.status != ProposalStatus::Open as i32 {
        return refuse(
            Code::ProposalClosed,
            format!("proposal {} is already decided", v.proposal_id),
        );
    }
    let org = admin.org_id.clone();
    if proposal.approvals.contains(&org) || proposal.rejections.contains(&org) {
        return refuse(
            Code::AlreadyVoted,
            format!("{org} already voted on proposal {}", v.proposal_id),
        );
    }
    let list = if v.approve {
        &mut proposal.approvals
    } else {
        &mut proposal.rejections
    };
    list.push(org.clone());
    list.sort();
    ctx.emit(
        "vote",
        &[
            ("proposal_id", v.proposal_id.to_string()),
            ("org", org),
            ("approve", v.approve.to_string()),
        ],
    );
    decide(ctx, &mut proposal)?;
    ctx.state.put(key, &proposal);
    Ok(())
}

/// Member organisations able to vote now, in id order.
fn active_members(state: &impl StateRead) -> Result<Vec<String>, Refusal> {
    let orgs: Vec<Organisation> = state.scan(keys::ORGANISATIONS.as_bytes(), usize::MAX)?;
    Ok(orgs
        .into_iter()
        .filter(|o| o.status == MemberStatus::Active as i32)
        .map(|o| o.org_id)
        .collect())
}

/// More than two thirds, in integers: 3·approvals > 2·members.
pub fn is_supermajority(approvals: usize, members: usize) -> bool {
    3 * approvals > 2 * members
}

fn decide(ctx: &mut Ctx, proposal: &mut Proposal) -> Result<(), Refusal> {
    let members = active_members(ctx.state)?;
    let count = |list: &[String]| list.iter().filter(|o| members.contains(o)).count();
    let approvals = count(&proposal.approvals);
    let rejections = count(&proposal.rejections);
    let outcome = if is_supermajority(approvals, members.len()) {
        let change = proposal.change.clone().unwrap_or_default();
        match check_applicable(ctx.state, &change) {
            Ok(()) => {
                apply(ctx, proposal.id, &change)?;
                ProposalStatus::Applied
            }
            // The vote itself succeeds; the proposal records why the change could not apply.
            Err(why) => {
                proposal.failure = why.message;
                ProposalStatus::Failed
            }
        }
    } else if !is_supermajority(members.len().saturating_sub(rejections), members.len()) {
        ProposalStatus::Rejected
    } else {
        return Ok(());
    };
    proposal.status = outcome as i32;
    proposal.decided_at = ctx.time;
    ctx.emit(
        "proposal_decided",
        &[
            ("id", proposal.id.to_string()),
            ("status", outcome.as_str_name().to_string()),
        ],
    );
    Ok(())
}

fn validators(state: &impl StateRead) -> Result<Vec<Validator>, Refusal> {
    Ok(state.scan(keys::VALIDATORS.as_bytes(), usize::MAX)?)
}

fn validator(state: &impl StateRead, pub_key: &[u8]) -> Result<Validator, Refusal> {
    state
        .get(keys::validator(pub_key).as_bytes())?
        .ok_or_else(|| {
            Refusal::new(
                Code::UnknownValidator,
                format!("{} is not a validator", hex::encode(pub_key)),
            )
        })
}

/// Whether the change can apply to the current state; says why not.
fn check_applicable(state: &impl StateRead, change: &GovernanceChange) -> Result<(), Refusal> {
    match change.kind.as_ref() {
        None => refuse(Code::InvalidField, "the proposal carries no change"),
        Some(Change::AddMember(m)) => {
            if actors::organisation(state, &m.org_id)?.is_some() {
                return refuse(
                    Code::OrganisationExists,
                    format!("organisation id {} is already taken", m.org_id),
                );
            }
            let key = PublicKey::from_bytes(&m.admin_public_key).ok_or_else(|| {
                Refusal::new(Code::InvalidField, "admin_public_key is not a public key")
            })?;
            if actors::participant(state, &key.address())?.is_some() {
                return refuse(
                    Code::AlreadyRegistered,
                    format!("the admin key {} is already registered", key.address()),
                );
            }
            Ok(())
        }
        Some(Change::RemoveMember(m)) => {
            if !actors::is_active_member(state, &m.org_id)? {
                return refuse(
                    Code::UnknownOrganisation,
                    format!("{} is not an active member", m.org_id),
                );
            }
            if active_members(state)?.len() <= 1 {
                return refuse(
                    Code::LastMember,
                    "the consortium cannot remove its last member",
                );
            }
            let all = validators(state)?;
            if all.iter().all(|v| v.operator_org == m.org_id) {
                return refuse(
                    Code::ValidatorSetInvalid,
                    format!(
                        "{} operates every validator; removing it would leave none",
                        m.org_id
                    ),
                );
            }
            Ok(())
        }
        Some(Change::AddValidator(v)) => {
            if state
                .get_raw(keys::validator(&v.pub_key).as_bytes())?
                .is_some()
            {
                return refuse(
                    Code::ValidatorExists,
                    format!("{} is already a validator", hex::encode(&v.pub_key)),
                );
            }
            if !actors::is_active_member(state, &v.operator_org)? {
                return refuse(
                    Code::UnknownOrganisation,
                    format!("operator_org {} is not an active member", v.operator_org),
                );
            }
            Ok(())
        }
        Some(Change::RemoveValidator(v)) => {
            validator(state, &v.pub_key)?;
            if validators(state)?.len() <= 1 {
                return refuse(
                    Code::ValidatorSetInvalid,
                    "the last validator cannot be removed",
                );
            }
            Ok(())
        }
        Some(Change::SetValidatorPower(v)) => validator(state, &v.pub_key).map(drop),
        Some(Change::AddCodes(_) | Change::RetireCode(_)) => codes::check_applicable(state, change),
    }
}

fn apply(ctx: &mut Ctx, proposal: u64, change: &GovernanceChange) -> Result<(), Refusal> {
    match change.kind.as_ref() {
        None => Ok(()),
        Some(Change::AddMember(m)) => {
            ctx.state.put(
                keys::organisation(&m.org_id),
                &Organisation {
                    org_id: m.org_id.clone(),
                    name: m.name.clone(),
                    status: MemberStatus::Active as i32,
                    joined_at: ctx.time,
                },
            );
            let key = PublicKey::from_bytes(&m.admin_public_key).ok_or_else(|| {
                Refusal::new(Code::InvalidField, "admin_public_key is not a public key")
            })?;
            register_admin(ctx, &m.org_id, &key);
            Ok(())
        }
        Some(Change::RemoveMember(m)) => {
            let mut org = actors::organisation(ctx.state, &m.org_id)?.unwrap_or_default();
            org.status = MemberStatus::Removed as i32;
            ctx.state.put(keys::organisation(&m.org_id), &org);
            // A member that leaves stops validating too.
            for v in validators(ctx.state)? {
                if v.operator_org == m.org_id {
                    ctx.state.delete(keys::validator(&v.pub_key));
                    ctx.validator_updates.push(ValidatorUpdate {
                        pub_key: v.pub_key,
                        power: 0,
                    });
                }
            }
            Ok(())
        }
        Some(Change::AddValidator(v)) => {
            set_validator(
                ctx,
                Validator {
                    pub_key: v.pub_key.clone(),
                    power: v.power,
                    operator_org: v.operator_org.clone(),
                },
            );
            Ok(())
        }
        Some(Change::RemoveValidator(v)) => {
            ctx.state.delete(keys::validator(&v.pub_key));
            ctx.validator_updates.push(ValidatorUpdate {
                pub_key: v.pub_key.clone(),
                power: 0,
            });
            Ok(())
        }
        Some(Change::SetValidatorPower(v)) => {
            let mut current = validator(ctx.state, &v.pub_key)?;
            current.power = v.power;
            set_validator(ctx, current);
            Ok(())
        }
        Some(Change::AddCodes(a)) => {
            codes::add(ctx, proposal, a);
            Ok(())
        }
        Some(Change::RetireCode(r)) => codes::retire(ctx, proposal, r),
    }
}

fn set_validator(ctx: &mut Ctx, v: Validator) {
    ctx.validator_updates.push(ValidatorUpdate {
        pub_key: v.pub_key.clone(),
        power: v.power,
    });
    ctx.state.put(keys::validator(&v.pub_key), &v);
}

/// Registers an organisation's admin key as an active admin participant.
pub fn register_admin(ctx: &mut Ctx, org_id: &str, key: &PublicKey) {
    organisations::enroll(
        ctx,
        key,
        org_id,
        ParticipantKind::Staff,
        Role::Admin as i32,
        0,
    );
}
