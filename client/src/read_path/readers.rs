//! Who a patient's record key is wrapped for, as the chain says now: the
//! clinicians holding a current read grant for the record's category
//! (personally or through their organisation), and the break-glass escrow —
//! every active gateway of a current member, which re-wraps a key for a doctor
//! only while the chain shows that doctor's emergency access open. Ingest asks
//! it for vitals; a doctor's client for the documents it writes.

use crate::rpc::{RpcClient, RpcError};
use ehr_ledger::crypto::{Address, PublicKey};
use ehr_ledger::ledger::access::CLINICAL_ROLES;
use ehr_ledger::proto::{
    grantee, AccessLevel, Category, GrantList, MemberStatus, OrganisationList, Participant,
    ParticipantKind, ParticipantList, ParticipantStatus, ServiceKind,
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

fn push_new(out: &mut Vec<ReaderKey>, r: Option<ReaderKey>) {
    if let Some(r) = r {
        if !out.iter().any(|o| o.address == r.address) {
            out.push(r);
        }
    }
}

/// Active clinical staff holding, at chain time `now`, a read (or write)
/// grant from `patient` covering `category`.
pub async fn grantees(
    rpc: &RpcClient,
    patient: &Address,
    category: Category,
    now: i64,
) -> Result<Vec<ReaderKey>, RpcError> {
    let grants: GrantList = rpc
        .query(&format!("/grants/{patient}"))
        .await?
        .unwrap_or_default();
    let clinical = |p: &Participant| {
        p.kind == ParticipantKind::Staff as i32
            && p.status == ParticipantStatus::Active as i32
            && CLINICAL_ROLES.iter().any(|r| *r as i32 == p.role)
    };
    let mut out: Vec<ReaderKey> = Vec::new();
    for g in grants.items {
        let covers = (g.category == category as i32 || g.category == Category::All as i32)
            && (g.access == AccessLevel::Read as i32 || g.access == AccessLevel::Write as i32)
            && now < g.expires_at;
        if !covers {
            continue;
        }
        match g.grantee.and_then(|g| g.kind) {
            Some(grantee::Kind::Clinician(a)) => {
                let Some(a) = Address::from_slice(&a) else {
                    continue;
                };
                if let Some(p) = rpc
                    .query::<Participant>(&format!("/participant/{a}"))
                    .await?
                {
                    push_new(&mut out, ReaderKey::of(&p).filter(|_| clinical(&p)));
                }
            }
            Some(grantee::Kind::Organisation(org)) => {
                let staff: ParticipantList = rpc
                    .query(&format!("/staff/{org}"))
                    .await?
                    .unwrap_or_default();
                for p in &staff.items {
                    push_new(&mut out, ReaderKey::of(p).filter(|_| clinical(p)));
                }
            }
            None => {}
        }
    }
    Ok(out)
}

/// The break-glass escrow: every active gateway service of a current member.
pub async fn escrow(rpc: &RpcClient) -> Result<Vec<ReaderKey>, RpcError> {
    let orgs: OrganisationList = rpc.query("/organisations").await?.unwrap_or_default();
    let mut out: Vec<ReaderKey> = Vec::new();
    for org in orgs
        .items
        .iter()
        .filter(|o| o.status == MemberStatus::Active as i32)
    {
        let members: ParticipantList = rpc
            .query(&format!("/staff/{}", org.org_id))
            .await?
            .unwrap_or_default();
        for p in members.items {
            let gateway = p.kind == ParticipantKind::Service as i32
                && p.service_kind == ServiceKind::Gateway as i32
                && p.status == ParticipantStatus::Active as i32;
            push_new(&mut out, ReaderKey::of(&p).filter(|_| gateway));
        }
    }
    Ok(out)
}
