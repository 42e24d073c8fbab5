//! ABCI Query paths. docs/ledger.md lists them with the type each returns.
//!
//! Paths that name one record return its stored protobuf bytes exactly, so
//! with `prove` the answer carries a Jellyfish Merkle proof of those bytes
//! against the app hash at that height. Lists are answered from the latest
//! committed state only.

use prost::Message;

use crate::crypto::Address;
use crate::proto::{
    grantee, AccessLevel, AuditTrail, Category, ChainInfo, Device, DeviceList, Grant, GrantList,
    Grantee, LabOrder, LabOrderList, OrganisationList, Participant, ParticipantList, Prescription,
    PrescriptionList, ProposalList, ValidatorList,
};
use crate::storage::{ProofError, Snapshot, StateProof, StateRead, Storage, StorageError};

use super::access::decide;
use super::keys;

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
            format!("{s:?} is not a category (vitals, labs, medications, notes, imaging, all)")
        })
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
        ["device", id] => keys::device(id),
        ["record", id] => keys::record(id),
        ["batch", service, id] => keys::batch(&arg_address(service)?, arg_u64(id)?),
        ["next-batch", service] => keys::next_batch(&arg_address(service)?),
        ["order", id] => keys::order(arg_u64(id)?),
        ["prescription", id] => keys::prescription(arg_u64(id)?),
        ["proposal", id] => keys::proposal(arg_u64(id)?),
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

const LIST_LIMIT: usize = 1000;

fn fetch_indexed<M: Message + Default>(
    snap: &Snapshot,
    index_prefix: &str,
    key_of: impl Fn(&str) -> Result<String, String>,
) -> Result<Vec<M>, String> {
    let mut items = Vec::new();
    for (k, _) in snap
        .scan_raw(index_prefix.as_bytes(), LIST_LIMIT)
        .map_err(|e| e.to_string())?
    {
        let id = String::from_utf8_lossy(&k[index_prefix.len()..]).to_string();
        if let Some(m) = snap
            .get::<M>(key_of(&id)?.as_bytes())
            .map_err(|e| e.to_string())?
        {
            items.push(m);
        }
    }
    Ok(items)
}

/// The grants a clinician or an organisation holds, through its index
/// (`granted_to/<grantee>/<patient hex>/<CATEGORY_…>`).
fn granted_to(snap: &Snapshot, grantee: &Grantee) -> Result<Vec<Grant>, String> {
    let prefix = keys::granted_to(grantee);
    let mut items = Vec::new();
    for (k, _) in snap
        .scan_raw(prefix.as_bytes(), LIST_LIMIT)
        .map_err(|e| e.to_string())?
    {
        let tail = String::from_utf8_lossy(&k[prefix.len()..]).to_string();
        let Some((patient, category)) = tail.split_once('/') else {
            continue;
        };
        let (Ok(patient), Some(category)) =
            (arg_address(patient), Category::from_str_name(category))
        else {
            continue;
        };
        if let Some(g) = snap
            .get::<Grant>(keys::grant(&patient, grantee, category).as_bytes())
            .map_err(|e| e.to_string())?
        {
            items.push(g);
        }
    }
    Ok(items)
}

/// Answers list paths; `None` when the path is not a list path.
fn list(snap: &Snapshot, parts: &[&str]) -> Result<Option<Vec<u8>>, String> {
    let scan = |prefix: &str| -> Result<Vec<Vec<u8>>, String> {
        Ok(snap
            .scan_raw(prefix.as_bytes(), LIST_LIMIT)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    };
    let bytes = match parts {
        ["organisations"] => OrganisationList {
            items: decode(scan(keys::ORGANISATIONS)?)?,
        }
        .encode_to_vec(),
        ["proposals"] => ProposalList {
            items: decode(scan(keys::PROPOSALS)?)?,
        }
        .encode_to_vec(),
        ["validators"] => ValidatorList {
            items: decode(scan(keys::VALIDATORS)?)?,
        }
        .encode_to_vec(),
        ["grants", patient] => {
            let items: Vec<Grant> = decode(scan(&keys::grants_of(&arg_address(patient)?))?)?;
            GrantList { items }.encode_to_vec()
        }
        ["granted-to", grantee] => GrantList {
            items: granted_to(snap, &arg_grantee(grantee)?)?,
        }
        .encode_to_vec(),
        ["audit", patient] | ["audit", patient, _] => {
            let patient = arg_address(patient)?;
            let from = match parts.get(2) {
                Some(s) => arg_u64(s)?,
                None => 0,
            };
            let entries = snap
                .read_prefix_from(
                    keys::audit_trail(&patient).as_bytes(),
                    keys::audit_entry(&patient, from).as_bytes(),
                    LIST_LIMIT,
                )
                .map_err(|e| e.to_string())?;
            let items = decode(entries.into_iter().map(|(_, v)| v).collect())?;
            AuditTrail { items }.encode_to_vec()
        }
        ["staff", org] => {
            let items: Vec<Participant> =
                fetch_indexed(snap, &keys::org_members(org), |hex_addr| {
                    Ok(keys::participant(&arg_address(hex_addr)?))
                })?;
            ParticipantList { items }.encode_to_vec()
        }
        ["devices", patient] => {
            let items: Vec<Device> =
                fetch_indexed(snap, &keys::patient_devices(&arg_address(patient)?), |id| {
                    Ok(keys::device(id))
                })?;
            DeviceList { items }.encode_to_vec()
        }
        ["orders", patient] => {
            let items: Vec<LabOrder> =
                fetch_indexed(snap, &keys::patient_orders(&arg_address(patient)?), |id| {
                    Ok(keys::order(arg_u64(id)?))
                })?;
            LabOrderList { items }.encode_to_vec()
        }
        ["prescriptions", patient] => {
            let items: Vec<Prescription> = fetch_indexed(
                snap,
                &keys::patient_prescriptions(&arg_address(patient)?),
                |id| Ok(keys::prescription(arg_u64(id)?)),
            )?;
            PrescriptionList { items }.encode_to_vec()
        }
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
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
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
            match list(&snap, &parts) {
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
