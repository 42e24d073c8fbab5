//! ABCI Query paths. docs/ledger.md lists them with the type each returns.
//!
//! Paths that name one record return its stored protobuf bytes exactly, so
//! with `prove` the answer carries a Jellyfish Merkle proof of those bytes
//! against the app hash at that height. Lists are answered from the latest
//! committed state only.

use prost::Message;

use crate::crypto::Address;
use crate::proto::{
    grantee, AccessLevel, AccessRequest, AccessRequestList, Amendment, AmendmentList, AuditEntry,
    AuditTrail, Category, ChainInfo, CheckpointAttestation, CheckpointAttestationList, CodeSystem,
    Concept, ConceptList, Device, DeviceList, Erasure, ErasureList, Grant, GrantList, Grantee,
    LabOrder, LabOrderList, Organisation, OrganisationList, Participant, ParticipantList,
    Prescription, PrescriptionList, Proposal, ProposalList, Validator, ValidatorList,
};
use crate::storage::{Entries, ProofError, Snapshot, StateProof, StateRead, Storage, StorageError};

use super::access::decide;
use super::{codes, keys};

/// Answer codes of queries (distinct from transaction codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum QueryCode {
    Ok = 0,
    /// The path is unknown or an argument in it is malformed.
    BadPath = 1,
    /// Nothing is stored under the key (with `prove`, the proof shows its absence).
    NotFound = 2,
    /// The height asked for is not available: not committed yet, or no
    /// longer kept by this node (pruned, or before the snapshot it joined from).
    HeightUnavailable = 3,
    /// Lists are only answered at the latest height, and without proof.
    NotProvable = 4,
    Internal = 255,
}

#[derive(Debug)]
pub struct QueryAnswer {
    pub code: QueryCode,
    pub log: String,
    /// The state key answered, for single-record paths.
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub height: u64,
    pub proof: Option<StateProof>,
}

impl QueryAnswer {
    fn error(code: QueryCode, log: impl Into<String>, height: u64) -> Self {
        Self {
            code,
            log: log.into(),
            key: vec![],
            value: vec![],
            height,
            proof: None,
        }
    }
}

pub fn encode_proof(proof: &StateProof) -> Vec<u8> {
    borsh::to_vec(proof).unwrap_or_default()
}

pub fn decode_proof(bytes: &[u8]) -> Result<StateProof, ProofError> {
    borsh::from_slice(bytes).map_err(|e| ProofError::Undecodable(e.to_string()))
}

fn arg_address(s: &str) -> Result<Address, String> {
    s.parse()
}

fn arg_u64(s: &str) -> Result<u64, String> {
    s.parse().map_err(|_| format!("{s:?} is not a number"))
}

fn arg_category(s: &str) -> Result<Category, String> {
    let upper = format!("CATEGORY_{}", s.to_ascii_uppercase());
    Category::from_str_name(&upper)
        .filter(|c| *c != Category::Unspecified)
        .ok_or_else(|| {
            format!("{s:?} is not a category (vitals, labs, medications, notes, imaging, demographics, all)")
        })
}

fn arg_code_system(s: &str) -> Result<CodeSystem, String> {
    codes::system_of(s).ok_or_else(|| format!("{s:?} is not a code system (loinc, icd10, snomed)"))
}

fn arg_grantee(s: &str) -> Result<Grantee, String> {
    match s.strip_prefix("org:") {
        Some(org) => Ok(Grantee {
            kind: Some(grantee::Kind::Organisation(org.to_string())),
        }),
        None => Ok(Grantee {
            kind: Some(grantee::Kind::Clinician(arg_address(s)?.0.to_vec())),
        }),
    }
}

/// The state key a single-record path names (`/device/<id>` → `device/<id>`
/// …); `None` for list and computed paths, which carry no proof. A reader
/// checks a proof against the key it derives itself with this, never against
/// the key a node says it answered: a node could otherwise prove some other
/// key's value (another device, another batch) as the one asked for.
pub fn state_key(path: &str) -> Result<Option<String>, String> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    single_key(&parts)
}

