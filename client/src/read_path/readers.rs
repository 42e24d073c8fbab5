//! Who a patient's record key is wrapped for, as the chain says now: the
//! clinicians holding a current read grant for the record's category
//! (personally or through their organisation), and the break-glass escrow —
//! every active gateway of a current member, which re-wraps a key for a doctor
//! only while the chain shows that doctor's emergency access open. Ingest asks
//! it for vitals; a doctor's client for the documents it writes. Every reader
//! returned is proven (`rpc::proven`): a wrapped key is a disclosure.

use crate::rpc::proven::{ProvenError, View};
use ehr_ledger::crypto::{Address, PublicKey};
use ehr_ledger::ledger::access::{decide, Decision};
use ehr_ledger::ledger::keys;
use ehr_ledger::proto::{
    grantee, AccessBasis, AccessLevel, Category, GrantList, MemberStatus, Organisation,
    Participant, ParticipantKind, ParticipantList, ParticipantStatus, ServiceKind,
};

/// A reader of a patient's records: address and the key to wrap for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderKey {
    pub address: Address,
    pub key: PublicKey,
}

impl ReaderKey {
    pub fn of(p: &Participant) -> Option<ReaderKey> {
        Some(ReaderKey {
            address: Address::from_slice(&p.address)?,
            key: PublicKey::from_bytes(&p.public_key)?,
        })
    }
}

/// The patient's guardian, with the key that reads for them now: the
/// patient names the guardian by their first key (`guardian_public_key`, the
/// address the ledger's rules compare), and a registered guardian who
/// replaced that key (a rotation, a recovery) reads with their current one.
pub async fn guardian(
    view: &mut View<'_>,
    patient: &Participant,
) -> Result<Option<ReaderKey>, ProvenError> {
    let Some(named) = PublicKey::from_bytes(&patient.guardian_public_key) else {
        return Ok(None);
    };
    let address = named.address();
    let registered: Option<Participant> = view.get(&keys::participant(&address)).await?;
    let key = registered
        .and_then(|g| PublicKey::from_bytes(&g.public_key))
        .unwrap_or(named);
    Ok(Some(ReaderKey { address, key }))
}

fn push_new(out: &mut Vec<ReaderKey>, r: Option<ReaderKey>) {
    if let Some(r) = r {
        if !out.iter().any(|o| o.address == r.address) {
            out.push(r);
        }
    }
}

/// Active clinical staff holding, in the proven state `view`, a read
/// (or write) grant from `patient` covering `category`. The lists (the
/// patient's grants, an organisation's staff) only name candidates, since a
/// list carries no proof; each candidate is kept only if the ledger's own
/// access rule, run over state proven against a signed header, finds a grant
/// for them — so a node that slips a stranger into a list gets them no key.
pub async fn grantees(
    view: &mut View<'_>,
    patient: &Address,
    category: Category,
) -> Result<Vec<ReaderKey>, ProvenError> {
    let rpc = view.rpc();
    let grants = rpc
        .query_all::<GrantList>(&format!("/grants/{patient}"))
        .await?;
    let mut candidates: Vec<Address> = Vec::new();
    for g in grants {
        match g.grantee.and_then(|g| g.kind) {
            Some(grantee::Kind::Clinician(a)) => candidates.extend(Address::from_slice(&a)),
            Some(grantee::Kind::Organisation(org)) => {
                let staff = rpc
                    .query_all::<ParticipantList>(&format!("/staff/{org}"))
                    .await?;
                candidates.extend(staff.iter().filter_map(|p| Address::from_slice(&p.address)));
            }
            None => {}
        }
    }
    candidates.sort();
    candidates.dedup();
    let now = view.block_time();
    let mut out: Vec<ReaderKey> = Vec::new();
    for reader in candidates {
        let decided = view
            .run(|state| decide(state, &reader, patient, category, AccessLevel::Read, now))
            .await?;
        if !matches!(
            decided,
            Ok(Decision::Allowed {
                basis: AccessBasis::Grant,
                ..
            })
        ) {
            continue;
        }
        let p: Option<Participant> = view.get(&keys::participant(&reader)).await?;
        push_new(&mut out, p.as_ref().and_then(ReaderKey::of));
    }
    Ok(out)
}

/// The break-glass escrow: every active gateway service of a current member,
/// each proven (its registration and its organisation's membership) against
/// a signed header; the ledger's index of gateways (every page of it) only
/// names candidates.
pub async fn escrow(view: &mut View<'_>) -> Result<Vec<ReaderKey>, ProvenError> {
    let rpc = view.rpc();
    let mut candidates: Vec<Address> = rpc
        .query_all::<ParticipantList>("/gateways")
        .await?
        .iter()
        .filter_map(|p| Address::from_slice(&p.address))
        .collect();
    candidates.sort();
    candidates.dedup();
    let mut out: Vec<ReaderKey> = Vec::new();
    for address in candidates {
        let Some(p) = view
            .get::<Participant>(&keys::participant(&address))
            .await?
        else {
            continue;
        };
        let gateway = p.kind == ParticipantKind::Service as i32
            && p.service_kind == ServiceKind::Gateway as i32
            && p.status == ParticipantStatus::Active as i32;
        if !gateway {
            continue;
        }
        let org: Option<Organisation> = view.get(&keys::organisation(&p.org_id)).await?;
        if org.is_some_and(|o| o.status == MemberStatus::Active as i32) {
            push_new(&mut out, ReaderKey::of(&p));
        }
    }
    Ok(out)
}