/// Maps a single-record path to its state key.
fn single_key(parts: &[&str]) -> Result<Option<String>, String> {
    Ok(Some(match parts {
        ["chain"] => keys::CHAIN.to_string(),
        ["account", a] => keys::account(&arg_address(a)?),
        ["organisation", id] => keys::organisation(id),
        ["participant", a] => keys::participant(&arg_address(a)?),
        ["enrollment", a] => keys::enrollment(&arg_address(a)?),
        ["key", a] => keys::key_binding(&arg_address(a)?),
        ["recovery", a] => keys::recovery(&arg_address(a)?),
        ["device", id] => keys::device(id),
        ["record", id] => keys::record(id),
        ["batch", service, id] => keys::batch(&arg_address(service)?, arg_u64(id)?),
        ["next-batch", service] => keys::next_batch(&arg_address(service)?),
        ["order", id] => keys::order(arg_u64(id)?),
        ["prescription", id] => keys::prescription(arg_u64(id)?),
        ["amendment", id] => keys::amendment(arg_u64(id)?),
        ["erasure", id] => keys::erasure(arg_u64(id)?),
        ["holds", patient] => keys::legal_holds(&arg_address(patient)?),
        ["proposal", id] => keys::proposal(arg_u64(id)?),
        ["code", system, code] => keys::code(arg_code_system(system)?, code),
        ["validator", hex_key] => {
            keys::validator(&hex::decode(hex_key).map_err(|_| format!("{hex_key:?} is not hex"))?)
        }
        ["grant", patient, grantee, category] => keys::grant(
            &arg_address(patient)?,
            &arg_grantee(grantee)?,
            arg_category(category)?,
        ),
        ["emergency", patient, doctor] => {
            keys::emergency(&arg_address(patient)?, &arg_address(doctor)?)
        }
        _ => return Ok(None),
    }))
}

/// The most items a list answer holds; past it, `next_after` says where the
/// next page starts.
pub const LIST_LIMIT: usize = 1000;

/// Which page of a list: after which state key (the `next_after` of the page
/// before, hex), and how many items at most. Asked as
/// `<path>?after=<hex>&limit=<n>`, both optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageAsk {
    after: Vec<u8>,
    limit: usize,
}

impl PageAsk {
    /// The path without its page parameters, and the page they ask for.
    pub fn split(path: &str) -> Result<(&str, PageAsk), String> {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut page = PageAsk {
            after: vec![],
            limit: LIST_LIMIT,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("after", hex_key)) => {
                    page.after = hex::decode(hex_key)
                        .map_err(|_| format!("after={hex_key:?} is not a page cursor (hex)"))?;
                }
                Some(("limit", n)) => {
                    page.limit = n
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=LIST_LIMIT).contains(n))
                        .ok_or_else(|| {
                            format!("limit={n:?} is not a number from 1 to {LIST_LIMIT}")
                        })?;
                }
                _ => {
                    return Err(format!(
                        "{pair:?} is not a page parameter (after=<cursor>, limit=<1..{LIST_LIMIT}>)"
                    ))
                }
            }
        }
        Ok((path, page))
    }

    /// The entries under `prefix` of this page, and the cursor of the next
    /// (empty when this one is the last).
    fn scan(&self, snap: &Snapshot, prefix: &str) -> Result<(Entries, String), String> {
        // Strictly after the cursor: the smallest key above it.
        let from = if self.after.is_empty() {
            prefix.as_bytes().to_vec()
        } else {
            [self.after.as_slice(), &[0]].concat()
        };
        let entries = snap
            .read_prefix_from(prefix.as_bytes(), &from, self.limit)
            .map_err(|e| e.to_string())?;
        let next = match entries.last() {
            Some((k, _)) if entries.len() == self.limit => hex::encode(k),
            _ => String::new(),
        };
        Ok((entries, next))
    }
}

/// A list answer: a page of items and where the next begins.
pub trait Paged: Message + Default {
    type Item;
    fn page(items: Vec<Self::Item>, next_after: String) -> Self;
    fn into_page(self) -> (Vec<Self::Item>, String);
}

macro_rules! paged {
    ($($list:ty => $item:ty),* $(,)?) => {$(
        impl Paged for $list {
            type Item = $item;
            fn page(items: Vec<$item>, next_after: String) -> Self {
                Self { items, next_after }
            }
            fn into_page(self) -> (Vec<$item>, String) {
                (self.items, self.next_after)
            }
        }
    )*};
}

paged! {
    OrganisationList => Organisation,
    ParticipantList => Participant,
    DeviceList => Device,
    GrantList => Grant,
    AuditTrail => AuditEntry,
    ProposalList => Proposal,
    ValidatorList => Validator,
    ConceptList => Concept,
    CheckpointAttestationList => CheckpointAttestation,
    LabOrderList => LabOrder,
    PrescriptionList => Prescription,
    AccessRequestList => AccessRequest,
    AmendmentList => Amendment,
    ErasureList => Erasure,
}

/// A page of the values under `prefix`, decoded.
fn values<L: Paged>(snap: &Snapshot, page: &PageAsk, prefix: &str) -> Result<Vec<u8>, String>
where
    L::Item: Message + Default,
{
    let (entries, next) = page.scan(snap, prefix)?;
    let items = decode(entries.into_iter().map(|(_, v)| v).collect())?;
    Ok(L::page(items, next).encode_to_vec())
}

/// A page of an index under `prefix` (empty values), each entry's tail
/// naming the record to answer (`None`: skipped).
fn indexed<L: Paged>(
    snap: &Snapshot,
    page: &PageAsk,
    prefix: &str,
    key_of: impl Fn(&str) -> Result<Option<String>, String>,
) -> Result<Vec<u8>, String>
where
    L::Item: Message + Default,
{
    let (entries, next) = page.scan(snap, prefix)?;
    let mut items = Vec::new();
    for (k, _) in entries {
        let tail = String::from_utf8_lossy(&k[prefix.len()..]).to_string();
        let Some(key) = key_of(&tail)? else {
            continue;
        };
        if let Some(m) = snap
            .get::<L::Item>(key.as_bytes())
            .map_err(|e| e.to_string())?
        {
            items.push(m);
        }
    }
    Ok(L::page(items, next).encode_to_vec())
}

/// Answers list paths; `None` when the path is not a list path.
fn list(snap: &Snapshot, parts: &[&str], page: &PageAsk) -> Result<Option<Vec<u8>>, String> {
    let participant = |hex_addr: &str| Ok(Some(keys::participant(&arg_address(hex_addr)?)));
    let bytes = match parts {
        ["organisations"] => values::<OrganisationList>(snap, page, keys::ORGANISATIONS)?,
        ["proposals"] => values::<ProposalList>(snap, page, keys::PROPOSALS)?,
        ["validators"] => values::<ValidatorList>(snap, page, keys::VALIDATORS)?,
        ["attestations"] => values::<CheckpointAttestationList>(snap, page, keys::ATTESTATIONS)?,
        ["codes", system] => {
            values::<ConceptList>(snap, page, &keys::codes_of(arg_code_system(system)?))?
        }
        ["grants", patient] => {
            values::<GrantList>(snap, page, &keys::grants_of(&arg_address(patient)?))?
        }
        // The grants a clinician or an organisation holds, through its index
        // (`granted_to/<grantee>/<patient hex>/<CATEGORY_…>`).
        ["granted-to", grantee] => {
            let grantee = arg_grantee(grantee)?;
            indexed::<GrantList>(snap, page, &keys::granted_to(&grantee), |tail| {
                let Some((patient, category)) = tail.split_once('/') else {
                    return Ok(None);
                };
                let (Ok(patient), Some(category)) =
                    (arg_address(patient), Category::from_str_name(category))
                else {
                    return Ok(None);
                };
                Ok(Some(keys::grant(&patient, &grantee, category)))
            })?
        }
        ["audit", patient] | ["audit", patient, _] => {
            let patient = arg_address(patient)?;
            let mut page = page.clone();
            // `/audit/<p>/<n>` starts at entry n (before any cursor).
            if let (Some(n), true) = (parts.get(2), page.after.is_empty()) {
                let first = arg_u64(n)?;
                if first > 0 {
                    page.after = keys::audit_entry(&patient, first - 1).into_bytes();
                }
            }
            values::<AuditTrail>(snap, &page, &keys::audit_trail(&patient))?
        }
        ["staff", org] => {
            indexed::<ParticipantList>(snap, page, &keys::org_members(org), participant)?
        }
        ["gateways"] => indexed::<ParticipantList>(snap, page, keys::GATEWAYS, participant)?,
        ["devices", patient] => indexed::<DeviceList>(
            snap,
            page,
            &keys::patient_devices(&arg_address(patient)?),
            |id| Ok(Some(keys::device(id))),
        )?,
        ["orders", patient] => indexed::<LabOrderList>(
            snap,
            page,
            &keys::patient_orders(&arg_address(patient)?),
            |id| Ok(Some(keys::order(arg_u64(id)?))),
        )?,
        ["amendments", patient] => indexed::<AmendmentList>(
            snap,
            page,
            &keys::patient_amendments(&arg_address(patient)?),
            |id| Ok(Some(keys::amendment(arg_u64(id)?))),
        )?,
        ["erasures", patient] => indexed::<ErasureList>(
            snap,
            page,
            &keys::patient_erasures(&arg_address(patient)?),
            |id| Ok(Some(keys::erasure(arg_u64(id)?))),
        )?,
        ["access-requests", patient] => {
            values::<AccessRequestList>(snap, page, &keys::access_requests(&arg_address(patient)?))?
        }
        // The patients a guardian acts for.
        ["guarding", guardian] => indexed::<ParticipantList>(
            snap,
            page,
            &keys::guarding(&arg_address(guardian)?),
            participant,
        )?,
        // A lab's open orders.
        ["lab-orders", org] => indexed::<LabOrderList>(snap, page, &keys::lab_orders(org), |id| {
            Ok(Some(keys::order(arg_u64(id)?)))
        })?,
        ["prescriptions", patient] => indexed::<PrescriptionList>(
            snap,
            page,
            &keys::patient_prescriptions(&arg_address(patient)?),
            |id| Ok(Some(keys::prescription(arg_u64(id)?))),
        )?,
        ["access", patient, accessor, category] | ["access", patient, accessor, category, _] => {
            let level = match parts.get(4) {
                None | Some(&"read") => AccessLevel::Read,
                Some(&"write") => AccessLevel::Write,
                Some(other) => {
                    return Err(format!("{other:?} is not an access level (read, write)"))
                }
            };
            let now = snap
                .get::<ChainInfo>(keys::CHAIN.as_bytes())
                .map_err(|e| e.to_string())?
                .map_or(0, |c| c.block_time);
            decide(
                snap,
                &arg_address(accessor)?,
                &arg_address(patient)?,
                arg_category(category)?,
                level,
                now,
            )
            .map_err(|r| r.message)?
            .to_proto()
            .encode_to_vec()
        }
        _ => return Ok(None),
    };
    Ok(Some(bytes))
}

fn decode<M: Message + Default>(values: Vec<Vec<u8>>) -> Result<Vec<M>, String> {
    values
        .iter()
        .map(|v| M::decode(v.as_slice()).map_err(|e| e.to_string()))
        .collect()
}

/// Answers `path` at `height` (0 = latest committed).
pub fn query(storage: &Storage, path: &str, data: &[u8], height: u64, prove: bool) -> QueryAnswer {
    let latest = match storage.committed() {
        Ok(Some(c)) => c.height,
        Ok(None) => {
            return QueryAnswer::error(
                QueryCode::HeightUnavailable,
                "the chain has no state yet (no genesis)",
                0,
            )
        }
        Err(e) => return QueryAnswer::error(QueryCode::Internal, e.to_string(), 0),
    };
    let height = if height == 0 { latest } else { height };
    let (bare, page) = match PageAsk::split(path) {
        Ok(split) => split,
        Err(e) => return QueryAnswer::error(QueryCode::BadPath, e, height),
    };
    let parts: Vec<&str> = bare.trim_matches('/').split('/').collect();
    let key = if parts == ["store"] {
        Ok(Some(String::from_utf8_lossy(data).to_string()))
    } else {
        single_key(&parts)
    };
    match key {
        Err(e) => QueryAnswer::error(QueryCode::BadPath, e, height),
        Ok(Some(key)) => single(storage, key, height, latest, prove),
        Ok(None) => {
            if prove || height != latest {
                return QueryAnswer::error(
                    QueryCode::NotProvable,
                    format!("{path} is a list: it is answered at the latest height ({latest}) without proof"),
                    latest,
                );
            }
            let snap = match storage.snapshot() {
                Ok(s) => s,
                Err(e) => return QueryAnswer::error(QueryCode::Internal, e.to_string(), latest),
            };
            match list(&snap, &parts, &page) {
                Ok(Some(value)) => QueryAnswer {
                    code: QueryCode::Ok,
                    log: String::new(),
                    key: vec![],
                    value,
                    height: latest,
                    proof: None,
                },
                Ok(None) => QueryAnswer::error(
                    QueryCode::BadPath,
                    format!("unknown query path {path:?}; docs/ledger.md lists the paths"),
                    latest,
                ),
                Err(e) => QueryAnswer::error(QueryCode::BadPath, e, latest),
            }
        }
    }
}

fn single(storage: &Storage, key: String, height: u64, latest: u64, prove: bool) -> QueryAnswer {
    let result: Result<(Option<Vec<u8>>, Option<StateProof>), StorageError> =
        if prove || height != latest {
            storage
                .get_with_proof(key.as_bytes(), height)
                .map(|(v, p)| (v, Some(p)))
        } else {
            storage
                .snapshot()
                .and_then(|s| s.get_raw(key.as_bytes()))
                .map(|v| (v, None))
        };
    match result {
        Err(e @ (StorageError::HeightUnavailable { .. } | StorageError::Pruned { .. })) => {
            QueryAnswer::error(QueryCode::HeightUnavailable, e.to_string(), height)
        }
        Err(e) => QueryAnswer::error(QueryCode::Internal, e.to_string(), height),
        Ok((value, proof)) => QueryAnswer {
            code: if value.is_some() {
                QueryCode::Ok
            } else {
                QueryCode::NotFound
            },
            log: if value.is_some() {
                String::new()
            } else {
                format!("nothing is stored under {key}")
            },
            key: key.into_bytes(),
            value: value.unwrap_or_default(),
            height,
            proof: if prove { proof } else { None },
        },
    }
}
